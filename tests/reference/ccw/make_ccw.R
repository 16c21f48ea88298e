# Independent R implementation of the clone-censor-weight estimator of gistcausal.ccw, for tests/test_ccw.py.
# Run from the repository root:  Rscript tests/reference/ccw/make_ccw.R
# Input: ccw_input.csv (written by make_input.py). Output: ccw.json and ccw_split_A.csv beside this script.
# Per strategy: clone, censor (switch within G / not started by G), Cox switch model (Breslow) with
# basehaz(centered = FALSE), weighted logistic compliance model at G (glm quasibinomial), split the clones
# at the event times <= G with survSplit, weighted KM with survfit(Surv(start, stop, event) ~ 1, weights).
suppressMessages({library(survival); library(jsonlite)})
here <- "tests/reference/ccw"
d <- read.csv(file.path(here, "ccw_input.csv"), stringsAsFactors = FALSE)
G <- 3
n <- nrow(d)

one_arm <- function(own_code) {
  u <- ifelse(is.na(d$treatment_time), Inf, d$treatment_time)
  started <- is.finite(u)
  own <- started & d$treatment == own_code
  other <- started & !own
  T <- d$time; dd <- d$event
  complier <- own & u <= G & u <= T
  switch <- other & u <= G & u < T & !complier
  stop <- ifelse(complier, T, ifelse(switch, u, pmin(T, G)))
  event <- ifelse(complier | (!switch & T <= G), dd, 0)
  t_sw <- pmin(u, T, G)
  fit <- coxph(Surv(t_sw, as.numeric(switch)) ~ x + x2, data = d, ties = "breslow")
  bh <- basehaz(fit, centered = FALSE)
  r <- exp(as.vector(as.matrix(d[, c("x", "x2")]) %*% coef(fit)))
  Lleft <- function(s) vapply(s, function(v) { k <- bh$time < v; if (any(k)) max(bh$hazard[k]) else 0 }, 0)
  u_own <- ifelse(complier, u, Inf)
  wG <- exp(r * Lleft(pmin(u_own, G * (1 + 1e-12))))
  after <- T > G & !switch
  da <- d[after, ]; da$complier <- as.numeric(complier[after]); da$w <- wG[after]
  g <- glm(complier ~ x + x2, family = quasibinomial, weights = w, data = da,
           control = glm.control(epsilon = 1e-12, maxit = 100))
  p <- rep(1, n); p[after] <- fitted(g)
  cuts <- sort(unique(c(stop[event == 1 & stop <= G], G)))
  clones <- data.frame(id = seq_len(n), start = 0, stop = stop, event = event)
  sp <- survSplit(Surv(start, stop, event) ~ id, data = clones, cut = cuts, episode = "ep")
  b <- sp$stop; i <- sp$id
  sp$w <- ifelse(b <= G, exp(r[i] * Lleft(pmin(b, u_own[i]))), wG[i] / p[i])
  km <- survfit(Surv(start, stop, event) ~ 1, data = sp, weights = w)
  ev <- km$n.event > 0
  tt <- km$time[ev]; ss <- km$surv[ev]
  tau <- 12
  keep <- tt <= tau
  rmst <- sum(diff(c(0, tt[keep], tau)) * c(1, ss[keep]))
  list(split = sp, out = list(switch_coef = unname(coef(fit)), compliance_coef = unname(coef(g)),
       time = tt, surv = ss, n_risk_weighted = km$n.risk[ev], surv_at = summary(km, times = c(1, 2, 3, 6, 12))$surv,
       rmst12 = rmst, compliers = sum(complier), censored_switch = sum(switch),
       censored_grace = sum(!complier & !switch & T > G)))
}

A <- one_arm("A")
B <- one_arm("B")
write.csv(A$split[, c("start", "stop", "event", "w")], file.path(here, "ccw_split_A.csv"), row.names = FALSE)
res <- list(meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                        jsonlite = as.character(packageVersion("jsonlite")), grace = G,
                        calls = c("coxph(Surv(t_sw, switch) ~ x + x2, ties = 'breslow'); basehaz(fit, centered = FALSE)",
                                  "glm(complier ~ x + x2, family = quasibinomial, weights = wG, subset: event-free after G)",
                                  "survSplit(..., cut = event times <= G and G); survfit(Surv(start, stop, event) ~ 1, weights = w)")),
            A = A$out, B = B$out)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), file.path(here, "ccw.json"))
