"""The ledger (tests/ledger.py) and the validation report pages (tools/validation_report.py) on made-up rows;
`make docs` builds the real report from the reference tests."""

from __future__ import annotations

import sys
from pathlib import Path

import ledger
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import validation_report  # noqa: E402 (found through the sys.path entry above)


@pytest.fixture
def recording(monkeypatch, tmp_path):
    monkeypatch.setenv("PAINSTUDY_LEDGER", str(tmp_path / "ledger.json"))
    start = len(ledger.ROWS)
    yield ledger.ROWS
    del ledger.ROWS[start:]


def test_ledger_records_and_asserts(recording):
    start = len(recording)
    ledger.check("a", [1.0, 2.0], [1.0, 2.0 + 1e-9], rtol=1e-6, labels=["x", "y"], source="tests/reference/r.json")
    ledger.check("b", 1.0 + 2e-6, 1.0, rtol=1e-6, atol=1e-5, combine="max", source="s")  # pytest.approx's rule
    ledger.check_printed("c", 3.77446, "3.7745", source="sas.txt")
    ledger.check_printed("p", 3e-5, "<.0001", source="sas.txt")
    ledger.check_equal("n", 537, 537, source="sas.txt")
    rows = recording[start:]
    assert [r["quantity"] for r in rows] == ["a [x]", "a [y]", "b", "c", "p", "n"]
    assert rows[2]["tolerance"] == "max(1e-05, 1e-06 relative)" and rows[3]["tolerance"] == "5e-05 (printed precision)"
    assert rows[4]["difference"] is None and rows[4]["reference"] == "<.0001" and all(r["passed"] for r in rows)
    with pytest.raises(AssertionError, match=r"b: 1 of 1 values outside tolerance \(1e-06 relative\) against s"):
        ledger.check("b", 1.0 + 2e-6, 1.0, rtol=1e-6, source="s")
    with pytest.raises(AssertionError, match="printed 3.7745"):
        ledger.check_printed("c", 3.7746, "3.7745", source="sas.txt")
    assert not recording[-1]["passed"]


def test_batch_collects_failures_and_marks_known_deviations(recording):
    start = len(recording)
    with (
        pytest.raises(AssertionError, match=r"2 comparison\(s\) outside tolerance:\nx: .*\ny: "),
        ledger.Batch(known_deviation="SAS stops early") as b,
    ):
        b.check_printed("x", 1.0, "1.1", source="s")
        b.check_equal("ok", 1, 1, source="s")
        b.check("y", 2.0, 3.0, atol=0.5, source="s")
    rows = recording[start:]
    assert [r.get("known_deviation") for r in rows] == ["SAS stops early", None, "SAS stops early"]


def test_report_pages(tmp_path):
    def row(q, src, passed=True, **kw):
        return {
            "quantity": q,
            "reference": 1.0,
            "ours": 1.0,
            "difference": 0.0,
            "tolerance": "1e-06 relative",
            "source": src,
            "test": "tests/test_x.py::test_y[a|b]",
            "passed": passed,
            "note": "",
            **kw,
        }

    rows = [
        row("fit / Solution / ARMCD*AVISIT estimate", "../shared/references/mmrm_sas/sas_log_reml.txt"),
        row(
            "fit / Solution / SEX <Female> estimate",
            "../shared/references/mmrm_sas/sas_log_reml.txt",
            passed=False,
            known_deviation="SAS stops short",
        ),
        row("fev us coefficient", "tests/reference/mmrm_ref_fev.json", note="1e-4 x max(|estimate|, SE)"),
        row("rate (%)", "Vickers et al. BMJ 2004;328:744 (Table 2 and text)"),
    ]
    pages = validation_report.render(rows, ["tests/test_x.py"], ROOT)
    assert set(pages) == {
        "validation.md",
        "validation/sas-log-reml.md",
        "validation/mmrm-ref-fev.md",
        "validation/vickers-et-al-bmj-2004-328-744-table-2-and-text.md",
    }
    summary = pages["validation.md"]
    assert "**4 comparisons** from 3 sources: 3 within tolerance, 1 known deviations." in summary
    assert "| [sas\\_log\\_reml.txt](validation/sas-log-reml.md) | 2 | 1 | 1 |" in summary
    assert "- SAS stops short (1 numbers; `sas_log_reml.txt`)" in summary
    # versions and the regeneration command come from the files themselves
    assert "R version 4.2.2" in summary and "`Rscript tests/reference/mmrm_reference.R fev`" in summary
    assert summary.index("SAS PROC MIXED listings") < summary.index("R (scripts") < summary.index("Published")
    detail = pages["validation/sas-log-reml.md"]
    assert "1. SAS stops short" in detail and "known deviation (1)" in detail
    assert "SEX &lt;Female&gt; estimate" in detail and "Solution / ARMCD*AVISIT" not in detail  # common prefix cut
    assert "## test\\_y\\[a\\|b\\]" in detail
    validation_report.write(pages, tmp_path)
    (tmp_path / "validation" / "stale.md").write_text("old")
    validation_report.write(pages, tmp_path)
    assert sorted(p.name for p in (tmp_path / "validation").iterdir()) == sorted(
        Path(p).name for p in pages if p.startswith("validation/")
    )
