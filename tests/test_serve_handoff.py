"""Worker-thread answers reach the event loop as ``asyncio.wrap_future`` would hand them over
(serve/handoff.py): results, exceptions and cancellation, from any thread, in bursts."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from distilhash.serve.handoff import await_future, handoff_for


def _finish_later(futures: list[Future], outcome) -> threading.Thread:
    def run() -> None:
        for i, f in enumerate(futures):
            if f.set_running_or_notify_cancel():
                outcome(i, f)
    t = threading.Thread(target=run)
    return t


def test_a_burst_of_results_and_errors_arrives_in_order():
    async def main() -> list:
        futures = [Future() for _ in range(50)]
        waits = [asyncio.ensure_future(await_future(f)) for f in futures]
        await asyncio.sleep(0)

        def outcome(i: int, f: Future) -> None:
            f.set_exception(ValueError(f"bad {i}")) if i % 7 == 0 else f.set_result({"i": i})
        t = _finish_later(futures, outcome)
        t.start()
        out = await asyncio.gather(*waits, return_exceptions=True)
        t.join()
        return out

    out = asyncio.run(main())
    for i, got in enumerate(out):
        if i % 7 == 0:
            assert isinstance(got, ValueError) and str(got) == f"bad {i}"
        else:
            assert got == {"i": i}


def test_a_cancelled_request_cancels_the_thread_future_and_a_done_one_resolves_at_once():
    async def main() -> tuple[Future, dict]:
        f = Future()
        task = asyncio.ensure_future(await_future(f))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        done = Future()
        done.set_result({"ok": 1})
        return f, await await_future(done)

    f, got = asyncio.run(main())
    assert f.cancelled() and not f.set_running_or_notify_cancel()  # the worker skips it
    assert got == {"ok": 1}


def test_one_handoff_per_loop():
    async def main():
        loop = asyncio.get_running_loop()
        return handoff_for(loop) is handoff_for(loop), handoff_for(loop)

    same, h1 = asyncio.run(main())
    _, h2 = asyncio.run(main())
    assert same and h1 is not h2
