"""Imputation under a strategy: each subject's mean vector, then the conditional mean or a random draw.

For a subject with event at visit ``e`` (Carpenter, Roger & Kenward 2013; rbmi's definitions with one
covariance matrix shared by the arms):

* ``MAR``: the mean of the subject's own arm at every visit;
* ``JR`` (jump to reference): own arm before ``e``, the reference arm's mean from ``e`` on;
* ``CR`` (copy reference): the reference arm's mean at every visit, observed ones included;
* ``CIR`` (copy increments in reference): own arm before ``e``; from ``e`` on the own mean at ``e - 1`` plus the
  reference's change since ``e - 1`` (the reference's mean when the event precedes the first visit);
* ``LMCF`` (last mean carried forward): own arm before ``e``, its mean at ``e - 1`` after.

With a covariance matrix per arm (rbmi's ``same_cov = FALSE``), a subject's matrix follows its strategy too
(:func:`strategy_covariances`): its own arm's under MAR and LMCF, the reference arm's under CR, and under JR
and CIR the matrix of Carpenter et al. (2013) that keeps the own arm's covariance before the event and the
reference arm's regression of the later visits on the earlier ones.

Missing values are then imputed given the subject's available outcomes: ``mu_M + S_MO S_OO^-1 (y_O - mu_O)``
(conditional mean imputation, Wolbers et al. 2022), or a draw from that normal distribution with covariance
``S_MM - S_MO S_OO^-1 S_OM`` (multiple imputation).  A delta is added to values imputed at or after an event.
"""

from __future__ import annotations

import numpy as np

from painstudy.errors import ModelError

__all__ = ["strategy_means", "strategy_covariances", "impute"]


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


def strategy_covariances(
    sigmas: np.ndarray, own: np.ndarray, ref: np.ndarray, ice: np.ndarray, strategy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The covariance matrix of every subject under its strategy: ``(key, matrices)``, subject ``i`` using
    ``matrices[key[i]]``. ``sigmas`` (G, T, T): one matrix per group (G = 1: shared by the arms); ``own`` and
    ``ref``: each subject's group and its reference's."""
    sigmas = np.asarray(sigmas, float)
    if sigmas.ndim == 2:
        sigmas = sigmas[None]
    n, T = len(ice), sigmas.shape[-1]
    if len(sigmas) == 1:
        return np.zeros(n, np.int64), sigmas
    index: dict[tuple, int] = {}
    mats: list[np.ndarray] = []
    key = np.empty(n, np.int64)
    for i in range(n):
        s, e, g, r = strategy[i], int(ice[i]), int(own[i]), int(ref[i])
        if s in ("MAR", "LMCF") or e >= T or g == r:
            k = ("group", g)
        elif s == "CR" or e == 0:
            k = ("group", r)
        else:  # JR, CIR: Carpenter, Roger & Kenward (2013)
            k = ("switch", g, r, e)
        if k not in index:
            index[k] = len(mats)
            if k[0] == "group":
                mats.append(sigmas[k[1]])
            else:
                own_s, ref_s = sigmas[g], sigmas[r]
                A = np.linalg.solve(ref_s[:e, :e], ref_s[:e, e:])  # the reference's regression of later visits
                M = np.empty((T, T))
                M[:e, :e] = own_s[:e, :e]
                M[:e, e:] = own_s[:e, :e] @ A
                M[e:, :e] = M[:e, e:].T
                M[e:, e:] = ref_s[e:, e:] - A.T @ (ref_s[:e, :e] - own_s[:e, :e]) @ A
                mats.append(M)
        key[i] = index[k]
    return key, np.array(mats)


def impute(
    y: np.ndarray,
    mu: np.ndarray,
    sigma,
    rng: np.random.Generator | None = None,
    delta: np.ndarray | None = None,
) -> np.ndarray:
    """``y`` with its missing values imputed: conditional means, or draws when ``rng`` is given; plus
    ``delta`` (n, T) where imputed. ``sigma``: one covariance matrix (T, T), or ``(key, matrices)`` per
    subject (:func:`strategy_covariances`)."""
    n, T = y.shape
    avail = ~np.isnan(y)
    out = y.copy()
    if isinstance(sigma, tuple):
        which, mats = sigma
    else:
        which, mats = np.zeros(n, np.int64), np.asarray(sigma)[None]
    key = (avail * (1 << np.arange(T))).sum(axis=1) + (which << T)
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        o = avail[rows[0]]
        m = ~o
        if not m.any():
            continue
        sigma = mats[which[rows[0]]]
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
