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


#: options the open-vocab preset gained after the committed suites ran it (those runs used the default then)
ADDED_AFTER_THE_SUITES = {"val_criterion": "labels"}


@pytest.mark.parametrize("suite_name", ["openclipart-grouped-224", "openclipart-grouped-224-short"])
def test_the_demo_and_the_suite_arm_use_the_same_open_vocab_options(suite_name):
    """The suites' ``dcmq/open-vocab`` arm is the demo's preset as it was when they ran: the same options, except
    those added since, which the arm left at the method's default."""
    from distilhash.demo.steps import DCMQ_PRESET
    from distilhash.methods.dcmq import DCMQConfig

    suite = json.loads((ROOT / "bench" / "suites" / f"{suite_name}.json").read_text())
    arm = next(m for m in suite["methods"] if m.get("label") == "dcmq/open-vocab")
    preset = preset_options("dcmq", DCMQ_PRESET)
    assert {k: v for k, v in preset.items() if k not in ADDED_AFTER_THE_SUITES} == arm["config"]
    for key, then in ADDED_AFTER_THE_SUITES.items():
        assert key not in arm["config"] and getattr(DCMQConfig(), key) == then != preset[key]


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="open-vocab"):
        preset_options("dcmq", "nope")
    with pytest.raises(ConfigError, match="none"):
        preset_options("pq", "open-vocab")
