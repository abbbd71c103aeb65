"""Heterogeneity of treatment effect (painstudy.subgroups, issue 14 section 1).

Reference: tests/reference/subgroups_reference.R -> subgroups_reference.json: the bundled demo study,
``pain ~ pain_baseline + arm * visit * G`` (G = condition, sex; age as a linear modifier), unstructured, REML,
fitted by nlme::gls (corSymm + varIdent); emmeans ``contrast(emmeans(fit, ~ arm | visit * G), "trt.vs.ctrl")``,
``contrast(emmeans(fit, ~ arm * G | visit), interaction = c("trt.vs.ctrl", "pairwise"))`` (age:
``emtrends``), ``joint_tests``; the script polishes gls's optimum by Newton steps and computes Satterthwaite df
from the analytic REML Hessian (emmeans' own Satterthwaite df for gls, from nlme's numerical apVar, are a few
df off and are checked to 2 %). Truth: painstudy.simulate's public parameters (DEFAULT_EFFECTS x
DEFAULT_MODIFIERS x the ramp 1 - exp(-week / tau)).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ledger
import matplotlib
import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import ModelError, PainstudyError
from painstudy.models.blas import usable_cores
from painstudy.simulate import CONDITIONS, DEFAULT_EFFECTS, DEFAULT_MODIFIERS, VISITS
from painstudy.subgroups import EFFECT_COLUMNS, shrink, subgroups

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
SOURCE = "tests/reference/subgroups_reference.json"
TOL = 1e-8  # against the polished optimum of the R script (observed agreement ~1e-12)
TOL_GLS = 2e-6  # against emmeans on the gls fit as it stopped (within ~5e-7 of the optimum)
TAU = 6.0  # painstudy.simulate's default time constant of the effects (the demo's)
WEEK = {name: week for name, week, _ in VISITS}


@pytest.fixture(scope="module")
def reference():
    return json.loads((HERE / "reference" / "subgroups_reference.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return painstudy.load_cohort("demo")


@pytest.fixture(scope="module")
def factors(cohort):
    return subgroups(cohort, "pain", by=["condition", "sex"], shrinkage=True)


@pytest.fixture(scope="module")
def linear(cohort):
    return subgroups(cohort, "pain", by=["age"], continuous="linear", at=[40, 60])


def true_effect(arm: str, condition: str, visit: str, tau: float = TAU) -> float:
    """The simulator's condition-specific effect on pain: arm effect x condition modifier x ramp."""
    e = DEFAULT_EFFECTS["pain"][arm] * DEFAULT_MODIFIERS[arm][CONDITIONS.index(condition)]
    return float(e * (1.0 - np.exp(-WEEK[visit] / tau)))


def _result(variable, factors, linear):
    return linear if variable == "age" else factors


@pytest.mark.parametrize("variable", ["condition", "sex", "age"])
def test_fit_is_the_reference_fit(variable, factors, linear, reference):
    ref, fit = reference[variable], _result(variable, factors, linear).fits[variable]
    assert (fit.n_obs, fit.n_subjects) == (ref["n_obs"], ref["n_subjects"])
    ledger.check(
        f"{variable}: -2 REML log-likelihood", fit.neg2_log_lik, ref["neg2_log_lik_gls"], source=SOURCE, atol=1e-6
    )


@pytest.mark.parametrize("variable", ["condition", "sex", "age"])
def test_subgroup_contrasts_match_emmeans(variable, factors, linear, reference):
    res = _result(variable, factors, linear)
    e = res.effects[res.effects["variable"] == variable].set_index(["level", "visit", "arm"])
    with ledger.Batch() as b:
        for r in reference[variable]["contrasts"]:
            level = r[variable] if variable != "age" else f"age = {r[variable]}"
            ours = e.loc[(level, r["visit"], r["contrast"].split(" - ")[0])]
            q = f"{variable}: {r['contrast']} | {r['visit']}, {level}"
            b.check(q, ours["estimate"], r["estimate"], source=SOURCE, atol=TOL)
            b.check(f"{q}: SE", ours["std_error"], r["std_error"], source=SOURCE, atol=TOL)
            b.check(f"{q}: df", ours["df"], r["df"], source=SOURCE, rtol=1e-8)
            b.check(f"{q} (emmeans on gls)", ours["estimate"], r["estimate_gls"], source=SOURCE, atol=TOL_GLS)
            b.check(f"{q}: SE (emmeans on gls)", ours["std_error"], r["std_error_gls"], source=SOURCE, atol=TOL_GLS)
            b.check(
                f"{q}: df (emmeans satterthwaite)",
                ours["df"],
                r["emmeans_df"],
                source=SOURCE,
                rtol=0.02,
                note="emmeans' df for gls come from nlme's numerical apVar",
            )
    assert len(e) == len(reference[variable]["contrasts"])


@pytest.mark.parametrize("variable", ["condition", "sex", "age"])
def test_contrasts_of_contrasts_match_emmeans(variable, factors, linear, reference):
    res = _result(variable, factors, linear)
    i = res.interactions[res.interactions["variable"] == variable].set_index(["visit", "comparison", "levels"])
    refs = reference[variable]["interaction"]
    assert len(i) == len(refs)
    with ledger.Batch() as b:
        for r in refs:
            arm = r.get("arm_trt.vs.ctrl", r.get("contrast")).split(" - ")[0]
            levels = r[f"{variable}_pairwise"] if variable != "age" else "per 1 age"
            ours = i.loc[(r["visit"], f"{arm} vs usual_care", levels)]
            q = f"{variable}: ({arm} - usual_care) x ({levels}) | {r['visit']}"
            b.check(q, ours["estimate"], r["estimate"], source=SOURCE, atol=TOL)
            b.check(f"{q}: SE", ours["std_error"], r["std_error"], source=SOURCE, atol=TOL)
            b.check(f"{q}: df", ours["df"], r["df"], source=SOURCE, rtol=1e-8)
            b.check(f"{q} (emmeans on gls)", ours["estimate"], r["estimate_gls"], source=SOURCE, atol=TOL_GLS)


@pytest.mark.parametrize("variable", ["condition", "sex", "age"])
def test_interaction_tests_match_joint_tests(variable, factors, linear, reference):
    res = _result(variable, factors, linear)
    t = res.tests[res.tests["variable"] == variable].set_index(["term", "visit"])
    assert len(t) == len(reference[variable]["joint_tests"])
    with ledger.Batch() as b:
        for r in reference[variable]["joint_tests"]:
            ours = t.loc[(r["term"], r["visit"])]
            q = f"{variable}: F {r['term']} | {r['visit']}"
            b.check_equal(f"{q}: num df", int(ours["num_df"]), r["num_df"], source=SOURCE)
            b.check(q, ours["statistic"], r["statistic"], source=SOURCE, rtol=1e-8)
            b.check(f"{q}: den df", ours["den_df"], r["den_df"], source=SOURCE, rtol=1e-8)
            b.check(f"{q}: p", ours["p_value"], r["p_value"], source=SOURCE, atol=1e-10)
            b.check(
                f"{q} (emmeans joint_tests, printed to 3 decimals)",
                ours["statistic"],
                r["emmeans_F"],
                source=SOURCE,
                atol=5e-4,
            )


def test_overall_rows_are_the_model_without_the_subgroup(cohort, factors):
    fit = painstudy.mmrm("pain ~ pain_baseline + arm * visit + us(visit | subject)", cohort.analysis_data("pain"))
    con = fit.contrasts("arm", by="visit", method="trt.vs.ctrl", ref="usual_care")
    overall = factors.effects[factors.effects["variable"] == "overall"]
    assert list(overall["level"].unique()) == ["all"]
    assert np.allclose(overall["estimate"], con["estimate"], atol=1e-12)
    assert list(factors.effects.columns) == EFFECT_COLUMNS


def test_counts_add_up(cohort, factors):
    c = factors.counts
    n_all = c[c["variable"] == "overall"].set_index("arm")["n_subjects"]
    for variable in ("condition", "sex"):
        per_arm = c[c["variable"] == variable].groupby("arm")["n_subjects"].sum()
        assert per_arm.to_dict() == n_all.to_dict()
    e = factors.effects
    week52 = e[(e["variable"] == "condition") & (e["visit"] == "week52")]
    observed = cohort.analysis_data("pain").query("visit == 'week52'")
    for r in week52.itertuples():
        n = observed[(observed["condition"] == r.level) & (observed["arm"] == r.arm)]["subject"].nunique()
        assert r.n_arm == n


def test_condition_truth_is_recovered_on_the_demo(cohort):
    """The demo's condition-specific truth (arm effect x condition modifier x ramp) lies inside the 95%
    intervals as often as 95% intervals should: of the 45 intervals (3 conditions x 3 arms x 5 visits), at most
    6 miss (P(X >= 7) = 0.006 for X ~ Binomial(45, 0.05)); the demo has 4 misses."""
    res = subgroups(cohort, "pain", by="condition")
    e = res.effects[res.effects["variable"] == "condition"]
    truth = np.array([true_effect(a, c, v) for a, c, v in zip(e["arm"], e["level"], e["visit"])])
    inside = (e["ci_lower"].to_numpy() <= truth) & (truth <= e["ci_upper"].to_numpy())
    ledger.check(
        "demo: condition-specific truth outside the 95% CIs (of 45)",
        int((~inside).sum()),
        0,
        source="painstudy.simulate DEFAULT_EFFECTS x DEFAULT_MODIFIERS",
        atol=6,
        note="Binomial(45, 0.05): P(X >= 7) = 0.006",
    )
    # the condition with the largest modifier of mindfulness (fibromyalgia, 1.4) has the largest mindfulness
    # effect at week 52 and physiotherapy's weakest condition (fibromyalgia, 0.6) its smallest
    w = e[e["visit"] == "week52"].set_index(["arm", "level"])["estimate"]
    assert w["mindfulness"].idxmin() == "fibromyalgia"
    assert w["physiotherapy"].idxmax() == "fibromyalgia"


def test_continuous_categories_and_linear(cohort):
    res = subgroups(cohort, "pain", by=["age", "baseline"], bins={"age": [45, 60], "baseline": 2}, visits=["week52"])
    levels = res.counts[res.counts["variable"] == "age"]["level"].unique().tolist()
    assert levels == ["age < 45", "age 45 to < 60", "age >= 60"]
    assert res.counts[res.counts["variable"] == "baseline"]["level"].nunique() == 2
    ages = cohort.subjects.set_index("subject")["age"]
    data = cohort.analysis_data("pain").query("visit == 'week52'")
    young = data[data["subject"].map(ages) < 45]
    e = res.effects.query("variable == 'age' and level == 'age < 45' and arm == 'integrative'")
    assert e["n_arm"].iloc[0] == (young["arm"] == "integrative").sum()
    lin = subgroups(cohort, "pain", by="baseline", continuous="linear", visits=["week52"])
    q = np.quantile(cohort.subjects.dropna(subset=["pain_baseline"])["pain_baseline"], [0.25, 0.5, 0.75])
    assert len(lin.effects.query("variable == 'baseline'")) == 3 * 3 and np.isfinite(q).all()
    # linear: the effect at two values differs by the per-unit interaction times their distance
    lin2 = subgroups(cohort, "pain", by="age", continuous="linear", at=[40, 50], visits=["week52"])
    e = lin2.effects.query("variable == 'age' and arm == 'integrative'").set_index("level")["estimate"]
    slope = lin2.interactions.query("comparison == 'integrative vs usual_care'")["estimate"].iloc[0]
    assert e["age = 50"] - e["age = 40"] == pytest.approx(10 * slope, abs=1e-10)


def test_shrinkage_is_labelled_and_pulls_toward_the_mean(factors):
    s = factors.shrunken
    assert s is not None and set(s["variable"]) == {"condition", "sex"}
    for _, g in s.groupby(["variable", "visit", "comparison"]):
        target = g["target"].iloc[0]
        assert np.all(np.abs(g["shrunken_estimate"] - target) <= np.abs(g["estimate"] - target) + 1e-12)
        assert np.all((g["shrinkage"] >= 0) & (g["shrinkage"] <= 1))
    assert any("shrunken" in n for n in factors.notes)
    assert any(c.startswith("shrunken estimate") for c in factors.display_table().columns)
    text = str(factors)
    assert "shrunken" in text and "interaction p" in text


def test_shrink_normal_normal():
    # no heterogeneity beyond the noise: tau^2 = 0 and every estimate becomes the weighted mean
    r = shrink([1.0, 1.1, 0.9], [1.0, 1.0, 1.0])
    assert r["tau2"] == 0.0 and np.allclose(r["estimate"], 1.0) and np.allclose(r["shrinkage"], 1.0)
    # DerSimonian-Laird by hand: y = (0, 4), s = (1, 1): Q = 8, tau^2 = (8 - 1) / (2 - 1) = 7
    r = shrink([0.0, 4.0], [1.0, 1.0])
    assert r["tau2"] == pytest.approx(7.0) and r["target"] == pytest.approx(2.0)
    assert np.allclose(r["estimate"], [2 - 2 * 7 / 8, 2 + 2 * 7 / 8])
    var_mu = 1 / (2 / 8)
    assert np.allclose(r["std_error"], np.sqrt(7 / 8 + (1 / 8) ** 2 * var_mu))


def test_forest_plot(factors):
    ax = factors.plot(visit="week52")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert (
        labels[0] == "Overall" and "condition" in labels and any(lb.startswith("  fibromyalgia (n=") for lb in labels)
    )
    texts = [t.get_text() for t in ax.texts]
    p = factors.interaction_p("condition", "week52")
    assert any(t.startswith("interaction p") for t in texts) and len(texts) == 2 and 0 < p < 1
    ax2 = factors.plot(comparisons=["integrative vs usual_care"])
    assert "week52" in ax2.get_title()
    with pytest.raises(PainstudyError, match="no subgroup effects at visit 'week99'"):
        factors.plot(visit="week99")
    with pytest.raises(PainstudyError, match="comparisons \\['placebo vs usual_care'\\] are not in the result"):
        factors.plot(comparisons=["placebo vs usual_care"])


def test_bad_input_is_named(cohort):
    with pytest.raises(ModelError, match="by: 'smoker' is not a column of the cohort's subjects"):
        subgroups(cohort, "pain", by="smoker")
    with pytest.raises(ModelError, match="continuous must be 'categories' or 'linear'"):
        subgroups(cohort, "pain", by="age", continuous="spline")
    with pytest.raises(ModelError, match=r"'age' has \d+ distinct values .* too few for 500 quantile groups"):
        subgroups(cohort, "pain", by="age", bins=500)
    with pytest.raises(ModelError, match="visits \\['week99'\\] are not post-baseline visits"):
        subgroups(cohort, "pain", by="sex", visits=["week99"])
    # a level with no subjects in an arm: the men given mindfulness removed; an empty group of given cut points
    subj = cohort.subjects
    gone = subj[(subj["sex"] == "male") & (subj["arm"] == "mindfulness")]["subject"]
    smaller = cohort.subset(set(subj["subject"]) - set(gone), reason="test")
    with pytest.raises(ModelError, match="by: 'sex' level 'male' has no subjects in arm 'mindfulness'.*rule: every"):
        subgroups(smaller, "pain", by="sex")
    with pytest.raises(ModelError, match="by: 'age' level 'age >= 100' has no subjects in arm 'usual_care'"):
        subgroups(cohort, "pain", by="age", bins=[100])


def test_cli(capsys, tmp_path):
    from painstudy.cli import main

    out = tmp_path / "sub.json"
    assert main(["fit", "subgroups", "demo", "--outcome", "pain", "--by", "condition", "sex", "--visit", "week52",
                 "--json", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "Treatment effect by subgroup: pain" in text and "arm:condition" in text and "fibromyalgia" in text
    saved = json.loads(out.read_text())
    assert saved["study"] == "demo" and {"effects", "interaction tests", "counts"} <= set(saved["tables"])
    assert main(["fit", "subgroups", "demo", "--by", "smoker"]) == 1
    assert "'smoker' is not a column" in capsys.readouterr().err


# ---- coverage over simulated trials -------------------------------------------------------------------------------
N_TRIALS = 100
N_SUBJECTS = 240


def _trial(seed: int) -> pd.DataFrame:
    """One simulated trial's condition-specific intervals with the truth beside them."""
    trial = painstudy.simulate(n_subjects=N_SUBJECTS, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        cohort = painstudy.load_cohort(trial.write(Path(folder) / "trial"))
    e = subgroups(cohort, "pain", by="condition").effects.query("variable == 'condition'")
    tau = trial.params["tau"]
    truth = [true_effect(a, c, v, tau) for a, c, v in zip(e["arm"], e["level"], e["visit"])]
    return e.assign(truth=truth, seed=seed)[
        ["seed", "visit", "arm", "level", "estimate", "ci_lower", "ci_upper", "truth"]
    ]


@pytest.mark.slow
def test_condition_effects_coverage_over_seeds():
    """100 simulated trials of 240 subjects (simulate(seed=1..100)); the 95% intervals of the condition-specific
    effects (3 conditions x 3 arms x 5 visits) cover the simulator's truth within binomial noise of 95%: the
    bound is 3 binomial SEs with 9 intervals per trial counted (the visits of one trial are correlated)."""
    seeds = range(1, N_TRIALS + 1)
    cores = usable_cores()
    if sys.platform.startswith("linux") and cores > 1:
        with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_trial, seeds))
    else:
        parts = [_trial(s) for s in seeds]
    r = pd.concat(parts, ignore_index=True)
    covered = (r["ci_lower"] <= r["truth"]) & (r["truth"] <= r["ci_upper"])
    n_eff = N_TRIALS * 9
    bound = 3 * np.sqrt(0.95 * 0.05 / n_eff)
    source = f"painstudy.simulate (seeds 1-{N_TRIALS}, {N_SUBJECTS} subjects): DEFAULT_EFFECTS x DEFAULT_MODIFIERS"
    ledger.check(
        "coverage of the 95% CIs of the condition-specific effects (all visits)",
        float(covered.mean()),
        0.95,
        source=source,
        atol=bound,
        note=f"3 binomial SE with {n_eff} intervals",
    )
    week52 = r["visit"] == "week52"
    ledger.check(
        "coverage at week52",
        float(covered[week52].mean()),
        0.95,
        source=source,
        atol=3 * np.sqrt(0.95 * 0.05 / (N_TRIALS * 9)),
        note="3 binomial SE",
    )
    # and the estimates at week 52 are unbiased for the truth, per arm and condition (4 Monte Carlo SE)
    err = (r["estimate"] - r["truth"])[week52].groupby([r["arm"], r["level"]])
    assert (err.mean().abs() < 4 * err.std() / np.sqrt(N_TRIALS)).all(), err.mean()
