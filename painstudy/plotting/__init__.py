"""Plots: each function takes ``ax=None`` (or draws its own Figure), draws and returns it.

:func:`save_figure` writes figures deterministically (fixed metadata), so the same inputs give
byte-identical files.
"""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Save a Figure as PNG (or SVG/PDF) with fixed metadata, so re-runs give identical bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".png":
        metadata = {"Software": None}
    elif suffix == ".svg":
        metadata = {"Date": None, "Creator": None}
    elif suffix == ".pdf":
        metadata = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    else:
        metadata = None
    kwargs = {"metadata": metadata} if metadata else {}
    if suffix == ".svg":
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "painstudy"}):
            fig.savefig(path, dpi=dpi, bbox_inches="tight", **kwargs)
    else:
        fig.savefig(path, dpi=dpi, bbox_inches="tight", **kwargs)
    return path
