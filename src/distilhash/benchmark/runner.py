"""Run benchmark suites: fit, encode, evaluate and record each run as one JSON file.

One run = (dataset, method entry, bits, seed). Steps, each timed:

1. load the dataset's teacher features and split (:mod:`.sources`);
2. ``create_method(name, n_bits=bits, seed=seed, **config)`` and
   ``fit(features, split)`` — plus ``dataset=`` when the method class declares
   ``capabilities.input == "raw"``; model selection inside ``fit`` may use ``split.val`` only, and the
   method reports which epoch it kept and why in ``fit_info_`` (recorded as ``epoch_policy``);
3. encode image and text queries (``split.query``) and database items (``split.retrieval``) —
   through ``method.encode_dataset_rows``: ``method.encode_dataset(modality, dataset,
   indices, role)`` for raw-input methods (pixels / raw text), else ``method.encode(modality,
   features, role)``;
4. evaluate image->text and text->image with :func:`distilhash.eval.metrics.evaluate`;
5. when the suite asks for it, the open-vocabulary benchmark (:mod:`.open_vocab`): noun queries
   against titled images the method never saw.

Runs execute one at a time, by default each in a fresh process (``spawn``) so that the
recorded peak memory belongs to that run and a crash cannot take the suite down. A result whose
``spec_hash`` matches is reused unless ``force``; failed runs are recorded with their traceback.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, finish_provenance, peak_rss_mib
from distilhash.benchmark.suite import RunSpec, Suite, repo_root, result_path
from distilhash.errors import ConfigError
from distilhash.threads import limit_threads
from distilhash.epochs import NO_BUDGET

__all__ = ["execute_run", "run_suite", "SCHEMA"]

SCHEMA = "distilhash.bench.run/1"
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}


def chance_record(query_labels, database_labels) -> dict[str, Any]:
    """Chance for this query / database pair (:mod:`distilhash.eval.chance`): the exact expected mAP@all
    of a random ranking, and the mean share of relevant items (not a mAP; kept to compare)."""
    from distilhash.eval.chance import random_map_exact, relevant_counts

    r = relevant_counts(query_labels, database_labels)
    return {"map_all_random_ranking": random_map_exact(query_labels, database_labels),
            "relevant_share": float((r / max(len(database_labels), 1)).mean()) if len(r) else None,
            "definition": "expected mAP@all of a uniformly random ranking (exact; distilhash.eval.chance)"}


MODEL_SELECTION = "split.val only: the method's fit_info_ (recorded as epoch_policy) says which epoch it kept and why"


def _provenance(spec: RunSpec, context: dict[str, Any]) -> dict[str, Any]:
    """The run's provenance block (see :mod:`.provenance`); the split hashes are filled once loaded."""
    prov = collect_provenance(spec.suite, spec.run_id, seeds=[spec.seed], model_selection=MODEL_SELECTION,
                              dataset=spec.dataset.name, threads=spec.threads, command=context.get("command"),
                              root=repo_root())
    prov["machine"]["concurrent_runs"] = context.get("concurrent_runs", 1)
    return prov


def compact_curves(obj: Any, max_points: int) -> Any:
    """Thin long curves to at most ``max_points`` evenly spaced points (first and last kept).

    Applies to dicts whose values are equally long numeric lists (parallel arrays such as
    ``{"precision": [...], "recall": [...]}``) and to lists of such lists.
    """
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list)]
        if lists and len(lists) == len(obj) and len({len(v) for v in lists}) == 1 and len(lists[0]) > max_points:
            keep = _thin(len(lists[0]), max_points)
            return {k: [v[i] for i in keep] for k, v in obj.items()}
        return {k: compact_curves(v, max_points) for k, v in obj.items()}
    if isinstance(obj, list) and obj and all(isinstance(v, list) for v in obj) and len({len(v) for v in obj}) == 1:
        if len(obj[0]) > max_points:
            keep = _thin(len(obj[0]), max_points)
            return [[v[i] for i in keep] for v in obj]
    return obj


def _thin(n: int, k: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _encode(method, modality: str, role: str, indices: np.ndarray, loaded) -> tuple[Any, float]:
    t = time.perf_counter()
    raw = method.capabilities.input == "raw"
    codes = method.encode_dataset_rows(modality, indices, role, features=loaded.features,
                                       dataset=loaded.dataset() if raw else None)
    return codes, time.perf_counter() - t


def shared_code_bytes(codes) -> int:
    """Bytes stored once per database beside the per-item codes (PQ codebooks; 0 for binary/float)."""
    return int(codes.codebooks.nbytes) if codes.codebooks is not None else 0


def _code_vs_code(method, codes, split, feats, loaded, spec: RunSpec) -> dict[str, Any] | None:
    """mAP when the query side is quantized too (PQ codes against PQ codes, symmetric distance).

    Only for methods whose queries stay continuous against a PQ database (asymmetric distance):
    binary methods already compare codes with codes, so their main figures are code-vs-code.
    Returns ``{direction: {"map_all": ..., "map_at": {...}}}`` or None.
    """
    from distilhash.eval.metrics import evaluate

    if not any(codes[m, "query"].kind is not codes[m, "database"].kind for m in ("image", "text")):  # float vs pq
        return None
    out: dict[str, Any] = {}
    for direction, (qm, dm) in DIRECTIONS.items():
        q_codes, _ = _encode(method, qm, "database", split.query, loaded)
        rep = evaluate(q_codes, codes[dm, "database"], feats.labels[split.query], feats.labels[split.retrieval],
                       top_n=tuple(spec.eval.top_n), tie_aware=spec.eval.tie_aware, curves=False)
        d = _jsonable(rep.to_dict())
        out[direction] = {"map_all": d["map_all"], "map_at": d.get("map_at", {}), "query_kind": q_codes.kind}
    return out


def execute_run(spec: RunSpec, context: dict[str, Any]) -> dict[str, Any]:
    """Fit, encode and evaluate one run in this process; return its JSON record.

    ``context``: ``command`` and ``isolated`` (whether this process runs only this run).
    """
    from distilhash.benchmark.sources import load_source
    from distilhash.eval.metrics import evaluate
    from distilhash.methods.base import create_method

    limit_threads(spec.threads)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "run_id": spec.run_id,
        "spec_hash": spec.spec_hash,
        "suite": spec.suite,
        "spec": spec.to_dict(),
        "provenance": _provenance(spec, context),
    }
    t_run = time.perf_counter()
    t = time.perf_counter()
    loaded = load_source(spec.dataset)
    load_seconds = time.perf_counter() - t
    feats, split = loaded.features, loaded.split
    record["provenance"].update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    record["dataset"] = {
        "name": spec.dataset.name,
        "source": spec.dataset.source,
        "n_items": len(feats),
        "dataset_hash": split.dataset_hash,
        "split_hash": split.hash,
        "split_sizes": split.sizes(),
        "split_seed": split.spec.seed,
        **loaded.provenance,
    }
    record["teacher"] = feats.teacher
    record["teacher_identity"] = feats.teacher_identity()
    record["feature_width"] = feats.width
    record["chance"] = chance_record(feats.labels[split.query], feats.labels[split.retrieval])

    method = create_method(spec.method, **spec.method_config())
    fit_kwargs: dict[str, Any] = {}
    if method.capabilities.input == "raw":
        fit_kwargs["dataset"] = loaded.dataset()
    t, c = time.perf_counter(), time.process_time()
    method.fit(feats, split, **fit_kwargs)
    fit_seconds, fit_cpu = time.perf_counter() - t, time.process_time() - c
    limit_threads(spec.threads)  # torch may have been imported by fit

    codes: dict[tuple[str, str], Any] = {}
    encode_seconds: dict[str, float] = {}
    n_encoded = 0
    for modality in ("image", "text"):
        for role, idx in (("query", split.query), ("database", split.retrieval)):
            codes[modality, role], secs = _encode(method, modality, role, idx, loaded)
            encode_seconds[f"{modality}_{role}"] = secs
            n_encoded += len(idx)

    metrics: dict[str, Any] = {}
    code_info: dict[str, Any] = {}
    t = time.perf_counter()
    for direction, (qm, dm) in DIRECTIONS.items():
        q, db = codes[qm, "query"], codes[dm, "database"]
        report = evaluate(
            q, db, feats.labels[split.query], feats.labels[split.retrieval],
            top_n=tuple(spec.eval.top_n), tie_aware=spec.eval.tie_aware, curves=spec.eval.curves,
        )
        metrics[direction] = compact_curves(_jsonable(report.to_dict()), spec.eval.curve_points)
        shared = shared_code_bytes(db)
        code_info[direction] = {"query_kind": q.kind.value, "database_kind": db.kind.value, "database_bytes_per_item": db.bytes_per_item,
                                "database_code_bits": db.n_bits, "shared_bytes": shared,
                                # what one item costs at this database size, the codebooks spread over it
                                "bytes_per_item_with_shared": db.bytes_per_item + shared / max(len(split.retrieval), 1),
                                "n_database": int(len(split.retrieval))}
    eval_seconds = time.perf_counter() - t
    symmetric = _code_vs_code(method, codes, split, feats, loaded, spec)
    open_vocab = None
    if spec.open_vocab is not None:
        from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions, run_open_vocab

        t = time.perf_counter()
        open_vocab = run_open_vocab(method, OpenVocabOptions.from_dict(spec.open_vocab), feats.teacher, feats, split)
        open_vocab["seconds"] = time.perf_counter() - t

    record.update(
        status="ok",
        method={"name": spec.method, "label": spec.label, "config": method.config_dict(), "n_bits": method.n_bits, "bits": spec.bits},
        seed=spec.seed,
        epoch_policy=_jsonable(method.fit_info_ or {"epoch_policy": "not reported by the method"}),
        budget=_jsonable((method.fit_info_ or {}).get("budget") or NO_BUDGET),
        codes=code_info,
        metrics=metrics,
        **({"metrics_code_vs_code": symmetric} if symmetric else {}),
        **({"open_vocab": open_vocab} if open_vocab is not None else {}),
        timing={
            "load_seconds": load_seconds,
            "fit_seconds": fit_seconds,
            "fit_cpu_seconds": fit_cpu,
            "encode_seconds": encode_seconds,
            "encode_items": n_encoded,
            "encode_items_per_second": n_encoded / max(sum(encode_seconds.values()), 1e-9),
            "eval_seconds": eval_seconds,
            "total_seconds": time.perf_counter() - t_run,
        },
        memory={
            "peak_rss_mib": peak_rss_mib(),
            "scope": "this run's own process (getrusage ru_maxrss)" if context.get("isolated")
            else "high-water mark of the shared harness process since it started (runs not isolated)",
        },
    )
    finish_provenance(record["provenance"])
    return _jsonable(record)


def _execute_safely(spec_dict: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Child-process entry: never raises; failures become a ``status: failed`` record."""
    spec = RunSpec.from_dict(spec_dict)
    try:
        return execute_run(spec, context)
    except Exception as exc:  # noqa: BLE001 - recorded, reported, and the suite goes on
        return _failed(spec, context, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _failed(spec: RunSpec, context: dict[str, Any], error: str, tb: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "run_id": spec.run_id, "spec_hash": spec.spec_hash, "suite": spec.suite,
        "spec": spec.to_dict(), "status": "failed", "error": error, "traceback": tb,
        "provenance": finish_provenance(_provenance(spec, context)),
    }


def _pool(workers: int) -> ProcessPoolExecutor:
    """Spawned workers, each used for a single run (fresh process: own peak memory, own threads)."""
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)


def _execute_isolated(spec: RunSpec, context: dict[str, Any]) -> dict[str, Any]:
    limit_threads(spec.threads)  # inherited by the child before its libraries load
    try:
        with _pool(1) as ex:
            return ex.submit(_execute_safely, spec.to_dict(), {**context, "isolated": True}).result()
    except Exception as exc:  # noqa: BLE001 - e.g. the child was killed (out of memory)
        return _failed(spec, context, f"run process died: {type(exc).__name__}: {exc}", traceback.format_exc())


def _reusable(path: Path, spec: RunSpec) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if rec.get("status") == "ok" and rec.get("spec_hash") == spec.spec_hash else None


def run_suite(
    suite: Suite,
    results_root: str | Path,
    *,
    only: list[str] | None = None,
    force: bool = False,
    isolate: bool | None = None,
    threads: int | None = None,
    command: str | None = None,
    progress: bool = True,
    plots: bool = True,
    jobs: int | None = None,
    echo=print,
) -> list[dict[str, Any]]:
    """Run (or reuse) every run of ``suite``, write one JSON each, then the markdown report.

    Returns the run records in suite order. ``isolate=None`` takes the suite's setting;
    ``jobs`` (default: the suite's) > 1 runs that many isolated runs at once (timings then share the CPUs: recorded
    as ``concurrent_runs``).
    """
    from dataclasses import replace

    from tqdm.auto import tqdm

    from distilhash.benchmark.report import write_report
    from distilhash.io_utils import atomic_write_json

    results_root = Path(results_root)
    isolate = suite.isolate if isolate is None else isolate
    specs = suite.runs(only)
    if threads is not None:
        specs = [replace(s, threads=threads) for s in specs]
    context = {
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "isolated": False,
    }
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    for spec in specs:
        rec = None if force else _reusable(result_path(results_root, spec), spec)
        if rec is not None:
            done[spec.run_id] = rec
        else:
            todo.append(spec)
    if len(done):
        echo(f"reusing {len(done)} stored runs (same spec hash); --force re-runs them")
    bar = tqdm(total=len(todo), desc=f"bench {suite.name}", unit="run", disable=not progress)

    def finish(spec: RunSpec, rec: dict[str, Any]) -> None:
        atomic_write_json(result_path(results_root, spec), rec)
        if rec["status"] != "ok":
            echo(f"run {spec.run_id} FAILED: {rec['error']}")
        done[spec.run_id] = rec
        bar.set_postfix_str(spec.run_id)
        bar.update()

    jobs = max(1, int(suite.jobs if jobs is None else jobs))
    if jobs > 1 and not isolate:
        raise ConfigError("jobs > 1 needs isolated runs (isolate=true)")
    if jobs > 1 and todo:
        from concurrent.futures import as_completed

        limit_threads(todo[0].threads)
        ctx = {**context, "isolated": True, "concurrent_runs": jobs}
        with _pool(jobs) as ex:
            futures = {ex.submit(_execute_safely, spec.to_dict(), ctx): spec for spec in todo}
            for fut in as_completed(futures):
                spec = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # noqa: BLE001 - the worker died
                    rec = _failed(spec, ctx, f"run process died: {type(exc).__name__}: {exc}", traceback.format_exc())
                finish(spec, rec)
    else:
        for spec in todo:
            bar.set_postfix_str(spec.run_id)
            finish(spec, _execute_isolated(spec, context) if isolate else _execute_safely(spec.to_dict(), context))
    bar.close()
    records = [done[spec.run_id] for spec in specs]
    # the report always covers the whole suite: with --only, the other runs' stored records join these
    report = write_report(suite, results_root, None if only else records,
                          suite_seconds=None if only else time.perf_counter() - t0, plots=plots)
    echo(f"{len(records)} runs ({sum(r['status'] != 'ok' for r in records)} failed) -> {results_root / suite.name}; report {report}")
    return records
