"""A model of the daily values themselves: the random-coefficient LMM with an AR(1) residual over days.

``daily_lmm(data)`` fits, by REML,

    value ~ arm * day + covariates + (1 + day | subject) + ar1(day | subject)

a random intercept and slope in day per subject (correlated), fixed effects of arm, day and their
interaction (each arm's mean daily change against the reference arm's), and residuals correlated within a
subject as ``phi ^ |day_i - day_j|``: the model of R ``nlme::lme(value ~ arm * day, random = ~ 1 + day |
subject, correlation = corAR1(form = ~ day | subject))``. Missing days are simply absent rows: the lag is
the difference in study days, not in rows (the AR(1) structure runs over every day of the period, so a gap of
three days has correlation ``phi^3``).

It runs on :func:`painstudy.lmm` (the residual structure ``ar1(visit | subject)`` over the days of the
period as ordered levels); checked against nlme in ``tests/test_diary_lmm.py`` (fixed effects, standard
errors, variance components, ``phi`` and the log-likelihood; ``tests/reference/diary_lmm_reference.R``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(5)
>>> rows = [(f"s{i}", "B" if i % 2 else "A", d) for i in range(30) for d in range(14) if rng.random() < 0.8]
>>> data = pd.DataFrame(rows, columns=["subject", "arm", "day"])
>>> level = data["subject"].map(dict(zip(data["subject"].unique(), rng.normal(0, 1, 30))))
>>> data["value"] = 6 + level - 0.1 * data["day"] * (data["arm"] == "B") + rng.normal(0, 1, len(data))
>>> fit = daily_lmm(data, random_slope=False)
>>> round(float(fit.coefficients.loc["armB:day", "estimate"]), 1)
-0.1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.mixed.lmm import LMMResult, lmm

__all__ = ["daily_lmm", "DAILY_RESIDUALS"]

#: Residual structures of :func:`daily_lmm`: AR(1) over days, or independent days.
DAILY_RESIDUALS = ("ar1", "independent")


def daily_lmm(
    data: pd.DataFrame,
    *,
    outcome: str = "value",
    subject: str = "subject",
    arm: str = "arm",
    time: str = "day",
    covariates: Sequence[str] = (),
    residual: str = "ar1",
    random_slope: bool = True,
    reml: bool = True,
    df: str = "satterthwaite",
    control: dict | None = None,
) -> LMMResult:
    """Fit the random-coefficient model of daily values with an AR(1) residual over days.

    Parameters
    ----------
    data : DataFrame
        One row per subject and reported day (e.g. :func:`painstudy.diary.daily_frame`): the outcome, the
        subject, the arm (a Categorical's first category, else the first arm in sorted order, is the
        reference) and the study day (whole numbers).
    outcome, subject, arm, time : str
        The columns.
    covariates : sequence of str
        Further fixed effects (e.g. the baseline run-in mean, ``age``).
    residual : {"ar1", "independent"}
        AR(1) correlation of the residuals of a subject over days (``phi ^ |lag in days|``), or independent.
    random_slope : bool
        A random slope in day per subject beside the random intercept (correlated), else the intercept only.
    reml, df, control
        As :func:`painstudy.lmm`.

    Returns
    -------
    LMMResult
        ``arm{B}:day`` is arm B's mean daily change minus the reference arm's; ``varcorr`` holds the random
        effects, the residual variance and ``AR(1)`` (phi).

    Raises
    ------
    ModelError
        A day that is not a whole number, a subject with two rows on one day, an unknown residual.
    """
    if residual not in DAILY_RESIDUALS:
        raise ModelError(f"residual={residual!r} is not known; use one of {', '.join(DAILY_RESIDUALS)}")
    cols = [outcome, subject, arm, time, *covariates]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ModelError(f"data has no column(s) {', '.join(map(repr, missing))} (columns: {list(data.columns)})")
    d = data[list(dict.fromkeys(cols))].copy()
    day = pd.to_numeric(d[time], errors="coerce")
    if day.isna().any() or (day != day.round()).any():
        bad = d.loc[day.isna() | (day != day.round()), time].iloc[0]
        raise ModelError(f"column {time!r}: study days must be whole numbers, found {bad!r}")
    d[time] = day.astype(float)
    d = d.rename(columns={time: "day"}) if time != "day" else d
    if "day" in covariates:
        raise ModelError("'day' is the time of the model; name a covariate otherwise")
    lo, hi = int(d["day"].min()), int(d["day"].max())
    random = "(1 + day | subject)" if random_slope else "(1 | subject)"
    terms = f"{arm} * day" + "".join(f" + {c}" for c in covariates)
    formula = f"{outcome} ~ {terms} + {random.replace('subject', subject)}"
    if residual == "ar1":
        d["day_level"] = pd.Categorical(d["day"].astype(int), categories=np.arange(lo, hi + 1), ordered=True)
        formula += f" + ar1(day_level | {subject})"
    return lmm(formula, d, reml=reml, df=df, control=control)
