"""Result of a random-coefficient linear mixed model: :class:`LMMResult`.

LS means, contrasts, trends, type III tests and population predictions come from
:class:`~painstudy.models.mixed.results.MixedModelResult`; this class adds the variance components,
lme4's ``theta``, the BLUPs of the random effects and subject-level predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.io import to_jsonable
from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.lmm_inference import natural_specs
from painstudy.models.mixed.results import MixedModelResult, coefficient_table, numerical_notes, term_frame
from painstudy.rendering import Tidy

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.lmm import LMMData
    from painstudy.models.mixed.lmm_optim import LMMFit

__all__ = ["LMMResult"]

VARCORR_COLUMNS = ["group", "term1", "term2", "variance", "sd", "corr"]


@dataclass(frozen=True, repr=False)
class LMMResult(MixedModelResult):
    """Result of :func:`painstudy.models.mixed.lmm.lmm` (immutable).

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term; ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``.
    varcorr : DataFrame
        Variance components, one row per variance or covariance: ``group, term1, term2, variance, sd, corr``
        (``variance`` holds the covariance in rows with ``term2``; the residual row(s) have group
        ``"Residual"``; with a residual structure its natural parameters are listed).
    neg2_log_lik, aic, bic : float
        -2 x REML (lme4's REML criterion) or ML log-likelihood; AIC/BIC as R's ``AIC()``/``BIC()`` (fixed
        effects and variance parameters counted, BIC with the number of observations).
    n_obs : int
    n_groups : dict
        Grouping factor -> number of levels.
    converged, singular : bool
    theta : ndarray
        lme4's ``theta`` (relative Cholesky factors, column-wise lower triangles) when the residual is
        ``sigma^2 I``.
    sigma : float
        Residual standard deviation (NaN with a residual structure).
    visit_levels : tuple or None
        The visits in the order used by the residual structure (None without one).
    """

    varcorr: pd.DataFrame
    n_groups: dict
    singular: bool
    theta: np.ndarray
    sigma: float
    visit_levels: tuple | None
    random: tuple = field(compare=False)
    _blups: dict = field(compare=False)

    @classmethod
    def from_fit(cls, prep: LMMData, fit: LMMFit, inference: Inference, optimizer: dict) -> LMMResult:
        """Build the result from the prepared data, the fitted variance parameters and the inference object."""
        spec, params, Ds = prep.spec, fit.params, fit.Ds
        coefs = coefficient_table(inference)
        vc = []
        for t, D in zip(spec.random, Ds):
            nm = t.names
            sd = np.sqrt(np.clip(np.diag(D), 0, None))
            for i in range(len(nm)):
                vc.append(
                    {
                        "group": t.group_label,
                        "term1": nm[i],
                        "term2": None,
                        "variance": D[i, i],
                        "sd": sd[i],
                        "corr": np.nan,
                    }
                )
            for j in range(len(nm)):
                for i in range(j + 1, len(nm)):
                    corr = D[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                    vc.append(
                        {
                            "group": t.group_label,
                            "term1": nm[j],
                            "term2": nm[i],
                            "variance": D[i, j],
                            "sd": np.nan,
                            "corr": corr,
                        }
                    )
        struct = params.struct
        if struct is None:
            sigma = float(np.sqrt(fit.resid_cov))
            vc.append(
                {
                    "group": "Residual",
                    "term1": None,
                    "term2": None,
                    "variance": fit.resid_cov,
                    "sd": sigma,
                    "corr": np.nan,
                }
            )
        else:
            phi = struct.natural(fit.theta[params.n_lam :])
            for nmn, v in zip(struct.natural_names(), phi):
                vc.append(
                    {"group": "Residual", "term1": nmn, "term2": None, "variance": v, "sd": np.nan, "corr": np.nan}
                )
            sigma = np.nan
        varcorr = pd.DataFrame(vc, columns=VARCORR_COLUMNS)
        # BLUPs: b = D Z' V^-1 r per level
        e = fit.evaluation["e"]
        blups: dict = {}
        for t, (codes, Z), D, labels in zip(spec.random, prep.terms, Ds, prep.levels):
            S = np.zeros((len(labels), Z.shape[1]))
            np.add.at(S, codes, Z * e[:, None])
            B = S @ D
            blups[t.group_label] = blups.get(t.group_label, []) + [
                pd.DataFrame(B, index=pd.Index(labels, name=t.group_label), columns=t.names)
            ]
        blups = {g: pd.concat(v, axis=1) if len(v) > 1 else v[0] for g, v in blups.items()}
        n_obs = prep.engine.n_obs
        k = len(natural_specs(params, prep.engine.q)) + len(coefs)
        neg2 = fit.neg2_log_lik
        th = fit.theta if struct is None else fit.theta[: params.n_lam]
        return cls(
            formula=spec.formula,
            reml=fit.reml,
            df_method=inference.df_method,
            coefficients=coefs,
            neg2_log_lik=float(neg2),
            aic=float(neg2 + 2 * k),
            bic=float(neg2 + k * np.log(n_obs)),
            n_obs=int(n_obs),
            n_rows_dropped=prep.n_rows_dropped,
            converged=fit.converged,
            optimizer=optimizer,
            notes=tuple(fit.notes)
            + numerical_notes(coefs)
            + ((prep.visit_order_note,) if prep.visit_order_note else ()),
            design=prep.design,
            inference=inference,
            frame=term_frame(prep.design, prep.data),
            varcorr=varcorr,
            n_groups=dict(prep.n_groups),
            singular=fit.singular,
            theta=np.array(th),
            sigma=sigma,
            visit_levels=prep.visit_levels,
            random=tuple(spec.random),
            _blups=blups,
        )

    # -------------------------------------------------------------------------------------------
    def ranef(self, group: str | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions (lme4's conditional modes) of the random effects.

        Parameters
        ----------
        group : str, optional
            Grouping factor (e.g. ``"subject"``, ``"site"``, ``"site:subject"``); default: the one with the
            most levels.

        Returns
        -------
        DataFrame indexed by the group's levels (order of first appearance), one column per effect.
        """
        if group is None:
            group = max(self._blups, key=lambda g: len(self._blups[g]))
        if group not in self._blups:
            raise ModelError(f"group {group!r} is not a grouping factor of the model ({list(self._blups)})")
        return self._blups[group].copy()

    def predict(self, newdata: pd.DataFrame, level: str = "population") -> pd.Series:
        """Predictions for new rows: ``"population"`` (``x' beta``) or ``"subject"`` (adding the BLUPs of
        every random term; levels not seen in the fit get 0, i.e. the population value).  Rows with a
        missing covariate get NaN.  (Standard errors of population means: :meth:`predict_population`.)"""
        if level not in ("population", "subject"):
            raise ModelError(f"level={level!r}: use 'population' or 'subject'")
        extra = [c for t in self.random for c in t.group + t.slopes] if level == "subject" else []
        ok, X = self._population_design(newdata, extra)
        nd = newdata.loc[ok]
        pred = np.full(len(newdata), np.nan)
        val = X @ self.inference.beta
        if level == "subject":
            for t in self.random:
                B = self._blups[t.group_label][t.names]
                key = (
                    nd[t.group[0]].astype(str)
                    if len(t.group) == 1
                    else nd[list(t.group)].astype(str).agg(":".join, axis=1)
                )
                idx = pd.Index(B.index.astype(str))
                pos = idx.get_indexer(key)
                Bv = B.to_numpy()
                Zr = np.column_stack(
                    ([np.ones(len(nd))] if t.intercept else []) + [nd[s].to_numpy(float) for s in t.slopes]
                )
                contrib = np.where(pos[:, None] >= 0, Bv[np.maximum(pos, 0)], 0.0)
                val = val + np.sum(Zr * contrib, axis=1)
        pred[ok] = val
        return pd.Series(pred, index=newdata.index, name="prediction")

    # -------------------------------------------------------------------------------------------
    def _groups_text(self) -> str:
        return ", ".join(f"{g}: {k}" for g, k in self.n_groups.items())

    def tidy(self) -> Tidy:
        """Title, facts, the fixed-effect and variance-component tables, and the notes."""
        facts = (
            ("fit", "REML" if self.reml else "ML"),
            ("observations", self.n_obs),
            ("groups", self._groups_text()),
            ("-2 log-lik", self.neg2_log_lik),
            ("converged", self.converged),
            ("singular", self.singular),
            ("df", self.df_method),
            ("AIC", self.aic),
            ("BIC", self.bic),
        )
        st = self._status()
        tables = ((f"{st}Fixed effects", self.coefficients), (f"{st}Random effects", self.varcorr))
        return Tidy(f"{st}Linear mixed model: {self.formula}", facts, tables, tuple(self.notes))

    def to_dict(self) -> dict:
        """A JSON-serialisable summary."""
        return to_jsonable(
            {
                "formula": self.formula,
                "reml": self.reml,
                "df_method": self.df_method,
                "neg2_log_lik": self.neg2_log_lik,
                "aic": self.aic,
                "bic": self.bic,
                "n_obs": self.n_obs,
                "n_groups": self.n_groups,
                "converged": self.converged,
                "singular": self.singular,
                "coefficients": self.coefficients.reset_index().to_dict(orient="records"),
                "varcorr": self.varcorr.to_dict(orient="records"),
                "notes": list(self.notes),
            }
        )

    def summary(self) -> str:
        """Plain-text summary."""
        st = self._status()
        lines = [
            f"{st}Linear mixed model  {self.formula}",
            f"{'REML' if self.reml else 'ML'}, df {self.df_method}; {self.n_obs} observations, groups "
            + self._groups_text(),
            f"-2 log-lik {self.neg2_log_lik:.6f}   AIC {self.aic:.4f}   BIC {self.bic:.4f}   converged "
            f"{self.converged}{'   SINGULAR' if self.singular else ''}",
            "",
            f"{st}Random effects:",
            self.varcorr.to_string(index=False, float_format=lambda x: f"{x:.5g}"),
            "",
            f"{st}Fixed effects:",
            self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"),
        ]
        if self.notes:
            lines += ["", "Notes: " + "; ".join(self.notes)]
        return "\n".join(lines)
