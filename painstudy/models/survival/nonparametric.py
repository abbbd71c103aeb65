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
from painstudy.models.design import normal_quantile, warnings_as_notes

from .common import arm_rows, arms_present, check_data, empty_arm_notes, km_curve
from .results import CumulativeIncidenceResult, KaplanMeierResult, LogRankResult, RMSTResult, TurnbullResult

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
    for arm in arms_present(data):
        sub = arm_rows(data, arm)
        time = sub["time"].to_numpy(float)
        ev = sub["event"].to_numpy(int)
        cur = km_curve(time, ev)
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
                             conf_level=conf_level, conf_type=conf_type, notes=empty_arm_notes(data))



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

    data = check_data(data)
    if adjust not in ("holm", "bonferroni", "none"):
        raise ModelError(f"adjust must be 'holm', 'bonferroni' or 'none', got {adjust!r}")
    tab = data.table
    arms = arms_present(data)
    if len(arms) < 2:
        raise ModelError(f"log-rank needs at least two arms with subjects; found {arms}")
    notes: list[str] = list(empty_arm_notes(data))
    if int(tab["event"].sum()) == 0:
        notes.append("no subject improved: the log-rank tests have nothing to compare")
    sub = tab.loc[tab["arm"].astype(str).isin(arms)]
    with warnings_as_notes(notes, "log-rank: "):
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
        if a == b:
            raise ModelError(f"pairs: ({a!r}, {b!r}) compares an arm with itself")
        ta, tb = arm_rows(data, a), arm_rows(data, b)
        with warnings_as_notes(notes, f"log-rank {a} vs {b}: "):
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
    return LogRankResult(overall=overall, pairwise=pw, adjust=adjust, notes=tuple(notes))


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
    data = check_data(data)
    if not (tol > 0 and int(max_iter) >= 1):
        raise ModelError(f"tol must be > 0 and max_iter >= 1, got tol={tol!r}, max_iter={max_iter!r}")
    tab = data.table
    ev_rows = tab.loc[tab["event"] == 1]
    bad = ev_rows.loc[~((ev_rows["time_lower"] <= ev_rows["time_upper"])
                        & np.isfinite(ev_rows["time_upper"].astype(float)))]
    if len(bad):
        r = bad.iloc[0]
        raise ModelError(f"subject {r['subject']!r}: the improvement interval (time_lower, time_upper] = "
                         f"({r['time_lower']!r}, {r['time_upper']!r}] must have time_lower <= time_upper "
                         f"< inf for an improvement; {len(bad)} row(s) break this rule")
    parts, its, conv = [], 0, True
    for arm in arms_present(data):
        sub = arm_rows(data, arm)
        ev = sub["event"].to_numpy(int) == 1
        left = np.where(ev, sub["time_lower"].to_numpy(float), sub["time"].to_numpy(float))
        right = np.where(ev, sub["time_upper"].to_numpy(float), np.inf)
        res, it, ok = _turnbull_one(left, right, tol, max_iter)
        res = res.loc[res["right"] < np.inf] if len(res) else res
        res.insert(0, "arm", arm)
        parts.append(res)
        its = max(its, it)
        conv = conv and ok
    notes = list(empty_arm_notes(data))
    if not conv:
        notes.append(f"Turnbull EM did not converge to {tol:g} in {max_iter} iterations: the masses are "
                     f"approximate")
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
        terms = np.where((dk > 0) & (nk - dk > 0), after ** 2 * dk / (nk * (nk - dk)), 0.0)
    var = float(terms.sum())
    return est, float(np.sqrt(var))


def _follow_up(data: ImprovementData) -> pd.DataFrame:
    """Per arm: the last observed time and the time up to which its KM curve is known.

    Beyond the last observed time the curve is known only if it has reached 0 there.
    """
    rows = []
    for arm in arms_present(data):
        sub = arm_rows(data, arm)
        last = float(sub["time"].max())
        cur = km_curve(sub["time"].to_numpy(float), sub["event"].to_numpy(int))
        rows.append({"arm": arm, "follow_up": last,
                     "known_to": np.inf if cur["estimate"].iloc[-1] <= 0 else last})
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
            notes.append(f"RMST horizon set to week {horizon:g}, the end of follow-up of arm(s) "
                         f"{', '.join(short)}, instead of the last scheduled visit (week {scheduled:g})")
    try:
        horizon = float(horizon)
    except (TypeError, ValueError):
        raise ModelError(f"horizon must be a positive number of weeks, got {horizon!r}") from None
    if not (np.isfinite(horizon) and horizon > 0):
        raise ModelError(f"horizon must be a positive number of weeks, got {horizon!r}")
    beyond = fu["known_to"] < horizon - 1e-9
    if beyond.any() and not extrapolate:
        where = ", ".join(f"arm {r.arm!r} was followed to week {r.follow_up:g}"
                          for r in fu.loc[beyond].itertuples())
        raise ModelError(f"RMST horizon {horizon:g} weeks is beyond the follow-up: {where}; choose a horizon of "
                         f"at most {limit:g} weeks, or ask for extrapolate=True (command line: --extrapolate) "
                         f"to carry the last Kaplan-Meier value forward")
    if beyond.any():
        notes.append("RMST extrapolated beyond follow-up (last Kaplan-Meier value carried forward to week "
                     f"{horizon:g}) for arm(s) " + ", ".join(f"{r.arm} (followed to week {r.follow_up:g})"
                                                             for r in fu.loc[beyond].itertuples()))
    extrapolated = dict(zip(fu["arm"], beyond))
    rows = []
    for arm in arms:
        sub = arm_rows(data, arm)
        est, se = _rmst_one(sub["time"].to_numpy(float), sub["event"].to_numpy(int), horizon)
        rows.append({"arm": arm, "horizon": horizon,
                     "follow_up": float(fu.loc[fu["arm"] == arm, "follow_up"].iloc[0]),
                     "extrapolated": bool(extrapolated[arm]), "estimate": est, "std_error": se,
                     "ci_lower": est - z * se, "ci_upper": est + z * se})
    table = pd.DataFrame(rows)
    diffs = []
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
                      "ci_lower": est - z * se, "ci_upper": est + z * se,
                      "extrapolated": bool(a["extrapolated"] or r["extrapolated"])})
    differences = pd.DataFrame(diffs, columns=["arm", "reference", "estimate", "std_error",
                                               "statistic", "p_value", "ci_lower", "ci_upper",
                                               "extrapolated"])
    table["arm"] = pd.Categorical(table["arm"], categories=list(data.arms))
    return RMSTResult(table=table, differences=differences, horizon=horizon,
                      extrapolated=bool(beyond.any()), notes=tuple(notes))


# =============================================================================== Aalen-Johansen
def _aalen_johansen(time: np.ndarray, status: np.ndarray, z: float) -> pd.DataFrame:
    """AJ estimate for cause 1 with cause 2 competing; infinitesimal-jackknife SE."""
    ut = np.unique(time[status > 0]) if np.any(status > 0) else np.array([])
    n_subj = len(time)
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
    data = check_data(data)
    z = normal_quantile(conf_level)
    tab = data.table
    status = pd.to_numeric(tab["status"], errors="coerce")
    bad = tab.loc[~status.isin([0, 1, 2]) | ((status == 1) != (tab["event"] == 1))]
    if len(bad):
        r = bad.iloc[0]
        raise ModelError(f"subject {r['subject']!r}: status {r['status']!r} with event {r['event']!r}; status "
                         f"must be 1 (improved) exactly when event is 1, else 0 (censored) or 2 (dropout); "
                         f"{len(bad)} row(s) break this rule")
    parts = []
    for arm in arms_present(data):
        sub = arm_rows(data, arm)
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
    return CumulativeIncidenceResult(table=table, conf_level=conf_level, notes=empty_arm_notes(data))


