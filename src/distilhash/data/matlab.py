"""Reading MATLAB ``.mat`` files of both generations behind one interface.

* MATLAB v5 (``save -v7`` and older): read with :func:`scipy.io.loadmat`. Arrays come back in
  MATLAB's logical order (the shape ``size(x)`` shows in MATLAB).
* MATLAB v7.3: an HDF5 file. HDF5 stores MATLAB's column-major arrays with their axes reversed
  (a MATLAB ``[N, C]`` matrix is an HDF5 ``[C, N]`` dataset), characters as ``uint16`` code
  units and cell arrays as object references into ``#refs#``. :class:`MatFile` undoes all of
  this, so callers always see MATLAB's logical order. HDF5 files written by other tools (no
  ``MATLAB_class`` attribute and no MATLAB header) are read in their stored (C) order.

Values are returned as numpy arrays (numbers), ``str`` (char arrays of one row), ``list[str]``
(char matrices, one string per row) or nested ``list`` (cell arrays, flattened in MATLAB's
column-major order).

Example:
    >>> mf = MatFile("mirflickr25k-lall.mat")          # doctest: +SKIP
    >>> mf.variables()                                 # doctest: +SKIP
    {'LAll': (20015, 24)}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["MatFile", "is_hdf5_mat"]

_H5_SKIP = ("#refs#", "#subsystem#")


def is_hdf5_mat(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file (MATLAB v7.3 or any HDF5)."""
    import h5py

    try:
        return bool(h5py.is_hdf5(str(path)))
    except OSError:
        return False


class MatFile:
    """One ``.mat`` file, v5 or v7.3, read lazily variable by variable.

    Args:
        path: the file.

    Attributes:
        path: the file path.
        version: ``"v5"`` or ``"v7.3"`` (HDF5 written by MATLAB) or ``"hdf5"`` (HDF5 in C order).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"MAT file not found: {self.path}")
        if is_hdf5_mat(self.path):
            self.version = "v7.3" if self._has_matlab_header() else "hdf5"
        else:
            self.version = "v5"
        self._vars = self._list_variables()

    # -- listing -----------------------------------------------------------------------------
    def _has_matlab_header(self) -> bool:
        with open(self.path, "rb") as f:
            head = f.read(128)
        if head.startswith(b"MATLAB"):
            return True
        import h5py

        with h5py.File(self.path, "r") as f:  # no userblock: trust the MATLAB_class attributes
            return any("MATLAB_class" in f[k].attrs for k in f.keys() if k not in _H5_SKIP)

    def _list_variables(self) -> dict[str, tuple[int, ...]]:
        if self.version == "v5":
            import scipy.io

            try:
                listing = scipy.io.whosmat(str(self.path))
            except Exception as exc:  # scipy raises ValueError/TypeError/... on damaged files
                raise DataError(f"cannot read MAT file {self.path}: {exc} (expected a MATLAB v5 or v7.3 file)") from exc
            return {name: tuple(int(s) for s in shape) for name, shape, _cls in listing}
        import h5py

        out: dict[str, tuple[int, ...]] = {}
        try:
            with h5py.File(self.path, "r") as f:
                for name in f.keys():
                    if name in _H5_SKIP or not isinstance(f[name], h5py.Dataset):
                        continue
                    shape = tuple(int(s) for s in f[name].shape)
                    out[name] = shape[::-1] if self.reversed_axes else shape
        except OSError as exc:
            raise DataError(f"cannot read HDF5 MAT file {self.path}: {exc}") from exc
        return out

    @property
    def reversed_axes(self) -> bool:
        """Whether stored axes are reversed relative to MATLAB's logical order (v7.3)."""
        return self.version == "v7.3"

    def variables(self) -> dict[str, tuple[int, ...]]:
        """Variable name -> shape in MATLAB's logical order (char matrices report ``(rows,)`` in v5)."""
        return dict(self._vars)

    def __contains__(self, key: object) -> bool:
        return key in self._vars

    # -- reading -----------------------------------------------------------------------------
    def read(self, key: str) -> Any:
        """Variable ``key`` in MATLAB's logical order (see the module docstring for types)."""
        if key not in self._vars:
            raise DataError(f"{self.path}: no variable {key!r}; variables: {', '.join(self._vars) or 'none'}")
        if self.version == "v5":
            return _from_scipy(self._read_v5(key))
        import h5py

        with h5py.File(self.path, "r") as f:
            return self._from_h5(f, f[key])

    def _read_v5(self, key: str) -> Any:
        import scipy.io

        try:
            return scipy.io.loadmat(str(self.path), variable_names=[key])[key]
        except Exception as exc:
            raise DataError(f"cannot read variable {key!r} of {self.path}: {exc}") from exc

    def read_array_chunks(self, key: str, axis: int, chunk: int = 256):
        """Yield ``(start, block)`` slices of a numeric variable along MATLAB axis ``axis``.

        ``block`` is in MATLAB's logical order. Lets huge image arrays (v7.3) be transposed
        piecewise instead of loaded twice.
        """
        shape = self._vars[key]
        if self.version == "v5":
            arr = np.asarray(self._read_v5(key))
            for start in range(0, shape[axis], chunk):
                yield start, np.take(arr, np.arange(start, min(start + chunk, shape[axis])), axis=axis)
            return
        import h5py

        with h5py.File(self.path, "r") as f:
            ds = f[key]
            stored_axis = len(shape) - 1 - axis if self.reversed_axes else axis
            for start in range(0, shape[axis], chunk):
                sl = [slice(None)] * len(shape)
                sl[stored_axis] = slice(start, min(start + chunk, shape[axis]))
                block = ds[tuple(sl)]
                yield start, (block.transpose() if self.reversed_axes else block)

    def _from_h5(self, f, obj) -> Any:
        import h5py

        if not isinstance(obj, h5py.Dataset):
            raise DataError(
                f"{self.path}: variable {obj.name!r} is a MATLAB struct/object; expected a numeric, char or cell array"
            )
        cls = obj.attrs.get("MATLAB_class", b"")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        if cls in ("string", "struct", "table", "containers.Map") or "MATLAB_object_decode" in obj.attrs:
            raise DataError(
                f"{self.path}: variable {obj.name!r} is a MATLAB {cls or 'object'}; expected a numeric, char or "
                f"cell array (in MATLAB: convert string arrays with cellstr() before saving)"
            )
        if obj.attrs.get("MATLAB_empty", 0):
            return [] if cls in ("cell", "char") else np.zeros(0)
        data = obj[()]
        if obj.dtype.kind == "O" or obj.dtype == h5py.ref_dtype:  # cell array: references
            refs = np.asarray(data)
            if self.reversed_axes:
                refs = refs.transpose()
            flat = refs.reshape(-1, order="F") if self.reversed_axes else refs.reshape(-1)
            items = [self._from_h5(f, f[r]) for r in flat]
            return _CellArray(items, refs.shape)
        if self.reversed_axes:
            data = np.asarray(data).transpose()
        if cls == "char":
            return _chars_to_strings(np.asarray(data))
        if obj.dtype.kind in "SU":  # HDF5 strings written by other tools
            arr = np.asarray(data)
            return [x.decode() if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)]
        return np.asarray(data)


class _CellArray(list):
    """A decoded cell array: a flat list (MATLAB column-major order) that remembers its shape."""

    def __init__(self, items: list, shape: tuple[int, ...]) -> None:
        super().__init__(items)
        self.shape = tuple(int(s) for s in shape)


def _chars_to_strings(codes: np.ndarray) -> str | list[str]:
    """MATLAB char matrix (uint16 code units, logical order ``[rows, length]``) -> strings."""
    if codes.ndim == 1 or (codes.ndim == 2 and codes.shape[0] == 1):
        return _decode_row(codes.reshape(-1))
    if codes.ndim > 2:  # [N, K, length]: K strings per item
        return [_chars_to_strings(block) if block.shape[0] > 1 else [_decode_row(block.reshape(-1))] for block in codes]
    return [_decode_row(row) for row in codes]


def _decode_row(row: np.ndarray) -> str:
    raw = np.asarray(row, dtype=np.uint16).tobytes()
    return raw.decode("utf-16-le", errors="replace").rstrip("\x00 ")


def _from_scipy(value: Any) -> Any:
    """scipy.io.loadmat value -> the module's types (strings, lists of strings, cell lists)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        if value.ndim == 0:
            return str(value).rstrip()
        if value.size == 1:
            return str(value.reshape(-1)[0]).rstrip()
        if value.ndim >= 2 and value.shape[0] > 1 and value.shape[1] > 1:  # [N, K] strings: K per item
            return [_from_scipy(row) if row.ndim > 1 else [str(s).rstrip() for s in row] for row in value]
        return [str(s).rstrip() for s in value.reshape(-1)]
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        flat = value.reshape(-1, order="F")
        return _CellArray([_from_scipy(v) for v in flat], value.shape)
    if isinstance(value, str):
        return value.rstrip()
    if hasattr(value, "dtype") and value.dtype.names:  # struct arrays
        raise DataError("MATLAB struct arrays are not supported; expected a numeric, char or cell array")
    return value
