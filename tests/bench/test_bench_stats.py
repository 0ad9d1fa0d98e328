"""Statistics the bench reports: percentiles, medians and ratios (the math, not timings)."""

from __future__ import annotations

import math

import pytest

from tools.bench.runner import CLEAR_EFFECT, geometric_mean, verdict
from tools.bench.stats import median, paired_ratio, percentile, ratio


def test_nearest_rank_percentiles() -> None:
    samples = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2  # order of the samples does not matter


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_percentile_rejects_fractions_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], fraction)


def test_median_and_ratio() -> None:
    assert median([3.0, 1.0, 2.0]) == 2
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    with pytest.raises(ValueError):
        median([])


def test_paired_ratio_is_the_median_of_run_by_run_ratios() -> None:
    # Run 2 was slow for both (machine noise): pairing cancels it, a ratio of medians would not.
    envoy = [100.0, 20.0, 90.0]
    direct = [200.0, 40.0, 150.0]
    assert paired_ratio(envoy, direct) == pytest.approx(0.5)
    assert median(envoy) / median(direct) == pytest.approx(0.6)
    assert paired_ratio([1.0], [0.0]) is None
    with pytest.raises(ValueError, match="unpaired"):
        paired_ratio([1.0, 2.0], [1.0])


def test_geometric_mean_and_verdict_thresholds() -> None:
    assert geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert geometric_mean([4.0, 1.0]) == pytest.approx(2.0)
    assert geometric_mean([]) is None
    assert verdict(1 + CLEAR_EFFECT) == "helps"
    assert verdict(1 - CLEAR_EFFECT) == "costs"
    assert verdict(1.0) == "no clear effect"
    assert verdict(None) == "not measured"
    assert math.isclose(CLEAR_EFFECT, 0.10)
