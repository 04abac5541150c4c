"""`distilhash index ...` and `distilhash search ...` end to end, with a toy teacher and method."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.methods.base import METHODS, MethodBase
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS

pytest.importorskip("faiss")

WORDS = ["cat", "dog", "car", "tree", "boat", "fish", "star", "moon"]


class ToyTeacher(TeacherBase):
    """Bag-of-words texts; images -> mean colour channels mapped onto the same 8 axes."""

    name = "toy"
    width = 8

    def __init__(self, arg=None, **_):
        pass

    def encode_texts(self, texts, batch_size=256, progress=False):
        out = np.array([[1.0 if w in t.split() else 0.0 for w in WORDS] for t in texts], np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images, batch_size=64, progress=False):
        arr = np.stack([np.asarray(im, np.float32).mean(axis=(0, 1)) for im in images])
        out = np.concatenate([arr, arr[:, :2], arr[:, :3]], axis=1)[:, :8] - 100
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class _SignConfig(ConfigData):
    n_bits: int = 8


class ToySign(MethodBase):
    """sign(features - 0.1) as 8-bit codes."""

    name = "toy-sign"
    config_class = _SignConfig

    def __init__(self, **config):
        super().__init__(**config)
        self.teacher_spec_, self.feature_width_ = "toy", 8  # nothing to fit

    def encode(self, modality, features, role="database"):
        return Encoded("binary", pack_bits(features - 0.1), 8)

    def state_tensors(self):
        return {}

    def set_state(self, tensors, meta, directory):
        pass


if "toy" not in TEACHERS:
    TEACHERS.register("toy")(ToyTeacher)
if "toy-sign" not in METHODS:
    METHODS.register("toy-sign")(ToySign)


@pytest.fixture
def cli():
    from distilhash.cli.main import app

    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == code, res.output + str(res.exception)
        return res.output

    return run


def _encoded_file(tmp_path: Path, texts: list[str], ids: list[str]) -> Path:
    from distilhash.codes_file import save_encoded

    codes = ToySign().encode("text", ToyTeacher().encode_texts(texts))
    path = tmp_path / "codes.npz"
    save_encoded(path, {"text": codes}, indices=np.arange(len(ids)), ids=ids, role="database", part="all")
    return path


def test_build_add_delete_verify_info_search(tmp_path, cli):
    model = tmp_path / "model"
    model.mkdir()
    ToySign().save(model)
    texts = ["cat dog", "car boat", "tree moon star", "fish boat", "cat", "dog"]
    ids = [f"t{i}" for i in range(len(texts))]
    meta = tmp_path / "meta.jsonl"
    meta.write_text("".join(json.dumps({"id": i, "caption": t}) + "\n" for i, t in zip(ids, texts)))
    ix = tmp_path / "ix"
    out = cli("index", "build", ix, "--codes", _encoded_file(tmp_path, texts, ids), "--modality", "text",
              "--model", model, "--metadata", meta)
    assert "built" in out and "6 items" in out
    info = json.loads(cli("index", "info", ix, "--json"))
    assert info["count"] == 6 and info["kind"] == "binary" and info["teacher"] == "toy"

    res = json.loads(cli("search", ix, "--text", "car boat", "--k", "2", "--json"))
    assert res[0]["results"][0]["id"] == "t1" and res[0]["results"][0]["distance"] == 0
    assert res[0]["results"][0]["metadata"]["caption"] == "car boat"

    # add more (ids from the file must be new), then delete and check they are gone
    texts2 = ["star moon", "car"]
    f2 = tmp_path / "more"
    f2.mkdir()
    meta2 = tmp_path / "meta2.jsonl"
    meta2.write_text("".join(json.dumps({"id": i, "caption": t}) + "\n" for i, t in zip(["n0", "n1"], texts2)))
    cli("index", "add", ix, "--codes", _encoded_file(f2, texts2, ["n0", "n1"]), "--metadata", meta2)
    assert "already in the index" in cli("index", "add", ix, "--codes", _encoded_file(f2, texts2, ["n0", "n1"]), code=1)
    cli("index", "delete", ix, "t1")
    res = json.loads(cli("search", ix, "--text", "car boat", "--k", "8", "--json"))
    got = [r["id"] for r in res[0]["results"]]
    assert "t1" not in got and set(got) == {"t0", "t2", "t3", "t4", "t5", "n0", "n1"}
    cli("index", "delete", ix, "nope", code=1)
    assert "ok" in cli("index", "verify", ix)

    # image query through the same model
    from PIL import Image

    img = tmp_path / "q.png"
    Image.new("RGB", (4, 4), (200, 10, 10)).save(img)
    res = json.loads(cli("search", ix, "--image", img, "--k", "3", "--json"))
    assert len(res[0]["results"]) == 3
    cli("search", ix, code=2)
    cli("search", ix, "--image", tmp_path / "missing.png", code=2)  # refused while parsing (cli/checks.py)

    # damage -> verify and info fail with a clear message
    m = json.loads((ix / "manifest.json").read_text())
    f = ix / m["files"]["codes"]["name"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    out = cli("index", "verify", ix, code=1)
    assert "sha256 mismatch" in out
    cli("index", "info", ix, code=1)
