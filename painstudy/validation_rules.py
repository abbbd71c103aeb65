"""The catalogue of validation rules: every stable code with what it checks, what a failure means and
the fix.

:mod:`painstudy.validation` applies the data rules; :mod:`painstudy.study` and :mod:`painstudy.io` use
the codes of the study.yml and file rules. :func:`rules_table` and :func:`validation_rules_page`
render the catalogue for the documentation (``docs/reference/validation-rules.md``).

Examples
--------
>>> RULES["unknown_arm"].fix
"Correct the value, or add it to the arm's `codes:` in study.yml."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Numbers larger than this (in absolute value) are refused where no maximum is declared:
#: no measurement painstudy analyses comes near it, and values such as 1e308 (export sentinels,
#: typing errors) make model matrices singular.
MAX_MAGNITUDE = 1e9


@dataclass(frozen=True)
class Rule:
    """A validation rule: its stable code, what it checks, what a failure means and how to fix it."""

    code: str
    scope: str  # "study.yml", "file" or "data"
    title: str
    meaning: str
    fix: str


_CATALOGUE = [
    # -- study.yml ------------------------------------------------------------------------------
    Rule(
        "yaml_syntax",
        "study.yml",
        "valid YAML",
        "The file is not valid YAML (an unclosed bracket or quote, a bad indentation, a tab).",
        "Correct the YAML at the line given.",
    ),
    Rule(
        "duplicate_key",
        "study.yml",
        "each key once",
        "A key is written twice in the same mapping; YAML would silently keep the second.",
        "Remove or rename one of them.",
    ),
    Rule(
        "unknown_key",
        "study.yml",
        "known keys only",
        "A key that the study.yml schema does not declare (often a typo; the message suggests the closest key).",
        "Correct the key name (see the study.yml reference).",
    ),
    Rule(
        "missing_key",
        "study.yml",
        "required keys",
        "A required key is missing (or a list that must have entries is empty).",
        "Add the key.",
    ),
    Rule(
        "wrong_type",
        "study.yml",
        "field types",
        "A value has the wrong type: text where a number is needed "
        '(`week: four`), a quoted boolean (`control: "false"`), a list where a mapping is needed, ...',
        "Write the value with the type the reference gives (numbers and true/false without quotes).",
    ),
    Rule(
        "invalid_value",
        "study.yml",
        "allowed values",
        "A value of the right type that is not allowed here "
        "(a layout other than long/wide, a non-positive `multiply`, `columns:` in a long file, ...).",
        "Use one of the allowed values given in the message.",
    ),
    Rule(
        "unknown_instrument",
        "study.yml",
        "known instruments",
        "An outcome names an instrument that is not in the registry.",
        "Use a name from `painstudy.list_instruments()` (e.g. nrs, vas_mm, odi).",
    ),
    Rule(
        "unknown_modality",
        "study.yml",
        "known modalities",
        "An arm lists a modality outside the fixed taxonomy.",
        "Use a modality of `painstudy.study.MODALITY_DOMAINS` (e.g. physiotherapy, cbt).",
    ),
    Rule(
        "duplicate_name",
        "study.yml",
        "unique names",
        "Two arms (or two visits) have the same name.",
        "Give each arm and visit its own name.",
    ),
    Rule(
        "overlapping_codes",
        "study.yml",
        "disjoint codes",
        "A code of one arm (or visit) also means another "
        "one, so rows would be assigned to whichever comes first (codes default to the name).",
        "Make the codes of different arms (visits) disjoint.",
    ),
    Rule(
        "multiple_controls",
        "study.yml",
        "one control arm",
        "More than one arm is marked `control: true`.",
        "Mark only the control / usual-care arm.",
    ),
    Rule(
        "multiple_baselines",
        "study.yml",
        "one baseline visit",
        "More than one visit is marked `baseline: true`.",
        "Mark only the baseline visit.",
    ),
    Rule(
        "visits_out_of_order",
        "study.yml",
        "visits in week order",
        "Visits are not listed in increasing week "
        "order, or the baseline is not first; the order decides the last visit (completers) and models.",
        "List the visits by week, baseline first.",
    ),
    Rule(
        "invalid_window",
        "study.yml",
        "window contains its week",
        "A visit's window [low, high] does not contain its nominal week.",
        "Correct the window or the week.",
    ),
    Rule(
        "unknown_visit",
        "study.yml",
        "columns map known visits",
        "A wide outcome maps a visit that is not in the schedule.",
        "Use the visit names of `visits:`.",
    ),
    Rule(
        "unknown_outcome",
        "study.yml",
        "missing_with names an outcome",
        "`missing_with` names no other outcome of the study.",
        "Name another outcome.",
    ),
    Rule(
        "reserved_name",
        "study.yml",
        "reserved names",
        "An outcome, covariate or subject-level outcome uses a "
        "name of the canonical tables (subject, arm, arm_class, visit, week, site, condition, week_actual, "
        "completer, withdrawn, withdrawal_reason, last_visit, last_week), which it would overwrite.",
        "Rename it (e.g. `pain_score`).",
    ),
    Rule(
        "invalid_name",
        "study.yml",
        "usable names",
        "An outcome, covariate or subject-level outcome name that "
        "is not usable as a column and in model formulas (spaces, operators, starting with a digit), or a study "
        "name that cannot name a report folder (`/`, `..`).",
        "Use letters, digits and _ (and - . in a study name).",
    ),
    Rule(
        "name_clash",
        "study.yml",
        "names do not clash",
        "Two variables would get the same column: a "
        "covariate named like an outcome, or like a derived column (`{outcome}_baseline`, `_change`, "
        "`_improvement`, `_pct_improvement`).",
        "Rename one of them.",
    ),
    Rule(
        "data_outside_study_folder",
        "study.yml",
        "data inside the study folder",
        "`data.file` is an absolute path or leaves the study folder (`../`).",
        "Move the file into the study folder, pass it with "
        "`--data`, or declare `outside_study_folder: true` under `data:`.",
    ),
    # -- files ----------------------------------------------------------------------------------
    Rule(
        "file_not_found",
        "file",
        "the file exists",
        "The study file or the data file does not exist (or is a folder).",
        "Correct the path.",
    ),
    Rule(
        "empty_file",
        "file",
        "the file has data",
        "The file is empty, or has a header but no data rows.",
        "Check that the file was exported completely.",
    ),
    Rule(
        "unknown_format",
        "file",
        "a known format",
        "The extension (or `data.format`) names no reader.",
        "Use .csv, .tsv, .txt, .parquet, .xlsx, .xls, .sas7bdat, .xpt, .dta, .sav (or declare `format:`).",
    ),
    Rule(
        "unreadable_file",
        "file",
        "the file can be read",
        "The reader for the format failed: the file is truncated, corrupt or of another format.",
        "Export the file again, or declare its real format.",
    ),
    Rule(
        "not_text",
        "file",
        "text files are text",
        "A text file contains NUL bytes or is a binary file (Excel, Parquet, ...) with a text extension.",
        "Give it the right extension or declare `format:`.",
    ),
    Rule(
        "encoding",
        "file",
        "a known encoding",
        "A text file is neither UTF-8, UTF-16/32 nor Windows-1252 text.",
        "Save the file as UTF-8.",
    ),
    Rule(
        "duplicate_column",
        "file",
        "unique column names",
        "Two columns have the same name (after trimming spaces); which one is meant is ambiguous.",
        "Rename or remove one of them.",
    ),
    Rule(
        "field_count",
        "file",
        "every line has the header's fields",
        "A line has more or fewer fields than the "
        "header (a missing value or an unquoted delimiter); values would shift into the wrong columns.",
        "Correct the line (quote fields that contain the delimiter).",
    ),
    Rule(
        "truncated_file",
        "file",
        "the file is complete",
        "The file ends early: the last line has fewer "
        "fields and no line break, the file ends inside a quoted field, or a gzip stream is cut.",
        "Copy or export the file again.",
    ),
    Rule(
        "malformed_line",
        "file",
        "valid quoting",
        "A line cannot be split into fields (text after a closing quote, a runaway quote).",
        "Correct the quoting on that line.",
    ),
    Rule(
        "unknown_sheet",
        "file",
        "the sheet exists",
        "`data.sheet` names no sheet of the workbook (or a sheet is given for a file that is not Excel).",
        "Use one of the sheets listed in the message.",
    ),
    # -- data -----------------------------------------------------------------------------------
    Rule(
        "missing_column",
        "data",
        "required columns",
        "A column that the study definition names is not in "
        "the file (the message lists close names and, for Excel, the sheets).",
        "Correct the column name in study.yml or the file, or choose the right sheet.",
    ),
    Rule(
        "missing_value",
        "data",
        "required values",
        "A required value is empty: the subject identifier, the "
        "arm or the visit of a row, or a subject's completer flag.",
        "Fill it in, or remove the row.",
    ),
    Rule(
        "unknown_arm",
        "data",
        "known arms",
        "The arm column holds a value that is none of the arms' codes.",
        "Correct the value, or add it to the arm's `codes:` in study.yml.",
    ),
    Rule(
        "subject_in_two_arms",
        "data",
        "one arm per subject",
        "A subject's rows give different arms.",
        "Correct the arm of the rows named.",
    ),
    Rule(
        "visit_not_in_schedule",
        "data",
        "known visits",
        "The visit column holds a value that is none of the visits' codes.",
        "Correct the value, or add the visit (or the code) to study.yml.",
    ),
    Rule(
        "outside_window",
        "data",
        "visits in their windows",
        "The actual week of a visit lies outside the visit's window.",
        "Correct the week or the visit, or widen the window in study.yml.",
    ),
    Rule(
        "duplicate_visit",
        "data",
        "one row per subject and visit",
        "A long file has two rows for the same subject and visit.",
        "Remove or correct one of them.",
    ),
    Rule(
        "duplicate_subject",
        "data",
        "one row per subject",
        "A wide file has two rows for the same subject.",
        "Remove or correct one of them.",
    ),
    Rule(
        "not_numeric",
        "data",
        "numbers where numbers are needed",
        "A score, numeric covariate or week is not a number (text, a decimal comma).",
        "Write a number (with a decimal point), or leave it empty.",
    ),
    Rule(
        "non_finite_number",
        "data",
        "finite numbers",
        "A number is infinite (inf, Infinity, 1e999).",
        "Write the real value, or leave it empty if it is missing.",
    ),
    Rule(
        "implausible_number",
        "data",
        "plausible magnitudes",
        "A number without a declared maximum is "
        f"larger than {MAX_MAGNITUDE:g} in size (e.g. 1e308 MME: an export sentinel or a typing error). "
        "Outcomes on open-ended scales (MME, FEV1, generic scores) and numeric covariates are checked this "
        "way.",
        "Correct the value, or declare the highest plausible value with `max:` on the outcome or variable.",
    ),
    Rule(
        "score_out_of_range",
        "data",
        "scores within the instrument's range",
        "A score lies outside the range of its instrument (or the range declared with `min:`/`max:`).",
        "Correct the score, or the instrument of the outcome.",
    ),
    Rule(
        "value_out_of_range",
        "data",
        "values within declared ranges",
        "A numeric variable lies outside the `min:`/`max:` declared for it.",
        "Correct the value or the declared range.",
    ),
    Rule(
        "unknown_code",
        "data",
        "declared codes",
        "A variable with `values:` holds a raw value that is not one of the declared codes.",
        "Correct the value, or add the code to `values:`.",
    ),
    Rule(
        "invalid_boolean",
        "data",
        "booleans",
        "A completer flag is not a boolean: true/false, t/f, yes/no, y/n, 1/0 (any case) are accepted.",
        "Write one of the accepted spellings.",
    ),
    Rule(
        "inconsistent_subject_value",
        "data",
        "one value per subject",
        "A subject-level value (site, covariate, disposition) changes between the rows of one subject in a long file.",
        "Make the subject's rows agree.",
    ),
    Rule(
        "no_baseline",
        "data",
        "a baseline per subject",
        "A subject has no outcome assessed at the baseline visit, so no change from baseline can be computed.",
        "Add the baseline assessment, or remove the subject.",
    ),
    Rule(
        "event_columns",
        "data",
        "the columns of the events table",
        "The table of intercurrent events (`intercurrent_events: {file: ...}`) lacks one of its columns "
        "`subject`, `event`, `visit`.",
        "Add the column (one row per subject and event).",
    ),
    Rule(
        "unknown_event",
        "data",
        "known intercurrent events",
        "An event is not one of discontinuation, rescue_analgesia, opioid_escalation, treatment_switch, death, other.",
        "Write one of the event types.",
    ),
    Rule(
        "event_visit",
        "data",
        "events at scheduled post-baseline visits",
        "The first visit an event affects is not a post-baseline visit of the schedule.",
        "Write the name (or code) of the first scheduled visit after the event.",
    ),
    Rule(
        "event_subject",
        "data",
        "events of randomised subjects",
        "An event names a subject who is not in the data.",
        "Correct the subject id, or remove the row.",
    ),
    Rule(
        "duplicate_event",
        "data",
        "one row per subject and event",
        "A subject has the same event twice (from the table, or from the table and a withdrawal).",
        "Keep the first occurrence of the event only.",
    ),
    Rule(
        "daily_columns",
        "data",
        "the columns of a daily measure",
        "The day-level file of a daily measure (`daily.NAME` of study.yml) lacks a column its definition names.",
        "Correct the column names under `daily.NAME` (subject, day or date and start, value), or the file.",
    ),
    Rule(
        "daily_subject",
        "data",
        "daily values of randomised subjects",
        "A row of a day-level file names a subject who is not in the cohort (or no subject).",
        "Correct the subject id, or remove the rows of subjects who were not randomised.",
    ),
    Rule(
        "daily_day",
        "data",
        "study days are whole numbers, dates are dates",
        "The study day is missing or not a whole number, or a date (or the day-0 date) cannot be read, or a "
        "subject's day-0 date differs between rows.",
        "Write whole study days (day 0 is the baseline visit) or ISO dates (2024-03-01).",
    ),
    Rule(
        "daily_day_outside",
        "data",
        "days inside the diary period",
        "A study day lies outside the diary period (`daily.NAME.days`, by default from the visit windows).",
        "Correct the day or the date, or widen `days:` if the diary really ran longer.",
    ),
    Rule(
        "daily_duplicate_day",
        "data",
        "one value per subject and day",
        "A subject has two rows for the same day of a daily measure: which one counts would be a guess.",
        "Keep one row per subject and day (e.g. the first entry of the day).",
    ),
    Rule(
        "daily_value",
        "data",
        "daily values in the instrument's range",
        "A daily value is not a number or lies outside the range of the measure's instrument "
        "(an empty value is a day not reported, and is counted).",
        "Correct the value; an empty cell means the day was not reported.",
    ),
    Rule(
        "medication_columns",
        "data",
        "the columns of the medication records",
        "The medication records (`medication:` of study.yml, or --records) lack a column their definition "
        "names: subject, drug, strength, unit, the time (day, date and start, or visit) and the dose "
        "(doses per day, or quantity and days supplied; days supplied for records by day or date).",
        "Correct the column names under `medication:`, or the file.",
    ),
    Rule(
        "medication_subject",
        "data",
        "records of randomised subjects",
        "A medication record names a subject who is not in the cohort (or no subject).",
        "Correct the subject id, or remove the records of subjects who were not randomised.",
    ),
    Rule(
        "medication_drug",
        "data",
        "opioids of the CDC 2022 conversion table",
        "The drug is not an opioid of the CDC 2022 MME conversion table (nor buprenorphine), or names two opioids.",
        "Write the opioid's generic name (salts and non-opioid partners such as acetaminophen may stay); "
        "remove records of drugs that are not opioids.",
    ),
    Rule(
        "medication_unit",
        "data",
        "the drug's dose unit",
        "The unit is unknown or not the drug's: mg for oral opioids, mcg/h for transdermal patches.",
        "Write the strength in the drug's unit (e.g. a fentanyl patch as 25 mcg/h).",
    ),
    Rule(
        "medication_dose",
        "data",
        "positive doses",
        "The strength, doses per day, quantity or days supplied is missing, not a number, zero or negative "
        "(days supplied must be whole days).",
        "Correct the value; a record without a dose cannot be converted to MME.",
    ),
    Rule(
        "medication_time",
        "data",
        "when each record applies",
        "The study day is not a whole number, a date or a subject's day-0 date cannot be read, or the visit is "
        "not a scheduled visit.",
        "Write whole study days (day 0 is the baseline visit), ISO dates (2024-03-01) or visit names.",
    ),
    Rule(
        "medication_buprenorphine",
        "data",
        "buprenorphine flagged",
        "Not an error: a buprenorphine record (not in the CDC 2022 table) is flagged and listed among the "
        "exclusions of the MME total, as the NIH HEAL MME definitions advise.",
        "Nothing to fix; declare `include_buprenorphine: true` under `medication:` to count it (CMS factors).",
    ),
    Rule(
        "medication_outside",
        "data",
        "records within the study",
        "A prescription ends before the first visit window opens or starts after the last one closes.",
        "Correct the day or date, or declare `outside: exclude` under `medication:` to list such records "
        "as exclusions.",
    ),
    Rule(
        "table_contract",
        "data",
        "canonical table contract",
        "The canonical tables broke their pandera contract: a bug in painstudy.",
        "Please report it with the file that caused it.",
    ),
]

#: Every rule, by code.
RULES: Mapping[str, Rule] = MappingProxyType({r.code: r for r in _CATALOGUE})


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


def validation_rules_page() -> str:
    """The documentation page listing every rule code (Markdown), generated from :data:`RULES`."""
    intro = (
        "# Validation rules\n\n"
        "Generated from `painstudy.validation_rules.RULES` (`painstudy.validation_rules.validation_rules_page()`).\n\n"
        "Every problem `painstudy validate` reports carries one of these codes, printed first on its line "
        "(`[code] file line N, column C, subject S: value 'v': rule`). Text files are numbered by line as "
        "in an editor (the header is line 1); binary formats by data row (the header is not counted). "
        "The failure table of `CohortError.failures` has the code in its `code` column.\n\n"
    )
    return intro + rules_table("markdown") + "\n"
