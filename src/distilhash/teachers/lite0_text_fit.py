"""MiniLM's last transformer layer trained together with a fitted ``lite0-minilm`` teacher's heads.

The text tower of every Lite0 teacher is frozen. Here its top is trained too, on the same pairs the
``base`` teacher was fitted on (a ``lite0-minilm-wide`` fit: its sources, its near-duplicate filter)::

    h5  = MiniLM layers 1-5 (caption)            frozen, computed once per caption   [T, 384]
    v   = normalize(mean_t(layer6(h5)))          layer 6 trained                       [384]
    t   = normalize(text_head(v)),  z = normalize(image_head(Lite0 pooled))           heads trained

Warm start: layer 6 is MiniLM's and the heads are the base teacher's, so epoch 0 *is* the base
teacher. Symmetric InfoNCE on the fit pairs, AdamW (layer ``lr_text``, heads ``lr_heads``), cosine
schedule, MiniLM's own dropout in layer 6 while training. Selection (label-free, as the base's): after
each epoch the val MRR of the dataset's ``split.val`` pairs; the epoch with the highest (0 included) is
kept. The result is a ``lite0-minilm`` directory whose ``config.json`` names its own text tower
(``text_tower_dir``: MiniLM with the tuned layer 6, ``save_pretrained``), so every Lite0 teacher kind,
the prior included, loads it as any other. MiniLM's front (layers 1-5) and back (layer 6, mean pool) are
:class:`~.minilm_split.MiniLMSplit`, the piece DCMQ's trainable MiniLM student uses; this module adds the
length-sorted chunking of the back over cached front states.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # types only: torch and transformers load when a fit runs
    import torch

    from distilhash.teachers.minilm_split import MiniLMSplit

__all__ = ["TextTuneConfig", "fit_text_tune", "LAST", "TEXT_TOWER_DIR"]

#: index of MiniLM's last transformer layer (all-MiniLM-L6-v2 has 6)
LAST = 5
TEXT_TOWER_DIR = "text_tower"


@dataclass
class TextTuneConfig:
    """Hyperparameters of ``teacher fit --kind lite0-minilm-text`` (fixed before any tuned teacher was scored).

    Attributes:
        base: a fitted ``lite0-minilm`` teacher made by ``lite0-minilm-wide`` (its pairs, heads, image size).
        epochs: training epochs after the warm start (each validated; epoch 0 = the base teacher).
        batch_size: pairs per step.
        lr_text / lr_heads: AdamW learning rates of MiniLM's layer 6 and of the heads.
        weight_decay: AdamW weight decay of weight matrices.
        seed: shuffling / dropout seed.
    """

    base: str = ""
    epochs: int = 6
    batch_size: int = 256
    lr_text: float = 2e-5
    lr_heads: float = 3e-4
    weight_decay: float = 0.01
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lower_states(text: MiniLMSplit, texts: list[str], batch: int = 128) -> list[torch.Tensor]:
    """Hidden states entering the trained layers of ``text`` (a :class:`~.minilm_split.MiniLMSplit`): one
    float32 tensor ``[T_i, 384]`` per caption (no padding rows), from its frozen front in batches of ``batch``."""
    from distilhash.teachers.minilm_split import unpad_states

    out: list[torch.Tensor] = []
    for s in range(0, len(texts), batch):
        out += unpad_states(*text.front(texts[s:s + batch]))
    return out


def last_layer_embed(text: MiniLMSplit, states: list[torch.Tensor], chunk: int = 64) -> torch.Tensor:
    """``text``'s trained back (:class:`~.minilm_split.MiniLMSplit`) on per-caption states -> unit rows ``[n, 384]``
    (a torch tensor).

    What is this fit's own: captions are run in chunks of similar length (each padded to its own longest); a
    caption's output does not depend on the others in its chunk, so this is one padded batch at a fraction of
    the padding.
    """
    import torch

    from distilhash.teachers.minilm_split import pad_states

    order = np.argsort([len(s) for s in states], kind="stable")
    parts = [text.back(*pad_states([states[i] for i in order[c:c + chunk]])) for c in range(0, len(order), chunk)]
    return torch.cat(parts)[torch.from_numpy(np.argsort(order))]  # back to the input order


def fit_text_tune(dataset: str, out_dir: str | Path, config: TextTuneConfig, progress: bool = True) -> dict[str, Any]:
    """Train MiniLM's last layer and ``config.base``'s heads on the base's pairs; keep the epoch by val MRR; save."""
    import copy
    import json

    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from distilhash.epochs import LoopConfig, run_epochs
    from distilhash.errors import DataError
    from distilhash.teachers.lite0_fit import contrastive_step, towers_record, val_scores
    from distilhash.teachers.lite0_minilm import Lite0MiniLMTeacher, save_lite0_teacher
    from distilhash.teachers.lite0_wide import WideFitConfig, wide_pairs
    from distilhash.teachers.minilm_split import MiniLMSplit
    from distilhash.teachers.registry import create_teacher

    t_start = time.time()
    base = create_teacher(config.base)
    if not isinstance(base, Lite0MiniLMTeacher) or base.config.get("fit_info", {}).get("sources") is None:
        raise DataError(f"base={config.base!r}: expected a lite0-minilm teacher fitted by --kind lite0-minilm-wide")
    wide = WideFitConfig(**{k: v for k, v in base.config["fit"].items() if k in WideFitConfig.__dataclass_fields__})
    pairs = wide_pairs(dataset, wide, progress)
    encoder = pairs.text_encoder
    text = MiniLMSplit(n_train=1, max_length=encoder.max_length, path=encoder.path)  # layer LAST trainable
    fit_states = lower_states(text, pairs.fit_texts)
    val_states = lower_states(text, pairs.val_texts)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    heads = copy.deepcopy(base.heads)
    layer = text.trainable_layers()
    kept = base.config["fit_info"]["kept"]
    variant = next(v for v in base.config["fit_info"]["variants"] if v["heads"] == kept["heads"])
    log_tau = torch.nn.Parameter(torch.tensor(math.log(variant["history"][kept["epoch"]]["tau"])))
    groups = [{"params": [p for p in layer.parameters() if p.ndim > 1], "lr": config.lr_text, "weight_decay": config.weight_decay},
              {"params": [p for p in layer.parameters() if p.ndim <= 1], "lr": config.lr_text, "weight_decay": 0.0},
              {"params": [p for p in heads.parameters() if p.ndim > 1], "lr": config.lr_heads, "weight_decay": config.weight_decay},
              {"params": [p for p in heads.parameters() if p.ndim <= 1], "lr": config.lr_heads, "weight_decay": 0.0},
              {"params": [log_tau], "lr": config.lr_heads, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups)
    U = torch.from_numpy(np.ascontiguousarray(pairs.u_fit[0]))
    Uv = torch.from_numpy(np.ascontiguousarray(pairs.u_val))
    n = len(U)
    bs = min(config.batch_size, n)
    steps = max(1, n // bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * max(1, config.epochs))
    target = torch.arange(bs)

    run: dict[str, Any] = {"losses": []}

    def score() -> float:  # the epoch's record (epoch 0 = the base) and its val MRR
        text.eval()
        heads.eval()
        with torch.no_grad():
            zv = F.normalize(heads.image(Uv), dim=-1).numpy()
            tv = F.normalize(heads.text(last_layer_embed(text, val_states)), dim=-1).numpy()
        losses = run["losses"]
        history.append({"epoch": len(history), "train_loss": float(np.mean(losses)) if losses else None,
                        "tau": float(log_tau.detach().exp()), **val_scores(zv, tv)})
        bar.set_postfix(epoch=history[-1]["epoch"], val_mrr=f"{history[-1]['val_mrr']:.4f}")
        return history[-1]["val_mrr"]

    def train_epoch(epoch: int) -> dict[str, float]:
        text.train()
        heads.train()
        order = rng.permutation(n)
        losses = run["losses"] = []
        for b in range(steps):
            idx = order[b * bs:(b + 1) * bs]
            v = last_layer_embed(text, [fit_states[i] for i in idx])
            losses.append(contrastive_step(heads.image(U[idx]), heads.text(v), log_tau, target, opt, sched))
            bar.update(1)
        return {"total": float(np.mean(losses))}

    history: list[dict[str, Any]] = []
    bar = tqdm(total=steps * config.epochs, desc="fit MiniLM layer 6 + heads", unit="step", disable=not progress)
    t_train = time.time()
    # the trained layer and the heads are saved and restored together; the best of epochs 0..epochs is kept
    both = torch.nn.ModuleDict({"layer": layer, "heads": heads})
    result = run_epochs(both, train_epoch, score, LoopConfig(epochs=config.epochs, patience=0, min_delta=0.0,
                                                             progress=False, validate_start=True))
    bar.close()
    best = {"epoch": result.best_epoch, "val_mrr": result.best_score}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text_dir = None
    if best["epoch"] > 0:  # a tuned layer (restored by run_epochs): save MiniLM with it (the warm start is MiniLM itself)
        text.bert.save_pretrained(out / TEXT_TOWER_DIR)
        text.tokenizer.save_pretrained(out / TEXT_TOWER_DIR)
        text_dir = TEXT_TOWER_DIR
    fit_info = {
        "kept": {"heads": kept["heads"], "epoch": best["epoch"], "val_mrr": best["val_mrr"]},
        "kept_because": "highest val MRR (split.val image-caption pairs, both directions, no labels); epoch 0 = the base",
        "select": "val_mrr",
        "variants": [{"heads": kept["heads"], "best_epoch": best["epoch"], "best_val_mrr": best["val_mrr"], "history": history}],
        "base": {"spec": config.base, "fingerprint": base.fingerprint},
        "dataset": base.config["fit_info"]["dataset"], "sources": pairs.sources,
        "n_fit_pairs": int(n), "n_val_pairs": len(pairs.val_texts),
        "pairs_used": base.config["fit_info"]["pairs_used"] + "; MiniLM's last layer trained with the heads",
        **towers_record(base.image_size, encoder),
        "timing_s": {"train": time.time() - t_train, "total": time.time() - t_start},
        "loadavg_end": list(os.getloadavg()), "threads": torch.get_num_threads(),
    }
    save_lite0_teacher(out, heads, base.image_size, {**config.to_dict(), "base_fit": base.config["fit"]}, fit_info,
                       text_tower_dir=text_dir)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    return fit_info


def fit_text_tune_command(dataset: str | None, out: Path | None, overrides: dict, threads: int, progress: bool,
                          say) -> tuple[dict[str, Any], Path]:
    """``distilhash teacher fit --kind lite0-minilm-text --dataset NAME --set base=SPEC --out DIR`` (a ``FIT_KINDS`` entry)."""
    from distilhash.errors import ConfigError

    valid = set(TextTuneConfig.__dataclass_fields__)
    unknown = set(overrides) - valid
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(valid)}")
    if not overrides.get("base") or out is None:
        raise ConfigError("--kind lite0-minilm-text needs --set base=lite0-minilm:DIR (a lite0-minilm-wide fit) and --out DIR")
    config = TextTuneConfig(**overrides)
    dataset = dataset or "openclipart"
    say(f"training MiniLM's last layer with the heads of {config.base} (validation: {dataset} split.val) -> {out}")
    info = fit_text_tune(dataset, out, config, progress)
    for h in info["variants"][0]["history"]:
        say(f"  epoch {h['epoch']}: val MRR {h['val_mrr']:.4f}")
    say(f"kept epoch {info['kept']['epoch']} ({info['kept_because']}); total {info['timing_s']['total']:.0f} s")
    return info, Path(out)
