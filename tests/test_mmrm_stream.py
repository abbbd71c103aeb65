"""The MMRM fitted from a Parquet file in chunks (painstudy.models.mixed.mmrm_stream) is the in-memory fit.

Reference: the in-memory fit of the same rows (itself checked against SAS PROC MIXED and R in
test_mmrm_sas.py / test_mmrm_reference.py); agreement required to 1e-10 (relative), the issue's bound.
Chunks are made tiny here (a few dozen rows, cutting subjects across chunks and row groups) so every
boundary case of the chunked read is exercised on data of test size.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from painstudy.errors import ModelError
from painstudy.models.mixed.mmrm import mmrm

FEV = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"
TOL = 1e-10


@pytest.fixture(scope="module")
def fev(shared):
    return pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")


@pytest.fixture(scope="module")
def fev_file(fev, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "fev.parquet"
    fev.to_parquet(path, row_group_size=50)  # row groups cut subjects
    return path


def sim(n=150, T=5, seed=4):
    """String subject ids, an ordered categorical visit whose order is not alphabetical, a baseline
    with gaps, a numeric factor, missing outcomes (some subjects have none left), a covariance group."""
    rng = np.random.default_rng(seed)
    vis = ["screen", "week2", "week10", "week4", "week26"][:T]
    order = ["screen", "week2", "week4", "week10", "week26"][:T]
    ids = np.repeat([f"S-{i:04d}" for i in range(n)], T)
    d = pd.DataFrame(
        {
            "subject": ids,
            "visit": pd.Categorical(np.tile(vis, n), categories=order, ordered=True),
            "arm": np.repeat(rng.choice(["usual care", "yoga", "yoga+cbt"], n), T),
            "site": np.repeat(rng.integers(1, 4, n), T),
            "sex": np.repeat(rng.choice(["F", "M"], n), T),
            "base": np.repeat(rng.normal(6, 1.5, n), T),
        }
    )
    tidx = d["visit"].cat.codes.to_numpy()
    e = rng.multivariate_normal(np.zeros(T), 1.5 * 0.5 ** np.abs(np.subtract.outer(range(T), range(T))) + np.eye(T), n)
    d["pain"] = 6 - 0.3 * tidx - 0.4 * tidx * (d["arm"] != "usual care") + 0.5 * d["base"] + e.reshape(-1)
    d.loc[rng.random(len(d)) < 0.15, "pain"] = np.nan
    d.loc[d["subject"].isin(["S-0003", "S-0007"]), "pain"] = np.nan  # subjects with no outcome at all
    d.loc[rng.random(len(d)) < 0.03, "base"] = np.nan
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    return d


def assert_same(a, b, tol=TOL):
    for col in ("estimate", "std_error", "df", "p_value"):
        x, y = a.coefficients[col].to_numpy(), b.coefficients[col].to_numpy()
        scale = np.maximum(np.abs(x), 1e-8 if col == "p_value" else np.abs(a.coefficients["std_error"].to_numpy()))
        assert np.max(np.abs(x - y) / scale) < tol, col
    np.testing.assert_allclose(b.covariance.to_numpy(), a.covariance.to_numpy(), rtol=tol)
    assert abs(a.neg2_log_lik - b.neg2_log_lik) < tol * abs(a.neg2_log_lik)
    for k in ("n_obs", "n_subjects", "n_rows_dropped", "n_subjects_dropped", "visit_levels", "visit_order_source"):
        assert getattr(a, k) == getattr(b, k), k


@pytest.mark.parametrize("df", ["satterthwaite", "kenward-roger", "kenward-roger-linear", "between-within", "residual"])
def test_fev_file_is_the_in_memory_fit(fev, fev_file, df):
    a = mmrm(FEV, fev, df=df)
    b = mmrm(FEV, str(fev_file), df=df, control={"chunk_rows": 37})
    assert_same(a, b)
    la, lb = a.lsmeans("ARMCD", by="AVISIT"), b.lsmeans("ARMCD", by="AVISIT")
    num = la.select_dtypes("number").columns
    np.testing.assert_allclose(lb[num].to_numpy(float), la[num].to_numpy(float), rtol=TOL, atol=1e-12)
    pd.testing.assert_frame_equal(a.anova(), b.anova(), rtol=TOL)
    assert any("read in chunks from fev.parquet" in n for n in b.notes)


@pytest.mark.parametrize("structure", ["ar1h", "toep", "cs"])
def test_structures_groups_and_weights(tmp_path, structure):
    d = sim()
    path = tmp_path / "sim.parquet"
    d.to_parquet(path, row_group_size=23)
    f = f"pain ~ base + sex + C(site) + arm * visit + {structure}(visit | arm / subject)"
    a = mmrm(f, d, weights="w")
    b = mmrm(f, path, weights="w", control={"chunk_rows": 41})
    assert_same(a, b)
    assert b.visit_levels == ("screen", "week2", "week4", "week10", "week26")  # the categorical's order
    assert b.n_subjects_dropped == 2
    assert b.design.numeric_means["base"] == pytest.approx(a.design.numeric_means["base"], rel=1e-14)


def test_chunk_size_and_threads_do_not_change_the_fit(tmp_path):
    d = sim(n=90)
    path = tmp_path / "sim.parquet"
    d.to_parquet(path)
    f = "pain ~ base + arm * visit + us(visit | subject)"
    one = mmrm(f, path, control={"chunk_rows": 1})
    whole = mmrm(f, path, control={"chunk_rows": 10**7})
    assert_same(whole, one, tol=1e-11)
    from painstudy.models.mixed.formula import parse_formula
    from painstudy.models.mixed.mmrm_stream import stream_statistics

    g1 = stream_statistics(parse_formula(f), path, chunk_rows=17, workers=1).engine.forms[0].G
    g3 = stream_statistics(parse_formula(f), path, chunk_rows=17, workers=3).engine.forms[0].G
    assert np.array_equal(g1, g3)  # merged in file order: bitwise the same whatever the threads


def test_folder_of_parquet_files(tmp_path, fev):
    folder = tmp_path / "parts"
    folder.mkdir()
    subjects = fev["USUBJID"].unique()
    for k, part in enumerate(np.array_split(subjects, 3)):
        fev[fev["USUBJID"].isin(part)].to_parquet(folder / f"part-{k}.parquet")
    assert_same(mmrm(FEV, fev), mmrm(FEV, folder))


def _write(tmp_path, d, name="bad.parquet"):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pandas(d, preserve_index=False), path)
    return path


def test_rows_of_a_subject_apart_are_refused(tmp_path, fev):
    d = fev.sort_values(["AVISIT", "USUBJID"])  # sorted by visit: every subject's rows far apart
    path = _write(tmp_path, d)
    with pytest.raises(ModelError, match=r"bad.parquet: the rows of subject .* are not next to each other.*sort it"):
        mmrm(FEV, path, control={"chunk_rows": 100})


def test_bad_values_name_file_row_and_column(tmp_path, fev):
    d = fev.copy()
    d.loc[10, "FEV1"] = np.inf
    with pytest.raises(ModelError, match=r"bad.parquet: column 'FEV1', row 11: value inf is not a finite"):
        mmrm(FEV, _write(tmp_path, d), control={"chunk_rows": 7})
    d = fev.copy()
    d.loc[6, "AVISIT"] = "VIS2"
    with pytest.raises(ModelError, match=r"subject 'PT2' has more than one row at visit 'VIS2'"):
        mmrm(FEV, _write(tmp_path, d))
    d = fev.copy()
    d["USUBJID"] = d["USUBJID"].astype(object)
    d.loc[8, "USUBJID"] = None
    with pytest.raises(ModelError, match=r"column 'USUBJID': row 9 has no subject id"):
        mmrm(FEV, _write(tmp_path, d))
    d = fev.assign(FEV1=fev["FEV1"].astype(str))
    with pytest.raises(ModelError, match=r"column 'FEV1': the outcome must be numeric"):
        mmrm(FEV, _write(tmp_path, d))
    with pytest.raises(ModelError, match=r"column 'AGE' named in the formula is not in the file"):
        mmrm("FEV1 ~ AGE + us(AVISIT | USUBJID)", _write(tmp_path, fev))
    with pytest.raises(ModelError, match="needs every subject's rows in memory"):
        mmrm(FEV, _write(tmp_path, fev), vcov="empirical")
    d = sim()
    d.loc[1, "arm"] = "yoga" if d.loc[0, "arm"] != "yoga" else "usual care"
    with pytest.raises(ModelError, match=r"subject 'S-0000' \(row 2\) belongs to more than one level"):
        mmrm("pain ~ visit + us(visit | arm / subject)", _write(tmp_path, d))


def test_not_parquet_and_missing_file(tmp_path):
    text = tmp_path / "data.parquet"
    text.write_text("subject,visit,y\n1,a,2\n")
    with pytest.raises(ModelError, match=r"data.parquet: cannot be read as Parquet"):
        mmrm("y ~ visit + us(visit | subject)", text)
    with pytest.raises(ModelError, match=r"no such file or folder"):
        mmrm("y ~ visit + us(visit | subject)", tmp_path / "nothing.parquet")


def test_cli_fits_parquet_in_chunks(tmp_path, fev_file, fev):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "painstudy",
            "fit",
            "mmrm",
            "--data",
            str(fev_file),
            "--formula",
            FEV,
            "--json",
            "f.json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "read in chunks from fev.parquet" in out.stdout
    import json

    est = json.loads((tmp_path / "f.json").read_text())["coefficients"]
    ref = mmrm(FEV, fev).coefficients
    got = np.array([r["estimate"] for r in est]) if isinstance(est, list) else np.array(est["estimate"])
    np.testing.assert_allclose(got, ref["estimate"].to_numpy(), rtol=TOL)
    bad = tmp_path / "unsorted.parquet"
    fev.sort_values(["AVISIT", "USUBJID"]).to_parquet(bad)
    out = subprocess.run(
        [sys.executable, "-m", "painstudy", "fit", "mmrm", "--data", str(bad), "--formula", FEV],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.count("unsorted.parquet") == 1 and "not next to each other" in out.stderr
