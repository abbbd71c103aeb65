"""ANCOVA of an outcome at one visit: the analysis of pragmatic trials such as Vickers 2004.

The outcome at a visit is regressed on arm, its own baseline value and covariates (ordinary
least squares, statsmodels); each arm is compared with the reference arm. Besides the raw
difference (arm minus reference) the table gives ``benefit``: the difference turned so that
positive favours the arm, using the instrument's direction, which is how trials report it.

Examples
--------
>>> import painstudy
>>> res = painstudy.ancova(painstudy.load_cohort("demo"), "pain", "week52", covariates=["age"])
>>> list(res.table.columns[:4])
['outcome', 'visit', 'comparison', 'estimate']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..errors import ModelError
from ..rendering import Rendered, Tidy
from .design import check_columns, design_matrix, normal_quantile, warnings_as_notes

__all__ = ["AncovaResult", "RateRatioResult", "ancova", "rate_ratio", "design", "SE_METHODS"]

TABLE_COLUMNS = [
    "outcome",
    "visit",
    "comparison",
    "estimate",
    "std_error",
    "df",
    "statistic",
    "p_value",
    "ci_lower",
    "ci_upper",
    "benefit",
    "benefit_lower",
    "benefit_upper",
    "favours",
    "n",
    "n_reference",
]
#: Standard-error conventions of :func:`rate_ratio`.
SE_METHODS = ("joint", "fixed-alpha")


@dataclass(frozen=True, repr=False)
class AncovaResult(Rendered):
    """Adjusted differences between arms at one visit (``table``) and the fitted model.

    ``table`` columns: ``TABLE_COLUMNS``; ``coefficients``: every term of the model (``term``
    index, ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``).
    """

    table: pd.DataFrame
    coefficients: pd.DataFrame
    n_obs: int
    covariates: tuple[str, ...]
    model: object = field(default=None)

    def tidy(self) -> Tidy:
        adjusted = "baseline" + "".join(f", {c}" for c in self.covariates)
        return Tidy(
            "ANCOVA",
            (("n", self.n_obs), ("adjusted for", adjusted)),
            (("table", self.table), ("coefficients", self.coefficients)),
        )


def design(data: pd.DataFrame, terms: Sequence[str]) -> pd.DataFrame:
    """Numeric design matrix with intercept; categorical columns as treatment dummies (first level
    reference). Kept for old callers: :func:`painstudy.models.design.design_matrix`."""
    return design_matrix(data, terms)


def ancova(
    cohort: Cohort,
    outcome: str,
    visit: str,
    *,
    covariates: Sequence[str] = (),
    reference: str | None = None,
    interaction: str | None = None,
    level: float = 0.95,
    baseline: bool = True,
) -> AncovaResult:
    """Baseline-adjusted comparison of arms at one visit.

    Parameters
    ----------
    cohort : Cohort
    outcome, visit : str
        The outcome and the visit analysed (subjects with the outcome observed there).
    covariates : sequence of str
        Columns of ``cohort.subjects`` to adjust for (numeric or categorical).
    reference : str, optional
        Reference arm (default: the study's control arm, else the first arm).
    interaction : str, optional
        ``"baseline"`` or one of ``covariates`` (numeric) whose interaction with arm is added;
        its test is in ``coefficients`` (rows ``arm[...]:<name>``).
    level : float
        Confidence level.
    baseline : bool
        Adjust for the baseline value of the outcome (default True).
    """
    spec = cohort.spec
    inst = spec.outcome(outcome).instrument
    if visit not in spec.visit_names:
        raise ModelError(f"study {spec.name!r} has no visit {visit!r}; visits: {spec.visit_names}")
    reference = reference or spec.reference_arm.name
    spec.arm(reference)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    check_columns(cohort.subjects, covariates, what="covariate", where="the cohort's subjects table")
    allowed = (["baseline"] if baseline else []) + covariates
    if interaction is not None and interaction not in allowed:
        raise ModelError(
            f"interaction {interaction!r} must be 'baseline' or one of the covariates; "
            f"available: {', '.join(allowed) or 'none'}"
        )
    normal_quantile(level, "level")  # checks the level
    v = cohort.visits[cohort.visits["visit"] == visit][["subject", "arm", outcome, f"{outcome}_baseline"]]
    d = v.merge(cohort.subjects[["subject", *covariates]], on="subject", how="left")
    d = d.rename(columns={f"{outcome}_baseline": "baseline"})
    needed = [outcome, *(["baseline"] if baseline else []), *covariates]
    d = d.dropna(subset=needed)
    arms = [reference] + [a.name for a in spec.arms if a.name != reference]
    d["arm"] = pd.Categorical(d["arm"].astype(str), categories=arms)
    present = [a for a in arms if (d["arm"] == a).any()]
    if reference not in present or len(present) < 2:
        raise ModelError(
            f"ANCOVA of {outcome} at {visit}: need the reference arm {reference!r} and another arm "
            f"with data; arms with data: {present}"
        )
    terms = ["arm", *(["baseline"] if baseline else []), *covariates]
    X = design_matrix(d, terms)
    if interaction:
        try:
            z = d[interaction].astype(float)
        except (TypeError, ValueError):
            raise ModelError(f"interaction {interaction!r} must be numeric") from None
        for a in present[1:]:
            X[f"arm[{a}]:{interaction}"] = X[f"arm[{a}]"] * (z - z.mean())
    y = d[outcome].to_numpy(float)
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise ModelError(
            f"ANCOVA of {outcome} at {visit}: the design is singular (rank {rank} < {X.shape[1]} "
            f"columns); a covariate is constant or collinear"
        )
    import statsmodels.api as sm

    fit = sm.OLS(y, X).fit()
    df_resid = fit.df_resid
    tq = stats.t.ppf(0.5 + level / 2, df_resid)
    coef = pd.DataFrame(
        {
            "estimate": fit.params,
            "std_error": fit.bse,
            "df": df_resid,
            "statistic": fit.tvalues,
            "p_value": fit.pvalues,
            "ci_lower": fit.params - tq * fit.bse,
            "ci_upper": fit.params + tq * fit.bse,
        }
    )
    coef.index.name = "term"
    sign = -1.0 if inst.lower_is_better else 1.0
    rows = []
    for a in present[1:]:
        r = coef.loc[f"arm[{a}]"]
        lo, hi = sorted([sign * r["ci_lower"], sign * r["ci_upper"]])
        ben = sign * r["estimate"]
        rows.append(
            {
                "outcome": outcome,
                "visit": visit,
                "comparison": f"{a} vs {reference}",
                "estimate": r["estimate"],
                "std_error": r["std_error"],
                "df": df_resid,
                "statistic": r["statistic"],
                "p_value": r["p_value"],
                "ci_lower": r["ci_lower"],
                "ci_upper": r["ci_upper"],
                "benefit": ben,
                "benefit_lower": lo,
                "benefit_upper": hi,
                "favours": a if ben > 0 else reference,
                "n": int((d["arm"] == a).sum()),
                "n_reference": int((d["arm"] == reference).sum()),
            }
        )
    return AncovaResult(pd.DataFrame(rows, columns=TABLE_COLUMNS), coef, int(fit.nobs), tuple(covariates), fit)


@dataclass(frozen=True, repr=False)
class RateRatioResult(Rendered):
    """Incidence rate ratios between arms from a negative binomial (NB2) model.

    ``table``: ``outcome, comparison, rate_ratio, ci_lower, ci_upper, log_rr, std_error,
    p_value, n, n_reference, se``; ``coefficients``: every term on the log scale (``term,
    estimate, std_error, statistic, p_value, ci_lower, ci_upper``). ``se`` names the standard-error
    convention (see :func:`rate_ratio`).
    """

    table: pd.DataFrame
    alpha: float
    n_obs: int
    se: str = "joint"
    coefficients: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        tables = [("table", self.table)]
        if self.coefficients is not None:
            tables.append(("coefficients", self.coefficients))
        return Tidy(
            "Negative binomial rate ratios",
            (("n", self.n_obs), ("alpha", self.alpha), ("standard errors", SE_LABELS[self.se])),
            tuple(tables),
            self.notes,
        )


SE_LABELS = {
    "joint": "observed information of (coefficients, alpha) jointly (statsmodels, Stata nbreg)",
    "fixed-alpha": "information of the coefficients with alpha fixed at its estimate (R MASS::glm.nb)",
}


def rate_ratio(
    data: pd.DataFrame,
    count: str,
    arm: str,
    *,
    reference,
    exposure: str | None = None,
    covariates: Sequence[str] = (),
    level: float = 0.95,
    se: str = "joint",
) -> RateRatioResult:
    """Negative binomial (NB2) regression of a count on arm: rate ratio of each arm vs the reference.

    The coefficients and ``alpha`` (Var = mu + alpha mu^2; R's theta is 1 / alpha) are the joint
    maximum likelihood estimates (statsmodels ``NegativeBinomial``); ``exposure`` (e.g. months
    observed) enters as an offset on the log scale. Rows with a missing value, and with a
    non-positive exposure, are left out and counted in the notes.

    Parameters
    ----------
    data : DataFrame
    count, arm : str
        Columns of the count and of the arm.
    reference : str
        The arm the others are compared with.
    exposure : str, optional
    covariates : sequence of str
    level : float, default 0.95
    se : {"joint", "fixed-alpha"}, default "joint"
        The standard errors (and so intervals and Wald p values) of the coefficients.
        ``"joint"``: inverse of the observed information of the joint likelihood of the
        coefficients and alpha (the convention of statsmodels and Stata's ``nbreg``).
        ``"fixed-alpha"``: inverse of the information of the coefficients with alpha treated as
        known, ``(X' W X)^-1`` with ``W = mu / (1 + alpha mu)`` (the convention of R's
        ``MASS::glm.nb`` / ``summary.negbin``); slightly smaller. The estimates are the same.
        On MASS's ``quine`` data (``Days ~ Eth + Sex + Age + Lrn``) the SE of ``Eth[N]`` is 0.1576
        (joint) and 0.1533 (fixed-alpha) (``tests/reference/negbin_reference.R``).

    Returns
    -------
    RateRatioResult
    """
    import warnings

    import statsmodels.api as sm

    if se not in SE_METHODS:
        raise ModelError(f"se must be one of {', '.join(map(repr, SE_METHODS))}, got {se!r}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    cols = [count, arm, *covariates] + ([exposure] if exposure else [])
    check_columns(data, cols, what="column")
    z = normal_quantile(level, "level")
    notes: list[str] = []
    d = data.dropna(subset=cols).copy()
    if len(d) < len(data):
        notes.append(f"{len(data) - len(d)} row(s) with a missing {', '.join(cols)} left out")
    y = pd.to_numeric(d[count], errors="coerce")
    bad = d.index[~(y >= 0)]
    if len(bad):
        raise ModelError(
            f"column {count!r}: a count must be a number >= 0; row {bad[0]} has {d.loc[bad[0], count]!r} "
            f"({len(bad)} row(s) break this rule)"
        )
    frac = y[(y % 1) != 0]
    if len(frac):
        notes.append(
            f"{len(frac)} value(s) of {count!r} are not whole numbers (e.g. {frac.iloc[0]:g}); the negative "
            f"binomial likelihood is used for them as it stands (a quasi-likelihood)"
        )
    if exposure:
        pos = pd.to_numeric(d[exposure], errors="coerce") > 0
        if (~pos).any():
            notes.append(f"{int((~pos).sum())} row(s) with {exposure} <= 0 (no exposure) left out")
        d = d[pos]
    values = d[arm].astype(str)
    if str(reference) not in set(values):
        raise ModelError(f"reference arm {reference!r} has no rows in column {arm!r}; arms: {sorted(set(values))}")
    levels = [str(reference)] + sorted(x for x in values.unique() if x != str(reference))
    d[arm] = pd.Categorical(values, categories=levels)
    X = design_matrix(d, [arm, *covariates])
    off = np.log(d[exposure].to_numpy(float)) if exposure else None
    model = sm.NegativeBinomial(d[count].to_numpy(float), X, offset=off, loglike_method="nb2")
    fit = None
    for method in ("newton", "bfgs", "nm"):  # the first that converges with a usable Hessian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # failed attempts are reported below, not as warnings
            try:
                cand = model.fit(disp=0, maxiter=2000, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
        if cand.mle_retvals.get("converged", False) and np.all(np.isfinite(cand.bse)):
            fit = cand
            break
    if fit is None:
        raise ModelError(f"negative binomial model of {count!r} did not converge (newton, bfgs, nelder-mead)")
    if method != "newton":  # polish: Newton's method from there reaches the maximum to full precision
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                polished = model.fit(start_params=fit.params, disp=0, maxiter=200, method="newton")
            except (np.linalg.LinAlgError, ValueError):
                polished = None
        ok = (
            polished is not None
            and polished.mle_retvals.get("converged", False)
            and np.all(np.isfinite(polished.bse))
            and polished.llf >= fit.llf - 1e-9
        )
        fit = polished if ok else fit
        notes.append(
            f"negative binomial model: Newton's method did not converge from the default start; "
            f"fitted with {method}" + (", then Newton's method from there" if ok else "")
        )
    names = list(X.columns)
    beta = fit.params[names].to_numpy(float)
    alpha = float(fit.params["alpha"])
    if se == "joint":
        bse = fit.bse[names].to_numpy(float)
    else:
        mu = np.exp(X.to_numpy(float) @ beta + (0.0 if off is None else off))
        w = mu / (1 + alpha * mu)
        with warnings_as_notes(notes, "fixed-alpha standard errors: "):
            bse = np.sqrt(np.diag(np.linalg.inv((X.to_numpy(float) * w[:, None]).T @ X.to_numpy(float))))
    stat = beta / bse
    p = 2 * stats.norm.sf(np.abs(stat))
    coef = pd.DataFrame(
        {
            "term": names,
            "estimate": beta,
            "std_error": bse,
            "statistic": stat,
            "p_value": p,
            "ci_lower": beta - z * bse,
            "ci_upper": beta + z * bse,
        }
    )
    rows = []
    for a in levels[1:]:
        r = coef.loc[coef["term"] == f"{arm}[{a}]"].iloc[0]
        rows.append(
            {
                "outcome": count,
                "comparison": f"{a} vs {reference}",
                "rate_ratio": np.exp(r["estimate"]),
                "ci_lower": np.exp(r["ci_lower"]),
                "ci_upper": np.exp(r["ci_upper"]),
                "log_rr": r["estimate"],
                "std_error": r["std_error"],
                "p_value": r["p_value"],
                "n": int((d[arm] == a).sum()),
                "n_reference": int((d[arm] == str(reference)).sum()),
                "se": se,
            }
        )
    return RateRatioResult(pd.DataFrame(rows), alpha, int(fit.nobs), se=se, coefficients=coef, notes=tuple(notes))
