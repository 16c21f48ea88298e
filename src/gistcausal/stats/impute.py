"""Multiple imputation by chained equations (MICE) and Rubin's rules.

:func:`impute_chained` returns ``m`` completed copies of the data. Each copy starts from random draws of the
observed values and cycles ``max_iter`` times over the incomplete columns, replacing each column's missing
values by draws from its conditional model given all other ``columns`` (van Buuren 2018, ch. 4):

* numeric columns: Bayesian linear regression with a posterior draw of :math:`(\\beta, \\sigma^2)` and added
  residual noise (mice's ``norm`` method; Rubin 1987, p. 167);
* categorical columns (object, category, bool): multinomial logistic regression fitted to a bootstrap sample
  of the rows with the column observed (the bootstrap carries the parameter uncertainty), and a draw from the
  predicted category probabilities (mice's ``polyreg`` with bootstrap).

Predictors are the other ``columns``, categoricals one-hot coded. Analyse each copy, then pool with
:func:`rubin_pool`.

References
----------
Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation. Biometrika 86:948-955.
van Buuren S (2018). Flexible Imputation of Missing Data, 2nd ed. CRC Press.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.effects import EffectEstimate, json_safe
from gistcausal.errors import ConfigError, DataError


def _is_cat(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_bool_dtype(s) \
        or pd.api.types.is_string_dtype(s)


def _design(work: pd.DataFrame, target: str, cols: Sequence[str]) -> np.ndarray:
    parts = [np.ones((len(work), 1))]
    for c in cols:
        if c == target:
            continue
        s = work[c]
        if _is_cat(s):
            d = pd.get_dummies(s.astype(str), drop_first=True, dtype=float)
            parts.append(d.to_numpy())
        else:
            x = s.to_numpy(dtype=float)
            sd = x.std()
            parts.append(((x - x.mean()) / (sd if sd > 0 else 1.0))[:, None])
    return np.hstack(parts)


def _draw_norm(X: np.ndarray, y: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """mice 'norm': posterior draw of sigma^2 and beta from the observed rows, then predictions plus noise."""
    Xo, yo = X[obs], y[obs]
    n, p = Xo.shape
    xtx = Xo.T @ Xo + 1e-6 * np.eye(p)  # tiny ridge as in mice (ridge = 1e-05) for near-collinear dummies
    beta_hat = np.linalg.solve(xtx, Xo.T @ yo)
    resid = yo - Xo @ beta_hat
    sigma2 = float(resid @ resid) / rng.chisquare(max(n - p, 1))
    chol = np.linalg.cholesky(np.linalg.inv(xtx))
    beta = beta_hat + math.sqrt(sigma2) * chol @ rng.standard_normal(p)
    Xm = X[~obs]
    return Xm @ beta + math.sqrt(sigma2) * rng.standard_normal(Xm.shape[0])


def _draw_polyreg(X: np.ndarray, y: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multinomial logistic fit on a bootstrap sample of observed rows; a draw from predicted probabilities."""
    from sklearn.linear_model import LogisticRegression

    idx = np.flatnonzero(obs)
    boot = rng.choice(idx, size=idx.size, replace=True)
    if np.unique(y[boot]).size < 2:
        return rng.choice(y[boot], size=int((~obs).sum()))
    model = LogisticRegression(max_iter=500).fit(X[boot][:, 1:], y[boot])
    prob = model.predict_proba(X[~obs][:, 1:])
    cum = np.cumsum(prob, axis=1)
    u = rng.random(prob.shape[0])[:, None]
    pick = np.minimum((u > cum).sum(axis=1), prob.shape[1] - 1)
    out = model.classes_[pick]
    return out


def impute_chained(df: pd.DataFrame, *, columns: Sequence[str], m: int = 5, max_iter: int = 10,
                   random_state: int | None = None) -> list[pd.DataFrame]:
    """Multiple imputation by chained equations.

    Parameters
    ----------
    df : DataFrame
        Data with missing values (NaN/None) in some of ``columns``; other columns are copied unchanged.
    columns : sequence of str
        Columns used in the imputation models; all incomplete ones among them are imputed.
    m : int, default=5
        Number of completed data sets.
    max_iter : int, default=10
        Passes over the incomplete columns per data set.
    random_state : int, optional
        Seed; the same seed gives the same imputations.

    Returns
    -------
    list of DataFrame
        ``m`` completed copies (``df`` itself is not modified); categorical dtypes are kept.

    Raises
    ------
    DataError
        Unknown columns, or a column with no observed values.
    ConfigError
        ``m`` or ``max_iter`` below 1.
    """
    where = "impute_chained"
    missing_cols = [c for c in columns if c not in df.columns]
    if missing_cols:
        raise DataError(f"{where}: columns {missing_cols} are not in the data (got columns {list(df.columns)[:10]}). "
                        "Fix the column names.")
    if int(m) < 1 or int(max_iter) < 1:
        raise ConfigError(f"{where}: m and max_iter must be at least 1 (got m={m}, max_iter={max_iter}). "
                          "Use e.g. m=20, max_iter=10.")
    cols = list(columns)
    masks = {c: df[c].isna().to_numpy() for c in cols}
    for c in cols:
        if masks[c].all():
            raise DataError(f"{where}: column {c!r} has no observed values (got {len(df)} missing). Drop it "
                            "from columns.")
    incomplete = [c for c in cols if masks[c].any()]
    rng = np.random.default_rng(random_state)
    out = []
    for _ in range(int(m)):
        work = df.copy()
        for c in incomplete:
            observed = df.loc[~masks[c], c].to_numpy()
            work.loc[masks[c], c] = rng.choice(observed, size=int(masks[c].sum()))
        for _ in range(int(max_iter) if incomplete else 0):
            for c in incomplete:
                obs = ~masks[c]
                X = _design(work, c, cols)
                if _is_cat(df[c]):
                    y = work[c].astype(object).to_numpy()
                    draws = _draw_polyreg(X, y.astype(str), obs, rng)
                    lookup = {str(v): v for v in pd.unique(df.loc[obs, c])}
                    work.loc[~obs, c] = [lookup[d] for d in draws]
                else:
                    draws = _draw_norm(X, work[c].to_numpy(dtype=float), obs, rng)
                    if pd.api.types.is_integer_dtype(df[c].dropna()) and df[c].dtype != float:
                        draws = np.round(draws)
                    work.loc[~obs, c] = draws
        for c in incomplete:
            if isinstance(df[c].dtype, pd.CategoricalDtype):
                work[c] = pd.Categorical(work[c], categories=df[c].cat.categories)
        out.append(work)
    return out


@dataclass(frozen=True, slots=True)
class PooledEstimate:
    """Rubin's-rules pooled estimate.

    Attributes
    ----------
    value : float
        :math:`\\bar Q = m^{-1}\\sum Q_j`.
    se : float
        :math:`\\sqrt{T}`, :math:`T = \\bar U + (1 + 1/m) B`.
    ci : tuple of float
        :math:`\\bar Q \\pm t_{\\nu, 1-\\alpha/2}\\sqrt T`.
    df : float
        :math:`\\nu`: Rubin's :math:`\\nu_{old} = (m-1)(1 + 1/r)^2`, or with ``df_complete`` the Barnard-Rubin
        :math:`(1/\\nu_{old} + 1/\\hat\\nu_{obs})^{-1}`, :math:`\\hat\\nu_{obs} =
        \\frac{\\nu_{com}+1}{\\nu_{com}+3}\\nu_{com}(1-\\lambda)`.
    fmi : float
        Fraction of missing information :math:`(r + 2/(\\nu + 3))/(r + 1)`.
    riv : float
        Relative increase in variance :math:`r = (1 + 1/m)B/\\bar U`.
    lambda_ : float
        :math:`\\lambda = (1 + 1/m)B/T`.
    within, between : float
        :math:`\\bar U` and :math:`B`.
    m : int
    alpha : float
    """

    value: float
    se: float
    ci: tuple[float, float]
    df: float
    fmi: float
    riv: float
    lambda_: float
    within: float
    between: float
    m: int
    alpha: float

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy copy."""
        d = self.to_dict()
        d["ci_low"], d["ci_high"] = d.pop("ci")
        return pd.DataFrame([d])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (inf -> None)."""
        return {"value": self.value, "se": self.se, "ci": [self.ci[0], self.ci[1]], "df": json_safe(self.df),
                "fmi": self.fmi, "riv": self.riv, "lambda": self.lambda_, "within": self.within,
                "between": self.between, "m": self.m, "alpha": self.alpha}

    def summary(self) -> str:
        """One line, e.g. ``0.71 (95% CI 0.45 to 0.97), df 23.4, FMI 0.18, m = 20``."""
        return (f"{self.value:.4g} ({100 * (1 - self.alpha):g}% CI {self.ci[0]:.4g} to {self.ci[1]:.4g}), "
                f"SE {self.se:.4g}, df {self.df:.1f}, FMI {self.fmi:.3f}, m = {self.m}")


def rubin_pool(estimates: Sequence[float], variances: Sequence[float], *, df_complete: float | None = None,
               alpha: float = 0.05) -> PooledEstimate:
    """Pool ``m`` estimates and their squared standard errors with Rubin's rules.

    Parameters
    ----------
    estimates : sequence of float
        :math:`Q_j`, one per imputed data set (on a scale where normality holds, e.g. log HR).
    variances : sequence of float
        :math:`U_j` (squared standard errors).
    df_complete : float, optional
        Complete-data degrees of freedom :math:`\\nu_{com}` (e.g. n - k); enables the Barnard-Rubin (1999)
        small-sample correction. ``None`` treats the complete-data df as infinite (Rubin 1987).
    alpha : float, default=0.05

    Returns
    -------
    PooledEstimate
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    where = "rubin_pool"
    if q.ndim != 1 or q.shape != u.shape or q.size < 2:
        raise DataError(f"{where}: estimates and variances must be 1-d, equal length, at least 2 (got {q.shape} and "
                        f"{u.shape}). Pass one estimate and variance per imputed data set.")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u)) and np.all(u >= 0)):
        raise DataError(f"{where}: estimates must be finite and variances finite and >= 0 (got "
                        f"{int(np.sum(~np.isfinite(q)) + np.sum(~np.isfinite(u) | (u < 0)))} invalid). Check the "
                        "per-imputation fits.")
    m = q.size
    qbar, ubar, b = float(q.mean()), float(u.mean()), float(q.var(ddof=1))
    t = ubar + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / ubar if ubar > 0 else math.inf
    lam = (1 + 1 / m) * b / t if t > 0 else 0.0
    df_old = (m - 1) * (1 + 1 / riv) ** 2 if riv > 0 else math.inf
    if df_complete is not None:
        nu = float(df_complete)
        df_obs = (nu + 1) / (nu + 3) * nu * (1 - lam)
        df = 1 / (1 / df_old + 1 / df_obs) if math.isfinite(df_old) else df_obs
    else:
        df = df_old
    fmi = (riv + 2 / (df + 3)) / (riv + 1) if math.isfinite(df) else lam
    crit = stats.t.ppf(1 - alpha / 2, df) if math.isfinite(df) else stats.norm.ppf(1 - alpha / 2)
    se = math.sqrt(t)
    return PooledEstimate(value=qbar, se=se, ci=(qbar - crit * se, qbar + crit * se), df=float(df), fmi=float(fmi),
                          riv=float(riv), lambda_=float(lam), within=ubar, between=b, m=m, alpha=alpha)


EstimateKey = tuple[str, str, str, str, str, "float | None", str]


def estimate_key(est: EffectEstimate) -> EstimateKey:
    """What identifies an estimate across imputed data sets: outcome, method, measure, contrast, estimand, time
    (landmark or horizon, ``None`` when not applicable) and variance method."""
    t = None if not math.isfinite(est.time) else round(float(est.time), 9)
    return est.outcome, est.method, est.measure, est.contrast, est.estimand, t, est.variance


def _keyed(per_imputation: Sequence[Sequence[EffectEstimate]], where: str) -> list[dict[EstimateKey, EffectEstimate]]:
    """Each imputation's estimates by :func:`estimate_key`; the same keys are required in every imputation."""
    keyed = []
    for j, ests in enumerate(per_imputation, start=1):
        d = {estimate_key(e): e for e in ests}
        if len(d) != len(ests):
            raise DataError(f"{where}: imputation {j} has {len(ests) - len(d)} estimate(s) with the same outcome, "
                            f"method, measure, contrast, estimand, time and variance (got {len(ests)} estimates). "
                            "Pass one estimate per key.")
        keyed.append(d)
    first = set(keyed[0])
    for j, d in enumerate(keyed[1:], start=2):
        if set(d) != first:
            diff = sorted(map(str, first ^ set(d)))
            raise DataError(f"{where}: imputation {j} does not have the estimates of imputation 1 ({len(diff)} "
                            f"differ, e.g. {diff[0]}) (got {len(d)} vs {len(first)} estimates). Fit the same "
                            "analysis on every imputed data set.")
    return keyed


def _pool_group(group: list[EffectEstimate], alpha: float) -> EffectEstimate:
    """Rubin's rules for one estimate across imputations (log scale for ratios); a plain average without an SE."""
    first, m = group[0], len(group)
    vals = np.array([g.value for g in group], float)
    ses = np.array([g.se for g in group], float)
    log = first.scale == "log"
    if np.all(np.isfinite(ses)) and np.all(np.isfinite(vals)) and (not log or np.all(vals > 0)):
        q = np.log(vals) if log else vals
        pooled = rubin_pool(q, ses ** 2, alpha=alpha)
        lo, hi = pooled.ci
        tr = np.exp if log else (lambda x: x)
        z = pooled.value / pooled.se if pooled.se > 0 else math.nan
        # per-arm survival, RMST and medians are levels, not contrasts: no null hypothesis to test
        p = float(2 * stats.t.sf(abs(z), pooled.df)) if math.isfinite(z) and first.measure not in (
            "surv", "rmst", "median") else math.nan
        return dataclasses.replace(first, value=float(tr(pooled.value)), ci_low=float(tr(lo)),
                                   ci_high=float(tr(hi)), se=float(pooled.se), p=p,
                                   variance=f"{first.variance}+rubin",
                                   note=f"pooled over {m} imputations (Rubin's rules; FMI {pooled.fmi:.2f})")
    ps_ = np.array([g.p for g in group], float)
    return dataclasses.replace(first, value=float(np.mean(vals)) if np.all(np.isfinite(vals)) else math.nan,
                               ci_low=math.nan, ci_high=math.nan, se=math.nan,
                               p=float(np.mean(ps_)) if np.all(np.isfinite(ps_)) else math.nan,
                               note=f"average over {m} imputations (no standard error to pool)")


def pool_estimates(per_imputation: Sequence[Sequence[EffectEstimate]], *, alpha: float = 0.05
                   ) -> list[EffectEstimate]:
    """Pool matching effect estimates across imputed data sets by Rubin's rules.

    Parameters
    ----------
    per_imputation : sequence of sequences of EffectEstimate
        The estimates of each imputed data set (``m >= 2``). Estimates are paired by
        :func:`estimate_key` (outcome, method, measure, contrast, estimand, time, variance), never by
        position, so the order may differ between imputations.
    alpha : float, default=0.05

    Returns
    -------
    list of EffectEstimate
        One per key, in the order of the first imputation; ``variance`` gains ``"+rubin"`` and ``note``
        gives m and the fraction of missing information.

    Raises
    ------
    DataError
        Fewer than two imputations, a key repeated within an imputation, or keys that differ across
        imputations.

    Notes
    -----
    Ratios (``scale == "log"``) are pooled on the log scale, where their ``se`` is expressed:
    :math:`\bar Q`, :math:`T = \bar U + (1 + 1/m)B` and the t reference distribution of
    :func:`rubin_pool`; the interval is transformed back. Estimates without a standard error (e.g. a median
    that is not estimable) are averaged and say so in ``note``. p-values use the pooled t statistic on
    :math:`\nu` degrees of freedom (Rubin 1987; Barnard & Rubin 1999).
    """
    where = "pool_estimates"
    if len(per_imputation) < 2:
        raise DataError(f"{where}: Rubin's rules need at least 2 imputed data sets (got {len(per_imputation)}). "
                        "Set analysis.imputations to 2 or more.")
    keyed = _keyed(per_imputation, where)
    return [_pool_group([d[k] for d in keyed], alpha) for k in keyed[0]]


__all__ = ["impute_chained", "rubin_pool", "pool_estimates", "estimate_key", "PooledEstimate"]
