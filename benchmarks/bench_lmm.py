"""Benchmark painstudy.lmm (random intercept + slope) against R lme4 / lmerTest and statsmodels MixedLM.

Usage (from the repository root)::

    python benchmarks/bench_lmm.py                 # 2k, 20k, 200k subjects x 5 visits; R if available
    python benchmarks/bench_lmm.py --sizes 2000 20000 --no-r
    python benchmarks/bench_lmm.py --out benchmarks/RESULTS_lmm.md

Model: ``y ~ arm * week + baseline + (1 + week | subject)``, REML, on simulated trials (weeks 0, 2, 4, 8, 12;
two arms; random intercept sd 1, slope sd 0.1, correlation -0.3; residual sd 0.8; about 10% of post-baseline
visits missing).  All programs fit the same CSV files in the same run.

* painstudy: median wall-clock of ``lmm(..., df="satterthwaite")`` (the default: the fit *and* the
  Satterthwaite machinery) and of ``df="residual"`` (the fit alone), in this process, after one warm-up.
* R: timed inside R with ``system.time`` (elapsed; R start-up, package loading and ``read.csv`` excluded):
  ``lme4::lmer`` (default optimizer) and ``lmerTest::lmer`` + ``summary(fit, ddf = "Satterthwaite")``.
* statsmodels: ``MixedLM.from_formula(..., re_formula="~week").fit(reml=True)`` (smallest size only).
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

FORMULA = "y ~ arm * week + baseline + (1 + week | subject)"


def simulate(n: int, seed: int = 20261126) -> pd.DataFrame:
    """n subjects x 5 visits (weeks 0, 2, 4, 8, 12), random intercept and slope, ~10% visits missing."""
    rng = np.random.default_rng(seed)
    wk = np.array([0.0, 2.0, 4.0, 8.0, 12.0])
    arm = rng.integers(0, 2, n)
    base = np.round(rng.normal(6.0, 1.5, n), 2)
    S = np.array([[1.0, -0.3 * 0.1], [-0.3 * 0.1, 0.01]])
    b = rng.standard_normal((n, 2)) @ np.linalg.cholesky(S).T
    s = np.repeat(np.arange(n), 5)
    w = np.tile(wk, n)
    y = 1 + 0.8 * base[s] + 0.3 * arm[s] + b[s, 0] + (-0.1 - 0.08 * arm[s] + b[s, 1]) * w + rng.normal(0, 0.8, len(s))
    keep = (w == 0) | (rng.random(len(s)) > 0.10)
    d = pd.DataFrame(
        {
            "subject": [f"S{i:06d}" for i in s],
            "arm": np.where(arm[s] == 1, "INT", "CTL"),
            "baseline": base[s],
            "week": w,
            "y": np.round(y, 4),
        }
    )
    return d.loc[keep].reset_index(drop=True)


def time_painstudy(d: pd.DataFrame, reps: int, df: str) -> tuple[float, dict]:
    from painstudy.models.mixed.lmm import lmm

    lmm(FORMULA, d, df=df)  # warm-up
    times, res = [], None
    for _ in range(reps):
        t = time.perf_counter()
        res = lmm(FORMULA, d, df=df)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), {
        "neg2_log_lik": res.neg2_log_lik,
        "beta_armINT_week": float(res.coefficients.loc["armINT:week", "estimate"]),
        "df_armINT_week": float(res.coefficients.loc["armINT:week", "df"]),
    }


def time_statsmodels(d: pd.DataFrame, reps: int) -> tuple[float, dict]:
    import statsmodels.formula.api as smf

    times, m = [], None
    for _ in range(reps):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = smf.mixedlm("y ~ arm * week + baseline", d, groups=d["subject"], re_formula="~week").fit(reml=True)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), {"neg2_log_lik": float(-2 * m.llf), "converged": bool(m.converged)}


R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
files <- strsplit(args[1], ",")[[1]]; reps <- as.integer(strsplit(args[2], ",")[[1]]); out <- args[3]
res <- list()
for (k in seq_along(files)) {
  d <- read.csv(files[k], stringsAsFactors = FALSE)
  d$arm <- factor(d$arm, levels = c("CTL", "INT"))
  t_lme4 <- c(); t_lt <- c(); t_nd <- c()
  for (r in seq_len(reps[k])) {
    t_lme4 <- c(t_lme4, system.time(f <- lme4::lmer(y ~ arm * week + baseline + (1 + week | subject), data = d))[["elapsed"]])
    t_nd <- c(t_nd, system.time(f0 <- lme4::lmer(y ~ arm * week + baseline + (1 + week | subject), data = d,
                                                 control = lme4::lmerControl(calc.derivs = FALSE)))[["elapsed"]])
  }
  for (r in seq_len(max(1, reps[k] - 1))) {
    t_lt <- c(t_lt, system.time({f2 <- lmerTest::lmer(y ~ arm * week + baseline + (1 + week | subject), data = d);
                                 s <- summary(f2, ddf = "Satterthwaite")})[["elapsed"]])
  }
  res[[k]] <- list(file = files[k], lme4_seconds = median(t_lme4), lmerTest_seconds = median(t_lt),
                   lme4_noderiv_seconds = median(t_nd), neg2_lme4_noderiv = -2 * as.numeric(logLik(f0)),
                   neg2_log_lik = -2 * as.numeric(logLik(f)), lme4_messages = paste(f@optinfo$conv$lme4$messages, collapse = "; "),
                   df_armINT_week = s$coefficients["armINT:week", "df"],
                   version = paste(R.version.string, "lme4", packageVersion("lme4"), "lmerTest", packageVersion("lmerTest")))
}
write_json(res, out, auto_unbox = TRUE, digits = NA)
"""


def time_r(files: list[str], reps: list[int], workdir: Path) -> list[dict] | None:
    if shutil.which("Rscript") is None:
        return None
    script = workdir / "bench_lmm.R"
    script.write_text(R_SCRIPT)
    out = workdir / "r_out.json"
    subprocess.run(["Rscript", str(script), ",".join(files), ",".join(map(str, reps)), str(out)], check=True)
    return json.loads(out.read_text())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}, numpy {np.__version__}; load average at start {load:.1f}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 200000])
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--out", default=str(HERE / "RESULTS_lmm.md"))
    args = ap.parse_args(argv)
    reps = {2000: 5, 20000: 3, 200000: 2}
    tmp = Path(tempfile.mkdtemp(prefix="bench_lmm_"))
    data, files = {}, []
    for n in args.sizes:
        d = simulate(n)
        data[n] = d
        f = tmp / f"sim_{n}.csv"
        d.to_csv(f, index=False)
        files.append(str(f))
    mach = machine()
    rows = []
    r_res = None if args.no_r else time_r(files, [min(3, reps.get(n, 1)) if n < 100000 else 1 for n in args.sizes], tmp)
    for k, n in enumerate(args.sizes):
        d = data[n]
        rp = reps.get(n, 1)
        t_sat, info = time_painstudy(d, rp, "satterthwaite")
        t_res, _ = time_painstudy(d, rp, "residual")
        row = {
            "subjects": n,
            "rows": len(d),
            "painstudy_satt": t_sat,
            "painstudy_fit": t_res,
            "neg2_painstudy": info["neg2_log_lik"],
            "df_painstudy": info["df_armINT_week"],
        }
        if n == min(args.sizes):
            t_sm, sm = time_statsmodels(d, 1)
            row.update(statsmodels=t_sm, neg2_statsmodels=sm["neg2_log_lik"])
        if r_res is not None:
            rr = r_res[k]
            row.update(
                lme4=rr["lme4_seconds"],
                lmerTest=rr["lmerTest_seconds"],
                neg2_lme4=rr["neg2_log_lik"],
                lme4_noderiv=rr["lme4_noderiv_seconds"],
                df_lmerTest=rr["df_armINT_week"],
                r_version=rr["version"],
                lme4_messages=rr["lme4_messages"],
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_results(rows, mach, Path(args.out))
    shutil.rmtree(tmp, ignore_errors=True)


def write_results(rows, mach, out: Path):
    def f(x):
        return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"

    lines = [
        "# Random-coefficient LMM benchmark (painstudy.lmm vs lme4 / lmerTest / statsmodels)",
        "",
        f"Generated by `python benchmarks/bench_lmm.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {mach}. The machine is shared (2 cores, other jobs running), so absolute times are noisy;",
        "all programs ran in the same run on the same data files.",
        "",
        "Model `y ~ arm * week + baseline + (1 + week | subject)`, REML; subjects x 5 visits (weeks 0, 2, 4, 8, 12),",
        "about 10% of post-baseline visits missing. Times are medians in seconds (R timed inside R with",
        "`system.time`, excluding start-up and reading the CSV; painstudy in-process after a warm-up).",
        "",
        "| subjects | rows | painstudy fit (df=residual) | painstudy + Satterthwaite | lme4::lmer | lme4::lmer, calc.derivs = FALSE "
        "| lmerTest + summary(Satterthwaite) | statsmodels MixedLM | lme4 / painstudy fit "
        "| lme4 (no derivs) / painstudy fit | lmerTest / painstudy Satt. |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio1 = r["lme4"] / r["painstudy_fit"] if "lme4" in r else None
        ratio2 = r["lmerTest"] / r["painstudy_satt"] if "lmerTest" in r else None
        ratio3 = r["lme4_noderiv"] / r["painstudy_fit"] if "lme4_noderiv" in r else None
        lines.append(
            f"| {r['subjects']:,} | {r['rows']:,} | {f(r['painstudy_fit'])} | {f(r['painstudy_satt'])} | "
            f"{f(r.get('lme4'))} | {f(r.get('lme4_noderiv'))} | {f(r.get('lmerTest'))} | "
            f"{f(r.get('statsmodels'))} | {'' if ratio1 is None else f'{ratio1:.1f}x'} | "
            f"{'' if ratio3 is None else f'{ratio3:.1f}x'} | {'' if ratio2 is None else f'{ratio2:.1f}x'} |"
        )
    lines += [
        "",
        "Agreement in the same run (-2 REML log-likelihood; Satterthwaite df of `armINT:week`):",
        "",
        "| subjects | painstudy -2LL | lme4 -2LL | statsmodels -2LL | painstudy df | lmerTest df | lme4 messages |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['subjects']:,} | {r['neg2_painstudy']:.6f} | "
            f"{'' if 'neg2_lme4' not in r else format(r['neg2_lme4'], '.6f')} | "
            f"{'' if 'neg2_statsmodels' not in r else format(r['neg2_statsmodels'], '.6f')} | "
            f"{r['df_painstudy']:.3f} | {'' if 'df_lmerTest' not in r else format(r['df_lmerTest'], '.3f')} | "
            f"{(r.get('lme4_messages', '') or '').replace(chr(10), ' ').replace('|', '/')} |"
        )
    if rows and "r_version" in rows[0]:
        lines += ["", f"R: {rows[0]['r_version']}."]
    lines += [
        "",
        "Ratios above 1 mean painstudy is faster. `lme4::lmer` by default also computes the Hessian "
        "for its convergence checks (`calc.derivs = TRUE`), which dominates at large n; the "
        "`calc.derivs = FALSE` column is the bare fit.",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
