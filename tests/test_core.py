"""Core data model: registry, dataset format, split invariants, CLI entry."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data import PRESETS, Split, SplitSpec, load_dataset, make_split, save_dataset
from distilhash.errors import ConfigError, DataError
from distilhash.registry import Registry


def test_registry_lists_valid_names_on_unknown():
    reg: Registry = Registry("widget")
    reg.register("a")(lambda: 1)
    reg.register("b")(lambda: 2)
    assert reg.create("b") == 2
    with pytest.raises(ConfigError, match="valid names: a, b"):
        reg.create("c")


def test_split_invariants_and_hash_are_deterministic():
    spec = SplitSpec(n_query=20, n_train=50, n_retrieval=None, n_val=10, seed=3)
    a, b = make_split(200, spec, "h"), make_split(200, spec, "h")
    assert a.hash == b.hash
    assert make_split(200, SplitSpec(20, 50, None, 10, seed=4), "h").hash != a.hash
    assert len(a.query) == 20 and len(a.retrieval) == 180 and len(a.train) == 50 and len(a.val) == 10
    assert not np.intersect1d(a.query, a.retrieval).size
    assert set(a.train) <= set(a.retrieval) and set(a.val) <= set(a.train)
    assert len(a.fit) == 40 and not np.intersect1d(a.fit, a.val).size


def test_presets_have_conventional_sizes():
    assert (PRESETS["mirflickr25k"].n_query, PRESETS["mirflickr25k"].n_train, PRESETS["mirflickr25k"].n_retrieval) == (2000, 10000, 18015)
    assert (PRESETS["iaprtc12"].n_query, PRESETS["iaprtc12"].n_retrieval) == (2000, 18000)
    assert (PRESETS["nuswide21"].n_query, PRESETS["nuswide21"].n_train) == (2100, 10500)
    assert (PRESETS["mscoco"].n_query, PRESETS["mscoco"].n_train) == (5000, 10000)


def test_split_too_large_names_sizes():
    with pytest.raises(DataError, match="2000 queries"):
        make_split(100, PRESETS["mirflickr25k"], "h")


def test_split_file_roundtrip_and_tamper(tmp_path):
    split = make_split(100, SplitSpec(10, 30, None, 5, 0), "abc")
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json", "abc").hash == split.hash
    with pytest.raises(DataError, match="not for this dataset"):
        Split.load(tmp_path / "split.json", "other")
    text = (tmp_path / "split.json").read_text().replace('"query": [', '"query": [99, ', 1)
    (tmp_path / "split.json").write_text(text)
    with pytest.raises(DataError, match="does not match"):
        Split.load(tmp_path / "split.json")


def test_dataset_roundtrip(tmp_path, tiny_dataset):
    save_dataset(tiny_dataset, tmp_path / "ds")
    back = load_dataset(tmp_path / "ds")
    assert back.ids == tiny_dataset.ids and back.texts == tiny_dataset.texts
    assert np.array_equal(back.labels, tiny_dataset.labels)
    assert np.array_equal(back.images.array([0, 5], 8), tiny_dataset.images.array([0, 5], 8))
    assert back.content_hash() == tiny_dataset.content_hash()


def test_dataset_detects_edited_items(tmp_path, tiny_dataset):
    save_dataset(tiny_dataset, tmp_path / "ds")
    items = tmp_path / "ds" / "items.jsonl"
    items.write_text(items.read_text().replace("label", "lebal", 1))
    with pytest.raises(DataError, match="content hash mismatch"):
        load_dataset(tmp_path / "ds")


def test_dataset_mismatched_lengths_are_named(tiny_dataset):
    from distilhash.data import CrossModalDataset

    with pytest.raises(DataError, match="mismatched lengths.*texts"):
        CrossModalDataset("bad", tiny_dataset.ids, tiny_dataset.texts[:-1], tiny_dataset.labels,
                          tiny_dataset.label_names, tiny_dataset.images)


def test_cli_help_lists_stages():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "data" in result.output


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, distilhash, distilhash.data, distilhash.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"



def test_limit_threads_caps_the_loaded_blas_pool():
    """numpy's BLAS is already loaded when the service starts: the cap must reach its pool, not
    only the environment (a 2-thread OpenBLAS helper spun after every small product)."""
    import json
    import os
    import subprocess
    import sys

    code = ("import numpy, json; from threadpoolctl import threadpool_info; from distilhash.threads import limit_threads; "
            "limit_threads(1); print(json.dumps([p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    pools = json.loads(out)
    assert pools and all(n == 1 for n in pools)
