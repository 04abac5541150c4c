"""Creating a new, empty index directory (format, kind, code size, codebooks, provenance)."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import CodeKind
from distilhash.errors import ConfigError
from distilhash.index.pqcodes import packs_nibbles, stored_code_size
from distilhash.index.core import CodeIndex, IndexOptions, open_index
from distilhash.index.format import FORMAT_NAME, FORMAT_VERSION, KINDS, MANIFEST, gen_name, generation_files
from distilhash.index.snapshot import file_entry, now, npy_bytes, write_generation
from distilhash.io_utils import atomic_write_bytes

__all__ = ["create_index"]


def _new_manifest(directory: Path, kind: CodeKind, n_bits: int | None, codebooks: np.ndarray | None, metric: str) -> tuple[dict[str, Any], int]:
    """(manifest fields that depend on the code kind, code size); writes the PQ codebooks."""
    if not kind.needs_codebooks:  # binary
        if not n_bits or n_bits <= 0:
            raise ConfigError("a binary index needs n_bits > 0")
        return {"n_bits": int(n_bits), "pq": None, "files": {}}, kind.code_size(n_bits)
    if codebooks is None or np.asarray(codebooks).ndim != 3:
        raise ConfigError("a pq index needs codebooks float32 [M, K, d]")
    if metric not in ("l2", "ip"):
        raise ConfigError(f"pq metric {metric!r}; expected 'l2' or 'ip'")
    codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
    m, k, d = codebooks.shape
    if k > 256:
        raise ConfigError(f"pq codebooks have K={k} codewords; codes are uint8, so K <= 256")
    bits = int(np.ceil(np.log2(k)))
    if n_bits is not None and n_bits != m * bits:
        raise ConfigError(f"n_bits={n_bits} contradicts codebooks [M={m}, K={k}] (M*log2 K = {m * bits})")
    directory.mkdir(parents=True, exist_ok=True)
    data = npy_bytes(codebooks)
    atomic_write_bytes(directory / "codebooks.npy", data)
    files = {"codebooks": file_entry(directory, "codebooks.npy", data)}
    # 4-bit codes (K <= 16) are stored two per byte
    return ({"n_bits": m * bits, "pq": {"M": m, "K": k, "d": d, "metric": metric, "packed": packs_nibbles(k)},
             "files": files}, stored_code_size(m, k))


def create_index(
    directory: str | Path,
    kind: CodeKind | str = CodeKind.BINARY,
    n_bits: int | None = None,
    codebooks: np.ndarray | None = None,
    metric: str = "l2",
    model_dir: str | Path | None = None,
    teacher: str | None = None,
    extra: dict[str, Any] | None = None,
    options: IndexOptions | None = None,
) -> CodeIndex:
    """Create an empty index in ``directory`` (must not hold one) and open it for writing.

    Args:
        kind: ``binary`` (packed bits, Hamming) or ``pq`` (codeword indices, ADC).
        n_bits: code length L for binary codes (for pq it follows from the codebooks).
        codebooks: float32 ``[M, K, d]`` for pq.
        metric: pq query metric, ``l2`` or ``ip``.
        model_dir, teacher: the model and teacher that made the codes (used by the query path).
        extra: anything else to record in the manifest.
    """
    directory = Path(directory)
    if (directory / MANIFEST).exists():
        raise ConfigError(f"{directory} already holds an index; open it with open_index or choose another directory")
    leftovers = generation_files(directory)
    if leftovers:
        raise ConfigError(f"{directory} holds index files without a manifest ({', '.join(leftovers[:4])}): "
                          "a damaged index? Move them away before creating an index there")
    if kind not in KINDS:
        raise ConfigError(f"index kind {str(kind)!r}; expected 'binary' or 'pq'")
    kind = CodeKind(kind)
    kind_fields, code_size = _new_manifest(directory, kind, n_bits, codebooks, metric)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind.value,
        **kind_fields,
        "code_size": int(code_size),
        "model_dir": str(model_dir) if model_dir is not None else None,
        "teacher": teacher,
        "extra": extra or {},
        "uuid": uuidlib.uuid4().hex,
        "generation": 0,
        "count": 0,
        "next_seq": 0,
        "created": now(),
        "log": gen_name("log", 0, ".bin"),
    }
    write_generation(directory, manifest, np.zeros((0, code_size), np.uint8), np.zeros(0, np.int64), None, [], [])
    return open_index(directory, writable=True, options=options)
