"""The committed bench/results: one folder per benchmark, one spelling per provenance key."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from distilhash.benchmark.provenance import legacy_keys_in
from distilhash.benchmark.results import check_provenance

BENCH = Path(__file__).resolve().parents[1] / "bench"
RESULTS = BENCH / "results"

pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no bench/results in this checkout")


def _records():
    for path in sorted(RESULTS.rglob("*.json")):
        yield path, json.loads(path.read_text())


def retired_scripts(readme: str) -> set[str]:
    """Stems of the scripts in the "Retired scripts" table of bench/README.md (their results stay)."""
    section = readme.split("## Retired scripts", 1)[1] if "## Retired scripts" in readme else ""
    return {m.group(1) for m in re.finditer(r"^\| `(\w+)\.py`", section, re.M)}


def declared_benchmarks(source: str) -> set[str]:
    """The result folders a script declares it writes (a module-level literal ``BENCHMARKS = ("a", "b")``): one
    script answering several questions writes into the folders of the scripts it merged."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["BENCHMARKS"]:
            return set(ast.literal_eval(node.value))
    return set()


def test_declared_benchmarks_are_read_from_the_script():
    assert declared_benchmarks('BENCH = "c"\nBENCHMARKS = ("a", "b")\n') == {"a", "b"}
    assert declared_benchmarks('BENCH = "a"\n') == set()


def test_retired_scripts_are_read_from_the_readme_table():
    table = "## Scripts\n| `a.py` | x |\n## Retired scripts\n\n| script | last commit |\n|---|---|\n| `old_one.py`: why | `abc1234` |\n"
    assert retired_scripts(table) == {"old_one"}
    assert retired_scripts("| `a.py` | x |\n") == set()


def test_every_result_lives_in_the_folder_of_a_benchmark_script_or_suite():
    known = {p.stem for p in BENCH.glob("*.py")} | {p.stem for p in (BENCH / "suites").glob("*.json")}
    known |= retired_scripts((BENCH / "README.md").read_text())
    known |= {name for p in BENCH.glob("*.py") for name in declared_benchmarks(p.read_text())}
    top_files = sorted(p.name for p in RESULTS.iterdir() if p.is_file())
    assert top_files == [], f"results at the top of bench/results (move them into bench/results/<benchmark>/): {top_files}"
    # a folder shared by a family of scripts is named by their common prefix (less_leaky: less_leaky_{features,table}.py)
    family = {stem.rsplit("_", 1)[0] for stem in known if "_" in stem}
    unknown = sorted(p.name for p in RESULTS.iterdir() if p.is_dir() and p.name not in known | family)
    assert unknown == [], f"result folders named after no bench script or suite: {unknown}"


def test_every_retired_script_is_gone_and_its_results_are_kept():
    """A retired script is deleted; the results its row names (``folder/file.*``, first one) are still committed."""
    section = (BENCH / "README.md").read_text().split("## Retired scripts", 1)[-1]
    rows = re.findall(r"^\| `(\w+)\.py`[^|]*\|[^|]*\|([^|]*)\|", section, re.M)
    assert {stem for stem, _ in rows} == retired_scripts((BENCH / "README.md").read_text())
    for stem, results in rows:
        assert not (BENCH / f"{stem}.py").exists(), f"bench/{stem}.py is listed as retired but still there"
        named = re.search(r"`([\w-]+)/[^`]+`", results)
        if named:  # a row whose results cell names none (a tool's output quoted elsewhere) has nothing to keep
            assert (RESULTS / named.group(1)).is_dir(), f"retired {stem}: its results folder {named.group(1)} is gone"


def test_no_result_uses_an_old_spelling_of_a_provenance_key():
    old = {str(path.relative_to(RESULTS)): keys for path, rec in _records() if (keys := legacy_keys_in(rec))}
    assert old == {}


def test_suite_run_records_carry_a_complete_provenance_block():
    runs = [(path, rec) for path, rec in _records() if rec.get("schema") == "distilhash.bench.run/1"]
    assert runs, "no suite run records found"
    for path, rec in runs:
        assert check_provenance(rec["provenance"]) == [], path
        assert rec["provenance"]["benchmark"] == rec["suite"] == path.relative_to(RESULTS).parts[0], path


def test_every_result_file_carries_a_provenance_block():
    from distilhash.benchmark.provenance import PROVENANCE_KEYS

    missing = [str(path.relative_to(RESULTS)) for path, rec in _records()
               if not (isinstance(rec, dict) and isinstance(rec.get("provenance"), dict))]
    assert missing == [], f"{len(missing)} result files have no provenance block (scripts/migrate_bench_results.py): {missing[:5]}"
    short = {str(path.relative_to(RESULTS)): [k for k in PROVENANCE_KEYS if k not in rec["provenance"]]
             for path, rec in _records()}
    assert {p: ks for p, ks in short.items() if ks} == {}


def test_a_migrated_block_states_only_what_its_file_states():
    """A block added afterwards copies the file's own fields or says "not recorded"; it never guesses."""
    import re

    migrated = [(path, rec) for path, rec in _records() if rec["provenance"].get("migrated") is True]
    assert migrated, "no migrated provenance block found"
    for path, rec in migrated:
        prov = rec["provenance"]
        assert (prov["benchmark"], prov["name"]) == (path.relative_to(RESULTS).parts[0], path.stem), path
        filled = prov.get("migrated_keys", list(prov))  # a block completed afterwards names the keys it got
        for key in {"dirty", "dataset", "dataset_hash", "split_hash", "load_before", "load_after", "started_utc",
                    "finished_utc"} & set(filled):
            assert prov[key] == "not recorded" or prov[key] == rec.get(key), (path, key)
        if "commit" in filled:
            assert prov["commit"] in (rec.get("commit"), prov["added_in_commit"]), path
        assert re.fullmatch(r"[0-9a-f]{40}", prov["added_in_commit"]), path
        if "command" in filled and prov["command"] not in ("not recorded", rec.get("command")):
            md = path.with_suffix(".md")
            assert md.is_file() and prov["command"] in md.read_text(encoding="utf-8"), path
        if "seeds" in filled:
            assert prov["seeds"] == "not recorded" or all(isinstance(s, int) for s in prov["seeds"]), path


def _table_rows(md: str):
    """(line number, header cells, delimiter cells) of every markdown table (a pipe in backticks or escaped is no border)."""
    def cells(line: str) -> int:
        line = re.sub(r"`[^`]*`", "x", line.replace("\\|", "x")).strip()
        return len(line.strip("|").split("|"))

    lines = md.splitlines()
    for i in range(1, len(lines)):
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i].strip()) and lines[i - 1].strip().startswith("|"):
            yield i + 1, cells(lines[i - 1]), cells(lines[i])


def test_every_result_table_has_as_many_delimiter_cells_as_header_cells():
    """GitHub renders a markdown table only when its delimiter row has the header's cell count."""
    bad = [f"{path.relative_to(RESULTS)}:{line} ({h} header cells, {d} delimiter cells)"
           for path in sorted(RESULTS.rglob("*.md")) for line, h, d in _table_rows(path.read_text()) if h != d]
    assert not bad, bad
