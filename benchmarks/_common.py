"""Shared helpers of the benchmark scripts (synthetic data, timing, R availability, peak memory)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def synthetic(n: int, p: int = 12, seed: int = 1) -> pd.DataFrame:
    """n rows: treatment + (p - 1) covariates (half binary), Weibull-ish PH times, uniform censoring, and
    ATE weights from a logistic propensity model."""
    rng = np.random.default_rng(seed)
    q = p - 1
    x = rng.normal(size=(n, q)).astype(float)
    x[:, q // 2:] = (x[:, q // 2:] > 0.3)
    ps = 1 / (1 + np.exp(-(0.2 + x @ np.linspace(-0.4, 0.4, q))))
    a = (rng.random(n) < ps).astype(float)
    beta = np.r_[-0.3, np.linspace(-0.3, 0.3, q)]
    lin = np.c_[a, x] @ beta
    t_ev = rng.exponential(1.0, n) * np.exp(-lin) * 10
    c = rng.uniform(0, 30, n)
    df = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(q)])
    df.insert(0, "treatment", a)
    df["time"] = np.round(np.minimum(t_ev, c), 4)
    df["event"] = (t_ev <= c).astype(float)
    df["w"] = np.where(a == 1, 1 / ps, 1 / (1 - ps))
    return df


def best_of(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (the machine is shared: the minimum is the least disturbed)."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def peak_bytes(fn) -> int:
    """Peak traced allocation (numpy reports to tracemalloc) while running ``fn``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def have_r() -> bool:
    return shutil.which("Rscript") is not None


def run_r(code: str, df: pd.DataFrame | None = None) -> str:
    """Run R code (``data`` bound to the CSV of ``df``) and return its stdout; timings are taken inside R
    with system.time, so reading the CSV is not counted."""
    with tempfile.TemporaryDirectory() as tmp:
        if df is not None:
            path = Path(tmp) / "data.csv"
            df.to_csv(path, index=False)
            code = f'data <- read.csv("{path}")\n' + code
        script = Path(tmp) / "bench.R"
        script.write_text(code)
        res = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        return res.stdout.strip()


def r_versions() -> str:
    if not have_r():
        return "R not installed"
    return run_r('cat(R.version.string, "; survival", as.character(packageVersion("survival")))')
