"""Time-to-improvement analyses on :class:`~painstudy.improvement.ImprovementData`.

Every function takes the event data returned by :func:`painstudy.time_to_improvement` (or
:meth:`ImprovementData.from_table`) and returns an immutable result holding tidy DataFrames
(:mod:`~painstudy.models.survival.results`).

Nonparametric (:mod:`~painstudy.models.survival.nonparametric`):

- :func:`kaplan_meier` -- Kaplan-Meier per arm, Greenwood standard errors, confidence bands with
  R's default ``log`` transform (``conf_type="log-log"`` and ``"plain"`` also available), medians
  with confidence intervals by R's ``quantile.survfit`` rule, and the at-risk table;
- :func:`logrank` -- overall k-sample log-rank test and pairwise tests with Holm or Bonferroni
  adjustment, optionally stratified (``strata=``);
- :func:`turnbull` -- the nonparametric maximum likelihood estimate for interval-censored times
  (self-consistency EM on Turnbull's innermost intervals);
- :func:`rmst` -- restricted mean time without improvement per arm up to a horizon within
  follow-up (beyond it only with ``extrapolate=True``), and the difference from the reference arm;
- :func:`cumulative_incidence` -- Aalen-Johansen cumulative incidence of improvement with dropout
  as a competing event.

Regression (:mod:`~painstudy.models.survival.regression`):

- :func:`cox_ph` -- Cox proportional hazards (Efron ties, as R's ``coxph``, or Breslow), hazard
  ratios of each arm against the reference, adjusted for covariates, with the scaled-Schoenfeld
  test of proportional hazards (:func:`cox_zph`) and the concordance reported in the result;
- :func:`discrete_time_ph` -- grouped-time proportional hazards (Prentice-Gloeckler):
  complementary log-log binomial GLM on person-period data (:func:`person_period`), one
  intercept per visit interval.

:func:`analyze_improvement` runs all of them (used by ``painstudy fit improvement``).

The numerical work is in :mod:`~painstudy.models.survival.core` (risk tables, Kaplan-Meier,
log-rank, concordance, Aalen-Johansen, Turnbull) and
:mod:`~painstudy.models.survival.partial_likelihood` (the Cox partial likelihood): O(n log n),
vectorised, on plain arrays; a million subjects take seconds (``benchmarks/bench_survival.py``).

Times are in weeks. For time *to improvement* the "survival" function is the probability of not
yet having improved; a shorter median and a hazard ratio above 1 mean faster improvement.
"""

from __future__ import annotations

import pandas as pd

from painstudy.io import to_jsonable

from .analysis import analyze_improvement, default_covariates
from .nonparametric import cumulative_incidence, kaplan_meier, logrank, rmst, turnbull
from .regression import cox_ph, cox_zph, discrete_time_ph, person_period
from .results import (
    CoxResult,
    CumulativeIncidenceResult,
    DiscreteTimeResult,
    ImprovementAnalysis,
    KaplanMeierResult,
    LogRankResult,
    RMSTResult,
    TurnbullResult,
)

__all__ = [
    "KaplanMeierResult",
    "LogRankResult",
    "CoxResult",
    "DiscreteTimeResult",
    "TurnbullResult",
    "RMSTResult",
    "CumulativeIncidenceResult",
    "ImprovementAnalysis",
    "kaplan_meier",
    "logrank",
    "cox_ph",
    "discrete_time_ph",
    "turnbull",
    "rmst",
    "cumulative_incidence",
    "analyze_improvement",
    "person_period",
    "cox_zph",
    "default_covariates",
]


def json_records(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> list of JSON-ready dicts (kept for old callers; use :func:`painstudy.io.to_jsonable`)."""
    return to_jsonable(df)
