"""``distilhash query-encoder fit`` / ``fit_query_encoder`` on a prepared dataset: split.train captions
only, the folder next to the model, reused on a second call, and picked up by search by default."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("model2vec")
pytest.importorskip("transformers")

from static_fixtures import make_tiny_tower  # noqa: E402


@pytest.fixture
def tiny_model(tiny_prepared, tmp_path, monkeypatch):
    """An ITQ model on the tiny prepared dataset whose 'features:' teacher gets the tiny text tower."""
    from distilhash.pipeline.train import train_model
    from distilhash.query_encoders.text_towers import TEXT_TOWERS

    teacher, split = tiny_prepared
    tower = make_tiny_tower(tmp_path / "tower")
    TEXT_TOWERS.register("features")(lambda arg=None: tower)
    try:
        train_model("itq", "tiny", teacher, bits=16, out=tmp_path / "model")
        yield tmp_path / "model", teacher, split
    finally:
        TEXT_TOWERS.unregister("features")


def test_fit_uses_split_train_captions_and_is_reused(tiny_model, monkeypatch):
    import distilhash.query_encoders.static_text_fit as fit_mod
    from distilhash.data.store import open_prepared
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.query_encoders.static_text_fit import StaticTextConfig

    model, teacher, split = tiny_model
    cfg = StaticTextConfig(pca_dims=0, tune_epochs=0)
    enc, path = fit_query_encoder(model, config=cfg)
    assert path == model / "static-text" and (path / "encoder.json").is_file()
    meta = json.loads((path / "encoder.json").read_text())
    assert meta["fit_part"] == "split.train" and meta["report"]["n_fit"] == len(split.train) and meta["dataset"] == "tiny"
    assert meta["split_hash"] == split.hash and enc.width == 16
    # the captions of split.train are the fit's: another split's captions give another fingerprint
    ds, _ = open_prepared("tiny")
    want = fit_mod.static_fingerprint(meta["teacher_fingerprint"], fit_mod.TextTower(**{**meta["tower"], "path": meta["tower"]["path"]}),
                                      [ds.texts[i] for i in np.asarray(split.train)], cfg, {"width": 16})
    assert want == enc.fingerprint and "tuning" not in meta["report"]

    monkeypatch.setattr(fit_mod, "distill_tower", lambda *a, **k: pytest.fail("distilled again"))
    again, _ = fit_query_encoder(model, config=cfg)
    assert again.fingerprint == enc.fingerprint


def test_tuning_trains_on_split_fit_and_is_selected_on_split_val(tiny_model):
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.query_encoders.static_text_fit import StaticTextConfig

    model, _, split = tiny_model
    enc, path = fit_query_encoder(model, config=StaticTextConfig(pca_dims=0, tune_epochs=3))
    tune = json.loads((path / "encoder.json").read_text())["report"]["tuning"]
    assert tune["n_fit"] == len(split.fit) and tune["n_val"] == len(split.val) and len(split.fit) + len(split.val) == len(split.train)
    assert "split.val captions vs split.fit images" in tune["val_metric"] and len(tune["val_scores"]) == 4
    assert tune["epoch"] == int(np.argmax(tune["val_scores"])) and tune["kept"] == (tune["epoch"] > 0)
    assert all(0.0 <= s <= 1.0 for s in tune["val_scores"])  # mAP values
    untuned, _ = fit_query_encoder(model, config=StaticTextConfig(pca_dims=0, tune_epochs=0), out=path.parent / "untuned")
    assert untuned.fingerprint != enc.fingerprint


def test_cli_fit_info_and_search_default_to_the_static_encoder(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from distilhash.pipeline.index import build_index
    from distilhash.pipeline.search import search_index

    model, teacher, _ = tiny_model
    runner = CliRunner()
    res = runner.invoke(app, ["query-encoder", "fit", "--model", str(model), "--pca-dims", "0"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "fingerprint" in res.output
    again = runner.invoke(app, ["query-encoder", "fit", "--model", str(model), "--pca-dims", "0"])
    assert again.exit_code == 0 and "reused (same fingerprint)" in again.output
    info = runner.invoke(app, ["query-encoder", "info", str(model)])
    assert info.exit_code == 0 and json.loads(info.output)["format"] == "distilhash-static-text/1"
    build_index(tmp_path / "ix", model=model, dataset="tiny", modality="image", teacher=teacher)
    found = search_index(tmp_path / "ix", texts=["label1 label3"], k=5)
    assert found.encoders == ["static"] and len(found.results[0].ids) == 5
    bad = runner.invoke(app, ["query-encoder", "fit", "--model", str(tmp_path)])
    assert bad.exit_code == 1 and "not a model directory" in bad.output
