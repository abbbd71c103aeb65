"""Mixed models for longitudinal pain outcomes: MMRM and random-coefficient models.

One layer, shared by both model families:

- :mod:`.formula` parses R-style formulas (the MMRM covariance term ``us(visit | subject)`` and lme4's
  random-effect bars ``(1 + week | subject)``) and builds design matrices;
- :mod:`.covariance` holds the covariance structures ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh``;
- :mod:`.mmrm_engine` and :mod:`.lmm_engine` evaluate the REML/ML criteria;
- :mod:`.inference` holds the generic Wald/F, Satterthwaite, Kenward-Roger and Bell-McCaffrey machinery;
- :mod:`.results` holds :class:`MixedModelResult`, the base of :class:`MMRMResult` and
  :class:`LMMResult` (LS means, contrasts, trends, type III tests, predictions, rendering);
- :mod:`.mmrm` and :mod:`.lmm` are the public fitting functions.
"""
