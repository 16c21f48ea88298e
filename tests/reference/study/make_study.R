# Reference values for the study's own (unweighted) analysis on the default synthetic cohort.
# Input: study_cohort.csv (written by make_input.py). Output: study.json.
# Run: Rscript tests/reference/study/make_study.R   (from the repository root)
suppressPackageStartupMessages({library(survival); library(jsonlite)})
here <- "tests/reference/study"
d <- read.csv(file.path(here, "study_cohort.csv"))
out <- list(R_version = R.version.string, survival_version = as.character(packageVersion("survival")))
for (o in c("pfs", "os", "os_from_diagnosis")) {
  f <- as.formula(sprintf("Surv(%s_time, %s_event) ~ treatment", o, o))
  fit <- survfit(f, data = d)                      # conf.type = "log" (R's default)
  tab <- summary(fit)$table
  sd <- survdiff(f, data = d)
  s12 <- summary(fit, times = 12)
  out[[o]] <- list(
    median = unname(tab[, "median"]), lcl = unname(tab[, "0.95LCL"]), ucl = unname(tab[, "0.95UCL"]),
    events = unname(tab[, "events"]), strata = names(fit$strata),
    logrank_chisq = unname(sd$chisq), logrank_p = 1 - pchisq(sd$chisq, 1),
    surv12 = s12$surv, se12 = s12$std.err, lower12 = s12$lower, upper12 = s12$upper,
    cox_hr = unname(exp(coef(coxph(f, data = d, ties = "efron")))),
    cox_se = unname(sqrt(diag(vcov(coxph(f, data = d, ties = "efron")))))
  )
}
a <- d$sunitinib_failure_time[d$treatment == 1 & !is.na(d$sunitinib_failure_time)]
b <- d$sunitinib_failure_time[d$treatment == 0 & !is.na(d$sunitinib_failure_time)]
w <- suppressWarnings(wilcox.test(a, b, exact = FALSE, correct = TRUE))
out$sunitinib_failure <- list(n_a = length(a), n_b = length(b), median_a = median(a), median_b = median(b),
                              W = unname(w$statistic), p = w$p.value)
out$calls <- c('survfit(Surv(time, event) ~ treatment, data = d)', 'survdiff(Surv(time, event) ~ treatment, data = d)',
               'coxph(Surv(time, event) ~ treatment, data = d, ties = "efron")',
               'wilcox.test(a, b, exact = FALSE, correct = TRUE)')
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "study.json"))
cat("wrote study.json\n")
