"""Shared test set-up: the data mirror beside the project, a non-interactive plot backend."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAINSTUDY_SHARED", ROOT.parent / "shared" / "datasets"))
# tests read the public data files from ../shared/datasets, through the registry's mirror
os.environ.setdefault("PAINSTUDY_DATA_MIRROR", str(SHARED))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still part of the suite)")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The folder of the public reference datasets (../shared/datasets)."""
    if not SHARED.exists():
        pytest.fail(f"reference datasets not found at {SHARED}: the test suite needs ../shared/datasets")
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
def demo_raw() -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    return pd.read_csv(ROOT / "painstudy" / "datasets" / "studies" / "demo" / "data.csv", dtype=str, keep_default_na=False)
