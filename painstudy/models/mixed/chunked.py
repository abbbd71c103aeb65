"""Columns of a Parquet file (or a folder of Parquet files) read in chunks, for fits of data larger than memory.

A :class:`ParquetSource` knows the file's columns and their types, counts its rows without reading them,
and hands out the columns a fit needs in tables of about ``rows`` rows, in file order, each with the
number of its first row.  The missing-value rule is the one of the in-memory fits: a null, or a NaN in a
floating-point column.  Rows are numbered from 1 in messages, as in every painstudy message about a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from painstudy.errors import ModelError

__all__ = ["ParquetSource", "is_parquet_source", "missing", "as_float", "file_progress", "DEFAULT_CHUNK_ROWS"]

#: Rows per chunk: about 50 MB of padded design per chunk for 20 fixed-effect columns.
DEFAULT_CHUNK_ROWS = 250_000


def is_parquet_source(data) -> bool:
    """``data`` names a Parquet file or a folder of them (a str or a path), rather than being a table."""
    return isinstance(data, (str, Path))


class ParquetSource:
    """A Parquet file or folder of files, read column-wise in chunks (pyarrow datasets)."""

    def __init__(self, path: str | Path):
        import pyarrow.dataset as ds

        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise ModelError(f"{self.name}: no such file or folder")
        try:
            self.dataset = ds.dataset(str(self.path), format="parquet")
            self.n_rows = int(self.dataset.count_rows())
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise ModelError(
                f"{self.name}: cannot be read as Parquet ({type(exc).__name__}: {exc}); a file too large for "
                f"memory is fitted from Parquet (write it with pandas.DataFrame.to_parquet or pyarrow)"
            ) from None
        self.schema = self.dataset.schema

    # ------------------------------------------------------------------------------------------
    def check_columns(self, columns: Sequence[str]) -> None:
        """Every column named in the formula must be in the file."""
        names = self.schema.names
        for c in dict.fromkeys(columns):
            if c not in names:
                raise ModelError(
                    f"{self.name}: column {c!r} named in the formula is not in the file (columns: {names})"
                )

    def value_type(self, column: str):
        """The arrow type of a column's values (a dictionary column's value type)."""
        import pyarrow as pa

        t = self.schema.field(column).type
        return t.value_type if pa.types.is_dictionary(t) else t

    def is_dictionary(self, column: str) -> bool:
        """A dictionary-encoded column (a pandas Categorical written to Parquet)."""
        import pyarrow as pa

        return pa.types.is_dictionary(self.schema.field(column).type)

    def is_numeric(self, column: str) -> bool:
        """Integer, floating-point or decimal values (booleans are not numbers here, as in the in-memory fits)."""
        import pyarrow as pa

        t = self.value_type(column)
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)

    def chunks(self, columns: Sequence[str], rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, object]]:
        """``(first_row, table)`` in file order; ``first_row`` counts from 0, tables hold about ``rows`` rows."""
        import pyarrow as pa

        start, pending, size = 0, [], 0
        for batch in self.dataset.to_batches(columns=list(columns), batch_size=rows):
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            size += batch.num_rows
            if size >= rows:
                yield start, pa.Table.from_batches(pending).combine_chunks()
                start += size
                pending, size = [], 0
        if pending:
            yield start, pa.Table.from_batches(pending).combine_chunks()

    def value_at(self, column: str, row: int):
        """The value of ``column`` at ``row`` (counting from 0), as a Python value."""
        return self.dataset.take([row], columns=[column]).column(0)[0].as_py()


def missing(column) -> np.ndarray:
    """Missing values of an arrow column as a boolean array: null, or NaN in a floating-point column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if column.null_count == 0 and not pa.types.is_floating(t):
        return np.zeros(len(column), bool)
    miss = column.is_null()
    if pa.types.is_floating(t):
        miss = pc.or_(miss, pc.fill_null(pc.is_nan(column), False))
    return np.asarray(miss.to_numpy(zero_copy_only=False), bool)


def as_float(column) -> np.ndarray:
    """An arrow numeric column as float64 (nulls as NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not pa.types.is_float64(column.type):
        column = pc.cast(column, pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), float)


@contextmanager
def file_progress(progress):
    """The progress callback of a chunked read: ``progress`` itself if callable, a tqdm bar on stderr
    (one per pass) if ``True``, else none."""
    if not progress or callable(progress):
        yield progress if callable(progress) else None
        return
    import sys

    from tqdm.auto import tqdm

    bars: dict = {}
    names = {"levels": "pass 1/2: levels", "statistics": "pass 2/2: statistics"}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(
                total=total, desc=names.get(stage, stage), unit="row", unit_scale=True, file=sys.stderr
            )
        bar.update(done - bar.n)

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.close()
