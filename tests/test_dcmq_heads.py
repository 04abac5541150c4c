"""DCMQ's head options: the residual head starts in the teacher's space and trains, saves and refuses bad widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError
from distilhash.methods.base import create_method, load_method
from distilhash.training.synthetic import synthetic_features
from distilhash.training.validation import retrieval_map

WIDTH = 24
FAST = dict(epochs=4, eval_every=1, patience=0, hidden_dim=32, batch_size=64, progress=False, lr=3e-3)
RESIDUAL = dict(image_head="residual", text_head="residual", embed_dim=WIDTH)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=WIDTH, n_query=80, n_train=360, n_val=60)


def test_residual_heads_start_as_the_teacher_space(data):
    fs, _ = data
    m = create_method("float-student", **RESIDUAL, **FAST)
    student = m.inputs.new_student(WIDTH).eval()
    x = torch.as_tensor(fs.text[:50], dtype=torch.float32)
    want = torch.nn.functional.normalize(x, dim=1)
    assert torch.allclose(student.embed("text", x), want, atol=1e-6)
    assert torch.allclose(student.embed("image", torch.as_tensor(fs.image[:50])), torch.nn.functional.normalize(
        torch.as_tensor(fs.image[:50]), dim=1), atol=1e-6)
    # the default MLP head does not (a random projection to embed_dim)
    mlp = create_method("float-student", embed_dim=WIDTH, **FAST).inputs.new_student(WIDTH).eval()
    assert not torch.allclose(mlp.embed("text", x), want, atol=1e-2)


def test_residual_dcmq_trains_moves_away_from_identity_and_round_trips(data, tmp_path):
    fs, split = data
    m = create_method("dcmq", n_bits=32, **RESIDUAL, **FAST).fit(fs, split)
    scores = retrieval_map(m, fs, split.query, split.retrieval)
    assert scores["t2i"] > 0.3 and scores["i2t"] > 0.3
    eye = torch.eye(WIDTH)
    assert not torch.allclose(m.model_.text.linear.weight.detach(), eye)  # trained, not frozen at identity
    db = m.encode("image", fs.image[split.retrieval], "database")
    assert db.kind == "pq" and db.data.shape == (len(split.retrieval), 4) and db.codebooks.shape == (4, 256, WIDTH // 4)
    m.save(tmp_path / "run")
    back = load_method(tmp_path / "run")
    assert np.array_equal(back.encode("image", fs.image[split.retrieval], "database").data, db.data)
    assert np.allclose(back.encode("text", fs.text[:20], "query").data, m.encode("text", fs.text[:20], "query").data)


def test_residual_head_needs_the_teacher_width(data):
    fs, split = data
    m = create_method("float-student", image_head="residual", embed_dim=16, **FAST)
    with pytest.raises(ConfigError, match=r"embed_dim must be the teacher's width 24"):
        m.fit(fs, split)
    with pytest.raises(ConfigError, match="text_head"):
        create_method("dcmq", text_head="linear-ish")


def test_trainable_backbone_refuses_residual_heads():
    from distilhash.methods.dcmq_trainable import DCMQTrainableConfig

    with pytest.raises(ConfigError, match="residual"):
        DCMQTrainableConfig(text_head="residual", embed_dim=384)


def test_pair_mrr_is_the_reciprocal_rank_of_each_partner(data):
    from distilhash.training.validation import pair_mrr

    fs, split = data
    m = create_method("float-student", **FAST).fit(fs, split)
    idx = np.asarray(split.val)
    got = pair_mrr(m, fs, idx)
    q = m.encode("text", fs.text[idx], "query").data
    x = m.encode("image", fs.image[idx], "database").data
    sims = q @ x.T
    ranks = 1 + (sims > np.diag(sims)[:, None]).sum(1)  # no exact ties between float cosines here
    assert got["t2i"] == pytest.approx(float(np.mean(1.0 / ranks)), abs=1e-5)
    assert got["mean"] == pytest.approx(0.5 * (got["i2t"] + got["t2i"]))


def test_labels_and_pairs_criterion_selects_on_their_mean(data):
    fs, split = data
    m = create_method("dcmq", n_bits=32, val_criterion="labels+pairs", embed_dim=WIDTH, **FAST).fit(fs, split)
    kept = m.fit_info_["val_map_at_kept"]
    assert kept["mean"] == pytest.approx(0.5 * (kept["label_mean"] + kept["pair_mean"]))
    assert 0 < kept["pair_mean"] <= 1 and 0 < kept["label_mean"] <= 1
    vals = {row["epoch"]: row["val"] for row in m.fit_info_["history"]}
    assert m.fit_info_["kept_epoch"] == max(vals, key=vals.get)
    with pytest.raises(ConfigError, match="val_criterion"):
        create_method("dcmq", val_criterion="captions")
