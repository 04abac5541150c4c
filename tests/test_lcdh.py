"""LCDH: students, losses, the online stream (frozen codes, durable store, resume) and the CLI, on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.data.split import SplitSpec, make_split
from distilhash.errors import ConfigError, DataError, FeatureError
from distilhash.methods.base import create_method, load_method
from distilhash.teachers.features import FeatureSet
from distilhash.training.synthetic import features_for_labels

FAST = dict(n_bits=16, chunk_size=100, min_update_items=10, teacher_epochs=6, teacher_patience=0, epochs_per_chunk=6, batch_size=50, lr=3e-3,
            image_channels=[8, 16, 16], text_hidden=32, teacher_hidden=32, teacher_heads=2, progress=False,
            image_init="random")


def synth(n: int = 420, n_labels: int = 5, size: int = 16, seed: int = 0):
    """Pixels with one coloured quadrant per label, texts naming the labels, label-driven teacher features."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, n_labels), np.uint8)
    for i in range(n):
        labels[i, rng.choice(n_labels, rng.integers(1, 3), replace=False)] = 1
    colors = rng.integers(80, 256, (n_labels, 3))
    pix = rng.integers(0, 60, (n, size, size, 3))
    h = size // 2
    for i in range(n):
        for j in np.flatnonzero(labels[i]):
            pix[i, (j % 2) * h:(j % 2) * h + h, (j // 2 % 2) * h:(j // 2 % 2) * h + h] = colors[j] // (1 + j // 4)
    names = [f"thing{j}" for j in range(n_labels)]
    texts = [" ".join([names[j] for j in np.flatnonzero(r)] + [f"noise{rng.integers(4)}"]) for r in labels]
    ds = CrossModalDataset(name="synth", ids=[f"x{i:05d}" for i in range(n)], texts=texts, labels=labels,
                           label_names=names, images=ArrayImageStore(pix.astype(np.uint8)))
    fs = FeatureSet(labels=labels, ids=list(ds.ids), manifest={"teacher": "synthetic", "width": 16, "count": n},
                    **features_for_labels(labels, 16, seed))
    split = make_split(n, SplitSpec(n_query=60, n_train=200, n_retrieval=None, n_val=40, seed=seed), "synth")
    return ds, fs, split


@pytest.fixture(scope="module")
def data():
    return synth()


@pytest.fixture(scope="module")
def fitted(data):
    torch.set_num_threads(1)
    ds, fs, split = data
    seen = []
    m = create_method("lcdh", **FAST).fit(fs, split, dataset=ds, on_chunk=lambda r, mm: seen.append(
        (r.chunk, r.stored_total, mm.evaluate_online(ds, fs.labels, split.query))))
    return m, seen


def test_vocabulary_from_training_text_counts_unknown_tokens():
    from distilhash.students.vocab import Vocabulary, tokenize

    assert tokenize("Light-blue Héart!") == ["light", "blue", "heart"]
    v = Vocabulary.build(["a cat", "a dog", "a cat and owl"], min_count=2)
    assert v.tokens == ["a", "cat"] and v.info["dropped_min_count"] == 3
    x = v.transform(["cat cat zebra", "nothing known"])
    assert x.shape == (2, 2) and x[0, 1] == pytest.approx(1.0) and not x[1].any()
    assert v.last_oov_rate == pytest.approx(3 / 5)
    with pytest.raises(DataError):
        Vocabulary.build(["x", "y"], min_count=2)


def test_vgg16_option_fails_clearly_without_torchvision():
    from distilhash.students import create_image_student

    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ConfigError, match="torchvision"):
            create_image_student("vgg16")
    else:  # pragma: no cover - not this environment
        assert create_image_student("vgg16").out_dim == 4096


def test_stream_loss_terms_and_likelihood_direction():
    from distilhash.losses.lcdh_stream import LCDHStreamLoss, code_similarity

    b = torch.sign(torch.randn(8, 16))
    s = code_similarity(b, b)
    assert torch.allclose(torch.diagonal(s), torch.ones(8)) and s.min() >= 0
    loss = LCDHStreamLoss(lam=8.0)
    good = loss(b * 0.9, b * 0.9, s)["cross"]
    bad = loss(b * 0.9, -b * 0.9, s)["cross"]
    assert good < bad
    terms = loss(b * 0.5, b * 0.5, s, old_img=b, old_txt=b, s_old=s)
    assert set(terms) == {"cross", "old", "quant", "balance", "total"}
    assert torch.isclose(terms["total"], sum(v for k, v in terms.items() if k != "total"))


def test_standardized_target_and_alignment_term():
    from distilhash.losses.lcdh_stream import LCDHStreamLoss, code_similarity

    b = torch.sign(torch.randn(16, 32))
    lin, std = code_similarity(b, b), code_similarity(b, b, "standardized", 3.0)
    assert ((lin >= 0) & (lin <= 1)).all() and ((std >= 0) & (std <= 1)).all()
    assert std.std() > lin.std()  # sharper contrast
    loss = LCDHStreamLoss(align_weight=1.0)
    assert loss(b, b, lin, b=b)["align"] == 0 and loss(-b, b, lin, b=b)["align"] > 0


def test_hash_batchnorm_starts_away_from_the_saddle():
    from distilhash.methods.lcdh.nets import LCDHStudent
    from distilhash.students import create_image_student, create_text_student

    def student(norm):
        torch.manual_seed(0)
        return LCDHStudent(create_image_student("small-cnn", image_size=16, channels=[8, 16]),
                           create_text_student("bow", vocab_size=20, hidden=16), 16, norm)

    bow = torch.rand(64, 20)
    assert student("batchnorm").text(bow).abs().mean() > 3 * student("none").text(bow).abs().mean()


def test_stream_absorbs_every_chunk_and_never_recomputes_codes(fitted, data):
    m, seen = fitted
    ds, fs, split = data
    n_chunks = -(-len(split.retrieval) // FAST["chunk_size"])
    assert [c for c, _, _ in seen] == list(range(n_chunks))
    assert [t for _, t, _ in seen] == [min((k + 1) * 100, len(split.retrieval)) for k in range(n_chunks)]
    assert sorted(m.store_.rows.tolist()) == sorted(split.retrieval.tolist())
    info = m.fit_info_
    assert info["n_chunks"] == n_chunks and info["store"] == "memory" and info["kept_epoch"] >= 1
    # database codes are the frozen ones: chunk 0 was encoded by an earlier student than the current one
    first = m.store_.rows[m.store_.chunk_of == 0]
    frozen = m.encode_dataset("image", ds, first, "database").data
    current = m.encode_dataset("image", ds, first, "query").data
    assert np.array_equal(frozen, np.packbits(m.store_.codes("image")[m.store_.chunk_of == 0] > 0, axis=1))
    assert not np.array_equal(frozen, current)


def test_student_learns_from_the_teacher(fitted, data):
    m, seen = fitted
    ds, fs, split = data
    from distilhash.eval.metrics import evaluate

    q = m.encode_dataset("image", ds, split.query, "query")
    db = m.encode_dataset("text", ds, split.retrieval, "database")
    learned = evaluate(q, db, fs.labels[split.query], fs.labels[split.retrieval], curves=False).map_all
    untrained = create_method("lcdh", **FAST)
    untrained.image_size_, untrained.vocab_ = 16, m.vocab_
    untrained.student_ = untrained._build_student(len(m.vocab_))
    q0 = untrained.encode_dataset("image", ds, split.query, "query")
    db0 = untrained.encode_dataset("text", ds, split.retrieval, "query")
    base = evaluate(q0, db0, fs.labels[split.query], fs.labels[split.retrieval], curves=False).map_all
    assert learned > base + 0.1
    assert seen[-1][2]["i2t"] == pytest.approx(learned)


def test_encode_refuses_teacher_features(fitted, data):
    m, _ = fitted
    ds, fs, _ = data
    with pytest.raises(FeatureError, match="teacher features"):
        m.encode("image", fs.image[:3])  # the contract of a raw-input method: encode_raw / encode_dataset
    with pytest.raises(FeatureError, match="teacher features"):
        m.encode_raw("image", fs.image[:3])
    with pytest.raises(FeatureError, match="list of strings"):
        m.encode_raw("text", fs.text[:3])
    assert m.encode_raw("text", ["thing1 thing2"]).data.shape == (1, 2)
    assert m.encode_raw("image", ds.images.array(np.arange(2), m.image_size_)).data.shape == (2, 2)


def test_fit_needs_the_dataset(data):
    _, fs, split = data
    with pytest.raises(ConfigError, match="dataset"):
        create_method("lcdh", **FAST).fit(fs, split)


def test_save_load_roundtrip(fitted, data, tmp_path):
    m, _ = fitted
    ds, _, split = data
    m.save(tmp_path / "m")
    m2 = load_method(tmp_path / "m")
    for mod in ("image", "text"):
        assert np.array_equal(m2.encode_dataset(mod, ds, split.query, "query").data,
                              m.encode_dataset(mod, ds, split.query, "query").data)
        assert np.array_equal(m2.encode_dataset(mod, ds, split.retrieval, "database").data,
                              m.encode_dataset(mod, ds, split.retrieval, "database").data)


def test_durable_stream_resumes_after_interruption(data, tmp_path):
    ds, fs, split = data
    cfg = dict(FAST, epochs_per_chunk=1, teacher_epochs=2)

    class Stop(Exception):
        pass

    def crash(report, method):
        if report.chunk == 1:
            raise Stop

    from distilhash.pipeline.stream import fit_stream

    with pytest.raises(Stop):
        fit_stream(create_method("lcdh", **cfg), fs, split, ds, tmp_path / "s", on_chunk=crash)
    from distilhash.index import open_index

    stored = {k: len(open_index(tmp_path / "s" / f"codes-{k}")) for k in ("image", "text", "teacher")}
    assert stored == {"image": 200, "text": 200, "teacher": 200}
    before = open_index(tmp_path / "s" / "codes-image").get([ds.ids[int(r)] for r in split.retrieval])
    m = fit_stream(create_method("lcdh", **cfg), fs, split, ds, tmp_path / "s")
    assert m.fit_info_["resumed"]["from_chunk"] == 2 and m.fit_info_["store"].startswith("index engine")
    assert len(open_index(tmp_path / "s" / "codes-image")) == len(split.retrieval)
    after = open_index(tmp_path / "s" / "codes-image").get(list(before))
    assert all(np.array_equal(before[i][0], after[i][0]) for i in before)  # earlier chunks never recomputed
    with pytest.raises(ConfigError, match="another config"):
        fit_stream(create_method("lcdh", **dict(cfg, lam=3.0)), fs, split, ds, tmp_path / "s")


def test_cli_train_stream(data, tmp_path):
    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from distilhash.data import save_dataset
    from distilhash.paths import datasets_dir, home
    from distilhash.teachers.cache import extract_features

    ds, _, _ = data
    ds = CrossModalDataset(name="lc", ids=ds.ids, texts=ds.texts, labels=ds.labels, label_names=ds.label_names,
                           images=ds.images)
    save_dataset(ds, datasets_dir() / "lc")
    split = make_split(len(ds), SplitSpec(n_query=60, n_train=200, n_retrieval=None, n_val=40, seed=0), ds.content_hash())
    split.save(datasets_dir() / "lc" / "split.json")
    np.savez(home() / "f.npz", ids=np.asarray(ds.ids), **features_for_labels(ds.labels, 16, 0))
    extract_features("lc", f"features:{home() / 'f.npz'}", progress=False)
    sets = [x for k, v in FAST.items() if k not in ("n_bits", "progress", "chunk_size")
            for x in ("--set", f"{k}={json.dumps(v)}")]
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "lcdh", "--dataset", "lc", "--teacher", f"features:{home() / 'f.npz'}",
                                   "--bits", "16", "--stream", "--chunk-size", "150", "--out", str(out), "--threads", "1",
                                   "--no-progress", *sets, "--set", "epochs_per_chunk=1"])
    assert res.exit_code == 0, res.output
    assert "query" in res.output and "mAP@all" in res.output
    record = json.loads((out / "train.json").read_text())
    assert record["config"]["chunk_size"] == 150 and 0 <= record["map_all"]["query"]["i2t"] <= 1
    assert (out / "stream" / "checkpoint" / "stream.json").is_file()
    assert json.loads((out / "stream" / "checkpoint" / "stream.json").read_text())["chunks_done"] == 3  # 360 retrieval items in chunks of 150
    # `distilhash encode` reads pixels / texts for the raw-input student: stored codes for the database
    from distilhash.codes_file import load_encoded

    res = CliRunner().invoke(app, ["encode", str(out), "--dataset", "lc", "--teacher", f"features:{home() / 'f.npz'}",
                                   "--part", "retrieval", "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    codes, meta = load_encoded(tmp_path / "r.npz")
    m = load_method(out)
    assert np.array_equal(codes["image"].data, m.encode_dataset("image", ds, meta["indices"], "database").data)
    assert codes["text"].data.shape == (len(meta["indices"]), 2)
    # the index stage stores the frozen codes; raw queries go to the student, never to a teacher
    from distilhash.index import open_index
    from distilhash.pipeline.index import build_index
    from distilhash.pipeline.search import search_by_text
    from distilhash.query_encoders.query_encoder import ModelQueryEncoder

    build_index(tmp_path / "ix", model=out, dataset="lc", part="retrieval", modality="image",
                teacher=f"features:{home() / 'f.npz'}")
    with open_index(tmp_path / "ix") as ix:
        stored = ix.get([ds.ids[int(i)] for i in meta["indices"][:5]])
        assert all(np.array_equal(stored[ds.ids[int(i)]][0], codes["image"].data[j]) for j, i in enumerate(meta["indices"][:5]))
        enc = ModelQueryEncoder(out, teacher="no-such-teacher-is-created")
        assert enc.capabilities.text.name == enc.capabilities.image.name == "student"
        hits = search_by_text(ix, ["thing1 thing2"], k=5, encoder=enc)
        assert len(hits) == 1 and len(hits[0].ids) == 5
        assert enc.encode_images([ds.images.array(np.arange(1), m.image_size_)[0]]).data.shape == (1, 2)
    from distilhash.serve.config import ServiceConfig, ServiceError
    from distilhash.serve.engine import SearchService

    with pytest.raises(ServiceError, match="does not apply"):  # its own text encoder: no static encoder to use
        SearchService([tmp_path / "ix"], config=ServiceConfig(query_encoder="static"))
    import io

    from PIL import Image

    svc = SearchService([tmp_path / "ix"], teacher="no-such-teacher-is-created")  # the student answers, no teacher
    try:
        svc.warm()
        ans = svc.search_text("thing1 thing2", k=5)
        assert ans["encoder"]["name"] == "student" and len(ans["results"]) == 5
        want = search_by_text(open_index(tmp_path / "ix"), ["thing1 thing2"], k=5, encoder=enc)[0]
        assert [r["id"] for r in ans["results"]] == list(want.ids)
        buf = io.BytesIO()
        Image.fromarray(ds.images.array(np.arange(1), 64)[0]).save(buf, format="PNG")
        assert len(svc.search_image(buf.getvalue(), k=3)["results"]) == 3
    finally:
        svc.close()
    res = CliRunner().invoke(app, ["train", "dcmq", "--dataset", "lc", "--teacher", f"features:{home() / 'f.npz'}",
                                   "--stream", "--out", str(tmp_path / "x"), "--no-progress"])
    assert res.exit_code == 1 and "--stream" in res.output


def test_leftover_chunk_is_stored_without_an_update(data):
    ds, fs, split = data
    reports = []
    m = create_method("lcdh", **dict(FAST, epochs_per_chunk=1, teacher_epochs=2, min_update_items=80)).fit(
        fs, split, dataset=ds, on_chunk=lambda r, mm: reports.append((r, {k: v.clone() for k, v in mm.student_.state_dict().items()})))
    sizes = [r.items for r, _ in reports]
    assert sizes[-1] < 80 <= min(sizes[:-1])  # 360 retrieval items in chunks of 100: the last holds 60
    assert [r.extra["updated"] for r, _ in reports] == [True] * (len(sizes) - 1) + [False]
    before, after = reports[-2][1], reports[-1][1]
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics untouched
    assert len(m.store_) == len(split.retrieval)  # but its codes were stored


def test_selection_runs_leave_the_validation_items_out_of_the_stream(data):
    """Model selection scores split.val queries, so a selection run must never train on them."""
    ds, fs, split = data
    m = create_method("lcdh", **dict(FAST, epochs_per_chunk=1, teacher_epochs=2, stream_exclude_val=True)).fit(
        fs, split, dataset=ds)
    stored = set(m.store_.rows.tolist())
    assert stored == set(split.retrieval.tolist()) - set(split.val.tolist())
    assert not stored & set(split.val.tolist()) and len(split.val) > 0


def test_budget_states_the_teacher_stop_and_the_students_fixed_pass(fitted):
    """LCDH's budget: the offline teacher is early-stopped (cap, flag); the online student makes one pass."""
    m, _ = fitted
    b = m.fit_info_["budget"]
    teacher, student = b["stages"]["teacher"], b["stages"]["student"]
    assert teacher["cap"] == FAST["teacher_epochs"] and teacher["stopped_early"] is False  # patience 0: never early
    assert student["stopped_early"] is None and b["stopped_early"] is None
    assert student["cap"] == student["epochs_run"] == m.fit_info_["n_chunks"] * FAST["epochs_per_chunk"]
    assert "one pass" in student["note"]
