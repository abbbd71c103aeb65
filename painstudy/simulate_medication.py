"""Simulated medication records with a known truth: prescriptions whose MME per visit window is given.

:func:`simulate_medication_records` turns a table of opioid doses per subject and visit (MME/day, e.g. the
demo study's ``mme``) into plausible prescription records -- a long-acting or scheduled opioid (oxycodone,
hydrocodone, morphine, tramadol, methadone, a few fentanyl patches) at whole doses per day, an immediate-
release oxycodone for breakthrough pain, and "as needed" codeine 15 mg and hydrocodone 2.5 mg tablets given
as a quantity over a supply -- such that :func:`painstudy.medication.derive_mme` on the records gives back the
doses: the mean daily MME over each visit window equals the given value to within 0.05 MME/day (0.125 MME-days
over the window, the smallest as-needed step being 0.25 MME-days). A few subjects also get a buprenorphine
record, flagged and not counted in the total by default, so the truth holds as long as buprenorphine is left
out. Visits with a dose of 0 or a missing dose have no records.

Every record is written with the column names :class:`painstudy.study.MedicationSource` expects by default:
``subject, day, drug, strength, unit, doses_per_day, quantity, days_supplied`` (day 0 is the baseline visit).

Examples
--------
>>> import pandas as pd
>>> doses = pd.DataFrame({"subject": ["S1", "S1"], "visit": ["baseline", "week4"], "mme": [27.3, 12.0]})
>>> records = simulate_medication_records(doses, {"baseline": (-2, 0), "week4": (3, 5)}, seed=1)
>>> sorted(records.columns)[:3], len(records) > 0
(['day', 'days_supplied', 'doses_per_day'], True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import PainstudyError
from .opioids import find_opioid

__all__ = ["RECORD_COLUMNS", "simulate_medication_records"]

#: The columns of the simulated records.
RECORD_COLUMNS = ["subject", "day", "drug", "strength", "unit", "doses_per_day", "quantity", "days_supplied"]

#: Scheduled opioids (name as written on a prescription, strengths, unit, chance a subject is on it).
_MAIN = (
    ("oxycodone hydrochloride ER", (10, 15, 20, 30), "mg", 0.28),
    ("hydrocodone bitartrate/acetaminophen", (5, 7.5, 10), "mg", 0.24),
    ("morphine sulfate ER", (15, 30, 60), "mg", 0.18),
    ("tramadol", (50, 100), "mg", 0.12),
    ("methadone", (5, 10), "mg", 0.08),
    ("fentanyl transdermal patch", (12, 25, 50), "mcg/h", 0.10),
)
_BREAKTHROUGH = ("oxycodone", 5.0, "mg")  # 7.5 MME a dose
_AS_NEEDED = (("acetaminophen/codeine", 15.0, "mg", 9), ("hydrocodone/acetaminophen", 2.5, "mg", 10))
_STEP = 0.25  # MME-days: codeine 15 mg = 2.25 = 9 steps, hydrocodone 2.5 mg = 2.5 = 10 steps
_RESERVE = 72  # steps left for the as-needed tablets: every whole number of steps >= 72 is 9 a + 10 b


def _mme(drug: str, strength: float) -> float:
    return strength * find_opioid(drug).factor


def _nine_ten(steps: int) -> tuple[int, int]:
    """Non-negative (a, b) with 9 a + 10 b as close to ``steps`` as possible (exact from 72 on)."""
    best = (0, 0, steps)
    for b in range(steps // 10 + 2):
        rest = steps - 10 * b
        for a in (max(rest // 9, 0), max(rest // 9 + 1, 0)):
            miss = abs(steps - 9 * a - 10 * b)
            if miss < best[2]:
                best = (a, b, miss)
    return best[0], best[1]


def simulate_medication_records(
    doses: pd.DataFrame,
    windows: Mapping[str, tuple[float, float]],
    *,
    value: str = "mme",
    seed: int = 20261126,
    buprenorphine: float = 0.03,
) -> pd.DataFrame:
    """Prescription records reproducing given opioid doses per visit window (see the module docstring).

    Parameters
    ----------
    doses : DataFrame
        ``subject``, ``visit`` and ``value``: the mean MME per day of each subject in each visit window (0 or
        missing: no records).
    windows : mapping
        Visit name -> (low, high) in weeks, as ``Visit.window`` (study days ``round(7 low)`` to
        ``round(7 high)``); windows must not overlap.
    value : str
        The column of ``doses`` holding the dose.
    seed : int
        The random seed (drugs, strengths, which records use a quantity and a supply).
    buprenorphine : float
        Share of subjects on opioids who also get a (flagged, uncounted) buprenorphine record.

    Returns
    -------
    DataFrame
        :data:`RECORD_COLUMNS`, in subject order then by day.
    """
    missing = [c for c in ("subject", "visit", value) if c not in doses.columns]
    if missing:
        raise PainstudyError(f"simulate_medication_records: the doses lack column(s) {', '.join(missing)}")
    spans = sorted((int(round(7 * lo)), int(round(7 * hi)), v) for v, (lo, hi) in windows.items())
    for (_a0, b0, v0), (a1, _b1, v1) in zip(spans, spans[1:], strict=False):
        if a1 <= b0:
            raise PainstudyError(f"simulate_medication_records: the windows of {v0!r} and {v1!r} overlap")
    ends = {v: (a, b, spans[i + 1][0] - 1 if i + 1 < len(spans) else b) for i, (a, b, v) in enumerate(spans)}
    unknown = sorted(set(doses["visit"].astype(str)) - set(ends))
    if unknown:
        raise PainstudyError(f"simulate_medication_records: visit(s) without a window: {', '.join(unknown)}")
    rng = np.random.default_rng(seed)
    p = np.array([m[3] for m in _MAIN])
    rows: list[dict] = []
    for subject, own in doses.groupby("subject", sort=False):
        top = pd.to_numeric(own[value], errors="coerce").max()
        # a scheduled opioid that reaches the subject's highest dose with at most 4 doses (2 patches) a day
        able = np.array([_capacity(m) >= (top if top > 0 else 0) - 8 for m in _MAIN])
        weights = np.where(able, p, 0.0) if able.any() else p
        main = _MAIN[rng.choice(len(_MAIN), p=weights / weights.sum())]
        by_quantity = rng.random() < 0.4 and main[2] == "mg"
        dosed = own[pd.to_numeric(own[value], errors="coerce") > 0]
        for visit, target in zip(dosed["visit"].astype(str), dosed[value].astype(float), strict=True):
            rows += _window_records(str(subject), target, ends[visit], main, by_quantity, rng)
        if len(dosed) and rng.random() < buprenorphine:
            a, b, _ = ends[str(dosed["visit"].iloc[0])]
            rows.append(_record(subject, a, "buprenorphine sublingual", 2.0, "mg", 2.0, None, b - a + 1))
    out = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    order = {s: i for i, s in enumerate(pd.unique(doses["subject"]))}
    out = out.assign(_o=out["subject"].map(order)).sort_values(["_o", "day"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)


def _capacity(main) -> float:
    drug, strengths, unit, _ = main
    return _mme(drug, max(strengths)) * (2 if unit == "mcg/h" else 4)


def _record(subject, day, drug, strength, unit, per_day, quantity, supply) -> dict:
    return {
        "subject": subject,
        "day": int(day),
        "drug": drug,
        "strength": float(strength),
        "unit": unit,
        "doses_per_day": per_day,
        "quantity": quantity,
        "days_supplied": int(supply),
    }


def _window_records(subject, target, span, main, by_quantity, rng) -> list[dict]:
    """The records of one subject in one window: scheduled, breakthrough and as-needed doses."""
    a, b, until = span
    days = b - a + 1
    need = target * days  # MME-days over the window
    reserve = _RESERVE * _STEP
    out = []
    drug, strengths, unit, _ = main
    slots = 2 if unit == "mcg/h" else 4  # doses a day (patches worn at once) of the scheduled opioid
    supply = until - a + 1  # a scheduled prescription lasts until the next window opens
    for s in sorted(strengths, reverse=True):  # the largest strengths first, a smaller one to top up
        per_dose = _mme(drug, s) * days
        k = min(max(math.floor((need - reserve) / per_dose), 0), slots)
        if not k:
            continue
        slots -= k
        need -= k * per_dose
        if by_quantity:
            out.append(_record(subject, a, drug, s, unit, None, float(k * supply), supply))
        else:
            out.append(_record(subject, a, drug, s, unit, float(k), None, supply))
    bt_drug, bt_strength, bt_unit = _BREAKTHROUGH
    per_dose = _mme(bt_drug, bt_strength) * days
    k = min(max(math.floor((need - reserve) / per_dose), 0), 4)
    if k:
        out.append(_record(subject, a, bt_drug, bt_strength, bt_unit, float(k), None, days))
        need -= k * per_dose
    need = int(round(need / _STEP))
    counts = _nine_ten(need)
    for (name, strength, u, _steps), n in zip(_AS_NEEDED, counts, strict=True):
        if n:
            out.append(_record(subject, a, name, strength, u, None, float(n), days))
    if rng.random() < 0.5:  # shuffle the order the pharmacy listed them in
        out.reverse()
    return out
