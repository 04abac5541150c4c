"""Benchmark plots: the figure is saved as PNG when its block ends, and not at all when the block fails."""

from __future__ import annotations

import pytest

from distilhash.benchmark.figures import figure


def test_figure_is_written_when_the_block_ends(tmp_path):
    out = tmp_path / "p.png"
    with figure(out, 1, 2, figsize=(4, 2), sharey=True) as (fig, axes):
        axes[0].plot([1, 2], [3, 4])
        assert len(axes) == 2 and not out.exists()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_is_written_when_drawing_fails(tmp_path):
    out = tmp_path / "p.png"
    with pytest.raises(KeyError):
        with figure(out) as (fig, ax):
            ax.plot([1], [1])
            raise KeyError("missing column")
    assert not out.exists()


def test_captioned_samples_and_label_frequencies_are_drawn(tmp_path, tiny_dataset):
    import numpy as np

    from distilhash.benchmark.figures import captioned_samples, label_frequency_bars

    out = tmp_path / "samples.png"
    captioned_samples(out, tiny_dataset, range(12), "tiny samples", label_text=str.upper, widths=(10, 10), figsize=(4, 4))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with figure(tmp_path / "freq.png") as (fig, ax):
        label_frequency_bars(ax, tiny_dataset, "label rank")
        heights = [p.get_height() for p in ax.patches]
        assert ax.get_title() == f"{tiny_dataset.name}: label frequencies"
    shares = np.sort(tiny_dataset.labels.sum(0))[::-1] / len(tiny_dataset)
    assert np.allclose(heights, shares) and heights == sorted(heights, reverse=True)
