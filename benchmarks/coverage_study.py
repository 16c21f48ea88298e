"""Coverage study of the three variance methods on the synthetic registry (docs/coverage.md).

For each registry size (``--sizes``: 480 gives the study's 110-patient cohort, 1920 about 420 patients) and each
of ``--cohorts`` seeds, the synthetic registry is simulated, the study's protocol applied (the default config),
and the IPTW analysis of PFS run under ATE and ATT: hazard ratio, RMST difference at 24 months and survival
difference at 12 months, each with the ``robust`` (weights known) and ``m_estimation`` variances and, on the
first ``--boot-cohorts`` cohorts, the whole-pipeline ``bootstrap`` (percentile, ``--B`` replicates). Truth:
:func:`gistcausal.design.simulate.true_marginal_effects` (Monte Carlo, 200 000 patients).

Reported per size, estimand, estimator and variance method: bias, empirical SE of the estimates, mean estimated
SE, their ratio, and 95% CI coverage with its Monte Carlo SE sqrt(c (1 - c) / R). Hazard ratios on the log scale.

Run (about 5 minutes on 2 cores):

    .venv/bin/python benchmarks/coverage_study.py --cohorts 200 --boot-cohorts 60 --B 200

Cohorts run on the engine of :mod:`gistcausal.engine` (``--engine local|dask``, ``--address`` a Dask scheduler,
``--n-workers``), one task per cohort; each cohort is seeded by its own number, so the table is the same on
any engine and worker count.

Writes benchmarks/results/coverage.csv and prints the markdown table pasted into docs/coverage.md.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MEASURES = (("hr", None), ("rmst_diff", 24.0), ("surv_diff", 12.0))


def _config():
    from gistcausal.design.config import load_config

    cfg = load_config(ROOT / "configs" / "gist_second_line.yaml")
    s = cfg.analysis.survival.model_copy(update={"landmarks": [12.0], "horizon": 24.0})
    return cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"survival": s})})


def _pick(ests, measure, time_):
    for e in ests:
        if e.measure == measure and (time_ is None or e.time == time_) and " vs " in e.contrast:
            return e
    raise KeyError(measure)


def _cohort_task(shared: tuple, item: tuple) -> list[dict]:
    """One cohort on a worker (module level, so the engine can ship it)."""
    estimands, B = shared
    size, seed, boot = item
    return one_cohort(size, seed, estimands, boot, B)


def one_cohort(size: int, seed: int, estimands: tuple[str, ...], do_boot: bool, B: int) -> list[dict]:
    from gistcausal.analysis.iptw import bootstrap_estimates
    from gistcausal.design.cohort import build_cohort
    from gistcausal.errors import GistCausalError
    from gistcausal.analysis.iptw import m_estimation_estimates
    from gistcausal.design.simulate import simulate_registry

    cfg = _config()
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = build_cohort(cfg, simulate_registry(n_patients=size, seed=seed)).frame
        for est in estimands:
            try:
                me = m_estimation_estimates(cfg, frame, outcome="pfs", estimand=est)
            except GistCausalError as err:
                rows.append({"size": size, "seed": seed, "estimand": est, "failed": type(err).__name__})
                continue
            boot = None
            if do_boot:
                try:
                    boot = bootstrap_estimates(cfg, frame, outcome="pfs", estimand=est, n_boot=B, n_jobs=1,
                                               random_state=seed)
                except GistCausalError:
                    boot = None
            for measure, t in MEASURES:
                e = _pick(me, measure, t)
                log = measure == "hr"
                v = math.log(e.value) if log else e.value
                z = 1.959963984540054
                base = {"size": size, "n": len(frame), "seed": seed, "estimand": est, "measure": measure,
                        "estimate": v, "failed": ""}
                rows.append({**base, "variance": "robust", "se": e.extra["se_weights_known"],
                             "lo": v - z * e.extra["se_weights_known"], "hi": v + z * e.extra["se_weights_known"]})
                rows.append({**base, "variance": "m_estimation", "se": e.se, "lo": v - z * e.se, "hi": v + z * e.se})
                if boot is not None:
                    b = _pick(boot.estimates, measure, t)
                    lo, hi = (math.log(b.ci_low), math.log(b.ci_high)) if log else (b.ci_low, b.ci_high)
                    rows.append({**base, "variance": f"bootstrap (B={B})", "se": b.se, "lo": lo, "hi": hi})
    return rows


def truth(estimands) -> dict:
    from gistcausal.design.simulate import true_marginal_effects

    out = {}
    for est in estimands:
        te = true_marginal_effects(estimand=est, landmarks=(12.0,), horizon=24.0, n_mc=200_000)
        out[(est, "hr")] = math.log(te.value("pfs", "hr"))
        out[(est, "rmst_diff")] = te.value("pfs", "rmst_diff", time=24.0)
        out[(est, "surv_diff")] = te.value("pfs", "surv_diff", time=12.0)
    return out


def summarise(df: pd.DataFrame, tr: dict) -> pd.DataFrame:
    ok = df[df["failed"] == ""].copy()
    ok["truth"] = [tr[(e, m)] for e, m in zip(ok["estimand"], ok["measure"])]
    ok["covered"] = (ok["lo"] <= ok["truth"]) & (ok["truth"] <= ok["hi"])
    rows = []
    for (size, est, measure, var), g in ok.groupby(["size", "estimand", "measure", "variance"], sort=False):
        r = len(g)
        cov = g["covered"].mean()
        emp = g["estimate"].std(ddof=1)
        rows.append({"cohort n (mean)": round(g["n"].mean()), "estimand": est,
                     "estimator": {"hr": "log HR", "rmst_diff": "RMST diff (24 mo)",
                                   "surv_diff": "S diff (12 mo)"}[measure],
                     "variance": var, "cohorts": r, "truth": g["truth"].iloc[0],
                     "bias": g["estimate"].mean() - g["truth"].iloc[0], "empirical SE": emp,
                     "mean est. SE": g["se"].mean(), "SE ratio": g["se"].mean() / emp,
                     "coverage": cov, "MC SE": math.sqrt(cov * (1 - cov) / r)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", type=int, default=200)
    ap.add_argument("--boot-cohorts", type=int, default=60)
    ap.add_argument("--B", type=int, default=200)
    ap.add_argument("--sizes", default="480,1920")
    ap.add_argument("--estimands", default="ATE,ATT")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--engine", choices=("local", "dask"), default="local")
    ap.add_argument("--address", default=None, help="Dask scheduler address (--engine dask).")
    ap.add_argument("--n-workers", type=int, default=None, help="Worker processes (default: one per core).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coverage.csv"))
    args = ap.parse_args()
    estimands = tuple(args.estimands.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    tr = truth(estimands)
    tasks = [(size, args.seed + i, i < args.boot_cohorts) for size in sizes for i in range(args.cohorts)]
    from gistcausal.engine import Engine, open_executor

    engine = Engine(kind=args.engine, address=args.address, n_workers=args.n_workers)

    def progress(done: int, total: int) -> None:
        if done and (done % 50 == 0 or done == total):
            print(f"  {done}/{total} cohorts", file=sys.stderr)

    with open_executor(engine) as ex:
        parts = ex.map_replicates(_cohort_task, tasks, shared=(estimands, args.B), progress=progress)
    df = pd.DataFrame([r for p in parts for r in p])
    df["failed"] = df["failed"].fillna("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    summary = summarise(df, tr)
    summary.to_csv(Path(args.out).with_name("coverage_summary.csv"), index=False)
    n_fail = df.loc[df["failed"] != "", ["size", "estimand", "failed"]].value_counts()
    print(f"# coverage study: sizes {sizes}, {args.cohorts} cohorts each, bootstrap on {args.boot_cohorts} "
          f"(B={args.B}), seeds {args.seed}..{args.seed + args.cohorts - 1}; "
          f"{time.perf_counter() - t0:.0f} s wall")
    if len(n_fail):
        print("cohorts where the analysis failed:", n_fail.to_dict())
    print(summary.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
