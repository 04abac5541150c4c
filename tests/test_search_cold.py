"""A cold ``distilhash search`` imports only what it uses: light encoder + binary index -> no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.index import create_index

SRC = Path(__file__).resolve().parents[1] / "src"


def _captions(labels: np.ndarray) -> list[str]:
    return [" ".join(f"tag{j}" for j in np.flatnonzero(row)) + " scene" for row in labels]


@pytest.fixture(scope="module")
def light_binary_index(tmp_path_factory) -> Path:
    from distilhash.methods.base import create_method
    from distilhash.query_encoders.light_text import LightTextConfig, light_text_dir
    from distilhash.query_encoders.light_text_fit import fit_light_text
    from distilhash.training.synthetic import synthetic_features

    root = tmp_path_factory.mktemp("cold")
    fs, split = synthetic_features(n=600, n_labels=8, width=32)
    method = create_method("itq", n_bits=32)
    method.fit(fs, split)
    model_dir = root / "model"
    method.save(model_dir)
    caps = _captions(fs.labels)
    light = fit_light_text([caps[i] for i in split.fit], fs.text[split.fit], [caps[i] for i in split.val], fs.text[split.val],
                           LightTextConfig(min_count=1), progress=False)
    light.save(light_text_dir(model_dir))
    db = np.asarray(split.retrieval)
    with create_index(root / "ix", kind="binary", n_bits=32, model_dir=model_dir, teacher="synthetic") as idx:
        codes: Encoded = method.encode("image", fs.image[db], "database")
        idx.add([f"s{i}" for i in db], codes, [{"caption": caps[i]} for i in db])
    return root / "ix"


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    script = ("import sys\nfrom distilhash.cli.main import app\n"
              f"app({args!r}, standalone_mode=False)\n"
              "print('TORCH_LOADED', 'torch' in sys.modules, file=sys.stderr)\n"
              "print('FAISS_LOADED', 'faiss' in sys.modules, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)


def test_light_text_search_on_a_binary_index_does_not_import_torch(light_binary_index):
    res = _run_cli(["search", str(light_binary_index), "--text", "tag1 tag3 scene", "--query-encoder", "light", "--json", "-k", "5"])
    assert res.returncode == 0, res.stderr
    assert "TORCH_LOADED False" in res.stderr
    from distilhash.index import native

    if native.available():  # the native scan answers; FAISS is not needed either
        assert "FAISS_LOADED False" in res.stderr
    payload = json.loads(res.stdout)
    assert payload[0]["query"] == "tag1 tag3 scene" and len(payload[0]["results"]) == 5
    assert all(r["id"].startswith("s") for r in payload[0]["results"])


def test_light_search_matches_the_python_api(light_binary_index):
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for
    from distilhash.query_encoders.light_text import light_text_dir

    with open_index(light_binary_index) as idx:
        enc = query_encoder_for(idx, light_dir=light_text_dir(idx.manifest["model_dir"]))
        want = idx.search(enc.encode_texts(["tag2 scene"]), 4)[0]
    res = _run_cli(["search", str(light_binary_index), "--text", "tag2 scene", "--query-encoder", "light", "--json", "-k", "4"])
    got = json.loads(res.stdout)[0]["results"]
    assert [r["id"] for r in got] == want.ids


def test_unknown_query_encoder_is_refused(light_binary_index):
    res = _run_cli(["search", str(light_binary_index), "--text", "x", "--query-encoder", "heavy"])
    assert "expected 'teacher' or 'light'" in res.stderr
