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

from distilhash.benchmark.ivf_tradeoff import ivf_tradeoff  # noqa: E402
from distilhash.benchmark.provenance import collect_provenance  # noqa: E402
from distilhash.benchmark.results import publish  # noqa: E402
from distilhash.benchmark.scan_report import ivf_markdown, ivf_plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_ivf"


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

    run = ivf_tradeoff(cb, metric, base.data, qv, rel, n=args.n, flip=args.flip, nprobes=args.nprobe, nlist=args.nlist,
                       queries=args.queries, k=args.k, seed=args.seed, log=lambda m: print(m, file=sys.stderr))

    ru = resource.getrusage(resource.RUSAGE_SELF)
    prov.update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    result = {
        "provenance": prov,
        "teacher": args.teacher, "model": str(args.model),
        "method": method.name, "bits": method.n_bits, "metric": metric, "codebooks": list(cb.shape),
        "n": args.n, "n_real": len(db_rows), "flip": args.flip, "seed": args.seed, "k": args.k,
        "n_queries_timed": run.pop("n_queries_timed"), "n_queries_quality": len(qv), "threads": 1, **run,
        "wall_s": round(time.time() - wall0, 1), "peak_rss_mb": ru.ru_maxrss / 1024,
    }
    publish(BENCH, args.out_name, ivf_markdown, ivf_plot, result=result, root=ROOT, echo=False)


if __name__ == "__main__":
    main()
