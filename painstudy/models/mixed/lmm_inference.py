"""Inference for the random-coefficient model: the information quantities of its variance parameters.

* ``satterthwaite``: lmerTest's definition -- the covariance of the variance parameters ``(theta, sigma)``
  is twice the inverse Hessian of the deviance (REML or ML) in that parametrisation, and the gradient of
  ``l' C l`` is taken with respect to them (both analytic in the natural parameters, chained to lmerTest's
  by the derivatives of :func:`phi_from_varpar`).  With a residual structure: the natural parameters
  (variance components and the structure's SAS parameters), as PROC MIXED.
* ``kenward-roger``: pbkrtest's (``vcovAdj`` / ``Lb_ddf``): linear parametrisation of ``V`` (each element of
  each ``D_t`` and ``sigma^2``), expected information, adjusted covariance of beta.
* ``residual``: ``n_obs - p``.

The tests themselves are :class:`~painstudy.models.mixed.inference.Inference`'s, shared with the MMRM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.lmm_optim import Params, tril_cols

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.lmm import LMMData

__all__ = ["natural_specs", "phi_from_varpar", "jac_hess", "build_lmm_inference"]


def natural_specs(params: Params, qs: list[int]) -> list[tuple]:
    """The natural parameters: each element of each D_t (lower triangle), then sigma^2 or the residual
    structure's natural parameters."""
    specs = []
    for t, q in enumerate(qs):
        for i, j in tril_cols(q):
            specs.append(("D", t, i, j))
    if params.struct is None:
        specs.append(("s2",))
    else:
        specs += [("res", k) for k in range(len(params.struct.natural_names()))]
    return specs


def phi_from_varpar(vp: np.ndarray, params: Params) -> np.ndarray:
    """lmerTest's variance parameters (theta..., sigma) -> natural (D elements..., sigma^2)."""
    sigma = vp[-1]
    lams = params.lams(vp[:-1])
    out = []
    for L, q in zip(lams, params.qs):
        D = sigma**2 * (L @ L.T)
        out += [D[i, j] for (i, j) in tril_cols(q)]
    return np.array(out + [sigma**2])


def jac_hess(fun, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def build_lmm_inference(
    prep: LMMData, params: Params, ev: dict, theta: np.ndarray, sigma2: float, reml: bool, df_method: str
) -> tuple[Inference, list[str]]:
    """The inference object (shared with the MMRM) for the chosen df method, and notes about it.

    ``ev`` is a full-mode evaluation of the engine at the fitted covariance (``keep=True``)."""
    engine = prep.engine
    specs = natural_specs(params, engine.q)
    struct = params.struct
    sj = sh = None
    if struct is not None:
        phi_res = struct.natural(theta[params.n_lam :])
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
            J, Hs = jac_hess(lambda v: phi_from_varpar(v, params), vp)
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
    return Inference(
        beta=beta,
        C_model=C,
        C=C_used,
        P=P_used,
        W=W_used,
        df_method=df_method,
        ddf_residual=float(engine.n_obs - p),
        column_names=prep.design.column_names,
    ), notes
