"""Inference for MMRM fits: covariance of beta (model, sandwich, Kenward-Roger), degrees of freedom
(Satterthwaite, Kenward-Roger, residual, between-within) and Wald/F tests.

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
import pandas as pd
from scipy import stats

from painstudy.models.mixed.mmrm_engine import pair_trace


@dataclass(frozen=True)
class Inference:
    """Everything needed to test linear hypotheses on beta after a fit."""

    beta: np.ndarray
    C_model: np.ndarray  # (X'V^-1X)^-1
    C: np.ndarray  # covariance used for SEs (model, empirical, or KR-adjusted)
    P: np.ndarray  # (m, p, p)
    W: np.ndarray  # (m, m) covariance of phi
    df_method: str
    vcov_method: str
    within: np.ndarray  # bool per column: varies within subject
    ddf_between: float
    ddf_within: float
    ddf_residual: float
    column_names: tuple
    bm: tuple | None = None  # (B, X, S) per-subject arrays for Bell-McCaffrey df of the sandwich

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
        return float(num ** 2 / den) if den > 0 else np.inf

    def _satt_1d(self, l: np.ndarray, C: np.ndarray) -> float:
        if self.bm is not None:
            return self._bm_1d(l)
        v = float(l @ C @ l)
        Cl = self.C_model @ l
        g = -np.einsum("j,kjl,l->k", Cl, self.P, Cl)
        den = float(g @ self.W @ g)
        if den <= 0 or not np.isfinite(den):
            return np.inf
        return 2.0 * v ** 2 / den

    def _bw(self, L) -> float:
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
        rho = Vstar / (2 * Estar ** 2)
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
        pval = float(stats.f.sf(Fstat, q, ddf)) if np.isfinite(ddf) else float(stats.chi2.sf(Fstat * q, q))
        return {"num_df": q, "den_df": float(ddf), "statistic": Fstat, "p_value": pval}


def _within_columns(prep) -> np.ndarray:
    """Columns of terms with a variable that varies within a subject."""
    subj = np.asarray(prep.subj)
    nsub = int(subj.max()) + 1
    info = prep.info
    varies = {}
    for c in dict.fromkeys(v for t in info.terms for v in t):
        s = prep.data[c]
        x = pd.factorize(s)[0].astype(float) if c in info.factors else pd.to_numeric(s).to_numpy(float)
        first = np.empty(nsub)
        first[subj[::-1]] = x[::-1]  # the first value of each subject
        varies[c] = bool(np.any(x != first[subj]))
    out = np.zeros(len(info.column_names), bool)
    for t in info.terms:
        if any(varies[c] for c in t):
            out[info.term_columns[":".join(t)]] = True
    return out


def _cr2_adjust(X, S, Sinv, C):
    """clubSandwich's CR2 adjustment (Pustejovsky & Tipton 2018, working model = the fitted model):
    S = D'D (D upper triangular), B = D (S - X C X') D', A = D' B^{-1/2} D (padded blocks stay identity)."""
    D = np.swapaxes(np.linalg.cholesky(S), 1, 2)
    B = D @ (S - X @ C @ np.swapaxes(X, 1, 2)) @ np.swapaxes(D, 1, 2)
    ev, U = np.linalg.eigh(0.5 * (B + np.swapaxes(B, 1, 2)))
    ev = np.clip(ev, 1e-12, None)
    Bm = (U * (1 / np.sqrt(ev))[:, None, :]) @ np.swapaxes(U, 1, 2)
    return np.swapaxes(D, 1, 2) @ Bm @ D


def _sandwich(prep, engine, sigmas, beta, C, bias_reduced: bool):
    p = engine.p
    meat = np.zeros((p, p))
    for X, r, Sinv, S in engine.residual_scores(sigmas, beta):
        if bias_reduced:
            A = _cr2_adjust(X, S, Sinv, C)
            r = np.einsum("nab,nb->na", A, r)
        u = np.einsum("nkp,nkl,nl->np", X, Sinv, r)
        meat += u.T @ u
    return C @ meat @ C


def _expected_information(engine, Js, offs, Ps, C, Pk, reml):
    """Expected information of the natural covariance parameters (REML or ML):
    ``I_ij = 1/2 tr(Pi V_i Pi V_j)`` with ``Pi = V^-1 - V^-1 X C X' V^-1`` (REML) or ``V^-1`` (ML)."""
    m = len(Pk)
    info = np.zeros((m, m))
    Jall = np.stack(Js)
    Bs = engine.pattern_B(Ps, C) if reml else [None] * len(engine.forms)
    T2 = engine.T * engine.T
    for f, (P, _), B in zip(engine.forms, Ps, Bs):
        Pm = np.where(f.mask2, P, 0.0)
        for g in range(engine.n_groups):
            sel = f.grp == g
            if not np.any(sel):
                continue
            Pf = Pm[sel].reshape(-1, T2)
            blk = slice(offs[g], offs[g + 1])
            info[blk, blk] += pair_trace(Jall[g], (Pf * f.n[sel][:, None]).T @ Pf)
            if reml:
                info[blk, blk] -= 2.0 * pair_trace(Jall[g], Pf.T @ B[sel].reshape(-1, T2))
    if reml:
        R = np.einsum("ab,ibc->iac", C, Pk)
        info += np.einsum("iab,jba->ij", R, R, optimize=True)
    return 0.5 * (info + info.T) / 2.0


def _bm_arrays(engine, sigmas, C, bias_reduced):
    """Per-subject B_i (T x p): u_i = B_i C l is the weight of subject i's residual vector in the
    sandwich for contrast l (CR0: W_i X_i; CR2: A_i W_i X_i), with X_i and V_i (padded)."""
    Bs, Xs, Ss = [], [], []
    for X, r, Sinv, S in engine.residual_scores(sigmas, np.zeros(engine.p)):
        B = Sinv @ X
        if bias_reduced:
            B = _cr2_adjust(X, S, Sinv, C) @ B
        Bs.append(B)
        Xs.append(X)
        Ss.append(np.where(np.abs(Sinv) > 0, S, 0.0))
    return Bs, Xs, Ss


def build_inference(prep, engine, structs, phi, sigmas, Hn, extra, reml, df_method, vcov_method,
                    information: str = "observed") -> Inference:
    """Assemble C, P_k, W (and the KR adjustment / sandwich) after the fit.

    ``information="observed"`` (default; SAS PROC MIXED and R mmrm) takes W from the Hessian of -2 log L;
    ``"expected"`` from the expected information (as pbkrtest does)."""
    from painstudy.models.mixed.mmrm import _nat_split

    beta = extra["beta"]
    H = extra["H"]
    C_model = np.linalg.inv(H)
    C_model = 0.5 * (C_model + C_model.T)
    p = engine.p
    m = len(phi)
    try:
        W = 2.0 * np.linalg.inv(Hn)
    except np.linalg.LinAlgError:
        W = 2.0 * np.linalg.pinv(Hn)
    if not np.all(np.isfinite(W)):
        W = 2.0 * np.linalg.pinv(np.nan_to_num(Hn))
    parts = _nat_split(structs, phi)
    Js = [s.jac_nat(ph) for s, ph in zip(structs, parts)]
    offs = np.concatenate([[0], np.cumsum([len(ph) for ph in parts])])
    kr = df_method.startswith("kenward")

    kr_M = None
    if kr:
        Jall = np.stack(Js)  # (G, m_g, T, T) - all groups share the structure
        Wall = np.stack([W[offs[g]:offs[g + 1], offs[g]:offs[g + 1]] for g in range(len(Js))])

        def kr_M(f, Pm):
            # M_p = sum_ij W_ij J_i P_p J_j = sum_ab P_p[a, b] Q4[:, a, b, :], Q4 = sum_ij W_ij J_i[:, a] J_j[b, :]
            out = np.empty_like(Pm)
            for g in range(len(Jall)):
                sel = f.grp == g
                if not np.any(sel):
                    continue
                Z = np.einsum("ij,jbv->ibv", Wall[g], Jall[g], optimize=True)
                Q4 = np.einsum("iua,ibv->uabv", Jall[g], Z, optimize=True)
                out[sel] = np.einsum("nab,uabv->nuv", Pm[sel], Q4, optimize=True)
            return out

    if information == "expected":
        A, _ = engine.a_tensor(extra["Ps"], None)
        Pk = np.zeros((m, p, p))
        for g, J in enumerate(Js):
            Pk[offs[g]:offs[g + 1]] = -np.einsum("kuv,ujvl->kjl", J, A[g], optimize=True)
        I_E = _expected_information(engine, Js, offs, extra["Ps"], C_model, Pk, reml)
        W = np.linalg.inv(I_E)
        if kr:
            Wall = np.stack([W[offs[g]:offs[g + 1], offs[g]:offs[g + 1]] for g in range(len(Js))])
    A, KQ = engine.a_tensor(extra["Ps"], kr_M)
    Pk = np.zeros((m, p, p))
    for g, J in enumerate(Js):
        Pk[offs[g]:offs[g + 1]] = -np.einsum("kuv,ujvl->kjl", J, A[g], optimize=True)
    C = C_model
    if kr:
        term = KQ - np.einsum("ij,iab,bc,jcd->ad", W, Pk, C_model, Pk, optimize=True)
        if df_method == "kenward-roger":
            Rsum = np.zeros((p, p))
            for g, (s, ph, Ag) in enumerate(zip(structs, parts, list(A))):
                if s.linear_natural:
                    continue
                Wg = W[offs[g]:offs[g + 1], offs[g]:offs[g + 1]]
                d2 = s.hess_nat(ph)
                Msum = np.einsum("ij,ijuv->uv", Wg, d2)
                Rsum += np.einsum("uv,ujvl->jl", Msum, Ag, optimize=True)
            term = term - 0.25 * Rsum
        C = C_model + 2.0 * C_model @ term @ C_model
        C = 0.5 * (C + C.T)
    bm = None
    if vcov_method in ("empirical", "empirical-bc"):
        bc = vcov_method == "empirical-bc"
        C = _sandwich(prep, engine, sigmas, beta, C_model, bc)
        if df_method == "satterthwaite":
            bm = _bm_arrays(engine, sigmas, C_model, bc)
    within = _within_columns(prep)
    if prep.info.intercept:
        within[0] = False
    n_obs, nsub = engine.n_obs, prep.n_subjects
    n_within = int(np.sum(within))
    return Inference(
        beta=beta, C_model=C_model, C=C, P=Pk, W=W, df_method=df_method, vcov_method=vcov_method,
        within=within, ddf_between=float(nsub - (p - n_within)), ddf_within=float(n_obs - nsub - n_within),
        ddf_residual=float(n_obs - p), column_names=prep.info.column_names, bm=bm,
    )
