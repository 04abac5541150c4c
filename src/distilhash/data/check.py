"""Validation of a prepared dataset directory, reported as a list of problems."""

from __future__ import annotations

from pathlib import Path

from distilhash.data.assemble import image_files
from distilhash.data.dataset import load_dataset
from distilhash.data.images import FileImageStore
from distilhash.data.split import Split
from distilhash.data.store import SPLIT_FILE
from distilhash.errors import DataError

__all__ = ["check_dataset"]


def check_dataset(directory: str | Path, open_images: bool = True, max_listed: int = 10) -> list[str]:
    """Return human-readable problems (empty list when the dataset is sound).

    An unlabelled corpus (e.g. the teacher's pretraining corpus) needs no split; a labelled one does.

    Raises DataError when the dataset cannot be loaded at all (missing or damaged files).
    """
    directory = Path(directory)
    ds = load_dataset(directory)
    problems: list[str] = []

    def listed(idx: list[int]) -> str:
        ids = [ds.ids[i] for i in idx[:max_listed]]
        return ", ".join(ids) + (f" (+{len(idx) - max_listed} more)" if len(idx) > max_listed else "")

    empty = ds.empty_texts()
    if empty:
        problems.append(f"{len(empty)} items have an empty text: {listed(empty)}")
    unlabelled = [int(i) for i in ds.unlabelled()]
    if ds.num_labels and unlabelled:
        problems.append(f"{len(unlabelled)} items have no label: {listed(unlabelled)}")
    if isinstance(ds.images, FileImageStore):
        missing = ds.images.missing()
        if missing:
            problems.append(image_files(len(missing), f"are missing: {listed(missing)}"))
        if open_images:
            unreadable: list[int] = []
            for i in range(len(ds)):
                if i in set(missing):
                    continue
                try:
                    ds.images.load(i)
                except DataError:
                    unreadable.append(i)
            if unreadable:
                problems.append(image_files(len(unreadable), f"cannot be read: {listed(unreadable)}"))
    split_path = directory / SPLIT_FILE
    if split_path.is_file():
        try:
            Split.load(split_path, dataset_hash=ds.content_hash()).check_sizes(len(ds))
        except DataError as exc:
            problems.append(str(exc))
    elif ds.num_labels:
        # A labelled dataset is a benchmark: without a split it cannot be evaluated.
        problems.append(f"no {SPLIT_FILE}: the labelled dataset has no saved split")
    return problems
