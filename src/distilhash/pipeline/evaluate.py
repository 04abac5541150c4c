"""Score a trained model on a split: mAP@all per part (training reports) and full reports (``distilhash eval``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["evaluate_parts", "evaluate_model"]


def evaluate_parts(method, feats, split, parts=("val", "query"), dataset=None) -> dict[str, dict[str, float]]:
    """mAP@all per direction for each part, through :mod:`distilhash.eval` (fallback: training.validation)."""
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        try:
            from distilhash.eval.metrics import evaluate_method

            reports = evaluate_method(method, feats, split, part=part, curves=False, dataset=dataset)
            out[part] = {d: float(r.map_all) for d, r in reports.items()}
        except ImportError:
            from distilhash.training.validation import retrieval_map

            q, db = (split.val, split.fit) if part == "val" else (split.query, split.retrieval)
            r = retrieval_map(method, feats, q, db)
            out[part] = {"i2t": r["i2t"], "t2i": r["t2i"]}
    return out


def evaluate_model(model_dir: str | Path, dataset: str | None = None, teacher: str | None = None,
                   features: str | Path | None = None, *, part: str = "query", top_n: tuple[int, ...] = (100, 500, 1000),
                   tie_aware: bool = False, threads: int | None = None, out: str | Path | None = None,
                   progress: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate the model in ``model_dir`` in both directions; write ``OUT/report.json`` and ``OUT/report.png``.

    ``part``: ``query`` (split.query vs split.retrieval: the reported figures) or ``val`` (val vs fit).
    Returns ``(reports, record)``: ``reports["i2t"|"t2i"]`` are :class:`~distilhash.eval.metrics.RetrievalReport`;
    ``record`` is what ``report.json`` holds (reports as dicts plus provenance). ``out`` defaults to
    ``MODEL_DIR/eval-PART``; ``teacher`` defaults to the one the model was trained on.
    """
    from distilhash.eval.metrics import evaluate_method
    from distilhash.eval.plots import plot_directions
    from distilhash.io_utils import atomic_write_json
    from distilhash.methods.base import load_method
    from distilhash.pipeline import inputs
    from distilhash.pipeline.records import git_commit

    dataset = inputs.dataset_for_model(model_dir, dataset)
    out = Path(out) if out is not None else Path(model_dir) / f"eval-{part}"
    method = load_method(model_dir)
    if "torch" in sys.modules:  # the method uses torch: keep it to the given threads
        from distilhash.threads import set_threads

        set_threads(threads)
    ds, split, feats, fpath = inputs.load_features_and_split(dataset, inputs.teacher_for_model(model_dir, teacher),
                                                                features)
    t0 = time.perf_counter()
    reports = evaluate_method(method, feats, split, part=part, dataset=ds, top_n=tuple(top_n),
                              tie_aware=tie_aware, curves=True, progress=progress)
    seconds = time.perf_counter() - t0
    record = {
        "model_dir": str(model_dir),
        "method": method.name,
        "n_bits": method.n_bits,
        "dataset": getattr(ds, "name", dataset),
        "dataset_hash": split.dataset_hash,
        "split_hash": split.hash,
        "teacher": feats.teacher,
        "teacher_identity": feats.teacher_identity(),
        "features": str(fpath),
        "part": part,
        "tie_aware": tie_aware,
        "eval_seconds": round(seconds, 3),
        "commit": git_commit(),
        "reports": {d: r.to_dict() for d, r in reports.items()},
        "out": str(out),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", record)
    label = f"{record['method']}-{record['n_bits']}"
    plot_directions({d: {label: r} for d, r in reports.items()}, out / "report.png",
                    title=f"{label} on {record['dataset']} ({part}{', tie-aware' if tie_aware else ''})")
    return reports, record
