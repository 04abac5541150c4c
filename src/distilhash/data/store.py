"""Locating prepared datasets and their splits on disk.

A dataset argument is read in one of two ways, never both:

* a **path** (it contains a ``/``, starts with ``.`` or ``~``, or is absolute): that directory;
* a **name** (anything else): ``$DISTILHASH_HOME/datasets/NAME``; only when no such prepared
  dataset exists is a prepared dataset directory of that name in the current directory used.

So a folder of photos named like a prepared dataset never shadows it, and every error says which
paths were read and where ``$DISTILHASH_HOME`` points.
"""

from __future__ import annotations

from pathlib import Path

from distilhash.data.dataset import CrossModalDataset, load_dataset
from distilhash.data.split import Split
from distilhash.errors import DataError
from distilhash.paths import datasets_dir, home_hint

__all__ = ["resolve_dataset_dir", "open_prepared", "prepared_names", "is_prepared", "looks_like_path", "SPLIT_FILE",
           "MANIFEST_FILE"]

SPLIT_FILE = "split.json"
MANIFEST_FILE = "dataset.json"


def looks_like_path(arg: str | Path) -> bool:
    """True for ``./x``, ``../x``, ``a/b``, ``/abs``, ``~/x`` (and Path objects); False for a bare name."""
    if isinstance(arg, Path):
        return True
    s = str(arg)
    return "/" in s or "\\" in s or s.startswith((".", "~"))


def is_prepared(directory: Path) -> bool:
    """Whether ``directory`` holds a prepared dataset (its ``dataset.json``)."""
    return (directory / MANIFEST_FILE).is_file()


def prepared_names() -> list[str]:
    """Names of the prepared datasets under ``$DISTILHASH_HOME/datasets``."""
    root = datasets_dir()
    return sorted(d.name for d in root.iterdir() if is_prepared(d)) if root.is_dir() else []


def _known() -> str:
    return f"prepared datasets under {datasets_dir()}: {', '.join(prepared_names()) or 'none'}"


def resolve_dataset_dir(name_or_path: str | Path) -> Path:
    """The directory of a prepared dataset given by name or path (see the module docstring).

    Raises:
        DataError: naming every path read, the prepared datasets that exist and ``$DISTILHASH_HOME``.
    """
    if looks_like_path(name_or_path):
        p = Path(name_or_path).expanduser()
        if is_prepared(p):
            return p
        why = "does not exist" if not p.exists() else (
            "is not a directory" if not p.is_dir() else f"is a directory without {MANIFEST_FILE}, not a prepared dataset")
        raise DataError(f"dataset path {p} {why}; give a prepared dataset directory or a name ({_known()}; "
                        f"{home_hint()}) — prepare one with `distilhash data prepare`")
    name = str(name_or_path)
    candidate = datasets_dir() / name
    if is_prepared(candidate):
        return candidate
    local = Path(name)
    if is_prepared(local):
        return local
    local_note = ""
    if local.is_dir():
        local_note = (f"; ./{name} in the current directory is a folder but not a prepared dataset (no {MANIFEST_FILE}) "
                      f"— if it holds your images, prepare it: `distilhash data prepare folder --path ./{name}`")
    raise DataError(f"no prepared dataset named {name!r}: read {candidate}{local_note}; {_known()}; {home_hint()}")


def open_prepared(name_or_path: str | Path) -> tuple[CrossModalDataset, Split]:
    """Load a prepared dataset and its saved split (checked against the dataset's hash)."""
    directory = resolve_dataset_dir(name_or_path)
    ds = load_dataset(directory)
    split_path = directory / SPLIT_FILE
    if not split_path.is_file():
        raise DataError(
            f"{directory} has no {SPLIT_FILE}; draw one with `distilhash data split {name_or_path}` "
            f"(sizes scaled to the {len(ds)} items by default, or --queries/--train/--val, or --preset), "
            f"or prepare the dataset again (a split is saved by default)"
        )
    return ds, Split.load(split_path, dataset_hash=ds.content_hash())
