"""Helpers shared by the nonparametric and regression analyses of time to improvement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData

__all__ = ["check_data", "arms_present", "arm_rows", "empty_arm_notes", "km_curve"]


def check_data(data: object) -> ImprovementData:
    """``data`` itself, once checked to be non-empty :class:`ImprovementData`."""
    if not isinstance(data, ImprovementData):
        raise ModelError(
            f"expected ImprovementData (from painstudy.time_to_improvement or "
            f"ImprovementData.from_table), got {type(data).__name__}")
    if data.n == 0:
        raise ModelError("the improvement data has no subjects")
    return data


def arms_present(data: ImprovementData) -> list[str]:
    """The arms with at least one subject, in study order."""
    present = set(data.table["arm"].dropna().astype(str))
    return [a for a in data.arms if a in present]


def empty_arm_notes(data: ImprovementData) -> tuple[str, ...]:
    """A note naming the arms of the study without subjects (left out of every table)."""
    empty = [a for a in data.arms if a not in arms_present(data)]
    return (f"arm(s) without subjects, left out: {', '.join(empty)}",) if empty else ()


def arm_rows(data: ImprovementData, arm: str) -> pd.DataFrame:
    """The rows of ``data.table`` of one arm."""
    tab = data.table
    return tab.loc[tab["arm"].astype(str) == arm]


def km_curve(time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier curve of one group (lifelines): one row per distinct time and time 0.

    Columns ``time, n_risk, n_event, n_censor, estimate, std_error``; ``std_error`` is the
    Greenwood standard error of log S (NaN once S reaches 0, as R's ``survfit``).
    """
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, event_observed=event)
    et = kmf.event_table
    n = et["at_risk"].to_numpy(float)
    d = et["observed"].to_numpy(float)
    c = et["censored"].to_numpy(float)
    t = et.index.to_numpy(float)
    s = kmf.survival_function_.reindex(et.index).iloc[:, 0].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
    var = np.cumsum(term)
    var[~np.isfinite(var)] = np.nan  # S reached 0: undefined, as R's survfit (NaN)
    keep = (t > 0) | (d > 0) | (c > 0)
    out = pd.DataFrame({"time": t, "n_risk": n.astype(int), "n_event": d.astype(int),
                        "n_censor": c.astype(int), "estimate": s, "std_error": np.sqrt(var)})
    out = out.loc[keep].reset_index(drop=True)
    if out.empty or out["time"].iloc[0] > 0:
        first = pd.DataFrame({"time": [0.0], "n_risk": [len(time)], "n_event": [0],
                              "n_censor": [0], "estimate": [1.0], "std_error": [0.0]})
        out = pd.concat([first, out], ignore_index=True)
    return out
