"""The package keeps its data flow one way: no imports back up the pipeline, none of the CLI, no cycles.

dataset -> teachers -> methods -> codes -> index -> search / eval / serve. The check reads every
module's source (imports inside functions included) and maps each ``distilhash.*`` import to the
top-level unit it lands in (``distilhash.index.core`` -> ``index``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import distilhash

SRC = Path(distilhash.__file__).resolve().parent

#: Shared building blocks any unit may use.
FOUNDATION = {"errors", "registry", "io_utils", "paths", "threads", "finite", "configs", "config_dataclass", "codes",
              "codes_file", "pixels", "image_augment", "progress", "epochs"}
#: Units above the models: applications and glue.
TOP = {"cli", "demo", "pipeline", "benchmark", "serve", "distributed"}

#: unit -> units it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "codes": {"index", "eval", "data", "methods", "teachers", "students", "training", "query_encoders"} | TOP,
    "codes_file": {"index", "eval", "data", "methods", "teachers", "students", "training", "query_encoders"} | TOP,
    "index": {"eval", "data", "methods", "teachers", "students", "training", "query_encoders"} | TOP,
    "eval": {"index", "data", "methods", "teachers", "students", "training", "query_encoders"} | TOP,
    "data": {"index", "eval", "methods", "teachers", "students", "training", "query_encoders"} | TOP,
    "teachers": {"index", "methods", "students", "training", "query_encoders"} | TOP,
    "training": {"index", "methods", "students", "query_encoders"} | TOP,
    "students": {"index", "methods", "query_encoders"} | TOP,
    "methods": {"index", "query_encoders"} | TOP,
    "query_encoders": {"index"} | TOP,
    "serve": {"cli", "demo", "pipeline", "benchmark"},
    "pipeline": {"cli", "demo", "benchmark", "serve"},
    "benchmark": {"cli", "demo", "serve", "pipeline"},
}

#: (importing module, imported unit) edges still allowed, with the reason.
KNOWN_EDGES: dict[tuple[str, str], str] = {}

#: The local path (pipeline, serve, cli) may reach the scale-out package only through these
#: options, each imported inside the function that runs it (never at module level).
LOCAL_PATH = {"pipeline", "serve", "cli"}
SCALE_OUT_OPTIONS: dict[tuple[str, str], str] = {
    ("distilhash.pipeline.extract", "distilhash.distributed.extract"): "teacher extract --engine ray",
    ("distilhash.pipeline.train", "distilhash.distributed.data_parallel"): "train --workers N (torch.distributed)",
    ("distilhash.serve.server", "distilhash.distributed.runtime"): "serve --engine ray (the shard actors' session)",
    ("distilhash.serve.engines", "distilhash.distributed.head_watch"): "serve --engine ray (searches refused while its head is lost)",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


@lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """Module -> the ``distilhash`` modules it imports (resolved to the longest existing module)."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        while parts:
            if ".".join(parts) in files:
                return ".".join(parts)
            parts.pop()
        return None

    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in files.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                found = resolve(target) if target.startswith("distilhash") else None
                if found and found != mod and not mod.startswith(found + "."):  # a module's own package aside
                    graph[mod].add(found)
    return graph


@lru_cache(maxsize=1)
def module_level_imports() -> dict[str, set[str]]:
    """Module -> the ``distilhash`` modules it imports when it is itself imported (not inside a function)."""
    lazy = {(m, t) for m, ts in import_graph().items() for t in ts}
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    eager: dict[str, set[str]] = defaultdict(set)
    for mod, path in files.items():
        todo = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                eager[mod] |= {t for m, t in lazy if m == mod and any(t == n or t.startswith(n + ".") or
                                                                     n.startswith(t + ".") for n in names)}
            todo.extend(ast.iter_child_nodes(node))
    return eager


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[tuple[str, ...]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(tuple(sorted(comp)))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "distilhash.pipeline.train" in graph["distilhash.cli.train"]  # imported inside the command function
    assert "distilhash.methods.base" in graph["distilhash.pipeline.train"]
    assert len(graph) > 100


def test_nothing_outside_the_cli_imports_it():
    bad = sorted(f"{m} -> {t}" for m, ts in import_graph().items() if _unit(m) != "cli"
                 for t in ts if _unit(t) == "cli")
    assert bad == []


def test_no_import_goes_back_up_the_pipeline():
    bad = sorted(f"{m} -> {t}" for m, ts in import_graph().items() for t in ts
                 if _unit(t) in FORBIDDEN.get(_unit(m), ()) and (m, _unit(t)) not in KNOWN_EDGES)
    assert bad == []


def test_the_rules_name_real_units_and_the_allowed_edges_still_exist():
    """A rule about a unit that does not exist checks nothing; an exception no longer needed must go."""
    units = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {
        p.stem for p in SRC.glob("*.py")}
    assert set(FORBIDDEN) | FOUNDATION | TOP <= units
    graph = import_graph()
    for mod, unit in KNOWN_EDGES:
        assert any(_unit(t) == unit for t in graph[mod]), (mod, unit)


def _scale_out_edges() -> list[tuple[str, str]]:
    return sorted((m, t) for m, ts in import_graph().items() if _unit(m) in LOCAL_PATH
                  for t in ts if _unit(t) == "distributed")


def test_the_local_path_reaches_the_scale_out_package_only_through_lazy_options():
    """pipeline/, serve/ and cli/ never import distilhash.distributed, except the listed options, lazily."""
    edges = _scale_out_edges()
    assert [e for e in edges if e not in SCALE_OUT_OPTIONS] == []
    eager = module_level_imports()
    assert [(m, t) for m, t in edges if t in eager.get(m, ())] == []
    assert set(SCALE_OUT_OPTIONS) <= set(edges), "an option no longer imported must leave the list"


def test_the_index_package_stands_without_the_scale_out_package():
    """index/ (the sharded index and its in-process fan-outs included) imports nothing of distributed/."""
    bad = sorted(f"{m} -> {t}" for m, ts in import_graph().items() if _unit(m) == "index"
                 for t in ts if _unit(t) == "distributed")
    assert bad == []


def test_the_module_level_walker_tells_eager_from_lazy_imports():
    eager = module_level_imports()
    assert "distilhash.index.core" in eager["distilhash.index.sharded"]
    assert "distilhash.distributed.extract" not in eager["distilhash.pipeline.extract"]  # inside a function


def test_no_import_cycles():
    assert _cycles(import_graph()) == set()


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
