"""Two-part model of a semicontinuous outcome (an opioid dose that is 0 for many subjects).

At every post-baseline visit the dose ``y`` is 0 (no opioid) or positive. The two-part model writes its mean
as ``E[y | x] = P(y > 0 | x) x E[y | y > 0, x]``, each part with its own regression on the same terms
(``arm * visit`` and baseline covariates, the baseline dose by default):

1. **any use**: logistic regression of ``y > 0`` on every row (maximum likelihood);
2. **dose among users**: on the rows with ``y > 0``, a gamma GLM with log link (``dose="gamma"``, the default;
   quasi-likelihood, dispersion by Pearson's statistic as R ``summary.glm``) or a linear model of ``log y``
   (``dose="lognormal"``) retransformed with Duan's smearing estimate, ``E[y | y > 0, x] = exp(x b) x mean(exp(e))``.

**Marginal means** by arm and visit are standardised over the sample: every subject of the fit (one row per
subject, with its baseline covariates) is predicted under each arm at each visit and the products
``p_i mu_i`` are averaged (as g-computation does for responders). Arms are compared with the reference arm by
the difference and the ratio of their marginal means.

**Variances** (delta method, the gradient of the averaged predictions in both parts' coefficients):

- ``"robust"`` (default): both parts' coefficients with one cluster-robust sandwich (CR0, clusters = subjects,
  the two parts' scores stacked so their covariance across a subject's visits is counted), since a subject
  contributes a row at every visit;
- ``"model"``: each part's model-based covariance (R ``vcov(glm)``), the parts independent (their likelihoods
  factorise); rows of one subject are treated as independent;
- ``ci="bootstrap"``: subjects resampled with replacement (``n_boot`` times, from ``seed``), both parts refitted,
  percentile intervals; the standard error is the bootstrap SD. It also counts the smearing factor's variability,
  which the delta method of the lognormal model treats as fixed.

Validated against R ``glm(binomial)`` and ``glm(Gamma(link = "log"))`` with the marginal means and their
delta-method standard errors written from the formulas (``tests/reference/twopart_reference.R``).

References
----------
Duan N, Manning WG, Morris CN, Newhouse JP (1983). A comparison of alternative models for the demand for
medical care. J Bus Econ Stat 1:115-126. Belotti F, Deb P, Manning WG, Norton EC (2015). twopm: Two-part
models. Stata J 15:3-20.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.rendering import Rendered, Tidy

from .design import check_columns, design_matrix, normal_quantile, separated_terms, warnings_as_notes

if TYPE_CHECKING:
    from painstudy.cohort import Cohort

__all__ = ["TwoPartResult", "two_part", "two_part_data", "DOSE_MODELS", "VARIANCES"]

DOSE_MODELS = ("gamma", "lognormal")
VARIANCES = ("robust", "model")


@dataclass(frozen=True, repr=False)
class TwoPartResult(Rendered):
    """A fitted two-part model: marginal means by arm and visit and their comparisons.

    Attributes
    ----------
    means : DataFrame
        ``visit, arm, mean, std_error, ci_lower, ci_upper, prob_use, prob_use_se, dose_if_used,
        dose_if_used_se, n``: the standardised marginal mean dose (``prob_use`` x dose, averaged over the
        sample), the standardised probability of any use and the standardised mean dose of a user; ``n`` rows
        observed in the cell.
    comparisons : DataFrame
        ``visit, arm, reference, measure, estimate, std_error, ci_lower, ci_upper, statistic, p_value``:
        ``measure`` ``"difference"`` (arm minus reference) or ``"ratio"`` (arm over reference; ``std_error`` of
        its logarithm, the interval exp(log +- z SE)).
    use_coefficients, dose_coefficients : DataFrame
        ``term, estimate, std_error, statistic, p_value`` of each part (with the chosen variance).
    dose_model, variance, ci : str
    conf_level : float
    n_subjects, n_obs, n_users : int
    smearing : float
        Duan's factor (lognormal), else NaN.
    dispersion : float
        The gamma dispersion (Pearson) or the residual variance of log dose (lognormal).
    notes : tuple of str
    """

    means: pd.DataFrame
    comparisons: pd.DataFrame
    use_coefficients: pd.DataFrame
    dose_coefficients: pd.DataFrame
    dose_model: str = "gamma"
    variance: str = "robust"
    ci: str = "delta"
    conf_level: float = 0.95
    n_subjects: int = 0
    n_obs: int = 0
    n_users: int = 0
    smearing: float = float("nan")
    dispersion: float = float("nan")
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            f"Two-part model (logistic + {self.dose_model}): marginal mean dose by arm and visit",
            (
                ("subjects", self.n_subjects),
                ("observations", self.n_obs),
                ("users", self.n_users),
                ("variance", self.variance if self.ci == "delta" else "bootstrap"),
                ("conf_level", self.conf_level),
            ),
            (
                ("means", self.means),
                ("comparisons", self.comparisons),
                ("use_coefficients", self.use_coefficients),
                ("dose_coefficients", self.dose_coefficients),
            ),
            self.notes,
        )


def two_part_data(
    cohort: Cohort, outcome: str = "mme", covariates: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """The rows of a two-part fit from a cohort: ``subject, arm, visit, y`` and the covariates, for every
    post-baseline visit with the outcome observed; with the arm order (reference first), visit order and
    covariate names. Covariates are columns of the visits or the subjects table (default: the outcome's
    baseline)."""
    spec = cohort.spec
    spec.outcome(outcome)
    covariates = [f"{outcome}_baseline"] if covariates is None else list(covariates)
    post = [v.name for v in spec.post_baseline_visits]
    v = cohort.visits
    v = v[v["visit"].astype(str).isin(post) & v[outcome].notna()]
    extra = [c for c in covariates if c not in v.columns]
    check_columns(cohort.subjects, extra, what="covariate", where="the cohort")
    t = v[["subject", "arm", "visit", outcome, *[c for c in covariates if c in v.columns]]]
    if extra:
        t = t.merge(cohort.subjects[["subject", *extra]], on="subject", how="left")
    t = t.rename(columns={outcome: "y"}).reset_index(drop=True)
    t["subject"], t["arm"], t["visit"] = t["subject"].astype(str), t["arm"].astype(str), t["visit"].astype(str)
    arms = [spec.reference_arm.name] + [a.name for a in spec.arms if a.name != spec.reference_arm.name]
    return t, [a for a in arms if a in set(t["arm"])], [x for x in post if x in set(t["visit"])], covariates


def _levels(x: pd.Series, reference=None) -> list[str]:
    if isinstance(x.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in x.cat.categories if (x == c).any()]
    else:
        levels = [str(c) for c in pd.unique(x.dropna())]
    if reference is not None:
        levels = [str(reference)] + [lv for lv in levels if lv != str(reference)]
    return levels


def _design(t: pd.DataFrame, arms, visits, cov: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """R's model.matrix(~ arm * visit + covariates): intercept, arm, visit, covariates, arm:visit."""
    cols, names = [np.ones(len(t))], ["(Intercept)"]
    A = {a: (t["arm"] == a).to_numpy(float) for a in arms[1:]}
    V = {v: (t["visit"] == v).to_numpy(float) for v in visits[1:]}
    for a, x in A.items():
        cols.append(x)
        names.append(f"arm[{a}]")
    for v, x in V.items():
        cols.append(x)
        names.append(f"visit[{v}]")
    for c in cov.columns:
        cols.append(cov[c].to_numpy(float))
        names.append(str(c))
    for v, xv in V.items():
        for a, xa in A.items():
            cols.append(xa * xv)
            names.append(f"arm[{a}]:visit[{v}]")
    return np.column_stack(cols), names


def _newton(X, step, beta, tol: float = 1e-11, maxiter: int = 200) -> tuple[np.ndarray, bool]:
    """Iterate ``beta += step(beta)`` (Newton / Fisher scoring) until the step is below ``tol``."""
    for _ in range(maxiter):
        delta = step(beta)
        beta = beta + delta
        if np.max(np.abs(delta)) < tol * (1 + np.max(np.abs(beta))):
            return beta, True
    return beta, False


def _fit_parts(X, y, dose: str):
    """Coefficients, fitted probabilities, the dose part's residuals (gamma: (y - mu) / mu; lognormal: log y -
    x b), its dispersion, the smearing factor and convergence of both parts.

    The logistic part by Newton-Raphson; the gamma part with log link by Fisher scoring (its working weights
    are 1), from the least-squares fit of log y; the lognormal part by least squares."""
    use = (y > 0).astype(float)

    def logistic_step(b):
        p = 1 / (1 + np.exp(-(X @ b)))
        return np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (use - p))

    b1, ok1 = _newton(X, logistic_step, np.zeros(X.shape[1]))
    pos = y > 0
    Xp, ly = X[pos], np.log(y[pos])
    XtX = Xp.T @ Xp
    start = np.linalg.solve(XtX, Xp.T @ ly)
    ok2 = True
    if dose == "gamma":

        def gamma_step(b):
            mu = np.exp(Xp @ b)
            return np.linalg.solve(XtX, Xp.T @ ((y[pos] - mu) / mu))

        b2, ok2 = _newton(Xp, gamma_step, start)
        mu = np.exp(Xp @ b2)
        resid = (y[pos] - mu) / mu
        smear = float("nan")
    else:
        b2 = start
        resid = ly - Xp @ b2
        smear = float(np.mean(np.exp(resid)))
    dispersion = float(np.sum(resid**2) / (len(resid) - Xp.shape[1]))
    p = 1 / (1 + np.exp(-(X @ b1)))
    return b1, b2, p, resid, dispersion, smear, ok1 and ok2


def _covariance(X, y, subject, b1, p, resid, dispersion, variance):
    """The joint covariance of (b1, b2): model-based blocks, or one cluster-robust sandwich."""
    pos = y > 0
    Xp = X[pos]
    k = X.shape[1]
    B1 = np.linalg.inv(X.T @ (X * (p * (1 - p))[:, None]))
    B2 = np.linalg.inv(Xp.T @ Xp)
    V = np.zeros((2 * k, 2 * k))
    if variance == "model":
        V[:k, :k], V[k:, k:] = B1, dispersion * B2
        return V
    u1 = X * ((y > 0) - p)[:, None]
    u2 = np.zeros_like(X)
    u2[pos] = Xp * resid[:, None]
    codes = pd.factorize(subject)[0]
    U = np.zeros((codes.max() + 1, 2 * k))
    np.add.at(U, codes, np.hstack([u1, u2]))
    bread = np.zeros((2 * k, 2 * k))
    bread[:k, :k], bread[k:, k:] = B1, B2
    return bread @ (U.T @ U) @ bread


def _margins(Xgrid_by_cell, b1, b2, smear, dose):
    """Standardised means of each cell and their gradients in (b1, b2)."""
    out = []
    for X in Xgrid_by_cell:
        p = 1 / (1 + np.exp(-(X @ b1)))
        mu = np.exp(X @ b2) * (1.0 if dose == "gamma" else smear)
        n = len(X)
        m = float(np.mean(p * mu))
        g = np.concatenate([X.T @ (p * (1 - p) * mu) / n, X.T @ (p * mu) / n])
        gp = np.concatenate([X.T @ (p * (1 - p)) / n, np.zeros(X.shape[1])])
        gd = np.concatenate([np.zeros(X.shape[1]), X.T @ mu / n])
        out.append((m, g, float(np.mean(p)), gp, float(np.mean(mu)), gd))
    return out


def two_part(
    data: Cohort | pd.DataFrame,
    outcome: str = "mme",
    *,
    covariates: Sequence[str] | None = None,
    dose: str = "gamma",
    variance: str = "robust",
    ci: str = "delta",
    conf_level: float = 0.95,
    n_boot: int = 500,
    seed: int | None = None,
    reference: str | None = None,
) -> TwoPartResult:
    """Fit a two-part model of a semicontinuous dose and compare the arms' marginal means at each visit.

    Parameters
    ----------
    data : Cohort or DataFrame
        A cohort (the post-baseline visits with ``outcome`` observed), or a long table with ``subject``,
        ``arm``, ``visit``, ``outcome`` and the covariates (arm and visit orders: categorical order or order
        of appearance; the reference arm first).
    outcome : str
        The dose (>= 0), e.g. ``mme``.
    covariates : sequence of str, optional
        Baseline covariates of both parts (default for a cohort: the outcome's baseline; for a table: none).
    dose : {"gamma", "lognormal"}
        The model of the dose among users.
    variance : {"robust", "model"}
        Delta-method variance from the cluster-robust (subjects) or the model-based covariance.
    ci : {"delta", "bootstrap"}
    conf_level : float
    n_boot, seed : int
        Bootstrap resamples and their seed (``ci="bootstrap"``; a seed is required).
    reference : str, optional
        The reference arm (default: the study's control arm, or the first level of a table).

    Examples
    --------
    >>> import painstudy
    >>> r = two_part(painstudy.load_cohort("demo"), "mme", covariates=["age"])
    >>> sorted(set(r.comparisons["measure"]))
    ['difference', 'ratio']
    """
    if dose not in DOSE_MODELS:
        raise ModelError(f"dose must be one of {', '.join(DOSE_MODELS)}, not {dose!r}")
    if variance not in VARIANCES:
        raise ModelError(f"variance must be one of {', '.join(VARIANCES)}, not {variance!r}")
    if ci not in ("delta", "bootstrap"):
        raise ModelError(f"ci must be 'delta' or 'bootstrap', not {ci!r}")
    if ci == "bootstrap" and seed is None:
        raise ModelError("a bootstrap needs a seed (seed=...): randomness always comes from an explicit seed")
    z = normal_quantile(conf_level)
    if isinstance(data, pd.DataFrame):
        check_columns(data, ["subject", "arm", "visit", outcome, *(covariates or [])], what="column")
        t = data[["subject", "arm", "visit", outcome, *(covariates or [])]].rename(columns={outcome: "y"})
        t = t[t["y"].notna()].reset_index(drop=True)
        arms, visits = _levels(t["arm"], reference), _levels(t["visit"])
        t = t.assign(subject=t["subject"].astype(str), arm=t["arm"].astype(str), visit=t["visit"].astype(str))
        covariates = list(covariates or [])
    else:
        t, arms, visits, covariates = two_part_data(data, outcome, covariates)
        if reference is not None:
            arms = [str(reference)] + [a for a in arms if a != str(reference)]
    y = pd.to_numeric(t["y"], errors="coerce").to_numpy(float)
    if np.any(y < 0):
        raise ModelError(f"{outcome}: a two-part model needs doses >= 0 ({int((y < 0).sum())} negative)")
    cov = design_matrix(t, covariates, intercept=None) if covariates else pd.DataFrame(index=t.index)
    keep = ~cov.isna().any(axis=1).to_numpy()
    notes: list[str] = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} row(s) with a missing covariate left out")
        t, y, cov = t[keep].reset_index(drop=True), y[keep], cov[keep].reset_index(drop=True)
    _check_cells(t, y, arms, visits, outcome)
    X, names = _design(t, arms, visits, cov)
    separated = separated_terms(pd.DataFrame(X, columns=names), (y > 0).astype(float))
    if separated:
        raise ModelError(
            f"{outcome}: any use is perfectly predicted (separation) by {', '.join(separated)}: the logistic part "
            "has no finite estimates (e.g. every baseline user still uses at every visit and no one starts); "
            "fit without the covariate concerned (covariates=[...])"
        )
    subject = t["subject"].to_numpy()
    first = ~t["subject"].duplicated().to_numpy()

    def grids(rows_first, tt, cv):
        """The design of every (visit, arm) cell for the standardisation set (one row per subject)."""
        base, cbase = tt[rows_first].reset_index(drop=True), cv[rows_first].reset_index(drop=True)
        return [_design(base.assign(arm=a, visit=v), arms, visits, cbase)[0] for v in visits for a in arms]

    with warnings_as_notes(notes, "fit: "):
        b1, b2, p, resid, disp, smear, ok = _fit_parts(X, y, dose)
        if not ok:
            notes.append("a part of the model did not converge in 200 iterations")
        marg = _margins(grids(first, t, cov), b1, b2, smear, dose)
    V = _covariance(X, y, subject, b1, p, resid, disp, variance)
    k = X.shape[1]
    cells = [(v, a) for v in visits for a in arms]
    m = np.array([x[0] for x in marg])
    G = np.array([x[1] for x in marg])
    se = np.sqrt(np.einsum("ij,jk,ik->i", G, V, G))
    pse = np.sqrt(np.einsum("ij,jk,ik->i", np.array([x[3] for x in marg]), V, np.array([x[3] for x in marg])))
    dse = np.sqrt(np.einsum("ij,jk,ik->i", np.array([x[5] for x in marg]), V, np.array([x[5] for x in marg])))
    diffs, dgrad, logr, lgrad, pairs = [], [], [], [], []
    for i, (v, a) in enumerate(cells):
        if a == arms[0]:
            continue
        r = cells.index((v, arms[0]))
        pairs.append((v, a))
        diffs.append(m[i] - m[r])
        dgrad.append(G[i] - G[r])
        logr.append(math.log(m[i] / m[r]))
        lgrad.append(G[i] / m[i] - G[r] / m[r])
    diffs, logr = np.array(diffs), np.array(logr)
    dse_ = np.sqrt(np.einsum("ij,jk,ik->i", np.array(dgrad), V, np.array(dgrad))) if pairs else np.array([])
    lse = np.sqrt(np.einsum("ij,jk,ik->i", np.array(lgrad), V, np.array(lgrad))) if pairs else np.array([])
    lo_m, hi_m = m - z * se, m + z * se
    lo_d, hi_d = diffs - z * dse_, diffs + z * dse_
    lo_r, hi_r = np.exp(logr - z * lse), np.exp(logr + z * lse)
    if ci == "bootstrap":
        boot = _bootstrap(t, y, cov, arms, visits, dose, n_boot, seed, pairs, cells, notes)
        alpha = (1 - conf_level) / 2
        se, dse_, lse = boot[0].std(axis=0, ddof=1), boot[1].std(axis=0, ddof=1), boot[2].std(axis=0, ddof=1)
        lo_m, hi_m = np.quantile(boot[0], [alpha, 1 - alpha], axis=0)
        lo_d, hi_d = np.quantile(boot[1], [alpha, 1 - alpha], axis=0)
        lo_r, hi_r = np.exp(np.quantile(boot[2], [alpha, 1 - alpha], axis=0))
    n_cell = t.groupby(["visit", "arm"]).size()
    means = pd.DataFrame(
        {
            "visit": [c[0] for c in cells],
            "arm": [c[1] for c in cells],
            "mean": m,
            "std_error": se,
            "ci_lower": lo_m,
            "ci_upper": hi_m,
            "prob_use": [x[2] for x in marg],
            "prob_use_se": pse,
            "dose_if_used": [x[4] for x in marg],
            "dose_if_used_se": dse,
            "n": [int(n_cell.get(c, 0)) for c in cells],
        }
    )
    comp = []
    for j, (v, a) in enumerate(pairs):
        zd, zr = diffs[j] / dse_[j], logr[j] / lse[j]
        comp.append([v, a, arms[0], "difference", diffs[j], dse_[j], lo_d[j], hi_d[j], zd, 2 * stats.norm.sf(abs(zd))])
        comp.append(
            [v, a, arms[0], "ratio", math.exp(logr[j]), lse[j], lo_r[j], hi_r[j], zr, 2 * stats.norm.sf(abs(zr))]
        )
    cols = ["visit", "arm", "reference", "measure", "estimate", "std_error", "ci_lower", "ci_upper"]
    comparisons = pd.DataFrame(comp, columns=[*cols, "statistic", "p_value"])
    notes.append(
        "marginal means standardised over the sample (every subject of the fit predicted under each arm and visit)"
    )
    if variance == "model" and ci == "delta":
        notes.append("model-based variance: a subject's rows at different visits are treated as independent")
    if dose == "lognormal" and ci == "delta":
        notes.append(
            f"lognormal dose retransformed by Duan's smearing factor {smear:.4g}, held fixed in the delta method"
        )
    return TwoPartResult(
        means,
        comparisons,
        _coef_table(names, b1, V[:k, :k]),
        _coef_table(names, b2, V[k:, k:]),
        dose,
        variance,
        ci,
        conf_level,
        int(t["subject"].nunique()),
        len(t),
        int((y > 0).sum()),
        smear,
        disp,
        tuple(notes),
    )


def _coef_table(names, b, V) -> pd.DataFrame:
    se = np.sqrt(np.diag(V))
    zz = b / se
    return pd.DataFrame(
        {"term": names, "estimate": b, "std_error": se, "statistic": zz, "p_value": 2 * stats.norm.sf(np.abs(zz))}
    )


def _check_cells(t, y, arms, visits, outcome) -> None:
    """Every arm x visit cell needs users and non-users: else a part cannot be estimated there."""
    problems = []
    for v in visits:
        for a in arms:
            cell = y[((t["arm"] == a) & (t["visit"] == v)).to_numpy()]
            if len(cell) == 0:
                problems.append(f"{a} at {v}: no rows")
            elif (cell > 0).all() or (cell == 0).all():
                what = "every subject uses" if (cell > 0).all() else "no subject uses"
                problems.append(f"{a} at {v}: {what} (the logistic part is separated)")
    if problems:
        raise ModelError(f"{outcome}: the two-part model cannot be estimated: " + "; ".join(problems))


def _bootstrap(t, y, cov, arms, visits, dose, n_boot, seed, pairs, cells, notes):
    """Subject-level bootstrap of the marginal means, differences and log ratios."""
    rng = np.random.default_rng(seed)
    subjects = pd.unique(t["subject"])
    rows_of = t.groupby("subject", sort=False).indices
    out_m, out_d, out_r, failed = [], [], [], 0
    for _ in range(n_boot):
        pick = rng.choice(len(subjects), len(subjects), replace=True)
        idx = np.concatenate([rows_of[subjects[i]] for i in pick])
        label = np.repeat(np.arange(len(pick)), [len(rows_of[subjects[i]]) for i in pick])
        tb = t.iloc[idx].reset_index(drop=True).assign(subject=label.astype(str))
        yb, cb = y[idx], cov.iloc[idx].reset_index(drop=True)
        try:
            _check_cells(tb, yb, arms, visits, "bootstrap")
            X, _ = _design(tb, arms, visits, cb)
            b1, b2, _p, _r, _d, smear, _ok = _fit_parts(X, yb, dose)
            first = ~tb["subject"].duplicated().to_numpy()
            base, cbase = tb[first].reset_index(drop=True), cb[first].reset_index(drop=True)
            grid = [_design(base.assign(arm=a, visit=v), arms, visits, cbase)[0] for v, a in cells]
            m = np.array([x[0] for x in _margins(grid, b1, b2, smear, dose)])
        except (ModelError, np.linalg.LinAlgError, ValueError):
            failed += 1
            continue
        ref = {v: m[cells.index((v, arms[0]))] for v in visits}
        mi = {c: m[i] for i, c in enumerate(cells)}
        out_m.append(m)
        out_d.append([mi[(v, a)] - ref[v] for v, a in pairs])
        out_r.append([math.log(mi[(v, a)] / ref[v]) for v, a in pairs])
    if failed:
        notes.append(f"bootstrap: {failed} of {n_boot} resamples could not be fitted and were left out")
    notes.append(f"bootstrap: {n_boot - failed} subject-level resamples (seed {seed}), percentile intervals")
    if len(out_m) < 2:
        raise ModelError("bootstrap: fewer than two resamples could be fitted")
    return np.array(out_m), np.array(out_d), np.array(out_r)
