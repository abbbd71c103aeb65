"""One-command reproductions of published results: every published number beside ours.

A published source is three things (adding one is data plus a short function):

- a file of published numbers, ``published/<name>.csv`` (package data; the format is described in
  :mod:`painstudy.reproduce.published`): each number as printed, its tolerance rule, where it is printed
  and, if ours may legitimately differ, why; numbers in raw output that painstudy cannot ship (SAS
  listings) are named by file, table, row and column and read from there at run time;
- a module with ``recompute(cohort) -> {item: value}``, computing every item through the public API from
  the registered study's data (which comes through the checksummed dataset registry);
- an entry of :data:`SOURCES` (:mod:`painstudy.reproduce.sources`).

:func:`reproduce` runs one and returns a :class:`Reproduction`, whose ``table`` has the columns
``item, published, reproduced, tolerance, status, reason, source``:

- the tolerance is what the published number's printed precision implies (half a unit of its last printed
  digit); a printed bound (``<.0001``) is matched by any reproduced value beyond it (tolerance empty);
- ``status`` is ``match`` when ours is within it, ``documented`` when it is not but a written reason
  explains why (e.g. a covariate set the paper does not state), ``differs`` otherwise;
- ``source`` says where the number is printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported on use: the command line lists STUDIES without it
    import pandas as pd

from ..errors import PainstudyError
from .published import Published, PublishedFileError, published_path, read_published
from .sources import SOURCES, ReferencesError, Source, references_folder

#: Source name -> the module of its recomputation (the names ``painstudy reproduce`` accepts).
STUDIES = {name: s.module for name, s in SOURCES.items()}

__all__ = [
    "Published",
    "PublishedFileError",
    "ReferencesError",
    "Reproduction",
    "SOURCES",
    "STUDIES",
    "Source",
    "compare",
    "published_numbers",
    "references_folder",
    "reproduce",
]


@dataclass(frozen=True)
class Reproduction:
    """Published against reproduced numbers, with figures, the data file used and the reference files read."""

    study: str
    table: pd.DataFrame
    figures: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""
    cohort: Any = field(default=None, repr=False)  # the cohort the numbers were computed from
    title: str = ""
    citation: str = ""
    references: tuple = ()  # {"path", "sha256", "role"} of each reference file read (SAS listings)

    @property
    def ok(self) -> bool:
        """True when every item matches or differs for a documented reason."""
        return bool(self.table["status"].isin(["match", "documented"]).all())

    def summary(self) -> pd.Series:
        return self.table["status"].value_counts()

    def header(self) -> str:
        """Markdown: what is reproduced, where it was published and the reference files read."""
        lines = [f"**{self.title or self.study}**", "", f"Published in: {self.citation}" if self.citation else ""]
        if self.references:
            lines += ["", "**Reference files read** (published numbers are read from them, never transcribed)", ""]
            lines += [f"- {r['role']}: `{r['path']}` (SHA-256 `{r['sha256'][:16]}...`)" for r in self.references]
        return "\n".join(lines)

    def publication(self):
        """The comparison as a :class:`~painstudy.publication.PublicationTable`: ours printed with two digits
        more than the published number, rows that are not a match tinted (documented: yellow, differs: red)."""
        import math

        import pandas as pd

        from ..publication import PublicationTable

        t = self.table
        body = pd.DataFrame(
            {
                "item": t["item"].astype(str),
                "published": t["published"].astype(str),
                "reproduced": [reproduced_text(x, p) for x, p in zip(t["reproduced"], t["published"])],
                "tolerance": ["" if not math.isfinite(v) else f"{v:.2g}" for v in t["tolerance"].astype(float)],
                "status": t["status"].astype(str),
            }
        )
        reasons = list(dict.fromkeys(r for r in t["reason"].fillna("").astype(str) if r))
        key = {r: f"[{i}]" for i, r in enumerate(reasons, 1)}  # a long reason once, as a footnote
        body["reason"] = [key.get(r, "") for r in t["reason"].fillna("").astype(str)]
        if "source" in t:
            body["source"] = t["source"].fillna("").astype(str)
        return PublicationTable(
            f"Published and reproduced numbers: {self.title or self.study}",
            body.reset_index(drop=True),
            notes=(
                "tolerance: half a unit of the last printed digit (empty for a printed bound such as <.0001); "
                "documented: a difference explained in reason",
            )
            + tuple(f"{key[r]} {r}" for r in reasons),
            highlight=tuple(STATUS_COLOURS.get(s, "") for s in body["status"]),
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from ..publication import MIMETYPE

        return {MIMETYPE: {"tables": [self.publication().to_json()]}}

    def _repr_html_(self) -> str:
        return self.publication().html()


#: Row colours of the statuses in the comparison table.
STATUS_COLOURS = {"match": "", "documented": "#fff6d5", "differs": "#ffd7d7"}


def reproduced_text(x: float, printed: str) -> str:
    """Ours with two digits more than the published number printed (4 significant digits beside a bound).

    >>> reproduced_text(0.123456, "0.12"), reproduced_text(3.2e-7, "<.0001"), reproduced_text(float("nan"), "1")
    ('0.1235', '3.2e-07', 'missing')
    """
    if x != x:
        return "missing"
    text = str(printed).strip()
    if text[:1] in "<>" or "e" in text.lower():
        return f"{x:.4g}"
    decimals = len(text.split(".")[1].rstrip("%")) if "." in text else 0
    return f"{x:.{decimals + 2}f}"


def compare(
    published: list[Published], reproduced: Mapping[str, float], scale: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The comparison table; ``scale`` converts ours to the printed unit (e.g. 100 for percent)."""
    import math

    import pandas as pd

    rows = []
    for p in published:
        ours = reproduced.get(p.item, math.nan)
        ours = float(ours) * (scale or {}).get(p.item, 1.0) if ours is not None else math.nan
        if p.admits(ours):
            status, reason = "match", ""
        elif p.reason:
            status, reason = "documented", p.reason
        else:
            status, reason = "differs", ""
        rows.append(
            {
                "item": p.item,
                "published": p.printed,
                "reproduced": ours,
                "tolerance": p.tolerance,
                "status": status,
                "reason": reason,
                "source": p.source,
            }
        )
    return pd.DataFrame(rows)


def _source(study: str) -> Source:
    try:
        return SOURCES[study]
    except KeyError:
        raise PainstudyError(f"no reproduction for {study!r}; available: {', '.join(SOURCES)}") from None


def published_numbers(study: str, *, references=None) -> list[Published]:
    """The published numbers of a source, as printed (those of SAS listings read from the listing files).

    ``references``: the folder of the reference files (default: see :func:`references_folder`).
    """
    source = _source(study)
    module = import_module(source.module)
    lookup = None
    if source.reads == "sas-listing":
        from .sas_listing import listing_lookup

        lookup = listing_lookup(references_folder(source, references))
    return read_published(published_path(study), reasons=getattr(module, "REASONS", {}), lookup=lookup)


def reproduce(study: str, *, data=None, references=None) -> Reproduction:
    """Recompute a published source (a name of :data:`SOURCES`) from its raw data (or the file ``data``).

    ``references``: the folder of the reference files the source reads (SAS listings); default: see
    :func:`references_folder`.

    Raises
    ------
    ReferencesError
        When the source's reference files cannot be found.
    PublishedFileError
        When its published-numbers file breaks the format.
    """
    from ..cohort import load_cohort
    from ..io import display_path, sha256_file

    source = _source(study)
    module = import_module(source.module)
    folder = references_folder(source, references)
    published = published_numbers(study, references=folder)
    cohort = load_cohort(source.study, data=data)
    table = compare(published, module.recompute(cohort))
    role = "SAS listing" if source.reads == "sas-listing" else "reference file"
    refs = tuple(
        {"path": display_path(folder / f), "sha256": sha256_file(folder / f), "role": role}
        for f in (source.reference_files if folder is not None else ())
    )
    return Reproduction(
        study,
        table,
        dict(getattr(module, "FIGURES", {})),
        cohort.source,
        cohort.sha256,
        cohort,
        source.title,
        source.citation,
        refs,
    )
