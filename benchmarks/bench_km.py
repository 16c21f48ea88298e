"""Weighted Kaplan-Meier with infinitesimal-jackknife (robust) intervals and the design-based weighted log-rank
on large data, against the time of one numpy argsort of the same number of values (target: each within 3x),
with peak traced memory (linear in n), and R survfit where R is installed: ``survfit(..., weights = w,
robust = FALSE)`` at the large sizes (R's robust = TRUE builds an n x times influence matrix: 48 s at 1e5 rows
on this machine, so it is timed separately at ``--r-robust-n`` rows against gistcausal's IJ).

    .venv/bin/python benchmarks/bench_km.py
"""
from __future__ import annotations

import argparse

import numpy as np
from _common import best_of, have_r, peak_bytes, r_versions, run_r, synthetic

from gistcausal.stats.km import kaplan_meier, logrank_test


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--r-max", type=int, default=1_000_000)
    ap.add_argument("--r-robust-n", type=int, default=20_000)
    args = ap.parse_args()
    print(f"# weighted KM (IJ intervals) and weighted log-rank; {r_versions()}")
    print("| rows | argsort (s) | KM + IJ (s) | KM / argsort | weighted log-rank (s) | log-rank / argsort "
          "| R survfit, robust=FALSE (s) | R / KM | peak MB KM | peak MB log-rank | bytes/row (KM) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        df = synthetic(n, p=2)
        t, e, w, g = (df[c].to_numpy() for c in ("time", "event", "w", "treatment"))
        del df
        srt = best_of(lambda: np.argsort(t, kind="stable"))
        km = best_of(lambda: kaplan_meier(t, e, weights=w))
        lr = best_of(lambda: logrank_test(t, e, g, weights=w))
        mk = peak_bytes(lambda: kaplan_meier(t, e, weights=w))
        ml = peak_bytes(lambda: logrank_test(t, e, g, weights=w))
        rr, ratio = "-", "-"
        if have_r() and n <= args.r_max:
            import pandas as pd

            out = run_r("""suppressMessages(library(survival))
tm <- system.time(f <- survfit(Surv(time, event) ~ 1, data = data, weights = w, robust = FALSE))[["elapsed"]]
cat(tm)""", pd.DataFrame({"time": t, "event": e, "w": w}))
            rr = f"{float(out):.2f}"
            ratio = f"{float(out) / km:.1f}x"
        print(f"| {n:,} | {srt:.2f} | {km:.2f} | {km / srt:.2f} | {lr:.2f} | {lr / srt:.2f} | {rr} | {ratio} "
              f"| {mk / 2**20:.0f} | {ml / 2**20:.0f} | {mk / n:.0f} |")
    if have_r() and args.r_robust_n:
        import pandas as pd

        n = args.r_robust_n
        df = synthetic(n, p=2)
        t, e, w = (df[c].to_numpy() for c in ("time", "event", "w"))
        km = best_of(lambda: kaplan_meier(t, e, weights=w))
        out = run_r("""suppressMessages(library(survival))
tm <- system.time(f <- survfit(Surv(time, event) ~ 1, data = data, weights = w, robust = TRUE))[["elapsed"]]
cat(tm, max(abs(f$std.err * f$surv)))""", pd.DataFrame({"time": t, "event": e, "w": w}))
        rt = float(out.split()[0])
        print(f"\nIJ (robust) intervals at {n:,} rows: gistcausal {km:.3f} s, R survfit(robust = TRUE) {rt:.2f} s "
              f"({rt / km:.0f}x)")


if __name__ == "__main__":
    main()
