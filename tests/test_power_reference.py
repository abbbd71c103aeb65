"""Analytic MMRM power (Lu, Luo & Chen 2008) against tests/reference/power_reference.json, written by
tests/reference/power_reference.R (a base-R implementation of the formula, two ways: R longpower is not packaged
in Debian bookworm)."""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pytest

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
