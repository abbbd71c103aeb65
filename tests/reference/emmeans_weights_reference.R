# Reference values for painstudy's LS-mean weights, custom linear combinations and interaction contrasts
# (painstudy.models.mixed.results: lsmeans / contrasts with weights=, custom_contrasts, interaction_contrasts)
# from R emmeans on the same MMRM fitted by nlme::gls (Debian's r-cran-emmeans, r-cran-nlme):
# fev_data (R mmrm's example data), complete rows, FEV1 ~ FEV1_BL + RACE * SEX + ARMCD * AVISIT, unstructured
# covariance, REML (optim with tight tolerances). LS means of ARMCD at each AVISIT average over RACE x SEX
# (with their interaction, so that "proportional" and "outer" differ), so the weights matter:
#   weights "equal", "proportional", "outer", "cells" (emmeans' definitions, FEV1_BL at its mean), and
#   counterfactuals = c("ARMCD", "AVISIT") (each observation's prediction with ARMCD and AVISIT set, averaged);
#   trt.vs.ctrl contrasts TRT - PBO at each visit under each weighting;
#   a custom contrast: TRT - PBO averaged over VIS3 and VIS4;
#   interaction contrasts trt.vs.ctrl x consec: (TRT - PBO) at each visit minus at the visit before.
# Estimates and standard errors only (mode = "df.error"); the df machinery is checked elsewhere.
# emmeans takes the frequencies of the reference grid (.wgt.) of a gls fit from its variance weights (the
# varIdent function of the unstructured covariance), which are not counts of observations; the grid's .wgt.
# are therefore set to the number of observations in each cell before the weighted LS means are computed.
# Run from the repository root (needs ../shared/datasets beside it):
#   Rscript tests/reference/emmeans_weights_reference.R   # writes tests/reference/emmeans_weights_reference.json
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
d <- read.csv("../shared/datasets/mmrm_fev_bcva/fev_data.csv", stringsAsFactors = FALSE)
d <- d[!is.na(d$FEV1), ]
d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
d$AVISIT <- factor(d$AVISIT, levels = paste0("VIS", 1:4))
d$RACE <- factor(d$RACE, levels = c("Asian", "Black or African American", "White"))
d$SEX <- factor(d$SEX, levels = c("Male", "Female"))
d$vi <- as.integer(d$AVISIT)
fit <- gls(FEV1 ~ FEV1_BL + RACE * SEX + ARMCD * AVISIT, data = d,
           correlation = corSymm(form = ~ vi | USUBJID), weights = varIdent(form = ~ 1 | AVISIT), method = "REML",
           control = glsControl(opt = "optim", tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500))
tab <- function(x) {
  s <- as.data.frame(summary(x))
  keep <- intersect(c("contrast", "ARMCD", "AVISIT", "ARMCD_consec", "AVISIT_consec"), names(s))
  lab <- if (length(keep)) do.call(paste, c(s[keep], sep = " | ")) else rep("", nrow(s))
  list(label = lab, estimate = s[[if ("emmean" %in% names(s)) "emmean" else "estimate"]], std_error = s$SE)
}
out <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
            emmeans = as.character(packageVersion("emmeans")), neg2_log_lik = -2 * as.numeric(logLik(fit)))
rg <- ref_grid(fit, mode = "df.error")
cell <- function(x) paste(x$RACE, x$SEX, x$ARMCD, x$AVISIT)
counts <- table(cell(d))
rg@grid$.wgt. <- as.numeric(counts[cell(rg@grid)])
rg@grid$.wgt.[is.na(rg@grid$.wgt.)] <- 0
for (w in c("equal", "proportional", "outer", "cells")) {
  emm <- emmeans(rg, ~ ARMCD | AVISIT, weights = w)
  out[[w]] <- list(lsmeans = tab(emm), contrasts = tab(contrast(emm, "trt.vs.ctrl")))
}
emm <- emmeans(fit, ~ ARMCD | AVISIT, counterfactuals = c("ARMCD", "AVISIT"), mode = "df.error")
out$counterfactual <- list(lsmeans = tab(emm), contrasts = tab(contrast(emm, "trt.vs.ctrl")))
cells <- emmeans(fit, ~ ARMCD * AVISIT, mode = "df.error")  # grid order: ARMCD fastest
out$custom <- tab(contrast(cells, list("TRT - PBO, mean of VIS3 and VIS4" = c(0, 0, 0, 0, -0.5, 0.5, -0.5, 0.5))))
out$interaction <- tab(contrast(cells, interaction = c("trt.vs.ctrl", "consec")))
write_json(out, "tests/reference/emmeans_weights_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/emmeans_weights_reference.json")
