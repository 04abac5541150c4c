"""DCMQ's options as data: :class:`DCMQConfig`, every reconstructed choice a field, checked on construction.

    DCMQConfig(n_bits=64, target_text="mix", val_criterion="teacher-top10")  # a ConfigError names a bad value
"""

from __future__ import annotations

from dataclasses import dataclass

from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError
from distilhash.methods.dcmq_inputs import VAL_CRITERIA
from distilhash.quantizers.pqg import PQGConfig, bits_to_codebooks
from distilhash.targets.npc import NPCConfig

__all__ = ["DCMQConfig"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "target": ("npc", "cosine", "labels"),
    "target_text": ("label", "caption", "mix"),
    "npc_standardize": ("row-col", "global", "none"),
    "npc_scale": ("minmax", "tanh"),
    "npc_paired": ("sym-max", "sym", "none"),
    "label_overlap": ("any", "cosine"),
    "distill": ("mse", "kl"),
    "similarity": ("ip", "l2"),
    "pq_logits": ("l2", "cosine"),
    "pq_mode": ("gumbel", "soft", "hard-st"),
    "codebook_init": ("kmeans", "data", "random"),
    "backbone": ("frozen", "trainable"),
    "image_head": ("mlp", "residual"),
    "text_head": ("mlp", "residual"),
    "val_criterion": tuple(VAL_CRITERIA),
    "pq_rotation": ("none", "opq"),
}


@dataclass
class DCMQConfig(ConfigData):
    """Hyperparameters of DCMQ (every reconstructed choice is an option; defaults in docs/dcmq.md).

    Targets: ``target`` "npc" (default) | "cosine" (raw teacher cosines, NPC off) | "labels"
    (label overlap, ``label_overlap`` "any" | "cosine"); ``target_text`` which teacher text the
    images are compared with: "label" (label-text prompts, default) | "caption" | "mix" (raw cosines
    ``(1 - caption_weight) cos(u, label text) + caption_weight cos(u, caption)``); NPC steps
    ``npc_standardize``, ``npc_scale`` (+ ``npc_tanh_gain``), ``npc_paired``.
    Student: ``embed_dim`` D, ``hidden_dim`` (0: linear heads), ``dropout``, ``backbone``; ``image_head`` /
    ``text_head`` "mlp" (default) | "residual" (identity + a zero-initialised MLP: starts in the teacher's space,
    needs ``embed_dim`` = the teacher's width; ``backbone="frozen"`` only).
    PQG: ``n_bits`` (M = n_bits / log2 K), ``n_codewords`` K, ``pq_logits``, ``pq_tau``, ``pq_mode``
    ("gumbel" | "soft" | "hard-st"), ``pq_gumbel_noise`` (hard-st only), ``codebook_init`` ("kmeans" on the
    embeddings after the warm-up | "data" samples | "random"), ``warmup_epochs`` (epochs of
    float training before quantization starts), ``revive_dead`` (move codewords unused during an
    epoch onto recent embeddings), ``quant_parallel_weight`` eta >= 1 (score-aware quantization: the residual's part
    parallel to the embedding weighs eta times the orthogonal part in the quantization term, the k-means start
    and the codes, :mod:`distilhash.quantizers.anisotropic`; 1 = isotropic).
    ``extra_pairs``: a ``.npz`` of image-caption pairs of another domain joining the fit rows (:mod:`.dcmq_extra`);
    ``pq_rotation`` "none" | "opq": a rotation fitted by OPQ at the codebooks' start (:mod:`distilhash.quantizers.opq`).
    Loss: ``distill`` "mse" | "kl" (``kl_tau_t``, ``kl_tau_s``), ``similarity`` = ADC metric
    "ip" | "l2", weights ``w_cross``, ``w_intra``, ``w_quant``.
    Optimisation: ``lr``, ``weight_decay``, ``batch_size``, ``epochs``, ``eval_every``,
    ``patience``, ``val_criterion`` (what the kept epoch maximises on split.val: "labels", label mAP vs
    split.fit | "labels+pairs", its mean with the MRR of each item's own caption / image | "teacher-top10", no labels:
    the overlap of the codes' top 10 with the float teacher's top 10, both directions), ``seed``, ``progress``.
    """

    n_bits: int = 64
    n_codewords: int = 256
    quantize: bool = True
    target: str = "npc"
    target_text: str = "label"
    caption_weight: float = 0.5
    npc_standardize: str = "row-col"
    npc_scale: str = "minmax"
    npc_tanh_gain: float = 1.0
    npc_paired: str = "sym-max"
    label_overlap: str = "any"
    embed_dim: int = 256
    hidden_dim: int = 1024
    dropout: float = 0.1
    image_head: str = "mlp"
    text_head: str = "mlp"
    backbone: str = "frozen"
    pq_logits: str = "l2"
    pq_tau: float = 0.01
    pq_mode: str = "gumbel"
    pq_gumbel_noise: bool = True
    codebook_init: str = "kmeans"
    warmup_epochs: int = 2
    revive_dead: bool = True
    quant_parallel_weight: float = 1.0
    extra_pairs: str = ""
    pq_rotation: str = "none"
    distill: str = "kl"
    kl_tau_t: float = 0.1
    kl_tau_s: float = 0.1
    similarity: str = "ip"
    w_cross: float = 1.0
    w_intra: float = 0.5
    w_quant: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 128
    # a cap well above where runs stop: early stopping on split.val decides (issue 23; the old 20 / 2 / 3
    # left 11 of 12 openclipart runs at the cap)
    epochs: int = 200
    eval_every: int = 1
    patience: int = 8
    val_criterion: str = "labels"
    seed: int = 0
    progress: bool | None = None

    def __post_init__(self) -> None:
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"dcmq option {key}={getattr(self, key)!r}; expected one of {', '.join(allowed)}")
        if self.quantize:
            m = bits_to_codebooks(self.n_bits, self.n_codewords)
            if self.embed_dim % m:
                raise ConfigError(f"embed_dim={self.embed_dim} must be divisible by the {m} codebooks of {self.n_bits} bits")
        if not self.quant_parallel_weight >= 1.0:
            raise ConfigError(f"dcmq option quant_parallel_weight must be >= 1 (1 = isotropic), got {self.quant_parallel_weight}")
        if self.extra_pairs and (self.target == "labels" or self.backbone != "frozen"):
            raise ConfigError("dcmq option extra_pairs: needs target npc or cosine (the pairs have no labels) and "
                              f"backbone=frozen (they hold teacher features); got target={self.target!r}, "
                              f"backbone={self.backbone!r}")
        if self.pq_rotation != "none" and (not self.quantize or self.backbone != "frozen" or self.n_codewords > 256):
            raise ConfigError(f"dcmq option pq_rotation={self.pq_rotation!r}: needs the quantizer (dcmq, not float-student), "
                              f"backbone=frozen and n_codewords <= 256; got quantize={self.quantize}, backbone={self.backbone!r}, "
                              f"n_codewords={self.n_codewords}")
        if not 0.0 <= self.caption_weight <= 1.0:
            raise ConfigError(f"dcmq option caption_weight must be in [0, 1], got {self.caption_weight}")
        for key in ("embed_dim", "batch_size", "epochs", "eval_every"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"dcmq option {key} must be > 0, got {getattr(self, key)}")

    @property
    def n_codebooks(self) -> int:
        return bits_to_codebooks(self.n_bits, self.n_codewords)

    def pqg(self) -> PQGConfig:
        return PQGConfig(self.n_codebooks, self.n_codewords, self.pq_logits, self.pq_tau, self.pq_mode, self.pq_gumbel_noise,
                         self.quant_parallel_weight)

    def npc(self) -> NPCConfig:
        return NPCConfig(self.npc_standardize, self.npc_scale, self.npc_tanh_gain, self.npc_paired)
