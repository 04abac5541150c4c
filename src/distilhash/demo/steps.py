"""The demo's steps: the commands a user would type, on the real openclipart drawings.

Steps (each skipped when its output already exists and was made with the teacher step 2 found, so a second run
reuses the first one's work and a home of an earlier demo, whose outputs were made with another teacher, does not):

1. ``distilhash data prepare openclipart``            the real drawings (Debian openclipart), split saved
2. ``distilhash demo teacher``                        the demo's teacher (``teachers.recipes.DEMO_TEACHER``, today
                                                       ``lite0-prior:openclipart-224-short``, own collections' default):
                                                       this home's fit if it has one, else the copy shipped with
                                                       distilhash (every file's sha256 checked); never fitted here. It
                                                       prints which copy answered, its fingerprint and the commands that
                                                       reproduce it, and records them (``demo-teacher.json``)
3. ``distilhash teacher extract ...``                  the teacher feature cache
4. ``distilhash train dcmq --bits 64 ...``             DCMQ at 64 bits, in its open-vocabulary setting
                                                       (:data:`DCMQ_PRESET`: heads that start in the teacher's
                                                       space, half label-prompt and half caption targets)
5. ``distilhash eval MODEL``                           the evaluation table (both directions)
6. ``distilhash query-encoder fit --model MODEL``      the static query text encoder (model2vec, ~0.1 ms/query vs ~13 ms MiniLM)
7. ``distilhash query-encoder weak-match ...``        the calibrated weak-match note (threshold from split.val captions)
8. ``distilhash index build ...``                      an image index and a text index
9. ``distilhash demo examples ...``                    the ten example searches (chosen before any result
                                                       was seen) with their precision@10 by label and by title
10. ``distilhash demo open-vocab ...``                 the open-vocabulary benchmark's summary: the float teacher
                                                       and this model on 176 noun queries, judged by title; then
                                                       both beside the committed record (:mod:`.record_compare`)
11. ``distilhash serve ...``                          the service and its page (blocks; Ctrl-C stops)

Text queries go through the static encoder of step 6: MiniLM distilled with model2vec and mapped
into the teacher's text space on split.train captions (text->image mAP@all within 1% of MiniLM's,
bench/results/static_query_encoder/); ``--query-encoder teacher`` runs MiniLM itself.

Each step's wall time and CPU time (its processes' user + system seconds, which the machine's
load does not inflate) go to ``$DISTILHASH_HOME/demo-timings.json`` (with the load and the commit); at the end the demo prints how to use the command line from a new shell.

Environment: ``DISTILHASH_HOME`` (where everything is stored), ``DEMO_PORT`` (default 8000),
``DEMO_HOST`` (default 127.0.0.1), ``DEMO_NO_SERVE=1`` (stop after the example searches),
``DISTILHASH_THREADS=N`` (torch threads of every step). Without it the extraction and
the query-encoder fit use the cores other work leaves free when each starts (:func:`distilhash.threads.fit_threads`,
a half-second sample of the CPUs, so the demo's own finished steps do not count: 2 on an idle 2-core machine,
1 on a loaded one) and training uses 1; each long step shows a progress bar.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilhash.paths import datasets_dir, home, runs_dir
from distilhash.teachers.recipes import DEMO_TEACHER, RECIPES

__all__ = ["main", "STEPS"]

TEACHER = DEMO_TEACHER  # one value: distilhash.teachers.recipes.DEMO_TEACHER
DATASET = RECIPES[TEACHER].dataset
BITS = 64
#: The demo's DCMQ keeps the teacher's vocabulary: residual heads (identity + an MLP that starts at
#: zero, so each head starts in the teacher's 384-d space), targets from half the label prompts, half
#: the captions, and the epoch whose codes keep most of the float teacher's top 10 on split.val (no label read).
#: On the 176-noun open-vocabulary list, on the demo's short-view teacher, its 64-bit codes keep 0.89x / 0.71x of
#: the float teacher's P@10 on held-out drawings / emoji (selected by val label mAP: 0.81x / 0.63x; plain PQ 0.83x /
#: 0.78x), 3 seeds each, bench/results/open_vocab_dcmq_targets/short224-select64.md (docs/dcmq.md).
DCMQ_PRESET = "open-vocab"


def _model_dir() -> Path:
    return runs_dir() / f"demo-dcmq{BITS}"


def _index_dir(modality: str) -> Path:
    return home() / "indexes" / f"demo-dcmq{BITS}-{modality}"


def _examples_file() -> Path:
    return _index_dir("image") / "demo-examples.json"


def _weak_match_ready() -> bool:
    from distilhash.query_encoders.weak_match import weak_match_dir

    return (weak_match_dir(_model_dir()) / "weak-match.json").is_file()


def _static_text_ready() -> bool:
    from distilhash.query_encoders.static_text import static_text_dir

    return (static_text_dir(_model_dir()) / "encoder.json").is_file()


@dataclass(frozen=True)
class Step:
    """One demo step: a CLI command, how to tell that its output already exists (made with this run's teacher),
    and what to clear first when it has to run (``prepare``: returns the lines to print)."""

    title: str
    args: Callable[[], list[str]]
    done: Callable[[], bool] = lambda: False
    module: str = "distilhash.cli.main"  # run as ``python -m module *args``
    prepare: Callable[[], list[str]] = lambda: []


def _teacher_file() -> Path:
    from distilhash.demo.teacher_check import RECORD_FILE

    return home() / RECORD_FILE


def _fingerprint() -> str | None:
    """The fingerprint of the teacher copy step 2 found in this run (None before it ran)."""
    from distilhash.demo.teacher_check import read_record

    rec = read_record(_teacher_file())
    return rec.get("fingerprint") if rec and rec.get("spec") == TEACHER else None


def _features_dir() -> Path:
    from distilhash.teachers.cache import default_features_dir

    return default_features_dir(DATASET, TEACHER)


def _features_state() -> str:
    from distilhash.demo.freshness import feature_cache_state

    return feature_cache_state(_features_dir(), _fingerprint())


def _extract_args() -> list[str]:
    """``teacher extract``; with ``--overwrite`` when the complete cache there was made by another copy of the teacher."""
    return ["teacher", "extract", "--dataset", DATASET, "--teacher", TEACHER] \
        + (["--overwrite"] if _features_state() == "other teacher" else [])


def _extract_prepare() -> list[str]:
    if _features_state() != "other teacher":
        return []
    return [f"{_features_dir()} was extracted with another copy of {TEACHER} (not fingerprint {_fingerprint()}): "
            "extracting it again"]


def _preset_options() -> dict:
    from distilhash.methods.presets import preset_options

    return preset_options("dcmq", DCMQ_PRESET)


def _model_current() -> bool:
    from distilhash.demo.freshness import model_is_current

    return model_is_current(_model_dir(), TEACHER, _fingerprint(), _preset_options())


def _retire_model() -> list[str]:
    from distilhash.demo.freshness import retire_model_outputs

    return retire_model_outputs(_model_dir(), [_index_dir("image"), _index_dir("text")], _preset_options())


def _model_step_done(path: Callable[[], Path]) -> Callable[[], bool]:
    """Done when the model is this run's (trained on this teacher's features) and ``path()`` exists in it."""
    return lambda: _model_current() and path().is_file()


def _index_done(modality: str) -> bool:
    from distilhash.demo.freshness import index_is_current

    return _model_current() and index_is_current(_index_dir(modality), _model_dir(), TEACHER)


def _index_prepare(modality: str) -> list[str]:
    """An index there that is not this model's (another teacher or model) is removed before the build."""
    import shutil

    d = _index_dir(modality)
    if not d.exists():
        return []
    shutil.rmtree(d)
    return [f"removed {d}: not built from this run's model and teacher"]


STEPS: list[Step] = [
    Step("prepare the openclipart drawings", lambda: ["data", "prepare", DATASET],
         lambda: (datasets_dir() / DATASET / "split.json").is_file()),
    Step("load the demo's teacher (this home's fit, else the copy shipped with distilhash, sha256-checked; not fitted "
         "here)", lambda: ["demo", "teacher", "--json", str(_teacher_file())]),
    Step("extract teacher features", _extract_args, lambda: _features_state() == "current", prepare=_extract_prepare),
    Step(f"train DCMQ at {BITS} bits", lambda: ["train", "dcmq", "--dataset", DATASET, "--teacher", TEACHER,
                                               "--bits", str(BITS), "--seed", "0", "--out", str(_model_dir()),
                                               "--preset", DCMQ_PRESET],
         _model_current, prepare=_retire_model),
    Step("evaluate (query vs retrieval, both directions)",
         lambda: ["eval", str(_model_dir()), "--dataset", DATASET, "--teacher", TEACHER],
         _model_step_done(lambda: _model_dir() / "eval-query" / "report.json")),
    Step("fit the static query text encoder (MiniLM distilled with model2vec, mapped on split.train captions)",
         lambda: ["query-encoder", "fit", "--model", str(_model_dir()), "--dataset", DATASET],
         lambda: _model_current() and _static_text_ready()),
    Step("calibrate the weak-match note (letters of split.fit captions; threshold from split.val captions)",
         lambda: ["query-encoder", "weak-match", "--model", str(_model_dir()), "--dataset", DATASET],
         lambda: _model_current() and _weak_match_ready()),
    Step("build the image index (retrieval set)",
         lambda: ["index", "build", str(_index_dir("image")), "--model", str(_model_dir()), "--dataset", DATASET,
                  "--part", "retrieval", "--modality", "image", "--teacher", TEACHER],
         lambda: _index_done("image"), prepare=lambda: _index_prepare("image")),
    Step("build the text index (retrieval set)",
         lambda: ["index", "build", str(_index_dir("text")), "--model", str(_model_dir()), "--dataset", DATASET,
                  "--part", "retrieval", "--modality", "text", "--teacher", TEACHER],
         lambda: _index_done("text"), prepare=lambda: _index_prepare("text")),
    Step("the ten example searches (static text encoder, as the service answers them)",
         lambda: ["demo", "examples", str(_index_dir("image")), "--encoder", "static", "--json", str(_examples_file())]),
    Step("the open-vocabulary benchmark's summary (176 noun queries judged by title; float teacher and this model)",
         lambda: ["demo", "open-vocab", str(_model_dir()), "--json", str(_index_dir("image") / "demo-open-vocab.json")]),
]


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far (a step's CPU time does not grow with the
    machine's load the way its wall time does)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(step: Step, number: int, total: int) -> dict[str, Any]:
    """Run one step (or reuse its output); return its timing record."""
    cmd = [sys.executable, "-m", step.module, *step.args()]
    prog = "distilhash" if step.module == "distilhash.cli.main" else f"python -m {step.module}"
    shown = prog + " " + " ".join(shlex.quote(a) for a in step.args())
    record: dict[str, Any] = {"step": number, "title": step.title, "command": shown, "reused": True, "seconds": None,
                              "cpu_seconds": None}
    if step.done():
        print(f"\n[{number}/{total}] {step.title}: already done, reusing it  ({shown})", flush=True)
        return record
    print(f"\n[{number}/{total}] {step.title}", flush=True)
    for line in step.prepare():
        print(f"  note: {line}", flush=True)
    print(f"$ {shown}", flush=True)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        print(f"demo: step failed (exit {result.returncode}): {shown}", file=sys.stderr)
        raise SystemExit(result.returncode)
    record.update(reused=False, seconds=round(time.perf_counter() - t0, 1), cpu_seconds=round(_children_cpu() - cpu0, 1))
    print(f"({record['seconds']:.1f} s, {record['cpu_seconds']:.1f} s of CPU)", flush=True)
    return record


def _write_timings(records: list[dict[str, Any]], prov: dict[str, Any], failed: bool = False) -> Path:
    """``$DISTILHASH_HOME/demo-timings.json``: each step's wall time (None when reused) and the load; ``failed``:
    the run stopped at the step after the last record (the file is then ``demo-timings-failed.json``, so that
    the re-run that completes the demo does not lose these times)."""
    from distilhash.benchmark.provenance import finish_provenance

    setup = os.environ.get("DEMO_SETUP_SECONDS")  # set by `make demo`, which times scripts/setup.sh
    ran = [r["seconds"] for r in records if r["seconds"] is not None]
    out = home() / ("demo-timings-failed.json" if failed else "demo-timings.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "setup_seconds": float(setup) if setup else None,
        "steps": records,
        "steps_seconds": round(sum(ran), 1),
        "steps_cpu_seconds": round(sum(r["cpu_seconds"] for r in records if r["cpu_seconds"] is not None), 1),
        "provenance": finish_provenance(prov),
    }, indent=2) + "\n")
    return out


#: The committed record of a fresh-clone run (``bench/demo_record.py``), present in a clone of the repository.
RECORD = Path(__file__).resolve().parents[3] / "bench" / "results" / "demo_record" / "demo.json"


def _record_comparison() -> list[str]:
    """This run's example and open-vocabulary figures beside the committed record's (nothing when this run did not
    write them)."""
    from distilhash.demo.freshness import model_options
    from distilhash.demo.record_compare import compare_lines
    from distilhash.demo.teacher_check import read_record

    examples, summary = _examples_file(), _index_dir("image") / "demo-open-vocab.json"
    if not (examples.is_file() and summary.is_file()):
        return []
    run = {"examples": json.loads(examples.read_text()), "open_vocab": json.loads(summary.read_text()),
           "teacher": read_record(_teacher_file()), "model_options": model_options(_model_dir(), _preset_options())}
    return ["", *compare_lines(run, RECORD)]


def _cli_hint() -> str:
    """How to reach this demo's data from a new shell (``make`` cannot activate the venv there)."""
    venv = Path(sys.prefix)
    try:
        venv = venv.relative_to(Path.cwd())
    except ValueError:
        pass
    return (f"\nThe command line, in a new shell from {Path.cwd()}:\n"
            f"  source {venv}/bin/activate\n"
            f"  export DISTILHASH_HOME={home()}\n"
            f"  distilhash search {_index_dir('image')} --text \"a red apple\"\n"
            f"  distilhash --help")


def main() -> None:
    """Run every step, then serve the page unless ``DEMO_NO_SERVE=1``; Ctrl-C (or SIGTERM) stops it with exit
    status 0, so ``make demo`` ends without ``make: *** [...] Terminated``."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # the service after execv installs its own (serve/server.py)
    try:
        _main()
    except KeyboardInterrupt:
        print("\ndemo stopped (Ctrl-C); `make demo` again continues where it stopped", flush=True)


def _main() -> None:
    from distilhash.benchmark.provenance import collect_provenance

    print(f"distilhash demo: everything is stored under {home()}")
    prov = collect_provenance("demo", "demo-timings", model_selection="as in each step (split.val only)",
                              dataset=DATASET, seeds=[0], threads=os.cpu_count() or 1, command="make demo",
                              root=Path(__file__).resolve().parents[3])
    total = len(STEPS) + 1
    records: list[dict[str, Any]] = []
    try:
        for number, step in enumerate(STEPS, start=1):
            records.append(_run(step, number, total))
    except SystemExit:  # a failed step: keep the times of the steps before it (a re-run reuses their outputs)
        print(f"step times so far: {_write_timings(records, prov, failed=True)}", file=sys.stderr)
        raise
    print("\n".join(_record_comparison()), flush=True)
    print(f"\nstep times: {_write_timings(records, prov)}")
    print(_cli_hint(), flush=True)
    if os.environ.get("DEMO_NO_SERVE") == "1":
        print("\nDEMO_NO_SERVE=1: not starting the service.")
        return
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = os.environ.get("DEMO_PORT", "8000")
    args = ["serve", str(_index_dir("image")), str(_index_dir("text")), "--host", host, "--port", port,
            "--query-encoder", "auto"]
    print(f"\n[{total}/{total}] start the search service (Ctrl-C stops it)\n$ distilhash {' '.join(args)}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "distilhash.cli.main", *args])


if __name__ == "__main__":
    main()
