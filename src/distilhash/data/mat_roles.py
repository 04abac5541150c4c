"""Which variable of a MAT / txt / npy file plays each role of a cross-modal dataset.

The published layouts (see :mod:`distilhash.data.readers`) store four roles under varying key
names: ``labels``, ``pixels``, ``paths`` and ``text``. :func:`locate_roles` finds, for each role, the
(file, key) holding it (first accepted key wins, the others are reported as notes); every failure
names the files, their keys, the accepted keys and the expected value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.matlab import MatFile
from distilhash.errors import DataError

__all__ = ["ROLE_KEYS", "EXPECTED", "MatVar", "FoundRoles", "expand_paths", "locate_roles", "load_npy",
           "format_listing", "missing_role"]

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


@dataclass
class MatVar:
    """Where a role's value lives: a key of a MAT file, a text file or an npy file."""

    role: str
    file: Path
    key: str | None
    shape: tuple[int, ...]
    mat: MatFile | None = None

    def where(self) -> str:
        return f"{self.file} key {self.key!r} (shape {list(self.shape)})" if self.key else f"{self.file}"


@dataclass
class FoundRoles:
    vars: dict[str, MatVar] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    listing: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)


def expand_paths(path: Any) -> list[Path]:
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


def locate_roles(files: list[Path], overrides: dict[str, str | None]) -> FoundRoles:
    """Find, for each role, the (file, key) holding it."""
    found = FoundRoles()
    candidates: dict[str, list[MatVar]] = {role: [] for role in ROLE_KEYS}
    for f in files:
        if f.suffix.lower() == ".txt":
            candidates["text"].append(MatVar("text", f, None, ()))
            found.listing[str(f)] = {"(lines)": ()}
            continue
        if f.suffix.lower() == ".npy":
            arr = load_npy(f)
            shape = tuple(arr.shape)
            role = "pixels" if arr.ndim == 4 else "paths"
            candidates[role].append(MatVar(role, f, None, shape))
            found.listing[str(f)] = {"(array)": shape}
            continue
        mat = MatFile(f)
        found.listing[str(f)] = mat.variables()
        for key, shape in mat.variables().items():
            for role, keys in ROLE_KEYS.items():
                override = overrides.get(role)
                if (override is not None and key == override) or (override is None and key in keys):
                    actual = "pixels" if role == "paths" and len(shape) == 4 else role  # FAll holding pixels
                    candidates[actual].append(MatVar(actual, f, key, shape, mat))
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
            raise DataError(f"{role}_key={key!r} not found; files and their keys: {format_listing(found.listing)}")
    return found


def load_npy(path: Path) -> np.ndarray:
    """Memory-map an .npy file; pickled object arrays are refused (they can run code)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{path}: holds pickled Python objects ({exc}); expected fixed-width strings (image paths) "
            f"or uint8 pixels [N, H, W, 3]; re-save it with np.save(path, np.asarray(paths, dtype=str))"
        ) from exc


def format_listing(listing: dict[str, dict[str, tuple[int, ...]]]) -> str:
    return "; ".join(
        f"{f}: " + (", ".join(f"{k} {list(s)}" for k, s in keys.items()) or "no variables") for f, keys in listing.items()
    )


def missing_role(role: str, found: FoundRoles) -> DataError:
    keys = ROLE_KEYS["pixels"] + ROLE_KEYS["paths"] if role == "images" else ROLE_KEYS[role]
    return DataError(
        f"no {role} variable found. Files and their keys: {format_listing(found.listing)}. "
        f"Accepted {role} keys: {'|'.join(keys)} (or {role.rstrip('s')}_key=NAME); expected {EXPECTED[role]}"
    )
