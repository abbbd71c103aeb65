"""Power for the slopes model and for time to clinically meaningful improvement (issue 13, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import painstudy
from painstudy.design import DesignError, demo_design
from painstudy.models.survival.core import logrank_chisq
from painstudy.power.trials import SimTrial, improvement_times, logrank_two


def test_two_sample_logrank_is_survdiffs():
    rng = np.random.default_rng(4)
    time = rng.choice([4.0, 8.0, 12.0, 26.0, 52.0], 80)
    event = rng.random(80) < 0.6
    group = rng.integers(0, 2, 80)
    o_e, v = logrank_two(time, event, group == 1)
    stat, df, obs, exp = logrank_chisq(time, event.astype(float), group, 2)
    assert df == 1 and o_e == pytest.approx(obs[1] - exp[1], rel=1e-12)
    assert o_e**2 / v == pytest.approx(stat, rel=1e-12)


def test_improvement_times_are_first_visits_reaching_the_threshold():
    d = demo_design(analysis="improvement", responder_threshold=2.0)
    y = np.array(
        [
            [6.0, 5.0, 3.5, 3.0, 2.0, 2.0],  # improved by 2.5 at the second post-baseline visit (week 8)
            [6.0, 5.5, 5.0, np.nan, np.nan, np.nan],  # left after week 8 without improving: censored there
        ]
    )
    time, event = improvement_times(d, SimTrial(np.array([0, 1]), y))
    assert time.tolist() == [8.0, 8.0] and event.tolist() == [True, False]


def test_slopes_power_is_unbiased_with_its_type_one_error():
    r = painstudy.power(demo_design(analysis="slopes"), [40], n_sim=60, seed=3)
    t = r.table[r.table["comparison"] == "integrative"].iloc[0]
    assert abs(t["mean_estimate"] - t["true_effect"]) < 3 * t["bias_se"]
    assert abs(t["type1_error"] - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 60) + 1e-9
    assert "slopes: the true effect is the least-squares slope per week" in " ".join(r.notes)


def test_time_to_improvement_power_grows_with_n_and_keeps_its_level():
    d = demo_design(analysis="improvement", responder_threshold=2.0, multiplicity="holm")
    r = painstudy.power(d, [20, 60], n_sim=80, seed=5)
    phys = r.table[r.table["comparison"] == "physiotherapy"].set_index("n_per_arm")
    assert phys.loc[60, "power"] > phys.loc[20, "power"]
    fwer = r.table[r.table["comparison"] == "any arm"]["type1_error"]
    assert (fwer <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 80)).all()
    assert np.isnan(phys["coverage"]).all() and np.isnan(phys["analytic_power"]).all()


def test_time_to_improvement_needs_a_threshold():
    with pytest.raises(DesignError, match="improvement need a positive improvement threshold"):
        demo_design(analysis="improvement")
