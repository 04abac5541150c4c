"""The slow-client attack harness against a small socket server: connections counted by outcome,
drip bytes sent while the server waits, RSS sampled (distilhash.benchmark.slow_clients)."""

from __future__ import annotations

import os
import queue
import socket
import threading
import time

from distilhash.benchmark.slow_clients import RssSampler, attack, attack_run, upload_head


class _Server(threading.Thread):
    """Accepts connections; answers 408 after ``hold`` seconds of reading (a header deadline)."""

    def __init__(self, hold: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.hold, self.received = self.sock.getsockname()[1], hold, []
        self.sock.settimeout(0.2)
        self.stop = threading.Event()

    def _conn(self, c: socket.socket) -> None:
        c.settimeout(0.05)
        end, data = time.monotonic() + self.hold, b""
        while time.monotonic() < end:
            try:
                data += c.recv(65536)
            except socket.timeout:
                pass
            except OSError:
                break
        self.received.append(data)
        try:
            c.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        c.close()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()


def test_upload_head_announces_the_length_and_starts_the_file_part():
    head = upload_head("/api/search/image", 1234)
    assert head.startswith(b"POST /api/search/image HTTP/1.1\r\n") and b"Content-Length: 1234\r\n\r\n--B\r\n" in head


def test_attackers_drip_until_the_server_answers_and_outcomes_are_counted():
    srv = _Server(hold=1.0)
    srv.start()
    out: queue.Queue = queue.Queue()
    try:
        attack(srv.port, 3, 1, seconds=2.5, drip_s=0.2, out=out, path="/up", upload_mb=0.01,
               shapes=("body-drip", "stalled-upload", "header-drip"), stalled_mb=0.005, ramp_s=0.1)
    finally:
        srv.stop.set()
    stats = out.get(timeout=5)
    assert stats["connections"] >= 3
    assert stats["drip bytes"] >= 3  # the server held each connection for 1 s: the attackers dripped meanwhile
    for shape in ("body-drip", "stalled-upload", "header-drip"):
        assert stats.get(f"{shape}: answered 408", 0) >= 1, stats
    stalled = [d for d in srv.received if b"\0" * 1000 in d]
    assert stalled and all(len(d) >= int(0.005 * 2**20) for d in stalled)  # stalled uploads sent their first block at once


def test_attack_run_measures_normal_clients_before_and_during_and_samples_rss():
    srv = _Server(hold=0.3)
    srv.start()
    calls: list[tuple[float, int]] = []

    def normal(seconds: float, clients: int) -> dict:
        calls.append((seconds, clients))
        return {"requests": 10 * clients, "errors": 0}

    try:
        r = attack_run(os.getpid(), srv.port, normal, path="/up", upload_mb=0.01, attackers=2, addresses=1, clients=4,
                       baseline_s=0.1, ramp_s=0.2, duration_s=0.5, drip_s=0.1)
    finally:
        srv.stop.set()
    assert calls == [(0.1, 4), (0.5, 4), (3, 1)]  # baseline, under attack, the health run after
    assert r["baseline"]["requests"] == 40 and r["attack"]["stats"]["connections"] >= 1  # (attackers start within 5 s)
    assert r["attack"]["server_body_limits"] == "defaults" and r["rss_mib"]["samples"]
    assert r["rss_mib"]["max_during"] >= min(s for _, s in r["rss_mib"]["samples"])


def test_rss_sampler_reads_this_process():
    s = RssSampler(os.getpid(), every=0.05)
    s.start()
    time.sleep(0.2)
    s.stop.set()
    s.join()
    assert len(s.samples) >= 2 and all(mib > 1 for _, mib in s.samples)


def test_a_stored_attack_run_is_reported_against_its_goals(tmp_path):
    from distilhash.benchmark.slow_clients import slow_markdown, slow_plot

    lat = {"requests": 1200, "errors": 0, "p50_ms": 5.0, "p90_ms": 9.0, "p99_ms": 20.0, "throughput_rps": 60.0}
    rec = {"provenance": {"name": "run1"},
           "result": {"baseline": lat, "under_attack": {**lat, "errors": 2, "p99_ms": 800.0, "concurrency": 50},
                      "attack": {"attackers": 1100, "source_addresses": 11, "seconds": 80, "shapes": ["body-drip", "header-drip"],
                                 "drip_s": 10.0, "stats": {"closed": 7, "408": 1200}},
                      "rss_mib": {"before_attack": 100.0, "max_during": 150.0, "after": 120.0, "growth_max": 50.0,
                                  "samples": [[0.0, 100.0], [0.5, 150.0]]}}}
    text = slow_markdown(rec)
    assert text.startswith("# Slow-client attack: 1,100 slow-drip connections from 11 addresses + 50 normal search clients")
    assert "| normal errors | 0 | **2** | 0 |" in text and "| normal p99 ms | 20.0 | **800.0** | < 1,000 |" in text
    assert "| server RSS growth, max during the attack (MiB) | | **50.0** | < 200 |" in text
    assert text.index("| 408 | 1,200 |") < text.index("| closed | 7 |")  # outcomes sorted by name
    assert "stalled uploads send 1 MB first; server body limits: defaults" in text  # older runs: the defaults named
    slow_plot(rec, tmp_path / "rss.png")
    assert (tmp_path / "rss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
