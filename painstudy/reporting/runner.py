"""Running the parameterised notebooks into a report folder, with provenance.

:func:`run_report` checks the parameters against the notebooks' ``parameters`` cells, writes
each notebook with its parameters injected as literals, and executes each in a process of its
own (:mod:`painstudy.reporting.execute`, up to ``jobs`` at a time, each logging to its own file)
inside a staging folder beside the output folder (:class:`painstudy.outputs.OutputFolder`).
When every notebook succeeded, the staging folder replaces the output folder, with
``manifest.json`` (what was read, with SHA-256; parameters; versions; reproducible) and
``run.json`` (times and host: what differs between runs). On failure the previous report (if any)
stays as it was and the run is kept in ``<out>.failed/`` with its logs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DataFileError, ReportError
from ..io import DISPLAY_BASE_ENV
from ..models.blas import usable_cores
from ..outputs import OutputError, OutputFolder, default_output_dir
from ..study import estimands_of
from .execute import now
from .parameters import check_parameters, inject, notebook_parameters
from .provenance import INPUTS_ENV, collect_inputs, display_path, environment, volatile

#: The folder of the report notebooks shipped with painstudy (package data).
NOTEBOOK_DIR = Path(str(resources.files("painstudy") / "notebooks"))
#: The notebooks of a standard study report, in order.
DEFAULT_NOTEBOOKS = (
    "01_cohort",
    "02_compare_arms",
    "03_time_to_improvement",
    "04_responders",
    "06_sensitivity",
    "07_power",
    "08_personalised_care",
)
#: Name of the file holding the facts that differ between runs (times, host).
RUN_FILE = "run.json"
#: Report formats: HTML is always written; DOCX on request.
FORMATS = ("html", "docx")
_GRACE = 20.0  # seconds a notebook process gets to stop its kernel after SIGTERM


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one notebook: status ``ok``, ``failed`` or ``interrupted``, timing, the error if any."""

    name: str
    status: str
    started: str
    finished: str
    seconds: float
    error: str = ""
    failed_cell: int | None = None
    log: str = ""


@dataclass(frozen=True)
class ReportResult:
    """A finished report run: the folder written, each notebook's outcome and the manifest."""

    out: Path
    runs: tuple[NotebookRun, ...]
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs)


def resolve_notebooks(names: Sequence[str] | None) -> list[Path]:
    """Notebook files from names like ``01_cohort``, numbers like ``01``, or paths to ``.ipynb`` files."""
    names = list(names or DEFAULT_NOTEBOOKS)
    available = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    found = []
    for n in names:
        p = Path(n)
        if p.suffix == ".ipynb" and p.is_file():
            found.append(p.resolve())
            continue
        matches = [NOTEBOOK_DIR / f"{a}.ipynb" for a in available if a in (n, p.stem) or a.split("_", 1)[0] == n]
        if not matches:
            raise ReportError(f"unknown notebook {n!r}; available: {', '.join(available)}")
        found.append(matches[0])
    stems = [p.stem for p in found]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ReportError(f"notebook {dup[0]!r} given twice")
    return found


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` (the kernel's working folder), absolute when impossible."""
    try:
        return os.path.relpath(path, start)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


# -------------------------------------------------------------------------------------------
# running notebook processes
# -------------------------------------------------------------------------------------------


@dataclass
class _Job:
    name: str
    folder: Path  # the staging folder (the kernel's working folder)
    run_dir: Path
    process: subprocess.Popen | None = None
    log_file: Any = None

    @property
    def result(self) -> Path:
        return self.run_dir / f"{self.name}.result.json"

    @property
    def log(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    def inputs(self) -> Path:
        return self.run_dir / f"{self.name}.inputs.jsonl"

    def start(self, show_code: bool, kernel: str | None) -> None:
        spec = {
            "input": str(self.run_dir / f"{self.name}.input.ipynb"),
            "output": str(self.folder / f"{self.name}.ipynb"),
            "html": str(self.folder / f"{self.name}.html"),
            "show_code": show_code,
            "kernel": kernel,
            "connection_file": str(self.run_dir / f"kernel-{self.name}.json"),
            "result": str(self.result),
            "parent": os.getpid(),
        }
        job_file = self.run_dir / f"{self.name}.job.json"
        job_file.write_text(json.dumps(spec), encoding="utf-8")
        env = {
            **os.environ,
            INPUTS_ENV: str(self.inputs),
            DISPLAY_BASE_ENV: os.environ.get(DISPLAY_BASE_ENV) or os.getcwd(),  # paths as the user sees them
            "JUPYTER_RUNTIME_DIR": str(self.run_dir),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        self.log_file = open(self.log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "painstudy.reporting.execute", str(job_file)],
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def done(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def ask_to_stop(self) -> None:
        """Ask the notebook process to stop (it stops its kernel and exits)."""
        p = self.process
        if p is not None and p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except OSError:
                pass

    def stopped(self, deadline: float) -> None:
        """Wait until the process has stopped; kill it (and its group) at ``deadline``."""
        p = self.process
        if p is None:
            return
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
        if self.log_file is not None:
            self.log_file.close()

    def outcome(self) -> NotebookRun:
        if self.log_file is not None:
            self.log_file.close()
        try:
            r = json.loads(self.result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            code = self.process.returncode if self.process else None
            r = {
                "status": "failed",
                "error": f"the notebook process stopped unexpectedly (exit code {code})",
                "started": "",
                "finished": now(),
                "seconds": 0.0,
                "failed_cell": None,
            }
        return NotebookRun(
            self.name,
            r["status"],
            r["started"],
            r["finished"],
            r["seconds"],
            r.get("error", ""),
            r.get("failed_cell"),
            self.log.name,
        )


def _run_jobs(
    jobs: list[_Job], parallel: int, show_code: bool, kernel: str | None, bar, cancel: threading.Event | None
) -> list[NotebookRun]:
    pending, running, finished = list(jobs), [], {}
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                job = pending.pop(0)
                job.start(show_code, kernel)
                running.append(job)
            time.sleep(0.05)
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            for job in [j for j in running if j.done()]:
                running.remove(job)
                finished[job.name] = job.outcome()
                if bar is not None:
                    bar.set_postfix_str(f"{job.name}: {finished[job.name].status}")
                    bar.update(1)
    except BaseException:
        for job in running:
            job.ask_to_stop()
        deadline = time.monotonic() + _GRACE
        for job in running:
            job.stopped(deadline)
        raise
    return [finished[j.name] for j in jobs]


def _log_tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    lines = [ln for ln in lines if ln.strip() and "without encryption" not in ln]
    return "\n".join(lines[-n:])


# -------------------------------------------------------------------------------------------
# the report
# -------------------------------------------------------------------------------------------


def default_jobs() -> int:
    """The number of cores this process may use (:func:`painstudy.models.blas.usable_cores`)."""
    return usable_cores()


def run_report(
    study: str = "demo",
    *,
    notebooks: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    jobs: int | None = None,
    show_code: bool = False,
    kernel: str | None = None,
    progress: bool | None = None,
    cancel: threading.Event | None = None,
    formats: Sequence[str] = ("html",),
) -> ReportResult:
    """Execute the report notebooks for a study and write them, as HTML, with a manifest.

    Parameters
    ----------
    study : str
        Registered study name or path to a study.yml (default: the demo study).
    notebooks : list of str, optional
        Notebook names (``01_cohort``), numbers (``01``) or paths; default: the study notebooks (DEFAULT_NOTEBOOKS).
    parameters : mapping, optional
        Values for the names declared in the notebooks' ``parameters`` cells (``data``, ``outcomes``,
        ``seed``, ...), checked against their declared types. ``study`` and ``output_dir`` are set
        by painstudy.
    out : path, optional
        Output folder; default ``./reports/<study name>`` in the current folder. An existing folder
        is replaced only when it is empty or painstudy wrote it (see :mod:`painstudy.outputs`).
    jobs : int, optional
        Notebooks run at the same time (each in its own process); default :func:`default_jobs`, the cores
        this process may use.
    show_code : bool
        Keep code cells in the HTML.
    kernel : str, optional
        A Jupyter kernelspec name; default: a kernel of the Python interpreter running painstudy.
    progress : bool, optional
        Show a progress bar on stderr; default: when stderr is a terminal.
    cancel : threading.Event, optional
        Set it (from another thread) to stop the run as if interrupted.
    formats : sequence of str
        ``"html"`` (always written: each notebook as HTML, and ``index.html``, the summary page the
        report opens with) and ``"docx"``: also ``report.docx``, the summary, tables and figures in one
        Word document (:mod:`painstudy.reporting.docx`).

    Returns
    -------
    ReportResult

    Raises
    ------
    ReportError
        When a notebook fails (after keeping the failed run in ``<out>.failed``); ``ParameterError``
        (a ``ReportError``) for unknown parameters or values of the wrong type.
    OutputError
        When ``out`` may not be replaced, is being written by another run, or cannot be written.
    KeyboardInterrupt
        When interrupted: the notebook processes are stopped and nothing is left behind.

    Examples
    --------
    Run the cohort notebook on another copy of the demo data into ``./reports/demo``::

        run_report("demo", notebooks=["01"], parameters={"data": "my_copy.csv", "seed": 7})
    """
    from ..cohort import resolve_study

    spec = resolve_study(study)
    nbs = resolve_notebooks(notebooks)
    given = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in (parameters or {}).items()}
    values = check_parameters(given, nbs)
    study_path = None if not Path(str(study)).exists() else Path(study).resolve()
    data = values.get("data")
    data_path = None
    if data:
        data_path = Path(data).expanduser().resolve()
        if not data_path.is_file():
            raise DataFileError(f"{data}: data file not found")
    seed = values.get("seed", next((p["seed"].default for p in map(notebook_parameters, nbs) if "seed" in p), None))
    shown = {**values, **({"data": display_path(data_path, spec.root)} if data_path else {})}
    show = sys.stderr.isatty() if progress is None else progress

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ReportError(f"unknown report format {unknown[0]!r}; formats: {', '.join(FORMATS)}")
    if jobs is not None and (isinstance(jobs, bool) or int(jobs) < 1):
        raise ReportError(f"jobs must be a number at least 1, got {jobs!r}")
    jobs = min(default_jobs() if jobs is None else int(jobs), len(nbs))
    plan = _Plan(
        spec,
        nbs,
        values,
        str(study),
        study_path,
        data_path,
        shown,
        seed,
        jobs,
        show_code,
        kernel,
        show,
        cancel,
        tuple(dict.fromkeys(formats)),
    )
    with OutputFolder(
        out if out is not None else default_output_dir(spec.name), kind="report", keep_failed=True, unhashed=(RUN_FILE,)
    ) as folder:
        try:
            return _run_in(folder, plan)
        except OSError as e:  # a full disk, a folder made read-only meanwhile, ...
            raise OutputError(
                f"{folder.given}: cannot write the report ({e.strerror or e}); {folder.unchanged()}"
            ) from None


def _title(path: Path) -> str:
    """The title of an executed notebook: its first markdown heading."""
    import nbformat

    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source[2:].splitlines()[0].strip()
    return path.stem


def _write_front_matter(staging: Path, manifest: dict, names: list[str], formats: Sequence[str]) -> None:
    """The summary page (``index.html``) and, when asked, the Word document."""
    from .docx import DOCX_FILE, write_docx
    from .summary import SUMMARY_FILE, report_summary

    summary = report_summary(staging, manifest, {n: _title(staging / f"{n}.ipynb") for n in names})
    (staging / SUMMARY_FILE).write_text(summary.html(), encoding="utf-8")
    if "docx" in formats:
        write_docx(staging, summary, names, staging / DOCX_FILE)


@dataclass(frozen=True)
class _Plan:
    """What a report run does, checked before anything is written."""

    spec: Any
    notebooks: list[Path]
    values: dict[str, Any]  # checked parameters
    study: str  # as given
    study_path: Path | None  # when given as a path
    data_path: Path | None
    shown: dict[str, Any]  # parameters as the manifest shows them
    seed: Any
    jobs: int
    show_code: bool
    kernel: str | None
    progress: bool
    cancel: threading.Event | None
    formats: tuple[str, ...] = ("html",)


def _run_in(folder: OutputFolder, plan: _Plan) -> ReportResult:
    """The report run inside its staging folder (see :func:`run_report`)."""
    staging = folder.path
    run_dir = staging / ".run"
    for sub in ("figures", "tables", ".run"):
        (staging / sub).mkdir()
    injected = {**plan.values, "study": _relative(plan.study_path, staging) if plan.study_path else plan.study}
    if plan.data_path:
        injected["data"] = _relative(plan.data_path, staging)
    job_list = []
    for nb in plan.notebooks:
        inject(nb, run_dir / f"{nb.stem}.input.ipynb", injected)
        job_list.append(_Job(nb.stem, staging, run_dir))
    started = now()
    bar = None
    if plan.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan.notebooks), desc=f"report {plan.spec.name}", unit="notebook", file=sys.stderr)
    try:
        runs = _run_jobs(job_list, plan.jobs, plan.show_code, plan.kernel, bar, plan.cancel)
    finally:
        if bar is not None:
            bar.close()
    ok = all(r.status == "ok" for r in runs)
    manifest = {
        "study": plan.spec.name,
        "title": plan.spec.title,
        "status": "ok" if ok else "failed",
        "notebooks": [
            {"name": r.name, "status": r.status, "error": r.error, "failed_cell": r.failed_cell} for r in runs
        ],
        "parameters": plan.shown,
        "estimands": estimands_of(plan.spec),
        "seed": plan.seed,
        "inputs": collect_inputs({j.name: j.inputs for j in job_list}),
        **environment(),
        "volatile": RUN_FILE,
    }
    timing = volatile(
        started,
        now(),
        [{"name": r.name, "started": r.started, "finished": r.finished, "seconds": r.seconds} for r in runs],
    )
    (staging / RUN_FILE).write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")
    if ok:
        shutil.rmtree(run_dir)
        _write_front_matter(staging, manifest, [r.name for r in runs], plan.formats)
        target = folder.publish(manifest)
        written = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        return ReportResult(target, tuple(runs), written)
    run_dir.rename(staging / "logs")
    kept = folder.keep_failed(manifest)
    failed = [r for r in runs if r.status != "ok"]
    msg = "; ".join(
        f"{r.name} failed" + (f" in cell {r.failed_cell}" if r.failed_cell else "") + f": {r.error}" for r in failed
    )
    for r in failed:
        if not r.failed_cell:  # the notebook process or its kernel failed: show why
            tail = _log_tail(kept / "logs" / r.log)
            if tail:
                msg += f"\n{r.name} log (logs/{r.log}):\n{tail}"
    note = folder.unchanged(where=True)
    raise ReportError(f"{msg}\n{note[0].upper()}{note[1:]}; the failed run is kept in {kept} (logs in {kept / 'logs'})")


def report_job(
    study: str,
    notebooks: Sequence[str] | None,
    parameters: Mapping[str, Any],
    out: str | None,
    show_code: bool = False,
    formats: Sequence[str] = ("html",),
) -> tuple[ReportResult | None, str | None]:
    """One report as a task for another process (a Dask worker): :func:`run_report` without progress,
    returning ``(result, None)`` or ``(None, the error's message)`` (a message travels where an exception
    class might not unpickle)."""
    from ..errors import PainstudyError

    try:
        res = run_report(
            study,
            notebooks=notebooks,
            parameters=parameters,
            out=out,
            show_code=show_code,
            progress=False,
            formats=formats,
        )
        return res, None
    except PainstudyError as e:
        return None, str(e)
