"""The frozen-text-tower ceiling: cosine mAP, oracle features, phrase sums, the design sample, the report."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.text_ceiling import map_all, markdown, oracle_features, part_b, phrase_features, plot


class WordEncoder:
    """A stand-in MiniLM: a fixed random vector per distinct text."""

    def __init__(self):
        self.rng, self.table, self.calls = np.random.default_rng(0), {}, []

    def encode(self, texts, batch_size=256):
        self.calls.append(list(texts))
        return np.stack([self.table.setdefault(t, self.rng.normal(size=8)) for t in texts]).astype(np.float32)


def test_map_all_oracles_and_phrases():
    y = np.eye(3, dtype=np.uint8)[[0, 1, 2, 0, 1, 2]]
    assert map_all(y[:3] * 5.0, y[3:].astype(np.float32), y[:3], y[3:]) == pytest.approx(1.0)  # scale-free cosine
    ident, names = oracle_features([[0, 2], [1]], np.eye(3, dtype=np.float32) * 2)
    assert ident.tolist() == [[1, 0, 1], [0, 1, 0]] and names.tolist() == [[2, 0, 2], [0, 2, 0]]
    enc = WordEncoder()
    out = phrase_features(["a cat, a dog and a hat", "a cat"], enc)
    assert enc.calls[0] == ["a cat", "a dog", "a hat", "a cat"]
    unit = {t: v / np.linalg.norm(v) for t, v in enc.table.items()}
    assert out[0] == pytest.approx(unit["a cat"] + unit["a dog"] + unit["a hat"], abs=1e-6)
    assert out[1] == pytest.approx(unit["a cat"], abs=1e-6)


def test_design_sample_rows_and_the_report(tmp_path):
    from distilhash.data.emoji_scenes import EmojiScenesConfig, EmojiScenesGenerator

    n_emoji = len(EmojiScenesGenerator(EmojiScenesConfig(n_items=10)).catalog.emojis)
    name_emb = np.random.default_rng(1).normal(size=(n_emoji, 8)).astype(np.float32)
    rows = part_b(WordEncoder(), name_emb, n_items=60, n_query=10, seed=3, ranges=[(1, 2), (2, 3)])
    assert [r["objects"] for r in rows] == ["1-2", "2-3"]
    assert rows[0]["labels_per_item"] < rows[1]["labels_per_item"] and all(0 < r["chance"] < 1 for r in rows)
    assert all(r["identity_oracle"] >= r["chance"] for r in rows)
    keys = ("teacher_i2t", "teacher_t2i", "minilm_sentence_t2t", "minilm_phrases_t2t", "identity_oracle", "names_oracle",
            "label_readout_t2t")
    res = {"benchmark": {**{k: 0.3 for k in keys}, "chance": 0.1, "split_hash": "S", "n_query": 10, "n_database": 50},
           "design_seed": 3, "design_items": 60, "design_query": 10, "design": rows, "wall_s": 1.0}
    text = markdown(res)
    assert "| fitted teacher, image -> text | 0.3000 | 3.00 |" in text and "mAP@all >= 0.300" in text
    assert f"| 1-2 | {rows[0]['labels_per_item']:.2f} |" in text
    plot(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0
