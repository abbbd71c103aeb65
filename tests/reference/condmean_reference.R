# Reference values for painstudy's conditional mean imputation with jackknife inference
# (painstudy.sensitivity.reference_based, method="condmean") on rbmi's antidepressant data, under MAR and
# under copy reference (CR): an implementation written here in R, independent of painstudy's code, on
# nlme::gls (an MMRM with unstructured covariance, REML), following Wolbers et al. (2022) and rbmi:
#   1. fit CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT, unstructured covariance, REML (optim with
#      tight tolerances: gls's default nlminb stops 1e-8 short of the optimum in -2 log L, which moves the
#      estimates by 1e-5);
#   2. replace every missing outcome by its conditional mean given the subject's observed outcomes, under
#      the subject's own arm (MAR) or under the reference arm PLACEBO for every subject with terminal
#      missing data (CR; subject 3618's intermittent value stays MAR);
#   3. ANCOVA at each visit: CHANGE ~ THERAPY + BASVAL, LS means at the mean baseline;
#   4. the same for each of the 172 leave-one-subject-out samples; jackknife SE.
# Run from the repository root (needs ../shared/datasets beside it):
#   Rscript tests/reference/condmean_reference.R      # writes tests/reference/condmean_reference.json
suppressPackageStartupMessages({library(nlme); library(jsonlite)})
d <- read.csv("../shared/datasets/rbmi_antidepressant/antidepressant_data.csv")
d$VISIT <- factor(d$VISIT, levels = c(4, 5, 6, 7))
d$THERAPY <- factor(d$THERAPY, levels = c("DRUG", "PLACEBO"))
d$vi <- as.integer(d$VISIT)
patients <- unique(d$PATIENT)
visits <- levels(d$VISIT)
T <- length(visits)
base <- d[!duplicated(d$PATIENT), c("PATIENT", "THERAPY", "BASVAL")]
# every subject x visit, outcome NA where missing
grid <- merge(expand.grid(PATIENT = patients, VISIT = visits), base, by = "PATIENT")
grid$VISIT <- factor(grid$VISIT, levels = visits)
grid <- merge(grid, d[, c("PATIENT", "VISIT", "CHANGE")], by = c("PATIENT", "VISIT"), all.x = TRUE)
grid <- grid[order(grid$PATIENT, grid$VISIT), ]
Y <- matrix(grid$CHANGE, ncol = T, byrow = TRUE)
obs <- !is.na(Y)
last <- apply(obs, 1, function(o) max(which(o)))
terminal <- last < T  # subjects with an intercurrent event (terminal missing data)
arm <- base$THERAPY[match(patients, base$PATIENT)]
basval <- base$BASVAL[match(patients, base$PATIENT)]
f <- CHANGE ~ THERAPY + VISIT + BASVAL * VISIT + THERAPY * VISIT

means <- function(fit, therapy) {
  nd <- data.frame(PATIENT = rep(patients, each = T), VISIT = factor(rep(visits, length(patients)), levels = visits),
                   THERAPY = factor(rep(as.character(therapy), each = T), levels = c("DRUG", "PLACEBO")),
                   BASVAL = rep(basval, each = T))
  X <- model.matrix(~ THERAPY + VISIT + BASVAL * VISIT + THERAPY * VISIT, nd)
  matrix(X %*% coef(fit), ncol = T, byrow = TRUE)
}

analyse <- function(rows, strategy) {
  sub <- d[d$PATIENT %in% patients[rows], ]
  fit <- gls(f, data = sub, correlation = corSymm(form = ~ vi | PATIENT), weights = varIdent(form = ~ 1 | VISIT),
             method = "REML", control = glsControl(opt = "optim", tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500))
  complete <- names(which(table(sub$PATIENT) == T))[1]  # a subject with all four visits, rows in visit order
  S <- unclass(getVarCov(fit, individual = complete))
  own <- means(fit, arm)
  ref <- means(fit, rep("PLACEBO", length(patients)))
  out <- list()
  Yc <- Y
  for (i in rows) {
    m <- which(!obs[i, ]); o <- which(obs[i, ])
    if (!length(m)) next
    mu <- own[i, ]
    if (strategy == "CR" && terminal[i]) mu <- ref[i, ]
    cm <- mu[m]
    if (length(o)) cm <- cm + S[m, o, drop = FALSE] %*% solve(S[o, o], Y[i, o] - mu[o])
    Yc[i, m] <- cm
  }
  est <- c()
  for (j in seq_len(T)) {
    a <- data.frame(y = Yc[rows, j], THERAPY = arm[rows], BASVAL = basval[rows])
    l <- lm(y ~ THERAPY + BASVAL, data = a)
    mb <- mean(a$BASVAL)
    lsm_drug <- sum(coef(l) * c(1, 0, mb)); lsm_pbo <- sum(coef(l) * c(1, 1, mb))
    est <- c(est, coef(l)[["THERAPYPLACEBO"]], lsm_drug, lsm_pbo)
  }
  est
}
out <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
            columns = "per visit 4,5,6,7: PLACEBO - DRUG, LS mean DRUG, LS mean PLACEBO")
n <- length(patients)
for (strategy in c("MAR", "CR")) {
  full <- analyse(seq_len(n), strategy)
  jack <- t(sapply(seq_len(n), function(k) analyse(setdiff(seq_len(n), k), strategy)))
  se <- sqrt((n - 1) / n * colSums(sweep(jack, 2, colMeans(jack))^2))
  out[[strategy]] <- list(estimate = full, std_error = se)
  message(strategy, ": done")
}
write_json(out, "tests/reference/condmean_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/condmean_reference.json")
