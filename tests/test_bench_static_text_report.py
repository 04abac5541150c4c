"""The static query encoder's benchmark helpers: CPU time per single query, spreads, the table and plot."""

from __future__ import annotations

import pytest

from distilhash.benchmark.static_text_report import cpu_ms_per_call, markdown, mean_std_runs, plot


def test_cpu_ms_per_call_calls_once_per_item_per_repeat():
    calls = []
    runs = cpu_ms_per_call(lambda batch: calls.append(list(batch)), ["a", "b", "c", "d"], repeats=2)
    assert calls[0] == ["a", "b", "c"] and calls[1:] == [["a"], ["b"], ["c"], ["d"]] * 2  # a warm call, then one per item
    assert len(runs) == 2 and all(r >= 0 for r in runs)
    assert mean_std_runs([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "runs": [1.0, 2.0, 3.0]}
    assert mean_std_runs([0.123456789])["std"] == 0.0


def _result():
    arm = {"model_t2i": 0.5, "model_i2t_text_db": 0.4, "float_teacher_t2i": 0.45, "cosine_to_teacher_mean": 0.9,
           "cosine_to_teacher_p10": 0.8}
    vs = {f"{k}_vs_teacher": 1.0 for k in ("model_t2i", "float_teacher_t2i", "model_i2t_text_db")}
    static = {**arm, **vs, "model_t2i": 0.495, "model_t2i_vs_teacher": 0.99, "std": {"model_t2i": 0.002, "model_t2i_vs_teacher": 0.004}}
    return {"method": "dcmq", "bits": 64, "model": "runs/m", "teacher": "T", "n_query": 10, "n_database": 1000,
            "static_encoder": {"tower": {"name": "MiniLM"}, "fingerprint": "fp",
                               "distill": {"settings": {"model2vec": "0.4", "pca_dims": 256, "sif_coefficient": 1e-4}},
                               "report": {"alpha_relative": 0.1, "n_fit": 500}},
            "static_seeds": [0, 1], "static_tuning_by_seed": {"0": {"val_scores": [0.3, 0.31], "epoch": 1, "kept": True}},
            "map_all": {"teacher": {**arm, **vs}, "static": static},
            "example_queries_p10": {"queries": ["a cat"], "labels": ["cat"],
                                    "by_encoder": {"teacher": {"p10": [0.8], "queries_at_least_0.5": 1},
                                                   "static": {"p10": [0.4], "queries_at_least_0.5": 0}}},
            "cpu_ms_per_single_query": {"static": {"mean": 0.05, "std": 0.01}, "teacher": {"mean": 15.0, "std": 1.0}}}


def test_markdown_and_plot(tmp_path):
    text = markdown(_result(), "ds", "0123456789abcdef")
    assert "split 0123456789ab;" in text and "(seed 0)" in text
    assert "| **static** (mean ± sample std, 2 seeds) | 0.4950 ± 0.0020 | 0.9900 ± 0.0040x |" in text
    assert "val mAP by epoch 0.3000, 0.3100; kept epoch **1**." in text
    assert "| a cat | `cat` | 0.8 | 0.4 |" in text and "| static | 0.0500 ± 0.0100 |" in text
    plot(_result(), tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_typed_nouns_markdown_lists_every_ranking_with_the_cosine_line():
    from distilhash.benchmark.static_text_report import typed_nouns_markdown

    out = {"n_queries": 150, "model": "runs/m", "teacher": "t:x", "cos_static_vs_tower": {"mean": 0.91234, "median": 0.93, "min": 0.5},
           "rows": {"float teacher, static encoder": {"p_at": 0.25, "r_at": 0.5, "map_all": 0.125},
                    "random ranking": {"p_at": 0.01, "r_at": 0.02, "map_all": 0.005}}}
    text = typed_nouns_markdown(out)
    assert text.startswith("# Typed nouns: the static query encoder vs the teacher's text tower\n")
    assert "150 nouns" in text and "mean 0.912, median 0.930, min 0.500." in text
    assert text.endswith("| float teacher, static encoder | 0.250 | 0.500 | 0.125 |\n| random ranking | 0.010 | 0.020 | 0.005 |\n")


def test_score_arms_scores_every_arm_against_the_teacher_and_pools_the_seeds():
    import numpy as np

    from distilhash.benchmark.static_text_report import score_arms
    from distilhash.codes import Encoded

    class FloatMethod:  # codes = the features themselves: the model's scores are cosine scores
        def encode(self, modality, x, role):
            x = np.asarray(x, np.float32)
            return Encoded("float", x, 32 * x.shape[1])

    rng = np.random.default_rng(0)
    labels = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 60)]
    image = labels @ rng.normal(size=(4, 8)) + 0.1 * rng.normal(size=(60, 8))
    text = image + 0.1 * rng.normal(size=(60, 8))
    q, db = np.arange(10), np.arange(10, 60)
    noise = rng.normal(size=(60, 8))
    arms = {"teacher": (text[q], text[db]), "s0": (text[q], text[db]), "s1": (noise[q], noise[db])}
    res = score_arms(FloatMethod(), arms, image, labels, q, db, ["s0", "s1"], "static")
    assert res["s0"]["model_t2i_vs_teacher"] == 1.0 and res["s0"]["cosine_to_teacher_mean"] == 1.0
    assert res["teacher"]["model_t2i"] > 0.9 and res["s1"]["model_t2i"] < res["teacher"]["model_t2i"]
    assert res["teacher"]["model_t2i"] == res["teacher"]["float_teacher_t2i"]  # float codes: the same ranking
    assert res["static"]["model_t2i"] == round((res["s0"]["model_t2i"] + res["s1"]["model_t2i"]) / 2, 5)
    assert res["static"]["std"]["model_t2i"] == round(float(np.std([res["s0"]["model_t2i"], res["s1"]["model_t2i"]], ddof=1)), 5)
    assert score_arms(FloatMethod(), arms, image, labels, q, db, ["s0"], "static")["static"]["std"]["model_t2i"] == 0.0
