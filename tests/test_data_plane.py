"""The Ray fan-out's data plane without Ray: the wire format round-trips queries and answers exactly
(and refuses malformed bytes), the socket endpoint answers only clients that prove the shared
secret, never trusts a server that cannot prove it, reports every failure per endpoint, and
serves several endpoints at the same time."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.distributed.data_plane import (DataPlaneClient, DataPlaneError, DataPlaneServer, RemoteError,
                                               bind_address)
from distilhash.distributed.wire import WireError, decode_items, decode_query, encode_items, encode_query

SECRET = b"s" * 32


def test_queries_of_every_kind_round_trip_bit_for_bit():
    rng = np.random.default_rng(0)
    binary = Encoded("binary", rng.integers(0, 256, (3, 8), dtype=np.uint8), 64)
    pq = Encoded("pq", rng.integers(0, 16, (2, 4), dtype=np.uint8), 16, rng.normal(size=(4, 16, 2)).astype(np.float32), "ip")
    dense = rng.normal(size=(5, 8)).astype(np.float32)
    for q in (binary, pq):
        back = decode_query(encode_query(q))
        assert (back.kind, back.n_bits, back.metric) == (q.kind, q.n_bits, q.metric)
        assert back.data.dtype == q.data.dtype and np.array_equal(back.data, q.data)
        assert (back.codebooks is None) == (q.codebooks is None)
        if q.codebooks is not None:
            assert back.codebooks.dtype == np.float32 and np.array_equal(back.codebooks, q.codebooks)
    back = decode_query(encode_query(dense))
    assert back.dtype == np.float32 and back.shape == (5, 8) and np.array_equal(back, dense)
    with pytest.raises(WireError, match="Encoded or a numpy array"):
        encode_query([1, 2, 3])


def test_answers_round_trip_with_unicode_ids_and_metadata_and_empty_queries():
    items = [(np.array([1.5, 1.5, 2.0], dtype=np.float32), np.array([7, 3, 9]), ["a", "é✓", ""],
              [{"caption": "un café ☕", "n": 3}, {}, {"nested": [1, {"x": None}]}]),
             (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), [], [])]
    back = decode_items(encode_items(items))
    assert len(back) == 2
    for (d, g, i, m), (d2, g2, i2, m2) in zip(items, back):
        assert d2.dtype == d.dtype and np.array_equal(d, d2) and g2.dtype == np.int64 and np.array_equal(g, g2)
        assert i2 == i and m2 == m


def test_malformed_bytes_are_refused_with_what_was_expected():
    good = encode_items([(np.arange(3, dtype=np.float32), np.arange(3), ["a", "b", "c"], [{}, {}, {}])])
    with pytest.raises(WireError, match="truncated"):
        decode_items(good[:-2])
    with pytest.raises(WireError, match="stray bytes"):
        decode_items(good + b"x")
    with pytest.raises(WireError, match="query tag"):
        decode_query(b"Z")
    bad = bytearray(encode_query(np.zeros((1, 2), dtype=np.float32)))
    bad[2:5] = b"|O8"  # the dtype string of the array, rewritten to Python objects
    with pytest.raises(WireError, match="only plain numeric"):
        decode_query(bytes(bad))


def _echo(body: bytes, k: int) -> bytes:
    if body == b"boom":
        raise ValueError("bad query")
    return bytes([k]) + body


@pytest.fixture
def server():
    s = DataPlaneServer(_echo, "127.0.0.1", SECRET)
    yield s
    s.close()


def test_a_client_with_the_secret_gets_answers_and_errors_per_endpoint(server):
    assert server.address[0] == "127.0.0.1" and server.address[1] > 0
    client = DataPlaneClient(SECRET, timeout=5)
    try:
        got, failed = client.call_many({0: (server.address, b"hello", 3), 1: (server.address, b"boom", 1)})
        assert got == {0: b"\x03hello"}
        assert list(failed) == [1] and isinstance(failed[1], RemoteError) and "bad query" in str(failed[1])
        got, failed = client.call_many({5: (server.address, b"again", 2)})  # connections are reused after an error
        assert got == {5: b"\x02again"} and not failed
    finally:
        client.close()


def test_a_client_without_the_secret_is_dropped_and_a_server_without_it_is_not_trusted(server):
    intruder = DataPlaneClient(b"x" * 32, timeout=5)
    got, failed = intruder.call_many({0: (server.address, b"hello", 1)})
    assert got == {} and isinstance(failed[0], (OSError, DataPlaneError))
    deadline = time.monotonic() + 5
    while server.refused < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.refused == 1
    # raw bytes without the handshake: the server closes the connection without answering
    with socket.create_connection(server.address, timeout=5) as raw:
        raw.recv(16)
        raw.sendall(b"\x01" * 48)  # a nonce and a MAC that is not one
        assert raw.recv(100) == b""
    # a process that took a dead actor's port and accepts anyone, but cannot prove the secret
    with socket.create_server(("127.0.0.1", 0)) as impostor:
        def accept_anyone():
            conn, _ = impostor.accept()
            with conn:
                conn.sendall(b"n" * 16)
                conn.recv(48)
                conn.sendall(b"m" * 32)
                conn.recv(100)

        t = threading.Thread(target=accept_anyone, daemon=True)
        t.start()
        got, failed = DataPlaneClient(SECRET, timeout=5).call_many({0: (impostor.getsockname()[:2], b"hi", 1)})
        assert got == {} and "did not prove" in str(failed[0])
        t.join(5)


def test_endpoints_answer_at_the_same_time_and_failures_are_reported_per_endpoint():
    gate = threading.Barrier(3, timeout=10)

    def slow(body: bytes, k: int) -> bytes:
        gate.wait()  # every server must hold a request at once: serial calls would time out here
        return body

    servers = [DataPlaneServer(slow, "127.0.0.1", SECRET) for _ in range(3)]
    dead = DataPlaneServer(_echo, "127.0.0.1", SECRET)
    dead.close()
    client = DataPlaneClient(SECRET, timeout=10)
    try:
        calls = {i: (s.address, f"q{i}".encode(), 1) for i, s in enumerate(servers)}
        calls[9] = (dead.address, b"q", 1)
        got, failed = client.call_many(calls)
        assert got == {0: b"q0", 1: b"q1", 2: b"q2"}
        assert list(failed) == [9] and isinstance(failed[9], OSError)
    finally:
        client.close()
        for s in servers:
            s.close()


def test_an_answer_later_than_the_timeout_is_a_failure_not_a_hang():
    s = DataPlaneServer(lambda body, k: time.sleep(3) or body, "127.0.0.1", SECRET)
    try:
        t = time.monotonic()
        got, failed = DataPlaneClient(SECRET, timeout=0.5).call_many({0: (s.address, b"q", 1)})
        assert got == {} and isinstance(failed[0], OSError) and time.monotonic() - t < 2.5
    finally:
        s.close()


def test_the_data_plane_never_binds_a_wildcard_address():
    for wildcard in ("0.0.0.0", "::", ""):
        with pytest.raises(DataPlaneError, match="wildcard"):
            bind_address(wildcard)
    with pytest.raises(DataPlaneError, match="wildcard"):
        DataPlaneServer(_echo, "0.0.0.0", SECRET)
    with pytest.raises(DataPlaneError, match="at least 16 bytes"):
        DataPlaneServer(_echo, "127.0.0.1", b"short")
