"""Random-coefficient linear mixed models with lme4-style random terms (R lme4 / lmerTest / pbkrtest,
SAS PROC MIXED RANDOM + REPEATED).

``painstudy.lmm("pain ~ arm * week + baseline + (1 + week | subject)", data)``

The likelihood is lme4's: REML or ML, with the relative covariance factor ``Lambda_theta``
(``D_t = sigma^2 Lambda_t Lambda_t'``) and ``sigma^2`` profiled out; ``theta`` is optimised by L-BFGS-B with
analytic gradients and the bounds ``diag(Lambda) >= 0``, then polished by Newton steps.  With a residual
structure (``+ ar1(visit | subject)``) the residual covariance is no longer ``sigma^2 I`` and all parameters are
optimised directly.  Engines (:mod:`painstudy.models.mixed.lmm_engine`): one random term -> per-group sufficient
statistics (``FastEngine``, O(N q^2 p) per evaluation); several terms -> block factorisation with a dense Schur
complement for the terms with few levels (``SchurEngine``: sites, raters; crossed or nested); residual
structures -> dense blocks of ``V`` per subject (``Engine``), which also computes the information quantities
for the degrees of freedom after every fit.

Degrees of freedom:

* ``satterthwaite``: lmerTest's definition -- the covariance of the variance parameters ``(theta, sigma)``
  is twice the inverse Hessian of the deviance (REML or ML) in that parametrisation, and the gradient of
  ``l' C l`` is taken with respect to them.  (Both are computed analytically here; lmerTest differentiates
  numerically.)  With a residual structure: the natural parameters (variance components and the structure's
  SAS parameters), as PROC MIXED.
* ``kenward-roger``: pbkrtest's (``vcovAdj`` / ``Lb_ddf``): linear parametrisation of ``V`` (each element of
  each ``D_t`` and ``sigma^2``), expected information, adjusted covariance of beta.
* ``residual``: ``n_obs - p``.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import re
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.mixed.lmm_engine import Engine, FastEngine, SchurEngine, components
from painstudy.models.mixed.covariance import make_structure
from painstudy.models.mixed.formula import (STRUCTURES, CovarianceSpec, FixedSpec, _Parser, _tokenize, build_design,
                                      factor_levels, make_design_info)
from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.results import (TABLE_COLUMNS, MMRMResult, _adjust, _row, check_contrast_args,
                                      contrast_family, json_safe)

__all__ = ["lmm", "LMMResult", "RandomTerm", "LMM_DF_METHODS"]

LMM_DF_METHODS = ("satterthwaite", "kenward-roger", "residual")
SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on the bounded elements of theta


# ----------------------------------------------------------------------------------------------
# formula


@dataclass(frozen=True)
class RandomTerm:
    """One random term ``(1 + week | subject)``: grouping columns (an interaction for ``a:b``), whether an
    intercept is included and the numeric covariates with random slopes."""

    group: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]

    @property
    def group_label(self) -> str:
        return ":".join(self.group)

    @property
    def names(self) -> list[str]:
        return (["(Intercept)"] if self.intercept else []) + list(self.slopes)


@dataclass(frozen=True)
class LMMFormula:
    formula: str
    fixed: FixedSpec
    random: tuple[RandomTerm, ...]
    residual: CovarianceSpec | None


def _split_random(rhs: str, formula: str) -> tuple[str, list[str]]:
    """Cut the top-level ``( ... | ... )`` groups out of ``rhs``; return the rest and the groups."""
    out, found, i = [], [], 0
    while i < len(rhs):
        ch = rhs[i]
        if ch == "(":
            j = len("".join(out).rstrip())
            prev = "".join(out).rstrip()[-1:] if j else ""
            depth, k = 0, i
            while k < len(rhs):
                if rhs[k] == "(":
                    depth += 1
                elif rhs[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if depth != 0:
                raise ModelError(f"formula {formula!r}: unbalanced parentheses")
            inner = rhs[i + 1:k]
            is_call = bool(prev) and (prev.isalnum() or prev in "_.`")
            if "|" in inner and not is_call:
                found.append(inner)
                out.append("1")  # harmless placeholder for the removed term
            else:
                out.append(rhs[i:k + 1])
            i = k + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out), found


def _parse_random(inner: str, formula: str) -> list[RandomTerm]:
    double = "||" in inner
    lhs, grp = inner.split("||" if double else "|", 1)
    grp = grp.strip()
    if "|" in grp or not grp:
        raise ModelError(f"formula {formula!r}: cannot read the random term ({inner})")
    intercept = True
    slopes: list[str] = []
    # signed pieces: "1 + week", "0 + week", "-1 + week", "week - 1"
    for sign, tok in re.findall(r"([+-]?)\s*([^+\-\s][^+\-]*)", lhs):
        tok = tok.strip()
        if tok in ("0", "1"):
            if tok == "0" or sign == "-":
                intercept = False
            continue
        name = tok.strip("`")
        if sign == "-" or not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_. ]*", name) or (" " in name and "`" not in tok):
            raise ModelError(
                f"formula {formula!r}: random term ({inner}): {sign}{tok!r} is not supported; use an intercept "
                f"and numeric columns, e.g. (1 + week | subject)"
            )
        slopes.append(name)
    if not intercept and not slopes:
        raise ModelError(f"formula {formula!r}: random term ({inner}) has no effects")
    # grouping: a/b -> a + a:b ; a:b -> interaction
    groups = []
    if "/" in grp:
        parts = [g.strip() for g in grp.split("/")]
        for k in range(1, len(parts) + 1):
            groups.append(tuple(parts[:k]))
    else:
        groups.append(tuple(g.strip() for g in grp.split(":")))
    terms = []
    for g in groups:
        if double:
            if intercept:
                terms.append(RandomTerm(g, True, ()))
            for s in slopes:
                terms.append(RandomTerm(g, False, (s,)))
        else:
            terms.append(RandomTerm(g, intercept, tuple(slopes)))
    return terms


def parse_lmm_formula(formula: str) -> LMMFormula:
    """Parse ``"y ~ arm * week + baseline + (1 + week | subject) [+ ar1(visit | subject)]"``.

    Examples
    --------
    >>> f = parse_lmm_formula("y ~ arm * week + (1 | site) + (1 + week | subject)")
    >>> [(t.group_label, t.names) for t in f.random]
    [('site', ['(Intercept)']), ('subject', ['(Intercept)', 'week'])]
    >>> f.fixed.terms
    (('arm',), ('week',), ('arm', 'week'))
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(f"formula {formula!r}: expected 'outcome ~ fixed terms + (1 + time | subject)'")
    lhs, rhs = formula.split("~", 1)
    lhs = lhs.strip().strip("`")
    if not lhs or not re.fullmatch(r"[^()~+*:|]+", lhs):
        raise ModelError(f"formula {formula!r}: the outcome (left of ~) must be a single column name")
    fixed_rhs, groups = _split_random(rhs, formula)
    if not groups:
        raise ModelError(
            f"formula {formula!r}: no random term; add e.g. (1 + week | subject) (for a model with only a "
            f"residual covariance structure use painstudy.mmrm)"
        )
    random: list[RandomTerm] = []
    for g in groups:
        for t in _parse_random(g, formula):
            if t not in random:
                random.append(t)
    p = _Parser(formula, _tokenize(fixed_rhs))
    terms = p.expr()
    if p.i != len(p.toks):
        raise ModelError(f"formula {formula!r}: unexpected {p.toks[p.i][1]!r}")
    terms = [t for t in terms if t != "__one__"]
    order = sorted(range(len(terms)), key=lambda i: (len(terms[i]), i))
    terms = tuple(terms[i] for i in order)
    fixed = FixedSpec(lhs, p.intercept, terms, dict(p.variables))
    if p.cov is not None and p.cov.group is not None:
        raise ModelError(f"formula {formula!r}: a grouped residual structure ({p.cov.structure}(visit | group / "
                         f"subject)) is not supported with random effects")
    return LMMFormula(formula, fixed, tuple(random), p.cov)


# ----------------------------------------------------------------------------------------------
# data preparation


class _Prep:
    pass


def _group_codes(d: pd.DataFrame, cols: tuple[str, ...]):
    if len(cols) == 1:
        codes, uni = pd.factorize(d[cols[0]], sort=False)
        labels = [u for u in uni]
    else:
        key = pd.MultiIndex.from_frame(d[list(cols)].astype(str))
        codes, uni = pd.factorize(key, sort=False)
        labels = [":".join(map(str, u)) for u in uni]
    return codes.astype(np.int64), labels


def _prepare(spec: LMMFormula, data: pd.DataFrame) -> _Prep:
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    fx = spec.fixed
    rcols = [c for t in spec.random for c in t.group + t.slopes]
    res = spec.residual
    cols = [fx.outcome] + [c for t in fx.terms for c in t] + rcols + ([res.visit, res.subject] if res else [])
    used = list(dict.fromkeys(cols))
    for c in used:
        if c not in data.columns:
            raise ModelError(f"column {c!r} named in the formula is not in the data (columns: {list(data.columns)})")
    y_all = data[fx.outcome]
    if not pd.api.types.is_numeric_dtype(y_all.dtype) or pd.api.types.is_bool_dtype(y_all.dtype):
        raise ModelError(f"column {fx.outcome!r}: the outcome must be numeric, found dtype {y_all.dtype}; "
                         f"convert it with pd.to_numeric")
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
                raise ModelError(f"column {g!r}: row {data.index[i]!r} has no {g} (missing grouping value)")
    keep = data[used].notna().all(axis=1).to_numpy()
    out = _Prep()
    out.n_rows_dropped = int((~keep).sum())
    d = data.loc[keep]
    if len(d) == 0:
        raise ModelError(f"no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    info = make_design_info(fx, d)
    X = build_design(info, d)
    y = d[fx.outcome].to_numpy(dtype=float)
    n, p = X.shape
    if p == 0:
        raise ModelError("the model has no fixed effects; add an intercept or a term")
    scale = np.sqrt((X * X).sum(axis=0))
    if np.any(scale == 0):
        j = int(np.flatnonzero(scale == 0)[0])
        raise ModelError(f"singular design: column {info.column_names[j]!r} is all zero (a level with no data?)")
    ev, evec = np.linalg.eigh((X / scale).T @ (X / scale))
    if ev[0] < 1e-10 * ev[-1]:
        names = [info.column_names[j] for j in np.flatnonzero(np.abs(evec[:, 0]) > 1e-3)]
        raise ModelError(f"singular design: the columns {names} are linearly dependent (aliased); remove a term")
    terms = []
    out.levels, out.n_groups = [], {}
    codes_list, nlev = [], []
    for t in spec.random:
        codes, labels = _group_codes(d, t.group)
        cols_z = []
        if t.intercept:
            cols_z.append(np.ones(n))
        for s in t.slopes:
            cols_z.append(d[s].to_numpy(dtype=float))
        Z = np.column_stack(cols_z)
        terms.append((codes, Z))
        out.levels.append(labels)
        out.n_groups[t.group_label] = len(labels)
        codes_list.append(codes)
        nlev.append(len(labels))
        if len(labels) >= n and t.intercept:
            raise ModelError(
                f"grouping factor {t.group_label!r} has {len(labels)} levels for {n} observations; the random "
                f"effects are not identifiable from the residual"
            )
    resid = None
    out.visit_levels = None
    if res is not None:
        vlev = factor_levels(d[res.visit], None, res.visit)
        vcode = d[res.visit].map({v: i for i, v in enumerate(vlev)}).to_numpy().astype(np.int64)
        rs, rlab = _group_codes(d, (res.subject,))
        T = len(vlev)
        pair = rs * T + vcode
        if np.bincount(pair).max() > 1:
            j = int(np.flatnonzero(np.bincount(pair) > 1)[0])
            raise ModelError(f"subject {rlab[j // T]!r} has more than one row at visit {vlev[j % T]!r} "
                             f"(column {res.visit!r}); the residual structure needs one row per subject and visit")
        resid = (vcode, rs, T)
        codes_list.append(rs)
        nlev.append(len(rlab))
        out.visit_levels = tuple(vlev)
    comp = components(codes_list, nlev)
    out.engine = Engine(X, y, terms, comp, resid)
    out.X, out.y, out.info, out.data, out.terms = X, y, info, d, terms
    out.subj_for_within = codes_list[int(np.argmax(nlev))]
    return out


# ----------------------------------------------------------------------------------------------
# parametrisation helpers


def _tril_cols(q):
    """lme4's order of theta within a term: lower triangle column by column."""
    return [(i, j) for j in range(q) for i in range(j, q)]


class _Params:
    """theta <-> (Lambda_t or L_t) and the residual structure's parameters."""

    def __init__(self, qs, struct):
        self.qs = qs
        self.idx = [_tril_cols(q) for q in qs]
        self.n_lam = sum(len(ix) for ix in self.idx)
        self.struct = struct
        self.n = self.n_lam + (struct.n_theta if struct is not None else 0)

    def lams(self, theta):
        out, k = [], 0
        for q, ix in zip(self.qs, self.idx):
            L = np.zeros((q, q))
            for (i, j) in ix:
                L[i, j] = theta[k]
                k += 1
            out.append(L)
        return out

    def lam_vector(self, lams):
        return np.array([L[i, j] for L, ix in zip(lams, self.idx) for (i, j) in ix])

    def bounds(self):
        b = []
        for ix in self.idx:
            b += [(0.0, None) if i == j else (None, None) for (i, j) in ix]
        if self.struct is not None:
            b += [(None, None)] * self.struct.n_theta
        return b

    def bounded(self):
        return np.array([i == j for ix in self.idx for (i, j) in ix] + [False] * (self.n - self.n_lam))

    def grad_lams(self, G, lams):
        g = []
        for Gt, L, ix in zip(G, lams, self.idx):
            GL = 2.0 * (0.5 * (Gt + Gt.T)) @ L
            g += [GL[i, j] for (i, j) in ix]
        return np.array(g)


class _Objective:
    """-2 log L and gradient in the optimiser's scaled parameters (``theta = scale * u``: the elements of
    row ``i`` of each factor are divided by the root mean square of the i-th random covariate so that the
    parameters have comparable sizes)."""

    def __init__(self, engine, params, reml, scale=None, fast=None):
        self.engine, self.params, self.reml = engine, params, reml
        self.fast = fast
        self.profiled = params.struct is None
        self.n_eval = 0
        self.scale = np.ones(params.n) if scale is None else scale

    def scaled(self, u):
        f, g = self(u * self.scale)
        return f, g * self.scale

    def parts(self, theta):
        lams = self.params.lams(theta)
        Ds = [L @ L.T for L in lams]
        if self.profiled:
            return lams, Ds, 1.0
        return lams, Ds, self.params.struct.sigma(theta[self.params.n_lam:])

    def __call__(self, theta):
        self.n_eval += 1
        lams, Ds, rc = self.parts(theta)
        if isinstance(self.fast, SchurEngine):
            ev = self.fast.evaluate(None, None, self.reml, lams=lams)
        elif self.fast is not None:
            ev = self.fast.evaluate(None, None, self.reml, lam=lams[0])
        else:
            ev = self.engine.evaluate(Ds, rc, self.reml, profiled=self.profiled, grad=True)
        if not np.isfinite(ev["value"]):
            return 1e300, np.zeros_like(theta)
        g = self.params.grad_lams(ev["G"], lams)
        if not self.profiled:
            g = np.concatenate([g, self.params.struct.grad(theta[self.params.n_lam:], ev["Gres"])])
        return ev["value"], g


def _fd_hessian(fun_grad, x, bounded):
    m = len(x)
    H = np.empty((m, m))
    h = 1e-5 * np.maximum(np.abs(x), 1e-2)
    for i in range(m):
        e = np.zeros(m)
        e[i] = h[i]
        if bounded[i] and x[i] - h[i] < 0:  # forward difference at the boundary
            f0, g0 = fun_grad(x)
            f1, g1 = fun_grad(x + e)
            H[i] = (g1 - g0) / h[i]
        else:
            _, gp = fun_grad(x + e)
            _, gm = fun_grad(x - e)
            H[i] = (gp - gm) / (2 * h[i])
    return 0.5 * (H + H.T)


def _start(prep, params, reml):
    """Start values (in the optimiser's scaled units) and the scale vector."""
    X, y = prep.X, prep.y
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = float(np.sum((y - X @ b) ** 2) / max(len(y) - X.shape[1], 1))
    u, scale = [], []
    for (codes, Z), ix in zip(prep.terms, params.idx):
        rms = np.sqrt(np.mean(Z ** 2, axis=0))
        rms[rms == 0] = 1.0
        for (i, j) in ix:
            u.append(0.5 if i == j else 0.0)
            scale.append(1.0 / rms[i])
    u, scale = np.array(u), np.array(scale)
    if params.struct is None:
        return u, scale
    # absolute scale: L_t = sigma * Lambda_t; residual structure started at s2/2 * I
    T = params.struct.T
    scale = scale * np.sqrt(s2 / 2)
    th_s = params.struct.start(np.eye(T) * s2 / 2 + 1e-3 * s2 * np.ones((T, T)))
    return np.concatenate([u, th_s]), np.concatenate([scale, np.ones(len(th_s))])


def _optimize(obj, u0, params, control):
    t0 = time.perf_counter()
    bounds = params.bounds()
    bounded = params.bounded()
    opts = {"maxiter": control.get("maxiter", 2000), "maxcor": 20, "ftol": 1e-12, "gtol": 1e-7}
    res = optimize.minimize(obj.scaled, u0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
    tried = [{"method": "L-BFGS-B", "success": bool(res.success), "message": str(res.message),
              "n_iter": int(res.nit), "fun": float(res.fun), "seconds": time.perf_counter() - t0}]
    # a diagonal element at its bound 0 may be a saddle (the deviance is even in it): try moving away
    for _ in range(3):
        at0 = np.flatnonzero(bounded & (res.x <= 1e-8))
        if len(at0) == 0:
            break
        best = None
        for k in at0:
            for step in (0.05, 0.3):
                u = res.x.copy()
                u[k] = step
                f1 = obj.scaled(u)[0]
                if f1 < res.fun - 1e-8 * max(1.0, abs(res.fun)) and (best is None or f1 < best[0]):
                    best = (f1, u)
        if best is None:
            break
        res2 = optimize.minimize(obj.scaled, best[1], jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
        tried.append({"method": "L-BFGS-B (restart off the boundary)", "success": bool(res2.success),
                      "message": str(res2.message), "n_iter": int(res2.nit), "fun": float(res2.fun),
                      "seconds": time.perf_counter() - t0})
        if res2.fun < res.fun:
            res = res2
        else:
            break
    theta = np.asarray(res.x, float) * obj.scale
    f, g = obj(theta)
    # Newton polish on the free parameters (those not at their bound); one finite-difference Hessian
    newton = 0
    H = None
    for _ in range(int(control.get("newton_steps", 3))):
        free = ~(bounded & (theta <= 1e-8))
        if not np.any(free) or np.max(np.abs(g[free])) < control.get("newton_gtol", 1e-6):
            break
        if H is None:
            H = _fd_hessian(obj, theta, bounded)
        Hf = H[np.ix_(free, free)]
        try:
            step = np.linalg.solve(Hf, g[free])
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        cand = theta.copy()
        cand[free] -= step
        cand[bounded] = np.maximum(cand[bounded], 0.0)
        f1, g1 = obj(cand)
        if not np.isfinite(f1) or f1 > f + 1e-10 * max(1.0, abs(f)):
            break
        theta, f, g = cand, f1, g1
        newton += 1
    free = ~(bounded & (theta <= 1e-8))
    # projected gradient: at a bound only a negative derivative (pointing out of the region) counts
    gproj = np.where(free, g, np.minimum(g, 0.0))
    gmax = float(np.max(np.abs(gproj))) if len(g) else 0.0
    if not (np.isfinite(f) and gmax < 1e-3 * max(1.0, abs(f)) ** 0.5) and len(theta) <= 30:
        # fallback: derivative-free Nelder-Mead (Lambda Lambda' is the same for any sign of a column of
        # Lambda, so the bounds are restored afterwards by flipping columns), then L-BFGS-B again
        t1 = time.perf_counter()
        nm = optimize.minimize(lambda u: obj.scaled(u)[0], theta / obj.scale, method="Nelder-Mead",
                               options={"maxiter": 400 * len(theta), "xatol": 1e-6, "fatol": 1e-8, "adaptive": True})
        u = _canonical_signs(nm.x, params)
        res3 = optimize.minimize(obj.scaled, u, jac=True, method="L-BFGS-B", bounds=bounds,
                                 options={**opts, "maxiter": 2000})
        tried.append({"method": "Nelder-Mead + L-BFGS-B", "success": bool(res3.success),
                      "message": str(res3.message), "n_iter": int(nm.nit), "fun": float(res3.fun),
                      "seconds": time.perf_counter() - t1})
        if res3.fun < f:
            theta = np.asarray(res3.x, float) * obj.scale
            f, g = obj(theta)
            free = ~(bounded & (theta <= 1e-8))
            gproj = np.where(free, g, np.minimum(g, 0.0))
            gmax = float(np.max(np.abs(gproj))) if len(g) else 0.0
    return theta, float(f), gmax, tried, newton


def _canonical_signs(u, params):
    """Flip the sign of every column of each Lambda_t whose diagonal element is negative."""
    u = np.array(u, float)
    k = 0
    for ix in params.idx:
        pos = {ij: k + m for m, ij in enumerate(ix)}
        q = max(i for i, _ in ix) + 1
        for j in range(q):
            if u[pos[(j, j)]] < 0:
                for i in range(j, q):
                    u[pos[(i, j)]] = -u[pos[(i, j)]]
        k += len(ix)
    return u


# ----------------------------------------------------------------------------------------------
# inference


def _natural_specs(params, qs):
    specs = []
    for t, q in enumerate(qs):
        for (i, j) in _tril_cols(q):
            specs.append(("D", t, i, j))
    if params.struct is None:
        specs.append(("s2",))
    else:
        specs += [("res", k) for k in range(len(params.struct.natural_names()))]
    return specs


def _phi_from_varpar(vp, params):
    """lmerTest's variance parameters (theta..., sigma) -> natural (D elements..., sigma^2)."""
    sigma = vp[-1]
    lams = params.lams(vp[:-1])
    out = []
    for L, q in zip(lams, params.qs):
        D = sigma ** 2 * (L @ L.T)
        out += [D[i, j] for (i, j) in _tril_cols(q)]
    return np.array(out + [sigma ** 2])


def _jac_hess(fun, x):
    """Jacobian (m, k) and Hessians (m, k, k) of a smooth vector function by central differences."""
    k = len(x)
    f0 = fun(x)
    m = len(f0)
    h = 1e-4 * np.maximum(np.abs(x), 1e-2)
    J = np.empty((m, k))
    Hs = np.empty((m, k, k))
    for a in range(k):
        ea = np.zeros(k)
        ea[a] = h[a]
        J[:, a] = (fun(x + ea) - fun(x - ea)) / (2 * h[a])
        Hs[:, a, a] = (fun(x + ea) - 2 * f0 + fun(x - ea)) / h[a] ** 2
        for b in range(a + 1, k):
            eb = np.zeros(k)
            eb[b] = h[b]
            v = (fun(x + ea + eb) - fun(x + ea - eb) - fun(x - ea + eb) + fun(x - ea - eb)) / (4 * h[a] * h[b])
            Hs[:, a, b] = Hs[:, b, a] = v
    return J, Hs


def _within(prep):
    X, subj = prep.X, prep.subj_for_within
    order = np.argsort(subj, kind="stable")
    Xs, ss = X[order], subj[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    mx = np.maximum.reduceat(Xs, starts, axis=0)
    mn = np.minimum.reduceat(Xs, starts, axis=0)
    w = np.any(mx - mn > 1e-12 * (1 + np.abs(mx)), axis=0)
    if prep.info.intercept:
        w[0] = False
    return w


def _build_inference(prep, params, ev, theta, sigma2, reml, df_method):
    """Inference object (shared with MMRM) for the chosen df method."""
    engine = prep.engine
    specs = _natural_specs(params, engine.q)
    struct = params.struct
    sj = sh = None
    if struct is not None:
        phi_res = struct.natural(theta[params.n_lam:])
        sj = struct.jac_nat(phi_res)
        if not struct.linear_natural:
            sh = struct.hess_nat(phi_res)
    pieces = engine.information_pieces(ev, specs, sj, sh, reml)
    C = 0.5 * (ev["C0"] + ev["C0"].T)
    beta = ev["beta"]
    p = engine.p
    P_nat = -pieces["P"]  # d C^-1 / d phi_k
    notes = []
    if df_method == "kenward-roger":
        Ie = pieces["I_exp"]
        ev_min = np.min(np.abs(np.linalg.eigvalsh(Ie)))
        W = 2.0 * (np.linalg.inv(Ie) if ev_min > 1e-10 else np.linalg.pinv(Ie))
        m = len(specs)
        UU = np.zeros((p, p))
        for i in range(m):
            for j in range(m):
                UU += W[i, j] * (pieces["Q"][i, j] - pieces["P"][i] @ C @ pieces["P"][j])
        CA = C + 2.0 * C @ UU @ C
        CA = 0.5 * (CA + CA.T)
        P_used, W_used, C_used = P_nat, W, CA
        if struct is not None and sh is not None:
            notes.append("Kenward-Roger without the second-derivative term of the residual structure")
    else:
        if struct is None:
            # lmerTest: variance parameters (theta, sigma)
            vp = np.concatenate([theta, [np.sqrt(sigma2)]])
            J, Hs = _jac_hess(lambda v: _phi_from_varpar(v, params), vp)
            Hvp = J.T @ pieces["H_obs"] @ J + np.einsum("k,kab->ab", pieces["g"], Hs)
            Pvp = np.einsum("kij,ka->aij", P_nat, J)
        else:
            Hvp, Pvp = pieces["H_obs"], P_nat
        Hvp = 0.5 * (Hvp + Hvp.T)
        evh = np.linalg.eigvalsh(Hvp)
        if evh.min() <= 1e-8 * max(abs(evh.max()), 1e-300):
            W_used = 2.0 * np.linalg.pinv(Hvp)
            notes.append("Hessian of the variance parameters not positive definite (pseudo-inverse used)")
        else:
            W_used = 2.0 * np.linalg.inv(Hvp)
        P_used, C_used = Pvp, C
    within = _within(prep)
    n_obs = engine.n_obs
    nsub = max(prep.n_groups.values())
    return Inference(
        beta=beta, C_model=C, C=C_used, P=P_used, W=W_used, df_method=df_method, vcov_method="model",
        within=within, ddf_between=float(nsub - (p - int(within.sum()))),
        ddf_within=float(n_obs - nsub - int(within.sum())), ddf_residual=float(n_obs - p),
        column_names=prep.info.column_names,
    ), notes


# ----------------------------------------------------------------------------------------------
# the public function


def lmm(
    formula: str,
    data: pd.DataFrame,
    *,
    reml: bool = True,
    df: str = "satterthwaite",
    control: dict | None = None,
) -> "LMMResult":
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
    control : dict, optional
        ``{"maxiter": 2000, "newton_steps": 4}``.

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
    t_start = time.perf_counter()
    control = dict(control or {})
    if df not in LMM_DF_METHODS:
        raise ModelError(f"df={df!r} is not known; use one of {', '.join(LMM_DF_METHODS)}")
    if not isinstance(reml, (bool, np.bool_)):
        raise ModelError(f"reml must be True or False, got {reml!r}")
    if df == "kenward-roger" and not reml:
        raise ModelError("df='kenward-roger' is defined for REML fits; use reml=True (or df='satterthwaite')")
    spec = parse_lmm_formula(formula)
    prep = _prepare(spec, data)
    engine = prep.engine
    struct = make_structure(spec.residual.structure, len(prep.visit_levels)) if spec.residual else None
    params = _Params(engine.q, struct)
    u0, scale = _start(prep, params, bool(reml))
    fast = None
    if struct is None and len(prep.terms) == 1 and not control.get("dense", False):
        fast = FastEngine(prep.X, prep.y, *prep.terms[0])
    elif struct is None and not control.get("dense", False):
        big = int(np.argmax([len(lv) for lv in prep.levels]))
        q2 = sum(len(lv) * Z.shape[1] for t, (lv, (_, Z)) in enumerate(zip(prep.levels, prep.terms)) if t != big)
        nbig = len(prep.levels[big]) * prep.terms[big][1].shape[1]
        if q2 <= SchurEngine.MAX_Q2 and nbig * q2 <= 5e7:
            fast = SchurEngine(prep.X, prep.y, prep.terms, big)
    obj = _Objective(engine, params, bool(reml), scale, fast)
    theta, fval, gmax, tried, newton = _optimize(obj, u0, params, control)
    converged = bool(np.isfinite(fval) and fval < 1e299 and gmax < 1e-3 * max(1.0, abs(fval)) ** 0.5)
    notes = []
    if not converged:
        warnings.warn(f"lmm: the optimiser did not converge (max |gradient| {gmax:.3g}); estimates are "
                      f"unreliable", ConvergenceWarning, stacklevel=2)
        notes.append("not converged")
    lams, Ds_rel, rc = obj.parts(theta)
    ev0 = engine.evaluate(Ds_rel, rc, bool(reml), profiled=struct is None, grad=False)
    sigma2 = ev0["sigma2"] if struct is None else np.nan
    # the actual covariance parameters
    if struct is None:
        Ds = [sigma2 * D for D in Ds_rel]
        rc_abs = sigma2
    else:
        Ds, rc_abs = Ds_rel, rc
    ev = engine.evaluate(Ds, rc_abs, bool(reml), profiled=False, grad=False, keep=True)
    bounded = params.bounded()
    sing_val = theta[bounded] if struct is None else (theta[bounded] / np.sqrt(max(np.mean(np.diag(rc)), 1e-300)))
    singular = bool(np.any(sing_val < SINGULAR_TOL))
    if singular:
        warnings.warn(
            "lmm: singular fit -- a random-effect variance is estimated at 0 or a correlation at +-1 (a "
            "boundary estimate); consider simplifying the random terms. Standard errors and df treat the "
            "boundary parameters as fixed.",
            ConvergenceWarning, stacklevel=2)
        notes.append("singular fit")
    inference, inf_notes = _build_inference(prep, params, ev, theta, sigma2, bool(reml), df)
    notes += inf_notes
    return LMMResult._create(formula=formula, spec=spec, prep=prep, params=params, theta=theta, Ds=Ds,
                             rc=rc_abs, ev=ev, inference=inference, neg2=fval, reml=bool(reml), df_method=df,
                             converged=converged, singular=singular, notes=notes,
                             optim={"engine": type(fast).__name__ if fast is not None else "Engine (dense blocks)",
                                    "optimizers": tried, "newton_steps": newton, "max_abs_gradient": gmax,
                                    "n_evaluations": obj.n_eval, "seconds": time.perf_counter() - t_start,
                                    "n_blocks": sum(b.K for b in engine.blocks)})


# ----------------------------------------------------------------------------------------------
# result


class _View:
    """A light stand-in carrying a modified DesignInfo (numeric covariates at chosen values) so that the
    MMRM LS-means machinery can be reused."""

    def __init__(self, info, inf):
        self._info, self._inf = info, inf

    _grid = MMRMResult._grid
    _lsmean_rows = MMRMResult._lsmean_rows


@dataclass(frozen=True)
class LMMResult:
    """Result of :func:`lmm` (immutable).

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term; ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``.
    varcorr : DataFrame
        Variance components, one row per variance or covariance: ``group, term1, term2, variance, sd, corr``
        (``variance`` holds the covariance in rows with ``term2``; the residual row(s) have group
        ``"Residual"``; with a residual structure its natural parameters are listed).
    neg2_log_lik, aic, bic : float
        -2 x REML (lme4's REML criterion) or ML log-likelihood; AIC/BIC as R's ``AIC()``/``BIC()`` (fixed
        effects and variance parameters counted, BIC with the number of observations).
    n_obs : int
    n_groups : dict
        Grouping factor -> number of levels.
    converged, singular : bool
    theta : ndarray
        lme4's ``theta`` (relative Cholesky factors, column-wise lower triangles) when the residual is
        ``sigma^2 I``.
    """

    formula: str
    reml: bool
    df_method: str
    coefficients: pd.DataFrame
    varcorr: pd.DataFrame
    neg2_log_lik: float
    aic: float
    bic: float
    n_obs: int
    n_groups: dict
    n_rows_dropped: int
    converged: bool
    singular: bool
    theta: np.ndarray
    sigma: float
    optimizer: dict
    notes: tuple
    _inf: object = field(repr=False, compare=False)
    _info: object = field(repr=False, compare=False)
    _random: tuple = field(repr=False, compare=False)
    _blups: dict = field(repr=False, compare=False)
    _D: tuple = field(repr=False, compare=False)

    @classmethod
    def _create(cls, *, formula, spec, prep, params, theta, Ds, rc, ev, inference, neg2, reml, df_method,
                converged, singular, notes, optim):
        names = list(prep.info.column_names)
        rows = []
        for j in range(len(names)):
            l = np.zeros(len(names))
            l[j] = 1.0
            rows.append(_row(*inference.contrast(l), 0.95))
        coefs = pd.DataFrame(rows, index=pd.Index(names, name="term"))[TABLE_COLUMNS]
        vc = []
        for t, D in zip(spec.random, Ds):
            nm = t.names
            sd = np.sqrt(np.clip(np.diag(D), 0, None))
            for i in range(len(nm)):
                vc.append({"group": t.group_label, "term1": nm[i], "term2": None, "variance": D[i, i],
                           "sd": sd[i], "corr": np.nan})
            for j in range(len(nm)):
                for i in range(j + 1, len(nm)):
                    corr = D[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                    vc.append({"group": t.group_label, "term1": nm[j], "term2": nm[i], "variance": D[i, j],
                               "sd": np.nan, "corr": corr})
        struct = params.struct
        if struct is None:
            sigma = float(np.sqrt(rc))
            vc.append({"group": "Residual", "term1": None, "term2": None, "variance": rc, "sd": sigma,
                       "corr": np.nan})
        else:
            phi = struct.natural(theta[params.n_lam:])
            for nmn, v in zip(struct.natural_names(), phi):
                vc.append({"group": "Residual", "term1": nmn, "term2": None, "variance": v, "sd": np.nan,
                           "corr": np.nan})
            sigma = np.nan
        varcorr = pd.DataFrame(vc, columns=["group", "term1", "term2", "variance", "sd", "corr"])
        # BLUPs: b = D Z' V^-1 r per level
        e = ev["e"]
        blups = {}
        for t, (codes, Z), D, labels in zip(spec.random, prep.terms, Ds, prep.levels):
            S = np.zeros((len(labels), Z.shape[1]))
            np.add.at(S, codes, Z * e[:, None])
            B = S @ D
            blups[t.group_label] = blups.get(t.group_label, []) + [
                pd.DataFrame(B, index=pd.Index(labels, name=t.group_label), columns=t.names)]
        blups = {g: pd.concat(v, axis=1) if len(v) > 1 else v[0] for g, v in blups.items()}
        n_obs = prep.engine.n_obs
        k = len(_natural_specs(params, prep.engine.q)) + len(names)
        aic = neg2 + 2 * k
        bic = neg2 + k * np.log(n_obs)
        th = theta if struct is None else theta[:params.n_lam]
        return cls(formula=formula, reml=reml, df_method=df_method, coefficients=coefs, varcorr=varcorr,
                   neg2_log_lik=float(neg2), aic=float(aic), bic=float(bic), n_obs=int(n_obs),
                   n_groups=dict(prep.n_groups), n_rows_dropped=prep.n_rows_dropped, converged=converged,
                   singular=singular, theta=np.array(th), sigma=sigma, optimizer=optim, notes=tuple(notes),
                   _inf=inference, _info=prep.info, _random=tuple(spec.random), _blups=blups, _D=tuple(Ds))

    # -------------------------------------------------------------------------------------------
    @property
    def log_lik(self) -> float:
        """REML (or ML) log-likelihood."""
        return -0.5 * self.neg2_log_lik

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (Kenward-Roger adjusted when ``df="kenward-roger"``)."""
        n = list(self._info.column_names)
        return pd.DataFrame(self._inf.C, index=n, columns=n)

    def ranef(self, group: str | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions (lme4's conditional modes) of the random effects.

        Parameters
        ----------
        group : str, optional
            Grouping factor (e.g. ``"subject"``, ``"site"``, ``"site:subject"``); default: the one with the
            most levels.

        Returns
        -------
        DataFrame indexed by the group's levels (order of first appearance), one column per effect.
        """
        if group is None:
            group = max(self._blups, key=lambda g: len(self._blups[g]))
        if group not in self._blups:
            raise ModelError(f"group {group!r} is not a grouping factor of the model ({list(self._blups)})")
        return self._blups[group].copy()

    def _view(self, at):
        if not at:
            return _View(self._info, self._inf)
        bad = [k for k in at if k not in self._info.numerics]
        if bad:
            raise ModelError(f"at={at!r}: {bad} are not numeric covariates of the model {list(self._info.numerics)}")
        means = {**self._info.numeric_means, **{k: float(v) for k, v in at.items()}}
        return _View(dataclasses.replace(self._info, numeric_means=means), self._inf)

    def lsmeans(self, specs, by=None, at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
        """Least-squares means (emmeans conventions: other factors averaged with equal weights, numeric
        covariates at their mean unless given in ``at``, e.g. ``at={"week": 12}``).

        Returns a DataFrame with the factor columns and ``estimate, std_error, df, statistic, p_value,
        ci_lower, ci_upper``.
        """
        return MMRMResult.lsmeans(self._view(at), specs, by=by, level=level)

    def contrasts(self, specs, by=None, method: str = "pairwise", ref=None, adjust: str = "none",
                  at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
        """Differences of LS means (see :meth:`painstudy.models.mixed.results.MMRMResult.contrasts`), with numeric
        covariates at ``at`` (default: their means)."""
        return MMRMResult.contrasts(self._view(at), specs, by=by, method=method, ref=ref, adjust=adjust,
                                    level=level)

    def _trend_rows(self, var, by, at):
        info = self._info
        if var not in info.numerics:
            raise ModelError(f"{var!r} is not a numeric covariate of the model {list(info.numerics)}")
        by = [] if by is None else ([by] if isinstance(by, str) else list(by))
        view = self._view(at)
        grid = view._grid(by)
        g1 = grid.copy()
        g1[var] = g1[var] + 1.0
        dX = build_design(view._info, g1) - build_design(view._info, grid)  # exact: linear in var
        rows = []
        for combo in itertools.product(*[list(info.factors[k]) for k in by]):
            sel = np.ones(len(grid), bool)
            for k, v in zip(by, combo):
                sel &= (grid[k] == v).to_numpy()
            rows.append((combo, dX[sel].mean(axis=0)))
        return by, rows

    def trends(self, var: str, by=None, at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
        """LS trends (emmeans ``emtrends``): the slope of ``var`` (e.g. ``"week"``) within each level of
        ``by`` (e.g. ``"arm"``), other factors averaged with equal weights.

        Returns a DataFrame with the ``by`` columns and the usual estimate columns (``estimate`` = slope).
        """
        by, rows = self._trend_rows(var, by, at)
        out = [{**dict(zip(by, combo)), **_row(*self._inf.contrast(l), level)} for combo, l in rows]
        return pd.DataFrame(out)[by + TABLE_COLUMNS]

    def trend_contrasts(self, var: str, by, method: str = "pairwise", ref=None, adjust: str = "none",
                        at: dict | None = None, level: float = 0.95, levels=None) -> pd.DataFrame:
        """Differences of slopes of ``var`` between the levels of ``by`` (e.g. each arm minus the reference
        arm): ``method`` ``"pairwise"`` or ``"trt.vs.ctrl"`` (with ``ref``), ``adjust`` none, holm,
        bonferroni or dunnett; ``levels`` restricts the family (as :meth:`MMRMResult.contrasts`)."""
        check_contrast_args(method, adjust)
        by_l, rows = self._trend_rows(var, by, at)
        items = [(" ".join(str(c) for c in combo), l) for combo, l in rows]
        names, Ls = contrast_family(items, method, ref, levels, by_l)
        fam = [{"contrast": nm, **_row(*self._inf.contrast(l), level)} for nm, l in zip(names, Ls)]
        if fam:
            _adjust(fam, np.array(Ls), self._inf.C, adjust, level)
        return pd.DataFrame(fam, columns=["contrast"] + TABLE_COLUMNS)

    def type3_hypothesis(self, term: str) -> np.ndarray:
        """L matrix of the SAS type III hypothesis for ``term`` (as :class:`MMRMResult`)."""
        return MMRMResult.type3_hypothesis(self, term)

    def anova(self) -> pd.DataFrame:
        """Type III F tests (SAS conventions, numeric covariates at 0) with the fit's df method.

        Returns a DataFrame indexed by term with ``num_df, den_df, statistic, p_value``.
        """
        return MMRMResult.anova(self)

    def predict(self, newdata: pd.DataFrame, level: str = "population") -> pd.Series:
        """Predictions for new rows: ``"population"`` (``x' beta``) or ``"subject"`` (adding the BLUPs of
        every random term; levels not seen in the fit get 0, i.e. the population value).  Rows with a
        missing covariate get NaN."""
        if level not in ("population", "subject"):
            raise ModelError(f"level={level!r}: use 'population' or 'subject'")
        if not isinstance(newdata, pd.DataFrame):
            raise ModelError("newdata must be a pandas DataFrame")
        info = self._info
        needed = list(info.factors) + list(info.numerics)
        if level == "subject":
            needed += [c for t in self._random for c in t.group + t.slopes]
        needed = list(dict.fromkeys(needed))
        for c in needed:
            if c not in newdata.columns:
                raise ModelError(f"newdata lacks column {c!r} used by the model")
        ok = newdata[needed].notna().all(axis=1).to_numpy() if needed else np.ones(len(newdata), bool)
        nd = newdata.loc[ok]
        pred = np.full(len(newdata), np.nan)
        val = build_design(info, nd) @ self._inf.beta
        if level == "subject":
            for t in self._random:
                B = self._blups[t.group_label][t.names]
                key = nd[t.group[0]].astype(str) if len(t.group) == 1 else \
                    nd[list(t.group)].astype(str).agg(":".join, axis=1)
                idx = pd.Index(B.index.astype(str))
                pos = idx.get_indexer(key)
                Bv = B.to_numpy()
                Zr = np.column_stack(([np.ones(len(nd))] if t.intercept else [])
                                     + [nd[s].to_numpy(float) for s in t.slopes])
                contrib = np.where(pos[:, None] >= 0, Bv[np.maximum(pos, 0)], 0.0)
                val = val + np.sum(Zr * contrib, axis=1)
        pred[ok] = val
        return pd.Series(pred, index=newdata.index, name="prediction")

    # -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable summary."""
        return {"formula": self.formula, "reml": self.reml, "df_method": self.df_method,
                "neg2_log_lik": self.neg2_log_lik, "aic": self.aic, "bic": self.bic, "n_obs": self.n_obs,
                "n_groups": self.n_groups, "converged": self.converged, "singular": self.singular,
                "coefficients": json_safe(self.coefficients.reset_index().to_dict(orient="records")),
                "varcorr": json_safe(self.varcorr.to_dict(orient="records"))}

    def summary(self) -> str:
        """Plain-text summary."""
        lines = [f"Linear mixed model  {self.formula}",
                 f"{'REML' if self.reml else 'ML'}, df {self.df_method}; {self.n_obs} observations, groups "
                 + ", ".join(f"{g}: {k}" for g, k in self.n_groups.items()),
                 f"-2 log-lik {self.neg2_log_lik:.6f}   AIC {self.aic:.4f}   BIC {self.bic:.4f}   converged "
                 f"{self.converged}{'   SINGULAR' if self.singular else ''}", "", "Random effects:",
                 self.varcorr.to_string(index=False, float_format=lambda x: f"{x:.5g}"), "", "Fixed effects:",
                 self.coefficients.to_string(float_format=lambda x: f"{x:.4f}")]
        if self.notes:
            lines += ["", "Notes: " + "; ".join(self.notes)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"LMMResult({self.formula!r}, {'REML' if self.reml else 'ML'}, -2LL={self.neg2_log_lik:.4f}, "
                f"n_obs={self.n_obs}, n_groups={self.n_groups}, converged={self.converged})")

    def _repr_html_(self) -> str:
        head = (f"<h4>Linear mixed model: {html.escape(self.formula)}</h4><p>{'REML' if self.reml else 'ML'}, "
                f"df {self.df_method}; {self.n_obs} observations; "
                + ", ".join(f"{html.escape(str(g))}: {k}" for g, k in self.n_groups.items())
                + f"; -2 log-lik {self.neg2_log_lik:.4f}, AIC {self.aic:.2f}, BIC {self.bic:.2f}; converged: "
                f"{self.converged}{'; <b>singular fit</b>' if self.singular else ''}</p>")
        return (head + "<h5>Fixed effects</h5>" + self.coefficients.to_html(float_format=lambda x: f"{x:.4f}")
                + "<h5>Random effects</h5>" + self.varcorr.to_html(index=False, float_format=lambda x: f"{x:.5g}",
                                                                    na_rep=""))
