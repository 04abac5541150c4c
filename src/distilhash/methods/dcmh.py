"""DCMH-style label-supervised deep cross-modal hashing on teacher features.

After Jiang & Li, "Deep Cross-Modal Hashing" (CVPR 2017), with the deep backbones replaced by two
MLP heads on the same frozen teacher features (the comparison of interest is *what supervises the
codes* — labels here, the teacher's similarities in DCMQ/SODA/LCDH — not the backbone).

Notation: ``n`` training items (``split.fit``), ``L`` bits, ``F = f_img(x) [n, L]``,
``G = f_txt(t) [n, L]``, ``S_ij = [y_i . y_j > 0]``, ``Theta_ij = 1/2 F_i . G_j``,
``B = sign(F + G)`` shared by both modalities of an item. Objective::

    J = wmean_ij [ log(1 + exp(Theta_ij)) - S_ij Theta_ij ]            (pairwise NLL)
      + gamma * mean ||B - F||^2 + ||B - G||^2 (per element)             (quantization)
      + eta   * mean_l (mean_i F_il)^2 + (mean_i G_il)^2                 (bit balance)

``wmean`` is the plain mean over pairs in DCMH (``pair_weighting="none"``). The default here,
``"balanced"``, gives the similar and the dissimilar pairs one half of the weight each. Why: with
sparse label similarity the plain mean has a degenerate optimum, every image coded ``v`` and every
text ``-v`` with ``sigmoid(Theta) = p`` (the share of similar pairs), whose loss is the entropy
``H(p)`` (0.287 nats at p = 0.084 on openclipart); at 64-128 bits training fell into it within
one epoch (one code per modality, validation mAP at the base rate). Balanced weights make that
solution cost ``log 2`` and remove the collapse.

Optimised as in DCMH by alternation: one pass over image mini-batches (``G`` held fixed in a
buffer of all training outputs), one pass over text mini-batches (``F`` fixed), then
``B = sign(F + G)``. By default each mini-batch meets ``anchors`` random items of the other
modality's buffer rather than all ``n`` (an unbiased estimate of the mean NLL at a fraction of
the cost; ``anchors=None`` restores the exact DCMH sum). Codes at encode time: ``sign(f(x))``
for either modality.

Model selection: after every epoch, mAP@all on ``split.val`` queries against the ``split.fit``
database (mean of image->text and text->image); the best epoch's weights are kept, training stops
after ``patience`` epochs without improvement. ``fit_info_`` records the kept epoch, why, and the
whole validation history. The query set is never looked at.

Data-parallel (``fit(..., data_parallel=dp)``, W replicas, :mod:`distilhash.distributed.data_parallel`):
every replica holds the whole buffers ``F``, ``G`` and codes ``B`` and draws the same permutations
and anchors (shared seeded numpy generator). Of each mini-batch ``b`` replica r computes the rows
``b_r = b[r::W]``; its loss is

    J_r = nll(b_r) + gamma * quant(b_r) + W * eta * bal(total_r),
    total_r = sum_{i in b_r} f(x_i) + sum_{i not in b_r} F_i      (F_i: buffered rows)

and one all-reduce per step carries the averaged gradient ``g = (1/W) sum_r grad J_r`` together
with the batch's fresh outputs (each replica scatters its rows of ``b`` into zeros; the sum is all
of them), which every replica writes into ``F[b]`` (``G[b]`` in the text pass). The mean terms
average to the whole-batch means; the balance term is multiplied by W because it is a function
of the column sum, not a mean over items: ``(1/W) sum_r W eta grad bal = eta sum_{i in b} dbal/dF_i
dF_i/dtheta``, the one-process gradient, except that the other replicas' rows of the current batch
enter ``total_r`` from the buffer (one step old, as every row outside the batch already does).
Hence ``F``, ``G`` and ``B = sign(F + G)`` stay identical on every replica without another
collective. At the end of each epoch worker 0's weights and buffers are broadcast (the recorded
drift checks the claim: 0 when the replicas agree), validation runs on worker 0 and its score is
shared, so every replica keeps the same epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import METHODS, MODALITIES, Capabilities, MethodBase
from distilhash.epochs import LoopConfig, budget_info, run_epochs

__all__ = ["DCMH", "DCMHConfig", "dcmh_loss"]


@dataclass
class DCMHConfig(ConfigData):
    """Hyperparameters of the DCMH-style baseline (defaults: see module docstring)."""

    n_bits: int = 64
    seed: int = 0
    hidden: list[int] = field(default_factory=lambda: [512])
    dropout: float = 0.1
    gamma: float = 0.1
    eta: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 128
    max_epochs: int = 200  # a cap well above where runs stop (the old 40 stopped every openclipart run)
    patience: int = 8
    min_epochs: int = 1
    #: precompute the n x n label similarity (bool, n^2 bytes) when n is at most this
    precompute_similarity_max: int = 20000
    #: pairs per batch: the batch against this many random items of the other modality's
    #: buffer (an unbiased estimate of the mean NLL over all n; None = all n, as in DCMH)
    anchors: int | None = 2048
    #: "balanced" (similar / dissimilar pairs weigh one half each) or "none" (DCMH's plain mean)
    pair_weighting: str = "balanced"


def dcmh_loss(out, other, s, b, total, n: int, gamma: float, eta: float, weighting: str = "none") -> dict[str, Any]:
    """DCMH loss terms for one modality's mini-batch.

    Args:
        out: this modality's outputs for the batch, ``[b, L]`` (requires grad).
        other: the other modality's buffered outputs for all training items, ``[n, L]``.
        s: label similarity of the batch against all items, ``[b, n]`` in {0, 1}.
        b: the shared binary codes of the batch, ``[b, L]`` in {-1, +1}.
        total: this modality's output sum over all items with the batch's part taken from ``out``,
            ``[L]`` (for the bit-balance term).
        n: number of training items.
        weighting: pair weighting of the NLL (``"none"`` or ``"balanced"``, module docstring).

    Returns:
        dict with ``loss`` (weighted sum) and the terms ``nll``, ``quantization``, ``balance``.
    """
    from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

    nll = pairwise_logistic_nll(out, other, s, 0.5, weighting)
    quantization = ((b - out) ** 2).mean()
    balance = ((total / n) ** 2).mean()
    return {"loss": nll + gamma * quantization + eta * balance, "nll": nll, "quantization": quantization, "balance": balance}


def _mlp(d_in: int, hidden: list[int], d_out: int, dropout: float):
    import torch.nn as nn

    layers: list[nn.Module] = []
    width = d_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers)


@METHODS.register("dcmh")
class DCMH(MethodBase):
    """Label-supervised image and text hash heads (DCMH loss) on teacher features."""

    name: ClassVar[str] = "dcmh"
    config_class = DCMHConfig
    tensor_library = "torch"
    #: ``fit(..., data_parallel=DataParallel)`` trains one replica of a torch.distributed group.
    capabilities: ClassVar[Capabilities] = Capabilities(data_parallel=True)

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        c = self.config
        if c.n_bits <= 0 or c.batch_size <= 0 or c.max_epochs <= 0:
            raise ConfigError(f"dcmh: n_bits, batch_size and max_epochs must be positive, got {c}")
        from distilhash.losses.pairwise_likelihood import PAIR_WEIGHTINGS

        if c.pair_weighting not in PAIR_WEIGHTINGS:
            raise ConfigError(f"dcmh: pair_weighting {c.pair_weighting!r}; expected one of {', '.join(PAIR_WEIGHTINGS)}")
        self.config.hidden = list(c.hidden)
        self.heads_: dict[str, Any] | None = None

    def _is_fitted(self) -> bool:
        return self.heads_ is not None

    def _build(self, width: int) -> dict[str, Any]:
        c = self.config
        return {m: _mlp(width, c.hidden, c.n_bits, c.dropout) for m in MODALITIES}

    # ------------------------------------------------------------------------------ fit
    def fit(self, features, split, *, progress: bool = False, data_parallel: Any = None, **kwargs: Any) -> DCMH:
        """Train on ``split.fit`` with early stopping on ``split.val`` mAP@all.

        ``data_parallel``: a :class:`~distilhash.distributed.data_parallel.DataParallel` when this
        process is one of W replicas (module docstring).
        """
        import torch

        c = self.config
        idx = np.asarray(split.fit, dtype=np.int64)
        if idx.size < 2:
            raise FeatureError(f"dcmh: split.fit has {idx.size} items; need at least 2")
        if len(split.val) == 0:
            raise FeatureError("dcmh: split.val is empty; early stopping needs a validation part")
        if features.labels is None or features.labels.shape[1] == 0:
            raise FeatureError("dcmh needs multi-hot labels in the feature set")
        from distilhash.threads import ensure_threads

        ensure_threads()
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        self._bind_features(features)
        self.heads_ = self._build(features.width)
        x = {"image": torch.from_numpy(np.asarray(features.image[idx], np.float32)),
             "text": torch.from_numpy(np.asarray(features.text[idx], np.float32))}
        y = torch.from_numpy(np.asarray(features.labels[idx], np.float32))
        n = len(idx)
        sim_all = (y @ y.T > 0) if n <= c.precompute_similarity_max else None  # bool [n, n]
        params = [p for h in self.heads_.values() for p in h.parameters()]
        opt = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        with torch.no_grad():
            buf = {m: self.heads_[m].eval()(x[m]) for m in MODALITIES}
        codes = torch.sign(buf["image"] + buf["text"])
        codes[codes == 0] = 1
        other = {"image": "text", "text": "image"}
        dp = data_parallel
        world = 1 if dp is None else dp.world
        both = torch.nn.ModuleDict(self.heads_)
        if dp is not None:
            dp.fork_torch_rng()  # dropout masks differ between replicas; shared draws use rng

        history: list[dict[str, Any]] = []
        state = {"codes": codes, "terms": {}}

        def train_epoch(epoch: int) -> dict[str, float]:
            codes = state["codes"]
            terms = {m: {"loss": 0.0, "nll": 0.0, "quantization": 0.0, "balance": 0.0} for m in MODALITIES}
            for m in MODALITIES:
                head = self.heads_[m].train()
                perm = rng.permutation(n)
                n_batches = 0
                for s in range(0, n, c.batch_size):
                    batch = torch.from_numpy(perm[s : s + c.batch_size])
                    if len(batch) < world:  # a replica would get no rows: skipped on every replica
                        continue
                    bi = batch if dp is None else batch[dp.rank :: world]
                    out = head(x[m][bi])
                    buf[m][bi] = out.detach()
                    total = out.sum(0) + (buf[m].sum(0) - buf[m][bi].sum(0))
                    cols = torch.from_numpy(rng.choice(n, c.anchors, replace=False)) if c.anchors and c.anchors < n else None
                    if sim_all is not None:
                        sim = sim_all[bi] if cols is None else sim_all[bi][:, cols]
                    else:
                        sim = y[bi] @ (y if cols is None else y[cols]).T > 0
                    anchor_out = buf[other[m]] if cols is None else buf[other[m]][cols]
                    loss = dcmh_loss(out, anchor_out, sim.float(), codes[bi], total, n, c.gamma, c.eta * world,
                                     c.pair_weighting)
                    opt.zero_grad()
                    loss["loss"].backward()
                    if dp is not None:  # averaged gradients + every replica's fresh rows, one all-reduce
                        rows = torch.zeros(len(batch), out.shape[1])
                        rows[dp.rank :: world] = out.detach()
                        dp.average_gradients(both, sums=[rows])
                        buf[m][batch] = rows
                    opt.step()
                    for k in terms[m]:
                        terms[m][k] += float(loss[k].detach())
                    n_batches += 1
                terms[m] = {k: v / max(n_batches, 1) for k, v in terms[m].items()}
            if dp is not None:
                dp.sync([*both.state_dict().values(), buf["image"], buf["text"]])
            codes = torch.sign(buf["image"] + buf["text"])
            codes[codes == 0] = 1
            state["codes"], state["terms"] = codes, terms
            return {}

        def validate() -> float:
            val = self._validate(features, split) if dp is None or dp.is_main else None
            if dp is not None:
                val = dp.share(val)  # worker 0 validates; every replica early-stops alike
            score = 0.5 * (val["i2t"] + val["t2i"])
            history.append({"epoch": len(history) + 1, "val_map_i2t": val["i2t"], "val_map_t2i": val["t2i"],
                            "val_map_mean": score, "loss_image": state["terms"]["image"], "loss_text": state["terms"]["text"]})
            return score

        loop = LoopConfig(epochs=c.max_epochs, patience=max(c.patience, 1), min_delta=0.0, min_epochs=c.min_epochs,
                          progress=progress, desc=f"dcmh {c.n_bits} bits")
        result = run_epochs(both, train_epoch, validate, loop)
        best = (result.best_score, result.best_epoch)
        stopped = "patience" if result.by_patience else "max_epochs"
        self.fit_info_ = {
            "epoch_policy": "early stopping on validation mAP@all",
            "criterion": "mean of image->text and text->image mAP@all, split.val queries vs split.fit database",
            "kept_epoch": best[1],
            "best_val_map": best[0],
            "epochs_run": len(history),
            "stopped": stopped,
            "reason": (
                f"epoch {best[1]} had the best validation mAP ({best[0]:.4f}); "
                + (f"no improvement in the next {c.patience} epochs" if stopped == "patience" else f"reached max_epochs={c.max_epochs}")
            ),
            "fit_rows": int(n),
            "val_rows": int(len(split.val)),
            "train_seconds": result.seconds,
            "history": history,
            "budget": budget_info(c.max_epochs, len(history), best[1], result.by_patience, patience=c.patience),
        }
        return self

    def _validate(self, features, split) -> dict[str, float]:
        from distilhash.eval.metrics import evaluate_method

        reports = evaluate_method(self, features, split, part="val", top_n=(), curves=False)
        return {d: float(r.map_all) for d, r in reports.items()}

    # ------------------------------------------------------------------------------ encode
    def project(self, modality: str, features: np.ndarray) -> np.ndarray:
        """Real-valued head outputs float32 ``[n, L]`` (eval mode)."""
        import torch

        self.check_encode_args(modality, "query")
        x = self.check_features(modality, features)
        head = self.heads_[modality].eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(x), 8192):
                out.append(head(torch.from_numpy(x[s : s + 8192])).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_bits), np.float32)

    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Binary codes ``sign(f(x))`` (the same for queries and database items)."""
        self.check_encode_args(modality, role)
        return Encoded("binary", pack_bits(self.project(modality, features) >= 0), self.n_bits)

    # ------------------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, Any]:
        """Both heads, prefixed ``image.`` / ``text.``."""
        return {f"{m}.{k}": v for m, h in self.heads_.items() for k, v in h.state_dict().items()}

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        if self.feature_width_ is None:
            raise ConfigError(f"{directory / 'method.json'}: 'feature_width' is missing")
        heads = self._build(self.feature_width_)
        for m, head in heads.items():
            sub = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(m + ".")}
            try:
                head.load_state_dict(sub)
            except RuntimeError as exc:
                raise ConfigError(f"{directory}: {m} head weights do not match the config: {exc}") from exc
        self.heads_ = heads
