"""Covariate balance: standardized mean differences, variance ratios, KS statistics and the balance table.

Conventions follow R's cobalt (Greifer; ``?bal.tab``, ``?col_w_smd``), so numbers can be compared with
published cobalt output:

* :math:`\\mathrm{SMD} = (\\bar x^w_1 - \\bar x^w_0)/s`, weighted means in the numerator, and a denominator
  :math:`s` computed on the **unweighted** sample, so that weighting cannot improve balance by inflating
  the denominator. ``s_d_denom="auto"`` picks it from the estimand: ``"pooled"``
  :math:`\\sqrt{(s_1^2 + s_0^2)/2}` for ATE, ATO and matching weights, ``"treated"`` :math:`s_1` for ATT,
  ``"control"`` :math:`s_0` for ATC.
* Variance of a continuous covariate: the usual :math:`n-1` sample variance; of a binary covariate:
  :math:`p(1-p)`.
* Binary covariates (two distinct values; the indicator of the larger value, or of the level for
  categoricals) get the **raw difference in proportions** by default (cobalt's ``binary = "raw"``);
  ``binary="std"`` standardizes them too.
* Variance ratio (continuous covariates only): weighted variance treated / control, with the weighted variance
  :math:`\\frac{\\sum w}{(\\sum w)^2 - \\sum w^2}\\sum w (x - \\bar x^w)^2`.
* Kolmogorov-Smirnov statistic: :math:`\\max_v |F^w_1(v) - F^w_0(v)|` of the weighted empirical CDFs; for
  binary covariates it is the absolute difference in proportions.
* Categorical covariates with more than two levels: one row per level; with two levels, one row for the
  second level (cobalt's ``splitfactor(drop.first = "if2")``).
* A covariate is flagged when :math:`|\\mathrm{SMD}| \\ge` ``threshold`` (0.1 by default; Austin 2009).

References
----------
Austin PC (2009). Balance diagnostics for comparing the distribution of baseline covariates between
treatment groups in propensity-score matched samples. Stat Med 28:3083-3107.
Austin PC, Stuart EA (2015). Moving towards best practice when using inverse probability of treatment
weighting (IPTW) using the propensity score to estimate causal treatment effects in observational studies.
Stat Med 34:3661-3679.
Greifer N. cobalt: Covariate Balance Tables and Plots. R package; documentation of ``bal.tab`` and
``col_w_smd`` (https://ngreifer.github.io/cobalt/reference/balance-summary.html).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from gistcausal.effects import json_safe
from gistcausal.errors import ConfigError, DataError
from gistcausal._checks import ESTIMANDS, check_estimand
from gistcausal.stats.weights import kish_ess

SDDenom = Literal["auto", "pooled", "treated", "control"]

CONVENTIONS = (
    "Balance conventions (as R cobalt): SMD = difference in weighted means / SD of the unweighted sample; "
    "SD denominator {denom} (pooled = sqrt((s1^2 + s0^2)/2) for ATE/ATO, treated for ATT, control for ATC); "
    "binary covariates: {binary}; variance of binary = p(1-p), of continuous = n-1 sample variance; "
    "variance ratios (treated/control, weighted variance sum(w)/((sum w)^2 - sum w^2) * sum w(x - m)^2) for "
    "continuous covariates only; KS = max difference of weighted ECDFs; |SMD| >= {threshold:g} flagged."
)


def _arrays(x, treatment, weights, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    t = np.asarray(treatment)
    if x.shape != t.shape or x.ndim != 1:
        raise DataError(f"{where}: x and treatment must be 1-d of equal length (got {x.shape} and {t.shape}). "
                        "Pass one value per patient.")
    if not np.all(np.isin(t, (0, 1))):
        raise DataError(f"{where}: treatment must be coded 0/1 (got values {sorted(map(str, np.unique(t)))[:5]}). "
                        "Recode 1 = treated, 0 = control.")
    w = np.ones(x.size) if weights is None else np.asarray(getattr(weights, "weights", weights), dtype=float)
    if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f"{where}: weights must be finite, non-negative and one per patient (got shape {w.shape}, "
                        f"{int(np.sum(~np.isfinite(w) | (w < 0)))} invalid). Pass WeightResult.weights.")
    if np.any(np.isnan(x)):
        raise DataError(f"{where}: covariate has {int(np.isnan(x).sum())} missing values (got NaN). Impute or "
                        "drop them before computing balance.")
    t = t.astype(int)
    for arm, code in (("treated", 1), ("control", 0)):
        if not np.any((t == code) & (w > 0)):
            raise DataError(f"{where}: arm {arm!r} has no patients with positive weight (got 0). Check the "
                            "treatment coding and weights.")
    return x, t, w


def _is_binary(x: np.ndarray) -> bool:
    """Every value 0 or 1 (one comparison pass; sorting out the distinct values took 2 ms per call at 229,000
    patients, issue 17)."""
    return bool(np.all((x == 0.0) | (x == 1.0)))


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def _wvar(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted variance with the reliability-weights correction; equals var(x) (n-1) for unit weights."""
    m = _wmean(x, w)
    sw, sw2 = w.sum(), np.sum(w ** 2)
    return float(sw / (sw ** 2 - sw2) * np.sum(w * (x - m) ** 2))


def _unweighted_var(x: np.ndarray, binary: bool) -> float:
    if binary:
        p = x.mean()
        return float(p * (1 - p))
    return float(np.var(x, ddof=1)) if x.size > 1 else math.nan


def _resolve_denom(s_d_denom: str, estimand: str, where: str) -> str:
    check_estimand(estimand, where=where)
    if s_d_denom == "auto":
        return ESTIMANDS[estimand]["s_d_denom"]
    if s_d_denom not in ("pooled", "treated", "control"):
        raise ConfigError(f"{where}: s_d_denom must be one of 'auto', 'pooled', 'treated', 'control' (got "
                          f"{s_d_denom!r}). Pick one of these.")
    return s_d_denom


def smd(x, treatment, *, weights=None, estimand: str = "ATE", binary: Literal["raw", "std"] = "raw",
        s_d_denom: SDDenom = "auto") -> float:
    """(Standardized) mean difference, treated minus control, with cobalt's conventions.

    Parameters
    ----------
    x : array-like of float
        One covariate (binary covariates coded 0/1).
    treatment : array-like of {0, 1}
    weights : array-like or WeightResult, optional
        Weights for the means; the denominator always uses the unweighted sample.
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}, default="ATE"
        Sets the denominator when ``s_d_denom="auto"``.
    binary : {"raw", "std"}, default="raw"
        For a 0/1 covariate: raw difference in proportions, or standardized with :math:`p(1-p)` variances.
    s_d_denom : {"auto", "pooled", "treated", "control"}, default="auto"

    Returns
    -------
    float
        :math:`(\\bar x^w_1 - \\bar x^w_0)/s`, or the raw difference for binary covariates with ``binary="raw"``.
        NaN when the denominator is 0 (to rounding: below 1e-10 times max |x|).
    """
    where = "smd"
    x, t, w = _arrays(x, treatment, weights, where)
    denom_kind = _resolve_denom(s_d_denom, estimand, where)
    if binary not in ("raw", "std"):
        raise ConfigError(f"{where}: binary must be 'raw' or 'std' (got {binary!r}). Pick one of these.")
    is_bin = _is_binary(x)
    diff = _wmean(x[t == 1], w[t == 1]) - _wmean(x[t == 0], w[t == 0])
    if is_bin and binary == "raw":
        return float(diff)
    v1, v0 = _unweighted_var(x[t == 1], is_bin), _unweighted_var(x[t == 0], is_bin)
    s = {"pooled": math.sqrt((v1 + v0) / 2), "treated": math.sqrt(v1), "control": math.sqrt(v0)}[denom_kind]
    # a constant covariate has a rounding-level SD; treat it as 0 (SMD undefined) rather than divide by it
    return float(diff / s) if s > 1e-10 * max(1.0, float(np.max(np.abs(x)))) else math.nan


def variance_ratio(x, treatment, *, weights=None) -> float:
    """Weighted variance of the treated over that of the controls (continuous covariates; cobalt's formula)."""
    x, t, w = _arrays(x, treatment, weights, "variance_ratio")
    v0 = _wvar(x[t == 0], w[t == 0])
    return float(_wvar(x[t == 1], w[t == 1]) / v0) if v0 > 0 else math.nan


def ks_statistic(x, treatment, *, weights=None) -> float:
    """Weighted two-sample Kolmogorov-Smirnov statistic :math:`\\max_v |F^w_1(v) - F^w_0(v)|`."""
    x, t, w = _arrays(x, treatment, weights, "ks_statistic")
    values = np.unique(x)
    cdf = []
    for code in (1, 0):
        xs, ws = x[t == code], w[t == code]
        order = np.argsort(xs)
        cum = np.cumsum(ws[order]) / ws.sum()
        idx = np.searchsorted(xs[order], values, side="right")
        cdf.append(np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0))
    return float(np.max(np.abs(cdf[0] - cdf[1])))


def _ecdf_grid(x1: np.ndarray, x0: np.ndarray):
    """The KS statistic of :func:`ks_statistic` for one covariate, as a function of the two arms' weights: the
    arms are sorted once and the distinct values found once, then each weighting costs two cumulative sums."""
    values = np.unique(np.concatenate([x1, x0]))
    o1, o0 = np.argsort(x1), np.argsort(x0)
    i1 = np.searchsorted(x1[o1], values, side="right")
    i0 = np.searchsorted(x0[o0], values, side="right")

    def ks(w1: np.ndarray, w0: np.ndarray) -> float:
        cdf = []
        for order, idx, w in ((o1, i1, w1), (o0, i0, w0)):
            cum = np.cumsum(w[order]) / w.sum()
            cdf.append(np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0))
        return float(np.max(np.abs(cdf[0] - cdf[1])))

    return ks


@dataclass(frozen=True, slots=True)
class BalanceTable:
    """Balance before and (optionally) after weighting, one row per covariate or categorical level.

    Attributes
    ----------
    table : DataFrame
        covariate, level, type ("binary"/"continuous"), and for ``un`` (unweighted) and ``w`` (weighted):
        mean_treated, mean_control, smd, variance_ratio, ks, flag.
    estimand, s_d_denom, binary : str
    threshold : float
    ess : DataFrame
        arm, n, ess_unweighted, ess_weighted.
    weighted : bool
        Whether weights were given.
    conventions : str
        The formulas used, to print beside the table.
    max_abs_smd : float
        Largest |SMD| after weighting (before, when unweighted).
    n_flagged : int
        Rows with |SMD| >= threshold after weighting (before, when unweighted).
    """

    table: pd.DataFrame
    estimand: str
    s_d_denom: str
    binary: str
    threshold: float
    ess: pd.DataFrame
    weighted: bool
    conventions: str
    max_abs_smd: float
    n_flagged: int
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy, one row per covariate/level."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (aggregates only)."""
        return {"estimand": self.estimand, "s_d_denom": self.s_d_denom, "binary": self.binary,
                "threshold": self.threshold, "weighted": self.weighted, "conventions": self.conventions,
                "max_abs_smd": json_safe(self.max_abs_smd), "n_flagged": self.n_flagged,
                "rows": [{k: json_safe(v) for k, v in r.items()} for r in self.table.to_dict("records")],
                "ess": [{k: json_safe(v) for k, v in r.items()} for r in self.ess.to_dict("records")],
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Table text with the conventions printed beside it."""
        cols = ["covariate", "level", "type", "smd_un"] + (["smd_w"] if self.weighted else []) + \
            ["variance_ratio_un"] + (["variance_ratio_w"] if self.weighted else [])
        body = self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        flagged = self.n_flagged
        ess = "; ".join(f"{r.arm}: n {r.n}, ESS {r.ess_weighted:.1f}" for r in self.ess.itertuples())
        return (f"Covariate balance ({self.estimand}{', weighted' if self.weighted else ''})\n{body}\n"
                f"{flagged} rows with |SMD| >= {self.threshold:g}; {ess}\n{self.conventions}")


def _expand(df: pd.DataFrame, col: str) -> list[tuple[str, str, np.ndarray]]:
    """(covariate, level, values) rows: numeric as is, two-valued as indicator, categoricals by level."""
    s = df[col]
    if s.isna().any():
        raise DataError(f"balance_table: covariate {col!r} has {int(s.isna().sum())} missing values (got NaN). "
                        "Impute or map them to a 'not reported' level first.")
    categorical = isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_bool_dtype(s) \
        or pd.api.types.is_string_dtype(s)
    if categorical:
        levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(pd.unique(s))
        levels = [lv for lv in levels if (s == lv).any()]
        if len(levels) == 2:
            levels = levels[1:]
        return [(col, str(lv), (s == lv).to_numpy(dtype=float)) for lv in levels]
    x = s.to_numpy(dtype=float)
    u = np.unique(x)
    if u.size == 2 and not set(u) <= {0.0, 1.0}:
        return [(col, f"{u[1]:g}", (x == u[1]).astype(float))]
    return [(col, "", x)]


def check_balance_inputs(df: pd.DataFrame, treatment_col: str, covariates: Sequence[str], binary: str,
                         where: str) -> None:
    """The balance functions' shared argument checks: ``binary`` is ``"raw"`` or ``"std"``, and the treatment
    and covariate columns are in the data.

    Raises
    ------
    ConfigError
        A bad ``binary``.
    DataError
        A column that is not in the data, listing the data's first columns.
    """
    if binary not in ("raw", "std"):
        raise ConfigError(f"{where}: binary must be 'raw' or 'std' (got {binary!r}). Pick one of these.")
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got columns "
                        f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise DataError(f"{where}: covariate columns {missing} are not in the data (got columns "
                        f"{list(df.columns)[:10]}). Fix the covariate names.")


def balance_table(df: pd.DataFrame, *, treatment_col: str, covariates: Sequence[str], weights=None,
                  estimand: str = "ATE", threshold: float = 0.1, binary: Literal["raw", "std"] = "raw",
                  s_d_denom: SDDenom = "auto") -> BalanceTable:
    """Balance of each covariate before and after weighting (cobalt's ``bal.tab`` conventions).

    Parameters
    ----------
    df : DataFrame
    treatment_col : str
        0/1 treatment column.
    covariates : sequence of str
        Columns; categorical dtypes expand to one row per level.
    weights : array-like or WeightResult, optional
        Weights per row of ``df`` (trimmed patients have weight 0 and drop out of the weighted statistics).
    estimand : str, default="ATE"
        Sets the SMD denominator when ``s_d_denom="auto"``.
    threshold : float, default=0.1
        Rows with :math:`|\\mathrm{SMD}| \\ge` threshold are flagged.
    binary : {"raw", "std"}, default="raw"
    s_d_denom : {"auto", "pooled", "treated", "control"}, default="auto"

    Returns
    -------
    BalanceTable
    """
    where = "balance_table"
    denom = _resolve_denom(s_d_denom, estimand, where)
    check_balance_inputs(df, treatment_col, covariates, binary, where)
    t = df[treatment_col].to_numpy()
    w = None if weights is None else np.asarray(getattr(weights, "weights", weights), dtype=float)
    # the treatment coding and the weights are checked once (as smd() and ks_statistic() check them); each
    # statistic below is the formula of the function of the same name, with each arm's rows, weights and sort
    # order taken once per covariate instead of once per statistic and weighting
    arms = []
    for tag, ww in (("un", None),) + ((("w", w),) if w is not None else ()):
        _, tt, wv = _arrays(np.zeros(len(t)), t, ww, where)
        arms.append((tag, wv[tt == 1], wv[tt == 0]))
    treated = np.asarray(t).astype(int) == 1
    rows = []
    for col in covariates:
        for name, level, x in _expand(df, col):
            x1, x0 = x[treated], x[~treated]
            is_bin = bool(np.all((x == 0.0) | (x == 1.0)))   # _is_binary without sorting
            v1, v0 = _unweighted_var(x1, is_bin), _unweighted_var(x0, is_bin)
            sd = {"pooled": math.sqrt((v1 + v0) / 2), "treated": math.sqrt(v1), "control": math.sqrt(v0)}[denom]
            sd_ok = sd > 1e-10 * max(1.0, float(np.max(np.abs(x))))
            ecdf = None if is_bin else _ecdf_grid(x1, x0)
            row: dict[str, Any] = {"covariate": name, "level": level, "type": "binary" if is_bin else "continuous"}
            for tag, w1, w0 in arms:
                m1, m0 = _wmean(x1, w1), _wmean(x0, w0)
                row[f"mean_treated_{tag}"], row[f"mean_control_{tag}"] = m1, m0
                diff = m1 - m0
                row[f"smd_{tag}"] = float(diff) if is_bin and binary == "raw" else (
                    float(diff / sd) if sd_ok else math.nan)
                if is_bin:
                    row[f"variance_ratio_{tag}"] = math.nan
                    # the ECDFs of a 0/1 covariate differ only at 0: KS = |F1(0) - F0(0)|
                    f1, f0 = np.sum(w1[x1 == 0.0]) / w1.sum(), np.sum(w0[x0 == 0.0]) / w0.sum()
                    row[f"ks_{tag}"] = float(abs(f1 - f0))
                else:
                    vw0 = _wvar(x0, w0)
                    row[f"variance_ratio_{tag}"] = float(_wvar(x1, w1) / vw0) if vw0 > 0 else math.nan
                    row[f"ks_{tag}"] = ecdf(w1, w0)
                row[f"flag_{tag}"] = bool(abs(row[f"smd_{tag}"]) >= threshold)
            rows.append(row)
    table = pd.DataFrame(rows)
    tt = np.asarray(t).astype(int)
    ess_rows = []
    for arm, code in (("treated", 1), ("control", 0)):
        m = tt == code
        ess_rows.append({"arm": arm, "n": int(m.sum()), "ess_unweighted": float(m.sum()),
                         "ess_weighted": kish_ess(w[m]) if w is not None else float(m.sum())})
    text = CONVENTIONS.format(denom=denom, threshold=threshold,
                              binary="raw differences in proportions" if binary == "raw" else
                              "standardized with p(1-p)")
    tag = "w" if w is not None else "un"
    return BalanceTable(table=table, estimand=estimand, s_d_denom=denom, binary=binary, threshold=float(threshold),
                        ess=pd.DataFrame(ess_rows), weighted=w is not None, conventions=text,
                        max_abs_smd=float(table[f"smd_{tag}"].abs().max()),
                        n_flagged=int(table[f"flag_{tag}"].sum()))


__all__ = ["smd", "variance_ratio", "ks_statistic", "balance_table", "BalanceTable", "CONVENTIONS"]
