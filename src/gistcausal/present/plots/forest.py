"""Forest plot of a specification grid: one row per specification, estimate and interval, null line."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gistcausal.analysis.specification import RATIO_MEASURES, SpecificationGrid


_RATIO_TICKS = (0.05, 0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0)


def ratio_ticks(lo: float, hi: float, *, max_ticks: int = 7) -> list[float]:
    """Readable ticks for a log ratio axis spanning [lo, hi]: round ratios inside the range, 1 always, thinned
    to at most ``max_ticks`` (a log axis left to matplotlib shows a single "10^0" over a narrow range)."""
    inside = [t for t in _RATIO_TICKS if lo <= t <= hi] or [1.0]
    if 1.0 not in inside:
        inside = sorted(inside + [1.0])
    while len(inside) > max_ticks:
        inside = [t for i, t in enumerate(inside) if i % 2 == 0 or t == 1.0]
    return inside


def forest_plot(grid: SpecificationGrid, *, ax: Axes | None = None, outcome_label: str | None = None,
                time_unit: str = "") -> Axes:
    """Estimates with intervals, top to bottom in grid order; the main analysis highlighted.

    Ratios (``hr``, ``cs_hr``) are drawn on a log axis with the null at 1; differences on a linear axis with the
    null at 0. Specifications that could not be fitted are listed with "not fitted"; ``time_unit`` follows the
    landmark of a cumulative incidence difference in the axis label.
    """
    df = grid.to_frame()
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.38 * len(df) + 1.4))
    ratio = grid.measure in RATIO_MEASURES
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
        fin = df[np.isfinite(df["ci_low"]) & np.isfinite(df["ci_high"])]
        lo = float(min(fin["ci_low"].min(), 1.0)) if len(fin) else 0.5
        hi = float(max(fin["ci_high"].max(), 1.0)) if len(fin) else 2.0
        ticks = ratio_ticks(lo * 0.95, hi * 1.05)
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['specification']}" for _, r in df.iterrows()], fontsize=8)
    what = grid.describe(time_unit)
    ax.set_xlabel(f"{what[0].upper()}{what[1:]} (95% CI), {outcome_label or grid.outcome}")
    ax.set_title("Specification grid", fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return ax
