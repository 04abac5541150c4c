"""Atomic, durable file writes (temporary file, fsync, rename), checksums, and checked text reads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_save_npy", "sha256_file", "fsync_dir", "read_utf8_text",
           "read_json_lines"]


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename inside it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """Atomically write ``array`` in ``.npy`` format."""
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_utf8_text(path: str | Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped).

    Raises:
        DataError: the file is missing, or ``path:LINE``, column and byte of the first invalid
            UTF-8 sequence (instead of a bare UnicodeDecodeError traceback).
    """
    from distilhash.errors import DataError

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[start]:02x} at column {column}); expected a UTF-8 text "
            "file — re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def read_json_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a UTF-8 JSON-lines file of objects.

    Raises:
        DataError: ``path:LINE`` of a line that is not JSON or not a JSON object.
    """
    from distilhash.errors import DataError

    out: list[tuple[int, dict[str, Any]]] = []
    for no, line in enumerate(read_utf8_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{no}: not valid JSON ({exc.msg}); expected one JSON object per line") from exc
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{no}: a {type(rec).__name__}, expected a JSON object")
        out.append((no, rec))
    return out
