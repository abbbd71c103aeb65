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


def add_change_scores(visits: pd.DataFrame, spec: "StudySpec", baselines: pd.DataFrame) -> pd.DataFrame:
    """Add ``{o}_baseline``, ``{o}_change``, ``{o}_improvement`` and ``{o}_pct_improvement``.

    ``baselines`` has one row per subject with a ``{o}_baseline`` column per outcome.
    ``{o}_change`` is the raw difference (value - baseline); ``{o}_improvement`` turns its sign
    so that positive means better for the instrument; ``{o}_pct_improvement`` is 100 times the
    relative improvement (:meth:`Instrument.relative_improvement`).
    """
    out = visits.merge(baselines, on="subject", how="left", validate="many_to_one")
    for name, o in spec.outcomes.items():
        b, y = out[f"{name}_baseline"].to_numpy(float), out[name].to_numpy(float)
        out[f"{name}_change"] = y - b
        out[f"{name}_improvement"] = o.instrument.improvement(b, y)
        out[f"{name}_pct_improvement"] = 100.0 * o.instrument.relative_improvement(b, y)
    return out


#: Relative tolerance of "at least the threshold" comparisons (a 30.0 % improvement stored as
#: 29.999999999 still reaches 30 %).
TOLERANCE = 1e-9


def reaches(values, thresholds) -> np.ndarray:
    """Boolean matrix (threshold x value): value >= threshold, with :data:`TOLERANCE`; NaN never reaches."""
    v = np.asarray(values, float)
    t = np.atleast_1d(np.asarray(thresholds, float))[:, None]
    return np.where(np.isnan(v), -np.inf, v)[None, :] >= t - TOLERANCE * np.maximum(1.0, np.abs(t))


def _outcome_spec(cohort: "Cohort", outcome: str):
    try:
        return cohort.spec.outcomes[outcome]
    except KeyError:
        raise PainstudyError(f"study {cohort.spec.name!r} has no outcome {outcome!r}; "
                             f"outcomes: {list(cohort.spec.outcomes)}") from None


def responder_flags(cohort: "Cohort", outcome: str) -> pd.DataFrame:
    """The post-baseline visits with a 0/1 responder flag per threshold of the instrument.

    Columns ``{outcome}_resp_{name}``: relative thresholds compare the percent improvement,
    absolute ones the improvement in points (at least the threshold, see :func:`reaches`). Missing values stay missing (never counted as
    non-responders here; responder analyses decide how to treat them).
    """
    o = _outcome_spec(cohort, outcome)
    inst = o.instrument
    v = cohort.visits
    if cohort.spec.baseline_visit is not None:
        v = v[v["visit"] != cohort.spec.baseline_visit.name]
    v = v.copy()
    for name, frac in inst.relative.items():
        pct = v[f"{outcome}_pct_improvement"]
        v[f"{outcome}_resp_{name}"] = pd.Series(reaches(pct, 100 * frac)[0], index=v.index).astype(float).where(pct.notna())
    for name, pts in inst.absolute.items():
        imp = v[f"{outcome}_improvement"]
        v[f"{outcome}_resp_{name}"] = pd.Series(reaches(imp, pts)[0], index=v.index).astype(float).where(imp.notna())
    return v


def cpra(cohort: "Cohort", outcome: str, visit: str, cutoffs=None) -> pd.DataFrame:
    """Cumulative proportion of responders across all cut-offs of percent improvement.

    For each arm and each cut-off c (default 0, 5, ..., 100 %), the proportion of subjects
    assessed at ``visit`` whose percent improvement is at least c. Returns a tidy table with
    columns ``arm, cutoff, n, responders, proportion``.
    """
    _outcome_spec(cohort, outcome)
    if visit not in cohort.spec.visit_names:
        raise PainstudyError(f"study {cohort.spec.name!r} has no visit {visit!r}; visits: {cohort.spec.visit_names}")
    cutoffs = np.arange(0, 101, 5.0) if cutoffs is None else np.asarray(cutoffs, float)
    v = cohort.visits
    v = v[(v["visit"] == visit) & v[f"{outcome}_pct_improvement"].notna()]
    rows = []
    for arm, g in v.groupby("arm", observed=False, sort=False):
        pct = g[f"{outcome}_pct_improvement"].to_numpy()
        for c, k in zip(cutoffs, reaches(pct, cutoffs).sum(axis=1)):
            rows.append({"arm": arm, "cutoff": c, "n": len(pct), "responders": int(k),
                         "proportion": k / len(pct) if len(pct) else np.nan})
    return pd.DataFrame(rows)
