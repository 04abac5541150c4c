"""Readers of the published cross-modal hashing file layouts: sources ``dcmh-mat`` and ``dchmt-mat``.

Both layouts are MATLAB files (v5 or v7.3/HDF5, see :mod:`distilhash.data.matlab`) whose
variables play four roles, found by key name (first match wins, the others are reported):

========  ===============================  ===========================================================
role      accepted keys                    expected value (MATLAB's logical order)
========  ===============================  ===========================================================
labels    LAll, category, label, labels    0/1 multi-hot ``[N, C]`` (or ``[C, N]``; or class ids ``[N]``)
pixels    IAll, images                     uint8 ``[N, H, W, 3]``, ``[N, 3, H, W]``, ``[H, W, 3, N]``, ...
paths     FAll, index, imgs                N image paths (char matrix / cell array of strings);
                                           numeric ``[N, D]`` = precomputed features (needs image_list)
text      YAll, caption, tags, captions    N captions (char matrix / cell array, several per item
                                           allowed) or a bag of words ``[N, V]``
========  ===============================  ===========================================================

* ``dcmh-mat`` (DCMH and its descendants): one ``.mat`` holding ``LAll``/``YAll``/``IAll`` (or
  ``FAll``), or one file per key (``mirflickr25k-lall.mat``, ``-yall.mat``, ``-iall.mat``):
  ``path`` is a file, a directory of ``.mat`` files, or a list of files.
* ``dchmt-mat`` (DCHMT and its descendants): a directory with ``index.mat`` (or ``index.npy``),
  ``caption.mat`` or ``caption.txt`` (one caption per line) and ``label.mat``.

Image paths baked in by the authors (``/home/author/data/mirflickr/im1.jpg``) are rewritten under
``image_root`` (see :func:`distilhash.data.assemble.rewrite_image_paths`). Every key/shape problem
raises :class:`DataError` naming the file, the keys found, the accepted keys and the expected shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.assemble import finalize, item_ids_from_paths, rewrite_image_paths
from distilhash.data.dataset import CrossModalDataset
from distilhash.data.images import ArrayImageStore, FileImageStore, ImageStore
from distilhash.data.label_names import resolve_label_names
from distilhash.data.matlab import MatFile
from distilhash.data.sources import SOURCES
from distilhash.errors import DataError
from distilhash.io_utils import read_utf8_text

__all__ = ["ROLE_KEYS", "EXPECTED", "read_dcmh_mat", "read_dchmt_mat", "read_mat_layout"]

#: role -> accepted variable names, in priority order.
ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "labels": ("LAll", "category", "label", "labels"),
    "pixels": ("IAll", "images"),
    "paths": ("FAll", "index", "imgs"),
    "text": ("YAll", "caption", "tags", "captions"),
}

#: role -> the expected value, quoted in errors.
EXPECTED: dict[str, str] = {
    "labels": "0/1 multi-hot labels [N, C] (or [C, N], or class ids [N])",
    "pixels": "uint8 images [N, H, W, 3] (or [N, 3, H, W], [H, W, 3, N], [3, H, W, N]; set image_layout otherwise)",
    "paths": "N image paths (char matrix or cell array of strings)",
    "text": "N captions (char matrix or cell array of strings, possibly several per item) or a bag of words [N, V]",
    "images": "pixels (IAll|images: uint8 [N, H, W, 3] or a transposed form) or image paths (FAll|index|imgs)",
}

CAPTION_MODES = ("first", "join")


@dataclass
class _Var:
    """Where a role's value lives: a key of a MAT file, a text file or an npy file."""

    role: str
    file: Path
    key: str | None
    shape: tuple[int, ...]
    mat: MatFile | None = None

    def where(self) -> str:
        return f"{self.file} key {self.key!r} (shape {list(self.shape)})" if self.key else f"{self.file}"


@dataclass
class _Found:
    vars: dict[str, _Var] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    listing: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)


# -- locating the variables -----------------------------------------------------------------------
def _expand_paths(path: Any) -> list[Path]:
    """``path`` option -> list of files: a file, a directory (its .mat files) or a list / comma list."""
    if path is None:
        raise DataError("dcmh-mat needs path=FILE.mat, a directory of .mat files, or a list of .mat files")
    if isinstance(path, (list, tuple)):
        items = [Path(p) for p in path]
    elif not Path(str(path)).exists() and "," in str(path):
        items = [Path(p.strip()) for p in str(path).split(",") if p.strip()]
    else:
        items = [Path(str(path))]
    files: list[Path] = []
    for p in items:
        if p.is_dir():
            found = sorted(p.glob("*.mat"))
            if not found:
                raise DataError(f"directory {p} holds no .mat file; expected DCMH-style files with keys "
                                f"{', '.join(k for ks in ROLE_KEYS.values() for k in ks)}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"dataset file not found: {p}")
    return files


def _locate(files: list[Path], overrides: dict[str, str | None]) -> _Found:
    """Find, for each role, the (file, key) holding it."""
    found = _Found()
    candidates: dict[str, list[_Var]] = {role: [] for role in ROLE_KEYS}
    for f in files:
        if f.suffix.lower() == ".txt":
            candidates["text"].append(_Var("text", f, None, ()))
            found.listing[str(f)] = {"(lines)": ()}
            continue
        if f.suffix.lower() == ".npy":
            arr = _load_npy(f)
            shape = tuple(arr.shape)
            role = "pixels" if arr.ndim == 4 else "paths"
            candidates[role].append(_Var(role, f, None, shape))
            found.listing[str(f)] = {"(array)": shape}
            continue
        mat = MatFile(f)
        found.listing[str(f)] = mat.variables()
        for key, shape in mat.variables().items():
            for role, keys in ROLE_KEYS.items():
                override = overrides.get(role)
                if (override is not None and key == override) or (override is None and key in keys):
                    actual = "pixels" if role == "paths" and len(shape) == 4 else role  # FAll holding pixels
                    candidates[actual].append(_Var(actual, f, key, shape, mat))
    for role, cands in candidates.items():
        if not cands:
            continue
        keys = ROLE_KEYS[role]
        cands.sort(key=lambda v: keys.index(v.key) if v.key in keys else -1)
        found.vars[role] = cands[0]
        if len(cands) > 1:
            found.notes.append(f"{role}: used {cands[0].where()}; ignored " + ", ".join(v.where() for v in cands[1:]))
    matched = {(str(v.file), v.key) for cands in candidates.values() for v in cands}
    unused = [f"{f}: {k}" for f, keys in found.listing.items() for k in keys
              if not k.startswith("(") and (f, k) not in matched]
    if unused:
        found.notes.append("variables of no known role, ignored: " + ", ".join(unused))
    for role, key in overrides.items():
        if key is not None and role not in found.vars:
            raise DataError(f"{role}_key={key!r} not found; files and their keys: {_fmt_listing(found.listing)}")
    return found


def _load_npy(path: Path) -> np.ndarray:
    """Memory-map an .npy file; pickled object arrays are refused (they can run code)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{path}: holds pickled Python objects ({exc}); expected fixed-width strings (image paths) "
            f"or uint8 pixels [N, H, W, 3]; re-save it with np.save(path, np.asarray(paths, dtype=str))"
        ) from exc


def _fmt_listing(listing: dict[str, dict[str, tuple[int, ...]]]) -> str:
    return "; ".join(
        f"{f}: " + (", ".join(f"{k} {list(s)}" for k, s in keys.items()) or "no variables") for f, keys in listing.items()
    )


def _missing_role(role: str, found: _Found) -> DataError:
    keys = ROLE_KEYS["pixels"] + ROLE_KEYS["paths"] if role == "images" else ROLE_KEYS[role]
    return DataError(
        f"no {role} variable found. Files and their keys: {_fmt_listing(found.listing)}. "
        f"Accepted {role} keys: {'|'.join(keys)} (or {role.rstrip('s')}_key=NAME); expected {EXPECTED[role]}"
    )


# -- reading each role ----------------------------------------------------------------------------
def _read(var: _Var) -> Any:
    if var.key is None and var.file.suffix.lower() == ".npy":
        return np.asarray(_load_npy(var.file))
    assert var.mat is not None and var.key is not None
    return var.mat.read(var.key)


def _as_string_list(value: Any, var: _Var) -> list[str] | None:
    """Char matrix / cell array of strings / npy strings -> list of N strings (None if numeric)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return [x.decode() if isinstance(x, bytes) else str(x) for x in value.reshape(-1)]
        if value.dtype.kind == "O":
            value = list(value.reshape(-1))
        else:
            return None
    if isinstance(value, list):
        out = []
        for x in value:
            if isinstance(x, list) and len(x) == 1:
                x = x[0]
            if isinstance(x, np.ndarray) and x.size == 1 and x.dtype.kind in "USO":
                x = x.reshape(-1)[0]
            if not isinstance(x, (str, bytes)):
                raise DataError(f"{var.where()}: element {len(out)} is {type(x).__name__}; expected {EXPECTED['paths']}")
            out.append(x.decode() if isinstance(x, bytes) else x)
        return out
    raise DataError(f"{var.where()}: unsupported value {type(value).__name__}; expected {EXPECTED[var.role]}")


def _read_captions(value: Any, var: _Var, n: int | None) -> list[list[str]] | None:
    """Text value -> per item list of captions (None when the value is numeric, i.e. a bag of words)."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in "USO":
        return None
    if isinstance(value, str):
        return [[value]]
    shape = getattr(value, "shape", None)
    items = list(value.reshape(-1)) if isinstance(value, np.ndarray) and value.dtype.kind == "O" else list(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        return [[str(x)] for x in value.reshape(-1)]
    if shape is not None and len(shape) == 2 and min(shape) > 1:  # cell {N, K}: K captions per item
        rows, cols = shape
        if n is not None and rows != n and cols == n:
            rows, cols = cols, rows
            grid = [[items[r * cols + c] for c in range(cols)] for r in range(rows)]  # flat is column-major of [K, N]
        else:
            grid = [[items[r + c * rows] for c in range(cols)] for r in range(rows)]
        items = grid
    out: list[list[str]] = []
    for i, x in enumerate(items):
        caps = _flatten_strings(x)
        if caps is None:
            raise DataError(f"{var.where()}: item {i} is {type(x).__name__}; expected {EXPECTED['text']}")
        out.append(caps)
    return out


def _flatten_strings(x: Any) -> list[str] | None:
    if isinstance(x, (str, bytes)):
        return [x.decode() if isinstance(x, bytes) else x]
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "US":
            return [str(s) for s in x.reshape(-1)]
        if x.dtype.kind == "O":
            x = list(x.reshape(-1))
        elif x.size == 0:
            return [""]
        else:
            return None
    if isinstance(x, list):
        out: list[str] = []
        for y in x:
            sub = _flatten_strings(y)
            if sub is None:
                return None
            out.extend(sub)
        return out or [""]
    return None


def _orient_2d(arr: np.ndarray, n: int, var: _Var) -> tuple[np.ndarray, str | None]:
    """``[N, K]`` from ``[N, K]`` or ``[K, N]``; DataError naming the shape otherwise."""
    if arr.ndim != 2:
        raise DataError(f"{var.where()}: {arr.ndim}-D array; expected {EXPECTED[var.role]}")
    if arr.shape[0] == n:
        return arr, None
    if arr.shape[1] == n:
        return arr.T, f"{var.role}: {var.where()} stored as [K, N]; transposed to [N, K]"
    raise DataError(f"{var.where()}: no axis of length N={n} (the item count of the other files); expected {EXPECTED[var.role]}")


def _labels_matrix(value: Any, n: int, var: _Var) -> tuple[np.ndarray, list[str], str | None]:
    """Labels -> uint8 [N, C], the class values (for one-hot-converted ids) and a note."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{var.where()}: labels of dtype {arr.dtype}; expected {EXPECTED['labels']}")
    binary = bool(np.isin(np.unique(arr), [0, 1]).all())
    if arr.ndim == 2 and 1 in arr.shape and max(arr.shape) == n and n > 1 and not binary:
        arr = arr.reshape(-1)  # class ids stored as a row or column vector
    if arr.ndim == 1 and binary:
        arr = arr[:, None]
    if arr.ndim == 1:
        if len(arr) != n:
            raise DataError(f"{var.where()}: {len(arr)} class ids but N={n} items; expected {EXPECTED['labels']}")
        classes = np.unique(arr)
        onehot = (arr[:, None] == classes[None, :]).astype(np.uint8)
        return onehot, [str(c.item()) for c in classes], f"labels: {var.where()} are class ids; one-hot over {len(classes)} classes"
    arr, note = _orient_2d(arr, n, var)
    values = np.unique(arr)
    if not np.isin(values, [0, 1]).all():
        raise DataError(
            f"{var.where()}: label values {values[:10].tolist()} are not 0/1; expected {EXPECTED['labels']}"
        )
    return arr.astype(np.uint8), [], note


def _infer_n(found: _Found, loaded: dict[str, Any]) -> int:
    """The item count N, from a 1-D role when there is one, else from the labels' shape."""
    for role in ("paths", "text"):
        v = loaded.get(role)
        grid = len(getattr(v, "shape", ())) == 2 and min(getattr(v, "shape", (1, 1))) > 1
        if isinstance(v, list) and not grid:
            return len(v)
    labels = np.asarray(loaded["labels"])
    if labels.ndim == 1:
        return len(labels)
    a, b = labels.shape[0], labels.shape[-1]
    other_axes: set[int] = set()
    for role in ("pixels", "text", "paths"):
        if role in found.vars and not isinstance(loaded.get(role), list):
            other_axes |= set(found.vars[role].shape)
    if a not in other_axes and b in other_axes:
        return b
    return a


def _pixels(var: _Var, n: int, layout: str | None, notes: list[str]) -> np.ndarray:
    """Image array -> uint8 ``[N, H, W, 3]``; ``layout`` names the stored axes (e.g. ``"HWCN"``)."""
    shape = var.shape
    if len(shape) != 4:
        raise DataError(f"{var.where()}: {len(shape)}-D image array; expected {EXPECTED['pixels']}")
    if layout:
        layout = layout.upper()
        if sorted(layout) != sorted("NHWC"):
            raise DataError(f"image_layout={layout!r}: expected a permutation of N, H, W, C such as NHWC or HWCN")
        perm = [layout.index(ch) for ch in "NHWC"]
        if shape[perm[0]] != n or shape[perm[3]] != 3:
            raise DataError(f"{var.where()}: image_layout={layout} gives N={shape[perm[0]]}, C={shape[perm[3]]}; "
                            f"expected N={n} and C=3")
    else:
        n_axes = [i for i in (0, 3, 1, 2) if shape[i] == n]
        perm = []
        for n_axis in n_axes:
            c_pref = {0: (3, 1), 3: (2, 0), 1: (3, 0), 2: (3, 0)}[n_axis]
            c_axis = next((c for c in c_pref if shape[c] == 3 and c != n_axis), None)
            if c_axis is not None:
                rest = [i for i in range(4) if i not in (n_axis, c_axis)]
                perm = [n_axis, rest[0], rest[1], c_axis]
                break
        if not perm:
            raise DataError(f"{var.where()}: cannot find an item axis of length N={n} and a colour axis of "
                            f"length 3; expected {EXPECTED['pixels']}")
    if perm != [0, 1, 2, 3]:
        names = "NHWC"
        stored = "".join(names[perm.index(i)] for i in range(4))
        notes.append(f"pixels: {var.where()} stored as {stored}; transposed to NHWC")
    out = np.empty((n, shape[perm[1]], shape[perm[2]], 3), dtype=np.uint8)
    if var.mat is None:
        blocks = [(0, _load_npy(var.file))]
        axis = perm[0]
    else:
        axis = perm[0]
        blocks = var.mat.read_array_chunks(var.key, axis=axis)  # type: ignore[arg-type]
    for start, block in blocks:
        block = np.transpose(np.asarray(block), perm)
        if block.dtype != np.uint8:
            if block.dtype.kind not in "biuf" or block.size and (block.min() < 0 or block.max() > 255):
                raise DataError(f"{var.where()}: pixel values of dtype {block.dtype} outside 0..255; expected {EXPECTED['pixels']}")
            block = np.rint(block).astype(np.uint8)
        out[start : start + block.shape[0]] = block
    return out


def _read_vocab(path: Any, width: int) -> list[str]:
    p = Path(str(path))
    if not p.is_file():
        raise DataError(f"vocab file not found: {p} (expected one word per line, {width} lines)")
    words = [w.strip() for w in read_utf8_text(p).splitlines()]
    while words and not words[-1]:
        words.pop()
    if len(words) != width:
        raise DataError(f"vocab file {p} has {len(words)} words; the bag of words has width V={width}")
    return words


# -- the shared reader ----------------------------------------------------------------------------
def read_mat_layout(
    files: list[Path],
    *,
    source: str,
    name: str,
    image_root: str | Path | None = None,
    label_names: Any = None,
    vocab: Any = None,
    caption_mode: str = "first",
    image_layout: str | None = None,
    image_list: Any = None,
    label_key: str | None = None,
    text_key: str | None = None,
    image_key: str | None = None,
    drop_unlabelled: bool | None = True,
    drop_empty_text: bool = False,
    drop_missing_images: bool = False,
    check_images: str = "decode",
    progress: bool = True,
) -> CrossModalDataset:
    """Read a dataset from MAT/txt/npy ``files`` whose variables are found by role (see module docstring)."""
    if caption_mode not in CAPTION_MODES:
        raise DataError(f"caption_mode={caption_mode!r}; expected one of {', '.join(CAPTION_MODES)}")
    image_override = image_key
    overrides: dict[str, str | None] = {"labels": label_key, "text": text_key, "pixels": None, "paths": None}
    found = _locate(files, overrides)
    if image_override is not None:  # an explicit image key: pixels if 4-D, else paths
        for f in files:
            if f.suffix.lower() == ".mat":
                mat = MatFile(f)
                if image_override in mat:
                    shape = mat.variables()[image_override]
                    role = "pixels" if len(shape) == 4 else "paths"
                    found.vars.pop("pixels", None)
                    found.vars.pop("paths", None)
                    found.vars[role] = _Var(role, f, image_override, shape, mat)
                    break
        else:
            raise DataError(f"image_key={image_override!r} not found; files and their keys: {_fmt_listing(found.listing)}")
    notes = list(found.notes)
    if "labels" not in found.vars:
        raise _missing_role("labels", found)
    if "text" not in found.vars:
        raise _missing_role("text", found)
    if "pixels" not in found.vars and "paths" not in found.vars:
        raise _missing_role("images", found)
    if "pixels" in found.vars and "paths" in found.vars:
        notes.append(f"images: used pixels {found.vars['pixels'].where()}; ignored {found.vars['paths'].where()}")
        del found.vars["paths"]

    loaded: dict[str, Any] = {"labels": _read(found.vars["labels"])}
    text_var = found.vars["text"]
    if text_var.key is None and text_var.file.suffix.lower() == ".txt":
        lines = read_utf8_text(text_var.file).split("\n")
        while lines and not lines[-1].strip():
            lines.pop()  # trailing newline(s) only; empty lines inside are empty captions
        loaded["text"] = [ln.rstrip("\r") for ln in lines]
    else:
        loaded["text"] = _read(text_var)
    paths_list: list[str] | None = None
    if "paths" in found.vars:
        value = _read(found.vars["paths"])
        paths_list = _as_string_list(value, found.vars["paths"])
        if paths_list is None:  # numeric: precomputed image features
            shape = list(np.asarray(value).shape)
            if image_list is None:
                raise DataError(
                    f"{found.vars['paths'].where()} holds numeric image features {shape}, not image paths; "
                    f"distilhash needs the images: give image_list=FILE (one image path per line, aligned with "
                    f"the rows) and image_root=DIR, or a file with pixels ({'|'.join(ROLE_KEYS['pixels'])})"
                )
            lst = Path(str(image_list))
            if not lst.is_file():
                raise DataError(f"image_list file not found: {lst}")
            paths_list = [ln.strip() for ln in read_utf8_text(lst).splitlines() if ln.strip()]
            notes.append(f"images: {found.vars['paths'].where()} are features {shape}; image paths from {lst}")
        loaded["paths"] = paths_list
    n = _infer_n(found, loaded)

    label_var = found.vars["labels"]
    labels, class_values, note = _labels_matrix(loaded["labels"], n, label_var)
    if note:
        notes.append(note)
    if class_values and label_names is None:
        label_names = [f"class{v}" for v in class_values]
    names, names_origin = resolve_label_names(label_names, labels.shape[1], label_var.where())

    texts: list[str] | None = None
    tags: list[list[str]] | None = None
    bow: np.ndarray | None = None
    text_value = loaded["text"]
    captions = _read_captions(text_value, text_var, n)
    if captions is None:
        bow_arr, note = _orient_2d(np.asarray(text_value), n, text_var)
        if note:
            notes.append(note)
        if bow_arr.size and bow_arr.min() < 0:
            raise DataError(f"{text_var.where()}: negative bag-of-words counts; expected {EXPECTED['text']}")
        bow = bow_arr.astype(np.float32)
        if vocab is not None:
            words = _read_vocab(vocab, bow.shape[1])
            tags = [[words[j] for j in np.flatnonzero(row)] for row in bow]
            texts = [" ".join(t) for t in tags]
            notes.append(f"text: bag of words {list(bow.shape)}; texts are its words from {vocab}")
        else:
            notes.append(f"text: bag of words {list(bow.shape)} without a vocabulary (texts=None; give vocab=FILE)")
    else:
        if len(captions) != n:
            raise _mismatch(n, {found.vars['labels'].where(): labels.shape[0], text_var.where(): len(captions)})
        counts = [len(c) for c in captions]
        if max(counts) > 1:
            several = sum(c > 1 for c in counts)
            if caption_mode == "first":
                notes.append(f"text: {several} items have several captions (up to {max(counts)}); kept the first "
                             f"(caption_mode=first; caption_mode=join keeps all)")
            else:
                notes.append(f"text: {several} items have several captions (up to {max(counts)}); joined with ' '")
        texts = [(c[0] if caption_mode == "first" else " ".join(c)).strip() for c in captions]

    images: ImageStore
    if "pixels" in found.vars:
        images = ArrayImageStore(_pixels(found.vars["pixels"], n, image_layout, notes))
        ids = [f"{i:06d}" for i in range(n)]
    else:
        assert paths_list is not None
        if len(paths_list) != n:
            raise _mismatch(n, {found.vars['labels'].where(): labels.shape[0], found.vars['paths'].where(): len(paths_list)})
        base = found.vars["paths"].file.parent
        resolved = rewrite_image_paths(paths_list, image_root, base)
        notes.extend(resolved.notes)
        images = FileImageStore(resolved.paths, resolved.root)
        ids = item_ids_from_paths(paths_list)

    lengths = {label_var.where(): labels.shape[0], "images": len(images)}
    if bow is not None:
        lengths[text_var.where()] = bow.shape[0]
    if len(set(lengths.values())) != 1:
        raise _mismatch(n, lengths)

    ds = CrossModalDataset(
        name=name,
        ids=ids,
        texts=texts,
        labels=labels,
        label_names=names,
        images=images,
        tags=tags,
        bow=bow,
        meta={
            "source": source,
            "files": [str(f) for f in files],
            "keys": {role: v.where() for role, v in found.vars.items()},
            "mat_versions": {str(v.file): v.mat.version for v in found.vars.values() if v.mat is not None},
            "label_names_from": names_origin,
            "notes": notes,
        },
    )
    return finalize(
        ds,
        source=f"{source} ({', '.join(str(f) for f in files)})",
        drop_unlabelled=drop_unlabelled,
        drop_empty_text=drop_empty_text,
        drop_missing_images=drop_missing_images,
        check_images=check_images,
        progress=progress,
    )


def _mismatch(n: int, lengths: dict[str, int]) -> DataError:
    return DataError(
        "mismatched item counts between files: " + "; ".join(f"{w}: {c}" for w, c in lengths.items())
        + f" (every file must hold the same N items; N={n} was inferred)"
    )


def _default_name(files: list[Path], fallback: str) -> str:
    stems = {f.stem.lower() for f in files}
    for suffix in ("-lall", "-yall", "-iall", "-fall", "_lall", "_yall", "_iall", "_fall"):
        stems = {s[: -len(suffix)] if s.endswith(suffix) else s for s in stems}
    if len(stems) == 1:
        stem = stems.pop()
        if stem not in ("index", "caption", "label", "data", "dataset"):
            return stem
    parent = files[0].parent.name if files else ""
    return parent.lower() or fallback


# -- registered sources ---------------------------------------------------------------------------
@SOURCES.register("dcmh-mat")
def read_dcmh_mat(path: Any = None, image_root: str | Path | None = None, name: str | None = None, **options: Any) -> CrossModalDataset:
    """DCMH-style ``.mat`` files: ``LAll`` + ``YAll`` + ``IAll`` (or ``FAll``), in one file or one per key.

    Args:
        path: a ``.mat`` file, a directory of ``.mat`` files, or a list (or comma-separated string) of files.
        image_root: directory under which image paths (``FAll`` strings) are resolved.
        name: dataset name (default: the file stem without ``-lall``/``-yall``/``-iall``).
        **options: ``label_names``, ``vocab``, ``caption_mode``, ``image_layout``, ``image_list``,
            ``label_key``/``text_key``/``image_key``, ``drop_unlabelled`` (default True, the MIRFlickr
            convention), ``drop_empty_text``, ``drop_missing_images``, ``check_images``.
    """
    files = _expand_paths(path)
    return read_mat_layout(files, source="dcmh-mat", name=name or _default_name(files, "dcmh-mat"),
                           image_root=image_root, **options)


_DCHMT_FILES: dict[str, tuple[str, ...]] = {
    "index": ("index.mat", "index.npy"),
    "caption": ("caption.mat", "caption.txt"),
    "label": ("label.mat",),
}


@SOURCES.register("dchmt-mat")
def read_dchmt_mat(
    path: Any = None,
    image_root: str | Path | None = None,
    name: str | None = None,
    index: Any = None,
    caption: Any = None,
    label: Any = None,
    **options: Any,
) -> CrossModalDataset:
    """DCHMT-style directory: ``index.mat`` (image paths), ``caption.mat``/``caption.txt``, ``label.mat``.

    Args:
        path: the directory (optional when ``index``, ``caption`` and ``label`` are all given).
        image_root: directory under which the (often absolute) image paths are resolved.
        name: dataset name (default: the directory name).
        index, caption, label: explicit files overriding the conventional names in ``path``.
        **options: as for ``dcmh-mat``.
    """
    given = {"index": index, "caption": caption, "label": label}
    directory = Path(str(path)) if path is not None else None
    if directory is not None and not directory.is_dir():
        raise DataError(f"dchmt-mat: path {directory} is not a directory; expected a directory holding "
                        f"index.mat, caption.mat (or caption.txt) and label.mat")
    files: list[Path] = []
    for part, names in _DCHMT_FILES.items():
        if given[part] is not None:
            f = Path(str(given[part]))
            if not f.is_file():
                raise DataError(f"dchmt-mat: {part} file not found: {f}")
            files.append(f)
            continue
        hits = [directory / n for n in names if directory is not None and (directory / n).is_file()]
        if not hits:
            present = sorted(p.name for p in directory.iterdir()) if directory is not None else []
            raise DataError(
                f"dchmt-mat: no {part} file in {directory}: expected {' or '.join(names)}; "
                f"found {', '.join(present) or 'nothing'} (or pass {part}=FILE)"
            )
        files.append(hits[0])
    default = directory.name if directory is not None else _default_name(files, "dchmt-mat")
    return read_mat_layout(files, source="dchmt-mat", name=name or default or "dchmt-mat",
                           image_root=image_root, **options)
