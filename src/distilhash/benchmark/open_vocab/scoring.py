"""Scoring a fitted method on the open-vocabulary benchmark.

For each domain (a database of titled images, :mod:`.domains`) and each query of the committed
list (:mod:`.vocab`), an item is relevant when its title contains one of the query's forms
(:func:`~.words.matches`). Queries with no relevant item in a domain are left out of that
domain's figures and counted (``n_queries_without_relevant``).

The query text is the bare noun (``"horse"``), encoded by the teacher's text tower, then by the
method (``encode("text", ..., role="query")``); database images go through the teacher's image
tower, then ``encode("image", ..., role="database")``. Raw-input methods get the noun strings and
the pixels (``encode_raw``). Figures: P@10, R@50 and mAP@all (ties between equal scores broken in
expectation over random order, ``tie_aware``), and the same for a random ranking (the mean over
3 seeds of random scores), the chance level.

Teacher features of the queries and of the emoji images are cached under
``$DISTILHASH_HOME/open_vocab/<teacher slug>/`` (keyed by the teacher name, its fingerprint when the
suite's feature cache records one, the query list and the domain's ids); the openclipart domain reads the suite's own teacher feature cache rows of
``split.query`` (the same teacher, so the same vectors).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.open_vocab.domains import DOMAINS, TitledImages
from distilhash.benchmark.open_vocab.vocab import QueryList, load_query_list
from distilhash.benchmark.open_vocab.words import matches, title_tokens
from distilhash.errors import ConfigError, FeatureError

__all__ = ["OpenVocabOptions", "DomainData", "relevance", "prepare_domains", "score_method", "random_ranking",
           "run_open_vocab"]


@dataclass(frozen=True)
class OpenVocabOptions:
    """What a suite asks of the benchmark (the ``open_vocab`` object of a suite file)."""

    domains: tuple[str, ...] = ("openclipart", "emoji")
    precision_at: int = 10
    recall_at: int = 50
    random_seeds: int = 3
    queries: str | None = None  # a query-list file; None = the committed list

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenVocabOptions:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"open_vocab: unknown keys {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        opts = cls(**{**d, "domains": tuple(d.get("domains", cls.domains))})
        bad = [x for x in opts.domains if x not in DOMAINS]
        if bad:
            raise ConfigError(f"open_vocab: unknown domains {bad}; valid: {sorted(DOMAINS)}")
        return opts


@dataclass
class DomainData:
    """One domain ready to score: relevance ``[Q, N]`` bool, teacher features and raw inputs."""

    name: str
    relevant: np.ndarray
    query_features: np.ndarray
    image_features: np.ndarray
    nouns: list[str]
    images: np.ndarray
    n_items: int


def relevance(qlist: QueryList, titles: list[str]) -> np.ndarray:
    """bool ``[Q, N]``: title n contains a form of query q."""
    toks = [title_tokens(t) for t in titles]
    return np.array([[matches(t, q.forms) for t in toks] for q in qlist.queries], dtype=bool)


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(path: Path, compute) -> np.ndarray:
    from distilhash.io_utils import atomic_save_npy

    if path.is_file():
        return np.load(path)
    arr = np.asarray(compute(), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, arr)
    return arr


def prepare_domains(options: OpenVocabOptions, teacher_name: str, features=None, split=None) -> list[DomainData]:
    """Teacher features and relevance of every domain of ``options`` for the teacher ``teacher_name``.

    ``features``/``split``: the suite's feature cache and split (the openclipart domain takes its
    ``split.query`` image rows from there); without them the teacher encodes the pixels.
    """
    from distilhash.paths import home
    from distilhash.teachers.registry import create_teacher, teacher_slug

    qlist = load_query_list(options.queries)
    nouns = qlist.nouns
    cache = home() / "open_vocab" / teacher_slug(teacher_name)
    # the copy of the teacher too: one spec can be answered by a home's fit or a shipped copy, with other weights
    recorded = str(features.manifest.get("teacher_fingerprint") or "") if features is not None else ""
    who = [teacher_name, *([recorded] if recorded else [])]
    state: dict[str, Any] = {}

    def teacher():
        if "t" not in state:
            t = create_teacher(teacher_name)
            # the spec may now be answered by another copy (a home's fit after the shipped one): its query features
            # would be scored against the cache's item features and cached under the cache's fingerprint
            if recorded and t.fingerprint and str(t.fingerprint) != recorded:
                raise FeatureError(f"open_vocab: {teacher_name!r} now loads weights of fingerprint {str(t.fingerprint)[:24]}, "
                                   f"but the suite's feature cache was extracted with {recorded[:24]}; extract the "
                                   f"features again (`distilhash teacher extract ... --teacher {teacher_name} --overwrite`)")
            state["t"] = t
        return state["t"]

    text = _cached(cache / f"queries-{_cache_key(*who, nouns)}.npy", lambda: teacher().encode_texts(nouns))
    out = []
    for name in options.domains:
        dom: TitledImages = DOMAINS[name]()
        if name == "openclipart" and features is not None and split is not None:
            rows = np.asarray(split.query)
            if [features.ids[i] for i in rows] != dom.ids:
                raise ConfigError("open_vocab: the feature cache's split.query ids differ from the prepared dataset's")
            img = np.asarray(features.image[rows], dtype=np.float32)
        else:
            img = _cached(cache / f"{name}-{_cache_key(*who, dom.ids)}.npy",
                          lambda d=dom: teacher().encode_images(d.images, progress=True))  # once per teacher: a bar
        out.append(DomainData(name, relevance(qlist, dom.titles), text, img, nouns, dom.images, len(dom)))
    return out


def _evaluate(q_codes, db_codes, rel: np.ndarray, options: OpenVocabOptions) -> dict[str, float]:
    from distilhash.eval.metrics import evaluate

    nq = rel.shape[0]
    report = evaluate(q_codes, db_codes, np.eye(nq, dtype=np.uint8), rel.T.astype(np.uint8),
                      top_n=(options.precision_at, options.recall_at), tie_aware=True, curves=False)
    return {"p_at": float(report.precision_at[options.precision_at]),
            "r_at": float(report.recall_at[options.recall_at]), "map_all": float(report.map_all)}


def score_method(method, domain: DomainData, options: OpenVocabOptions) -> dict[str, Any]:
    """P@k, R@k and mAP of ``method`` on ``domain`` (queries with >= 1 relevant item)."""
    keep = np.flatnonzero(domain.relevant.any(axis=1))
    rel = domain.relevant[keep]
    if method.capabilities.input == "raw":
        q = method.encode_raw("text", [domain.nouns[i] for i in keep], role="query")
        db = method.encode_raw("image", domain.images, role="database")
    else:
        q = method.encode("text", domain.query_features[keep], role="query")
        db = method.encode("image", domain.image_features, role="database")
    return {**_evaluate(q, db, rel, options), "n_queries": int(len(keep)),
            "n_queries_without_relevant": int(len(domain.relevant) - len(keep)), "n_items": domain.n_items,
            "mean_relevant_per_query": float(rel.sum(1).mean()) if len(keep) else 0.0}


def random_ranking(domain: DomainData, options: OpenVocabOptions) -> dict[str, float]:
    """The chance level: mean figures of random scores over ``options.random_seeds`` seeds."""
    from distilhash.codes import Encoded

    rel = domain.relevant[domain.relevant.any(axis=1)]
    runs = []
    for seed in range(options.random_seeds):
        rng = np.random.default_rng(seed)
        q = Encoded("float", rng.standard_normal((len(rel), 16)).astype(np.float32), 512)
        db = Encoded("float", rng.standard_normal((domain.n_items, 16)).astype(np.float32), 512)
        runs.append(_evaluate(q, db, rel, options))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def run_open_vocab(method, options: OpenVocabOptions, teacher_name: str, features=None, split=None) -> dict[str, Any]:
    """Every domain's figures for ``method`` and the random ranking (a run record's ``open_vocab`` block)."""
    qlist = load_query_list(options.queries)
    out: dict[str, Any] = {"n_queries_listed": len(qlist), "rule_version": qlist.rule.get("version"),
                           "options": {"precision_at": options.precision_at, "recall_at": options.recall_at},
                           "teacher": teacher_name, "domains": {}}
    for dom in prepare_domains(options, teacher_name, features, split):
        out["domains"][dom.name] = {"method": score_method(method, dom, options), "random": random_ranking(dom, options)}
    return out
