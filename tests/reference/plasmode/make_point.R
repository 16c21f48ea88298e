# Reference values for tests/analysis/test_plasmode_outcomes.py: the plasmode's binary (logistic) and
# continuous (normal linear) generating models, fitted without penalty.
# Run from the repository root:  Rscript tests/reference/plasmode/make_point.R
# Input: point.csv (written by make_point_input.py: y_bin, y_cont, design columns z1..z5, z1 = treatment).
suppressMessages(library(jsonlite))
here <- "tests/reference/plasmode"
d <- read.csv(file.path(here, "point.csv"))
zs <- grep("^z", names(d), value = TRUE)
fb <- glm(reformulate(zs, "y_bin"), family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
fc <- lm(reformulate(zs, "y_cont"), data = d)
res <- list(
  binary = list(intercept = unname(coef(fb)[1]), coef = unname(coef(fb)[-1]), loglik = as.numeric(logLik(fb))),
  continuous = list(intercept = unname(coef(fc)[1]), coef = unname(coef(fc)[-1]), sigma = sigma(fc),
                    loglik = as.numeric(logLik(fc))),
  call = "glm(y_bin ~ z1 + ... + z5, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)); lm(y_cont ~ z1 + ... + z5); sigma(); logLik()",
  R = R.version.string)
write_json(res, file.path(here, "point.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
