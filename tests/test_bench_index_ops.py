"""Index operations timed (distilhash.benchmark.index_ops): durable adds and IVF opens on small indexes."""

from __future__ import annotations

import numpy as np

from distilhash.benchmark.index_ops import durable_add_rates, ivf_open_times


def test_durable_add_rates_per_batch_and_the_index_is_removed(tmp_path):
    logged: list[str] = []
    out = durable_add_rates(tmp_path / "add", 500, np.random.default_rng(0), logged.append, batches=((1, 3), (10, 2)))
    assert out["base_items"] == 500 and set(out) == {"base_items", "batch1", "batch10", "compact_seconds"}
    assert out["batch10"]["items_per_s"] > 0 and out["batch1"]["ms_per_add_call"] > 0 and out["compact_seconds"] >= 0
    assert len(logged) == 2 and not (tmp_path / "add").exists()


def test_ivf_open_times_train_once_then_load_the_state(tmp_path):
    out = ivf_open_times(tmp_path / "ivf", 3000, np.random.default_rng(0), repeat=2, log=lambda s: None)
    assert out["n"] == 3000 and out["M"] == 8 and out["K"] == 256 and out["nprobe"] == 32
    assert out["first_open_stats"]["state"] != out["open_stats"]["state"]  # trained the first time, loaded later
    assert out["open_s"] > 0 and out["state_bytes"] == (tmp_path / "ivf" / "ivf.state").stat().st_size > 0
