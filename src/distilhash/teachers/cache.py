"""The teacher feature cache: a dataset encoded once by a teacher, read by every later stage.

Layout of ``$DISTILHASH_HOME/features/<dataset>__<teacher-slug>/``::

    manifest.json     written last: identity (teacher name + fingerprint, dataset name + content
                      hash, split hash, prompt template), count N, width D, per-file sha256, timings
    image.npy         float32 [N, D]  teacher image embeddings       (unit rows)
    text.npy          float32 [N, D]  caption embeddings             (unit rows)
    label_text.npy    float32 [N, D]  label-prompt embeddings        (unit rows; absent if no labels)
    class_text.npy    float32 [C, D]  one prompt per class           (unit rows; absent if no labels)
    labels.npy        uint8   [N, C]  multi-hot labels
    ids.json          the N item ids
    progress.json     only while incomplete: identity + rows done per array (resume point)

Arrays are pre-allocated ``.npy`` files filled in chunks; after each chunk the file is flushed
and ``progress.json`` is replaced atomically, so an interrupted extraction resumes at the last
finished chunk. A directory is a valid cache only once ``manifest.json`` exists; a cache whose
manifest names another teacher, dataset, split or template is refused (FeatureError), never
silently reused or overwritten (unless ``overwrite=True``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError, FeatureError
from distilhash.io_utils import atomic_save_npy, atomic_write_json, sha256_file
from distilhash.teachers.base import Teacher
from distilhash.teachers.features import FeatureSet

__all__ = ["extract_features", "load_features", "default_features_dir", "MANIFEST", "CACHE_FORMAT_VERSION",
           "IDENTITY_KEYS", "cache_status", "finish_cache", "class_text_rows", "open_dataset", "cache_identity",
           "identity_mismatch", "row_sources", "describe_teacher"]

MANIFEST = "manifest.json"
PROGRESS = "progress.json"
CACHE_FORMAT_VERSION = 1
#: Manifest keys that must match for a cache to be reused.
IDENTITY_KEYS = ("format_version", "teacher", "teacher_fingerprint", "dataset", "dataset_hash", "split_hash",
                 "count", "template", "label_names_hash")
_ROW_ARRAYS = ("text", "label_text", "image")


def default_features_dir(dataset_name: str, teacher_name: str) -> Path:
    """``$DISTILHASH_HOME/features/<dataset_name>__<teacher slug>`` (e.g. ``emoji-scenes__minilm-lit``)."""
    from distilhash.paths import features_dir
    from distilhash.teachers.registry import teacher_slug

    return features_dir() / f"{dataset_name}__{teacher_slug(teacher_name)}"


def _label_names_hash(names: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def open_dataset(dataset):
    """(dataset, split or None) from a prepared name/path or a CrossModalDataset."""
    from distilhash.data.dataset import CrossModalDataset, load_dataset
    from distilhash.data.split import Split
    from distilhash.data.store import SPLIT_FILE, resolve_dataset_dir

    if isinstance(dataset, CrossModalDataset):
        return dataset, None
    directory = resolve_dataset_dir(dataset)
    ds = load_dataset(directory)
    split = Split.load(directory / SPLIT_FILE, dataset_hash=ds.content_hash()) if (directory / SPLIT_FILE).is_file() else None
    return ds, split


def cache_identity(teacher: Teacher, ds, split, template: str) -> dict[str, Any]:
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "teacher": teacher.name,
        "teacher_fingerprint": str(teacher.fingerprint or ""),
        "dataset": ds.name,
        "dataset_hash": ds.content_hash(),
        "split_hash": split.hash if split is not None else None,
        "count": len(ds),
        "template": template,
        "label_names_hash": _label_names_hash(list(ds.label_names)),
    }


def identity_mismatch(found: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (found.get(k), expected.get(k)) for k in IDENTITY_KEYS if found.get(k) != expected.get(k)}


def cache_status(out_dir: str | Path) -> str:
    """``"complete"``, ``"partial"`` or ``"absent"``."""
    out = Path(out_dir)
    if (out / MANIFEST).is_file():
        return "complete"
    return "partial" if (out / PROGRESS).is_file() else "absent"


def row_sources(teacher: Teacher, ds, template: str, batch_size: int, text_batch: int) -> dict[str, Callable[[slice], np.ndarray]]:
    """Per row-array: a function encoding rows ``s`` of the dataset."""
    from distilhash.targets.prompts import item_prompts

    out: dict[str, Callable[[slice], np.ndarray]] = {}
    if ds.texts is None:
        raise DataError(f"dataset {ds.name!r} has no caption strings; a teacher needs texts to encode")
    if teacher.capabilities.lookup:  # precomputed features: rows are looked up by item id
        lookup = teacher.lookup
        out["text"] = lambda s: lookup("text", ds.ids[s])
        out["image"] = lambda s: lookup("image", ds.ids[s])
        if ds.num_labels and teacher.has("label_text"):
            out["label_text"] = lambda s: lookup("label_text", ds.ids[s])
        return out
    out["text"] = lambda s: teacher.encode_texts(ds.texts[s], batch_size=text_batch)
    if ds.num_labels:
        prompts = item_prompts(ds.labels, ds.label_names, template)
        out["label_text"] = lambda s: teacher.encode_texts(prompts[s], batch_size=text_batch)
    size = int(teacher.image_size or 0) or None
    if teacher.capabilities.dataset_images:  # teachers with a per-item tower cache
        out["image"] = lambda s: teacher.encode_dataset_images(ds, np.arange(s.start, s.stop))
    elif size is None:
        out["image"] = lambda s: teacher.encode_images([ds.images.load(i) for i in range(s.start, s.stop)], batch_size=batch_size)
    else:
        out["image"] = lambda s: teacher.encode_images(ds.images.array(np.arange(s.start, s.stop), size), batch_size=batch_size)
    return out


def extract_features(
    dataset,
    teacher: str | Teacher,
    out_dir: str | Path | None = None,
    batch_size: int = 128,
    progress: bool = True,
    *,
    template: str = "a photo of {}",
    chunk_size: int = 2048,
    overwrite: bool = False,
    teacher_options: dict[str, Any] | None = None,
    stop_after_chunks: int | None = None,
) -> Path:
    """Encode ``dataset`` with ``teacher`` into a feature cache directory; return its path.

    Args:
        dataset: prepared dataset name or directory (or a CrossModalDataset).
        teacher: a teacher spec (``"minilm-lit"``, ``"hf:..."``, ...) or a teacher object.
        out_dir: default :func:`default_features_dir` ``(dataset name, teacher spec)``.
        batch_size: image batch size (texts use 2x).
        template: label-prompt template (name in ``TEMPLATES`` or a string with ``{}``).
        chunk_size: rows written between two resume points.
        overwrite: replace a complete cache whose manifest does not match instead of refusing.
        stop_after_chunks: stop (leaving a resumable partial cache) after this many chunks; for tests.

    Returns the cache directory. An existing complete, matching cache is returned as is.
    """
    from numpy.lib.format import open_memmap

    from distilhash.targets.prompts import resolve_template
    from distilhash.teachers.common import check_unit_rows
    from distilhash.teachers.registry import create_teacher

    from distilhash.threads import ensure_threads

    ensure_threads()  # the library's thread policy (the CLI has set its own already)
    template = resolve_template(template)
    ds, split = open_dataset(dataset)
    spec = teacher if isinstance(teacher, str) else teacher.name
    if isinstance(teacher, str):
        teacher = create_teacher(teacher, **(teacher_options or {}))
    out = Path(out_dir) if out_dir is not None else default_features_dir(ds.name, spec)
    identity = cache_identity(teacher, ds, split, template)

    if (out / MANIFEST).is_file():
        found = json.loads((out / MANIFEST).read_text())
        diff = identity_mismatch(found, identity)
        if not diff:
            return out
        if not overwrite:
            raise FeatureError(
                f"feature cache {out} was made for something else: "
                + "; ".join(f"{k}: cache has {a!r}, requested {b!r}" for k, (a, b) in diff.items())
                + " — choose another --out, or pass overwrite=True / --overwrite to replace it"
            )
        shutil.rmtree(out)

    out.mkdir(parents=True, exist_ok=True)
    n, width = len(ds), int(teacher.width)
    sources = row_sources(teacher, ds, template, batch_size, 2 * batch_size)
    state: dict[str, Any] = {"identity": identity, "width": width, "done": {k: 0 for k in sources}}
    if (out / PROGRESS).is_file():
        prev = json.loads((out / PROGRESS).read_text())
        if not identity_mismatch(prev.get("identity", {}), identity) and prev.get("width") == width and \
                set(prev.get("done", {})) == set(sources):
            state = prev
        elif progress:
            print(f"note: discarding an unfinished cache in {out} made for another teacher/dataset")

    arrays = {}
    for name in sources:
        path = out / f"{name}.npy"
        resume = state["done"][name] > 0 and path.is_file()
        if not resume:
            state["done"][name] = 0
        arrays[name] = open_memmap(path, mode="r+" if resume else "w+", dtype=np.float32, shape=(n, width))
        if arrays[name].shape != (n, width):
            raise FeatureError(f"{path}: shape {arrays[name].shape} on resume, expected {(n, width)}")
    atomic_write_json(out / PROGRESS, state)

    total_rows = n * len(sources)
    done_rows = sum(state["done"].values())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_rows, initial=done_rows, unit="row",
                   desc=f"extract {ds.name} with {teacher.name} ({n} items x {len(sources)}: {', '.join(sources)})")
    timings = dict(state.get("timings", {}))
    chunks = 0
    for name, fn in sources.items():
        start = state["done"][name]
        while start < n:
            s = slice(start, min(n, start + chunk_size))
            t0 = time.perf_counter()
            rows = np.asarray(fn(s), dtype=np.float32)
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
            if rows.shape != (s.stop - s.start, width):
                raise FeatureError(f"teacher {teacher.name} gave {name} rows of shape {rows.shape}, expected {(s.stop - s.start, width)}")
            check_unit_rows(rows, f"{name} rows {s.start}:{s.stop} from teacher {teacher.name}")
            arrays[name][s] = rows
            arrays[name].flush()
            start = s.stop
            state["done"][name] = start
            state["timings"] = timings
            atomic_write_json(out / PROGRESS, state)
            if bar is not None:
                bar.update(s.stop - s.start)
            chunks += 1
            if stop_after_chunks is not None and chunks >= stop_after_chunks and sum(state["done"].values()) < total_rows:
                if bar is not None:
                    bar.close()
                return out
    if bar is not None:
        bar.close()
    for arr in arrays.values():
        arr.flush()
    arrays.clear()  # release the memory maps before checksumming

    class_text = None
    if ds.num_labels:
        t0 = time.perf_counter()
        class_text = class_text_rows(teacher, ds, template)
        if not teacher.capabilities.lookup:
            timings["class_text"] = time.perf_counter() - t0
    finish_cache(out, ds, identity, spec=spec, width=width, timings=timings, class_text=class_text,
                 teacher_info=describe_teacher(teacher), text_cached=teacher.text_cache_dir is not None)
    return out


def describe_teacher(teacher: Teacher) -> dict[str, Any] | None:
    """``teacher.info()``, or ``{"error": ...}`` when it fails (the description is informative only)."""
    try:
        return teacher.info()
    except Exception as exc:  # info is descriptive only  # noqa: BLE001
        return {"error": str(exc)}


def class_text_rows(teacher: Teacher, ds, template: str) -> np.ndarray | None:
    """float32 ``[C, D]``: one prompt per class of ``ds`` encoded by ``teacher`` (None when it has none)."""
    from distilhash.targets.prompts import class_prompts
    from distilhash.teachers.common import check_unit_rows

    if teacher.capabilities.lookup:
        return teacher.class_text(len(ds.label_names)) if teacher.has("class_text") else None
    ct = np.asarray(teacher.encode_texts(class_prompts(ds.label_names, template)), dtype=np.float32)
    check_unit_rows(ct, f"class prompts from teacher {teacher.name}")
    return ct


def finish_cache(out: Path, ds, identity: dict[str, Any], *, spec: str, width: int, timings: dict[str, float],
                 class_text: np.ndarray | None, teacher_info: dict[str, Any] | None, text_cached: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
    """Write the per-dataset files (class_text, labels, ids) and then the manifest (the commit point).

    The row arrays (``image.npy``, ``text.npy``, ``label_text.npy``) must already be complete in ``out``.
    ``extra`` adds keys to the manifest (e.g. how a distributed extraction was run).
    """
    from distilhash.io_utils import atomic_write_bytes

    n = len(ds)
    if class_text is not None:
        atomic_save_npy(out / "class_text.npy", class_text)
    atomic_save_npy(out / "labels.npy", np.ascontiguousarray(ds.labels, dtype=np.uint8))
    atomic_write_bytes(out / "ids.json", json.dumps(list(ds.ids)).encode())
    files = {f.name: sha256_file(f) for f in sorted(out.glob("*.npy")) + [out / "ids.json"]}
    throughput: dict[str, Any] = {}
    if timings.get("image"):
        throughput["images_per_s"] = n / timings["image"]
    if timings.get("text"):
        throughput["texts_per_s"] = n / timings["text"]
        if text_cached:
            throughput["note"] = "text rows may come from the teacher's text-embedding cache (texts_per_s is then not an encoding speed)"
    manifest = {
        **identity,
        "teacher_spec": spec,
        "width": width,
        "label_names": list(ds.label_names),
        "arrays": sorted(f[:-4] for f in files if f.endswith(".npy")),
        "files": files,
        "timings_s": timings,
        "throughput": throughput,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    if teacher_info is not None:
        manifest["teacher_info"] = teacher_info
    atomic_write_json(out / MANIFEST, manifest)
    if (out / PROGRESS).exists():
        os.unlink(out / PROGRESS)


def load_features(
    path: str | Path,
    *,
    verify: bool = True,
    teacher: str | None = None,
    dataset_hash: str | None = None,
    split_hash: str | None = None,
    mmap: bool = False,
) -> FeatureSet:
    """Read a feature cache into a :class:`FeatureSet`.

    Args:
        path: the cache directory (or a name under ``$DISTILHASH_HOME/features``).
        verify: check every file's sha256 against the manifest.
        teacher, dataset_hash, split_hash: when given, the manifest must record these.
        mmap: memory-map the arrays instead of reading them.

    Raises FeatureError naming the file and what was expected when anything does not match.
    """
    from distilhash.paths import features_dir

    out = Path(path)
    if not out.is_dir() and (features_dir() / str(path)).is_dir():
        out = features_dir() / str(path)
    mpath = out / MANIFEST
    if not mpath.is_file():
        hint = (" (extraction was interrupted: run `distilhash teacher extract` again to resume)"
                if (out / PROGRESS).is_file() else " — create it with `distilhash teacher extract`")
        raise FeatureError(f"no feature cache at {out}: {MANIFEST} is missing{hint}")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise FeatureError(f"{mpath}: not valid JSON ({exc})") from exc
    for key, want in (("teacher", teacher), ("dataset_hash", dataset_hash), ("split_hash", split_hash)):
        if want is not None and manifest.get(key) != want:
            raise FeatureError(f"{mpath}: {key} is {manifest.get(key)!r}, expected {want!r}")
    files = manifest.get("files", {})
    for name in ("image.npy", "text.npy", "labels.npy", "ids.json"):
        if name not in files:
            raise FeatureError(f"{mpath}: lists no {name}; the cache is incomplete")
    for name, digest in files.items():
        f = out / name
        if not f.is_file():
            raise FeatureError(f"feature cache file {f} is missing (listed in {MANIFEST})")
        if verify and sha256_file(f) != digest:
            raise FeatureError(f"feature cache file {f} does not match its checksum in {MANIFEST}; extract again")
    mode = "r" if mmap else None

    def arr(name: str) -> np.ndarray | None:
        return np.load(out / f"{name}.npy", mmap_mode=mode) if f"{name}.npy" in files else None

    ids = json.loads((out / "ids.json").read_text())
    n, width = manifest.get("count"), manifest.get("width")
    fs = FeatureSet(image=arr("image"), text=arr("text"), labels=arr("labels"), ids=ids,
                    label_text=arr("label_text"), class_text=arr("class_text"),
                    manifest={**manifest, "path": str(out)})  # where it was read from (files stored beside it)
    if len(fs) != n or fs.width != width:
        raise FeatureError(f"{out}: arrays hold {len(fs)} rows of width {fs.width}; manifest says {n} x {width}")
    if fs.class_text is not None and fs.class_text.shape != (fs.labels.shape[1], width):
        raise FeatureError(f"{out / 'class_text.npy'}: shape {fs.class_text.shape}, expected {(fs.labels.shape[1], width)}")
    from distilhash.finite import require_finite_rows

    for name in ("image", "text", "label_text", "class_text"):
        if getattr(fs, name) is not None:
            require_finite_rows(getattr(fs, name), str(out / f"{name}.npy"), ids=None if name == "class_text" else ids)
    return fs
