"""``painstudy derive WHAT STUDY``: outcomes derived from another source, as a table per subject and visit.

Each kind of derivation is one entry of :data:`DERIVATIONS`: a function adding its sub-command to the
``derive`` group. ``derive mme`` converts medication records to opioid dose (MME/day per visit window).
"""

from __future__ import annotations

import sys


def _mme(subparsers) -> None:
    sp = subparsers.add_parser(
        "mme",
        help="opioid dose (MME/day per visit window) from medication records (CDC 2022 factors)",
        description="Convert medication records to morphine milligram equivalents per day (CDC 2022 Clinical "
        "Practice Guideline table; methadone 4.7, fentanyl patches mcg/h x 2.4; buprenorphine flagged and "
        "left out unless --include-buprenorphine) and average them over each visit window. Bad records are "
        "listed one per line (exit 1).",
    )
    sp.add_argument("study", nargs="?", default="demo", help="registered study name or path to a study.yml")
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--records", metavar="FILE", help="the medication records (default: `medication:` of study.yml)")
    sp.add_argument("--out", metavar="FILE.csv", help="write subject, visit, mme, records, buprenorphine to FILE")
    sp.add_argument(
        "--include-buprenorphine",
        action="store_true",
        default=None,
        help="count buprenorphine in the MME total (CMS factors; it is flagged either way)",
    )
    sp.add_argument(
        "--outside",
        choices=("error", "exclude"),
        help="prescriptions outside every visit window: an error (default) or listed exclusions",
    )
    sp.set_defaults(func=run_mme)


def _diary(subparsers) -> None:
    sp = subparsers.add_parser(
        "diary",
        help="diary and wearable summaries per visit window (mean of the last 7 days, worst, best, SD, MSSD, ...)",
        description="Summarise the study's daily measures (`daily:` of study.yml) over the days before each visit: "
        "the mean when at least --min-days of the --window-days days were reported, worst and best day, SD, mean "
        "squared successive difference, proportion of days >= `high`, days with rescue medication; and the "
        "compliance per arm and week. Bad rows of the day-level files are listed one per line (exit 1).",
    )
    sp.add_argument("study", nargs="?", default="demo", help="registered study name or path to a study.yml")
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument(
        "--measure",
        action="append",
        metavar="NAME",
        help="a daily measure of study.yml (repeat for several; default: every one)",
    )
    sp.add_argument("--daily", metavar="FILE", help="the day-level file of every measure chosen (default: study.yml's)")
    sp.add_argument(
        "--min-days", type=int, help="fewest reported days for a window's summaries (default: study.yml's, 4)"
    )
    sp.add_argument("--window-days", type=int, help="days before the visit summarised (default: study.yml's, 7)")
    sp.add_argument(
        "--anchor", choices=("nominal", "actual"), default="nominal", help="the visit day: scheduled or actual week"
    )
    sp.add_argument("--out", metavar="FILE.csv", help="write the windows table (measure, subject, visit, n_days, ...)")
    sp.add_argument("--compliance", metavar="FILE.csv", help="write the compliance table (days per subject-week)")
    sp.set_defaults(func=run_diary)


#: sub-commands of ``painstudy derive``: name -> function registering it
DERIVATIONS = {"mme": _mme, "diary": _diary}


def print_problems(error) -> None:
    """Every problem of an error on its own line (with its rule code), on stderr."""
    lines = error.problem_lines()
    print(f"{len(lines)} problem(s) found:", file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)


def register(subparsers) -> None:
    sp = subparsers.add_parser(
        "derive",
        help="derive outcomes from another source (medication records: mme; daily diaries and wearables: diary)",
        description="Derive outcomes per subject and visit window from another source: " + ", ".join(DERIVATIONS) + ".",
    )
    sub = sp.add_subparsers(dest="derivation", metavar="WHAT")
    sub.required = True
    for add in DERIVATIONS.values():
        add(sub)


def run_mme(args) -> int:
    from ..cohort import load_cohort
    from ..errors import PainstudyError
    from ..io import output_file, write_table
    from ..medication import derive_mme

    try:
        cohort = load_cohort(args.study, data=args.data)
        dose = derive_mme(cohort, args.records, include_buprenorphine=args.include_buprenorphine, outside=args.outside)
        path = output_file(args.out, what="MME table") if args.out else None
    except PainstudyError as e:
        print_problems(e)
        return 1
    if path is not None:
        write_table(dose.table, path)
    print(dose.summary())
    if path is not None:
        print(f"\nwrote {path}")
    return 0


def run_diary(args) -> int:
    from ..cohort import load_cohort
    from ..diary import derive_diary, load_daily
    from ..errors import PainstudyError
    from ..io import output_file, write_table

    try:
        cohort = load_cohort(args.study, data=args.data)
        daily = load_daily(cohort, args.measure, data=args.daily)
        out = derive_diary(cohort, daily, min_days=args.min_days, window_days=args.window_days, anchor=args.anchor)
        paths = {
            key: output_file(getattr(args, key), what=f"{key} table")
            for key in ("out", "compliance")
            if getattr(args, key)
        }
    except PainstudyError as e:
        print_problems(e)
        return 1
    print(out.summary())
    for key, path in paths.items():
        write_table(out.windows if key == "out" else out.compliance, path)
        print(f"\nwrote {path}", file=sys.stdout)
    return 0
