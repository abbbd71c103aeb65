"""Registry-scale MMRM out of core: a Parquet file of N subjects x 6 visits fitted in chunks.

    python benchmarks/bench_registry.py                 # 1M subjects (file, in-memory comparison), writes RESULTS_registry.md
    python benchmarks/bench_registry.py --with-10m      # also 10M subjects x 6 visits (60M rows; about 3 GB of disk)
    python benchmarks/bench_registry.py --dir /scratch  # where the Parquet files go (default: a temporary folder)

Each fit runs in its own process, so its peak resident memory (``ru_maxrss``) is its own.  The data are the
simulation of ``bench_mmrm.py`` (two arms, a baseline covariate, ~15% of visits missing at random),
written in row groups of 1M rows, sorted by subject as registries export them.  At 1M subjects the same
file is also read whole into pandas and fitted in memory (``painstudy.mmrm`` on the DataFrame): the largest
relative difference of the estimates, standard errors and df is recorded (goal: 1e-10).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_mmrm import SIM_US, machine_info, simulate  # noqa: E402

GOALS = {1_000_000: (3.0, 1.0), 10_000_000: (60.0, 8.0)}  # seconds, GiB


def write_file(n: int, path: Path, block: int = 1_000_000) -> None:
    """n subjects in blocks (generation memory stays small); subject ids continue across blocks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for k, first in enumerate(range(0, n, block)):
        d = simulate(min(block, n - first), seed=1000 + k, missing_rows=True)
        d["id"] += first
        t = pa.Table.from_pandas(d, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(str(path), t.schema)
        writer.write_table(t, row_group_size=1_000_000)
    writer.close()


def _one(mode: str, path: str, reps: int) -> dict:
    """In a subprocess: one fit from the file (``file``) or from the file read into pandas (``memory``)."""
    import resource

    import pandas as pd

    from painstudy.models.mixed.mmrm import mmrm

    # warm-up on a small file: the imports (pyarrow.dataset, scipy) are not the fit
    small = Path(path).with_name("warmup.parquet")
    write_file(2000, small)
    mmrm(SIM_US, str(small) if mode == "file" else pd.read_parquet(small))
    small.unlink()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fit = mmrm(SIM_US, path if mode == "file" else pd.read_parquet(path))
        times.append(time.perf_counter() - t0)
    c = fit.coefficients
    return {
        "mode": mode,
        "seconds": float(np.median(times)),
        "times": times,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "converged": fit.converged,
        "n_obs": fit.n_obs,
        "n_subjects": fit.n_subjects,
        "neg2_log_lik": fit.neg2_log_lik,
        "estimate": c["estimate"].tolist(),
        "std_error": c["std_error"].tolist(),
        "df": c["df"].tolist(),
    }


def run(mode: str, path: Path, reps: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__)), "--one", mode, str(path), str(reps)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def rel_diff(a: dict, b: dict) -> float:
    """Largest difference: of the estimates in units of their standard error, of SEs and df relative."""
    se = np.asarray(a["std_error"])
    worst = float(np.max(np.abs(np.asarray(a["estimate"]) - np.asarray(b["estimate"])) / se))
    for k in ("std_error", "df"):
        x, y = np.asarray(a[k]), np.asarray(b[k])
        worst = max(worst, float(np.max(np.abs(x - y) / np.abs(x))))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--with-10m", action="store_true")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--one", nargs=3, metavar=("MODE", "PATH", "REPS"))
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(_one(a.one[0], a.one[1], int(a.one[2]))))
        return 0
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        sizes = [1_000_000] + ([10_000_000] if a.with_10m else [])
        for n in sizes:
            path = Path(tmp) / f"registry_{n}.parquet"
            t0 = time.perf_counter()
            write_file(n, path)
            gen = time.perf_counter() - t0
            reps = 3 if n <= 1_000_000 else 1
            f = run("file", path, reps)
            m = run("memory", path, reps) if n <= 1_000_000 else None
            rows.append((n, path.stat().st_size, gen, f, m))
            print(n, f["seconds"], f["peak_rss_bytes"] / 2**30, m and m["seconds"], flush=True)
            path.unlink()
    write_results(rows, HERE / "RESULTS_registry.md", load)
    return 0


def write_results(rows, out: Path, load: float) -> None:
    lines = [
        "# Registry-scale MMRM out of core (`bench_registry.py`)",
        "",
        machine_info(),
        "",
        f"Load average (1 min) when the run started: {load:.2f}; BLAS: one thread during the fit "
        "(painstudy's policy, models/blas.py), two worker threads for the chunks.",
        "",
        f"Formula `{SIM_US}` (13 fixed effects, unstructured 6 x 6 covariance, REML, Satterthwaite df). "
        "Every subject has a row at each of the 6 visits, ~15% of them with a missing outcome "
        "(dropped and counted, as a registry export would hold them). "
        "The file is read twice in chunks of 250,000 rows (levels, then per-pattern statistics); "
        "nothing the size of the data is held. Each mode in its own process (peak memory is its own), after a "
        "warm-up fit of a small file (imports); median of 3 runs at 1M, one run at 10M.",
        "",
        "| subjects | rows | Parquet | from the file | peak memory | goal | in memory (pandas) | peak memory | "
        "largest difference (estimates in SEs; SEs, df relative) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, size, _gen, f, m in rows:
        gs, gm = GOALS[n]
        met = f["seconds"] < gs and f["peak_rss_bytes"] / 2**30 < gm and f["converged"]
        mem = (
            f"{m['seconds']:.2f} s | {m['peak_rss_bytes'] / 2**30:.2f} GiB | {rel_diff(m, f):.1e}"
            if m
            else "not run: pandas and the in-memory fit would need about ten times the 1M peak | | "
        )
        lines.append(
            f"| {n:,} | {f['n_obs']:,} | {size / 2**20:,.0f} MiB | {f['seconds']:.2f} s | "
            f"{f['peak_rss_bytes'] / 2**30:.2f} GiB | < {gs:g} s, < {gm:g} GiB: {'met' if met else 'NOT met'} | {mem} |"
        )
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
