"""The body of a Ray shard actor: one shard opened read-only with its order file.

It answers a shard search on two transports with the same bytes
(:mod:`distilhash.distributed.wire`): the Ray method :meth:`ShardServer.items`, and, when the
fan-out hands it a secret, a data-plane endpoint (:mod:`distilhash.distributed.data_plane`)
listening on 127.0.0.1 when the actor runs on the driver's host, else on its node's Ray address;
:meth:`ShardServer.hello` tells the driver where.

Read-your-writes: before answering, the actor compares its shard's files on disk (names, sizes,
modification times: a few ``stat`` calls) with what it opened and reopens the shard (and its
order file) when they changed. Searches from both transports are serialised by one lock (the
shard's searcher and a reopen are not shared between threads).
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["ShardServer", "disk_state", "node_address"]


def disk_state(*paths: str) -> tuple:
    """(name, size, mtime_ns) of every file in the directories / of the files ``paths``."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for e in sorted(os.scandir(p), key=lambda e: e.name):
                if e.is_file():
                    st = e.stat()
                    out.append((p, e.name, st.st_size, st.st_mtime_ns))
        elif os.path.exists(p):
            st = os.stat(p)
            out.append((p, "", st.st_size, st.st_mtime_ns))
    return tuple(out)


def node_address(ray: Any) -> str:
    """This worker's node address as registered with Ray (``NodeManagerAddress``: the ``--node-ip-address``
    the node was started with; 127.0.0.1 for a local session), not the host's first interface."""
    me = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node.get("NodeID") == me:
            return str(node["NodeManagerAddress"])
    raise OSError(f"this worker's node {me} is not in the cluster's node table")


class ShardServer:
    """Actor body; ``data_plane``: ``{"secret": bytes, "driver_node": the driver's Ray node id,
    "driver_address": that node's Ray address}`` to open a socket endpoint (on 127.0.0.1 when the
    actor's node is the driver's or is registered at the same address, i.e. the same host; else on
    its node's Ray address), None for Ray calls only."""

    def __init__(self, directory: str, order_path: str, backend: str, searcher_options: dict[str, Any],
                 data_plane: dict[str, Any] | None = None) -> None:
        self.args = (directory, order_path, backend, searcher_options)
        self._lock = threading.Lock()
        self.opens = 0
        self.index: Any = None
        self._open()
        self.endpoint: tuple[str, int] | None = None
        self.endpoint_error = ""
        if data_plane is not None:
            self._listen(data_plane["secret"], data_plane["driver_node"], data_plane["driver_address"])

    def _listen(self, secret: bytes, driver_node: str, driver_address: str) -> None:
        import ray

        from distilhash.distributed.data_plane import DataPlaneError, DataPlaneServer

        try:
            mine = node_address(ray)
            same_host = ray.get_runtime_context().get_node_id() == driver_node or mine == driver_address
            self._server = DataPlaneServer(self._answer, "127.0.0.1" if same_host else mine, secret)
            self.endpoint = self._server.address
        except (OSError, DataPlaneError) as exc:  # the fan-out serves this shard through Ray calls
            self.endpoint_error = str(exc)

    def _open(self) -> None:
        from distilhash.index import IndexOptions, open_index
        from distilhash.index.shard_order import ShardOrder

        directory, order_path, backend, searcher_options = self.args
        state = disk_state(directory, order_path)
        old = self.index
        self.index = open_index(directory, options=IndexOptions(backend=backend, searcher_options=searcher_options))
        self.order = ShardOrder.load(order_path, self.index)
        self.index.searcher()
        self.state = state
        self.opens += 1
        if old is not None:
            old.close()

    def _fresh(self) -> None:
        if disk_state(*self.args[:2]) != self.state:
            self._open()

    def hello(self) -> dict[str, Any]:
        """``{"pid", "endpoint": (host, port) or None, "endpoint_error"}``: called once the actor has opened its shard."""
        return {"pid": os.getpid(), "endpoint": self.endpoint, "endpoint_error": self.endpoint_error}

    def pid(self) -> int:
        return os.getpid()

    def opened(self) -> int:
        """How many times this actor has opened its shard (1 + reopens after writes)."""
        return self.opens

    def candidates(self, query: Any, k: int) -> list[Any]:
        from distilhash.index.shard_order import shard_candidates

        with self._lock:
            self._fresh()
            return shard_candidates(self.index, self.order, query, k)

    def results(self, dist: Any, rows: Any) -> tuple:
        with self._lock:
            return tuple(self.index.results_of_rows(dist, rows))  # rows of the state candidates() just used

    def _answer(self, query: bytes, k: int) -> bytes:
        """Per query, the shard's top-k as :func:`~distilhash.distributed.wire.encode_items` bytes."""
        from distilhash.distributed.wire import decode_query, encode_items
        from distilhash.index.shard_order import shard_candidates
        from distilhash.index.sharded import strip_order

        q = decode_query(query)
        with self._lock:
            self._fresh()
            out = []
            for dist, gseq, rows in shard_candidates(self.index, self.order, q, k):
                res = self.index.results_of_rows(dist, rows)
                out.append((dist, gseq, res.ids, [strip_order(md) for md in res.metadata]))
        return encode_items(out)

    def items(self, query: bytes, k: int) -> bytes:
        """The Ray-call transport of a shard search (the data plane's fallback): the same bytes both ways.

        Bytes, not objects: Ray passes bytes as they are, where an object holding numpy arrays costs
        it more per call (measured: a no-op call to 4 actors took ~2.5 ms longer with the query
        object than with its bytes on the loaded 2-core host)."""
        return self._answer(query, k)
