"""Calibrate a model's weak-match signal on held-out real captions (see :mod:`distilhash.query_encoders.weak_match`).

    distilhash query-encoder weak-match --model data/runs/demo-dcmq64 [--dataset openclipart] [--false-alarm 0.05]

Reference captions: the cached teacher text features of ``split.fit`` and a character-trigram
model of their words (training texts and display captions). Real held-out queries: the
``split.val`` captions as people read them (display captions when the dataset has them, else its
texts), each distinct text once. The threshold is the ``false_alarm`` quantile of their letters
scores (see :mod:`distilhash.query_encoders.weak_match`); the share of seed-0 nonsense below it (each
word's letters shuffled, :func:`scrambled_words`, and random letter strings, :func:`random_nonsense`)
is recorded. ``split.query`` is never read here. Saved to ``<model_dir>/weak-match`` (or ``--out``),
where the service finds it.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distilhash.data.captions import unescape
from distilhash.errors import ConfigError
from distilhash.query_encoders.weak_match import CaptionReference, CharTrigrams, threshold_at, weak_match_dir

__all__ = ["calibrate_for_model", "shown_texts", "scrambled_words", "random_nonsense", "FALSE_ALARM"]

#: share of held-out real captions the threshold flags (one standard error below the 5 % goal)
FALSE_ALARM = 0.04


def scrambled_words(texts: Sequence[str], seed: int) -> list[str]:
    """Each text with the letters of each of its words shuffled (``"red apple"`` -> ``"erd lapep"``)."""
    rng = random.Random(seed)
    return [" ".join("".join(rng.sample(w, len(w))) for w in t.split()) for t in texts]


def random_nonsense(n: int, seed: int) -> list[str]:
    """``n`` queries of 1-3 random lower-case letter strings of 3-8 letters each (``"qwxz blorf"``)."""
    rng = random.Random(seed)
    return [" ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
                     for _ in range(rng.randint(1, 3))) for _ in range(n)]


def shown_texts(ds, rows) -> list[str]:
    """The distinct texts people read for ``rows`` of ``ds`` (display captions when present), in row order."""
    texts = ds.display_texts if ds.display_texts is not None else ds.texts
    if texts is None:
        raise ConfigError(f"{ds.name} has no caption texts to calibrate the weak-match note on")
    return list(dict.fromkeys(t for t in (texts[int(i)] for i in rows) if t and t.strip()))


def calibrate_for_model(model_dir: str | Path, dataset: str | None = None, teacher: str | None = None,
                        false_alarm: float = FALSE_ALARM, out: str | Path | None = None) -> tuple[CaptionReference, Path]:
    """Build, calibrate and save the weak-match reference of a model (module docstring); returns it and its directory."""
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split
    from distilhash.teachers.registry import create_teacher

    t0 = time.perf_counter()
    model_dir = Path(model_dir)
    meta_path = model_dir / "method.json"
    if not meta_path.is_file():
        raise ConfigError(f"{model_dir} is not a model directory (no method.json)")
    teacher = teacher or json.loads(meta_path.read_text()).get("teacher")
    if not teacher:
        raise ConfigError(f"{meta_path} names no teacher; pass --teacher")
    ds, split, feats, fpath = load_features_and_split(dataset_for_model(model_dir, dataset), teacher)
    fit = np.asarray(split.fit)
    val = shown_texts(ds, split.val)
    fake = scrambled_words(val, 0) + random_nonsense(len(val), 0)
    reference_texts = [unescape(ds.texts[i]) for i in fit] + (shown_texts(ds, fit) if ds.display_texts is not None else [])
    ref = CaptionReference(feats.text[fit], CharTrigrams.fit(reference_texts))
    real = ref.score(ref.signals(val, np.asarray(create_teacher(teacher).encode_texts(val), np.float32)))
    ref.threshold = threshold_at(real, false_alarm)
    fake_flagged = float(np.mean([ref.chars.logprob(t) < ref.threshold for t in fake]))
    ref.info = {"dataset": ds.name, "split_hash": split.hash, "teacher": teacher, "features_dir": str(fpath),
                "reference_part": "split.fit", "calibration_part": "split.val",
                "calibration_texts": "display captions" if ds.display_texts is not None else "texts",
                "calibration_nonsense": "scrambled_words(val, seed 0) + random_nonsense(len(val), seed 0)",
                "n_calibration": len(val), "false_alarm_target": false_alarm,
                "calibration_false_alarm": round(float(np.mean(real < ref.threshold)), 4),
                "calibration_nonsense_flagged": round(fake_flagged, 4),
                "model_dir": str(model_dir), "seconds": round(time.perf_counter() - t0, 1),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return ref, ref.save(out or weak_match_dir(model_dir))
