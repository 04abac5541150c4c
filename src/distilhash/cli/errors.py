"""How the command line reports an error: one line ``error: MESSAGE`` in red on stderr, then exit.

Every app of the CLI is a :class:`Typer` from here, whose ``command`` decorator wraps the command
with :func:`reported`: a :class:`~distilhash.errors.DistilhashError` (or a service refusal) raised
anywhere below a command ends it with exit status 1 and its message, never a traceback; commands
write no ``try/except`` of their own for it. :func:`fail` is for a command's own refusals (status 2:
a usage error such as options that exclude each other); :func:`reporting` turns errors of one
block into another status (e.g. 2 when the error is in an option's value).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

__all__ = ["Typer", "fail", "reporting", "reported", "EXIT_ERROR", "EXIT_USAGE"]

EXIT_ERROR = 1  #: the command ran and failed (bad data, a missing file, a refused index)
EXIT_USAGE = 2  #: the command line itself is wrong (click's status for usage errors too)


def _reported_types() -> tuple[type[BaseException], ...]:
    from distilhash.errors import DistilhashError
    from distilhash.serve.refusal import ServiceError  # no web stack: the refusal type alone

    return (DistilhashError, ServiceError)


def fail(message: Any, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: message`` (red, stderr) and end the command with status ``code``."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


@contextmanager
def reporting(code: int = EXIT_ERROR) -> Iterator[None]:
    """Errors of the block (DistilhashError, ServiceError) end the command with status ``code``."""
    try:
        yield
    except _reported_types() as exc:
        fail(exc, code)


def reported(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its errors reported by :func:`fail` (status 1); the signature Typer reads is ``fn``'s."""
    if getattr(fn, "_distilhash_reported", False):
        return fn

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        with reporting():
            return fn(*args, **kwargs)

    command._distilhash_reported = True  # type: ignore[attr-defined]
    return command


class Typer(typer.Typer):
    """``typer.Typer`` whose commands report their errors through :func:`reported`; every app of the
    CLI (``distilhash`` itself and each stage group) is one, so a stage group used on its own reports
    errors the same way."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(reported(fn))
