"""Shared last steps of every file reader: image paths, item ids, filters and checks.

Readers (``dcmh-mat``, ``dchmt-mat``, ``folder``) collect raw columns, build a
:class:`CrossModalDataset` holding every item, then call :func:`finalize`, which applies the
conventional filters (each reported in ``ds.meta["filters"]``) and raises :class:`DataError`
for anything it is not allowed to drop.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from distilhash.data.dataset import CrossModalDataset
from distilhash.data.images import FileImageStore
from distilhash.errors import DataError

__all__ = ["ImagePaths", "rewrite_image_paths", "item_ids_from_paths", "finalize", "listed", "image_files", "CHECK_MODES"]

#: How image files are checked at prepare time (``check_images`` option).
CHECK_MODES = ("none", "exists", "header", "decode")

_SEP = re.compile(r"[\\/]+")


def listed(names: Sequence[str], limit: int = 10) -> str:
    """``"a, b, c (+7 more)"``."""
    head = ", ".join(str(n) for n in names[:limit])
    return head + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def image_files(n: int, what: str) -> str:
    """``"3 image files are missing"`` / ``"1 image file is missing"`` for ``what`` in the plural (``"are missing"``,
    ``"cannot be read"``)."""
    if n != 1:
        return f"{n} image files {what}"
    return "1 image file " + ("is " + what[4:] if what.startswith("are ") else what)


def _parts(path: str) -> list[str]:
    """Path components of a POSIX or Windows path, drive and empty parts removed."""
    parts = [p for p in _SEP.split(path.strip()) if p and p != "."]
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    return parts


class ImagePaths:
    """Image paths resolved against a root: what a :class:`FileImageStore` needs.

    Attributes:
        paths: per item, a path relative to ``root`` (or absolute when no root applies).
        root: the image root directory (or None).
        missing: indices of items whose file does not exist.
        notes: what was rewritten, for the dataset's provenance.
    """

    def __init__(self, paths: list[str], root: Path | None, missing: list[int], notes: list[str]) -> None:
        self.paths, self.root, self.missing, self.notes = paths, root, missing, notes


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", path))


def rewrite_image_paths(raw: Sequence[str], image_root: str | Path | None, base: Path | None) -> ImagePaths:
    """Resolve image paths stored in a dataset file.

    * With ``image_root``: each path (absolute, e.g. ``/home/author/data/mirflickr/im1.jpg``, or
      relative, POSIX or Windows) keeps its longest tail of components that exists under the root
      (``mirflickr/im1.jpg`` if ``ROOT/mirflickr/im1.jpg`` exists, else ``im1.jpg``).
    * Without: relative paths are taken relative to ``base`` (the directory of the file that
      lists them); absolute paths are kept as they are.

    Items whose file is not found are listed in ``missing`` (nothing is dropped here).
    """
    if image_root is None:
        root = base.resolve() if base is not None else None
        paths, missing = [], []
        for i, p in enumerate(raw):
            p = p.strip()
            paths.append(p)
            full = Path(p) if (_is_absolute(p) or root is None) else root / p
            if not full.is_file():
                missing.append(i)
        return ImagePaths(paths, root, missing, [])
    root = Path(image_root).resolve()
    if not root.is_dir():
        raise DataError(f"image root {root} is not a directory")
    paths, missing = [], []
    keep_hint: int | None = None  # number of tail components that worked last time
    rewritten = 0
    for i, p in enumerate(raw):
        parts = _parts(p)
        if not parts:
            paths.append(p.strip())
            missing.append(i)
            continue
        order = list(range(len(parts), 0, -1))
        if keep_hint is not None and keep_hint <= len(parts):
            order.remove(keep_hint)
            order.insert(0, keep_hint)
        found = None
        for k in order:
            tail = str(PurePosixPath(*parts[-k:]))
            if (root / tail).is_file():
                found, keep_hint = tail, k
                break
        if found is None:
            paths.append(str(PurePosixPath(*parts)) if not _is_absolute(p) else p.strip())
            missing.append(i)
        else:
            rewritten += found != p.strip()
            paths.append(found)
    notes = [f"image paths resolved under {root}: {rewritten} rewritten, {len(missing)} not found"]
    # Paths that were not found keep their original form for the error message.
    return ImagePaths(paths, root, missing, notes)


def item_ids_from_paths(paths: Sequence[str]) -> list[str]:
    """Ids from image file names: the stem when stems are unique, else the relative path, else row numbers."""
    stems = [PurePosixPath(*_parts(p)).stem if _parts(p) else "" for p in paths]
    if all(stems) and len(set(stems)) == len(stems):
        return stems
    rel = [str(PurePosixPath(*_parts(p))) for p in paths]
    if all(rel) and len(set(rel)) == len(rel):
        return rel
    return [f"{i:06d}" for i in range(len(paths))]


def _check_files(ds: CrossModalDataset, mode: str, progress: bool) -> tuple[list[int], list[tuple[int, str]]]:
    """(missing, unreadable-with-reason) item indices of a file-backed dataset."""
    store = ds.images
    if not isinstance(store, FileImageStore) or mode == "none":
        return [], []
    missing = store.missing()
    if mode == "exists":
        return missing, []
    from PIL import Image, UnidentifiedImageError
    from tqdm import tqdm

    from distilhash.data.image_limits import bomb_error, check_dimensions, is_bomb_error

    gone = set(missing)
    bad: list[tuple[int, str]] = []
    todo = [i for i in range(len(store)) if i not in gone]
    for i in tqdm(todo, desc=f"checking images ({mode})", disable=not progress or len(todo) < 200, unit="img"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_dimensions is the limit
                with Image.open(store.path(i)) as im:
                    check_dimensions(im.size, "the image")
                    if mode == "decode":
                        im.load()  # a full decode: a truncated file fails here, not only at feature extraction
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            bad.append((i, f"{type(exc).__name__}: {exc}" if not isinstance(exc, DataError) else str(exc)))
        except Exception as exc:
            if not is_bomb_error(exc):
                raise
            bad.append((i, str(bomb_error(exc, "the image"))))
    return missing, bad


def finalize(
    ds: CrossModalDataset,
    *,
    source: str,
    drop_unlabelled: bool | None,
    drop_empty_text: bool = False,
    drop_missing_images: bool = False,
    check_images: str = "decode",
    progress: bool = True,
) -> CrossModalDataset:
    """Apply the conventional filters and checks, in this order, and record each in ``meta["filters"]``.

    1. items with no label (only when the dataset has labels): ``drop_unlabelled`` True drops
       them (the MIRFlickr convention), False keeps them, None makes them an error;
    2. items with an empty caption (or an all-zero bag of words): an error naming the items
       unless ``drop_empty_text``;
    3. image files (file-backed datasets), checked per ``check_images`` (one of ``CHECK_MODES``;
       default ``decode``: every file fully decoded, so a truncated file fails here and not at
       feature extraction; images over :data:`~distilhash.data.image_limits.MAX_PIXELS` fail too):
       missing or unreadable files are an error naming them unless ``drop_missing_images``.

    Raises:
        DataError: naming ``source``, the items and the option that would drop them.
    """
    if check_images not in CHECK_MODES:
        raise DataError(f"check_images={check_images!r}; expected one of {', '.join(CHECK_MODES)}")
    filters: list[str] = list(ds.meta.get("filters", []))
    n0 = len(ds)

    def drop(idx: Sequence[int]) -> CrossModalDataset:
        keep = np.setdiff1d(np.arange(len(ds)), np.asarray(list(idx), dtype=np.int64))
        return ds.subset(keep)

    if ds.num_labels:
        unl = [int(i) for i in ds.unlabelled()]
        if unl and drop_unlabelled is None:
            raise DataError(
                f"{source}: {len(unl)} of {len(ds)} items have no label: {listed([ds.ids[i] for i in unl])}; "
                f"pass drop_unlabelled=true to drop them (reported) or drop_unlabelled=false to keep them"
            )
        if drop_unlabelled:
            filters.append(f"drop_unlabelled: {len(unl)} of {len(ds)} items had no label and were dropped"
                           + (f" ({listed([ds.ids[i] for i in unl], 5)})" if unl else ""))
            if unl:
                ds = drop(unl)
        elif unl:
            filters.append(f"drop_unlabelled=false: {len(unl)} items have no label and were kept")

    empty = ds.empty_texts()
    if ds.texts is None and ds.bow is not None:
        empty = [int(i) for i in np.flatnonzero(np.asarray(ds.bow).sum(axis=1) == 0)]
    if empty:
        what = "an empty caption" if ds.texts is not None else "an all-zero bag of words"
        if not drop_empty_text:
            raise DataError(
                f"{source}: {len(empty)} items have {what}: {listed([ds.ids[i] for i in empty])}; "
                f"fix the text file or pass drop_empty_text=true to drop them (reported)"
            )
        filters.append(f"drop_empty_text: {len(empty)} items had {what} and were dropped "
                       f"({listed([ds.ids[i] for i in empty], 5)})")
        ds = drop(empty)

    missing, bad = _check_files(ds, check_images, progress)
    if missing or bad:
        store = ds.images
        assert isinstance(store, FileImageStore)
        parts = []
        if missing:
            parts.append(image_files(len(missing), "are missing: ") + listed([str(store.path(i)) for i in missing]))
        if bad:
            parts.append(image_files(len(bad), "cannot be read: ")
                         + listed([f"{store.path(i)} ({why})" for i, why in bad], 5))
        if not drop_missing_images:
            absolute = any(_is_absolute(store.paths[i]) for i in missing)
            hint = (" (absolute paths from another machine? pass image_root=DIR: the last path components "
                    "that exist under it are kept)") if absolute else ""
            raise DataError(
                f"{source}: " + "; ".join(parts) + f" (image root: {store.root}){hint}; "
                "fix the files, or drop those items with the source option drop_missing_images=true (`--opt drop_missing_images=true`; reported)"
            )
        filters.append(f"drop_missing_images: dropped {len(missing) + len(bad)} items: " + "; ".join(parts))
        ds = drop(missing + [i for i, _ in bad])
    elif isinstance(ds.images, FileImageStore) and check_images != "none":
        filters.append(f"check_images={check_images}: all {len(ds)} image files present"
                       + {"exists": " (not opened)", "header": ", their headers readable (not decoded)",
                          "decode": " and fully decoded"}[check_images])

    if len(ds) == 0:
        raise DataError(f"{source}: no items left after filtering ({n0} read); filters: {'; '.join(filters)}")
    ds.meta = {**ds.meta, "filters": filters, "n_items_read": n0}
    return ds
