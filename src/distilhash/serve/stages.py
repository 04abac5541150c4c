"""What the service is doing while it starts, on stderr: one line per stage, a spinner on a terminal.

Loading the teacher's towers (MiniLM and the image tower) takes ~45 s on a busy machine; without
these lines ``distilhash serve`` looked hung until the address appeared::

    distilhash serve: opening 2 indexes and the model ... done (1.2 s)
    distilhash serve: loading the teacher lite0-minilm:openclipart (image and text towers) and warming up ... done (44.8 s)

On a terminal the running stage's line shows a spinner and the seconds so far (rewritten in place
10 times a second); elsewhere (a log, a pipe) it is written once when the stage starts and once
when it ends, so a log shows where a start stopped.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

__all__ = ["StartupStages"]

_FRAMES = "|/-\\"


class StartupStages:
    """Announces startup stages on ``stream`` (default stderr).

    Args:
        stream: where the lines go.
        spinner: animate the running stage (default: when ``stream`` is a terminal).
        prefix: put before every line.
    """

    def __init__(self, stream: TextIO | None = None, spinner: bool | None = None, prefix: str = "distilhash serve: ") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.spinner = self._isatty() if spinner is None else spinner
        self.prefix = prefix

    def _isatty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def say(self, line: str) -> None:
        """One line of its own."""
        self._write(f"{self.prefix}{line}\n")

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[None]:
        """Announce ``what`` while the block runs, then its wall time (or that it failed)."""
        t0 = time.perf_counter()
        stop = threading.Event()
        spin: threading.Thread | None = None
        if self.spinner:
            def run() -> None:
                i = 0
                while not stop.wait(0.1):
                    self._write(f"\r{self.prefix}{what} {_FRAMES[i % len(_FRAMES)]} {time.perf_counter() - t0:.0f} s")
                    i += 1

            self._write(f"{self.prefix}{what} ...")
            spin = threading.Thread(target=run, name="startup-spinner", daemon=True)
            spin.start()
        else:
            self._write(f"{self.prefix}{what} ...\n")
        ok = False
        try:
            yield
            ok = True
        finally:
            stop.set()
            if spin is not None:
                spin.join()
            outcome = f"done ({time.perf_counter() - t0:.1f} s)" if ok else f"failed after {time.perf_counter() - t0:.1f} s"
            self._write(f"\r{self.prefix}{what} ... {outcome}\n" if self.spinner else f"{self.prefix}{what}: {outcome}\n")
