"""Mixed models for repeated measures (MMRM), fitted by REML or ML, matching SAS PROC MIXED and R mmrm.

The model: ``y_i = X_i beta + e_i`` with ``e_i ~ N(0, Sigma_i)``, where ``Sigma_i`` is the sub-matrix of a
visit x visit covariance matrix (one per group when the covariance term has a group) for the visits
subject ``i`` attended; with weights, ``Sigma_i = W_i^{-1/2} Sigma W_i^{-1/2}`` (as R mmrm).

The likelihood is evaluated on per-pattern sufficient statistics (see :mod:`painstudy.models.mixed.mmrm_engine`),
with analytic gradients, BFGS (falling back to L-BFGS-B, then Nelder-Mead) to a loose tolerance, then
damped Newton iterations in the natural parametrisation with the analytic observed Hessian, which also
gives the covariance of the covariance parameters used for Satterthwaite and Kenward-Roger df.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from scipy import optimize

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.mixed.mmrm_engine import Engine, blas_threads
from painstudy.models.mixed.covariance import make_structure
from painstudy.models.mixed.formula import build_design, factor_levels, make_design_info, parse_formula

__all__ = ["mmrm", "DF_METHODS", "VCOV_METHODS"]

DF_METHODS = ("satterthwaite", "kenward-roger", "kenward-roger-linear", "residual", "between-within")
VCOV_METHODS = ("model", "empirical", "empirical-bc")


class _Prepared:
    pass


def _prepare(parsed, data: pd.DataFrame, weights, keep_raw: bool) -> _Prepared:
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cov = parsed.covariance
    fx = parsed.fixed
    cols = [fx.outcome, cov.visit, cov.subject] + ([cov.group] if cov.group else [])
    cols += [c for t in fx.terms for c in t]
    if isinstance(weights, str):
        cols.append(weights)
    for c in dict.fromkeys(cols):
        if c not in data.columns:
            raise ModelError(f"column {c!r} named in the formula is not in the data (columns: {list(data.columns)})")
    y_all = data[fx.outcome]
    if not pd.api.types.is_numeric_dtype(y_all.dtype) or pd.api.types.is_bool_dtype(y_all.dtype):
        bad = pd.to_numeric(y_all, errors="coerce").isna() & y_all.notna()
        ex = y_all[bad].iloc[0] if bad.any() else y_all.iloc[0]
        raise ModelError(
            f"column {fx.outcome!r}: the outcome must be numeric, found dtype {y_all.dtype} (e.g. value {ex!r}); "
            f"convert it with pd.to_numeric"
        )
    if data[cov.subject].isna().any():
        i = int(np.flatnonzero(data[cov.subject].isna().to_numpy())[0])
        raise ModelError(f"column {cov.subject!r}: row {data.index[i]!r} has no subject id (missing value)")
    if weights is not None:
        w_all = data[weights] if isinstance(weights, str) else pd.Series(np.asarray(weights, float), index=data.index)
        if len(w_all) != len(data):
            raise ModelError(f"weights: expected {len(data)} values, got {len(w_all)}")
    used = list(dict.fromkeys([fx.outcome, cov.visit] + ([cov.group] if cov.group else [])
                              + [c for t in fx.terms for c in t]))
    keep = data[used].notna().all(axis=1).to_numpy()
    if weights is not None:
        wv = pd.to_numeric(w_all, errors="coerce").to_numpy(dtype=float)
        keep &= np.isfinite(wv)
        if np.any(wv[keep] <= 0):
            raise ModelError("weights must be positive; found a value <= 0")
    out = _Prepared()
    out.n_rows_dropped = int((~keep).sum())
    d = data if keep.all() else data.loc[keep]
    if len(d) == 0:
        raise ModelError(f"no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    # visits: levels from the whole column (categorical order or sorted); every level must have data
    vlev = factor_levels(data[cov.visit], None, cov.visit)
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
    out.n_subjects_dropped = int(data[cov.subject].nunique() - len(subj_uni))
    nsub = len(subj_uni)
    pair = subj_codes.astype(np.int64) * T + vcode
    dup = np.bincount(pair, minlength=nsub * T) > 1
    if dup.any():
        j = int(np.flatnonzero(dup)[0])
        raise ModelError(
            f"subject {subj_uni[j // T]!r} has more than one row at visit {vlev[j % T]!r} "
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
                f"subject {subj_uni[subj_codes[i]]!r} belongs to more than one level of the covariance group "
                f"{cov.group!r}; the group must be constant within a subject"
            )
    else:
        glev = (None,)
        gcode = np.zeros(len(d), np.int64)
    info = make_design_info(fx, d)
    X = build_design(info, d)
    y = d[fx.outcome].to_numpy(dtype=float)
    p = X.shape[1]
    if p == 0:
        raise ModelError("the model has no fixed effects; add an intercept or a term")
    # singular design check (column-scaled QR)
    XtX_raw = X.T @ X
    scale = np.sqrt(np.diag(XtX_raw))
    if np.any(scale == 0):
        j = int(np.flatnonzero(scale == 0)[0])
        raise ModelError(f"singular design: column {info.column_names[j]!r} is all zero (a level with no data?)")
    XtX = XtX_raw / np.outer(scale, scale)
    ev, evec = np.linalg.eigh(XtX)
    if ev[0] < 1e-10 * ev[-1]:
        # name the aliased columns: those in the null-space direction
        v = evec[:, 0]
        names = [info.column_names[j] for j in np.flatnonzero(np.abs(v) > 1e-3)]
        raise ModelError(
            f"singular design: the columns {names} are linearly dependent (aliased); remove a term or "
            f"merge levels"
        )
    sqrt_w, log_w_sum = None, 0.0
    if weights is not None:
        w = wv[keep]
        sqrt_w = np.sqrt(w)
        log_w_sum = float(np.log(w).sum())
    out.engine = Engine(X, y, vcode.astype(np.int64), subj_codes.astype(np.int64), gcode, len(glev), T,
                        sqrt_w=sqrt_w, log_w_sum=log_w_sum, keep_raw=keep_raw)
    out.X, out.y, out.vcode, out.subj, out.gcode = X, y, vcode.astype(np.int64), subj_codes, gcode
    out.sqrt_w = sqrt_w
    out.XtX = XtX_raw
    out.visit_levels, out.group_levels, out.T = vlev, glev, T
    out.info, out.data, out.n_subjects = info, d, nsub
    return out


def _start_sigmas(prep) -> list[np.ndarray]:
    X, y = prep.X, prep.y
    if prep.sqrt_w is not None:
        Xw, yw = X * prep.sqrt_w[:, None], y * prep.sqrt_w
        b, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
        r = yw - Xw @ b
    else:
        b = np.linalg.solve(prep.XtX, X.T @ y)
        r = y - X @ b
    T, nsub = prep.T, prep.n_subjects
    out = []
    for g in range(len(prep.group_levels)):
        sel = prep.gcode == g
        R = np.zeros((nsub, T))
        I = np.zeros((nsub, T))
        R[prep.subj[sel], prep.vcode[sel]] = r[sel]
        I[prep.subj[sel], prep.vcode[sel]] = 1.0
        num = R.T @ R
        den = I.T @ I
        S = np.where(den > 0, num / np.maximum(den, 1), 0.0)
        dvar = np.diag(S).copy()
        fill = np.mean(dvar[dvar > 0]) if np.any(dvar > 0) else 1.0
        dvar[dvar <= 0] = fill
        np.fill_diagonal(S, dvar)
        ev, evec = np.linalg.eigh(S)
        floor = max(ev.max(), 1e-8) * 1e-2
        S = (evec * np.maximum(ev, floor)) @ evec.T
        out.append(0.5 * (S + S.T))
    return out


class _Objective:
    def __init__(self, engine, structs, reml):
        self.engine, self.structs, self.reml = engine, structs, reml
        self.sizes = [s.n_theta for s in structs]
        self.splits = np.cumsum(self.sizes)[:-1]
        self.n_eval = 0

    def sigmas(self, theta):
        return [s.sigma(t) for s, t in zip(self.structs, np.split(theta, self.splits))]

    def __call__(self, theta):
        self.n_eval += 1
        val, D, _ = self.engine.evaluate(self.sigmas(theta), self.reml, grad=True)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(theta)
        g = np.concatenate([s.grad(t, Dg) for s, t, Dg in zip(self.structs, np.split(theta, self.splits), D)])
        return val, g


def _nat_split(structs, phi):
    sizes = [len(s.natural_names()) for s in structs]
    return np.split(phi, np.cumsum(sizes)[:-1])


def _nat_grad(engine, structs, reml, phi, jac_cache=None):
    parts = _nat_split(structs, phi)
    sig = [s.sigma_nat(ph) for s, ph in zip(structs, parts)]
    val, D, extra = engine.evaluate(sig, reml, grad=True)
    if not np.isfinite(val):
        return val, None, None
    gs = []
    for i, (s, ph, Dg) in enumerate(zip(structs, parts, D)):
        J = jac_cache[i] if (jac_cache is not None and s.linear_natural) else s.jac_nat(ph)
        gs.append(np.tensordot(J, Dg, axes=([1, 2], [0, 1])))
    return val, np.concatenate(gs), extra


def _nat_hessian(engine, structs, reml, phi, jac_cache):
    m = len(phi)
    H = np.empty((m, m))
    h = 1e-4 * np.maximum(np.abs(phi), 1e-2 * max(np.max(np.abs(phi)), 1e-8))
    h = np.maximum(h, 1e-7)
    for i in range(m):
        e = np.zeros(m)
        e[i] = h[i]
        fp, gp, _ = _nat_grad(engine, structs, reml, phi + e, jac_cache)
        fm, gm, _ = _nat_grad(engine, structs, reml, phi - e, jac_cache)
        if gp is None or gm is None:  # at a boundary: one-sided difference
            f0, g0, _ = _nat_grad(engine, structs, reml, phi, jac_cache)
            if gp is not None:
                H[i] = (gp - g0) / h[i]
            elif gm is not None:
                H[i] = (g0 - gm) / h[i]
            else:
                H[i] = np.nan
        else:
            H[i] = (gp - gm) / (2 * h[i])
    return 0.5 * (H + H.T)


def _nat_hessian_analytic(engine, structs, reml, phi, jac_cache):
    """Value, gradient, evaluation extras and analytic observed Hessian of -2 log L at ``phi``."""
    parts = _nat_split(structs, phi)
    sig = [s.sigma_nat(ph) for s, ph in zip(structs, parts)]
    val, D, extra = engine.evaluate(sig, reml, grad=True)
    if not np.isfinite(val):
        return val, None, None, None
    Js = [jac_cache[i] if (jac_cache is not None and s.linear_natural) else s.jac_nat(ph)
          for i, (s, ph) in enumerate(zip(structs, parts))]
    g = np.concatenate([np.tensordot(J, Dg, axes=([1, 2], [0, 1])) for J, Dg in zip(Js, D)])
    offs = np.concatenate([[0], np.cumsum([len(ph) for ph in parts])]).astype(int)
    d2 = None
    if not all(s.linear_natural for s in structs):
        d2 = [s.hess_nat(ph) for s, ph in zip(structs, parts)]
    H = engine.observed_hessian(extra, Js, offs, reml, D, d2)
    return val, g, extra, H


def _newton(engine, structs, reml, phi, theta, jac_cache, max_steps):
    """Damped (modified) Newton iterations in the natural parametrisation: where the Hessian is not
    positive definite its eigenvalues are replaced by their absolute values (floored), giving a descent
    direction; each candidate must stay positive definite (representable in the optimisation
    parametrisation) and must not increase -2 log L (step halving).  Returns the final point, the number
    of accepted steps and the last Newton decrement (inf if the last Hessian was not PD)."""
    steps = 0
    decrement = np.inf
    for _ in range(max_steps):
        f0, g0, _, H = _nat_hessian_analytic(engine, structs, reml, phi, jac_cache)
        if g0 is None or not np.all(np.isfinite(H)):
            break
        ev, U = np.linalg.eigh(H)
        if ev.size == 0:
            break
        pd_hess = ev.min() > 1e-12 * max(abs(ev).max(), 1e-300)
        evm = np.maximum(np.abs(ev), 1e-8 * max(abs(ev).max(), 1e-300))
        step = U @ ((U.T @ g0) / evm)
        dec = float(g0 @ step)
        decrement = dec if pd_hess else np.inf
        if not np.all(np.isfinite(step)) or (pd_hess and dec < 1e-12):
            break
        t = 1.0
        accepted = False
        for _ in range(30):
            cand = phi - t * step
            f1, _, _ = engine.evaluate([s.sigma_nat(ph) for s, ph in zip(structs, _nat_split(structs, cand))],
                                       reml, grad=False)
            if np.isfinite(f1) and f1 <= f0 + 1e-10 * max(1.0, abs(f0)):
                try:
                    th = np.concatenate([s.theta_from_natural(ph) for s, ph in zip(structs, _nat_split(structs, cand))])
                except (np.linalg.LinAlgError, FloatingPointError, ValueError):
                    th = None
                if th is not None and np.all(np.isfinite(th)):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            break
        phi, theta = cand, th
        steps += 1
    return phi, theta, steps, decrement


def _optimize(obj: _Objective, theta0: np.ndarray, control: dict):
    chain = control.get("optimizers", ("BFGS", "L-BFGS-B", "Nelder-Mead"))
    tried = []
    theta = theta0.copy()
    best = None
    for method in chain:
        t0 = time.perf_counter()
        if method == "Nelder-Mead":
            if len(theta) > 20:
                continue
            res = optimize.minimize(lambda t: obj(t)[0], theta, method="Nelder-Mead",
                                    options={"maxiter": control.get("maxiter", 20000), "xatol": 1e-10, "fatol": 1e-12,
                                             "adaptive": True})
        elif method == "L-BFGS-B":
            res = optimize.minimize(obj, theta, jac=True, method="L-BFGS-B",
                                    options={"maxiter": control.get("maxiter", 5000), "maxcor": 30, "ftol": 1e-15,
                                             "gtol": 1e-9})
        else:
            res = optimize.minimize(obj, theta, jac=True, method=method,
                                    options={"maxiter": control.get("maxiter", 5000), "gtol": control.get("gtol", 1e-3),
                                             "norm": np.inf})
        f, g = obj(res.x)
        gmax = float(np.max(np.abs(g))) if len(g) else 0.0
        ok = np.isfinite(f) and f < 1e299 and gmax < 1e-3 * max(1.0, abs(f)) ** 0.5
        tried.append({"method": method, "success": bool(res.success), "message": str(res.message),
                      "n_iter": int(getattr(res, "nit", -1)), "fun": float(f), "max_abs_grad": gmax,
                      "seconds": time.perf_counter() - t0})
        if best is None or f < best[1]:
            best = (res.x, f, ok, method)
        theta = best[0]
        if ok:
            break
    return best, tried


def mmrm(
    formula: str,
    data: pd.DataFrame,
    *,
    reml: bool = True,
    df: str = "satterthwaite",
    vcov: str = "model",
    weights: str | np.ndarray | None = None,
    control: dict | None = None,
) -> "MMRMResult":  # noqa: F821
    """Fit a mixed model for repeated measures.

    Parameters
    ----------
    formula : str
        R mmrm syntax: ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"``. The covariance
        term is one of ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh`` with ``(VISIT | SUBJECT)`` or
        ``(VISIT | GROUP / SUBJECT)`` (one covariance matrix per group). Visits are ordered as the
        categories of a pandas Categorical, else sorted (so "VIS10" < "VIS2": use a Categorical or
        zero-padded labels for the order-dependent structures ar1, toep, ad). Factors use treatment coding with
        the first level (categorical order, else alphabetical) as reference; choose the reference with
        ``C(ARMCD, Treatment("PBO"))``.
    data : pandas.DataFrame
        Long data, one row per subject and visit. Rows with a missing outcome or covariate are dropped
        and counted (``n_rows_dropped``); subjects left without rows are counted in ``n_subjects_dropped``.
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
    control : dict, optional
        ``{"optimizers": ("BFGS", "L-BFGS-B", "Nelder-Mead")}`` (the chain tried in order until
        one converges); ``{"information": "expected"}`` takes the covariance of the covariance
        parameters (Satterthwaite / Kenward-Roger) from the expected instead of the observed information
        (the default, as SAS PROC MIXED and R mmrm; pbkrtest uses the expected one);
        ``{"newton_first": True}`` starts with damped Newton iterations from the moment-based start and
        uses the optimiser chain only if they do not converge; ``{"maxiter": 5000, "newton_steps": 8}``
        limit the iterations; ``{"blas_threads": 1}`` is the
        number of OpenBLAS threads during the fit (default 1: the work is many small matrix products, for
        which threads only add contention; ``None`` leaves the setting alone).

    Returns
    -------
    painstudy.models.mixed.results.MMRMResult

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
    with blas_threads(control.get("blas_threads", 1)):
        return _mmrm(formula, data, reml, df, vcov, weights, control)


def _mmrm(formula, data, reml, df, vcov, weights, control):
    from painstudy.models.mixed import inference as inf_mod
    from painstudy.models.mixed.results import MMRMResult

    t_start = time.perf_counter()
    if df not in DF_METHODS:
        raise ModelError(f"df={df!r} is not known; use one of {', '.join(DF_METHODS)}")
    if vcov not in VCOV_METHODS:
        raise ModelError(f"vcov={vcov!r} is not known; use one of {', '.join(VCOV_METHODS)}")
    if vcov != "model" and df.startswith("kenward"):
        raise ModelError(f"df={df!r} adjusts the model-based covariance; it cannot be combined with vcov={vcov!r}")
    if not isinstance(reml, (bool, np.bool_)):
        raise ModelError(f"reml must be True or False, got {reml!r}")
    parsed = parse_formula(formula)
    prep = _prepare(parsed, data, weights, keep_raw=(vcov != "model"))
    engine = prep.engine
    structs = [make_structure(parsed.covariance.structure, prep.T) for _ in prep.group_levels]
    starts = _start_sigmas(prep)
    theta0 = np.concatenate([s.start(S) for s, S in zip(structs, starts)])
    obj = _Objective(engine, structs, bool(reml))
    theta = theta0
    phi = np.concatenate([s.natural(t) for s, t in zip(structs, np.split(theta, obj.splits))])
    jac_cache = [s.jac_nat(ph) if s.linear_natural else None for s, ph in zip(structs, _nat_split(structs, phi))]
    n_newton = int(control.get("newton_steps", 8))
    newton_steps, tried, ok, method = 0, [], False, "newton"
    if control.get("newton_first", True) and n_newton > 0:
        # damped Newton straight from the moment-based start (fast when the start is good)
        t0 = time.perf_counter()
        phi, theta, newton_steps, decrement = _newton(engine, structs, bool(reml), phi, theta, jac_cache,
                                                      int(control.get("newton_first_steps", 25)))
        ok = bool(np.isfinite(decrement) and 0 <= decrement < 1e-8)
        tried.append({"method": "newton", "success": ok, "message": f"Newton decrement {decrement:.3g}",
                      "n_iter": newton_steps, "seconds": time.perf_counter() - t0})
    if not ok:
        (theta, fval, ok, method), more = _optimize(obj, theta, control)
        tried += more
        # natural parametrisation: Newton iterations with the analytic observed Hessian
        phi = np.concatenate([s.natural(t) for s, t in zip(structs, np.split(theta, obj.splits))])
        phi, theta, extra_steps, decrement = _newton(engine, structs, bool(reml), phi, theta, jac_cache, n_newton)
        newton_steps += extra_steps
    fval, gnat, extra, Hn = _nat_hessian_analytic(engine, structs, bool(reml), phi, jac_cache)
    sigmas = [s.sigma_nat(ph) for s, ph in zip(structs, _nat_split(structs, phi))]
    gmax = float(np.max(np.abs(gnat))) if gnat is not None else np.inf
    try:
        decrement = float(gnat @ np.linalg.solve(Hn, gnat))
    except np.linalg.LinAlgError:
        decrement = np.inf
    # converged: Newton decrement (scale free) tiny, or the optimiser chain converged
    converged = bool((np.isfinite(decrement) and abs(decrement) < 1e-6) or (ok and gmax < 1e-3 * max(1.0, abs(fval)) ** 0.5))
    notes = []
    if not converged:
        warnings.warn(
            f"mmrm: the optimiser did not converge (max |gradient| {gmax:.3g}; tried "
            f"{', '.join(t['method'] for t in tried)}); estimates are unreliable",
            ConvergenceWarning,
            stacklevel=2,
        )
        notes.append("not converged")
    pd_ok = all(np.linalg.eigvalsh(S).min() > 1e-10 * max(np.abs(S).max(), 1e-300) for S in sigmas)
    hess_ev = np.linalg.eigvalsh(Hn) if np.all(np.isfinite(Hn)) else np.array([np.nan])
    hess_pd = bool(np.all(hess_ev > 0))
    if not pd_ok:
        warnings.warn("mmrm: the estimated covariance matrix is not positive definite", ConvergenceWarning,
                      stacklevel=2)
        notes.append("covariance not positive definite")
    if not hess_pd:
        warnings.warn(
            "mmrm: the Hessian of the covariance parameters is not positive definite (a parameter on a "
            "boundary?); Satterthwaite/Kenward-Roger df use its pseudo-inverse",
            ConvergenceWarning,
            stacklevel=2,
        )
        notes.append("Hessian not positive definite")
    information = control.get("information", "observed")
    if information not in ("observed", "expected"):
        raise ModelError(f"control['information']={information!r}: use 'observed' or 'expected'")
    inference = inf_mod.build_inference(prep, engine, structs, phi, sigmas, Hn, extra, bool(reml), df, vcov,
                                        information=information)
    p = engine.p
    m = len(phi)
    n_subj = prep.n_subjects
    k_aic = m if reml else m + p
    fit_seconds = time.perf_counter() - t_start
    optim = {
        "optimizers": tried,
        "chosen": method,
        "n_evaluations": obj.n_eval,
        "newton_steps": newton_steps,
        "max_abs_gradient": gmax,
        "n_patterns": engine.n_patterns,
        "hessian_eigen_min": float(np.nanmin(hess_ev)),
        "seconds": fit_seconds,
    }
    return MMRMResult._create(
        formula=formula, parsed=parsed, prep=prep, structs=structs, phi=phi, sigmas=sigmas, hess=Hn,
        inference=inference, neg2=float(fval), reml=bool(reml), df_method=df, vcov_method=vcov,
        k_aic=k_aic, n_subj=n_subj, converged=converged, pd_ok=pd_ok, optim=optim, notes=notes,
    )
