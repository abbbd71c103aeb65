"""Table 1 with standardised mean differences (and optional p-values) against an implementation written in
base R from the definitions (tests/reference/table1_smd_reference.R -> table1_smd_reference.json), on the
bundled demo study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ledger
import pytest

import painstudy
from painstudy.tables import smd_table

HERE = Path(__file__).resolve().parent
SOURCE = "tests/reference/table1_smd_reference.json"
COLUMNS = {
    "condition": "condition",
    "age": "age",
    "sex": "sex",
    "pain": "pain_baseline",
    "function": "function_baseline",
    "mme": "mme_baseline",
}


@pytest.fixture(scope="module")
def reference():
    return json.loads((HERE / "reference" / "table1_smd_reference.json").read_text())


@pytest.fixture(scope="module")
def demo():
    return painstudy.load_cohort("demo")


def test_smd_of_every_pair_matches_r(demo, reference):
    s = smd_table(demo).set_index(["variable", "group_1", "group_2"])
    assert len(s) == len(reference["pairs"])
    with ledger.Batch() as b:
        for r in reference["pairs"]:
            ours = s.loc[(COLUMNS[r["variable"]], r["group_1"], r["group_2"]), "smd"]
            b.check(
                f"SMD of {r['variable']}, {r['group_1']} vs {r['group_2']}", ours, r["smd"], source=SOURCE, rtol=1e-10
            )


def test_table1_shows_the_largest_smd_and_p_values_only_on_request(demo, reference):
    plain = demo.table1()
    assert "max SMD" in plain.columns and "p" not in plain.columns  # CONSORT: no baseline p-values by default
    t = demo.table1(pvalues=True)
    s = smd_table(demo)
    age = t.loc[("age", "mean (SD)")]
    assert age["max SMD"] == f"{s.loc[s['variable'] == 'age', 'smd'].max():.2f}"
    labels = dict(zip(s["variable"], s["label"]))
    with ledger.Batch() as b:
        for var, p in reference["p_values"].items():
            label = labels[COLUMNS[var]]
            rows = [k for k in t.index if k[0] == label or k[0].startswith(f"{label}: ")]
            printed = t.loc[rows[0], "p"]  # printed to 3 decimals: within half a unit of R's value
            b.check(f"Table 1 p-value of {var} (as printed)", float(printed), p, source=SOURCE, atol=5e-4 + 1e-12)
    # the numbers behind Table 1 are unchanged
    assert list(demo.table1(tidy=True).columns)[:4] == ["variable", "label", "level", "group"]


def test_two_arms_show_the_smd_and_cli_adds_p_values(tmp_path):
    vickers = painstudy.load_cohort("vickers2004")
    assert "SMD" in vickers.table1().columns
    out = subprocess.run(
        [sys.executable, "-m", "painstudy", "describe", "vickers2004", "--population", "all", "--pvalues"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if "Usual care (n = 196)" in line)
    assert header.rstrip().endswith("SMD      p")
