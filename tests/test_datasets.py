"""The dataset registry: mirror look-up, download-verify-convert, content fingerprints, clear errors.

The download path is tested against a loopback HTTP server serving ``../shared/datasets/sources``
(the source files exactly as their public sources serve them, see its README) and the Vickers CSV.
"""

import dataclasses
import functools
import http.server
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from painstudy import datasets
from painstudy.cli import main
from painstudy.errors import DatasetError

PUBLIC = ["vickers2004", "chow2006", "fev", "bcva", "antidepressant"]


def test_fetch_from_mirror_verifies_checksum(shared):
    path = datasets.fetch("vickers2004")
    assert path.name == "acupuncture_headache.csv" and path.exists()


def test_tampered_mirror_copy_is_refused(tmp_path, monkeypatch, shared):
    folder = tmp_path / "vickers2004_acupuncture_headache"
    folder.mkdir()
    src = shared / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv"
    shutil.copy(src, folder / src.name)
    with open(folder / src.name, "ab") as f:
        f.write(b"\n")
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path))
    with pytest.raises(DatasetError, match="does not match the registry"):
        datasets.fetch("vickers2004")


def test_missing_without_download_says_how_to_use_a_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(
        datasets.DatasetUnavailable,
        match="set PAINSTUDY_DATA_MIRROR to a folder holding chow2006_laser_neck_pain/neck_pain.csv",
    ):
        datasets.fetch("chow2006", download=False)
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        datasets.fetch("nope")


def test_cli_list_and_fetch(capsys, shared):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "vickers2004" in out and "demo" in out
    assert main(["datasets", "fetch", "fev"]) == 0
    assert "SHA-256 verified" in capsys.readouterr().out


def test_every_registered_study_loads(shared):
    import painstudy

    for name in datasets.registered_studies():
        assert painstudy.load_cohort(name).n_subjects > 0


@pytest.mark.parametrize("name", PUBLIC)
def test_mirror_file_has_the_registered_content_fingerprint(name, shared):
    e = datasets.REGISTRY[name]
    table = pd.read_csv(shared / e.folder / e.file, dtype=str, keep_default_na=False)
    assert datasets.content_fingerprint(table) == e.content_sha256


@pytest.mark.parametrize("name", [n for n in PUBLIC if datasets.REGISTRY[n].source_format == "rda"])
def test_converted_source_has_the_mirror_files_content(name, sources, shared):
    """pyreadr's conversion of the .rda gives the table of R's write.csv (not its bytes)."""
    e = datasets.REGISTRY[name]
    source = sources / Path(e.url).name
    from painstudy.io import sha256_file

    assert sha256_file(source) == e.url_sha256  # the sources folder holds what the source serves
    assert datasets.content_fingerprint(datasets.convert_source(e, source)) == e.content_sha256


# ------------------------------------------------------------------------------------------------
# the download path, against a loopback server
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def sources(shared) -> Path:
    folder = shared / "sources"
    if not folder.is_dir():
        pytest.skip(f"the registry's source files are not available ({folder})")
    return folder


class _Truncating(http.server.SimpleHTTPRequestHandler):
    """Serves ``*.cut`` files announcing their full length but sending half of it, then hangs up."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith(".cut"):
            body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, sources, shared, monkeypatch):
    """A loopback server with the sources as served, plus tampered and truncated variants."""
    served = tmp_path / "served"
    served.mkdir()
    for f in sources.glob("*.rda"):
        shutil.copy(f, served / f.name)
    vickers = shared / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv"
    shutil.copy(vickers, served / "raw_data.csv")
    for f in list(served.iterdir()):
        data = f.read_bytes()
        (served / f"tampered-{f.name}").write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
        (served / f"short-{f.name}").write_bytes(data[: len(data) // 2])
        (served / f"{f.name}.cut").write_bytes(data)
    handler = functools.partial(_Truncating, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(datasets.MIRROR_ENV, "")  # no mirror: go to the network
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "_FAILED_HOSTS", set())
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _serve_as(monkeypatch, name, url):
    entry = datasets.REGISTRY[name]
    monkeypatch.setitem(datasets.REGISTRY, name, dataclasses.replace(entry, url=url))
    return entry


@pytest.mark.parametrize("name", PUBLIC)
def test_download_verify_convert(name, server, monkeypatch, tmp_path, shared):
    e = datasets.REGISTRY[name]
    _serve_as(monkeypatch, name, f"{server}/{Path(e.url).name}")
    path = datasets.fetch(name)
    assert path == tmp_path / "cache" / e.folder / e.file
    mirror = pd.read_csv(shared / e.folder / e.file, dtype=str, keep_default_na=False)
    got = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(got.columns) == list(mirror.columns) and len(got) == len(mirror)
    assert datasets.content_fingerprint(got) == e.content_sha256
    assert datasets.fetch(name, download=False) == path  # now served from the cache


@pytest.mark.parametrize("name", PUBLIC)
@pytest.mark.parametrize("variant", ["tampered-{}", "short-{}", "{}.cut"])
def test_bad_download_is_refused_and_nothing_is_cached(name, variant, server, monkeypatch, tmp_path):
    e = datasets.REGISTRY[name]
    _serve_as(monkeypatch, name, f"{server}/{variant.format(Path(e.url).name)}")
    with pytest.raises(DatasetError, match="refusing it, nothing was kept|could not be downloaded"):
        datasets.fetch(name)
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_a_cached_file_that_was_changed_is_refused(server, monkeypatch, tmp_path):
    e = datasets.REGISTRY["fev"]
    _serve_as(monkeypatch, "fev", f"{server}/{Path(e.url).name}")
    path = datasets.fetch("fev")
    path.write_text(path.read_text().replace("PT1", "PT9", 1))
    with pytest.raises(DatasetError, match="does not match the registry's content fingerprint"):
        datasets.fetch("fev")


def test_offline_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.MIRROR_ENV, "")
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "_FAILED_HOSTS", set())
    _serve_as(monkeypatch, "fev", "http://127.0.0.1:9/fev_data.rda")  # the discard port: refused
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.fetch("fev")
    msg = str(err.value)
    assert "\n" not in msg and "PAINSTUDY_DATA_MIRROR" in msg
    assert main(["datasets", "fetch", "fev"]) == 1


@pytest.mark.parametrize("kind", ["missing folder", "a file"])
def test_a_mirror_that_is_not_a_folder_is_named_not_ignored(tmp_path, monkeypatch, kind):
    """PAINSTUDY_DATA_MIRROR set to a path that does not exist or to a file: a dataset is then needed
    fails with the variable and the path (instead of a silent fall-back to cache or download);
    `painstudy datasets list` notes it."""
    import os
    import subprocess
    import sys

    bogus = tmp_path / "no_such_mirror"
    if kind == "a file":
        bogus.write_text("not a folder\n")
    monkeypatch.setenv(datasets.MIRROR_ENV, str(bogus))
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=f"PAINSTUDY_DATA_MIRROR={bogus}: (no such folder|is a file)"):
        datasets.fetch("vickers2004")
    with pytest.warns(UserWarning, match=f"PAINSTUDY_DATA_MIRROR={bogus}"):
        datasets.list_datasets()
    cli = str(Path(sys.executable).parent / "painstudy")
    env = {**os.environ, datasets.MIRROR_ENV: str(bogus)}
    r = subprocess.run([cli, "describe", "vickers2004"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"PAINSTUDY_DATA_MIRROR={bogus}: " in r.stderr and "unset it" in r.stderr
    r = subprocess.run([cli, "datasets", "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and f"painstudy: note: PAINSTUDY_DATA_MIRROR={bogus}" in r.stderr
