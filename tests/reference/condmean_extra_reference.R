# Reference values for two options of painstudy's conditional mean imputation
# (painstudy.sensitivity.reference_based, method="condmean", jackknife) on rbmi's antidepressant data, jump to
# reference (PLACEBO) for every subject with terminal missing data (subject 3618's intermittent value MAR):
#   JR_anchored: the information-anchored variance of Lu (2021) as rbmi's vignette "CondMean_Inference"
#     describes it: MAR imputation plus a fixed delta, the difference between the JR and the MAR conditional
#     means on the full data; each leave-one-out sample is imputed under MAR, the same delta added, and
#     analysed by ANCOVA per visit (CHANGE ~ THERAPY + BASVAL); jackknife SE.
#   JR_mmrm: the completed data (JR conditional means) analysed by an MMRM instead of the ANCOVA:
#     CHANGE ~ BASVAL + THERAPY * VISIT, unstructured covariance, REML (nlme::gls); PLACEBO - DRUG at each
#     visit; jackknife SE over the 172 leave-one-subject-out samples (imputation and analysis redone).
# An implementation written here in R, independent of painstudy's code, on nlme::gls (the imputation model
# as in condmean_reference.R: CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT, unstructured, REML,
# optim with tight tolerances).
# Run from the repository root (needs ../shared/datasets beside it; about 5 minutes):
#   Rscript tests/reference/condmean_extra_reference.R   # writes tests/reference/condmean_extra_reference.json
suppressPackageStartupMessages({library(nlme); library(jsonlite)})
d <- read.csv("../shared/datasets/rbmi_antidepressant/antidepressant_data.csv")
d$VISIT <- factor(d$VISIT, levels = c(4, 5, 6, 7))
d$THERAPY <- factor(d$THERAPY, levels = c("DRUG", "PLACEBO"))
d$vi <- as.integer(d$VISIT)
patients <- unique(d$PATIENT)
visits <- levels(d$VISIT)
T <- length(visits)
n <- length(patients)
base <- d[!duplicated(d$PATIENT), c("PATIENT", "THERAPY", "BASVAL")]
grid <- merge(expand.grid(PATIENT = patients, VISIT = visits), base, by = "PATIENT")
grid$VISIT <- factor(grid$VISIT, levels = visits)
grid <- merge(grid, d[, c("PATIENT", "VISIT", "CHANGE")], by = c("PATIENT", "VISIT"), all.x = TRUE)
grid <- grid[order(grid$PATIENT, grid$VISIT), ]
Y <- matrix(grid$CHANGE, ncol = T, byrow = TRUE)
obs <- !is.na(Y)
last <- apply(obs, 1, function(o) max(which(o)))
terminal <- last < T
ice <- ifelse(terminal, last + 1, T + 1)  # first visit of the event (JR from there on)
arm <- base$THERAPY[match(patients, base$PATIENT)]
basval <- base$BASVAL[match(patients, base$PATIENT)]
f <- CHANGE ~ THERAPY + VISIT + BASVAL * VISIT + THERAPY * VISIT
tight <- glsControl(opt = "optim", tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500)

means <- function(fit, therapy) {
  nd <- data.frame(VISIT = factor(rep(visits, n), levels = visits),
                   THERAPY = factor(rep(as.character(therapy), each = T), levels = c("DRUG", "PLACEBO")),
                   BASVAL = rep(basval, each = T))
  X <- model.matrix(~ THERAPY + VISIT + BASVAL * VISIT + THERAPY * VISIT, nd)
  matrix(X %*% coef(fit), ncol = T, byrow = TRUE)
}

# conditional means of the subjects in rows under "MAR" or "JR"; the fit of the imputation model on rows
impute_rows <- function(rows) {
  sub <- d[d$PATIENT %in% patients[rows], ]
  fit <- gls(f, data = sub, correlation = corSymm(form = ~ vi | PATIENT), weights = varIdent(form = ~ 1 | VISIT),
             method = "REML", control = tight)
  complete <- names(which(table(sub$PATIENT) == T))[1]
  S <- unclass(getVarCov(fit, individual = complete))
  own <- means(fit, arm)
  ref <- means(fit, rep("PLACEBO", n))
  out <- list()
  for (strategy in c("MAR", "JR")) {
    Yc <- Y
    for (i in rows) {
      m <- which(!obs[i, ]); o <- which(obs[i, ])
      if (!length(m)) next
      mu <- own[i, ]
      if (strategy == "JR" && terminal[i]) mu[ice[i]:T] <- ref[i, ice[i]:T]
      cm <- mu[m]
      if (length(o)) cm <- cm + S[m, o, drop = FALSE] %*% solve(S[o, o], Y[i, o] - mu[o])
      Yc[i, m] <- cm
    }
    out[[strategy]] <- Yc
  }
  out
}

ancova <- function(Yc, rows) {
  est <- c()
  for (j in seq_len(T)) {
    a <- data.frame(y = Yc[rows, j], THERAPY = arm[rows], BASVAL = basval[rows])
    l <- lm(y ~ THERAPY + BASVAL, data = a)
    mb <- mean(a$BASVAL)
    est <- c(est, coef(l)[["THERAPYPLACEBO"]], sum(coef(l) * c(1, 0, mb)), sum(coef(l) * c(1, 1, mb)))
  }
  est
}

mmrm_analysis <- function(Yc, rows) {
  long <- data.frame(PATIENT = rep(patients[rows], each = T), VISIT = factor(rep(visits, length(rows)), levels = visits),
                     THERAPY = rep(arm[rows], each = T), BASVAL = rep(basval[rows], each = T),
                     y = as.vector(t(Yc[rows, ])))
  long$vi <- as.integer(long$VISIT)
  fit <- gls(y ~ BASVAL + THERAPY * VISIT, data = long, correlation = corSymm(form = ~ vi | PATIENT),
             weights = varIdent(form = ~ 1 | VISIT), method = "REML", control = tight)
  b <- coef(fit)
  # PLACEBO - DRUG at each visit
  sapply(seq_len(T), function(j) b[["THERAPYPLACEBO"]] + if (j > 1) b[[paste0("THERAPYPLACEBO:VISIT", visits[j])]] else 0)
}

jack_se <- function(J) sqrt((n - 1) / n * colSums(sweep(J, 2, colMeans(J))^2))
all_rows <- seq_len(n)
full <- impute_rows(all_rows)
delta <- full$JR - full$MAR  # non-zero only where imputed
anch_full <- ancova(full$MAR + delta, all_rows)
mm_full <- mmrm_analysis(full$JR, all_rows)
anch_jack <- matrix(NA, n, length(anch_full)); mm_jack <- matrix(NA, n, T)
for (k in all_rows) {
  rows <- setdiff(all_rows, k)
  imp <- impute_rows(rows)
  anch_jack[k, ] <- ancova(imp$MAR + delta, rows)
  mm_jack[k, ] <- mmrm_analysis(imp$JR, rows)
  if (k %% 20 == 0) message(k, " of ", n)
}
out <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
            JR_anchored = list(columns = "per visit 4,5,6,7: PLACEBO - DRUG, LS mean DRUG, LS mean PLACEBO",
                               estimate = anch_full, std_error = jack_se(anch_jack)),
            JR_mmrm = list(columns = "per visit 4,5,6,7: PLACEBO - DRUG",
                           estimate = mm_full, std_error = jack_se(mm_jack)))
write_json(out, "tests/reference/condmean_extra_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/condmean_extra_reference.json")
