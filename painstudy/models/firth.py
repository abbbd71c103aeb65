"""Firth's penalised-likelihood logistic regression, with profile penalised-likelihood intervals.

Maximum likelihood logistic regression has no finite estimate when the data are separated (an
arm in which every patient, or no patient, responds): the optimiser walks off to a log odds
ratio of about +-30 with a standard error of about 1e6. Firth (1993) adds half the log
determinant of the Fisher information to the log-likelihood,

    l*(b) = sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + 1/2 log det(X' W X),  W = diag(p(1 - p)),

whose maximum is always finite and whose estimates have less small-sample bias (Heinze and
Schemper 2002). As in R's logistf (its defaults ``pl = TRUE``):

- estimates maximise l* (Newton-Raphson on the modified score ``X'(y - p + h (1/2 - p))``, h the
  diagonal of the hat matrix, with step halving);
- ``std_error`` is the square root of the diagonal of ``(X' W X)^-1`` at the estimate;
- confidence limits are where the profile penalised log-likelihood falls by
  ``chi2_1(conf_level) / 2``, the other coefficients maximised with the full-model penalty;
- p values are penalised likelihood-ratio tests of each coefficient being 0 (1 df).

logistf is not packaged for Debian; the reference values in ``tests/reference/firth_reference.R``
come from an independent implementation written there (``optim`` on l*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from painstudy.errors import ModelError

__all__ = ["FirthFit", "firth_logit", "penalized_loglik"]


@dataclass(frozen=True)
class FirthFit:
    """Estimates of :func:`firth_logit` (arrays in the order of the design's columns)."""

    params: np.ndarray
    bse: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    chi2: np.ndarray
    p_values: np.ndarray
    loglik: float
    iterations: int


def penalized_loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """Firth's penalised log-likelihood ``l(b) + 1/2 log det(X'WX)`` of a logistic model."""
    eta = X @ beta
    ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    p = _expit(eta)
    sign, logdet = np.linalg.slogdet((X * (p * (1 - p))[:, None]).T @ X)
    return ll + 0.5 * logdet if sign > 0 else -np.inf


def _expit(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * eta))  # overflow-free logistic function


def _fit(
    X: np.ndarray,
    y: np.ndarray,
    beta: np.ndarray,
    free: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 200,
    max_step: float = 5.0,
) -> tuple[np.ndarray, float, int]:
    """Maximise l* over the coefficients ``free`` (the others stay as in ``beta``)."""
    beta = beta.astype(float).copy()
    cur = penalized_loglik(X, y, beta)
    for it in range(1, max_iter + 1):
        p = _expit(X @ beta)
        w = p * (1 - p)
        info = (X * w[:, None]).T @ X
        try:
            inv = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            raise ModelError("Firth logistic model: the design is singular") from None
        h = np.einsum("ij,jk,ik->i", X * np.sqrt(w)[:, None], inv, X * np.sqrt(w)[:, None])
        score = X.T @ (y - p + h * (0.5 - p))
        sub = np.ix_(free, free)
        step = np.zeros_like(beta)
        step[free] = np.linalg.solve(info[sub], score[free])
        big = np.max(np.abs(step))
        if big > max_step:
            step *= max_step / big
        for _ in range(60):  # step halving until l* does not decrease
            new = penalized_loglik(X, y, beta + step)
            if new >= cur - 1e-12:
                break
            step /= 2
        beta += step
        cur = penalized_loglik(X, y, beta)
        if np.max(np.abs(step)) < tol and np.max(np.abs(score[free])) < 1e-8:
            return beta, cur, it
    raise ModelError(f"Firth logistic model did not converge in {max_iter} iterations")


def firth_logit(X: np.ndarray, y: np.ndarray, *, conf_level: float = 0.95) -> FirthFit:
    """Fit a logistic model by Firth's penalised likelihood (see the module documentation).

    Parameters
    ----------
    X : array (n, p)
        Design matrix (with its intercept column).
    y : array (n,)
        0/1 response.
    conf_level : float, default 0.95

    Returns
    -------
    FirthFit

    Examples
    --------
    >>> X = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1]])
    >>> fit = firth_logit(X, np.array([1, 1, 0, 0, 0, 0, 0, 0]))  # arm 2: no responder
    >>> # a 2 x 2 table: Firth adds 1/2 to every cell, log(0.5 / 4.5) - log(2.5 / 2.5) = -2.1972
    >>> bool(np.isfinite(fit.params).all()), round(float(fit.params[1]), 4)
    (True, -2.1972)
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, k = X.shape
    everything = np.ones(k, bool)
    beta, lmax, its = _fit(X, y, np.zeros(k), everything)
    p = _expit(X @ beta)
    cov = np.linalg.inv((X * (p * (1 - p))[:, None]).T @ X)
    bse = np.sqrt(np.diag(cov))
    crit = stats.chi2.ppf(conf_level, 1)
    lo, hi, chi2 = np.empty(k), np.empty(k), np.empty(k)
    for j in range(k):
        free = everything.copy()
        free[j] = False

        def profile(b: float, j=j, free=free) -> float:
            start = beta.copy()
            start[j] = b
            return 2 * (lmax - _fit(X, y, start, free)[1])

        chi2[j] = max(profile(0.0), 0.0)
        lo[j] = _limit(profile, beta[j], -bse[j], crit)
        hi[j] = _limit(profile, beta[j], bse[j], crit)
    return FirthFit(
        params=beta,
        bse=bse,
        ci_lower=lo,
        ci_upper=hi,
        chi2=chi2,
        p_values=stats.chi2.sf(chi2, 1),
        loglik=lmax,
        iterations=its,
    )


def _limit(profile, estimate: float, step: float, crit: float) -> float:
    """Where ``profile`` (0 at the estimate) reaches ``crit``, searching in the direction of ``step``
    (doubling the distance until it is passed); infinite when it is not within 2^40 steps."""
    a = estimate
    for k in range(40):
        b = estimate + step * 2.0**k
        if profile(b) > crit:
            return float(optimize.brentq(lambda x: profile(x) - crit, a, b, xtol=1e-10, rtol=1e-12))
        a = b
    return float(np.copysign(np.inf, step))
