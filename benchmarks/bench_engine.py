"""Replicates per second on 1 and 2 workers of a real Dask ``LocalCluster`` and of local processes (issue 17).

The workload is the whole-pipeline bootstrap of an IPTW analysis (propensity refit, stabilized ATE weights,
weighted Kaplan-Meier at landmarks, RMST, Cox) on a synthetic cohort, one replicate at a time
(``path="per_replicate"``: each chunk is pure CPU, so it measures the engine, not the batching). Each engine is
warmed up (workers started, the problem shipped) before the timed run; the same seeds give the same replicate
table on every engine, which the script checks.

Scaling efficiency = (replicates/s with 2 workers) / (2 x replicates/s with 1 worker); the issue asks >= 0.8.
On a machine shared with other work the 2-worker figure is pulled down by whatever else runs: the load average
is printed with the result.

    .venv/bin/python benchmarks/bench_engine.py --n 2000 --B 200
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from _common import synthetic


def run(eng, df, X, B):
    from gistcausal.inference.bootstrap import bootstrap_survival

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = bootstrap_survival(df["time"], df["event"], df["treatment"], X, outcome="o", estimand="ATE",
                                 stabilize=True, landmarks=(5.0, 10.0), horizon=10.0, n_boot=B, random_state=3,
                                 arm_labels=("control", "treated"), path="per_replicate", engine=eng)
        return time.perf_counter() - t0, res.replicates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--B", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per engine; the fastest is kept")
    args = ap.parse_args()
    from gistcausal.engine import Engine, open_executor

    df = synthetic(args.n)
    X = np.c_[np.ones(len(df)), df.filter(like="x").to_numpy(float)]
    rows, tables = [], {}
    for kind in ("local", "dask"):
        for w in (1, 2):
            eng = Engine(kind=kind, n_workers=w) if kind == "dask" or w > 1 else Engine(n_workers=1)
            with open_executor(eng) as ex:
                run(ex, df, X, max(20, args.B // 10))  # warm-up: start workers, ship the problem
                # the fastest of several runs: what the engine can do, less what a neighbour's job took
                secs, table = min((run(ex, df, X, args.B) for _ in range(args.repeat)), key=lambda r: r[0])
            tables[(kind, w)] = table
            rows.append({"engine": kind, "workers": w, "seconds": secs, "replicates_per_s": args.B / secs})
    out = pd.DataFrame(rows)
    for kind in ("local", "dask"):
        one = out[(out.engine == kind) & (out.workers == 1)]["replicates_per_s"].iloc[0]
        out.loc[(out.engine == kind) & (out.workers == 2), "efficiency"] = \
            out[(out.engine == kind) & (out.workers == 2)]["replicates_per_s"] / (2 * one)
    same = all(tables[k].equals(tables[("local", 1)]) for k in tables)
    print(f"n = {args.n}, B = {args.B}, per-replicate bootstrap, fastest of {args.repeat}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"identical replicate tables on every engine and worker count: {same}")


if __name__ == "__main__":
    main()
