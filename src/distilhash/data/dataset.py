"""The cross-modal dataset model and its on-disk format.

A prepared dataset is a directory::

    dataset.json   name, item count, label names, text kind, image store, provenance, content hash
    items.jsonl    one line per item: {"id", "text", "tags", "image", "display"}   (image: path for
                   file stores; display: the caption shown to people, see :mod:`distilhash.data.captions`)
    labels.npy     uint8 [N, C] multi-hot labels
    images.npy     uint8 [N, H, W, 3]          (array image stores only; memory-mapped on load)
    bow.npy        float32 [N, V]               (bag-of-words text, when the source has it)
    split.json     the saved split (see :mod:`distilhash.data.split`)
    filtered.jsonl one line per file a source filtered out: {"file", "reason", "detail"}
                   (when the source records ``meta["filtered_items"]``)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.images import ArrayImageStore, FileImageStore, ImageStore
from distilhash.errors import DataError
from distilhash.io_utils import atomic_save_npy, atomic_write_bytes, atomic_write_json, fsync_dir, read_utf8_text

__all__ = ["CrossModalDataset", "save_dataset", "load_dataset", "FORMAT_VERSION"]

FORMAT_VERSION = 1


@dataclass
class CrossModalDataset:
    """Items with an image, a text and multi-hot labels.

    Attributes:
        name: dataset name (e.g. ``"emoji-scenes"``).
        ids: item ids, unique strings, length N.
        texts: caption or tag string per item (length N), or None for BoW-only sources.
        labels: uint8 ``[N, C]`` multi-hot labels (C may be 0 for unlabelled collections).
        label_names: the C label names.
        images: the image store (N images).
        tags: optional list of tag lists per item.
        bow: optional float32 ``[N, V]`` bag-of-words text vectors.
        meta: free-form provenance (source files, generator config, filters applied).
        display_texts: optional caption per item shown to people (cleaned of metadata junk);
            not part of the content hash, so features, splits and models stay valid without it.
    """

    name: str
    ids: list[str]
    texts: list[str] | None
    labels: np.ndarray
    label_names: list[str]
    images: ImageStore
    tags: list[list[str]] | None = None
    bow: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    display_texts: list[str] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.uint8)
        if self.labels.ndim != 2:
            raise DataError(f"{self.name}: labels must be a 2-D multi-hot matrix [N, C], got shape {self.labels.shape}")
        self.validate()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_labels(self) -> int:
        return int(self.labels.shape[1])

    def validate(self) -> None:
        """Check that every part has N entries and that ids are unique; raise DataError otherwise."""
        n = len(self.ids)
        parts: dict[str, int] = {"labels": self.labels.shape[0], "images": len(self.images)}
        if self.texts is not None:
            parts["texts"] = len(self.texts)
        if self.tags is not None:
            parts["tags"] = len(self.tags)
        if self.display_texts is not None:
            parts["display_texts"] = len(self.display_texts)
        if self.bow is not None:
            parts["bow"] = self.bow.shape[0]
        bad = {k: v for k, v in parts.items() if v != n}
        if bad:
            raise DataError(f"{self.name}: {n} ids but mismatched lengths {bad}; every part must have {n} entries")
        if self.labels.shape[1] != len(self.label_names):
            raise DataError(
                f"{self.name}: labels have {self.labels.shape[1]} columns but {len(self.label_names)} label names"
            )
        if len(set(self.ids)) != n:
            raise DataError(f"{self.name}: item ids are not unique")
        if self.texts is None and self.bow is None:
            raise DataError(f"{self.name}: items have neither text strings nor bag-of-words vectors")

    def empty_texts(self) -> list[int]:
        """Indices of items whose text is empty or only whitespace."""
        return [] if self.texts is None else [i for i, t in enumerate(self.texts) if not t or not t.strip()]

    def unlabelled(self) -> np.ndarray:
        """Indices of items with no label."""
        return np.flatnonzero(self.labels.sum(axis=1) == 0) if self.num_labels else np.arange(0)

    def label_frequencies(self) -> dict[str, int]:
        """Number of items carrying each label."""
        counts = self.labels.sum(axis=0)
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def content_hash(self) -> str:
        """Hash of ids, texts and labels (images are identified by their ids/generator)."""
        h = hashlib.sha256()
        h.update("\n".join(self.ids).encode())
        if self.texts is not None:
            h.update("\n".join(self.texts).encode())
        if self.bow is not None:
            h.update(np.ascontiguousarray(self.bow, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        h.update("\n".join(self.label_names).encode())
        return h.hexdigest()[:16]

    def subset(self, indices: np.ndarray, name: str | None = None) -> CrossModalDataset:
        """A new dataset holding the items ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        images = self.images.subset(idx)
        return CrossModalDataset(
            name=name or self.name,
            ids=[self.ids[i] for i in idx],
            texts=None if self.texts is None else [self.texts[i] for i in idx],
            labels=self.labels[idx],
            label_names=list(self.label_names),
            images=images,
            tags=None if self.tags is None else [self.tags[i] for i in idx],
            bow=None if self.bow is None else self.bow[idx],
            meta=dict(self.meta),
            display_texts=None if self.display_texts is None else [self.display_texts[i] for i in idx],
        )


def _save_large_npy(path: Path, array: np.ndarray, rows_per_chunk: int = 1024) -> None:
    """Stream ``array`` into ``path`` through a memory-mapped temporary file, then rename atomically.

    Avoids holding a second in-memory copy of a multi-GB pixel array.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=array.dtype, shape=array.shape)
    try:
        for start in range(0, array.shape[0], rows_per_chunk):
            out[start : start + rows_per_chunk] = array[start : start + rows_per_chunk]
        out.flush()
        del out
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def save_dataset(ds: CrossModalDataset, directory: str | Path) -> Path:
    """Write ``ds`` in the prepared-dataset format; each file is written atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(ds.images, ArrayImageStore):
        _save_large_npy(directory / "images.npy", ds.images.pixels)
        store: dict[str, Any] = {"kind": "array", "file": "images.npy", "size": ds.images.size}
    elif isinstance(ds.images, FileImageStore):
        store = {"kind": "files", "root": str(ds.images.root) if ds.images.root else None}
    else:
        raise DataError(f"cannot save image store {type(ds.images).__name__}")
    atomic_save_npy(directory / "labels.npy", ds.labels)
    if ds.bow is not None:
        atomic_save_npy(directory / "bow.npy", np.asarray(ds.bow, dtype=np.float32))
    lines = []
    for i, item_id in enumerate(ds.ids):
        rec: dict[str, Any] = {"id": item_id}
        if ds.texts is not None:
            rec["text"] = ds.texts[i]
        if ds.tags is not None:
            rec["tags"] = ds.tags[i]
        if isinstance(ds.images, FileImageStore):
            rec["image"] = ds.images.paths[i]
        if ds.display_texts is not None:
            rec["display"] = ds.display_texts[i]
        lines.append(json.dumps(rec, ensure_ascii=False))
    atomic_write_bytes(directory / "items.jsonl", ("\n".join(lines) + "\n").encode())
    if ds.meta.get("filtered_items"):
        rows = [json.dumps(r, ensure_ascii=False) for r in ds.meta["filtered_items"]]
        atomic_write_bytes(directory / "filtered.jsonl", ("\n".join(rows) + "\n").encode())
    atomic_write_json(
        directory / "dataset.json",
        {
            "format_version": FORMAT_VERSION,
            "name": ds.name,
            "n_items": len(ds),
            "label_names": ds.label_names,
            "has_texts": ds.texts is not None,
            "has_tags": ds.tags is not None,
            "has_bow": ds.bow is not None,
            "image_store": store,
            "content_hash": ds.content_hash(),
            "meta": ds.meta,
        },
    )
    return directory


def load_dataset(directory: str | Path, image_root: str | Path | None = None) -> CrossModalDataset:
    """Load a prepared dataset directory (images memory-mapped).

    Args:
        directory: the directory written by :func:`save_dataset`.
        image_root: overrides the stored image root of a file-backed dataset.
    """
    directory = Path(directory)
    manifest_path = directory / "dataset.json"
    if not manifest_path.is_file():
        raise DataError(f"{directory} is not a prepared dataset: {manifest_path.name} is missing")
    try:
        manifest = json.loads(read_utf8_text(manifest_path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(f"{manifest_path}: format_version {found!r}, expected {FORMAT_VERSION}")
    items_path = directory / "items.jsonl"
    records = []
    for no, line in enumerate(read_utf8_text(items_path).splitlines(), 1):
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{items_path}:{no}: not valid JSON ({exc.msg}); the prepared dataset is damaged, "
                            "prepare it again") from None
    n = manifest.get("n_items")
    if len(records) != n:
        raise DataError(f"{items_path}: {len(records)} items, manifest says {n}")
    try:
        labels = np.load(directory / "labels.npy")
    except (OSError, ValueError) as exc:
        raise DataError(f"{directory / 'labels.npy'}: cannot be read ({exc}); prepare the dataset again") from None
    store = manifest["image_store"]
    if store["kind"] == "array":
        images: ImageStore = ArrayImageStore(np.load(directory / store["file"], mmap_mode="r"))
    elif store["kind"] == "files":
        root = image_root if image_root is not None else store.get("root")
        images = FileImageStore([r["image"] for r in records], root)
    else:
        raise DataError(f"{manifest_path}: unknown image_store kind {store['kind']!r}; expected 'array' or 'files'")
    ds = CrossModalDataset(
        name=manifest["name"],
        ids=[r["id"] for r in records],
        texts=[r["text"] for r in records] if manifest.get("has_texts", True) else None,
        labels=labels,
        label_names=list(manifest["label_names"]),
        images=images,
        tags=[r["tags"] for r in records] if manifest.get("has_tags") else None,
        bow=np.load(directory / "bow.npy") if manifest.get("has_bow") else None,
        meta=manifest.get("meta", {}),
        display_texts=[r.get("display") or r.get("text") or "" for r in records] if any("display" in r for r in records) else None,
    )
    if ds.content_hash() != manifest.get("content_hash"):
        raise DataError(f"{directory}: content hash mismatch; the dataset files were changed or damaged")
    return ds
