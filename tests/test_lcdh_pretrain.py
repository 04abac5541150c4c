"""LCDH image-student warm start: label-free pretraining on a corpus, cached on disk, loaded by ``image_init``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.errors import ConfigError, DataError
from distilhash.methods.base import create_method
from distilhash.students.pretrain import (PRETRAIN_FILE, TRUNK_FILE, StudentPretrainConfig, ensure_pretrained,
                                          load_pretrained_trunk, pretrain_student)

ARCH = dict(image_size=16, channels=[8, 16, 16], stem="patch", patch=4)


def corpus(n: int = 240, seed: int = 1):
    """Pixels with coloured quadrants; targets = a fixed projection of the quadrant colours (learnable)."""
    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 40, (n, 16, 16, 3))
    code = rng.integers(0, 2, (n, 4))
    for q in range(4):
        r, c = (q // 2) * 8, (q % 2) * 8
        pix[code[:, q] == 1, r:r + 8, c:c + 8] = 220
    ds = CrossModalDataset(name="pretrain-corpus", ids=[f"p{i}" for i in range(n)], texts=[f"q{q}" for q in code.argmax(1)],
                           labels=np.zeros((n, 0), np.uint8), label_names=[], images=ArrayImageStore(pix.astype(np.uint8)))
    w = np.random.default_rng(0).normal(size=(4, 16))
    t = (code - 0.5) @ w
    return ds, (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)


def config(**kw):
    base = dict(objective="distill", width=16, epochs=6, batch_size=32, lr=1e-2, warmup_steps=2, n_val=40, max_minutes=None,
                flip=False, max_shift=0,
                **ARCH)
    return StudentPretrainConfig(**{**base, **kw})


def test_config_refuses_the_benchmark_and_unknown_options():
    with pytest.raises(ConfigError, match="benchmark"):
        StudentPretrainConfig(corpus_source="emoji-scenes")
    with pytest.raises(ConfigError, match="objective"):
        StudentPretrainConfig(objective="labels")
    with pytest.raises(ConfigError, match="unknown"):
        StudentPretrainConfig.from_kwargs(epochz=3)
    assert StudentPretrainConfig(epochs=3).key() != StudentPretrainConfig(epochs=4).key()
    assert StudentPretrainConfig(threads=1).key() == StudentPretrainConfig(threads=2).key()


def test_pretraining_fits_the_targets_and_is_reused(tmp_path):
    torch.set_num_threads(1)
    ds, u = corpus()
    cfg = config()
    info = pretrain_student(cfg, tmp_path / "p", corpus=ds, progress=False, targets={"image": u})
    hist = info["history"]
    assert (tmp_path / "p" / TRUNK_FILE).is_file() and (tmp_path / "p" / PRETRAIN_FILE).is_file()
    assert len(hist) == 6 and 0 <= info["kept_epoch"] < 6
    assert hist[info["kept_epoch"]]["val_loss"] == min(h["val_loss"] for h in hist)
    assert max(h["val_cos_teacher"] for h in hist) > 0.6  # the trunk learned the colour -> target map
    state, rec = load_pretrained_trunk(tmp_path / "p")
    assert rec["key"] == cfg.key() and any(k.endswith("weight") for k in state)
    mtime = (tmp_path / "p" / TRUNK_FILE).stat().st_mtime_ns
    assert ensure_pretrained(cfg, tmp_path / "p", progress=False) == tmp_path / "p"
    assert (tmp_path / "p" / TRUNK_FILE).stat().st_mtime_ns == mtime  # re-used, not refitted
    with pytest.raises(ConfigError, match="another config"):
        ensure_pretrained(config(epochs=2), tmp_path / "p", progress=False)
    with pytest.raises(DataError, match="shape"):
        pretrain_student(cfg, tmp_path / "q", corpus=ds, progress=False, targets={"image": u[:, :8]})
    with pytest.raises(ConfigError, match="not a student pretraining"):
        load_pretrained_trunk(tmp_path / "nothing")
    # the command re-uses the cached pretraining and reports it; bad options fail clearly
    from typer.testing import CliRunner

    from distilhash.cli.student import app

    sets = [x for k, v in cfg.to_dict().items() for x in ("--set", f"{k}={json.dumps(v)}")]
    res = CliRunner().invoke(app, ["pretrain", "--out", str(tmp_path / "p"), "--no-progress", *sets])
    assert res.exit_code == 0, res.output
    assert f"kept epoch {info['kept_epoch']}" in res.output
    assert (tmp_path / "p" / TRUNK_FILE).stat().st_mtime_ns == mtime
    res = CliRunner().invoke(app, ["pretrain", "--set", "objective=labels", "--no-progress"])
    assert res.exit_code == 1 and "objective" in res.output


def test_lcdh_warm_starts_its_trunk_from_the_pretraining(tmp_path):
    from test_lcdh import FAST, synth

    torch.set_num_threads(1)
    ds, fs, split = synth()
    cdata, u = corpus()
    pretrain_student(config(epochs=2), tmp_path / "p", corpus=cdata, progress=False, targets={"image": u})
    state, _ = load_pretrained_trunk(tmp_path / "p")
    cfg = dict(FAST, epochs_per_chunk=1, teacher_epochs=2, image_init=f"pretrained:{tmp_path / 'p'}", image_lr_scale=0.0)
    m = create_method("lcdh", **cfg).fit(fs, split, dataset=ds)
    got = m.student_.image_net.state_dict()
    weights = [k for k in state if "weight" in k or "bias" in k]
    assert weights and all(torch.equal(got[k], state[k]) for k in weights)  # loaded, and frozen by lr scale 0
    assert m.fit_info_["image_init"]["directory"] == str(tmp_path / "p")
    m.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "lcdh_state.json").read_text())["image_init"]["pretrain_key"] == config(epochs=2).key()
    moving = create_method("lcdh", **dict(cfg, image_lr_scale=1.0)).fit(fs, split, dataset=ds)
    assert not all(torch.equal(moving.student_.image_net.state_dict()[k], state[k]) for k in weights)
    with pytest.raises(ConfigError, match="trunk"):
        create_method("lcdh", **dict(cfg, image_channels=[8, 16])).fit(fs, split, dataset=ds)
    with pytest.raises(ConfigError, match="image_init"):
        create_method("lcdh", **dict(cfg, image_init="imagenet"))
