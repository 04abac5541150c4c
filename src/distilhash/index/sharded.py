"""A sharded code index: one manifest listing S shards, each a normal :class:`CodeIndex`.

Layout::

    INDEX_DIR/
      sharded.json       format, shard count, routing rule, next global order number,
                         kind / bits / model / teacher / extra (copied from the shards)
      shard-000/ ...     a normal index directory (see :mod:`distilhash.index.format`)
      order-000.bin      global order number of each of shard 0's items (:mod:`.shard_order`)

Routing: item ``i`` lives in shard ``blake2b_64(id) mod S`` (stable across runs and machines), so
add, delete and get touch only the owning shard.

Exact merge: a single index orders a result list by ``(distance, row)`` with rows in insertion
order. Every item of a sharded index carries its *global* insertion number ``g`` (reserved in
``sharded.json`` before the shard write, stored in the item's metadata under ``_gseq`` and
stripped from what callers see). Inside one shard, rows are in increasing ``g`` (items are added
in ``g`` order and compaction keeps the order), so each shard's top-k by ``(distance, row)`` is
its top-k by ``(distance, g)``, and the top-k of the union of the shards' top-k by
``(distance, g)`` is exactly the single index's answer over the same items added in the same
order::

    topk(q) = first k of sort_{(d, g)} ( U_s topk_s(q) )

A search runs in two phases: each shard returns its top-k *candidates* (distance, global order,
row; no metadata), in parallel through a fan-out (:mod:`distilhash.index.fanout`: threads in this
process by default, or Ray actors, registered by :mod:`distilhash.distributed.ray_fanout`); the
merge picks the k best; only those k items' ids and metadata are then read from their shards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import CodeKind, Encoded
from distilhash.errors import ConfigError, DataError, IndexCorruptError
from distilhash.index.core import CodeIndex, IndexOptions, SearchResult, VerifyReport, open_index, verify_index
from distilhash.index.create import create_index
from distilhash.index.fanout import create_fanout
from distilhash.index.shard_order import ORDER_KEY, ShardOrder
from distilhash.io_utils import atomic_write_json

__all__ = ["ShardedIndex", "create_sharded_index", "write_sharded_manifest", "shard_extra", "shard_name", "order_name", "open_sharded_index", "is_sharded", "shard_dirs", "shard_of",
           "SHARDED_MANIFEST", "ORDER_KEY", "merge_candidates", "merge_items", "strip_order", "verify_sharded_index"]

SHARDED_MANIFEST = "sharded.json"
FORMAT_NAME = "distilhash-sharded-index"
FORMAT_VERSION = 1


def shard_of(item_id: str, n_shards: int) -> int:
    """Owning shard of ``item_id``: first 8 bytes of blake2b(id) as an integer, mod ``n_shards``."""
    digest = hashlib.blake2b(str(item_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_shards


def shard_name(s: int) -> str:
    return f"shard-{s:03d}"


def order_name(s: int) -> str:
    return f"order-{s:03d}.bin"


def is_sharded(directory: str | Path) -> bool:
    """True when ``directory`` holds a sharded index (its ``sharded.json``)."""
    return (Path(directory) / SHARDED_MANIFEST).is_file()


def shard_dirs(directory: str | Path) -> list[Path]:
    """The shard directories ``sharded.json`` in ``directory`` lists."""
    directory = Path(directory)
    return [directory / n for n in json.loads((directory / SHARDED_MANIFEST).read_text()).get("shards") or []]


def strip_order(md: dict[str, Any]) -> dict[str, Any]:
    """An item's metadata without the global order number the sharded index keeps in it."""
    return {k: v for k, v in md.items() if k != ORDER_KEY}


def create_sharded_index(directory: str | Path, n_shards: int, kind: str = "binary", n_bits: int | None = None,
                         codebooks: np.ndarray | None = None, metric: str = "l2", model_dir: str | Path | None = None,
                         teacher: str | None = None, extra: dict[str, Any] | None = None,
                         options: IndexOptions | None = None, fanout: str = "threads") -> ShardedIndex:
    """Create ``n_shards`` empty shard indexes under ``directory`` and open the whole for writing."""
    directory = Path(directory)
    if n_shards < 1:
        raise ConfigError(f"a sharded index needs n_shards >= 1, got {n_shards}")
    if is_sharded(directory) or (directory / "manifest.json").exists():
        raise ConfigError(f"{directory} already holds an index; open it or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        create_index(directory / shard_name(s), kind=kind, n_bits=n_bits, codebooks=codebooks, metric=metric,
                     model_dir=model_dir, teacher=teacher, extra=shard_extra(extra, s, n_shards)).close()
    write_sharded_manifest(directory, n_shards, kind, model_dir, teacher, extra, next_gseq=0)
    return open_sharded_index(directory, writable=True, options=options, fanout=fanout)


def shard_extra(extra: dict[str, Any] | None, s: int, n_shards: int) -> dict[str, Any]:
    """The ``extra`` manifest field of shard ``s``: the index's, plus its shard number and count."""
    return {**(extra or {}), "shard": s, "n_shards": n_shards}


def write_sharded_manifest(directory: Path, n_shards: int, kind: str, model_dir: str | Path | None, teacher: str | None,
                           extra: dict[str, Any] | None, next_gseq: int) -> None:
    """Write ``sharded.json`` (atomically): what makes ``directory`` a sharded index of its ``shard-NNN`` directories."""
    atomic_write_json(Path(directory) / SHARDED_MANIFEST, {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "n_shards": n_shards,
        "routing": "blake2b64(id) mod n_shards", "shards": [shard_name(s) for s in range(n_shards)],
        "next_gseq": int(next_gseq), "kind": str(kind), "model_dir": str(model_dir) if model_dir is not None else None,
        "teacher": teacher, "extra": extra or {},
    })


def open_sharded_index(directory: str | Path, writable: bool = False, verify_checksums: bool = True,
                       options: IndexOptions | None = None, fanout: str = "threads",
                       fanout_options: dict[str, Any] | None = None) -> ShardedIndex:
    """Open a sharded index; every shard is opened (and checked) like a normal index.

    ``fanout_options`` go to the fan-out (e.g. ``{"replicas": 2}`` for ``ray``). Following the
    writer's commits (``IndexOptions(follow=True)``) is for single indexes: refused here.
    """
    if options is not None and options.follow:
        raise ConfigError(f"{directory}: a sharded index cannot be followed (IndexOptions(follow=True) is for single "
                          "indexes); reopen it to see another process's changes")
    return ShardedIndex(Path(directory), writable, verify_checksums, options, fanout, fanout_options)


def verify_sharded_index(directory: str | Path, options: IndexOptions | None = None) -> VerifyReport:
    """:func:`~distilhash.index.core.verify_index` of every shard of a sharded index
    (problems prefixed by the shard name; a shard the manifest lists but that is missing is a problem)."""
    directory = Path(directory)
    rep = VerifyReport()
    try:
        names = json.loads((directory / SHARDED_MANIFEST).read_text())["shards"]
    except (OSError, ValueError, KeyError) as exc:
        rep.problems.append(f"{directory / SHARDED_MANIFEST}: unreadable sharded index manifest ({exc})")
        return rep
    for name in names:
        r = verify_index(directory / name, options)
        rep.problems += [f"{name}: {p}" for p in r.problems]
        rep.notes += [f"{name}: {n}" for n in r.notes]
        rep.files_checked += [f"{name}/{f}" for f in r.files_checked]
    return rep


class ShardedIndex:
    """S shard indexes searched as one (see module docstring); same verbs as :class:`CodeIndex`."""

    def __init__(self, directory: Path, writable: bool, verify_checksums: bool, options: IndexOptions | None,
                 fanout: str = "threads", fanout_options: dict[str, Any] | None = None) -> None:
        self.directory = directory
        self.writable = writable
        self.fanout: Any = None  # set once every shard is open (close() may run before)
        mpath = directory / SHARDED_MANIFEST
        try:
            self.sharded = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"{mpath}: cannot read the sharded index manifest ({exc})") from None
        if self.sharded.get("format") != FORMAT_NAME or self.sharded.get("format_version") != FORMAT_VERSION:
            raise IndexCorruptError(f"{mpath}: format {self.sharded.get('format')!r} v{self.sharded.get('format_version')}; "
                                    f"expected {FORMAT_NAME!r} v{FORMAT_VERSION}")
        names = self.sharded.get("shards") or []
        if len(names) != self.sharded.get("n_shards") or not names:
            raise IndexCorruptError(f"{mpath}: lists {len(names)} shards but n_shards is {self.sharded.get('n_shards')}")
        self.shards: list[CodeIndex] = []
        try:
            for name in names:
                self.shards.append(open_index(directory / name, writable=writable, verify_checksums=verify_checksums,
                                              options=options))
        except BaseException:
            self.close()
            raise
        first = self.shards[0]
        for s, shard in enumerate(self.shards[1:], 1):
            if (shard.kind, shard.n_bits, shard.code_size) != (first.kind, first.n_bits, first.code_size):
                self.close()
                raise IndexCorruptError(f"{directory / names[s]} holds {shard.kind} {shard.n_bits}-bit codes; "
                                        f"shard 0 holds {first.kind} {first.n_bits}-bit codes")
        self.orders = [ShardOrder.load(directory / order_name(s), shard) for s, shard in enumerate(self.shards)]
        self.options = options or IndexOptions()
        self.fanout = create_fanout(fanout, self, **(fanout_options or {}))

    # -- what CodeIndex callers read ----------------------------------------------------------
    @property
    def n_shards(self) -> int:
        return len(self.shards)

    @property
    def kind(self) -> CodeKind:
        return self.shards[0].kind

    @property
    def n_bits(self) -> int:
        return self.shards[0].n_bits

    @property
    def code_size(self) -> int:
        return self.shards[0].code_size

    @property
    def codebooks(self) -> np.ndarray | None:
        return self.shards[0].codebooks

    @property
    def metric(self) -> str | None:
        return self.shards[0].metric

    @property
    def manifest(self) -> dict[str, Any]:
        """The shared fields of a :class:`CodeIndex` manifest (kind, bits, model, teacher, extra) + shard info."""
        m = self.shards[0].manifest
        return {**{k: m.get(k) for k in ("kind", "n_bits", "code_size", "pq")}, **self.sharded,
                "count": len(self)}

    @property
    def backend(self) -> str:
        return self.shards[0].backend

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    @property
    def count(self) -> int:
        return len(self)

    # -- writes -------------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self.writable:
            raise ConfigError(f"{self.directory} is open read-only; open it with writable=True")

    def _reserve(self, n: int) -> int:
        """Reserve ``n`` global order numbers (durably, before any shard is written); returns the first."""
        start = int(self.sharded["next_gseq"])
        self.sharded["next_gseq"] = start + n
        atomic_write_json(self.directory / SHARDED_MANIFEST, self.sharded)
        return start

    def add(self, ids: list[str], codes: Encoded | np.ndarray, metadata: list[dict[str, Any]] | None = None,
            snapshot: bool | None = None) -> None:
        """Add items, each to its owning shard; results order ties by this call's order after earlier adds.

        ``snapshot`` is passed to each shard's :meth:`CodeIndex.add` (True: a new snapshot per shard, for builds).
        """
        self._require_writable()
        ids = [str(i) for i in ids]
        data = codes.data if isinstance(codes, Encoded) else np.asarray(codes)
        if data.ndim != 2 or data.shape[0] != len(ids):
            raise DataError(f"{len(ids)} ids but codes of shape {data.shape}")
        metadata = [{} for _ in ids] if metadata is None else list(metadata)
        if len(metadata) != len(ids):
            raise DataError(f"{len(ids)} ids but {len(metadata)} metadata entries")
        if not ids:
            return
        if len(set(ids)) != len(ids):
            raise DataError("an id appears twice in one add")
        for i, md in zip(ids, metadata):
            if not isinstance(md, dict):
                raise DataError(f"metadata of {i!r} must be a dict, got {type(md).__name__}")
            if ORDER_KEY in md:
                raise DataError(f"metadata of {i!r} uses the reserved key {ORDER_KEY!r}")
        owner = np.array([shard_of(i, self.n_shards) for i in ids], dtype=np.int64)
        for s in np.unique(owner):  # refuse before writing anything: an id already present anywhere
            rows = np.flatnonzero(owner == s)
            present = self.shards[s].get([ids[r] for r in rows])
            if present:
                raise DataError(f"{len(present)} ids are already in the index, e.g. {sorted(present)[:5]}; delete them first")
        start = self._reserve(len(ids))
        for s in np.unique(owner):
            rows = np.flatnonzero(owner == s)
            part = codes.take(rows) if isinstance(codes, Encoded) else data[rows]
            shard = self.shards[s]
            shard.add([ids[r] for r in rows], part, [{**metadata[r], ORDER_KEY: start + int(r)} for r in rows], snapshot=snapshot)
            n_rows = int(shard.info()["rows"])  # the new items are the shard's last rows
            self.orders[s].append(shard.row_seqs(np.arange(n_rows - len(rows), n_rows)), start + rows)

    def delete(self, ids: list[str], missing_ok: bool = False) -> int:
        """Delete items by id from their owning shards; returns how many were deleted."""
        self._require_writable()
        ids = list(dict.fromkeys(str(i) for i in ids))
        groups = self._route(ids)
        if not missing_ok:
            found = sum(len(self.shards[s].get(part)) for s, part in groups.items())
            if found < len(ids):
                present = set().union(*(self.shards[s].get(part) for s, part in groups.items()))
                missing = [i for i in ids if i not in present]
                raise DataError(f"{len(missing)} ids are not in the index, e.g. {missing[:5]}")
        return sum(self.shards[s].delete(part, missing_ok=True) for s, part in groups.items())

    def compact(self) -> None:
        self._require_writable()
        for shard in self.shards:
            shard.compact()

    def _route(self, ids: list[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for i in ids:
            groups.setdefault(shard_of(i, self.n_shards), []).append(i)
        return groups

    # -- reads --------------------------------------------------------------------------------
    def searcher(self) -> list[Any]:
        """Build (warm) every shard's in-memory searcher; returns them."""
        return [s.searcher() for s in self.shards]

    def search(self, query: Encoded | np.ndarray, k: int = 10) -> list[SearchResult]:
        """Top-k live items per query over all shards, identical to one index over the same items.

        Raises ClusterError naming the shards when a fan-out could not reach every shard (see
        :meth:`search_partial` for an answer from the shards it did reach).
        """
        results, missing = self.search_partial(query, k)
        if missing:
            raise self.fanout.missing_error(missing)
        return results

    def search_partial(self, query: Encoded | np.ndarray, k: int = 10) -> tuple[list[SearchResult], list[int]]:
        """(results, missing shards): the top-k over the shards the fan-out reached, and the ones it did not.

        ``missing`` is empty for the in-process fan-outs and for a Ray fan-out with every shard
        reachable; then the results equal :meth:`search`'s. A partial answer is never returned
        without its ``missing`` list.
        """
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        if self.fanout.fetches_items:  # [shard][query] -> (distances, g, ids, metadata): one round trip per shard
            items, missing = self.fanout.items_partial(query, k)
            return [merge_items([shard[q] for shard in items], k) for q in range(len(items[0]))], missing
        per_shard, missing = self.fanout.candidates_partial(query, k)  # [shard][query] -> (distances, g, rows)
        merged = [merge_candidates([shard[q] for shard in per_shard], k) for q in range(len(per_shard[0]))]
        ids = [[""] * len(d) for d, _ in merged]
        metas: list[list[dict[str, Any]]] = [[{}] * len(d) for d, _ in merged]
        for s in range(self.n_shards):  # one metadata read per shard for the whole query batch
            wanted = [(q, picks[s]) for q, (_, picks) in enumerate(merged) if s in picks]
            if not wanted:
                continue
            rows = np.concatenate([r for _, (_, r) in wanted])
            dist = np.concatenate([merged[q][0][pos] for q, (pos, _) in wanted])
            res = self.fanout.results(s, dist, rows)
            at = 0
            for q, (positions, _) in wanted:
                for p in positions:
                    ids[q][p], metas[q][p] = res.ids[at], strip_order(res.metadata[at])
                    at += 1
        return [SearchResult(ids[q], d, metas[q]) for q, (d, _) in enumerate(merged)], missing

    def search_radius(self, query: Encoded | np.ndarray, radius: int) -> list[SearchResult]:
        """Binary only: every live item within Hamming ``radius``, by (distance, global order)."""
        per_shard = [s.search_radius(query, radius) for s in self.shards]
        return merge_topk(per_shard, None)

    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray:
        """Codes of up to ``n`` live items drawn at random over all shards (each shard in proportion to its size)."""
        rng = np.random.default_rng(seed)
        sizes = np.array([len(s) for s in self.shards], dtype=np.int64)
        take = rng.multivariate_hypergeometric(sizes, int(min(n, sizes.sum())))
        parts = [s.sample_codes(int(t), seed + i) for i, (s, t) in enumerate(zip(self.shards, take))]
        return np.concatenate(parts)

    def get(self, ids: list[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        for s, part in self._route(list(ids)).items():
            for i, (code, md) in self.shards[s].get(part).items():
                out[i] = (code, strip_order(md))
        return out

    def iter_metadata(self, chunk: int = 20_000, include_deleted: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(id, metadata)`` of every live item, shard after shard."""
        for shard in self.shards:
            for i, md in shard.iter_metadata(chunk, include_deleted):
                yield i, strip_order(md)

    def verify(self) -> VerifyReport:
        """See :func:`verify_sharded_index`."""
        return verify_sharded_index(self.directory, self.options)

    def info(self) -> dict[str, Any]:
        """Summary like :meth:`CodeIndex.info` plus per-shard counts."""
        infos = [s.info() for s in self.shards]
        out = dict(infos[0])
        n = max(1, len(self))
        out.update(directory=str(self.directory), count=len(self), rows=sum(i["rows"] for i in infos),
                   deleted_pending=sum(i["deleted_pending"] for i in infos), n_shards=self.n_shards,
                   shard_counts=[i["count"] for i in infos], fanout=self.fanout.name,
                   model_dir=self.sharded.get("model_dir"), teacher=self.sharded.get("teacher"),
                   extra=self.sharded.get("extra", {}),
                   disk_bytes=sum(i["disk_bytes"] for i in infos))
        out["disk_bytes_per_item"] = out["disk_bytes"] / n
        out.pop("files", None)
        if all("memory_bytes_per_item" in i for i in infos):
            out["memory_bytes_per_item"] = sum(i["memory_bytes_per_item"] * max(1, i["count"]) for i in infos) / n
        return out

    def close(self) -> None:
        if self.fanout is not None:
            self.fanout.close()
        for s in self.shards:
            s.close()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ShardedIndex({str(self.directory)!r}, shards={self.n_shards}, kind={self.kind!r}, count={len(self)})"


def merge_candidates(cands: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Merge one query's per-shard candidates ``(distances, order numbers, rows)`` by (distance, order number).

    Returns the k best distances and, per shard, ``(positions in the merged list, shard rows)``.
    """
    dist = np.concatenate([c[0] for c in cands])
    order_key = np.concatenate([c[1] for c in cands])
    rows = np.concatenate([c[2] for c in cands])
    shard = np.concatenate([np.full(len(c[0]), s, dtype=np.int64) for s, c in enumerate(cands)])
    best = np.lexsort((order_key, dist))[:k]
    picks = {int(s): (np.flatnonzero(shard[best] == s), rows[best][shard[best] == s]) for s in np.unique(shard[best])}
    return dist[best], picks


def merge_items(items: list[tuple[np.ndarray, np.ndarray, list[str], list[dict[str, Any]]]], k: int) -> SearchResult:
    """Merge one query's per-shard top-k ``(distances, order numbers, ids, metadata)`` by (distance, order number)."""
    dist = np.concatenate([np.asarray(c[0]) for c in items])
    order_key = np.concatenate([np.asarray(c[1], dtype=np.int64) for c in items])
    ids = [i for c in items for i in c[2]]
    metas = [md for c in items for md in c[3]]
    best = np.lexsort((order_key, dist))[:k]
    return SearchResult([ids[i] for i in best], dist[best], [metas[i] for i in best])


def merge_topk(per_shard: list[list[SearchResult]], k: int | None) -> list[SearchResult]:
    """Merge per-shard result lists (``[shard][query]``) by ``(distance, global order)``; first ``k`` (all if None).

    Each result's metadata must carry :data:`ORDER_KEY`; the merged results have it removed.
    """
    n_queries = len(per_shard[0]) if per_shard else 0
    out: list[SearchResult] = []
    for q in range(n_queries):
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        dists: list[np.ndarray] = []
        for shard_results in per_shard:
            r = shard_results[q]
            ids += r.ids
            metas += r.metadata
            dists.append(np.asarray(r.distances))
        dist = np.concatenate(dists) if dists else np.empty(0)
        try:
            order_key = np.array([md[ORDER_KEY] for md in metas], dtype=np.int64)
        except KeyError:
            raise IndexCorruptError(f"a shard item has no {ORDER_KEY!r} in its metadata (not written by ShardedIndex.add)") from None
        order = np.lexsort((order_key, dist))
        if k is not None:
            order = order[:k]
        out.append(SearchResult([ids[i] for i in order], dist[order], [strip_order(metas[i]) for i in order]))
    return out
