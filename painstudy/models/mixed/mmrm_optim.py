"""Fitting the MMRM's covariance parameters: start values, optimiser chain, Newton iterations.

The REML/ML criterion (:class:`painstudy.models.mixed.mmrm_engine.Engine`) is minimised in two
parametrisations of each structure (:mod:`painstudy.models.mixed.covariance`):

* the unconstrained *optimisation* parametrisation ``theta`` (BFGS, then L-BFGS-B, then Nelder-Mead,
  to a loose tolerance), with analytic gradients;
* the *natural* parametrisation ``phi`` (SAS's): damped Newton iterations with the analytic observed
  Hessian, which is also the information used for Satterthwaite and Kenward-Roger df.

By default Newton starts straight from moment-based start values and the optimiser chain runs only
when that does not converge.  :func:`fit_covariance` returns a :class:`CovarianceFit`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.mixed.covariance import Structure, make_structure, split_natural
from painstudy.models.mixed.data import MIN_VARIANCE

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.mmrm import MMRMData
    from painstudy.models.mixed.mmrm_engine import Engine

__all__ = ["CovarianceFit", "fit_covariance", "natural_criterion", "natural_hessian_fd", "start_sigmas"]


@dataclass(frozen=True)
class CovarianceFit:
    """The fitted covariance parameters of an MMRM and what inference needs from the optimum.

    Attributes
    ----------
    structures : tuple of Structure
        One per covariance group.
    phi : ndarray
        Natural (SAS) covariance parameters, stacked over groups.
    sigmas : tuple of ndarray
        Visit x visit covariance matrix per group.
    hessian : ndarray
        Analytic observed Hessian of -2 log L in ``phi``.
    evaluation : dict
        The engine's evaluation at the optimum (``beta``, ``H = X'V^-1X``, per-pattern inverses ``Ps``).
    neg2_log_lik : float
        -2 log L (REML or ML, full constant).
    reml, converged, positive_definite : bool
    notes : tuple of str
    optimizer : dict
        Methods tried, iterations, final max |gradient|, timings.
    """

    structures: tuple
    phi: np.ndarray
    sigmas: tuple
    hessian: np.ndarray
    evaluation: dict
    neg2_log_lik: float
    reml: bool
    converged: bool
    positive_definite: bool
    notes: tuple
    optimizer: dict


def start_sigmas(prep: MMRMData) -> list[np.ndarray]:
    """Moment-based start: the covariance of OLS residuals per group (pairwise over observed visits),
    eigenvalues floored at 1% of the largest.

    Raises :class:`ModelError` when the fixed effects reproduce the outcome exactly at some visit (its
    residual variance is 0: the likelihood has no maximum)."""
    engine = prep.engine
    gram = engine.gram()
    p = engine.p
    b = np.linalg.solve(gram[:p, :p], gram[:p, p])  # OLS (weighted least squares with weights)
    num_all, den_all = engine.residual_moments(b)
    out = []
    for g in range(len(prep.group_levels)):
        num, den = num_all[g], den_all[g]
        S = np.where(den > 0, num / np.maximum(den, 1), 0.0)
        dvar = np.diag(S).copy()
        seen = np.diag(den) > 0
        flat = seen & (dvar <= 1e-14 * max(dvar.max(), 0.0))
        if np.any(flat) or not np.any(dvar > 0):
            which = [str(prep.visit_levels[t]) for t in np.flatnonzero(flat | (seen & ~np.any(dvar > 0)))]
            grp = "" if prep.group_levels[g] is None else f" in covariance group {prep.group_levels[g]!r}"
            raise ModelError(
                f"column {prep.parsed.fixed.outcome!r}: at visit(s) {which}{grp} the fixed effects reproduce the "
                f"outcome exactly (residual variance 0), so the covariance cannot be estimated; remove those "
                f"visits or check the data"
            )
        if dvar.max() < MIN_VARIANCE:
            raise ModelError(
                f"column {prep.parsed.fixed.outcome!r}: the outcome varies too little for double precision "
                f"(residual standard deviation about {np.sqrt(dvar.max()):.1g}); rescale it, e.g. to other units"
            )
        fill = np.mean(dvar[dvar > 0])
        dvar[dvar <= 0] = fill
        np.fill_diagonal(S, dvar)
        ev, evec = np.linalg.eigh(S)
        floor = ev.max() * 1e-2  # relative: the outcome may be on any scale
        S = (evec * np.maximum(ev, floor)) @ evec.T
        out.append(0.5 * (S + S.T))
    return out


class Objective:
    """-2 log L and its gradient in the optimisation parametrisation ``theta`` (all groups stacked)."""

    def __init__(self, engine: Engine, structs: list[Structure], reml: bool):
        self.engine, self.structs, self.reml = engine, structs, reml
        self.sizes = [s.n_theta for s in structs]
        self.splits = np.cumsum(self.sizes)[:-1]
        self.n_eval = 0

    def sigmas(self, theta):
        return [s.sigma(t) for s, t in zip(self.structs, np.split(theta, self.splits))]

    def natural(self, theta):
        return np.concatenate([s.natural(t) for s, t in zip(self.structs, np.split(theta, self.splits))])

    def __call__(self, theta):
        self.n_eval += 1
        val, D, _ = self.engine.evaluate(self.sigmas(theta), self.reml, grad=True)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(theta)
        g = np.concatenate([s.grad(t, Dg) for s, t, Dg in zip(self.structs, np.split(theta, self.splits), D)])
        return val, g


def _jacobians(structs, parts, jac_cache):
    return [
        jac_cache[i] if (jac_cache is not None and s.linear_natural) else s.jac_nat(ph)
        for i, (s, ph) in enumerate(zip(structs, parts))
    ]


def natural_gradient(engine, structs, reml, phi, jac_cache=None):
    """Value, gradient in ``phi`` and evaluation extras of -2 log L (``None`` gradient if not finite)."""
    parts = split_natural(structs, phi)
    sig = [s.sigma_nat(ph) for s, ph in zip(structs, parts)]
    val, D, extra = engine.evaluate(sig, reml, grad=True)
    if not np.isfinite(val):
        return val, None, None
    Js = _jacobians(structs, parts, jac_cache)
    return val, np.concatenate([np.tensordot(J, Dg, axes=([1, 2], [0, 1])) for J, Dg in zip(Js, D)]), extra


def chord_refit(
    engine, structure: str, reml: bool, phi0: np.ndarray, hessian: np.ndarray, *, n_groups: int = 1, max_iter: int = 30
):
    """Refit one covariance matrix on data close to a fitted set (a jackknife or bootstrap resample) by
    chord iterations: Newton steps with the fitted set's Hessian ``hessian`` (in the natural parameters,
    at ``phi0``) held fixed, so that an iteration costs one gradient instead of a Hessian. Converges
    linearly at a rate of the relative change of the Hessian (about 1/n for a jackknife sample); when a step
    shrinks by less than a factor 10, the Hessian is computed once more at the current point.

    Returns ``(sigmas, evaluation)`` (one matrix per group) once no parameter moves by more than 1e-7 of its scale
    (1/sqrt(H_ii), as Newton's stop in :func:`newton`) and -2 log L did not increase; None when it does
    not converge in ``max_iter`` steps or leaves the parameter space (the caller then runs
    :func:`fit_covariance`).
    """
    structs = [make_structure(structure, engine.T) for _ in range(n_groups)]
    linear = all(st.linear_natural for st in structs)
    jac = [st.jac_nat(ph) for st, ph in zip(structs, split_natural(structs, phi0))] if linear else None

    def factor(H):
        d = np.sqrt(np.abs(np.diag(H)))
        if not (np.all(np.isfinite(H)) and np.all(d > 0)):
            return None
        try:
            return d, np.linalg.cholesky(H / np.outer(d, d))
        except np.linalg.LinAlgError:
            return None

    fac = factor(hessian)
    if fac is None:
        return None
    phi, last, previous, refreshed = np.asarray(phi0, float), np.inf, np.inf, False
    for _ in range(max_iter):
        val, g, extra = natural_gradient(engine, structs, reml, phi, jac)
        if g is None or not val <= last + 1e-10 * max(1.0, abs(val)):
            return None
        d, chol = fac
        z = np.linalg.solve(chol.T, np.linalg.solve(chol, g / d))  # the step in units of 1/sqrt(H_ii)
        size = float(np.max(np.abs(z)))
        if size < 1e-7:
            return [st.sigma_nat(ph) for st, ph in zip(structs, split_natural(structs, phi))], extra
        if not refreshed and size > 0.1 * previous:
            # slow contraction (a bootstrap sample is further from the data than a jackknife one): one
            # Hessian at this point, then chord steps with it
            refreshed = True
            H = natural_criterion(engine, structs, reml, phi, jac)[3]
            fac = None if H is None else factor(H)
            if fac is None:
                return None
            d, chol = fac
            z = np.linalg.solve(chol.T, np.linalg.solve(chol, g / d))
        phi, last, previous = phi - z / d, val, size
    return None


def natural_hessian_fd(engine, structs, reml, phi, jac_cache):
    """Hessian of -2 log L in ``phi`` by central differences of the analytic gradient (a check of
    :func:`natural_criterion`; one-sided at a boundary)."""
    m = len(phi)
    H = np.empty((m, m))
    h = 1e-4 * np.maximum(np.abs(phi), 1e-2 * max(np.max(np.abs(phi)), 1e-8))
    h = np.maximum(h, 1e-7)
    for i in range(m):
        e = np.zeros(m)
        e[i] = h[i]
        fp, gp, _ = natural_gradient(engine, structs, reml, phi + e, jac_cache)
        fm, gm, _ = natural_gradient(engine, structs, reml, phi - e, jac_cache)
        if gp is None or gm is None:  # at a boundary: one-sided difference
            f0, g0, _ = natural_gradient(engine, structs, reml, phi, jac_cache)
            if gp is not None:
                H[i] = (gp - g0) / h[i]
            elif gm is not None:
                H[i] = (g0 - gm) / h[i]
            else:
                H[i] = np.nan
        else:
            H[i] = (gp - gm) / (2 * h[i])
    return 0.5 * (H + H.T)


def natural_criterion(engine, structs, reml, phi, jac_cache):
    """Value, gradient, evaluation extras and analytic observed Hessian of -2 log L at ``phi``."""
    parts = split_natural(structs, phi)
    sig = [s.sigma_nat(ph) for s, ph in zip(structs, parts)]
    val, D, extra = engine.evaluate(sig, reml, grad=True)
    if not np.isfinite(val):
        return val, None, None, None
    Js = _jacobians(structs, parts, jac_cache)
    g = np.concatenate([np.tensordot(J, Dg, axes=([1, 2], [0, 1])) for J, Dg in zip(Js, D)])
    offs = np.concatenate([[0], np.cumsum([len(ph) for ph in parts])]).astype(int)
    d2 = None
    if not all(s.linear_natural for s in structs):
        d2 = [s.hess_nat(ph) for s, ph in zip(structs, parts)]
    H = engine.observed_hessian(extra, Js, offs, reml, D, d2)
    return val, g, extra, H


def newton(engine, structs, reml, phi, theta, jac_cache, max_steps):
    """Damped (modified) Newton iterations in the natural parametrisation, on the Jacobi-scaled Hessian:
    where the Hessian is not positive definite its eigenvalues are replaced by their absolute values
    (floored), giving a descent direction; each candidate must stay positive definite (representable in the optimisation
    parametrisation) and must not increase -2 log L (step halving).  Returns the final point, the number
    of accepted steps and the last Newton decrement (inf if the last Hessian was not PD)."""
    steps = 0
    decrement = np.inf
    for _ in range(max_steps):
        f0, g0, _, H = natural_criterion(engine, structs, reml, phi, jac_cache)
        if g0 is None or not np.all(np.isfinite(H)):
            break
        # Jacobi scaling: the step does not depend on the units of the parameters (variances of a
        # weight in grams and correlations near 1 differ by many orders of magnitude)
        dg = np.abs(np.diag(H))
        ds = 1.0 / np.sqrt(np.where(dg > 0, dg, 1.0))
        ev, U = np.linalg.eigh(H * np.outer(ds, ds))
        if ev.size == 0:
            break
        pd_hess = ev.min() > 1e-12 * max(abs(ev).max(), 1e-300)
        # a positive definite Hessian is used as it is (quadratic convergence also on ill-conditioned
        # data); otherwise its eigenvalues are replaced by their absolute values, floored
        evm = ev if pd_hess else np.maximum(np.abs(ev), 1e-8 * max(abs(ev).max(), 1e-300))
        step = ds * (U @ ((U.T @ (ds * g0)) / evm))
        dec = float(g0 @ step)
        last, decrement = decrement, (dec if pd_hess else np.inf)
        # stop at the optimum: the step moves no parameter by more than 1e-6 of its scale 1/sqrt(H_ii) (the
        # decrement alone is not enough: on ill-conditioned data a decrement of 1e-13 still leaves the
        # flat directions, and the Satterthwaite df, 1e-7 away), the decrement is at rounding level, or it
        # no longer shrinks (rounding dominates)
        done = np.max(np.abs(step / ds)) < 1e-6 or dec < 1e-16 or (dec < 1e-10 and dec > 0.25 * last)
        if not np.all(np.isfinite(step)) or (pd_hess and done):
            break
        t = 1.0
        accepted = False
        for _ in range(30):
            cand = phi - t * step
            f1, _, _ = engine.evaluate(
                [s.sigma_nat(ph) for s, ph in zip(structs, split_natural(structs, cand))], reml, grad=False
            )
            if np.isfinite(f1) and f1 <= f0 + 1e-10 * max(1.0, abs(f0)):
                try:
                    th = np.concatenate(
                        [s.theta_from_natural(ph) for s, ph in zip(structs, split_natural(structs, cand))]
                    )
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


def optimizer_chain(obj: Objective, theta0: np.ndarray, control: dict):
    """Try the optimisers of ``control["optimizers"]`` in turn until one converges; returns the best
    point ``(theta, value, ok, method)`` and the diagnostics of every attempt."""
    from scipy import optimize  # here: most fits converge by Newton steps alone, without its import (0.25 s)

    chain = control.get("optimizers", ("BFGS", "L-BFGS-B", "Nelder-Mead"))
    tried = []
    theta = theta0.copy()
    best = None
    for method in chain:
        t0 = time.perf_counter()
        if method == "Nelder-Mead":
            if len(theta) > 20:
                continue
            res = optimize.minimize(
                lambda t: obj(t)[0],
                theta,
                method="Nelder-Mead",
                options={"maxiter": control.get("maxiter", 20000), "xatol": 1e-10, "fatol": 1e-12, "adaptive": True},
            )
        elif method == "L-BFGS-B":
            res = optimize.minimize(
                obj,
                theta,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": control.get("maxiter", 5000), "maxcor": 30, "ftol": 1e-15, "gtol": 1e-9},
            )
        else:
            res = optimize.minimize(
                obj,
                theta,
                jac=True,
                method=method,
                options={"maxiter": control.get("maxiter", 5000), "gtol": control.get("gtol", 1e-3), "norm": np.inf},
            )
        f, g = obj(res.x)
        gmax = float(np.max(np.abs(g))) if len(g) else 0.0
        ok = np.isfinite(f) and f < 1e299 and gmax < 1e-3 * max(1.0, abs(f)) ** 0.5
        tried.append(
            {
                "method": method,
                "success": bool(res.success),
                "message": str(res.message),
                "n_iter": int(getattr(res, "nit", -1)),
                "fun": float(f),
                "max_abs_grad": gmax,
                "seconds": time.perf_counter() - t0,
            }
        )
        if best is None or f < best[1]:
            best = (res.x, f, ok, method)
        theta = best[0]
        if ok:
            break
    return best, tried


def fit_covariance(prep: MMRMData, structure: str, reml: bool, control: dict) -> CovarianceFit:
    """Fit the covariance structure ``structure`` (one per group) by REML or ML.

    Returns
    -------
    CovarianceFit
        Also when the fit did not converge: ``converged`` is then False, a note says so and a
        :class:`~painstudy.errors.ConvergenceWarning` is issued.
    """
    engine = prep.engine
    structs = [make_structure(structure, prep.T) for _ in prep.group_levels]
    starts = control.get("start_sigmas") or start_sigmas(prep)  # a warm start (refits on resamples)
    theta0 = np.concatenate([s.start(S) for s, S in zip(structs, starts)])
    obj = Objective(engine, structs, reml)
    theta = theta0
    phi = obj.natural(theta)
    jac_cache = [s.jac_nat(ph) if s.linear_natural else None for s, ph in zip(structs, split_natural(structs, phi))]
    n_newton = int(control.get("newton_steps", 8))
    newton_steps, tried, ok, method = 0, [], False, "newton"
    if control.get("newton_first", True) and n_newton > 0:
        # damped Newton straight from the moment-based start (fast when the start is good)
        t0 = time.perf_counter()
        phi, theta, newton_steps, decrement = newton(
            engine, structs, reml, phi, theta, jac_cache, int(control.get("newton_first_steps", 25))
        )
        ok = bool(np.isfinite(decrement) and 0 <= decrement < 1e-8)
        tried.append(
            {
                "method": "newton",
                "success": ok,
                "message": f"Newton decrement {decrement:.3g}",
                "n_iter": newton_steps,
                "seconds": time.perf_counter() - t0,
            }
        )
    if not ok:
        (theta, fval, ok, method), more = optimizer_chain(obj, theta, control)
        tried += more
        # natural parametrisation: Newton iterations with the analytic observed Hessian
        phi = obj.natural(theta)
        phi, theta, extra_steps, decrement = newton(engine, structs, reml, phi, theta, jac_cache, n_newton)
        newton_steps += extra_steps
    fval, gnat, extra, Hn = natural_criterion(engine, structs, reml, phi, jac_cache)
    sigmas = [s.sigma_nat(ph) for s, ph in zip(structs, split_natural(structs, phi))]
    gmax = float(np.max(np.abs(gnat))) if gnat is not None else np.inf
    try:
        decrement = float(gnat @ np.linalg.solve(Hn, gnat))
    except np.linalg.LinAlgError:
        decrement = np.inf
    # converged: Newton decrement (scale free) tiny, or the optimiser chain converged
    converged = bool(
        (np.isfinite(decrement) and abs(decrement) < 1e-6) or (ok and gmax < 1e-3 * max(1.0, abs(fval)) ** 0.5)
    )
    notes = []
    if not converged:
        detail = (
            f"the optimiser did not converge (max |gradient| {gmax:.3g}; tried "
            f"{', '.join(t['method'] for t in tried)}); estimates are unreliable"
        )
        warnings.warn(f"mmrm: {detail}", ConvergenceWarning, stacklevel=4)
        notes += ["not converged", detail]
    pd_ok = all(np.linalg.eigvalsh(S).min() > 1e-10 * max(np.abs(S).max(), 1e-300) for S in sigmas)
    # positive definiteness on the diagonally scaled Hessian: variances of an outcome measured in large or tiny
    # units scale their rows by 1/scale^2 against the correlations' rows, so raw eigenvalues say nothing
    hd = np.sqrt(np.abs(np.diag(Hn))) if np.all(np.isfinite(Hn)) else np.zeros(0)
    if len(hd) and np.all(hd > 0):
        hess_ev = np.linalg.eigvalsh(Hn / np.outer(hd, hd))
    else:
        hess_ev = np.array([np.nan])
    hess_pd = bool(np.all(hess_ev > 0))
    if not pd_ok:
        warnings.warn(
            "mmrm: the estimated covariance matrix is not positive definite", ConvergenceWarning, stacklevel=4
        )
        notes.append("covariance not positive definite")
    if not hess_pd:
        warnings.warn(
            "mmrm: the Hessian of the covariance parameters is not positive definite (a parameter on a "
            "boundary?); Satterthwaite/Kenward-Roger df use its pseudo-inverse",
            ConvergenceWarning,
            stacklevel=4,
        )
        notes.append("Hessian not positive definite")
    optim = {
        "optimizers": tried,
        "chosen": method,
        "n_evaluations": obj.n_eval,
        "newton_steps": newton_steps,
        "max_abs_gradient": gmax,
        "n_patterns": engine.n_patterns,
        "hessian_eigen_min": float(np.min(hess_ev)) if np.all(np.isfinite(hess_ev)) else np.nan,
    }
    return CovarianceFit(
        structures=tuple(structs),
        phi=phi,
        sigmas=tuple(sigmas),
        hessian=Hn,
        evaluation=extra,
        neg2_log_lik=float(fval),
        reml=reml,
        converged=converged,
        positive_definite=pd_ok,
        notes=tuple(notes),
        optimizer=optim,
    )
