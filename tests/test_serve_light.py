"""The light query text encoder (fit / save / load / OOV), the service's use of it and its teacher
fallback, the batched project+search path, parallel read-only search workers, and the public
index accessors the service uses."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import WORDS, ServeToyTeacher, make_world  # noqa: E402


def _bow_teacher(texts: list[str], vocab: list[str], seed: int = 0) -> np.ndarray:
    """A linear 'teacher': normalize(counts @ R) with a fixed random R [V, 16]."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(len(vocab), 16))
    counts = np.array([[t.split().count(w) for w in vocab] for t in texts], float)
    y = counts @ r + 0.05
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def _sentences(rng, vocab, n):
    return [" ".join(rng.choice(vocab, size=rng.integers(2, 6))) for _ in range(n)]


def test_fit_save_load_and_oov(tmp_path):
    from distilhash.query_encoders.light_text import LightTextConfig, load_light_text, tokenize
    from distilhash.query_encoders.light_text_fit import fit_light_text

    vocab = [f"w{i}" for i in range(30)]
    rng = np.random.default_rng(1)
    fit, val = _sentences(rng, vocab, 400), _sentences(rng, vocab, 100)
    enc = fit_light_text(fit, _bow_teacher(fit, vocab), val, _bow_teacher(val, vocab),
                         LightTextConfig(bigrams=False, min_count=1), progress=False)
    # a linear teacher is recovered closely on texts it never saw
    assert enc.report["val_cosine_mean"] > 0.97 and enc.report["n_fit"] == 400 and enc.report["unigrams"] == 30
    assert enc.report["alpha_relative"] in LightTextConfig().alphas
    feats, oov = enc.encode(["w1 w2 w3", "w1 zebra", "zebra okapi", "!!!"])
    assert feats.shape == (4, 16) and np.allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)
    assert oov.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert tokenize("Red HEART, cat-face!") == ["red", "heart", "cat", "face"]

    d = enc.save(tmp_path / "light")
    back = load_light_text(d)
    assert back.vocab == enc.vocab and back.report == enc.report
    assert np.array_equal(back.encode(["w4 w5 w5"])[0], enc.encode(["w4 w5 w5"])[0])


def test_bigrams_enter_the_vocabulary_by_count():
    from distilhash.query_encoders.light_text import LightTextConfig
    from distilhash.query_encoders.light_text_fit import fit_light_text

    fit = ["red heart", "red heart", "red apple", "green apple", "green heart"] * 4
    y = _bow_teacher(fit, ["red", "green", "heart", "apple"])
    enc = fit_light_text(fit, y, fit[:5], y[:5], LightTextConfig(min_count=8), progress=False)
    # 'red heart' occurs in 8 fit texts (kept); 'red apple' etc. in 4 (dropped, and counted as dropped)
    assert "red heart" in enc.vocab and "red apple" not in enc.vocab
    assert enc.report["bigrams"] == 1 and enc.report["dropped"]["bigrams_below_min_count"] == 3


def test_bad_files_and_inputs_are_named(tmp_path):
    from distilhash.errors import DataError, FeatureError
    from distilhash.query_encoders.light_text import load_light_text
    from distilhash.query_encoders.light_text_fit import fit_light_text

    with pytest.raises(DataError, match="encoder.json missing"):
        load_light_text(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "encoder.json").write_text("{not json")
    (tmp_path / "bad" / "encoder.safetensors").write_bytes(b"xx")
    with pytest.raises(DataError, match="not valid JSON"):
        load_light_text(tmp_path / "bad")
    with pytest.raises(FeatureError, match="3 texts"):
        fit_light_text(["a b", "b c", "c a"], np.zeros((2, 4)), ["a"], np.zeros((1, 4)), progress=False)


def _fit_world_light(world, max_oov: float = 0.5):
    """Fit the light encoder on the world's captions against the toy teacher; store it next to the model."""
    from distilhash.query_encoders.light_text import LightTextConfig, light_text_dir
    from distilhash.query_encoders.light_text_fit import fit_light_text

    texts = list(world["dataset"].texts)
    y = ServeToyTeacher().encode_texts(texts)
    enc = fit_light_text(texts, y, texts[:10], y[:10], LightTextConfig(min_count=1, max_oov=max_oov), progress=False)
    return enc.save(light_text_dir(world["model"]))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(tmp_path_factory.mktemp("lightworld"))
    _fit_world_light(w)
    return w


def test_service_answers_with_the_light_encoder_and_falls_back_for_unknown_words(world):
    from distilhash.serve.app import create_app

    app = create_app([world["image_index"], world["text_index"]], query_encoder="light", text_cache_size=0)
    svc = app.state.service
    teacher = svc.targets["text"].encoder.teacher
    with TestClient(app) as c:
        calls = teacher.text_calls
        r = c.get("/api/search", params={"q": "boat", "k": 5, "direction": "t2t"}).json()
        assert r["encoder"] == {"name": "light", "oov_rate": 0.0, "fallback": False}
        assert all("boat" in x["caption"].split() for x in r["results"])
        assert "light_text" in r["timings_ms"] and "teacher_text" not in r["timings_ms"]
        assert teacher.text_calls == calls  # the teacher did not run

        # all words unknown -> the teacher answers, and the answer says so
        r = c.get("/api/search", params={"q": "zebra okapi", "k": 3, "direction": "t2t"}).json()
        assert r["encoder"]["name"] == "teacher" and r["encoder"]["fallback"] and r["encoder"]["oov_rate"] == 1.0
        assert teacher.text_calls == calls + 1 and "teacher_text" in r["timings_ms"]
        # half unknown is not above max_oov=0.5: light
        r = c.get("/api/search", params={"q": "fish zebra", "k": 3, "direction": "t2t"}).json()
        assert r["encoder"]["name"] == "light" and r["encoder"]["oov_rate"] == 0.5
        stats = c.get("/api/stats").json()
        assert stats["query_encoder"] == "light" and stats["light_text"]["text"]["max_oov"] == 0.5
        assert stats["latency_ms"]["light_fallback"]["count"] == 1


def test_light_and_teacher_services_agree_on_known_words(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    dirs = [world["image_index"], world["text_index"]]
    with_light = SearchService(dirs, config=ServiceConfig(query_encoder="light"))
    with_teacher = SearchService(dirs, config=ServiceConfig(query_encoder="teacher"))
    try:
        for q in ("cat", "moon star", "tree dog"):
            a = with_light.search_text(q, 6, "t2t")
            b = with_teacher.search_text(q, 6, "t2t")
            assert a["encoder"]["name"] == "light" and b["encoder"]["name"] == "teacher"
            assert [x["caption"] for x in a["results"]] == [x["caption"] for x in b["results"]]
    finally:
        with_light.close()
        with_teacher.close()


def test_light_encoder_missing_or_misconfigured_is_a_clear_error(tmp_path):
    from distilhash.serve.engine import SearchService, ServiceConfig, ServiceError

    w = make_world(tmp_path, n=16)
    with pytest.raises(ServiceError, match="fit one with"):
        SearchService([w["image_index"]], config=ServiceConfig(query_encoder="light"))
    with pytest.raises(ServiceError, match="expected one of teacher, light"):
        SearchService([w["image_index"]], config=ServiceConfig(query_encoder="bert"))


def test_concurrent_queries_are_batched_and_answered_exactly(world):
    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light"))
    queries = [(f"{a} {b}", 1 + (i % 7)) for i, (a, b) in enumerate((a, b) for a in WORDS for b in WORDS if a != b)]
    try:
        alone = [svc.search_text(q, k, "t2t") for q, k in queries]
        futures = [svc.submit_text(q, k, "t2t") for q, k in queries]  # queued together
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

    one = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light"))
    two = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light", search_workers=2))
    keyed = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light", search_workers=2, api_key="k"))
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


def test_several_server_processes_need_a_read_only_service(world):
    from distilhash.serve.engine import ServiceError
    from distilhash.serve.server import start_service

    with pytest.raises(ServiceError, match="read-only"):
        start_service([world["text_index"]], workers=2, api_key="k", thumbnails=False, announce=None)


def test_worker_process_app_is_built_from_the_environment(world, monkeypatch):
    import json

    from distilhash.serve.server import _ENV, app_from_env

    spec = {"index_dirs": [str(world["text_index"])], "max_upload_mb": 1.0, "torch_threads": 1, "switch_interval_ms": None,
            "warmup": True, "freeze_gc": False, "config": {"query_encoder": "light", "text_cache_size": 0}}
    monkeypatch.setenv(_ENV, json.dumps(spec))
    app = app_from_env()
    with TestClient(app) as c:
        r = c.get("/api/search", params={"q": "moon", "k": 2}).json()
        assert r["encoder"]["name"] == "light" and all("moon" in x["caption"].split() for x in r["results"])
        assert c.get("/api/stats").json()["pid"] > 0


def test_a_cancelled_request_does_not_break_its_batch(world):
    import time
    from concurrent.futures import Future

    from distilhash.serve.batching import Pending
    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light"))
    try:
        t = svc.targets["text"]

        def pending(q: str) -> Pending:
            f, _ = t.light.encode([q])
            return Pending(f, 3, {"_meta": (q, "t2t"), "encoder": {"name": "light"}}, time.perf_counter(), Future())

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

    exact = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light"))
    other = SearchService([world["text_index"]], config=ServiceConfig(query_encoder="light", index_backend="numpy", search_workers=2))
    try:
        assert other.stats()["indexes"]["text"]["backend"] == "numpy"
        assert all(r.backend == "numpy" for r in other.targets["text"].replicas)
        for w in WORDS:
            a, b = exact.search_text(w, 4, "t2t"), other.search_text(w, 4, "t2t")
            assert [x["id"] for x in a["results"]] == [x["id"] for x in b["results"]]
    finally:
        exact.close()
        other.close()


def test_unknown_content_words_send_a_query_to_the_teacher(world):
    """Stop words do not dilute the unknown share: "a zebra" is as unknown as "zebra"; by default
    (max_oov 0) one unknown content word is enough to fall back."""
    from distilhash.query_encoders.light_text import LightTextConfig
    from distilhash.query_encoders.light_text_fit import fit_light_text

    texts = list(world["dataset"].texts)
    assert "fish" in " ".join(texts).split() and "zebra" not in " ".join(texts).split()
    y = ServeToyTeacher().encode_texts(texts)
    enc = fit_light_text(texts, y, texts[:10], y[:10], LightTextConfig(min_count=1), progress=False)
    assert enc.config.max_oov == 0.0
    _, oov = enc.encode(["a fish", "a zebra", "fish zebra", "fish with a zebra"])
    assert oov.tolist() == [0.0, 1.0, 0.5, 0.5]
    assert [bool(o > enc.config.max_oov) for o in oov] == [False, True, True, True]
