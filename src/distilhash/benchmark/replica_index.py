"""A large index of real codes plus noisy replicas, for the service benchmarks (``bench/serve_load.py``,
``bench/serve_writes.py``; the retired ``serve_profile`` and ``index_write_interference`` read what they built).

The model's database codes of ``split.retrieval`` images come first; noisy copies of them fill the
index up to ``n`` items (binary: each bit flipped with probability ``flip``; PQ: each sub-code
redrawn with that probability), each carrying its original's metadata (caption, labels, dataset
row) and ``replica_of``. The index records its parameters (``extra.bench``) and is reused when
they match.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["replicas", "pq_replicas", "build_replica_index"]


def replicas(base: Any, n: int, flip: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of the codes ``base`` (an ``Encoded``) and the row each copies: binary -> each
    bit flipped with prob. ``flip``; pq -> each sub-code replaced by a uniformly drawn codeword with prob. ``flip``."""
    from distilhash.index.synth import replicate_with_noise

    if base.kind.hamming:
        return replicate_with_noise(base.data, n, flip, rng)
    out, which, _ = pq_replicas(base.data, int(np.asarray(base.codebooks).shape[1]), n, flip, rng)
    return out, which


def pq_replicas(codes: np.ndarray, k: int, n: int, flip: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` noisy copies of PQ ``codes`` ``[C, M]`` uint8, each sub-code redrawn uniformly from ``k`` codewords with
    prob. ``flip``: the copies ``[n, M]``, the row each copies ``[n]`` and whether any of its sub-codes was redrawn ``[n]``."""
    which = rng.integers(0, len(codes), n)
    out = codes[which].copy()
    hit = rng.random(out.shape, dtype=np.float32) < flip
    out[hit] = rng.integers(0, k, int(hit.sum()), dtype=np.uint8)
    return out, which, hit.any(1)


def build_replica_index(work: Path, model: Path, dataset: str, n: int, flip: float, seed: int,
                        inputs: Any) -> tuple[Path, dict[str, Any]]:
    """``work/index-N`` (built once; reused when its recorded parameters match) and what was done.

    ``inputs()`` returns ``(dataset, split, features)`` (called only when the index is built: e.g.
    ``pipeline.inputs.load_features_and_split`` bound to the dataset and teacher).
    """
    from tqdm.auto import tqdm

    from distilhash.data.store import open_prepared
    from distilhash.index import create_index, open_index
    from distilhash.methods.base import load_method

    params = {"model": str(model.resolve()), "dataset": dataset, "n": n, "flip": flip, "seed": seed}
    ix = work / f"index-{n}"
    if (ix / "manifest.json").exists():
        with open_index(ix) as idx:
            if idx.manifest.get("extra", {}).get("bench") == params:
                return ix, {"built": False, "count": len(idx), "n_real": len(open_prepared(dataset)[1].retrieval)}
        raise SystemExit(f"{ix} holds an index built with other parameters; remove it or choose another --work")
    import torch

    torch.set_num_threads(2)
    method = load_method(model)
    ds, split, feats = inputs()
    rows = np.asarray(split.retrieval, np.int64)
    base = method.encode("image", feats.image[rows], "database")
    meta_base = []
    for r in rows.tolist():
        md = {"dataset": ds.name, "row": int(r), "caption": ds.texts[r]}
        if ds.num_labels:
            md["labels"] = [ds.label_names[j] for j in ds.labels[r].nonzero()[0]]
        meta_base.append(md)
    ids_base = [feats.ids[r] for r in rows.tolist()]
    teacher_spec = json.loads((model / "method.json").read_text()).get("teacher")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    kind = base.kind
    with create_index(ix, kind=kind, n_bits=base.n_bits if kind.hamming else None,
                      codebooks=base.codebooks if kind.needs_codebooks else None, metric=base.metric or "l2",
                      model_dir=model.resolve(), teacher=teacher_spec,
                      extra={"modality": "image", "dataset": dataset, "part": "retrieval", "bench": params}) as idx:
        idx.add(ids_base, base, meta_base)
        todo, chunk, start = n - len(ids_base), 250_000, 0
        with tqdm(total=todo, desc="replicas", unit="item") as bar:
            while start < todo:
                m = min(chunk, todo - start)
                codes, which = replicas(base, m, flip, rng)
                ids = [f"{ids_base[w]}~r{start + j}" for j, w in enumerate(which.tolist())]
                idx.add(ids, codes, [dict(meta_base[w], replica_of=ids_base[w]) for w in which.tolist()])
                start += m
                bar.update(m)
        count = len(idx)
    return ix, {"built": True, "count": count, "build_s": round(time.perf_counter() - t0, 1), "n_real": len(ids_base)}
