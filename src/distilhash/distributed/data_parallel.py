"""Data-parallel training with ``torch.distributed`` (gloo, 127.0.0.1): W processes, one model.

    method = fit_data_parallel("dcmq", config, features_dir, split, workers=2, out_dir="runs/x")

Every worker process builds the same method with the same seed, so the initial weights, the
epoch permutations and every other shared random draw agree. Each minibatch ``idx`` of B items
(the same on every worker) is split: worker r trains on ``idx[r::W]``; after ``backward`` the
gradients are averaged over the workers with one all-reduce, so every worker takes the same
optimiser step:

    g = (1/W) * sum_r grad L(idx[r::W])

(for losses that are means over items this is the gradient of the mean over the whole batch).
In-batch pair terms need the whole batch: a method gathers its embeddings with
:meth:`DataParallel.gather` (all workers' rows in rank order; this worker's rows keep their
graph, the others enter as constants), computes the loss ``L`` of the whole batch — the same
value on every worker — and back-propagates ``W * L``; the averaged gradient is then
``(1/W) sum_r W dL/dz_r dz_r/dtheta = dL/dtheta``, the single-process gradient of the batch (DCMQ
and the float student do; SODA's pair terms still see B/W items per worker). Per-item state a
method keeps besides its weights (DCMH's output buffers F, G and codes B) rides along in the same
all-reduce (:meth:`DataParallel.average_gradients` ``sums=``). At the end of each epoch the
parameters and buffers of worker 0 are broadcast (:meth:`DataParallel.sync`); each worker first
measures how far its copy had drifted from worker 0's (``max |theta_r - theta_0|``, recorded in
``fit_info_["data_parallel"]``: 0 when nothing per-worker leaks into the weights; DCMQ's codeword
revival uses per-worker usage counts, so it may drift between syncs). Validation on ``split.val``
runs on worker 0 only and its score is broadcast, so early stopping decides identically
everywhere. Worker 0 saves the model.

A method opts in by declaring ``capabilities.data_parallel`` and accepting a
``data_parallel=DataParallel`` argument in ``fit`` (DCMQ, the float student, SODA and DCMH do).

Scaling: per step each worker does 1/W of the forward/backward work and one all-reduce of the
model's gradients (DCMQ 64 bits: 1.38 M parameters, 5.5 MB) through gloo over TCP on 127.0.0.1;
validation does not shrink. See docs/distributed.md for measured figures.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["DataParallel", "fit_data_parallel", "free_port"]


@dataclass(frozen=True)
class DataParallel:
    """This process's place in the group (``rank`` of ``world``) and the collective operations."""

    rank: int
    world: int
    #: what the epoch-end syncs measured on this worker: ``syncs`` (count), ``max_drift``
    stats: dict[str, float] = field(default_factory=lambda: {"syncs": 0, "max_drift": 0.0}, compare=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local(self, idx: np.ndarray) -> np.ndarray:
        """This worker's share of a minibatch: ``idx[rank::world]``."""
        return idx[self.rank :: self.world]

    def shares(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mine, whole)`` for a loss over the gathered batch (:meth:`gather`).

        ``idx`` is first cut to a multiple of ``world`` (equal shares; at most ``world - 1`` items
        of a short batch are left out). ``mine = idx[rank::world]``; ``whole`` is every worker's
        share in rank order, the row order of gathered tensors (the targets of the batch are
        built in that order).
        """
        idx = idx[: len(idx) - len(idx) % self.world]
        return idx[self.rank :: self.world], np.concatenate([idx[r :: self.world] for r in range(self.world)])

    def gather(self, t: Any) -> Any:
        """Every worker's ``t`` ``[n, ...]`` concatenated in rank order ``[world * n, ...]``.

        This worker's rows are ``t`` itself (gradients flow into it); the other workers' rows are
        constants. Shares must have equal sizes (:meth:`shares`). Back-propagate ``world * loss``
        of a loss computed on gathered tensors (see the module docstring).
        """
        import torch
        import torch.distributed as dist

        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.detach().contiguous())
        parts[self.rank] = t
        return torch.cat(parts)

    def average_gradients(self, model: Any, sums: Iterable[Any] = ()) -> None:
        """Replace every gradient by its mean over the workers (one flat all-reduce).

        Parameters without a gradient (unused this step, the same on every replica) keep none, so
        the optimiser skips them as it would in one process. ``sums``: float tensors summed over
        the workers in place, in the same all-reduce (e.g. each worker's rows of a per-item buffer
        scattered into zeros: the sum is every worker's rows, an all-gather).
        """
        import torch
        import torch.distributed as dist

        params = [p for p in model.parameters() if p.grad is not None]
        extra = list(sums)
        if not params and not extra:
            return
        grads = [p.grad for p in params]
        flat = torch.cat([t.reshape(-1) for t in grads + extra])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p) / self.world
            offset += n
        for t in extra:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n

    def sync(self, tensors: Iterable[Any]) -> float:
        """Overwrite ``tensors`` with worker 0's copies; returns (and records) this worker's drift.

        ``drift = max |t_r - t_0|`` over every element before the copy (0.0 on worker 0).
        """
        import torch
        import torch.distributed as dist

        drift = 0.0
        with torch.no_grad():
            for t in tensors:
                theirs = t.detach().clone()
                dist.broadcast(theirs, 0)
                if t.numel() and t.is_floating_point():
                    drift = max(drift, float((t.detach() - theirs).abs().max()))
                elif not torch.equal(t, theirs):
                    drift = float("inf")
                t.copy_(theirs)
        self.stats["syncs"] += 1
        self.stats["max_drift"] = max(self.stats["max_drift"], drift)
        return drift

    def broadcast_model(self, model: Any) -> float:
        """Copy worker 0's parameters and buffers to every worker (:meth:`sync`); returns the drift."""
        return self.sync(model.state_dict().values())

    def fork_torch_rng(self) -> None:
        """Give each worker its own torch random stream (dropout masks differ between replicas).

        Call after the shared initialisation; draws every worker must agree on use a numpy
        generator or an explicit ``torch.Generator``. With one worker this does nothing.
        """
        import torch

        if self.world > 1:
            torch.manual_seed(torch.initial_seed() * 1_000_003 % (2**62) + self.rank)

    def share(self, value: Any) -> Any:
        """Worker 0's ``value`` (any picklable object), on every worker."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, 0)
        return box[0]


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, name: str, config: dict[str, Any], features: Any, split: Any,
            threads: int, out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    from distilhash.methods.base import create_method
    from distilhash.teachers.cache import load_features

    os.environ["DISTILHASH_PROGRESS"] = os.environ.get("DISTILHASH_PROGRESS", "1") if rank == 0 else "0"
    torch.set_num_threads(max(1, threads))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        feats = load_features(features, verify=rank == 0) if isinstance(features, str) else features
        method = create_method(name, **config)
        dp = DataParallel(rank, world)
        method.fit(feats, split, data_parallel=dp, **({} if rank == 0 else {"progress": False}))
        stats = [None] * world
        dist.all_gather_object(stats, dict(dp.stats))
        if rank == 0:
            method.fit_info_["data_parallel"] = {
                "workers": world, "threads_per_worker": threads, "epoch_syncs": int(stats[0]["syncs"]),
                "max_drift": max(s["max_drift"] for s in stats),
                "max_drift_per_worker": [s["max_drift"] for s in stats],
                "drift": "max |parameter - worker 0's| seen by an epoch-end sync, before it overwrote the copy",
            }
            method.save(out_dir)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def fit_data_parallel(name: str, config: dict[str, Any], features: Any, split: Any, workers: int,
                      out_dir: str | Path, threads: int = 1) -> Any:
    """Fit method ``name`` (created with ``config``) on W worker processes; returns it loaded from ``out_dir``.

    Args:
        features: a feature cache directory (each worker reads it) or a FeatureSet (sent to each worker).
        split: the dataset's :class:`~distilhash.data.split.Split`.
        workers: W >= 2 processes on this machine (gloo on 127.0.0.1).
        threads: torch threads per worker.
    """
    import torch.multiprocessing as mp

    from distilhash.methods.base import create_method, list_methods, load_method, method_class

    if not create_method(name, **config).capabilities.data_parallel:
        have = [m for m in list_methods() if method_class(m).capabilities.data_parallel]
        raise ConfigError(f"{name} has no data-parallel training (--workers > 1); methods that have it: {', '.join(have)}")
    if workers < 2:
        raise ConfigError(f"data-parallel training needs workers >= 2, got {workers}")
    feats = str(features) if isinstance(features, (str, Path)) else features
    mp.spawn(_worker, args=(workers, free_port(), name, config, feats, split, threads, str(out_dir)),
             nprocs=workers, join=True)
    return load_method(out_dir)
