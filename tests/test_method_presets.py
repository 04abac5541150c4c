"""Method presets are data the demo and the benchmark suite share; each one makes a valid config."""

import json
from pathlib import Path

import pytest

from distilhash.errors import ConfigError
from distilhash.methods.base import create_method
from distilhash.methods.presets import PRESETS, preset_options

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("method,name", [(m, n) for m, ps in PRESETS.items() for n in ps])
def test_every_preset_makes_a_valid_method(method, name):
    model = create_method(method, n_bits=64, **preset_options(method, name))
    for key, value in preset_options(method, name).items():
        assert getattr(model.config, key) == value


def test_the_demo_and_the_suite_arm_use_the_same_open_vocab_options():
    from distilhash.demo.steps import DCMQ_PRESET

    suite = json.loads((ROOT / "bench" / "suites" / "openclipart-grouped-224.json").read_text())
    arm = next(m for m in suite["methods"] if m.get("label") == "dcmq/open-vocab")
    assert arm["config"] == preset_options("dcmq", DCMQ_PRESET)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="open-vocab"):
        preset_options("dcmq", "nope")
    with pytest.raises(ConfigError, match="none"):
        preset_options("pq", "open-vocab")
