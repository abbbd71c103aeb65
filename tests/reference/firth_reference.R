# Reference values for painstudy's Firth logistic regression (painstudy.models.firth and
# responder_odds_ratio(method = "auto" | "firth")).
#
# Run from the repository root:   Rscript tests/reference/firth_reference.R
#
# R's logistf is not packaged for Debian, so Firth's method is written out here, independently of
# painstudy's Newton-Raphson: the penalised log-likelihood
#     l*(b) = sum(y log p + (1 - y) log(1 - p)) + 1/2 log det(X' W X),   W = diag(p (1 - p)),
# is maximised with optim (BFGS, then Newton steps on the gradient with optimHess's Hessian until the
# largest gradient component is below 1e-11, recorded as max_abs_gradient);
#   std_error   sqrt(diag((X' W X)^-1)) at the estimate (logistf's "se");
#   ci_*        profile penalised-likelihood limits: 2 (l*(b_hat) - max l*(b | b_j = c)) =
#               qchisq(0.95, 1), the inner maximum by optim, the root by uniroot (logistf's pl = TRUE);
#   chi2, p     penalised likelihood-ratio test of b_j = 0 (logistf's default p values).
# Data (simulated here, seed 20261126), written to tests/reference/data/firth_<name>.csv:
#   separated: usual_care 9/40 responders, integrative 40/40 (100 %): quasi-complete separation,
#              glm's estimate for the arm runs off to ~ +20 with SE ~ 1e3-1e4;
#   regular:   usual_care ~ 25 %, integrative ~ 60 %: no separation (Firth and glm both finite;
#              glm's values are stored too, for painstudy's maximum-likelihood path).
# Model: responder ~ arm + baseline (usual_care the reference).
suppressPackageStartupMessages({library(jsonlite)})
set.seed(20261126)

make <- function(name, p_arm) {
  n <- 40
  arm <- rep(c("usual_care", "integrative"), each = n)
  baseline <- round(runif(2 * n, 4, 9), 1)
  lp <- qlogis(p_arm[arm]) + 0.3 * (baseline - 6.5)
  responder <- rbinom(2 * n, 1, plogis(lp))
  data.frame(subject = sprintf("S%03d", seq_len(2 * n)), arm = arm, visit = "week12", week = 12,
             baseline = baseline, responder = responder)
}
sep <- make("separated", c(usual_care = 0.25, integrative = 0.25))
sep$responder[sep$arm == "integrative"] <- 1L                 # every integrative patient responds
reg <- make("regular", c(usual_care = 0.25, integrative = 0.6))

firth <- function(d) {
  d$arm <- relevel(factor(d$arm), ref = "usual_care")
  X <- model.matrix(~ arm + baseline, data = d)
  y <- d$responder
  pl <- function(b) {
    eta <- drop(X %*% b)
    p <- plogis(eta)
    sum(y * eta - log1p(exp(eta))) + 0.5 * as.numeric(determinant(crossprod(X * sqrt(p * (1 - p))))$modulus)
  }
  grad <- function(b) {                                          # Firth's modified score
    p <- plogis(drop(X %*% b))
    w <- p * (1 - p)
    XW <- X * sqrt(w)
    h <- rowSums((XW %*% solve(crossprod(XW))) * XW)
    drop(crossprod(X, y - p + h * (0.5 - p)))
  }
  ctl <- list(reltol = 1e-16, maxit = 100000)
  opt <- optim(rep(0, ncol(X)), function(b) -pl(b), function(b) -grad(b), method = "BFGS", control = ctl)
  b <- opt$par
  for (i in 1:20) {                  # polish: Newton steps on the modified score, Hessian by optimHess
    if (max(abs(grad(b))) < 1e-11) break
    b <- b - solve(optimHess(b, pl, grad), grad(b))
  }
  lmax <- pl(b)
  p <- plogis(drop(X %*% b))
  se <- sqrt(diag(solve(crossprod(X * sqrt(p * (1 - p))))))
  profile <- function(j, c) {                                   # max of l* with b_j fixed at c
    free <- setdiff(seq_len(ncol(X)), j)
    full <- function(bf) { bb <- numeric(ncol(X)); bb[j] <- c; bb[free] <- bf; bb }
    o <- optim(b[free], function(bf) -pl(full(bf)), function(bf) -grad(full(bf))[free],
               method = "BFGS", control = ctl)
    -o$value
  }
  crit <- qchisq(0.95, 1)
  dev <- function(j, c) 2 * (lmax - profile(j, c)) - crit
  limit <- function(j, dir) {
    a <- b[j]; k <- 1
    repeat {
      cand <- b[j] + dir * se[j] * 2^(k - 1)
      if (dev(j, cand) > 0) break
      a <- cand; k <- k + 1
      if (k > 40) return(dir * Inf)
    }
    uniroot(function(c) dev(j, c), sort(c(a, cand)), tol = 1e-12)$root
  }
  chi2 <- sapply(seq_len(ncol(X)), function(j) max(0, 2 * (lmax - profile(j, 0))))
  list(coefficients = data.frame(term = colnames(X), estimate = b, std_error = se,
                                 ci_lower = sapply(seq_len(ncol(X)), limit, dir = -1),
                                 ci_upper = sapply(seq_len(ncol(X)), limit, dir = 1),
                                 chi2 = chi2, p_value = pchisq(chi2, 1, lower.tail = FALSE),
                                 row.names = NULL),
       penalized_loglik = lmax, max_abs_gradient = max(abs(grad(b))), optim_convergence = opt$convergence)
}

ml <- function(d) {
  d$arm <- relevel(factor(d$arm), ref = "usual_care")
  g <- suppressWarnings(glm(responder ~ arm + baseline, family = binomial, data = d,
                            control = glm.control(epsilon = 1e-12, maxit = 100)))
  ci <- confint.default(g)
  data.frame(term = names(coef(g)), estimate = unname(coef(g)), std_error = unname(sqrt(diag(vcov(g)))),
             ci_lower = unname(ci[, 1]), ci_upper = unname(ci[, 2]))
}

out <- list(R = R.version.string, model = "responder ~ arm + baseline, reference arm usual_care")
for (nm in c("separated", "regular")) {
  d <- if (nm == "separated") sep else reg
  write.csv(d, sprintf("tests/reference/data/firth_%s.csv", nm), row.names = FALSE)
  out[[nm]] <- list(data = sprintf("tests/reference/data/firth_%s.csv", nm),
                    responders = as.list(tapply(d$responder, d$arm, sum)),
                    n = as.list(table(d$arm)),
                    firth = firth(d), glm = ml(d))
  message(nm, ": responders ", paste(names(out[[nm]]$responders), unlist(out[[nm]]$responders), collapse = ", "))
}
write_json(out, "tests/reference/firth_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/firth_reference.json")
