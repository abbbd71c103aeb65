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
  score and covariates: maximum likelihood (statsmodels GLM), or Firth's penalised likelihood
  (:mod:`painstudy.models.firth`) when an arm has 0 % or 100 % responders (separation), where
  maximum likelihood has no finite estimate;
- :func:`cpra` -- cumulative proportion of responders (per arm, for every threshold; the
  computation is :func:`painstudy.outcomes.cumulative_proportions`);
- :func:`responder_analysis` -- all of these at once.

Every result renders through :class:`painstudy.rendering.Rendered`; what a user must know to read
it (terms left out, the estimation method, warnings of the numerical libraries) is in its notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.cohort import Cohort
from painstudy.errors import ModelError
from painstudy.estimands import apply_estimand, estimand_for
from painstudy.improvement import describe_threshold, improvement_scores, resolve_threshold
from painstudy.outcomes import cumulative_proportions, reaches
from painstudy.rendering import Rendered, Tidy

from .binomial import newcombe_interval, wilson_interval
from .design import (
    check_columns,
    design_matrix,
    distinct_covariates,
    drop_collinear,
    drop_constant,
    normal_quantile,
    separated_terms,
    warnings_as_notes,
)

__all__ = [
    "ResponderData",
    "ResponderRates",
    "RiskDifferenceResult",
    "OddsRatioResult",
    "CPRAResult",
    "ResponderAnalysis",
    "responders",
    "responder_rates",
    "risk_difference",
    "responder_odds_ratio",
    "cpra",
    "responder_analysis",
    "wilson_interval",
    "newcombe_interval",
    "distinct_covariates",
    "drop_collinear",
]

POPULATIONS = ("completers", "assessed", "nri", "bocf")
#: the historical single imputation, labelled as such wherever the population is shown
BOCF_LABEL = "bocf: baseline carried forward (historical single imputation, for comparison only)"
BOCF_NOTE = (
    "baseline carried forward (BOCF) is a historical single imputation, shown for comparison only: a subject not "
    "assessed counts as unchanged from baseline, as if observed, which understates uncertainty (Cai et al., Pain 2020)"
)
#: Estimation methods of :func:`responder_odds_ratio`.
OR_METHODS = ("auto", "ml", "firth")


# =============================================================================== results
@dataclass(frozen=True, repr=False)
class ResponderData(Rendered):
    """Responder status per subject and post-baseline visit.

    ``table`` columns: ``subject, arm, arm_class, visit, week, baseline, value, improvement,
    pct_improvement, assessed, responder, completer`` plus covariates. ``responder`` is 1/0 and,
    for ``population="nri"``, 0 where the visit was not assessed; for ``population="bocf"`` a visit not
    assessed takes the baseline score (``value`` = baseline, improvement 0); rows outside the population
    are not in the table.
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
    estimand: object = None

    def facts(self) -> tuple[tuple[str, object], ...]:
        """Study, outcome, threshold, population, reference arm, rows and estimand, as (label, value)."""
        thr = describe_threshold(self.threshold, self.relative) if np.isfinite(self.threshold) else ""
        out = (
            ("study", self.study),
            ("outcome", self.outcome),
            ("threshold", thr),
            ("population", BOCF_LABEL if self.population == "bocf" else self.population),
            ("reference", self.reference),
            ("rows", len(self.table)),
        )
        return out + ((("intercurrent events", self.estimand.events_text()),) if self.estimand is not None else ())

    def tidy(self) -> Tidy:
        return Tidy("Responder data", self.facts(), (("table", self.table),))


@dataclass(frozen=True, repr=False)
class ResponderRates(Rendered):
    """``table``: ``arm, visit, week, n, responders, rate, ci_lower, ci_upper`` (Wilson)."""

    table: pd.DataFrame
    conf_level: float = 0.95

    def tidy(self) -> Tidy:
        return Tidy(
            "Responder rates", (("conf_level", self.conf_level), ("interval", "Wilson score")), (("table", self.table),)
        )


@dataclass(frozen=True, repr=False)
class RiskDifferenceResult(Rendered):
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
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Responder risk differences",
            (("interval", self.ci), ("conf_level", self.conf_level)),
            (("table", self.table),),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class OddsRatioResult(Rendered):
    """Logistic model of response.

    ``table``: ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper, odds_ratio,
    or_ci_lower, or_ci_upper`` (arm terms ``arm[<name>]``). With ``method="ml"``, ``statistic``
    is the Wald z and the interval is Wald's (as R ``confint.default``); with ``"firth"``,
    ``statistic`` is the penalised likelihood-ratio chi-square (1 df), the interval the profile
    penalised-likelihood interval (as R ``logistf``).
    """

    table: pd.DataFrame
    visit: str = ""
    n: int = 0
    covariates: str = ""
    method: str = "ml"
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Responder odds ratios (logistic regression)",
            (("visit", self.visit), ("n", self.n), ("covariates", self.covariates), ("method", self.method)),
            (("table", self.table),),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class CPRAResult(Rendered):
    """Cumulative proportion of responders. ``table``: ``arm, threshold, n, responders,
    proportion`` -- the proportion of the arm whose improvement is at least ``threshold``
    (percent of baseline when ``relative``, else points)."""

    table: pd.DataFrame
    visit: str = ""
    relative: bool = True

    def tidy(self) -> Tidy:
        return Tidy(
            "Cumulative proportion of responders",
            (("visit", self.visit), ("threshold unit", "% of baseline" if self.relative else "points")),
            (("table", self.table),),
        )


@dataclass(frozen=True, repr=False)
class ResponderAnalysis(Rendered):
    """Rates, risk differences with NNT, adjusted odds ratios and CPRA for one threshold.

    ``odds_ratios`` is None when no odds ratio can be estimated; ``notes`` then say why.
    """

    data: ResponderData
    rates: ResponderRates
    differences: RiskDifferenceResult
    odds_ratios: OddsRatioResult | None
    cpra: CPRAResult
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        tables = [("rates", self.rates.table), ("differences", self.differences.table)]
        if self.odds_ratios is not None:
            tables.append(("odds_ratios", self.odds_ratios.table))
        notes = list(self.notes)
        if self.data.population == "bocf":
            notes.append(BOCF_NOTE)
        if self.data.estimand is not None:
            notes.append(f"estimand: {self.data.estimand}")
        for part in (self.differences, self.odds_ratios):
            for n in part.notes if part is not None else ():
                if n not in notes:
                    notes.append(n)
        return Tidy("Responder analysis", self.data.facts(), tuple(tables), tuple(notes))


# =============================================================================== derivation
def responders(
    cohort: Cohort,
    outcome: str,
    *,
    threshold: str | float = "moderate",
    relative: bool = True,
    population: str = "completers",
    estimand=None,
) -> ResponderData:
    """Responder status of each subject at each post-baseline visit.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
    threshold : str or float, default "moderate"
        Named threshold of the instrument or a value (fraction of baseline when ``relative``).
    relative : bool, default True
    population : {"completers", "assessed", "nri", "bocf"}, default "completers"
        ``"completers"``: subjects assessed at the last scheduled visit, at each visit where
        they were assessed (Vickers et al. 2004); ``"assessed"``: everyone assessed at the visit;
        ``"nri"``: every randomised subject, not assessed = non-responder; ``"bocf"``: every
        randomised subject, a visit not assessed takes the baseline score (baseline observation
        carried forward, as pain trials used to report responders: a historical single imputation,
        labelled as such, for comparison only; thresholds being positive improvements, it classes
        the same subjects as ``"nri"``).
    estimand : optional
        How intercurrent events are handled (see :func:`painstudy.compare_arms`; default: the study's
        declared estimand): a composite strategy makes the subject a non-responder from its event on, a
        hypothetical or while-on-treatment strategy sets its later outcomes aside (missing).

    Returns
    -------
    ResponderData
    """
    cohort, est = apply_estimand(cohort, estimand_for(cohort, outcome, estimand))
    spec = cohort.spec
    instrument = spec.outcome(outcome).instrument
    if population not in POPULATIONS:
        raise ModelError(f"population must be one of {POPULATIONS}, got {population!r}")
    thr = resolve_threshold(instrument, threshold, relative)
    visits = cohort.visits
    subjects = cohort.subjects.copy()
    subjects["subject"] = subjects["subject"].astype(str)
    post_names = [v.name for v in spec.post_baseline_visits]
    bcol = f"{outcome}_baseline"
    v = visits.loc[visits["visit"].astype(str).isin(post_names)].copy()
    imp, rel = improvement_scores(visits, outcome, instrument)
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
    elif population == "bocf":  # the baseline carried forward: no improvement where not assessed
        gone = ~v["assessed"]
        v.loc[gone, outcome] = v.loc[gone, bcol] if bcol in v else np.nan
        v.loc[gone, "improvement"] = 0.0
        v.loc[gone, "pct_improvement"] = np.where(v.loc[gone, bcol] != 0, 0.0, np.nan) if bcol in v else np.nan
        zero = v.loc[gone, "pct_improvement"] / 100 if relative else v.loc[gone, "improvement"]
        v.loc[gone, "responder"] = reaches(zero, thr)[0].astype(float)
    else:
        v["responder"] = v["responder"].fillna(0.0)
    arms = tuple(a.name for a in spec.arms)
    out = pd.DataFrame(
        {
            "subject": v["subject"].to_numpy(),
            "arm": pd.Categorical(v["arm"].astype(str).to_numpy(), categories=list(arms)),
            "arm_class": v["arm_class"].astype(str).to_numpy() if "arm_class" in v else "",
            "visit": pd.Categorical(v["visit"].astype(str).to_numpy(), categories=post_names, ordered=True),
            "week": v["week"].astype(float).to_numpy(),
            "baseline": v[bcol].astype(float).to_numpy() if bcol in v else np.nan,
            "value": v[outcome].astype(float).to_numpy(),
            "improvement": v["improvement"].to_numpy(float),
            "pct_improvement": v["pct_improvement"].to_numpy(float),
            "assessed": v["assessed"].to_numpy(bool),
            "responder": v["responder"].to_numpy(float),
            "completer": v["completer"].to_numpy(bool),
        }
    )
    covs = []
    sub_idx = subjects.set_index("subject")
    for c in ["site", "condition", *(c.name for c in spec.covariates)]:
        if c in sub_idx.columns and c not in out.columns and sub_idx[c].notna().any():
            out[c] = out["subject"].map(sub_idx[c]).to_numpy()
            covs.append(c)
    out = out.sort_values(["visit", "arm", "subject"], kind="stable").reset_index(drop=True)
    return ResponderData(
        table=out,
        outcome=outcome,
        threshold=thr,
        relative=relative,
        population=population,
        arms=arms,
        reference=spec.reference_arm.name,
        visits=tuple(post_names),
        covariates=tuple(covs),
        study=spec.name,
        estimand=est,
    )


def _check(data: object) -> ResponderData:
    if not isinstance(data, ResponderData):
        raise ModelError(
            f"expected ResponderData (from painstudy.models.responders.responders), got {type(data).__name__}"
        )
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
    tab = g.agg(week=("week", "first"), n=("responder", "size"), responders=("responder", "sum")).reset_index()
    tab["responders"] = tab["responders"].astype(int)
    tab["rate"] = tab["responders"] / tab["n"]
    tab["ci_lower"], tab["ci_upper"] = wilson_interval(tab["responders"], tab["n"], conf_level)
    tab = tab.sort_values(["visit", "arm"]).reset_index(drop=True)
    return ResponderRates(
        table=tab[["arm", "visit", "week", "n", "responders", "rate", "ci_lower", "ci_upper"]], conf_level=conf_level
    )


def _nnt_note(est: float, lo: float, hi: float) -> str:
    if not np.isfinite(est) or est == 0:
        return "no difference"
    if lo > 0:
        return f"NNT (benefit) {1 / est:.1f} ({1 / hi:.1f} to {1 / lo:.1f})"
    if hi < 0:
        return f"NNT (harm) {-1 / est:.1f} ({-1 / lo:.1f} to {-1 / hi:.1f})"
    kind = "benefit" if est > 0 else "harm"
    return f"NNT ({kind}) {abs(1 / est):.1f}; CI: NNT (benefit) {1 / hi:.1f} to infinity to NNT (harm) {-1 / lo:.1f}"


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
    z = normal_quantile(conf_level)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    rows, notes = [], []
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
                notes.append(
                    f"{vis}: {arm} vs {reference} not compared ("
                    f"{arm if n1 == 0 else reference} has no subject in the population)"
                )
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
            rows.append(
                {
                    "visit": vis,
                    "arm": arm,
                    "reference": reference,
                    "n": n1,
                    "responders": x1,
                    "rate": p1,
                    "n_reference": n0,
                    "responders_reference": x0,
                    "rate_reference": p0,
                    "estimate": est,
                    "std_error": se,
                    "ci_lower": lo,
                    "ci_upper": hi,
                    "statistic": float(chi2),
                    "p_value": float(p),
                    "nnt": 1 / est if est != 0 else np.inf,
                    "nnt_ci_lower": 1 / hi if hi != 0 else np.inf,
                    "nnt_ci_upper": 1 / lo if lo != 0 else np.inf,
                    "nnt_note": _nnt_note(est, lo, hi),
                }
            )
    return RiskDifferenceResult(table=pd.DataFrame(rows), ci=ci, conf_level=conf_level, notes=tuple(notes))


def responder_odds_ratio(
    data: ResponderData,
    *,
    visit: str | None = None,
    covariates: Sequence[str] | None = None,
    reference: str | None = None,
    conf_level: float = 0.95,
    method: str = "auto",
) -> OddsRatioResult:
    """Odds ratio of response for each arm vs the reference, from a logistic model.

    ``responder ~ arm + baseline + covariates`` at one visit.

    Parameters
    ----------
    data : ResponderData
    visit : str, optional
        Default the last scheduled visit.
    covariates : sequence of str, optional
        Default ``["baseline"]`` plus the study covariates that vary (not site: one level per
        few subjects destabilises a logistic model; not a covariate that only recodes an earlier
        one). Strings/categoricals are dummy-coded; constant and collinear terms are left out and
        named in the notes; an unknown name is an error listing the available ones.
    reference : str, optional
    conf_level : float, default 0.95
    method : {"auto", "ml", "firth"}, default "auto"
        ``"ml"``: maximum likelihood (statsmodels GLM, Wald intervals, as R ``glm`` +
        ``confint.default``); ``"firth"``: Firth's penalised likelihood with profile intervals
        and penalised likelihood-ratio p values (as R ``logistf``,
        :func:`painstudy.models.firth.firth_logit`); ``"auto"``: maximum likelihood unless the data
        are separated (e.g. an arm with 0 % or 100 % responders, where no finite maximum
        likelihood estimate exists), then Firth, with a note saying why.

    Returns
    -------
    OddsRatioResult
    """
    import statsmodels.api as sm

    from .firth import firth_logit

    data = _check(data)
    visit, t, covariates, reference = _or_arguments(data, visit, covariates, reference, method)
    z = normal_quantile(conf_level)
    if (t["arm"].astype(str) == reference).sum() == 0:
        raise ModelError(f"reference arm {reference!r} has no subject at visit {visit!r}")
    X = design_matrix(t, ["arm", *covariates], intercept="const", reference={"arm": reference})
    notes: list[str] = []
    X, const = drop_constant(X, keep=["const"])
    if const:
        notes.append(f"term(s) constant at {visit}, left out: {', '.join(const)}")
    ok = X.notna().all(axis=1) & t["responder"].notna()
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} subject(s) with a missing covariate left out at {visit}")
    X, dropped = drop_collinear(X, ok)
    if dropped:
        notes.append(
            f"term(s) collinear with earlier terms (e.g. condition coded twice), left out: {', '.join(dropped)}"
        )
    y = t.loc[ok, "responder"].to_numpy(float)
    if y.size == 0 or y.min() == y.max():
        raise ModelError(f"at visit {visit!r} every subject has the same response; no odds ratio can be estimated")
    Xok = X.loc[ok]
    separated = separated_terms(Xok, y)
    use = method if method != "auto" else ("firth" if separated else "ml")
    if separated:
        rates = t.loc[ok].groupby(t.loc[ok, "arm"].astype(str), observed=True)["responder"].agg(["sum", "size"])
        extreme = [
            f"{a} ({int(r['sum'])} of {int(r['size'])})" for a, r in rates.iterrows() if r["sum"] in (0, r["size"])
        ]
        why = (
            f"arm(s) with 0% or 100% responders: {', '.join(extreme)}"
            if extreme
            else f"terms {', '.join(separated)} predict response perfectly"
        )
        if use == "ml":
            notes.append(
                f"separation ({why}): maximum likelihood has no finite estimate for "
                f"{', '.join(separated)}; their estimates and standard errors are meaningless "
                f"(use method='firth')"
            )
        else:
            notes.append(
                f"separation ({why}): odds ratios by Firth's penalised likelihood, profile "
                f"penalised-likelihood intervals and penalised likelihood-ratio p values"
            )
    if use == "ml":
        with warnings_as_notes(notes, "logistic model: "):
            fit = sm.GLM(y, Xok.to_numpy(float), family=sm.families.Binomial()).fit(tol=1e-12)
        est, se = np.asarray(fit.params), np.asarray(fit.bse)
        stat = est / se
        tab = pd.DataFrame(
            {
                "term": list(X.columns),
                "estimate": est,
                "std_error": se,
                "statistic": stat,
                "p_value": 2 * stats.norm.sf(np.abs(stat)),
                "ci_lower": est - z * se,
                "ci_upper": est + z * se,
            }
        )
    else:
        with warnings_as_notes(notes, "Firth logistic model: "):
            ff = firth_logit(Xok.to_numpy(float), y, conf_level=conf_level)
        tab = pd.DataFrame(
            {
                "term": list(X.columns),
                "estimate": ff.params,
                "std_error": ff.bse,
                "statistic": ff.chi2,
                "p_value": ff.p_values,
                "ci_lower": ff.ci_lower,
                "ci_upper": ff.ci_upper,
            }
        )
    tab["term"] = tab["term"].replace({"const": "intercept"})
    with np.errstate(over="ignore"):  # a meaningless ML estimate under separation: inf, and a note
        tab["odds_ratio"] = np.exp(tab["estimate"])
        tab["or_ci_lower"] = np.exp(tab["ci_lower"])
        tab["or_ci_upper"] = np.exp(tab["ci_upper"])
    note = ", ".join(covariates)
    if dropped:
        note += f" (dropped as collinear: {', '.join(dropped)})"
    return OddsRatioResult(table=tab, visit=visit, n=int(ok.sum()), covariates=note, method=use, notes=tuple(notes))


def _or_arguments(
    data: ResponderData, visit: str | None, covariates: Sequence[str] | None, reference: str | None, method: str
) -> tuple[str, pd.DataFrame, list[str], str]:
    """Check the arguments of :func:`responder_odds_ratio`: visit, its rows, covariates, reference."""
    if method not in OR_METHODS:
        raise ModelError(f"method must be one of {', '.join(map(repr, OR_METHODS))}, got {method!r}")
    visit = data.visits[-1] if visit is None else visit
    _visits(data, visit)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    t = data.table.loc[data.table["visit"].astype(str) == visit]
    if covariates is None:
        covariates = distinct_covariates(
            t, ["baseline"] + [c for c in data.covariates if c != "site" and t[c].nunique(dropna=True) > 1]
        )
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    check_columns(
        t, covariates, what="covariate", available=["baseline", *data.covariates], where="the responder table"
    )
    return visit, t, covariates, reference


def cpra(
    data: ResponderData,
    *,
    visit: str | None = None,
    thresholds: Sequence[float] | None = None,
) -> CPRAResult:
    """Cumulative proportion of responders per arm at one visit.

    For each threshold x, the proportion of the arm whose improvement is at least x (percent of
    baseline when ``data.relative``, else points). Not-assessed subjects count as
    non-responders under ``population="nri"``. The computation is
    :func:`painstudy.outcomes.cumulative_proportions`, as for :func:`painstudy.cpra`.

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
    tab = cumulative_proportions(t[col], t["arm"].astype(str), thresholds, arms=data.arms)
    tab["arm"] = pd.Categorical(tab["arm"], categories=list(data.arms))
    return CPRAResult(table=tab, visit=visit, relative=data.relative)


def responder_analysis(
    cohort: Cohort,
    outcome: str,
    *,
    threshold: str | float = "moderate",
    relative: bool = True,
    visit: str | None = None,
    population: str = "completers",
    ci: str = "wald",
    covariates: Sequence[str] | None = None,
    conf_level: float = 0.95,
    method: str = "auto",
    estimand=None,
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
    method : {"auto", "ml", "firth"}, default "auto"
        Estimation of the odds ratios (see :func:`responder_odds_ratio`).
    estimand : optional
        How intercurrent events are handled (see :func:`responders`).

    Returns
    -------
    ResponderAnalysis
        ``odds_ratios`` is None when no odds ratio can be estimated (e.g. everyone responded);
        the notes say why.

    Examples
    --------
    >>> import painstudy
    >>> res = responder_analysis(painstudy.load_cohort("demo"), "pain", threshold="moderate")
    >>> [name for name, _ in res.tidy().tables]
    ['rates', 'differences', 'odds_ratios']
    """
    data = responders(cohort, outcome, threshold=threshold, relative=relative, population=population, estimand=estimand)
    notes = []
    _or_arguments(data, visit, covariates, None, method)  # a wrong argument is the user's error
    try:
        orr = responder_odds_ratio(data, visit=visit, covariates=covariates, conf_level=conf_level, method=method)
    except ModelError as exc:  # a property of the data (e.g. everyone responded)
        orr = None
        notes.append(f"odds ratios not estimated: {exc}")
    return ResponderAnalysis(
        data=data,
        rates=responder_rates(data, conf_level=conf_level),
        differences=risk_difference(data, ci=ci, conf_level=conf_level),
        odds_ratios=orr,
        cpra=cpra(data, visit=visit),
        notes=tuple(notes),
    )
