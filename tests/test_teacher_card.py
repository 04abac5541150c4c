"""``teacher info``'s short card (:func:`distilhash.teachers.describe.teacher_card`) from plain ``info()`` dicts:
each reason is printed beside the thing it was the reason for (no model is loaded)."""

from __future__ import annotations

from distilhash.teachers.describe import teacher_card


def _rows(lines: list[str]) -> dict[str, str]:
    return {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in lines[1:]}


HEADS = {"name": "lite0-minilm:x", "kept": {"epoch": 5, "val_mrr": 0.1888}, "kept_because": "highest val MRR of the heads",
         "image_tower": "EfficientNet-Lite0 (ImageNet), frozen", "image_size": 224, "fingerprint": "h"}


def test_a_prior_wrapper_shows_the_heads_reason_and_the_priors_reason_apart():
    info = {"name": "lite0-prior:x", "base": HEADS, "prior": {"weight": 0.2, "temperature": 0.5},
            "kept_because": "highest val MRR over the prior's grid", "fingerprint": "h-prior"}
    rows = _rows(teacher_card(info))
    assert rows["kept"] == "epoch 5, val_mrr 0.189" and rows["kept because"] == "highest val MRR of the heads"
    assert rows["class prior"] == "weight 0.2, temperature 0.5; kept because: highest val MRR over the prior's grid"
    assert rows["image tower"] == "EfficientNet-Lite0 (ImageNet), frozen, 224 px" and rows["fingerprint"] == "h-prior"


def test_a_tuned_teachers_kept_epoch_reason_is_not_given_as_its_priors():
    """lite0-tuned reports its own kept epoch and reason next to a prior it copied: the reason is the epoch's."""
    info = {"name": "lite0-tuned:x", "kept": {"epoch": 3, "val_mrr": 0.2}, "kept_because": "highest val MRR of the tuned epochs",
            "prior": {"weight": 0.2, "temperature": 1.0}, "fingerprint": "t"}
    rows = _rows(teacher_card(info))
    assert rows["kept because"] == "highest val MRR of the tuned epochs"
    assert rows["class prior"] == "weight 0.2, temperature 1.0"


def test_rows_a_teacher_does_not_report_are_left_out():
    rows = _rows(teacher_card({"name": "minilm-lit", "kept_epoch": None, "width": 384, "fingerprint": "m"}))
    assert rows == {"width": "384", "fingerprint": "m"}  # no "kept: epoch None"
    assert _rows(teacher_card({"name": "minilm-lit", "kept_epoch": 6, "fingerprint": "m"}))["kept"] == "epoch 6"
