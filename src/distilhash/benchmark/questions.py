"""One bench script, several questions: the sub-command each question is, and the result folder it writes.

A script that merged others (``bench/node_loss.py``: ``extraction``, ``fanout``, ``serve``) keeps
every committed command working: with no sub-command first, :func:`question_argv` puts the default
one in front, so ``python bench/node_loss.py --trials 3`` still runs the extraction trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["question_argv"]

HELP = ("-h", "--help")


def question_argv(argv: Sequence[str], questions: Mapping[str, str], default: str) -> list[str]:
    """``argv`` with ``default`` put first unless it already starts with a key of ``questions`` (or asks for help)."""
    if default not in questions:
        raise ValueError(f"default question {default!r}: expected one of {sorted(questions)}")
    argv = list(argv)
    return argv if argv and (argv[0] in questions or argv[0] in HELP) else [default, *argv]
