"""Intercurrent events and estimands (ICH E9(R1)): declared in study.yml, derived per strategy, printed with
every result and written into the manifest; broken event tables are named errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.errors import CohortError, ModelError, StudySpecError
from painstudy.estimands import apply_estimand, estimand_for, governing_events
from painstudy.models.responders import responders

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "painstudy" / "datasets" / "studies" / "demo"


def _study(tmp_path: Path, extra: str = "", events: str | None = None) -> Path:
    """A copy of the demo study with ``extra`` replacing its intercurrent events and estimands."""
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(DEMO / "data.csv", folder / "data.csv")
    text = (DEMO / "study.yml").read_text()
    text = text[: text.index("intercurrent_events:")] + "data:\n  file: data.csv\n  layout: long\n" + extra
    (folder / "study.yml").write_text(text)
    if events is not None:
        (folder / "events.csv").write_text(events)
    return folder / "study.yml"


@pytest.fixture(scope="module")
def demo():
    return painstudy.load_cohort("demo")


def test_demo_declares_withdrawal_as_discontinuation(demo):
    ev = demo.events
    withdrawn = demo.subjects[demo.subjects["withdrawn"]]
    assert list(ev.columns) == ["subject", "event", "visit", "source"]
    assert set(ev["subject"]) == set(withdrawn["subject"]) and (ev["event"] == "discontinuation").all()
    # the first affected visit is the first scheduled visit after the last assessed one
    order = demo.spec.visit_names
    last = withdrawn.set_index("subject")["last_visit"]
    for r in ev.itertuples():
        assert order.index(r.visit) == order.index(last[r.subject]) + 1
    est = estimand_for(demo, "pain")
    assert est.declared and est.strategies == {"discontinuation": "hypothetical"}
    assert str(est).startswith("population: all randomised subjects (400); variable: Pain intensity")
    assert "discontinuation (83 subjects): hypothetical" in str(est)


def test_hypothetical_sets_observed_values_aside(tmp_path):
    """Rescue analgesia at week12 for two subjects who were assessed afterwards: a hypothetical strategy
    takes their week12-week52 values out of the MMRM; treatment policy keeps them."""
    events = "subject,event,visit\nS0001,rescue_analgesia,week12\nS0002,Rescue analgesia,week12\n"
    yml = _study(
        tmp_path,
        "intercurrent_events:\n  file: events.csv\n"
        "estimands:\n  pain:\n    strategies: {rescue_analgesia: hypothetical}\n",
        events,
    )
    cohort = painstudy.load_cohort(yml)
    assert list(cohort.events["event"]) == ["rescue_analgesia", "rescue_analgesia"]
    assert cohort.events["source"].iloc[0].endswith("events.csv line 2")
    observed = cohort.visits[cohort.visits["subject"].isin(["S0001", "S0002"])]
    later = observed["visit"].isin(["week12", "week26", "week52"]) & observed["pain"].notna()
    n_later = int(later.sum())
    assert n_later >= 4
    derived, est = apply_estimand(cohort, estimand_for(cohort, "pain"))
    d = derived.visits.set_index(["subject", "visit"], drop=False)
    for s in ("S0001", "S0002"):
        for v in ("week12", "week26", "week52"):
            assert np.isnan(d.loc[(s, v), "pain"]) and np.isnan(d.loc[(s, v), "pain_change"])
        assert d.loc[(s, "week4"), "pain"] == cohort.visits.set_index(["subject", "visit"]).loc[(s, "week4"), "pain"]
    assert est.derivation[0].startswith(f"{n_later} observed value(s)")
    assert (derived.exclusions["rule"] == "estimand of pain: hypothetical").any()
    hyp = painstudy.compare_arms(cohort, ["pain"], visits=["week52"])
    tp = painstudy.compare_arms(cohort, ["pain"], visits=["week52"], estimand="treatment_policy")
    assert hyp.fits["pain"].n_obs == tp.fits["pain"].n_obs - n_later
    assert hyp.table["estimate"].iloc[0] != tp.table["estimate"].iloc[0]
    facts = dict(hyp.tidy().facts)
    assert facts["intercurrent events (pain)"] == "rescue analgesia (2 subjects): hypothetical"
    assert "treatment policy" in dict(tp.tidy().facts)["intercurrent events (pain)"]
    assert any(n.startswith("estimand (pain): population: all randomised") for n in hyp.tidy().notes)


def test_composite_is_worst_score_and_non_response(tmp_path, demo):
    est = estimand_for(demo, "pain", {"discontinuation": "composite"})
    derived, est = apply_estimand(demo, est)
    v, d = demo.visits, derived.visits
    gov = governing_events(demo, est)
    order = demo.spec.visit_names
    for r in gov.head(20).itertuples():
        rows = v[v["subject"] == r.subject].set_index("visit")["pain"]
        before = rows[[x for x in order if order.index(x) < order.index(r.visit)]]
        worst = np.nanmax(before.to_numpy(float))
        after = d[(d["subject"] == r.subject) & d["visit"].isin(order[order.index(r.visit) :])]
        assert (after["pain"] == worst).all()
        assert np.allclose(after["pain_change"], worst - rows["baseline"])
    assert "counts as failure" in est.variable
    # a composite event is a non-responder: never better than its baseline, so no improvement threshold is met
    flags = responders(demo, "pain", population="assessed", estimand={"discontinuation": "composite"}).table
    at_events = flags[flags["subject"].isin(gov["subject"]) & (flags["visit"] == "week52")]
    assert len(at_events) == len(gov) and (at_events["responder"] == 0).all()
    facts = dict(responders(demo, "pain", estimand="composite").facts())
    assert "composite" in facts["intercurrent events"]
    from painstudy.models.responders import responder_analysis

    notes = responder_analysis(demo, "pain", estimand="composite").tidy().notes
    assert any(n.startswith("estimand: population") and "composite" in n for n in notes)


def test_estimand_arguments_are_checked(demo):
    with pytest.raises(ModelError, match="unknown strategy 'jump'"):
        estimand_for(demo, "pain", "jump")
    with pytest.raises(ModelError, match="unknown intercurrent event 'dropout'"):
        estimand_for(demo, "pain", {"dropout": "hypothetical"})
    with pytest.raises(ModelError, match="estimand of 'pain', not of 'function'"):
        estimand_for(demo, "function", estimand_for(demo, "pain"))


def test_study_without_events_states_so():
    cohort = painstudy.load_cohort("fev")
    est = estimand_for(cohort, cohort.outcomes[0])
    assert est.events_text() == "none declared (missing outcomes: missing at random)" and not est.declared
    assert cohort.events.empty


def test_broken_events_table_names_every_problem(tmp_path, capsys):
    events = (
        "subject,event,visit\n"
        "S0001,rescue_analgesia,week12\n"
        "S9999,rescue_analgesia,week12\n"  # not in the data
        "S0002,headache,week12\n"  # unknown event
        "S0003,rescue_analgesia,week13\n"  # not a scheduled visit
        "S0004,rescue_analgesia,baseline\n"  # baseline is not affected by an event
        "S0001,rescue_analgesia,week26\n"  # the same event twice
    )
    yml = _study(tmp_path, "intercurrent_events:\n  file: events.csv\n", events)
    with pytest.raises(CohortError) as err:
        painstudy.load_cohort(yml)
    f = err.value.failures
    assert list(f["code"]) == ["event_subject", "unknown_event", "event_visit", "event_visit", "duplicate_event"]
    assert list(f["line"]) == [3, 4, 5, 6, 7]
    assert f["file"].str.endswith("events.csv").all()
    assert "the baseline visit" in f["rule"].iloc[3]
    assert main(["validate", str(yml)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "events.csv" in out.out + out.err


def test_events_table_missing_column(tmp_path):
    yml = _study(tmp_path, "intercurrent_events:\n  file: events.csv\n", "subject,event\nS0001,death\n")
    with pytest.raises(CohortError, match="1 problem") as err:
        painstudy.load_cohort(yml)
    assert list(err.value.failures["code"]) == ["event_columns"]


def test_events_file_outside_the_study_folder_is_refused(tmp_path):
    yml = _study(tmp_path, "intercurrent_events:\n  file: ../events.csv\n")
    (tmp_path / "events.csv").write_text("subject,event,visit\n")
    with pytest.raises(StudySpecError, match="outside the study folder"):
        painstudy.load_cohort(yml)


@pytest.mark.parametrize(
    "extra, code, where",
    [
        (
            "intercurrent_events:\n  withdrawal: {event: dropout}\n",
            "invalid_value",
            "intercurrent_events.withdrawal.event",
        ),
        (
            "intercurrent_events:\n  withdrawal: {}\nestimands:\n  sleep: {strategies: {death: composite}}\n",
            "unknown_outcome",
            "estimands.sleep",
        ),
        ("estimands:\n  pain: {strategies: {death: composite}}\n", "missing_key", "estimands"),
        (
            "intercurrent_events:\n  withdrawal: {}\nestimands:\n  pain: {strategies: {death: jump}}\n",
            "invalid_value",
            "estimands.pain.strategies.death",
        ),
        ("intercurrent_events: {}\n", "missing_key", "intercurrent_events"),
    ],
)
def test_study_yml_rules(tmp_path, extra, code, where):
    yml = _study(tmp_path, extra)
    with pytest.raises(StudySpecError) as err:
        painstudy.read_study(yml)
    assert (code, where) in [(p.code, p.field) for p in err.value.problems], err.value.problems


def test_round_trip_keeps_the_estimands():
    from painstudy.study import spec_from_dict, spec_to_dict

    spec = painstudy.read_study(DEMO / "study.yml")
    again = spec_from_dict(spec_to_dict(spec), root=spec.root)
    assert again.estimands == spec.estimands and again.events == spec.events
    assert again.estimands["pain"].sensitivity == ("JR", "CR", "CIR")


def test_sensitivity_uses_the_declared_events(tmp_path):
    """Reference-based imputation acts from each hypothetical event's visit on: rescue analgesia at week12
    sets aside two subjects' later values, which JR then imputes; the composite-free withdrawals stay as
    declared."""
    events = "subject,event,visit\nS0001,rescue_analgesia,week12\nS0002,rescue_analgesia,week12\n"
    yml = _study(
        tmp_path,
        "intercurrent_events:\n  file: events.csv\n"
        "estimands:\n  pain:\n    strategies: {rescue_analgesia: hypothetical}\n    sensitivity: [JR]\n",
        events,
    )
    cohort = painstudy.load_cohort(yml)
    res = painstudy.sensitivity_analyses(cohort, "pain", legacy=(), deltas=[0.0, 1.0])
    assert res.estimand["intercurrent events"] == "rescue analgesia (2 subjects): hypothetical"
    assert "for the 2 subjects" in res.estimand["strategy"]
    assert list(dict.fromkeys(res.table["analysis"].str.split(" ").str[0])) == ["primary:", "MAR", "JR"]
    jr = res.results["JR"]
    assert jr.strategies == {"JR": 2}


def test_manifest_records_the_estimands(tmp_path):
    from painstudy.study import estimands_of

    spec = painstudy.read_study(DEMO / "study.yml")
    got = estimands_of(spec)
    assert got["intercurrent_events"] == {"withdrawal": {"event": "discontinuation", "reasons": {}}}
    assert got["estimands"]["pain"]["strategies"] == {"discontinuation": "hypothetical"}
    assert estimands_of(painstudy.read_study(ROOT / "painstudy" / "datasets" / "studies" / "fev" / "study.yml")) == {}


def test_cli_fit_compare_prints_and_writes_the_estimand(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    assert main(["fit", "compare", "demo", "--outcomes", "pain", "--visits", "week52", "--json", "c.json"]) == 0
    out = capsys.readouterr().out
    assert "estimand (pain): population: all randomised subjects (400)" in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["estimands"]["pain"]["strategies"] == {"discontinuation": "hypothetical"}
    assert main(["fit", "compare", "demo", "--outcomes", "pain", "--estimand", "composite"]) == 0
    assert "composite" in capsys.readouterr().out


def test_subset_keeps_events_of_its_subjects(demo):
    sub = demo.subset(demo.subjects["subject"].iloc[:50])
    assert set(sub.events["subject"]) <= set(sub.subjects["subject"])
    assert len(sub.events) == int(pd.Series(demo.events["subject"]).isin(sub.subjects["subject"]).sum())
