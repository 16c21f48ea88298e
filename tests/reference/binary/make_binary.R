# Reference values for tests/stats/test_binary.py: IPTW mean difference, risk difference, risk ratio and odds
# ratio on NHEFS (Hernan & Robins, Causal Inference: What If, programs 12.1-12.4), with the HC0 sandwich.
# Run from the repository root:  Rscript tests/reference/binary/make_binary.R
# Reads nhefs.csv (written by make_input.py) and writes binary.json beside this script.
#
# geepack::geeglm(y ~ qsmk, weights = w, id = seqn, corstr = "independence") is the book's own call; its
# std.err ("san.se") is the HC0 sandwich of the weighted GLM, which equals sandwich::vcovHC(glm, type = "HC0")
# (both are recorded here for the continuous outcome, as a cross-check).
suppressMessages({library(geepack); library(sandwich); library(jsonlite)})
here <- "tests/reference/binary"
d <- read.csv(file.path(here, "nhefs.csv"))
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

# program 12.2: the book's propensity model
ps_fit <- glm(qsmk ~ sex + race + age + I(age^2) + as.factor(education) + smokeintensity +
                I(smokeintensity^2) + smokeyrs + I(smokeyrs^2) + as.factor(exercise) + as.factor(active) +
                wt71 + I(wt71^2), family = binomial(), data = d)
ps <- fitted(ps_fit)
p1 <- mean(d$qsmk)
wts <- list(
  ATE = ifelse(d$qsmk == 1, 1 / ps, 1 / (1 - ps)),                      # program 12.2
  ATE_stabilized = ifelse(d$qsmk == 1, p1 / ps, (1 - p1) / (1 - ps)),   # program 12.3
  ATT = ifelse(d$qsmk == 1, 1, ps / (1 - ps)))

# binomial fits on non-integer weights warn "non-integer #successes"; expected with IP weights
one_fit <- function(formula, family, w, start = NULL) {
  d$.w <- w
  # do.call: geeglm evaluates its arguments in `data`, where a variable `start` would not be found
  fit <- do.call(geeglm, list(formula = formula, family = family, data = d, weights = d$.w, id = d$seqn,
                              corstr = "independence", start = start))
  s <- summary(fit)$coefficients
  list(coef = num(coef(fit)[["qsmk"]]), se = num(s["qsmk", "Std.err"]),
       intercept = num(coef(fit)[["(Intercept)"]]), intercept_se = num(s["(Intercept)", "Std.err"]),
       ci_low = num(coef(fit)[["qsmk"]] - qnorm(0.975) * s["qsmk", "Std.err"]),
       ci_high = num(coef(fit)[["qsmk"]] + qnorm(0.975) * s["qsmk", "Std.err"]))
}

res <- list(
  meta = list(R = R.version.string, geepack = as.character(packageVersion("geepack")),
              sandwich = as.character(packageVersion("sandwich")), n = nrow(d),
              ps_call = paste("glm(qsmk ~ sex + race + age + I(age^2) + as.factor(education) + smokeintensity +",
                              "I(smokeintensity^2) + smokeyrs + I(smokeyrs^2) + as.factor(exercise) +",
                              "as.factor(active) + wt71 + I(wt71^2), family = binomial())"),
              call = "geeglm(y ~ qsmk, family, weights = w, id = seqn, corstr = 'independence')"),
  ps = list(coef = num(coef(ps_fit)), names = names(coef(ps_fit)), mean_ps = num(mean(ps))))
for (nm in names(wts)) {
  w <- wts[[nm]]
  m0 <- weighted.mean(d$death[d$qsmk == 0], w[d$qsmk == 0])
  m1 <- weighted.mean(d$death[d$qsmk == 1], w[d$qsmk == 1])
  g <- glm(wt82_71 ~ qsmk, data = transform(d, .w = w), weights = .w)
  res[[nm]] <- list(
    weights = list(sum = num(sum(w)), mean = num(mean(w)), sd = num(sd(w)), min = num(min(w)), max = num(max(w))),
    mean_diff = one_fit(wt82_71 ~ qsmk, gaussian(), w),
    mean_diff_hc0_se = num(sqrt(diag(vcovHC(g, type = "HC0")))[["qsmk"]]),
    risk_diff = one_fit(death ~ qsmk, binomial(link = "identity"), w),
    log_risk_ratio = one_fit(death ~ qsmk, binomial(link = "log"), w),
    log_odds_ratio = one_fit(death ~ qsmk, binomial(link = "logit"), w),
    risk = c(m0, m1))
}
write_json(res, file.path(here, "binary.json"), digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
