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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from ..cohort import Cohort

TABLE_COLUMNS = ["outcome", "visit", "comparison", "estimate", "std_error", "df", "statistic", "p_value",
                 "ci_lower", "ci_upper", "benefit", "benefit_lower", "benefit_upper", "favours", "n", "n_reference"]


@dataclass(frozen=True)
class AncovaResult:
    """Adjusted differences between arms at one visit (``table``) and the fitted model."""

    table: pd.DataFrame
    coefficients: pd.DataFrame
    n_obs: int
    covariates: tuple[str, ...]
    model: object = field(repr=False, default=None)

    def _repr_html_(self) -> str:
        return f"<b>ANCOVA</b> (n = {self.n_obs}; adjusted for baseline + {', '.join(self.covariates) or 'nothing else'})" + \
            self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}")


def design(data: pd.DataFrame, terms: Sequence[str]) -> pd.DataFrame:
    """Numeric design matrix with intercept; categorical columns as treatment dummies (first level reference)."""
    cols = {"(Intercept)": np.ones(len(data))}
    for t in terms:
        x = data[t]
        if isinstance(x.dtype, pd.CategoricalDtype) or x.dtype == object or pd.api.types.is_string_dtype(x):
            cats = list(x.cat.categories) if isinstance(x.dtype, pd.CategoricalDtype) else sorted(x.dropna().unique())
            cats = [c for c in cats if (x == c).any()]
            for c in cats[1:]:
                cols[f"{t}[{c}]"] = (x == c).to_numpy(float)
        else:
            cols[t] = x.to_numpy(float)
    return pd.DataFrame(cols, index=data.index)


def ancova(cohort: "Cohort", outcome: str, visit: str, *, covariates: Sequence[str] = (),
           reference: str | None = None, interaction: str | None = None, level: float = 0.95,
           baseline: bool = True) -> AncovaResult:
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
        A covariate (or ``"baseline"``) whose interaction with arm is added; its test is in
        ``coefficients`` (rows ``arm[...]:<name>``).
    level : float
        Confidence level.
    baseline : bool
        Adjust for the baseline value of the outcome (default True).
    """
    spec = cohort.spec
    inst = cohort.instrument(outcome)
    if visit not in spec.visit_names:
        raise ModelError(f"study {spec.name!r} has no visit {visit!r}; visits: {spec.visit_names}")
    reference = reference or (spec.control_arm.name if spec.control_arm else spec.arms[0].name)
    spec.arm(reference)
    v = cohort.visits[cohort.visits["visit"] == visit][["subject", "arm", outcome, f"{outcome}_baseline"]]
    missing = [c for c in covariates if c not in cohort.subjects.columns]
    if missing:
        raise ModelError(f"covariates {missing} are not columns of the cohort's subjects table")
    d = v.merge(cohort.subjects[["subject", *covariates]], on="subject", how="left")
    d = d.rename(columns={f"{outcome}_baseline": "baseline"})
    needed = [outcome, *(["baseline"] if baseline else []), *covariates]
    d = d.dropna(subset=needed)
    arms = [reference] + [a.name for a in spec.arms if a.name != reference]
    d["arm"] = pd.Categorical(d["arm"].astype(str), categories=arms)
    present = [a for a in arms if (d["arm"] == a).any()]
    if reference not in present or len(present) < 2:
        raise ModelError(f"ANCOVA of {outcome} at {visit}: need the reference arm {reference!r} and another arm "
                         f"with data; arms with data: {present}")
    terms = ["arm", *(["baseline"] if baseline else []), *covariates]
    X = design(d, terms)
    if interaction:
        z = d["baseline"] if interaction == "baseline" else d[interaction].astype(float)
        for a in present[1:]:
            X[f"arm[{a}]:{interaction}"] = X[f"arm[{a}]"] * (z - z.mean())
    y = d[outcome].to_numpy(float)
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise ModelError(f"ANCOVA of {outcome} at {visit}: the design is singular (rank {rank} < {X.shape[1]} "
                         f"columns); a covariate is constant or collinear")
    import statsmodels.api as sm

    fit = sm.OLS(y, X).fit()
    df_resid = fit.df_resid
    tq = stats.t.ppf(0.5 + level / 2, df_resid)
    coef = pd.DataFrame({"estimate": fit.params, "std_error": fit.bse, "df": df_resid, "statistic": fit.tvalues,
                         "p_value": fit.pvalues, "ci_lower": fit.params - tq * fit.bse,
                         "ci_upper": fit.params + tq * fit.bse})
    coef.index.name = "term"
    sign = -1.0 if inst.lower_is_better else 1.0
    rows = []
    for a in present[1:]:
        r = coef.loc[f"arm[{a}]"]
        lo, hi = sorted([sign * r["ci_lower"], sign * r["ci_upper"]])
        ben = sign * r["estimate"]
        rows.append({"outcome": outcome, "visit": visit, "comparison": f"{a} vs {reference}",
                     "estimate": r["estimate"], "std_error": r["std_error"], "df": df_resid,
                     "statistic": r["statistic"], "p_value": r["p_value"], "ci_lower": r["ci_lower"],
                     "ci_upper": r["ci_upper"], "benefit": ben, "benefit_lower": lo, "benefit_upper": hi,
                     "favours": a if ben > 0 else reference, "n": int((d["arm"] == a).sum()),
                     "n_reference": int((d["arm"] == reference).sum())})
    return AncovaResult(pd.DataFrame(rows, columns=TABLE_COLUMNS), coef, int(fit.nobs), tuple(covariates), fit)


@dataclass(frozen=True)
class RateRatioResult:
    """Incidence rate ratios between arms from a negative binomial model."""

    table: pd.DataFrame
    alpha: float
    n_obs: int

    def _repr_html_(self) -> str:
        return "<b>Negative binomial rate ratios</b>" + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}")


def rate_ratio(data: pd.DataFrame, count: str, arm: str, *, reference, exposure: str | None = None,
               covariates: Sequence[str] = (), level: float = 0.95) -> RateRatioResult:
    """Negative binomial (NB2) regression of a count on arm: rate ratio of each arm vs the reference.

    ``alpha`` is estimated by maximum likelihood (statsmodels ``NegativeBinomial``); ``exposure``
    (e.g. months observed) enters as an offset on the log scale.
    """
    import statsmodels.api as sm

    cols = [count, arm, *covariates] + ([exposure] if exposure else [])
    d = data.dropna(subset=cols).copy()
    if exposure:
        d = d[d[exposure] > 0]
    levels = [reference] + sorted(x for x in d[arm].astype(str).unique() if x != str(reference))
    d[arm] = pd.Categorical(d[arm].astype(str), categories=[str(x) for x in levels])
    X = design(d, [arm, *covariates])
    off = np.log(d[exposure].to_numpy(float)) if exposure else None
    model = sm.NegativeBinomial(d[count].to_numpy(float), X, offset=off, loglike_method="nb2")
    fit = None
    import warnings

    for method in ("newton", "bfgs", "nm"):  # the first that converges with a usable Hessian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cand = model.fit(disp=0, maxiter=2000, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
        if cand.mle_retvals.get("converged", False) and np.all(np.isfinite(cand.bse)):
            fit = cand
            break
    if fit is None:
        raise ModelError(f"negative binomial model of {count!r} did not converge (newton, bfgs, nelder-mead)")
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for a in levels[1:]:
        name = f"{arm}[{a}]"
        b, se = fit.params[name], fit.bse[name]
        rows.append({"outcome": count, "comparison": f"{a} vs {reference}", "rate_ratio": np.exp(b),
                     "ci_lower": np.exp(b - z * se), "ci_upper": np.exp(b + z * se), "log_rr": b, "std_error": se,
                     "p_value": fit.pvalues[name], "n": int((d[arm] == a).sum()),
                     "n_reference": int((d[arm] == str(reference)).sum())})
    return RateRatioResult(pd.DataFrame(rows), float(fit.params["alpha"]), int(fit.nobs))
