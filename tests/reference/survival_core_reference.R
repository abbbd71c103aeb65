# Reference values for the parts of painstudy's survival core that survival_reference.R does not
# cover: Breslow ties (coxph + cox.zph), cox.zph with the "rank", "identity" and "log" time
# transforms, the concordance of a Cox model, and the stratified log-rank test.
#
# Run from the repository root (after survival_reference.R, which writes the simulated data):
#     Rscript tests/reference/survival_core_reference.R
#
# Reads tests/reference/data/surv_<name>.csv (the same four data sets as survival_reference.R)
# and writes tests/reference/survival_core_ref_<name>.json.
# The stratifying columns: "site" where the data have one, and "band" (baseline at or above its
# median: "high", else "low"; the median is written to the JSON so the test builds the same column).
suppressPackageStartupMessages({library(survival); library(jsonlite)})
dir <- "tests/reference/data"

cases <- list(sim1 = "control", sim2 = "sham", chow2006 = NA, demo = NA)

coef_frame <- function(fit) {
  ci <- summary(fit)$conf.int
  data.frame(term = names(coef(fit)), estimate = unname(coef(fit)),
             std_error = unname(sqrt(diag(vcov(fit)))), hazard_ratio = unname(ci[, 1]),
             hr_ci_lower = unname(ci[, 3]), hr_ci_upper = unname(ci[, 4]))
}

zph_frame <- function(fit, transform) {
  z <- cox.zph(fit, transform = transform, terms = FALSE)
  data.frame(term = rownames(z$table), statistic = unname(z$table[, "chisq"]),
             df = unname(z$table[, "df"]), p_value = unname(z$table[, "p"]))
}

logrank <- function(d, strata_cols) {
  f <- as.formula(paste("Surv(time, event) ~ arm + strata(", paste(strata_cols, collapse = ", "), ")"))
  s <- survdiff(f, data = d)
  e <- if (is.matrix(s$exp)) rowSums(s$exp) else s$exp
  list(statistic = s$chisq, df = sum(e > 0) - 1)
}

for (nm in names(cases)) {
  f <- file.path(dir, paste0("surv_", nm, ".csv"))
  if (!file.exists(f)) { message("skipping ", nm, ": no ", f); next }
  d <- read.csv(f, stringsAsFactors = FALSE)
  reference <- cases[[nm]]
  if (is.na(reference)) reference <- d$reference[1]  # written by painstudy's export
  d$arm <- relevel(factor(d$arm), ref = reference)
  covs <- intersect(c("baseline", "age", "site"), names(d))
  cut <- median(d$baseline)
  d$band <- ifelse(d$baseline >= cut, "high", "low")
  out <- list(name = nm, reference = reference, arms = levels(d$arm), covariates = covs,
              band_cut = cut, R = R.version.string,
              survival = as.character(packageVersion("survival")))

  # Breslow ties: arm only, adjusted (+ log-likelihood) and its PH test
  form <- as.formula(paste("Surv(time, event) ~ arm +", paste(covs, collapse = " + ")))
  out$breslow_unadjusted <- coef_frame(coxph(Surv(time, event) ~ arm, data = d, ties = "breslow"))
  cb <- coxph(form, data = d, ties = "breslow")
  out$breslow_adjusted <- coef_frame(cb)
  out$breslow_loglik <- cb$loglik[2]
  out$breslow_zph <- zph_frame(cb, "km")

  # Efron fit: the other cox.zph transforms and the concordance
  ce <- coxph(form, data = d, ties = "efron")
  out$zph <- list(rank = zph_frame(ce, "rank"), identity = zph_frame(ce, "identity"),
                  log = zph_frame(ce, "log"))
  cc <- ce$concordance
  out$concordance <- list(concordant = unname(cc["concordant"]), discordant = unname(cc["discordant"]),
                          tied_x = unname(cc["tied.x"]), tied_y = unname(cc["tied.y"]),
                          tied_xy = unname(cc["tied.xy"]), concordance = unname(cc["concordance"]))

  # stratified log-rank: overall and on each pair of arms
  sets <- list(if ("site" %in% names(d)) "site" else "band")
  if ("site" %in% names(d)) sets[[2]] <- c("site", "band")
  prs <- combn(levels(d$arm), 2)
  out$logrank_strata <- lapply(sets, function(s) {
    pairs <- do.call(rbind, lapply(seq_len(ncol(prs)), function(k) {
      r <- logrank(droplevels(d[d$arm %in% prs[, k], ]), s)
      data.frame(a = prs[1, k], b = prs[2, k], statistic = r$statistic, df = r$df)
    }))
    c(list(strata = I(s)), logrank(d, s), list(pairs = pairs))
  })

  write_json(out, sprintf("tests/reference/survival_core_ref_%s.json", nm), digits = NA,
             auto_unbox = TRUE, pretty = TRUE, na = "null")
  message("wrote ", nm)
}
