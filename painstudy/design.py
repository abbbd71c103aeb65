"""Trial designs for power calculations: a ``design.yml`` read and checked, or a design estimated from a study.

A :class:`Design` holds what the power simulation draws from (:mod:`painstudy.power`): the arms (their
modalities and allocation), the visits (the first is the baseline), the control arm's mean per visit, each
arm's difference from the control per visit, the within-subject covariance of the outcome over the visits,
the conditions (with how strongly each responds to each arm) and the sites, the dropout hazard per arm and
visit (missing completely at random, monotone), and the analysis planned. It is data, never code: read from
YAML by :func:`read_design` (every rule checked, each broken one a :class:`DesignError` naming the file, the
key and the value) or estimated from a pilot study by :func:`design_from`.

The ``design.yml`` format (every key but ``arms``, ``visits``, ``mean`` and ``sd``/``covariance`` optional)::

    name: integrative-pain
    outcome: pain                 # a label; lower_is_better: true says which direction is benefit
    arms:                         # the control arm is the one with control: true (else the first)
      usual_care: {control: true}
      integrative: {modalities: [physiotherapy, mbsr, acupuncture], allocation: 1}
    visits: {baseline: 0, week4: 4, week8: 8, week12: 12, week26: 26}   # name: week; the first is baseline
    mean: 6.0                     # the control arm's mean: one number, or one per visit
    effects:                      # difference from the control arm at each post-baseline visit:
      integrative: {long_run: -1.8, tau: 6}   # reached as long_run * (1 - exp(-week / tau)); or a number,
                                              # or a list with one value per post-baseline visit
    sd: 1.8                       # one number or one per visit; with correlation (ar1 / cs / a matrix)
    correlation: {structure: ar1, rho: 0.5}   # or covariance: a visits x visits matrix instead of both
    conditions:                   # optional: probability and effect modifiers (1 = the arm's effect)
      fibromyalgia: {probability: 0.5, modifiers: {integrative: 1.4}}
      knee_osteoarthritis: {probability: 0.5, modifiers: {integrative: 0.6}}
    sites: {n: 8, sd: 0.3}        # random site effects on the outcome
    dropout: 0.05                 # hazard of dropping out before each post-baseline visit: a number, a list
                                  # per post-baseline visit, or per arm {arm: number or list}
    analysis: {method: mmrm, visit: week26, covariance: us, multiplicity: none}
    # or {method: ancova, visit: week26}; or {method: responders, visit: week26, threshold: 2}: improvement
    # from baseline of at least 2 points, a subject who left counted as a non-responder

Examples
--------
>>> from painstudy.design import demo_design
>>> d = demo_design()
>>> d.arms, d.visits[-1]
(('usual_care', 'physiotherapy', 'mindfulness', 'integrative'), 'week52')
>>> round(float(d.truth().query("arm == 'integrative' and visit == 'week26'")["effect"].iloc[0]), 2)
-1.78
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PainstudyError

__all__ = ["Design", "DesignError", "read_design", "design_from", "demo_design", "ANALYSES", "MULTIPLICITY"]

#: analyses a design may plan: the MMRM of compare_arms (all post-baseline visits, baseline-adjusted), an
#: ANCOVA of the outcome at one visit on baseline and arm (the subjects measured there), or responders at one
#: visit (improvement from baseline of at least ``responder_threshold``; a subject who left is a non-responder)
ANALYSES = ("mmrm", "ancova", "responders", "slopes", "improvement")
#: adjustments across the comparisons with the control arm
MULTIPLICITY = ("none", "holm", "bonferroni", "dunnett")
KEYS = ("name", "outcome", "lower_is_better", "arms", "visits", "mean", "effects", "sd", "correlation")
KEYS += ("covariance", "conditions", "sites", "dropout", "analysis")


class DesignError(PainstudyError):
    """A design that breaks a rule (the message names the file, the key, the value and the rule)."""


@dataclass(frozen=True, eq=False)
class Design:
    """A trial design: what :func:`painstudy.power.power` simulates and how it analyses each trial.

    Arrays are indexed by arm (in ``arms`` order, the control arm first) and visit (``visits``, the
    baseline first). ``effects`` is each arm's difference from the control arm at each visit for a
    subject whose condition modifier is 1; ``modifiers`` (arms x conditions) scale it per condition.
    ``dropout`` is the probability of leaving the trial before each visit, given present at the visit
    before (0 at baseline). Make variants with :func:`dataclasses.replace` or :meth:`null`.
    """

    name: str
    outcome: str
    arms: tuple[str, ...]
    allocation: np.ndarray
    modalities: Mapping[str, tuple[str, ...]]
    visits: tuple[str, ...]
    weeks: np.ndarray
    mean: np.ndarray
    effects: np.ndarray
    covariance: np.ndarray
    conditions: tuple[str, ...] = ("all",)
    condition_probability: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))
    modifiers: np.ndarray | None = None
    n_sites: int = 1
    site_sd: float = 0.0
    dropout: np.ndarray | None = None
    lower_is_better: bool = True
    analysis: str = "mmrm"
    analysis_visit: str | None = None
    analysis_covariance: str = "us"
    multiplicity: str = "none"
    responder_threshold: float | None = None
    source: str = "design"

    def __post_init__(self):
        A, T = len(self.arms), len(self.visits)
        if self.modifiers is None:
            object.__setattr__(self, "modifiers", np.ones((A, len(self.conditions))))
        if self.dropout is None:
            object.__setattr__(self, "dropout", np.zeros((A, T)))
        if self.analysis_visit is None:
            object.__setattr__(self, "analysis_visit", self.visits[-1])
        check_design(self)

    @property
    def control(self) -> str:
        """The control arm (the first)."""
        return self.arms[0]

    @property
    def post_visits(self) -> tuple[str, ...]:
        """The post-baseline visits."""
        return self.visits[1:]

    def null(self) -> Design:
        """The same design with every effect set to zero (for the type I error)."""
        return dataclasses.replace(self, effects=np.zeros_like(self.effects))

    def mean_effects(self) -> np.ndarray:
        """Population-average difference from control (arms x visits): effects averaged over conditions."""
        return self.effects * (self.modifiers @ self.condition_probability)[:, None]

    def retention(self) -> np.ndarray:
        """Fraction of each arm still in the trial at each visit (arms x visits)."""
        return np.cumprod(1.0 - self.dropout, axis=1)

    def responder_rates(self) -> np.ndarray:
        """Per arm, the probability of being a responder at the analysis visit (improved by at least
        ``responder_threshold`` from baseline and still in the trial): the change is normal within each
        condition (the site effect cancels), mixed over the conditions, times the arm's retention."""
        from scipy.stats import norm

        t = self.visits.index(self.analysis_visit)
        S = self.covariance
        sd = float(np.sqrt(S[t, t] + S[0, 0] - 2 * S[0, t]))
        sign = -1.0 if self.lower_is_better else 1.0
        drift = self.mean[t] - self.mean[0]
        rates = []
        for g in range(len(self.arms)):
            mu = sign * (drift + self.effects[g, t] * self.modifiers[g])  # mean improvement per condition
            p = float(self.condition_probability @ norm.sf((self.responder_threshold - mu) / sd))
            rates.append(p * self.retention()[g, t])
        return np.array(rates)

    def true_effects(self) -> dict[str, float]:
        """The true value of what the planned analysis estimates for each arm against the control at the
        analysis visit: the population-average difference in means (mmrm, ancova), or in responder rates;
        for ``slopes`` the least-squares slope per week of the true differences over the post-baseline visits
        (what the random-slope model estimates when every subject is measured at every visit); for
        ``improvement`` none (a hazard ratio of grouped times is not a parameter of the design: power and type
        I error only)."""
        if self.analysis == "responders":
            r = self.responder_rates()
            return {a: float(r[i] - r[0]) for i, a in enumerate(self.arms) if i}
        if self.analysis == "improvement":
            return {a: float("nan") for a in self.arms[1:]}
        if self.analysis == "slopes":
            w = np.asarray(self.weeks[1:], float)
            m = self.mean_effects()[:, 1:]
            slope = ((w - w.mean()) @ m.T) / float(((w - w.mean()) ** 2).sum())
            return {a: float(slope[i]) for i, a in enumerate(self.arms) if i}
        t = self.visits.index(self.analysis_visit)
        m = self.mean_effects()
        return {a: float(m[i, t]) for i, a in enumerate(self.arms) if i}

    def truth(self) -> pd.DataFrame:
        """The true population-average difference of each arm from the control at each post-baseline visit.

        Columns ``arm, reference, visit, week, effect``.
        """
        m = self.mean_effects()
        rows = [
            {"arm": a, "reference": self.control, "visit": v, "week": float(self.weeks[t]), "effect": float(m[i, t])}
            for i, a in enumerate(self.arms)
            if i > 0
            for t, v in enumerate(self.visits)
            if t > 0
        ]
        return pd.DataFrame(rows, columns=["arm", "reference", "visit", "week", "effect"])

    def describe(self) -> dict:
        """The design as JSON-ready values (for manifests and reports)."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "arms": {a: {"allocation": float(self.allocation[i])} for i, a in enumerate(self.arms)},
            "visits": dict(zip(self.visits, map(float, self.weeks))),
            "mean": self.mean.tolist(),
            "effects": {a: self.effects[i, 1:].tolist() for i, a in enumerate(self.arms) if i},
            "covariance": self.covariance.tolist(),
            "conditions": dict(zip(self.conditions, self.condition_probability.tolist())),
            "sites": {"n": self.n_sites, "sd": self.site_sd},
            "dropout": {a: self.dropout[i, 1:].tolist() for i, a in enumerate(self.arms)},
            "analysis": {
                "method": self.analysis,
                "visit": self.analysis_visit,
                "covariance": self.analysis_covariance,
                "multiplicity": self.multiplicity,
                "threshold": self.responder_threshold,
            },
            "source": self.source,
        }


def check_design(d: Design) -> None:
    """Every rule a design keeps; the first broken one raises :class:`DesignError` naming the key."""
    where = f"{d.source}: "
    A, T = len(d.arms), len(d.visits)
    if A < 2:
        raise DesignError(f"{where}arms: a design needs a control arm and at least one other, got {list(d.arms)}")
    if T < 2:
        raise DesignError(f"{where}visits: a baseline and at least one post-baseline visit are needed")
    if len(set(d.arms)) < A or len(set(d.visits)) < T:
        raise DesignError(f"{where}arms and visits must have distinct names")
    shapes = {
        "allocation": (d.allocation, (A,)),
        "weeks": (d.weeks, (T,)),
        "mean": (d.mean, (T,)),
        "effects": (d.effects, (A, T)),
        "covariance": (d.covariance, (T, T)),
        "dropout": (d.dropout, (A, T)),
        "modifiers": (d.modifiers, (A, len(d.conditions))),
        "conditions": (d.condition_probability, (len(d.conditions),)),
    }
    for key, (value, shape) in shapes.items():
        value = np.asarray(value, float)
        if value.shape != shape:
            raise DesignError(f"{where}{key}: expected {shape} values (arms x visits as needed), got {value.shape}")
        if not np.isfinite(value).all():
            raise DesignError(f"{where}{key}: every value must be a finite number")
    if (d.allocation <= 0).any():
        raise DesignError(f"{where}arms: allocation must be positive, got {d.allocation.tolist()}")
    if (np.diff(d.weeks) <= 0).any():
        raise DesignError(f"{where}visits: weeks must increase, got {d.weeks.tolist()}")
    var = np.diag(d.covariance)
    if (var <= 0).any():
        t = int(np.flatnonzero(var <= 0)[0])
        raise DesignError(f"{where}sd/covariance: variance at visit {d.visits[t]!r} is {var[t]:g}; it must be > 0")
    if not np.allclose(d.covariance, d.covariance.T, rtol=1e-10, atol=1e-12):
        raise DesignError(f"{where}covariance: the matrix must be symmetric")
    low = float(np.linalg.eigvalsh(d.covariance)[0])
    if low <= 1e-10 * float(var.max()):
        raise DesignError(
            f"{where}covariance: not positive definite (smallest eigenvalue {low:.3g}); "
            "check the correlations (|rho| < 1, a valid correlation matrix)"
        )
    if (d.dropout < 0).any() or (d.dropout > 1).any():
        i, t = np.argwhere((d.dropout < 0) | (d.dropout > 1))[0]
        raise DesignError(
            f"{where}dropout: {d.dropout[i, t]:g} for arm {d.arms[i]!r} at visit {d.visits[t]!r} "
            "is not a probability (0 to 1, i.e. at most 100%)"
        )
    if (d.dropout[:, -1] >= 1).any() or (d.retention()[:, -1] <= 0).any():
        raise DesignError(f"{where}dropout: nobody would reach the last visit in some arm")
    if abs(float(d.condition_probability.sum()) - 1.0) > 1e-8 or (d.condition_probability < 0).any():
        raise DesignError(
            f"{where}conditions: probabilities must be >= 0 and sum to 1, got {d.condition_probability.tolist()}"
        )
    if d.site_sd < 0 or d.n_sites < 1:
        raise DesignError(f"{where}sites: n must be >= 1 and sd >= 0 (a standard deviation), got {d.site_sd:g}")
    if d.analysis not in ANALYSES:
        raise DesignError(f"{where}analysis: unknown analysis {d.analysis!r}; use one of {', '.join(ANALYSES)}")
    if d.multiplicity not in MULTIPLICITY:
        raise DesignError(
            f"{where}analysis.multiplicity: unknown {d.multiplicity!r}; use one of {', '.join(MULTIPLICITY)}"
        )
    if d.analysis in ("responders", "improvement") and (d.responder_threshold is None or d.responder_threshold <= 0):
        raise DesignError(
            f"{where}analysis.threshold: {d.analysis} need a positive improvement threshold (outcome units), "
            f"got {d.responder_threshold!r}"
        )
    if d.analysis in ("responders", "improvement") and d.multiplicity == "dunnett":
        raise DesignError(f"{where}analysis.multiplicity: dunnett is for mean differences; use holm or bonferroni")
    if d.analysis_visit not in d.visits[1:]:
        raise DesignError(
            f"{where}analysis.visit: {d.analysis_visit!r} is not a post-baseline visit ({', '.join(d.visits[1:])})"
        )


# -- reading design.yml -----------------------------------------------------------------------------------
def _number(value, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DesignError(f"{where}{key}: expected a number, got {value!r}")
    return float(value)


def _per_visit(value, n: int, key: str, where: str) -> np.ndarray:
    """A number (the same at every visit) or a list of ``n`` numbers."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise DesignError(f"{where}{key}: expected {n} values (one per visit), got {len(value)}")
        return np.array([_number(v, f"{key}[{i}]", where) for i, v in enumerate(value)])
    return np.full(n, _number(value, key, where))


def _mapping(value, key: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DesignError(f"{where}{key}: expected a mapping, got {value!r}")
    return value


def _effects(doc, arms, weeks, where) -> np.ndarray:
    effects = np.zeros((len(arms), len(weeks)))
    for arm, spec in _mapping(doc.get("effects"), "effects", where).items():
        if arm not in arms:
            raise DesignError(f"{where}effects: unknown arm {arm!r}; the arms are {', '.join(arms)}")
        i = arms.index(arm)
        key = f"effects.{arm}"
        if isinstance(spec, dict):
            extra = set(spec) - {"long_run", "tau"}
            if extra or "long_run" not in spec:
                raise DesignError(f"{where}{key}: expected long_run (and tau), got {sorted(spec)}")
            tau = _number(spec.get("tau", 6.0), f"{key}.tau", where)
            if tau <= 0:
                raise DesignError(f"{where}{key}.tau: must be > 0 (weeks), got {tau:g}")
            effects[i, 1:] = _number(spec["long_run"], f"{key}.long_run", where) * (1 - np.exp(-weeks[1:] / tau))
        else:
            effects[i, 1:] = _per_visit(spec, len(weeks) - 1, key, where)
    if np.any(effects[0] != 0):
        raise DesignError(f"{where}effects.{arms[0]}: the control arm's effect is 0 by definition")
    return effects


def _covariance(doc, T, where) -> np.ndarray:
    if "covariance" in doc:
        if "sd" in doc or "correlation" in doc:
            raise DesignError(f"{where}covariance: give either covariance or sd (with correlation), not both")
        m = doc["covariance"]
        if not (isinstance(m, list) and len(m) == T and all(isinstance(r, list) and len(r) == T for r in m)):
            raise DesignError(f"{where}covariance: expected a {T} x {T} matrix (one row per visit)")
        return np.array([[_number(x, "covariance", where) for x in r] for r in m])
    if "sd" not in doc:
        raise DesignError(f"{where}sd: missing (the outcome's standard deviation, or give covariance)")
    sd = _per_visit(doc["sd"], T, "sd", where)
    if (sd <= 0).any():
        raise DesignError(f"{where}sd: standard deviations must be > 0 (a negative variance?), got {sd.tolist()}")
    corr = doc.get("correlation", {"structure": "independent"})
    if isinstance(corr, list):
        R = np.array([[_number(x, "correlation", where) for x in r] for r in corr])
        if R.shape != (T, T):
            raise DesignError(f"{where}correlation: expected a {T} x {T} matrix")
    else:
        corr = _mapping(corr, "correlation", where)
        structure = corr.get("structure", "ar1")
        rho = _number(corr.get("rho", 0.0), "correlation.rho", where)
        if not -1 < rho < 1:
            raise DesignError(f"{where}correlation.rho: must be between -1 and 1, got {rho:g}")
        lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
        R = {"ar1": rho**lag, "cs": np.where(lag == 0, 1.0, rho), "independent": np.eye(T)}.get(structure)
        if R is None:
            raise DesignError(f"{where}correlation.structure: unknown {structure!r}; use ar1, cs or independent")
    return R * np.outer(sd, sd)


def _dropout(doc, arms, T, where) -> np.ndarray:
    spec = doc.get("dropout", 0.0)
    out = np.zeros((len(arms), T))
    if isinstance(spec, dict):
        for arm, v in spec.items():
            if arm not in arms:
                raise DesignError(f"{where}dropout: unknown arm {arm!r}; the arms are {', '.join(arms)}")
            out[arms.index(arm), 1:] = _per_visit(v, T - 1, f"dropout.{arm}", where)
    else:
        out[:, 1:] = _per_visit(spec, T - 1, "dropout", where)
    return out


def _conditions(doc, arms, where):
    spec = _mapping(doc.get("conditions"), "conditions", where)
    if not spec:
        return ("all",), np.ones(1), np.ones((len(arms), 1))
    names = tuple(spec)
    prob = np.zeros(len(names))
    mods = np.ones((len(arms), len(names)))
    for j, (name, c) in enumerate(spec.items()):
        c = _mapping(c, f"conditions.{name}", where)
        prob[j] = _number(c.get("probability", 1.0 / len(names)), f"conditions.{name}.probability", where)
        for arm, m in _mapping(c.get("modifiers"), f"conditions.{name}.modifiers", where).items():
            if arm not in arms:
                raise DesignError(f"{where}conditions.{name}.modifiers: unknown arm {arm!r}")
            mods[arms.index(arm), j] = _number(m, f"conditions.{name}.modifiers.{arm}", where)
    return names, prob, mods


def parse_design(doc: dict, source: str = "design") -> Design:
    """A :class:`Design` from the parsed YAML mapping ``doc`` (``source`` names it in error messages)."""
    where = f"{source}: "
    if not isinstance(doc, dict):
        raise DesignError(f"{where}expected a mapping of keys (name, arms, visits, ...)")
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        raise DesignError(f"{where}unknown key(s) {', '.join(map(str, unknown))}; the keys are {', '.join(KEYS)}")
    for key in ("arms", "visits", "mean"):
        if key not in doc:
            raise DesignError(f"{where}{key}: missing")
    arm_spec = _mapping(doc["arms"], "arms", where)
    names = [str(a) for a in arm_spec]
    controls = [a for a in names if _mapping(arm_spec[a], f"arms.{a}", where).get("control")]
    if len(controls) > 1:
        raise DesignError(f"{where}arms: more than one control arm ({', '.join(controls)})")
    control = controls[0] if controls else names[0]
    arms = [control] + [a for a in names if a != control]
    visit_spec = _mapping(doc["visits"], "visits", where)
    visits = tuple(str(v) for v in visit_spec)
    weeks = np.array([_number(w, f"visits.{v}", where) for v, w in visit_spec.items()])
    T = len(visits)
    analysis = _mapping(doc.get("analysis"), "analysis", where)
    extra = set(analysis) - {"method", "visit", "covariance", "multiplicity", "threshold"}
    if extra:
        raise DesignError(f"{where}analysis: unknown key(s) {', '.join(sorted(extra))}")
    names, prob, mods = _conditions(doc, arms, where)
    sites = _mapping(doc.get("sites"), "sites", where)
    return Design(
        name=str(doc.get("name", Path(source).stem)),
        outcome=str(doc.get("outcome", "outcome")),
        arms=tuple(arms),
        allocation=np.array(
            [_number((arm_spec[a] or {}).get("allocation", 1), f"arms.{a}.allocation", where) for a in arms]
        ),
        modalities={a: tuple((arm_spec[a] or {}).get("modalities", ())) for a in arms},
        visits=visits,
        weeks=weeks,
        mean=_per_visit(doc["mean"], T, "mean", where),
        effects=_effects(doc, arms, weeks, where),
        covariance=_covariance(doc, T, where),
        conditions=names,
        condition_probability=prob,
        modifiers=mods,
        n_sites=int(_number(sites.get("n", 1), "sites.n", where)),
        site_sd=_number(sites.get("sd", 0.0), "sites.sd", where),
        dropout=_dropout(doc, arms, T, where),
        lower_is_better=bool(doc.get("lower_is_better", True)),
        analysis=str(analysis.get("method", "mmrm")),
        analysis_visit=str(analysis["visit"]) if "visit" in analysis else None,
        analysis_covariance=str(analysis.get("covariance", "us")),
        multiplicity=str(analysis.get("multiplicity", "none")),
        responder_threshold=_number(analysis["threshold"], "analysis.threshold", where)
        if "threshold" in analysis
        else None,
        source=source,
    )


def read_design(path: str | Path) -> Design:
    """Read and check a ``design.yml`` (see the module's docstring for the format)."""
    import yaml

    from .io import display_path

    path = Path(path)
    source = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DesignError(f"{source}: cannot read the design ({e.strerror or e})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DesignError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_design(doc, source)


def demo_design(**changes) -> Design:
    """The design of :func:`painstudy.simulate.simulate`'s trial on pain (its arms, effects and conditions),
    with an AR(1) covariance and MCAR dropout of about the simulator's size; ``changes`` replace fields."""
    from .simulate import CONDITIONS, DEFAULT_ARMS, DEFAULT_EFFECTS, DEFAULT_MODIFIERS, VISITS

    arms = tuple(DEFAULT_ARMS)
    weeks = np.array([v[1] for v in VISITS], float)
    ramp = 1 - np.exp(-weeks / 6.0)
    T = len(weeks)
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    # subject intercept (sd 1) plus AR(1) noise (sd 0.9, rho 0.5), as the simulator draws pain
    cov = 1.0 + 0.81 * 0.5**lag
    design = Design(
        name="demo",
        outcome="pain",
        arms=arms,
        allocation=np.ones(len(arms)),
        modalities={a: DEFAULT_ARMS[a][1] for a in arms},
        visits=tuple(v[0] for v in VISITS),
        weeks=weeks,
        mean=6.07 - 0.5 * (1 - np.exp(-weeks / 8.0)),
        effects=np.array([DEFAULT_EFFECTS["pain"][a] * ramp for a in arms]),
        covariance=cov,
        conditions=CONDITIONS,
        condition_probability=np.full(len(CONDITIONS), 1 / len(CONDITIONS)),
        modifiers=np.array([DEFAULT_MODIFIERS[a] for a in arms]),
        n_sites=8,
        site_sd=0.3,
        dropout=np.r_[0.0, np.full(T - 1, 0.045)][None, :].repeat(len(arms), 0),
        analysis_visit="week26",
        source="demo design",
    )
    return dataclasses.replace(design, **changes) if changes else design


def design_from(cohort_or_fit, outcome: str | None = None, *, analysis_visit: str | None = None) -> Design:
    """A design estimated from a pilot or published trial: a :class:`~painstudy.cohort.Cohort` or the
    :class:`~painstudy.compare.ArmComparison` of one.

    The control arm's mean per visit and each arm's difference from it are the observed means (from a
    comparison: its model-based differences at the post-baseline visits); the covariance over the visits is
    the pairwise covariance of the outcome around the arm-by-visit means (made positive definite if
    needed); the dropout hazard per arm and visit is the fraction of the subjects seen at the visit before
    who were never seen again. Conditions, sites and the modalities come from the study.
    """
    comparison = None
    if hasattr(cohort_or_fit, "cohort") and hasattr(cohort_or_fit, "table"):
        comparison, cohort = cohort_or_fit, cohort_or_fit.cohort
    elif hasattr(cohort_or_fit, "visits") and hasattr(cohort_or_fit, "spec"):
        cohort = cohort_or_fit
    else:
        raise DesignError(
            f"design_from: expected a Cohort or the result of compare_arms, got {type(cohort_or_fit).__name__}"
        )
    spec = cohort.spec
    outcome = outcome or cohort.outcomes[0]
    spec.outcome(outcome)
    control = spec.reference_arm.name
    arms = [control] + [a.name for a in spec.arms if a.name != control]
    visits = [v.name for v in spec.visits]
    weeks = np.array([v.week for v in spec.visits], float)
    data = cohort.visits[["subject", "arm", "visit", outcome]].copy()
    data["arm"], data["visit"] = data["arm"].astype(str), data["visit"].astype(str)
    wide = data.pivot_table(index=["subject", "arm"], columns="visit", values=outcome, observed=False).reindex(
        columns=visits
    )
    wide = wide.reset_index(level="arm")
    means = wide.groupby("arm")[visits].mean().reindex(arms)
    if means.isna().to_numpy().any():
        raise DesignError(f"design_from: some arm has no {outcome!r} value at some visit; cannot estimate its mean")
    resid = wide[visits] - means.loc[wide["arm"]].to_numpy()
    cov = resid.cov(min_periods=3).to_numpy()
    w, V = np.linalg.eigh(cov)
    cov = (V * np.maximum(w, 1e-6 * w.max())) @ V.T
    mean = means.loc[control].to_numpy()
    effects = means.to_numpy() - mean
    effects[:, 0] = 0.0
    if comparison is not None:
        t = comparison.table
        t = t[(t["outcome"] == outcome) & (t["reference"] == control)]
        for r in t.itertuples():
            if r.arm in arms and r.visit in visits:
                effects[arms.index(r.arm), visits.index(r.visit)] = r.estimate
    seen = wide[visits].notna().to_numpy()
    last = np.where(seen.any(1), seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1), -1)
    dropout = np.zeros((len(arms), len(visits)))
    for i, a in enumerate(arms):
        la = last[(wide["arm"] == a).to_numpy()]
        for t in range(1, len(visits)):
            at_risk = (la >= t - 1).sum()
            dropout[i, t] = ((la == t - 1).sum() / at_risk) if at_risk else 0.0
    subj = cohort.subjects
    conds = ("all",)
    prob = np.ones(1)
    if "condition" in subj.columns and subj["condition"].notna().any():
        counts = subj["condition"].astype(str).value_counts().sort_index()
        conds, prob = tuple(counts.index), (counts / counts.sum()).to_numpy(float)
    n_sites = int(subj["site"].nunique()) if "site" in subj.columns else 1
    return Design(
        name=f"{spec.name} (estimated)",
        outcome=outcome,
        arms=tuple(arms),
        allocation=np.ones(len(arms)),  # planned 1:1; change with dataclasses.replace
        modalities={a.name: tuple(a.modalities) for a in spec.arms},
        visits=tuple(visits),
        weeks=weeks,
        mean=mean,
        effects=effects,
        covariance=cov,
        conditions=conds,
        condition_probability=prob,
        n_sites=max(n_sites, 1),
        dropout=dropout,
        lower_is_better=bool(cohort.instrument(outcome).lower_is_better),
        analysis_visit=analysis_visit or visits[-1],
        source=f"design_from({spec.name})",
    )
