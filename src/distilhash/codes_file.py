"""The encoded-codes file: one ``.npz`` with the codes of one dataset part, written by ``distilhash encode``.

For each encoded modality ``m`` (image, text): ``m`` (the code array: PQ indices uint8 ``[N, M]``,
packed bits uint8 ``[N, L/8]`` or float32 ``[N, D]``), ``m.kind`` and ``m.n_bits``; shared:
``codebooks`` (PQ only) ``[M, K, d]``, ``metric``, ``n_bits``, ``role``, ``part``, ``indices``
(int64 rows of the dataset) and ``ids``. Write with :func:`save_encoded`, read with :func:`load_encoded`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from distilhash.codes import CodeKind, Encoded
from distilhash.errors import FeatureError

__all__ = ["save_encoded", "load_encoded", "ENCODED_KEYS"]

#: Keys every encoded file holds besides the per-modality arrays.
ENCODED_KEYS = ("indices", "ids", "role", "part", "n_bits", "metric")


def save_encoded(path: str | Path, codes: dict[str, Encoded], *, indices: np.ndarray, ids: list[str], role: str,
                 part: str) -> None:
    """Atomically write the codes of each modality plus provenance (see module docstring)."""
    from distilhash.io_utils import atomic_write_bytes

    arrays: dict[str, np.ndarray] = {"indices": np.asarray(indices, np.int64), "ids": np.asarray(ids, dtype=str),
                                     "role": np.asarray(role), "part": np.asarray(part)}
    first = next(iter(codes.values()))
    arrays["n_bits"] = np.asarray(first.n_bits)
    arrays["metric"] = np.asarray(first.metric)
    for modality, enc in codes.items():
        arrays[modality] = enc.data
        arrays[f"{modality}.kind"] = np.asarray(enc.kind)
        arrays[f"{modality}.n_bits"] = np.asarray(enc.n_bits)
        if enc.codebooks is not None:
            arrays["codebooks"] = enc.codebooks
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_encoded(path: str | Path) -> tuple[dict[str, Encoded], dict]:
    """Read a file written by :func:`save_encoded`: ``({modality: Encoded}, {"indices", "ids", "role", "part"})``."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FeatureError(f"cannot read encoded file {path}: {exc}") from exc
    found = set(z.files)
    modalities = [m for m in ("image", "text") if m in found]
    if not modalities:
        raise FeatureError(f"{path} holds no 'image' or 'text' codes; expected the keys written by `distilhash encode` "
                           f"({', '.join(ENCODED_KEYS)}, per modality M: M, M.kind, M.n_bits; codebooks for PQ); "
                           f"found: {', '.join(sorted(found)) or 'none'}")
    need = set(ENCODED_KEYS) | {k for m in modalities for k in (f"{m}.kind", f"{m}.n_bits")}
    missing = sorted(need - found)
    if not missing and "codebooks" not in found and \
            any(CodeKind.parse(str(z[f"{m}.kind"])).needs_codebooks for m in modalities):
        missing = ["codebooks"]
    if missing:
        raise FeatureError(f"{path} lacks the key(s) {', '.join(missing)}; expected {', '.join(sorted(need))} "
                           f"(as written by `distilhash encode`); found: {', '.join(sorted(found))}")
    try:
        codes: dict[str, Encoded] = {}
        for modality in modalities:
            kind = CodeKind.parse(str(z[f"{modality}.kind"]))
            codes[modality] = Encoded(kind, z[modality], int(z[f"{modality}.n_bits"]),
                                      z["codebooks"] if kind.needs_codebooks else None, str(z["metric"]))
        meta = {"indices": z["indices"], "ids": [str(i) for i in z["ids"].tolist()], "role": str(z["role"]),
                "part": str(z["part"])}
    except (ValueError, TypeError) as exc:
        raise FeatureError(f"{path}: a key holds an unexpected value ({exc}); write the file with `distilhash encode`") from None
    n = {m: len(c.data) for m, c in codes.items()}
    if any(v != len(meta["ids"]) for v in n.values()) or len(meta["indices"]) != len(meta["ids"]):
        raise FeatureError(f"{path}: {len(meta['ids'])} ids and {len(meta['indices'])} indices but codes of "
                           f"{n}; every array must have one row per item")
    return codes, meta
