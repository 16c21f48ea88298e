# Reference values for tests/stats/test_propensity.py (design matrices built without formula text).
# Run from this folder:  Rscript make_design_matrix.R
# Reads ../propensity/rotterdam.csv; writes design_matrix.json (R and package versions recorded).
suppressPackageStartupMessages({library(splines); library(jsonlite)})
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
rot <- read.csv("../propensity/rotterdam.csv")
rot$size <- factor(rot$size, levels = c("<=20", "20-50", ">50"))
rot$grade_f <- factor(ifelse(rot$grade == 3, "three", "two"), levels = c("two", "three"))

# 1. B-spline bases: df -> quantile knots, degree 2, explicit boundary knots and values beyond them
#    (R extends bs by a Taylor expansion at the boundary knot), on a fixed grid.
x_new <- c(10, 20, 24.5, 40, 55, 70, 85, 95, 100)
b_df <- bs(rot$pgr, df = 5)
b_deg2 <- bs(rot$age, df = 4, degree = 2)
b_bound <- bs(rot$age, knots = c(45, 60), Boundary.knots = c(20, 95))
b_pred <- predict(bs(rot$age, knots = c(45, 60), degree = 3), x_new)
n_pred <- predict(ns(rot$age, df = 4), x_new)

# 2. A model with every kind of term: ns, bs (degree 2), categorical x categorical, numeric x categorical,
#    spline x numeric.
m_all <- glm(hormon ~ meno + size + grade_f + ns(age, df = 3) + bs(pgr, df = 4, degree = 2) + er
             + size:grade_f + er:size + ns(age, df = 3):meno,
             family = binomial, data = rot, control = ctl)

out <- list(
  meta = list(R = R.version.string, splines = as.character(packageVersion("splines")),
              jsonlite = as.character(packageVersion("jsonlite")), made_by = "make_design_matrix.R",
              glm_control = "glm.control(epsilon = 1e-14, maxit = 100)"),
  bs_df = list(call = "bs(rotterdam$pgr, df = 5)", knots = unname(attr(b_df, "knots")),
               first20 = unname(b_df[1:20, ])),
  bs_degree2 = list(call = "bs(rotterdam$age, df = 4, degree = 2)", knots = unname(attr(b_deg2, "knots")),
                    first20 = unname(b_deg2[1:20, ])),
  bs_boundary = list(call = "bs(rotterdam$age, knots = c(45, 60), Boundary.knots = c(20, 95))",
                     first20 = unname(b_bound[1:20, ])),
  bs_predict = list(call = "predict(bs(rotterdam$age, knots = c(45, 60)), c(10, 20, 24.5, 40, 55, 70, 85, 95, 100))",
                    x = x_new, basis = unname(b_pred[, ])),
  ns_predict = list(call = "predict(ns(rotterdam$age, df = 4), c(10, 20, 24.5, 40, 55, 70, 85, 95, 100))",
                    x = x_new, basis = unname(n_pred[, ])),
  all_terms = list(
    call = paste("glm(hormon ~ meno + size + grade_f + ns(age, df = 3) + bs(pgr, df = 4, degree = 2) + er",
                 "+ size:grade_f + er:size + ns(age, df = 3):meno, family = binomial)"),
    coef = unname(coef(m_all)), coef_names = names(coef(m_all)), fitted = unname(fitted(m_all)),
    loglik = as.numeric(logLik(m_all)))
)
write_json(out, "design_matrix.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)
cat("written design_matrix.json\n")
print(coef(m_all))
