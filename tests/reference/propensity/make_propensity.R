# Reference values for tests/test_propensity.py and tests/test_weights.py.
# Run from this folder:  Rscript make_propensity.R
# Writes rotterdam.csv, synthetic_small.csv, propensity.json (R and package versions recorded).
suppressPackageStartupMessages({library(survival); library(splines); library(jsonlite)})
ctl <- glm.control(epsilon = 1e-14, maxit = 100)   # tight convergence so Python can match to 1e-6

# 1. Public data set with a non-randomized treatment: survival::rotterdam, treatment hormon.
rot <- survival::rotterdam[, c("age", "meno", "size", "grade", "nodes", "pgr", "er", "hormon")]
rot$size <- as.character(rot$size)
write.csv(rot, "rotterdam.csv", row.names = FALSE)
rot$size <- factor(rot$size, levels = c("<=20", "20-50", ">50"))
f_main <- hormon ~ age + meno + size + grade + nodes + pgr + er
m_main <- glm(f_main, family = binomial, data = rot, control = ctl)
ps <- unname(fitted(m_main)); t <- rot$hormon

# Weights by their defining formulas (Rosenbaum & Rubin 1983; Li, Morgan & Zaslavsky 2018; Li & Greene 2013)
w_ate <- t / ps + (1 - t) / (1 - ps)
w_att <- t + (1 - t) * ps / (1 - ps)
w_atc <- t * (1 - ps) / ps + (1 - t)
w_ato <- t * (1 - ps) + (1 - t) * ps
w_match <- pmin(ps, 1 - ps) / (t * ps + (1 - t) * (1 - ps))
p1 <- mean(t)
w_ate_stab <- ifelse(t == 1, p1 / ps, (1 - p1) / (1 - ps))
kish <- function(w) sum(w)^2 / sum(w^2)

# 2. Splines: natural cubic spline with interior knots at the 1/3 and 2/3 quantiles of age (R's ns(df = 3)
#    default, quantile type 7), and patsy-compatible B-spline bs(nodes) with explicit knots.
k_age <- unname(quantile(rot$age, c(1/3, 2/3)))
b_age <- range(rot$age)
m_spl <- glm(hormon ~ ns(age, df = 3) + meno + size + grade + bs(nodes, knots = c(2, 5), degree = 3) + pgr + er,
             family = binomial, data = rot, control = ctl)
ns_basis <- ns(rot$age, df = 3)
bs_basis <- bs(rot$nodes, knots = c(2, 5), degree = 3)

# 3. Interaction model
m_int <- glm(hormon ~ age + meno + size + grade + nodes + pgr + er + age:meno + nodes:size,
             family = binomial, data = rot, control = ctl)

# 4. Small synthetic data set (n = 60): continuous, binary and 3-level categorical covariates.
set.seed(20240611)
n <- 60
syn <- data.frame(x1 = round(rnorm(n, 50, 10), 1), x2 = rbinom(n, 1, 0.4),
                  x3 = sample(c("a", "b", "c"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2)))
lp <- -0.5 + 0.04 * (syn$x1 - 50) + 0.8 * syn$x2 + ifelse(syn$x3 == "b", -0.6, ifelse(syn$x3 == "c", 0.5, 0))
syn$treat <- rbinom(n, 1, plogis(lp))
write.csv(syn, "synthetic_small.csv", row.names = FALSE)
m_syn <- glm(treat ~ x1 + x2 + x3, family = binomial, data = syn, control = ctl)

# 5. Firth (1993) bias-reduced logistic regression by a generic optimizer of the penalized log-likelihood
#    l(b) + 0.5 log det(X'WX) (independent of the Python Newton iteration; logistf is not installed).
firth_optim <- function(X, y) {
  pen <- function(b) {
    eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
    -(sum(y * eta - log1p(exp(eta))) + 0.5 * as.numeric(determinant(crossprod(X, X * w), logarithm = TRUE)$modulus))
  }
  gr <- function(b) {
    eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
    XW <- X * sqrt(w); h <- rowSums((XW %*% solve(crossprod(XW))) * XW)
    -drop(crossprod(X, y - p + h * (0.5 - p)))
  }
  o <- optim(rep(0, ncol(X)), pen, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
  b <- optim(o$par, pen, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))$par
  # polish with Newton steps on a finite-difference Hessian of the penalized objective (still generic)
  for (i in 1:5) b <- b - solve(optimHess(b, pen, gr), gr(b))
  list(coef = b, grad_norm = sqrt(sum(gr(b)^2)), pen_loglik = -pen(b))
}
X_syn <- model.matrix(~ x1 + x2 + x3, data = syn)
fo_syn <- firth_optim(X_syn, syn$treat)
# Separated data: x2 == 1 -> all treated in this constructed set (MLE does not exist, Firth does).
sep <- syn; sep$treat[sep$x2 == 1] <- 1
write.csv(sep, "synthetic_separated.csv", row.names = FALSE)
fo_sep <- firth_optim(model.matrix(~ x1 + x2 + x3, data = sep), sep$treat)

coef_list <- function(m) as.list(coef(m))
out <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              jsonlite = as.character(packageVersion("jsonlite")), made_by = "make_propensity.R",
              glm_control = "glm.control(epsilon = 1e-14, maxit = 100)"),
  rotterdam = list(
    call = "glm(hormon ~ age + meno + size + grade + nodes + pgr + er, family = binomial, data = rotterdam)",
    coef = coef_list(m_main), se = as.list(sqrt(diag(vcov(m_main)))), fitted = ps,
    loglik = as.numeric(logLik(m_main)), deviance = deviance(m_main),
    weights = list(ATE = w_ate, ATT = w_att, ATC = w_atc, ATO = w_ato, matching = w_match, ATE_stabilized = w_ate_stab),
    kish_ess = list(ATE_treated = kish(w_ate[t == 1]), ATE_control = kish(w_ate[t == 0]),
                    ATO_treated = kish(w_ato[t == 1]), ATO_control = kish(w_ato[t == 0]))),
  splines = list(
    call = "glm(hormon ~ ns(age, df = 3) + meno + size + grade + bs(nodes, knots = c(2, 5), degree = 3) + pgr + er, family = binomial)",
    ns_knots = k_age, ns_boundary = b_age, coef = unname(coef(m_spl)), coef_names = names(coef(m_spl)),
    fitted = unname(fitted(m_spl)), ns_basis_first10 = unname(ns_basis[1:10, ]), bs_basis_first10 = unname(bs_basis[1:10, ])),
  interactions = list(
    call = "glm(hormon ~ age + meno + size + grade + nodes + pgr + er + age:meno + nodes:size, family = binomial)",
    coef = unname(coef(m_int)), coef_names = names(coef(m_int)), fitted = unname(fitted(m_int))),
  synthetic = list(call = "glm(treat ~ x1 + x2 + x3, family = binomial, data = synthetic_small)",
                   coef = coef_list(m_syn), se = as.list(sqrt(diag(vcov(m_syn)))), fitted = unname(fitted(m_syn)),
                   firth_optim_coef = fo_syn$coef, firth_optim_grad_norm = fo_syn$grad_norm,
                   firth_pen_loglik = fo_syn$pen_loglik),
  separated = list(firth_optim_coef = fo_sep$coef, firth_optim_grad_norm = fo_sep$grad_norm)
)
write_json(out, "propensity.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)
cat("written propensity.json\n")
print(coef(m_main)); print(fo_syn); print(fo_sep)
