"""Data-parallel training (torch.distributed, gloo on 127.0.0.1): replicas agree and the model learns."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.distributed.data_parallel import DataParallel, fit_data_parallel
from distilhash.errors import ConfigError
from distilhash.training.synthetic import synthetic_features
from distilhash.training.validation import retrieval_map

FAST = {"epochs": 3, "eval_every": 1, "warmup_epochs": 1, "batch_size": 64, "patience": 0, "progress": False,
        "embed_dim": 16, "hidden_dim": 32, "n_codewords": 16, "codebook_init": "data"}


def test_minibatch_shares_cover_the_batch_once():
    idx = np.arange(10)
    parts = [DataParallel(r, 3).local(idx) for r in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))


def _pair_setup():
    """A DCMQ (no dropout; quantizer on, codebooks from data) and one batch of 12 items with NPC targets."""
    import torch

    from distilhash.methods.base import create_method

    torch.manual_seed(0)
    m = create_method("dcmq", n_bits=16, seed=0, embed_dim=16, hidden_dim=32, n_codewords=16, dropout=0.0)
    model = m._new_student(16)
    rng = np.random.default_rng(0)
    xi = torch.as_tensor(rng.normal(size=(12, 16)).astype(np.float32))
    xt = torch.as_tensor(rng.normal(size=(12, 16)).astype(np.float32))
    y = torch.zeros(12, 1)
    return m, model, xi, xt, y


def _grads(model) -> dict:
    return {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


def _pair_grad_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        m, model, xi, xt, y = _pair_setup()
        dp = DataParallel(rank, world)
        mine, whole = dp.shares(np.arange(12))
        T = m._targets(xi[whole], xt[whole], y[whole])
        terms, _, _ = m._loss_terms(model, xi[mine], xt[mine], T, quantize=False, gather=dp.gather)
        (terms["total"] * world).backward()
        dp.average_gradients(model)
        if rank == 0:
            torch.save({"grads": _grads(model), "loss": float(terms["total"].detach())}, out)
    finally:
        dist.destroy_process_group()


def test_two_workers_get_the_whole_batch_gradient_of_the_pair_losses(tmp_path):
    """DCMQ's pair terms over the gathered batch: the averaged gradient of 2 workers (6 items each)
    equals the gradient of one process on all 12 items, and so does the loss."""
    import torch
    import torch.multiprocessing as mp

    from distilhash.distributed.data_parallel import free_port

    m, model, xi, xt, y = _pair_setup()
    T = m._targets(xi, xt, y)
    terms, _, _ = m._loss_terms(model, xi, xt, T, quantize=False)
    terms["total"].backward()
    want = _grads(model)
    mp.spawn(_pair_grad_worker, args=(2, free_port(), str(tmp_path / "g.pt")), nprocs=2, join=True)
    got = torch.load(tmp_path / "g.pt")
    assert abs(got["loss"] - float(terms["total"].detach())) < 1e-5
    assert want.keys() == got["grads"].keys() and want
    for k in want:
        assert torch.allclose(want[k], got["grads"][k], atol=1e-6, rtol=1e-4), k


def test_one_replica_group_trains_exactly_like_plain_fit():
    """The hooks (share of the batch, gradient all-reduce, broadcasts, shared validation) with W = 1
    change nothing: same weights as a plain fit with the same seed."""
    import torch
    import torch.distributed as dist

    from distilhash.distributed.data_parallel import free_port
    from distilhash.methods.base import create_method

    fs, split = synthetic_features(n=300, n_labels=6, width=16, n_query=50, n_train=200, n_val=40)
    config = {"n_bits": 16, "seed": 3, **FAST}
    plain = create_method("dcmq", **config).fit(fs, split)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        grouped = create_method("dcmq", **config).fit(fs, split, data_parallel=DataParallel(0, 1))
    finally:
        dist.destroy_process_group()
    a, b = plain.model_.state_dict(), grouped.model_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert plain.fit_info_["history"] == grouped.fit_info_["history"]


@pytest.mark.slow
def test_two_workers_train_dcmq_that_beats_random(tmp_path):
    fs, split = synthetic_features(n=500, n_labels=8, width=16, n_query=80, n_train=340, n_val=60)
    config = {"n_bits": 16, "seed": 0, **FAST}
    model = fit_data_parallel("dcmq", config, fs, split, workers=2, out_dir=tmp_path / "m")
    assert (tmp_path / "m" / "method.json").is_file()
    info = model.fit_info_
    assert info["epochs_run"] == 3 and len(info["history"]) == 3
    scores = retrieval_map(model, fs, split.query, split.retrieval)
    assert scores["i2t"] > 0.4 and scores["t2i"] > 0.4  # random ranking gives about 0.3 here


def test_methods_without_data_parallel_are_refused(tmp_path):
    fs, split = synthetic_features(n=200, n_query=40, n_train=100, n_val=20)
    with pytest.raises(ConfigError, match="no data-parallel"):
        fit_data_parallel("itq", {"n_bits": 16}, fs, split, workers=2, out_dir=tmp_path / "m")
