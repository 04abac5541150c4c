"""The persisted state of an IVF searcher: coarse centroids and the list of every stored row.

One file beside the index (``ivf.state``), written atomically (temporary file, fsync, rename):

    magic "DHIVF001" | uint32 header length | header (JSON) | payload

The header holds the ``key`` (metric, searcher options, a digest of the codebooks: what the
centroids depend on), ``n_assigned`` and ``codes_sha256`` (sha256 of the first ``n_assigned`` stored
codes, whose lists ``assign`` holds), the array descriptions and the payload's sha256.

Reading never trusts the file: a missing file is ``missing``; a file whose key differs from the
searcher's is ``stale`` (rebuilt); a file with a bad magic, a truncated or altered payload (sha256),
unparsable header or arrays of the wrong shape is ``damaged`` (reported by the caller, rebuilt).
The assignment is reused only for the prefix of rows whose codes still hash to ``codes_sha256``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.io_utils import atomic_write_bytes

__all__ = ["IVFState", "read_state", "write_state", "codes_digest", "STATE_FILE"]

STATE_FILE = "ivf.state"
MAGIC = b"DHIVF001"


@dataclass
class IVFState:
    """centroids float32 ``[L, D]``; assign int32 ``[n_assigned]`` (list of rows 0..n_assigned-1)."""

    key: dict[str, Any]
    centroids: np.ndarray
    assign: np.ndarray
    codes_sha256: str


def codes_digest(codes: np.ndarray) -> str:
    """sha256 of the bytes of uint8 codes ``[n, M]`` (row-major)."""
    return hashlib.sha256(np.ascontiguousarray(codes, dtype=np.uint8).data).hexdigest()


def write_state(path: Path, state: IVFState) -> None:
    arrays = {"centroids": np.ascontiguousarray(state.centroids, np.float32),
              "assign": np.ascontiguousarray(state.assign, np.int32)}
    payload = b"".join(a.tobytes() for a in arrays.values())
    header = {
        "key": state.key,
        "n_assigned": int(arrays["assign"].shape[0]),
        "codes_sha256": state.codes_sha256,
        "arrays": {name: {"dtype": a.dtype.str, "shape": list(a.shape), "bytes": a.nbytes} for name, a in arrays.items()},
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    head = json.dumps(header, sort_keys=True).encode()
    atomic_write_bytes(path, MAGIC + struct.pack("<I", len(head)) + head + payload)


def read_state(path: Path, key: dict[str, Any]) -> tuple[IVFState | None, str]:
    """(state, status): status ``loaded``, ``missing``, ``stale: ...`` or ``damaged: ...``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"damaged: unreadable ({exc})"
    if len(data) < len(MAGIC) + 4 or data[: len(MAGIC)] != MAGIC:
        return None, f"damaged: not an IVF state file (expected magic {MAGIC!r})"
    (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + hlen].decode())
        arrays_info = header["arrays"]
        want = header["payload_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"damaged: unreadable header ({exc})"
    payload = memoryview(data)[start + hlen :]
    if hashlib.sha256(payload).hexdigest() != want:
        return None, f"damaged: payload checksum mismatch ({len(payload)} bytes; truncated or altered)"
    if header.get("key") != key:
        return None, "stale: made for other codebooks, metric or searcher options"
    out: dict[str, np.ndarray] = {}
    offset = 0
    try:
        for name in ("centroids", "assign"):
            info = arrays_info[name]
            arr = np.frombuffer(payload, dtype=np.dtype(info["dtype"]), count=int(np.prod(info["shape"])), offset=offset)
            out[name] = arr.reshape(info["shape"]).copy()
            offset += int(info["bytes"])
    except (KeyError, ValueError, TypeError) as exc:
        return None, f"damaged: bad array description ({exc})"
    c, a = out["centroids"], out["assign"]
    if c.ndim != 2 or c.dtype != np.float32 or a.ndim != 1 or a.dtype != np.int32 or a.shape[0] != header.get("n_assigned"):
        return None, "damaged: arrays have unexpected shapes or types"
    if a.size and (int(a.min()) < 0 or int(a.max()) >= c.shape[0]):
        return None, f"damaged: list numbers outside [0, {c.shape[0]})"
    if not np.isfinite(c).all():
        return None, "damaged: centroids are not finite"
    return IVFState(header["key"], c, a, str(header.get("codes_sha256"))), "loaded"
