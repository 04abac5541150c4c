"""The command-line options every node-loss / failover trial benchmark shares, kept as data.

``bench/node_loss.py fanout`` (the Ray fan-out in-process) and ``bench/node_loss.py serve``
(``distilhash serve --engine ray`` over HTTP) run the same shape of trial: a two-node cluster,
closed-loop clients, node 1 killed ``kill_at`` seconds in, a number of trials. The option
parser itself belongs to the scripts; this module only lists the options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FAILOVER_OPTIONS", "FailoverOption", "add_failover_options"]


@dataclass(frozen=True)
class FailoverOption:
    """One ``--flag`` of a failover trial: its type, default and help text."""

    flag: str
    type: type
    default: Any
    help: str = ""


FAILOVER_OPTIONS: tuple[FailoverOption, ...] = (
    FailoverOption("--trials", int, 3),
    FailoverOption("--clients", int, 50),
    FailoverOption("--seconds", float, 30.0),
    FailoverOption("--kill-at", float, 10.0, "seconds into a trial when node 1 is killed"),
    FailoverOption("--items", int, 40_000),
    FailoverOption("--replicas", int, 2, "actors per shard"),
)


class _AcceptsArguments(Protocol):
    def add_argument(self, *flags: str, **kwargs: Any) -> Any: ...


def add_failover_options(parser: _AcceptsArguments, out_name: str) -> _AcceptsArguments:
    """Add every :data:`FAILOVER_OPTIONS` entry and ``--out-name`` (default ``out_name``) to ``parser``."""
    for option in FAILOVER_OPTIONS:
        parser.add_argument(option.flag, type=option.type, default=option.default, help=option.help or None)
    parser.add_argument("--out-name", default=out_name)
    return parser
