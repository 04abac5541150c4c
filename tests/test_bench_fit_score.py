"""A bench script's single run: fit, then the harness's evaluate_method, timed, with the load around it."""

from __future__ import annotations

import pytest

from distilhash.benchmark.fit_score import fit_and_score
from distilhash.eval.metrics import evaluate_method
from distilhash.methods.base import create_method
from distilhash.training.synthetic import synthetic_features


def test_fit_and_score_reports_what_evaluate_method_reports():
    fs, split = synthetic_features(n=300, n_labels=6, width=16, n_query=40, n_train=220, n_val=40, seed=3)
    run = fit_and_score(create_method("itq", n_bits=16, seed=0), fs, split, curves=False, top_n=(50,))
    want = evaluate_method(create_method("itq", n_bits=16, seed=0).fit(fs, split), fs, split, curves=False, top_n=(50,))
    assert run.map_all() == {d: r.map_all for d, r in want.items()}
    assert run.reports["t2i"].map_at[50] == want["t2i"].map_at[50]
    assert run.fit_seconds > 0 and run.eval_seconds > 0 and len(run.load_before) == len(run.load_after) == 3


def test_raw_input_method_gets_the_dataset():
    from tests.test_lcdh import FAST, synth

    ds, fs, split = synth()
    cfg = {**FAST, "teacher_epochs": 2, "epochs_per_chunk": 1}
    run = fit_and_score(create_method("lcdh", **cfg), fs, split, dataset=ds, curves=False)
    assert set(run.map_all()) == {"i2t", "t2i"} and all(0 <= v <= 1 for v in run.map_all().values())
    with pytest.raises(Exception, match="dataset"):
        fit_and_score(create_method("lcdh", **cfg), fs, split, curves=False)
