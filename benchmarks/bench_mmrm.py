"""Benchmark painstudy's MMRM against statsmodels and R (glmmTMB, nlme::gls) and write RESULTS_mmrm.md (python benchmarks/make_results.py then rebuilds RESULTS.md).

Usage (from the repository root)::

    python benchmarks/bench_mmrm.py              # fev, bcva, simulated 1k/10k/100k, R if available
    python benchmarks/bench_mmrm.py --with-1m    # also the 1M-subject simulation (about a minute)
    python benchmarks/bench_mmrm.py --no-r       # skip R

Each painstudy timing is the median wall-clock of several fits in a fresh subprocess; peak memory is
the subprocess's maximum resident set size (``resource.getrusage``), which includes the data frame.
R timings are measured inside R (median of ``system.time`` elapsed over the reps), so R's start-up and
package loading are excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("PAINSTUDY_SHARED", ROOT.parent / "shared" / "datasets"))
FEV = SHARED / "mmrm_fev_bcva" / "fev_data.csv"
BCVA = SHARED / "mmrm_fev_bcva" / "bcva_data.csv"

FEV_US = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"
FEV_CS = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + cs(AVISIT | USUBJID)"
BCVA_US = "BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)"
SIM_US = "y ~ base + arm * visit + us(visit | id)"


def simulate(n: int, T: int = 6, seed: int = 1, missing_rows: bool = False) -> pd.DataFrame:
    """n subjects x T visits, two arms, a baseline covariate, AR-like covariance, ~15% missing (MAR-free);
    missing visits have no row, or (``missing_rows``) a row with a missing outcome."""
    rng = np.random.default_rng(seed)
    idx = np.arange(T)
    S = 4.0 * 0.6 ** np.abs(np.subtract.outer(idx, idx)) + np.diag(np.linspace(1, 3, T))
    L = np.linalg.cholesky(S)
    arm = rng.integers(0, 2, n)
    base = rng.normal(50, 10, n)
    e = rng.standard_normal((n, T)) @ L.T
    y = 10 + 0.2 * base[:, None] + 0.5 * idx[None, :] + 1.5 * arm[:, None] * (idx[None, :] / T) + e
    keep = rng.random((n, T)) > 0.15
    keep[:, 0] = True
    if missing_rows:
        y = np.where(keep, y, np.nan)
        keep[:] = True
    sub, vis = np.nonzero(keep)
    visits = [f"V{t + 1}" for t in range(T)]
    return pd.DataFrame(
        {
            "id": sub.astype(np.int64),
            "visit": pd.Categorical.from_codes(vis, visits),
            "arm": pd.Categorical.from_codes(arm[sub], ["PBO", "TRT"]),
            "base": base[sub],
            "y": y[sub, vis],
        }
    )


def _one(kind: str, n: int, reps: int) -> dict:
    """Run in a subprocess: time painstudy fits, report median and peak RSS."""
    import resource

    from painstudy.models.mixed.mmrm import mmrm

    if kind == "fev":
        data, formula = pd.read_csv(FEV), FEV_US
    elif kind == "fev_cs":
        data, formula = pd.read_csv(FEV), FEV_CS
    elif kind == "bcva":
        data, formula = pd.read_csv(BCVA), BCVA_US
    else:
        data, formula = simulate(n), SIM_US
    mmrm(formula, data.iloc[: min(len(data), 3000)] if kind == "sim" else data)  # warm-up (imports)
    times, fit = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        fit = mmrm(formula, data)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {
        "kind": kind,
        "n": n,
        "median_s": float(np.median(times)),
        "times": times,
        "peak_rss_bytes": peak,
        "neg2_log_lik": fit.neg2_log_lik,
        "converged": fit.converged,
        "n_obs": fit.n_obs,
        "n_subjects": fit.n_subjects,
        "n_patterns": fit.optimizer["n_patterns"],
        "n_evaluations": fit.optimizer["n_evaluations"],
    }


def run_painstudy(kind: str, n: int = 0, reps: int = 5) -> dict:
    cmd = [sys.executable, str(Path(__file__)), "--one", kind, str(n), str(reps)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_statsmodels_fev(reps: int = 5) -> dict:
    """statsmodels MixedLM random intercept (REML) on fev_data: the same model as cs (if rho >= 0)."""
    import warnings

    import statsmodels.formula.api as smf

    d = pd.read_csv(FEV).dropna(subset=["FEV1"])
    times, res = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = smf.mixedlm("FEV1 ~ RACE + SEX + ARMCD * AVISIT", d, groups=d["USUBJID"]).fit(reml=True)
        times.append(time.perf_counter() - t0)
    n = len(d)
    p = res.fe_params.shape[0]
    # statsmodels' REML llf omits nothing relevant here: report -2 llf for comparison
    return {"median_s": float(np.median(times)), "neg2_log_lik": float(-2 * res.llf), "n_obs": n, "p": p}


R_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(glmmTMB)})
args <- commandArgs(trailingOnly = TRUE)
which <- args[1]; reps <- as.integer(args[2]); path <- args[3]
d <- read.csv(path)
tm <- function(expr_fun) { t <- numeric(reps); for (i in seq_len(reps)) t[i] <- system.time(res <- expr_fun())[["elapsed"]]; list(t = t, res = res) }
if (which %in% c("fev_tmb", "fev_gls")) {
  d <- d[!is.na(d$FEV1), ]
  d$ARMCD <- factor(d$ARMCD, c("PBO", "TRT")); d$AVISIT <- factor(d$AVISIT); d$RACE <- factor(d$RACE)
  d$SEX <- factor(d$SEX, c("Male", "Female")); d$USUBJID <- factor(d$USUBJID); d$AVISITN <- as.integer(d$AVISIT)
  if (which == "fev_tmb") {
    r <- tm(function() glmmTMB(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT + 0 | USUBJID), data = d,
                               dispformula = ~0, REML = TRUE))
    ll <- -2 * as.numeric(logLik(r$res))
  } else {
    r <- tm(function() gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = d,
                           correlation = corSymm(form = ~ AVISITN | USUBJID),
                           weights = varIdent(form = ~ 1 | AVISIT), method = "REML"))
    ll <- -2 * as.numeric(logLik(r$res))
  }
} else {
  d$ARMCD <- factor(d$ARMCD); d$AVISIT <- factor(d$AVISIT); d$RACE <- factor(d$RACE); d$USUBJID <- factor(d$USUBJID)
  d$AVISITN <- as.integer(d$AVISIT)
  if (which == "bcva_tmb") {
    r <- tm(function() glmmTMB(BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT + us(AVISIT + 0 | USUBJID), data = d,
                               dispformula = ~0, REML = TRUE))
  } else {
    r <- tm(function() gls(BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT, data = d,
                           correlation = corSymm(form = ~ AVISITN | USUBJID),
                           weights = varIdent(form = ~ 1 | AVISIT), method = "REML"))
  }
  ll <- -2 * as.numeric(logLik(r$res))
}
cat(sprintf('{"which": "%s", "median_s": %.6f, "times": [%s], "neg2_log_lik": %.8f}\n', which, median(r$t),
            paste(sprintf("%.6f", r$t), collapse = ", "), ll))
"""


def run_r(which: str, reps: int, path: Path, timeout: float = 1800) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_SCRIPT)
        script = f.name
    try:
        out = subprocess.run(
            ["Rscript", script, which, str(reps), str(path)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"which": which, "error": f"timeout after {timeout} s"}
    finally:
        os.unlink(script)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"which": which, "error": (out.stderr or out.stdout)[-500:]}
    return json.loads(lines[-1])


def machine_info() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    r = ""
    if shutil.which("Rscript"):
        o = subprocess.run(["Rscript", "--version"], capture_output=True, text=True)
        lines = (o.stdout + o.stderr).strip().splitlines()
        r = lines[0] if lines else "R"
    import scipy

    return (
        f"{platform.platform()}; {cpu}; {os.cpu_count()} cores; {mem}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}; {r}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=3, metavar=("KIND", "N", "REPS"))
    ap.add_argument("--with-1m", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-reps", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "RESULTS_mmrm.md"))
    args = ap.parse_args(argv)
    if args.one:
        kind, n, reps = args.one
        print(json.dumps(_one(kind, int(n), int(reps))))
        return 0

    res = {}
    print("painstudy fev us ...", flush=True)
    res["fev"] = run_painstudy("fev", reps=21)
    res["fev_cs"] = run_painstudy("fev_cs", reps=21)
    print("painstudy bcva us ...", flush=True)
    res["bcva"] = run_painstudy("bcva", reps=5)
    sizes = [1000, 10000, 100000] + ([1000000] if args.with_1m else [])
    for n in sizes:
        print(f"painstudy sim {n} ...", flush=True)
        res[f"sim{n}"] = run_painstudy("sim", n, reps=5 if n <= 10000 else (3 if n <= 100000 else 1))
    print("statsmodels ...", flush=True)
    res["sm_fev"] = run_statsmodels_fev()
    r = {}
    if not args.no_r and shutil.which("Rscript"):
        for which, path, reps, to in [
            ("fev_tmb", FEV, args.r_reps, 600),
            ("fev_gls", FEV, args.r_reps, 600),
            ("bcva_tmb", BCVA, 1, 1800),
        ]:
            print(f"R {which} ...", flush=True)
            r[which] = run_r(which, reps, path, timeout=to)
    raw = Path(tempfile.gettempdir()) / "painstudy_bench_mmrm_raw.json"  # kept in case the report fails
    raw.write_text(json.dumps({"painstudy": res, "R": r}, indent=1, default=str))
    write_results(res, r, Path(args.out))
    print(Path(args.out).read_text())
    return 0


def _fmt_s(x):
    return "n/a" if x is None else (f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s")


def write_results(res: dict, r: dict, out: Path) -> None:
    lines = [
        "# MMRM benchmark",
        "",
        f"Generated by `benchmarks/bench_mmrm.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {machine_info()}",
        "",
        "Medians of wall-clock fit times in one run on this machine (painstudy: fresh subprocess, warm "
        "imports; R: measured inside R with `system.time`, package loading excluded). Peak memory: "
        "maximum resident set size of the painstudy subprocess (includes Python, pandas and the data).",
        "",
        "## Reference data sets",
        "",
        "| model | painstudy | -2LL | comparator | comparator time | -2LL | ratio (comparator / painstudy) |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(label, ps, comp_name, comp):
        ct = comp.get("median_s") if comp and "median_s" in comp else None
        cll = comp.get("neg2_log_lik") if comp else None
        ratio = f"{ct / ps['median_s']:.1f}x" if ct else (comp.get("error", "n/a")[:60] if comp else "not run")
        lines.append(
            f"| {label} | {_fmt_s(ps['median_s'])} | {ps['neg2_log_lik']:.4f} | {comp_name} | {_fmt_s(ct)} | "
            f"{'' if cll is None else f'{cll:.4f}'} | {ratio} |"
        )

    row("fev_data us (10 cov. params)", res["fev"], "glmmTMB us", r.get("fev_tmb"))
    row("fev_data us (10 cov. params)", res["fev"], "nlme::gls corSymm+varIdent", r.get("fev_gls"))
    row("fev_data cs", res["fev_cs"], "statsmodels MixedLM (random intercept)", res.get("sm_fev"))
    row("bcva_data us (55 cov. params)", res["bcva"], "glmmTMB us", r.get("bcva_tmb"))
    lines += [
        "",
        "statsmodels' random-intercept model equals `cs` when the estimated correlation is >= 0; its "
        "-2LL is its own REML value (same model, compare within 1e-3 relative).",
        "",
        "## Scaling (simulated, 6 visits, ~15% missing, `y ~ base + arm * visit + us(visit | id)`)",
        "",
        "| subjects | observations | patterns | median fit time | peak RSS | converged |",
        "|---|---|---|---|---|---|",
    ]
    for k, v in res.items():
        if k.startswith("sim"):
            lines.append(
                f"| {v['n']:,} | {v['n_obs']:,} | {v['n_patterns']} | {_fmt_s(v['median_s'])} | "
                f"{v['peak_rss_bytes'] / 2**30:.2f} GiB | {v['converged']} |"
            )
    lines += [
        "",
        "## Targets (issue 3)",
        "",
        f"- fev_data us under 50 ms: {_fmt_s(res['fev']['median_s'])}"
        f" -> {'met' if res['fev']['median_s'] < 0.05 else 'NOT met'}",
    ]
    tmb = r.get("bcva_tmb")
    if tmb and "median_s" in tmb:
        ratio = tmb["median_s"] / res["bcva"]["median_s"]
        lines.append(
            f"- bcva us at least 10x faster than glmmTMB: {ratio:.1f}x -> {'met' if ratio >= 10 else 'NOT met'}"
        )
    else:
        lines.append("- bcva us vs glmmTMB: glmmTMB not measured in this run")
    if "sim1000000" in res:
        v = res["sim1000000"]
        lines.append(
            f"- 1M subjects x 6 visits under 20 s and 4 GiB: {_fmt_s(v['median_s'])}, "
            f"{v['peak_rss_bytes'] / 2**30:.2f} GiB -> "
            f"{'met' if v['median_s'] < 20 and v['peak_rss_bytes'] < 4 * 2**30 else 'NOT met'}"
        )
    else:
        lines.append("- 1M subjects: not run (use --with-1m)")
    lines += [
        "",
        "Raw results (JSON):",
        "",
        "```json",
        json.dumps({"painstudy": res, "R": r}, indent=1, default=str),
        "```",
        "",
    ]
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
