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

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .errors import Problem, StudySpecError
from .instruments import Instrument, get_instrument
from .study_schema import StudyDoc, VariableDoc, check_study_doc, line_of, load_yaml

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

#: Names that cannot name an outcome, covariate or subject-level outcome: the canonical columns.
RESERVED_NAMES = ("subject", "arm", "arm_class", "visit", "week", "site", "condition")
#: Other columns of the canonical tables (``Cohort.visits`` / ``Cohort.subjects``).
TABLE_COLUMNS = ("week_actual", "completer", "withdrawn", "withdrawal_reason", "last_visit", "last_week")
#: Columns derived from each outcome ``o``: ``o_baseline``, ``o_change``, ...
DERIVED_SUFFIXES = ("baseline", "change", "improvement", "pct_improvement")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_INTLIKE = re.compile(r"[+-]?\d+\.0*")


def normalise_code(value: Any) -> str | None:
    """A raw code as a comparable string: 1, 1.0 and "1" are the same code; missing is None.

    >>> normalise_code(1.0), normalise_code(" 2 "), normalise_code("3.0"), normalise_code("a"), normalise_code(None)
    ('1', '2', '3', 'a', None)
    """
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer, bool, np.bool_)):
        return str(int(value))
    s = str(value).strip()
    if _INTLIKE.fullmatch(s):
        return str(int(float(s)))
    return s


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
    min: float | None = None
    max: float | None = None

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
    sheet: str | None = None
    data_outside: bool = False
    #: the study.yml the spec was read from (for messages), and the line of each of its fields
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "outcomes", MappingProxyType(dict(self.outcomes)))
        object.__setattr__(self, "lines", MappingProxyType(dict(self.lines)))
        problems = [self.problem(code, message, path) for code, path, message in study_problems(self)]
        if problems:
            raise StudySpecError(f"{self.source or 'study ' + repr(self.name)}: {len(problems)} problem(s) in the "
                                 "study definition", problems)

    def problem(self, code: str, message: str, path: str | None) -> Problem:
        """A :class:`~painstudy.errors.Problem` at a field of this study's study.yml (with its line)."""
        return Problem(code, message, path, line_of(path or "", self.lines) if self.lines else None,
                       self.source or f"study {self.name!r}")

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

    def data_file(self) -> str | None:
        """The data file to read: ``registry:NAME``, or its path resolved against the study folder.

        A path outside the study folder (absolute, or leaving it with ``..``) is refused unless
        the study says so (``data: {outside_study_folder: true}``); pass the file explicitly
        (``load_cohort(..., data=FILE)``, ``--data FILE``) to read another file.
        """
        if self.data is None or self.data.startswith("registry:"):
            return self.data
        rel = os.path.normpath(self.data)
        if not self.data_outside and (os.path.isabs(self.data) or rel == ".." or rel.startswith(".." + os.sep)):
            raise StudySpecError("the data file is outside the study folder", [self.problem(
                "data_outside_study_folder", f"{self.data!r} is outside the study folder; move the file into the "
                "study folder, pass it with --data, or declare `outside_study_folder: true` under `data:`",
                "data.file")])
        return self.data_path

    def replace(self, **changes) -> "StudySpec":
        """A modified copy (specs are never mutated)."""
        return replace(self, **changes)

    def arms_table(self):
        """Arms with modalities, domains and derived class, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([{"arm": a.name, "label": a.label, "modalities": ", ".join(a.modalities),
                              "domains": ", ".join(a.domains), "arm_class": a.arm_class} for a in self.arms])


# -------------------------------------------------------------------------------------------
# the rules a study definition keeps (checked whenever a StudySpec is made)
# -------------------------------------------------------------------------------------------

def study_problems(spec: StudySpec) -> list[tuple[str, str, str]]:
    """Every broken rule of a study definition, as ``(code, field path, message)``.

    Checked: layout; at least one arm and one visit; one control arm and one baseline visit at
    most; arm and visit names unique and their codes disjoint (``1``, ``1.0`` and ``"1"`` are
    the same code); visits in increasing week order with the baseline first; each window
    containing its week; a visit column for long files; outcome columns fitting the layout;
    ``missing_with`` naming another outcome; instrument overrides with ``min < max``; names of
    outcomes, covariates and subject-level outcomes being identifiers that are not reserved
    (:data:`RESERVED_NAMES`, :data:`TABLE_COLUMNS`) and do not clash with each other or with
    derived columns (``{outcome}_baseline``, ...); variables having a column or a value.
    """
    out: list[tuple[str, str, str]] = []
    add = lambda code, path, msg: out.append((code, path, msg))  # noqa: E731
    if not _STUDY_NAME.fullmatch(spec.name):
        add("invalid_name", "name", f"{spec.name!r} cannot name a study: use letters, digits, _, - and . (it names "
            "report folders)")
    if spec.layout not in ("long", "wide"):
        add("invalid_value", "data.layout", f"must be 'long' or 'wide', not {spec.layout!r}")
    if not spec.arms:
        add("missing_key", "arms", "no arms declared")
    if not spec.visits:
        add("missing_key", "visits", "no visits declared")
    _unique_names(spec.arms, "arms", "arm", add)
    _unique_names(spec.visits, "visits", "visit", add)
    _disjoint_codes(spec.arms, "arms", "arm", add)
    _disjoint_codes(spec.visits, "visits", "visit", add)
    controls = [i for i, a in enumerate(spec.arms) if a.control]
    for i in controls[1:]:
        add("multiple_controls", f"arms[{i}].control",
            f"arm {spec.arms[i].name!r} is marked control, and so is arm {spec.arms[controls[0]].name!r}: "
            "at most one arm is the control")
    baselines = [i for i, v in enumerate(spec.visits) if v.baseline]
    for i in baselines[1:]:
        add("multiple_baselines", f"visits[{i}].baseline",
            f"visit {spec.visits[i].name!r} is marked baseline, and so is {spec.visits[baselines[0]].name!r}")
    if baselines and baselines[0] != 0:
        add("visits_out_of_order", f"visits[{baselines[0]}].baseline",
            f"the baseline visit {spec.visits[baselines[0]].name!r} must be listed first")
    for i, v in enumerate(spec.visits):
        lo, hi = v.window
        if not (lo <= v.week <= hi):
            add("invalid_window", f"visits[{i}].window",
                f"window [{lo:g}, {hi:g}] of visit {v.name!r} must contain its week {v.week:g} (low <= week <= high)")
        if i and v.week <= spec.visits[i - 1].week:
            prev = spec.visits[i - 1]
            add("visits_out_of_order", f"visits[{i}].week",
                f"visit {v.name!r} (week {v.week:g}) is listed after {prev.name!r} (week {prev.week:g}): list the "
                "visits in increasing week order")
    if spec.layout == "long" and not spec.visit_column:
        add("missing_key", "visit.column", "a long file needs the column holding the visit (visit: {column: ...})")
    if spec.layout == "wide" and (spec.visit_column or spec.time_column):
        add("invalid_value", "visit", "a wide file has no visit column: remove `visit:` (columns per visit go "
            "under each outcome's `columns:`)")
    _outcome_problems(spec, add)
    _name_problems(spec, add)
    for key, var in _variables(spec):
        _variable_problems(var, key, add)
    return out


def _unique_names(items, key: str, what: str, add) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            add("duplicate_name", f"{key}[{i}].name", f"{what} name {item.name!r} is used twice ({key}[{seen[item.name]}] "
                f"and {key}[{i}])")
        seen.setdefault(item.name, i)


def _disjoint_codes(items, key: str, what: str, add) -> None:
    owner: dict[str, str] = {}
    for i, item in enumerate(items):
        for code in item.codes:
            c = normalise_code(code)
            other = owner.get(c)
            if other is not None and other != item.name:
                add("overlapping_codes", f"{key}[{i}].codes",
                    f"code {code!r} of {what} {item.name!r} also means {what} {other!r}: each code must pick out one "
                    f"{what} (a {what}'s codes default to its name)")
            owner.setdefault(c, item.name)


def _outcome_problems(spec: StudySpec, add) -> None:
    visits = {v.name for v in spec.visits}
    for name, o in spec.outcomes.items():
        path = f"outcomes.{name}"
        if spec.layout == "long":
            if not o.column:
                add("missing_key", f"{path}.column", "a long file needs the column holding the score")
            if o.columns:
                add("invalid_value", f"{path}.columns", "`columns:` (a column per visit) is for wide files; a long "
                    "file names one `column:`")
        else:
            if not o.columns:
                add("missing_key", f"{path}.columns", "a wide file needs `columns:` mapping visit names to columns")
            for visit in o.columns:
                if visit not in visits:
                    add("unknown_visit", f"{path}.columns.{visit}",
                        f"{visit!r} is not a visit of the schedule ({', '.join(v.name for v in spec.visits)})")
            if o.column:
                add("invalid_value", f"{path}.column", "a wide file maps each visit to a column under `columns:`; "
                    "remove `column:`")
        if o.missing_with is not None and (o.missing_with not in spec.outcomes or o.missing_with == name):
            add("unknown_outcome", f"{path}.missing_with",
                f"must name another outcome of the study ({', '.join(n for n in spec.outcomes if n != name) or 'none'}),"
                f" not {o.missing_with!r}")
        if not (o.multiply > 0 and math.isfinite(o.multiply)):
            add("invalid_value", f"{path}.multiply", f"must be a positive number, not {o.multiply!r}")
        if not o.instrument.min < o.instrument.max:
            add("invalid_value", f"{path}.max", f"the range [{o.instrument.min:g}, {o.instrument.max:g}] is empty: "
                "min must be below max")


def _variables(spec: StudySpec):
    for key in ("site", "condition"):
        if getattr(spec, key) is not None:
            yield key, getattr(spec, key)
    for v in spec.covariates:
        yield f"covariates.{v.name}", v
    for v in spec.extras:
        yield f"subject_outcomes.{v.name}", v


def _name_problems(spec: StudySpec, add) -> None:
    taken = set(RESERVED_NAMES) | set(TABLE_COLUMNS)
    derived = {f"{o}_{s}": o for o in spec.outcomes for s in DERIVED_SUFFIXES}
    owners: dict[str, str] = {}
    named = [(f"outcomes.{n}", n, "outcome") for n in spec.outcomes]
    named += [(f"covariates.{v.name}", v.name, "covariate") for v in spec.covariates]
    named += [(f"subject_outcomes.{v.name}", v.name, "subject-level outcome") for v in spec.extras]
    for path, name, what in named:
        if name in taken:
            add("reserved_name", path, f"{name!r} names a column of the canonical tables ({', '.join(RESERVED_NAMES)}, "
                f"{', '.join(TABLE_COLUMNS)}) and cannot name a {what}; rename it (e.g. {name}_score)")
        elif not _IDENTIFIER.fullmatch(name):
            add("invalid_name", path, f"{name!r} cannot name a {what}: use letters, digits and _ (not starting with a "
                "digit), so that it works as a column and in model formulas")
        elif name in derived:
            add("name_clash", path, f"{name!r} is the derived column {name} of outcome {derived[name]!r}; rename the "
                f"{what}")
        elif name in owners:
            add("name_clash", path, f"{name!r} names both a {owners[name]} and a {what}; rename one")
        owners.setdefault(name, what)


def _variable_problems(var: Variable, path: str, add) -> None:
    if var.kind not in ("numeric", "categorical"):
        add("invalid_value", f"{path}.type", f"must be numeric or categorical, not {var.kind!r}")
    if var.column is None and var.constant is None:
        add("missing_key", f"{path}.column", "give the column holding the values (column: ...) or a constant "
            "(value: ...)")
    if var.column is not None and var.constant is not None:
        add("invalid_value", f"{path}.value", "give either column: or value:, not both")
    numeric = var.kind == "numeric"
    if numeric and var.values and not all(_is_number(x) for x in var.values.values()):
        add("invalid_value", f"{path}.values", "a numeric variable recodes to numbers; use type: categorical for "
            "text values")
    if numeric and var.constant is not None and not _is_number(var.constant):
        add("invalid_value", f"{path}.value", f"a numeric variable needs a number, not {var.constant!r}")
    if (var.min is not None or var.max is not None) and not numeric:
        add("invalid_value", f"{path}.min", "min and max apply to numeric variables")
    if var.min is not None and var.max is not None and not var.min < var.max:
        add("invalid_value", f"{path}.max", f"the range [{var.min:g}, {var.max:g}] is empty: min must be below max")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# -------------------------------------------------------------------------------------------
# YAML reading and writing
# -------------------------------------------------------------------------------------------

def _variable(name: str, doc: VariableDoc) -> Variable:
    kind = doc.type or ("categorical" if (doc.values or name in ("site", "condition")) else "numeric")
    return Variable(name, doc.column, kind, doc.values or {}, doc.value, doc.label or "", doc.min, doc.max)


def spec_from_dict(doc: Mapping[str, Any], root: Path | None = None, source: str = "study",
                   lines: Mapping[str, int] | None = None) -> StudySpec:
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
        over = {k: getattr(o, k) for k in ("relative", "absolute", "min", "max", "lower_is_better")
                if getattr(o, k) is not None}
        if over:
            inst = inst.with_overrides(**over)
        outcomes[name] = OutcomeSpec(name, inst, o.label or "", o.column or (name if layout == "long" else None),
                                     o.columns or {}, o.baseline_column, o.missing_with, o.multiply)
    data, disp, visit = d.data, d.disposition, d.visit
    return StudySpec(
        name=d.name, title=d.title or d.name, arms=arms, visits=visits, outcomes=outcomes, subject=d.subject,
        arm_column=d.arm.column, layout=layout, data=data.file if data else None, root=root,
        visit_column=visit.column if visit else None, time_column=visit.week if visit else None,
        site=_variable("site", d.site) if d.site else None,
        condition=_variable("condition", d.condition) if d.condition else None,
        covariates=tuple(_variable(k, v) for k, v in d.covariates.items()),
        extras=tuple(_variable(k, v) for k, v in d.subject_outcomes.items()),
        withdrawal_reason=disp.withdrawal_reason if disp else None,
        completer_column=disp.completer if disp else None, description=d.description or "",
        reference=d.reference or "", file_format=data.format if data else None, sheet=data.sheet if data else None,
        data_outside=data.outside_study_folder if data else False, source=source, lines=lines,
    )


def read_study(path: str | Path) -> StudySpec:
    """Read a study.yml file into a :class:`StudySpec` (every problem listed with its line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StudySpecError(f"{path}: study file not found", code="file_not_found") from None
    except OSError as e:
        raise StudySpecError(f"{path}: cannot read the study file ({e.strerror or type(e).__name__})",
                             code="file_not_found") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise StudySpecError(f"{path}: the study file is not UTF-8 text", [Problem(
            "encoding", f"not UTF-8 text (byte {e.start}); save study.yml as UTF-8", None, line, str(path))]) from None
    if "\x00" in text:
        raise StudySpecError(f"{path}: the study file is not text", [Problem(
            "not_text", "the file contains NUL bytes: not a YAML text file", file=str(path))])
    doc, lines = load_yaml(text, str(path))
    return spec_from_dict(doc, root=path.parent.resolve(), source=str(path), lines=lines)


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
        "name": spec.name, "title": spec.title, "description": spec.description, "data": data,
        "subject": spec.subject, "arm": {"column": spec.arm_column},
        "arms": [{"name": a.name, "label": a.label, "modalities": list(a.modalities), "control": a.control,
                  "codes": list(a.codes)} for a in spec.arms],
        "visits": [{"name": v.name, "week": v.week, "window": list(v.window), "baseline": v.baseline,
                    "codes": list(v.codes)} for v in spec.visits],
        "outcomes": {},
    }
    if spec.reference:
        out["reference"] = spec.reference
    if spec.visit_column or spec.time_column:
        out["visit"] = {k: v for k, v in (("column", spec.visit_column), ("week", spec.time_column)) if v}
    for o in spec.outcomes.values():
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
    disp = {k: v for k, v in (("withdrawal_reason", spec.withdrawal_reason),
                              ("completer", spec.completer_column)) if v}
    if disp:
        out["disposition"] = disp
    return out
