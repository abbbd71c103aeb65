# Reference values for painstudy's Rubin's rules with the Barnard-Rubin degrees of freedom
# (painstudy.sensitivity.pool.rubin), from R mice::pool.scalar (Debian's r-cran-mice).
#
# Run from the repository root:   Rscript tests/reference/rubin_reference.R
#
# Three sets of m estimates and their variances (simulated here, seed 20261201), each pooled by
# pool.scalar(Q, U, n, k) with the complete-data df n - k (mice's Barnard-Rubin df, "df" in its output),
# and one with a tiny between-imputation variance (df close to the complete-data df).
suppressPackageStartupMessages({library(mice); library(jsonlite)})
set.seed(20261201)
sets <- list(
  list(name = "m5", m = 5, n = 120, k = 3, bvar = 0.04, u = 0.09),
  list(name = "m20", m = 20, n = 60, k = 4, bvar = 0.2, u = 0.5),
  list(name = "m100", m = 100, n = 300, k = 2, bvar = 0.01, u = 0.02),
  list(name = "small_b", m = 10, n = 40, k = 3, bvar = 1e-6, u = 0.3)
)
out <- list(R = R.version.string, mice = as.character(packageVersion("mice")))
for (s in sets) {
  Q <- 1.5 + rnorm(s$m, sd = sqrt(s$bvar))
  U <- s$u * exp(rnorm(s$m, sd = 0.1))
  p <- pool.scalar(Q, U, n = s$n, k = s$k)
  out[[s$name]] <- list(Q = Q, U = U, df_complete = s$n - s$k,
                        qbar = p$qbar, ubar = p$ubar, b = p$b, t = p$t, df = p$df,
                        r = p$r, fmi = p$fmi)
}
write_json(out, "tests/reference/rubin_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/rubin_reference.json")
