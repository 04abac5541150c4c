"""The on-disk layout of an index directory and its manifest.

::

    INDEX_DIR/
      manifest.json        format + version, kind, bits, PQ shape/metric, model and teacher ids,
                           generation, item count, next seq, and {file: size, sha256} for every
                           file below; itself sealed by ``manifest_sha256``
      codes.gN.npy         uint8 [count, code_size]   codes of the snapshot, in row order
      seqs.gN.npy          int64 [count]              insertion number of each row (ascending)
      meta.gN.sqlite       items(seq, id, meta)       external ids and metadata (JSON)
      codebooks.npy        float32 [M, K, d]          PQ only
      log.gN.bin           append-only log of adds/deletes since snapshot N (per-record CRC32;
                           its header records how many bytes and records were acknowledged)

The one writer holds an ``flock`` on the index directory itself (:mod:`distilhash.index.lock`).
Snapshot files are immutable; a compaction writes generation N+1 next to N, then atomically
replaces the manifest, then deletes generation N. A crash at any point leaves either the old or
the new generation complete.

Format versions: 2 (current) adds the log's commit block; 1 is read (its log cannot prove how
much was acknowledged) and rewritten as 2 by the first writer that opens it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from distilhash.codes import CodeKind
from distilhash.errors import IndexCorruptError
from distilhash.io_utils import atomic_write_bytes, sha256_file

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "MANIFEST",
    "seal_manifest",
    "write_manifest",
    "read_manifest",
    "check_files",
    "gen_name",
    "generation_files",
    "GEN_FILE",
]

FORMAT_NAME = "distilhash-index"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
#: the code kinds an index stores (values of :class:`~distilhash.codes.CodeKind`)
KINDS = tuple(k.value for k in CodeKind if k.indexable)
_REQUIRED = ("format", "format_version", "kind", "n_bits", "code_size", "uuid", "generation", "count", "next_seq", "files", "log")


GEN_FILE = re.compile(r"^(codes|seqs|meta|log)\.g(\d+)\.(npy|sqlite|bin)$")


def generation_files(directory: Path) -> list[str]:
    """Names of the snapshot and log files (any generation) in ``directory``, sorted."""
    return sorted(p.name for p in directory.iterdir() if GEN_FILE.match(p.name)) if directory.is_dir() else []


def gen_name(stem: str, generation: int, suffix: str) -> str:
    """File name of ``stem`` in snapshot ``generation`` (e.g. ``codes.g3.npy``)."""
    return f"{stem}.g{generation}{suffix}"


def _digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return ``manifest`` with ``manifest_sha256`` set to the digest of everything else."""
    out = dict(manifest)
    out["manifest_sha256"] = _digest(out)
    return out


def write_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Seal and atomically write the manifest; returns the sealed dict."""
    sealed = seal_manifest(manifest)
    atomic_write_bytes(directory / MANIFEST, (json.dumps(sealed, indent=2, sort_keys=True) + "\n").encode())
    return sealed


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and validate ``manifest.json``; IndexCorruptError says what is wrong."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise IndexCorruptError(f"{directory}: no such index directory")
    if not path.is_file():
        leftovers = generation_files(directory)
        if leftovers:
            raise IndexCorruptError(
                f"{directory}: manifest.json is missing but the directory holds index files "
                f"({', '.join(leftovers[:4])}): the index is damaged"
            )
        raise IndexCorruptError(f"{directory}: not an index (manifest.json is missing)")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path}: manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"{path}: manifest is not a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise IndexCorruptError(f"{path}: format {manifest.get('format')!r}; expected {FORMAT_NAME!r}")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise IndexCorruptError(
            f"{path}: format version {manifest.get('format_version')!r} is not supported "
            f"(this distilhash reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    if manifest.get("manifest_sha256") != _digest(manifest):
        raise IndexCorruptError(f"{path}: manifest checksum mismatch (the manifest was altered or damaged)")
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        raise IndexCorruptError(f"{path}: manifest lacks {', '.join(missing)}")
    if manifest["kind"] not in KINDS:
        raise IndexCorruptError(f"{path}: kind {manifest['kind']!r}; expected one of {KINDS}")
    return manifest


def check_files(directory: Path, manifest: dict[str, Any], checksums: bool = True) -> list[str]:
    """Problems with the files the manifest lists: missing, wrong size, wrong sha256."""
    problems = []
    for role, entry in sorted(manifest["files"].items()):
        path = directory / entry["name"]
        if not path.is_file():
            problems.append(f"{entry['name']} ({role}) is missing")
            continue
        size = path.stat().st_size
        if size != entry["bytes"]:
            problems.append(f"{entry['name']} ({role}) has {size} bytes; manifest says {entry['bytes']} (truncated or altered)")
            continue
        try:
            digest = sha256_file(path) if checksums else entry["sha256"]
        except FileNotFoundError:
            problems.append(f"{entry['name']} ({role}) is missing")
            continue
        if digest != entry["sha256"]:
            problems.append(f"{entry['name']} ({role}) sha256 mismatch (file damaged)")
    return problems
