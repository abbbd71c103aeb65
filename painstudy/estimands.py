"""Estimands (ICH E9(R1)): what a treatment effect means when intercurrent events happen.

An :class:`Estimand` states the five attributes of ICH E9(R1): the population, the variable (the
outcome at the visits), the intercurrent events with the strategy for each, and the population-level
summary; the treatment is the arms of the study. Studies declare it per outcome in study.yml
(``estimands:``, with the events of ``intercurrent_events:``); :func:`estimand_for` builds it, and
:func:`apply_estimand` derives the outcome the strategies define:

``treatment_policy``
    outcomes after the event are used as observed (the default for events the estimand does not name);
``hypothetical``
    outcomes at and after the event's first affected visit are set aside: the MMRM treats them as missing
    at random; the reference-based sensitivity analyses impute them under JR, CR, CIR or LMCF;
``composite``
    the event is a failure: outcomes at and after the event become the subject's worst score up to the
    event (its baseline included), so that a responder analysis counts the subject as a non-responder;
``while_on_treatment``
    only outcomes before the event count: later ones are set aside and never imputed (in an MMRM they
    do not contribute; the result describes the response while on treatment).

When a subject has several events the earliest one with a strategy other than treatment policy governs
(at the same visit: composite before hypothetical before while on treatment). Every value the
strategies change is counted in the estimand's ``derivation`` and in the cohort's exclusions.

Examples
--------
>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> est = estimand_for(cohort, "pain", {"discontinuation": "hypothetical"})
>>> est.strategies["discontinuation"]
'hypothetical'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .cohort import Cohort
from .errors import ModelError
from .outcomes import change_columns
from .study import EVENT_STRATEGIES, EVENT_TYPES, EstimandSpec

__all__ = ["Estimand", "estimand_for", "apply_estimand", "STRATEGY_WORDS", "EVENT_WORDS"]

STRATEGY_WORDS = {
    "treatment_policy": "treatment policy",
    "hypothetical": "hypothetical",
    "composite": "composite (a failure: worst score up to the event)",
    "while_on_treatment": "while on treatment",
}
EVENT_WORDS = {e: e.replace("_", " ") for e in EVENT_TYPES}
#: at the same first affected visit, the strategy that governs
_PRECEDENCE = {"composite": 0, "hypothetical": 1, "while_on_treatment": 2}


@dataclass(frozen=True)
class Estimand:
    """The estimand of one outcome (ICH E9(R1) attributes) and what its strategies did to the data.

    Attributes
    ----------
    outcome : str
    population, variable, summary : str
        The attributes in words.
    strategies : mapping
        Event type -> strategy, for every event type that occurs in the cohort (events the declaration
        does not name: ``treatment_policy``).
    counts : mapping
        Subjects per event type.
    sensitivity : tuple of str
        Reference-based assumptions shown for the data a hypothetical strategy sets aside.
    derivation : tuple of str
        What the strategies changed in the data (after :func:`apply_estimand`).
    declared : bool
        Whether the study declared this estimand (else it was given in the call, or is the default).
    """

    outcome: str
    population: str
    variable: str
    strategies: Mapping[str, str]
    summary: str
    counts: Mapping[str, int] = field(default_factory=dict)
    sensitivity: tuple[str, ...] = ("JR", "CR", "CIR")
    derivation: tuple[str, ...] = ()
    declared: bool = False

    def events_text(self) -> str:
        """The intercurrent events and their strategies in words."""
        if not self.counts:
            return "none declared (missing outcomes: missing at random)"
        return "; ".join(
            f"{EVENT_WORDS[e]} ({n} subject{'' if n == 1 else 's'}): {STRATEGY_WORDS[self.strategies.get(e, 'treatment_policy')]}"
            for e, n in self.counts.items()
        )

    def attributes(self) -> dict[str, str]:
        """The attributes in words, in ICH E9(R1) order (for tables, reports and manifests)."""
        out = {
            "population": self.population,
            "variable": self.variable,
            "intercurrent events": self.events_text(),
            "summary measure": self.summary,
        }
        if self.derivation:
            out["derivation"] = "; ".join(self.derivation)
        return out

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.attributes().items())

    def to_dict(self) -> dict:
        """A JSON-ready description (results files and manifests)."""
        return {
            "outcome": self.outcome,
            **self.attributes(),
            "strategies": dict(self.strategies),
            "events": dict(self.counts),
            "sensitivity": list(self.sensitivity),
            "declared": self.declared,
        }


def estimand_for(
    cohort: Cohort,
    outcome: str,
    estimand=None,
    *,
    summary: str | None = None,
) -> Estimand:
    """The estimand of ``outcome``.

    ``estimand``: None (the study's declaration for the outcome; without one every event is handled by
    treatment policy), a strategy name for every event (``"hypothetical"``), a mapping event type ->
    strategy, an :class:`~painstudy.study.EstimandSpec` or an :class:`Estimand` (returned as is).
    """
    spec = cohort.spec
    o = spec.outcome(outcome)
    if isinstance(estimand, Estimand):
        if estimand.outcome != outcome:
            raise ModelError(f"estimand: it is the estimand of {estimand.outcome!r}, not of {outcome!r}")
        return estimand
    declared = spec.estimands.get(outcome)
    if estimand is None:
        base = declared or EstimandSpec(outcome)
    elif isinstance(estimand, EstimandSpec):
        base = estimand
    elif isinstance(estimand, str):
        base = EstimandSpec(outcome, dict.fromkeys(EVENT_TYPES, _strategy(estimand, "estimand")))
    elif isinstance(estimand, Mapping):
        for e, s in estimand.items():
            if e not in EVENT_TYPES:
                raise ModelError(f"estimand: unknown intercurrent event {e!r}; use one of {', '.join(EVENT_TYPES)}")
            _strategy(s, f"estimand[{e!r}]")
        base = EstimandSpec(outcome, dict(estimand), *((declared.population, declared.summary) if declared else ()))
    else:
        raise ModelError(
            f"estimand must be a strategy name, a mapping event -> strategy or an Estimand, not {type(estimand).__name__}"
        )
    counts = cohort.events["event"].value_counts(sort=False) if len(cohort.events) else pd.Series(dtype=int)
    present = {e: int(counts[e]) for e in EVENT_TYPES if e in counts.index}
    strategies = {e: base.strategies.get(e, "treatment_policy") for e in present}
    inst = o.instrument
    label = o.label or inst.label
    visits = ", ".join(v.name for v in spec.post_baseline_visits)
    variable = f"{label} ({outcome}) at {visits}; {'lower' if inst.lower_is_better else 'higher'} is better"
    composite = [EVENT_WORDS[e] for e, s in strategies.items() if s == "composite"]
    if composite:
        verb = "counts" if len(composite) == 1 else "count"
        variable += f"; {' and '.join(composite)} {verb} as failure (worst score up to the event)"
    control = spec.reference_arm.name
    return Estimand(
        outcome=outcome,
        population=base.population or f"all randomised subjects ({len(cohort.subjects)})",
        variable=variable,
        strategies=strategies,
        summary=summary or base.summary or f"difference in adjusted means, each arm - {control}",
        counts=present,
        sensitivity=tuple(base.sensitivity),
        declared=estimand is None and declared is not None,
    )


def _strategy(value, where: str) -> str:
    s = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    if s not in EVENT_STRATEGIES:
        raise ModelError(f"{where}: unknown strategy {value!r}; use one of {', '.join(EVENT_STRATEGIES)}")
    return s


def governing_events(cohort: Cohort, estimand: Estimand) -> pd.DataFrame:
    """Per subject with an event the estimand acts on: ``subject, event, visit, strategy`` of the event
    that governs (the earliest; at the same visit, composite before hypothetical before while on
    treatment)."""
    ev = cohort.events
    cols = ["subject", "event", "visit", "strategy"]
    if not len(ev):
        return pd.DataFrame(columns=cols)
    ev = ev.assign(strategy=ev["event"].map(lambda e: estimand.strategies.get(e, "treatment_policy")))
    ev = ev[ev["strategy"] != "treatment_policy"]
    if not len(ev):
        return pd.DataFrame(columns=cols)
    order = {v: i for i, v in enumerate(cohort.spec.visit_names)}
    ev = ev.assign(_v=ev["visit"].map(order), _p=ev["strategy"].map(_PRECEDENCE))
    ev = ev.sort_values(["_v", "_p"], kind="stable").drop_duplicates("subject")
    return ev[cols].reset_index(drop=True)


def apply_estimand(cohort: Cohort, estimand: Estimand) -> tuple[Cohort, Estimand]:
    """The cohort with ``estimand.outcome`` derived as its strategies say, and the estimand with what was
    changed (``derivation``); the cohort's exclusions count every change."""
    outcome = estimand.outcome
    gov = governing_events(cohort, estimand)
    if not len(gov):
        return cohort, estimand
    spec = cohort.spec
    inst = spec.outcome(outcome).instrument
    v = cohort.visits.copy()
    code = v["visit"].cat.codes.to_numpy()
    order = {name: i for i, name in enumerate(spec.visit_names)}
    first = v["subject"].map(dict(zip(gov["subject"], gov["visit"].map(order)))).to_numpy(float)
    strat = v["subject"].map(dict(zip(gov["subject"], gov["strategy"]))).to_numpy(object)
    base = spec.baseline_visit
    after = (code >= first) & ~(v["visit"] == base.name).to_numpy() if base else code >= first
    y = v[outcome].to_numpy(float).copy()
    observed = ~np.isnan(y)
    rows, derivation = [], []
    aside = after & np.isin(strat, ["hypothetical", "while_on_treatment"])
    for s in ("hypothetical", "while_on_treatment"):
        k = int((aside & observed & (strat == s)).sum())
        if k:
            what = (
                "set aside (imputed under MAR or a reference-based assumption)" if s == "hypothetical" else "set aside"
            )
            derivation.append(f"{k} observed value(s) at or after an event with a {STRATEGY_WORDS[s]} strategy {what}")
            rows.append({"rule": f"estimand of {outcome}: {STRATEGY_WORDS[s]}", "n": k, "detail": derivation[-1]})
    y[aside] = np.nan
    comp = after & (strat == "composite")
    if comp.any():
        worst = _worst_before(v, outcome, cohort.subjects, code, first, bool(inst.lower_is_better))
        fallback = inst.max if inst.lower_is_better else inst.min
        no_value = comp & np.isnan(worst)
        y[comp] = np.where(np.isnan(worst[comp]), fallback, worst[comp])
        n_sub = int(pd.Series(v["subject"].to_numpy()[comp]).nunique())
        text = (
            f"{int(comp.sum())} value(s) of {n_sub} subject(s) at or after an event with a composite strategy set "
            f"to the subject's worst score up to the event"
        )
        if no_value.any():
            text += f" ({int(no_value.sum())} without an earlier score: the instrument's worst, {fallback:g})"
        derivation.append(text)
        rows.append({"rule": f"estimand of {outcome}: composite", "n": int(comp.sum()), "detail": text})
    v[outcome] = y
    for col, values in change_columns(outcome, inst, v[f"{outcome}_baseline"], y).items():
        v[col] = values
    exc = pd.concat([cohort.exclusions, pd.DataFrame(rows, columns=["rule", "n", "detail"])], ignore_index=True)
    return replace(cohort, visits=v, exclusions=exc), replace(estimand, derivation=tuple(derivation))


def _worst_before(v: pd.DataFrame, outcome: str, subjects: pd.DataFrame, code, first, lower_is_better: bool):
    """Per row: the subject's worst score before its event's first affected visit (its baseline included)."""
    y = v[outcome].to_numpy(float)
    before = code < first
    vals = pd.Series(np.where(before, y, np.nan))
    baseline = v["subject"].map(subjects.set_index("subject")[f"{outcome}_baseline"]).to_numpy(float)
    frame = pd.DataFrame({"s": v["subject"].to_numpy(), "y": vals, "b": baseline})
    g = frame.groupby("s", sort=False)
    worst = (g["y"].transform("max") if lower_is_better else g["y"].transform("min")).to_numpy(float)
    both = np.vstack([worst, frame["b"].to_numpy(float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no earlier score
        return np.nanmax(both, axis=0) if lower_is_better else np.nanmin(both, axis=0)
