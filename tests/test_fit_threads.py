"""Teacher fits and extraction default to the cores other work leaves free now (not a fixed 2, not the 1-minute
load average that the demo's own finished steps raise), overridable."""

from __future__ import annotations

import itertools
import os
from types import SimpleNamespace

import pytest

from distilhash import threads
from distilhash.errors import ConfigError


@pytest.fixture
def two_cores(monkeypatch):
    """A 2-core machine on which other work keeps ``busy`` cores busy now (the returned function sets it, and
    optionally the 1-minute load average); the sample's wait is skipped."""
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(threads, "time", SimpleNamespace(sleep=lambda s: None))

    def set_use(busy: float, load: float = 0.0) -> None:
        share = round(50 * busy)  # each CPU busy for busy/2 of the 100 jiffies between the two reads
        samples = itertools.cycle([{0: (0, 0), 1: (0, 0)}, {0: (share, 100), 1: (share, 100)}])
        monkeypatch.setattr(threads, "_cpu_jiffies", lambda cpus: next(samples))
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))

    return set_use


@pytest.mark.parametrize(("busy", "expected"), [(0.0, 2), (0.4, 2), (0.9, 1), (1.6, 1), (2.0, 1)])
def test_available_cores_subtracts_the_cores_busy_now_and_keeps_one(two_cores, busy, expected):
    two_cores(busy)
    assert threads.available_cores() == expected
    assert threads.fit_threads() == expected


def test_a_quiet_machine_after_the_demos_previous_step_gets_every_core(two_cores):
    """The demo's own finished step left the 1-minute load at 1.05 (fresh-clone demo, quiet machine); the CPUs are
    idle now, so the next fit gets both cores (the 1-minute average gave it 1)."""
    two_cores(0.05, load=1.05)
    assert threads.fit_threads() == 2


def test_the_load_average_is_the_fallback_without_proc_stat(two_cores, monkeypatch):
    two_cores(0.0, load=1.6)
    monkeypatch.setattr(threads, "_cpu_jiffies", lambda cpus: None)
    assert threads.available_cores() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert threads.available_cores() == 2


def test_proc_stat_lines_are_read_per_cpu(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 1 4 30 10 0 0 2 0 0\nintr 1 2 3\n")
    assert threads._cpu_jiffies({0, 1}, str(stat)) == {0: (10, 50), 1: (12, 52)}  # busy excludes idle and iowait
    assert threads._cpu_jiffies({1}, str(stat)) == {1: (12, 52)}
    assert threads._cpu_jiffies({0}, str(tmp_path / "absent")) is None


def test_the_sample_on_this_machine_is_a_core_count(monkeypatch):
    cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else {0}
    busy = threads.busy_cores(cpus, 0.05)
    assert busy is None or 0.0 <= busy <= len(cpus) + 1e-9
    assert 1 <= threads.available_cores(0.05) <= len(cpus)


def test_fit_threads_prefers_the_argument_then_the_environment(two_cores, monkeypatch):
    two_cores(2.0)
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
    two_cores(2.0)
    fitting.fit_teacher("lite0-minilm", dataset="x", say=said.append)
    assert seen["threads"] == 1
    for command in (fit, extract):
        assert inspect.signature(command).parameters["threads"].default.default is None
