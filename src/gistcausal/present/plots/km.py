"""Kaplan-Meier curves with confidence bands and a two-row numbers-at-risk table, and a scaled
Schoenfeld residual plot for the proportional-hazards check.

Compute-then-plot: everything drawn comes from a :class:`~gistcausal.stats.comparison.SurvivalComparison`
(or its ``curves`` frame); nothing is estimated here except the at-risk counts read off the curves.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

_COLORS = ("#1f5fa8", "#c8501e", "#2e8b57", "#7a3e9d")


def _at_risk_from_curves(curves: pd.DataFrame, times: np.ndarray) -> pd.DataFrame:
    rows = []
    for arm, g in curves.groupby("arm", sort=False):
        g = g.sort_values("time")
        tt = g["time"].to_numpy()
        pos = np.searchsorted(tt, times, side="left")
        ok = pos < tt.size
        p = np.minimum(pos, tt.size - 1)
        raw = np.where(ok, g["n_risk_raw"].to_numpy()[p], 0)
        wt = np.where(ok, g["n_risk"].to_numpy()[p], 0.0)
        rows += [{"arm": arm, "time": float(a), "n_at_risk": int(b), "weighted_n_at_risk": float(c)}
                 for a, b, c in zip(times, raw, wt)]
    return pd.DataFrame(rows)


def _curves_and_table(comparison_or_curves: Any, unweighted: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A copy of the curves with a ``weighting`` column (unweighted curves appended if given), and the
    comparison's at-risk table if any."""
    if isinstance(comparison_or_curves, pd.DataFrame):
        curves = comparison_or_curves.copy()
        table = None
    else:
        curves = comparison_or_curves.curves.copy()
        table = comparison_or_curves.at_risk
    if "weighting" not in curves:
        curves["weighting"] = "unweighted"
    if unweighted is not None and not (curves["weighting"] == "unweighted").any():
        extra = unweighted.curves if not isinstance(unweighted, pd.DataFrame) else unweighted
        extra = extra.copy()
        extra["weighting"] = "unweighted"
        curves = pd.concat([curves, extra], ignore_index=True)
    return curves, table


#: a step curve is drawn from the rows where it moves by this much (survival scale; under a pixel at the
#: report's figure size)
STEP_TOLERANCE = 1e-3
#: censoring ticks drawn per curve at most (evenly spread over the censored times)
MAX_TICKS = 300


def thin_steps(g: pd.DataFrame, tol: float = STEP_TOLERANCE,
               columns: tuple[str, ...] = ("surv", "ci_low", "ci_high")) -> pd.DataFrame:
    """The rows of a sorted curve frame needed to draw it within ``tol``: a row is kept where survival or a
    confidence limit moves into another ``tol``-wide bucket, plus the first and last rows (censoring ticks are
    placed from the full frame). A Kaplan-Meier curve of 200,000 patients has up to 200,000 distinct times; drawn from the kept rows it
    is the same picture to ``tol`` (tested), with far fewer points."""
    if len(g) <= 2000:
        return g
    keys = [np.floor(g[c].to_numpy(float) / tol) for c in columns if c in g]
    change = np.zeros(len(g), dtype=bool)
    change[0] = change[-1] = True
    for k in keys:
        change[1:] |= np.diff(np.nan_to_num(k, nan=-1.0)) != 0
    return g[change]


def _draw_curve(ax: Axes, g: pd.DataFrame, *, color: str, label: str, is_primary: bool, ci: bool) -> None:
    """One arm's step curve from S(0) = 1; the primary curve solid with its band and censoring ticks."""
    full = g.sort_values("time")
    g = thin_steps(full)
    tt = np.r_[0.0, g["time"].to_numpy()]
    ss = np.r_[1.0, g["surv"].to_numpy()]
    ax.step(tt, ss, where="post", color=color, lw=2.0 if is_primary else 1.1,
            ls="-" if is_primary else "--", alpha=1.0 if is_primary else 0.75, label=label)
    if ci and is_primary:
        lo = np.r_[1.0, g["ci_low"].to_numpy()]
        hi = np.r_[1.0, g["ci_high"].to_numpy()]
        ax.fill_between(tt, np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=1.0),
                        step="post", color=color, alpha=0.15, lw=0)
    cens = full[full["n_censor_raw"] > 0] if "n_censor_raw" in full else full.iloc[:0]
    if len(cens) > MAX_TICKS:  # a tick per censored time is ink, not information, in a large cohort
        cens = cens.iloc[np.unique(np.linspace(0, len(cens) - 1, MAX_TICKS).round().astype(int))]
    if is_primary and not cens.empty:
        ax.plot(cens["time"], cens["surv"], "|", color=color, ms=6, mew=1)


def _at_risk_table(ax: Axes, curves: pd.DataFrame, table: pd.DataFrame | None, at_risk_times: Any,
                   primary: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Times of the at-risk table (given, the comparison's, else the x ticks) and the counts at them."""
    if at_risk_times is not None:
        times = np.asarray(at_risk_times, dtype=float)
        risk = None
    elif table is not None:
        times = np.unique(table["time"].to_numpy(dtype=float))
        risk = table
    else:
        times = np.array([x for x in ax.get_xticks() if 0 <= x <= curves["time"].max()])
        risk = None
    if risk is None:
        risk = _at_risk_from_curves(curves[curves["weighting"] == primary], times)
    return times, risk


def _draw_at_risk(ax: Axes, risk: pd.DataFrame, times: np.ndarray, arms: list, *, weighted: bool,
                  arm_display: dict[str, str], suppress_below: int | None) -> int:
    """Write the numbers-at-risk rows under the axes (counts 1..k-1 as ``<k``); returns the number of rows."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    row = 0
    step = 0.055
    top = -0.19
    ax.text(0.0, top + 0.01, "Numbers at risk", transform=ax.transAxes, ha="left", va="bottom",
            fontsize=9, fontweight="bold")
    for i, arm in enumerate(arms):
        r = risk[risk["arm"] == arm].set_index("time")
        color = _COLORS[i % len(_COLORS)]
        label = arm_display.get(arm, arm)
        kinds = [("n at risk", "n_at_risk", "{:d}")]
        if weighted:
            kinds.append(("weighted n at risk", "weighted_n_at_risk", "{:.1f}"))
        for name, col, fmt in kinds:
            y = top - step * (row + 1)
            ax.text(-0.07, y, f"{label}: {name}", transform=ax.transAxes, ha="right", va="center",
                    fontsize=8, color=color)
            for tt in times:
                v = r[col].get(float(tt), np.nan) if not r.empty else np.nan
                txt = "" if pd.isna(v) else fmt.format(int(v) if col == "n_at_risk" else float(v))
                raw = r["n_at_risk"].get(float(tt), np.nan) if not r.empty else np.nan
                if suppress_below and not pd.isna(raw) and 0 < raw < suppress_below:
                    txt = f"<{suppress_below}"
                ax.text(tt, y, txt, transform=trans, ha="center", va="center", fontsize=8,
                        color=color, clip_on=False)
            row += 1
    return row


def plot_km(comparison_or_curves: Any, *, ax: Axes | None = None,
            weighted_and_unweighted: bool = True, unweighted: Any = None, ci: bool = True,
            title: str | None = None, time_unit: str | None = None,
            arm_display: dict[str, str] | None = None, at_risk_times: Any = None,
            suppress_below: int | None = None) -> Axes:
    """Step curves per arm with CI bands and a numbers-at-risk table under the plot.

    Parameters
    ----------
    comparison_or_curves : SurvivalComparison or DataFrame
        A comparison (its ``curves`` and ``at_risk``) or a curves frame with columns ``arm``,
        ``time``, ``surv``, ``ci_low``, ``ci_high``, ``n_risk``, ``n_risk_raw`` and optionally
        ``weighting``.
    ax : Axes, optional
    weighted_and_unweighted : bool, default=True
        When the input holds weighted and unweighted curves, draw both (unweighted dashed, no band).
    unweighted : SurvivalComparison, optional
        An unweighted comparison whose curves are drawn dashed (used when the weighted comparison
        does not carry them itself).
    ci : bool, default=True
        Shade pointwise intervals of the primary (weighted if any) curves.
    title, time_unit : str, optional
    arm_display : dict, optional
        Arm name -> display label.
    at_risk_times : sequence of float, optional
        Times of the at-risk table; default: the comparison's table, else the x ticks.
    suppress_below : int, optional
        Disclosure control: counts 1..k-1 (and their weighted counts) are printed as ``<k``
        (:mod:`gistcausal.design.disclosure`).

    Returns
    -------
    Axes
        With a table of two rows per arm, "n at risk" (patients) and "weighted n at risk" (sum of
        weights; only for weighted curves).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6))
    curves, table = _curves_and_table(comparison_or_curves, unweighted)
    weighted = (curves["weighting"] == "weighted").any()
    primary = "weighted" if weighted else "unweighted"
    arm_display = arm_display or {}
    arms = list(dict.fromkeys(curves["arm"]))
    for i, arm in enumerate(arms):
        label = arm_display.get(arm, arm)
        for weighting in ("unweighted", "weighted"):
            g = curves[(curves["arm"] == arm) & (curves["weighting"] == weighting)]
            if g.empty or (weighting != primary and not weighted_and_unweighted):
                continue
            is_primary = weighting == primary
            _draw_curve(ax, g, color=_COLORS[i % len(_COLORS)], is_primary=is_primary, ci=ci,
                        label=label if not weighted else f"{label} ({'IPTW' if is_primary else 'unweighted'})")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", frameon=False, fontsize=9)
    ax.grid(alpha=0.25)

    times, risk = _at_risk_table(ax, curves, table, at_risk_times, primary)
    xmax = max(float(curves["time"].max()), float(times.max()) if times.size else 0.0)
    ax.set_xlim(0, 1.03 * xmax)
    ax.set_xticks(times)
    row = _draw_at_risk(ax, risk, times, arms, weighted=weighted, arm_display=arm_display,
                        suppress_below=suppress_below)
    fig = ax.figure
    need = min(0.6, 0.1 + 0.04 * (row + 2))
    if fig.subplotpars.bottom < need:
        fig.subplots_adjust(bottom=need, left=max(fig.subplotpars.left, 0.33))
    return ax


def plot_schoenfeld(residuals: pd.DataFrame, *, term: str, ax: Axes | None = None,
                    lowess_frac: float = 0.5) -> Axes:
    """Scaled Schoenfeld residuals against transformed time with a smooth, as R ``plot(cox.zph)``.

    Parameters
    ----------
    residuals : DataFrame
        From :func:`gistcausal.stats.cox.schoenfeld_residuals` (``gtime`` and one column per term).
    term : str
        Column to plot.
    ax : Axes, optional
    lowess_frac : float, default=0.5
        Span of the LOWESS smooth (statsmodels), the visual check of a flat beta(t).
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    x = residuals["gtime"].to_numpy()
    y = residuals[term].to_numpy()
    ax.scatter(x, y, s=8, alpha=0.4, color="#555555")
    if x.size > 3:
        sm = lowess(y, x, frac=lowess_frac, return_sorted=True)
        ax.plot(sm[:, 0], sm[:, 1], color="#c8501e", lw=2)
    ax.axhline(float(np.mean(y)), color="#1f5fa8", ls="--", lw=1)
    ax.set_xlabel("Transformed time g(t)")
    ax.set_ylabel(f"Beta(t) for {term}")
    return ax


def plot_strategy_curves(curves: pd.DataFrame, *, ax: Axes | None = None, time_unit: str | None = None,
                         title: str | None = None) -> Axes:
    """Weighted survival curves per strategy of a clone-censor-weight analysis (:mod:`gistcausal.stats.ccw`).

    ``curves`` has columns ``strategy``, ``time``, ``surv`` (one row per event time).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    for i, (name, g) in enumerate(curves.groupby("strategy", sort=False)):
        t = np.concatenate([[0.0], g["time"].to_numpy(float)])
        s = np.concatenate([[1.0], g["surv"].to_numpy(float)])
        ax.step(t, s, where="post", color=_COLORS[i % len(_COLORS)], lw=2, label=str(name))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    ax.set_ylabel("Survival probability (IPCW)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_ph_residuals(residuals: pd.DataFrame, *, ax: Axes | None = None, time_unit: str = "",
                      lowess_frac: float = 0.5, title: str = "") -> Axes:
    """Scaled Schoenfeld residuals of treatment against time on the outcome's own axis, with a LOWESS smooth
    and the mean (the log hazard ratio): a flat smooth supports proportional hazards (R ``plot(cox.zph)``).

    ``residuals`` has ``time``, ``residual`` and ``n`` (events per point: 1, or more where disclosure control
    averaged them; such points are drawn larger and the axis label says so).
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    x = residuals["time"].to_numpy(float)
    y = residuals["residual"].to_numpy(float)
    binned = bool((residuals["n"] > 1).any())
    ax.scatter(x, y, s=28 if binned else 10, alpha=0.7 if binned else 0.45, color="#555555",
               label="mean of events in a bin" if binned else "one event")
    if x.size > 3:
        sm = lowess(y, x, frac=lowess_frac, return_sorted=True)
        ax.plot(sm[:, 0], sm[:, 1], color="#c8501e", lw=2, label="LOWESS smooth")
    if y.size:
        ax.axhline(float(np.mean(y)), color="#1f5fa8", ls="--", lw=1, label="constant effect (mean)")
        lo, hi = np.nanpercentile(y, [2, 98]) if y.size > 10 else (np.min(y), np.max(y))
        pad = 0.15 * max(hi - lo, 1e-9)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    ax.set_ylabel("Scaled Schoenfeld residual (log HR)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return ax
