"""Decoding one role's stored value (MATLAB char matrix, cell array, numeric array, npy) into
the arrays and string lists a :class:`~distilhash.data.dataset.CrossModalDataset` holds.

Every function takes the :class:`~distilhash.data.mat_roles.MatVar` it reads so that a bad value
raises a :class:`DataError` naming the file, the key, its shape and the expected value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.mat_roles import EXPECTED, FoundRoles, MatVar, load_npy
from distilhash.errors import DataError
from distilhash.io_utils import read_utf8_text

__all__ = ["read_value", "as_string_list", "read_captions", "orient_2d", "labels_matrix", "infer_item_count",
           "pixels_nhwc", "read_vocab"]

def read_value(var: MatVar) -> Any:
    if var.key is None and var.file.suffix.lower() == ".npy":
        return np.asarray(load_npy(var.file))
    assert var.mat is not None and var.key is not None
    return var.mat.read(var.key)


def as_string_list(value: Any, var: MatVar) -> list[str] | None:
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


def read_captions(value: Any, var: MatVar, n: int | None) -> list[list[str]] | None:
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


def orient_2d(arr: np.ndarray, n: int, var: MatVar) -> tuple[np.ndarray, str | None]:
    """``[N, K]`` from ``[N, K]`` or ``[K, N]``; DataError naming the shape otherwise."""
    if arr.ndim != 2:
        raise DataError(f"{var.where()}: {arr.ndim}-D array; expected {EXPECTED[var.role]}")
    if arr.shape[0] == n:
        return arr, None
    if arr.shape[1] == n:
        return arr.T, f"{var.role}: {var.where()} stored as [K, N]; transposed to [N, K]"
    raise DataError(f"{var.where()}: no axis of length N={n} (the item count of the other files); expected {EXPECTED[var.role]}")


def labels_matrix(value: Any, n: int, var: MatVar) -> tuple[np.ndarray, list[str], str | None]:
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
    arr, note = orient_2d(arr, n, var)
    values = np.unique(arr)
    if not np.isin(values, [0, 1]).all():
        raise DataError(
            f"{var.where()}: label values {values[:10].tolist()} are not 0/1; expected {EXPECTED['labels']}"
        )
    return arr.astype(np.uint8), [], note


def infer_item_count(found: FoundRoles, loaded: dict[str, Any]) -> int:
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


def pixels_nhwc(var: MatVar, n: int, layout: str | None, notes: list[str]) -> np.ndarray:
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
        blocks = [(0, load_npy(var.file))]
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


def read_vocab(path: Any, width: int) -> list[str]:
    p = Path(str(path))
    if not p.is_file():
        raise DataError(f"vocab file not found: {p} (expected one word per line, {width} lines)")
    words = [w.strip() for w in read_utf8_text(p).splitlines()]
    while words and not words[-1]:
        words.pop()
    if len(words) != width:
        raise DataError(f"vocab file {p} has {len(words)} words; the bag of words has width V={width}")
    return words
