"""Cohort.with_outcomes: outcomes derived elsewhere (diaries, medication records) become ordinary
outcomes that every analysis accepts, with named errors for rows that do not fit the cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import CohortError


@pytest.fixture(scope="module")
def copy(demo_cohort):
    t = demo_cohort.visits[["subject", "visit", "pain"]].rename(columns={"pain": "pain_copy"})
    return t, demo_cohort.with_outcomes(t, {"pain_copy": "nrs"}, labels={"pain_copy": "pain again"}, source="a copy")


def test_a_derived_outcome_is_analysed_like_the_study_own(demo_cohort, copy):
    _, c = copy
    assert c.outcomes == [*demo_cohort.outcomes, "pain_copy"]
    assert c.spec.outcome("pain_copy").derived_from == "a copy" and c.spec.outcome("pain_copy").label == "pain again"
    assert np.allclose(c.subjects["pain_copy_baseline"], demo_cohort.subjects["pain_baseline"], equal_nan=True)
    a = painstudy.compare_arms(demo_cohort, ["pain"]).table["estimate"].to_numpy()
    b = painstudy.compare_arms(c, ["pain_copy"]).table["estimate"].to_numpy()
    np.testing.assert_array_equal(a, b)
    ra = painstudy.responder_analysis(demo_cohort, "pain", threshold="moderate").rates.table["rate"]
    rb = painstudy.responder_analysis(c, "pain_copy", threshold="moderate").rates.table["rate"]
    np.testing.assert_array_equal(ra.to_numpy(), rb.to_numpy())
    assert demo_cohort.outcomes == ["pain", "function", "mme"]  # the original is unchanged


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.assign(subject="S9999"), "subject(s) not in the cohort (first: 'S9999')"),
        (lambda t: pd.concat([t, t.head(1)]), "rows repeat a subject and visit"),
        (lambda t: t.assign(pain_copy=t["pain_copy"] + 20), "pain_copy: 2070 value(s) outside [0, 10]"),
        (lambda t: t.assign(visit="week99"), "visit(s) not in the schedule: 'week99'"),
        (lambda t: t.drop(columns=["visit"]), "missing column(s) visit"),
    ],
)
def test_rows_that_do_not_fit_are_named(demo_cohort, copy, change, message):
    t, _ = copy
    with pytest.raises(
        CohortError,
        match="a copy: .*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        demo_cohort.with_outcomes(change(t), {"pain_copy": "nrs"}, source="a copy")


def test_a_name_in_use_is_refused(demo_cohort, copy):
    t, _ = copy
    with pytest.raises(CohortError, match="'pain' already used"):
        demo_cohort.with_outcomes(t.rename(columns={"pain_copy": "pain"}), {"pain": "nrs"})


def test_a_derived_outcome_kept_for_part_of_the_follow_up(demo_cohort, copy):
    """A diary kept for the first weeks only: compare_arms fits its model on the visits it has, and says so."""
    t, _ = copy
    early = t[t["visit"].isin(["baseline", "week4", "week8", "week12"])]
    c = demo_cohort.with_outcomes(early, {"pain_copy": "nrs"}, source="a 12-week diary")
    res = painstudy.compare_arms(c, ["pain_copy"])
    assert sorted(set(res.table["visit"])) == ["week12", "week4", "week8"]
    assert "pain_copy has no value at week26, week52: left out of its model" in res.tidy().notes
    with pytest.raises(painstudy.errors.ModelError, match="pain_copy has no value at week52: leave it out"):
        painstudy.compare_arms(c, ["pain_copy"], visits=["week12", "week52"])


def test_compare_arms_by_subgroup_is_subgroups(demo_cohort):
    res = painstudy.compare_arms(demo_cohort, ["pain"], by="condition")
    direct = painstudy.subgroups(demo_cohort, "pain", "condition")
    pd.testing.assert_frame_equal(res.subgroups["pain"].effects, direct.effects)
    assert "subgroups_pain" in dict(res.tidy().tables)
    assert any(t.title.startswith("Subgroup effects") for t in res.publication())
