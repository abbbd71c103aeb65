"""Published numbers as data: the file format of a reproduction's published results.

Each published source has a CSV file ``painstudy/reproduce/published/<name>.csv`` (package data) with
one row per published number and these columns, in any order:

``item``
    A unique name (``Table 2: headache score difference 12 months``); the recomputation returns a value
    for each item.
``value``
    The number exactly as printed (a string: ``4.6``, ``0.0002``, ``-13``, ``1.2E-5``, ``<.0001``). Empty
    when the number is read at run time from the raw output named by the next four columns (a SAS
    listing): then it is never transcribed.
``precision``
    The tolerance rule: ``printed`` (or empty): half a unit of the last printed digit; ``abs:X``: an
    absolute tolerance X (for a number whose printed digits do not say how precise it is). A bound
    (``<.0001``, as SAS prints small p-values) matches any reproduced value beyond it.
``source``, ``table``, ``row``, ``column``
    Where the number is printed: the document or file (``paper``, ``sas_log_reml.txt``), the table or
    figure (``Table 2``, ``Solution for Fixed Effects``), and for a listing the row (``Effect=ARMCD;
    ARMCD=TRT``: the cells that select exactly one row) and the column header (``Estimate``).
``reason``
    Why a reproduced number may legitimately differ (empty when it should match): the text itself, or the
    key of a reason the source's module writes out in its ``REASONS``.

Examples
--------
>>> p = Published("AIC", "3406.4")
>>> p.value, round(p.tolerance, 6)
(3406.4, 0.05)
>>> Published("Pr > F", "<.0001").admits(3e-9)
True
>>> Published("t", "3.51").admits(3.506)
True
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import PainstudyError

__all__ = ["COLUMNS", "PRINTED_NUMBER", "Published", "PublishedFileError", "published_path", "read_published"]

#: The columns of a published-numbers file.
COLUMNS = ("item", "value", "precision", "source", "table", "row", "column", "reason")
#: A number as printed: a bound sign, the sign, digits, decimals and exponent (``<.0001``, ``-0.04231``, ``1.2E-5``)
PRINTED_NUMBER = re.compile(r"^([<>]?)(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$")
_ABS = re.compile(r"^abs:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class PublishedFileError(PainstudyError):
    """A published-numbers file that breaks the format (the message names the file, line, column and rule)."""


@dataclass(frozen=True)
class Published:
    """A published number: its value as printed (a string keeps the printed precision).

    Attributes
    ----------
    item : str
        Its unique name.
    printed : str
        The text as printed (``"4.6"``, ``"<.0001"``; a trailing ``%`` is allowed).
    reason : str
        Why ours may legitimately differ, if it does.
    precision : str
        The tolerance rule (``printed`` or ``abs:X``, see the module docstring).
    source : str
        Where it is printed (``"paper / Table 2"``, ``"sas_log_reml.txt / Fit Statistics / name=AIC ... / value"``).
    """

    item: str
    printed: str
    reason: str = ""
    precision: str = "printed"
    source: str = ""

    def _parts(self):
        m = PRINTED_NUMBER.match(self.printed.strip().removesuffix("%"))
        if not m or not (m.group(3) or m.group(4)):
            raise PublishedFileError(f"item {self.item!r}: {self.printed!r} is not a number as printed")
        return m

    @property
    def relation(self) -> str:
        """``"="`` for a value, ``"<"`` or ``">"`` for a printed bound (``<.0001``)."""
        return self._parts().group(1) or "="

    @property
    def value(self) -> float:
        """The printed value (the bound itself for ``<.0001``)."""
        return float(self.printed.strip().lstrip("<>").rstrip("%"))

    @property
    def tolerance(self) -> float:
        """The largest difference the printed text allows: half a unit of its last printed digit (or the
        ``abs:X`` of ``precision``); NaN for a bound."""
        m = self._parts()
        if m.group(1):
            return math.nan
        a = _ABS.match(self.precision)
        if a:
            return float(a.group(1))
        decimals = len(m.group(4) or "")
        exponent = int(m.group(5)) if m.group(5) else 0
        return 0.5 * 10.0 ** (exponent - decimals) * (1 + 1e-9)

    def admits(self, x: float) -> bool:
        """Whether the reproduced value ``x`` is what was printed (within the tolerance, or beyond the bound)."""
        if x is None or math.isnan(x):
            return False
        rel = self.relation
        if rel == "<":
            return x < self.value
        if rel == ">":
            return x > self.value
        return abs(x - self.value) <= self.tolerance


def published_path(name: str) -> Path:
    """The published-numbers file of source ``name`` (package data)."""
    return Path(str(resources.files("painstudy.reproduce") / "published" / f"{name}.csv"))


def read_published(
    path: str | Path,
    *,
    reasons: Mapping[str, str] | None = None,
    lookup: Callable[[dict], str] | None = None,
) -> list[Published]:
    """Read a published-numbers file (the format of the module docstring).

    Parameters
    ----------
    path : path
        The CSV file.
    reasons : mapping, optional
        Reason key -> text, for ``reason`` cells that name a key.
    lookup : callable, optional
        Gives the printed text of a row whose ``value`` is empty, from its ``source, table, row, column``
        (a dict of the row's cells); without it such a row is an error.

    Raises
    ------
    PublishedFileError
        For a missing file or column, an empty or repeated item, a value that is not a printed number, an
        unknown precision rule or reason key, or a row without a value and nothing to read it from.
    """
    p = Path(path)
    name = p.name
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PublishedFileError(f"{name}: cannot read the published numbers ({exc.strerror or exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise PublishedFileError(f"{name}: empty file; expected the columns {', '.join(COLUMNS)}")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise PublishedFileError(
            f"{name}, line 1: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        )
    out, seen = [], {}
    for line, cells in enumerate(rows[1:], 2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise PublishedFileError(f"{name}, line {line}: {len(cells)} cells, the header has {len(header)}")
        r = dict(zip(header, (c.strip() for c in cells)))
        where = f"{name}, line {line}"
        item = r["item"]
        if not item:
            raise PublishedFileError(f"{where}, column item: empty item name")
        if item in seen:
            raise PublishedFileError(f"{where}, column item: {item!r} repeats line {seen[item]}")
        seen[item] = line
        value = r["value"]
        if not value:
            if lookup is None:
                raise PublishedFileError(
                    f"{where}, column value: {item!r} has no value and its source has no reader of raw output"
                )
            try:
                value = lookup(r)
            except PainstudyError as exc:
                raise PublishedFileError(f"{where} ({item!r}): {exc}") from None
        precision = r["precision"] or "printed"
        if precision != "printed" and not _ABS.match(precision):
            raise PublishedFileError(
                f"{where}, column precision: {precision!r} is not a tolerance rule (printed, or abs:X)"
            )
        reason = r["reason"]
        if reason and _KEY.match(reason):
            if reason not in (reasons or {}):
                known = ", ".join(sorted(reasons or {})) or "none"
                raise PublishedFileError(f"{where}, column reason: unknown reason key {reason!r} (known: {known})")
            reason = (reasons or {})[reason]
        where_printed = " / ".join(x for x in (r["source"], r["table"], r["row"], r["column"]) if x)
        pub = Published(item, value, reason, precision, where_printed)
        try:
            pub.tolerance  # noqa: B018 - checks the printed text
        except PublishedFileError as exc:
            raise PublishedFileError(f"{where}, column value: {exc}") from None
        out.append(pub)
    return out
