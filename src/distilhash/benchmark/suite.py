"""Benchmark suites as data: datasets x methods x bits x seeds.

A suite is a JSON file (``bench/suites/<name>.json``)::

    {
      "name": "quick",
      "description": "...",
      "expected_minutes": 15,
      "datasets": [{"name": "emoji-scenes", "source": "cache", "teacher": "minilm-lit"}],
      "bits": [16, 32, 64, 128],
      "seeds": [0, 1, 2],
      "methods": [
        {"name": "lsh"},
        {"name": "itq", "config": {"n_iter": 50}},
        {"name": "dcmh", "seeds": [0], "config": {"max_epochs": 40}},
        {"name": "itq", "label": "itq-modality-centred", "config": {"center": "modality"}}
      ],
      "eval": {"top_n": [100, 500, 1000], "tie_aware": false, "curves": true},
      "threads": 1,
      "jobs": 2,
      "isolate": true,
      "open_vocab": {"domains": ["openclipart", "emoji"]}
    }

``open_vocab`` (optional) also scores every run on the open-vocabulary benchmark
(:mod:`distilhash.benchmark.open_vocab`; its options are
:class:`~distilhash.benchmark.open_vocab.scoring.OpenVocabOptions`).
``threads`` caps BLAS/torch threads per run; ``jobs`` runs that many isolated runs at once.
A method entry names a registered method (dispatched through ``create_method``), an optional
``label`` (unique per suite; defaults to the name), a ``config`` passed to the method, and
optional ``bits`` / ``seeds`` overriding the suite's lists. Methods whose class sets
``capabilities.bits_independent`` (the float teacher) run once per seed, not once per bit budget.
Adding a method to a benchmark is adding one entry; nothing in the harness names methods.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError

__all__ = ["DatasetEntry", "MethodEntry", "EvalOptions", "Suite", "RunSpec", "load_suite", "find_suite", "parse_suite",
           "result_path"]


@dataclass(frozen=True)
class DatasetEntry:
    """Where the features and split of one dataset come from (see :mod:`.sources`)."""

    name: str
    source: str = "cache"
    teacher: str = "minilm-lit"
    features: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodEntry:
    name: str
    label: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    bits: list[int] | None = None
    seeds: list[int] | None = None

    @property
    def key(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class EvalOptions:
    top_n: list[int] = field(default_factory=lambda: [100, 500, 1000])
    tie_aware: bool = False
    curves: bool = True
    curve_points: int = 200


@dataclass(frozen=True)
class RunSpec:
    """One run: a method at one bit budget and seed on one dataset. JSON-serialisable."""

    suite: str
    dataset: DatasetEntry
    method: str
    label: str
    config: dict[str, Any]
    bits: int | None
    seed: int
    eval: EvalOptions
    threads: int = 2
    open_vocab: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        bits = "float" if self.bits is None else f"{self.bits}b"
        return f"{self.dataset.name}__{self.label}__{bits}__s{self.seed}"

    def method_config(self) -> dict[str, Any]:
        """The config passed to ``create_method``: the entry's config plus bits and seed."""
        cfg = dict(self.config)
        if self.bits is not None:
            cfg["n_bits"] = self.bits
        cfg["seed"] = self.seed
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(**{**d, "dataset": DatasetEntry(**d["dataset"]), "eval": EvalOptions(**d["eval"])})

    @property
    def spec_hash(self) -> str:
        """Identifies what the run computes (threads excluded): a stored result is reused only if equal."""
        d = self.to_dict()
        d.pop("threads")
        if d.get("open_vocab") is None:
            d.pop("open_vocab")  # suites without it keep the hashes of their stored runs
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    name: str
    datasets: list[DatasetEntry]
    methods: list[MethodEntry]
    bits: list[int]
    seeds: list[int]
    eval: EvalOptions = field(default_factory=EvalOptions)
    description: str = ""
    expected_minutes: float | None = None
    threads: int = 2
    isolate: bool = True
    jobs: int = 1
    open_vocab: dict[str, Any] | None = None
    path: str | None = None

    def with_features(self, path: str) -> Suite:
        """This suite with its single dataset's features read from ``path`` (recorded in every run)."""
        from dataclasses import replace

        if len(self.datasets) != 1:
            raise ConfigError(f"suite {self.name!r} has {len(self.datasets)} datasets; a features override needs exactly one")
        return replace(self, datasets=[replace(self.datasets[0], features=path)])

    def runs(self, only: list[str] | None = None) -> list[RunSpec]:
        """Expand into runs (dataset-major, then method, bits, seed), optionally only some method labels."""
        if only:
            unknown = sorted(set(only) - {m.key for m in self.methods})
            if unknown:
                raise ConfigError(f"suite {self.name!r} has no method {unknown}; its methods: {[m.key for m in self.methods]}")
        out: list[RunSpec] = []
        for ds in self.datasets:
            for m in self.methods:
                if only and m.key not in only:
                    continue
                bits_list: list[int | None] = [None] if _bits_independent(m.name, m.config) else list(m.bits or self.bits)
                for bits in bits_list:
                    for seed in m.seeds if m.seeds is not None else self.seeds:
                        out.append(RunSpec(self.name, ds, m.name, m.key, dict(m.config), bits, int(seed), self.eval, self.threads,
                                           self.open_vocab))
        return out


def _bits_independent(method: str, config: dict[str, Any] | None = None) -> bool:
    """True if the method with options ``config`` declares ``capabilities.bits_independent`` (imports the method module).

    A name the registry does not know at all is an error (with the valid names); a declared
    method whose module is not there yet (work in progress) counts as bit-dependent, and its
    runs fail with the import error, recorded like any other failure.
    """
    from distilhash.methods.base import METHODS, method_class

    if method not in METHODS:
        METHODS.get(method)  # raises, listing the valid names
    try:
        return method_class(method).capabilities_for(config).bits_independent
    except ImportError:
        return False


def _entries(cls, items: Any, where: str) -> list:
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: expected a non-empty list")
    from distilhash.config_dataclass import build_config

    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(f"{where}[{i}]: expected an object with a 'name', got {item!r}")
        out.append(build_config(cls, item, f"{where}[{i}]"))
    return out


def parse_suite(obj: dict[str, Any], path: str | None = None) -> Suite:
    """Validate a suite object (as read from JSON) and build a :class:`Suite`."""
    where = f"suite {path or obj.get('name', '?')}"
    required = {"name", "datasets", "methods", "bits", "seeds"}
    missing = sorted(required - obj.keys())
    if missing:
        raise ConfigError(f"{where}: missing keys {missing} (required: {sorted(required)})")
    valid = set(Suite.__dataclass_fields__) - {"path"}
    unknown = sorted(set(obj) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {sorted(valid)}")
    methods = _entries(MethodEntry, obj["methods"], f"{where}: methods")
    keys = [m.key for m in methods]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ConfigError(f"{where}: method labels {dupes} appear twice; give variants distinct 'label's")
    from distilhash.config_dataclass import build_config

    eval_options = build_config(EvalOptions, obj.get("eval", {}), f"{where}: eval")
    open_vocab = obj.get("open_vocab")
    if open_vocab is not None:
        from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions

        if not isinstance(open_vocab, dict):
            raise ConfigError(f"{where}: 'open_vocab' must be an object of options, got {open_vocab!r}")
        OpenVocabOptions.from_dict(open_vocab)  # validates
    for key in ("bits", "seeds"):
        if not isinstance(obj[key], list) or not all(isinstance(v, int) for v in obj[key]):
            raise ConfigError(f"{where}: {key!r} must be a list of integers, got {obj[key]!r}")
    return Suite(
        name=str(obj["name"]),
        datasets=_entries(DatasetEntry, obj["datasets"], f"{where}: datasets"),
        methods=methods,
        bits=list(obj["bits"]),
        seeds=list(obj["seeds"]),
        eval=eval_options,
        description=obj.get("description", ""),
        expected_minutes=obj.get("expected_minutes"),
        threads=int(obj.get("threads", 2)),
        isolate=bool(obj.get("isolate", True)),
        jobs=int(obj.get("jobs", 1)),
        open_vocab=open_vocab,
        path=path,
    )


def result_path(results_root: Path, spec: RunSpec) -> Path:
    """Where the record of run ``spec`` is stored: ``<results_root>/<suite>/<run_id>.json``."""
    return Path(results_root) / spec.suite / f"{spec.run_id}.json"


def repo_root() -> Path:
    """The source checkout holding ``bench/`` (this file lives in ``src/distilhash/benchmark/``)."""
    return Path(__file__).resolve().parents[3]


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file: the path as given, else ``bench/suites/NAME.json`` here or in the checkout."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    candidates = [Path.cwd() / "bench" / "suites" / f"{name_or_path}.json", repo_root() / "bench" / "suites" / f"{name_or_path}.json"]
    for c in candidates:
        if c.is_file():
            return c
    known = sorted({f.stem for c in candidates for f in c.parent.glob("*.json")})
    raise ConfigError(f"no suite {str(name_or_path)!r}: looked for {p} and {', '.join(map(str, candidates))}; known suites: {known or 'none'}")


def load_suite(name_or_path: str | Path) -> Suite:
    """Read and validate a suite file."""
    path = find_suite(name_or_path)
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"suite file {path} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"suite file {path}: expected a JSON object at the top level")
    return parse_suite(obj, str(path))
