"""Bad input at the CLI gets a clear error naming the thing (issue 14, "CLI and data" and "Journeys").

Each case was a traceback, a silent loss or a misleading message before; every test runs the real
command through typer's CliRunner.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_dataset
from PIL import Image
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data import SplitSpec, make_split, save_dataset
from distilhash.errors import DataError, FeatureError
from distilhash.paths import datasets_dir, home


def run(*args: object, code: int = 0) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, f"exit {res.exit_code}: {res.output}{res.exception!r}"
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)  # never a traceback
    return res.output


def oversized_png(path: Path, width: int, height: int) -> Path:
    """A ~70-byte PNG whose header claims ``width x height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def photo_folder(root: Path, n: int = 6, name: str = "photos") -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        colour = ["red", "green", "blue"][i % 3]
        Image.new("RGB", (12, 10), {"red": (200, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 200)}[colour]).save(d / f"p{i}.png")
        rows.append({"image": f"p{i}.png", "caption": f"a {colour} patch", "labels": [colour]})
    (d / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


# -- data prepare ---------------------------------------------------------------------------------
def test_invalid_utf8_captions_name_the_file_and_line(tmp_path):
    d = photo_folder(tmp_path)
    lines = (d / "captions.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"patch", b"p\xe9tch")  # latin-1, not UTF-8
    (d / "captions.jsonl").write_bytes(b"".join(lines))
    out = run("data", "prepare", "folder", "--path", d, code=1)
    assert "captions.jsonl:3: not valid UTF-8 (byte 0xe9" in out
    (d / "captions.jsonl").unlink()
    (d / "captions.csv").write_bytes(b"image,caption\np0.png,a red patch\np1.png,caf\xe9\n")
    out = run("data", "prepare", "folder", "--path", d, code=1)
    assert "captions.csv:3: not valid UTF-8" in out


@pytest.mark.parametrize("size", [(50_000, 50_000), (10_000, 9_000)])
def test_oversized_image_in_a_folder_is_named_with_its_size(tmp_path, size):
    d = photo_folder(tmp_path)
    oversized_png(d / "p4.png", *size)
    out = run("data", "prepare", "folder", "--path", d, code=1)
    assert "p4.png" in out and "megapixels" in out and "over the limit" in out
    with pytest.raises(DataError, match=r"p4.png is .*megapixels"):
        from distilhash.data.images import open_image_file

        open_image_file(d / "p4.png")


def test_truncated_image_fails_at_prepare_not_at_extract(tmp_path):
    d = photo_folder(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(d / "p2.png")
    data = (d / "p2.png").read_bytes()
    (d / "p2.png").write_bytes(data[: len(data) // 2])
    out = run("data", "prepare", "folder", "--path", d, code=1)
    assert "p2.png" in out and "cannot be read" in out
    out = run("data", "prepare", "folder", "--path", d, "--opt", "drop_missing_images=true")
    assert "prepared photos: 5 items" in out


def test_unknown_source_lists_the_real_ones():
    out = run("data", "prepare", "no-such-source", code=1)
    assert "folder" in out and "emoji-scenes" in out and "dcmh-mat" in out and "(none registered)" not in out


def test_version_and_paths():
    assert run("--version").startswith("distilhash ")
    out = run("paths")
    assert str(home()) in out and "$DISTILHASH_HOME" in out
    info = json.loads(run("paths", "--json"))
    assert info["datasets"]["path"] == str(datasets_dir())


def test_paths_lists_fitted_teachers_not_the_encoding_cache():
    # after one `teacher extract` with the shipped teacher a new user read "teachers ...: cache", as if a
    # teacher named "cache" were fitted there
    from distilhash.paths import teachers_dir

    (teachers_dir() / "cache").mkdir(parents=True)
    assert "teachers" in run("paths") and json.loads(run("paths", "--json"))["teachers"]["entries"] == []
    (teachers_dir() / "lite0-prior-mine").mkdir()
    assert json.loads(run("paths", "--json"))["teachers"]["entries"] == ["lite0-prior-mine"]


# -- splits ---------------------------------------------------------------------------------------
def test_split_messages_say_what_is_wrong():
    from distilhash.data.split import auto_spec

    with pytest.raises(DataError, match=r"1 item\(s\) is too small to split.*needs 4 items"):
        auto_spec(1)
    with pytest.raises(DataError, match="1 queries leave no retrieval item in a dataset of 1 items"):
        make_split(1, SplitSpec(n_query=1, n_train=1, n_val=0))
    with pytest.raises(DataError, match="at least 1 query item"):
        make_split(5, SplitSpec(n_query=0, n_train=1, n_val=0))
    spec = auto_spec(30)
    assert (spec.n_query, spec.n_train, spec.n_val, spec.origin) == (3, 27, 3, "auto")
    big = auto_spec(20_015)
    assert (big.n_query, big.n_train, big.n_val) == (2000, 10000, 1000)


def test_prepare_tiny_collection_says_why_there_is_no_split(tmp_path):
    d = photo_folder(tmp_path, n=2)
    out = run("data", "prepare", "folder", "--path", d)
    assert "no split saved" in out and "too small to split" in out
    out = run("train", "pq", "--dataset", "photos", code=1)
    assert "no split.json" in out and "distilhash data split photos" in out


def test_explicit_split_sizes_and_data_split(tmp_path):
    d = photo_folder(tmp_path, n=12)
    out = run("data", "prepare", "folder", "--path", d, "--queries", "2", "--val", "2")
    assert "sizes given (2 queries, 10 retrieval, 10 train of which 2 validation)" in out
    out = run("data", "split", "photos", "--queries", "3", code=1)
    assert "--force" in out
    out = run("data", "split", "photos", "--queries", "3", "--force")
    assert "3 queries, 9 retrieval" in out


# -- names and paths ------------------------------------------------------------------------------
def test_a_folder_named_like_a_prepared_dataset_does_not_shadow_it(tmp_path, monkeypatch):
    d = photo_folder(tmp_path)
    run("data", "prepare", "folder", "--path", d)
    monkeypatch.chdir(tmp_path)  # ./photos is the raw folder, "photos" the prepared dataset
    out = run("data", "info", "photos")
    assert str(datasets_dir() / "photos") in out
    out = run("data", "info", "./photos", code=1)
    assert "without dataset.json" in out and "photos" in out
    out = run("data", "info", "nosuch", code=1)
    assert str(datasets_dir() / "nosuch") in out and "DISTILHASH_HOME" in out and "prepared datasets under" in out


# -- features -------------------------------------------------------------------------------------
def _tiny_cache(n: int = 60):
    """A prepared dataset 'tiny' with a split and a teacher feature cache (precomputed features)."""
    from distilhash.teachers.cache import extract_features
    from distilhash.training.synthetic import features_for_labels

    ds = make_tiny_dataset(n=n, n_labels=4)
    save_dataset(ds, datasets_dir() / "tiny")
    make_split(n, SplitSpec(n_query=10, n_train=40, n_val=8), ds.content_hash()).save(datasets_dir() / "tiny" / "split.json")
    feat_file = home() / "tiny_feats.npz"
    np.savez(feat_file, ids=np.asarray(ds.ids), **features_for_labels(ds.labels, width=16, seed=0))
    teacher = f"features:{feat_file}"
    return ds, teacher, extract_features("tiny", teacher, progress=False)


def _poison(cache: Path, rows: list[int]) -> None:
    """Write NaN into ``image.npy`` rows and re-seal the manifest (a cache that passes its checksums)."""
    from distilhash.io_utils import sha256_file

    image = np.load(cache / "image.npy")
    image[rows, 3] = np.nan
    np.save(cache / "image.npy", image)
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["files"]["image.npy"] = sha256_file(cache / "image.npy")
    (cache / "manifest.json").write_text(json.dumps(manifest))


def test_nan_feature_rows_are_refused_by_train_and_index_build(tmp_path):
    ds, teacher, cache = _tiny_cache()
    model = tmp_path / "itq"
    run("train", "itq", "--dataset", "tiny", "--teacher", teacher, "--bits", "8", "--out", model, "--no-eval")
    _poison(cache, [7, 31])
    out = run("train", "itq", "--dataset", "tiny", "--teacher", teacher, "--bits", "8", "--out", tmp_path / "m2", code=1)
    assert "image.npy" in out and "rows 7 (id item0007), 31 (id item0031)" in out
    out = run("index", "build", tmp_path / "ix", "--model", model, "--dataset", "tiny", "--teacher", teacher, code=1)
    assert "NaN" in out and "item0007" in out
    assert not (tmp_path / "ix").exists() and not list(tmp_path.glob(".ix.building-*"))


def test_baselines_refuse_nan_rows_in_fit_and_encode():
    from distilhash.methods.base import create_method
    from distilhash.teachers.features import FeatureSet
    from distilhash.training.synthetic import features_for_labels

    ds = make_tiny_dataset(n=50, n_labels=4)
    arrays = features_for_labels(ds.labels, width=16, seed=0)
    arrays["text"][12, 0] = np.inf
    feats = FeatureSet(image=arrays["image"], text=arrays["text"], labels=ds.labels, ids=ds.ids,
                       manifest={"teacher": "t", "dataset": "tiny"})
    split = make_split(50, SplitSpec(n_query=5, n_train=45, n_val=5, seed=0))
    if 12 not in split.fit:
        split = make_split(50, SplitSpec(n_query=5, n_train=45, n_val=5, seed=1))
    assert 12 in split.fit
    with pytest.raises(FeatureError, match=r"text features of split.fit .*row 12 \(id item0012\)"):
        create_method("itq", n_bits=8).fit(feats, split)
    arrays["text"][12, 0] = 0.0
    model = create_method("lsh", n_bits=8).fit(feats, split)
    bad = arrays["image"][:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(FeatureError, match="image features to encode: 1 of 3 rows hold NaN"):
        model.encode("image", bad)


def test_huge_feature_values_are_normalised_honestly(tmp_path):
    from distilhash.teachers.common import check_unit_rows, l2_normalize
    from distilhash.teachers.precomputed import PrecomputedTeacher

    x = np.full((3, 4), 1e38, np.float32)
    x[1] = [3e37, 0, 0, -4e37]
    unit = l2_normalize(x)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(FeatureError, match=r"3 of 3 rows are not unit-norm \(norms between 5e\+37 and 2e\+38"):
        check_unit_rows(x, "rows")
    np.savez(tmp_path / "f.npz", ids=np.asarray(["a", "b", "c"]), image=x, text=x)
    teacher = PrecomputedTeacher(tmp_path / "f.npz")
    np.testing.assert_allclose(np.linalg.norm(teacher.lookup("image", ["a", "b"]), axis=1), 1.0, rtol=1e-6)
    assert teacher.normalized_rows == 6


# -- index build / add ------------------------------------------------------------------------------
def _codes_file(path: Path, ids: list[str]) -> Path:
    from distilhash.codes_file import save_encoded
    from distilhash.codes import Encoded

    bits = np.random.default_rng(0).integers(0, 2, (len(ids), 16)).astype(np.uint8)
    save_encoded(path, {"image": Encoded("binary", np.packbits(bits, axis=1), 16)}, indices=np.arange(len(ids)),
                 ids=ids, role="database", part="all")
    return path


def test_index_build_codes_missing_key_names_expected_and_found(tmp_path):
    pytest.importorskip("faiss")
    good = _codes_file(tmp_path / "c.npz", ["a", "b", "c"])
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "image.kind"}
    np.savez(tmp_path / "bad.npz", **arrays)
    out = run("index", "build", tmp_path / "ix", "--codes", tmp_path / "bad.npz", code=1)
    assert "lacks the key(s) image.kind" in out and "found:" in out and "image.n_bits" in out
    np.savez(tmp_path / "none.npz", x=np.zeros(3))
    out = run("index", "build", tmp_path / "ix", "--codes", tmp_path / "none.npz", code=1)
    assert "holds no 'image' or 'text' codes" in out and "found: x" in out
    assert not (tmp_path / "ix").exists()


def test_failed_index_build_leaves_nothing_and_never_touches_an_existing_index(tmp_path):
    pytest.importorskip("faiss")
    dup = _codes_file(tmp_path / "dup.npz", ["a", "b", "a"])  # refused by the index after it was created
    out = run("index", "build", tmp_path / "ix", "--codes", dup, code=1)
    assert not (tmp_path / "ix").exists() and not list(tmp_path.glob(".ix.building-*")), out
    run("index", "build", tmp_path / "ix", "--codes", _codes_file(tmp_path / "ok.npz", ["a", "b", "c"]))
    before = sorted(p.name for p in (tmp_path / "ix").iterdir())
    out = run("index", "build", tmp_path / "ix", "--codes", tmp_path / "ok.npz", code=1)
    assert "already holds an index" in out and sorted(p.name for p in (tmp_path / "ix").iterdir()) == before
    assert "the index holds 3" not in out


def test_index_add_metadata_with_invalid_utf8(tmp_path):
    pytest.importorskip("faiss")
    run("index", "build", tmp_path / "ix", "--codes", _codes_file(tmp_path / "c.npz", ["a", "b"]))
    more = _codes_file(tmp_path / "more.npz", ["c", "d"])
    (tmp_path / "md.jsonl").write_bytes(b'{"id": "c", "title": "ok"}\n{"id": "d", "title": "caf\xe9"}\n')
    out = run("index", "add", tmp_path / "ix", "--codes", more, "--metadata", tmp_path / "md.jsonl", code=1)
    assert "md.jsonl:2: not valid UTF-8" in out
    out = run("index", "info", tmp_path / "ix")
    assert "│ count" in out and "│ 2 " in out.replace("  ", " ")


# -- threads --------------------------------------------------------------------------------------
def test_library_and_cli_share_one_thread_policy(monkeypatch):
    import torch

    from distilhash import threads

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", [])
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("DISTILHASH_THREADS", "2")
    try:
        assert threads.ensure_threads() == 2 and torch.get_num_threads() == 2
        assert threads.ensure_threads() is None  # once per process: a later choice is not overridden
        monkeypatch.setattr(threads, "_chosen", [])
        monkeypatch.delenv("DISTILHASH_THREADS")
        from distilhash.training.seed import seed_everything

        seed_everything(0)  # where every training run starts
        assert torch.get_num_threads() == threads.DEFAULT_THREADS == 1
        monkeypatch.setenv("DISTILHASH_THREADS", "zero")
        with pytest.raises(Exception, match="DISTILHASH_THREADS"):
            threads.default_threads()
    finally:
        torch.set_num_threads(before)


def test_damaged_prepared_dataset_files_are_named(tmp_path):
    d = photo_folder(tmp_path)
    run("data", "prepare", "folder", "--path", d)
    items = datasets_dir() / "photos" / "items.jsonl"
    lines = items.read_bytes().splitlines(keepends=True)
    items.write_bytes(b"".join(lines[:3]) + b'{"id": "p3", "te\n' + b"".join(lines[4:]))
    out = run("data", "info", "photos", code=1)
    assert "items.jsonl:4: not valid JSON" in out
    items.write_bytes(b"".join(lines[:1]) + lines[1].replace(b"patch", b"p\xffatch") + b"".join(lines[2:]))
    out = run("data", "check", "photos", code=1)
    assert "items.jsonl:2: not valid UTF-8" in out


def test_display_caption_count_names_the_titles_read_before_filtering():
    """`data prepare openclipart` said "922 of 4018 titles replaced" beside "3861 items": say what the 4018 are."""
    from distilhash.cli.data import _print_display_captions

    class _Console:
        def __init__(self):
            self.lines: list[str] = []

        def print(self, text):
            self.lines.append(text)

    class _Ds:
        meta = {"display_captions": {"items": 5, "replaced": 2, "title_junk": {"clipart-by": 2}, "source": {"title": 3}}}
        texts = ["a", "b", "c"]
        display_texts = ["a", "b", "c"]

        def __len__(self):
            return 3

    console = _Console()
    _print_display_captions(_Ds(), console)
    assert "2 of the 5 titles read (before filtering to 3 items) replaced" in console.lines[0]
    _Ds.meta["display_captions"]["items"] = 3
    console = _Console()
    _print_display_captions(_Ds(), console)
    assert "2 of 3 titles replaced" in console.lines[0]
