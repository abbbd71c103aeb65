"""Nonparametric analyses of time to improvement: Kaplan-Meier, log-rank, Turnbull, RMST and
Aalen-Johansen cumulative incidence.

Each function takes :class:`~painstudy.improvement.ImprovementData` and returns a result of
:mod:`painstudy.models.survival.results`; the numbers match R's survival package (see
``tests/test_survival_reference.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.design import normal_quantile

from .common import (
    arm_arrays,
    arm_codes,
    arms_present,
    check_data,
    empty_arm_notes,
    km_curve,
    strata_columns,
    stratum_codes,
)
from .core import (
    RiskTable,
    aalen_johansen,
    grouped_risk_tables,
    innermost_intervals,
    km_from_risk,
    logrank_chisq,
    risk_table,
    step_quantile,
    turnbull_em,
)
from .results import (
    CumulativeIncidenceResult,
    KaplanMeierResult,
    LogRankResult,
    RMSTResult,
    TurnbullResult,
)

__all__ = ["kaplan_meier", "logrank", "turnbull", "rmst", "cumulative_incidence"]


#: Transforms of the pointwise confidence band of a Kaplan-Meier curve (R ``survfit`` conf.type).
CONF_TYPES = ("log", "log-log", "plain")


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
    data = check_data(data)
    z = normal_quantile(conf_level)
    if conf_type not in CONF_TYPES:
        raise ModelError(f"conf_type must be one of {', '.join(map(repr, CONF_TYPES))}, got {conf_type!r}")
    curves, meds, risk = [], [], []
    if at_risk_times is None:
        at_risk_times = [0.0, *data.visit_weeks]
    try:
        at_risk_times = np.asarray(sorted(set(float(t) for t in at_risk_times)))
    except (TypeError, ValueError):
        raise ModelError(f"at_risk_times must be numbers of weeks, got {at_risk_times!r}") from None
    if not np.all(np.isfinite(at_risk_times) & (at_risk_times >= 0)):
        raise ModelError(f"at_risk_times must be finite and >= 0, got {list(at_risk_times)}")
    tab = data.table
    tables = grouped_risk_tables(
        tab["time"].to_numpy(float), tab["event"].to_numpy(int), arm_codes(data), len(data.arms)
    )
    for arm, rt in zip(data.arms, tables):
        if rt is None:  # no subjects: named in the notes
            continue
        cur = km_from_risk(rt)
        lo, hi = _bands(cur["estimate"].to_numpy(), cur["std_error"].to_numpy(), z, conf_type)
        cur["ci_lower"], cur["ci_upper"] = lo, hi
        cur.insert(0, "arm", arm)
        curves.append(cur)
        x = cur["time"].to_numpy()
        # R prepends (firstx=0, y=0); our curve starts with time 0 (estimate 1) when no
        # event/censoring at 0, which gives the same result
        xs = np.concatenate([[0.0], x])
        med = step_quantile(xs, np.concatenate([[0.0], 1 - cur["estimate"].to_numpy()]), 0.5)
        mlo = step_quantile(xs, np.concatenate([[0.0], 1 - lo]), 0.5)
        mhi = step_quantile(xs, np.concatenate([[0.0], 1 - hi]), 0.5)
        meds.append(
            {
                "arm": arm,
                "n": int(rt.n_risk[0]),
                "events": int(rt.n_event.sum()),
                "median": med,
                "ci_lower": mlo,
                "ci_upper": mhi,
            }
        )
        risk.append(_at_risk(arm, rt, at_risk_times))
    surv = pd.concat(curves, ignore_index=True)
    surv["arm"] = pd.Categorical(surv["arm"], categories=list(data.arms))
    medians = pd.DataFrame(meds)
    medians["arm"] = pd.Categorical(medians["arm"], categories=list(data.arms))
    at_risk = pd.concat(risk, ignore_index=True)
    at_risk["arm"] = pd.Categorical(at_risk["arm"], categories=list(data.arms))
    present = [a for a, t in zip(data.arms, tables) if t is not None]
    return KaplanMeierResult(
        survival=surv,
        medians=medians,
        at_risk=at_risk,
        conf_level=conf_level,
        conf_type=conf_type,
        notes=empty_arm_notes(data, present),
    )


def _at_risk(arm: str, rt: RiskTable, at: np.ndarray) -> pd.DataFrame:
    """At risk (time >= t; everyone at t = 0), improved and censored up to t, at each ``t``."""
    n = int(rt.n_risk[0])
    upto = np.searchsorted(rt.time, at, side="right")  # distinct times <= t
    before = np.searchsorted(rt.time, at, side="left")  # distinct times < t
    exits = np.concatenate([[0], np.cumsum(rt.n_event + rt.n_censor)])
    improved = np.concatenate([[0], np.cumsum(rt.n_event)])[upto]
    n_risk = np.where(at > 0, n - exits[before], n)
    return pd.DataFrame(
        {
            "arm": arm,
            "time": at,
            "n_risk": n_risk.astype(int),
            "n_improved": improved.astype(int),
            "n_censored": (exits[upto] - improved).astype(int),
        }
    )


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
    strata: str | Sequence[str] | None = None,
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
    strata : str or sequence of str, optional
        Column(s) of ``data.table`` to stratify on (e.g. ``"site"``): observed minus expected
        improvements and their variance are computed within each stratum (each combination of
        values) and summed, as R ``survdiff(Surv(time, event) ~ arm + strata(site))``.

    Returns
    -------
    LogRankResult

    Notes
    -----
    As R's ``survdiff``: an arm with no expected improvement (nobody at risk at any improvement
    time) is left out of the test, and ``df`` counts the arms with expected improvements, minus 1.

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "time": [4, 4, 8, 12, 8, 12, 12, 12],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0]})
    >>> round(float(logrank(ImprovementData.from_table(t)).overall["statistic"].iloc[0]), 4)  # R survdiff
    1.2079
    """
    data = check_data(data)
    if adjust not in ("holm", "bonferroni", "none"):
        raise ModelError(f"adjust must be 'holm', 'bonferroni' or 'none', got {adjust!r}")
    tab = data.table
    arms = arms_present(data)
    if len(arms) < 2:
        raise ModelError(f"log-rank needs at least two arms with subjects; found {arms}")
    strata_cols = strata_columns(data, strata)
    notes: list[str] = list(empty_arm_notes(data))
    if int(tab["event"].sum()) == 0:
        notes.append("no subject improved: the log-rank tests have nothing to compare")
    codes = arm_codes(data)
    pos = np.full(len(data.arms) + 1, -1, np.int64)
    for k, a in enumerate(data.arms):
        if a in arms:
            pos[k] = arms.index(a)
    group = pos[codes]  # position among the arms with subjects (-1: none)
    time = tab["time"].to_numpy(float)
    event = tab["event"].to_numpy(int)
    stratum = stratum_codes(tab, strata_cols)

    def test(rows: np.ndarray, grp: np.ndarray, k: int, label: str) -> tuple[float, int, float]:
        stat, df, _, _ = logrank_chisq(time[rows], event[rows], grp, k, None if stratum is None else stratum[rows])
        if df < k - 1 and int(event[rows].sum()):
            notes.append(
                f"log-rank{label}: {k - 1 - df} arm(s) had nobody at risk at any improvement "
                f"time and were left out (as R survdiff)"
            )
        return stat, df, float(stats.chi2.sf(stat, df)) if df > 0 else 1.0

    used = np.flatnonzero(group >= 0)
    stat, df, p = test(used, group[used], len(arms), "")
    overall = pd.DataFrame({"statistic": [stat], "df": [df], "p_value": [p]})
    if isinstance(pairs, str):
        if pairs == "auto":
            plist = _default_pairs(data, arms)
        elif pairs == "all":
            plist = list(combinations(arms, 2))
        elif pairs == "reference":
            plist = [(a, data.reference) for a in arms if a != data.reference]
        else:
            raise ModelError(f"pairs must be 'auto', 'all', 'reference' or a list of arm pairs, got {pairs!r}")
    else:
        plist = [tuple(p) for p in pairs]
    rows = []
    for a, b in plist:
        for x in (a, b):
            if x not in arms:
                raise ModelError(f"arm {x!r} in pairs is not an arm with subjects: {arms}")
        if a == b:
            raise ModelError(f"pairs: ({a!r}, {b!r}) compares an arm with itself")
        ia, ib = arms.index(a), arms.index(b)
        sel = np.flatnonzero((group == ia) | (group == ib))
        stat, df, p = test(sel, (group[sel] == ib).astype(np.int64), 2, f" {a} vs {b}")
        rows.append({"arm": a, "reference": b, "statistic": stat, "df": df, "p_value": p})
    pw = pd.DataFrame(rows, columns=["arm", "reference", "statistic", "df", "p_value"])
    pw["p_adjusted"] = adjust_p(pw["p_value"].to_numpy(float), adjust)
    pw["adjust"] = adjust
    if strata_cols:
        notes.append(f"log-rank tests stratified by {', '.join(strata_cols)} ({int(stratum.max()) + 1} strata)")
    return LogRankResult(overall=overall, pairwise=pw, adjust=adjust, notes=tuple(notes))


def adjust_p(p: np.ndarray, method: str) -> np.ndarray:
    """Holm or Bonferroni adjusted p values (as statsmodels' ``multipletests``; ``"none"``: as given).

    >>> adjust_p(np.array([0.01, 0.04, 0.03]), "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, float)
    m = len(p)
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    return adjusted


# =============================================================================== Turnbull
def _turnbull_one(left: np.ndarray, right: np.ndarray, tol: float, max_iter: int):
    """Turnbull NPMLE of one arm. Intervals (left, right]; left == right is an exact time.

    When every improvement time is exact (and censoring is to the right) the NPMLE is the
    Kaplan-Meier estimate: its masses are returned directly, without iterating (0 iterations).
    """
    if np.all((left == right) | ~np.isfinite(right)):
        q, p = _km_masses(left, left == right)
        it, converged = 0, True
    else:
        q = innermost_intervals(left, right)
        p, it, converged = turnbull_em(left, right, q, tol, max_iter)
    if len(q) == 0:
        return pd.DataFrame(columns=["left", "right", "probability", "estimate"]), 0, True
    est = 1.0 - np.cumsum(p)
    est[est < 0] = 0.0
    return pd.DataFrame({"left": q[:, 0], "right": q[:, 1], "probability": p, "estimate": est}), it, converged


def _km_masses(time: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Innermost intervals and their masses when every improvement time is exact and censoring is
    to the right: a point at each improvement time carrying the Kaplan-Meier jump, and, when a
    subject is censored at or after the last improvement, ``(last censoring, inf)`` carrying the
    rest (the innermost intervals of :func:`~painstudy.models.survival.core.innermost_intervals`)."""
    rt = risk_table(time, exact.astype(int))
    s = np.cumprod(1.0 - rt.n_event / rt.n_risk)
    jump = np.concatenate([[1.0], s[:-1]]) - s
    ev = rt.n_event > 0
    q = np.column_stack([rt.time[ev], rt.time[ev]])
    p = jump[ev]
    censored = time[~exact]
    if censored.size and (not ev.any() or censored.max() >= rt.time[ev].max()):
        q = np.vstack([q, [censored.max(), np.inf]])
        p = np.append(p, max(1.0 - p.sum(), 0.0))
    return q, p


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
    data = check_data(data)
    if not (tol > 0 and int(max_iter) >= 1):
        raise ModelError(f"tol must be > 0 and max_iter >= 1, got tol={tol!r}, max_iter={max_iter!r}")
    tab = data.table
    ev_rows = tab.loc[tab["event"] == 1]
    bad = ev_rows.loc[
        ~((ev_rows["time_lower"] <= ev_rows["time_upper"]) & np.isfinite(ev_rows["time_upper"].astype(float)))
    ]
    if len(bad):
        r = bad.iloc[0]
        raise ModelError(
            f"subject {r['subject']!r}: the improvement interval (time_lower, time_upper] = "
            f"({r['time_lower']!r}, {r['time_upper']!r}] must have time_lower <= time_upper "
            f"< inf for an improvement; {len(bad)} row(s) break this rule"
        )
    parts, its, conv = [], 0, True
    for arm, (time, event, lower, upper) in arm_arrays(data, "time", "event", "time_lower", "time_upper").items():
        ev = event.astype(int) == 1
        left = np.where(ev, lower.astype(float), time.astype(float))
        right = np.where(ev, upper.astype(float), np.inf)
        res, it, ok = _turnbull_one(left, right, tol, max_iter)
        res = res.loc[res["right"] < np.inf] if len(res) else res
        res.insert(0, "arm", arm)
        parts.append(res)
        its = max(its, it)
        conv = conv and ok
    notes = list(empty_arm_notes(data))
    if not conv:
        notes.append(f"Turnbull EM did not converge to {tol:g} in {max_iter} iterations: the masses are approximate")
    table = pd.concat(parts, ignore_index=True)
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return TurnbullResult(table=table, iterations=its, converged=conv, notes=tuple(notes))


# =============================================================================== RMST
def _rmst_one(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple[float, float]:
    """Area under KM up to horizon and its Greenwood-type SE (as R print.survfit rmean)."""
    cur = km_curve(time, event)
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
        terms = np.where((dk > 0) & (nk - dk > 0), after**2 * dk / (nk * (nk - dk)), 0.0)
    var = float(terms.sum())
    return est, float(np.sqrt(var))


def _follow_up(data: ImprovementData) -> pd.DataFrame:
    """Per arm: the last observed time and the time up to which its KM curve is known.

    Beyond the last observed time the curve is known only if it has reached 0 there.
    """
    rows = []
    for arm, (time, event) in arm_arrays(data, "time", "event").items():
        last = float(time.max())
        cur = km_curve(time.astype(float), event.astype(int))
        rows.append({"arm": arm, "follow_up": last, "known_to": np.inf if cur["estimate"].iloc[-1] <= 0 else last})
    return pd.DataFrame(rows)


def rmst(
    data: ImprovementData,
    *,
    horizon: float | None = None,
    reference: str | None = None,
    conf_level: float = 0.95,
    extrapolate: bool = False,
) -> RMSTResult:
    """Restricted mean time without improvement (area under the KM curve up to ``horizon``).

    Parameters
    ----------
    data : ImprovementData
    horizon : float, optional
        Weeks. Default: the last scheduled visit, or the shortest follow-up among the arms when
        an arm was followed for less (a note says so).
    reference : str, optional
        Arm the differences are taken against (default ``data.reference``).
    conf_level : float, default 0.95
    extrapolate : bool, default False
        A horizon beyond an arm's last observed time (where its Kaplan-Meier curve is unknown,
        unless it has reached 0) is refused with a :class:`ModelError`; with
        ``extrapolate=True`` the last value of the curve is carried forward to the horizon and
        the tables (column ``extrapolated``) and notes say so.

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
    >>> rmst(ImprovementData.from_table(t), horizon=500)
    Traceback (most recent call last):
    ...
    painstudy.errors.ModelError: RMST horizon 500 weeks is beyond the follow-up: arm 'a' was followed to week 12, arm 'b' was followed to week 12; choose a horizon of at most 12 weeks, or ask for extrapolate=True (command line: --extrapolate) to carry the last Kaplan-Meier value forward
    """
    data = check_data(data)
    z = normal_quantile(conf_level)
    reference = data.reference if reference is None else reference
    arms = arms_present(data)
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} has no subjects; arms with subjects: {arms}")
    fu = _follow_up(data)
    limit = float(fu["known_to"].min())
    notes = list(empty_arm_notes(data))
    scheduled = max(data.visit_weeks) if data.visit_weeks else float(data.table["time"].max())
    if horizon is None:
        horizon = scheduled if extrapolate else min(scheduled, limit)
        if horizon < scheduled:
            short = fu.loc[fu["known_to"] == limit, "arm"].tolist()
            notes.append(
                f"RMST horizon set to week {horizon:g}, the end of follow-up of arm(s) "
                f"{', '.join(short)}, instead of the last scheduled visit (week {scheduled:g})"
            )
    try:
        horizon = float(horizon)
    except (TypeError, ValueError):
        raise ModelError(f"horizon must be a positive number of weeks, got {horizon!r}") from None
    if not (np.isfinite(horizon) and horizon > 0):
        raise ModelError(f"horizon must be a positive number of weeks, got {horizon!r}")
    beyond = fu["known_to"] < horizon - 1e-9
    if beyond.any() and not extrapolate:
        where = ", ".join(f"arm {r.arm!r} was followed to week {r.follow_up:g}" for r in fu.loc[beyond].itertuples())
        raise ModelError(
            f"RMST horizon {horizon:g} weeks is beyond the follow-up: {where}; choose a horizon of "
            f"at most {limit:g} weeks, or ask for extrapolate=True (command line: --extrapolate) "
            f"to carry the last Kaplan-Meier value forward"
        )
    if beyond.any():
        notes.append(
            "RMST extrapolated beyond follow-up (last Kaplan-Meier value carried forward to week "
            f"{horizon:g}) for arm(s) "
            + ", ".join(f"{r.arm} (followed to week {r.follow_up:g})" for r in fu.loc[beyond].itertuples())
        )
    extrapolated = dict(zip(fu["arm"], beyond))
    rows = []
    per_arm = arm_arrays(data, "time", "event")
    for arm in arms:
        time, event = per_arm[arm]
        est, se = _rmst_one(time.astype(float), event.astype(int), horizon)
        rows.append(
            {
                "arm": arm,
                "horizon": horizon,
                "follow_up": float(fu.loc[fu["arm"] == arm, "follow_up"].iloc[0]),
                "extrapolated": bool(extrapolated[arm]),
                "estimate": est,
                "std_error": se,
                "ci_lower": est - z * se,
                "ci_upper": est + z * se,
            }
        )
    table = pd.DataFrame(rows)
    diffs = []
    r = table.set_index("arm").loc[reference]
    for _, a in table.iterrows():
        if a["arm"] == reference:
            continue
        est = a["estimate"] - r["estimate"]
        se = float(np.hypot(a["std_error"], r["std_error"]))
        st = est / se if se > 0 else np.nan
        diffs.append(
            {
                "arm": a["arm"],
                "reference": reference,
                "estimate": est,
                "std_error": se,
                "statistic": st,
                "p_value": 2 * stats.norm.sf(abs(st)) if se > 0 else np.nan,
                "ci_lower": est - z * se,
                "ci_upper": est + z * se,
                "extrapolated": bool(a["extrapolated"] or r["extrapolated"]),
            }
        )
    differences = pd.DataFrame(
        diffs,
        columns=[
            "arm",
            "reference",
            "estimate",
            "std_error",
            "statistic",
            "p_value",
            "ci_lower",
            "ci_upper",
            "extrapolated",
        ],
    )
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return RMSTResult(
        table=table, differences=differences, horizon=horizon, extrapolated=bool(beyond.any()), notes=tuple(notes)
    )


# =============================================================================== Aalen-Johansen
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
    data = check_data(data)
    z = normal_quantile(conf_level)
    tab = data.table
    status = pd.to_numeric(tab["status"], errors="coerce")
    bad = tab.loc[~status.isin([0, 1, 2]) | ((status == 1) != (tab["event"] == 1))]
    if len(bad):
        r = bad.iloc[0]
        raise ModelError(
            f"subject {r['subject']!r}: status {r['status']!r} with event {r['event']!r}; status "
            f"must be 1 (improved) exactly when event is 1, else 0 (censored) or 2 (dropout); "
            f"{len(bad)} row(s) break this rule"
        )
    parts = []
    for arm, (time, st) in arm_arrays(data, "time", "status").items():
        cur = aalen_johansen(time.astype(float), st.astype(int))
        est, se = cur["estimate"].to_numpy(), cur["std_error"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(est > 0, est * np.exp(-z * se / est), np.nan)
            hi = np.where(est > 0, np.minimum(est * np.exp(z * se / est), 1.0), np.nan)
        cur["ci_lower"], cur["ci_upper"] = lo, hi
        cur.insert(0, "arm", arm)
        parts.append(cur)
    table = pd.concat(parts, ignore_index=True)
    table = table[
        [
            "arm",
            "time",
            "n_risk",
            "n_event",
            "n_competing",
            "n_censor",
            "estimate",
            "std_error",
            "ci_lower",
            "ci_upper",
            "competing_estimate",
        ]
    ]
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return CumulativeIncidenceResult(table=table, conf_level=conf_level, notes=empty_arm_notes(data))
