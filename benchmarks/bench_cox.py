"""Weighted Cox with robust (sandwich) variance: gistcausal vs lifelines and R coxph(robust = TRUE).

Same synthetic data (treatment + 11 covariates, IPTW weights) for every library in the same run. lifelines is
timed at 1e4 and 1e5 rows only: above 1e5 its robust variance (per-row delta-beta matrices in pandas) takes
minutes and gigabytes, so the comparison would only measure swapping. R is timed with system.time inside R
(reading the CSV excluded), single-threaded, up to ``--r-max`` rows (default 1e5: at 1e6 x 12 rows R's
``coxph(robust = TRUE)`` ran for more than 4 minutes on this shared machine before it was stopped).

    .venv/bin/python benchmarks/bench_cox.py
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
from _common import best_of, have_r, peak_bytes, r_versions, run_r, synthetic

from gistcausal.stats.cox import cox_fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--lifelines-max", type=int, default=100_000)
    ap.add_argument("--r-max", type=int, default=100_000)
    args = ap.parse_args()
    print(f"# Cox robust, 12 covariates; {r_versions()}")
    print("| rows | gistcausal (s) | lifelines (s) | R coxph (s) | lifelines / gistcausal | R / gistcausal "
          "| max abs diff log HR vs R | peak traced MB (gistcausal) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        df = synthetic(n)
        X = df[["treatment"] + [c for c in df if c.startswith("x")]].to_numpy()
        t, e, w = df["time"].to_numpy(), df["event"].to_numpy(), df["w"].to_numpy()
        fit = cox_fit(t, e, X, weights=w)
        g = best_of(lambda: cox_fit(t, e, X, weights=w), repeat=3 if n <= 100_000 else 2)
        mb = peak_bytes(lambda: cox_fit(t, e, X, weights=w)) / 2 ** 20
        ll = "skipped (> 1e5)"
        if n <= args.lifelines_max:
            from lifelines import CoxPHFitter

            sub = df[["time", "event", "w", "treatment"] + [c for c in df if c.startswith("x")]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lt = best_of(lambda: CoxPHFitter().fit(sub, "time", "event", weights_col="w", robust=True),
                             repeat=1)
            ll = f"{lt:.2f}"
        rr, rdiff = ("R not installed" if not have_r() else f"not run (> --r-max {args.r_max:,})"), ""
        if have_r() and n <= args.r_max:
            out = run_r("""suppressMessages(library(survival))
x <- as.matrix(data[, c("treatment", grep("^x", names(data), value = TRUE))])
tm <- system.time(fit <- coxph(Surv(data$time, data$event) ~ x, weights = data$w, robust = TRUE,
                               ties = "efron"))[["elapsed"]]
cat(tm, coef(fit), sqrt(diag(vcov(fit))), sep = " ")""", df)
            vals = np.array(out.split(), dtype=float)
            rt = vals[0]
            coef_r, se_r = vals[1:1 + X.shape[1]], vals[1 + X.shape[1]:]
            rr = f"{rt:.2f}"
            rdiff = f"{max(np.max(np.abs(coef_r - fit.coef)), np.max(np.abs(se_r - fit.robust_se))):.1e}"
        ratio_l = f"{float(ll) / g:.1f}x" if ll[0].isdigit() else "-"
        ratio_r = f"{float(rr) / g:.1f}x" if rr[0].isdigit() else "-"
        print(f"| {n:,} | {g:.2f} | {ll} | {rr} | {ratio_l} | {ratio_r} | {rdiff} | {mb:.0f} |")


if __name__ == "__main__":
    main()
