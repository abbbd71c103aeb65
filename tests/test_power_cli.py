"""``painstudy power``: table, files and figure; an interrupted run resumes; errors in one line; a light --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from painstudy.cli import main

DESIGN = {
    "name": "two-arm",
    "outcome": "pain",
    "arms": {"usual_care": {"control": True}, "integrative": {"modalities": ["physiotherapy", "mbsr"]}},
    "visits": {"baseline": 0, "week4": 4, "week8": 8},
    "mean": 6.0,
    "effects": {"integrative": {"long_run": -0.8, "tau": 4}},
    "sd": 1.8,
    "correlation": {"structure": "ar1", "rho": 0.6},
    "dropout": 0.07,
}


@pytest.fixture
def design(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "design.yml").write_text(yaml.safe_dump(DESIGN, sort_keys=False))
    return tmp_path / "design.yml"


def test_power_command_writes_table_and_figure(design, capsys):
    assert main(["power", str(design), "--n", "20", "30", "--n-sim", "6", "--seed", "1", "--out", "out"]) == 0
    text = capsys.readouterr().out
    assert "Power: two-arm, pain at week8 (mmrm)" in text and "analytic_power" in text
    out = design.parent / "out"
    assert {"power.csv", "power.json", "power_curve.png", "power_curve.svg", "power_curve.pdf", "manifest.json"} <= {
        p.name for p in out.iterdir()
    }
    doc = json.loads((out / "power.json").read_text())
    assert [r["n_per_arm"] for r in doc["tables"]["power"]] == [20, 30]
    assert not (design.parent / "out.checkpoint").exists()  # removed after a finished run
    assert main(["power", str(design), "--n", "20", "--n-sim", "3", "--seed", "1", "--out", "o3", "--no-null"]) == 0
    assert "type I error not simulated" in capsys.readouterr().out


def test_interrupted_command_resumes(design, capsys, monkeypatch):
    from painstudy.power.checkpoint import Checkpoint

    args = ["power", str(design), "--n", "20", "--n-sim", "6", "--seed", "2", "--batch-size", "2", "--out", "o"]
    write, calls = Checkpoint.write, []

    def interrupted(self, *a):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return write(self, *a)

    monkeypatch.setattr(Checkpoint, "write", interrupted)
    assert main(args) == 130
    assert "run the same command to resume" in capsys.readouterr().err
    assert len(list((design.parent / "o.checkpoint").glob("batch-*.parquet"))) == 3
    monkeypatch.setattr(Checkpoint, "write", write)
    assert main(args) == 0
    assert "6 trials read from the checkpoint" in capsys.readouterr().out
    resumed = (design.parent / "o" / "power.csv").read_text()
    assert main([*args[:-1], "o2", "--checkpoint", "fresh"]) == 0
    assert (design.parent / "o2" / "power.csv").read_text() == resumed


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.yml", "--n", "20", "--seed", "1"], "painstudy: error: missing.yml: cannot read the design"),
        (["design.yml", "--n", "20", "--seed", "1", "--analysis", "ancova", "--alpha", "2"], "alpha must be between"),
        (
            ["design.yml", "--n", "20", "--seed", "1", "--cluster", "slurm", "--cluster-config", "no.yml"],
            "no.yml: cannot read",
        ),
    ],
)
def test_errors_are_one_line(design, capsys, args, message):
    assert main(["power", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_help_loads_no_numerical_library():
    probe = (
        "import sys; from painstudy.cli import main\ntry: main(['power', '--help'])\nexcept SystemExit: pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'scipy', 'dask', 'distributed'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
