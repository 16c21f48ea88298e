"""Forest plot of a specification grid: one row per specification, estimate and interval, null line."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gistcausal.analysis.specification import SpecificationGrid


def forest_plot(grid: SpecificationGrid, *, ax: Axes | None = None) -> Axes:
    """Estimates with intervals, top to bottom in grid order; the main analysis highlighted.

    Ratios (``hr``) are drawn on a log axis with the null at 1; differences on a linear axis with the null at 0.
    Specifications that could not be fitted are listed with "not fitted".
    """
    df = grid.to_frame()
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.38 * len(df) + 1.4))
    ratio = grid.measure in ("hr", "surv_ratio")
    y = np.arange(len(df))[::-1]
    for yi, (_, r) in zip(y, df.iterrows()):
        if not math.isfinite(r["value"]):
            ax.text(1.0 if ratio else 0.0, yi, "not fitted", va="center", ha="center", fontsize=7, color="#a33")
            continue
        color = "#1f5fa8" if r["group"] == "main" else ("#777777" if r["group"] == "reference" else "#333333")
        ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=color, lw=1.4)
        ax.plot(r["value"], yi, "s" if r["group"] == "main" else "o", color=color, ms=6 if r["group"] == "main" else 4.5)
    ax.axvline(1.0 if ratio else 0.0, color="#a33", ls="--", lw=0.9)
    if ratio:
        ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['specification']}" for _, r in df.iterrows()], fontsize=8)
    names = {"hr": "Hazard ratio", "rmst_diff": "RMST difference", "surv_diff": "Survival difference"}
    ax.set_xlabel(f"{names.get(grid.measure, grid.measure)} (95% CI), {grid.outcome}")
    ax.set_title("Specification grid", fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return ax
