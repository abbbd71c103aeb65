"""Benchmark painstudy's survival analyses against R's survival package, lifelines and statsmodels,
and write RESULTS_survival.md (``python benchmarks/make_results.py`` then rebuilds RESULTS.md).

Usage (from the repository root)::

    python benchmarks/bench_survival.py                   # every comparison, R if available
    python benchmarks/bench_survival.py --before 79a348f  # also painstudy at an older commit
    python benchmarks/bench_survival.py --quick           # fewer repetitions (a smoke run)

Data (generated here, deterministically, and written to CSV files that R reads):

* ``30k distinct``: 30,000 subjects in three arms, every time distinct (exponential times to
  improvement depending on arm, baseline and age; uniform dropout), about 24 % censored;
* ``1M grid``: 1,000,000 subjects, times on a grid of 182 days (in weeks), about 28 % censored.

How it is measured: in one run, on the same data, each comparison alternates the programs
repetition by repetition (painstudy, peer, painstudy, ... with the order swapped every other
repetition), after one unrecorded warm-up of each. painstudy and lifelines/statsmodels are timed in
this process (``time.perf_counter``) on data already in memory; R runs in one persistent process
(started once, data read once), where each call is timed with ``Sys.time()`` around it, so R's
start-up, package loading and ``read.csv`` are excluded as painstudy's imports and the CSV reading
are. The table gives the median time of each program and the median of the paired ratios
(painstudy time / peer time of the same repetition: below 1 means painstudy is faster). The
agreement column compares the numbers the programs computed (first repetition). ``--before``
times painstudy at an older commit (extracted with ``git archive``, run in a subprocess) on the
same data, for the before/after table.
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
ARMS = ["control", "single", "integrative"]
COVARIATES = ["baseline", "age"]


# ====================================================================================== data
def simulate(n: int, grid: bool, seed: int) -> pd.DataFrame:
    """n subjects, three arms; times distinct (continuous) or on a grid of 182 days, in weeks.

    ``status`` is 1 improved, 2 dropped out (censored before the end of follow-up), 0 censored at
    the end (26 weeks); ``event`` is ``status == 1``.
    """
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 3, n)
    baseline = np.round(rng.normal(6.5, 1.5, n), 1)
    age = rng.integers(20, 80, n).astype(float)
    rate = np.array([0.04, 0.06, 0.09])[arm] * np.exp(-0.15 * (baseline - 6.5) + 0.01 * (age - 50))
    t_true = rng.exponential(1 / rate)
    drop = np.where(rng.random(n) < 0.25, rng.uniform(0, 26, n), np.inf)
    end = 26.0
    if grid:
        t_true = np.ceil(t_true * 7) / 7
        drop = np.ceil(drop * 7) / 7
    time = np.minimum.reduce([t_true, drop, np.full(n, end)])
    event = (t_true <= np.minimum(drop, end)).astype(int)
    status = np.where(event == 1, 1, np.where(drop < end, 2, 0))
    if not grid:  # every time distinct, and at least 1e-6 apart (R's survival merges near-ties)
        order = np.argsort(time, kind="stable")
        time[order] += np.arange(n) * 1e-6
        time = np.round(time, 7)
        assert np.diff(np.sort(time)).min() > 5e-7
    return pd.DataFrame(
        {
            "subject": np.arange(n),
            "arm": np.array(ARMS)[arm],
            "time": time,
            "event": event,
            "status": status,
            "baseline": baseline,
            "age": age,
        }
    )


DATASETS = {
    "30k distinct": dict(n=30_000, grid=False, seed=20261127),
    "1M grid": dict(n=1_000_000, grid=True, seed=20261128),
}


# ====================================================================================== painstudy
def improvement_data(d: pd.DataFrame):
    from painstudy.improvement import ImprovementData

    return ImprovementData.from_table(d, arms=ARMS, reference="control", covariates=["age"], visit_weeks=[4, 8, 12, 26])


def painstudy_task(task: str, data):
    """A callable running one painstudy analysis; its result summarised by painstudy_summary."""
    from painstudy.models import survival as sv

    return {
        "km": lambda: sv.kaplan_meier(data),
        "logrank": lambda: sv.logrank(data, pairs="all"),
        "cox_zph": lambda: sv.cox_ph(data, covariates=COVARIATES),
        "cox": lambda: sv.cox_ph(data, covariates=COVARIATES),
        "aj": lambda: sv.cumulative_incidence(data),
    }[task]


def painstudy_summary(task: str, res) -> dict:
    if task == "km":
        m = res.medians
        return {"median": m["median"].tolist(), "lcl": m["ci_lower"].tolist(), "ucl": m["ci_upper"].tolist()}
    if task == "logrank":
        return {"overall": float(res.overall["statistic"].iloc[0]), "pairs": res.pairwise["statistic"].tolist()}
    if task in ("cox", "cox_zph"):
        return {
            "coef": res.table["estimate"].tolist(),
            "loglik": res.log_likelihood,
            "concordance": res.concordance,
            "zph": res.ph_test["statistic"].tolist(),
        }
    if task == "aj":
        last = res.table.groupby("arm", observed=True).tail(1)
        return {"estimate": last["estimate"].tolist(), "std_error": last["std_error"].tolist()}
    raise ValueError(task)


# ====================================================================================== peers
R_SERVER = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
arms <- c("control", "single", "integrative")
data <- list()
form <- Surv(time, event) ~ arm + baseline + age
tasks <- list(
  km = function(d) { f <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log")
                     list(fit = f, tab = summary(f)$table) },
  logrank = function(d) {
    prs <- combn(arms, 2)
    list(overall = survdiff(Surv(time, event) ~ arm, data = d)$chisq,
         pairs = apply(prs, 2, function(p)
           survdiff(Surv(time, event) ~ arm, data = droplevels(d[d$arm %in% p, ]))$chisq)) },
  cox_zph = function(d) { f <- coxph(form, data = d); list(f = f, z = cox.zph(f)) },
  cox = function(d) list(f = coxph(form, data = d)),
  aj = function(d) list(fit = survfit(Surv(time, state) ~ arm, data = d))
)
summarise <- function(task, r) switch(task,
  km = list(median = unname(r$tab[, "median"]), lcl = unname(r$tab[, "0.95LCL"]),
            ucl = unname(r$tab[, "0.95UCL"])),
  logrank = list(overall = r$overall, pairs = unname(r$pairs)),
  cox_zph = list(coef = unname(coef(r$f)), loglik = r$f$loglik[2],
                 concordance = unname(r$f$concordance["concordance"]), zph = unname(r$z$table[, "chisq"])),
  cox = list(coef = unname(coef(r$f)), loglik = r$f$loglik[2],
             concordance = unname(r$f$concordance["concordance"])),
  aj = {
    j <- match("improved", r$fit$states)
    last <- cumsum(r$fit$strata)
    list(estimate = unname(r$fit$pstate[last, j]), std_error = unname(r$fit$std.err[last, j]))
  })
con <- file("stdin"); open(con)
repeat {
  line <- readLines(con, n = 1)
  if (!length(line) || line == "quit") break
  p <- strsplit(line, "\t")[[1]]
  if (p[1] == "info") {
    cat(toJSON(list(R = R.version.string, survival = as.character(packageVersion("survival")),
                    blas = unname(extSoftVersion()["BLAS"]), lapack = La_library()),
               auto_unbox = TRUE), "\n", sep = "")
  } else if (p[1] == "load") {
    d <- read.csv(p[3])
    d$arm <- factor(d$arm, levels = arms)
    d$state <- factor(d$status, 0:2, labels = c("censor", "improved", "dropout"))
    data[[p[2]]] <- d
    cat("{}\n")
  } else if (p[1] == "run") {
    d <- data[[p[3]]]
    t0 <- Sys.time()
    r <- tasks[[p[2]]](d)
    el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
    s <- if (p[4] == "1") toJSON(summarise(p[2], r), digits = NA, auto_unbox = FALSE) else "{}"
    cat(sprintf("%.6f\t%s\n", el, s))
  }
  flush(stdout())
}
"""


class RServer:
    """One persistent R process: data read once, each analysis timed inside R."""

    def __init__(self, folder: Path):
        script = folder / "bench_survival_server.R"
        script.write_text(R_SERVER)
        self.proc = subprocess.Popen(
            ["Rscript", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ask(self, *parts: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write("\t".join(parts) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"R stopped while running {parts}")
        return line.rstrip("\n")

    def run(self, task: str, dataset: str, summary: bool) -> tuple[float, dict]:
        el, js = self.ask("run", task, dataset, "1" if summary else "0").split("\t", 1)
        return float(el), json.loads(js)

    def close(self) -> None:
        try:
            self.ask("quit")
        except (RuntimeError, BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=60)


def peer_tasks(d: pd.DataFrame) -> dict:
    """In-process peers: (program, task) -> callable returning a summary like painstudy_summary."""
    import statsmodels.api as sm
    from lifelines import CoxPHFitter, KaplanMeierFitter

    groups = {a: (d.loc[d["arm"] == a, "time"].to_numpy(), d.loc[d["arm"] == a, "event"].to_numpy()) for a in ARMS}
    X = pd.DataFrame(
        {
            "armsingle": (d["arm"] == "single").astype(float),
            "armintegrative": (d["arm"] == "integrative").astype(float),
            "baseline": d["baseline"],
            "age": d["age"],
        }
    )
    cox_df = X.assign(time=d["time"].to_numpy(), event=d["event"].to_numpy())

    def lifelines_km():
        med = []
        for t, e in groups.values():
            kmf = KaplanMeierFitter().fit(t, e)
            med.append(float(kmf.median_survival_time_))
        return {"median": med}

    def lifelines_cox():
        cph = CoxPHFitter().fit(cox_df, "time", "event")
        return {
            "coef": cph.params_.tolist(),
            "loglik": float(cph.log_likelihood_),
            "concordance": float(cph.concordance_index_),
        }

    def statsmodels_km():
        med = []
        for t, e in groups.values():
            sf = sm.SurvfuncRight(t, e)
            med.append(float(sf.quantile(0.5)))
        return {"median": med}

    def statsmodels_cox():
        fit = sm.PHReg(d["time"].to_numpy(), X.to_numpy(), status=d["event"].to_numpy(), ties="efron").fit()
        return {"coef": list(fit.params), "loglik": float(fit.llf)}

    def statsmodels_logrank():
        from statsmodels.duration.survfunc import survdiff

        overall = survdiff(d["time"].to_numpy(), d["event"].to_numpy(), d["arm"].to_numpy())[0]
        pairs = []
        for i, a in enumerate(ARMS):
            for b in ARMS[i + 1 :]:
                s = d["arm"].isin([a, b]).to_numpy()
                pairs.append(survdiff(d["time"].to_numpy()[s], d["event"].to_numpy()[s], d["arm"].to_numpy()[s])[0])
        return {"overall": float(overall), "pairs": [float(p) for p in pairs]}

    return {
        ("lifelines", "km"): lifelines_km,
        ("lifelines", "cox"): lifelines_cox,
        ("lifelines", "cox_zph"): lifelines_cox,
        ("statsmodels", "km"): statsmodels_km,
        ("statsmodels", "cox"): statsmodels_cox,
        ("statsmodels", "cox_zph"): statsmodels_cox,
        ("statsmodels", "logrank"): statsmodels_logrank,
    }


# ====================================================================================== comparisons
#: (label, dataset, task, peers, repetitions); peers are "R" or in-process programs
COMPARISONS = [
    ("Kaplan-Meier (+ medians, CIs, at-risk table)", "30k distinct", "km", ["R", "lifelines", "statsmodels"], 15),
    ("log-rank, overall + 3 pairs", "30k distinct", "logrank", ["R", "statsmodels"], 15),
    ("Cox (Efron) + PH test", "30k distinct", "cox_zph", ["R", "lifelines", "statsmodels"], 11),
    ("Aalen-Johansen cumulative incidence", "30k distinct", "aj", ["R"], 11),
    ("Kaplan-Meier (+ medians, CIs, at-risk table)", "1M grid", "km", ["R", "lifelines", "statsmodels"], 7),
    ("log-rank, overall + 3 pairs", "1M grid", "logrank", ["R", "statsmodels"], 5),
    ("Cox (Efron) + PH test vs Cox alone", "1M grid", "cox", ["R", "lifelines", "statsmodels"], 5),
    ("Cox (Efron) + PH test", "1M grid", "cox_zph", ["R"], 5),
    ("Aalen-Johansen cumulative incidence", "1M grid", "aj", ["R"], 5),
]
#: a peer slower than this per repetition is run once more only (its median is then of 2)
SLOW_PEER_S = 15.0
PEER_NOTE = {
    ("R", "km"): "survfit + summary()$table",
    ("R", "logrank"): "survdiff x 4",
    ("R", "cox_zph"): "coxph + cox.zph",
    ("R", "cox"): "coxph (with its concordance)",
    ("R", "aj"): "survfit multi-state",
    ("lifelines", "km"): "KaplanMeierFitter per arm + median",
    ("lifelines", "cox"): "CoxPHFitter + concordance_index_",
    ("lifelines", "cox_zph"): "CoxPHFitter + concordance_index_ (no PH test)",
    ("statsmodels", "km"): "SurvfuncRight per arm + median",
    ("statsmodels", "cox"): "PHReg(ties='efron')",
    ("statsmodels", "cox_zph"): "PHReg(ties='efron') (no PH test)",
    ("statsmodels", "logrank"): "survdiff x 4",
}


WHY_SLOWER = {
    ("statsmodels", "km"): "`SurvfuncRight` computes the curve, its standard error and the median only; "
    "painstudy also computes R's log-transformed confidence band, the median's "
    "confidence interval by R's rule and the at-risk table, and builds the tidy "
    "result tables (a fixed cost of pandas work, a large part of painstudy's time on these data).",
}
NOTES = [
    "lifelines' Cox coefficients differ from R's and painstudy's by up to about 1e-6: its Newton "
    "iterations stop before the optimum (its log-likelihood is lower); painstudy and R agree to "
    "about 1e-12 on these data (and to 1e-10 on the reference data sets of the test suite).",
    "R's survival treats times closer than about 1.5e-8 (relative) as tied (`aeqSurv`); the "
    "distinct times of the 30k data are at least 1e-6 apart, so every program sees the same ties.",
    "painstudy's Cox time always includes its PH test (cox.zph's score test) and the concordance; "
    "R's `coxph` computes the concordance too, lifelines' is asked for (`concordance_index_`).",
    "The before column is painstudy at the commit named (lifelines' Kaplan-Meier and Cox fitters, a "
    "Python loop over event times for the PH test, dense subjects x times matrices), run in a "
    "subprocess on the same data in the same run; fewer repetitions (it is slow).",
]


def agreement(task: str, ours: dict, theirs: dict) -> str:
    """Largest difference between the numbers two programs computed, in words."""
    if not theirs:
        return ""

    def maxdiff(a, b, rel=False):
        a, b = np.asarray(a, float), np.asarray(b, float)
        if a.shape != b.shape:
            return float("nan")
        ok = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            return float("inf")
        d = np.abs(a[ok] - b[ok]) / (np.abs(b[ok]) if rel else 1.0)
        return float(d.max()) if d.size else 0.0

    parts = []
    for key, rel, label in (
        ("median", False, "medians"),
        ("lcl", False, "CI"),
        ("ucl", False, "CI"),
        ("overall", True, "chi-square (rel.)"),
        ("pairs", True, "pairwise chi-square (rel.)"),
        ("coef", False, "coefficients"),
        ("loglik", False, "log-lik."),
        ("concordance", False, "concordance"),
        ("zph", True, "PH chi-square (rel.)"),
        ("estimate", False, "estimate"),
        ("std_error", True, "SE (rel.)"),
    ):
        if key in ours and key in theirs:
            parts.append((label, maxdiff(ours[key], theirs[key], rel)))
    merged: dict[str, float] = {}
    for label, v in parts:
        merged[label] = max(merged.get(label, 0.0), v)
    return "; ".join(f"{k} {v:.1e}" for k, v in merged.items())


def run_comparisons(frames: dict, r: RServer | None, quick: bool) -> list[dict]:
    results = []
    datas = {name: improvement_data(d) for name, d in frames.items()}
    peers_by_data = {name: peer_tasks(d) for name, d in frames.items()}
    for label, ds, task, peers, reps in COMPARISONS:
        reps = 3 if quick else reps
        peers = [p for p in peers if p != "R" or r is not None]
        print(f"{label} [{ds}] x{reps}: painstudy vs {', '.join(peers)}", flush=True)
        ps_fn = painstudy_task(task, datas[ds])

        def run_peer(peer, first, task=task, ds=ds):
            if peer == "R":
                return r.run(task, ds, first)
            fn = peers_by_data[ds][(peer, task)]
            t0 = time.perf_counter()
            out = fn()
            return time.perf_counter() - t0, out

        load = [os.getloadavg()[0]]
        ours = painstudy_summary(task, ps_fn())  # warm-up, and the numbers to compare
        theirs = {}
        for p in peers:
            _, theirs[p] = run_peer(p, True)
        times: dict[str, list[float]] = {"painstudy": [], **{p: [] for p in peers}}
        for i in range(reps):
            order = ["painstudy", *peers] if i % 2 == 0 else [*peers[::-1], "painstudy"]
            for prog in order:
                if prog != "painstudy" and len(times[prog]) >= 2 and min(times[prog]) > SLOW_PEER_S:
                    continue
                if prog == "painstudy":
                    t0 = time.perf_counter()
                    ps_fn()
                    times[prog].append(time.perf_counter() - t0)
                else:
                    times[prog].append(run_peer(prog, False)[0])
            load.append(os.getloadavg()[0])
        row = {
            "label": label,
            "dataset": ds,
            "task": task,
            "reps": reps,
            "times": times,
            "load": [min(load), float(np.median(load)), max(load)],
            "peers": {},
        }
        ps = np.array(times["painstudy"])
        for p in peers:
            pt = np.array(times[p])
            k = len(pt)
            row["peers"][p] = {
                "median_s": float(np.median(pt)),
                "ratio": float(np.median(ps[:k] / pt)),
                "agreement": agreement(task, ours, theirs[p]),
                "note": PEER_NOTE[(p, task)],
            }
        row["painstudy_median_s"] = float(np.median(ps))
        print(
            "   painstudy",
            _fmt_s(row["painstudy_median_s"]),
            *(
                f"| {p} {_fmt_s(v['median_s'])} ratio {v['ratio']:.2f} [{v['agreement']}]"
                for p, v in row["peers"].items()
            ),
            flush=True,
        )
        results.append(row)
    return results


# ====================================================================================== before
BEFORE_TASKS = [
    ("30k distinct", "km", 3),
    ("30k distinct", "logrank", 3),
    ("30k distinct", "cox_zph", 2),
    ("1M grid", "km", 3),
    ("1M grid", "logrank", 2),
    ("1M grid", "cox", 1),
]


def run_before(ref: str, csvs: dict, quick: bool) -> dict:
    """Time painstudy at commit ``ref`` (git archive into a temporary folder, fresh subprocess)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "painstudy"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        for ds, task, reps in BEFORE_TASKS:
            reps = 1 if quick else reps
            print(f"before ({ref}): {task} [{ds}] x{reps}", flush=True)
            p = subprocess.run(
                [sys.executable, str(Path(__file__)), "--worker", task, str(csvs[ds]), str(reps)],
                env=env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            out[f"{ds}|{task}"] = json.loads(lines[-1]) if lines else {"error": p.stderr[-400:]}
            print("  ", out[f"{ds}|{task}"].get("median_s", out[f"{ds}|{task}"].get("error")), flush=True)
    return out


def worker(task: str, csv: str, reps: int) -> None:
    """Subprocess: time one painstudy task (painstudy imported from PYTHONPATH)."""
    import painstudy

    d = pd.read_csv(csv)
    fn = painstudy_task(task, improvement_data(d))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": float(np.median(times)), "times": times, "painstudy": painstudy.__file__}))


# ====================================================================================== report
def machine_info(r_info: dict) -> dict:
    import lifelines
    import scipy
    import statsmodels
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    try:
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        mem = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        mem = ""
    blas = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads, "
        f"{Path(i.get('filepath', '')).parent.name})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "lifelines": lifelines.__version__,
        "statsmodels": statsmodels.__version__,
        "python_blas": blas,
        **{f"r_{k}": v for k, v in r_info.items()},
    }


def _fmt_s(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def write_results(
    rows: list[dict], before: dict, info: dict, data_facts: dict, before_ref: str | None, out: Path
) -> None:
    L = [
        "# Survival benchmark (painstudy vs R survival, lifelines, statsmodels)",
        "",
        f"Generated by `benchmarks/bench_survival.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {info['platform']}; {info['cpu']}; {info['cores']} cores; {info['memory']}; Python "
        f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, pandas {info['pandas']}, "
        f"lifelines {info['lifelines']}, statsmodels {info['statsmodels']}; "
        f"{info.get('r_R', 'R not run')}, survival {info.get('r_survival', '-')}.",
        "",
        f"BLAS: Python {info['python_blas'] or 'unknown'}; R {info.get('r_blas', '-')} "
        f"(LAPACK {info.get('r_lapack', '-')}).",
        "",
        "Load (1-minute load average, min / median / max over each comparison) is in the last column: "
        "this machine has 2 cores shared with other work, so absolute times move from run to run; "
        "the paired ratios (each repetition of painstudy against the peer's repetition next to it) "
        "are the robust figure.",
        "",
        "Data: " + "; ".join(f"**{k}**: {v}" for k, v in data_facts.items()) + ".",
        "",
        "How: " + __doc__.split("How it is measured: ", 1)[1].split("\n\n")[0].replace("\n", " "),
        "",
        "| comparison | data | reps | painstudy | peer | peer time | ratio painstudy / peer | agreement | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        first = True
        for p, v in row["peers"].items():
            faster = "faster" if v["ratio"] < 1 else "slower"
            L.append(
                f"| {row['label'] if first else ''} | {row['dataset'] if first else ''} | "
                f"{row['reps'] if first else ''} | {_fmt_s(row['painstudy_median_s']) if first else ''} | "
                f"{p}: {v['note']} | {_fmt_s(v['median_s'])} | **{v['ratio']:.2f}** ({faster}) | "
                f"{v['agreement']} | {'/'.join(f'{x:.1f}' for x in row['load']) if first else ''} |"
            )
            first = False
    if before:
        L += [
            "",
            f"## Before and after (painstudy at {before_ref} vs this commit, same data, same run)",
            "",
            "| analysis | data | before | after | speed-up |",
            "|---|---|---|---|---|",
        ]
        after = {(r["dataset"], r["task"]): r["painstudy_median_s"] for r in rows}
        for key, b in before.items():
            ds, task = key.split("|")
            a = after.get((ds, task))
            bt = b.get("median_s")
            sp = f"{bt / a:.0f}x" if (a and bt) else b.get("error", "n/a")[:80]
            L.append(f"| {task} | {ds} | {_fmt_s(bt)} | {_fmt_s(a)} | {sp} |")
    L += ["", "## Goals (issue 16)", ""]
    goals = [
        ("30k distinct", "km", "R"),
        ("30k distinct", "cox_zph", "R"),
        ("1M grid", "cox", "R"),
        ("1M grid", "cox", "lifelines"),
        ("1M grid", "km", "lifelines"),
        ("1M grid", "km", "R"),
    ]
    for ds, task, peer in goals:
        row = next((r for r in rows if r["dataset"] == ds and r["task"] == task and peer in r["peers"]), None)
        if row is None:
            L.append(f"- {task} [{ds}] at least as fast as {peer}: not measured")
            continue
        v = row["peers"][peer]
        verdict = "met" if v["ratio"] <= 1 else "NOT met"
        L.append(
            f"- {row['label']} [{ds}] at least as fast as {peer} ({v['note']}): painstudy "
            f"{_fmt_s(row['painstudy_median_s'])} vs {_fmt_s(v['median_s'])}, median paired ratio "
            f"{v['ratio']:.2f} -> {verdict}"
        )
    slower = [(row, p, v) for row in rows for p, v in row["peers"].items() if v["ratio"] > 1]
    L += ["", "## Notes", ""]
    for row, p, v in slower:
        L.append(
            f"- painstudy is slower than {p} for {row['label']} [{row['dataset']}] "
            f"({_fmt_s(row['painstudy_median_s'])} vs {_fmt_s(v['median_s'])}): "
            f"{WHY_SLOWER.get((p, row['task']), 'not explained yet.')}"
        )
    L += [f"- {text}" for text in NOTES]
    L += [
        "",
        "Raw results (JSON):",
        "",
        "```json",
        json.dumps({"rows": rows, "before": before, "machine": info}, indent=1, default=str),
        "```",
        "",
    ]
    out.write_text("\n".join(L))


# ====================================================================================== main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", metavar="REF", help="also time painstudy at this git commit")
    ap.add_argument("--no-r", action="store_true", help="skip R")
    ap.add_argument("--quick", action="store_true", help="3 repetitions per comparison")
    ap.add_argument("--out", default=str(HERE / "RESULTS_survival.md"))
    ap.add_argument("--worker", nargs=3, metavar=("TASK", "CSV", "REPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames, csvs, facts = {}, {}, {}
        for name, spec in DATASETS.items():
            d = simulate(**spec)
            frames[name] = d
            csvs[name] = folder / f"{name.replace(' ', '_')}.csv"
            d.to_csv(csvs[name], index=False)
            facts[name] = (
                f"{len(d):,} subjects, {d['time'].nunique():,} distinct times, "
                f"{d['event'].mean():.0%} improved, {(d['status'] == 2).mean():.0%} dropped out"
            )
        r = None
        r_info: dict = {}
        if not args.no_r and shutil.which("Rscript"):
            r = RServer(folder)
            r_info = json.loads(r.ask("info"))
            for name in frames:
                r.ask("load", name, str(csvs[name]))
        try:
            rows = run_comparisons(frames, r, args.quick)
        finally:
            if r is not None:
                r.close()
        before = run_before(args.before, csvs, args.quick) if args.before else {}
        write_results(rows, before, machine_info(r_info), facts, args.before, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
