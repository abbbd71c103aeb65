"""Plots: every function takes ``ax=None``, draws on the Axes it is given (or on a new Figure) and
returns the Axes (lifelines' habit); the Figure is ``ax.figure``. Arms have the same
colour-blind-safe colour in every plot (:mod:`painstudy.plotting.style`).

:func:`save_figure` writes figures deterministically (fixed metadata), so the same inputs give
byte-identical files, and never replaces a file that painstudy did not write.
"""

from __future__ import annotations

from pathlib import Path

from painstudy.errors import DataFileError
from painstudy.io import output_file

__all__ = ["save_figure", "FIGURE_FORMATS", "check_figure_path", "written_by_painstudy"]

#: Formats save_figure writes (deterministic output) and the mark each file carries.
FIGURE_FORMATS = {
    ".png": b"tEXtSoftware\x00painstudy",
    ".svg": b"<dc:title>painstudy</dc:title>",
    ".pdf": b"/Creator (painstudy)",
}
_METADATA = {
    ".png": {"Software": "painstudy"},
    ".svg": {"Creator": "painstudy", "Date": None},
    ".pdf": {"Creator": "painstudy", "Producer": None, "CreationDate": None, "ModDate": None},
}


def written_by_painstudy(path: str | Path) -> bool:
    """True when ``path`` is a figure that :func:`save_figure` wrote (it carries painstudy's mark)."""
    p = Path(path)
    mark = FIGURE_FORMATS.get(p.suffix.lower())
    try:
        return mark is not None and mark in p.read_bytes()
    except OSError:
        return False


def check_figure_path(path: str | Path) -> Path:
    """The path of a figure to write, checked: a supported format (png, svg, pdf) and not an existing
    file that painstudy did not write (:func:`painstudy.io.output_file`)."""
    p = Path(path)
    if p.suffix.lower() not in FIGURE_FORMATS:
        shown = f"'{p.suffix}'" if p.suffix else "no extension"
        raise DataFileError(
            f"{path}: unsupported figure format ({shown}); supported: {', '.join(s[1:] for s in FIGURE_FORMATS)}"
        )
    return output_file(p, what="figure", replace_ok=written_by_painstudy)


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Save a Figure as PNG, SVG or PDF with fixed metadata, so re-runs give identical bytes.

    ``fig`` may also be an Axes (its Figure is saved). An unsupported extension, or an existing
    file that painstudy did not write, is refused with :class:`~painstudy.errors.DataFileError`.
    """
    from matplotlib.axes import Axes

    path = check_figure_path(path)
    if isinstance(fig, Axes):
        fig = fig.figure
    suffix = path.suffix.lower()
    kwargs = {"metadata": _METADATA[suffix]}
    if suffix == ".svg":
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "painstudy"}):
            fig.savefig(path, dpi=dpi, bbox_inches="tight", **kwargs)
    else:
        fig.savefig(path, dpi=dpi, bbox_inches="tight", **kwargs)
    return path
