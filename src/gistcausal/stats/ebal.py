r"""Entropy balancing (Hainmueller 2012; R WeightIt ``method = "ebal"``): weights that balance covariate means
(and optionally second moments) exactly, closest in Kullback-Leibler divergence to uniform weights.

For each weighted arm *g* (the controls for the ATT, the treated for the ATC, both arms for the ATE) with
covariate rows :math:`c_i` (an intercept first, then the balance covariates) and target means :math:`m`
(of the treated for the ATT, the controls for the ATC, the whole sample for the ATE), the weights solve

.. math:: \min_w \sum_{i \in g} w_i \log w_i \quad\text{s.t.}\quad \frac1N\sum_{i\in g} w_i c_i = m,

with *N* the size of the target population (so the intercept row makes the arm's weights sum to *N*). The
solution is :math:`w_i = \exp(-c_i^\top z)` where *z* minimizes the convex dual
:math:`f(z) = \frac1N\sum_i \exp(-c_i^\top z) + z^\top m` (WeightIt's objective), with gradient
:math:`\nabla f = m - \frac1N\sum_i w_i c_i` (the imbalance) and Hessian :math:`\frac1N\sum_i w_i c_i c_i^\top`.
It is solved here by Newton's method with a backtracking (Armijo) line search, to a largest absolute imbalance
below ``tol`` in standard-deviation units. The unweighted target arm keeps weight 1.

``moments=2`` adds the squares of the covariates with more than two values, so the weighted variances match too. Columns that
are constant in an arm or linearly dependent on others add no constraint there and are dropped (WeightIt's
``.make_covs_full_rank``); a target mean at or beyond the edge of what an arm's values span cannot be reached
by positive weights, and :class:`~gistcausal.errors.BalanceInfeasibleError` names those covariates.

References
----------
Hainmueller J (2012). Entropy balancing for causal effects: a multivariate reweighting method to produce
balanced samples in observational studies. Political Analysis 20:25-46.
Zhao Q, Percival D (2017). Entropy balancing is doubly robust. J Causal Inference 5(1).
Greifer N. WeightIt: ``method_ebal`` (documentation of ``weightit(method = "ebal")``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from gistcausal._checks import check_estimand
from gistcausal.effects import json_safe
from gistcausal.errors import BalanceInfeasibleError, ConfigError, DataError
from gistcausal.stats.weights import kish_ess, top_share

#: Estimands entropy balancing targets, and which arm is the unweighted target (None: the whole sample).
TARGET_ARM = {"ATT": 1, "ATC": 0, "ATE": None}
#: The effect-estimate ``method`` of analyses weighted by entropy balancing.
METHOD = "entropy_balancing"


@dataclass(frozen=True, slots=True)
class EntropyBalanceResult:
    """Entropy-balancing weights and their diagnostics; shaped like
    :class:`~gistcausal.stats.weights.WeightResult`, so its consumers (balance tables, weight summaries, the
    survival comparison) take it unchanged.

    Attributes
    ----------
    weights : ndarray
        One weight per input patient; for the estimators, never in ``to_dict``.
    kept : ndarray of bool
        All True (nobody is dropped).
    estimand : {"ATE", "ATT", "ATC"}
    moments : int
    columns : tuple of str
        The balance constraints (covariate columns, squares as ``"<name>^2"``).
    max_imbalance : float
        Largest absolute difference between weighted and target means, in SD units, at the solution.
    iterations : dict
        Newton iterations per weighted arm.
    diagnostics : DataFrame
        One row per arm and overall: n, sum, min, max, mean, Kish ESS, top-1% share.
    warnings : tuple of str
    """

    weights: np.ndarray = field(repr=False)
    kept: np.ndarray = field(repr=False)
    estimand: str
    moments: int
    columns: tuple[str, ...]
    max_imbalance: float
    iterations: dict
    diagnostics: pd.DataFrame
    warnings: tuple[str, ...] = ()
    method: str = METHOD
    stabilized: bool = False
    normalize: str | None = "target"

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the per-arm diagnostics (aggregates only)."""
        return self.diagnostics.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings and diagnostics; excludes the weights themselves."""
        return {"method": self.method, "estimand": self.estimand, "moments": self.moments,
                "columns": list(self.columns), "max_imbalance": json_safe(self.max_imbalance),
                "iterations": dict(self.iterations),
                "diagnostics": [{k: json_safe(v) for k, v in r.items()}
                                for r in self.diagnostics.to_dict("records")],
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Paper-ready text: estimand, constraints, the remaining imbalance, ESS per arm."""
        what = "means" if self.moments == 1 else "means and variances"
        lines = [f"Entropy balancing ({self.estimand}): {what} of {len(self.columns)} covariate columns balanced "
                 f"exactly (largest remaining difference {self.max_imbalance:.1e} SD)"]
        for r in self.diagnostics.itertuples(index=False):
            lines.append(f"  {r.arm}: n {r.n}, weights {r.min:.3g}-{r.max:.3g} (mean {r.mean:.3g}), "
                         f"ESS {r.ess:.1f}, top 1% carry {100 * r.top1_share:.1f}%")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def balance_design(df: pd.DataFrame, covariates: Sequence[str], moments: int, where: str
                   ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Numeric balance columns: numeric covariates as they are, others as 0/1 level indicators (first level
    the reference), with the squares of the columns with more than two values when ``moments=2``."""
    cols: dict[str, np.ndarray] = {}
    for name in covariates:
        if name not in df.columns:
            raise DataError(f"{where}: covariate {name!r} is not in the data (got {len(df.columns)} columns). "
                            "Check the covariate names.")
        s = df[name]
        if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                             and not isinstance(s.dtype, pd.CategoricalDtype)):
            cols[str(name)] = s.to_numpy(dtype=float)
        else:
            d = pd.get_dummies(s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype(str), drop_first=True,
                               dtype=float)
            for level in d.columns:
                cols[f"{name}: {level}"] = d[level].to_numpy()
    if moments == 2:
        for name, x in list(cols.items()):
            if np.unique(x[np.isfinite(x)]).size > 2:   # a two-valued square is collinear with x and 1
                cols[f"{name}^2"] = x ** 2
    X = np.column_stack(list(cols.values())) if cols else np.zeros((len(df), 0))
    bad = int((~np.isfinite(X)).any(axis=1).sum())
    if bad:
        raise DataError(f"{where}: balance covariates must be finite (got {bad} patients with missing values). "
                        "Impute them or drop these patients first.")
    return X, tuple(cols)


def _newton_dual(C: np.ndarray, m: np.ndarray, N: float, max_iter: int, tol: float) -> tuple[np.ndarray, int, float]:
    """Minimize f(z) = sum(exp(-C z))/N + z'm by Newton with backtracking; returns (weights, iterations,
    largest absolute imbalance)."""
    z = np.zeros(C.shape[1])
    w = np.exp(-C @ z)
    f = w.sum() / N + z @ m
    for it in range(1, max_iter + 1):
        g = m - (w @ C) / N
        if np.max(np.abs(g)) < tol:
            return w, it - 1, float(np.max(np.abs(g)))
        H = (C * w[:, None]).T @ C / N
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        slope = g @ step           # directional derivative of f along the Newton step (negative)
        while True:
            z_new = z + t * step
            w_new = np.exp(np.clip(-C @ z_new, -700, 700))
            f_new = w_new.sum() / N + z_new @ m
            if f_new <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t /= 2
        z, w, f = z_new, w_new, f_new
    g = m - (w @ C) / N
    return w, max_iter, float(np.max(np.abs(g)))


def ebal_weights(X: np.ndarray, treatment: np.ndarray, *, estimand: str, names: Sequence[str] | None = None,
                 max_iter: int = 100, tol: float = 1e-10, where: str = "entropy_balance"
                 ) -> tuple[np.ndarray, dict, float]:
    """The arithmetic of :func:`entropy_balance` on a numeric design (unchecked fast path, also called per
    bootstrap replicate). Returns (weights, iterations per arm, largest imbalance in SD units).

    Raises
    ------
    BalanceInfeasibleError
        A target mean the arm cannot reach, or Newton's method not converging.
    """
    names = list(names) if names is not None else [f"x{j + 1}" for j in range(X.shape[1])]
    a = np.asarray(treatment, dtype=int)
    focal = TARGET_ARM[estimand]
    target = np.ones(a.size, dtype=bool) if focal is None else a == focal
    sd = X[target].std(axis=0, ddof=0) if X.size else np.zeros(0)
    pooled_sd = X.std(axis=0, ddof=0) if X.size else np.zeros(0)
    scale = np.where(sd > 0, sd, np.where(pooled_sd > 0, pooled_sd, 1.0))
    m_x = X[target].mean(axis=0) if X.size else np.zeros(0)
    Z = (X - m_x) / scale               # standardized on the target: the solution is the same, Newton better conditioned
    w = np.ones(a.size)
    iterations: dict[str, int] = {}
    worst = 0.0
    arms = (0, 1) if focal is None else (1 - focal,)
    target_name = {None: "whole-sample", 1: "treated", 0: "control"}[focal]
    for code in arms:
        arm = "treated" if code == 1 else "control"
        g = a == code
        Zg = Z[g]
        m_t = Z[target].mean(axis=0)     # 0 by construction, kept explicit for the ATE arms
        lo, hi = Zg.min(axis=0) if Zg.size else m_t, Zg.max(axis=0) if Zg.size else m_t
        const = hi - lo <= 1e-12 * np.maximum(1.0, np.abs(hi))
        out = (~const & ((m_t <= lo + 1e-12) | (m_t >= hi - 1e-12))) | (const & (np.abs(m_t - lo) > 1e-10))
        if out.any():
            bad = [names[j] for j in np.flatnonzero(out)]
            raise BalanceInfeasibleError(
                f"{where}: the {arm} arm cannot be weighted to the {target_name} means of {', '.join(map(repr, bad))} "
                f"(got {len(bad)} target mean(s) at or beyond the range of the {arm} arm's values). Drop these "
                "covariates from the balance set (covariates.<name>.in_propensity: false), merge sparse levels, or "
                "use analysis.weights.method: iptw.")
        C = np.column_stack([np.ones(int(g.sum())), Zg[:, ~const]])
        mt = np.r_[1.0, m_t[~const]]
        keep = _independent_columns(C)
        C, mt = C[:, keep], mt[keep]
        N = float(target.sum())
        wg, it, imb = _newton_dual(C, mt, N, max_iter, tol)
        full_imb = np.abs(Zg.T @ wg / wg.sum() - m_t) if Zg.size else np.zeros(0)
        if not np.isfinite(wg).all() or imb > 1e-6 or (full_imb.size and full_imb.max() > 1e-6):
            order = np.argsort(-full_imb)[:3]
            bad = [names[j] for j in order if full_imb[j] > 1e-6] or names[:1]
            raise BalanceInfeasibleError(
                f"{where}: the {arm} arm cannot be weighted to the {target_name} means (got largest remaining "
                f"imbalance {float(np.nanmax(full_imb)) if full_imb.size else imb:.2g} SD, in "
                f"{', '.join(map(repr, bad))}). Drop or coarsen these covariates, set moments: 1, or use "
                "analysis.weights.method: iptw.")
        w[g] = wg
        iterations[arm] = it
        worst = max(worst, float(full_imb.max()) if full_imb.size else 0.0)
    return w, iterations, worst


def _independent_columns(C: np.ndarray) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns, in order (the intercept first)."""
    keep: list[int] = []
    for j in range(C.shape[1]):
        trial = C[:, keep + [j]]
        if np.linalg.matrix_rank(trial, tol=1e-9 * max(1.0, np.abs(trial).max())) == len(keep) + 1:
            keep.append(j)
    return np.asarray(keep, dtype=int)


def entropy_balance(df: pd.DataFrame, *, treatment_col: str, covariates: Sequence[str],
                    estimand: Literal["ATE", "ATT", "ATC"] = "ATT", moments: int = 1, max_iter: int = 100,
                    tol: float = 1e-10) -> EntropyBalanceResult:
    r"""Entropy-balancing weights (Hainmueller 2012; WeightIt ``method = "ebal"``).

    Parameters
    ----------
    df : DataFrame
    treatment_col : str
        0/1 treatment column.
    covariates : sequence of str
        Balance covariates; non-numeric and categorical columns enter as level indicators.
    estimand : {"ATE", "ATT", "ATC"}, default="ATT"
        ATT: the controls are weighted to the treated means (treated weight 1); ATC: the reverse; ATE: each
        arm is weighted to the whole-sample means.
    moments : {1, 2}, default=1
        1 balances means; 2 also the squares of covariates with more than two values (so their variances).
    max_iter : int, default=100
        Newton iterations per weighted arm.
    tol : float, default=1e-10
        Convergence: largest absolute imbalance in SD units.

    Returns
    -------
    EntropyBalanceResult
        Weights of each weighted arm sum to the size of the target population (n for the ATE, n1 for the
        ATT, n0 for the ATC), as WeightIt's.

    Raises
    ------
    ConfigError
        Estimand other than ATE/ATT/ATC, moments not 1 or 2.
    DataError
        Missing columns, non-0/1 treatment, missing covariate values, an empty arm.
    BalanceInfeasibleError
        The constraints cannot be met (message names the covariates and the fix).

    Notes
    -----
    See the module docstring for the primal, the dual and the algorithm. Weighted means then equal the
    target means to ``tol`` (in SD units), which is the closed-form check of the result.
    """
    where = "entropy_balance"
    check_estimand(estimand, where=where)
    if estimand not in TARGET_ARM:
        raise ConfigError(f"{where}: estimand must be one of {list(TARGET_ARM)} for entropy balancing (got "
                          f"{estimand!r}). Use ATT, ATC or ATE.")
    if moments not in (1, 2) or isinstance(moments, bool):
        raise ConfigError(f"{where}: moments must be 1 (means) or 2 (means and variances) (got {moments!r}). "
                          "Use moments: 1.")
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got "
                        f"{len(df.columns)} columns). Check treatment_col.")
    a = df[treatment_col].to_numpy()
    if not np.all(np.isin(a, (0, 1))):
        raise DataError(f"{where}: treatment must be coded 0/1 (got {int(np.sum(~np.isin(a, (0, 1))))} other "
                        "values). Recode 1 = treated, 0 = control.")
    a = a.astype(int)
    for arm, code in (("treated", 1), ("control", 0)):
        if not np.any(a == code):
            raise DataError(f"{where}: arm {arm!r} has no patients (got 0 of {a.size}). Check the cohort.")
    X, names = balance_design(df, covariates, moments, where)
    w, iterations, worst = ebal_weights(X, a, estimand=estimand, names=names, max_iter=max_iter, tol=tol)
    return EntropyBalanceResult(weights=w, kept=np.ones(a.size, dtype=bool), estimand=estimand, moments=moments,
                                columns=names, max_imbalance=worst, iterations=iterations,
                                diagnostics=_diagnostics(w, a))


def _diagnostics(w: np.ndarray, a: np.ndarray) -> pd.DataFrame:
    rows = []
    for arm, m in (("treated", a == 1), ("control", a == 0), ("overall", np.ones(a.size, dtype=bool))):
        x = w[m]
        rows.append({"arm": arm, "n": int(m.sum()), "sum": float(x.sum()), "min": float(x.min()),
                     "max": float(x.max()), "mean": float(x.mean()), "ess": kish_ess(x), "top1_share": top_share(x)})
    return pd.DataFrame(rows)


__all__ = ["EntropyBalanceResult", "entropy_balance", "ebal_weights", "balance_design", "TARGET_ARM", "METHOD"]
