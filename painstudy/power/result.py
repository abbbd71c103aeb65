"""The result of a power run: per sample size and comparison, power, type I error, bias and coverage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.design import Design
from painstudy.rendering import Rendered, Tidy

__all__ = ["PowerResult", "summarise", "POWER_COLUMNS"]

#: columns of :attr:`PowerResult.table`
POWER_COLUMNS = [
    "n_per_arm",
    "comparison",
    "n_sim",
    "power",
    "power_se",
    "type1_error",
    "type1_se",
    "true_effect",
    "mean_estimate",
    "bias",
    "bias_se",
    "coverage",
    "coverage_se",
    "empirical_se",
    "mean_std_error",
    "analytic_power",
    "n_failed",
]
ANY = "any arm"


def _rate(x: np.ndarray) -> tuple[float, float]:
    if len(x) == 0:
        return np.nan, np.nan
    p = float(np.mean(x))
    return p, float(np.sqrt(p * (1 - p) / len(x)))


def summarise(trials: pd.DataFrame, design: Design, alpha: float, analytic: pd.DataFrame | None) -> pd.DataFrame:
    """The power table from the analysed trials (one row per n, comparison; plus 'any arm': at least one
    comparison significant, whose type I error is the family-wise error rate)."""
    truth = design.true_effects()
    t = trials.assign(reject=(trials["p_adjusted"] < alpha) & ~trials["failed"])
    rows = []
    for n in sorted(t["n_per_arm"].unique()):
        at = t[t["n_per_arm"] == n]
        for comp in [*design.arms[1:], ANY] if len(design.arms) > 2 else design.arms[1:]:
            alt = at[at["hypothesis"] == "alternative"]
            null = at[at["hypothesis"] == "null"]
            if comp == ANY:
                power, power_se = _rate(alt.groupby("trial")["reject"].any().to_numpy())
                type1, type1_se = _rate(null.groupby("trial")["reject"].any().to_numpy())
                rows.append(
                    {
                        "n_per_arm": int(n),
                        "comparison": comp,
                        "n_sim": int(alt["trial"].nunique()),
                        "power": power,
                        "power_se": power_se,
                        "type1_error": type1,
                        "type1_se": type1_se,
                        "n_failed": int(alt.groupby("trial")["failed"].any().sum()),
                    }
                )
                continue
            a, z = alt[alt["comparison"] == comp], null[null["comparison"] == comp]
            ok = a[~a["failed"]]
            est = ok["estimate"].to_numpy(float)
            power, power_se = _rate(a["reject"].to_numpy())
            type1, type1_se = _rate(z["reject"].to_numpy())
            cover, cover_se = (
                _rate(((ok["ci_lower"] <= truth[comp]) & (truth[comp] <= ok["ci_upper"])).to_numpy())
                if np.isfinite(truth[comp])
                else (np.nan, np.nan)  # no true value (time to improvement): no coverage
            )
            sd = float(np.std(est, ddof=1)) if len(est) > 1 else np.nan
            rows.append(
                {
                    "n_per_arm": int(n),
                    "comparison": comp,
                    "n_sim": len(a),
                    "power": power,
                    "power_se": power_se,
                    "type1_error": type1,
                    "type1_se": type1_se,
                    "true_effect": float(truth[comp]),
                    "mean_estimate": float(np.mean(est)) if len(est) else np.nan,
                    "bias": float(np.mean(est) - truth[comp]) if len(est) else np.nan,
                    "bias_se": sd / np.sqrt(len(est)) if len(est) > 1 else np.nan,
                    "coverage": cover,
                    "coverage_se": cover_se,
                    "empirical_se": sd,
                    "mean_std_error": float(ok["std_error"].mean()) if len(ok) else np.nan,
                    "n_failed": int(a["failed"].sum()),
                }
            )
    table = pd.DataFrame(rows).reindex(columns=POWER_COLUMNS)
    if analytic is not None and len(analytic):
        merged = table[["n_per_arm", "comparison"]].merge(
            analytic[["n_per_arm", "comparison", "analytic_power"]], how="left", on=["n_per_arm", "comparison"]
        )
        table["analytic_power"] = merged["analytic_power"].to_numpy()
    table["n_failed"] = table["n_failed"].astype(int)
    return table


@dataclass(frozen=True, repr=False)
class PowerResult(Rendered):
    """Simulated power of a design per sample size and comparison with the control arm.

    ``table`` columns: ``n_per_arm, comparison, n_sim, power, power_se`` (Monte Carlo SE), ``type1_error,
    type1_se`` (the same design with every effect 0), ``true_effect, mean_estimate, bias, bias_se, coverage,
    coverage_se`` (of the unadjusted ``1 - alpha`` interval), ``empirical_se, mean_std_error,
    analytic_power`` (Lu, Luo & Chen 2008; unadjusted, normal), ``n_failed`` (fits that failed: counted as not
    significant). ``trials``: every analysed trial (:data:`painstudy.power.trials.TRIAL_COLUMNS`).
    """

    table: pd.DataFrame
    trials: pd.DataFrame
    design: Design
    alpha: float
    seed: int
    n_sim: int
    engine: str
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def plot(self, *, comparison=None, target: float | None = 0.8, ax=None):
        """The power curve (:func:`painstudy.plotting.power.plot_power_curve`)."""
        from painstudy.plotting.power import plot_power_curve

        return plot_power_curve(self.table, comparison=comparison, target=target, ax=ax)

    def smallest_n(self, target: float = 0.8, comparison: str | None = None) -> int | None:
        """The smallest simulated ``n_per_arm`` whose power reaches ``target`` (every comparison, or one)."""
        t = self.table[self.table["comparison"] != ANY]
        if comparison is not None:
            t = t[t["comparison"] == comparison]
        ok = t.groupby("n_per_arm")["power"].min()
        ok = ok[ok >= target]
        return int(ok.index.min()) if len(ok) else None

    def tidy(self) -> Tidy:
        d = self.design
        shown = self.table[
            ["n_per_arm", "comparison", "power", "power_se", "type1_error", "analytic_power", "true_effect", "bias"]
            + ["coverage", "n_failed"]
        ]
        return Tidy(
            f"Power: {d.name}, {d.outcome} at {d.analysis_visit} ({d.analysis})",
            (
                ("design", d.source),
                (
                    "analysis",
                    f"{d.analysis} ({d.analysis_covariance} covariance)" if d.analysis == "mmrm" else d.analysis,
                ),
                ("alpha", self.alpha),
                ("multiplicity", d.multiplicity),
                ("simulated trials per point", self.n_sim),
                ("seed", self.seed),
                ("engine", self.engine),
            ),
            (("power", self.table),),
            self.notes,
            (("power", shown),),
        )
