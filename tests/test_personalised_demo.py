"""The demo study's records and their truth (issue 14 in the flow): the dose derived from the bundled
prescription records is the visit-level dose, the opioid stops per arm are those simulated, the
two-part model runs on it, and the diary gives outcomes at every visit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

import painstudy
from painstudy.datasets import studies_dir


@pytest.fixture(scope="module")
def demo():
    return painstudy.load_cohort("demo")


@pytest.fixture(scope="module")
def medicated(demo):
    return painstudy.with_mme(demo, painstudy.derive_mme(demo), name="mme_records")


def test_records_reproduce_the_visit_dose(medicated):
    v = medicated.visits
    seen = v["mme"].notna()
    np.testing.assert_allclose(v.loc[seen, "mme_records"], v.loc[seen, "mme"], atol=0.05)
    assert v.loc[~seen, "mme_records"].isna().all()  # no dose where the visit was not assessed


def _exact_ci(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def test_opioid_stops_per_arm_are_the_simulated_ones(medicated):
    truth = pd.read_csv(studies_dir() / "demo" / "truth_medication.csv")
    outcomes = painstudy.medication_outcomes(medicated, "mme_records").by_visit
    last = outcomes[outcomes["visit"] == "week52"].set_index("arm")
    users = medicated.subjects.set_index("subject")["mme_records_baseline"] > 0
    v = medicated.visits[(medicated.visits["visit"] == "week52") & medicated.visits["mme_records"].notna()]
    v = v[v["subject"].map(users)]
    for arm, rows in v.groupby("arm", observed=True):
        k, n = int((rows["mme_records"] == 0).sum()), len(rows)
        p = float(truth[(truth["arm"] == arm) & (truth["visit"] == "week52")]["value"].iloc[0])
        lo, hi = _exact_ci(k, n)
        assert lo <= p <= hi, (arm, k, n, p)
    assert last.loc["integrative", "pct_opioid_free"] > last.loc["usual_care", "pct_opioid_free"]


def test_two_part_model_runs_on_the_demo_records(medicated):
    tp = painstudy.two_part(medicated, "mme_records")
    assert np.isfinite(tp.means["std_error"]).all() and len(tp.means) == 4 * 5
    # integrative care tapers and stops opioids more: a lower combined mean dose than usual care at week 52
    ratio = tp.comparisons.query("visit == 'week52' and arm == 'integrative' and measure == 'ratio'")
    assert len(ratio) == 1 and ratio["ci_upper"].iloc[0] < 1.0


def test_diary_outcomes_at_every_visit_with_compliance(demo):
    d = painstudy.derive_diary(demo)
    counts = d.cohort.visits.groupby("visit", observed=True)["pain_diary_mean"].apply(lambda s: s.notna().sum())
    assert (counts > 150).all(), counts
    assert {"pain_diary", "steps"} <= set(d.compliance_summary["measure"])
    res = painstudy.compare_arms(d.cohort, ["steps_mean"])
    assert set(res.table["visit"]) == {v.name for v in demo.spec.post_baseline_visits}


def test_the_records_are_named_without_a_machine_path(demo):
    assert painstudy.derive_mme(demo).source == "medication.csv"  # relative to the study folder
    assert set(painstudy.derive_mme(demo).exclusions["file"]) == {"medication.csv"}
