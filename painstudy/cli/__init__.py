"""The ``painstudy`` command line: a thin layer over the public API.

Exit codes: 0 success; 1 invalid data or an analysis that could not be done (every problem
printed on its own line, no traceback); 2 usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pandas as pd

from ..errors import CohortError, PainstudyError, format_failure

DEMO = "demo"

#: modules adding sub-commands to ``painstudy fit`` (each has ``register(subparsers)``)
_FIT_MODULES = ("painstudy.cli.fit_mmrm", "painstudy.cli.fit_improvement", "painstudy.cli.fit_compare")
#: modules adding top-level commands (each has ``register(subparsers)``)
_TOP_MODULES = ("painstudy.cli.report", "painstudy.cli.reproduce")


def _print_table(df: pd.DataFrame, title: str | None = None) -> None:
    if title:
        print(f"\n{title}\n{'-' * len(title)}")
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_rows", 500,
                           "display.max_colwidth", 60):
        print(df.to_string())


def _cmd_validate(args) -> int:
    from ..cohort import load_cohort

    try:
        cohort = load_cohort(args.study, data=args.data)
    except CohortError as e:
        _print_failures(e.failures)
        return 1
    print(f"{cohort.source}: valid ({cohort.n_subjects} subjects, {len(cohort.spec.visits)} scheduled visits, "
          f"{len(cohort.spec.outcomes)} outcomes)")
    for r in cohort.exclusions.itertuples():
        if r.n:
            print(f"  note: {r.rule}: {r.n} ({r.detail})")
    return 0


def _print_failures(failures: pd.DataFrame) -> None:
    print(f"{len(failures)} problem(s) found:", file=sys.stderr)
    for row in failures.itertuples():
        print(format_failure(row), file=sys.stderr)


def _cmd_describe(args) -> int:
    from ..cohort import load_cohort

    cohort = load_cohort(args.study, data=args.data)
    _print_table(cohort.summary(), f"Study {cohort.spec.name}")
    _print_table(cohort.disposition(), "Disposition (CONSORT flow)")
    if args.population in ("all", "both"):
        _print_table(cohort.table1(), "Table 1: baseline characteristics, all randomised")
    if args.population in ("completers", "both"):
        _print_table(cohort.completers().table1(),
                     f"Table 1: baseline characteristics, completers (assessed at {cohort.spec.visits[-1].name})")
    if args.json:
        out = {"disposition": cohort.disposition().reset_index().to_dict(orient="records"),
               "table1": cohort.table1(tidy=True).to_dict(orient="records"),
               "table1_completers": cohort.completers().table1(tidy=True).to_dict(orient="records")}
        _write_json(out, args.json)
    return 0


def _write_json(obj, path) -> None:
    import json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    print(f"\nwrote {path}")


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if o is pd.NA or o is pd.NaT:
        return None
    return str(o)


def _cmd_simulate(args) -> int:
    from ..simulate import simulate

    trial = simulate(args.n, seed=args.seed, n_sites=args.sites, dropout=args.dropout)
    path = trial.write(args.out, name=args.name)  # refuses (exit 1) a folder painstudy did not write
    print(f"wrote {path} and {path.parent / 'data.csv'} ({args.n} subjects, seed {args.seed})")
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
    p = argparse.ArgumentParser(prog="painstudy", description="Outcomes research on chronic-pain studies: validate "
                                "and describe cohorts, fit models, run reports, reproduce published trials.")
    p.add_argument("--version", action="version", version=f"painstudy {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def study_args(sp):
        sp.add_argument("study", nargs="?", default=DEMO,
                        help="registered study name or path to a study.yml (default: the demo study)")
        sp.add_argument("--data", help="use this data file instead of the one named in the study definition")

    sp = sub.add_parser("validate", help="check a study's data against every rule")
    study_args(sp)
    sp.set_defaults(func=_cmd_validate)

    sp = sub.add_parser("describe", help="Table 1 and disposition (CONSORT numbers)")
    study_args(sp)
    sp.add_argument("--population", choices=["all", "completers", "both"], default="both")
    sp.add_argument("--json", help="also write the tables as JSON")
    sp.set_defaults(func=_cmd_describe)

    sp = sub.add_parser("simulate", help="write a simulated integrative pain trial (data + study.yml)")
    sp.add_argument("--n", type=int, default=400, help="subjects (default 400)")
    sp.add_argument("--seed", type=int, default=20261126)
    sp.add_argument("--sites", type=int, default=8)
    sp.add_argument("--dropout", type=float, default=1.0, help="dropout hazard multiplier (0: none)")
    sp.add_argument("--name", default="simulated")
    sp.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier simulation)")
    sp.set_defaults(func=_cmd_simulate)

    sp = sub.add_parser("datasets", help="list or fetch the registered public datasets")
    sp.add_argument("action", choices=["list", "fetch"])
    sp.add_argument("name", nargs="?")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``painstudy`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0)
    try:
        return int(args.func(args) or 0)
    except CohortError as e:
        _print_failures(e.failures)
        return 1
    except PainstudyError as e:
        print(f"painstudy: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("painstudy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
