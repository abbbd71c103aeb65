"""Named validation rules: every check of a study definition, a data file and its data.

Each rule has a stable code (pandera's reason codes are the model): the failure table of a
:class:`~painstudy.errors.CohortError` has a ``code`` column, every
:class:`~painstudy.errors.Problem` of a study.yml or a file carries one, and ``painstudy validate``
prints it on each line. :data:`RULES` lists every code with its meaning and the fix;
:func:`rules_table` renders that list for the documentation.

:func:`check_data` applies the data rules to a raw table and hands the checked, parsed values
to :mod:`painstudy.cohort`, which builds the canonical tables from them. Each rule is one
function below (``check_columns``, ``check_arms``, ...), applied in that order; every failure
is collected, none stops the others (except missing columns, without which nothing else can
be checked).

Examples
--------
>>> RULES["unknown_arm"].fix
"Correct the value, or add it to the arm's `codes:` in study.yml."
>>> print(rules_table().splitlines()[0])
| code | applies to | rule | meaning | fix |
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import FAILURE_COLUMNS, CohortError
from .io import RawTable
from .study import StudySpec, Variable, normalise_code

#: Numbers larger than this (in absolute value) are refused where no maximum is declared:
#: no measurement painstudy analyses comes near it, and values such as 1e308 (export sentinels,
#: typing errors) make model matrices singular.
MAX_MAGNITUDE = 1e9

#: Spellings of a boolean (after trimming, in any case); 1.0 and 0.0 count as 1 and 0.
TRUE_WORDS = ("1", "true", "t", "yes", "y")
FALSE_WORDS = ("0", "false", "f", "no", "n")


@dataclass(frozen=True)
class Rule:
    """A validation rule: its stable code, what it checks, what a failure means and how to fix it."""

    code: str
    scope: str  # "study.yml", "file" or "data"
    title: str
    meaning: str
    fix: str


_RULES = [
    # -- study.yml ------------------------------------------------------------------------------
    Rule("yaml_syntax", "study.yml", "valid YAML", "The file is not valid YAML (an unclosed bracket or quote, "
         "a bad indentation, a tab).", "Correct the YAML at the line given."),
    Rule("duplicate_key", "study.yml", "each key once", "A key is written twice in the same mapping; YAML would "
         "silently keep the second.", "Remove or rename one of them."),
    Rule("unknown_key", "study.yml", "known keys only", "A key that the study.yml schema does not declare "
         "(often a typo; the message suggests the closest key).", "Correct the key name (see the study.yml "
         "reference)."),
    Rule("missing_key", "study.yml", "required keys", "A required key is missing (or a list that must have "
         "entries is empty).", "Add the key."),
    Rule("wrong_type", "study.yml", "field types", "A value has the wrong type: text where a number is needed "
         "(`week: four`), a quoted boolean (`control: \"false\"`), a list where a mapping is needed, ...",
         "Write the value with the type the reference gives (numbers and true/false without quotes)."),
    Rule("invalid_value", "study.yml", "allowed values", "A value of the right type that is not allowed here "
         "(a layout other than long/wide, a non-positive `multiply`, `columns:` in a long file, ...).",
         "Use one of the allowed values given in the message."),
    Rule("unknown_instrument", "study.yml", "known instruments", "An outcome names an instrument that is not in "
         "the registry.", "Use a name from `painstudy.list_instruments()` (e.g. nrs, vas_mm, odi)."),
    Rule("unknown_modality", "study.yml", "known modalities", "An arm lists a modality outside the fixed "
         "taxonomy.", "Use a modality of `painstudy.study.MODALITY_DOMAINS` (e.g. physiotherapy, cbt)."),
    Rule("duplicate_name", "study.yml", "unique names", "Two arms (or two visits) have the same name.",
         "Give each arm and visit its own name."),
    Rule("overlapping_codes", "study.yml", "disjoint codes", "A code of one arm (or visit) also means another "
         "one, so rows would be assigned to whichever comes first (codes default to the name).",
         "Make the codes of different arms (visits) disjoint."),
    Rule("multiple_controls", "study.yml", "one control arm", "More than one arm is marked `control: true`.",
         "Mark only the control / usual-care arm."),
    Rule("multiple_baselines", "study.yml", "one baseline visit", "More than one visit is marked `baseline: true`.",
         "Mark only the baseline visit."),
    Rule("visits_out_of_order", "study.yml", "visits in week order", "Visits are not listed in increasing week "
         "order, or the baseline is not first; the order decides the last visit (completers) and models.",
         "List the visits by week, baseline first."),
    Rule("invalid_window", "study.yml", "window contains its week", "A visit's window [low, high] does not "
         "contain its nominal week.", "Correct the window or the week."),
    Rule("unknown_visit", "study.yml", "columns map known visits", "A wide outcome maps a visit that is not in "
         "the schedule.", "Use the visit names of `visits:`."),
    Rule("unknown_outcome", "study.yml", "missing_with names an outcome", "`missing_with` names no other "
         "outcome of the study.", "Name another outcome."),
    Rule("reserved_name", "study.yml", "reserved names", "An outcome, covariate or subject-level outcome uses a "
         "name of the canonical tables (subject, arm, arm_class, visit, week, site, condition, week_actual, "
         "completer, withdrawn, withdrawal_reason, last_visit, last_week), which it would overwrite.",
         "Rename it (e.g. `pain_score`)."),
    Rule("invalid_name", "study.yml", "usable names", "An outcome, covariate or subject-level outcome name that "
         "is not usable as a column and in model formulas (spaces, operators, starting with a digit), or a study "
         "name that cannot name a report folder (`/`, `..`).", "Use letters, digits and _ (and - . in a study "
         "name)."),
    Rule("name_clash", "study.yml", "names do not clash", "Two variables would get the same column: a "
         "covariate named like an outcome, or like a derived column (`{outcome}_baseline`, `_change`, "
         "`_improvement`, `_pct_improvement`).", "Rename one of them."),
    Rule("data_outside_study_folder", "study.yml", "data inside the study folder", "`data.file` is an absolute "
         "path or leaves the study folder (`../`).", "Move the file into the study folder, pass it with "
         "`--data`, or declare `outside_study_folder: true` under `data:`."),
    # -- files ----------------------------------------------------------------------------------
    Rule("file_not_found", "file", "the file exists", "The study file or the data file does not exist (or is "
         "a folder).", "Correct the path."),
    Rule("empty_file", "file", "the file has data", "The file is empty, or has a header but no data rows.",
         "Check that the file was exported completely."),
    Rule("unknown_format", "file", "a known format", "The extension (or `data.format`) names no reader.",
         "Use .csv, .tsv, .txt, .parquet, .xlsx, .xls, .sas7bdat, .xpt, .dta, .sav (or declare `format:`)."),
    Rule("unreadable_file", "file", "the file can be read", "The reader for the format failed: the file is "
         "truncated, corrupt or of another format.", "Export the file again, or declare its real format."),
    Rule("not_text", "file", "text files are text", "A text file contains NUL bytes or is a binary file "
         "(Excel, Parquet, ...) with a text extension.", "Give it the right extension or declare `format:`."),
    Rule("encoding", "file", "a known encoding", "A text file is neither UTF-8, UTF-16/32 nor Windows-1252 "
         "text.", "Save the file as UTF-8."),
    Rule("duplicate_column", "file", "unique column names", "Two columns have the same name (after trimming "
         "spaces); which one is meant is ambiguous.", "Rename or remove one of them."),
    Rule("field_count", "file", "every line has the header's fields", "A line has more or fewer fields than the "
         "header (a missing value or an unquoted delimiter); values would shift into the wrong columns.",
         "Correct the line (quote fields that contain the delimiter)."),
    Rule("truncated_file", "file", "the file is complete", "The file ends early: the last line has fewer "
         "fields and no line break, the file ends inside a quoted field, or a gzip stream is cut.",
         "Copy or export the file again."),
    Rule("malformed_line", "file", "valid quoting", "A line cannot be split into fields (text after a closing "
         "quote, a runaway quote).", "Correct the quoting on that line."),
    Rule("unknown_sheet", "file", "the sheet exists", "`data.sheet` names no sheet of the workbook (or a sheet "
         "is given for a file that is not Excel).", "Use one of the sheets listed in the message."),
    # -- data -----------------------------------------------------------------------------------
    Rule("missing_column", "data", "required columns", "A column that the study definition names is not in "
         "the file (the message lists close names and, for Excel, the sheets).", "Correct the column name in "
         "study.yml or the file, or choose the right sheet."),
    Rule("missing_value", "data", "required values", "A required value is empty: the subject identifier, the "
         "arm or the visit of a row, or a subject's completer flag.", "Fill it in, or remove the row."),
    Rule("unknown_arm", "data", "known arms", "The arm column holds a value that is none of the arms' codes.",
         "Correct the value, or add it to the arm's `codes:` in study.yml."),
    Rule("subject_in_two_arms", "data", "one arm per subject", "A subject's rows give different arms.",
         "Correct the arm of the rows named."),
    Rule("visit_not_in_schedule", "data", "known visits", "The visit column holds a value that is none of the "
         "visits' codes.", "Correct the value, or add the visit (or the code) to study.yml."),
    Rule("outside_window", "data", "visits in their windows", "The actual week of a visit lies outside the "
         "visit's window.", "Correct the week or the visit, or widen the window in study.yml."),
    Rule("duplicate_visit", "data", "one row per subject and visit", "A long file has two rows for the same "
         "subject and visit.", "Remove or correct one of them."),
    Rule("duplicate_subject", "data", "one row per subject", "A wide file has two rows for the same subject.",
         "Remove or correct one of them."),
    Rule("not_numeric", "data", "numbers where numbers are needed", "A score, numeric covariate or week is not "
         "a number (text, a decimal comma).", "Write a number (with a decimal point), or leave it empty."),
    Rule("non_finite_number", "data", "finite numbers", "A number is infinite (inf, Infinity, 1e999).",
         "Write the real value, or leave it empty if it is missing."),
    Rule("implausible_number", "data", "plausible magnitudes", "A number without a declared maximum is "
         f"larger than {MAX_MAGNITUDE:g} in size (e.g. 1e308 MME: an export sentinel or a typing error). "
         "Outcomes on open-ended scales (MME, FEV1, generic scores) and numeric covariates are checked this "
         "way.", "Correct the value, or declare the highest plausible value with `max:` on the outcome or "
         "variable."),
    Rule("score_out_of_range", "data", "scores within the instrument's range", "A score lies outside the "
         "range of its instrument (or the range declared with `min:`/`max:`).", "Correct the score, or the "
         "instrument of the outcome."),
    Rule("value_out_of_range", "data", "values within declared ranges", "A numeric variable lies outside the "
         "`min:`/`max:` declared for it.", "Correct the value or the declared range."),
    Rule("unknown_code", "data", "declared codes", "A variable with `values:` holds a raw value that is not "
         "one of the declared codes.", "Correct the value, or add the code to `values:`."),
    Rule("invalid_boolean", "data", "booleans", "A completer flag is not a boolean: true/false, t/f, yes/no, "
         "y/n, 1/0 (any case) are accepted.", "Write one of the accepted spellings."),
    Rule("inconsistent_subject_value", "data", "one value per subject", "A subject-level value (site, "
         "covariate, disposition) changes between the rows of one subject in a long file.", "Make the "
         "subject's rows agree."),
    Rule("no_baseline", "data", "a baseline per subject", "A subject has no outcome assessed at the baseline "
         "visit, so no change from baseline can be computed.", "Add the baseline assessment, or remove the "
         "subject."),
    Rule("table_contract", "data", "canonical table contract", "The canonical tables broke their pandera "
         "contract: a bug in painstudy.", "Please report it with the file that caused it."),
]

#: Every rule, by code.
RULES: Mapping[str, Rule] = MappingProxyType({r.code: r for r in _RULES})


def rules_table(fmt: str = "markdown") -> str:
    """The list of rules for the documentation: ``"markdown"`` (a pipe table) or ``"rst"`` (a list-table)."""
    cols = ("code", "applies to", "rule", "meaning", "fix")
    rows = [(f"`{r.code}`", r.scope, r.title, r.meaning, r.fix) for r in RULES.values()]
    if fmt == "markdown":
        esc = lambda t: t.replace("|", "\\|")  # noqa: E731
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        return "\n".join(out)
    if fmt == "rst":
        out = [".. list-table:: Validation rules", "   :header-rows: 1", ""]
        for row in (cols, *rows):
            out.append("   * - " + row[0].replace("`", "``"))
            out += ["     - " + c.replace("`", "``") for c in row[1:]]
        return "\n".join(out)
    raise ValueError(f"fmt must be 'markdown' or 'rst', not {fmt!r}")


# -------------------------------------------------------------------------------------------
# collecting failures
# -------------------------------------------------------------------------------------------

class FailureLog:
    """Collects failures as rows of the failure table (:data:`~painstudy.errors.FAILURE_COLUMNS`)."""

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.rows: list[dict] = []

    def add(self, code: str, rule: str, column: str | None = None, position: int | None = None,
            subject: Any = None, value: Any = None) -> None:
        """One failure; ``position`` is the 0-based row of the raw table (numbered as in the file)."""
        if code not in RULES:  # pragma: no cover - a programming error
            raise KeyError(f"unregistered rule code {code!r}")
        row = {"code": code, "file": self.raw.label, "line": None, "row": None, "column": column,
               "subject": subject, "value": value, "rule": rule}
        if position is not None:
            row.update(self.raw.where(position))
        self.rows.append(row)

    def add_mask(self, code: str, rule: str, mask: pd.Series, column: str, subjects: pd.Series | None = None,
                 values: Iterable | None = None) -> None:
        """A failure for every row where ``mask`` is true (values from ``column`` unless given)."""
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(idx):
            return
        vals = self.raw.frame[column].to_numpy(dtype=object) if values is None else np.asarray(values, dtype=object)
        subj = None if subjects is None else subjects.to_numpy(dtype=object)
        for i in idx:
            self.add(code, rule, column, int(i), None if subj is None else subj[i], vals[i])

    def table(self) -> pd.DataFrame:
        t = pd.DataFrame(self.rows, columns=FAILURE_COLUMNS)
        for c in ("line", "row"):
            t[c] = t[c].astype("Int64")
        return t

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def failure_table(rows: list[dict] | None = None) -> pd.DataFrame:
    """A failure table from rows (an empty one without rows)."""
    t = pd.DataFrame(rows or [], columns=FAILURE_COLUMNS)
    for c in ("line", "row"):
        t[c] = t[c].astype("Int64")
    return t


# -------------------------------------------------------------------------------------------
# parsing values
# -------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity)", re.IGNORECASE)


def _distinct(values: pd.Series) -> tuple[np.ndarray, list]:
    """Codes (-1 for missing) and distinct values, so that work is done once per distinct value."""
    arr = values.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        return codes, list(uniques)
    except TypeError:  # unhashable values: each is its own
        missing = pd.isna(arr) if arr.ndim == 1 else np.zeros(len(arr), bool)
        return np.where(missing, -1, np.arange(len(arr))), list(arr)


def normalise_series(values: pd.Series) -> pd.Series:
    """:func:`~painstudy.study.normalise_code` of every value (computed once per distinct value)."""
    codes, uniques = _distinct(values)
    table = np.array([normalise_code(u) for u in uniques] + [None], dtype=object)
    return pd.Series(table[codes], index=values.index, dtype=object)


def _as_number(value) -> float | None:
    """A raw value as a float: NaN when missing, None when present but not a number."""
    if isinstance(value, (int, float, np.integer, np.floating)):  # bool is an int
        return float(value)
    text = str(value).strip()
    if not text or text.lower() == "nan":
        return np.nan
    return float(text) if _NUMBER.fullmatch(text) else None


def parse_numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as floats (missing: NaN) and the mask of present values that are not numbers.

    Numbers are written with ASCII digits and a decimal point (``3.5``, ``-2``, ``1e-3``, ``.5``);
    infinite values (``inf``, ``Infinity``, ``1e999``) are parsed as infinities: the rules decide
    what to do with them.
    """
    if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    codes, uniques = _distinct(raw)
    numbers = [_as_number(u) for u in uniques]
    values = np.array([np.nan if x is None else x for x in numbers] + [np.nan], dtype=float)
    bad = np.array([x is None for x in numbers] + [False], dtype=bool)
    return pd.Series(values[codes], index=raw.index), pd.Series(bad[codes], index=raw.index)


def parse_booleans(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as a nullable boolean Series and the mask of present values that are not booleans."""
    words = normalise_series(raw).str.lower()
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[words.isin(TRUE_WORDS)] = True
    out[words.isin(FALSE_WORDS)] = False
    bad = words.notna() & out.isna()
    return out, bad.astype(bool)


# -------------------------------------------------------------------------------------------
# the checked data handed to the cohort
# -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckedData:
    """The raw data after every rule passed, parsed for building the canonical tables.

    ``subject`` and ``arm`` hold one value per raw row; ``variables`` the typed values of each
    subject-level variable per raw row (site, condition, covariates, subject-level outcomes and
    the disposition columns, keyed by name); ``long`` one row per subject x visit found in the
    file (``subject, visit``, each outcome scaled by ``multiply``, ``week_actual`` when declared);
    ``baselines`` the values of outcomes' ``baseline_column`` per raw row.
    """

    raw: RawTable
    subject: pd.Series
    arm: pd.Series
    variables: Mapping[str, pd.Series]
    long: pd.DataFrame
    baselines: Mapping[str, pd.Series] = field(default_factory=dict)
    exclusions: tuple[dict, ...] = ()


def required_columns(spec: StudySpec) -> dict[str, str]:
    """Raw columns the study needs, with the role each plays."""
    need = {spec.subject: "subject identifier", spec.arm_column: "arm"}
    if spec.layout == "long":
        need[spec.visit_column] = "visit"
        if spec.time_column:
            need[spec.time_column] = "actual visit week"
    for o in spec.outcomes.values():
        if o.column:
            need[o.column] = f"outcome {o.name}"
        for visit, col in o.columns.items():
            need[col] = f"outcome {o.name} at {visit}"
        if o.baseline_column:
            need[o.baseline_column] = f"baseline of {o.name}"
    for v in (spec.site, spec.condition, *spec.covariates, *spec.extras):
        if v is not None and v.column:
            need[v.column] = v.name if v.name in ("site", "condition") else f"covariate {v.name}"
    for col, role in ((spec.withdrawal_reason, "withdrawal reason"), (spec.completer_column, "completer flag")):
        if col:
            need[col] = role
    return need


def check_data(spec: StudySpec, raw: RawTable) -> CheckedData:
    """Apply every data rule; return the checked data or raise a :class:`CohortError` listing every failure."""
    log = FailureLog(raw)
    check_columns(spec, raw, log)
    subj = check_subjects(spec, raw, log)
    arm = check_arms(spec, raw, subj, log)
    variables = check_subject_variables(spec, raw, subj, log)
    if spec.layout == "long":
        long = check_long_rows(spec, raw, subj, log)
    else:
        long = check_wide_rows(spec, raw, subj, log)
    baselines = check_scores(spec, raw, subj, long, log)
    exclusions = apply_missing_with(spec, long)
    check_baselines(spec, raw, subj, long, log)
    if log:
        raise CohortError(f"{raw.label}: {len(log)} problem(s) found", log.table())
    return CheckedData(raw, subj, arm, variables, long, baselines, tuple(exclusions))


# -------------------------------------------------------------------------------------------
# the rules, one function each
# -------------------------------------------------------------------------------------------

def check_columns(spec: StudySpec, raw: RawTable, log: FailureLog) -> None:
    """``missing_column``: every column the study names is in the file (raises at once if not)."""
    present = list(raw.frame.columns)
    for col, role in required_columns(spec).items():
        if col in present:
            continue
        close = difflib.get_close_matches(col, present, n=3, cutoff=0.6)
        close += [c for c in present if c.lower() == col.lower() and c not in close]
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        sheets = (f"; the workbook has sheets {', '.join(raw.sheets)} (read: {raw.sheet}), choose one with "
                  "data: {sheet: ...}" if len(raw.sheets) > 1 else "")
        shown = ", ".join(map(str, present[:30])) + (", ..." if len(present) > 30 else "")
        log.add("missing_column", f"required column is missing (role: {role}){hint}{sheets}; columns present: "
                f"{shown}", column=col)
    if log:
        raise CohortError(f"{raw.label}: {len(log)} required column(s) missing", log.table())


def check_subjects(spec: StudySpec, raw: RawTable, log: FailureLog) -> pd.Series:
    """``missing_value``: every row has a subject identifier. Returns the normalised identifiers."""
    subj = normalise_series(raw.frame[spec.subject])
    log.add_mask("missing_value", "missing subject identifier", subj.isna(), spec.subject)
    return subj


def _first_change(values: pd.Series, subj: pd.Series) -> pd.DataFrame:
    """Rows (subject ``s``, position ``pos``, value ``v``, the subject's first value ``first``) where a
    subject's value differs from its first one: the first such row of each subject."""
    s_codes, _ = _distinct(subj)
    v_codes, _ = _distinct(values.astype(object))
    rows = np.flatnonzero((s_codes >= 0) & (v_codes >= 0))
    first = np.full(s_codes.max() + 1 if len(s_codes) else 0, -1)
    first[s_codes[rows[::-1]]] = rows[::-1]  # the first row of each subject wins
    changed = rows[v_codes[rows] != v_codes[first[s_codes[rows]]]]
    _, at = np.unique(s_codes[changed], return_index=True)
    pos = np.sort(changed[at])
    vals = values.to_numpy(dtype=object)
    return pd.DataFrame({"s": subj.to_numpy(dtype=object)[pos], "v": vals[pos], "pos": pos,
                         "first": vals[first[s_codes[pos]]]})


def check_arms(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.Series:
    """``missing_value``, ``unknown_arm``, ``subject_in_two_arms``. Returns the arm name of each row."""
    col = raw.frame[spec.arm_column]
    codes = {normalise_code(code): a.name for a in spec.arms for code in a.codes}
    normed = normalise_series(col)
    arm = normed.map(codes)
    log.add_mask("missing_value", "missing arm", normed.isna(), spec.arm_column, subj)
    log.add_mask("unknown_arm", f"unknown arm: not one of the study's arm codes ({', '.join(codes)})",
                 normed.notna() & arm.isna(), spec.arm_column, subj)
    for r in _first_change(arm, subj).itertuples():
        log.add("subject_in_two_arms", f"subject in two arms: {r.first} on its first row, {r.v} here",
                spec.arm_column, int(r.pos), r.s, raw.frame[spec.arm_column].iloc[int(r.pos)])
    return arm


def check_numbers(raw: RawTable, column: str, what: str, subj: pd.Series, log: FailureLog,
                  low: float | None = None, high: float | None = None, *, scale: float = 1.0,
                  range_code: str = "value_out_of_range", range_text: str = "") -> pd.Series:
    """The number rules for one column; returns its values times ``scale`` (NaN where missing or infinite).

    ``not_numeric``, ``non_finite_number``; ``range_code`` (``value_out_of_range`` or
    ``score_out_of_range``) outside ``[low, high]`` (after scaling); ``implausible_number``
    beyond :data:`MAX_MAGNITUDE` in size on a side of the range that is open (no ``high``, or
    ``high`` infinite: an open-ended scale).
    """
    values, bad = parse_numbers(raw.frame[column])
    log.add_mask("not_numeric", f"not a number ({what})", bad, column, subj)
    inf = np.isinf(values.to_numpy())
    log.add_mask("non_finite_number", f"infinite value ({what}); leave it empty if it is missing", inf, column, subj)
    y = values.where(~inf) * scale
    lo = -np.inf if low is None else low
    hi = np.inf if high is None else high
    out = y.notna() & ((y < lo - 1e-9) | (y > hi + 1e-9))
    word = "score" if range_code == "score_out_of_range" else "value"
    log.add_mask(range_code, f"{word} outside the range [{lo:g}, {hi:g}]{range_text}", out, column, subj)
    big = y.notna() & ~out & (((y > MAX_MAGNITUDE) & ~np.isfinite(hi)) | ((y < -MAX_MAGNITUDE) & ~np.isfinite(lo)))
    log.add_mask("implausible_number", f"larger than {MAX_MAGNITUDE:g} in size ({what}): declare `max:` in study.yml "
                 "if such values are real", big, column, subj)
    return y


def _variable_values(var: Variable, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.Series:
    if var.column is None:
        return pd.Series(var.constant, index=raw.frame.index, dtype=object)
    col = raw.frame[var.column]
    if var.values:
        mapping = {normalise_code(k): v for k, v in var.values.items()}
        normed = normalise_series(col)
        out = normed.map(mapping)
        log.add_mask("unknown_code", f"value not among the declared codes of {var.name} "
                     f"({', '.join(map(str, mapping))})", normed.notna() & out.isna(), var.column, subj)
        return out.astype(float) if var.kind == "numeric" else out
    if var.kind == "numeric":
        return check_numbers(raw, var.column, f"numeric variable {var.name}", subj, log, var.min, var.max,
                             range_text=f" declared for {var.name}")
    return normalise_series(col)


def check_subject_variables(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> dict[str, pd.Series]:
    """``unknown_code``, number rules, ``invalid_boolean``, ``missing_value`` (completer) and
    ``inconsistent_subject_value`` for site, condition, covariates, subject-level outcomes and the
    disposition columns. Returns the typed values per raw row, by name (disposition columns by
    ``withdrawal_reason`` and ``completer``)."""
    out: dict[str, pd.Series] = {}
    columns: dict[str, str | None] = {}
    for var in [v for v in (spec.site, spec.condition) if v is not None] + list(spec.covariates) + list(spec.extras):
        out[var.name] = _variable_values(var, raw, subj, log)
        columns[var.name] = var.column
    if spec.withdrawal_reason:
        out["withdrawal_reason"] = raw.frame[spec.withdrawal_reason]
        columns["withdrawal_reason"] = spec.withdrawal_reason
    if spec.completer_column:
        col = spec.completer_column
        flags, bad = parse_booleans(raw.frame[col])
        log.add_mask("invalid_boolean", "not a completer flag: write true/false, yes/no, y/n or 1/0", bad, col, subj)
        out["completer"] = flags
        columns["completer"] = col
        known = pd.DataFrame({"s": subj, "f": flags}).dropna(subset=["s"]).groupby("s", sort=False)["f"].count()
        for s in known.index[known == 0]:
            pos = int(np.flatnonzero((subj == s).to_numpy())[0])
            log.add("missing_value", "no completer flag for this subject", col, pos, s)
    if spec.layout == "long":
        for name, series in out.items():
            if columns.get(name) is None:
                continue
            for r in _first_change(series, subj).itertuples():
                log.add("inconsistent_subject_value", f"subject-level value of {name} changes between the subject's "
                        f"rows ({r.first!r} on its first row, {r.v!r} here)", columns[name], int(r.pos), r.s,
                        raw.frame[columns[name]].iloc[int(r.pos)])
    return out


def check_long_rows(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.DataFrame:
    """``missing_value``/``visit_not_in_schedule`` for the visit, number rules and ``outside_window`` for the
    actual week, ``duplicate_visit``. Returns one row per raw row: ``subject, visit, pos``
    (and ``week_actual``)."""
    codes = {normalise_code(code): v.name for v in spec.visits for code in v.codes}
    vcol = spec.visit_column
    normed = normalise_series(raw.frame[vcol])
    visit = normed.map(codes)
    log.add_mask("missing_value", "missing visit", normed.isna(), vcol, subj)
    log.add_mask("visit_not_in_schedule", f"visit not in the schedule ({', '.join(spec.visit_names)})",
                 normed.notna() & visit.isna(), vcol, subj)
    long = pd.DataFrame({"subject": subj, "visit": visit, "pos": np.arange(len(subj))})
    if spec.time_column:
        t = check_numbers(raw, spec.time_column, "actual visit week", subj, log)
        lo = visit.map({v.name: v.window[0] for v in spec.visits}).astype(float)
        hi = visit.map({v.name: v.window[1] for v in spec.visits}).astype(float)
        out = t.notna() & visit.notna() & ((t < lo - 1e-9) | (t > hi + 1e-9))
        for i in np.flatnonzero(out.to_numpy()):
            log.add("outside_window", f"week {t.iloc[i]:g} outside the window [{lo.iloc[i]:g}, {hi.iloc[i]:g}] of "
                    f"visit {visit.iloc[i]}", spec.time_column, int(i), subj.iloc[i], raw.frame[spec.time_column].iloc[i])
        long["week_actual"] = t
    keyed = long["subject"].notna() & long["visit"].notna()
    dup = keyed & long.duplicated(["subject", "visit"], keep="first")
    first_pos = long[keyed].drop_duplicates(["subject", "visit"]).set_index(["subject", "visit"])["pos"]
    for r in long[dup].itertuples():
        where = raw.where(int(first_pos[(r.subject, r.visit)]))
        kind, number = next(iter(where.items()))
        log.add("duplicate_visit", f"duplicate subject x visit: visit {r.visit} of this subject is also on "
                f"{'line' if kind == 'line' else 'data row'} {number}", vcol, int(r.pos), r.subject,
                raw.frame[vcol].iloc[int(r.pos)])
    return long


def check_wide_rows(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.DataFrame:
    """``duplicate_subject``. Returns one row per raw row and scheduled visit: ``subject, visit, pos``."""
    dup = subj.notna() & subj.duplicated(keep="first")
    first = pd.Series(np.arange(len(subj)), index=subj).groupby(level=0).first()
    for i in np.flatnonzero(dup.to_numpy()):
        kind, number = next(iter(raw.where(int(first[subj.iloc[i]])).items()))
        log.add("duplicate_subject", f"duplicate subject: a wide file has one row per subject; also on "
                f"{'line' if kind == 'line' else 'data row'} {number}", spec.subject, int(i), subj.iloc[i],
                raw.frame[spec.subject].iloc[i])
    parts = [pd.DataFrame({"subject": subj, "visit": v.name, "pos": np.arange(len(subj))}) for v in spec.visits]
    return pd.concat(parts, ignore_index=True)


def check_scores(spec: StudySpec, raw: RawTable, subj: pd.Series, long: pd.DataFrame,
                 log: FailureLog) -> dict[str, pd.Series]:
    """Number rules and ``score_out_of_range`` for every outcome column (and baseline column).

    Adds each outcome (scaled by ``multiply``) to ``long``; returns the baseline columns' values.
    """
    baselines = {}
    for name, o in spec.outcomes.items():
        inst = o.instrument
        what = f"score of outcome {name}"
        if spec.layout == "long":
            columns = {None: o.column}
        else:
            columns = dict(o.columns)
        values = pd.Series(np.nan, index=long.index)
        for visit, col in columns.items():
            y = _scores(raw, col, what, subj, log, inst, o.multiply)
            rows = long.index if visit is None else long.index[long["visit"] == visit]
            values.loc[rows] = y.to_numpy()[long.loc[rows, "pos"].to_numpy()]
        long[name] = values
        if o.baseline_column:
            baselines[name] = _scores(raw, o.baseline_column, f"baseline of outcome {name}", subj, log, inst,
                                      o.multiply)
    return baselines


def _scores(raw, col, what, subj, log, inst, multiply) -> pd.Series:
    return check_numbers(raw, col, what, subj, log, inst.min, inst.max, scale=multiply,
                         range_code="score_out_of_range", range_text=f" of {inst.label}")


def apply_missing_with(spec: StudySpec, long: pd.DataFrame) -> list[dict]:
    """Outcomes declared ``missing_with``: set to missing where the other outcome was not assessed.

    Not a failure: the number of values set to missing is returned as an exclusion row.
    """
    rows = []
    for name, o in spec.outcomes.items():
        if o.missing_with:
            mask = long[o.missing_with].isna() & long[name].notna()
            n = int(mask.sum())
            long.loc[mask, name] = np.nan
            rows.append({"rule": f"{name} set to missing where {o.missing_with} was not assessed", "n": n,
                         "detail": f"{n} subject-visits (the raw file codes unassessed values)"})
    return rows


def check_baselines(spec: StudySpec, raw: RawTable, subj: pd.Series, long: pd.DataFrame, log: FailureLog) -> None:
    """``no_baseline``: with a baseline visit, every subject has an outcome assessed at it."""
    base, names = spec.baseline_visit, list(spec.outcomes)
    if base is None or not names:
        return
    valid = long["subject"].notna() & long["visit"].notna()
    at_base = set(long.loc[valid & (long["visit"] == base.name) & long[names].notna().any(axis=1), "subject"])
    first = pd.Series(np.arange(len(subj)), index=subj).groupby(level=0, sort=False).first()
    for s, pos in first.items():
        if s is not None and s not in at_base:
            log.add("no_baseline", f"no baseline: subject has no outcome assessed at visit {base.name}", None,
                    int(pos), s)


def validation_rules_page() -> str:
    """The documentation page listing every rule code (Markdown), generated from :data:`RULES`."""
    intro = ("# Validation rules\n\n"
             "Generated from `painstudy.validation.RULES` (`painstudy.validation.validation_rules_page()`).\n\n"
             "Every problem `painstudy validate` reports carries one of these codes, printed first on its line "
             "(`[code] file line N, column C, subject S: value 'v': rule`). Text files are numbered by line as "
             "in an editor (the header is line 1); binary formats by data row (the header is not counted). "
             "The failure table of `CohortError.failures` has the code in its `code` column.\n\n")
    return intro + rules_table("markdown") + "\n"
