"""One exception tree for every error a user can cause.

``PainstudyError`` is the root; each layer of the toolkit raises its own subclass. Errors that
come from checking data carry a table of failures (one row per problem) so that callers and the
command line can list every problem at once.
"""

from __future__ import annotations

import pandas as pd

FAILURE_COLUMNS = ["file", "column", "row", "subject", "value", "rule"]


class PainstudyError(Exception):
    """Root of every error a user can cause (bad data, bad parameters, bad files)."""


class StudySpecError(PainstudyError):
    """The study definition (study.yml) is malformed or inconsistent."""


class DataFileError(PainstudyError):
    """A data file is missing, empty, truncated, undecodable or of an unknown format."""


class CohortError(PainstudyError):
    """The cohort data break one or more rules; ``failures`` lists every problem."""

    def __init__(self, message: str, failures: pd.DataFrame | None = None):
        if failures is None:
            failures = pd.DataFrame(columns=FAILURE_COLUMNS)
        self.failures = failures
        super().__init__(message)

    def __str__(self) -> str:  # every problem on its own line
        head = super().__str__()
        if self.failures.empty:
            return head
        return head + "\n" + "\n".join(format_failure(r) for r in self.failures.itertuples())


class DatasetError(PainstudyError):
    """A registered dataset cannot be found, fetched or verified."""


class ModelError(PainstudyError):
    """A model cannot be fitted to the data as specified (singular design, no data, ...)."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


class ReportError(PainstudyError):
    """A report or notebook run failed."""


def format_failure(row) -> str:
    """One readable line for a failure row: where, what value, which rule."""
    where = []
    for key in ("file", "column", "row", "subject"):
        val = getattr(row, key, None)
        if val is not None and not (isinstance(val, float) and pd.isna(val)) and val != "":
            where.append(f"{key} {val}" if key != "file" else str(val))
    value = getattr(row, "value", None)
    shown = "" if value is None or (isinstance(value, float) and pd.isna(value)) else f" value {value!r}:"
    return f"{', '.join(where)}:{shown} {row.rule}"
