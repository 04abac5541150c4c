"""TOY (scratch): an alias directory opens and verifies as the index it names."""
import json

import numpy as np

from distilhash.codes import Encoded
from distilhash.index import create_index, open_index, verify_index
from distilhash.index.protocol import Index


def test_alias_layout(tmp_path):
    codes = np.random.default_rng(0).integers(0, 256, (20, 4), dtype=np.uint8)
    ix = create_index(tmp_path / "real", "binary", 32)
    ix.add([f"i{j}" for j in range(20)], codes)
    ix.close()
    (tmp_path / "alias").mkdir()
    (tmp_path / "alias" / "alias.json").write_text(json.dumps({"target": "../real"}))
    ix = open_index(tmp_path / "alias")
    assert isinstance(ix, Index) and len(ix) == 20
    assert ix.search(Encoded("binary", codes[:1], 32), 1)[0].ids == ["i0"]
    assert verify_index(tmp_path / "alias").ok
