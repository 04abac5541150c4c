"""`distilhash eval` command (stage module distilhash.cli.eval) on a fake model and features."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import typer
from typer.testing import CliRunner

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.methods.base import MethodBase
from distilhash.data.split import SplitSpec, make_split
from distilhash.teachers.features import FeatureSet


@dataclass
class _SignConfig(ConfigData):
    n_bits: int = 8


class _Sign(MethodBase):
    name = "sign"
    config_class = _SignConfig

    def encode(self, modality, feats, role="database"):
        return Encoded("binary", pack_bits(feats[:, :8] > 0), 8)


def test_eval_command_writes_report_and_plot(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 90
    image = rng.normal(size=(n, 12)).astype(np.float32)
    feats = FeatureSet(image=image, text=image + 0.3 * rng.normal(size=(n, 12)).astype(np.float32),
                       labels=(rng.random((n, 3)) < 0.4).astype(np.uint8), ids=[str(i) for i in range(n)],
                       manifest={"teacher": "fake"})
    split = make_split(n, SplitSpec(n_query=15, n_train=50, n_val=10))

    class _DS:
        name = "fake-ds"

    import distilhash.pipeline.inputs as inputs
    import distilhash.methods.base as base

    monkeypatch.setattr(inputs, "load_features_and_split", lambda d, t, f: (_DS(), split, feats, tmp_path / "feats"))
    monkeypatch.setattr(base, "load_method", lambda d: _Sign())
    from distilhash.cli.eval import command

    app = typer.Typer()
    app.command()(command)
    out = tmp_path / "ev"
    (tmp_path / "model").mkdir()  # the CLI checks that input directories exist while parsing
    res = CliRunner().invoke(app, [str(tmp_path / "model"), "--dataset", "fake-ds", "--top-n", "5", "--top-n", "40", "--tie-aware", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "report.json").read_text())
    assert rec["split_hash"] == split.hash and rec["tie_aware"] is True and rec["part"] == "query"
    assert set(rec["reports"]) == {"i2t", "t2i"}
    assert set(rec["reports"]["i2t"]["map_at"]) == {"5", "40"}
    assert rec["reports"]["t2i"]["n_queries"] == 15
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert "i2t: mAP@all=" in res.output
