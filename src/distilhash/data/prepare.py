"""Prepare a dataset from a source and draw its split (what ``distilhash data prepare|split`` does).

    prepared = prepare_dataset("folder", {"path": "~/photos"}, sizes={"n_query": 50})
    split, note, directory = redraw_split("photos", preset=None, sizes={"n_query": 100}, force=True)

A split is a benchmark preset, given sizes (the others filled in), or sizes scaled to the
collection; the dataset's split file is written next to it, and a stale one removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError, DataError

__all__ = ["PreparedDataset", "prepare_dataset", "redraw_split", "draw_split", "save_split", "sizes_text",
           "stale_feature_caches"]


@dataclass
class PreparedDataset:
    """A saved dataset: the in-memory dataset, its directory, its split (None: not saved) and how it was chosen.

    ``replaced``: what the directory held before when it was another dataset (other items or another split):
    ``{"n_items", "content_hash", "stale_features"}``, the feature caches made for the old one; None otherwise."""

    dataset: Any
    directory: Path
    split: Any
    note: str
    replaced: dict[str, Any] | None = None


def _previous(directory: Path) -> dict[str, Any] | None:
    """``{"n_items", "content_hash", "split_hash"}`` of the dataset already prepared in ``directory`` (None: none)."""
    import json

    from distilhash.data.store import SPLIT_FILE

    try:
        meta = json.loads((directory / "dataset.json").read_text())
        old = {"n_items": int(meta["n_items"]), "content_hash": str(meta["content_hash"]), "split_hash": None}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        old["split_hash"] = json.loads((directory / SPLIT_FILE).read_text()).get("hash")
    except (OSError, ValueError, AttributeError):
        pass
    return old


def stale_feature_caches(name: str, content_hash: str, split_hash: str | None) -> list[Path]:
    """Feature caches of dataset ``name`` under ``$DISTILHASH_HOME/features`` made for other items or another split."""
    import json

    from distilhash.paths import features_dir

    stale = []
    for manifest in sorted(features_dir().glob(f"{name}__*/manifest.json")):
        try:
            m = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if m.get("dataset_hash") != content_hash or (split_hash is not None and m.get("split_hash") != split_hash):
            stale.append(manifest.parent)
    return stale


def draw_split(ds, source: str, preset: str | None, given: dict[str, int], seed: int):
    """(split or None, a note saying how it was chosen or why there is none).

    Sizes not given are filled in: train = every retrieval item (at most 10,000), val = 10% of train.
    """
    from distilhash.data.split import PRESETS, SplitSpec, auto_spec, make_split, preset as get_preset

    n = len(ds)
    if preset is not None or (not given and source in PRESETS):
        spec = get_preset(preset or source, seed)
        note = f"preset {preset or source}" + (f", whole groups by {spec.group_by}" if spec.group_by else "")
        return make_split(n, spec, ds.content_hash(), _groups(ds, spec.group_by)), note
    if given:
        n_query = given.get("n_query", max(1, round(0.1 * n)))
        n_ret = given.get("n_retrieval")
        n_train = given.get("n_train", min((n - n_query) if n_ret is None else n_ret, 10000))
        n_val = given.get("n_val", max(1, round(0.1 * n_train)) if n_train > 2 else 0)
        spec = SplitSpec(n_query, n_train, n_ret, n_val, seed, origin="sizes")
        split = make_split(n, spec, ds.content_hash())
        return split, f"sizes given ({sizes_text(split)})"
    try:
        spec = auto_spec(n, seed)
    except DataError as exc:
        return None, str(exc)
    split = make_split(n, spec, ds.content_hash())
    return split, (f"sizes scaled to the {n} items ({sizes_text(split)}; --queries/--train/--val choose others)"
                   + ("; with this few queries evaluation figures are noisy" if len(split.query) < 50 else ""))


def _groups(ds, group_by: str):
    """Group ids for a grouped split (None when ``group_by`` is empty)."""
    if not group_by:
        return None
    from distilhash.data.split_groups import group_ids

    return group_ids(ds, group_by)


def sizes_text(split) -> str:
    """``"50 queries, 900 retrieval, 900 train of which 90 validation"``."""
    s = split.sizes()
    queries = "1 query" if s["query"] == 1 else f"{s['query']} queries"
    return f"{queries}, {s['retrieval']} retrieval, {s['train']} train of which {s['val']} validation"


def save_split(directory: Path, split) -> None:
    """Write ``split`` as the dataset's split file, or remove a stale one when there is none."""
    from distilhash.data.store import SPLIT_FILE

    if split is not None:
        split.save(directory / SPLIT_FILE)
    elif (directory / SPLIT_FILE).is_file():
        (directory / SPLIT_FILE).unlink()  # drawn for an earlier version of this dataset: its hash no longer matches


def prepare_dataset(source: str, options: dict[str, Any] | None = None, out: str | Path | None = None, *,
                    preset: str | None = None, sizes: dict[str, int] | None = None, seed: int = 0,
                    no_split: bool = False) -> PreparedDataset:
    """Build a dataset from ``source`` (``create_source_dataset(source, **options)``), save it and its split.

    ``out`` defaults to ``$DISTILHASH_HOME/datasets/NAME`` (``options["name"]``, else the source's
    name). At most one of ``preset``, ``sizes`` (keys ``n_query``, ``n_train``, ``n_retrieval``,
    ``n_val``) and ``no_split``.
    """
    from distilhash.data.dataset import save_dataset
    from distilhash.data.sources import create_source_dataset
    from distilhash.paths import datasets_dir

    given = {k: v for k, v in (sizes or {}).items() if v is not None}
    if (preset is not None) + bool(given) + no_split > 1:
        raise ConfigError("choose one of --preset, split sizes (--queries/--train/--val/--retrieval) and --no-split")
    options = dict(options or {})
    ds = create_source_dataset(source, **options)
    target = Path(out) if out is not None else datasets_dir() / (options.get("name") or ds.name)
    split, note = (None, "--no-split") if no_split else draw_split(ds, source, preset, given, seed)
    before = _previous(target)
    save_dataset(ds, target)
    save_split(target, split)
    replaced = None
    new_split = split.hash if split is not None else None
    if before is not None and (before["content_hash"] != ds.content_hash() or before["split_hash"] != new_split):
        replaced = {**before, "stale_features": [str(p) for p in stale_feature_caches(ds.name, ds.content_hash(), new_split)]}
    return PreparedDataset(ds, target, split, note, replaced)


def redraw_split(dataset: str, *, preset: str | None = None, sizes: dict[str, int] | None = None, seed: int = 0,
                 force: bool = False) -> tuple[Any, str, Path]:
    """Draw (or with ``force`` redraw) the split of a prepared dataset; ``(split, note, dataset directory)``."""
    from distilhash.data.dataset import load_dataset
    from distilhash.data.store import SPLIT_FILE, resolve_dataset_dir

    given = {k: v for k, v in (sizes or {}).items() if v is not None}
    if preset is not None and given:
        raise ConfigError("give --preset or split sizes, not both")
    directory = resolve_dataset_dir(dataset)
    if (directory / SPLIT_FILE).is_file() and not force:
        raise DataError(f"{directory / SPLIT_FILE} exists; pass --force to replace it (features, models and "
                        "indexes made with the old split must then be made again)")
    ds = load_dataset(directory)
    drawn, note = draw_split(ds, "", preset, given, seed)
    if drawn is None:
        raise DataError(note)
    save_split(directory, drawn)
    return drawn, note, directory
