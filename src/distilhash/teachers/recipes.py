"""Named offline teachers and the ``teacher fit`` commands that make them under ``$DISTILHASH_HOME/teachers``.

A recipe is data: the teacher's spec (what ``--teacher`` takes), the dataset it is fitted on and
its fit commands in order, each with the file that shows it is done. ``make demo`` uses the recipe
named by :data:`DEMO_TEACHER` (one value: a better teacher is a new recipe, shipped, and a new value here):
this home's fit if there is one, else the copy shipped with the package; it never runs the fit commands
(:mod:`distilhash.demo.teacher_check`). :mod:`distilhash.teachers.default_choice` offers own collections the recipes in
:data:`OWN_COLLECTION_ORDER` that are fitted in this home, else shipped with the package
(:mod:`distilhash.teachers.shipped`; ``scripts/ship_teacher.py`` copies a fitted recipe there).

    distilhash teacher fit --kind lite0-minilm --dataset openclipart --set image_size=224 ...   # RECIPES[...].fits
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["FitCommand", "TeacherRecipe", "RECIPES", "DEMO_TEACHER", "OWN_COLLECTION_ORDER", "recipe"]


@dataclass(frozen=True)
class FitCommand:
    """One ``distilhash teacher fit`` command: its arguments after ``teacher fit`` (without ``--out``), the
    directory it writes (``out``, under ``$DISTILHASH_HOME/teachers``) and the file there that shows it ran."""

    title: str
    args: tuple[str, ...]
    out: str
    done_file: str

    def cli(self) -> list[str]:
        """The whole argument list, ``--out`` resolved in this home: ``["teacher", "fit", *args, "--out", DIR]``."""
        from distilhash.paths import teachers_dir

        return ["teacher", "fit", *self.args, "--out", str(teachers_dir() / self.out)]

    def done(self) -> bool:
        from distilhash.paths import teachers_dir

        return (teachers_dir() / self.out / self.done_file).is_file()

    def shown(self) -> str:
        """The command as a user would type it (``--out`` under ``$DISTILHASH_HOME``)."""
        import shlex

        return "distilhash teacher fit " + " ".join(shlex.quote(a) for a in self.args) \
            + f" --out $DISTILHASH_HOME/teachers/{self.out}"


@dataclass(frozen=True)
class TeacherRecipe:
    """A named teacher (``spec``), the dataset it is fitted on and its fit commands, in order."""

    spec: str
    dataset: str
    fits: tuple[FitCommand, ...]
    about: str

    def fitted(self) -> bool:
        """Whether every fit command's output exists under ``$DISTILHASH_HOME/teachers``."""
        return all(f.done() for f in self.fits)


def _heads(dataset: str, name: str, *settings: str, kind: str = "lite0-minilm", pairs: str = "split.train pairs",
           extra: tuple[str, ...] = ()) -> FitCommand:
    sets = [a for s in settings for a in ("--set", s)]
    return FitCommand(f"fit the teacher's heads (frozen EfficientNet-Lite0 + MiniLM towers, {dataset} {pairs})",
                      ("--kind", kind, "--dataset", dataset, *sets, *extra), f"lite0-minilm-{name}", "config.json")


def _prior(dataset: str, name: str) -> FitCommand:
    return FitCommand("choose the ImageNet class prior's weight, temperature and template on split.val (no labels)",
                      ("--kind", "lite0-prior", "--dataset", dataset, "--set", f"base=lite0-minilm:{name}"),
                      f"lite0-prior-{name}", "prior.json")


#: the two linear head variants (the winners by val MRR at 128 px), docs/teachers.md.
_LINEAR_VARIANTS = json.dumps([{"image_head": "linear", "text_head": "linear"},
                               {"image_head": "linear", "text_head": "none"}], separators=(",", ":"))

RECIPES: dict[str, TeacherRecipe] = {r.spec: r for r in (
    TeacherRecipe("lite0-prior:openclipart-224-short", "openclipart",
                  (_heads("openclipart", "openclipart-224-short", "image_size=224", "select=val_mrr", "seed=0",
                          f"variants={_LINEAR_VARIANTS}", "flip=true", 'caption_views=["title","short"]',
                          kind="lite0-minilm-wide", pairs="split.fit pairs, its other drawings and emoji glyphs outside "
                          "the benchmark; mirrored pictures, title and short caption views", extra=("--threads", "1")),
                   _prior("openclipart", "openclipart-224-short")),
                  "heads fitted on every pair the benchmarks do not hold out (drawings outside split.query/split.val and their collections, Noto "
                  "glyphs outside the benchmark's subgroups; Lite0 at 224 px, mirrored pictures, title and short caption "
                  "views, by val MRR) + Lite0's ImageNet classes: open-vocabulary P@10 2.00x / 1.64x / 1.63x "
                  "lite0-minilm:openclipart on grouped splits 0-2 (bench/results/open_vocab_teachers/short-views.md)"),
    TeacherRecipe("lite0-prior:openclipart-224", "openclipart",
                  (_heads("openclipart", "openclipart-224", "image_size=224", "select=val_mrr", f"variants={_LINEAR_VARIANTS}"),
                   _prior("openclipart", "openclipart-224")),
                  "heads fitted on real drawings (Lite0 at 224 px, by val MRR) + Lite0's ImageNet classes: open-vocabulary P@10 1.65x "
                  "lite0-minilm:openclipart (bench/results/open_vocab_teachers/teachers.md)"),  # the demo's teacher before the short-view one
    TeacherRecipe("lite0-prior:openclipart", "openclipart",
                  (_heads("openclipart", "openclipart"), _prior("openclipart", "openclipart")),
                  "heads fitted on real drawings (Lite0 at 128 px, by val label mAP) + Lite0's ImageNet classes"),
    TeacherRecipe("lite0-minilm:openclipart", "openclipart", (_heads("openclipart", "openclipart"),),
                  "Lite0 at 128 px, heads by val label mAP (the demo's teacher before the 224-px prior one)"),
)}

#: The teacher `make demo` extracts, trains on and serves with: shipped with the package (this home's fit first), never
#: fitted by the demo (its first fit scans the Debian drawings and runs Lite0 over them: ~13 min). Until issue 24's
#: last step it was "lite0-prior:openclipart-224", which the demo fitted (bench/results/demo_record/demo-prior224.md).
DEMO_TEACHER = "lite0-prior:openclipart-224-short"

#: Recipes own collections may get by default (fitted here, else shipped), strongest first (docs/own-collection.md).
OWN_COLLECTION_ORDER: tuple[str, ...] = ("lite0-prior:openclipart-224-short", "lite0-prior:openclipart-224",
                                         "lite0-prior:openclipart")


def recipe(spec: str) -> TeacherRecipe:
    """The recipe named ``spec``; a ConfigError lists the known ones."""
    from distilhash.errors import ConfigError

    if spec not in RECIPES:
        raise ConfigError(f"no teacher recipe named {spec!r}; known: {', '.join(RECIPES)}")
    return RECIPES[spec]
