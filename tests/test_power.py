"""painstudy.power: design.yml rules, seeds that make the table independent of batches and executors,
checkpoints, type I error and simulated vs analytic power (the analytic formula against R: test_power_reference)."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from painstudy.design import DesignError, demo_design, design_from, parse_design, read_design
from painstudy.power import power
from painstudy.power.checkpoint import Checkpoint, CheckpointError

SMALL = {
    "name": "small",
    "outcome": "pain",
    "arms": {"control": {"control": True}, "active": {"modalities": ["exercise"]}},
    "visits": {"baseline": 0, "week4": 4, "week8": 8, "week12": 12},
    "mean": 6.0,
    "effects": {"active": [-0.3, -0.5, -0.6]},
    "sd": 1.5,
    "correlation": {"structure": "cs", "rho": 0.5},
    "dropout": 0.08,
    "analysis": {"method": "mmrm", "visit": "week12"},
}


def small(**changes):
    doc = {k: v for k, v in {**SMALL, **changes}.items() if v is not None}
    return parse_design(doc, "small.yml")


# -- design.yml ------------------------------------------------------------------------------------------
def test_read_design_yaml(tmp_path):
    import yaml

    p = tmp_path / "design.yml"
    doc = {
        **SMALL,
        "effects": {"active": {"long_run": -0.8, "tau": 4}},
        "conditions": {
            "a": {"probability": 0.5, "modifiers": {"active": 1.5}},
            "b": {"probability": 0.5, "modifiers": {"active": 0.5}},
        },
    }
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    d = read_design(p)
    assert d.arms == ("control", "active") and d.control == "control"
    assert d.effects[1, 3] == pytest.approx(-0.8 * (1 - np.exp(-3)))
    assert d.retention()[1, -1] == pytest.approx(0.92**3)
    assert d.truth()["effect"].iloc[-1] == pytest.approx(-0.8 * (1 - np.exp(-3)))  # modifiers average to 1


@pytest.mark.parametrize(
    "change, match",
    [
        ({"sd": -1.0}, r"sd: standard deviations must be > 0 \(a negative variance\?\)"),
        ({"sd": [1, 1, -2, 1]}, r"negative variance"),
        (
            {"sd": None, "correlation": None, "covariance": [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
            r"variance at visit 'week4' is -1; it must be > 0",
        ),
        (
            {"correlation": [[1, 0.9, 0.9, 0], [0.9, 1, 0.9, 0.9], [0.9, 0.9, 1, 0.9], [0, 0.9, 0.9, 1]]},
            r"not positive definite",
        ),
        ({"dropout": 1.2}, r"dropout: 1.2 for arm 'control' at visit 'week4' is not a probability .*at most 100%"),
        ({"dropout": {"placebo": 0.1}}, r"dropout: unknown arm 'placebo'"),
        ({"effects": {"placebo": -1}}, r"effects: unknown arm 'placebo'; the arms are control, active"),
        ({"analysis": {"method": "bayes"}}, r"analysis: unknown analysis 'bayes'; use one of mmrm, ancova"),
        ({"analysis": {"visit": "week99"}}, r"analysis.visit: 'week99' is not a post-baseline visit"),
        ({"colour": "red"}, r"unknown key\(s\) colour"),
        ({"correlation": {"structure": "ar1", "rho": 1.5}}, r"rho: must be between -1 and 1"),
    ],
)
def test_bad_designs_are_named_errors(change, match):
    with pytest.raises(DesignError, match=r"^small\.yml: .*" + match):
        small(**change)


def test_unknown_analysis_argument():
    with pytest.raises(DesignError, match="analysis: unknown 'tweedie'"):
        power(small(), 20, n_sim=2, seed=1, analysis="tweedie")


def test_unreadable_design(tmp_path):
    (tmp_path / "d.yml").write_text("arms: [unclosed")
    with pytest.raises(DesignError, match=r"d.yml: not valid YAML"):
        read_design(tmp_path / "d.yml")


# -- simulation --------------------------------------------------------------------------------------------
def test_table_does_not_depend_on_batches_or_executor():
    d = small()
    a = power(d, [20, 30], n_sim=6, seed=3)
    b = power(d, [20, 30], n_sim=6, seed=3, batch_size=1)
    with ThreadPoolExecutor(2) as pool:
        c = power(d, [20, 30], n_sim=6, seed=3, executor=pool, batch_size=4)
    assert a.table.equals(b.table) and a.table.equals(c.table)
    assert a.trials.equals(b.trials) and a.trials.equals(c.trials)
    # n=30's trials do not depend on which other sample sizes were asked for
    only = power(d, [30], n_sim=6, seed=3)
    assert only.table.reset_index(drop=True).equals(a.table[a.table["n_per_arm"] == 30].reset_index(drop=True))
    assert not power(d, [20], n_sim=6, seed=4).trials.equals(a.trials[a.trials["n_per_arm"] == 20])


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    d, folder = small(), tmp_path / "ckpt"
    whole = power(d, [20], n_sim=8, seed=5, batch_size=2)
    calls = []
    write = Checkpoint.write

    def interrupt_third(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(self, *args)

    monkeypatch.setattr(Checkpoint, "write", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        power(d, [20], n_sim=8, seed=5, batch_size=2, checkpoint=folder)
    monkeypatch.setattr(Checkpoint, "write", write)
    assert len(list(folder.glob("batch-*.parquet"))) == 2
    resumed = power(d, [20], n_sim=8, seed=5, batch_size=3, checkpoint=folder)
    assert resumed.table.equals(whole.table) and resumed.trials.equals(whole.trials)
    assert "4 trials read from the checkpoint" in resumed.notes
    with pytest.raises(CheckpointError, match="belongs to another run .*seed"):
        power(d, [20], n_sim=8, seed=6, checkpoint=folder)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match="painstudy did not write"):
        power(d, [20], n_sim=2, seed=6, checkpoint=tmp_path / "mine")


def test_type1_error_and_simulated_power_agree_with_analytic():
    # two arms, exchangeable correlation, 8% MCAR dropout per visit: the setting of Lu, Luo & Chen (2008)
    d = small()
    r = power(d, [40], n_sim=300, seed=11)
    row = r.table.iloc[0]
    assert abs(row["type1_error"] - 0.05) <= 2 * np.sqrt(0.05 * 0.95 / 300)
    # the simulation uses Satterthwaite t tests (df about 70): a little below the normal approximation
    assert abs(row["power"] - row["analytic_power"]) <= 2.5 * row["power_se"] + 0.01
    assert 0.3 < row["analytic_power"] < 0.8  # a design point where the curve is informative
    assert abs(row["bias"]) < 3 * row["bias_se"]
    assert abs(row["coverage"] - 0.95) < 3 * row["coverage_se"]
    assert abs(row["empirical_se"] / row["mean_std_error"] - 1) < 0.15


def test_ancova_and_multiplicity():
    d = dataclasses.replace(demo_design(), analysis="ancova", multiplicity="holm")
    r = power(d, [25], n_sim=10, seed=2, null=False)
    assert list(r.table["comparison"]) == ["physiotherapy", "mindfulness", "integrative", "any arm"]
    t = r.trials
    assert (t["p_adjusted"] >= t["p_value"]).all()
    assert np.isnan(r.table["type1_error"]).all()


def test_result_renders_and_plots():
    r = power(small(), [20, 30], n_sim=4, seed=1)
    text = str(r)
    assert "Power: small, pain at week12 (mmrm)" in text and "analytic_power" in text
    assert r.to_dict()["tables"]["power"][0]["n_per_arm"] == 20
    assert "<table" in r._repr_html_()
    ax = r.plot()
    assert ax.get_xlabel() == "subjects per arm"
    assert r.smallest_n(0.0) == 20


def test_design_from_a_cohort():
    import painstudy

    cohort = painstudy.load_cohort("demo")
    d = design_from(cohort)
    assert d.arms[0] == "usual_care" and d.outcome == "pain" and d.visits[0] == "baseline"
    assert np.linalg.eigvalsh(d.covariance)[0] > 0
    assert 0 < d.dropout[:, 1:].mean() < 0.2
    assert d.effects[list(d.arms).index("integrative"), -1] < -1  # the demo's integrative arm helps
    comparison = painstudy.compare_arms(cohort, ["pain"], multiplicity="none")
    d2 = design_from(comparison)
    est = comparison.table.query("arm == 'integrative' and visit == 'week52'")["estimate"].iloc[0]
    assert d2.effects[list(d2.arms).index("integrative"), -1] == pytest.approx(est)
    with pytest.raises(DesignError, match="expected a Cohort or the result of compare_arms"):
        design_from(3)


def test_responders_against_their_known_rates():
    d = small(
        analysis={"method": "responders", "visit": "week12", "threshold": 1.0},
        conditions={"a": {"probability": 0.3, "modifiers": {"active": 2.0}}, "b": {"probability": 0.7}},
    )
    rates = d.responder_rates()
    assert 0.1 < rates[0] < rates[1] < 0.9
    r = power(d, [60], n_sim=400, seed=4)
    row = r.table.iloc[0]
    assert row["true_effect"] == pytest.approx(rates[1] - rates[0])
    assert abs(row["bias"]) < 3 * row["bias_se"]
    assert abs(row["coverage"] - 0.95) < 3 * row["coverage_se"]
    assert abs(row["power"] - row["analytic_power"]) <= 3 * row["power_se"]
    assert abs(row["type1_error"] - 0.05) <= 3 * row["type1_se"] + 0.01
    with pytest.raises(DesignError, match="responders need a positive improvement threshold"):
        small(analysis={"method": "responders"})
