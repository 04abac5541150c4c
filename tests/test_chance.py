"""Chance = the expected mAP@all of a random ranking (exact formula vs brute force) and the sample std helper."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from distilhash.data.stats import relevant_share
from distilhash.eval.chance import expected_random_ap, random_map_exact, random_map_measured
from distilhash.eval.spread import mean_std, sample_std


def _ap(rel_in_rank_order: np.ndarray) -> float:
    hits = np.cumsum(rel_in_rank_order)
    n_rel = rel_in_rank_order.sum()
    return float((rel_in_rank_order * hits / np.arange(1, len(hits) + 1)).sum() / max(n_rel, 1))


@pytest.mark.parametrize("n,r", [(1, 1), (2, 1), (5, 2), (6, 3), (7, 1), (7, 7), (6, 0)])
def test_exact_expectation_equals_the_average_over_every_permutation(n, r):
    rel = np.array([1] * r + [0] * (n - r))
    brute = np.mean([_ap(rel[list(p)]) for p in itertools.permutations(range(n))])
    assert float(expected_random_ap(r, n)) == pytest.approx(brute, abs=1e-12)


def test_exact_chance_matches_measured_random_rankings_and_exceeds_the_relevant_share():
    rng = np.random.default_rng(0)
    yq = (rng.random((60, 6)) < 0.15).astype(np.uint8)
    yd = (rng.random((300, 6)) < 0.15).astype(np.uint8)
    exact = random_map_exact(yq, yd)
    measured = random_map_measured(yq, yd, n_rankings=40, seed=1)
    assert measured["n"] == 40 and abs(measured["mean"] - exact) < 3 * measured["std"] / np.sqrt(40) + 1e-3
    y = np.concatenate([yq, yd])
    share = relevant_share(y, np.arange(60), np.arange(60, 360))["mean"]
    assert exact > share  # the share of relevant items understates what a random ranking scores


def test_expected_ap_rejects_impossible_counts():
    with pytest.raises(ValueError, match="n_relevant"):
        expected_random_ap(5, 4)


def test_sample_std_is_ddof_1_and_absent_for_one_run():
    assert sample_std([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert sample_std([0.5]) is None
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(np.sqrt(2.0)), "n": 2}
