"""Reading raw study files in the common formats, with errors that name the file and the line.

Supported: CSV/TSV (``.csv``, ``.tsv``, ``.txt``, optionally gzip-compressed), Parquet,
Excel (``.xlsx``, ``.xls``; any sheet), SAS (``.sas7bdat``, ``.xpt``), Stata (``.dta``) and SPSS
(``.sav``, ``.zsav``; a column whose every code has a value label shows the labels). Values are read
as they are (text files: strings, missing values as ``None``); typing and range checks belong to
cohort validation, which then reports every problem with its place in the file.

Where a problem is: text files number their **lines** as an editor does (the header is line 1;
blank lines and line breaks inside quoted fields count); binary formats number their **data
rows** from 1 (the header is not counted). :func:`read_raw` keeps that number for every row.

What is checked while reading a text file (each a :class:`~painstudy.errors.DataFileError`
with its rule code):

- the encoding: UTF-8 (with or without byte-order mark), UTF-16 and UTF-32 (with a byte-order
  mark, or UTF-16 recognised by its zero bytes), else Windows-1252; anything else is
  ``encoding``; NUL bytes or the signature of a binary format (zip/Excel, Parquet, SPSS, ...)
  are ``not_text``;
- ``duplicate_column``: two header fields with the same name (after trimming spaces);
- ``field_count``: a line with more or fewer fields than the header (when *every* data line ends
  with extra empty fields, a trailing delimiter, they are ignored: nothing is lost);
- ``truncated_file``: the last line has fewer fields than the header and no final line break,
  or the file ends inside a quoted field (an unbalanced quote); a gzip file that ends early;
- ``malformed_line``: text after a closing quote and other quoting errors.

What cannot be detected: a file cut off inside the last field of its last line when that line
still has every field (``30.2`` cut to ``3``) looks exactly like a valid file without a final
line break, which many programs write. :attr:`RawTable.notes` then says that the file does not
end with a line break and shows the last value, so that ``painstudy validate`` prints it.

Lines whose fields are all empty hold no data; they are skipped and counted in the notes.
"""

from __future__ import annotations

import csv
import io as _io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataFileError

#: Strings read as missing values in text files, besides the empty string.
MISSING_STRINGS = ["", "NA", "N/A", "NaN", "nan", ".", "NULL", "null"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
    ".txt.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
    ".sas7bdat": "sas",
    ".xpt": "xpt",
    ".dta": "stata",
    ".sav": "spss",
    ".zsav": "spss",
}

#: The readers of :func:`read_table` (the values a study may declare as ``data.format``).
FORMATS = ("csv", "parquet", "excel", "sas", "xpt", "stata", "spss")

# signatures of binary formats, to tell a user that a ".csv" file is not text
_SIGNATURES = (
    (b"PK\x03\x04", "zip archive (an .xlsx workbook?)"),
    (b"PAR1", "Parquet"),
    (b"\xd0\xcf\x11\xe0", "Excel 97-2003 (.xls) or other OLE2"),
    (b"$FL2", "SPSS"),
    (b"$FL3", "SPSS"),
    (b"<stata_dta>", "Stata"),
    (b"%PDF", "PDF"),
)
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)


def file_format(path: str | Path, declared: str | None = None) -> str:
    """The reader to use for ``path`` (from its extension, or the declared format)."""
    if declared:
        if declared not in FORMATS:
            raise DataFileError(
                f"{path}: unknown format {declared!r}; formats: {', '.join(FORMATS)}", code="unknown_format"
            )
        return declared
    name = Path(path).name.lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    raise DataFileError(
        f"{path}: unknown file format (extension); supported: {', '.join(sorted(_FORMATS))}", code="unknown_format"
    )


@dataclass(frozen=True)
class RawTable:
    """A data file as read: raw values, and where each row is in the file.

    Attributes
    ----------
    frame : DataFrame
        The raw values (text files: strings, missing values ``None``), with a RangeIndex.
    label : str
        The file named in messages (its path, or ``<DataFrame>``).
    numbering : {"line", "row"}
        ``"line"``: ``numbers`` are 1-based lines of a text file (header = line 1 when it is the
        first line); ``"row"``: 1-based data rows (binary formats, data frames).
    numbers : ndarray
        The line or row number of each row of ``frame``.
    sheets : tuple of str
        Excel: the sheets of the workbook (``sheet`` is the one read).
    notes : tuple of str
        Facts worth telling (rows skipped because every field was empty, a missing final line
        break, the encoding when it was not UTF-8).
    value_labels : dict
        Stata and SPSS: ``{column: {label: code}}`` of the columns shown by their value labels.
    """

    frame: pd.DataFrame
    label: str
    numbering: str
    numbers: np.ndarray
    format: str = "frame"
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    notes: tuple[str, ...] = ()
    value_labels: dict = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, label: str = "<DataFrame>", fmt: str = "frame", notes: tuple[str, ...] = ()
    ) -> RawTable:
        """A data frame given directly (rows numbered from 1)."""
        df = df.reset_index(drop=True)
        names = [str(c).strip() for c in df.columns]
        _check_unique_names(names, label, "row")
        df.columns = names
        return cls(df, label, "row", np.arange(1, len(df) + 1), fmt, notes=notes)

    def where(self, position: int) -> dict:
        """``{"line": n}`` or ``{"row": n}`` for the row at ``position`` of ``frame``."""
        return {self.numbering: int(self.numbers[position])}


def _check_unique_names(names: list[str], label: str, where: str, line: int | None = None) -> None:
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        seen.setdefault(n, []).append(i + 1)
    dups = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dups:
        at = f" line {line}" if line is not None else ""
        detail = "; ".join(f"{n!r} is columns {', '.join(map(str, pos))}" for n, pos in dups.items())
        raise DataFileError(
            f"{label}{at}: the same column name appears more than once ({detail}); "
            "rename the columns so that each name is used once",
            code="duplicate_column",
        )


def _decode(raw: bytes, path: Path) -> tuple[str, str | None]:
    """Text of a file and a note on its encoding (None for plain UTF-8)."""
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(codec)
            except UnicodeDecodeError as e:
                raise DataFileError(
                    f"{path}: starts with a {name} byte-order mark but is not valid {name} "
                    f"(byte {e.start + len(bom)}); the file is corrupt or not text",
                    code="encoding",
                ) from None
            if "\x00" in text:
                break
            return text, None if name == "UTF-8" else f"read as {name} text"
    for sig, kind in _SIGNATURES:
        if raw.startswith(sig):
            raise DataFileError(
                f"{path}: this is a {kind} file, not text; give it the right extension or "
                "declare its format (data: {{format: ...}})",
                code="not_text",
            )
    sample = raw[:4096]
    if b"\x00" in sample:
        even, odd = sample[0::2], sample[1::2]
        codec = (
            "utf-16-le"
            if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even)
            else "utf-16-be"
            if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd)
            else None
        )
        if codec and len(raw) % 2 == 0:
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                text = "\x00"
            if "\x00" not in text:
                return text, "read as UTF-16 text (no byte-order mark)"
    if b"\x00" in raw:
        raise DataFileError(
            f"{path}: the file contains NUL bytes: not a text file (a binary file with a text extension?)",
            code="not_text",
        )
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        try:
            return raw.decode("cp1252"), "read as Windows-1252 text (it is not valid UTF-8)"
        except UnicodeDecodeError:
            line = raw[: e.start].count(b"\n") + 1
            raise DataFileError(
                f"{path} line {line}: cannot decode the file as UTF-8, UTF-16 or Windows-1252 "
                f"text (byte {e.start}); save it as UTF-8 text",
                code="encoding",
            ) from None


def _delimiter(header: str, path: Path) -> str:
    """The delimiter giving the header the most fields (``,`` on ties; tab for .tsv files)."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".tsv"):
        return "\t"
    best, most = ",", 1
    for sep in (",", ";", "\t", "|"):
        try:
            n = len(next(csv.reader([header], delimiter=sep)))
        except (csv.Error, StopIteration):
            continue
        if n > most:
            best, most = sep, n
    return best


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class _Split:
    """A delimited text split into its header and data lines (see :func:`_split`)."""

    header: list[str]
    head_line: int
    lines: list[int]  # the line where each data record starts
    lengths: np.ndarray  # fields of each data record
    filled: np.ndarray  # whether a record has any non-blank field
    table: pd.DataFrame  # the fields, one row per data record (short records padded with "")


def _split(text: str, sep: str, path: Path) -> _Split:
    """Header and data records of a delimited text, with their lines; blank lines skipped.

    Text without any quote character has one record per line: it is split by pandas' C parser
    (fast). Otherwise Python's csv module reads it strictly (quoted fields may span lines, and
    quoting errors are reported with their line).
    """
    if '"' not in text:
        physical = _LINE_BREAK.split(text)
        if physical and physical[-1] == "":
            physical.pop()
        nonblank = [i for i, ln in enumerate(physical) if ln.strip()]
        data = nonblank[1:]
        lengths = np.array([physical[i].count(sep) + 1 for i in data], dtype=int)
        width = physical[nonblank[0]].count(sep) + 1
        table = pd.read_csv(
            _io.StringIO(text),
            sep=sep,
            header=None,
            dtype=object,
            na_filter=False,
            names=range(max(width, lengths.max(initial=0))),
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            skipinitialspace=True,
            engine="c",
        )
        if len(table) == len(physical):
            header = next(csv.reader([physical[nonblank[0]]], delimiter=sep, skipinitialspace=True))
            filled = np.array([bool(physical[i].replace(sep, "").strip()) for i in data], dtype=bool)
            return _Split(
                header, nonblank[0] + 1, [i + 1 for i in data], lengths, filled, table.iloc[data].reset_index(drop=True)
            )
    records, starts = _records(text, sep, path)
    data = records[1:]
    lengths = np.fromiter(map(len, data), dtype=int, count=len(data))
    filled = np.fromiter((bool("".join(r).strip()) for r in data), dtype=bool, count=len(data))
    table = pd.DataFrame(data, dtype=object).fillna("") if data else pd.DataFrame()
    return _Split(records[0], starts[0], starts[1:], lengths, filled, table)


def _records(text: str, sep: str, path: Path) -> tuple[list[list[str]], list[int]]:
    """Records of a delimited text (csv module, strict) and the line where each starts; blank lines skipped."""
    rdr = csv.reader(_io.StringIO(text, newline=""), delimiter=sep, strict=True, skipinitialspace=True)
    records, starts, prev = [], [], 0
    try:
        for rec in rdr:
            start, prev = prev + 1, rdr.line_num
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            records.append(rec)
            starts.append(start)
    except csv.Error as e:
        line, msg = prev + 1, str(e)
        if "unexpected end of data" in msg:
            raise DataFileError(
                f"{path} line {line}: the file ends inside a quoted field that starts on this "
                "line: it is truncated, or a quote is not closed",
                code="truncated_file",
            ) from None
        if "field limit" in msg:
            raise DataFileError(
                f"{path} line {line}: a field longer than {csv.field_size_limit()} characters "
                "(a quote that is not closed?)",
                code="malformed_line",
            ) from None
        raise DataFileError(
            f"{path} line {line}: cannot split the line into fields ({msg})", code="malformed_line"
        ) from None
    return records, starts


def _read_text(path: Path) -> RawTable:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz") or raw.startswith(b"\x1f\x8b"):
        import gzip
        import zlib

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataFileError(f"{path}: truncated or corrupt gzip file ({e})", code="truncated_file") from None
    if not raw.strip():
        raise DataFileError(f"{path}: the file is empty", code="empty_file")
    text, encoding_note = _decode(raw, path)
    if not text.strip():
        raise DataFileError(f"{path}: the file is empty", code="empty_file")
    first = next((ln for ln in text[: 1 << 16].splitlines() if ln.strip()), text.strip())
    sep = _delimiter(first, path)
    sp = _split(text, sep, path)
    names = [h.strip() or f"Unnamed: {i}" for i, h in enumerate(sp.header)]
    _check_unique_names(names, str(path), "line", sp.head_line)
    width, ends_open = len(names), not text.endswith(("\n", "\r"))
    lengths, filled, n = sp.lengths.copy(), sp.filled, len(sp.lines)
    # a trailing delimiter on every data line (not on the header) adds empty fields: ignored, nothing is
    # lost; an extra field on some lines only is a shifted line, whatever its last value
    if filled.any() and (lengths[filled] > width).all():
        longer = np.flatnonzero(lengths > width)
        extra = sp.table.iloc[longer, width:].apply(lambda c: c.str.strip().ne("")).any(axis=1).to_numpy()
        lengths[longer[~extra]] = width
    wrong = np.flatnonzero(lengths != width)
    if len(wrong) and wrong[-1] == n - 1 and lengths[-1] < width and ends_open:
        raise DataFileError(
            f"{path} line {sp.lines[-1]}: truncated file: the last line has {lengths[-1]} of "
            f"{width} fields and no line break at its end",
            code="truncated_file",
        )
    bad = [(sp.lines[i], int(lengths[i])) for i in wrong]
    keep = np.flatnonzero((lengths == width) & filled)
    empty = [sp.lines[i] for i in np.flatnonzero((lengths == width) & ~filled)]
    lines = [sp.lines[i] for i in keep]
    if bad:
        shown = "; ".join(f"line {ln}: {n} fields" for ln, n in bad[:10])
        more = f" (and {len(bad) - 10} more lines)" if len(bad) > 10 else ""
        raise DataFileError(
            f"{path}: {len(bad)} line(s) with a different number of fields than the header "
            f"(line {sp.head_line}: {width} fields): {shown}{more}; a field is missing or a "
            "delimiter is unquoted",
            code="field_count",
        )
    if not len(keep):
        raise DataFileError(f"{path}: the file has a header but no data rows", code="empty_file")
    frame = sp.table.iloc[keep, :width].reset_index(drop=True)
    frame.columns = names
    # values padded with spaces or tabs ("NA ") need trimming before they are compared with the
    # spellings of a missing value; without any, an exact comparison is enough (and fast)
    padded = re.search(rf"[ \t](?:{re.escape(sep)}|\r|\n|$)|{re.escape(sep)}\t|^\t", text, re.MULTILINE)
    for name in names:
        col = frame[name]
        blank = (col.str.strip() if padded else col).isin(MISSING_STRINGS)
        frame[name] = col.where(~blank, None)
    notes = [encoding_note] if encoding_note else []
    if empty:
        notes.append(f"{len(empty)} line(s) with every field empty skipped (lines {_ranges(empty)})")
    if ends_open:
        last = frame.iloc[-1, -1] if lines[-1] == sp.lines[-1] else None
        shown = f" (column {names[-1]}: {last!r})" if last is not None else ""
        notes.append(
            f"the file does not end with a line break: if it was cut off, the last value on line "
            f"{sp.lines[-1]}{shown} may be incomplete"
        )
    return RawTable(frame, str(path), "line", np.asarray(lines, dtype=int), "csv", notes=tuple(notes))


def _ranges(numbers: list[int]) -> str:
    """``1-3, 7`` for ``[1, 2, 3, 7]`` (at most 10 pieces shown)."""
    parts, start = [], numbers[0]
    for a, b in zip(numbers, numbers[1:] + [None]):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ", ".join(parts[:10]) + (", ..." if len(parts) > 10 else "")


def _cell_name(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def _read_excel(path: Path, sheet: str | None) -> RawTable:
    book = pd.ExcelFile(path)
    sheets = tuple(str(s) for s in book.sheet_names)
    if sheet is None:
        name = sheets[0]
    elif str(sheet) in sheets:
        name = str(sheet)
    else:
        raise DataFileError(
            f"{path}: the workbook has no sheet {sheet!r}; its sheets: {', '.join(sheets)}", code="unknown_sheet"
        )
    cells = book.parse(sheet_name=name, header=None, dtype=object)
    cells = cells.dropna(how="all").reset_index(drop=True)
    if cells.empty:
        raise DataFileError(f"{path}: sheet {name!r} is empty (sheets: {', '.join(sheets)})", code="empty_file")
    names = [_cell_name(v) or f"Unnamed: {i}" for i, v in enumerate(cells.iloc[0])]
    _check_unique_names(names, f"{path} (sheet {name})", "row")
    df = cells.iloc[1:].reset_index(drop=True)
    df.columns = names
    df = df.astype(object).where(df.notna(), None)
    df = df.map(lambda v: None if isinstance(v, str) and not v.strip() else v)
    if df.empty:
        raise DataFileError(f"{path}: sheet {name!r} has a header but no data rows", code="empty_file")
    return RawTable(df, str(path), "row", np.arange(1, len(df) + 1), "excel", sheets, name)


def read_raw(path: str | Path, fmt: str | None = None, *, sheet: str | None = None) -> RawTable:
    """Read a data file, keeping where each row is in it (see :class:`RawTable`).

    Parameters
    ----------
    path : str or Path
        The file to read.
    fmt : str, optional
        Force a reader (one of :data:`FORMATS`) instead of guessing from the extension.
    sheet : str, optional
        Excel: the sheet to read (default: the first).

    Raises
    ------
    DataFileError
        When the file is missing, empty, truncated, undecodable, has duplicate column names or
        lines with the wrong number of fields, or is of an unknown format (with a rule code).
    """
    path = Path(path)
    kind = file_format(path, fmt)
    labels: dict = {}  # Stata and SPSS: value labels of the codes of each column
    if not path.exists():
        raise DataFileError(f"{path}: data file not found", code="file_not_found")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a data file", code="file_not_found")
    if path.stat().st_size == 0:
        raise DataFileError(f"{path}: the file is empty (0 bytes)", code="empty_file")
    if sheet is not None and kind != "excel":
        raise DataFileError(
            f"{path}: a sheet ({sheet!r}) is given but this is a {kind} file, not Excel", code="unknown_sheet"
        )
    try:
        if kind == "csv":
            return _read_text(path)
        if kind == "excel":
            return _read_excel(path, sheet)
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:  # SAS, Stata and SPSS (the last two with their value labels)
            import pyreadstat

            read = {"sas": "read_sas7bdat", "xpt": "read_xport", "stata": "read_dta", "spss": "read_sav"}[kind]
            df, meta = getattr(pyreadstat, read)(str(path))
            labels = meta.variable_value_labels if kind in ("stata", "spss") else {}
    except DataFileError:
        raise
    except Exception as e:  # every reader has its own exception types
        raise DataFileError(
            f"{path}: cannot read as {kind} ({type(e).__name__}); the file may be truncated, "
            "corrupt or of another format",
            code="unreadable_file",
        ) from None
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise DataFileError(f"{path}: the file has no data rows", code="empty_file")
    # blank strings mean "missing" in every format, as they do in text files
    for col in df.select_dtypes(include="object").columns:
        blank = df[col].map(lambda v: isinstance(v, str) and not v.strip())
        if blank.any():
            df.loc[blank, col] = None
    labelled = {str(c).strip(): codes for c, codes in _apply_value_labels(df, labels).items()}
    return replace(RawTable.from_frame(df, str(path), kind), value_labels=labelled)


def _apply_value_labels(df: pd.DataFrame, labels: dict) -> dict:
    """Labels for the codes of each column whose every value has one (an arm: 1 "acupuncture"); a scale
    labelled at its ends only keeps its numbers. Returns ``{column: {label: code}}`` of those labelled."""
    shown = {}
    for col, codes in labels.items():
        present = df[col].dropna() if col in df and codes else ()
        if len(present) and present.isin(list(codes)).all():
            df[col] = df[col].map(codes).astype(object).where(df[col].notna(), None)
            shown[col] = {label: code for code, label in reversed(codes.items())}
    return shown


def read_table(
    path: str | Path, fmt: str | None = None, *, sheet: str | None = None, infer_types: bool = False
) -> pd.DataFrame:
    """Read a data file into a DataFrame of raw values (the one reader of painstudy).

    Parameters
    ----------
    path : str or Path
        The file to read.
    fmt : str, optional
        Force a reader (``csv``, ``parquet``, ``excel``, ``sas``, ``xpt``, ``stata``, ``spss``)
        instead of guessing from the extension.
    sheet : str, optional
        Excel: the sheet to read (default: the first).
    infer_types : bool
        Convert each text column whose present values are all numbers to float (text files are
        otherwise read as strings, as they are).

    Raises
    ------
    DataFileError
        See :func:`read_raw`.

    Examples
    --------
    >>> from importlib import resources
    >>> demo = resources.files("painstudy.datasets") / "studies" / "demo" / "data.csv"
    >>> df = read_table(demo, infer_types=True)
    >>> df.shape, str(df["pain"].dtype), df.loc[0, "subject_id"]
    ((2400, 12), 'float64', 'S0001')
    """
    df = read_raw(path, fmt, sheet=sheet).frame
    if infer_types:
        for col in df.select_dtypes(include="object").columns:
            try:
                df[col] = pd.to_numeric(df[col])
            except (ValueError, TypeError):
                pass
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` in the format given by the extension of ``path`` (the inverse of :func:`read_table`)."""
    path = Path(path)
    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        df.to_csv(path, index=False, sep="\t" if ".tsv" in path.name else ",")
    elif kind == "parquet":
        df.to_parquet(path, index=False)
    elif kind == "excel":
        df.to_excel(path, index=False)
    elif kind == "stata":
        df.to_stata(path, write_index=False)
    elif kind in ("spss", "xpt"):
        import pyreadstat

        (pyreadstat.write_sav if kind == "spss" else pyreadstat.write_xport)(df, str(path))
    else:
        raise DataFileError(f"{path}: writing {kind} files is not supported")
    return path


# -------------------------------------------------------------------------------------------
# files painstudy writes: checksums, JSON, safe output paths
# -------------------------------------------------------------------------------------------

#: Key that marks a JSON file as written by painstudy (such a file may be replaced by a later run).
JSON_MARK = "written_by"


#: Environment variable naming the folder that paths are shown relative to (default: the current
#: folder); ``painstudy report`` sets it for its notebooks, which run in the output folder.
DISPLAY_BASE_ENV = "PAINSTUDY_DISPLAY_BASE"


def display_path(path: str | Path, study_root: str | Path | None = None) -> str:
    """How a file is shown in reports and results: relative to the study folder when inside it, else
    relative to the current folder (:data:`DISPLAY_BASE_ENV`) when inside it, as a user gives it, else
    its name alone (no machine path, no user name).

    >>> display_path("/somewhere/studies/demo/data.csv", "/somewhere/studies/demo")
    'data.csv'
    >>> display_path("/home/someone/downloads/trial.csv", "/somewhere/studies/demo")
    'trial.csv'
    """
    import os

    p = Path(os.path.abspath(path))
    for base in (study_root, os.environ.get(DISPLAY_BASE_ENV) or os.getcwd()):
        b = Path(os.path.abspath(base)) if base is not None else None
        if b is not None and b != Path(b.anchor) and b in p.parents:  # never relative to the root folder
            return p.relative_to(b).as_posix()
    return p.name


def current_umask() -> int:
    """The process's umask (read without changing it where the system allows)."""
    import os

    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - systems without /proc
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_jsonable(obj):
    """A copy of ``obj`` made of JSON types: numpy scalars become Python numbers, NaN and
    infinities ``None``, pandas missing values ``None``, tuples lists, other objects their ``str``.

    >>> import numpy as np
    >>> to_jsonable({"a": np.float64("nan"), "b": (np.int64(2), np.bool_(True))})
    {'a': None, 'b': [2, True]}
    """
    import math

    import numpy as np

    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.tolist())
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def output_file(path: str | Path, *, what: str = "output file", replace_ok=None) -> Path:
    """Check that painstudy may write the file ``path``; return it.

    The folder is created when missing. Refused (:class:`DataFileError`): a path that is a
    folder, a folder that cannot be created, and an existing file that painstudy did not write
    (``replace_ok(path)`` decides; by default nothing existing is replaced).
    """
    p = Path(path)
    if p.exists() and p.is_dir():
        raise DataFileError(f"{path}: is a folder; give a file name for the {what}")
    if p.exists() and not (replace_ok is not None and replace_ok(p)):
        raise DataFileError(
            f"{path}: the file exists and was not written by painstudy; refusing to overwrite "
            f"it (choose another name or remove it)"
        )
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataFileError(f"{path}: cannot create the folder for the {what} ({e.strerror or e})") from None
    if not p.parent.is_dir():
        raise DataFileError(f"{path}: {p.parent} is not a folder")
    return p


def _written_json(path: Path) -> bool:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.loads(f.read(50_000_000))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and str(doc.get(JSON_MARK, "")).startswith("painstudy")


def write_json(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` as JSON (with a ``written_by`` mark), atomically; refuse to replace a file that
    painstudy did not write (see :func:`output_file`)."""
    import json
    import os
    import tempfile

    from .version import __version__

    p = output_file(path, what="JSON file", replace_ok=_written_json)
    doc = {JSON_MARK: f"painstudy {__version__}", **to_jsonable(obj)}
    text = json.dumps(doc, indent=2) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files: use the user's umask
        os.replace(tmp, p)
    except OSError as e:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
        raise DataFileError(f"{path}: cannot write the JSON file ({e.strerror or e})") from None
    return p
