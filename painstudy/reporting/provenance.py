"""Provenance of a report: the files its notebooks read, versions, the commit, the volatile facts.

Paths are shown so that a report travels: a file inside the study folder relative to it
(``data.csv``), a file of the dataset registry as ``registry:<dataset>``, any other file by its name
alone (its SHA-256 identifies it). No absolute path and no user name reaches a manifest or an
HTML page.

Inputs are recorded where they are read: a notebook calls :func:`record_inputs` with the cohort it
loaded (which keeps the source and SHA-256 of the bytes it read); during a report run this appends
to the file named by the environment variable ``PAINSTUDY_REPORT_INPUTS``, which the runner
collects into the manifest.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io import display_path, sha256_file

if TYPE_CHECKING:
    from ..cohort import Cohort

#: Environment variable naming the file where a report notebook records the files it read.
INPUTS_ENV = "PAINSTUDY_REPORT_INPUTS"
_VERSIONED = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "lifelines",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "nbclient",
    "ipykernel",
    "pandera",
    "pyyaml",
    "pooch",
    "great_tables",
    "python-docx",
)


def _registry_file(spec: Any, source: str) -> str | None:
    """``registry:<name>`` when ``source`` is the registry's copy of the study's dataset."""
    data = str(getattr(spec, "data", "") or "")
    if not data.startswith("registry:"):
        return None
    from ..datasets import fetch

    name = data.split(":", 1)[1]
    try:
        local = fetch(name, download=False)
    except Exception:  # noqa: BLE001 - not available locally: not the registry's file
        return None
    return f"registry:{name}" if Path(local).resolve() == Path(source).resolve() else None


def input_record(
    path: str | Path, sha256: str | None = None, study_root: str | Path | None = None, role: str = ""
) -> dict[str, str]:
    """``{"path", "sha256", "role"}`` for one file read (the SHA-256 computed when not given)."""
    return {"path": display_path(path, study_root), "sha256": sha256 or sha256_file(path), "role": role}


def records_inputs(cohort: Cohort) -> list[dict[str, str]]:
    """The other files a study declares beside its data: each daily measure's file (study.yml ``daily:``)
    and the medication records (``medication:``), for ``record_inputs(cohort, also=...)`` in a notebook
    that reads them."""
    spec, out, seen = cohort.spec, [], set()
    root = Path(spec.root) if spec.root is not None else Path(".")
    files = [(m.file, "daily data") for m in (getattr(spec, "daily", None) or {}).values()]
    medication = getattr(spec, "medication", None)
    if medication is not None:
        files.append((medication.file, "medication records"))
    for file, role in files:
        path = Path(file) if Path(file).is_absolute() else root / file
        if path.is_file() and path not in seen:
            seen.add(path)
            out.append(input_record(path, study_root=spec.root, role=role))
    return out


def cohort_inputs(cohort: Cohort) -> list[dict[str, str]]:
    """The files a cohort was built from: its study.yml and its data file (with the SHA-256 of the
    bytes the cohort read)."""
    spec, source = cohort.spec, cohort.source
    root = spec.root
    out = []
    if root is not None and (Path(root) / "study.yml").is_file():
        out.append(input_record(Path(root) / "study.yml", study_root=root, role="study definition"))
    if source and Path(source).is_file():  # not for a cohort built from an in-memory table
        record = input_record(source, cohort.sha256 or None, root, role="data")
        record["path"] = _registry_file(spec, source) or record["path"]
        out.append(record)
    return out


def record_inputs(cohort: Cohort, also: Sequence[Mapping[str, str]] = ()):
    """Record the files a notebook's cohort was read from; return them as Markdown for display.

    Call it in a report notebook right after loading the data. During ``painstudy report`` the
    records go into the report's manifest; in JupyterLab this only displays them. ``also`` adds other
    files the notebook read (``role``, ``path`` as shown, ``sha256``), e.g. the SAS listings a
    reproduction reads its published numbers from.
    """
    from IPython.display import Markdown

    records = cohort_inputs(cohort) + [{"path": r["path"], "sha256": r["sha256"], "role": r["role"]} for r in also]
    target = os.environ.get(INPUTS_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    lines = [f"- {r['role']}: `{r['path']}` (SHA-256 `{r['sha256'][:16]}...`)" for r in records]
    return Markdown("**Files read**\n\n" + "\n".join(lines))


def collect_inputs(files: dict[str, Path]) -> list[dict[str, Any]]:
    """Merge the per-notebook records (``{notebook: jsonl file}``): one entry per distinct file and
    checksum, with the notebooks that read it, in first-read order."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for notebook, path in files.items():
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            entry = merged.setdefault((r["path"], r["sha256"]), {**r, "read_by": []})
            if notebook not in entry["read_by"]:
                entry["read_by"].append(notebook)
    return list(merged.values())


def git_commit() -> str | None:
    """The commit of the painstudy code when it runs from a git checkout, else ``None``; ``+dirty``
    when files of the package itself differ from the commit (report outputs do not count)."""
    from ..version import install_info

    if install_info()["installed_as"] != "checkout":
        return None
    pkg = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(pkg), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(pkg), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """What produced a report and does not change between runs on the same installation."""
    from ..version import install_info

    packages = {}
    for name in _VERSIONED:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "painstudy": {**install_info(), "commit": git_commit()},
        "python": platform.python_version(),
        "packages": packages,
    }


def volatile(started: str, finished: str, notebooks: list[dict[str, Any]]) -> dict[str, Any]:
    """The facts that differ on every run (kept apart in ``run.json``): times, host, platform."""
    return {
        "note": "facts of this run that differ between runs; everything else in the report is reproducible",
        "started": started,
        "finished": finished,
        "host": platform.node(),
        "platform": platform.platform(),
        "notebooks": notebooks,
    }


def study_inputs(study: Any, data: str | Path | None = None) -> list[dict[str, str]]:
    """The files a study's report would read (its study.yml and data file), with their SHA-256.

    A report's manifest lists the files its notebooks actually read (:func:`record_inputs`);
    this is what the study definition names, for a look before running.
    """
    from ..cohort import resolve_study
    from ..datasets import fetch

    spec = resolve_study(study)
    out = []
    if spec.root is not None and (Path(spec.root) / "study.yml").is_file():
        out.append(input_record(Path(spec.root) / "study.yml", study_root=spec.root, role="study definition"))
    if data:
        out.append(input_record(data, study_root=spec.root, role="data"))
    elif spec.data and spec.data.startswith("registry:"):
        name = spec.data.split(":", 1)[1]
        out.append({**input_record(fetch(name), role="data"), "path": f"registry:{name}"})
    elif spec.data_path:
        out.append(input_record(spec.data_path, study_root=spec.root, role="data"))
    return out
