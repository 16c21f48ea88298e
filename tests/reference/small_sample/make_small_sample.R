# Reference values for the small-sample (Mancl-DeRouen) corrected M-estimation sandwich
# (gistcausal.inference.mestimation, analysis.survival.variance: m_estimation_corrected).
#
# Writes small_sample.json beside small_sample_data.csv (a copy of tests/reference/inference/mest_data.csv).
# Run from the repository root:  Rscript tests/reference/small_sample/make_small_sample.R
#
# Independent of gistcausal: the propensity model is R's glm, its leverages R's hatvalues, the weights-known
# influence terms R survival's own (coxph dfbeta residuals; survfit(influence = TRUE), integrated for the RMST),
# and the propensity block's bias-corrected covariance is checked against clubSandwich::vcovCR(type = "CR3")
# with cluster = patient (Pustejovsky & Tipton 2018), which is Mancl & DeRouen's (2001) estimator for a GLM.
# The stacked terms are IF_i = D_i + G IF_gamma,i (G = sum_i D_i dlog w_i / dGamma'), the corrected variance
# sum_i {IF_i / (1 - h_i)}^2, and intervals use qt(0.975, n - q), q = propensity parameters (+1 for p1).
suppressMessages({library(survival); library(clubSandwich); library(jsonlite)})
here <- "tests/reference/small_sample"
d <- read.csv(file.path(here, "small_sample_data.csv"))
n <- nrow(d); a <- d$treatment
LANDMARK <- 8; HORIZON <- 15
ps_fit <- glm(treatment ~ x1 + x2, family = binomial, data = d,
              control = glm.control(epsilon = 1e-14, maxit = 100))
X <- model.matrix(ps_fit); e <- unname(fitted(ps_fit)); h <- unname(hatvalues(ps_fit))
Hm <- crossprod(X * (e * (1 - e)), X)
IFg <- t(solve(Hm, t(X * (a - e))))
cr3 <- unname(as.matrix(vcovCR(ps_fit, cluster = seq_len(n), type = "CR3")))
md_ps <- crossprod(IFg / (1 - h))
stopifnot(max(abs(cr3 - md_ps)) < 1e-10)

arm_km <- function(w, k) {
  # weighted KM of arm k: its survival at LANDMARK and RMST to HORIZON, with survival's own IJ terms
  idx <- which(a == k)
  sf <- survfit(Surv(time, event) ~ 1, data = d[idx, ], weights = w[idx], influence = TRUE)
  keep <- sf$time <= HORIZON
  tt <- c(0, sf$time[keep]); dt <- diff(c(tt, HORIZON))
  S <- c(1, sf$surv[keep]); inf <- cbind(0, sf$influence.surv[, keep, drop = FALSE])
  j <- max(which(sf$time <= LANDMARK))
  D_s <- D_r <- numeric(n)
  D_s[idx] <- sf$influence.surv[, j]; D_r[idx] <- inf %*% dt
  list(surv = sf$surv[j], rmst = sum(S * dt), D_s = D_s, D_r = D_r)
}

one_case <- function(estimand, stabilize) {
  p1 <- mean(a)
  if (estimand == "ATE") {
    w <- ifelse(a == 1, 1 / e, 1 / (1 - e)); cc <- -(a - e)
    if (stabilize) w <- w * ifelse(a == 1, p1, 1 - p1)
  } else {  # ATT
    w <- ifelse(a == 1, 1, e / (1 - e)); cc <- 1 - a
  }
  IFG <- IFg; dlogw <- X * cc
  if (stabilize) { IFG <- cbind(IFG, (a - p1) / n); dlogw <- cbind(dlogw, a / p1 - (1 - a) / (1 - p1)) }
  q <- ncol(IFG)
  fit <- coxph(Surv(time, event) ~ treatment, data = d, weights = w, robust = TRUE, ties = "efron",
               control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 50))
  k1 <- arm_km(w, 1); k0 <- arm_km(w, 0)
  est <- list(hr = unname(coef(fit)), surv_diff = k1$surv - k0$surv, rmst_diff = k1$rmst - k0$rmst)
  Ds <- list(hr = as.numeric(residuals(fit, type = "dfbeta")), surv_diff = k1$D_s - k0$D_s,
             rmst_diff = k1$D_r - k0$D_r)
  out <- list()
  for (m in names(Ds)) {
    D <- Ds[[m]]
    IF <- D + IFG %*% colSums(D * dlogw)
    se_known <- sqrt(sum(D^2)); se_m <- sqrt(sum(IF^2)); se_c <- sqrt(sum((IF / (1 - h))^2))
    tq <- qt(0.975, n - q)
    out[[m]] <- list(estimate = est[[m]], se_weights_known = se_known, se_m_estimation = se_m,
                     se_corrected = se_c, df = n - q, ci_low = est[[m]] - tq * se_c,
                     ci_high = est[[m]] + tq * se_c, p = 2 * pt(abs(est[[m]]) / se_c, n - q, lower.tail = FALSE))
  }
  out
}

res <- list(
  r_version = R.version.string,
  packages = list(survival = as.character(packageVersion("survival")),
                  clubSandwich = as.character(packageVersion("clubSandwich"))),
  landmark = LANDMARK, horizon = HORIZON,
  ps_coef = unname(coef(ps_fit)), hatvalues = h,
  ps_vcov_cr3 = cr3, ps_vcov_cr2 = unname(as.matrix(vcovCR(ps_fit, cluster = seq_len(n), type = "CR2"))),
  cases = list(ATE = one_case("ATE", TRUE), ATT = one_case("ATT", FALSE)))
write_json(res, file.path(here, "small_sample.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
