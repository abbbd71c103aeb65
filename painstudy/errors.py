"""One exception tree for every error a user can cause.

``PainstudyError`` is the root; each layer of the toolkit raises its own subclass. An error may
carry a stable rule ``code`` (``duplicate_column``, ``unknown_key``, ...; every code is listed
with its meaning and fix by :func:`painstudy.validation.rules_table`).

Errors that come from checking something carry every problem found, not only the first:

- :class:`StudySpecError` lists :class:`Problem` rows (one per field of study.yml that breaks a
  rule, each with the line of the YAML file where the field is written);
- :class:`CohortError` carries the *failure table* (one row per problem in the data), with the
  columns :data:`FAILURE_COLUMNS`:

  ``code``
      the rule's stable code;
  ``file``
      the data file (or ``<DataFrame>``);
  ``line``
      for text files, the 1-based line of the file as an editor shows it (the header is line 1);
  ``row``
      for binary formats and data frames, the 1-based data row (the header is not counted);
  ``column``, ``subject``, ``value``
      where the problem is and the value as it was read;
  ``rule``
      the message: what is wrong, in words.

Examples
--------
>>> e = StudySpecError("study.yml: 1 problem", [Problem("wrong_type", "must be true or false, not 'yes'",
...                    field="arms[1].control", line=12, file="study.yml")])
>>> print(e)
study.yml: 1 problem
[wrong_type] study.yml line 12: field arms[1].control: must be true or false, not 'yes'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported on use: the command line starts without it
    import pandas as pd

#: Columns of the failure table of a :class:`CohortError` (see the module docstring).
FAILURE_COLUMNS = ["code", "file", "line", "row", "column", "subject", "value", "rule"]


class PainstudyError(Exception):
    """Root of every error a user can cause (bad data, bad parameters, bad files).

    ``code`` names the rule that was broken, when there is one; ``problems`` lists every
    problem when there are several (each a :class:`Problem` printed on its own line).
    """

    def __init__(self, message: str = "", *, code: str | None = None, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = tuple(problems)
        if code is None and len(self.problems) == 1:
            code = self.problems[0].code
        self.code = code

    def __str__(self) -> str:
        text = super().__str__()
        if self.problems:
            return text + "\n" + "\n".join(map(str, self.problems))
        return f"[{self.code}] {text}" if self.code else text

    def problem_lines(self) -> list[str]:
        """One line per problem, for printing (the message itself when it is a single problem)."""
        return [str(p) for p in self.problems] or [str(self)]


@dataclass(frozen=True)
class Problem:
    """One broken rule in a study definition or a file: code, message and where.

    ``field`` is the path of a study.yml field (``arms[1].control``), ``line`` the 1-based line
    of the YAML (or data) file where it is written, ``file`` the file.
    """

    code: str
    message: str
    field: str | None = None
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        text = self._text()
        return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")

    def _text(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where} line {self.line}".strip()
        if self.field:
            where = f"{where}: field {self.field}" if where else f"field {self.field}"
        return f"[{self.code}] {where}: {self.message}" if where else f"[{self.code}] {self.message}"


class StudySpecError(PainstudyError):
    """The study definition (study.yml) is malformed or inconsistent; ``problems`` lists every one."""

    def __init__(self, message: str = "", problems: Iterable[Problem] = (), *, code: str | None = None):
        super().__init__(message, code=code, problems=problems)


class DataFileError(PainstudyError):
    """A data file is missing, empty, truncated, undecodable or of an unknown format."""


class CohortError(PainstudyError):
    """The cohort data break one or more rules; ``failures`` lists every problem."""

    def __init__(self, message: str, failures: pd.DataFrame | None = None):
        if failures is None:
            import pandas as pd

            failures = pd.DataFrame(columns=FAILURE_COLUMNS)
        self.failures = failures
        super().__init__(message)

    def __str__(self) -> str:  # every problem on its own line
        head = Exception.__str__(self)
        if self.failures.empty:
            return head
        return head + "\n" + "\n".join(self.problem_lines())

    def problem_lines(self) -> list[str]:
        return [format_failure(r) for r in self.failures.itertuples()] or [Exception.__str__(self)]


class DatasetError(PainstudyError):
    """A registered dataset cannot be found, fetched or verified."""


class ModelError(PainstudyError):
    """A model cannot be fitted to the data as specified (singular design, no data, ...)."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


class ReportError(PainstudyError):
    """A report or notebook run failed."""


def _present(value: Any) -> bool:
    if value is None or type(value).__name__ == "NAType":  # pandas.NA, without importing pandas
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return value != ""


def format_failure(row) -> str:
    """One readable line for a failure row: code, where, what value, which rule.

    >>> import pandas as pd
    >>> row = pd.DataFrame([{"code": "unknown_arm", "file": "data.csv", "line": 9, "row": None,
    ...                      "column": "arm", "subject": "S0002", "value": "homeopathy",
    ...                      "rule": "not one of the study's arm codes"}]).itertuples()
    >>> format_failure(next(row))
    "[unknown_arm] data.csv line 9, column arm, subject S0002: value 'homeopathy': not one of the study's arm codes"
    """
    place = str(getattr(row, "file", "") or "")
    line, data_row = getattr(row, "line", None), getattr(row, "row", None)
    if _present(line):
        place = f"{place} line {int(line)}".strip()
    elif _present(data_row):
        place = f"{place} data row {int(data_row)}".strip()
    where = [place] if place else []
    for key in ("column", "subject"):
        val = getattr(row, key, None)
        if _present(val):
            text = str(val)
            where.append(f"{key} {text!r}" if not text.isprintable() else f"{key} {text}")
    value = getattr(row, "value", None)
    shown = f" value {value!r}:" if _present(value) else ""
    code = getattr(row, "code", None)
    head = f"[{code}] " if _present(code) else ""
    rule = str(row.rule)
    rule = rule if rule.isprintable() else rule.encode("unicode_escape").decode("ascii")
    return f"{head}{', '.join(where)}:{shown} {rule}"
