"""The dataset registry: registered studies and their checksummed public data files.

Every registered study has a ``study.yml`` in the project's ``datasets/<name>/`` folder. Its
data file is either bundled (the simulated demo study) or public: the registry then looks for
it first in a local mirror folder named by the environment variable ``PAINSTUDY_DATA_MIRROR``
(laid out like ``<mirror>/<folder>/<file>``), then in ``../shared/datasets`` beside the project
folder if there is one, then in the download cache, and otherwise
downloads it from its public source pinned to a commit (with pooch) and verifies its SHA-256.
A file whose checksum does not match is refused, never used.

Examples
--------
>>> from painstudy.datasets import list_datasets
>>> int(list_datasets().loc["vickers2004", "subjects"])
401
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DatasetError

#: Environment variable naming a local mirror folder of the public data files.
MIRROR_ENV = "PAINSTUDY_DATA_MIRROR"
#: Environment variable overriding where downloads are cached.
CACHE_ENV = "PAINSTUDY_DATA_CACHE"
#: Environment variable overriding the folder holding the studies' study.yml files.
STUDIES_ENV = "PAINSTUDY_STUDIES"


@dataclass(frozen=True)
class DatasetEntry:
    """A public data file: where it comes from and the checksum it must have."""

    name: str
    title: str
    folder: str           # folder in the mirror (and in ../shared/datasets)
    file: str             # file name in the mirror
    sha256: str           # of the mirror file (what the study reads)
    url: str              # public source, pinned to a commit
    url_sha256: str | None  # checksum of what the URL serves (None: unknown, see note)
    convert: str | None   # "rda": the source is an R data file converted to CSV on download
    subjects: int
    note: str = ""


_GH = "https://raw.githubusercontent.com"

REGISTRY: dict[str, DatasetEntry] = {
    e.name: e for e in [
        DatasetEntry(
            "vickers2004", "Acupuncture for chronic headache in primary care (Vickers et al., BMJ 2004)",
            "vickers2004_acupuncture_headache", "acupuncture_headache.csv",
            "7db543207abf83d2b91bdd56374a1479a532837c57c0d5f34ea01b1707289520",
            f"{_GH}/darshanmehta17/acupuncture_analysis/04d637af0806757197db38c8d5c09ad77ff77076/data/raw_data.csv",
            "7db543207abf83d2b91bdd56374a1479a532837c57c0d5f34ea01b1707289520", None, 401,
            "Raw data released with Vickers, Trials 2006;7:15 (CC BY)."),
        DatasetEntry(
            "chow2006", "Low-level laser vs sham for chronic neck pain (Chow et al., Pain 2006)",
            "chow2006_laser_neck_pain", "neck_pain.csv",
            "062af6e7b305f8f3ea21110b0585be06517a442adfe8643c51a1618cdeca9592",
            f"{_GH}/cran/ordinalCont/79d84b2a442bdefd148e9f515d33d9a95200078f/data/neck_pain.rda",
            None, "rda", 90,
            "Data set neck_pain of the R package ordinalCont (GPL >= 2). The checksum of the .rda at the "
            "pinned commit is not recorded: a download is accepted only when the converted table equals "
            "the mirror's content hash."),
        DatasetEntry(
            "fev", "FEV1 benchmark data of the R package mmrm (artificial)", "mmrm_fev_bcva", "fev_data.csv",
            "e059dfc92ca850039178afd9950b3bd8d9523b70acdd2bf632870d04ddff5498",
            f"{_GH}/openpharma/mmrm/ec290b2695b25057b31bc98e27c39d3f498cd0d6/data/fev_data.rda",
            "82c4b7a9b056014b035a1a8016c1d9b6a669f042e693742b563e704ac4a650d6", "rda", 200,
            "Apache-2.0."),
        DatasetEntry(
            "bcva", "BCVA benchmark data of the R package mmrm (artificial)", "mmrm_fev_bcva", "bcva_data.csv",
            "4e22c3a2c2b7915006c16d76b01b366a80b9bb5bf43ff1542d4adee2b23552b2",
            f"{_GH}/openpharma/mmrm/ec290b2695b25057b31bc98e27c39d3f498cd0d6/data/bcva_data.rda",
            "7936982a31844644a3f6f4237c55feebb48b14ffecf4b98b77584115128bf99b", "rda", 1000,
            "Apache-2.0."),
    ]
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def studies_dir() -> Path:
    """The folder holding ``<study>/study.yml`` (the project's ``datasets/``)."""
    env = os.environ.get(STUDIES_ENV)
    if env:
        return Path(env)
    return Path(str(resources.files("painstudy.datasets") / "studies"))


def registered_studies() -> list[str]:
    """Names of the studies with a study.yml in :func:`studies_dir`."""
    return sorted(p.parent.name for p in studies_dir().glob("*/study.yml"))


def study_path(name: str) -> Path:
    """The study.yml of a registered study."""
    p = studies_dir() / name / "study.yml"
    if not p.exists():
        raise DatasetError(f"unknown study {name!r}: not a file or folder, and not a registered study "
                           f"({', '.join(registered_studies())})")
    return p


def list_datasets() -> pd.DataFrame:
    """The public datasets of the registry and whether each is available locally."""
    rows = []
    for e in REGISTRY.values():
        local = _local_copy(e)
        rows.append({"name": e.name, "title": e.title, "subjects": e.subjects, "file": e.file,
                     "sha256": e.sha256, "source": e.url, "available": local is not None,
                     "path": str(local) if local else ""})
    return pd.DataFrame(rows).set_index("name")


def cache_dir() -> Path:
    """Where downloads are kept: ``$PAINSTUDY_DATA_CACHE``, else the user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    # pooch.os_cache's location, without importing pooch (which pulls in tqdm.auto) at every load
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ("Library/Caches" if sys.platform == "darwin" else ".cache"))
    return Path(base) / "painstudy"


def mirror_dirs() -> list[Path]:
    """Mirror folders searched: ``$PAINSTUDY_DATA_MIRROR`` when set; otherwise ``../shared/datasets``
    beside the project folder when it exists (the layout of the project's workspace and CI)."""
    env = os.environ.get(MIRROR_ENV)
    if env is not None:
        return [Path(env)] if env else []
    out = []
    beside = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    if beside.is_dir():
        out.append(beside)
    return out


def _local_copy(e: DatasetEntry) -> Path | None:
    candidates = []
    for mirror in mirror_dirs():
        candidates += [mirror / e.folder / e.file, mirror / e.file]
    candidates.append(cache_dir() / e.folder / e.file)
    for c in candidates:
        if c.exists():
            return c
    return None


def fetch(name: str, *, download: bool = True) -> Path:
    """The verified local path of a registered dataset's file (downloading it if needed).

    Raises
    ------
    DatasetError
        Unknown name; a local copy with the wrong checksum; no local copy and the download failed.
    """
    try:
        e = REGISTRY[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; registered: {', '.join(REGISTRY)}") from None
    local = _local_copy(e)
    if local is not None:
        got = _sha256(local)
        if got != e.sha256:
            raise DatasetError(f"{local}: SHA-256 {got} does not match the registry's {e.sha256} for "
                               f"{name!r}; the file was changed or is another version: refusing to use it")
        return local
    if not download:
        raise DatasetError(f"dataset {name!r} is not available locally; set {MIRROR_ENV} to a mirror folder "
                           f"or run `painstudy datasets fetch {name}`")
    return _download(e)


def _download(e: DatasetEntry) -> Path:
    import pooch

    target = cache_dir() / e.folder
    target.mkdir(parents=True, exist_ok=True)
    try:
        got = pooch.retrieve(e.url, known_hash=f"sha256:{e.url_sha256}" if e.url_sha256 else None,
                             path=target, fname=Path(e.url).name, progressbar=False)
    except Exception as exc:  # network errors, hash mismatch
        raise DatasetError(f"could not download dataset {e.name!r} from {e.url}: {exc}. With no network, set "
                           f"{MIRROR_ENV} to a folder holding {e.folder}/{e.file}") from None
    got = Path(got)
    if e.convert == "rda":
        try:
            import pyreadr
        except ImportError:
            raise DatasetError(f"dataset {e.name!r} comes as an R data file; converting it needs pyreadr "
                               f"(pip install pyreadr), or use a mirror ({MIRROR_ENV})") from None
        frames = pyreadr.read_r(str(got))
        df = next(iter(frames.values()))
        out = target / e.file
        df.to_csv(out, index=False, na_rep="NA")
        if _sha256(out) != e.sha256:
            out.unlink()
            raise DatasetError(f"dataset {e.name!r}: the converted download does not match the registry's "
                               f"SHA-256 {e.sha256}; use the mirror ({MIRROR_ENV}) instead")
        return out
    final = target / e.file
    if got != final:
        got.replace(final)
    return final
