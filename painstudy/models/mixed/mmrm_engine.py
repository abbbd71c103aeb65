"""The REML/ML likelihood engine on per-pattern sufficient statistics.

Subjects are grouped by (covariance group, set of observed visits).  For a pattern with visit set S
every subject shares the covariance block ``Sigma_S``.  With ``W_i = [X_i, y_i]`` everything the
likelihood needs is ``sum_i W_i' Sigma_S^{-1} W_i``.  Blocks are *padded* to all T visits: the padded
covariance is ``Sigma_S`` on the observed visits and the identity elsewhere, the padded data are zero on
unobserved visits, so all patterns are processed at once with batched linear algebra.  Two storage forms:

* *stats* form: ``G[a, b] = sum_i W_ia W_ib'`` per visit pair, shape (T, T, p+1, p+1) per pattern; an
  evaluation costs O(T^2 p^2) per pattern whatever its number of subjects (patterns with many subjects);
* *raw* form: the subjects' padded ``W_i`` (patterns with few subjects).

``evaluate`` returns -2 log-likelihood (REML or ML, full constant) and its derivative with respect to
every element of every group's T x T covariance matrix; the structures chain that to their parameters.
"""

from __future__ import annotations

import numpy as np

from painstudy.models.blas import blas_threads as blas_threads  # re-exported (its former home)


class _Form:
    pass


def pair_trace(J: np.ndarray, K: np.ndarray) -> np.ndarray:
    """t[i, j] = sum_n tr(J_i P_n J_j E_n) given K = sum_n vec(P_n) vec(E_n)' (T^2 x T^2, indices
    (b, c), (d, a)): t_ij = sum J_i[a,b] J_j[c,d] K[b,c,d,a].  Cost O(m T^4 + m^2 T^2)."""
    m, T = J.shape[0], J.shape[1]
    Kab = K.reshape(T, T, T, T).transpose(3, 0, 1, 2).reshape(T * T, T * T)  # ((a, b), (c, d))
    Jf = J.reshape(m, T * T)
    return (Jf @ Kab) @ Jf.T


def padded_rows(X, y, subject, visit, n_subjects, T, sqrt_w=None) -> np.ndarray:
    """Every subject's rows padded to all T visits: ``W[i, t] = [x, y]`` of subject i's row at visit t, zero at
    visits without a row (times the square root of the weight, if any); shape (n_subjects, T, p+1)."""
    p = X.shape[1]
    W = np.zeros((n_subjects, T, p + 1))
    W[subject, visit, :p] = X
    W[subject, visit, p] = y
    if sqrt_w is not None:
        W[subject, visit, :] *= sqrt_w[:, None]
    return W


def pattern_gram(W) -> np.ndarray:
    """``G[a, b] = sum_i W_i[a] W_i[b]'`` of padded rows W (n, T, p+1); shape (T, T, p+1, p+1)."""
    n, T, p1 = W.shape
    Z = W.reshape(n, T * p1)
    return (Z.T @ Z).reshape(T, p1, T, p1).transpose(0, 2, 1, 3)


class Engine:
    """Holds the pattern statistics and evaluates the (restricted) likelihood.

    Each missingness pattern is kept either as its summed statistics ``G`` (cheap when many subjects share
    the pattern) or as its subjects' padded rows (cheap when few do, or when the design has many columns):
    ``force="stats"`` or ``"raw"`` chooses for all, else a rule per pattern decides, and a small problem
    (at most 2e6 numbers of statistics) is kept as statistics throughout unless ``batch_small=False``. The
    choice changes the speed, not the numbers (beyond rounding).
    """

    def __init__(
        self,
        X,
        y,
        visit,
        subj,
        group,
        n_groups,
        T,
        sqrt_w=None,
        log_w_sum=0.0,
        force=None,
        keep_raw=False,
        batch_small=True,
    ):
        n, p = X.shape
        p1 = p + 1
        self.p, self.T, self.n_groups = p, T, n_groups
        self.n_obs = n
        self.log_w_sum = log_w_sum
        if T > 52:
            raise ValueError("at most 52 visits are supported")
        nsub = int(subj.max()) + 1
        mask = np.bincount(subj, weights=np.ldexp(1.0, visit), minlength=nsub).astype(np.int64)
        gsub = np.zeros(nsub, np.int64)
        gsub[subj] = group
        key = gsub * (np.int64(1) << T) + mask
        ukeys, pat_of_sub, n_per = np.unique(key, return_inverse=True, return_counts=True)
        npat = len(ukeys)
        self.n_patterns = npat
        kpat = np.array([bin(int(k) & ((1 << T) - 1)).count("1") for k in ukeys])
        # padded data per subject (T x p1), zero at unobserved visits
        use_stats = np.array(
            [force == "stats" or (force != "raw" and kk * p1 * p1 < nn * (kk + p1)) for kk, nn in zip(kpat, n_per)],
            bool,
        )
        if batch_small and force is None and npat * T * T * p1 * p1 <= 2_000_000:
            use_stats[:] = True  # small problem: one batched form is fastest
        self.forms = []
        for stats_form in (True, False):
            sel_p = np.flatnonzero(use_stats == stats_form)
            if len(sel_p) == 0:
                continue
            f = self._form(ukeys[sel_p], n_per[sel_p])
            remap = np.full(npat, -1)
            remap[sel_p] = np.arange(len(sel_p))
            sub_sel = np.flatnonzero(use_stats[pat_of_sub] == stats_form)
            lp = remap[pat_of_sub[sub_sel]]
            order = np.argsort(lp, kind="stable")
            sub_sorted = sub_sel[order]
            # rows of those subjects
            pos = np.full(nsub, -1)
            pos[sub_sorted] = np.arange(len(sub_sorted))
            rsel = pos[subj] >= 0
            Wp = padded_rows(
                X[rsel],
                y[rsel],
                pos[subj[rsel]],
                visit[rsel],
                len(sub_sorted),
                T,
                sqrt_w=None if sqrt_w is None else sqrt_w[rsel],
            )
            f.pat = lp[order]
            if stats_form:
                G = np.empty((len(sel_p), T, T, p1, p1))
                ends = np.concatenate([f.starts[1:], [len(Wp)]])
                for j in range(len(sel_p)):
                    G[j] = pattern_gram(Wp[f.starts[j] : ends[j]])
                self._set_stats(f, G)
                f.W = Wp if keep_raw else None
                del Wp
            else:
                f.G = None
                f.W = Wp
            self.forms.append(f)

    @classmethod
    def from_pattern_stats(cls, keys, n_per, G, n_obs, T, n_groups, log_w_sum=0.0):
        """An engine from statistics built elsewhere (e.g. in chunks, :mod:`.mmrm_stream`).

        ``keys[j] = group << T | visit mask`` and ``n_per[j]`` subjects of pattern ``j``, ``G[j]`` its
        ``sum_i W_i[a] W_i[b]'`` (T, T, p+1, p+1), ``n_obs`` the number of rows."""
        self = cls.__new__(cls)
        keys = np.asarray(keys, np.int64)
        order = np.argsort(keys)
        p1 = G.shape[-1]
        self.p, self.T, self.n_groups = p1 - 1, T, n_groups
        self.n_obs = int(n_obs)
        self.log_w_sum = float(log_w_sum)
        self.n_patterns = len(keys)
        f = self._form(keys[order], np.asarray(n_per)[order])
        f.pat = None
        self._set_stats(f, np.ascontiguousarray(G[order]))
        f.W = None
        self.forms = [f]
        return self

    def _form(self, keys, n_per):
        """A storage form for the patterns ``keys`` (group << T | visit mask) with ``n_per`` subjects each."""
        T = self.T
        f = _Form()
        f.grp = (keys >> T).astype(np.int64)
        f.n = np.asarray(n_per).astype(float)
        f.vmask = ((keys[:, None] >> np.arange(T)[None, :]) & 1).astype(bool)  # (npat, T)
        f.mask2 = f.vmask[:, :, None] & f.vmask[:, None, :]
        f.eye_fill = np.where(f.mask2, False, np.eye(T, dtype=bool)[None])  # where the padded identity goes
        f.onehot = (f.grp[:, None] == np.arange(self.n_groups)[None, :]).astype(float)
        f.starts = np.concatenate([[0], np.cumsum(f.n.astype(np.int64))[:-1]]).astype(np.int64)
        return f

    @staticmethod
    def _set_stats(f, G):
        npat, T, _, p1, _ = G.shape
        f.stats = True
        f.G = G
        f.Gflat = G.reshape(npat, T * T, p1 * p1)
        f.Gflat2 = G.reshape(npat * T * T, p1 * p1)

    def gram(self) -> np.ndarray:
        """``sum_i W_i' W_i`` over all subjects ((p+1) x (p+1): X'X, X'y and y'y, weighted if the fit is)."""
        out = np.zeros((self.p + 1, self.p + 1))
        for f in self.forms:
            if f.G is not None:
                out += np.einsum("naajl->jl", f.G)
            else:
                out += np.einsum("naj,nal->jl", f.W, f.W)
        return out

    def residual_moments(self, beta) -> tuple[np.ndarray, np.ndarray]:
        """Per covariance group: ``sum_i r_i r_i'`` over the visit pairs observed together (r = y - X beta) and
        the number of subjects behind each pair; shapes (groups, T, T)."""
        c = np.concatenate([-np.asarray(beta, float), [1.0]])
        num = np.zeros((self.n_groups, self.T, self.T))
        den = np.zeros((self.n_groups, self.T, self.T))
        for f in self.forms:
            if f.G is not None:
                R = f.G @ c @ c  # (npat, T, T)
            else:
                r = f.W @ c
                R = np.add.reduceat(r[:, :, None] * r[:, None, :], f.starts, axis=0)
            num += np.tensordot(f.onehot, np.where(f.mask2, R, 0.0), axes=(0, 0))
            den += np.tensordot(f.onehot, f.mask2 * f.n[:, None, None], axes=(0, 0))
        return num, den

    # ------------------------------------------------------------------------------------------
    def _blocks(self, Sig, f):
        S = Sig[f.grp]
        S = np.where(f.mask2, S, 0.0)
        S[f.eye_fill] = 1.0
        return S

    def evaluate(self, sigmas, reml=True, grad=True):
        """-2 log L and (optionally) d(-2 log L)/dSigma_g for each group.

        Returns ``(value, D, extra)``; ``value`` is ``inf`` when some block is not positive definite.
        """
        p, p1 = self.p, self.p + 1
        Sig = np.stack(sigmas)
        Q = np.zeros((p1, p1))
        logdet = 0.0
        Ps = []
        for f in self.forms:
            S = self._blocks(Sig, f)
            try:
                L = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            d = np.diagonal(L, axis1=1, axis2=2)
            logdet += f.n @ (2.0 * np.log(d).sum(axis=1))
            Linv = np.linalg.inv(L)
            P = np.swapaxes(Linv, 1, 2) @ Linv
            Ps.append((P, Linv))
            if f.G is not None:
                Q += (P.reshape(1, -1) @ f.Gflat2).reshape(p1, p1)
            else:
                Wt = (Linv[f.pat] @ f.W).reshape(-1, p1)
                Q += Wt.T @ Wt
        if not np.all(np.isfinite(Q)):
            return np.inf, None, None
        H = Q[:p, :p]
        try:
            cH = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return np.inf, None, None
        u = Q[:p, p]
        z = np.linalg.solve(cH, u)
        beta = np.linalg.solve(cH.T, z)
        rss = Q[p, p] - z @ z
        n = self.n_obs
        if reml:
            val = logdet + rss + 2.0 * np.log(np.diag(cH)).sum() + (n - p) * np.log(2 * np.pi)
        else:
            val = logdet + rss + n * np.log(2 * np.pi)
        val -= self.log_w_sum
        extra = {"beta": beta, "H": H, "Ps": Ps, "rss": rss}
        if not grad:
            return val, None, extra
        c = np.concatenate([-beta, [1.0]])
        M = np.outer(c, c)
        if reml:
            cHinv = np.linalg.inv(cH)
            M[:p, :p] += cHinv.T @ cHinv
        D = np.zeros((self.n_groups, self.T, self.T))
        for f, (P, _Linv) in zip(self.forms, Ps):
            if f.G is not None:
                Tm = (f.Gflat2 @ M.reshape(-1)).reshape(len(P), self.T, self.T)
            else:
                WM = f.W @ M
                Ti = WM @ np.swapaxes(f.W, 1, 2)
                Tm = np.add.reduceat(Ti, f.starts, axis=0)
            Dp = f.n[:, None, None] * P - P @ Tm @ P
            Dp = np.where(f.mask2, Dp, 0.0)
            if self.n_groups == 1:
                D[0] += Dp.sum(axis=0)
            else:
                D += np.tensordot(f.onehot, Dp, axes=(0, 0))
        return val, list(D), extra

    # ------------------------------------------------------------------------------------------
    def a_tensor(self, Ps, kr_M=None):
        """A[g][u, j, t, l] = sum_p sum_ab P_au P_tb G_p[a, b, j, l] over patterns of group g
        (fixed-effect block), shape (T, p, T, p); and, if ``kr_M`` (callable(form, P) -> (npat, T, T)) is
        given, ``sum_p X' P M_p P X``."""
        p, T = self.p, self.T
        A = np.zeros((self.n_groups, T, p, T, p))
        KQ = np.zeros((p, p))
        for f, (P, _Linv) in zip(self.forms, Ps):
            Pm = np.where(f.mask2, P, 0.0)  # drop the padding identity
            Mp = kr_M(f, Pm) if kr_M is not None else None
            if f.G is not None:
                npat = len(P)
                # Ab[n,u,j,t,l] = sum_ab Pm[n,a,u] G[n,a,b,j,l] Pm[n,b,t], as two batched products
                tmp = np.swapaxes(Pm, 1, 2) @ f.G[:, :, :, :p, :p].reshape(npat, T, T * p * p)
                tmp = tmp.reshape(npat, T, T, p, p).transpose(0, 1, 3, 4, 2)  # (n, u, j, l, b)
                Ab = np.swapaxes(tmp @ Pm[:, None, None], 3, 4)
                A += (f.onehot.T @ Ab.reshape(npat, -1)).reshape(A.shape)
                if Mp is not None:
                    KQ += np.einsum("nuv,nujvl->jl", Mp, Ab, optimize=True)
            else:
                Z = Pm[f.pat] @ f.W[:, :, :p]  # (nsub, T, p)
                gs = f.grp[f.pat]
                for g in range(self.n_groups):
                    Zg = Z[gs == g].reshape(-1, T * p)
                    A[g] += (Zg.T @ Zg).reshape(T, p, T, p)
                if Mp is not None:
                    MZ = Mp[f.pat] @ Z
                    KQ += np.einsum("nuj,nul->jl", Z, MZ, optimize=True)
        return A, KQ

    def observed_hessian(self, extra, Js, offs, reml, D=None, d2=None):
        """Analytic Hessian of -2 log L (REML: beta profiled out by the REML projection; ML: the profile
        Hessian) with respect to covariance parameters whose derivative matrices are ``Js[g]``
        (m_g, T, T) per group.  With Pi = V^-1 - V^-1 X C X' V^-1 (REML) or V^-1 (ML) and r = y - X beta:

            H_ij = -tr(Pi V_i Pi V_j) + 2 (r'V^-1 V_i V^-1 V_j V^-1 r - a_i' C a_j) + sum(D * d2V_ij)

        where a_i = X'V^-1 V_i V^-1 r, D = d(-2 log L)/dSigma and d2 the second derivatives (optional)."""
        p, T = self.p, self.T
        beta, H = extra["beta"], extra["H"]
        C = np.linalg.inv(H)
        c = np.concatenate([-beta, [1.0]])
        m = offs[-1]
        out = np.zeros((m, m))
        F = np.zeros((self.n_groups, T, p, T))
        A = np.zeros((self.n_groups, T, p, T, p)) if reml else None
        for f, (P, _Linv) in zip(self.forms, extra["Ps"]):
            Pm = np.where(f.mask2, P, 0.0)
            if f.G is not None:
                npat = len(P)
                R = f.G.reshape(npat, T, T, -1) @ np.outer(c, c).ravel()  # sum_jl G[n,a,b,j,l] c_j c_l
                Gc = f.G[:, :, :, :p, :] @ c  # (npat, T, T, p): sum_s X_s[a,j] r_s[b]
                # Fp[n,u,j,v] = sum_ab Pm[n,a,u] Gc[n,a,b,j] Pm[n,b,v], as two batched products
                left = (np.swapaxes(Pm, 1, 2) @ Gc.reshape(npat, T, T * p)).reshape(npat, T, T, p)
                Fp = np.swapaxes(left, 2, 3) @ Pm[:, None]
                if reml:
                    GC = f.G[:, :, :, :p, :p].reshape(len(P), T, T, p * p) @ C.reshape(-1)
                    Bm = Pm @ GC @ Pm
                    # Ab[n,u,j,t,l] = sum_ab Pm[n,a,u] G[n,a,b,j,l] Pm[n,b,t], as two batched products
                    tmp = np.swapaxes(Pm, 1, 2) @ f.G[:, :, :, :p, :p].reshape(npat, T, T * p * p)
                    tmp = tmp.reshape(npat, T, T, p, p).transpose(0, 1, 3, 4, 2)  # (n, u, j, l, b)
                    Ab = np.swapaxes(tmp @ Pm[:, None, None], 3, 4)
                for g in range(self.n_groups):
                    sel = f.grp == g
                    if np.any(sel):
                        F[g] += Fp[sel].sum(axis=0)
                        if reml:
                            A[g] += Ab[sel].sum(axis=0)
            else:
                X = f.W[:, :, :p]
                r = f.W @ c  # (nsub, T)
                R = np.add.reduceat(r[:, :, None] * r[:, None, :], f.starts, axis=0)
                Z = Pm[f.pat] @ X  # (nsub, T, p)
                pr = np.einsum("nab,nb->na", Pm[f.pat], r)
                if reml:
                    Ti = (X @ C) @ np.swapaxes(X, 1, 2)
                    Bm = Pm @ np.add.reduceat(Ti, f.starts, axis=0) @ Pm
                gs = f.grp[f.pat]
                for g in range(self.n_groups):
                    sel = gs == g
                    if np.any(sel):
                        F[g] += (Z[sel].reshape(-1, T * p).T @ pr[sel]).reshape(T, p, T)
                        if reml:
                            Zg = Z[sel].reshape(-1, T * p)
                            A[g] += (Zg.T @ Zg).reshape(T, p, T, p)
            E = Pm @ R @ Pm
            T2 = T * T
            for g in range(self.n_groups):
                sel = f.grp == g
                if not np.any(sel):
                    continue
                Pf = Pm[sel].reshape(-1, T2)
                blk = slice(offs[g], offs[g + 1])
                K1 = (Pf * f.n[sel][:, None]).T @ Pf
                KE = Pf.T @ E[sel].reshape(-1, T2)
                h = -pair_trace(Js[g], K1) + 2.0 * pair_trace(Js[g], KE)
                if reml:
                    h += 2.0 * pair_trace(Js[g], Pf.T @ Bm[sel].reshape(-1, T2))
                out[blk, blk] += h
        # a_i and (REML) P_i across groups
        a = np.zeros((m, p))
        Pk = np.zeros((m, p, p)) if reml else None
        for g in range(self.n_groups):
            blk = slice(offs[g], offs[g + 1])
            Jg = Js[g].reshape(len(Js[g]), T * T)
            a[blk] = Jg @ np.swapaxes(F[g], 1, 2).reshape(T * T, p)  # sum_uv J[i,u,v] F[u,j,v]
            if reml:
                Pk[blk] = -(Jg @ A[g].transpose(0, 2, 1, 3).reshape(T * T, p * p)).reshape(-1, p, p)
        out -= 2.0 * a @ C @ a.T
        if reml:
            CP = C @ Pk
            out -= CP.reshape(m, -1) @ np.swapaxes(CP, 1, 2).reshape(m, -1).T  # sum_ab CP[i,a,b] CP[j,b,a]
        if D is not None and d2 is not None:
            for g in range(self.n_groups):
                blk = slice(offs[g], offs[g + 1])
                out[blk, blk] += np.einsum("uv,ijuv->ij", D[g], d2[g])
        return 0.5 * (out + out.T)

    def pattern_B(self, Ps, C):
        """Per form: B_p = sum_{i in p} P X_i C X_i' P (npat, T, T) (padding removed)."""
        p = self.p
        out = []
        for f, (P, _Linv) in zip(self.forms, Ps):
            Pm = np.where(f.mask2, P, 0.0)
            if f.G is not None:
                GC = f.G[:, :, :, :p, :p].reshape(len(P), self.T, self.T, p * p) @ C.reshape(-1)
            else:
                X = f.W[:, :, :p]
                Ti = (X @ C) @ np.swapaxes(X, 1, 2)
                GC = np.add.reduceat(Ti, f.starts, axis=0)
            out.append(Pm @ GC @ Pm)
        return out

    def residual_scores(self, sigmas, beta):
        """Per form: padded X_i, r_i, Sigma_i^-1 and Sigma_i (identity-padded), for sandwich estimators."""
        p = self.p
        Sig = np.stack(sigmas)
        out = []
        for f in self.forms:
            if f.W is None:
                raise RuntimeError("raw data were not kept")
            S = self._blocks(Sig, f)
            Pinv = np.where(f.mask2, np.linalg.inv(S), 0.0)
            X = f.W[:, :, :p]
            r = f.W[:, :, p] - X @ beta
            out.append((X, r, Pinv[f.pat], S[f.pat]))
        return out
