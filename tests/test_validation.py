"""Broken data: every rule, applied to a copy of the demo data, fails `painstudy validate` with exit
code 1 and a line naming the rule code, the file, the line (as in an editor: the header is line 1),
the column, the subject and the value; no traceback. The rule registry documents every code."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.errors import CohortError
from painstudy.validation import RULES, rules_table

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "painstudy" / "datasets" / "studies" / "demo"


@pytest.fixture
def demo_copy(tmp_path):
    """A writable copy of the demo study (study.yml + data.csv)."""
    for f in ("study.yml", "data.csv"):
        shutil.copy(DEMO / f, tmp_path / f)
    return tmp_path


def _edit(folder, change):
    path = folder / "data.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = change(df)
    df.to_csv(path, index=False)


def _validate(folder, capsys):
    rc = main(["validate", str(folder / "study.yml")])
    out = capsys.readouterr()
    return rc, out.out + out.err


def _set(row, col, value):
    def change(df):
        df.loc[row, col] = value
        return df

    return change


# data-frame row r is on line r + 2 of the file (the header is line 1)
CASES = {
    # name: (edit, code, expected fragments of the message)
    "unknown arm": (_set(7, "arm", "homeopathy"), "unknown_arm", ["line 9,", "column arm", "'homeopathy'"]),
    "score out of range": (
        _set(13, "pain", "11"),
        "score_out_of_range",
        ["line 15,", "column pain", "subject S0003", "'11'", "outside the range [0, 10]"],
    ),
    "non-numeric score": (_set(20, "function", "good"), "not_numeric", ["line 22,", "column function", "'good'"]),
    "decimal comma": (
        _set(20, "function", "40,5"),
        "not_numeric",
        ["line 22,", "column function", "'40,5'", "decimal comma", "decimal=','"],
    ),
    "visit not in schedule": (
        _set(2, "visit", "week6"),
        "visit_not_in_schedule",
        ["line 4,", "column visit", "'week6'", "not in the schedule"],
    ),
    "missing visit": (_set(2, "visit", ""), "missing_value", ["line 4,", "column visit", "missing visit"]),
    "missing subject": (_set(5, "subject_id", ""), "missing_value", ["line 7,", "column subject_id"]),
    "outside window": (
        _set(1, "week_actual", "9"),
        "outside_window",
        ["line 3,", "column week_actual", "outside the window [3, 5]"],
    ),
    "duplicate subject x visit": (
        _set(3, "visit", "week4"),
        "duplicate_visit",
        ["line 5,", "column visit", "subject S0001", "also on line 3"],
    ),
    "subject in two arms": (
        _set(8, "arm", "usual_care"),
        "subject_in_two_arms",
        ["line 10,", "column arm", "subject S0002"],
    ),
    "infinite MME": (_set(4, "mme", "inf"), "non_finite_number", ["line 6,", "column mme", "'inf'"]),
    "Infinity MME": (_set(4, "mme", "Infinity"), "non_finite_number", ["line 6,", "column mme"]),
    "overflowing MME": (_set(4, "mme", "1e999"), "non_finite_number", ["line 6,", "column mme"]),
    "absurd MME": (_set(4, "mme", "1e308"), "implausible_number", ["line 6,", "column mme", "'1e308'"]),
    "infinite age": (_set(0, "age", "-Infinity"), "non_finite_number", ["line 2,", "column age"]),
    "absurd age": (_set(0, "age", "1e300"), "implausible_number", ["line 2,", "column age"]),
    "age changes within subject": (
        _set(1, "age", "99"),
        "inconsistent_subject_value",
        ["line 3,", "column age", "subject S0001"],
    ),
    "undeclared sex code": (_set(0, "sex", "x"), "unknown_code", ["line 2,", "column sex", "'x'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_fails_with_exit_1_and_names_where(demo_copy, capsys, case):
    edit, code, fragments = CASES[case]
    _edit(demo_copy, edit)
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1, text
    assert "Traceback" not in text
    assert f"[{code}] {demo_copy / 'data.csv'} line " in text, text
    for frag in fragments:
        assert frag in text, (frag, text)


def test_failure_table_has_codes_and_line_numbers(demo_copy):
    _edit(demo_copy, _set(13, "pain", "11"))
    with pytest.raises(CohortError) as err:
        painstudy.load_cohort(demo_copy / "study.yml")
    f = err.value.failures
    assert list(f.columns) == ["code", "file", "line", "row", "column", "subject", "value", "rule"]
    assert f.loc[0, "code"] == "score_out_of_range" and f.loc[0, "line"] == 15 and pd.isna(f.loc[0, "row"])
    assert str(f["line"].dtype) == "Int64"  # printed as 15, never 15.0


def test_data_frame_input_numbers_data_rows(demo_raw):
    raw = demo_raw.copy()
    raw.loc[13, "pain"] = "11"
    with pytest.raises(CohortError) as err:
        painstudy.load_cohort("demo", data=raw)
    text = str(err.value)
    assert "<DataFrame> data row 14, column pain" in text and "[score_out_of_range]" in text


def test_line_numbers_count_blank_lines_as_an_editor_does(demo_copy, capsys):
    _edit(demo_copy, _set(12, "pain", "11"))  # data row 13: line 14 of the file
    path = demo_copy / "data.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, "\n")  # a blank line 4 moves it to line 15
    path.write_text("".join(lines))
    rc, out = _validate(demo_copy, capsys)
    assert rc == 1 and "line 15, column pain" in out and "'11'" in out, out


def test_no_baseline(demo_copy, capsys):
    _edit(demo_copy, lambda df: df[~((df["subject_id"] == "S0005") & (df["visit"] == "baseline"))])
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "[no_baseline]" in text and "subject S0005" in text


def test_missing_required_column(demo_copy, capsys):
    _edit(demo_copy, lambda df: df.rename(columns={"pain": "Pain"}))
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "[missing_column]" in text and "column pain" in text and "did you mean 'Pain'" in text


def test_every_problem_is_listed_at_once(demo_copy, capsys):
    def change(df):
        df.loc[7, "arm"] = "homeopathy"
        df.loc[13, "pain"] = "11"
        df.loc[20, "function"] = "good"
        return df

    _edit(demo_copy, change)
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "3 problem(s) found" in text
    assert "homeopathy" in text and "'11'" in text and "'good'" in text
    assert len([ln for ln in text.splitlines() if ln.startswith("[")]) == 3


@pytest.mark.parametrize(
    "content, code, message",
    [
        (b"", "empty_file", "empty"),
        (b"subject_id,arm\n", "empty_file", "no data rows"),
        (b"\xff\xfe\x00\x00binary\x00garbage\x81\x82", "encoding", "not valid UTF-32"),
        (b"abc\x00\x01\x02\x03\x04\x05\x06\x07garbage\x00\x00\xff", "not_text", "NUL bytes: not a text file"),
        (b"PK\x03\x04\x14\x00\x00\x00rest of a zip", "not_text", "zip archive"),
        (b"a,b\n\x81\x8d\x8f\x90\x9d\n", "encoding", "cannot decode"),
    ],
)
def test_empty_and_undecodable_files(demo_copy, capsys, content, code, message):
    (demo_copy / "data.csv").write_bytes(content)
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "Traceback" not in text
    assert f"[{code}]" in text and "data.csv" in text
    assert re.search(message, text), text


def test_truncated_file(demo_copy, capsys):
    data = (demo_copy / "data.csv").read_bytes()
    (demo_copy / "data.csv").write_bytes(data[: len(data) // 2 - 5].rsplit(b",", 3)[0])
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "[truncated_file]" in text and "Traceback" not in text


def test_corrupt_binary_format(demo_copy, capsys):
    (demo_copy / "data.parquet").write_bytes(b"PAR1 this is not really parquet")
    rc = main(["validate", str(demo_copy / "study.yml"), "--data", str(demo_copy / "data.parquet")])
    text = "".join(capsys.readouterr())
    assert rc == 1 and "data.parquet" in text and "cannot read as parquet" in text and "[unreadable_file]" in text


def test_valid_demo_exits_0(capsys):
    assert main(["validate"]) == 0
    assert "valid (400 subjects" in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    assert main(["validate", "--bogus"]) == 2
    assert main([]) == 2


def test_unknown_study_is_a_clear_error(capsys):
    assert main(["validate", "no_such_study"]) == 1
    assert "unknown study 'no_such_study'" in capsys.readouterr().err


def test_a_data_file_given_as_the_study_is_named(demo_copy, capsys):
    assert main(["validate", str(demo_copy / "data.csv")]) == 1
    err = capsys.readouterr().err
    assert "a data file, not a study definition" in err and "--data" in err


# -- the registry of rules ----------------------------------------------------------------------


def _codes_used_in_source() -> set[str]:
    """Every rule code written in the package's source (code="..." and log.add("...") calls)."""
    found = set()
    for path in (ROOT / "painstudy").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'code="([a-z_]+)"', text))
        found |= set(re.findall(r'(?:log\.add|log\.add_mask|add)\(\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'Problem\(\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'_fail\(\s*"([a-z_]+)"', text))
    return found


def test_every_code_in_the_source_is_documented():
    used = _codes_used_in_source()
    assert {"unknown_arm", "score_out_of_range", "duplicate_visit", "wrong_type", "truncated_file"} <= used
    undocumented = used - set(RULES)
    assert not undocumented, f"codes without a rule in painstudy.validation.RULES: {sorted(undocumented)}"


def test_rules_table_lists_every_code_with_meaning_and_fix():
    md = rules_table("markdown")
    rst = rules_table("rst")
    for code, rule in RULES.items():
        assert f"`{code}`" in md and f"``{code}``" in rst
        assert rule.meaning and rule.fix and rule.scope in ("study.yml", "file", "data")
    assert len(md.splitlines()) == len(RULES) + 2
    with pytest.raises(ValueError):
        rules_table("html")


def test_docs_pages_are_generated_from_the_code():
    """docs/reference/*.md are written by tools/build_reference_docs.py: they must match the code."""
    from painstudy.study_schema import study_yml_reference
    from painstudy.validation import validation_rules_page

    assert (ROOT / "docs" / "reference" / "validation-rules.md").read_text() == validation_rules_page()
    assert (ROOT / "docs" / "reference" / "study-yml.md").read_text() == study_yml_reference() + "\n"


def test_a_file_with_decimal_commas_says_so_and_how_to_read_it(demo_copy):
    """A semicolon-separated file with decimal commas (as European spreadsheets save them): every
    such value is reported with the hint, and the way the hint gives reads the file."""
    import subprocess
    import sys

    df = pd.read_csv(demo_copy / "data.csv", dtype=str, keep_default_na=False)
    for col in ("week_actual", "pain", "function"):
        df[col] = df[col].str.replace(".", ",")
    df.loc[5, "function"] = "good"  # text stays a plain not-a-number, without the hint
    df.to_csv(demo_copy / "data.csv", sep=";", index=False)
    r = subprocess.run(
        [str(Path(sys.executable).parent / "painstudy"), "validate", str(demo_copy / "study.yml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    comma = [ln for ln in lines if "value '3,2'" in ln and "column week_actual" in ln]
    assert comma and all("[not_numeric]" in ln and "decimal comma" in ln for ln in comma), lines[:3]
    good = next(ln for ln in lines if "value 'good'" in ln)
    assert good.endswith("not a number (score of outcome function)")
    with pytest.raises(CohortError) as err:
        painstudy.load_cohort(demo_copy / "study.yml")
    f = err.value.failures
    assert f.loc[(f["code"] == "not_numeric") & (f["value"] == "3,2"), "rule"].str.contains("decimal comma").all()
    table = pd.read_csv(demo_copy / "data.csv", sep=";", decimal=",", na_values=["good"])
    assert painstudy.load_cohort(demo_copy / "study.yml", data=table).n_subjects == 400
