"""The reproduction framework (painstudy.reproduce): the published-numbers file format, printed bounds, the
registry of sources, the lookup of reference files, and the sources sas-fev and rbmi-antidepressant.

Sources of the expected numbers:
- sas-fev: the SAS PROC MIXED listings in ../shared/references/mmrm_sas/ (openpharma/mmrm design/SAS/), read by
  painstudy.reproduce.sas_listing from there (published/sas-fev.csv names file, table, row and column only);
- rbmi-antidepressant: rbmi's vignette "CondMean_Inference", as recorded in
  ../shared/datasets/rbmi_antidepressant/README.md (the package's published/rbmi-antidepressant.csv is checked
  against that record here).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import ledger
import pandas as pd
import pytest
from conftest import shared_or_skip

from painstudy.cli import main
from painstudy.errors import PainstudyError
from painstudy.notebooks import __file__ as notebooks_init
from painstudy.reproduce import (
    SOURCES,
    STUDIES,
    Published,
    PublishedFileError,
    ReferencesError,
    compare,
    published_numbers,
    references_folder,
    reproduce,
)
from painstudy.reproduce.published import COLUMNS, published_path, read_published
from painstudy.reproduce.sas_fev import REASONS as SAS_REASONS
from painstudy.reproduce.sas_fev import SAS_VISIT_ORDER
from painstudy.reproduce.sas_listing import read_listing, un_parameter_visits
from painstudy.reproduce.sources import REFERENCES_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = Path(notebooks_init).parent


# ------------------------------------------------------------------------------------------- the format
def _write(tmp_path, rows, header=COLUMNS) -> Path:
    p = tmp_path / "broken.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return p


def _row(item="x", value="1.5", precision="printed", source="paper", table="", row="", column="", reason=""):
    return [item, value, precision, source, table, row, column, reason]


def test_printed_precision_and_bounds():
    assert Published("n", "401").tolerance == pytest.approx(0.5) and Published("n", "401").value == 401
    assert Published("p", "0.0002").tolerance == pytest.approx(0.5e-4)
    assert Published("e", "-0.04231").tolerance == pytest.approx(0.5e-5)
    assert Published("e", "1.2E-5").tolerance == pytest.approx(0.5e-6) and Published("e", "1.2E-5").value == 1.2e-5
    assert Published("pct", "83%").value == 83
    assert Published("a", "1.5", precision="abs:0.2").tolerance == 0.2
    # SAS prints p-values below 0.0001 as a bound: any value beyond it is the printed text
    p = Published("p", "<.0001")
    assert p.relation == "<" and p.value == 1e-4 and pd.isna(p.tolerance)
    assert p.admits(3e-12) and not p.admits(2e-4) and not p.admits(float("nan"))
    assert Published("q", ">0.999").admits(0.9995) and not Published("q", ">0.999").admits(0.99)
    # half a unit of the last digit, inclusive
    assert Published("t", "3.51").admits(3.505) and not Published("t", "3.51").admits(3.5149 + 0.0002)


def test_compare_statuses():
    pub = [
        Published("a", "1.5"),
        Published("b", "<.0001"),
        Published("c", "2.0", reason="a documented reason"),
        Published("d", "2.0"),
        Published("e", "7"),
    ]
    t = compare(pub, {"a": 1.54, "b": 1e-9, "c": 2.3, "d": 2.3}).set_index("item")
    assert list(t["status"]) == ["match", "match", "documented", "differs", "differs"]  # e: not reproduced
    assert t.loc["c", "reason"] == "a documented reason" and t.loc["d", "reason"] == ""
    assert pd.isna(t.loc["b", "tolerance"]) and t.loc["b", "published"] == "<.0001"
    assert list(t.reset_index().columns) == [
        "item",
        "published",
        "reproduced",
        "tolerance",
        "status",
        "reason",
        "source",
    ]


def test_vickers_published_file_reads_with_its_reasons():
    from painstudy.reproduce.vickers2004 import REASONS

    pub = published_numbers("vickers2004")
    assert len(pub) == 255 and len({p.item for p in pub}) == 255
    assert {p.reason for p in pub} == {""} | set(REASONS.values())
    assert all(p.source.startswith("paper / ") for p in pub)
    by = {p.item: p for p in pub}
    assert by["Table 2: headache score difference 12 months"].printed == "4.6"
    assert by["Table 2: headache score difference 12 months P"].printed == "0.0002"


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([_row()], ("item", "value", "source"), r"broken\.csv, line 1: missing column\(s\) precision, table"),
        ([_row(value="1.2.3")], COLUMNS, r"broken\.csv, line 2, column value: .*'1\.2\.3' is not a number"),
        ([_row(), _row()], COLUMNS, r"broken\.csv, line 3, column item: 'x' repeats line 2"),
        ([_row(item="")], COLUMNS, r"line 2, column item: empty item name"),
        ([_row(reason="no_such_key")], COLUMNS, r"line 2, column reason: unknown reason key 'no_such_key'"),
        ([_row(precision="sig:3")], COLUMNS, r"line 2, column precision: 'sig:3' is not a tolerance rule"),
        ([_row(value="")], COLUMNS, r"line 2, column value: 'x' has no value and its source has no reader"),
        ([_row()[:5]], COLUMNS, r"line 2: 5 cells, the header has 8"),
    ],
)
def test_broken_published_file_gives_a_named_error(tmp_path, rows, header, message):
    with pytest.raises(PublishedFileError, match=message):
        read_published(_write(tmp_path, rows, header))


def test_missing_published_file(tmp_path):
    with pytest.raises(PublishedFileError, match=r"nothing\.csv: cannot read the published numbers"):
        read_published(tmp_path / "nothing.csv")


def test_listing_locator_that_selects_no_row_names_the_line(tmp_path):
    folder = shared_or_skip("references", "mmrm_sas")
    from painstudy.reproduce.sas_listing import listing_lookup

    ok = _row(value="", source="sas_log_reml.txt", table="Fit Statistics", row="name=AIC (Smaller is Better)")
    ok[6] = "value"
    bad = _row(item="y", value="", source="sas_log_reml.txt", table="Solution for Fixed Effects")
    bad[5], bad[6] = "Effect=ARMCD; ARMCD=XYZ", "Estimate"
    (pub,) = read_published(_write(tmp_path, [ok]), lookup=listing_lookup(folder))
    assert pub.printed == "3406.4" and pub.source.endswith("Fit Statistics / name=AIC (Smaller is Better) / value")
    with pytest.raises(PublishedFileError, match=r"line 3 \('y'\): .*0 rows match 'Effect=ARMCD; ARMCD=XYZ'"):
        read_published(_write(tmp_path, [ok, bad]), lookup=listing_lookup(folder))


# ------------------------------------------------------------------------------------------- the registry
def test_every_source_has_its_file_function_study_and_notebooks():
    from importlib import import_module

    from painstudy.datasets import registered_studies

    assert set(STUDIES) == set(SOURCES) == {"vickers2004", "sas-fev", "rbmi-antidepressant"}
    for name, s in SOURCES.items():
        assert s.name == name and s.title and s.citation
        assert published_path(name).is_file()
        assert callable(import_module(s.module).recompute)
        assert s.study in registered_studies()
        for nb in s.notebooks:
            assert (NOTEBOOKS / f"{nb}.ipynb").is_file(), nb


def test_unknown_source():
    with pytest.raises(PainstudyError, match=r"no reproduction for 'nope'; available: vickers2004, sas-fev"):
        reproduce("nope")


def test_references_lookup(tmp_path, monkeypatch):
    sas = SOURCES["sas-fev"]
    assert references_folder(SOURCES["vickers2004"]) is None  # reads no reference files
    with pytest.raises(ReferencesError) as e:
        references_folder(sas, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "sas_log_reml.txt, sas_log.txt, sas_log_simple_reml.txt" in msg
    assert str(tmp_path) in msg and "--references PATH" in msg
    # the files, or a folder holding mmrm_sas/, given or through $PAINSTUDY_REFERENCES
    for f in sas.reference_files:
        (tmp_path / "refs" / "mmrm_sas").mkdir(parents=True, exist_ok=True)
        (tmp_path / "refs" / "mmrm_sas" / f).write_text("x")
    assert references_folder(sas, tmp_path / "refs") == (tmp_path / "refs" / "mmrm_sas").resolve()
    assert references_folder(sas, tmp_path / "refs" / "mmrm_sas") == (tmp_path / "refs" / "mmrm_sas").resolve()
    monkeypatch.setenv(REFERENCES_ENV, str(tmp_path / "refs"))
    assert references_folder(sas) == (tmp_path / "refs" / "mmrm_sas").resolve()
    # beside the data mirror
    monkeypatch.delenv(REFERENCES_ENV)
    (tmp_path / "refs" / "datasets").mkdir()
    monkeypatch.setenv("PAINSTUDY_DATA_MIRROR", str(tmp_path / "refs" / "datasets"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refs" / "references").symlink_to(tmp_path / "refs")
    assert references_folder(sas) == (tmp_path / "refs" / "mmrm_sas").resolve()


def test_missing_references_cli_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "sas-fev", "--references", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("painstudy reproduce: sas-fev: reference files not found: sas_log_reml.txt")
    assert list(tmp_path.iterdir()) == []  # nothing written
    with pytest.raises(ReferencesError):
        reproduce("sas-fev", references=tmp_path / "none")


# ------------------------------------------------------------------------------------------- sas-fev
@pytest.fixture(scope="module")
def sas_fev():
    shared_or_skip("references", "mmrm_sas")
    shared_or_skip("datasets", "mmrm_fev_bcva")
    return reproduce("sas-fev")


def test_sas_fev_numbers_are_read_from_the_listings_never_transcribed():
    rows = list(csv.DictReader(published_path("sas-fev").open()))
    assert len(rows) == 284 and all(r["value"] == "" for r in rows)
    assert {r["source"] for r in rows} == set(SOURCES["sas-fev"].reference_files)
    assert {r["reason"] for r in rows} <= {""} | set(SAS_REASONS)


def test_sas_fev_covariance_items_follow_sas_visit_order(sas_fev):
    """UN(i,j) is numbered in SAS's class order of AVISIT (VIS2, VIS3, VIS4, VIS1), read from each listing."""
    folder = references_folder(SOURCES["sas-fev"])
    for r in csv.DictReader(published_path("sas-fev").open()):
        if r["table"] == "Covariance Parameter Estimates":
            where = un_parameter_visits(read_listing(folder / r["source"]), "AVISIT")
            name = r["row"].removeprefix("Cov Parm=")
            assert f"{name} {where[name][0]},{where[name][1]} / Estimate" in r["item"]
    assert read_listing(folder / "sas_log_reml.txt").class_levels["AVISIT"].levels == SAS_VISIT_ORDER


def test_sas_fev_reproduced(sas_fev):
    t = sas_fev.table
    assert sas_fev.ok and set(t["status"]) == {"match", "documented"}
    counts = t["status"].value_counts().to_dict()
    assert counts == {"match": 189, "documented": 95}
    # what differs, and only that: SAS short of the optimum, and BIC's subject count
    doc = t[t["status"] == "documented"]
    assert set(doc["reason"]) == set(SAS_REASONS.values())
    bic = doc["item"].str.endswith("BIC (Smaller is Better)")
    assert bic.sum() == 3 and (doc.loc[bic, "reason"] == SAS_REASONS["bic_subjects"]).all()
    # the bounds SAS prints (<.0001) are matched by painstudy's smaller p-values
    bounds = t[t["published"].str.startswith("<")]
    assert len(bounds) == 27 and (bounds["status"] == "match").all()
    # the primary comparison of the REML listing, to printed precision
    by = t.set_index("item")
    for q in ("Estimate", "DF", "t Value", "Pr > |t|", "Upper"):
        assert by.loc[f"REML / Differences of Least Squares Means / TRT - PBO at VIS4 / {q}", "status"] == "match"
    assert [r["role"] for r in sas_fev.references] == ["SAS listing"] * 3
    with ledger.Batch() as b:
        for r in t[t["status"] == "match"].itertuples():
            b.check_printed(
                f"painstudy reproduce sas-fev / {r.item}",
                r.reproduced,
                r.published,
                source="../shared/references/mmrm_sas/" + r.source.split(" / ")[0],
            )


# ------------------------------------------------------------------------------------- rbmi-antidepressant
def test_rbmi_published_file_agrees_with_the_recorded_vignette():
    text = shared_or_skip("datasets", "rbmi_antidepressant", "README.md").read_text()
    rows = re.findall(r"^\s*\| (\d) \| (-?[\d.]+) \| ([\d.]+) \| (-?[\d.]+) to (-?[\d.]+) \| ([\d.]+) \|", text, re.M)
    lsm = re.search(r"LS means at visit 7: drug (-?[\d.]+) \(se ([\d.]+)\), placebo (-?[\d.]+) \(se ([\d.]+)\)", text)
    recorded = {}
    for visit, *values in rows:
        recorded.update({f"trt_{visit} / {c}": v for c, v in zip(("est", "se", "lci", "uci", "pval"), values)})
    recorded.update(dict(zip(("lsm_ref_7 / est", "lsm_ref_7 / se", "lsm_alt_7 / est", "lsm_alt_7 / se"), lsm.groups())))
    assert {p.item: p.printed for p in published_numbers("rbmi-antidepressant")} == recorded


def test_rbmi_antidepressant_reproduced():
    shared_or_skip("datasets", "rbmi_antidepressant")
    res = reproduce("rbmi-antidepressant")
    t = res.table
    assert res.ok and (t["status"] == "match").all() and len(t) == 24
    assert res.cohort.n_subjects == 172 and res.references == ()
    with ledger.Batch() as b:
        for r in t.itertuples():
            b.check_printed(
                f"painstudy reproduce rbmi-antidepressant / {r.item}",
                r.reproduced,
                r.published,
                source="../shared/datasets/rbmi_antidepressant/README.md (rbmi vignette CondMean_Inference)",
            )


# ------------------------------------------------------------------------------------------- the command
@pytest.mark.slow
@pytest.mark.parametrize("name", ["sas-fev", "rbmi-antidepressant"])
def test_cli_reproduces_the_committed_report(name, tmp_path, capsys):
    shared_or_skip("references", "mmrm_sas")
    out = tmp_path / name
    assert main(["reproduce", name, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(rf"\n{len(pd.read_csv(out / 'tables' / 'reproduction.csv'))} items: match \d+", text)
    committed = ROOT / "reports" / name
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "tables" / "reproduction.csv", dtype={"published": str}),
        pd.read_csv(committed / "tables" / "reproduction.csv", dtype={"published": str}),
        check_exact=False,
        rtol=1e-9,
    )
    html = (committed / f"05_reproduce_{name}.html").read_text(encoding="utf-8")
    assert SOURCES[name].title in html
