# Reference values for painstudy's time-to-improvement analyses, from R's survival package.
#
# Run from the repository root:   Rscript tests/reference/survival_reference.R
#
# 1. Simulates two small visit-based data sets (fixed seeds) and writes them to
#    tests/reference/data/surv_sim1.csv and surv_sim2.csv.
# 2. For every tests/reference/data/surv_*.csv (the simulated sets plus event tables that
#    painstudy derived from real cohorts -- surv_chow2006.csv, surv_demo.csv -- so that the
#    comparison is of the analyses, not of event derivation) computes
#      survfit (Kaplan-Meier, conf.type = "log"), quantile medians + CI, rmean,
#      survdiff (overall and pairwise), coxph (ties = "efron"), cox.zph (transform = "km"),
#      survfit(Surv(left, right, type = "interval2")) (Turnbull),
#      glm(binomial(link = "cloglog")) on person-period data (Prentice-Gloeckler),
#      survfit on Surv(time, factor(status)) (Aalen-Johansen, multi-state)
#    and writes tests/reference/survival_ref_<name>.json.
# Expected columns: subject, arm, time, event, time_lower, time_upper, status, baseline
# (+ covariates named in `covs` below).
suppressPackageStartupMessages({library(survival); library(jsonlite)})
dir <- "tests/reference/data"

simulate <- function(seed, n_per_arm, arms, rates, weeks, p_miss, p_drop, sites) {
  set.seed(seed)
  rows <- list()
  id <- 0
  for (a in seq_along(arms)) for (i in seq_len(n_per_arm)) {
    id <- id + 1
    base <- round(runif(1, 4, 9), 1)
    age <- round(rnorm(1, 50, 10))
    site <- sample(sites, 1)
    rate <- rates[a] * exp(-0.15 * (base - 6.5))
    t_true <- rexp(1, rate)
    assessed <- runif(length(weeks)) > p_miss
    if (runif(1) < p_drop) {                       # drop out after a random visit
      last <- sample(seq_along(weeks) - 1, 1)
      if (last < length(weeks)) assessed[seq_along(weeks) > last] <- FALSE
    }
    seen <- weeks[assessed]
    hit <- seen[seen >= t_true]
    if (length(hit)) {
      time <- hit[1]; event <- 1
      prev <- seen[seen < time]
      lower <- if (length(prev)) max(prev) else 0
      upper <- time; status <- 1
    } else {
      time <- if (length(seen)) max(seen) else 0; event <- 0
      lower <- time; upper <- Inf
      status <- if (time < max(weeks)) 2 else 0
    }
    rows[[id]] <- data.frame(subject = sprintf("S%03d", id), arm = arms[a], time = time,
                             event = event, time_lower = lower, time_upper = upper,
                             status = status, baseline = base, age = age, site = site)
  }
  do.call(rbind, rows)
}

sim1 <- simulate(20261126, 60, c("control", "single", "integrative"), c(0.04, 0.07, 0.11),
                 c(2, 4, 8, 12, 26), 0.12, 0.2, c("A", "B", "C"))
sim2 <- simulate(4242, 80, c("sham", "laser"), c(0.05, 0.10), c(4, 8, 12), 0.08, 0.15,
                 c("north", "south"))
write.csv(sim1, file.path(dir, "surv_sim1.csv"), row.names = FALSE)
write.csv(sim2, file.path(dir, "surv_sim2.csv"), row.names = FALSE)

covariates_for <- function(d) intersect(c("baseline", "age", "site"), names(d))

analyse <- function(d, name, reference, horizon) {
  d$arm <- relevel(factor(d$arm), ref = reference)
  d$time_upper[!is.finite(d$time_upper)] <- NA
  out <- list(name = name, reference = reference, horizon = horizon,
              arms = levels(d$arm), R = R.version.string,
              survival = as.character(packageVersion("survival")))

  # Kaplan-Meier, R default log CI
  fit <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log")
  strata <- rep(sub("^arm=", "", names(fit$strata)), fit$strata)
  out$km <- data.frame(arm = strata, time = fit$time, n_risk = fit$n.risk,
                       n_event = fit$n.event, estimate = fit$surv, std_error = fit$std.err,
                       ci_lower = fit$lower, ci_upper = fit$upper)
  tab <- summary(fit, rmean = horizon)$table
  out$medians <- data.frame(arm = sub("^arm=", "", rownames(tab)), n = tab[, "n.max"],
                            events = tab[, "events"], median = tab[, "median"],
                            ci_lower = tab[, "0.95LCL"], ci_upper = tab[, "0.95UCL"],
                            rmean = tab[, "rmean"], rmean_se = tab[, "se(rmean)"])
  fitll <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log-log")
  tll <- summary(fitll)$table
  out$medians_loglog <- data.frame(arm = sub("^arm=", "", rownames(tll)),
                                   ci_lower = tll[, "0.95LCL"], ci_upper = tll[, "0.95UCL"])

  # log-rank
  sd <- survdiff(Surv(time, event) ~ arm, data = d)
  out$logrank <- list(statistic = sd$chisq, df = length(sd$n) - 1)
  prs <- combn(levels(d$arm), 2)
  out$logrank_pairs <- do.call(rbind, lapply(seq_len(ncol(prs)), function(k) {
    s <- survdiff(Surv(time, event) ~ arm, data = droplevels(d[d$arm %in% prs[, k], ]))
    data.frame(a = prs[1, k], b = prs[2, k], statistic = s$chisq)
  }))

  # Cox PH, Efron ties: arm only and adjusted
  cx <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron")
  ci <- summary(cx)$conf.int
  out$cox_unadjusted <- data.frame(term = sub("^arm", "", names(coef(cx))), estimate = coef(cx),
                                   std_error = sqrt(diag(vcov(cx))), hazard_ratio = ci[, 1],
                                   hr_ci_lower = ci[, 3], hr_ci_upper = ci[, 4])
  covs <- covariates_for(d)
  f <- as.formula(paste("Surv(time, event) ~ arm +", paste(covs, collapse = " + ")))
  cx2 <- coxph(f, data = d, ties = "efron")
  ci2 <- summary(cx2)$conf.int
  out$cox_adjusted <- data.frame(term = names(coef(cx2)), estimate = coef(cx2),
                                 std_error = sqrt(diag(vcov(cx2))), hazard_ratio = ci2[, 1],
                                 hr_ci_lower = ci2[, 3], hr_ci_upper = ci2[, 4])
  out$cox_adjusted_covariates <- covs
  out$cox_loglik <- cx2$loglik[2]
  z <- cox.zph(cx2, transform = "km", terms = FALSE)
  out$cox_zph <- data.frame(term = rownames(z$table), statistic = z$table[, "chisq"],
                            p_value = z$table[, "p"])

  # Turnbull for interval2: left = last visit without (or time for censored), right = NA if censored
  left <- ifelse(d$event == 1, d$time_lower, d$time)
  right <- ifelse(d$event == 1, d$time_upper, NA)
  tb <- survfit(Surv(left, right, type = "interval2") ~ arm, data = d)
  tstr <- rep(sub("^arm=", "", names(tb$strata)), tb$strata)
  out$turnbull <- data.frame(arm = tstr, time = tb$time, estimate = tb$surv,
                             n_event = tb$n.event)

  # Discrete-time PH: person-period, one row per scheduled visit up to time
  weeks <- sort(unique(c(d$time[d$time > 0], d$time_upper[!is.na(d$time_upper)])))
  pp <- do.call(rbind, lapply(seq_len(nrow(d)), function(i) {
    w <- weeks[weeks <= d$time[i]]
    if (!length(w)) return(NULL)
    data.frame(d[rep(i, length(w)), ], period = w,
               y = as.integer(d$event[i] == 1 & w == d$time[i]))
  }))
  evp <- unique(pp$period[pp$y == 1])
  pp <- pp[pp$period %in% evp, ]
  pp$period <- factor(pp$period)
  g <- glm(as.formula(paste("y ~ 0 + period + arm +", paste(covs, collapse = " + "))),
           family = binomial(link = "cloglog"), data = pp,
           control = glm.control(epsilon = 1e-12, maxit = 100))
  out$discrete <- data.frame(term = names(coef(g)), estimate = coef(g),
                             std_error = sqrt(diag(vcov(g))))
  out$discrete_deviance <- deviance(g)

  # Aalen-Johansen with dropout competing
  d$state <- factor(d$status, 0:2, labels = c("censor", "improved", "dropout"))
  aj <- survfit(Surv(time, state) ~ arm, data = d)
  astr <- rep(sub("^arm=", "", names(aj$strata)), aj$strata)
  j <- match("improved", aj$states)
  out$aalen_johansen <- data.frame(arm = astr, time = aj$time, estimate = aj$pstate[, j],
                                   std_error = aj$std.err[, j], ci_lower = aj$lower[, j],
                                   ci_upper = aj$upper[, j],
                                   competing = aj$pstate[, match("dropout", aj$states)])
  out
}

cases <- list(
  sim1 = list(reference = "control", horizon = 26),
  sim2 = list(reference = "sham", horizon = 12),
  chow2006 = list(reference = NA, horizon = NA),
  demo = list(reference = NA, horizon = NA)
)
for (nm in names(cases)) {
  f <- file.path(dir, paste0("surv_", nm, ".csv"))
  if (!file.exists(f)) { message("skipping ", nm, ": no ", f); next }
  d <- read.csv(f, stringsAsFactors = FALSE)
  ref <- cases[[nm]]$reference
  if (is.na(ref)) ref <- d$reference[1]             # written by painstudy's export
  h <- cases[[nm]]$horizon
  if (is.na(h)) h <- d$horizon[1]
  res <- analyse(d, nm, ref, h)
  write_json(res, sprintf("tests/reference/survival_ref_%s.json", nm), digits = NA,
             auto_unbox = TRUE, pretty = TRUE, na = "null")
  message("wrote ", nm)
}

# ---------------------------------------------------------------------------------------------
# Responders, Vickers et al. 2004 (raw file of the Trials 2006 data release), completers at
# 12 months, >= 35 % improvement in headache score from baseline (pk1 -> pk5).
mirror <- Sys.getenv("PAINSTUDY_DATA_MIRROR", "../shared/datasets")
vf <- file.path(mirror, "vickers2004_acupuncture_headache", "acupuncture_headache.csv")
if (file.exists(vf)) {
  v <- read.csv(vf)
  resp_at <- function(post) {
    c <- v[!is.na(v[[post]]) & v$completer == 1, ]
    c$resp <- as.integer((c$pk1 - c[[post]]) / c$pk1 >= 0.35)
    c
  }
  out <- list()
  for (post in c("pk2", "pk5")) {
    c <- resp_at(post)
    x <- tapply(c$resp, c$group, sum); n <- tapply(c$resp, c$group, length)
    pt <- prop.test(c(x["1"], x["0"]), c(n["1"], n["0"]), correct = FALSE)
    w1 <- prop.test(x["1"], n["1"], correct = FALSE)$conf.int
    w0 <- prop.test(x["0"], n["0"], correct = FALSE)$conf.int
    p1 <- x["1"] / n["1"]; p0 <- x["0"] / n["0"]
    se <- sqrt(p1 * (1 - p1) / n["1"] + p0 * (1 - p0) / n["0"])
    g <- glm(resp ~ factor(group) + pk1 + age + sex + migraine + chronicity,
             family = binomial, data = c, control = glm.control(epsilon = 1e-12))
    ci <- confint.default(g)
    out[[post]] <- list(
      n = c(acupuncture = n[["1"]], usual_care = n[["0"]]),
      responders = c(acupuncture = x[["1"]], usual_care = x[["0"]]),
      wilson = list(acupuncture = as.numeric(w1), usual_care = as.numeric(w0)),
      chisq = unname(pt$statistic), p_value = pt$p.value,
      difference = unname(p1 - p0),
      wald_ci = unname(c(p1 - p0 - qnorm(0.975) * se, p1 - p0 + qnorm(0.975) * se)),
      logit = data.frame(term = names(coef(g)), estimate = unname(coef(g)),
                         std_error = unname(sqrt(diag(vcov(g)))),
                         ci_lower = unname(ci[, 1]), ci_upper = unname(ci[, 2])))
  }
  write_json(out, "tests/reference/survival_ref_vickers_responders.json", digits = NA,
             auto_unbox = TRUE, pretty = TRUE)
  message("wrote vickers responders")
}
