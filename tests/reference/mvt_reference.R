# Reference values for painstudy.models.mvt (Dunnett-type multiplicity adjustment):
# P(max_i |T_i| <= c) for multivariate t / normal with correlation R, and the critical values,
# from R's mvtnorm: TVPACK (Genz's deterministic method, exact to about 1e-12) for up to three
# dimensions, Genz-Bretz asked for an absolute error of 1e-7 beyond; critical values by uniroot on them.
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
  list(name = "five, general", R = {R <- cs(5, 0.3); R[1, 2] <- R[2, 1] <- 0.55; R[4, 5] <- R[5, 4] <- 0.1; R})
)
cdf <- function(upper, R, df, alg) {  # P(X <= upper), lower limits -Inf (what TVPACK accepts)
  set.seed(20240101)
  lower <- rep(-Inf, length(upper))
  if (is.infinite(df)) pmvnorm(lower = lower, upper = upper, corr = R, algorithm = alg)
  else pmvt(lower = lower, upper = upper, corr = R, df = df, algorithm = alg)
}
prob <- function(c0, R, df) {
  m <- nrow(R)
  if (m <= 3) {  # P(-c < X <= c) by inclusion-exclusion over the 2^m corners of the box
    signs <- as.matrix(expand.grid(rep(list(c(1, -1)), m)))
    p <- sum(apply(signs, 1, function(s) prod(s) * as.numeric(cdf(s * c0, R, df, TVPACK(abseps = 1e-12)))))
    return(list(p = p, error = 8 * 1e-12, method = "TVPACK"))
  }
  set.seed(20240101)
  alg <- GenzBretz(maxpts = 4e6, abseps = 1e-7, releps = 0)
  p <- if (is.infinite(df)) pmvnorm(lower = rep(-c0, m), upper = rep(c0, m), corr = R, algorithm = alg)
       else pmvt(lower = rep(-c0, m), upper = rep(c0, m), corr = R, df = df, algorithm = alg)
  list(p = as.numeric(p), error = attr(p, "error"), method = "GenzBretz")
}
out <- list()
for (cs_ in cases) {
  m <- nrow(cs_$R)
  for (df in c(Inf, 100, 10, 4)) {
    for (c0 in c(1.5, 2.3, 2.8)) {
      r <- prob(c0, cs_$R, df)
      out[[length(out) + 1]] <- list(case = cs_$name, R = cs_$R, df = if (is.infinite(df)) "inf" else df,
                                     c = c0, p = r$p, error = r$error, method = r$method)
    }
    if (m <= 3) {  # critical value: uniroot on the deterministic TVPACK probability
      q <- uniroot(function(x) prob(x, cs_$R, df)$p - 0.95, c(1.5, 4), tol = 1e-12)$root
      out[[length(out) + 1]] <- list(case = cs_$name, R = cs_$R, df = if (is.infinite(df)) "inf" else df,
                                     quantile_level = 0.95, q = q, method = "uniroot on TVPACK")
    }
  }
}
doc <- list(software = list(R = R.version.string, mvtnorm = as.character(packageVersion("mvtnorm"))),
            method = paste("mvtnorm: TVPACK(abseps = 1e-12) for up to 3 dimensions, GenzBretz(maxpts = 4e6,",
                           "abseps = 1e-7) beyond; 0.95 critical values by uniroot(tol = 1e-12) on TVPACK"),
            values = out)
writeLines(toJSON(doc, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mvt_ref.json")
cat("wrote tests/reference/mvt_ref.json\n")
