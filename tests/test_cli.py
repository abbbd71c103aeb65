"""The command line as a user runs it."""

import json
import subprocess
import sys

import pytest

from painstudy.cli import main


def test_describe_vickers_prints_completers_table1(capsys, shared):
    assert main(["describe", "vickers2004"]) == 0
    out = capsys.readouterr().out
    assert "randomised" in out and "401" in out
    assert "Usual care (n = 140)" in out and "Acupuncture + usual care (n = 161)" in out
    assert "46.4 (10.0)" in out and "46.2 (10.8)" in out  # age, completers
    assert "133 (83%)" in out and "120 (86%)" in out  # female


def test_describe_json(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["describe", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {"disposition", "table1", "table1_completers"} <= set(doc)


def test_console_script_runs_without_traceback(tmp_path):
    bad = tmp_path / "study.yml"
    bad.write_text("name: x\n")
    r = subprocess.run([sys.executable, "-m", "painstudy", "validate", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "required key" in r.stderr and "Traceback" not in r.stderr


HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "statsmodels", "pandera")


@pytest.mark.parametrize(
    "code",
    [
        "import painstudy",
        "import sys; from painstudy.cli import main; sys.argv = ['painstudy', '--help']\ntry: main()\nexcept SystemExit: pass",
        "import sys; from painstudy.cli import main; sys.argv = ['painstudy', 'fit', 'mmrm', '--help']\n"
        "try: main()\nexcept SystemExit: pass",
    ],
)
def test_start_up_loads_no_numerical_library(code):
    """`import painstudy` and `--help` stay fast: no pandas, numpy or scipy until a name needs them
    (times are measured in benchmarks/bench_startup.py, not here)."""
    probe = code + f"\nimport sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_public_names_resolve_on_first_use():
    import painstudy
    import painstudy.simulate  # the submodule does not shadow the function of the same name

    assert callable(painstudy.simulate) and painstudy.simulate is sys.modules["painstudy.simulate"].simulate
    for name in painstudy.__all__:
        assert getattr(painstudy, name) is not None, name
    assert set(painstudy.__all__) <= set(dir(painstudy))
