"""scripts/migrate_bench_results.py: old provenance spellings renamed, measured values untouched."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from distilhash.benchmark.provenance import legacy_keys_in
from distilhash.benchmark.results import check_provenance

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "migrate_bench_results.py"
_spec = importlib.util.spec_from_file_location("migrate_bench_results", SCRIPT)
mig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mig)


def _leaves(obj) -> list[str]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _leaves(v)]
    return [json.dumps(obj)]


OLD_SCRIPT_RESULT = {
    "command": "python bench/x.py", "git": {"commit": "abc", "dirty_src": False}, "date": "2026-11-23 19:51:22 UTC",
    "machine": {"hostname": "vm", "cpu_count": 2, "loadavg": [9.0493, 10.6294, 10.4380], "shared_machine": True},
    "loadavg_before": [9.05, 10.63, 10.44], "loadavg_after": [8.1, 8.2, 8.3],
    "rows": [{"qps": 12.5, "load_avg_before": [1.0, 1.0, 1.0], "load_average_after": [2.0, 2.0, 2.0]}],
    "notes": {"machine": "shared, 2 cores", "load_average": [3.0, 3.0, 3.0]},
}


def test_old_script_result_gets_one_spelling_and_keeps_every_measurement():
    new = mig.migrate(OLD_SCRIPT_RESULT)
    assert legacy_keys_in(new) == []
    assert new["commit"] == "abc" and new["dirty"] is False and new["started_utc"] == "2026-11-23 19:51:22 UTC"
    assert new["load_before"] == [9.0493, 10.6294, 10.4380]  # the unrounded copy of the same reading
    assert new["machine"] == {"hostname": "vm", "cores": 2, "shared": True}
    assert new["rows"][0] == {"qps": 12.5, "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 2.0, 2.0]}
    assert new["notes"] == {"machine": {"note": "shared, 2 cores"}, "load_after": [3.0, 3.0, 3.0]}
    lost = sorted(set(_leaves(OLD_SCRIPT_RESULT)) - set(_leaves(new)))
    assert lost == ["10.44", "10.63", "9.05"]  # only the rounded duplicate
    assert mig.migrate(new) == new  # idempotent


def test_suite_run_record_gets_the_runners_provenance_block():
    rec = {"schema": mig.SUITE_SCHEMA, "run_id": "d__lsh__16b__s1", "suite": "quick",
           "spec": {"dataset": {"name": "d"}, "seed": 1}, "command": "distilhash bench quick",
           "git": {"commit": "abc", "dirty_src": True}, "started_at": "t0", "finished_at": "t1",
           "machine_start": {"cpu_count": 2, "threads": 1, "hostname": "vm", "platform": "p", "python": "3.11", "numpy": "2",
                             "loadavg": [1.0, 2.0, 3.0], "concurrent_runs": 2},
           "machine_end": {"cpu_count": 2, "threads": 1, "hostname": "vm", "platform": "p", "python": "3.11", "numpy": "2",
                           "loadavg": [4.0, 5.0, 6.0], "torch": "2.13"},
           "dataset": {"dataset_hash": "dh", "split_hash": "sh"}, "metrics": {"i2t": {"map_all": 0.5}}}
    new = mig.migrate_suite_run(json.loads(json.dumps(rec)), "x")
    prov = new["provenance"]
    assert check_provenance(prov) == [] and legacy_keys_in(new) == []
    assert (prov["load_before"], prov["load_after"]) == ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert prov["machine"]["cores"] == 2 and prov["machine"]["torch"] == "2.13" and prov["machine"]["concurrent_runs"] == 2
    assert (prov["commit"], prov["dirty"], prov["seeds"], prov["split_hash"]) == ("abc", True, [1], "sh")
    assert new["metrics"] == rec["metrics"] and list(new)[:5] == ["schema", "run_id", "suite", "spec", "provenance"]


def test_two_spellings_with_different_values_are_left_for_a_person(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"git_commit": "abc", "commit": "def"}))
    assert mig.main([str(tmp_path)]) == 1
    assert json.loads((tmp_path / "a.json").read_text()) == {"git_commit": "abc", "commit": "def"}
