"""Writers of small MATLAB files for reader tests: v5 through scipy, v7.3 as MATLAB lays out HDF5.

A MATLAB v7.3 file is HDF5 with a 512-byte user block starting with ``MATLAB 7.3 MAT-file``;
each variable is a dataset whose axes are MATLAB's reversed (column-major), tagged with a
``MATLAB_class`` attribute; char arrays are uint16 code units; cell arrays are object
references to datasets in the ``#refs#`` group. ``save_mat(path, variables, version)`` takes
values in MATLAB's logical order:

* numpy arrays -> numeric matrices (bool -> logical);
* ``Chars(list_of_str)`` -> a char matrix, one string per row (padded with spaces);
* ``list`` -> a 1 x N cell array whose elements are str (char rows), lists (nested cells) or arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Chars(list):
    """A char matrix: one string per row."""


def _v5_value(value: Any) -> Any:
    if isinstance(value, Chars):
        width = max(len(s) for s in value)
        return np.array([s.ljust(width) for s in value])
    if isinstance(value, list):
        cell = np.empty((1, len(value)), dtype=object)
        for i, x in enumerate(value):
            cell[0, i] = _v5_value(x) if isinstance(x, list) else x
        return cell
    return value


_CLASSES = {"f": "double", "u": "uint8", "i": "int32", "b": "logical"}


def _h5_write(group, refs, name: str, value: Any, counter: list[int]):
    import h5py

    if isinstance(value, Chars):
        width = max(len(s) for s in value)
        codes = np.array([[ord(c) for c in s.ljust(width)] for s in value], dtype=np.uint16)
        ds = group.create_dataset(name, data=codes.T)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        return ds
    if isinstance(value, str):
        return _h5_write(group, refs, name, Chars([value]), counter)
    if isinstance(value, list):
        ref_arr = np.empty((len(value), 1), dtype=h5py.ref_dtype)  # logical (1, N) stored reversed
        for i, x in enumerate(value):
            counter[0] += 1
            child = _h5_write(refs, refs, f"r{counter[0]}", x, counter)
            ref_arr[i, 0] = child.ref
        ds = group.create_dataset(name, data=ref_arr, dtype=h5py.ref_dtype)
        ds.attrs["MATLAB_class"] = np.bytes_("cell")
        return ds
    arr = np.asarray(value)
    data = arr.astype(np.uint8) if arr.dtype == bool else arr
    ds = group.create_dataset(name, data=data.T)
    ds.attrs["MATLAB_class"] = np.bytes_(_CLASSES.get(arr.dtype.kind, "double") if arr.dtype.kind != "u" else f"uint{arr.dtype.itemsize * 8}")
    return ds


def save_mat(path: str | Path, variables: dict[str, Any], version: str = "v5") -> Path:
    """Write ``variables`` (MATLAB logical order) as a MATLAB ``v5`` or ``v7.3`` file."""
    path = Path(path)
    if version == "v5":
        import scipy.io

        scipy.io.savemat(str(path), {k: _v5_value(v) for k, v in variables.items()})
        return path
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = [0]
        for k, v in variables.items():
            _h5_write(f, refs, k, v, counter)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: distilhash tests HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path
