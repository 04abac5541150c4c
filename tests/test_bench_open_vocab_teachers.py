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
