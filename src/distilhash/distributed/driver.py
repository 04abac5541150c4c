"""Driver processes of the fault-injection trials: one function run in a fresh Python process.

A Ray driver must have the cluster's token in its environment before it imports ray, so the
trials of :mod:`~distilhash.distributed.node_loss` and :mod:`~distilhash.distributed.replica_failover`
run their driver as a child process. :func:`driver_command` is its command line (the module and
the function's keyword arguments as one JSON argument; no option parser: these are not user
programs); :func:`driver_main` is that module's ``__main__``: it calls the function and prints its
answer as one JSON line (exit status 1 when the answer carries ``error``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["driver_command", "driver_main"]


def driver_command(module: str, **kwargs: Any) -> list[str]:
    """``python -m module '{kwargs as JSON}'`` with this interpreter."""
    return [sys.executable, "-m", module, json.dumps(kwargs, default=str)]


def driver_main(fn: Callable[..., dict[str, Any]], argv: list[str] | None = None) -> None:
    """Call ``fn`` with the JSON keyword arguments of ``argv[0]`` (default ``sys.argv[1:]``); print its answer."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        spec = getattr(sys.modules.get(fn.__module__), "__spec__", None)  # run with -m: __module__ is __main__
        raise SystemExit(f"usage: python -m {spec.name if spec else fn.__module__} '{{JSON keyword arguments of {fn.__name__}}}'")
    answer = fn(**json.loads(args[0]))
    print(json.dumps(answer), flush=True)
    if "error" in answer:
        raise SystemExit(1)
