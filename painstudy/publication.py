"""Publication tables: a result table as a journal prints it.

:func:`publication_table` turns a full-precision table (a result's tidy table, Table 1, any
DataFrame) into a :class:`PublicationTable`: cells as printed text, a title, grouped rows and
footnotes. The rules, applied in this order:

- an estimate and its interval in one cell, ``-0.78 (-1.04 to -0.53)``: ``estimate`` (or ``rate``,
  ``median``, ``mean``) with ``ci_lower``/``ci_upper``; ``hazard_ratio`` and ``odds_ratio`` with their
  own bounds, in place of their log-scale estimate and always to two decimals; the adjusted interval
  (``ci_lower_adjusted``/``ci_upper_adjusted``) in a cell of its own. Other decimals follow the
  width of the intervals (two for a width between 0.1 and 1, one more per power of ten below), per
  outcome where a table has several;
- rates as percentages; the number needed to treat as its note (an interval through infinity is said
  in words, never printed with a negative bound);
- p-values to their accuracy (``<0.001``, else three decimals);
- where an interval is shown, its standard error, test statistic and df are left to the CSV;
- whole numbers without decimals; other numbers to about three significant digits;
- a text column with one value in every row (the reference arm, the adjustment method) becomes a
  footnote; ``week`` beside ``visit`` is dropped;
- rows are grouped by ``outcome`` and ``visit`` (when present) under a group heading.

The full-precision numbers stay in the result and in the CSV files a report writes; a publication
table is only what a reader sees. It renders in JupyterLab and HTML reports with great_tables
(:meth:`PublicationTable.gt`), into Word with python-docx (:meth:`PublicationTable.to_docx`), and
travels in a notebook's output as JSON (:data:`MIMETYPE`), from which ``painstudy report --format
docx`` builds the Word document.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"visit": ["week4", "week8"], "estimate": [-0.7812, -1.2],
...                   "ci_lower": [-1.0401, -1.5], "ci_upper": [-0.5301, -0.9], "p_value": [4.9e-9, 0.0123]})
>>> pt = publication_table(t, "Difference in pain")
>>> pt.body.to_dict(orient="list")["estimate (95% CI)"]
['-0.78 (-1.04 to -0.53)', '-1.20 (-1.50 to -0.90)']
>>> pt.body["p"].tolist()
['<0.001', '0.012']
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "table_title",
    "MIMETYPE",
    "PublicationTable",
    "publication_table",
    "estimate_ci",
    "format_p",
    "decimals_for",
]

#: The mimetype under which a publication table travels in a notebook's output (read by the DOCX writer).
MIMETYPE = "application/vnd.painstudy.table+json"

#: (value, lower, upper, label): the intervals merged into one cell, the ratios first.
INTERVALS = (
    ("hazard_ratio", "hr_ci_lower", "hr_ci_upper", "HR"),
    ("odds_ratio", "or_ci_lower", "or_ci_upper", "OR"),
    ("nnt", "nnt_ci_lower", "nnt_ci_upper", "NNT"),
)
#: Columns whose interval is ``ci_lower``/``ci_upper`` (the first present takes it).
MAIN_ESTIMATES = ("estimate", "rate", "median", "mean")
#: Left to the CSV where an interval is shown.
INFERENCE_DETAIL = ("std_error", "statistic", "df", "t_value", "z_value")
#: Columns that group rows.
GROUP_COLUMNS = ("outcome", "visit")
P_LABELS = {"p_value": "p", "p_adjusted": "adjusted p", "p": "p"}


#: Words of table names printed otherwise than in lower case.
TITLE_WORDS = {"rmst": "RMST", "ph": "PH", "logrank": "Log-rank", "nnt": "NNT", "lsmeans": "LS means", "cox": "Cox"}


def table_title(name: str) -> str:
    """A table's name as a title: ``rmst_differences`` -> ``RMST differences``, ``ph_test`` -> ``PH test``.

    >>> table_title("rmst_differences"), table_title("ph_test"), table_title("odds_ratios")
    ('RMST differences', 'PH test', 'Odds ratios')
    """
    words = [TITLE_WORDS.get(w.lower(), w) for w in name.replace("_", " ").split(" ")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def format_p(p, digits: int = 3) -> str:
    """A p-value printed to its accuracy: ``<0.001`` below 10^-digits, else ``digits`` decimals.

    >>> format_p(4.943e-09), format_p(0.0123), format_p(0.5), format_p(float("nan"))
    ('<0.001', '0.012', '0.500', '')
    """
    if p is None or p is pd.NA or not np.isfinite(p):
        return ""
    floor = 10.0 ** (-digits)
    if p < floor:
        return f"<{floor:.{digits}f}"
    return f"{p:.{digits}f}"


def decimals_for(width: float) -> int:
    """Decimals that print an interval of this width: 2 for widths in [0.1, 1), one more per power of
    ten below, one fewer per power above (0 to 4).

    >>> decimals_for(0.51), decimals_for(0.05), decimals_for(4.0), decimals_for(40.0)
    (2, 3, 1, 0)
    """
    if not np.isfinite(width) or width <= 0:
        return 2
    return int(min(4, max(0, 1 - math.floor(math.log10(width)))))


def estimate_ci(estimate: float, lower: float, upper: float, decimals: int = 2) -> str:
    """``estimate (lower to upper)`` to ``decimals``; an empty cell when the estimate is missing.

    >>> estimate_ci(-0.7812, -1.0401, -0.5301)
    '-0.78 (-1.04 to -0.53)'
    >>> estimate_ci(1.5, float("nan"), float("inf"), 1)
    '1.5 (NA to inf)'
    >>> estimate_ci(float("nan"), 26.0, float("nan"), 0)
    'NA (26 to NA)'
    """

    def one(x):
        return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{decimals}f}"

    if estimate is None or not np.isfinite(estimate):
        return (
            "" if all(x is None or not np.isfinite(x) for x in (lower, upper)) else f"NA ({one(lower)} to {one(upper)})"
        )
    return f"{estimate:.{decimals}f} ({one(lower)} to {one(upper)})"


def _typical(values: pd.Series) -> float:
    v = _floats(values).abs()
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.median()) if len(v) else float("nan")


def _floats(col) -> pd.Series:
    """Numbers as float64, missing (``None``, ``pd.NA``, text) as NaN: nullable dtypes print like the others."""
    return pd.to_numeric(pd.Series(col), errors="coerce").astype("Float64").astype("float64", copy=False).fillna(np.nan)


def _number_cells(col: pd.Series) -> list[str]:
    values = _floats(col)
    finite = values[np.isfinite(values)]
    if len(finite) and np.all(finite == np.round(finite)) and finite.abs().max() < 1e15:
        return ["" if not np.isfinite(v) else f"{v:.0f}" for v in values]
    typical = _typical(values)
    d = 2 if not np.isfinite(typical) else int(min(4, max(1, 1 - math.floor(math.log10(typical)))))
    return ["" if np.isnan(v) else ("inf" if np.isinf(v) else f"{v:.{d}f}") for v in values]


def _percent_cells(col: pd.Series) -> list[str]:
    return ["" if not np.isfinite(v) else f"{100 * v:.1f}%" for v in _floats(col)]


def _interval_cells(
    df: pd.DataFrame, value: str, lower: str, upper: str, scale: float = 1.0, decimals: int | None = None
) -> list[str]:
    """One cell per row; the decimals follow the median width of the intervals (per outcome, where the
    table has several: a pain score and a T-score need different decimals), unless given."""
    est, lo, hi = (_floats(df[c]).to_numpy() * scale for c in (value, lower, upper))
    if decimals is not None:
        return [estimate_ci(e, a, b, decimals) for e, a, b in zip(est, lo, hi)]
    width = np.abs(hi - lo)
    keys = df["outcome"].astype(str).to_numpy() if "outcome" in df else np.full(len(df), "")
    cells = [""] * len(df)
    for key in dict.fromkeys(keys):
        rows = np.flatnonzero(keys == key)
        w = width[rows]
        w = w[np.isfinite(w) & (w > 0)]
        d = decimals_for(float(np.median(w))) if len(w) else decimals_for(_typical(pd.Series(est[rows])))
        d = max(d, 1) if scale != 1.0 else d  # percentages to at least one decimal
        for i in rows:
            cells[i] = estimate_ci(est[i], lo[i], hi[i], d)
    return cells


def _merge_intervals(out: pd.DataFrame, conf_label: str) -> tuple[pd.DataFrame, bool]:
    """Estimates with their intervals in one cell; returns the table and whether any was merged."""
    merged = False
    where = out.columns.get_loc("estimate") if "estimate" in out else None
    if any(v in out for v, *_ in INTERVALS[:2]):  # a ratio replaces its log-scale estimate, in its place
        out = out.drop(columns=[c for c in ("estimate", "ci_lower", "ci_upper") if c in out])
    if "nnt_note" in out:  # the note says what an interval through infinity means (Altman 1998)
        out = out.drop(columns=[c for c in ("nnt", "nnt_ci_lower", "nnt_ci_upper") if c in out])
        out = out.rename(columns={"nnt_note": f"NNT ({conf_label})"})
    for value, lower, upper, label in INTERVALS:
        if {value, lower, upper} <= set(out.columns):
            at = where if where is not None and label != "NNT" else out.columns.get_loc(value)
            fixed = 2 if label in ("HR", "OR") else None  # ratios to two decimals, whatever their spread
            out.insert(at, f"{label} ({conf_label})", _interval_cells(out, value, lower, upper, decimals=fixed))
            out = out.drop(columns=[value, lower, upper])
            merged = True
    main = next((c for c in MAIN_ESTIMATES if c in out), None)
    if main and {"ci_lower", "ci_upper"} <= set(out.columns):
        scale, label = (100.0, f"{main}, % ({conf_label})") if main == "rate" else (1.0, f"{main} ({conf_label})")
        cells = _interval_cells(out, main, "ci_lower", "ci_upper", scale)
        if main == "median":  # a Kaplan-Meier median that the curve never reaches
            cells = [("not reached" + c[2:]) if c.startswith("NA") else (c or "not reached") for c in cells]
        out.insert(out.columns.get_loc(main), label, cells)
        out = out.drop(columns=[main, "ci_lower", "ci_upper"])
        merged = True
    if {"ci_lower_adjusted", "ci_upper_adjusted"} <= set(out.columns):
        lo, hi = _floats(out["ci_lower_adjusted"]), _floats(out["ci_upper_adjusted"])
        width = (hi - lo).abs()
        d = decimals_for(float(width[np.isfinite(width)].median())) if np.isfinite(width).any() else 2
        cells = ["" if not np.isfinite(a) else f"{a:.{d}f} to {b:.{d}f}" for a, b in zip(lo, hi)]
        out.insert(out.columns.get_loc("ci_lower_adjusted"), f"adjusted {conf_label}", cells)
        out = out.drop(columns=["ci_lower_adjusted", "ci_upper_adjusted"])
    return out, merged


def _constant_text(out: pd.DataFrame, keep: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Text columns with one value in every row, as footnotes."""
    notes = []
    if len(out) < 2:
        return out, notes
    for c in list(out.columns):
        col = out[c]
        if c in keep or pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        values = col.dropna().astype(str).unique()
        if col.notna().all() and len(values) == 1 and values[0]:
            notes.append(f"{str(c).replace('_', ' ')}: {values[0]}")
            out = out.drop(columns=[c])
    return out, notes


def publication_table(
    df: pd.DataFrame,
    title: str,
    *,
    subtitle: str = "",
    notes: Sequence[str] = (),
    conf_level: float = 0.95,
    group: Sequence[str] | None = None,
) -> PublicationTable:
    """A table as a journal prints it (the rules are in the module docstring).

    Parameters
    ----------
    df : DataFrame
        Full-precision table; a named, non-default index becomes the first column.
    title, subtitle : str
        Shown above the table (the DOCX caption is ``Table N. title``).
    notes : sequence of str
        Footnotes: the model, df method, multiplicity adjustment, exclusions.
    conf_level : float
        The level of the intervals (their column label, e.g. ``95% CI``).
    group : sequence of str, optional
        Columns that group rows; default: ``outcome`` and ``visit`` where present and where some other
        text column labels the rows.
    """
    out = df.copy()
    if not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
        first = out.columns[0]
        if str(first) in ("index", "level_0"):
            out = out.rename(columns={first: ""})
    out.columns = [str(c) for c in out.columns]
    if "visit" in out and "week" in out:
        out = out.drop(columns=["week"])
    conf = f"{conf_level:.0%} CI".replace(".0%", "%")
    out, merged = _merge_intervals(out, conf)
    if merged:
        out = out.drop(columns=[c for c in INFERENCE_DETAIL if c in out])
    text_cols = [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    if group is None:
        group = [c for c in GROUP_COLUMNS if c in text_cols]
        labels = [c for c in text_cols if c not in group]
        # group only where it groups: another text column labels the rows and some group has several
        if not group or not labels or out[group].drop_duplicates().shape[0] == len(out):
            group = []
    out, constant = _constant_text(out, keep=list(group))
    cells = pd.DataFrame(index=range(len(out)))
    for c in out.columns:
        col = out[c].reset_index(drop=True)
        is_p = c in P_LABELS or c.startswith(("p_value", "p_adjusted"))
        if is_p and pd.api.types.is_numeric_dtype(col):
            cells[P_LABELS.get(c, c.replace("_", " "))] = [format_p(v) for v in pd.to_numeric(col, errors="coerce")]
        elif pd.api.types.is_bool_dtype(col):
            cells[c.replace("_", " ")] = ["yes" if v else "no" for v in col]
        elif pd.api.types.is_numeric_dtype(col) and c.startswith("rate"):
            cells[c.replace("_", " ") + ", %"] = _percent_cells(col)
        elif pd.api.types.is_numeric_dtype(col):
            cells[c.replace("_", " ")] = _number_cells(col)
        else:
            cells[c.replace("_", " ") if c.islower() else c] = [
                "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in col
            ]
    groups: tuple[str, ...] = ()
    if group:
        keys = [c.replace("_", " ") for c in group]
        groups = tuple(" · ".join(str(v) for v in row) for row in cells[keys].itertuples(index=False))
        cells = cells.drop(columns=keys)
    return PublicationTable(
        title=title, body=cells, groups=groups, footnotes=tuple(constant), subtitle=subtitle, notes=tuple(notes)
    )


@dataclass(frozen=True, eq=False)
class PublicationTable:
    """A table as printed: every cell text, a title, row groups and footnotes.

    Attributes
    ----------
    title : str
    body : DataFrame
        The cells as text, columns labelled as printed.
    groups : tuple of str
        The group heading of each row (empty: no groups).
    footnotes : tuple of str
        The table's own footnotes (a column with one value in every row).
    notes : tuple of str
        The notes of the result the table belongs to (model, df method, adjustment), which a result
        with several tables shows once.
    subtitle : str
    """

    title: str
    body: pd.DataFrame
    groups: tuple[str, ...] = ()
    footnotes: tuple[str, ...] = ()
    subtitle: str = ""
    notes: tuple[str, ...] = ()
    highlight: tuple[str, ...] = ()  # a background colour per row ("" for none), e.g. rows that need a look

    # -- serialised form ---------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The table as JSON-ready values (what travels in a notebook's output under :data:`MIMETYPE`)."""
        return {
            "title": self.title,
            "subtitle": self.subtitle,
            "columns": list(self.body.columns),
            "rows": self.body.astype(str).values.tolist(),
            "groups": list(self.groups),
            "footnotes": list(self.footnotes),
            "notes": list(self.notes),
            "highlight": list(self.highlight),
        }

    @classmethod
    def from_json(cls, data: dict) -> PublicationTable:
        body = (
            pd.DataFrame(data["rows"], columns=data["columns"])
            if data["rows"]
            else pd.DataFrame(columns=data["columns"])
        )
        return cls(
            title=data.get("title", ""),
            body=body,
            groups=tuple(data.get("groups", ())),
            footnotes=tuple(data.get("footnotes", ())),
            notes=tuple(data.get("notes", ())),
            highlight=tuple(data.get("highlight", ())),
            subtitle=data.get("subtitle", ""),
        )

    @property
    def ident(self) -> str:
        """A stable HTML id (from the content): a re-run writes the same bytes."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return "pt-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]

    # -- renderings --------------------------------------------------------------------------------
    def gt(self, *, notes: bool = True):
        """The table as a great_tables ``GT`` (title, row groups, source notes)."""
        from great_tables import GT, loc, style

        data = self.body.copy()
        group_col = None
        if self.groups:
            group_col = "\u200bgroup"
            data.insert(0, group_col, list(self.groups))
        table = GT(data, groupname_col=group_col, id=self.ident)
        table = table.tab_header(title=self.title, subtitle=self.subtitle or None)
        for note in self.footnotes + (self.notes if notes else ()):
            table = table.tab_source_note(note)
        label_cols = [c for c in self.body.columns if not _looks_numeric(self.body[c])]
        if label_cols:
            table = table.cols_align("left", columns=label_cols)
        numeric = [c for c in self.body.columns if c not in label_cols]
        if numeric:
            table = table.cols_align("right", columns=numeric)
        table = table.tab_style(style.text(weight="bold"), loc.row_groups())
        for colour in dict.fromkeys(c for c in self.highlight if c):
            rows = [i for i, c in enumerate(self.highlight) if c == colour]
            table = table.tab_style(style.fill(color=colour), loc.body(rows=rows))
        return table.tab_options(
            table_width="100%",
            table_font_size="13px",
            heading_title_font_size="15px",
            heading_subtitle_font_size="13px",
            heading_align="left",
            source_notes_font_size="12px",
            data_row_padding="3px",
            column_labels_font_weight="bold",
            table_border_top_color="#333333",
            table_border_bottom_color="#333333",
        )

    def html(self, *, notes: bool = True) -> str:
        """The table as HTML (great_tables' raw HTML with its scoped style)."""
        return self.gt(notes=notes).as_raw_html()

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {MIMETYPE: {"tables": [self.to_json()]}}

    def __repr__(self) -> str:
        return f"<PublicationTable: {self.title}; {len(self.body)} rows>"

    def __str__(self) -> str:
        lines = [self.title] + ([self.subtitle] if self.subtitle else [])
        body = self.body.copy()
        if self.groups:
            body.insert(0, "", list(self.groups))
        with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_colwidth", 60):
            lines.append(body.to_string(index=False))
        lines += [f"  {n}" for n in self.footnotes + self.notes]
        return "\n".join(lines)

    def to_docx(self, document, number: int | None = None) -> None:
        """Append the table to a python-docx ``Document``: caption ``Table N. title``, a header row,
        group rows in bold across the table, and the footnotes below in small type."""
        from docx.shared import Pt

        caption = document.add_paragraph()
        run = caption.add_run(f"Table {number}. " if number is not None else "")
        run.bold = True
        caption.add_run(self.title + (f" ({self.subtitle})" if self.subtitle else ""))
        columns = list(self.body.columns)
        table = document.add_table(rows=1, cols=max(1, len(columns)))
        table.style = "Table Grid"
        for cell, name in zip(table.rows[0].cells, columns):
            cell.text = ""
            cell.paragraphs[0].add_run(str(name)).bold = True
        current = None
        for i, row in enumerate(self.body.itertuples(index=False)):
            if self.groups and self.groups[i] != current:
                current = self.groups[i]
                cells = table.add_row().cells
                merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
                merged.text = ""
                merged.paragraphs[0].add_run(current).bold = True
            for cell, value in zip(table.add_row().cells, row):
                cell.text = str(value)
        for r in table.rows:
            for cell in r.cells:
                for p in cell.paragraphs:
                    for run in p.runs:
                        run.font.size = Pt(8)
        for note in self.footnotes + self.notes:
            p = document.add_paragraph()
            p.add_run(note).font.size = Pt(8)


def _looks_numeric(col: pd.Series) -> bool:
    """A printed column of numbers (or intervals, p-values): right-aligned."""
    text = col.astype(str).str.strip()
    text = text[text != ""]
    if not len(text):
        return True
    return bool(text.str.match(r"^[<>]?-?(\d|inf|NA)").all())
