"""Propensity-score models: unpenalized and Firth logistic regression, and cross-fitted machine learners.

:class:`PropensityModel` follows the scikit-learn contract: ``__init__`` only stores the settings,
:meth:`PropensityModel.fit` validates the data, fits, and returns ``self``; learned attributes end in
``_``. The report-ready summary is :attr:`PropensityModel.result_` (a :class:`PropensityResult`, which
holds aggregates only); the scores themselves come from :meth:`PropensityModel.predict` or
:meth:`PropensityModel.fit_predict` and go straight to :func:`gistcausal.stats.weights.compute_weights`.

Methods
-------
``"logistic"``
    Unpenalized maximum likelihood, :math:`\\operatorname{logit} e(x) = x^\\top\\beta`, fitted by IRLS in
    statsmodels with a tight convergence tolerance so that coefficients and fitted scores agree with R's
    ``glm(family = binomial)`` to 1e-6 (tests/reference/propensity/make_propensity.R). Never scikit-learn's
    ``LogisticRegression``, whose default is L2-penalized and stops early.
``"firth"``
    Firth's (1993) bias-reduced logistic regression, the maximizer of the penalized log-likelihood
    :math:`\\ell(\\beta) + \\tfrac12 \\log\\lvert X^\\top W X\\rvert`, which exists under separation
    (Heinze & Schemper 2002). Fitted by a modified-score Newton iteration with step halving.
``"boosting"``
    scikit-learn's ``HistGradientBoostingClassifier`` (or any classifier given as ``estimator``), fitted with
    ``n_folds``-fold cross-fitting: each patient's score comes from a model that did not see that patient.
    With ``calibrate=True`` each fold's model is wrapped in ``CalibratedClassifierCV(method="sigmoid")``.

Model terms
-----------
The design matrix is built from the data columns directly by :mod:`gistcausal.stats.design_matrix`; no
formula text is written or evaluated, so a column name can be any string. ``covariates`` are entered
linearly; columns of dtype object, category or bool are expanded into indicator columns (the first category,
in pandas category order or sorted order for strings, is the reference, as in R's ``factor``). ``splines``
maps a continuous column to a natural cubic spline (identical to R's ``splines::ns``) or a B-spline
(identical to R's ``splines::bs``). ``interactions`` lists column pairs entered as products.

References
----------
Rosenbaum PR, Rubin DB (1983). The central role of the propensity score in observational studies for causal
effects. Biometrika 70:41-55.
Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika 80:27-38.
Heinze G, Schemper M (2002). A solution to the problem of separation in logistic regression. Stat Med
21:2409-2419.
Konis K (2007). Linear programming algorithms for detecting separated data in binary logistic regression
models. DPhil thesis, University of Oxford.
Peduzzi P, et al. (1996). A simulation study of the number of events per variable in logistic regression
analysis. J Clin Epidemiol 49:1373-1379.
Chernozhukov V, et al. (2018). Double/debiased machine learning for treatment and structural parameters.
Econometrics Journal 21:C1-C68.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from gistcausal.effects import json_safe
from gistcausal.stats.logistic import log1pexp, logistic_newton
from gistcausal.errors import (
    ConvergenceWarning,
    DataError,
    ModelFitError,
    NotFittedError,
    SeparationError,
    SmallSampleWarning,
)
from gistcausal.stats.design_matrix import Design, build_design, is_categorical, ns_basis

#: Smallest events-per-parameter (patients in the smaller arm per non-intercept coefficient) before a
#: :class:`~gistcausal.errors.SmallSampleWarning` (Peduzzi et al. 1996 rule of ten).
EPP_THRESHOLD = 10.0

#: Methods :class:`PropensityModel` understands, with what each supports.
METHODS: dict[str, dict[str, bool]] = {
    "logistic": {"coefficients": True, "cross_fit": False},
    "firth": {"coefficients": True, "cross_fit": False},
    "boosting": {"coefficients": False, "cross_fit": True},
    "estimator": {"coefficients": False, "cross_fit": True},
}

_WHERE = "PropensityModel.fit"


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PropensityResult:
    """Report-ready summary of a fitted propensity model (aggregates only, no patient rows).

    Attributes
    ----------
    method : str
        ``"logistic"``, ``"firth"``, ``"boosting"`` or ``"estimator"``.
    description : str
        The model terms for display, e.g. ``"age + size + ns(age, df=3) + age:meno"``: labels joined by
        ``" + "``, built from the configured terms and never evaluated.
    n_treated, n_control : int
        Patients per arm.
    n_parameters : int
        Non-intercept columns of the design matrix.
    events_per_parameter : float
        ``min(n_treated, n_control) / n_parameters``.
    c_statistic : float
        Area under the ROC curve of the scores (out-of-fold scores for cross-fitted learners); NaN after
        ``PropensityModel.fit(..., diagnostics=False)``.
    score_summary : DataFrame
        One row per arm: n, mean, min, p01, q1, median, q3, p99, max of the scores, and counts below 0.01
        and above 0.99; no rows after ``diagnostics=False``.
    coefficients : DataFrame or None
        term, coef, se, z, p, ci_low, ci_high (Wald, 95%) for ``logistic``/``firth``; ``None`` otherwise. A
        logistic fit with ``diagnostics=False`` leaves se, z, p, ci_low and ci_high NaN.
    converged : bool
        Whether the iterative fit met its tolerance.
    n_iter : int
        Iterations used (0 for learners).
    loglik : float
        Log-likelihood (penalized for Firth); NaN for learners.
    n_folds : int
        Cross-fitting folds (0 when not cross-fitted).
    n_clipped : int
        Scores clipped: always 0, gistcausal never clips scores (extremes are reported by the weights).
    warnings : tuple of str
        Messages of the warnings raised during the fit.
    """

    method: str
    description: str
    n_treated: int
    n_control: int
    n_parameters: int
    events_per_parameter: float
    c_statistic: float
    score_summary: pd.DataFrame
    coefficients: pd.DataFrame | None
    converged: bool
    n_iter: int
    loglik: float
    n_folds: int
    n_clipped: int = 0
    warnings: tuple[str, ...] = ()

    def to_frame(self, *, table: str = "auto") -> pd.DataFrame:
        """Tidy copy: ``table="coefficients"`` (one row per term), ``"scores"`` (one row per arm), or
        ``"auto"`` (coefficients when the model has them, else scores)."""
        if table not in ("auto", "coefficients", "scores"):
            raise ValueError(f"PropensityResult.to_frame: table must be one of 'auto', 'coefficients', "
                             f"'scores' (got {table!r}). Pick one of these.")
        if table == "scores" or (table == "auto" and self.coefficients is None):
            return self.score_summary.copy()
        if self.coefficients is None:
            raise ValueError(f"PropensityResult.to_frame: method {self.method!r} has no coefficients (got "
                             "table='coefficients'). Use table='scores'.")
        return self.coefficients.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None); score summaries by arm, never individual scores."""
        def records(frame):
            return [{k: json_safe(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]

        return {
            "method": self.method, "description": self.description, "n_treated": self.n_treated,
            "n_control": self.n_control, "n_parameters": self.n_parameters,
            "events_per_parameter": json_safe(self.events_per_parameter), "c_statistic": json_safe(self.c_statistic),
            "converged": self.converged, "n_iter": self.n_iter, "loglik": json_safe(self.loglik),
            "n_folds": self.n_folds, "n_clipped": self.n_clipped,
            "score_summary": records(self.score_summary),
            "coefficients": None if self.coefficients is None else records(self.coefficients),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Paper-ready text: method, arms, EPP, c-statistic, score ranges and coefficients."""
        lines = [f"Propensity model: {self.method}; treatment ~ {self.description}",
                 f"n = {self.n_treated} treated / {self.n_control} control; {self.n_parameters} parameters; "
                 f"events per parameter {self.events_per_parameter:.1f}; c-statistic {self.c_statistic:.3f}"]
        for row in self.score_summary.itertuples(index=False):
            lines.append(f"  scores, {row.arm}: mean {row.mean:.3f}, median {row.median:.3f}, "
                         f"range {row.min:.3f}-{row.max:.3f}")
        if self.coefficients is not None:
            lines.append(self.coefficients.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def c_statistic(scores: np.ndarray, treatment: np.ndarray) -> float:
    """Concordance (ROC AUC): P(score_treated > score_control) + 0.5 P(tie), by the Mann-Whitney ranks."""
    scores = np.asarray(scores, dtype=float)
    t = np.asarray(treatment).astype(bool)
    n1, n0 = int(t.sum()), int((~t).sum())
    ranks = stats.rankdata(scores)
    return float((ranks[t].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _treatment_vector(df: pd.DataFrame, treatment_col: str, where: str) -> np.ndarray:
    """0/1 float vector from a 0/1 or boolean treatment column, with messages for everything else."""
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got columns "
                        f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
    s = df[treatment_col]
    n_missing = int(s.isna().sum())
    if n_missing:
        raise DataError(f"{where}: column {treatment_col!r} has {n_missing} missing values (got {n_missing} "
                        f"of {len(s)}). Drop or resolve these patients before fitting.")
    values = set(pd.unique(s).tolist())
    if not values <= {0, 1, True, False}:
        shown = sorted(map(str, values))[:5]
        raise DataError(f"{where}: column {treatment_col!r} must be coded 0/1 or False/True (got values "
                        f"{shown}). Recode the treatment to 1 = treated, 0 = control.")
    return s.astype(float).to_numpy()


def _numeric_check_scores(scores: np.ndarray) -> None:
    if not np.all(np.isfinite(scores)):
        raise ModelFitError(f"{_WHERE}: the model returned non-finite scores (got "
                            f"{int((~np.isfinite(scores)).sum())} values). Check the covariates for "
                            "infinite values.")


def halving_step(objective: Any, x: np.ndarray, step: np.ndarray, current: float
                 ) -> tuple[np.ndarray, float, float]:
    """One damped Newton step: ``x + f * step`` with ``f`` halved from 1 until ``objective`` (to maximise) does not
    fall below ``current`` by more than 1e-12, or ``f < 1e-8``. Returns the new point, its objective and ``f``."""
    factor = 1.0
    while True:
        candidate = x + factor * step
        value = objective(candidate)
        if value >= current - 1e-12 or factor < 1e-8:
            return candidate, value, factor
        factor /= 2

def firth_newton(X: np.ndarray, y: np.ndarray, *, tol: float = 1e-10, max_iter: int = 200):
    """Firth's modified-score Newton iteration with step halving on the penalized log-likelihood.

    Returns (beta, covariance (inverse Fisher information at beta), penalized loglik, n_iter, converged).
    """
    def pen_loglik(beta):
        eta = X @ beta
        p = special.expit(eta)
        w = p * (1 - p)
        sign, logdet = np.linalg.slogdet((X * w[:, None]).T @ X)
        if sign <= 0:
            return -np.inf
        return float(np.sum(y * eta - log1pexp(eta)) + 0.5 * logdet)

    beta = np.zeros(X.shape[1])
    current = pen_loglik(beta)
    for it in range(1, max_iter + 1):
        p = special.expit(X @ beta)
        w = p * (1 - p)
        info = (X * w[:, None]).T @ X
        cov = linalg.inv(info)
        hat = w * np.einsum("ij,jk,ik->i", X, cov, X)
        score = X.T @ (y - p + hat * (0.5 - p))
        step = cov @ score
        beta, current, factor = halving_step(pen_loglik, beta, step, current)
        if np.max(np.abs(factor * step)) < tol:
            p = special.expit(X @ beta)
            w = p * (1 - p)
            cov = linalg.inv((X * w[:, None]).T @ X)
            return beta, cov, current, it, True
    return beta, linalg.inv((X * (special.expit(X @ beta) * (1 - special.expit(X @ beta)))[:, None]).T @ X), \
        current, max_iter, False


def _separation_direction(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Konis (2007) linear program: a direction b with (2y-1) x_i'b >= 0 for all i and > 0 for some.

    Columns are scaled to unit range first so the box constraint |b_j| <= 1 treats them alike. Returns the
    direction and the scaled matrix when the data are (quasi-)separated, else None.
    """
    scale = np.ptp(X, axis=0)
    scale[scale == 0] = 1.0
    Z = X / scale
    s = 2 * y - 1
    A = -(s[:, None] * Z)
    res = optimize.linprog(c=-(s @ Z), A_ub=A, b_ub=np.zeros(len(y)), bounds=[(-1, 1)] * Z.shape[1],
                           method="highs")
    if res.status == 0 and -res.fun > 1e-7:
        return res.x, Z
    return None


# --------------------------------------------------------------------------------------------------
# Fitting pieces (functions of arrays; the model below only strings them together)
# --------------------------------------------------------------------------------------------------
def _check_covariates(df: pd.DataFrame, cols: Sequence[Any], t: np.ndarray) -> None:
    """Missing values, constant columns, and continuous columns constant within an arm.

    A numeric column is checked by comparisons (:func:`_check_numeric_covariate`); any other column by one
    ``pd.factorize`` that gives all three (missing values are code -1, the distinct values are the other codes,
    as ``isna``/``nunique`` count them), instead of a hash pass for each check and arm.
    """
    arms = (("treated", t == 1), ("control", t == 0))
    for c in cols:
        s = df[c]
        if not is_categorical(s) and s.dtype.kind in "fiu":
            _check_numeric_covariate(c, s.to_numpy(), arms, len(df))
            continue
        codes, uniques = pd.factorize(s)
        n_missing = int(np.count_nonzero(codes < 0))
        if n_missing:
            raise DataError(f"{_WHERE}: covariate {c!r} has {n_missing} missing values (got {n_missing} of "
                            f"{len(df)}). Impute them (gistcausal.stats.impute.impute_chained) or map them to a "
                            "'not reported' level.")
        if len(uniques) < 2:
            raise DataError(f"{_WHERE}: covariate {c!r} is constant (got 1 distinct value). Drop it from "
                            "the propensity model.")
        if not is_categorical(s) and len(uniques) > 2:  # binary: separation check below
            for arm, mask in arms:
                if np.count_nonzero(np.bincount(codes[mask], minlength=len(uniques))) < 2:
                    raise DataError(f"{_WHERE}: covariate {c!r} is constant within arm {arm!r} (got 1 "
                                    f"distinct value in {int(mask.sum())} patients). Drop or recode {c!r}; "
                                    "the arms cannot be compared on it.")


def _gram_lower(X: np.ndarray) -> np.ndarray:
    """Lower triangle of :math:`X^\top X` by BLAS ``syrk`` (half the multiplications of ``X.T @ X``; the same
    matrix to rounding), which ``eigvalsh`` (``UPLO="L"``) reads; X in either memory order, read in place."""
    if X.flags.f_contiguous:
        return linalg.blas.dsyrk(1.0, X, trans=1, lower=1)
    return linalg.blas.dsyrk(1.0, np.ascontiguousarray(X).T, trans=0, lower=1)


def _column_rank(X: np.ndarray) -> int:
    r"""``np.linalg.matrix_rank(X)``, with a cheaper certificate of full column rank tried first (issue 17).

    ``matrix_rank`` counts singular values above :math:`\sigma_{max} \max(n, p)\,\epsilon` (an SVD of the
    n x p design, a third of a plasmode replicate's propensity fit at n = 229,000). The eigenvalues of the
    Gram matrix :math:`X^\top X` are :math:`\sigma^2`, computed to within about :math:`n p\,\epsilon\,
    \sigma_{max}^2`; when the smallest exceeds :math:`\max(10^{-8}, 10\,n p\,\epsilon)` times the largest, the
    true :math:`\sigma_{min}^2` exceeds :math:`9 n p\,\epsilon\,\sigma_{max}^2`, so :math:`\sigma_{min}` is
    far above ``matrix_rank``'s threshold and the rank is p: the same answer. Otherwise (a nearly or exactly
    collinear design) the SVD decides, as before.
    """
    n, p = X.shape
    if p == 0 or n < p:
        return int(np.linalg.matrix_rank(X))
    ev = np.linalg.eigvalsh(_gram_lower(X))
    if ev[-1] > 0 and ev[0] > max(1e-8, 10.0 * n * p * np.finfo(float).eps) * ev[-1]:
        return p
    return int(np.linalg.matrix_rank(X))


#: Rows of a numeric covariate looked at first by :func:`_check_numeric_covariate` (a continuous column shows
#: more than two distinct values, in each arm, within its first rows; the full pass runs only otherwise).
_PREFIX = 1024


def _check_numeric_covariate(c: Any, x: np.ndarray, arms: tuple, n: int) -> None:
    """:func:`_check_covariates` of a numeric (numpy float or integer) column, by comparisons instead of a
    hash pass (issue 17: three float columns were a tenth of a plasmode replicate's propensity fit): the same
    checks in the same order, the same messages. Missing values are NaN; at least two distinct values means
    min < max; more than two means a value other than the minimum and maximum; constant within an arm means
    min == max there. Both are first looked for in the first :data:`_PREFIX` rows, where a continuous column
    nearly always shows them (the same decisions: a value found there is a value of the column or arm)."""
    if x.dtype.kind == "f":
        n_missing = int(np.count_nonzero(np.isnan(x)))
        if n_missing:
            raise DataError(f"{_WHERE}: covariate {c!r} has {n_missing} missing values (got {n_missing} of "
                            f"{n}). Impute them (gistcausal.stats.impute.impute_chained) or map them to a "
                            "'not reported' level.")
    lo, hi = (x.min(), x.max()) if x.size else (0, 0)
    if not lo < hi:
        raise DataError(f"{_WHERE}: covariate {c!r} is constant (got 1 distinct value). Drop it from "
                        "the propensity model.")
    # more than two distinct values (binary: separation check later); a prefix usually shows it already
    head = x[:_PREFIX]
    if np.any((head != lo) & (head != hi)) or np.any((x != lo) & (x != hi)):
        for arm, mask in arms:
            xh = head[mask[:_PREFIX]]
            if xh.size and xh.min() < xh.max():   # two distinct values in the arm's first rows: not constant
                continue
            xa = x[mask]
            if xa.size == 0 or xa.min() == xa.max():
                raise DataError(f"{_WHERE}: covariate {c!r} is constant within arm {arm!r} (got 1 "
                                f"distinct value in {int(mask.sum())} patients). Drop or recode {c!r}; "
                                "the arms cannot be compared on it.")


def _check_dimensions(X: np.ndarray, n1: int, n0: int, description: str) -> None:
    n_par = X.shape[1] - 1
    for arm, n in (("treated", n1), ("control", n0)):
        if n <= n_par:
            raise ModelFitError(f"{_WHERE}: arm {arm!r} has {n} patients, not more than the {n_par} model "
                                f"parameters (got model {description!r}). Use fewer covariates or merge levels.")
    rank = _column_rank(X)
    if rank < X.shape[1]:
        raise ModelFitError(f"{_WHERE}: the design matrix is rank deficient (got rank {rank} for {X.shape[1]} "
                            "columns). Remove collinear covariates or empty levels.")


def _raise_separation(Z: np.ndarray, y: np.ndarray, direction: np.ndarray, design: Design) -> None:
    """SeparationError naming the covariates (and the level, when one) along the separating direction."""
    idx = [j for j in np.argsort(-np.abs(direction)) if abs(direction[j]) > 1e-6 and j > 0]
    covs: list[Any] = []
    levels: list[str] = []
    for j in idx:
        covs += [c for c in design.column_sources[j] if c not in covs]
        levels += list(design.column_levels[j])
    margin = (2 * y - 1) * (Z @ direction)
    n_sep = int(np.sum(margin > 1e-7))
    what = f"covariate {covs[0]!r}" if len(covs) == 1 else f"covariates {covs}"
    lvl = f" (level {levels[0]!r})" if len(levels) == 1 and len(covs) == 1 else ""
    raise SeparationError(f"{_WHERE}: {what}{lvl} separates the treatment arms (got (quasi-)complete "
                          f"separation: the arm of {n_sep} of {len(y)} patients is perfectly predicted). Use the Firth "
                          f"model (analysis.propensity.method: firth) or drop/merge levels of {', '.join(repr(c) for c in covs)}.")


#: A fitted linear predictor beyond this (|x'b| > 15: fitted probability within 3e-7 of 0 or 1) sends the fit to
#: the separation linear program; the batched bootstrap uses the same bound (inference/bootstrap_batched.py).
SEPARATION_ETA = 15.0


def _logistic_ml(X: np.ndarray, t: np.ndarray, design: Design, beta0: np.ndarray | None = None,
                 covariance: bool = True) -> tuple[np.ndarray, np.ndarray | None, bool, int, float]:
    """Logistic maximum likelihood: coefficients, their model covariance :math:`(X^\top W X)^{-1}`, converged,
    iterations and log-likelihood.

    :func:`gistcausal.stats.logistic.logistic_newton` (Cholesky-solved Newton steps) when it converges with every
    |x'b| <= ``SEPARATION_ETA``; otherwise statsmodels' IRLS with the separation check (:func:`_logistic_irls`),
    whose messages name the separating covariate. Both find the maximum-likelihood estimate of R's ``glm``.
    ``beta0`` starts the Newton iteration (:func:`logistic_newton`'s warm start; the same maximum).
    ``covariance=False`` returns ``None`` for the covariance of a Newton fit instead of inverting the information
    matrix at the maximum (the statsmodels fallback returns its own covariance either way).
    """
    try:
        beta, n_iter = logistic_newton(X, t, where=_WHERE, beta0=beta0)
    except (SeparationError, ModelFitError):
        beta = None
    if beta is not None:
        eta = X @ beta
        if float(np.max(np.abs(eta))) <= SEPARATION_ETA:
            cov = None
            if covariance:
                mu = special.expit(eta)
                cov = linalg.inv((X * (mu * (1.0 - mu))[:, None]).T @ X)
            loglik = float(np.sum(t * eta - log1pexp(eta)))
            return beta, cov, True, n_iter, loglik
    res = _logistic_irls(X, t, design)
    return (np.asarray(res.params), np.asarray(res.cov_params()), bool(res.converged),
            int(res.fit_history["iteration"]), float(res.llf))


def _logistic_irls(X: np.ndarray, t: np.ndarray, design: Design) -> Any:
    """statsmodels' IRLS fit of the logistic model, with the separation check run only when the fit needs it.

    Under (quasi-)complete separation no finite maximum exists: along the separating direction the Newton step
    stays near 1/margin, so IRLS either does not converge or stops with a linear predictor far beyond
    ``SEPARATION_ETA``. Only then (or when statsmodels raises or warns) is the Konis linear program solved, which
    costs about 20 IRLS fits (0.2 s at 23,000 rows). A fit that converged with every |x'b| <= 15 cannot be
    separated, so the decision is the one the linear program would make (test: tests/stats/test_propensity.py,
    separated and non-separated designs). Warnings of a fit that is not separated are passed on unchanged.
    """
    import statsmodels.api as sm  # local: keeps import of this module light

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.GLM(t, X, family=sm.families.Binomial()).fit(method="IRLS", tol=1e-14, maxiter=100)
            err: Exception | None = None
        except Exception as e:  # noqa: BLE001 - decided below: separation, else re-raised
            res, err = None, e
    suspect = (err is not None or caught or not res.converged
               or float(np.max(np.abs(X @ np.asarray(res.params)))) > SEPARATION_ETA)
    if suspect:
        found = _separation_direction(X, t)
        if found is not None:
            _raise_separation(found[1], t, found[0], design)
    if err is not None:
        raise err
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return res


@dataclass(frozen=True, slots=True)
class _ParametricFit:
    coef: np.ndarray
    table: pd.DataFrame
    converged: bool
    n_iter: int
    loglik: float


def _fit_parametric(X: np.ndarray, t: np.ndarray, method: str, design: Design,
                    beta0: np.ndarray | None = None, covariance: bool = True) -> _ParametricFit:
    """Logistic (statsmodels IRLS, after a separation check) or Firth fit, with a Wald coefficient table;
    ``beta0`` warm-starts the logistic fit. ``covariance=False`` (a logistic fit whose standard errors nobody
    reads, :meth:`PropensityModel.fit` with ``diagnostics=False``) leaves se, z, p and the interval NaN in the
    table instead of inverting the information matrix; the coefficients are the same."""
    if method == "logistic":
        beta, cov, converged, n_iter, loglik = _logistic_ml(X, t, design, beta0, covariance)
    else:
        beta, cov, loglik, n_iter, converged = firth_newton(X, t)
    se = np.full(beta.size, np.nan) if cov is None else np.sqrt(np.diag(cov))
    z = beta / se
    q = stats.norm.ppf(0.975)
    table = pd.DataFrame({"term": list(design.column_names), "coef": beta, "se": se, "z": z,
                          "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": beta - q * se, "ci_high": beta + q * se})
    return _ParametricFit(beta, table, converged, n_iter, loglik)


def _cross_fit(X: np.ndarray, t: np.ndarray, *, estimator: Any, n_folds: int, calibrate: bool,
               random_state: int | None) -> tuple[np.ndarray, list[Any]]:
    """Out-of-fold scores of a learner (``X`` without the intercept) and the fold models."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    if int(n_folds) < 2:
        raise ModelFitError(f"{_WHERE}: n_folds must be at least 2 for cross-fitting (got {n_folds}). Use "
                            "n_folds=5.")
    from threadpoolctl import threadpool_limits

    base = estimator if estimator is not None else HistGradientBoostingClassifier(random_state=random_state)
    folds = StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=random_state)
    scores = np.empty(len(t))
    models = []
    # Below ~50,000 rows a boosting fit is a few milliseconds of work per tree, and OpenMP threads spinning for
    # each tree cost more than they save (15x slower on a loaded 2-core machine); the replicate loops run in
    # parallel processes anyway. The fitted models do not depend on the thread count.
    with threadpool_limits(limits=_learner_threads(len(t)), user_api="openmp"):
        for train, test in folds.split(X, t):
            model = clone(base)
            if calibrate:
                model = CalibratedClassifierCV(model, method="sigmoid", cv=3)
            model.fit(X[train], t[train].astype(int))
            scores[test] = model.predict_proba(X[test])[:, 1]
            models.append(model)
    return scores, models


def _learner_threads(n: int) -> int | None:
    """OpenMP threads for a learner's fits (:func:`_cross_fit`) and predictions on ``n`` rows: 1 below 50,000
    rows, else the default (issue 17: predicting 46,000 rows with the 15 calibrated fold models took 5.0 s of
    CPU with 2 threads on a loaded 2-core machine, 0.7 s with one). Neither the models nor the predictions
    depend on the thread count. ``None`` keeps the caller's limit: a task of a replicate loop (the specification
    grid's boosting row) runs under :func:`gistcausal.engine.one_thread`, one OpenMP thread at any size."""
    return 1 if n < 50_000 else None


#: Columns of :attr:`PropensityResult.score_summary`.
_SCORE_COLUMNS = ("arm", "n", "mean", "min", "p01", "q1", "median", "q3", "p99", "max", "n_below_0.01",
                  "n_above_0.99")


def _score_summary(scores: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """One row per arm: n, mean, min, p01, q1, median, q3, p99, max and counts below 0.01 / above 0.99."""
    rows = []
    for arm, mask in (("treated", t == 1), ("control", t == 0)):
        s = scores[mask]
        # one partition for the four quantiles (each the value np.quantile(s, q) gives alone)
        p01, q1, q3, p99 = (float(v) for v in np.quantile(s, [0.01, 0.25, 0.75, 0.99]))
        rows.append({"arm": arm, "n": int(mask.sum()), "mean": float(s.mean()), "min": float(s.min()),
                     "p01": p01, "q1": q1, "median": float(np.median(s)), "q3": q3, "p99": p99,
                     "max": float(s.max()),
                     "n_below_0.01": int((s < 0.01).sum()), "n_above_0.99": int((s > 0.99).sum())})
    return pd.DataFrame(rows)


def _arm_sizes(t: np.ndarray, treatment_col: str) -> tuple[int, int]:
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    for arm, n in (("treated", n1), ("control", n0)):
        if n == 0:
            raise DataError(f"{_WHERE}: arm {arm!r} is empty (got 0 patients with {treatment_col} = "
                            f"{1 if arm == 'treated' else 0}). Check the cohort definition.")
    return n1, n0


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------
class PropensityModel:
    """Propensity-score model :math:`e(x) = P(T = 1 \\mid X = x)`.

    Parameters
    ----------
    method : {"logistic", "firth", "boosting"}, default="logistic"
        See the module docstring. Ignored (set to ``"estimator"``) when ``estimator`` is given.
    covariates : sequence of str, default=()
        Columns entered as main effects (categorical dtypes as indicators, first level reference).
    splines : mapping of str to int or dict, default=()
        Spline terms replacing a column's linear term. ``{"age": 3}`` is R's ``ns(age, df = 3)`` (interior
        knots at quantiles); a dict may give ``kind`` (``"ns"`` or ``"bs"``), ``df``, ``knots``,
        ``boundary_knots`` and ``degree`` (bs only).
    interactions : sequence of tuple of str, default=()
        Column pairs entered as products (R's ``a:b``), using each column's representation above.
    firth : bool, default=False
        Shorthand for ``method="firth"``.
    estimator : sklearn classifier, optional
        Any classifier with ``predict_proba``; it is cloned per fold and never mutated.
    n_folds : int, default=5
        Cross-fitting folds for learners.
    calibrate : bool, default=True
        Platt-calibrate each fold's learner (``CalibratedClassifierCV(method="sigmoid", cv=3)``).
    random_state : int, optional
        Seed for fold assignment and learners.

    Attributes
    ----------
    result_ : PropensityResult
    coef_ : ndarray or None
        Coefficients in the column order of :meth:`design_matrix` (logistic/firth).
    design_ : gistcausal.stats.design_matrix.Design
        The learned design (levels, knots, column labels).
    oof_scores_ : ndarray or None
        Out-of-fold scores of the training data (cross-fitted learners only).

    See Also
    --------
    gistcausal.stats.design_matrix.build_design : how the terms become design columns.
    """

    def __init__(self, *, method: str = "logistic", covariates: Sequence[str] = (),
                 splines: Mapping[str, Any] | Sequence = (), interactions: Sequence[tuple[str, str]] = (),
                 firth: bool = False, estimator: Any = None, n_folds: int = 5, calibrate: bool = True,
                 random_state: int | None = None) -> None:
        self.method = method
        self.covariates = covariates
        self.splines = splines
        self.interactions = interactions
        self.firth = firth
        self.estimator = estimator
        self.n_folds = n_folds
        self.calibrate = calibrate
        self.random_state = random_state

    def _resolved_method(self) -> str:
        if self.estimator is not None:
            return "estimator"
        if self.firth:
            return "firth"
        if self.method not in ("logistic", "firth", "boosting"):
            raise ModelFitError(f"{_WHERE}: method must be one of 'logistic', 'firth', 'boosting' (got "
                                f"{self.method!r}). Pick one of these, or pass estimator=.")
        return self.method

    def fit(self, df: pd.DataFrame, *, treatment_col: str, beta0: pd.Series | None = None,
            diagnostics: bool = True) -> "PropensityModel":
        """Validate the data and fit the model; returns ``self``.

        ``beta0`` (logistic only): coefficients indexed by design column name (``result_.coefficients`` of a
        fit of similar data, as ``.set_index("term")["coef"]``) from which the Newton iteration starts, used
        only when they name exactly the design's columns, in order (a resample that lost a level starts from
        zeros). A replicate of a data set (plasmode) starts near its own maximum, so it needs fewer steps; the
        maximum, and every result, is the same (:func:`gistcausal.stats.logistic.logistic_newton`).

        ``diagnostics=False`` fits the same model (same checks, warnings, coefficients and scores) without the
        summaries of ``result_`` that a caller reading only the scores never uses (issue 17: a plasmode
        replicate): ``c_statistic`` is NaN, ``score_summary`` has no rows, and a logistic fit's coefficient
        table has NaN ``se``/``z``/``p``/``ci_low``/``ci_high`` (the information matrix at the maximum is not
        inverted). Firth and learner fits differ only in the first two.

        Raises
        ------
        DataError
            Missing treatment/covariate values, non-binary treatment, a covariate constant overall or (for
            a continuous covariate) within an arm, an empty arm.
        ModelFitError
            An arm has no more patients than the model has parameters; a rank-deficient design.
        SeparationError
            ``method="logistic"`` on (quasi-)separated data; the message names the covariate.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{_WHERE}: df must be a pandas DataFrame (got {type(df).__name__}). Pass the "
                            "analysis table.")
        method = self._resolved_method()
        t = _treatment_vector(df, treatment_col, _WHERE)
        n1, n0 = _arm_sizes(t, treatment_col)
        design = build_design(df, covariates=self.covariates, splines=self.splines,
                              interactions=self.interactions, where=_WHERE)
        _check_covariates(df, design.columns, t)
        # _check_covariates checked the missing values; column-major for the Newton steps (Design.matrix)
        X = design.matrix(df, where=_WHERE, check_missing=False, order="F")
        _check_dimensions(X, n1, n0, design.description())
        caught: list[str] = []
        n_par = X.shape[1] - 1
        epp = min(n1, n0) / max(n_par, 1)
        if epp < EPP_THRESHOLD:
            caught.append(f"{_WHERE}: {epp:.1f} patients in the smaller arm per model parameter, below "
                          f"{EPP_THRESHOLD:g} (got {min(n1, n0)} patients, {n_par} parameters). Use fewer "
                          "covariates or the Firth model (analysis.propensity.method: firth); interpret balance "
                          "with care.")
            warnings.warn(caught[-1], SmallSampleWarning, stacklevel=2)

        self.design_ = design
        self.coef_, self.oof_scores_, self._fold_models = None, None, None
        coef_table, converged, n_iter, loglik, n_folds = None, True, 0, math.nan, 0
        if method in ("logistic", "firth"):
            start = None
            if beta0 is not None and tuple(map(str, beta0.index)) == tuple(map(str, design.column_names)):
                start = beta0.to_numpy(dtype=float)
            pf = _fit_parametric(X, t, method, design, start, covariance=diagnostics)
            coef_table, converged, n_iter, loglik = pf.table, pf.converged, pf.n_iter, pf.loglik
            if not converged:
                fix = ("Simplify the model: fewer covariates, or merge sparse levels" if method == "firth" else
                       "Simplify the model or use the Firth model (analysis.propensity.method: firth)")
                caught.append(f"{_WHERE}: {method} fit did not converge (got {n_iter} iterations). {fix}.")
                warnings.warn(caught[-1], ConvergenceWarning, stacklevel=2)
            self.coef_ = pf.coef
            scores = special.expit(X @ pf.coef)
        else:
            scores, self._fold_models = _cross_fit(X[:, 1:], t, estimator=self.estimator, n_folds=self.n_folds,
                                                   calibrate=self.calibrate, random_state=self.random_state)
            self.oof_scores_ = scores
            n_folds = int(self.n_folds)
        _numeric_check_scores(scores)
        self._train_scores = scores
        self.method_ = method
        self.result_ = PropensityResult(
            method=method, description=design.description(), n_treated=n1, n_control=n0, n_parameters=n_par,
            events_per_parameter=float(epp),
            c_statistic=c_statistic(scores, t) if diagnostics else math.nan,
            score_summary=_score_summary(scores, t) if diagnostics else pd.DataFrame(columns=_SCORE_COLUMNS),
            coefficients=coef_table, converged=converged,
            n_iter=n_iter, loglik=loglik, n_folds=n_folds, n_clipped=0, warnings=tuple(caught))
        return self

    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(f"PropensityModel.{where}: the model is not fitted (got an unfitted "
                                 "PropensityModel). Call fit(df, treatment_col=...) first.")

    def design_matrix(self, df: pd.DataFrame) -> np.ndarray:
        """The fitted model's design matrix for the rows of ``df``: intercept column first, then one column
        per entry of ``result_.coefficients.term``, so that ``expit(design_matrix(df) @ coef_)`` are the
        scores of a logistic/Firth model. Levels and spline knots are those learned by :meth:`fit`.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        DataError
            A covariate column is absent, has missing values, or holds a level not seen when fitting.
        """
        self._check_fitted("design_matrix")
        return self.design_.matrix(df, where="PropensityModel.design_matrix")

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Propensity scores for the rows of ``df`` (new data or the training data).

        For logistic/Firth models, :math:`\\operatorname{expit}(x^\\top\\hat\\beta)`. For cross-fitted
        learners, the average of the fold models' scores; the out-of-fold scores of the training data come
        from :meth:`fit_predict` (or ``oof_scores_``), which is what weighting should use.
        """
        self._check_fitted("predict")
        if self.coef_ is not None:
            # column-major as in fit, so the training rows' scores are fit's own to the last bit
            X = self.design_.matrix(df, where="PropensityModel.predict", order="F")
            return special.expit(X @ self.coef_)
        X = self.design_.matrix(df, where="PropensityModel.predict")
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=_learner_threads(X.shape[0]), user_api="openmp"):
            return np.mean([m.predict_proba(X[:, 1:])[:, 1] for m in self._fold_models], axis=0)

    def training_scores(self) -> np.ndarray:
        """The scores of the training rows computed by :meth:`fit` (a copy): for logistic/Firth models
        :math:`\\operatorname{expit}(x_i^\\top\\hat\\beta)`, equal to ``predict`` of the training data without
        building its design matrix again; for cross-fitted learners the out-of-fold scores (``oof_scores_``).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        self._check_fitted("training_scores")
        return self._train_scores.copy()

    def fit_predict(self, df: pd.DataFrame, *, treatment_col: str) -> np.ndarray:
        """Fit and return the training scores (out-of-fold for cross-fitted learners)."""
        self.fit(df, treatment_col=treatment_col)
        return self._train_scores.copy()


__all__ = ["PropensityModel", "PropensityResult", "ns_basis", "c_statistic", "EPP_THRESHOLD", "METHODS"]
