"""Regression models of time to improvement: Cox proportional hazards with the test of
proportional hazards, and the grouped-time (discrete-time) proportional hazards model on
person-period data.

Both take :class:`~painstudy.improvement.ImprovementData`, compare every arm with a reference arm
and adjust for covariates of the improvement table; the design is built by
:func:`painstudy.models.design.design_matrix`. A covariate name that is not in the table is an
error listing the available ones; terms left out (constant, collinear) and subjects left out
(missing covariates) are named in the result's notes. A model whose estimates are infinite (an
arm in which nobody improved: monotone likelihood, separation) is refused with a
:class:`ModelError` saying so, never returned with a meaningless standard error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.design import (
    design_matrix,
    drop_collinear,
    drop_constant,
    normal_quantile,
    separated_terms,
    warnings_as_notes,
)

from .common import arms_present, check_data, empty_arm_notes, km_curve
from .results import CoxResult, DiscreteTimeResult

__all__ = ["cox_ph", "cox_zph", "person_period", "discrete_time_ph", "model_frame", "covariate_columns"]

#: A fitted log hazard ratio beyond this size, with a standard error beyond DIVERGED_SE, is the
#: optimiser walking off to infinity (monotone likelihood), not an estimate.
DIVERGED_ESTIMATE = 15.0
DIVERGED_SE = 100.0
#: Time transforms of the proportional-hazards test (R ``cox.zph`` transform).
PH_TRANSFORMS = ("km", "rank", "identity", "log")


def covariate_columns(data: ImprovementData, covariates: Sequence[str]) -> dict[str, str]:
    """Covariate name -> column of ``data.table`` (``baseline`` and ``<outcome>_baseline`` are the
    baseline score); an unknown name is a :class:`ModelError` listing the available ones."""
    if isinstance(covariates, str):
        covariates = [covariates]
    out: dict[str, str] = {}
    tab = data.table
    for c in covariates:
        col = "baseline" if c in ("baseline", f"{data.outcome}_baseline") else c
        if col not in tab.columns or c in ("subject", "arm", "time", "event", "status"):
            avail = ["baseline", *[v for v in data.covariates if v != "baseline"]]
            raise ModelError(f"unknown covariate {c!r}: not a column of the improvement table of "
                             f"{data.outcome!r}; available: {', '.join(avail)}")
        out[c] = col
    return out


def model_frame(data: ImprovementData, covariates: Sequence[str], reference: str | None):
    """Rows, design (arm indicators against ``reference`` + covariates), reference and notes.

    Constant and collinear terms are left out and subjects with a missing covariate are left out,
    each named in the notes.
    """
    tab = data.table
    arms = arms_present(data)
    reference = data.reference if reference is None else reference
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} has no subjects; arms with subjects: {arms}")
    cols = covariate_columns(data, covariates)
    frame = tab[["arm"]].copy()
    for name, col in cols.items():
        frame[name] = tab[col]
    X = design_matrix(frame, ["arm", *cols], intercept=None, reference={"arm": reference})
    notes = list(empty_arm_notes(data))
    X, const = drop_constant(X)
    if const:
        notes.append(f"term(s) constant in these data, left out: {', '.join(const)}")
    if X.shape[1]:
        X, collinear = drop_collinear(X.assign(_one=1.0)[["_one", *X.columns]])
        X = X.drop(columns="_one")
        if collinear:
            notes.append(f"term(s) collinear with earlier terms, left out: {', '.join(collinear)}")
    miss = X.isna().any(axis=1)
    if miss.any():
        notes.append(f"{int(miss.sum())} subject(s) with a missing covariate left out of the model "
                     f"(first: {tab.loc[miss, 'subject'].iloc[0]!r})")
    return tab.loc[~miss], X.loc[~miss], reference, notes


def _check_events_per_arm(tab: pd.DataFrame, reference: str, model: str) -> None:
    """Refuse a model when an arm has no improvement: its hazard ratio is 0 or infinite."""
    counts = tab.groupby(tab["arm"].astype(str))["event"].agg(["sum", "size"])
    counts = counts.loc[counts["size"] > 0]
    none = [a for a in counts.index if counts.loc[a, "sum"] == 0]
    if none:
        detail = ", ".join(f"{a!r} (0 of {int(counts.loc[a, 'size'])})" for a in none)
        raise ModelError(
            f"{model}: no subject improved in arm(s) {detail}, so the hazard ratio against {reference!r} "
            f"is 0 or infinite (monotone likelihood) and cannot be estimated; compare the arms with the "
            f"log-rank test and the Kaplan-Meier curves, or leave the arm out")


def _coef_table(est, se, terms, z) -> pd.DataFrame:
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    stat = est / se
    out = pd.DataFrame({"term": list(terms), "estimate": est, "std_error": se, "statistic": stat,
                        "p_value": 2 * stats.norm.sf(np.abs(stat)),
                        "ci_lower": est - z * se, "ci_upper": est + z * se})
    with np.errstate(over="ignore"):
        out["hazard_ratio"] = np.exp(out["estimate"])
        out["hr_ci_lower"] = np.exp(out["ci_lower"])
        out["hr_ci_upper"] = np.exp(out["ci_upper"])
    return out


def cox_ph(
    data: ImprovementData,
    *,
    covariates: Sequence[str] = (),
    reference: str | None = None,
    conf_level: float = 0.95,
    ph_transform: str = "km",
) -> CoxResult:
    """Cox proportional hazards model of time to improvement (Efron ties).

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, default ()
        Columns of ``data.table`` to adjust for (``"baseline"`` for the baseline score; strings
        and categoricals are dummy-coded against their first level).
    reference : str, optional
        Reference arm (default ``data.reference``).
    conf_level : float, default 0.95
    ph_transform : {"km", "rank", "identity", "log"}, default "km"
        Time transform of the scaled-Schoenfeld test (R ``cox.zph``'s default is ``"km"``).

    Returns
    -------
    CoxResult
        Hazard ratios > 1 mean faster improvement than the reference.

    Notes
    -----
    Fitted with lifelines' ``CoxPHFitter`` (Efron's tie handling, as R ``coxph``'s default).
    The PH test is :func:`cox_zph`, the score test of R survival >= 3.0's ``cox.zph`` (lifelines'
    ``proportional_hazard_test`` implements the older approximate version and gives different
    numbers).

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 5 + ["b"] * 5,
    ...                   "time": [4, 4, 8, 12, 12, 8, 12, 12, 12, 4],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0, 1, 0]})
    >>> fit = cox_ph(ImprovementData.from_table(t))
    >>> fit.table[["term", "hazard_ratio"]].round(3)  # R coxph: exp(coef) 0.3710
         term  hazard_ratio
    0  arm[b]         0.371
    """
    from lifelines import CoxPHFitter

    data = check_data(data)
    z = normal_quantile(conf_level)
    if ph_transform not in PH_TRANSFORMS:
        raise ModelError(f"ph_transform must be one of {', '.join(map(repr, PH_TRANSFORMS))}, "
                         f"got {ph_transform!r}")
    tab, X, reference, notes = model_frame(data, covariates, reference)
    if X.shape[1] == 0:
        raise ModelError("Cox model: no terms (one arm only and no varying covariates)")
    if int(tab["event"].sum()) == 0:
        raise ModelError("Cox model: no subject improved, so there is nothing to fit")
    _check_events_per_arm(tab, reference, "Cox model")
    names = list(X.columns)
    safe = [f"x{i}" for i in range(len(names))]
    df = X.set_axis(safe, axis=1).assign(_time=tab["time"].to_numpy(float),
                                         _event=tab["event"].to_numpy(int))
    cph = CoxPHFitter()
    with warnings_as_notes(notes, "Cox model: "):
        try:
            cph.fit(df, duration_col="_time", event_col="_event",
                    fit_options={"precision": 1e-10, "max_steps": 200})
        except Exception as exc:  # lifelines raises ConvergenceError on separation
            raise ModelError(f"Cox model: could not be fitted ({exc})") from None
    s = cph.summary
    est, se = s["coef"].to_numpy(float), s["se(coef)"].to_numpy(float)
    _check_diverged(names, est, se, "Cox model", "monotone likelihood")
    table = _coef_table(est, se, names, z)
    try:
        ph_table = cox_zph(X.to_numpy(float), tab["time"].to_numpy(float),
                           tab["event"].to_numpy(int), est, names, transform=ph_transform)
    except (np.linalg.LinAlgError, ValueError) as exc:  # report instead of failing the fit
        ph_table = pd.DataFrame({"term": names + ["GLOBAL"], "statistic": np.nan, "df": 1,
                                 "p_value": np.nan, "transform": ph_transform})
        notes.append(f"the proportional-hazards test could not be computed ({exc})")
    return CoxResult(table=table, ph_test=ph_table, n=len(df), events=int(df["_event"].sum()),
                     log_likelihood=float(cph.log_likelihood_),
                     concordance=float(cph.concordance_index_), reference=reference,
                     notes=tuple(notes))


def _check_diverged(names: Sequence[str], est: np.ndarray, se: np.ndarray, model: str, why: str) -> None:
    bad = [n for n, b, e in zip(names, est, se)
           if not (np.isfinite(b) and np.isfinite(e)) or (abs(b) > DIVERGED_ESTIMATE and e > DIVERGED_SE)]
    if bad:
        raise ModelError(f"{model}: the estimates of {', '.join(bad)} run off to infinity ({why}); no finite "
                         f"hazard ratio exists for these data; leave the term out or compare arms with the "
                         f"log-rank test")


def cox_zph(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    beta: np.ndarray,
    names: Sequence[str],
    *,
    transform: str = "km",
) -> pd.DataFrame:
    """Test of proportional hazards from scaled Schoenfeld residuals (as R ``cox.zph``).

    The score test, at the fitted coefficients, of adding ``x * g(t)`` for each covariate
    (Grambsch & Therneau 1994), with the full information matrix of the extended model and
    Efron's tie handling -- the computation of R survival >= 3.0's ``cox.zph(fit, transform,
    terms = FALSE)``. ``g(t)`` is the transformed event time centred on its mean over events.

    Returns
    -------
    DataFrame
        ``term, statistic, df, p_value, transform``; one row per coefficient plus ``GLOBAL``.
    """
    X = np.asarray(X, float)
    time = np.asarray(time, float)
    ev = np.asarray(event, int) == 1
    beta = np.asarray(beta, float)
    n, p = X.shape
    if transform == "km":
        cur = km_curve(time, ev.astype(int))
        ct, cs = cur["time"].to_numpy(), cur["estimate"].to_numpy()
        idx = np.searchsorted(ct, time, side="left") - 1
        ttimes = 1 - np.where(idx >= 0, cs[np.clip(idx, 0, None)], 1.0)
    elif transform == "rank":
        ttimes = stats.rankdata(time)
    elif transform == "identity":
        ttimes = time.copy()
    elif transform == "log":
        ttimes = np.log(time)
    else:
        raise ModelError(f"ph_transform must be one of {', '.join(map(repr, PH_TRANSFORMS))}, got {transform!r}")
    g_all = ttimes - ttimes[ev].mean()
    eta = X @ beta
    w = np.exp(eta - eta.max())
    U = np.zeros(2 * p)
    info = np.zeros((2 * p, 2 * p))
    for t in np.unique(time[ev]):
        R = time >= t
        D = ev & (time == t)
        d = int(D.sum())
        g = float(g_all[D][0])
        wR, XR, wD, XD = w[R], X[R], w[D], X[D]
        s0R, s1R, s2R = wR.sum(), wR @ XR, (XR * wR[:, None]).T @ XR
        s0D, s1D, s2D = wD.sum(), wD @ XD, (XD * wD[:, None]).T @ XD
        u = XD.sum(axis=0)
        ix = np.zeros((p, p))
        for r in range(d):
            f = r / d
            s0 = s0R - f * s0D
            m = (s1R - f * s1D) / s0
            u = u - m
            ix += (s2R - f * s2D) / s0 - np.outer(m, m)
        U[:p] += u
        U[p:] += g * u
        info[:p, :p] += ix
        info[:p, p:] += g * ix
        info[p:, :p] += g * ix
        info[p:, p:] += g * g * ix
    rows = []
    for j in range(p):
        kk = list(range(p)) + [p + j]
        uu = np.concatenate([np.zeros(p), [U[p + j]]])
        stat = float(uu @ np.linalg.solve(info[np.ix_(kk, kk)], uu))
        rows.append((names[j], stat, 1))
    uu = np.concatenate([np.zeros(p), U[p:]])
    rows.append(("GLOBAL", float(uu @ np.linalg.solve(info, uu)), p))
    out = pd.DataFrame(rows, columns=["term", "statistic", "df"])
    out["p_value"] = stats.chi2.sf(out["statistic"], out["df"])
    out["transform"] = transform
    return out


# =============================================================================== discrete time
def person_period(data: ImprovementData, grid: Sequence[float] | None = None) -> pd.DataFrame:
    """Person-period rows: one per subject per visit interval at risk.

    Each subject contributes a row for every scheduled visit week up to and including its
    ``time``; ``y = 1`` on the row of the visit where improvement was first seen. An
    improvement seen after a missed visit is attributed to the visit where it was seen.

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a", "b"], "time": [8.0, 4.0], "event": [1, 0]})
    >>> person_period(ImprovementData.from_table(t, visit_weeks=[4, 8]))[["subject", "period", "y"]]
      subject  period  y
    0       0     4.0  0
    1       0     8.0  1
    2       1     4.0  0
    """
    data = check_data(data)
    rows, periods, y = _person_period_rows(data, grid)
    tab = data.table
    out = tab.iloc[rows].reset_index(drop=True)
    out.insert(1, "period", periods)
    out.insert(2, "y", y)
    return out[["subject", "period", "y"] + [c for c in out.columns
                                             if c not in ("subject", "period", "y")]]


def _person_period_rows(data: ImprovementData, grid: Sequence[float] | None):
    """Positions in ``data.table``, periods and 0/1 improvement of the person-period rows."""
    try:
        grid = np.asarray(sorted(set(float(g) for g in (data.visit_weeks if grid is None else grid))))
    except (TypeError, ValueError):
        raise ModelError(f"grid must be visit weeks (numbers), got {grid!r}") from None
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ModelError(f"grid must be one or more positive visit weeks, got {list(grid)}")
    tab = data.table
    time = tab["time"].to_numpy(float)
    event = tab["event"].to_numpy(int)
    off = (event == 1) & ~np.isin(np.round(time, 9), np.round(grid, 9))
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ModelError(f"subject {tab['subject'].iloc[i]!r} improved at week {time[i]:g}, which is not a "
                         f"visit week of the grid {[float(g) for g in grid]}; {int(off.sum())} improvement(s) "
                         f"off the grid (give visit_weeks, or grid=, that include every improvement time)")
    counts = (grid[None, :] <= time[:, None] + 1e-9).sum(axis=1)
    rows = np.repeat(np.arange(len(tab)), counts)
    periods = np.concatenate([grid[:k] for k in counts]) if len(tab) else np.array([])
    y = ((event[rows] == 1) & (np.abs(periods - time[rows]) < 1e-9)).astype(int)
    return rows, periods, y


def discrete_time_ph(
    data: ImprovementData,
    *,
    covariates: Sequence[str] = (),
    reference: str | None = None,
    conf_level: float = 0.95,
) -> DiscreteTimeResult:
    """Grouped-time proportional hazards model (Prentice-Gloeckler) for visit-based timing.

    A binomial GLM with complementary log-log link on person-period data, one intercept per
    visit interval (no intercept otherwise); ``exp`` of an arm coefficient is the hazard ratio of
    the underlying continuous-time PH model.

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, default ()
    reference : str, optional
    conf_level : float, default 0.95

    Returns
    -------
    DiscreteTimeResult

    Notes
    -----
    Intervals in which nobody improved are left out (their hazard estimate is 0, on the
    boundary); this does not change the other estimates.
    """
    import statsmodels.api as sm

    data = check_data(data)
    z = normal_quantile(conf_level)
    tab, X, reference, notes = model_frame(data, covariates, reference)
    rows, periods, y = _person_period_rows(data.replace(table=tab), None)
    ev_periods = sorted(set(periods[y == 1]))
    if not ev_periods:
        raise ModelError("discrete-time model: no subject improved, so there is nothing to fit")
    _check_events_per_arm(tab, reference, "discrete-time model")
    keep = np.isin(periods, ev_periods)
    rows, periods, y = rows[keep], periods[keep], y[keep]
    Xp = X.iloc[rows].reset_index(drop=True)
    P = pd.DataFrame({f"period[{p:g}]": (periods == p).astype(float) for p in ev_periods})
    design = pd.concat([P, Xp], axis=1)
    separated = separated_terms(design, y)
    if separated:
        raise ModelError(f"discrete-time model: the estimates of {', '.join(separated)} are infinite "
                         f"(complete or quasi-complete separation: these terms predict improvement or its "
                         f"absence perfectly); leave them out or compare arms with the log-rank test")
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    with warnings_as_notes(notes, "discrete-time model: "):
        fit = sm.GLM(y.astype(float), design.to_numpy(float), family=fam).fit(tol=1e-12, maxiter=200)
    est, se = np.asarray(fit.params), np.asarray(fit.bse)
    _check_diverged(list(design.columns), est, se, "discrete-time model", "separation")
    table = _coef_table(est, se, design.columns, z)
    return DiscreteTimeResult(table=table, n_subjects=int(len(set(rows))),
                              n_rows=len(y), events=int(y.sum()),
                              deviance=float(fit.deviance), reference=reference, notes=tuple(notes))
