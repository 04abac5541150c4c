"""``features:PATH`` — precomputed teacher features (e.g. CLIP features a user already has).

Accepted files (arrays float ``[N, D]`` aligned with ``ids``; ``label_text``/``class_text`` optional):

* a directory with ``image.npy``, ``text.npy`` [, ``label_text.npy``, ``class_text.npy``] and the ids
  in ``ids.json`` (a JSON list) or ``ids.txt`` (one per line) — a distilhash feature cache is one;
* ``.npz`` with arrays ``image``, ``text``, ``ids`` [, ...];
* ``.safetensors`` with tensors ``image``, ``text`` [, ...] and the ids in the metadata key ``ids``
  (JSON list) or a sidecar ``<file stem>.ids.txt`` / ``.ids.json``;
* ``.h5`` / ``.hdf5`` with datasets ``image``, ``text``, ``ids`` (strings) [, ...].

Checks: ids unique and as many as rows of every array; one width D for all arrays (and equal to
``width=`` when given); finite values; no zero rows. Rows are L2-normalised (``normalized_rows``
in :meth:`info` counts those that were not unit-norm). This teacher cannot encode new pixels or
strings: items are looked up by id (:meth:`lookup`), and an unknown id is a FeatureError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import FeatureError
from distilhash.finite import require_finite_rows
from distilhash.teachers.common import l2_normalize
from distilhash.teachers.base import TeacherBase, TeacherCapabilities
from distilhash.teachers.registry import TEACHERS

__all__ = ["PrecomputedTeacher", "read_feature_file", "ARRAY_NAMES"]

ARRAY_NAMES = ("image", "text", "label_text", "class_text")
_REQUIRED = ("image", "text")


def _read_ids_sidecar(base: Path) -> list[str] | None:
    for cand in (base.with_suffix(".ids.json"), base.with_suffix(".ids.txt"),
                 base.parent / "ids.json", base.parent / "ids.txt"):
        if cand.is_file():
            text = cand.read_text()
            return [str(x) for x in json.loads(text)] if cand.suffix == ".json" else [l for l in text.splitlines() if l]
    return None


def _read_dir(path: Path) -> tuple[dict[str, np.ndarray], list[str] | None]:
    arrays = {name: np.load(path / f"{name}.npy") for name in ARRAY_NAMES if (path / f"{name}.npy").is_file()}
    ids = None
    if (path / "ids.json").is_file():
        ids = [str(x) for x in json.loads((path / "ids.json").read_text())]
    elif (path / "ids.txt").is_file():
        ids = [l for l in (path / "ids.txt").read_text().splitlines() if l]
    return arrays, ids


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], list[str] | None]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in ARRAY_NAMES if name in z.files}
        ids = [str(x) for x in z["ids"]] if "ids" in z.files else None
    return arrays, ids if ids is not None else _read_ids_sidecar(path)


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], list[str] | None]:
    from safetensors import safe_open

    arrays: dict[str, np.ndarray] = {}
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        for name in ARRAY_NAMES:
            if name in f.keys():
                arrays[name] = f.get_tensor(name)
    ids = [str(x) for x in json.loads(meta["ids"])] if "ids" in meta else _read_ids_sidecar(path)
    return arrays, ids


def _read_h5(path: Path) -> tuple[dict[str, np.ndarray], list[str] | None]:
    import h5py

    with h5py.File(path, "r") as f:
        arrays = {name: np.asarray(f[name]) for name in ARRAY_NAMES if name in f}
        ids = None
        if "ids" in f:
            ids = [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(f["ids"]).tolist()]
    return arrays, ids if ids is not None else _read_ids_sidecar(path)


_READERS = {".npz": _read_npz, ".safetensors": _read_safetensors, ".h5": _read_h5, ".hdf5": _read_h5}


def read_feature_file(path: str | Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """Arrays by name and the ids of a precomputed feature file or directory (unchecked)."""
    path = Path(path)
    if path.is_dir():
        arrays, ids = _read_dir(path)
    elif path.is_file():
        reader = _READERS.get(path.suffix.lower())
        if reader is None:
            if path.suffix.lower() == ".npy":
                raise FeatureError(
                    f"{path}: a single .npy holds no ids; put image.npy, text.npy and ids.json (or ids.txt) in one "
                    "directory and pass the directory"
                )
            raise FeatureError(f"{path}: unsupported feature file type {path.suffix!r}; expected a directory of .npy "
                               "files, .npz, .safetensors, .h5 or .hdf5")
        try:
            arrays, ids = reader(path)
        except FeatureError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure becomes a named FeatureError
            raise FeatureError(f"cannot read feature file {path}: {exc}") from exc
    else:
        raise FeatureError(f"feature file or directory not found: {path}")
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise FeatureError(f"{path}: lacks the arrays {missing} (expected 'image' and 'text' [N, D], "
                           f"optionally 'label_text' [N, D] and 'class_text' [C, D]; found {sorted(arrays)})")
    if ids is None:
        raise FeatureError(f"{path}: no item ids found (expected 'ids' inside the file, or ids.json / ids.txt beside it)")
    return arrays, ids


@TEACHERS.register("features")
class PrecomputedTeacher(TeacherBase):
    """Features looked up by item id (see module docstring).

    Args:
        path: file or directory of features.
        width: expected width D (checked when given).
        count: expected number of items (checked when given).
    """

    #: rows are looked up by item id (``lookup``, ``has``, ``class_text``)
    capabilities = TeacherCapabilities(lookup=True)

    def __init__(self, path: str | Path, width: int | None = None, count: int | None = None, spec: str | None = None,
                 **_: Any) -> None:
        from distilhash.io_utils import sha256_file

        self.path = Path(path)
        arrays, ids = read_feature_file(self.path)
        n = len(ids)
        if len(set(ids)) != n:
            raise FeatureError(f"{self.path}: item ids are not unique")
        if count is not None and n != count:
            raise FeatureError(f"{self.path}: holds {n} items, expected {count}")
        widths = {name: a.shape[1] if a.ndim == 2 else None for name, a in arrays.items()}
        for name, a in arrays.items():
            if a.ndim != 2:
                raise FeatureError(f"{self.path}: array {name!r} has shape {a.shape}; expected 2-D [rows, D]")
            if name != "class_text" and a.shape[0] != n:
                raise FeatureError(f"{self.path}: array {name!r} has {a.shape[0]} rows but there are {n} ids")
        if len(set(widths.values())) != 1:
            raise FeatureError(f"{self.path}: arrays have different widths {widths}; all must share one width D")
        self.width = int(arrays["image"].shape[1])
        if width is not None and self.width != width:
            raise FeatureError(f"{self.path}: features have width {self.width}, expected {width}")
        self.normalized_rows = 0
        self._arrays: dict[str, np.ndarray] = {}
        for name, a in arrays.items():
            a = np.asarray(a, dtype=np.float32)
            require_finite_rows(a, f"{self.path}: array {name!r} (as float32)", ids=None if name == "class_text" else ids)
            norms = np.linalg.norm(a.astype(np.float64), axis=1)  # float32 squares overflow near 1e19
            if (norms == 0).any():
                raise FeatureError(f"{self.path}: array {name!r} has {(norms == 0).sum()} all-zero rows")
            self.normalized_rows += int((np.abs(norms - 1) > 1e-3).sum())
            self._arrays[name] = l2_normalize(a)
        self.ids = list(ids)
        self._row = {item_id: i for i, item_id in enumerate(self.ids)}
        self.name = spec or f"features:{self.path}"
        if self.path.is_file():
            self.fingerprint = sha256_file(self.path)[:16]
        else:
            import hashlib

            h = hashlib.sha256()
            for name in sorted(self._arrays):
                h.update(self._arrays[name].tobytes())
            h.update("\n".join(self.ids).encode())
            self.fingerprint = h.hexdigest()[:16]

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> PrecomputedTeacher:
        if not arg:
            from distilhash.errors import ConfigError

            raise ConfigError("the features teacher needs a path: 'features:PATH'")
        options.pop("device", None)
        options.pop("batch_size", None)
        return cls(arg, spec=f"features:{arg}", **options)

    def has(self, name: str) -> bool:
        return name in self._arrays

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row indices of ``ids``; FeatureError listing (a few of) the unknown ones."""
        missing = [i for i in ids if i not in self._row]
        if missing:
            raise FeatureError(f"{self.path}: {len(missing)} requested item ids are not in the feature file, e.g. "
                               f"{missing[:5]} (it holds {len(self.ids)} ids)")
        return np.fromiter((self._row[i] for i in ids), dtype=np.int64, count=len(ids))

    def lookup(self, modality: str, ids: Sequence[str]) -> np.ndarray:
        """float32 ``[len(ids), D]`` rows of array ``modality`` (image / text / label_text)."""
        if modality not in self._arrays:
            raise FeatureError(f"{self.path}: has no {modality!r} array (has {sorted(self._arrays)})")
        return self._arrays[modality][self.rows(list(ids))]

    def class_text(self, n_classes: int) -> np.ndarray:
        a = self._arrays.get("class_text")
        if a is None or a.shape[0] != n_classes:
            raise FeatureError(f"{self.path}: class_text has {None if a is None else a.shape[0]} rows, expected {n_classes}")
        return a

    def encode_images(self, images, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Only item ids can be "encoded" (looked up): pass a sequence of ids."""
        return self._encode("image", images)

    def encode_texts(self, texts, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Only item ids can be "encoded" (looked up): pass a sequence of ids."""
        return self._encode("text", texts)

    def _encode(self, modality: str, items) -> np.ndarray:
        if isinstance(items, np.ndarray) and items.dtype.kind not in "US":
            raise FeatureError(f"the precomputed teacher {self.name} cannot encode new {modality} content; "
                               "it looks items up by id (pass item ids)")
        return self.lookup(modality, [str(i) for i in items])

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "width": self.width, "count": len(self.ids),
                "arrays": sorted(self._arrays), "normalized_rows": self.normalized_rows, "fingerprint": self.fingerprint}

