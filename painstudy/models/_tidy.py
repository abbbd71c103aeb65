"""Shared rendering of result objects: scalars as a line, every DataFrame field as a table."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pandas as pd


class TidyResult:
    """Mixin for frozen dataclass results: ``_repr_html_`` for JupyterLab and a plain-text ``__str__``."""

    _title = "Result"

    def _frames(self) -> list[tuple[str, pd.DataFrame]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)  # type: ignore[arg-type]
                if isinstance(getattr(self, f.name), pd.DataFrame)]

    def _scalars(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)  # type: ignore[arg-type]
                if isinstance(getattr(self, f.name), (int, float, str, bool))]

    def _repr_html_(self) -> str:
        parts = [f"<h4>{self._title}</h4>"]
        sc = self._scalars()
        if sc:
            parts.append("<p>" + "; ".join(f"{k}: {v}" for k, v in sc) + "</p>")
        for name, df in self._frames():
            parts.append(f"<p><b>{name}</b></p>")
            parts.append(df.to_html(index=False, float_format=lambda x: f"{x:.4g}", max_rows=60))
        return "\n".join(parts)

    def __str__(self) -> str:
        parts = [self._title] + [f"  {k}: {v}" for k, v in self._scalars()]
        with pd.option_context("display.width", 140, "display.max_columns", 30):
            for name, df in self._frames():
                parts += [f"{name}:", df.to_string(index=False, float_format=lambda x: f"{x:.4g}", max_rows=40)]
        return "\n".join(parts)
