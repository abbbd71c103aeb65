"""Run one report notebook in a process of its own: ``python -m painstudy.reporting.execute JOB.json``.

The runner (:mod:`painstudy.reporting.runner`) starts one such process per notebook, with its
output going to the notebook's own log file and its working folder set to the report's staging
folder. The process executes the (already parameterised) notebook with papermill in a kernel
of this Python interpreter (or a named kernelspec), removes run times and machine paths from
the executed notebook, exports it to HTML and writes its outcome as JSON. It stops, and stops
its kernel, when it receives SIGTERM or SIGINT or when the runner that started it disappears
(e.g. killed with SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: Cell and notebook metadata that record when and where a run happened (removed: kept in run.json).
_VOLATILE_NB = ("start_time", "end_time", "duration", "input_path", "output_path")
_VOLATILE_CELL = ("start_time", "end_time", "duration")
#: The memory address in a default object repr ("<Figure ... at 0x7f8de944f350>").
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def now() -> str:
    """The current UTC time, to the second, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def kernel_manager(kernel: str | None, connection_file: Path):
    """A kernel manager for ``kernel`` (a kernelspec name), or for this interpreter when ``None``."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    if kernel:
        return KernelManager(kernel_name=kernel, connection_file=str(connection_file))

    class ThisInterpreter(KernelSpecManager):
        """The kernelspec ``painstudy``: ipykernel in the Python running painstudy, whatever is installed."""

        def get_kernel_spec(self, kernel_name, *args, **kwargs):
            return KernelSpec(
                argv=[
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                    "--HistoryManager.hist_file=:memory:",
                ],
                display_name="Python 3 (painstudy)",
                language="python",
                resource_dir="",
            )

    return KernelManager(
        kernel_name="painstudy", kernel_spec_manager=ThisInterpreter(), connection_file=str(connection_file)
    )


def _stop_kernel(km) -> None:
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - the loop may be gone after an interruption: kill it directly
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        km.cleanup_resources()
    except Exception:  # noqa: BLE001
        pass


def scrub(path: Path) -> None:
    """Remove run times and machine paths from an executed notebook, so that a re-run is identical."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    pm = nb.metadata.get("papermill", {})
    for key in _VOLATILE_NB:
        pm.pop(key, None)
    pm["input_path"] = pm["output_path"] = path.name
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in _VOLATILE_CELL:
            cell.metadata.get("papermill", {}).pop(key, None)
        for out in cell.get("outputs", []):  # "<... Styler at 0x7f...>": a memory address differs on every run
            plain = out.get("data", {}).get("text/plain")
            if isinstance(plain, str):
                out["data"]["text/plain"] = _ADDRESS.sub(">", plain)
    nbformat.write(nb, str(path))


def export_html(ipynb: Path, html: Path, show_code: bool) -> None:
    """The executed notebook as a standalone HTML page (code hidden unless ``show_code``)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    title = next(
        (
            c.source.splitlines()[0].lstrip("# ").strip()
            for c in nb.cells
            if c.cell_type == "markdown" and c.source.startswith("# ")
        ),
        ipynb.stem,
    )
    exporter = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    html.write_text(body, encoding="utf-8")


def execute(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job's notebook; return ``{status, error, failed_cell}`` (status ``ok``, ``failed`` or
    ``interrupted``)."""
    import papermill as pm

    target = Path(job["output"])
    km = kernel_manager(job.get("kernel"), Path(job["connection_file"]))
    error, cell, status = "", None, "ok"
    try:
        pm.execute_notebook(
            job["input"],
            str(target),
            parameters=None,
            km=km,
            kernel_name=km.kernel_name,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            start_timeout=120,
        )
    except pm.PapermillExecutionError as e:
        status, cell, error = "failed", e.exec_count, f"{e.ename}: {e.evalue}"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted"
    except Exception as e:  # noqa: BLE001 - kernel died, could not start, ...: reported, not raised
        status, error = "failed", f"{type(e).__name__}: {e}"
    finally:
        _stop_kernel(km)
    if status != "interrupted" and target.exists():
        try:
            scrub(target)
            export_html(target, Path(job["html"]), bool(job.get("show_code")))
        except Exception as e:  # noqa: BLE001 - a full disk, a broken output
            if status == "ok":
                status, error = "failed", f"writing the executed notebook failed: {type(e).__name__}: {e}"
    return {"status": status, "error": error, "failed_cell": cell}


def _on_signal(signum, frame):
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """Stop this process when the runner that started it is gone."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            os._exit(3)


def skip_slow_optional_imports() -> None:
    """Keep jsonschema from loading its optional IRI format checker (``rfc3987_syntax``), which builds a
    parser at import and costs about 3 s in every process that imports nbformat or papermill. Notebook
    schemas use no IRI formats, so validation is unchanged. Only for processes painstudy owns (this one):
    it makes the module unimportable in the process."""
    sys.modules.setdefault("rfc3987_syntax", None)  # None: ``import`` raises ImportError, which jsonschema expects


def main(argv: list[str]) -> int:
    skip_slow_optional_imports()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    threading.Thread(target=_watch_parent, args=(int(job["parent"]),), daemon=True).start()
    started, t0 = now(), time.perf_counter()
    try:
        outcome = execute(job)
    except KeyboardInterrupt:
        outcome = {"status": "interrupted", "error": "interrupted", "failed_cell": None}
    outcome.update(started=started, finished=now(), seconds=round(time.perf_counter() - t0, 2))
    Path(job["result"]).write_text(json.dumps(outcome) + "\n", encoding="utf-8")
    return 0 if outcome["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
