"""Study definitions: arms as sets of modalities, the visit schedule, outcomes and column roles.

A study is declared in a YAML file (``datasets/<study>/study.yml``) and read into an immutable
:class:`StudySpec`. The arm *class* is derived, never declared: an arm is **integrative** when
its modalities span two or more domains of the taxonomy below, **single-modality** otherwise,
and **control** when the study marks it as the control / usual-care arm.

Examples
--------
>>> from painstudy.study import Arm
>>> Arm("combo", "Integrative care", ("physiotherapy", "cbt", "acupuncture")).arm_class
'integrative'
>>> Arm("pt", "Physiotherapy", ("physiotherapy", "exercise")).arm_class
'single-modality'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from .errors import StudySpecError
from .instruments import Instrument, get_instrument

#: The fixed taxonomy of modalities, by domain.
MODALITY_DOMAINS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "pharmacological": ("pharmacological", "analgesics", "opioids", "nsaids", "antidepressants",
                        "anticonvulsants", "usual_care"),
    "physical": ("physiotherapy", "occupational_therapy", "yoga", "tai_chi", "massage", "exercise",
                 "low_level_laser"),
    "mind_body": ("cbt", "mindfulness", "mbsr", "biofeedback", "relaxation"),
    "lifestyle": ("anti_inflammatory_diet", "sleep_hygiene", "stress_management", "smoking_cessation"),
    "complementary": ("acupuncture", "chiropractic"),
    "digital": ("app", "digital_therapeutic"),
    # attention controls carry no active modality and never count towards a domain
    "control": ("placebo", "sham", "waitlist", "attention_control"),
})

_MODALITY_TO_DOMAIN = {m: d for d, ms in MODALITY_DOMAINS.items() for m in ms}

ARM_CLASSES = ("control", "single-modality", "integrative")


def modality_domain(modality: str) -> str:
    """The domain of a modality of the taxonomy (raises for an unknown modality)."""
    key = modality.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return _MODALITY_TO_DOMAIN[key]
    except KeyError:
        raise StudySpecError(
            f"unknown modality {modality!r}; known modalities: "
            + "; ".join(f"{d}: {', '.join(ms)}" for d, ms in MODALITY_DOMAINS.items())) from None


@dataclass(frozen=True)
class Arm:
    """A study arm: the modalities it combines and whether it is the control arm."""

    name: str
    label: str
    modalities: tuple[str, ...]
    control: bool = False
    codes: tuple[Any, ...] = ()

    def __post_init__(self):
        for m in self.modalities:
            modality_domain(m)
        if not self.codes:
            object.__setattr__(self, "codes", (self.name,))

    @property
    def domains(self) -> tuple[str, ...]:
        """Active domains spanned by the arm's modalities (attention controls excluded)."""
        ds = {modality_domain(m) for m in self.modalities} - {"control"}
        return tuple(sorted(ds))

    @property
    def arm_class(self) -> str:
        """``control``, ``integrative`` (two or more domains) or ``single-modality``."""
        if self.control:
            return "control"
        return "integrative" if len(self.domains) >= 2 else "single-modality"


@dataclass(frozen=True)
class Visit:
    """A scheduled visit: nominal week and allowed window (in weeks, inclusive)."""

    name: str
    week: float
    window: tuple[float, float]
    baseline: bool = False
    codes: tuple[Any, ...] = ()

    def __post_init__(self):
        if not self.codes:
            object.__setattr__(self, "codes", (self.name,))


@dataclass(frozen=True)
class OutcomeSpec:
    """An outcome: its instrument and where it is in the raw file.

    ``column`` names the column of a long file; ``columns`` maps visit names to the columns of a
    wide file. ``baseline_column`` names a column holding the baseline value when the schedule
    has no baseline visit (ADaM's BASE). ``missing_with`` names another outcome: this one is set
    to missing (and counted) where that one was not assessed, for files that code unassessed
    values as 0. ``multiply`` rescales raw values (e.g. 0.25 for a weekly figure from 4 weeks).
    """

    name: str
    instrument: Instrument
    label: str = ""
    column: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    baseline_column: str | None = None
    missing_with: str | None = None
    multiply: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        if not self.label:
            object.__setattr__(self, "label", self.instrument.label)


@dataclass(frozen=True)
class Variable:
    """A subject-level column: covariate, site or condition, with optional recoding of values."""

    name: str
    column: str | None
    kind: str = "numeric"  # numeric | categorical
    values: Mapping[Any, Any] = field(default_factory=dict)
    constant: Any = None
    label: str = ""

    def __post_init__(self):
        if self.kind not in ("numeric", "categorical"):
            raise StudySpecError(f"variable {self.name!r}: type must be numeric or categorical, not {self.kind!r}")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if not self.label:
            object.__setattr__(self, "label", self.name)


@dataclass(frozen=True)
class StudySpec:
    """An immutable study definition (see the module docstring and ``datasets/*/study.yml``)."""

    name: str
    title: str
    arms: tuple[Arm, ...]
    visits: tuple[Visit, ...]
    outcomes: Mapping[str, OutcomeSpec]
    subject: str
    arm_column: str
    layout: str = "long"  # long | wide
    data: str | None = None
    root: Path | None = None
    visit_column: str | None = None
    time_column: str | None = None
    site: Variable | None = None
    condition: Variable | None = None
    covariates: tuple[Variable, ...] = ()
    extras: tuple[Variable, ...] = ()
    withdrawal_reason: str | None = None
    completer_column: str | None = None
    description: str = ""
    reference: str = ""
    file_format: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "outcomes", MappingProxyType(dict(self.outcomes)))
        if self.layout not in ("long", "wide"):
            raise StudySpecError(f"study {self.name!r}: layout must be 'long' or 'wide', not {self.layout!r}")
        if not self.arms:
            raise StudySpecError(f"study {self.name!r}: no arms declared")
        if sum(a.control for a in self.arms) > 1:
            raise StudySpecError(f"study {self.name!r}: more than one arm is marked control")
        if not self.visits:
            raise StudySpecError(f"study {self.name!r}: no visits declared")
        if sum(v.baseline for v in self.visits) > 1:
            raise StudySpecError(f"study {self.name!r}: more than one baseline visit")
        if self.layout == "long" and not self.visit_column:
            raise StudySpecError(f"study {self.name!r}: a long file needs `visit: {{column: ...}}`")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise StudySpecError(f"study {self.name!r}: arm names repeat: {names}")
        for o in self.outcomes.values():
            if self.layout == "long" and not o.column:
                raise StudySpecError(f"outcome {o.name!r}: a long file needs `column:`")
            if self.layout == "wide":
                unknown = set(o.columns) - {v.name for v in self.visits}
                if not o.columns or unknown:
                    raise StudySpecError(
                        f"outcome {o.name!r}: a wide file needs `columns:` mapping visit names to columns"
                        + (f"; unknown visits {sorted(unknown)}" if unknown else ""))
            if o.missing_with and o.missing_with not in self.outcomes:
                raise StudySpecError(f"outcome {o.name!r}: missing_with names unknown outcome {o.missing_with!r}")

    # -- convenient views -------------------------------------------------------------------
    @property
    def control_arm(self) -> Arm | None:
        """The control / usual-care arm, if the study has one."""
        return next((a for a in self.arms if a.control), None)

    @property
    def reference_arm(self) -> Arm:
        """The arm others are compared with by default: the control arm, else the first arm."""
        return self.control_arm or self.arms[0]

    def outcome(self, name: str) -> OutcomeSpec:
        """The outcome called ``name`` (a :class:`StudySpecError` lists the study's outcomes)."""
        try:
            return self.outcomes[name]
        except (KeyError, TypeError):
            raise StudySpecError(f"study {self.name!r} has no outcome {name!r}; outcomes: "
                                 f"{', '.join(self.outcomes) or 'none'}") from None

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for a in self.arms:
            if a.name == name:
                return a
        raise StudySpecError(f"study {self.name!r} has no arm {name!r}; arms: {[a.name for a in self.arms]}")

    @property
    def baseline_visit(self) -> Visit | None:
        """The baseline visit of the schedule (None when baselines come from columns)."""
        return next((v for v in self.visits if v.baseline), None)

    @property
    def post_baseline_visits(self) -> tuple[Visit, ...]:
        return tuple(v for v in self.visits if not v.baseline)

    @property
    def visit_names(self) -> list[str]:
        return [v.name for v in self.visits]

    @property
    def data_path(self) -> str | None:
        """The data file: ``registry:NAME`` or a path resolved against the study.yml folder."""
        if self.data is None or self.data.startswith("registry:") or self.root is None:
            return self.data
        return str((self.root / self.data).resolve())

    def replace(self, **changes) -> "StudySpec":
        """A modified copy (specs are never mutated)."""
        return replace(self, **changes)

    def arms_table(self):
        """Arms with modalities, domains and derived class, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([{"arm": a.name, "label": a.label, "modalities": ", ".join(a.modalities),
                              "domains": ", ".join(a.domains), "arm_class": a.arm_class} for a in self.arms])


# -------------------------------------------------------------------------------------------
# YAML reading
# -------------------------------------------------------------------------------------------

def _need(d: Mapping, key: str, where: str):
    if key not in d or d[key] is None:
        raise StudySpecError(f"{where}: required key {key!r} is missing")
    return d[key]


def _variable(name: str, raw: Any, where: str) -> Variable:
    if isinstance(raw, str):
        return Variable(name, raw, "categorical" if name in ("site", "condition") else "numeric")
    if not isinstance(raw, Mapping):
        raise StudySpecError(f"{where}: expected a column name or a mapping, got {raw!r}")
    kind = raw.get("type", "categorical" if ("values" in raw or name in ("site", "condition")) else "numeric")
    return Variable(name, raw.get("column"), kind, raw.get("values") or {}, raw.get("value"), raw.get("label", ""))


def spec_from_dict(doc: Mapping[str, Any], root: Path | None = None, source: str = "study") -> StudySpec:
    """Build a :class:`StudySpec` from a parsed study.yml (``source`` names it in errors)."""
    if not isinstance(doc, Mapping):
        raise StudySpecError(f"{source}: the study definition must be a mapping")
    name = _need(doc, "name", source)
    data = doc.get("data") or {}
    if isinstance(data, str):
        data = {"file": data}
    layout = data.get("layout", "long")
    arm_doc = _need(doc, "arm", source)
    arm_col = arm_doc if isinstance(arm_doc, str) else _need(arm_doc, "column", f"{source}: arm")
    arms = []
    for i, a in enumerate(_need(doc, "arms", source)):
        where = f"{source}: arms[{i}]"
        try:
            arms.append(Arm(str(_need(a, "name", where)), a.get("label", a["name"]),
                            tuple(a.get("modalities") or ()), bool(a.get("control", False)),
                            tuple(a.get("codes") or ())))
        except StudySpecError as e:
            raise StudySpecError(f"{where}: {e}") from None
    visits = []
    for i, v in enumerate(_need(doc, "visits", source)):
        where = f"{source}: visits[{i}]"
        week = float(_need(v, "week", where))
        window = v.get("window", [week, week])
        if not (isinstance(window, (list, tuple)) and len(window) == 2 and window[0] <= week <= window[1]):
            raise StudySpecError(f"{where}: window must be [low, high] weeks around week {week}, got {window!r}")
        visits.append(Visit(str(_need(v, "name", where)), week, (float(window[0]), float(window[1])),
                            bool(v.get("baseline", False)), tuple(v.get("codes") or ())))
    outcomes = {}
    for oname, o in (_need(doc, "outcomes", source) or {}).items():
        where = f"{source}: outcomes.{oname}"
        if isinstance(o, str):
            o = {"instrument": o}
        inst = get_instrument(_need(o, "instrument", where))
        over = {k: o[k] for k in ("relative", "absolute", "min", "max") if k in o}
        if "lower_is_better" in o:
            over["lower_is_better"] = bool(o["lower_is_better"])
        if over:
            inst = inst.with_overrides(**over)
        outcomes[oname] = OutcomeSpec(oname, inst, o.get("label", ""), o.get("column", oname if layout == "long" else None),
                                      o.get("columns") or {}, o.get("baseline_column"), o.get("missing_with"),
                                      float(o.get("multiply", 1.0)))
    visit_doc = doc.get("visit") or {}
    if isinstance(visit_doc, str):
        visit_doc = {"column": visit_doc}
    covs = tuple(_variable(k, v, f"{source}: covariates.{k}") for k, v in (doc.get("covariates") or {}).items())
    extras = tuple(_variable(k, v, f"{source}: subject_outcomes.{k}")
                   for k, v in (doc.get("subject_outcomes") or {}).items())
    disp = doc.get("disposition") or {}
    return StudySpec(
        name=str(name), title=doc.get("title", name), arms=tuple(arms), visits=tuple(visits),
        outcomes=outcomes, subject=_need(doc, "subject", source), arm_column=arm_col, layout=layout,
        data=data.get("file"), root=root, visit_column=visit_doc.get("column"),
        time_column=visit_doc.get("week"),
        site=_variable("site", doc["site"], f"{source}: site") if doc.get("site") else None,
        condition=_variable("condition", doc["condition"], f"{source}: condition") if doc.get("condition") else None,
        covariates=covs, extras=extras, withdrawal_reason=disp.get("withdrawal_reason"),
        completer_column=disp.get("completer"), description=doc.get("description", ""),
        reference=doc.get("reference", ""), file_format=data.get("format"),
    )


def read_study(path: str | Path) -> StudySpec:
    """Read a study.yml file into a :class:`StudySpec`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudySpecError(f"{path}: study file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StudySpecError(f"{path}: cannot read the study file ({e})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StudySpecError(f"{path}: not valid YAML ({e})") from None
    return spec_from_dict(doc, root=path.parent.resolve(), source=str(path))


def spec_to_dict(spec: StudySpec) -> dict:
    """The inverse of :func:`spec_from_dict` (for writing a study.yml)."""
    def var(v: Variable | None):
        if v is None:
            return None
        d = {"column": v.column, "type": v.kind}
        if v.values:
            d["values"] = dict(v.values)
        if v.constant is not None:
            d["value"] = v.constant
        return d

    out: dict[str, Any] = {
        "name": spec.name, "title": spec.title, "description": spec.description,
        "data": {"file": spec.data, "layout": spec.layout},
        "subject": spec.subject, "arm": {"column": spec.arm_column},
        "arms": [{"name": a.name, "label": a.label, "modalities": list(a.modalities), "control": a.control,
                  "codes": list(a.codes)} for a in spec.arms],
        "visits": [{"name": v.name, "week": v.week, "window": list(v.window), "baseline": v.baseline}
                   for v in spec.visits],
        "outcomes": {},
    }
    if spec.visit_column:
        out["visit"] = {"column": spec.visit_column}
        if spec.time_column:
            out["visit"]["week"] = spec.time_column
    for o in spec.outcomes.values():
        d = {"instrument": o.instrument.name, "label": o.label}
        if o.column:
            d["column"] = o.column
        if o.columns:
            d["columns"] = dict(o.columns)
        out["outcomes"][o.name] = d
    for key in ("site", "condition"):
        if getattr(spec, key) is not None:
            out[key] = var(getattr(spec, key))
    if spec.covariates:
        out["covariates"] = {v.name: var(v) for v in spec.covariates}
    if spec.extras:
        out["subject_outcomes"] = {v.name: var(v) for v in spec.extras}
    disp = {k: v for k, v in (("withdrawal_reason", spec.withdrawal_reason),
                              ("completer", spec.completer_column)) if v}
    if disp:
        out["disposition"] = disp
    return out
