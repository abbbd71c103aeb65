"""Analytic MMRM power (Lu, Luo & Chen 2008) against tests/reference/power_reference.json, written by
tests/reference/power_reference.R (a base-R implementation of the formula, two ways: R longpower is not packaged
in Debian bookworm)."""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pytest

import painstudy
from painstudy.design import parse_design
from painstudy.power import analytic_power, mmrm_power, mmrm_sample_size
from painstudy.power.analytic import design_covariances, phi

REF = Path(__file__).parent / "reference" / "power_reference.json"
SOURCE = "tests/reference/power_reference.json"


def test_analytic_power_matches_the_r_implementation():
    ref = json.loads(REF.read_text())
    source = SOURCE
    for s in ref["scenarios"]:
        Sa, Sb, k = np.array(s["Sa"]), np.array(s["Sb"]), s["visit"] - 1
        ledger.check(f"phi_a {s['name']}", phi(Sa, s["ra"], k), s["phi_a"], source=source, rtol=1e-12)
        ledger.check(f"phi_b {s['name']}", phi(Sb, s["rb"], k), s["phi_b"], source=source, rtol=1e-12)
        assert s["phi_a"] == pytest.approx(s["phi_a_gls"], rel=1e-12)  # R's two routes agree
        kw = dict(covariance_b=Sb, retention_b=s["rb"], allocation=tuple(s["allocation"]), alpha=s["alpha"], visit=k)
        ours = mmrm_power(s["delta"], s["n"], Sa, s["ra"], **kw)
        ledger.check(f"power {s['name']}", ours, s["power"], source=source, rtol=1e-12)
        n = mmrm_sample_size(s["delta"], s["target"], Sa, s["ra"], **kw)
        ledger.check(f"n for power {s['target']} {s['name']}", n, s["n_for_target"], source=source, rtol=1e-12)


def test_design_covariance_is_the_covariance_given_baseline():
    s = json.loads(REF.read_text())["scenarios"][2]
    doc = {
        "arms": {"control": {"control": True}, "active": {}},
        "mean": 6.0,
        "visits": {"baseline": 0, "v1": 1, "v2": 2, "v3": 3, "v4": 4},
        "covariance": s["joint"],
        "effects": {"active": [0, 0, 0, s["delta"]]},
        "dropout": [0.0, 0.1, 1 - 0.85 / 0.9, 1 - 0.8 / 0.85],
        "analysis": {"visit": "v4"},
    }
    d = parse_design(doc, "x.yml")
    np.testing.assert_allclose(design_covariances(d)[0], np.array(s["Sa"]), rtol=1e-12)
    np.testing.assert_allclose(d.retention()[0, 1:], s["ra"], rtol=1e-12)
    a = analytic_power(d, [s["n"]])
    source = SOURCE
    ledger.check(
        "analytic_power(design), baseline-adjusted", a["analytic_power"].iloc[0], s["power"], source=source, rtol=1e-10
    )


TTEST_REF = Path(__file__).parent / "reference" / "power_ttest_reference.json"
TTEST_SOURCE = "tests/reference/power_ttest_reference.json"
#: Cohen (1988), Table 2.4.1: per-group n for 80% power, two-sided alpha 0.05
COHEN_N = {0.5: 64, 0.8: 26}


@pytest.mark.parametrize("k", [0, 1])
def test_simulated_power_of_the_textbook_design(k):
    """A published design with all its assumptions: two equal arms, standardised difference d, SD 1, no
    dropout, two-sided alpha 0.05. Cohen's table gives 64 per arm for d = 0.5 and 26 for d = 0.8 (80% power);
    R's power.t.test agrees (its n for 80%, rounded up), and the power painstudy simulates at that n (the
    ANCOVA of the design, whose baseline is independent of the outcome here, so it is the t test with one
    df fewer) lies within Monte Carlo error of power.t.test's."""
    ref = json.loads(TTEST_REF.read_text())["designs"][k]
    d, n = ref["d"], ref["n"]
    ledger.check_equal(
        f"Cohen's n per arm for 80% power, d = {d}",
        int(np.ceil(ref["n_for_80"])),
        COHEN_N[d],
        source="Cohen 1988, Table 2.4.1",
    )
    doc = {
        "arms": {"control": {"control": True}, "active": {}},
        "mean": 0.0,
        "visits": {"baseline": 0, "week12": 12},
        "sd": 1.0,
        "correlation": {"structure": "independent"},
        "effects": {"active": [-d]},
        "dropout": 0.0,
        "analysis": {"method": "ancova", "visit": "week12"},
    }
    n_sim = 10000
    res = painstudy.power(parse_design(doc, "textbook.yml"), [n], n_sim=n_sim, seed=1, null=False, executor="local")
    row = res.table.iloc[0]
    se = np.sqrt(ref["power"] * (1 - ref["power"]) / n_sim)
    ledger.check(
        f"simulated power, d = {d}, n = {n} per arm",
        row["power"],
        ref["power"],
        source=TTEST_SOURCE,
        atol=3 * se,
        note=f"{n_sim} simulated trials: 3 Monte Carlo SEs",
    )
