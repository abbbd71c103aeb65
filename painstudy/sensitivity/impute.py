"""Imputation under a strategy: each subject's mean vector, then the conditional mean or a random draw.

For a subject with event at visit ``e`` (Carpenter, Roger & Kenward 2013; rbmi's definitions with one
covariance matrix shared by the arms):

* ``MAR``: the mean of the subject's own arm at every visit;
* ``JR`` (jump to reference): own arm before ``e``, the reference arm's mean from ``e`` on;
* ``CR`` (copy reference): the reference arm's mean at every visit, observed ones included;
* ``CIR`` (copy increments in reference): own arm before ``e``; from ``e`` on the own mean at ``e - 1`` plus the
  reference's change since ``e - 1`` (the reference's mean when the event precedes the first visit);
* ``LMCF`` (last mean carried forward): own arm before ``e``, its mean at ``e - 1`` after.

Missing values are then imputed given the subject's available outcomes: ``mu_M + S_MO S_OO^-1 (y_O - mu_O)``
(conditional mean imputation, Wolbers et al. 2022), or a draw from that normal distribution with covariance
``S_MM - S_MO S_OO^-1 S_OM`` (multiple imputation).  A delta is added to values imputed at or after an event.
"""

from __future__ import annotations

import numpy as np

from painstudy.errors import ModelError

__all__ = ["strategy_means", "impute"]


def strategy_means(mu_own: np.ndarray, mu_ref: np.ndarray, ice: np.ndarray, strategy: np.ndarray) -> np.ndarray:
    """The mean vector of every subject under its strategy (n, T)."""
    n, T = mu_own.shape
    mu = mu_own.copy()
    after = np.arange(T)[None, :] >= ice[:, None]
    rows = np.arange(n)
    last = np.clip(ice - 1, 0, T - 1)
    for s in ("JR", "CR", "CIR", "LMCF"):
        sel = strategy == s
        if not sel.any():
            continue
        if s == "JR":
            m = sel[:, None] & after
            mu[m] = mu_ref[m]
        elif s == "CR":
            mu[sel] = mu_ref[sel]
        elif s == "CIR":
            m = sel[:, None] & after
            early = sel & (ice == 0)
            shifted = mu_own[rows, last][:, None] + mu_ref - mu_ref[rows, last][:, None]
            mu[m] = shifted[m]
            mu[early] = mu_ref[early]
        else:  # LMCF
            if np.any(sel & (ice == 0)):
                raise ModelError(
                    "strategy LMCF: a subject's event precedes the first visit, so there is no mean to carry "
                    "forward; use JR, CR or CIR for such subjects"
                )
            m = sel[:, None] & after
            carried = np.broadcast_to(mu_own[rows, last][:, None], mu.shape)
            mu[m] = carried[m]
    return mu


def impute(
    y: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator | None = None,
    delta: np.ndarray | None = None,
) -> np.ndarray:
    """``y`` with its missing values imputed: conditional means, or draws when ``rng`` is given; plus
    ``delta`` (n, T) where imputed."""
    n, T = y.shape
    avail = ~np.isnan(y)
    out = y.copy()
    key = (avail * (1 << np.arange(T))).sum(axis=1)
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        o = avail[rows[0]]
        m = ~o
        if not m.any():
            continue
        mean = mu[np.ix_(rows, m)].copy()
        S_mm = sigma[np.ix_(m, m)]
        if o.any():
            S_oo, S_mo = sigma[np.ix_(o, o)], sigma[np.ix_(m, o)]
            K = np.linalg.solve(S_oo, S_mo.T).T  # S_mo S_oo^-1
            mean += (y[np.ix_(rows, o)] - mu[np.ix_(rows, o)]) @ K.T
            cond = S_mm - K @ S_mo.T
        else:
            cond = S_mm
        if rng is not None:
            L = np.linalg.cholesky(0.5 * (cond + cond.T))
            mean += rng.standard_normal((len(rows), int(m.sum()))) @ L.T
        out[np.ix_(rows, m)] = mean
    if delta is not None:
        out = np.where(avail, out, out + delta)
    return out
