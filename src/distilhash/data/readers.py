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

The role lookup is :mod:`distilhash.data.mat_roles`, the value decoding :mod:`distilhash.data.mat_values`
and the shared reader :mod:`distilhash.data.mat_layout`; this module holds the registered sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distilhash.data.dataset import CrossModalDataset
from distilhash.data.mat_layout import read_mat_layout
from distilhash.data.mat_roles import expand_paths
from distilhash.data.sources import SOURCES
from distilhash.errors import DataError

__all__ = ["read_dcmh_mat", "read_dchmt_mat"]


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
    files = expand_paths(path)
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
