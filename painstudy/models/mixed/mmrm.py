"""Mixed models for repeated measures (MMRM), fitted by REML or ML, matching SAS PROC MIXED and R mmrm.

The model: ``y_i = X_i beta + e_i`` with ``e_i ~ N(0, Sigma_i)``, where ``Sigma_i`` is the sub-matrix of a
visit x visit covariance matrix (one per group when the covariance term has a group) for the visits
subject ``i`` attended; with weights, ``Sigma_i = W_i^{-1/2} Sigma W_i^{-1/2}`` (as R mmrm).

The steps, one module each: the formula (:mod:`.formula`) and the data are prepared once into an
:class:`MMRMData` (here); the likelihood is evaluated on per-pattern sufficient statistics
(:mod:`.mmrm_engine`); the covariance parameters are fitted by :func:`.mmrm_optim.fit_covariance`
(optimiser chain and Newton iterations with the analytic observed Hessian); the inference object
(:mod:`.mmrm_inference`: Satterthwaite, Kenward-Roger, sandwich) and the result
(:class:`~painstudy.models.mixed.results.MMRMResult`) are built from those two.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.chunked import file_progress, is_parquet_source
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
    ParsedFormula,
    build_design,
    factor_levels,
    make_design_info,
    parse_formula,
    visit_levels,
)
from painstudy.models.mixed.mmrm_engine import Engine
from painstudy.models.mixed.mmrm_inference import build_mmrm_inference
from painstudy.models.mixed.mmrm_optim import fit_covariance
from painstudy.models.mixed.options import DF_METHODS, VCOV_METHODS
from painstudy.models.mixed.results import MMRMResult

__all__ = ["mmrm", "MMRMData", "prepare_mmrm", "prepare_mmrm_file", "DF_METHODS", "VCOV_METHODS"]


@dataclass(frozen=True)
class MMRMData:
    """The data of an MMRM, prepared once: rows used, design, codes and the likelihood engine.

    Attributes
    ----------
    parsed : ParsedFormula
    design : DesignInfo
        Levels, coding and numeric means (to rebuild the design on new data).
    data : DataFrame
        The rows used (complete outcome and covariates).
    X, y : ndarray
        Design matrix and outcome of those rows.
    visit_code, subject_code, group_code : ndarray of int
        Per row: position of the visit in ``visit_levels``, subject number, covariance group number.
    visit_levels, group_levels : tuple
        Visits in the order of the covariance structure; covariance groups (``(None,)`` if none).
    visit_order_source : str
        Where the visit order came from (``visit_order``, the categories, the natural order of the labels).
    sqrt_w : ndarray or None
        Square roots of the weights.
    XtX : ndarray
        ``X'X`` (unweighted).
    engine : Engine
        Per-pattern sufficient statistics and the REML/ML criterion.
    n_subjects, n_rows_dropped, n_subjects_dropped : int
    within_varies : dict or None
        Data read from a file in chunks (where the row-level fields are ``None``): per term column, whether
        it varies within some subject (for the between-within df).
    source : str or None
        The file the data were read from in chunks.
    """

    parsed: ParsedFormula
    design: DesignInfo
    data: pd.DataFrame | None
    X: np.ndarray | None
    y: np.ndarray | None
    visit_code: np.ndarray | None
    subject_code: np.ndarray | None
    group_code: np.ndarray | None
    visit_levels: tuple
    visit_order_source: str
    group_levels: tuple
    sqrt_w: np.ndarray | None
    XtX: np.ndarray
    engine: Engine
    n_subjects: int
    n_rows_dropped: int
    n_subjects_dropped: int
    within_varies: dict | None = None
    source: str | None = None

    @property
    def T(self) -> int:
        """Number of visits."""
        return len(self.visit_levels)

    @property
    def visit_order_note(self) -> str:
        """The visit order used, in words (for the fit's notes and summary)."""
        return f"visits in order {' < '.join(str(v) for v in self.visit_levels)} ({self.visit_order_source})"


def prepare_mmrm(
    parsed: ParsedFormula, data: pd.DataFrame, weights=None, keep_raw: bool = False, visit_order=None
) -> MMRMData:
    """Check the data against the formula and build the design and the likelihood engine.

    Rows with a missing outcome, visit, group or covariate (or weight) are dropped and counted; an
    infinite or absurdly large outcome, numeric covariate or weight is an error.  ``keep_raw`` keeps every
    subject's padded rows in the engine (needed by sandwich estimators); ``visit_order`` see
    :func:`~painstudy.models.mixed.formula.visit_levels`.
    """
    check_frame(data)
    cov = parsed.covariance
    fx = parsed.fixed
    cols = [fx.outcome, cov.visit, cov.subject] + ([cov.group] if cov.group else [])
    cols += [c for t in fx.terms for c in t]
    if isinstance(weights, str):
        cols.append(weights)
    check_columns(data, cols)
    check_outcome(data, fx.outcome)
    if data[cov.subject].isna().any():
        i = int(np.flatnonzero(data[cov.subject].isna().to_numpy())[0])
        raise ModelError(f"column {cov.subject!r}: row {plain(data.index[i])!r} has no subject id (missing value)")
    if weights is not None:
        w_all = data[weights] if isinstance(weights, str) else pd.Series(np.asarray(weights, float), index=data.index)
        if len(w_all) != len(data):
            raise ModelError(f"weights: expected {len(data)} values, got {len(w_all)}")
    used = list(
        dict.fromkeys([fx.outcome, cov.visit] + ([cov.group] if cov.group else []) + [c for t in fx.terms for c in t])
    )
    keep = data[used].notna().all(axis=1).to_numpy()
    if weights is not None:
        wv = pd.to_numeric(w_all, errors="coerce").to_numpy(dtype=float)
        keep &= ~np.isnan(wv)
        wname = weights if isinstance(weights, str) else "weights"
        check_finite(pd.DataFrame({wname: wv[keep]}, index=data.index[keep]), [wname])
        if np.any(wv[keep] <= 0):
            i = int(np.flatnonzero(wv[keep] <= 0)[0])
            raise ModelError(
                f"{wname}, row {plain(data.index[keep][i])!r}: value {plain(wv[keep][i])!r}: weights must be positive"
            )
    n_rows_dropped = int((~keep).sum())
    d = data if keep.all() else data.loc[keep]
    if len(d) == 0:
        raise ModelError(f"no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    # visits: levels from the whole column (visit_order, categorical order or natural order); every level
    # must have data
    vlev, vsource = visit_levels(data[cov.visit], cov.visit, visit_order)
    vmap = {v: i for i, v in enumerate(vlev)}
    vcode = d[cov.visit].map(vmap).to_numpy()
    counts = np.bincount(vcode.astype(np.int64), minlength=len(vlev))
    empty = [str(vlev[i]) for i in np.flatnonzero(counts == 0)]
    if empty:
        raise ModelError(
            f"column {cov.visit!r}: visit(s) {empty} have no non-missing outcome {fx.outcome!r}; "
            f"remove them (e.g. drop unused categories) before fitting"
        )
    T = len(vlev)
    subj_codes, subj_uni = pd.factorize(d[cov.subject], sort=False)
    n_subjects_dropped = int(data[cov.subject].nunique() - len(subj_uni))
    nsub = len(subj_uni)
    pair = subj_codes.astype(np.int64) * T + vcode
    dup = np.bincount(pair, minlength=nsub * T) > 1
    if dup.any():
        j = int(np.flatnonzero(dup)[0])
        raise ModelError(
            f"subject {plain(subj_uni[j // T])!r} has more than one row at visit {plain(vlev[j % T])!r} "
            f"(column {cov.visit!r}); each subject may have one outcome per visit"
        )
    if cov.group:
        glev = factor_levels(d[cov.group], None, cov.group)
        gcode = d[cov.group].map({g: i for i, g in enumerate(glev)}).to_numpy().astype(np.int64)
        gs = np.full(nsub, -1)
        gs[subj_codes] = gcode
        mism = gs[subj_codes] != gcode
        if mism.any():
            i = int(np.flatnonzero(mism)[0])
            raise ModelError(
                f"subject {plain(subj_uni[subj_codes[i]])!r} belongs to more than one level of the covariance group "
                f"{cov.group!r}; the group must be constant within a subject"
            )
    else:
        glev = (None,)
        gcode = np.zeros(len(d), np.int64)
    info = make_design_info(fx, d, orders={cov.visit: vlev})
    check_finite(d, [fx.outcome, *info.numerics])
    X = build_design(info, d)
    y = d[fx.outcome].to_numpy(dtype=float)
    XtX = check_full_rank(X, info.column_names)
    sqrt_w, log_w_sum = None, 0.0
    if weights is not None:
        w = wv[keep]
        sqrt_w = np.sqrt(w)
        log_w_sum = float(np.log(w).sum())
    vcode = vcode.astype(np.int64)
    subj_codes = subj_codes.astype(np.int64)
    engine = Engine(X, y, vcode, subj_codes, gcode, len(glev), T, sqrt_w=sqrt_w, log_w_sum=log_w_sum, keep_raw=keep_raw)
    return MMRMData(
        parsed=parsed,
        design=info,
        data=d,
        X=X,
        y=y,
        visit_code=vcode,
        subject_code=subj_codes,
        group_code=gcode,
        visit_levels=tuple(vlev),
        visit_order_source=vsource,
        group_levels=tuple(glev),
        sqrt_w=sqrt_w,
        XtX=XtX,
        engine=engine,
        n_subjects=nsub,
        n_rows_dropped=n_rows_dropped,
        n_subjects_dropped=n_subjects_dropped,
    )


def prepare_mmrm_file(parsed: ParsedFormula, path, weights=None, keep_raw=False, visit_order=None, control=None):
    """:func:`prepare_mmrm` for a Parquet file or folder read in chunks (:mod:`.mmrm_stream`): the same
    design, levels and pattern statistics, without the rows in memory."""
    from painstudy.models.mixed.chunked import DEFAULT_CHUNK_ROWS
    from painstudy.models.mixed.mmrm_stream import stream_statistics

    control = control or {}
    if keep_raw:
        raise ModelError(
            "a sandwich covariance (vcov='empirical' or 'empirical-bc') needs every subject's rows in memory; "
            "with data read from a file in chunks use vcov='model', or read the file into a DataFrame"
        )
    s = stream_statistics(
        parsed,
        path,
        weights,
        visit_order,
        chunk_rows=control.get("chunk_rows", DEFAULT_CHUNK_ROWS),
        progress=control.get("progress"),
    )
    return MMRMData(
        parsed=parsed,
        design=s.design,
        data=None,
        X=None,
        y=None,
        visit_code=None,
        subject_code=None,
        group_code=None,
        visit_levels=s.visit_levels,
        visit_order_source=s.visit_order_source,
        group_levels=s.group_levels,
        sqrt_w=None,
        XtX=s.XtX,
        engine=s.engine,
        n_subjects=s.n_subjects,
        n_rows_dropped=s.n_rows_dropped,
        n_subjects_dropped=s.n_subjects_dropped,
        within_varies=s.within_varies,
        source=s.source,
    )


def mmrm(
    formula: str,
    data,
    *,
    reml: bool = True,
    df: str = "satterthwaite",
    vcov: str = "model",
    weights: str | np.ndarray | None = None,
    visit_order: list | None = None,
    control: dict | None = None,
) -> MMRMResult:
    """Fit a mixed model for repeated measures.

    Parameters
    ----------
    formula : str
        R mmrm syntax: ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"``. The covariance
        term is one of ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh`` with ``(VISIT | SUBJECT)`` or
        ``(VISIT | GROUP / SUBJECT)`` (one covariance matrix per group). Factors use treatment coding with
        the first level (categorical order, else alphabetical, as R) as reference; choose the reference with
        ``C(ARMCD, Treatment("PBO"))``.
    data : pandas.DataFrame, or the path of a Parquet file or folder
        Long data, one row per subject and visit. Rows with a missing outcome or covariate are dropped
        and counted (``n_rows_dropped``); subjects left without rows are counted in ``n_subjects_dropped``.
        A path is read in chunks, twice, never whole (:mod:`painstudy.models.mixed.mmrm_stream`): for data
        larger than memory (10 million subjects x 6 visits fit in under a minute in a few GiB); each
        subject's rows must be next to each other in the file, and the results are those of the same rows
        as a DataFrame (to rounding).
    reml : bool
        REML (default) or maximum likelihood.
    df : str
        Degrees of freedom: ``"satterthwaite"`` (default), ``"kenward-roger"`` (adjusted covariance and
        df, second-derivative term in the natural SAS parametrisation, as ``DDFM=KR``),
        ``"kenward-roger-linear"`` (no second-derivative term, as SAS ``DDFM=KR(LINEARCOV)`` and R mmrm's
        ``"Kenward-Roger-Linear"``), ``"residual"`` (n_obs - p) or ``"between-within"``.
    vcov : str
        ``"model"`` (default), ``"empirical"`` (sandwich, CR0) or ``"empirical-bc"`` (Bell-McCaffrey
        bias-reduced sandwich, CR2, as R clubSandwich computes it for a gls fit). With an empirical vcov, ``df =
        "satterthwaite"`` gives Bell & McCaffrey's (2002) Satterthwaite df of the sandwich under the
        working covariance model.
    weights : str or array, optional
        Column name or array of positive weights; the covariance of a row is divided by its weight.
    visit_order : list, optional
        The visits in time order, e.g. ``["week4", "week8", "week12", "week26"]``. The order matters for
        ar1, ar1h, toep, toeph, ad and adh. Without it visits are ordered as the categories of a pandas
        Categorical (a cohort's :meth:`~painstudy.Cohort.analysis_data` gives the study schedule's order),
        else numerically, else in the natural order of the labels (``week4 < week8 < week12``,
        ``VIS2 < VIS10``), never alphabetically. The order used is in the result's ``visit_levels``,
        ``notes`` and summary; the visit factor of the fixed effects uses it too (first visit as reference).
    control : dict, optional
        ``{"optimizers": ("BFGS", "L-BFGS-B", "Nelder-Mead")}`` (the chain tried in order until
        one converges); ``{"information": "expected"}`` takes the covariance of the covariance
        parameters (Satterthwaite / Kenward-Roger) from the expected instead of the observed information
        (the default, as SAS PROC MIXED and R mmrm; pbkrtest uses the expected one);
        ``{"chunk_rows": 250000}`` rows per chunk when ``data`` is a file; ``{"progress": f}`` calls
        ``f(stage, rows_done, rows_total)`` after each chunk of a file (``True``: a progress bar on stderr);
        ``{"newton_first": True}`` starts with damped Newton iterations from the moment-based start and
        uses the optimiser chain only if they do not converge; ``{"maxiter": 5000, "newton_steps": 8}``
        limit the iterations; ``{"blas_threads": 1}`` is the
        number of OpenBLAS threads during the fit (default 1: the work is many small matrix products, for
        which threads only add contention; ``None`` leaves the setting alone).

    Returns
    -------
    painstudy.models.mixed.results.MMRMResult

    Raises
    ------
    ModelError
        Bad arguments or data (the message names the column, row and value), and numerical failures of the
        fit.  Non-convergence is not an error: the result says ``converged=False`` (and "NOT CONVERGED"
        in its summary) and a :class:`~painstudy.errors.ConvergenceWarning` is issued.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(60), 3), "visit": np.tile(["V1", "V2", "V3"], 60),
    ...                   "arm": np.repeat(rng.permutation(np.repeat(["A", "B"], 30)), 3)})
    >>> d["y"] = rng.normal(size=len(d)) + (d.arm == "B") * 1.0
    >>> fit = mmrm("y ~ arm * visit + us(visit | id)", d)
    >>> fit.n_subjects, fit.covariance.shape
    (60, (3, 3))
    """
    control = dict(control or {})
    # floating-point warnings are not shown: overflow in a trial step of the optimiser is handled (the step
    # is rejected); what matters ends up in the result's notes
    with blas_threads(control.get("blas_threads", DEFAULT_BLAS_THREADS)), np.errstate(all="ignore"):
        try:
            return _fit(formula, data, reml, df, vcov, weights, visit_order, control)
        except (np.linalg.LinAlgError, FloatingPointError) as exc:
            raise numerical_failure("mmrm", exc) from exc


def _fit(formula, data, reml, df, vcov, weights, visit_order, control) -> MMRMResult:
    t_start = time.perf_counter()
    if df not in DF_METHODS:
        raise ModelError(f"df={df!r} is not known; use one of {', '.join(DF_METHODS)}")
    if vcov not in VCOV_METHODS:
        raise ModelError(f"vcov={vcov!r} is not known; use one of {', '.join(VCOV_METHODS)}")
    if vcov != "model" and df.startswith("kenward"):
        raise ModelError(f"df={df!r} adjusts the model-based covariance; it cannot be combined with vcov={vcov!r}")
    if not isinstance(reml, (bool, np.bool_)):
        raise ModelError(f"reml must be True or False, got {reml!r}")
    information = control.get("information", "observed")
    if information not in ("observed", "expected"):
        raise ModelError(f"control['information']={information!r}: use 'observed' or 'expected'")
    parsed = parse_formula(formula)
    if is_parquet_source(data):
        with file_progress(control.get("progress")) as report:
            prep = prepare_mmrm_file(
                parsed, data, weights, vcov != "model", visit_order, {**control, "progress": report}
            )
    else:
        prep = prepare_mmrm(parsed, data, weights, keep_raw=(vcov != "model"), visit_order=visit_order)
    fit = fit_covariance(prep, parsed.covariance.structure, bool(reml), control)
    inference = build_mmrm_inference(prep, fit, df, vcov, information=information)
    return MMRMResult.from_fit(prep, fit, inference, seconds=time.perf_counter() - t_start)
