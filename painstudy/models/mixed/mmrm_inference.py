"""The MMRM's inference builder: from a fitted covariance to an :class:`~painstudy.models.mixed.inference.Inference`.

It lives beside the MMRM likelihood engine (:mod:`painstudy.models.mixed.mmrm_engine`) because it works on
the engine's per-pattern statistics: ``C = (X'V^-1X)^-1``, the derivative matrices ``P_k``, ``W`` from the
observed (or expected) information, the Kenward-Roger adjustment (with the second-derivative term of
non-linear structures for ``kenward-roger``), the sandwich covariances (CR0 and clubSandwich's CR2) and the
per-subject arrays for Bell & McCaffrey's df.  The formulas are in :mod:`painstudy.models.mixed.inference`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from painstudy.models.mixed.covariance import split_natural
from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.mmrm_engine import pair_trace

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.mmrm import MMRMData
    from painstudy.models.mixed.mmrm_optim import CovarianceFit

__all__ = ["build_mmrm_inference"]


def _within_columns(prep: MMRMData) -> np.ndarray:
    """Columns of terms with a variable that varies within a subject."""
    info = prep.design
    if prep.data is None:  # read in chunks: the variation was recorded on the way
        return _columns_of(info, prep.within_varies)
    subj = np.asarray(prep.subject_code)
    nsub = int(subj.max()) + 1
    varies = {}
    for c in dict.fromkeys(v for t in info.terms for v in t):
        s = prep.data[c]
        x = pd.factorize(s)[0].astype(float) if c in info.factors else pd.to_numeric(s).to_numpy(float)
        first = np.empty(nsub)
        first[subj[::-1]] = x[::-1]  # the first value of each subject
        varies[c] = bool(np.any(x != first[subj]))
    return _columns_of(info, varies)


def _columns_of(info, varies: dict) -> np.ndarray:
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


def _sandwich(engine, sigmas, beta, C, bias_reduced: bool):
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
    for X, _r, Sinv, S in engine.residual_scores(sigmas, np.zeros(engine.p)):
        B = Sinv @ X
        if bias_reduced:
            B = _cr2_adjust(X, S, Sinv, C) @ B
        Bs.append(B)
        Xs.append(X)
        Ss.append(np.where(np.abs(Sinv) > 0, S, 0.0))
    return Bs, Xs, Ss


def build_mmrm_inference(
    prep: MMRMData, fit: CovarianceFit, df_method: str, vcov_method: str, information: str = "observed"
) -> Inference:
    """Assemble C, P_k, W (and the KR adjustment / sandwich) after the fit.

    Parameters
    ----------
    prep : MMRMData
        The prepared data (design, codes, likelihood engine).
    fit : CovarianceFit
        The fitted covariance parameters, the observed Hessian and the evaluation at the optimum.
    df_method, vcov_method : str
        As :func:`painstudy.mmrm`.
    information : {"observed", "expected"}
        ``"observed"`` (default; SAS PROC MIXED and R mmrm) takes W from the Hessian of -2 log L;
        ``"expected"`` from the expected information (as pbkrtest does).
    """
    engine, structs, phi, sigmas = prep.engine, fit.structures, fit.phi, fit.sigmas
    Hn, extra, reml = fit.hessian, fit.evaluation, fit.reml
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
    parts = split_natural(structs, phi)
    Js = [s.jac_nat(ph) for s, ph in zip(structs, parts)]
    offs = np.concatenate([[0], np.cumsum([len(ph) for ph in parts])])
    kr = df_method.startswith("kenward")

    kr_M = None
    if kr:
        Jall = np.stack(Js)  # (G, m_g, T, T) - all groups share the structure
        Wall = np.stack([W[offs[g] : offs[g + 1], offs[g] : offs[g + 1]] for g in range(len(Js))])

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
            Pk[offs[g] : offs[g + 1]] = -np.einsum("kuv,ujvl->kjl", J, A[g], optimize=True)
        I_E = _expected_information(engine, Js, offs, extra["Ps"], C_model, Pk, reml)
        W = np.linalg.inv(I_E)
        if kr:
            Wall = np.stack([W[offs[g] : offs[g + 1], offs[g] : offs[g + 1]] for g in range(len(Js))])
    A, KQ = engine.a_tensor(extra["Ps"], kr_M)
    Pk = np.zeros((m, p, p))
    for g, J in enumerate(Js):
        Pk[offs[g] : offs[g + 1]] = -np.einsum("kuv,ujvl->kjl", J, A[g], optimize=True)
    C = C_model
    if kr:
        term = KQ - np.einsum("ij,iab,bc,jcd->ad", W, Pk, C_model, Pk, optimize=True)
        if df_method == "kenward-roger":
            Rsum = np.zeros((p, p))
            for g, (s, ph, Ag) in enumerate(zip(structs, parts, list(A))):
                if s.linear_natural:
                    continue
                Wg = W[offs[g] : offs[g + 1], offs[g] : offs[g + 1]]
                d2 = s.hess_nat(ph)
                Msum = np.einsum("ij,ijuv->uv", Wg, d2)
                Rsum += np.einsum("uv,ujvl->jl", Msum, Ag, optimize=True)
            term = term - 0.25 * Rsum
        C = C_model + 2.0 * C_model @ term @ C_model
        C = 0.5 * (C + C.T)
    bm = None
    if vcov_method in ("empirical", "empirical-bc"):
        bc = vcov_method == "empirical-bc"
        C = _sandwich(engine, sigmas, beta, C_model, bc)
        if df_method == "satterthwaite":
            bm = _bm_arrays(engine, sigmas, C_model, bc)
    within = _within_columns(prep)
    if prep.design.intercept:
        within[0] = False
    n_obs, nsub = engine.n_obs, prep.n_subjects
    n_within = int(np.sum(within))
    return Inference(
        beta=beta,
        C_model=C_model,
        C=C,
        P=Pk,
        W=W,
        df_method=df_method,
        vcov_method=vcov_method,
        within=within,
        ddf_between=float(nsub - (p - n_within)),
        ddf_within=float(n_obs - nsub - n_within),
        ddf_residual=float(n_obs - p),
        column_names=prep.design.column_names,
        bm=bm,
    )
