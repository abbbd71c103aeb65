"""Regression models of time to improvement: Cox proportional hazards with the test of
proportional hazards, and the grouped-time (discrete-time) proportional hazards model on
person-period data.

Both take :class:`~painstudy.improvement.ImprovementData`, compare every arm with a reference arm
and adjust for covariates of the improvement table; the design is built by
:func:`painstudy.models.design.design_matrix`. A covariate name that is not in the table is an
error listing the available ones; terms left out (constant, collinear) and subjects left out
(missing covariates) are named in the result's notes. A model whose estimates are infinite (an
arm in which nobody improved: monotone likelihood, separation) is refused with a
:class:`ModelError` saying so, never returned with a meaningless standard error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.design import (
    design_matrix,
    drop_collinear,
    drop_constant,
    normal_quantile,
    separated_terms,
    warnings_as_notes,
)

from .common import arms_present, check_data, empty_arm_notes, strata_columns, stratum_codes
from .core import concordance_counts, factorize_sorted
from .partial_likelihood import (
    TIES,
    PartialLikelihood,
    StratifiedPartialLikelihood,
    Terms,
    fit_cox,
    robust_covariance,
    zph_test,
)
from .results import CoxResult, DiscreteTimeResult

__all__ = ["cox_ph", "cox_zph", "person_period", "discrete_time_ph", "model_frame", "covariate_columns"]

#: A fitted log hazard ratio beyond this size, with a standard error beyond DIVERGED_SE, is the
#: optimiser walking off to infinity (monotone likelihood), not an estimate.
DIVERGED_ESTIMATE = 15.0
DIVERGED_SE = 100.0
#: Time transforms of the proportional-hazards test (R ``cox.zph`` transform).
PH_TRANSFORMS = ("km", "rank", "identity", "log")


def covariate_columns(data: ImprovementData, covariates: Sequence[str]) -> dict[str, str]:
    """Covariate name -> column of ``data.table`` (``baseline`` and ``<outcome>_baseline`` are the
    baseline score); an unknown name is a :class:`ModelError` listing the available ones."""
    if isinstance(covariates, str):
        covariates = [covariates]
    out: dict[str, str] = {}
    tab = data.table
    for c in covariates:
        col = "baseline" if c in ("baseline", f"{data.outcome}_baseline") else c
        if col not in tab.columns or c in ("subject", "arm", "time", "event", "status"):
            avail = ["baseline", *[v for v in data.covariates if v != "baseline"]]
            raise ModelError(
                f"unknown covariate {c!r}: not a column of the improvement table of "
                f"{data.outcome!r}; available: {', '.join(avail)}"
            )
        out[c] = col
    return out


def model_frame(data: ImprovementData, covariates: Sequence[str], reference: str | None):
    """Rows, design (arm indicators against ``reference`` + covariates), reference and notes.

    Constant and collinear terms are left out and subjects with a missing covariate are left out,
    each named in the notes.
    """
    tab = data.table
    arms = arms_present(data)
    reference = data.reference if reference is None else reference
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} has no subjects; arms with subjects: {arms}")
    cols = covariate_columns(data, covariates)
    frame = tab[["arm"]].copy()
    for name, col in cols.items():
        frame[name] = tab[col]
    X = design_matrix(frame, ["arm", *cols], intercept=None, reference={"arm": reference})
    notes = list(empty_arm_notes(data))
    X, const = drop_constant(X)
    if const:
        notes.append(f"term(s) constant in these data, left out: {', '.join(const)}")
    if X.shape[1]:
        X, collinear = drop_collinear(X.assign(_one=1.0)[["_one", *X.columns]])
        X = X.drop(columns="_one")
        if collinear:
            notes.append(f"term(s) collinear with earlier terms, left out: {', '.join(collinear)}")
    miss = X.isna().any(axis=1)
    if not miss.any():
        return tab, X, reference, notes
    notes.append(
        f"{int(miss.sum())} subject(s) with a missing covariate left out of the model "
        f"(first: {tab.loc[miss, 'subject'].iloc[0]!r})"
    )
    return tab.loc[~miss], X.loc[~miss], reference, notes


def _check_events_per_arm(tab: pd.DataFrame, reference: str, model: str) -> None:
    """Refuse a model when an arm has no improvement: its hazard ratio is 0 or infinite."""
    counts = tab.groupby("arm", observed=True)["event"].agg(["sum", "size"])
    counts.index = counts.index.astype(str)
    counts = counts.loc[counts["size"] > 0]
    none = [a for a in counts.index if counts.loc[a, "sum"] == 0]
    if none:
        detail = ", ".join(f"{a!r} (0 of {int(counts.loc[a, 'size'])})" for a in none)
        raise ModelError(
            f"{model}: no subject improved in arm(s) {detail}, so the hazard ratio against {reference!r} "
            f"is 0 or infinite (monotone likelihood) and cannot be estimated; compare the arms with the "
            f"log-rank test and the Kaplan-Meier curves, or leave the arm out"
        )


def _coef_table(est, se, terms, z) -> pd.DataFrame:
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    stat = est / se
    out = pd.DataFrame(
        {
            "term": list(terms),
            "estimate": est,
            "std_error": se,
            "statistic": stat,
            "p_value": 2 * stats.norm.sf(np.abs(stat)),
            "ci_lower": est - z * se,
            "ci_upper": est + z * se,
        }
    )
    with np.errstate(over="ignore"):
        out["hazard_ratio"] = np.exp(out["estimate"])
        out["hr_ci_lower"] = np.exp(out["ci_lower"])
        out["hr_ci_upper"] = np.exp(out["ci_upper"])
    return out


def cox_ph(
    data: ImprovementData,
    *,
    covariates: Sequence[str] = (),
    reference: str | None = None,
    conf_level: float = 0.95,
    ph_transform: str = "km",
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
) -> CoxResult:
    """Cox proportional hazards model of time to improvement.

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, default ()
        Columns of ``data.table`` to adjust for (``"baseline"`` for the baseline score; strings
        and categoricals are dummy-coded against their first level).
    reference : str, optional
        Reference arm (default ``data.reference``).
    conf_level : float, default 0.95
    ph_transform : {"km", "rank", "identity", "log"}, default "km"
        Time transform of the scaled-Schoenfeld test (R ``cox.zph``'s default is ``"km"``).
    ties : {"efron", "breslow"}, default "efron"
        Approximation of the partial likelihood for tied times (R ``coxph``'s default is Efron's).
    strata : str or sequence of str, optional
        Column(s) of ``data.table`` (e.g. ``"site"``): a stratified partial likelihood, one baseline hazard
        per stratum (each combination of values), as R ``coxph(... + strata(site))``. The concordance is
        then counted within strata; the proportional-hazards test is R ``cox.zph``'s for a stratified
        model (g(t) from all subjects pooled, score and information summed over the strata). Terms
        constant within every stratum are left out (named in the notes).
    cluster : str, optional
        Column of ``data.table`` (e.g. ``"site"``): cluster-robust standard errors, the grouped sandwich
        ``D'D`` of the cluster sums of the dfbeta residuals, as R ``coxph(..., cluster = site)`` (no
        small-sample factor). Intervals and p values then use the robust SEs; the model-based SEs are in
        the column ``naive_std_error``.

    Returns
    -------
    CoxResult
        Hazard ratios > 1 mean faster improvement than the reference.

    Notes
    -----
    Newton-Raphson on the partial likelihood computed by cumulative sums over the sorted risk
    sets (:mod:`~painstudy.models.survival.partial_likelihood`), to a step below 1e-10; standard
    errors from the observed information, as R ``coxph``. The PH test is :func:`cox_zph`, the
    score test of R survival >= 3.0's ``cox.zph`` with the same ties. The concordance is Harrell's
    C of the linear predictor (tied predictions count one half; as lifelines and R's
    ``concordance``), counted in O(n log n).

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a"] * 5 + ["b"] * 5,
    ...                   "time": [4, 4, 8, 12, 12, 8, 12, 12, 12, 4],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0, 1, 0]})
    >>> fit = cox_ph(ImprovementData.from_table(t))
    >>> fit.table[["term", "hazard_ratio"]].round(3)  # R coxph: exp(coef) 0.3710
         term  hazard_ratio
    0  arm[b]         0.371
    >>> breslow = cox_ph(ImprovementData.from_table(t), ties="breslow")
    >>> round(float(breslow.table["hazard_ratio"].iloc[0]), 4)  # R coxph(..., ties = "breslow"): 0.3949
    0.3949
    """
    data = check_data(data)
    z = normal_quantile(conf_level)
    if ph_transform not in PH_TRANSFORMS:
        raise ModelError(f"ph_transform must be one of {', '.join(map(repr, PH_TRANSFORMS))}, got {ph_transform!r}")
    if ties not in TIES:
        raise ModelError(f"ties must be one of {', '.join(map(repr, TIES))}, got {ties!r}")
    strata_cols = strata_columns(data, strata)
    cluster_cols = strata_columns(data, cluster, what="cluster column")
    if len(cluster_cols) > 1:
        raise ModelError(f"cluster must name one column, got {cluster!r}")
    tab, X, reference, notes = model_frame(data, covariates, reference)
    stratum = stratum_codes(tab, strata_cols)
    if stratum is not None and X.shape[1]:
        X = _absorbed_by_strata(X, stratum, notes)
    if X.shape[1] == 0:
        raise ModelError("Cox model: no terms (one arm only and no varying covariates)")
    if int(tab["event"].sum()) == 0:
        raise ModelError("Cox model: no subject improved, so there is nothing to fit")
    _check_events_per_arm(tab, reference, "Cox model")
    names = list(X.columns)
    Xa = X.to_numpy(float)
    time = tab["time"].to_numpy(float)
    event = tab["event"].to_numpy(int)
    codes = factorize_sorted(time)
    if stratum is None:
        pl = PartialLikelihood(Xa, time, event, ties, time_codes=codes)
    else:
        pl = StratifiedPartialLikelihood(Xa, time, event, stratum, ties)
    with warnings_as_notes(notes, "Cox model: "), np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fit = fit_cox(pl)
    if not fit.converged:
        raise ModelError(f"Cox model: Newton-Raphson did not converge in {fit.iterations} iterations")
    est = fit.beta
    with np.errstate(invalid="ignore"):
        naive = np.sqrt(np.diag(fit.cov))
    _check_diverged(names, est, naive, "Cox model", "monotone likelihood")
    se = naive
    if cluster_cols:
        groups = tab[cluster_cols[0]].to_numpy()
        se = np.sqrt(np.diag(robust_covariance(pl.score_residuals(fit.terms), fit.cov, groups)))
        notes.append(
            f"standard errors robust to clustering by {cluster_cols[0]} ({len(pd.unique(groups))} clusters; "
            f"grouped sandwich of the dfbeta residuals, as R coxph(cluster =)); model-based SEs in naive_std_error"
        )
    table = _coef_table(est, se, names, z)
    if cluster_cols:
        table.insert(3, "naive_std_error", naive)
    if stratum is not None:
        try:
            ph_table = _zph_table_strata(pl, fit.terms, names, ph_transform, time, event)
        except (np.linalg.LinAlgError, ValueError) as exc:  # report instead of failing the fit
            ph_table = pd.DataFrame(
                {"term": names + ["GLOBAL"], "statistic": np.nan, "df": 1, "p_value": np.nan, "transform": ph_transform}
            )
            notes.append(f"the proportional-hazards test could not be computed ({exc})")
        notes.append(
            f"stratified by {', '.join(strata_cols)} ({int(stratum.max()) + 1} strata, a baseline hazard each)"
        )
        correct = tied = pairs = 0
        for rows in pl.rows:
            c, t_, p_ = concordance_counts(time[rows], event[rows], Xa[rows] @ est)
            correct, tied, pairs = correct + c, tied + t_, pairs + p_
    else:
        try:
            ph_table = _zph_table(pl, fit.terms, names, ph_transform, (fit.score, fit.information))
        except (np.linalg.LinAlgError, ValueError) as exc:  # report instead of failing the fit
            ph_table = pd.DataFrame(
                {"term": names + ["GLOBAL"], "statistic": np.nan, "df": 1, "p_value": np.nan, "transform": ph_transform}
            )
            notes.append(f"the proportional-hazards test could not be computed ({exc})")
        correct, tied, pairs = concordance_counts(time, event, Xa @ est, time_codes=codes)
    conc = (correct + tied / 2) / pairs if pairs else float("nan")
    return CoxResult(
        table=table,
        ph_test=ph_table,
        n=len(tab),
        events=int(event.sum()),
        log_likelihood=fit.loglik,
        concordance=float(conc),
        reference=reference,
        ties=ties,
        strata=tuple(strata_cols),
        cluster=cluster_cols[0] if cluster_cols else "",
        notes=tuple(notes),
    )


def _absorbed_by_strata(X: pd.DataFrame, stratum: np.ndarray, notes: list[str]) -> pd.DataFrame:
    """``X`` without the terms that are linear combinations of the stratum indicators (e.g. the strata
    column itself as a covariate): each stratum's baseline hazard absorbs them; named in the notes."""
    k = int(stratum.max()) + 1
    S = pd.DataFrame(np.eye(k)[stratum], index=X.index, columns=[f"(stratum {j})" for j in range(k)])
    _, gone = drop_collinear(pd.concat([S, X], axis=1))
    gone = [g for g in gone if g in X.columns]
    if gone:
        notes.append(
            f"term(s) constant within strata (absorbed by the strata's baseline hazards), left out: {', '.join(gone)}"
        )
    return X.drop(columns=gone)


def _check_diverged(names: Sequence[str], est: np.ndarray, se: np.ndarray, model: str, why: str) -> None:
    bad = [
        n
        for n, b, e in zip(names, est, se)
        if not (np.isfinite(b) and np.isfinite(e)) or (abs(b) > DIVERGED_ESTIMATE and e > DIVERGED_SE)
    ]
    if bad:
        raise ModelError(
            f"{model}: the estimates of {', '.join(bad)} run off to infinity ({why}); no finite "
            f"hazard ratio exists for these data; leave the term out or compare arms with the "
            f"log-rank test"
        )


def _transformed_times(pl: PartialLikelihood, transform: str) -> np.ndarray:
    """g(t) of R ``cox.zph`` at each distinct time of ``pl`` (``km``: 1 - KM just before t;
    ``rank``: the average rank of the time among all subjects)."""
    t = pl.times
    if transform == "km":
        n_risk = pl.exits[::-1].cumsum()[::-1]
        surv = np.cumprod(1.0 - pl.events_at / n_risk)
        return 1.0 - np.concatenate([[1.0], surv[:-1]])
    if transform == "rank":
        before = np.concatenate([[0], np.cumsum(pl.exits)[:-1]])
        return before + (pl.exits + 1) / 2
    if transform == "identity":
        return t.astype(float)
    if transform == "log":
        with np.errstate(divide="ignore"):
            return np.log(t)
    raise ModelError(f"ph_transform must be one of {', '.join(map(repr, PH_TRANSFORMS))}, got {transform!r}")


def _zph_table(
    pl: PartialLikelihood,
    terms: Terms,
    names: Sequence[str],
    transform: str,
    score_info: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The PH test of every term and GLOBAL at the fitted coefficients (see :func:`cox_zph`)."""
    tt = _transformed_times(pl, transform)[pl.event_times]
    g = tt - (pl.d @ tt) / pl.d.sum()  # centred on the mean over events
    U, info = zph_test(pl, terms, g, score_info=score_info)
    return _zph_rows(U, info, names, transform)


def _zph_table_strata(
    spl: StratifiedPartialLikelihood, terms, names: Sequence[str], transform: str, time, event
) -> pd.DataFrame:
    """The PH test of a stratified model, as R ``cox.zph``: g(t) from all subjects pooled (the strata
    ignored), centred on its mean over all events; score and information summed over the strata."""
    pooled = PartialLikelihood(np.zeros((len(time), 1)), time, event, spl.ties)
    g_all = _transformed_times(pooled, transform)
    ev = pooled.event_times
    centre = (pooled.d @ g_all[ev]) / pooled.d.sum()
    p2 = 2 * len(names)
    U, info = np.zeros(p2), np.zeros((p2, p2))
    for pl, tt in zip(spl.parts, terms.parts):
        if pl.d.size == 0:
            continue
        g = g_all[np.searchsorted(pooled.times, pl.times[pl.event_times])] - centre
        u, i = zph_test(pl, tt, g)
        U, info = U + u, info + i
    return _zph_rows(U, info, names, transform)


def _zph_rows(U: np.ndarray, info: np.ndarray, names: Sequence[str], transform: str) -> pd.DataFrame:
    p = len(names)
    rows = []
    for j in range(p):
        kk = list(range(p)) + [p + j]
        uu = np.concatenate([np.zeros(p), [U[p + j]]])
        rows.append((names[j], float(uu @ np.linalg.solve(info[np.ix_(kk, kk)], uu)), 1))
    uu = np.concatenate([np.zeros(p), U[p:]])
    rows.append(("GLOBAL", float(uu @ np.linalg.solve(info, uu)), p))
    out = pd.DataFrame(rows, columns=["term", "statistic", "df"])
    out["p_value"] = stats.chi2.sf(out["statistic"], out["df"])
    out["transform"] = transform
    return out


def cox_zph(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    beta: np.ndarray,
    names: Sequence[str],
    *,
    transform: str = "km",
    ties: str = "efron",
) -> pd.DataFrame:
    """Test of proportional hazards from scaled Schoenfeld residuals (as R ``cox.zph``).

    The score test, at the fitted coefficients, of adding ``x * g(t)`` for each covariate
    (Grambsch & Therneau 1994), with the full information matrix of the extended model and the
    fit's tie handling -- the computation of R survival >= 3.0's ``cox.zph(fit, transform,
    terms = FALSE)``. ``g(t)`` is the transformed event time centred on its mean over events.

    Returns
    -------
    DataFrame
        ``term, statistic, df, p_value, transform``; one row per coefficient plus ``GLOBAL``.
    """
    if transform not in PH_TRANSFORMS:
        raise ModelError(f"ph_transform must be one of {', '.join(map(repr, PH_TRANSFORMS))}, got {transform!r}")
    pl = PartialLikelihood(np.asarray(X, float), np.asarray(time, float), np.asarray(event, int), ties)
    return _zph_table(pl, pl.terms(beta), names, transform)


# =============================================================================== discrete time
def person_period(data: ImprovementData, grid: Sequence[float] | None = None) -> pd.DataFrame:
    """Person-period rows: one per subject per visit interval at risk.

    Each subject contributes a row for every scheduled visit week up to and including its
    ``time``; ``y = 1`` on the row of the visit where improvement was first seen. An
    improvement seen after a missed visit is attributed to the visit where it was seen.

    Examples
    --------
    >>> import pandas as pd
    >>> from painstudy.improvement import ImprovementData
    >>> t = pd.DataFrame({"arm": ["a", "b"], "time": [8.0, 4.0], "event": [1, 0]})
    >>> person_period(ImprovementData.from_table(t, visit_weeks=[4, 8]))[["subject", "period", "y"]]
      subject  period  y
    0       0     4.0  0
    1       0     8.0  1
    2       1     4.0  0
    """
    data = check_data(data)
    rows, periods, y = _person_period_rows(data, grid)
    tab = data.table
    out = tab.iloc[rows].reset_index(drop=True)
    out.insert(1, "period", periods)
    out.insert(2, "y", y)
    return out[["subject", "period", "y"] + [c for c in out.columns if c not in ("subject", "period", "y")]]


def _person_period_rows(data: ImprovementData, grid: Sequence[float] | None):
    """Positions in ``data.table``, periods and 0/1 improvement of the person-period rows."""
    try:
        grid = np.asarray(sorted(set(float(g) for g in (data.visit_weeks if grid is None else grid))))
    except (TypeError, ValueError):
        raise ModelError(f"grid must be visit weeks (numbers), got {grid!r}") from None
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ModelError(f"grid must be one or more positive visit weeks, got {list(grid)}")
    tab = data.table
    time = tab["time"].to_numpy(float)
    event = tab["event"].to_numpy(int)
    off = (event == 1) & ~np.isin(np.round(time, 9), np.round(grid, 9))
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ModelError(
            f"subject {tab['subject'].iloc[i]!r} improved at week {time[i]:g}, which is not a "
            f"visit week of the grid {[float(g) for g in grid]}; {int(off.sum())} improvement(s) "
            f"off the grid (give visit_weeks, or grid=, that include every improvement time)"
        )
    counts = (grid[None, :] <= time[:, None] + 1e-9).sum(axis=1)
    rows = np.repeat(np.arange(len(tab)), counts)
    periods = np.concatenate([grid[:k] for k in counts]) if len(tab) else np.array([])
    y = ((event[rows] == 1) & (np.abs(periods - time[rows]) < 1e-9)).astype(int)
    return rows, periods, y


def discrete_time_ph(
    data: ImprovementData,
    *,
    covariates: Sequence[str] = (),
    reference: str | None = None,
    conf_level: float = 0.95,
) -> DiscreteTimeResult:
    """Grouped-time proportional hazards model (Prentice-Gloeckler) for visit-based timing.

    A binomial GLM with complementary log-log link on person-period data, one intercept per
    visit interval (no intercept otherwise); ``exp`` of an arm coefficient is the hazard ratio of
    the underlying continuous-time PH model.

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, default ()
    reference : str, optional
    conf_level : float, default 0.95

    Returns
    -------
    DiscreteTimeResult

    Notes
    -----
    Intervals in which nobody improved are left out (their hazard estimate is 0, on the
    boundary); this does not change the other estimates.
    """
    import statsmodels.api as sm

    data = check_data(data)
    z = normal_quantile(conf_level)
    tab, X, reference, notes = model_frame(data, covariates, reference)
    rows, periods, y = _person_period_rows(data.replace(table=tab), None)
    ev_periods = sorted(set(periods[y == 1]))
    if not ev_periods:
        raise ModelError("discrete-time model: no subject improved, so there is nothing to fit")
    _check_events_per_arm(tab, reference, "discrete-time model")
    keep = np.isin(periods, ev_periods)
    rows, periods, y = rows[keep], periods[keep], y[keep]
    Xp = X.iloc[rows].reset_index(drop=True)
    P = pd.DataFrame({f"period[{p:g}]": (periods == p).astype(float) for p in ev_periods})
    design = pd.concat([P, Xp], axis=1)
    separated = separated_terms(design, y)
    if separated:
        raise ModelError(
            f"discrete-time model: the estimates of {', '.join(separated)} are infinite "
            f"(complete or quasi-complete separation: these terms predict improvement or its "
            f"absence perfectly); leave them out or compare arms with the log-rank test"
        )
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    with warnings_as_notes(notes, "discrete-time model: "):
        fit = sm.GLM(y.astype(float), design.to_numpy(float), family=fam).fit(tol=1e-12, maxiter=200)
    est, se = np.asarray(fit.params), np.asarray(fit.bse)
    _check_diverged(list(design.columns), est, se, "discrete-time model", "separation")
    table = _coef_table(est, se, design.columns, z)
    return DiscreteTimeResult(
        table=table,
        n_subjects=int(len(set(rows))),
        n_rows=len(y),
        events=int(y.sum()),
        deviance=float(fit.deviance),
        reference=reference,
        notes=tuple(notes),
    )
