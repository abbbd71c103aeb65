"""Time to clinically meaningful improvement: event derivation from a cohort.

Improvement is only observed at visits, so the day a subject first improves is known only to lie
between the last assessed visit without improvement and the first assessed visit with it.
:func:`time_to_improvement` turns a :class:`~painstudy.cohort.Cohort` into one row per subject
holding

- ``time``: the week of the first visit at which the improvement from baseline reaches the
  threshold (``event = 1``), or the week of the last assessed visit (``event = 0``, censored);
- ``time_lower``, ``time_upper``: the censoring interval ``(time_lower, time_upper]`` in which the
  improvement happened (``time_upper = inf`` when censored), for interval-censored analyses;
- ``status``: 0 censored at the end of follow-up, 1 improved, 2 dropped out before the last
  scheduled visit without having improved (a competing event for cumulative incidence);
- the subject's arm, arm class, baseline score and covariates.

The analyses live in :mod:`painstudy.models.survival`; they take the :class:`ImprovementData`
returned here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painstudy.cohort import Cohort
from painstudy.errors import ModelError
from painstudy.instruments import Instrument
from painstudy.outcomes import TOLERANCE, reaches
from painstudy.rendering import Rendered, Tidy

__all__ = ["ImprovementData", "time_to_improvement", "resolve_threshold", "improvement_scores", "describe_threshold"]

#: Columns every improvement table has, in this order (covariates follow).
TABLE_COLUMNS = [
    "subject",
    "arm",
    "arm_class",
    "time",
    "event",
    "time_lower",
    "time_upper",
    "status",
    "dropout",
    "event_visit",
    "last_visit",
    "withdrawal_reason",
    "baseline",
]


@dataclass(frozen=True, repr=False)
class ImprovementData(Rendered):
    """Per-subject time-to-improvement events, ready for survival analyses.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per subject: ``subject, arm, arm_class, time, event, time_lower, time_upper,
        status, dropout, event_visit, last_visit, withdrawal_reason, baseline`` followed by the
        covariates. ``time`` is in weeks; ``status`` is 0 (censored), 1 (improved), 2 (dropout
        without improvement, the competing event).
    outcome : str
        The outcome analysed.
    threshold : float
        The threshold applied (a fraction of baseline when ``relative``, else points).
    relative : bool
        Whether the threshold is relative to baseline.
    sustained : bool
        Whether improvement had to hold at every later assessed visit.
    arms : tuple of str
        Arms in study order.
    reference : str
        The reference arm for comparisons (the control arm, else the first arm).
    arm_classes : dict
        Arm name -> arm class (``control``, ``single-modality``, ``integrative``).
    covariates : tuple of str
        Covariate columns of ``table`` (the baseline score is in ``baseline``).
    visit_weeks : tuple of float
        Scheduled post-baseline visit weeks (the grid of the discrete-time model).
    study : str
        The study name.
    """

    table: pd.DataFrame
    outcome: str = "outcome"
    threshold: float = float("nan")
    relative: bool = True
    sustained: bool = False
    arms: tuple = ()
    reference: str | None = None
    arm_classes: Mapping[str, str] = field(default_factory=dict)
    covariates: tuple = ()
    visit_weeks: tuple = ()
    study: str = ""
    time_unit: str = "weeks"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        *,
        arms: Iterable[str] | None = None,
        reference: str | None = None,
        arm_classes: Mapping[str, str] | None = None,
        covariates: Iterable[str] = (),
        visit_weeks: Iterable[float] | None = None,
        outcome: str = "outcome",
        study: str = "",
    ) -> ImprovementData:
        """Wrap an existing event table (columns ``subject, arm, time, event`` at least).

        ``time_lower``/``time_upper`` default to the exact time for events and ``(time, inf)``
        for censored rows; ``status`` defaults to ``event``.

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"subject": ["a", "b"], "arm": ["x", "y"], "time": [4.0, 8.0],
        ...                   "event": [1, 0]})
        >>> ImprovementData.from_table(t).reference
        'x'
        """
        covariates = (covariates,) if isinstance(covariates, str) else tuple(covariates)
        need = [c for c in ("arm", "time", "event") if c not in table.columns]
        if need:
            raise ModelError(f"event table lacks column(s) {need}; it needs arm, time, event")
        t = table.copy()
        if "subject" not in t.columns:
            t.insert(0, "subject", [str(i) for i in range(len(t))])
        event = pd.to_numeric(t["event"], errors="coerce")
        bad = t.index[~event.isin([0, 1])]
        if len(bad):
            raise ModelError(f"column event must be 0/1; row {bad[0]} has {t['event'].astype(object)[bad[0]]!r}")
        time = pd.to_numeric(t["time"], errors="coerce")
        bad = t.index[~(time >= 0)]
        if len(bad):
            raise ModelError(
                f"column time must be >= 0 and not missing; row {bad[0]} has {t['time'].astype(object)[bad[0]]!r}"
            )
        t["time"], t["event"] = time.astype(float), event.astype(int)
        if t["arm"].isna().any():
            raise ModelError(f"column arm is missing in row {t.index[t['arm'].isna()][0]}")
        if arms is None:
            if isinstance(t["arm"].dtype, pd.CategoricalDtype):
                arms = list(t["arm"].cat.categories)
            else:
                arms = sorted(t["arm"].astype(str).unique())
        arms = tuple(str(a) for a in arms)
        other = sorted(set(t["arm"].astype(str)) - set(arms))
        if other:
            raise ModelError(f"column arm has value(s) {other} that are not among the arms {list(arms)}")
        missing = [c for c in covariates if c not in t.columns]
        if missing:
            raise ModelError(f"covariate(s) {missing} are not columns of the event table; columns: {list(t.columns)}")
        t["arm"] = pd.Categorical(t["arm"].astype(str), categories=list(arms))
        if "time_upper" not in t.columns:
            t["time_upper"] = np.where(t["event"] == 1, t["time"], np.inf)
        if "time_lower" not in t.columns:
            t["time_lower"] = t["time"]
        if "status" not in t.columns:
            t["status"] = t["event"]
        if "dropout" not in t.columns:
            t["dropout"] = t["status"] == 2
        arm_classes = dict(arm_classes or {})
        if "arm_class" not in t.columns:
            t["arm_class"] = t["arm"].astype(str).map(lambda a: arm_classes.get(a, ""))
        if reference is None:
            reference = next((a for a in arms if arm_classes.get(a) == "control"), arms[0])
        if reference not in arms:
            raise ModelError(f"reference arm {reference!r} is not one of the arms {list(arms)}")
        if visit_weeks is None:
            visit_weeks = sorted(
                set(t.loc[t["time"] > 0, "time"])
                | set(t.loc[np.isfinite(t["time_upper"]) & (t["time_upper"] > 0), "time_upper"])
            )
        return cls(
            table=t.reset_index(drop=True),
            outcome=outcome,
            arms=arms,
            reference=reference,
            arm_classes=arm_classes,
            covariates=tuple(covariates),
            visit_weeks=tuple(float(w) for w in visit_weeks),
            study=study,
        )

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> ImprovementData:
        """A copy with some attributes changed (the object itself is immutable)."""
        return dataclasses.replace(self, **changes)

    @property
    def n(self) -> int:
        """Number of subjects."""
        return len(self.table)

    def event_counts(self) -> pd.DataFrame:
        """Per arm: subjects, improved, censored at the end of follow-up, dropouts."""
        t = self.table
        g = t.groupby("arm", observed=False)
        out = pd.DataFrame(
            {
                "n": g.size(),
                "improved": g["event"].sum(),
                "censored": g["status"].apply(lambda s: int((s == 0).sum())),
                "dropout": g["status"].apply(lambda s: int((s == 2).sum())),
            }
        ).reset_index()
        out["arm"] = out["arm"].astype(str)
        return out

    def tidy(self) -> Tidy:
        return Tidy(
            f"Time to improvement in {self.outcome}",
            (
                ("study", self.study),
                ("outcome", self.outcome),
                ("threshold", describe_threshold(self.threshold, self.relative)),
                ("sustained", self.sustained),
                ("reference", self.reference),
                ("subjects", self.n),
            ),
            (("events", self.event_counts()),),
        )


def describe_threshold(threshold: float, relative: bool) -> str:
    """A threshold in words: ``"30% of baseline"`` or ``"2 points"``.

    >>> describe_threshold(0.3, True), describe_threshold(2.0, False)
    ('30% of baseline', '2 points')
    """
    return f"{threshold:.0%} of baseline" if relative else f"{threshold:g} points"


# ---------------------------------------------------------------------- thresholds
def resolve_threshold(instrument: Instrument, threshold: str | float, relative: bool) -> float:
    """The numeric threshold for ``threshold`` (a name such as ``"moderate"`` or a value).

    Relative thresholds are fractions of baseline (0.30 = 30 %); absolute ones are points on the
    instrument's scale.

    Examples
    --------
    >>> class I: relative = {"moderate": 0.3}; absolute = {"mcid": 2.0}
    >>> resolve_threshold(I(), "moderate", True)
    0.3
    >>> resolve_threshold(I(), 0.35, True)
    0.35
    """
    if isinstance(threshold, str):
        table = instrument.relative if relative else instrument.absolute
        if threshold not in table:
            kind = "relative" if relative else "absolute"
            raise ModelError(
                f"threshold {threshold!r} is not {'a' if relative else 'an'} {kind} threshold of "
                f"instrument "
                f"{instrument.name!r}; known {kind} thresholds: "
                f"{sorted(table) or 'none'}; or pass a number" + ("" if relative else " of points")
            )
        value = float(table[threshold])
    else:
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise ModelError(f"threshold must be a name or a number, got {threshold!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ModelError(f"threshold must be a positive number, got {threshold!r}")
    if relative and value > 1:
        raise ModelError(
            f"relative threshold {threshold!r} is above 1; relative thresholds are fractions of "
            f"baseline (use 0.30 for 30 %), or use relative=False (command line: --absolute) for "
            f"points"
        )
    return value


# ---------------------------------------------------------------------- derivation
def improvement_scores(visits: pd.DataFrame, outcome: str, instrument: Instrument) -> tuple[pd.Series, pd.Series]:
    """Direction-aware improvement (points) and relative improvement (fraction) per visit row.

    Taken from the cohort's ``<outcome>_improvement`` and ``<outcome>_pct_improvement`` columns
    when present, else computed from ``<outcome>_baseline`` and the instrument's direction.
    """
    if f"{outcome}_improvement" in visits.columns:
        imp = visits[f"{outcome}_improvement"].astype(float)
    else:
        base = visits[f"{outcome}_baseline"].astype(float)
        val = visits[outcome].astype(float)
        imp = (base - val) if instrument.lower_is_better else (val - base)
    if f"{outcome}_pct_improvement" in visits.columns:
        rel = visits[f"{outcome}_pct_improvement"].astype(float) / 100.0
    else:
        base = visits[f"{outcome}_baseline"].astype(float)
        rel = imp / base.abs().where(base != 0)
    return imp, rel


def time_to_improvement(
    cohort: Cohort,
    outcome: str,
    *,
    threshold: str | float = "moderate",
    relative: bool = True,
    sustained: bool = False,
) -> ImprovementData:
    """Derive the time to clinically meaningful improvement for every subject.

    Parameters
    ----------
    cohort : Cohort
        A loaded cohort (``painstudy.load_cohort``).
    outcome : str
        An outcome of the study (``cohort.spec.outcomes``).
    threshold : {"moderate", "substantial"} or str or float, default "moderate"
        A named threshold of the outcome's instrument (``instrument.relative`` when
        ``relative``, else ``instrument.absolute``, e.g. ``"mcid"``) or a value: a fraction of
        baseline when ``relative`` (0.30 = 30 %), else points on the scale.
    relative : bool, default True
        Improvement as a fraction of the baseline score (IMMPACT: 30 % moderate, 50 %
        substantial) or in points.
    sustained : bool, default False
        Count an improvement only if it holds at every later assessed visit.

    Returns
    -------
    ImprovementData
        ``.table`` has one row per randomised subject; see :class:`ImprovementData`.

    Notes
    -----
    Improvement is direction-aware (positive = better). The event time is the nominal week of
    the first visit meeting the threshold; the event happened in ``(time_lower, time_upper]``
    where ``time_lower`` is the previous assessed visit (baseline, week 0, if none). Subjects who
    never improve are censored at their last assessed visit (week 0 if they have no
    post-baseline assessment); those not assessed at the last scheduled visit are flagged
    ``dropout`` (``status = 2``). A threshold is met when the improvement is at least the
    threshold (a relative improvement of exactly 30 % meets 30 %). With ``sustained=True`` the
    event is the first assessed visit from which every later *assessed* visit also meets the
    threshold (missed visits do not break it; an improvement at the last assessed visit counts).
    A relative improvement is undefined when the baseline is 0 (lower-is-better scales): such
    visits count as assessed without improvement.

    Examples
    --------
    >>> import painstudy
    >>> cohort = painstudy.load_cohort("demo")  # doctest: +SKIP
    >>> data = time_to_improvement(cohort, "pain", threshold="moderate")  # doctest: +SKIP
    >>> data.table[["subject", "arm", "time", "event"]].head()  # doctest: +SKIP
    """
    spec = cohort.spec
    instrument = spec.outcome(outcome).instrument
    thr = resolve_threshold(instrument, threshold, relative)

    visits = cohort.visits
    subjects = cohort.subjects
    if outcome not in visits.columns:
        raise ModelError(f"cohort.visits has no column {outcome!r}")

    base_visit = spec.baseline_visit
    schedule = [v for v in spec.visits if not v.baseline]
    if not schedule:
        raise ModelError(f"study {spec.name!r} has no post-baseline visit; nothing to analyse")
    base_week = float(base_visit.week)
    sched_weeks = {v.name: float(v.week) - base_week for v in schedule}
    last_sched = max(sched_weeks.values())

    imp, rel = improvement_scores(visits, outcome, instrument)
    score = rel if relative else imp
    post = visits.loc[visits["visit"].astype(str).isin(sched_weeks)].copy()
    post["_score"] = score.loc[post.index]
    post["_assessed"] = post[outcome].notna()  # NaN score (baseline 0) = assessed, not improved
    post["_improved"] = reaches(post["_score"], thr)[0]
    post["_week"] = post["visit"].astype(str).map(sched_weeks)
    post = post.loc[post["_assessed"]].sort_values(["subject", "_week"])

    rows = {}
    for subj, g in post.groupby("subject", sort=False):
        weeks = g["_week"].to_numpy()
        improved = g["_improved"].to_numpy()
        names = g["visit"].astype(str).to_numpy()
        if sustained:
            # improved here and at every later assessed visit
            ok = np.logical_and.accumulate(improved[::-1])[::-1]
        else:
            ok = improved
        hit = np.flatnonzero(ok)
        if hit.size:
            k = hit[0]
            rows[subj] = (weeks[k], 1, weeks[k - 1] if k > 0 else 0.0, weeks[k], names[k], names[-1], weeks[-1])
        else:
            rows[subj] = (weeks[-1], 0, weeks[-1], np.inf, None, names[-1], weeks[-1])

    subj = subjects.copy()
    subj["subject"] = subj["subject"].astype(str)
    arms = tuple(a.name for a in spec.arms)
    arm_classes = {a.name: a.arm_class for a in spec.arms}
    reference = spec.reference_arm.name

    out = pd.DataFrame({"subject": subj["subject"].to_numpy()})
    out["arm"] = pd.Categorical(subj["arm"].astype(str).to_numpy(), categories=list(arms))
    out["arm_class"] = out["arm"].astype(str).map(arm_classes).to_numpy()
    derived = [rows.get(s, (0.0, 0, 0.0, np.inf, None, None, 0.0)) for s in out["subject"]]
    d = pd.DataFrame(
        derived, columns=["time", "event", "time_lower", "time_upper", "event_visit", "last_visit", "_last_week"]
    )
    for c in d.columns:
        out[c] = d[c].to_numpy()
    out["time"] = out["time"].astype(float)
    out["event"] = out["event"].astype(int)
    out["time_lower"] = out["time_lower"].astype(float)
    out["time_upper"] = out["time_upper"].astype(float)
    reached_end = out["_last_week"] >= last_sched - TOLERANCE
    out["dropout"] = (out["event"] == 0) & ~reached_end
    out["status"] = np.where(out["event"] == 1, 1, np.where(out["dropout"], 2, 0)).astype(int)
    out = out.drop(columns="_last_week")
    out["withdrawal_reason"] = subj["withdrawal_reason"].to_numpy() if "withdrawal_reason" in subj.columns else np.nan
    bcol = f"{outcome}_baseline"
    out["baseline"] = subj[bcol].astype(float).to_numpy() if bcol in subj.columns else np.nan
    covariates = []
    for c in ["site", "condition", *(v.name for v in spec.covariates)]:
        if c in subj.columns and c not in out.columns and c not in covariates and subj[c].notna().any():
            out[c] = subj[c].to_numpy()
            covariates.append(c)
    return ImprovementData(
        table=out,
        outcome=outcome,
        threshold=thr,
        relative=relative,
        sustained=sustained,
        arms=arms,
        reference=reference,
        arm_classes=arm_classes,
        covariates=tuple(covariates),
        visit_weeks=tuple(sorted(sched_weeks.values())),
        study=spec.name,
    )
