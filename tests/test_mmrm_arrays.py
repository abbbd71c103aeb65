"""The MMRM of a power run, fitted from arrays (painstudy.models.mixed.mmrm_arrays via
painstudy.power.trials.mmrm_rows), gives the numbers of painstudy.mmrm on the same rows as a DataFrame.

painstudy.mmrm itself is checked against SAS PROC MIXED and R mmrm (tests/test_mmrm_sas.py and others);
here the fast path is checked against it, trial by trial, with heavy dropout, several covariance structures
and every multiplicity adjustment."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from painstudy import mmrm
from painstudy.design import demo_design
from painstudy.errors import ModelError
from painstudy.power.trials import analyse_trial, draw_trial, mmrm_layout, trial_seed

COLUMNS = ("estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value", "p_adjusted")


def through_mmrm(design, trial, alpha=0.05):
    """The planned analysis the long way: a long DataFrame, painstudy.mmrm and its contrasts."""
    post = list(design.post_visits)
    n, T = trial.y.shape
    keep = ~np.isnan(trial.y[:, 1:]) & ~np.isnan(trial.y[:, [0]])
    data = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(n), T - 1),
            "arm": pd.Categorical.from_codes(np.repeat(trial.arm, T - 1), categories=list(design.arms)),
            "visit": pd.Categorical(np.tile(post, n), categories=post),
            "baseline": np.repeat(trial.y[:, 0], T - 1),
            "y": trial.y[:, 1:].ravel(),
        }
    )[keep.ravel()]
    fit = mmrm(f"y ~ baseline + arm * visit + {design.analysis_covariance}(visit | subject)", data)
    kw = dict(by="visit", method="trt.vs.ctrl", ref=design.control, level=1 - alpha)
    raw = fit.contrasts("arm", **kw)
    raw = raw[raw["visit"] == design.analysis_visit].reset_index(drop=True)
    adj = fit.contrasts("arm", adjust=design.multiplicity, **kw)
    adj = adj[adj["visit"] == design.analysis_visit].reset_index(drop=True)
    raw["p_adjusted"] = np.maximum(adj["p_value"], raw["p_value"])
    raw["comparison"] = raw["contrast"].str.split(" - ").str[0]
    return raw


@pytest.mark.parametrize(
    "covariance, multiplicity, dropout",
    [("us", "none", 0.045), ("us", "holm", 0.2), ("ar1", "dunnett", 0.1), ("cs", "bonferroni", 0.15)],
)
def test_same_numbers_as_mmrm(covariance, multiplicity, dropout):
    design = dataclasses.replace(
        demo_design(),
        analysis_covariance=covariance,
        multiplicity=multiplicity,
        dropout=np.full_like(demo_design().dropout, dropout),
    )
    for k in range(4):
        trial = draw_trial(design, 25, np.random.default_rng(trial_seed(7, 25, "alternative", k)))
        fast = pd.DataFrame(analyse_trial(design, trial))
        slow = through_mmrm(design, trial)
        assert not fast["failed"].any()
        assert list(fast["comparison"]) == list(slow["comparison"])
        for c in COLUMNS:
            np.testing.assert_allclose(fast[c], slow[c], rtol=1e-9, atol=1e-12, err_msg=c)


def test_an_arm_missing_at_a_visit_is_a_failed_fit():
    design = demo_design()
    trial = draw_trial(design, 10, np.random.default_rng(1))
    y = trial.y.copy()
    y[trial.arm == 1, -1] = np.nan  # nobody of the second arm at the last visit
    rows = analyse_trial(design, dataclasses.replace(trial, y=y))
    assert all(r["failed"] for r in rows)
    with pytest.raises(ModelError, match="singular design"):
        from painstudy.power.trials import mmrm_rows

        mmrm_rows(design, dataclasses.replace(trial, y=y), 0.05)


def test_layout_columns_follow_the_formula():
    design = demo_design()
    layout = mmrm_layout(tuple(design.arms), tuple(design.post_visits), "us")
    names = layout.design.column_names
    assert names[:2] == ("(Intercept)", "baseline")
    # intercept, baseline, (A - 1) arms, (T - 1) visits, (A - 1)(T - 1) interactions
    assert len(names) == len(design.arms) * len(design.post_visits) + 1
    assert layout.visit_levels == tuple(design.post_visits)
