"""Random-coefficient linear mixed models with lme4-style random terms (R lme4 / lmerTest / pbkrtest,
SAS PROC MIXED RANDOM + REPEATED).

``painstudy.lmm("pain ~ arm * week + baseline + (1 + week | subject)", data)``

The likelihood is lme4's: REML or ML, with the relative covariance factor ``Lambda_theta``
(``D_t = sigma^2 Lambda_t Lambda_t'``) and ``sigma^2`` profiled out; ``theta`` is optimised by L-BFGS-B with
analytic gradients and the bounds ``diag(Lambda) >= 0``, then polished by Newton steps.  With a residual
structure (``+ ar1(visit | subject)``) the residual covariance is no longer ``sigma^2 I`` and all parameters are
optimised directly.

The steps, one module each: the formula (:func:`~painstudy.models.mixed.formula.parse_lmm_formula`) and the
data are prepared once into an :class:`LMMData` (here); the likelihood engines are in :mod:`.lmm_engine`
(``FastEngine``: one random term on per-group sufficient statistics; ``SchurEngine``: several terms, dense
Schur complement for the terms with few levels; ``Engine``: dense blocks of ``V`` per component, also used
for the information quantities); the variance parameters are fitted by :func:`.lmm_optim.fit_variance`; the
degrees of freedom (:mod:`.lmm_inference`: lmerTest's Satterthwaite, pbkrtest's Kenward-Roger) and the result
(:class:`~painstudy.models.mixed.lmm_results.LMMResult`) are built from those.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.data import (
    check_columns,
    check_finite,
    check_frame,
    check_full_rank,
    check_outcome,
    numerical_failure,
    plain,
)
from painstudy.models.mixed.formula import (
    DesignInfo,
    LMMFormula,
    RandomTerm,
    build_design,
    make_design_info,
    parse_lmm_formula,
    visit_levels,
)
from painstudy.models.mixed.lmm_engine import Engine, components
from painstudy.models.mixed.lmm_inference import build_lmm_inference
from painstudy.models.mixed.lmm_optim import fit_variance
from painstudy.models.mixed.lmm_results import LMMResult

__all__ = ["lmm", "LMMResult", "RandomTerm", "LMMData", "prepare_lmm", "parse_lmm_formula", "LMM_DF_METHODS"]

LMM_DF_METHODS = ("satterthwaite", "kenward-roger", "residual")


@dataclass(frozen=True)
class LMMData:
    """The data of a random-coefficient model, prepared once.

    Attributes
    ----------
    spec : LMMFormula
    design : DesignInfo
    data : DataFrame
        The rows used.
    X, y : ndarray
        Design matrix and outcome.
    terms : list of (codes, Z)
        Per random term: the level code of each row and the term's covariates (n x q).
    levels : list of list
        Per random term: its levels (order of first appearance).
    n_groups : dict
        Grouping factor -> number of levels.
    visit_levels : tuple or None
        Visits of the residual structure, in its order.
    visit_order_note : str or None
        The visit order used and where it came from (None without a residual structure).
    engine : Engine
        Dense-block likelihood engine (also computes the information quantities).
    n_rows_dropped : int
    """

    spec: LMMFormula
    design: DesignInfo
    data: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    terms: list
    levels: list
    n_groups: dict
    visit_levels: tuple | None
    visit_order_note: str | None
    engine: Engine
    n_rows_dropped: int


def group_codes(d: pd.DataFrame, cols: tuple[str, ...]) -> tuple[np.ndarray, list]:
    """Level code per row of the grouping columns ``cols`` (an interaction when several), and the labels."""
    if len(cols) == 1:
        codes, uni = pd.factorize(d[cols[0]], sort=False)
        labels = [u for u in uni]
    else:
        key = pd.MultiIndex.from_frame(d[list(cols)].astype(str))
        codes, uni = pd.factorize(key, sort=False)
        labels = [":".join(map(str, u)) for u in uni]
    return codes.astype(np.int64), labels


def prepare_lmm(spec: LMMFormula, data: pd.DataFrame, visit_order=None) -> LMMData:
    """Check the data against the formula; build the design, the random-effect covariates and the engine.

    Rows with a missing outcome, covariate or random-slope value are dropped and counted; a missing
    grouping value, or an infinite or absurdly large outcome, covariate or slope value, is an error.
    ``visit_order`` orders the visits of the residual structure (see
    :func:`~painstudy.models.mixed.formula.visit_levels`).
    """
    check_frame(data)
    fx = spec.fixed
    rcols = [c for t in spec.random for c in t.group + t.slopes]
    res = spec.residual
    cols = [fx.outcome] + [c for t in fx.terms for c in t] + rcols + ([res.visit, res.subject] if res else [])
    used = list(dict.fromkeys(cols))
    check_columns(data, used)
    check_outcome(data, fx.outcome)
    if visit_order is not None and res is None:
        raise ModelError(
            "visit_order orders the visits of a residual covariance structure, e.g. "
            "+ ar1(visit | subject); the formula has none"
        )
    for t in spec.random:
        for s in t.slopes:
            if not pd.api.types.is_numeric_dtype(data[s].dtype) or pd.api.types.is_bool_dtype(data[s].dtype):
                raise ModelError(
                    f"column {s!r}: random slopes must be on numeric columns (found dtype {data[s].dtype}); "
                    f"categorical random effects are not supported"
                )
    for t in spec.random:
        for g in t.group:
            if data[g].isna().any():
                i = int(np.flatnonzero(data[g].isna().to_numpy())[0])
                raise ModelError(f"column {g!r}: row {plain(data.index[i])!r} has no {g} (missing grouping value)")
    keep = data[used].notna().all(axis=1).to_numpy()
    n_rows_dropped = int((~keep).sum())
    d = data.loc[keep]
    if len(d) == 0:
        raise ModelError(f"no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    vlev = vsource = None
    if res is not None:
        vlev, vsource = visit_levels(d[res.visit], res.visit, visit_order)
    info = make_design_info(fx, d, orders={res.visit: vlev} if res is not None else None)
    check_finite(d, [fx.outcome, *info.numerics] + [s for t in spec.random for s in t.slopes])
    X = build_design(info, d)
    y = d[fx.outcome].to_numpy(dtype=float)
    n = X.shape[0]
    check_full_rank(X, info.column_names)
    terms, levels, n_groups = [], [], {}
    codes_list, nlev = [], []
    for t in spec.random:
        codes, labels = group_codes(d, t.group)
        cols_z = []
        if t.intercept:
            cols_z.append(np.ones(n))
        for s in t.slopes:
            cols_z.append(d[s].to_numpy(dtype=float))
        Z = np.column_stack(cols_z)
        terms.append((codes, Z))
        levels.append(labels)
        n_groups[t.group_label] = len(labels)
        codes_list.append(codes)
        nlev.append(len(labels))
        if len(labels) >= n and t.intercept:
            raise ModelError(
                f"grouping factor {t.group_label!r} has {len(labels)} levels for {n} observations; the random "
                f"effects are not identifiable from the residual"
            )
    resid = None
    vis_levels = visit_note = None
    if res is not None:
        vcode = d[res.visit].map({v: i for i, v in enumerate(vlev)}).to_numpy().astype(np.int64)
        rs, rlab = group_codes(d, (res.subject,))
        T = len(vlev)
        pair = rs * T + vcode
        if np.bincount(pair).max() > 1:
            j = int(np.flatnonzero(np.bincount(pair) > 1)[0])
            raise ModelError(
                f"subject {plain(rlab[j // T])!r} has more than one row at visit {plain(vlev[j % T])!r} "
                f"(column {res.visit!r}); the residual structure needs one row per subject and visit"
            )
        resid = (vcode, rs, T)
        codes_list.append(rs)
        nlev.append(len(rlab))
        vis_levels = tuple(vlev)
        visit_note = f"visits in order {' < '.join(str(v) for v in vlev)} ({vsource})"
    comp = components(codes_list, nlev)
    engine = Engine(X, y, terms, comp, resid)
    return LMMData(
        spec=spec,
        design=info,
        data=d,
        X=X,
        y=y,
        terms=terms,
        levels=levels,
        n_groups=n_groups,
        visit_levels=vis_levels,
        visit_order_note=visit_note,
        engine=engine,
        n_rows_dropped=n_rows_dropped,
    )


def lmm(
    formula: str,
    data: pd.DataFrame,
    *,
    reml: bool = True,
    df: str = "satterthwaite",
    visit_order: list | None = None,
    control: dict | None = None,
) -> LMMResult:
    """Fit a linear mixed model with random intercepts/slopes (lme4 syntax).

    Parameters
    ----------
    formula : str
        Fixed effects as in :func:`painstudy.mmrm` (``arm * week + baseline``, ``C(arm, Treatment("UC"))``)
        plus one or more random terms ``(effects | group)``: ``(1 | subject)``, ``(1 + week | subject)``
        (correlated intercept and slope), ``(1 + week || subject)`` (uncorrelated), ``(1 | site) +
        (1 + week | subject)``, ``(1 | site/subject)`` (= ``(1 | site) + (1 | site:subject)``).  As in lme4
        the levels of a grouping column define the groups: subject ids repeated across sites are the *same*
        group unless written ``site:subject``.  Random effects are the intercept and numeric columns.
        Optionally one residual covariance structure over visits within subjects, as in mmrm,
        e.g. ``+ ar1(visit | subject)`` (SAS RANDOM + REPEATED); the random-effect blocks must then be
        small (subjects, not crossed factors).
    data : pandas.DataFrame
        Long data; rows with a missing outcome, covariate or grouping value are dropped and counted.
    reml : bool
        REML (default) or maximum likelihood.
    df : {"satterthwaite", "kenward-roger", "residual"}
        Denominator degrees of freedom (lmerTest's Satterthwaite, pbkrtest's Kenward-Roger with its
        adjusted covariance, or ``n_obs - p``).
    visit_order : list, optional
        The visits of the residual structure in time order (as :func:`painstudy.mmrm`: else the categories
        of a Categorical, else numeric or natural order of the labels, never alphabetical).
    control : dict, optional
        ``{"maxiter": 2000, "newton_steps": 3}`` (the defaults) limit the iterations; ``{"fallback": False}`` skips the
        derivative-free fallback (Nelder-Mead, then L-BFGS-B again) when L-BFGS-B stops short;
        ``{"dense": True}`` uses the dense-block engine for every model; ``{"blas_threads": 1}`` is the
        number of BLAS threads during the fit (default :data:`painstudy.models.blas.DEFAULT_BLAS_THREADS`, as
        :func:`painstudy.mmrm`; ``None`` leaves the setting alone).

    Returns
    -------
    LMMResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> n, wk = 80, np.array([0, 2, 4, 8])
    >>> d = pd.DataFrame({"subject": np.repeat(np.arange(n), 4), "week": np.tile(wk, n),
    ...                   "arm": np.repeat(rng.permutation(np.repeat(["A", "B"], n // 2)), 4)})
    >>> b0, b1 = rng.normal(0, 1, n), rng.normal(0, 0.2, n)
    >>> d["y"] = 5 + b0[d.subject] + (b1[d.subject] - 0.3 * (d.arm == "B")) * d.week + rng.normal(0, 0.5, len(d))
    >>> fit = lmm("y ~ arm * week + (1 + week | subject)", d)
    >>> fit.n_groups
    {'subject': 80}
    >>> round(float(fit.coefficients.loc["armB:week", "estimate"]), 1)
    -0.3
    """
    control = dict(control or {})
    with blas_threads(control.get("blas_threads", DEFAULT_BLAS_THREADS)), np.errstate(all="ignore"):
        try:
            return _fit(formula, data, reml, df, visit_order, control)
        except (np.linalg.LinAlgError, FloatingPointError) as exc:
            raise numerical_failure("lmm", exc) from exc


def _fit(formula, data, reml, df, visit_order, control) -> LMMResult:
    t_start = time.perf_counter()
    if df not in LMM_DF_METHODS:
        raise ModelError(f"df={df!r} is not known; use one of {', '.join(LMM_DF_METHODS)}")
    if not isinstance(reml, (bool, np.bool_)):
        raise ModelError(f"reml must be True or False, got {reml!r}")
    if df == "kenward-roger" and not reml:
        raise ModelError("df='kenward-roger' is defined for REML fits; use reml=True (or df='satterthwaite')")
    prep = prepare_lmm(parse_lmm_formula(formula), data, visit_order)
    fit, optim = fit_variance(prep, bool(reml), control)
    inference, inf_notes = build_lmm_inference(prep, fit.params, fit.evaluation, fit.theta, fit.sigma2, bool(reml), df)
    optim = {**optim, "seconds": time.perf_counter() - t_start, "n_blocks": sum(b.K for b in prep.engine.blocks)}
    fit = dataclasses.replace(fit, notes=fit.notes + tuple(inf_notes))
    return LMMResult.from_fit(prep, fit, inference, optim)
