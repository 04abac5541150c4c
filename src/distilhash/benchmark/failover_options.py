"""The command-line options every node-loss / failover trial benchmark shares.

``bench/replica_failover.py`` (the Ray fan-out in-process) and ``bench/serve_ray_failover.py``
(``distilhash serve --engine ray`` over HTTP) run the same shape of trial: a two-node cluster,
closed-loop clients, node 1 killed ``kill_at`` seconds in, a number of trials.
"""

from __future__ import annotations

import argparse

__all__ = ["add_failover_options"]


def add_failover_options(ap: argparse.ArgumentParser, out_name: str) -> argparse.ArgumentParser:
    """Add ``--trials --clients --seconds --kill-at --items --replicas --out-name`` to ``ap``; returns it."""
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--kill-at", type=float, default=10.0, help="seconds into a trial when node 1 is killed")
    ap.add_argument("--items", type=int, default=40_000)
    ap.add_argument("--replicas", type=int, default=2, help="actors per shard")
    ap.add_argument("--out-name", default=out_name)
    return ap
