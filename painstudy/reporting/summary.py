"""The summary page a report opens with: what was analysed, how, the key results, and what produced them.

:func:`report_summary` reads a finished report folder (its manifest and the CSV tables the notebooks
wrote) and returns a :class:`ReportSummary`: the study, each file read with its SHA-256, the estimand
and primary analysis, the key results with their confidence intervals, the software versions and the
painstudy version and commit. :meth:`ReportSummary.html` is the page written as ``index.html``;
:meth:`ReportSummary.to_docx` is the first page of the Word document.

Key results are taken from the tables a report writes, where present:

- ``comparisons.csv``: the primary outcome at its last visit, each comparison with its 95% CI and
  its unadjusted and adjusted p-values;
- ``improvement_cox.csv``: the hazard ratio of each arm for time to improvement;
- ``sensitivity_<outcome>_analyses.csv``: the jump-to-reference estimate of each comparison;
- ``reproduction.csv``: how many published numbers were reproduced.

The numbers shown are recomputed from the full-precision CSV files, never copied from the HTML.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..publication import PublicationTable, estimate_ci, format_p

__all__ = ["ReportSummary", "report_summary", "SUMMARY_FILE", "KEY_FIGURES"]

#: The summary page of a report folder.
SUMMARY_FILE = "index.html"
#: The figure shown on the summary page: the first of these that the report wrote, else its first figure.
KEY_FIGURES = ("forest", "figure2", "reproduction", "km_improvement")


@dataclass(frozen=True)
class ReportSummary:
    """The facts of a report's summary page (see the module docstring)."""

    study: str
    title: str
    inputs: tuple[tuple[str, str, str], ...]  # (role, path, sha256)
    analysis: tuple[tuple[str, str], ...]  # (label, text): estimand, primary analysis, parameters
    results: tuple[PublicationTable, ...]
    software: tuple[tuple[str, str], ...]
    notebooks: tuple[tuple[str, str], ...]  # (name, title)
    figure: str = ""  # relative path of the key figure
    figure_png: str = field(default="", repr=False)  # its bytes, base64: the page stands alone

    def html(self) -> str:
        """The summary page: a standalone HTML page readable at 1280 px."""
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(role)}</td><td><code>{e(path)}</code></td><td><code>{e(sha)}</code></td></tr>"
            for role, path, sha in self.inputs
        )
        analysis = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in self.analysis)
        results = "".join(t.html() for t in self.results) or "<p>No key results in this report.</p>"
        software = "; ".join(f"{e(k)} {e(v)}" for k, v in self.software)
        links = "".join(f'<li><a href="{e(n)}.html">{e(t)}</a></li>' for n, t in self.notebooks)
        figure = (
            f'<h2>Key figure</h2><img src="data:image/png;base64,{self.figure_png}" alt="{e(self.figure)}">'
            if self.figure_png
            else ""
        )
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(self.title)}: summary</title>
<style>
body {{ font-family: -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; color: #222; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; line-height: 1.4; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }} h2 {{ font-size: 1.2em; margin-top: 1.6em; }}
table.files {{ border-collapse: collapse; width: 100%; font-size: 13px; table-layout: fixed; }}
table.files td {{ border-top: 1px solid #ccc; padding: 3px 6px; word-break: break-all; }}
table.files td:first-child {{ width: 9em; word-break: normal; }}
dt {{ font-weight: bold; margin-top: 0.4em; }} dd {{ margin-left: 1.5em; }}
img {{ max-width: 100%; height: auto; }} code {{ font-size: 12px; }}
</style></head>
<body>
<h1>{e(self.title)}</h1>
<p>Report summary of study <b>{e(self.study)}</b>. Every number below is recomputed from the tables of
this report (<code>tables/</code>, full precision); the notebooks hold the details.</p>
<h2>Data</h2>
<table class="files"><tr><td><b>role</b></td><td><b>file</b></td><td><b>SHA-256</b></td></tr>{rows}</table>
<h2>Estimand and analysis</h2><dl>{analysis}</dl>
<h2>Key results</h2>{results}
{figure}
<h2>Contents</h2><ol>{links}</ol>
<h2>Software</h2><p>{software}</p>
</body></html>
"""

    def to_docx(self, document) -> None:
        """The summary as the first section of a python-docx ``Document``."""
        document.add_heading(self.title, level=0)
        document.add_paragraph(f"Report summary of study {self.study}.")
        document.add_heading("Data", level=1)
        for role, path, sha in self.inputs:
            document.add_paragraph(f"{role}: {path} (SHA-256 {sha})", style="List Bullet")
        document.add_heading("Estimand and analysis", level=1)
        for k, v in self.analysis:
            p = document.add_paragraph()
            p.add_run(f"{k}: ").bold = True
            p.add_run(v)
        document.add_heading("Software", level=1)
        document.add_paragraph("; ".join(f"{k} {v}" for k, v in self.software))


def _table(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / "tables" / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def _comparisons(folder: Path) -> PublicationTable | None:
    t = _table(folder, "comparisons")
    if t is None or t.empty:
        return None
    primary = t[t["role"] == "primary"] if "role" in t and (t["role"] == "primary").any() else t
    outcome = primary["outcome"].iloc[0]
    rows = primary[primary["outcome"] == outcome]
    visit = rows["visit"].iloc[-1]
    rows = rows[rows["visit"] == visit]
    body = pd.DataFrame(
        {
            "comparison": rows["comparison"],
            "difference (95% CI)": [estimate_ci(*v) for v in zip(rows["estimate"], rows["ci_lower"], rows["ci_upper"])],
            "p": [format_p(p) for p in rows["p_value"]],
            "adjusted p": [format_p(p) for p in rows["p_adjusted"]],
        }
    ).reset_index(drop=True)
    method = str(rows["adjustment"].iloc[0]) if "adjustment" in rows else ""
    return PublicationTable(
        f"Primary outcome ({outcome}) at {visit}: difference in LS means",
        body,
        footnotes=(f"MMRM; adjusted p: {method} within the outcome and visit." if method else "MMRM.",),
    )


def _hazard_ratios(folder: Path) -> PublicationTable | None:
    t = _table(folder, "improvement_cox")
    if t is None or t.empty or "hazard_ratio" not in t:
        return None
    rows = t[t["term"].astype(str).str.startswith("arm[")]
    body = pd.DataFrame(
        {
            "arm": rows["term"].str.slice(4, -1),
            "HR (95% CI)": [
                estimate_ci(*v) for v in zip(rows["hazard_ratio"], rows["hr_ci_lower"], rows["hr_ci_upper"])
            ],
            "p": [format_p(p) for p in rows["p_value"]],
        }
    ).reset_index(drop=True)
    return PublicationTable(
        "Time to clinically meaningful improvement: hazard ratios against the reference arm",
        body,
        footnotes=("Cox proportional hazards, Efron ties; HR above 1: faster improvement.",),
    )


def _sensitivity(folder: Path) -> PublicationTable | None:
    path = next(iter(sorted((folder / "tables").glob("sensitivity_*_analyses.csv"))), None)
    if path is None:
        return None
    t = pd.read_csv(path)
    rows = t[t["analysis"].astype(str).str.startswith(("primary", "JR"))]
    if rows.empty:
        return None
    outcome = path.stem[len("sensitivity_") : -len("_analyses")]
    body = pd.DataFrame(
        {
            "analysis": rows["analysis"],
            "comparison": rows["comparison"],
            "estimate (95% CI)": [estimate_ci(*v) for v in zip(rows["estimate"], rows["ci_lower"], rows["ci_upper"])],
            "p": [format_p(p) for p in rows["p_value"]],
        }
    ).reset_index(drop=True)
    return PublicationTable(
        f"Missing data ({outcome}): primary analysis beside jump to reference",
        body,
        footnotes=("Jump to reference: reference-based conditional mean imputation, jackknife SE.",),
    )


def _reproduction(folder: Path) -> PublicationTable | None:
    t = _table(folder, "reproduction")
    if t is None or t.empty:
        return None
    counts = t["status"].value_counts()
    body = pd.DataFrame({"status": counts.index.astype(str), "items": [str(int(v)) for v in counts.values]})
    return PublicationTable(
        f"Published numbers reproduced ({len(t)} items)",
        body,
        footnotes=("match: within half a unit of the last printed digit; documented: a difference with a reason.",),
    )


KEY_RESULTS = (_comparisons, _hazard_ratios, _sensitivity, _reproduction)


def _figure(folder: Path) -> str:
    figures = sorted((folder / "figures").glob("*.png"))
    for name in KEY_FIGURES:
        if (folder / "figures" / f"{name}.png").is_file():
            return f"figures/{name}.png"
    return f"figures/{figures[0].name}" if figures else ""


def _analysis(manifest: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    declared = (manifest.get("estimands") or {}).get("estimands") or {}
    for outcome, e in declared.items():
        strategies = ", ".join(f"{k}: {v}" for k, v in (e.get("strategies") or {}).items()) or "treatment policy"
        sens = ", ".join(e.get("sensitivity") or [])
        out.append(
            (f"estimand ({outcome})", f"intercurrent events {strategies}" + (f"; sensitivity {sens}" if sens else ""))
        )
    if not declared:
        out.append(("estimand", "treatment policy for every outcome (no intercurrent events declared)"))
    names = [n["name"] for n in manifest.get("notebooks", [])]
    if "02_compare_arms" in names:
        out.append(
            (
                "primary analysis",
                "MMRM per outcome: arm x visit, baseline as covariate, unstructured covariance, REML, "
                "Satterthwaite df; Dunnett adjustment across arms within each outcome and visit",
            )
        )
    params = manifest.get("parameters") or {}
    out.append(("parameters", ", ".join(f"{k} = {v}" for k, v in params.items()) or "the notebooks' defaults"))
    if manifest.get("seed") is not None:
        out.append(("seed", str(manifest["seed"])))
    return tuple(out)


def report_summary(folder: str | Path, manifest: Mapping[str, Any], titles: Mapping[str, str]) -> ReportSummary:
    """The summary of the report in ``folder`` (its manifest, and each notebook's title by name)."""
    folder = Path(folder)
    inputs = tuple((i.get("role", ""), i.get("path", ""), i.get("sha256", "")) for i in manifest.get("inputs", []))
    ps = manifest.get("painstudy", {})
    software = (("painstudy", f"{ps.get('version', '?')} (commit {ps.get('commit') or 'unknown'})"),)
    software += (("Python", str(manifest.get("python", ""))),)
    software += tuple((k, str(v)) for k, v in (manifest.get("packages") or {}).items())
    results = tuple(t for t in (f(folder) for f in KEY_RESULTS) if t is not None)
    names = [n["name"] for n in manifest.get("notebooks", [])]
    figure = _figure(folder)
    png = base64.b64encode((folder / figure).read_bytes()).decode("ascii") if figure else ""
    return ReportSummary(
        study=str(manifest.get("study", "")),
        title=str(manifest.get("title") or manifest.get("study", "")),
        inputs=inputs,
        analysis=_analysis(manifest),
        results=results,
        software=software,
        notebooks=tuple((n, titles.get(n, n)) for n in names),
        figure=figure,
        figure_png=png,
    )
