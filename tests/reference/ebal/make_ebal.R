# Reference values for tests/stats/test_ebal.py.
# Run from the repository root:  Rscript tests/reference/ebal/make_ebal.R
# Reads ../matching/rotterdam.csv (written by make_matching.R); writes ebal.json beside this script.
#
# WeightIt is not packaged for Debian and CRAN is not reachable here, so this script solves WeightIt's
# entropy-balancing dual independently, with optim(method = "BFGS") finished by Newton steps on the gradient equations, instead of gistcausal's Newton:
# for each weighted arm, with C = [1, X] (X standardized on the target, which leaves the solution unchanged)
# and target means M, minimize f(z) = sum(exp(-C z)) / N + sum(z * M) (WeightIt 2.0, R/weightit2ebal.R,
# objective.EB), w = exp(-C z). N is the size of the target population, so each weighted arm sums to N.
# ATT: controls weighted to the treated means; ATE: each arm to the whole-sample means. moments = 2 adds the
# squares of covariates with more than two values (a two-valued square is collinear with the covariate
# and the intercept; gistcausal drops such columns by rank). The balance constraints themselves are checked in closed form
# (weighted means equal to the targets to 1e-8).
# Effect: coxph(Surv(time, event) ~ hormon, data, weights = w, robust = TRUE) with the ATT weights.
suppressMessages({library(survival); library(jsonlite)})
here <- "tests/reference/ebal"
d <- read.csv("tests/reference/matching/rotterdam.csv")
covs <- c("age", "meno", "size2", "size3", "grade", "nodes", "pgr", "er", "chemo")

ebal_dual <- function(X, treat, estimand) {
  target <- if (estimand == "ATE") rep(TRUE, length(treat)) else treat == (estimand == "ATT")
  m <- colMeans(X[target, , drop = FALSE])
  s <- apply(X[target, , drop = FALSE], 2, function(x) sqrt(mean((x - mean(x))^2)))
  Z <- sweep(sweep(X, 2, m), 2, s, "/")
  N <- sum(target)
  w <- rep(1, length(treat))
  groups <- if (estimand == "ATE") c(0, 1) else (if (estimand == "ATT") 0 else 1)
  for (g in groups) {
    C <- cbind(1, Z[treat == g, , drop = FALSE]); M <- c(1, rep(0, ncol(Z)))
    fn <- function(z) sum(exp(-drop(C %*% z))) / N + sum(z * M)
    gr <- function(z) -drop(exp(-drop(C %*% z)) %*% C) / N + M
    he <- function(z) { e <- exp(-drop(C %*% z)); crossprod(C * e, C) / N }
    o <- optim(rep(0, ncol(C)), fn, gr, method = "BFGS", control = list(reltol = 1e-20, maxit = 1e5))
    # BFGS stops near 1e-7 imbalance (its stopping rule is on f, which is ~1); finish with plain Newton steps
    # on the gradient equations (no line search: started inside the region of quadratic convergence)
    z <- o$par
    for (k in 1:50) { if (max(abs(gr(z))) < 1e-13) break; z <- z - solve(he(z), gr(z)) }
    stopifnot(max(abs(gr(z))) < 1e-12)
    o$par <- z
    w[treat == g] <- exp(-drop(C %*% o$par))
    # closed-form check of the constraints: weighted means equal the target means
    stopifnot(max(abs(colSums(w[treat == g] * X[treat == g, , drop = FALSE]) / sum(w[treat == g]) - m)) < 1e-8)
    stopifnot(abs(sum(w[treat == g]) - N) < 1e-8)
  }
  w
}

X1 <- as.matrix(d[, covs])
nonbin <- covs[vapply(covs, function(v) length(unique(d[[v]])) > 2, logical(1))]  # two-valued: square is collinear
X2 <- cbind(X1, as.matrix(d[, nonbin])^2)
out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            solver = "optim BFGS then plain Newton polish on WeightIt's dual (independent of gistcausal's Newton)", covariates = covs,
            squared = nonbin, cases = list())
for (cs in list(list("ATT", 1, X1), list("ATE", 1, X1), list("ATT", 2, X2), list("ATC", 1, X1))) {
  w <- ebal_dual(cs[[3]], d$hormon, cs[[1]])
  nm <- paste0(cs[[1]], "_moments", cs[[2]])
  fit <- coxph(Surv(time, event) ~ hormon, data = d, weights = w, robust = TRUE)
  out$cases[[nm]] <- list(estimand = cs[[1]], moments = cs[[2]], weights = w,
                          coef = unname(coef(fit)), robust_se = unname(sqrt(diag(fit$var))))
}
write_json(out, file.path(here, "ebal.json"), digits = NA, auto_unbox = TRUE)
cat("wrote", file.path(here, "ebal.json"), "\n")
