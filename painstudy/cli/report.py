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
        "--grid",
        metavar="FILE",
        help="YAML mapping of names to parameter sets: one report per set, in <out>/<name> "
        "(default out: ./reports/<study>-grid)",
    )
    sp.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run the reports on the Dask cluster at tcp://HOST:PORT (its workers must see the same files)",
    )
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


def read_grid(path: str, notebooks, given: dict) -> dict[str, dict]:
    """The parameter sets of ``--grid FILE``: a YAML mapping of names to parameter mappings, each checked
    against the notebooks' declared parameters (on top of ``-p``/``-f``). A name is a plain folder name."""
    import re

    from ..reporting import ParameterError, check_parameters, read_parameters

    doc, _ = read_parameters((), path)
    if not doc:
        raise ParameterError(f"{path}: the grid has no parameter set")
    grid = {}
    for name, point in doc.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ParameterError(f"{path}: {name!r}: a parameter set's name is a folder name (letters, digits, _ . -)")
        if not isinstance(point, dict):
            raise ParameterError(f"{path}: {name}: a parameter set is a mapping (name: value lines)")
        try:
            grid[name] = check_parameters({**given, **point}, notebooks)
        except ParameterError as e:
            raise ParameterError(f"{path}: {name}: {e}") from None
    return grid


def _on_scheduler(args, items) -> list | None:
    """Run every report as a task of the Dask cluster at ``--scheduler`` (its workers see the same files)."""
    from ..power.engine import EngineError, open_engine, run_tasks
    from ..reporting import report_job

    tasks = [
        (study, args.notebooks, parameters, str(out) if out else None, args.show_code, tuple(args.formats))
        for _, study, parameters, out in items
    ]
    label = {id(t): item[0] for t, item in zip(tasks, items)}
    done = {}
    try:
        with open_engine(args.scheduler) as (engine, what):
            print(f"painstudy report: {len(tasks)} report(s) on {what}", file=sys.stderr)
            run_tasks(engine, report_job, tasks, lambda task, result: done.__setitem__(id(task), result))
    except EngineError as e:
        print(f"painstudy report: error: {e}", file=sys.stderr)
        return None
    return [(label[id(t)], *done[id(t)]) for t in tasks]


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
    try:
        grid = read_grid(args.grid, resolve_notebooks(args.notebooks), params) if args.grid else {}
    except ParameterError as e:
        return _usage(str(e))
    items = []  # (label, study, parameters, out)
    for study, spec in zip(args.studies, specs):
        if not grid:
            items.append((study, study, params, out_for(spec)))
            continue
        base = Path(args.out) if args.out else Path.cwd() / "reports" / f"{spec.name}-grid"
        base = base / spec.name if several else base
        items += [(f"{study} [{name}]", study, point, base / name) for name, point in grid.items()]

    def one(item):
        label, study, parameters, out = item
        # with several reports and --jobs, the reports run side by side (each one notebook at a time)
        jobs = 1 if len(items) > 1 and args.jobs > 1 else args.jobs
        try:
            res = run_report(
                study,
                notebooks=args.notebooks,
                parameters=parameters,
                out=out,
                jobs=jobs,
                show_code=args.show_code,
                cancel=cancel,
                formats=args.formats,
            )
            return label, res, None
        except PainstudyError as e:
            return label, None, e

    with terminate_as_interrupt():
        if args.scheduler:
            results = _on_scheduler(args, items)
            if results is None:
                return 1
        elif len(items) > 1 and args.jobs > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=args.jobs)
            futures = [pool.submit(one, item) for item in items]
            try:
                results = [f.result() for f in futures]
            except KeyboardInterrupt:
                cancel.set()  # every running report stops its notebooks and cleans up
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
        else:
            results = [one(item) for item in items]
    status = 0
    for label, res, err in results:
        if err is not None:
            print(f"painstudy report {label}: error: {err}", file=sys.stderr)
            status = 1
            continue
        for r in res.runs:
            print(f"  {r.name}: {r.status} ({r.seconds:.1f} s)")
        extra = " and report.docx" if "docx" in args.formats else ""
        print(f"report written to {res.out} (open {res.out / 'index.html'}{extra})")
    return status
