"""IVF vs exhaustive ADC search for the DCMQ model's PQ codes: recall@10, speed, build time, mAP cost.

    DISTILHASH_HOME=data python bench/index_ivf.py --model data/runs/demo-dcmq64 \
        [--dataset emoji-scenes] [--teacher minilm-lit] [--n 1000000] [--flip 0.03] \
        [--nprobe 1 4 8 16 32 64] [--nlist N] [--queries 2000]

1. Database (as bench/serve_load.py builds it): the model's database codes of the
   ``split.retrieval`` images (18,015 real codes), plus noisy replicas (each sub-code redrawn with
   probability ``--flip``) up to ``--n`` items, held in memory (no index files).
2. Queries: the model's query encodings of the ``split.query`` captions' teacher text features
   (``method.encode("text", F.text[split.query], "query")``, as the service's engine does).
3. One thread, one query per call (as the service sees them): the exact native scan, then the
   IVF searcher (``nlist`` default ``4 sqrt(n)``) for each ``nprobe``: ms/query, QPS, recall@10
   against the exact top-10 (set overlap), build time (k-means training + assignment).
4. Quality on the real set: the 18,015 real codes alone, same queries, IVF (own nlist) vs exact:
   mAP@100 / mAP@1000 of the returned lists and mAP@all (TREC style: the IVF ranks only the
   items of its probed lists; relevant items it never reaches count as not retrieved, 0 precision).

Writes ``bench/results/index_ivf/<out-name>.{json,md,png}`` (default ``index_ivf``); the machine is
shared (load average in the provenance block).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from distilhash.benchmark.ranked_lists import ivf_candidates, quality as ranked_quality, recall, timed_search
from distilhash.benchmark.provenance import collect_provenance  # noqa: E402
from distilhash.benchmark.results import publish  # noqa: E402
from distilhash.benchmark.scan_report import ivf_markdown, ivf_plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_ivf"


def pq_replicas(codes: np.ndarray, k: int, n: int, flip: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of ``codes`` ``[C, M]``: each sub-code redrawn uniformly with prob. ``flip``
    (the same draws as bench/serve_load.py); also bool ``[n]``: the copy had a sub-code redrawn."""
    which = rng.integers(0, len(codes), n)
    out = codes[which].copy()
    hit = rng.random(out.shape, dtype=np.float32) < flip
    out[hit] = rng.integers(0, k, int(hit.sum()), dtype=np.uint8)
    return out, hit.any(1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--teacher", default="minilm-lit")
    p.add_argument("--features", type=Path)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--flip", type=float, default=0.03)
    p.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 8, 16, 32, 64])
    p.add_argument("--nlist", type=int, default=None)
    p.add_argument("--queries", type=int, default=2000, help="queries timed at --n (first of split.query)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/index_ivf/")
    args = p.parse_args(argv)

    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.eval.metrics import relevance
    from distilhash.index import ivf  # noqa: F401
    from distilhash.index.pq import PQ_SEARCHERS
    from distilhash.methods.base import load_method

    wall0 = time.time()
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], dataset=args.dataset, root=ROOT,
                              model_selection="none: a trained model is only searched; nprobe values are all reported")
    method = load_method(args.model)
    ds, split, feats, _ = load_features_and_split(args.dataset, args.teacher, args.features)
    db_rows = np.asarray(split.retrieval, np.int64)
    q_rows = np.asarray(split.query, np.int64)
    base = method.encode("image", feats.image[db_rows], "database")
    query = method.encode("text", feats.text[q_rows], "query")
    cb, metric = np.asarray(base.codebooks, np.float32), base.metric or "l2"
    qv = np.ascontiguousarray(query.data, np.float32)
    print(f"codes {base.data.shape}, codebooks {cb.shape}, metric {metric}, queries {qv.shape}", file=sys.stderr)
    rel = relevance(feats.labels[q_rows], feats.labels[db_rows]).astype(bool)

    # -- quality on the real retrieval set ----------------------------------------------------
    n_real = len(db_rows)
    exact_real = PQ_SEARCHERS.create("native", cb, metric)
    exact_real.add(base.data)
    ref_real, _ = timed_search(exact_real, qv, n_real)
    ref_ranked = [r for _, r in ref_real]
    quality = {"exact": ranked_quality(ref_ranked, rel), "ivf": []}
    ivf_real = PQ_SEARCHERS.create("ivf", cb, metric, seed=args.seed)
    ivf_real.add(base.data)
    sizes = ivf_real.list_sizes()
    quality["nlist"] = int(ivf_real.stats["nlist"])
    for nprobe in args.nprobe:
        cands = ivf_candidates(ivf_real, qv, nprobe)
        quality["ivf"].append({"nprobe": nprobe, **ranked_quality(cands, rel),
                               "recall@10": recall([(None, c) for c in cands], ref_real, args.k),
                               "mean_candidates": float(np.mean([len(c) for c in cands]))})
        print(f"real set nprobe={nprobe}: {quality['ivf'][-1]}", file=sys.stderr)

    # -- speed at --n items --------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    rep, rep_mod = pq_replicas(base.data, cb.shape[1], args.n - n_real, args.flip, rng)
    codes = np.concatenate([base.data, rep])
    modified = np.concatenate([np.zeros(n_real, bool), rep_mod])
    qt = qv[: args.queries]
    exact = PQ_SEARCHERS.create("native", cb, metric)
    exact.add(codes)
    ref, exact_s = timed_search(exact, qt, args.k)
    print(f"exact native: {exact_s * 1e3:.3f} ms/query", file=sys.stderr)
    opts = {"seed": args.seed} | ({"nlist": args.nlist} if args.nlist else {})
    t0 = time.perf_counter()
    s = PQ_SEARCHERS.create("ivf", cb, metric, **opts)
    s.add(codes)
    s._flush()
    build_s = time.perf_counter() - t0
    sizes = s.list_sizes()
    speed = []
    for nprobe in args.nprobe:
        s.nprobe = nprobe
        got, sec = timed_search(s, qt, args.k)
        # recall restricted to exact top-k items that are real codes or unmodified copies
        unmod = [np.isin(r[~modified[r]], g[1]).mean() for g, (_, r) in zip(got, ref) if (~modified[r]).any()]
        speed.append({"nprobe": nprobe, "ms_per_query": sec * 1e3, "qps": 1.0 / sec, "recall@10": recall(got, ref, args.k),
                      "recall@10_unmodified": float(np.mean(unmod)) if unmod else None})
        print(f"ivf nprobe={nprobe}: {speed[-1]}", file=sys.stderr)
    # distances of returned items must be the ADC sums: spot check the last run. The native kernel adds
    # the M table entries in its own order, so a float32 sum may differ from numpy's in the last bits.
    from distilhash.index.pq import adc_distances, lookup_tables

    tab = lookup_tables(qt[:50], cb, metric)
    for i, (d, r) in enumerate(got[:50]):
        want = adc_distances(tab[i], codes[r], metric)
        if not np.allclose(d, want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"query {i}: returned distances differ from ADC by {np.abs(d - want).max():.3g}")

    ru = resource.getrusage(resource.RUSAGE_SELF)
    prov.update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    result = {
        "provenance": prov,
        "teacher": args.teacher, "model": str(args.model),
        "method": method.name, "bits": method.n_bits, "metric": metric, "codebooks": list(cb.shape),
        "n": args.n, "n_real": n_real, "flip": args.flip, "seed": args.seed, "k": args.k,
        "n_queries_timed": len(qt), "n_queries_quality": len(qv), "threads": 1,
        "build": {"nlist": int(s.stats["nlist"]), "trained_on": s.stats["trained_on"], "train_s": s.stats["train_s"],
                  "assign_s": s.stats["assign_s"], "total_s": round(build_s, 2),
                  "list_size": {"mean": float(sizes.mean()), "max": int(sizes.max()), "p99": float(np.percentile(sizes, 99)),
                                "empty": int((sizes == 0).sum())}},
        "exact": {"backend": "native", "ms_per_query": exact_s * 1e3, "qps": 1.0 / exact_s,
                  "modified_fraction_db": float(modified.mean()),
                  "modified_fraction_top": float(modified[np.concatenate([r for _, r in ref])].mean())},
        "ivf": speed, "quality_real_set": quality,
        "wall_s": round(time.time() - wall0, 1), "peak_rss_mb": ru.ru_maxrss / 1024,
    }
    publish(BENCH, args.out_name, ivf_markdown, ivf_plot, result=result, root=ROOT, echo=False)


if __name__ == "__main__":
    main()
