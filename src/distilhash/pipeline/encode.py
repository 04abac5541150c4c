"""Encode one part of a prepared dataset with a trained model (what ``distilhash encode`` does)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import DataError, FeatureError

__all__ = ["PARTS", "MODALITIES", "ROLES", "part_indices", "EncodedPart", "encode_part", "encode_database"]

PARTS = ("query", "retrieval", "train", "val", "fit", "all")
MODALITIES = ("image", "text")
ROLES = ("database", "query")


def part_indices(split, part: str, n_items: int) -> np.ndarray:
    """Row indices (int64) of ``part`` (one of :data:`PARTS`; ``all`` = every row of the dataset)."""
    if part == "all":
        return np.arange(n_items, dtype=np.int64)
    if part not in PARTS:
        raise DataError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    return np.asarray(getattr(split, part), dtype=np.int64)


@dataclass
class EncodedPart:
    """Codes of one dataset part: ``codes[modality]`` has one row per ``indices`` / ``ids`` entry."""

    codes: dict[str, Encoded]
    indices: np.ndarray
    ids: list[str]
    part: str
    role: str
    seconds: float
    from_dataset: bool  # True: encoded from dataset pixels/texts (raw-input methods), else from cached features


def encode_part(model_dir: str | Path, dataset: str | None = None, teacher: str | None = None, features: str | Path | None = None,
                part: str = "retrieval", modalities: tuple[str, ...] = MODALITIES, role: str = "database",
                method=None) -> EncodedPart:
    """Encode ``part`` of ``dataset`` with the model saved in ``model_dir`` (or the loaded ``method``).

    ``teacher`` defaults to the one the model was trained on (its ``method.json``). Feature methods
    encode the cached teacher features; methods that read raw inputs (lcdh)
    encode the dataset's pixels / texts. Raises when the model was trained on another teacher's
    features, or for an unknown part, modality or role.
    """
    from distilhash.methods.base import load_method
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split, teacher_for_model

    bad = [m for m in modalities if m not in MODALITIES]
    if bad or not modalities:
        raise DataError(f"modalities {list(modalities)!r}; expected image and/or text")
    if role not in ROLES:
        raise DataError(f"role {role!r}; expected database or query")
    if method is None:
        method = load_method(model_dir)
    dataset = dataset_for_model(model_dir, dataset)
    recorded = teacher_for_model(model_dir)  # the teacher in the model's method.json (None if it names none)
    recorded = None if recorded == "unknown" else recorded
    ds, split, feats, fpath = load_features_and_split(dataset, teacher or recorded, features)
    if recorded not in (None, feats.teacher):
        raise FeatureError(f"model {model_dir} was trained on features of teacher {recorded!r}, "
                           f"but {fpath} holds teacher {feats.teacher!r}")
    idx = part_indices(split, part, len(feats))
    t0 = time.perf_counter()
    from_dataset = method.capabilities.input == "raw"  # students on raw pixels / texts (lcdh)
    codes = {m: method.encode_dataset_rows(m, idx, role, features=feats, dataset=ds) for m in modalities}
    return EncodedPart(codes, idx, [feats.ids[i] for i in idx], part, role, time.perf_counter() - t0, from_dataset)


def encode_database(model_dir: str | Path, dataset: str | None, out: str | Path, *, teacher: str | None = None,
                    features: str | Path | None = None, part: str = "retrieval",
                    modalities: tuple[str, ...] = MODALITIES, role: str = "database") -> EncodedPart:
    """:func:`encode_part`, then write the codes to ``out`` (:func:`distilhash.codes_file.save_encoded`)."""
    from distilhash.codes_file import save_encoded

    enc = encode_part(model_dir, dataset, teacher, features, part, modalities, role)
    save_encoded(out, enc.codes, indices=enc.indices, ids=enc.ids, role=enc.role, part=enc.part)
    return enc
