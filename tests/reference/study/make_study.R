# Reference values for the study's own (unweighted) analysis on the default synthetic cohort.
# Input: study_cohort.csv (written by make_input.py). Output: study.json.
# Run: Rscript tests/reference/study/make_study.R   (from the repository root)
suppressPackageStartupMessages({library(survival); library(survey); library(jsonlite)})
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
# Propensity model and IPTW analysis (ATE, stabilized weights) on the same cohort
ps_fit <- glm(treatment ~ sex + stage_group + localization_group + mitotic_count + mutation_group +
                age_at_diagnosis + log(tumor_size_cm) + log(first_line_months), family = binomial, data = d,
              control = glm.control(epsilon = 1e-14, maxit = 100))
ps <- unname(fitted(ps_fit))
p1 <- mean(d$treatment)
w <- ifelse(d$treatment == 1, p1 / ps, (1 - p1) / (1 - ps))
out$propensity <- list(loglik = as.numeric(logLik(ps_fit)), fitted = ps, n_coef = length(coef(ps_fit)),
                       max_abs_diff_ps_vs_python = max(abs(ps - d$ps)), w = w)
iptw <- list()
for (o in c("pfs", "os")) {
  f <- as.formula(sprintf("Surv(%s_time, %s_event) ~ treatment", o, o))
  cx <- coxph(f, data = d, weights = w, robust = TRUE, ties = "efron")
  km <- survfit(f, data = d, weights = w, robust = TRUE)
  s12 <- summary(km, times = 12)
  des <- svydesign(ids = ~1, weights = ~w, data = d)
  lr <- svylogrank(f, design = des)
  iptw[[o]] <- list(hr = unname(exp(coef(cx))), robust_se = unname(sqrt(diag(vcov(cx)))),
                    naive_se = unname(sqrt(diag(cx$naive.var))),
                    surv12 = s12$surv, lower12 = s12$lower, upper12 = s12$upper,
                    svylogrank_chisq = unname(lr[[2]][1]), svylogrank_p = unname(lr[[2]][2]))
}
out$iptw_ate <- iptw
out$survey_version <- as.character(packageVersion("survey"))
out$calls <- c('glm(treatment ~ ... + log(tumor_size_cm) + log(first_line_months), binomial); w = P(A)/P(A|X) (stabilized ATE)',
               'coxph(Surv(time, event) ~ treatment, data = d, weights = w, robust = TRUE, ties = "efron")',
               'survfit(Surv(time, event) ~ treatment, data = d, weights = w, robust = TRUE)',
               'svylogrank(Surv(time, event) ~ treatment, svydesign(ids = ~1, weights = ~w, data = d))','survfit(Surv(time, event) ~ treatment, data = d)', 'survdiff(Surv(time, event) ~ treatment, data = d)',
               'coxph(Surv(time, event) ~ treatment, data = d, ties = "efron")',
               'wilcox.test(a, b, exact = FALSE, correct = TRUE)')
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "study.json"))
cat("wrote study.json\n")
