"""What every benchmark record carries besides its figures: one provenance block, one spelling.

Every bench script and the suite runner call :func:`collect_provenance` when they start and
:func:`finish_provenance` when they are done (the result writer does the latter), and store the
returned dict under the record's ``"provenance"`` key. Its keys (:data:`PROVENANCE_KEYS`)::

    benchmark, name        bench script or suite, and this result's name (file stem)
    command                how it was run, e.g. "python bench/dcmq.py --bits 64"
    commit, dirty          git HEAD of the checkout; dirty: src/ or bench/ differ from it
    dataset, dataset_hash, split_hash   what was measured on (None when synthetic / none)
    seeds                  list of seeds used ([] when nothing is random)
    model_selection        how epochs / thresholds were chosen (e.g. "split.val only")
    load_before, load_after   os.getloadavg() (1, 5, 15 min) at start and at the end
    machine                {cores, cpu_model, ram_gib, threads, hostname, platform, python, numpy[, torch]}
    started_utc, finished_utc   ISO-8601 UTC

Older result files spelled some of these differently; :data:`LEGACY_KEYS` lists those spellings
so a check can prove none is left (see ``tests/test_bench_results.py``).
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "PROVENANCE_KEYS", "MACHINE_KEYS", "LEGACY_KEYS", "collect_provenance", "finish_provenance",
    "git_info", "machine_info", "peak_rss_mib", "load_average", "utc_now", "legacy_keys_in",
]

PROVENANCE_KEYS: tuple[str, ...] = (
    "benchmark", "name", "command", "commit", "dirty", "dataset", "dataset_hash", "split_hash", "seeds",
    "model_selection", "load_before", "load_after", "machine", "started_utc", "finished_utc",
)
MACHINE_KEYS: tuple[str, ...] = ("cores", "cpu_model", "ram_gib", "threads", "hostname", "platform", "python", "numpy")

#: Spellings of provenance keys found in older result files -> the one spelling used now.
LEGACY_KEYS: dict[str, str] = {
    "git_commit": "commit", "git": "commit", "dirty_src": "dirty",
    "loadavg": "load_before|load_after", "load_average": "load_before|load_after", "load_avg": "load_before|load_after",
    "loadavg_before": "load_before", "load_avg_before": "load_before", "load_average_before": "load_before",
    "loadavg_start": "load_before", "load_average_start": "load_before", "load_start": "load_before",
    "loadavg_at_run_start": "load_before", "loadavg_before_image_tower": "load_before_image_tower",
    "load_average_per_round": "load_per_round",
    "loadavg_after": "load_after", "load_avg_after": "load_after", "load_average_after": "load_after",
    "loadavg_end": "load_after", "load_average_end": "load_after", "load_end": "load_after",
    "cpu_count": "cores", "cpus": "cores", "shared_machine": "shared",
    "machine_start": "machine", "machine_end": "machine",
    "started_at": "started_utc", "finished_at": "finished_utc", "date": "started_utc",
}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_average() -> list[float]:
    """``os.getloadavg()`` rounded to 2 decimals: [1 min, 5 min, 15 min]."""
    return [round(x, 2) for x in os.getloadavg()]


def git_info(root: Path) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool | None}`` of the checkout at ``root``.

    ``dirty`` is true when ``src/`` or ``bench/`` (scripts and suites; results excluded) differ
    from the commit; other files in a shared working tree are not the benchmark's business.
    """

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench", ":(exclude)bench/results")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info(threads: int) -> dict[str, Any]:
    """Cores, CPU model, RAM, the thread budget and library versions (no load: see ``load_*``)."""
    import numpy as np

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": _ram_gib(),
        "threads": threads,
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def _command(root: Path) -> str:
    """``python bench/x.py --args`` with the script path relative to ``root`` (no machine paths)."""
    argv = list(sys.argv) or [""]
    script = Path(argv[0])
    try:
        argv[0] = script.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        argv[0] = script.name
    return " ".join(["python", *(shlex.quote(a) for a in argv)])


def collect_provenance(
    benchmark: str,
    name: str,
    *,
    seeds: Iterable[int] = (),
    model_selection: str,
    split: Any = None,
    dataset: str | None = None,
    dataset_hash: str | None = None,
    split_hash: str | None = None,
    threads: int = 1,
    command: str | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """The provenance block of a benchmark result, taken when the benchmark starts.

    ``split`` (a :class:`distilhash.data.split.Split`) fills ``dataset_hash`` / ``split_hash``
    unless given. ``model_selection`` is required: say how epochs or thresholds were chosen
    ("split.val only", or "none: nothing is selected" for timing benchmarks). ``command``
    defaults to this process's ``python <script relative to root> <args>``.
    Call :func:`finish_provenance` (the result writer does) to record the end.
    """
    if root is None:
        from distilhash.benchmark.suite import repo_root

        root = repo_root()
    git = git_info(root)
    return {
        "benchmark": benchmark,
        "name": name,
        "command": command if command is not None else _command(root),
        "commit": git["commit"],
        "dirty": git["dirty"],
        "dataset": dataset,
        "dataset_hash": dataset_hash if dataset_hash is not None else getattr(split, "dataset_hash", None),
        "split_hash": split_hash if split_hash is not None else getattr(split, "hash", None),
        "seeds": [int(s) for s in seeds],
        "model_selection": model_selection,
        "load_before": load_average(),
        "load_after": None,
        "machine": machine_info(threads),
        "started_utc": utc_now(),
        "finished_utc": None,
    }


def finish_provenance(prov: dict[str, Any]) -> dict[str, Any]:
    """Record the end (load average, time, torch version if loaded since) in ``prov``; return it."""
    prov["load_after"] = load_average()
    prov["finished_utc"] = utc_now()
    if "torch" in sys.modules and isinstance(prov.get("machine"), dict):
        prov["machine"].setdefault("torch", sys.modules["torch"].__version__)
    return prov


def legacy_keys_in(obj: Any, path: str = "") -> list[str]:
    """Paths of keys in a JSON object that use an old spelling from :data:`LEGACY_KEYS`.

    A string-valued ``machine`` (a free-text note; now ``machine_note``) counts as legacy too.
    """
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            here = f"{path}.{k}" if path else str(k)
            if k in LEGACY_KEYS or (k == "machine" and not isinstance(v, dict)):
                found.append(here)
            found += legacy_keys_in(v, here)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += legacy_keys_in(v, f"{path}[{i}]")
    return found


def peak_rss_mib() -> float:
    """High-water mark of this process's resident set (``getrusage``; Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0
