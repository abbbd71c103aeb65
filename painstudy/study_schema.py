"""The declared schema of study.yml (pydantic), and a YAML reader that keeps line numbers.

Every key of a study.yml file is declared here with its type and meaning; :func:`check_study_doc`
checks a parsed file against the schema and returns *every* problem at once, each naming the
field (``arms[1].control``) and, when the file was read with :func:`load_yaml`, its line.
:func:`study_yml_reference` writes the reference of the format (for the docs) from the same
declarations, so the documentation cannot drift from what is checked.

YAML is read with the YAML 1.2 core rules for plain scalars: ``true``/``false`` are booleans
(``yes``, ``no``, ``on``, ``off`` stay text), ``010`` is the number 10 and dates stay text.
Booleans must be booleans: ``control: "false"`` (quoted) is an error, not a true value.

Examples
--------
>>> doc, lines = load_yaml("name: x\\narms:\\n  - {name: a, control: 'false'}\\n")
>>> lines["arms[0].control"]
3
>>> for problem in check_study_doc(doc, lines, "study.yml")[:3]:
...     print(problem)
[missing_key] study.yml line 1: field subject: required key is missing
[missing_key] study.yml line 1: field arm: required key is missing
[missing_key] study.yml line 1: field visits: required key is missing
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .errors import Problem
from .instruments import get_instrument
from .io import FORMATS
from .study_yaml import StudyYamlLoader as StudyYamlLoader  # re-exported: public names of this module
from .study_yaml import load_yaml as load_yaml

# -------------------------------------------------------------------------------------------
# field types
# -------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    kinds = {bool: "a boolean", list: "a list", dict: "a mapping", type(None): "empty (null)"}
    for t, word in kinds.items():
        if isinstance(value, t):
            return (
                f"{word} ({str(value).lower() if isinstance(value, bool) else _short(value)})"
                if t is not type(None)
                else word
            )
    if isinstance(value, str):
        return f"the text {_short(value)}"
    return f"{_short(value)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(code: str, message: str):
    raise PydanticCustomError(code, message)


def _name(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        _fail("wrong_type", f"must be a name (text), not {_show(value)}")
    text = str(value).strip()
    if not text:
        _fail("wrong_type", "must not be empty")
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail("wrong_type", f"must be text, not {_show(value)}")
    return str(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = " (write it without quotes, e.g. 4 or 0.25)" if isinstance(value, str) else ""
        _fail("wrong_type", f"must be a number, not {_show(value)}{hint}")
    if not math.isfinite(value):
        _fail("wrong_type", f"must be a finite number, not {value}")
    return float(value)


def _positive(value: Any) -> float:
    x = _number(value)
    if x <= 0:
        _fail("invalid_value", f"must be a positive number, not {value}")
    return x


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        hint = " (without quotes)" if isinstance(value, str) and value.strip().lower() in ("true", "false") else ""
        _fail("wrong_type", f"must be true or false{hint}, not {_show(value)}")
    return value


def _code(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail("wrong_type", f"a code must be text or a number as written in the data, not {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        _fail("wrong_type", f"a code must be a finite number or text, not {value}")
    if isinstance(value, str) and not value.strip():
        _fail("wrong_type", "a code must not be empty")
    return value


def _window(value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        _fail("wrong_type", f"must be [low, high] in weeks, not {_show(value)}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            _fail("wrong_type", f"must be [low, high] with two numbers of weeks, not {_show(list(value))}")
    return float(value[0]), float(value[1])


def _instrument(value: Any) -> str:
    name = _name(value)
    from .errors import StudySpecError

    try:
        get_instrument(name)
    except StudySpecError as e:
        _fail("unknown_instrument", Exception.__str__(e))
    return name


Name = Annotated[str, BeforeValidator(_name)]
Text = Annotated[str, BeforeValidator(_text)]
Number = Annotated[float, BeforeValidator(_number)]
Positive = Annotated[float, BeforeValidator(_positive)]
Bool = Annotated[bool, BeforeValidator(_boolean)]
Code = Annotated[Any, BeforeValidator(_code)]
Window = Annotated[tuple[float, float], BeforeValidator(_window)]
InstrumentName = Annotated[str, BeforeValidator(_instrument)]

#: How each field type is described in the reference (by its validator).
_TYPE_WORDS = {
    _name: "name",
    _text: "text",
    _number: "number",
    _positive: "positive number",
    _boolean: "`true` / `false`",
    _code: "code (text or number)",
    _window: "[low, high] (weeks)",
    _instrument: "instrument name",
}
#: The codes our own validators raise (other error types come from pydantic itself).
_OWN_CODES = {"wrong_type", "invalid_value", "unknown_instrument", "missing_key"}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: a key that a plain value stands for (``arm: COLUMN`` means ``arm: {column: COLUMN}``)
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def expand_shorthand(cls, data: Any) -> Any:
        if cls.shorthand and isinstance(data, (str, int)) and not isinstance(data, bool):
            return {cls.shorthand: data}
        return data


# -------------------------------------------------------------------------------------------
# the study.yml schema
# -------------------------------------------------------------------------------------------


class DataDoc(_Doc):
    """``data:`` the raw data file (or ``data: FILE``)."""

    file: Name | None = Field(
        None,
        description="The data file: a path relative to the study folder, or "
        "`registry:NAME` for a registered public dataset. It must stay inside the study "
        "folder unless `outside_study_folder: true`.",
    )
    layout: Literal["long", "wide"] = Field(
        "long", description="`long`: a row per subject and visit; `wide`: a row per subject with a column per visit."
    )
    format: Literal[FORMATS] | None = Field(
        None, description="Reader to use when the extension does not say (" + ", ".join(FORMATS) + ")."
    )
    sheet: Name | None = Field(None, description="Excel: the sheet to read (default: the first).")
    outside_study_folder: Bool = Field(
        False, description="Allow `file` to point outside the study folder (an absolute path or `../`)."
    )

    shorthand = "file"


class ColumnDoc(_Doc):
    """``arm:`` the column holding the arm (or ``arm: COLUMN``)."""

    column: Name = Field(description="Column of the data file.")

    shorthand = "column"


class VisitColumnDoc(_Doc):
    """``visit:`` the visit columns of a long file (or ``visit: COLUMN``)."""

    column: Name | None = Field(None, description="Column holding the visit (its codes or names).")
    week: Name | None = Field(
        None, description="Column holding the actual time of the visit in weeks (checked against each visit's window)."
    )

    shorthand = "column"


class ArmDoc(_Doc):
    """An entry of ``arms:``."""

    name: Name = Field(description="Name of the arm used in every table (e.g. `usual_care`).")
    label: Text | None = Field(None, description="Readable label (default: the name).")
    modalities: list[Name] = Field(
        min_length=1,
        description="Modalities of the arm from the fixed taxonomy "
        "(see `painstudy.study.MODALITY_DOMAINS`); the arm class is derived from them.",
    )
    control: Bool = Field(False, description="`true` for the control / usual-care arm (at most one).")
    codes: list[Code] = Field(
        [],
        description="Values of the arm column that mean this arm (default: the "
        "name). Codes of different arms must not overlap.",
    )


class VisitDoc(_Doc):
    """An entry of ``visits:`` (listed in week order)."""

    name: Name = Field(description="Name of the visit (e.g. `week4`).")
    week: Number = Field(description="Nominal week of the visit; visits are listed in increasing week order.")
    window: Window | None = Field(
        None, description="Allowed actual time [low, high] in weeks; it must contain `week` (default: [week, week])."
    )
    baseline: Bool = Field(False, description="`true` for the baseline visit (at most one, listed first).")
    codes: list[Code] = Field(
        [],
        description="Values of the visit column that mean this visit (default: the "
        "name). Codes of different visits must not overlap.",
    )


class OutcomeDoc(_Doc):
    """An entry of ``outcomes:`` (``NAME: {instrument: ...}`` or ``NAME: INSTRUMENT``)."""

    instrument: InstrumentName = Field(description="Instrument of the registry (`painstudy.list_instruments()`).")
    label: Text | None = Field(None, description="Readable label (default: the instrument's).")
    column: Name | None = Field(
        None, description="Long files: the column holding the score (default: the outcome's name)."
    )
    columns: dict[Name, Name] | None = Field(None, description="Wide files: visit name -> column.")
    baseline_column: Name | None = Field(
        None, description="A column holding the baseline value when the schedule has no baseline visit (ADaM's BASE)."
    )
    missing_with: Name | None = Field(
        None,
        description="Another outcome: this one is set to missing where that "
        "one was not assessed (files that code unassessed values as 0).",
    )
    multiply: Positive = Field(1.0, description="Factor applied to the raw values (e.g. 0.25).")
    min: Number | None = Field(None, description="Overrides the instrument's lowest score.")
    max: Number | None = Field(
        None,
        description="Overrides the instrument's highest score (for an open-ended "
        "scale, declares the highest plausible value).",
    )
    lower_is_better: Bool | None = Field(None, description="Overrides the instrument's direction.")
    relative: dict[Name, Number] | None = Field(
        None, description="Overrides or adds relative improvement thresholds (fractions of baseline)."
    )
    absolute: dict[Name, Number] | None = Field(
        None, description="Overrides or adds absolute improvement thresholds (scale points)."
    )

    shorthand = "instrument"


class VariableDoc(_Doc):
    """``site:``, ``condition:`` and the entries of ``covariates:`` / ``subject_outcomes:``
    (or ``NAME: COLUMN``)."""

    column: Name | None = Field(None, description="Column of the data file (give `column` or `value`).")
    type: Literal["numeric", "categorical"] | None = Field(
        None,
        description="`numeric` or `categorical` "
        "(default: categorical for site, condition and "
        "variables with `values`, else numeric).",
    )
    values: dict[Code, Code] | None = Field(
        None, description="Recoding of the raw codes (raw -> value); a raw value not listed is an error."
    )
    value: Code | None = Field(None, description="A constant value for every subject (instead of a column).")
    label: Text | None = Field(None, description="Readable label (default: the name).")
    min: Number | None = Field(None, description="Numeric variables: lowest allowed value.")
    max: Number | None = Field(
        None, description="Numeric variables: highest allowed value (default: values must be below 1e9 in size)."
    )

    shorthand = "column"


class DispositionDoc(_Doc):
    """``disposition:`` columns describing who completed and why others withdrew."""

    withdrawal_reason: Name | None = Field(
        None, description="Column with the reason for withdrawal (empty for subjects who did not withdraw)."
    )
    completer: Name | None = Field(
        None,
        description="Column flagging completers (true/false, yes/no, y/n, 1/0 "
        "in any case); default: assessed at the last scheduled visit.",
    )


#: Intercurrent events (ICH E9(R1)) a study may declare, and the strategies an estimand may take for them.
EVENT_TYPES = (
    "discontinuation",
    "rescue_analgesia",
    "opioid_escalation",
    "treatment_switch",
    "death",
    "other",
)
EVENT_STRATEGIES = ("treatment_policy", "hypothetical", "composite", "while_on_treatment")
#: Reference-based imputation assumptions for the data a hypothetical strategy sets aside.
SENSITIVITY_ASSUMPTIONS = ("MAR", "JR", "CR", "CIR", "LMCF")

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
EventStrategy = Literal[EVENT_STRATEGIES]  # type: ignore[valid-type]
Assumption = Literal[SENSITIVITY_ASSUMPTIONS]  # type: ignore[valid-type]


class WithdrawalEventsDoc(_Doc):
    """``intercurrent_events.withdrawal:`` every subject with a withdrawal reason (``disposition``) has an
    event at the first scheduled visit after its last assessed one."""

    event: EventType = Field("discontinuation", description="The event type of a withdrawal.")
    reasons: dict[Text, EventType] = Field(
        {}, description="Withdrawal reason -> event type, for reasons that are another event (e.g. `death`)."
    )


class EventsDoc(_Doc):
    """``intercurrent_events:`` where each subject's intercurrent events come from (one or both sources)."""

    withdrawal: WithdrawalEventsDoc | None = Field(
        None, description="Events from the withdrawal reasons (see `intercurrent_events.withdrawal`)."
    )
    file: Text | None = Field(
        None,
        description="A table of events (CSV or any format `load_cohort` reads), relative to study.yml: "
        "columns `subject`, `event` (an event type) and `visit` (the first visit the event affects).",
    )


class EstimandDoc(_Doc):
    """An entry of ``estimands:`` (``OUTCOME: {strategies: ...}``): the estimand of an outcome (ICH E9(R1))."""

    population: Text | None = Field(None, description="The population (default: all randomised subjects).")
    summary: Text | None = Field(
        None, description="The population-level summary (default: difference in adjusted means, arm - control)."
    )
    strategies: dict[EventType, EventStrategy] = Field(
        {},
        description="Event type -> strategy: `treatment_policy` (data after the event are used as observed), "
        "`hypothetical` (set aside; missing at random in the primary analysis), `composite` (the event is a "
        "failure: the worst score up to the event; a non-responder) or `while_on_treatment` (data before the "
        "event only). Events not listed: treatment policy.",
    )
    sensitivity: list[Assumption] = Field(
        ["JR", "CR", "CIR"],
        description="Reference-based assumptions for the data a hypothetical strategy sets aside, "
        "shown as sensitivity analyses (MAR, JR, CR, CIR, LMCF).",
    )


class DailyDoc(_Doc):
    """An entry of ``daily:`` (``NAME: {instrument: ..., file: ...}``): a measure recorded every day (a pain
    diary, sleep quality, steps per day from a wearable, rescue medication taken 0/1), in a long file of
    one row per subject and day (see `painstudy.diary`)."""

    instrument: InstrumentName = Field(
        description="Instrument of the daily value (e.g. `nrs`, `sleep_quality`, `steps`, `rescue_taken`)."
    )
    label: Text | None = Field(None, description="Readable label (default: the instrument's).")
    file: Text = Field(description="The day-level file (any format `load_cohort` reads), relative to study.yml.")
    format: Literal[FORMATS] | None = Field(None, description="Reader to use when the extension does not say.")
    sheet: Name | None = Field(None, description="Excel: the sheet to read (default: the first).")
    subject: Name = Field("subject", description="Column holding the subject identifier.")
    day: Name | None = Field(
        None,
        description="Column holding the study day (whole days; day 0 is the baseline visit). Give `day` or `date`.",
    )
    date: Name | None = Field(None, description="Column holding the calendar date (ISO `2024-03-01`), with `start`.")
    start: Name | None = Field(None, description="With `date`: the column holding each subject's day-0 date.")
    value: Name | None = Field(None, description="Column holding the daily value (default: the measure's name).")
    window_days: Positive = Field(7, description="Days before each visit summarised (the visit day itself excluded).")
    min_days: Positive = Field(4, description="Fewest days reported in a window for its summaries to be defined.")
    high: Number | None = Field(
        None, description="Days with a value >= `high` are counted (e.g. 7: proportion of days with severe pain)."
    )
    days: Window | None = Field(
        None,
        description="First and last study day of the diary period, e.g. [-7, 84] (default: the week before "
        "the first visit window to the end of the last one). Days outside are errors.",
    )
    outside_study_folder: Bool = Field(False, description="Allow `file` to point outside the study folder.")

    @model_validator(mode="after")
    def check_days(self):
        if (self.day is None) == (self.date is None):
            _fail("invalid_value", "give the column of the study day (`day:`) or of the date (`date:`), one of them")
        if self.date is not None and self.start is None:
            _fail("missing_key", "`date:` needs `start:`, the column of each subject's day-0 date")
        for key in ("window_days", "min_days"):
            if getattr(self, key) != int(getattr(self, key)):
                _fail("invalid_value", f"{key} must be a whole number of days, not {getattr(self, key):g}")
        if self.min_days > self.window_days:
            _fail("invalid_value", f"min_days ({self.min_days:g}) exceeds window_days ({self.window_days:g})")
        return self


class MedicationDoc(_Doc):
    """``medication:`` the subjects' medication records (or ``medication: FILE``): one row per prescription
    or reported dose, converted to morphine milligram equivalents (MME) per day with the CDC 2022 factors
    (see `painstudy.medication`). The column keys default to their own names."""

    file: Text = Field(description="The records (any format `load_cohort` reads), relative to study.yml.")
    format: Literal[FORMATS] | None = Field(None, description="Reader to use when the extension does not say.")
    sheet: Name | None = Field(None, description="Excel: the sheet to read (default: the first).")
    subject: Name | None = Field(None, description="Column holding the subject identifier (default `subject`).")
    day: Name | None = Field(
        None,
        description="Column holding the study day a prescription starts (whole days; day 0 is the baseline "
        "visit). Give one of `day` (the default, column `day`), `date` or `visit`.",
    )
    date: Name | None = Field(None, description="Column holding the date a prescription starts, with `start`.")
    start: Name | None = Field(None, description="With `date`: the column holding each subject's day-0 date.")
    visit: Name | None = Field(
        None, description="Column holding the visit at which a dose was reported (the dose of that visit window)."
    )
    drug: Name | None = Field(None, description="Column holding the drug's name (default `drug`).")
    strength: Name | None = Field(
        None, description="Column holding the strength of one dose (default `strength`; a patch's rate in mcg/h)."
    )
    unit: Name | None = Field(None, description="Column holding the strength's unit: mg, or mcg/h for patches.")
    doses_per_day: Name | None = Field(
        None, description="Column holding the doses per day (patches: worn at once); default `doses_per_day`."
    )
    quantity: Name | None = Field(
        None, description="Column holding the quantity dispensed (used where doses per day is empty)."
    )
    days_supplied: Name | None = Field(
        None, description="Column holding the days a prescription lasts (needed for records by day or date)."
    )
    include_buprenorphine: Bool = Field(
        False, description="Count buprenorphine in the MME total (CMS factors); it is flagged either way."
    )
    outside: Literal["error", "exclude"] = Field(
        "error",
        description="Prescriptions outside every visit window: `error`, or `exclude` (listed as exclusions).",
    )
    outcome: Name = Field("mme", description="Name of the derived dose outcome (MME/day per visit window).")
    outside_study_folder: Bool = Field(False, description="Allow `file` to point outside the study folder.")

    shorthand = "file"

    @model_validator(mode="after")
    def check_time(self):
        given = [k for k in ("day", "date", "visit") if getattr(self, k) is not None]
        if len(given) > 1:
            _fail("invalid_value", f"give one of `day`, `date` or `visit`, not {' and '.join(given)}")
        if self.date is not None and self.start is None:
            _fail("invalid_value", "`date:` needs `start:`, the column of each subject's day-0 date")
        return self


class StudyDoc(_Doc):
    """A study.yml file."""

    name: Name = Field(description="Short name of the study (used for report folders).")
    title: Text | None = Field(None, description="Title (default: the name).")
    description: Text | None = Field(None, description="A few sentences on the study.")
    reference: Text | None = Field(None, description="Citation of the trial's publication.")
    data: DataDoc | None = Field(None, description="The data file (see `data`).")
    subject: Name = Field(description="Column holding the subject identifier.")
    arm: ColumnDoc = Field(description="Column holding the arm (see `arm`).")
    arms: list[ArmDoc] = Field(min_length=1, description="The arms (see `arms[]`).")
    visit: VisitColumnDoc | None = Field(None, description="Long files: the visit columns (see `visit`).")
    visits: list[VisitDoc] = Field(min_length=1, description="The schedule, in week order (see `visits[]`).")
    outcomes: dict[Name, OutcomeDoc] = Field(
        description="Outcome name -> definition (see `outcomes.NAME`). "
        "Names cannot be subject, arm, arm_class, visit, week, site, "
        "condition or clash with derived columns."
    )
    site: VariableDoc | None = Field(None, description="The site (see `site / condition / covariates.NAME`).")
    condition: VariableDoc | None = Field(None, description="The condition treated.")
    covariates: dict[Name, VariableDoc] = Field({}, description="Baseline covariates: name -> definition.")
    subject_outcomes: dict[Name, VariableDoc] = Field(
        {}, description="Subject-level outcomes (e.g. resource use over follow-up): name -> definition."
    )
    disposition: DispositionDoc | None = Field(None, description="Disposition columns (see `disposition`).")
    intercurrent_events: EventsDoc | None = Field(
        None, description="Intercurrent events of the subjects (see `intercurrent_events`)."
    )
    medication: MedicationDoc | None = Field(
        None, description="Medication records converted to opioid dose (see `medication`)."
    )
    estimands: dict[Name, EstimandDoc] = Field(
        {}, description="Outcome name -> its estimand (see `estimands.OUTCOME`)."
    )
    daily: dict[Name, DailyDoc] = Field(
        {}, description="Daily measures (diaries, wearables): name -> definition (see `daily.NAME`)."
    )


# -------------------------------------------------------------------------------------------
# checking a document
# -------------------------------------------------------------------------------------------


def field_path(loc: tuple) -> str:
    """``("arms", 1, "control")`` -> ``"arms[1].control"``."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a mapping's key
            continue
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            part = str(part) if str(part) else "''"
            out = f"{out}.{part}" if out else part
    return out


def line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``path`` or, when it is not written in the file, of its nearest parent."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""


def _unwrap(tp):
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def _model_at(loc: tuple):
    """The schema model found at a field location (for "did you mean" hints), or None."""
    tp: Any = StudyDoc
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_MESSAGES = {
    "missing": ("missing_key", lambda e: "required key is missing"),
    "dict_type": ("wrong_type", lambda e: f"must be a mapping (key: value), not {_show(e['input'])}"),
    "model_type": ("wrong_type", lambda e: f"must be a mapping (key: value), not {_show(e['input'])}"),
    "model_attributes_type": ("wrong_type", lambda e: f"must be a mapping (key: value), not {_show(e['input'])}"),
    "list_type": (
        "wrong_type",
        lambda e: f"must be a list ([a, b] or lines starting with '- '), not {_show(e['input'])}",
    ),
    "too_short": ("missing_key", lambda e: "must list at least one entry"),
    "literal_error": (
        "invalid_value",
        lambda e: f"must be one of {e.get('ctx', {}).get('expected', '')}, not {_show(e['input'])}",
    ),
}


def check_study_doc(doc: Any, lines: Mapping[str, int] | None = None, source: str = "study") -> list[Problem]:
    """Every problem of a parsed study.yml against the schema (an empty list when it conforms)."""
    lines = lines or {}
    try:
        StudyDoc.model_validate(doc)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc, kind = tuple(e["loc"]), e["type"]
            path = field_path(loc)
            if kind == "extra_forbidden":
                model = _model_at(loc[:-1])
                known = [f.alias or n for n, f in model.model_fields.items()] if model else []
                close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(
                    Problem(
                        "unknown_key",
                        f"unknown key{hint} (known keys here: {', '.join(known)})",
                        path,
                        line_of(path, lines),
                        source,
                    )
                )
                continue
            if kind in _OWN_CODES:
                code, text = kind, e["msg"]
                if loc and loc[-1] == "[key]":
                    text = f"the name {text}"
            elif kind in _MESSAGES:
                code, text = _MESSAGES[kind][0], _MESSAGES[kind][1](e)
            elif kind.endswith(("_type", "_parsing")):
                code, text = "wrong_type", f"has the wrong type ({e['msg']}), not {_show(e['input'])}"
            else:
                code, text = "invalid_value", e["msg"]
            if not path:  # the whole file: say what it holds, never echo it (it may not be a study file at all)
                kinds = {dict: "a mapping", list: "a list", str: "text", type(None): "nothing (it is empty)"}
                held = next((w for t, w in kinds.items() if isinstance(e["input"], t)), "a single value")
                text = (
                    f"the study definition must be a mapping of keys (name:, arms:, visits:, ...), but the file "
                    f"holds {held}"
                )
            problems.append(Problem(code, text, path or None, line_of(path, lines), source))
        return sorted(problems, key=lambda p: p.line or 0)
    return []


# -------------------------------------------------------------------------------------------
# the reference, generated from the schema
# -------------------------------------------------------------------------------------------


def _type_words(tp, metadata=()) -> str:
    for m in metadata:
        if isinstance(m, BeforeValidator) and m.func in _TYPE_WORDS:
            return _TYPE_WORDS[m.func]
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _type_words(typing.get_args(tp)[0], tp.__metadata__)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_words(a) for a in args)
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_words(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"mapping {_type_words(k)} -> {_type_words(v)}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


_SECTIONS = (
    ("study.yml (top level)", StudyDoc),
    ("data", DataDoc),
    ("arm", ColumnDoc),
    ("arms[]", ArmDoc),
    ("visit", VisitColumnDoc),
    ("visits[]", VisitDoc),
    ("outcomes.NAME", OutcomeDoc),
    ("site / condition / covariates.NAME / subject_outcomes.NAME", VariableDoc),
    ("disposition", DispositionDoc),
    ("intercurrent_events", EventsDoc),
    ("intercurrent_events.withdrawal", WithdrawalEventsDoc),
    ("medication", MedicationDoc),
    ("estimands.OUTCOME", EstimandDoc),
    ("daily.NAME", DailyDoc),
)


def study_yml_reference() -> str:
    """The study.yml reference in Markdown, generated from the schema (one table per section)."""
    out = [
        "# study.yml reference",
        "",
        "Generated from `painstudy.study_schema` (`painstudy.study_schema.study_yml_reference()`); "
        "every key is checked against it, unknown keys are errors.",
        "",
        "YAML is read with the YAML 1.2 core rules: `true`/`false` are booleans, `yes`/`no` stay text; "
        "booleans must not be quoted.",
        "",
    ]
    for title, model in _SECTIONS:
        doc = " ".join((model.__doc__ or "").split()).replace("``", "`")
        out += [f"## `{title}`", "", doc, "", "| key | type | required / default | meaning |", "|---|---|---|---|"]
        for name, f in model.model_fields.items():
            key = f.alias or name
            need = "required" if f.is_required() else (f"default `{_default_words(f.default)}`")
            desc = (f.description or "").replace("|", "\\|")
            out.append(f"| `{key}` | {_type_words(f.annotation, f.metadata)} | {need} | {desc} |")
        out.append("")
    return "\n".join(out)


def _default_words(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if value == [] or value == {}:
        return "empty"
    return str(value)
