"""Index reliability: no acknowledged item lost, no damage served silently, no false alarm.

Short versions of ``bench/index_reliability.py`` (kill -9 during appends, deletes and
compactions; every file truncated, flipped, byte-deleted and removed; opens and verifies racing a
compacting writer; a second writer), plus the regressions of issue 14: a log cut at a record
boundary, a dropped delete record, a removed ``LOCK`` file, a manifest lost next to its data,
format 1 indexes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from distilhash.benchmark.index_crash import run_kill_trials, run_race
from distilhash.benchmark.index_damage import index_contents, item_code, make_reference_index, run_damage_matrix
from distilhash.errors import ConfigError, IndexCorruptError
from distilhash.index import IndexLockedError, codelog, create_index, open_index, verify_index
from distilhash.index.format import write_manifest


def _files(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


@pytest.mark.parametrize("mode", ["append", "delete", "compact"])
def test_kill_9_loses_no_acknowledged_item(tmp_path, mode):
    counts = run_kill_trials(tmp_path / "ix", mode, n_trials=3, seed=5)
    assert counts["trials"] == 3 and counts["operations_acknowledged"] > 0
    for failure in ("lost", "resurrected", "phantom", "corrupted", "torn_batch", "false_alarm"):
        assert counts[failure] == 0, (failure, counts)


def test_damage_to_any_file_is_reported_never_served(tmp_path):
    res = run_damage_matrix(tmp_path, positions=6, seed=3)
    assert {c["mode"] for c in res["cells"]} == {"truncate", "flip", "cut_byte", "remove"}
    assert {c["file"].split(".")[0] for c in res["cells"]} >= {"manifest", "codes", "seqs", "meta", "log", "codebooks"}
    bad = [c for c in res["cells"] if set(c["outcomes"]) - {"detected", "harmless"}]
    assert not bad, bad
    assert res["totals"]["detected"] > 0.9 * sum(res["totals"].values())


def test_opens_and_verifies_racing_compaction_see_one_generation(tmp_path):
    res = run_race(tmp_path / "ix", seconds=3.0, lock_attempts=3)
    c = res["counts"]
    assert c["opens"] > 5 and c["verifies"] > 5 and c["writer_compactions"] > 0
    assert c["false_alarm"] == 0 and c["inconsistent_reads"] == 0, res["errors"]
    assert c["second_writer_attempts"] == 3 and c["second_writer_admitted"] == 0


def test_log_cut_anywhere_is_detected_and_kept(tmp_path):
    """Every cut of the log — record boundaries included, the dropped last record being a
    delete — is refused by read and write opens and reported by verify; nothing is trimmed."""
    src = tmp_path / "src"
    expected = make_reference_index(src, n_snapshot=20, n_ops=6)  # op 5 (the last) is a delete
    m = json.loads((src / "manifest.json").read_text())
    log = src / m["log"]
    full = log.read_bytes()
    with open_index(src) as idx:
        assert index_contents(idx) == expected
    deleted = {f"s{i}" for i in range(20)} - set(expected)
    assert deleted
    dst = tmp_path / "cut"
    boundaries = [i for i in range(len(full)) if full.startswith(b"RC", i)]  # record starts (and a few false hits)
    rng = np.random.default_rng(0)
    cuts = sorted({*range(codelog.HEADER_SIZE + 1), *boundaries, *rng.integers(0, len(full), 30).tolist(), len(full) - 1})
    for cut in cuts:
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        (dst / m["log"]).write_bytes(full[:cut])
        before = _files(dst)
        with pytest.raises(IndexCorruptError, match=m["log"].replace(".", r"\.")):
            open_index(dst)
        with pytest.raises(IndexCorruptError):
            open_index(dst, writable=True)
        rep = verify_index(dst)
        assert not rep.ok and m["log"] in rep.problems[0]
        assert _files(dst) == before, f"cut at {cut}: an open changed the damaged files"


def test_cli_reports_truncated_log(tmp_path):
    src = tmp_path / "ix"
    make_reference_index(src, n_snapshot=10, n_ops=3)
    m = json.loads((src / "manifest.json").read_text())
    log = src / m["log"]
    log.write_bytes(log.read_bytes()[:-1])
    cut = log.read_bytes()
    cmd = [sys.executable, "-m", "distilhash.cli.main", "index", "verify", str(src)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1 and "acknowledged" in out.stderr and m["log"] in out.stderr
    out = subprocess.run(cmd[:4] + ["delete", str(src), "s1"], capture_output=True, text=True)
    assert out.returncode == 1 and "acknowledged" in out.stderr
    assert log.read_bytes() == cut  # the evidence is kept


def test_removing_lock_files_admits_no_second_writer(tmp_path):
    d = tmp_path / "ix"
    make_reference_index(d, n_snapshot=5, n_ops=2)
    (d / "LOCK").write_text("")  # what a format 1 writer left; now meaningless
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            import numpy as np
            from distilhash.index import open_index
            idx = open_index({str(d)!r}, writable=True)
            print("held", flush=True)
            sys.stdin.read()
            idx.add(["from-holder"], np.ones((1, 8), np.uint8))
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        (d / "LOCK").unlink()
        for _ in range(2):
            with pytest.raises(IndexLockedError, match="another writer"):
                open_index(d, writable=True)
        with open_index(d) as reader:  # readers are not blocked
            assert len(reader) > 0
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    with open_index(d, writable=True) as idx:  # released with the process
        assert idx.get(["from-holder"]) and idx.verify().ok


def test_build_writes_a_snapshot_not_a_log_record(tmp_path):
    idx = create_index(tmp_path / "ix", kind="binary", n_bits=64)
    ids = [f"b{i}" for i in range(50)]
    idx.add(ids, np.stack([item_code(i, 8) for i in ids]), snapshot=True)
    info = idx.info()
    assert info["log_records"] == 0 and info["files"]["codes"]["bytes"] > 50 * 8 and info["count"] == 50
    idx.close()


def test_create_refuses_a_directory_with_orphaned_index_files(tmp_path):
    d = tmp_path / "ix"
    make_reference_index(d, n_snapshot=5, n_ops=1)
    (d / "manifest.json").unlink()
    with pytest.raises(IndexCorruptError, match="manifest.json is missing but"):
        open_index(d)
    with pytest.raises(ConfigError, match="without a manifest"):
        create_index(d, kind="binary", n_bits=64)
    assert any(p.name.startswith("codes.g") for p in d.iterdir())


def _downgrade_to_format_1(d):
    """Rewrite a format 2 index as format 1 (log without a commit block), as old versions wrote it."""
    m = json.loads((d / "manifest.json").read_text())
    log = d / m["log"]
    data = log.read_bytes()
    head = bytearray(data[: codelog._FILE_HEADER.size])
    head[6:8] = (1).to_bytes(2, "little")
    import zlib

    head = bytes(head) + (zlib.crc32(bytes(head)) & 0xFFFFFFFF).to_bytes(4, "little")
    log.write_bytes(head + data[codelog.HEADER_SIZE :])
    m.pop("manifest_sha256")
    write_manifest(d, dict(m, format_version=1))


def test_format_1_index_opens_and_is_upgraded_by_a_writer(tmp_path):
    d = tmp_path / "ix"
    expected = make_reference_index(d, n_snapshot=30, n_ops=6)
    _downgrade_to_format_1(d)
    with open_index(d) as idx:
        assert index_contents(idx) == expected and idx.info()["format_version"] == 1
    rep = verify_index(d)
    assert rep.ok and any("format 1" in n for n in rep.notes)
    with open_index(d, writable=True) as idx:
        assert idx.info()["format_version"] == 2 and index_contents(idx) == expected
    with open_index(d) as idx:
        assert index_contents(idx) == expected
    assert verify_index(d).ok


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the committed benchmark at full size takes longer than the suite's 300 s per test
def test_reliability_benchmark_full(tmp_path):
    """The committed benchmark at full size (>= 200 kill trials, 200 positions per file and mode)."""
    from distilhash.benchmark.reliability import run

    rec = run(70, 200, 60.0, 0, tmp_path, show_progress=False)
    assert sum(m["trials"] for m in rec["kill"].values()) >= 200
    assert all(v == 0 for v in rec["failures"].values()), rec["failures"]


def test_reliability_run_counts_every_failure_kind_at_tiny_size(tmp_path):
    """The run the benchmark writes: all three parts and a zero for every failure kind it names."""
    from distilhash.benchmark.reliability import FAILURE_KEYS, failures, run

    rec = run(2, 2, 1.0, 0, tmp_path, show_progress=False)
    assert set(rec["kill"]) == {"append", "delete", "compact"} and all(m["trials"] == 2 for m in rec["kill"].values())
    names = {f"{part}.{k}" for part, keys in FAILURE_KEYS.items() for k in keys}
    assert set(rec["failures"]) == names and rec["failures"] == failures(rec)
    assert all(v == 0 for v in rec["failures"].values()), rec["failures"]
    lost = {**rec, "kill": {**rec["kill"], "append": {**rec["kill"]["append"], "lost": 3}}}
    assert failures(lost)["kill.lost"] == 3
