"""A search service over the Ray engine, for node-loss tests and benchmarks: serves until told to stop.

    python -m distilhash.distributed.serve_failover '{"address": A, "work": DIR, "replicas": 2, "n_items": 4000}'

(a driver process, :mod:`~distilhash.distributed.driver`; not a user program).

Run as a driver of a :class:`~distilhash.distributed.local_cluster.LocalCluster` (the cluster's
token in the environment before ray is imported). It builds a 4-shard index of captions made of
random words (codes from :func:`words_encoder`: the toy teacher's word-hash features, signed
random projections to 64 bits), serves it over HTTP on 127.0.0.1 with ``engine="ray"``
(``replicas`` actors per shard, replica r of shard s on node (s + r) mod nodes) and a write key,
prints one JSON line ``{"port", "key", "words", "shard_pids"}`` once listening, and serves until
SIGTERM.

:func:`run_trial` is the other side: it starts a two-node cluster and that service, runs HTTP
clients (one keep-alive connection per thread, one text query per request, k = 10), SIGKILLs every
process of node 1 by PID ``kill_at`` s in, and counts per request: failed (no 200 answer),
flagged partial, wrong without a flag (a silent partial answer), and, after deleting the top hits
through the service, stale results (deleted ids still returned).
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.distributed.driver import driver_command, driver_main
from distilhash.distributed.node_loss import ToyTeacher
from distilhash.methods.base import Capabilities
from distilhash.query_encoders.query_encoder import ModelQueryEncoder

__all__ = ["words_encoder", "WORDS", "build_index", "serve", "run_trial"]

WORDS = ("cat dog car tree boat fish star moon house bird lamp cup road hill rain sun snow leaf door key "
         "ship wolf bear rose kite drum bell coin ring book").split()


class _SignedProjection:
    """64-bit codes: signs of a fixed random projection of 16-d features (queries and items alike)."""

    name = "signed-projection"
    capabilities = Capabilities()  # reads teacher features

    def __init__(self, width: int = 16, n_bits: int = 64, seed: int = 0) -> None:
        self.projection = np.random.default_rng(seed).normal(size=(width, n_bits)).astype(np.float32)
        self.n_bits = n_bits
        self.feature_width_ = width

    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        return Encoded("binary", pack_bits(np.asarray(features, np.float32) @ self.projection), self.n_bits)


def words_encoder() -> ModelQueryEncoder:
    """A ready query encoder for :class:`~distilhash.serve.engine.SearchService` (``encoder=``): the toy
    teacher's features (no delay) and :class:`_SignedProjection`; texts only."""
    teacher = ToyTeacher(0.0)
    return ModelQueryEncoder.from_method(_SignedProjection(teacher.width), teacher)  # type: ignore[arg-type]


def build_index(directory: Path, n_items: int, n_shards: int = 4, seed: int = 0) -> list[str]:
    """A sharded index of ``n_items`` captions of 2-3 random words (ids ``item0000000``...); returns the captions."""
    from distilhash.index import create_sharded_index

    rng = np.random.default_rng(seed)
    captions = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 4)), replace=False)) for _ in range(n_items)]
    teacher = ToyTeacher(0.0)
    codes = _SignedProjection(teacher.width).encode("text", teacher.encode_texts(captions))
    with create_sharded_index(directory, n_shards, kind="binary", n_bits=64, teacher="toy-teacher",
                              extra={"modality": "text"}) as w:
        w.add([f"item{i:07d}" for i in range(n_items)], codes, [{"caption": c} for c in captions], snapshot=True)
    return captions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(address: str, work: Path, n_items: int = 4000, replicas: int = 2, failover_wait: float = 2.0,
          say: Any = print, data_plane: bool = True) -> None:
    """Build the index under ``work``, serve it with the Ray engine on a free loopback port until SIGTERM."""
    import uvicorn

    from distilhash.distributed.runtime import ray_session
    from distilhash.serve.app import create_app
    from distilhash.serve.engine import SearchService, ServiceConfig

    build_index(work / "ix", n_items)
    key = secrets.token_urlsafe(12)
    port = _free_port()
    with ray_session(address) as ray:
        config = ServiceConfig(api_key=key, engine="ray", engine_options={"replicas": replicas, "failover_wait": failover_wait,
                                                                          "data_plane": data_plane},
                               match_sample=0)
        svc = SearchService(work / "ix", config=config, encoder=words_encoder())
        app = create_app(work / "ix", service=svc)
        fan = svc.targets["text"].index.fanout
        pids = [[int(p) for p in ray.get([h.pid.remote() for h in hs])] for hs in fan.actors]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        say(json.dumps({"port": port, "key": key, "words": WORDS, "shard_pids": pids}), flush=True)
        while thread.is_alive():
            thread.join(0.2)
        say(json.dumps({"served": dict(fan.served)}), flush=True)  # shard answers by transport, and fallbacks


def _client(port: int, queries: list[str], expected: list[list[tuple]], t_kill: list[float], stop: Any,
            first: int, step: int, out: list[dict[str, Any]]) -> None:
    """One client thread: text queries ``first, first + step, ...`` (cyclic) over one connection until ``stop``."""
    import http.client
    import time
    import urllib.parse

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = first
    while not stop.is_set():
        q = i % len(queries)
        i += step
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"t": t0, "q": q}
        try:
            conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": queries[q], "k": 10}))
            resp = conn.getresponse()
            body = json.loads(resp.read())
            rec["status"] = resp.status
            if resp.status == 200:
                rec["partial"] = bool(body["partial"])
                rec["missing"] = body["missing_shards"]
                rec["wrong"] = [(x["id"], x["distance"]) for x in body["results"]] != expected[q] if expected else False
            else:
                rec["error"] = str(body.get("error", ""))[:200]
        except Exception as exc:  # noqa: BLE001 - a failed request is what we count
            rec["status"] = 0
            rec["error"] = f"{type(exc).__name__}: {exc}"[:200]
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rec["ms"] = (time.perf_counter() - t0) * 1e3
        out.append(rec)
    conn.close()


def run_trial(work: Path, clients: int = 8, seconds: float = 12.0, kill_at: float = 4.0, n_items: int = 4000,
              replicas: int = 2, grace: float = 2.0, seed: int = 0, data_plane: bool = True) -> dict[str, Any]:
    """One node-loss trial (module docstring); returns counts, latency percentiles (ms) and the errors seen.

    ``data_plane`` False: the service searches its shard actors through Ray calls only."""
    import os
    import subprocess
    import sys
    import threading
    import time
    import urllib.parse
    import urllib.request

    from distilhash.distributed.local_cluster import LocalCluster

    rng = np.random.default_rng(seed + 1)
    queries = [" ".join(rng.choice(WORDS, size=2, replace=False)) for _ in range(64)]
    with LocalCluster(nodes=2, cpus_per_node=1) as cluster:
        env = {**cluster.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(driver_command("distilhash.distributed.serve_failover", address=cluster.address,
                                               work=str(work), n_items=n_items, replicas=replicas, data_plane=data_plane),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if not line.startswith("{"):
                proc.kill()
                raise RuntimeError(f"the service did not start: {line}{proc.stderr.read()[-3000:]}")
            info = json.loads(line)
            port, key = info["port"], info["key"]

            def ask(q: str, k: int = 10) -> dict[str, Any]:
                url = f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode({"q": q, "k": k})
                with urllib.request.urlopen(url, timeout=30) as r:
                    return json.loads(r.read())

            expected = [[(x["id"], x["distance"]) for x in ask(q)["results"]] for q in queries]
            out: list[dict[str, Any]] = []
            stop = threading.Event()
            t_kill: list[float] = []
            threads = [threading.Thread(target=_client, args=(port, queries, expected, t_kill, stop, c, clients, out))
                       for c in range(clients)]
            t_start = time.perf_counter()
            for t in threads:
                t.start()
            killed: list[int] = []
            while time.perf_counter() - t_start < seconds:
                if not killed and time.perf_counter() - t_start >= kill_at:
                    t_kill.append(time.perf_counter())
                    killed = cluster.kill_node(1)
                time.sleep(0.02)
            stop.set()
            for t in threads:
                t.join()
            # read-your-writes: delete the current top hits of 8 queries, then ask each query 3 times
            gone = sorted({i for e in expected[:8] for i, _ in e[:2]})
            deleted = 0
            for item in gone:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/items/{item}", method="DELETE",
                                             headers={"X-API-Key": key})
                with urllib.request.urlopen(req, timeout=30) as r:
                    deleted += r.status == 200
            stale, partial_after = 0, 0
            for _ in range(3):
                for q in queries[:8]:
                    body = ask(q, 40)
                    stale += sum(x["id"] in gone for x in body["results"])
                    partial_after += bool(body["partial"])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            served = [json.loads(ln)["served"] for ln in proc.stdout.read().splitlines() if ln.startswith('{"served"')]
    tk = t_kill[0] if t_kill else float("inf")
    after = [r for r in out if r["t"] >= tk]
    late = [r for r in out if r["t"] >= tk + grace]
    ok = [r for r in out if r["status"] == 200]
    lat = np.array([r["ms"] for r in ok] or [np.nan])
    lat_after = np.array([r["ms"] for r in after if r["status"] == 200] or [np.nan])
    return {"requests": len(out), "after_kill_requests": len(after), "failed": sum(r["status"] != 200 for r in out),
            "failed_after_kill": sum(r["status"] != 200 for r in after), "failed_after_grace": sum(r["status"] != 200 for r in late),
            "grace_s": grace, "partial": sum(bool(r.get("partial")) for r in ok),
            "silent_wrong": sum(bool(r.get("wrong")) and not r.get("partial") for r in ok),
            "last_failure_after_kill_s": max([r["t"] - tk for r in after if r["status"] != 200], default=None),
            "errors": sorted({r.get("error", "") for r in out if r["status"] != 200})[:5],
            "deleted": deleted, "stale": stale, "partial_after_delete": partial_after,
            "killed_pids": killed, "shard_pids": info["shard_pids"], "p50_ms": float(np.nanpercentile(lat, 50)),
            "p99_ms": float(np.nanpercentile(lat, 99)), "after_kill_p99_ms": float(np.nanpercentile(lat_after, 99)),
            "after_kill_max_ms": float(np.nanmax(lat_after)), "clients": clients, "seconds": seconds, "kill_at": kill_at,
            "replicas": replicas, "items": n_items, "served": served[-1] if served else None}


def serve_driver(address: str, work: str, n_items: int = 4000, replicas: int = 2, failover_wait: float = 2.0,
                 data_plane: bool = True) -> dict[str, Any]:
    """The driver process's function (:func:`serve` until SIGTERM); its answer once stopped."""
    serve(address, Path(work), n_items, replicas, failover_wait, data_plane=data_plane)
    return {"stopped": True}


if __name__ == "__main__":
    driver_main(serve_driver)
