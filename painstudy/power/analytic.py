"""Analytic power of the MMRM (Lu, Luo & Chen 2008), the formula behind R longpower's ``power.mmrm``.

With monotone dropout, ``r_j`` the fraction of an arm still observed at post-baseline visit ``j`` (``r_1 >=
r_2 >= ...``) and ``p_j = r_j - r_{j+1}`` (``r_{J+1} = 0``) the fraction whose last visit is ``j``, one subject
of the arm carries the information ``I = sum_j p_j P_j' S_j^{-1} P_j`` about the arm's means at the visits,
where ``S_j`` is the covariance of the first ``j`` visits and ``P_j`` selects them. The variance of the
estimated difference between arms a and b at visit ``k`` is ``[I_a^{-1}]_kk / n_a + [I_b^{-1}]_kk / n_b``;
with a correlation matrix and a common SD this is longpower's ``(phi_a / n_a + phi_b / n_b) sigma^2``. Power
(two-sided): ``Phi(|delta| / se - z_{1 - alpha/2})`` (the normal approximation of Lu et al.; the far tail is
left out, as longpower does).

For a design (:func:`analytic_power`) the covariance is that of the post-baseline visits given the baseline
when the analysis adjusts for it (the MMRM and the ANCOVA of painstudy do), plus the site variance (every
subject's shared site effect) and the spread of each arm's effect over the conditions (the effect
modifiers); the ANCOVA uses only the subjects measured at the visit (``se^2 = S_kk / (n_a r_ak) + ...``).

Examples
--------
>>> import numpy as np
>>> R = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
>>> round(mmrm_power(0.5, 100, R, [1, 0.9, 0.8, 0.7]), 4)
0.8517
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.design import Design, DesignError

__all__ = [
    "information",
    "phi",
    "unit_variance",
    "critical_value",
    "mmrm_power",
    "mmrm_sample_size",
    "analytic_power",
    "design_covariances",
]


def information(covariance, retention) -> np.ndarray:
    """One subject's information about the visit means: ``sum_j p_j P_j' S_j^{-1} P_j`` (J x J)."""
    S = np.asarray(covariance, float)
    r = np.asarray(retention, float)
    J = len(r)
    if S.shape != (J, J):
        raise DesignError(f"covariance is {S.shape}, expected ({J}, {J}) for {J} visits of retention")
    if r[0] <= 0 or np.any(np.diff(r) > 1e-12) or np.any(r < 0) or r[0] > 1:
        raise DesignError(f"retention must decrease from at most 1 and stay >= 0, got {r.tolist()}")
    p = r - np.r_[r[1:], 0.0]
    info = np.zeros((J, J))
    for j in range(J):
        if p[j] > 0:
            info[: j + 1, : j + 1] += p[j] * np.linalg.inv(S[: j + 1, : j + 1])
    return info


def phi(covariance, retention, visit: int = -1) -> float:
    """Variance of one subject's contribution to the mean at ``visit`` (``[I^{-1}]_kk``); with a
    correlation matrix, longpower's ``phi``."""
    return float(np.linalg.inv(information(covariance, retention))[visit, visit])


def unit_variance(covariance, retention, covariance_b=None, retention_b=None, allocation=(1.0, 1.0), visit=-1):
    """``n_per_arm`` times the variance of the difference between arms a and b at ``visit``:
    ``phi_a / allocation_a + phi_b / allocation_b`` (arm b's covariance and retention default to a's)."""
    phi_b = phi(
        covariance if covariance_b is None else covariance_b, retention if retention_b is None else retention_b, visit
    )
    return phi(covariance, retention, visit) / allocation[0] + phi_b / allocation[1]


def critical_value(alpha: float, alternative: str) -> float:
    """``z_{1 - alpha / 2}`` (two-sided) or ``z_{1 - alpha}`` (one-sided)."""
    sides = {"two.sided": 2, "one.sided": 1}.get(alternative)
    if sides is None:
        raise DesignError(f"alternative must be 'two.sided' or 'one.sided', got {alternative!r}")
    return float(stats.norm.ppf(1 - alpha / sides))


def mmrm_power(
    delta: float,
    n_per_arm: float,
    covariance,
    retention: Sequence[float],
    *,
    covariance_b=None,
    retention_b: Sequence[float] | None = None,
    allocation: tuple[float, float] = (1.0, 1.0),
    alpha: float = 0.05,
    visit: int = -1,
    alternative: str = "two.sided",
) -> float:
    """Power to detect a difference ``delta`` between two arms at ``visit`` by an MMRM (Lu, Luo & Chen 2008).

    ``n_per_arm`` times ``allocation`` subjects per arm (arm a, then b); ``covariance`` over the
    post-baseline visits (a correlation matrix gives power for ``delta`` in SD units); ``retention`` the
    fraction observed at each visit; arm b's covariance and retention default to arm a's.
    """
    se = np.sqrt(unit_variance(covariance, retention, covariance_b, retention_b, allocation, visit) / n_per_arm)
    return float(stats.norm.cdf(abs(delta) / se - critical_value(alpha, alternative)))


def mmrm_sample_size(delta: float, power: float, covariance, retention: Sequence[float], **options) -> float:
    """The (fractional) ``n_per_arm`` at which :func:`mmrm_power` (same ``options``) equals ``power``;
    round it up."""
    alpha, alternative = options.pop("alpha", 0.05), options.pop("alternative", "two.sided")
    v = unit_variance(covariance, retention, **options)
    z = critical_value(alpha, alternative) + stats.norm.ppf(power)
    return float(v * z**2 / delta**2)


def design_covariances(design: Design) -> list[np.ndarray]:
    """Per arm, the covariance of the post-baseline visits the analysis works with: given the baseline,
    plus the site variance and the spread of the arm's effect over the conditions."""
    S = design.covariance + design.site_sd**2
    out = []
    m = design.modifiers
    p = design.condition_probability
    for g in range(len(design.arms)):
        var_m = float(p @ (m[g] - p @ m[g]) ** 2)
        e = design.effects[g]
        Sg = S + var_m * np.outer(e, e)
        cond = Sg[1:, 1:] - np.outer(Sg[1:, 0], Sg[0, 1:]) / Sg[0, 0]
        out.append(cond)
    return out


def analytic_power(design: Design, n_per_arm: Sequence[int] | int, alpha: float = 0.05) -> pd.DataFrame:
    """Analytic power of each comparison with the control arm at the analysis visit, per ``n_per_arm``
    (normal approximation, no multiplicity adjustment; for responders the difference in rates with the
    unpooled binomial variance).

    Columns ``n_per_arm, comparison, effect, std_error, analytic_power``.
    """
    from painstudy.power.trials import arm_sizes

    k = design.visits.index(design.analysis_visit) - 1
    covs = design_covariances(design)
    ret = design.retention()[:, 1:]
    effect = np.r_[0.0, list(design.true_effects().values())]
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for n in np.atleast_1d(n_per_arm):
        sizes = arm_sizes(design, int(n))
        if design.analysis == "responders":
            rates = design.responder_rates()
            v = [rates[g] * (1 - rates[g]) / sizes[g] for g in range(len(design.arms))]
        elif design.analysis == "ancova":
            v = [covs[g][k, k] / (sizes[g] * ret[g, k]) for g in range(len(design.arms))]
        else:
            v = [phi(covs[g], ret[g], k) / sizes[g] for g in range(len(design.arms))]
        for g in range(1, len(design.arms)):
            se = float(np.sqrt(v[0] + v[g]))
            rows.append(
                {
                    "n_per_arm": int(n),
                    "comparison": design.arms[g],
                    "effect": float(effect[g]),
                    "std_error": se,
                    "analytic_power": float(stats.norm.cdf(abs(effect[g]) / se - z)),
                }
            )
    return pd.DataFrame(rows, columns=["n_per_arm", "comparison", "effect", "std_error", "analytic_power"])
