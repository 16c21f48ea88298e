"""More than two treatments: the generalized propensity score, K-arm weights and pairwise balance.

Three steps, each a function of a DataFrame or arrays with a frozen result, for treatments with
:math:`K \\ge 3` arms (they also work for :math:`K = 2`, where they reduce to the binary estimators):

* :class:`MultinomialPropensityModel`: the generalized propensity score
  :math:`e_k(x) = P(A = k \\mid X = x)` from the multinomial logit
  :math:`\\log\\{e_k(x)/e_1(x)\\} = x^\\top\\beta_k` (first arm the reference, :math:`\\beta_1 = 0`), fitted by
  Newton's method on the same design matrix as the binary model
  (:func:`gistcausal.stats.design_matrix.build_design`), so it equals R's ``nnet::multinom`` at convergence.
* :func:`multiarm_weights`: weights per estimand,

  =========  ==========================================  ==========================================
  estimand   weight of a patient in arm :math:`a`        target population
  =========  ==========================================  ==========================================
  ATE        :math:`1/e_a(x)`                            whole sample
  ATT        :math:`e_f(x)/e_a(x)` (1 in the focal arm)  the focal arm :math:`f`
  ATO        :math:`h(x)/e_a(x)`,                        generalized overlap population
             :math:`h(x) = 1/\\sum_k 1/e_k(x)`
  =========  ==========================================  ==========================================

  (Imbens 2000; McCaffrey et al. 2013; Li & Li 2019); stabilized ATE weights are multiplied by the arm's
  share :math:`\\hat P(A = a)`.
* :func:`multiarm_balance`: balance for every pair of arms with R cobalt's multi-category conventions:
  weighted means in the numerator; the denominator from the **unweighted** sample, for the ATE and overlap
  weights :math:`\\sqrt{K^{-1}\\sum_k s_k^2}` over **all** K arms (not just the pair compared, as cobalt's
  ``s.d.denom = "pooled"`` for multi-category treatments), for the ATT the focal arm's SD; binary covariates
  as raw differences in proportions by default. The overall summary is, per covariate, the largest absolute
  SMD over the pairs (cobalt's "balance across pairs").

Pairwise contrasts of survival are :func:`gistcausal.stats.multiarm_survival.compare_survival_multiarm`.

References
----------
Imbens GW (2000). The role of the propensity score in estimating dose-response functions. Biometrika
87:706-710.
McCaffrey DF, Griffin BA, Almirall D, et al. (2013). A tutorial on propensity score estimation for multiple
treatments using generalized boosted models. Stat Med 32:3388-3414.
Li F, Li F (2019). Propensity score weighting for causal inference with multiple treatments. Ann Appl Stat
13:2389-2415.
Greifer N. cobalt: Covariate Balance Tables and Plots (``?class-bal.tab.multi``). R package.
Venables WN, Ripley BD (2002). Modern Applied Statistics with S, 4th ed. Springer (nnet::multinom).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from gistcausal.effects import json_safe
from gistcausal.errors import (
    ConfigError,
    ConvergenceWarning,
    DataError,
    ExtremeWeightWarning,
    ModelFitError,
    NotFittedError,
    PositivityError,
    PositivityWarning,
    SmallSampleWarning,
)
from gistcausal.stats.balance import _expand, _is_binary, _unweighted_var, _wmean, check_balance_inputs
from gistcausal.stats.design_matrix import Design, build_design
from gistcausal.stats.propensity import halving_step
from gistcausal.stats.weights import EXTREME_WEIGHT_RATIO, POSITIVITY_BOUND, kish_ess

#: Estimands defined for K arms, with what each supports (the K-arm counterpart of ``_checks.ESTIMANDS``).
MULTIARM_ESTIMANDS: dict[str, dict[str, Any]] = {
    "ATE": {"target": "all", "stabilize_ok": True, "needs_focal": False, "s_d_denom": "pooled"},
    "ATT": {"target": "focal", "stabilize_ok": False, "needs_focal": True, "s_d_denom": "focal"},
    "ATO": {"target": "overlap", "stabilize_ok": False, "needs_focal": False, "s_d_denom": "pooled"},
}

#: Smallest patients per arm per model parameter before a SmallSampleWarning (Peduzzi et al. 1996).
EPP_THRESHOLD = 10.0

MultiArmEstimand = Literal["ATE", "ATT", "ATO"]


# --------------------------------------------------------------------------------------------------
# arms
# --------------------------------------------------------------------------------------------------
def arm_codes(values: Any, arms: Sequence[Any] | None, where: str, *, name: str = "treatment") -> tuple[
        np.ndarray, tuple[Any, ...]]:
    """Integer codes 0..K-1 of ``values`` in the order of ``arms``, and the arms.

    Without ``arms``: the categories of a categorical column in their order, otherwise the sorted distinct
    values (as R's ``factor``). The first arm is the reference.

    Raises
    ------
    DataError
        Missing values, values not among ``arms``, an arm without patients, fewer than two arms, duplicates.
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    n_missing = int(s.isna().sum())
    if n_missing:
        raise DataError(f"{where}: column {name!r} has {n_missing} missing values (got {n_missing} of {len(s)}). "
                        "Drop or resolve these patients before fitting.")
    if arms is None:
        if isinstance(s.dtype, pd.CategoricalDtype):
            arms = [c for c in s.cat.categories if (s == c).any()]
        else:
            arms = sorted(pd.unique(s).tolist(), key=lambda v: (str(type(v)), v))
    arms = tuple(arms)
    if len(set(map(str, arms))) != len(arms):
        raise DataError(f"{where}: the arms must be distinct (got {[str(a) for a in arms]}). List each arm once.")
    if len(arms) < 2:
        raise DataError(f"{where}: column {name!r} needs at least 2 arms (got {len(arms)}: "
                        f"{[str(a) for a in arms]}). Check the cohort definition.")
    lookup = {str(a): k for k, a in enumerate(arms)}
    codes = np.fromiter((lookup.get(str(v), -1) for v in s.tolist()), dtype=np.intp, count=len(s))
    if np.any(codes < 0):
        other = sorted({str(v) for v, c in zip(s.tolist(), codes) if c < 0})[:5]
        raise DataError(f"{where}: column {name!r} has {int(np.sum(codes < 0))} values not among the arms "
                        f"{[str(a) for a in arms]} (got {other}). Add them to `arms` or drop these patients.")
    counts = np.bincount(codes, minlength=len(arms))
    empty = [str(arms[k]) for k in range(len(arms)) if counts[k] == 0]
    if empty:
        raise DataError(f"{where}: arm {empty[0]!r} has no patients (got 0 with {name} = {empty[0]!r}). Check the "
                        "cohort definition or remove the arm.")
    return codes, arms


def _resolve_focal(focal: Any, arms: Sequence[Any], estimand: str, where: str) -> int | None:
    """Index of the focal arm (ATT), None otherwise; ConfigError when missing or unknown."""
    spec = MULTIARM_ESTIMANDS[estimand]
    if not spec["needs_focal"]:
        if focal is not None:
            raise ConfigError(f"{where}: focal is only used with estimand 'ATT' (got focal={focal!r} with "
                              f"estimand {estimand!r}). Remove focal, or use estimand='ATT'.")
        return None
    names = [str(a) for a in arms]
    if focal is None:
        raise ConfigError(f"{where}: estimand 'ATT' with {len(arms)} arms needs the focal arm (got focal=None). "
                          f"Pass focal= one of {names}.")
    if str(focal) not in names:
        raise ConfigError(f"{where}: focal must be one of the arms {names} (got {focal!r}). Pick one of these.")
    return names.index(str(focal))


def check_multiarm_estimand(estimand: Any, *, where: str, stabilize: bool = False) -> dict[str, Any]:
    """The :data:`MULTIARM_ESTIMANDS` entry of ``estimand``; ConfigError for unknown ones and bad stabilize."""
    if estimand not in MULTIARM_ESTIMANDS:
        raise ConfigError(f"{where}: estimand must be one of {list(MULTIARM_ESTIMANDS)} for more than two arms "
                          f"(got {estimand!r}). Use 'ATT' with focal= for a one-arm target population.")
    spec = MULTIARM_ESTIMANDS[estimand]
    if stabilize and not spec["stabilize_ok"]:
        raise ConfigError(f"{where}: stabilize=True is only defined for estimand ['ATE'] (got estimand="
                          f"{estimand!r}). Set stabilize=False.")
    return spec


# --------------------------------------------------------------------------------------------------
# generalized propensity score
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MultinomialPropensityResult:
    """Report-ready summary of a fitted multinomial propensity model (aggregates only).

    Attributes
    ----------
    method : str
        ``"multinomial"``.
    description : str
        Model terms for display (never evaluated).
    arms : tuple of str
        Arms in model order; the first is the reference of the logit.
    n_per_arm : dict
        Patients per arm.
    n_parameters : int
        Non-intercept columns of the design matrix (per logit equation).
    events_per_parameter : float
        Patients in the smallest arm per non-intercept parameter.
    coefficients : DataFrame
        arm, term, coef, se, z, p, ci_low, ci_high (Wald, 95%); one block per non-reference arm.
    score_summary : DataFrame
        One row per arm: n and the mean, min, median, max of the patients' own-arm score :math:`e_a(x)`, and
        how many of them are below 0.01.
    converged : bool
    n_iter : int
    loglik : float
    warnings : tuple of str
    """

    method: str
    description: str
    arms: tuple[str, ...]
    n_per_arm: dict
    n_parameters: int
    events_per_parameter: float
    coefficients: pd.DataFrame
    score_summary: pd.DataFrame
    converged: bool
    n_iter: int
    loglik: float
    warnings: tuple[str, ...] = ()

    def to_frame(self, *, table: Literal["coefficients", "scores"] = "coefficients") -> pd.DataFrame:
        """Tidy copy: the coefficients (one row per arm and term) or the score summary (one row per arm)."""
        if table not in ("coefficients", "scores"):
            raise ValueError(f"MultinomialPropensityResult.to_frame: table must be 'coefficients' or 'scores' "
                             f"(got {table!r}). Pick one of these.")
        return (self.coefficients if table == "coefficients" else self.score_summary).copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: json_safe(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

        return {"method": self.method, "description": self.description, "arms": list(self.arms),
                "n_per_arm": {str(k): int(v) for k, v in self.n_per_arm.items()},
                "n_parameters": self.n_parameters, "events_per_parameter": json_safe(self.events_per_parameter),
                "converged": self.converged, "n_iter": self.n_iter, "loglik": json_safe(self.loglik),
                "coefficients": records(self.coefficients), "score_summary": records(self.score_summary),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Paper-ready text: model, arms, EPP, own-arm score ranges and coefficients."""
        arms = ", ".join(f"{a} {self.n_per_arm[a]}" for a in self.arms)
        lines = [f"Generalized propensity score: multinomial logit, reference arm {self.arms[0]!r}; arm ~ "
                 f"{self.description}",
                 f"n = {arms}; {self.n_parameters} parameters per equation; patients per parameter in the "
                 f"smallest arm {self.events_per_parameter:.1f}; log-likelihood {self.loglik:.4f}"]
        for r in self.score_summary.itertuples(index=False):
            lines.append(f"  own-arm score, {r.arm}: mean {r.mean:.3f}, median {r.median:.3f}, "
                         f"range {r.min:.3f}-{r.max:.3f}")
        lines.append(self.coefficients.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _MultinomialFit:
    coef: np.ndarray          # p x (K-1)
    cov: np.ndarray           # (K-1)p x (K-1)p, arm-major
    loglik: float
    n_iter: int
    converged: bool


def multinomial_scores(X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Generalized propensity scores: the n x K softmax of the linear predictors, reference arm first (its
    predictor is 0). The fitted scores of :class:`MultinomialPropensityModel`, and the bootstrap's kernel."""
    eta = np.c_[np.zeros(X.shape[0]), X @ B]
    return special.softmax(eta, axis=1)


def multinomial_newton(X: np.ndarray, codes: np.ndarray, k: int, *, tol: float = 1e-10,
                       max_iter: int = 100) -> _MultinomialFit:
    r"""Maximum likelihood of the multinomial logit by Newton's method with step halving.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Design matrix with the intercept column first.
    codes : ndarray of int
        Arm of each patient, 0..k-1; arm 0 is the reference.
    k : int
        Number of arms.

    Returns
    -------
    _MultinomialFit
        Coefficients (p x (k-1)), their covariance (inverse observed information, arm-major blocks),
        log-likelihood, iterations and convergence (largest step below ``tol``).

    Notes
    -----
    :math:`\ell(\beta) = \sum_i \{x_i^\top\beta_{a_i} - \log(1 + \sum_{k>1} e^{x_i^\top\beta_k})\}`; score
    :math:`X^\top(y_k - p_k)` per arm; information blocks
    :math:`I_{kl} = X^\top \mathrm{diag}\{p_k(\delta_{kl} - p_l)\} X`. The log-likelihood is concave, so Newton's
    method from the intercept-only fit converges whenever the maximum exists (no separation).
    """
    n, p = X.shape
    Y = np.zeros((n, k))
    Y[np.arange(n), codes] = 1.0
    counts = Y.sum(0)
    B = np.zeros((p, k - 1))
    B[0] = np.log(counts[1:] / counts[0])     # the intercept-only maximum: a start inside the basin

    def loglik(b: np.ndarray) -> float:
        eta = np.c_[np.zeros(n), X @ b]
        return float(np.sum(eta[np.arange(n), codes]) - np.sum(special.logsumexp(eta, axis=1)))

    def info(P: np.ndarray) -> np.ndarray:
        m = k - 1
        out = np.empty((m * p, m * p))
        for a in range(m):
            for b in range(a, m):
                w = P[:, a + 1] * ((a == b) - P[:, b + 1])
                block = (X * w[:, None]).T @ X
                out[a * p:(a + 1) * p, b * p:(b + 1) * p] = block
                out[b * p:(b + 1) * p, a * p:(a + 1) * p] = block.T
        return out

    current = loglik(B)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        P = multinomial_scores(X, B)
        score = (X.T @ (Y[:, 1:] - P[:, 1:])).T.ravel()        # arm-major: arm 1's p entries, then arm 2's
        try:
            # under separation the information becomes singular as coefficients diverge; the caller detects
            # that from the fitted scores and says so, so scipy's ill-conditioning warning adds nothing
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", linalg.LinAlgWarning)
                step = linalg.solve(info(P), score, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        step = step.reshape(k - 1, p).T
        B, current, factor = halving_step(loglik, B, step, current)
        if np.max(np.abs(factor * step)) < tol:
            converged = True
            break
    P = multinomial_scores(X, B)
    try:
        cov = linalg.inv(info(P))
    except linalg.LinAlgError:
        cov = np.full(((k - 1) * p, (k - 1) * p), np.nan)
    return _MultinomialFit(coef=B, cov=cov, loglik=current, n_iter=it, converged=converged)


class MultinomialPropensityModel:
    """Generalized propensity score :math:`e_k(x) = P(A = k \\mid X = x)` for K arms (multinomial logit).

    Parameters
    ----------
    covariates : sequence of str, default=()
        Main effects (categorical dtypes as indicators, first level reference), as
        :class:`gistcausal.stats.propensity.PropensityModel`.
    splines : mapping of str to int or dict, default=()
        Spline terms (R's ``ns``/``bs``), as :func:`gistcausal.stats.design_matrix.build_design`.
    interactions : sequence of tuple of str, default=()
        Column pairs entered as products.
    arms : sequence, optional
        The arms in order; the first is the reference of the logit. Default: the categories of a categorical
        treatment column, else its sorted distinct values.

    Attributes
    ----------
    result_ : MultinomialPropensityResult
    coef_ : ndarray, shape (p, K - 1)
        Coefficients, one column per non-reference arm, rows in :attr:`design_` column order.
    arms_ : tuple
        The arms in model order.
    design_ : gistcausal.stats.design_matrix.Design

    Notes
    -----
    The estimator is the multinomial logit of the module docstring, fitted by
    :func:`multinomial_newton` (Newton-Raphson with step halving, tolerance 1e-10 on the largest step), which
    equals R's ``nnet::multinom(arm ~ ...)`` at convergence (tests/reference/multiarm/make_multiarm.R).
    Standard errors are from the inverse observed information, as ``summary(multinom(..., Hess = TRUE))``.

    See Also
    --------
    gistcausal.stats.propensity.PropensityModel : the binary model.
    multiarm_weights : weights from the scores.
    """

    def __init__(self, *, covariates: Sequence[str] = (), splines: Mapping[str, Any] | Sequence = (),
                 interactions: Sequence[tuple[str, str]] = (), arms: Sequence[Any] | None = None) -> None:
        self.covariates = covariates
        self.splines = splines
        self.interactions = interactions
        self.arms = arms

    def fit(self, df: pd.DataFrame, *, treatment_col: str) -> "MultinomialPropensityModel":
        """Validate the data and fit the model; returns ``self``.

        Raises
        ------
        DataError
            Treatment column absent or with missing values or values outside ``arms``; an empty arm; a covariate
            missing, with missing values, or constant.
        ModelFitError
            An arm with no more patients than parameters; a rank-deficient design; no maximum likelihood
            estimate (separation: an arm perfectly predicted by the covariates).
        """
        where = "MultinomialPropensityModel.fit"
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{where}: df must be a pandas DataFrame (got {type(df).__name__}). Pass the "
                            "analysis table.")
        if treatment_col not in df.columns:
            raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got columns "
                            f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
        codes, arms = arm_codes(df[treatment_col], self.arms, where, name=treatment_col)
        k = len(arms)
        design = build_design(df, covariates=self.covariates, splines=self.splines,
                              interactions=self.interactions, where=where)
        for c in design.columns:
            n_missing = int(df[c].isna().sum())
            if n_missing:
                raise DataError(f"{where}: covariate {c!r} has {n_missing} missing values (got {n_missing} of "
                                f"{len(df)}). Impute them or map them to a 'not reported' level.")
            if df[c].nunique() < 2:
                raise DataError(f"{where}: covariate {c!r} is constant (got 1 distinct value). Drop it from the "
                                "propensity model.")
        X = design.matrix(df, where=where)
        n_par = X.shape[1] - 1
        counts = np.bincount(codes, minlength=k)
        for a, n_a in zip(arms, counts):
            if n_a <= n_par:
                raise ModelFitError(f"{where}: arm {str(a)!r} has {int(n_a)} patients, not more than the {n_par} "
                                    f"model parameters (got model {design.description()!r}). Use fewer covariates "
                                    "or merge arms.")
        rank = np.linalg.matrix_rank(X)
        if rank < X.shape[1]:
            raise ModelFitError(f"{where}: the design matrix is rank deficient (got rank {rank} for {X.shape[1]} "
                                "columns). Remove collinear covariates or empty levels.")
        caught: list[str] = []
        epp = float(counts.min()) / max(n_par, 1)
        if epp < EPP_THRESHOLD:
            caught.append(f"{where}: {epp:.1f} patients in the smallest arm per model parameter, below "
                          f"{EPP_THRESHOLD:g} (got {int(counts.min())} patients, {n_par} parameters). Use fewer "
                          "covariates; interpret balance with care.")
            warnings.warn(caught[-1], SmallSampleWarning, stacklevel=2)
        fit = multinomial_newton(X, codes, k)
        scores = multinomial_scores(X, fit.coef)
        own = scores[np.arange(len(codes)), codes]
        # separation: the likelihood keeps rising as coefficients diverge, so the own-arm scores reach 1
        if not fit.converged and np.any(own > 1 - 1e-8):
            n_sep = int(np.sum(own > 1 - 1e-8))
            raise ModelFitError(f"{where}: the covariates separate the arms (got {n_sep} of {len(codes)} patients "
                                f"whose arm is predicted with probability 1 and no convergence in {fit.n_iter} "
                                "iterations). Drop or merge the covariate levels that only one arm has.")
        if not fit.converged:
            caught.append(f"{where}: multinomial fit did not converge (got {fit.n_iter} iterations). Simplify the "
                          "model.")
            warnings.warn(caught[-1], ConvergenceWarning, stacklevel=2)
        self.design_, self.arms_, self.coef_ = design, arms, fit.coef
        self._train_scores = scores
        self.result_ = MultinomialPropensityResult(
            method="multinomial", description=design.description(), arms=tuple(str(a) for a in arms),
            n_per_arm={str(a): int(n) for a, n in zip(arms, counts)}, n_parameters=n_par,
            events_per_parameter=epp, coefficients=_coef_table(fit, design, arms),
            score_summary=_score_summary(scores, codes, arms), converged=fit.converged, n_iter=fit.n_iter,
            loglik=fit.loglik, warnings=tuple(caught))
        return self

    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(f"MultinomialPropensityModel.{where}: the model is not fitted (got an unfitted "
                                 "MultinomialPropensityModel). Call fit(df, treatment_col=...) first.")

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Scores :math:`e_k(x)` for the rows of ``df``: an (n, K) array, columns in :attr:`arms_` order."""
        self._check_fitted("predict")
        return multinomial_scores(self.design_.matrix(df, where="MultinomialPropensityModel.predict"), self.coef_)

    def fit_predict(self, df: pd.DataFrame, *, treatment_col: str) -> np.ndarray:
        """Fit and return the training scores, an (n, K) array."""
        self.fit(df, treatment_col=treatment_col)
        return self._train_scores.copy()


def _coef_table(fit: _MultinomialFit, design: Design, arms: Sequence[Any]) -> pd.DataFrame:
    p = fit.coef.shape[0]
    se = np.sqrt(np.diag(fit.cov)).reshape(len(arms) - 1, p)
    q = stats.norm.ppf(0.975)
    rows = []
    for a in range(1, len(arms)):
        for j, term in enumerate(design.column_names):
            b, s = float(fit.coef[j, a - 1]), float(se[a - 1, j])
            z = b / s if s > 0 else math.nan
            rows.append({"arm": str(arms[a]), "term": term, "coef": b, "se": s, "z": z,
                         "p": 2 * stats.norm.sf(abs(z)) if math.isfinite(z) else math.nan,
                         "ci_low": b - q * s, "ci_high": b + q * s})
    return pd.DataFrame(rows)


def _score_summary(scores: np.ndarray, codes: np.ndarray, arms: Sequence[Any]) -> pd.DataFrame:
    rows = []
    for k, a in enumerate(arms):
        s = scores[codes == k, k]
        rows.append({"arm": str(a), "n": int(s.size), "mean": float(s.mean()), "min": float(s.min()),
                     "median": float(np.median(s)), "max": float(s.max()),
                     "n_below_0.01": int(np.sum(s < POSITIVITY_BOUND))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MultiArmWeightResult:
    """K-arm weights and their diagnostics.

    Attributes
    ----------
    weights : ndarray
        One weight per patient (for the estimators; never in ``to_dict``).
    estimand : str
        ``"ATE"``, ``"ATT"`` or ``"ATO"``.
    focal : str or None
        The focal arm of the ATT.
    stabilized : bool
    arms : tuple of str
    diagnostics : DataFrame
        One row per arm and overall: n, sum, min, max, mean, SD (ddof=1) of the weights and Kish's ESS.
    warnings : tuple of str
    """

    weights: np.ndarray = field(repr=False)
    estimand: str
    focal: str | None
    stabilized: bool
    arms: tuple[str, ...]
    diagnostics: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the per-arm diagnostics (aggregates only)."""
        return self.diagnostics.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of settings and diagnostics; excludes the weights themselves."""
        return {"estimand": self.estimand, "focal": self.focal, "stabilized": self.stabilized,
                "arms": list(self.arms),
                "diagnostics": [{k: json_safe(v) for k, v in r.items()}
                                for r in self.diagnostics.to_dict(orient="records")],
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Paper-ready text: estimand and per-arm weight summaries."""
        target = f" (focal arm {self.focal})" if self.focal is not None else ""
        lines = [f"Weights: estimand {self.estimand}{target}, {'stabilized' if self.stabilized else 'unstabilized'}"]
        for r in self.diagnostics.itertuples(index=False):
            lines.append(f"  {r.arm}: n {r.n}, weights {r.min:.3g}-{r.max:.3g} (mean {r.mean:.3g}, SD {r.sd:.3g}), "
                         f"ESS {r.ess:.1f}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def multiarm_weight_values(ps: np.ndarray, codes: np.ndarray, *, estimand: str, focal: int | None = None,
                           stabilize: bool = False) -> np.ndarray:
    """The weighting arithmetic of the module table (unchecked fast path for the bootstrap and
    :func:`multiarm_weights`)."""
    n = codes.size
    own = ps[np.arange(n), codes]
    if estimand == "ATE":
        w = 1.0 / own
        if stabilize:
            w = w * (np.bincount(codes, minlength=ps.shape[1]) / n)[codes]
        return w
    if estimand == "ATT":
        return ps[:, focal] / own
    return (1.0 / np.sum(1.0 / ps, axis=1)) / own     # ATO: h(x)/e_a(x), h = 1/sum_k 1/e_k


def multiarm_weights(ps: Any, treatment: Any, *, estimand: MultiArmEstimand = "ATE", focal: Any = None,
                     stabilize: bool = False, arms: Sequence[Any] | None = None) -> MultiArmWeightResult:
    """Weights for K arms from the generalized propensity score (module table).

    Parameters
    ----------
    ps : array-like, shape (n, K)
        Scores :math:`e_k(x_i)`, columns in the order of ``arms`` (e.g.
        :meth:`MultinomialPropensityModel.fit_predict`); rows sum to 1.
    treatment : array-like
        Each patient's arm (a label among ``arms``).
    estimand : {"ATE", "ATT", "ATO"}, default="ATE"
    focal : label, optional
        The ATT's target arm (required for ``"ATT"``, refused otherwise).
    stabilize : bool, default=False
        ATE only: multiply by the arm's share :math:`\\hat P(A = a)`, so each arm's weights sum to about n.
    arms : sequence, optional
        The arms in the column order of ``ps``; default as :func:`arm_codes`.

    Returns
    -------
    MultiArmWeightResult

    Raises
    ------
    ConfigError
        Unknown estimand, ``focal`` missing or unknown for the ATT or given for another estimand, stabilization
        other than for the ATE.
    DataError
        ``ps`` not (n, K) with rows summing to 1, treatment labels outside ``arms``, an empty arm.
    PositivityError
        A score of exactly 0 (the weights divide by every arm's score).

    Warns
    -----
    PositivityWarning
        Scores below 0.01 (counted per arm of the score).
    ExtremeWeightWarning
        A weight above 10 times its arm's mean.

    Notes
    -----
    Each estimand's weights make every arm stand for the same target population, so the contrast of any two
    arms' weighted outcomes estimates the same kind of effect: ATE for the whole sample, ATT for the focal
    arm's patients, ATO for the generalized overlap population whose density is proportional to
    :math:`f(x) h(x)` (Li & Li 2019), which minimizes the variance of the pairwise contrasts among
    balancing weights.
    """
    where = "multiarm_weights"
    spec = check_multiarm_estimand(estimand, where=where, stabilize=stabilize)
    codes, arms = arm_codes(treatment, arms, where)
    k = len(arms)
    e = np.asarray(ps, dtype=float)
    if e.ndim != 2 or e.shape != (codes.size, k):
        raise DataError(f"{where}: ps must have one row per patient and one column per arm (got shape "
                        f"{e.shape} for {codes.size} patients and {k} arms). Pass MultinomialPropensityModel."
                        "fit_predict(...).")
    if not np.all(np.isfinite(e)) or np.any(e < 0) or np.any(e > 1):
        raise DataError(f"{where}: ps must be finite and in [0, 1] (got {int(np.sum(~np.isfinite(e) | (e < 0) | (e > 1)))} "
                        "values outside). Check the propensity model.")
    off = np.abs(e.sum(axis=1) - 1)
    if np.any(off > 1e-8):
        raise DataError(f"{where}: each row of ps must sum to 1 (got {int(np.sum(off > 1e-8))} rows that do not, "
                        f"largest deviation {off.max():.2g}). Pass all K columns of the generalized score.")
    focal_k = _resolve_focal(focal, arms, estimand, where)
    n_zero = int(np.sum(e <= 0))
    if n_zero:
        raise PositivityError(f"{where}: {n_zero} generalized propensity scores are exactly 0, so {estimand} weights "
                              f"are undefined (got {n_zero} of {e.size}). Revise the propensity model or restrict the "
                              "cohort to patients who could receive every arm.")
    caught: list[str] = []
    low = e < POSITIVITY_BOUND
    if low.any():
        per = ", ".join(f"{int(low[:, j].sum())} for arm {str(arms[j])!r}" for j in range(k) if low[:, j].any())
        caught.append(f"{where}: {int(low.any(axis=1).sum())} patients have a score below {POSITIVITY_BOUND:g} for "
                      f"some arm (got {per}). Check overlap; consider analysis.survival.estimands: [ATO].")
        warnings.warn(caught[-1], PositivityWarning, stacklevel=2)
    w = multiarm_weight_values(e, codes, estimand=estimand, focal=focal_k, stabilize=stabilize)
    rows = []
    for j, a in enumerate(arms):
        wa = w[codes == j]
        rows.append(_diag_row(str(a), wa))
        n_ext = int(np.sum(wa > EXTREME_WEIGHT_RATIO * wa.mean()))
        if n_ext:
            caught.append(f"{where}: arm {str(a)!r} has {n_ext} weights above {EXTREME_WEIGHT_RATIO:g} times the arm's "
                          f"mean (got max {wa.max():.3g}, mean {wa.mean():.3g}). Inspect these patients; consider "
                          "analysis.survival.estimands: [ATO].")
            warnings.warn(caught[-1], ExtremeWeightWarning, stacklevel=2)
    rows.append(_diag_row("overall", w))
    return MultiArmWeightResult(weights=w, estimand=estimand,
                                focal=None if focal_k is None else str(arms[focal_k]),
                                stabilized=bool(stabilize and spec["stabilize_ok"]),
                                arms=tuple(str(a) for a in arms), diagnostics=pd.DataFrame(rows),
                                warnings=tuple(caught))


def _diag_row(arm: str, w: np.ndarray) -> dict[str, Any]:
    return {"arm": arm, "n": int(w.size), "sum": float(w.sum()), "min": float(w.min()), "max": float(w.max()),
            "mean": float(w.mean()), "sd": float(np.std(w, ddof=1)) if w.size > 1 else math.nan,
            "ess": kish_ess(w)}


# --------------------------------------------------------------------------------------------------
# balance
# --------------------------------------------------------------------------------------------------
MULTIARM_CONVENTIONS = (
    "Balance conventions (as R cobalt for multi-category treatments): for each pair of arms, SMD = difference in "
    "weighted means / SD of the unweighted sample, SD denominator {denom}; binary covariates: {binary}; variance of "
    "binary = p(1-p), of continuous = n-1 sample variance; the summary reports the largest |SMD| over the pairs; "
    "|SMD| >= {threshold:g} flagged."
)


@dataclass(frozen=True, slots=True)
class MultiArmBalance:
    """Balance of K arms: per pair of arms and across pairs (aggregates only).

    Attributes
    ----------
    means : DataFrame
        covariate, level, type, then ``mean_un[<arm>]`` and (weighted) ``mean_w[<arm>]`` per arm: the Table 1
        with K columns.
    pairs : DataFrame
        contrast ("B vs A"), arm, reference, covariate, level, type, smd_un and (weighted) smd_w, where the
        SMD is arm minus reference.
    overall : DataFrame
        covariate, level, type, max_abs_smd_un, worst_pair_un and (weighted) max_abs_smd_w, worst_pair_w,
        flag: cobalt's balance across pairs.
    ess : DataFrame
        arm, n, ess_unweighted, ess_weighted.
    estimand : str
    focal : str or None
    s_d_denom : str
        ``"pooled over all arms"`` or ``"focal arm <name>"``.
    binary : str
    threshold : float
    weighted : bool
    max_abs_smd : float
        Largest |SMD| over pairs and rows, after weighting (before, when unweighted).
    n_flagged : int
        Rows of ``overall`` whose largest |SMD| is at or above ``threshold``.
    conventions : str
    warnings : tuple of str
    """

    means: pd.DataFrame
    pairs: pd.DataFrame
    overall: pd.DataFrame
    ess: pd.DataFrame
    estimand: str
    focal: str | None
    s_d_denom: str
    binary: str
    threshold: float
    weighted: bool
    max_abs_smd: float
    n_flagged: int
    conventions: str
    warnings: tuple[str, ...] = ()

    def to_frame(self, *, table: Literal["overall", "pairs", "means"] = "overall") -> pd.DataFrame:
        """Tidy copy of one table: ``"overall"`` (one row per covariate/level), ``"pairs"`` (one row per pair
        and covariate/level) or ``"means"`` (the K-column Table 1)."""
        frames = {"overall": self.overall, "pairs": self.pairs, "means": self.means}
        if table not in frames:
            raise ValueError(f"MultiArmBalance.to_frame: table must be one of {list(frames)} (got {table!r}). "
                             "Pick one of these.")
        return frames[table].copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (aggregates only)."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{str(k): json_safe(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

        return {"estimand": self.estimand, "focal": self.focal, "s_d_denom": self.s_d_denom, "binary": self.binary,
                "threshold": self.threshold, "weighted": self.weighted, "max_abs_smd": json_safe(self.max_abs_smd),
                "n_flagged": self.n_flagged, "conventions": self.conventions, "means": records(self.means),
                "pairs": records(self.pairs), "overall": records(self.overall), "ess": records(self.ess),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """The across-pairs table with the conventions printed beside it."""
        tag = "w" if self.weighted else "un"
        cols = ["covariate", "level", "type", "max_abs_smd_un", "worst_pair_un"] + (
            ["max_abs_smd_w", "worst_pair_w"] if self.weighted else [])
        body = self.overall[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        ess = "; ".join(f"{r.arm}: n {r.n}, ESS {r.ess_weighted:.1f}" for r in self.ess.itertuples())
        return (f"Covariate balance across pairs of arms ({self.estimand}"
                f"{', focal ' + self.focal if self.focal else ''}{', weighted' if self.weighted else ''})\n{body}\n"
                f"{self.n_flagged} rows with max |SMD| >= {self.threshold:g} ({tag}); {ess}\n{self.conventions}")


def multiarm_balance(df: pd.DataFrame, *, treatment_col: str, covariates: Sequence[str], weights: Any = None,
                     arms: Sequence[Any] | None = None, estimand: MultiArmEstimand = "ATE", focal: Any = None,
                     threshold: float = 0.1, binary: Literal["raw", "std"] = "raw") -> MultiArmBalance:
    """Balance of every pair of K arms and the largest imbalance across pairs (cobalt's conventions).

    Parameters
    ----------
    df : DataFrame
    treatment_col : str
        Column of arm labels.
    covariates : sequence of str
        Columns; categorical dtypes expand to one row per level (two-level ones to one row), as
        :func:`gistcausal.stats.balance.balance_table`.
    weights : array-like or MultiArmWeightResult, optional
    arms : sequence, optional
        Arm order (default as :func:`arm_codes`); pairs are (earlier, later) and the SMD is later minus earlier.
    estimand : {"ATE", "ATT", "ATO"}, default="ATE"
        Sets the SMD denominator: the SD pooled over all arms (ATE, ATO) or the focal arm's SD (ATT).
    focal : label, optional
        The ATT's focal arm.
    threshold : float, default=0.1
    binary : {"raw", "std"}, default="raw"
        Binary covariates as raw differences in proportions or standardized.

    Returns
    -------
    MultiArmBalance

    Notes
    -----
    For the pair (a, b) and a covariate x, :math:`\\mathrm{SMD}_{ba} = (\\bar x^w_b - \\bar x^w_a)/s` with
    :math:`s = \\{K^{-1}\\sum_{k=1}^K s_k^2\\}^{1/2}` over all arms (ATE, ATO) or :math:`s = s_f` (ATT); the
    :math:`s_k^2` are unweighted (n-1 sample variance; :math:`p(1-p)` for binary covariates). The denominator is
    therefore the same for all pairs and before and after weighting, as in cobalt.
    """
    where = "multiarm_balance"
    check_multiarm_estimand(estimand, where=where)
    check_balance_inputs(df, treatment_col, covariates, binary, where)
    codes, arms = arm_codes(df[treatment_col], arms, where, name=treatment_col)
    focal_k = _resolve_focal(focal, arms, estimand, where)
    names = [str(a) for a in arms]
    k = len(arms)
    weighted = weights is not None
    w = np.ones(codes.size) if not weighted else np.asarray(getattr(weights, "weights", weights), dtype=float)
    if w.shape != codes.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f"{where}: weights must be finite, non-negative and one per patient (got shape {w.shape}, "
                        f"{int(np.sum(~np.isfinite(w) | (w < 0))) if w.shape == codes.shape else 'n/a'} invalid). "
                        "Pass MultiArmWeightResult.weights.")
    for j in range(k):
        if not np.any(w[codes == j] > 0):
            raise DataError(f"{where}: arm {names[j]!r} has no patients with positive weight (got 0). Check the "
                            "weights of that arm.")
    masks = [codes == j for j in range(k)]
    tags = (("un", np.ones(codes.size)),) + ((("w", w),) if weighted else ())
    mean_rows, pair_rows, overall_rows = [], [], []
    for col in covariates:
        for name, level, x in _expand(df, col):
            is_bin = _is_binary(x)
            kind = "binary" if is_bin else "continuous"
            variances = [_unweighted_var(x[m], is_bin) for m in masks]
            s = math.sqrt(variances[focal_k]) if focal_k is not None else math.sqrt(float(np.mean(variances)))
            standardize = not is_bin or binary == "std"
            # a constant covariate has a rounding-level SD: SMD undefined rather than huge
            ok = s > 1e-10 * max(1.0, float(np.max(np.abs(x))))
            means = {tag: [_wmean(x[m], ww[m]) for m in masks] for tag, ww in tags}
            mean_rows.append({"covariate": name, "level": level, "type": kind,
                              **{f"mean_{tag}[{names[j]}]": means[tag][j] for tag, _ in tags for j in range(k)}})
            best: dict[str, tuple[float, str]] = {}
            for i, j in combinations(range(k), 2):
                contrast = f"{names[j]} vs {names[i]}"
                row: dict[str, Any] = {"contrast": contrast, "arm": names[j], "reference": names[i],
                                       "covariate": name, "level": level, "type": kind}
                for tag, _ in tags:
                    diff = means[tag][j] - means[tag][i]
                    value = (diff / s if ok else math.nan) if standardize else diff
                    row[f"smd_{tag}"] = value
                    if math.isfinite(value) and abs(value) > best.get(tag, (-1.0, ""))[0]:
                        best[tag] = (abs(value), contrast)
                pair_rows.append(row)
            orow: dict[str, Any] = {"covariate": name, "level": level, "type": kind}
            for tag, _ in tags:
                # no finite SMD in any pair (a constant covariate): undefined, as for two arms
                orow[f"max_abs_smd_{tag}"], orow[f"worst_pair_{tag}"] = best.get(tag, (math.nan, ""))
            last = "w" if weighted else "un"
            orow["flag"] = bool(orow[f"max_abs_smd_{last}"] >= threshold)
            overall_rows.append(orow)
    overall = pd.DataFrame(overall_rows)
    ess = pd.DataFrame([{"arm": names[j], "n": int(m.sum()), "ess_unweighted": float(m.sum()),
                         "ess_weighted": kish_ess(w[m]) if weighted else float(m.sum())}
                        for j, m in enumerate(masks)])
    denom = f"focal arm {names[focal_k]}" if focal_k is not None else "pooled over all arms"
    text = MULTIARM_CONVENTIONS.format(
        denom=("SD of the focal arm" if focal_k is not None else "sqrt(mean of the K arms' variances)"),
        binary="raw differences in proportions" if binary == "raw" else "standardized with p(1-p)",
        threshold=threshold)
    tag = "w" if weighted else "un"
    return MultiArmBalance(means=pd.DataFrame(mean_rows), pairs=pd.DataFrame(pair_rows), overall=overall, ess=ess,
                           estimand=estimand, focal=None if focal_k is None else names[focal_k], s_d_denom=denom,
                           binary=binary, threshold=float(threshold), weighted=weighted,
                           max_abs_smd=float(overall[f"max_abs_smd_{tag}"].max()),
                           n_flagged=int(overall["flag"].sum()), conventions=text)


__all__ = ["MultinomialPropensityModel", "MultinomialPropensityResult", "multinomial_newton", "multinomial_scores", "multiarm_weights",
           "multiarm_weight_values", "MultiArmWeightResult", "multiarm_balance", "MultiArmBalance", "arm_codes",
           "check_multiarm_estimand", "MULTIARM_ESTIMANDS", "MULTIARM_CONVENTIONS"]
