"""The benchmark provenance block and the result writer (bench/results/<benchmark>/<name>.*)."""

from __future__ import annotations

import json
import subprocess

import pytest

from distilhash.benchmark.provenance import (
    LEGACY_KEYS, MACHINE_KEYS, PROVENANCE_KEYS, collect_provenance, finish_provenance, git_info, legacy_keys_in,
)
from distilhash.benchmark.results import (
    check_provenance, publish, read_results, redraw_results, result_paths, results_dir, write_results,
)
from distilhash.errors import ConfigError


class _Split:
    hash = "abc123"
    dataset_hash = "def456"


@pytest.fixture
def repo(tmp_path):
    """A tiny git checkout with src/ and bench/ (the provenance reads its commit and dirty flag)."""
    for d in ("src", "bench/results"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "bench" / "b.py").write_text("y = 1\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, env=env, capture_output=True)
    return tmp_path


def _prov(repo, **kw):
    return collect_provenance("demo", "demo_small", seeds=[0, 1], model_selection="none: timing only", split=_Split(),
                              dataset="emoji-scenes", root=repo, **kw)


def test_provenance_has_every_key_once_and_the_machine(repo):
    prov = _prov(repo, threads=2)
    assert tuple(prov) == PROVENANCE_KEYS
    assert prov["commit"] and len(prov["commit"]) == 40 and prov["dirty"] is False
    assert prov["split_hash"] == "abc123" and prov["dataset_hash"] == "def456" and prov["seeds"] == [0, 1]
    assert len(prov["load_before"]) == 3 and prov["load_after"] is None and prov["finished_utc"] is None
    m = prov["machine"]
    assert set(MACHINE_KEYS) <= set(m) and m["cores"] >= 1 and m["threads"] == 2 and m["ram_gib"] > 0 and m["cpu_model"]
    assert prov["command"].startswith("python ") and "/work/" not in prov["command"].split()[1]
    finish_provenance(prov)
    assert len(prov["load_after"]) == 3 and prov["finished_utc"] >= prov["started_utc"]
    assert check_provenance(prov) == [] and legacy_keys_in(prov) == []


def test_dirty_flag_follows_src_and_bench_but_not_results(repo):
    (repo / "bench" / "results" / "r.json").write_text("{}")
    subprocess.run(["git", "-C", str(repo), "add", "bench/results/r.json"], check=True)
    assert git_info(repo)["dirty"] is False  # a staged result is not a code change
    (repo / "bench" / "b.py").write_text("y = 2\n")
    assert git_info(repo)["dirty"] is True
    assert git_info(repo / "no-such-dir")["commit"] is None


def test_writer_puts_the_triple_in_the_benchmark_folder(repo):
    result = {"provenance": _prov(repo), "rows": [{"qps": 12.5}]}
    drawn = []
    paths = write_results("demo", "demo_small", result, "# Demo\n\n| a |\n|---|\n| 1 |", plot=lambda p: (drawn.append(p), p.write_bytes(b"png")), root=repo)
    base = repo / "bench" / "results" / "demo"
    assert paths == {"json": base / "demo_small.json", "md": base / "demo_small.md", "png": base / "demo_small.png"}
    assert drawn == [base / "demo_small.png"] and (base / "demo_small.png").read_bytes() == b"png"
    stored = json.loads((base / "demo_small.json").read_text())
    assert stored["rows"] == [{"qps": 12.5}] and len(stored["provenance"]["load_after"]) == 3
    assert read_results("demo", "demo_small", root=repo) == stored
    md = (base / "demo_small.md").read_text()
    assert md.startswith("# Demo") and "## Provenance" in md and stored["provenance"]["commit"] in md and "split_hash `abc123`" in md


def test_writer_refuses_a_result_without_sound_provenance(repo):
    with pytest.raises(ConfigError, match="missing key 'provenance'|expected an object"):
        write_results("demo", "x", {"rows": []}, "# x", root=repo)
    prov = _prov(repo)
    prov["git_commit"] = prov.pop("commit")
    with pytest.raises(ConfigError, match="missing key 'commit'.*unknown key 'git_commit'"):
        write_results("demo", "x", {"provenance": prov}, "# x", root=repo)
    prov = _prov(repo)
    prov["model_selection"] = ""
    with pytest.raises(ConfigError, match="model_selection is empty"):
        write_results("demo", "x", {"provenance": prov}, "# x", root=repo)
    assert not (repo / "bench" / "results" / "demo").exists()  # nothing half-written


@pytest.mark.parametrize("bad", ["", "a/b", "../up", ".hidden"])
def test_result_names_stay_inside_the_results_folder(repo, bad):
    with pytest.raises(ConfigError):
        result_paths("demo", bad, root=repo)
    with pytest.raises(ConfigError):
        results_dir(bad, root=repo)


def test_read_results_names_the_missing_file(repo):
    with pytest.raises(ConfigError, match="demo/nothing.json"):
        read_results("demo", "nothing", root=repo)


def test_legacy_spellings_are_found_anywhere_in_a_record():
    old = {"git_commit": "x", "rows": [{"loadavg_before": [1, 1, 1]}], "machine": "shared, 2 cores",
           "provenance": {"machine": {"cpu_count": 2}}}
    assert sorted(legacy_keys_in(old)) == ["git_commit", "machine", "provenance.machine.cpu_count", "rows[0].loadavg_before"]
    assert set(LEGACY_KEYS).isdisjoint(PROVENANCE_KEYS) and set(LEGACY_KEYS).isdisjoint(MACHINE_KEYS)


def test_redraw_rewrites_tables_and_plot_but_not_the_measurement(repo):
    write_results("demo", "r", {"provenance": _prov(repo), "qps": 3.0}, "# old table", root=repo)
    base = repo / "bench" / "results" / "demo"
    stored = (base / "r.json").read_bytes()
    redraw_results("demo", "r", json.loads(stored), "# new table", plot=lambda p: p.write_bytes(b"png"), root=repo)
    assert (base / "r.json").read_bytes() == stored and (base / "r.md").read_text().startswith("# new table")
    assert "## Provenance" in (base / "r.md").read_text() and (base / "r.png").exists()
    (base / "old.json").write_text('{"qps": 1.0}')
    redraw_results("demo", "old", {"qps": 1.0}, "# legacy", root=repo)
    assert "old.json" in (base / "old.md").read_text()


def test_publish_writes_a_result_then_redraws_it_from_its_json(repo, capsys):
    def table(r):
        return f"# Demo\n\n| qps |\n|---|\n| {r['qps']} |"

    def plot(r, path):
        path.write_bytes(f"png {r['qps']}".encode())

    paths = publish("demo", "p", table, plot, result={"provenance": _prov(repo), "qps": 3.0}, root=repo)
    assert "| 3.0 |" in capsys.readouterr().out
    stored = paths["json"].read_text()
    assert json.loads(stored)["provenance"]["finished_utc"] and paths["png"].read_bytes() == b"png 3.0"
    again = publish("demo", "p", lambda r: table(r) + "\n\nredrawn", plot, root=repo, echo=False)
    assert set(again) == {"md", "png"} and paths["json"].read_text() == stored
    assert again["md"].read_text().startswith("# Demo\n\n| qps |\n|---|\n| 3.0 |\n\nredrawn") and capsys.readouterr().out == ""
    assert "## Provenance" in again["md"].read_text()
    with pytest.raises(ConfigError, match="run the benchmark first"):
        publish("demo", "missing", table, root=repo)
