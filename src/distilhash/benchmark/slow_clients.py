"""The slow-client attack harness: slow-drip connections against a service while normal clients run.

``bench/serve_fuzz.py slow-clients`` serves a toy index and measures its normal clients before and
during an attack of many connections that each hold the server as long as they can. An attacker
(in its own process, its open-file limit raised) connects from one of several loopback source
addresses (127.0.1.x) in one of :data:`SHAPES`: ``body-drip`` (an image upload announcing a
near-cap body, then one byte every ``drip_s``), ``stalled-upload`` (the same after ``stalled_mb``
sent at once) or ``header-drip`` (request headers fed one byte at a time). Whenever the server
answers or closes, the attacker reconnects after 1-2 s, until the attack ends; what ended each
connection is counted. The service's routes and load generator come in as arguments (this
package does not import the service). :func:`slow_markdown` / :func:`slow_plot` report a stored run.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distilhash.benchmark.figures import figure
from distilhash.benchmark.server_process import rss_mib

__all__ = ["SHAPES", "upload_head", "attack", "RssSampler", "attack_run", "slow_markdown", "slow_plot"]

SHAPES = ("body-drip", "stalled-upload", "header-drip")


def upload_head(path: str, length: int) -> bytes:
    """The head of a multipart ``POST path`` announcing ``length`` body bytes (its first part's header included)."""
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=B\r\n"
            b"Content-Length: %d\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.png\"\r\n\r\n" % length)


async def _attacker(i: int, port: int, source: str, shape: str, end: float, drip_s: float, stats: Counter, path: str,
                    cap: int, stalled_mb: float, ramp_s: float) -> None:
    rng = random.Random(i)
    await asyncio.sleep(rng.random() * ramp_s)
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            stats["connect failed"] += 1
            await asyncio.sleep(1 + rng.random())
            continue
        stats["connections"] += 1
        outcome = "attack ended"
        try:
            if shape == "header-drip":
                writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n")
            elif shape == "body-drip":
                writer.write(upload_head(path, cap))
            else:
                writer.write(upload_head(path, cap) + b"\0" * int(stalled_mb * 2**20))
            await writer.drain()
            while time.monotonic() < end:
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=min(drip_s, max(0.01, end - time.monotonic())))
                except asyncio.TimeoutError:
                    writer.write(b"x")
                    await writer.drain()
                    stats["drip bytes"] += 1
                    continue
                outcome = f"answered {data[9:12].decode('latin-1')}" if data.startswith(b"HTTP/1.1 ") else "closed by server"
                break
        except (ConnectionError, OSError):
            outcome = "reset by server"
        finally:
            writer.close()
        stats[f"{shape}: {outcome}"] += 1
        await asyncio.sleep(1 + rng.random())


def attack(port: int, n: int, addresses: int, seconds: float, drip_s: float, out: Any, path: str, upload_mb: float,
           shapes: tuple[str, ...] = SHAPES, stalled_mb: float = 1.0, ramp_s: float = 5.0) -> None:
    """``n`` attackers (shapes round-robin, ramping up over ``ramp_s``) for ``seconds``; puts the
    outcome counts (a dict) on ``out``. Meant to run in its own process: raises its open-file limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 512)), hard))
    stats: Counter = Counter()
    end = time.monotonic() + seconds
    cap = int(upload_mb * 2**20)

    async def main() -> None:
        await asyncio.gather(*(_attacker(i, port, f"127.0.1.{1 + i % addresses}", shapes[i % len(shapes)], end, drip_s, stats,
                                         path, cap, stalled_mb, ramp_s) for i in range(n)))

    asyncio.run(main())
    out.put(dict(stats))


class RssSampler(threading.Thread):
    """Samples process ``pid``'s VmRSS every ``every`` seconds: ``samples`` = [(seconds, MiB)]."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.stop = pid, every, [], threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.is_set():
            try:
                self.samples.append((round(time.monotonic() - t0, 1), rss_mib(self.pid)["VmRSS"]))
            except (OSError, KeyError):
                pass
            self.stop.wait(self.every)


def attack_run(pid: int, port: int, normal: Callable[[float, int], dict[str, Any]], *, path: str, upload_mb: float,
               attackers: int, addresses: int, clients: int, baseline_s: float, ramp_s: float, duration_s: float,
               drip_s: float, shapes: tuple[str, ...] = SHAPES, stalled_mb: float = 1.0,
               server_body_limits: Any = "defaults") -> dict[str, Any]:
    """The measured run against server process ``pid`` on ``port``: ``normal(seconds, clients)``
    (the normal clients' summary) for ``baseline_s``; then the attack (a forked process) and, after
    ``ramp_s``, the normal clients again for ``duration_s``; the server's RSS sampled throughout;
    a one-client health run after. Returns baseline, under_attack, after_attack_health, attack
    (settings, ``server_body_limits`` as recorded, seconds, outcome counts) and rss_mib (before, max during, after, samples)."""
    baseline = normal(baseline_s, clients)
    rss_before = rss_mib(pid)["VmRSS"]
    sampler = RssSampler(pid)
    sampler.start()
    ctx = mp.get_context("fork")
    queue: Any = ctx.Queue()
    proc = ctx.Process(target=attack, args=(port, attackers, addresses, ramp_s + duration_s + 2, drip_s, queue, path, upload_mb,
                                            shapes, stalled_mb))
    t0 = time.monotonic()
    proc.start()
    time.sleep(ramp_s)
    under_attack = normal(duration_s, clients)
    attack_stats = queue.get(timeout=ramp_s + duration_s + 120)
    proc.join(timeout=30)
    attack_s = time.monotonic() - t0
    time.sleep(2)
    sampler.stop.set()
    sampler.join()
    rss_after = rss_mib(pid)["VmRSS"]
    health = normal(3, 1)
    rss_max = max(r for _, r in sampler.samples)
    return {"baseline": baseline, "under_attack": under_attack, "after_attack_health": health,
            "attack": {"attackers": attackers, "source_addresses": addresses, "shapes": list(shapes), "drip_s": drip_s,
                       "stalled_upload_mb": stalled_mb, "server_body_limits": server_body_limits,
                       "seconds": round(attack_s, 1), "stats": attack_stats},
            "rss_mib": {"before_attack": rss_before, "max_during": rss_max, "after": rss_after,
                        "growth_max": round(rss_max - rss_before, 1), "samples": sampler.samples}}


def slow_markdown(rec: dict[str, Any]) -> str:
    """The normal clients without and under attack against the goals, the server's RSS, the attack's outcomes."""
    r = rec["result"]
    b, u, a, m = r["baseline"], r["under_attack"], r["attack"], r["rss_mib"]
    lines = [
        f"# Slow-client attack: {a['attackers']:,} slow-drip connections from {a['source_addresses']} addresses + "
        f"{u['concurrency']} normal search clients", "",
        "| figure | no attack | under attack | goal |", "|---|---|---|---|",
        f"| normal requests | {b['requests']:,} | {u['requests']:,} | |",
        f"| normal errors | {b['errors']} | **{u['errors']}** | 0 |",
        f"| normal p50 / p90 ms | {b['p50_ms']} / {b['p90_ms']} | {u['p50_ms']} / {u['p90_ms']} | |",
        f"| normal p99 ms | {b['p99_ms']} | **{u['p99_ms']}** | < 1,000 |",
        f"| normal req/s | {b['throughput_rps']} | {u['throughput_rps']} | |",
        f"| server RSS before attack / max during / after (MiB) | | {m['before_attack']:.0f} / {m['max_during']:.0f} / {m['after']:.0f} | |",
        f"| server RSS growth, max during the attack (MiB) | | **{m['growth_max']}** | < 200 |", "",
        f"Attack: {a['seconds']} s, shapes {', '.join(a['shapes'])} (equal shares), a byte every {a['drip_s']:g} s, "
        f"stalled uploads send {a.get('stalled_upload_mb', 1):g} MB first; server body limits: {a.get('server_body_limits', 'defaults')}; "
        "reconnect 1-2 s after the server answers or closes.", "",
        "| attack outcome | count |", "|---|---|",
    ]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(a["stats"].items())]
    return "\n".join(lines) + "\n"


def slow_plot(rec: dict[str, Any], path: Path) -> None:
    """The server's RSS samples during the attack, with the +200 MiB goal."""
    samples = rec["result"]["rss_mib"]["samples"]
    with figure(path, figsize=(6, 3)) as (fig, ax):
        ax.plot([t for t, _ in samples], [r for _, r in samples])
        ax.axhline(rec["result"]["rss_mib"]["before_attack"] + 200, color="red", ls="--", label="goal: +200 MiB")
        ax.set_xlabel("seconds since the attack started")
        ax.set_ylabel("server RSS (MiB)")
        ax.set_title(f"server memory under {rec['result']['attack']['attackers']:,} slow clients ({rec['provenance']['name']})")
        ax.legend()
