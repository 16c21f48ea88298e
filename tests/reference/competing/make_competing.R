# Reference values for tests/stats/test_competing.py: IPTW-weighted Aalen-Johansen cumulative incidence with
# infinitesimal-jackknife (IJ) standard errors, restricted mean time lost, cause-specific Cox models and the
# design-based cause-specific log-rank test.
# Run from the repository root:  Rscript tests/reference/competing/make_competing.R
# Writes mgus2.csv (the input, weights included) and competing.json beside this script.
#
# Data: survival::mgus2 (Kyle et al. 2002), complete cases of age, hgb, creat. Competing events as in the
# survival package's "compete" vignette: progression to plasma-cell malignancy (status 1, at ptime) vs death
# without progression (status 2, at futime); censored 0. The "arm" is sex (1 = male), so that the weighting has
# something to balance: ATE weights from glm(arm ~ age + hgb, binomial).
suppressMessages({library(survival); library(survey); library(jsonlite)})
here <- "tests/reference/competing"
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

d <- mgus2[complete.cases(mgus2[, c("age", "hgb", "sex")]), ]
d$time <- ifelse(d$pstat == 0, d$futime, d$ptime)
d$status <- ifelse(d$pstat == 0, 2 * d$death, 1)
d$arm <- as.integer(d$sex == "M")
ps <- fitted(glm(arm ~ age + hgb, family = binomial(), data = d))
d$w <- ifelse(d$arm == 1, 1 / ps, 1 / (1 - ps))
d <- d[, c("id", "time", "status", "arm", "w")]
write.csv(d, file.path(here, "mgus2.csv"), row.names = FALSE)

times <- c(12, 60, 120, 240)
tau <- 240
# survival's multi-state survfit: Aalen-Johansen; with weights, id and robust = TRUE the std.err are IJ
fit <- survfit(Surv(time, factor(status)) ~ arm, data = d, weights = w, id = id, robust = TRUE,
               influence = TRUE)
per_arm <- list()
for (k in 0:1) {
  sub <- fit[k + 1, ]
  s <- summary(sub, times = times, extend = TRUE)
  # the one-arm fit gives the same curves; its influence.pstate has one column per time after a leading column
  # for the starting point, and is d(pstate)/d(w_i): the IJ terms are w_i times it (sqrt(colSums((w * infl)^2))
  # reproduces std.err; recorded as ij_check)
  da <- d[d$arm == k, ]
  fa <- survfit(Surv(time, factor(status)) ~ 1, data = da, weights = w, id = id, robust = TRUE, influence = TRUE)
  infl <- fa$influence.pstate[, -1, , drop = FALSE]
  tt <- fa$time
  keep <- tt <= tau
  width <- diff(c(tt[keep], tau))
  rmtl <- se_rmtl <- check <- numeric(2)
  for (j in 1:2) {
    p <- fa$pstate[keep, j + 1]
    rmtl[j] <- sum(p * width)
    se_rmtl[j] <- sqrt(sum((da$w * (infl[, keep, j + 1] %*% width))^2))
    check[j] <- max(abs(sqrt(colSums((da$w * infl[, , j + 1])^2)) - fa$std.err[, j + 1]))
  }
  per_arm[[as.character(k)]] <- list(
    cif1 = num(s$pstate[, 2]), cif2 = num(s$pstate[, 3]), se1 = num(s$std.err[, 2]), se2 = num(s$std.err[, 3]),
    low1 = num(s$lower[, 2]), high1 = num(s$upper[, 2]), low2 = num(s$lower[, 3]), high2 = num(s$upper[, 3]),
    rmtl = num(rmtl), rmtl_se = num(se_rmtl), ij_check = num(check),
    rmean_table = num(summary(sub, rmean = tau)$table[c(2, 3), "rmean"]))
}

cs <- list()
for (k in 1:2) {
  d$ev <- as.integer(d$status == k)
  cx <- coxph(Surv(time, ev) ~ arm, data = d, weights = w, robust = TRUE, ties = "efron")
  des <- svydesign(ids = ~1, weights = ~w, data = d)
  lr <- svylogrank(Surv(time, ev) ~ arm, des)
  cs[[as.character(k)]] <- list(coef = num(coef(cx)), robust_se = num(sqrt(diag(cx$var))),
                                score = num(lr[[1]][, 1]), se = num(lr[[1]][, 2]), z = num(lr[[1]][, 3]),
                                chisq = num(lr[[2]][["Chisq"]]), p = num(lr[[2]][["p"]]))
}

res <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              survey = as.character(packageVersion("survey")), n = nrow(d), times = times, tau = tau,
              call = paste("survfit(Surv(time, factor(status)) ~ arm, data, weights = w, id = id,",
                           "robust = TRUE, influence = TRUE); summary(fit, times, extend = TRUE)"),
              rmtl = "sum(pstate * diff(c(t, tau))) over t <= tau; SE sqrt(sum((w * influence.pstate %*% widths)^2))",
              cox = "coxph(Surv(time, status == k) ~ arm, weights = w, robust = TRUE, ties = 'efron')",
              logrank = "svylogrank(Surv(time, status == k) ~ arm, svydesign(ids = ~1, weights = ~w))"),
  arm = per_arm, cause_specific = cs)
write_json(res, file.path(here, "competing.json"), digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
