"""The two-part model against R.

Reference values: tests/reference/twopart_reference.R (R 4.2, stats), written to
tests/reference/twopart_reference.json, on tests/reference/data/twopart_mme.csv (simulated by the script: 150
subjects, 3 arms, 3 visits, baseline dose and age):

- ``glm(I(mme > 0) ~ arm * visit + mme_baseline + age, binomial)``: coefficients and ``vcov`` SEs;
- ``glm(mme ~ arm * visit + mme_baseline + age, Gamma(link = "log"), subset = mme > 0)``: coefficients, SEs
  (Pearson dispersion as ``summary.glm``);
- ``lm(log(mme) ~ ..., subset = mme > 0)`` and Duan's smearing factor (the lognormal option);
- the standardised marginal means by arm and visit, the probability of use and the dose of a user, the
  differences and log ratios against control, with delta-method SEs written in R from the formulas, from the
  model-based covariance and from the CR0 cluster sandwich (subjects) of the stacked scores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import ModelError
from painstudy.models.twopart import two_part

HERE = Path(__file__).resolve().parent / "reference"
SOURCE = "tests/reference/twopart_reference.json"
ARMS = ["control", "exercise", "integrative"]
VISITS = ["week4", "week12", "week26"]
RTOL = 1e-7  # both solve the same score equations to ~1e-12; the margin covers R's deviance-based stopping


@pytest.fixture(scope="module")
def ref():
    return json.loads((HERE / "twopart_reference.json").read_text())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "twopart_mme.csv")
    d["arm"] = pd.Categorical(d["arm"], ARMS)
    d["visit"] = pd.Categorical(d["visit"], VISITS)
    return d


def _fit(data, dose, variance):
    return two_part(data, "mme", covariates=["mme_baseline", "age"], dose=dose, variance=variance)


@pytest.mark.parametrize("dose", ["gamma", "lognormal"])
@pytest.mark.parametrize("variance", ["model", "robust"])
def test_two_part_matches_r_glm_and_the_delta_method(data, ref, dose, variance):
    r = _fit(data, dose, variance)
    R = ref[dose]
    assert r.n_obs == ref["n_obs"] and r.n_users == ref["n_users"] and r.n_subjects == ref["n_subjects"]
    se = f"se_{variance}"
    with ledger.Batch() as b:
        for part in ("use_coefficients", "dose_coefficients"):
            ours, theirs = getattr(r, part), R[part]
            labels = [f"{dose} {part} {t}" for t in theirs["term"]]
            b.check(
                f"{dose} {part} estimate",
                ours["estimate"],
                theirs["estimate"],
                source=SOURCE,
                rtol=RTOL,
                atol=1e-9,
                labels=labels,
            )
            b.check(
                f"{dose} {part} {se}",
                ours["std_error"],
                theirs[se],
                source=SOURCE,
                rtol=RTOL,
                atol=1e-10,
                labels=labels,
            )
        if dose == "lognormal":
            b.check("lognormal smearing factor", r.smearing, R["smearing"], source=SOURCE, rtol=RTOL)
        b.check(f"{dose} dispersion", r.dispersion, R["dispersion"], source=SOURCE, rtol=RTOL)
        m = r.means.set_index(["visit", "arm"])
        keys = [(x["visit"], x["arm"]) for x in R["means"]]
        labels = [f"{v}, {a}" for v, a in keys]
        for ours_col, theirs_key in (
            ("mean", "mean"),
            ("prob_use", "prob_use"),
            ("dose_if_used", "dose_if_used"),
            ("std_error", se),
            ("prob_use_se", f"prob_use_{se}"),
            ("dose_if_used_se", f"dose_if_used_{se}"),
        ):
            b.check(
                f"{dose} marginal {ours_col} ({variance})",
                m.loc[keys, ours_col].to_numpy(),
                [x[theirs_key] for x in R["means"]],
                source=SOURCE,
                rtol=RTOL,
                labels=labels,
            )
        c = r.comparisons.set_index(["visit", "arm", "measure"])
        keys = [(x["visit"], x["arm"]) for x in R["comparisons"]]
        labels = [f"{v}, {a} vs control" for v, a in keys]
        diff = c.xs("difference", level="measure").loc[keys]
        ratio = c.xs("ratio", level="measure").loc[keys]
        b.check(
            f"{dose} difference",
            diff["estimate"],
            [x["difference"] for x in R["comparisons"]],
            source=SOURCE,
            rtol=RTOL,
            atol=1e-9,
            labels=labels,
        )
        b.check(
            f"{dose} difference SE ({variance})",
            diff["std_error"],
            [x[f"difference_{se}"] for x in R["comparisons"]],
            source=SOURCE,
            rtol=RTOL,
            labels=labels,
        )
        b.check(
            f"{dose} log ratio",
            np.log(ratio["estimate"]),
            [x["log_ratio"] for x in R["comparisons"]],
            source=SOURCE,
            rtol=RTOL,
            atol=1e-9,
            labels=labels,
        )
        b.check(
            f"{dose} log ratio SE ({variance})",
            ratio["std_error"],
            [x[f"log_ratio_{se}"] for x in R["comparisons"]],
            source=SOURCE,
            rtol=RTOL,
            labels=labels,
        )


def test_intervals_and_tests_follow_from_the_estimates(data):
    r = _fit(data, "gamma", "robust")
    z = 1.959963984540054
    m = r.means
    assert np.allclose(m["ci_lower"], m["mean"] - z * m["std_error"])
    c = r.comparisons[r.comparisons["measure"] == "ratio"]
    assert np.allclose(c["ci_upper"], np.exp(np.log(c["estimate"]) + z * c["std_error"]))
    assert set(r.tidy().facts[0]) == {"subjects", r.n_subjects}
    assert "standardised over the sample" in " ".join(r.notes)


def test_bootstrap_is_seeded_and_close_to_the_delta_method(data):
    a = two_part(data, "mme", covariates=["mme_baseline"], ci="bootstrap", n_boot=60, seed=7)
    b = two_part(data, "mme", covariates=["mme_baseline"], ci="bootstrap", n_boot=60, seed=7)
    pd.testing.assert_frame_equal(a.means, b.means)
    delta = two_part(data, "mme", covariates=["mme_baseline"])
    ratio = a.means["std_error"] / delta.means["std_error"]
    assert ratio.between(0.5, 2.0).all()
    with pytest.raises(ModelError, match="seed"):
        two_part(data, "mme", ci="bootstrap")


def test_separation_and_empty_cells_are_named(data):
    d = data.copy()
    d.loc[(d["arm"] == "integrative") & (d["visit"] == "week26"), "mme"] = 0.0
    with pytest.raises(ModelError, match="integrative at week26: no subject uses"):
        two_part(d, "mme")
    # users who never stop and non-users who never start: the baseline dose predicts any use perfectly
    never = d.assign(mme=np.where(data["mme_baseline"] > 0, np.maximum(data["mme"], 1.0), 0.0))
    with pytest.raises(ModelError, match="separation"):
        two_part(never, "mme", covariates=["mme_baseline"])
    with pytest.raises(ModelError, match="dose must be one of"):
        two_part(data, "mme", dose="tweedie")


def test_two_part_on_a_cohort_compares_with_the_control_arm():
    r = two_part(painstudy.load_cohort("demo"), "mme", covariates=["age"])
    assert set(r.comparisons["reference"]) == {"usual_care"}
    assert len(r.means) == 4 * 5 and math.isfinite(r.means["std_error"].max())
