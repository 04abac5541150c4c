"""Check every alive Ray node before work starts: the same distilhash, the paths the work reads.

    check_nodes(ray, paths={"dataset": ds_dir, "model": model_dir})

One zero-CPU task is pinned to each alive node (``NodeAffinitySchedulingStrategy``, not soft). It
reports the node's distilhash version and a hash of its source files, its Python, its
``DISTILHASH_HOME`` and which of ``paths`` it can read. Anything that differs from the driver, or
any path a node cannot read, is one :class:`~distilhash.distributed.pool.ClusterError` listing
every node's problems (instead of a raw ``ActorDiedError`` from an actor's ``__init__`` later).
A node that cannot even import distilhash is reported the same way; a node that dies during the
check is skipped (no work will be placed on it).

A :class:`~distilhash.distributed.pool.WorkerPool` made with ``check_paths`` runs the same
comparison (:func:`compare_facts`) inside each worker as it starts instead (no extra process per
node; the nodes that get no worker get no work either), and fails with the same ClusterError
before any of that worker's results is used.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["check_nodes", "compare_facts", "node_facts", "code_hash", "alive_nodes"]


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    """``ray.nodes()`` entries of the alive nodes."""
    return [n for n in ray.nodes() if n.get("Alive")]


def code_hash() -> str:
    """sha256 (16 hex) over the relative paths and bytes of distilhash's ``*.py`` files."""
    import distilhash

    root = Path(distilhash.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def node_facts(paths: dict[str, str]) -> dict[str, Any]:
    """What this process (on some node) has: versions, code hash, DISTILHASH_HOME, unreadable ``paths``."""
    import distilhash
    from distilhash.paths import home

    unreadable = {name: p for name, p in paths.items() if not (os.path.exists(p) and os.access(p, os.R_OK))}
    return {"version": distilhash.__version__, "code": code_hash(), "python": sys.version.split()[0],
            "home": str(home()), "home_readable": home().is_dir() and os.access(home(), os.R_OK),
            "unreadable": unreadable, "host": os.uname().nodename, "pid": os.getpid()}


def compare_facts(mine: dict[str, Any], f: dict[str, Any], name: str, *, need_home: bool = False,
                  paths_everywhere: bool = True) -> list[str]:
    """What differs between the driver's :func:`node_facts` ``mine`` and a node's ``f`` (``name`` prefixes each problem)."""
    problems = []
    if f["version"] != mine["version"] or f["code"] != mine["code"]:
        problems.append(f"{name}: distilhash {f['version']} (source hash {f['code']}) but the driver has "
                        f"{mine['version']} ({mine['code']}); install the same version on every node")
    if f["python"].rsplit(".", 1)[0] != mine["python"].rsplit(".", 1)[0]:
        problems.append(f"{name}: Python {f['python']}, the driver {mine['python']}")
    for k, p in (f["unreadable"] if paths_everywhere else {}).items():
        problems.append(f"{name}: cannot read the {k} at {p} (every node needs it at the same path, "
                        "e.g. on a shared file system)")
    if need_home and mine["home_readable"] and not f["home_readable"]:
        problems.append(f"{name}: DISTILHASH_HOME {f['home']} is not a readable directory there")
    return problems


def check_nodes(ray: Any, paths: dict[str, str | Path] | None = None, timeout: float = 60.0,
                need_home: bool = False, paths_everywhere: bool = True) -> dict[str, dict[str, Any]]:
    """Facts of every alive node (node id -> :func:`node_facts`); ClusterError listing every mismatch.

    Args:
        paths: name -> path every node must read (a dataset, a model, index shards).
        paths_everywhere: False: a node that cannot read some of ``paths`` is no problem (its facts'
            ``unreadable`` say which; the caller places work next to the data).
        need_home: each node's ``DISTILHASH_HOME`` must be a readable directory too (when the driver's is
            one: a driver without a home yet has nothing there the nodes must agree on).
        timeout: seconds to wait for all nodes' answers.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from distilhash.errors import ClusterError

    want = {k: str(Path(v).resolve()) for k, v in (paths or {}).items()}
    mine = node_facts(want)
    task = ray.remote(num_cpus=0, max_retries=0)(node_facts)
    nodes = alive_nodes(ray)
    refs = {n["NodeID"]: task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(want) for n in nodes}
    where = {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in nodes}
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
    problems, facts = [], {}
    for node, ref in refs.items():
        name = f"node {node[:8]} ({where[node]})"
        if ref not in ready:
            problems.append(f"{name}: did not answer within {timeout:.0f} s")
            continue
        try:
            f = ray.get(ref)
        except (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError,
                ray.exceptions.WorkerCrashedError, ray.exceptions.LocalRayletDiedError):
            continue  # the node died during the check: nothing will be placed there (the pool copes)
        except Exception as exc:  # noqa: BLE001 - e.g. distilhash not importable there
            problems.append(f"{name}: cannot run distilhash code ({str(exc).strip().splitlines()[-1][:300]}); "
                            "install the same distilhash on every node")
            continue
        facts[node] = f
        problems += compare_facts(mine, f, name, need_home=need_home, paths_everywhere=paths_everywhere)
    if problems:
        raise ClusterError("the Ray cluster's nodes cannot run this:\n  " + "\n  ".join(problems))
    return facts
