"""Stored metadata comes back as ``json.loads`` reads it, whichever JSON reader the metadata store
uses (orjson when installed): big integers, NaN, lone surrogates and long floats included."""

from __future__ import annotations

import json
import math

import numpy as np

from distilhash.codes import Encoded
from distilhash.index import IndexOptions, create_index, open_index
from distilhash.index.metastore import _loads

ODD = ['{"a":NaN}', '{"a":1e400}', '{"a":123456789012345678901234567890}', '{"a":18446744073709551616}',
       '{"a":-9223372036854775809}', '{"a":"\\ud800"}', '{"a":1,"a":2}', '{"a":0.1000000000000000055511151231257827}',
       '{"a":-0.0}', '{"a":-0}', '{"a":4.9e-324}', '{"a":[1,2.5e-3,true,null,"caf\\u00e9"]}', '{"a":"x\\u0000y"}']


def test_loads_gives_what_json_gives():
    for text in ODD:
        assert repr(_loads(text)) == repr(json.loads(text)), text  # repr: 1 and 1.0, nan, -0.0 told apart


def test_odd_metadata_round_trips_through_an_index(tmp_path):
    meta = [{"big": 10**30, "neg": -(2**63) - 1, "nan": float("nan"), "tiny": 5e-324, "n": i}
            for i in range(5)]
    codes = np.random.default_rng(0).integers(0, 256, (5, 8), dtype=np.uint8)
    with create_index(tmp_path / "ix", kind="binary", n_bits=64, model_dir="m", teacher="t",
                      options=IndexOptions(bulk_threshold=1)) as idx:
        idx.add([f"i{i}" for i in range(5)], Encoded("binary", codes, 64), meta)
    with open_index(tmp_path / "ix") as idx:
        got = {md["n"]: md for r in idx.search(Encoded("binary", codes[:2], 64), 5) for md in r.metadata}
    for i, md in got.items():
        assert md["big"] == 10**30 and isinstance(md["big"], int) and md["neg"] == -(2**63) - 1
        assert math.isnan(md["nan"]) and md["tiny"] == 5e-324
