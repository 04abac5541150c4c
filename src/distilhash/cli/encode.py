"""``distilhash encode MODEL_DIR``: encode one part of a dataset with a trained model.

    distilhash encode runs/dcmq64 --dataset emoji-scenes --part retrieval --out retrieval.npz

Writes one ``.npz`` file with, for each encoded modality ``m`` (image, text): ``m`` (the code
array: PQ indices uint8 ``[N, M]``, packed bits uint8 ``[N, L/8]`` or float32 ``[N, D]``) and
``m.kind``; shared: ``codebooks`` (PQ only) ``[M, K, d]``, ``metric``, ``n_bits``, ``role``,
``part``, ``indices`` (int64 rows of the dataset) and ``ids``. Read it back with
:func:`load_encoded`.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import typer

from distilhash.codes import Encoded
from distilhash.errors import DataError, FeatureError

__all__ = ["command", "part_indices", "save_encoded", "load_encoded", "PARTS"]

PARTS = ("query", "retrieval", "train", "val", "fit", "all")
#: Keys every encoded file holds besides the per-modality arrays.
ENCODED_KEYS = ("indices", "ids", "role", "part", "n_bits", "metric")


def part_indices(split, part: str, n_items: int) -> np.ndarray:
    """Row indices of ``part`` (one of :data:`PARTS`)."""
    if part == "all":
        return np.arange(n_items, dtype=np.int64)
    if part not in PARTS:
        raise DataError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    return np.asarray(getattr(split, part), dtype=np.int64)


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
    if not missing and any(str(z[f"{m}.kind"]) == "pq" for m in modalities) and "codebooks" not in found:
        missing = ["codebooks"]
    if missing:
        raise FeatureError(f"{path} lacks the key(s) {', '.join(missing)}; expected {', '.join(sorted(need))} "
                           f"(as written by `distilhash encode`); found: {', '.join(sorted(found))}")
    try:
        codes: dict[str, Encoded] = {}
        for modality in modalities:
            kind = str(z[f"{modality}.kind"])
            codes[modality] = Encoded(kind, z[modality], int(z[f"{modality}.n_bits"]),
                                      z["codebooks"] if kind == "pq" else None, str(z["metric"]))
        meta = {"indices": z["indices"], "ids": [str(i) for i in z["ids"].tolist()], "role": str(z["role"]),
                "part": str(z["part"])}
    except (ValueError, TypeError) as exc:
        raise FeatureError(f"{path}: a key holds an unexpected value ({exc}); write the file with `distilhash encode`") from None
    n = {m: len(c.data) for m, c in codes.items()}
    if any(v != len(meta["ids"]) for v in n.values()) or len(meta["indices"]) != len(meta["ids"]):
        raise FeatureError(f"{path}: {len(meta['ids'])} ids and {len(meta['indices'])} indices but codes of "
                           f"{n}; every array must have one row per item")
    return codes, meta


def command(
    model_dir: Path = typer.Argument(..., help="A model directory written by `distilhash train`."),
    dataset: str = typer.Option("emoji-scenes", "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher whose feature cache to read."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    part: str = typer.Option("retrieval", "--part", help=f"Which items: {', '.join(PARTS)}."),
    modality: str = typer.Option("both", "--modality", help="image, text or both."),
    role: str = typer.Option("database", "--role", help="database (stored codes) or query (what a query is scored with)."),
    out: Path = typer.Option(..., "--out", help="Output .npz file."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1)."),
) -> None:
    """Encode a part of a dataset with a trained model and write the codes to an .npz file."""
    from distilhash.cli.train import load_features_and_split
    from distilhash.errors import DistilhashError
    from distilhash.methods.base import encode_rows, load_method

    try:
        from distilhash.threads import set_threads

        set_threads(threads)
        if modality not in ("image", "text", "both"):
            raise DataError(f"--modality {modality!r}; expected image, text or both")
        if role not in ("database", "query"):
            raise DataError(f"--role {role!r}; expected database or query")
        method = load_method(model_dir)
        ds, split, feats, fpath = load_features_and_split(dataset, teacher, features)
        meta = json.loads((Path(model_dir) / "method.json").read_text())
        if meta.get("teacher") not in (None, "unknown", feats.teacher):
            raise FeatureError(f"model {model_dir} was trained on features of teacher {meta['teacher']!r}, "
                               f"but {fpath} holds teacher {feats.teacher!r}")
        idx = part_indices(split, part, len(feats))
        t0 = time.perf_counter()
        mods = ("image", "text") if modality == "both" else (modality,)
        codes = {m: encode_rows(method, m, idx, role, features=feats, dataset=ds) for m in mods}
        seconds = time.perf_counter() - t0
        save_encoded(out, codes, indices=idx, ids=[feats.ids[i] for i in idx], role=role, part=part)
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    for m, enc in codes.items():
        typer.echo(f"{m}: {len(enc)} items -> {enc.kind} codes {enc.data.shape} ({enc.bytes_per_item} bytes/item)")
    n = len(idx) * len(codes)
    source = "from dataset pixels/texts" if type(method).capabilities.input == "raw" else "from cached features"
    typer.echo(f"wrote {out} ({n / max(seconds, 1e-9):,.0f} items/s {source})")
