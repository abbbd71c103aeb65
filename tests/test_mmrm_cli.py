"""``painstudy fit mmrm`` from the shell: every data format, visit order, bad values, JSON output,
non-convergence, help texts.

Expected numbers: fev_data with VIS1..VIS4 relabelled week4..week26, ar1, REML: -2LL from
tests/reference/mmrm_visit_order_fev.json (``Rscript tests/reference/mmrm_reference.R visitorder``: nlme::gls
with the visits in time order, 3572.2567, and in alphabetical order, 3577.0985).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from painstudy.cli import build_parser, main

REF = {
    f["order"]: f
    for f in json.loads((Path(__file__).parent / "reference" / "mmrm_visit_order_fev.json").read_text())["fits"]
}
WEEKS = {"VIS1": "week4", "VIS2": "week8", "VIS3": "week12", "VIS4": "week26"}
FORMULA = "FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def weeks(shared) -> pd.DataFrame:
    fev = pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")
    return fev.assign(AVISIT=fev["AVISIT"].map(WEEKS))


@pytest.fixture
def csv_file(weeks, tmp_path) -> Path:
    p = tmp_path / "fev_weeks.csv"
    weeks.to_csv(p, index=False)
    return p


def _fit(path, *extra, formula=FORMULA):
    return main(["fit", "mmrm", "--data", str(path), "--formula", formula, *extra])


@pytest.mark.parametrize("ext", ["csv.gz", "tsv", "parquet", "xlsx", "dta", "sav", "xpt"])
def test_every_data_format(weeks, tmp_path, capsys, ext):
    from painstudy.io import write_table

    path = tmp_path / f"fev_weeks.{ext}"
    if ext == "csv.gz":
        weeks.to_csv(path, index=False, compression="gzip")
    else:
        write_table(weeks, path)
    out = tmp_path / "fit.json"
    assert _fit(path, "--json", str(out)) == 0
    text = capsys.readouterr().out
    assert "visits (natural order of the labels): week4 < week8 < week12 < week26" in text
    doc = json.loads(out.read_text())
    assert doc["neg2_log_lik"] == pytest.approx(REF["time"]["neg2_log_lik"], rel=1e-6)
    assert doc["covariance"]["visits"] == ["week4", "week8", "week12", "week26"]


def test_visit_order_option(csv_file, tmp_path, capsys):
    out = tmp_path / "alpha.json"
    assert _fit(csv_file, "--visit-order", "week12", "week26", "week4", "week8", "--json", str(out)) == 0
    assert "visits (visit_order): week12 < week26 < week4 < week8" in capsys.readouterr().out
    assert json.loads(out.read_text())["neg2_log_lik"] == pytest.approx(REF["alphabetical"]["neg2_log_lik"], rel=1e-6)
    assert _fit(csv_file, "--visit-order", "week4", "week8") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "visit(s) ['week12', 'week26'] are not in visit_order" in err


def test_bad_values_are_one_line_errors(weeks, tmp_path, capsys):
    d = weeks.astype({"FEV1": object})
    d.loc[6, "FEV1"] = "inf"  # data row 7 of the file
    path = tmp_path / "bad.csv"
    d.to_csv(path, index=False)
    assert _fit(path) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"painstudy: error: {path}: column 'FEV1', row 7: value inf is not a finite number")


def test_json_output_rules(csv_file, tmp_path, capsys):
    # a folder, or an existing file painstudy did not write: one-line errors, exit 1, nothing replaced
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert _fit(csv_file, "--json", str(folder)) == 1
    assert "is a folder" in capsys.readouterr().err
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}\n')
    assert _fit(csv_file, "--json", str(foreign)) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "was not written by painstudy" in err
    assert foreign.read_text() == '{"mine": true}\n'
    # a missing folder is created; a JSON file painstudy wrote may be replaced
    new = tmp_path / "new" / "deeper" / "fit.json"
    assert _fit(csv_file, "--json", str(new)) == 0 and new.exists()
    assert _fit(csv_file, "--json", str(new)) == 0
    assert json.loads(new.read_text())["written_by"].startswith("painstudy")
    blocked = tmp_path / "plain_file"
    blocked.write_text("x")
    assert _fit(csv_file, "--json", str(blocked / "fit.json")) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_nonconvergence_is_an_error_unless_allowed(csv_file, monkeypatch, capsys):
    import painstudy.models.mixed.mmrm as M

    real = M.mmrm

    def stopped_early(*args, **kwargs):  # one BFGS iteration, no Newton: cannot converge
        return real(*args, **kwargs, control={"optimizers": ("BFGS",), "maxiter": 1, "newton_steps": 0})

    monkeypatch.setattr(M, "mmrm", stopped_early)
    assert _fit(csv_file) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and "the MMRM did not converge" in err and "--allow-nonconvergence" in err
    assert captured.out == ""
    assert _fit(csv_file, "--allow-nonconvergence") == 0
    out = capsys.readouterr().out
    for heading in (
        "NOT CONVERGED: MMRM",
        "NOT CONVERGED: Coefficients:",
        "NOT CONVERGED: Covariance:",
        "NOT CONVERGED: Type III tests:",
    ):
        assert heading in out


def test_every_option_has_help():
    parser = build_parser()
    fit = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "fit")[1]
    sub = fit._subparsers._group_actions[0].choices["mmrm"]
    for action in sub._actions:
        assert action.help, action.option_strings
    assert main(["fit", "mmrm", "--help"]) == 0


def _small_trial(path, age_at_row6="45"):
    """60 subjects x 3 visits, arms A/B/C; ``age_at_row6`` replaces the age of data row 6."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 60
    d = pd.DataFrame(
        {
            "subject": np.repeat([f"P{i:03d}" for i in range(n)], 3),
            "arm": np.repeat(np.array(list("ABC"))[np.arange(n) % 3], 3),
            "age": np.repeat(rng.integers(20, 80, n), 3).astype(object),
            "visit": np.tile(["baseline", "week4", "week12"], n),
        }
    )
    d["pain"] = np.round(rng.normal(6, 1.5, len(d)), 1)
    d.loc[5, "age"] = age_at_row6
    d.to_csv(path, index=False)
    return path


def test_words_among_the_numbers_of_a_covariate_are_refused(tmp_path, capsys):
    """One 'n/a' in a numeric covariate must not turn it into a factor with one level per value."""
    f = _small_trial(tmp_path / "d.csv", age_at_row6="n/a")
    rc = main(["fit", "mmrm", "--data", str(f), "--formula", "pain ~ age + arm * visit + us(visit | subject)"])
    err = capsys.readouterr().err
    assert rc == 1 and "[not_numeric]" in err and "column 'age' holds numbers except at data row 6 ('n/a')" in err


def test_a_factor_with_one_level_is_named(tmp_path, capsys):
    f = _small_trial(tmp_path / "d.csv")
    import pandas as pd

    d = pd.read_csv(f)
    d[d["arm"] == "B"].to_csv(f, index=False)
    rc = main(["fit", "mmrm", "--data", str(f), "--formula", "pain ~ arm * visit + us(visit | subject)"])
    err = capsys.readouterr().err
    assert rc == 1 and "column 'arm' has a single level ('B')" in err and "internal error" not in err
