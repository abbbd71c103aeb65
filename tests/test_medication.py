"""Opioid dose from medication records: the CDC 2022 conversion, records, visit windows, outcomes, simulator, CLI.

The expected MME of every drug comes from the table "Morphine milligram equivalent doses for commonly
prescribed opioids for pain management" of the CDC Clinical Practice Guideline for Prescribing Opioids for
Pain -- United States, 2022 (MMWR Recomm Rep 2022;71(No. RR-3)): MME/day = mg/day x factor (codeine 0.15,
hydrocodone 1, hydromorphone 5, methadone 4.7, morphine 1, oxycodone 1.5, oxymorphone 3, tapentadol 0.4,
tramadol 0.2) and transdermal fentanyl mcg/h x 2.4; the products below are worked by hand from those factors
(the guideline's own two examples included).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest
import yaml

import painstudy
from painstudy.errors import CohortError, StudySpecError
from painstudy.medication import derive_mme, medication_outcomes, with_medication_outcomes, with_mme
from painstudy.opioids import OPIOIDS, UnknownDrug, daily_mme, find_opioid
from painstudy.simulate_medication import simulate_medication_records

CDC = "CDC 2022 guideline, MME conversion table (MMWR Recomm Rep 2022;71(RR-3))"

# drug as written, strength, unit, doses a day, MME/day worked by hand from the CDC 2022 table
HAND = [
    ("codeine sulfate", 30, "mg", 4, 30 * 4 * 0.15),  # 18
    ("fentanyl transdermal patch", 25, "mcg/h", 1, 25 * 2.4),  # 60
    ("hydrocodone bitartrate/acetaminophen", 5, "mg", 4, 20.0),  # the guideline's example: 20 MME
    ("hydromorphone", 2, "mg", 4, 2 * 4 * 5.0),  # 40
    ("methadone", 10, "mg", 3, 10 * 3 * 4.7),  # 141: one factor at every dose
    ("morphine sulfate ER", 30, "mg", 2, 60.0),
    ("oxycodone HCl ER", 10, "mg", 2, 30.0),  # the guideline's example: 30 MME
    ("oxymorphone", 5, "mg", 2, 5 * 2 * 3.0),  # 30
    ("tapentadol", 50, "mg", 4, 50 * 4 * 0.4),  # 80
    ("tramadol", 50, "mg", 4, 50 * 4 * 0.2),  # 40
]


@pytest.mark.parametrize("drug, strength, unit, per_day, expected", HAND)
def test_conversion_matches_the_cdc_2022_table(drug, strength, unit, per_day, expected):
    ledger.check(
        f"MME/day of {drug} {strength} {unit} x {per_day}",
        daily_mme(drug, strength, unit, per_day),
        expected,
        source=CDC,
        rtol=1e-12,
    )


def test_table_rules_methadone_buprenorphine_and_units():
    assert OPIOIDS["methadone"].factor == 4.7  # no dose tiers
    assert daily_mme("methadone", 100, "mg", 1) == pytest.approx(470.0)
    assert find_opioid("Buprenorphine patch").name == "buprenorphine_transdermal"
    assert find_opioid("buprenorphine sublingual film").buprenorphine
    assert not any(o.buprenorphine for o in OPIOIDS.values() if o.source.startswith("CDC"))
    with pytest.raises(UnknownDrug, match="dosed in mcg/h"):
        daily_mme("fentanyl patch", 25, "mg", 1)
    with pytest.raises(UnknownDrug, match="not an opioid"):
        find_opioid("gabapentin")
    with pytest.raises(UnknownDrug, match="two opioids"):
        find_opioid("oxycodone/morphine")


def _records(**over) -> pd.DataFrame:
    base = {
        "subject": ["S0002", "S0002", "S0005"],
        "day": [-14, -14, 21],
        "drug": ["oxycodone", "fentanyl patch", "tramadol"],
        "strength": [5, 12, 50],
        "unit": ["mg", "mcg/h", "mg"],
        "doses_per_day": [2, 1, None],
        "quantity": [None, None, 30],
        "days_supplied": [15, 15, 15],
    }
    return pd.DataFrame({**base, **over})


@pytest.fixture(scope="module")
def demo():
    return painstudy.load_cohort("demo")


def test_window_means_add_concurrent_prescriptions_and_count_days_without(demo):
    d = derive_mme(demo, _records()).table.set_index(["subject", "visit"])["mme"]
    assert d["S0002", "baseline"] == pytest.approx(5 * 2 * 1.5 + 12 * 2.4)  # both cover days -14..0
    assert d["S0005", "week4"] == pytest.approx(50 * 2 * 0.2)  # 30 tablets over 15 days
    assert d["S0002", "week4"] == 0 and d["S0001", "baseline"] == 0
    half = derive_mme(demo, _records(days_supplied=[8, 15, 15])).table.set_index(["subject", "visit"])["mme"]
    assert half["S0002", "baseline"] == pytest.approx((15 * 8 + 28.8 * 15) / 15)  # 8 of the 15 window days


def test_bad_records_are_named_errors_every_one(demo):
    bad = _records(
        subject=["S0002", "nobody", "S0005"], drug=["aspirin", "oxycodone", "tramadol"], unit=["mg", "mcg/h", "mg"]
    )
    bad.loc[2, "quantity"] = -3
    with pytest.raises(CohortError) as e:
        derive_mme(demo, bad)
    codes = set(e.value.failures["code"])
    assert codes == {"medication_drug", "medication_subject", "medication_unit", "medication_dose"}
    assert list(e.value.failures["row"].dropna()) == sorted(e.value.failures["row"].dropna())
    late = _records(day=[-14, -14, 600])
    with pytest.raises(CohortError, match="outside every visit window"):
        derive_mme(demo, late)
    out = derive_mme(demo, late, outside="exclude")
    assert list(out.exclusions["code"]) == ["medication_outside"]


def test_buprenorphine_is_flagged_and_left_out_unless_included(demo):
    r = _records(drug=["oxycodone", "buprenorphine sublingual", "tramadol"], strength=[5, 2, 50], unit=["mg"] * 3)
    out = derive_mme(demo, r)
    row = out.table.set_index(["subject", "visit"]).loc[("S0002", "baseline")]
    assert row["mme"] == pytest.approx(15.0) and row["buprenorphine"]
    assert list(out.exclusions["code"]) == ["medication_buprenorphine"]
    incl = derive_mme(demo, r, include_buprenorphine=True).table.set_index(["subject", "visit"])["mme"]
    assert incl["S0002", "baseline"] == pytest.approx(15.0 + 2 * 1 * 30.0)


def test_simulated_records_reproduce_the_demo_dose(demo):
    truth = demo.visits[["subject", "visit", "mme"]].astype({"visit": str})
    windows = {v.name: v.window for v in demo.spec.visits}
    records = simulate_medication_records(truth, windows, seed=11)
    again = simulate_medication_records(truth, windows, seed=11)
    pd.testing.assert_frame_equal(records, again)
    assert {"fentanyl transdermal patch", "methadone", "buprenorphine sublingual"} <= set(records["drug"])
    dose = derive_mme(demo, records)
    m = dose.table.merge(truth, on=["subject", "visit"], suffixes=("", "_truth"))
    assert (m["mme"].isna() == m["mme_truth"].isna()).all()
    ok = m["mme"].notna()
    ledger.check(
        "derived MME vs the simulated truth (max abs difference)",
        float(np.max(np.abs(m.loc[ok, "mme"] - m.loc[ok, "mme_truth"]))),
        0.0,
        source="painstudy.simulate_medication truth (the demo's mme)",
        atol=0.05,
        note="as-needed tablets come in steps of 0.25 MME-days; the demo's dose is rounded to 0.1",
    )


def test_outcomes_make_the_zero_baseline_rule_explicit(demo):
    r = medication_outcomes(demo)
    z = r.zero_baseline
    assert int(z["baseline_zero"].sum()) + int(z["baseline_user"].sum()) == demo.n_subjects
    s = r.subjects
    assert s.loc[s["baseline"] == 0, "pct_change"].isna().all()
    assert s.loc[s["baseline"] == 0, "tapered"].isna().all()
    assert s.loc[s["baseline"] == 0, "reduction"].notna().all()
    by = r.by_visit
    assert (by["baseline_users"] + by["zero_baseline"] == by["n"]).all()
    assert "undefined at a baseline dose of 0" in r.notes[0]
    c = with_medication_outcomes(demo)
    assert {"mme_opioid_free", "mme_taper50", "mme_reduction"} <= set(c.spec.outcomes)
    v = c.visits
    assert v.loc[v["mme_baseline"] == 0, "mme_taper50"].isna().all()
    assert (v["mme_opioid_free"].dropna() == (v.loc[v["mme_opioid_free"].notna(), "mme"] == 0)).all()


def test_with_mme_joins_the_cohort_as_an_outcome(demo):
    truth = demo.visits[["subject", "visit", "mme"]].astype({"visit": str})
    records = simulate_medication_records(truth, {v.name: v.window for v in demo.spec.visits}, seed=2)
    c = with_mme(demo, derive_mme(demo, records), name="mme_records")
    assert c.spec.outcome("mme_records").derived_from.startswith("medication records")
    assert np.allclose(c.visits["mme_records"], c.visits["mme"], atol=0.05, equal_nan=True)


def test_study_yml_medication_key(tmp_path, demo):
    folder = Path(painstudy.datasets.__file__).parent / "studies" / "demo"
    doc = yaml.safe_load((folder / "study.yml").read_text())
    doc["data"]["file"] = str(folder / "data.csv")
    doc["data"]["outside_study_folder"] = True
    _records().to_csv(tmp_path / "meds.csv", index=False)
    doc["medication"] = {"file": "meds.csv", "outcome": "mme_records"}
    (tmp_path / "study.yml").write_text(yaml.safe_dump(doc))
    cohort = painstudy.load_cohort(tmp_path / "study.yml")
    assert cohort.spec.medication.file == "meds.csv"
    assert "mme_records" in with_mme(cohort).spec.outcomes
    doc["medication"] = {"file": "meds.csv", "date": "d", "dose": 1}
    (tmp_path / "study.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(StudySpecError, match=r"medication.dose: unknown key"):
        painstudy.read_study(tmp_path / "study.yml")


def test_cli_derive_mme(tmp_path):
    _records(subject=["S0002", "S9999", "S0005"]).to_csv(tmp_path / "bad.csv", index=False)
    _records().to_csv(tmp_path / "good.csv", index=False)
    run = [sys.executable, "-m", "painstudy", "derive", "mme", "demo"]
    bad = subprocess.run([*run, "--records", str(tmp_path / "bad.csv")], capture_output=True, text=True)
    assert bad.returncode == 1 and "[medication_subject]" in bad.stderr and "line 3" in bad.stderr
    out = tmp_path / "mme.csv"
    good = subprocess.run(
        [*run, "--records", str(tmp_path / "good.csv"), "--out", str(out)], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stderr
    assert list(pd.read_csv(out).columns) == ["subject", "visit", "mme", "records", "buprenorphine"]
