"""Report parameters are values only: declared names, checked types, injected as literals."""

from __future__ import annotations

from pathlib import Path

import pytest

from painstudy.cli import main
from painstudy.reporting import NOTEBOOK_DIR, ParameterError, check_parameters, notebook_parameters, read_parameters
from painstudy.reporting.parameters import check_value, inject, literal_cell

NB01 = NOTEBOOK_DIR / "01_cohort.ipynb"


def test_the_notebooks_declare_typed_parameters():
    p = notebook_parameters(NB01)
    assert {"study", "data", "outcomes", "reference_arm", "thresholds", "visits", "output_dir", "seed"} == set(p)
    assert p["seed"].annotation == "int" and p["seed"].default == 20261126
    assert p["outcomes"].annotation == "list[str] | None"
    for nb in NOTEBOOK_DIR.glob("*.ipynb"):  # every notebook honours (declares) data
        assert "data" in notebook_parameters(nb), nb.name


@pytest.mark.parametrize(
    "key",
    [
        "__import__('pathlib').Path('PWNED').write_text('x');y",
        "a b",
        "seed+1",
        "os.system",
        "seed;import os",
        "",
    ],
)
def test_keys_that_are_not_declared_names_exit_2(key, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--notebooks", "01", "-p", f"{key}=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter" in err and "take: data, outcomes, reference_arm, seed, thresholds, visits" in err
    assert list(tmp_path.iterdir()) == [], "nothing ran, nothing was written"
    assert not (tmp_path.parent / "PWNED").exists()


def test_the_pwned_example_from_the_issue(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rc = main(["report", "--notebooks", "01", "-p", "__import__('pathlib').Path('../PWNED').write_text('x');y=1"])
    assert rc == 2 and not (tmp_path / "PWNED").exists() and not list(work.iterdir())
    assert "unknown parameter" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "seed=abc"], "parameter 'seed': expected int, got 'abc' (str)"),
        (["-p", "seed=1.5"], "parameter 'seed': expected int"),
        (["-p", "outcomes=pain"], "parameter 'outcomes': expected list[str] | None, got 'pain' (str)"),
        (["-p", "outcomes=[1, 2]"], "expected list[str] | None"),
        (["-p", "thresholds={a: 1}"], "parameter 'thresholds': expected list[str | float]"),
        (["-p", "seed=2024-01-01"], "expected int, got datetime.date"),
        (["-p", "study=other"], "parameter 'study' is set by the STUDY argument"),
        (["-p", "output_dir=/tmp"], "parameter 'output_dir' is set by --out"),
        (["-p", "novalue"], "-p expects KEY=VALUE"),
    ],
)
def test_wrong_values_exit_2_with_a_message(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--notebooks", "01", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("- seed: 1\n", "a parameters file is a YAML mapping (name: value lines), not a list"),
        ("seed: [1\n", "not a valid parameters file: [yaml_syntax]"),
        ("just text\n", "not a str"),
        ("1: x\n", "parameter names are text"),
        # the tag is not honoured (a plain list is read), and the list is not an int
        ("seed: !!python/object/apply:os.system ['touch PWNED']\n", "parameter 'seed': expected int"),
    ],
)
def test_a_bad_parameters_file_is_one_line_exit_2(text, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "p.yml"
    f.write_text(text)
    assert main(["report", "--notebooks", "01", "-f", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yml"]


def test_a_missing_parameters_file(tmp_path, capsys):
    assert main(["report", "-f", str(tmp_path / "nope.yml")]) == 2
    assert "cannot read the parameters file" in capsys.readouterr().err


def test_values_read_as_yaml_then_checked():
    params, raw = read_parameters(["seed=8", "outcomes=[pain, function]", "reference_arm=yes", "data=my file.csv"])
    assert params == {"seed": 8, "outcomes": ["pain", "function"], "reference_arm": True, "data": "my file.csv"}
    checked = check_parameters(params, [NB01], raw)
    assert checked["reference_arm"] == "yes"  # YAML read `yes` as true; the parameter is text: kept as typed
    with pytest.raises(ParameterError, match="expected str | None, got True"):
        check_parameters({"reference_arm": True}, [NB01])  # from a file, YAML types are what was written


@pytest.mark.parametrize(
    "value",
    [
        'x"); __import__("os").system("touch PWNED"); ("',
        "'''\"\"\"\\\n\\x00\u00e9\U0001f600",
        "line one\nline two\r\n\ttab",
        {"nested": ["a", {"b": 'c"d'}], "n": -1.5e300},
    ],
)
def test_injected_values_are_exactly_the_literals(value):
    src = literal_cell({"label": value})
    namespace: dict = {}
    exec(compile(src, "<injected>", "exec"), {"__builtins__": {}}, namespace)  # no builtins: literals only
    assert namespace == {"label": value}


def test_values_that_are_not_plain_are_refused():
    assert "only text, numbers" in check_value(float("nan"), "float")
    assert "only text, numbers" in check_value({1: "a"}, "dict")
    assert check_value(3, "float") is None and check_value(True, "int") is not None


def test_injection_only_touches_declared_names(tmp_path):
    import nbformat

    out = inject(NB01, tmp_path / "x.ipynb", {"seed": 3, "label": "not declared by 01"})
    nb = nbformat.read(str(out), as_version=4)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and cells[0].source.splitlines()[1:] == ["seed = 3"]
    assert nb.cells.index(cells[0]) == 2  # right after the parameters cell


def test_notebook_parameter_cells_hold_only_values(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("seed: int = 1\nimport os")
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    path = Path(tmp_path / "bad.ipynb")
    nbformat.write(nb, str(path))
    with pytest.raises(Exception, match="may hold only assignments of values"):
        notebook_parameters(path)


def test_the_shipped_notebooks_are_what_the_builder_writes(tmp_path):
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("build_notebooks", root / "tools" / "build_notebooks.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for path in builder.build(folder=tmp_path):
        shipped = (NOTEBOOK_DIR / path.name).read_bytes()
        assert path.read_bytes() == shipped, f"{path.name} differs: run tools/build_notebooks.py"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))


def test_jobs_default_to_the_cores_and_must_be_positive(tmp_path):
    import os

    from painstudy.errors import ReportError
    from painstudy.reporting import default_jobs, run_report

    assert default_jobs() == len(os.sched_getaffinity(0))
    for bad in (0, -1, True):
        with pytest.raises(ReportError, match="jobs must be a number at least 1"):
            run_report("demo", notebooks=["01"], jobs=bad, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "text, match",
    [("{not json", "not a Jupyter notebook \\(not JSON"), ('{"cells": 3}', "not a Jupyter notebook of format 4")],
)
def test_a_file_that_is_not_a_notebook_is_refused(tmp_path, capsys, text, match):
    import re

    nb = tmp_path / "broken.ipynb"
    nb.write_text(text)
    assert main(["report", "demo", "--notebooks", str(nb), "--out", str(tmp_path / "r")]) == 1
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_injection_keeps_the_notebook_format(tmp_path):
    """The runner writes the parameterised copy without nbformat; nbformat must read it as valid."""
    import nbformat

    src = NOTEBOOK_DIR / "01_cohort.ipynb"
    out = inject(src, tmp_path / "01.ipynb", {"seed": 7, "study": "demo"})
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "seed = 7" in injected[0].source


def test_a_key_written_twice_in_a_parameters_file_is_refused(tmp_path):
    from painstudy.reporting.parameters import read_parameters_file

    f = tmp_path / "p.yml"
    f.write_text("seed: 1\nseed: 2\n")
    with pytest.raises(ParameterError, match=r"\[duplicate_key\] .*line 2: field seed: key 'seed' is written twice"):
        read_parameters_file(f)
