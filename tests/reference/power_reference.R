# Reference values for painstudy's analytic MMRM power (painstudy.power.analytic: Lu, Luo & Chen 2008).
# R longpower (power.mmrm) is not packaged in Debian (bookworm has no r-cran-longpower, and CRAN is not used),
# so this script implements the formula independently in base R, two ways for each scenario:
#   phi_formula: [ (sum_j p_j P_j' S_j^{-1} P_j)^{-1} ]_kk, p_j the fraction whose last visit is j (Lu et al. eq. 3-4);
#   phi_gls:     the same variance from the GLS covariance (X' V^{-1} X)^{-1} of an explicit population of
#                subjects (one per dropout pattern, weighted by its fraction), with cell-means design matrices;
# then power = pnorm(|delta| / se - qnorm(1 - alpha / 2)) and the sample size for a target power.
# Scenarios: (1) longpower's documented example layout: exchangeable correlation 0.25, retention 1, .9, .8, .7,
# delta 0.5 SD; (2) AR(1) rho 0.6 with heterogeneous SDs, different retention per arm, 2:1 allocation, the
# third of five visits; (3) a covariance over baseline + 4 visits, the post-baseline covariance given the
# baseline (what a baseline-adjusted MMRM works with).
# Run from the repository root:
#   Rscript tests/reference/power_reference.R   # writes tests/reference/power_reference.json
suppressPackageStartupMessages(library(jsonlite))

info_formula <- function(S, r) {
  J <- length(r); p <- r - c(r[-1], 0); I <- matrix(0, J, J)
  for (j in seq_len(J)) if (p[j] > 0) I[1:j, 1:j] <- I[1:j, 1:j] + p[j] * solve(S[1:j, 1:j, drop = FALSE])
  I
}
phi_formula <- function(S, r, k) solve(info_formula(S, r))[k, k]
phi_gls <- function(S, r, k) {
  # X' V^{-1} X summed over patterns: a subject of pattern j has rows for visits 1..j of an identity design
  J <- length(r); p <- r - c(r[-1], 0); XtVX <- matrix(0, J, J)
  for (j in seq_len(J)) {
    if (p[j] <= 0) next
    X <- diag(J)[1:j, , drop = FALSE]
    XtVX <- XtVX + p[j] * t(X) %*% solve(S[1:j, 1:j, drop = FALSE]) %*% X
  }
  chol2inv(chol(XtVX))[k, k]
}
scenario <- function(name, Sa, ra, Sb, rb, delta, n, alloc, k, alpha = 0.05, target = 0.8) {
  pa <- phi_formula(Sa, ra, k); pb <- phi_formula(Sb, rb, k)
  se <- sqrt(pa / (n * alloc[1]) + pb / (n * alloc[2]))
  z <- qnorm(1 - alpha / 2)
  list(name = name, Sa = Sa, ra = ra, Sb = Sb, rb = rb, delta = delta, n = n, allocation = alloc, visit = k,
       alpha = alpha, target = target, phi_a = pa, phi_b = pb,
       phi_a_gls = phi_gls(Sa, ra, k), phi_b_gls = phi_gls(Sb, rb, k),
       power = pnorm(abs(delta) / se - z),
       n_for_target = (pa / alloc[1] + pb / alloc[2]) * (z + qnorm(target))^2 / delta^2)
}
R1 <- matrix(0.25, 4, 4); diag(R1) <- 1
s1 <- scenario("exchangeable", R1, c(1, .9, .8, .7), R1, c(1, .9, .8, .7), 0.5, 100, c(1, 1), 4)
sd2 <- c(1, 1.2, 1.4, 1.5, 1.6); R2 <- 0.6^abs(outer(1:5, 1:5, "-")); S2 <- R2 * outer(sd2, sd2)
s2 <- scenario("ar1-heterogeneous", S2, c(1, .95, .85, .8, .7), S2, c(.97, .9, .8, .72, .6), -0.4, 80, c(2, 1), 3)
sd3 <- c(2, 2.1, 2.2, 2.3, 2.4); R3 <- 0.3 + 0.7 * 0.5^abs(outer(1:5, 1:5, "-")); S3 <- R3 * outer(sd3, sd3)
C3 <- S3[2:5, 2:5] - S3[2:5, 1, drop = FALSE] %*% S3[1, 2:5, drop = FALSE] / S3[1, 1]
s3 <- scenario("baseline-adjusted", C3, c(1, .9, .85, .8), C3, c(1, .9, .85, .8), 1.0, 60, c(1, 1), 4)
s3$joint <- S3
out <- list(R = R.version.string, method = "base R implementation of Lu, Luo & Chen (2008); longpower unavailable",
            scenarios = list(s1, s2, s3))
write_json(out, "tests/reference/power_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor")
