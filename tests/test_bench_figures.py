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
