"""The data of a reference-based imputation: one row per subject, one column per visit, and the events.

Long data (one row per subject and visit, visits without an outcome may lack their row) become a
:class:`WideData`: the outcome matrix ``y`` (subjects x visits, NaN where missing), the arm and the
subject-level covariates, and per subject the intercurrent event (ICE): the index of its first affected
visit and the strategy for the data from there on (``MAR``, ``JR``, ``CR``, ``CIR``, ``LMCF``).
Outcomes observed at or after a non-MAR event are set aside (imputed instead, as rbmi does) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.mixed.data import plain
from painstudy.models.mixed.formula import visit_levels

__all__ = ["STRATEGIES", "WideData", "wide_data", "strategy_name"]

#: Imputation strategies after an intercurrent event (rbmi's names): missing at random, jump to
#: reference, copy reference, copy increments in reference, last mean carried forward.
STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF")


@dataclass(frozen=True)
class WideData:
    """Subjects x visits.

    Attributes
    ----------
    subjects : ndarray
        Subject ids, in the order of the rows.
    visits : tuple
        Visits in time order.
    y : ndarray (n, T)
        The outcome, NaN where missing or set aside (observed at or after a non-MAR event).
    arm : ndarray (n,)
        The arm of each subject.
    covariates : DataFrame
        One row per subject: the subject-level columns (constant within subject).
    ice : ndarray of int (n,)
        First visit affected by the subject's event (``T``: no event).
    strategy : ndarray of str (n,)
        Strategy from ``ice`` on (``MAR`` for subjects without an event).
    set_aside : int
        Observed outcomes set aside because they follow a non-MAR event.
    visit_column, subject_column, arm_column, outcome : str
    """

    subjects: np.ndarray
    visits: tuple
    y: np.ndarray
    arm: np.ndarray
    covariates: pd.DataFrame
    ice: np.ndarray
    strategy: np.ndarray
    set_aside: int
    visit_column: str
    subject_column: str
    arm_column: str
    outcome: str

    @property
    def n(self) -> int:
        return len(self.subjects)

    @property
    def T(self) -> int:
        return len(self.visits)

    def available(self) -> np.ndarray:
        """Outcomes the imputation model may use: observed and not set aside (n, T)."""
        return ~np.isnan(self.y)

    def long(self) -> pd.DataFrame:
        """Every subject x visit as long rows (subject-level columns repeated), outcome NaN where missing."""
        n, T = self.y.shape
        out = self.covariates.loc[np.repeat(np.arange(n), T)].reset_index(drop=True)
        out[self.subject_column] = np.repeat(self.subjects, T)
        out[self.visit_column] = pd.Categorical(np.tile(np.array(self.visits, dtype=object), n), categories=self.visits)
        out[self.outcome] = self.y.reshape(-1)
        return out


def wide_data(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    covariates: list[str],
    events: pd.DataFrame | None,
    strategy: str,
    visit_order=None,
) -> WideData:
    """Check the long data and the events and lay them out per subject.

    ``events``: one row per subject with an event, columns ``subject``, ``visit`` (the first visit the
    event affects) and ``strategy``; ``None`` gives every subject whose data end early (a terminal run of
    missing visits) an event at its first missing visit with ``strategy``; other missing values are MAR.
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for c in dict.fromkeys([outcome, subject, visit, arm, *covariates]):
        if c not in data.columns:
            raise ModelError(f"column {c!r} is not in the data (columns: {list(data.columns)})")
    strategy = strategy_name(strategy, "strategy")
    vlev, _ = visit_levels(data[visit], visit, visit_order)
    T = len(vlev)
    subj_codes, subjects = pd.factorize(data[subject], sort=False)
    if (subj_codes < 0).any():
        raise ModelError(f"column {subject!r}: a row has no subject id")
    vcode = data[visit].map({v: i for i, v in enumerate(vlev)}).to_numpy()
    if pd.isna(vcode).any():
        i = int(np.flatnonzero(pd.isna(vcode))[0])
        raise ModelError(f"column {visit!r}, row {data.index[i]!r}: missing visit")
    vcode = vcode.astype(np.int64)
    n = len(subjects)
    pair = subj_codes * T + vcode
    counts = np.bincount(pair, minlength=n * T)
    if (counts > 1).any():
        j = int(np.flatnonzero(counts > 1)[0])
        raise ModelError(f"subject {plain(subjects[j // T])!r} has more than one row at visit {plain(vlev[j % T])!r}")
    y = np.full(n * T, np.nan)
    y[pair] = pd.to_numeric(data[outcome], errors="raise").to_numpy(float)
    y = y.reshape(n, T)
    # subject-level columns: constant within subject, never missing
    level_cols = list(dict.fromkeys([arm, *covariates]))
    first = pd.Series(np.arange(len(data))).groupby(subj_codes).first().to_numpy()
    cov = data.iloc[first][level_cols].reset_index(drop=True)
    for c in level_cols:
        col = data[c]
        if col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise ModelError(
                f"column {c!r}: subject {plain(data[subject].iloc[i])!r} has no value (row {data.index[i]!r}); arm and "
                f"covariates of a reference-based imputation must be known for every subject (baseline values)"
            )
        per = col.groupby(subj_codes).nunique()
        if (per > 1).any():
            j = int(per.index[np.flatnonzero(per.to_numpy() > 1)[0]])
            raise ModelError(
                f"column {c!r} varies within subject {plain(subjects[j])!r}: arm and covariates must be subject-level "
                f"(baseline) values to be carried to the visits that are imputed"
            )
    ice = np.full(n, T, np.int64)
    strat = np.array(["MAR"] * n, dtype=object)
    observed = ~np.isnan(y)
    if events is None:
        if strategy != "MAR":
            last = np.where(observed.any(axis=1), T - 1 - np.argmax(observed[:, ::-1], axis=1), -1)
            early = last < T - 1
            ice[early] = last[early] + 1
            strat[early] = strategy
    else:
        ice, strat = _events(events, subjects, vlev, subject, visit, ice, strat)
    after = np.arange(T)[None, :] >= ice[:, None]
    drop = observed & after & (strat != "MAR")[:, None]
    y[drop] = np.nan
    return WideData(
        subjects=np.asarray(subjects),
        visits=tuple(vlev),
        y=y,
        arm=cov[arm].to_numpy(),
        covariates=cov,
        ice=ice,
        strategy=strat,
        set_aside=int(drop.sum()),
        visit_column=visit,
        subject_column=subject,
        arm_column=arm,
        outcome=outcome,
    )


def strategy_name(value, where: str = "strategy") -> str:
    """The strategy's name in capitals, or the error naming where it came from."""
    s = str(value).upper()
    if s not in STRATEGIES:
        raise ModelError(f"{where}: unknown strategy {value!r}; use one of {', '.join(STRATEGIES)}")
    return s


def _events(events, subjects, vlev, subject, visit, ice, strat):
    if not isinstance(events, pd.DataFrame):
        raise ModelError(f"events must be a DataFrame with columns {subject!r}, {visit!r} and 'strategy'")
    for c in (subject, visit, "strategy"):
        if c not in events.columns:
            raise ModelError(f"events: column {c!r} is missing (columns: {list(events.columns)})")
    pos = {s: i for i, s in enumerate(subjects)}
    vpos = {str(v): i for i, v in enumerate(vlev)}
    seen = set()
    for k in range(len(events)):
        s, v = plain(events[subject].iloc[k]), plain(events[visit].iloc[k])
        where = f"events, row {k + 1}"
        if s not in pos:
            raise ModelError(f"{where}: subject {s!r} is not in the data")
        if s in seen:
            raise ModelError(f"{where}: subject {s!r} has more than one event; give the first one only")
        seen.add(s)
        if str(v) not in vpos:
            raise ModelError(f"{where}: visit {v!r} is not one of the visits {[str(x) for x in vlev]}")
        i = pos[s]
        ice[i] = vpos[str(v)]
        strat[i] = strategy_name(events["strategy"].iloc[k], where)
    return ice, strat
