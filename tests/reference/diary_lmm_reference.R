# Reference values for painstudy.models.daily.daily_lmm: the random-coefficient model of daily values with an
# AR(1) residual over study days, fitted by R nlme::lme.
#
# Data: tests/reference/data/diary_lmm.csv (subject, arm, day, pain): daily pain NRS of 36 subjects over days
# 0-27 (755 reported days, gaps where a day was not reported; two subjects stop after week 2), written by
# painstudy.simulate_diary (seed 20260514) around visit-level trajectories falling faster in the integrative
# arm (see the README's row). The AR(1) correlation is over the study day as an integer covariate, so a gap of
# k days has correlation phi^k, as painstudy's ar1 over the days of the period.
#
# Fits (arm: usual_care the reference):
#   reml_ar1          lme(pain ~ arm * day, random = ~ 1 + day | subject, correlation = corAR1(form = ~ day | subject), REML)
#   ml_ar1            the same by ML
#   reml_ar1_int      random = ~ 1 | subject, corAR1, REML
#   reml_independent  random = ~ 1 + day | subject, no correlation structure, REML
# Note: for ML fits nlme reports fixed-effect SEs multiplied by sqrt(N / (N - p)) (N observations, p fixed
# effects); lme4 and painstudy report the plain ML SEs (the test removes the factor, with a note).
# Each: fixed effects and their SEs, the random-effect variances and correlation, the residual variance, phi and
# the log-likelihood.
#
# Run from the repository root:
#     Rscript tests/reference/diary_lmm_reference.R   # writes tests/reference/diary_lmm_reference.json
suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

d <- read.csv("tests/reference/data/diary_lmm.csv", stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("usual_care", "integrative"))
# tight convergence, no EM steps first (the ML fit stops ~1e-5 short of the optimum in log-likelihood with the
# defaults)
ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 0, tolerance = 1e-12, msTol = 1e-14)

summarise <- function(fit) {
  tt <- summary(fit)$tTable
  vc <- getVarCov(fit)
  out <- list(
    fixed = lapply(setNames(seq_len(nrow(tt)), rownames(tt)), function(i)
      list(estimate = unname(tt[i, "Value"]), std_error = unname(tt[i, "Std.Error"]))),
    var_intercept = unname(vc[1, 1]),
    sigma2 = fit$sigma^2,
    loglik = as.numeric(logLik(fit)),
    n_obs = nrow(d),
    n_fixed = nrow(tt)
  )
  if (ncol(vc) == 2) {
    out$var_day <- unname(vc[2, 2])
    out$cor <- unname(vc[1, 2] / sqrt(vc[1, 1] * vc[2, 2]))
  }
  if (!is.null(fit$modelStruct$corStruct)) {
    out$phi <- unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE))
  }
  out
}

ar1 <- corAR1(form = ~ day | subject)
fits <- list(
  reml_ar1 = lme(pain ~ arm * day, random = ~ 1 + day | subject, correlation = ar1, data = d,
                 method = "REML", control = ctrl),
  ml_ar1 = lme(pain ~ arm * day, random = ~ 1 + day | subject, correlation = ar1, data = d,
               method = "ML", control = ctrl),
  reml_ar1_int = lme(pain ~ arm * day, random = ~ 1 | subject, correlation = ar1, data = d,
                     method = "REML", control = ctrl),
  reml_independent = lme(pain ~ arm * day, random = ~ 1 + day | subject, data = d,
                         method = "REML", control = ctrl)
)

out <- list(
  data = "tests/reference/data/diary_lmm.csv",
  fits = lapply(fits, summarise),
  R = R.version.string,
  packages = list(nlme = as.character(packageVersion("nlme")), jsonlite = as.character(packageVersion("jsonlite")))
)
write_json(out, "tests/reference/diary_lmm_reference.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote tests/reference/diary_lmm_reference.json\n")
