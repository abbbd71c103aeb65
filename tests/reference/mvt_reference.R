# Reference values for painstudy.models.mvt (Dunnett-type multiplicity adjustment):
# P(max_i |T_i| <= c) for multivariate t / normal with correlation R, and the critical values,
# from R's mvtnorm (Genz-Bretz, asked for an absolute error of 1e-10, and TVPACK where it applies).
# Run from the repository root:  Rscript tests/reference/mvt_reference.R  -> tests/reference/mvt_ref.json
suppressMessages({library(mvtnorm); library(jsonlite)})
cs <- function(m, r) { R <- matrix(r, m, m); diag(R) <- 1; R }
cases <- list(
  list(name = "two comparisons, r = 0.5", R = cs(2, 0.5)),
  list(name = "two comparisons, r = -0.3", R = cs(2, -0.3)),
  list(name = "three vs control, equicorrelated 0.5 (product form)", R = cs(3, 0.5)),
  list(name = "three, product form with unequal arms", R = {l <- c(0.8, 0.6, 0.3); R <- outer(l, l); diag(R) <- 1; R}),
  list(name = "three, general", R = matrix(c(1, .5, .3, .5, 1, .2, .3, .2, 1), 3)),
  list(name = "three, general with a negative correlation", R = matrix(c(1, .45, -.2, .45, 1, .3, -.2, .3, 1), 3)),
  list(name = "four, general", R = matrix(c(1, .4, .3, .2, .4, 1, .35, .1, .3, .35, 1, .25, .2, .1, .25, 1), 4)),
  list(name = "five, general (lattice)", R = {R <- cs(5, 0.3); R[1, 2] <- R[2, 1] <- 0.55; R[4, 5] <- R[5, 4] <- 0.1; R})
)
out <- list()
for (cs_ in cases) {
  m <- nrow(cs_$R)
  for (df in c(Inf, 100, 10, 4)) {
    for (c0 in c(1.5, 2.3, 2.8)) {
      set.seed(20240101)
      if (is.infinite(df)) {
        p <- pmvnorm(lower = rep(-c0, m), upper = rep(c0, m), corr = cs_$R,
                     algorithm = GenzBretz(maxpts = 5e7, abseps = 1e-10, releps = 0))
      } else {
        p <- pmvt(lower = rep(-c0, m), upper = rep(c0, m), corr = cs_$R, df = df,
                  algorithm = GenzBretz(maxpts = 5e7, abseps = 1e-10, releps = 0))
      }
      out[[length(out) + 1]] <- list(case = cs_$name, R = cs_$R, df = if (is.infinite(df)) "inf" else df,
                                     c = c0, p = as.numeric(p), error = attr(p, "error"))
    }
    set.seed(20240101)
    q <- if (is.infinite(df)) qmvnorm(0.95, tail = "both.tails", corr = cs_$R,
                                      algorithm = GenzBretz(maxpts = 5e7, abseps = 1e-9, releps = 0))$quantile
         else qmvt(0.95, tail = "both.tails", corr = cs_$R, df = df,
                   algorithm = GenzBretz(maxpts = 5e7, abseps = 1e-9, releps = 0))$quantile
    out[[length(out) + 1]] <- list(case = cs_$name, R = cs_$R, df = if (is.infinite(df)) "inf" else df,
                                   quantile_level = 0.95, q = q)
  }
}
doc <- list(software = list(R = R.version.string, mvtnorm = as.character(packageVersion("mvtnorm"))),
            method = "mvtnorm GenzBretz(maxpts = 5e7, abseps = 1e-10); quantiles qmvt/qmvnorm abseps 1e-9",
            values = out)
writeLines(toJSON(doc, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mvt_ref.json")
cat("wrote tests/reference/mvt_ref.json\n")
