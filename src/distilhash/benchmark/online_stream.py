"""One run of an online (streaming) method for a benchmark: per-chunk curve, final mAP, absorb times.

:func:`run_online` fits a streaming method (``capabilities.streaming``; LCDH) over ``split.retrieval``
in chunks; after every chunk it records mAP@all of ``split.query`` (the current student) against
the codes stored so far, then the final mAP of ``split.query`` against all of ``split.retrieval``
(the harness protocol) and the chunk absorb times. :func:`load_stream_inputs` loads the dataset,
split and teacher features (or label-driven synthetic features for smoke runs).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["run_online", "load_stream_inputs", "DIRECTIONS"]

DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}


def load_stream_inputs(dataset: str, teacher: str, synthetic: bool = False):
    """``(dataset, split, features, feature source)``; ``synthetic``: 64-wide label-driven features
    (:func:`distilhash.training.synthetic.features_for_labels`, seed 0) instead of the teacher's cache."""
    if not synthetic:  # the harness's feature source (teacher cache checked against the split)
        from distilhash.benchmark.sources import load_source
        from distilhash.benchmark.suite import DatasetEntry

        loaded = load_source(DatasetEntry(name=dataset, source="cache", teacher=teacher))
        return loaded.dataset(), loaded.split, loaded.features, loaded.provenance["features_dir"]
    from distilhash.data.store import open_prepared
    from distilhash.teachers.features import FeatureSet
    from distilhash.training.synthetic import features_for_labels

    ds, split = open_prepared(dataset)
    feats = FeatureSet(labels=ds.labels, ids=list(ds.ids), manifest={"teacher": "labels-synthetic", "width": 64,
                                                                       "count": len(ds)},
                       **features_for_labels(ds.labels, 64, 0))
    return ds, split, feats, "labels-synthetic"


def run_online(ds, split, feats, bits: int, seed: int, overrides: dict[str, Any], method: str = "lcdh",
               log: bool = True) -> dict[str, Any]:
    """Fit ``method`` over the stream; returns the run record (``"_method"``: the fitted method, not JSON)."""
    from distilhash.eval.metrics import evaluate
    from distilhash.methods.base import create_method

    curve: list[dict[str, Any]] = []

    def on_chunk(report, fitted) -> None:
        t = time.perf_counter()
        m = fitted.evaluate_online(ds, feats.labels, split.query)
        curve.append({"chunk": report.chunk, "stored": report.stored_total, "absorb_seconds": report.absorb_seconds,
                      "train_seconds": report.train_seconds, "encode_seconds": report.encode_seconds,
                      "store_seconds": report.store_seconds, "terms": report.terms, **m,
                      "eval_seconds": time.perf_counter() - t})
        if log:
            print(f"  [{bits} bits] chunk {report.chunk + 1}/{report.n_chunks}: stored {report.stored_total}, "
                  f"absorb {report.absorb_seconds:.1f}s, mAP i2t {m['i2t']:.4f} t2i {m['t2i']:.4f}", flush=True)

    model = create_method(method, n_bits=bits, seed=seed, **{"progress": False, **overrides})
    t0 = time.perf_counter()
    model.fit(feats, split, dataset=ds, on_chunk=on_chunk)
    fit_seconds = time.perf_counter() - t0
    final: dict[str, Any] = {}
    for d, (qm, dm) in DIRECTIONS.items():
        q = model.encode_dataset(qm, ds, split.query, "query")
        db = model.encode_dataset(dm, ds, split.retrieval, "database")
        rep = evaluate(q, db, feats.labels[split.query], feats.labels[split.retrieval], top_n=(100, 500, 1000), curves=False)
        final[d] = {"map_all": rep.map_all, "map_at": rep.map_at}
    info = model.fit_info_
    absorb = [c["absorb_seconds"] for c in curve]
    return {
        "bits": bits, "seed": seed, "config": model.config_dict(), "fit_seconds": fit_seconds,
        "teacher": {k: info.get(k) for k in ("kept_epoch", "kept_because", "best_val_score", "epochs_run", "stop_reason")},
        "vocabulary": info.get("vocabulary"), "store": info.get("store"), "image_init": info.get("image_init"),
        "final": final,
        "mean_over_chunks": {d: float(np.mean([c[d] for c in curve])) for d in DIRECTIONS},
        "absorb_seconds": {"mean": float(np.mean(absorb)), "median": float(np.median(absorb)),
                           "max": float(np.max(absorb)), "per_chunk": absorb},
        "chunks": curve,
        "parameters": model.parameter_counts(),
        "_method": model,
    }
