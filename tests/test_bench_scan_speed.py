"""The scan-speed measurements (bench/pq_fastscan.py, bench/index_speed.py) on tiny random data: every answer of
ours checked against the exact reference, the blocks the report draws."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from distilhash.benchmark.scan_report import fastscan_markdown, index_speed_markdown  # noqa: E402
from distilhash.benchmark.scan_speed import (bench_binary, bench_codes, bench_pq, fastscan_binary, fastscan_pq,  # noqa: E402
                                             single_query_size)
from distilhash.errors import ConfigError  # noqa: E402


def _quiet(msg: str) -> None:
    pass


@pytest.mark.parametrize("bits", [4, 8])
def test_fastscan_kernels_equal_the_exact_adc_and_faiss_overlap_is_a_share(bits):
    block = fastscan_pq(bits, 3000, np.random.default_rng(0), _quiet, queries=8, repeat=1, check=3, float_max_n=10_000)
    ours = {k: v for k, v in block["rows"].items() if k.startswith("ours")}
    assert f"ours fast-scan {block['default_kernel']}" in ours and "ours float kernel (previous)" in ours
    assert all(v["identical_to_exact"] for v in ours.values())
    assert ours["ours fast-scan scalar"]["queries"] == 1 and ours["ours float kernel (previous)"]["queries"] == 2
    faiss_row = block["rows"]["FAISS IndexPQFastScan" if bits == 4 else "FAISS IndexPQ"]
    assert 0.0 <= faiss_row["overlap_at_10_with_exact"] <= 1.0 and faiss_row["ns_per_code"] > 0
    assert (block["M"], block["K"]) == ((16, 16) if bits == 4 else (8, 256))
    assert "float kernel" not in str(fastscan_pq(bits, 3000, np.random.default_rng(0), _quiet, queries=4, repeat=1, check=2,
                                                 float_max_n=1000)["rows"])


def test_fastscan_binary_gives_faiss_the_same_distances_and_the_parts_table_draws_it():
    block = fastscan_binary(3000, np.random.default_rng(1), _quiet, queries=8, repeat=1)
    assert block["faiss_heap_same_distances"] and block["faiss_counting_same_distances"]
    assert block["ratio_vs_heap"] == pytest.approx(block["ours_qps"] / block["faiss_heap_qps"])
    md = fastscan_markdown({"meta": {"repeat": 1, "cpu_kernels": {}}, "binary": [block]})
    assert "| 3,000 |" in md and "8-bit PQ" not in md


def test_single_query_cells_thread_only_the_batch_of_one_for_faiss():
    size = single_query_size(4000, np.random.default_rng(2), _quiet, families=["pq8", "hamming"], queries=8, batches=[1, 4],
                             threads=[1, 2], repeat=2)
    assert size["limit_ns_per_code"] == pytest.approx(8 / size["bandwidth"]["best_gb_per_s"]) and set(size["split_limit_ns_per_code"]) == {"2"}
    one, four = size["families"]["hamming"]["1"], size["families"]["hamming"]["4"]
    assert "FAISS IndexBinaryFlat heap, 2 threads" in one and "FAISS IndexBinaryFlat heap, 2 threads" not in four
    assert "ours (native), 2 threads" in four
    arm = one["ours (native)"]
    assert len(arm["ns_per_code_all"]) == 2 and arm["ns_per_code"] == min(arm["ns_per_code_all"]) and arm["best_call_ns_per_code"] > 0
    assert any(name.startswith("ours (") for name in size["families"]["pq8"]["1"])


def test_bench_codes_structured_copies_sit_near_their_centres_and_uniform_ones_do_not(tmp_path):
    db, q, desc = bench_codes("structured", 500, 20, np.random.default_rng(3), centres=5, flip=0.02)
    assert db.shape == (500, 8) and q.shape == (20, 8) and desc == {"kind": "5 random centres replicated with bit-flip noise", "flip": 0.02}
    near = np.unpackbits(db[:, None] ^ q[None], axis=2).sum(2).min(1)
    assert np.median(near) < 8
    u, uq, udesc = bench_codes("uniform", 500, 20, np.random.default_rng(3))
    assert udesc == {"kind": "uniform random bits"} and np.median(np.unpackbits(u[:, None] ^ uq[None], axis=2).sum(2).min(1)) > 8
    from distilhash.codes import Encoded
    from distilhash.codes_file import save_encoded

    save_encoded(tmp_path / "codes.npz", {"image": Encoded("binary", np.zeros((4, 4), np.uint8), 32)}, indices=np.arange(4),
                 ids=list("abcd"), role="database", part="retrieval")
    with pytest.raises(ConfigError, match="need 64-bit binary codes"):
        bench_codes("structured", 10, 2, np.random.default_rng(0), model_codes=tmp_path / "codes.npz")


def test_bench_binary_and_pq_answers_match_faiss_numpy_and_mih(tmp_path):
    codes = bench_codes("structured", 3000, 10, np.random.default_rng(4), centres=50)
    block = bench_binary("structured", codes, tmp_path, _quiet, repeat=1, numpy_queries=4)
    for k in (10, 100):
        assert block[f"flat_k{k}"]["identical_ours_vs_faiss"] and block[f"flat_k{k}"]["identical_ours_vs_numpy"]
        assert block[f"mih_k{k}"]["identical_to_bruteforce"] and 0 <= block[f"mih_k{k}"]["fallback_fraction"] <= 1
    assert block["n"] == 3000 and block["memory_bytes_per_item"]["flat"] >= 8 and not (tmp_path / "bin-structured-3000").exists()
    pq = bench_pq(3000, np.random.default_rng(5), _quiet, queries=6, repeat=1, numpy_queries=3)
    assert pq["k10"]["identical_ours_vs_numpy"] and pq["k100"]["identical_ours_vs_ours_faiss_backed"]
    assert pq["memory_bytes_per_item"] >= 8 and pq["disk_bytes_per_item_codes"] == 8
    md = index_speed_markdown({"wall_seconds": 1.0, "peak_rss_mb": 1.0, "binary": [block], "pq": [pq]})
    assert md.count("| structured | 3,000 |") == 5
