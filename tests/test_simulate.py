"""The simulator: deterministic for a seed, valid data, the demo study is its output."""

import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.errors import PainstudyError
from painstudy.simulate import simulate

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = simulate(60, seed=3), simulate(60, seed=3), simulate(60, seed=4)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data["pain"].equals(c.data["pain"])


def test_simulated_data_passes_validation(tmp_path, capsys):
    assert main(["simulate", "--n", "80", "--seed", "11", "--out", str(tmp_path)]) == 0
    assert main(["validate", str(tmp_path / "study.yml")]) == 0
    assert "valid (80 subjects" in capsys.readouterr().out


def test_design_of_the_trial():
    t = simulate(400, seed=5)
    c = painstudy.load_cohort(painstudy.study.spec_from_dict({**t.study, "data": {"layout": "long"}}), data=t.data)
    assert sorted(a.arm_class for a in c.spec.arms) == ["control", "integrative", "single-modality", "single-modality"]
    assert len(c.spec.arm("integrative").domains) >= 3
    assert c.subjects["condition"].nunique() == 3 and c.subjects["site"].nunique() == 8
    assert [v.week for v in c.spec.visits] == [0, 4, 8, 12, 26, 52]
    # dropout happens, and depends on pain: those who left had more pain at their last visit
    assert 0.05 < c.subjects["withdrawn"].mean() < 0.5
    last = c.visits.dropna(subset=["pain"]).sort_values("week").groupby("subject").tail(1)
    last = last.merge(c.subjects[["subject", "withdrawn"]], on="subject")
    assert last.loc[last["withdrawn"], "pain"].mean() > last.loc[~last["withdrawn"], "pain"].mean()
    # pain and function are negatively correlated within subject-visits
    assert c.visits[["pain", "function"]].corr().iloc[0, 1] < -0.2
    # truth: every non-control arm at every post-baseline visit, for pain and function
    assert len(t.truth) == 3 * 5 * 2


def test_committed_demo_is_the_simulator_output():
    """datasets/demo is exactly what `painstudy simulate --records` writes for its seed (no hand edits)."""
    import io

    t = simulate(400, seed=20261126, records=True)
    demo = ROOT / "painstudy" / "datasets" / "studies" / "demo"
    committed = pd.read_csv(demo / "data.csv")
    regenerated = pd.read_csv(io.StringIO(t.data.to_csv(index=False, float_format="%.4g")))
    pd.testing.assert_frame_equal(committed, regenerated)
    for name, frame in t.extra_files().items():
        again = pd.read_csv(io.StringIO(frame.to_csv(index=False, float_format="%.6g")))
        pd.testing.assert_frame_equal(pd.read_csv(demo / name), again, obj=name)


def test_records_use_streams_of_their_own_and_carry_their_truth():
    """The visit data do not depend on records=True; the records reproduce the visit-level opioid dose, and the
    truth per condition averages to the overall truth."""
    import numpy as np

    plain, full = simulate(120, seed=5), simulate(120, seed=5, records=True)
    pd.testing.assert_frame_equal(plain.data, full.data)
    assert plain.diary is None and {"diary.csv", "medication.csv", "truth_medication.csv"} <= set(full.extra_files())
    by_condition = full.truth_conditions.groupby(["outcome", "arm", "visit"], sort=False)["effect"].mean()
    overall = full.truth.set_index(["outcome", "arm", "visit"])["effect"]
    np.testing.assert_allclose(by_condition.loc[overall.index].to_numpy(), overall.to_numpy(), atol=1e-12)
    users = full.data[full.data["visit"] == "baseline"].set_index("subject_id")["mme"] > 0
    last = full.data[full.data["visit"] == "week52"].set_index("subject_id")
    stopped = (last["mme"] == 0) & users.loc[last.index]
    assert stopped.sum() > 0 and (~users.loc[last.index] & (last["mme"] > 0)).sum() > 0  # stops and starts
    assert set(full.study["daily"]) == {"pain_diary", "sleep_quality", "steps", "rescue"}
    assert full.study["medication"] == {"file": "medication.csv", "day": "day"}


def test_bad_arguments():
    with pytest.raises(PainstudyError, match="n_subjects must be at least 4"):
        simulate(2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"dropout": -1.0}, "dropout must be a finite number >= 0"),
        ({"dropout": float("nan")}, "dropout must be a finite number >= 0"),
        ({"n_sites": 0}, "n_sites must be at least 1"),
    ],
)
def test_arguments_out_of_range_are_refused(kwargs, match):
    with pytest.raises(PainstudyError, match=match):
        simulate(40, **kwargs)


def test_cli_refuses_a_negative_seed_without_writing(tmp_path, capsys):
    assert main(["simulate", "--seed", "-1", "--out", str(tmp_path / "s")]) == 1
    assert "seed must be a non-negative integer" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_trial_larger_than_memory_is_refused_before_allocating(monkeypatch):
    import sys

    sim = sys.modules["painstudy.simulate"]  # the module (painstudy.simulate is also the function's name)
    monkeypatch.setattr(sim, "available_memory", lambda: 100 * sim.BYTES_PER_SUBJECT)
    with pytest.raises(PainstudyError, match=r"1,000 subjects need about .* simulate at most 100 subjects"):
        simulate(1000)
    assert len(simulate(100).data) == 600


def test_a_name_that_cannot_name_a_study_is_refused_before_writing(tmp_path, capsys):
    assert main(["simulate", "--n", "10", "--name", "../evil", "--out", str(tmp_path / "s")]) == 1
    assert "--name: '../evil' cannot name a study" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["init", str(tmp_path / "i"), "--name", "../evil"]) == 1
    assert "--name: '../evil' cannot name a study" in capsys.readouterr().err
    assert not (tmp_path / "i").exists()
