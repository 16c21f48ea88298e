"""A new user's first run on an analysis-ready table of ~3,000 patients (issue 15): seconds per step.

The table is R's ``survival::rotterdam`` (2,982 breast-cancer patients; hormone therapy vs none; recurrence-free
survival; 8 covariates including a text tumour size) when R is installed, else a synthetic table of the same shape.
The config is the one ``gistcausal init --data`` writes, run unchanged, with every default step (Table 1, IPTW,
balance, E-values, specification grid, DoWhy refutations). Target: well under 30 s on 2 cores.

Run: ``python benchmarks/bench_own_data.py`` (prints one line per step and the total, and the machine).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

_R = ('library(survival); d <- rotterdam; d$rfs_time <- pmin(d$rtime, d$dtime) / 30.44; '
      'd$rfs_event <- pmax(d$recur, d$death); d <- d[, c("age", "meno", "size", "grade", "nodes", "pgr", "er", '
      '"hormon", "chemo", "rfs_time", "rfs_event")]; write.csv(d, "{out}", row.names = FALSE)')


def table(out: Path) -> str:
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "-e", _R.replace("{out}", str(out))], capture_output=True)
        if r.returncode == 0:
            return "survival::rotterdam (n = 2982)"
    rng = np.random.default_rng(15)
    n = 2982
    nodes = rng.poisson(2.7, n) * (rng.random(n) < 0.5)
    hormon = rng.binomial(1, 0.11 + 0.05 * (nodes > 3), n)
    t = rng.exponential(90 * np.exp(-0.1 * nodes + 0.2 * hormon), n)
    c = rng.uniform(12, 230, n)
    pd.DataFrame({"age": rng.integers(24, 90, n), "meno": rng.binomial(1, 0.56, n),
                  "size": rng.choice(["<=20", "20-50", ">50"], n, p=[0.47, 0.44, 0.09]),
                  "grade": rng.choice([2, 3], n, p=[0.26, 0.74]), "nodes": nodes,
                  "pgr": np.round(rng.gamma(0.5, 300, n)), "er": np.round(rng.gamma(0.6, 280, n)),
                  "hormon": hormon, "chemo": rng.binomial(1, 0.19, n), "rfs_time": np.minimum(t, c),
                  "rfs_event": (t <= c).astype(int)}).to_csv(out, index=False)
    return "synthetic table shaped like survival::rotterdam (n = 2982)"


def main() -> None:
    from typer.testing import CliRunner

    from gistcausal.cli import app

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        source = table(d / "rotterdam.csv")
        t0 = time.perf_counter()
        r = CliRunner().invoke(app, ["init", "--data", str(d / "rotterdam.csv"), "--treatment", "hormon", "--time",
                                     "rfs_time", "--event", "rfs_event", "--yes", "-o", str(d / "rot.yaml")])
        t_init = time.perf_counter() - t0
        assert r.exit_code == 0, r.output
        t0 = time.perf_counter()
        r = CliRunner().invoke(app, ["run", str(d / "rot.yaml"), "-q", "-o", str(d / "out")])
        wall = time.perf_counter() - t0
        assert r.exit_code in (0, 7), r.output
        timings = json.loads((d / "out" / "manifest.json").read_text())["timings_seconds"]
    print(f"data: {source}; machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"init --data: {t_init:.2f} s")
    for step, s in timings.items():
        print(f"  {step:<20} {s:7.2f} s")
    print(f"run (wall, incl. writing the report): {wall:.2f} s   target: < 30 s")


if __name__ == "__main__":
    main()
