"""Synthetic integrative pain-management trials with known truth.

:func:`simulate` draws a multi-site randomised trial with a usual-care arm, single-modality
arms and an integrative arm, patients with several chronic-pain conditions whose response to
each arm differs, visits at weeks 0, 4, 8, 12, 26 and 52, a pain NRS, a PROMIS physical function
T-score and daily opioid dose (MME) per visit, and dropout that depends on the last observed
pain (missing at random). Everything comes from one explicit seed.

The true effects (``SimulatedTrial.truth``) are the population-average differences of each
arm from usual care at each visit, averaged over the conditions (drawn with equal
probability), which is what a baseline-adjusted MMRM estimates under MAR.

Examples
--------
>>> from painstudy.simulate import simulate
>>> trial = simulate(n_subjects=40, seed=1)
>>> trial.data.shape[0] == 40 * 6
True
>>> trial.truth.query("outcome == 'pain' and visit == 'week52' and arm == 'integrative'")["effect"].round(2).tolist()
[-1.8]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import PainstudyError

VISITS = (
    ("baseline", 0, (-2, 0)),
    ("week4", 4, (3, 5)),
    ("week8", 8, (7, 9)),
    ("week12", 12, (11, 13)),
    ("week26", 26, (24, 28)),
    ("week52", 52, (48, 56)),
)

CONDITIONS = ("chronic_low_back_pain", "fibromyalgia", "knee_osteoarthritis")

#: Arms of the default trial: label, modalities, control flag.
DEFAULT_ARMS: Mapping[str, tuple[str, tuple[str, ...], bool]] = {
    "usual_care": ("Usual care", ("usual_care",), True),
    "physiotherapy": ("Physiotherapy and exercise", ("physiotherapy", "exercise"), False),
    "mindfulness": ("Mindfulness-based stress reduction", ("mbsr",), False),
    "integrative": (
        "Integrative programme",
        ("physiotherapy", "mbsr", "acupuncture", "anti_inflammatory_diet", "sleep_hygiene"),
        False,
    ),
}

#: Long-run effect on pain NRS (points, negative = less pain) and on PROMIS physical function
#: (T-score points, positive = better) of each arm against usual care, reached with time constant tau.
DEFAULT_EFFECTS = {
    "pain": {"usual_care": 0.0, "physiotherapy": -1.0, "mindfulness": -0.8, "integrative": -1.8},
    "function": {"usual_care": 0.0, "physiotherapy": 3.0, "mindfulness": 2.0, "integrative": 5.0},
}
#: Probability that a subject on opioids at baseline stops them by the last visit (at a visit drawn uniformly
#: among the post-baseline ones), per arm: integrative care is meant to reduce reliance on opioids.
DEFAULT_OPIOID_STOP = {"usual_care": 0.05, "physiotherapy": 0.10, "mindfulness": 0.10, "integrative": 0.30}
#: Probability that a subject without opioids at baseline starts them (same timing), in every arm.
OPIOID_START = 0.06
#: Direct effect of each arm on daily steps (wearable) against usual care, reached over the first 4 weeks.
STEPS_EFFECT = {"physiotherapy": 1500.0, "mindfulness": 500.0, "integrative": 2000.0}
#: The diary period of a simulation with records: daily from the week before baseline to the last visit.
DIARY_DAYS = (-7, 364)
#: How strongly each condition responds to each arm (mean 1 over conditions, so the truth averages out).
DEFAULT_MODIFIERS = {
    "usual_care": (1.0, 1.0, 1.0),
    "physiotherapy": (1.2, 0.6, 1.2),
    "mindfulness": (0.8, 1.4, 0.8),
    "integrative": (1.0, 1.0, 1.0),
}


@dataclass(frozen=True)
class SimulatedTrial:
    """A simulated trial: raw long data, the true effects and the generating parameters."""

    data: pd.DataFrame
    truth: pd.DataFrame
    params: Mapping = field(default_factory=dict)
    study: Mapping = field(default_factory=dict)
    #: the effects per condition (``outcome, arm, reference, condition, visit, week, effect``)
    truth_conditions: pd.DataFrame | None = None
    #: with ``records=True``: daily diary and wearable data, prescription records, and their truth
    diary: pd.DataFrame | None = None
    medication: pd.DataFrame | None = None
    truth_diary: pd.DataFrame | None = None
    truth_medication: pd.DataFrame | None = None

    def write(self, folder: str | Path, *, name: str = "simulated", data_file: str = "data.csv") -> Path:
        """Write ``data_file``, ``truth.csv``, a ``study.yml`` that ``validate`` accepts and a manifest.

        ``folder`` is replaced only when it is new, empty or an earlier simulation (or other output)
        written by painstudy (:class:`painstudy.outputs.OutputFolder`); anything else is refused with
        :class:`painstudy.outputs.OutputError` and left as it was. Returns the path of the study.yml.
        """
        from .outputs import OutputError, OutputFolder
        from .study_rules import study_name_problem

        if study_name_problem(name):
            raise PainstudyError(f"--name: {study_name_problem(name)}")
        if Path(data_file).name != data_file or data_file in ("truth.csv", "study.yml", "manifest.json"):
            raise OutputError(
                f"data_file must be a plain file name other than truth.csv, study.yml and "
                f"manifest.json, got {data_file!r}"
            )
        with OutputFolder(folder, kind="simulation") as out:
            self.data.to_csv(out.path / data_file, index=False, float_format="%.4g")
            self.truth.to_csv(out.path / "truth.csv", index=False, float_format="%.6g")
            for file, frame in self.extra_files().items():
                frame.to_csv(out.path / file, index=False, float_format="%.6g")
            study = dict(self.study)
            study["name"] = name
            study["data"] = {"file": data_file, "layout": "long"}
            with open(out.path / "study.yml", "w", encoding="utf-8") as f:
                f.write(
                    f"# Simulated by painstudy.simulate (seed {self.params['seed']}, "
                    f"{self.params['n_subjects']} subjects{', with records' if self.diary is not None else ''}); "
                    "true effects in truth.csv (per condition in truth_conditions.csv)\n"
                )
                yaml.safe_dump(study, f, sort_keys=False, allow_unicode=True)
            target = out.publish({"name": name, "parameters": dict(self.params)})
        return target / "study.yml"

    def extra_files(self) -> dict[str, pd.DataFrame]:
        """The files written beside the data and ``truth.csv``: the truth per condition, and with records the
        diary, the prescription records and their truth."""
        files = {"truth_conditions.csv": self.truth_conditions}
        files.update(
            {
                "diary.csv": self.diary,
                "medication.csv": self.medication,
                "truth_diary.csv": self.truth_diary,
                "truth_medication.csv": self.truth_medication,
            }
        )
        return {k: v for k, v in files.items() if v is not None}


def _ramp(week: np.ndarray, tau: float) -> np.ndarray:
    return 1.0 - np.exp(-np.asarray(week, float) / tau)


def true_effects(effects=DEFAULT_EFFECTS, tau: float = 6.0) -> pd.DataFrame:
    """True differences from usual care per outcome, arm and visit."""
    rows = []
    for outcome, per_arm in effects.items():
        for arm, e in per_arm.items():
            if arm == "usual_care":
                continue
            for vname, week, _ in VISITS[1:]:
                rows.append(
                    {
                        "outcome": outcome,
                        "arm": arm,
                        "reference": "usual_care",
                        "visit": vname,
                        "week": week,
                        "effect": float(e * _ramp(week, tau)),
                    }
                )
    return pd.DataFrame(rows)


#: Peak memory of :func:`simulate` per subject (bytes, measured: 1.38 GB at 200,000 subjects), with a margin.
BYTES_PER_SUBJECT = 8_000


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(n_subjects: int) -> None:
    """Refuse, before allocating anything, a trial that would not fit in the memory available."""
    need, have = n_subjects * BYTES_PER_SUBJECT, available_memory()
    if have is not None and need > have:
        raise PainstudyError(
            f"{n_subjects:,} subjects need about {need / 2**30:.1f} GiB of memory and "
            f"{have / 2**30:.1f} GiB is available: simulate at most {have // BYTES_PER_SUBJECT:,} subjects"
        )


def simulate(
    n_subjects: int = 400,
    *,
    seed: int = 20261126,
    n_sites: int = 8,
    dropout: float = 1.0,
    effects=DEFAULT_EFFECTS,
    tau: float = 6.0,
    records: bool = False,
) -> SimulatedTrial:
    """Simulate an integrative pain-management trial.

    Parameters
    ----------
    n_subjects : int
        Subjects randomised, allocated 1:1:1:1 to the four default arms in permuted blocks.
    seed : int
        Seed of the random generator (``numpy.random.default_rng``); same seed, same data.
    n_sites : int
        Number of sites (random site effects on pain and function).
    dropout : float
        Multiplier of the dropout hazard (0 gives complete data).
    effects : mapping
        Long-run effects per outcome and arm against usual care (see ``DEFAULT_EFFECTS``).
    tau : float
        Time constant (weeks) with which effects build up.
    records : bool
        Also simulate what a trial of integrative care collects between visits: a daily diary (pain, sleep
        quality, rescue medication) and wearable steps over :data:`DIARY_DAYS` around each subject's
        visit-level pain (:func:`painstudy.simulate_diary.simulate_diary`), and opioid prescription records
        whose dose per visit window is the ``mme`` column (:func:`painstudy.simulate_medication.
        simulate_medication_records`), with the study.yml ``daily:`` and ``medication:`` entries. They use
        random streams of their own: the visit data are those of ``records=False``.

    Opioids: 40% of subjects take them at baseline; a user's dose tapers (more in the integrative arm) and
    a user may stop (:data:`DEFAULT_OPIOID_STOP`), a non-user start (:data:`OPIOID_START`), from a visit on.

    Returns
    -------
    SimulatedTrial
        ``data``: one row per subject x scheduled visit (long; outcomes missing after dropout),
        ``truth``: the true effects, ``params``: the arguments, ``study``: a study definition.
    """
    if n_subjects < 4:
        raise PainstudyError(f"n_subjects must be at least 4 (one per arm), got {n_subjects}")
    if n_sites < 1:
        raise PainstudyError(f"n_sites must be at least 1, got {n_sites}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PainstudyError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(dropout, (int, float, np.number)) and np.isfinite(dropout) and dropout >= 0):
        raise PainstudyError(
            f"dropout must be a finite number >= 0 (a multiplier of the dropout hazard), got {dropout!r}"
        )
    _check_memory(n_subjects)
    rng = np.random.default_rng(seed)
    arms = list(DEFAULT_ARMS)
    n, T = n_subjects, len(VISITS)
    # permuted blocks of 4 within the whole trial
    blocks = -(-n // 4)
    arm_idx = np.concatenate([rng.permutation(4) for _ in range(blocks)])[:n]
    site = rng.integers(0, n_sites, n)
    cond = rng.integers(0, len(CONDITIONS), n)
    female_p = np.array([0.55, 0.85, 0.6])[cond]
    sex = np.where(rng.random(n) < female_p, "female", "male")
    age = np.clip(np.round(rng.normal(np.array([48, 45, 63])[cond], np.array([11, 10, 8])[cond])), 18, 90)

    weeks = np.array([v[1] for v in VISITS], float)
    lo = np.array([v[2][0] for v in VISITS], float)
    hi = np.array([v[2][1] for v in VISITS], float)
    actual = np.clip(np.round(weeks + rng.normal(0, [0.3, 0.5, 0.5, 0.6, 1.2, 2.0], (n, T)), 1), lo, hi)

    # pain: condition mean + site + subject intercept + usual-care trend + arm effect + AR(1) noise
    site_pain = rng.normal(0, 0.3, n_sites)
    site_fun = rng.normal(0, 1.0, n_sites)
    b_pain = rng.normal(0, 1.0, n)
    b_fun = -1.5 * b_pain + rng.normal(0, 3.0, n)
    cond_pain = np.array([6.0, 6.6, 5.6])[cond]
    cond_fun = np.array([40.0, 37.0, 38.0])[cond]
    rho, sd = 0.5, 0.9
    eps = np.empty((n, T))
    eps[:, 0] = rng.normal(0, sd, n)
    for t in range(1, T):
        eps[:, t] = rho * eps[:, t - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    eta = -0.5 * eps * 4.0 + rng.normal(0, 2.5, (n, T))  # function noise, negatively tied to pain noise
    uc_pain = -0.5 * _ramp(weeks, 8.0)
    uc_fun = 1.0 * _ramp(weeks, 8.0)
    mod = np.array([DEFAULT_MODIFIERS[a] for a in arms])[arm_idx, cond]
    e_pain = np.array([effects["pain"][a] for a in arms])[arm_idx] * mod
    e_fun = np.array([effects["function"][a] for a in arms])[arm_idx] * mod
    ramp = _ramp(weeks, tau)
    pain = (cond_pain + site_pain[site] + b_pain)[:, None] + uc_pain + e_pain[:, None] * ramp + eps
    fun = (cond_fun + site_fun[site] + b_fun)[:, None] + uc_fun + e_fun[:, None] * ramp + eta
    pain = np.clip(np.round(pain, 1), 0, 10)
    fun = np.clip(np.round(fun, 1), 10, 90)

    # opioid dose (MME/day): 40 % on opioids at baseline, tapered more in the integrative arm
    on_opioid = rng.random(n) < 0.4
    dose0 = np.where(on_opioid, np.round(np.exp(rng.normal(np.log(30), 0.6, n)), 0), 0.0)
    taper = np.array([0.10, 0.15, 0.12, 0.35])[arm_idx]
    mme = np.round(dose0[:, None] * (1 - taper[:, None] * _ramp(weeks, 10.0)) * np.exp(rng.normal(0, 0.1, (n, T))), 1)
    # stopping and starting opioids, from a random stream of their own (the other data are unchanged by it)
    orng = np.random.default_rng([seed, 1])
    stop_p = np.array([DEFAULT_OPIOID_STOP[a] for a in arms])[arm_idx]
    stops = on_opioid & (orng.random(n) < stop_p)
    starts = ~on_opioid & (orng.random(n) < OPIOID_START)
    when = orng.integers(1, T, n)  # the first visit without (or with) opioids
    start_dose = np.round(np.exp(orng.normal(np.log(15), 0.4, n)), 0)
    later = np.arange(T)[None, :] >= when[:, None]
    mme = np.where(stops[:, None] & later, 0.0, mme)
    mme = np.where(starts[:, None] & later, np.round(start_dose[:, None] * np.exp(orng.normal(0, 0.1, (n, T))), 1), mme)

    # monotone dropout depending on the last observed pain (MAR), plus 3 % intermittent misses
    observed = np.ones((n, T), bool)
    reason = np.full(n, "", dtype=object)
    other = np.array(["lost to follow-up", "withdrew consent", "adverse event", "moved away"], dtype=object)
    alive = np.ones(n, bool)
    for t in range(1, T):
        logit = -3.3 + 0.45 * (pain[:, t - 1] - 5.0) + (0.4 if t >= 4 else 0.0)
        p = dropout / (1.0 + np.exp(-logit))
        drop = alive & (rng.random(n) < p)
        reason[drop] = np.where(pain[drop, t - 1] > 6.0, "lack of efficacy", rng.choice(other, drop.sum()))
        alive &= ~drop
        observed[:, t] = alive
    miss = (rng.random((n, T)) < 0.03) & observed
    miss[:, 0] = False
    miss[:, -1] = False  # the final visit defines completion
    measured = observed & ~miss

    subj = np.array([f"S{i + 1:04d}" for i in range(n)])
    data = pd.DataFrame(
        {
            "subject_id": np.repeat(subj, T),
            "site": np.repeat(np.array([f"site{s + 1:02d}" for s in site]), T),
            "condition": np.repeat(np.array(CONDITIONS)[cond], T),
            "arm": np.repeat(np.array(arms)[arm_idx], T),
            "age": np.repeat(age, T),
            "sex": np.repeat(sex, T),
            "visit": np.tile([v[0] for v in VISITS], n),
            "week_actual": actual.ravel(),
            "pain": np.where(measured, pain, np.nan).ravel(),
            "function": np.where(measured, fun, np.nan).ravel(),
            "mme": np.where(measured, mme, np.nan).ravel(),
            "withdrawal_reason": np.repeat(np.where(reason == "", None, reason), T),
        }
    )
    data.loc[~measured.ravel(), "week_actual"] = np.nan
    study = {
        "name": "simulated",
        "title": "Simulated integrative pain-management trial",
        "description": (
            f"Synthetic trial from painstudy.simulate(n_subjects={n}, seed={seed}): usual care, "
            "two single-modality arms and an integrative arm; three chronic-pain conditions; "
            "dropout depending on observed pain (MAR)."
        ),
        "subject": "subject_id",
        "arm": {"column": "arm"},
        "arms": [
            {
                "name": a,
                "label": DEFAULT_ARMS[a][0],
                "modalities": list(DEFAULT_ARMS[a][1]),
                "control": DEFAULT_ARMS[a][2],
            }
            for a in arms
        ],
        "visit": {"column": "visit", "week": "week_actual"},
        "visits": [{"name": v, "week": w, "window": list(win), "baseline": v == "baseline"} for v, w, win in VISITS],
        "site": {"column": "site", "type": "categorical"},
        "condition": {"column": "condition", "type": "categorical"},
        "covariates": {
            "age": {"column": "age", "type": "numeric"},
            "sex": {"column": "sex", "type": "categorical", "values": {"female": "female", "male": "male"}},
        },
        "outcomes": {
            "pain": {"instrument": "nrs", "column": "pain", "label": "Pain intensity (NRS 0-10)"},
            "function": {
                "instrument": "promis_pf",
                "column": "function",
                "label": "Physical function (PROMIS T-score)",
            },
            "mme": {"instrument": "mme", "column": "mme", "label": "Opioid dose (MME/day)"},
        },
        "disposition": {"withdrawal_reason": "withdrawal_reason"},
        # every withdrawal is a treatment discontinuation; the estimands are hypothetical (what would have
        # been seen had the subject stayed on the arm), the reference-based imputations their sensitivity
        "intercurrent_events": {"withdrawal": {"event": "discontinuation"}},
        "estimands": {
            o: {"strategies": {"discontinuation": "hypothetical"}, "sensitivity": ["JR", "CR", "CIR"]}
            for o in ("pain", "function", "mme")
        },
    }
    params = {
        "n_subjects": n,
        "seed": seed,
        "n_sites": n_sites,
        "dropout": dropout,
        "tau": tau,
        "effects": {k: dict(v) for k, v in effects.items()},
        "modifiers": DEFAULT_MODIFIERS,
    }
    params["records"] = records
    trial = SimulatedTrial(data, true_effects(effects, tau), params, study, condition_effects(effects, tau))
    return with_records(trial, seed) if records else trial


def condition_effects(effects=DEFAULT_EFFECTS, tau: float = 6.0) -> pd.DataFrame:
    """The true effect of each arm against usual care within each condition, at each visit: the arm's
    effect times its condition modifier (:data:`DEFAULT_MODIFIERS`) times the build-up over time; their mean
    over the conditions is :func:`true_effects`."""
    rows = []
    for outcome, eff in effects.items():
        for a, e in eff.items():
            if a == "usual_care":
                continue
            for k, condition in enumerate(CONDITIONS):
                for v, w, _ in VISITS[1:]:
                    effect = e * DEFAULT_MODIFIERS[a][k] * float(_ramp(np.array([w], float), tau)[0])
                    rows.append((outcome, a, "usual_care", condition, v, w, effect))
    return pd.DataFrame(rows, columns=["outcome", "arm", "reference", "condition", "visit", "week", "effect"])


def opioid_truth() -> pd.DataFrame:
    """The true probability that a baseline opioid user is opioid-free at each post-baseline visit, per arm
    (stopping by the last visit times the share of stop visits up to this one)."""
    rows = []
    post = VISITS[1:]
    for a, p in DEFAULT_OPIOID_STOP.items():
        for i, (v, w, _) in enumerate(post, 1):
            rows.append((a, v, w, p * i / len(post), "P(opioid-free | user at baseline)"))
    return pd.DataFrame(rows, columns=["arm", "visit", "week", "value", "meaning"])


def with_records(trial: SimulatedTrial, seed: int) -> SimulatedTrial:
    """``trial`` with a daily diary, wearable steps and opioid prescription records (see :func:`simulate`)."""
    from dataclasses import replace

    from .simulate_diary import simulate_diary
    from .simulate_medication import simulate_medication_records

    d = trial.data
    week = dict((v, w) for v, w, _ in VISITS)
    visits = pd.DataFrame(
        {"subject": d["subject_id"], "arm": d["arm"], "week": d["visit"].map(week).astype(float), "pain": d["pain"]}
    )
    diary = simulate_diary(visits, seed=seed + 2, days=DIARY_DAYS, control="usual_care", steps_effect=STEPS_EFFECT)
    doses = pd.DataFrame({"subject": d["subject_id"], "visit": d["visit"], "mme": d["mme"]})
    medication = simulate_medication_records(doses, {v: tuple(win) for v, _, win in VISITS}, seed=seed + 1)
    study = dict(trial.study)
    # one list per measure (a shared one would be written as a YAML anchor)
    study["daily"] = {k: {**v, "days": list(v["days"])} for k, v in diary.daily_block("diary.csv").items()}
    study["medication"] = {"file": "medication.csv", "day": "day"}
    truth_diary = pd.concat(
        [
            diary.truth.assign(arm=diary.truth["arm"].fillna("")),
            diary.expected.melt(id_vars=["arm", "week"], var_name="quantity").assign(
                meaning="expected value in the window of the visit"
            ),
        ],
        ignore_index=True,
    )
    return replace(
        trial,
        study=study,
        diary=diary.data,
        medication=medication,
        truth_diary=truth_diary,
        truth_medication=opioid_truth(),
    )
