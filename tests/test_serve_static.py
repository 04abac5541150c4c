"""The service's use of the static query text encoder (default when the model has one; the teacher
on request), the batched project+search path, parallel read-only search workers, and the public
index accessors the service uses."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from distilhash.serve import routes

pytest.importorskip("fastapi")
pytest.importorskip("faiss")
pytest.importorskip("model2vec")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import WORDS, ServeToyTeacher, make_world  # noqa: E402
from static_fixtures import make_tiny_tower  # noqa: E402


def _fit_world_static(world, root):
    """Fit a static encoder (a tiny random tower) on the world's captions against the toy teacher, next to the model."""
    from distilhash.query_encoders.static_text import static_text_dir
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    texts = list(world["dataset"].texts)
    return fit_static_text(make_tiny_tower(root / "tower"), texts, ServeToyTeacher().encode_texts(texts),
                           static_text_dir(world["model"]), config=StaticTextConfig(pca_dims=0), cache_dir=root / "cache")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("staticworld")
    w = make_world(root)
    _fit_world_static(w, root)
    return w


def test_service_answers_with_the_static_encoder_by_default_and_never_calls_the_teacher(world):
    from distilhash.serve.app import create_app

    app = create_app([world["image_index"], world["text_index"]], text_cache_size=0)
    svc = app.state.service
    teacher = svc.targets["text"].encoder.teacher
    with TestClient(app) as c:
        calls = teacher.text_calls
        r = c.get(routes.SEARCH, params={"q": "boat", "k": 5, "direction": "t2t"}).json()
        assert r["encoder"] == {"name": "static"}
        assert all("boat" in x["caption"].split() for x in r["results"])
        assert "static_text" in r["timings_ms"] and "teacher_text" not in r["timings_ms"]
        # words the tower has never seen are still answered by the static encoder: no fallback
        r = c.get(routes.SEARCH, params={"q": "zebra okapi", "k": 3, "direction": "t2t"}).json()
        assert r["encoder"]["name"] == "static" and len(r["results"]) == 3
        assert teacher.text_calls == calls  # the teacher did not run
        stats = c.get(routes.STATS).json()
        assert stats["query_encoder"] == "auto" and stats["static_text"]["text"]["fingerprint"]
        assert stats["latency_ms"]["static_text"]["count"] == 2


def test_static_and_teacher_services_find_the_same_word(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    dirs = [world["image_index"], world["text_index"]]
    static = SearchService(dirs)
    with_teacher = SearchService(dirs, config=ServiceConfig(query_encoder="teacher"))
    try:
        for q in WORDS:
            a = static.search_text(q, 3, "t2t")
            b = with_teacher.search_text(q, 3, "t2t")
            assert a["encoder"]["name"] == "static" and b["encoder"]["name"] == "teacher"
            for ans in (a, b):
                assert all(q in x["caption"].split() for x in ans["results"]), (q, ans["results"])
    finally:
        static.close()
        with_teacher.close()


def test_static_encoder_missing_or_misconfigured_is_a_clear_error(tmp_path):
    from distilhash.serve.engine import SearchService, ServiceConfig, ServiceError

    w = make_world(tmp_path, n=16)
    with pytest.raises(ServiceError, match="fit one with"):
        SearchService([w["image_index"]], config=ServiceConfig(query_encoder="static"))
    with pytest.raises(ServiceError, match="expected one of auto, static, teacher"):
        SearchService([w["image_index"]], config=ServiceConfig(query_encoder="bert"))
    svc = SearchService([w["image_index"]])  # auto without a static encoder: the teacher
    try:
        assert svc.search_text("cat", 2)["encoder"]["name"] == "teacher"
    finally:
        svc.close()


def test_concurrent_queries_are_batched_and_answered_exactly(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService([world["text_index"]], config=ServiceConfig())
    queries = [(f"{a} {b}", 1 + (i % 7)) for i, (a, b) in enumerate((a, b) for a in WORDS for b in WORDS if a != b)]
    try:
        alone = [svc.search_text(q, k, "t2t") for q, k in queries]
        # the index's worker held on its first batch while the rest are submitted, so they queue together whatever
        # the machine's speed (on a quiet machine the worker could otherwise answer each before the next arrived)
        gate, run_batch = threading.Event(), svc._run_text_batch
        svc._run_text_batch = lambda *args: (gate.wait(10), run_batch(*args))[1]
        futures = [svc.submit_text(q, k, "t2t") for q, k in queries]
        gate.set()
        together = [f.result(timeout=30) for f in futures]
        for (q, k), a, b in zip(queries, alone, together):
            assert len(b["results"]) == k and b["query"] == q
            assert [x["id"] for x in a["results"]] == [x["id"] for x in b["results"]]
        sb = svc.stats()["search_batches"]
        assert sb["queries"] == 2 * len(queries) and sb["batches"] < 2 * len(queries)  # some batches held several
        assert max(b["timings_ms"]["batch"] for b in together) > 1
    finally:
        svc.close()


def test_parallel_search_workers_give_the_same_answers(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    one = SearchService([world["text_index"]], config=ServiceConfig())
    two = SearchService([world["text_index"]], config=ServiceConfig(search_workers=2))
    keyed = SearchService([world["text_index"]], config=ServiceConfig(search_workers=2, api_key="k"))
    try:
        assert two.stats()["search_batches"]["workers_per_index"] == {"text": 2}
        assert keyed.stats()["search_batches"]["workers_per_index"] == {"text": 1}  # writable: one handle only
        fut = [two.submit_text(f"{w} dog", 5, "t2t") for w in WORDS * 3]
        for w, f in zip(WORDS * 3, fut):
            assert [x["id"] for x in f.result(timeout=30)["results"]] == [x["id"] for x in one.search_text(f"{w} dog", 5, "t2t")["results"]]
    finally:
        for s in (one, two, keyed):
            s.close()


def test_index_public_accessors(tmp_path):
    from distilhash.codes import Encoded
    from distilhash.index import create_index

    with create_index(tmp_path / "ix", kind="binary", n_bits=16) as idx:
        codes = Encoded("binary", np.arange(10, dtype=np.uint8).reshape(5, 2), 16)
        idx.add([f"a{i}" for i in range(5)], codes, [{"n": i} for i in range(5)])
        idx.delete(["a1", "a3"])
        assert idx.backend == idx.info()["backend"]
        assert list(idx.iter_metadata(chunk=2)) == [("a0", {"n": 0}), ("a2", {"n": 2}), ("a4", {"n": 4})]
        assert [i for i, _ in idx.iter_metadata(include_deleted=True)] == [f"a{i}" for i in range(5)]


def test_worker_process_app_is_built_from_the_environment(world, monkeypatch):
    import json

    from distilhash.serve.server import _ENV, app_from_env

    spec = {"index_dirs": [str(world["text_index"])], "max_upload_mb": 1.0, "torch_threads": 1, "switch_interval_ms": None,
            "warmup": True, "freeze_gc": False, "config": {"text_cache_size": 0}}
    monkeypatch.setenv(_ENV, json.dumps(spec))
    app = app_from_env()
    with TestClient(app) as c:
        r = c.get(routes.SEARCH, params={"q": "moon", "k": 2}).json()
        assert r["encoder"]["name"] == "static" and all("moon" in x["caption"].split() for x in r["results"])
        assert c.get(routes.STATS).json()["pid"] > 0


def test_a_cancelled_request_does_not_break_its_batch(world):
    import time
    from concurrent.futures import Future

    from distilhash.serve.batching import Pending
    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService([world["text_index"]], config=ServiceConfig())
    try:
        t = svc.targets["text"]

        def pending(q: str) -> Pending:
            f = t.encoder.read("text", [q])
            return Pending(f, 3, {"_meta": (q, "t2t"), "encoder": {"name": "static"}}, time.perf_counter(), Future())

        gone, kept = pending("cat"), pending("boat")
        assert gone.future.cancel()  # the client disconnected before the batch ran
        svc._run_text_batch(t, [gone, kept], t.index)
        assert gone.future.cancelled()
        r = kept.future.result(timeout=5)
        assert r["timings_ms"]["batch"] == 1 and all("boat" in x["caption"].split() for x in r["results"])
    finally:
        svc.close()


def test_index_backend_is_passed_to_the_served_indexes(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    exact = SearchService([world["text_index"]], config=ServiceConfig())
    other = SearchService([world["text_index"]], config=ServiceConfig(index_backend="numpy", search_workers=2))
    try:
        assert other.stats()["indexes"]["text"]["backend"] == "numpy"
        assert all(r.backend == "numpy" for r in other.targets["text"].replicas)
        for w in WORDS:
            a, b = exact.search_text(w, 4, "t2t"), other.search_text(w, 4, "t2t")
            assert [x["id"] for x in a["results"]] == [x["id"] for x in b["results"]]
    finally:
        exact.close()
        other.close()
