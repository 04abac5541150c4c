"""Fitting the ``lite0-minilm`` teacher's projection heads on a prepared dataset's training pairs.

Both towers are frozen, so their features are computed once and cached on disk:
``u_i = Lite0(image_i)`` (1280-d) and ``v_i = MiniLM(caption_i)`` (384-d) for the items of
``split.train`` only (no query item is ever encoded here, no label is ever read). The heads are
trained on ``split.fit`` (= train minus val) with the symmetric InfoNCE loss on batches of B pairs::

    z_i = normalize(g((u_i - mu) / sigma)),  t_j = normalize(h(v_j))
    s_ij = z_i . t_j / tau                   (log tau learned, clamped to [0.01, 1])
    L = 1/2 [ CE(s_i., i) + CE(s_.j, j) ]

``mu, sigma`` are the per-dimension mean and std of ``u`` over ``split.fit``. Every head variant in
``Lite0FitConfig.variants`` is trained for ``epochs`` epochs; after each epoch two validation scores
are computed on the ``split.val`` items (never fitted on, never query items):

* ``val_map`` (default ``select``): mAP@all of val images against val captions and back (mean of
  both directions; relevance = share a label) -- the benchmark's own criterion, on val items only.
  The labels of val items are read for this choice and nowhere else;
* ``val_mrr`` (label-free): mean reciprocal rank of each item's own caption / image among the val
  pairs. It rewards telling *instances* apart, and on openclipart it preferred a text head that
  lowered val mAP by a quarter (0.30 vs 0.41 i2t), so it is not the default; it is used when the
  dataset has no labels.

The (variant, epoch) with the highest ``select`` score is kept.

Tower-feature cache: ``$DISTILHASH_HOME/teachers/cache/lite0-<dataset hash>-<Lite0 sha>-s<size>.{rows,done}.npy``
(float32 ``[N, 1280]``, filled per item as needed; see :mod:`distilhash.teachers.tower_cache`), so a refit with
other head settings takes seconds and ``teacher extract`` computes only the items the fit did not need. MiniLM embeddings
use the text cache of :func:`distilhash.teachers.minilm_text.cached_encode`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distilhash.threads import fit_threads

if TYPE_CHECKING:  # types only: torch loads when a fit runs
    import torch

__all__ = ["Lite0FitConfig", "fit_lite0_minilm", "val_scores", "describe", "train_and_select", "towers_record",
           "labels_read"]

SELECT_RULES = {
    "val_map": "highest val mAP@all (split.val images vs split.val captions, mean of i2t and t2i; relevance = share a "
               "label; val items are never fitted on)",
    "val_mrr": "highest mean reciprocal rank of the true partner among split.val pairs (both directions; no labels)",
}

#: linear or MLP image head, each with no text head (text stays in MiniLM's space) or a residual text head.
DEFAULT_VARIANTS: list[dict[str, str]] = [
    {"image_head": "linear", "text_head": "none"},
    {"image_head": "linear", "text_head": "linear"},
    {"image_head": "mlp", "text_head": "none"},
    {"image_head": "mlp", "text_head": "linear"},
]


@dataclass
class Lite0FitConfig:
    """Hyperparameters of ``distilhash teacher fit --kind lite0-minilm``.

    Attributes:
        image_size: side S the images are resized to before Lite0 (a multiple of 32).
        variants: head variants tried (``HeadConfig`` fields); the best on val is kept.
        hidden: hidden width of MLP image heads.
        epochs: epochs per variant (each epoch is validated); raised on small datasets so that
            a variant gets at least ``min_steps`` steps.
        min_steps: least number of optimiser steps per variant (openclipart's 2,000 fit pairs give
            7 steps per epoch: 12 epochs left the val score still rising at the last one).
        batch_size: pairs per step (in-batch negatives).
        lr: AdamW learning rate (cosine decay to 0 over all epochs).
        weight_decay: AdamW weight decay of the weight matrices.
        temperature: initial tau.
        learn_temperature: learn log tau (else fixed).
        seed: seed of initialisation and shuffling.
        threads: torch threads during the fit; None = :func:`distilhash.threads.fit_threads` (the free cores).
        tower_batch: Lite0 batch size when computing tower features.
        select: ``"val_map"`` or ``"val_mrr"`` (see module docstring).
    """

    image_size: int = 128
    variants: list[dict[str, str]] = field(default_factory=lambda: [dict(v) for v in DEFAULT_VARIANTS])
    hidden: int = 1024
    epochs: int = 12
    min_steps: int = 400
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    temperature: float = 0.07
    learn_temperature: bool = True
    seed: int = 0
    threads: int | None = None
    tower_batch: int = 16
    select: str = "val_map"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lite0FitConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def val_scores(z: np.ndarray, t: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
    """Scores of val pairs (row i of ``z`` belongs with row i of ``t``; unit rows).

    ``val_mrr`` = mean over both directions of the mean reciprocal rank of the true partner; ``val_r1``
    likewise for recall@1; with multi-hot ``labels [n, C]`` also ``val_map`` = mean of i2t and t2i
    mAP@all among the val items (relevance = share a label).
    """
    s = z @ t.T
    diag = np.diag(s)
    rank_i2t = (s > diag[:, None]).sum(1) + 1
    rank_t2i = (s > diag[None, :]).sum(0) + 1
    mrr = 0.5 * (np.mean(1.0 / rank_i2t) + np.mean(1.0 / rank_t2i))
    r1 = 0.5 * (np.mean(rank_i2t == 1) + np.mean(rank_t2i == 1))
    out = {"val_mrr": float(mrr), "val_r1": float(r1)}
    if labels is not None and labels.shape[1] > 0:
        from distilhash.codes import Encoded
        from distilhash.eval.metrics import evaluate

        zi, tt = (Encoded("float", np.ascontiguousarray(a, dtype=np.float32), 32 * a.shape[1]) for a in (z, t))
        out["val_map_i2t"] = float(evaluate(zi, tt, labels, labels, curves=False).map_all)
        out["val_map_t2i"] = float(evaluate(tt, zi, labels, labels, curves=False).map_all)
        out["val_map"] = 0.5 * (out["val_map_i2t"] + out["val_map_t2i"])
    return out


def contrastive_step(z, t, log_tau, target, opt, sched) -> float:
    """One symmetric InfoNCE step on a batch of paired embeddings, then the temperature clamp.

    ``z``, ``t``: ``[B, d]`` image and text embeddings (unnormalised); ``target``: ``arange(B)``;
    ``log_tau``: the learnt log-temperature, kept in ``[log 0.01, 0]``. Loss
    ``0.5 (CE(z t^T / tau) + CE(t z^T / tau))``; returns its value.
    """
    import torch
    import torch.nn.functional as F

    logits = F.normalize(z, dim=-1) @ F.normalize(t, dim=-1).T / log_tau.exp()
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    with torch.no_grad():
        log_tau.clamp_(math.log(0.01), 0.0)
    return float(loss.detach())


def fit_val_pairs(ds, split, teacher: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, fit_pos, val_pos)``: ``split.train`` rows and the positions in it of the pairs fitted on
    (not in ``split.val``) and validated on. Refuses a dataset without captions or with fewer than 2 of either."""
    from distilhash.errors import DataError

    if ds.texts is None:
        raise DataError(f"dataset {ds.name!r} has no caption strings; {teacher} is fitted on image-caption pairs")
    train = np.asarray(split.train)
    in_val = np.isin(train, split.val)
    fit_pos, val_pos = np.flatnonzero(~in_val), np.flatnonzero(in_val)
    if len(fit_pos) < 2 or len(val_pos) < 2:
        raise DataError(f"split of {ds.name!r} has {len(fit_pos)} fit and {len(val_pos)} val pairs; need at least 2 of each")
    return train, fit_pos, val_pos


def _epochs(config: Lite0FitConfig, n_fit: int) -> int:
    """``config.epochs``, raised to reach ``config.min_steps`` steps of ``batch_size`` pairs."""
    steps = max(1, n_fit // min(config.batch_size, n_fit))
    return max(config.epochs, math.ceil(config.min_steps / steps))


def _as_views(x: np.ndarray):
    """``[n, d]`` or ``[k, n, d]`` (k views of the same n pairs, e.g. mirrored pictures) -> tensor ``[k, n, d]``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x[None] if x.ndim == 2 else x))


def view_cdf(v_weights: np.ndarray) -> torch.Tensor:
    """View weights ``[m, n]`` (each column sums to 1) -> their cumulative sums, a float64 tensor whose last row is 1."""
    import torch

    cum = np.cumsum(v_weights, 0, dtype=np.float64)
    return torch.from_numpy(cum / cum[-1])


def draw_views(cum: torch.Tensor, idx: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One view index per pair of ``idx`` (a long tensor ``[len(idx)]``), view k of pair i with probability
    ``v_weights[k, i]`` (``cum`` from :func:`view_cdf`; a view of weight 0 is never drawn)."""
    import torch

    return (cum[:, idx] <= torch.from_numpy(rng.random(len(idx)))).sum(0)  # the k with cum[k-1] <= r < cum[k]


def _train_variant(head_config, u_fit, v_fit, u_val, v_val, y_val, mu, sigma, config: Lite0FitConfig, select: str,
                   bar, v_weights: np.ndarray | None = None) -> dict[str, Any]:
    """Train one head variant; returns its history and the state of its best epoch (by ``select``)."""
    import torch
    import torch.nn.functional as F

    from distilhash.teachers.lite0_minilm import build_heads
    from distilhash.epochs import LoopConfig, run_epochs

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    heads = build_heads(head_config)
    heads.mu.copy_(torch.from_numpy(mu))
    heads.sigma.copy_(torch.from_numpy(sigma))
    log_tau = torch.nn.Parameter(torch.tensor(math.log(config.temperature)), requires_grad=config.learn_temperature)
    decay = [p for p in heads.parameters() if p.ndim > 1]
    no_decay = [p for p in heads.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.learn_temperature:
        groups.append({"params": [log_tau], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=config.lr)
    n = u_fit.shape[-2]
    bs = min(config.batch_size, n)
    steps = max(1, n // bs)
    epochs = _epochs(config, n)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * epochs)
    U, V = _as_views(u_fit), _as_views(v_fit)
    Uv, Vv = torch.from_numpy(u_val), torch.from_numpy(v_val)
    target = torch.arange(bs)
    history: list[dict[str, Any]] = []
    run: dict[str, Any] = {"losses": []}

    cum = None if v_weights is None else view_cdf(v_weights)

    def pick(views, idx):  # one view per pair, drawn uniformly (a single view: the pairs as they are)
        return views[0, idx] if len(views) == 1 else views[torch.from_numpy(rng.integers(len(views), size=len(idx))), idx]

    def pick_text(idx):  # with v_weights: caption view k of pair i drawn with probability v_weights[k, i]
        if cum is None:
            return pick(V, idx)
        return V[draw_views(cum, idx, rng), idx]

    def train_epoch(epoch: int) -> dict[str, float]:
        heads.train()
        order = torch.from_numpy(rng.permutation(n))
        losses = run["losses"] = []
        for b in range(steps):
            idx = order[b * bs:(b + 1) * bs]
            losses.append(contrastive_step(heads.image(pick(U, idx)), heads.text(pick_text(idx)), log_tau, target, opt, sched))
            if bar is not None:
                bar.update(1)
        return {"total": float(np.mean(losses))}

    def score() -> float:  # the epoch's record (epochs counted from 0) and its ``select`` score
        heads.eval()
        with torch.no_grad():
            zv = F.normalize(heads.image(Uv), dim=-1).numpy()
            tv = F.normalize(heads.text(Vv), dim=-1).numpy()
        rec = {"epoch": len(history), "train_loss": float(np.mean(run["losses"])), "tau": float(log_tau.detach().exp()),
               **val_scores(zv, tv, y_val)}
        history.append(rec)
        if bar is not None:
            bar.set_postfix(variant=head_config.label(), epoch=rec["epoch"], **{select: f"{rec[select]:.3f}"})
        return rec[select]

    result = run_epochs(heads, train_epoch, score, LoopConfig(epochs=epochs, patience=0, min_delta=0.0, progress=False))
    best = {"score": result.best_score, "epoch": result.best_epoch - 1,
            "state": {k: v.detach().clone() for k, v in heads.state_dict().items()}}  # run_epochs restored it
    return {"history": history, "best": best, "heads": heads}


def train_and_select(config: Lite0FitConfig, u_fit, v_fit, u_val, v_val, y_val, mu, sigma, select: str, bar,
                     v_weights: np.ndarray | None = None):
    """Train every head variant of ``config``; returns ``(heads, selection record)``: the winner's heads with its
    best epoch's state (by ``select`` on the val pairs) in eval mode, and the fit record's kept/variants entries.

    ``u_fit`` ``[n, 1280]`` / ``v_fit`` ``[n, 384]``, or ``[k, n, .]`` views of the same pairs (augmentation: each step
    draws one view per pair at random: uniformly, or caption view k of pair i with probability ``v_weights[k, i]``,
    ``v_weights`` ``[m, n]`` with columns summing to 1)."""
    from distilhash.teachers.lite0_minilm import HeadConfig

    results = []
    for variant in config.variants:
        hc = HeadConfig.from_dict({**variant, "hidden": config.hidden, "in_width": u_fit.shape[-1], "width": v_fit.shape[-1]})
        results.append((hc, _train_variant(hc, u_fit, v_fit, u_val, v_val, y_val, mu, sigma, config, select, bar,
                                                   v_weights)))
    hc, winner = max(results, key=lambda hr: hr[1]["best"]["score"])
    winner["heads"].load_state_dict(winner["best"]["state"])
    winner["heads"].eval()
    selection = {
        "kept": {"heads": hc.to_dict(), "epoch": winner["best"]["epoch"], select: winner["best"]["score"]},
        "kept_because": SELECT_RULES[select],
        "select": select,
        "variants": [{"heads": h.to_dict(), "best_epoch": r["best"]["epoch"], f"best_{select}": r["best"]["score"],
                      "history": r["history"]} for h, r in results],
    }
    return winner["heads"], selection


#: per selection rule, what the fit's record says about the labels it read (the keys of :data:`SELECT_RULES`)
LABELS_READ = {
    "val_map": "labels of split.val items only, read for the val mAP selection",
    "val_mrr": "no label read (selection by val MRR)",
}


def labels_read(select: str) -> str:
    """How a fit read labels, for its record (:data:`LABELS_READ`); a DataError for an unknown rule."""
    from distilhash.errors import DataError

    if select not in LABELS_READ:
        raise DataError(f"select={select!r}: expected one of {', '.join(LABELS_READ)}")
    return LABELS_READ[select]


def towers_record(image_size: int, text_encoder) -> dict[str, Any]:
    """The ``image_tower`` / ``text_tower`` entries of a fit record (names, fingerprints, image size)."""
    from distilhash.teachers.efficientnet_lite0 import weights_fingerprint

    return {"image_tower": {"name": "EfficientNet-Lite0 (ImageNet)", "fingerprint": weights_fingerprint(),
                            "image_size": image_size, "input_scaling": "[-1, 1]"},
            "text_tower": {"path": str(text_encoder.path), "fingerprint": text_encoder.fingerprint()}}


def fit_lite0_minilm(dataset, out_dir: str | Path, config: Lite0FitConfig | None = None, text_encoder=None,
                     cache_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Fit the heads on the prepared ``dataset`` (name or directory) and save the teacher under ``out_dir``.

    Returns the fit record (also stored in the teacher's config.json as ``fit_info``).
    """
    import torch
    from tqdm.auto import tqdm

    from distilhash.data.store import open_prepared
    from distilhash.errors import DataError
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_features import tower_features
    from distilhash.teachers.lite0_minilm import save_lite0_teacher
    from distilhash.teachers.minilm_text import MiniLMTextEncoder, cached_encode

    config = config or Lite0FitConfig()
    if config.image_size % 32 or config.image_size < 32:
        raise DataError(f"image_size={config.image_size}: Lite0 needs a multiple of 32 (e.g. 128)")
    if not config.variants:
        raise DataError("Lite0FitConfig.variants is empty: give at least one head variant")
    t_start = time.time()
    prev_threads = torch.get_num_threads()
    threads = fit_threads(config.threads)
    torch.set_num_threads(threads)
    try:
        ds, split = open_prepared(dataset)
        train, fit_pos, val_pos = fit_val_pairs(ds, split, "the lite0-minilm teacher")
        cache = Path(cache_dir) if cache_dir is not None else teachers_dir() / "cache"
        text_encoder = text_encoder or MiniLMTextEncoder()
        t0 = time.time()
        v = cached_encode([ds.texts[i] for i in train], text_encoder, cache, progress)
        t_text = time.time() - t0
        t0 = time.time()
        load_before = list(os.getloadavg())
        u, u_cached = tower_features(ds, train, config.image_size, cache, batch_size=config.tower_batch, progress=progress)
        t_image = time.time() - t0
        mu = u[fit_pos].mean(0).astype(np.float32)
        sigma = (u[fit_pos].std(0) + 1e-4).astype(np.float32)

        t_train = time.time()
        steps = max(1, len(fit_pos) // min(config.batch_size, len(fit_pos)))
        bar = tqdm(total=steps * _epochs(config, len(fit_pos)) * len(config.variants), desc="fit lite0-minilm heads", unit="step",
                   disable=not progress)
        if config.select not in SELECT_RULES:
            raise DataError(f"select={config.select!r}: expected one of {', '.join(SELECT_RULES)}")
        select = config.select if ds.num_labels else "val_mrr"
        y_val = ds.labels[train[val_pos]] if select == "val_map" else None
        heads, selection = train_and_select(config, u[fit_pos], v[fit_pos], u[val_pos], v[val_pos], y_val, mu, sigma,
                                            select, bar)
        bar.close()
        fit_info = {
            **selection,
            "dataset": {"name": ds.name, "content_hash": ds.content_hash(), "split_hash": split.hash},
            "n_fit_pairs": int(len(fit_pos)), "n_val_pairs": int(len(val_pos)),
            "epochs_per_variant": _epochs(config, len(fit_pos)),
            "pairs_used": "split.train image-caption pairs only (fit = train minus val, val for selection); "
                          f"no query items; {labels_read(select)}",
            **towers_record(config.image_size, text_encoder),
            "tower_features_from_cache": bool(u_cached),
            "timing_s": {"text_embeddings": t_text, "image_tower_features": t_image, "train_heads": time.time() - t_train,
                         "total": time.time() - t_start},
            "loadavg_before_image_tower": load_before,
            "loadavg_end": list(os.getloadavg()),
            "threads": threads,
        }
        save_lite0_teacher(out_dir, heads, config.image_size, config.to_dict(), fit_info)
        return fit_info
    finally:
        torch.set_num_threads(prev_threads)


def describe(fit_info: dict[str, Any]) -> str:
    """One line per head variant: its best epoch and its val scores there."""
    select = fit_info["select"]
    lines = []
    for v in fit_info["variants"]:
        h = v["heads"]
        at = v["history"][v["best_epoch"]]
        scores = ", ".join(f"{k} {at[k]:.4f}" for k in ("val_map", "val_map_i2t", "val_map_t2i", "val_mrr", "val_r1") if k in at)
        lines.append(f"image={h['image_head']:<6} text={h['text_head']:<6} best epoch {v['best_epoch']:>3} by {select}: "
                     f"{scores}, tau {at['tau']:.3f}")
    return "\n".join(lines)
