# Reference balance statistics for tests/test_balance.py, computed by hand with the formulas documented by
# R's cobalt (cobalt is not installable here; no CRAN access). Conventions (cobalt ?col_w_smd, ?bal.tab):
#  * SMD = (weighted mean treated - weighted mean control) / s, where s comes from the UNWEIGHTED sample:
#    s.d.denom "pooled" (ATE, ATO, matching) = sqrt((s1^2 + s0^2) / 2); "treated" (ATT) = s1; "control" (ATC) = s0.
#  * continuous variance: the usual n-1 sample variance; binary variance: p (1 - p).
#  * binary = "raw" (default): binary covariates get the raw difference in proportions (not standardized).
#  * variance ratio (continuous only): weighted var treated / weighted var control, with the weighted variance
#    sum(w)/(sum(w)^2 - sum(w^2)) * sum(w (x - m)^2).
#  * KS: max |F1 - F0| of the weighted empirical CDFs; for binary covariates the difference in proportions.
#  * categorical with > 2 levels: one indicator per level; two-valued variables: indicator of the higher value.
# Run from this folder: Rscript make_balance.R  -> balance.json
suppressPackageStartupMessages({library(survival); library(jsonlite)})
rot <- read.csv("../propensity/rotterdam.csv")
rot$size <- factor(rot$size, levels = c("<=20", "20-50", ">50"))
m <- glm(hormon ~ age + meno + size + grade + nodes + pgr + er, family = binomial, data = rot,
         control = glm.control(epsilon = 1e-14, maxit = 100))
ps <- unname(fitted(m)); t <- rot$hormon
W <- list(none = rep(1, nrow(rot)),
          ATE = t / ps + (1 - t) / (1 - ps),
          ATT = t + (1 - t) * ps / (1 - ps),
          ATO = t * (1 - ps) + (1 - t) * ps)
X <- data.frame(age = rot$age, meno = rot$meno, `size_<=20` = as.numeric(rot$size == "<=20"),
                `size_20-50` = as.numeric(rot$size == "20-50"), `size_>50` = as.numeric(rot$size == ">50"),
                grade = as.numeric(rot$grade == 3), nodes = rot$nodes, pgr = rot$pgr, er = rot$er,
                check.names = FALSE)
binary <- c(age = FALSE, meno = TRUE, `size_<=20` = TRUE, `size_20-50` = TRUE, `size_>50` = TRUE,
            grade = TRUE, nodes = FALSE, pgr = FALSE, er = FALSE)
wmean <- function(x, w) sum(w * x) / sum(w)
wvar <- function(x, w) { m <- wmean(x, w); sum(w) / (sum(w)^2 - sum(w^2)) * sum(w * (x - m)^2) }
uvar <- function(x, bin) if (bin) mean(x) * (1 - mean(x)) else var(x)
wks <- function(x, t, w) {
  v <- sort(unique(x))
  F1 <- sapply(v, function(a) sum(w[t == 1 & x <= a]) / sum(w[t == 1]))
  F0 <- sapply(v, function(a) sum(w[t == 0 & x <= a]) / sum(w[t == 0]))
  max(abs(F1 - F0))
}
denom_of <- list(none = "pooled", ATE = "pooled", ATT = "treated", ATO = "pooled")
out <- list()
for (est in names(W)) {
  w <- W[[est]]; res <- list()
  for (v in names(X)) {
    x <- X[[v]]; bin <- binary[[v]]
    s1 <- uvar(x[t == 1], bin); s0 <- uvar(x[t == 0], bin)
    denom <- switch(denom_of[[est]], pooled = sqrt((s1 + s0) / 2), treated = sqrt(s1), control = sqrt(s0))
    diff <- wmean(x[t == 1], w[t == 1]) - wmean(x[t == 0], w[t == 0])
    res[[v]] <- list(mean_treated = wmean(x[t == 1], w[t == 1]), mean_control = wmean(x[t == 0], w[t == 0]),
                     diff_raw = diff, smd_std = diff / denom,
                     vr = if (bin) NA else wvar(x[t == 1], w[t == 1]) / wvar(x[t == 0], w[t == 0]),
                     ks = wks(x, t, w))
  }
  out[[est]] <- list(stats = res, ess_treated = sum(w[t == 1])^2 / sum(w[t == 1]^2),
                     ess_control = sum(w[t == 0])^2 / sum(w[t == 0]^2))
}
# ATC denominators on the unweighted sample (s.d.denom = "control"), for the age covariate
out$ATC_age_smd_unweighted <- (mean(rot$age[t == 1]) - mean(rot$age[t == 0])) / sd(rot$age[t == 0])
out$meta <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                 jsonlite = as.character(packageVersion("jsonlite")), made_by = "make_balance.R",
                 cobalt_docs = "https://ngreifer.github.io/cobalt/reference/balance-summary.html; ?bal.tab (s.d.denom, binary)")
write_json(out, "balance.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
str(out$ATE$stats$age); str(out$ATE$stats$meno)

# ---- Table 1 references (tests/test_tables.py) ----------------------------------------------------------
suppressPackageStartupMessages(library(survey))
# (a) The study's published Table 1 counts (Dutch GIST Registry; sunitinib n = 72 vs imatinib 800 n = 38),
#     with the published p-values sex 0.20, localization 0.45, mitotic count 0.21, mutation 0.39 (chi-square).
study <- list(
  sex = rbind(sunitinib = c(43, 29), imatinib = c(27, 11)),
  localization = rbind(sunitinib = c(40, 20, 2, 1, 0, 2, 0, 1, 6), imatinib = c(16, 12, 2, 1, 1, 1, 1, 1, 3)),
  mitotic = rbind(sunitinib = c(32, 23, 17), imatinib = c(13, 17, 8)),
  mutation = rbind(sunitinib = c(47, 4, 1, 0, 0, 8, 2, 6, 4), imatinib = c(27, 3, 1, 1, 1, 3, 0, 2, 0)),
  stage = rbind(sunitinib = c(11, 6, 54, 1), imatinib = c(6, 4, 27, 1)))
chisq_p <- lapply(study, function(tab) list(
  pearson = suppressWarnings(chisq.test(tab, correct = FALSE)$p.value),
  yates = suppressWarnings(chisq.test(tab, correct = TRUE)$p.value),
  fisher = fisher.test(tab, workspace = 2e7)$p.value))
# mitotic count without the "not reported" column
chisq_p$mitotic_reported_only <- list(pearson = chisq.test(study$mitotic[, 1:2], correct = FALSE)$p.value)
# (b) Rotterdam, hormon arms: the tests table_one runs.
tt <- t.test(age ~ hormon, data = rot, var.equal = TRUE)
wt <- wilcox.test(nodes ~ hormon, data = rot, exact = FALSE, correct = TRUE)
cs <- chisq.test(table(rot$size, rot$hormon), correct = FALSE)
# (c) ATE-weighted descriptive statistics per arm: survey svymean / svyquantile(qrule = "math"),
#     SD with the reliability-weights variance used in balance (cobalt's formula).
w_ate <- W$ATE
wtab <- list()
for (arm in c(1, 0)) {
  d <- svydesign(ids = ~1, weights = ~w, data = data.frame(age = rot$age[t == arm], nodes = rot$nodes[t == arm],
                                                           size = rot$size[t == arm], w = w_ate[t == arm]))
  qa <- svyquantile(~age, d, c(0.25, 0.5, 0.75), qrule = "math")$age[, 1]
  qn <- svyquantile(~nodes, d, c(0.25, 0.5, 0.75), qrule = "math")$nodes[, 1]
  wtab[[as.character(arm)]] <- list(
    sum_w = sum(w_ate[t == arm]), age_mean = unname(coef(svymean(~age, d))),
    age_sd = sqrt(wvar(rot$age[t == arm], w_ate[t == arm])), age_q = unname(qa), nodes_q = unname(qn),
    size_prop = unname(coef(svymean(~size, d))))
}
out$table_one <- list(study_chisq = chisq_p,
                      rotterdam = list(age_t_p = tt$p.value, nodes_wilcox_p = wt$p.value, size_chisq_p = cs$p.value,
                                       age_mean = tapply(rot$age, rot$hormon, mean), age_sd = tapply(rot$age, rot$hormon, sd),
                                       nodes_median = tapply(rot$nodes, rot$hormon, median)),
                      weighted_ate = wtab,
                      calls = c("chisq.test(tab, correct = FALSE)", "t.test(age ~ hormon, var.equal = TRUE)",
                                "wilcox.test(nodes ~ hormon, exact = FALSE, correct = TRUE)",
                                "svyquantile(~x, svydesign(ids = ~1, weights = ~w), qrule = 'math')"))
out$meta$survey <- as.character(packageVersion("survey"))
write_json(out, "balance.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
str(out$table_one$study_chisq)
