"""``painstudy report``: run the parameterised notebooks into ``./reports/<study>/`` (or ``--out``)."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from ..errors import PainstudyError


def register(subparsers) -> None:
    sp = subparsers.add_parser("report", help="run the notebooks into an HTML report with a manifest")
    sp.add_argument(
        "studies",
        nargs="*",
        default=["demo"],
        metavar="STUDY",
        help="registered study name(s) or path(s) to study.yml (default: the demo study)",
    )
    sp.add_argument("--notebooks", nargs="+", help="notebook names or numbers (default: 01 02 03 04 06 07 08)")
    sp.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter (a YAML value), may repeat; KEY must be declared by the notebooks",
    )
    sp.add_argument("-f", "--parameters-file", help="YAML file of notebook parameters (a mapping)")
    sp.add_argument(
        "--out",
        help="output folder (default ./reports/<study>; with several studies, the folder holding one folder per study)",
    )
    sp.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="notebooks (or, with several studies, studies) run at once (default: the number of cores)",
    )
    sp.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    sp.add_argument(
        "--format",
        nargs="+",
        choices=("html", "docx"),
        default=["html"],
        dest="formats",
        help="html (always written: the notebooks and the summary page index.html); docx: also report.docx, "
        "the summary, tables and figures in a Word document",
    )
    sp.set_defaults(func=run)


@contextmanager
def terminate_as_interrupt():
    """While running, SIGTERM stops the run like Ctrl-C (the notebook processes are stopped, nothing left)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _usage(message: str) -> int:
    print(f"painstudy report: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    from ..cohort import resolve_study
    from ..reporting import (
        ParameterError,
        check_parameters,
        default_jobs,
        read_parameters,
        resolve_notebooks,
        run_report,
    )

    if args.jobs is None:
        args.jobs = default_jobs()
    if args.jobs < 1:
        return _usage(f"--jobs must be at least 1, got {args.jobs}")
    try:
        given, raw = read_parameters(args.parameter, args.parameters_file)
        params = check_parameters(given, resolve_notebooks(args.notebooks), raw)
    except ParameterError as e:
        return _usage(str(e))
    specs = [resolve_study(s) for s in args.studies]
    names: dict[str, str] = {}
    for study, spec in zip(args.studies, specs):
        if spec.name in names:
            return _usage(
                f"studies {names[spec.name]!r} and {study!r} are both named {spec.name!r}: their reports "
                "would go to the same folder; run them separately, each with its own --out"
            )
        names[spec.name] = study
    several = len(args.studies) > 1

    def out_for(spec):
        if args.out is None:
            return None  # ./reports/<study name>
        return Path(args.out) / spec.name if several else Path(args.out)

    cancel = threading.Event()

    def one(item):
        study, spec = item
        # with several studies and --jobs, the studies run side by side (each one notebook at a time)
        jobs = 1 if several and args.jobs > 1 else args.jobs
        try:
            res = run_report(
                study,
                notebooks=args.notebooks,
                parameters=params,
                out=out_for(spec),
                jobs=jobs,
                show_code=args.show_code,
                cancel=cancel,
                formats=args.formats,
            )
            return study, res, None
        except PainstudyError as e:
            return study, None, e

    items = list(zip(args.studies, specs))
    with terminate_as_interrupt():
        if several and args.jobs > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=args.jobs)
            futures = [pool.submit(one, item) for item in items]
            try:
                results = [f.result() for f in futures]
            except KeyboardInterrupt:
                cancel.set()  # every running study stops its notebooks and cleans up
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
        else:
            results = [one(item) for item in items]
    status = 0
    for study, res, err in results:
        if err is not None:
            print(f"painstudy report {study}: error: {err}", file=sys.stderr)
            status = 1
            continue
        for r in res.runs:
            print(f"  {r.name}: {r.status} ({r.seconds:.1f} s)")
        extra = " and report.docx" if "docx" in args.formats else ""
        print(f"report written to {res.out} (open {res.out / 'index.html'}{extra})")
    return status
