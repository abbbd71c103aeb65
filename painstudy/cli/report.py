"""``painstudy report``: run the parameterised notebooks into reports/<study>/."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ..errors import PainstudyError


def _parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def register(subparsers) -> None:
    sp = subparsers.add_parser("report", help="run the notebooks into an HTML report with a manifest")
    sp.add_argument("studies", nargs="*", default=["demo"], metavar="STUDY",
                    help="registered study name(s) or path(s) to study.yml (default: the demo study)")
    sp.add_argument("--notebooks", nargs="+", help="notebook names or numbers (default: 01 02 03 04)")
    sp.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                    help="notebook parameter (YAML value), may repeat")
    sp.add_argument("-f", "--parameters-file", help="YAML file of notebook parameters")
    sp.add_argument("--out", help="output folder (default reports/<study>; with several studies, a parent folder)")
    sp.add_argument("--jobs", type=int, default=1, help="notebooks (or studies) run in parallel")
    sp.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ..reporting import run_report

    params = {}
    if args.parameters_file:
        try:
            params.update(yaml.safe_load(Path(args.parameters_file).read_text()) or {})
        except (OSError, yaml.YAMLError) as e:
            raise PainstudyError(f"{args.parameters_file}: cannot read parameters ({e})") from None
    for kv in args.parameter:
        if "=" not in kv:
            print(f"painstudy report: -p expects KEY=VALUE, got {kv!r}", file=sys.stderr)
            return 2
        k, v = kv.split("=", 1)
        params[k.strip()] = _parse_value(v)
    several = len(args.studies) > 1

    def one(study):
        out = str(Path(args.out) / Path(study).stem) if args.out and several else args.out
        # with several studies, --jobs runs the studies in parallel (each one notebook at a time)
        jobs = 1 if several and args.jobs > 1 else args.jobs
        try:
            return study, run_report(study, notebooks=args.notebooks, parameters=params, out=out, jobs=jobs,
                                     show_code=args.show_code), None
        except PainstudyError as e:
            return study, None, e

    if several and args.jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(one, args.studies))
    else:
        results = [one(s) for s in args.studies]
    status = 0
    for study, res, err in results:
        if err is not None:
            print(f"painstudy report {study}: {err}", file=sys.stderr)
            status = 1
            continue
        for r in res.runs:
            print(f"  {r.name}: {r.status} ({r.seconds:.1f} s)")
        print(f"report written to {res.out} (open {res.out / (res.runs[0].name + '.html')})")
    return status
