"""The online protocol: ``split.retrieval`` arrives as chunks; each chunk updates the student, then
its codes are appended to the store and never recomputed.

For chunk t with items X_t (pixels, BoW text) and teacher codes B_t (from teacher features):

1. ``epochs_per_chunk`` passes of mini-batches over X_t (none if the chunk has fewer than
   ``min_update_items`` items), minimising :class:`LCDHStreamLoss`
   against ``S = (1 + B_t B_t^T / L) / 2`` and against frozen codes of earlier chunks
   (``old_sample`` of them per step, targets from the teacher codes of both);
2. encode X_t with the updated student (eval mode) -> ±1 codes F_t, G_t;
3. append (F_t, G_t, B_t) to the store (durable with :class:`IndexCodeStore`).

The absorb time of a chunk covers all three steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from distilhash.losses.lcdh_stream import LCDHStreamLoss, code_similarity
from distilhash.methods.lcdh.config import LCDHConfig
from distilhash.training.batches import minibatches
from distilhash.training.terms import TermMeter

__all__ = ["ChunkReport", "chunk_plan", "absorb_chunk", "encode_student"]


@dataclass
class ChunkReport:
    """What absorbing one chunk did (JSON-ready via ``to_dict``)."""

    chunk: int
    n_chunks: int
    items: int
    stored_total: int
    absorb_seconds: float
    train_seconds: float
    encode_seconds: float
    store_seconds: float
    terms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chunk_plan(retrieval: np.ndarray, config: LCDHConfig) -> list[np.ndarray]:
    """Dataset rows of each chunk: ``split.retrieval`` in stream order cut into ``chunk_size`` pieces."""
    rows = np.asarray(retrieval, np.int64)
    if config.stream_order == "shuffled":
        rows = rows[np.random.default_rng(config.seed + 7919).permutation(len(rows))]
    return [rows[s:s + config.chunk_size] for s in range(0, len(rows), config.chunk_size)]


@torch.no_grad()
def encode_student(student, modality: str, inputs: np.ndarray, batch: int) -> np.ndarray:
    """±1 int8 codes ``[n, L]`` of the student for pixels (image) or BoW rows (text)."""
    student.eval()
    fn = student.image if modality == "image" else student.text
    out = [np.where(fn(torch.as_tensor(inputs[s:s + batch])).numpy() >= 0, 1, -1).astype(np.int8)
           for s in range(0, len(inputs), batch)]
    return np.concatenate(out) if out else np.zeros((0, student.image_fc.out_features), np.int8)


def absorb_chunk(student, optimizer, config: LCDHConfig, chunk: int, n_chunks: int, rows: np.ndarray, ids: list[str],
                 pixels: np.ndarray, bow: np.ndarray, teacher_bits: np.ndarray, store, rng: np.random.Generator
                 ) -> ChunkReport:
    """Update the student on one chunk, encode it and append its codes to ``store`` (module docstring)."""
    t0 = time.perf_counter()
    loss_fn = LCDHStreamLoss(config.lam, config.intra_weight, config.old_weight, config.old_intra_weight,
                             config.lambda1, config.lambda2, config.align_weight)
    px = torch.as_tensor(pixels)
    tb = torch.as_tensor(bow)
    bt = torch.as_tensor(teacher_bits.astype(np.float32))
    n_old = len(store)
    if n_old:
        old_img = torch.as_tensor(store.codes("image").astype(np.float32))
        old_txt = torch.as_tensor(store.codes("text").astype(np.float32))
        old_t = torch.as_tensor(store.codes("teacher").astype(np.float32))
    meter = TermMeter()
    student.train()
    # a chunk smaller than min_update_items (e.g. the stream's leftover) is stored without an update:
    # a few steps on one tiny batch mostly shift the BatchNorm running statistics
    update = len(rows) >= config.min_update_items
    for _ in range(config.epochs_per_chunk if update else 0):
        for b in minibatches(len(rows), config.batch_size, rng, drop_last=len(rows) > config.batch_size):
            b = torch.as_tensor(b)
            f, g = student.image(px[b]), student.text(tb[b])
            s = code_similarity(bt[b], bt[b], config.target, config.target_gain)
            kw = {}
            if n_old and config.old_weight:
                o = torch.as_tensor(rng.choice(n_old, min(n_old, config.old_sample), replace=False))
                kw = {"old_img": old_img[o], "old_txt": old_txt[o], "s_old": code_similarity(bt[b], old_t[o], config.target, config.target_gain)}
            terms = loss_fn(f, g, s, b=bt[b], **kw)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            meter.add(terms)
    t1 = time.perf_counter()
    codes = {"image": encode_student(student, "image", pixels, config.eval_batch),
             "text": encode_student(student, "text", bow, config.eval_batch),
             "teacher": teacher_bits.astype(np.int8)}
    t2 = time.perf_counter()
    store.add(rows, ids, codes, chunk)
    t3 = time.perf_counter()
    return ChunkReport(chunk, n_chunks, len(rows), len(store), t3 - t0, t1 - t0, t2 - t1, t3 - t2,
                       {k: round(v, 6) for k, v in meter.means().items()}, {"updated": update})
