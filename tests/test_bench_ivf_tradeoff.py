"""The IVF trade-off for PQ codes (bench/index_ivf.py) on tiny synthetic codes, and the PQ replicas it adds."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.ivf_tradeoff import ivf_tradeoff
from distilhash.benchmark.kernel_timing import synthetic_pq
from distilhash.benchmark.replica_index import pq_replicas


def test_pq_replicas_redraw_sub_codes_with_the_given_probability_and_flag_them():
    codes = np.random.default_rng(0).integers(0, 256, (50, 8), dtype=np.uint8)
    out, which, hit = pq_replicas(codes, 256, 4000, 0.1, np.random.default_rng(1))
    changed = (out != codes[which]).any(1)
    assert out.shape == (4000, 8) and out.dtype == np.uint8 and which.max() < 50
    assert not (changed & ~hit).any()  # a changed copy is always flagged (a redraw may give the same codeword)
    assert hit.mean() == pytest.approx(1 - 0.9 ** 8, abs=0.03)
    same, _, none = pq_replicas(codes, 256, 100, 0.0, np.random.default_rng(1))
    assert not none.any()


def test_ivf_recall_grows_with_nprobe_and_reaches_the_exact_scan_when_every_list_is_probed():
    rng = np.random.default_rng(0)
    data = synthetic_pq(1500, 24, rng, bits=8)
    rel = rng.random((24, 1500)) < 0.1
    lines: list[str] = []
    out = ivf_tradeoff(data.codebooks, "l2", data.codes, data.queries, rel, n=4000, flip=0.05, nprobes=[1, 4, 10_000], nlist=16,
                       queries=12, k=10, seed=0, log=lines.append)
    assert out["n_queries_timed"] == 12 and out["build"]["nlist"] == 16 and out["build"]["list_size"]["max"] >= 4000 / 16
    recalls = [s["recall@10"] for s in out["ivf"]]
    assert recalls == sorted(recalls) and recalls[-1] == 1.0 and out["ivf"][-1]["recall@10_unmodified"] == 1.0
    assert 0 < out["exact"]["modified_fraction_db"] < 1 and out["exact"]["qps"] > 0
    q = out["quality_real_set"]
    assert q["ivf"][-1]["mean_candidates"] == 1500 and q["ivf"][-1]["recall@10"] == 1.0
    assert q["ivf"][-1]["map_all"] == pytest.approx(q["exact"]["map_all"]) and q["ivf"][0]["mean_candidates"] < 1500
    assert len(lines) == 2 * 3 + 1
