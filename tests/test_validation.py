"""Broken input: every rule, applied to a copy of the demo data, fails `painstudy validate` with
exit code 1 and a message naming the column and the row or subject, and no traceback."""

import shutil

import pandas as pd
import pytest

from painstudy.cli import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_copy(tmp_path):
    """A writable copy of the demo study (study.yml + data.csv)."""
    for f in ("study.yml", "data.csv"):
        shutil.copy(ROOT / "painstudy" / "datasets" / "studies" / "demo" / f, tmp_path / f)
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


CASES = {
    # name: (edit, expected fragments of the message)
    "unknown arm": (_set(7, "arm", "homeopathy"), ["column arm", "row 8", "'homeopathy'", "unknown arm"]),
    "score out of range": (_set(13, "pain", "11"), ["column pain", "row 14", "'11'", "outside the range [0, 10]"]),
    "non-numeric score": (_set(20, "function", "good"), ["column function", "row 21", "'good'", "non-numeric score"]),
    "visit not in schedule": (_set(2, "visit", "week6"), ["column visit", "row 3", "'week6'", "not in the schedule"]),
    "outside window": (_set(1, "week_actual", "9"), ["column week_actual", "row 2", "outside the window [3, 5]"]),
    "duplicate subject x visit": (_set(3, "visit", "week4"), ["column visit", "subject S0001", "duplicate subject x visit"]),
    "subject in two arms": (_set(8, "arm", "usual_care"), ["column arm", "subject S0002", "subject in two arms"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_fails_with_exit_1_and_names_where(demo_copy, capsys, case):
    edit, fragments = CASES[case]
    _edit(demo_copy, edit)
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1, text
    assert "Traceback" not in text
    assert str(demo_copy / "data.csv") in text
    for frag in fragments:
        assert frag in text, (frag, text)


def test_no_baseline(demo_copy, capsys):
    _edit(demo_copy, lambda df: df[~((df["subject_id"] == "S0005") & (df["visit"] == "baseline"))])
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "subject S0005" in text and "no baseline" in text


def test_missing_required_column(demo_copy, capsys):
    _edit(demo_copy, lambda df: df.drop(columns=["pain"]))
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "column pain" in text and "required column is missing" in text


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


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00\x00binary\x00garbage\x81\x82", "cannot decode|not a text file"),
])
def test_empty_and_undecodable_files(demo_copy, capsys, content, message):
    (demo_copy / "data.csv").write_bytes(content)
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "Traceback" not in text
    assert "data.csv" in text
    assert __import__("re").search(message, text), text


def test_truncated_file(demo_copy, capsys):
    data = (demo_copy / "data.csv").read_bytes()
    (demo_copy / "data.csv").write_bytes(data[: len(data) // 2 - 5].rsplit(b",", 3)[0])
    rc, text = _validate(demo_copy, capsys)
    assert rc == 1 and "truncated" in text and "Traceback" not in text


def test_corrupt_binary_format(demo_copy, capsys):
    (demo_copy / "data.parquet").write_bytes(b"PAR1 this is not really parquet")
    rc = main(["validate", str(demo_copy / "study.yml"), "--data", str(demo_copy / "data.parquet")])
    text = "".join(capsys.readouterr())
    assert rc == 1 and "data.parquet" in text and "cannot read as parquet" in text


def test_valid_demo_exits_0(capsys):
    assert main(["validate"]) == 0
    assert "valid (400 subjects" in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    assert main(["validate", "--bogus"]) == 2
    assert main([]) == 2


def test_unknown_study_is_a_clear_error(capsys):
    assert main(["validate", "no_such_study"]) == 1
    assert "unknown study 'no_such_study'" in capsys.readouterr().err
