"""Source ``folder``: a user's own collection, a folder of images plus a captions file.

Captions file formats (found in the folder as ``captions.jsonl``/``captions.csv``/
``metadata.jsonl``/``metadata.csv``, or the only ``.jsonl``/``.csv`` there, or given with
``captions=FILE``):

* JSONL, one object per line::

      {"image": "a.jpg", "caption": "a dog on a beach", "labels": ["dog", "beach"]}

  ``image`` may also be spelled ``file_name`` (Hugging Face imagefolder) or ``file``; ``caption``
  may be ``text``; ``labels`` is a list or a string ``"dog|beach"``; an optional ``id``.
* CSV with a header naming the same columns (``image,caption,labels``), or without a header, the
  columns in that order. Labels inside a cell are separated by ``|`` or ``;``.

Without a captions file, ``captions=filenames`` takes each image's caption from its file name
(``red-apple_2.jpg`` -> "red apple 2", ``GreenMeadow.jpg`` -> "green meadow") and, when every image
sits in a subfolder, its label from the first subfolder (``fruit/red-apple.jpg`` -> ``fruit``).

Labels are optional: without any, the dataset has C = 0 label columns. Image paths are relative
to the captions file's folder, or resolved under ``image_root`` (absolute paths too). Several rows
for one image are merged (captions per ``caption_mode``, labels united) and reported.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from distilhash.data.assemble import _parts, finalize, item_ids_from_paths, listed, rewrite_image_paths
from distilhash.data.dataset import CrossModalDataset
from distilhash.data.images import FileImageStore
from distilhash.data.sources import SOURCES
from distilhash.errors import DataError
from distilhash.io_utils import read_json_lines, read_utf8_text

__all__ = ["read_folder", "read_captions_file", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_CAPTION_FILES = ("captions.jsonl", "captions.csv", "metadata.jsonl", "metadata.csv")
_IMAGE_KEYS = ("image", "file_name", "file", "path")
_TEXT_KEYS = ("caption", "text")
_LABEL_KEYS = ("labels", "label", "tags")


def _find_captions_file(directory: Path) -> Path:
    for name in _CAPTION_FILES:
        if (directory / name).is_file():
            return directory / name
    cands = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".jsonl", ".csv") and p.is_file())
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise DataError(
            f"folder {directory}: no captions file; expected {' or '.join(_CAPTION_FILES)} (JSONL lines like "
            '{"image": "a.jpg", "caption": "...", "labels": ["x"]} or CSV image,caption[,labels]) or captions=FILE; '
            "or take each caption from the image's file name with captions=filenames (`--opt captions=filenames`)"
        )
    raise DataError(f"folder {directory}: several candidate captions files ({', '.join(p.name for p in cands)}); "
                    f"choose one with captions=FILE")


def _split_labels(value: Any, sep: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value)
    parts = text.split(sep) if sep else re.split(r"[|;]", text)
    return [p.strip() for p in parts if p.strip()]


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in record:
            return k, record[k]
    return None, None


def read_captions_file(path: Path, label_sep: str | None = None) -> tuple[list[tuple[int, str, str, list[str], str | None]], bool]:
    """Rows ``(line_no, image, caption, labels, id)`` of a JSONL or CSV captions file, and whether labels appear.

    Raises:
        DataError: naming the file and line of a malformed row, the keys found and the accepted keys.
    """
    rows: list[tuple[int, str, str, list[str], str | None]] = []
    has_labels = False
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or suffix == ".json":
        for no, rec in read_json_lines(path):
            ik, image = _pick(rec, _IMAGE_KEYS)
            tk, text = _pick(rec, _TEXT_KEYS)
            if ik is None or tk is None:
                raise DataError(
                    f"{path}:{no}: keys {sorted(rec)}; expected an image key ({'|'.join(_IMAGE_KEYS)}) and a "
                    f"caption key ({'|'.join(_TEXT_KEYS)}), labels optional ({'|'.join(_LABEL_KEYS)})"
                )
            lk, labels = _pick(rec, _LABEL_KEYS)
            has_labels |= lk is not None
            rows.append((no, str(image), "" if text is None else str(text), _split_labels(labels, label_sep),
                         None if rec.get("id") is None else str(rec["id"])))
        return rows, has_labels
    if suffix not in (".csv", ".tsv"):
        raise DataError(f"captions file {path}: unknown format {suffix!r}; expected .jsonl or .csv")
    reader = csv.reader(io.StringIO(read_utf8_text(path), newline=""), delimiter="\t" if suffix == ".tsv" else ",")
    try:
        table = [r for r in reader]
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if not table:
        raise DataError(f"captions file {path} is empty")
    header = [h.strip().lower() for h in table[0]]
    ik = next((header.index(k) for k in _IMAGE_KEYS if k in header), None)
    tk = next((header.index(k) for k in _TEXT_KEYS if k in header), None)
    if ik is not None and tk is not None:
        lk = next((header.index(k) for k in _LABEL_KEYS if k in header), None)
        idk = header.index("id") if "id" in header else None
        body, first = table[1:], 2
    else:
        if any(h in header for h in _IMAGE_KEYS + _TEXT_KEYS):
            raise DataError(f"{path}: header {table[0]} lacks an image column ({'|'.join(_IMAGE_KEYS)}) "
                            f"or a caption column ({'|'.join(_TEXT_KEYS)})")
        ik, tk, lk, idk, body, first = 0, 1, 2, None, table, 1
    for no, r in enumerate(body, start=first):
        if not r or all(not c.strip() for c in r):
            continue
        if len(r) <= max(ik, tk):
            raise DataError(f"{path}:{no}: {len(r)} columns; expected image,caption[,labels]")
        labels = _split_labels(r[lk], label_sep) if lk is not None and lk < len(r) else []
        rows.append((no, r[ik].strip(), r[tk], labels, r[idk].strip() if idk is not None and idk < len(r) else None))
    # With a header, labels exist when there is a labels column; without, when rows have a third column.
    has_labels = lk is not None if body is not table else any(len(r) > 2 for r in body if r)
    return rows, has_labels


def caption_from_file_name(path: str) -> str:
    """``"photos/RedApple_2.jpg"`` -> ``"red apple 2"``: the stem, camelCase split, ``-_.+`` as spaces, lower case."""
    stem = PurePosixPath(path).stem
    stem = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", stem)
    return " ".join(re.split(r"[-_.+\s]+", stem)).strip().lower()


def rows_from_file_names(folder: Path, limit: int = 200_000) -> tuple[list[tuple[int, str, str, list[str], str | None]], bool]:
    """Rows like :func:`read_captions_file`'s for every image under ``folder``: caption from the file name,
    label from the first subfolder when every image is in one; and whether labels appear."""
    paths = sorted(str(PurePosixPath(*p.relative_to(folder).parts)) for i, p in enumerate(folder.rglob("*"))
                   if i <= limit and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise DataError(f"folder {folder}: captions=filenames found no image files ({', '.join(IMAGE_EXTENSIONS)})")
    labelled = all("/" in x for x in paths)
    rows = [(no, x, caption_from_file_name(x), [x.split("/")[0]] if labelled else [], None)
            for no, x in enumerate(paths, 1)]
    empty = [x for _, x, text, _, _ in rows if not text]
    if empty:
        raise DataError(f"folder {folder}: captions=filenames gives an empty caption for {listed(empty)}; rename them "
                        "or write a captions file")
    return rows, labelled


def _unlisted_images(root: Path, listed_paths: set[str], limit: int = 200_000) -> int:
    """Number of image files under ``root`` that the captions file does not list."""
    count = 0
    for i, p in enumerate(root.rglob("*")):
        if i > limit:
            break
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and str(p.relative_to(root)) not in listed_paths:
            count += 1
    return count


@SOURCES.register("folder")
def read_folder(
    path: Any = None,
    image_root: str | Path | None = None,
    name: str | None = None,
    captions: Any = None,
    caption_mode: str = "first",
    label_sep: str | None = None,
    drop_unlabelled: bool | None = None,
    drop_empty_text: bool = False,
    drop_missing_images: bool = False,
    check_images: str = "decode",
    progress: bool = True,
) -> CrossModalDataset:
    """Read a user's collection: images plus a JSONL/CSV captions file (see the module docstring).

    Args:
        path: the folder (or the captions file itself).
        image_root: where image paths are resolved (default: the captions file's folder).
        name: dataset name (default: the folder's name).
        captions: the captions file, when the folder holds several or it lives elsewhere; ``"filenames"``: none,
            captions (and subfolder labels) from the image file names.
        caption_mode: ``first`` or ``join`` for images listed on several rows.
        label_sep: separator of labels inside a CSV cell / string (default: ``|`` or ``;``).
        drop_unlabelled: None (default) makes unlabelled items of a labelled collection an error;
            True drops them, False keeps them (either is reported in ``meta["filters"]``).
        drop_empty_text, drop_missing_images, check_images: see :func:`distilhash.data.assemble.finalize`.
    """
    if path is None and captions is None:
        raise DataError("folder needs path=DIR (a folder of images with a captions file) or captions=FILE")
    if caption_mode not in ("first", "join"):
        raise DataError(f"caption_mode={caption_mode!r}; expected first or join")
    p = Path(str(path)) if path is not None else None
    from_names = captions == "filenames"
    if from_names:
        if p is None or not p.is_dir():
            raise DataError(f"folder: captions=filenames needs path=DIR, a folder of images; got {p}")
        cap_file = p / "(file names)"  # no file: the rows come from the image names; its parent is the folder
    elif captions is not None:
        cap_file = Path(str(captions))
    elif p is not None and p.is_file():
        cap_file = p
    elif p is not None and p.is_dir():
        cap_file = _find_captions_file(p)
    else:
        raise DataError(f"folder: {p} does not exist")
    if not from_names and not cap_file.is_file():
        raise DataError(f"folder: captions file not found: {cap_file}")
    folder = p if p is not None and p.is_dir() else cap_file.parent
    rows, has_labels = rows_from_file_names(folder) if from_names else read_captions_file(cap_file, label_sep)
    if not rows:
        raise DataError(f"captions file {cap_file} lists no items")

    # Merge rows naming the same image (several captions per image), in first-seen order.
    order: list[str] = []
    merged: dict[str, dict[str, Any]] = {}
    for no, image, text, labels, item_id in rows:
        key = image.strip()
        if key not in merged:
            order.append(key)
            merged[key] = {"lines": [no], "texts": [text], "labels": list(labels), "id": item_id}
        else:
            m = merged[key]
            m["lines"].append(no)
            m["texts"].append(text)
            m["labels"].extend(x for x in labels if x not in m["labels"])
    notes: list[str] = []
    filters: list[str] = []
    multi = [k for k in order if len(merged[k]["texts"]) > 1]
    if multi:
        filters.append(
            f"{len(multi)} images are listed on several rows (e.g. {listed(multi, 3)}); merged into one item each "
            f"(labels united, captions: {'the first kept' if caption_mode == 'first' else 'joined'}, caption_mode={caption_mode})"
        )

    texts = []
    for k in order:
        t = [s.strip() for s in merged[k]["texts"]]
        texts.append(t[0] if caption_mode == "first" else " ".join(s for s in t if s))
    label_names = sorted({lab for k in order for lab in merged[k]["labels"]}) if has_labels else []
    col = {lab: j for j, lab in enumerate(label_names)}
    labels = np.zeros((len(order), len(label_names)), dtype=np.uint8)
    for i, k in enumerate(order):
        for lab in merged[k]["labels"]:
            labels[i, col[lab]] = 1

    resolved = rewrite_image_paths(order, image_root, cap_file.parent)
    notes.extend(resolved.notes)
    given_ids = [merged[k]["id"] for k in order]
    if all(x is not None for x in given_ids):
        dup = sorted({x for x in given_ids if given_ids.count(x) > 1})
        if dup:
            raise DataError(f"{cap_file}: ids repeated for different images: {listed(dup)}")
        ids = [str(x) for x in given_ids]
    else:
        ids = item_ids_from_paths(order)
    if resolved.root is not None and resolved.root.is_dir() and image_root is None:
        n_unlisted = _unlisted_images(resolved.root, {str(PurePosixPath(*_parts(x))) for x in resolved.paths if _parts(x)})
        if n_unlisted:
            filters.append(f"{n_unlisted} image files under {resolved.root} are not listed in {cap_file.name}; not included")
    ds = CrossModalDataset(
        name=name or folder.resolve().name or "folder",
        ids=ids,
        texts=texts,
        labels=labels,
        label_names=label_names,
        images=FileImageStore(resolved.paths, resolved.root),
        meta={"source": "folder", "captions_file": "from the file names" if from_names else str(cap_file.resolve()),
              "notes": notes, "filters": filters,
              "labels": ("from the first subfolder" if from_names else "from the captions file") if label_names
              else "none (C = 0)"},
    )
    return finalize(
        ds,
        source=f"folder ({folder}, captions from the file names)" if from_names else f"folder ({cap_file})",
        drop_unlabelled=drop_unlabelled,
        drop_empty_text=drop_empty_text,
        drop_missing_images=drop_missing_images,
        check_images=check_images,
        progress=progress,
    )
