"""Responders over all visits: a logistic GEE of responder status on arm x visit.

The responder status of each subject at each post-baseline visit (:class:`ResponderData`) is modelled by
generalised estimating equations (Liang & Zeger 1986) with a logit link:

``logit P(responder_ij = 1) = intercept + arm + visit + arm:visit [+ covariates]``

(treatment coding: the reference arm and the first visit are the reference levels), the subject being the
cluster. The working correlation of a subject's visits is ``"independence"``, ``"exchangeable"`` (one
correlation alpha between any two visits) or ``"unstructured"`` (one per pair of visits); the standard
errors are robust (sandwich, no small-sample correction), so they stay valid when the working
correlation is wrong. The estimators are those of R geepack's ``geeglm`` (the reference of the tests):

- Pearson residuals ``r_ij = (y_ij - mu_ij) / sqrt(mu_ij (1 - mu_ij))``; the scale ``phi = sum r_ij^2 / N``
  (N observations; statsmodels' default divides by N - p, geepack by N);
- exchangeable: ``alpha = sum_i sum_{j<k} r_ij r_ik / (phi * sum_i n_i (n_i - 1) / 2)`` (statsmodels'
  ``Exchangeable`` with ``ddof_scale=0``);
- unstructured: ``alpha_jk = sum_i r_ij r_ik / (phi * n_jk)``, ``n_jk`` the subjects observed at both visits
  j and k, the overall scale phi in the denominator (not the visits' own variances, which statsmodels'
  ``Unstructured`` uses): :class:`GeepackUnstructured`.

Per visit and arm, the responder probability is standardised over the sample: every subject of the fit
(with its covariates) is predicted at that arm and visit and the predictions are averaged. The marginal
risk difference of an arm against the reference arm is the difference of these means, its standard error
by the delta method with the robust covariance of the coefficients (covariates held fixed, as Ge et al.
2011). The odds ratio is the model's, ``exp`` of the arm's coefficient plus its arm:visit coefficient
(conditional on the covariates when there are any; then the marginal odds ratio of the standardised
means is given too).

Missing visits: GEE uses every visit a subject was assessed at, but its (unweighted) estimating equations
are unbiased only when visits are missing completely at random (MCAR); unlike the likelihood of an MMRM
they are not valid when missingness depends on earlier observed responses (MAR).

References
----------
Liang KY, Zeger SL (1986). Longitudinal data analysis using generalized linear models. Biometrika 73:13-22.
Halekoh U, Hojsgaard S, Yan J (2006). The R package geepack for generalized estimating equations.
J Stat Softw 15(2).
Ge M, Durham LK, Meyer RD, Xie W, Thomas N (2011). Drug Inf J 45:481-493.

Examples
--------
>>> import painstudy
>>> data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="assessed")
>>> res = painstudy.gee_responders(data, corstr="exchangeable")
>>> [name for name, _ in res.tidy().tables]
['estimates', 'means', 'coefficients', 'working_correlation']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from statsmodels.genmod.cov_struct import Unstructured

from painstudy.errors import ModelError
from painstudy.rendering import Rendered, Tidy

from .design import (
    design_matrix,
    drop_collinear,
    drop_constant,
    normal_quantile,
    warnings_as_notes,
)
from .gcomp import responder_covariates
from .responders import BOCF_NOTE, ResponderData
from .stratified import checked_responder_data, responder_visits

__all__ = ["GEEResponderResult", "GeepackUnstructured", "gee_responders", "CORSTRS"]

#: Working correlations of :func:`gee_responders`.
CORSTRS = ("exchangeable", "unstructured", "independence")
#: Convergence of the estimating equations (norm of the score) and the iteration limit.
CTOL, MAXITER = 1e-10, 200

MCAR_NOTE = (
    "missing visits: GEE uses each subject's assessed visits, but its unweighted estimating equations are valid "
    "only when visits are missing completely at random (MCAR); unlike an MMRM's likelihood they are biased when "
    "missingness depends on earlier responses (MAR): see the sensitivity analyses (multiple imputation)"
)
POPULATION_NOTES = {
    "assessed": "population 'assessed': every subject at each visit it was assessed at; visits not assessed are "
    "left out (not imputed)",
    "completers": "population 'completers': subjects assessed at the last visit only; the estimand is conditional "
    "on completing the study, not the randomised population's",
    "nri": "population 'nri': a visit not assessed counts as non-response (composite strategy), so no visit is "
    "missing and the MCAR caveat concerns no one",
    "bocf": BOCF_NOTE,
}


# =============================================================================== working correlation
class GeepackUnstructured(Unstructured):
    """Unstructured working correlation estimated as R geepack does.

    With Pearson residuals ``r_ij`` of subject i at visit j (its position ``time`` in the complete sequence of
    visits) and the overall scale ``phi = sum r_ij^2 / (N - ddof_scale)``,

    ``alpha_jk = sum_i r_ij r_ik / (phi * n_jk)`` for ``j != k``, ``alpha_jj = 1``,

    ``n_jk`` the subjects observed at both j and k. statsmodels' :class:`~statsmodels.genmod.cov_struct.Unstructured`
    instead standardises the summed products by the visits' own variances; with ``fit(ddof_scale=0)`` this
    class gives geepack's ``geeglm(..., corstr = "unstructured")``. The estimate is not forced to be positive
    definite (statsmodels projects it when solving, and says so).
    """

    def update(self, params):
        model = self.model
        varfunc = model.family.variance
        q = int(model.time.max()) + 1
        products, pairs = np.zeros((q, q)), np.zeros((q, q))
        ssr, nobs = 0.0, 0
        for i in range(model.num_group):
            expval, _ = model.cached_means[i]
            resid = (model.endog_li[i] - expval) / np.sqrt(varfunc(expval))
            ix = model.time_li[i][:, 0]
            products[np.ix_(ix, ix)] += np.outer(resid, resid)
            pairs[np.ix_(ix, ix)] += 1
            ssr += float(resid @ resid)
            nobs += len(resid)
        phi = ssr / (nobs - model.ddof_scale)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = products / (phi * pairs)
        alpha[pairs == 0] = 0.0  # two visits never observed together: no information, no correlation
        np.fill_diagonal(alpha, 1.0)
        self.dep_params = alpha


# =============================================================================== result
@dataclass(frozen=True, repr=False)
class GEEResponderResult(Rendered):
    """Responders over all visits by a logistic GEE (robust standard errors).

    Attributes
    ----------
    estimates : DataFrame
        ``visit, arm, reference, comparison, measure, estimate, std_error, statistic, p_value, ci_lower,
        ci_upper``. ``measure``: ``"risk difference"`` (marginal, arm minus reference: standardised means,
        delta method), ``"odds ratio"`` (the model's; ``std_error`` of its logarithm, the interval
        exp(log OR +- z SE)) and, with covariates, ``"marginal odds ratio"`` (of the standardised means);
        ``statistic`` is the Wald z.
    means : DataFrame
        ``visit, arm, n, responders, rate, mean, std_error, ci_lower, ci_upper``: the subjects assessed and
        responding at the visit, their observed rate, and the model's standardised probability of response
        with its delta-method SE and an interval on the logit scale.
    coefficients : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper`` (log odds; robust SE, Wald z).
    working_correlation : DataFrame
        ``visit`` and one column per visit: the estimated working correlation.
    corstr : str
    alpha : float
        The exchangeable correlation (NaN for the other structures).
    scale : float
        ``phi``, the sum of squared Pearson residuals over the observations.
    covariates : tuple of str
    n_subjects, n_obs : int
    population, reference : str
    conf_level : float
    vcov : DataFrame
        Robust covariance of the coefficients.
    notes : tuple of str
    """

    estimates: pd.DataFrame
    means: pd.DataFrame
    coefficients: pd.DataFrame
    working_correlation: pd.DataFrame
    corstr: str = "exchangeable"
    alpha: float = float("nan")
    scale: float = float("nan")
    covariates: tuple[str, ...] = ()
    n_subjects: int = 0
    n_obs: int = 0
    population: str = ""
    reference: str = ""
    conf_level: float = 0.95
    vcov: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        facts = [
            ("working correlation", self.corstr),
            ("covariates", ", ".join(self.covariates) or "none"),
            ("population", self.population),
            ("reference", self.reference),
            ("subjects", self.n_subjects),
            ("observations", self.n_obs),
            ("scale", self.scale),
        ]
        if self.corstr == "exchangeable":
            facts.append(("alpha", self.alpha))
        facts.append(("conf_level", self.conf_level))
        return Tidy(
            "Responders over all visits (logistic GEE, robust SE)",
            tuple(facts),
            (
                ("estimates", self.estimates),
                ("means", self.means),
                ("coefficients", self.coefficients),
                ("working_correlation", self.working_correlation),
            ),
            self.notes,
        )


# =============================================================================== checks
def check_cells(t: pd.DataFrame, arms: Sequence[str], visits: Sequence[str]) -> None:
    """Every arm at every visit needs subjects, responders and non-responders: otherwise its arm x visit
    odds are infinite on the logit scale and its comparisons at that visit inestimable."""
    counts = t.groupby([t["visit"].astype(str), t["arm"].astype(str)])["responder"].agg(["size", "sum"])
    problems = []
    for v in visits:
        for a in arms:
            n, x = counts.loc[(v, a)] if (v, a) in counts.index else (0, 0)
            n, x = int(n), int(x)
            if n == 0:
                problems.append(f"{a} has no subject at {v}")
            elif x == 0:
                problems.append(f"{a} has no responder at {v} (0 of {n})")
            elif x == n:
                problems.append(f"every subject of {a} responds at {v} ({n} of {n})")
    if problems:
        raise ModelError(
            f"{'; '.join(problems)}: the arm x visit odds are infinite on the logit scale, so the odds ratio and "
            f"the risk difference at that visit are inestimable by GEE; leave the visit out with visits=[...] "
            f"(or the CLI's --visit), or compare that visit with risk_difference (Newcombe interval)"
        )


def arm_visit_design(
    t: pd.DataFrame, covariates: Sequence[str], arms: Sequence[str], visit_levels: Sequence[str]
) -> pd.DataFrame:
    """``intercept, arm[a], visit[v], arm[a]:visit[v], covariates``: R's ``arm * visit + covariates`` in
    treatment coding, ``arms[0]`` (the reference arm) and ``visit_levels[0]`` the reference levels."""
    arm, visit = t["arm"].astype(str).to_numpy(), t["visit"].astype(str).to_numpy()
    cols = {"intercept": np.ones(len(t))}
    for a in arms[1:]:
        cols[f"arm[{a}]"] = (arm == a).astype(float)
    for v in visit_levels[1:]:
        cols[f"visit[{v}]"] = (visit == v).astype(float)
    for v in visit_levels[1:]:
        for a in arms[1:]:
            cols[f"arm[{a}]:visit[{v}]"] = cols[f"arm[{a}]"] * cols[f"visit[{v}]"]
    X = pd.DataFrame(cols, index=t.index)
    if covariates:
        X = pd.concat([X, design_matrix(t, list(covariates), intercept=None)], axis=1)
    return X


def _fit_gee(y, X: pd.DataFrame, groups, time, corstr: str, notes: list[str]):
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    structure = {
        "exchangeable": cov_struct.Exchangeable,
        "unstructured": GeepackUnstructured,
        "independence": cov_struct.Independence,
    }[corstr]()
    with warnings_as_notes(notes, "GEE: "):
        model = GEE(y, X.to_numpy(float), groups=groups, time=time, family=families.Binomial(), cov_struct=structure)
        fit = model.fit(maxiter=MAXITER, ctol=CTOL, ddof_scale=0)
    if fit is None:
        raise ModelError(f"the GEE with {corstr} working correlation could not be fitted: {'; '.join(notes)}")
    return fit


# =============================================================================== analysis
def gee_responders(
    data: ResponderData,
    *,
    corstr: str = "exchangeable",
    covariates: Sequence[str] | None = (),
    reference: str | None = None,
    visits: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> GEEResponderResult:
    """Responder status at every visit by a logistic GEE: marginal risk differences and odds ratios per visit.

    ``responder ~ arm * visit + covariates``, the subject as cluster, robust (sandwich) standard errors; the
    estimators are geepack's (see :mod:`painstudy.models.gee`).

    Parameters
    ----------
    data : ResponderData
        From :func:`painstudy.responders` (usually ``population="assessed"``: every assessed visit).
    corstr : {"exchangeable", "unstructured", "independence"}, default "exchangeable"
        Working correlation of a subject's visits. ``"unstructured"`` estimates one correlation per pair of
        visits (geepack's estimator, :class:`GeepackUnstructured`).
    covariates : sequence of str or None, default ()
        Subject characteristics adjusted for, e.g. ``("baseline", "condition")`` (strings are dummy-coded;
        constant and collinear terms are left out with a note; subjects with a missing value are left out
        with a note). ``None``: the baseline score and the study covariates that vary (not site).
    reference : str, optional
        Default the study's control arm.
    visits : sequence of str, optional
        The visits modelled (default every post-baseline visit).
    conf_level : float, default 0.95

    Returns
    -------
    GEEResponderResult

    Raises
    ------
    ModelError
        An unknown working correlation, arm, visit or covariate; an arm with no responder (or only
        responders, or no subject) at a visit, where the comparison is inestimable.

    Examples
    --------
    >>> import painstudy
    >>> data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="assessed")
    >>> res = painstudy.gee_responders(data, corstr="unstructured", covariates=["baseline"])
    >>> sorted(res.estimates["measure"].unique())
    ['marginal odds ratio', 'odds ratio', 'risk difference']
    """
    data = checked_responder_data(data)
    if corstr not in CORSTRS:
        raise ModelError(f"corstr must be one of {', '.join(map(repr, CORSTRS))}, got {corstr!r}")
    z = normal_quantile(conf_level)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    chosen = responder_visits(data, visits)
    visit_levels = [v for v in data.visits if v in chosen]  # schedule order
    t = data.table.loc[data.table["visit"].astype(str).isin(visit_levels)].copy()
    t["visit"] = pd.Categorical(t["visit"].astype(str), categories=visit_levels, ordered=True)
    t["arm"] = pd.Categorical(t["arm"].astype(str), categories=list(data.arms))
    covariates = responder_covariates(data, t, covariates)
    notes: list[str] = []
    if len(visit_levels) == 1:
        notes.append("one visit only: every subject has one observation, the working correlation plays no part")
    gone = t["responder"].isna()
    if gone.any():
        notes.append(f"{int(gone.sum())} row(s) without a responder status left out")
    incomplete = t[covariates].isna().any(axis=1) if covariates else pd.Series(False, index=t.index)
    if incomplete.any():
        notes.append(
            f"{t.loc[incomplete, 'subject'].nunique()} subject(s) with a missing covariate left out "
            f"({int(incomplete.sum())} rows)"
        )
    t = t.loc[~gone & ~incomplete]
    arms = [a for a in data.arms if (t["arm"].astype(str) == a).any()]
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} has no subject at the visits {visit_levels}")
    missing_arms = [a for a in data.arms if a not in arms]
    if missing_arms:
        notes.append(f"arm(s) without subjects left out: {', '.join(missing_arms)}")
    t["arm"] = t["arm"].cat.remove_unused_categories()
    check_cells(t, arms, visit_levels)
    t["wave"] = t["visit"].cat.codes.astype(int)
    t = t.sort_values(["subject", "wave"], kind="stable").reset_index(drop=True)
    order = [reference, *(a for a in arms if a != reference)]
    X = arm_visit_design(t, covariates, order, visit_levels)
    X, const = drop_constant(X, keep=["intercept"])
    if const:
        notes.append(f"term(s) constant in the data, left out: {', '.join(const)}")
    X, dropped = drop_collinear(X)
    if dropped:
        notes.append(f"term(s) collinear with earlier terms, left out: {', '.join(dropped)}")
    lost = [c for c in dropped + const if c.startswith(("arm[", "visit["))]
    if lost:
        raise ModelError(f"the arm x visit terms {', '.join(lost)} cannot be estimated from these data")
    y = t["responder"].to_numpy(float)
    fit = _fit_gee(y, X, t["subject"].to_numpy(), t["wave"].to_numpy(np.int64), corstr, notes)
    if not fit.converged:
        notes.append(f"GEE: the estimating equations did not converge in {MAXITER} iterations")
    beta = np.asarray(fit.params, float)
    V = np.asarray(fit.cov_robust, float)
    se = np.sqrt(np.diag(V))
    stat = beta / se
    terms = list(X.columns)
    coefs = pd.DataFrame(
        {
            "term": terms,
            "estimate": beta,
            "std_error": se,
            "statistic": stat,
            "p_value": 2 * stats.norm.sf(np.abs(stat)),
            "ci_lower": beta - z * se,
            "ci_upper": beta + z * se,
        }
    )
    subjects = t.drop_duplicates("subject", keep="first")
    estimates, means = marginal_tables(t, subjects, X, beta, V, covariates, order, visit_levels, z)
    rank = {a: i for i, a in enumerate(data.arms)}
    means = means.sort_values("arm", key=lambda s: s.map(rank), kind="stable")
    means = means.sort_values("visit", key=lambda s: s.map(visit_levels.index), kind="stable").reset_index(drop=True)
    wc = working_correlation(fit, corstr, visit_levels)
    alpha = float(np.asarray(fit.cov_struct.dep_params)) if corstr == "exchangeable" else float("nan")
    notes += estimand_notes(data, corstr, covariates, len(subjects))
    return GEEResponderResult(
        estimates=estimates,
        means=means,
        coefficients=coefs,
        working_correlation=wc,
        corstr=corstr,
        alpha=alpha,
        scale=pearson_scale(y, X.to_numpy(float) @ beta),
        covariates=tuple(covariates),
        n_subjects=int(len(subjects)),
        n_obs=int(len(t)),
        population=data.population,
        reference=reference,
        conf_level=conf_level,
        vcov=pd.DataFrame(V, index=terms, columns=terms),
        notes=tuple(notes),
    )


def marginal_tables(
    t: pd.DataFrame,
    subjects: pd.DataFrame,
    X: pd.DataFrame,
    beta: np.ndarray,
    V: np.ndarray,
    covariates: Sequence[str],
    arms: Sequence[str],
    visit_levels: Sequence[str],
    z: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standardised means per arm and visit and the comparisons of each arm with ``arms[0]``, the
    reference (delta method with the robust covariance ``V``)."""
    cols, reference = list(X.columns), arms[0]
    rows, mrows = [], []
    for v in visit_levels:
        mu, grad, xrow = {}, {}, {}
        tv = t.loc[t["visit"].astype(str) == v]
        for a in arms:
            grid = subjects.assign(arm=a, visit=v)
            G = arm_visit_design(grid, covariates, arms, visit_levels).reindex(columns=cols, fill_value=0.0)
            G = G.to_numpy(float)
            p = special.expit(G @ beta)
            mu[a] = float(p.mean())
            grad[a] = (p * (1 - p)) @ G / len(p)
            xrow[a] = G[0]
            s = float(np.sqrt(grad[a] @ V @ grad[a]))
            half = z * s / (mu[a] * (1 - mu[a]))
            obs = tv.loc[tv["arm"].astype(str) == a, "responder"]
            mrows.append(
                {
                    "visit": v,
                    "arm": a,
                    "n": int(len(obs)),
                    "responders": int(obs.sum()),
                    "rate": float(obs.mean()) if len(obs) else np.nan,
                    "mean": mu[a],
                    "std_error": s,
                    "ci_lower": float(special.expit(special.logit(mu[a]) - half)),
                    "ci_upper": float(special.expit(special.logit(mu[a]) + half)),
                }
            )
        for a in arms:
            if a == reference:
                continue
            base = {"visit": v, "arm": a, "reference": reference, "comparison": f"{a} vs {reference}"}
            parts = [("risk difference", mu[a] - mu[reference], grad[a] - grad[reference], False)]
            c = xrow[a] - xrow[reference]
            parts.append(("odds ratio", float(c @ beta), c, True))
            if covariates:
                g = grad[a] / (mu[a] * (1 - mu[a])) - grad[reference] / (mu[reference] * (1 - mu[reference]))
                est = float(special.logit(mu[a]) - special.logit(mu[reference]))
                parts.append(("marginal odds ratio", est, g, True))
            for measure, est, g, log_scale in parts:
                s = float(np.sqrt(g @ V @ g))
                lo, hi = est - z * s, est + z * s
                rows.append(
                    {
                        **base,
                        "measure": measure,
                        "estimate": float(np.exp(est)) if log_scale else est,
                        "std_error": s,
                        "statistic": est / s,
                        "p_value": float(2 * stats.norm.sf(abs(est / s))),
                        "ci_lower": float(np.exp(lo)) if log_scale else lo,
                        "ci_upper": float(np.exp(hi)) if log_scale else hi,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(mrows)


def pearson_scale(y: np.ndarray, eta: np.ndarray) -> float:
    """geepack's scale: the mean squared Pearson residual (statsmodels fixes a binomial model's at 1)."""
    mu = special.expit(eta)
    return float(np.mean((y - mu) ** 2 / (mu * (1 - mu))))


def working_correlation(fit, corstr: str, visit_levels: Sequence[str]) -> pd.DataFrame:
    """The fitted working correlation as a table: ``visit`` and one column per visit."""
    q = len(visit_levels)
    dep = fit.cov_struct.dep_params
    if corstr == "exchangeable":
        R = np.full((q, q), float(np.asarray(dep)))
        np.fill_diagonal(R, 1.0)
    elif corstr == "unstructured":
        R = np.asarray(dep, float)[:q, :q]
    else:
        R = np.eye(q)
    out = pd.DataFrame(R, columns=list(visit_levels))
    out.insert(0, "visit", list(visit_levels))
    return out


def estimand_notes(data: ResponderData, corstr: str, covariates: Sequence[str], n_subjects: int) -> list[str]:
    """What the estimates mean: population, missing visits, marginal standardisation, the SEs."""
    notes = [POPULATION_NOTES.get(data.population, f"population {data.population!r}")]
    if data.population != "nri":
        notes.append(MCAR_NOTE)
    if data.estimand is not None:
        notes.append(f"estimand: {data.estimand}")
    notes.append(
        f"risk differences are marginal: each arm's probability of response standardised over the {n_subjects} "
        f"subjects of the fit{' (their covariates)' if covariates else ''}, delta-method SE with the robust "
        f"covariance{', covariates held fixed' if covariates else ''}"
    )
    if covariates:
        notes.append(
            "odds ratios are the model's, conditional on the covariates; 'marginal odds ratio' compares the "
            "standardised probabilities"
        )
    notes.append(
        f"robust (sandwich) standard errors without small-sample correction (as geepack's san.se); {corstr} working "
        f"correlation estimated as geepack does (scale = sum of squared Pearson residuals / N)"
    )
    return notes
