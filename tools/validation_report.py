"""The validation report: every comparison the reference tests made, rendered as documentation pages.

``tools/build_docs.py`` runs the reference tests with the ledger on (``tests/ledger.py``) and passes the
recorded rows to :func:`render`, which returns the pages to write:

- ``validation.md``: the summary a reviewer cites: the software validated, then per reference source what it
  is (from the README beside it), the software and versions that produced it (read from the source itself),
  how to regenerate it, and the number of comparisons, within tolerance and known deviations (each with its
  documented reason);
- ``validation/<source>.md``: one page per source with every compared number (quantity, reference value,
  painstudy's value, difference, tolerance, status), grouped by test. The tables are written as HTML: with
  some 17,000 rows, Markdown tables made Sphinx take minutes.

Run on its own (``python tools/validation_report.py [docs/_build/ledger.json]``) it writes the pages from a
saved ledger.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Rscript parts of the scripts that write several files, where the file name does not say it
_R_PARTS = {"mmrm_visit_order_fev.json": "visitorder"}
#: scripts of the files that do not record theirs
_R_SCRIPTS = {
    "survival_ref_": "survival_reference.R",
    "survival_core_ref_": "survival_core_reference.R",
    "mvt_ref": "mvt_reference.R",
    "negbin_ref_": "negbin_reference.R",
    "firth_reference": "firth_reference.R",
    "condmean_reference": "condmean_reference.R",
    "condmean_extra_reference": "condmean_extra_reference.R",
    "rubin_reference": "rubin_reference.R",
    "emmeans_weights_reference": "emmeans_weights_reference.R",
    "table1_smd_reference": "table1_smd_reference.R",
    "stratified_reference": "stratified_reference.R",
    "gee_reference": "gee_reference.R",
    "subgroups_reference": "subgroups_reference.R",
    "diary_lmm_reference": "diary_lmm_reference.R",
    "twopart_reference": "twopart_reference.R",
    "power_reference": "power_reference.R",
    "power_ttest_reference": "power_ttest_reference.R",
}
#: keys of the JSON files that name the version of an R package
_VERSION_KEYS = ("survival", "MASS", "numDeriv", "clubSandwich", "mvtnorm", "nlme", "mice", "emmeans")
#: row colours of the detail tables (as painstudy.reproduce's tables: documented deviations yellow, failures red)
KNOWN_TINT, FAILED_TINT = ' style="background-color: #fff6d5"', ' style="background-color: #ffd7d7"'
TABLE = '<div class="table-wrapper"><table class="docutils align-default" style="font-size: 0.85em; width: 100%">'
HEADER = (
    '<thead><tr><th style="width: 36%">quantity</th><th style="width: 14%">reference</th>'
    '<th style="width: 15%">painstudy</th><th style="width: 10%">difference</th>'
    '<th style="width: 13%">tolerance</th><th style="width: 12%">status</th></tr></thead><tbody>'
)
INTRO = (
    "Every number listed here was computed by painstudy and compared by its test suite with an independent "
    "reference: SAS PROC MIXED listings kept byte for byte in `../shared/references/` and read as printed; "
    "R (the scripts in `tests/reference/*.R` write the JSON files the tests read); published papers; and "
    "exact values. Each comparison states the reference value and the file it comes from, painstudy's "
    "value, their difference and the tolerance: the reference's printed precision (half a unit of its "
    "last printed digit) or a tolerance whose reason is written beside it. A *known deviation* is a "
    "comparison outside its tolerance for a documented reason; it is tested as an expected failure, so the "
    "test fails when the deviation disappears."
)
#: kind -> (heading of its group, what one source of the kind is)
KINDS = {
    "SAS listing": ("SAS PROC MIXED listings", "a SAS PROC MIXED listing"),
    "R": ("R (scripts in tests/reference/)", "written by an R script"),
    "published": ("Published papers", "a published paper"),
    "issue": ("Numbers quoted in issues", "a number quoted in an issue"),
    "exact": ("Exact values", "an exact value"),
}


@dataclass(frozen=True)
class Source:
    """Where reference values came from: kind, what it is, the software that produced it, how to regenerate."""

    name: str
    kind: str
    what: str
    software: str
    regenerate: str
    rank: int = 0  # the order of the source's row in its README table (SAS listings), else 0

    @property
    def title(self) -> str:
        return Path(self.name).name if self.kind in ("SAS listing", "R") else self.name

    @property
    def slug(self) -> str:
        base = Path(self.name).stem if self.kind in ("SAS listing", "R") else self.name
        return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:60]


def _expand(pattern: str) -> list[str]:
    """``survival_ref_{sim1,sim2}.json`` -> the file names it stands for."""
    m = re.search(r"\{([^}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _expand(pattern[: m.start()] + alt + pattern[m.end() :])]


def readme_rows(readme: Path) -> dict:
    """File name -> the cells after the first of the README tables' rows that name it (in backticks or not)."""
    out: dict = {}
    if not readme.exists():
        return out
    for line in readme.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith(("| file", "|---")):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        names = re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]
        for n in names:
            for f in _expand(n):
                out.setdefault(Path(f).name, cells[1:])
    return out


def _r_software(doc: dict) -> str:
    software = doc.get("software") if isinstance(doc.get("software"), dict) else {}
    doc = {**software, **doc}
    r = doc.get("r_version") or doc.get("R") or ""
    packages = dict(doc.get("packages") or {})
    for key in _VERSION_KEYS:
        if isinstance(doc.get(key), str):
            packages.setdefault(key, doc[key])
    text = ", ".join(f"{k} {v}" for k, v in packages.items())
    if not r and not text:
        return "not recorded in the file (see the Environment section of tests/reference/README.md)"
    return "; ".join(x for x in (r, text) if x)


def _r_regenerate(path: Path, doc: dict) -> str:
    script = doc.get("generated_by") or next(
        (f"tests/reference/{s}" for prefix, s in _R_SCRIPTS.items() if path.name.startswith(prefix)), ""
    )
    if not script:
        return "no generating script recorded"
    part = _R_PARTS.get(path.name)
    if part is None and "_ref_" in path.stem and script.endswith(("mmrm_reference.R", "lmm_reference.R")):
        part = path.stem.split("_ref_", 1)[1]
    return f"`Rscript {script}{' ' + part if part else ''}` (from the repository root; R from Debian's packages)"


def _sas_source(source: str, root: Path) -> Source:
    path = (root / source).resolve()
    folder = Path(source).parent.as_posix()
    rows = readme_rows(path.parent / "README.md")
    what = rows.get(path.name, [""])[0]
    rank = list(rows).index(path.name) if path.name in rows else len(rows)
    software, regenerate = "SAS PROC MIXED", "needs SAS: not regenerable here"
    if path.exists():
        sys.path.insert(0, str(root))
        from painstudy.reproduce.sas_listing import read_listing

        listing = read_listing(path)
        software = f"SAS, {listing.procedure} (the listing does not print SAS's version), run {listing.run_at}"
    readme = path.parent / "README.md"
    m = (
        re.search(
            r"\(GitHub\s+([\w-]+/[\w-]+),[^,]*,\s+commit\s+([0-9a-f]{7})[0-9a-f]*,\s+folder\s+`([^`]+)`\)",
            readme.read_text(encoding="utf-8"),
        )
        if readme.exists()
        else None
    )
    if m:
        software += f"; published by {m.group(1)} (commit {m.group(2)}, `{m.group(3)}`), kept byte for byte"
    if (path.parent / "sas.R").exists():
        regenerate = (
            f"needs SAS: the PROC MIXED code is in `{folder}/sas.R`; painstudy reads the listing as "
            "printed (`painstudy.reproduce.sas_listing`)"
        )
    return Source(source, "SAS listing", what, software, regenerate, rank)


def describe(source: str, root: Path = ROOT) -> Source:
    """What a ledger source is (a SAS listing, an R JSON file, a paper, an issue, an exact value)."""
    if source.startswith("../shared/references/"):
        return _sas_source(source, root)
    if source.startswith("tests/reference/") and source.endswith(".json"):
        path = root / source
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        cells = readme_rows(root / "tests" / "reference" / "README.md").get(path.name, ["", ""])
        return Source(source, "R", cells[-1], _r_software(doc), _r_regenerate(path, doc))
    if source.startswith("exact"):
        return Source(source, "exact", "an exact value (see the test's docstring)", "mathematics", "-")
    if source.startswith("issue"):
        return Source(source, "issue", "a number quoted in the issue, from the R computation named", "as quoted", "-")
    return Source(
        source, "published", "numbers as printed in the paper, compared to their printed precision", "published", "-"
    )


def _md(text) -> str:
    """Text for Markdown outside code (characters with a Markdown meaning escaped)."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", str(text))


def _num(x, digits: int = 10) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    text = str(x)  # a long text (the 200 subject ids of a SAS class) is shortened for the table
    return text if len(text) <= 160 else f"{text[:100]} … {text[-40:]} ({len(text)} characters)"


def _status(row: dict) -> str:
    if row["passed"]:
        return "ok"
    return "known deviation" if row.get("known_deviation") else "OUTSIDE TOLERANCE"


def _counts(rows: list[dict]) -> tuple[int, int, int]:
    ok = sum(r["passed"] for r in rows)
    known = sum((not r["passed"]) and bool(r.get("known_deviation")) for r in rows)
    return ok, known, len(rows) - ok - known


def _common_prefix(names: list[str]) -> str:
    """The longest common start of the quantities that ends at a separator (" / ", ": " or a blank)."""
    if len(names) < 2:
        return ""
    p = os.path.commonprefix(names)
    return p[: max(p.rfind(sep) + len(sep) if sep in p else 0 for sep in (" / ", ": ", " "))]


def _facts(src: Source, rows: list[dict]) -> list[str]:
    ok, known, bad = _counts(rows)
    return ([f"- **What**: {src.what}"] if src.what else []) + [
        f"- **Software**: {src.software}",
        f"- **How to regenerate**: {src.regenerate}",
        f"- **Comparisons**: {len(rows)}; within tolerance {ok}; known deviations {known}"
        + (f"; **outside tolerance {bad}**" if bad else ""),
    ]


def _detail_page(src: Source, rows: list[dict]) -> str:
    notes: dict[str, int] = {}

    def refs(r: dict) -> list[int]:
        texts = [t for t in (r.get("note"), r.get("known_deviation") if not r["passed"] else None) if t]
        for t in texts:
            notes.setdefault(t, len(notes) + 1)
        return [notes[t] for t in texts]

    by_test: dict[str, list[dict]] = {}
    for r in rows:
        by_test.setdefault(r["test"], []).append(r)
    body = []
    for test, items in by_test.items():
        prefix = _common_prefix([r["quantity"] for r in items])
        name = test.partition("::")[2]
        body += [
            f"## {_md(name or test)}",
            "",
            f"Test: `{test}`" + (f"; quantities: {_md(prefix)}…" if prefix else ""),
            "",
        ]
        cells = []
        for r in items:
            n = refs(r)
            status = _status(r) + (f" ({', '.join(map(str, n))})" if n else "")
            values = (
                r["quantity"][len(prefix) :],
                _num(r["reference"]),
                _num(r["ours"]),
                _num(r["difference"], 3),
                r["tolerance"],
                status,
            )
            tint = "" if r["passed"] else KNOWN_TINT if r.get("known_deviation") else FAILED_TINT
            cells.append(f"<tr{tint}>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>")
        body += ["```{raw} html", TABLE, HEADER, *cells, "</tbody></table></div>", "```", ""]
    out = [f"# {_md(src.title)}", "", f"Source: `{src.name}` ({KINDS[src.kind][1]})", "", *_facts(src, rows), ""]
    if notes:
        out += ["Notes (numbered in the status column):", ""]
        out += [f"{k}. {_md(text)}" for text, k in notes.items()] + [""]
    return "\n".join(out + body)


def software_facts(root: Path = ROOT) -> list[str]:
    """painstudy's version and commit, and the versions of Python and of the numerical libraries."""
    import numpy
    import pandas
    import scipy

    sys.path.insert(0, str(root))
    from painstudy.version import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit = f"commit {commit}" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        commit = "not a git checkout"
    libraries = (
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"pandas {pandas.__version__}"
    )
    return [f"painstudy {__version__} ({commit})", libraries]


def render(rows: list[dict], tests: list[str], root: Path = ROOT) -> dict[str, str]:
    """The pages of the validation report: ``{"validation.md": ..., "validation/<source>.md": ...}``."""
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    order = list(KINDS)
    sources = sorted((describe(s, root) for s in by_source), key=lambda s: (order.index(s.kind), s.rank, s.name))
    slugs = [s.slug for s in sources]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"two sources share a page name: {sorted(x for x in slugs if slugs.count(x) > 1)}")
    ok, known, bad = _counts(rows)
    made = (
        f"This page is generated by `make docs`, which runs the reference tests "
        f"({', '.join(f'`{t}`' for t in tests)}) with the ledger on (`tests/ledger.py`); the build stops if any "
        "comparison fails."
    )
    total = (
        f"**{len(rows)} comparisons** from {len(sources)} sources: {ok} within tolerance, {known} known "
        "deviations" + (f", **{bad} outside tolerance**" if bad else "") + "."
    )
    validated = "**Software validated**: " + "; ".join(software_facts(root)) + "."
    out = ["# Validation report", "", INTRO, "", made, "", validated, "", total, "", "## Summary", ""]
    for kind, (heading, _) in KINDS.items():
        group = [s for s in sources if s.kind == kind]
        if not group:
            continue
        out += [
            f"**{heading}**",
            "",
            "| source | comparisons | within tolerance | known deviations |",
            "|---|---|---|---|",
        ]
        for s in group:
            c = _counts(by_source[s.name])
            out.append(
                f"| [{_md(s.title)}](validation/{s.slug}.md) | {len(by_source[s.name])} | {c[0]} "
                f"| {c[1]}{f' (**{c[2]} outside tolerance**)' if c[2] else ''} |"
            )
        out.append("")
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if not r["passed"] and r.get("known_deviation"):
            reasons.setdefault(r["known_deviation"], []).append(r["source"])
    if reasons:
        out += ["## Known deviations", ""]
        for text, srcs in sorted(reasons.items()):
            names = ", ".join(f"`{Path(x).name}`" for x in sorted(set(srcs)))
            out += [f"- {_md(text)} ({len(srcs)} numbers; {names})"]
        out.append("")
    out += ["## Sources", ""]
    for s in sources:
        out += [
            f"### {_md(s.title)}",
            "",
            f"`{s.name}` ({KINDS[s.kind][1]}): [every number](validation/{s.slug}.md)",
            "",
            *_facts(s, by_source[s.name]),
            "",
        ]
    out += ["```{toctree}", ":hidden:", ""] + [f"validation/{s.slug}" for s in sources] + ["```", ""]
    pages = {"validation.md": "\n".join(out)}
    for s in sources:
        pages[f"validation/{s.slug}.md"] = _detail_page(s, by_source[s.name])
    return pages


def write(pages: dict[str, str], docs: Path) -> None:
    """Write the pages under ``docs`` (``docs/validation/`` holds only these pages: its old ones are removed)."""
    folder = docs / "validation"
    if folder.is_dir():
        for old in folder.glob("*.md"):
            old.unlink()
    folder.mkdir(exist_ok=True)
    for name, text in pages.items():
        (docs / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tools"))
    from build_docs import reference_tests

    ledger_file = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "_build" / "ledger.json")
    write(render(json.loads(ledger_file.read_text()), reference_tests()), ROOT / "docs")
