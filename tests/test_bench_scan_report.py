"""The scan-speed tables and plots (bench/pq_fastscan.py, bench/index_speed.py, bench/index_ivf.py) from tiny result dicts."""

from __future__ import annotations

from distilhash.benchmark.scan_report import (fastscan_markdown, fastscan_plot, index_speed_markdown, index_speed_plot,
                                              ivf_markdown, ivf_plot, single_query_markdown, single_query_plot)

LOAD = [1.5, 1.0, 1.0]


def _row(ns, cpu, **kw):
    return {"ns_per_code": ns, "cpu_ns_per_code": cpu, "queries": 4, "identical_to_exact": True, **kw}


def _parts():
    block = {"n": 1000, "load_before": LOAD, "load_after": [2.0, 1.0, 1.0],
             "rows": {"ours fast-scan avx2": _row(0.5, 0.25, mean_shortlist=12.0), "FAISS IndexPQFastScan": _row(1.0, 1.0, overlap_at_10_with_exact=0.9)}}
    binary = {"n": 1000, "ours_qps": 200.0, "ours_cpu_qps": 210.0, "faiss_heap_qps": 100.0, "faiss_heap_cpu_qps": 100.0,
              "faiss_counting_qps": 50.0, "faiss_counting_cpu_qps": 50.0, "ratio_vs_heap": 2.0, "ratio_vs_counting": 4.0, "load_before": LOAD}
    ivf = {"n": 1000, "nprobe": 16, "first_open_s": 1.5, "first_open_stats": {"state": "trained", "train_s": 1.0, "assign_s": 0.2},
           "open_s": 0.01, "open_cpu_s": 0.009, "open_stats": {"state": "loaded", "reused_rows": 1000}, "state_bytes": 2 ** 20,
           "load_before": LOAD, "load_after": LOAD}
    return {"meta": {"repeat": 3, "cpu_kernels": {"4": ["scalar", "avx2"]}}, "pq4": [block], "binary": [binary], "ivf": ivf}


def test_parts_tables_hold_every_part_present_and_skip_the_others(tmp_path):
    md = fastscan_markdown(_parts())
    assert "| 1,000 | ours fast-scan avx2 | 0.500 (0.250) | 4 | True |  | 12.0 |" in md
    assert "| 1,000 | FAISS IndexPQFastScan | 1.000 (1.000) | 4 | True | 0.9 |  |" in md
    assert "| 1,000 | load before / after | 1.50 / 2.00 | | | | |" in md
    assert "8-bit PQ" not in md and "Cold CLI" not in md
    assert "| 1,000 | 200 (210) | 100 (100) | 50 (50) | 2.00x | 4.00x | 1.50 |" in md
    assert "later opens **0.010 s**" in md and "State file 1.0 MiB" in md
    fastscan_plot(_parts(), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def _single(with_cpu=True):
    arm = {"ns_per_code": 0.8, "ns_per_code_std": 0.1, "qps": 1000.0, "share_of_limit": 0.5, "share_of_split_limit": {"2": 0.25}}
    two = dict(arm, ns_per_code=0.4, share_of_limit=1.0, share_of_split_limit={"2": 0.5})
    if with_cpu:
        arm = dict(arm, cpu_ns_per_code=0.7, best_call_ns_per_code=0.4)
    return {"queries": 16, "repeat": 3, "machine_note": "Quiet", "sizes": [
        {"n": 1000, "bandwidth": {"best_gb_per_s": 20.0, "split_gb_per_s": {"2": 32.0}}, "limit_ns_per_code": 0.4,
         "split_limit_ns_per_code": {"2": 0.25}, "load_before": LOAD, "load_after": LOAD,
         "families": {"pq4": {"1": {"ours (avx2)": arm, "ours (avx2), 2 threads": two}}}}]}


def test_single_query_table_gives_the_split_share_only_to_threaded_arms_and_na_to_old_runs(tmp_path):
    md = single_query_markdown(_single())
    assert "## n = 1,000 (read bandwidth 20.0 GB/s, 2 threads 32.0 GB/s -> limit 0.400 ns/code; load 1.5→1.5)" in md
    assert "| pq4 | 1 | ours (avx2) | 0.800 ± 0.100 | 0.700 | 0.400 (100%) | 1,000 | 50% |  |" in md
    assert "| pq4 | 1 | ours (avx2), 2 threads | 0.400 ± 0.100 | n/a | n/a | 1,000 | 100% | 50% |" in md
    assert "**Quiet**" in md
    assert "| ours (avx2) | 0.800 ± 0.100 | n/a | n/a |" in single_query_markdown(_single(with_cpu=False))
    single_query_plot(_single(), tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def _speed():
    flat = {"ours_flat_qps": 100.0, "ours_flat_with_ids_metadata_qps": 90.0, "faiss_IndexBinaryFlat_qps": 50.0,
            "faiss_IndexBinaryFlat_counting_qps": 40.0, "numpy_qps": 5.0, "ratio_ours_vs_faiss": 2.0, "ratio_ours_vs_faiss_counting": 2.5,
            "identical_ours_vs_faiss": True, "identical_ours_vs_numpy": True,
            "cpu_qps": {"ours": 110.0, "faiss": 55.0, "faiss_counting": 44.0, "numpy": 5.5}}
    mih = {"mih_qps": 500.0, "bruteforce_faiss_qps": 50.0, "speedup_vs_bruteforce": 10.0, "speedup_vs_our_bruteforce": 5.0,
           "identical_to_bruteforce": True, "fallback_fraction": 0.0, "mean_candidates": 30.0}
    binary = {"source": "uniform", "n": 2_000_000, "disk_bytes_per_item": 20.0, "memory_bytes_per_item": {"flat": 8.0, "mih (incl. flat store)": 24.0},
              "build_items_per_s": 1e6, "open_seconds_with_sha256": 0.5, "flat_k10": flat, "flat_k100": flat, "mih_k10": mih, "mih_k100": mih}
    pqk = {"ours_ns_per_code": 1.0, "ours_faiss_backed_ns_per_code": 2.0, "faiss_IndexPQ_ns_per_code": 3.0,
           "cpu_ns_per_code": {"ours": 0.9, "ours_faiss_backed": 1.9, "faiss": 2.9}, "identical_ours_vs_ours_faiss_backed": True,
           "same_ids_as_faiss_IndexPQ": 1.0}
    return {"wall_seconds": 12.0, "peak_rss_mb": 100.0, "binary": [binary], "pq": [{"n": 2_000_000, "k10": pqk, "k100": pqk}],
            "add": {"base_items": 1000, "compact_seconds": 0.5, **{f"batch{b}": {"items_per_s": 10.0 * b, "ms_per_add_call": 1.0}
                                                                  for b in (1, 100, 10_000)}}}


def test_index_speed_tables_mark_numpy_not_run_above_its_size(tmp_path):
    md = index_speed_markdown(_speed())
    assert "| uniform | 2,000,000 | 10 | 100.0 (110) | 90.0 | 50.0 (55) | 40.0 (44) | 5.0 (5.5) | 2.00 | 2.50 | True |" in md
    assert "| uniform | 2,000,000 | 100 | 500.0 | 50.0 | 10.0x | 5.0x | True | 0.00 | 30 |" in md
    assert "| flat-scan share | mean candidates |\n|---|---|---|---|---|---|---|---|---|---|\n" in md  # 10 cells: a table
    assert "| 2,000,000 | 10 | 1.00 (0.90) | 2.00 (1.90) | 3.00 (2.90) | nan | not run / True | 1.00 |" in md
    assert "| uniform | 2,000,000 | 20.0 | 8.0 | 24.0 | 1,000,000 | 0.5 |" in md
    assert "batch 100: 1,000 items/s (1.00 ms/call)" in md and "compaction 0.5 s" in md
    index_speed_plot(_speed(), tmp_path / "i.png")
    assert (tmp_path / "i.png").exists()


def test_ivf_tables_list_every_nprobe_for_speed_and_quality(tmp_path):
    q = {"p@10": 0.5, "p@100": 0.4, "map@100": 0.3, "map@1000": 0.2, "map_all": 0.1}
    r = {"method": "dcmq", "bits": 64, "metric": "l2", "n": 5000, "n_real": 100, "flip": 0.03, "k": 10, "n_queries_timed": 20,
         "n_queries_quality": 30, "wall_s": 3.0,
         "build": {"nlist": 8, "trained_on": 5000, "train_s": 0.5, "assign_s": 0.1, "total_s": 0.7,
                   "list_size": {"mean": 625.0, "p99": 900.0, "max": 1000, "empty": 0}},
         "exact": {"ms_per_query": 0.5, "qps": 2000.0, "modified_fraction_db": 0.25, "modified_fraction_top": 0.5},
         "ivf": [{"nprobe": n, "ms_per_query": 0.1 * n, "qps": 10000.0 / n, "recall@10": 0.2 * n, "recall@10_unmodified": 0.25 * n} for n in (1, 4)],
         "quality_real_set": {"nlist": 4, "exact": q, "ivf": [{"nprobe": 1, "mean_candidates": 25.0, "recall@10": 0.8, **q}]}}
    md = ivf_markdown(r)
    assert "| ivf | 4 | 0.400 | 2500 | 0.800 | 1.000 |" in md and "| ivf | 1 | 0.100 | 10000 | 0.200 | 0.250 |" in md
    assert "| exact | - | 100 | 1.000 | 0.5000 | 0.4000 | 0.3000 | 0.2000 | 0.1000 |" in md
    assert "| ivf | 1 | 25 | 0.800 | 0.5000 |" in md and "are 25.0% of the items but 50.0% of the exact top-10" in md
    ivf_plot(r, tmp_path / "v.png")
    assert (tmp_path / "v.png").exists()
