"""The package version, and how this copy of painstudy was installed (recorded in every manifest)."""

from __future__ import annotations

__version__ = "0.2.0"


def install_info() -> dict:
    """``{"version", "installed_as"}``: ``installed_as`` is ``wheel`` (installed into site-packages
    from a wheel or sdist), ``checkout`` (a git checkout, usually installed with ``pip install -e``)
    or ``source`` (a folder that is neither)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    if {"site-packages", "dist-packages"} & set(here.parts):
        how = "wheel"
    elif (here.parent / ".git").exists():
        how = "checkout"
    else:
        how = "source"
    return {"version": __version__, "installed_as": how}
