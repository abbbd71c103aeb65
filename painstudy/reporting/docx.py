"""The Word version of a report: the summary, then each notebook's headings, text, tables and figures.

:func:`write_docx` reads the executed notebooks of a report folder in order. Headings and text come
from the markdown cells; tables from the publication tables that painstudy results and
:func:`painstudy.publication_table` put into a cell's output (:data:`painstudy.publication.MIMETYPE`);
figures from the PNG outputs. Tables and figures are numbered through the document (``Table 3.``,
``Figure 2.``), a figure captioned by the heading it stands under. The file has fixed dates and zip
timestamps, so a re-run writes the same bytes.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import nbformat

from ..publication import MIMETYPE, PublicationTable
from .summary import ReportSummary

__all__ = ["write_docx", "DOCX_FILE"]

#: The Word document of a report folder.
DOCX_FILE = "report.docx"
_WIDTH_INCHES = 6.3  # an A4 or Letter page with 2.5 cm margins


def _plain(text: str) -> str:
    """Markdown inline markup removed (code ticks, emphasis, links)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return re.sub(r"[`*_]{1,2}([^`*_]+)[`*_]{1,2}", r"\1", text).strip()


class _Writer:
    """Appends notebooks to a document, numbering tables and figures."""

    def __init__(self, document):
        self.doc = document
        self.tables = 0
        self.figures = 0
        self.heading = ""

    def table(self, table: PublicationTable) -> None:
        self.tables += 1
        table.to_docx(self.doc, self.tables)

    def markdown(self, source: str) -> None:
        for block in source.split("\n\n"):
            block = block.strip()
            m = re.match(r"^(#{1,6})\s+(.*)", block)
            if m:
                self.heading = _plain(m.group(2))
                self.doc.add_heading(self.heading, level=min(len(m.group(1)), 3))
            elif block:
                self.doc.add_paragraph(_plain(" ".join(block.split())))

    def output(self, out) -> None:
        from docx.shared import Inches

        data = out.get("data", {})
        if MIMETYPE in data:
            bundle = data[MIMETYPE]
            if bundle.get("title") and bundle.get("facts"):
                p = self.doc.add_paragraph()
                p.add_run(bundle["title"] + ": ").bold = True
                p.add_run("; ".join(f"{k}: {v}" for k, v in bundle["facts"]))
            for t in bundle.get("tables", []):
                self.table(PublicationTable.from_json(t))
        elif "image/png" in data:
            self.figures += 1
            self.doc.add_picture(io.BytesIO(base64.b64decode(data["image/png"])), width=Inches(_WIDTH_INCHES))
            caption = self.doc.add_paragraph()
            caption.add_run(f"Figure {self.figures}. ").bold = True
            caption.add_run(self.heading)
        elif "text/markdown" in data:
            self.markdown(str(data["text/markdown"]))

    def notebook(self, path: Path, *, with_setup: bool) -> None:
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if cell.cell_type == "markdown":
                self.markdown(cell.source)
            elif "parameters" in tags or "injected-parameters" in tags:
                continue
            elif cell.source.lstrip().startswith("%matplotlib") and not with_setup:
                continue  # every notebook loads the cohort; its description is shown once
            else:
                for out in cell.get("outputs", []):
                    self.output(out)


def _deterministic(path: Path) -> None:
    """Rewrite the zip with fixed timestamps and order: the same content gives the same bytes."""
    with zipfile.ZipFile(path) as z:
        items = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def write_docx(folder: str | Path, summary: ReportSummary, notebooks: Sequence[str], path: str | Path) -> Path:
    """Write the Word document of the report in ``folder`` (the executed ``<name>.ipynb`` files)."""
    from docx import Document

    folder, path = Path(folder), Path(path)
    doc = Document()
    fixed = datetime(2000, 1, 1)
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = summary.title, "painstudy", "painstudy"
    props.created = props.modified = fixed
    props.revision = 1
    writer = _Writer(doc)
    summary.to_docx(doc)
    if summary.results:
        doc.add_heading("Key results", level=1)
        for t in summary.results:
            writer.table(t)
    for i, name in enumerate(notebooks):
        doc.add_page_break()
        writer.notebook(folder / f"{name}.ipynb", with_setup=i == 0)
    doc.save(str(path))
    _deterministic(path)
    return path
