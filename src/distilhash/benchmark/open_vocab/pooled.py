"""Lite0 pooled features of the open-vocabulary databases, and a teacher's image side applied to them.

The teachers compared by the open-vocabulary scripts (``bench/open_vocab_teachers.py``; the retired
``open_vocab_fixes.py`` and ``own_collection_teachers.py``, see bench/README.md) all embed images as a function
of EfficientNet-Lite0's pooled features ``[n, 1280]``; these are computed once per image size and
cached, then every teacher's head (or prior mix) is applied to them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LITE0_TEACHERS", "unit", "embed_pooled", "glyph_pooled", "pooled_domains", "map_domains", "reads_maps", "score"]


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def embed_pooled(teacher, u: np.ndarray) -> np.ndarray:
    """Lite0 pooled features ``[n, 1280]`` -> the teacher's image embeddings ``[n, D]``."""
    import torch

    from distilhash.teachers.lite0_prior import Lite0PriorTeacher

    if isinstance(teacher, Lite0PriorTeacher):
        return teacher.mix(u)
    with torch.no_grad():
        return unit(teacher.heads.image(torch.from_numpy(np.ascontiguousarray(u))).numpy())


#: teacher classes whose image side is a function of Lite0's pooled features (``embed_pooled``)
LITE0_TEACHERS = ("Lite0MiniLMTeacher", "Lite0PriorTeacher")


def glyph_pooled(images: np.ndarray, which: str, size: int = 128) -> np.ndarray:
    """Lite0 pooled features ``[n, 1280]`` of emoji glyph pixels at ``size`` px, cached under ``$DISTILHASH_HOME/open_vocab``."""
    from distilhash.paths import home
    from distilhash.teachers.common import to_uint8_images
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone, encode_pooled

    path = home() / "open_vocab" / f"emoji-{which}-{len(images)}-lite0-pooled-s{size}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, encode_pooled(Lite0Backbone().frozen(), to_uint8_images(images, size), 16, progress=True))
    return np.load(path)


def pooled_domains(ds, split, emoji: bool = True, size: int = 128) -> dict[str, np.ndarray]:
    """Lite0 pooled features at ``size`` px of the two databases: ``{"openclipart": [1000, 1280], "emoji": [832, 1280]}``."""
    from distilhash.benchmark.open_vocab.domains import emoji_domain
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_features import tower_features

    u_query, _ = tower_features(ds, np.asarray(split.query), size, teachers_dir() / "cache", progress=True)
    return {"openclipart": u_query, **({"emoji": glyph_pooled(emoji_domain().images, "held-out", size)} if emoji else {})}


def reads_maps(teacher) -> bool:
    """True for teachers whose image side reads Lite0's stage-4 maps (fine-tuned upper stages), not pooled features."""
    from distilhash.teachers.lite0_tuned import Lite0TunedTeacher

    return isinstance(teacher, Lite0TunedTeacher)


def map_domains(ds, split, emoji: bool = True, size: int = 224) -> dict[str, np.ndarray]:
    """Lite0 stage-4 maps (float16 ``[n, 112, size/16, size/16]``) of the two databases, cached like the pooled features."""
    from distilhash.benchmark.open_vocab.domains import emoji_domain
    from distilhash.io_utils import atomic_save_npy
    from distilhash.paths import home, teachers_dir
    from distilhash.teachers.common import to_uint8_images
    from distilhash.teachers.lite0_tune_fit import stage_maps
    from distilhash.teachers.lite0_tuned import FRONT_STAGE

    out = {"openclipart": stage_maps(ds, np.asarray(split.query), size, teachers_dir() / "cache", progress=True)}
    if emoji:
        images = emoji_domain().images
        path = home() / "open_vocab" / f"emoji-held-out-{len(images)}-lite0-map{FRONT_STAGE}-s{size}.npy"
        if not path.is_file():
            import torch

            from distilhash.teachers.efficientnet_lite0 import Lite0Backbone

            backbone, pix = Lite0Backbone().frozen(), to_uint8_images(images, size)
            with torch.no_grad():
                maps = [backbone.forward_until(torch.from_numpy(np.ascontiguousarray(pix[s:s + 16])), FRONT_STAGE).half().numpy()
                        for s in range(0, len(pix), 16)]
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save_npy(path, np.concatenate(maps))
        out["emoji"] = np.load(path, mmap_mode="r")
    return out


def score(q: np.ndarray, db: np.ndarray, rel: np.ndarray, options) -> dict[str, float]:
    from distilhash.benchmark.open_vocab.scoring import _evaluate
    from distilhash.codes import Encoded

    return _evaluate(Encoded("float", unit(q), 32 * q.shape[1]), Encoded("float", unit(db), 32 * db.shape[1]), rel, options)
