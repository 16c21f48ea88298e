# Reference values for tests/test_plasmode.py (Weibull PH generating models of the plasmode simulation).
# Run from the repository root:  Rscript tests/reference/plasmode/make_plasmode.R
# Input: weibull.csv (written by make_input.py: time, event, design columns z1..z12 of the synthetic cohort).
# survreg's Weibull AFT  log T = mu + x'alpha + sigma W  is the PH model  Lambda = exp(c0 + x'b) t^k  with
# k = 1/sigma, b = -alpha/sigma, c0 = -mu/sigma.
suppressMessages({library(survival); library(jsonlite)})
here <- "tests/reference/plasmode"
d <- read.csv(file.path(here, "weibull.csv"))
zs <- grep("^z", names(d), value = TRUE)
f <- as.formula(paste("Surv(time, status) ~", paste(zs, collapse = " + ")))
ph <- function(status, f) {
  d$status <- status
  fit <- survreg(f, data = d, dist = "weibull", control = survreg.control(rel.tolerance = 1e-13, maxiter = 500))
  s <- fit$scale
  list(shape = 1 / s, log_rate = -unname(coef(fit)[1]) / s, coef = -unname(coef(fit)[-1]) / s,
       loglik = fit$loglik[2])
}
# censoring: treatment only (11 censorings are too few for 12 covariates; see plasmode censoring_model="auto")
res <- list(event = ph(d$event, f), censoring = ph(1 - d$event, Surv(time, status) ~ z1),
            call = "survreg(Surv(time, status) ~ z1 + ... + z12 (event) or ~ z1 (censoring), dist = 'weibull', control = survreg.control(rel.tolerance = 1e-13, maxiter = 500))",
            R = R.version.string, survival = as.character(packageVersion("survival")))
write_json(res, file.path(here, "plasmode.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
