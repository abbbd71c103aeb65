"""A corpus of broken inputs built from the demo study: study.yml mistakes and file-level problems.

Each case writes a copy of the demo study (study.yml + data.csv) into a fresh folder, breaks one
thing and runs `painstudy validate` (through `painstudy.cli.main`; a few through a subprocess).
Every case asserts: exit code 1 (or 0 for inputs that are valid), a line naming the rule code, the
file, the line and the field or column, no traceback, and that no file anywhere (the study
folder, the package's demo study, the current folder) was created or changed.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.validation import RULES

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "painstudy" / "datasets" / "studies" / "demo"
DEMO_YML = (DEMO / "study.yml").read_text()


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, f"the demo study.yml no longer contains {old!r}"
    return text.replace(old, new, 1)


def _line(text: str, anchor: str) -> int:
    """1-based line of the first occurrence of ``anchor`` (at its ``^`` when it has one)."""
    plain = anchor.replace("^", "")
    assert plain in text, f"anchor {anchor!r} not in the edited study.yml"
    at = text.index(plain) + max(anchor.find("^"), 0)
    return text[:at].count("\n") + 1


def _snapshot(*folders: Path) -> dict:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A writable copy of the demo study in tmp/study, the current folder tmp/cwd."""
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(DEMO / "data.csv", folder / "data.csv")
    (folder / "study.yml").write_text(DEMO_YML)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return folder


def _run(args: list[str], capsys, watch: list[Path]) -> tuple[int, str]:
    before = _snapshot(*watch)
    rc = main(args)
    out = capsys.readouterr()
    assert _snapshot(*watch) == before, "validate changed or created a file"
    return rc, out.out + out.err


def _assert_problem_lines(text: str) -> None:
    """Every problem line starts with a registered rule code; no traceback."""
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("[")]
    assert lines, text
    for ln in lines:
        code = re.match(r"\[([a-z_]+)\]", ln).group(1)
        assert code in RULES, ln


# -- study.yml --------------------------------------------------------------------------------
# name: (edits [(old, new)], code, field, anchor of the expected line in the edited text)

YAML_CASES = {
    "week as a word": ([("  week: 4\n", "  week: four\n")], "wrong_type", "visits[1].week", "week: four"),
    "window of words": (
        [("  window:\n  - 3\n  - 5\n", "  window: [a, b]\n")],
        "wrong_type",
        "visits[1].window",
        "window: [a, b]",
    ),
    "window of one number": (
        [("  window:\n  - 3\n  - 5\n", "  window: [3]\n")],
        "wrong_type",
        "visits[1].window",
        "window: [3]",
    ),
    "infinite week": ([("  week: 52\n", "  week: .inf\n")], "wrong_type", "visits[5].week", "week: .inf"),
    "multiply as text": (
        [("    column: pain\n", "    column: pain\n    multiply: x10\n")],
        "wrong_type",
        "outcomes.pain.multiply",
        "multiply: x10",
    ),
    "multiply zero": (
        [("    column: pain\n", "    column: pain\n    multiply: 0\n")],
        "invalid_value",
        "outcomes.pain.multiply",
        "multiply: 0",
    ),
    "instrument as a list": (
        [("    instrument: nrs\n", "    instrument: [nrs]\n")],
        "wrong_type",
        "outcomes.pain.instrument",
        "instrument: [nrs]",
    ),
    "unknown instrument": (
        [("    instrument: nrs\n", "    instrument: painometer\n")],
        "unknown_instrument",
        "outcomes.pain.instrument",
        "painometer",
    ),
    "outcomes as a list": (
        [("outcomes:\n  pain:\n", "outcomes:\n- pain\nunused:\n  pain:\n")],
        "wrong_type",
        "outcomes",
        "outcomes:",
    ),
    "data as a list": (
        [("data:\n  file: data.csv\n  layout: long\n", "data:\n- data.csv\n")],
        "wrong_type",
        "data",
        "data:",
    ),
    "outcome named arm": ([("  mme:\n", "  arm:\n")], "reserved_name", "outcomes.arm", "  arm:\n"),
    "outcome named week": ([("  mme:\n", "  week:\n")], "reserved_name", "outcomes.week", "  week:\n"),
    "outcome named visit": ([("  mme:\n", "  visit:\n")], "reserved_name", "outcomes.visit", "  visit:\n"),
    "outcome with a space": (
        [("  mme:\n", "  opioid dose:\n")],
        "invalid_name",
        "outcomes.opioid dose",
        "opioid dose:",
    ),
    "covariate named like a derived column": (
        [("  age:\n", "  pain_baseline:\n")],
        "name_clash",
        "covariates.pain_baseline",
        "pain_baseline:",
    ),
    "covariate named like an outcome": ([("  age:\n", "  pain:\n")], "name_clash", "covariates.pain", "  pain:\n"),
    "covariate named completer": (
        [("  age:\n", "  completer:\n")],
        "reserved_name",
        "covariates.completer",
        "completer:",
    ),
    "outcome named like a derived column": (
        [("  mme:\n", "  pain_change:\n")],
        "name_clash",
        "outcomes.pain_change",
        "pain_change:",
    ),
    "overlapping arm codes": (
        [("- name: mindfulness\n", "- name: mindfulness\n  codes: [mindfulness, physiotherapy]\n")],
        "overlapping_codes",
        "arms[2].codes",
        "codes: [mindfulness, physiotherapy]",
    ),
    "overlapping visit codes": (
        [("- name: week8\n", "- name: week8\n  codes: [week8, week4]\n")],
        "overlapping_codes",
        "visits[2].codes",
        "codes: [week8, week4]",
    ),
    "control as quoted text": (
        [("  modalities:\n  - mbsr\n  control: false\n", '  modalities:\n  - mbsr\n  control: "false"\n')],
        "wrong_type",
        "arms[2].control",
        'control: "false"',
    ),
    "control as yes": (
        [("  modalities:\n  - mbsr\n  control: false\n", "  modalities:\n  - mbsr\n  control: yes\n")],
        "wrong_type",
        "arms[2].control",
        "control: yes",
    ),
    "two controls": (
        [("  modalities:\n  - mbsr\n  control: false\n", "  modalities:\n  - mbsr\n  control: true\n")],
        "multiple_controls",
        "arms[2].control",
        "  - mbsr\n^  control: true",
    ),
    "two baselines": (
        [("  - 5\n  baseline: false\n", "  - 5\n  baseline: true\n")],
        "multiple_baselines",
        "visits[1].baseline",
        "  - 5\n^  baseline: true",
    ),
    "baseline not first": (
        [
            ("  - 0\n  baseline: true\n", "  - 0\n  baseline: false\n"),
            ("  - 5\n  baseline: false\n", "  - 5\n  baseline: true\n"),
        ],
        "visits_out_of_order",
        "visits[1].baseline",
        "  - 5\n^  baseline: true",
    ),
    "visits out of week order": (
        [("- name: week8\n  week: 8\n", "- name: week8\n  week: 13\n"), ("  - 7\n  - 9\n", "  - 7\n  - 14\n")],
        "visits_out_of_order",
        "visits[3].week",
        "week: 12",
    ),
    "window excludes week": (
        [("  - 3\n  - 5\n", "  - 5\n  - 6\n")],
        "invalid_window",
        "visits[1].window",
        "- name: week4\n  week: 4\n^  window:",
    ),
    "duplicate visit name": (
        [("- name: week8\n", "- name: week4\n")],
        "duplicate_name",
        "visits[2].name",
        "- name: week4\n  week: 8",
    ),
    "unknown key with a hint": (
        [("    column: pain\n", "    colum: pain\n")],
        "unknown_key",
        "outcomes.pain.colum",
        "colum: pain",
    ),
    "unknown top-level key": ([("outcomes:\n", "outcome:\n")], "unknown_key", "outcome", "outcome:"),
    "duplicate key": (
        [("    column: pain\n", "    column: pain\n    column: function\n")],
        "duplicate_key",
        "outcomes.pain.column",
        "column: function",
    ),
    "missing subject": ([("subject: subject_id\n", "")], "missing_key", "subject", "name: demo"),
    "no arms": (
        [("arms:\n- name: usual_care\n", "arms: []\nunused:\n- name: usual_care\n")],
        "missing_key",
        "arms",
        "arms: []",
    ),
    "unknown modality": (
        [("  - mbsr\n  control: false\n", "  - reiki\n  control: false\n")],
        "unknown_modality",
        "arms[2].modalities[0]",
        "reiki",
    ),
    "layout tall": ([("  layout: long\n", "  layout: tall\n")], "invalid_value", "data.layout", "layout: tall"),
    "wide layout without columns": (
        [("  layout: long\n", "  layout: wide\n")],
        "missing_key",
        "outcomes.pain.columns",
        "  pain:\n",
    ),
    "missing_with unknown": (
        [("    column: pain\n", "    column: pain\n    missing_with: painn\n")],
        "unknown_outcome",
        "outcomes.pain.missing_with",
        "missing_with: painn",
    ),
    "numeric covariate recoded to text": (
        [("    type: categorical\n    values:", "    type: numeric\n    values:")],
        "invalid_value",
        "covariates.sex.values",
        "    values:",
    ),
    "invalid YAML": ([("  column: arm\n", "  column: [arm\n")], "yaml_syntax", None, None),
    "tab indentation": ([("  column: arm\n", "\tcolumn: arm\n")], "yaml_syntax", None, "column: arm"),
    "recursive alias": (
        [("title: Simulated", "reference: &r [*r]\ntitle: Simulated")],
        "yaml_syntax",
        "reference[0]",
        "reference: &r",
    ),
    "data outside the study folder": (
        [("  file: data.csv\n", "  file: ../data.csv\n")],
        "data_outside_study_folder",
        "data.file",
        "file: ../data.csv",
    ),
    "data is a system file": (
        [("  file: data.csv\n", "  file: /etc/passwd\n")],
        "data_outside_study_folder",
        "data.file",
        "file: /etc/passwd",
    ),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_study_yml_mistake_is_named_with_its_line(study, capsys, case):
    edits, code, field, anchor = YAML_CASES[case]
    text = DEMO_YML
    for old, new in edits:
        text = _edit(text, old, new)
    (study / "study.yml").write_text(text)
    (study.parent / "data.csv").write_text("root:x:0:0:secret first line\n")  # must never be echoed
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent, DEMO])
    assert rc == 1, out
    _assert_problem_lines(out)
    where = f"{study / 'study.yml'} line" + (f" {_line(text, anchor)}" if anchor else "")
    expected = f"[{code}] {where}" + (f": field {field}:" if field else (":" if anchor else ""))
    assert expected in out, (expected, out)
    assert "secret first line" not in out and "root:x" not in out


def test_every_yaml_problem_is_listed_at_once(study, capsys):
    text = DEMO_YML
    for old, new in [
        ("  week: 4\n", "  week: four\n"),
        ("    column: pain\n", "    colum: pain\n"),
        ("  modalities:\n  - mbsr\n  control: false\n", "  modalities:\n  - mbsr\n  control: 'no'\n"),
    ]:
        text = _edit(text, old, new)
    (study / "study.yml").write_text(text)
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "3 problem(s) found" in out
    assert "field visits[1].week" in out and "field outcomes.pain.colum" in out and "field arms[2].control" in out


def test_data_outside_the_folder_is_read_when_the_study_says_so(study, capsys):
    outside = study.parent / "elsewhere"
    outside.mkdir()
    shutil.move(study / "data.csv", outside / "data.csv")
    text = _edit(DEMO_YML, "  file: data.csv\n", "  file: ../elsewhere/data.csv\n  outside_study_folder: true\n")
    (study / "study.yml").write_text(text)
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 0 and "valid (400 subjects" in out


def test_data_outside_the_folder_is_read_when_given_with_data(study, capsys):
    (study / "study.yml").write_text(_edit(DEMO_YML, "  file: data.csv\n", "  file: /etc/passwd\n"))
    rc, out = _run(["validate", str(study / "study.yml"), "--data", str(study / "data.csv")], capsys, [study.parent])
    assert rc == 0, out


def test_study_yml_not_utf8_or_binary(study, capsys):
    (study / "study.yml").write_bytes(b"name: demo\ntitle: \xff\xfe caf\xe9\n")
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[encoding]" in out and "line 2" in out
    (study / "study.yml").write_bytes(b"\x00\x01\x02binary")
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[not_text]" in out


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "holds nothing (it is empty)"),
        ("- a\n- b\n", "holds a list"),
        ("root:x:0:0:root:/root:/bin/bash\n", "holds text"),
    ],
)
def test_study_yml_that_is_not_a_mapping(study, capsys, content, words):
    (study / "study.yml").write_text(content)
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[wrong_type]" in out and "the study definition must be a mapping" in out and words in out
    assert "root:x" not in out  # what a file that is not a study holds is never echoed


def test_a_registered_study_yml_only_fixes_are_content(capsys):
    """The registered studies conform to the schema (and vickers/fev/... keep loading, see test_cohort)."""
    from painstudy.datasets import registered_studies, study_path

    for name in registered_studies():
        spec = painstudy.read_study(study_path(name))
        assert spec.name == name


# -- the data file ------------------------------------------------------------------------------


def _csv(study: Path) -> Path:
    return study / "data.csv"


FILE_CASES = {
    # name: (change of the text, code, expected fragment)
    "duplicate column": (
        lambda t: t.replace("withdrawal_reason", "mme", 1),
        "duplicate_column",
        "'mme' is columns 11, 12",
    ),
    "duplicate column after trimming": (
        lambda t: t.replace(",function,", ",pain ,", 1),
        "duplicate_column",
        "'pain' is columns 9, 10",
    ),
    "short line in the middle": (lambda t: t.replace(",male,week4,", ",male,", 1), "field_count", "line 3: 11 fields"),
    "extra field with a value": (
        lambda t: t.replace("\nS0001,site04,", "\nS0001,site04,extra,", 1),
        "field_count",
        "line 2: 13 fields",
    ),
    "truncated inside the last line": (lambda t: t.rstrip("\n")[:-40], "truncated_file", "the last line has"),
    "unclosed quote at the end": (
        lambda t: t + 'S9999,site01,"unfinished',
        "truncated_file",
        "ends inside a quoted field",
    ),
    "text after a closing quote": (
        lambda t: t.replace("\nS0002,site", '\n"S0002"x,site', 1),
        "malformed_line",
        "line 8:",
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_file_problem_is_named(study, capsys, case):
    change, code, fragment = FILE_CASES[case]
    _csv(study).write_text(change(_csv(study).read_text()))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent, DEMO])
    assert rc == 1, out
    _assert_problem_lines(out)
    assert f"[{code}] {_csv(study)}" in out and fragment in out, out


def test_trailing_empty_fields_lose_nothing(study, capsys, demo_cohort):
    text = _csv(study).read_text()
    _csv(study).write_text("\n".join(ln + "," if ln else ln for ln in text.split("\n")))  # header too
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 0, out
    text = "\n".join(ln + ",," if i else ln for i, ln in enumerate(text.split("\n")) if ln) + "\n"
    _csv(study).write_text(text)  # data lines only: extra empty fields beyond the header
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 0, out


@pytest.mark.parametrize(
    "encoding, bom",
    [("utf-16", ""), ("utf-16-le", ""), ("utf-16-be", ""), ("utf-8", "\ufeff"), ("cp1252", ""), ("utf-32", "")],
)
def test_encodings_give_the_same_cohort(study, demo_cohort, encoding, bom):
    text = bom + _csv(study).read_text().replace("lost to follow-up", "perdu de vue é")
    _csv(study).write_bytes(text.encode(encoding))
    c = painstudy.load_cohort(study / "study.yml")
    pd.testing.assert_frame_equal(
        c.visits[["subject", "visit", "pain", "mme"]], demo_cohort.visits[["subject", "visit", "pain", "mme"]]
    )
    assert "perdu de vue é" in set(c.subjects["withdrawal_reason"].dropna())


@pytest.mark.parametrize(
    "variant",
    [
        "crlf",
        "cr",
        "semicolon",
        "tab",
        "blank lines",
        "empty rows",
        "no final newline",
        "quoted",
        "spaces after delimiter",
    ],
)
def test_valid_variants_give_the_same_cohort(study, demo_cohort, variant):
    text = _csv(study).read_text()
    if variant == "crlf":
        text = text.replace("\n", "\r\n")
    elif variant == "cr":
        text = text.replace("\n", "\r")
    elif variant == "semicolon":
        text = text.replace(",", ";")
    elif variant == "tab":
        text = text.replace(",", "\t")
    elif variant == "blank lines":
        text = text.replace("\nS0002,", "\n\n\nS0002,")
    elif variant == "empty rows":
        text = text.replace("\nS0002,", "\n,,,,,,,,,,,\nS0002,") + ",,,,,,,,,,,\n"
    elif variant == "no final newline":
        text = text.rstrip("\n")
    elif variant == "quoted":
        text = "\n".join(",".join(f'"{f}"' for f in ln.split(",")) for ln in text.split("\n") if ln) + "\n"
    elif variant == "spaces after delimiter":
        text = text.replace(",", ", ")
    _csv(study).write_text(text)
    c = painstudy.load_cohort(study / "study.yml")
    cols = ["subject", "arm", "visit", "week", "pain", "function", "mme"]
    pd.testing.assert_frame_equal(c.visits[cols], demo_cohort.visits[cols])
    assert c.subjects["withdrawn"].sum() == demo_cohort.subjects["withdrawn"].sum()
    if variant == "no final newline":
        assert any("does not end with a line break" in n for n in c.notes)
    if variant == "empty rows":
        assert any("every field empty skipped" in n for n in c.notes)


def test_notes_are_printed_by_validate(study, capsys):
    _csv(study).write_text(_csv(study).read_text().rstrip("\n"))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    last = _csv(study).read_text().splitlines()
    assert rc == 0 and "may be incomplete" in out and f"line {len(last)}" in out


# -- completer flags in every spelling ------------------------------------------------------------


def _with_completer(study: Path, spell) -> None:
    df = pd.read_csv(_csv(study), dtype=str, keep_default_na=False)
    done = ~df.groupby("subject_id")["withdrawal_reason"].transform(lambda s: (s != "").any())
    df["done"] = [spell(bool(d), i) for i, d in enumerate(done)]
    df.to_csv(_csv(study), index=False)
    (study / "study.yml").write_text(
        _edit(
            DEMO_YML,
            "  withdrawal_reason: withdrawal_reason\n",
            "  withdrawal_reason: withdrawal_reason\n  completer: done\n",
        )
    )


@pytest.mark.parametrize(
    "words",
    [
        ("1", "0"),
        ("TRUE", "FALSE"),
        ("true", "false"),
        ("Yes", "No"),
        ("Y", "N"),
        ("y", "n"),
        ("T", "F"),
        ("1.0", "0.0"),
    ],
)
def test_completer_flags_in_every_spelling(study, words):
    _with_completer(study, lambda d, i: words[0] if d else words[1])
    c = painstudy.load_cohort(study / "study.yml")
    n_done = 400 - 83  # the demo's 83 withdrawals
    assert c.subjects["completer"].sum() == n_done and c.subjects["withdrawn"].sum() == 83


def test_unknown_completer_flag_is_named(study, capsys):
    _with_completer(study, lambda d, i: "maybe" if i == 6 else ("yes" if d else "no"))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[invalid_boolean]" in out and "line 8, column done" in out and "'maybe'" in out


def test_missing_completer_flag_is_named(study, capsys):
    _with_completer(study, lambda d, i: "" if i < 6 else ("yes" if d else "no"))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[missing_value]" in out and "subject S0001" in out and "completer flag" in out


# -- Excel: sheets ---------------------------------------------------------------------------------


def _workbook(study: Path, sheets: dict) -> Path:
    path = study / "data.xlsx"
    with pd.ExcelWriter(path) as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=name, index=False)
    return path


def test_excel_sheet_is_chosen_and_listed(study, capsys, demo_cohort):
    raw = pd.read_csv(_csv(study))
    _workbook(study, {"Notes": pd.DataFrame({"note": ["exported 2026"]}), "Data": raw})
    yml = _edit(DEMO_YML, "  file: data.csv\n", "  file: data.xlsx\n")
    (study / "study.yml").write_text(yml)
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[missing_column]" in out and "the workbook has sheets Notes, Data (read: Notes)" in out
    (study / "study.yml").write_text(_edit(yml, "  file: data.xlsx\n", "  file: data.xlsx\n  sheet: Data\n"))
    c = painstudy.load_cohort(study / "study.yml")
    assert c.n_subjects == 400 and c.visits["pain"].notna().sum() == demo_cohort.visits["pain"].notna().sum()
    (study / "study.yml").write_text(_edit(yml, "  file: data.xlsx\n", "  file: data.xlsx\n  sheet: Daten\n"))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[unknown_sheet]" in out and "its sheets: Notes, Data" in out


def test_excel_duplicate_columns_and_data_rows(study, capsys):
    raw = pd.read_csv(_csv(study), dtype=str, keep_default_na=False)
    raw.loc[13, "pain"] = "11"
    path = _workbook(study, {"Data": raw})
    rc, out = _run(["validate", str(study / "study.yml"), "--data", str(path)], capsys, [study.parent])
    assert rc == 1 and f"[score_out_of_range] {path} data row 14, column pain" in out
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb["Data"]["J1"] = "pain"  # the function column renamed to a second "pain"
    wb.save(path)
    rc, out = _run(["validate", str(study / "study.yml"), "--data", str(path)], capsys, [study.parent])
    assert rc == 1 and "[duplicate_column]" in out


def test_xls_reader_is_installed():
    import xlrd  # noqa: F401  (.xls files are read through xlrd)


# -- through a real subprocess ---------------------------------------------------------------------


def test_subprocess_study_yml_mistake(study):
    (study / "study.yml").write_text(_edit(DEMO_YML, "  week: 4\n", "  week: four\n"))
    before = _snapshot(study.parent)
    r = subprocess.run(
        [sys.executable, "-m", "painstudy", "validate", str(study / "study.yml")],
        capture_output=True,
        text=True,
        cwd=study.parent / "cwd",
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"[wrong_type] {study / 'study.yml'} line {_line(DEMO_YML, '  week: 4')}: field visits[1].week" in r.stderr
    assert _snapshot(study.parent) == before


def test_subprocess_data_problem(study):
    _csv(study).write_text(
        _csv(study)
        .read_text()
        .replace(
            "\nS0001,site04,knee_osteoarthritis,integrative,57,male,baseline,0,3.5,",
            "\nS0001,site04,knee_osteoarthritis,integrative,57,male,baseline,0,inf,",
            1,
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "painstudy", "validate", str(study / "study.yml")],
        capture_output=True,
        text=True,
        cwd=study.parent / "cwd",
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"[non_finite_number] {_csv(study)} line 2, column pain, subject S0001: value 'inf'" in r.stderr


def test_a_sheet_for_a_text_file_is_an_error(study, capsys):
    (study / "study.yml").write_text(_edit(DEMO_YML, "  file: data.csv\n", "  file: data.csv\n  sheet: Data\n"))
    rc, out = _run(["validate", str(study / "study.yml")], capsys, [study.parent])
    assert rc == 1 and "[unknown_sheet]" in out and "not Excel" in out
