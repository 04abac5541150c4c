"""Data-parallel SODA and DCMH (torch.distributed, gloo on 127.0.0.1): the hooks change nothing for one
replica, two replicas never drift apart, and the saved model loads, encodes and retrieves as well as
a one-process fit on an easy synthetic set."""

from __future__ import annotations

import pytest

from distilhash.distributed.data_parallel import DataParallel, fit_data_parallel, free_port
from distilhash.methods.base import create_method, load_method
from distilhash.training.synthetic import synthetic_features
from distilhash.training.validation import retrieval_map

CONFIGS = {
    "soda": {"n_bits": 16, "seed": 0, "hidden": 32, "s2_anchors": 0, "progress": False,
             "stage1": {"epochs": 4, "batch_size": 64, "patience": 5},
             "stage2": {"epochs": 4, "batch_size": 64, "patience": 5}},
    "dcmh": {"n_bits": 16, "seed": 0, "hidden": [32], "max_epochs": 4, "batch_size": 64, "anchors": 100, "patience": 5},
}


def _weights(method) -> dict:
    heads = method.heads_
    return {f"{h}.{k}": v.detach().clone() for h, m in heads.items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name", ["soda", "dcmh"])
def test_one_replica_group_trains_exactly_like_plain_fit(name):
    """W = 1 through every hook (share of the batch, all-reduce with the buffer rows, syncs, shared
    validation): the same weights and validation history as a plain fit with the same seed."""
    import torch
    import torch.distributed as dist

    fs, split = synthetic_features(n=300, n_labels=6, width=16, n_query=50, n_train=200, n_val=40)
    cfg = {**CONFIGS[name], **({"stage1": {"epochs": 2, "batch_size": 64}, "stage2": {"epochs": 2, "batch_size": 64}}
                               if name == "soda" else {"max_epochs": 2})}
    plain = create_method(name, **cfg).fit(fs, split)
    dp = DataParallel(0, 1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        grouped = create_method(name, **cfg).fit(fs, split, data_parallel=dp)
    finally:
        dist.destroy_process_group()
    a, b = _weights(plain), _weights(grouped)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert dp.stats["syncs"] > 0 and dp.stats["max_drift"] == 0.0
    if name == "dcmh":
        assert [h["val_map_mean"] for h in plain.fit_info_["history"]] == [h["val_map_mean"] for h in grouped.fit_info_["history"]]
    else:
        assert plain.fit_info_["stage1"]["history"] == grouped.fit_info_["stage1"]["history"]
        assert plain.fit_info_["stage2"]["history"] == grouped.fit_info_["stage2"]["history"]


def _two_workers(name, tmp_path):
    fs, split = synthetic_features(n=500, n_labels=8, width=16, n_query=80, n_train=340, n_val=60)
    single = retrieval_map(create_method(name, **CONFIGS[name]).fit(fs, split), fs, split.query, split.retrieval)
    fit_data_parallel(name, CONFIGS[name], fs, split, workers=2, out_dir=tmp_path / "m")
    model = load_method(tmp_path / "m")  # what a user gets: the saved model
    dp = model.fit_info_["data_parallel"]
    # every epoch-end sync found worker 1 bit-identical to worker 0 (weights, and DCMH's F, G buffers)
    assert dp["workers"] == 2 and dp["epoch_syncs"] >= 2 and dp["max_drift_per_worker"] == [0.0, 0.0]
    codes = model.encode("image", fs.image[:7], "database")
    assert codes.kind == "binary" and codes.data.shape == (7, 2)
    scores = retrieval_map(model, fs, split.query, split.retrieval)
    # random ranking gives about 0.3 here; the one-process fit about 0.51-0.53
    for d in ("i2t", "t2i"):
        assert scores[d] > 0.45 and abs(scores[d] - single[d]) < 0.04, (scores, single)


def test_two_workers_train_dcmh_without_drift(tmp_path):
    _two_workers("dcmh", tmp_path)


@pytest.mark.slow
def test_two_workers_train_soda_without_drift(tmp_path):
    _two_workers("soda", tmp_path)


@pytest.mark.slow
def test_train_cli_with_two_workers(tiny_prepared, tmp_path):
    """`distilhash train dcmh --workers 2`: the model directory, its record and the drift check."""
    import json

    from typer.testing import CliRunner

    from distilhash.cli.main import app

    teacher, _ = tiny_prepared
    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["train", "dcmh", "--dataset", "tiny", "--teacher", teacher, "--bits", "16",
                                   "--workers", "2", "--threads", "1", "--no-progress", "--out", str(out),
                                   "--set", "max_epochs=2", "--set", "hidden=[32]", "--set", "batch_size=32"])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "train.json").read_text())
    assert record["workers"] == 2 and 0 <= record["map_all"]["query"]["i2t"] <= 1
    assert load_method(out).fit_info_["data_parallel"]["max_drift"] == 0.0
