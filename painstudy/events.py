"""Intercurrent events (ICH E9(R1)) of a study's subjects: who had which event, from which visit on.

An intercurrent event (treatment discontinuation, rescue analgesia, opioid escalation, a switch of
treatment, death, other) changes what a subject's later outcomes mean. Studies declare where events come
from in ``intercurrent_events:`` of study.yml:

- ``withdrawal``: every withdrawn subject has an event (``discontinuation`` unless its reason is mapped
  to another type) whose first affected visit is the first scheduled visit after its last assessed one;
  a subject who withdrew after the last visit has no affected visit and no event;
- ``file``: a table with columns ``subject``, ``event`` and ``visit`` (the first visit the event affects:
  a visit name or code), in any format :func:`painstudy.load_cohort` reads.

:func:`subject_events` returns one row per subject and event (``subject, event, visit, source``) and
lists every broken row of the table at once (a :class:`~painstudy.errors.CohortError` naming the file,
line, column and rule). What the events do to an outcome is the estimand's business
(:mod:`painstudy.estimands`).
"""

from __future__ import annotations

import pandas as pd

from .errors import CohortError
from .io import RawTable, read_raw
from .study import EVENT_TYPES, StudySpec
from .study_rules import normalise_code
from .validation import FailureLog

__all__ = ["EVENT_COLUMNS", "subject_events", "no_events"]

#: The columns of :func:`subject_events`.
EVENT_COLUMNS = ["subject", "event", "visit", "source"]


def no_events() -> pd.DataFrame:
    """The empty events table."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in EVENT_COLUMNS})


def subject_events(spec: StudySpec, subjects: pd.DataFrame) -> pd.DataFrame:
    """Every subject's intercurrent events, in subject order and then visit order.

    ``subjects`` is the cohort's subjects table (``subject``, ``withdrawn``, ``withdrawal_reason``,
    ``last_visit``); the events table, if the study has one, is read from the study folder.
    """
    ev = spec.events
    if ev is None:
        return no_events()
    post = [v.name for v in spec.post_baseline_visits]
    rows: list[dict] = []
    if ev.withdrawal:
        order = {v: i for i, v in enumerate(spec.visit_names)}
        for s, withdrawn, reason, last in subjects[
            ["subject", "withdrawn", "withdrawal_reason", "last_visit"]
        ].itertuples(index=False):
            if not withdrawn:
                continue
            after = post if pd.isna(last) else [v for v in post if order[v] > order[str(last)]]
            if not after:  # withdrew after the last scheduled visit: no visit is affected
                continue
            reason = None if pd.isna(reason) else str(reason)
            rows.append(
                {
                    "subject": str(s),
                    "event": ev.reasons.get(reason, ev.withdrawal) if reason else ev.withdrawal,
                    "visit": after[0],
                    "source": f"withdrawal ({reason or 'reason not recorded'})",
                }
            )
    if ev.file:
        rows += _events_table(spec, subjects, spec.study_file(ev.file, "intercurrent_events.file"), rows)
    if not rows:
        return no_events()
    out = pd.DataFrame(rows, columns=EVENT_COLUMNS).astype("string")
    pos = {s: i for i, s in enumerate(subjects["subject"].astype(str))}
    vpos = {v: i for i, v in enumerate(spec.visit_names)}
    key = out["subject"].map(pos) * len(vpos) + out["visit"].map(vpos)
    return out.iloc[key.argsort(kind="stable")].reset_index(drop=True)


def _events_table(spec: StudySpec, subjects: pd.DataFrame, path, earlier: list[dict]) -> list[dict]:
    raw: RawTable = read_raw(path)
    log = FailureLog(raw)
    frame = raw.frame
    missing = [c for c in ("subject", "event", "visit") if c not in frame.columns]
    for c in missing:
        log.add("event_columns", f"the events table needs a column {c!r} (columns: {list(frame.columns)})", c)
    if log:
        raise CohortError(f"{raw.label}: {len(log)} problem(s) in the table of intercurrent events", log.table())
    known = {normalise_code(s): str(s) for s in subjects["subject"]}
    visits = {}
    for v in spec.post_baseline_visits:
        for code in (v.name, *v.codes):
            visits[normalise_code(code)] = v.name
    baseline = spec.baseline_visit.name if spec.baseline_visit else None
    seen = {(r["subject"], r["event"]): r["source"] for r in earlier}
    out = []
    for i in range(len(frame)):
        s_raw, e_raw, v_raw = frame["subject"].iloc[i], frame["event"].iloc[i], frame["visit"].iloc[i]
        s = known.get(normalise_code(s_raw))
        ok = True
        if s is None:
            log.add("event_subject", "the subject is not in the data", "subject", i, s_raw, s_raw)
            ok = False
        event = None if pd.isna(e_raw) else str(e_raw).strip().lower().replace(" ", "_")
        if event not in EVENT_TYPES:
            log.add("unknown_event", f"the event must be one of {', '.join(EVENT_TYPES)}", "event", i, s_raw, e_raw)
            ok = False
        visit = visits.get(normalise_code(v_raw))
        if visit is None:
            what = (
                "the baseline visit" if normalise_code(v_raw) == normalise_code(baseline) else "not a scheduled visit"
            )
            log.add(
                "event_visit",
                f"{what}: the first visit an event affects must be one of the post-baseline visits "
                f"{[v.name for v in spec.post_baseline_visits]}",
                "visit",
                i,
                s_raw,
                v_raw,
            )
            ok = False
        if not ok:
            continue
        if (s, event) in seen:
            log.add(
                "duplicate_event",
                f"subject already has the event {event!r} ({seen[(s, event)]})",
                "event",
                i,
                s_raw,
                e_raw,
            )
            continue
        where = raw.where(i)
        source = f"{raw.label} {next(iter(where))} {next(iter(where.values()))}"
        seen[(s, event)] = source
        out.append({"subject": s, "event": event, "visit": visit, "source": source})
    if log:
        raise CohortError(f"{raw.label}: {len(log)} problem(s) in the table of intercurrent events", log.table())
    return out
