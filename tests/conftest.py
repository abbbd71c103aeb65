"""Shared test set-up: the public data mirror beside the project, a non-interactive plot backend,
and one clear skip reason for tests whose public data files are not available.

Public data files come through the registry (a mirror, the cache, or a download). On a fresh
machine with neither ``../shared`` nor network, the tests that need them are skipped with the
reason below, and their number is printed at the end of the run; everything else runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED_ROOT = Path(os.environ.get("PAINSTUDY_SHARED_ROOT", ROOT.parent / "shared"))
SHARED = Path(os.environ.get("PAINSTUDY_SHARED", SHARED_ROOT / "datasets"))
# tests read the public data files from ../shared/datasets, through the registry's mirror
if SHARED.is_dir():
    os.environ.setdefault("PAINSTUDY_DATA_MIRROR", str(SHARED))

NO_DATA = (
    "public data not available: no mirror ({}) and no network; set PAINSTUDY_DATA_MIRROR "
    "to a copy of the project's shared datasets"
)
_SKIPPED_FOR_DATA: list[str] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still part of the suite)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test (or fixture) stopped by a missing public data file is reported as skipped, not failed."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.outcome != "failed":
        return
    from painstudy.datasets import DatasetUnavailable

    missing_shared = (
        call.excinfo.errisinstance(FileNotFoundError)
        and str(SHARED_ROOT) in str(call.excinfo.value)
        and not SHARED_ROOT.is_dir()
    )
    if call.excinfo.errisinstance(DatasetUnavailable) or missing_shared:
        reason = NO_DATA.format(SHARED)
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
        _SKIPPED_FOR_DATA.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """With ``PAINSTUDY_LEDGER`` set, write the reference comparisons for the validation report."""
    path = os.environ.get("PAINSTUDY_LEDGER")
    if path:
        import ledger

        ledger.write(path)


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED_FOR_DATA:
        n = len(set(_SKIPPED_FOR_DATA))
        terminalreporter.write_line(f"{n} test(s) skipped: " + NO_DATA.format(SHARED), yellow=True)


def shared_or_skip(*parts: str) -> Path:
    """A file or folder under ``../shared`` (e.g. ``"references", "mmrm_sas"``), or skip the test."""
    p = SHARED_ROOT.joinpath(*parts)
    if not p.exists():
        pytest.skip(NO_DATA.format(SHARED))
    return p


@pytest.fixture(scope="session")
def shared() -> Path:
    """The folder of the public reference datasets (../shared/datasets); skips when absent."""
    if not SHARED.exists():
        pytest.skip(NO_DATA.format(SHARED))
    return SHARED


@pytest.fixture(scope="session")
def demo_cohort():
    import painstudy

    return painstudy.load_cohort("demo")


@pytest.fixture(scope="session")
def vickers_cohort(shared):
    import painstudy

    return painstudy.load_cohort("vickers2004")


@pytest.fixture(scope="session")
def demo_raw() -> pd.DataFrame:  # noqa: F821
    import pandas as pd

    return pd.read_csv(
        ROOT / "painstudy" / "datasets" / "studies" / "demo" / "data.csv", dtype=str, keep_default_na=False
    )
