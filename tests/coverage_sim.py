"""Trials simulated with known truth for the coverage study of reference-based imputation
(tests/test_sensitivity_coverage.py).

Two arms (``control``, ``active``), three post-baseline visits, a baseline covariate, unstructured
within-subject covariance. Subjects drop out after visit t with a probability that rises with their observed
outcome at t (missing at random given the observed data; monotone). After dropout the outcomes follow

- ``"MAR"``: the subject's own arm (the imputation model of MAR is then correct);
- ``"JR"``: jump to reference, as rbmi defines it: the conditional distribution given the observed outcomes
  with the reference (control) arm's mean at the missing visits and the own arm's mean at the observed ones.

The estimand is the difference in mean outcome at the last visit (active - control) of the outcomes so
generated; its true value is computed from one million simulated subjects per arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

T = 3
VISITS = ("v1", "v2", "v3")
MEAN = {"control": np.array([-0.5, -1.0, -1.2]), "active": np.array([-1.0, -2.0, -2.6])}
SLOPE = 0.5  # on the centred baseline
SD = np.array([1.6, 1.9, 2.2])
CORR = np.array([[1.0, 0.6, 0.45], [0.6, 1.0, 0.6], [0.45, 0.6, 1.0]])
SIGMA = CORR * np.outer(SD, SD)
#: dropout after visit t (t = 1, 2): logistic in the outcome at t (higher = worse = more dropout)
DROP_INTERCEPT, DROP_SLOPE = -1.8, 0.35


def _arm(rng, n: int, arm: str, mechanism: str):
    base = rng.normal(0.0, 1.5, n)
    mu_own = MEAN[arm][None, :] + SLOPE * base[:, None]
    mu_ref = MEAN["control"][None, :] + SLOPE * base[:, None]
    y = mu_own + rng.multivariate_normal(np.zeros(T), SIGMA, n)
    # dropout after visit 1 or 2, depending on the value observed there
    last = np.full(n, T - 1)
    for t in (0, 1):
        p = 1.0 / (1.0 + np.exp(-(DROP_INTERCEPT + DROP_SLOPE * (y[:, t] - MEAN["control"][t]))))
        out = (last == T - 1) & (rng.random(n) < p)
        last[out] = t
    if mechanism == "JR" and arm != "control":
        for t in (0, 1):
            who = last == t
            if not who.any():
                continue
            o, m = np.arange(t + 1), np.arange(t + 1, T)
            A = SIGMA[np.ix_(m, o)] @ np.linalg.inv(SIGMA[np.ix_(o, o)])
            cmean = mu_ref[np.ix_(who, m)] + (y[np.ix_(who, o)] - mu_own[np.ix_(who, o)]) @ A.T
            ccov = SIGMA[np.ix_(m, m)] - A @ SIGMA[np.ix_(o, m)]
            y[np.ix_(who, m)] = cmean + rng.multivariate_normal(np.zeros(len(m)), ccov, int(who.sum()))
    return base, y, last


def true_effect(mechanism: str, seed: int = 99, n: int = 1_000_000) -> float:
    """The estimand: mean outcome at the last visit, active - control, under ``mechanism``."""
    rng = np.random.default_rng(seed)
    means = {arm: _arm(rng, n, arm, mechanism)[1][:, -1].mean() for arm in ("control", "active")}
    return float(means["active"] - means["control"])


def trial(seed: int, n_per_arm: int, mechanism: str) -> pd.DataFrame:
    """One trial as long data (``PATIENT, ARM, VISIT, BASE, Y``; rows after dropout left out)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arm in ("control", "active"):
        base, y, last = _arm(rng, n_per_arm, arm, mechanism)
        for i in range(n_per_arm):
            for t in range(last[i] + 1):
                rows.append((f"{arm[0]}{i:04d}", arm, VISITS[t], base[i], y[i, t]))
    d = pd.DataFrame(rows, columns=["PATIENT", "ARM", "VISIT", "BASE", "Y"])
    return d.assign(VISIT=pd.Categorical(d["VISIT"], categories=VISITS))


FORMULA = "Y ~ BASE * VISIT + ARM * VISIT + us(VISIT | PATIENT)"


def run_trial(args: tuple) -> tuple[float, float, float]:
    """``(seed, n_per_arm, mechanism, strategy, method, n_samples)`` -> estimate, CI lower and upper at the
    last visit (active - control), by reference-based imputation of the simulated trial."""
    from painstudy.sensitivity import reference_based

    seed, n_per_arm, mechanism, strategy, method, n_samples = args
    d = trial(seed, n_per_arm, mechanism)
    res = reference_based(
        d,
        FORMULA,
        arm="ARM",
        reference="control",
        control="control",
        covariates=["BASE"],
        strategy=strategy,
        method=method,
        n_samples=n_samples,
        seed=seed,
        executor=None,
    )
    r = res.effects().iloc[-1]
    return float(r["estimate"]), float(r["ci_lower"]), float(r["ci_upper"])
