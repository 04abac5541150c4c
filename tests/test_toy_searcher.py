"""TOY (scratch): an index opened with backend="toy-bits" answers as the numpy searcher does."""
import numpy as np

from distilhash.codes import Encoded
from distilhash.index import create_index, open_index
from distilhash.index.options import IndexOptions


def test_toy_searcher_through_an_index(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (50, 4), dtype=np.uint8)
    ix = create_index(tmp_path / "ix", "binary", 32)
    ix.add([f"i{j}" for j in range(50)], codes)
    ix.close()
    toy = open_index(tmp_path / "ix", options=IndexOptions(backend="toy-bits"))
    ref = open_index(tmp_path / "ix", options=IndexOptions(backend="numpy"))
    q = Encoded("binary", codes[:3], 32)
    assert toy.backend == "toy-bits"
    a, b = toy.search(q, 5), ref.search(q, 5)
    assert [r.ids for r in a] == [r.ids for r in b]
