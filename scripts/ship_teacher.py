"""Copy a teacher fitted in a DISTILHASH_HOME into the package as a shipped artefact, with its manifest.

    python scripts/ship_teacher.py lite0-prior:openclipart-224 --home /path/to/demohome \
        --version 1 --fitted-by "make demo in a fresh clone at commit 8aa32af"

Copies every file of the recipe's fit directories (``$HOME/teachers/<fit.out>``) to
``src/distilhash/teachers/assets/shipped/<fit.out>`` unchanged, and writes ``manifest.json`` there:
the version, the sha256 of each file, what it was fitted on (read from the files) and the commands
that reproduce it (the recipe's ``FitCommand.shown()``, after ``distilhash data prepare DATASET``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def fitted_on(out: Path, recipe) -> dict:
    """Dataset, split hash and pair counts of the recipe's fits, read from the written files."""
    heads = json.loads((out / recipe.fits[0].out / recipe.fits[0].done_file).read_text())
    info = heads.get("fit_info", {})
    found = {"dataset": info.get("dataset"), "pairs": info.get("pairs_used"), "n_fit_pairs": info.get("n_fit_pairs"),
             "n_val_pairs": info.get("n_val_pairs"), "kept": info.get("kept"), "kept_because": info.get("kept_because")}
    for fit in recipe.fits[1:]:
        cfg = json.loads((out / fit.out / fit.done_file).read_text())
        found[fit.out] = {k: cfg.get(k) for k in ("dataset", "n_val_pairs", "weight", "temperature", "template", "kept_because")}
    return found


def main(argv: list[str] | None = None) -> None:
    from distilhash.io_utils import atomic_write_json, sha256_file
    from distilhash.teachers.recipes import recipe
    from distilhash.teachers.shipped import MANIFEST_FILE, SHIPPED_ROOT

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("spec")
    p.add_argument("--home", type=Path, required=True, help="the DISTILHASH_HOME where the recipe was fitted")
    p.add_argument("--version", required=True)
    p.add_argument("--fitted-by", required=True, help="how and at which commit the fit ran")
    a = p.parse_args(argv)
    r = recipe(a.spec)
    if not all((a.home / "teachers" / f.out / f.done_file).is_file() for f in r.fits):
        raise SystemExit(f"{a.spec} is not fitted in {a.home}/teachers ({', '.join(f.out for f in r.fits)})")
    files: dict[str, str] = {}
    for fit in r.fits:
        target = SHIPPED_ROOT / fit.out
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted((a.home / "teachers" / fit.out).iterdir()):
            if src.is_file():
                shutil.copyfile(src, target / src.name)
                files[f"{fit.out}/{src.name}"] = sha256_file(target / src.name)
    man = json.loads((SHIPPED_ROOT / MANIFEST_FILE).read_text()) if (SHIPPED_ROOT / MANIFEST_FILE).is_file() \
        else {"format_version": 1, "artefacts": {}}
    man["artefacts"][a.spec] = {
        "version": a.version, "files": files, "fitted_by": a.fitted_by, "fitted_on": fitted_on(a.home / "teachers", r),
        "about": r.about, "reproduce": [f"distilhash data prepare {r.dataset}", *(f.shown() for f in r.fits)],
    }
    atomic_write_json(SHIPPED_ROOT / MANIFEST_FILE, man)
    print(json.dumps({"spec": a.spec, "files": files}, indent=1))


if __name__ == "__main__":
    main()
