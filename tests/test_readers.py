"""Readers of the published layouts (dcmh-mat, dchmt-mat) on fixture files built at test time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matfixtures import Chars, save_mat
from PIL import Image
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data.assemble import rewrite_image_paths
from distilhash.data.dataset import load_dataset
from distilhash.data.images import ArrayImageStore, FileImageStore
from distilhash.data.matlab import MatFile
from distilhash.data.sources import create_source_dataset
from distilhash.data.store import open_prepared
from distilhash.errors import DataError

VERSIONS = ["v5", "v7.3"]
# layout (MATLAB logical axes) -> permutation from NHWC
LAYOUTS = {"NHWC": (0, 1, 2, 3), "NCHW": (0, 3, 1, 2), "HWCN": (1, 2, 3, 0), "CHWN": (3, 1, 2, 0)}


def _columns(n=12, c=4, v=9, h=5, w=4, seed=0, unlabelled=(2, 7)):
    """Labels (some rows empty), a bag of words (no empty row) and non-square NHWC pixels."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.4).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    labels[list(unlabelled)] = 0
    bow = (rng.random((n, v)) < 0.3).astype(np.float64)
    bow[np.arange(n), rng.integers(0, v, n)] = 1
    pixels = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    return labels, bow, pixels


def _kept(n, unlabelled=(2, 7)):
    return np.setdiff1d(np.arange(n), unlabelled)


# -- MATLAB file access ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_matfile_reads_logical_order_strings_and_cells(tmp_path, version):
    arr = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    path = save_mat(tmp_path / "x.mat", {
        "A": arr, "S": Chars(["/home/a/im1.jpg", "/home/a/im22.jpg"]),
        "C": ["one caption", ["first of two", "second of two"]],
    }, version)
    mf = MatFile(path)
    assert mf.version == version
    assert mf.variables()["A"] == (2, 3, 4)
    np.testing.assert_array_equal(mf.read("A"), arr)
    assert mf.read("S") == ["/home/a/im1.jpg", "/home/a/im22.jpg"]
    assert mf.read("C") == ["one caption", ["first of two", "second of two"]]
    with pytest.raises(DataError, match="no variable 'B'"):
        mf.read("B")


def test_matfile_rejects_non_mat_file(tmp_path):
    bad = tmp_path / "broken.mat"
    bad.write_bytes(b"this is not a MAT file at all" * 10)
    with pytest.raises(DataError, match="broken.mat"):
        MatFile(bad)


# -- dcmh-mat ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_dcmh_single_file_pixels_any_layout(tmp_path, version, layout):
    labels, bow, pixels = _columns()
    stored = np.transpose(pixels, LAYOUTS[layout])
    path = save_mat(tmp_path / "flickr.mat", {"LAll": labels, "YAll": bow, "IAll": stored}, version)
    ds = create_source_dataset("dcmh-mat", path=path, label_names="a,b,c,d")
    keep = _kept(len(labels))
    assert isinstance(ds.images, ArrayImageStore)
    np.testing.assert_array_equal(ds.images.pixels, pixels[keep])  # H=5, W=4 kept apart
    np.testing.assert_array_equal(ds.labels, labels[keep])
    np.testing.assert_array_equal(ds.bow, bow[keep].astype(np.float32))
    assert ds.texts is None and ds.label_names == ["a", "b", "c", "d"]
    assert ds.name == "flickr"
    assert any("2 of 12 items had no label and were dropped" in f for f in ds.meta["filters"])
    assert ds.ids == [f"{i:06d}" for i in keep]  # ids keep the original row numbers


def test_dcmh_bow_with_vocabulary_gives_texts(tmp_path):
    labels, bow, pixels = _columns()
    vocab = tmp_path / "tags.txt"
    words = [f"tag{j}" for j in range(bow.shape[1])]
    vocab.write_text("\n".join(words) + "\n")
    path = save_mat(tmp_path / "f.mat", {"LAll": labels, "YAll": bow, "IAll": pixels})
    ds = create_source_dataset("dcmh-mat", path=path, vocab=vocab)
    row = _kept(len(labels))[0]
    assert ds.texts[0] == " ".join(w for w, x in zip(words, bow[row]) if x)
    assert ds.tags[0] == ds.texts[0].split()


@pytest.mark.parametrize("version", VERSIONS)
def test_dcmh_separate_files_directory_and_list(tmp_path, version):
    labels, bow, pixels = _columns()
    d = tmp_path / "mirflickr"
    d.mkdir()
    save_mat(d / "mirflickr25k-lall.mat", {"LAll": labels}, version)
    save_mat(d / "mirflickr25k-yall.mat", {"YAll": bow}, version)
    save_mat(d / "mirflickr25k-iall.mat", {"IAll": np.transpose(pixels, LAYOUTS["HWCN"])}, version)
    a = create_source_dataset("dcmh-mat", path=d)
    b = create_source_dataset("dcmh-mat", path=sorted(d.glob("*.mat")))
    c = create_source_dataset("dcmh-mat", path=",".join(str(p) for p in sorted(d.glob("*.mat"))))
    assert a.name == "mirflickr25k"
    for ds in (a, b, c):
        np.testing.assert_array_equal(ds.images.pixels, pixels[_kept(len(labels))])
        assert ds.content_hash() == a.content_hash()


def test_dcmh_keep_unlabelled_when_asked(tmp_path):
    labels, bow, pixels = _columns()
    path = save_mat(tmp_path / "f.mat", {"LAll": labels, "YAll": bow, "IAll": pixels})
    ds = create_source_dataset("dcmh-mat", path=path, drop_unlabelled=False)
    assert len(ds) == len(labels)
    assert any("2 items have no label and were kept" in f for f in ds.meta["filters"])


def _write_images(root: Path, names: list[str], size=(6, 5)) -> None:
    rng = np.random.default_rng(1)
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)


@pytest.mark.parametrize("version", VERSIONS)
def test_dcmh_fall_paths_rewritten_under_image_root(tmp_path, version):
    labels, bow, _ = _columns(unlabelled=())
    n = len(labels)
    names = [f"im{i + 1}.jpg" for i in range(n)]
    root = tmp_path / "images"
    _write_images(root / "mirflickr", names)
    fall = [f"/home/author/data/mirflickr/{x}" for x in names]
    path = save_mat(tmp_path / "f.mat", {"LAll": labels, "YAll": bow, "FAll": fall}, version)
    ds = create_source_dataset("dcmh-mat", path=path, image_root=root)
    assert isinstance(ds.images, FileImageStore)
    assert ds.images.paths[0] == "mirflickr/im1.jpg"  # the longest tail that exists under the root
    assert ds.ids[:2] == ["im1", "im2"]
    assert ds.images.array([0, 1], 8).shape == (2, 8, 8, 3)
    with pytest.raises(DataError, match=r"image files are missing: .*im1\.jpg.*image_root"):
        create_source_dataset("dcmh-mat", path=path)  # the authors' absolute paths do not exist here


def test_dcmh_fall_features_need_an_image_list(tmp_path):
    labels, bow, _ = _columns(unlabelled=())
    n = len(labels)
    feats = np.random.default_rng(0).random((n, 16))
    path = save_mat(tmp_path / "f.mat", {"LAll": labels, "YAll": bow, "FAll": feats})
    with pytest.raises(DataError, match=r"FAll.*numeric image features \[12, 16\].*image_list"):
        create_source_dataset("dcmh-mat", path=path)
    names = [f"im{i}.png" for i in range(n)]
    _write_images(tmp_path / "imgs", names)
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(f"C:\\Users\\author\\imgs\\{x}" for x in names) + "\n")  # Windows paths
    ds = create_source_dataset("dcmh-mat", path=path, image_list=lst, image_root=tmp_path / "imgs")
    assert ds.images.paths[3] == "im3.png" and len(ds) == n


# -- dchmt-mat -----------------------------------------------------------------------------------
DCHMT_VARIANTS = [  # (label key, image key, text key, version): every key variant appears at least once per version
    ("category", "index", "caption", "v5"),
    ("label", "imgs", "tags", "v5"),
    ("LAll", "FAll", "YAll", "v5"),
    ("labels", "index", "caption", "v5"),
    ("category", "FAll", "tags", "v7.3"),
    ("label", "index", "YAll", "v7.3"),
    ("LAll", "imgs", "caption", "v7.3"),
    ("labels", "imgs", "caption", "v7.3"),
]


def _dchmt_dir(tmp_path, label_key, image_key, text_key, version, n=10, paths_as="chars", multi=False):
    labels, bow, _ = _columns(n=n, unlabelled=(4,))
    d = tmp_path / "dchmt" / "mirflickr"
    d.mkdir(parents=True)
    names = [f"im{i + 1}.jpg" for i in range(n)]
    root = tmp_path / "images"
    _write_images(root, names)
    abs_paths = [f"/data/authors/MIRFLICKR-25K/mirflickr/{x}" for x in names]
    save_mat(d / "index.mat", {image_key: Chars(abs_paths) if paths_as == "chars" else list(abs_paths)}, version)
    captions = [f"caption number {i}" for i in range(n)]
    if text_key == "YAll":
        text = bow
    elif multi:
        text = [[c, c + " again"] for c in captions]
    else:
        text = list(captions)
    save_mat(d / "caption.mat", {text_key: text}, version)
    save_mat(d / "label.mat", {label_key: labels}, version)
    return d, root, labels, bow, captions


@pytest.mark.parametrize("label_key,image_key,text_key,version", DCHMT_VARIANTS)
def test_dchmt_every_key_variant(tmp_path, label_key, image_key, text_key, version):
    d, root, labels, bow, captions = _dchmt_dir(tmp_path, label_key, image_key, text_key, version,
                                                paths_as="cells" if version == "v7.3" else "chars")
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root)
    keep = _kept(len(labels), (4,))
    assert ds.name == "mirflickr" and len(ds) == len(keep)
    np.testing.assert_array_equal(ds.labels, labels[keep])
    assert ds.images.paths[0] == "im1.jpg"
    if text_key == "YAll":
        assert ds.texts is None
        np.testing.assert_array_equal(ds.bow, bow[keep].astype(np.float32))
    else:
        assert ds.texts == [captions[i] for i in keep]
    assert set(ds.meta["keys"]) >= {"labels", "text", "paths"}
    assert any("1 of 10 items had no label" in f for f in ds.meta["filters"])


@pytest.mark.parametrize("version", VERSIONS)
def test_dchmt_several_captions_per_item(tmp_path, version):
    d, root, _, _, captions = _dchmt_dir(tmp_path, "category", "index", "caption", version, multi=True)
    first = create_source_dataset("dchmt-mat", path=d, image_root=root)
    assert first.texts[0] == captions[0]
    assert any("several captions" in note for note in first.meta["notes"])
    joined = create_source_dataset("dchmt-mat", path=d, image_root=root, caption_mode="join")
    assert joined.texts[0] == f"{captions[0]} {captions[0]} again"


def test_dchmt_caption_txt_and_label_names(tmp_path):
    d, root, labels, _, captions = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    (d / "caption.mat").unlink()
    (d / "caption.txt").write_text("\n".join(f"txt {c}" for c in captions) + "\n")
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"class-{j}" for j in range(labels.shape[1])) + "\n")
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, label_names=names)
    assert ds.texts[0] == f"txt {captions[0]}"
    assert ds.label_names[1] == "class-1"


def test_known_label_names_must_match_column_count(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    with pytest.raises(DataError, match="24 names but .*label.mat.*4 label columns"):
        create_source_dataset("dchmt-mat", path=d, image_root=root, label_names="mirflickr25k")


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_keys_name_file_keys_and_expected(tmp_path, version):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", version)
    save_mat(d / "label.mat", {"lab_matrix": np.eye(10, 4)}, version)
    with pytest.raises(DataError) as err:
        create_source_dataset("dchmt-mat", path=d, image_root=root)
    msg = str(err.value)
    assert "label.mat: lab_matrix [10, 4]" in msg and "LAll|category|label|labels" in msg and "[N, C]" in msg
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, label_key="lab_matrix")
    assert ds.num_labels == 4


def test_mismatched_lengths_name_both_files(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    save_mat(d / "caption.mat", {"caption": [f"c{i}" for i in range(9)]})
    with pytest.raises(DataError, match=r"mismatched item counts.*label.mat.*caption.mat.*: 9"):
        create_source_dataset("dchmt-mat", path=d, image_root=root)


def test_wrong_shapes_and_values(tmp_path):
    labels, bow, pixels = _columns(unlabelled=())
    p = save_mat(tmp_path / "a.mat", {"LAll": labels, "YAll": bow, "IAll": pixels[..., 0]})
    with pytest.raises(DataError, match=r"IAll.*3-D image array; expected uint8 images \[N, H, W, 3\]"):
        create_source_dataset("dcmh-mat", path=p)
    p = save_mat(tmp_path / "b.mat", {"LAll": labels * 3, "YAll": bow, "IAll": pixels})
    with pytest.raises(DataError, match=r"LAll.*not 0/1; expected 0/1 multi-hot"):
        create_source_dataset("dcmh-mat", path=p)
    p = save_mat(tmp_path / "c.mat", {"LAll": labels, "YAll": bow[:5], "IAll": pixels})
    with pytest.raises(DataError, match=r"YAll.*no axis of length N=12"):
        create_source_dataset("dcmh-mat", path=p)
    with pytest.raises(DataError, match="dataset file not found"):
        create_source_dataset("dcmh-mat", path=tmp_path / "absent.mat")


def test_missing_and_unreadable_images(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    (root / "im3.jpg").unlink()
    (root / "im6.jpg").write_text("not an image")
    with pytest.raises(DataError) as err:
        create_source_dataset("dchmt-mat", path=d, image_root=root)
    msg = str(err.value)
    assert "1 image file is missing" in msg and "im3.jpg" in msg
    assert "1 image file cannot be read" in msg and "im6.jpg" in msg
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, drop_missing_images=True)
    assert "im3" not in ds.ids and "im6" not in ds.ids and len(ds) == 10 - 1 - 2
    assert any(f.startswith("drop_missing_images") for f in ds.meta["filters"])


def test_empty_captions_are_named_or_dropped_on_request(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    caps = [f"c{i}" for i in range(10)]
    caps[6] = "   "
    save_mat(d / "caption.mat", {"caption": caps})
    with pytest.raises(DataError, match=r"1 items have an empty caption: im7.*drop_empty_text"):
        create_source_dataset("dchmt-mat", path=d, image_root=root)
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, drop_empty_text=True)
    assert "im7" not in ds.ids
    assert any("drop_empty_text: 1 items" in f for f in ds.meta["filters"])


def test_missing_dchmt_file_lists_what_is_there(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    (d / "label.mat").rename(d / "labels_v2.mat")
    with pytest.raises(DataError, match=r"no label file .*expected label.mat.*labels_v2.mat"):
        create_source_dataset("dchmt-mat", path=d, image_root=root)
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, label=d / "labels_v2.mat")
    assert len(ds) == 9


def test_rewrite_prefers_longest_existing_tail(tmp_path):
    root = tmp_path / "root"
    _write_images(root, ["a/x.jpg", "x.jpg", "b/y.jpg"])
    res = rewrite_image_paths(["/home/u/data/a/x.jpg", "D:\\data\\b\\y.jpg", "/elsewhere/z.jpg", "rel/x.jpg"], root, None)
    assert res.paths[:2] == ["a/x.jpg", "b/y.jpg"]
    assert res.paths[3] == "x.jpg"
    assert res.missing == [2]


# -- command line -----------------------------------------------------------------------------------
def test_cli_prepare_dcmh_with_mirflickr_preset(tmp_path):
    """20,100 rows of which 85 unlabelled: the MIRFlickr convention keeps 20,015, the preset's size."""
    n, c = 20_100, 24
    rng = np.random.default_rng(0)
    labels = np.zeros((n, c), np.uint8)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    labels[rng.choice(n, 85, replace=False)] = 0
    bow = np.zeros((n, 30), np.uint8)
    bow[np.arange(n), rng.integers(0, 30, n)] = 1
    pixels = rng.integers(0, 256, (2, 2, 3, n), dtype=np.uint8)  # MATLAB [H, W, 3, N]
    path = save_mat(tmp_path / "mirflickr25k.mat", {"LAll": labels, "YAll": bow, "IAll": pixels}, "v7.3")
    result = CliRunner().invoke(app, ["data", "prepare", "dcmh-mat", "--path", str(path), "--image-root", str(tmp_path),
                                      "--preset", "mirflickr25k", "--opt", "label_names=mirflickr25k"])
    assert result.exit_code == 0, result.output
    assert "85 of 20100 items had no label and were dropped" in result.output
    ds, split = open_prepared("mirflickr25k")
    assert len(ds) == 20_015 and ds.label_names[0] == "animals"
    assert split.sizes()["query"] == 2000 and split.sizes()["retrieval"] == 18_015
    info = CliRunner().invoke(app, ["data", "info", "mirflickr25k"])
    assert info.exit_code == 0 and "drop_unlabelled" in info.output


def test_cli_prepare_dchmt_without_preset_and_bad_input(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v7.3")
    out = tmp_path / "prepared"
    result = CliRunner().invoke(app, ["data", "prepare", "dchmt-mat", "--path", str(d), "--image-root", str(root),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "sizes scaled to the 9 items (1 query, 8 retrieval" in result.output  # no preset: scaled to the collection
    ds = load_dataset(out)
    assert len(ds) == 9 and ds.images.array([0], 4).shape == (1, 4, 4, 3)
    (root / "im2.jpg").unlink()
    bad = CliRunner().invoke(app, ["data", "prepare", "dchmt-mat", "--path", str(d), "--image-root", str(root),
                                   "--out", str(tmp_path / "p2")])
    assert bad.exit_code == 1 and "im2.jpg" in bad.output


def test_plain_hdf5_in_c_order_and_fall_with_pixels(tmp_path):
    """HDF5 written by h5py (no MATLAB header or classes) is read as stored; a 4-D FAll holds pixels."""
    import h5py

    labels, bow, pixels = _columns(unlabelled=())
    with h5py.File(tmp_path / "plain.mat", "w") as f:
        f["LAll"], f["YAll"], f["FAll"] = labels, bow, pixels
    ds = create_source_dataset("dcmh-mat", path=tmp_path / "plain.mat")
    assert ds.meta["mat_versions"] == {str(tmp_path / "plain.mat"): "hdf5"}
    np.testing.assert_array_equal(ds.images.pixels, pixels)
    np.testing.assert_array_equal(ds.labels, labels)


def test_dchmt_index_npy_strings_and_pickles_refused(tmp_path):
    d, root, *_ = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    (d / "index.mat").unlink()
    np.save(d / "index.npy", np.array([f"/x/y/im{i + 1}.jpg" for i in range(10)]))
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root)
    assert ds.images.paths[0] == "im1.jpg" and len(ds) == 9
    np.save(d / "index.npy", np.array([f"im{i + 1}.jpg" for i in range(10)], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="index.npy: holds pickled Python objects"):
        create_source_dataset("dchmt-mat", path=d, image_root=root)


def test_dchmt_caption_string_matrix_n_by_k(tmp_path):
    """COCO-style captions saved from Python as an [N, 5] string array (a 3-D MATLAB char array)."""
    d, root, _, _, captions = _dchmt_dir(tmp_path, "category", "index", "caption", "v5")
    grid = np.array([[f"{c} v{k}" for k in range(5)] for c in captions])
    save_mat(d / "caption.mat", {"caption": grid})
    ds = create_source_dataset("dchmt-mat", path=d, image_root=root, caption_mode="join")
    assert ds.texts[0] == " ".join(f"{captions[0]} v{k}" for k in range(5))


def test_unknown_extra_variables_are_reported_not_silent(tmp_path):
    labels, bow, pixels = _columns(unlabelled=())
    path = save_mat(tmp_path / "f.mat", {"LAll": labels, "YAll": bow, "IAll": pixels, "idx_query": np.arange(3.0)})
    ds = create_source_dataset("dcmh-mat", path=path)
    assert any("ignored" in n and "idx_query" in n for n in ds.meta["notes"])
