"""Likelihood engine for random-coefficient linear mixed models (lme4-style random terms).

The model: ``y = X beta + sum_t Z_t b_t + e`` with ``b_t`` (one ``q_t``-vector per level of the grouping
factor of term ``t``) ~ N(0, D_t), independent across levels, and ``e`` ~ N(0, sigma^2 I) or, with a
residual structure, ``e_i`` ~ N(0, Sigma[visits_i]) within each subject (SAS RANDOM + REPEATED).

The marginal covariance ``V`` is block diagonal over *components*: sets of observations linked through a
shared level of any grouping factor (one subject when there is one grouping factor; a site when subjects
are nested in sites).  Components of equal size are stacked and processed with batched dense linear algebra
(``(K, n, n)`` arrays), so an evaluation is ``O(sum_c n_c^3)`` -- linear in the number of subjects -- and
never forms an ``n x n`` matrix.

Two modes:

* *profiled* (residual ``sigma^2 I``): lme4's relative covariance factor ``D_t = sigma^2 Lambda_t Lambda_t'``,
  ``sigma^2`` profiled out; the argument is ``theta`` = lower-triangular elements of the ``Lambda_t``;
* *full* (residual structure): absolute factors ``D_t = L_t L_t'`` and the structure's own parameters.

``evaluate`` returns -2 log-likelihood (REML or ML, full constant) and its derivatives with respect to
each ``D_t`` (symmetric ``q_t x q_t`` matrix ``G_t`` with ``d f = sum(G_t * dD_t)``) and to the residual
covariance (``d f / d sigma^2`` or ``d f / d Sigma`` elementwise over visits).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack, solve_triangular
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from painstudy.errors import ModelError

MAX_COMPONENT = 3000  # largest block of V handled densely


def _inv_from_chol(L):
    """V^-1 from the lower Cholesky factors L (K, n, n)."""
    if L.shape[1] > 24:
        out = np.empty_like(L)
        for k in range(L.shape[0]):
            inv, info = lapack.dpotri(L[k], lower=1)
            out[k] = np.tril(inv) + np.tril(inv, -1).T
        return out
    Li = np.linalg.inv(L)
    return np.swapaxes(Li, 1, 2) @ Li


def profiled_criterion(Q: np.ndarray, logdet: float, n: int, p: int, reml: bool, profiled: bool = True):
    """-2 log L (REML or ML, full constant) from ``Q = [X y]' V^-1 [X y]`` and ``log|V|``.

    ``profiled``: ``V`` is relative to ``sigma^2``, which is profiled out (``sigma^2 = rss / (n - p)`` for REML,
    ``rss / n`` for ML; lme4's criterion); otherwise ``V`` is the actual covariance.  Returns the evaluation
    (``value, beta, C0 = (X'V^-1X)^-1, sigma2, rss, H = X'V^-1X``) or None when it is not defined (``X'V^-1X``
    not positive definite, a non-finite determinant, a residual sum of squares <= 0).
    """
    H = Q[:p, :p]
    try:
        cH = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    z = np.linalg.solve(cH, Q[:p, p])
    beta = np.linalg.solve(cH.T, z)
    rss = float(Q[p, p] - z @ z)
    ldH = 2.0 * np.log(np.diag(cH)).sum()
    if profiled:
        dfn = n - p if reml else n
        s2 = rss / dfn
        if not np.isfinite(logdet) or s2 <= 0:
            return None
        val = logdet + (ldH if reml else 0.0) + dfn * (1.0 + np.log(2 * np.pi * s2))
    else:
        s2 = 1.0
        val = logdet + rss + (ldH + (n - p) * np.log(2 * np.pi) if reml else n * np.log(2 * np.pi))
    cHi = np.linalg.inv(cH)
    C0 = cHi.T @ cHi
    return {"value": float(val), "beta": beta, "C0": C0, "sigma2": s2, "rss": rss, "H": H}


class _Block:
    """Components of one size, stacked."""


def components(codes: list[np.ndarray], n_levels: list[int]) -> np.ndarray:
    """Component id per observation: observations are linked when they share a level of any factor."""
    if len(codes) == 1:
        return codes[0]
    offs = np.concatenate([[0], np.cumsum(n_levels)])
    base = codes[0] + offs[0]
    rows = np.concatenate([base for _ in codes[1:]])
    cols = np.concatenate([c + offs[f + 1] for f, c in enumerate(codes[1:])])
    N = int(offs[-1])
    A = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(N, N))
    _, lab = connected_components(A, directed=False)
    _, comp = np.unique(lab[base], return_inverse=True)
    return comp.astype(np.int64)


class Engine:
    """Holds the stacked data and evaluates the (restricted) likelihood.

    Parameters
    ----------
    X, y : design matrix (n x p) and outcome.
    terms : list of (codes, Z) per random term: level code per observation and the term's covariates
        (n x q_t).
    comp : component id per observation.
    resid : None (sigma^2 I) or (visit code per obs, residual-subject code per obs, T).
    """

    def __init__(self, X, y, terms, comp, resid=None):
        n, p = X.shape
        self.n_obs, self.p = n, p
        self.q = [Z.shape[1] for _, Z in terms]
        self.n_terms = len(terms)
        self.resid = resid
        self.T = resid[2] if resid is not None else 0
        order = np.argsort(comp, kind="stable")
        cs = comp[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        sizes = np.diff(np.r_[starts, len(cs)])
        if sizes.max() > MAX_COMPONENT:
            raise ModelError(
                f"the random effects link {int(sizes.max())} observations into one block of the covariance "
                f"matrix (crossed grouping factors?); at most {MAX_COMPONENT} are supported"
            )
        self.blocks = []
        W = np.column_stack([X, y])
        for s in np.unique(sizes):
            b = _Block()
            st = starts[sizes == s]
            idx = order[st[:, None] + np.arange(s)[None, :]]  # (K, s)
            b.idx = idx
            b.K, b.n = idx.shape
            b.W = W[idx]  # (K, n, p+1)
            b.Z = [Z[idx] for _, Z in terms]
            b.S = []
            for codes, _ in terms:
                c = codes[idx]
                same = c[:, :, None] == c[:, None, :]
                b.S.append(None if same.all() else same.astype(float))
            b.Zexp = None
            if s > 24 and resid is None:
                # per component and term: Z expanded over the term's levels in the component (n x L*q)
                b.Zexp = []
                for k in range(b.K):
                    per_t = []
                    for codes, Z in terms:
                        c = codes[idx[k]]
                        _, loc = np.unique(c, return_inverse=True)
                        nl, q = loc.max() + 1, Z.shape[1]
                        E = np.zeros((s, nl, q))
                        E[np.arange(s), loc, :] = Z[idx[k]]
                        per_t.append(E.reshape(s, nl * q))
                    b.Zexp.append(per_t)
            if resid is not None:
                v, rs, _ = resid
                b.v = v[idx]
                r = rs[idx]
                b.R = (r[:, :, None] == r[:, None, :]).astype(float)
            self.blocks.append(b)

    # -------------------------------------------------------------------------------------------
    def _V(self, b, Ds, resid_cov):
        V = np.zeros((b.K, b.n, b.n))
        for Z, S, D in zip(b.Z, b.S, Ds):
            ZD = Z @ D
            part = ZD @ np.swapaxes(Z, 1, 2)
            V += part if S is None else part * S
        if self.resid is None:
            idx = np.arange(b.n)
            V[:, idx, idx] += resid_cov
        else:
            V += resid_cov[b.v[:, :, None], b.v[:, None, :]] * b.R
        return V

    def evaluate(self, Ds, resid_cov, reml=True, profiled=False, grad=True, keep=False):
        """-2 log L and derivatives.

        ``Ds``: list of q_t x q_t matrices (relative ``Lambda Lambda'`` when ``profiled``); ``resid_cov``:
        scalar residual variance (1 when profiled) or T x T residual covariance.
        Returns a dict with ``value`` (inf if V is not positive definite), ``beta``, ``C0`` (inverse of
        X'V^-1X), ``sigma2`` (profiled scale, else 1), and with ``grad`` the list ``G`` and ``Gres``.
        """
        p = self.p
        p1 = p + 1
        Q = np.zeros((p1, p1))
        logdet = 0.0
        keepL = []
        for b in self.blocks:
            V = self._V(b, Ds, resid_cov)
            if b.n > 24:  # large blocks: LAPACK per block (fewer flops than batched LU/inverse)
                Ls, ok = [], True
                for k in range(b.K):
                    c, info = lapack.dpotrf(V[k], lower=1, clean=1)
                    if info != 0:
                        ok = False
                        break
                    Ls.append(c)
                if not ok:
                    return {"value": np.inf}
                L = np.stack(Ls)
                Wt = np.stack([solve_triangular(L[k], b.W[k], lower=True) for k in range(b.K)])
            else:
                try:
                    L = np.linalg.cholesky(V)
                except np.linalg.LinAlgError:
                    return {"value": np.inf}
                Wt = np.linalg.solve(L, b.W)  # L^-1 W
            logdet += 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()
            Wf = Wt.reshape(-1, p1)
            Q += Wf.T @ Wf
            keepL.append(L)
        if not np.all(np.isfinite(Q)) or not np.isfinite(logdet):
            return {"value": np.inf}
        out = profiled_criterion(Q, logdet, self.n_obs, p, reml, profiled)
        if out is None:
            return {"value": np.inf}
        beta, C0, s2 = out["beta"], out["C0"], out["sigma2"]
        n = self.n_obs
        if not grad and not keep:
            return out
        c = np.concatenate([-beta, [1.0]])
        G = [np.zeros((q, q)) for q in self.q]
        Gres = np.zeros((self.T, self.T)) if self.resid is not None else 0.0
        e_all = np.zeros(n)
        blk = []
        for b, L in zip(self.blocks, keepL):
            if b.Zexp is not None and grad and not keep:
                # large blocks: triangular solves with the expanded Z instead of the inverse of V
                for k in range(b.K):
                    Lk = L[k]
                    Wk = solve_triangular(Lk, b.W[k], lower=True)
                    VWk = solve_triangular(Lk, Wk, lower=True, trans="T")
                    ek = VWk @ c
                    e_all[b.idx[k]] = ek
                    VXk = VWk[:, :p]
                    for t, E in enumerate(b.Zexp[k]):
                        q = self.q[t]
                        Y = solve_triangular(Lk, E, lower=True)
                        Yr = Y.reshape(b.n, -1, q)
                        G[t] += np.einsum("nla,nlb->ab", Yr, Yr)
                        u = (E.T @ ek).reshape(-1, q)
                        G[t] -= u.T @ u / s2
                        if reml:
                            U = (E.T @ VXk).reshape(-1, q, p)
                            G[t] -= np.einsum("lap,pr,lbr->ab", U, C0, U)
                continue
            Vi = _inv_from_chol(L)
            VW = Vi @ b.W  # V^-1 [X y]
            e = VW @ c  # V^-1 r
            e_all[b.idx] = e
            if keep:
                blk.append((Vi, VW[:, :, :p], e))
            if not grad:
                continue
            Dv = Vi - (e[:, :, None] * e[:, None, :]) / s2
            if reml:
                VX = VW[:, :, :p]
                Dv -= (VX @ C0) @ np.swapaxes(VX, 1, 2)
            for t, (Z, S) in enumerate(zip(b.Z, b.S)):
                M = Dv if S is None else Dv * S
                G[t] += np.einsum("kna,knm,kmb->ab", Z, M, Z, optimize=True)
            if self.resid is None:
                Gres += float(np.einsum("knn->", Dv))
            else:
                np.add.at(Gres, (b.v[:, :, None], b.v[:, None, :]), Dv * b.R)
        out["e"] = e_all
        if grad:
            out["G"] = G
            out["Gres"] = Gres
        if keep:
            out["blocks"] = blk
        return out

    # -------------------------------------------------------------------------------------------
    def gmat(self, b, spec, struct_jac=None):
        """dV/dphi for one natural parameter on block ``b``: spec ("D", t, i, j) | ("s2",) | ("res", k)."""
        if spec[0] == "D":
            _, t, i, j = spec
            Z = b.Z[t]
            zi, zj = Z[:, :, i], Z[:, :, j]
            G = zi[:, :, None] * zj[:, None, :]
            if i != j:
                G = G + np.swapaxes(G, 1, 2)
            S = b.S[t]
            return G if S is None else G * S
        if spec[0] == "s2":
            return np.broadcast_to(np.eye(b.n), (b.K, b.n, b.n))
        J = struct_jac[spec[1]]
        return J[b.v[:, :, None], b.v[:, None, :]] * b.R

    def information_pieces(self, ev, specs, struct_jac=None, struct_hess=None, reml=True):
        """At a full-mode evaluation ``ev`` (``keep=True``, actual V): for the natural parameters ``specs``
        return ``P`` (m,p,p) = X'V^-1 G_k V^-1 X, ``Q`` (m,m,p,p) = X'V^-1 G_i V^-1 G_j V^-1 X, the gradient
        ``g`` of -2 log L, the observed Hessian ``H_obs`` and the expected information ``I_exp`` (of -2 log L,
        i.e. ``tr(P G_i P G_j)``)."""
        m, p = len(specs), self.p
        C = ev["C0"]
        P = np.zeros((m, p, p))
        Qm = np.zeros((m, m, p, p))
        T1 = np.zeros((m, m))  # sum tr(V^-1 G_i V^-1 G_j)
        U = np.zeros((m, m))  # sum e' G_i V^-1 G_j e
        s = np.zeros((m, p))  # sum X' V^-1 G_i e
        g = np.zeros(m)
        for b, (Vi, VX, e) in zip(self.blocks, ev["blocks"]):
            Gs = [self.gmat(b, sp, struct_jac) for sp in specs]
            VG = [Vi @ G for G in Gs]
            Ge = [G @ e[:, :, None] for G in Gs]  # (K, n, 1)
            for i in range(m):
                P[i] += np.einsum("kna,knm,kmb->ab", VX, Gs[i], VX, optimize=True)
                s[i] += np.einsum("kna,kn->a", VX, Ge[i][:, :, 0])
                # gradient: tr(V^-1 G) - e'Ge - tr(C X'V^-1 G V^-1 X) (the last added below)
                g[i] += np.einsum("knn->", VG[i]) - float(np.einsum("kn,kn->", e, Ge[i][:, :, 0]))
                VGVX = VG[i] @ VX  # V^-1 G_i V^-1 X
                for j in range(i, m):
                    T1[i, j] += np.einsum("knm,kmn->", VG[i], VG[j])
                    U[i, j] += float(np.einsum("kn,kn->", Ge[i][:, :, 0], (Vi @ Ge[j])[:, :, 0]))
                    Qm[j, i] += np.einsum("kna,knm,kmb->ab", VX, Gs[j], VGVX, optimize=True)
        for i in range(m):
            for j in range(i + 1, m):
                T1[j, i] = T1[i, j]
                U[j, i] = U[i, j]
                Qm[i, j] = Qm[j, i].T
        if reml:
            g -= np.einsum("ab,kba->k", C, P)
        trCQ = np.einsum("ab,ijba->ij", C, Qm)
        CP = np.einsum("ab,kbc->kac", C, P)
        trCPCP = np.einsum("iab,jba->ij", CP, CP)
        if reml:
            trPGPG = T1 - 2 * trCQ + trCPCP
            eGPGe = U - s @ C @ s.T
        else:  # ML: Hessian of -2 log L profiled over beta (as lmerTest's deviance function)
            trPGPG = T1
            eGPGe = U - s @ C @ s.T
        H_obs = -trPGPG + 2 * eGPGe
        if struct_hess is not None:
            # second-derivative term of non-linear residual parameters: sum(Dv * d2V)
            Dres = self._dv_res(ev, reml)
            for i, si in enumerate(specs):
                for j, sj in enumerate(specs):
                    if si[0] == "res" and sj[0] == "res":
                        H_obs[i, j] += float(np.sum(Dres * struct_hess[si[1], sj[1]]))
        H_obs = 0.5 * (H_obs + H_obs.T)
        return {"P": P, "Q": Qm, "g": g, "H_obs": H_obs, "I_exp": 0.5 * (trPGPG + trPGPG.T)}

    def _dv_res(self, ev, reml):
        Gres = np.zeros((self.T, self.T))
        C = ev["C0"]
        for b, (Vi, VX, e) in zip(self.blocks, ev["blocks"]):
            Dv = Vi - e[:, :, None] * e[:, None, :]
            if reml:
                Dv -= (VX @ C) @ np.swapaxes(VX, 1, 2)
            np.add.at(Gres, (b.v[:, :, None], b.v[:, None, :]), Dv * b.R)
        return Gres


class FastEngine:
    """Profiled REML/ML for one random term and residual ``sigma^2 I`` on per-group sufficient statistics.

    With ``W_j = [X_j, y_j]`` and ``Z_j`` the rows of group ``j``, everything is a function of the small
    matrices ``Z_j'Z_j`` (q x q), ``Z_j'W_j`` (q x (p+1)) and ``W'W``: with ``M_j = Lambda'Z_j'Z_j Lambda + I``
    (lme4's ``L_theta`` blocks), ``|V_j / sigma^2| = |M_j|`` and
    ``sigma^2 W_j'V_j^-1 W_j = W_j'W_j - (Lambda'Z_j'W_j)' M_j^-1 (Lambda'Z_j'W_j)``.  An evaluation costs
    ``O(N q^2 p)`` for N groups, written as loops over the (tiny) q with vector operations over groups; the
    gradient with respect to ``Lambda`` is analytic:
    ``d f / d D = sum_j [Z_j'V0_j^-1 Z_j - K_j (C0 [REML] + c c' / sigma^2) K_j']`` with
    ``K_j = Z_j'V0_j^-1 W_j`` and ``c = (-beta, 1)``.
    """

    def __init__(self, X, y, codes, Z):
        n, p = X.shape
        self.n_obs, self.p = n, p
        q = Z.shape[1]
        self.q = [q]
        W = np.column_stack([X, y])
        N = int(codes.max()) + 1
        p1 = p + 1
        ZZ = np.zeros((q, q, N))
        ZW = np.zeros((q, N, p1))
        for a in range(q):
            for b in range(a, q):
                ZZ[a, b] = np.bincount(codes, weights=Z[:, a] * Z[:, b], minlength=N)
                ZZ[b, a] = ZZ[a, b]
            for c in range(p1):
                ZW[a, :, c] = np.bincount(codes, weights=Z[:, a] * W[:, c], minlength=N)
        self.ZZ, self.ZW, self.WW = ZZ, ZW, W.T @ W
        self.N = N

    @staticmethod
    def _chol(M, q):
        """Batched Cholesky of (q, q, N) -> lower L (q, q, N) (None if not positive definite)."""
        L = np.zeros_like(M)
        for j in range(q):
            d = M[j, j] - sum(L[j, k] ** 2 for k in range(j))
            if np.any(d <= 0):
                return None
            L[j, j] = np.sqrt(d)
            for i in range(j + 1, q):
                L[i, j] = (M[i, j] - sum(L[i, k] * L[j, k] for k in range(j))) / L[j, j]
        return L

    @staticmethod
    def _fwd(L, B, q):
        """Solve L X = B for X; B (q, N, k)."""
        X = np.empty_like(B)
        for i in range(q):
            acc = B[i].copy()
            for k in range(i):
                acc -= L[i, k][:, None] * X[k]
            X[i] = acc / L[i, i][:, None]
        return X

    @staticmethod
    def _bwd(L, B, q):
        """Solve L' X = B for X."""
        X = np.empty_like(B)
        for i in reversed(range(q)):
            acc = B[i].copy()
            for k in range(i + 1, q):
                acc -= L[k, i][:, None] * X[k]
            X[i] = acc / L[i, i][:, None]
        return X

    def evaluate(self, Ds_unused, resid_unused, reml=True, profiled=True, grad=True, lam=None, keep=False):
        p, q, N = self.p, self.q[0], self.N
        p1 = p + 1
        Lam = lam
        ZZ, ZW = self.ZZ, self.ZW
        # ZZL[a, b] = sum_c ZZ[a, c] Lam[c, b];  M = Lam' ZZL + I
        ZZL = np.empty((q, q, N))
        for a in range(q):
            for b in range(q):
                acc = np.zeros(N)
                for cc in range(b, q):  # Lam is lower triangular
                    if Lam[cc, b] != 0.0:
                        acc += ZZ[a, cc] * Lam[cc, b]
                ZZL[a, b] = acc
        M = np.empty((q, q, N))
        for a in range(q):
            for b in range(a, q):
                acc = np.zeros(N)
                for cc in range(a, q):
                    if Lam[cc, a] != 0.0:
                        acc += Lam[cc, a] * ZZL[cc, b]
                M[a, b] = acc
                M[b, a] = acc
            M[a, a] += 1.0
        L = self._chol(M, q)
        if L is None:
            return {"value": np.inf}
        logdet = 2.0 * sum(np.log(L[j, j]).sum() for j in range(q))
        LZW = (Lam.T @ ZW.reshape(q, -1)).reshape(q, N, p1)
        c = self._fwd(L, LZW, q)
        Q = self.WW.copy()
        for a in range(q):
            Q -= c[a].T @ c[a]
        out = profiled_criterion(Q, logdet, self.n_obs, p, reml)
        if out is None:
            return {"value": np.inf}
        if not grad:
            return out
        beta, C0, s2 = out["beta"], out["C0"], out["sigma2"]
        # K = Z'W - ZZL M^-1 Lam'Z'W = Z'W - ZZL L^-T c ;  sum_j B_j = sum ZZ - ZZL M^-1 ZZL'
        dW = self._bwd(L, c, q)
        K = ZW.copy()
        for a in range(q):
            for k in range(q):
                K[a] -= ZZL[a, k][:, None] * dW[k]
        e = self._fwd(L, np.ascontiguousarray(np.transpose(ZZL, (1, 2, 0))), q)  # L^-1 ZZL' : (q, N, q)
        Bsum = ZZ.sum(axis=2)
        for k in range(q):
            Bsum -= e[k].T @ e[k]
        cvec = np.concatenate([-beta, [1.0]])
        Mm = np.outer(cvec, cvec) / s2
        if reml:
            Mm[:p, :p] += C0
        G = Bsum.copy()
        for a in range(q):
            KM = K[a] @ Mm
            for b in range(a, q):
                G[a, b] -= np.sum(KM * K[b])
                G[b, a] = G[a, b]
        out["G"] = [G]
        out["Gres"] = 0.0
        return out


class SchurEngine:
    """Profiled REML/ML for several random terms (residual ``sigma^2 I``): one *large* term (most levels,
    per-level q x q blocks, as :class:`FastEngine`) and *small* terms whose random effects number ``Q2`` in
    all (e.g. sites).  ``M = Lambda'Z'Z Lambda + I`` is factored blockwise: the block-diagonal part ``A`` of
    the large term level by level, then the dense Schur complement ``S = M_22 - B'A^-1 B`` (Q2 x Q2) of the
    small terms -- crossed or nested alike.  The gradient uses the diagonal blocks of ``U M^-1 U'``
    (``U = Z'Z Lambda``): for a row block ``[u1, u2]`` they are ``u1 A^-1 u1' + a S^-1 a'`` with
    ``a = u1 A^-1 B - u2``.
    """

    MAX_Q2 = 1500

    def __init__(self, X, y, terms, big):
        from scipy import sparse

        n, p = X.shape
        self.n_obs, self.p = n, p
        self.big = big
        self.q = [Z.shape[1] for _, Z in terms]
        W = np.column_stack([X, y])
        codes1, Z1 = terms[big]
        q = Z1.shape[1]
        N = int(codes1.max()) + 1
        self.N = N
        small = [t for t in range(len(terms)) if t != big]
        self.small = small
        offs, self.nlev = [0], {}
        for t in small:
            codes, Z = terms[t]
            L = int(codes.max()) + 1
            self.nlev[t] = L
            offs.append(offs[-1] + L * Z.shape[1])
        Q2 = offs[-1]
        self.Q2, self.offs = Q2, dict(zip(small, offs[:-1]))
        rows = np.repeat(np.arange(n), 1)
        blocks = []
        for t in small:
            codes, Z = terms[t]
            qt = Z.shape[1]
            for a in range(qt):
                blocks.append(sparse.csr_matrix((Z[:, a], (rows, self.offs[t] + codes * qt + a)), shape=(n, Q2)))
        Z2 = blocks[0]
        for b_ in blocks[1:]:
            Z2 = Z2 + b_
        Z2 = Z2.tocsr()
        ZZ = np.zeros((N, q, q))
        ZW = np.zeros((N, q, p + 1))
        ZZ2 = np.zeros((N, q, Q2))
        for a in range(q):
            for b in range(a, q):
                ZZ[:, a, b] = np.bincount(codes1, weights=Z1[:, a] * Z1[:, b], minlength=N)
                ZZ[:, b, a] = ZZ[:, a, b]
            for c in range(p + 1):
                ZW[:, a, c] = np.bincount(codes1, weights=Z1[:, a] * W[:, c], minlength=N)
            Za = sparse.csr_matrix((Z1[:, a], (codes1, np.arange(n))), shape=(N, n))
            ZZ2[:, a, :] = (Za @ Z2).toarray()
        self.ZZ, self.ZW, self.ZZ2 = ZZ, ZW, ZZ2
        self.T22 = (Z2.T @ Z2).toarray()
        self.Z2W = np.asarray(Z2.T @ W)
        self.WW = W.T @ W
        self.eye1, self.eye2 = np.eye(q), np.eye(Q2)

    def _lam2(self, lams):
        L2 = np.zeros((self.Q2, self.Q2))
        for t in self.small:
            lt = lams[t]
            qt = lt.shape[0]
            o = self.offs[t]
            for l in range(self.nlev[t]):
                s = o + l * qt
                L2[s : s + qt, s : s + qt] = lt
        return L2

    def evaluate(self, Ds_unused, resid_unused, reml=True, profiled=True, grad=True, lams=None, keep=False):
        p = self.p
        L1 = lams[self.big]
        L2 = self._lam2(lams)
        ZZL = self.ZZ @ L1  # u1 (N, q, q)
        A = np.swapaxes(L1, 0, 1)[None] @ ZZL + self.eye1
        try:
            cA = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return {"value": np.inf}
        P = L1.T[None] @ self.ZZ2  # (N, q, Q2)
        B = P @ L2
        r1 = L1.T[None] @ self.ZW  # (N, q, p1)
        r2 = L2.T @ self.Z2W
        AiB = np.linalg.solve(A, B)
        Air1 = np.linalg.solve(A, r1)
        S = L2.T @ self.T22 @ L2 + self.eye2 - np.einsum("nqa,nqb->ab", B, AiB, optimize=True)
        try:
            cS = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return {"value": np.inf}
        rhs = r2 - np.einsum("nqa,nqc->ac", B, Air1, optimize=True)
        x2 = np.linalg.solve(cS.T, np.linalg.solve(cS, rhs))
        x1 = Air1 - AiB @ x2
        Q = self.WW - np.einsum("nqa,nqb->ab", r1, x1, optimize=True) - r2.T @ x2
        Q = 0.5 * (Q + Q.T)
        logdet = 2.0 * np.log(np.diagonal(cA, axis1=1, axis2=2)).sum() + 2.0 * np.log(np.diag(cS)).sum()
        out = profiled_criterion(Q, logdet, self.n_obs, p, reml)
        if out is None:
            return {"value": np.inf}
        if not grad:
            return out
        beta, C0, s2 = out["beta"], out["C0"], out["sigma2"]
        cvec = np.concatenate([-beta, [1.0]])
        Mm = np.outer(cvec, cvec) / s2
        if reml:
            Mm[:p, :p] += C0
        Sinv = np.linalg.solve(cS.T, np.linalg.solve(cS, self.eye2))
        G = [None] * len(self.q)
        # large term, level j: u1 = ZZ_j L1, u2 = ZZ2_j L2
        u2 = self.ZZ2 @ L2
        a = ZZL @ AiB - u2  # (N, q, Q2)
        D1 = ZZL @ np.linalg.solve(A, np.swapaxes(ZZL, 1, 2)) + a @ Sinv @ np.swapaxes(a, 1, 2)
        K1 = self.ZW - (ZZL @ x1 + u2 @ x2)
        G[self.big] = (self.ZZ - D1).sum(axis=0) - np.einsum("nqa,ab,nrb->qr", K1, Mm, K1, optimize=True)
        # small terms: rows of U = [ZZ2' L1 (per level of the large term), T22 L2]
        AiP = np.linalg.solve(A, P)
        a2 = np.einsum("nqa,nqb->ab", P, AiB, optimize=True) - self.T22 @ L2
        D2 = np.einsum("nqa,nqb->ab", P, AiP, optimize=True) + a2 @ Sinv @ a2.T
        K2 = self.Z2W - (np.einsum("nqa,nqc->ac", P, x1, optimize=True) + self.T22 @ L2 @ x2)
        F2 = self.T22 - D2 - K2 @ Mm @ K2.T
        for t in self.small:
            qt = self.q[t]
            o = self.offs[t]
            blk = F2[o : o + self.nlev[t] * qt, o : o + self.nlev[t] * qt]
            Gt = np.zeros((qt, qt))
            for l in range(self.nlev[t]):
                Gt += blk[l * qt : (l + 1) * qt, l * qt : (l + 1) * qt]
            G[t] = Gt
        out["G"] = G
        out["Gres"] = 0.0
        return out
