"""Daily diaries and wearables (painstudy.diary): loading with named errors, the visit-window summaries
against values computed by hand on a small fixture, the compliance table, the study.yml ``daily:`` key and
``painstudy derive diary``.

Every expected number below is worked out in the comment beside it from the fixture's values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.diary import derive_diary, load_daily
from painstudy.errors import CohortError, PainstudyError, StudySpecError

STUDY = """\
name: tiny
subject: id
arm: arm
arms:
  - {name: usual_care, modalities: [usual_care], control: true}
  - {name: integrative, modalities: [physiotherapy, cbt]}
visit: visit
visits:
  - {name: baseline, week: 0, baseline: true}
  - {name: week2, week: 2}
outcomes:
  pain: nrs
data: data.csv
daily:
  pain_diary: {instrument: nrs, file: diary.csv, subject: id, day: day, value: pain, high: 7}
  rescue: {instrument: rescue_taken, file: diary.csv, subject: id, day: day, value: rescue}
"""
DATA = "id,arm,visit,pain\nA,usual_care,baseline,6\nA,usual_care,week2,5\nB,integrative,baseline,6\nB,integrative,week2,4\n"
# The diary period is [-7, 14]: from the week before the baseline window (7 * 0 - 7) to the end of the last
# one (7 * 2). Window of baseline (day 0): days -7..-1; of week2 (day 14): days 7..13.
DIARY = [
    # subject A, baseline window: 5, 6, (empty), 7, 8, (day -2 absent), 4
    ("A", -7, 5, ""), ("A", -6, 6, ""), ("A", -5, "", ""), ("A", -4, 7, ""), ("A", -3, 8, ""), ("A", -1, 4, ""),
    ("A", 0, 10, ""),  # the visit day: in no window
    ("A", 7, 2, ""), ("A", 8, 2, ""), ("A", 13, 5, ""),  # week2 window: 3 days only
    ("A", 14, 10, ""),  # the week-2 visit day: in no window
    ("B", 6, 0, 0),  # the day before the week2 window
    ("B", 7, 3, 1), ("B", 8, 3, 0), ("B", 9, 3, 1), ("B", 10, 3, 0), ("B", 11, 3, 0), ("B", 12, 3, 1), ("B", 13, 10, 0),
]  # fmt: skip


def write_study(folder, diary_rows=DIARY, study=STUDY):
    (folder / "study.yml").write_text(study)
    (folder / "data.csv").write_text(DATA)
    lines = ["id,day,pain,rescue"] + [",".join(map(str, r)) for r in diary_rows]
    (folder / "diary.csv").write_text("\n".join(lines) + "\n")
    return painstudy.load_cohort(folder / "study.yml")


@pytest.fixture
def tiny(tmp_path):
    return write_study(tmp_path)


def window(out, measure, subject, visit):
    w = out.windows
    return w[(w["measure"] == measure) & (w["subject"] == subject) & (w["visit"] == visit)].iloc[0]


def test_window_summaries_by_hand(tiny):
    out = derive_diary(tiny)
    a = window(out, "pain_diary", "A", "baseline")
    # days -7..-1 reported: 5, 6, 7, 8, 4 (day -5 empty, day -2 absent; day 0, the visit day, not in the window)
    assert (a["first_day"], a["last_day"], a["n_days"]) == (-7, -1, 5)
    assert a["mean"] == 6.0  # 30 / 5
    assert (a["worst"], a["best"]) == (8.0, 4.0)  # NRS: worst = highest pain
    assert a["sd"] == pytest.approx(np.sqrt(10 / 4))  # squared deviations 1 + 0 + 1 + 4 + 4 = 10, n - 1 = 4
    # adjacent reported days: (-7, -6): 1, (-4, -3): 1; (-6, -5), (-5, -4) broken by the empty day -5 and
    # (-3, -1) by the absent day -2: MSSD = (1 + 1) / 2
    assert a["mssd"] == 1.0
    assert a["high"] == pytest.approx(2 / 5)  # 7 and 8 are >= 7
    b = window(out, "pain_diary", "B", "week2")
    # days 7..13: 3, 3, 3, 3, 3, 3, 10 (day 6 outside the window, day 14 would be the visit day)
    assert (b["n_days"], b["mean"]) == (7, 4.0)
    assert b["sd"] == pytest.approx(np.sqrt(42 / 6))  # deviations -1 (six times) and 6: 6 + 36 = 42
    assert b["mssd"] == pytest.approx(49 / 6)  # successive differences 0, 0, 0, 0, 0, 7
    assert b["high"] == pytest.approx(1 / 7)
    r = window(out, "rescue", "B", "week2")
    assert (r["days"], r["mean"]) == (3.0, pytest.approx(3 / 7))  # 1, 0, 1, 0, 0, 1, 0


def test_minimum_days_rule(tiny):
    out = derive_diary(tiny)
    a = window(out, "pain_diary", "A", "week2")
    # 3 days reported (7, 8, 13): fewer than 4 of 7, so no summaries, counted
    assert a["n_days"] == 3 and not a["enough"] and np.isnan(a["mean"]) and np.isnan(a["mssd"])
    assert any("with fewer" in n for n in out.notes)
    a3 = window(derive_diary(tiny, min_days=3), "pain_diary", "A", "week2")
    assert a3["enough"] and a3["mean"] == 3.0  # (2 + 2 + 5) / 3
    assert a3["mssd"] == 0.0  # only (7, 8) are adjacent: (2 - 2)^2
    b = window(derive_diary(tiny, window_days=3, min_days=3), "pain_diary", "B", "week2")
    assert (b["first_day"], b["n_days"], b["mean"]) == (11, 3, 16 / 3)  # days 11..13: 3, 3, 10
    with pytest.raises(PainstudyError, match="exceeds window_days"):
        derive_diary(tiny, min_days=5, window_days=3)


def test_outcomes_join_the_cohort(tiny):
    out = derive_diary(tiny)
    c = out.cohort
    assert {"pain_diary_mean", "pain_diary_mssd", "pain_diary_high", "rescue_days"} <= set(c.outcomes)
    v = c.visits.set_index(["subject", "visit"], drop=False)
    assert v.loc[("A", "baseline"), "pain_diary_mean"] == 6.0
    assert np.isnan(v.loc[("A", "week2"), "pain_diary_mean"])
    # change from baseline, as for any outcome: B's baseline window is empty, so no change
    assert np.isnan(v.loc[("B", "week2"), "pain_diary_mean_change"])
    assert c.spec.outcome("pain_diary_mean").derived_from.startswith("daily measures")
    assert c.instrument("pain_diary_sd").lower_is_better


def test_compliance_table(tiny):
    out = derive_diary(tiny)
    comp = out.compliance[out.compliance["measure"] == "pain_diary"].set_index(["subject", "week"])
    # diary week k holds days 7(k-1)..7k-1: week 0 = days -7..-1, week 3 = day 14 only (the period ends there)
    assert comp.loc[("A", 0), "days_reported"] == 5  # the empty day -5 is not reported
    assert comp.loc[("A", 1), "days_reported"] == 1  # day 0
    assert comp.loc[("B", 2), "days_reported"] == 7 and comp.loc[("B", 2), "compliant"]
    assert comp.loc[("A", 3), "days"] == 1 and comp.loc[("A", 3), "compliant"]  # day 14 of a 1-day week
    s = out.compliance_summary.set_index(["measure", "arm", "week"])
    assert s.loc[("pain_diary", "integrative", 2), "mean_days"] == 7.0
    assert s.loc[("pain_diary", "usual_care", 0), "pct_compliant"] == 100.0
    text = str(out)
    assert "compliance by arm and week" in text and "window means by arm and visit" in text


def test_bad_rows_are_named_errors(tmp_path):
    rows = [
        ("A", -7, 5, ""), ("A", -7, 6, ""),  # line 3: duplicate day
        ("A", 40, 5, ""),  # line 4: outside [-7, 14]
        ("A", 2, 11, ""),  # line 5: outside 0-10
        ("Z", 3, 5, ""),  # line 6: not in the cohort
        ("A", 1.5, 5, ""),  # line 7: not a whole day
        ("A", 4, "x", ""),  # line 8: not a number
        ("B", 5, 5, 2),  # line 9: rescue must be 0/1
    ]  # fmt: skip
    cohort = write_study(tmp_path, rows)
    with pytest.raises(CohortError) as e:
        load_daily(cohort)
    f = e.value.failures
    got = {(r.code, int(r.line), r.column) for r in f.itertuples()}
    assert {
        ("daily_duplicate_day", 3, "day"),
        ("daily_day_outside", 4, "day"),
        ("daily_value", 5, "pain"),
        ("daily_subject", 6, "id"),
        ("daily_day", 7, "day"),
        ("daily_value", 8, "pain"),
        ("daily_value", 9, "rescue"),
    } <= got
    assert all(str(tmp_path / "diary.csv") in line for line in e.value.problem_lines())
    assert "line 2" in f.loc[f["code"] == "daily_duplicate_day", "rule"].iloc[0]  # names the first row


def test_dates_give_study_days(tmp_path):
    cohort = write_study(tmp_path)
    frame = pd.read_csv(tmp_path / "diary.csv")
    start = pd.Timestamp("2024-02-26")
    frame["date"] = (start + pd.to_timedelta(frame["day"], unit="D")).dt.strftime("%Y-%m-%d")
    frame["randomised"] = start.strftime("%Y-%m-%d")
    by_date = {
        "instrument": "nrs",
        "file": "x.csv",
        "subject": "id",
        "date": "date",
        "start": "randomised",
        "value": "pain",
    }
    out = derive_diary(cohort, load_daily(cohort, {"pain_diary": by_date}, data=frame))
    assert window(out, "pain_diary", "A", "baseline")["mean"] == 6.0
    frame.loc[3, "randomised"] = "2024-02-27"
    with pytest.raises(CohortError, match="day-0 date differs"):
        load_daily(cohort, {"pain_diary": by_date}, data=frame)


def test_study_yml_daily_key(tmp_path):
    spec = write_study(tmp_path).spec
    m = spec.daily["pain_diary"]
    assert (m.day, m.value, m.high, m.min_days, m.window_days) == ("day", "pain", 7.0, 4, 7)
    from painstudy.study import spec_from_dict, spec_to_dict

    assert spec_from_dict(spec_to_dict(spec), root=spec.root) == spec
    bad = STUDY.replace("high: 7}", "high: 7, colour: red}").replace("day: day, value: rescue", "value: rescue")
    (tmp_path / "study.yml").write_text(bad)
    with pytest.raises(StudySpecError) as e:
        painstudy.read_study(tmp_path / "study.yml")
    text = str(e.value)
    assert "line 15: field daily.pain_diary.colour: unknown key" in text
    assert "field daily.rescue: give the column of the study day" in text
    (tmp_path / "study.yml").write_text(STUDY.replace("high: 7}", "min_days: 8}"))
    with pytest.raises(StudySpecError, match="min_days \\(8\\) exceeds window_days \\(7\\)"):
        painstudy.read_study(tmp_path / "study.yml")


def test_simulated_diary_through_compare_arms():
    """The demo with simulated diaries: every visit window inside the period has summaries, and the diary
    outcomes go through compare_arms like the study's own."""
    from painstudy.simulate_diary import simulate_diary

    cohort = painstudy.load_cohort("demo")
    # a diary over the whole follow-up: compare_arms (an MMRM over every visit) needs data at every visit
    sim = simulate_diary(cohort.visits, seed=2, days=(-7, 364))
    daily = load_daily(cohort, sim.daily_block(), data=sim.data)
    out = derive_diary(cohort, daily, measures=["pain_diary", "steps"])
    for visit in ("baseline", "week4", "week8", "week12", "week52"):
        assert out.cohort.visits.loc[out.cohort.visits["visit"] == visit, "pain_diary_mean"].notna().sum() > 200
    res = painstudy.compare_arms(out.cohort, ["steps_mean"], visits=["week12"])
    assert len(res.tidy().tables) > 0


def test_cli_derive_diary(tmp_path, capsys):
    from painstudy.cli import main

    write_study(tmp_path)
    out = tmp_path / "windows.csv"
    rc = main(
        [
            "derive",
            "diary",
            str(tmp_path / "study.yml"),
            "--measure",
            "pain_diary",
            "--min-days",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "pain_diary: last 7 days before the visit, >= 3 reported" in printed
    table = pd.read_csv(out)
    a = table[(table["subject"] == "A") & (table["visit"] == "week2")].iloc[0]
    assert a["mean"] == 3.0  # (2 + 2 + 5) / 3, as in test_minimum_days_rule
    write_study(tmp_path, [("A", -7, 5, ""), ("A", -7, 6, ""), ("Z", 1, 5, "")])
    assert main(["derive", "diary", str(tmp_path / "study.yml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "2 problem(s) found:"
    assert err[1].startswith("[daily_") and "diary.csv line" in err[1]
