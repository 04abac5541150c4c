"""Every method trained by epochs records its budget in one schema: cap, epochs run, kept epoch, stopped_early."""

from __future__ import annotations

import pytest
import torch

from distilhash.methods.base import create_method
from distilhash.epochs import LoopConfig, budget_info, combine_budgets, run_epochs
from distilhash.training.synthetic import synthetic_features

KEYS = {"unit", "cap", "patience", "epochs_run", "kept_epoch", "stopped_early", "warmup_epochs", "epochs_total", "selection"}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=16, n_query=80, n_train=360, n_val=60)


def test_loop_says_whether_it_stopped_on_its_own():
    model = torch.nn.Linear(2, 2)
    scores = iter([0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    res = run_epochs(model, lambda e: {"total": 0.0}, lambda: next(scores), LoopConfig(epochs=6, patience=2, progress=False))
    b = res.fit_info()["budget"]
    assert set(b) == KEYS and b["cap"] == 6 and b["epochs_run"] == 4 and b["kept_epoch"] == 2 and b["stopped_early"] is True
    rising = iter(range(10))
    res = run_epochs(model, lambda e: {"total": 0.0}, lambda: float(next(rising)), LoopConfig(epochs=3, patience=2, progress=False))
    assert res.fit_info()["budget"] | {} == budget_info(3, 3, 3, False, patience=2)  # hit the cap: not known converged


def test_validate_start_keeps_the_warm_start_unless_an_epoch_beats_it():
    """With validate_start the state before training is epoch 0: kept (and restored) when no epoch scores higher."""
    model = torch.nn.Linear(2, 2, bias=False)
    start = model.weight.detach().clone()

    def step(epoch):
        with torch.no_grad():
            model.weight.add_(1.0)
        return {"total": 0.0}

    scores = iter([0.7, 0.5, 0.6])  # epoch 0 (the warm start), then epochs 1 and 2
    res = run_epochs(model, step, lambda: next(scores),
                     LoopConfig(epochs=2, patience=0, min_delta=0.0, progress=False, validate_start=True))
    assert res.best_epoch == 0 and res.best_score == 0.7 and res.epochs_run == 2
    assert [h["epoch"] for h in res.history] == [0, 1, 2] and res.history[0] == {"epoch": 0, "val": 0.7}
    assert torch.equal(model.weight, start)

    scores = iter([0.7, 0.9, 0.6])
    res = run_epochs(model, step, lambda: next(scores),
                     LoopConfig(epochs=2, patience=0, min_delta=0.0, progress=False, validate_start=True))
    assert res.best_epoch == 1 and torch.equal(model.weight, start + 1.0)


def test_combined_budget_is_early_only_if_every_stage_is():
    a, b = budget_info(10, 4, 2, True), budget_info(5, 5, 5, False)
    c = combine_budgets({"s1": a, "s2": b})
    assert c["cap"] == 15 and c["epochs_run"] == 9 and c["stopped_early"] is False and c["stages"]["s1"] == a
    assert combine_budgets({"s1": a, "s2": budget_info(3, 3, 3, None)})["stopped_early"] is None


@pytest.mark.parametrize("name, config", [
    ("dcmq", dict(epochs=4, eval_every=1, patience=2, embed_dim=16, hidden_dim=32, batch_size=64, progress=False)),
    ("float-student", dict(epochs=4, eval_every=1, patience=2, embed_dim=16, hidden_dim=32, batch_size=64, progress=False)),
    ("dcmh", dict(max_epochs=3, patience=2, hidden=[16])),
    ("soda", {"hidden": 16, "stage1.epochs": 3, "stage2.epochs": 2, "progress": False}),
])
def test_each_method_records_its_budget(data, name, config):
    fs, split = data
    m = create_method(name, n_bits=16, seed=0, **config).fit(fs, split)
    b = m.fit_info_["budget"]
    assert KEYS <= set(b) and 1 <= b["kept_epoch"] and b["epochs_run"] <= b["cap"]
    assert b["stopped_early"] is (b["epochs_run"] < b["cap"]) or b.get("stages")
    if name == "dcmq":
        assert b["warmup_epochs"] == 2 and b["epochs_total"] == b["epochs_run"] + 2
    if name == "soda":
        assert set(b["stages"]) == {"stage1", "stage2"} and b["cap"] == 5


def test_default_caps_sit_well_above_the_old_budgets():
    """The caps that every openclipart run hit before (DCMQ 20, DCMH 40, SODA 40 + 20, LCDH teacher 40)."""
    assert create_method("dcmq", n_bits=64).config.epochs >= 100
    assert create_method("dcmh", n_bits=64).config.max_epochs >= 100
    soda = create_method("soda", n_bits=64).config
    assert soda.stage1.epochs >= 100 and soda.stage2.epochs >= 50
    assert create_method("lcdh", n_bits=64).config.teacher_epochs >= 100


def test_loop_options_of_the_folded_loops():
    """min_epochs holds patience back; should_stop ends for the caller's reason; an epoch without a step ends
    the loop unvalidated; validate=None is a warm-up that keeps the last state."""
    model = torch.nn.Linear(2, 2)
    flat = lambda: 0.5  # noqa: E731 - never improves after the first epoch
    res = run_epochs(model, lambda e: {}, flat, LoopConfig(epochs=9, patience=1, min_epochs=4, progress=False))
    assert res.epochs_run == 4 and res.by_patience and res.stopped_early and res.best_epoch == 1
    res = run_epochs(model, lambda e: {}, flat, LoopConfig(epochs=9, patience=0, progress=False),
                     should_stop=lambda e: "out of time" if e == 3 else None)
    assert res.epochs_run == 3 and res.stop_reason == "out of time" and not res.by_patience
    res = run_epochs(model, lambda e: None if e == 3 else {}, flat, LoopConfig(epochs=9, patience=0, progress=False))
    assert res.epochs_run == 2 and len(res.history) == 2 and res.stopped_early
    with torch.no_grad():
        before = model.weight.clone()

    def step(epoch):
        with torch.no_grad():
            model.weight.add_(1.0)
        return {"total": float(epoch)}

    res = run_epochs(model, step, None, LoopConfig(epochs=3, patience=0, progress=False))
    assert [r["total"] for r in res.history] == [1.0, 2.0, 3.0] and res.best_epoch == -1
    assert torch.equal(model.weight, before + 3) and model.training  # no restore, no switch to eval
