"""Mixed models for longitudinal pain outcomes: MMRM and random-coefficient models.

One layer, shared by both model families:

- :mod:`.formula` parses R-style formulas (the MMRM covariance term ``us(visit | subject)`` and lme4's
  random-effect bars ``(1 + week | subject)``), orders visits and builds design matrices;
- :mod:`.data` holds the data checks both preparations share;
- :mod:`.covariance` holds the covariance structures ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh``;
- :mod:`.mmrm_engine` and :mod:`.lmm_engine` evaluate the REML/ML criteria;
- :mod:`.mmrm_optim` and :mod:`.lmm_optim` fit the covariance / variance parameters;
- :mod:`.inference` holds the generic Wald/F, Satterthwaite, Kenward-Roger and Bell-McCaffrey machinery;
  :mod:`.mmrm_inference` and :mod:`.lmm_inference` build it for each model;
- :mod:`.results` holds :class:`MixedModelResult`, the base of :class:`MMRMResult` and
  :class:`~.lmm_results.LMMResult` (LS means, contrasts, trends, type III tests, predictions, rendering);
- :mod:`.mmrm` and :mod:`.lmm` are the public fitting functions.

Estimate rows, contrast families and multiplicity adjustment are shared with the other models in
:mod:`painstudy.models.contrasts`.
"""
