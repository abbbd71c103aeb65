# Reference values for painstudy.subgroups (heterogeneity of treatment effect, issue 14) from R emmeans on the
# same MMRM fitted by nlme::gls (Debian's r-cran-nlme, r-cran-emmeans, r-cran-jsonlite):
#   the bundled demo study (painstudy/datasets/studies/demo/data.csv), post-baseline visits with pain observed,
#   baseline = the subject's pain at the baseline visit (as painstudy derives pain_baseline), subjects without
#   one left out; unstructured covariance (corSymm + varIdent), REML;
#   pain ~ pain_baseline + arm * visit * G for G = condition, sex (factors) and age (numeric: linear interaction).
# For each G:
#   subgroup-specific contrasts: contrast(emmeans(fit, ~ arm | visit * G), "trt.vs.ctrl") (age: at 40 and 60);
#   contrasts of contrasts: contrast(emmeans(fit, ~ arm * G | visit), interaction = c("trt.vs.ctrl", "pairwise"))
#   (age: contrast(emtrends(fit, ~ arm | visit, var = "age"), "trt.vs.ctrl"), the change of the effect per year);
#   joint_tests(fit, by = "visit") (arm:G within each visit) and joint_tests(fit) (arm:G, arm:visit:G).
# Degrees of freedom: emmeans' mode = "satterthwaite" for gls uses nlme's numerical apVar and is a few df off
# (see tests/reference/README.md); its values are recorded as `emmeans_df`. The `df` written here is the
# Satterthwaite df computed in this script independently of painstudy and of nlme's apVar: the covariance
# parametrised by the 15 entries of the visit x visit matrix (linear), the observed REML Hessian
# H_kl = -tr(P V_k P V_l) + 2 y'P V_k P V_l P y (P = V^-1 - V^-1 X C X'V^-1, C = (X'V^-1X)^-1), Var(theta) = 2 H^-1,
# the gradient of l'Cl is g_k = u'V_k u with u = V^-1 X C l, df = 2 (l'Cl)^2 / g'Var(theta)g (SAS, lmerTest and
# painstudy's definition; invariant to the parametrisation at the optimum). F tests: the Wald F of the rows of
# the hypothesis (emmeans' linfct) and the SAS / lmerTest multi-df Satterthwaite ddf (eigen-decomposition of
# LCL'), whose value depends on the rows chosen to span the hypothesis, not only on their span: the rows here are
# SAS's type III ones (each factor's levels against its first level; emmeans' interaction "trt.vs.ctrl"), as
# painstudy's anova() and lmerTest use; emmeans' joint_tests takes "consec" rows and its own ddf (recorded as
# emmeans_F, emmeans_df1, emmeans_df2; F does not depend on the rows). Before that the gls optimum is polished by Newton steps on the same analytic gradient and Hessian, and
# the estimates and standard errors at the polished optimum are written beside emmeans' (`estimate_gls`,
# `std_error_gls`: emmeans on the gls fit as it stopped).
# Run from the repository root (a minute):
#   Rscript tests/reference/subgroups_reference.R   # writes tests/reference/subgroups_reference.json
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
emm_options(msg.interaction = FALSE, msg.nesting = FALSE)

raw <- read.csv("painstudy/datasets/studies/demo/data.csv", stringsAsFactors = FALSE)
base <- raw[raw$visit == "baseline", c("subject_id", "pain")]
names(base) <- c("subject_id", "pain_baseline")
d <- merge(raw[raw$visit != "baseline" & !is.na(raw$pain), ], base, by = "subject_id")
d <- d[!is.na(d$pain_baseline), ]
VISITS <- c("week4", "week8", "week12", "week26", "week52")
d$arm <- factor(d$arm, levels = c("usual_care", "physiotherapy", "mindfulness", "integrative"))
d$visit <- factor(d$visit, levels = VISITS)
d$condition <- factor(d$condition)
d$sex <- factor(d$sex, levels = c("female", "male"))
d$vi <- as.integer(d$visit)
d <- d[order(d$subject_id, d$vi), ]
rownames(d) <- NULL

# ---- the REML fit on the entries of the covariance matrix (linear parametrisation) ----------------------------
T <- length(VISITS)
pairs <- which(upper.tri(diag(T), diag = TRUE), arr.ind = TRUE)  # (a, b), a <= b
rows_of <- split(seq_len(nrow(d)), d$subject_id)
pair_index <- lapply(seq_len(nrow(pairs)), function(k) {
  a <- pairs[k, 1]; b <- pairs[k, 2]
  R <- integer(0); S <- integer(0)
  for (r in rows_of) {
    v <- d$vi[r]
    if (a %in% v && b %in% v) { R <- c(R, r[v == a]); S <- c(S, r[v == b]) }
  }
  list(R = R, S = S, c = if (a == b) 0.5 else 1)
})

fit_state <- function(Sigma, X, y) {
  n <- nrow(X)
  Vinv <- matrix(0, n, n)
  for (r in rows_of) Vinv[r, r] <- solve(Sigma[d$vi[r], d$vi[r], drop = FALSE])
  VX <- Vinv %*% X
  C <- solve(crossprod(X, VX))
  P <- Vinv - VX %*% C %*% t(VX)
  list(Vinv = Vinv, VX = VX, C = C, P = P, beta = drop(C %*% crossprod(VX, y)), Py = drop(P %*% y))
}
Vk_times <- function(k, x) {  # V_k x
  p <- pair_index[[k]]
  out <- numeric(length(x))
  out[p$R] <- out[p$R] + p$c * x[p$S]
  out[p$S] <- out[p$S] + p$c * x[p$R]
  out
}
grad_hess <- function(st) {
  K <- length(pair_index)
  g <- numeric(K); H <- matrix(0, K, K)
  Vr <- sapply(seq_len(K), function(k) Vk_times(k, st$Py))
  PVr <- st$P %*% Vr
  for (k in seq_len(K)) {
    pk <- pair_index[[k]]
    g[k] <- 2 * pk$c * sum(st$P[cbind(pk$R, pk$S)]) - sum(st$Py * Vr[, k])
    for (l in seq_len(k)) {
      pl <- pair_index[[l]]
      tr <- 2 * pk$c * pl$c * (sum(st$P[pk$R, pl$S] * st$P[pk$S, pl$R]) + sum(st$P[pk$R, pl$R] * st$P[pk$S, pl$S]))
      H[k, l] <- H[l, k] <- -tr + 2 * sum(Vr[, k] * PVr[, l])
    }
  }
  list(g = g, H = H)
}
to_sigma <- function(theta) { S <- matrix(0, T, T); S[pairs] <- theta; S[pairs[, 2:1]] <- theta; S }

satterthwaite <- function(st, W, l) {
  u <- drop(st$VX %*% (st$C %*% l))
  g <- sapply(seq_along(pair_index), function(k) sum(u * Vk_times(k, u)))
  v <- drop(t(l) %*% st$C %*% l)
  2 * v^2 / drop(t(g) %*% W %*% g)
}
f_test <- function(st, W, L) {
  s <- svd(L); q <- sum(s$d > 1e-10 * max(s$d))
  if (q < nrow(L)) L <- diag(s$d[1:q], q) %*% t(s$v[, 1:q, drop = FALSE])  # independent rows
  Lb <- drop(L %*% st$beta)
  V <- L %*% st$C %*% t(L)
  Fstat <- drop(t(Lb) %*% solve(V, Lb)) / q
  e <- eigen(V, symmetric = TRUE)
  nus <- sapply(seq_len(q), function(m) satterthwaite(st, W, drop(t(e$vectors[, m]) %*% L)))
  if (q == 1) ddf <- nus else {
    E <- sum(nus[nus > 2] / (nus[nus > 2] - 2))
    ddf <- if (E > q) 2 * E / (E - q) else min(nus)
  }
  list(num_df = q, den_df = ddf, statistic = Fstat, p_value = pf(Fstat, q, ddf, lower.tail = FALSE))
}

rows_table <- function(s, keys) {
  s <- as.data.frame(s)
  lapply(seq_len(nrow(s)), function(i) {
    r <- lapply(keys, function(k) as.character(s[[k]][i])); names(r) <- keys
    c(r, list(estimate_gls = s$estimate[i], std_error_gls = s$SE[i], emmeans_df = s$df[i]))
  })
}
add_polished <- function(rows, L, st, W) {
  for (i in seq_along(rows)) {
    l <- L[i, ]
    rows[[i]]$estimate <- sum(l * st$beta)
    rows[[i]]$std_error <- sqrt(drop(t(l) %*% st$C %*% l))
    rows[[i]]$df <- satterthwaite(st, W, l)
  }
  rows
}

run <- function(G, numeric_at = NULL) {
  form <- as.formula(paste("pain ~ pain_baseline + arm * visit *", G))
  # do.call puts the formula itself into the call, which emmeans evaluates again for the Satterthwaite df
  fit <- do.call(gls, list(model = form, data = quote(d), correlation = corSymm(form = ~ vi | subject_id),
                           weights = varIdent(form = ~ 1 | visit), method = "REML",
                           control = glsControl(natural = FALSE, opt = "optim", tolerance = 1e-12, msTol = 1e-12,
                                                maxIter = 500, msMaxIter = 500)))
  full <- names(which(table(d$subject_id) == T))[1]
  Sigma <- as.matrix(getVarCov(fit, individual = full))
  X <- model.matrix(form, d)
  stopifnot(identical(colnames(X), names(coef(fit))))
  theta <- Sigma[pairs]
  steps <- 0
  repeat {  # Newton polish of the gls optimum
    st <- fit_state(to_sigma(theta), X, d$pain)
    gh <- grad_hess(st)
    step <- solve(gh$H, gh$g)
    if (max(abs(step)) < 1e-12 || steps >= 8) break
    theta <- theta - step; steps <- steps + 1
  }
  W <- 2 * solve(gh$H)
  neg2 <- -2 * as.numeric(logLik(fit))
  out <- list(formula = paste(deparse(form), "+ us(visit | subject)"), n_obs = nrow(d),
              n_subjects = length(unique(d$subject_id)), neg2_log_lik_gls = neg2, newton_steps = steps,
              max_abs_gradient = max(abs(gh$g)), max_abs_theta_change = max(abs(theta - Sigma[pairs])),
              covariance = lapply(seq_len(T), function(i) to_sigma(theta)[i, ]))
  # subgroup-specific contrasts
  if (is.null(numeric_at)) {
    emm <- emmeans(fit, as.formula(paste("~ arm | visit *", G)), mode = "satterthwaite", data = d)
    con <- contrast(emm, "trt.vs.ctrl")
    out$contrasts <- add_polished(rows_table(summary(con), c("contrast", "visit", G)), con@linfct, st, W)
    emm2 <- emmeans(fit, as.formula(paste("~ arm *", G, "| visit")), mode = "satterthwaite", data = d)
    ic <- contrast(emm2, interaction = c("trt.vs.ctrl", "pairwise"))
    keys <- c("arm_trt.vs.ctrl", paste0(G, "_pairwise"), "visit")
    out$interaction <- add_polished(rows_table(summary(ic), keys), ic@linfct, st, W)
    tests <- contrast(emm2, interaction = c("trt.vs.ctrl", "trt.vs.ctrl"))
    Lv <- tests@linfct; vis <- as.character(tests@grid$visit)
    emm_all <- emmeans(fit, as.formula(paste("~ arm *", G)), data = d, mode = "satterthwaite")
    L_ag <- contrast(emm_all, interaction = c("trt.vs.ctrl", "trt.vs.ctrl"))@linfct
    emm3 <- emmeans(fit, as.formula(paste("~ arm * visit *", G)), data = d, mode = "satterthwaite")
    L_avg <- contrast(emm3, interaction = c("trt.vs.ctrl", "trt.vs.ctrl", "trt.vs.ctrl"))@linfct
  } else {
    at <- list(numeric_at); names(at) <- G
    emm <- emmeans(fit, as.formula(paste("~ arm | visit *", G)), at = at, mode = "satterthwaite", data = d)
    con <- contrast(emm, "trt.vs.ctrl")
    out$contrasts <- add_polished(rows_table(summary(con), c("contrast", "visit", G)), con@linfct, st, W)
    tr <- emtrends(fit, ~ arm | visit, var = G, mode = "satterthwaite", data = d)
    ic <- contrast(tr, "trt.vs.ctrl")
    out$interaction <- add_polished(rows_table(summary(ic), c("contrast", "visit")), ic@linfct, st, W)
    Lv <- ic@linfct; vis <- as.character(ic@grid$visit)
    L_ag <- contrast(emtrends(fit, ~ arm, var = G, data = d), "trt.vs.ctrl")@linfct
    L_avg <- contrast(emtrends(fit, ~ arm * visit, var = G, data = d), interaction = c("trt.vs.ctrl", "trt.vs.ctrl"))@linfct
  }
  jt_v <- as.data.frame(joint_tests(fit, by = "visit", mode = "satterthwaite", data = d))
  jt <- as.data.frame(joint_tests(fit, mode = "satterthwaite", data = d))
  term <- paste0("arm:", G)
  out$joint_tests <- c(
    lapply(VISITS, function(v) {
      e <- jt_v[jt_v$`model term` == term & jt_v$visit == v, ]
      c(list(term = term, visit = v), f_test(st, W, Lv[vis == v, , drop = FALSE]),
        list(emmeans_F = e$F.ratio, emmeans_df1 = e$df1, emmeans_df2 = e$df2))
    }),
    lapply(list(list(paste0("arm:", G), L_ag), list(paste0("arm:visit:", G), L_avg)), function(x) {
      e <- jt[jt$`model term` == x[[1]], ]
      c(list(term = x[[1]], visit = "all"), f_test(st, W, x[[2]]),
        list(emmeans_F = e$F.ratio, emmeans_df1 = e$df1, emmeans_df2 = e$df2))
    })
  )
  out
}

out <- list(
  generated_by = "tests/reference/subgroups_reference.R",
  generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  r_version = R.version.string,
  packages = list(nlme = as.character(packageVersion("nlme")), emmeans = as.character(packageVersion("emmeans")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  data = "painstudy/datasets/studies/demo/data.csv",
  condition = run("condition"),
  sex = run("sex"),
  age = run("age", numeric_at = c(40, 60))
)
write_json(out, "tests/reference/subgroups_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
message("wrote tests/reference/subgroups_reference.json")
