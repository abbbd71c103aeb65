# Reference values for the painstudy random-coefficient LMM engine (issue 4).
#
# Run from the repository root:
#   Rscript tests/reference/lmm_reference.R [sim] [chow] [vickers] [nlme] [pastes]   (no argument: every section)
# Writes tests/reference/data/sim_lmm_{a,b,c}.csv (our own simulated data, fixed seeds),
# tests/reference/lmm_ref_sim.json and tests/reference/lmm_ref_chow.json (schema: tests/reference/README.md);
# "pastes" writes lme4's Pastes data to tests/reference/data/pastes.csv and tests/reference/lmm_ref_pastes.json.
#
# Engines: lme4::lmer (REML and ML), lmerTest (Satterthwaite df), pbkrtest (Kenward-Roger adjusted covariance and
# df), glmmTMB as a second check of -2 log-likelihood.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(glmmTMB)
  library(jsonlite)
})

ARGS <- commandArgs(trailingOnly = TRUE)
want <- function(section) length(ARGS) == 0 || section %in% ARGS
OUT_DIR <- "tests/reference"
SHARED <- "../shared/datasets"
stopifnot(dir.exists(OUT_DIR))
dir.create(file.path(OUT_DIR, "data"), showWarnings = FALSE)

mat_json <- function(m) lapply(seq_len(nrow(m)), function(i) as.list(unname(as.numeric(m[i, ]))))

versions <- function() {
  pk <- c("lme4", "lmerTest", "pbkrtest", "glmmTMB", "TMB", "Matrix", "jsonlite")
  v <- lapply(pk, function(p) packageDescription(p)$Version); names(v) <- pk
  list(r_version = R.version.string, packages = v)
}

write_ref <- function(fits, file) {
  vv <- versions()
  obj <- list(schema_version = 1L, generated_by = "tests/reference/lmm_reference.R",
              generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
              r_version = vv$r_version, packages = vv$packages, fits = fits)
  path <- file.path(OUT_DIR, file)
  write_json(obj, path, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", path, "with", length(fits), "fits\n")
}

CTRL <- "lmerControl(optimizer = \"bobyqa\", optCtrl = list(maxfun = 1e5, rhobeg = 0.2, rhoend = 1e-9))"

varcorr_json <- function(fit) {
  vc <- VarCorr(fit)
  out <- lapply(names(vc), function(g) {
    m <- vc[[g]]
    list(group = g, terms = colnames(m), sd = unname(as.numeric(attr(m, "stddev"))),
         corr = mat_json(attr(m, "correlation")), cov = mat_json(matrix(as.numeric(m), nrow(m))))
  })
  c(out, list(list(group = "Residual", sd = sigma(fit))))
}

# one lmer fit -> FIT object
lmm_fit <- function(id, dname, d, data_path, data_prep, formula, random, reml, ref_levels, subject, kr = reml,
                    tmb_check = TRUE) {
  cat(id, "\n")
  call <- sprintf("lmerTest::lmer(%s, data = %s, REML = %s, control = %s)", formula, dname,
                  if (reml) "TRUE" else "FALSE", CTRL)
  assign(dname, d, envir = globalenv())
  warn <- NULL
  tm <- system.time(fit <- withCallingHandlers(eval(parse(text = call)),
                                              warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") }))
  sm <- summary(fit, ddf = "Satterthwaite")$coefficients
  terms <- rownames(sm)
  coefs <- lapply(seq_along(terms), function(i)
    list(term = terms[i], estimate = sm[i, "Estimate"], std_error = sm[i, "Std. Error"], df = sm[i, "df"]))
  out <- list(id = id, data = data_path, data_prep = data_prep, outcome = all.vars(as.formula(formula))[1],
              subject = subject, formula = formula, random = random, reference_levels = ref_levels,
              reml = reml, engine = "lme4", r_call = call,
              converged = fit@optinfo$conv$opt == 0 && is.null(warn),
              singular = isSingular(fit),
              lme4_messages = if (is.null(fit@optinfo$conv$lme4$messages)) NULL else
                paste(fit@optinfo$conv$lme4$messages, collapse = "; "),
              n_obs = nrow(model.frame(fit)), n_groups = as.list(ngrps(fit)),
              neg2_log_lik = -2 * as.numeric(logLik(fit)),
              reml_criterion = if (reml) unname(REMLcrit(fit)) else NULL,
              aic = AIC(fit), bic = BIC(fit),
              coefficients = coefs, df_method = "satterthwaite",
              df_notes = "lmerTest summary(fit, ddf = \"Satterthwaite\")",
              vcov_beta = list(terms = terms, matrix = mat_json(as.matrix(vcov(fit)))),
              varcorr = varcorr_json(fit),
              theta = unname(getME(fit, "theta")),
              elapsed_seconds_informative = unname(tm[3]))
  if (!is.null(warn)) out$notes <- paste("warnings:", paste(warn, collapse = "; "))
  if (isSingular(fit)) out$notes <- paste(c(out$notes, paste("singular (boundary) fit: a variance component or",
    "correlation is at the boundary; compare -2LL and fixed effects, not the degenerate variance parameters")),
    collapse = "; ")
  if (kr) {
    Va <- as.matrix(pbkrtest::vcovAdj(fit))
    V0 <- as.matrix(vcov(fit))
    dfs <- sapply(seq_along(terms), function(i) { L <- matrix(0, 1, length(terms)); L[i] <- 1
      pbkrtest:::Lb_ddf(L, V0, pbkrtest::vcovAdj(fit)) })
    smk <- summary(fit, ddf = "Kenward-Roger")$coefficients
    out$kenward_roger <- list(
      method = paste0("pbkrtest ", packageVersion("pbkrtest"), " vcovAdj(fit) (adjusted covariance) and ",
                      "pbkrtest:::Lb_ddf(L, vcov(fit), vcovAdj(fit)) per coefficient; lmerTest summary(fit, ddf = ",
                      "\"Kenward-Roger\") agrees (max abs diff recorded)"),
      coefficients = lapply(seq_along(terms), function(i)
        list(term = terms[i], estimate = sm[i, "Estimate"], std_error = sqrt(Va[i, i]), df = dfs[i])),
      vcov_beta_adjusted = list(terms = terms, matrix = mat_json(Va)),
      max_abs_diff_vs_lmerTest = list(std_error = max(abs(sqrt(diag(Va)) - smk[, "Std. Error"])),
                                      df = max(abs(dfs - smk[, "df"]))))
  }
  # BLUPs of the first 5 subjects (order of first appearance in the data)
  re <- ranef(fit)[[subject]]
  first <- unique(as.character(d[[subject]]))[1:5]
  out$blups <- lapply(first, function(s) c(list(group = subject, level = s), as.list(setNames(as.numeric(re[s, ]), colnames(re)))))
  if (tmb_check) {
    tcall <- sprintf("glmmTMB(%s, data = %s, REML = %s)", formula, dname, if (reml) "TRUE" else "FALSE")
    tf <- suppressWarnings(eval(parse(text = tcall)))
    out$crosscheck_glmmtmb <- list(r_call = tcall, neg2_log_lik = -2 * as.numeric(logLik(tf)),
                                   optimizer_message = tf$fit$message,
                                   pd_hessian = isTRUE(tf$sdr$pdHess),
                                   max_abs_diff_fixef = max(abs(fixef(tf)$cond - fixef(fit))))
    cat(sprintf("  lme4 -2LL %.8f glmmTMB %.8f\n", out$neg2_log_lik, out$crosscheck_glmmtmb$neg2_log_lik))
  }
  out
}

# ----------------------------------------------------------------------------------------------------------
# simulated data
# ----------------------------------------------------------------------------------------------------------
rand_effects <- function(n, sd0, sd1, rho) {
  S <- matrix(c(sd0^2, rho * sd0 * sd1, rho * sd0 * sd1, sd1^2), 2)
  matrix(rnorm(2 * n), n, 2) %*% chol(S)
}

sim_lmm_a <- function() {
  # 300 subjects x 5 visits (weeks 0, 2, 4, 8, 12), balanced, 2 arms
  set.seed(101)
  n <- 300; wk <- c(0, 2, 4, 8, 12)
  arm <- sample(rep(c("CTL", "INT"), each = n / 2))
  base <- round(rnorm(n, 6, 1.5), 2)
  b <- rand_effects(n, 1.0, 0.08, -0.3)
  d <- data.frame(subject = rep(sprintf("S%03d", 1:n), each = length(wk)), arm = rep(arm, each = length(wk)),
                  baseline = rep(base, each = length(wk)), week = rep(wk, n), stringsAsFactors = FALSE)
  i <- rep(1:n, each = length(wk)); int <- d$arm == "INT"
  d$y <- round(1 + 0.8 * d$baseline + 0.3 * int + b[i, 1] + (-0.10 - 0.08 * int + b[i, 2]) * d$week +
                 rnorm(nrow(d), 0, 0.8), 4)
  d
}

sim_lmm_b <- function() {
  # 200 subjects x up to 7 visits at jittered, subject-specific times; 3 arms; 0-2 visits missing at random
  set.seed(202)
  n <- 200; wk <- c(0, 1, 2, 4, 6, 9, 12)
  arm <- sample(c("UC", "PT", "INT"), n, replace = TRUE)
  base <- round(rnorm(n, 50, 10), 1)
  b <- rand_effects(n, 6, 0.6, 0.2)
  rows <- lapply(1:n, function(i) {
    keep <- setdiff(seq_along(wk), sample(2:7, sample(0:2, 1)))
    t <- round(pmax(0, wk[keep] + c(0, runif(length(keep) - 1, -0.5, 0.5))), 1)
    eff <- switch(arm[i], UC = 0, PT = -0.4, INT = -0.9)
    y <- 10 + 0.7 * base[i] + b[i, 1] + (-0.5 + eff + b[i, 2]) * t + rnorm(length(t), 0, 4)
    data.frame(subject = sprintf("P%03d", i), arm = arm[i], baseline = base[i], week = t, y = round(y, 3),
               stringsAsFactors = FALSE)
  })
  do.call(rbind, rows)
}

sim_lmm_c <- function() {
  # 400 subjects in 20 sites of unequal size, weeks 0, 4, ..., 20, MAR dropout
  set.seed(303)
  n <- 400; wk <- seq(0, 20, 4)
  site <- sample(sprintf("site%02d", 1:20), n, replace = TRUE, prob = (1:20) / sum(1:20))
  u <- setNames(rnorm(20, 0, 0.5), sprintf("site%02d", 1:20))
  arm <- sample(c("CTL", "INT"), n, replace = TRUE)
  base <- round(rnorm(n, 6.5, 1.2), 2)
  b <- rand_effects(n, 0.9, 0.05, 0.1)
  rows <- lapply(1:n, function(i) {
    y <- 1.5 + 0.7 * base[i] + u[site[i]] + b[i, 1] + (-0.06 - 0.04 * (arm[i] == "INT") + b[i, 2]) * wk +
      rnorm(length(wk), 0, 0.7)
    k <- length(wk)
    for (t in 2:length(wk)) if (runif(1) < plogis(-3 + 0.6 * (y[t - 1] - 6))) { k <- t - 1; break }
    data.frame(subject = sprintf("C%03d", i), site = site[i], arm = arm[i], baseline = base[i], week = wk[1:k],
               y = round(y[1:k], 4), stringsAsFactors = FALSE)
  })
  do.call(rbind, rows)
}

if (want("sim")) {
fits <- list()
sims <- list(a = sim_lmm_a(), b = sim_lmm_b(), c = sim_lmm_c())
for (k in names(sims)) {
  path <- file.path(OUT_DIR, sprintf("data/sim_lmm_%s.csv", k))
  write.csv(sims[[k]], path, row.names = FALSE)
  d <- read.csv(path, stringsAsFactors = FALSE)
  arm_levels <- switch(k, a = c("CTL", "INT"), b = c("UC", "INT", "PT"), c = c("CTL", "INT"))
  d$arm <- factor(d$arm, levels = arm_levels)
  prep <- sprintf("arm factor with levels (%s), first = reference; week numeric", paste(arm_levels, collapse = ", "))
  models <- list(sub = "(1 + week | subject)")
  if (k == "c") models$site <- "(1 | site) + (1 + week | subject)"
  for (m in names(models)) for (reml in c(TRUE, FALSE)) {
    f <- sprintf("y ~ arm * week + baseline + %s", models[[m]])
    id <- sprintf("lmm_sim%s_%s_%s", k, m, if (reml) "reml" else "ml")
    fits[[length(fits) + 1]] <- lmm_fit(id, paste0("sim_lmm_", k), d, sprintf("tests/reference/data/sim_lmm_%s.csv", k),
                                        prep, f, models[[m]], reml, list(arm = arm_levels[1]), "subject")
  }
}
write_ref(fits, "lmm_ref_sim.json")
}

# ----------------------------------------------------------------------------------------------------------
# Chow 2006 neck pain: all three visits, time in weeks (0, 7, 12)
# ----------------------------------------------------------------------------------------------------------
if (want("chow")) {
raw <- read.csv(file.path(SHARED, "chow2006_laser_neck_pain/neck_pain.csv"), stringsAsFactors = FALSE)
raw$laser <- factor(as.character(raw$laser), levels = c("2", "1"))
raw$time_num <- c(0, 7, 12)[raw$time]
raw$id <- factor(raw$id)
prep <- "laser factor with levels '2' (sham, reference), '1' (active); time_num = c(0, 7, 12)[time] (weeks); all 264 rows"
fits <- list()
for (rnd in c("(1 | id)", "(1 + time_num | id)")) for (reml in c(TRUE, FALSE)) {
  f <- sprintf("vas ~ laser * time_num + %s", rnd)
  id <- sprintf("lmm_chow_%s_%s", if (grepl("time_num \\|", rnd)) "slope" else "int", if (reml) "reml" else "ml")
  fits[[length(fits) + 1]] <- lmm_fit(id, "chow", raw, "shared:chow2006_laser_neck_pain/neck_pain.csv", prep, f, rnd,
                                      reml, list(laser = "2"), "id")
}
write_ref(fits, "lmm_ref_chow.json")
}

# ----------------------------------------------------------------------------------------------------------
# Vickers 2004 headache score: wide file to long, months 0 / 3 / 12, every randomised patient with data
# ----------------------------------------------------------------------------------------------------------
if (want("vickers")) {
w <- read.csv(file.path(SHARED, "vickers2004_acupuncture_headache/acupuncture_headache.csv"), stringsAsFactors = FALSE)
vick <- data.frame(id = rep(w$id, 3), group = rep(w$group, 3), month = rep(c(0, 3, 12), each = nrow(w)),
                   pk = c(w$pk1, w$pk2, w$pk5))
vick <- vick[!is.na(vick$pk), ]
vick <- vick[order(vick$id, vick$month), ]
vick$group <- factor(as.character(vick$group), levels = c("0", "1"))
vick$id <- factor(vick$id)
prep <- paste("long from pk1/pk2/pk5 at month 0/3/12, rows with pk missing dropped (1028 rows);",
              "group factor with levels '0' (usual care, reference), '1' (acupuncture); month numeric")
fits <- list()
for (reml in c(TRUE, FALSE)) {
  id <- sprintf("lmm_vickers_int_%s", if (reml) "reml" else "ml")
  fits[[length(fits) + 1]] <- lmm_fit(id, "vick", vick, "shared:vickers2004_acupuncture_headache/acupuncture_headache.csv",
                                      prep, "pk ~ group * month + (1 | id)", "(1 | id)", reml, list(group = "0"), "id")
}
write_ref(fits, "lmm_ref_vickers.json")
}

# ----------------------------------------------------------------------------------------------------------
# RANDOM + REPEATED: random intercept and slope with an AR(1) residual over visit ranks (nlme::lme)
# ----------------------------------------------------------------------------------------------------------
if (want("nlme")) {
suppressPackageStartupMessages(library(nlme))
d <- read.csv(file.path(OUT_DIR, "data/sim_lmm_a.csv"), stringsAsFactors = FALSE)[1:400, ]
d <- d[-seq(6, 400, by = 7), ]
d$arm <- factor(d$arm, levels = c("CTL", "INT"))
d$vr <- match(d$week, c(0, 2, 4, 8, 12))
fits <- list()
for (reml in c(TRUE, FALSE)) {
  call <- sprintf(paste("nlme::lme(y ~ arm * week + baseline, random = ~ 1 + week | subject, correlation =",
                        "corAR1(form = ~ vr | subject), data = d, method = \"%s\",",
                        "control = lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12))"),
                  if (reml) "REML" else "ML")
  fit <- eval(parse(text = call))
  tt <- summary(fit)$tTable
  fits[[length(fits) + 1]] <- list(
    id = sprintf("lmm_nlme_ar1_%s", if (reml) "reml" else "ml"), data = "tests/reference/data/sim_lmm_a.csv",
    data_prep = paste("first 400 rows (80 subjects x 5 visits), then rows 6, 13, ..., 398 dropped (unbalanced);",
                      "arm levels (CTL, INT); visit = W + zero-padded week; AR(1) over the visit rank"),
    formula = "y ~ arm * week + baseline + (1 + week | subject) + ar1(visit | subject)",
    reml = reml, engine = "nlme", r_call = call, n_obs = nrow(d),
    neg2_log_lik = -2 * as.numeric(logLik(fit)),
    coefficients = lapply(rownames(tt), function(t) list(term = t, estimate = tt[t, "Value"],
                                                            std_error = tt[t, "Std.Error"])),
    ar1 = unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE)),
    sigma = fit$sigma,
    random_cov = mat_json(as.matrix(getVarCov(fit))))
  cat(fits[[length(fits)]]$id, fits[[length(fits)]]$neg2_log_lik, "\n")
}
write_ref(fits, "lmm_ref_nlme.json")
}

# ----------------------------------------------------------------------------------------------------------
# lme4::Pastes: an intercept-only fixed part with nested random intercepts, strength ~ 1 + (1 | batch/cask).
# lmerTest's anova() of such a fit is an empty table (no fixed terms to test).
# ----------------------------------------------------------------------------------------------------------
if (want("pastes")) {
p <- as.data.frame(lme4::Pastes)
p <- data.frame(strength = p$strength, batch = as.character(p$batch), cask = as.character(p$cask),
                sample = as.character(p$sample), stringsAsFactors = FALSE)
path <- file.path(OUT_DIR, "data/pastes.csv")
write.csv(p, path, row.names = FALSE)
d <- read.csv(path, stringsAsFactors = FALSE)
prep <- "lme4::Pastes written by this script (strength, batch A-J, cask a-c, sample); no transformation"
fits <- list()
for (reml in c(TRUE, FALSE)) {
  id <- sprintf("lmm_pastes_%s", if (reml) "reml" else "ml")
  f <- lmm_fit(id, "pastes", d, "tests/reference/data/pastes.csv", prep, "strength ~ 1 + (1 | batch/cask)",
               "(1 | batch/cask)", reml, list(), "batch")
  fit <- lmerTest::lmer(strength ~ 1 + (1 | batch/cask), data = d, REML = reml, control = eval(parse(text = CTRL)))
  a <- anova(fit)
  f$anova <- list(r_call = "anova(fit) (lmerTest, type III, Satterthwaite)", n_rows = nrow(a),
                  columns = colnames(a), heading = paste(attr(a, "heading"), collapse = " "))
  fits[[length(fits) + 1]] <- f
}
write_ref(fits, "lmm_ref_pastes.json")
}
