"""Seeded query / train / retrieval splits with a validation part carved from train.

Convention (DCMH and successors): queries are held out; the retrieval set is the rest (or a
given number); the train set is a subset of retrieval. A validation part is carved from train and
is the only data used for model selection: methods fit on ``split.fit`` (= train minus val).

The split is saved as JSON and identified by a hash of its index arrays and of the dataset's
content hash (and, for a grouped split, of its ``group_by``), recorded by every result.

A grouped split (``SplitSpec.group_by``, e.g. ``"title+text+dhash"`` for openclipart) keeps every
group of :func:`distilhash.data.split_groups.group_ids` on one side of each cut: a collection, a
caption or a drawing filed twice is never both a query and a database item, nor both validation
and fit. Ungrouped splits (``group_by=""``, every split drawn before grouping existed) keep their
hash, so an old split is recognisable by its spec and hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from distilhash.errors import DataError
from distilhash.io_utils import atomic_write_json

__all__ = ["SplitSpec", "Split", "PRESETS", "make_split", "preset", "auto_spec", "MIN_AUTO_ITEMS"]


@dataclass(frozen=True)
class SplitSpec:
    """Split sizes. ``n_retrieval=None`` means "every item that is not a query".

    ``origin`` records how the sizes were chosen: ``"preset:NAME"`` (a benchmark's conventional
    split), ``"auto"`` (scaled to the collection, :func:`auto_spec`), ``"sizes"`` (given by the
    user) or ``""`` (unknown, older files). It is provenance only: the split hash ignores it.
    ``group_by`` names the group keys whose groups stay on one side of every cut
    (:mod:`distilhash.data.split_groups`; ``""``: item-level, as every split drawn before it existed).
    """

    n_query: int
    n_train: int
    n_retrieval: int | None = None
    n_val: int = 1000
    seed: int = 0
    origin: str = ""
    group_by: str = ""


#: Conventional split sizes of the standard benchmarks (see docs/metrics.md).
PRESETS: dict[str, SplitSpec] = {
    "mirflickr25k": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18015, n_val=1000),
    "nuswide21": SplitSpec(n_query=2100, n_train=10500, n_retrieval=None, n_val=1050),
    "mscoco": SplitSpec(n_query=5000, n_train=10000, n_retrieval=None, n_val=1000),
    "iaprtc12": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18000, n_val=1000),
    "emoji-scenes": SplitSpec(n_query=2000, n_train=10000, n_retrieval=18015, n_val=1000),
    # About 3,860 items after de-duplication and the collection cap (docs/dataset-openclipart.md):
    # 1,000 queries, every other item in retrieval, 2,500 of them train, 500 of train for validation;
    # a title stem (collection), a caption or a drawing (dHash) stays on one side (issue 23).
    "openclipart": SplitSpec(n_query=1000, n_train=2500, n_retrieval=None, n_val=500, group_by="title+text+dhash"),
}


def preset(name: str, seed: int = 0) -> SplitSpec:
    """The preset split spec ``name`` with the given seed."""
    if name not in PRESETS:
        raise DataError(f"unknown split preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    spec = PRESETS[name]
    return dataclasses.replace(spec, seed=seed, origin=f"preset:{name}")


#: Smallest collection :func:`auto_spec` splits: 1 query + 2 fit items + 1 validation item.
MIN_AUTO_ITEMS = 4


def auto_spec(n_items: int, seed: int = 0, query_share: float = 0.1, val_share: float = 0.1,
              max_query: int = 2000, max_train: int = 10000, max_val: int = 1000) -> SplitSpec:
    """Split sizes scaled to a collection of ``n_items`` (own collections, no benchmark preset).

    ``n_query = clip(round(query_share * N), 1, max_query)``; retrieval = every other item;
    ``n_train = min(N - n_query, max_train)``; ``n_val = clip(round(val_share * n_train), 1, max_val)``
    with at least 2 items left to fit on. For N = 30: 3 queries, 27 retrieval = train, 3 val, 24 fit;
    for N = 20,015 the MIRFlickr-like 2000 / 18,015 / 10,000 / 1000.

    Raises:
        DataError: when ``n_items < MIN_AUTO_ITEMS`` (nothing can be held out).
    """
    if n_items < MIN_AUTO_ITEMS:
        raise DataError(
            f"a collection of {n_items} item(s) is too small to split: a split holds out at least 1 query and "
            f"1 validation item and fits on at least 2, so it needs {MIN_AUTO_ITEMS} items or more"
        )
    n_query = int(min(max(round(query_share * n_items), 1), max_query, n_items - 3))
    n_train = int(min(n_items - n_query, max_train))
    n_val = int(min(max(round(val_share * n_train), 1), max_val, n_train - 2))
    return SplitSpec(n_query=n_query, n_train=n_train, n_retrieval=None, n_val=n_val, seed=seed, origin="auto")


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
        if self.spec.group_by:  # grouped splits are told apart from item-level ones even by equal arrays
            h.update(f"group_by={self.spec.group_by}|".encode())
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
        fields = {f.name for f in dataclasses.fields(SplitSpec)}
        if not isinstance(obj["spec"], dict) or set(obj["spec"]) - fields:
            raise DataError(f"split file {path}: spec {obj['spec']!r}; expected the keys {sorted(fields)}")
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


def make_split(n_items: int, spec: SplitSpec, dataset_hash: str = "", groups: np.ndarray | None = None) -> Split:
    """Draw a split of ``n_items`` items.

    A permutation seeded by ``spec.seed`` is cut into queries (first ``n_query``) and retrieval
    (the next ``n_retrieval`` or all the rest); train is the first ``n_train`` of retrieval (in
    permuted order) and val the last ``n_val`` of train. Index arrays are kept sorted.

    With ``spec.group_by``, ``groups`` (int ``[n_items]``, :func:`~distilhash.data.split_groups.group_ids`)
    is required and whole groups are dealt instead of items (:func:`_grouped_cut`).
    """
    if spec.n_query <= 0:
        raise DataError(f"split: n_query={spec.n_query}; at least 1 query item is needed")
    if spec.n_query >= n_items:
        raise DataError(f"split: {spec.n_query} queries leave no retrieval item in a dataset of {n_items} items "
                        f"(queries are held out; use fewer, e.g. --queries {max(1, n_items // 10)})")
    n_ret = n_items - spec.n_query if spec.n_retrieval is None else spec.n_retrieval
    if n_ret <= 0:
        raise DataError(f"split: n_retrieval={n_ret}; at least 1 retrieval item is needed")
    if spec.n_query + n_ret > n_items:
        raise DataError(
            f"split needs {spec.n_query} queries + {n_ret} retrieval items = {spec.n_query + n_ret}, "
            f"but the dataset has {n_items} items"
            + (f" (the {spec.origin[len('preset:'):]} preset is for the benchmark's own files; for another collection "
               "leave the preset out: sizes are then scaled to it)" if spec.origin.startswith("preset:") else "")
        )
    if not 0 < spec.n_train <= n_ret:
        raise DataError(f"split: n_train={spec.n_train} must be in 1..{n_ret} (train is a subset of retrieval)")
    if not 0 <= spec.n_val < spec.n_train:
        raise DataError(f"split: n_val={spec.n_val} must be smaller than n_train={spec.n_train}")
    if spec.group_by:
        if groups is None or len(groups) != n_items:
            raise DataError(f"split: group_by={spec.group_by!r} needs one group id per item ({n_items}); "
                            f"got {None if groups is None else len(groups)}")
        query, retrieval, train, val = _grouped_cut(np.asarray(groups), spec, n_ret)
    else:
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


def _take_groups(members: list[np.ndarray], want: int, what: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Deal whole groups, in order, into a part of exactly ``want`` items: a group that does not fit in
    what is left is passed over (it stays for the next part). ``(taken, passed over)``."""
    taken: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    left = want
    for g in members:
        if 0 < len(g) <= left:
            taken.append(g)
            left -= len(g)
        else:
            rest.append(g)
    if left:
        raise DataError(f"split: cannot fill {what} with exactly {want} items from whole groups ({left} short); "
                        "use other sizes or a split without group_by")
    return taken, rest


def _grouped_cut(groups: np.ndarray, spec: SplitSpec, n_ret: int) -> tuple[np.ndarray, ...]:
    """(query, retrieval, train, val) index arrays dealt as whole groups in a seeded group order.

    Queries take groups first; then retrieval, train (from retrieval) and val (from train, its
    groups never in fit). Every cut has exactly the spec's size, else DataError.
    """
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(spec.seed).permutation(int(inverse.max()) + 1)
    by_group: list[list[int]] = [[] for _ in range(len(order))]
    for i, g in enumerate(inverse):
        by_group[g].append(i)
    members = [np.asarray(by_group[g], dtype=np.int64) for g in order]
    q, rest = _take_groups(members, spec.n_query, "the queries")
    r, _ = _take_groups(rest, n_ret, "the retrieval set") if spec.n_retrieval is not None else (rest, [])
    t, _ = _take_groups(r, spec.n_train, "the train set")
    # val is carved from the end of train, as in the item-level split
    v_rev, _ = _take_groups(t[::-1], spec.n_val, "the validation set") if spec.n_val else ([], [])
    return _cat(q), _cat(r), _cat(t), _cat(v_rev)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)
