# Reference values for tests/stats/test_km.py and tests/stats/test_comparison.py.
# Run from the repository root:  Rscript tests/reference/survival/make_survival.R
# Writes rotterdam.csv, ties.csv and survival.json beside this script.
#
# Data 1: survival::rotterdam (Rotterdam breast-cancer cohort), a non-randomised binary treatment
#   (hormon), outcome recurrence-free: time = rtime in months (ceiling(rtime / 30.4375), which creates
#   many tied times), event = recur. ATE weights from a logistic propensity model fitted here, stored in
#   the CSV so that Python uses exactly the same weights.
# Data 2: a hand-made set with heavy ties, zero weights and a last time where everyone at risk dies.
suppressMessages({library(survival); library(survey); library(jsonlite)})
here <- "tests/reference/survival"

r <- survival::rotterdam
d1 <- data.frame(pid = r$pid, time = ceiling(r$rtime / 30.4375), rtime = r$rtime, event = r$recur,
                 hormon = r$hormon, age = r$age, meno = r$meno,
                 size2 = as.integer(r$size == "20-50"), size3 = as.integer(r$size == ">50"),
                 grade = r$grade, nodes = r$nodes, pgr = log1p(r$pgr), er = log1p(r$er),
                 chemo = r$chemo)
ps_fit <- glm(hormon ~ age + meno + size2 + size3 + grade + nodes + pgr + er + chemo,
              family = binomial, data = d1)
d1$ps <- fitted(ps_fit)
d1$w <- ifelse(d1$hormon == 1, 1 / d1$ps, 1 / (1 - d1$ps))
write.csv(d1, file.path(here, "rotterdam.csv"), row.names = FALSE)

d2 <- data.frame(
  time  = c(1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 8, 8, 9, 9, 9, 10, 10, 11, 12, 12),
  event = c(1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1),
  group = c(0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0),
  x     = c(0.5, 1.2, -0.3, 0.8, 0.1, -1.0, 2.0, 0.0, 0.7, -0.5, 1.5, 0.3, 0.9, -0.2, 1.1, 0.4,
            -0.8, 0.6, 0.2, -1.3, 1.8, 0.0, -0.4, 0.5, 1.0, -0.6, 0.3, 0.8),
  w     = c(1.0, 2.5, 0.0, 1.5, 0.7, 1.0, 3.0, 0.0, 1.2, 2.0, 0.5, 1.0, 1.0, 1.8, 0.9, 1.1, 2.2,
            0.6, 1.0, 1.4, 0.0, 1.3, 0.8, 1.6, 1.0, 2.0, 0.5, 1.0))
write.csv(d2, file.path(here, "ties.csv"), row.names = FALSE)

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

# std.err of S whatever survfit stored (fit$logse says whether std.err is on the log scale)
se_surv <- function(fit) if (isTRUE(fit$logse)) fit$std.err * fit$surv else fit$std.err
se_log <- function(fit) if (isTRUE(fit$logse)) fit$std.err else fit$std.err / fit$surv

curve <- function(fit) {
  tab <- summary(fit, rmean = "none")$table
  list(time = num(fit$time), surv = num(fit$surv), std_err = num(se_surv(fit)),
       std_err_log = num(se_log(fit)), lower = num(fit$lower), upper = num(fit$upper),
       n_risk = num(fit$n.risk), n_event = num(fit$n.event), n_censor = num(fit$n.censor),
       median = num(tab[["median"]]), median_lcl = num(tab[[grep("LCL", names(tab))]]),
       median_ucl = num(tab[[grep("UCL", names(tab))]]))
}

# IJ RMST from survfit's influence matrix: integral of the per-observation influence on S(t)
rmst_ij <- function(fit, tau) {
  keep <- fit$time <= tau
  grid <- c(0, fit$time[keep], tau)
  infl <- cbind(0, fit$influence.surv[, keep, drop = FALSE])  # S(0) = 1 has no influence
  ws <- diff(grid)
  s_left <- c(1, fit$surv[keep])
  list(value = sum(ws * s_left), se = sqrt(sum((infl %*% ws)^2)))
}

one <- function(d, tau, lr_data) {
  out <- list()
  for (arm in c("all", "0", "1")) {
    dd <- if (arm == "all") d else d[d$group == as.numeric(arm), ]
    fu_log <- survfit(Surv(time, event) ~ 1, data = dd, conf.type = "log")
    fu_ll <- survfit(Surv(time, event) ~ 1, data = dd, conf.type = "log-log")
    fu_pl <- survfit(Surv(time, event) ~ 1, data = dd, conf.type = "plain")
    fw_r <- survfit(Surv(time, event) ~ 1, data = dd, weights = w, robust = TRUE, influence = TRUE)
    fw_rll <- survfit(Surv(time, event) ~ 1, data = dd, weights = w, robust = TRUE,
                      conf.type = "log-log")
    fw_g <- survfit(Surv(time, event) ~ 1, data = dd, weights = w, robust = FALSE)
    rm_u <- summary(fu_log, rmean = tau)$table
    rm_w <- rmst_ij(fw_r, tau)
    out[[arm]] <- list(
      unweighted_log = curve(fu_log), unweighted_loglog = curve(fu_ll),
      unweighted_plain = curve(fu_pl),
      weighted_robust_log = curve(fw_r), weighted_robust_loglog = curve(fw_rll),
      weighted_greenwood_log = curve(fw_g),
      rmean_unweighted = list(tau = tau, rmean = num(rm_u[["rmean"]]), se = num(rm_u[["se(rmean)"]])),
      rmst_weighted_ij = list(tau = tau, rmean = num(rm_w$value), se = num(rm_w$se)))
  }
  sd <- survdiff(Surv(time, event) ~ group, data = d)
  # svylogrank cannot take zero weights (coxph refuses them): use the rows with w > 0
  dp <- lr_data[lr_data$w > 0, ]
  des <- svydesign(ids = ~1, weights = ~w, data = dp)
  lr <- svylogrank(Surv(time, event) ~ group, des)
  out$survdiff <- list(chisq = num(sd$chisq), obs = num(sd$obs), exp = num(sd$exp))
  out$svylogrank <- list(score = num(lr[[1]][, 1]), se = num(lr[[1]][, 2]),
                         z = num(lr[[1]][, 3]), chisq = num(lr[[2]][["Chisq"]]),
                         p = num(lr[[2]][["p"]]), n_used = nrow(dp))
  out
}

dr <- d1; dr$group <- dr$hormon
res <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              survey = as.character(packageVersion("survey")),
              jsonlite = as.character(packageVersion("jsonlite")),
              calls = c("survfit(Surv(time, event) ~ 1, data, conf.type = 'log'|'log-log'|'plain')",
                        "survfit(Surv(time, event) ~ 1, data, weights = w, robust = TRUE, influence = TRUE)",
                        "survfit(Surv(time, event) ~ 1, data, weights = w, robust = FALSE)",
                        "summary(survfit(...), rmean = tau)$table[c('rmean', 'se(rmean)')]",
                        "rmst IJ: sqrt(sum((cbind(0, fit$influence.surv[, time <= tau]) %*% diff(c(0, time[time <= tau], tau)))^2))",
                        "survdiff(Surv(time, event) ~ group, data)",
                        "svylogrank(Surv(time, event) ~ group, svydesign(ids = ~1, weights = ~w, data = data[w > 0, ]))")),
  rotterdam = one(dr, 60, dr),
  ties = one(d2, 5.5, d2))
write_json(res, file.path(here, "survival.json"), digits = NA, auto_unbox = TRUE, na = "null",
           pretty = FALSE)
