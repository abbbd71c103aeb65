"""The historical single imputations, for comparison only: LOCF, BOCF and WOCF.

Pain trials used to report them; they understate uncertainty (one imputed value is treated as observed)
and their assumptions are rarely plausible (Cai et al., Pain 2020). They are computed here so that a
report can show them beside the principled analyses, each labelled as a single imputation.

* ``LOCF``: the last observed value carried forward (the baseline when there is none after it);
* ``BOCF``: the baseline carried forward to every missing visit;
* ``WOCF``: the worst value observed so far (baseline included) carried forward.

The completed data are analysed by the same ANCOVA per visit as the imputations, with its model-based
standard errors and residual df.
"""

from __future__ import annotations

import numpy as np

from painstudy.errors import ModelError
from painstudy.sensitivity.pool import Pooled

__all__ = ["LEGACY", "carry_forward", "single_imputation"]

LEGACY = ("LOCF", "BOCF", "WOCF")


def carry_forward(y: np.ndarray, baseline: np.ndarray, how: str, higher_is_worse: bool = True) -> np.ndarray:
    """``y`` (n, T) completed by ``how`` from the subjects' ``baseline`` values (n,)."""
    how = how.upper()
    if how not in LEGACY:
        raise ModelError(f"single imputation {how!r}: use one of {', '.join(LEGACY)}")
    if np.isnan(baseline).any():
        raise ModelError(f"{how}: {int(np.isnan(baseline).sum())} subject(s) have no baseline value to carry forward")
    n, T = y.shape
    out = y.copy()
    if how == "BOCF":
        return np.where(np.isnan(y), baseline[:, None], y)
    last = baseline.copy()
    for t in range(T):
        obs = ~np.isnan(y[:, t])
        if how == "LOCF":
            last = np.where(obs, y[:, t], last)
        else:  # WOCF: the worst so far
            worse = np.fmax if higher_is_worse else np.fmin
            last = np.where(obs, worse(last, y[:, t]), last)
        out[:, t] = np.where(obs, y[:, t], last)
    return out


def single_imputation(design, y: np.ndarray, baseline: np.ndarray, how: str, higher_is_worse: bool, level: float):
    """The ANCOVA per visit of the data completed by ``how`` (estimates with t intervals)."""
    from scipy import special

    est, var, df = design.estimates(carry_forward(y, baseline, how, higher_is_worse))
    se = np.sqrt(var)
    tq = special.stdtrit(df, 0.5 + level / 2)
    p = 2 * special.stdtr(df, -np.abs(est / se))
    return Pooled(est, se, df, est - tq * se, est + tq * se, p)
