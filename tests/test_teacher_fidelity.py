"""The label-free selection score: overlap of the codes' top 10 with the float teacher's top 10 (``teacher-top10``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from distilhash.codes import Encoded
from distilhash.errors import ConfigError
from distilhash.methods.base import create_method
from distilhash.training.synthetic import synthetic_features
from distilhash.training.validation import teacher_fidelity, top_k_overlap, val_teacher_fidelity

WIDTH = 24
FAST = dict(epochs=4, eval_every=1, patience=0, hidden_dim=32, batch_size=64, progress=False, lr=3e-3)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=WIDTH, n_query=80, n_train=360, n_val=60)


def test_top_k_overlap_on_a_hand_made_case():
    # query 0: codes rank items 0, 1 first; the reference ranks 1, 2 first -> 1 of 2 kept
    # query 1: the same two first (in another order) -> 2 of 2 kept
    dist = np.array([[0.1, 0.2, 0.9, 0.5, 0.7],
                     [0.3, 0.1, 0.2, 0.8, 0.9]])
    ref = np.array([[0.5, 0.0, 0.1, 0.9, 0.8],
                    [0.9, 0.2, 0.1, 0.3, 0.4]])
    assert top_k_overlap(dist, ref, k=2) == pytest.approx(0.75)
    assert top_k_overlap(dist, ref, k=1) == pytest.approx(0.0)  # first items: 0 vs 1, 1 vs 2
    assert top_k_overlap(dist, ref, k=50) == pytest.approx(1.0)  # k capped at the 5 items: every item is kept
    assert top_k_overlap(ref, ref, k=3) == pytest.approx(1.0)


def test_top_k_overlap_breaks_ties_by_database_index():
    dist = np.zeros((1, 4))  # every item tied: the top 2 are items 0 and 1
    assert top_k_overlap(dist, np.array([[0.0, 0.1, 0.5, 0.6]]), k=2) == pytest.approx(1.0)
    assert top_k_overlap(dist, np.array([[0.6, 0.5, 0.1, 0.0]]), k=2) == pytest.approx(0.0)


def test_top_k_overlap_refuses_mismatched_shapes_and_bad_k():
    with pytest.raises(ValueError, match="shape"):
        top_k_overlap(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="k must be"):
        top_k_overlap(np.zeros((2, 3)), np.zeros((2, 3)), k=0)


class _Flipped:
    """A 'method' whose text side ranks every image in the reverse order of the teacher (its query is -text)."""

    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        x = np.asarray(features, dtype=np.float32)
        if modality == "text" and role == "query":
            x = -x
        return Encoded("float", x, 32 * x.shape[1])


def test_teacher_fidelity_is_one_for_the_teacher_and_zero_for_its_reverse(data):
    fs, split = data
    teacher = create_method("float-teacher").fit(fs, split)
    assert val_teacher_fidelity(teacher, fs, split) == pytest.approx({"i2t": 1.0, "t2i": 1.0, "mean": 1.0})
    flipped = teacher_fidelity(_Flipped(), fs, split.val, split.fit, k=10)
    assert flipped["i2t"] == pytest.approx(1.0)  # image queries and text items are left as the teacher's
    assert flipped["t2i"] == pytest.approx(0.0)  # the reverse order: its top 10 is the teacher's bottom 10
    assert flipped["mean"] == pytest.approx(0.5)


def test_teacher_fidelity_reads_no_labels(data):
    fs, split = data
    m = create_method("dcmq", n_bits=32, **FAST).fit(fs, split)
    unlabelled = dataclasses.replace(fs, labels=np.zeros((len(fs), 0), np.uint8))
    assert val_teacher_fidelity(m, unlabelled, split) == pytest.approx(val_teacher_fidelity(m, fs, split))


def test_dcmq_selects_the_epoch_with_the_best_teacher_overlap(data):
    fs, split = data
    m = create_method("dcmq", n_bits=32, val_criterion="teacher-top10", embed_dim=WIDTH, image_head="residual",
                      text_head="residual", **FAST).fit(fs, split)
    info = m.fit_info_
    kept = info["val_map_at_kept"]
    assert kept["mean"] == pytest.approx(0.5 * (kept["i2t"] + kept["t2i"]))
    assert kept["mean"] == pytest.approx(val_teacher_fidelity(m, fs, split)["mean"])
    assert 0 < kept["mean"] <= 1 and 0 < kept["label_mean"] <= 1  # label mAP recorded beside it, not selected on
    vals = {row["epoch"]: row["val"] for row in info["history"] if "val" in row}
    assert info["kept_epoch"] == max(vals, key=vals.get)
    assert [round(s["mean"], 6) for s in info["val_scores_history"]] == [vals[e] for e in sorted(vals)]
    # the criterion without labels: the same overlap, no label entries
    unlabelled = dataclasses.replace(fs, labels=np.zeros((len(fs), 0), np.uint8))
    bare = m.inputs.val_scores(unlabelled, split)
    assert set(bare) == {"i2t", "t2i", "mean"} and bare["mean"] == pytest.approx(kept["mean"])


def test_unknown_criterion_lists_the_known_ones():
    with pytest.raises(ConfigError, match="teacher-top10"):
        create_method("dcmq", val_criterion="teacher_top10")


def test_the_label_free_criterion_is_a_declared_capability():
    from distilhash.methods.base import method_class

    dcmq = method_class("dcmq")
    assert not dcmq.capabilities.label_free_selection  # the default selects on label mAP
    assert dcmq.capabilities_for({"val_criterion": "teacher-top10"}).label_free_selection
    assert create_method("dcmq", val_criterion="teacher-top10").capabilities.label_free_selection
    assert not create_method("dcmq", val_criterion="labels+pairs").capabilities.label_free_selection
    assert create_method("float-student", val_criterion="teacher-top10").capabilities.bits_independent  # the rest kept


def test_training_without_labels_does_not_call_a_label_free_selection_arbitrary():
    from types import SimpleNamespace

    from distilhash.pipeline.train import _data_notes

    ds, split = SimpleNamespace(name="folder", num_labels=0), SimpleNamespace(query=[0] * 60, val=[0] * 10)
    labelled = _data_notes(ds, split, create_method("dcmq"), "dcmq")[0][0]
    free = _data_notes(ds, split, create_method("dcmq", val_criterion="teacher-top10"), "dcmq")[0][0]
    assert "arbitrary" in labelled and "val_criterion=teacher-top10" in labelled
    assert "arbitrary" not in free and free.startswith("folder has no labels")


def test_an_unlabelled_collection_gets_a_real_selection(data):
    """A folder without labels (target_text=caption): label mAP scores every epoch 0, the teacher overlap does not."""
    fs, split = data
    unlabelled = dataclasses.replace(fs, labels=np.zeros((len(fs), 0), np.uint8), label_text=None)
    opts = dict(n_bits=32, target_text="caption", embed_dim=WIDTH, image_head="residual", text_head="residual", **FAST)
    blind = create_method("dcmq", **opts).fit(unlabelled, split).fit_info_
    assert {row["val"] for row in blind["history"] if "val" in row} == {0.0}  # nothing to choose on
    seeing = create_method("dcmq", val_criterion="teacher-top10", **opts).fit(unlabelled, split).fit_info_
    vals = [row["val"] for row in seeing["history"] if "val" in row]
    assert min(vals) > 0.1 and len(set(vals)) > 1
    assert seeing["kept_epoch"] == 1 + int(np.argmax(vals))
