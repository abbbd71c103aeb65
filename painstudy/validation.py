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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import FAILURE_COLUMNS, CohortError
from .io import RawTable
from .study import StudySpec, Variable
from .study_rules import normalise_code
from .validation_rules import MAX_MAGNITUDE, RULES, Rule, rules_table, validation_rules_page

__all__ = [
    "MAX_MAGNITUDE",
    "RULES",
    "Rule",
    "rules_table",
    "validation_rules_page",
    "check_data",
    "CheckedData",
    "FailureLog",
]


#: Spellings of a boolean (after trimming, in any case); 1.0 and 0.0 count as 1 and 0.
TRUE_WORDS = ("1", "true", "t", "yes", "y")
FALSE_WORDS = ("0", "false", "f", "no", "n")


# -------------------------------------------------------------------------------------------
# collecting failures
# -------------------------------------------------------------------------------------------


class FailureLog:
    """Collects failures as rows of the failure table (:data:`~painstudy.errors.FAILURE_COLUMNS`)."""

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.rows: list[dict] = []

    def add(
        self,
        code: str,
        rule: str,
        column: str | None = None,
        position: int | None = None,
        subject: Any = None,
        value: Any = None,
    ) -> None:
        """One failure; ``position`` is the 0-based row of the raw table (numbered as in the file)."""
        if code not in RULES:  # pragma: no cover - a programming error
            raise KeyError(f"unregistered rule code {code!r}")
        row = {
            "code": code,
            "file": self.raw.label,
            "line": None,
            "row": None,
            "column": column,
            "subject": subject,
            "value": value,
            "rule": rule,
        }
        if position is not None:
            row.update(self.raw.where(position))
        self.rows.append(row)

    def add_mask(
        self,
        code: str,
        rule: str,
        mask: pd.Series,
        column: str,
        subjects: pd.Series | None = None,
        values: Iterable | None = None,
    ) -> None:
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


#: A number written with a decimal comma (``3,5``, ``-0,25``, ``1.234,5``).
_DECIMAL_COMMA = re.compile(r"\s*[+-]?(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]*),[0-9]+\s*")

#: What to do about numbers written with a decimal comma (painstudy reads a decimal point only).
DECIMAL_COMMA_HINT = (
    "it looks like a decimal comma (the file seems to use the European number format); painstudy reads "
    "numbers with a decimal point only: save the file with '.' as the decimal separator (in R write.csv, "
    "not write.csv2), or read it yourself with pandas.read_csv(FILE, sep=';', decimal=',') and pass the "
    "table to painstudy.load_cohort(study, data=table)"
)


def decimal_comma(raw: pd.Series) -> pd.Series:
    """The mask of text values that are numbers written with a decimal comma (``3,5``)."""
    if not pd.api.types.is_object_dtype(raw) and not pd.api.types.is_string_dtype(raw):
        return pd.Series(False, index=raw.index)
    codes, uniques = _distinct(raw)
    hit = np.array([isinstance(u, str) and bool(_DECIMAL_COMMA.fullmatch(u)) for u in uniques] + [False], dtype=bool)
    return pd.Series(hit[codes], index=raw.index)


def as_codes(raw: RawTable, column: str) -> pd.Series:
    """A column's values, with value labels (Stata, SPSS: see :attr:`RawTable.value_labels`) turned
    back into their codes: a scale labelled at every point stays a number."""
    labels = raw.value_labels.get(column)
    return raw.frame[column] if not labels else raw.frame[column].map(lambda v: labels.get(v, v))


def with_value_labels(codes: dict, raw: RawTable, column: str | None) -> dict:
    """``codes`` (normalised code -> name) and, for a column shown by its value labels, the label of
    each of those codes: a study.yml may name a Stata or SPSS code by its number or by its label."""
    out = dict(codes)
    for label, code in raw.value_labels.get(column, {}).items():
        if normalise_code(code) in codes:
            out.setdefault(normalise_code(label), codes[normalise_code(code)])
    return out


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
        sheets = (
            f"; the workbook has sheets {', '.join(raw.sheets)} (read: {raw.sheet}), choose one with "
            "data: {sheet: ...}"
            if len(raw.sheets) > 1
            else ""
        )
        shown = ", ".join(map(str, present[:30])) + (", ..." if len(present) > 30 else "")
        log.add(
            "missing_column",
            f"required column is missing (role: {role}){hint}{sheets}; columns present: {shown}",
            column=col,
        )
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
    return pd.DataFrame(
        {"s": subj.to_numpy(dtype=object)[pos], "v": vals[pos], "pos": pos, "first": vals[first[s_codes[pos]]]}
    )


def check_arms(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.Series:
    """``missing_value``, ``unknown_arm``, ``subject_in_two_arms``. Returns the arm name of each row."""
    col = raw.frame[spec.arm_column]
    codes = with_value_labels(
        {normalise_code(code): a.name for a in spec.arms for code in a.codes}, raw, spec.arm_column
    )
    normed = normalise_series(col)
    arm = normed.map(codes)
    log.add_mask("missing_value", "missing arm", normed.isna(), spec.arm_column, subj)
    log.add_mask(
        "unknown_arm",
        f"unknown arm: not one of the study's arm codes ({', '.join(codes)})",
        normed.notna() & arm.isna(),
        spec.arm_column,
        subj,
    )
    for r in _first_change(arm, subj).itertuples():
        log.add(
            "subject_in_two_arms",
            f"subject in two arms: {r.first} on its first row, {r.v} here",
            spec.arm_column,
            int(r.pos),
            r.s,
            raw.frame[spec.arm_column].iloc[int(r.pos)],
        )
    return arm


def check_numbers(
    raw: RawTable,
    column: str,
    what: str,
    subj: pd.Series,
    log: FailureLog,
    low: float | None = None,
    high: float | None = None,
    *,
    scale: float = 1.0,
    range_code: str = "value_out_of_range",
    range_text: str = "",
) -> pd.Series:
    """The number rules for one column; returns its values times ``scale`` (NaN where missing or infinite).

    ``not_numeric``, ``non_finite_number``; ``range_code`` (``value_out_of_range`` or
    ``score_out_of_range``) outside ``[low, high]`` (after scaling); ``implausible_number``
    beyond :data:`MAX_MAGNITUDE` in size on a side of the range that is open (no ``high``, or
    ``high`` infinite: an open-ended scale).
    """
    values, bad = parse_numbers(as_codes(raw, column))
    comma = decimal_comma(raw.frame[column]).to_numpy()
    shown, subjects = raw.frame[column].to_numpy(dtype=object), subj.to_numpy(dtype=object)
    for i in np.flatnonzero(bad.to_numpy()):  # in file order; a decimal comma gets its hint
        rule = f"not a number ({what})" + (f"; {DECIMAL_COMMA_HINT}" if comma[i] else "")
        log.add("not_numeric", rule, column, int(i), subjects[i], shown[i])
    inf = np.isinf(values.to_numpy())
    log.add_mask("non_finite_number", f"infinite value ({what}); leave it empty if it is missing", inf, column, subj)
    y = values.where(~inf) * scale
    lo = -np.inf if low is None else low
    hi = np.inf if high is None else high
    out = y.notna() & ((y < lo - 1e-9) | (y > hi + 1e-9))
    word = "score" if range_code == "score_out_of_range" else "value"
    log.add_mask(range_code, f"{word} outside the range [{lo:g}, {hi:g}]{range_text}", out, column, subj)
    big = y.notna() & ~out & (((y > MAX_MAGNITUDE) & ~np.isfinite(hi)) | ((y < -MAX_MAGNITUDE) & ~np.isfinite(lo)))
    log.add_mask(
        "implausible_number",
        f"larger than {MAX_MAGNITUDE:g} in size ({what}): declare `max:` in study.yml if such values are real",
        big,
        column,
        subj,
    )
    return y


def _variable_values(var: Variable, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.Series:
    if var.column is None:
        return pd.Series(var.constant, index=raw.frame.index, dtype=object)
    col = raw.frame[var.column]
    if var.values:
        mapping = with_value_labels({normalise_code(k): v for k, v in var.values.items()}, raw, var.column)
        normed = normalise_series(col)
        out = normed.map(mapping)
        log.add_mask(
            "unknown_code",
            f"value not among the declared codes of {var.name} ({', '.join(map(str, mapping))})",
            normed.notna() & out.isna(),
            var.column,
            subj,
        )
        return out.astype(float) if var.kind == "numeric" else out
    if var.kind == "numeric":
        return check_numbers(
            raw,
            var.column,
            f"numeric variable {var.name}",
            subj,
            log,
            var.min,
            var.max,
            range_text=f" declared for {var.name}",
        )
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
        flags, bad = parse_booleans(as_codes(raw, col))
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
                log.add(
                    "inconsistent_subject_value",
                    f"subject-level value of {name} changes between the subject's "
                    f"rows ({r.first!r} on its first row, {r.v!r} here)",
                    columns[name],
                    int(r.pos),
                    r.s,
                    raw.frame[columns[name]].iloc[int(r.pos)],
                )
    return out


def check_long_rows(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.DataFrame:
    """``missing_value``/``visit_not_in_schedule`` for the visit, number rules and ``outside_window`` for the
    actual week, ``duplicate_visit``. Returns one row per raw row: ``subject, visit, pos``
    (and ``week_actual``)."""
    vcol = spec.visit_column
    codes = with_value_labels({normalise_code(code): v.name for v in spec.visits for code in v.codes}, raw, vcol)
    normed = normalise_series(raw.frame[vcol])
    visit = normed.map(codes)
    log.add_mask("missing_value", "missing visit", normed.isna(), vcol, subj)
    log.add_mask(
        "visit_not_in_schedule",
        f"visit not in the schedule ({', '.join(spec.visit_names)})",
        normed.notna() & visit.isna(),
        vcol,
        subj,
    )
    long = pd.DataFrame({"subject": subj, "visit": visit, "pos": np.arange(len(subj))})
    if spec.time_column:
        t = check_numbers(raw, spec.time_column, "actual visit week", subj, log)
        lo = visit.map({v.name: v.window[0] for v in spec.visits}).astype(float)
        hi = visit.map({v.name: v.window[1] for v in spec.visits}).astype(float)
        out = t.notna() & visit.notna() & ((t < lo - 1e-9) | (t > hi + 1e-9))
        for i in np.flatnonzero(out.to_numpy()):
            log.add(
                "outside_window",
                f"week {t.iloc[i]:g} outside the window [{lo.iloc[i]:g}, {hi.iloc[i]:g}] of visit {visit.iloc[i]}",
                spec.time_column,
                int(i),
                subj.iloc[i],
                raw.frame[spec.time_column].iloc[i],
            )
        long["week_actual"] = t
    keyed = long["subject"].notna() & long["visit"].notna()
    dup = keyed & long.duplicated(["subject", "visit"], keep="first")
    first_pos = long[keyed].drop_duplicates(["subject", "visit"]).set_index(["subject", "visit"])["pos"]
    for r in long[dup].itertuples():
        where = raw.where(int(first_pos[(r.subject, r.visit)]))
        kind, number = next(iter(where.items()))
        log.add(
            "duplicate_visit",
            f"duplicate subject x visit: visit {r.visit} of this subject is also on "
            f"{'line' if kind == 'line' else 'data row'} {number}",
            vcol,
            int(r.pos),
            r.subject,
            raw.frame[vcol].iloc[int(r.pos)],
        )
    return long


def check_wide_rows(spec: StudySpec, raw: RawTable, subj: pd.Series, log: FailureLog) -> pd.DataFrame:
    """``duplicate_subject``. Returns one row per raw row and scheduled visit: ``subject, visit, pos``."""
    dup = subj.notna() & subj.duplicated(keep="first")
    first = pd.Series(np.arange(len(subj)), index=subj).groupby(level=0).first()
    for i in np.flatnonzero(dup.to_numpy()):
        kind, number = next(iter(raw.where(int(first[subj.iloc[i]])).items()))
        log.add(
            "duplicate_subject",
            f"duplicate subject: a wide file has one row per subject; also on "
            f"{'line' if kind == 'line' else 'data row'} {number}",
            spec.subject,
            int(i),
            subj.iloc[i],
            raw.frame[spec.subject].iloc[i],
        )
    parts = [pd.DataFrame({"subject": subj, "visit": v.name, "pos": np.arange(len(subj))}) for v in spec.visits]
    return pd.concat(parts, ignore_index=True)


def check_scores(
    spec: StudySpec, raw: RawTable, subj: pd.Series, long: pd.DataFrame, log: FailureLog
) -> dict[str, pd.Series]:
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
            baselines[name] = _scores(
                raw, o.baseline_column, f"baseline of outcome {name}", subj, log, inst, o.multiply
            )
    return baselines


def _scores(raw, col, what, subj, log, inst, multiply) -> pd.Series:
    return check_numbers(
        raw,
        col,
        what,
        subj,
        log,
        inst.min,
        inst.max,
        scale=multiply,
        range_code="score_out_of_range",
        range_text=f" of {inst.label}",
    )


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
            rows.append(
                {
                    "rule": f"{name} set to missing where {o.missing_with} was not assessed",
                    "n": n,
                    "detail": f"{n} subject-visits (the raw file codes unassessed values)",
                }
            )
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
            log.add(
                "no_baseline", f"no baseline: subject has no outcome assessed at visit {base.name}", None, int(pos), s
            )
