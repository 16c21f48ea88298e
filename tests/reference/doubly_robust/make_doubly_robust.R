# Reference values for tests/test_doubly_robust.py: riskRegression::ate, estimator "AIPTW,AIPCW",
# nuisance models treated as known (known.nuisance = TRUE), exponential-form survival (product.limit = FALSE).
# Input: aiptw.csv (made by make_input.py). Output: doubly_robust.json. Run from this folder:
#   Rscript make_doubly_robust.R
suppressPackageStartupMessages({library(survival); library(riskRegression); library(jsonlite)})
d <- read.csv("aiptw.csv")
d$A <- factor(d$A)
times <- c(3, 6, 10)
# arm-specific covariate effects and baselines == one Cox model per arm (gistcausal outcome_model="cox_by_arm")
m.event.arm <- coxph(Surv(time, event) ~ strata(A) + x1:A + x2:A, data = d, x = TRUE)
# treatment as a covariate, common baseline (gistcausal outcome_model="cox")
m.event.pooled <- coxph(Surv(time, event) ~ A + x1 + x2, data = d, x = TRUE)
# censoring hazard: one Cox model per arm (gistcausal censoring="cox")
m.cens <- coxph(Surv(time, event == 0) ~ strata(A) + x1:A + x2:A, data = d, x = TRUE)
m.trt <- glm(A ~ x1 + x2, data = d, family = binomial)
run <- function(m.event) {
  fit <- ate(event = m.event, treatment = m.trt, censor = m.cens, data = d, times = times,
             estimator = "AIPTW,AIPCW", known.nuisance = TRUE, product.limit = FALSE, verbose = FALSE)
  mr <- as.data.frame(fit$meanRisk)
  dr <- as.data.frame(fit$diffRisk)
  list(time = mr$time, treatment = as.integer(as.character(mr$treatment)), risk = mr$estimate,
       risk_se = mr$se, diff_time = dr$time, diff_risk = dr$estimate, diff_se = dr$se)
}
out <- list(
  r_version = R.version.string,
  packages = list(survival = as.character(packageVersion("survival")),
                  riskRegression = as.character(packageVersion("riskRegression"))),
  call = paste("ate(event = coxph(Surv(time, event) ~ strata(A) + x1:A + x2:A | ~ A + x1 + x2),",
               "treatment = glm(A ~ x1 + x2, binomial), censor = coxph(Surv(time, event == 0) ~",
               "strata(A) + x1:A + x2:A), times = c(3, 6, 10), estimator = 'AIPTW,AIPCW',",
               "known.nuisance = TRUE, product.limit = FALSE)"),
  cox_by_arm = run(m.event.arm),
  cox = run(m.event.pooled))
write_json(out, "doubly_robust.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
