"""A tiny transformers text tower (random BERT, word-level vocabulary) for the static encoder's tests.

The real tower (all-MiniLM-L6-v2) takes minutes to distil on a loaded 2-core machine; this one a
second. It is made here from code, never downloaded.
"""

from __future__ import annotations

from pathlib import Path

WORDS = ["scene", "red", "green", "blue", "cat", "dog", "apple", "tree", "car", "boat", "fish", "star", "moon", "a", "the",
         "of", "with"]
TAGS = [f"tag{j}" for j in range(8)]


def make_tiny_tower(root: Path, hidden: int = 32, seed: int = 0):
    """A random 1-layer BERT + WordPiece tokenizer saved under ``root``; returns its TextTower."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from distilhash.query_encoders.text_towers import TextTower

    root.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *TAGS, "label", *(f"##{d}" for d in range(10)), "##s", "##ing"]
    ids = {t: i for i, t in enumerate(vocab)}
    backend = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    tok.save_pretrained(str(root))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(str(root))
    return TextTower("tiny-bert", root, f"tiny{seed:012d}", "tinyvocab0000000")


def captions(labels) -> list[str]:
    """Captions of a multi-hot label matrix: 'tag1 tag3 scene'."""
    import numpy as np

    return [" ".join(TAGS[j] for j in np.flatnonzero(row)) + " scene" for row in labels]
