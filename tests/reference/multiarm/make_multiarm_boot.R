# Reference replicates for the K-arm bootstrap (tests/inference/test_multiarm_bootstrap.py; issue 18).
# Run from the repository root, after python tests/reference/multiarm/make_multiarm_boot_indices.py:
#   Rscript tests/reference/multiarm/make_multiarm_boot.R
# Reads colon.csv (written by make_multiarm.R) and boot_indices.csv (one column per replicate, 1-based rows of
# colon.csv drawn within arms by gistcausal); writes multiarm_boot.json beside this script.
#
# For each fixed resample, the whole K-arm analysis is recomputed independently of gistcausal:
#   nnet::multinom(rx ~ age + sex + obstruct + nodes + extent) refitted on the resample (reltol = 1e-16), with
#   age and nodes centred and scaled within the resample: the fitted probabilities are invariant to that
#   reparameterization, and without it nnet's BFGS stops with a score of about 2e-4 (uncentred age next to the
#   intercept). Even centred, BFGS stops with scores up to 1e-5 on some resamples, which moves a 1000-day RMST
#   by 1e-5 days; so nnet's solution is then polished by three Newton-Raphson steps written here (the MLE is
#   unique; the steps only remove the optimizer's residual, and the largest score before and after is stored);
#   weights hand-written from the refitted probabilities: ATE 1/e_a(x), stabilized ATE P(A = a)/e_a(x) (shares
#   of the resample), ATT e_f(x)/e_a(x) with focal arm Lev+5FU, overlap h(x)/e_a(x), h = 1/sum_k 1/e_k(x);
#   per arm survfit(Surv(time, status) ~ 1, weights = w) at 365 and 1095 days (summary(extend = TRUE)) and the
#   RMST to 1825 days (area under the step function);
#   per pair coxph(Surv(time, status) ~ arm, data = <the pair's rows of the resample>, weights = w,
#   ties = "efron"): the log hazard ratio of the later arm vs the earlier one.
suppressMessages({library(survival); library(nnet); library(jsonlite)})
here <- "tests/reference/multiarm"
arms <- c("Obs", "Lev", "Lev+5FU")
focal <- "Lev+5FU"
times <- c(365, 1095)
tau <- 1825
d0 <- read.csv(file.path(here, "colon.csv"), stringsAsFactors = FALSE)
idx <- read.csv(file.path(here, "boot_indices.csv"))
pairs <- list(c(1, 2), c(1, 3), c(2, 3))
pair_name <- function(p) paste(arms[p[2]], "vs", arms[p[1]])

rmst <- function(f, tau) {
  keep <- f$time <= tau
  grid <- c(0, f$time[keep], tau)
  sum(diff(grid) * c(1, f$surv[keep]))
}

replicate_stats <- function(d) {
  d$rx <- factor(d$rx, levels = arms)
  d$extent <- factor(d$extent)
  a <- as.integer(d$rx)
  d$age_s <- (d$age - mean(d$age)) / sd(d$age)
  d$nodes_s <- (d$nodes - mean(d$nodes)) / sd(d$nodes)
  fit <- multinom(rx ~ age_s + sex + obstruct + nodes_s + extent, data = d, trace = FALSE,
                  reltol = 1e-16, abstol = 1e-30, maxit = 10000)
  stopifnot(fit$convergence == 0)
  X <- model.matrix(~ age_s + sex + obstruct + nodes_s + extent, d)
  Y <- outer(a, seq_along(arms), "==") * 1
  B <- t(coef(fit))[colnames(X), ]
  probs <- function(B) { eta <- cbind(0, X %*% B); P <- exp(eta - apply(eta, 1, max)); P / rowSums(P) }
  score <- function(P) as.vector(t(X) %*% (Y[, -1] - P[, -1]))
  score_nnet <- max(abs(score(fitted(fit))))
  for (step in 1:3) {
    P <- probs(B)
    m <- length(arms) - 1; q <- ncol(X)
    H <- matrix(0, m * q, m * q)
    for (k in 1:m) for (l in 1:m) {
      H[(k - 1) * q + 1:q, (l - 1) * q + 1:q] <- t(X) %*% (X * (P[, k + 1] * ((k == l) - P[, l + 1])))
    }
    B <- B + matrix(solve(H, score(P)), ncol = m)
  }
  e <- probs(B)
  colnames(e) <- arms
  stopifnot(max(abs(e - fitted(fit))) < 1e-5)   # the polish only moves nnet's solution by rounding
  scores[[length(scores) + 1]] <<- c(nnet = score_nnet, polished = max(abs(score(e))))
  ea <- e[cbind(seq_len(nrow(d)), a)]
  W <- list(ATE = 1 / ea, ATE_stabilized = as.numeric(table(d$rx) / nrow(d))[a] / ea, ATT = e[, focal] / ea,
            ATO = (1 / rowSums(1 / e)) / ea)
  lapply(W, function(w) {
    d$w <- w
    surv <- list(); rm <- list(); loghr <- list()
    for (k in seq_along(arms)) {
      f <- survfit(Surv(time, status) ~ 1, data = d[a == k, ], weights = w)
      surv[[arms[k]]] <- summary(f, times = times, extend = TRUE)$surv
      rm[[arms[k]]] <- rmst(f, tau)
    }
    for (p in pairs) {
      dp <- d[a %in% p, ]
      dp$arm <- as.integer(dp$rx == arms[p[2]])
      loghr[[pair_name(p)]] <- unname(coef(coxph(Surv(time, status) ~ arm, data = dp, weights = w, ties = "efron")))
    }
    list(surv = surv, rmst = rm, log_hr = loghr)
  })
}

scores <- list()
reps <- lapply(names(idx), function(r) replicate_stats(d0[idx[[r]], ]))
names(reps) <- names(idx)
res <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              nnet = as.character(packageVersion("nnet")), arms = arms, focal = focal, times = times, tau = tau,
              multinom = "multinom(rx ~ scale(age) + sex + obstruct + scale(nodes) + extent, reltol = 1e-16, abstol = 1e-30, maxit = 10000) (scaled within the resample)",
              cox = "coxph(Surv(time, status) ~ arm, data = <pair>, weights = w, ties = 'efron')",
              indices = "boot_indices.csv (1-based rows of colon.csv, one column per replicate)"),
  max_score = lapply(scores, as.list), replicates = reps)
write_json(res, file.path(here, "multiarm_boot.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE)
