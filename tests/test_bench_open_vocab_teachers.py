"""bench/open_vocab_teachers.py's table: the --val-only result shows the split.val figures and no benchmark column."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "open_vocab_teachers.py"


def _module():
    spec = importlib.util.spec_from_file_location("open_vocab_teachers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(p_at: float, doms: dict) -> dict:
    return {"n_fits": 1, "fits": [{"spec": f"kind:dir-{p_at}"}], "val_mrr": 0.2, "val_mrr_std": 0.0,
            "val_mrr_titles": None, "val_nouns_p_at": p_at, "val_nouns_p_at_std": 0.0, **doms}


def test_val_only_table_has_val_nouns_and_no_benchmark_columns():
    mod = _module()
    r = {"baseline": "a", "rows": {"a": _row(0.05, {}), "b": _row(0.1, {})}, "n_queries": {}, "n_items": {},
         "val_nouns_queries": 58, "val_only": True}
    md = mod.markdown(r)
    assert "validation figures only" in md
    assert "| b | 1 | 0.2000 +- 0.0000 |  | 0.100 +- 0.000 |\n" in md
    assert "P@10 / base" not in md


def test_full_table_keeps_the_benchmark_columns():
    mod = _module()
    fig = {"p_at": 0.1, "p_at_std": 0.0, "map_all": 0.2, "map_all_std": 0.0}
    row = {**_row(0.1, {"openclipart": fig}), "vs_baseline": {"openclipart": {"p_at": 2.0, "map_all": 1.0}}}
    r = {"baseline": "b", "rows": {"b": row}, "n_queries": {"openclipart": 117}, "n_items": {"openclipart": 1000},
         "val_nouns_queries": 58}
    md = mod.markdown(r)
    assert "openclipart P@10 / base" in md and "| 0.100 +- 0.000 | 0.100 +- 0.000 | 0.200 +- 0.000 | 2.00x |" in md


class _Member:
    """A stand-in teacher with dataset images: fixed unit rows per split.val item."""

    def __init__(self, name: str, seed: int, images: bool = True) -> None:
        import numpy as np
        from types import SimpleNamespace

        self.name, self.fingerprint = name, name
        self.capabilities = SimpleNamespace(dataset_images=images)
        z = np.random.default_rng(seed).normal(size=(5, 4))
        self.z = z / np.linalg.norm(z, axis=1, keepdims=True)
        self.calls = 0

    def encode_dataset_images(self, ds, rows):
        self.calls += 1
        return self.z[rows]


def test_val_images_of_an_ensemble_are_its_members_rows_side_by_side():
    import numpy as np
    from types import SimpleNamespace

    mod = _module()
    a, b = _Member("a", 0), _Member("b", 1)
    ens = object.__new__(mod.Embedder)
    ens.teachers, ens.k = [a, b], 2
    split = SimpleNamespace(val=np.arange(5))
    z = mod.val_images(ens, None, split)
    np.testing.assert_allclose(z, np.concatenate([a.z, b.z], 1) / np.sqrt(2))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0)  # unit rows: cosines are the members' mean
    single = object.__new__(mod.Embedder)
    single.teachers, single.k = [a], 1
    np.testing.assert_allclose(mod.val_images(single, None, split), a.z)
    assert a.calls == 1  # a member's rows are computed once per run
    none = object.__new__(mod.Embedder)
    none.teachers, none.k = [a, _Member("c", 2, images=False)], 2
    assert mod.val_images(none, None, split) is None


def test_rule_pick_takes_the_best_mean_first_of_ties_and_needs_a_margin_over_the_reference():
    mod = _module()
    scores = {"ref": [0.10, 0.12, 0.08], "a": [0.11, 0.13, 0.09], "b": [0.112, 0.131, 0.09]}
    r = mod.rule_pick(scores, "ref")
    assert r["tied"] == ["a", "b"] and r["best"] == "a" and r["pick"] == "a" and r["beats_reference"]
    # 0.001 above the reference: inside the tie band, so the reference stays
    r = mod.rule_pick({"ref": [0.10, 0.10, 0.10], "a": [0.101, 0.101, 0.101]}, "ref")
    assert r["best"] == "ref" and r["pick"] == "ref" and not r["beats_reference"]
    # a higher mean carried by one split, below the reference on the two others: refused
    r = mod.rule_pick({"ref": [0.10, 0.10, 0.10], "a": [0.13, 0.099, 0.098]}, "ref")
    assert r["best"] == "a" and r["splits_below_reference"] == 2 and r["pick"] == "ref"


def test_combined_table_has_each_split_the_mean_and_the_pick(tmp_path, monkeypatch):
    import json

    from distilhash.benchmark import results

    mod = _module()
    monkeypatch.setattr(results, "_root", lambda root: tmp_path)
    fig = {"p_at": 0.1, "p_at_std": 0.0, "map_all": 0.2, "map_all_std": 0.0}
    for i, (ref, cand) in enumerate(((0.10, 0.12), (0.11, 0.12), (0.09, 0.10))):
        rows = {"today": {**_row(0.05, {"openclipart": fig}), "vs_baseline": {"openclipart": {"p_at": 1.0, "map_all": 1.0}}},
                "ref": {**_row(ref, {"openclipart": fig}), "vs_baseline": {"openclipart": {"p_at": 1.8 + i / 10, "map_all": 1.0}}},
                "cand": {**_row(cand, {"openclipart": fig}), "vs_baseline": {"openclipart": {"p_at": 2.0, "map_all": 1.0}}}}
        out = tmp_path / "bench" / "results" / "open_vocab_teachers"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"s{i}.json").write_text(json.dumps({"baseline": "today", "rows": rows, "n_items": {"openclipart": 1000},
                                                    "provenance": {"split_hash": f"h{i}", "dataset_hash": "d"}}))
    mod.combine(["s0", "s1", "s2"], "all", "ref", 0.002)
    stored = json.loads((out / "all.json").read_text())
    assert stored["rule"]["pick"] == "cand" and stored["split_hashes"] == ["h0", "h1", "h2"]
    md = (out / "all.md").read_text()
    assert "| ref | 0.100 / 0.110 / 0.090 | 0.100 +- 0.010 |" in md and "1.80x / 1.90x / 2.00x | 1.90x |" in md
    assert "the pick is **`cand`**" in md
