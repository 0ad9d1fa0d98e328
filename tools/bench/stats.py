"""Small statistics for noisy machines: medians, nearest-rank percentiles, paired ratios."""

from __future__ import annotations

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
