"""Running the parameterised notebooks into a reviewable report, with provenance.

:func:`run_report` executes notebooks with papermill into a temporary folder next to the
output folder, exports each to HTML (code hidden unless asked) and writes ``manifest.json``
(inputs with SHA-256, parameters, package and Python versions, git commit, seed, timing and
status of each notebook). Only when every notebook succeeded does the temporary folder replace
the output folder; on failure the previous report stays as it was, the executed notebooks are
kept in ``<out>.failed/`` and :class:`~painstudy.errors.ReportError` says which cell failed and
why.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ReportError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = Path(str(resources.files("painstudy") / "notebooks"))
#: The notebooks of a standard study report, in order.
DEFAULT_NOTEBOOKS = ("01_cohort", "02_compare_arms", "03_time_to_improvement", "04_responders")
_VERSIONED = ("painstudy", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib", "seaborn",
              "papermill", "nbconvert", "pandera", "pyyaml", "pooch")


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one notebook: status ``ok`` or ``failed``, timing, and the error if any."""

    name: str
    status: str
    started: str
    finished: str
    seconds: float
    error: str = ""
    failed_cell: int | None = None


@dataclass(frozen=True)
class ReportResult:
    """A finished report run."""

    out: Path
    runs: tuple[NotebookRun, ...]
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _versions() -> dict[str, str]:
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resolve_notebooks(names: Sequence[str] | None) -> list[Path]:
    """Notebook files from names like ``01_cohort``, ``01`` or paths."""
    names = list(names or DEFAULT_NOTEBOOKS)
    found = []
    available = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    for n in names:
        p = Path(n)
        if p.suffix == ".ipynb" and p.exists():
            found.append(p.resolve())
            continue
        matches = [NOTEBOOK_DIR / f"{a}.ipynb" for a in available if a == n or a.split("_", 1)[0] == n or a == p.stem]
        if not matches:
            raise ReportError(f"unknown notebook {n!r}; available: {', '.join(available)}")
        found.append(matches[0])
    return found


def study_inputs(study: str, data: str | None = None) -> list[dict[str, str]]:
    """The files a study's report reads (study.yml and the data file), with their SHA-256."""
    from .cohort import resolve_study
    from .datasets import fetch

    spec = resolve_study(study)
    files = []
    if spec.root is not None:
        yml = spec.root / "study.yml"
        if yml.exists():
            files.append(yml)
    if data:
        files.append(Path(data))
    elif spec.data:
        files.append(Path(fetch(spec.data.split(":", 1)[1])) if spec.data.startswith("registry:")
                     else Path(spec.data_path))
    return [{"path": _display_path(f), "sha256": sha256_file(f)} for f in files]


def _display_path(p: Path) -> str:
    p = Path(p).resolve()
    for base in (ROOT, ROOT.parent):
        try:
            return str(p.relative_to(base))
        except ValueError:
            continue
    return str(p)


class _KernelLog:
    """Send what kernels print on the process's stderr (their start-up and shutdown chatter) to a
    log file while notebooks run; the log's tail is added to a failure message."""

    def __init__(self):
        self.path = Path(tempfile.mkstemp(prefix="painstudy-kernel-", suffix=".log")[1])

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = open(self.path, "wb")
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.close()
        return False

    def tail(self, n: int = 15) -> str:
        lines = [ln for ln in self.path.read_text(errors="replace").splitlines()
                 if ln.strip() and "without encryption" not in ln and "KeyboardInterrupt caught" not in ln]
        return "\n".join(lines[-n:])


def _execute(nb: Path, out_dir: Path, parameters: dict, show_code: bool, kernel: str) -> NotebookRun:
    import papermill as pm

    started, t0 = _now(), time.perf_counter()
    target = out_dir / nb.name
    error, cell = "", None
    try:
        # no papermill cwd: it changes the whole process's working directory, which races when
        # notebooks or studies run in parallel threads; notebooks write to output_dir instead
        pm.execute_notebook(str(nb), str(target), parameters={**parameters, "output_dir": str(out_dir)},
                            kernel_name=kernel,
                            progress_bar=False, log_output=False, request_save_on_cell_execute=False)
        status = "ok"
    except pm.PapermillExecutionError as e:
        status, cell = "failed", e.exec_count
        error = f"{e.ename}: {e.evalue}"
    except Exception as e:  # kernel died, missing notebook, bad parameters
        status, error = "failed", f"{type(e).__name__}: {e}"
    if target.exists():
        _export_html(target, out_dir / f"{nb.stem}.html", show_code)
    return NotebookRun(nb.stem, status, started, _now(), round(time.perf_counter() - t0, 2), error, cell)


def _export_html(ipynb: Path, html: Path, show_code: bool) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                  if c.cell_type == "markdown" and c.source.startswith("# ")), ipynb.stem)
    exporter = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    html.write_text(body, encoding="utf-8")


def run_report(study: str = "demo", *, notebooks: Sequence[str] | None = None,
               parameters: Mapping[str, Any] | None = None, out: str | Path | None = None, jobs: int = 1,
               show_code: bool = False, kernel: str = "python3", progress: bool = True) -> ReportResult:
    """Execute the report notebooks for a study and write them, as HTML, with a manifest.

    Parameters
    ----------
    study : str
        Registered study name or path to a study.yml (default: the demo study).
    notebooks : list of str, optional
        Notebook names (``01_cohort``) or numbers (``01``); default: the four study notebooks.
    parameters : mapping, optional
        Values for the notebooks' ``parameters`` cells (``study`` and ``output_dir`` are set here).
    out : path, optional
        Output folder; default ``reports/<study name>``.
    jobs : int
        Notebooks run in parallel.
    show_code : bool
        Keep code cells in the HTML.

    Raises
    ------
    ReportError
        When a notebook fails (after keeping the failed run in ``<out>.failed``).
    """
    from .cohort import resolve_study

    spec = resolve_study(study)
    study_arg = study if not Path(str(study)).exists() else str(Path(study).resolve())
    out = Path(out) if out is not None else ROOT / "reports" / spec.name
    out = out.resolve()
    nbs = resolve_notebooks(notebooks)
    params = dict(parameters or {})
    params.setdefault("seed", 20261126)
    if params.get("data"):
        params["data"] = str(Path(params["data"]).resolve())
    params["study"] = study_arg
    params["output_dir"] = "."
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    (tmp / "figures").mkdir()
    (tmp / "tables").mkdir()
    started = _now()
    try:
        from tqdm.auto import tqdm

        # progress goes to stdout: stderr is captured from the kernels while they run
        bar = tqdm(total=len(nbs), desc=f"report {spec.name}", unit="notebook", disable=not progress, file=sys.stdout)
        runs: list[NotebookRun] = []

        def one(nb):
            r = _execute(nb, tmp, params, show_code, kernel)
            bar.set_postfix_str(f"{r.name}: {r.status}")
            bar.update(1)
            return r

        log = _KernelLog()
        try:
            with log:
                if jobs > 1:
                    with ThreadPoolExecutor(max_workers=jobs) as pool:
                        runs = list(pool.map(one, nbs))
                else:
                    runs = [one(nb) for nb in nbs]
            bar.close()
            kernel_tail = log.tail()
        finally:
            log.path.unlink(missing_ok=True)
        manifest = {
            "study": spec.name, "title": spec.title, "inputs": study_inputs(study_arg, params.get("data")),
            "parameters": params, "notebooks": [r.__dict__ for r in runs],
            "seed": params.get("seed"), "painstudy_commit": _git_commit(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": _versions(), "started": started, "finished": _now(),
            "status": "ok" if all(r.status == "ok" for r in runs) else "failed",
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        failed = [r for r in runs if r.status != "ok"]
        if failed:
            dest = out.with_name(out.name + ".failed")
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
            msg = "; ".join(f"{r.name} failed" + (f" in cell {r.failed_cell}" if r.failed_cell else "")
                            + f": {r.error}" for r in failed)
            if kernel_tail and any(not r.failed_cell for r in failed):  # the kernel itself failed: show why
                msg += f"\nkernel output:\n{kernel_tail}"
            raise ReportError(f"{msg}. The previous report in {out} is unchanged; the failed run is kept in {dest}")
        old = out.with_name(f".old-{out.name}-{os.getpid()}")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        return ReportResult(out, tuple(runs), manifest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_table(df, name: str, output_dir: str | Path = ".", *, index: bool = True) -> Path:
    """Write a result table as ``<output_dir>/tables/<name>.csv`` (stable float format) and return the path."""
    path = Path(output_dir) / "tables" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=index, float_format="%.10g")
    return path


def figure_path(name: str, output_dir: str | Path = ".") -> Path:
    """Where a report figure goes: ``<output_dir>/figures/<name>.png``."""
    return Path(output_dir) / "figures" / f"{name}.png"
