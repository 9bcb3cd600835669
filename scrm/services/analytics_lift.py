"""Confidence intervals for conversion rates: Wilson's score interval of one proportion and Newcombe's
hybrid score interval of the difference of two (Newcombe 1998, "Interval estimation for the difference
between independent proportions", method 10)."""

from __future__ import annotations

import math


def wilson(x: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of x successes in n trials (0..1); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = x / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    return max(0.0, (centre - spread) / denom), min(1.0, (centre + spread) / denom)


def diff_interval(x1: int, n1: int, x2: int, n2: int, z: float = 1.96) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p1 - p2 (x1/n1 minus x2/n2), as proportions (-1..1)."""
    if n1 <= 0 or n2 <= 0:
        return -1.0, 1.0
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high
