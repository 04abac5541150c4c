"""Locating prepared datasets and their splits on disk."""

from __future__ import annotations

from pathlib import Path

from distilhash.data.dataset import CrossModalDataset, load_dataset
from distilhash.data.split import Split
from distilhash.errors import DataError
from distilhash.paths import datasets_dir

__all__ = ["resolve_dataset_dir", "open_prepared", "SPLIT_FILE"]

SPLIT_FILE = "split.json"


def resolve_dataset_dir(name_or_path: str | Path) -> Path:
    """A directory path as given, or the prepared dataset ``name`` under ``$DISTILHASH_HOME/datasets``."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    candidate = datasets_dir() / str(name_or_path)
    if candidate.is_dir():
        return candidate
    known = sorted(d.name for d in datasets_dir().glob("*") if (d / "dataset.json").is_file()) if datasets_dir().is_dir() else []
    raise DataError(
        f"no prepared dataset {str(name_or_path)!r} (looked for the directory {p} and {candidate}); "
        f"prepared datasets: {', '.join(known) or 'none'} — run `distilhash data prepare`"
    )


def open_prepared(name_or_path: str | Path) -> tuple[CrossModalDataset, Split]:
    """Load a prepared dataset and its saved split (checked against the dataset's hash)."""
    directory = resolve_dataset_dir(name_or_path)
    ds = load_dataset(directory)
    split_path = directory / SPLIT_FILE
    if not split_path.is_file():
        raise DataError(f"{directory} has no {SPLIT_FILE}; prepare the dataset again with a split preset")
    return ds, Split.load(split_path, dataset_hash=ds.content_hash())
