# Reference values for painstudy.models.ancova.rate_ratio (negative binomial NB2 regression).
#
# Run from the repository root:   Rscript tests/reference/negbin_reference.R
#
# Writes MASS's quine data (Venables & Ripley; 146 children, days absent from school) to
# tests/reference/data/quine.csv and tests/reference/negbin_ref_quine.json with, for
# Days ~ Eth + Sex + Age + Lrn:
#   fixed_alpha: MASS::glm.nb -- coefficients, summary() standard errors (information of the
#                coefficients with theta treated as known), z and p values; theta and its SE;
#   joint:       the same maximum likelihood estimates, with standard errors from the inverse of
#                the observed information of the joint log-likelihood of (coefficients, alpha),
#                alpha = 1 / theta (the convention of statsmodels and Stata's nbreg), computed here
#                independently: the NB2 log-likelihood written out, maximised again with optim from
#                glm.nb's estimates, its Hessian by numDeriv (Richardson extrapolation).
# and, when the shared data mirror is there, the same for Table 4 of Vickers et al. 2004 (health
# care use over 12 months, acupuncture vs usual care: totalgp, totalspec, totalacu, totaldos ~ group)
# in tests/reference/negbin_ref_vickers.json. (R warns "non-integer x" for totaldos, which has half
# days: the likelihood written with lgamma, as in glm.nb and statsmodels, takes them as they are.)
suppressPackageStartupMessages({library(MASS); library(jsonlite); library(numDeriv)})

negbin <- function(form, d) {
  fit <- glm.nb(form, data = d, control = glm.control(epsilon = 1e-12, maxit = 200))
  sm <- summary(fit)$coefficients
  X <- model.matrix(form, data = d)
  y <- model.response(model.frame(form, data = d))
  # NB2: Var = mu + alpha mu^2; log-likelihood in (beta, log alpha)
  loglik <- function(par) {
    b <- par[seq_len(ncol(X))]
    a <- exp(par[ncol(X) + 1])
    mu <- exp(drop(X %*% b))
    sum(lgamma(y + 1 / a) - lgamma(1 / a) - lgamma(y + 1) + y * log(a * mu / (1 + a * mu)) -
          log(1 + a * mu) / a)
  }
  start <- c(coef(fit), log(1 / fit$theta))
  opt <- optim(start, function(p) -loglik(p), method = "BFGS",
               control = list(reltol = 1e-15, maxit = 10000))
  par <- opt$par
  # observed information in (beta, alpha): the SEs of beta do not depend on how alpha is written
  ll_alpha <- function(q) loglik(c(q[seq_len(ncol(X))], log(q[ncol(X) + 1])))
  q_hat <- c(par[seq_len(ncol(X))], exp(par[ncol(X) + 1]))
  V <- solve(-numDeriv::hessian(ll_alpha, q_hat))
  se_joint <- sqrt(diag(V))[seq_len(ncol(X))]
  b_joint <- q_hat[seq_len(ncol(X))]
  table_of <- function(est, se) {
    z <- est / se
    data.frame(term = colnames(X), estimate = unname(est), std_error = unname(se),
               statistic = unname(z), p_value = unname(2 * pnorm(-abs(z))))
  }
  list(formula = deparse(form), n = nrow(X),
       fixed_alpha = list(call = "summary(MASS::glm.nb(...))",
                          coefficients = table_of(coef(fit), sm[, "Std. Error"]),
                          glm_nb_p_values = unname(sm[, "Pr(>|z|)"]),
                          theta = fit$theta, se_theta = fit$SE.theta, alpha = 1 / fit$theta,
                          two_log_lik = fit$twologlik),
       joint = list(call = "inverse observed information of the NB2 log-likelihood in (beta, alpha), numDeriv::hessian",
                    coefficients = table_of(b_joint, se_joint), alpha = q_hat[ncol(X) + 1],
                    log_lik = -opt$value, optim_convergence = opt$convergence,
                    max_abs_diff_estimates_vs_glm_nb = max(abs(b_joint - coef(fit)))))
}
versions <- list(R = R.version.string, MASS = as.character(packageVersion("MASS")),
                 numDeriv = as.character(packageVersion("numDeriv")))

d <- MASS::quine
write.csv(d, "tests/reference/data/quine.csv", row.names = FALSE)
out <- c(list(data = "tests/reference/data/quine.csv"), versions, negbin(Days ~ Eth + Sex + Age + Lrn, d))
write_json(out, "tests/reference/negbin_ref_quine.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/negbin_ref_quine.json; EthN SE fixed-alpha ",
        signif(out$fixed_alpha$coefficients$std_error[2], 4), ", joint ", signif(out$joint$coefficients$std_error[2], 4))

mirror <- Sys.getenv("PAINSTUDY_DATA_MIRROR", "../shared/datasets")
vf <- file.path(mirror, "vickers2004_acupuncture_headache", "acupuncture_headache.csv")
if (file.exists(vf)) {
  v <- read.csv(vf)
  v$group <- factor(v$group, levels = c(0, 1), labels = c("usual_care", "acupuncture"))
  fits <- list()
  for (col in c("totalgp", "totalspec", "totalacu", "totaldos")) {
    fits[[col]] <- negbin(as.formula(paste(col, "~ group")), v[!is.na(v[[col]]), ])
  }
  write_json(c(list(data = "shared:vickers2004_acupuncture_headache/acupuncture_headache.csv"), versions,
               list(fits = fits)),
             "tests/reference/negbin_ref_vickers.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
  message("wrote tests/reference/negbin_ref_vickers.json")
}
