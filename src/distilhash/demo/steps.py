"""The demo's steps: the commands a user would type, on the real openclipart drawings.

Steps (each skipped when its output already exists, so a second run reuses the first one's work):

1. ``distilhash data prepare openclipart``            the real drawings (Debian openclipart), split saved
2. ``distilhash teacher fit --kind lite0-minilm ...``  the offline teacher's projection heads (frozen
                                                       EfficientNet-Lite0 + MiniLM towers), on split.train
3. ``distilhash teacher extract ...``                  the teacher feature cache
4. ``distilhash train dcmq --bits 64 ...``             DCMQ at 64 bits
5. ``distilhash eval MODEL``                           the evaluation table (both directions)
6. ``python -m distilhash.pipeline.light_text``        the light query text encoder (0.02 ms/query vs ~13 ms MiniLM)
7. ``distilhash index build ...``                      an image index and a text index
8. ``python -m distilhash.demo.examples ...``          the ten example searches (chosen before any result
                                                       was seen) with their precision@10 by label and by title
9. ``python -m distilhash.demo.open_vocab_summary``   the open-vocabulary benchmark's summary: the float teacher
                                                       and this model on 176 noun queries, judged by title
10. ``distilhash serve ...``                          the service and its page (blocks; Ctrl-C stops)

Text queries go through the teacher's MiniLM tower (~13 ms of a core per query). The light n-gram
encoder (step 6, 0.02 ms) is the choice for heavy load (``distilhash serve --query-encoder light``),
but on the drawings it answered the example queries worse (precision@10 >= 0.5 for 7 of 10 queries
against 10 of 10 through MiniLM; both figures are in the README), so the demo does not use it.

Environment: ``DISTILHASH_HOME`` (where everything is stored), ``DEMO_PORT`` (default 8000),
``DEMO_HOST`` (default 127.0.0.1), ``DEMO_NO_SERVE=1`` (stop after the example searches).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distilhash.paths import datasets_dir, home, runs_dir

__all__ = ["main", "STEPS"]

DATASET = "openclipart"
TEACHER = f"lite0-minilm:{DATASET}"
BITS = 64


def _model_dir() -> Path:
    return runs_dir() / f"demo-dcmq{BITS}"


def _index_dir(modality: str) -> Path:
    return home() / "indexes" / f"demo-dcmq{BITS}-{modality}"


def _teacher_ready() -> bool:
    from distilhash.teachers.lite0_minilm import resolve_lite0_dir
    from distilhash.teachers.registry import TeacherLoadError

    try:
        resolve_lite0_dir(DATASET)
        return True
    except TeacherLoadError:
        return False


def _examples_file() -> Path:
    return _index_dir("image") / "demo-examples.json"


def _light_text_ready() -> bool:
    from distilhash.query_encoders.light_text import light_text_dir

    return (light_text_dir(_model_dir()) / "encoder.json").is_file()


@dataclass(frozen=True)
class Step:
    """One demo step: a CLI command and how to tell that its output already exists."""

    title: str
    args: Callable[[], list[str]]
    done: Callable[[], bool] = lambda: False
    module: str = "distilhash.cli.main"  # run as ``python -m module *args``


STEPS: list[Step] = [
    Step("prepare the openclipart drawings", lambda: ["data", "prepare", DATASET],
         lambda: (datasets_dir() / DATASET / "split.json").is_file()),
    Step("fit the offline teacher's heads (frozen EfficientNet-Lite0 + MiniLM towers, split.train pairs)",
         lambda: ["teacher", "fit", "--kind", "lite0-minilm", "--dataset", DATASET], _teacher_ready),
    Step("extract teacher features", lambda: ["teacher", "extract", "--dataset", DATASET, "--teacher", TEACHER],
         lambda: _cache_status() == "complete"),
    Step(f"train DCMQ at {BITS} bits", lambda: ["train", "dcmq", "--dataset", DATASET, "--teacher", TEACHER,
                                               "--bits", str(BITS), "--seed", "0", "--out", str(_model_dir())],
         lambda: (_model_dir() / "method.json").is_file()),
    Step("evaluate (query vs retrieval, both directions)",
         lambda: ["eval", str(_model_dir()), "--dataset", DATASET, "--teacher", TEACHER],
         lambda: (_model_dir() / "eval-query" / "report.json").is_file()),
    Step("fit the light query text encoder (n-gram ridge distilled from the teacher on split.fit captions)",
         lambda: ["--model", str(_model_dir()), "--dataset", DATASET], _light_text_ready, module="distilhash.pipeline.light_text"),
    Step("build the image index (retrieval set)",
         lambda: ["index", "build", str(_index_dir("image")), "--model", str(_model_dir()), "--dataset", DATASET,
                  "--part", "retrieval", "--modality", "image", "--teacher", TEACHER],
         lambda: (_index_dir("image") / "manifest.json").is_file()),
    Step("build the text index (retrieval set)",
         lambda: ["index", "build", str(_index_dir("text")), "--model", str(_model_dir()), "--dataset", DATASET,
                  "--part", "retrieval", "--modality", "text", "--teacher", TEACHER],
         lambda: (_index_dir("text") / "manifest.json").is_file()),
    Step("the ten example searches (teacher text encoder, as the service answers them)",
         lambda: [str(_index_dir("image")), "--encoder", "teacher", "--json", str(_examples_file())],
         module="distilhash.demo.examples"),
    Step("the open-vocabulary benchmark's summary (176 noun queries judged by title; float teacher and this model)",
         lambda: [str(_model_dir()), "--json", str(_index_dir("image") / "demo-open-vocab.json")],
         module="distilhash.demo.open_vocab_summary"),
]


def _cache_status() -> str:
    from distilhash.teachers.cache import cache_status, default_features_dir

    return cache_status(default_features_dir(DATASET, TEACHER))


def _run(step: Step, number: int, total: int) -> None:
    cmd = [sys.executable, "-m", step.module, *step.args()]
    prog = "distilhash" if step.module == "distilhash.cli.main" else f"python -m {step.module}"
    shown = prog + " " + " ".join(shlex.quote(a) for a in step.args())
    if step.done():
        print(f"\n[{number}/{total}] {step.title}: already done, reusing it  ({shown})", flush=True)
        return
    print(f"\n[{number}/{total}] {step.title}\n$ {shown}", flush=True)
    t0 = time.perf_counter()
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        print(f"demo: step failed (exit {result.returncode}): {shown}", file=sys.stderr)
        raise SystemExit(result.returncode)
    print(f"({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    """Run every step, then serve the page unless ``DEMO_NO_SERVE=1``."""
    print(f"distilhash demo: everything is stored under {home()}")
    total = len(STEPS) + 1
    for number, step in enumerate(STEPS, start=1):
        _run(step, number, total)
    if os.environ.get("DEMO_NO_SERVE") == "1":
        print("\nDEMO_NO_SERVE=1: not starting the service.")
        return
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = os.environ.get("DEMO_PORT", "8000")
    args = ["serve", str(_index_dir("image")), str(_index_dir("text")), "--host", host, "--port", port,
            "--query-encoder", "teacher"]
    print(f"\n[{total}/{total}] start the search service (Ctrl-C stops it)\n$ distilhash {' '.join(args)}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "distilhash.cli.main", *args])


if __name__ == "__main__":
    main()
