"""evaluate_method wiring (parts, directions, roles), report serialisation and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.methods.base import MethodBase
from distilhash.data.split import SplitSpec, make_split
from distilhash.errors import DataError
from distilhash.eval.metrics import RetrievalReport, evaluate, evaluate_method
from distilhash.teachers.features import FeatureSet


@dataclass
class _SignConfig(ConfigData):
    n_bits: int = 8


class SignHash(MethodBase):
    """A tiny method: sign of the first n_bits feature dims; records the encode calls."""

    name = "sign"
    config_class = _SignConfig

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int, str]] = []

    def encode(self, modality, feats, role="database"):
        self.calls.append((modality, len(feats), role))
        return Encoded("binary", pack_bits(feats[:, : self.n_bits] > 0), self.n_bits)


def _features(n=120, d=16, c=4, seed=0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.35).astype(np.uint8)
    image = rng.normal(size=(n, d)).astype(np.float32)
    text = (image + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    return FeatureSet(image=image, text=text, labels=labels, ids=[str(i) for i in range(n)])


def test_evaluate_method_directions_and_parts():
    feats = _features()
    split = make_split(len(feats), SplitSpec(n_query=20, n_train=60, n_val=15))
    method = SignHash()
    out = evaluate_method(method, feats, split, part="query", top_n=(5, 50))
    assert set(out) == {"i2t", "t2i"}
    assert method.calls == [("image", 20, "query"), ("text", 100, "database"), ("text", 20, "query"), ("image", 100, "database")]
    q, db = split.query, split.retrieval
    enc = lambda x: method.encode("image", x)  # noqa: E731
    direct = evaluate(enc(feats.image[q]), enc(feats.text[db]), feats.labels[q], feats.labels[db], top_n=(5, 50))
    assert out["i2t"].map_all == pytest.approx(direct.map_all, abs=1e-12)
    assert out["i2t"].map_at == pytest.approx(direct.map_at, abs=1e-12)
    val = evaluate_method(SignHash(), feats, split, part="val")
    assert val["t2i"].n_queries == len(split.val) and val["t2i"].n_database == len(split.fit)
    with pytest.raises(DataError, match="part='test'"):
        evaluate_method(method, feats, split, part="test")


def test_report_json_round_trip_and_plots(tmp_path):
    feats = _features()
    split = make_split(len(feats), SplitSpec(n_query=20, n_train=60, n_val=15))
    reports = evaluate_method(SignHash(), feats, split, top_n=(10,))
    rep = reports["i2t"]
    assert rep.pr_axis == "hamming_radius" and len(rep.pr_curve[0]) == SignHash().n_bits + 1
    back = RetrievalReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.map_at == rep.map_at and back.map_all == rep.map_all
    np.testing.assert_allclose(back.pr_curve[1], rep.pr_curve[1])
    # recall over radius grows to the fraction of queries with a relevant item
    assert np.all(np.diff(rep.pr_curve[1]) >= -1e-12)
    assert rep.pr_curve[1][-1] == pytest.approx(1 - rep.n_without_relevant / rep.n_queries)

    from distilhash.eval.plots import plot_directions, plot_pr

    floats = {"float": evaluate(Encoded("float", feats.image[:20], 512), Encoded("float", feats.text[20:], 512),
                                feats.labels[:20], feats.labels[20:])}
    for path in (plot_pr({**reports, **floats}, tmp_path / "pr.png"),
                 plot_directions({"i2t": {"sign": reports["i2t"]}, "t2i": {"sign": reports["t2i"]}}, tmp_path / "d.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_style_call_without_top_n_or_curves():
    feats = _features()
    split = make_split(len(feats), SplitSpec(n_query=20, n_train=60, n_val=15))
    out = evaluate_method(SignHash(), feats, split, part="val", top_n=(), curves=False)
    assert out["i2t"].map_at == {} and 0.0 <= out["i2t"].map_all <= 1.0
