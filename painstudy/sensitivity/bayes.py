"""Bayesian multiple imputation: draws of the imputation model's parameters from their posterior by MCMC.

rbmi's ``method_bayes`` samples the posterior of the MMRM with Stan; here a Gibbs sampler with data
augmentation does it with numpy alone (Schafer 1997, ch. 5-6; Tanner & Wong 1987), under the prior
``p(beta, Sigma) ∝ |Sigma|^-(T+1)/2`` (flat on the coefficients, Jeffreys on each covariance matrix):

1. **I-step**: every missing (or set-aside) outcome drawn from its normal distribution given the subject's
   available outcomes, under the subject's own arm (MAR: the imputation model is fitted as if missing at
   random; the strategies act afterwards, when the data are imputed for analysis);
2. **P-step**: each covariance matrix drawn from its inverse Wishart given the completed residuals
   (``IW(n_g, E_g' E_g)``), then the coefficients from their normal distribution given the covariances
   (the generalised least squares estimate and ``(sum_i X_i' Sigma^-1 X_i)^-1``).

The chain starts at the REML fit; after ``burn_in`` iterations every ``thin``-th draw is kept. One chain,
its random numbers from its own ``numpy.random.SeedSequence`` child, so the draws do not depend on the
executor. The effective sample size of the kept draws (from their lag-1 autocorrelation) is reported.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from painstudy.errors import ModelError
from painstudy.sensitivity.impute import impute
from painstudy.sensitivity.model import ImputationModel, Parameters

__all__ = ["gibbs_draws", "effective_size"]


def gibbs_draws(
    model: ImputationModel,
    start: Parameters,
    n_samples: int,
    *,
    burn_in: int = 200,
    thin: int = 10,
    seed: np.random.SeedSequence,
    progress=None,
) -> tuple[Parameters, ...]:
    """``n_samples`` draws of the posterior of the imputation model, from a chain started at ``start``."""
    if burn_in < 0 or thin < 1:
        raise ModelError(f"burn_in={burn_in!r} and thin={thin!r}: use burn_in >= 0 and thin >= 1")
    wide = model.wide
    n, T = wide.n, wide.T
    X = model.X_own.reshape(n, T, -1)  # subject x visit x coefficient
    p = X.shape[2]
    group = model.own_group
    G = len(model.groups)
    members = [np.flatnonzero(group == g) for g in range(G)]
    for g, rows in enumerate(members):
        if len(rows) < T + 1:
            raise ModelError(
                f"Bayesian imputation: {len(rows)} subjects in covariance group {g + 1} for {T} visits; at least "
                f"{T + 1} are needed"
            )
    y = wide.y.copy()
    y[~model.avail] = np.nan  # outcomes set aside after a non-MAR event are imputed, as missing ones
    rng = np.random.default_rng(seed)
    beta = np.asarray(start.beta, float)
    sigmas = np.array(start.sigma, float).reshape(G, T, T)
    kept: list[Parameters] = []
    total = burn_in + n_samples * thin
    for it in range(total):
        mu = X @ beta  # (n, T)
        Y = impute(y, mu, (group, sigmas), rng=rng)
        E = Y - mu
        for g, rows in enumerate(members):
            S = E[rows].T @ E[rows]
            sigmas[g] = stats.invwishart.rvs(df=len(rows), scale=S, random_state=rng)
        A = np.zeros((p, p))
        b = np.zeros(p)
        for g, rows in enumerate(members):
            W = np.linalg.inv(sigmas[g])
            Xg = X[rows]
            A += np.einsum("itp,ts,isq->pq", Xg, W, Xg, optimize=True)
            b += np.einsum("itp,ts,is->p", Xg, W, Y[rows], optimize=True)
        try:
            chol = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            raise ModelError("Bayesian imputation: the coefficients' precision matrix is singular") from None
        mean = np.linalg.solve(A, b)
        beta = mean + np.linalg.solve(chol.T, rng.standard_normal(p))  # covariance A^-1
        if it >= burn_in and (it - burn_in + 1) % thin == 0:
            kept.append(Parameters(beta.copy(), sigmas.copy(), True))
        if progress is not None:
            progress(1)
    return tuple(kept)


def effective_size(draws: np.ndarray) -> float:
    """The smallest effective sample size over the columns of ``draws`` (kept draws x parameters), from the
    lag-1 autocorrelation (an AR(1) chain: ``m (1 - r) / (1 + r)``)."""
    d = np.asarray(draws, float)
    m = d.shape[0]
    if m < 3:
        return float(m)
    c = d - d.mean(axis=0)
    var = (c**2).sum(axis=0)
    ok = var > 0
    if not ok.any():
        return float(m)
    r = (c[1:, ok] * c[:-1, ok]).sum(axis=0) / var[ok]
    r = np.clip(r, -0.99, 0.99)
    return float(np.min(m * (1 - r) / (1 + r)))
