"""`train dcmq --preset open-vocab` on a collection without labels (a folder prepared with captions=filenames).

The preset selects its epoch without labels (val_criterion=teacher-top10), and on such a collection its targets
come from the captions alone (its ``without_labels`` options): before, it stopped on target_text=mix, which needs
label prompts. What the user sets with --set still wins.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.methods.presets import preset_options, unlabelled_changes

FAST = ["--set", "epochs=3", "--set", "batch_size=32", "--set", "n_codewords=16", "--set", "embed_dim=16",
        "--threads", "1", "--no-progress"]


@pytest.fixture
def bare_prepared():
    """A prepared dataset 'bare' (120 items, no labels, captions only) with a width-16 feature cache; its teacher spec."""
    from distilhash.data import ArrayImageStore, CrossModalDataset, SplitSpec, make_split, save_dataset
    from distilhash.paths import datasets_dir, home
    from distilhash.teachers.cache import extract_features
    from distilhash.training.synthetic import features_for_labels

    rng = np.random.default_rng(0)
    n, hidden = 120, (rng.random((120, 6)) < 0.3).astype(np.uint8)  # structure for the features only
    hidden[np.arange(n), rng.integers(0, 6, n)] = 1
    ds = CrossModalDataset(name="bare", ids=[f"pic{i:03d}" for i in range(n)], texts=[f"picture {i}" for i in range(n)],
                           labels=np.zeros((n, 0), np.uint8), label_names=[],
                           images=ArrayImageStore(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)))
    save_dataset(ds, datasets_dir() / "bare")
    make_split(n, SplitSpec(n_query=12, n_train=108, n_retrieval=None, n_val=12, seed=0),
               ds.content_hash()).save(datasets_dir() / "bare" / "split.json")
    arrays = features_for_labels(hidden, width=16, seed=0)
    feat_file = home() / "bare_feats.npz"
    np.savez(feat_file, ids=np.asarray(ds.ids), image=arrays["image"], text=arrays["text"])
    teacher = f"features:{feat_file}"
    extract_features("bare", teacher, progress=False)
    return teacher


def _train(teacher: str, out, *extra: str):
    return CliRunner().invoke(app, ["train", "dcmq", "--dataset", "bare", "--teacher", teacher, "--bits", "16",
                                    "--preset", "open-vocab", *extra, *FAST, "--out", str(out)])


def test_the_preset_declares_caption_targets_without_labels():
    assert preset_options("dcmq", "open-vocab")["target_text"] == "mix"
    assert preset_options("dcmq", "open-vocab", labelled=False)["target_text"] == "caption"
    assert unlabelled_changes("dcmq", "open-vocab") == {"target_text": ("mix", "caption")}


def test_open_vocab_trains_on_a_collection_without_labels_and_says_why_it_kept_its_epoch(bare_prepared, tmp_path):
    res = _train(bare_prepared, tmp_path / "ov")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "bare has no labels, so --preset open-vocab sets target_text=caption (not mix)" in out
    assert "arbitrary" not in out  # the preset's selection reads no label: a real choice
    assert "share of the float teacher's top 10" in out and "val_criterion=teacher-top10" in out
    saved = json.loads((tmp_path / "ov" / "method.json").read_text())["config"]
    assert saved["target_text"] == "caption" and saved["val_criterion"] == "teacher-top10"
    assert json.loads((tmp_path / "ov" / "train.json").read_text())["preset"] == "open-vocab"


def test_label_selection_on_a_collection_without_labels_says_the_kept_epoch_is_arbitrary(bare_prepared, tmp_path):
    res = _train(bare_prepared, tmp_path / "labels", "--set", "val_criterion=labels")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "every validation on split.val scored 0.0000" in out and "the first was kept (an arbitrary choice)" in out
    assert "the score: label mAP (val_criterion=labels)" in out
    # the note's label-free DCMQ recipe names both options it needs
    assert "--set val_criterion=teacher-top10 --set target_text=caption" in out


def test_what_the_user_sets_wins_over_the_unlabelled_options(bare_prepared, tmp_path):
    res = _train(bare_prepared, tmp_path / "mix", "--set", "target_text=mix")
    assert res.exit_code != 0
    out = " ".join(res.output.split())
    assert "target_text='mix'" in out and "has no labels" in out and "sets target_text=caption" not in out
