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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import Problem, StudySpecError
from .instruments import Instrument, get_instrument
from .study_daily import DailyMeasure as DailyMeasure  # re-exported: public names of this module
from .study_daily import daily_from_doc, daily_to_dict
from .study_rules import DERIVED_SUFFIXES as DERIVED_SUFFIXES  # re-exported: public names of this module
from .study_rules import RESERVED_NAMES as RESERVED_NAMES
from .study_rules import TABLE_COLUMNS as TABLE_COLUMNS
from .study_rules import normalise_code as normalise_code
from .study_rules import study_problems
from .study_schema import EVENT_STRATEGIES as EVENT_STRATEGIES
from .study_schema import EVENT_TYPES as EVENT_TYPES
from .study_schema import StudyDoc, VariableDoc, check_study_doc, line_of, load_yaml

#: The fixed taxonomy of modalities, by domain.
MODALITY_DOMAINS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pharmacological": (
            "pharmacological",
            "analgesics",
            "opioids",
            "nsaids",
            "antidepressants",
            "anticonvulsants",
            "usual_care",
        ),
        "physical": (
            "physiotherapy",
            "occupational_therapy",
            "yoga",
            "tai_chi",
            "massage",
            "exercise",
            "low_level_laser",
        ),
        "mind_body": ("cbt", "mindfulness", "mbsr", "biofeedback", "relaxation"),
        "lifestyle": ("anti_inflammatory_diet", "sleep_hygiene", "stress_management", "smoking_cessation"),
        "complementary": ("acupuncture", "chiropractic"),
        "digital": ("app", "digital_therapeutic"),
        # attention controls carry no active modality and never count towards a domain
        "control": ("placebo", "sham", "waitlist", "attention_control"),
    }
)

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
            + "; ".join(f"{d}: {', '.join(ms)}" for d, ms in MODALITY_DOMAINS.items())
        ) from None


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
    #: for an outcome added by :meth:`painstudy.cohort.Cohort.with_outcomes`: what its values were derived
    #: from (a diary, medication records), instead of a column of the data file
    derived_from: str | None = None

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
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.kind not in ("numeric", "categorical"):
            raise StudySpecError(f"variable {self.name!r}: type must be numeric or categorical, not {self.kind!r}")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if not self.label:
            object.__setattr__(self, "label", self.name)


@dataclass(frozen=True)
class EventSources:
    """Where the subjects' intercurrent events come from (``intercurrent_events:`` of study.yml).

    ``withdrawal``: the event type of a withdrawal (None: withdrawals are not events); ``reasons`` maps
    withdrawal reasons to other event types; ``file``: a table of events (subject, event, visit).
    """

    withdrawal: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)
    file: str | None = None


@dataclass(frozen=True)
class MedicationSource:
    """Where the subjects' medication records are and how to read them (``medication:`` of study.yml; see
    :mod:`painstudy.medication`).

    The attributes other than the options name columns of the records: ``day`` (study day, day 0 the
    baseline visit), or ``date`` and ``start`` (the calendar date and the subject's day-0 date), or ``visit``
    (the dose reported at a visit); ``doses_per_day``, or ``quantity`` and ``days_supplied``. Options:
    ``include_buprenorphine`` (count buprenorphine in the MME total; flagged either way), ``outside``
    (``"error"`` or ``"exclude"``: prescriptions outside every visit window), ``outcome`` (the name of the
    derived dose outcome).
    """

    file: str | None = None
    subject: str = "subject"
    day: str | None = "day"
    date: str | None = None
    start: str | None = None
    visit: str | None = None
    drug: str = "drug"
    strength: str = "strength"
    unit: str = "unit"
    doses_per_day: str = "doses_per_day"
    quantity: str = "quantity"
    days_supplied: str = "days_supplied"
    include_buprenorphine: bool = False
    outside: str = "error"
    outcome: str = "mme"
    file_format: str | None = None
    sheet: str | None = None
    outside_study_folder: bool = False


@dataclass(frozen=True)
class EstimandSpec:
    """The declared estimand of an outcome (``estimands.OUTCOME`` of study.yml; ICH E9(R1)).

    ``strategies`` maps event types to ``treatment_policy``, ``hypothetical``, ``composite`` or
    ``while_on_treatment`` (events not listed: treatment policy); ``sensitivity`` lists the
    reference-based assumptions shown for the data a hypothetical strategy sets aside.
    """

    outcome: str
    strategies: Mapping[str, str] = field(default_factory=dict)
    population: str = ""
    summary: str = ""
    sensitivity: tuple[str, ...] = ("JR", "CR", "CIR")


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
    events: EventSources | None = None
    medication: MedicationSource | None = None
    estimands: Mapping[str, EstimandSpec] = field(default_factory=dict)
    daily: Mapping[str, DailyMeasure] = field(default_factory=dict)
    description: str = ""
    reference: str = ""
    file_format: str | None = None
    sheet: str | None = None
    data_outside: bool = False
    #: the study.yml the spec was read from (for messages), and the line of each of its fields
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "outcomes", MappingProxyType(dict(self.outcomes)))
        object.__setattr__(self, "estimands", MappingProxyType(dict(self.estimands)))
        object.__setattr__(self, "daily", MappingProxyType(dict(self.daily)))
        object.__setattr__(self, "lines", MappingProxyType(dict(self.lines)))
        problems = [self.problem(code, message, path) for code, path, message in study_problems(self)]
        if problems:
            raise StudySpecError(
                f"{self.source or 'study ' + repr(self.name)}: {len(problems)} problem(s) in the study definition",
                problems,
            )

    def problem(self, code: str, message: str, path: str | None) -> Problem:
        """A :class:`~painstudy.errors.Problem` at a field of this study's study.yml (with its line)."""
        return Problem(
            code,
            message,
            path,
            line_of(path or "", self.lines) if self.lines else None,
            self.source or f"study {self.name!r}",
        )

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
            raise StudySpecError(
                f"study {self.name!r} has no outcome {name!r}; outcomes: {', '.join(self.outcomes) or 'none'}"
            ) from None

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

    def data_file(self) -> str | None:
        """The data file to read: ``registry:NAME``, or its path resolved against the study folder.

        A path outside the study folder (absolute, or leaving it with ``..``) is refused unless
        the study says so (``data: {outside_study_folder: true}``); pass the file explicitly
        (``load_cohort(..., data=FILE)``, ``--data FILE``) to read another file.
        """
        if self.data is None or self.data.startswith("registry:"):
            return self.data
        return self.study_file(
            self.data,
            "data.file",
            what="the data file",
            allowed=self.data_outside,
            hint="move the file into the study folder, pass it with --data, or declare "
            "`outside_study_folder: true` under `data:`",
        )

    def study_file(
        self, name: str, field_path: str, *, what: str = "a file", allowed: bool = False, hint: str = ""
    ) -> str:
        """A file named in study.yml (``field_path``), resolved against the study folder; a path outside
        the folder is refused unless ``allowed``."""
        rel = os.path.normpath(name)
        if not allowed and (os.path.isabs(name) or rel == ".." or rel.startswith(".." + os.sep)):
            raise StudySpecError(
                f"{what} is outside the study folder",
                [
                    self.problem(
                        "data_outside_study_folder",
                        f"{name!r} is outside the study folder; {hint or 'move the file into the study folder'}",
                        field_path,
                    )
                ],
            )
        return name if self.root is None else str((self.root / name).resolve())

    def replace(self, **changes) -> StudySpec:
        """A modified copy (specs are never mutated)."""
        return replace(self, **changes)

    def arms_table(self):
        """Arms with modalities, domains and derived class, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "arm": a.name,
                    "label": a.label,
                    "modalities": ", ".join(a.modalities),
                    "domains": ", ".join(a.domains),
                    "arm_class": a.arm_class,
                }
                for a in self.arms
            ]
        )


# -------------------------------------------------------------------------------------------
# YAML reading and writing
# -------------------------------------------------------------------------------------------


def _variable(name: str, doc: VariableDoc) -> Variable:
    kind = doc.type or ("categorical" if (doc.values or name in ("site", "condition")) else "numeric")
    return Variable(name, doc.column, kind, doc.values or {}, doc.value, doc.label or "", doc.min, doc.max)


def _medication(doc) -> MedicationSource | None:
    if doc is None:
        return None
    time = {"day": doc.day, "date": doc.date, "visit": doc.visit}
    if not any(time.values()):
        time["day"] = "day"
    given = {f: getattr(doc, f) for f in _MEDICATION_COLUMNS + ("start", "sheet") if getattr(doc, f) is not None}
    options = {f: getattr(doc, f) for f in ("include_buprenorphine", "outside", "outcome", "outside_study_folder")}
    return MedicationSource(doc.file, **{**given, **time}, **options, file_format=doc.format)


#: the columns of ``medication:`` with a default name
_MEDICATION_COLUMNS = ("subject", "drug", "strength", "unit", "doses_per_day", "quantity", "days_supplied")


def medication_to_dict(m: MedicationSource) -> dict:
    """Medication records as declared in study.yml (``medication:``); keys at their default are left out."""
    d: dict[str, Any] = {"file": m.file}
    default = MedicationSource()
    for key in (*_MEDICATION_COLUMNS, "day", "date", "start", "visit", "sheet", "include_buprenorphine"):
        if getattr(m, key) != getattr(default, key):
            d[key] = getattr(m, key)
    if m.day is None and "day" in d:
        del d["day"]
    for key in ("outside", "outcome", "outside_study_folder"):
        if getattr(m, key) != getattr(default, key):
            d[key] = getattr(m, key)
    if m.file_format is not None:
        d["format"] = m.file_format
    return d


def spec_from_dict(
    doc: Mapping[str, Any], root: Path | None = None, source: str = "study", lines: Mapping[str, int] | None = None
) -> StudySpec:
    """Build a :class:`StudySpec` from a parsed study.yml.

    ``source`` names the file in messages and ``lines`` maps field paths to their lines (see
    :func:`painstudy.study_schema.load_yaml`). Raises a :class:`StudySpecError` listing every
    problem: first every field that breaks the schema (types, unknown or missing keys); when
    the types are right, every rule of :func:`study_problems`.
    """
    lines = dict(lines or {})
    problems = check_study_doc(doc, lines, source)
    if problems:
        raise StudySpecError(f"{source}: {len(problems)} problem(s) in the study definition", problems)
    d = StudyDoc.model_validate(doc)
    layout = d.data.layout if d.data else "long"
    for i, a in enumerate(d.arms):
        for j, m in enumerate(a.modalities):
            try:
                modality_domain(m)
            except StudySpecError as e:
                path = f"arms[{i}].modalities[{j}]"
                problems.append(Problem("unknown_modality", Exception.__str__(e), path, line_of(path, lines), source))
    if problems:
        raise StudySpecError(f"{source}: {len(problems)} problem(s) in the study definition", problems)
    arms = tuple(Arm(a.name, a.label or a.name, tuple(a.modalities), a.control, tuple(a.codes)) for a in d.arms)
    visits = tuple(Visit(v.name, v.week, v.window or (v.week, v.week), v.baseline, tuple(v.codes)) for v in d.visits)
    outcomes = {}
    for name, o in d.outcomes.items():
        inst = get_instrument(o.instrument)
        over = {
            k: getattr(o, k)
            for k in ("relative", "absolute", "min", "max", "lower_is_better")
            if getattr(o, k) is not None
        }
        if over:
            inst = inst.with_overrides(**over)
        outcomes[name] = OutcomeSpec(
            name,
            inst,
            o.label or "",
            o.column or (name if layout == "long" else None),
            o.columns or {},
            o.baseline_column,
            o.missing_with,
            o.multiply,
        )
    data, disp, visit = d.data, d.disposition, d.visit
    ev = d.intercurrent_events
    events = None
    if ev is not None:
        events = EventSources(
            ev.withdrawal.event if ev.withdrawal else None,
            dict(ev.withdrawal.reasons) if ev.withdrawal else {},
            ev.file,
        )
    estimands = {
        k: EstimandSpec(k, dict(e.strategies), e.population or "", e.summary or "", tuple(e.sensitivity))
        for k, e in d.estimands.items()
    }
    daily = {k: daily_from_doc(k, m) for k, m in d.daily.items()}
    return StudySpec(
        name=d.name,
        title=d.title or d.name,
        arms=arms,
        visits=visits,
        outcomes=outcomes,
        subject=d.subject,
        arm_column=d.arm.column,
        layout=layout,
        data=data.file if data else None,
        root=root,
        visit_column=visit.column if visit else None,
        time_column=visit.week if visit else None,
        site=_variable("site", d.site) if d.site else None,
        condition=_variable("condition", d.condition) if d.condition else None,
        covariates=tuple(_variable(k, v) for k, v in d.covariates.items()),
        extras=tuple(_variable(k, v) for k, v in d.subject_outcomes.items()),
        withdrawal_reason=disp.withdrawal_reason if disp else None,
        completer_column=disp.completer if disp else None,
        events=events,
        medication=_medication(d.medication),
        estimands=estimands,
        daily=daily,
        description=d.description or "",
        reference=d.reference or "",
        file_format=data.format if data else None,
        sheet=data.sheet if data else None,
        data_outside=data.outside_study_folder if data else False,
        source=source,
        lines=lines,
    )


def read_study(path: str | Path) -> StudySpec:
    """Read a study.yml file into a :class:`StudySpec` (every problem listed with its line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StudySpecError(f"{path}: study file not found", code="file_not_found") from None
    except OSError as e:
        raise StudySpecError(
            f"{path}: cannot read the study file ({e.strerror or type(e).__name__})", code="file_not_found"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise StudySpecError(
            f"{path}: the study file is not UTF-8 text",
            [Problem("encoding", f"not UTF-8 text (byte {e.start}); save study.yml as UTF-8", None, line, str(path))],
        ) from None
    if "\x00" in text:
        raise StudySpecError(
            f"{path}: the study file is not text",
            [Problem("not_text", "the file contains NUL bytes: not a YAML text file", file=str(path))],
        )
    doc, lines = load_yaml(text, str(path))
    return spec_from_dict(doc, root=path.parent.resolve(), source=str(path), lines=lines)


def estimands_of(spec: StudySpec) -> dict:
    """The study's intercurrent events and estimands as declared (for manifests): ``{"intercurrent_events":
    ..., "estimands": {outcome: ...}}``, empty when the study declares none."""
    d = spec_to_dict(spec)
    return {k: d[k] for k in ("intercurrent_events", "estimands") if k in d}


def spec_to_dict(spec: StudySpec) -> dict:
    """The inverse of :func:`spec_from_dict` (for writing a study.yml): ``spec_from_dict(spec_to_dict(s)) == s``."""

    def var(v: Variable | None):
        if v is None:
            return None
        d: dict[str, Any] = {"column": v.column, "type": v.kind} if v.column is not None else {"type": v.kind}
        if v.values:
            d["values"] = dict(v.values)
        if v.constant is not None:
            d["value"] = v.constant
        if v.label and v.label != v.name:
            d["label"] = v.label
        for key in ("min", "max"):
            if getattr(v, key) is not None:
                d[key] = getattr(v, key)
        return d

    data: dict[str, Any] = {"file": spec.data, "layout": spec.layout}
    for key, value in (("format", spec.file_format), ("sheet", spec.sheet)):
        if value is not None:
            data[key] = value
    if spec.data_outside:
        data["outside_study_folder"] = True
    out: dict[str, Any] = {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "data": data,
        "subject": spec.subject,
        "arm": {"column": spec.arm_column},
        "arms": [
            {
                "name": a.name,
                "label": a.label,
                "modalities": list(a.modalities),
                "control": a.control,
                "codes": list(a.codes),
            }
            for a in spec.arms
        ],
        "visits": [
            {"name": v.name, "week": v.week, "window": list(v.window), "baseline": v.baseline, "codes": list(v.codes)}
            for v in spec.visits
        ],
        "outcomes": {},
    }
    if spec.reference:
        out["reference"] = spec.reference
    if spec.visit_column or spec.time_column:
        out["visit"] = {k: v for k, v in (("column", spec.visit_column), ("week", spec.time_column)) if v}
    for o in spec.outcomes.values():
        if o.derived_from:  # not a column of the data file: derived again from its source
            continue
        d: dict[str, Any] = {"instrument": o.instrument.name, "label": o.label}
        if o.column and spec.layout == "long":
            d["column"] = o.column
        if o.columns:
            d["columns"] = dict(o.columns)
        for key in ("baseline_column", "missing_with"):
            if getattr(o, key) is not None:
                d[key] = getattr(o, key)
        if o.multiply != 1.0:
            d["multiply"] = o.multiply
        base = get_instrument(o.instrument.name)
        for key in ("min", "max", "lower_is_better"):
            if getattr(o.instrument, key) != getattr(base, key):
                d[key] = getattr(o.instrument, key)
        for key in ("relative", "absolute"):
            if dict(getattr(o.instrument, key)) != dict(getattr(base, key)):
                d[key] = dict(getattr(o.instrument, key))
        out["outcomes"][o.name] = d
    for key in ("site", "condition"):
        if getattr(spec, key) is not None:
            out[key] = var(getattr(spec, key))
    if spec.covariates:
        out["covariates"] = {v.name: var(v) for v in spec.covariates}
    if spec.extras:
        out["subject_outcomes"] = {v.name: var(v) for v in spec.extras}
    disp = {k: v for k, v in (("withdrawal_reason", spec.withdrawal_reason), ("completer", spec.completer_column)) if v}
    if disp:
        out["disposition"] = disp
    if spec.events is not None:
        ev: dict[str, Any] = {}
        if spec.events.withdrawal:
            ev["withdrawal"] = {"event": spec.events.withdrawal, "reasons": dict(spec.events.reasons)}
        if spec.events.file:
            ev["file"] = spec.events.file
        out["intercurrent_events"] = ev
    if spec.medication is not None:
        out["medication"] = medication_to_dict(spec.medication)
    if spec.estimands:
        out["estimands"] = {
            k: {
                key: value
                for key, value in (
                    ("population", e.population),
                    ("summary", e.summary),
                    ("strategies", dict(e.strategies)),
                    ("sensitivity", list(e.sensitivity)),
                )
                if value or key == "strategies"
            }
            for k, e in spec.estimands.items()
        }
    if spec.daily:
        out["daily"] = {k: daily_to_dict(m) for k, m in spec.daily.items()}
    return out
