"""The library functions behind the commands, called from Python without the CLI (tiny dataset + features)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.errors import ConfigError, DataError, FeatureError


def test_train_encode_index_add_evaluate_from_python(tiny_prepared, tmp_path):
    from distilhash.codes import Encoded
    from distilhash.codes_file import load_encoded, save_encoded
    from distilhash.index import open_index
    from distilhash.pipeline.encode import encode_database
    from distilhash.pipeline.evaluate import evaluate_model
    from distilhash.pipeline.index import add_items, build_index
    from distilhash.pipeline.train import TRAIN_RECORD, train_model

    teacher, split = tiny_prepared
    lines: list[str] = []
    model, record = train_model("itq", "tiny", teacher, bits=16, seed=3, out=tmp_path / "itq", say=lines.append,
                                command="test")
    assert record["model_dir"] == str(tmp_path / "itq") and record["n_bits"] == 16 and record["seed"] == 3
    assert json.loads((tmp_path / "itq" / TRAIN_RECORD).read_text()) == json.loads(json.dumps(record))
    assert set(record["map_all"]) == {"val", "query"} and record["split_hash"] == split.hash
    assert any(line.startswith("note: only 40 query") for line in lines) and any("training itq" in x for x in lines)

    part = encode_database(tmp_path / "itq", "tiny", tmp_path / "db.npz", teacher=teacher, part="retrieval")
    codes, meta = load_encoded(tmp_path / "db.npz")
    assert np.array_equal(meta["indices"], split.retrieval) and not part.from_dataset
    assert np.array_equal(codes["image"].data, part.codes["image"].data)
    query_codes = model.encode("image", np.zeros((1, 16), np.float32) + 0.1, "query")

    first, rest = split.retrieval[:50], split.retrieval[50:]
    (tmp_path / "md.jsonl").write_text("".join(json.dumps({"id": meta["ids"][i], "n": i}) + "\n"
                                               for i in range(len(first))))
    def subset(rows, path):  # the image codes of some rows, as their own encoded file
        keep = np.isin(meta["indices"], rows)
        image = codes["image"]
        save_encoded(path, {"image": Encoded(image.kind, image.data[keep], image.n_bits, None, image.metric)},
                     indices=meta["indices"][keep], ids=[i for i, k in zip(meta["ids"], keep) if k],
                     role="database", part="retrieval")

    subset(first, tmp_path / "first.npz")
    subset(rest, tmp_path / "rest.npz")
    built = build_index(tmp_path / "ix", codes=tmp_path / "first.npz", modality="image", metadata=tmp_path / "md.jsonl")
    assert built["items"] == 50 and built["info"]["count"] == 50 and built["info"]["n_bits"] == 16
    items, total = add_items(tmp_path / "ix", codes=tmp_path / "rest.npz", dataset="tiny")
    assert total == len(split.retrieval) and items.metadata[0]["dataset"] == "tiny"
    with open_index(tmp_path / "ix") as idx:
        hit = idx.search(query_codes, 3)[0]
        assert len(hit.ids) == 3
    with pytest.raises(ConfigError, match="already holds an index"):
        build_index(tmp_path / "ix", codes=tmp_path / "first.npz")
    assert not list(tmp_path.glob(".ix.building-*"))  # nothing left behind by the refused build

    reports, rec = evaluate_model(tmp_path / "itq", "tiny", teacher, top_n=(10,), progress=False)
    assert set(reports) == {"i2t", "t2i"} and rec["split_hash"] == split.hash
    assert (tmp_path / "itq" / "eval-query" / "report.json").is_file()


def test_library_errors_name_what_is_wrong(tiny_prepared, tmp_path):
    from distilhash.pipeline.encode import encode_part, part_indices
    from distilhash.pipeline.index import build_index, metadata_from_file
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.pipeline.search import search_index

    teacher, split = tiny_prepared
    with pytest.raises(FeatureError, match="no teacher features at .*teacher extract"):
        load_features_and_split("tiny", "minilm-lit")
    with pytest.raises(DataError, match="unknown part 'nope'"):
        part_indices(split, "nope", 240)
    with pytest.raises(DataError, match="role 'sideways'"):
        encode_part(tmp_path, "tiny", teacher, role="sideways")
    with pytest.raises(ConfigError, match="give --codes FILE, or --model DIR"):
        build_index(tmp_path / "ix")
    with pytest.raises(DataError, match="one kind per call"):
        search_index(tmp_path / "ix")
    bad = tmp_path / "md.jsonl"
    bad.write_text('{"id": "a"}\n\n[1, 2]\n')
    with pytest.raises(DataError, match=r"md.jsonl:3: a list, expected a JSON object"):
        metadata_from_file(bad, ["a"])
    bad.write_text('{"name": "a"}\n')
    with pytest.raises(DataError, match=r"md.jsonl:1: .*'id' key"):
        metadata_from_file(bad, ["a"])


def test_prepare_dataset_and_redraw_split(tmp_path):
    from distilhash.data.prepare import prepare_dataset, redraw_split
    from distilhash.data.store import SPLIT_FILE

    folder = tmp_path / "photos"
    folder.mkdir()
    from PIL import Image

    rows = []
    for i in range(30):
        Image.new("RGB", (16, 16), (i * 8, 0, 0)).save(folder / f"p{i}.png")
        rows.append(json.dumps({"image": f"p{i}.png", "caption": f"red square {i}", "labels": "red"}))
    (folder / "captions.jsonl").write_text("\n".join(rows) + "\n")
    prepared = prepare_dataset("folder", {"path": folder, "name": "photos"}, sizes={"n_query": 5})
    assert len(prepared.dataset) == 30 and len(prepared.split.query) == 5 and "sizes given" in prepared.note
    assert (prepared.directory / SPLIT_FILE).is_file()
    with pytest.raises(DataError, match="pass --force"):
        redraw_split("photos", sizes={"n_query": 6})
    split, note, directory = redraw_split("photos", sizes={"n_query": 6}, force=True)
    assert len(split.query) == 6 and directory == prepared.directory
    with pytest.raises(ConfigError, match="choose one of"):
        prepare_dataset("folder", {"path": folder}, preset="mscoco", no_split=True)


def test_fit_teacher_refuses_unknown_kinds_and_keys():
    from distilhash.teachers.fitting import fit_teacher

    with pytest.raises(ConfigError, match="valid kinds are minilm-lit, lite0-minilm"):
        fit_teacher("clip")
    with pytest.raises(ConfigError, match=r"unknown config keys \['bogus'\]"):
        fit_teacher("lite0-minilm", dataset="tiny", overrides={"bogus": 1})
    with pytest.raises(ConfigError, match="--dataset is required"):
        fit_teacher("lite0-minilm")


def test_parse_nested_overrides():
    from distilhash.configs import parse_nested_overrides

    assert parse_nested_overrides(["epochs=3", "tower.image_size=48", "max-minutes=none", "tower.name=x"]) == {
        "epochs": 3, "tower": {"image_size": 48, "name": "x"}, "max_minutes": None}


def test_describe_teacher_or_cache(tiny_prepared, tmp_path):
    from distilhash.teachers.cache import PROGRESS, default_features_dir
    from distilhash.teachers.describe import describe_teacher_or_cache

    teacher, _ = tiny_prepared
    done = describe_teacher_or_cache(default_features_dir("tiny", teacher).name)  # a name under $DISTILHASH_HOME
    assert done["kind"] == "feature cache" and done["manifest"]["count"] == 240 and "files" not in done["manifest"]
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / PROGRESS).write_text(json.dumps({"done": 7, "identity": {"count": 20}}))
    assert describe_teacher_or_cache(str(tmp_path / "half")) == {
        "kind": "unfinished feature cache", "path": str(tmp_path / "half"), "done": 7, "count": 20}
    assert describe_teacher_or_cache(teacher)["kind"] == "teacher"
