"""One query path: the service, the CLI's search function and the Python API answer a query with the
same items and distances as the explicit steps the service used to run itself (teacher or static
encoder -> method.encode(role="query") -> index.search); every encoder implements the
QueryEncoder protocol and declares its readers; the service's match distances come from the index
package and equal what the service computed before."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")

from serve_fixtures import COLOURS, WORDS, ServeToySign, ServeToyTeacher, make_world, png_bytes  # noqa: E402

QUERIES = [*WORDS, "cat dog", "a boat under the moon", "zebra okapi"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("querypath"))


def _fit_static(world, root):
    pytest.importorskip("model2vec")
    from static_fixtures import make_tiny_tower

    from distilhash.query_encoders.static_text import static_text_dir
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    texts = list(world["dataset"].texts)
    return fit_static_text(make_tiny_tower(root / "tower"), texts, ServeToyTeacher().encode_texts(texts),
                           static_text_dir(world["model"]), config=StaticTextConfig(pca_dims=0), cache_dir=root / "cache")


def _old_text_features(world, reader: str, texts: list[str]) -> np.ndarray:
    """The features the service computed itself before the one path (its static encoder or the teacher)."""
    if reader == "static":
        from distilhash.query_encoders.static_text import load_static_text, static_text_dir

        return load_static_text(static_text_dir(world["model"])).encode(texts)
    return ServeToyTeacher().encode_texts(texts)


@pytest.mark.parametrize("reader", ["teacher", "static"])
def test_service_cli_and_api_answer_as_the_old_explicit_steps(world, tmp_path, reader):
    from distilhash.index import open_index
    from distilhash.pipeline.search import search_by_text, search_index
    from distilhash.serve.engine import SearchService, ServiceConfig

    if reader == "static":
        _fit_static(world, tmp_path)
    method = ServeToySign()
    svc = SearchService([world["image_index"], world["text_index"]], config=ServiceConfig(query_encoder=reader, text_cache_size=0))
    try:
        for ix, direction in ((world["image_index"], "t2i"), (world["text_index"], "t2t")):
            with open_index(ix) as idx:
                old = idx.search(method.encode("text", _old_text_features(world, reader, QUERIES), role="query"), 7)
                api = search_by_text(idx, QUERIES, k=7, encoder=svc.targets["text"].encoder)
            cli = search_index(ix, texts=QUERIES, k=7, query_encoder=reader)
            assert cli.encoders == [reader] * len(QUERIES)
            for q, want, a, c in zip(QUERIES, old, api, cli.results):
                got = svc.search_text(q, 7, direction)
                assert got["encoder"] == {"name": reader}
                assert [r["id"] for r in got["results"]] == list(want.ids) == list(a.ids) == list(c.ids), q
                assert [r["distance"] for r in got["results"]] == want.distances.tolist() == c.distances.tolist(), q
    finally:
        svc.close()
        if reader == "static":
            import shutil

            from distilhash.query_encoders.static_text import static_text_dir

            shutil.rmtree(static_text_dir(world["model"]))  # the module's other tests use the teacher by default


def test_image_queries_answer_as_the_old_explicit_steps(world):
    from distilhash.data.images import open_image_bounded
    from distilhash.index import open_index
    from distilhash.pipeline.search import search_by_image
    from distilhash.serve.engine import SearchService

    method, teacher = ServeToySign(), ServeToyTeacher()
    svc = SearchService([world["image_index"], world["text_index"]])
    try:
        for j in range(len(COLOURS)):
            data = png_bytes(COLOURS[j])
            image = open_image_bounded(data)
            for ix, direction in ((world["image_index"], "i2i"), (world["text_index"], "i2t")):
                with open_index(ix) as idx:
                    want = idx.search(method.encode("image", teacher.encode_images([image]), role="query"), 5)[0]
                    api = search_by_image(idx, [image], k=5, encoder=svc.targets["image"].encoder)[0]
                got = svc.search_image(data, 5, direction)
                assert [r["id"] for r in got["results"]] == list(want.ids) == list(api.ids)
                assert [r["distance"] for r in got["results"]] == want.distances.tolist()
                assert "teacher_image" in got["timings_ms"] and "project" in got["timings_ms"]
    finally:
        svc.close()


def test_every_encoder_implements_the_protocol_and_declares_its_readers(world):
    from distilhash.errors import ConfigError
    from distilhash.query_encoders.protocol import QueryEncoder, ReadCost
    from distilhash.query_encoders.query_encoder import ModelQueryEncoder

    from_dir = ModelQueryEncoder(world["model"])
    in_memory = ModelQueryEncoder.from_method(ServeToySign(), ServeToyTeacher())
    for enc in (from_dir, in_memory):
        assert isinstance(enc, QueryEncoder)
        caps = enc.capabilities
        assert caps.method == "serve-toy-sign" and caps.feature_width == len(WORDS)
        assert caps.text.name == caps.image.name == "teacher" and caps.text.cost is ReadCost.HEAVY and caps.text.torch
        feats = enc.read("text", ["cat", "moon dog"])
        assert feats.shape == (2, len(WORDS)) and feats.dtype == np.float32
        assert np.array_equal(enc.project("text", ["cat", "moon dog"], feats).data, enc.encode_texts(["cat", "moon dog"]).data)
        # database codes of new items: the teacher's towers and the model's database role
        assert np.array_equal(enc.encode_items("text", ["cat"]).data,
                              ServeToySign().encode("text", ServeToyTeacher().encode_texts(["cat"]), role="database").data)
    assert from_dir.capabilities.model_dir == world["model"] and from_dir.capabilities.teacher == "serve-toy"
    assert in_memory.capabilities.model_dir is None
    with pytest.raises(ConfigError, match="pass the teacher"):
        ModelQueryEncoder.from_method(ServeToySign())
    with pytest.raises(ConfigError, match="takes no 'audio' queries; it takes: text, image"):
        from_dir.capabilities.reader("audio")


def _old_match_distances(query: np.ndarray, codes: np.ndarray, codebooks, metric: str) -> np.ndarray:
    """What serve/match.py computed itself before: popcount of the XOR, or ADC through the sample's reconstructions."""
    if codebooks is None:
        popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
        return popcount[np.bitwise_xor(query[:, None, :], codes[None])].sum(-1).astype(np.float32)
    from distilhash.index.ivf import reconstruct

    recon = reconstruct(codes, np.asarray(codebooks, np.float32))
    recon_sq = np.einsum("nd,nd->n", recon, recon)
    ip = query @ recon.T
    return -ip if metric == "ip" else np.maximum(np.einsum("qd,qd->q", query, query)[:, None] - 2.0 * ip + recon_sq[None, :], 0.0)


@pytest.mark.parametrize("kind,metric", [("binary", "l2"), ("pq", "l2"), ("pq", "ip")])
def test_match_distances_are_the_index_distances(tmp_path, kind, metric):
    from distilhash.index import IndexOptions, create_index, open_index
    from distilhash.serve.match import MatchReference

    rng = np.random.default_rng(5)
    if kind == "binary":
        codes = np.unique(rng.integers(0, 256, (300, 4), dtype=np.uint8), axis=0)
        queries = rng.integers(0, 256, (6, 4), dtype=np.uint8)
        args = {"n_bits": 32}
    else:
        cb = rng.normal(size=(4, 16, 3)).astype(np.float32)
        codes = np.unique(rng.integers(0, 16, (300, 4), dtype=np.uint8), axis=0)
        queries = rng.normal(size=(6, 12)).astype(np.float32)
        args = {"codebooks": cb, "metric": metric}
    with create_index(tmp_path / "ix", kind=kind, **args) as idx:
        idx.add([f"x{i}" for i in range(len(codes))], codes)
    with open_index(tmp_path / "ix", options=IndexOptions(backend="numpy")) as idx:
        ref = MatchReference(idx, n=len(codes))  # every item: the reference's distances are the exact scan's
        got = ref.distances(queries)
        for q, row in zip(queries, got):
            res = idx.search(q[None], len(codes))[0]
            stored = {i: c for i, (c, _) in idx.get(res.ids).items()}
            by_code = {stored[i].tobytes(): d for i, d in zip(res.ids, res.distances.tolist())}
            want = [by_code[c.tobytes()] for c in ref.codes]
            if kind == "binary":
                assert row.tolist() == want  # Hamming: exact
            else:
                assert np.allclose(row, want, atol=1e-4)  # ADC: the searchers' table sums, up to float rounding
        # and what the service computed before, to the bit
        assert np.array_equal(got, _old_match_distances(queries, ref.codes, idx.codebooks, metric))
