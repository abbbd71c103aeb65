"""Time-to-improvement analyses on :class:`~painstudy.improvement.ImprovementData`.

Every function takes the event data returned by :func:`painstudy.time_to_improvement` (or
:meth:`ImprovementData.from_table`) and returns an immutable result holding tidy DataFrames:

- :func:`kaplan_meier` -- Kaplan-Meier per arm, Greenwood standard errors, confidence bands with
  R's default ``log`` transform (``conf_type="log-log"`` and ``"plain"`` also available), medians
  with confidence intervals by R's ``quantile.survfit`` rule, and the at-risk table;
- :func:`logrank` -- overall k-sample log-rank test and pairwise tests with Holm or Bonferroni
  adjustment;
- :func:`cox_ph` -- Cox proportional hazards (Efron ties, as R's ``coxph``), hazard ratios of each
  arm against the reference, adjusted for covariates, with the scaled-Schoenfeld test of
  proportional hazards reported in the result;
- :func:`discrete_time_ph` -- grouped-time proportional hazards (Prentice-Gloeckler):
  complementary log-log binomial GLM on person-period data, one intercept per visit interval;
- :func:`turnbull` -- the nonparametric maximum likelihood estimate for interval-censored times
  (self-consistency EM on Turnbull's innermost intervals);
- :func:`rmst` -- restricted mean time without improvement per arm up to a horizon, and the
  difference from the reference arm;
- :func:`cumulative_incidence` -- Aalen-Johansen cumulative incidence of improvement with dropout
  as a competing event;
- :func:`analyze_improvement` -- all of the above at once (used by ``painstudy fit improvement``).

Times are in weeks. For time *to improvement* the "survival" function is the probability of not
yet having improved; a shorter median and a hazard ratio above 1 mean faster improvement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from itertools import combinations
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.improvement import ImprovementData
from ._tidy import TidyResult

__all__ = [
    "KaplanMeierResult", "LogRankResult", "CoxResult", "DiscreteTimeResult", "TurnbullResult",
    "RMSTResult", "CumulativeIncidenceResult", "ImprovementAnalysis",
    "kaplan_meier", "logrank", "cox_ph", "discrete_time_ph", "turnbull", "rmst",
    "cumulative_incidence", "analyze_improvement", "person_period", "cox_zph",
]


# =============================================================================== results

class _TidyResult(TidyResult):
    """Shared rendering: every DataFrame attribute becomes an HTML table."""


@dataclass(frozen=True, repr=False)
class KaplanMeierResult(_TidyResult):
    """Kaplan-Meier estimates per arm.

    Attributes
    ----------
    survival : DataFrame
        ``arm, time, n_risk, n_event, n_censor, estimate, std_error, ci_lower, ci_upper`` --
        ``estimate`` is the probability of not yet having improved at ``time`` (right-continuous
        step function; one row per distinct time, plus time 0), ``std_error`` the Greenwood
        standard error of the cumulative hazard (as R's ``survfit`` ``std.err``).
    medians : DataFrame
        ``arm, n, events, median, ci_lower, ci_upper`` (NaN when not reached).
    at_risk : DataFrame
        ``arm, time, n_risk, n_improved, n_censored`` at the scheduled visit weeks (cumulative
        counts of improvements and censorings up to and including ``time``).
    conf_level, conf_type : float, str
    """

    survival: pd.DataFrame
    medians: pd.DataFrame
    at_risk: pd.DataFrame
    conf_level: float = 0.95
    conf_type: str = "log"
    _title = "Kaplan-Meier: time to improvement"

    def __repr__(self) -> str:
        return f"KaplanMeierResult(conf_type={self.conf_type!r})\n{self.medians.to_string(index=False)}"


@dataclass(frozen=True, repr=False)
class LogRankResult(_TidyResult):
    """Log-rank tests: ``overall`` (k-sample) and ``pairwise`` (each pair, adjusted p values).

    ``overall`` columns: ``statistic, df, p_value``; ``pairwise`` columns: ``arm, reference,
    statistic, df, p_value, p_adjusted, adjust``.
    """

    overall: pd.DataFrame
    pairwise: pd.DataFrame
    adjust: str = "holm"
    _title = "Log-rank tests"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class CoxResult(_TidyResult):
    """Cox proportional hazards model (Efron ties).

    Attributes
    ----------
    table : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper, hazard_ratio,
        hr_ci_lower, hr_ci_upper`` (``estimate`` = log hazard ratio; arm terms are named
        ``arm[<name>]`` and compare with the reference arm).
    ph_test : DataFrame
        Scaled-Schoenfeld test of proportional hazards per term and ``GLOBAL`` (``term,
        statistic, df, p_value, transform``), computed as R's ``cox.zph``; small p values cast
        doubt on a constant hazard ratio.
    n, events : int
    log_likelihood : float
    concordance : float
    reference : str
    """

    table: pd.DataFrame
    ph_test: pd.DataFrame
    n: int = 0
    events: int = 0
    log_likelihood: float = float("nan")
    concordance: float = float("nan")
    reference: str = ""
    ties: str = "efron"
    _title = "Cox proportional hazards (time to improvement)"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class DiscreteTimeResult(_TidyResult):
    """Grouped-time PH model (cloglog GLM on person-period data).

    ``table`` columns: ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper,
    hazard_ratio, hr_ci_lower, hr_ci_upper`` (interval terms ``period[<week>]`` are the
    cloglog of the baseline hazard in each visit interval).
    """

    table: pd.DataFrame
    n_subjects: int = 0
    n_rows: int = 0
    events: int = 0
    deviance: float = float("nan")
    reference: str = ""
    _title = "Discrete-time proportional hazards (complementary log-log)"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class TurnbullResult(_TidyResult):
    """Turnbull NPMLE per arm for interval-censored times.

    ``table`` columns: ``arm, left, right, probability, estimate`` -- one row per innermost
    interval ``(left, right]`` carrying mass ``probability``; ``estimate`` is the probability of
    not yet having improved after ``right`` (the NPMLE is not identified inside the interval).
    """

    table: pd.DataFrame
    iterations: int = 0
    converged: bool = True
    _title = "Turnbull NPMLE (interval-censored time to improvement)"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class RMSTResult(_TidyResult):
    """Restricted mean time without improvement up to ``horizon`` weeks.

    ``table``: ``arm, horizon, estimate, std_error, ci_lower, ci_upper``; ``differences``:
    ``arm, reference, estimate, std_error, statistic, p_value, ci_lower, ci_upper`` (negative =
    faster improvement than the reference).
    """

    table: pd.DataFrame
    differences: pd.DataFrame
    horizon: float = float("nan")
    _title = "Restricted mean time without improvement"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class CumulativeIncidenceResult(_TidyResult):
    """Aalen-Johansen cumulative incidence of improvement with dropout as competing event.

    ``table``: ``arm, time, n_risk, n_event, n_competing, n_censor, estimate, std_error,
    ci_lower, ci_upper, competing_estimate`` (``estimate`` = probability of having improved by
    ``time``; ``competing_estimate`` = probability of having dropped out first). Standard errors
    are infinitesimal-jackknife (as R's ``survfit`` for multi-state data); the CI uses the log
    transform.
    """

    table: pd.DataFrame
    conf_level: float = 0.95
    _title = "Cumulative incidence of improvement (dropout competing)"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class ImprovementAnalysis(_TidyResult):
    """All time-to-improvement analyses for one :class:`ImprovementData`."""

    data: ImprovementData
    km: KaplanMeierResult
    logrank: LogRankResult
    cox: CoxResult | None
    rmst: RMSTResult
    discrete: DiscreteTimeResult | None = None
    turnbull: TurnbullResult | None = None
    incidence: CumulativeIncidenceResult | None = None
    _title = "Time to improvement"

    def _frames(self):
        out = [("medians", self.km.medians), ("logrank_overall", self.logrank.overall),
               ("logrank_pairwise", self.logrank.pairwise)]
        if self.cox is not None:
            out += [("cox", self.cox.table), ("ph_test", self.cox.ph_test)]
        out += [("rmst", self.rmst.table), ("rmst_differences", self.rmst.differences)]
        if self.discrete is not None:
            out.append(("discrete_time", self.discrete.table))
        return out

    def _scalars(self):
        d = self.data
        thr = f"{d.threshold:.0%} of baseline" if d.relative else f"{d.threshold:g} points"
        return [("study", d.study), ("outcome", d.outcome), ("threshold", thr),
                ("sustained", d.sustained), ("reference", d.reference), ("subjects", d.n)]

    def __repr__(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        """Plain dict of the tables (records), for JSON output."""
        def rec(df):
            return json_records(df)
        out = {k: v for k, v in self._scalars()}
        for name, df in self._frames():
            out[name] = rec(df)
        out["rmst_horizon"] = self.rmst.horizon
        return out


def json_records(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> list of dicts with NaN/inf as None (valid JSON)."""
    out = []
    for r in df.to_dict(orient="records"):
        clean = {}
        for k, v in r.items():
            if isinstance(v, (float, np.floating)):
                v = float(v)
                clean[k] = v if np.isfinite(v) else None
            elif isinstance(v, (np.integer,)):
                clean[k] = int(v)
            elif isinstance(v, (np.bool_,)):
                clean[k] = bool(v)
            else:
                clean[k] = v if not (v is None or (isinstance(v, float) and np.isnan(v))) else None
        out.append(clean)
    return out


# =============================================================================== helpers
def _check(data: Any) -> ImprovementData:
    if not isinstance(data, ImprovementData):
        raise ModelError(
            f"expected ImprovementData (from painstudy.time_to_improvement or "
            f"ImprovementData.from_table), got {type(data).__name__}")
    if data.n == 0:
        raise ModelError("the improvement data has no subjects")
    return data


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level must be between 0 and 1, got {conf_level!r}")
    return float(stats.norm.ppf(0.5 + conf_level / 2))


def _arms_present(data: ImprovementData) -> list[str]:
    present = set(data.table["arm"].dropna().astype(str))
    return [a for a in data.arms if a in present]


def _km_curve(time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """KM via lifelines: one row per distinct time (and time 0), Greenwood variance of log S."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, event_observed=event)
    et = kmf.event_table
    n = et["at_risk"].to_numpy(float)
    d = et["observed"].to_numpy(float)
    c = et["censored"].to_numpy(float)
    t = et.index.to_numpy(float)
    s = kmf.survival_function_.reindex(et.index).iloc[:, 0].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
    var = np.cumsum(term)
    var[~np.isfinite(var)] = np.nan  # S reached 0: undefined, as R's survfit (NaN)
    keep = (t > 0) | (d > 0) | (c > 0)
    out = pd.DataFrame({"time": t, "n_risk": n.astype(int), "n_event": d.astype(int),
                        "n_censor": c.astype(int), "estimate": s, "std_error": np.sqrt(var)})
    out = out.loc[keep].reset_index(drop=True)
    if out.empty or out["time"].iloc[0] > 0:
        first = pd.DataFrame({"time": [0.0], "n_risk": [len(time)], "n_event": [0],
                              "n_censor": [0], "estimate": [1.0], "std_error": [0.0]})
        out = pd.concat([first, out], ignore_index=True)
    return out


def _bands(est: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Confidence band for S(t) given se of log S (R survfit conventions)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            lo = est * np.exp(-z * se)
            hi = np.minimum(est * np.exp(z * se), 1.0)
        elif conf_type == "log-log":
            ll = np.log(-np.log(est))
            w = z * se / np.log(est)
            lo = np.exp(-np.exp(ll - w))
            hi = np.exp(-np.exp(ll + w))
        elif conf_type == "plain":
            lo = np.maximum(est - z * se * est, 0.0)
            hi = np.minimum(est + z * se * est, 1.0)
        else:
            raise ModelError(f"conf_type must be 'log', 'log-log' or 'plain', got {conf_type!r}")
        bad = ~np.isfinite(se) | (est <= 0)
        lo = np.where(bad, np.nan, lo)
        hi = np.where(bad, np.nan, hi)
        zero = se == 0
        lo = np.where(zero & (est > 0), est, lo)
        hi = np.where(zero & (est > 0), est, hi)
    return lo, hi


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = np.sqrt(np.finfo(float).eps)) -> float:
    """Quantile of a step curve, R ``survival:::findq`` rule (x times, y = 1 - S)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    # drop duplicated y (keep first occurrence; NaN counts as a value), then NaN pairs
    seen: list = []
    keep = np.zeros(len(y), bool)
    for i, v in enumerate(y):
        key = "nan" if np.isnan(v) else v
        if key not in seen:
            seen.append(key)
            keep[i] = True
    x, y = x[keep], y[keep]
    last_y = y[-1]
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]

    def first_at_least(yy):
        idx = np.flatnonzero(yy >= p)
        return idx[0] if idx.size else None

    i1 = first_at_least(y + tol)
    i2 = first_at_least(y - tol)
    q = (x[i1] + x[i2]) / 2 if (i1 is not None and i2 is not None) else float("nan")
    if p == 0:
        q = x[0]
    if not np.isnan(last_y) and abs(p - last_y) < tol and i1 is not None:
        q = (x[i1] + xmax) / 2
    return float(q)


# =============================================================================== Kaplan-Meier
def kaplan_meier(
    data: ImprovementData,
    *,
    conf_level: float = 0.95,
    conf_type: str = "log",
    at_risk_times: Sequence[float] | None = None,
) -> KaplanMeierResult:
    """Kaplan-Meier estimate of the probability of not yet having improved, per arm.

    Parameters
    ----------
    data : ImprovementData
        From :func:`painstudy.time_to_improvement`.
    conf_level : float, default 0.95
    conf_type : {"log", "log-log", "plain"}, default "log"
        Transform for the pointwise confidence band. ``"log"`` is R ``survfit``'s default
        (lifelines' own default is ``"log-log"``, the exponential Greenwood band).
    at_risk_times : sequence of float, optional
        Times of the at-risk table; default: week 0 and the scheduled visit weeks.

    Returns
    -------
    KaplanMeierResult

    Notes
    -----
    The median and its CI follow R's ``quantile.survfit``: the first time the curve (or band)
    reaches 0.5; when the curve is exactly 0.5 over an interval the midpoint is taken.

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "time": [4, 4, 8, 12, 8, 12, 12, 12],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0]})
    >>> km = kaplan_meier(ImprovementData.from_table(t))
    >>> km.medians[["arm", "n", "events", "median", "ci_lower"]]  # R survfit: 6 (4, NA), 12 (8, NA)
      arm  n  events  median  ci_lower
    0   a  4       3     6.0       4.0
    1   b  4       2    12.0       8.0
    """
    data = _check(data)
    z = _z(conf_level)
    tab = data.table
    curves, meds, risk = [], [], []
    if at_risk_times is None:
        at_risk_times = [0.0, *data.visit_weeks]
    at_risk_times = np.asarray(sorted(set(float(t) for t in at_risk_times)))
    for arm in _arms_present(data):
        sub = tab.loc[tab["arm"].astype(str) == arm]
        time = sub["time"].to_numpy(float)
        ev = sub["event"].to_numpy(int)
        cur = _km_curve(time, ev)
        lo, hi = _bands(cur["estimate"].to_numpy(), cur["std_error"].to_numpy(), z, conf_type)
        cur["ci_lower"], cur["ci_upper"] = lo, hi
        cur.insert(0, "arm", arm)
        curves.append(cur)
        x = cur["time"].to_numpy()
        # R prepends (firstx=0, y=0); our curve starts with time 0 (estimate 1) when no
        # event/censoring at 0, which gives the same result
        xs = np.concatenate([[0.0], x])
        med = _findq(xs, np.concatenate([[0.0], 1 - cur["estimate"].to_numpy()]), 0.5)
        mlo = _findq(xs, np.concatenate([[0.0], 1 - lo]), 0.5)
        mhi = _findq(xs, np.concatenate([[0.0], 1 - hi]), 0.5)
        meds.append({"arm": arm, "n": len(sub), "events": int(ev.sum()), "median": med,
                     "ci_lower": mlo, "ci_upper": mhi})
        for t0 in at_risk_times:
            risk.append({"arm": arm, "time": t0, "n_risk": int((time >= t0).sum()) if t0 > 0
                         else len(time),
                         "n_improved": int(((time <= t0) & (ev == 1)).sum()),
                         "n_censored": int(((time <= t0) & (ev == 0)).sum())})
    surv = pd.concat(curves, ignore_index=True)
    surv["arm"] = pd.Categorical(surv["arm"], categories=list(data.arms))
    medians = pd.DataFrame(meds)
    medians["arm"] = pd.Categorical(medians["arm"], categories=list(data.arms))
    at_risk = pd.DataFrame(risk)
    at_risk["arm"] = pd.Categorical(at_risk["arm"], categories=list(data.arms))
    return KaplanMeierResult(survival=surv, medians=medians, at_risk=at_risk,
                             conf_level=conf_level, conf_type=conf_type)


# =============================================================================== log-rank
def _default_pairs(data: ImprovementData, arms: list[str]) -> list[tuple[str, str]]:
    integ = [a for a in arms if data.arm_classes.get(a) == "integrative"]
    single = [a for a in arms if data.arm_classes.get(a) in ("single-modality", "control")]
    if integ and single:
        return [(a, b) for a in integ for b in single]
    ref = data.reference if data.reference in arms else arms[0]
    return [(a, ref) for a in arms if a != ref]


def logrank(
    data: ImprovementData,
    *,
    pairs: str | Sequence[tuple[str, str]] = "auto",
    adjust: str = "holm",
) -> LogRankResult:
    """Log-rank tests: overall across arms, and pairwise with multiplicity adjustment.

    Parameters
    ----------
    data : ImprovementData
    pairs : {"auto", "all", "reference"} or list of (arm, arm), default "auto"
        ``"auto"``: each integrative arm against each single-modality (or control) arm when the
        study has both classes, else each arm against the reference; ``"all"``: every pair;
        ``"reference"``: each arm against the reference.
    adjust : {"holm", "bonferroni", "none"}, default "holm"

    Returns
    -------
    LogRankResult

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "time": [4, 4, 8, 12, 8, 12, 12, 12],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0]})
    >>> round(float(logrank(ImprovementData.from_table(t)).overall["statistic"].iloc[0]), 4)  # R survdiff
    1.2079
    """
    from lifelines.statistics import logrank_test, multivariate_logrank_test
    from statsmodels.stats.multitest import multipletests

    data = _check(data)
    if adjust not in ("holm", "bonferroni", "none"):
        raise ModelError(f"adjust must be 'holm', 'bonferroni' or 'none', got {adjust!r}")
    tab = data.table
    arms = _arms_present(data)
    if len(arms) < 2:
        raise ModelError(f"log-rank needs at least two arms with subjects; found {arms}")
    sub = tab.loc[tab["arm"].astype(str).isin(arms)]
    res = multivariate_logrank_test(sub["time"].to_numpy(float), sub["arm"].astype(str).to_numpy(),
                                    sub["event"].to_numpy(int))
    overall = pd.DataFrame({"statistic": [float(res.test_statistic)],
                            "df": [int(res.degrees_of_freedom)], "p_value": [float(res.p_value)]})
    if isinstance(pairs, str):
        if pairs == "auto":
            plist = _default_pairs(data, arms)
        elif pairs == "all":
            plist = list(combinations(arms, 2))
        elif pairs == "reference":
            plist = [(a, data.reference) for a in arms if a != data.reference]
        else:
            raise ModelError(f"pairs must be 'auto', 'all', 'reference' or a list of arm pairs, "
                             f"got {pairs!r}")
    else:
        plist = [tuple(p) for p in pairs]
    rows = []
    for a, b in plist:
        for x in (a, b):
            if x not in arms:
                raise ModelError(f"arm {x!r} in pairs is not an arm with subjects: {arms}")
        ta = tab.loc[tab["arm"].astype(str) == a]
        tb = tab.loc[tab["arm"].astype(str) == b]
        r = logrank_test(ta["time"].to_numpy(float), tb["time"].to_numpy(float),
                         ta["event"].to_numpy(int), tb["event"].to_numpy(int))
        rows.append({"arm": a, "reference": b, "statistic": float(r.test_statistic), "df": 1,
                     "p_value": float(r.p_value)})
    pw = pd.DataFrame(rows, columns=["arm", "reference", "statistic", "df", "p_value"])
    if len(pw):
        if adjust == "none":
            pw["p_adjusted"] = pw["p_value"]
        else:
            pw["p_adjusted"] = multipletests(pw["p_value"].to_numpy(), method=adjust)[1]
    else:
        pw["p_adjusted"] = []
    pw["adjust"] = adjust
    return LogRankResult(overall=overall, pairwise=pw, adjust=adjust)


# =============================================================================== Cox
def _design(tab: pd.DataFrame, data: ImprovementData, covariates: Sequence[str],
            reference: str) -> pd.DataFrame:
    """Arm indicators (vs reference) + covariates; categorical covariates dummy-coded."""
    arms = _arms_present(data)
    X = pd.DataFrame(index=tab.index)
    for a in arms:
        if a != reference:
            X[f"arm[{a}]"] = (tab["arm"].astype(str) == a).astype(float)
    for c in covariates:
        col = "baseline" if c in ("baseline", f"{data.outcome}_baseline") else c
        if col not in tab.columns:
            raise ModelError(f"covariate {c!r} is not a column of the improvement table; "
                             f"available: {list(data.covariates) + ['baseline']}")
        v = tab[col]
        if pd.api.types.is_bool_dtype(v) or pd.api.types.is_numeric_dtype(v):
            X[c] = v.astype(float)
        else:
            cats = (list(v.cat.categories) if isinstance(v.dtype, pd.CategoricalDtype)
                    else sorted(v.dropna().astype(str).unique()))
            cats = [k for k in cats if (v.astype(str) == str(k)).any()]
            for k in cats[1:]:
                X[f"{c}[{k}]"] = (v.astype(str) == str(k)).astype(float)
    const = [c for c in X.columns if X[c].nunique(dropna=True) <= 1]
    if const:
        X = X.drop(columns=const)
    if X.shape[1]:
        from painstudy.models.responders import drop_collinear

        X, _ = drop_collinear(X.assign(_one=1.0)[["_one", *X.columns]])
        X = X.drop(columns="_one")
    return X


def _model_frame(data: ImprovementData, covariates: Sequence[str], reference: str | None):
    tab = data.table
    arms = _arms_present(data)
    reference = data.reference if reference is None else reference
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} has no subjects; arms: {arms}")
    X = _design(tab, data, covariates, reference)
    miss = X.isna().any(axis=1)
    if miss.any():
        warnings.warn(f"{int(miss.sum())} subject(s) with missing covariates are left out of the "
                      f"model (first: {tab.loc[miss, 'subject'].iloc[0]!r})", UserWarning,
                      stacklevel=3)
    return tab.loc[~miss], X.loc[~miss], reference


def _coef_table(est, se, terms, z) -> pd.DataFrame:
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    stat = est / se
    out = pd.DataFrame({"term": list(terms), "estimate": est, "std_error": se, "statistic": stat,
                        "p_value": 2 * stats.norm.sf(np.abs(stat)),
                        "ci_lower": est - z * se, "ci_upper": est + z * se})
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

    data = _check(data)
    z = _z(conf_level)
    tab, X, reference = _model_frame(data, covariates, reference)
    if X.shape[1] == 0:
        raise ModelError("the Cox model has no terms (one arm only and no varying covariates)")
    if int(tab["event"].sum()) == 0:
        raise ModelError("no subject improved: a Cox model cannot be fitted")
    names = list(X.columns)
    safe = [f"x{i}" for i in range(len(names))]
    df = X.set_axis(safe, axis=1).assign(_time=tab["time"].to_numpy(float),
                                         _event=tab["event"].to_numpy(int))
    cph = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(df, duration_col="_time", event_col="_event",
                    fit_options={"precision": 1e-10, "max_steps": 200})
        except Exception as exc:  # lifelines raises ConvergenceError on separation
            raise ModelError(f"the Cox model could not be fitted: {exc}") from None
    for w in caught:
        if "converge" in str(w.message).lower():
            warnings.warn(f"Cox model: {w.message}", ConvergenceWarning, stacklevel=2)
    s = cph.summary
    table = _coef_table(s["coef"].to_numpy(), s["se(coef)"].to_numpy(), names, z)
    try:
        ph_table = cox_zph(X.to_numpy(float), tab["time"].to_numpy(float),
                           tab["event"].to_numpy(int), s["coef"].to_numpy(float), names,
                           transform=ph_transform)
    except (np.linalg.LinAlgError, ValueError) as exc:  # report instead of failing the fit
        ph_table = pd.DataFrame({"term": names + ["GLOBAL"], "statistic": np.nan, "df": 1,
                                 "p_value": np.nan, "transform": f"failed: {exc}"})
    return CoxResult(table=table, ph_test=ph_table, n=len(df), events=int(df["_event"].sum()),
                     log_likelihood=float(cph.log_likelihood_),
                     concordance=float(cph.concordance_index_), reference=reference)


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
        cur = _km_curve(time, ev.astype(int))
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
        raise ModelError(f"ph_transform must be 'km', 'rank', 'identity' or 'log', got {transform!r}")
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
    data = _check(data)
    grid = np.asarray(sorted(set(float(g) for g in (grid or data.visit_weeks))))
    tab = data.table
    time = tab["time"].to_numpy(float)
    event = tab["event"].to_numpy(int)
    counts = (grid[None, :] <= time[:, None] + 1e-9).sum(axis=1)
    rows = np.repeat(np.arange(len(tab)), counts)
    periods = np.concatenate([grid[:k] for k in counts]) if len(tab) else np.array([])
    y = ((event[rows] == 1) & (np.abs(periods - time[rows]) < 1e-9)).astype(int)
    pp = pd.DataFrame({"_row": tab.index.to_numpy()[rows], "period": periods, "y": y})
    out = tab.loc[pp["_row"]].reset_index(drop=True)
    out.insert(1, "period", pp["period"].to_numpy())
    out.insert(2, "y", pp["y"].to_numpy())
    return out[["subject", "period", "y"] + [c for c in out.columns
                                             if c not in ("subject", "period", "y")]]


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

    data = _check(data)
    z = _z(conf_level)
    tab, X, reference = _model_frame(data, covariates, reference)
    sub = data.replace(table=tab)
    pp = person_period(sub)
    ev_periods = sorted(pp.loc[pp["y"] == 1, "period"].unique())
    if not ev_periods:
        raise ModelError("no subject improved: the discrete-time model cannot be fitted")
    pp = pp.loc[pp["period"].isin(ev_periods)].reset_index(drop=True)
    Xr = X.loc[tab.index].copy()
    Xr.index = tab["subject"].astype(str).to_numpy()
    Xp = Xr.loc[pp["subject"].astype(str)].reset_index(drop=True)
    P = pd.DataFrame({f"period[{p:g}]": (pp["period"] == p).astype(float) for p in ev_periods})
    design = pd.concat([P, Xp], axis=1)
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.GLM(pp["y"].to_numpy(float), design.to_numpy(float), family=fam).fit(
            tol=1e-12, maxiter=200)
    for w in caught:
        if "converge" in str(w.message).lower() or "separation" in str(w.message).lower():
            warnings.warn(f"discrete-time model: {w.message}", ConvergenceWarning, stacklevel=2)
    table = _coef_table(fit.params, fit.bse, design.columns, z)
    return DiscreteTimeResult(table=table, n_subjects=int(pp["subject"].nunique()),
                              n_rows=len(pp), events=int(pp["y"].sum()),
                              deviance=float(fit.deviance), reference=reference)


# =============================================================================== Turnbull
def _turnbull_one(left: np.ndarray, right: np.ndarray, tol: float, max_iter: int):
    """Self-consistency EM. Intervals (left, right]; left == right is an exact time."""
    exact = left == right
    pts = []  # (value, order, kind): order exact-left -1 < right 0 < open-left 1
    for lo, hi, ex in zip(left, right, exact):
        pts.append((lo, -1 if ex else 1, "L"))
        pts.append((hi, 0, "R"))
    pts.sort(key=lambda p: (p[0], p[1]))
    inner = []
    for a, b in zip(pts[:-1], pts[1:]):
        if a[2] == "L" and b[2] == "R":
            inner.append((a[0], b[0]))
    if not inner:
        return pd.DataFrame(columns=["left", "right", "probability", "estimate"]), 0, True
    q = np.array(inner, float)
    # subject i covers innermost j iff left_i <= q_lo_j and q_hi_j <= right_i
    # (for exact obs left_i == q_lo_j == q_hi_j == right_i)
    A = ((left[:, None] <= q[None, :, 0]) & (q[None, :, 1] <= right[:, None])).astype(float)
    A[~exact[:, None] & (left[:, None] == q[None, :, 1]) & (q[None, :, 0] == q[None, :, 1])] = 0.0
    n = len(left)
    p = np.full(len(q), 1.0 / len(q))
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        denom = A @ p
        new = p * (A.T @ (1.0 / denom)) / n
        new /= new.sum()
        if np.max(np.abs(new - p)) < tol:
            p = new
            converged = True
            break
        p = new
    est = 1.0 - np.cumsum(p)
    est[est < 0] = 0.0
    return pd.DataFrame({"left": q[:, 0], "right": q[:, 1], "probability": p,
                         "estimate": est}), it, converged


def turnbull(data: ImprovementData, *, tol: float = 1e-12, max_iter: int = 100_000) -> TurnbullResult:
    """Turnbull nonparametric MLE of the time to improvement, per arm, for interval censoring.

    Each improvement is known only to lie in ``(time_lower, time_upper]``; censored subjects
    contribute ``(time, inf)``. The NPMLE puts mass on Turnbull's innermost intervals; it is
    found with the self-consistency EM algorithm, iterated until no mass changes by more than
    ``tol``.

    Parameters
    ----------
    data : ImprovementData
    tol : float, default 1e-12
    max_iter : int, default 100000

    Returns
    -------
    TurnbullResult

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": "a", "time": [4.0, 8.0, 8.0, 8.0], "event": [1, 1, 0, 0],
    ...                   "time_lower": [0.0, 4.0, 8.0, 8.0],
    ...                   "time_upper": [4.0, 8.0, float("inf"), float("inf")]})
    >>> turnbull(ImprovementData.from_table(t)).table[["left", "right", "estimate"]]
       left  right  estimate
    0   0.0    4.0      0.75
    1   4.0    8.0      0.50
    """
    data = _check(data)
    tab = data.table
    parts, its, conv = [], 0, True
    for arm in _arms_present(data):
        sub = tab.loc[tab["arm"].astype(str) == arm]
        ev = sub["event"].to_numpy(int) == 1
        left = np.where(ev, sub["time_lower"].to_numpy(float), sub["time"].to_numpy(float))
        right = np.where(ev, sub["time_upper"].to_numpy(float), np.inf)
        res, it, ok = _turnbull_one(left, right, tol, max_iter)
        res = res.loc[res["right"] < np.inf] if len(res) else res
        res.insert(0, "arm", arm)
        parts.append(res)
        its = max(its, it)
        conv = conv and ok
    if not conv:
        warnings.warn(f"Turnbull EM did not converge to {tol:g} in {max_iter} iterations",
                      ConvergenceWarning, stacklevel=2)
    table = pd.concat(parts, ignore_index=True)
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return TurnbullResult(table=table, iterations=its, converged=conv)


# =============================================================================== RMST
def _rmst_one(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple[float, float]:
    """Area under KM up to horizon and its Greenwood-type SE (as R print.survfit rmean)."""
    cur = _km_curve(time, event)
    t = cur["time"].to_numpy()
    s = cur["estimate"].to_numpy()
    d = cur["n_event"].to_numpy(float)
    n = cur["n_risk"].to_numpy(float)
    # step function: S = s[k] on [t[k], t[k+1])
    knots = np.concatenate([t[t < horizon], [horizon]])
    svals = s[t < horizon]
    widths = np.diff(knots)
    areas = svals * widths
    est = float(areas.sum())
    # variance: sum over event times t_j < horizon of (area after t_j)^2 d/(n(n-d))
    after = np.cumsum(areas[::-1])[::-1]  # area from knot k to horizon
    tk = t[t < horizon]
    dk, nk = d[: len(tk)], n[: len(tk)]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((dk > 0) & (nk - dk > 0), after ** 2 * dk / (nk * (nk - dk)), 0.0)
    var = float(terms.sum())
    return est, float(np.sqrt(var))


def rmst(
    data: ImprovementData,
    *,
    horizon: float | None = None,
    reference: str | None = None,
    conf_level: float = 0.95,
) -> RMSTResult:
    """Restricted mean time without improvement (area under the KM curve up to ``horizon``).

    Parameters
    ----------
    data : ImprovementData
    horizon : float, optional
        Weeks; default the last scheduled visit.
    reference : str, optional
    conf_level : float, default 0.95

    Returns
    -------
    RMSTResult
        Per-arm estimates (standard errors as R ``print(survfit, rmean = horizon)``) and
        differences from the reference arm (normal approximation, independent arms).

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "time": [4, 4, 8, 12, 8, 12, 12, 12],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0]})
    >>> # R: print(survfit(...), rmean = 12) gives 7 (se 1.658) and 11 (se 0.866)
    >>> rmst(ImprovementData.from_table(t), horizon=12).table[["arm", "estimate", "std_error"]].round(3)
      arm  estimate  std_error
    0   a       7.0      1.658
    1   b      11.0      0.866
    """
    data = _check(data)
    z = _z(conf_level)
    if horizon is None:
        horizon = max(data.visit_weeks) if data.visit_weeks else float(data.table["time"].max())
    horizon = float(horizon)
    if not horizon > 0:
        raise ModelError(f"horizon must be a positive number of weeks, got {horizon!r}")
    reference = data.reference if reference is None else reference
    tab = data.table
    rows = []
    for arm in _arms_present(data):
        sub = tab.loc[tab["arm"].astype(str) == arm]
        est, se = _rmst_one(sub["time"].to_numpy(float), sub["event"].to_numpy(int), horizon)
        rows.append({"arm": arm, "horizon": horizon, "estimate": est, "std_error": se,
                     "ci_lower": est - z * se, "ci_upper": est + z * se})
    table = pd.DataFrame(rows)
    diffs = []
    if reference in set(table["arm"]):
        r = table.set_index("arm").loc[reference]
        for _, a in table.iterrows():
            if a["arm"] == reference:
                continue
            est = a["estimate"] - r["estimate"]
            se = float(np.hypot(a["std_error"], r["std_error"]))
            st = est / se if se > 0 else np.nan
            diffs.append({"arm": a["arm"], "reference": reference, "estimate": est,
                          "std_error": se, "statistic": st,
                          "p_value": 2 * stats.norm.sf(abs(st)) if se > 0 else np.nan,
                          "ci_lower": est - z * se, "ci_upper": est + z * se})
    differences = pd.DataFrame(diffs, columns=["arm", "reference", "estimate", "std_error",
                                               "statistic", "p_value", "ci_lower", "ci_upper"])
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return RMSTResult(table=table, differences=differences, horizon=horizon)


# =============================================================================== Aalen-Johansen
def _aalen_johansen(time: np.ndarray, status: np.ndarray, z: float) -> pd.DataFrame:
    """AJ estimate for cause 1 with cause 2 competing; infinitesimal-jackknife SE."""
    ut = np.unique(time[status > 0]) if np.any(status > 0) else np.array([])
    allt = np.unique(time)
    n_subj = len(time)
    rows = []
    if ut.size == 0:
        return pd.DataFrame({"time": [0.0], "n_risk": [n_subj], "n_event": [0],
                             "n_competing": [0], "n_censor": [0], "estimate": [0.0],
                             "std_error": [0.0], "competing_estimate": [0.0]})
    Y = (time[:, None] >= ut[None, :]).astype(float)         # at risk
    N1 = ((time[:, None] == ut[None, :]) & (status[:, None] == 1)).astype(float)
    N2 = ((time[:, None] == ut[None, :]) & (status[:, None] == 2)).astype(float)
    n = Y.sum(0)
    d1, d2 = N1.sum(0), N2.sum(0)
    h1, h2 = d1 / n, d2 / n
    h = h1 + h2
    S = np.cumprod(1 - h)
    S_prev = np.concatenate([[1.0], S[:-1]])
    F1 = np.cumsum(S_prev * h1)
    F2 = np.cumsum(S_prev * h2)
    # influence of subject i's weight on h_k: (dN_ik - Y_ik h_k)/n_k
    dh1 = (N1 - Y * h1) / n
    dh = (N1 + N2 - Y * h) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        dlogS = np.where(1 - h > 0, -dh / (1 - h), 0.0)
    dlogS_prev = np.concatenate([np.zeros((n_subj, 1)), np.cumsum(dlogS, axis=1)[:, :-1]], axis=1)
    dS_prev = S_prev * dlogS_prev
    dF1 = np.cumsum(dS_prev * h1 + S_prev * dh1, axis=1)
    se = np.sqrt((dF1 ** 2).sum(0))
    ncens = [int(((time == t) & (status == 0)).sum()) for t in ut]
    out = pd.DataFrame({"time": ut, "n_risk": n.astype(int), "n_event": d1.astype(int),
                        "n_competing": d2.astype(int), "n_censor": ncens, "estimate": F1,
                        "std_error": se, "competing_estimate": F2})
    first = pd.DataFrame({"time": [0.0], "n_risk": [n_subj], "n_event": [0], "n_competing": [0],
                          "n_censor": [0], "estimate": [0.0], "std_error": [0.0],
                          "competing_estimate": [0.0]})
    if ut[0] > 0:
        out = pd.concat([first, out], ignore_index=True)
    del allt, rows
    return out


def cumulative_incidence(data: ImprovementData, *, conf_level: float = 0.95) -> CumulativeIncidenceResult:
    """Aalen-Johansen cumulative incidence of improvement, dropout as a competing event.

    Uses ``status`` of the improvement table (1 improved, 2 dropped out without improving,
    0 censored at the end of follow-up). Unlike 1 - KM, which treats dropouts as if they could
    still improve later, this estimates the probability of having improved *while in the study*.

    Parameters
    ----------
    data : ImprovementData
    conf_level : float, default 0.95

    Returns
    -------
    CumulativeIncidenceResult

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": "a", "time": [4.0, 4.0, 8.0, 8.0], "event": [1, 0, 1, 0],
    ...                   "status": [1, 2, 1, 0]})
    >>> cumulative_incidence(ImprovementData.from_table(t)).table[["time", "estimate"]]
       time  estimate
    0   0.0      0.00
    1   4.0      0.25
    2   8.0      0.50
    """
    data = _check(data)
    z = _z(conf_level)
    tab = data.table
    parts = []
    for arm in _arms_present(data):
        sub = tab.loc[tab["arm"].astype(str) == arm]
        cur = _aalen_johansen(sub["time"].to_numpy(float), sub["status"].to_numpy(int), z)
        est, se = cur["estimate"].to_numpy(), cur["std_error"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(est > 0, est * np.exp(-z * se / est), np.nan)
            hi = np.where(est > 0, np.minimum(est * np.exp(z * se / est), 1.0), np.nan)
        cur["ci_lower"], cur["ci_upper"] = lo, hi
        cur.insert(0, "arm", arm)
        parts.append(cur)
    table = pd.concat(parts, ignore_index=True)
    table = table[["arm", "time", "n_risk", "n_event", "n_competing", "n_censor", "estimate",
                   "std_error", "ci_lower", "ci_upper", "competing_estimate"]]
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return CumulativeIncidenceResult(table=table, conf_level=conf_level)


# =============================================================================== all at once
def analyze_improvement(
    data: ImprovementData,
    *,
    covariates: Sequence[str] | None = None,
    horizon: float | None = None,
    adjust: str = "holm",
    conf_level: float = 0.95,
) -> ImprovementAnalysis:
    """Run the standard set of time-to-improvement analyses.

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, optional
        Cox/discrete-time adjustment; default the baseline score plus ``data.covariates``
        except ``site`` (terms collinear with earlier ones are dropped with a warning).
    horizon : float, optional
        RMST horizon (default the last scheduled visit).
    adjust : {"holm", "bonferroni", "none"}
    conf_level : float

    Returns
    -------
    ImprovementAnalysis
    """
    data = _check(data)
    if covariates is None:
        # site is left out by default: many small sites make a fixed-effect Cox model unstable
        from painstudy.models.responders import distinct_covariates

        covariates = distinct_covariates(data.table, (
            ["baseline"] if data.table["baseline"].notna().any() else []) + [
            c for c in data.covariates if c != "site" and data.table[c].nunique() > 1])
    km = kaplan_meier(data, conf_level=conf_level)
    lr = logrank(data, adjust=adjust)
    try:
        cox = cox_ph(data, covariates=covariates, conf_level=conf_level)
    except ModelError:
        cox = None
    try:
        disc = discrete_time_ph(data, covariates=covariates, conf_level=conf_level)
    except ModelError:
        disc = None
    return ImprovementAnalysis(data=data, km=km, logrank=lr, cox=cox,
                               rmst=rmst(data, horizon=horizon, conf_level=conf_level),
                               discrete=disc, turnbull=turnbull(data),
                               incidence=cumulative_incidence(data, conf_level=conf_level))
