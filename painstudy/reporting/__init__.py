"""Reports: parameterised notebooks run into a folder with a provenance manifest.

- :mod:`~painstudy.reporting.runner`: :func:`run_report` (staging, one process per notebook,
  atomic replacement of the output folder, failed runs kept with their logs);
- :mod:`~painstudy.reporting.parameters`: parameters are checked values, injected as literals;
- :mod:`~painstudy.reporting.provenance`: files read (recorded where read), versions, commit,
  the volatile facts of a run;
- :mod:`~painstudy.reporting.notebook`: what the notebooks call (:func:`save_table`,
  :func:`figure_path`, :func:`record_inputs`);
- :mod:`~painstudy.reporting.execute`: the process that runs one notebook.

The rule for output folders (replace only what painstudy wrote) lives in :mod:`painstudy.outputs`.
"""

from __future__ import annotations

from pathlib import Path

from ..io import sha256_file
from .notebook import figure_path, record_inputs, records_inputs, save_figures, save_table, save_tables
from .parameters import ParameterError, check_parameters, notebook_parameters, read_parameters
from .provenance import display_path, study_inputs
from .runner import (
    DEFAULT_NOTEBOOKS,
    NOTEBOOK_DIR,
    NotebookRun,
    ReportResult,
    default_jobs,
    report_job,
    resolve_notebooks,
    run_report,
)

__all__ = [
    "default_jobs",
    "run_report",
    "report_job",
    "ReportResult",
    "NotebookRun",
    "resolve_notebooks",
    "DEFAULT_NOTEBOOKS",
    "NOTEBOOK_DIR",
    "save_table",
    "save_tables",
    "figure_path",
    "save_figures",
    "record_inputs",
    "records_inputs",
    "ParameterError",
    "check_parameters",
    "notebook_parameters",
    "read_parameters",
    "display_path",
    "study_inputs",
    "sha256_file",
]

#: Deprecated (kept importable): the folder above the package. painstudy no longer assumes a
#: checkout; outputs go to ``./reports/<study>`` or ``--out`` and shipped files are package data.
ROOT = Path(__file__).resolve().parents[2]
