# Reference values for painstudy's stratified and covariate-adjusted analyses
# (painstudy.models.stratified, painstudy.models.gcomp, cox_ph(strata=, cluster=)).
#
# Responders (simulated here, written to tests/reference/data/stratified_responders.csv: 3 arms, 9 sites of
# unequal size -- site s09 has one arm only, site s08 six subjects --, 2 conditions, two visits), for each
# visit and each arm against "control", stratified by site, by condition and by site x condition:
#   - mantelhaen.test(correct = FALSE) and (correct = TRUE): CMH chi-square, p, MH odds ratio and its
#     Robins-Breslow-Greenland interval (strata with fewer than 2 subjects of the pair are removed first:
#     R refuses them; they hold one arm and are uninformative);
#   - the Breslow-Day statistic (and Tarone's correction) written from the definition (uniroot for the
#     expected cell under the MH odds ratio);
#   - the Mantel-Haenszel risk difference with Sato's (1989) variance, from the formula (SAS PROC FREQ's
#     COMMONRISKDIFF documentation); epiR::epi.2by2's MH risk difference as a second check of the estimate;
#   - the stratified Miettinen-Nurminen score interval written independently: the restricted maximum
#     likelihood estimate by uniroot on the score of the constrained likelihood (no closed form), the
#     variance times N / (N - 1), Z(d) = sum w (dhat - d) / sqrt(sum w^2 V(d)), the limits by uniroot; weights
#     "mh" (n1 n0 / N) and "iv" (1 / V(d), re-evaluated at each d); and the unstratified interval.
#   - g-computation: glm(responder ~ arm + baseline + condition + age, binomial), predictions for every
#     subject under each arm, their means; the risk difference, log risk ratio and log odds ratio of the
#     marginal means with delta-method SEs (Ge et al. 2011: gradient of the means in the coefficients,
#     model covariance; covariates held fixed) and with the influence-function variance that also counts
#     the sampling of the covariates (Ye et al. 2023; FDA 2023 guidance); emmeans' counterfactual grid
#     (regrid = "response") as a second check of the Ge SE.
# Time to improvement, on tests/reference/data/surv_{demo,sim1}.csv (written by survival_reference.R):
#   coxph(Surv(time, event) ~ arm + baseline + strata(site)), Efron and Breslow ties, with cox.zph (km, rank);
#   coxph(Surv(time, event) ~ arm + baseline, cluster = site) (robust and naive SEs), both ties;
#   coxph(Surv(time, event) ~ arm + baseline + strata(band), cluster = site) (band: baseline >= median).
#
# Run from the repository root:
#     Rscript tests/reference/stratified_reference.R   # writes tests/reference/stratified_reference.json
suppressPackageStartupMessages({library(survival); library(jsonlite); library(emmeans); library(epiR)})
dir <- "tests/reference/data"
Sys.setenv(TZ = "UTC")

# ------------------------------------------------------------------------------------------ data
set.seed(20261201)
n <- 360
sites <- sprintf("s%02d", 1:9)
site <- sample(sites, n, replace = TRUE, prob = c(0.2, 0.18, 0.15, 0.12, 0.1, 0.1, 0.08, 0.02, 0.05))
arm <- sample(c("control", "exercise", "combined"), n, replace = TRUE)
arm[site == "s09"] <- "combined"          # a site with one arm: uninformative in every comparison
condition <- sample(c("back", "neck"), n, replace = TRUE, prob = c(0.6, 0.4))
baseline <- round(rnorm(n, 6.5, 1.2), 1)
age <- round(runif(n, 25, 75))
site_eff <- setNames(rnorm(9, 0, 0.5), sites)
subj <- data.frame(subject = sprintf("P%03d", 1:n), arm, site, condition, baseline, age)
rows <- list()
for (v in c("week12", "week26")) {
  lp <- -1.2 + (v == "week26") * 0.3 + 0.5 * (arm == "exercise") + 0.9 * (arm == "combined") +
    0.25 * (baseline - 6.5) - 0.4 * (condition == "neck") + site_eff[site] - 0.01 * (age - 50)
  rows[[v]] <- cbind(subj, visit = v, responder = rbinom(n, 1, plogis(lp)))
}
d <- do.call(rbind, rows)
rownames(d) <- NULL
write.csv(d, file.path(dir, "stratified_responders.csv"), row.names = FALSE)

# ------------------------------------------------------------------------------------------ 2x2xK
restricted <- function(x1, n1, x0, n0, delta) {
  # restricted MLE of (p1, p0) with p1 - p0 = delta: the root of the score of the constrained likelihood
  lo <- max(0, -delta); hi <- min(1, 1 - delta)
  sc <- function(p0) {
    p1 <- p0 + delta
    (if (x1 > 0) x1 / p1 else 0) - (if (n1 - x1 > 0) (n1 - x1) / (1 - p1) else 0) +
      (if (x0 > 0) x0 / p0 else 0) - (if (n0 - x0 > 0) (n0 - x0) / (1 - p0) else 0)
  }
  eps <- 1e-13
  a <- lo + eps; b <- hi - eps
  if (sc(a) <= 0) p0 <- lo else if (sc(b) >= 0) p0 <- hi else
    p0 <- uniroot(sc, c(a, b), tol = 1e-15, maxiter = 1000)$root
  c(p0 + delta, p0)
}
mn_z <- function(tab, delta, weights) {
  num <- 0; den <- 0; v <- numeric(nrow(tab)); dh <- numeric(nrow(tab))
  for (k in seq_len(nrow(tab))) {
    r <- tab[k, ]
    p <- restricted(r$x1, r$n1, r$x0, r$n0, delta)
    N <- r$n1 + r$n0
    v[k] <- (p[1] * (1 - p[1]) / r$n1 + p[2] * (1 - p[2]) / r$n0) * N / (N - 1)
    dh[k] <- r$x1 / r$n1 - r$x0 / r$n0
  }
  w <- if (weights == "mh") tab$n1 * tab$n0 / (tab$n1 + tab$n0) else 1 / v
  sum(w * (dh - delta)) / sqrt(sum(w^2 * v))
}
mn_interval <- function(tab, weights, conf = 0.95) {
  z <- qnorm(1 - (1 - conf) / 2)
  f <- function(dl) mn_z(tab, dl, weights)
  est <- uniroot(f, c(-1 + 1e-10, 1 - 1e-10), tol = 1e-14)$root
  lo <- uniroot(function(dl) f(dl) - z, c(-1 + 1e-10, est), tol = 1e-14)$root
  hi <- uniroot(function(dl) f(dl) + z, c(est, 1 - 1e-10), tol = 1e-14)$root
  list(estimate = est, lower = lo, upper = hi)
}
breslow_day <- function(tab, or) {
  # expected responders of the treated arm under the common odds ratio, per stratum
  # a stratum whose margins fix the table (nobody or everybody responded) has no variance: left out
  stat <- 0; dsum <- 0; vsum <- 0; used <- 0
  for (k in seq_len(nrow(tab))) {
    r <- tab[k, ]
    m1 <- r$x1 + r$x0
    lo <- max(0, m1 - r$n0); hi <- min(r$n1, m1)
    if (lo == hi) next
    used <- used + 1
    f <- function(a) a * (r$n0 - m1 + a) - or * (r$n1 - a) * (m1 - a)
    ea <- uniroot(f, c(lo, hi), tol = 1e-14)$root
    va <- 1 / (1 / ea + 1 / (r$n1 - ea) + 1 / (m1 - ea) + 1 / (r$n0 - m1 + ea))
    stat <- stat + (r$x1 - ea)^2 / va
    dsum <- dsum + (r$x1 - ea); vsum <- vsum + va
  }
  list(statistic = stat, tarone = stat - dsum^2 / vsum, df = used - 1)
}
sato <- function(tab) {
  N <- tab$n1 + tab$n0
  w <- tab$n1 * tab$n0 / N
  rd <- sum(w * (tab$x1 / tab$n1 - tab$x0 / tab$n0)) / sum(w)
  P <- (tab$n1^2 * tab$x0 - tab$n0^2 * tab$x1 + tab$n1 * tab$n0 * (tab$n0 - tab$n1) / 2) / N^2
  Q <- (tab$x1 * (tab$n0 - tab$x0) + tab$x0 * (tab$n1 - tab$x1)) / (2 * N)
  se <- sqrt((rd * sum(P) + sum(Q)) / sum(w)^2)
  list(estimate = rd, std_error = se, lower = rd - qnorm(0.975) * se, upper = rd + qnorm(0.975) * se)
}

cases <- list()
for (v in c("week12", "week26")) for (trt in c("exercise", "combined"))
  for (st in list("site", "condition", c("site", "condition"))) {
    x <- d[d$visit == v & d$arm %in% c(trt, "control"), ]
    x$stratum <- interaction(x[st], drop = TRUE, sep = ":")
    tab <- do.call(rbind, lapply(split(x, x$stratum), function(s) data.frame(
      stratum = as.character(s$stratum[1]), x1 = sum(s$responder[s$arm == trt]), n1 = sum(s$arm == trt),
      x0 = sum(s$responder[s$arm == "control"]), n0 = sum(s$arm == "control"))))
    informative <- tab[tab$n1 > 0 & tab$n0 > 0, ]
    keep <- tab$n1 + tab$n0 >= 2
    arr <- xtabs(~ factor(arm, levels = c(trt, "control")) + factor(responder, levels = c(1, 0)) + stratum,
                 data = x[x$stratum %in% tab$stratum[keep], ])
    arr <- arr[, , tab$stratum[keep], drop = FALSE]
    m0 <- mantelhaen.test(arr, correct = FALSE)
    m1 <- mantelhaen.test(arr, correct = TRUE)
    bd <- breslow_day(informative, unname(m0$estimate))
    # epiR's Cornfield interval of a stratum's odds ratio fails on some sparse strata: then no epiR value
    ep <- tryCatch(suppressWarnings(epi.2by2(arr, method = "cohort.count", units = 1)), error = function(e) NULL)
    epi_rd <- if (is.null(ep)) list(est = NA, lower = NA, upper = NA) else ep$massoc.detail$ARisk.mh.wald
    one <- data.frame(x1 = sum(tab$x1), n1 = sum(tab$n1), x0 = sum(tab$x0), n0 = sum(tab$n0))
    cases[[length(cases) + 1]] <- list(
      visit = v, arm = trt, reference = "control", strata = I(st), n_strata = nrow(tab),
      n_informative = nrow(informative),
      counts = informative,
      cmh = list(statistic = unname(m0$statistic), p_value = m0$p.value, estimate = unname(m0$estimate),
                 lower = m0$conf.int[1], upper = m0$conf.int[2]),
      cmh_correct = list(statistic = unname(m1$statistic), p_value = m1$p.value),
      breslow_day = bd, mh_rd = sato(informative),
      epir_mh_rd = list(estimate = epi_rd$est, lower = epi_rd$lower, upper = epi_rd$upper),
      mn_mh = mn_interval(informative, "mh"), mn_iv = mn_interval(informative, "iv"),
      mn_unstratified = mn_interval(one, "mh"))
  }

# ------------------------------------------------------------------------------------------ g-computation
gcomp <- list()
for (v in c("week12", "week26")) {
  x <- d[d$visit == v, ]
  x$arm <- factor(x$arm, levels = c("control", "exercise", "combined"))
  x$condition <- factor(x$condition)
  fit <- glm(responder ~ arm + baseline + condition + age, family = binomial, data = x, control = glm.control(epsilon = 1e-14, maxit = 100))
  V <- vcov(fit)
  mu <- list(); G <- list(); pred <- list()
  for (a in levels(x$arm)) {
    xa <- x; xa$arm <- factor(a, levels = levels(x$arm))
    X <- model.matrix(~ arm + baseline + condition + age, data = xa)
    p <- as.vector(plogis(X %*% coef(fit)))
    mu[[a]] <- mean(p); G[[a]] <- colMeans(X * p * (1 - p)); pred[[a]] <- p
  }
  pi_a <- table(x$arm) / nrow(x)
  infl <- function(a) (x$arm == a) / as.numeric(pi_a[a]) * (x$responder - pred[[a]]) + pred[[a]] - mu[[a]]
  rg <- ref_grid(fit, counterfactuals = "arm")
  em <- emmeans(rg, "arm", regrid = "response")
  ec <- as.data.frame(contrast(em, "trt.vs.ctrl", ref = 1))
  for (a in c("exercise", "combined")) {
    r <- "control"
    g_rd <- G[[a]] - G[[r]]
    g_rr <- G[[a]] / mu[[a]] - G[[r]] / mu[[r]]
    g_or <- G[[a]] / (mu[[a]] * (1 - mu[[a]])) - G[[r]] / (mu[[r]] * (1 - mu[[r]]))
    ia <- infl(a); ir <- infl(r)
    nn <- nrow(x)
    robust <- function(f) sqrt(sum((f - mean(f))^2) / nn^2)
    e_row <- ec[grepl(paste0("^", a), ec$contrast), ]
    gcomp[[length(gcomp) + 1]] <- list(
      visit = v, arm = a, reference = r, covariates = I(c("baseline", "condition", "age")),
      n = nn, mean_arm = mu[[a]], mean_reference = mu[[r]],
      rd = mu[[a]] - mu[[r]], rd_se_ge = sqrt(drop(t(g_rd) %*% V %*% g_rd)),
      rd_se_robust = robust(ia - ir),
      log_rr = log(mu[[a]] / mu[[r]]), log_rr_se_ge = sqrt(drop(t(g_rr) %*% V %*% g_rr)),
      log_rr_se_robust = robust(ia / mu[[a]] - ir / mu[[r]]),
      log_or = qlogis(mu[[a]]) - qlogis(mu[[r]]), log_or_se_ge = sqrt(drop(t(g_or) %*% V %*% g_or)),
      log_or_se_robust = robust(ia / (mu[[a]] * (1 - mu[[a]])) - ir / (mu[[r]] * (1 - mu[[r]]))),
      emmeans_rd = e_row$estimate, emmeans_se = e_row$SE)
  }
}

# ------------------------------------------------------------------------------------------ Cox
cox_frame <- function(fit) {
  data.frame(term = names(coef(fit)), estimate = unname(coef(fit)), std_error = unname(sqrt(diag(vcov(fit)))),
             naive_std_error = unname(sqrt(diag(if (is.null(fit$naive.var)) vcov(fit) else fit$naive.var))))
}
survival_cases <- list()
for (nm in c("demo", "sim1")) {
  s <- read.csv(file.path(dir, paste0("surv_", nm, ".csv")), stringsAsFactors = FALSE)
  reference <- if ("reference" %in% names(s)) s$reference[1] else "control"
  s$arm <- relevel(factor(s$arm), ref = reference)
  cut <- median(s$baseline)
  s$band <- ifelse(s$baseline >= cut, "high", "low")
  out <- list(name = nm, reference = reference, arms = levels(s$arm), band_cut = cut)
  for (ties in c("efron", "breslow")) {
    f1 <- coxph(Surv(time, event) ~ arm + baseline + strata(site), data = s, ties = ties)
    f2 <- coxph(Surv(time, event) ~ arm + baseline, data = s, ties = ties, cluster = site)
    f3 <- coxph(Surv(time, event) ~ arm + baseline + strata(band), data = s, ties = ties, cluster = site)
    out[[ties]] <- list(
      strata_site = list(coef = cox_frame(f1), loglik = f1$loglik[2],
                         concordance = unname(f1$concordance["concordance"]),
                         zph = lapply(c(km = "km", rank = "rank"), function(tr) {
                           z <- cox.zph(f1, transform = tr, terms = FALSE)$table
                           data.frame(term = rownames(z), statistic = unname(z[, "chisq"]),
                                      df = unname(z[, "df"]), p_value = unname(z[, "p"]))
                         })),
      cluster_site = list(coef = cox_frame(f2), loglik = f2$loglik[2]),
      strata_band_cluster_site = list(coef = cox_frame(f3), loglik = f3$loglik[2]))
  }
  survival_cases[[nm]] <- out
}

out <- list(R = R.version.string,
            packages = list(survival = as.character(packageVersion("survival")),
                            emmeans = as.character(packageVersion("emmeans")),
                            epiR = as.character(packageVersion("epiR")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            data = "tests/reference/data/stratified_responders.csv",
            responders = cases, gcomp = gcomp, survival = survival_cases)
write_json(out, "tests/reference/stratified_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           na = "null")
message("wrote tests/reference/stratified_reference.json")
