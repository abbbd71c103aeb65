"""The question of the toolkit in one call: do integrative arms do better, on pain and function?

:func:`compare_arms` fits the pre-specified model per outcome (an MMRM of the post-baseline
visits adjusted for the baseline value of the outcome, or a random-slopes model), and returns
one tidy table of comparisons: each arm against the control (reference) arm and each
integrative arm against each single-modality arm, at each visit (or per week of slope), with
multiplicity handled across arms within each outcome and visit, and the direction of benefit
in words from the instrument's direction.

Multiplicity: within each outcome x visit, the arms-vs-reference family and the
integrative-vs-single-modality family are each adjusted (Dunnett by default, or Holm,
Bonferroni, none). Across outcomes nothing is adjusted: the first outcome is declared primary
and the others secondary, as a trial's analysis plan does; the result says so in
``multiplicity``.

Examples
--------
>>> import painstudy
>>> res = painstudy.compare_arms(painstudy.load_cohort("demo"), ["pain"], visits=["week52"])
>>> res.table.loc[0, ["outcome", "visit", "comparison"]].tolist()
['pain', 'week52', 'physiotherapy vs usual_care']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import ModelError
from .rendering import Rendered, Tidy, format_p

if TYPE_CHECKING:  # pragma: no cover
    from .cohort import Cohort

TABLE_COLUMNS = [
    "outcome",
    "role",
    "visit",
    "family",
    "comparison",
    "arm",
    "reference",
    "estimate",
    "std_error",
    "df",
    "ci_lower",
    "ci_upper",
    "p_value",
    "ci_lower_adjusted",
    "ci_upper_adjusted",
    "p_adjusted",
    "adjustment",
    "effect_size",
    "favours",
    "direction",
]


@dataclass(frozen=True, repr=False)
class ArmComparison(Rendered):
    """Result of :func:`compare_arms` (immutable).

    Attributes
    ----------
    table : DataFrame
        One row per outcome x visit x comparison, columns ``TABLE_COLUMNS``: ``family`` names the
        family the comparison is adjusted within (``vs <reference>``: every arm against the
        reference; ``<arm> vs single-modality``: an integrative arm against each single-modality
        arm), so a comparison that belongs to two families appears once in each; ``estimate`` is the
        difference (arm minus reference) in the outcome's units (per week for ``slopes``), with its
        unadjusted CI and p-value and the family's multiplicity-adjusted (simultaneous) CI and
        p-value;
        ``effect_size`` that difference over the model-based SD of the outcome at the visit (for
        ``slopes``: the slope difference over the whole follow-up, divided by the SD of the
        baseline values), so its sign is that of the raw difference; ``favours`` and
        ``direction`` give the benefit in words, judged on the adjusted interval when the family is
        adjusted.
    lsmeans : DataFrame
        LS means per outcome, arm and visit (for trajectories).
    fits : mapping
        The fitted model per outcome.
    estimands : mapping
        The :class:`~painstudy.estimands.Estimand` of each outcome (printed with the result).
    """

    table: pd.DataFrame
    lsmeans: pd.DataFrame
    fits: Mapping[str, object] = field(repr=False, default_factory=dict)
    model: str = "mmrm"
    formulas: Mapping[str, str] = field(default_factory=dict)
    multiplicity: str = ""
    cohort: object = field(repr=False, default=None)
    estimands: Mapping[str, object] = field(default_factory=dict)
    #: with ``by=``: the :class:`~painstudy.subgroups.SubgroupResult` of each outcome
    subgroups: Mapping[str, object] = field(default_factory=dict)
    #: facts about the fits (e.g. visits without a value of a derived outcome, left out of its model)
    notes: tuple[str, ...] = ()

    def plot_trajectories(self, outcome: str | None = None, *, ax=None):
        """LS-mean trajectories per arm with CIs over visits; returns the Axes."""
        from .plotting.mixed import plot_lsmeans

        return plot_lsmeans(self, outcome or self.table["outcome"].iloc[0], ax=ax)

    def plot_forest(self, *, visit: str | None = None, ax=None):
        """Forest plot of the comparisons (default: at the last visit); returns the Axes."""
        from .plotting.mixed import plot_forest

        return plot_forest(self, visit=visit, ax=ax)

    def model_lines(self) -> dict[str, str]:
        """Per outcome: the model's formula and how many subjects it used (and left out, and why)."""
        return {o: f"{f}{_subjects_note(self.fits[o])}" for o, f in self.formulas.items()}

    def display_table(self) -> pd.DataFrame:
        """The comparisons as a reader sees them: one row per outcome, visit and comparison, with
        ``estimate (95% CI)``, ``p``, the family's adjusted interval and p, the effect size and the
        direction in words (the full-precision numbers are in :attr:`table`)."""
        t = self.table

        def ci(e, lo, hi):
            return f"{e:.2f} ({lo:.2f} to {hi:.2f})"

        return pd.DataFrame(
            {
                "outcome": t["outcome"],
                "visit": t["visit"],
                "family": t["family"],
                "comparison": t["comparison"],
                "estimate (95% CI)": [ci(*v) for v in zip(t["estimate"], t["ci_lower"], t["ci_upper"])],
                "p": [format_p(v) for v in t["p_value"]],
                "adjusted CI": [
                    f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(t["ci_lower_adjusted"], t["ci_upper_adjusted"])
                ],
                "adjusted p": [format_p(v) for v in t["p_adjusted"]],
                "effect size": [f"{v:.2f}" for v in t["effect_size"]],
                "direction": t["direction"],
            }
        )

    def tidy(self) -> Tidy:
        facts = (
            ("model", self.model),
            ("outcomes", ", ".join(dict.fromkeys(self.table["outcome"]))),
            ("comparisons", len(self.table)),
        )
        facts += tuple((f"intercurrent events ({o})", e.events_text()) for o, e in self.estimands.items())
        formulas = tuple(f"{o}: {line}" for o, line in self.model_lines().items())
        estimands = tuple(f"estimand ({o}): {e}" for o, e in self.estimands.items())
        tables = (("comparisons", self.table), ("lsmeans", self.lsmeans))
        shown = (("comparisons", self.display_table()),)
        for outcome, sub in self.subgroups.items():
            tables += ((f"subgroups_{outcome}", sub.effects), (f"subgroup_tests_{outcome}", sub.tests))
            shown += (
                (f"subgroup effects: {outcome}", sub.display_table()),
                (f"interaction tests: {outcome}", sub.tests),
            )
        return Tidy(
            "Comparison of arms",
            facts,
            tables,
            (self.multiplicity,) + formulas + estimands + self.notes,
            shown=shown,
        )


def _subjects_note(fit) -> str:
    """`` (n subjects; k left out ...)`` for a mixed-model fit: nobody leaves an analysis unsaid."""
    n, gone = fit.n_subjects, fit.n_subjects_dropped
    if not gone:
        return f" ({n} subjects)"
    return f" ({n} subjects; {gone} left out: no post-baseline value of the outcome with its baseline and covariates)"


def _adjust_names(cohort: Cohort, outcome: str, adjust_for: Sequence[str]) -> list[str]:
    cols = []
    for a in adjust_for:
        if a == "baseline":
            _check_baseline(cohort, outcome)
            cols.append(f"{outcome}_baseline")
        elif a in ("site", "condition") or a in cohort.subjects.columns:
            cols.append(a)
        else:
            raise ModelError(
                f"adjust_for: {a!r} is neither 'baseline' nor a column of the cohort's subjects "
                f"({', '.join(cohort.subjects.columns)})"
            )
    return cols


def _check_baseline(cohort: Cohort, outcome: str) -> None:
    """Adjusting for the baseline needs baseline values: say why there are none and what to do instead."""
    spec = cohort.spec
    if cohort.subjects[f"{outcome}_baseline"].notna().any():
        return
    if spec.baseline_visit is None and spec.outcome(outcome).baseline_column is None:
        why = (
            f"study {spec.name!r} has no baseline of outcome {outcome!r}: no visit of its study.yml is marked "
            "`baseline: true` and the outcome has no `baseline_column`"
        )
    else:
        why = f"no subject of study {spec.name!r} has a baseline value of outcome {outcome!r}"
    numeric = [v.name for v in spec.covariates if v.kind == "numeric"]
    instead = (
        f"adjust for a baseline covariate instead: --adjust-for {numeric[0]} (Python: adjust_for=[{numeric[0]!r}]; "
        f"numeric covariates: {', '.join(numeric)})"
        if numeric
        else "declare the baseline in study.yml, or adjust for subject covariates with --adjust-for (adjust_for=[...])"
    )
    raise ModelError(f"adjust_for 'baseline' (the default): {why}; {instead}")


def _direction(estimate: float, lower_is_better: bool, arm: str, ref: str, lo: float, hi: float) -> tuple[str, str]:
    better = -estimate if lower_is_better else estimate
    favours = arm if better > 0 else ref
    if lo <= 0 <= hi:  # the interval includes no difference: no claim either way
        return "neither", f"no difference shown (estimate favours {favours}; CI includes 0)"
    words = f"favours {favours}"
    return favours, words


def compare_arms(
    cohort: Cohort,
    outcomes: Sequence[str] | None = None,
    *,
    model: str = "mmrm",
    covariance: str = "us",
    adjust_for: Sequence[str] = ("baseline",),
    reference: str | None = None,
    visits: Sequence[str] | None = None,
    multiplicity: str = "dunnett",
    df: str = "satterthwaite",
    level: float = 0.95,
    estimand=None,
    lsmeans_weights: str = "equal",
    by: str | Sequence[str] | None = None,
) -> ArmComparison:
    """Compare arms on each outcome with the pre-specified mixed model.

    Parameters
    ----------
    cohort : Cohort
    outcomes : list of str, optional
        Outcome names (default: the study's first two, usually pain and function). The first is
        declared primary.
    model : {"mmrm", "slopes"}
        ``"mmrm"``: visit as repeated factor, ``arm * visit``, covariance ``covariance`` over
        post-baseline visits. ``"slopes"``: random intercept and slope on week per subject,
        ``arm * week``; comparisons are of slopes per week.
    covariance : str
        MMRM covariance structure (``us``, ``cs``, ``ar1``, ``toeph``, ...).
    adjust_for : list of str
        ``"baseline"`` (the outcome's baseline value) and/or subject covariates, ``site``, ``condition``.
    reference : str, optional
        Reference arm (default: the study's control arm).
    visits : list of str, optional
        Visits reported (default: every post-baseline visit; all are used in the fit).
    multiplicity : {"dunnett", "holm", "bonferroni", "none"}
        Adjustment across arms within each outcome x visit.
    df : str
        Degrees of freedom method of the MMRM.
    level : float
        Confidence level.
    estimand : optional
        How intercurrent events are handled (:func:`painstudy.estimands.estimand_for`): None (default)
        takes each outcome's estimand declared in study.yml (without one, every event is handled by
        treatment policy: the outcomes as observed); ``"hypothetical"``, ``"composite"``, ... for every
        event; or a mapping event type -> strategy. The outcome is derived as the strategies say
        (:func:`painstudy.estimands.apply_estimand`) before the model is fitted, and the estimand is
        printed with the result.
    lsmeans_weights : str
        How the LS means per arm average the other factors of the model (site, condition): ``"equal"``
        (default, as SAS and emmeans), ``"proportional"``, ``"outer"``, ``"cells"`` or ``"counterfactual"``
        (see :mod:`painstudy.models.mixed.lsmeans`). The differences between arms do not depend on it (the
        model has no arm-by-covariate interaction).
    by : str or list of str, optional
        Subgroup variables (``condition``, ``sex``, a covariate): the comparisons within each subgroup and
        the arm-by-subgroup interaction tests of each outcome (:func:`painstudy.subgroups.subgroups`, MMRM
        only), in ``ArmComparison.subgroups`` and shown with the comparisons.

    A visit at which an outcome has no value at all (a derived outcome such as a diary summary kept for
    part of the follow-up) is left out of that outcome's model, with a note; asking for it in ``visits``
    is an error.
    """
    from .estimands import apply_estimand, estimand_for
    from .models.mixed.mmrm import mmrm

    spec = cohort.spec
    if isinstance(outcomes, str):  # one outcome given as a name, not as a list of letters
        outcomes = [outcomes]
    outcomes = list(outcomes or cohort.outcomes[:2])
    reference = reference or spec.reference_arm.name
    spec.arm(reference)
    if model not in ("mmrm", "slopes"):
        raise ModelError(f"model must be 'mmrm' or 'slopes', not {model!r}")
    if multiplicity not in ("dunnett", "holm", "bonferroni", "none"):
        raise ModelError(f"multiplicity must be dunnett, holm, bonferroni or none, not {multiplicity!r}")
    post = [v.name for v in spec.post_baseline_visits]
    visits_given = bool(visits)
    visits = list(visits or post)
    unknown = [v for v in visits if v not in post]
    if unknown:
        raise ModelError(f"visits {unknown} are not post-baseline visits of {spec.name!r} ({post})")
    arm_order = [reference] + [a.name for a in spec.arms if a.name != reference]
    classes = {a.name: a.arm_class for a in spec.arms}
    integrative = [a for a in arm_order if classes[a] == "integrative"]
    singles = [a for a in arm_order if classes[a] == "single-modality"]

    rows, lsm, fits, formulas, estimands, notes = [], [], {}, {}, {}, []
    asked = set(visits) if visits_given else set()
    for k, outcome in enumerate(outcomes):
        inst = cohort.instrument(outcome)
        adj = _adjust_names(cohort, outcome, adjust_for)
        derived, estimands[outcome] = apply_estimand(cohort, estimand_for(cohort, outcome, estimand))
        data = derived.analysis_data(outcome)
        extra = [c for c in adj if c not in data.columns]
        if extra:
            data = data.merge(cohort.subjects[["subject", *extra]], on="subject", how="left")
        data = data.assign(arm=pd.Categorical(data["arm"].astype(str), categories=arm_order))
        present = [a for a in arm_order if (data["arm"] == a).any()]
        data = data.assign(arm=data["arm"].cat.set_categories(present))
        role = "primary" if k == 0 else "secondary"
        rhs = " + ".join(adj)
        empty = [v for v in post if not (data["visit"].astype(str) == v).any()]
        if empty and model == "mmrm":
            if asked & set(empty):
                raise ModelError(
                    f"{outcome} has no value at {', '.join(v for v in visits if v in empty)}: "
                    f"leave {'it' if len(asked & set(empty)) == 1 else 'them'} out of visits="
                )
            data = data.assign(visit=data["visit"].cat.remove_unused_categories())
            notes.append(f"{outcome} has no value at {', '.join(empty)}: left out of its model")
        if model == "mmrm":
            formula = f"{outcome} ~ {rhs + ' + ' if rhs else ''}arm * visit + {covariance}(visit | subject)"
            fit = mmrm(formula, data, df=df)
            sds = {v: float(np.sqrt(fit.covariance.loc[v, v])) for v in fit.covariance.index}

            def contrasts(ref, levels, adjust, fit=fit):
                return fit.contrasts(
                    "arm", by="visit", method="trt.vs.ctrl", ref=ref, levels=levels, adjust=adjust, level=level
                )

            def scale(visit, sds=sds):  # the model-based SD of the outcome at the visit
                return sds[visit]

            m = fit.lsmeans("arm", by="visit", level=level, weights=lsmeans_weights).assign(outcome=outcome)
            m["week"] = m["visit"].map({v.name: v.week for v in spec.visits}).astype(float)
        else:
            from .models.mixed.lmm import lmm  # imported only for this model (its engines load scipy.sparse)

            formula = f"{outcome} ~ {rhs + ' + ' if rhs else ''}arm * week + (1 + week | subject)"
            fit = lmm(formula, data)
            sd = float(np.nanstd(cohort.subjects[f"{outcome}_baseline"], ddof=1))
            span = max(v.week for v in spec.visits)

            def contrasts(ref, levels, adjust, fit=fit):
                c = fit.trend_contrasts(
                    "week", by="arm", method="trt.vs.ctrl", ref=ref, levels=levels, adjust=adjust, level=level
                )
                return c.assign(visit="slope per week")

            def scale(visit, sd=sd, span=span):  # slope difference over the follow-up, in baseline SDs
                return sd / span

            # model-based means per arm at each scheduled post-baseline week, for the trajectory plot
            m = pd.concat(
                [
                    fit.lsmeans("arm", at={"week": v.week}, level=level, weights=lsmeans_weights).assign(
                        visit=v.name, week=v.week
                    )
                    for v in spec.post_baseline_visits
                ],
                ignore_index=True,
            ).assign(outcome=outcome)
        lsm.append(m)
        # each arm vs the reference; each integrative arm vs each single-modality arm
        families = (
            [(reference, [a for a in present if a != reference], 1.0, f"vs {reference}")] if len(present) > 1 else []
        )
        others = [a for a in singles if a in present]
        families += [
            (integ, others, -1.0, f"{integ} vs single-modality") for integ in integrative if integ in present and others
        ]
        for ref, levels, sign, family in families:
            c = contrasts(ref, levels, "none")
            a = c if multiplicity == "none" else contrasts(ref, levels, multiplicity)
            c["p_adjusted"] = a["p_value"].to_numpy()
            c["ci_lower_adjusted"], c["ci_upper_adjusted"] = a["ci_lower"].to_numpy(), a["ci_upper"].to_numpy()
            for r in c.itertuples():
                if r.visit not in visits and model == "mmrm":
                    continue
                other = r.contrast.split(" - ")[0]
                arm, vs = (other, ref) if sign > 0 else (ref, other)
                est, (lo, hi) = sign * r.estimate, sorted([sign * r.ci_lower, sign * r.ci_upper])
                alo, ahi = sorted([sign * r.ci_lower_adjusted, sign * r.ci_upper_adjusted])
                fav, words = _direction(est, inst.lower_is_better, arm, vs, alo, ahi)
                rows.append(
                    {
                        "outcome": outcome,
                        "role": role,
                        "visit": r.visit,
                        "family": family,
                        "comparison": f"{arm} vs {vs}",
                        "arm": arm,
                        "reference": vs,
                        "estimate": est,
                        "std_error": r.std_error,
                        "df": r.df,
                        "ci_lower": lo,
                        "ci_upper": hi,
                        "p_value": r.p_value,
                        "ci_lower_adjusted": alo,
                        "ci_upper_adjusted": ahi,
                        "p_adjusted": r.p_adjusted,
                        "adjustment": multiplicity,
                        "effect_size": est / scale(r.visit),
                        "favours": fav,
                        "direction": words,
                    }
                )
        fits[outcome], formulas[outcome] = fit, formula
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    # an adjusted p-value is never below the unadjusted one; Dunnett's multivariate-t integral is
    # computed to about 1e-6 absolute, so very small adjusted values are floored at the unadjusted p
    table["p_adjusted"] = np.maximum(table["p_adjusted"].astype(float), table["p_value"].astype(float))
    note = (
        f"{multiplicity} adjustment across arms within each outcome and visit; no adjustment across outcomes "
        f"({outcomes[0]} declared primary{', others secondary' if len(outcomes) > 1 else ''})"
    )
    subs = {}
    if by is not None:
        if model != "mmrm":
            raise ModelError("by= (subgroups) needs model='mmrm'")
        from .subgroups import subgroups

        subs = {
            o: subgroups(
                cohort,
                o,
                by,
                visits=visits if visits_given else None,
                reference=reference,
                df_method=df,
                conf_level=level,
                covariance=covariance,
            )
            for o in outcomes
        }
    return ArmComparison(
        table, pd.concat(lsm, ignore_index=True), fits, model, formulas, note, cohort, estimands, subs, tuple(notes)
    )
