# Reference values for tests/test_cox.py.
# Run from the repository root:  Rscript tests/reference/cox/make_cox.R
# Uses ../survival/rotterdam.csv and ../survival/ties.csv (written by make_survival.R, weights included)
# and writes cox.json beside this script.
suppressMessages({library(survival); library(jsonlite)})
here <- "tests/reference/cox"
rot <- read.csv("tests/reference/survival/rotterdam.csv")
ties <- read.csv("tests/reference/survival/ties.csv")
ties_pos <- ties[ties$w > 0, ]  # coxph refuses zero weights ("Invalid weights, must be >0")

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
covs <- c("hormon", "age", "meno", "size2", "size3", "grade", "nodes", "pgr", "er", "chemo")

fit_one <- function(formula, data, weights, ties_method, resid = FALSE) {
  data$.w <- if (is.null(weights)) rep(1, nrow(data)) else data[[weights]]
  fit <- if (is.null(weights)) {
    coxph(formula, data = data, robust = TRUE, ties = ties_method, x = TRUE, y = TRUE, model = TRUE)
  } else {
    coxph(formula, data = data, weights = .w, robust = TRUE, ties = ties_method, x = TRUE, y = TRUE,
          model = TRUE)
  }
  out <- list(names = names(coef(fit)), coef = num(coef(fit)),
              se = num(sqrt(diag(fit$naive.var))), robust_se = num(sqrt(diag(fit$var))),
              loglik = num(fit$loglik), score = num(fit$score), n = fit$n, nevent = fit$nevent,
              iter = fit$iter)
  out$zph <- list()
  for (tr in c("km", "identity", "rank")) {
    z <- cox.zph(fit, transform = tr)
    out$zph[[tr]] <- list(terms = rownames(z$table), chisq = num(z$table[, "chisq"]),
                          df = num(z$table[, "df"]), p = num(z$table[, "p"]))
  }
  z <- cox.zph(fit)
  if (resid) out$zph_resid <- list(x = num(z$x), time = num(z$time), y = lapply(seq_len(ncol(z$y)),
                                                                       function(j) num(z$y[, j])))
  out
}

f_multi <- as.formula(paste("Surv(time, event) ~", paste(covs, collapse = " + ")))
f_multi_days <- as.formula(paste("Surv(rtime, event) ~", paste(covs, collapse = " + ")))
res <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              jsonlite = as.character(packageVersion("jsonlite")),
              calls = c("coxph(formula, data, weights = w, robust = TRUE, ties = 'efron'|'breslow')",
                        "sqrt(diag(fit$naive.var)) (model SE), sqrt(diag(fit$var)) (robust SE)",
                        "cox.zph(fit, transform = 'km'|'identity'|'rank')$table",
                        "cox.zph(fit)$x, $time, $y (scaled Schoenfeld residuals)")),
  rot_arm_months_w = fit_one(Surv(time, event) ~ hormon, rot, "w", "efron", resid = TRUE),
  rot_arm_days_w = fit_one(Surv(rtime, event) ~ hormon, rot, "w", "efron"),
  rot_multi_months_w = fit_one(f_multi, rot, "w", "efron"),
  rot_multi_days_w = fit_one(f_multi_days, rot, "w", "efron"),
  rot_multi_months_u = fit_one(f_multi, rot, NULL, "efron"),
  rot_multi_months_w_breslow = fit_one(f_multi, rot, "w", "breslow"),
  ties_w_efron = fit_one(Surv(time, event) ~ group + x, ties_pos, "w", "efron", resid = TRUE),
  ties_w_breslow = fit_one(Surv(time, event) ~ group + x, ties_pos, "w", "breslow"),
  ties_u_efron = fit_one(Surv(time, event) ~ group + x, ties, NULL, "efron"))
write_json(res, file.path(here, "cox.json"), digits = NA, auto_unbox = TRUE, na = "null")
