"""The 2000-replicate whole-pipeline bootstrap: batched vs one replicate at a time vs R's loop, then (with
``--lifelines``) the older comparison with statsmodels + lifelines.

Batched vs per-replicate vs R (issue 17), in one run: the study cohort (110 patients, the shipped protocol's
propensity design) and synthetic cohorts (``--sizes``, default 10,000 and 100,000 patients, 12 design columns).
Each replicate refits the logistic propensity model on a within-arm resample, recomputes stabilized ATE weights,
the weighted Kaplan-Meier at the landmarks, the RMST at the horizon and the IPTW Cox log hazard ratio. gistcausal
runs on one worker (``n_jobs=1``, one BLAS thread); the batched path runs all B replicates, the per-replicate
path and R's loop (``glm.fit``, ``survfit(weights=)``, ``summary(..., extend = TRUE)``, ``coxph(weights=,
ties = "efron")``, timed with ``system.time`` inside R) run ``--single-reps``/``--r-reps`` replicates and are
scaled to B (stated in the table).

The lifelines + statsmodels pipeline is timed on ``--slow-reps`` replicates (default 100) and its per-replicate
time multiplied by 2000 (stated in the output); gistcausal runs all 2000, with 1 and 2 joblib workers (the
2-worker figure is reported both with a cold start of the worker processes and warm).

    .venv/bin/python benchmarks/bench_bootstrap.py                       # batched vs per-replicate vs R
    .venv/bin/python benchmarks/bench_bootstrap.py --sizes 100000 --r-max-n 1000   # R at n = 110 only
    .venv/bin/python benchmarks/bench_bootstrap.py --sizes 10000 --lifelines
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import ROOT, have_r, r_versions, run_r, synthetic

R_REPLICATE = """suppressMessages(library(survival))
X <- as.matrix(data[, grep("^X", names(data))]); a <- data$a; tt <- data$t; ev <- data$e
i0 <- which(a == 0); i1 <- which(a == 1)
lms <- c(%(landmarks)s); h <- %(horizon)s
rep1 <- function() {
  idx <- c(i0[sample.int(length(i0), replace = TRUE)], i1[sample.int(length(i1), replace = TRUE)])
  ab <- a[idx]; tb <- tt[idx]; eb <- ev[idx]
  ps <- suppressWarnings(glm.fit(X[idx, , drop = FALSE], ab, family = binomial()))$fitted.values
  p1 <- mean(ab)
  w <- ifelse(ab == 1, p1 / ps, (1 - p1) / (1 - ps))
  out <- c()
  for (k in 0:1) {
    m <- ab == k
    sf <- survfit(Surv(tb[m], eb[m]) ~ 1, weights = w[m])
    out <- c(out, summary(sf, times = lms, extend = TRUE)$surv)
    keep <- sf$time <= h
    out <- c(out, sum(diff(c(0, sf$time[keep], h)) * c(1, sf$surv[keep])))
  }
  c(out, coef(coxph(Surv(tb, eb) ~ ab, weights = w, ties = "efron")))
}
set.seed(1)
st <- system.time(for (b in 1:%(reps)d) res <- tryCatch(rep1(), error = function(e) NULL))
cat(st[["elapsed"]] / %(reps)d)
"""


def study():
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.config import load_config
    from gistcausal.analysis.iptw import ps_design
    from gistcausal.design.simulate import simulate_registry

    cfg = load_config(ROOT / "configs" / "gist_second_line.yaml")
    frame = build_cohort(cfg, simulate_registry()).frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, X = ps_design(cfg, frame)
    return cfg, frame, X


def slow_replicate(X, a, t, e, landmarks, horizon):
    import statsmodels.api as sm
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    keep = np.ones(X.shape[1], dtype=bool)
    keep[1:] = X[:, 1:].max(0) > X[:, 1:].min(0)
    ps = sm.GLM(a, X[:, keep], family=sm.families.Binomial()).fit().fittedvalues
    p1 = a.mean()
    w = np.where(a == 1, p1 / ps, (1 - p1) / (1 - ps))
    out = []
    for k in (0, 1):
        m = a == k
        kmf = KaplanMeierFitter().fit(t[m], e[m], weights=w[m])
        out += list(kmf.survival_function_at_times(landmarks).to_numpy())
        out.append(restricted_mean_survival_time(kmf, t=horizon))
    df = pd.DataFrame({"time": t, "event": e, "a": a, "w": w})
    cph = CoxPHFitter().fit(df, "time", "event", weights_col="w", robust=True)
    out.append(float(cph.params_["a"]))
    return out


def lifelines_comparison(args) -> None:
    from gistcausal.analysis.iptw import bootstrap_estimates

    cfg, frame, X = study()
    B = args.n_boot
    res = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, nj in (("1 worker", 1), ("2 workers, cold start", 2), ("2 workers, warm", 2)):
            t0 = time.perf_counter()
            b = bootstrap_estimates(cfg, frame, outcome="pfs", estimand="ATE", n_boot=B, n_jobs=nj,
                                    random_state=1)
            res[label] = time.perf_counter() - t0
        t0 = time.perf_counter()
        bootstrap_estimates(cfg, frame, outcome="pfs", estimand="ATE", n_boot=B, n_jobs=2, random_state=1,
                            ci="bca")
        res["2 workers, BCa (+110 jackknife refits)"] = time.perf_counter() - t0
        a, t, e = (frame[c].to_numpy(float) for c in ("treatment", "pfs_time", "pfs_event"))
        rng = np.random.default_rng(0)
        i1, i0 = np.flatnonzero(a == 1), np.flatnonzero(a == 0)
        t0 = time.perf_counter()
        done = 0
        for _ in range(args.slow_reps):
            idx = np.r_[rng.choice(i0, i0.size), rng.choice(i1, i1.size)]
            try:
                slow_replicate(X[idx], a[idx], t[idx], e[idx], [6.0, 12.0], 24.0)
                done += 1
            except Exception:   # noqa: BLE001 - separation etc.: still timed, as gistcausal counts failures
                done += 1
        slow = (time.perf_counter() - t0) / done
    print(f"# bootstrap of the study cohort (n={len(frame)}, PS with {X.shape[1]} columns), PFS, ATE, "
          f"B={B}; successes {b.n_success}, failed {b.n_failed}")
    print("| run | seconds | per replicate (ms) |")
    print("|---|---|---|")
    for k, v in res.items():
        print(f"| gistcausal, {k} | {v:.2f} | {1000 * v / B:.2f} |")
    print(f"| statsmodels + lifelines, 1 worker ({args.slow_reps} replicates timed, x{B / args.slow_reps:g}) "
          f"| {slow * B:.1f} | {1000 * slow:.1f} |")
    best = min(res["1 worker"], res["2 workers, warm"])
    print(f"\nspeed-up vs statsmodels + lifelines on 1 worker: {slow * B / res['1 worker']:.0f}x; "
          f"best gistcausal run: {best:.2f} s")


def _problem(X, a, t, e, landmarks, horizon):
    from gistcausal.inference.bootstrap import Problem

    return Problem(X=X, a=a, t=t, e=e, estimand="ATE", stabilize=True, trim=None, truncate=None,
                   landmarks=tuple(landmarks), horizon=horizon, ps_method="logistic")


def _time_python(p, n_boot: int, path: str) -> tuple[float, object]:
    from threadpoolctl import threadpool_limits

    from gistcausal.inference.bootstrap import run_bootstrap

    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = run_bootstrap(p, outcome="y", n_boot=n_boot, ci="percentile", alpha=0.05, n_jobs=1,
                            random_state=1, progress=None, arm_labels=("c", "t"), where="bench", path=path)
        return time.perf_counter() - t0, res


def _time_r(p, reps: int) -> float:
    df = pd.DataFrame(p.X, columns=[f"X{j}" for j in range(p.X.shape[1])])
    df["a"], df["t"], df["e"] = p.a, p.t, p.e
    code = R_REPLICATE % {"landmarks": ", ".join(f"{x:g}" for x in p.landmarks), "horizon": f"{p.horizon:g}",
                          "reps": reps}
    return float(run_r(code, df))


def batched_comparison(args) -> None:
    import os
    import platform

    cases = []
    _, frame, X = study()
    a, t, e = (frame[c].to_numpy(float) for c in ("treatment", "pfs_time", "pfs_event"))
    cases.append(("study cohort", _problem(X, a, t, e, (6.0, 12.0, 24.0), 24.0)))
    for n in args.sizes:
        df = synthetic(n, p=12)
        Xs = np.c_[np.ones(n), df[[f"x{j + 1}" for j in range(11)]].to_numpy()]
        cases.append(("synthetic", _problem(Xs, df["treatment"].to_numpy(float), df["time"].to_numpy(float),
                                             df["event"].to_numpy(float), (2.0, 5.0), 8.0)))
    B = args.n_boot
    print(f"# batched bootstrap vs one replicate at a time vs R; B = {B}, 1 worker, 1 BLAS thread")
    print(f"# {platform.platform()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}; {r_versions()}; load average at start {os.getloadavg()[0]:.1f}")
    print("| cohort | n | PS columns | batched (s) | per replicate: timed reps | per replicate, scaled to B (s) "
          "| R loop: timed reps | R loop, scaled to B (s) | per-replicate / batched | R / batched "
          "| batched ms per replicate | failed (batched) | load average after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, p in cases:
        n = p.a.size
        tb, res = _time_python(p, B, "batched")
        reps = B if n <= 1000 else max(10, min(B, int(args.single_reps * 1000 / max(n / 100, 1))))
        ts, _ = _time_python(p, reps, "per_replicate")
        single = ts * B / reps
        r_reps = args.r_reps if n <= 1000 else max(2, args.r_reps * 110 // n)
        run_r_here = have_r() and (args.r_max_n is None or n <= args.r_max_n)
        rr = _time_r(p, r_reps) * B if run_r_here else float("nan")
        r_reps = r_reps if run_r_here else 0
        print(f"| {label} | {n:,} | {p.X.shape[1]} | {tb:.2f} | {reps} | {single:.1f} | {r_reps} "
              f"| {f'{rr:.1f}' if run_r_here else 'not run'} "
              f"| {single / tb:.1f}x | {f'{rr / tb:.0f}x' if run_r_here else 'not run'} | {1000 * tb / B:.3f} "
              f"| {dict(res.n_failed)} "
              f"| {os.getloadavg()[0]:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--single-reps", type=int, default=20,
                    help="per-replicate path: replicates timed at n = 1e5 (more at smaller n)")
    ap.add_argument("--r-reps", type=int, default=200, help="R loop: replicates timed at n = 110 (fewer above)")
    ap.add_argument("--r-max-n", type=int, default=None,
                    help="time R's loop only up to this many patients (about 1 min per replicate at 1e5)")
    ap.add_argument("--lifelines", action="store_true", help="also the statsmodels + lifelines comparison")
    ap.add_argument("--slow-reps", type=int, default=100)
    args = ap.parse_args()
    batched_comparison(args)
    if args.lifelines:
        lifelines_comparison(args)


if __name__ == "__main__":
    main()
