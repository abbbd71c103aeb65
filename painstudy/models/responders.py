"""Responder analyses: how many patients improve by a clinically meaningful amount.

A responder at a visit is a subject whose improvement from baseline reaches the threshold
(direction-aware; a fraction of baseline when ``relative``, else points), as in
:func:`painstudy.time_to_improvement`.

- :func:`responders` derives the per-subject, per-visit responder table
  (:class:`ResponderData`) for a chosen analysis population;
- :func:`responder_rates` -- responders per arm per visit with Wilson intervals;
- :func:`risk_difference` -- difference in responder proportions against the reference arm
  (Wald interval, as in Vickers et al. 2004, or Newcombe's hybrid score interval), Pearson
  chi-square test, number needed to treat with its interval;
- :func:`responder_odds_ratio` -- odds ratio from a logistic model adjusted for the baseline
  score and covariates (statsmodels GLM);
- :func:`cpra` -- cumulative proportion of responders (per arm, for every threshold);
- :func:`responder_analysis` -- all of these at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.improvement import _improvement_columns, resolve_threshold
from painstudy.outcomes import reaches
from ._tidy import TidyResult

__all__ = [
    "ResponderData", "ResponderRates", "RiskDifferenceResult", "OddsRatioResult", "CPRAResult",
    "ResponderAnalysis", "responders", "responder_rates", "risk_difference",
    "responder_odds_ratio", "cpra", "responder_analysis", "wilson_interval", "newcombe_interval",
]

POPULATIONS = ("completers", "assessed", "nri")


class _Tidy(TidyResult):
    def __repr__(self) -> str:
        return str(self)


# =============================================================================== data
@dataclass(frozen=True, repr=False)
class ResponderData(_Tidy):
    """Responder status per subject and post-baseline visit.

    ``table`` columns: ``subject, arm, arm_class, visit, week, baseline, value, improvement,
    pct_improvement, assessed, responder, completer`` plus covariates. ``responder`` is 1/0 and,
    for ``population="nri"``, 0 where the visit was not assessed; rows outside the population are
    not in the table.
    """

    table: pd.DataFrame
    outcome: str = ""
    threshold: float = float("nan")
    relative: bool = True
    population: str = "completers"
    arms: tuple = ()
    reference: str = ""
    visits: tuple = ()
    covariates: tuple = ()
    study: str = ""
    _title = "Responder data"

    def _frames(self):
        return []

    def _scalars(self):
        return [("study", self.study), ("outcome", self.outcome), ("threshold", self.threshold),
                ("relative", self.relative), ("population", self.population),
                ("reference", self.reference), ("rows", len(self.table))]


@dataclass(frozen=True, repr=False)
class ResponderRates(_Tidy):
    """``table``: ``arm, visit, week, n, responders, rate, ci_lower, ci_upper`` (Wilson)."""

    table: pd.DataFrame
    conf_level: float = 0.95
    _title = "Responder rates"


@dataclass(frozen=True, repr=False)
class RiskDifferenceResult(_Tidy):
    """Risk differences against the reference arm, with NNT.

    ``table``: ``visit, arm, reference, n, responders, rate, n_reference, responders_reference,
    rate_reference, estimate, std_error, ci_lower, ci_upper, statistic, p_value, nnt,
    nnt_ci_lower, nnt_ci_upper, nnt_note``. ``estimate`` = rate - rate_reference (positive =
    more responders than the reference); ``statistic`` is Pearson's chi-square (1 df, no
    continuity correction); ``nnt = 1 / estimate`` with the interval ``1/ci_upper`` to
    ``1/ci_lower`` (when the difference's interval includes 0 the NNT interval runs through
    infinity: see ``nnt_note``, Altman 1998).
    """

    table: pd.DataFrame
    ci: str = "wald"
    conf_level: float = 0.95
    _title = "Responder risk differences"


@dataclass(frozen=True, repr=False)
class OddsRatioResult(_Tidy):
    """Logistic model of response. ``table``: ``term, estimate, std_error, statistic, p_value,
    ci_lower, ci_upper, odds_ratio, or_ci_lower, or_ci_upper`` (arm terms ``arm[<name>]``)."""

    table: pd.DataFrame
    visit: str = ""
    n: int = 0
    covariates: str = ""
    _title = "Responder odds ratios (logistic regression)"


@dataclass(frozen=True, repr=False)
class CPRAResult(_Tidy):
    """Cumulative proportion of responders. ``table``: ``arm, threshold, n, responders,
    proportion`` -- the proportion of the arm whose improvement is at least ``threshold``
    (percent of baseline when ``relative``, else points)."""

    table: pd.DataFrame
    visit: str = ""
    relative: bool = True
    _title = "Cumulative proportion of responders"


@dataclass(frozen=True, repr=False)
class ResponderAnalysis(_Tidy):
    """Rates, risk differences with NNT, adjusted odds ratios and CPRA for one threshold."""

    data: ResponderData
    rates: ResponderRates
    differences: RiskDifferenceResult
    odds_ratios: OddsRatioResult | None
    cpra: CPRAResult
    _title = "Responder analysis"

    def _frames(self):
        out = [("rates", self.rates.table), ("differences", self.differences.table)]
        if self.odds_ratios is not None:
            out.append(("odds_ratios", self.odds_ratios.table))
        return out

    def _scalars(self):
        return self.data._scalars()


# =============================================================================== intervals
def wilson_interval(x: np.ndarray, n: np.ndarray, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([87]), np.array([161]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)  # R: prop.test(87, 161, correct = FALSE)
    (0.4633, 0.6155)
    """
    x = np.asarray(x, float)
    n = np.asarray(n, float)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe_interval(x1, n1, x2, n2, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for p1 - p2.

    Examples
    --------
    >>> lo, hi = newcombe_interval(87, 161, 45, 140)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.107, 0.3228)
    """
    l1, u1 = wilson_interval(np.asarray(x1), np.asarray(n1), conf_level)
    l2, u2 = wilson_interval(np.asarray(x2), np.asarray(n2), conf_level)
    p1 = np.asarray(x1, float) / np.asarray(n1, float)
    p2 = np.asarray(x2, float) / np.asarray(n2, float)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi


# =============================================================================== derivation
def responders(
    cohort: Any,
    outcome: str,
    *,
    threshold: str | float = "moderate",
    relative: bool = True,
    population: str = "completers",
) -> ResponderData:
    """Responder status of each subject at each post-baseline visit.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
    threshold : str or float, default "moderate"
        Named threshold of the instrument or a value (fraction of baseline when ``relative``).
    relative : bool, default True
    population : {"completers", "assessed", "nri"}, default "completers"
        ``"completers"``: subjects assessed at the last scheduled visit, at each visit where
        they were assessed (Vickers et al. 2004); ``"assessed"``: everyone assessed at the visit;
        ``"nri"``: every randomised subject, not assessed = non-responder.

    Returns
    -------
    ResponderData
    """
    spec = cohort.spec
    outcomes = getattr(spec, "outcomes", {}) or {}
    if outcome not in outcomes:
        raise ModelError(f"outcome {outcome!r} is not an outcome of study "
                         f"{getattr(spec, 'name', '?')!r}; its outcomes: {sorted(outcomes)}")
    if population not in POPULATIONS:
        raise ModelError(f"population must be one of {POPULATIONS}, got {population!r}")
    instrument = outcomes[outcome].instrument
    thr = resolve_threshold(instrument, threshold, relative)
    visits = cohort.visits
    subjects = cohort.subjects.copy()
    subjects["subject"] = subjects["subject"].astype(str)
    post_names = [v.name for v in spec.visits if not v.baseline]
    v = visits.loc[visits["visit"].astype(str).isin(post_names)].copy()
    imp, rel = _improvement_columns(visits, outcome, instrument)
    v["improvement"] = imp.loc[v.index]
    v["pct_improvement"] = 100 * rel.loc[v.index]
    score = v["pct_improvement"] / 100 if relative else v["improvement"]
    v["assessed"] = v[outcome].notna()  # NaN relative score (baseline 0): not a responder
    v["responder"] = np.where(v["assessed"], reaches(score, thr)[0].astype(float), np.nan)
    v["subject"] = v["subject"].astype(str)
    if "completer" in subjects.columns:
        comp = subjects.set_index("subject")["completer"].astype(bool)
    else:
        last = post_names[-1]
        comp = v.loc[v["visit"].astype(str) == last].set_index("subject")["assessed"]
    v["completer"] = v["subject"].map(comp).fillna(False).astype(bool)
    if population == "completers":
        v = v.loc[v["completer"] & v["assessed"]]
    elif population == "assessed":
        v = v.loc[v["assessed"]]
    else:
        v["responder"] = v["responder"].fillna(0.0)
    arms = tuple(a.name for a in spec.arms)
    control = next((a for a in spec.arms if getattr(a, "control", False)), None)
    reference = control.name if control is not None else arms[0]
    bcol = f"{outcome}_baseline"
    out = pd.DataFrame({
        "subject": v["subject"].to_numpy(),
        "arm": pd.Categorical(v["arm"].astype(str).to_numpy(), categories=list(arms)),
        "arm_class": v["arm_class"].astype(str).to_numpy() if "arm_class" in v else "",
        "visit": pd.Categorical(v["visit"].astype(str).to_numpy(), categories=post_names,
                                ordered=True),
        "week": v["week"].astype(float).to_numpy(),
        "baseline": v[bcol].astype(float).to_numpy() if bcol in v else np.nan,
        "value": v[outcome].astype(float).to_numpy(),
        "improvement": v["improvement"].to_numpy(float),
        "pct_improvement": v["pct_improvement"].to_numpy(float),
        "assessed": v["assessed"].to_numpy(bool),
        "responder": v["responder"].to_numpy(float),
        "completer": v["completer"].to_numpy(bool),
    })
    names = [getattr(c, "name", c) for c in getattr(spec, "covariates", ())]
    covs = []
    sub_idx = subjects.set_index("subject")
    for c in ["site", "condition", *names]:
        if c in sub_idx.columns and c not in out.columns and sub_idx[c].notna().any():
            out[c] = out["subject"].map(sub_idx[c]).to_numpy()
            covs.append(c)
    out = out.sort_values(["visit", "arm", "subject"], kind="stable").reset_index(drop=True)
    return ResponderData(table=out, outcome=outcome, threshold=thr, relative=relative,
                         population=population, arms=arms, reference=reference,
                         visits=tuple(post_names), covariates=tuple(covs),
                         study=getattr(spec, "name", ""))


def _check(data: Any) -> ResponderData:
    if not isinstance(data, ResponderData):
        raise ModelError(f"expected ResponderData (from painstudy.models.responders.responders), "
                         f"got {type(data).__name__}")
    if data.table.empty:
        raise ModelError(f"no subjects in the {data.population!r} population")
    return data


def _visits(data: ResponderData, visit: str | Sequence[str] | None) -> list[str]:
    if visit is None:
        return list(data.visits)
    vs = [visit] if isinstance(visit, str) else list(visit)
    for v in vs:
        if v not in data.visits:
            raise ModelError(f"visit {v!r} is not a post-baseline visit; visits: {list(data.visits)}")
    return vs


# =============================================================================== analyses
def responder_rates(data: ResponderData, *, conf_level: float = 0.95) -> ResponderRates:
    """Responders per arm at each visit, with Wilson score intervals.

    Parameters
    ----------
    data : ResponderData
    conf_level : float, default 0.95

    Returns
    -------
    ResponderRates
    """
    data = _check(data)
    t = data.table
    g = t.groupby(["arm", "visit"], observed=True)
    tab = g.agg(week=("week", "first"), n=("responder", "size"),
                responders=("responder", "sum")).reset_index()
    tab["responders"] = tab["responders"].astype(int)
    tab["rate"] = tab["responders"] / tab["n"]
    tab["ci_lower"], tab["ci_upper"] = wilson_interval(tab["responders"], tab["n"], conf_level)
    tab = tab.sort_values(["visit", "arm"]).reset_index(drop=True)
    return ResponderRates(table=tab[["arm", "visit", "week", "n", "responders", "rate",
                                     "ci_lower", "ci_upper"]], conf_level=conf_level)


def _nnt_note(est: float, lo: float, hi: float) -> str:
    if not np.isfinite(est) or est == 0:
        return "no difference"
    if lo > 0:
        return f"NNT (benefit) {1 / est:.1f} ({1 / hi:.1f} to {1 / lo:.1f})"
    if hi < 0:
        return f"NNT (harm) {-1 / est:.1f} ({-1 / lo:.1f} to {-1 / hi:.1f})"
    kind = "benefit" if est > 0 else "harm"
    return (f"NNT ({kind}) {abs(1 / est):.1f}; CI: NNT (benefit) {1 / hi:.1f} to infinity to "
            f"NNT (harm) {-1 / lo:.1f}")


def risk_difference(
    data: ResponderData,
    *,
    visit: str | Sequence[str] | None = None,
    reference: str | None = None,
    ci: str = "wald",
    conf_level: float = 0.95,
) -> RiskDifferenceResult:
    """Difference in responder proportions against the reference arm, and NNT.

    Parameters
    ----------
    data : ResponderData
    visit : str or list of str, optional
        Default every post-baseline visit.
    reference : str, optional
        Default the study's control arm.
    ci : {"wald", "newcombe"}, default "wald"
        Wald (normal approximation, unpooled SE) as in Vickers et al. 2004, or Newcombe's
        hybrid score interval (better with small samples or rates near 0 or 1).
    conf_level : float, default 0.95

    Returns
    -------
    RiskDifferenceResult
    """
    data = _check(data)
    if ci not in ("wald", "newcombe"):
        raise ModelError(f"ci must be 'wald' or 'newcombe', got {ci!r}")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    rows = []
    t = data.table
    for vis in _visits(data, visit):
        tv = t.loc[t["visit"].astype(str) == vis]
        r = tv.loc[tv["arm"].astype(str) == reference, "responder"]
        n0, x0 = len(r), int(r.sum())
        for arm in data.arms:
            if arm == reference:
                continue
            a = tv.loc[tv["arm"].astype(str) == arm, "responder"]
            n1, x1 = len(a), int(a.sum())
            if n1 == 0 or n0 == 0:
                continue
            p1, p0 = x1 / n1, x0 / n0
            est = p1 - p0
            se = float(np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0))
            if ci == "wald":
                lo, hi = est - z * se, est + z * se
            else:
                lo, hi = (float(v) for v in newcombe_interval(x1, n1, x0, n0, conf_level))
            table = np.array([[x1, n1 - x1], [x0, n0 - x0]], float)
            if (table.sum(0) > 0).all():
                chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
            else:
                chi2, p = np.nan, np.nan
            rows.append({
                "visit": vis, "arm": arm, "reference": reference, "n": n1, "responders": x1,
                "rate": p1, "n_reference": n0, "responders_reference": x0, "rate_reference": p0,
                "estimate": est, "std_error": se, "ci_lower": lo, "ci_upper": hi,
                "statistic": float(chi2), "p_value": float(p),
                "nnt": 1 / est if est != 0 else np.inf,
                "nnt_ci_lower": 1 / hi if hi != 0 else np.inf,
                "nnt_ci_upper": 1 / lo if lo != 0 else np.inf,
                "nnt_note": _nnt_note(est, lo, hi)})
    return RiskDifferenceResult(table=pd.DataFrame(rows), ci=ci, conf_level=conf_level)


def responder_odds_ratio(
    data: ResponderData,
    *,
    visit: str | None = None,
    covariates: Sequence[str] | None = None,
    reference: str | None = None,
    conf_level: float = 0.95,
) -> OddsRatioResult:
    """Odds ratio of response for each arm vs the reference, from a logistic model.

    ``responder ~ arm + baseline + covariates`` (statsmodels GLM, binomial, logit link) at
    one visit.

    Parameters
    ----------
    data : ResponderData
    visit : str, optional
        Default the last scheduled visit.
    covariates : sequence of str, optional
        Default ``["baseline"]`` plus the study covariates that vary (not site: one level per
        few subjects destabilises a logistic model; not a covariate that only recodes an earlier
        one). Strings/categoricals are dummy-coded; collinear terms are dropped with a warning.
    reference : str, optional
    conf_level : float, default 0.95

    Returns
    -------
    OddsRatioResult
    """
    import statsmodels.api as sm

    data = _check(data)
    visit = data.visits[-1] if visit is None else visit
    _visits(data, visit)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    reference = data.reference if reference is None else reference
    t = data.table.loc[data.table["visit"].astype(str) == visit]
    if covariates is None:
        covariates = distinct_covariates(t, ["baseline"] + [
            c for c in data.covariates if c != "site" and t[c].nunique(dropna=True) > 1])
    X = pd.DataFrame(index=t.index)
    X["const"] = 1.0
    for a in data.arms:
        if a != reference and (t["arm"].astype(str) == a).any():
            X[f"arm[{a}]"] = (t["arm"].astype(str) == a).astype(float)
    for c in covariates:
        if c not in t.columns:
            raise ModelError(f"covariate {c!r} is not available; available: "
                             f"{['baseline', *data.covariates]}")
        v = t[c]
        if pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v):
            X[c] = v.astype(float)
        else:
            levels = sorted(v.dropna().astype(str).unique())
            for k in levels[1:]:
                X[f"{c}[{k}]"] = (v.astype(str) == k).astype(float)
    X = X.loc[:, (X.nunique() > 1) | (X.columns == "const")]
    ok = X.notna().all(axis=1) & t["responder"].notna()
    X, dropped = drop_collinear(X, ok)
    y = t.loc[ok, "responder"].to_numpy(float)
    if y.size == 0 or y.min() == y.max():
        raise ModelError(f"at visit {visit!r} every subject has the same response; no odds "
                         f"ratio can be estimated")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.GLM(y, X.loc[ok].to_numpy(float), family=sm.families.Binomial()).fit(tol=1e-12)
    for w in caught:
        if "converge" in str(w.message).lower() or "separation" in str(w.message).lower():
            warnings.warn(f"responder logistic model: {w.message}", ConvergenceWarning,
                          stacklevel=2)
    est, se = np.asarray(fit.params), np.asarray(fit.bse)
    stat = est / se
    tab = pd.DataFrame({"term": list(X.columns), "estimate": est, "std_error": se,
                        "statistic": stat, "p_value": 2 * stats.norm.sf(np.abs(stat)),
                        "ci_lower": est - z * se, "ci_upper": est + z * se})
    tab["term"] = tab["term"].replace({"const": "intercept"})
    tab["odds_ratio"] = np.exp(tab["estimate"])
    tab["or_ci_lower"] = np.exp(tab["ci_lower"])
    tab["or_ci_upper"] = np.exp(tab["ci_upper"])
    note = ", ".join(covariates)
    if dropped:
        note += f" (dropped as collinear: {', '.join(dropped)})"
    return OddsRatioResult(table=tab, visit=visit, n=int(ok.sum()), covariates=note)


def distinct_covariates(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Leave out covariates that merely recode an earlier one (one-to-one mapping of values),
    e.g. ``condition`` (migraine / tension-type) and a 0/1 ``migraine`` column."""
    keep: list[str] = []
    for c in names:
        dup = False
        for k in keep:
            pair = table[[k, c]].dropna().astype(str).drop_duplicates()
            if pair[k].is_unique and pair[c].is_unique:
                dup = True
                break
        if not dup:
            keep.append(c)
    return keep


def drop_collinear(X: pd.DataFrame, rows: pd.Series | None = None,
                   tol: float = 1e-9) -> tuple[pd.DataFrame, list[str]]:
    """Drop columns that are linear combinations of earlier ones (warns, names them)."""
    M = X.loc[rows] if rows is not None else X
    M = M.dropna().to_numpy(float)
    keep, dropped = [], []
    for j, name in enumerate(X.columns):
        cand = keep + [j]
        sub = M[:, cand]
        if np.linalg.matrix_rank(sub, tol=tol * max(1.0, np.abs(sub).max())) == len(cand):
            keep.append(j)
        else:
            dropped.append(str(name))
    if dropped:
        warnings.warn(f"term(s) {dropped} are collinear with earlier terms (e.g. condition "
                      f"coded twice) and were left out of the model", UserWarning, stacklevel=3)
    return X.iloc[:, keep], dropped


def cpra(
    data: ResponderData,
    *,
    visit: str | None = None,
    thresholds: Sequence[float] | None = None,
) -> CPRAResult:
    """Cumulative proportion of responders per arm at one visit.

    For each threshold x, the proportion of the arm whose improvement is at least x (percent of
    baseline when ``data.relative``, else points). Not-assessed subjects count as
    non-responders under ``population="nri"``.

    Parameters
    ----------
    data : ResponderData
    visit : str, optional
        Default the last scheduled visit.
    thresholds : sequence of float, optional
        Default 0, 1, ..., 100 (% improvement) or 101 points from 0 to the largest improvement.

    Returns
    -------
    CPRAResult
    """
    data = _check(data)
    visit = data.visits[-1] if visit is None else visit
    _visits(data, visit)
    t = data.table.loc[data.table["visit"].astype(str) == visit]
    col = "pct_improvement" if data.relative else "improvement"
    if thresholds is None:
        if data.relative:
            thresholds = np.arange(0, 101, 1.0)
        else:
            top = float(np.nanmax(t[col])) if t[col].notna().any() else 1.0
            thresholds = np.linspace(0, max(top, 1e-9), 101)
    thresholds = np.asarray(thresholds, float)
    rows = []
    for arm in data.arms:
        v = t.loc[t["arm"].astype(str) == arm, col].to_numpy(float)
        if v.size == 0:
            continue
        hits = reaches(v, thresholds).sum(axis=1)
        for x, h in zip(thresholds, hits):
            rows.append({"arm": arm, "threshold": x, "n": int(v.size), "responders": int(h),
                         "proportion": h / v.size})
    tab = pd.DataFrame(rows)
    tab["arm"] = pd.Categorical(tab["arm"], categories=list(data.arms))
    return CPRAResult(table=tab, visit=visit, relative=data.relative)


def responder_analysis(
    cohort: Any,
    outcome: str,
    *,
    threshold: str | float = "moderate",
    relative: bool = True,
    visit: str | None = None,
    population: str = "completers",
    ci: str = "wald",
    covariates: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> ResponderAnalysis:
    """Responder rates, risk differences with NNT, adjusted odds ratios and CPRA.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
    threshold, relative, population
        See :func:`responders`.
    visit : str, optional
        Visit of the odds ratio and CPRA (rates and differences are given at every visit);
        default the last scheduled visit.
    ci : {"wald", "newcombe"}, default "wald"
    covariates : sequence of str, optional
        For the logistic model (default: baseline + study covariates).
    conf_level : float, default 0.95

    Returns
    -------
    ResponderAnalysis

    Examples
    --------
    >>> import painstudy
    >>> from painstudy.models.responders import responder_analysis
    >>> res = responder_analysis(painstudy.load_cohort("vickers2004"), "headache_score",
    ...                          threshold=0.35, visit="month12")  # doctest: +SKIP
    >>> res.differences.table.loc[1, ["estimate", "ci_lower", "ci_upper", "nnt"]]  # doctest: +SKIP
    """
    data = responders(cohort, outcome, threshold=threshold, relative=relative,
                      population=population)
    try:
        orr = responder_odds_ratio(data, visit=visit, covariates=covariates, conf_level=conf_level)
    except ModelError:
        orr = None
    return ResponderAnalysis(data=data, rates=responder_rates(data, conf_level=conf_level),
                             differences=risk_difference(data, ci=ci, conf_level=conf_level),
                             odds_ratios=orr, cpra=cpra(data, visit=visit))
