"""Reading raw study files in the common formats, with errors that name the file.

Supported: CSV/TSV (``.csv``, ``.tsv``, ``.txt``, optionally gzip-compressed), Parquet,
Excel (``.xlsx``, ``.xls``), SAS (``.sas7bdat``, ``.xpt``), Stata (``.dta``) and SPSS
(``.sav``, ``.zsav``). Values are read as they are; typing and range checks belong to cohort
validation, which then reports every problem with its row.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pandas as pd

from .errors import DataFileError

#: Strings read as missing values in text files, besides the empty string.
MISSING_STRINGS = ["", "NA", "N/A", "NaN", "nan", ".", "NULL", "null"]

_FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".csv.gz": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".xlsx": "excel", ".xls": "excel",
    ".sas7bdat": "sas", ".xpt": "xpt",
    ".dta": "stata",
    ".sav": "spss", ".zsav": "spss",
}


def file_format(path: str | Path, declared: str | None = None) -> str:
    """The reader to use for ``path`` (from its extension, or the declared format)."""
    if declared:
        return declared
    name = Path(path).name.lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    raise DataFileError(f"{path}: unknown file format (extension); supported: {', '.join(sorted(_FORMATS))}")


def _read_text(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataFileError(f"{path}: truncated or corrupt gzip file ({e})") from None
    if not raw.strip():
        raise DataFileError(f"{path}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise DataFileError(f"{path}: cannot decode the file as UTF-8 or Windows-1252 text "
                                f"(byte {e.start}); is it a binary file with a text extension?") from None
    if "\x00" in text:
        raise DataFileError(f"{path}: the file contains NUL bytes: not a text file")
    first = text.splitlines()[0]
    sep = "\t" if path.name.lower().split(".")[-1 if not path.name.endswith(".gz") else -2] == "tsv" else None
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    try:
        df = pd.read_csv(_io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                         na_values=MISSING_STRINGS, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as e:
        raise DataFileError(f"{path}: malformed or truncated table ({e})") from None
    # A truncated last line has fewer fields than the header: pandas fills NaN silently.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1:
        n_head = len(next(csv.reader([lines[0]], delimiter=sep)))
        n_last = len(next(csv.reader([lines[-1]], delimiter=sep)))
        if n_last < n_head:
            raise DataFileError(
                f"{path}: truncated file: the last line (row {len(lines) - 1}) has {n_last} of {n_head} fields")
    return df


def read_table(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame of raw values.

    Parameters
    ----------
    path : str or Path
        The file to read.
    fmt : str, optional
        Force a reader (``csv``, ``parquet``, ``excel``, ``sas``, ``xpt``, ``stata``, ``spss``)
        instead of guessing from the extension.

    Raises
    ------
    DataFileError
        When the file is missing, empty, truncated, undecodable or of an unknown format.
    """
    path = Path(path)
    kind = file_format(path, fmt)
    if not path.exists():
        raise DataFileError(f"{path}: data file not found")
    if path.stat().st_size == 0:
        raise DataFileError(f"{path}: the file is empty (0 bytes)")
    try:
        if kind == "csv":
            df = _read_text(path)
        elif kind == "parquet":
            df = pd.read_parquet(path)
        elif kind == "excel":
            df = pd.read_excel(path)
        elif kind in ("sas", "xpt"):
            import pyreadstat

            reader = pyreadstat.read_sas7bdat if kind == "sas" else pyreadstat.read_xport
            df, _ = reader(str(path))
        elif kind == "stata":
            df = pd.read_stata(path, convert_categoricals=False)
        elif kind == "spss":
            import pyreadstat

            df, _ = pyreadstat.read_sav(path)
        else:  # pragma: no cover - guarded by file_format
            raise DataFileError(f"{path}: unsupported format {kind!r}")
    except DataFileError:
        raise
    except Exception as e:  # every reader has its own exception types
        raise DataFileError(f"{path}: cannot read as {kind} ({type(e).__name__}: {e}); "
                            "the file may be truncated, corrupt or of another format") from None
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise DataFileError(f"{path}: the file has no data rows")
    df.columns = [str(c).strip() for c in df.columns]
    # blank strings mean "missing" in every format, as they do in text files
    for col in df.columns[df.dtypes == object]:
        blank = df[col].map(lambda v: isinstance(v, str) and not v.strip())
        if blank.any():
            df.loc[blank, col] = None
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
    elif kind == "spss":
        import pyreadstat

        pyreadstat.write_sav(df, str(path))
    elif kind == "xpt":
        import pyreadstat

        pyreadstat.write_xport(df, str(path))
    else:
        raise DataFileError(f"{path}: writing {kind} files is not supported")
    return path


# -------------------------------------------------------------------------------------------
# files painstudy writes: checksums, JSON, safe output paths
# -------------------------------------------------------------------------------------------

#: Key that marks a JSON file as written by painstudy (such a file may be replaced by a later run).
JSON_MARK = "written_by"


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
        raise DataFileError(f"{path}: the file exists and was not written by painstudy; refusing to overwrite "
                            f"it (choose another name or remove it)")
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
        os.replace(tmp, p)
    except OSError as e:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
        raise DataFileError(f"{path}: cannot write the JSON file ({e.strerror or e})") from None
    return p
