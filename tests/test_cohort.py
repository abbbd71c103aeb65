"""Loading cohorts: canonical tables, derived outcomes, every file format, the real trials."""

import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.io import read_table, write_table

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_demo_canonical_tables(demo_cohort):
    c = demo_cohort
    assert list(c.visits.columns[:7]) == ["subject", "arm", "arm_class", "site", "condition", "visit", "week"]
    assert len(c.subjects) == 400 and len(c.visits) == 400 * 6
    assert c.visits["visit"].cat.categories.tolist() == ["baseline", "week4", "week8", "week12", "week26", "week52"]
    assert not c.subjects["subject"].duplicated().any()
    for col in ["pain_baseline", "pain_change", "pain_improvement", "pain_pct_improvement", "function_improvement"]:
        assert col in c.visits


def test_derived_outcomes_are_direction_aware(demo_cohort):
    v = demo_cohort.visits.dropna(subset=["pain", "pain_baseline", "function", "function_baseline"])
    np.testing.assert_allclose(v["pain_change"], v["pain"] - v["pain_baseline"])
    np.testing.assert_allclose(v["pain_improvement"], v["pain_baseline"] - v["pain"])  # lower is better
    np.testing.assert_allclose(v["function_improvement"], v["function"] - v["function_baseline"])  # higher
    pos = v[v["pain_baseline"] > 0]
    np.testing.assert_allclose(
        pos["pain_pct_improvement"], 100 * (pos["pain_baseline"] - pos["pain"]) / pos["pain_baseline"]
    )


def test_responder_flags_and_cpra(demo_cohort):
    flags = painstudy.responder_flags(demo_cohort, "pain")
    row = flags.dropna(subset=["pain_pct_improvement"]).iloc[0]
    assert row["pain_resp_moderate"] == float(row["pain_pct_improvement"] >= 30)
    curve = painstudy.cpra(demo_cohort, "pain", "week52")
    assert set(curve["arm"]) == {"usual_care", "physiotherapy", "mindfulness", "integrative"}
    for _, g in curve.groupby("arm"):
        assert (np.diff(g["proportion"].to_numpy()) <= 1e-12).all()  # cumulative: non-increasing in cut-off


# SAS transport names have at most 8 characters; "function" is reserved in Stata
_RENAMES = {
    "xpt": {
        "subject_id": "subject_",
        "week_actual": "week_act",
        "withdrawal_reason": "wdreason",
        "function": "physfunc",
    },
    "dta": {"function": "physfunc"},
}


@pytest.mark.parametrize("ext", ["csv", "tsv", "csv.gz", "parquet", "xlsx", "dta", "sav", "xpt"])
def test_every_format_gives_the_same_cohort(tmp_path, demo_cohort, ext):
    from dataclasses import replace

    raw = pd.read_csv(ROOT / "painstudy" / "datasets" / "studies" / "demo" / "data.csv")
    raw["withdrawal_reason"] = raw["withdrawal_reason"].fillna("")  # '' means no reason in every format
    renames = _RENAMES.get(ext, {})
    raw = raw.rename(columns=renames)
    path = tmp_path / f"demo.{ext}"
    if ext == "csv.gz":
        raw.to_csv(path, index=False, compression="gzip")
    else:
        write_table(raw, path)
    spec = painstudy.read_study(ROOT / "painstudy" / "datasets" / "studies" / "demo" / "study.yml")
    if renames:
        r = lambda c: renames.get(c, c)  # noqa: E731
        spec = spec.replace(
            subject=r(spec.subject),
            time_column=r(spec.time_column),
            withdrawal_reason=r(spec.withdrawal_reason),
            outcomes={k: replace(o, column=r(o.column)) for k, o in spec.outcomes.items()},
        )
    cohort = painstudy.load_cohort(spec, data=path)
    cols = ["subject", "arm", "visit", "pain", "function", "mme"]
    pd.testing.assert_frame_equal(cohort.visits[cols], demo_cohort.visits[cols], check_dtype=False)
    assert cohort.subjects["completer"].sum() == demo_cohort.subjects["completer"].sum()
    assert cohort.subjects["withdrawn"].sum() == demo_cohort.subjects["withdrawn"].sum()


def test_data_frame_input_and_exclusions(demo_cohort):
    raw = pd.read_csv(ROOT / "painstudy" / "datasets" / "studies" / "demo" / "data.csv")
    c = painstudy.load_cohort("demo", data=raw)
    assert c.source == "<DataFrame>"
    unassessed = c.exclusions.set_index("rule").loc["scheduled visits with no outcome assessed", "n"]
    assert unassessed == int(c.visits[["pain", "function", "mme"]].isna().all(axis=1).sum()) > 0


# --- Vickers et al., BMJ 2004: Figure 1 and Table 1 (completers), as published -----------------


def test_vickers_disposition_matches_figure_1(vickers_cohort):
    flow = vickers_cohort.disposition()
    assert flow.loc["randomised"].to_dict() == {"usual_care": 196, "acupuncture": 205, "Total": 401}
    assert flow.loc["completed"].to_dict() == {"usual_care": 140, "acupuncture": 161, "Total": 301}
    assert flow.loc["assessed at month12"].to_dict() == {"usual_care": 140, "acupuncture": 161, "Total": 301}


def test_vickers_completers_table1_matches_paper(vickers_cohort):
    t = vickers_cohort.completers().table1(tidy=True)
    t["group"] = t["group"].map({"Acupuncture + usual care": "acu", "Usual care": "ctl", "Total": "all"})

    def num(var, grp):
        return t[(t["variable"] == var) & (t["group"] == grp) & (t["level"] == "")].iloc[0]

    def cat(var, level, grp):
        return t[(t["variable"] == var) & (t["group"] == grp) & (t["level"] == level)].iloc[0]

    # published Table 1: age 46.4 (10.0) vs 46.2 (10.8); chronicity 21.3 (14.5) vs 21.9 (13.3)
    for grp, age, age_sd, chron, chron_sd, n in [
        ("acu", 46.4, 10.0, 21.3, 14.5, 161),
        ("ctl", 46.2, 10.8, 21.9, 13.3, 140),
    ]:
        assert num("age", grp)["n"] == n
        assert round(num("age", grp)["mean"], 1) == age and round(num("age", grp)["sd"], 1) == age_sd
        assert round(num("chronicity", grp)["mean"], 1) == chron
        assert round(num("chronicity", grp)["sd"], 1) == chron_sd
    # female 133 (83%) vs 120 (86%); migraine 152 (94%) vs 132 (94%)
    assert (cat("sex", "female", "acu")["count"], round(cat("sex", "female", "acu")["percent"])) == (133, 83)
    assert (cat("sex", "female", "ctl")["count"], round(cat("sex", "female", "ctl")["percent"])) == (120, 86)
    assert (cat("migraine", "yes", "acu")["count"], round(cat("migraine", "yes", "acu")["percent"])) == (152, 94)
    assert (cat("migraine", "yes", "ctl")["count"], round(cat("migraine", "yes", "ctl")["percent"])) == (132, 94)


def test_vickers_headache_days_not_assessed_are_missing_not_zero(vickers_cohort):
    v = vickers_cohort.visits
    assert v.loc[v["headache_score"].isna(), "headache_days"].isna().all()
    n = vickers_cohort.exclusions.set_index("rule").loc[
        "headache_days set to missing where headache_score was not assessed", "n"
    ]
    assert n == 175  # 75 missing diaries at 3 months + 100 at 12 months


def test_chow_long_file_with_numeric_codes():
    c = painstudy.load_cohort("chow2006")
    # Chow et al. Pain 2006;124:201-210: 90 patients randomised 45 active laser, 45 sham
    assert c.subjects["arm"].value_counts().to_dict() == {"sham": 45, "laser": 45}
    assert c.visits["vas"].notna().sum() == 264  # six missing at week 7, no row in the file
    assert c.subjects["arm_class"].astype(str).value_counts().to_dict() == {"control": 45, "single-modality": 45}


def test_fev_baseline_from_a_column():
    c = painstudy.load_cohort("fev")
    assert c.spec.baseline_visit is None
    # SAS Number of Observations: 800 read, 263 not used (../shared/references/mmrm_sas/sas_log_reml.txt)
    assert c.visits["FEV1"].notna().sum() == 800 - 263
    assert c.subjects["FEV1_baseline"].notna().all()


def test_canonical_tables_have_a_contract(demo_cohort):
    """pandera schemas of Cohort.subjects / Cohort.visits catch a broken table, every failure at once."""
    from painstudy.errors import CohortError
    from painstudy.schemas import check_cohort_tables

    check_cohort_tables(demo_cohort.spec, demo_cohort.subjects, demo_cohort.visits, "demo")  # passes
    visits = demo_cohort.visits.copy()
    visits.loc[3, "pain"] = 12.0  # outside NRS 0-10
    visits = pd.concat([visits, visits.iloc[[0]]], ignore_index=True)  # duplicate subject x visit
    with pytest.raises(CohortError) as err:
        check_cohort_tables(demo_cohort.spec, demo_cohort.subjects, visits, "demo")
    rules = " ".join(err.value.failures["rule"])
    assert "in_range" in rules and ("unique" in rules.lower() or "duplicate" in rules.lower()), rules


# --- JupyterLab: a Cohort renders as its study, arms with n, visits, outcomes and status -------------


def test_cohort_renders_as_readable_html(demo_cohort):
    html = demo_cohort._repr_html_()
    assert "Cohort demo: Simulated integrative pain-management trial" in html
    for fragment in ("usual_care", "integrative", "week52", "promis_pf", "valid: every rule holds", "<table"):
        assert fragment in html, fragment
    arms = demo_cohort.to_frame("arms").set_index("arm")
    assert arms["n"].to_dict() == {"usual_care": 100, "physiotherapy": 100, "mindfulness": 100, "integrative": 100}
    assert arms["n"].sum() == demo_cohort.n_subjects
    assert demo_cohort.to_frame("visits")["assessed"].iloc[0] == 400
    assert repr(demo_cohort).startswith("<Cohort: Cohort demo") and "subjects 400" in repr(demo_cohort)
    assert "arms:" in str(demo_cohort) and demo_cohort.to_dict()["facts"]["subjects"] == 400


def test_table1_shows_a_dash_for_an_empty_arm(demo_cohort):
    """Table 1 of a population without one arm: '-' where there is nothing to summarise, never 'nan'."""
    keep = demo_cohort.subjects.loc[demo_cohort.subjects["arm"] != "mindfulness", "subject"]
    t = demo_cohort.subset(keep, reason="no mindfulness").table1()
    col = [c for c in t.columns if c.startswith("Mindfulness")][0]
    assert col.endswith("(n = 0)")
    assert set(t[col]) <= {"-", ""} and (t[col] == "-").any()
    assert not t.apply(lambda s: s.str.contains("nan")).any().any()


def test_vickers_completer_flags_written_as_words(tmp_path, shared):
    """BMJ 2004 Figure 1: 301 completers, 100 withdrawn, whatever the spelling of the completer flag."""
    from painstudy.datasets import fetch

    raw = pd.read_csv(fetch("vickers2004"), dtype=str, keep_default_na=False)
    for yes, no in (("TRUE", "FALSE"), ("Yes", "No")):
        raw2 = raw.assign(completer=raw["completer"].map({"1": yes, "0": no}))
        path = tmp_path / f"vickers_{yes}.csv"
        raw2.to_csv(path, index=False)
        c = painstudy.load_cohort("vickers2004", data=path)
        # Vickers et al. BMJ 2004;328:744, Figure 1: 301 of 401 completed the 12-month follow-up
        assert int(c.subjects["completer"].sum()) == 301 and int(c.subjects["withdrawn"].sum()) == 100


def test_describe_json_is_refused_where_it_cannot_be_written(tmp_path, capsys):
    from painstudy.cli import main

    assert main(["describe", "--population", "all", "--json", str(tmp_path)]) == 1  # a folder
    assert "is a folder" in capsys.readouterr().err
    foreign = tmp_path / "mine.json"
    foreign.write_text('{"my": "notes"}')
    assert main(["describe", "--population", "all", "--json", str(foreign)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err and foreign.read_text() == '{"my": "notes"}'
    out = tmp_path / "new" / "describe.json"  # a missing folder is created
    assert main(["describe", "--population", "all", "--json", str(out)]) == 0 and out.exists()
    assert main(["describe", "--population", "all", "--json", str(out)]) == 0  # painstudy's own file: replaced


def test_read_table_infers_numbers_and_keeps_text():
    from painstudy.io import read_table

    df = read_table(ROOT / "painstudy" / "datasets" / "studies" / "demo" / "data.csv", infer_types=True)
    assert str(df["mme"].dtype) == "float64" and df["subject_id"].dtype == object
    assert df["withdrawal_reason"].isna().sum() > 0


def test_table1_without_any_baseline_shows_dashes_and_warns_nothing(shared):
    """bcva has no baseline visit nor column: its baseline row has nothing to summarise."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = painstudy.load_cohort("bcva").table1()
    row = t.loc[("Generic score (no range) at baseline", "mean (SD)")]
    assert set(row) == {"-"}


@pytest.mark.parametrize("ext", ["dta", "sav"])
def test_stata_and_spss_value_labels_are_shown(tmp_path, demo_cohort, ext):
    """Arms, visits and sex coded 1, 2, ... with value labels (as Stata and SPSS files keep them)
    read as their labels; a column labelled at one value only (the oldest age) keeps its numbers.
    A study.yml may name the codes by label (as `painstudy init` drafts them) or by number."""
    import shutil
    import subprocess
    import sys

    import pyreadstat

    demo = ROOT / "painstudy" / "datasets" / "studies" / "demo"
    raw = pd.read_csv(demo / "data.csv").rename(columns=_RENAMES.get(ext, {}))
    raw["withdrawal_reason"] = raw["withdrawal_reason"].fillna("")
    labels = {}
    for col in ("arm", "visit", "sex"):
        names = list(dict.fromkeys(raw[col]))
        labels[col] = {i + 1: name for i, name in enumerate(names)}
        raw[col] = raw[col].map({name: i + 1 for i, name in enumerate(names)}).astype("int32")
    raw["age"] = raw["age"].astype("int32")
    labels["age"] = {int(raw["age"].max()): "oldest"}
    path = tmp_path / f"trial.{ext}"
    if ext == "dta":
        raw.to_stata(path, write_index=False, value_labels=labels)
    else:
        pyreadstat.write_sav(raw, str(path), variable_value_labels=labels)
    table = read_table(path)
    assert set(table["arm"]) == {"usual_care", "physiotherapy", "mindfulness", "integrative"}
    assert set(table["visit"]) == set(demo_cohort.spec.visit_names)
    assert pd.api.types.is_numeric_dtype(table["age"])
    # the demo's study.yml names arms, visits and sexes by label: it validates on the command line
    shutil.copy(demo / "study.yml", tmp_path / "study.yml")
    yml = (tmp_path / "study.yml").read_text().replace("file: data.csv", f"file: trial.{ext}")
    (tmp_path / "study.yml").write_text(yml.replace("column: function", "column: physfunc") if ext == "dta" else yml)
    r = subprocess.run(
        [str(__import__("pathlib").Path(sys.executable).parent / "painstudy"), "validate", str(tmp_path / "study.yml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "valid (400 subjects" in r.stdout, r.stderr[:2000]
    cohort = painstudy.load_cohort(tmp_path / "study.yml")
    for table, cols in (("visits", ["subject", "arm", "visit", "pain"]), ("subjects", ["subject", "sex", "age"])):
        ours, theirs = getattr(cohort, table)[cols], getattr(demo_cohort, table)[cols]
        pd.testing.assert_frame_equal(ours.astype(str), theirs.astype(str))
    # ... and so does a definition naming them by their numeric codes
    spec = cohort.spec
    by_code = spec.replace(
        arms=tuple(
            __import__("dataclasses").replace(a, codes=(next(k for k, v in labels["arm"].items() if v == a.name),))
            for a in spec.arms
        )
    )
    assert painstudy.load_cohort(by_code).subjects["arm"].value_counts().to_dict() == (
        demo_cohort.subjects["arm"].value_counts().to_dict()
    )
