"""Folders painstudy writes: the one rule for replacing them, a lock, and atomic replacement.

Every command that writes a folder (``report``, ``reproduce``, ``simulate``) goes through
:class:`OutputFolder`:

- **Only painstudy's own folders are replaced.** A folder may be replaced when it does not exist,
  is empty, or was written by painstudy: it holds a ``manifest.json`` marked ``written_by:
  painstudy`` that lists every file in the folder (:func:`ownership`). Anything else (a file, a
  folder with other files, the current folder or one of its parents, the home folder, the
  installed package) is refused with :class:`OutputError`, before anything is written.
- **One run at a time.** A lock file beside the folder (``.<name>.lock``) makes a second run on the
  same folder stop at once with a message naming the running process.
- **Nothing half-written.** The new content is written to a staging folder beside the target
  (``.tmp-<name>-<pid>-<token>``) and swapped in at the end; on failure or interruption the
  staging folder is removed and the previous folder stays as it was. What a killed run left
  behind (staging folders, a half-finished swap) is cleaned up at the next run on the same folder.
- **The user's umask** decides the permissions of everything created (no 0700 temporary folders).

Examples
--------
>>> import tempfile, pathlib
>>> base = pathlib.Path(tempfile.mkdtemp())
>>> with OutputFolder(base / "out", kind="example") as folder:
...     _ = (folder.path / "result.txt").write_text("42")
...     final = folder.publish({"answer": 42})
>>> sorted(p.name for p in final.iterdir())
['manifest.json', 'result.txt']
>>> ownership(final) is None   # painstudy's own folder: a later run may replace it
True
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import PainstudyError
from .io import JSON_MARK, current_umask, sha256_file, to_jsonable

__all__ = [
    "OutputError",
    "OutputFolder",
    "ownership",
    "check_replaceable",
    "current_umask",
    "MANIFEST",
    "write_manifest",
    "default_output_dir",
]

#: The file that marks a folder as painstudy's own and lists what it holds.
MANIFEST = "manifest.json"
_RULE = (
    "painstudy replaces only an empty folder or one it wrote itself, of the same kind and unchanged since "
    "(recognised by its "
    f"{MANIFEST}); choose another --out or move the content away"
)


class OutputError(PainstudyError):
    """An output folder cannot be written: refused by the ownership rule, locked, or an I/O error."""


def default_output_dir(name: str) -> Path:
    """Where outputs go without ``--out``: ``./reports/<name>`` in the current folder."""
    return Path.cwd() / "reports" / name


# -------------------------------------------------------------------------------------------
# the ownership rule
# -------------------------------------------------------------------------------------------


def _files(folder: Path) -> list[str]:
    """Every file and symbolic link below ``folder``, as sorted POSIX paths relative to it."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):  # not followed: counted as an entry
                files.append(d)
                dirs.remove(d)
        out += [(rel / f).as_posix() for f in files]
    return sorted(out)


def _read_manifest(folder: Path) -> dict | None:
    try:
        with open(folder / MANIFEST, encoding="utf-8") as f:
            doc = json.loads(f.read(50_000_000))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _legacy_report(doc: dict, files: list[str]) -> bool:
    """A report written by painstudy before manifests listed their files (version 0.1)."""
    if not (
        isinstance(doc.get("packages"), dict)
        and "painstudy" in doc["packages"]
        and isinstance(doc.get("notebooks"), list)
        and "study" in doc
    ):
        return False
    names = {n.get("name") for n in doc["notebooks"] if isinstance(n, dict)}
    allowed = {MANIFEST} | {f"{n}.ipynb" for n in names} | {f"{n}.html" for n in names}
    for f in files:
        top, _, rest = f.partition("/")
        if (
            f in allowed
            or (top == "figures" and rest.endswith(".png") and "/" not in rest)
            or (top == "tables" and rest.endswith(".csv") and "/" not in rest)
        ):
            continue
        return False
    return True


def ownership(folder: str | Path, kind: str | None = None, *, digests: dict | None = None) -> str | None:
    """Why painstudy may not replace ``folder`` (with a folder of ``kind``), or ``None`` when it may.

    ``None`` for a missing path, an empty folder, and a folder holding painstudy's manifest that lists
    every file present, unchanged since (their SHA-256 are in the manifest), of the same kind (a report
    never replaces a simulated study, nor the reverse). Otherwise a short reason, e.g. ``"is a file"``,
    ``"holds files painstudy did not write: ch1.tex"`` or ``"holds files changed since painstudy wrote
    them: study.yml"``.

    ``digests``: a dict kept between checks of the same folder, so that a file is hashed once as long
    as it is not touched (its size, times and inode unchanged).
    """
    p = Path(folder)
    if p.is_symlink():
        return "is a symbolic link"
    if not p.exists():
        return None
    if not p.is_dir():
        return "is a file, not a folder"
    try:
        files = _files(p)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not files:
        return None
    doc = _read_manifest(p)
    if doc is None:
        return f"is not empty and has no painstudy {MANIFEST} (holds {_some(files)})"
    if not str(doc.get(JSON_MARK, "")).startswith("painstudy"):
        if _legacy_report(doc, files):
            return None
        return f"has a {MANIFEST} that painstudy did not write"
    listed = set(doc.get("files") or []) | {MANIFEST}
    foreign = [f for f in files if f not in listed]
    if foreign:
        return f"holds files painstudy did not write: {_some(foreign)}"
    if kind is not None and doc.get("kind", kind) != kind:
        return f"holds a {doc.get('kind')} painstudy wrote, not a {kind} (it may be the input of this run)"
    hashes = doc.get("sha256") if isinstance(doc.get("sha256"), dict) else {}
    try:
        changed = [f for f, h in hashes.items() if (p / f).is_file() and _digest(p / f, digests) != h]
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if changed:
        return f"holds files changed since painstudy wrote them: {_some(sorted(changed))}"
    return None


def _digest(path: Path, digests: dict | None) -> str:
    """The SHA-256 of a file, from ``digests`` when the file has not been touched since it was hashed."""
    if digests is None:
        return sha256_file(path)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in digests:
        digests[key] = sha256_file(path)
    return digests[key]


def _some(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def check_replaceable(
    path: str | Path, *, what: str = "output folder", kind: str | None = None, digests: dict | None = None
) -> Path:
    """Raise :class:`OutputError` unless painstudy may write (and later replace) the folder ``path`` with a
    folder of ``kind`` (see :func:`ownership`, and its ``digests``).

    Returns the absolute path (parent folders resolved, the last component kept as given).
    """
    given = Path(path).expanduser()
    if given.name in ("", ".", ".."):
        given = given.resolve()
    target = given.parent.resolve() / given.name if given.name else given.resolve()
    if target == Path(target.anchor):
        raise OutputError(f"{path}: refusing to use the root folder as the {what}")
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise OutputError(
            f"{path}: refusing to replace the current folder (or one of its parents) with the {what}; {_RULE}"
        )
    home = Path.home().resolve()
    if target == home or target in home.parents:
        raise OutputError(f"{path}: refusing to use the home folder (or one of its parents) as the {what}")
    pkg = _package_dir()
    if target == pkg or pkg in target.parents:
        raise OutputError(
            f"{path}: refusing to write the {what} inside the painstudy package ({pkg.name}/); "
            "outputs go to ./reports/ or --out"
        )
    reason = ownership(target, kind, digests=digests)
    if reason:
        raise OutputError(f"{path}: refusing to replace it: it {reason}. {_RULE}")
    return target


def write_manifest(
    folder: str | Path, manifest: Mapping[str, Any], *, files: list[str] | None = None, unhashed: tuple = ()
) -> Path:
    """Write ``<folder>/manifest.json``: ``manifest`` plus the ``written_by`` mark, the list of the folder's
    files and their SHA-256 (which make the folder one that a later run may replace, as long as nobody
    changed it); ``unhashed`` names files that change on every run (e.g. a report's ``run.json``)."""
    folder = Path(folder)
    from .version import __version__, install_info

    listed = sorted(set(files if files is not None else _files(folder)) | {MANIFEST})
    hashes = {f: sha256_file(folder / f) for f in listed if f not in (MANIFEST, *unhashed) and (folder / f).is_file()}
    doc = {JSON_MARK: f"painstudy {__version__}", **to_jsonable(dict(manifest)), "files": listed, "sha256": hashes}
    doc["painstudy"] = {**install_info(), **(doc.get("painstudy") or {})}  # version and how it was installed
    path = folder / MANIFEST
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path


# -------------------------------------------------------------------------------------------
# the lock
# -------------------------------------------------------------------------------------------


class _Lock:
    """An exclusive, non-blocking lock on a file; released by the system if the process dies."""

    def __init__(self, path: Path, label: str):
        self.path, self.label, self.fd = path, label, None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: exclusive creation instead
            fcntl = None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o666)
            except FileExistsError:  # pragma: no cover - Windows
                raise OutputError(self._busy("")) from None
            except OSError as e:
                raise OutputError(
                    f"{self.label}: cannot write in {self.path.parent} ({e.strerror or e}); nothing was changed"
                ) from None
            if fcntl is None:  # pragma: no cover
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.read(fd, 200).decode("ascii", "replace").strip()
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OutputError(self._busy(holder)) from None
                raise OutputError(f"{self.label}: cannot lock {self.path} ({e.strerror or e})") from None
            # the file may have been removed by the previous holder between open and flock: retry
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def _busy(self, holder: str) -> str:
        who = f" (process {holder})" if holder.isdigit() else ""
        return (
            f"{self.label}: another painstudy run is writing this folder{who}; wait until it has "
            f"finished and run again (lock file {self.path.name})"
        )

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


# -------------------------------------------------------------------------------------------
# staging and replacement
# -------------------------------------------------------------------------------------------


class OutputFolder:
    """Context manager writing a folder that painstudy owns (see the module notes).

    Parameters
    ----------
    path : str or Path
        The folder to write (checked with :func:`check_replaceable`).
    kind : str
        What the folder is (``report``, ``simulation``, ...), recorded in its manifest.
    keep_failed : bool
        Allow :meth:`keep_failed`, which keeps a failed run in ``<path>.failed`` (that folder is
        checked by the same rule).

    Inside the ``with`` block write into :attr:`path` (the staging folder), then call
    :meth:`publish` (or :meth:`keep_failed`). Leaving the block without either, or with an
    exception, removes the staging folder and leaves the target as it was.
    """

    def __init__(
        self, path: str | Path, *, kind: str, keep_failed: bool = False, what: str | None = None, unhashed: tuple = ()
    ):
        self.given = str(path)
        self.kind = kind
        self.unhashed = tuple(unhashed)  # files of the folder that change on every run (not checksummed)
        self.what = what or f"{kind} folder"
        self._digests: dict = {}  # the folder's files are hashed once for both checks (unless touched between)
        self.target = check_replaceable(path, what=self.what, kind=kind, digests=self._digests)
        self.failed = self.target.with_name(self.target.name + ".failed") if keep_failed else None
        self.token = secrets.token_hex(4)
        self.staging = self.target.with_name(f".tmp-{self.target.name}-{os.getpid()}-{self.token}")
        self._lock = _Lock(self.target.with_name(f".{self.target.name}.lock"), self.given)
        self.cleaned: list[str] = []
        self.existed = False  # whether a previous folder with content was there (known under the lock)

    @property
    def path(self) -> Path:
        """The staging folder to write into."""
        return self.staging

    def __enter__(self) -> OutputFolder:
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.given}: cannot create the folder {parent} ({e.strerror or e})") from None
        self._lock.acquire()
        try:
            self._clean_leftovers()
            # again, now that no other run can change it
            check_replaceable(self.target, what=self.what, kind=self.kind, digests=self._digests)
            self.existed = self.target.is_dir() and any(self.target.iterdir())
            if self.failed is not None:
                reason = ownership(self.failed)
                if reason:
                    raise OutputError(f"{self.failed}: refusing to replace it: it {reason}. {_RULE}")
            try:
                os.mkdir(self.staging)  # mode 0o777 minus the umask
            except OSError as e:
                raise OutputError(
                    f"{self.given}: cannot write in {parent} ({e.strerror or e}); nothing was changed"
                ) from None
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        try:
            if self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._lock.release()
        return False

    def _clean_leftovers(self) -> None:
        """Remove what a dead run on this folder left: staging folders and a half-finished swap."""
        name = re.escape(self.target.name)
        pattern = re.compile(rf"^\.(tmp|old)-{name}-(\d+)-[0-9a-f]{{8}}$")
        try:
            entries = list(self.target.parent.iterdir())
        except OSError:
            return
        for entry in sorted(entries):
            m = pattern.match(entry.name)
            # under the lock, no live run writes this folder: whatever matches is left from a dead one
            if not m or not entry.is_dir() or entry == self.staging:
                continue
            if m.group(1) == "old" and not self.target.exists():
                entry.rename(self.target)  # killed between the two renames: put the previous folder back
                self.cleaned.append(f"restored {self.target.name} from {entry.name}")
                continue
            shutil.rmtree(entry, ignore_errors=True)
            self.cleaned.append(f"removed {entry.name}")

    def unchanged(self, *, where: bool = False) -> str:
        """What a failed run left of the target (named when ``where``): the previous folder unchanged, or
        nothing written (there was no previous folder)."""
        if self.existed:
            return f"the previous {self.what}{f' in {self.given}' if where else ''} is unchanged"
        return f"no {self.what} was written{f' to {self.given}' if where else ''}"

    def _io_error(self, action: str, e: OSError) -> OutputError:
        return OutputError(f"{self.given}: cannot {action} ({e.strerror or e}); {self.unchanged()}")

    def publish(self, manifest: Mapping[str, Any]) -> Path:
        """Write the manifest into the staging folder and swap it in place of the target."""
        try:
            write_manifest(self.staging, {"kind": self.kind, **manifest}, unhashed=self.unhashed)
        except OSError as e:
            raise self._io_error("write the manifest", e) from None
        old = self.target.with_name(f".old-{self.target.name}-{os.getpid()}-{self.token}")
        try:
            if self.target.exists():
                os.rename(self.target, old)
            try:
                os.rename(self.staging, self.target)
            except OSError:
                if old.exists():
                    os.rename(old, self.target)
                raise
        except OSError as e:
            raise self._io_error(f"move the new {self.what} into place", e) from None
        shutil.rmtree(old, ignore_errors=True)
        if self.failed is not None and self.failed.exists() and ownership(self.failed) is None:
            shutil.rmtree(self.failed, ignore_errors=True)  # a good run supersedes a failed one
        return self.target

    def keep_failed(self, manifest: Mapping[str, Any]) -> Path:
        """Keep the staging folder as ``<target>.failed`` (replacing an earlier failed run)."""
        if self.failed is None:
            raise ValueError("OutputFolder(keep_failed=True) is needed to keep a failed run")
        try:
            write_manifest(self.staging, {"kind": self.kind, **manifest}, unhashed=self.unhashed)
            if self.failed.exists():
                shutil.rmtree(self.failed)
            os.rename(self.staging, self.failed)
        except OSError as e:
            raise OutputError(
                f"{self.given}: the run failed, and keeping it in {self.failed} failed too "
                f"({e.strerror or e}); {self.unchanged()}"
            ) from None
        return self.failed
