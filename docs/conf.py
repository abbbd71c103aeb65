"""Sphinx configuration of the painstudy documentation (built by `make docs`, offline, warnings as errors)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painstudy.version import __version__  # noqa: E402

project = "painstudy"
author = "the painstudy developers"
copyright = "2026, the painstudy developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
html_theme = "furo"
html_title = f"painstudy {__version__}"
# no network while building: no intersphinx, no remote images
suppress_warnings = ["myst.xref_missing"]
