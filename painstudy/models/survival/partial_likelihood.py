"""Cox partial likelihood by cumulative sums over sorted risk sets (Efron or Breslow ties).

The rows are sorted by time once. At a coefficient vector the risk-set sums
``S0(t) = sum_{T_i >= t} w_i`` and ``S1(t) = sum w_i x_i`` (``w = exp(x'b)``) are reverse
cumulative sums of per-time sums, and the ``d`` events tied at ``t`` have their own sums ``D0, D1``.
Efron's approximation gives the r-th tied event (r = 0 .. d-1, ``f = r/d``) the denominator
``s_r = S0 - f D0`` and the mean ``m_r = (S1 - f D1) / s_r`` (Breslow: ``f = 0``). Everything the
likelihood, score and information need is then a per-time combination of ``S1, D1`` and a few
scalar sums over the tied events -- ``sum 1/s_r, sum f/s_r, sum 1/s_r^2, sum f/s_r^2,
sum f^2/s_r^2`` -- so no per-event vector and no per-time p x p matrix is ever formed:

- score ``U = sum_events x - sum_t (S1 a_t - D1 b_t)`` with ``a_t = sum 1/s_r``, ``b_t = sum f/s_r``;
- information ``sum_t sum_r [(S2 - f D2)/s_r - m_r m_r']`` where the first part is
  ``X' diag(w_i A(T_i) - event_i w_i b(T_i)) X`` (``A`` = cumulative sum of ``a`` up to ``T_i``)
  and the second ``S1' diag(sum 1/s^2) S1 - S1' diag(sum f/s^2) D1 - (its transpose)
  + D1' diag(sum f^2/s^2) D1`` over event times.

A Newton step costs a few passes over the n x p data: the fit is O(n log n) (one sort) plus
O(n p^2) per iteration. :meth:`PartialLikelihood.weighted` gives the score and information with a
weight per event time; the proportional-hazards score test (:func:`zph_test`, R ``cox.zph``)
uses weights 1, g(t) and g(t)^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from painstudy.errors import ModelError

from .core import factorize_sorted, stable_order

__all__ = [
    "TIES",
    "CoxFit",
    "PartialLikelihood",
    "StratifiedPartialLikelihood",
    "StratifiedTerms",
    "Terms",
    "fit_cox",
    "zph_test",
    "robust_covariance",
]

#: Approximations for tied event times (R ``coxph`` ties =).
TIES = ("efron", "breslow")


@dataclass(frozen=True)
class Terms:
    """What one coefficient vector gives, shared by the log-likelihood, score and information.

    Per-time arrays are over the event times only (``S1, D1``: event times x p; the scalar sums
    over each time's tied events: ``a = sum 1/s``, ``b = sum f/s``, ``a2 = sum 1/s^2``,
    ``b2 = sum f/s^2``, ``c2 = sum f^2/s^2``).
    """

    beta: np.ndarray
    w: np.ndarray
    S1: np.ndarray
    D1: np.ndarray
    a: np.ndarray
    b: np.ndarray
    a2: np.ndarray
    b2: np.ndarray
    c2: np.ndarray
    loglik: float


@dataclass(frozen=True)
class CoxFit:
    """Maximum partial likelihood estimate: coefficients, covariance, log-likelihood.

    ``terms``, ``score`` and ``information`` are those of the last Newton iterate (whose step to
    ``beta`` was below the tolerance), from which ``cov`` comes; :func:`zph_test` reuses them.
    """

    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    loglik_null: float
    iterations: int
    converged: bool
    terms: Terms
    score: np.ndarray
    information: np.ndarray


class PartialLikelihood:
    """Cox partial likelihood of ``X`` (n x p) for times and 0/1 events.

    Parameters
    ----------
    X : array (n, p)
    time, event : arrays (n,)
    ties : {"efron", "breslow"}
    time_codes : (distinct times, codes), optional
        :func:`~painstudy.models.survival.core.factorize_sorted` of ``time``, when known.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> pl = PartialLikelihood(X, np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 0, 1]))
    >>> round(pl.loglik(np.zeros(1)), 6)  # -log 4 - log 3 - log 1
    -2.484907
    """

    def __init__(
        self,
        X: np.ndarray,
        time: np.ndarray,
        event: np.ndarray,
        ties: str = "efron",
        *,
        time_codes: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        if ties not in TIES:
            raise ModelError(f"ties must be one of {', '.join(map(repr, TIES))}, got {ties!r}")
        X = np.asarray(X, float)
        event = np.asarray(event, np.int64) == 1
        ut, inv = factorize_sorted(np.asarray(time, float)) if time_codes is None else time_codes
        order = stable_order(inv, len(ut))
        #: the rows in time order (positions in the caller's rows)
        self.order = order
        self.ties = ties
        #: the distinct times, and at each: the subjects leaving (events + censored), the events
        self.times = ut
        self.exits = np.bincount(inv, minlength=len(ut))
        self.events_at = np.bincount(inv, weights=event, minlength=len(ut)).astype(np.int64)
        # rows in time order, centred columns (as R: only for the numerical range), column-major;
        # gathered column by column (much faster than fancy-indexing the rows of a 2-d array)
        p = X.shape[1]
        self.X = np.empty((len(inv), p), order="F")
        for k in range(p):
            col = np.ascontiguousarray(X[:, k])
            np.take(col, order, out=self.X[:, k])
            self.X[:, k] -= col.mean()
        self.event = event[order]
        self.starts = np.concatenate([[0], np.cumsum(self.exits)[:-1]])
        #: the distinct times with events (positions among all distinct times), their event counts
        self.event_times = np.flatnonzero(self.events_at > 0)
        self.d = self.events_at[self.event_times]
        #: the event rows (in time order), where each event time's rows start among them
        self.x_events = np.empty((int(self.d.sum()), p), order="F")
        for k in range(p):
            np.compress(self.event, self.X[:, k], out=self.x_events[:, k])
        self.event_starts = np.concatenate([[0], np.cumsum(self.d)[:-1]])
        self.risk_start = self.starts[self.event_times]  # first row of each event time
        self.single = bool(np.all(self.d == 1))  # no tied events
        self.event_group = np.repeat(np.arange(len(self.d)), self.d)  # event time of each event row
        self.x_event_time_sums = self._event_sums(self.x_events)
        self.x_event_sum = self.x_event_time_sums.sum(axis=0)
        #: Efron's fraction r/d of each event's term (r = 0 .. d-1 among the d tied events)
        n_terms = int(self.d.sum())
        r = np.arange(n_terms) - np.repeat(self.event_starts, self.d)
        self.f = r / np.repeat(self.d, self.d)
        self.tied = ties == "efron" and bool(np.any(self.d > 1))
        #: for each row (time order): the number of event times <= its time
        self.n_event_times_upto = np.repeat(np.cumsum(self.events_at > 0), self.exits)

    def _risk_sums(self, per_row: np.ndarray) -> np.ndarray:
        """Sum over the risk set (time >= t) at each event time t: a reverse cumulative sum over
        the rows (in time order) read at the first row of each event time (column by column)."""
        at = len(per_row) - 1 - self.risk_start
        if per_row.ndim == 1:
            return np.cumsum(per_row[::-1])[at]
        out = np.empty((len(at), per_row.shape[1]), order="F")
        for j in range(per_row.shape[1]):
            out[:, j] = np.cumsum(per_row[::-1, j])[at]
        return out

    def _event_sums(self, per_event: np.ndarray) -> np.ndarray:
        """Sum over the events of each event time (event rows in time order)."""
        if self.single:
            return per_event
        if len(self.d) * 16 <= len(per_event):  # few, large groups
            return np.add.reduceat(per_event, self.event_starts, axis=0)
        k = len(self.d)
        if per_event.ndim == 1:
            return np.bincount(self.event_group, weights=per_event, minlength=k)
        out = np.empty((k, per_event.shape[1]), order="F")
        for j in range(per_event.shape[1]):
            out[:, j] = np.bincount(self.event_group, weights=per_event[:, j], minlength=k)
        return out

    def terms(self, beta: np.ndarray) -> Terms:
        """Risk-set sums and tied-event sums at ``beta``."""
        beta = np.asarray(beta, float)
        eta = self.X @ beta
        shift = float(eta.max())  # the partial likelihood is invariant to a shift
        w = np.exp(eta - shift)
        S0 = self._risk_sums(w)
        S1 = self._risk_sums(self.X * w[:, None])
        we = w[self.event]
        D0 = self._event_sums(we)
        D1 = self._event_sums(self.x_events * we[:, None])
        d = self.d
        if self.tied:  # Efron: the r-th of d tied events has denominator S0 - (r/d) D0
            f = self.f
            s = np.repeat(S0, d) - f * np.repeat(D0, d)
            inv = 1.0 / s
            finv = f * inv
            sums = [self._event_sums(v) for v in (inv, finv, inv * inv, finv * inv, finv * finv)]
            log_s = float(np.log(s).sum())
        else:  # Breslow, or no ties: every event at t has denominator S0(t)
            zero = np.zeros(len(d))
            sums = [d / S0, zero, d / S0**2, zero, zero]
            log_s = float(d @ np.log(S0))
        loglik = float(self.x_event_sum @ beta) - shift * float(d.sum()) - log_s
        return Terms(beta, w, S1, D1, *sums, loglik)

    def loglik(self, beta: np.ndarray) -> float:
        """Log partial likelihood at ``beta``."""
        return self.terms(beta).loglik

    def weighted(self, t: Terms, c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Score and information with weight ``c[k]`` on the terms of the k-th event time.

        ``c = None`` is weight 1 (the ordinary score and observed information).
        """
        c = np.ones(len(self.event_times)) if c is None else np.asarray(c, float)
        a, b = c * t.a, c * t.b
        score = c @ self.x_event_time_sums - (a @ t.S1 - b @ t.D1)
        upto = self.n_event_times_upto
        A = np.concatenate([[0.0], np.cumsum(a)])[upto]
        B = np.concatenate([[0.0], b])[upto]
        row = t.w * A
        row[self.event] -= (t.w * B)[self.event]
        info = (self.X * row[:, None]).T @ self.X
        cross = (t.S1 * (c * t.b2)[:, None]).T @ t.D1
        info -= (t.S1 * (c * t.a2)[:, None]).T @ t.S1 - cross - cross.T + (t.D1 * (c * t.c2)[:, None]).T @ t.D1
        return score, (info + info.T) / 2

    def score_residuals(self, t: Terms) -> np.ndarray:
        """Score residuals (n x p, in the caller's row order): each subject's share of the score.

        For subject i, ``delta_i (x_i - mbar(T_i)) - sum_{t <= T_i} sum_r c_ir w_i (x_i - m_r) / s_r`` over the
        event times t up to its time and the r-th of the d tied events there (Efron: denominator ``s_r``,
        mean ``m_r``; ``c_ir = 1 - r/d`` for the subject's own tied events, 1 otherwise; ``mbar`` the mean of
        the ``m_r``; Breslow: r/d = 0). They add up to the score; R ``residuals(fit, "score")``.
        """
        upto = self.n_event_times_upto
        k_row = upto - 1  # the last event time at or before each row's time (-1: none)
        mbar = (t.S1 * t.a[:, None] - t.D1 * t.b[:, None]) / self.d[:, None]
        risk_mean = t.S1 * t.a2[:, None] - t.D1 * t.b2[:, None]  # sum_r m_r / s_r
        own_mean = t.S1 * t.b2[:, None] - t.D1 * t.c2[:, None]  # sum_r f_r m_r / s_r
        zero = np.zeros((1, self.X.shape[1]))
        A = np.concatenate([[0.0], np.cumsum(t.a)])[upto]
        B = np.concatenate([zero, np.cumsum(risk_mean, axis=0)])[upto]
        res = -t.w[:, None] * (self.X * A[:, None] - B)
        ev = self.event
        k = k_row[ev]
        res[ev] += self.X[ev] - mbar[k] + t.w[ev, None] * (self.X[ev] * t.b[k][:, None] - own_mean[k])
        out = np.empty_like(res)
        out[self.order] = res
        return out


@dataclass(frozen=True)
class StratifiedTerms:
    """:class:`Terms` of each stratum at one coefficient vector; ``loglik`` is their sum."""

    beta: np.ndarray
    parts: tuple
    loglik: float


class StratifiedPartialLikelihood:
    """The stratified Cox partial likelihood: the sum of one partial likelihood per stratum (a baseline
    hazard of its own in each), as R ``coxph(... + strata(s))``.

    Same interface as :class:`PartialLikelihood` for :func:`fit_cox` (``terms``, ``weighted``,
    ``loglik``) and :meth:`score_residuals`.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> t, e = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 1, 1])
    >>> one = StratifiedPartialLikelihood(X, t, e, np.zeros(4, int))
    >>> bool(np.isclose(one.loglik(np.ones(1)), PartialLikelihood(X, t, e).loglik(np.ones(1))))
    True
    """

    def __init__(self, X: np.ndarray, time: np.ndarray, event: np.ndarray, strata: np.ndarray, ties: str = "efron"):
        X = np.asarray(X, float)
        strata = np.asarray(strata)
        self.X = X
        self.ties = ties
        self.rows = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        time, event = np.asarray(time, float), np.asarray(event)
        self.parts = [PartialLikelihood(X[r], time[r], event[r], ties) for r in self.rows]

    def terms(self, beta: np.ndarray) -> StratifiedTerms:
        parts = tuple(pl.terms(beta) for pl in self.parts)
        return StratifiedTerms(np.asarray(beta, float), parts, float(sum(p.loglik for p in parts)))

    def loglik(self, beta: np.ndarray) -> float:
        return self.terms(beta).loglik

    def weighted(self, t: StratifiedTerms, c: None = None) -> tuple[np.ndarray, np.ndarray]:
        """Score and observed information, summed over the strata (no per-time weights)."""
        p = self.X.shape[1]
        score, info = np.zeros(p), np.zeros((p, p))
        for pl, tt in zip(self.parts, t.parts):
            if tt.S1.shape[0]:  # a stratum without events adds nothing
                u, i = pl.weighted(tt)
                score += u
                info += i
        return score, info

    def score_residuals(self, t: StratifiedTerms) -> np.ndarray:
        out = np.zeros_like(self.X)
        for rows, pl, tt in zip(self.rows, self.parts, t.parts):
            if tt.S1.shape[0]:
                out[rows] = pl.score_residuals(tt)
        return out


def robust_covariance(residuals: np.ndarray, cov: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Grouped sandwich covariance ``D' D``, ``D`` the cluster sums of the dfbeta residuals
    (score residuals times ``cov``), as R ``coxph(..., cluster = g)`` (no small-sample factor)."""
    dfbeta = residuals @ cov
    _, g = np.unique(np.asarray(cluster), return_inverse=True)
    D = np.zeros((int(g.max()) + 1, dfbeta.shape[1]))
    np.add.at(D, g, dfbeta)
    return D.T @ D


def fit_cox(pl: PartialLikelihood, *, max_iter: int = 100, tol: float = 1e-10) -> CoxFit:
    """Newton-Raphson from 0 with step halving, to the maximum of the partial likelihood.

    Stops when the Newton step is below ``tol`` (relative to the coefficients; the step is still
    taken, the information and log-likelihood are those before it), or when the log-likelihood
    can no longer increase (a monotone likelihood ends that way, with huge coefficients and
    standard errors that the caller reports).
    """
    p = pl.X.shape[1]
    beta = np.zeros(p)
    t = pl.terms(beta)
    ll0 = t.loglik
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported after the loop)
        score, info = pl.weighted(t)
        step = _solve(info, score)
        if np.max(np.abs(step)) <= tol * max(1.0, float(np.max(np.abs(beta)))):
            beta = beta + step
            converged = True
            break
        new_t = pl.terms(beta + step)
        halvings = 0
        while not (new_t.loglik >= t.loglik - 1e-12 * abs(t.loglik)) and halvings < 40:
            step = step / 2
            new_t = pl.terms(beta + step)
            halvings += 1
        beta = beta + step
        gain = new_t.loglik - t.loglik
        t = new_t
        if abs(gain) <= 1e-15 * max(1.0, abs(t.loglik)):
            converged = True  # no further increase possible (optimum or monotone likelihood)
            score, info = pl.weighted(t)
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.inf)
    return CoxFit(
        beta=beta,
        cov=cov,
        loglik=t.loglik,
        loglik_null=ll0,
        iterations=it,
        converged=converged,
        terms=t,
        score=score,
        information=info,
    )


def _solve(info: np.ndarray, score: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, score, rcond=None)[0]


def zph_test(
    pl: PartialLikelihood, t: Terms, g: np.ndarray, *, score_info: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Score and information of the model extended by ``x * g(t)``, at ``(t.beta, 0)``.

    ``t`` is :meth:`PartialLikelihood.terms` at the fitted coefficients (or
    :attr:`CoxFit.terms`); ``g`` holds the (centred, transformed) time of each event time of
    ``pl`` (``pl.event_times``); ``score_info`` is ``pl.weighted(t)`` when known (as
    :attr:`CoxFit.score`, :attr:`CoxFit.information`). Returns the 2p score vector and the
    2p x 2p information, as R ``cox.zph`` (survival >= 3.0).
    """
    p = pl.X.shape[1]
    u1, i11 = pl.weighted(t) if score_info is None else score_info
    ug, i12 = pl.weighted(t, g)
    _, i22 = pl.weighted(t, g * g)
    score = np.concatenate([u1, ug])
    info = np.zeros((2 * p, 2 * p))
    info[:p, :p], info[:p, p:], info[p:, :p], info[p:, p:] = i11, i12, i12.T, i22
    return score, info
