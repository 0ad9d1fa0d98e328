"""Statistics the bench reports: percentiles, medians and ratios (the math, not timings)."""

from __future__ import annotations

import math

import pytest

from tools.bench.runner import CLEAR_EFFECT, geometric_mean, verdict
from tools.bench.stats import chi_square_sf, median, paired_ratio, percentile, ratio, uniform_chi_square


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


@pytest.mark.parametrize(
    ("statistic", "degrees"),
    # Critical values at 5% from any chi-square table, and 27.63 at 1e-6 with 2 degrees (= -2 ln 1e-6).
    [(3.841, 1), (5.991, 2), (7.815, 3), (9.488, 4), (11.070, 5), (27.631, 2)],
)
def test_chi_square_tail_matches_the_tables(statistic: float, degrees: int) -> None:
    expected = 1e-6 if statistic > 20 else 0.05
    assert chi_square_sf(statistic, degrees) == pytest.approx(expected, rel=2e-3)


def test_an_even_split_passes_and_a_missing_cell_does_not() -> None:
    assert uniform_chi_square([50, 50, 50]) == (0.0, 1.0)
    statistic, p = uniform_chi_square([0, 75, 75])
    assert statistic == 75.0 and p < 1e-15
    with pytest.raises(ValueError, match="at least two cells"):
        uniform_chi_square([0, 0])
