# Reference values for tests/stats/test_multiarm.py: more than two treatments (issue 18, section 3).
# Run from the repository root:  Rscript tests/reference/multiarm/make_multiarm.R
# Writes colon.csv (the input) and multiarm.json beside this script.
#
# Data: survival::colon (Moertel et al. 1990), the recurrence records (etype == 1), complete cases of age, sex,
# obstruct, nodes and extent. Three arms rx: Obs (reference, the first factor level), Lev, Lev+5FU. Outcome:
# time to recurrence in days (time, status). extent is written as text (submucosa, muscle, serosa, contiguous)
# so that both sides code it as a factor with the alphabetical first level as reference.
#
# Generalized propensity score: nnet::multinom(rx ~ age + sex + obstruct + nodes + extent), optimized to
# convergence (reltol = 1e-16, maxit = 10000; multinom's default reltol 1e-8 stops before 1e-6 agreement).
# Weights, hand-written from the fitted probabilities e_k(x) (as WeightIt documents them for multinomial
# treatments): ATE 1/e_a(x); stabilized ATE P(A = a)/e_a(x); ATT to the focal arm f e_f(x)/e_a(x); overlap
# (Li & Li 2019) h(x)/e_a(x) with h(x) = 1/sum_k 1/e_k(x).
# For each weighting: weighted SMDs per pair of arms with cobalt's multi-category conventions (hand-written:
# binary covariates raw differences, continuous ones divided by sqrt(mean over ALL arms of the unweighted
# variances) for ATE/overlap, by the focal arm's unweighted SD for ATT); per-arm weighted KM
# (survfit robust = TRUE) at landmarks with medians and IJ RMST; pairwise coxph(Surv(time, status) ~ arm,
# weights = w, robust = TRUE) on the two arms' patients; pairwise and global design-based log-rank
# (survey::svylogrank, which takes a K-level factor: a (K-1)-df Wald test of the weighted score total).
suppressMessages({library(survival); library(survey); library(nnet); library(jsonlite)})
here <- "tests/reference/multiarm"
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

d <- colon[colon$etype == 1, ]
d <- d[complete.cases(d[, c("age", "sex", "obstruct", "nodes", "extent")]), ]
d <- data.frame(id = d$id, time = d$time, status = d$status, rx = as.character(d$rx), age = d$age, sex = d$sex,
                obstruct = d$obstruct, nodes = d$nodes,
                extent = c("submucosa", "muscle", "serosa", "contiguous")[d$extent])
write.csv(d, file.path(here, "colon.csv"), row.names = FALSE)
arms <- c("Obs", "Lev", "Lev+5FU")
d$rx <- factor(d$rx, levels = arms)
d$extent <- factor(d$extent)
a <- as.integer(d$rx)

fit <- multinom(rx ~ age + sex + obstruct + nodes + extent, data = d, trace = FALSE, Hess = TRUE,
                reltol = 1e-16, abstol = 1e-30, maxit = 10000)
stopifnot(fit$convergence == 0)
e <- fitted(fit)
ea <- e[cbind(seq_len(nrow(d)), a)]
focal <- "Lev+5FU"
h <- 1 / rowSums(1 / e)
W <- list(ATE = 1 / ea, ATE_stabilized = as.numeric(table(d$rx) / nrow(d))[a] / ea,
          ATT = e[, focal] / ea, ATO = h / ea)

# cobalt-style rows: continuous as is, 0/1 as is, a factor one indicator per level
X <- data.frame(age = d$age, sex = d$sex, obstruct = d$obstruct, nodes = d$nodes)
for (lv in levels(d$extent)) X[[paste0("extent_", lv)]] <- as.numeric(d$extent == lv)
binary <- sapply(X, function(x) all(x %in% c(0, 1)))
wmean <- function(x, w) sum(w * x) / sum(w)
uvar <- function(x, bin) if (bin) mean(x) * (1 - mean(x)) else var(x)
pairs <- list(c(1, 2), c(1, 3), c(2, 3))
pair_name <- function(p) paste(arms[p[2]], "vs", arms[p[1]])
balance <- function(w, denom) {
  out <- list()
  for (p in pairs) {
    rows <- list()
    for (v in names(X)) {
      x <- X[[v]]
      diff_un <- mean(x[a == p[2]]) - mean(x[a == p[1]])
      diff_w <- wmean(x[a == p[2]], w[a == p[2]]) - wmean(x[a == p[1]], w[a == p[1]])
      s <- if (denom == "pooled") sqrt(mean(sapply(1:3, function(k) uvar(x[a == k], binary[[v]])))) else
        sqrt(uvar(x[d$rx == denom], binary[[v]]))
      rows[[v]] <- if (binary[[v]]) c(diff_un, diff_w) else c(diff_un, diff_w) / s
    }
    out[[pair_name(p)]] <- list(smd_un = num(sapply(rows, `[`, 1)), smd_w = num(sapply(rows, `[`, 2)))
  }
  out$rows <- names(X)
  out
}

times <- c(365, 1095, 1825)
tau <- 1825
rmst_ij <- function(f, tau) {  # as tests/reference/survival/make_survival.R
  keep <- f$time <= tau
  grid <- c(0, f$time[keep], tau)
  infl <- cbind(0, f$influence.surv[, keep, drop = FALSE])
  list(value = sum(diff(grid) * c(1, f$surv[keep])), se = sqrt(sum((infl %*% diff(grid))^2)))
}
survival_part <- function(w) {
  d$w <- w
  per_arm <- list()
  for (k in seq_along(arms)) {
    dk <- d[a == k, ]
    f <- survfit(Surv(time, status) ~ 1, data = dk, weights = w, robust = TRUE, influence = TRUE)
    s <- summary(f, times = times, extend = TRUE)
    tab <- summary(f, rmean = "none")$table
    r <- rmst_ij(f, tau)
    per_arm[[arms[k]]] <- list(surv = num(s$surv), std_err = num(s$std.err), lower = num(s$lower),
                               upper = num(s$upper), median = num(tab[["median"]]),
                               median_lcl = num(tab[["0.95LCL"]]), median_ucl = num(tab[["0.95UCL"]]),
                               rmst = num(r$value), rmst_se = num(r$se), n = nrow(dk))
  }
  pw <- list()
  for (p in pairs) {
    dp <- d[a %in% p, ]
    dp$arm <- as.integer(dp$rx == arms[p[2]])
    cx <- coxph(Surv(time, status) ~ arm, data = dp, weights = w, robust = TRUE, ties = "efron")
    lr <- svylogrank(Surv(time, status) ~ arm, svydesign(ids = ~1, weights = ~w, data = dp))
    pw[[pair_name(p)]] <- list(coef = num(coef(cx)), robust_se = num(sqrt(cx$var[1, 1])),
                               naive_se = num(sqrt(cx$naive.var[1, 1])), logrank_chisq = num(lr[[2]][["Chisq"]]),
                               logrank_p = num(lr[[2]][["p"]]))
  }
  g <- svylogrank(Surv(time, status) ~ rx, svydesign(ids = ~1, weights = ~w, data = d))
  list(arm = per_arm, pair = pw,
       global = list(score = num(g[[1]][, 1]), se = num(g[[1]][, 2]), chisq = num(g[[2]][["Chisq"]]),
                     p = num(g[[2]][["p"]]), df = 2L))
}

cf <- coef(fit)
res <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              survey = as.character(packageVersion("survey")), nnet = as.character(packageVersion("nnet")),
              n = nrow(d), arms = arms, focal = focal, times = times, tau = tau,
              multinom = paste("multinom(rx ~ age + sex + obstruct + nodes + extent, data, Hess = TRUE,",
                               "reltol = 1e-16, abstol = 1e-30, maxit = 10000)"),
              cox = "coxph(Surv(time, status) ~ arm, data = <the pair's patients>, weights = w, robust = TRUE, ties = 'efron')",
              km = "survfit(Surv(time, status) ~ 1, data = <one arm>, weights = w, robust = TRUE); summary(fit, times, extend = TRUE)",
              logrank = "svylogrank(Surv(time, status) ~ rx, svydesign(ids = ~1, weights = ~w, data))"),
  multinom = list(terms = colnames(cf), arms = rownames(cf),
                  coef = lapply(seq_len(nrow(cf)), function(i) num(cf[i, ])),
                  se = lapply(seq_len(nrow(cf)), function(i) num(summary(fit)$standard.errors[i, ])),
                  loglik = num(-fit$value),
                  fitted = lapply(arms, function(k) num(e[, k]))),
  weights = lapply(W, num),
  balance = list(ATE = balance(W$ATE, "pooled"), ATT = balance(W$ATT, focal), ATO = balance(W$ATO, "pooled")),
  survival = list(ATE = survival_part(W$ATE), ATT = survival_part(W$ATT), ATO = survival_part(W$ATO)))
write_json(res, file.path(here, "multiarm.json"), digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
