"""Small statistics for noisy machines: medians, nearest-rank percentiles, paired ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no samples")
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of them at or below it."""
    if not values:
        raise ValueError("percentile of no samples")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction), at least 1
    return ordered[int(rank) - 1]


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero (nothing measured)."""
    return numerator / denominator if denominator else None


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """Median of run-by-run ratios; runs are interleaved, so run i of both saw the same noise."""
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired runs: {len(numerators)} vs {len(denominators)}")
    ratios = [r for n, d in zip(numerators, denominators, strict=True) if (r := ratio(n, d)) is not None]
    return median(ratios) if ratios else None


def chi_square_sf(statistic: float, degrees: int) -> float:
    """P(X >= statistic) for X chi-square with `degrees` degrees of freedom (exact: Q(k/2, x/2)
    by the recurrence Q(s + 1, y) = Q(s, y) + y^s e^-y / Gamma(s + 1), from Q(1/2) or Q(1))."""
    if degrees < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {degrees}")
    y = max(statistic, 0.0) / 2
    s, q = (1.0, math.exp(-y)) if degrees % 2 == 0 else (0.5, math.erfc(math.sqrt(y)))
    while s < degrees / 2:
        q += math.exp(s * math.log(y) - y - math.lgamma(s + 1)) if y > 0 else 0.0
        s += 1
    return min(q, 1.0)


def uniform_chi_square(counts: Sequence[int]) -> tuple[float, float]:
    """Pearson's statistic of `counts` against an even split, and its p-value."""
    total = sum(counts)
    if len(counts) < 2 or total == 0:
        raise ValueError(f"an even split needs at least two cells and one observation, got {list(counts)}")
    expected = total / len(counts)
    statistic = sum((count - expected) ** 2 / expected for count in counts)
    return statistic, chi_square_sf(statistic, len(counts) - 1)
