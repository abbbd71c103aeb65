"""``painstudy power DESIGN``: power of a trial design by simulation, here or on a Dask cluster.

Prints the power table (per sample size and comparison: power with its Monte Carlo SE, type I error,
analytic power, bias, coverage) and writes ``power.csv``, ``power.json`` and the power curve
(``power_curve.png/.svg/.pdf``) into ``--out`` (default ``./reports/power-<design>``), a folder painstudy
owns. Finished batches are kept in a checkpoint folder (``--checkpoint``, default ``<out>.checkpoint``)
until the run completes: an interrupted run is resumed by running the same command again.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: --cluster choices (dask-jobqueue; "local" runs the jobs as local processes, to try a cluster.yml)
CLUSTERS = ("slurm", "pbs", "sge", "lsf", "local")


def register(subparsers) -> None:
    sp = subparsers.add_parser(
        "power",
        help="power of a trial design by simulation (and analytically), here or on a Dask cluster",
        description="Simulate N trials per sample size from a design.yml (or 'demo'), analyse each as planned "
        "(MMRM or ANCOVA) and report power with its Monte Carlo SE, type I error (all effects 0), bias, CI "
        "coverage and the analytic MMRM power (Lu, Luo & Chen 2008). The same seed gives the same table "
        "whatever the workers, batches or interruptions.",
    )
    sp.add_argument("design", metavar="DESIGN", help="a design.yml, or 'demo' (the simulator's trial on pain)")
    sp.add_argument("--n", type=int, nargs="+", required=True, metavar="N", help="subjects per arm (one or more)")
    sp.add_argument("--n-sim", type=int, default=1000, help="simulated trials per sample size (default 1000)")
    sp.add_argument("--seed", type=int, required=True, help="seed of every random number")
    sp.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    sp.add_argument(
        "--analysis",
        choices=("mmrm", "ancova", "responders", "slopes", "improvement"),
        help="override the design's analysis (responders, improvement: a threshold in design.yml)",
    )
    where = sp.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="a local Dask cluster of N worker processes (1: this process)")
    where.add_argument("--scheduler", metavar="ADDR", help="an existing Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--cluster", choices=CLUSTERS, help="start a dask-jobqueue cluster (see --cluster-config)")
    sp.add_argument(
        "--cluster-config",
        default="cluster.yml",
        metavar="FILE",
        help="dask-jobqueue arguments (cores, memory, queue, walltime, ...; jobs: how many) (default cluster.yml)",
    )
    sp.add_argument("--no-null", action="store_true", help="skip the type I error (the design with every effect 0)")
    sp.add_argument("--batch-size", type=int, help="trials per task (default: about 8 tasks per worker)")
    sp.add_argument("--checkpoint", metavar="DIR", help="folder of finished batches (default <out>.checkpoint)")
    sp.add_argument("--out", help="output folder (default ./reports/power-<design name>)")
    sp.set_defaults(func=run)


def engine_choice(args):
    """The ``executor`` argument of :func:`painstudy.power.power` from the command-line options."""
    if args.workers is not None:
        return "local" if args.workers == 1 else args.workers
    if args.scheduler:
        return args.scheduler
    if args.cluster:
        from ..power.engine import read_cluster_config

        return (args.cluster, read_cluster_config(args.cluster_config))
    return None


def run(args) -> int:
    from ..design import demo_design, read_design
    from ..io import display_path
    from ..outputs import OutputFolder, default_output_dir
    from ..plotting import save_figure
    from ..power import power

    design = demo_design() if args.design == "demo" else read_design(args.design)
    out = Path(args.out) if args.out else default_output_dir(f"power-{design.name}".replace(" ", "_"))
    checkpoint = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".checkpoint")
    try:
        result = power(
            design,
            args.n,
            analysis=args.analysis,
            n_sim=args.n_sim,
            alpha=args.alpha,
            seed=args.seed,
            executor=engine_choice(args),
            batch_size=args.batch_size,
            checkpoint=checkpoint,
            null=not args.no_null,
            progress=True,
        )
    except KeyboardInterrupt:
        print(
            f"painstudy: finished batches are kept in {display_path(checkpoint)}; run the same command to resume",
            file=sys.stderr,
        )
        raise
    import matplotlib

    from ..io import write_json
    from ..power.checkpoint import remove_checkpoint

    matplotlib.use("Agg")
    with OutputFolder(out, kind="power") as folder:
        result.table.to_csv(folder.path / "power.csv", index=False, float_format="%.6g")
        write_json(result.to_dict() | {"design": design.describe()}, folder.path / "power.json")
        ax = result.plot()
        for ext in ("png", "svg", "pdf"):
            save_figure(ax.figure, folder.path / f"power_curve.{ext}")
        target = folder.publish(
            {"name": design.name, "parameters": {"n": args.n, "n_sim": args.n_sim, "seed": args.seed}}
        )
    remove_checkpoint(checkpoint)
    print(result.summary())
    print(
        f"\nwritten: {display_path(target)} (power.csv, power.json, power_curve.png/.svg/.pdf); {result.seconds:.1f} s"
    )
    return 0
