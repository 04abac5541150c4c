"""EmojiScenes statistics: counts that follow from the generated items, the listed report, the figures."""

from __future__ import annotations

import os

import numpy as np
import pytest

from distilhash.data.emoji_assets import ASSETS

pytestmark = pytest.mark.skipif(not all(os.path.isfile(a.path) for a in ASSETS.values()), reason="emoji assets missing")


def test_stats_markdown_and_figures(tmp_path):
    from types import SimpleNamespace

    from distilhash.benchmark.emoji_scenes_stats import figures, markdown, stats
    from distilhash.data.emoji_scenes import generate
    from distilhash.data.emoji_scenes_config import EmojiScenesConfig

    ds = generate(EmojiScenesConfig(n_items=60), progress=False)
    q, r = np.arange(10), np.arange(10, 60)
    split = SimpleNamespace(query=q, retrieval=r, hash="S", sizes=lambda: {"query": 10, "retrieval": 50})
    out = stats(ds, split, n_pairs=500)
    per_item = ds.labels.sum(1)
    assert out["n_items"] == 60 and out["labels_per_item"]["mean"] == round(float(per_item.mean()), 3)
    assert sum(out["labels_per_item"]["hist"].values()) == 60 and sum(out["objects_per_scene_first_2000"].values()) == 60
    share = ((ds.labels[q].astype(int) @ ds.labels[r].T.astype(int)) > 0).mean(1)
    assert out["query_relevant_share"]["mean"] == round(float(share.mean()), 4)
    assert 0 < out["objects_named_in_caption_first_2000"] <= 1 and len(out["examples"]) == 5
    text = markdown({**out, "provenance": {}}, ds.name, "stats")
    assert f"- items 60, render size {ds.images.size} px" in text and "![label frequencies](stats.png)" in text
    figures(ds, tmp_path / "g.png", tmp_path / "s.png", tmp_path / "f.png")
    assert all((tmp_path / f).stat().st_size > 0 for f in ("g.png", "s.png", "f.png"))
