"""A writable index served by several processes: handles that follow the writer's commits
(``IndexOptions(follow=True)``), writes forwarded to the one writer (``serve/writer.py``), and
read-your-writes across processes."""

from __future__ import annotations

import json
import multiprocessing
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.index import create_index, open_index
from distilhash.index.core import IndexOptions

FOLLOW = IndexOptions(follow=True)
KEY = "writer-test-key"


def _codes(rows: list[list[int]]) -> Encoded:
    return Encoded("binary", np.array(rows, np.uint8), 16)


def _snapshot(idx) -> tuple[int, list[str], list[list[str]]]:
    """(count, every live id, the top-3 ids of four fixed queries): what a reader can tell apart."""
    queries = _codes([[0, 0], [255, 255], [7, 7], [1, 3]])
    return len(idx), sorted(i for i, _ in idx.iter_metadata()), [r.ids for r in idx.search(queries, k=3)]


def test_a_following_handle_answers_like_a_fresh_open_after_every_write(tmp_path):
    d = tmp_path / "ix"
    w = create_index(d, kind="binary", n_bits=16)
    w.add([f"a{i}" for i in range(6)], _codes([[i, i] for i in range(6)]), [{"n": i} for i in range(6)])
    r = open_index(d, options=FOLLOW)
    r.searcher()  # built now: later adds reach it incrementally, as in a serving process
    steps = [lambda: w.add(["b0", "b1"], _codes([[255, 255], [7, 7]]), [{"m": 1}, {}]),
             lambda: w.delete(["a0"]),
             lambda: w.compact(),  # a new generation: the old log is unlinked under the follower
             lambda: w.add(["c0"], _codes([[0, 0]])),
             lambda: w.add([f"bulk{i}" for i in range(4)], _codes([[i, 0] for i in range(4)]), snapshot=True),
             lambda: w.delete(["b1", "c0"])]
    try:
        for step in steps:
            step()
            with open_index(d) as fresh:
                assert _snapshot(r) == _snapshot(fresh)
        assert r.get(["b0"])["b0"][1] == {"m": 1} and r.manifest["generation"] == w.manifest["generation"]
    finally:
        r.close()
        w.close()


def test_a_handle_that_does_not_follow_keeps_what_it_loaded(tmp_path):
    d = tmp_path / "ix"
    with create_index(d, kind="binary", n_bits=16) as w:
        w.add(["a"], _codes([[1, 1]]))
        with open_index(d) as r:
            w.add(["b"], _codes([[2, 2]]))
            assert len(r) == 1 and not r.get(["b"])
            r.refresh()  # a no-op without follow
            assert len(r) == 1


def test_a_commit_block_read_mid_rewrite_is_read_again(tmp_path, monkeypatch):
    from distilhash.index import codelog

    d = tmp_path / "ix"
    with create_index(d, kind="binary", n_bits=16) as w, open_index(d, options=FOLLOW) as r:
        w.add(["a"], _codes([[1, 1]]))
        real, torn = codelog.read_commit, [2]

        def flaky(fd, path):
            if torn[0]:
                torn[0] -= 1
                return None  # what a checksum mismatch looks like
            return real(fd, path)

        monkeypatch.setattr(codelog, "read_commit", flaky)
        assert r.get(["a"]) and torn[0] == 0


def test_a_compaction_between_loading_and_following_is_still_seen(tmp_path):
    from distilhash.index.follow import LogFollower
    from distilhash.index.storage import load_state

    d = tmp_path / "ix"
    with create_index(d, kind="binary", n_bits=16) as w:
        w.add(["a"], _codes([[1, 1]]))
        for unlink_log in (False, True):
            state = load_state(d)
            w.compact()  # commits generation N+1 after the reader loaded N (and removes N's log)
            if not unlink_log:  # the log opened before its removal: the manifest check must catch it
                state = load_state(d)
                follower = LogFollower(d, state.manifest, state.log_end, state.log_records, state.log_version)
                w.compact()
            else:
                follower = LogFollower(d, state.manifest, state.log_end, state.log_records, state.log_version)
            assert follower.generation_changed()
            follower.close()
            state.close()


# -- across processes -------------------------------------------------------------------------
def _writer_process(directory: str, conn) -> None:
    """Apply each command from ``conn`` to the index (the one writer) and answer once it returned (durable)."""
    with open_index(directory, writable=True) as w:
        while True:
            cmd = conn.recv()
            if cmd is None:
                return
            op, item = cmd
            if op == "add":
                w.add([item], _codes([[len(item), 200]]), [{"id": item}])
            elif op == "delete":
                w.delete([item])
            else:
                w.compact()
            conn.send("ack")


def test_every_write_another_process_acknowledged_is_read_at_once(tmp_path):
    d = tmp_path / "ix"
    with create_index(d, kind="binary", n_bits=16) as w:
        w.add(["seed"], _codes([[0, 0]]))
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_writer_process, args=(str(d), there), daemon=True)
    proc.start()
    try:
        with open_index(d, options=FOLLOW) as r:
            r.searcher()
            live = {"seed"}
            for i in range(40):
                op = "delete" if i % 5 == 4 else "compact" if i % 13 == 12 else "add"
                item = sorted(live)[-1] if op == "delete" else f"x{i}"
                here.send((op, item))
                assert here.poll(30) and here.recv() == "ack"
                live = live - {item} if op == "delete" else live | ({item} if op == "add" else set())
                # no waiting, no refresh call: the next read already holds the acknowledged write
                assert set(r.get(sorted(live | {item}))) == live, (i, op, item)
                assert len(r) == len(live)
            here.send(None)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()


# -- the service: one writer, several server processes ------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_process(dirs: list[str], writer_socket: str, port: int) -> None:
    """One server process of a writable service: follows the indexes, forwards writes to the writer."""
    import serve_fixtures  # noqa: F401  (registers the toy teacher and model in this process)
    import uvicorn

    from distilhash.serve.app import create_app

    app = create_app(dirs, api_key=KEY, max_upload_mb=1.0, writer_socket=writer_socket, text_cache_size=0)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error")


def _call(method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _form(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, dict]:
    boundary = "----distilhashtest"
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, (name, blob) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: image/png\r\n\r\n").encode() + blob + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-API-Key": KEY}


def _wait_ready(url: str, proc, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.is_alive(), "a server process died while starting"
        try:
            if _call("GET", url + "/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not start")


def test_writes_through_any_process_are_read_at_once_by_every_process(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from serve_fixtures import COLOURS, WORDS, make_world, png_bytes

    from distilhash.serve.server import _writer_for

    world = make_world(tmp_path)
    dirs = [str(world["image_index"]), str(world["text_index"])]
    spec = {"index_dirs": dirs, "api_key": KEY, "max_upload_mb": 1.0, "config": {"text_cache_size": 0}, "warmup": True}
    ctx = multiprocessing.get_context("spawn")
    procs = []
    with _writer_for(spec, None) as path:
        try:
            ports = [_free_port(), _free_port()]
            procs = [ctx.Process(target=_server_process, args=(dirs, path, p), daemon=True) for p in ports]
            for p in procs:
                p.start()
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for u, p in zip(urls, procs):
                _wait_ready(u, p)
            moon = png_bytes(COLOURS[WORDS.index("moon")])
            added = []
            for i in range(12):
                one, other = urls[i % 2], urls[(i + 1) % 2]
                body, headers = _form({"id": f"new/{i}", "caption": "a moon", "metadata": json.dumps({"i": i})},
                                      {"image": ("m.png", moon)})
                st, got = _call("POST", one + "/api/items", body, headers)
                assert st == 201 and got["id"] == f"new/{i}" and got["metadata"]["i"] == i, got  # answered from its own follower
                added.append(got["id"])
                # the other process, asked right after the acknowledgement: fetch, "more like this", thumbnail
                q = quote(got["id"], safe="")
                st, item = _call("GET", f"{other}/api/items/{q}?target=image")
                assert st == 200 and item["metadata"]["i"] == i
                st, sim = _call("GET", f"{other}/api/search/similar?id={q}&k=100&target=image")
                assert st == 200 and got["id"] in [x["id"] for x in sim["results"]]
                assert urllib.request.urlopen(other + item["thumbnail"], timeout=10).status == 200
                if i % 3 == 2:  # delete through the other process; gone at once in the first
                    st, gone = _call("DELETE", f"{other}/api/items/{q}?target=image", headers={"X-API-Key": KEY})
                    assert st == 200 and gone["deleted"] == got["id"]
                    assert _call("GET", f"{one}/api/items/{q}?target=image")[0] == 404
                    added.remove(got["id"])
            # refusals come back from the writer with their status
            body, headers = _form({"id": "new/0" if "new/0" in added else added[0], "caption": "x"}, {"image": ("m.png", moon)})
            assert _call("POST", urls[1] + "/api/items", body, headers)[0] == 409
            assert _call("DELETE", f"{urls[0]}/api/items/nothing-here", headers={"X-API-Key": KEY})[0] == 404
            counts = {_call("GET", u + "/api/health")[1]["indexes"]["image"] for u in urls}
            assert counts == {len(world["dataset"].ids) + len(added)}
        finally:
            for p in procs:
                p.terminate()
                p.join(timeout=10)
    with open_index(dirs[0]) as idx:  # the writer closed: everything acknowledged is on disk
        assert set(idx.get(added)) == set(added)


def test_a_forwarded_write_without_a_writer_is_a_503(tmp_path):
    from distilhash.serve.refusal import ServiceError
    from distilhash.serve.writer import forward

    with pytest.raises(ServiceError) as err:
        forward(tmp_path / "no.sock", "delete", {"id": "x"})
    assert err.value.status == 503 and "writer" in err.value.message


def test_the_writer_runs_writes_at_the_priority_it_was_given(tmp_path):
    import os
    import threading

    from distilhash.serve.writer import WriterChannel, forward

    class Recorder:
        def delete_item(self, item_id, target):
            return {"deleted": item_id, "nice": os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}

    base = os.getpriority(os.PRIO_PROCESS, 0)
    for nice, expected in ((0, base), (7, min(19, base + 7))):
        with WriterChannel(Recorder(), nice=nice) as ch:
            assert forward(ch.path, "delete", {"id": "a", "target": "image"}) == {"deleted": "a", "nice": expected}
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # this thread (and the server processes it would start) unchanged


def test_several_processes_serve_a_sharded_index_only_read_only(tmp_path):
    from distilhash.index.sharded import create_sharded_index
    from distilhash.serve.engine import ServiceError
    from distilhash.serve.server import start_service

    create_sharded_index(tmp_path / "sh", n_shards=2, kind="binary", n_bits=16).close()
    with pytest.raises(ServiceError, match="sharded"):
        start_service([tmp_path / "sh"], workers=2, api_key="k", thumbnails=False, announce=None)
    from distilhash.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be followed"):
        open_index(tmp_path / "sh", options=FOLLOW)


def test_adds_queued_while_an_image_encodes_share_the_next_pass_at_the_writer_priority():
    import os
    import threading

    from distilhash.serve.batching import ItemBatcher
    from distilhash.serve.writer import lower_priority

    started, release = threading.Event(), threading.Event()
    calls, nices = [], []

    def encode(items):
        calls.append(list(items))
        nices.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        if len(calls) == 1:
            started.set()
            assert release.wait(10)
        return Encoded("binary", np.array([[i] for i in items], np.uint8), 8)

    base = os.getpriority(os.PRIO_PROCESS, 0)
    batcher = ItemBatcher(encode, max_batch=8, setup=lambda: lower_priority(3))
    try:
        first = batcher.submit(1)
        assert started.wait(10)
        rest = [batcher.submit(i) for i in (2, 3, 4)]  # queued while the first encodes
        release.set()
        assert [f.result(10).data.tolist() for f in [first, *rest]] == [[[1]], [[2]], [[3]], [[4]]]
    finally:
        batcher.stop()
    assert calls == [[1], [2, 3, 4]]  # one pass for the three that waited, each add its own row
    assert nices == [min(19, base + 3)] * 2  # the encoding thread, lowered once
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the caller's thread unchanged


def test_a_failed_encoding_pass_refuses_every_add_in_it_with_a_500():
    import threading

    from distilhash.serve.batching import ItemBatcher
    from distilhash.serve.refusal import ServiceError

    started, release = threading.Event(), threading.Event()

    def encode(items):
        if not started.is_set():
            started.set()
            assert release.wait(10)
            return Encoded("binary", np.zeros((len(items), 1), np.uint8), 8)
        raise RuntimeError("tower exploded")

    batcher = ItemBatcher(encode, max_batch=8)
    try:
        ok = batcher.submit("a")
        assert started.wait(10)
        doomed = [batcher.submit(x) for x in "bc"]
        release.set()
        assert len(ok.result(10)) == 1
        for f in doomed:
            with pytest.raises(ServiceError) as err:
                f.result(10)
            assert err.value.status == 500 and "server log" in err.value.message
        assert len(batcher.submit("d").exception(10).message) > 0  # the batcher still answers afterwards
    finally:
        batcher.stop()


def test_concurrent_adds_store_the_codes_one_add_at_a_time_would(tmp_path):
    """Images added at once are encoded in shared passes; each item's stored code is the one its
    image gets alone, and each add answers with its own item."""
    import threading

    from serve_fixtures import COLOURS, make_world, png_bytes

    from distilhash.serve.engine import SearchService, ServiceConfig

    world = make_world(tmp_path)
    svc = SearchService([world["image_index"]], config=ServiceConfig(api_key=KEY, write_nice=2))
    try:
        t = svc.targets["image"]
        images = {f"new{i}": png_bytes(COLOURS[i % len(COLOURS)] // (1 + i // len(COLOURS)), size=20 + i) for i in range(12)}
        answers, errors = {}, []

        def add(item_id: str) -> None:
            try:
                answers[item_id] = svc.add_item(item_id, None, images[item_id], json.dumps({"n": item_id}))
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in images]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors and sorted(answers) == sorted(images)
        assert all(a["id"] == i and a["metadata"]["n"] == i for i, a in answers.items())
        stored = t.index.get(sorted(images))
        for item_id, data in images.items():
            alone = t.encoder.encode_items("image", [svc.decode_image(data)])
            assert np.array_equal(stored[item_id][0], t.index.spec.unpacked(alone.data)[0]), item_id
    finally:
        svc.close()
