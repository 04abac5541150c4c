"""Seeded query / train / retrieval splits with a validation part carved from train.

Convention (DCMH and successors): queries are held out; the retrieval set is the rest (or a
given number); the train set is a subset of retrieval. A validation part is carved from train and
is the only data used for model selection: methods fit on ``split.fit`` (= train minus val).

The split is saved as JSON and identified by a hash of its index arrays and of the dataset's
content hash, recorded by every result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from distilhash.errors import DataError
from distilhash.io_utils import atomic_write_json

__all__ = ["SplitSpec", "Split", "PRESETS", "make_split", "preset"]


@dataclass(frozen=True)
class SplitSpec:
    """Split sizes. ``n_retrieval=None`` means "every item that is not a query"."""

    n_query: int
    n_train: int
    n_retrieval: int | None = None
    n_val: int = 1000
    seed: int = 0


#: Conventional split sizes of the standard benchmarks (see shared/PROTOCOL.md).
PRESETS: dict[str, SplitSpec] = {
    "mirflickr25k": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18015, n_val=1000),
    "nuswide21": SplitSpec(n_query=2100, n_train=10500, n_retrieval=None, n_val=1050),
    "mscoco": SplitSpec(n_query=5000, n_train=10000, n_retrieval=None, n_val=1000),
    "iaprtc12": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18000, n_val=1000),
    "emoji-scenes": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18015, n_val=1000),
    # About 3,860 items after de-duplication and the collection cap (docs/dataset-openclipart.md):
    # 1,000 queries, every other item in retrieval, 2,500 of them train, 500 of train for validation.
    "openclipart": SplitSpec(n_query=1000, n_train=2500, n_retrieval=None, n_val=500),
}


def preset(name: str, seed: int = 0) -> SplitSpec:
    """The preset split spec ``name`` with the given seed."""
    if name not in PRESETS:
        raise DataError(f"unknown split preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    spec = PRESETS[name]
    return SplitSpec(spec.n_query, spec.n_train, spec.n_retrieval, spec.n_val, seed)


@dataclass(frozen=True)
class Split:
    """Index arrays (int64, into the dataset) of each part, plus provenance.

    Attributes:
        query: held-out queries.
        retrieval: the database searched by the queries.
        train: training items, a subset of retrieval.
        val: validation items, a subset of train (model selection only).
        spec: the sizes and seed the split was drawn with.
        dataset_hash: content hash of the dataset it indexes.
    """

    query: np.ndarray
    retrieval: np.ndarray
    train: np.ndarray
    val: np.ndarray
    spec: SplitSpec
    dataset_hash: str

    @property
    def fit(self) -> np.ndarray:
        """Training items minus the validation part: what methods are fitted on."""
        return np.setdiff1d(self.train, self.val, assume_unique=True)

    @property
    def hash(self) -> str:
        """Identifier of this exact split (12 hex digits)."""
        h = hashlib.sha256(self.dataset_hash.encode())
        for part in (self.query, self.retrieval, self.train, self.val):
            h.update(np.asarray(part, dtype=np.int64).tobytes())
            h.update(b"|")
        return h.hexdigest()[:12]

    def sizes(self) -> dict[str, int]:
        return {
            "query": len(self.query),
            "retrieval": len(self.retrieval),
            "train": len(self.train),
            "val": len(self.val),
            "fit": len(self.fit),
        }

    def check_sizes(self, n_items: int) -> None:
        """Raise DataError unless parts are in range, queries disjoint from retrieval, val ⊂ train ⊂ retrieval."""
        for name in ("query", "retrieval", "train", "val"):
            part = getattr(self, name)
            if len(part) and (part.min() < 0 or part.max() >= n_items):
                raise DataError(f"split part {name} indexes outside the dataset's {n_items} items")
            if len(np.unique(part)) != len(part):
                raise DataError(f"split part {name} has repeated indices")
        if np.intersect1d(self.query, self.retrieval).size:
            raise DataError("split: query and retrieval sets overlap")
        if np.setdiff1d(self.train, self.retrieval).size:
            raise DataError("split: train is not a subset of retrieval")
        if np.setdiff1d(self.val, self.train).size:
            raise DataError("split: val is not a subset of train")

    def to_json(self) -> dict:
        return {
            "hash": self.hash,
            "dataset_hash": self.dataset_hash,
            "spec": asdict(self.spec),
            "query": self.query.tolist(),
            "retrieval": self.retrieval.tolist(),
            "train": self.train.tolist(),
            "val": self.val.tolist(),
        }

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path, dataset_hash: str | None = None) -> Split:
        """Load a saved split; checks its stored hash and, if given, the dataset hash."""
        path = Path(path)
        try:
            obj = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read split file {path}: {exc}") from exc
        missing = {"hash", "dataset_hash", "spec", "query", "retrieval", "train", "val"} - obj.keys()
        if missing:
            raise DataError(f"split file {path} lacks keys {sorted(missing)}")
        split = cls(
            query=np.asarray(obj["query"], dtype=np.int64),
            retrieval=np.asarray(obj["retrieval"], dtype=np.int64),
            train=np.asarray(obj["train"], dtype=np.int64),
            val=np.asarray(obj["val"], dtype=np.int64),
            spec=SplitSpec(**obj["spec"]),
            dataset_hash=obj["dataset_hash"],
        )
        if split.hash != obj["hash"]:
            raise DataError(f"split file {path}: stored hash {obj['hash']} does not match its contents ({split.hash})")
        if dataset_hash is not None and dataset_hash != split.dataset_hash:
            raise DataError(
                f"split file {path} was drawn for dataset {split.dataset_hash}, not for this dataset ({dataset_hash})"
            )
        return split


def make_split(n_items: int, spec: SplitSpec, dataset_hash: str = "") -> Split:
    """Draw a split of ``n_items`` items.

    A permutation seeded by ``spec.seed`` is cut into queries (first ``n_query``) and retrieval
    (the next ``n_retrieval`` or all the rest); train is the first ``n_train`` of retrieval (in
    permuted order) and val the last ``n_val`` of train. Index arrays are kept sorted.
    """
    n_ret = n_items - spec.n_query if spec.n_retrieval is None else spec.n_retrieval
    need = spec.n_query + n_ret
    if spec.n_query <= 0 or n_ret <= 0 or need > n_items:
        raise DataError(
            f"split needs {spec.n_query} queries + {n_ret} retrieval items but the dataset has {n_items}"
        )
    if not 0 < spec.n_train <= n_ret:
        raise DataError(f"split: n_train={spec.n_train} must be in 1..{n_ret} (train is a subset of retrieval)")
    if not 0 <= spec.n_val < spec.n_train:
        raise DataError(f"split: n_val={spec.n_val} must be smaller than n_train={spec.n_train}")
    perm = np.random.default_rng(spec.seed).permutation(n_items)
    query = perm[: spec.n_query]
    retrieval = perm[spec.n_query : spec.n_query + n_ret]
    train = retrieval[: spec.n_train]
    val = train[spec.n_train - spec.n_val :]
    split = Split(
        query=np.sort(query),
        retrieval=np.sort(retrieval),
        train=np.sort(train),
        val=np.sort(val),
        spec=spec,
        dataset_hash=dataset_hash,
    )
    split.check_sizes(n_items)
    return split
