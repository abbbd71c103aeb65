"""Generic inference for mixed models: Wald t and F tests of linear hypotheses on beta with
Satterthwaite, Kenward-Roger, Bell-McCaffrey, residual or between-within degrees of freedom.

A fitted model hands :class:`Inference` the quantities below (the MMRM builds them in
:mod:`painstudy.models.mixed.mmrm_inference`, the random-coefficient model in
:mod:`painstudy.models.mixed.lmm_inference`); everything here is independent of the model family.

Notation: ``C = (X'V^-1X)^-1``; ``phi`` the natural covariance parameters (see
:mod:`painstudy.models.mixed.covariance`); ``W = 2 H_phi^-1`` the asymptotic covariance of ``phi`` from the
observed Hessian ``H_phi`` of -2 log L (REML or ML), as SAS PROC MIXED and R mmrm use;
``P_k = dC^-1/dphi_k = -X'V^-1 (dV/dphi_k) V^-1 X``.

* Satterthwaite, one contrast ``l``: ``nu = 2 (l'Cl)^2 / (g'Wg)`` with ``g_k = l' dC/dphi_k l = -(Cl)'P_k(Cl)``.
  Several rows ``L`` (q x p): as SAS / lmerTest: eigen-decompose ``LCL' = U D U'``, a df ``nu_m`` per
  row of ``U'L``, ``E = sum nu_m/(nu_m-2)`` (over nu_m > 2) and ``ddf = 2E/(E-q)`` (if E > q).
* Kenward-Roger (1997): ``C_A = C + 2C [sum_ij W_ij (Q_ij - P_i C P_j - R_ij/4)] C`` and the scaled F with
  ``(q, m)`` df.  ``R_ij`` uses second derivatives of ``V`` in the natural parametrisation
  (``kenward-roger``) or is zero (``kenward-roger-linear``).
* Empirical covariance: ``C (sum_i X_i'S_i^-1 r_i r_i' S_i^-1 X_i) C`` (CR0); with ``satterthwaite`` its
  df are Bell & McCaffrey's (2002) Satterthwaite df of the sandwich under the working model (the
  clubSandwich "Satterthwaite" df); ``empirical-bc`` is clubSandwich's CR2: ``r_i`` replaced by
  ``A_i r_i``, ``A_i = D_i' B_i^{-1/2} D_i``, ``S_i = D_i'D_i`` (upper Cholesky factor),
  ``B_i = D_i (S_i - X_i C X_i') D_i'`` (Pustejovsky & Tipton 2018).  Checked against
  ``clubSandwich::coef_test(gls_fit, vcov = "CR2", test = "Satterthwaite")`` on fev_data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special  # the t, F and chi-square functions scipy.stats calls, without its import cost

__all__ = ["Inference"]


@dataclass(frozen=True)
class Inference:
    """Everything needed to test linear hypotheses on beta after a fit.

    Attributes
    ----------
    beta : ndarray (p,)
        Fixed-effect estimates.
    C_model : ndarray (p, p)
        ``(X'V^-1X)^-1``.
    C : ndarray (p, p)
        Covariance used for standard errors (model, empirical or Kenward-Roger adjusted).
    P : ndarray (m, p, p)
        ``dC^-1/dphi_k`` for the m covariance parameters.
    W : ndarray (m, m)
        Asymptotic covariance of the covariance parameters.
    df_method, vcov_method : str
    ddf_residual : float
        ``n_obs - p``.
    column_names : tuple
        Names of the columns of beta.
    within : ndarray of bool, optional
        Per column: varies within subject (for ``between-within`` df).
    ddf_between, ddf_within : float
        Between-within df of the between- and within-subject columns.
    bm : tuple, optional
        Per-subject arrays ``(B, X, S)`` for the Bell-McCaffrey df of a sandwich covariance.
    """

    beta: np.ndarray
    C_model: np.ndarray
    C: np.ndarray
    P: np.ndarray
    W: np.ndarray
    df_method: str
    ddf_residual: float
    column_names: tuple
    vcov_method: str = "model"
    within: np.ndarray | None = None
    ddf_between: float = np.nan
    ddf_within: float = np.nan
    bm: tuple | None = None

    # -------------------------------------------------------------------------------------------
    def _bm_1d(self, l: np.ndarray) -> float:
        """Bell & McCaffrey (2002) df of the sandwich variance of l'beta under the working model:
        v = sum_i (g_i'eps)^2, df = 2 E[v]^2 / Var[v] = (sum_i M_ii)^2 / sum_ij M_ij^2 with
        M = diag(u_i'V_i u_i) - Z C Z', u_i the weight of subject i's residuals in l'C(sum X_i'..r_i),
        z_i = X_i'u_i."""
        Bs, Xs, Ss = self.bm
        c = self.C_model @ l
        num = 0.0
        den_d2 = 0.0
        cross = 0.0
        ZtZ = np.zeros((len(l), len(l)))
        trace_d = 0.0
        for B, X, S in zip(Bs, Xs, Ss):
            u = B @ c
            d = np.einsum("nt,ntu,nu->n", u, S, u)
            z = np.einsum("ntp,nt->np", X, u)
            zCz = np.einsum("np,pq,nq->n", z, self.C_model, z)
            trace_d += d.sum()
            den_d2 += d @ d
            cross += d @ zCz
            ZtZ += z.T @ z
        CZ = self.C_model @ ZtZ
        num = trace_d - np.trace(CZ)
        den = den_d2 - 2 * cross + np.trace(CZ @ CZ)
        return float(num**2 / den) if den > 0 else np.inf

    def _satt_1d(self, l: np.ndarray, C: np.ndarray) -> float:
        if self.bm is not None:
            return self._bm_1d(l)
        v = float(l @ C @ l)
        Cl = self.C_model @ l
        g = -np.einsum("j,kjl,l->k", Cl, self.P, Cl)
        den = float(g @ self.W @ g)
        if den <= 0 or not np.isfinite(den):
            return np.inf
        return 2.0 * v**2 / den

    def _bw(self, L) -> float:
        if self.within is None:
            raise ValueError("between-within df need the within-subject columns")
        L = np.atleast_2d(L)
        used = np.any(np.abs(L) > 1e-12, axis=0)
        return self.ddf_within if np.any(used & self.within) else self.ddf_between

    def _kr(self, L):
        """KR: (lambda, ddf) for L (q x p)."""
        L = np.atleast_2d(L)
        q = np.linalg.matrix_rank(L)
        Phi = self.C_model
        M = np.linalg.inv(L @ Phi @ L.T) if L.shape[0] == q else np.linalg.pinv(L @ Phi @ L.T)
        Theta = L.T @ M @ L
        TP = Theta @ Phi
        m = len(self.P)
        # F_i = Theta Phi P_i Phi
        Fi = np.einsum("ab,kbc,cd->kad", TP, self.P, Phi, optimize=True)
        tr = np.einsum("kaa->k", Fi)
        A1 = float(tr @ self.W @ tr)
        FF = np.einsum("iab,jba->ij", Fi, Fi, optimize=True)
        A2 = float(np.sum(self.W * FF))
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        Estar = 1.0 / (1 - A2 / q)
        Vstar = (2.0 / q) * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
        rho = Vstar / (2 * Estar**2)
        mdf = 4 + (q + 2) / (q * rho - 1)
        lam = mdf / (Estar * (mdf - 2))
        if m == 0:
            return 1.0, np.inf
        return lam, mdf

    # -------------------------------------------------------------------------------------------
    def contrast(self, l: np.ndarray) -> tuple[float, float, float]:
        """Estimate, standard error and df of ``l' beta``."""
        l = np.asarray(l, float)
        est = float(l @ self.beta)
        var = float(l @ self.C @ l)
        se = np.sqrt(max(var, 0.0))
        return est, se, self.df_1d(l)

    def df_1d(self, l) -> float:
        meth = self.df_method
        if meth == "satterthwaite":
            return self._satt_1d(l, self.C)
        if meth.startswith("kenward"):
            return self._kr(l[None, :])[1]
        if meth == "residual":
            return self.ddf_residual
        return self._bw(l)

    def ftest(self, L: np.ndarray) -> dict:
        """F test of ``L beta = 0``: statistic, num_df, den_df, p_value."""
        L = np.atleast_2d(np.asarray(L, float))
        # drop linearly dependent rows
        U, s, Vt = np.linalg.svd(L, full_matrices=False)
        q = int(np.sum(s > 1e-10 * s.max())) if s.size else 0
        if q < L.shape[0]:
            L = Vt[:q] * s[:q, None]
        Lb = L @ self.beta
        meth = self.df_method
        V = L @ self.C @ L.T
        Fstat = float(Lb @ np.linalg.solve(V, Lb)) / q
        if meth.startswith("kenward"):
            lam, ddf = self._kr(L)
            Fstat *= lam
        elif meth == "satterthwaite":
            if q == 1:
                ddf = self._satt_1d(L[0], self.C)
            else:
                d, Uv = np.linalg.eigh(L @ self.C @ L.T)
                Lt = Uv.T @ L
                nus = np.array([self._satt_1d(r, self.C) for r in Lt])
                good = nus > 2
                E = float(np.sum(nus[good] / (nus[good] - 2)))
                ddf = 2 * E / (E - q) if E > q else float(np.min(nus))
        elif meth == "residual":
            ddf = self.ddf_residual
        else:
            ddf = self._bw(L)
        pval = float(special.fdtrc(q, ddf, Fstat)) if np.isfinite(ddf) else float(special.chdtrc(q, Fstat * q))
        return {"num_df": q, "den_df": float(ddf), "statistic": Fstat, "p_value": pval}
