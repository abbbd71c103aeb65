"""Helpers shared by the nonparametric and regression analyses of time to improvement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.design import check_columns

from .core import km_table

__all__ = [
    "check_data",
    "arms_present",
    "arm_rows",
    "arm_codes",
    "arm_arrays",
    "empty_arm_notes",
    "km_curve",
    "strata_columns",
    "stratum_codes",
]


def check_data(data: object) -> ImprovementData:
    """``data`` itself, once checked to be non-empty :class:`ImprovementData`."""
    if not isinstance(data, ImprovementData):
        raise ModelError(
            f"expected ImprovementData (from painstudy.time_to_improvement or "
            f"ImprovementData.from_table), got {type(data).__name__}"
        )
    if data.n == 0:
        raise ModelError("the improvement data has no subjects")
    return data


def arm_codes(data: ImprovementData) -> np.ndarray:
    """Each row's position in ``data.arms`` (-1 for a value that is not an arm).

    Read from the categorical codes when the arm column is categorical (as
    :meth:`ImprovementData.from_table` makes it), so a million rows cost no string comparison.
    """
    col = data.table["arm"]
    arms = list(data.arms)
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        lookup = np.array([arms.index(c) if c in arms else -1 for c in cats] + [-1], np.int64)
        return lookup[col.cat.codes.to_numpy()]
    return pd.Categorical(col.astype(str), categories=arms).codes.astype(np.int64)


def arms_present(data: ImprovementData) -> list[str]:
    """The arms with at least one subject, in study order."""
    codes = arm_codes(data)
    counts = np.bincount(codes[codes >= 0], minlength=len(data.arms))
    return [a for a, c in zip(data.arms, counts) if c > 0]


def empty_arm_notes(data: ImprovementData, present: list[str] | None = None) -> tuple[str, ...]:
    """A note naming the arms of the study without subjects (left out of every table);
    ``present`` is :func:`arms_present` when the caller has it."""
    present = arms_present(data) if present is None else present
    empty = [a for a in data.arms if a not in present]
    return (f"arm(s) without subjects, left out: {', '.join(empty)}",) if empty else ()


def arm_rows(data: ImprovementData, arm: str) -> pd.DataFrame:
    """The rows of ``data.table`` of one arm."""
    arms = list(data.arms)
    k = arms.index(arm) if arm in arms else -2
    return data.table.loc[arm_codes(data) == k]


def arm_arrays(data: ImprovementData, *columns: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Arm (with subjects, study order) -> the given columns of its rows as arrays.

    ``arm_arrays(data, "time", "event")["a"]`` is ``(time, event)`` of arm ``a``.
    """
    codes = arm_codes(data)
    cols = [data.table[c].to_numpy() for c in columns]
    out = {}
    for k, arm in enumerate(data.arms):
        rows = codes == k
        if rows.any():
            out[arm] = tuple(c[rows] for c in cols)
    return out


def km_curve(time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier curve of one group: one row per distinct time and time 0.

    Columns ``time, n_risk, n_event, n_censor, estimate, std_error``; ``std_error`` is the
    Greenwood standard error of log S (NaN once S reaches 0, as R's ``survfit``). See
    :func:`painstudy.models.survival.core.km_table`.
    """
    return km_table(np.asarray(time, float), np.asarray(event, int))


def strata_columns(data: ImprovementData, strata: str | Sequence[str] | None, what: str = "strata column") -> list[str]:
    """The strata (or cluster) columns, checked: known columns of the improvement table without missing
    values (a subject without a value is an error naming it, never dropped)."""
    if strata is None:
        return []
    cols = [strata] if isinstance(strata, str) else list(strata)
    tab = data.table
    check_columns(tab, cols, what=what, where="the improvement table")
    for c in cols:
        miss = tab[c].isna().to_numpy()
        if miss.any():
            raise ModelError(
                f"{what} {c!r} is missing for {int(miss.sum())} subject(s) (first: "
                f"{tab['subject'].iloc[int(np.flatnonzero(miss)[0])]!r}); every subject needs a "
                f"{'stratum' if what.startswith('strata') else 'value'}"
            )
    return cols


def stratum_codes(tab: pd.DataFrame, cols: list[str]) -> np.ndarray | None:
    """One integer per distinct combination of the strata columns (None without strata)."""
    if not cols:
        return None
    return tab.groupby(cols, sort=True, observed=True).ngroup().to_numpy(np.int64)
