"""An online student's encoders against its teacher's: items/s on the same query items and parameter counts.

Usage::

    speed = student_teacher_speed(lcdh, ds, split, "minilm-lit")
    speed["speedup"]["images_per_s"], speed["sizes"]["student_bytes_float32"]

The student (a fitted raw-input method with ``encode_raw``, ``image_size_``, ``parameter_counts``
and ``vocab_``: LCDH) encodes pixels at its own size and raw strings (tokenisation included); the
teacher named by the spec encodes the same items through its towers (its text cache switched off
so the encoder is timed), or, when it cannot be built, an untrained tower and MiniLM of the same
architecture stand in (``teacher["source"]`` says which). One thread; best of 3 runs (student) and
2 (teacher) with :func:`~distilhash.benchmark.encode_speed.best_rate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distilhash.benchmark.encode_speed import best_rate, interleaved_rates
from distilhash.benchmark.provenance import load_average

__all__ = ["student_teacher_speed", "image_encode_rounds"]

#: the teacher's image batch in the speed comparison (the Lite0 teachers' own default; passed explicitly,
#: the Teacher protocol's ``encode_images(images, batch_size)``)
TEACHER_IMAGE_BATCH = 16


def student_teacher_speed(method, ds, split, teacher_spec: str, n_student: int = 2000, n_teacher: int = 500) -> dict[str, Any]:
    """Items/s of the student and of the teacher on the same query items, one thread."""
    import torch

    torch.set_num_threads(1)
    idx = np.asarray(split.query)[:n_student]
    pixels = ds.images.array(idx, method.image_size_)
    texts = [ds.texts[int(i)] for i in idx]
    student = {"images_per_s": best_rate(lambda: method.encode_raw("image", pixels), len(idx)),
               "texts_per_s": best_rate(lambda: method.encode_raw("text", texts), len(idx)), "items": len(idx)}
    tidx = idx[:n_teacher]
    teacher_info: dict[str, Any] = {"spec": teacher_spec}
    try:
        from distilhash.teachers.registry import create_teacher

        teacher = create_teacher(teacher_spec)
        teacher_info["source"] = "fitted teacher"
        enc_img = lambda: teacher.encode_images(pixels[:len(tidx)], batch_size=128)  # noqa: E731
        teacher.text_cache_dir = None  # time the encoder, not its on-disk cache
        enc_txt = lambda: teacher.encode_texts(texts[:len(tidx)], batch_size=128)  # noqa: E731
        tower, text_model = teacher.tower, teacher.text.model  # a teacher without them: the stand-in below
    except Exception as exc:  # noqa: BLE001 - fall back to the same architecture with untrained weights
        from distilhash.teachers.image_tower import ImageTower, ImageTowerConfig
        from distilhash.teachers.minilm_text import MiniLMTextEncoder

        teacher_info["source"] = f"architecture-equivalent (fitted teacher unavailable: {type(exc).__name__}: {exc})"
        tower = ImageTower(ImageTowerConfig()).eval()
        text_enc = MiniLMTextEncoder()
        text_model = text_enc.model

        def enc_img():
            with torch.no_grad():
                for s in range(0, len(tidx), 128):
                    tower(torch.as_tensor(pixels[s:min(s + 128, len(tidx))]))

        enc_txt = lambda: text_enc.encode(texts[:len(tidx)], batch_size=128)  # noqa: E731
    teacher_speed = {"images_per_s": best_rate(enc_img, len(tidx), 2), "texts_per_s": best_rate(enc_txt, len(tidx), 2),
                     "items": len(tidx)}
    torch.set_num_threads(1)
    n_tower = int(sum(p.numel() for p in tower.parameters()))
    n_text = int(sum(p.numel() for p in text_model.parameters())) if text_model is not None else None
    params = method.parameter_counts()
    vocab_tokens = len(method.vocab_) if method.vocab_ is not None else 0
    sizes = {
        "student_image_params": params["student_image"], "student_text_params": params["student_text"],
        "student_bytes_float32": 4 * (params["student_image"] + params["student_text"]),
        "student_vocab_tokens": vocab_tokens,
        "teacher_image_params": n_tower, "teacher_text_params": n_text,
        "teacher_bytes_float32": 4 * (n_tower + (n_text or 0)),
        "offline_teacher_head_params": params["offline_teacher_head"],
    }
    ratio = {k: student[k] / teacher_speed[k] for k in ("images_per_s", "texts_per_s")}
    return {"student": student, "teacher": teacher_speed | teacher_info, "speedup": ratio, "sizes": sizes,
            "threads": 1, "load_after": load_average()}


def image_encode_rounds(teacher, teacher_spec: str, students: dict[str, Any], ds, idx: np.ndarray, n_teacher: int,
                        batches: list[int], rounds: int) -> dict[str, Any]:
    """Images/s of the teacher's image tower (at its own size, on the first ``n_teacher`` of ``idx``) and of each
    student's ``encode_raw("image", ...)`` at every batch size (pixels at the student's size), in ``rounds``
    interleaved rounds with the load per round (:func:`~distilhash.benchmark.encode_speed.interleaved_rates`): best
    and median round, speed-up over the teacher (best / best), each student's size, parameters and config."""
    import os

    t_size = int(teacher.image_size or ds.images.size)
    n_t = min(n_teacher, len(idx))
    t_px = ds.images.array(idx[:n_t], t_size)
    cands: dict[str, tuple[Any, int]] = {
        f"teacher image tower ({teacher_spec}, {t_size} px, batch {TEACHER_IMAGE_BATCH})":
            (lambda: teacher.encode_images(t_px, batch_size=TEACHER_IMAGE_BATCH), n_t)}
    info: dict[str, Any] = {}
    for student, m in students.items():
        px = ds.images.array(idx, m.image_size_)
        for batch in batches:
            def enc(m=m, px=px, batch=batch):
                m.config.eval_batch = batch
                return m.encode_raw("image", px)
            cands[f"student {student} ({m.image_size_} px, batch {batch})"] = (enc, len(px))
        info[student] = {"image_size": m.image_size_, "parameters": m.parameter_counts(), "config": m.config_dict()}
    rates = interleaved_rates(cands, rounds, load=lambda: list(os.getloadavg()))
    t_name = next(iter(cands))
    return {"rounds": rounds, "threads": 1, "best_images_per_s": rates.best, "per_round_images_per_s": rates.per_round,
            "median_images_per_s": rates.median,
            "speedup_vs_teacher": {k: v / rates.best[t_name] for k, v in rates.best.items() if k != t_name},
            "teacher": t_name, "students": info, "load_per_round": rates.loads,
            "note": "pixels are given at each encoder's own size (resizing not timed); teacher = Lite0 pooled features + "
                    "projection head; student = its image net + FC + sign + bit packing"}
