"""Reference comparisons that record themselves for the validation report.

``check(quantity, ours, reference, source=..., rtol=..., atol=...)`` asserts that painstudy's value
(scalar or array) is within tolerance of the reference value and, when the environment variable
``PAINSTUDY_LEDGER`` names a file, records one row per compared number (quantity, reference and its
source file, ours, difference, tolerance, test). ``tools/build_docs.py`` runs the reference tests
with the ledger on and renders the rows as the documentation's validation report.
"""

from __future__ import annotations

import os

import numpy as np

ROWS: list[dict] = []


def enabled() -> bool:
    return bool(os.environ.get("PAINSTUDY_LEDGER"))


def check(quantity: str, ours, reference, *, source: str, rtol: float = 0.0, atol: float = 0.0,
          labels=None) -> None:
    """Assert ``|ours - reference| <= atol + rtol * |reference|`` elementwise and record each number."""
    o = np.atleast_1d(np.asarray(ours, dtype=float))
    r = np.atleast_1d(np.asarray(reference, dtype=float))
    assert o.shape == r.shape, f"{quantity}: shape {o.shape} vs reference {r.shape} ({source})"
    diff = o - r
    ok = np.abs(diff) <= atol + rtol * np.abs(r)
    ok |= np.isnan(o) & np.isnan(r)
    if enabled():
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        tol = " + ".join(t for t in ([f"{atol:g}"] if atol else []) + ([f"{rtol:g} relative"] if rtol else [])) or "exact"
        for i in range(o.size):
            name = quantity if o.size == 1 else f"{quantity} [{labels[i] if labels is not None else i}]"
            ROWS.append({"quantity": name, "reference": float(r.flat[i]), "ours": float(o.flat[i]),
                         "difference": float(diff.flat[i]), "tolerance": tol, "source": source, "test": test,
                         "passed": bool(ok.flat[i])})
    if not ok.all():
        bad = np.flatnonzero(~ok.ravel())[:5]
        detail = "; ".join(f"[{i}] ours {o.flat[i]:.10g} vs {r.flat[i]:.10g}" for i in bad)
        raise AssertionError(f"{quantity}: {int((~ok).sum())} of {o.size} values outside tolerance "
                             f"(atol {atol:g}, rtol {rtol:g}) against {source}: {detail}")


def write(path: str) -> None:
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(ROWS, f, indent=1)
