"""Thumbnails kept inside an index directory, so the service never reads image files by path.

``<index_dir>/thumbs.sqlite`` holds one table ``thumbs(key TEXT PRIMARY KEY, mime TEXT, data BLOB)``
of small encoded images (WebP or PNG). An item's thumbnail key is looked up, never built from
user input into a path:

* ``id:<item id>`` — a thumbnail stored for that item (items added through the service);
* ``row:<dataset>:<row>`` — the image of dataset row ``row`` (items built from a prepared
  dataset carry ``{"dataset": ..., "row": ...}`` in their metadata, see ``distilhash index build``).

:func:`write_thumbnails` fills the store for every dataset row an index refers to (run it once
after building the index; the demo does). The file is not part of the index manifest: the index
engine ignores it, and ``distilhash index verify`` does not check it.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["ThumbStore", "THUMBS_FILE", "thumb_keys", "encode_thumbnail", "write_thumbnails"]

THUMBS_FILE = "thumbs.sqlite"
_SCHEMA = "CREATE TABLE IF NOT EXISTS thumbs (key TEXT PRIMARY KEY, mime TEXT NOT NULL, data BLOB NOT NULL)"


def thumb_keys(item_id: str, metadata: dict[str, Any]) -> list[str]:
    """Candidate store keys of an item, most specific first (see module docstring)."""
    keys = [f"id:{item_id}"]
    row, ds = metadata.get("row"), metadata.get("dataset")
    if isinstance(row, int) and ds:
        keys.append(f"row:{ds}:{row}")
    return keys


def encode_thumbnail(image: Any, size: int = 96, fmt: str = "WEBP") -> tuple[str, bytes]:
    """(mime type, bytes) of ``image`` (PIL image or uint8 ``[H, W, 3]``) fitted into ``size`` px."""
    from PIL import Image

    im = Image.fromarray(np.asarray(image, dtype=np.uint8)) if not isinstance(image, Image.Image) else image
    im = im.convert("RGB")
    if max(im.size) > size:
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
    elif max(im.size) < size:  # small dataset images: scale up crisply for the page
        scale = size / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    if fmt.upper() == "WEBP":
        im.save(buf, format="WEBP", quality=85, method=4)
        return "image/webp", buf.getvalue()
    im.save(buf, format="PNG", optimize=True)
    return "image/png", buf.getvalue()


class ThumbStore:
    """Key -> encoded thumbnail in ``<index_dir>/thumbs.sqlite`` (thread-safe; created on first write)."""

    def __init__(self, index_dir: str | Path) -> None:
        self.path = Path(index_dir) / THUMBS_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists() and not create:
                return None
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute(_SCHEMA)
            self._db.commit()
        return self._db

    def get(self, keys: Iterable[str]) -> tuple[str, bytes] | None:
        """(mime, bytes) of the first key present, or None."""
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return None
            for key in keys:
                row = db.execute("SELECT mime, data FROM thumbs WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return row[0], bytes(row[1])
        return None

    def has_any(self, keys: Iterable[str]) -> bool:
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return False
            return any(db.execute("SELECT 1 FROM thumbs WHERE key = ?", (k,)).fetchone() for k in keys)

    def put_many(self, items: Iterable[tuple[str, str, bytes]]) -> int:
        """Insert or replace ``(key, mime, data)`` rows in one transaction; returns how many."""
        rows = list(items)
        with self._lock:
            db = self._conn(create=True)
            with db:
                db.executemany("INSERT OR REPLACE INTO thumbs (key, mime, data) VALUES (?, ?, ?)", rows)
        return len(rows)

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            db = self._conn(create=False)
            if db is not None:
                with db:
                    db.executemany("DELETE FROM thumbs WHERE key = ?", [(k,) for k in keys])

    def count(self) -> int:
        with self._lock:
            db = self._conn(create=False)
            return 0 if db is None else int(db.execute("SELECT count(*) FROM thumbs").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _index_rows(index_dir: Path) -> dict[str, set[int]]:
    """dataset name -> dataset rows referred to by the live items of the index."""
    from distilhash.index import open_index  # a sharded index too

    out: dict[str, set[int]] = {}
    with open_index(index_dir) as idx:
        for md in _all_metadata(idx):
            row, ds = md.get("row"), md.get("dataset")
            if isinstance(row, int) and ds:
                out.setdefault(str(ds), set()).add(row)
    return out


def _all_metadata(idx: Any, chunk: int = 20_000) -> Iterator[dict[str, Any]]:
    """Metadata of every live item of an open index (public accessor :meth:`CodeIndex.iter_metadata`)."""
    for _, md in idx.iter_metadata(chunk):
        yield md


def write_thumbnails(index_dir: str | Path, size: int = 96, fmt: str = "WEBP", batch: int = 512,
                     datasets: dict[str, Any] | None = None, progress: bool = True) -> int:
    """Store a thumbnail for every dataset row the index's items refer to (skips rows already stored).

    Args:
        index_dir: an index built with dataset metadata (``{"dataset", "row"}`` per item).
        size: longest side in pixels.
        datasets: name -> ``CrossModalDataset`` to read images from (default: ``open_prepared(name)``).
    Returns:
        how many thumbnails were written.
    Raises:
        DataError: the index refers to a dataset that cannot be opened or has no images.
    """
    from tqdm.auto import tqdm

    index_dir = Path(index_dir)
    store = ThumbStore(index_dir)
    written = 0
    try:
        for name, rows in _index_rows(index_dir).items():
            if datasets and name in datasets:
                ds = datasets[name]
            else:
                from distilhash.data.store import open_prepared

                ds, _ = open_prepared(name)
            if ds.images is None:
                raise DataError(f"dataset {name!r} has no images; cannot make thumbnails for {index_dir}")
            todo = sorted(r for r in rows if not store.has_any([f"row:{name}:{r}"]))
            if any(r >= len(ds.images) or r < 0 for r in todo[-1:] + todo[:1]):
                raise DataError(f"{index_dir} refers to rows outside dataset {name!r} ({len(ds.images)} images)")
            bar = tqdm(total=len(todo), desc=f"thumbnails {name}", unit="img", disable=not progress)
            for start in range(0, len(todo), batch):
                part = todo[start : start + batch]
                batch_rows = []
                for r in part:
                    mime, data = encode_thumbnail(ds.images.load(r), size, fmt)
                    batch_rows.append((f"row:{name}:{r}", mime, data))
                written += store.put_many(batch_rows)
                bar.update(len(part))
            bar.close()
    finally:
        store.close()
    return written
