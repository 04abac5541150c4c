"""SVG files of an archive drawn as pictures the way openclipart drawings are, with the file-level filters.

:func:`draw_members` renders each named member of a tar archive with
:func:`~distilhash.data.openclipart_render.render_svg` (white background, margins trimmed, centred square) and says for
each why it is left out: ``SVG missing``, ``unrenderable``, ``blank`` (grey-level std below ``blank_std``) or
``identical pixels`` (the same picture as an earlier kept one); ``""`` when kept.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["draw_members", "draw_kept"]


def draw_members(tar: tarfile.TarFile, members: Sequence[str], size: int, blank_std: float = 2.0,
                 progress: bool = False, desc: str = "SVG pictures") -> tuple[list[str], np.ndarray]:
    """``(reasons, pixels)``: one reason per member (``""``: kept) and uint8 ``[kept, size, size, 3]`` in member order."""
    from tqdm.auto import tqdm

    from distilhash.data.npm_tarball import member_bytes
    from distilhash.data.openclipart_render import is_blank, render_svg

    reasons: list[str] = []
    images: list[np.ndarray] = []
    seen: set[str] = set()
    for name in tqdm(members, desc=desc, unit="file", disable=not progress):
        data = member_bytes(tar, name)
        if data is None:
            reasons.append("SVG missing")
            continue
        try:
            px = render_svg(name, size, data=data)
        except DataError:
            reasons.append("unrenderable")
            continue
        digest = hashlib.sha256(px.tobytes()).hexdigest()
        why = "blank" if is_blank(px, blank_std) else "identical pixels" if digest in seen else ""
        reasons.append(why)
        if not why:
            seen.add(digest)
            images.append(px)
    return reasons, (np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8))


def draw_kept(tar: tarfile.TarFile, records: Sequence[dict[str, Any]], reasons: Sequence[str],
              member: Callable[[dict[str, Any]], str], size: int, blank_std: float = 2.0, progress: bool = False,
              desc: str = "SVG pictures") -> tuple[list[dict[str, Any]], np.ndarray, dict[str, int]]:
    """Draw ``member(record)`` of every record whose reason is ``""``; -> ``(kept records, pixels, counts)``.

    ``counts``: ``read``, ``kept`` and the number left out for each reason, the metadata's and the drawing's.
    """
    todo = [i for i, why in enumerate(reasons) if not why]
    drawn, pixels = draw_members(tar, [member(records[i]) for i in todo], size, blank_std, progress, desc)
    final = list(reasons)
    for i, why in zip(todo, drawn):
        final[i] = why
    counts = Counter(why or "kept" for why in final)
    return [r for r, why in zip(records, final) if not why], pixels, {"read": len(records), **dict(sorted(counts.items()))}
