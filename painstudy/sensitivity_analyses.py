"""``painstudy.sensitivity_analyses``: a study's primary comparison beside its missing-data sensitivity analyses.

For one outcome at one visit, in one table: the primary analysis (:func:`painstudy.compare_arms`, an MMRM
under missing at random), then reference-based imputations of the same estimand under MAR, jump to
reference (JR), copy reference (CR) and copy increments in reference (CIR) (:mod:`painstudy.sensitivity`),
the tipping point of the primary comparison under JR, and the historical single imputations (LOCF, BOCF,
WOCF) labelled as such. The estimand is stated with the results (ICH E9(R1)): population, variable,
intercurrent event and its strategy, summary measure.

The estimand is the study's (:mod:`painstudy.estimands`, declared in study.yml): values after events with a
composite strategy are derived before anything is imputed; the data a hypothetical strategy sets aside are
imputed under MAR and under each reference-based assumption, from the event's first affected visit.
When the study declares no intercurrent events, a subject's event is its discontinuation: the first visit
of the terminal run of missing values (a subject whose outcomes stop early); intermittent missing values
are imputed under MAR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.cohort import Cohort
from painstudy.errors import ModelError
from painstudy.estimands import apply_estimand, estimand_for, governing_events
from painstudy.rendering import Rendered, Tidy
from painstudy.sensitivity.legacy import LEGACY, single_imputation
from painstudy.sensitivity.run import draws, result_of
from painstudy.sensitivity.tipping import TippingPointResult, tipping_from_draws

__all__ = ["sensitivity_analyses", "MissingDataAnalyses", "STRATEGY_NAMES", "study_data"]

STRATEGY_NAMES = {
    "MAR": "missing at random",
    "JR": "jump to reference",
    "CR": "copy reference",
    "CIR": "copy increments in reference",
    "LMCF": "last mean carried forward",
}
COLUMNS = ["analysis", "comparison", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "legacy"]


@dataclass(frozen=True, repr=False)
class MissingDataAnalyses(Rendered):
    """The analyses of one outcome at one visit (``table``), the tipping point and the estimand."""

    outcome: str
    visit: str
    estimand: dict
    table: pd.DataFrame
    tipping: TippingPointResult | None
    results: dict = field(compare=False)
    notes: tuple = ()

    def tidy(self) -> Tidy:
        facts = tuple(self.estimand.items())
        if self.tipping is not None:
            tip = self.tipping
            facts += (
                (
                    "tipping point (JR)",
                    f"{tip.term} loses significance at delta {tip.tipping_delta:.3g} (p crosses alpha at {tip.crossing:.3g})"
                    if tip.tipping_delta is not None
                    else "significance not lost on the grid",
                ),
            )
        tables = (("analyses", self.table),)
        if self.tipping is not None:
            tables += (("tipping", self.tipping.table),)
        return Tidy(f"Missing data: {self.outcome} at {self.visit}", facts, tables, self.notes)


def study_data(cohort: Cohort, outcome: str, *, per_arm: bool = False) -> tuple[pd.DataFrame, str, int]:
    """The data of a reference-based imputation of ``outcome``: long data (``subject, arm, visit, outcome,
    {outcome}_baseline``) of every randomised subject with a baseline value, the imputation formula
    (baseline x visit + arm x visit, unstructured covariance shared by the arms, or one per arm with
    ``per_arm``) and how many subjects were left out for lack of a baseline."""
    base = f"{outcome}_baseline"
    v = cohort.analysis_data(None)
    if base not in v.columns:
        raise ModelError(
            f"outcome {outcome!r} has no baseline value ({base!r}): reference-based imputation adjusts for it"
        )
    data = v[["subject", "arm", "visit", outcome, base]].copy()
    data["arm"] = data["arm"].astype(str)
    data["subject"] = data["subject"].astype(str)
    no_base = data.groupby("subject")[base].apply(lambda s: s.isna().all())
    left_out = int(no_base.sum())
    data = data[~data["subject"].isin(no_base[no_base].index)]
    # a subject-level baseline on every row (the visits table repeats it; fill gaps within subject)
    data[base] = data.groupby("subject")[base].transform("first")
    cov = "us(visit | arm / subject)" if per_arm else "us(visit | subject)"
    formula = f"{outcome} ~ {base} * visit + arm * visit + {cov}"
    return data.reset_index(drop=True), formula, left_out


def sensitivity_analyses(
    cohort: Cohort,
    outcome: str,
    *,
    visit: str | None = None,
    strategies: Sequence[str] | None = None,
    method: str = "condmean",
    inference: str | None = None,
    n_samples: int | None = None,
    seed: int = 1,
    deltas: Sequence[float] | None = None,
    legacy: Sequence[str] = LEGACY,
    executor="auto",
    level: float = 0.95,
    progress: bool = False,
    covariance_per_arm: bool = False,
    analysis: str = "ancova",
    information_anchored: bool = False,
) -> MissingDataAnalyses:
    """The primary comparison of ``outcome`` at ``visit`` (default: the last) beside its sensitivity analyses.

    ``strategies``: the imputation assumptions shown (default: MAR and the estimand's sensitivity
    assumptions, JR, CR and CIR unless the study declares others); ``deltas``: the tipping-point grid for the active arm (default: 21 values from 0 to twice the JR
    estimate, in the direction that makes the active arm look worse); ``legacy``: the single imputations
    shown for comparison; ``covariance_per_arm``: the imputation model has a covariance matrix per arm
    (default: one shared by the arms, rbmi's default); ``analysis``: ``"ancova"`` at each visit adjusted for
    the baseline (default, rbmi's) or ``"mmrm"`` (the primary model, ``outcome ~ baseline * visit + arm *
    visit``, unstructured), for every completed data set and the single imputations;
    ``information_anchored``: with ``method="condmean"``, the information-anchored variance of Lu (2021)
    instead of the frequentist one; ``executor``: see :func:`painstudy.sensitivity.reference_based`.
    """
    from painstudy.compare import compare_arms

    inst = cohort.instrument(outcome)
    est = estimand_for(cohort, outcome)
    derived, est = apply_estimand(cohort, est)
    strategies = ("MAR", *[s for s in est.sensitivity if s != "MAR"]) if strategies is None else tuple(strategies)
    data, formula, left_out = study_data(derived, outcome, per_arm=covariance_per_arm)
    visits = [str(x) for x in data["visit"].cat.categories]
    visit = visits[-1] if visit is None else str(visit)
    if visit not in visits:
        raise ModelError(f"visit {visit!r} is not one of the post-baseline visits {visits}")
    if analysis not in ("ancova", "mmrm"):
        raise ModelError(
            f"analysis={analysis!r}: use 'ancova' or 'mmrm' (responders of imputed data: "
            "painstudy.sensitivity.reference_based with analysis='responder')"
        )
    control = cohort.spec.reference_arm.name
    options = dict(
        analysis=analysis,
        information_anchored=information_anchored,
        arm="arm",
        reference=control,
        control=control,
        method=method,
        inference=inference,
        n_samples=n_samples,
        seed=seed,
        executor=executor,
        level=level,
        progress=progress,
    )
    rows, results = [], {}
    primary = compare_arms(cohort, outcome)
    pt = primary.table[(primary.table["visit"].astype(str) == visit) & (primary.table["reference"] == control)]
    for r in pt.itertuples():
        rows.append(
            (
                "primary: " + primary.model,
                f"{r.arm} - {control}",
                r.estimate,
                r.std_error,
                r.ci_lower,
                r.ci_upper,
                r.p_value,
                False,
            )
        )
    # one set of draws serves every strategy: with events at the first missing visit of a terminal run no
    # observed outcome is set aside, so the imputation model sees the same data under each
    events = None
    if cohort.spec.events is not None:  # the declared events with a hypothetical strategy, from their visit on
        gov = governing_events(cohort, est)
        gov = gov[(gov["strategy"] == "hypothetical") & gov["subject"].isin(set(data["subject"]))]
        events = pd.DataFrame({"subject": gov["subject"].astype(str), "visit": gov["visit"], "strategy": "JR"})
    jr = draws(data, formula, strategy="JR", events=events, **options)
    for s in strategies:
        d = jr.with_strategy(s)
        res = result_of(d, formula, True, None)
        results[s] = res
        eff = res.effects()
        for r in eff[eff["visit"].astype(str) == visit].itertuples():
            rows.append(
                (
                    f"{s} ({STRATEGY_NAMES[s]}), {method}" + (", information-anchored" if information_anchored else ""),
                    r.term,
                    r.estimate,
                    r.std_error,
                    r.ci_lower,
                    r.ci_upper,
                    r.p_value,
                    False,
                )
            )
    for how in legacy:
        pooled = single_imputation(
            jr.design,
            jr.wide.y,
            jr.wide.covariates[f"{outcome}_baseline"].to_numpy(float),
            how,
            bool(inst.lower_is_better),
            level,
        )
        for i, (v, kind, term) in enumerate(jr.design.labels):
            if str(v) == visit and kind == "effect":
                rows.append(
                    (
                        f"{how.upper()} (single imputation)",
                        term,
                        pooled.estimate[i],
                        pooled.se[i],
                        pooled.lower[i],
                        pooled.upper[i],
                        pooled.p[i],
                        True,
                    )
                )
    table = pd.DataFrame(rows, columns=COLUMNS)
    # the tipping point of the primary comparison (the integrative arm if there is one) under JR
    arms = {a.name: a.arm_class for a in cohort.spec.arms}
    active = next((a for a, k in arms.items() if k == "integrative"), next(a for a in arms if a != control))
    term = f"{active} - {control}"
    jr_row = table[(table["analysis"].str.startswith("JR")) & (table["comparison"] == term)]
    worse = 1.0 if inst.lower_is_better else -1.0
    if deltas is None:
        # far enough to tip: the estimate moves by about delta x the share of the active arm's values imputed
        scale = abs(float(jr_row["estimate"].iloc[0])) if len(jr_row) else 1.0
        in_active = jr.wide.arm.astype(str) == active
        share = float(np.isnan(jr.wide.y[in_active, visits.index(visit)]).mean()) if in_active.any() else 1.0
        deltas = worse * np.linspace(0.0, 2.0 * max(scale, 1e-6) / max(share, 0.05), 21)
    tipping = tipping_from_draws(jr, deltas, active=active, visit=visit, strategy="JR")
    n = jr.wide.n
    missing = int(np.isnan(jr.wide.y[:, visits.index(visit)]).sum())
    n_events = int((jr.wide.ice < jr.wide.T).sum())
    if events is None:
        event_text = (
            f"discontinuation (the first of a terminal run of missing visits; no intercurrent events declared): "
            f"{n_events} subjects"
        )
    else:
        event_text = est.events_text()
    estimand = {
        "population": (est.population if est.declared else f"all randomised subjects with a baseline {outcome}")
        + f" (analysed: {n}"
        + (f"; {left_out} without a baseline left out" if left_out else "")
        + ")",
        "variable": est.variable,
        "intercurrent events": event_text,
        "missing values": f"{missing} of {n} subjects lack {outcome} at {visit}",
        "strategy": f"hypothetical under MAR (primary); reference-based ({', '.join(s for s in strategies if s != 'MAR')}) "
        f"as sensitivity, for the {n_events} subjects whose data after the event are imputed"
        if n_events
        else "no event has a hypothetical strategy: the reference-based imputations equal MAR",
        "summary measure": est.summary,
    }
    if est.derivation:
        estimand["derivation"] = "; ".join(est.derivation)
    notes = (
        f"imputation model: {formula} (REML, "
        f"{'a covariance matrix per arm' if covariance_per_arm else 'one covariance shared by the arms'}); "
        f"analysis: {jr.design.describe()}; {method} with {jr.inference} inference",
        "single imputations (LOCF, BOCF, WOCF) are shown for comparison only: they treat imputed values as "
        "observed and understate uncertainty",
        *jr.notes(),
    )
    return MissingDataAnalyses(outcome, visit, estimand, table, tipping, results, notes)
