"""Property-based tests (hypothesis): corrupt random cells, rows and study.yml fields of a small copy
of the demo study and check the invariant of `painstudy validate`:

- exit 1, every problem on its own line with a registered rule code, each naming a row (or
  subject) that the corruption touched, or a field related to the one changed; or
- exit 0, and then nothing was dropped or changed: every subject of the file is in the cohort,
  every number of the file is in it, with the value written.

Never a traceback. The runs are deterministic (``derandomize=True``) and short (220 examples
in all, about a minute and a half).
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import painstudy
from painstudy.cli import main
from painstudy.validation import MAX_MAGNITUDE, RULES

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "painstudy" / "datasets" / "studies" / "demo"
N_SUBJECTS = 12
SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _small_demo() -> pd.DataFrame:
    raw = pd.read_csv(DEMO / "data.csv", dtype=str, keep_default_na=False)
    keep = raw["subject_id"].drop_duplicates().iloc[:N_SUBJECTS]
    return raw[raw["subject_id"].isin(keep)].reset_index(drop=True)


BASE = _small_demo()
COLUMNS = list(BASE.columns)
MISSING = {"", "NA", "N/A", "NaN", "nan", ".", "NULL", "null"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("prop")
    shutil.copy(DEMO / "study.yml", d / "study.yml")
    return d


def _validate(folder: Path, capsys) -> tuple[int, str]:
    rc = main(["validate", str(folder / "study.yml")])
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc in (0, 1), text
    assert "Traceback" not in text
    return rc, text


def _problems(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines()[1:]]
    for ln in lines:
        m = re.match(r"\[([a-z_]+)\] ", ln)
        assert m and m.group(1) in RULES, ln
    return lines


def _number(text: str) -> float | None:
    """The value painstudy must read from a cell (None: missing or not a number)."""
    s = text.strip()
    if s in MISSING:
        return None
    try:
        x = float(s)
    except ValueError:
        return None
    return x if "_" not in s else None


def _assert_nothing_dropped(folder: Path, df: pd.DataFrame) -> None:
    cohort = painstudy.load_cohort(folder / "study.yml")
    ids = {s.strip() for s in df["subject_id"]}
    assert set(cohort.subjects["subject"]) == ids
    for name, o in cohort.spec.outcomes.items():
        col = o.column
        numbers = [None if x is None else x * o.multiply for x in (_number(v) for v in df[col])]
        assert int(cohort.visits[name].notna().sum()) == sum(x is not None for x in numbers), name
        values = cohort.visits[name].dropna()
        inst = o.instrument
        assert values.map(math.isfinite).all() and values.between(inst.min, inst.max).all()
        assert (values.abs() <= MAX_MAGNITUDE).all(), name  # an accepted number is a plausible one
        got = cohort.visits.set_index(["subject", cohort.visits["visit"].astype(str)])[name]
        for (s, v), x in zip(zip(df["subject_id"].str.strip(), df["visit"].str.strip()), numbers):
            y = got.loc[(s, v)]
            assert (x is None and math.isnan(y)) or math.isclose(y, x, rel_tol=1e-12), (s, v, name, x, y)


CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "NA",
            "abc",
            "inf",
            "-inf",
            "Infinity",
            "1e308",
            "1e999",
            "-1",
            "11",
            "99999",
            "0",
            "3.5",
            "40,5",
            "TRUE",
            "yes",
            "baseline",
            "week4",
            "week6",
            "week52",
            "usual_care",
            "integrative",
            "homeopathy",
            "S0001",
            "S0002",
            "S9999",
            "female",
            "male",
            "x",
            " ",
            "nan",
            "1e9",
            "2e9",
            "12",
            "-3",
            "7.25",
            "1_0",
            "0x10",
            "+5",
            ".5",
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=True, width=32).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
)


@settings(max_examples=80, **SETTINGS)
@given(
    changes=st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.sampled_from(COLUMNS), CELL), min_size=1, max_size=3)
)
def test_corrupted_cells(folder, capsys, changes):
    df = BASE.copy()
    touched: set[int] = set()
    for row, col, value in changes:
        df.loc[row, col] = value
        touched.add(row)
    df.to_csv(folder / "data.csv", index=False)
    rc, text = _validate(folder, capsys)
    if rc == 0:
        _assert_nothing_dropped(folder, df)
        return
    subjects = {
        str(s).strip() for s in pd.concat([BASE.loc[list(touched), "subject_id"], df.loc[list(touched), "subject_id"]])
    }
    lines = {i + 2 for i in range(len(df)) if df.loc[i, "subject_id"].strip() in subjects or i in touched}
    for ln in _problems(text):
        named = re.search(r" line (\d+)", ln)
        subject = re.search(r"subject (\S+?)[:,]", ln)
        assert (named and int(named.group(1)) in lines) or (subject and subject.group(1) in subjects), (ln, changes)


ROW_OPS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "blank"]),
        st.integers(0, len(BASE) - 1),
        st.integers(0, len(BASE) - 1),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=40, **SETTINGS)
@given(ops=ROW_OPS)
def test_corrupted_rows(folder, capsys, ops):
    rows = [list(r) for r in BASE.itertuples(index=False)]
    for op, i, j in ops:
        i, j = i % len(rows), j % len(rows)
        if op == "delete" and len(rows) > 1:
            rows.pop(i)
        elif op == "duplicate":
            rows.insert(j, list(rows[i]))
        elif op == "swap":
            rows[i], rows[j] = rows[j], rows[i]
        elif op == "blank":
            rows[i] = [""] * len(COLUMNS)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(folder / "data.csv", index=False)
    rc, text = _validate(folder, capsys)
    if rc == 0:
        _assert_nothing_dropped(folder, df[df.apply(lambda r: any(v.strip() for v in r), axis=1)])
    else:
        _problems(text)
        assert any(
            code in text
            for code in ("[duplicate_visit]", "[no_baseline]", "[subject_in_two_arms]", "[inconsistent_subject_value]")
        ), text


# -- study.yml fields ---------------------------------------------------------------------------

DEMO_DOC = yaml.safe_load((DEMO / "study.yml").read_text())


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


PATHS = [p for p in _paths(DEMO_DOC) if p]
VALUES = st.sampled_from(
    [
        "false",
        "true",
        "four",
        "x10",
        "",
        "nrs",
        "pain",
        "arm",
        "week",
        "usual_care",
        0,
        -1,
        4,
        13,
        0.5,
        1e308,
        float("inf"),
        True,
        False,
        None,
        [],
        ["nrs"],
        [1, 2],
        {},
        {"a": 1},
        {"column": "pain"},
        "colum",
        "week4",
        "baseline",
    ]
)
MUTATION = st.tuples(st.sampled_from(PATHS), st.sampled_from(["replace", "delete", "add key"]), VALUES)


def _text_path(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _must_fail(path: tuple, op: str, value) -> bool:
    """Mutations that no valid study.yml can contain."""
    if op == "add key":
        return True
    if op == "delete":
        return False
    last = path[-1]
    if last in ("control", "baseline") and not isinstance(value, bool):
        return True
    if (
        last == "week"
        and path[0] == "visits"
        and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value))
    ):
        return True
    if path in (("arms",), ("visits",)) and not (isinstance(value, list) and value):
        return True
    if path in (("outcomes",), ("covariates",)) and not isinstance(value, dict):
        return True
    if path == ("outcomes", "pain", "instrument") and value not in ("nrs",):
        return value not in ("score", "vas_cm", "bpi_severity")
    return False


@settings(max_examples=100, **SETTINGS)
@given(mutation=MUTATION)
def test_mutated_study_yml(folder, capsys, mutation):
    path, op, value = mutation
    doc = yaml.safe_load(yaml.safe_dump(DEMO_DOC))
    parent, mapping = doc, doc  # mapping: the deepest mapping on the path
    for p in path[:-1]:
        parent = parent[p]
        mapping = parent if isinstance(parent, dict) else mapping
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    else:
        target = parent[last]
        (target if isinstance(target, dict) else mapping)["colum"] = value
    (folder / "study.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    BASE.to_csv(folder / "data.csv", index=False)
    rc, text = _validate(folder, capsys)
    if _must_fail(path, op, value):
        assert rc == 1, (mutation, text)
    if rc == 0:
        spec = painstudy.read_study(folder / "study.yml")
        from painstudy.study import spec_from_dict, spec_to_dict

        assert spec_from_dict(spec_to_dict(spec), root=spec.root) == spec
        _assert_nothing_dropped(folder, BASE)
        return
    problems = _problems(text)
    study_lines = [ln for ln in problems if "study.yml" in ln]
    if study_lines:
        top = path[0]
        assert any(
            f"field {top}" in ln
            or "field colum" in ln
            or f".{top}" in ln
            or "[yaml_syntax]" in ln
            or "[data_outside_study_folder]" in ln
            # a deleted entry that another field relies on (an outcome with its estimand, the disposition
            # column that withdrawal events read): that field, naming what it misses
            or (op == "delete" and str(path[-1]) in ln)
            for ln in study_lines
        ) or any(f"field {_text_path(path)}" in ln for ln in study_lines), (mutation, text)
