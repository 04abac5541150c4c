"""Teacher fits and extraction default to the cores the load leaves free (not a fixed 2), overridable."""

from __future__ import annotations

import os

import pytest

from distilhash import threads
from distilhash.errors import ConfigError


@pytest.fixture
def two_cores(monkeypatch):
    """A 2-core machine whose 1-minute load the test sets through the returned function."""
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)

    def set_load(load: float) -> None:
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))

    return set_load


@pytest.mark.parametrize(("load", "expected"), [(0.0, 2), (0.4, 2), (0.9, 1), (1.6, 1), (15.0, 1)])
def test_available_cores_subtracts_the_load_and_keeps_one(two_cores, load, expected):
    two_cores(load)
    assert threads.available_cores() == expected
    assert threads.fit_threads() == expected


def test_fit_threads_prefers_the_argument_then_the_environment(two_cores, monkeypatch):
    two_cores(15.0)
    assert threads.fit_threads(2) == 2
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.fit_threads() == 3 and threads.fit_threads(1) == 1
    with pytest.raises(ConfigError, match="threads=0"):
        threads.fit_threads(0)


@pytest.fixture
def torch_threads_restored(monkeypatch):
    """``fit_teacher`` sets torch's thread count for the process: put it back afterwards."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", list(threads._chosen))
    yield
    torch.set_num_threads(before)


def test_teacher_fit_records_the_threads_it_chose(two_cores, monkeypatch, torch_threads_restored):
    """``fit_teacher`` without ``threads`` hands the kind the free cores and says so; the CLI's default is None."""
    import inspect

    from distilhash.cli.teacher import extract, fit
    from distilhash.teachers import fitting

    two_cores(0.0)
    seen: dict[str, object] = {}

    def fake(dataset, out, overrides, n, progress, say):
        seen["threads"] = n
        return {}, out

    monkeypatch.setitem(fitting.FIT_KINDS, "lite0-minilm", fake)
    said: list[str] = []
    fitting.fit_teacher("lite0-minilm", dataset="x", say=said.append)
    assert seen["threads"] == 2 and "torch threads: 2" in said
    two_cores(12.0)
    fitting.fit_teacher("lite0-minilm", dataset="x", say=said.append)
    assert seen["threads"] == 1
    for command in (fit, extract):
        assert inspect.signature(command).parameters["threads"].default.default is None
