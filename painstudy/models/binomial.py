"""Intervals for binomial proportions and their differences: Wilson's score interval and Newcombe's
hybrid score interval (method 10), as R's ``prop.test(correct = FALSE)`` and ``DescTools::BinomDiffCI``
compute them. Used by the responder analyses and the trial reproductions."""

from __future__ import annotations

import numpy as np

from .design import normal_quantile

__all__ = ["wilson_interval", "newcombe_interval"]


def wilson_interval(x: np.ndarray, n: np.ndarray, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([87]), np.array([161]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)  # R: prop.test(87, 161, correct = FALSE)
    (0.4633, 0.6155)
    """
    x = np.asarray(x, float)
    n = np.asarray(n, float)
    z = normal_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exactly 0 with no responders and 1 with all (rounding would leave 1e-17 outside the estimate)
    lo = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi


def newcombe_interval(x1, n1, x2, n2, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for p1 - p2.

    Examples
    --------
    >>> lo, hi = newcombe_interval(87, 161, 45, 140)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.107, 0.3228)
    """
    l1, u1 = wilson_interval(np.asarray(x1), np.asarray(n1), conf_level)
    l2, u2 = wilson_interval(np.asarray(x2), np.asarray(n2), conf_level)
    p1 = np.asarray(x1, float) / np.asarray(n1, float)
    p2 = np.asarray(x2, float) / np.asarray(n2, float)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi
