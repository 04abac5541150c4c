"""Search a prepared dataset by its teacher's float features, no codes (what ``distilhash teacher search`` does).

    found = search_features("trip", texts=["a dog on the beach"], k=5)       # the dataset's only feature cache
    found = search_features("trip", images=["query.jpg"], teacher="lite0-prior:openclipart-224-short")
    for hit in found.hits[0]:
        print(hit.score, hit.id, hit.metadata.get("caption"))

This is the "float teacher" of the docs' figures: every item ranked by the cosine of its cached
teacher features (``teacher extract``) with the query's features read by the same teacher, the
reference a trained index is compared with. The ranking is the evaluation's exact float scan
(:func:`distilhash.eval.rankers.iter_distances`, ``1 - cos``, ties by row) and the hits carry the
same metadata an index built from the dataset stores (:func:`distilhash.pipeline.index.dataset_metadata`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError, DataError, FeatureError

__all__ = ["FeatureHit", "FeatureSearch", "search_features", "SEARCHED_MODALITIES", "MAX_K"]

#: which cached features the queries are ranked against
SEARCHED_MODALITIES = ("image", "text")
#: the largest ``k`` accepted (the CLI's ``--k`` range, distilhash.cli.checks)
MAX_K = 10_000


@dataclass
class FeatureHit:
    """One ranked item: ``score`` is the cosine of the query with the item's features (higher = closer)."""

    id: str
    row: int
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)  # dataset, row, caption, display_caption?, labels?, image?


@dataclass
class FeatureSearch:
    """``hits[i]`` answers ``queries[i]``: the top ``k`` items of the ``modality`` features of ``features_dir``."""

    queries: list[str]
    hits: list[list[FeatureHit]]
    dataset: str
    teacher: str
    modality: str
    features_dir: Path
    n_items: int


def _checked_queries(texts: Sequence[str], images: Sequence[str | Path]) -> tuple[str, list[Any]]:
    """``("text" | "image", queries)``; DataError for both kinds, none, or an empty text."""
    if bool(texts) == bool(images):
        raise DataError("give text queries or image queries (one kind per call)")
    if texts:
        if isinstance(texts, str):
            raise DataError("text queries must be a list of strings, not one string")
        empty = [n for n, t in enumerate(texts, 1) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise DataError(f"text query {empty[0]} of {len(texts)} is empty; a query needs at least one word")
        return "text", list(texts)
    return "image", list(images)


def _check_fingerprint(teacher: Any, manifest: dict[str, Any], features_dir: Path) -> None:
    """FeatureError when the cache was extracted by another fit of the teacher (its query features would not match)."""
    have, want = str(teacher.fingerprint or ""), str(manifest.get("teacher_fingerprint") or "")
    if have and want and have != want:
        raise FeatureError(f"the features at {features_dir} were extracted by another fit of {manifest.get('teacher')!r} "
                           f"(fingerprint {want[:12]}, the teacher here is {have[:12]}); re-extract them: "
                           f"`distilhash teacher extract --dataset {manifest.get('dataset')} --teacher {manifest.get('teacher')} --overwrite`")


def search_features(dataset: str, texts: Sequence[str] = (), images: Sequence[str | Path] = (), k: int = 10,
                    teacher: str | None = None, modality: str = "image", teacher_options: dict[str, Any] | None = None
                    ) -> FeatureSearch:
    """Rank every item of ``dataset`` by its cached teacher features against text *or* image queries.

    Args:
        dataset: a prepared dataset name or directory (``data prepare``).
        texts, images: the queries (image files are opened with the service's bounded opener).
        k: results per query, 1 to :data:`MAX_K` (fewer when the dataset has fewer items).
        teacher: the teacher spec whose feature cache to read; default: the dataset's only cache.
        modality: the items' ``image`` features (default) or their caption (``text``) features.
        teacher_options: passed to ``create_teacher`` (e.g. ``device``).

    Raises DataError (queries), ConfigError (k, modality, teacher spec) or FeatureError (no cache:
    the message names the ``teacher extract`` command that makes it).
    """
    from distilhash.codes import Encoded
    from distilhash.eval.rankers import iter_distances, stable_topk
    from distilhash.pipeline.index import dataset_metadata
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.query_encoders.query_encoder import load_images
    from distilhash.teachers.registry import TEACHERS, create_teacher, parse_spec

    kind, queries = _checked_queries(texts, images)
    pictures = load_images(queries) if kind == "image" else None  # a bad file is named before any model loads
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= MAX_K:
        raise ConfigError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    if modality not in SEARCHED_MODALITIES:
        raise ConfigError(f"modality {modality!r}; expected one of {', '.join(SEARCHED_MODALITIES)}")
    if teacher is not None and parse_spec(teacher)[0] not in TEACHERS:
        create_teacher(teacher)  # raises the ConfigError listing the valid kinds
    ds, _split, feats, path = load_features_and_split(dataset, teacher, features_option=False)  # no --features here
    spec = str(feats.teacher or teacher)
    model = create_teacher(spec, **(teacher_options or {}))
    _check_fingerprint(model, feats.manifest, path)
    if kind == "text":
        qfeat = model.encode_texts(queries)
    else:
        qfeat = model.encode_images(pictures)
        queries = [str(p) for p in queries]
    database = np.asarray({"image": feats.image, "text": feats.text}[modality], np.float32)
    bits = 32 * database.shape[1]  # float32 components; the exact float scan reads no bit budget
    query = Encoded("float", np.asarray(qfeat, np.float32), bits)
    hits: list[list[FeatureHit]] = []
    for _lo, _hi, dist in iter_distances(query, Encoded("float", database, bits)):
        top = stable_topk(dist, int(k))
        for rows, d in zip(top, np.take_along_axis(dist, top, axis=1)):
            meta = dataset_metadata(ds, rows.tolist())
            hits.append([FeatureHit(str(feats.ids[r]), int(r), round(float(1.0 - x), 6), m)
                         for r, x, m in zip(rows.tolist(), d.tolist(), meta)])
    return FeatureSearch(list(queries), hits, ds.name, spec, modality, Path(path), len(database))
