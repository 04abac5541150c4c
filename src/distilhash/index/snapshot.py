"""Writing a generation: the immutable snapshot files, an empty log, then the manifest.

A generation ``N`` is ``codes.gN.npy`` (uint8 ``[count, code_size]``), ``seqs.gN.npy`` (int64
``[count]``, ascending), ``meta.gN.sqlite`` and an empty ``log.gN.bin``. Each file is written to
a temporary name, fsynced and renamed (:mod:`distilhash.io_utils`); the manifest naming them,
with their sizes and sha256, is written last: replacing it is the commit point.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.index import codelog
from distilhash.index.format import FORMAT_VERSION, gen_name, write_manifest
from distilhash.index.metastore import write_store
from distilhash.io_utils import atomic_write_bytes, sha256_file

__all__ = ["now", "npy_bytes", "file_entry", "write_generation"]


def now() -> str:
    """UTC time stamp for the manifest (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` serialised in ``.npy`` format (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def file_entry(directory: Path, name: str, data: bytes | None = None) -> dict[str, Any]:
    """Manifest entry ``{name, bytes, sha256}`` of a written file (``data``: its bytes, if at hand)."""
    path = directory / name
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(path)
    return {"name": name, "bytes": path.stat().st_size, "sha256": digest}


def write_generation(
    directory: Path,
    manifest: dict[str, Any],
    codes: np.ndarray,
    seqs: np.ndarray,
    base_store: Path | None,
    delete_seqs: list[int],
    new_items: Iterable[tuple[int, str, dict[str, Any]]],
) -> dict[str, Any]:
    """Write the snapshot files of ``manifest['generation']`` and then the manifest (the commit
    point); returns the sealed manifest.

    Args:
        codes, seqs: the generation's rows ``[count, code_size]`` / ``[count]``.
        base_store: the previous generation's metadata store (copied), or None.
        delete_seqs: seqs of ``base_store`` to leave out; ``new_items``: ``(seq, id, meta)`` to add.
    """
    g = int(manifest["generation"])
    files = {k: v for k, v in manifest["files"].items() if k == "codebooks"}
    for role, array in (("codes", codes), ("seqs", seqs)):
        name = gen_name(role, g, ".npy")
        data = npy_bytes(np.ascontiguousarray(array))
        atomic_write_bytes(directory / name, data)
        files[role] = file_entry(directory, name, data)
    meta_name = gen_name("meta", g, ".sqlite")
    write_store(directory / meta_name, base_store, delete_seqs, new_items)
    files["meta"] = file_entry(directory, meta_name)
    log_name = gen_name("log", g, ".bin")
    codelog.write_empty_log(directory / log_name, bytes.fromhex(manifest["uuid"]), g)
    out = dict(manifest, format_version=FORMAT_VERSION, files=files, log=log_name, count=int(codes.shape[0]), updated=now())
    return write_manifest(directory, out)
