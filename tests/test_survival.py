"""Time-to-improvement analyses: properties, errors, plots and the command line.

Numbers against R are in test_survival_reference.py; here are identities that must hold
whatever the data (worked out from the definitions), argument checking, and the figures.
"""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData, time_to_improvement
from painstudy.models import survival as sv

matplotlib.use("Agg")


def visit_data(seed: int = 1, n: int = 90, weeks=(4, 8, 12, 26)) -> ImprovementData:
    """Every subject seen at every visit until improvement or dropout: no interval overlap."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = ["control", "single", "integrative"][i % 3]
        rate = {"control": 0.03, "single": 0.05, "integrative": 0.09}[arm]
        t_true = rng.exponential(1 / rate)
        drop_after = rng.choice(len(weeks) + 1, p=[0.05, 0.05, 0.05, 0.05, 0.8])
        seen = list(weeks[: max(drop_after, 0)] if drop_after < len(weeks) else weeks)
        hit = [w for w in seen if w >= t_true]
        if hit:
            k = seen.index(hit[0])
            rows.append((f"s{i}", arm, hit[0], 1, seen[k - 1] if k else 0.0, hit[0], 1))
        else:
            last = seen[-1] if seen else 0.0
            rows.append((f"s{i}", arm, last, 0, last, np.inf, 0 if last == weeks[-1] else 2))
    t = pd.DataFrame(rows, columns=["subject", "arm", "time", "event", "time_lower",
                                    "time_upper", "status"])
    t["baseline"] = rng.normal(6, 1, n)
    return ImprovementData.from_table(
        t, arms=["control", "single", "integrative"], reference="control",
        arm_classes={"control": "control", "single": "single-modality",
                     "integrative": "integrative"}, visit_weeks=weeks)


@pytest.fixture(scope="module")
def data():
    return visit_data()


def test_turnbull_equals_km_without_interval_overlap(data):
    # With everyone seen at every visit the innermost intervals are the visit intervals and
    # the NPMLE is the KM estimate at the visits (Turnbull 1976).
    km = sv.kaplan_meier(data).survival
    tb = sv.turnbull(data).table
    for _, r in tb.iterrows():
        k = km.loc[(km["arm"] == r["arm"]) & (km["time"] == r["right"]), "estimate"]
        assert r["estimate"] == pytest.approx(float(k.iloc[0]), abs=1e-9)


def test_cumulative_incidence_is_one_minus_km_without_competing_events(data):
    no_drop = dataclasses.replace(data, table=data.table.assign(
        status=data.table["status"].replace({2: 0})))
    aj = sv.cumulative_incidence(no_drop).table
    km = sv.kaplan_meier(no_drop).survival
    m = aj.merge(km, on=["arm", "time"], suffixes=("", "_km"))
    np.testing.assert_allclose(m["estimate"], 1 - m["estimate_km"], atol=1e-12)
    assert (aj["competing_estimate"] == 0).all()


def test_dropout_lowers_cumulative_incidence(data):
    aj = sv.cumulative_incidence(data).table
    km = sv.kaplan_meier(data).survival
    m = aj.merge(km, on=["arm", "time"], suffixes=("", "_km"))
    assert (m["estimate"] <= 1 - m["estimate_km"] + 1e-12).all()


def test_rmst_at_horizon_is_area_under_curve(data):
    res = sv.rmst(data, horizon=12)
    km = sv.kaplan_meier(data).survival
    for _, r in res.table.iterrows():
        s = km.loc[km["arm"] == r["arm"]]
        f = lambda t: float(s.loc[s["time"] <= t, "estimate"].iloc[-1])  # noqa: E731
        area = 4 * f(0) + 4 * f(4) + 4 * f(8)
        assert r["estimate"] == pytest.approx(area)
    assert set(res.differences["arm"]) == {"single", "integrative"}
    assert sv.rmst(data).horizon == 26


def test_logrank_default_pairs_are_integrative_vs_single_modality(data):
    lr = sv.logrank(data)
    # each integrative arm against each single-modality arm and the control (usual care)
    assert list(zip(lr.pairwise["arm"], lr.pairwise["reference"])) == [
        ("integrative", "control"), ("integrative", "single")]
    assert (lr.pairwise["p_adjusted"] >= lr.pairwise["p_value"]).all()
    b = sv.logrank(data, pairs="all", adjust="bonferroni").pairwise
    np.testing.assert_allclose(b["p_adjusted"], np.minimum(1, 3 * b["p_value"]))
    with pytest.raises(ModelError, match="adjust must be"):
        sv.logrank(data, adjust="fdr")
    with pytest.raises(ModelError, match="arm 'x' in pairs"):
        sv.logrank(data, pairs=[("x", "control")])


def test_cox_reports_ph_check_and_discrete_time_agrees_roughly(data):
    cox = sv.cox_ph(data, covariates=["baseline"])
    assert list(cox.ph_test.columns) == ["term", "statistic", "df", "p_value", "transform"]
    assert list(cox.ph_test["term"]) == ["arm[single]", "arm[integrative]", "baseline", "GLOBAL"]
    assert cox.ph_test["df"].tolist() == [1, 1, 1, 3]
    disc = sv.discrete_time_ph(data, covariates=["baseline"]).table.set_index("term")
    hr = cox.table.set_index("term")
    # the same PH model for grouped times: similar hazard ratios for the arms
    for term in ("arm[single]", "arm[integrative]"):
        assert abs(disc.loc[term, "estimate"] - hr.loc[term, "estimate"]) < 0.25
    assert cox.reference == "control" and cox.ties == "efron"


def test_person_period_rows(data):
    pp = sv.person_period(data)
    n_rows = data.table["time"].apply(lambda t: sum(w <= t for w in data.visit_weeks)).sum()
    assert len(pp) == n_rows
    assert pp["y"].sum() == data.table["event"].sum()


def test_kaplan_meier_options_and_errors(data):
    a = sv.kaplan_meier(data, conf_type="log-log").survival
    b = sv.kaplan_meier(data, conf_type="plain").survival
    ok = a["std_error"] > 0
    assert ((a.loc[ok, "ci_lower"] >= 0) & (a.loc[ok, "ci_upper"] <= 1)).all()
    assert (b["ci_lower"] >= 0).all()
    with pytest.raises(ModelError, match="conf_type must be"):
        sv.kaplan_meier(data, conf_type="logit")
    with pytest.raises(ModelError, match="conf_level must be between 0 and 1"):
        sv.kaplan_meier(data, conf_level=95)
    with pytest.raises(ModelError, match="expected ImprovementData"):
        sv.kaplan_meier(data.table)
    at = sv.kaplan_meier(data).at_risk
    assert list(at.loc[at["arm"] == "control", "time"]) == [0, 4, 8, 12, 26]


def test_model_errors():
    one = ImprovementData.from_table(pd.DataFrame({"arm": ["a", "a"], "time": [4.0, 8.0],
                                                   "event": [1, 0]}))
    with pytest.raises(ModelError, match="at least two arms"):
        sv.logrank(one)
    none = ImprovementData.from_table(pd.DataFrame({"arm": ["a", "b"], "time": [4.0, 8.0],
                                                    "event": [0, 0]}))
    with pytest.raises(ModelError, match="no subject improved"):
        sv.cox_ph(none)
    with pytest.raises(ModelError, match="unknown covariate 'age': .*available: baseline"):
        sv.cox_ph(none.replace(table=none.table.assign(event=[1, 0])), covariates=["age"])
    with pytest.raises(ModelError, match="horizon must be a positive"):
        sv.rmst(none, horizon=0)


def test_analysis_bundle_renders_and_serialises(data):
    res = sv.analyze_improvement(data)
    html = res._repr_html_()
    assert "<table" in html and "medians" in html
    d = res.to_dict()
    json.dumps(d)  # valid JSON (NaN -> None)
    assert {"events", "medians", "logrank_overall", "logrank_pairwise", "cox", "ph_test", "rmst",
            "rmst_differences", "discrete_time"} <= set(d["tables"])
    assert {"outcome", "threshold", "sustained", "reference", "subjects", "rmst_horizon"} <= set(d["facts"])
    assert d["facts"]["rmst_horizon"] == 26
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.km = None


# ------------------------------------------------------------------ plots
def test_km_plot_with_at_risk_table(demo_cohort, tmp_path):
    from painstudy.plotting import save_figure
    from painstudy.plotting.survival import plot_km

    d = time_to_improvement(demo_cohort, "pain", threshold="moderate")
    labels = {a.name: a.label for a in demo_cohort.spec.arms}
    curves = plot_km(d, labels=labels)
    fig = curves.figure
    assert fig.axes[0] is curves
    table = fig.axes[1]
    assert curves.get_ylabel() == "proportion improved"
    assert table.get_title(loc="left") == "number at risk"
    shown = sorted(t.get_text() for t in table.texts)
    at = sv.kaplan_meier(d).at_risk
    assert shown == sorted(str(int(n)) for n in at["n_risk"])
    assert [t.get_text() for t in table.get_yticklabels()] == list(labels.values())
    p1, p2 = save_figure(fig, tmp_path / "a.png"), save_figure(fig, tmp_path / "b.png")
    assert p1.read_bytes() == p2.read_bytes()
    plt.close(fig)
    fig2, ax = plt.subplots()
    assert plot_km(d, kind="survival", at_risk=False, ax=ax) is ax
    assert fig2.axes == [ax]
    assert ax.get_ylabel() == "proportion not yet improved"
    plt.close(fig2)


def test_cpra_cumulative_incidence_and_rate_plots(vickers_cohort, data):
    from painstudy.models.responders import responder_analysis
    from painstudy.plotting.responders import plot_cpra, plot_responder_rates
    from painstudy.plotting.survival import plot_cumulative_incidence

    res = responder_analysis(vickers_cohort, "headache_score", threshold=0.35,
                             covariates=["baseline"])
    ax = plot_cpra(res.cpra, marks=(35, 50))
    assert len(ax.get_lines()) == 4 and "month12" in ax.get_title()
    ax2 = plot_responder_rates(res.rates)
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["month3", "month12"]
    ax3 = plot_cumulative_incidence(data)
    assert len(ax3.get_lines()) == 6
    with pytest.raises(ModelError):
        plot_cpra(res.rates)
    plt.close("all")


# ------------------------------------------------------------------ command line
def test_cli_fit_improvement(tmp_path, capsys):
    from painstudy.cli import main

    out = tmp_path / "chow.json"
    png = tmp_path / "km.png"
    rc = main(["fit", "improvement", "chow2006", "--outcome", "vas", "--threshold", "30%",
               "--json", str(out), "--plot", str(png)])
    text = capsys.readouterr().out
    assert rc == 0
    for part in ("Median time to improvement", "not reached", "Log-rank", "Cox proportional",
                 "Restricted mean"):
        assert part in text
    d = json.loads(out.read_text())
    assert d["written_by"].startswith("painstudy")
    assert d["facts"]["threshold"] == "30% of baseline" and d["facts"]["reference"] == "sham"
    assert {r["arm"] for r in d["tables"]["medians"]} == {"sham", "laser"}
    assert {r["arm"] for r in d["tables"]["events"]} == {"sham", "laser"}
    assert png.exists() and png.stat().st_size > 0
    plt.close("all")


def test_cli_fit_improvement_errors(capsys):
    from painstudy.cli import main

    assert main(["fit", "improvement", "demo", "--outcome", "pain", "--threshold", "bogus"]) == 1
    err = capsys.readouterr().err
    assert "threshold 'bogus' is not a relative threshold" in err
    assert main(["fit", "improvement", "demo", "--outcome", "nope"]) == 1
    assert "study 'demo' has no outcome 'nope'; outcomes: pain, function, mme" in capsys.readouterr().err
