"""Covariate-adjusted marginal comparisons of responder proportions by g-computation (standardisation).

At each visit a logistic model ``responder ~ arm + covariates`` is fitted by maximum likelihood; every
subject's probability of response is then predicted as if assigned to each arm in turn, and averaged
over the whole sample (standardisation to the trial population). The marginal risk difference of an
arm against the reference arm is the difference of these averages; the marginal risk ratio and odds
ratio are their ratio and the ratio of their odds (estimated on the log scale). This is the
covariate-adjusted estimator of an unconditional treatment effect that the FDA guidance (2023) on
covariate adjustment describes for binary outcomes.

Two variances are offered:

- ``"ge"`` (default): the delta method of Ge et al. (2011): the gradient of the averaged predictions in
  the coefficients times the model-based covariance of the coefficients; the covariates are held fixed
  (a variance conditional on the sample's covariates; as R ``emmeans`` on a counterfactual reference grid
  with ``regrid = "response"``);
- ``"robust"``: the influence function of the standardised means, which also counts the sampling of the
  covariates and does not rely on the logistic model being right (Tsiatis et al. 2008; Ye, Shao, Yi & Zhao
  2023, the variance the FDA guidance points to): ``IF_i = 1{A_i = a} / pi_a (Y_i - m_a(X_i)) + m_a(X_i) -
  mu_a``, the variance of a contrast being ``sum (IF_i - mean)^2 / n^2``.

References
----------
Ge M, Durham LK, Meyer RD, Xie W, Thomas N (2011). Covariate-adjusted difference in proportions from
clinical trials using logistic regression and weighted risk differences. Drug Inf J 45:481-493.
Tsiatis AA, Davidian M, Zhang M, Lu X (2008). Stat Med 27:4658-4677.
Ye T, Shao J, Yi Y, Zhao Q (2023). Toward better practices of covariate adjustment in analyzing randomized
clinical trials. J Am Stat Assoc 118:2370-2382.
U.S. FDA (2023). Adjusting for Covariates in Randomized Clinical Trials for Drugs and Biological Products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.rendering import Rendered, Tidy

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
from .responders import ResponderData
from .stratified import checked_responder_data, responder_visits

__all__ = ["AdjustedResponderResult", "adjusted_risk_difference", "responder_covariates", "VARIANCES"]

#: Variances of the standardised comparisons (see the module docstring).
VARIANCES = ("ge", "robust")


@dataclass(frozen=True, repr=False)
class AdjustedResponderResult(Rendered):
    """Covariate-adjusted marginal responder comparisons (g-computation).

    Attributes
    ----------
    estimates : DataFrame
        ``visit, arm, reference, comparison, measure, estimate, std_error, ci_lower, ci_upper, statistic,
        p_value, n``. ``measure``: ``"risk difference"`` (arm minus reference; ``std_error`` of the
        difference), ``"risk ratio"`` and ``"odds ratio"`` (``estimate`` the ratio, ``std_error`` of its
        logarithm, the interval exp(log +- z SE)); ``statistic`` is the Wald z.
    means : DataFrame
        ``visit, arm, mean, std_error, n``: the standardised proportion of responders per arm (every subject
        predicted under the arm), with its standard error by the same variance.
    covariates : tuple of str
        Terms adjusted for (besides the arm).
    variance : str
        ``"ge"`` or ``"robust"``.
    conf_level : float
    notes : tuple of str
    """

    estimates: pd.DataFrame
    means: pd.DataFrame
    covariates: tuple[str, ...] = ()
    variance: str = "ge"
    conf_level: float = 0.95
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Covariate-adjusted responder comparisons (g-computation)",
            (
                ("covariates", ", ".join(self.covariates) or "none"),
                ("variance", self.variance),
                ("conf_level", self.conf_level),
            ),
            (("estimates", self.estimates), ("means", self.means)),
            self.notes,
        )


def responder_covariates(data: ResponderData, t: pd.DataFrame, covariates: Sequence[str] | None) -> list[str]:
    """The covariates of a responder model on the rows ``t``: as given (checked: known columns, not the arm,
    visit, subject or response), or with ``None`` the baseline score and the study covariates that vary (not
    site, not one recoding an earlier one). Also used by :func:`painstudy.models.gee.gee_responders`."""
    if covariates is None:
        names = ["baseline"] if t["baseline"].notna().any() else []
        names += [c for c in data.covariates if c != "site" and t[c].nunique(dropna=True) > 1]
        return distinct_covariates(t, names)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    check_columns(
        t, covariates, what="covariate", available=["baseline", *data.covariates], where="the responder table"
    )
    bad = [c for c in covariates if c in ("arm", "responder", "subject", "visit")]
    if bad:
        raise ModelError(
            f"covariate {bad[0]!r} cannot adjust the comparison of arms; covariates are subject characteristics"
        )
    return covariates


def adjusted_risk_difference(
    data: ResponderData,
    *,
    covariates: Sequence[str] | None = None,
    visit: str | Sequence[str] | None = None,
    reference: str | None = None,
    variance: str = "ge",
    conf_level: float = 0.95,
) -> AdjustedResponderResult:
    """Covariate-adjusted marginal risk difference (and risk ratio, odds ratio) by g-computation.

    Parameters
    ----------
    data : ResponderData
        From :func:`painstudy.responders`.
    covariates : sequence of str, optional
        Columns of ``data.table`` to adjust for (numbers as they are, strings dummy-coded). Default the
        baseline score and the study covariates that vary (not site; not a covariate that recodes an
        earlier one), as :func:`painstudy.responder_odds_ratio`. Constant and collinear terms are left out
        and named in the notes; subjects with a missing covariate are left out and counted in the notes.
    visit : str or list of str, optional
        Default every post-baseline visit.
    reference : str, optional
        Default the study's control arm (``StudySpec.reference_arm``).
    variance : {"ge", "robust"}, default "ge"
        Delta method of Ge et al. (2011), conditional on the covariates; or the influence-function
        variance that also counts the sampling of the covariates (Ye et al. 2023).
    conf_level : float, default 0.95

    Returns
    -------
    AdjustedResponderResult

    Raises
    ------
    ModelError
        An unknown covariate; separation (an arm or a covariate pattern predicting response perfectly),
        where the logistic model has no finite estimate; every subject with the same response.

    Examples
    --------
    >>> import painstudy
    >>> data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="nri")
    >>> res = adjusted_risk_difference(data, covariates=["baseline", "condition"], visit="week12")
    >>> list(res.estimates["measure"].unique())
    ['risk difference', 'risk ratio', 'odds ratio']
    """
    import statsmodels.api as sm

    data = checked_responder_data(data)
    if variance not in VARIANCES:
        raise ModelError(f"variance must be one of {', '.join(map(repr, VARIANCES))}, got {variance!r}")
    z = normal_quantile(conf_level)
    reference = data.reference if reference is None else reference
    if reference not in data.arms:
        raise ModelError(f"reference arm {reference!r} is not one of {list(data.arms)}")
    rows, mean_rows, notes, used = [], [], [], []
    for vis in responder_visits(data, visit):
        t = data.table.loc[data.table["visit"].astype(str) == vis].reset_index(drop=True)
        covs = responder_covariates(data, t, covariates)
        used = used or covs
        arms = [a for a in data.arms if (t["arm"].astype(str) == a).any()]
        if reference not in arms:
            notes.append(f"{vis}: not compared (the reference arm {reference} has no subject in the population)")
            continue
        X = design_matrix(t, ["arm", *covs], intercept="const", reference={"arm": reference})
        X = X[
            [
                "const",
                *[f"arm[{a}]" for a in arms if a != reference],
                *[c for c in X.columns if not c.startswith(("const", "arm["))],
            ]
        ]
        X, const = drop_constant(X, keep=["const", *[c for c in X.columns if c.startswith("arm[")]])
        if const:
            notes.append(f"{vis}: term(s) constant, left out: {', '.join(const)}")
        ok = X.notna().all(axis=1) & t["responder"].notna()
        if (~ok).any():
            notes.append(f"{vis}: {int((~ok).sum())} subject(s) with a missing covariate left out")
        X, dropped = drop_collinear(X, ok)
        if dropped:
            notes.append(f"{vis}: term(s) collinear with earlier terms, left out: {', '.join(dropped)}")
        X, y, arm = X.loc[ok], t.loc[ok, "responder"].to_numpy(float), t.loc[ok, "arm"].astype(str).to_numpy()
        if y.size == 0 or y.min() == y.max():
            raise ModelError(
                f"at visit {vis!r} every subject has the same response; no adjusted comparison is possible"
            )
        separated = separated_terms(X, y)
        if separated:
            raise ModelError(
                f"at visit {vis!r} the logistic model has no finite estimate (separation: "
                f"{', '.join(separated)} predict response perfectly); g-computation needs a fitted model: "
                f"adjust for fewer covariates or compare the arms without adjustment"
            )
        with warnings_as_notes(notes, f"{vis}: logistic model: "):
            fit = sm.GLM(y, X.to_numpy(float), family=sm.families.Binomial()).fit(tol=1e-12)
        beta, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
        m = _standardised(X, beta, cov, y, arm, arms, variance)
        n = len(y)
        for a in arms:
            mean_rows.append({"visit": vis, "arm": a, "mean": m[a][0], "std_error": float(np.sqrt(m[a][1] @ m[a][1])) if variance == "robust" else float(np.sqrt(m[a][1] @ cov @ m[a][1])), "n": n})  # fmt: skip
        for a in arms:
            if a != reference:
                rows += _contrast_rows(vis, a, reference, m[a], m[reference], cov, variance, z, n)
    cols = ["visit", "arm", "reference", "comparison", "measure", "estimate", "std_error", "ci_lower", "ci_upper"]
    cols += ["statistic", "p_value", "n"]
    notes.append(
        "g-computation: logistic model responder ~ arm + covariates, every subject predicted under each arm "
        "and averaged over the sample; "
        + (
            "variance by the delta method of Ge et al. (2011), covariates held fixed"
            if variance == "ge"
            else "influence-function variance counting the sampling of covariates (Ye et al. 2023)"
        )
    )
    return AdjustedResponderResult(
        estimates=pd.DataFrame(rows, columns=cols),
        means=pd.DataFrame(mean_rows, columns=["visit", "arm", "mean", "std_error", "n"]),
        covariates=tuple(used),
        variance=variance,
        conf_level=conf_level,
        notes=tuple(notes),
    )


def _standardised(X: pd.DataFrame, beta, cov, y, arm, arms, variance: str) -> dict:
    """Arm -> (standardised mean, its gradient in beta (``"ge"``) or its centred influence values / n)."""
    out = {}
    Xa = X.to_numpy(float).copy()
    arm_cols = [i for i, c in enumerate(X.columns) if c.startswith("arm[")]
    n = len(y)
    for a in arms:
        Xa[:, arm_cols] = 0.0
        col = f"arm[{a}]"
        if col in X.columns:
            Xa[:, list(X.columns).index(col)] = 1.0
        p = 1.0 / (1.0 + np.exp(-(Xa @ beta)))
        mu = float(p.mean())
        if variance == "ge":
            out[a] = (mu, (Xa * (p * (1 - p))[:, None]).mean(axis=0))
        else:
            own = arm == a
            infl = own / own.mean() * (y - p) + p - mu
            out[a] = (mu, (infl - infl.mean()) / n)
    return out


def _contrast_rows(vis, a, r, ma, mr, cov, variance: str, z: float, n: int) -> list[dict]:
    (mu_a, ga), (mu_r, gr) = ma, mr

    def se(g):
        return float(np.sqrt(g @ g)) if variance == "robust" else float(np.sqrt(g @ cov @ g))

    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = (
            ("risk difference", mu_a - mu_r, ga - gr, False),
            ("risk ratio", np.log(mu_a / mu_r), ga / mu_a - gr / mu_r, True),
            (
                "odds ratio",
                np.log(mu_a / (1 - mu_a)) - np.log(mu_r / (1 - mu_r)),
                ga / (mu_a * (1 - mu_a)) - gr / (mu_r * (1 - mu_r)),
                True,
            ),
        )
        for measure, est, g, log in parts:
            s = se(g)
            lo, hi = est - z * s, est + z * s
            stat = est / s
            out.append(
                {
                    "visit": vis,
                    "arm": a,
                    "reference": r,
                    "comparison": f"{a} vs {r}",
                    "measure": measure,
                    "estimate": float(np.exp(est)) if log else float(est),
                    "std_error": s,
                    "ci_lower": float(np.exp(lo)) if log else float(lo),
                    "ci_upper": float(np.exp(hi)) if log else float(hi),
                    "statistic": float(stat),
                    "p_value": float(2 * stats.norm.sf(abs(stat))),
                    "n": n,
                }
            )
    return out
