"""Pooling: the jackknife and the bootstrap for conditional mean imputation, Rubin's rules for multiple
imputation.

* Jackknife (Wolbers et al. 2022, rbmi ``method_condmean(type = "jackknife")``): the estimate of the full
  data; standard error ``sqrt((n - 1) / n * sum_i (theta_(-i) - mean theta_(-i))^2)``; normal interval and
  p-value.
* Bootstrap (rbmi ``type = "bootstrap"``): the full-data estimate; normal interval from the standard deviation
  of the bootstrap estimates, or the percentile interval.
* Rubin's rules with the Barnard & Rubin (1999) degrees of freedom (as R ``mice::pool.scalar``):
  ``T = U + (1 + 1/m) B``, ``lambda = (1 + 1/m) B / T``, ``nu_old = (m - 1) / lambda^2``,
  ``nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lambda)``, ``nu = nu_old nu_obs / (nu_old + nu_obs)``,
  with ``lambda`` floored at 1e-4 as mice does.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["Pooled", "jackknife", "bootstrap", "rubin"]


class Pooled:
    """Estimates with standard errors, df (``inf``: normal), confidence limits and p-values (arrays)."""

    def __init__(self, estimate, se, df, lower, upper, p):
        self.estimate, self.se, self.df, self.lower, self.upper, self.p = estimate, se, df, lower, upper, p


def _normal(est, se, level):
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * special.ndtr(-np.abs(est / se))
    return Pooled(est, se, np.full_like(est, np.inf), est - z * se, est + z * se, p)


def jackknife(full: np.ndarray, leave_one_out: np.ndarray, level: float = 0.95) -> Pooled:
    """``leave_one_out``: (n, q) estimates without each subject in turn."""
    n = leave_one_out.shape[0]
    dev = leave_one_out - leave_one_out.mean(axis=0)
    se = np.sqrt((n - 1) / n * (dev**2).sum(axis=0))
    return _normal(full, se, level)


def bootstrap(full: np.ndarray, samples: np.ndarray, level: float = 0.95, kind: str = "normal") -> Pooled:
    """``samples``: (B, q) estimates on bootstrap samples; ``kind`` ``normal`` or ``percentile``."""
    se = samples.std(axis=0, ddof=1)
    if kind == "normal":
        return _normal(full, se, level)
    a = (1 - level) / 2
    lower, upper = np.quantile(samples, [a, 1 - a], axis=0)
    # percentile p-value: twice the smaller share of bootstrap estimates on either side of 0
    share = np.minimum((samples <= 0).mean(axis=0), (samples >= 0).mean(axis=0))
    p = np.minimum(1.0, 2 * np.maximum(share, 1 / samples.shape[0]))
    return Pooled(full, se, np.full_like(full, np.inf), lower, upper, p)


def rubin(estimates: np.ndarray, variances: np.ndarray, df_complete: np.ndarray, level: float = 0.95) -> Pooled:
    """Rubin's rules on (m, q) estimates and their variances, with the complete-data df (q,)."""
    m = estimates.shape[0]
    q = estimates.mean(axis=0)
    u = variances.mean(axis=0)
    b = estimates.var(axis=0, ddof=1) if m > 1 else np.zeros_like(q)
    t = u + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        # lambda floored at 1e-4 as mice does (no infinite df when the imputations agree)
        lam = np.maximum(np.where(t > 0, (1 + 1 / m) * b / t, 0.0), 1e-4)
        nu_old = (m - 1) / lam**2
        nu_com = np.asarray(df_complete, float)
        nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lam)
        df = np.where(np.isinf(nu_com), nu_old, nu_old * nu_obs / (nu_old + nu_obs))
        se = np.sqrt(t)
        tq = special.stdtrit(df, 0.5 + level / 2)
        p = 2 * special.stdtr(df, -np.abs(q / se))
    return Pooled(q, se, df, q - tq * se, q + tq * se, p)
