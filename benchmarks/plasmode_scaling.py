"""Plasmode scaling benchmark (run by hand, never in tests).

    .venv/bin/python benchmarks/plasmode_scaling.py [--replicates 60] [--sizes 110 10000 100000]

1. Throughput: replicates per second of the default study (n = 110) on 2 local loky processes vs a Dask
   LocalCluster with one single-threaded worker process per core (same seeds, results checked identical).
2. Cost of one replicate (simulate + propensity model + weights + weighted survival) at n = 110, 1e4, 1e5 rows,
   in this process.
Prints tables with ratios; paste them into docs/plasmode.md.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=60)
    ap.add_argument("--sizes", type=int, nargs="+", default=[110, 10_000, 100_000])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from distributed import Client, LocalCluster

    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.config import load_config
    from gistcausal.design.data import load_data
    from gistcausal.analysis.plasmode import PlasmodeSettings, plasmode

    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "gist_second_line.yaml"))
    frame = build_cohort(cfg, load_data(cfg)).frame
    cores = os.cpu_count() or 1
    def run(**kw):
        return plasmode(cfg, frame, outcome="pfs", random_state=1,
                        settings=PlasmodeSettings(true_hr=0.7, n_mc=20_000, **kw))

    run(n_replicates=2, n_jobs=1)  # warm imports

    rows = []
    t0 = time.perf_counter()
    serial = run(n_replicates=args.replicates, n_jobs=1)
    rows.append(("serial (this process)", 1, time.perf_counter() - t0))
    t0 = time.perf_counter()
    local = run(n_replicates=args.replicates, n_jobs=2)
    rows.append(("local: 2 loky processes", 2, time.perf_counter() - t0))
    with LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        t0 = time.perf_counter()
        dask = run(n_replicates=args.replicates, backend="dask", client=client)
        rows.append((f"dask: LocalCluster {cores} workers x 1 thread", cores, time.perf_counter() - t0))
    same = serial.estimates.equals(local.estimates) and serial.estimates.equals(dask.estimates)
    base = rows[0][2]
    print(f"Throughput, default study (n = 110), {args.replicates} replicates, {cores} cores; "
          f"identical replicate results across backends: {same}")
    print("| backend | workers | seconds | replicates/s | speed-up vs serial |\n|---|---|---|---|---|")
    for name, w, sec in rows:
        print(f"| {name} | {w} | {sec:.2f} | {args.replicates / sec:.1f} | {base / sec:.2f} |")
    print("(wall time includes the truth resample, n_mc = 20,000, and pool/cluster dispatch; cluster start-up "
          "excluded)")

    print("\nCost of one replicate by size (this process, median of repeats)")
    print("| rows | seconds per replicate | ratio to n = 110 |\n|---|---|---|")
    first = None
    for n in args.sizes:
        reps = 6 if n <= 10_000 else 3
        t0 = time.perf_counter()
        run(n_replicates=1, n_jobs=1, sample_size=n)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = run(n_replicates=reps, n_jobs=1, sample_size=n)
        per = (time.perf_counter() - t0 - one) / (reps - 1)  # one-off costs (models, truth) cancel
        first = first or per
        print(f"| {n:,} | {per:.3f} | {per / first:.0f} |" + (f" ({res.n_failed} failed)" if res.n_failed else ""))

if __name__ == "__main__":
    pd.set_option("display.width", 140)
    main()
