# Reference values for painstudy's GEE analysis of responders over all visits (painstudy.models.gee).
#
# Data: tests/reference/data/gee_responders.csv, the bundled demo study's responder table as painstudy derives
# it (outcome pain, threshold "moderate" = 30 % improvement from baseline, population "assessed": one row per
# subject and post-baseline visit where pain was assessed; 370 subjects, 1670 rows), written by
#     painstudy.responders(painstudy.load_cohort("demo"), "pain", threshold="moderate", population="assessed")
# (columns subject, arm, visit, week, baseline, responder, completer, condition, age, sex) at commit f8a39f9.
#
# Fits, all geepack::geeglm(responder ~ arm * visit [+ baseline + condition], family = binomial, id = subject,
# waves = visit number), robust ("san.se") standard errors, data sorted by subject and visit:
#   - exchangeable, independence: every assessed subject (unbalanced clusters);
#   - unstructured (and exchangeable for comparison): the subjects assessed at all five visits (276 balanced
#     clusters; geepack's unstructured estimator crashes on unbalanced clusters);
#   - each with and without the covariates baseline + condition.
# Per fit: coefficients (R term names), robust SEs and Wald p, the scale (phi) and the working correlation
# (geepack's alpha: exchangeable one number, unstructured one per visit pair; also as the visits x visits
# matrix `working_correlation`).
# geepack's estimators, for the record (Pearson residuals r_ij = (y_ij - mu_ij) / sqrt(mu_ij (1 - mu_ij))):
#   phi = sum r_ij^2 / N; exchangeable alpha = sum_i sum_{j<k} r_ij r_ik / (phi * sum_i n_i (n_i - 1) / 2);
#   unstructured alpha_jk = sum_i r_ij r_ik / (phi * n_jk) with n_jk the clusters observed at both visits.
# The script also computes these from geepack's fitted means and stops unless they reproduce geepack's
# (`formula_check`; the diagonal of the unstructured matrix is 1 by definition).
# A GEE written here from these formulas (`by_hand`: Fisher scoring, the correlation re-estimated at each step,
# the sandwich A^-1 B A^-1) gives the unstructured fits on the unbalanced data, where geepack crashes; on the
# fits geepack can do it agrees with geepack to < 1e-9 (checked when the script runs).
# Marginal comparisons per visit, written here from the formulas: for each arm a, every subject of the fit
# (its baseline covariates) predicted at (a, visit), mu_a = mean(plogis(x_i' beta)); the delta method with the
# robust covariance V: gradient g_a = mean(mu_ia (1 - mu_ia) x_i); risk difference mu_a - mu_ref with SE
# sqrt((g_a - g_ref)' V (g_a - g_ref)); the model's log odds ratio (x_a - x_ref)' beta (conditional on the
# covariates) and the marginal log odds ratio logit(mu_a) - logit(mu_ref) with gradient
# g_a / (mu_a (1 - mu_a)) - g_ref / (mu_ref (1 - mu_ref)).
#
# Run from the repository root:
#     Rscript tests/reference/gee_reference.R   # writes tests/reference/gee_reference.json
suppressPackageStartupMessages({library(geepack); library(jsonlite)})
Sys.setenv(TZ = "UTC")

arms <- c("usual_care", "physiotherapy", "mindfulness", "integrative")
visits <- c("week4", "week8", "week12", "week26", "week52")
d <- read.csv("tests/reference/data/gee_responders.csv", stringsAsFactors = FALSE)
d$arm <- factor(d$arm, arms)
d$visit <- factor(d$visit, visits)
d$condition <- factor(d$condition)
d$wave <- as.integer(d$visit)
d <- d[order(d$subject, d$wave), ]
rownames(d) <- NULL
d$id <- as.integer(factor(d$subject))   # clusters as contiguous integers
n_visits <- table(d$subject)
balanced <- d[d$subject %in% names(n_visits)[n_visits == length(visits)], ]

control <- geese.control(epsilon = 1e-12, maxit = 200)

pearson <- function(y, mu) (y - mu) / sqrt(mu * (1 - mu))

geepack_correlation <- function(r, data, corstr) {
  # phi and the working correlation (visits x visits) from Pearson residuals r, by geepack's formulas above
  phi <- sum(r^2) / length(r)
  ids <- split(seq_along(r), data$id)
  q <- length(visits)
  R <- diag(q)
  if (corstr == "exchangeable") {
    num <- sum(sapply(ids, function(ix) (sum(r[ix])^2 - sum(r[ix]^2)) / 2))
    pairs <- sum(sapply(ids, function(ix) length(ix) * (length(ix) - 1) / 2))
    R[row(R) != col(R)] <- num / (phi * pairs)
  } else if (corstr == "unstructured") {
    num <- matrix(0, q, q); cnt <- matrix(0, q, q)
    for (ix in ids) {
      w <- data$wave[ix]
      num[w, w] <- num[w, w] + outer(r[ix], r[ix])
      cnt[w, w] <- cnt[w, w] + 1
    }
    R <- num / (phi * cnt)
    diag(R) <- 1   # the diagonal is 1 by definition
  }
  list(R = R, phi = phi)
}

formula_check <- function(fit, data, corstr) {
  # geepack's phi and alpha recomputed from its fitted means with the formulas above
  cr <- geepack_correlation(pearson(data$responder, fitted(fit)), data, corstr)
  list(scale = cr$phi, working_correlation = cr$R)
}

working_correlation <- function(fit, corstr) {
  # geepack's alpha as the visits x visits matrix (names "alpha.j:k", j < k)
  q <- length(visits)
  m <- diag(q)
  a <- fit$geese$alpha
  if (corstr == "exchangeable") m[row(m) != col(m)] <- a
  if (corstr == "unstructured") {
    for (nm in names(a)) {
      jk <- as.integer(strsplit(sub("alpha.", "", nm, fixed = TRUE), ":", fixed = TRUE)[[1]])
      m[jk[1], jk[2]] <- m[jk[2], jk[1]] <- a[[nm]]
    }
  }
  m
}

marginal <- function(beta, V, data, rhs) {
  # standardised responder probabilities per arm and visit over the fit's subjects, delta-method SEs
  subj <- data[!duplicated(data$subject), ]
  design <- function(a, v) {
    nd <- subj
    nd$arm <- factor(a, arms)
    nd$visit <- factor(v, visits)
    model.matrix(rhs, nd)
  }
  means <- list(); comps <- list()
  for (v in visits) {
    g <- list(); mu <- c(); xbar <- list()
    for (a in arms) {
      X <- design(a, v)
      p <- as.vector(plogis(X %*% beta))
      mu[a] <- mean(p)
      g[[a]] <- colMeans(p * (1 - p) * X)
      xbar[[a]] <- X[1, ]
      means[[length(means) + 1]] <- list(visit = v, arm = a, mean = mu[[a]],
                                         std_error = sqrt(drop(t(g[[a]]) %*% V %*% g[[a]])))
    }
    ref <- arms[1]
    for (a in arms[-1]) {
      grd <- g[[a]] - g[[ref]]
      c_or <- xbar[[a]] - xbar[[ref]]
      gm <- g[[a]] / (mu[[a]] * (1 - mu[[a]])) - g[[ref]] / (mu[[ref]] * (1 - mu[[ref]]))
      comps[[length(comps) + 1]] <- list(
        visit = v, arm = a, reference = ref,
        rd = mu[[a]] - mu[[ref]], rd_se = sqrt(drop(t(grd) %*% V %*% grd)),
        log_or = sum(c_or * beta), log_or_se = sqrt(drop(t(c_or) %*% V %*% c_or)),
        marginal_log_or = qlogis(mu[[a]]) - qlogis(mu[[ref]]),
        marginal_log_or_se = sqrt(drop(t(gm) %*% V %*% gm)))
    }
  }
  list(means = means, comparisons = comps)
}

run <- function(name, data, corstr, covariates) {
  rhs <- if (length(covariates)) as.formula(paste("~ arm * visit +", paste(covariates, collapse = " + "))) else
    ~ arm * visit
  f <- update(rhs, responder ~ .)
  fit <- geeglm(f, family = binomial("logit"), data = data, id = id, waves = wave, corstr = corstr,
                std.err = "san.se", control = control)
  s <- summary(fit)
  V <- vcov(fit)
  out <- list(
    name = name, corstr = corstr, covariates = covariates,
    population = if (nrow(data) == nrow(d)) "assessed" else "assessed at every visit (balanced)",
    n_obs = nrow(data), n_clusters = length(unique(data$id)),
    r_call = paste0("geeglm(", deparse(f), ", family = binomial, id = subject, waves = visit, corstr = \"",
                    corstr, "\", std.err = \"san.se\")"),
    converged = fit$geese$error == 0,
    coefficients = data.frame(term = names(coef(fit)), estimate = unname(coef(fit)),
                              std_error = unname(sqrt(diag(V))), wald = unname(s$coefficients[, "Wald"]),
                              p_value = unname(s$coefficients[, "Pr(>|W|)"])),
    scale = unname(fit$geese$gamma),
    alpha = unname(fit$geese$alpha),
    alpha_names = names(fit$geese$alpha),
    working_correlation = working_correlation(fit, corstr),
    formula_check = formula_check(fit, data, corstr))
  # the formulas reproduce geepack's scale and correlation
  stopifnot(abs(out$formula_check$scale - out$scale) < 1e-10,
            max(abs(out$formula_check$working_correlation - out$working_correlation)) < 1e-10)
  c(out, marginal(coef(fit), V, data, rhs))
}

gee_by_hand <- function(f, data, corstr) {
  # GEE written from the formulas above (independent of geepack, which crashes on unstructured with
  # unbalanced clusters): Fisher scoring of beta with the working correlation re-estimated from the Pearson
  # residuals at each step until the step is below 1e-13; the robust covariance A^-1 B A^-1,
  # A = sum D' W^-1 D, B = sum D' W^-1 e e' W^-1 D, W = S R S (S = diag(sqrt(mu (1 - mu))); phi cancels)
  X <- model.matrix(f, data)
  y <- data$responder
  beta <- coef(glm(f, family = binomial, data = data))
  ids <- split(seq_len(nrow(data)), data$id)
  q <- length(visits)
  corr <- function(mu) geepack_correlation(pearson(y, mu), data, corstr)
  pieces <- function(beta, R) {
    mu <- as.vector(plogis(X %*% beta))
    A <- matrix(0, ncol(X), ncol(X)); B <- A; U <- rep(0, ncol(X))
    for (ix in ids) {
      w <- data$wave[ix]
      s <- sqrt(mu[ix] * (1 - mu[ix]))
      D <- X[ix, , drop = FALSE] * (mu[ix] * (1 - mu[ix]))
      Wi <- solve(outer(s, s) * R[w, w, drop = FALSE])
      u <- t(D) %*% Wi %*% (y[ix] - mu[ix])
      A <- A + t(D) %*% Wi %*% D
      B <- B + u %*% t(u)
      U <- U + u
    }
    list(A = A, B = B, U = U, mu = mu)
  }
  for (it in 1:500) {
    cr <- corr(as.vector(plogis(X %*% beta)))
    p <- pieces(beta, cr$R)
    step <- solve(p$A, p$U)
    beta <- beta + as.vector(step)
    if (max(abs(step)) < 1e-13) break
  }
  cr <- corr(as.vector(plogis(X %*% beta)))
  p <- pieces(beta, cr$R)
  Ainv <- solve(p$A)
  V <- Ainv %*% p$B %*% Ainv
  list(name = NULL, corstr = corstr, iterations = it,
       coefficients = data.frame(term = colnames(X), estimate = unname(beta), std_error = sqrt(diag(V))),
       vcov = unname(V), scale = cr$phi, working_correlation = cr$R)
}

by_hand <- function(name, data, corstr, covariates) {
  rhs <- if (length(covariates)) as.formula(paste("~ arm * visit +", paste(covariates, collapse = " + "))) else
    ~ arm * visit
  out <- gee_by_hand(update(rhs, responder ~ .), data, corstr)
  out <- c(out, marginal(out$coefficients$estimate, out$vcov, data, rhs))
  out$vcov <- NULL
  out$name <- name
  out$covariates <- covariates
  out$population <- if (nrow(data) == nrow(d)) "assessed" else "assessed at every visit (balanced)"
  out
}

fits <- list(
  run("exchangeable_assessed", d, "exchangeable", character()),
  run("exchangeable_assessed_covariates", d, "exchangeable", c("baseline", "condition")),
  run("independence_assessed", d, "independence", character()),
  run("unstructured_balanced", balanced, "unstructured", character()),
  run("unstructured_balanced_covariates", balanced, "unstructured", c("baseline", "condition")),
  run("exchangeable_balanced", balanced, "exchangeable", character()))

# the GEE written here, where geepack cannot go (unstructured, unbalanced) and, as its check, where it can
hand <- list(
  by_hand("unstructured_assessed", d, "unstructured", character()),
  by_hand("unstructured_assessed_covariates", d, "unstructured", c("baseline", "condition")),
  by_hand("unstructured_balanced", balanced, "unstructured", character()),
  by_hand("exchangeable_assessed", d, "exchangeable", character()))
for (h in hand) {
  g <- Filter(function(x) x$name == h$name, fits)
  if (length(g)) {
    h_vs_geepack <- max(abs(h$coefficients$estimate - g[[1]]$coefficients$estimate),
                        abs(h$coefficients$std_error - g[[1]]$coefficients$std_error),
                        abs(h$working_correlation - g[[1]]$working_correlation))
    message(sprintf("%s: GEE by hand vs geepack, max abs difference %.2g", h$name, h_vs_geepack))
    stopifnot(h_vs_geepack < 1e-9)
  }
}

out <- list(R = R.version.string,
            packages = list(geepack = as.character(packageVersion("geepack")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            generated_by = "tests/reference/gee_reference.R",
            data = "tests/reference/data/gee_responders.csv",
            arms = arms, visits = visits, fits = fits, by_hand = hand)
write_json(out, "tests/reference/gee_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
message("wrote tests/reference/gee_reference.json")
