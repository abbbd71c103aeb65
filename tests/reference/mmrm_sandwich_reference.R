# Reference for painstudy's empirical (sandwich) covariance: clubSandwich on an nlme::gls us fit.
# Run from the repository root:  Rscript tests/reference/mmrm_sandwich_reference.R
# Writes tests/reference/mmrm_sandwich_fev.json (read by tests/test_mmrm_reference.py).
suppressPackageStartupMessages({library(nlme); library(clubSandwich); library(jsonlite)})
shared <- Sys.getenv("PAINSTUDY_SHARED", file.path("..", "shared", "datasets"))
d <- read.csv(file.path(shared, "mmrm_fev_bcva", "fev_data.csv"))
d <- d[!is.na(d$FEV1), ]
d$ARMCD <- factor(d$ARMCD, c("PBO", "TRT")); d$AVISIT <- factor(d$AVISIT, paste0("VIS", 1:4))
d$RACE <- factor(d$RACE); d$SEX <- factor(d$SEX, c("Male", "Female"))
d$AVISITN <- as.integer(d$AVISIT)
d <- d[order(d$USUBJID, d$AVISITN), ]
call <- quote(gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = d, correlation = corSymm(form = ~ AVISITN | USUBJID),
                  weights = varIdent(form = ~ 1 | AVISIT), method = "REML",
                  control = glsControl(tolerance = 1e-10, msTol = 1e-12)))
fit <- eval(call)
out <- list(schema_version = 1, generated_by = "tests/reference/mmrm_sandwich_reference.R",
            generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"), r_version = R.version.string,
            packages = list(nlme = as.character(packageVersion("nlme")),
                            clubSandwich = as.character(packageVersion("clubSandwich"))),
            data = "shared:mmrm_fev_bcva/fev_data.csv",
            formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)",
            factor_levels = list(ARMCD = c("PBO", "TRT"), AVISIT = paste0("VIS", 1:4),
                                 RACE = levels(d$RACE), SEX = c("Male", "Female")),
            r_call = paste(deparse(call), collapse = " "), neg2_log_lik = -2 * as.numeric(logLik(fit)), fits = list())
for (ty in c("CR0", "CR2")) {
  ct <- coef_test(fit, vcov = ty, test = "Satterthwaite", cluster = d$USUBJID)
  out$fits[[length(out$fits) + 1]] <- list(
    vcov = ty, painstudy_vcov = if (ty == "CR0") "empirical" else "empirical-bc",
    r_call = sprintf('clubSandwich::coef_test(fit, vcov = "%s", test = "Satterthwaite", cluster = d$USUBJID)', ty),
    coefficients = lapply(seq_along(ct$Coef), function(i) list(term = ct$Coef[i], estimate = ct$beta[i],
                                                                 std_error = ct$SE[i], df = ct$df_Satt[i])))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE), file.path("tests", "reference", "mmrm_sandwich_fev.json"))
