"""The HTML reports in a real browser (headless Chromium): title, tables and figures loaded,
no error output; the committed reports and one written by this version of painstudy. Skipped
only where Chromium is absent (.ci/run installs Debian's chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
REPORTS = sorted((ROOT / "reports").glob("*/*.html"))

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
WIDTH = 1280  # the layout width every report must fit

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]

# Appended to a copy of the page: once everything has loaded, write what the page shows into the DOM.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const stderr = document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length;
  const errors = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                      .filter(e => /Traceback|Error:/.test(e.textContent) && e.querySelector('pre')).length;
  const root = document.documentElement;
  const wide = Array.from(document.querySelectorAll('table'))
                    .filter(t => t.getBoundingClientRect().right > root.clientWidth + 1).length;
  const out = {title: document.title, h1: (document.querySelector('h1') || {}).textContent || '',
               page_overflow: root.scrollWidth - root.clientWidth, wide_tables: wide,
               tables: document.querySelectorAll('table').length, images: imgs.length,
               images_loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
               stderr: stderr, errors: errors};
  const pre = document.createElement('pre'); pre.id = 'painstudy-probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _run(args, tmp_path):
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def _renders(html: Path, tmp_path: Path) -> None:
    page = tmp_path / html.name
    page.write_text(html.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = _run(["--dump-dom", f"--window-size={WIDTH},2000", page.as_uri()], tmp_path).stdout
    m = re.search(r'<pre id="painstudy-probe">(.*?)</pre>', dom, re.S)
    assert m, f"the page did not finish loading in Chromium: {dom[-500:]}"
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["title"], probe
    assert probe["h1"], probe
    assert probe["tables"] >= 1, probe
    assert probe["images"] >= 1 and probe["images_loaded"] == probe["images"], probe
    assert probe["stderr"] == 0 and probe["errors"] == 0, probe
    # readable at 1280 px: no horizontal scrolling of the page, no table reaching past its right edge
    assert probe["page_overflow"] <= 0 and probe["wide_tables"] == 0, probe
    shot = tmp_path / "shot.png"
    _run([f"--screenshot={shot}", f"--window-size={WIDTH},2000", html.as_uri()], tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000  # a rendered page, not a blank one
    _layout_fits(shot)


def _layout_fits(shot: Path) -> None:
    """The screenshot at 1280 px: the page's content ends before the right edge (a table or figure cut
    off by the window would colour the last columns of pixels)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] == WIDTH, pixels.shape
    background = np.median(pixels[:, -1])
    inked = np.flatnonzero((np.abs(pixels - background) > 40).any(axis=0))
    assert inked.size, "blank screenshot"
    assert inked.max() < WIDTH - 8, f"content reaches the right edge at 1280 px (last inked column {inked.max()})"


@pytest.mark.parametrize("html", REPORTS, ids=[f"{p.parent.name}/{p.name}" for p in REPORTS])
def test_report_renders_in_chromium(html, tmp_path):
    _renders(html, tmp_path)


@pytest.mark.slow
def test_a_fresh_report_renders_in_chromium(tmp_path):
    from painstudy.reporting import run_report

    res = run_report("demo", notebooks=["01"], out=tmp_path / "demo", progress=False)
    _renders(res.out / "01_cohort.html", tmp_path)
    assert "study.yml" in (res.out / "01_cohort.html").read_text(encoding="utf-8")  # the files read, shown


def test_there_are_reports_to_check():
    names = {p.parent.name for p in REPORTS}
    assert {"demo", "vickers2004"} <= names, names
