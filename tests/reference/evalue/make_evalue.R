# Reference E-values for tests/test_sensitivity.py.
#
# The EValue R package is not installable here (no CRAN access), so its formulas are transcribed
# verbatim below from EValue/R/EValue.R and EValue/R/effect_measures.R (EValue 4.1.x, Mathur, Ding,
# Riddell & VanderWeele; github.com/mayamathur/evalue_package): threshold(), evalues.RR()'s
# limit-selection and "CI crosses true" rules, toRR.OR/toRR.HR/toRR.MD, and evalues.MD()'s
# exp(0.91 * d -/+ 1.78 * se) interval. Each case records the equivalent EValue call in "r_call".
# Run:  Rscript tests/reference/evalue/make_evalue.R   (writes evalue.json beside this script)
library(jsonlite)

threshold <- function(x, true = 1) {
  if (is.na(x)) return(NA)
  if (x <= 1) { x <- 1 / x; true <- 1 / true }
  if (true <= x) return((x + sqrt(x * (x - true))) / true)
  rat <- true / x
  rat + sqrt(rat * (rat - 1))
}

evalues_RR <- function(est, lo = NA, hi = NA, true = 1) {
  null.CI <- NA
  if (est > true & !is.na(lo)) null.CI <- (lo < true)
  if (est < true & !is.na(hi)) null.CI <- (hi > true)
  E <- sapply(c(est, lo, hi), function(x) threshold(x, true = true))
  if (!is.na(null.CI) & null.CI == TRUE) E[2:3] <- 1
  if (!is.na(lo) | !is.na(hi)) {
    if (est > true) E[3] <- NA
    if (est < true) E[2] <- NA
    if (est == true) { E[2] <- 1; E[3] <- NA }
  }
  list(rr = c(est, lo, hi), point = E[1], lower = E[2], upper = E[3])
}

hr_to_rr <- function(x, rare) if (rare) x else (1 - 0.5^sqrt(x)) / (1 - 0.5^sqrt(1 / x))
or_to_rr <- function(x, rare) if (rare) x else sqrt(x)

cases <- list()
add <- function(id, r_call, measure, est, lo, hi, true, rare, res, se = NA) {
  cases[[length(cases) + 1]] <<- list(
    id = id, r_call = r_call, measure = measure, estimate = est, ci_low = lo, ci_high = hi, true = true,
    rare = rare, se = se, rr = res$rr[1], rr_ci_low = res$rr[2], rr_ci_high = res$rr[3],
    evalue = res$point, evalue_lower = res$lower, evalue_upper = res$upper)
}

# risk ratios
for (x in list(c(3.9, 1.8, 8.7, 1), c(0.80, 0.71, 0.91, 1), c(10.729780, 8.017457, 14.359688, 1),
               c(1.3, 0.9, 1.8, 1), c(2, 1.5, 2.7, 1.5), c(0.5, 0.4, 0.6, 0.8), c(1.2, 1.1, 1.3, 2))) {
  add(sprintf("rr_%g_%g_%g_true%g", x[1], x[2], x[3], x[4]),
      sprintf("evalues.RR(%g, %g, %g, true = %g)", x[1], x[2], x[3], x[4]), "rr", x[1], x[2], x[3], x[4], NA,
      evalues_RR(x[1], x[2], x[3], x[4]))
}
# hazard ratios, common and rare
for (x in list(c(0.56, 0.46, 0.69), c(1.44, 1.02, 2.03), c(0.71, 0.45, 1.12), c(2.5, 1.6, 3.9))) {
  for (rare in c(FALSE, TRUE)) {
    add(sprintf("hr_%g_%g_%g_rare%s", x[1], x[2], x[3], rare),
        sprintf("evalues.HR(%g, %g, %g, rare = %s)", x[1], x[2], x[3], rare), "hr", x[1], x[2], x[3], 1, rare,
        evalues_RR(hr_to_rr(x[1], rare), hr_to_rr(x[2], rare), hr_to_rr(x[3], rare), hr_to_rr(1, rare)))
  }
}
# odds ratios, common and rare
for (x in list(c(0.86, 0.75, 0.99), c(3, 1.2, 7.5))) {
  for (rare in c(FALSE, TRUE)) {
    add(sprintf("or_%g_%g_%g_rare%s", x[1], x[2], x[3], rare),
        sprintf("evalues.OR(%g, %g, %g, rare = %s)", x[1], x[2], x[3], rare), "or", x[1], x[2], x[3], 1, rare,
        evalues_RR(or_to_rr(x[1], rare), or_to_rr(x[2], rare), or_to_rr(x[3], rare), or_to_rr(1, rare)))
  }
}
# standardized mean differences with a standard error (evalues.MD)
for (x in list(c(0.5, 0.25), c(-0.3, 0.1), c(0.2, 0.15))) {
  add(sprintf("smd_%g_se%g", x[1], x[2]), sprintf("evalues.MD(%g, se = %g)", x[1], x[2]), "smd", x[1], NA, NA,
      0, NA, evalues_RR(exp(0.91 * x[1]), exp(0.91 * x[1] - 1.78 * x[2]), exp(0.91 * x[1] + 1.78 * x[2]), 1),
      se = x[2])
}

# competing risks (gistcausal.stats.evalue.evalue_from_estimate, measures cs_hr, cif_ratio, cif_diff of one cause):
# cause-specific HR -> RR by the cause's own event proportion (rare below 0.15, else VanderWeele 2020's formula);
# the CIF ratio is a risk ratio of "failed from the cause by t" (as is); the CIF difference F1 - F0 is the risk
# difference route RR = (F0 + RD) / F0 with the control arm's F0 held fixed (EValue's evalues.RD needs 2x2 counts,
# so the equivalent call is evalues.RR on the converted values).
competing <- list()
add_cr <- function(id, r_call, measure, est, lo, hi, prop, baseline, res) {
  competing[[length(competing) + 1]] <<- list(
    id = id, r_call = r_call, measure = measure, estimate = est, ci_low = lo, ci_high = hi,
    event_proportion = prop, baseline_risk = baseline, rr = res$rr[1], rr_ci_low = res$rr[2],
    rr_ci_high = res$rr[3], evalue = res$point, evalue_lower = res$lower, evalue_upper = res$upper)
}
for (x in list(c(0.926, 0.597, 1.435, 0.385), c(0.62, 0.41, 0.94, 0.08), c(1.9, 1.3, 2.8, 0.15))) {
  rare <- x[4] < 0.15
  add_cr(sprintf("cs_hr_%g_%g_%g_prop%g", x[1], x[2], x[3], x[4]),
         sprintf("evalues.HR(%g, %g, %g, rare = %s)", x[1], x[2], x[3], rare), "cs_hr", x[1], x[2], x[3], x[4], NA,
         evalues_RR(hr_to_rr(x[1], rare), hr_to_rr(x[2], rare), hr_to_rr(x[3], rare), hr_to_rr(1, rare)))
}
for (x in list(c(1.2247, 0.80, 1.87), c(0.55, 0.36, 0.84))) {
  add_cr(sprintf("cif_ratio_%g_%g_%g", x[1], x[2], x[3]), sprintf("evalues.RR(%g, %g, %g)", x[1], x[2], x[3]),
         "cif_ratio", x[1], x[2], x[3], NA, NA, evalues_RR(x[1], x[2], x[3], 1))
}
for (x in list(c(0.05, -0.07, 0.17, 0.223), c(-0.08, -0.15, -0.01, 0.30), c(0.12, 0.04, 0.20, 0.10))) {
  p0 <- x[4]
  rr <- (p0 + x[1:3]) / p0
  add_cr(sprintf("cif_diff_%g_%g_%g_F0%g", x[1], x[2], x[3], p0),
         sprintf("evalues.RR((%g + %g) / %g, (%g + %g) / %g, (%g + %g) / %g)", p0, x[1], p0, p0, x[2], p0, p0,
                 x[3], p0),
         "cif_diff", x[1], x[2], x[3], NA, p0, evalues_RR(rr[1], rr[2], rr[3], 1))
}

out <- list(
  source = "EValue 4.1.x formulas transcribed into base R (see header); no EValue install needed",
  r_version = R.version.string, jsonlite_version = as.character(packageVersion("jsonlite")),
  published = list(
    list(ref = "VanderWeele & Ding 2017, Ann Intern Med 167:268, breastfeeding example",
         measure = "rr", estimate = 3.9, ci_low = 1.8, ci_high = 8.7, evalue = 7.26, evalue_ci = 3.0, digits = 2),
    list(ref = "VanderWeele & Ding 2017, leukemia example (EValue docs: evalues.RR(0.80, 0.71, 0.91))",
         measure = "rr", estimate = 0.80, ci_low = 0.71, ci_high = 0.91, evalue = 1.81, evalue_ci = 1.43, digits = 2)),
  cases = cases, competing = competing)
here <- tryCatch(dirname(sys.frame(1)$ofile), error = function(e) NULL)
if (is.null(here)) {
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  here <- if (length(f)) dirname(f) else "."
}
write_json(out, file.path(here, "evalue.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
