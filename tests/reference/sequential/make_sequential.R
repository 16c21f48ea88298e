# Reference values for tests/test_sequential.py (pooled sequential trials, SE clustered by patient).
# Run from the repository root:  Rscript tests/reference/sequential/make_sequential.R
# Input: sequential_trials.csv (written by make_input.py); output: sequential.json beside this script.
suppressMessages({library(survival); library(jsonlite)})
here <- "tests/reference/sequential"
d <- read.csv(file.path(here, "sequential_trials.csv"))
fit_one <- function(w, ties) {
  f <- if (w) coxph(Surv(time, event) ~ arm + l + trial, data = d, weights = w, cluster = id, ties = ties)
       else coxph(Surv(time, event) ~ arm + l + trial, data = d, cluster = id, ties = ties)
  list(coef = unname(coef(f)), se_model = unname(sqrt(diag(f$naive.var))), se_cluster = unname(sqrt(diag(f$var))))
}
km <- survfit(Surv(time, event) ~ arm, data = d)
s <- summary(km, times = c(3, 6, 12))
res <- list(meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                        jsonlite = as.character(packageVersion("jsonlite")),
                        calls = c("coxph(Surv(time, event) ~ arm + l + trial, data, [weights = w,] cluster = id, ties = 'efron'|'breslow')",
                                  "sqrt(diag(fit$naive.var)) (model SE), sqrt(diag(fit$var)) (clustered SE)",
                                  "summary(survfit(Surv(time, event) ~ arm, data), times = c(3, 6, 12))$surv")),
            unweighted_efron = fit_one(FALSE, "efron"), weighted_efron = fit_one(TRUE, "efron"),
            weighted_breslow = fit_one(TRUE, "breslow"),
            km = list(strata = as.character(s$strata), time = s$time, surv = s$surv))
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), file.path(here, "sequential.json"))
