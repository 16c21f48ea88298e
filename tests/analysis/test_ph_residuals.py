"""The scaled-Schoenfeld-residual figure data (analysis.causal.ph_residuals): one point per event in a small
cohort, at most ``max_points`` bin means in a registry-sized one, every event counted once."""
from __future__ import annotations

import numpy as np
import pandas as pd

from gistcausal.analysis.causal import ph_residuals


def _frame(n: int, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    time = rng.exponential(10 / np.where(t == 1, 0.7, 1.0))
    cens = rng.exponential(15, n)
    f = pd.DataFrame({"os_time": np.minimum(time, cens), "os_event": (time <= cens).astype(int), "treatment": t})
    return f, rng.uniform(0.5, 2.0, n)


def test_one_point_per_event_below_max_points():
    f, w = _frame(400)
    out = ph_residuals(f, "os", w)
    assert len(out) == int(f["os_event"].sum()) and (out["n"] == 1).all()


def test_registry_sized_cohort_is_drawn_from_bin_means():
    f, w = _frame(6000)
    every = ph_residuals(f, "os", w, max_points=10**9)
    n_events = len(every)
    assert n_events > 3000
    out = ph_residuals(f, "os", w, max_points=500)
    size = -(-n_events // 500)
    assert len(out) <= 500 and int(out["n"].sum()) == n_events
    assert out["n"].min() >= size
    # each point is the mean of consecutive events (the last short group folded into the one before)
    group = np.arange(n_events) // size
    if n_events % size:
        group[group == group.max()] = group.max() - 1
    want = every.groupby(group).agg(time=("time", "mean"), residual=("residual", "mean"))
    np.testing.assert_allclose(out["time"], want["time"], rtol=1e-12)
    np.testing.assert_allclose(out["residual"], want["residual"], rtol=1e-12)
    # disclosure control's k still applies when it is the larger group
    big_k = ph_residuals(f, "os", w, bins=4 * size, max_points=500)
    assert big_k["n"].min() >= 4 * size
