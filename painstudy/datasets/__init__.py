"""The dataset registry: registered studies and their checksummed public data files.

Registered studies have a ``study.yml`` shipped with the package (``painstudy/datasets/studies/``,
read with :mod:`importlib.resources`). A study's data file is either bundled (the simulated demo
study) or public, named ``registry:<name>`` and described in ``registry.yml``. A public file is
taken from, in order:

1. a local mirror folder (``$PAINSTUDY_DATA_MIRROR``, laid out like ``<mirror>/<folder>/<file>``;
   by default ``../shared/datasets`` beside a source checkout): the file must match the registry's
   SHA-256 byte for byte;
2. the download cache (``$PAINSTUDY_DATA_CACHE``, else the user cache folder), holding what an
   earlier download produced: its content must match the registry's content fingerprint;
3. its public source, pinned to a commit: the downloaded bytes must match the source's SHA-256;
   an R data file (``.rda``) is then converted to CSV (pyreadr) and the converted table's content
   must match the registry's content fingerprint. Nothing is cached unless every check passed.

A file that fails a check is refused, never used.

Examples
--------
>>> from painstudy.datasets import list_datasets
>>> int(list_datasets().loc["vickers2004", "subjects"])
401
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from ..io import sha256_file

__all__ = [
    "DatasetEntry",
    "DatasetUnavailable",
    "REGISTRY",
    "MIRROR_ENV",
    "CACHE_ENV",
    "STUDIES_ENV",
    "fetch",
    "list_datasets",
    "registered_studies",
    "study_path",
    "studies_dir",
    "cache_dir",
    "mirror_dirs",
    "content_fingerprint",
    "convert_source",
]

#: Environment variable naming a local mirror folder of the public data files ("" for none).
MIRROR_ENV = "PAINSTUDY_DATA_MIRROR"
#: Environment variable overriding where downloads are cached.
CACHE_ENV = "PAINSTUDY_DATA_CACHE"
#: Environment variable overriding the folder holding the registered studies' study.yml files.
STUDIES_ENV = "PAINSTUDY_STUDIES"


class DatasetUnavailable(DatasetError):
    """A public data file is neither in a mirror nor in the cache, and cannot be downloaded."""


@dataclass(frozen=True)
class DatasetEntry:
    """A public data file: where it comes from and the checks it must pass."""

    name: str
    title: str
    folder: str  # folder in a mirror (and in ../shared/datasets) and in the cache
    file: str  # file name in that folder
    sha256: str  # of the mirror file, byte for byte
    content_sha256: str  # content fingerprint of the table (see content_fingerprint)
    url: str  # public source, pinned to a commit
    url_sha256: str  # of the file the source serves
    source_format: str  # "csv" (used as served) or "rda" (converted with pyreadr)
    source_object: str | None
    drop: tuple[str, ...]  # columns of the source object left out of the conversion
    subjects: int
    license: str = ""


def _load_registry() -> dict[str, DatasetEntry]:
    import yaml

    doc = yaml.safe_load((resources.files("painstudy.datasets") / "registry.yml").read_text(encoding="utf-8"))
    out = {}
    for name, d in doc["datasets"].items():
        src = d["source"]
        out[name] = DatasetEntry(
            name=name,
            title=d["title"],
            folder=d["folder"],
            file=d["file"],
            sha256=d["sha256"],
            content_sha256=d["content_sha256"],
            url=src["url"],
            url_sha256=src["sha256"],
            source_format=src["format"],
            source_object=src.get("object"),
            drop=tuple(src.get("drop") or ()),
            subjects=int(d["subjects"]),
            license=d.get("license", ""),
        )
    return out


#: name -> :class:`DatasetEntry`, from the package's ``registry.yml``.
REGISTRY: dict[str, DatasetEntry] = _load_registry()


# -------------------------------------------------------------------------------------------
# registered studies
# -------------------------------------------------------------------------------------------


def studies_dir() -> Path:
    """The folder holding ``<study>/study.yml`` of the registered studies (package data)."""
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
        raise DatasetError(
            f"unknown study {name!r}: not a file or folder, and not a registered study "
            f"({', '.join(registered_studies())})"
        )
    return p


# -------------------------------------------------------------------------------------------
# where files are looked for
# -------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where downloads are kept: ``$PAINSTUDY_DATA_CACHE``, else the user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (
        Path.home() / ("Library/Caches" if sys.platform == "darwin" else ".cache")
    )
    return Path(base) / "painstudy"


def mirror_dirs() -> list[Path]:
    """Mirror folders searched: ``$PAINSTUDY_DATA_MIRROR`` when set (empty: none); otherwise
    ``../shared/datasets`` beside a source checkout, when it exists."""
    env = os.environ.get(MIRROR_ENV)
    if env is not None:
        return [Path(env)] if env else []
    beside = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return [beside] if beside.is_dir() else []


def _mirror_problem() -> str | None:
    """What is wrong with ``$PAINSTUDY_DATA_MIRROR`` (a path that is not a folder), or None."""
    env = os.environ.get(MIRROR_ENV)
    if not env or Path(env).is_dir():
        return None
    what = "is a file, not a folder" if Path(env).exists() else "no such folder"
    return (
        f"{MIRROR_ENV}={env}: {what}; set it to the mirror folder (laid out like <mirror>/<folder>/<file>, "
        f"a copy of the project's shared datasets), or unset it to use the download cache"
    )


def _mirror_copy(e: DatasetEntry) -> Path | None:
    for mirror in mirror_dirs():
        for c in (mirror / e.folder / e.file, mirror / e.file):
            if c.is_file():
                return c
    return None


def _cached_copy(e: DatasetEntry) -> Path | None:
    c = cache_dir() / e.folder / e.file
    return c if c.is_file() else None


def list_datasets() -> pd.DataFrame:
    """The public datasets of the registry and whether each is available locally."""
    problem = _mirror_problem()
    if problem:
        import warnings

        warnings.warn(problem, UserWarning, stacklevel=2)
    rows = []
    for e in REGISTRY.values():
        local = _mirror_copy(e) or _cached_copy(e)
        rows.append(
            {
                "name": e.name,
                "title": e.title,
                "subjects": e.subjects,
                "file": e.file,
                "sha256": e.sha256,
                "source": e.url,
                "available": local is not None,
                "path": str(local) if local else "",
            }
        )
    return pd.DataFrame(rows).set_index("name")


# -------------------------------------------------------------------------------------------
# checks
# -------------------------------------------------------------------------------------------


def _canonical_cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "NA"
    s = str(v).strip()
    if s in ("", "NA"):
        return "NA"
    try:
        f = float(s)
    except ValueError:
        return s
    return f"{f:.10g}" if math.isfinite(f) else s


def content_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 of a table's content: column names, then each row's values in order, numbers
    written to 10 significant digits, missing values as ``NA``. Two files holding the same table
    (R's ``write.csv`` and a pyreadr conversion, say) have the same fingerprint even though their
    bytes differ.
    """
    h = hashlib.sha256()
    h.update(("\x1f".join(map(str, table.columns)) + "\n").encode("utf-8"))
    for row in table.astype(object).itertuples(index=False):
        h.update(("\x1f".join(_canonical_cell(v) for v in row) + "\n").encode("utf-8"))
    return h.hexdigest()


def _csv_fingerprint(path: Path) -> str:
    return content_fingerprint(pd.read_csv(path, dtype=str, keep_default_na=False))


def convert_source(e: DatasetEntry, source: Path) -> pd.DataFrame:
    """The table of a verified source file (an R data file is read with pyreadr)."""
    if e.source_format == "csv":
        return pd.read_csv(source, dtype=str, keep_default_na=False)
    import pyreadr

    try:
        frames = pyreadr.read_r(str(source))
    except Exception as exc:  # pyreadr's own error types
        raise DatasetError(f"dataset {e.name!r}: cannot read the R data file ({type(exc).__name__}: {exc})") from None
    if e.source_object not in frames:
        raise DatasetError(
            f"dataset {e.name!r}: the R data file has no object {e.source_object!r} (objects: {', '.join(frames)})"
        )
    return frames[e.source_object].drop(columns=list(e.drop))


# -------------------------------------------------------------------------------------------
# fetching
# -------------------------------------------------------------------------------------------


def fetch(name: str, *, download: bool = True) -> Path:
    """The verified local path of a registered dataset's file (downloading it if needed).

    Raises
    ------
    DatasetError
        Unknown name; ``$PAINSTUDY_DATA_MIRROR`` set to a path that is not a folder; a local copy
        that fails its check; a download that fails its checks.
    DatasetUnavailable
        No local copy and no download possible (offline, or ``download=False``); the message
        says how to point the registry at a mirror.
    """
    try:
        e = REGISTRY[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; registered: {', '.join(REGISTRY)}") from None
    problem = _mirror_problem()
    if problem:  # a mirror that was meant but cannot be used: say so rather than look elsewhere
        raise DatasetError(f"dataset {name!r}: {problem}")
    local = _mirror_copy(e)
    if local is not None:
        got = sha256_file(local)
        if got != e.sha256:
            raise DatasetError(
                f"{local}: SHA-256 {got} does not match the registry's {e.sha256} for "
                f"{name!r}; the file was changed or is another version: refusing to use it"
            )
        return local
    cached = _cached_copy(e)
    if cached is not None:
        if sha256_file(cached) == e.sha256 or _csv_fingerprint(cached) == e.content_sha256:
            return cached
        raise DatasetError(
            f"{cached}: the cached copy of {name!r} does not match the registry's content "
            f"fingerprint; delete it to download it again"
        )
    if not download:
        raise DatasetUnavailable(_offline_message(e, "it is not available locally"))
    return _download(e)


def _offline_message(e: DatasetEntry, why: str) -> str:
    return (
        f"dataset {e.name!r}: {why}; set {MIRROR_ENV} to a folder holding {e.folder}/{e.file} "
        f"(a copy of the project's shared datasets) or run `painstudy datasets fetch {e.name}` online"
    )


_FAILED_HOSTS: set[str] = set()


def _download(e: DatasetEntry) -> Path:
    import urllib.parse

    import pooch

    host = urllib.parse.urlsplit(e.url).netloc
    if host in _FAILED_HOSTS:  # one failed connection per process is enough to know we are offline
        raise DatasetUnavailable(
            _offline_message(e, f"it is not available locally and {host} could not be reached earlier")
        )
    target = cache_dir() / e.folder
    with tempfile.TemporaryDirectory(prefix="painstudy-download-") as tmp:
        fname = Path(urllib.parse.urlsplit(e.url).path).name
        try:
            got = pooch.retrieve(
                e.url,
                known_hash=f"sha256:{e.url_sha256}",
                path=tmp,
                fname=fname,
                progressbar=False,
                downloader=pooch.HTTPDownloader(timeout=30),
            )
        except ValueError as exc:  # pooch: hash mismatch (tampered or truncated download)
            raise DatasetError(
                f"dataset {e.name!r}: the file downloaded from {e.url} does not match the "
                f"registry's SHA-256 {e.url_sha256} ({exc}); refusing it, nothing was kept"
            ) from None
        except Exception as exc:  # network errors of requests/urllib3
            _FAILED_HOSTS.add(host)
            raise DatasetUnavailable(
                _offline_message(
                    e, f"it is not available locally and could not be downloaded from {e.url} ({type(exc).__name__})"
                )
            ) from None
        table = convert_source(e, Path(got))
        if content_fingerprint(table) != e.content_sha256:
            raise DatasetError(
                f"dataset {e.name!r}: the converted download does not match the registry's "
                f"content fingerprint {e.content_sha256}; refusing it, nothing was kept"
            )
        staged = Path(tmp) / e.file
        if e.source_format == "csv":
            shutil.copyfile(got, staged)
        else:
            table.to_csv(staged, index=False, na_rep="NA")
        try:
            target.mkdir(parents=True, exist_ok=True)
            final = target / e.file
            shutil.copyfile(staged, target / f".{e.file}.partial")
            os.replace(target / f".{e.file}.partial", final)
        except OSError as exc:
            raise DatasetError(
                f"dataset {e.name!r}: cannot write to the download cache {target} "
                f"({exc.strerror or exc}); set {CACHE_ENV} to a writable folder"
            ) from None
    return final
