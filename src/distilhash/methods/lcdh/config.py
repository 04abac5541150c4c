"""LCDH hyperparameters as data: every reconstructed choice is a field with its default.

See ``docs/lcdh.md`` for what is known and what is reconstructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError

__all__ = ["LCDHConfig", "FUSIONS", "ATTENTIONS", "STREAM_ORDERS", "DATABASE_CODES"]

FUSIONS = ("concat", "sum", "product")
ATTENTIONS = ("tokens", "channel", "none")
STREAM_ORDERS = ("shuffled", "index")
DATABASE_CODES = ("student", "teacher")


@dataclass
class LCDHConfig(ConfigData):
    """All LCDH options (flat, so that ``--set key=value`` reaches each).

    Offline teacher (trained on ``split.fit`` with labels, epoch kept by ``split.val`` mAP):
        teacher_fusion: how the teacher's image and text features are fused (concat | sum | product).
        teacher_attention: the enhancement module: ``tokens`` (multi-head self-attention over the
            image and text tokens, residual + LayerNorm), ``channel`` (sigmoid channel gate on the
            fused vector), ``none``.
        teacher_heads, teacher_hidden, teacher_dropout: attention heads, hidden width, dropout.
        teacher_lam: Theta scale of the teacher's label likelihood.
        teacher_quant, teacher_balance: quantization / bit-balance weights of the teacher loss.
        teacher_epochs, teacher_batch, teacher_lr, teacher_patience: optimisation.

    Student (no teacher at query time):
        image_net: ``small-cnn``, ``lite0`` (ImageNet-pretrained EfficientNet-Lite0, :mod:`distilhash.students.lite0_student`)
            or ``vgg16`` (needs torchvision); image_channels: CNN stage widths (small-cnn);
        lite0_until / lite0_trainable_from: the lite0 student keeps Lite0's stages up to ``lite0_until``
            (0..6, 7 = with the 1280-wide head) and fine-tunes those from ``lite0_trainable_from`` on; the earlier
            ones are frozen and their output is computed once per chunk (reused by the chunk's epochs).
        image_stem / image_patch: first CNN stage, ``patch`` (kernel = stride = image_patch) or ``conv``;
        image_size: input side (None: the dataset's render size).
        image_init: a warm start of the CNN trunk pretrained without labels on the pretraining corpus
            (:mod:`distilhash.students.pretrain`): ``pretrained`` (default: the default directory, fitted on
            first use and re-used; the configuration the benchmarks report), ``pretrained:PATH`` (a
            directory written by it) or ``random`` (no warm start, the ablation). For ``image_net=lite0``:
            ``pretrained`` = the packaged ImageNet weights, ``pretrained:PATH`` = another Lite0 ``.pth``.
        image_lr_scale: learning-rate multiplier of the image trunk during the stream (0 freezes its weights).
        text_net: ``bow``; text_hidden: BoW MLP width; vocab_min_count / vocab_max_size / bow_weighting:
            vocabulary from the training text (``split.fit``); dropout: student dropout.
        hash_norm: ``batchnorm`` (parameter-free BatchNorm before tanh on both FC-to-L layers) or ``none``.

    Online protocol:
        chunk_size: items per stream chunk; stream_order: order in which ``split.retrieval`` arrives
            (``shuffled`` with the seed, or ``index``).
        stream_exclude_val: leave ``split.val`` out of the stream. Model-selection runs set it, so that the
            validation queries they score were never trained on (``split.val`` lies inside ``split.retrieval``);
            the database of such a run lacks the val items.
        epochs_per_chunk, batch_size, lr, weight_decay: the update on each chunk.
        min_update_items: a chunk with fewer items is encoded and stored without updating the student
            (the leftover chunk of a stream; 0 = always update).
        lam: Theta = (lam / L) F G^T of the student likelihood (2: sigmoid(lam c) matches S = (1 + c) / 2 best;
            chosen on split.val over 8).
        lambda1, lambda2: quantization and bit-balance weights.
        intra_weight: optional intra-modal likelihood within the chunk.
        target / target_gain: teacher-code target, ``linear`` S = (1 + B B^T / L) / 2 or ``standardized``
            sigmoid(gain * z-scored B B^T / L) (sharper).
        align_weight: pointwise term pulling F and G towards the teacher code of the item (not in the paper's
            description; default 3 because without it the pairwise likelihood alone leaves the student at
            chance, see docs/lcdh.md and bench/results/lcdh_diagnose/lcdh_val_sweep.md; 0 = the reconstruction as written).
        old_weight: weight of the likelihood against frozen codes of earlier chunks; old_sample: how
            many frozen items are drawn per step; old_intra_weight: optional same-modality term.
        database_codes: whose codes a chunk stores: the ``student``'s (default) or the ``teacher``'s.
        eval_batch: batch size when encoding.
    """

    n_bits: int = 64
    seed: int = 0
    # offline teacher
    teacher_fusion: str = "concat"
    teacher_attention: str = "tokens"
    teacher_heads: int = 4
    teacher_hidden: int = 128
    teacher_dropout: float = 0.1
    teacher_lam: float = 8.0
    teacher_quant: float = 0.1
    teacher_balance: float = 0.01
    teacher_epochs: int = 200  # a cap well above where the teacher stops (the old 40 stopped every run)
    teacher_batch: int = 256
    teacher_lr: float = 1e-3
    teacher_patience: int = 6
    # student
    image_net: str = "small-cnn"
    lite0_until: int = 4
    lite0_trainable_from: int = 3
    image_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    image_stem: str = "patch"
    image_patch: int = 4
    image_size: int | None = None
    image_init: str = "pretrained"
    image_lr_scale: float = 1.0
    text_net: str = "bow"
    text_hidden: int = 512
    vocab_min_count: int = 2
    vocab_max_size: int = 5000
    bow_weighting: str = "binary"
    dropout: float = 0.1
    hash_norm: str = "batchnorm"
    # online protocol
    chunk_size: int = 2000
    stream_order: str = "shuffled"
    stream_exclude_val: bool = False
    epochs_per_chunk: int = 3
    min_update_items: int = 128
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-5
    lam: float = 2.0
    lambda1: float = 0.1
    lambda2: float = 0.01
    intra_weight: float = 0.0
    target: str = "linear"
    target_gain: float = 3.0
    align_weight: float = 3.0
    old_weight: float = 1.0
    old_sample: int = 512
    old_intra_weight: float = 0.0
    database_codes: str = "student"
    eval_batch: int = 128
    progress: bool | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("teacher_fusion", FUSIONS), ("teacher_attention", ATTENTIONS),
                              ("stream_order", STREAM_ORDERS), ("database_codes", DATABASE_CODES),
                              ("hash_norm", ("batchnorm", "none")), ("target", ("linear", "standardized"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"lcdh {name}={getattr(self, name)!r}; expected one of {', '.join(allowed)}")
        if not (self.image_init in ("random", "pretrained") or self.image_init.startswith("pretrained:")):
            raise ConfigError(f"lcdh image_init={self.image_init!r}; expected 'random', 'pretrained' or 'pretrained:PATH'")
        if not (0 <= self.lite0_until <= 7 and 0 <= self.lite0_trainable_from <= self.lite0_until + 1):
            raise ConfigError(f"lcdh lite0_until={self.lite0_until}, lite0_trainable_from={self.lite0_trainable_from}; "
                              "expected 0 <= lite0_until <= 7 and 0 <= lite0_trainable_from <= lite0_until + 1")
        if self.image_lr_scale < 0:
            raise ConfigError(f"lcdh image_lr_scale={self.image_lr_scale} must be >= 0")
        if self.n_bits <= 0 or self.chunk_size <= 0 or self.epochs_per_chunk < 0:
            raise ConfigError(f"lcdh needs n_bits > 0, chunk_size > 0, epochs_per_chunk >= 0 "
                              f"(got {self.n_bits}, {self.chunk_size}, {self.epochs_per_chunk})")
        if self.teacher_attention == "tokens" and self.teacher_hidden % self.teacher_heads:
            raise ConfigError(f"teacher_hidden={self.teacher_hidden} must be divisible by teacher_heads={self.teacher_heads}")
