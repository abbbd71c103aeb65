"""Derived outcomes: change from baseline, direction-aware improvement, responders and CPRA.

All functions work on the canonical long table of a cohort (``cohort.visits``) and the
instruments of its study; none of them re-reads or re-validates data.

Examples
--------
>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> flags = responder_flags(cohort, "pain")
>>> sorted(c for c in flags.columns if c.startswith("pain_resp"))
['pain_resp_mcid', 'pain_resp_moderate', 'pain_resp_substantial']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import PainstudyError

if TYPE_CHECKING:  # pragma: no cover
    from .cohort import Cohort
    from .study import StudySpec


def add_change_scores(visits: pd.DataFrame, spec: StudySpec, baselines: pd.DataFrame) -> pd.DataFrame:
    """Add ``{o}_baseline``, ``{o}_change``, ``{o}_improvement`` and ``{o}_pct_improvement``.

    ``baselines`` has one row per subject with a ``{o}_baseline`` column per outcome.
    ``{o}_change`` is the raw difference (value - baseline); ``{o}_improvement`` turns its sign
    so that positive means better for the instrument; ``{o}_pct_improvement`` is 100 times the
    relative improvement (:meth:`Instrument.relative_improvement`).
    """
    out = visits.merge(baselines, on="subject", how="left", validate="many_to_one")
    for name, o in spec.outcomes.items():
        for col, values in change_columns(name, o.instrument, out[f"{name}_baseline"], out[name]).items():
            out[col] = values
    return out


def change_columns(name: str, instrument, baseline, values) -> dict:
    """``{name}_change``, ``{name}_improvement`` and ``{name}_pct_improvement`` of ``values`` against
    ``baseline`` (arrays), for the outcome ``name`` measured by ``instrument``."""
    b, y = np.asarray(baseline, float), np.asarray(values, float)
    return {
        f"{name}_change": y - b,
        f"{name}_improvement": instrument.improvement(b, y),
        f"{name}_pct_improvement": 100.0 * instrument.relative_improvement(b, y),
    }


#: Relative tolerance of "at least the threshold" comparisons (a 30.0 % improvement stored as
#: 29.999999999 still reaches 30 %).
TOLERANCE = 1e-9


def reaches(values, thresholds) -> np.ndarray:
    """Boolean matrix (threshold x value): value >= threshold, with :data:`TOLERANCE`; NaN never reaches."""
    v = np.asarray(values, float)
    t = np.atleast_1d(np.asarray(thresholds, float))[:, None]
    return np.where(np.isnan(v), -np.inf, v)[None, :] >= t - TOLERANCE * np.maximum(1.0, np.abs(t))


def responder_flags(cohort: Cohort, outcome: str) -> pd.DataFrame:
    """The post-baseline visits with a 0/1 responder flag per threshold of the instrument.

    Columns ``{outcome}_resp_{name}``: relative thresholds compare the percent improvement,
    absolute ones the improvement in points (at least the threshold, see :func:`reaches`).
    Missing values stay missing (never counted as non-responders here; responder analyses decide
    how to treat them).
    """
    inst = cohort.spec.outcome(outcome).instrument
    v = cohort.visits
    if cohort.spec.baseline_visit is not None:
        v = v[v["visit"] != cohort.spec.baseline_visit.name]
    v = v.copy()
    for name, frac in inst.relative.items():
        pct = v[f"{outcome}_pct_improvement"]
        v[f"{outcome}_resp_{name}"] = (
            pd.Series(reaches(pct, 100 * frac)[0], index=v.index).astype(float).where(pct.notna())
        )
    for name, pts in inst.absolute.items():
        imp = v[f"{outcome}_improvement"]
        v[f"{outcome}_resp_{name}"] = pd.Series(reaches(imp, pts)[0], index=v.index).astype(float).where(imp.notna())
    return v


def cumulative_proportions(values, arm, thresholds, *, arms=None) -> pd.DataFrame:
    """The one CPRA computation: per arm and threshold, the share of values at least the threshold.

    Parameters
    ----------
    values : array-like
        Improvement per subject (percent of baseline or points); NaN counts in ``n`` and never
        reaches a threshold (a non-responder).
    arm : array-like
        The arm of each value.
    thresholds : array-like of float
    arms : sequence, optional
        Arms in the order of the table (default: order of appearance); arms without values are
        left out.

    Returns
    -------
    DataFrame
        ``arm, threshold, n, responders, proportion``.

    Examples
    --------
    >>> cumulative_proportions([10, 40, 60, float("nan")], ["a", "a", "b", "b"], [30, 50])
      arm  threshold  n  responders  proportion
    0   a       30.0  2           1         0.5
    1   a       50.0  2           0         0.0
    2   b       30.0  2           1         0.5
    3   b       50.0  2           1         0.5
    """
    values = np.asarray(values, float)
    arm = np.asarray(arm, dtype=object)
    thresholds = np.asarray(thresholds, float)
    order = list(dict.fromkeys(arm)) if arms is None else list(arms)
    rows = []
    for a in order:
        v = values[arm == a]
        if v.size == 0:
            continue
        for x, k in zip(thresholds, reaches(v, thresholds).sum(axis=1)):
            rows.append({"arm": a, "threshold": x, "n": int(v.size), "responders": int(k), "proportion": k / v.size})
    return pd.DataFrame(rows, columns=["arm", "threshold", "n", "responders", "proportion"])


def cpra(cohort: Cohort, outcome: str, visit: str, cutoffs=None) -> pd.DataFrame:
    """Cumulative proportion of responders across all cut-offs of percent improvement.

    For each arm and each cut-off c (default 0, 5, ..., 100 %), the proportion of subjects
    assessed at ``visit`` whose percent improvement is at least c (computed by
    :func:`cumulative_proportions`, as :func:`painstudy.models.responders.cpra`, which offers
    analysis populations and absolute thresholds). Returns a tidy table with columns
    ``arm, cutoff, n, responders, proportion``.
    """
    cohort.spec.outcome(outcome)
    if visit not in cohort.spec.visit_names:
        raise PainstudyError(f"study {cohort.spec.name!r} has no visit {visit!r}; visits: {cohort.spec.visit_names}")
    cutoffs = np.arange(0, 101, 5.0) if cutoffs is None else np.asarray(cutoffs, float)
    v = cohort.visits
    v = v[(v["visit"] == visit) & v[f"{outcome}_pct_improvement"].notna()]
    arms = [a.name for a in cohort.spec.arms]
    out = cumulative_proportions(v[f"{outcome}_pct_improvement"], v["arm"].astype(str), cutoffs, arms=arms)
    return out.rename(columns={"threshold": "cutoff"})
