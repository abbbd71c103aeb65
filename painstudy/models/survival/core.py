"""Numerical core of the nonparametric survival analyses, on plain arrays.

Everything here is O(n log n) (one sort or one hash factorisation of the times) and vectorised:
no Python loop runs over subjects, times or tied events. The functions know nothing of arms,
studies or tables; :mod:`~painstudy.models.survival.nonparametric` and
:mod:`~painstudy.models.survival.regression` build the results from them.

- :func:`factorize_sorted`, :func:`stable_order` -- the distinct times and each row's position;
- :func:`risk_table`, :func:`grouped_risk_tables` -- numbers at risk, events and censorings at
  each distinct time (of every group in one pass);
- :func:`km_table`, :func:`km_from_risk` -- Kaplan-Meier estimate with Greenwood's standard error
  of log S (R ``survfit``);
- :func:`step_quantile` -- a quantile of a step curve by R's ``quantile.survfit`` rule;
- :func:`logrank_chisq` -- k-sample log-rank statistic, optionally stratified (R ``survdiff``);
- :func:`concordance_counts` -- Harrell's concordance, the pairs counted from a time x score-rank
  histogram when it is small, else one bit of the time order at a time (a vectorised merge count);
- :func:`aalen_johansen` -- cumulative incidence of one cause with a competing one and its
  infinitesimal-jackknife standard error, from cumulative sums instead of a subjects x times matrix;
- :func:`innermost_intervals`, :func:`turnbull_em` -- Turnbull's NPMLE for interval-censored times,
  each subject's interval held as a range of innermost intervals (no subjects x intervals matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "RiskTable",
    "factorize_sorted",
    "stable_order",
    "risk_table",
    "grouped_risk_tables",
    "km_table",
    "km_from_risk",
    "step_quantile",
    "logrank_chisq",
    "concordance_counts",
    "aalen_johansen",
    "innermost_intervals",
    "turnbull_em",
]


def factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values in increasing order and each value's position among them.

    Many ties (a million rows on a grid of visit days, or few distinct linear predictors): a hash
    factorisation, O(n), then a sort of the distinct values. Mostly distinct values: one sort,
    O(n log n), which is then the faster of the two. The repeats in a sample of the values
    decide.

    Examples
    --------
    >>> factorize_sorted(np.array([8.0, 4.0, 8.0, 12.0]))
    (array([ 4.,  8., 12.]), array([1, 0, 1, 2]))
    """
    values = np.asarray(values)
    n = len(values)
    if n > 50_000:
        sample = values[:: n // 4096]
        m, repeats = len(sample), len(sample) - len(pd.unique(sample))
        # birthday estimate of the number of distinct values: m^2 / (2 * repeats in the sample)
        if repeats and m * m / (2 * repeats) < n / 8:
            codes, uniques = pd.factorize(values, sort=True)
            return np.asarray(uniques), codes.astype(np.int64)
    order = np.argsort(values)  # ties may come in any order: their code is the same
    ordered = values[order]
    new = np.empty(n, bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    codes = np.empty(n, np.int64)
    codes[order] = np.cumsum(new) - 1
    return ordered[new], codes


def stable_order(codes: np.ndarray, k: int) -> np.ndarray:
    """The stable sort order of integer codes ``0 .. k-1`` (a radix sort when ``k`` fits 16 bits)."""
    if k <= np.iinfo(np.uint16).max:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    return np.argsort(codes, kind="stable")


# ================================================================================ risk tables
@dataclass(frozen=True)
class RiskTable:
    """Counts at each distinct time (increasing): at risk just before, events, censorings."""

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray


def risk_table(time: np.ndarray, event: np.ndarray) -> RiskTable:
    """Numbers at risk (time >= t), events and censorings at every distinct time ``t``.

    Examples
    --------
    >>> rt = risk_table(np.array([4.0, 4.0, 8.0, 12.0]), np.array([1, 0, 1, 0]))
    >>> rt.time.tolist(), rt.n_risk.tolist(), rt.n_event.tolist(), rt.n_censor.tolist()
    ([4.0, 8.0, 12.0], [4, 2, 1], [1, 1, 0], [1, 0, 1])
    """
    ut, inv = factorize_sorted(np.asarray(time, float))
    exits = np.bincount(inv, minlength=len(ut))
    events = np.bincount(inv, weights=np.asarray(event, float), minlength=len(ut)).astype(np.int64)
    n_risk = len(inv) - np.concatenate([[0], np.cumsum(exits)[:-1]])
    return RiskTable(ut, n_risk.astype(np.int64), events, exits - events)


def grouped_risk_tables(
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray,
    k: int,
) -> list[RiskTable | None]:
    """:func:`risk_table` of each group ``0 .. k-1`` (None for a group without subjects).

    One factorisation of the times and two counts over all rows, instead of a pass per group.
    Rows with a group outside ``0 .. k-1`` are ignored.
    """
    time = np.asarray(time, float)
    group = np.asarray(group, np.int64)
    keep = (group >= 0) & (group < k)
    if not keep.all():
        time, event, group = time[keep], np.asarray(event)[keep], group[keep]
    ut, inv = factorize_sorted(time)
    cell = group * len(ut) + inv
    exits = np.bincount(cell, minlength=k * len(ut)).reshape(k, len(ut))
    events = np.bincount(cell, weights=np.asarray(event, float), minlength=k * len(ut)).reshape(k, len(ut))
    out: list[RiskTable | None] = []
    for g in range(k):
        present = exits[g] > 0
        if not present.any():
            out.append(None)
            continue
        e = exits[g][present]
        n_risk = e.sum() - np.concatenate([[0], np.cumsum(e)[:-1]])
        d = events[g][present].astype(np.int64)
        out.append(RiskTable(ut[present], n_risk.astype(np.int64), d, e - d))
    return out


def km_table(time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier curve of one group: one row per distinct time, and time 0.

    Columns ``time, n_risk, n_event, n_censor, estimate, std_error``; ``estimate`` is the product
    limit (as R, a cumulative product), ``std_error`` the Greenwood standard error of log S (NaN
    once S reaches 0, as R's ``survfit``). A row for time 0 (all at risk, S = 1) comes first unless
    the data have a time 0.
    """
    return km_from_risk(risk_table(time, event))


def km_from_risk(rt: RiskTable) -> pd.DataFrame:
    """:func:`km_table` from the group's :class:`RiskTable`."""
    n = rt.n_risk.astype(float)
    d = rt.n_event.astype(float)
    s = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
    var = np.cumsum(term)
    var[~np.isfinite(var)] = np.nan  # S reached 0: undefined, as R's survfit (NaN)
    if len(rt.time) == 0 or rt.time[0] > 0:  # time 0 first: everyone at risk, S = 1
        total = int(rt.n_risk[0]) if len(rt.time) else 0
        return pd.DataFrame(
            {
                "time": np.r_[0.0, rt.time],
                "n_risk": np.r_[total, rt.n_risk],
                "n_event": np.r_[0, rt.n_event],
                "n_censor": np.r_[0, rt.n_censor],
                "estimate": np.r_[1.0, s],
                "std_error": np.r_[0.0, np.sqrt(var)],
            }
        )
    return pd.DataFrame(
        {
            "time": rt.time,
            "n_risk": rt.n_risk,
            "n_event": rt.n_event,
            "n_censor": rt.n_censor,
            "estimate": s,
            "std_error": np.sqrt(var),
        }
    )


def step_quantile(x: np.ndarray, y: np.ndarray, p: float, tol: float = float(np.sqrt(np.finfo(float).eps))) -> float:
    """Quantile of a step curve by R's ``survival:::findq`` rule (``x`` times, ``y = 1 - S``).

    Repeated values of ``y`` keep their first occurrence (NaN counting as one value), then the
    NaN pairs go; the quantile is the first time ``y`` reaches ``p`` (midpoint of two times when
    ``y`` equals ``p`` over an interval, within ``tol``).

    Examples
    --------
    >>> step_quantile(np.array([0.0, 4.0, 8.0, 12.0]), np.array([0.0, 0.25, 0.5, 0.75]), 0.5)
    10.0
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    keep = np.zeros(len(y), bool)
    keep[np.unique(y, return_index=True, equal_nan=True)[1]] = True  # first of each value
    x, y = x[keep], y[keep]
    last_y = y[-1]
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    hit1 = np.flatnonzero(y + tol >= p)
    hit2 = np.flatnonzero(y - tol >= p)
    q = (x[hit1[0]] + x[hit2[0]]) / 2 if (hit1.size and hit2.size) else float("nan")
    if p == 0:
        q = x[0]
    if not np.isnan(last_y) and abs(p - last_y) < tol and hit1.size:
        q = (x[hit1[0]] + xmax) / 2
    return float(q)


# ================================================================================ log-rank
def logrank_chisq(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, k: int, strata: np.ndarray | None = None
) -> tuple[float, int, np.ndarray, np.ndarray]:
    """k-sample log-rank test (R ``survdiff``, rho = 0), optionally stratified.

    Parameters
    ----------
    time, event : arrays
    group : int array
        Group of each subject, ``0 .. k-1``.
    k : int
        Number of groups.
    strata : int array, optional
        Stratum of each subject: observed minus expected and its variance are summed over strata
        (as ``survdiff(Surv(time, event) ~ group + strata(s))``).

    Returns
    -------
    statistic, df, observed, expected
        As R: groups with no expected events are left out of the quadratic form, which uses the
        other groups but the first; ``df`` is the number of groups with expected events minus 1
        (the statistic is 0 when fewer than two groups have expected events).
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    group = np.asarray(group, np.int64)
    if strata is None:
        keys = [np.arange(len(time))]
    else:
        codes = pd.factorize(np.asarray(strata))[0]
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        keys = np.split(order, bounds)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    for rows in keys:
        ut, inv = factorize_sorted(time[rows])
        cell = inv * k + group[rows]
        size = len(ut) * k
        exits = np.bincount(cell, minlength=size).reshape(len(ut), k).astype(float)
        d_g = np.bincount(cell, weights=event[rows], minlength=size).reshape(len(ut), k)
        at_risk = np.cumsum(exits[::-1], axis=0)[::-1]  # n_tg: time >= t in group g
        d = d_g.sum(axis=1)
        hit = d > 0
        at_risk, d_g, d = at_risk[hit], d_g[hit], d[hit]
        n = at_risk.sum(axis=1)
        share = at_risk / n[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
        obs += d_g.sum(axis=0)
        exp += (share * d[:, None]).sum(axis=0)
        var += np.diag((share * c[:, None]).sum(axis=0)) - (share * c[:, None]).T @ share
    use = np.flatnonzero(exp > 0)
    df = len(use) - 1
    if len(use) < 2:
        return 0.0, max(df, 0), obs, exp
    diff = (obs - exp)[use][1:]
    vv = var[np.ix_(use, use)][1:, 1:]
    stat = float(diff @ np.linalg.solve(vv, diff))
    return stat, df, obs, exp


# ================================================================================ concordance
def concordance_counts(
    time: np.ndarray, event: np.ndarray, score: np.ndarray, *, time_codes: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[int, int, int]:
    """Harrell's concordance counts of a risk score (higher score = earlier event expected).

    A pair is comparable when the subject with the shorter time had the event; a subject censored
    at the time of an event is taken to outlive it (lifelines' and R's convention); two events at
    the same time are not comparable.

    ``time_codes`` is :func:`factorize_sorted` of ``time`` when the caller has it already.

    Returns
    -------
    correct, tied, pairs
        Comparable pairs in which the earlier event has the higher score, the same score, and
        all comparable pairs; the C index is ``(correct + tied / 2) / pairs``.

    Notes
    -----
    An event at time t is compared with the subjects censored at t and with every subject of a
    later time; the counts wanted are, for each event, those of its partners with a lower (or the
    same) score. When times x distinct scores is small (visit-based times, few distinct linear
    predictors) they come from a 2-d histogram of counts by time and score rank, with cumulative
    sums over later times and lower ranks: O(n + times x ranks). Otherwise the subjects fall into
    blocks in time order (at each time its events, then its censorings) and the dominance count is
    done one bit of the block number at a time, most significant first: among the subjects that
    share the higher bits (a group), those whose current bit is 1 are later than those whose bit
    is 0, and, kept in score order, each bit-0 event finds its lower-scored bit-1 partners by a
    cumulative count; each group is then split, stably, into its bit-0 and bit-1 subjects for the
    next bit. Every bit costs a few vectorised passes over the subjects: O(n log n). One int64 key
    per subject (score rank, block, event) is all that moves.

    Examples
    --------
    >>> concordance_counts(np.array([1.0, 2, 3, 4]), np.array([1, 1, 0, 1]), np.array([4.0, 3, 1, 2]))
    (5, 0, 5)
    """
    time = np.asarray(time, float)
    ev = np.asarray(event, np.int64) == 1
    n = len(time)
    if n < 2 or not ev.any():
        return 0, 0, 0
    _, t_code = factorize_sorted(time) if time_codes is None else time_codes
    n_times = int(t_code.max()) + 1
    exits = np.bincount(t_code, minlength=n_times)
    events = np.bincount(t_code, weights=ev, minlength=n_times)
    later = n - np.cumsum(exits) + (exits - events)  # after the events at t: censored at t, later times
    pairs = int(events @ later)
    _, rank = factorize_sorted(np.asarray(score, float))
    n_ranks = int(rank.max()) + 1
    if n_times * n_ranks <= HISTOGRAM_CELLS:
        correct, tied = _dominance_histogram(t_code, rank, ev, n_times, n_ranks)
    else:
        correct, tied = _dominance_bits(2 * t_code + (~ev), rank, ev)
    return correct, tied, pairs


#: Up to this many (time, score rank) cells the concordance counts come from a 2-d histogram
#: (built a slab of times at a time, at most HISTOGRAM_SLAB cells a slab), beyond from the bits.
HISTOGRAM_CELLS = 30_000_000
HISTOGRAM_SLAB = 4_000_000


def _dominance_histogram(
    t_code: np.ndarray, rank: np.ndarray, ev: np.ndarray, n_times: int, n_ranks: int
) -> tuple[int, int]:
    """Events' later subjects with a lower / the same score rank, from time x rank counts.

    The subjects later than the events at time t are those censored at t and all of later times.
    The times are taken from the last to the first, a slab at a time; ``after`` carries the counts
    by rank of the subjects of the times after the slab.
    """
    step = max(1, HISTOGRAM_SLAB // n_ranks)
    if step >= n_times:  # one slab: no need to sort the rows
        t, r, e = t_code, rank, ev
        slabs = [(0, n_times, slice(None))]
    else:
        order = stable_order(t_code, n_times)
        t, r, e = t_code[order], rank[order], ev[order]
        bounds = np.searchsorted(t, np.arange(n_times + 1))  # rows of each time
        slabs = [
            (max(0, hi - step), hi, slice(bounds[max(0, hi - step)], bounds[hi])) for hi in range(n_times, 0, -step)
        ]
    after = np.zeros(n_ranks, np.int64)
    correct = tied = 0
    for lo, hi, rows in slabs:
        cell = (t[rows] - lo) * n_ranks + r[rows]
        size = (hi - lo) * n_ranks
        total = np.bincount(cell, minlength=size).reshape(hi - lo, n_ranks)
        events = np.bincount(cell[e[rows]], minlength=size).reshape(hi - lo, n_ranks)
        later = np.cumsum(total[::-1], axis=0)[::-1] - events + after  # censored at t, later times
        below = np.cumsum(later, axis=1) - later  # ... with a lower rank
        correct += int((events * below).sum())
        tied += int((events * later).sum())
        after += total.sum(axis=0)
    return correct, tied


def _dominance_bits(block: np.ndarray, rank: np.ndarray, ev: np.ndarray) -> tuple[int, int]:
    """Events' later subjects with a lower / the same score rank, one bit of the block at a time."""
    n = len(block)
    nbits = max(int(block.max()).bit_length(), 1)
    key = (rank.astype(np.int64) << (nbits + 1)) | (block.astype(np.int64) << 1) | ev
    key.sort()  # score order
    idx = np.arange(n)
    ones = np.zeros(n + 1, np.int64)
    correct = tied = 0
    for level in range(nbits - 1, -1, -1):
        grp = (key >> (level + 2)) & ((1 << (nbits - level - 1)) - 1)  # block bits above this one
        bit = (key >> (level + 1)) & 1
        head = np.empty(n, bool)
        head[0] = True
        np.not_equal(grp[1:], grp[:-1], out=head[1:])
        run_head = head.copy()  # runs: same group, same score rank
        rr = key >> (nbits + 1)
        run_head[1:] |= rr[1:] != rr[:-1]
        np.cumsum(bit, out=ones[1:])  # ones[k]: bit-1 subjects before position k
        gs = np.flatnonzero(head)
        gstop = np.append(gs[1:], n)
        rs = np.flatnonzero(run_head)
        rstop = np.append(rs[1:], n)
        use = (key & 1) & (1 - bit)  # bit-0 events
        use_g = np.add.reduceat(use, gs)
        use_r = np.add.reduceat(use, rs)
        s_rs = int(ones[rs] @ use_r)
        correct += s_rs - int(ones[gs] @ use_g)
        tied += int(ones[rstop] @ use_r) - s_rs
        # stable partition of each group: bit-0 subjects, then bit-1 subjects
        gl = gstop - gs
        pos = np.where(
            bit == 0, idx - ones[:-1] + np.repeat(ones[gs], gl), ones[:-1] + np.repeat(gstop - ones[gstop], gl)
        )
        new_key = np.empty_like(key)
        new_key[pos] = key
        key = new_key
    return correct, tied


# ================================================================================ Aalen-Johansen
def aalen_johansen(time: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of cause 1 with cause 2 competing (0 = censored).

    One row per distinct time with an event of either cause, and time 0 first (unless an event
    happens at 0): ``time, n_risk, n_event, n_competing, n_censor, estimate, std_error,
    competing_estimate``. The standard error is the infinitesimal jackknife (R ``survfit`` for
    multi-state data).

    Notes
    -----
    The influence of subject i on F1(t_k) is ``sum_{l<=k} [S(t_l-) h1_l dlogS_i(t_l-) + S(t_l-)
    dh1_il]``; while i is at risk its terms are the same for every subject at risk, after it leaves
    they are ``C_i + K_i A_k`` with ``A_k`` the cumulative incidence increments. The variance
    ``sum_i infl_ik^2`` is therefore a sum over those at risk plus cumulative sums of ``C^2``,
    ``C K`` and ``K^2`` over those who left: O(n + times) instead of a subjects x times matrix.
    """
    time = np.asarray(time, float)
    status = np.asarray(status, np.int64)
    n_subj = len(time)
    first = pd.DataFrame(
        {
            "time": [0.0],
            "n_risk": [n_subj],
            "n_event": [0],
            "n_competing": [0],
            "n_censor": [0],
            "estimate": [0.0],
            "std_error": [0.0],
            "competing_estimate": [0.0],
        }
    )
    if not np.any(status > 0):
        return first
    all_t, inv = factorize_sorted(time)
    exits = np.bincount(inv, minlength=len(all_t))
    d1_all = np.bincount(inv, weights=(status == 1), minlength=len(all_t))
    d2_all = np.bincount(inv, weights=(status == 2), minlength=len(all_t))
    cens_all = exits - d1_all - d2_all
    risk_all = n_subj - np.concatenate([[0], np.cumsum(exits)[:-1]])
    is_ev = (d1_all + d2_all) > 0
    ut = all_t[is_ev]
    n, d1, d2 = risk_all[is_ev].astype(float), d1_all[is_ev], d2_all[is_ev]
    h1, h2 = d1 / n, d2 / n
    h = h1 + h2
    S = np.cumprod(1 - h)
    S_prev = np.concatenate([[1.0], S[:-1]])
    F1 = np.cumsum(S_prev * h1)
    F2 = np.cumsum(S_prev * h2)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(1 - h > 0, h / (n * (1 - h)), 0.0)  # dlogS of a subject at risk, no event
        c_own = np.where(1 - h > 0, 1 / (n * (1 - h)), 0.0)  # minus dlogS of its own event
    E = np.cumsum(e)
    E_prev = np.concatenate([[0.0], E[:-1]])
    a = S_prev * h1  # increments of F1
    b = S_prev / n
    G = np.cumsum(a * E_prev - b * h1)  # influence while at risk
    A = np.cumsum(a)
    # each subject: R_i = number of event times <= its time; own event at index R_i - 1
    R = np.searchsorted(ut, time, side="right")
    last = R - 1
    own = (status > 0) & (last >= 0)
    own &= ut[np.clip(last, 0, None)] == time
    li = np.clip(last, 0, None)
    K = np.where(last >= 0, E[li], 0.0) - np.where(own, c_own[li], 0.0)
    Cc = (
        np.where(last >= 0, G[li], 0.0)
        - K * np.where(last >= 0, A[li], 0.0)
        + np.where(own & (status == 1), b[li], 0.0)
    )
    T = len(ut)
    # subjects who left before index k: R_i <= k  ->  bincount by R_i, cumulative
    left_c2 = np.cumsum(np.bincount(R, weights=Cc * Cc, minlength=T + 1))[:T]
    left_ck = np.cumsum(np.bincount(R, weights=Cc * K, minlength=T + 1))[:T]
    left_k2 = np.cumsum(np.bincount(R, weights=K * K, minlength=T + 1))[:T]
    var = n * G**2 + d1 * (2 * G * b + b**2) + left_c2 + 2 * A * left_ck + A**2 * left_k2
    se = np.sqrt(np.maximum(var, 0.0))
    out = pd.DataFrame(
        {
            "time": ut,
            "n_risk": n.astype(int),
            "n_event": d1.astype(int),
            "n_competing": d2.astype(int),
            "n_censor": cens_all[is_ev].astype(int),
            "estimate": F1,
            "std_error": se,
            "competing_estimate": F2,
        }
    )
    if ut[0] > 0:
        out = pd.concat([first, out], ignore_index=True)
    return out


# ================================================================================ Turnbull
def innermost_intervals(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Turnbull's innermost intervals of observations ``(left, right]`` (``left == right``: exact).

    An innermost interval runs from a left end to the next right end with no end in between;
    at equal values an exact time's left end sorts first, then right ends, then open left ends.
    Returns an ``m x 2`` array (both columns increasing).
    """
    exact = left == right
    vals = np.concatenate([left, right])
    kind = np.concatenate([np.where(exact, -1, 1), np.zeros(len(right), np.int64)])
    is_left = np.concatenate([np.ones(len(left), bool), np.zeros(len(right), bool)])
    order = np.lexsort((kind, vals))
    v, lft = vals[order], is_left[order]
    start = np.flatnonzero(lft[:-1] & ~lft[1:])
    return np.column_stack([v[start], v[start + 1]]).astype(float)


def turnbull_em(
    left: np.ndarray,
    right: np.ndarray,
    q: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int, bool]:
    """Self-consistency EM for the masses of the innermost intervals ``q``.

    Each observation covers a contiguous range of innermost intervals (an open left end does not
    cover a point mass at that end); identical observations are counted once with their
    multiplicity. One iteration is O(observations + intervals).

    Returns
    -------
    p, iterations, converged
    """
    exact = left == right
    obs = pd.DataFrame({"l": left, "r": right, "x": exact})
    grouped = obs.groupby(["l", "r", "x"], sort=False).size()
    gl = grouped.index.get_level_values("l").to_numpy(float)
    gr = grouped.index.get_level_values("r").to_numpy(float)
    gx = grouped.index.get_level_values("x").to_numpy(bool)
    w = grouped.to_numpy(float)
    m = len(q)
    j1 = np.searchsorted(q[:, 0], gl, side="left")
    point = (j1 < m) & (q[np.minimum(j1, m - 1), 0] == gl) & (q[np.minimum(j1, m - 1), 1] == gl)
    j1 = np.where(~gx & point, j1 + 1, j1)
    j2 = np.searchsorted(q[:, 1], gr, side="right") - 1
    single = j1 == j2
    n = w.sum()
    p = np.full(m, 1.0 / m)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported after the loop)
        cum = np.concatenate([[0.0], np.cumsum(p)])
        denom = np.where(single, p[np.minimum(j1, m - 1)], cum[j2 + 1] - cum[j1])
        v = w / denom
        back = np.bincount(j1[single], weights=v[single], minlength=m)
        spread = np.bincount(j1[~single], weights=v[~single], minlength=m + 1)
        spread -= np.bincount(j2[~single] + 1, weights=v[~single], minlength=m + 1)
        back = back + np.cumsum(spread)[:m]
        new = p * back / n
        new /= new.sum()
        if np.max(np.abs(new - p)) < tol:
            p = new
            converged = True
            break
        p = new
    return p, it, converged
