"""The ``painstudy`` command line: a thin layer over the public API.

Exit codes: 0 success; 1 invalid data or an analysis that could not be done (every problem
printed on its own line, no traceback); 2 usage errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: `painstudy --help` starts without it
    import pandas as pd

import argparse
import importlib
import sys
from pathlib import Path

from ..errors import CohortError, PainstudyError, format_failure

DEMO = "demo"

#: modules adding sub-commands to ``painstudy fit`` (each has ``register(subparsers)``)
_FIT_MODULES = (
    "painstudy.cli.fit_mmrm",
    "painstudy.cli.fit_improvement",
    "painstudy.cli.fit_responders",
    "painstudy.cli.fit_compare",
    "painstudy.cli.fit_subgroups",
    "painstudy.cli.fit_sensitivity",
)
#: modules adding top-level commands (each has ``register(subparsers)``)
_TOP_MODULES = ("painstudy.cli.report", "painstudy.cli.reproduce", "painstudy.cli.derive", "painstudy.cli.power")


def _print_table(df: pd.DataFrame, title: str | None = None) -> None:
    import pandas as pd

    if title:
        print(f"\n{title}\n{'-' * len(title)}")
    with pd.option_context(
        "display.width", 160, "display.max_columns", 30, "display.max_rows", 500, "display.max_colwidth", 60
    ):
        print(df.to_string())


def _cmd_validate(args) -> int:
    """Check every rule; print each problem on its own line with its rule code (exit 1), or a summary."""
    from ..cohort import load_cohort

    try:
        cohort = load_cohort(args.study, data=args.data)
    except PainstudyError as e:
        _print_problems(e)
        return 1
    with _quiet_broken_pipe():
        print(
            f"{cohort.source}: valid ({cohort.n_subjects} subjects, {len(cohort.spec.visits)} scheduled visits, "
            f"{len(cohort.spec.outcomes)} outcomes)"
        )
        for r in cohort.exclusions.itertuples():
            if r.n:
                print(f"  note: {r.rule}: {r.n} ({r.detail})")
        for note in cohort.notes:
            print(f"  note: {cohort.source}: {note}")
    return 0


def _print_problems(error: PainstudyError) -> None:
    """Every problem of an error on its own line (with its rule code), on stderr."""
    lines = error.problem_lines()
    print(f"{len(lines)} problem(s) found:", file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)


def _print_failures(failures: pd.DataFrame) -> None:
    print(f"{len(failures)} problem(s) found:", file=sys.stderr)
    for row in failures.itertuples():
        print(format_failure(row), file=sys.stderr)


class _quiet_broken_pipe:
    """Output piped into ``head``: stop writing quietly instead of a BrokenPipeError traceback."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None and issubclass(kind, BrokenPipeError):
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return True
        return False


def _cmd_describe(args) -> int:
    """Study summary, disposition and Table 1 (all randomised and/or completers); optional JSON."""
    from ..cohort import load_cohort
    from ..io import write_json
    from ..tables import smd_table

    try:
        cohort = load_cohort(args.study, data=args.data)
    except PainstudyError as e:
        _print_problems(e)
        return 1
    completers = cohort.completers()
    with _quiet_broken_pipe():
        print(cohort.summary())
        _print_table(cohort.disposition(), "Disposition (CONSORT flow)")
        if args.population in ("all", "both"):
            _print_table(cohort.table1(pvalues=args.pvalues), "Table 1: baseline characteristics, all randomised")
        if args.population in ("completers", "both"):
            _print_table(
                completers.table1(pvalues=args.pvalues),
                f"Table 1: baseline characteristics, completers (assessed at {cohort.spec.visits[-1].name})",
            )
    out = {
        "disposition": cohort.disposition().reset_index().to_dict(orient="records"),
        "table1": cohort.table1(tidy=True).to_dict(orient="records"),
        "table1_completers": completers.table1(tidy=True).to_dict(orient="records"),
        "smd": smd_table(cohort).to_dict(orient="records"),
        "smd_completers": smd_table(completers).to_dict(orient="records"),
    }
    if args.json:
        try:
            path = write_json(out, args.json)
        except PainstudyError as e:
            _print_problems(e)
            return 1
        print(f"\nwrote {path}")
    return 0


def _write_json(obj, path) -> None:
    import json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    print(f"\nwrote {path}")


def _json_default(o):
    import numpy as np
    import pandas as pd

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if o is pd.NA or o is pd.NaT:
        return None
    return str(o)


def _cmd_simulate(args) -> int:
    from ..simulate import simulate

    trial = simulate(args.n, seed=args.seed, n_sites=args.sites, dropout=args.dropout, records=args.records)
    path = trial.write(args.out, name=args.name)  # refuses (exit 1) a folder painstudy did not write
    print(f"wrote {path} and {path.parent / 'data.csv'} ({args.n} subjects, seed {args.seed})")
    return 0


def _cmd_init(args) -> int:
    from ..cohort import load_cohort
    from ..scaffold import init_study

    draft = init_study(args.folder, data=args.data, name=args.name)
    folder = Path(args.folder)
    print(f"wrote {folder / 'study.yml'}, {folder / 'notebooks'}/ and {folder / 'README.md'}")
    if draft.to_confirm:
        print(f"\n{len(draft.to_confirm)} guess(es) to confirm in study.yml (marked CHECK):")
        for item in draft.to_confirm:
            print(f"  - {item}")
    print(f"\nvalidating {folder / 'study.yml'}:")
    try:
        cohort = load_cohort(folder)
    except PainstudyError as e:
        if isinstance(e, CohortError):
            _print_failures(e.failures)
        else:
            print(f"painstudy: error: {e}", file=sys.stderr)
        print(
            f"painstudy init: the draft does not validate yet; fill in or fix the items above in "
            f"{folder / 'study.yml'}",
            file=sys.stderr,
        )
        return 1
    print(
        f"  valid: {cohort.n_subjects} subjects, {len(cohort.spec.visits)} visits, "
        f"{len(cohort.spec.outcomes)} outcomes. Next: painstudy report {folder}"
    )
    return 0


def _cmd_datasets(args) -> int:
    from .. import datasets

    if args.action == "list":
        table = datasets.list_datasets()[["title", "subjects", "available", "path"]]
        _print_table(table, "Registered public datasets")
        print(f"\nstudies with a study.yml: {', '.join(datasets.registered_studies())}")
        return 0
    if not args.name:
        print("painstudy datasets fetch: give a dataset name", file=sys.stderr)
        return 2
    path = datasets.fetch(args.name)
    print(f"{args.name}: {path} (SHA-256 verified)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="painstudy",
        description="Outcomes research on chronic-pain studies: validate "
        "and describe cohorts, fit models, run reports, reproduce published trials.",
    )
    p.add_argument("--version", action="version", version=f"painstudy {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def study_args(sp):
        sp.add_argument(
            "study",
            nargs="?",
            default=DEMO,
            help="registered study name or path to a study.yml (default: the demo study)",
        )
        sp.add_argument("--data", help="use this data file instead of the one named in the study definition")

    sp = sub.add_parser(
        "validate",
        help="check a study definition and its data against every rule",
        description="Check the study.yml and its data against every rule. Each problem is printed "
        "on its own line with its rule code, the file, the line (text files, as in an editor) or "
        "data row (binary formats), the column, the subject and the value; exit 1 when there is "
        "any, 0 when the data are valid.",
    )
    study_args(sp)
    sp.set_defaults(func=_cmd_validate)

    sp = sub.add_parser(
        "describe",
        help="Table 1 and disposition (CONSORT numbers)",
        description="The study, its disposition (CONSORT numbers) and Table 1 of baseline characteristics by arm.",
    )
    study_args(sp)
    sp.add_argument(
        "--population",
        choices=["all", "completers", "both"],
        default="both",
        help="Table 1 of all randomised subjects, of the completers, or both (default: both)",
    )
    sp.add_argument(
        "--pvalues",
        action="store_true",
        help="add p-values across the arms to Table 1 (off by default, as CONSORT advises; the SMD column is always shown)",
    )
    sp.add_argument(
        "--json",
        metavar="FILE",
        help="also write the disposition and Table 1 numbers as JSON to FILE "
        "(never replaces a file painstudy did not write)",
    )
    sp.set_defaults(func=_cmd_describe)

    sp = sub.add_parser("simulate", help="write a simulated integrative pain trial (data + study.yml)")
    sp.add_argument("--n", type=int, default=400, help="subjects (default 400)")
    sp.add_argument("--seed", type=int, default=20261126)
    sp.add_argument("--sites", type=int, default=8)
    sp.add_argument("--dropout", type=float, default=1.0, help="dropout hazard multiplier (0: none)")
    sp.add_argument("--name", default="simulated")
    sp.add_argument(
        "--records",
        action="store_true",
        help="also a daily diary with wearable steps (diary.csv) and opioid prescriptions (medication.csv)",
    )
    sp.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier simulation)")
    sp.set_defaults(func=_cmd_simulate)

    sp = sub.add_parser(
        "init",
        help="start a study from your own data file (drafts study.yml, notebooks, README)",
        description="Draft DIR/study.yml from a data file (columns sniffed for subject, arm, visit, "
        "outcomes...; every guess marked CHECK), write the notebooks and a README, then "
        "validate. Without --data: a copy of the demo study. Never overwrites anything.",
    )
    sp.add_argument("folder", metavar="DIR", help="the study folder to create (must not hold a study.yml yet)")
    sp.add_argument("--data", metavar="FILE", help="your data file (CSV, Excel, Parquet, SAS, Stata, SPSS)")
    sp.add_argument("--name", help="the study's name (default: the folder's name)")
    sp.set_defaults(func=_cmd_init)

    sp = sub.add_parser("datasets", help="list or fetch the registered public datasets")
    sp.add_argument("action", choices=["list", "fetch"], help="list the datasets, or fetch one (verified)")
    sp.add_argument("name", nargs="?", help="the dataset to fetch (see `painstudy datasets list`)")
    sp.set_defaults(func=_cmd_datasets)

    fit = sub.add_parser("fit", help="fit a model (mmrm, improvement, ...)")
    fit_sub = fit.add_subparsers(dest="model", metavar="MODEL")
    fit_sub.required = True
    for name in _FIT_MODULES:
        _register(name, fit_sub)
    for name in _TOP_MODULES:
        _register(name, sub)
    return p


def _register(module: str, subparsers) -> None:
    importlib.import_module(module).register(subparsers)


def _version() -> str:
    from .. import __version__

    return __version__


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    """Warnings reach the terminal as one line each (no source line, no file path)."""
    text = str(message).strip().replace("\n", " ")
    key = (category.__name__, text)
    if key in _SHOWN:
        return
    _SHOWN.add(key)
    kind = "note" if issubclass(category, (RuntimeWarning, UserWarning)) else "warning"
    print(f"painstudy: {kind}: {text}", file=sys.stderr)


_SHOWN: set = set()


def _quiet_stdout() -> None:
    """After a broken pipe (output piped into ``head``): send further output nowhere, quietly."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``painstudy`` command; returns the exit code.

    0 success; 1 the data break a rule or an analysis cannot be done (each problem on its own
    line); 2 usage errors; 130 interrupted. No traceback reaches the user: an unexpected error
    is reported in one line as a bug (set ``PAINSTUDY_DEBUG=1`` to see the traceback).
    """
    import os
    import warnings

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    debug = bool(os.environ.get("PAINSTUDY_DEBUG"))
    saved = warnings.showwarning
    if not debug:
        warnings.showwarning = _one_line_warnings
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except CohortError as e:
        _print_failures(e.failures)
        return 1
    except PainstudyError as e:
        print(f"painstudy: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("painstudy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as e:  # a full or read-only disk, a file that vanished, permissions
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"painstudy: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("painstudy: error: not enough memory for this analysis", file=sys.stderr)
        return 1
    except Exception as e:  # a bug in painstudy: one line, never a traceback (unless debugging)
        if debug:
            raise
        print(
            f"painstudy: internal error (a bug, please report it): {type(e).__name__}: {e}. "
            f"Set PAINSTUDY_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1
    finally:
        warnings.showwarning = saved


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
