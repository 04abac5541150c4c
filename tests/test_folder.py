"""Source ``folder``: a user's images plus a JSONL or CSV captions file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data.dataset import load_dataset
from distilhash.data.sources import create_source_dataset
from distilhash.errors import DataError

ROWS = [
    {"image": "a.jpg", "caption": "a dog on the beach", "labels": ["dog", "beach"]},
    {"image": "b.jpg", "caption": "a cat asleep", "labels": ["cat"]},
    {"image": "sub/c.png", "caption": "two dogs and a cat", "labels": ["dog", "cat"]},
    {"image": "d.jpg", "caption": "an empty beach", "labels": ["beach"]},
]


def _images(root: Path, names) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)).save(p)


def _folder(tmp_path, rows=ROWS, fmt="jsonl", name="captions", images=None) -> Path:
    d = tmp_path / "my-photos"
    d.mkdir(exist_ok=True)
    _images(d, images if images is not None else [r["image"] for r in rows])
    if fmt == "jsonl":
        (d / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_jsonl_with_labels(tmp_path):
    d = _folder(tmp_path)
    ds = create_source_dataset("folder", path=d)
    assert ds.name == "my-photos" and len(ds) == 4
    assert ds.label_names == ["beach", "cat", "dog"]
    np.testing.assert_array_equal(ds.labels, [[1, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0]])
    assert ds.texts[2] == "two dogs and a cat"
    assert ds.ids == ["a", "b", "c", "d"]
    assert ds.images.array([2], 5).shape == (1, 5, 5, 3)
    assert any("all 4 image files present and fully decoded" in f for f in ds.meta["filters"])


def test_csv_with_header_and_separators(tmp_path):
    d = _folder(tmp_path, fmt="none")
    (d / "captions.csv").write_text(
        "image,caption,labels\n"
        'a.jpg,"a dog, on the beach",dog|beach\n'
        "b.jpg,a cat asleep,cat\n"
        "sub/c.png,two dogs and a cat,dog;cat\n"
        "d.jpg,an empty beach,beach\n"
    )
    ds = create_source_dataset("folder", path=d)
    assert ds.texts[0] == "a dog, on the beach"
    np.testing.assert_array_equal(ds.labels, [[1, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0]])


def test_headerless_csv_without_labels_has_no_label_columns(tmp_path):
    d = _folder(tmp_path, fmt="none")
    (d / "pairs.csv").write_text("a.jpg,a dog on the beach\nb.jpg,a cat asleep\nsub/c.png,dogs\nd.jpg,sand\n")
    ds = create_source_dataset("folder", path=d)
    assert ds.labels.shape == (4, 0) and ds.label_names == []
    assert ds.texts[1] == "a cat asleep"


def test_captions_file_given_directly_and_image_root_rewrites_absolute_paths(tmp_path):
    rows = [dict(r, image=f"/home/someone/photos/{r['image']}") for r in ROWS]
    d = _folder(tmp_path, rows=rows, images=[r["image"] for r in ROWS])
    from distilhash.data.folder import read_folder  # create_source_dataset's own first argument is `name`

    ds = read_folder(path=d / "captions.jsonl", image_root=d, name="mine")
    assert ds.name == "mine" and ds.images.paths[2] == "sub/c.png"


def test_partially_labelled_collection(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[1]["labels"] = []
    d = _folder(tmp_path, rows=rows)
    with pytest.raises(DataError, match=r"1 of 4 items have no label: b; pass drop_unlabelled=true"):
        create_source_dataset("folder", path=d)
    dropped = create_source_dataset("folder", path=d, drop_unlabelled=True)
    assert dropped.ids == ["a", "c", "d"]
    assert any("1 of 4 items had no label and were dropped" in f for f in dropped.meta["filters"])
    kept = create_source_dataset("folder", path=d, drop_unlabelled=False)
    assert len(kept) == 4 and any("were kept" in f for f in kept.meta["filters"])


def test_missing_and_unreadable_images_are_named(tmp_path):
    d = _folder(tmp_path)
    (d / "b.jpg").unlink()
    (d / "d.jpg").write_bytes(b"\x00garbage")
    with pytest.raises(DataError) as err:
        create_source_dataset("folder", path=d)
    assert "b.jpg" in str(err.value) and "d.jpg" in str(err.value) and "drop_missing_images" in str(err.value)
    ds = create_source_dataset("folder", path=d, drop_missing_images=True)
    assert ds.ids == ["a", "c"]
    assert any("drop_missing_images" in f and "b.jpg" in f for f in ds.meta["filters"])
    # says how many items went, then why: "dropped 2 items: 1 image file is missing: ...; 1 ... cannot be read"
    assert any(f.startswith("drop_missing_images: dropped 2 items: ") for f in ds.meta["filters"]), ds.meta["filters"]


def test_empty_caption_is_named(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[3]["caption"] = ""
    d = _folder(tmp_path, rows=rows)
    with pytest.raises(DataError, match=r"1 items have an empty caption: d"):
        create_source_dataset("folder", path=d)
    ds = create_source_dataset("folder", path=d, drop_empty_text=True)
    assert ds.ids == ["a", "b", "c"] and any("drop_empty_text" in f for f in ds.meta["filters"])


def test_several_rows_per_image_are_merged_and_reported(tmp_path):
    rows = ROWS + [{"image": "a.jpg", "caption": "sand and a dog", "labels": ["sand"]}]
    d = _folder(tmp_path, rows=rows, images=[r["image"] for r in ROWS])
    ds = create_source_dataset("folder", path=d)
    assert len(ds) == 4 and ds.texts[0] == "a dog on the beach"
    assert ds.labels[0, ds.label_names.index("sand")] == 1
    assert any("listed on several rows" in f for f in ds.meta["filters"])
    joined = create_source_dataset("folder", path=d, caption_mode="join")
    assert joined.texts[0] == "a dog on the beach sand and a dog"


def test_unlisted_images_are_reported(tmp_path):
    d = _folder(tmp_path, images=[r["image"] for r in ROWS] + ["extra1.jpg", "sub/extra2.png"])
    ds = create_source_dataset("folder", path=d)
    assert any("2 image files" in f and "not listed" in f for f in ds.meta["filters"])


def test_malformed_captions_files(tmp_path):
    d = _folder(tmp_path)
    (d / "captions.jsonl").write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"captions.jsonl:2: not valid JSON"):
        create_source_dataset("folder", path=d)
    (d / "captions.jsonl").write_text(json.dumps({"img": "a.jpg", "caption": "x"}) + "\n")
    with pytest.raises(DataError, match=r"captions.jsonl:1: keys \['caption', 'img'\]; expected an image key \(image\|file_name"):
        create_source_dataset("folder", path=d)
    (d / "captions.jsonl").unlink()
    with pytest.raises(DataError, match="no captions file"):
        create_source_dataset("folder", path=d)
    (d / "one.csv").write_text("a.jpg,x\n")
    (d / "two.jsonl").write_text("")
    with pytest.raises(DataError, match="several candidate captions files"):
        create_source_dataset("folder", path=d)


def test_cli_prepare_folder(tmp_path):
    d = _folder(tmp_path)
    result = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d)])
    assert result.exit_code == 0, result.output
    assert "prepared my-photos: 4 items" in result.output and "sizes scaled to the collection" in result.output
    assert "sample grid (4 items drawn" in result.output  # the grid's real count, not its 48 slots
    # the label table's heading on one line, not wrapped to the narrow table's width
    heading = [ln for ln in result.output.splitlines() if ln.startswith("label frequencies")]
    assert len(heading) == 1 and heading[0].startswith("label frequencies (top 3 of 3; rarest: ")
    assert heading[0].endswith(" 2):"), heading
    out = CliRunner().invoke(app, ["data", "info", "my-photos"])
    assert out.exit_code == 0 and "check_images=decode" in out.output
    (d / "a.jpg").unlink()
    bad = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d), "--name", "other"])
    assert bad.exit_code == 1 and "a.jpg" in bad.output


def test_prepared_folder_loads_from_elsewhere(tmp_path, monkeypatch):
    d = _folder(tmp_path)
    ds = create_source_dataset("folder", path=d)
    from distilhash.data.dataset import save_dataset

    save_dataset(ds, tmp_path / "prep")
    monkeypatch.chdir(tmp_path.parent)
    back = load_dataset(tmp_path / "prep")
    assert back.images.array([0, 3], 4).shape == (2, 4, 4, 3) and back.label_names == ds.label_names


def test_a_folder_without_captions_file_can_take_captions_from_file_names(tmp_path):
    """A newcomer's folder of well-named pictures: the error offers captions=filenames, which then works."""
    d = tmp_path / "pics"
    _images(d, ["RedApple_2.jpg", "storm-clouds.png", "a.dog.on.the.beach.jpg"])
    with pytest.raises(DataError, match=r"no captions file.*captions=filenames"):
        create_source_dataset("folder", path=d)
    ds = create_source_dataset("folder", path=d, captions="filenames")
    assert sorted(ds.texts) == ["a dog on the beach", "red apple 2", "storm clouds"]
    assert ds.label_names == [] and ds.meta["captions_file"] == "from the file names"
    assert any("all 3 image files present and fully decoded" in f for f in ds.meta["filters"])


def test_captions_from_file_names_label_by_subfolder_only_when_every_image_has_one(tmp_path):
    d = tmp_path / "pics"
    _images(d, ["fruit/red-apple.jpg", "fruit/pear.png", "sky/storm_clouds.jpg"])
    ds = create_source_dataset("folder", path=d, captions="filenames")
    assert ds.label_names == ["fruit", "sky"]
    by_text = dict(zip(ds.texts, ds.labels.tolist()))
    assert by_text == {"pear": [1, 0], "red apple": [1, 0], "storm clouds": [0, 1]}
    _images(d, ["loose.jpg"])  # one image outside a subfolder: no labels at all rather than an unlabelled item
    assert create_source_dataset("folder", path=d, captions="filenames").label_names == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="captions=filenames found no image files"):
        create_source_dataset("folder", path=tmp_path / "empty", captions="filenames")


def test_cli_prepare_folder_with_captions_from_file_names(tmp_path):
    d = tmp_path / "pics"
    _images(d, ["goldfish.png", "yellow-flower.jpg", "printer.png", "storm-clouds.jpg"])
    res = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d), "--opt", "captions=filenames"])
    assert res.exit_code == 0, res.output
    assert "prepared pics: 4 items" in res.output
    from distilhash.paths import datasets_dir

    assert sorted(load_dataset(datasets_dir() / "pics").texts) == ["goldfish", "printer", "storm clouds", "yellow flower"]


def test_splitting_a_dataset_prepared_without_a_split_says_so(tmp_path):
    """A folder prepared with --no-split, then with a split: the same items, now split (not "another split")."""
    d = _folder(tmp_path)
    first = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d), "--no-split"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d)])
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())
    assert "the same items, now split" in text and "another split" not in text

def test_preparing_again_with_new_pictures_says_what_it_replaced(tmp_path):
    """A user added a picture and ran `data prepare folder` again: the dataset was replaced without a word, and the
    next `teacher extract` failed on a cache "made for something else". Now the replacement is said, with the
    feature caches it leaves stale and the command that redoes them; an unchanged folder says nothing."""
    from distilhash.paths import features_dir

    d = _folder(tmp_path)
    first = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d)])
    assert first.exit_code == 0 and "replaced" not in first.output
    from distilhash.data.store import open_prepared

    ds, sp = open_prepared("my-photos")
    cache = features_dir() / "my-photos__some-teacher"
    cache.mkdir(parents=True)
    (cache / "manifest.json").write_text(json.dumps({"dataset": "my-photos", "dataset_hash": ds.content_hash(),
                                                     "split_hash": sp.hash}))
    again = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d)])
    assert again.exit_code == 0 and "replaced" not in again.output  # the same pictures and split: nothing stale
    rows = ROWS + [{"image": "e.jpg", "caption": "a new cat", "labels": ["cat"]}]
    _folder(tmp_path, rows=rows)
    out = CliRunner().invoke(app, ["data", "prepare", "folder", "--path", str(d)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "replaced the earlier 'my-photos' (4 items; now other items)" in text
    assert f"stale feature cache: {cache}" in text
    assert "distilhash teacher extract --dataset my-photos --overwrite" in text
