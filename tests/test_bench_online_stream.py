"""The benchmark's online-stream run: one curve point per chunk, the final mAP by the harness protocol."""

from __future__ import annotations

import numpy as np
import torch

from distilhash.benchmark.online_stream import run_online
from distilhash.eval.metrics import evaluate
from tests.test_lcdh import FAST, synth


def test_run_online_records_every_chunk_and_the_final_protocol():
    torch.set_num_threads(1)
    ds, fs, split = synth()
    overrides = {k: v for k, v in FAST.items() if k != "n_bits"}
    rec = run_online(ds, split, fs, bits=16, seed=0, overrides=overrides, log=False)
    n_chunks = -(-len(split.retrieval) // FAST["chunk_size"])
    assert [c["chunk"] for c in rec["chunks"]] == list(range(n_chunks))
    assert rec["chunks"][-1]["stored"] == len(split.retrieval)
    assert len(rec["absorb_seconds"]["per_chunk"]) == n_chunks
    m = rec["_method"]
    q = m.encode_dataset("text", ds, split.query, "query")
    db = m.encode_dataset("image", ds, split.retrieval, "database")
    want = evaluate(q, db, fs.labels[split.query], fs.labels[split.retrieval], curves=False).map_all
    assert np.isclose(rec["final"]["t2i"]["map_all"], want)
    assert rec["mean_over_chunks"]["i2t"] == np.mean([c["i2t"] for c in rec["chunks"]])
