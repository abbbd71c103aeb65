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

from painstudy.errors import ModelError, PainstudyError
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
    t = pd.DataFrame(rows, columns=["subject", "arm", "time", "event", "time_lower", "time_upper", "status"])
    t["baseline"] = rng.normal(6, 1, n)
    return ImprovementData.from_table(
        t,
        arms=["control", "single", "integrative"],
        reference="control",
        arm_classes={"control": "control", "single": "single-modality", "integrative": "integrative"},
        visit_weeks=weeks,
    )


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
    no_drop = dataclasses.replace(data, table=data.table.assign(status=data.table["status"].replace({2: 0})))
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

        def f(t, s=s):
            return float(s.loc[s["time"] <= t, "estimate"].iloc[-1])

        area = 4 * f(0) + 4 * f(4) + 4 * f(8)
        assert r["estimate"] == pytest.approx(area)
    assert set(res.differences["arm"]) == {"single", "integrative"}
    assert sv.rmst(data).horizon == 26


def test_logrank_default_pairs_are_integrative_vs_single_modality(data):
    lr = sv.logrank(data)
    # each integrative arm against each single-modality arm and the control (usual care)
    assert list(zip(lr.pairwise["arm"], lr.pairwise["reference"])) == [
        ("integrative", "control"),
        ("integrative", "single"),
    ]
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
    one = ImprovementData.from_table(pd.DataFrame({"arm": ["a", "a"], "time": [4.0, 8.0], "event": [1, 0]}))
    with pytest.raises(ModelError, match="at least two arms"):
        sv.logrank(one)
    none = ImprovementData.from_table(pd.DataFrame({"arm": ["a", "b"], "time": [4.0, 8.0], "event": [0, 0]}))
    with pytest.raises(ModelError, match="no subject improved"):
        sv.cox_ph(none)
    with pytest.raises(ModelError, match="unknown covariate 'age': .*available: baseline"):
        sv.cox_ph(none.replace(table=none.table.assign(event=[1, 0])), covariates=["age"])
    with pytest.raises(ModelError, match="horizon must be a positive"):
        sv.rmst(none, horizon=0)


def test_analysis_bundle_renders_and_serialises(data):
    res = sv.analyze_improvement(data)
    html = res._repr_html_()
    assert "<table" in html and "Medians" in html
    d = res.to_dict()
    json.dumps(d)  # valid JSON (NaN -> None)
    assert {
        "events",
        "medians",
        "logrank_overall",
        "logrank_pairwise",
        "cox",
        "ph_test",
        "rmst",
        "rmst_differences",
        "discrete_time",
    } <= set(d["tables"])
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

    res = responder_analysis(vickers_cohort, "headache_score", threshold=0.35, covariates=["baseline"])
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
def test_cli_fit_improvement(tmp_path, capsys, shared):  # chow2006 is read from ../shared/datasets
    from painstudy.cli import main

    out = tmp_path / "chow.json"
    png = tmp_path / "km.png"
    rc = main(
        [
            "fit",
            "improvement",
            "chow2006",
            "--outcome",
            "vas",
            "--threshold",
            "30%",
            "--json",
            str(out),
            "--plot",
            str(png),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    for part in ("Median time to improvement", "not reached", "Log-rank", "Cox proportional", "Restricted mean"):
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


# ------------------------------------------------------------------ results that were silently wrong
def no_events_in_control(seed: int = 1, n: int = 30) -> ImprovementData:
    """Control: nobody improves (all censored at week 12); active: improvements at visits."""
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(2 * n)],
            "arm": ["control"] * n + ["active"] * n,
            "time": np.r_[np.full(n, 12.0), rng.choice([4.0, 8.0, 12.0], n)],
            "event": np.r_[np.zeros(n, int), rng.integers(0, 2, n)],
        }
    )
    t["baseline"] = rng.normal(6, 1, 2 * n)
    return ImprovementData.from_table(t, arms=["control", "active"], reference="control", visit_weeks=[4, 8, 12])


def test_rmst_horizon_beyond_follow_up_is_refused(data):
    # follow-up ends at week 26: week 500 would be an extrapolation of 474 weeks
    with pytest.raises(
        ModelError,
        match=r"RMST horizon 500 weeks is beyond the follow-up: arm 'control' "
        r"was followed to week 26.*at most 26 weeks.*extrapolate=True",
    ):
        sv.rmst(data, horizon=500)
    res = sv.rmst(data, horizon=500, extrapolate=True)
    assert res.extrapolated and res.table["extrapolated"].all() and res.differences["extrapolated"].all()
    assert any("extrapolated beyond follow-up" in n for n in res.notes)
    assert "extrapolated beyond follow-up" in str(res)
    # carried forward: the area from 26 to 500 is 474 * S(26)
    within = sv.rmst(data, horizon=26).table.set_index("arm")
    km = sv.kaplan_meier(data).survival
    for arm, r in res.table.set_index("arm").iterrows():
        s26 = float(km.loc[km["arm"] == arm, "estimate"].iloc[-1])
        assert r["estimate"] == pytest.approx(within.loc[arm, "estimate"] + 474 * s26)
    assert not sv.rmst(data, horizon=26).extrapolated
    with pytest.raises(ModelError, match="reference arm 'nope' has no subjects"):
        sv.rmst(data, reference="nope")


def test_rmst_default_horizon_stays_within_follow_up(data):
    # the control arm stops at week 12: the default horizon follows it, and says so
    short = data.table.copy()
    short.loc[short["arm"] == "control", "time"] = np.minimum(short.loc[short["arm"] == "control", "time"], 12.0)
    res = sv.rmst(data.replace(table=short))
    assert res.horizon == 12 and not res.extrapolated
    assert any("horizon set to week 12" in n and "control" in n for n in res.notes)
    # a curve that reaches 0 is known beyond its last time: no extrapolation there
    done = ImprovementData.from_table(
        pd.DataFrame({"arm": ["a", "a", "b", "b"], "time": [4.0, 8.0, 4.0, 20.0], "event": [1, 1, 0, 1]})
    )
    assert not sv.rmst(done, horizon=20).extrapolated


def test_misspelled_covariate_is_named_not_silently_dropped(data):
    with pytest.raises(ModelError, match=r"unknown covariate 'basline': .*available: baseline"):
        sv.cox_ph(data, covariates=["basline"])
    with pytest.raises(ModelError, match=r"unknown covariate 'basline'"):
        sv.discrete_time_ph(data, covariates=["basline"])
    # the bundle used to catch this and report "no Cox model": now the user hears the real reason
    with pytest.raises(ModelError, match=r"unknown covariate 'basline'"):
        sv.analyze_improvement(data, covariates=["basline"])


def test_arm_without_improvement_is_refused_with_the_reason():
    d = no_events_in_control()
    for fit, name in ((sv.cox_ph, "Cox model"), (sv.discrete_time_ph, "discrete-time model")):
        with pytest.raises(
            ModelError,
            match=rf"{name}: no subject improved in arm\(s\) 'control' \(0 of 30\).*"
            r"0 or infinite \(monotone likelihood\)",
        ):
            fit(d, covariates=["baseline"])
    res = sv.analyze_improvement(d)  # no warning escapes (warnings are errors in this test run)
    assert res.cox is None and res.discrete is None
    notes = res.tidy().notes
    assert any(n.startswith("Cox model: no subject improved in arm(s) 'control'") for n in notes)
    assert any(n.startswith("discrete-time model: no subject improved") for n in notes)
    assert res.logrank.overall["p_value"].iloc[0] < 0.01  # the log-rank test still answers
    assert "Notes:" in str(res) and "monotone likelihood" in res._repr_html_()


def test_separation_in_the_discrete_time_model_is_refused():
    # every subject at risk at week 4 in arm b improves: the period x arm cell is separated
    t = pd.DataFrame(
        {
            "arm": ["a"] * 6 + ["b"] * 6,
            "time": [4, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4.0],
            "event": [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
        }
    )
    d = ImprovementData.from_table(t, visit_weeks=[4, 8])
    with pytest.raises(ModelError, match=r"discrete-time model: the estimates of .*arm\[b\].* are infinite"):
        sv.discrete_time_ph(d)


def test_bad_arguments_are_errors_not_ignored(data):
    with pytest.raises(ModelError, match="ph_transform must be one of"):
        sv.cox_ph(data, ph_transform="kaplan")
    with pytest.raises(ModelError, match="at_risk_times must be finite and >= 0"):
        sv.kaplan_meier(data, at_risk_times=[-1, 4])
    with pytest.raises(ModelError, match=r"pairs: \('control', 'control'\) compares an arm with itself"):
        sv.logrank(data, pairs=[("control", "control")])
    off = data.replace(table=data.table.assign(time=data.table["time"] + 1.0))
    with pytest.raises(ModelError, match=r"improved at week \d+, which is not a visit week of the grid"):
        sv.person_period(off)
    bad = data.table.copy()
    i = bad.index[bad["event"] == 1][0]
    bad.loc[i, "time_lower"] = bad.loc[i, "time_upper"] + 1
    with pytest.raises(ModelError, match=r"time_lower <= time_upper"):
        sv.turnbull(data.replace(table=bad))
    with pytest.raises(ModelError, match=r"status .* must be 1 \(improved\) exactly when event is 1"):
        sv.cumulative_incidence(data.replace(table=data.table.assign(status=7)))


def test_results_render_through_one_rule(data):
    from painstudy.rendering import Rendered

    res = sv.analyze_improvement(data)
    parts = [res, res.km, res.logrank, res.cox, res.rmst, res.discrete, res.turnbull, res.incidence, data]
    for part in parts:
        assert isinstance(part, Rendered)
        assert type(part).__repr__ is Rendered.__repr__  # no class re-declares it
        t = part.tidy()
        assert t.tables and str(part).startswith(t.title)
        json.dumps(part.to_dict())
    assert list(res.km.to_frame().columns) == ["arm", "n", "events", "median", "ci_lower", "ci_upper"]


def test_public_names_stay_importable():
    import painstudy
    from painstudy.models.survival import (  # noqa: F401
        CoxResult,
        ImprovementAnalysis,
        analyze_improvement,
        cox_zph,
        json_records,
        kaplan_meier,
        person_period,
    )

    assert painstudy.kaplan_meier is kaplan_meier and painstudy.analyze_improvement is analyze_improvement
    assert json_records(pd.DataFrame({"x": [1.0, np.nan]})) == [{"x": 1.0}, {"x": None}]


# ------------------------------------------------------------------ plots: one palette, Axes everywhere
def test_plots_take_an_axes_return_it_and_share_the_arm_colours(data):
    from matplotlib.colors import to_hex

    from painstudy.plotting.style import PALETTE, arm_colours
    from painstudy.plotting.survival import plot_cumulative_incidence, plot_km

    res = sv.analyze_improvement(data)
    colours = arm_colours(data.arms)
    assert colours == {"control": PALETTE[0], "single": PALETTE[1], "integrative": PALETTE[2]}
    for plot in (plot_km, plot_cumulative_incidence):
        fig, ax = plt.subplots()
        assert plot(res, ax=ax) is ax
        drawn = {line.get_label().split(":")[0]: to_hex(line.get_color()) for line in ax.get_lines()}
        assert {arm: drawn[arm] for arm in data.arms} == {a: c.lower() for a, c in colours.items()}
        plt.close(fig)
    with pytest.raises(PainstudyError, match=r"labels for unknown arm\(s\) 'integrativ'"):
        plot_km(res, labels={"integrativ": "Integrative"})
    plt.close("all")


def test_save_figure_formats_and_files_it_did_not_write(tmp_path, data):
    from painstudy.errors import DataFileError
    from painstudy.plotting import save_figure, written_by_painstudy
    from painstudy.plotting.survival import plot_km

    ax = plot_km(data)
    for ext in ("png", "svg", "pdf"):
        p = save_figure(ax.figure, tmp_path / f"km.{ext}")
        assert written_by_painstudy(p)
        first = p.read_bytes()
        save_figure(ax, p)  # its own file: replaced, byte-identical
        assert p.read_bytes() == first
    with pytest.raises(
        DataFileError, match=r"km\.jpg: unsupported figure format \('\.jpg'\); supported: png, svg, pdf"
    ):
        save_figure(ax.figure, tmp_path / "km.jpg")
    theirs = tmp_path / "theirs.png"
    theirs.write_bytes(b"not painstudy's")
    with pytest.raises(DataFileError, match="was not written by painstudy; refusing to overwrite"):
        save_figure(ax.figure, theirs)
    assert theirs.read_bytes() == b"not painstudy's"
    plt.close("all")


# ------------------------------------------------------------------ command line: errors, notes, files
def no_improvement_study(folder) -> str:
    """A study.yml + data.csv in which nobody in the control arm improves."""
    import yaml

    weeks = {"baseline": 0, "week4": 4, "week8": 8, "week12": 12}
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        arm = "control" if i < 20 else "active"
        base = float(rng.integers(6, 10))
        for visit, w in weeks.items():
            drop = 0.0 if arm == "control" or w == 0 else rng.uniform(0, 0.25 * w / 4)
            rows.append({"id": f"s{i}", "group": arm, "visit": visit, "score": round(base * (1 - drop), 1)})
    pd.DataFrame(rows).to_csv(folder / "data.csv", index=False)
    study = {
        "name": "noimp",
        "title": "no improvement under control",
        "subject": "id",
        "arm": {"column": "group"},
        "arms": [
            {"name": "control", "label": "Control", "modalities": ["usual_care"], "control": True},
            {"name": "active", "label": "Active", "modalities": ["acupuncture"]},
        ],
        "visit": {"column": "visit"},
        "visits": [{"name": n, "week": w, "baseline": w == 0} for n, w in weeks.items()],
        "outcomes": {"pain": {"instrument": "nrs", "column": "score"}},
        "data": {"file": "data.csv", "layout": "long"},
    }
    (folder / "study.yml").write_text(yaml.safe_dump(study, sort_keys=False))
    return str(folder / "study.yml")


def test_cli_prints_notes_instead_of_warnings(tmp_path, capsys):
    from painstudy.cli import main

    study = no_improvement_study(tmp_path)
    out = tmp_path / "res.json"
    rc = main(["fit", "improvement", study, "--json", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "Warning" not in cap.err and "Traceback" not in cap.err
    assert "Cox model: not fitted (the reason is in the notes below)" in cap.out
    assert "note: Cox model: no subject improved in arm(s) 'control' (0 of 20)" in cap.out
    d = json.loads(out.read_text())
    assert any("monotone likelihood" in n for n in d["notes"])


def test_cli_output_files_and_user_errors(tmp_path, capsys, shared):  # chow2006 is read from ../shared/datasets
    from painstudy.cli import main

    base = ["fit", "improvement", "chow2006", "--outcome", "vas", "--threshold", "30%"]
    # an unknown figure format: one line listing the supported ones, before any work
    assert main([*base, "--plot", str(tmp_path / "km.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "supported: png, svg, pdf" in err
    # files painstudy did not write are never replaced
    for opt, name in (("--plot", "mine.png"), ("--json", "mine.json")):
        theirs = tmp_path / name
        theirs.write_text("{}" if name.endswith("json") else "a user's picture")
        before = theirs.read_bytes()
        assert main([*base, opt, str(theirs)]) == 1
        assert "refusing to overwrite" in capsys.readouterr().err
        assert theirs.read_bytes() == before
    # RMST beyond follow-up: refused, unless asked for, and then the output says so
    assert main([*base, "--horizon", "500"]) == 1
    assert "RMST horizon 500 weeks is beyond the follow-up" in capsys.readouterr().err
    assert main([*base, "--horizon", "500", "--extrapolate"]) == 0
    out = capsys.readouterr().out
    assert "to week 500, extrapolated beyond follow-up" in out and "note: RMST extrapolated" in out
    assert main([*base, "--covariates", "basline"]) == 1
    assert "unknown covariate 'basline'" in capsys.readouterr().err
    plt.close("all")


def test_cli_every_option_has_help():
    import argparse

    from painstudy.cli.fit_improvement import register

    sub = register(argparse.ArgumentParser().add_subparsers())
    options = [a for a in sub._actions if a.dest != "help"]
    assert len(options) >= 12
    for action in options:
        assert action.help and len(action.help) > 15, action.dest
