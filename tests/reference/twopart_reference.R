# Reference values for painstudy's two-part model of a semicontinuous dose (painstudy.models.twopart).
#
# Data (simulated here, written to tests/reference/data/twopart_mme.csv): 150 subjects, 3 arms (control,
# exercise, integrative), 3 post-baseline visits (week4, week12, week26), some rows missing; the baseline dose
# (0 for about half the subjects) and age as covariates. Any use depends on the baseline dose, the arm and the
# visit (users stop and non-users start, so nothing is perfectly predicted); the dose among users is gamma.
#
# Part 1: glm(I(mme > 0) ~ arm * visit + mme_baseline + age, binomial)
# Part 2: glm(mme ~ arm * visit + mme_baseline + age, Gamma(link = "log"), subset = mme > 0)
#         and, for the lognormal option, lm(log(mme) ~ ..., subset = mme > 0) with Duan's smearing factor.
# Marginal means by arm and visit, standardised over the sample (one row per subject, the first in data order,
# predicted under each arm at each visit): mean(p_i mu_i); the probability of use mean(p_i) and the dose of a
# user mean(mu_i); the difference and log ratio of each arm against control per visit. Delta-method standard
# errors written from the formulas: gradient (1/N) sum p(1-p) mu x (part 1) and (1/N) sum p mu x (part 2), with
#   "model":  blockdiag(vcov(glm1), vcov(glm2)) (Gamma: Pearson dispersion, as summary.glm; lm: sigma^2);
#   "robust": the CR0 sandwich with clusters = subjects of the stacked scores x (y1 - p) and x (y - mu) / mu
#             (lognormal: x e), bread blockdiag((X'WX)^-1, (Xp'Xp)^-1).
#
# Run from the repository root:
#     Rscript tests/reference/twopart_reference.R   # writes tests/reference/twopart_reference.json
suppressPackageStartupMessages(library(jsonlite))
dir <- "tests/reference/data"

set.seed(20261201)
n <- 150
arms <- c("control", "exercise", "integrative")
visits <- c("week4", "week12", "week26")
subj <- data.frame(
  subject = sprintf("P%03d", 1:n),
  arm = sample(arms, n, replace = TRUE),
  age = round(runif(n, 25, 75)),
  mme_baseline = ifelse(runif(n) < 0.5, 0, round(exp(rnorm(n, log(30), 0.6)), 1))
)
rows <- list()
for (v in visits) {
  t <- match(v, visits)
  lp <- -1.2 + 3.0 * (subj$mme_baseline > 0) + 0.01 * subj$mme_baseline - 0.25 * t * (subj$arm == "integrative") -
    0.1 * t * (subj$arm == "exercise") + 0.01 * (subj$age - 50)
  use <- rbinom(n, 1, plogis(lp))
  mu <- exp(log(20) + 0.015 * subj$mme_baseline - 0.1 * t * (subj$arm == "integrative") - 0.002 * (subj$age - 50))
  dose <- ifelse(use == 1, round(rgamma(n, shape = 2.5, rate = 2.5 / mu), 1), 0)
  dose[use == 1 & dose == 0] <- 0.1
  rows[[v]] <- cbind(subj, visit = v, mme = dose)
}
d <- do.call(rbind, rows)
d <- d[order(d$subject, match(d$visit, visits)), ]
d$mme[sample(nrow(d), 25)] <- NA
rownames(d) <- NULL
write.csv(d[, c("subject", "arm", "visit", "age", "mme_baseline", "mme")], file.path(dir, "twopart_mme.csv"),
          row.names = FALSE, na = "")

# ------------------------------------------------------------------------------------------ fits
d <- read.csv(file.path(dir, "twopart_mme.csv"))
d <- d[!is.na(d$mme), ]
d$arm <- factor(d$arm, arms)
d$visit <- factor(d$visit, visits)
ctl <- glm.control(epsilon = 1e-14, maxit = 200)
# glm stops on the change of deviance, which is quadratic in the step: coefficients then hold ~7 digits and
# vcov() takes the weights of the previous iterate. Each fit is therefore restarted from its own estimates, so
# that the reported coefficients and covariance come from the converged point.
f1 <- glm(I(as.numeric(mme > 0)) ~ arm * visit + mme_baseline + age, family = binomial, data = d, control = ctl)
f1 <- glm(I(as.numeric(mme > 0)) ~ arm * visit + mme_baseline + age, family = binomial, data = d, control = ctl,
          start = coef(f1))
pos <- d$mme > 0
dp <- d[pos, ]
f2 <- glm(mme ~ arm * visit + mme_baseline + age, family = Gamma(link = "log"), data = dp, control = ctl)
f2 <- glm(mme ~ arm * visit + mme_baseline + age, family = Gamma(link = "log"), data = dp, control = ctl,
          start = coef(f2))
f3 <- lm(log(mme) ~ arm * visit + mme_baseline + age, data = dp)
X <- model.matrix(f1)
Xp <- model.matrix(f2)
k <- ncol(X)
first <- d[!duplicated(d$subject), ]   # the standardisation set: one row per subject, data order
N <- nrow(first)

grid_X <- function(a, v) {
  g <- first
  g$arm <- factor(a, arms)
  g$visit <- factor(v, visits)
  model.matrix(~ arm * visit + mme_baseline + age, data = g)
}

sandwich <- function(res2) {
  p <- fitted(f1)
  y1 <- as.numeric(d$mme > 0)
  u1 <- X * (y1 - p)
  u2 <- matrix(0, nrow(X), k)
  u2[pos, ] <- Xp * res2
  U <- rowsum(cbind(u1, u2), d$subject)
  B <- matrix(0, 2 * k, 2 * k)
  B[1:k, 1:k] <- solve(t(X) %*% (X * (p * (1 - p))))
  B[(k + 1):(2 * k), (k + 1):(2 * k)] <- solve(t(Xp) %*% Xp)
  B %*% crossprod(U) %*% B
}

part <- function(kind) {
  b1 <- coef(f1)
  if (kind == "gamma") {
    b2 <- coef(f2); smear <- 1; V2 <- vcov(f2)
    mu_p <- fitted(f2); res2 <- (dp$mme - mu_p) / mu_p
    dispersion <- summary(f2)$dispersion
  } else {
    b2 <- coef(f3); res2 <- residuals(f3); smear <- mean(exp(res2)); V2 <- vcov(f3)
    dispersion <- summary(f3)$sigma^2
  }
  Vm <- matrix(0, 2 * k, 2 * k)
  Vm[1:k, 1:k] <- vcov(f1)
  Vm[(k + 1):(2 * k), (k + 1):(2 * k)] <- V2
  Vr <- sandwich(res2)
  cells <- expand.grid(arm = arms, visit = visits, stringsAsFactors = FALSE)
  est <- list(); G <- list(); Gp <- list(); Gd <- list()
  for (i in seq_len(nrow(cells))) {
    Xg <- grid_X(cells$arm[i], cells$visit[i])
    p <- plogis(drop(Xg %*% b1)); mu <- exp(drop(Xg %*% b2)) * smear
    est[[i]] <- c(mean = mean(p * mu), prob_use = mean(p), dose_if_used = mean(mu))
    G[[i]] <- c(colSums(Xg * (p * (1 - p) * mu)) / N, colSums(Xg * (p * mu)) / N)
    Gp[[i]] <- c(colSums(Xg * (p * (1 - p))) / N, rep(0, k))
    Gd[[i]] <- c(rep(0, k), colSums(Xg * mu) / N)
  }
  se <- function(g, V) sqrt(drop(t(g) %*% V %*% g))
  means <- lapply(seq_len(nrow(cells)), function(i) list(
    arm = cells$arm[i], visit = cells$visit[i], mean = unname(est[[i]]["mean"]),
    prob_use = unname(est[[i]]["prob_use"]), dose_if_used = unname(est[[i]]["dose_if_used"]),
    se_model = se(G[[i]], Vm), se_robust = se(G[[i]], Vr),
    prob_use_se_model = se(Gp[[i]], Vm), dose_if_used_se_model = se(Gd[[i]], Vm),
    prob_use_se_robust = se(Gp[[i]], Vr), dose_if_used_se_robust = se(Gd[[i]], Vr)))
  comps <- list()
  for (v in visits) {
    r <- which(cells$arm == "control" & cells$visit == v)
    for (a in arms[-1]) {
      i <- which(cells$arm == a & cells$visit == v)
      mi <- est[[i]]["mean"]; mr <- est[[r]]["mean"]
      gd <- G[[i]] - G[[r]]
      gl <- G[[i]] / mi - G[[r]] / mr
      comps[[length(comps) + 1]] <- list(
        arm = a, visit = v, difference = unname(mi - mr), log_ratio = unname(log(mi / mr)),
        difference_se_model = se(gd, Vm), difference_se_robust = se(gd, Vr),
        log_ratio_se_model = se(gl, Vm), log_ratio_se_robust = se(gl, Vr))
    }
  }
  list(
    use_coefficients = list(term = names(b1), estimate = unname(b1), se_model = unname(sqrt(diag(vcov(f1)))),
                            se_robust = sqrt(diag(Vr))[1:k]),
    dose_coefficients = list(term = names(b2), estimate = unname(b2), se_model = unname(sqrt(diag(V2))),
                             se_robust = sqrt(diag(Vr))[(k + 1):(2 * k)]),
    smearing = if (kind == "gamma") NA else smear, dispersion = dispersion,
    means = means, comparisons = comps)
}

out <- list(
  generated_by = "tests/reference/twopart_reference.R",
  generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  r_version = R.version.string,
  packages = list(stats = as.character(packageVersion("stats")), jsonlite = as.character(packageVersion("jsonlite"))),
  data = "tests/reference/data/twopart_mme.csv",
  n_obs = nrow(d), n_users = sum(pos), n_subjects = N,
  r_calls = c("glm(I(as.numeric(mme > 0)) ~ arm * visit + mme_baseline + age, family = binomial)",
              "glm(mme ~ arm * visit + mme_baseline + age, family = Gamma(link = 'log'), subset = mme > 0)",
              "lm(log(mme) ~ arm * visit + mme_baseline + age, subset = mme > 0)"),
  gamma = part("gamma"),
  lognormal = part("lognormal"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "tests/reference/twopart_reference.json")
cat("wrote tests/reference/twopart_reference.json\n")
