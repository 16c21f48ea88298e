# Reference values for tests/stats/test_matching.py.
# Run from the repository root:  Rscript tests/reference/matching/make_matching.R
# Writes rotterdam.csv and matching.json beside this script.
#
# Data: survival::rotterdam (Rotterdam breast-cancer cohort); treatment hormon (339 treated of 2982),
#   outcome recurrence-free survival in months (time = ceiling(rtime / 30.4375), event = recur). The
#   propensity score is a logistic glm fitted here and stored in the CSV, so Python matches on exactly the
#   same scores.
#
# Matching: MatchIt::matchit(method = "nearest", distance = <R's ps>, ...) matches on the logit of the score
#   (link = "linear.logit" is what distance = glm would do; here the logit is passed as the distance
#   vector, so MatchIt computes the 0.2-SD caliper on the logit).
#
#   MatchIt version: Debian ships MatchIt 4.5.1, whose C++ matcher is wrong on this platform: it calls the
#   integer abs() on distances (MatchIt NEWS 4.5.4, #163: "calipers would not work properly on some
#   systems"), so every focal unit takes its left neighbour and no caliper binds; and for ratio > 1 it
#   checks already-held controls with a 1-based index against 0-based ones (NEWS 4.5.3, #159). CRAN's
#   current MatchIt needs packages Debian lacks (chk, rlang >= 1.1). The reference is therefore MatchIt
#   4.5.1's R code with src/nn_matchC_vec.cpp replaced by MatchIt 4.5.5's (both from the MatchIt
#   GitHub repository: 4.5.1 = commit 9762dc6, 4.5.5 = commit 4cf6854), installed in a private library:
#     git archive 9762dc6 | tar -x -C mi; git show 4cf6854:src/nn_matchC_vec.cpp > mi/src/nn_matchC_vec.cpp
#     R CMD INSTALL -l /tmp/methods1_Rlib mi
#   and run with R_LIBS=/tmp/methods1_Rlib. As an independent check, greedy_nn below implements the
#   documented greedy algorithm in plain R; the script stops unless both give the same match matrix for
#   every case.
#
# Effects: coxph(Surv(time, event) ~ hormon, data = md, weights = weights, robust = TRUE,
#   cluster = subclass) on the matched data (MatchIt vignette "Estimating Effects After Matching");
#   with replacement coxph(..., weights = weights, robust = TRUE) (each patient its own cluster).
# match_matrix: one row per focal unit (the treated for the ATT, the controls for the ATC) in data order, one
#   column per round, 1-based row numbers of its matches (0 = none).
suppressMessages({library(survival); library(MatchIt); library(jsonlite)})
here <- "tests/reference/matching"

r <- survival::rotterdam
d <- data.frame(pid = r$pid, time = ceiling(r$rtime / 30.4375), event = r$recur,
                hormon = r$hormon, age = r$age, meno = r$meno,
                size2 = as.integer(r$size == "20-50"), size3 = as.integer(r$size == ">50"),
                grade = r$grade, nodes = r$nodes, pgr = log1p(r$pgr), er = log1p(r$er),
                chemo = r$chemo)
ps_fit <- glm(hormon ~ age + meno + size2 + size3 + grade + nodes + pgr + er + chemo,
              family = binomial, data = d)
d$ps <- fitted(ps_fit)
write.csv(d, file.path(here, "rotterdam.csv"), row.names = FALSE)
d <- read.csv(file.path(here, "rotterdam.csv"))   # match on the stored (printed) values, as Python does
rownames(d) <- as.character(seq_len(nrow(d)))
lp <- qlogis(d$ps)

# Independent greedy nearest-neighbour matching (MatchIt's documented algorithm): all units sorted by
# distance (stable); focal units visited in m.order; in round r each takes the nearest available control to
# its left or right in that order (ties to the left), not already held by it, within the caliper; without
# replacement a control once taken is no longer available. Exact matching = the same within each stratum.
greedy_nn <- function(treat, dist, ratio = 1, caliper = NULL, replace = FALSE, exact = NULL,
                      m.order = "largest") {
  n <- length(treat)
  cal <- if (is.null(caliper)) Inf else caliper * sd(dist)
  strata <- if (is.null(exact)) rep(1L, n) else as.integer(factor(exact))
  ids1 <- which(treat == 1)
  mm <- matrix(NA_integer_, length(ids1), ratio)
  for (s in unique(strata)) {
    idx <- which(strata == s)
    ord <- idx[sort.list(dist[idx])]
    tr_s <- idx[treat[idx] == 1]
    visit <- switch(m.order, largest = tr_s[order(dist[tr_s], decreasing = TRUE)],
                    smallest = tr_s[order(dist[tr_s])], data = tr_s)
    avail <- ord[treat[ord] == 0]
    pos_all <- match(seq_len(n), ord)
    for (rr in seq_len(ratio)) {
      for (i in visit) {
        if (length(avail) == 0) break
        row <- mm[match(i, ids1), ]
        p <- pos_all[i]
        ap <- pos_all[avail]
        left <- rev(which(ap < p)); right <- which(ap > p)
        pick_side <- function(cands) {
          for (k in cands) {
            c <- avail[k]
            if (c %in% row) next
            if (abs(dist[i] - dist[c]) > cal) return(NA_integer_)
            return(k)
          }
          NA_integer_
        }
        kl <- pick_side(left); kr <- pick_side(right)
        k <- if (!is.na(kl) && !is.na(kr)) {
          if (abs(dist[avail[kl]] - dist[i]) <= abs(dist[avail[kr]] - dist[i])) kl else kr
        } else if (!is.na(kl)) kl else kr
        if (is.na(k)) next
        mm[match(i, ids1), rr] <- avail[k]
        if (!replace) avail <- avail[-k]
      }
    }
  }
  mm
}

weights_from_mm <- function(mm, treat) {   # MatchIt's weights_matrixC, written out
  w <- rep(0, length(treat)); ids1 <- which(treat == 1)
  for (i in seq_len(nrow(mm))) {
    got <- mm[i, !is.na(mm[i, ])]
    if (length(got) == 0) next
    for (c in got) w[c] <- w[c] + 1 / length(got)
    w[ids1[i]] <- 1
  }
  c0 <- treat == 0
  w[c0] <- w[c0] * sum(w[c0] > 0) / sum(w[c0])
  w
}

subclass_from_mm <- function(mm, treat) {
  s <- rep(NA_integer_, length(treat)); ids1 <- which(treat == 1)
  for (i in seq_len(nrow(mm))) {
    got <- mm[i, !is.na(mm[i, ])]
    if (length(got)) { s[ids1[i]] <- i; s[got] <- i }
  }
  s
}

matchit_mm <- function(m, treat) {   # MatchIt's character match.matrix as row numbers, focal units in data order
  mm <- m$match.matrix
  out <- matrix(as.integer(mm), nrow(mm))
  out[match(which(treat == 1), as.integer(rownames(mm))), , drop = FALSE]
}

effects <- function(w, subclass, replace) {
  md <- d; md$weights <- w; md$subclass <- subclass
  md <- md[md$weights > 0, ]
  fit <- if (replace) {
    coxph(Surv(time, event) ~ hormon, data = md, weights = weights, robust = TRUE)
  } else {
    coxph(Surv(time, event) ~ hormon, data = md, weights = weights, robust = TRUE, cluster = subclass)
  }
  km <- survfit(Surv(time, event) ~ hormon, data = md, weights = weights)
  s <- summary(km, times = c(24, 60), extend = TRUE)
  list(coef = unname(coef(fit)), robust_se = unname(sqrt(diag(fit$var))),
       naive_se = unname(sqrt(diag(fit$naive.var))), n = fit$n, nevent = fit$nevent,
       surv = list(strata = as.character(s$strata), time = s$time, surv = s$surv))
}

cases <- list(
  nearest_1to1_caliper = list(ratio = 1, caliper = 0.2, replace = FALSE, exact = NULL),
  nearest_1to1_caliper_exact_meno = list(ratio = 1, caliper = 0.2, replace = FALSE, exact = "meno"),
  nearest_1to2_caliper = list(ratio = 2, caliper = 0.2, replace = FALSE, exact = NULL),
  nearest_1to1_replace_caliper = list(ratio = 1, caliper = 0.2, replace = TRUE, exact = NULL),
  nearest_1to1_nocaliper = list(ratio = 1, caliper = NULL, replace = FALSE, exact = NULL),
  nearest_1to1_caliper_narrow = list(ratio = 1, caliper = 0.005, replace = FALSE, exact = NULL),
  nearest_atc_1to1_caliper = list(ratio = 1, caliper = 0.2, replace = FALSE, exact = NULL, estimand = "ATC")
)

out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            matchit_version = paste(packageVersion("MatchIt"), "R code with the 4.5.5 nn_matchC_vec.cpp"), distance = "logit of ps",
            cases = list())
for (nm in names(cases)) {
  cs <- cases[[nm]]
  estimand <- if (is.null(cs$estimand)) "ATT" else cs$estimand
  focal <- if (estimand == "ATT") d$hormon else 1L - d$hormon   # ATC: the controls are matched
  m.order <- if (cs$replace) "data" else if (estimand == "ATT") "largest" else "smallest"
  mine <- greedy_nn(focal, lp, ratio = cs$ratio, caliper = cs$caliper, replace = cs$replace,
                    exact = if (is.null(cs$exact)) NULL else d[[cs$exact]], m.order = m.order)
  args <- list(formula = hormon ~ age, data = d, method = "nearest", distance = lp, ratio = cs$ratio,
               replace = cs$replace, estimand = estimand)
  if (!is.null(cs$caliper)) args$caliper <- cs$caliper
  if (!is.null(cs$exact)) args$exact <- as.formula(paste("~", cs$exact))
  m <- suppressWarnings(do.call(matchit, args))
  mi <- matchit_mm(m, focal)
  agree <- identical(is.na(mi), is.na(mine)) && all(mi[!is.na(mi)] == mine[!is.na(mine)])
  if (!agree) stop("MatchIt and greedy_nn disagree on ", nm, ": run with the patched MatchIt (see header)")
  w_mine <- weights_from_mm(mine, focal)
  stopifnot(max(abs(w_mine - unname(m$weights))) < 1e-12)
  sub <- if (cs$replace) NULL else subclass_from_mm(mine, focal)
  out$cases[[nm]] <- list(
    settings = list(estimand = estimand, ratio = cs$ratio, caliper = if (is.null(cs$caliper)) NA else cs$caliper,
                    replace = cs$replace, exact = if (is.null(cs$exact)) NA else cs$exact, m_order = m.order),
    source = "MatchIt::matchit (4.5.1 R code, 4.5.5 C++ matcher) = independent greedy_nn",
    caliper_units = if (is.null(cs$caliper)) NA else cs$caliper * sd(lp),
    match_matrix = lapply(seq_len(ncol(mine)), function(j) ifelse(is.na(mine[, j]), 0L, mine[, j])),
    weights = w_mine,
    n_matched_treated = sum(w_mine > 0 & d$hormon == 1), n_matched_control = sum(w_mine > 0 & d$hormon == 0),
    effects = effects(w_mine, if (is.null(sub)) rep(1L, nrow(d)) else sub, cs$replace))
}
write_json(out, file.path(here, "matching.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE,
           na = "null")
cat("wrote", file.path(here, "matching.json"), "\n")
