"""The Method contract: every registered method is a MethodBase with declared capabilities, one
config path (unknown keys refused, JSON round trip), a fitted check, and the shared save/load."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from distilhash.config_dataclass import ConfigData, build_config
from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import (
    METHODS,
    Capabilities,
    MethodBase,
    NotFittedError,
    create_method,
    list_methods,
    load_method,
    method_class,
    method_from_json,
)

#: every method the library registers (read from the registry; tests may add toys to it)
BUILT_IN = [n for n in list_methods() if method_class(n).__module__.startswith("distilhash.")]


def test_every_registered_method_declares_its_capabilities():
    assert {"dcmq", "lcdh", "lsh", "pq"} <= set(BUILT_IN)
    for name in BUILT_IN:
        cls = method_class(name)
        assert issubclass(cls, MethodBase) and cls.name == name
        assert isinstance(cls.capabilities, Capabilities), name
        assert issubclass(cls.config_class, ConfigData), name
    caps = {name: method_class(name).capabilities for name in BUILT_IN}
    assert [n for n, c in caps.items() if c.input == "raw"] == ["lcdh"]
    assert sorted(n for n, c in caps.items() if c.bits_independent) == ["float-student", "float-teacher", "random"]
    assert [n for n, c in caps.items() if c.streaming] == ["lcdh"]
    assert sorted(n for n, c in caps.items() if c.data_parallel) == ["dcmh", "dcmq", "float-student", "soda"]
    with pytest.raises(ConfigError, match="input"):
        Capabilities(input="pixels")


@pytest.mark.parametrize("name", BUILT_IN)
def test_unknown_config_key_is_refused_with_the_valid_keys(name):
    with pytest.raises(ConfigError, match=r"unknown option\(s\) n_bitz; valid keys: .*n_bits"):
        create_method(name, n_bitz=16)


@pytest.mark.parametrize("name", BUILT_IN)
def test_config_json_round_trip(name, tmp_path):
    method = create_method(name, n_bits=32, seed=3)
    config = method.config
    text = config.to_json(tmp_path / "config.json")
    assert json.loads(text) == json.loads((tmp_path / "config.json").read_text())
    assert type(config).from_json(tmp_path / "config.json") == config
    # a run declared in a file: the shape of a saved method.json, overrides on top
    (tmp_path / "run.json").write_text(json.dumps({"method": name, "config": method.config_dict()}))
    again = method_from_json(tmp_path / "run.json", seed=4)
    assert type(again) is type(method) and again.config.seed == 4
    assert {k: v for k, v in again.config_dict().items() if k != "seed"} == \
        {k: v for k, v in method.config_dict().items() if k != "seed"}


def test_json_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        method_from_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        method_from_json(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="'method' is missing"):
        method_from_json('{"config": {}}')
    with pytest.raises(ConfigError, match="unknown option"):
        method_from_json('{"method": "lsh", "config": {"bitz": 3}}')


@pytest.mark.parametrize("name", BUILT_IN)
def test_encoding_an_unfitted_method_is_a_clear_error(name, tmp_path):
    method = create_method(name, n_bits=16)
    assert not method.is_fitted
    x = np.zeros((2, 8), np.float32)
    with pytest.raises(NotFittedError, match=f"{name}.*not fitted"):
        if method.capabilities.input == "raw":
            method.encode_raw("text", ["a cat"])
        else:
            method.encode("image", x)
    with pytest.raises(NotFittedError):
        method.save(tmp_path / "m")
    assert not (tmp_path / "m" / "method.json").exists()


def test_features_methods_refuse_raw_items_and_raw_methods_refuse_features():
    with pytest.raises(ConfigError, match="teacher features"):
        create_method("lsh").encode_raw("text", ["a cat"])
    with pytest.raises(FeatureError, match="raw pixels / words"):
        create_method("lcdh").encode("image", np.zeros((2, 8), np.float32))


def test_shared_save_load_and_encode_dataset_rows(tmp_path):
    from distilhash.training.synthetic import synthetic_features

    feats, split = synthetic_features(n=300, n_labels=10, width=16, model="low-rank", n_query=40, n_train=150, n_val=30)
    m = create_method("itq", n_bits=16).fit(feats, split)
    assert m.teacher_spec_ == str(feats.teacher) and m.feature_width_ == feats.width
    m.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"method.json", "weights.safetensors", "fit_info.json"}
    back = load_method(tmp_path / "m")
    assert back.fit_info_ == json.loads(json.dumps(m.fit_info_)) and back.feature_width_ == feats.width
    rows = split.query[:5]
    np.testing.assert_array_equal(back.encode_dataset_rows("text", rows, "query", features=feats).data,
                                  m.encode("text", feats.text[rows], "query").data)
    with pytest.raises(ConfigError, match="needs the dataset"):
        create_method("lcdh").encode_dataset_rows("image", rows, features=feats)


def test_build_config_is_the_one_path_from_keys_to_a_dataclass(tmp_path):
    @dataclass
    class Toy(ConfigData):
        n_bits: int = 64

    assert build_config(Toy, {"n_bits": 8}) == Toy(8) == Toy.from_kwargs(n_bits=8) == Toy.from_json('{"n_bits": 8}')
    with pytest.raises(ConfigError, match="toy thing: unknown option"):
        build_config(Toy, {"bits": 8}, "toy thing")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        Toy.from_json(tmp_path / "list.json")


def test_registry_is_lazy_and_lists_declared_names():
    from distilhash.registry import Registry

    reg = Registry("widget", modules={"json-widget": "json"})
    assert "json-widget" in reg and reg.declared() == ["json-widget"]
    with pytest.raises(ConfigError, match="valid names: json-widget"):
        reg.get("nope")
    assert "lcdh" in METHODS.declared()
