# Reference values for the painstudy MMRM engine (issue 3).
#
# Run from the repository root:
#   Rscript tests/reference/mmrm_reference.R            # everything
#   Rscript tests/reference/mmrm_reference.R fev chow   # selected parts: fev, bcva, chow, sim, bodyweight,
#                                                        # visitorder
# Writes tests/reference/mmrm_ref_<part>.json (schema: tests/reference/README.md) and, for "sim",
# the simulated data sets tests/reference/data/sim_mmrm_*.csv; for "bodyweight", nlme's BodyWeight data
# as tests/reference/data/bodyweight.csv; "visitorder" writes tests/reference/mmrm_visit_order_fev.json.
#
# Engines: nlme::gls (corSymm/corCompSymm/corAR1/corARMA + varIdent), glmmTMB (us/cs/ar1/toep), and an
# independent dense-matrix REML/ML likelihood written here ("handwritten"), used for the ante-dependence
# structures (not in nlme/glmmTMB), for Satterthwaite degrees of freedom (numDeriv Hessian of the
# -2 log-likelihood and Jacobian of (X'V^-1X)^-1), and as a cross-check of gls.
# Kenward-Roger: pbkrtest:::vcovAdj_internal and pbkrtest:::Lb_ddf with the linear covariance derivatives.

suppressPackageStartupMessages({
  library(nlme)
  library(glmmTMB)
  library(emmeans)
  library(pbkrtest)
  library(numDeriv)
  library(jsonlite)
  library(Matrix)
})

args <- commandArgs(trailingOnly = TRUE)
parts <- if (length(args)) args else c("fev", "bcva", "chow", "sim", "bodyweight", "visitorder")
OUT_DIR <- "tests/reference"
SHARED <- "../shared/datasets"
stopifnot(dir.exists(OUT_DIR))
emm_options(msg.interaction = FALSE, msg.nesting = FALSE)

# ----------------------------------------------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------------------------------------------
mat_json <- function(m) lapply(seq_len(nrow(m)), function(i) as.list(unname(as.numeric(m[i, ]))))

versions <- function() {
  pk <- c("nlme", "glmmTMB", "TMB", "emmeans", "pbkrtest", "numDeriv", "Matrix", "jsonlite", "lme4", "lmerTest")
  v <- lapply(pk, function(p) tryCatch(packageDescription(p)$Version, error = function(e) NA))
  names(v) <- pk
  list(r_version = R.version.string, packages = v)
}

write_ref <- function(fits, file, extra = list()) {
  vv <- versions()
  obj <- c(list(schema_version = 1L,
                generated_by = "tests/reference/mmrm_reference.R",
                generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
                r_version = vv$r_version, packages = vv$packages),
           extra, list(fits = fits))
  path <- file.path(OUT_DIR, file)
  write_json(obj, path, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", path, "with", length(fits), "fits\n")
}

coef_rows <- function(terms, est, se, df) {
  lapply(seq_along(terms), function(i)
    list(term = terms[i], estimate = unname(est[i]), std_error = unname(se[i]),
         df = if (is.null(df)) NULL else unname(df[i])))
}

# ----------------------------------------------------------------------------------------------------------
# Handwritten REML / ML likelihood for y_i ~ N(X_i beta, Sigma[obs_i, obs_i]) with a structured Sigma.
# Uses per-missingness-pattern sums of cross-products, so one evaluation is O(#patterns).
# ----------------------------------------------------------------------------------------------------------
n_theta <- function(struct, T) {
  switch(struct, us = T * (T + 1) / 2, cs = 2, csh = T + 1, ar1 = 2, ar1h = T + 1,
         toep = T, toeph = 2 * T - 1, ad = T, adh = 2 * T - 1)
}

# partial autocorrelations -> autocorrelations (Durbin-Levinson); any pacf in (-1, 1) gives a PD Toeplitz matrix
pacf_to_acf <- function(pacf) {
  p <- length(pacf)
  if (p == 0) return(numeric(0))
  phi <- pacf[1]; r <- pacf[1]
  if (p > 1) for (k in 2:p) {
    a <- pacf[k]
    rk <- sum(phi * rev(r[1:(k - 1)])) + a * (1 - sum(phi * r[1:(k - 1)]))
    phi <- c(phi - a * rev(phi), a)
    r <- c(r, rk)
  }
  r
}

cs_rho <- function(x, T) -1 / (T - 1) + (T / (T - 1)) * plogis(x)

sigma_of_theta <- function(theta, struct, T) {
  sdv <- function(v) diag(sqrt(v), T)
  cor_cs <- function(rho) { R <- matrix(rho, T, T); diag(R) <- 1; R }
  cor_ar1 <- function(rho) rho^abs(outer(1:T, 1:T, "-"))
  cor_toep <- function(acf) { r <- c(1, acf); matrix(r[abs(outer(1:T, 1:T, "-")) + 1], T, T) }
  cor_ad <- function(rho) {
    R <- diag(T)
    for (a in 1:T) for (b in 1:T) if (a < b) R[a, b] <- R[b, a] <- prod(rho[a:(b - 1)])
    R
  }
  switch(struct,
    us = { L <- matrix(0, T, T); diag(L) <- exp(theta[1:T]); L[lower.tri(L)] <- theta[-(1:T)]; L %*% t(L) },
    cs = exp(theta[1]) * cor_cs(cs_rho(theta[2], T)),
    csh = sdv(exp(theta[1:T])) %*% cor_cs(cs_rho(theta[T + 1], T)) %*% sdv(exp(theta[1:T])),
    ar1 = exp(theta[1]) * cor_ar1(tanh(theta[2])),
    ar1h = sdv(exp(theta[1:T])) %*% cor_ar1(tanh(theta[T + 1])) %*% sdv(exp(theta[1:T])),
    toep = exp(theta[1]) * cor_toep(pacf_to_acf(tanh(theta[-1]))),
    toeph = sdv(exp(theta[1:T])) %*% cor_toep(pacf_to_acf(tanh(theta[-(1:T)]))) %*% sdv(exp(theta[1:T])),
    ad = exp(theta[1]) * cor_ad(tanh(theta[-1])),
    adh = sdv(exp(theta[1:T])) %*% cor_ad(tanh(theta[-(1:T)])) %*% sdv(exp(theta[1:T])))
}

natural_params <- function(theta, struct, T) {
  switch(struct,
    us = setNames(list(), character(0)),
    cs = list(sigma2 = exp(theta[1]), rho = cs_rho(theta[2], T)),
    csh = list(variances = exp(theta[1:T]), rho = cs_rho(theta[T + 1], T)),
    ar1 = list(sigma2 = exp(theta[1]), rho = tanh(theta[2])),
    ar1h = list(variances = exp(theta[1:T]), rho = tanh(theta[T + 1])),
    toep = list(sigma2 = exp(theta[1]), lag_correlations = pacf_to_acf(tanh(theta[-1]))),
    toeph = list(variances = exp(theta[1:T]), lag_correlations = pacf_to_acf(tanh(theta[-(1:T)]))),
    ad = list(sigma2 = exp(theta[1]), rho = tanh(theta[-1])),
    adh = list(variances = exp(theta[1:T]), rho = tanh(theta[-(1:T)])))
}

# Precompute per-pattern cross-product arrays.  visit_idx: integer visit position 1..T for each row.
hw_setup <- function(X, y, subject, visit_idx, T) {
  Z <- cbind(X, y)
  q <- ncol(Z)
  o <- order(subject, visit_idx)
  Z <- Z[o, , drop = FALSE]; subject <- subject[o]; visit_idx <- visit_idx[o]
  if (any(duplicated(paste(subject, visit_idx)))) stop("duplicate subject x visit")
  pat <- tapply(visit_idx, subject, function(v) paste(v, collapse = ","))
  pats <- unique(pat)
  lst <- lapply(pats, function(p) {
    v <- as.integer(strsplit(p, ",")[[1]])
    subj <- names(pat)[pat == p]
    k <- length(v)
    rows <- which(subject %in% subj)
    # S[a, b, , ] = sum_i z_{i,a} z_{i,b}'; stored as (k*k) x (q*q)
    S <- matrix(0, k * k, q * q)
    for (a in 1:k) for (b in 1:k) {
      Za <- Z[rows[visit_idx[rows] == v[a]], , drop = FALSE]
      Zb <- Z[rows[visit_idx[rows] == v[b]], , drop = FALSE]
      S[(b - 1) * k + a, ] <- as.numeric(crossprod(Za, Zb))
    }
    list(v = v, n = length(subj), S = S)
  })
  list(pats = lst, p = ncol(X), q = q, n = length(y), T = T, terms = colnames(X))
}

hw_core <- function(Sigma, setup) {
  q <- setup$q; p <- setup$p
  M <- matrix(0, q, q); logdet <- 0
  for (pt in setup$pats) {
    V <- Sigma[pt$v, pt$v, drop = FALSE]
    R <- chol(V)
    W <- chol2inv(R)
    logdet <- logdet + pt$n * 2 * sum(log(diag(R)))
    M <- M + matrix(crossprod(pt$S, as.numeric(W)), q, q)
  }
  XtVX <- M[1:p, 1:p, drop = FALSE]; XtVy <- M[1:p, q]; ytVy <- M[q, q]
  RX <- chol(XtVX)
  beta <- backsolve(RX, forwardsolve(t(RX), XtVy))
  list(logdet = logdet, XtVX = XtVX, ldXtVX = 2 * sum(log(diag(RX))),
       rss = ytVy - sum(XtVy * beta), beta = as.numeric(beta), RX = RX)
}

hw_neg2ll <- function(theta, struct, setup, reml) {
  S <- sigma_of_theta(theta, struct, setup$T)
  cc <- tryCatch(hw_core(S, setup), error = function(e) NULL)
  if (is.null(cc)) return(1e10)
  if (reml) (setup$n - setup$p) * log(2 * pi) + cc$logdet + cc$ldXtVX + cc$rss
  else setup$n * log(2 * pi) + cc$logdet + cc$rss
}

# Analytic gradient of -2 log-lik for "us" (log-Cholesky theta): with Gamma = d(-2l)/dSigma (entries treated as
# free), Gamma = sum_p embed(n_p W_p - W_p (sum_i r_i r_i' [+ X_i Phi X_i' for REML]) W_p), d/dL = 2 Gamma L.
hw_grad_us <- function(theta, setup, reml) {
  T <- setup$T; q <- setup$q; p <- setup$p
  L <- matrix(0, T, T); diag(L) <- exp(theta[1:T]); L[lower.tri(L)] <- theta[-(1:T)]
  Sigma <- L %*% t(L)
  cc <- tryCatch(hw_core(Sigma, setup), error = function(e) NULL)
  if (is.null(cc)) return(rep(NA_real_, length(theta)))
  cvec <- c(-cc$beta, 1)
  Mid <- outer(cvec, cvec)
  if (reml) Mid[1:p, 1:p] <- Mid[1:p, 1:p] + chol2inv(cc$RX)
  Gam <- matrix(0, T, T)
  for (pt in setup$pats) {
    k <- length(pt$v)
    W <- chol2inv(chol(Sigma[pt$v, pt$v, drop = FALSE]))
    Qp <- matrix(pt$S %*% as.numeric(Mid), k, k)
    Gam[pt$v, pt$v] <- Gam[pt$v, pt$v] + pt$n * W - W %*% Qp %*% W
  }
  dL <- 2 * Gam %*% L
  c(diag(dL) * diag(L), dL[lower.tri(dL)])
}

hw_vcov <- function(theta, struct, setup) {
  cc <- hw_core(sigma_of_theta(theta, struct, setup$T), setup)
  chol2inv(cc$RX)
}

hw_fit <- function(setup, struct, reml, n_starts = 20, seed = 1, init_sigma = NULL, newton_iter = 20) {
  T <- setup$T; k <- n_theta(struct, T)
  set.seed(seed)
  # a crude starting scale from the OLS residual variance
  base <- if (is.null(init_sigma)) 1 else log(mean(diag(init_sigma)))
  f <- function(th) hw_neg2ll(th, struct, setup, reml)
  gr <- if (struct == "us") function(th) hw_grad_us(th, setup, reml) else NULL
  gfun <- if (is.null(gr)) function(th) numDeriv::grad(f, th) else gr
  hfun <- if (is.null(gr)) function(th) numDeriv::hessian(f, th) else
    function(th) { H <- numDeriv::jacobian(gr, th); (H + t(H)) / 2 }
  best <- NULL
  for (s in 1:n_starts) {
    th0 <- rnorm(k, 0, if (s == 1) 0 else 0.5)
    nv <- switch(struct, us = T, cs = , ar1 = , toep = , ad = 1, T)
    if (struct == "us") th0[1:T] <- base / 2 + th0[1:T] else th0[1:nv] <- base + th0[1:nv]
    o <- tryCatch(optim(th0, f, gr, method = "BFGS", control = list(maxit = 2000, reltol = 1e-13)),
                  error = function(e) NULL)
    if (!is.null(o) && (is.null(best) || o$value < best$value)) best <- o
  }
  th <- best$par
  # Newton polish with Richardson-extrapolated numerical derivatives
  for (it in seq_len(newton_iter)) {
    g <- gfun(th)
    H <- hfun(th)
    step <- tryCatch(solve(H, g), error = function(e) rep(0, k))
    if (!all(is.finite(step))) break
    th_new <- th - step
    if (f(th_new) <= f(th) + 1e-9) th <- th_new else break
    if (max(abs(step)) < 1e-10) break
  }
  g <- gfun(th)
  H <- hfun(th)
  list(theta = th, value = f(th), grad = g, hessian = H, struct = struct, reml = reml,
       newton_decrement = tryCatch(sum(g * solve(H, g)), error = function(e) Inf),
       converged = all(eigen(H, only.values = TRUE)$values > 0) &&
         tryCatch(sum(g * solve(H, g)) < 1e-6, error = function(e) FALSE))
}

# Satterthwaite df for the rows of L (each row one linear function of beta).
# Var(theta_hat) = 2 * solve(Hessian of -2 log-lik); gradient of l' Phi(theta) l by numDeriv::jacobian.
hw_satterthwaite <- function(fit, setup, L) {
  th <- fit$theta
  Phi <- hw_vcov(th, fit$struct, setup)
  J <- numDeriv::jacobian(function(t) as.numeric(hw_vcov(t, fit$struct, setup)), th)
  A <- 2 * solve(fit$hessian)
  p <- setup$p
  apply(L, 1, function(l) {
    v <- sum(l * (Phi %*% l))
    g <- apply(J, 2, function(col) { D <- matrix(col, p, p); sum(l * (D %*% l)) })
    2 * v^2 / sum(g * (A %*% g))
  })
}

# Multi-df Wald F test with Satterthwaite denominator df (SAS / lmerTest method): F = b'L'(L Phi L')^-1 L b / q;
# the q eigen-directions of L Phi L' each get a 1-df Satterthwaite nu_m; E = sum nu_m / (nu_m - 2);
# ddf = 2 E / (E - q).
hw_ftest <- function(fit, setup, L) {
  th <- fit$theta
  b <- hw_core(sigma_of_theta(th, fit$struct, setup$T), setup)$beta
  Phi <- hw_vcov(th, fit$struct, setup)
  C <- L %*% Phi %*% t(L)
  q <- nrow(L)
  Fv <- as.numeric(t(L %*% b) %*% solve(C, L %*% b)) / q
  e <- eigen(C, symmetric = TRUE)
  Lt <- t(e$vectors) %*% L
  nu <- hw_satterthwaite(fit, setup, Lt)
  E <- sum(ifelse(nu > 2, nu / (nu - 2), 0))
  ddf <- if (E > q) 2 * E / (E - q) else NA
  list(num_df = q, den_df = ddf, F = Fv, p_value = pf(Fv, q, ddf, lower.tail = FALSE))
}

# Kenward-Roger with linear covariance derivatives through pbkrtest internals.
# Sigma: fitted T x T covariance; G-matrices dSigma/dgamma for the linear parametrization of struct.
kr_adjust <- function(X, subject, visit_idx, Sigma, struct, Llist) {
  T <- nrow(Sigma)
  Gs <- switch(struct,
    us = {
      out <- list()
      for (a in 1:T) for (b in a:T) { E <- matrix(0, T, T); E[a, b] <- E[b, a] <- 1; out[[length(out) + 1]] <- E }
      out
    },
    cs = list(matrix(1, T, T), diag(T)),
    toep = lapply(0:(T - 1), function(k) 1 * (abs(outer(1:T, 1:T, "-")) == k)),
    stop("KR linear derivatives only for us, cs, toep"))
  o <- order(subject, visit_idx)
  if (!identical(o, seq_along(o))) stop("data must be sorted by subject and visit for kr_adjust")
  idx <- split(visit_idx, factor(subject, levels = unique(subject)))
  blockdiag <- function(M) Matrix::bdiag(lapply(idx, function(v) M[v, v, drop = FALSE]))
  SigmaG <- list(Sigma = blockdiag(Sigma), G = lapply(Gs, blockdiag), n.ggamma = length(Gs))
  Vinv <- solve(SigmaG$Sigma)
  Phi <- as.matrix(solve(t(X) %*% Vinv %*% X))
  PhiA <- pbkrtest:::vcovAdj_internal(Phi, SigmaG, X)
  res <- lapply(Llist, function(L) {
    t(apply(L, 1, function(l) c(se = sqrt(sum(l * (as.matrix(PhiA) %*% l))),
                                 df = pbkrtest:::Lb_ddf(matrix(l, nrow = 1), Phi, PhiA))))
  })
  list(Phi = Phi, PhiA = as.matrix(PhiA), res = res)
}

KR_METHOD <- paste0("pbkrtest ", packageVersion("pbkrtest"),
  " internals: pbkrtest:::vcovAdj_internal(Phi, SigmaG, X) for the adjusted covariance (W = 2 * inverse of the",
  " expected REML information as computed there) and pbkrtest:::Lb_ddf(L, Phi, PhiA) for the df of each",
  " single-row L; SigmaG built from the fitted covariance (handwritten REML optimum, which equals gls) with",
  " the linear derivatives dV/dgamma (us: one block-diagonal G per sigma_ab, a <= b; cs: J and I; toep: one",
  " band indicator per lag); no second-derivative term (linear parametrization).")

# ----------------------------------------------------------------------------------------------------------
# gls helpers
# ----------------------------------------------------------------------------------------------------------
gls_cor_weights <- function(struct, visit, subject, T) {
  v <- visit; s <- subject
  cor <- switch(struct,
    us = sprintf("corSymm(form = ~ %sN | %s)", v, s),
    cs = , csh = sprintf("corCompSymm(form = ~ 1 | %s)", s),
    ar1 = , ar1h = sprintf("corAR1(form = ~ %sN | %s)", v, s),
    toep = , toeph = sprintf("corARMA(form = ~ %sN | %s, p = %d, q = 0)", v, s, T - 1))
  w <- if (struct %in% c("us", "csh", "ar1h", "toeph")) sprintf("varIdent(form = ~ 1 | %s)", v) else NULL
  list(cor = cor, weights = w)
}

GLS_CONTROL <- "glsControl(natural = FALSE, tolerance = 1e-10, msTol = 1e-12, msMaxIter = 1000, maxIter = 1000, returnObject = TRUE)"

# integer visit position column "<visit>N" is added to the data by prep functions

gls_sigma <- function(fit, T, levs, d, subject, visit) {
  # full T x T covariance: nlme::getVarCov for a subject observed at every visit
  nv <- tapply(d[[visit]], d[[subject]], function(v) length(unique(v)))
  full <- names(nv)[which(nv == T)][1]
  if (is.na(full)) stop("no subject observed at all visits")
  S <- as.matrix(getVarCov(fit, individual = full))
  stopifnot(identical(as.character(d[[visit]][d[[subject]] == full]), levs))
  matrix(as.numeric(S), T, T)
}

# ----------------------------------------------------------------------------------------------------------
# One data set x mean model: fit all requested structures with gls / handwritten / glmmTMB and build FITs
# ----------------------------------------------------------------------------------------------------------
run_dataset <- function(cfg) {
  d <- cfg$data_frame
  visit <- cfg$visit; subject <- cfg$subject; outcome <- cfg$outcome
  levs <- levels(d[[visit]]); T <- length(levs)
  d <- d[order(as.character(d[[subject]]), d[[visit]]), ]
  d[[paste0(visit, "N")]] <- as.integer(d[[visit]])
  rownames(d) <- NULL
  cfg$data_prep <- paste0(cfg$data_prep, "; ", visit, "N = integer position of ", visit,
                          " among its levels (time index for gls corSymm/corAR1/corARMA); rows sorted by ",
                          subject, ", ", visit)
  assign(cfg$data_name, d, envir = globalenv())
  mean_rhs <- cfg$mean_rhs
  mean_formula <- as.formula(paste(outcome, "~", mean_rhs))
  X <- model.matrix(mean_formula, d)
  setup <- hw_setup(X, d[[outcome]], as.character(d[[subject]]), as.integer(d[[visit]]), T)
  factor_levels <- lapply(cfg$factors, function(f) levels(d[[f]])); names(factor_levels) <- cfg$factors
  ref_levels <- lapply(factor_levels, `[`, 1)

  # emmeans L matrices (from an OLS fit with the same mean model: same columns)
  lsm_L <- NULL; con_L <- NULL; lsm_grid <- NULL; con_grid <- NULL
  if (!is.null(cfg$emm_specs)) {
    lmfit <- lm(mean_formula, data = d)
    em <- emmeans(lmfit, cfg$emm_specs)
    lsm_L <- em@linfct; lsm_grid <- em@grid
    cn <- contrast(em, "trt.vs.ctrl", ref = 1)
    con_L <- cn@linfct; con_grid <- cn@grid
  }
  lsm_rows <- function(est, se, df, edf = NULL) {
    lapply(seq_len(nrow(lsm_L)), function(i) {
      r <- list()
      for (f in cfg$emm_factors) r[[f]] <- as.character(lsm_grid[[f]][i])
      r$estimate <- est[i]; r$std_error <- se[i]; r$df <- df[i]
      if (!is.null(edf)) r$emmeans_df <- edf[i]
      r
    })
  }
  by_f <- setdiff(cfg$emm_factors, cfg$emm_factors[1])
  con_rows <- function(est, se, df, edf = NULL) {
    lapply(seq_len(nrow(con_L)), function(i) {
      r <- list(contrast = gsub(" ", " ", as.character(con_grid$contrast[i])))
      r$by <- setNames(lapply(by_f, function(f) as.character(con_grid[[f]][i])), by_f)
      r$estimate <- est[i]; r$std_error <- se[i]; r$df <- df[i]
      if (!is.null(edf)) r$emmeans_df <- edf[i]
      r
    })
  }

  base_fit <- function(id, struct, reml, engine, r_call) {
    list(id = id, data = cfg$data_path, data_prep = cfg$data_prep, outcome = outcome, subject = subject,
         visit = visit,
         formula = sprintf("%s ~ %s + %s(%s | %s)", outcome, mean_rhs, struct, visit, subject),
         covariance_structure = struct, reference_levels = ref_levels, factor_levels = factor_levels,
         reml = reml, engine = engine, r_call = r_call, n_obs = nrow(d), n_subjects = length(unique(d[[subject]])))
  }

  fits <- list()
  hw_store <- list()
  for (struct in cfg$structs) for (reml in cfg$remls) {
    tag <- sprintf("%s_%s_%s", cfg$prefix, struct, if (reml) "reml" else "ml")
    cat(tag, "\n")
    # --- handwritten fit (always; reference for ad/adh; Satterthwaite df for every structure)
    t_hw <- system.time(hw <- hw_fit(setup, struct, reml, n_starts = cfg$n_starts,
                                     newton_iter = if (is.null(cfg$newton_iter)) 20 else cfg$newton_iter,
                                     init_sigma = diag(var(residuals(lm(mean_formula, d))), T)))
    Sig_hw <- sigma_of_theta(hw$theta, struct, T)
    Phi_hw <- hw_vcov(hw$theta, struct, setup)
    se_hw <- sqrt(diag(Phi_hw))
    df_hw <- hw_satterthwaite(hw, setup, diag(setup$p))
    lsm_hw <- con_hw <- NULL
    if (!is.null(lsm_L)) {
      b <- hw_core(Sig_hw, setup)$beta
      lsm_hw <- list(est = as.numeric(lsm_L %*% b), se = sqrt(rowSums((lsm_L %*% Phi_hw) * lsm_L)),
                     df = hw_satterthwaite(hw, setup, lsm_L))
      con_hw <- list(est = as.numeric(con_L %*% b), se = sqrt(rowSums((con_L %*% Phi_hw) * con_L)),
                     df = hw_satterthwaite(hw, setup, con_L))
    }
    hw_call <- sprintf("hw_fit(hw_setup(model.matrix(%s ~ %s, %s), ...), struct = \"%s\", reml = %s) [this script]",
                       outcome, mean_rhs, cfg$data_name, struct, reml)
    fh <- base_fit(paste0(tag, "_handwritten"), struct, reml, "handwritten", hw_call)
    beta_hw <- hw_core(Sig_hw, setup)$beta
    fh <- c(fh, list(converged = hw$converged, neg2_log_lik = hw$value, aic = NULL, bic = NULL,
                     n_cov_params = length(hw$theta),
                     cov_params = natural_params(hw$theta, struct, T),
                     covariance = list(visits = levs, matrix = mat_json(Sig_hw)),
                     coefficients = coef_rows(setup$terms, beta_hw, se_hw, df_hw),
                     df_method = "satterthwaite",
                     df_notes = paste("Satterthwaite from this script: Var(theta) = 2 * inverse numDeriv Hessian of",
                                      "-2 log-lik at the optimum, gradient of l'(X'V^-1X)^-1 l by numDeriv::jacobian"),
                     vcov_beta = list(terms = setup$terms, matrix = mat_json(Phi_hw)),
                     max_abs_gradient = max(abs(hw$grad)), newton_decrement = hw$newton_decrement, elapsed_seconds_informative = unname(t_hw[3])))
    if (!is.null(lsm_hw)) {
      fh$lsmeans <- lsm_rows(lsm_hw$est, lsm_hw$se, lsm_hw$df)
      fh$contrasts <- con_rows(con_hw$est, con_hw$se, con_hw$df)
    }
    kr_structs <- if (is.null(cfg$kr_structs)) c("us", "cs", "toep") else cfg$kr_structs
    if (reml && struct %in% kr_structs && isTRUE(cfg$kr)) {
      Ls <- list(coef = diag(setup$p))
      if (!is.null(lsm_L)) { Ls$lsm <- lsm_L; Ls$con <- con_L }
      kr <- kr_adjust(X, as.character(d[[subject]]), as.integer(d[[visit]]), Sig_hw, struct, Ls)
      krobj <- list(method = KR_METHOD,
                    coefficients = coef_rows(setup$terms, beta_hw, kr$res$coef[, "se"], kr$res$coef[, "df"]),
                    vcov_beta_adjusted = list(terms = setup$terms, matrix = mat_json(kr$PhiA)))
      if (!is.null(lsm_L)) {
        krobj$lsmeans <- lsm_rows(lsm_hw$est, kr$res$lsm[, "se"], kr$res$lsm[, "df"])
        krobj$contrasts <- con_rows(con_hw$est, kr$res$con[, "se"], kr$res$con[, "df"])
      }
      if (struct == "cs") {
        # cross-check of the KR construction: cs with rho > 0 is the random-intercept model; pbkrtest on lmer
        lcall <- sprintf("lme4::lmer(%s ~ %s + (1 | %s), data = %s, REML = TRUE)", outcome, mean_rhs, subject, cfg$data_name)
        lf <- eval(parse(text = lcall))
        Va <- pbkrtest::vcovAdj(lf)
        V0 <- as.matrix(vcov(lf))
        dfl <- sapply(seq_len(setup$p), function(i) pbkrtest:::Lb_ddf(diag(setup$p)[i, , drop = FALSE], V0, Va))
        krobj$crosscheck_lme4 <- list(r_call = lcall, method = "pbkrtest::vcovAdj(lmer fit) and pbkrtest:::Lb_ddf",
                                      neg2_log_lik = -2 * as.numeric(logLik(lf)),
                                      max_abs_diff_std_error = max(abs(sqrt(diag(as.matrix(Va))) - kr$res$coef[, "se"])),
                                      max_abs_diff_df = max(abs(dfl - kr$res$coef[, "df"])))
        cat(sprintf("  KR cs vs lme4+pbkrtest: |dSE| %.2e |ddf| %.2e\n", krobj$crosscheck_lme4$max_abs_diff_std_error,
                    krobj$crosscheck_lme4$max_abs_diff_df))
      }
      fh$kenward_roger <- krobj
    }
    int_terms <- grep(":", setup$terms, value = TRUE)
    if (length(int_terms)) {
      Lint <- diag(setup$p)[match(int_terms, setup$terms), , drop = FALSE]
      ft <- hw_ftest(hw, setup, Lint)
      fh$anova <- list(c(list(effect = sub("^(.*)\\*(.*)$", "\\1:\\2", gsub(" ", "", strsplit(mean_rhs, "\\+")[[1]][grepl("\\*", strsplit(mean_rhs, "\\+")[[1]])])),
                              terms = int_terms), ft,
                         list(method = "Wald F with Satterthwaite ddf (eigen-decomposition of L Phi L', as SAS/lmerTest); the highest-order interaction only (its type III test does not depend on coding)")))
    }
    hw_store[[tag]] <- list(hw = hw, Sig = Sig_hw, fit = fh)

    # --- gls
    if (struct %in% cfg$gls_structs) {
      cw <- gls_cor_weights(struct, visit, subject, T)
      call <- sprintf("gls(%s ~ %s, data = %s, correlation = %s%s, method = \"%s\", control = %s)",
                      outcome, mean_rhs, cfg$data_name, cw$cor,
                      if (is.null(cw$weights)) "" else paste0(", weights = ", cw$weights),
                      if (reml) "REML" else "ML", GLS_CONTROL)
      tm <- system.time(g <- tryCatch(eval(parse(text = call)), error = function(e) e))
      if (inherits(g, "error")) {
        cat("  gls failed:", conditionMessage(g), "\n")
      } else {
        Sig_g <- gls_sigma(g, T, levs, d, subject, visit)
        # nlme's vcov() of an ML fit is sigma^2 (X'V^-1X)^-1 with sigma^2 rescaled by N / (N - p); SAS, mmrm and
        # the handwritten fit use the plain ML (X'V-hat^-1 X)^-1, so undo the factor (sf = 1 for REML)
        sf <- if (reml) 1 else (nrow(d) - setup$p) / nrow(d)
        vc <- vcov(g) * sf
        fg <- base_fit(paste0(tag, "_gls"), struct, reml, "nlme::gls", call)
        ll <- logLik(g)
        fg <- c(fg, list(converged = TRUE, neg2_log_lik = -2 * as.numeric(ll), aic = AIC(g), bic = BIC(g),
                         n_cov_params = length(coef(g$modelStruct)) + 1L,
                         cov_params = NULL,
                         covariance = list(visits = levs, matrix = mat_json(Sig_g)),
                         coefficients = coef_rows(names(coef(g)), coef(g), sqrt(diag(vc)), df_hw),
                         df_method = "satterthwaite",
                         df_notes = paste("df = Satterthwaite computed by this script's handwritten likelihood at its",
                                          "own optimum (same model; see the matching _handwritten fit and",
                                          "max_abs_diff_vs_handwritten); emmeans_df = emmeans mode = 'satterthwaite'",
                                          "on the gls object (nlme's numerical apVar; close to but less accurate than df)"),
                         vcov_beta = list(terms = names(coef(g)), matrix = mat_json(vc)),
                         nlme_vcov_rescaled_by = sf,
                         elapsed_seconds_informative = unname(tm[3])))
        if (!reml) fg$notes <- paste("ML: std_error, vcov_beta and LS-mean/contrast SEs are nlme's values times",
                                     "sqrt((N - p) / N) (= the plain ML (X'V^-1X)^-1 used by SAS and mmrm); nlme's",
                                     "vcov() itself reports them inflated by sqrt(N / (N - p))")
        fg$max_abs_diff_vs_handwritten <- list(
          neg2_log_lik = abs(fg$neg2_log_lik - hw$value),
          covariance = max(abs(Sig_g - Sig_hw)),
          coefficients = max(abs(coef(g) - beta_hw)),
          std_error = max(abs(sqrt(diag(vc)) - se_hw)))
        if (!is.null(lsm_L)) {
          emode <- "satterthwaite"
          em <- tryCatch(emmeans(g, cfg$emm_specs, mode = "satterthwaite", data = d), error = function(e) NULL)
          if (is.null(em)) { emode <- "df.error"; em <- emmeans(g, cfg$emm_specs, mode = "df.error", data = d) }
          fg$emmeans_mode <- emode
          es <- summary(em)
          cn <- summary(contrast(em, "trt.vs.ctrl", ref = 1))
          fg$lsmeans <- lsm_rows(es$emmean, es$SE * sqrt(sf), lsm_hw$df, es$df)
          fg$contrasts <- con_rows(cn$estimate, cn$SE * sqrt(sf), con_hw$df, cn$df)
          fg$emmeans_call <- sprintf("emmeans(fit, %s, mode = \"%s\", data = %s); contrast(., \"trt.vs.ctrl\", ref = 1)",
                                     deparse(cfg$emm_specs), emode, cfg$data_name)
        }
        if (!is.null(fh$kenward_roger)) fg$kenward_roger <- fh$kenward_roger
        if (!is.null(fh$anova)) fg$anova <- fh$anova
        cat(sprintf("  gls -2LL %.8f  handwritten %.8f  |dSigma| %.2e\n", fg$neg2_log_lik, hw$value,
                    max(abs(Sig_g - Sig_hw))))
        fits[[length(fits) + 1]] <- fg
      }
    }
    cat(sprintf("  handwritten -2LL %.8f conv %s (%.1fs)\n", hw$value, hw$converged, t_hw[3]))
    fits[[length(fits) + 1]] <- fh

    # --- glmmTMB second check
    if (struct %in% names(cfg$tmb_structs)) {
      tmbs <- cfg$tmb_structs[[struct]]
      call <- sprintf("glmmTMB(%s ~ %s + %s(0 + %s | %s), dispformula = ~0, REML = %s, data = %s)",
                      outcome, mean_rhs, tmbs, visit, subject, if (reml) "TRUE" else "FALSE", cfg$data_name)
      warn <- NULL
      tm <- system.time(tf <- withCallingHandlers(eval(parse(text = call)),
                                                 warning = function(w) { warn <<- conditionMessage(w); invokeRestart("muffleWarning") }))
      vcm <- VarCorr(tf)$cond[[subject]]
      Sig_t <- matrix(as.numeric(vcm), T, T)
      ft <- base_fit(paste0(tag, "_glmmtmb"), struct, reml, "glmmTMB", call)
      b <- fixef(tf)$cond
      vt <- vcov(tf)$cond
      ft <- c(ft, list(converged = tf$fit$convergence == 0, neg2_log_lik = -2 * as.numeric(logLik(tf)),
                       aic = NULL, bic = NULL,
                       covariance = list(visits = levs, matrix = mat_json(Sig_t)),
                       coefficients = coef_rows(names(b), b, sqrt(diag(vt)), NULL),
                       df_method = "none",
                       elapsed_seconds_informative = unname(tm[3]),
                       notes = paste0("glmmTMB ", tmbs, "() with dispformula = ~0 (residual variance fixed at a tiny value,",
                                      " so -2LL differs slightly from gls). Optimizer message: ", tf$fit$message,
                                      if (!is.null(warn)) paste0("; warning: ", warn) else "")))
      ft$max_abs_diff_vs_handwritten <- list(neg2_log_lik = abs(ft$neg2_log_lik - hw$value),
                                             covariance = max(abs(Sig_t - Sig_hw)),
                                             coefficients = max(abs(b - beta_hw)))
      cat(sprintf("  glmmTMB -2LL %.8f |dSigma| %.2e (%s)\n", ft$neg2_log_lik, max(abs(Sig_t - Sig_hw)), tf$fit$message))
      fits[[length(fits) + 1]] <- ft
    }
  }
  fits
}

# ----------------------------------------------------------------------------------------------------------
# data sets
# ----------------------------------------------------------------------------------------------------------
prep_fev <- function() {
  d <- read.csv(file.path(SHARED, "mmrm_fev_bcva/fev_data.csv"), stringsAsFactors = FALSE)
  d <- d[!is.na(d$FEV1), ]
  d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
  d$AVISIT <- factor(d$AVISIT, levels = paste0("VIS", 1:4))
  d$RACE <- factor(d$RACE, levels = c("Asian", "Black or African American", "White"))
  d$SEX <- factor(d$SEX, levels = c("Male", "Female"))
  d$USUBJID <- factor(d$USUBJID)
  d
}

if ("fev" %in% parts) {
  cfg <- list(data_frame = prep_fev(), data_name = "fev", prefix = "fev",
              data_path = "shared:mmrm_fev_bcva/fev_data.csv",
              data_prep = "rows with FEV1 NA dropped; factors ARMCD (PBO, TRT), AVISIT (VIS1..VIS4), RACE (Asian, Black or African American, White), SEX (Male, Female)",
              outcome = "FEV1", subject = "USUBJID", visit = "AVISIT",
              mean_rhs = "RACE + SEX + ARMCD * AVISIT", factors = c("RACE", "SEX", "ARMCD", "AVISIT"),
              emm_specs = ~ ARMCD | AVISIT, emm_factors = c("ARMCD", "AVISIT"),
              structs = c("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"),
              gls_structs = c("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph"),
              tmb_structs = list(us = "us", csh = "cs", ar1 = "ar1", toeph = "toep"),
              remls = c(TRUE, FALSE), n_starts = 12, kr = TRUE)
  fits <- run_dataset(cfg)
  write_ref(fits, "mmrm_ref_fev.json",
            list(published_sas = list(
              source = "issue 3 (SAS PROC MIXED output published with R mmrm): REML, us, Satterthwaite",
              neg2_log_lik = 3386.44987722,
              note = paste("SAS UN(i,j) indices are not in VIS1..VIS4 order: UN(1,1)=26.5692 is VIS2, UN(2,2)=14.8970 VIS3,",
                           "UN(3,3)=95.5528 VIS4, UN(4,4)=40.5509 VIS1 (gls, glmmTMB and the handwritten fit agree;",
                           "raw variances by visit confirm VIS4 largest, VIS1 second)"),
              contrasts = list(list(visit = "VIS1", estimate = 3.7745, std_error = 1.0741, df = 146),
                               list(visit = "VIS2", estimate = 3.7322, std_error = 0.8588, df = 145),
                               list(visit = "VIS3", estimate = 3.0806, std_error = 0.6896, df = 131),
                               list(visit = "VIS4", estimate = 4.3985, std_error = 1.6805, df = 133)))))
}

if ("bcva" %in% parts) {
  d <- read.csv(file.path(SHARED, "mmrm_fev_bcva/bcva_data.csv"), stringsAsFactors = FALSE)
  d <- d[!is.na(d$BCVA_CHG), ]
  d$ARMCD <- factor(d$ARMCD, levels = c("CTL", "TRT"))
  d$AVISIT <- factor(d$AVISIT, levels = sprintf("VIS%02d", 1:10))
  d$RACE <- factor(d$RACE, levels = sort(unique(d$RACE)))
  d$USUBJID <- factor(d$USUBJID)
  cfg <- list(data_frame = d, data_name = "bcva", prefix = "bcva",
              data_path = "shared:mmrm_fev_bcva/bcva_data.csv",
              data_prep = "rows with BCVA_CHG NA dropped; factors ARMCD (CTL, TRT), AVISIT (VIS01..VIS10), RACE (alphabetical)",
              outcome = "BCVA_CHG", subject = "USUBJID", visit = "AVISIT",
              mean_rhs = "BCVA_BL + RACE + ARMCD * AVISIT", factors = c("RACE", "ARMCD", "AVISIT"),
              emm_specs = ~ ARMCD | AVISIT, emm_factors = c("ARMCD", "AVISIT"),
              structs = "us", gls_structs = "us", tmb_structs = list(us = "us"),
              remls = TRUE, n_starts = 1, kr = FALSE, newton_iter = 3)
  fits <- run_dataset(cfg)
  write_ref(fits, "mmrm_ref_bcva.json")
}

if ("chow" %in% parts) {
  raw <- read.csv(file.path(SHARED, "chow2006_laser_neck_pain/neck_pain.csv"), stringsAsFactors = FALSE)
  bl <- raw[raw$time == 1, c("id", "vas")]; names(bl)[2] <- "vas_bl"
  d <- merge(raw[raw$time != 1, ], bl, by = "id")
  d$id <- factor(d$id)
  d$laser <- factor(as.character(d$laser), levels = c("2", "1"))
  d$time <- factor(as.character(d$time), levels = c("2", "3"))
  cfg <- list(data_frame = d, data_name = "chow", prefix = "chow",
              data_path = "shared:chow2006_laser_neck_pain/neck_pain.csv",
              data_prep = paste("baseline rows (time 1) removed; vas_bl = the subject's time-1 vas (all 90 have one);",
                                "laser factor with levels '2' (sham, reference), '1' (active); time factor with levels",
                                "'2' (7 weeks, reference), '3' (12 weeks); 174 rows, 90 subjects"),
              outcome = "vas", subject = "id", visit = "time",
              mean_rhs = "vas_bl + laser * time", factors = c("laser", "time"),
              emm_specs = ~ laser | time, emm_factors = c("laser", "time"),
              structs = c("us", "cs", "ar1"), gls_structs = c("us", "cs", "ar1"),
              tmb_structs = list(us = "us"),
              remls = TRUE, n_starts = 8, kr = TRUE)
  fits <- run_dataset(cfg)
  write_ref(fits, "mmrm_ref_chow.json")
}

# ----------------------------------------------------------------------------------------------------------
# simulated data sets (our own; written to tests/reference/data/)
# ----------------------------------------------------------------------------------------------------------
sim_a <- function() {
  # 150 subjects x 5 visits, 3 arms, baseline covariate, MAR dropout driven by the last observed value
  set.seed(20261126)
  n <- 150; T <- 5
  arm <- factor(sample(rep(c("PBO", "LOW", "HIGH"), each = n / 3)), levels = c("PBO", "HIGH", "LOW"))
  base <- round(rnorm(n, 6, 1.2), 2)
  sds <- c(1.2, 1.4, 1.6, 1.8, 2.0)
  R <- 0.75^abs(outer(1:T, 1:T, "-")) * 0.8 + 0.2 * diag(T)
  R[1, 5] <- R[5, 1] <- 0.35
  S <- diag(sds) %*% R %*% diag(sds)
  E <- matrix(rnorm(n * T), n, T) %*% chol(S)
  eff <- cbind(PBO = c(-.3, -.6, -.8, -1, -1.1), HIGH = c(-.8, -1.5, -2, -2.3, -2.5), LOW = c(-.5, -1, -1.3, -1.5, -1.6))
  Y <- t(sapply(1:n, function(i) base[i] + 0.5 * (base[i] - 6) * 0 + eff[, as.character(arm[i])] + E[i, ]))
  Y <- Y + 0.3 * (base - 6)   # baseline effect 1.3 overall
  # MAR dropout: after an observed value, drop out with probability plogis(-3.2 + 0.5 * (y - 6))
  obs <- matrix(TRUE, n, T)
  for (i in 1:n) for (t in 2:T) {
    if (!obs[i, t - 1] || runif(1) < plogis(-3.2 + 0.5 * (Y[i, t - 1] - 6))) obs[i, t:T] <- FALSE
    if (!obs[i, t]) break
  }
  d <- data.frame(subject = sprintf("S%03d", rep(1:n, each = T)), arm = rep(as.character(arm), each = T),
                  baseline = rep(base, each = T), visit = rep(sprintf("W%02d", c(2, 4, 8, 12, 16)), n),
                  y = round(as.numeric(t(ifelse(obs, Y, NA))), 4), stringsAsFactors = FALSE)
  d
}

sim_b <- function() {
  # 80 subjects x 3 visits, 2 arms of unequal size, a sex covariate, intermittent (MCAR) missingness
  set.seed(42)
  n <- 80; T <- 3
  arm <- ifelse(runif(n) < 0.4, "CTL", "ACT")
  sex <- sample(c("F", "M"), n, replace = TRUE, prob = c(0.65, 0.35))
  S <- matrix(c(4, 2.5, 1.2, 2.5, 5, 3, 1.2, 3, 7), 3)
  E <- matrix(rnorm(n * T), n, T) %*% chol(S)
  mu <- outer(ifelse(arm == "ACT", -1.5, 0), c(0.5, 1, 1.2)) + outer(ifelse(sex == "M", 0.8, 0), rep(1, T)) +
    matrix(c(20, 19, 18.5), n, T, byrow = TRUE)
  Y <- mu + E
  miss <- matrix(runif(n * T) < 0.15, n, T)
  miss[1:10, ] <- FALSE        # at least ten complete subjects
  miss[rowSums(miss) == T, 1] <- FALSE
  d <- data.frame(id = sprintf("P%02d", rep(1:n, each = T)), trt = rep(arm, each = T), sex = rep(sex, each = T),
                  month = rep(c("M1", "M3", "M6"), n),
                  score = round(as.numeric(t(ifelse(miss, NA, Y))), 4), stringsAsFactors = FALSE)
  d
}

if ("sim" %in% parts) {
  da <- sim_a(); db <- sim_b()
  write.csv(da, file.path(OUT_DIR, "data/sim_mmrm_a.csv"), row.names = FALSE, na = "NA")
  write.csv(db, file.path(OUT_DIR, "data/sim_mmrm_b.csv"), row.names = FALSE, na = "NA")
  # re-read so the fits use exactly what the CSV holds
  da <- read.csv(file.path(OUT_DIR, "data/sim_mmrm_a.csv"), stringsAsFactors = FALSE)
  db <- read.csv(file.path(OUT_DIR, "data/sim_mmrm_b.csv"), stringsAsFactors = FALSE)
  da <- da[!is.na(da$y), ]
  da$arm <- factor(da$arm, levels = c("PBO", "HIGH", "LOW")); da$visit <- factor(da$visit); da$subject <- factor(da$subject)
  db <- db[!is.na(db$score), ]
  db$trt <- factor(db$trt, levels = c("CTL", "ACT")); db$sex <- factor(db$sex, levels = c("F", "M"))
  db$month <- factor(db$month, levels = c("M1", "M3", "M6")); db$id <- factor(db$id)
  common <- list(structs = c("us", "cs", "ar1", "toeph"), gls_structs = c("us", "cs", "ar1", "toeph"),
                 remls = c(TRUE, FALSE), n_starts = 8, kr = TRUE)
  cfg_a <- c(list(data_frame = da, data_name = "sim_a", prefix = "sima",
                  data_path = "tests/reference/data/sim_mmrm_a.csv",
                  data_prep = "rows with y NA dropped; arm factor levels (PBO, HIGH, LOW); visit factor levels W02, W04, W08, W12, W16",
                  outcome = "y", subject = "subject", visit = "visit",
                  mean_rhs = "baseline + arm * visit", factors = c("arm", "visit"),
                  emm_specs = ~ arm | visit, emm_factors = c("arm", "visit"),
                  tmb_structs = list(us = "us")), common)
  cfg_b <- c(list(data_frame = db, data_name = "sim_b", prefix = "simb",
                  data_path = "tests/reference/data/sim_mmrm_b.csv",
                  data_prep = "rows with score NA dropped; trt factor levels (CTL, ACT); sex (F, M); month (M1, M3, M6)",
                  outcome = "score", subject = "id", visit = "month",
                  mean_rhs = "sex + trt * month", factors = c("sex", "trt", "month"),
                  emm_specs = ~ trt | month, emm_factors = c("trt", "month"),
                  tmb_structs = list(us = "us")), common)
  fits <- c(run_dataset(cfg_a), run_dataset(cfg_b))
  write_ref(fits, "mmrm_ref_sim.json")
}

# ----------------------------------------------------------------------------------------------------------
# nlme::BodyWeight: 16 rats, 3 diets (8, 4, 4 rats), weighed at 11 days; within-rat correlations 0.9-0.99.
# An ill-conditioned covariance (condition number ~2e5): the test of exact second derivatives.  With the
# saturated mean diet * visit and complete balanced data, the diet contrasts at the first visit have exactly
# n - 3 = 13 Satterthwaite df under us and adh (the visit-1 variance is a free parameter estimated by the
# pooled within-diet variance).
# ----------------------------------------------------------------------------------------------------------
if ("bodyweight" %in% parts) {
  bw <- as.data.frame(nlme::BodyWeight)
  out <- data.frame(rat = as.integer(as.character(bw$Rat)), diet = as.character(bw$Diet), day = bw$Time,
                    visit = paste0("day", bw$Time), weight = bw$weight, stringsAsFactors = FALSE)
  out <- out[order(out$rat, out$day), ]
  write.csv(out, file.path(OUT_DIR, "data/bodyweight.csv"), row.names = FALSE)
  d <- read.csv(file.path(OUT_DIR, "data/bodyweight.csv"), stringsAsFactors = FALSE)
  days <- sort(unique(d$day))
  d$diet <- factor(as.character(d$diet), levels = c("1", "2", "3"))
  d$visit <- factor(d$visit, levels = paste0("day", days))
  d$rat <- factor(d$rat)
  cfg <- list(data_frame = d, data_name = "bodyweight", prefix = "bodyweight",
              data_path = "tests/reference/data/bodyweight.csv",
              data_prep = paste("nlme::BodyWeight written by this script (rat, diet, day, visit = 'day<Time>', weight);",
                                "factors diet (1, 2, 3) and visit (day1, day8, ..., day64 in time order)"),
              outcome = "weight", subject = "rat", visit = "visit",
              mean_rhs = "diet * visit", factors = c("diet", "visit"),
              emm_specs = ~ diet | visit, emm_factors = c("diet", "visit"),
              structs = c("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"),
              gls_structs = c("cs", "csh", "ar1", "ar1h"), tmb_structs = list(),
              remls = TRUE, n_starts = 6, kr = TRUE,
              # no pbkrtest reference for us here: with complete balanced data and the saturated mean,
              # V = I (x) Sigma and X = Z (x) I give Q_ij = P_i C P_j, so the Kenward-Roger adjusted covariance
              # equals the unadjusted one exactly; pbkrtest's vcovAdj_internal returns standard errors up to
              # 1.7e-4 (relative) away from it on these ill-conditioned data (condition number of Sigma ~2e5,
              # of the information ~4e10) -- a numerical error of the reference, not a target
              kr_structs = c("cs", "toep"))
  fits <- run_dataset(cfg)
  write_ref(fits, "mmrm_ref_bodyweight.json")
}

# ----------------------------------------------------------------------------------------------------------
# Visit order (issue 9): fev_data with its visits relabelled week4, week8, week12, week26 (VIS1..VIS4).
# An ar1 fit depends on the order of the visits: in time order, and in the alphabetical order a character
# column gets from factor() (week12 < week26 < week4 < week8) -- the silent error painstudy no longer makes.
# Written to mmrm_visit_order_fev.json (not an mmrm_ref_* file: the relabelled data are made in the test).
# ----------------------------------------------------------------------------------------------------------
if ("visitorder" %in% parts) {
  d0 <- read.csv(file.path(SHARED, "mmrm_fev_bcva/fev_data.csv"), stringsAsFactors = FALSE)
  d0 <- d0[!is.na(d0$FEV1), ]
  d0$AVISIT <- unname(c(VIS1 = "week4", VIS2 = "week8", VIS3 = "week12", VIS4 = "week26")[d0$AVISIT])
  d0$ARMCD <- factor(d0$ARMCD, levels = c("PBO", "TRT"))
  orders <- list(time = c("week4", "week8", "week12", "week26"), alphabetical = sort(unique(d0$AVISIT)))
  fits <- list()
  for (o in names(orders)) {
    d <- d0
    d$AVISIT <- factor(d$AVISIT, levels = orders[[o]])
    d$AVISITN <- as.integer(d$AVISIT)
    d <- d[order(d$USUBJID, d$AVISITN), ]
    call <- paste("gls(FEV1 ~ ARMCD * AVISIT, data = d, correlation = corAR1(form = ~ AVISITN | USUBJID),",
                  "method = \"REML\", control =", GLS_CONTROL, ")")
    g <- eval(parse(text = call))
    vc <- vcov(g)
    fits[[length(fits) + 1]] <- list(
      id = paste0("fev_weeks_ar1_reml_", o), order = o, visit_levels = orders[[o]],
      data = "shared:mmrm_fev_bcva/fev_data.csv",
      data_prep = paste("rows with FEV1 NA dropped; AVISIT relabelled VIS1..VIS4 -> week4, week8, week12, week26;",
                        "AVISIT factor with levels in the order", paste(orders[[o]], collapse = " < "),
                        "(its integer position AVISITN is the AR(1) time index); ARMCD levels (PBO, TRT)"),
      formula = "FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)", reml = TRUE, engine = "nlme::gls", r_call = call,
      n_obs = nrow(d), neg2_log_lik = -2 * as.numeric(logLik(g)),
      cov_params = list(sigma2 = g$sigma^2, rho = unname(coef(g$modelStruct$corStruct, unconstrained = FALSE))),
      coefficients = coef_rows(names(coef(g)), coef(g), sqrt(diag(vc)), NULL))
    cat(sprintf("fev weeks ar1 %s order: -2LL %.6f\n", o, fits[[length(fits)]]$neg2_log_lik))
  }
  write_ref(fits, "mmrm_visit_order_fev.json")
}
