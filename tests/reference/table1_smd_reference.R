# Reference values for painstudy's Table 1 standardised mean differences and p-values
# (painstudy.tables.smd_table and table1(smd=True, pvalues=True)), written here in base R from their
# definitions (Austin 2009; Yang & Dalton 2012, the definitions of R tableone's ExtractSmd), independent of
# painstudy's code, on the bundled demo study (painstudy/datasets/studies/demo/data.csv; one subject per
# baseline row):
#   numeric: |m1 - m2| / sqrt((s1^2 + s2^2) / 2) (SDs with n - 1);
#   categorical (k levels, a 0/1 variable as 2): sqrt(d' S^-1 d), d the difference in the proportions of
#     levels 2..k, S the mean of the two groups' multinomial covariance matrices (p_i (1 - p_i) on the
#     diagonal, -p_i p_j off it);
#   for every pair of arms, missing values left out; p-values over all arms: one-way ANOVA F test
#   (oneway.test, var.equal = TRUE) and Pearson's chi-squared test without continuity correction.
# Run from the repository root:
#   Rscript tests/reference/table1_smd_reference.R   # writes tests/reference/table1_smd_reference.json
suppressPackageStartupMessages(library(jsonlite))
d <- read.csv("painstudy/datasets/studies/demo/data.csv", stringsAsFactors = FALSE, check.names = FALSE)
s <- d[d$visit == "baseline", ]
arms <- c("usual_care", "physiotherapy", "mindfulness", "integrative")
vars <- list(condition = "categorical", age = "numeric", sex = "categorical", pain = "numeric",
             `function` = "numeric", mme = "numeric")
smd_num <- function(x, y) { x <- x[!is.na(x)]; y <- y[!is.na(y)]; abs(mean(x) - mean(y)) / sqrt((var(x) + var(y)) / 2) }
smd_cat <- function(x, y, levels) {
  x <- x[!is.na(x)]; y <- y[!is.na(y)]
  p <- sapply(levels, function(l) mean(x == l))[-1]; q <- sapply(levels, function(l) mean(y == l))[-1]
  cv <- function(p) { S <- -outer(p, p); diag(S) <- p * (1 - p); S }
  S <- (cv(p) + cv(q)) / 2
  dd <- p - q
  sqrt(as.numeric(t(dd) %*% solve(S) %*% dd))
}
out <- list(R = R.version.string, pairs = list(), p_values = list())
for (v in names(vars)) {
  col <- s[[v]]
  levels <- sort(unique(col[!is.na(col)]))
  for (i in 1:3) for (j in (i + 1):4) {
    a <- col[s$arm == arms[i]]; b <- col[s$arm == arms[j]]
    val <- if (vars[[v]] == "numeric") smd_num(a, b) else smd_cat(a, b, levels)
    out$pairs[[length(out$pairs) + 1]] <- list(variable = v, group_1 = arms[i], group_2 = arms[j], smd = val)
  }
  g <- factor(s$arm, levels = arms)
  p <- if (vars[[v]] == "numeric") oneway.test(col ~ g, var.equal = TRUE)$p.value else
    suppressWarnings(chisq.test(table(g, col), correct = FALSE)$p.value)
  out$p_values[[v]] <- p
}
write_json(out, "tests/reference/table1_smd_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/table1_smd_reference.json")
