"""Result objects of the time-to-improvement analyses.

Every result is a frozen dataclass rendered through :class:`painstudy.rendering.Rendered`: its
:meth:`tidy` lists a title, a few facts, its tables and its notes, and ``str``, ``repr``, the
notebook HTML, ``to_frame()`` and ``to_dict()`` derive from that. ``notes`` hold what the user
must know to read the numbers (terms left out, a horizon beyond follow-up, warnings of the
numerical libraries turned into sentences).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from painstudy.improvement import ImprovementData
from painstudy.rendering import Rendered, Tidy

__all__ = [
    "KaplanMeierResult",
    "LogRankResult",
    "CoxResult",
    "DiscreteTimeResult",
    "TurnbullResult",
    "RMSTResult",
    "CumulativeIncidenceResult",
    "ImprovementAnalysis",
]


@dataclass(frozen=True, repr=False)
class KaplanMeierResult(Rendered):
    """Kaplan-Meier estimates per arm.

    Attributes
    ----------
    survival : DataFrame
        ``arm, time, n_risk, n_event, n_censor, estimate, std_error, ci_lower, ci_upper`` --
        ``estimate`` is the probability of not yet having improved at ``time`` (right-continuous
        step function; one row per distinct time, plus time 0), ``std_error`` the Greenwood
        standard error of the cumulative hazard (as R's ``survfit`` ``std.err``).
    medians : DataFrame
        ``arm, n, events, median, ci_lower, ci_upper`` (NaN when not reached).
    at_risk : DataFrame
        ``arm, time, n_risk, n_improved, n_censored`` at the scheduled visit weeks (cumulative
        counts of improvements and censorings up to and including ``time``).
    conf_level, conf_type : float, str
    notes : tuple of str
    """

    survival: pd.DataFrame
    medians: pd.DataFrame
    at_risk: pd.DataFrame
    conf_level: float = 0.95
    conf_type: str = "log"
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Kaplan-Meier: time to improvement",
            (("conf_level", self.conf_level), ("conf_type", self.conf_type)),
            (("medians", self.medians), ("survival", self.survival), ("at_risk", self.at_risk)),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class LogRankResult(Rendered):
    """Log-rank tests: ``overall`` (k-sample) and ``pairwise`` (each pair, adjusted p values).

    ``overall`` columns: ``statistic, df, p_value``; ``pairwise`` columns: ``arm, reference,
    statistic, df, p_value, p_adjusted, adjust``.
    """

    overall: pd.DataFrame
    pairwise: pd.DataFrame
    adjust: str = "holm"
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Log-rank tests",
            (("adjust", self.adjust),),
            (("overall", self.overall), ("pairwise", self.pairwise)),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class CoxResult(Rendered):
    """Cox proportional hazards model (Efron or Breslow ties: ``ties``).

    Attributes
    ----------
    table : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper, hazard_ratio,
        hr_ci_lower, hr_ci_upper`` (``estimate`` = log hazard ratio; arm terms are named
        ``arm[<name>]`` and compare with the reference arm).
    ph_test : DataFrame
        Scaled-Schoenfeld test of proportional hazards per term and ``GLOBAL`` (``term,
        statistic, df, p_value, transform``), computed as R's ``cox.zph``; small p values cast
        doubt on a constant hazard ratio.
    n, events : int
    log_likelihood : float
        Log partial likelihood at the estimates.
    concordance : float
        Harrell's C of the linear predictor (as R ``coxph``'s concordance).
    reference : str
    ties : str
        ``"efron"`` or ``"breslow"``.
    strata : tuple of str
        Strata columns of a stratified model (a baseline hazard per stratum); empty if none.
    cluster : str
        Column of the clusters of the robust standard errors (``table`` then also has
        ``naive_std_error``, the model-based SE); empty if none.
    notes : tuple of str
    """

    table: pd.DataFrame
    ph_test: pd.DataFrame
    n: int = 0
    events: int = 0
    log_likelihood: float = float("nan")
    concordance: float = float("nan")
    reference: str = ""
    ties: str = "efron"
    strata: tuple[str, ...] = ()
    cluster: str = ""
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Cox proportional hazards (time to improvement)",
            (
                ("n", self.n),
                ("events", self.events),
                ("reference", self.reference),
                ("ties", self.ties),
                *((("strata", ", ".join(self.strata)),) if self.strata else ()),
                *((("cluster", self.cluster),) if self.cluster else ()),
                ("log_likelihood", self.log_likelihood),
                ("concordance", self.concordance),
            ),
            (("table", self.table), ("ph_test", self.ph_test)),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class DiscreteTimeResult(Rendered):
    """Grouped-time PH model (cloglog GLM on person-period data).

    ``table`` columns: ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper,
    hazard_ratio, hr_ci_lower, hr_ci_upper`` (interval terms ``period[<week>]`` are the
    cloglog of the baseline hazard in each visit interval).
    """

    table: pd.DataFrame
    n_subjects: int = 0
    n_rows: int = 0
    events: int = 0
    deviance: float = float("nan")
    reference: str = ""
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Discrete-time proportional hazards (complementary log-log)",
            (
                ("subjects", self.n_subjects),
                ("person-period rows", self.n_rows),
                ("events", self.events),
                ("reference", self.reference),
                ("deviance", self.deviance),
            ),
            (("table", self.table),),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class TurnbullResult(Rendered):
    """Turnbull NPMLE per arm for interval-censored times.

    ``table`` columns: ``arm, left, right, probability, estimate`` -- one row per innermost
    interval ``(left, right]`` carrying mass ``probability``; ``estimate`` is the probability of
    not yet having improved after ``right`` (the NPMLE is not identified inside the interval).
    """

    table: pd.DataFrame
    iterations: int = 0
    converged: bool = True
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Turnbull NPMLE (interval-censored time to improvement)",
            (("iterations", self.iterations), ("converged", self.converged)),
            (("table", self.table),),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class RMSTResult(Rendered):
    """Restricted mean time without improvement up to ``horizon`` weeks.

    ``table``: ``arm, horizon, follow_up, extrapolated, estimate, std_error, ci_lower,
    ci_upper``; ``differences``: ``arm, reference, estimate, std_error, statistic, p_value,
    ci_lower, ci_upper, extrapolated`` (negative = faster improvement than the reference).
    ``follow_up`` is the arm's last observed time; ``extrapolated`` is True when the horizon
    lies beyond it and the curve was carried forward (only with ``extrapolate=True``).
    """

    table: pd.DataFrame
    differences: pd.DataFrame
    horizon: float = float("nan")
    extrapolated: bool = False
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Restricted mean time without improvement",
            (("horizon", self.horizon), ("extrapolated", self.extrapolated)),
            (("table", self.table), ("differences", self.differences)),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class CumulativeIncidenceResult(Rendered):
    """Aalen-Johansen cumulative incidence of improvement with dropout as competing event.

    ``table``: ``arm, time, n_risk, n_event, n_competing, n_censor, estimate, std_error,
    ci_lower, ci_upper, competing_estimate`` (``estimate`` = probability of having improved by
    ``time``; ``competing_estimate`` = probability of having dropped out first). Standard errors
    are infinitesimal-jackknife (as R's ``survfit`` for multi-state data); the CI uses the log
    transform.
    """

    table: pd.DataFrame
    conf_level: float = 0.95
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        return Tidy(
            "Cumulative incidence of improvement (dropout competing)",
            (("conf_level", self.conf_level),),
            (("table", self.table),),
            self.notes,
        )


@dataclass(frozen=True, repr=False)
class ImprovementAnalysis(Rendered):
    """All time-to-improvement analyses for one :class:`ImprovementData`.

    ``cox`` and ``discrete`` are None when the model could not be fitted; ``notes`` then give
    the reason (and carry the notes of every part).
    """

    data: ImprovementData
    km: KaplanMeierResult
    logrank: LogRankResult
    cox: CoxResult | None
    rmst: RMSTResult
    discrete: DiscreteTimeResult | None = None
    turnbull: TurnbullResult | None = None
    incidence: CumulativeIncidenceResult | None = None
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        d = self.data
        facts = d.tidy().facts + (("rmst_horizon", self.rmst.horizon),)
        tables = [
            ("events", d.event_counts()),
            ("medians", self.km.medians),
            ("logrank_overall", self.logrank.overall),
            ("logrank_pairwise", self.logrank.pairwise),
        ]
        if self.cox is not None:
            tables += [("cox", self.cox.table), ("ph_test", self.cox.ph_test)]
        tables += [("rmst", self.rmst.table), ("rmst_differences", self.rmst.differences)]
        if self.discrete is not None:
            tables.append(("discrete_time", self.discrete.table))
        notes = list(self.notes)
        for part in (self.km, self.logrank, self.cox, self.rmst, self.discrete, self.turnbull, self.incidence):
            for n in part.notes if part is not None else ():
                if n not in notes:
                    notes.append(n)
        return Tidy("Time to improvement", facts, tuple(tables), tuple(notes))
