"""Simulated daily diaries and wearable data with known truth, around a cohort's visit-level pain trajectories.

:func:`simulate_diary` takes a table of subject-visits (``subject, arm, week, pain``: e.g.
:attr:`painstudy.Cohort.visits` of the demo study, or the data of :func:`painstudy.simulate`) and simulates,
for every subject and study day of the diary period (day 0: the baseline visit; the visit of week ``w`` on
day ``7 w``):

- **pain** (diary NRS 0-10, whole numbers): the subject's visit-level pain interpolated linearly in time
  between its assessed visits (constant before the first), plus the arm's diary shift ``pain_shift``, plus
  AR(1) day-to-day noise (correlation ``phi`` between adjacent days, marginal SD ``pain_sd``), rounded and
  clipped to 0-10;
- **sleep_quality** (NRS 0 worst - 10 best, whole numbers): ``7.5 - 0.5 (pain - 5)`` plus a subject
  level and noise, rounded and clipped;
- **steps** per day from a wearable: a subject level (mean ``steps_mean``, SD ``steps_sd_subject``), minus
  ``steps_per_pain_point`` per point of the day's latent pain above 5, plus the arm's ``steps_effect``
  (reached linearly over the first ``ramp_days`` days after day 0; none before), plus AR(1) noise; rounded and
  at least 0;
- **rescue** medication taken (0/1): a logistic function of the day's latent pain
  (``logit p = rescue_logit + 0.8 (pain - 6)``).

Missing days: the diary is filled on a day with a probability falling linearly over the period from
``compliance[0]`` to ``compliance[1]`` (on the logit scale, shifted by a subject's propensity, SD 1), the
wearable likewise with ``wear_compliance``; a subject has no days after its last assessed visit (dropout), so
compliance falls more in the arms that lose more subjects. A day with neither is not in the data (a diary
app writes no row); a day with one of them has the other empty.

The truth (``SimulatedDiary.truth``): per arm, the direct steps effect and the diary pain shift (versus the
control arm, whose values are 0 by construction unless given), ``phi``, the SDs and compliance; and
``SimulatedDiary.expected``: the expected diary pain and steps per arm and visit window given the visit-level
trajectories (before rounding and clipping), the truth a window mean estimates: the arms' difference in
expected steps is the total effect (direct, and through lower pain).

Examples
--------
>>> import pandas as pd
>>> visits = pd.DataFrame({"subject": ["a", "a", "b", "b"], "arm": ["uc", "uc", "int", "int"],
...                        "week": [0, 4, 0, 4], "pain": [6.0, 5.0, 6.0, 3.0]})
>>> sim = simulate_diary(visits, seed=3, days=(-7, 28), steps_effect={"int": 1000.0})
>>> list(sim.data.columns)
['subject', 'day', 'pain_diary', 'sleep_quality', 'steps', 'rescue']
>>> float(sim.truth.set_index(["quantity", "arm"]).loc[("steps_effect", "int"), "value"])
1000.0
>>> sim.daily_block("diary.csv")["steps"]["instrument"]
'steps'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedDiary", "simulate_diary", "DIARY_COLUMNS"]

#: The columns of :attr:`SimulatedDiary.data`.
DIARY_COLUMNS = ["subject", "day", "pain_diary", "sleep_quality", "steps", "rescue"]


@dataclass(frozen=True)
class SimulatedDiary:
    """Simulated day-level data and the truth they were drawn from (see :func:`simulate_diary`).

    Attributes
    ----------
    data : DataFrame
        One row per subject and day with at least one value (:data:`DIARY_COLUMNS`; empty cells: not reported).
    truth : DataFrame
        ``quantity, arm, value, meaning``: ``steps_effect`` and ``pain_shift`` per arm, ``phi``, ``pain_sd``,
        ``steps_sd``, compliance.
    expected : DataFrame
        ``arm, week, expected_pain, expected_steps``: per visit week, the mean over the arm's subjects still in
        the study in the window of their expected diary pain and steps in the 7 days before the visit (given the
        visit-level trajectories; before noise, rounding and clipping). The difference between arms in
        ``expected_steps`` is the total effect on steps: the direct ``steps_effect`` and the steps of a lower
        pain (``steps_per_pain_point`` per point).
    days : tuple of int
        The diary period (first and last study day).
    """

    data: pd.DataFrame
    truth: pd.DataFrame
    expected: pd.DataFrame
    days: tuple[int, int]

    def daily_block(self, file: str = "diary.csv", *, subject: str = "subject", high: float = 7) -> dict:
        """The ``daily:`` entry of a study.yml declaring the four measures of ``data`` written to ``file``."""
        base = {"file": file, "subject": subject, "day": "day", "days": list(self.days)}
        return {
            "pain_diary": {"instrument": "nrs", "label": "Daily pain (diary NRS)", **base, "high": high},
            "sleep_quality": {"instrument": "sleep_quality", **base},
            "steps": {"instrument": "steps", **base},
            "rescue": {"instrument": "rescue_taken", **base, "value": "rescue"},
        }


def _per_arm(value: float | Mapping[str, float], arms: list, control) -> dict:
    if isinstance(value, Mapping):
        unknown = [a for a in value if a not in arms]
        if unknown:
            raise ValueError(f"unknown arm(s) {unknown}; arms: {arms}")
        return {a: float(value.get(a, 0.0)) for a in arms}
    return {a: 0.0 if a == control else float(value) for a in arms}


def _ar1(rng: np.random.Generator, n: int, t: int, phi: float, sd: float) -> np.ndarray:
    """``n`` stationary AR(1) series of length ``t`` (correlation ``phi`` at lag 1, marginal SD ``sd``)."""
    e = rng.normal(0.0, sd, (n, t))
    out = np.empty((n, t))
    out[:, 0] = e[:, 0]
    innov = np.sqrt(1 - phi**2)
    for j in range(1, t):
        out[:, j] = phi * out[:, j - 1] + innov * e[:, j]
    return out


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def simulate_diary(
    visits: pd.DataFrame,
    *,
    seed: int,
    days: tuple[int, int] = (-7, 84),
    subject: str = "subject",
    arm: str = "arm",
    week: str = "week",
    pain: str = "pain",
    control: str | None = None,
    pain_shift: float | Mapping[str, float] = 0.0,
    steps_effect: float | Mapping[str, float] = 1500.0,
    phi: float = 0.6,
    pain_sd: float = 1.0,
    steps_mean: float = 5000.0,
    steps_sd_subject: float = 1500.0,
    steps_sd: float = 1200.0,
    steps_per_pain_point: float = 150.0,
    ramp_days: int = 28,
    rescue_logit: float = -1.5,
    compliance: tuple[float, float] = (0.95, 0.65),
    wear_compliance: tuple[float, float] = (0.9, 0.8),
) -> SimulatedDiary:
    """Simulate daily pain, sleep quality, steps and rescue medication around visit-level pain trajectories.

    Parameters
    ----------
    visits : DataFrame
        One row per subject and visit: ``subject``, ``arm``, ``week`` (nominal visit week) and ``pain`` (the
        visit-level pain, missing where not assessed). Column names are given by the arguments of the same name.
    seed : int
        Seed of every random draw.
    days : (int, int)
        First and last study day of the diary period.
    control : str, optional
        The arm whose ``steps_effect`` and ``pain_shift`` are 0 when given as one number (default: the first
        arm in the order of a Categorical ``arm`` column, else the first in the data).
    pain_shift, steps_effect : float or mapping
        Per arm (mapping: arms not listed get 0) or the same for every arm but the control: the shift of diary
        pain from the visit-level trajectory, and the extra steps per day once ramped in.
    phi, pain_sd : float
        AR(1) correlation of adjacent days and marginal SD of the diary-pain noise (also used for the steps
        noise, with SD ``steps_sd``).
    compliance, wear_compliance : (float, float)
        Probability of a diary (wearable) day being reported at the start and at the end of the period.

    Returns
    -------
    SimulatedDiary
    """
    if not -1 < phi < 1:
        raise ValueError(f"phi must lie in (-1, 1), not {phi}")
    lo, hi = int(days[0]), int(days[1])
    if hi <= lo:
        raise ValueError(f"days must be (first, last) with first < last, not {days}")
    v = visits[[subject, arm, week, pain]].rename(columns={subject: "s", arm: "a", week: "w", pain: "p"})
    arms = list(v["a"].cat.categories) if isinstance(v["a"].dtype, pd.CategoricalDtype) else list(pd.unique(v["a"]))
    control = arms[0] if control is None else control
    shift, effect = _per_arm(pain_shift, arms, control), _per_arm(steps_effect, arms, control)
    subjects = list(pd.unique(v["s"]))
    arm_of = v.groupby("s", sort=False)["a"].first().reindex(subjects).astype(str).to_numpy()
    day = np.arange(lo, hi + 1)
    n, t = len(subjects), len(day)
    latent = np.full((n, t), np.nan)
    obs = v.dropna(subset=["p"]).sort_values(["s", "w"])
    pos = {s: i for i, s in enumerate(subjects)}
    last_day = np.full(n, -np.inf)
    for s, g in obs.groupby("s", sort=False):
        i = pos[s]
        x, y = 7 * g["w"].to_numpy(float), g["p"].to_numpy(float)
        last_day[i] = x[-1]
        latent[i] = np.interp(day, x, y)  # constant before the first visit
    rng = np.random.default_rng(seed)
    arm_shift = np.array([shift[a] for a in arm_of])
    pain_latent = latent + arm_shift[:, None] + _ar1(rng, n, t, phi, pain_sd)
    pain_obs = np.clip(np.round(pain_latent), 0, 10)
    sleep_level = rng.normal(0, 0.8, n)
    sleep = np.clip(np.round(7.5 - 0.5 * (pain_latent - 5) + sleep_level[:, None] + rng.normal(0, 1, (n, t))), 0, 10)
    ramp = np.clip(day / ramp_days, 0, 1) if ramp_days > 0 else (day >= 0).astype(float)
    level = rng.normal(steps_mean, steps_sd_subject, n)
    steps_eff = np.array([effect[a] for a in arm_of])
    steps = (
        level[:, None]
        + steps_eff[:, None] * ramp[None, :]
        - steps_per_pain_point * (pain_latent - 5)
        + _ar1(rng, n, t, phi, steps_sd)
    )
    steps = np.maximum(np.round(steps), 0)
    rescue = (rng.random((n, t)) < _expit(rescue_logit + 0.8 * (pain_latent - 6))).astype(float)
    frac = (day - lo) / (hi - lo)
    propensity = rng.normal(0, 1, n)[:, None]

    def reported(start_end):
        p = _expit(_logit(start_end[0]) + frac * (_logit(start_end[1]) - _logit(start_end[0])) + propensity)
        return rng.random((n, t)) < p

    in_study = (day[None, :] <= last_day[:, None]) & np.isfinite(latent)
    diary_ok, wear_ok = reported(compliance) & in_study, reported(wear_compliance) & in_study
    keep = diary_ok | wear_ok
    ii, jj = np.nonzero(keep)
    data = pd.DataFrame(
        {
            "subject": np.asarray(subjects, dtype=object)[ii],
            "day": day[jj],
            "pain_diary": np.where(diary_ok, pain_obs, np.nan)[ii, jj],
            "sleep_quality": np.where(diary_ok, sleep, np.nan)[ii, jj],
            "steps": np.where(wear_ok, steps, np.nan)[ii, jj],
            "rescue": np.where(diary_ok, rescue, np.nan)[ii, jj],
        }
    )
    rows = [("steps_effect", a, effect[a], "extra steps/day once ramped in, versus " + control) for a in arms]
    rows += [("pain_shift", a, shift[a], "diary pain minus visit-level pain (NRS points)") for a in arms]
    rows += [
        ("phi", "", phi, "AR(1) correlation of adjacent days (diary pain and steps noise)"),
        ("pain_sd", "", pain_sd, "marginal SD of the daily pain noise"),
        ("steps_sd", "", steps_sd, "marginal SD of the daily steps noise"),
        ("ramp_days", "", float(ramp_days), "days over which the steps effect is reached"),
        ("compliance_start", "", compliance[0], "probability of a diary day at the start"),
        ("compliance_end", "", compliance[1], "probability of a diary day at the end"),
    ]
    truth = pd.DataFrame(rows, columns=["quantity", "arm", "value", "meaning"])
    vis = v.drop_duplicates("w")["w"].sort_values().to_numpy(float)
    exp_rows = []
    for w in vis:
        win = (day >= 7 * w - 7) & (day <= 7 * w - 1)
        if not win.any():
            continue
        there = in_study[:, win].any(axis=1)
        pain_i = np.where(there, latent[:, win].mean(axis=1) + arm_shift, np.nan)
        steps_i = steps_mean + steps_eff * ramp[win].mean() - steps_per_pain_point * (pain_i - 5)
        for a in arms:
            mine = (arm_of == a) & there
            exp_rows.append(
                {
                    "arm": a,
                    "week": w,
                    "expected_pain": float(pain_i[mine].mean()) if mine.any() else np.nan,
                    "expected_steps": float(steps_i[mine].mean()) if mine.any() else np.nan,
                }
            )
    expected = pd.DataFrame(exp_rows, columns=["arm", "week", "expected_pain", "expected_steps"])
    return SimulatedDiary(data, truth, expected, (lo, hi))
