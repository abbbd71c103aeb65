"""Helpers the report notebooks call: where tables and figures go, and what was read."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..rendering import Rendered
from .provenance import record_inputs, records_inputs

__all__ = [
    "save_table",
    "save_tables",
    "figure_path",
    "save_figures",
    "FIGURE_FORMATS",
    "record_inputs",
    "records_inputs",
]

#: The files of each report figure: PNG for the HTML and DOCX, SVG and PDF (vector) for a journal.
FIGURE_FORMATS = ("png", "svg", "pdf")


def save_table(df: pd.DataFrame, name: str, output_dir: str | Path = ".", *, index: bool = True) -> Path:
    """Write a result table as ``<output_dir>/tables/<name>.csv`` (stable float format) and return the path."""
    path = Path(output_dir) / "tables" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=index, float_format="%.10g")
    return path


def save_tables(result, prefix: str, output_dir: str | Path = ".") -> list[Path]:
    """Write every table of a result object as ``<prefix>_<table name>.csv`` (without the index)."""
    if not isinstance(result, Rendered):
        raise TypeError(f"save_tables needs a painstudy result, got {type(result).__name__}")
    frames = list(result.tidy().tables)
    return [save_table(frame, f"{prefix}_{file_name(name)}", output_dir, index=False) for name, frame in frames]


def file_name(name: str) -> str:
    """A table's name as a file name: words joined by ``_`` (``compliance by arm`` -> ``compliance_by_arm``).

    >>> file_name("compliance by arm and week"), file_name("odds_ratios")
    ('compliance_by_arm_and_week', 'odds_ratios')
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()).strip("_")


def figure_path(name: str, output_dir: str | Path = ".") -> Path:
    """Where a report figure goes: ``<output_dir>/figures/<name>.png``."""
    return Path(output_dir) / "figures" / f"{name}.png"


def save_figures(fig, name: str, output_dir: str | Path = ".", formats=FIGURE_FORMATS) -> list[Path]:
    """Save a report figure as ``<output_dir>/figures/<name>.png``, ``.svg`` and ``.pdf`` (the vector
    files for a journal; fixed metadata, so a re-run writes the same bytes); returns the paths."""
    from ..plotting import save_figure

    base = figure_path(name, output_dir)
    return [save_figure(fig, base.with_suffix(f".{f}")) for f in formats]
