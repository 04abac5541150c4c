"""A cold ``distilhash search`` imports only what it uses: the static text encoder with a binary
(ITQ) or a PQ (DCMQ, numpy query head) index never imports torch, and gives what the Python API gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("model2vec")

from static_fixtures import captions, make_tiny_tower  # noqa: E402

from distilhash.index import create_index  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


def _build(root: Path, method_name: str, kind: str, **config) -> Path:
    """Fit ``method_name`` on synthetic features, fit its static encoder, index the retrieval items."""
    from distilhash.methods.base import create_method
    from distilhash.query_encoders.static_text import static_text_dir
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text
    from distilhash.training.synthetic import synthetic_features

    fs, split = synthetic_features(n=600, n_labels=8, width=32)
    method = create_method(method_name, n_bits=32 if kind == "binary" else 16, **config)
    method.fit(fs, split)
    model_dir = root / "model"
    method.save(model_dir)
    caps = captions(fs.labels)
    train = np.asarray(split.train)
    fit_static_text(make_tiny_tower(root / "tower"), [caps[i] for i in train], fs.text[train], static_text_dir(model_dir),
                    config=StaticTextConfig(pca_dims=0), cache_dir=root / "cache")
    db = np.asarray(split.retrieval)
    codes = method.encode("image", fs.image[db], "database")
    extra = {} if kind == "binary" else {"codebooks": codes.codebooks, "metric": codes.metric}
    with create_index(root / "ix", kind=kind, n_bits=codes.n_bits, model_dir=model_dir, teacher="synthetic", **extra) as idx:
        idx.add([f"s{i}" for i in db], codes, [{"caption": caps[i]} for i in db])
    return root / "ix"


@pytest.fixture(scope="module")
def binary_index(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("cold-binary"), "itq", "binary")


@pytest.fixture(scope="module")
def pq_index(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("cold-pq"), "dcmq", "pq", epochs=1, eval_every=1, batch_size=64, progress=False)


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    script = ("import sys\nfrom distilhash.cli.main import app\n"
              f"app({args!r}, standalone_mode=False)\n"
              "print('TORCH_LOADED', 'torch' in sys.modules, file=sys.stderr)\n"
              "print('FAISS_LOADED', 'faiss' in sys.modules, file=sys.stderr)\n"
              "print('TRANSFORMERS_LOADED', 'transformers' in sys.modules, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("which", ["binary_index", "pq_index"])
def test_static_text_search_imports_no_torch_and_matches_the_python_api(which, request):
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for

    ix = request.getfixturevalue(which)
    res = _run_cli(["search", str(ix), "--text", "tag1 tag3 scene", "--json", "-k", "5"])
    assert res.returncode == 0, res.stderr
    assert "TORCH_LOADED False" in res.stderr and "TRANSFORMERS_LOADED False" in res.stderr
    from distilhash.index import native

    if native.available():  # the native scans answer; FAISS is not needed either
        assert "FAISS_LOADED False" in res.stderr
    got = json.loads(res.stdout)[0]
    assert got["query"] == "tag1 tag3 scene" and len(got["results"]) == 5
    with open_index(ix) as idx:
        enc = query_encoder_for(idx)
        assert enc.capabilities.text.name == "static"
        want = idx.search(enc.encode_texts(["tag1 tag3 scene"]), 5)[0]
    assert [r["id"] for r in got["results"]] == want.ids


def test_the_numpy_query_head_gives_the_methods_own_query(pq_index):
    from distilhash.index import open_index
    from distilhash.methods.base import load_method
    from distilhash.query_encoders.numpy_heads import numpy_head_for

    with open_index(pq_index) as idx:
        model_dir = idx.manifest["model_dir"]
    head = numpy_head_for(model_dir)
    assert head is not None
    x = np.random.default_rng(0).normal(size=(7, 32)).astype(np.float32)
    for modality in ("text", "image"):
        want = load_method(model_dir).encode(modality, x, role="query")
        got = head.encode(modality, x)
        assert got.kind == want.kind == "float" and got.n_bits == want.n_bits
        assert np.allclose(got.data, want.data, atol=1e-5)


def test_unknown_query_encoder_is_refused(binary_index):
    res = _run_cli(["search", str(binary_index), "--text", "x", "--query-encoder", "heavy"])
    assert "expected one of auto, static, teacher" in res.stderr
