"""The shared MAT-layout reader: files whose variables are found by role -> a checked dataset.

:func:`read_mat_layout` locates the roles (:mod:`distilhash.data.mat_roles`), decodes them
(:mod:`distilhash.data.mat_values`), checks that every role holds the same N items, resolves image
paths and label names, and hands the dataset to :func:`distilhash.data.assemble.finalize`. The
registered sources built on it are in :mod:`distilhash.data.readers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.assemble import finalize, item_ids_from_paths, rewrite_image_paths
from distilhash.data.dataset import CrossModalDataset
from distilhash.data.images import ArrayImageStore, FileImageStore, ImageStore
from distilhash.data.label_names import resolve_label_names
from distilhash.data.mat_roles import ROLE_KEYS, EXPECTED, MatVar, format_listing, locate_roles, missing_role
from distilhash.data.mat_values import (as_string_list, infer_item_count, labels_matrix, orient_2d, pixels_nhwc,
                                        read_captions, read_value, read_vocab)
from distilhash.data.matlab import MatFile
from distilhash.errors import DataError
from distilhash.io_utils import read_utf8_text

__all__ = ["read_mat_layout", "CAPTION_MODES"]

CAPTION_MODES = ("first", "join")


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
    found = locate_roles(files, overrides)
    if image_override is not None:  # an explicit image key: pixels if 4-D, else paths
        for f in files:
            if f.suffix.lower() == ".mat":
                mat = MatFile(f)
                if image_override in mat:
                    shape = mat.variables()[image_override]
                    role = "pixels" if len(shape) == 4 else "paths"
                    found.vars.pop("pixels", None)
                    found.vars.pop("paths", None)
                    found.vars[role] = MatVar(role, f, image_override, shape, mat)
                    break
        else:
            raise DataError(f"image_key={image_override!r} not found; files and their keys: {format_listing(found.listing)}")
    notes = list(found.notes)
    if "labels" not in found.vars:
        raise missing_role("labels", found)
    if "text" not in found.vars:
        raise missing_role("text", found)
    if "pixels" not in found.vars and "paths" not in found.vars:
        raise missing_role("images", found)
    if "pixels" in found.vars and "paths" in found.vars:
        notes.append(f"images: used pixels {found.vars['pixels'].where()}; ignored {found.vars['paths'].where()}")
        del found.vars["paths"]

    loaded: dict[str, Any] = {"labels": read_value(found.vars["labels"])}
    text_var = found.vars["text"]
    if text_var.key is None and text_var.file.suffix.lower() == ".txt":
        lines = read_utf8_text(text_var.file).split("\n")
        while lines and not lines[-1].strip():
            lines.pop()  # trailing newline(s) only; empty lines inside are empty captions
        loaded["text"] = [ln.rstrip("\r") for ln in lines]
    else:
        loaded["text"] = read_value(text_var)
    paths_list: list[str] | None = None
    if "paths" in found.vars:
        value = read_value(found.vars["paths"])
        paths_list = as_string_list(value, found.vars["paths"])
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
    n = infer_item_count(found, loaded)

    label_var = found.vars["labels"]
    labels, class_values, note = labels_matrix(loaded["labels"], n, label_var)
    if note:
        notes.append(note)
    if class_values and label_names is None:
        label_names = [f"class{v}" for v in class_values]
    names, names_origin = resolve_label_names(label_names, labels.shape[1], label_var.where())

    texts: list[str] | None = None
    tags: list[list[str]] | None = None
    bow: np.ndarray | None = None
    text_value = loaded["text"]
    captions = read_captions(text_value, text_var, n)
    if captions is None:
        bow_arr, note = orient_2d(np.asarray(text_value), n, text_var)
        if note:
            notes.append(note)
        if bow_arr.size and bow_arr.min() < 0:
            raise DataError(f"{text_var.where()}: negative bag-of-words counts; expected {EXPECTED['text']}")
        bow = bow_arr.astype(np.float32)
        if vocab is not None:
            words = read_vocab(vocab, bow.shape[1])
            tags = [[words[j] for j in np.flatnonzero(row)] for row in bow]
            texts = [" ".join(t) for t in tags]
            notes.append(f"text: bag of words {list(bow.shape)}; texts are its words from {vocab}")
        else:
            notes.append(f"text: bag of words {list(bow.shape)} without a vocabulary (texts=None; give vocab=FILE)")
    else:
        if len(captions) != n:
            raise mismatch_error(n, {found.vars['labels'].where(): labels.shape[0], text_var.where(): len(captions)})
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
        images = ArrayImageStore(pixels_nhwc(found.vars["pixels"], n, image_layout, notes))
        ids = [f"{i:06d}" for i in range(n)]
    else:
        assert paths_list is not None
        if len(paths_list) != n:
            raise mismatch_error(n, {found.vars['labels'].where(): labels.shape[0], found.vars['paths'].where(): len(paths_list)})
        base = found.vars["paths"].file.parent
        resolved = rewrite_image_paths(paths_list, image_root, base)
        notes.extend(resolved.notes)
        images = FileImageStore(resolved.paths, resolved.root)
        ids = item_ids_from_paths(paths_list)

    lengths = {label_var.where(): labels.shape[0], "images": len(images)}
    if bow is not None:
        lengths[text_var.where()] = bow.shape[0]
    if len(set(lengths.values())) != 1:
        raise mismatch_error(n, lengths)

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


def mismatch_error(n: int, lengths: dict[str, int]) -> DataError:
    return DataError(
        "mismatched item counts between files: " + "; ".join(f"{w}: {c}" for w, c in lengths.items())
        + f" (every file must hold the same N items; N={n} was inferred)"
    )
