"""Fitting the random-coefficient model's variance parameters (lme4's parametrisation).

``theta`` holds the lower-triangular elements of each term's relative covariance factor ``Lambda_t``
(``D_t = sigma^2 Lambda_t Lambda_t'``, column by column as lme4), ``sigma^2`` profiled out; with a residual
structure the factors are absolute (``D_t = L_t L_t'``) and the structure's own optimisation parameters
follow.  The optimiser works in scaled units (:class:`Objective`): L-BFGS-B with the bounds
``diag(Lambda) >= 0``, restarts away from a boundary saddle, a Newton polish, and a derivative-free
fallback.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize

from painstudy.errors import ConvergenceWarning
from painstudy.models.mixed.covariance import make_structure
from painstudy.models.mixed.lmm_engine import FastEngine, SchurEngine

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.lmm import LMMData

__all__ = [
    "SINGULAR_TOL",
    "LMMFit",
    "fit_variance",
    "tril_cols",
    "Params",
    "Objective",
    "fd_hessian",
    "start_values",
    "optimize_theta",
    "canonical_signs",
]

SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on the bounded elements of theta


@dataclass(frozen=True)
class LMMFit:
    """The fitted variance parameters of a random-coefficient model.

    Attributes
    ----------
    params : Params
        The parametrisation (random-term sizes, residual structure).
    theta : ndarray
        Optimised parameters (lme4's theta; with a residual structure the absolute factors, then the
        structure's optimisation parameters).
    Ds : list of ndarray
        Covariance matrix of each random term's effects.
    resid_cov : float or ndarray
        Residual variance sigma^2, or the residual structure's visit x visit covariance.
    sigma2 : float
        Profiled residual variance (NaN with a residual structure).
    evaluation : dict
        Full-mode engine evaluation at the fit (``beta``, ``C0``, residual weights ``e``, blocks).
    neg2_log_lik : float
    reml, converged, singular : bool
    notes : tuple of str
    """

    params: Params
    theta: np.ndarray
    Ds: list
    resid_cov: object
    sigma2: float
    evaluation: dict
    neg2_log_lik: float
    reml: bool
    converged: bool
    singular: bool
    notes: tuple


def fit_variance(prep: LMMData, reml: bool, control: dict) -> tuple[LMMFit, dict]:
    """Fit the variance parameters by REML or ML; returns the fit and the optimiser diagnostics.

    The engine: per-group sufficient statistics for one random term (:class:`FastEngine`), a Schur
    complement for several terms with few levels besides the largest (:class:`SchurEngine`), else dense
    blocks of V (always with a residual structure, or ``control={"dense": True}``).
    """
    engine = prep.engine
    struct = make_structure(prep.spec.residual.structure, len(prep.visit_levels)) if prep.spec.residual else None
    params = Params(engine.q, struct)
    u0, scale = start_values(prep, params)
    fast = None
    if struct is None and len(prep.terms) == 1 and not control.get("dense", False):
        fast = FastEngine(prep.X, prep.y, *prep.terms[0])
    elif struct is None and not control.get("dense", False):
        big = int(np.argmax([len(lv) for lv in prep.levels]))
        q2 = sum(len(lv) * Z.shape[1] for t, (lv, (_, Z)) in enumerate(zip(prep.levels, prep.terms)) if t != big)
        nbig = len(prep.levels[big]) * prep.terms[big][1].shape[1]
        if q2 <= SchurEngine.MAX_Q2 and nbig * q2 <= 5e7:
            fast = SchurEngine(prep.X, prep.y, prep.terms, big)
    obj = Objective(engine, params, reml, scale, fast)
    theta, fval, gmax, tried, newton = optimize_theta(obj, u0, params, control)
    converged = bool(np.isfinite(fval) and fval < 1e299 and gmax < 1e-3 * max(1.0, abs(fval)) ** 0.5)
    notes = []
    if not converged:
        detail = f"the optimiser did not converge (max |gradient| {gmax:.3g}); estimates are unreliable"
        warnings.warn(f"lmm: {detail}", ConvergenceWarning, stacklevel=4)
        notes += ["not converged", detail]
    lams, Ds_rel, rc = obj.parts(theta)
    ev0 = engine.evaluate(Ds_rel, rc, reml, profiled=struct is None, grad=False)
    sigma2 = ev0["sigma2"] if struct is None else np.nan
    # the actual covariance parameters
    if struct is None:
        Ds = [sigma2 * D for D in Ds_rel]
        rc_abs = sigma2
    else:
        Ds, rc_abs = Ds_rel, rc
    ev = engine.evaluate(Ds, rc_abs, reml, profiled=False, grad=False, keep=True)
    bounded = params.bounded()
    sing_val = theta[bounded] if struct is None else (theta[bounded] / np.sqrt(max(np.mean(np.diag(rc)), 1e-300)))
    singular = bool(np.any(sing_val < SINGULAR_TOL))
    if singular:
        warnings.warn(
            "lmm: singular fit -- a random-effect variance is estimated at 0 or a correlation at +-1 (a "
            "boundary estimate); consider simplifying the random terms. Standard errors and df treat the "
            "boundary parameters as fixed.",
            ConvergenceWarning,
            stacklevel=4,
        )
        notes.append("singular fit")
    optim = {
        "engine": type(fast).__name__ if fast is not None else "Engine (dense blocks)",
        "optimizers": tried,
        "newton_steps": newton,
        "max_abs_gradient": gmax,
        "n_evaluations": obj.n_eval,
    }
    fit = LMMFit(
        params=params,
        theta=theta,
        Ds=Ds,
        resid_cov=rc_abs,
        sigma2=sigma2,
        evaluation=ev,
        neg2_log_lik=float(fval),
        reml=reml,
        converged=converged,
        singular=singular,
        notes=tuple(notes),
    )
    return fit, optim


def tril_cols(q: int) -> list[tuple[int, int]]:
    """lme4's order of theta within a term: lower triangle column by column."""
    return [(i, j) for j in range(q) for i in range(j, q)]


class Params:
    """theta <-> (Lambda_t or L_t) and the residual structure's parameters."""

    def __init__(self, qs, struct):
        self.qs = qs
        self.idx = [tril_cols(q) for q in qs]
        self.n_lam = sum(len(ix) for ix in self.idx)
        self.struct = struct
        self.n = self.n_lam + (struct.n_theta if struct is not None else 0)

    def lams(self, theta):
        out, k = [], 0
        for q, ix in zip(self.qs, self.idx):
            L = np.zeros((q, q))
            for i, j in ix:
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


class Objective:
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
        return lams, Ds, self.params.struct.sigma(theta[self.params.n_lam :])

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
            g = np.concatenate([g, self.params.struct.grad(theta[self.params.n_lam :], ev["Gres"])])
        return ev["value"], g


def fd_hessian(fun_grad, x, bounded):
    """Hessian by central differences of the analytic gradient (forward differences at a bound 0)."""
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


def start_values(prep: LMMData, params: Params):
    """Start values (in the optimiser's scaled units) and the scale vector."""
    X, y = prep.X, prep.y
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = float(np.sum((y - X @ b) ** 2) / max(len(y) - X.shape[1], 1))
    u, scale = [], []
    for (_codes, Z), ix in zip(prep.terms, params.idx):
        rms = np.sqrt(np.mean(Z**2, axis=0))
        rms[rms == 0] = 1.0
        for i, j in ix:
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


def optimize_theta(obj: Objective, u0: np.ndarray, params: Params, control: dict):
    """L-BFGS-B with the bounds diag(Lambda) >= 0 (restarts off a boundary saddle), Newton polish on the free
    parameters, Nelder-Mead + L-BFGS-B fallback; returns ``theta, value, max |projected gradient|, attempts,
    Newton steps``."""
    t0 = time.perf_counter()
    bounds = params.bounds()
    bounded = params.bounded()
    opts = {"maxiter": control.get("maxiter", 2000), "maxcor": 20, "ftol": 1e-12, "gtol": 1e-7}
    res = optimize.minimize(obj.scaled, u0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
    tried = [
        {
            "method": "L-BFGS-B",
            "success": bool(res.success),
            "message": str(res.message),
            "n_iter": int(res.nit),
            "fun": float(res.fun),
            "seconds": time.perf_counter() - t0,
        }
    ]
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
        tried.append(
            {
                "method": "L-BFGS-B (restart off the boundary)",
                "success": bool(res2.success),
                "message": str(res2.message),
                "n_iter": int(res2.nit),
                "fun": float(res2.fun),
                "seconds": time.perf_counter() - t0,
            }
        )
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
            H = fd_hessian(obj, theta, bounded)
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
    if (
        not (np.isfinite(f) and gmax < 1e-3 * max(1.0, abs(f)) ** 0.5)
        and len(theta) <= 30
        and control.get("fallback", True)
    ):
        # fallback: derivative-free Nelder-Mead (Lambda Lambda' is the same for any sign of a column of
        # Lambda, so the bounds are restored afterwards by flipping columns), then L-BFGS-B again
        t1 = time.perf_counter()
        nm = optimize.minimize(
            lambda u: obj.scaled(u)[0],
            theta / obj.scale,
            method="Nelder-Mead",
            options={"maxiter": 400 * len(theta), "xatol": 1e-6, "fatol": 1e-8, "adaptive": True},
        )
        u = canonical_signs(nm.x, params)
        res3 = optimize.minimize(
            obj.scaled, u, jac=True, method="L-BFGS-B", bounds=bounds, options={**opts, "maxiter": 2000}
        )
        tried.append(
            {
                "method": "Nelder-Mead + L-BFGS-B",
                "success": bool(res3.success),
                "message": str(res3.message),
                "n_iter": int(nm.nit),
                "fun": float(res3.fun),
                "seconds": time.perf_counter() - t1,
            }
        )
        if res3.fun < f:
            theta = np.asarray(res3.x, float) * obj.scale
            f, g = obj(theta)
            free = ~(bounded & (theta <= 1e-8))
            gproj = np.where(free, g, np.minimum(g, 0.0))
            gmax = float(np.max(np.abs(gproj))) if len(g) else 0.0
    return theta, float(f), gmax, tried, newton


def canonical_signs(u, params):
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
