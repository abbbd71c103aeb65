"""One rendering rule for every result object.

A result implements :meth:`Rendered.tidy` once: a title, a few facts (label and value), its tidy
tables and its notes. Everything a user sees derives from that one method:

- ``str(result)`` and :meth:`Rendered.summary` -- plain text for the terminal;
- ``repr(result)`` -- one line naming the class, the title and the facts;
- ``_repr_html_`` -- tables in JupyterLab (numbers to 4 significant digits, p-values to their
  accuracy, e.g. ``<0.001``);
- :meth:`Rendered.to_frame` -- a table as a DataFrame (full precision);
- :meth:`Rendered.to_dict` -- everything as JSON-ready values (NaN and infinities become ``None``).

Result classes are frozen dataclasses declared with ``repr=False`` so that the dataclass does not
replace the shared ``__repr__``.

Examples
--------
>>> import pandas as pd
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, repr=False)
... class Mean(Rendered):
...     table: pd.DataFrame
...     def tidy(self):
...         return Tidy("Mean", (("n", len(self.table)),), (("table", self.table),))
>>> r = Mean(pd.DataFrame({"x": [1.0, 2.0]}))
>>> repr(r)
'<Mean: Mean; n 2>'
>>> r.to_dict()["tables"]["table"]
[{'x': 1.0}, {'x': 2.0}]
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .io import to_jsonable
from .publication import format_p

__all__ = ["Tidy", "Rendered", "format_p", "format_number"]


@dataclass(frozen=True)
class Tidy:
    """What a result shows: title, facts (label, value), named tables and notes.

    ``tables`` hold the numbers at full precision (``to_frame``, ``to_dict``); ``shown``, when given,
    is what a reader sees instead in text and HTML (e.g. ``estimate (95% CI)`` in one cell).
    """

    title: str
    facts: tuple[tuple[str, Any], ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    notes: tuple[str, ...] = ()
    shown: tuple[tuple[str, pd.DataFrame], ...] = ()


def format_number(x: Any) -> str:
    """Four significant digits for floats; other values as they are; missing as empty."""
    if x is None or x is pd.NA:
        return ""
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return ""
        return f"{x:.4g}"
    return str(x)


def _is_p_column(name: str) -> bool:
    return name in ("p_value", "p_adjusted", "p") or name.startswith("p_value")


def _display(df: pd.DataFrame) -> pd.DataFrame:
    """A copy for display: p-value columns to their accuracy, other floats to 4 significant digits."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if _is_p_column(str(c)) and pd.api.types.is_float_dtype(col):
            out[c] = [format_p(v) for v in col]
        elif pd.api.types.is_float_dtype(col):
            out[c] = [format_number(v) for v in col]
    return out


def _publication(t: Tidy) -> list:
    """The publication tables of a result's :class:`Tidy` (see :meth:`Rendered.publication`)."""
    from .publication import publication_table, table_title

    return [
        publication_table(df, table_title(name), subtitle=t.title, notes=t.notes) for name, df in t.shown or t.tables
    ]


class Rendered:
    """Base of every result object: implement :meth:`tidy` and get every rendering from it."""

    def tidy(self) -> Tidy:  # pragma: no cover - implemented by every subclass
        raise NotImplementedError(f"{type(self).__name__} must implement tidy()")

    # -- derived renderings ----------------------------------------------------------------------
    def summary(self) -> str:
        """Plain-text summary: title, facts, tables and notes."""
        t = self.tidy()
        lines = [t.title]
        lines += [f"  {k}: {format_number(v)}" for k, v in t.facts]
        with pd.option_context("display.width", 160, "display.max_columns", 40, "display.max_rows", 200):
            for name, df in t.shown or t.tables:
                index = not isinstance(df.index, pd.RangeIndex)
                lines += ["", f"{name}:", _display(df).to_string(index=index, max_rows=200)]
        if t.notes:
            lines += ["", "Notes: " + "; ".join(t.notes)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        t = self.tidy()
        facts = "; ".join(f"{k} {format_number(v)}" for k, v in t.facts[:6])
        return f"<{type(self).__name__}: {t.title}{'; ' + facts if facts else ''}>"

    def publication(self) -> list:
        """Each shown table as a :class:`~painstudy.publication.PublicationTable`: estimates with their
        intervals in one cell, p-values to their accuracy, grouped rows, the result's notes as footnotes."""
        return _publication(self.tidy())

    def _repr_html_(self) -> str:
        t = self.tidy()
        parts = [f"<h4>{html.escape(t.title)}</h4>"]
        if t.facts:
            parts.append(
                "<p>"
                + "; ".join(f"{html.escape(str(k))}: <b>{html.escape(format_number(v))}</b>" for k, v in t.facts)
                + "</p>"
            )
        tables = _publication(t)  # the tidy tables computed once per display
        for i, table in enumerate(tables):  # the notes once, under the last table
            parts.append(table.html(notes=i == len(tables) - 1))
        if t.notes and not tables:
            parts.append("<p><i>Notes: " + html.escape("; ".join(t.notes)) + "</i></p>")
        return "\n".join(parts)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The publication tables as JSON (:data:`painstudy.publication.MIMETYPE`), which the DOCX writer
        of ``painstudy report`` reads from the executed notebooks; HTML and text come from the methods above."""
        from .publication import MIMETYPE

        t = self.tidy()
        facts = [[str(k), format_number(v)] for k, v in t.facts]
        return {MIMETYPE: {"title": t.title, "facts": facts, "tables": [p.to_json() for p in _publication(t)]}}

    def to_frame(self, name: str | None = None) -> pd.DataFrame:
        """A table of the result at full precision: the first one, or the one called ``name``."""
        tables = dict(self.tidy().tables)
        if not tables:
            return pd.DataFrame()
        if name is None:
            return next(iter(tables.values())).copy()
        if name not in tables:
            from .errors import PainstudyError

            raise PainstudyError(f"{type(self).__name__} has no table {name!r}; tables: {', '.join(tables)}")
        return tables[name].copy()

    def to_dict(self) -> dict:
        """Title, facts, tables (as records) and notes, as JSON-ready values."""
        t = self.tidy()
        tables = {}
        for name, df in t.tables:
            frame = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
            tables[name] = to_jsonable(frame.to_dict(orient="records"))
        return {"title": t.title, "facts": to_jsonable(dict(t.facts)), "tables": tables, "notes": list(t.notes)}
