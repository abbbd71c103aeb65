"""Read SAS PROC MIXED listings (the text output of ODS LISTING) as tables of printed numbers.

A listing is read as SAS wrote it, so that a test or a reproduction cites the file a number comes from
instead of a transcription. Every table keeps its cells as printed; :func:`printed` turns a cell into a
:class:`PrintedNumber`, which knows the value, the precision it was printed with (half a unit of the last
printed digit) and whether it is a bound (``<.0001``) or missing (``.``).

The layout rules of a listing, as SAS writes them (and as this reader relies on them):

- each page starts with a header line (``The SAS System``, date and page number) followed by the name of
  the procedure (``The Mixed Procedure``);
- a table is a title (one or two centred lines, e.g. ``Estimated R Matrix`` / ``for USUBJID PT1``), then a
  header block (one or more lines; ``Standard`` over ``Error``) and a block of rows, each block followed
  by a blank line; key-value tables (Model Information, Dimensions, Number of Observations, Fit
  Statistics) have no header block;
- columns are separated by at least two blanks; a cell may contain single blanks (``Black or African
  American``, ``Pr > |t|``);
- a table cut by a page break is continued on the next page under the same title (and, for tables with a
  header, the same header); the pieces are joined here;
- a line whose cells are all empty except the last continues the previous row's last cell (the level
  values of Class Level Information);
- a paragraph of plain text between tables is a message (``Convergence criteria met.``).

Examples
--------
>>> text = '''
...                                      The SAS System        Thursday, June 23, 2022 10:11:00 PM   1
...
...                                      The Mixed Procedure
...
...                                         Fit Statistics
...
...                              -2 Res Log Likelihood          3386.4
...                              AIC (Smaller is Better)        3406.4
... '''
>>> listing = parse_listing(text, source="example.txt")
>>> fit = listing.key_values("Fit Statistics")
>>> fit["AIC (Smaller is Better)"]
'3406.4'
>>> p = printed(fit["AIC (Smaller is Better)"])
>>> p.value, p.half_unit
(3406.4, 0.05)
>>> printed("<.0001").relation, printed("<.0001").value
('<', 0.0001)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import PainstudyError
from .published import PRINTED_NUMBER

__all__ = [
    "ClassLevels",
    "ListingError",
    "ListingTable",
    "PrintedNumber",
    "SasListing",
    "listing_lookup",
    "parse_listing",
    "printed",
    "read_listing",
    "un_parameter_visits",
]

_PAGE_HEADER = re.compile(r"^\s*The SAS System\b")
_GAP = re.compile(r"\s{2,}")
_UN = re.compile(r"^UN\((\d+),(\d+)\)$")


class ListingError(PainstudyError):
    """A SAS listing that cannot be read as described (the message names the file, line and rule)."""


@dataclass(frozen=True)
class PrintedNumber:
    """A number as SAS printed it.

    Attributes
    ----------
    text : str
        The cell as printed (``"26.5692"``, ``"<.0001"``, ``"."``).
    value : float
        Its value (the bound for ``<.0001``; NaN for a missing value ``.``).
    half_unit : float
        Half a unit of the last printed digit: the largest difference from the unrounded value that the
        printed text allows (``0.5e-4`` for ``26.5692``, ``0.5`` for ``146``; NaN when missing).
    relation : str
        ``"="`` for a value, ``"<"`` or ``">"`` for a bound (SAS prints p-values below 0.0001 as ``<.0001``),
        ``"missing"`` for ``.``.
    """

    text: str
    value: float
    half_unit: float
    relation: str

    def admits(self, x: float) -> bool:
        """Whether the unrounded value ``x`` prints as this text (to within half a unit, or beyond the bound)."""
        if self.relation == "missing":
            return math.isnan(x)
        if self.relation == "<":
            return x < self.value
        if self.relation == ">":
            return x > self.value
        return abs(x - self.value) <= self.half_unit


def printed(text: str) -> PrintedNumber:
    """The :class:`PrintedNumber` of a cell of a listing.

    Raises
    ------
    ListingError
        When the text is not a number as SAS prints one.

    Examples
    --------
    >>> printed("-0.06856").half_unit
    5e-06
    >>> printed("123.87").half_unit
    0.005
    >>> printed("1.2E-5").value, printed("1.2E-5").half_unit
    (1.2e-05, 5e-07)
    >>> import math; math.isnan(printed(".").value)
    True
    """
    t = text.strip()
    if t == ".":
        return PrintedNumber(text=t, value=math.nan, half_unit=math.nan, relation="missing")
    m = PRINTED_NUMBER.match(t)
    if not m or not (m.group(3) or m.group(4)):
        raise ListingError(f"{text!r} is not a number as SAS prints one")
    rel, _, _, decimals, exponent = m.groups()
    exp = int(exponent) if exponent else 0
    value = float(t.lstrip("<>"))
    half = 0.5 * 10.0 ** (exp - len(decimals or ""))
    return PrintedNumber(text=t, value=value, half_unit=float(f"{half:.1e}"), relation=rel or "=")


@dataclass(frozen=True)
class ListingTable:
    """One table of a listing, cells as printed.

    Attributes
    ----------
    title : str
        The title, its lines joined by a blank (``"Estimated R Matrix for USUBJID PT1"``).
    columns : tuple of str
        Column names, the lines of a multi-line header joined by a blank (``"Standard Error"``); for a
        key-value table ``("name", "value")``.
    rows : tuple of tuple of str
        The cells as printed (``""`` where a row has no value).
    line : int
        The 1-based line of the file where the title starts.
    """

    title: str
    columns: tuple
    rows: tuple
    line: int

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame of text."""
        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    def column(self, name: str) -> list[str]:
        """The cells of column ``name``."""
        if name not in self.columns:
            raise ListingError(
                f"table {self.title!r} (line {self.line}) has no column {name!r}; columns: {', '.join(self.columns)}"
            )
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def numbers(self, name: str) -> list[PrintedNumber]:
        """The cells of column ``name`` as :class:`PrintedNumber`."""
        return [self._number(c, name, i) for i, c in enumerate(self.column(name))]

    def _number(self, text: str, name: str, i: int) -> PrintedNumber:
        try:
            return printed(text)
        except ListingError as exc:
            raise ListingError(
                f"table {self.title!r} (line {self.line}), row {i + 1}, column {name!r}: {exc}"
            ) from None


@dataclass(frozen=True)
class ClassLevels:
    """One row of Class Level Information: the class variable, its number of levels and their values.

    SAS separates the values by single blanks and wraps them over lines, so values containing blanks
    (``Black or African American``) cannot be told apart from the text alone: :meth:`levels` splits at
    blanks when that gives the printed number of levels, :meth:`order_of` finds known values in the text.
    """

    name: str
    n_levels: int
    values_text: str

    @property
    def levels(self) -> tuple:
        """The values in SAS's order (SAS puts a level chosen with ``ref=`` last)."""
        tokens = tuple(self.values_text.split())
        if len(tokens) != self.n_levels:
            raise ListingError(
                f"class {self.name}: {self.n_levels} levels printed as {self.values_text!r}; the "
                f"values contain blanks, use order_of() with the known values"
            )
        return tokens

    def order_of(self, values) -> tuple:
        """The known ``values`` in the order SAS printed them; an error unless they make up the text exactly."""
        rest, out = self.values_text, []
        cands = sorted((str(v) for v in values), key=len, reverse=True)
        while rest:
            hit = next((v for v in cands if rest == v or rest.startswith(v + " ")), None)
            if hit is None:
                raise ListingError(
                    f"class {self.name}: the printed values {self.values_text!r} are not made of "
                    f"{sorted(map(str, values))}"
                )
            out.append(hit)
            rest = rest[len(hit) :].lstrip(" ")
        if len(out) != self.n_levels or len(set(out)) != len(out):
            raise ListingError(f"class {self.name}: {self.n_levels} levels printed, found {out}")
        return tuple(out)


@dataclass(frozen=True)
class SasListing:
    """A SAS listing: its tables in the order printed (a table cut by a page break joined into one), and
    the messages between them.

    Attributes
    ----------
    source : str
        The file read.
    procedure : str
        The procedure named under each page header (``"The Mixed Procedure"``).
    tables : tuple of ListingTable
    messages : tuple of str
    run_at : str
        When SAS ran, as the first page header prints it (``"Thursday, June 23, 2022 10:11:00 PM"``).
    """

    source: str
    procedure: str
    tables: tuple
    messages: tuple
    run_at: str = ""

    @property
    def titles(self) -> tuple:
        """The titles of the tables, in order."""
        return tuple(t.title for t in self.tables)

    def has(self, title: str) -> bool:
        """Whether a table has this title (or a title starting with it)."""
        return any(t.title == title or t.title.startswith(title + " ") for t in self.tables)

    def table(self, title: str) -> ListingTable:
        """The table titled ``title`` (or whose title starts with it, e.g. ``"Estimated R Matrix"``)."""
        hits = [t for t in self.tables if t.title == title] or [
            t for t in self.tables if t.title.startswith(title + " ")
        ]
        if len(hits) != 1:
            what = "no table" if not hits else f"{len(hits)} tables"
            raise ListingError(f"{self.source}: {what} titled {title!r}; tables: {'; '.join(self.titles)}")
        return hits[0]

    def key_values(self, title: str) -> dict:
        """A key-value table (Model Information, Dimensions, Number of Observations, Fit Statistics)."""
        t = self.table(title)
        if t.columns != ("name", "value"):
            raise ListingError(f"{self.source}, line {t.line}: table {title!r} is not a key-value table")
        return {k: v for k, v in t.rows}

    @property
    def class_levels(self) -> dict:
        """Class variable -> :class:`ClassLevels` (from Class Level Information)."""
        t = self.table("Class Level Information")
        return {
            r[0]: ClassLevels(r[0], int(r[1]), r[2])
            for r in t.frame[["Class", "Levels", "Values"]].itertuples(index=False)
        }

    @property
    def converged(self) -> bool:
        """Whether SAS printed ``Convergence criteria met.``"""
        return "Convergence criteria met." in self.messages

    def cell(self, title: str, row: str, column: str) -> str:
        """The cell of table ``title`` in column ``column`` of the one row that ``row`` selects.

        ``row`` lists cells that select the row, ``"Effect=ARMCD; ARMCD=TRT"`` (every other cell may be
        anything); for a key-value table, ``"name=AIC (Smaller is Better)"`` with column ``"value"``.
        """
        t = self.table(title)
        if column not in t.columns:
            raise ListingError(
                f"{self.source}: table {title!r} (line {t.line}) has no column {column!r}; columns: {', '.join(t.columns)}"
            )
        keys = []
        for part in filter(None, (x.strip() for x in row.split(";"))):
            k, sep, v = part.partition("=")
            if not sep or k.strip() not in t.columns:
                raise ListingError(
                    f"{self.source}: table {title!r} (line {t.line}): {part!r} is not COLUMN=VALUE with a column "
                    f"of the table ({', '.join(t.columns)})"
                )
            keys.append((t.columns.index(k.strip()), v.strip()))
        hits = [r for r in t.rows if all(r[i] == v for i, v in keys)]
        if len(hits) != 1:
            raise ListingError(
                f"{self.source}: table {title!r} (line {t.line}): {len(hits)} rows match {row!r}, expected one"
            )
        return hits[0][t.columns.index(column)]

    def subject_of(self, title: str) -> tuple:
        """The subject effect and subject of a per-subject table (``"Estimated R Matrix"`` -> ``("USUBJID", "PT1")``)."""
        t = self.table(title)
        m = re.search(r"\bfor (\S+) (.+)$", t.title)
        if not m:
            raise ListingError(f"{self.source}, line {t.line}: the title {t.title!r} names no subject")
        return m.group(1), m.group(2)


def un_parameter_visits(listing: SasListing, repeated: str) -> dict:
    """Map SAS's unstructured covariance parameters ``UN(i,j)`` to pairs of levels of the REPEATED effect.

    SAS numbers the rows and columns of an unstructured covariance matrix in the order of the levels of the
    repeated effect as Class Level Information prints them, which is not always their natural order
    (``AVISIT(ref = 'VIS1')`` orders them VIS2, VIS3, VIS4, VIS1).

    Returns
    -------
    dict
        ``"UN(i,j)"`` -> ``(level_i, level_j)`` for every UN parameter of Covariance Parameter Estimates.
    """
    levels = listing.class_levels[repeated].levels
    out = {}
    for name in listing.table("Covariance Parameter Estimates").column("Cov Parm"):
        m = _UN.match(name)
        if not m:
            raise ListingError(f"{listing.source}: covariance parameter {name!r} is not UN(i,j)")
        i, j = int(m.group(1)), int(m.group(2))
        if not (1 <= j <= i <= len(levels)):
            raise ListingError(f"{listing.source}: {name} is outside the {len(levels)} levels of {repeated}")
        out[name] = (levels[i - 1], levels[j - 1])
    return out


def listing_lookup(folder: str | Path):
    """A reader of published numbers from the listings in ``folder`` (for
    :func:`painstudy.reproduce.published.read_published`): the cell that a row's ``source`` (the listing
    file), ``table``, ``row`` and ``column`` name, as printed. Each listing is read once."""
    listings: dict[str, SasListing] = {}

    def lookup(r: dict) -> str:
        name = r["source"]
        if name not in listings:
            listings[name] = read_listing(Path(folder) / name)
        return listings[name].cell(r["table"], r["row"], r["column"])

    return lookup


# ------------------------------------------------------------------------------------------------- reading
def read_listing(path: str | Path) -> SasListing:
    """Read a SAS listing file (see the module docstring for the layout it expects).

    Raises
    ------
    ListingError
        When the file cannot be read or is not laid out as a listing (the message names file and line).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        text = p.read_text(encoding="latin-1")
    except OSError as exc:
        raise ListingError(f"{p}: cannot read the SAS listing ({exc.strerror or exc})") from None
    return parse_listing(text, source=str(p))


def _runs(line: str) -> list[str]:
    return [c for c in _GAP.split(line.strip()) if c]


def _paragraphs(lines: list[str], source: str):
    """Paragraphs (runs of non-blank lines) as (first line number, lines, after a page header), the procedure and
    the time of the run."""
    paras, cur, start, page_break, procedure, run_at = [], [], 0, False, "", ""
    skip_procedure = False
    for no, raw in enumerate(lines, 1):
        line = raw.replace("\f", "").rstrip()
        if _PAGE_HEADER.match(line):
            run_at = run_at or re.sub(r"\s+\d+$", "", _PAGE_HEADER.sub("", line)).strip()
            if cur:
                paras.append((start, cur, page_break))
                cur = []
            page_break, skip_procedure = True, True
            continue
        if not line.strip():
            if cur:
                paras.append((start, cur, page_break))
                cur, page_break = [], False
            continue
        if skip_procedure:
            procedure, skip_procedure = line.strip(), False
            continue
        if not cur:
            start = no
        cur.append(line)
    if cur:
        paras.append((start, cur, page_break))
    if not procedure:
        raise ListingError(f"{source}: no page header ('The SAS System' followed by the procedure): not a SAS listing")
    return paras, procedure, run_at


def _columns(header: list[str], data: list[str]) -> list[tuple[int, int]]:
    """Column spans: stretches of the page where some line has text, separated by two or more blanks in every line."""
    width = max(len(x) for x in header + data)
    used = [False] * width
    for x in header + data:
        for k, ch in enumerate(x):
            if ch != " ":
                used[k] = True
    spans, k = [], 0
    while k < width:
        if not used[k]:
            k += 1
            continue
        a = k
        while k < width and (used[k] or (k + 1 < width and used[k + 1] and used[k - 1])):
            k += 1
        spans.append((a, k))
    return spans


def _cell(line: str, a: int, b: int) -> str:
    return line[a:b].strip()


def _table(title: str, line: int, body: list[tuple[int, list[str]]], source: str) -> ListingTable:
    if len(body) == 1:  # a key-value table: name, then the value after two or more blanks
        rows = []
        for k, x in enumerate(body[0][1]):
            r = _runs(x)
            if len(r) < 2:
                raise ListingError(
                    f"{source}, line {body[0][0] + k}: a row of {title!r} without a value: {x.strip()!r}"
                )
            rows.append((r[0], " ".join(r[1:])))
        return ListingTable(title=title, columns=("name", "value"), rows=tuple(rows), line=line)
    header = body[0][1]
    data = [x for _, lines in body[1:] for x in lines]
    spans = _columns(header, data)
    names = tuple(" ".join(h for h in (_cell(x, a, b) for x in header) if h) for a, b in spans)
    if any(not n for n in names):
        raise ListingError(f"{source}, line {body[0][0]}: table {title!r} has a column without a header")
    rows: list[list[str]] = []
    for x in data:
        cells = [_cell(x, a, b) for a, b in spans]
        if rows and not any(cells[:-1]) and cells[-1]:
            rows[-1][-1] = f"{rows[-1][-1]} {cells[-1]}"  # continued value (class levels)
        else:
            rows.append(cells)
    return ListingTable(title=title, columns=names, rows=tuple(tuple(r) for r in rows), line=line)


def parse_listing(text: str, source: str = "<text>") -> SasListing:
    """Parse the text of a SAS listing (see :func:`read_listing`)."""
    lines = [x.rstrip("\r") for x in text.split("\n")]  # not splitlines(): a form feed starts a page, not a line
    paras, procedure, run_at = _paragraphs(lines, source)
    plain = [all(len(_runs(x)) == 1 for x in ls) for _, ls, _ in paras]
    tables: list[ListingTable] = []
    messages: list[str] = []
    k = 0
    while k < len(paras):
        start, ls, page_break = paras[k]
        if not plain[k]:
            raise ListingError(f"{source}, line {start}: a table without a title: {ls[0].strip()!r}")
        if k + 1 == len(paras) or plain[k + 1]:  # text followed by a title (or nothing): a message
            messages.append(" ".join(x.strip() for x in ls))
            k += 1
            continue
        title = " ".join(x.strip() for x in ls)
        body = []
        k += 1
        while k < len(paras) and not plain[k]:
            body.append((paras[k][0], paras[k][1]))
            k += 1
        table = _table(title, start, body, source)
        prev = tables[-1] if tables else None
        if page_break and prev is not None and prev.title == title and prev.columns == table.columns:
            tables[-1] = ListingTable(title=title, columns=prev.columns, rows=prev.rows + table.rows, line=prev.line)
        else:
            tables.append(table)
    return SasListing(source=source, procedure=procedure, tables=tuple(tables), messages=tuple(messages), run_at=run_at)
