"""The dataset registry: mirror look-up, checksum verification, clear errors."""

import shutil

import pytest

from painstudy import datasets
from painstudy.cli import main
from painstudy.errors import DatasetError


def test_fetch_from_mirror_verifies_checksum(shared):
    path = datasets.fetch("vickers2004")
    assert path.name == "acupuncture_headache.csv" and path.exists()


def test_tampered_copy_is_refused(tmp_path, monkeypatch, shared):
    folder = tmp_path / "vickers2004_acupuncture_headache"
    folder.mkdir()
    src = shared / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv"
    shutil.copy(src, folder / src.name)
    with open(folder / src.name, "ab") as f:
        f.write(b"\n")
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path))
    with pytest.raises(DatasetError, match="does not match the registry"):
        datasets.fetch("vickers2004")


def test_missing_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="not available locally"):
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


def test_download_verifies_checksum_from_a_local_server(tmp_path, monkeypatch, shared):
    """The real download path (pooch), served from a loopback HTTP server: a good file is kept and
    used, a file with another checksum is refused."""
    import dataclasses
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    src = shared / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv"
    shutil.copy(src, served / "raw_data.csv")
    (served / "tampered.csv").write_bytes(src.read_bytes() + b"\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv(datasets.MIRROR_ENV, "")  # no mirror: go to the network
        monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
        entry = datasets.REGISTRY["vickers2004"]
        monkeypatch.setitem(datasets.REGISTRY, "vickers2004", dataclasses.replace(entry, url=f"{base}/raw_data.csv"))
        path = datasets.fetch("vickers2004")
        assert path.read_bytes() == src.read_bytes() and path.parent == tmp_path / "cache" / entry.folder
        assert datasets.fetch("vickers2004", download=False) == path  # now cached
        path.unlink()
        monkeypatch.setitem(datasets.REGISTRY, "vickers2004", dataclasses.replace(entry, url=f"{base}/tampered.csv"))
        with pytest.raises(DatasetError, match="could not download"):
            datasets.fetch("vickers2004")
    finally:
        server.shutdown()
        server.server_close()
