"""Where benchmark results live and how they are written: one folder per benchmark.

Layout (``root`` is the source checkout, ``bench/results`` under it)::

    bench/results/<benchmark>/<name>.json   figures + the "provenance" block
    bench/results/<benchmark>/<name>.md     the tables, then the provenance lines
    bench/results/<benchmark>/<name>.png    optional plot

``<benchmark>`` is the bench script's stem (``bench/dcmq.py`` -> ``dcmq``) or the suite's name;
``<name>`` defaults to the benchmark and changes with ``--out-name`` for variants (e.g.
``index_speed/index_speed_quiet_10m``). Suite run records sit beside it in the same folder
(``bench/results/<suite>/<run_id>.json``, report ``report.md``, plots ``plots/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from distilhash.benchmark.provenance import MACHINE_KEYS, PROVENANCE_KEYS, finish_provenance
from distilhash.errors import ConfigError

__all__ = ["results_dir", "result_paths", "write_results", "redraw_results", "read_results", "publish", "provenance_markdown",
           "check_provenance"]


def _root(root: Path | None) -> Path:
    if root is not None:
        return Path(root)
    from distilhash.benchmark.suite import repo_root

    return repo_root()


def results_dir(benchmark: str, root: Path | None = None) -> Path:
    """``<root>/bench/results/<benchmark>`` (not created)."""
    if not benchmark or "/" in benchmark or benchmark.startswith("."):
        raise ConfigError(f"benchmark name {benchmark!r}: expected a plain folder name such as 'dcmq'")
    return _root(root) / "bench" / "results" / benchmark


def result_paths(benchmark: str, name: str, root: Path | None = None) -> dict[str, Path]:
    """``{"json": ..., "md": ..., "png": ...}`` of result ``name`` of ``benchmark``."""
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"result name {name!r}: expected a plain file stem such as 'dcmq_k16'")
    base = results_dir(benchmark, root)
    return {ext: base / f"{name}.{ext}" for ext in ("json", "md", "png")}


def check_provenance(prov: Any) -> list[str]:
    """Problems of a provenance block (missing / unknown keys, wrong types); [] when sound."""
    if not isinstance(prov, dict):
        return [f"provenance: expected an object, got {type(prov).__name__}"]
    problems = [f"provenance: missing key {k!r}" for k in PROVENANCE_KEYS if k not in prov]
    problems += [f"provenance: unknown key {k!r} (keys: {', '.join(PROVENANCE_KEYS)})" for k in prov if k not in PROVENANCE_KEYS]
    for k in ("load_before", "load_after"):
        v = prov.get(k)
        if v is not None and not (isinstance(v, list) and len(v) == 3):
            problems.append(f"provenance: {k} should be [1, 5, 15]-minute load averages, got {v!r}")
    if not isinstance(prov.get("seeds", []), list):
        problems.append(f"provenance: seeds should be a list, got {prov.get('seeds')!r}")
    if not prov.get("model_selection"):
        problems.append("provenance: model_selection is empty (say how epochs / thresholds were chosen, or 'none')")
    machine = prov.get("machine")
    if not isinstance(machine, dict) or any(k not in machine for k in MACHINE_KEYS):
        problems.append(f"provenance: machine should hold {', '.join(MACHINE_KEYS)}")
    return problems


def provenance_markdown(prov: dict[str, Any]) -> str:
    """The provenance as markdown lines (appended to every result table by :func:`write_results`)."""
    m = prov.get("machine") or {}
    commit = prov.get("commit") or "unknown"
    data = ", ".join(f"{k} `{prov[k]}`" for k in ("dataset", "dataset_hash", "split_hash") if prov.get(k))
    return "\n".join([
        "## Provenance",
        "",
        f"- command: `{prov.get('command')}`",
        f"- commit: `{commit}`" + (" (with uncommitted changes under src/ or bench/)" if prov.get("dirty") else ""),
        f"- data: {data or 'none (synthetic or no dataset)'}; seeds {prov.get('seeds')}",
        f"- model selection: {prov.get('model_selection')}",
        f"- machine: {m.get('cores')} cores ({m.get('cpu_model')}), {m.get('ram_gib')} GiB RAM, {m.get('threads')} thread(s); "
        f"**shared with other jobs**: load average (1/5/15 min) before {prov.get('load_before')}, after {prov.get('load_after')}",
        f"- time (UTC): {prov.get('started_utc')} to {prov.get('finished_utc')}",
        "",
    ])


def write_results(
    benchmark: str,
    name: str,
    result: dict[str, Any],
    markdown: str,
    plot: Callable[[Path], Any] | None = None,
    *,
    root: Path | None = None,
    finish: bool = True,
) -> dict[str, Path]:
    """Write ``<name>.json`` (``result``), ``<name>.md`` (``markdown`` + provenance) and the plot.

    ``result["provenance"]`` must be a block from :func:`~.provenance.collect_provenance`;
    unless ``finish=False`` (re-drawing stored results) its end is recorded first. ``plot`` is
    called with the ``.png`` path. Files are replaced atomically. Returns the written paths.
    """
    from distilhash.io_utils import atomic_write_bytes

    prov = result.get("provenance")
    if finish and isinstance(prov, dict):
        finish_provenance(prov)
    problems = check_provenance(prov)
    if problems:
        raise ConfigError(f"result {benchmark}/{name}: " + "; ".join(problems))
    paths = result_paths(benchmark, name, root)
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(paths["json"], (json.dumps(result, indent=1, ensure_ascii=False, default=_jsonable) + "\n").encode())
    atomic_write_bytes(paths["md"], (markdown.rstrip() + "\n\n" + provenance_markdown(prov)).encode())
    written = {"json": paths["json"], "md": paths["md"]}
    if plot is not None:
        plot(paths["png"])
        written["png"] = paths["png"]
    return written


def redraw_results(
    benchmark: str, name: str, result: dict[str, Any], markdown: str, plot: Callable[[Path], Any] | None = None,
    *, root: Path | None = None,
) -> dict[str, Path]:
    """Rewrite ``<name>.md`` (and the plot) of a stored result; its JSON is left as it is.

    For ``--report-only`` style options: the tables change, the measurement does not. Results
    stored before the provenance block existed get a pointer to their JSON instead.
    """
    from distilhash.io_utils import atomic_write_bytes

    paths = result_paths(benchmark, name, root)
    prov = result.get("provenance")
    tail = provenance_markdown(prov) if isinstance(prov, dict) else (
        f"## Provenance\n\nRecorded in `{name}.json` (command, commit, load averages), written before the shared provenance block.\n")
    atomic_write_bytes(paths["md"], (markdown.rstrip() + "\n\n" + tail).encode())
    written = {"md": paths["md"]}
    if plot is not None:
        plot(paths["png"])
        written["png"] = paths["png"]
    return written


def read_results(benchmark: str, name: str, root: Path | None = None) -> dict[str, Any]:
    """The stored ``<name>.json`` of ``benchmark`` (for re-drawing tables and plots)."""
    path = result_paths(benchmark, name, root)["json"]
    if not path.is_file():
        raise ConfigError(f"no stored result {path}: run the benchmark first")
    return json.loads(path.read_text())


def publish(
    benchmark: str, name: str, markdown: Callable[[dict[str, Any]], str], plot: Callable[[dict[str, Any], Path], Any] | None = None,
    *, result: dict[str, Any] | None = None, root: Path | None = None, echo: bool = True,
) -> dict[str, Path]:
    """A bench script's last step: write ``result`` (:func:`write_results`), or with ``result=None`` redraw the
    stored one (:func:`redraw_results`, the ``--replot`` options); the tables are ``markdown(result)``, the plot
    ``plot(result, png_path)``. With ``echo`` the written markdown is printed. Returns the written paths."""
    redraw = result is None
    result = read_results(benchmark, name, root) if redraw else result
    draw = None if plot is None else (lambda path: plot(result, path))
    paths = (redraw_results(benchmark, name, result, markdown(result), draw, root=root) if redraw
             else write_results(benchmark, name, result, markdown(result), draw, root=root))
    if echo:
        print(paths["md"].read_text())
    return paths


def _jsonable(obj: Any) -> Any:
    """numpy scalars / arrays and tuples-in-disguise for ``json.dumps(default=...)``."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
