"""Stratified responder analyses: the arms compared within strata (site, condition, ...) and combined.

For each post-baseline visit and each arm against the reference arm, the subjects of the two arms are
split into strata (each combination of the values of the strata columns) and each stratum's 2 x 2 table
(arm x responder) enters:

- the **Cochran-Mantel-Haenszel test** of no association (1 df), without continuity correction by
  default (``correct=True`` subtracts 1/2 from ``|O - E|`` as R's ``mantelhaen.test`` does by
  default);
- the **Mantel-Haenszel common odds ratio** with the Robins-Breslow-Greenland (1986) variance of its
  logarithm (as R ``mantelhaen.test`` and statsmodels ``StratifiedTable``);
- the **Breslow-Day test** of homogeneous odds ratios (and Tarone's 1985 correction);
- the **Mantel-Haenszel risk difference** (weights ``n1 n0 / N``) with Sato's (1989) variance and a
  Wald interval (as SAS PROC FREQ ``COMMONRISKDIFF``);
- the **stratified Miettinen-Nurminen score interval** of the risk difference (Miettinen & Nurminen
  1985): ``Z(d) = sum w_k (dhat_k - d) / sqrt(sum w_k^2 V_k(d))``, ``V_k(d)`` the variance of the stratum's
  difference at the maximum likelihood estimate restricted to ``p1 - p0 = d``, times ``N_k / (N_k - 1)``;
  the interval holds every ``d`` with ``|Z(d)| <= z``. Weights ``"mh"``: ``w_k = n1k n0k / N_k`` (sample-size
  or Mantel-Haenszel weights; the point estimate is then the MH estimate); ``"iv"``: ``w_k = 1 / V_k(d)``,
  re-evaluated at each ``d`` (inverse restricted variance). With one stratum both are the unstratified
  Miettinen-Nurminen interval.

A stratum that holds one of the two arms only has no information on their difference: it adds nothing
to any of these sums (as in R, where it contributes zeros). Such strata are counted and named in the
notes, never silently dropped.

References
----------
Mantel N, Haenszel W (1959). J Natl Cancer Inst 22:719-748.
Robins J, Breslow N, Greenland S (1986). Biometrics 42:311-323.
Breslow NE, Day NE (1980). Statistical Methods in Cancer Research I, IARC; Tarone RE (1985). Biometrika 72:91-95.
Sato T (1989). On the variance estimator for the Mantel-Haenszel risk difference. Biometrics 45:1323-1324.
Miettinen O, Nurminen M (1985). Comparative analysis of two rates. Stat Med 4:213-226.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from painstudy.errors import ModelError
from painstudy.rendering import Rendered, Tidy

from .design import check_columns, normal_quantile
from .responders import ResponderData

__all__ = [
    "StratifiedResponderResult",
    "stratified_responders",
    "mn_interval",
    "restricted_proportions",
    "responder_visits",
    "checked_responder_data",
    "MN_WEIGHTS",
    "MEASURES",
]

#: Weights of the stratified Miettinen-Nurminen interval.
MN_WEIGHTS = ("mh", "iv")
#: The measures of :func:`stratified_responders`: MH odds ratio (with the CMH and Breslow-Day tests),
#: MH risk difference (Sato), stratified Miettinen-Nurminen risk difference.
MEASURES = ("or", "rd", "mn")
#: Columns of the responder table that are not subject characteristics.
NOT_STRATA = ("subject", "arm", "visit", "responder", "value", "improvement", "pct_improvement", "assessed")


# =============================================================================== result
@dataclass(frozen=True, repr=False)
class StratifiedResponderResult(Rendered):
    """Stratified comparisons of responder proportions against the reference arm.

    Attributes
    ----------
    estimates : DataFrame
        ``visit, arm, reference, comparison, measure, method, estimate, std_error, ci_lower, ci_upper,
        p_value, n, n_strata, n_informative``. ``measure`` is ``"odds ratio"`` (``estimate`` the MH odds
        ratio, ``std_error`` that of its logarithm, the interval exp(log OR +- z SE); ``p_value`` the
        CMH test's) or ``"risk difference"`` (arm minus reference; ``method`` ``"Mantel-Haenszel (Sato)"``:
        Wald interval and z test; ``"Miettinen-Nurminen (<weights> weights)"``: score interval, no standard
        error, ``p_value`` the score test of 0). ``n_strata`` counts the strata of the two arms,
        ``n_informative`` those holding both.
    tests : DataFrame
        ``visit, arm, reference, comparison, test, statistic, df, p_value``: the CMH test (``"CMH"``, with
        ``correct`` stated), Breslow-Day and Breslow-Day with Tarone's correction.
    strata_counts : DataFrame
        ``visit, arm, reference, stratum, n, responders, n_reference, responders_reference, informative``.
    strata : tuple of str
    conf_level : float
    correct : bool
        Whether the CMH statistic has the continuity correction.
    mn_weights : str
    notes : tuple of str
    """

    estimates: pd.DataFrame
    tests: pd.DataFrame
    strata_counts: pd.DataFrame
    strata: tuple[str, ...] = ()
    conf_level: float = 0.95
    correct: bool = False
    mn_weights: str = "mh"
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Stratified responder analysis (Cochran-Mantel-Haenszel)",
            (
                ("strata", ", ".join(self.strata)),
                ("conf_level", self.conf_level),
                ("CMH continuity correction", "yes" if self.correct else "no"),
                ("Miettinen-Nurminen weights", self.mn_weights),
            ),
            (("estimates", self.estimates), ("tests", self.tests), ("strata_counts", self.strata_counts)),
            self.notes,
        )


# =============================================================================== checks
def checked_responder_data(data: object) -> ResponderData:
    """``data`` itself, once checked to be non-empty :class:`ResponderData`."""
    if not isinstance(data, ResponderData):
        raise ModelError(
            f"expected ResponderData (from painstudy.responders or painstudy.models.responders.responders), "
            f"got {type(data).__name__}"
        )
    if data.table.empty:
        raise ModelError(f"no subjects in the {data.population!r} population")
    return data


def responder_visits(data: ResponderData, visit: str | Sequence[str] | None) -> list[str]:
    """The visits asked for (default every post-baseline visit), each checked to be one."""
    if visit is None:
        return list(data.visits)
    vs = [visit] if isinstance(visit, str) else list(visit)
    for v in vs:
        if v not in data.visits:
            raise ModelError(f"visit {v!r} is not a post-baseline visit; visits: {list(data.visits)}")
    return vs


def _strata_columns(data: ResponderData, strata: str | Sequence[str]) -> list[str]:
    cols = [strata] if isinstance(strata, str) else list(strata)
    if not cols:
        raise ModelError("strata: name at least one column to stratify on (e.g. 'site')")
    t = data.table
    avail = [c for c in t.columns if c not in NOT_STRATA and c not in ("week", "baseline", "completer")]
    check_columns(t, cols, what="strata column", available=avail, where="the responder table")
    for c in cols:
        if c in NOT_STRATA:
            raise ModelError(f"strata column {c!r} is not a subject characteristic; available: {', '.join(avail)}")
        miss = t[c].isna().to_numpy()
        if miss.any():
            first = t["subject"].iloc[int(np.flatnonzero(miss)[0])]
            raise ModelError(
                f"strata column {c!r} is missing for {int(t.loc[miss, 'subject'].nunique())} subject(s) "
                f"(first: {first!r}); every subject needs a stratum: fill the value or leave the subject out"
            )
    return cols


# =============================================================================== Miettinen-Nurminen
def restricted_proportions(x1, n1, x0, n0, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Maximum likelihood estimates of (p1, p0) restricted to ``p1 - p0 = delta``, per stratum.

    The root of the cubic of Miettinen & Nurminen (1985, appendix), in Farrington & Manning's (1990)
    trigonometric form; arrays are strata.

    Examples
    --------
    >>> p1, p0 = restricted_proportions(np.array([10]), np.array([20]), np.array([5]), np.array([20]), 0.0)
    >>> round(float(p1[0]), 12), round(float(p0[0]), 12)  # delta = 0: the pooled proportion
    (0.375, 0.375)
    """
    x1, n1, x0, n0 = (np.asarray(v, float) for v in (x1, n1, x0, n0))
    theta = n0 / n1
    p1h, p0h = x1 / n1, x0 / n0
    a = 1.0 + theta
    b = -(1.0 + theta + p1h + theta * p0h + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1h + theta + 1.0) + p1h + theta * p0h
    d = -p1h * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = np.sign(v) * np.sqrt(np.maximum(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(u != 0, v / u**3, 0.0)
    w = (np.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
    p1 = np.where(u != 0, 2.0 * u * np.cos(w), 0.0) - b / (3.0 * a)
    p1 = np.clip(p1, max(delta, 0.0), min(1.0 + delta, 1.0))
    return p1, p1 - delta


def _mn_z(x1, n1, x0, n0, delta: float, weights: str) -> float:
    p1, p0 = restricted_proportions(x1, n1, x0, n0, delta)
    N = n1 + n0
    var = (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) * N / (N - 1)
    dhat = x1 / n1 - x0 / n0
    if weights == "mh":
        w = n1 * n0 / N
    else:
        with np.errstate(divide="ignore"):
            w = 1.0 / var
        if not np.all(np.isfinite(w)):  # a stratum without variance at this d (its limit) decides alone
            s = float(np.sum((dhat - delta)[~np.isfinite(w)]))
            return 0.0 if s == 0 else float(np.sign(s) * np.inf)
    den = float(np.sqrt(np.sum(w * w * var)))
    num = float(np.sum(w * (dhat - delta)))
    if den == 0:
        return float(np.sign(num) * np.inf) if num else 0.0
    return num / den


def mn_interval(x1, n1, x0, n0, *, weights: str = "mh", conf_level: float = 0.95) -> tuple[float, float, float, float]:
    """Stratified Miettinen-Nurminen score interval of the common risk difference ``p1 - p0``.

    Parameters
    ----------
    x1, n1, x0, n0 : array-like
        Responders and subjects of the arm (1) and the reference (0), one element per stratum; every
        stratum must hold both arms.
    weights : {"mh", "iv"}, default "mh"
        ``"mh"``: ``n1 n0 / N`` per stratum; ``"iv"``: the inverse of the stratum's restricted variance
        at each hypothesised difference.
    conf_level : float, default 0.95

    Returns
    -------
    estimate, ci_lower, ci_upper, p_value
        The estimate is the root of ``Z(d) = 0``; ``p_value`` the two-sided score test of ``d = 0``.

    Examples
    --------
    >>> est, lo, hi, p = mn_interval([87], [161], [45], [140])
    >>> round(est, 4), round(lo, 4), round(hi, 4)
    (0.2189, 0.1073, 0.3248)
    """
    if weights not in MN_WEIGHTS:
        raise ModelError(f"mn_weights must be one of {', '.join(map(repr, MN_WEIGHTS))}, got {weights!r}")
    x1, n1, x0, n0 = (np.atleast_1d(np.asarray(v, float)) for v in (x1, n1, x0, n0))
    if np.any(n1 < 1) or np.any(n0 < 1):
        raise ModelError("Miettinen-Nurminen interval: every stratum needs subjects in both arms")
    z = normal_quantile(conf_level)
    eps = 1e-10
    lo_end, hi_end = -1.0 + eps, 1.0 - eps

    def f(d: float) -> float:
        return _mn_z(x1, n1, x0, n0, d, weights)

    if weights == "mh":
        w = n1 * n0 / (n1 + n0)
        est = float(np.sum(w * (x1 / n1 - x0 / n0)) / np.sum(w))
    else:
        est = _root(f, 0.0, lo_end, hi_end)
    lower = _root(lambda d: f(d) - z, -1.0, lo_end, est)
    upper = _root(lambda d: f(d) + z, 1.0, est, hi_end)
    z0 = f(0.0)
    p = float(2 * stats.norm.sf(abs(z0))) if np.isfinite(z0) else 0.0
    return est, lower, upper, p


def _root(g, edge: float, a: float, b: float) -> float:
    """The root of the decreasing ``g`` in [a, b]; ``edge`` when ``g`` keeps one sign (the limit is +-1)."""
    ga, gb = g(a), g(b)
    if ga == 0:
        return a
    if gb == 0:
        return b
    if np.sign(ga) == np.sign(gb):
        return edge
    return float(optimize.brentq(g, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))


# =============================================================================== MH, CMH, Breslow-Day
def _mh_odds_ratio(x1, n1, x0, n0, z: float) -> tuple[float, float, float, float]:
    """MH odds ratio, the RBG SE of its log, and the interval."""
    N = n1 + n0
    a, b, c, d = x1, n1 - x1, x0, n0 - x0
    R, S = a * d / N, b * c / N
    P, Q = (a + d) / N, (b + c) / N
    sr, ss = R.sum(), S.sum()
    orr = sr / ss
    var = (P * R).sum() / (2 * sr**2) + (P * S + Q * R).sum() / (2 * sr * ss) + (Q * S).sum() / (2 * ss**2)
    se = float(np.sqrt(var))
    return float(orr), se, float(np.exp(np.log(orr) - z * se)), float(np.exp(np.log(orr) + z * se))


def _cmh(x1, n1, x0, n0, correct: bool) -> tuple[float, float]:
    N = n1 + n0
    m1 = x1 + x0
    delta = float(np.sum(x1 - n1 * m1 / N))
    var = float(np.sum(n1 * n0 * m1 * (N - m1) / (N * N * (N - 1))))
    yates = 0.5 if correct and abs(delta) >= 0.5 else 0.0
    stat = (abs(delta) - yates) ** 2 / var
    return stat, float(stats.chi2.sf(stat, 1))


def _breslow_day(x1, n1, x0, n0, orr: float) -> tuple[float, float, int]:
    """Breslow-Day statistic, with Tarone's correction, and its df (strata whose margins leave the table
    free, minus 1; a stratum where nobody or everybody responded has no variance and is left out)."""
    m1 = x1 + x0
    lo, hi = np.maximum(0, m1 - n0), np.minimum(n1, m1)
    free = hi > lo
    if free.sum() < 2:
        return np.nan, np.nan, 0
    x1, n1, n0, m1, lo, hi = x1[free], n1[free], n0[free], m1[free], lo[free], hi[free]
    # the expected responders of the arm under the common odds ratio: the root in [lo, hi] of
    # (1 - OR) a^2 + (n0 - m1 + OR (n1 + m1)) a - OR n1 m1 = 0
    qa = 1.0 - orr
    qb = n0 - m1 + orr * (n1 + m1)
    qc = -orr * n1 * m1
    if abs(qa) < 1e-12:
        ea = -qc / qb
    else:
        disc = np.sqrt(qb * qb - 4 * qa * qc)
        r1, r2 = (-qb + disc) / (2 * qa), (-qb - disc) / (2 * qa)
        ea = np.where((r1 >= lo - 1e-9) & (r1 <= hi + 1e-9), r1, r2)
    va = 1.0 / (1.0 / ea + 1.0 / (n1 - ea) + 1.0 / (m1 - ea) + 1.0 / (n0 - m1 + ea))
    stat = float(np.sum((x1 - ea) ** 2 / va))
    tarone = stat - float(np.sum(x1 - ea)) ** 2 / float(np.sum(va))
    return stat, tarone, int(free.sum()) - 1


def _sato(x1, n1, x0, n0, z: float) -> tuple[float, float, float, float, float]:
    N = n1 + n0
    w = n1 * n0 / N
    rd = float(np.sum(w * (x1 / n1 - x0 / n0)) / np.sum(w))
    P = (n1 * n1 * x0 - n0 * n0 * x1 + n1 * n0 * (n0 - n1) / 2) / (N * N)
    Q = (x1 * (n0 - x0) + x0 * (n1 - x1)) / (2 * N)
    se = float(np.sqrt(max(rd * P.sum() + Q.sum(), 0.0)) / w.sum())
    p = float(2 * stats.norm.sf(abs(rd / se))) if se > 0 else np.nan
    return rd, se, rd - z * se, rd + z * se, p


# =============================================================================== the analysis
def stratified_responders(
    data: ResponderData,
    strata: str | Sequence[str],
    *,
    visit: str | Sequence[str] | None = None,
    reference: str | None = None,
    conf_level: float = 0.95,
    correct: bool = False,
    mn_weights: str = "mh",
    measures: Sequence[str] = MEASURES,
) -> StratifiedResponderResult:
    """Cochran-Mantel-Haenszel analysis of responders: each arm against the reference, within strata.

    Parameters
    ----------
    data : ResponderData
        From :func:`painstudy.responders`.
    strata : str or sequence of str
        Subject columns of ``data.table`` (e.g. ``"site"``, ``"condition"`` or both: each combination of
        values is a stratum). Every subject needs a value.
    visit : str or list of str, optional
        Default every post-baseline visit.
    reference : str, optional
        Default the study's control arm (``StudySpec.reference_arm``).
    conf_level : float, default 0.95
    correct : bool, default False
        Continuity correction of the CMH statistic (R ``mantelhaen.test``'s default is ``TRUE``; SAS PROC
        FREQ and statsmodels report it without).
    mn_weights : {"mh", "iv"}, default "mh"
        Stratum weights of the Miettinen-Nurminen interval (see the module docstring).
    measures : sequence of {"or", "rd", "mn"}, default all
        ``"or"``: MH odds ratio with the CMH and Breslow-Day tests; ``"rd"``: MH risk difference with
        Sato's variance; ``"mn"``: stratified Miettinen-Nurminen interval.

    Returns
    -------
    StratifiedResponderResult

    Raises
    ------
    ModelError
        An unknown or incomplete strata column; a comparison without any stratum holding both arms; an
        odds ratio that is 0 or infinite (zero cells in every informative stratum); every subject of a
        comparison with the same response.

    Notes
    -----
    Computations as R ``mantelhaen.test`` (MH odds ratio, RBG interval, CMH statistic), statsmodels
    ``StratifiedTable`` (Breslow-Day: ``test_equal_odds``), SAS PROC FREQ ``COMMONRISKDIFF`` (MH risk
    difference with Sato's variance); checked against R in ``tests/test_stratified.py``.

    Examples
    --------
    >>> import painstudy
    >>> data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="nri")
    >>> res = stratified_responders(data, "condition", visit="week12")
    >>> sorted(set(res.estimates["method"]))[:2]
    ['Mantel-Haenszel (RBG)', 'Mantel-Haenszel (Sato)']
    """
    data = checked_responder_data(data)
    measures = [measures] if isinstance(measures, str) else list(measures)
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures:
        raise ModelError(f"measures must be some of {', '.join(map(repr, MEASURES))}, got {measures!r}")
    if mn_weights not in MN_WEIGHTS:
        raise ModelError(f"mn_weights must be one of {', '.join(map(repr, MN_WEIGHTS))}, got {mn_weights!r}")
    z = normal_quantile(conf_level)
    cols = _strata_columns(data, strata)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    t = data.table.copy()
    t["stratum"] = t[cols].astype(str).agg(":".join, axis=1) if len(cols) > 1 else t[cols[0]].astype(str)
    est_rows, test_rows, count_rows, notes = [], [], [], []
    for vis in responder_visits(data, visit):
        tv = t.loc[t["visit"].astype(str) == vis]
        for arm in data.arms:
            if arm == reference:
                continue
            label = f"{arm} vs {reference}"
            pair = tv.loc[tv["arm"].astype(str).isin([arm, reference])]
            n_arm, n_ref = (
                int((pair["arm"].astype(str) == arm).sum()),
                int((pair["arm"].astype(str) == reference).sum()),
            )
            if n_arm == 0 or n_ref == 0:
                notes.append(
                    f"{vis}: {label} not compared ({arm if n_arm == 0 else reference} has no subject in the population)"
                )
                continue
            counts = _stratum_counts(pair, arm)
            counts.insert(0, "reference", reference)
            counts.insert(0, "arm", arm)
            counts.insert(0, "visit", vis)
            count_rows.append(counts)
            inf = counts.loc[counts["informative"]]
            single = counts.loc[~counts["informative"], "stratum"].tolist()
            if single:
                notes.append(
                    f"{vis}, {label}: {len(single)} of {len(counts)} strata hold one arm only and carry no "
                    f"information on the comparison ({', '.join(single)})"
                )
            if inf.empty:
                raise ModelError(
                    f"{vis}, {label}: no stratum of {', '.join(cols)} holds both arms, so the arms cannot be "
                    f"compared within strata; use fewer or coarser strata"
                )
            x1, n1, x0, n0 = (
                inf[c].to_numpy(float) for c in ("responders", "n", "responders_reference", "n_reference")
            )
            m1 = x1 + x0
            if m1.sum() == 0 or m1.sum() == (n1 + n0).sum():
                raise ModelError(
                    f"{vis}, {label}: every subject in the informative strata is a "
                    f"{'non-responder' if m1.sum() == 0 else 'responder'}; no stratified comparison is possible"
                )
            base = {
                "visit": vis,
                "arm": arm,
                "reference": reference,
                "comparison": label,
                "n": int(n1.sum() + n0.sum()),
                "n_strata": len(counts),
                "n_informative": len(inf),
            }
            if "or" in measures:
                est_rows.append(_or_row(base, x1, n1, x0, n0, z, correct))
                test_rows += _test_rows(base, x1, n1, x0, n0, est_rows[-1]["estimate"], correct, notes)
            if "rd" in measures:
                rd, se, lo, hi, p = _sato(x1, n1, x0, n0, z)
                est_rows.append(
                    {**base, "measure": "risk difference", "method": "Mantel-Haenszel (Sato)", "estimate": rd,
                     "std_error": se, "ci_lower": lo, "ci_upper": hi, "p_value": p}
                )  # fmt: skip
            if "mn" in measures:
                e, lo, hi, p = mn_interval(x1, n1, x0, n0, weights=mn_weights, conf_level=conf_level)
                est_rows.append(
                    {**base, "measure": "risk difference", "method": f"Miettinen-Nurminen ({mn_weights} weights)",
                     "estimate": e, "std_error": np.nan, "ci_lower": lo, "ci_upper": hi, "p_value": p}
                )  # fmt: skip
    notes += _method_notes(measures, correct, mn_weights, cols)
    est_cols = ["visit", "arm", "reference", "comparison", "measure", "method", "estimate", "std_error"]
    est_cols += ["ci_lower", "ci_upper", "p_value", "n", "n_strata", "n_informative"]
    test_cols = ["visit", "arm", "reference", "comparison", "test", "statistic", "df", "p_value"]
    strata_counts = pd.concat(count_rows, ignore_index=True) if count_rows else pd.DataFrame()
    return StratifiedResponderResult(
        estimates=pd.DataFrame(est_rows, columns=est_cols),
        tests=pd.DataFrame(test_rows, columns=test_cols),
        strata_counts=strata_counts,
        strata=tuple(cols),
        conf_level=conf_level,
        correct=correct,
        mn_weights=mn_weights,
        notes=tuple(notes),
    )


def _stratum_counts(pair: pd.DataFrame, arm: str) -> pd.DataFrame:
    """Subjects and responders of the arm and the reference in each stratum."""
    is_arm = pair["arm"].astype(str) == arm
    resp = pair["responder"].astype(float)
    g = pd.DataFrame({"stratum": pair["stratum"], "a": is_arm, "xa": resp * is_arm, "r": ~is_arm, "xr": resp * ~is_arm})
    s = g.groupby("stratum", sort=True).sum()
    out = pd.DataFrame(
        {
            "stratum": s.index.astype(str),
            "n": s["a"].to_numpy(int),
            "responders": s["xa"].to_numpy(int),
            "n_reference": s["r"].to_numpy(int),
            "responders_reference": s["xr"].to_numpy(int),
        }
    )
    out["informative"] = (out["n"] > 0) & (out["n_reference"] > 0)
    return out


def _or_row(base: dict, x1, n1, x0, n0, z: float, correct: bool) -> dict:
    N = n1 + n0
    R, S = (x1 * (n0 - x0) / N).sum(), ((n1 - x1) * x0 / N).sum()
    if R == 0 or S == 0:
        why = (
            "no informative stratum has a responder in the arm and a non-responder in the reference"
            if R == 0
            else ("no informative stratum has a non-responder in the arm and a responder in the reference")
        )
        raise ModelError(
            f"{base['visit']}, {base['comparison']}: the Mantel-Haenszel odds ratio is "
            f"{'0' if R == 0 else 'infinite'} (zero cells: {why}); leave it out with measures=('rd', 'mn')"
        )
    orr, se, lo, hi = _mh_odds_ratio(x1, n1, x0, n0, z)
    _, p = _cmh(x1, n1, x0, n0, correct)
    return {**base, "measure": "odds ratio", "method": "Mantel-Haenszel (RBG)", "estimate": orr, "std_error": se,
            "ci_lower": lo, "ci_upper": hi, "p_value": p}  # fmt: skip


def _test_rows(base: dict, x1, n1, x0, n0, orr: float, correct: bool, notes: list[str]) -> list[dict]:
    keys = {k: base[k] for k in ("visit", "arm", "reference", "comparison")}
    stat, p = _cmh(x1, n1, x0, n0, correct)
    rows = [{**keys, "test": "CMH" + (" (continuity corrected)" if correct else ""), "statistic": stat, "df": 1,
             "p_value": p}]  # fmt: skip
    bd, tarone, df = _breslow_day(x1, n1, x0, n0, orr)
    if df < 1:
        notes.append(
            f"{base['visit']}, {base['comparison']}: Breslow-Day test not computed (fewer than two strata "
            f"where responses vary)"
        )
        return rows
    for name, s in (("Breslow-Day", bd), ("Breslow-Day (Tarone)", tarone)):
        rows.append({**keys, "test": name, "statistic": s, "df": df, "p_value": float(stats.chi2.sf(s, df))})
    return rows


def _method_notes(measures: Sequence[str], correct: bool, mn_weights: str, cols: Sequence[str]) -> list[str]:
    out = [f"strata: each combination of {', '.join(cols)}"]
    if "or" in measures:
        out.append(
            "odds ratio: Mantel-Haenszel estimate, Robins-Breslow-Greenland interval; p value: Cochran-Mantel-"
            f"Haenszel chi-square, {'with' if correct else 'without'} continuity correction"
        )
    if "rd" in measures:
        out.append("risk difference: Mantel-Haenszel weights n1*n0/N, Sato (1989) variance, Wald interval")
    if "mn" in measures:
        w = "n1*n0/N (Mantel-Haenszel)" if mn_weights == "mh" else "1/restricted variance at each difference"
        out.append(f"Miettinen-Nurminen (1985) stratified score interval, stratum weights {w}")
    return out
