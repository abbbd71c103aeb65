"""The registry of published sources that ``painstudy reproduce`` recomputes (no numerical imports: the
command line lists the names from here).

A source is a published-numbers file (``published/<name>.csv``, see :mod:`painstudy.reproduce.published`),
a recomputation (``recompute(cohort) -> {item: value}`` in the source's module) and an entry below.
Reference files that painstudy does not ship (SAS listings) are looked up at run time, see
:func:`references_folder`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PainstudyError

__all__ = ["REFERENCES_ENV", "ReferencesError", "SOURCES", "Source", "references_folder"]

#: Environment variable naming a folder of reference files laid out as ``../shared/references``
#: (``<folder>/mmrm_sas/sas_log_reml.txt``), or the folder of one source's files itself.
REFERENCES_ENV = "PAINSTUDY_REFERENCES"


class ReferencesError(PainstudyError):
    """Reference files a reproduction reads (e.g. SAS listings) that cannot be found."""


@dataclass(frozen=True)
class Source:
    """A published source and how painstudy recomputes it.

    Attributes
    ----------
    name : str
        The command's name for it (``painstudy reproduce NAME``).
    title, citation : str
        What it is and where it was published.
    study : str
        The registered study (``painstudy/datasets/studies/<study>/study.yml``) whose data set, from the
        checksummed dataset registry, the recomputation reads.
    module : str
        The module holding ``recompute(cohort)`` (and optionally ``REASONS`` and ``FIGURES``).
    notebooks : tuple of str
        The report notebooks ``painstudy reproduce`` runs.
    reads : str
        ``""``: every published value is in the file; ``"sas-listing"``: values left empty are read from
        SAS listings (``source`` names the file) in the folder :func:`references_folder` finds.
    references : str
        The folder of the reference files inside a references folder (``mmrm_sas``).
    reference_files : tuple of str
        The files that must be there.
    """

    name: str
    title: str
    citation: str
    study: str
    module: str
    notebooks: tuple = ()
    reads: str = ""
    references: str = ""
    reference_files: tuple = ()


SOURCES = {
    s.name: s
    for s in (
        Source(
            name="vickers2004",
            title="Acupuncture for chronic headache in primary care (Vickers et al., BMJ 2004)",
            citation="Vickers AJ, Rees RW, Zollman CE, et al. BMJ 2004;328:744. doi:10.1136/bmj.38029.421863.EB",
            study="vickers2004",
            module="painstudy.reproduce.vickers2004",
            notebooks=("05_reproduce_vickers2004", "06_sensitivity"),
        ),
        Source(
            name="sas-fev",
            title="SAS PROC MIXED on fev_data: MMRM by REML and ML, and the intercept-only model",
            citation=(
                "SAS PROC MIXED listings published by the R package mmrm (openpharma/mmrm, design/SAS/, "
                "commit ec290b2695b25057b31bc98e27c39d3f498cd0d6, Apache-2.0)"
            ),
            study="fev",
            module="painstudy.reproduce.sas_fev",
            notebooks=("05_reproduce_sas-fev",),
            reads="sas-listing",
            references="mmrm_sas",
            reference_files=("sas_log_reml.txt", "sas_log.txt", "sas_log_simple_reml.txt"),
        ),
        Source(
            name="rbmi-antidepressant",
            title="Reference-based imputation on the antidepressant trial (R rbmi, jump to reference)",
            citation=(
                'R package rbmi 1.5.2, vignette "CondMean_Inference" (insightsengineering/rbmi, commit '
                "c872d4ac7e5406ec50ae9fe4d56898c6ecb7ec03); data: DIA Scientific Working Group on Estimands "
                "and Missing Data, from Goldstein et al., J Clin Psychopharmacol 2004;24:389-399"
            ),
            study="antidepressant",
            module="painstudy.reproduce.rbmi_antidepressant",
            notebooks=("05_reproduce_rbmi-antidepressant",),
        ),
    )
}


def references_folder(source: Source, given: str | os.PathLike | None = None) -> Path | None:
    """The folder holding ``source``'s reference files, or ``None`` when the source reads none.

    Looked up, first match wins: ``given`` (the folder of the files, or a references folder holding
    ``<source.references>/``); ``$PAINSTUDY_REFERENCES`` (either kind of folder); beside the data mirror
    (``$PAINSTUDY_DATA_MIRROR/../references/<source.references>``); ``../shared/references/<...>`` from the
    current folder; and ``../shared/references/<...>`` beside a source checkout of painstudy.

    Raises
    ------
    ReferencesError
        When no folder holds every file (one line naming the files and where they were looked for).
    """
    if not source.reference_files:
        return None
    sub = source.references
    tried: list[Path] = []
    if given is not None:
        tried += [Path(given), Path(given) / sub]
    else:
        env = os.environ.get(REFERENCES_ENV)
        if env:
            tried += [Path(env), Path(env) / sub]
        mirror = os.environ.get("PAINSTUDY_DATA_MIRROR")
        if mirror:
            tried.append(Path(mirror).parent / "references" / sub)
        tried.append(Path("..") / "shared" / "references" / sub)
        tried.append(Path(__file__).resolve().parents[3] / "shared" / "references" / sub)
    for folder in tried:
        if all((folder / f).is_file() for f in source.reference_files):
            return folder.resolve()
    where = ", ".join(dict.fromkeys(str(t) for t in tried))
    raise ReferencesError(
        f"{source.name}: reference files not found: {', '.join(source.reference_files)} (looked in {where}); "
        f"give the folder holding them with --references PATH (they are {source.citation})"
    )
