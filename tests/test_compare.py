"""compare_arms: the one-call comparison of integrative vs single-modality arms.

The truth comes from the simulator (painstudy.simulate.true_effects): tests check that the
estimates recover it on the demo study and that 95% intervals cover it about 95% of the time.
"""

from __future__ import annotations

import pytest

import painstudy
from painstudy.errors import ModelError
from painstudy.simulate import simulate, true_effects
from painstudy.study import spec_from_dict


@pytest.fixture(scope="module")
def demo_result(demo_cohort):
    return painstudy.compare_arms(demo_cohort)


def test_table_shape_and_directions(demo_result):
    t = demo_result.table
    assert list(t.columns[:5]) == ["outcome", "role", "visit", "family", "comparison"]
    assert set(t["outcome"]) == {"pain", "function"}
    assert t.loc[t["outcome"] == "pain", "role"].eq("primary").all()
    comps = set(t["comparison"])
    assert {
        "integrative vs usual_care",
        "physiotherapy vs usual_care",
        "mindfulness vs usual_care",
        "integrative vs physiotherapy",
        "integrative vs mindfulness",
    } == comps
    assert len(t) == 2 * 5 * 5  # outcomes x visits x comparisons
    # pain: lower is better, so a negative difference favours the arm; function: higher is better
    row = t[
        (t["outcome"] == "pain") & (t["visit"] == "week52") & (t["comparison"] == "integrative vs usual_care")
    ].iloc[0]
    assert row["estimate"] < 0 and row["direction"] == "favours integrative"
    row = t[
        (t["outcome"] == "function") & (t["visit"] == "week52") & (t["comparison"] == "integrative vs usual_care")
    ].iloc[0]
    assert row["estimate"] > 0 and row["favours"] == "integrative"
    assert (t["p_adjusted"] >= t["p_value"] - 1e-12).all()
    assert (t["ci_lower"] <= t["estimate"]).all() and (t["estimate"] <= t["ci_upper"]).all()
    # adjusted (simultaneous) intervals are wider; "favours" is judged on them
    assert ((t["ci_lower_adjusted"] <= t["ci_lower"] + 1e-12) & (t["ci_upper"] <= t["ci_upper_adjusted"] + 1e-12)).all()
    unclear = (t["ci_lower_adjusted"] <= 0) & (t["ci_upper_adjusted"] >= 0)
    assert (t.loc[unclear, "favours"] == "neither").all() and (t.loc[~unclear, "favours"] != "neither").all()


def test_a_comparison_in_two_families_says_which_family_each_row_is(demo_cohort):
    """With a single-modality reference, "integrative vs physiotherapy" is both an arm-vs-reference
    comparison and an integrative-vs-single-modality one: each row names its family."""
    t = painstudy.compare_arms(demo_cohort, ["pain"], reference="physiotherapy", visits=["week52"]).table
    rows = t[t["comparison"] == "integrative vs physiotherapy"]
    assert sorted(rows["family"]) == ["integrative vs single-modality", "vs physiotherapy"]
    assert rows["estimate"].nunique() == 1


def test_demo_recovers_the_true_effects(demo_result):
    """The true arm-vs-usual-care effects lie in the 95% CIs of the demo study (seed 20261126).

    At week 52 (the primary visit) all six do. Over all 30 (2 outcomes x 3 arms x 5 visits) one
    misses with this seed (pain, physiotherapy, week 4: truth -0.49, CI -0.46 to 0.05), which is
    what 95% intervals do (expected 1.5 misses); calibration is checked over 200 seeds below.
    """
    truth = true_effects()
    t = demo_result.table.merge(truth, on=["outcome", "arm", "reference", "visit"], how="inner")
    assert len(t) == 30
    inside = (t["ci_lower"] <= t["effect"]) & (t["effect"] <= t["ci_upper"])
    assert inside[t["visit"] == "week52"].all(), t[t["visit"] == "week52"]
    assert inside.sum() >= 29, t.loc[
        ~inside, ["outcome", "visit", "comparison", "estimate", "ci_lower", "ci_upper", "effect"]
    ]


def _cohort(seed, n=200):
    trial = simulate(n, seed=seed)
    spec = spec_from_dict({**trial.study, "data": {"layout": "long"}})
    return painstudy.load_cohort(spec, data=trial.data)


@pytest.mark.slow
def test_coverage_over_200_seeds_is_near_95_percent():
    truth = true_effects().query("outcome == 'pain' and visit == 'week52'").set_index("arm")["effect"]
    hits, total = 0, 0
    for seed in range(1000, 1200):
        res = painstudy.compare_arms(_cohort(seed), ["pain"], visits=["week52"], multiplicity="none")
        t = res.table[res.table["reference"] == "usual_care"].set_index("arm")
        for arm, effect in truth.items():
            hits += int(t.loc[arm, "ci_lower"] <= effect <= t.loc[arm, "ci_upper"])
            total += 1
    coverage = hits / total
    # 600 intervals: a binomial 95% band around 0.95 is about +-0.018
    assert 0.925 <= coverage <= 0.975, coverage


def test_plots_return_axes(demo_result):
    ax = demo_result.plot_trajectories("pain")
    assert ax.get_xlabel() == "week" and len(ax.get_legend().get_texts()) == 4
    ax = demo_result.plot_forest()
    assert len(ax.get_yticklabels()) == 10


def test_vickers_headache_and_physical_functioning(vickers_cohort):
    res = painstudy.compare_arms(vickers_cohort, ["headache_score", "sf36_pf"], visits=["month3", "month12"])
    t = res.table.set_index(["outcome", "visit"])
    assert set(t["comparison"]) == {"acupuncture vs usual_care"}
    hs = t.loc[("headache_score", "month12")]
    # acupuncture lowers the headache score; the MMRM (all randomised, MAR) lands near the ANCOVA's 4.6
    assert hs["favours"] == "acupuncture" and -6.5 < hs["estimate"] < -3.0 and hs["ci_upper"] < 0
    assert res.plot_trajectories("sf36_pf").get_lines()
    assert res.plot_forest(visit="month12").get_yticklabels()


def test_bad_arguments(demo_cohort):
    with pytest.raises(ModelError, match="model must be"):
        painstudy.compare_arms(demo_cohort, model="glm")
    with pytest.raises(ModelError, match="not post-baseline visits"):
        painstudy.compare_arms(demo_cohort, visits=["week99"])
    with pytest.raises(ModelError, match="adjust_for"):
        painstudy.compare_arms(demo_cohort, adjust_for=["shoe_size"])


def test_slopes_model(demo_cohort):
    res = painstudy.compare_arms(demo_cohort, model="slopes")
    t = res.table
    assert set(t["visit"]) == {"slope per week"} and len(t) == 2 * 5
    row = t[(t["outcome"] == "pain") & (t["comparison"] == "integrative vs usual_care")].iloc[0]
    assert row["estimate"] < 0 and row["favours"] == "integrative"
    # the slope difference is the arm x week interaction of the random-slope fit
    fit = res.fits["pain"]
    coef = fit.coefficients.loc["armintegrative:week", "estimate"]
    assert row["estimate"] == pytest.approx(coef, rel=1e-9)
    assert res.plot_trajectories("pain").get_xlabel() == "week"
    assert len(res.plot_forest().get_yticklabels()) == 10


def test_command_line(tmp_path, capsys, shared):
    import json

    from painstudy.cli import main

    out = tmp_path / "c.json"
    assert (
        main(
            [
                "fit",
                "compare",
                "vickers2004",
                "--outcomes",
                "headache_score",
                "sf36_pf",
                "--visits",
                "month3",
                "month12",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "acupuncture vs usual_care" in text and "favours acupuncture" in text
    doc = json.loads(out.read_text())
    assert len(doc["comparisons"]) == 4 and doc["formulas"]["headache_score"].startswith("headache_score ~")
    assert main(["fit", "compare", "--model", "nope"]) == 2


def test_one_outcome_may_be_given_as_a_name(demo_cohort):
    from painstudy.compare import compare_arms

    res = compare_arms(demo_cohort, "pain", visits=["week52"])
    assert set(res.to_frame()["outcome"]) == {"pain"}


def test_every_model_says_how_many_subjects_it_used_and_left_out(demo_cohort):
    from painstudy.compare import compare_arms

    res = compare_arms(demo_cohort, ["pain", "function"], visits=["week52"])
    for outcome, line in res.model_lines().items():
        fit = res.fits[outcome]
        assert line.startswith(res.formulas[outcome]) and f"({fit.n_subjects} subjects" in line
        assert ("left out" in line) == (fit.n_subjects_dropped > 0)
        assert line in str(res)


def test_a_study_without_baseline_says_so_and_what_to_adjust_for_instead(shared):
    """bcva's outcome is a change from baseline, its baseline a covariate (BCVA_BL): no visit is a
    baseline, so the default adjustment for the baseline cannot be made. The error says that, not that
    no rows had complete covariates."""
    import subprocess
    import sys
    from pathlib import Path

    cohort = painstudy.load_cohort("bcva")
    with pytest.raises(ModelError, match=r"study 'bcva' has no baseline of outcome 'BCVA_CHG'.*--adjust-for BCVA_BL"):
        painstudy.compare_arms(cohort)
    r = subprocess.run(
        [str(Path(sys.executable).parent / "painstudy"), "fit", "compare", "bcva"], capture_output=True, text=True
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "no visit of its study.yml is marked `baseline: true`" in r.stderr and "--adjust-for BCVA_BL" in r.stderr
    assert "complete covariates" not in r.stderr
