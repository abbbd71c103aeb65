"""Rebuild benchmarks/RESULTS.md from the parts written by each benchmark script.

python benchmarks/bench_mmrm.py     # writes RESULTS_mmrm.md
python benchmarks/bench_lmm.py      # writes RESULTS_lmm.md
python benchmarks/bench_survival.py # writes RESULTS_survival.md
python benchmarks/bench_registry.py --with-10m  # writes RESULTS_registry.md
python benchmarks/bench_startup.py  # writes RESULTS_startup.md
python benchmarks/bench_threads.py  # writes RESULTS_threads.md
python benchmarks/bench_sensitivity.py --with-r  # writes RESULTS_sensitivity.md
python benchmarks/bench_power.py --with-r  # writes RESULTS_power.md
python benchmarks/make_results.py   # writes RESULTS.md (all of them, in one file)
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = [
    "RESULTS_mmrm.md",
    "RESULTS_registry.md",
    "RESULTS_lmm.md",
    "RESULTS_survival.md",
    "RESULTS_startup.md",
    "RESULTS_threads.md",
    "RESULTS_sensitivity.md",
    "RESULTS_power.md",
]

HEADER = """# painstudy benchmarks

Measured against the real alternatives (R's glmmTMB, nlme, lme4/lmerTest; statsmodels) in the same run on
the same machine; each section says how. Regenerate with the scripts named in each section, then
`python benchmarks/make_results.py`. Speed targets live here, never in timed unit tests.

"""


def main() -> None:
    body = [HEADER]
    for part in PARTS:
        text = (HERE / part).read_text().strip()
        body.append(text.replace("\n# ", "\n## ").replace("# ", "## ", 1) if text.startswith("# ") else text)
        body.append(f"\n\n_(section from `{part}`)_\n\n")
    (HERE / "RESULTS.md").write_text("\n".join(body))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
