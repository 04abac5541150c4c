"""Extra training pairs for DCMQ from a second picture domain (option ``extra_pairs``).

DCMQ fits on the ``split.fit`` rows of one dataset (2,000 openclipart drawings in the demo), so its heads
and codebooks never see another kind of picture. ``extra_pairs`` names a ``.npz`` holding the teacher's
features of image-caption pairs from elsewhere, ``image [P, D]`` and ``text [P, D]`` (e.g. Noto emoji glyphs
of subgroups no benchmark holds, and their CLDR names; ``bench/open_vocab_dcmq_emoji.py pairs`` writes one).
They join the fit rows everywhere the fit rows are used in training: mini-batches (shuffled together, so a
batch mixes both domains), the k-means start of the codebooks and the dead-codeword revival. Model selection
is unchanged (``split.val`` against ``split.fit``).

The file may also hold ``teacher_fingerprint`` (a 0-d string array; ``pairs`` writes it): features of another fit of
the teacher live in another space even at the same width, so a fingerprint that differs from the training features'
is refused by name (a file without one is taken as it is).

The pairs have no labels, so their target text is their caption in every slot: with ``target_text="label"`` or
``"mix"`` a batch column of an extra pair compares images with that pair's caption (``mix`` reduces to the
caption there); ``target="labels"`` cannot use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distilhash.errors import FeatureError

__all__ = ["load_extra_pairs", "extra_target_text", "join_extra_pairs"]


def load_extra_pairs(path: str | Path, width: int, fingerprint: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs' teacher features: image ``[P, width]`` and caption ``[P, width]``, float32.

    ``fingerprint``: the teacher fingerprint of the training features (None / "": not checked).

    Raises:
        FeatureError: no such file, ``image`` / ``text`` missing, not two ``[P >= 1, width]`` arrays of one P,
            non-finite values, or a recorded ``teacher_fingerprint`` other than ``fingerprint``.
    """
    path = Path(path).expanduser()
    where = f"dcmq option extra_pairs={str(path)!r}"
    if not path.is_file():
        raise FeatureError(f"{where}: no such file (expected a .npz with the teacher's features 'image' and 'text', "
                           f"each [P, {width}])")
    with np.load(path) as z:
        missing = [k for k in ("image", "text") if k not in z.files]
        if missing:
            raise FeatureError(f"{where}: no array {', '.join(map(repr, missing))} (it holds {z.files}); expected 'image' "
                               f"and 'text', each [P, {width}]")
        image, text = np.array(z["image"], np.float32), np.array(z["text"], np.float32)
        theirs = str(z["teacher_fingerprint"]) if "teacher_fingerprint" in z.files else ""
    if fingerprint and theirs and theirs != fingerprint:
        raise FeatureError(f"{where}: made with the teacher fingerprint {theirs[:24]}, but the training features are of "
                           f"{fingerprint[:24]} (another fit of the teacher: another feature space); write the pairs "
                           "again with the training features' teacher")
    if image.ndim != 2 or image.shape != text.shape or image.shape[1] != width or len(image) < 1:
        raise FeatureError(f"{where}: image {image.shape} and text {text.shape}; expected both [P >= 1, {width}] "
                           "(the teacher's features, one row per pair)")
    if not (np.isfinite(image).all() and np.isfinite(text).all()):
        raise FeatureError(f"{where}: non-finite values")
    return torch.from_numpy(image), torch.from_numpy(text)


def extra_target_text(e_fit: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
    """The target texts of the extra pairs in the layout of the fit rows' ``e_fit`` (``[n, D]`` or ``[n, 2, D]``
    for mix): the caption ``[P, D]`` in every slot."""
    return caption if e_fit.ndim == 2 else torch.stack([caption, caption], 1)


def join_extra_pairs(path: str | Path, u: torch.Tensor, x_img: torch.Tensor, x_txt: torch.Tensor, y: torch.Tensor,
                     e: torch.Tensor, fingerprint: str | None = None) -> tuple[torch.Tensor, ...]:
    """The fit rows' target-side image features ``u``, student inputs ``x_img`` / ``x_txt``, labels ``y [n, C]`` and
    target texts ``e`` with the pairs of ``path`` appended (no labels: zero rows; their caption as target text);
    ``fingerprint``: the training features' teacher fingerprint, checked against the file's (:func:`load_extra_pairs`)."""
    u_x, w_x = load_extra_pairs(path, u.shape[1], fingerprint)
    return (torch.cat([u, u_x]), torch.cat([x_img, u_x]), torch.cat([x_txt, w_x]),
            torch.cat([y, torch.zeros(len(u_x), y.shape[1])]), torch.cat([e, extra_target_text(e, w_x)]))
