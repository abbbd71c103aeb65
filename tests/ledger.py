"""Reference comparisons that record themselves for the validation report.

Every comparison of a painstudy number with an external reference goes through this module, with the
file the reference value came from (``source=``): a JSON file written by an R script in
``tests/reference/``, a SAS listing in ``../shared/references/``, or a paper. Each function asserts and,
when the environment variable ``PAINSTUDY_LEDGER`` names a file, records one row per compared number
(quantity, reference and its source, ours, difference, tolerance, test, passed, note);
``tools/build_docs.py`` runs the reference tests with the ledger on and renders the rows as the
documentation's validation report (``conftest.py`` writes the file at the end of the session).

- :func:`check`: numbers (scalars or arrays, with ``labels=`` naming the elements) within
  ``atol + rtol * |reference|``;
- :func:`check_printed`: a number against a value as printed by SAS or in a paper (the text, or a
  :class:`painstudy.reproduce.sas_listing.PrintedNumber`): within half a unit of its last printed digit
  (plus a documented ``allowance``), beyond a printed bound (``<.0001``), or missing where SAS prints ``.``;
- :func:`check_equal`: text and counts, exactly;
- :class:`Batch` (``with ledger.Batch() as b: b.check(...)``): the same checks, every row recorded and
  the failures raised together at the end, so that a table compared cell by cell appears in full in the
  report. ``Batch(known_deviation=REASON)`` is for a test marked ``xfail(strict=True, reason=REASON)``:
  its failing rows are listed as a known deviation with that reason.

A ``note=`` says why a tolerance is what it is when that is not the reference's printed precision.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

ROWS: list[dict] = []


def enabled() -> bool:
    return bool(os.environ.get("PAINSTUDY_LEDGER"))


def _test_id() -> str:
    # "tests/test_x.py::test_y[param with blanks] (call)"
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _record(quantity, reference, ours, difference, tolerance, source, passed, note) -> None:
    if enabled():
        reference, ours = _plain(reference), _plain(ours)
        ROWS.append(
            {
                "quantity": quantity,
                "reference": reference,
                "ours": ours,
                "difference": difference,
                "tolerance": tolerance,
                "source": source,
                "test": _test_id(),
                "passed": bool(passed),
                "note": note,
            }
        )


def _tolerance_text(atol: float, rtol: float, combine: str) -> str:
    parts = ([f"{atol:g}"] if atol else []) + ([f"{rtol:g} relative"] if rtol else [])
    if not parts:
        return "exact"
    return f"max({', '.join(parts)})" if combine == "max" and len(parts) == 2 else " + ".join(parts)


def _compare(quantity, ours, reference, source, rtol, atol, labels, note, combine="sum") -> list[str]:
    o = np.atleast_1d(np.asarray(ours, dtype=float))
    r = np.atleast_1d(np.asarray(reference, dtype=float))
    assert o.shape == r.shape, f"{quantity}: shape {o.shape} vs reference {r.shape} ({source})"
    if labels is not None:
        assert len(labels) == o.size, f"{quantity}: {len(labels)} labels for {o.size} values"
    if combine not in ("sum", "max"):
        raise ValueError(f"combine must be 'sum' or 'max', not {combine!r}")
    diff = o - r
    # "sum": numpy's assert_allclose; "max": pytest.approx(rel=..., abs=...)
    bound = atol + rtol * np.abs(r) if combine == "sum" else np.maximum(atol, rtol * np.abs(r))
    ok = np.abs(diff) <= bound
    ok |= np.isnan(o) & np.isnan(r)
    a = np.broadcast_to(np.asarray(atol, dtype=float), o.shape)
    for i in range(o.size):
        name = quantity if o.size == 1 else f"{quantity} [{labels[i] if labels is not None else i}]"
        tol = _tolerance_text(float(a.flat[i]), rtol, combine)
        _record(name, float(r.flat[i]), float(o.flat[i]), float(diff.flat[i]), tol, source, ok.flat[i], note)
    if ok.all():
        return []
    bad = np.flatnonzero(~ok.ravel())[:5]
    detail = "; ".join(
        f"[{labels[i] if labels is not None else i}] ours {o.flat[i]:.10g} vs {r.flat[i]:.10g}" for i in bad
    )
    tol = _tolerance_text(float(a.max()), rtol, combine)
    return [f"{quantity}: {int((~ok).sum())} of {o.size} values outside tolerance ({tol}) against {source}: {detail}"]


def _compare_printed(quantity, ours, printed, source, allowance, note) -> list[str]:
    if isinstance(printed, str):
        from painstudy.reproduce.sas_listing import printed as read_printed

        printed = read_printed(printed)
    x = float(ours)
    if printed.relation == "missing":
        ok, diff, tol = math.isnan(x), None, "missing (printed '.')"
    elif printed.relation in "<>":
        ok = x < printed.value if printed.relation == "<" else x > printed.value
        diff, tol = None, f"{printed.relation} {printed.value:g} (printed bound)"
    else:
        diff = x - printed.value
        ok = abs(diff) <= printed.half_unit + allowance
        tol = f"{printed.half_unit:g} (printed precision)" + (f" + {allowance:.3g}" if allowance else "")
    _record(quantity, printed.text, x, diff, tol, source, ok, note)
    return [] if ok else [f"{quantity}: ours {x:.10g}, {source} printed {printed.text} (tolerance {tol})"]


def _compare_equal(quantity, ours, reference, source, note) -> list[str]:
    ok = ours == reference
    _record(quantity, reference, ours, None, "exact", source, ok, note)
    return [] if ok else [f"{quantity}: ours {ours!r} vs {reference!r} ({source})"]


def _raise(failures: list[str]) -> None:
    if failures:
        raise AssertionError(failures[0])


def check(
    quantity: str,
    ours,
    reference,
    *,
    source: str,
    rtol: float = 0.0,
    atol=0.0,
    labels=None,
    note: str = "",
    combine: str = "sum",
) -> None:
    """Assert ``|ours - reference| <= atol + rtol * |reference|`` elementwise (``combine="max"``:
    ``<= max(atol, rtol * |reference|)``, as ``pytest.approx``) and record each number.  ``atol`` may be an
    array (one tolerance per element)."""
    _raise(_compare(quantity, ours, reference, source, rtol, atol, labels, note, combine))


def check_printed(quantity: str, ours, printed, *, source: str, allowance: float = 0.0, note: str = "") -> None:
    """Assert that ``ours`` prints as ``printed`` (a PrintedNumber, or the text as printed, e.g. ``"0.0524"``) to
    within ``allowance`` more, and record it."""
    _raise(_compare_printed(quantity, ours, printed, source, allowance, note))


def check_equal(quantity: str, ours, reference, *, source: str, note: str = "") -> None:
    """Assert ``ours == reference`` (text, counts) and record it."""
    _raise(_compare_equal(quantity, ours, reference, source, note))


class Batch:
    """Comparisons recorded one by one whose failures are raised together when the ``with`` block ends.

    Parameters
    ----------
    known_deviation : str
        For a test marked ``xfail(strict=True, reason=known_deviation)``: the reason, recorded with the
        rows that fail (the report lists them as known deviations, not as failures).
    """

    def __init__(self, known_deviation: str = ""):
        self.known_deviation = known_deviation
        self.failures: list[str] = []
        self._start = len(ROWS)

    def __enter__(self):
        self._start = len(ROWS)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.known_deviation:
            for row in ROWS[self._start :]:
                if not row["passed"]:
                    row["known_deviation"] = self.known_deviation
        if exc_type is None and self.failures:
            more = f"\n... and {len(self.failures) - 20} more" if len(self.failures) > 20 else ""
            raise AssertionError(
                f"{len(self.failures)} comparison(s) outside tolerance:\n" + "\n".join(self.failures[:20]) + more
            )
        return False

    def check(
        self,
        quantity: str,
        ours,
        reference,
        *,
        source: str,
        rtol: float = 0.0,
        atol=0.0,
        labels=None,
        note: str = "",
        combine: str = "sum",
    ) -> None:
        """As :func:`check`, raised at the end of the block."""
        self.failures += _compare(quantity, ours, reference, source, rtol, atol, labels, note, combine)

    def check_printed(
        self, quantity: str, ours, printed, *, source: str, allowance: float = 0.0, note: str = ""
    ) -> None:
        """As :func:`check_printed`, raised at the end of the block."""
        self.failures += _compare_printed(quantity, ours, printed, source, allowance, note)

    def check_equal(self, quantity: str, ours, reference, *, source: str, note: str = "") -> None:
        """As :func:`check_equal`, raised at the end of the block."""
        self.failures += _compare_equal(quantity, ours, reference, source, note)


def write(path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(ROWS, f, indent=1)
