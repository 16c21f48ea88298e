"""Plasmode plots: replicate estimates around the truth, and coverage with Monte Carlo error (ax in, ax out)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gistcausal.analysis.plasmode import PlasmodeResult


def _contrast(contrast: str, arm_labels: dict[str, str] | None) -> str:
    """``"b vs a"`` with the arms' display names."""
    return " vs ".join((arm_labels or {}).get(a, a) for a in str(contrast).split(" vs "))


def _label(method: str, measure: str, time: float, variance: str | None = None) -> str:
    when = "" if time is None or (isinstance(time, float) and math.isnan(time)) else f" @ {time:g}"
    return f"{method} {measure}{when}" + (f" ({variance})" if variance else "")


def plot_estimates(result: PlasmodeResult, *, ax: Axes | None = None, max_points: int = 400,
                   random_state: int = 0, arm_labels: dict[str, str] | None = None) -> Axes:
    """Replicate estimates minus the true marginal effect, one row per estimator.

    Errors are on the analysis scale (log hazard ratio for ``hr``, the natural scale otherwise), so every
    estimator is centred on 0 when unbiased: box (quartiles, 1.5 IQR whiskers), jittered points (at most
    ``max_points`` per row, sampled with ``random_state``) and the mean (diamond) with ±1.96 Monte Carlo SE.

    Parameters
    ----------
    result : PlasmodeResult
    ax : Axes, optional
        New figure when omitted.
    max_points : int, default=400
    random_state : int, default=0
        Seed of the jitter and the point subsample.
    arm_labels : dict, optional
        Display names of the arms in the pairwise contrasts of three or more arms.

    Returns
    -------
    Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(result.metrics), 1) + 1.6))
    rng = np.random.default_rng(random_state)
    est = result.estimates
    rows = result.metrics.reset_index(drop=True)
    labels, data = [], []
    for r in rows.itertuples():
        g = est[(est["method"] == r.method) & (est["measure"] == r.measure) & (est["variance"] == r.variance)]
        if "contrast" in rows.columns:  # K arms: one row per pairwise contrast
            g = g[g["contrast"] == r.contrast]
        if r.time is not None and not (isinstance(r.time, float) and math.isnan(r.time)):
            g = g[np.isclose(g["time"].to_numpy(float), float(r.time))]
        v = g["value"].to_numpy(float)
        v = v[np.isfinite(v)]
        if r.scale == "log":
            v = np.log(v[v > 0]) - math.log(r.true_value)
        else:
            v = v - r.true_value
        data.append(v)
        labels.append(_label(r.method, r.measure, r.time) + (" [log]" if r.scale == "log" else "")
                      + (f" | {_contrast(r.contrast, arm_labels)}" if "contrast" in rows.columns else ""))
    if not data:
        ax.text(0.5, 0.5, "no successful replicates: see the failures table", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    pos = np.arange(len(data))[::-1]
    ax.boxplot([d if d.size else np.array([np.nan]) for d in data], positions=pos, orientation="horizontal", widths=0.5,
               showfliers=False, medianprops={"color": "0.3"})
    for p, d in zip(pos, data):
        if d.size > max_points:
            d = rng.choice(d, size=max_points, replace=False)
        ax.scatter(d, p + rng.uniform(-0.18, 0.18, d.size), s=6, alpha=0.35, color="tab:blue", lw=0)
    ax.errorbar(rows["bias"], pos, xerr=1.96 * rows["bias_mcse"].fillna(0.0), fmt="D", color="tab:red",
                ms=5, capsize=3, label="mean error ± 1.96 MC SE")
    ax.axvline(0.0, color="k", lw=1, ls="--")
    ax.set_yticks(pos, labels)
    ax.set_xlabel("estimate − true marginal effect")
    ax.set_title(f"Plasmode: {result.n_replicates - result.n_failed} of {result.n_replicates} replicates "
                 f"({result.settings.get('estimand')})")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax


def plot_coverage(result: PlasmodeResult, *, ax: Axes | None = None,
                  arm_labels: dict[str, str] | None = None) -> Axes:
    """Coverage of the true marginal effect per estimator x variance method, with ±1.96 Monte Carlo SE.

    The nominal level ``1 - alpha`` is drawn as a vertical line; a bar that excludes it signals under- or
    over-coverage beyond Monte Carlo error.

    Parameters
    ----------
    result : PlasmodeResult
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.4 * max(len(result.metrics), 1) + 1.4))
    m = result.metrics.reset_index(drop=True)
    pos = np.arange(len(m))[::-1]
    ax.errorbar(m["coverage"], pos, xerr=1.96 * m["coverage_mcse"].fillna(0.0), fmt="o", color="tab:blue",
                capsize=3)
    nominal = 1 - float(m["alpha"].iloc[0]) if len(m) else 0.95
    ax.axvline(nominal, color="tab:red", ls="--", lw=1, label=f"nominal {nominal:.0%}")
    ax.set_yticks(pos, [_label(r.method, r.measure, r.time, r.variance)
                        + (f" | {_contrast(r.contrast, arm_labels)}" if "contrast" in m.columns else "")
                        for r in m.itertuples()])
    lo = np.nanmin(np.r_[m["coverage"] - 1.96 * m["coverage_mcse"], nominal]) if len(m) else nominal
    ax.set_xlim(max(0.0, lo - 0.05), 1.005)
    ax.set_xlabel("coverage of the 95% interval")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    return ax


__all__ = ["plot_coverage", "plot_estimates"]
