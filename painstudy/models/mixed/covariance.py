"""Covariance structures for MMRM: ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh``.

Each structure has two parametrisations:

* the *optimisation* parametrisation ``theta`` (unconstrained; every value gives a positive definite
  matrix): log-Cholesky for ``us`` (as R mmrm), log variances, and correlations mapped from the real
  line by ``rho = t / sqrt(1 + t^2)`` (for ``cs``/``csh``: onto ``(-1/(T-1), 1)`` by a logistic map;
  for Toeplitz: partial autocorrelations, turned into autocorrelations by Durbin-Levinson);
* the *natural* parametrisation ``phi`` used for inference, as SAS PROC MIXED reports it:
  ``us``: the elements ``UN(i,j)``; ``cs``: ``CS`` (common covariance) and ``Residual``; ``toep``: the
  variance and lag covariances ``TOEP(k)``; ``csh``/``ar1h``/``toeph``/``adh``: variances and
  correlations; ``ar1``/``ad``: one variance and correlation(s).

Satterthwaite degrees of freedom do not depend on the parametrisation (the observed information is
evaluated at a stationary point); Kenward-Roger's second-derivative term does, and ``kenward-roger``
uses the natural parametrisation above (SAS ``DDFM=KR``), ``kenward-roger-linear`` drops that term.

Every derivative is analytic: ``jac`` (dSigma/dtheta, for the optimiser's gradient), ``jac_nat`` and
``hess_nat`` (first and second derivatives in ``phi``, for the observed information, Satterthwaite and
Kenward-Roger).  Except ``us`` every structure is ``Sigma = S(v) o R(c)`` (elementwise), ``S_ab =
sqrt(v_a v_b)`` (one variance ``v`` for the homogeneous ones) and ``R`` a correlation matrix with parameters
``c``: compound symmetry ``R = c J + (1 - c) I``; AR(1) ``R_ab = c^|a-b|``; Toeplitz ``R_ab = c_|a-b|``;
ante-dependence ``R_ab = prod_{a <= k < b} c_k``.  The derivatives of ``S`` and ``R`` are combined by the
product rule; the Durbin-Levinson map (partial to ordinary autocorrelations) is differentiated forward
through its recursion.
"""

from __future__ import annotations

import numpy as np

from painstudy.errors import ModelError

__all__ = ["make_structure", "Structure", "split_natural"]


def _rho(t):
    return t / np.sqrt(1.0 + t * t)


def _rho_inv(r):
    r = np.clip(r, -0.95, 0.95)
    return r / np.sqrt(1.0 - r * r)


def _rho_inv_exact(r):
    r = np.clip(np.asarray(r, float), -1 + 1e-12, 1 - 1e-12)
    return r / np.sqrt(1.0 - r * r)


def _levinson(rho: np.ndarray) -> np.ndarray:
    """Partial autocorrelations from autocorrelations rho_1..rho_K (Levinson-Durbin)."""
    K = len(rho)
    pacf = np.zeros(K)
    phi = np.zeros(0)
    for k in range(1, K + 1):
        if k == 1:
            pk = rho[0]
            phi = np.array([pk])
        else:
            num = rho[k - 1] - phi @ rho[: k - 1][::-1]
            den = 1.0 - phi @ rho[: k - 1]
            pk = num / den
            phi = np.concatenate([phi - pk * phi[::-1], [pk]])
        pacf[k - 1] = pk
    return pacf


def _expit(t):
    return 1.0 / (1.0 + np.exp(-t))


def _logit(p):
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _durbin_levinson(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations rho_1..rho_K from partial autocorrelations pi_1..pi_K."""
    K = len(pacf)
    rho = np.zeros(K)
    phi = np.zeros(0)
    for k in range(1, K + 1):
        pk = pacf[k - 1]
        if k == 1:
            rho[0] = pk
            phi = np.array([pk])
            continue
        prev = phi
        rev_rho = rho[: k - 1][::-1]  # rho_{k-1} .. rho_1
        rho[k - 1] = prev @ rev_rho + pk * (1.0 - prev @ rho[: k - 1])
        phi = np.concatenate([prev - pk * prev[::-1], [pk]])
    return rho


def _durbin_levinson_jac(pacf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelations from partial autocorrelations (as :func:`_durbin_levinson`) and their Jacobian
    ``d rho / d pacf`` (K x K), by forward differentiation of the recursion."""
    K = len(pacf)
    rho, drho = np.zeros(K), np.zeros((K, K))
    phi, dphi = np.zeros(0), np.zeros((0, K))
    for k in range(1, K + 1):
        pk = pacf[k - 1]
        dpk = np.zeros(K)
        dpk[k - 1] = 1.0
        if k == 1:
            rho[0], drho[0] = pk, dpk
            phi, dphi = np.array([pk]), dpk[None, :].copy()
            continue
        prev, dprev = phi, dphi
        r_, dr_ = rho[: k - 1], drho[: k - 1]
        a = prev @ r_[::-1]
        da = dprev.T @ r_[::-1] + dr_[::-1].T @ prev
        b = 1.0 - prev @ r_
        db = -(dprev.T @ r_ + dr_.T @ prev)
        rho[k - 1] = a + pk * b
        drho[k - 1] = da + dpk * b + pk * db
        phi = np.concatenate([prev - pk * prev[::-1], [pk]])
        dphi = np.vstack([dprev - np.outer(prev[::-1], dpk) - pk * dprev[::-1], dpk[None, :]])
    return rho, drho


def _drho(t):
    """Derivative of ``_rho``: (1 + t^2)^(-3/2)."""
    return (1.0 + t * t) ** -1.5


def _toeplitz(first: np.ndarray) -> np.ndarray:
    T = len(first)
    idx = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    return first[idx]


class Structure:
    """Base class: a covariance structure over ``T`` ordered visits."""

    name = "?"
    linear_natural = False  # natural parametrisation linear in Sigma (no 2nd-derivative KR term)

    def __init__(self, T: int):
        self.T = T
        self._lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))

    # --- optimisation parametrisation --------------------------------------------------------
    n_theta: int

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def jac(self, theta: np.ndarray) -> np.ndarray:
        """dSigma/dtheta, shape (n_theta, T, T)."""
        raise NotImplementedError

    def grad(self, theta: np.ndarray, D: np.ndarray) -> np.ndarray:
        """Chain rule: given D = d f / d Sigma (elementwise), return d f / d theta."""
        return np.tensordot(self.jac(theta), D, axes=([1, 2], [0, 1]))

    def start(self, S: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- natural parametrisation ---------------------------------------------------------------
    def natural(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def sigma_nat(self, phi: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def natural_names(self) -> list[str]:
        raise NotImplementedError

    def jac_nat(self, phi: np.ndarray) -> np.ndarray:
        """dSigma/dphi, shape (m, T, T)."""
        raise NotImplementedError

    def hess_nat(self, phi: np.ndarray) -> np.ndarray:
        """d2 Sigma / dphi dphi, shape (m, m, T, T); zero for linear structures."""
        m = len(phi)
        return np.zeros((m, m, self.T, self.T))

    def cov_params(self, phi: np.ndarray) -> dict:
        return {}

    # helpers
    def _var_corr(self, S):
        v = np.clip(np.diag(S).copy(), 1e-8 * max(np.max(np.diag(S)), 1e-12), None)
        s = np.sqrt(v)
        R = S / np.outer(s, s)
        return v, R

    def _lag_corr(self, R):
        T = self.T
        return np.array([np.mean(np.diag(R, k)) for k in range(1, T)]) if T > 1 else np.zeros(0)


class US(Structure):
    """Unstructured: log-Cholesky optimisation, natural elements UN(i,j)."""

    name = "us"
    linear_natural = True

    def __init__(self, T):
        super().__init__(T)
        self.n_theta = T * (T + 1) // 2
        self._tril = np.tril_indices(T)  # row-wise lower: (0,0),(1,0),(1,1),(2,0)...
        self._diag_pos = np.array([i * (i + 1) // 2 + i for i in range(T)])

    def _L(self, theta):
        L = np.zeros((self.T, self.T))
        L[self._tril] = theta
        d = np.arange(self.T)
        L[d, d] = np.exp(L[d, d])
        return L

    def sigma(self, theta):
        L = self._L(theta)
        return L @ L.T

    def grad(self, theta, D):
        L = self._L(theta)
        Ds = D + D.T
        GL = Ds @ L  # d f / d L
        g = GL[self._tril].copy()
        g[self._diag_pos] *= np.diag(L)
        return g

    def jac(self, theta):
        L = self._L(theta)
        m = self.n_theta
        out = np.zeros((m, self.T, self.T))
        for k, (i, j) in enumerate(zip(*self._tril)):
            E = np.zeros((self.T, self.T))
            E[i, j] = L[i, j] if i == j else 1.0
            A = E @ L.T
            out[k] = A + A.T
        return out

    def start(self, S):
        return self.theta_from_sigma(S)

    def theta_from_sigma(self, S):
        L = np.linalg.cholesky(S)
        th = L[self._tril].copy()
        th[self._diag_pos] = np.log(np.diag(L))
        return th

    def natural(self, theta):
        return self.sigma(theta)[self._tril]

    def theta_from_natural(self, phi):
        return self.theta_from_sigma(self.sigma_nat(phi))

    def sigma_nat(self, phi):
        S = np.zeros((self.T, self.T))
        S[self._tril] = phi
        return S + np.tril(S, -1).T

    def jac_nat(self, phi):
        m = self.n_theta
        out = np.zeros((m, self.T, self.T))
        for k, (i, j) in enumerate(zip(*self._tril)):
            out[k, i, j] = 1.0
            out[k, j, i] = 1.0
        return out

    def natural_names(self):
        return [f"UN({i + 1},{j + 1})" for i, j in zip(*self._tril)]


class _Hetero(Structure):
    """Helper for structures with either one variance or T variances."""

    hetero = False

    def _nv(self):
        return self.T if self.hetero else 1

    def _scale(self, logv):
        v = np.exp(logv) if self.hetero else np.full(self.T, np.exp(logv[0]))
        s = np.sqrt(v)
        return np.outer(s, s)

    def _scale_nat(self, v):
        v = np.asarray(v, float)
        if not self.hetero:
            v = np.full(self.T, v[0])
        s = np.sqrt(np.clip(v, 0, None))
        return np.outer(s, s)

    def _start_var(self, v):
        return np.log(v) if self.hetero else np.array([np.log(np.mean(v))])

    def _var_names(self):
        return [f"Var({i + 1})" for i in range(self.T)] if self.hetero else ["Variance"]

    # --- analytic derivatives: Sigma = S(v) o R(c) ----------------------------------------------
    def _corr_derivs(self, c: np.ndarray, second: bool) -> tuple:
        """R(c), dR/dc (k, T, T) and, if ``second``, d2R/dc dc (k, k, T, T)."""
        raise NotImplementedError

    def _corr_from_theta(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correlation parameters c from theta's correlation part, and dc/dt (k x k)."""
        raise NotImplementedError

    def _scale_derivs(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """S(v) (``S_ab = sqrt(v_a v_b)``, or ``v`` everywhere when homogeneous), dS/dv (nv, T, T) and
        d2S/dv dv (nv, nv, T, T)."""
        T = self.T
        if not self.hetero:
            return v[0] * np.ones((T, T)), np.ones((1, T, T)), np.zeros((1, 1, T, T))
        f = np.sqrt(v)
        f1, f2 = 0.5 / f, -0.25 / (v * f)  # first and second derivatives of sqrt(v)
        i = np.arange(T)
        dS = np.zeros((T, T, T))
        dS[i, i, :] += f1[:, None] * f[None, :]  # dS_i[a, b] = [a = i] f1_a f_b + [b = i] f_a f1_b
        dS[i, :, i] += f1[:, None] * f[None, :]
        d2S = np.zeros((T, T, T, T))
        d2S[i, i, i, :] += f2[:, None] * f[None, :]  # [a = i = j] f2_a f_b
        d2S[i, i, :, i] += f2[:, None] * f[None, :]  # [b = i = j] f_a f2_b
        f11 = np.outer(f1, f1)
        d2S[i[:, None], i[None, :], i[:, None], i[None, :]] += f11  # [a = i, b = j] f1_a f1_b
        d2S[i[:, None], i[None, :], i[None, :], i[:, None]] += f11  # [b = i, a = j] f1_a f1_b
        return np.outer(f, f), dS, d2S

    def _vc_jac(self, v: np.ndarray, c: np.ndarray) -> np.ndarray:
        """dSigma/d(v, c), shape (nv + k, T, T)."""
        S, dS, _ = self._scale_derivs(v)
        R, dR, _ = self._corr_derivs(c, False)
        return np.concatenate([dS * R, S * dR])

    def _vc_hess(self, v: np.ndarray, c: np.ndarray) -> np.ndarray:
        """d2 Sigma / d(v, c) d(v, c), shape (nv + k, nv + k, T, T)."""
        S, dS, d2S = self._scale_derivs(v)
        R, dR, d2R = self._corr_derivs(c, True)
        nv, k = len(dS), len(dR)
        H = np.empty((nv + k, nv + k, self.T, self.T))
        H[:nv, :nv] = d2S * R
        cross = dS[:, None] * dR[None, :]
        H[:nv, nv:] = cross
        H[nv:, :nv] = cross.transpose(1, 0, 2, 3)
        H[nv:, nv:] = S * d2R
        return H

    def jac(self, theta):
        """dSigma/dtheta: log variances and the correlation map, chained to :meth:`_vc_jac`."""
        nv = self._nv()
        v = np.exp(theta[:nv])
        c, Jc = self._corr_from_theta(theta[nv:])
        J = self._vc_jac(v, c)
        return np.concatenate([J[:nv] * v[:, None, None], np.tensordot(Jc, J[nv:], axes=(0, 0))])

    def jac_nat(self, phi):
        """dSigma/dphi for the natural parameters (variances, correlations)."""
        nv = self._nv()
        return self._vc_jac(np.asarray(phi[:nv], float), np.asarray(phi[nv:], float))

    def hess_nat(self, phi):
        """d2 Sigma / dphi dphi (analytic); zero for the linear parametrisations."""
        if self.linear_natural:
            return super().hess_nat(phi)
        nv = self._nv()
        return self._vc_hess(np.asarray(phi[:nv], float), np.asarray(phi[nv:], float))


class CSfamily(_Hetero):
    name = "cs"

    def __init__(self, T, hetero=False):
        super().__init__(T)
        self.hetero = hetero
        self.name = "csh" if hetero else "cs"
        self.n_theta = self._nv() + 1
        self._lo = -1.0 / (T - 1) if T > 1 else -0.99

    def _r(self, t):
        return self._lo + (1 - self._lo) * _expit(t)

    def _corr(self, rho):
        return np.full((self.T, self.T), rho) + (1 - rho) * np.eye(self.T)

    def _corr_derivs(self, c, second):
        T = self.T
        return self._corr(c[0]), (np.ones((T, T)) - np.eye(T))[None], np.zeros((1, 1, T, T)) if second else None

    def _corr_from_theta(self, t):
        e = _expit(t[0])
        return np.array([self._r(t[0])]), np.array([[(1 - self._lo) * e * (1 - e)]])

    def jac_nat(self, phi):
        if self.hetero:
            return super().jac_nat(phi)
        return np.stack([np.ones((self.T, self.T)), np.eye(self.T)])  # d/dCS, d/dResidual

    def sigma(self, theta):
        nv = self._nv()
        return self._scale(theta[:nv]) * self._corr(self._r(theta[nv]))

    def start(self, S):
        v, R = self._var_corr(S)
        off = R[np.triu_indices(self.T, 1)]
        r = float(np.clip(np.mean(off) if off.size else 0.0, self._lo + 0.05, 0.95))
        return np.concatenate([self._start_var(v), [_logit((r - self._lo) / (1 - self._lo))]])

    def natural(self, theta):
        nv = self._nv()
        rho = self._r(theta[nv])
        if not self.hetero:
            s2 = np.exp(theta[0])
            return np.array([s2 * rho, s2 * (1 - rho)])
        return np.concatenate([np.exp(theta[:nv]), [rho]])

    @property
    def linear_natural(self):
        return not self.hetero

    def theta_from_natural(self, phi):
        if not self.hetero:
            s2 = phi[0] + phi[1]
            v, rho = np.array([s2]), phi[0] / s2
        else:
            v, rho = phi[: self.T], phi[self.T]
        p = np.clip((rho - self._lo) / (1 - self._lo), 1e-12, 1 - 1e-12)
        return np.concatenate([np.log(v), [np.log(p / (1 - p))]])

    def sigma_nat(self, phi):
        if not self.hetero:
            return phi[0] * np.ones((self.T, self.T)) + phi[1] * np.eye(self.T)
        return self._scale_nat(phi[: self.T]) * self._corr(phi[self.T])

    def natural_names(self):
        return ["CS", "Residual"] if not self.hetero else self._var_names() + ["CSH"]

    def cov_params(self, phi):
        if not self.hetero:
            s2 = phi[0] + phi[1]
            return {"sigma2": s2, "rho": phi[0] / s2}
        return {"variances": list(phi[: self.T]), "rho": phi[self.T]}


class AR1family(_Hetero):
    def __init__(self, T, hetero=False):
        super().__init__(T)
        self.hetero = hetero
        self.name = "ar1h" if hetero else "ar1"
        self.n_theta = self._nv() + 1

    def sigma(self, theta):
        nv = self._nv()
        return self._scale(theta[:nv]) * _rho(theta[nv]) ** self._lag

    def _corr_derivs(self, c, second):
        L, r = self._lag, c[0]
        dR = np.where(L >= 1, L * r ** np.maximum(L - 1, 0), 0.0)[None]
        d2R = np.where(L >= 2, L * (L - 1) * r ** np.maximum(L - 2, 0), 0.0)[None, None] if second else None
        return r**L, dR, d2R

    def _corr_from_theta(self, t):
        return np.array([_rho(t[0])]), np.array([[_drho(t[0])]])

    def start(self, S):
        v, R = self._var_corr(S)
        lc = self._lag_corr(R)
        r = lc[0] if lc.size else 0.0
        return np.concatenate([self._start_var(v), [_rho_inv(r)]])

    def natural(self, theta):
        nv = self._nv()
        return np.concatenate([np.exp(theta[:nv]), [_rho(theta[nv])]])

    def sigma_nat(self, phi):
        nv = self._nv()
        return self._scale_nat(phi[:nv]) * phi[nv] ** self._lag

    def theta_from_natural(self, phi):
        nv = self._nv()
        return np.concatenate([np.log(phi[:nv]), [_rho_inv_exact(phi[nv])]])

    def natural_names(self):
        return self._var_names() + ["AR(1)"]

    def cov_params(self, phi):
        nv = self._nv()
        if self.hetero:
            return {"variances": list(phi[:nv]), "rho": phi[nv]}
        return {"sigma2": phi[0], "rho": phi[1]}


class TOEPfamily(_Hetero):
    def __init__(self, T, hetero=False):
        super().__init__(T)
        self.hetero = hetero
        self.name = "toeph" if hetero else "toep"
        self.n_theta = self._nv() + T - 1

    def _corr(self, pacf_t):
        r = _durbin_levinson(_rho(pacf_t))
        return _toeplitz(np.concatenate([[1.0], r]))

    def _corr_derivs(self, c, second):
        T, k = self.T, self.T - 1
        dR = np.stack([(self._lag == j + 1).astype(float) for j in range(k)]) if k else np.zeros((0, T, T))
        return _toeplitz(np.concatenate([[1.0], c])), dR, np.zeros((k, k, T, T)) if second else None

    def _corr_from_theta(self, t):
        r, J = _durbin_levinson_jac(_rho(t))
        return r, J * _drho(t)[None, :]

    def jac_nat(self, phi):
        if self.hetero:
            return super().jac_nat(phi)
        return np.stack([(self._lag == j).astype(float) for j in range(self.T)])  # d/dTOEP(j + 1)

    def sigma(self, theta):
        nv = self._nv()
        return self._scale(theta[:nv]) * self._corr(theta[nv:])

    def start(self, S):
        v, R = self._var_corr(S)
        lc = self._lag_corr(R)
        pacf = np.zeros(self.T - 1)
        if lc.size:
            pacf[0] = lc[0]
        return np.concatenate([self._start_var(v), _rho_inv(pacf)])

    @property
    def linear_natural(self):
        return not self.hetero

    def natural(self, theta):
        nv = self._nv()
        r = _durbin_levinson(_rho(theta[nv:]))
        if not self.hetero:
            s2 = np.exp(theta[0])
            return np.concatenate([[s2], s2 * r])
        return np.concatenate([np.exp(theta[:nv]), r])

    def theta_from_natural(self, phi):
        if not self.hetero:
            v, r = np.array([phi[0]]), np.asarray(phi[1:]) / phi[0]
        else:
            v, r = phi[: self.T], np.asarray(phi[self.T :])
        return np.concatenate([np.log(v), _rho_inv_exact(_levinson(r))])

    def sigma_nat(self, phi):
        if not self.hetero:
            return _toeplitz(np.asarray(phi, float))
        nv = self._nv()
        return self._scale_nat(phi[:nv]) * _toeplitz(np.concatenate([[1.0], phi[nv:]]))

    def natural_names(self):
        if not self.hetero:
            return [f"TOEP({k + 1})" for k in range(self.T)]
        return self._var_names() + [f"TOEPH({k + 1})" for k in range(1, self.T)]

    def cov_params(self, phi):
        if not self.hetero:
            return {"sigma2": phi[0], "lag_correlations": list(np.asarray(phi[1:]) / phi[0])}
        return {"variances": list(phi[: self.T]), "lag_correlations": list(phi[self.T :])}


class ADfamily(_Hetero):
    def __init__(self, T, hetero=False):
        super().__init__(T)
        self.hetero = hetero
        self.name = "adh" if hetero else "ad"
        self.n_theta = self._nv() + T - 1

    def _corr_prod(self, rhos):
        T = self.T
        C = np.eye(T)
        for i in range(T):
            acc = 1.0
            for j in range(i + 1, T):
                acc = acc * rhos[j - 1]
                C[i, j] = C[j, i] = acc
        return C

    def sigma(self, theta):
        nv = self._nv()
        return self._scale(theta[:nv]) * self._corr_prod(_rho(theta[nv:]))

    def _corr_derivs(self, c, second):
        # R_ab = prod_{a <= m < b} c_m (a < b): dR_ab/dc_m = R[a, m] R[m + 1, b] when a <= m < b, and
        # d2R_ab/dc_m dc_l = R[a, m] R[m + 1, l] R[l + 1, b] when a <= m < l < b
        T, k = self.T, self.T - 1
        R = self._corr_prod(c)
        a = np.arange(T)
        dR = np.zeros((k, T, T))
        for m in range(k):
            up = np.where((a[:, None] <= m) & (a[None, :] >= m + 1), np.outer(R[:, m], R[m + 1, :]), 0.0)
            dR[m] = up + up.T
        d2R = None
        if second:
            d2R = np.zeros((k, k, T, T))
            for m in range(k):
                for l in range(m + 1, k):
                    up = np.where(
                        (a[:, None] <= m) & (a[None, :] >= l + 1), np.outer(R[:, m], R[l + 1, :]) * R[m + 1, l], 0.0
                    )
                    d2R[m, l] = d2R[l, m] = up + up.T
        return R, dR, d2R

    def _corr_from_theta(self, t):
        return _rho(t), np.diag(_drho(t))

    def start(self, S):
        v, R = self._var_corr(S)
        r = np.array([R[k, k + 1] for k in range(self.T - 1)])
        return np.concatenate([self._start_var(v), _rho_inv(r)])

    def natural(self, theta):
        nv = self._nv()
        return np.concatenate([np.exp(theta[:nv]), _rho(theta[nv:])])

    def sigma_nat(self, phi):
        nv = self._nv()
        return self._scale_nat(phi[:nv]) * self._corr_prod(phi[nv:])

    def theta_from_natural(self, phi):
        nv = self._nv()
        return np.concatenate([np.log(phi[:nv]), _rho_inv_exact(phi[nv:])])

    def natural_names(self):
        return self._var_names() + [f"Rho({k + 1},{k + 2})" for k in range(self.T - 1)]

    def cov_params(self, phi):
        nv = self._nv()
        key = "variances" if self.hetero else "sigma2"
        val = list(phi[:nv]) if self.hetero else phi[0]
        return {key: val, "rho": list(phi[nv:])}


def split_natural(structs: list[Structure], phi: np.ndarray) -> list[np.ndarray]:
    """Split the stacked natural parameters ``phi`` of several structures (one per covariance group)."""
    sizes = [len(s.natural_names()) for s in structs]
    return np.split(phi, np.cumsum(sizes)[:-1])


def make_structure(name: str, T: int) -> Structure:
    """Create the covariance structure ``name`` over ``T`` visits."""
    table = {
        "us": lambda: US(T),
        "cs": lambda: CSfamily(T, False),
        "csh": lambda: CSfamily(T, True),
        "ar1": lambda: AR1family(T, False),
        "ar1h": lambda: AR1family(T, True),
        "toep": lambda: TOEPfamily(T, False),
        "toeph": lambda: TOEPfamily(T, True),
        "ad": lambda: ADfamily(T, False),
        "adh": lambda: ADfamily(T, True),
    }
    if name not in table:
        raise ModelError(f"covariance structure {name!r} is not known; use one of {', '.join(table)}")
    return table[name]()
