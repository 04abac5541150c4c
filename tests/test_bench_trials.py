"""The fault-trial harness (benchmark/trials.py): fresh directories, the load before each trial, caught failures."""

from __future__ import annotations

import pytest

from distilhash.benchmark.trials import mean_std_text, run_trials


def test_every_trial_gets_its_own_new_directory_and_the_load_before_it(tmp_path, capsys):
    seen = []
    loads = iter([[1.0], [2.0], [3.0]])

    def trial(i, work):
        assert not work.exists()
        work.mkdir()
        seen.append(work)
        return {"i": i, "requests": 10 * i}

    out = run_trials(3, trial, ("requests",), base=tmp_path, load=lambda: next(loads))
    assert [r["i"] for r in out] == [0, 1, 2] and [r["load_before"] for r in out] == [[1.0], [2.0], [3.0]]
    assert len(set(seen)) == 3 and all(p.parent == tmp_path for p in seen)
    assert "2 {'requests': 20}" in capsys.readouterr().out


def test_without_a_base_the_directories_are_temporary():
    seen = []
    run_trials(2, lambda i, work: seen.append(work) or work.mkdir() or {}, load=lambda: [0.0])
    assert len(seen) == 2 and not any(p.exists() for p in seen)


def test_a_failing_trial_is_recorded_with_catch_and_raises_without():
    def trial(i, work):
        if i == 1:
            raise RuntimeError("node did not start")
        return {"ok": True}

    out = run_trials(3, trial, catch=True, load=lambda: [0.5])
    assert out[1] == {"error": "RuntimeError: node did not start", "load_before": [0.5]}
    assert out[0]["ok"] and out[2]["ok"]
    with pytest.raises(RuntimeError, match="node did not start"):
        run_trials(3, trial, load=lambda: [0.5])


def test_mean_std_text():
    assert mean_std_text([1.0, 2.0, 3.0]) == "2.0 ± 1.0"  # sample std (ddof 1)
    assert mean_std_text([4.25], digits=2) == "4.25 ± 0.00"
    assert mean_std_text([]) == "nan ± 0.0"
    assert mean_std_text(x for x in (10, 14)) == "12.0 ± 2.8"
