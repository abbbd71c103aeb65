"""Event derivation for time to improvement (painstudy.improvement.time_to_improvement).

Expected values are worked out by hand from the small stand-in cohort below, and (for Chow
2006) recomputed directly from the raw file with pandas, independently of the cohort loader.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import ModelError, PainstudyError, StudySpecError
from painstudy.improvement import ImprovementData, resolve_threshold, time_to_improvement
from painstudy.study import spec_from_dict

INF = np.inf


def fake_cohort(scores: dict[str, list], arms: dict[str, str], *, lower_is_better=True):
    """A real Cohort, loaded from a small long table by a study definition written here.

    scores: subject -> [baseline, week4, week8, week12] (None = not assessed). The outcome
    ``pain`` is on the NRS (0-10, lower is better: thresholds moderate 30 %, substantial 50 %,
    mcid 2 points) or, with ``lower_is_better=False``, on an SF-36 scale (0-100, higher is better);
    both start at 0, so the relative improvement is the change over the baseline value.
    """
    weeks = [0, 4, 8, 12]
    names = ["baseline", "week4", "week8", "week12"]
    study = {
        "name": "fake",
        "title": "fake",
        "subject": "id",
        "arm": {"column": "group"},
        "arms": [
            {"name": "control", "label": "Control", "modalities": ["usual_care"], "control": True},
            {"name": "active", "label": "Active", "modalities": ["acupuncture"]},
        ],
        "visit": {"column": "visit"},
        "visits": [{"name": n, "week": w, "baseline": w == 0} for n, w in zip(names, weeks)],
        "outcomes": {"pain": {"instrument": "nrs" if lower_is_better else "sf36", "column": "score"}},
        "covariates": {"age": {"column": "age", "type": "numeric"}},
        "disposition": {"withdrawal_reason": "reason"},
        "data": {"layout": "long"},
    }
    rows = []
    for i, (s, vals) in enumerate(scores.items()):
        last = max(w for w, v in zip(weeks, vals) if v is not None)
        for n, v in zip(names, vals):
            if v is not None:
                rows.append(
                    {
                        "id": s,
                        "group": arms[s],
                        "visit": n,
                        "score": float(v),
                        "age": 40.0 + i,
                        "reason": None if last == 12 else "lost",
                    }
                )
    return painstudy.load_cohort(spec_from_dict(study), data=pd.DataFrame(rows))


SCORES = {
    # subject: baseline, week4, week8, week12    -> moderate (30 %) improvement
    "a": [10, 6, 5, 5],  # 40 % at week 4: event at 4, interval (0, 4]
    "b": [10, None, 6, 6],  # missed week 4, 40 % at week 8: event at 8, interval (0, 8]
    "c": [10, 9, 7, 8],  # exactly 30 % at week 8 (counts), lost at 12: event at 8
    "d": [10, 9, 9, 9],  # never: censored at 12, completer
    "e": [10, 9, None, None],  # dropout after week 4: censored at 4, status 2
    "f": [10, None, None, None],  # no follow-up: censored at 0, status 2
    "g": [10, 9, 9, 6],  # event at 12, interval (8, 12]
}
ARMS = {"a": "active", "b": "active", "c": "active", "d": "control", "e": "control", "f": "control", "g": "control"}


@pytest.fixture()
def cohort():
    return fake_cohort(SCORES, ARMS)


def row(data: ImprovementData, subject: str) -> pd.Series:
    return data.table.set_index("subject").loc[subject]


def test_events_times_and_intervals(cohort):
    data = time_to_improvement(cohort, "pain", threshold="moderate")
    expected = {  # time, event, lower, upper, status
        "a": (4, 1, 0, 4, 1),
        "b": (8, 1, 0, 8, 1),
        "c": (8, 1, 4, 8, 1),
        "d": (12, 0, 12, INF, 0),
        "e": (4, 0, 4, INF, 2),
        "f": (0, 0, 0, INF, 2),
        "g": (12, 1, 8, 12, 1),
    }
    for s, (t, e, lo, hi, st) in expected.items():
        r = row(data, s)
        assert (r["time"], r["event"], r["time_lower"], r["time_upper"], r["status"]) == (t, e, lo, hi, st), s
    assert list(data.table.columns[:7]) == ["subject", "arm", "arm_class", "time", "event", "time_lower", "time_upper"]
    assert row(data, "e")["dropout"] and not row(data, "d")["dropout"]
    assert row(data, "e")["withdrawal_reason"] == "lost"
    assert data.reference == "control"
    assert data.visit_weeks == (4.0, 8.0, 12.0)
    assert "age" in data.covariates and "age" in data.table.columns
    assert row(data, "a")["baseline"] == 10


def test_sustained_requires_improvement_at_every_later_visit(cohort):
    data = time_to_improvement(cohort, "pain", threshold=0.3, sustained=True)
    # c improved at 8 but not at 12: no sustained improvement -> censored at 12 (completer)
    r = row(data, "c")
    assert (r["event"], r["time"], r["status"]) == (0, 12, 0)
    # a holds its improvement: still an event at 4
    assert (row(data, "a")["event"], row(data, "a")["time"]) == (1, 4)
    assert data.sustained


def test_substantial_and_absolute_thresholds(cohort):
    sub = time_to_improvement(cohort, "pain", threshold="substantial")
    assert row(sub, "a")["time"] == 8 and row(sub, "a")["event"] == 1  # 50 % at week 8
    assert row(sub, "b")["event"] == 0
    pts = time_to_improvement(cohort, "pain", threshold="mcid", relative=False)
    assert row(pts, "e")["event"] == 0  # 1 point only
    assert row(pts, "c")["time"] == 8  # 3 points at week 8
    val = time_to_improvement(cohort, "pain", threshold=4, relative=False)
    assert row(val, "g")["time"] == 12 and row(val, "c")["event"] == 0


def test_higher_is_better_direction():
    scores = {"x": [40, 45, 53, 60], "y": [40, 30, 20, 10]}
    c = fake_cohort(scores, {"x": "active", "y": "control"}, lower_is_better=False)
    data = time_to_improvement(c, "pain", threshold=0.3)
    assert (row(data, "x")["time"], row(data, "x")["event"]) == (8, 1)  # +32.5 % at week 8
    assert row(data, "y")["event"] == 0  # got worse


def test_result_is_immutable_and_renders(cohort):
    data = time_to_improvement(cohort, "pain")
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.threshold = 0.5
    assert "<table" in data._repr_html_()
    assert repr(data).startswith("<ImprovementData: Time to improvement in pain; study fake")
    s = data.event_counts()
    assert s.set_index("arm").loc["active", "improved"] == 3
    assert s.set_index("arm").loc["control", "dropout"] == 2
    assert data.to_frame().equals(s)  # one rendering rule: the tables of tidy()
    facts = data.to_dict()["facts"]
    assert facts["threshold"] == "30% of baseline" and facts["reference"] == "control"
    assert "censored" in str(data)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(threshold="huge"), r"threshold 'huge' is not a relative threshold .*moderate"),
        (dict(threshold="moderate", relative=False), r"not an absolute threshold.*\['mcid'\]"),
        (dict(threshold=30), "relative threshold 30 is above 1"),
        (dict(threshold=-0.2), "threshold must be a positive number"),
        (dict(threshold=[1]), "threshold must be a name or a number"),
    ],
)
def test_bad_arguments_raise_model_error(cohort, kwargs, match):
    with pytest.raises(ModelError, match=match):
        time_to_improvement(cohort, "pain", **kwargs)
    assert issubclass(ModelError, PainstudyError)


def test_unknown_outcome_is_the_study_error(cohort):
    # one "unknown outcome" message for the whole toolkit: StudySpec.outcome
    with pytest.raises(StudySpecError, match="study 'fake' has no outcome 'nope'; outcomes: pain"):
        time_to_improvement(cohort, "nope")


def test_resolve_threshold_numbers():
    inst = SimpleNamespace(name="x", relative={"moderate": 0.3}, absolute={})
    assert resolve_threshold(inst, 0.35, True) == 0.35
    assert resolve_threshold(inst, 2, False) == 2.0


def test_from_table_defaults_and_checks():
    t = pd.DataFrame({"arm": ["b", "a"], "time": [4.0, 8.0], "event": [1, 0]})
    d = ImprovementData.from_table(t, reference="b")
    assert d.arms == ("a", "b") and d.reference == "b"
    assert d.table["time_upper"].tolist() == [4.0, INF]
    with pytest.raises(ModelError, match="column event must be 0/1"):
        ImprovementData.from_table(t.assign(event=[2, 0]))
    with pytest.raises(ModelError, match="lacks column"):
        ImprovementData.from_table(t.drop(columns="time"))
    with pytest.raises(ModelError, match="reference arm 'z'"):
        ImprovementData.from_table(t, reference="z")
    # values that would silently become missing are refused
    with pytest.raises(ModelError, match=r"column arm has value\(s\) \['b'\] that are not among the arms \['a'\]"):
        ImprovementData.from_table(t, arms=["a"])
    with pytest.raises(ModelError, match=r"covariate\(s\) \['age'\] are not columns of the event table"):
        ImprovementData.from_table(t, covariates=["age"])
    with pytest.raises(ModelError, match="column time must be >= 0 and not missing; row 1 has 'eight'"):
        ImprovementData.from_table(t.assign(time=["4", "eight"]))
    with pytest.raises(ModelError, match="column event must be 0/1; row 0 has nan"):
        ImprovementData.from_table(t.assign(event=[np.nan, 0]))


# ------------------------------------------------------------------ real cohorts
def test_public_api_exposes_time_to_improvement():
    assert painstudy.time_to_improvement is time_to_improvement


def test_chow_events_match_raw_file(shared):
    # independent derivation from neck_pain.csv: improvement = (baseline - vas) / baseline >= 0.30
    raw = pd.read_csv(shared / "chow2006_laser_neck_pain" / "neck_pain.csv")
    wide = raw.pivot(index="id", columns="time", values="vas")
    rel = {t: (wide[1] - wide[t]) / wide[1] for t in (2, 3)}
    exp_time, exp_event = {}, {}
    for sid in wide.index:
        hit = [w for t, w in ((2, 7.0), (3, 12.0)) if rel[t].notna()[sid] and rel[t][sid] >= 0.3 - 1e-9]
        seen = [w for t, w in ((2, 7.0), (3, 12.0)) if not np.isnan(wide.loc[sid, t])]
        exp_event[str(sid)] = int(bool(hit))
        exp_time[str(sid)] = hit[0] if hit else max(seen)
    data = time_to_improvement(painstudy.load_cohort("chow2006"), "vas", threshold=0.30)
    t = data.table.set_index("subject")
    assert len(t) == 90
    assert t["event"].to_dict() == exp_event
    assert t["time"].to_dict() == exp_time
    assert data.reference == "sham"
    assert dict(t.groupby("arm", observed=True)["event"].sum()) == {"sham": 12, "laser": 36}


def test_demo_cohort_derivation(demo_cohort):
    data = time_to_improvement(demo_cohort, "pain", threshold="moderate")
    t = data.table
    assert len(t) == demo_cohort.subjects.shape[0]
    assert set(t["status"]) <= {0, 1, 2}
    ev = t.loc[t["event"] == 1]
    assert (ev["time_lower"] < ev["time_upper"]).all() and (ev["time"] == ev["time_upper"]).all()
    assert np.isinf(t.loc[t["event"] == 0, "time_upper"]).all()
    # dropouts are exactly the non-improvers not assessed at the last visit
    comp = demo_cohort.subjects.set_index("subject")["completer"]
    non = t.loc[t["event"] == 0].set_index("subject")
    assert (non["status"] == 2).equals(~comp.loc[non.index].astype(bool))
    assert data.reference == "usual_care"
    assert data.arm_classes["integrative"] == "integrative"


def test_zero_baseline_is_assessed_without_relative_improvement():
    # 0 at baseline on a lower-is-better scale: no relative improvement is possible
    c = fake_cohort({"z": [0, 0, 0, 0], "a": [10, 5, 5, 5]}, {"z": "control", "a": "active"})
    data = time_to_improvement(c, "pain", threshold=0.3)
    r = row(data, "z")
    assert (r["event"], r["time"], r["status"]) == (0, 12, 0)
