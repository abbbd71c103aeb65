"""Publication tables: the printing rules, the renderings (great_tables HTML, python-docx, JSON), and
every result of the API rendering through them."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from painstudy.publication import (
    MIMETYPE,
    PublicationTable,
    decimals_for,
    estimate_ci,
    format_p,
    publication_table,
    table_title,
)


def test_estimate_with_interval_in_one_cell():
    assert estimate_ci(-0.7812, -1.0401, -0.5301) == "-0.78 (-1.04 to -0.53)"
    assert estimate_ci(2.0, 1.0, 3.0, 1) == "2.0 (1.0 to 3.0)"
    assert estimate_ci(float("nan"), float("nan"), float("nan")) == ""
    assert estimate_ci(float("nan"), 26.0, float("nan"), 0) == "NA (26 to NA)"
    medians = pd.DataFrame(
        {"arm": ["a", "b"], "median": [np.nan, 12.0], "ci_lower": [26.0, 8.0], "ci_upper": [np.nan, 26.0]}
    )
    assert publication_table(medians, "m").body["median (95% CI)"].tolist() == [
        "not reached (26 to NA)",
        "12 (8 to 26)",
    ]


@pytest.mark.parametrize(
    "p, printed", [(4.943e-09, "<0.001"), (0.001, "0.001"), (0.0123, "0.012"), (0.5, "0.500"), (math.nan, "")]
)
def test_p_values_to_their_accuracy(p, printed):
    assert format_p(p) == printed


def test_decimals_follow_the_width_of_the_interval():
    assert [decimals_for(w) for w in (0.51, 0.05, 0.005, 4.0, 40.0, 400.0)] == [2, 3, 4, 1, 0, 0]


def test_a_contrast_table_as_printed():
    t = pd.DataFrame(
        {
            "outcome": ["pain"] * 4,
            "visit": ["week4", "week4", "week8", "week8"],
            "comparison": ["a vs c", "b vs c"] * 2,
            "reference": ["c"] * 4,
            "estimate": [-0.78123, -0.2, -1.0, -0.3],
            "std_error": [0.13] * 4,
            "df": [361.4] * 4,
            "ci_lower": [-1.0401, -0.46, -1.3, -0.6],
            "ci_upper": [-0.5301, 0.05, -0.7, 0.0],
            "p_value": [4.9e-9, 0.1216, 1e-5, 0.05],
            "n": [100.0, 98.0, 95.0, 90.0],
        }
    )
    pt = publication_table(t, "Differences", notes=["MMRM, Satterthwaite df"])
    assert list(pt.body.columns) == ["comparison", "estimate (95% CI)", "p", "n"]
    assert pt.body["estimate (95% CI)"].iloc[0] == "-0.78 (-1.04 to -0.53)"
    assert pt.body["p"].tolist() == ["<0.001", "0.122", "<0.001", "0.050"]
    assert pt.body["n"].tolist() == ["100", "98", "95", "90"]  # counts without decimals
    assert pt.groups == ("pain · week4", "pain · week4", "pain · week8", "pain · week8")
    # the reference, the same in every row, is a footnote; SE and df stay in the CSV
    assert pt.footnotes == ("reference: c",) and pt.notes == ("MMRM, Satterthwaite df",)


def test_ratios_replace_their_log_scale_estimate():
    t = pd.DataFrame(
        {
            "term": ["arm[b]", "age"],
            "estimate": [np.log(2.63), 0.01],
            "std_error": [0.2, 0.01],
            "statistic": [4.0, 1.0],
            "p_value": [1e-5, 0.257],
            "ci_lower": [0.5, -0.01],
            "ci_upper": [1.4, 0.03],
            "hazard_ratio": [2.63, 1.01],
            "hr_ci_lower": [1.65, 0.99],
            "hr_ci_upper": [4.2, 1.03],
        }
    )
    pt = publication_table(t, "Cox")
    assert list(pt.body.columns) == ["term", "HR (95% CI)", "p"]
    assert pt.body["HR (95% CI)"].tolist() == ["2.63 (1.65 to 4.20)", "1.01 (0.99 to 1.03)"]


def test_rates_as_percentages_and_nnt_in_words():
    t = pd.DataFrame(
        {
            "visit": ["week4", "week8"],
            "arm": ["b", "b"],
            "rate": [0.09, 0.2857],
            "estimate": [0.048, 0.16],
            "ci_lower": [-0.03, 0.03],
            "ci_upper": [0.13, 0.29],
            "nnt": [20.8, 6.2],
            "nnt_ci_lower": [7.9, 3.5],
            "nnt_ci_upper": [-32.9, 29.3],
            "nnt_note": [
                "NNT (benefit) 20.8; CI: NNT (benefit) 7.9 to infinity to NNT (harm) 32.9",
                "NNT (benefit) 6.2",
            ],
        }
    )
    pt = publication_table(t, "Responders")
    assert pt.body["rate, %"].tolist() == ["9.0%", "28.6%"]
    assert "NNT (95% CI)" in pt.body and "infinity" in pt.body["NNT (95% CI)"].iloc[0]
    assert "-32.9" not in " ".join(pt.body.astype(str).values.ravel())  # never a negative NNT bound


def test_decimals_per_outcome():
    t = pd.DataFrame(
        {
            "outcome": ["pain", "function"],
            "comparison": ["a vs c", "a vs c"],
            "estimate": [-0.781, 2.04],
            "ci_lower": [-1.04, 0.9],
            "ci_upper": [-0.53, 3.1],
        }
    )
    cells = publication_table(t, "x").body["estimate (95% CI)"].tolist()
    assert cells == ["-0.78 (-1.04 to -0.53)", "2.0 (0.9 to 3.1)"]


def test_json_round_trip_and_renderings(tmp_path):
    t = pd.DataFrame(
        {"arm": ["a", "b"], "n": [10, 12], "mean": [1.234, 2.5], "ci_lower": [1.0, 2.0], "ci_upper": [1.5, 3.0]}
    )
    pt = publication_table(t, "Means", subtitle="Cohort x", notes=["observed data"])
    again = PublicationTable.from_json(json.loads(json.dumps(pt.to_json())))
    assert again.to_json() == pt.to_json() and again.ident == pt.ident
    html = pt._repr_html_()
    assert "Means" in html and "observed data" in html and "1.23 (1.00 to 1.50)" in html
    assert html == pt._repr_html_()  # a stable id: a re-run writes the same bytes
    assert pt._repr_mimebundle_()[MIMETYPE]["tables"][0]["title"] == "Means"
    assert "mean (95% CI)" in str(pt)

    from docx import Document

    doc = Document()
    pt.to_docx(doc, 3)
    path = tmp_path / "t.docx"
    doc.save(str(path))
    back = Document(str(path))
    assert back.paragraphs[0].text == "Table 3. Means (Cohort x)"
    cells = [[c.text for c in r.cells] for r in back.tables[0].rows]
    assert cells[0] == ["arm", "n", "mean (95% CI)"] and cells[1] == ["a", "10", "1.23 (1.00 to 1.50)"]


def test_table_titles():
    assert table_title("rmst_differences") == "RMST differences"
    assert table_title("logrank_pairwise") == "Log-rank pairwise"


def test_results_render_as_publication_tables(demo_cohort):
    from painstudy import compare_arms
    from painstudy.rendering import Rendered

    res = compare_arms(demo_cohort, ["pain"])
    assert isinstance(res, Rendered)
    tables = res.publication()
    assert len(tables) == 1 and "estimate (95% CI)" in tables[0].body
    assert all(g.startswith("pain · week") for g in tables[0].groups)
    html = res._repr_html_()
    assert "<table" in html and "dunnett" in html.lower()
    bundle = res._repr_mimebundle_()[MIMETYPE]
    assert bundle["title"] == "Comparison of arms" and bundle["tables"][0]["columns"][0] == "family"
    # the full-precision numbers are untouched
    assert res.table["estimate"].dtype == float


def test_nullable_and_missing_values_print_as_empty_cells():
    t = pd.DataFrame(
        {
            "arm": ["a", "b"],
            "n": pd.array([12, None], dtype="Int64"),
            "mean": pd.array([1.25, None], dtype="Float64"),
            "estimate": pd.array([0.5, None], dtype="Float64"),
            "ci_lower": [0.1, np.nan],
            "ci_upper": [0.9, np.nan],
        }
    )
    body = publication_table(t, "x").body
    assert body["n"].tolist() == ["12", ""] and body["estimate (95% CI)"].tolist() == ["0.50 (0.10 to 0.90)", ""]
