"""Every CLI option given a wrong value: a usage error naming the option, never a traceback (issue 27).

The list is generated from the command tree (tests/cli_option_fuzz.py), not picked by hand. The
default suite runs every value that must be refused while parsing (in-process, nothing starts);
the slow test runs every generated case as a real ``distilhash`` process.
"""

from __future__ import annotations

import pytest
from cli_option_fuzz import cases, run_in_subprocess
from typer.testing import CliRunner

from distilhash.cli.main import app

CASES = cases(app)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_generated_list_covers_every_option_of_every_command():
    from cli_option_fuzz import commands

    options = {(c.words, c.option) for c in CASES}
    assert len({w for w, _ in options}) >= 12 and len(options) >= 100
    for words, cmd in commands(app):
        for p in cmd.params:
            if p.opts and p.opts[0].startswith("--") and not getattr(p, "is_flag", False) and p.name != "help":
                assert (words, max(p.opts, key=len)) in options, (words, p.opts)


def test_wrong_numbers_and_unusable_paths_are_refused_while_parsing(scratch):
    parse_time = [c for c in CASES if c.must_fail_parsing]
    assert len(parse_time) >= 250
    problems = []
    for case in parse_time:
        r = CliRunner().invoke(app, case.argv(scratch))
        traceback = r.exception is not None and not isinstance(r.exception, SystemExit)
        if traceback or r.exit_code != 2 or "Invalid value" not in r.output:
            problems.append((case.words, case.option, case.value[:30], r.exit_code, r.output[-160:]))
    assert not problems, problems[:10]


@pytest.mark.parametrize("argv, words", [
    (["serve", "--port", "99999", "x"], "from 1 to 65,535"),
    (["serve", "--port", "0", "x"], "from 1 to 65,535"),
    (["serve", "--max-upload-mb", "-1", "x"], "greater than 0"),
    (["serve", "--max-upload-mb", "nan", "x"], "finite"),
    (["index", "build", "/proc/x"], "cannot be created"),
    (["train", "dcmq", "--seed", str(2**70)], "from 0 to 4,294,967,295"),
])
def test_the_reported_options(scratch, argv, words):
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2 and words in " ".join(r.output.split()), r.output


def test_ivf_seed_beyond_a_c_int_is_a_clear_error():
    import numpy as np

    from distilhash.errors import ConfigError
    from distilhash.index.ivf import IVFPQSearcher

    for bad in (2**70, -1, 2**31):
        with pytest.raises(ConfigError, match="seed"):
            IVFPQSearcher(np.zeros((2, 4, 3), np.float32), seed=bad)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_every_generated_wrong_value_ends_without_a_traceback(scratch):
    """~800 real processes (several minutes): each ends on its own, with a message and no traceback."""
    from concurrent.futures import ThreadPoolExecutor

    problems = []
    in_argv = [c for c in CASES if "\x00" not in c.value]
    for case in (c for c in CASES if "\x00" in c.value):  # NUL cannot travel in argv: in-process
        r = CliRunner().invoke(app, case.argv(scratch))
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            problems.append((case.words, case.option, repr(case.value[:20]), type(r.exception).__name__))
    with ThreadPoolExecutor(2) as pool:  # two child processes at a time
        for case, (code, out) in zip(in_argv, pool.map(lambda c: run_in_subprocess(c, scratch), in_argv)):
            if code == -9 or "Traceback" in out:
                problems.append((case.words, case.option, repr(case.value[:20]), code, out[-300:]))
    assert not problems, problems[:10]
