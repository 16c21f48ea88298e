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

Formula terms
-------------
``covariates`` are entered linearly; columns of dtype object, category or bool are expanded into
indicator columns with ``C()`` (the first category, in pandas category order or sorted order for strings,
is the reference, as in R's ``factor``). ``splines`` maps a continuous column to a natural cubic spline
(:func:`ns`, identical to R's ``splines::ns``) or a B-spline (patsy ``bs``, identical to R's
``splines::bs``). ``interactions`` lists column pairs entered as products. A patsy ``formula`` (right-hand
side only) overrides all three.

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

import keyword
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import patsy
from scipy import linalg, optimize, special, stats
from scipy.interpolate import BSpline

from gistcausal.effects import json_safe
from gistcausal.errors import (
    ConvergenceWarning,
    DataError,
    ModelFitError,
    NotFittedError,
    SeparationError,
    SmallSampleWarning,
)

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
# Natural cubic splines identical to R's splines::ns
# --------------------------------------------------------------------------------------------------
def _bspline_design(x: np.ndarray, knots: np.ndarray, deriv: int = 0) -> np.ndarray:
    """Cubic B-spline basis (or its ``deriv``-th derivative) at ``x`` for the full knot vector ``knots``."""
    n_basis = len(knots) - 4
    out = np.empty((len(x), n_basis))
    for j in range(n_basis):
        coef = np.zeros(n_basis)
        coef[j] = 1.0
        spl = BSpline(knots, coef, 3, extrapolate=True)
        out[:, j] = spl.derivative(deriv)(x) if deriv else spl(x)
    return out


def ns_basis(x: np.ndarray, *, knots: Sequence[float], boundary_knots: Sequence[float]) -> np.ndarray:
    """Natural cubic spline basis without intercept, column for column equal to R's ``splines::ns``.

    Parameters
    ----------
    x : ndarray
        Values at which to evaluate the basis.
    knots : sequence of float
        Interior knots.
    boundary_knots : sequence of float
        The two boundary knots; beyond them the basis is extended linearly, as in R.

    Returns
    -------
    ndarray of shape (len(x), len(knots) + 1)

    Notes
    -----
    As in R: the cubic B-spline basis on the knot vector with the boundary knots repeated four times is
    projected onto the null space of its second derivatives at the two boundary knots. The projection is
    :math:`Q^\\top` from the Householder QR decomposition of the transposed constraint matrix (LAPACK and
    LINPACK choose the same reflections), dropping the first basis function (``intercept = FALSE``) and the
    first two rotated columns.
    """
    x = np.asarray(x, dtype=float)
    lo, hi = float(boundary_knots[0]), float(boundary_knots[1])
    aknots = np.sort(np.r_[[lo] * 4, np.asarray(knots, dtype=float), [hi] * 4])
    const = _bspline_design(np.array([lo, hi]), aknots, deriv=2)[:, 1:]
    q, _ = np.linalg.qr(const.T, mode="complete")
    inside = (x >= lo) & (x <= hi)
    basis = np.empty((len(x), aknots.size - 5))
    if inside.any():
        basis[inside] = _bspline_design(x[inside], aknots)[:, 1:]
    for side, mask in ((lo, x < lo), (hi, x > hi)):
        if mask.any():  # linear extrapolation beyond the boundary knots, as R's ns
            b0 = _bspline_design(np.array([side]), aknots)[:, 1:]
            b1 = _bspline_design(np.array([side]), aknots, deriv=1)[:, 1:]
            basis[mask] = b0 + (x[mask] - side)[:, None] * b1
    return (basis @ q)[:, 2:]


class _NaturalSpline:
    """patsy stateful transform ``ns(x, df=None, knots=None, boundary_knots=None)`` (R's ``ns``)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._knots: np.ndarray | None = None
        self._bounds: tuple[float, float] | None = None

    def memorize_chunk(self, x, df=None, knots=None, boundary_knots=None):  # noqa: D102
        self._chunks.append(np.asarray(x, dtype=float))

    def memorize_finish(self, *args, **kwargs):  # noqa: D102
        pass

    def _setup(self, df, knots, boundary_knots):
        x = np.concatenate(self._chunks)
        bounds = (float(np.min(x)), float(np.max(x))) if boundary_knots is None else tuple(boundary_knots)
        if knots is None:
            if df is None:
                raise ModelFitError("ns(): give df or knots (got neither). Write e.g. ns(age, df=3).")
            n_int = int(df) - 1
            inside = x[(x >= bounds[0]) & (x <= bounds[1])]
            # R: quantile(x, seq(0, 1, length = nIknots + 2)[-c(1, nIknots + 2)]), type 7 == numpy linear
            probs = np.linspace(0.0, 1.0, n_int + 2)[1:-1]
            knots = np.quantile(inside, probs) if n_int > 0 else np.array([])
        self._knots = np.asarray(knots, dtype=float)
        self._bounds = (float(bounds[0]), float(bounds[1]))

    def transform(self, x, df=None, knots=None, boundary_knots=None):  # noqa: D102
        if self._knots is None:
            self._setup(df, knots, boundary_knots)
        return ns_basis(np.asarray(x, dtype=float), knots=self._knots, boundary_knots=self._bounds)


ns = patsy.stateful_transform(_NaturalSpline)


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
    formula : str
        The patsy right-hand side used for the design matrix.
    n_treated, n_control : int
        Patients per arm.
    n_parameters : int
        Non-intercept columns of the design matrix.
    events_per_parameter : float
        ``min(n_treated, n_control) / n_parameters``.
    c_statistic : float
        Area under the ROC curve of the scores (out-of-fold scores for cross-fitted learners).
    score_summary : DataFrame
        One row per arm: n, mean, min, p01, q1, median, q3, p99, max of the scores, and counts below 0.01
        and above 0.99.
    coefficients : DataFrame or None
        term, coef, se, z, p, ci_low, ci_high (Wald, 95%) for ``logistic``/``firth``; ``None`` otherwise.
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
    formula: str
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
            "method": self.method, "formula": self.formula, "n_treated": self.n_treated,
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
        lines = [f"Propensity model: {self.method}; treatment ~ {self.formula}",
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


def _quote(col: str) -> str:
    """Column name as a patsy expression (Q() for names that are not identifiers)."""
    if col.isidentifier() and not keyword.iskeyword(col):
        return col
    return f'Q("{col}")'


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_bool_dtype(s) \
        or pd.api.types.is_string_dtype(s)


def _treatment_vector(df: pd.DataFrame, treatment_col: str, where: str) -> np.ndarray:
    """0/1 float vector from a 0/1 or boolean treatment column, with messages for everything else."""
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got columns "
                        f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
    s = df[treatment_col]
    n_missing = int(s.isna().sum())
    if n_missing:
        raise DataError(f"{where}: column {treatment_col!r} has {n_missing} missing values (got {n_missing} "
                        "of {len(s)}). Drop or resolve these patients before fitting.".replace(
                            "{len(s)}", str(len(s))))
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
        return float(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * logdet)

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
        factor = 1.0
        while True:
            candidate = beta + factor * step
            value = pen_loglik(candidate)
            if value >= current - 1e-12 or factor < 1e-8:
                break
            factor /= 2
        beta, current = candidate, value
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
# Model
# --------------------------------------------------------------------------------------------------
class PropensityModel:
    """Propensity-score model :math:`e(x) = P(T = 1 \\mid X = x)`.

    Parameters
    ----------
    method : {"logistic", "firth", "boosting"}, default="logistic"
        See the module docstring. Ignored (set to ``"estimator"``) when ``estimator`` is given.
    formula : str, optional
        patsy right-hand side, e.g. ``"age + C(meno) + ns(age, df=3) + bs(nodes, knots=(2, 5))"``;
        overrides ``covariates``, ``splines`` and ``interactions``.
    covariates : sequence of str, default=()
        Columns entered as main effects (categorical dtypes as indicators, first level reference).
    splines : mapping of str to int or dict, default=()
        Spline terms replacing a column's linear term. ``{"age": 3}`` is ``ns(age, df=3)`` (interior knots
        at quantiles, as R); a dict may give ``kind`` (``"ns"`` or ``"bs"``), ``df``, ``knots``,
        ``boundary_knots`` and ``degree`` (bs only).
    interactions : sequence of tuple of str, default=()
        Column pairs entered as products (``a:b``), using each column's representation above.
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
        Coefficients in design-column order (logistic/firth).
    design_info_ : patsy.DesignInfo
    oof_scores_ : ndarray or None
        Out-of-fold scores of the training data (cross-fitted learners only).
    """

    def __init__(self, *, method: str = "logistic", formula: str | None = None, covariates: Sequence[str] = (),
                 splines: Mapping[str, Any] | Sequence = (), interactions: Sequence[tuple[str, str]] = (),
                 firth: bool = False, estimator: Any = None, n_folds: int = 5, calibrate: bool = True,
                 random_state: int | None = None) -> None:
        self.method = method
        self.formula = formula
        self.covariates = covariates
        self.splines = splines
        self.interactions = interactions
        self.firth = firth
        self.estimator = estimator
        self.n_folds = n_folds
        self.calibrate = calibrate
        self.random_state = random_state

    # ---------------------------------------------------------------- formula
    def _resolved_method(self) -> str:
        if self.estimator is not None:
            return "estimator"
        if self.firth:
            return "firth"
        if self.method not in ("logistic", "firth", "boosting"):
            raise ModelFitError(f"{_WHERE}: method must be one of 'logistic', 'firth', 'boosting' (got "
                                f"{self.method!r}). Pick one of these, or pass estimator=.")
        return self.method

    def _spline_term(self, col: str, spec: Any) -> str:
        if isinstance(spec, (int, np.integer)):
            spec = {"df": int(spec)}
        if not isinstance(spec, Mapping):
            raise ModelFitError(f"{_WHERE}: splines[{col!r}] must be an int (df) or a dict (got "
                                f"{type(spec).__name__}). Write e.g. splines={{'{col}': 3}}.")
        kind = spec.get("kind", "ns")
        unknown = set(spec) - {"kind", "df", "knots", "boundary_knots", "degree"}
        if kind not in ("ns", "bs") or unknown:
            raise ModelFitError(f"{_WHERE}: splines[{col!r}] allows kind 'ns' or 'bs' and keys kind, df, knots, "
                                f"boundary_knots, degree (got kind={kind!r}, extra keys {sorted(unknown)}). "
                                "Fix the spline specification.")
        args = []
        if spec.get("df") is not None:
            args.append(f"df={int(spec['df'])}")
        if spec.get("knots") is not None:
            args.append(f"knots={tuple(float(k) for k in spec['knots'])!r}")
        if kind == "ns":
            if spec.get("boundary_knots") is not None:
                args.append(f"boundary_knots={tuple(float(k) for k in spec['boundary_knots'])!r}")
        else:
            args.append(f"degree={int(spec.get('degree', 3))}")
            if spec.get("boundary_knots") is not None:
                lo, hi = spec["boundary_knots"]
                args.append(f"lower_bound={float(lo)!r}, upper_bound={float(hi)!r}")
        return f"{kind}({_quote(col)}, {', '.join(args)})"

    def _build_formula(self, df: pd.DataFrame) -> tuple[str, dict[str, str]]:
        """(patsy rhs, map from factor code to data column) for the configured terms."""
        splines = dict(self.splines) if isinstance(self.splines, Mapping) else {c: 3 for c in self.splines}
        if self.formula is not None:
            rhs = self.formula.split("~", 1)[-1].strip()
            return rhs, {}
        cols = list(dict.fromkeys(list(self.covariates) + list(splines)))
        for pair in self.interactions:
            cols += [c for c in pair if c not in cols]
        if not cols:
            raise ModelFitError(f"{_WHERE}: no covariates given (got covariates=(), formula=None). Pass "
                                "covariates=[...] or formula='...'.")
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataError(f"{_WHERE}: covariate columns {missing} are not in the data (got columns "
                            f"{list(df.columns)[:10]}). Fix the covariate names.")
        expr: dict[str, str] = {}
        for c in cols:
            if c in splines:
                expr[c] = self._spline_term(c, splines[c])
            elif _is_categorical(df[c]):
                expr[c] = f"C({_quote(c)})"
            else:
                expr[c] = _quote(c)
        terms = [expr[c] for c in list(dict.fromkeys(list(self.covariates) + list(splines)))]
        terms += [":".join(expr[c] for c in pair) for pair in self.interactions]
        return " + ".join(terms), {v: k for k, v in expr.items()}

    # ---------------------------------------------------------------- checks
    def _check_covariates(self, df: pd.DataFrame, cols: list[str], t: np.ndarray) -> None:
        for c in cols:
            n_missing = int(df[c].isna().sum())
            if n_missing:
                raise DataError(f"{_WHERE}: covariate {c!r} has {n_missing} missing values (got {n_missing} of "
                                f"{len(df)}). Impute them (gistcausal.stats.impute.impute_chained) or map them to a "
                                "'not reported' level.")
            if df[c].nunique() < 2:
                raise DataError(f"{_WHERE}: covariate {c!r} is constant (got 1 distinct value). Drop it from "
                                "the propensity model.")
            if not _is_categorical(df[c]) and df[c].nunique() > 2:  # binary: separation check below
                for arm, mask in (("treated", t == 1), ("control", t == 0)):
                    if df.loc[mask, c].nunique() < 2:
                        raise DataError(f"{_WHERE}: covariate {c!r} is constant within arm {arm!r} (got 1 "
                                        f"distinct value in {int(mask.sum())} patients). Drop or recode {c!r}; "
                                        "the arms cannot be compared on it.")

    def _factor_columns(self, df: pd.DataFrame, code_map: dict[str, str]) -> list[list[str]]:
        """Data columns behind each design column (for naming covariates in messages)."""
        names = sorted(df.columns, key=len, reverse=True)
        slices = self.design_info_.term_name_slices
        col_terms = [None] * len(self.design_info_.column_names)
        for term in self.design_info_.terms:
            sl = slices[term.name()]
            cols = []
            for factor in term.factors:
                code = factor.code
                if code in code_map:
                    cols.append(code_map[code])
                else:
                    cols += [n for n in names if re.search(rf"(?<![\w.]){re.escape(str(n))}(?![\w.])", code)][:1]
            for j in range(sl.start, sl.stop):
                col_terms[j] = cols
        out = [c or [] for c in col_terms]
        return out

    def _raise_separation(self, X: np.ndarray, y: np.ndarray, direction: np.ndarray, cols_of: list[list[str]],
                          names: list[str]) -> None:
        idx = [j for j in np.argsort(-np.abs(direction)) if abs(direction[j]) > 1e-6 and names[j] != "Intercept"]
        covs: list[str] = []
        levels: list[str] = []
        for j in idx:
            for c in cols_of[j]:
                if c not in covs:
                    covs.append(c)
            m = re.search(r"\[T\.(.*)\]$", names[j])
            if m:
                levels.append(m.group(1))
        margin = (2 * y - 1) * (X @ direction)
        n_sep = int(np.sum(margin > 1e-7))
        what = f"covariate {covs[0]!r}" if len(covs) == 1 else f"covariates {covs}"
        lvl = f" (level {levels[0]!r})" if len(levels) == 1 and len(covs) == 1 else ""
        raise SeparationError(f"{_WHERE}: {what}{lvl} separates the treatment arms (got (quasi-)complete "
                              f"separation: the arm of {n_sep} of {len(y)} patients is perfectly predicted). Use method='firth' or "
                              f"drop/merge levels of {', '.join(repr(c) for c in covs)}.")

    # ---------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame, *, treatment_col: str) -> "PropensityModel":
        """Validate the data and fit the model; returns ``self``.

        Raises
        ------
        DataError
            Missing treatment/covariate values, non-binary treatment, a covariate constant overall or (for
            a continuous covariate) within an arm, an empty arm.
        ModelFitError
            An arm has no more patients than the model has parameters.
        SeparationError
            ``method="logistic"`` on (quasi-)separated data; the message names the covariate.
        """
        from sklearn.base import clone  # local: keeps import of this module light

        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{_WHERE}: df must be a pandas DataFrame (got {type(df).__name__}). Pass the "
                            "analysis table.")
        method = self._resolved_method()
        t = _treatment_vector(df, treatment_col, _WHERE)
        n1, n0 = int(t.sum()), int(len(t) - t.sum())
        for arm, n in (("treated", n1), ("control", n0)):
            if n == 0:
                raise DataError(f"{_WHERE}: arm {arm!r} is empty (got 0 patients with {treatment_col} = "
                                f"{1 if arm == 'treated' else 0}). Check the cohort definition.")
        rhs, code_map = self._build_formula(df)
        if code_map:
            self._check_covariates(df, list(dict.fromkeys(code_map.values())), t)
        env = patsy.EvalEnvironment([{"ns": ns}])
        try:
            X = patsy.dmatrix(rhs, df, eval_env=env, NA_action="raise", return_type="matrix")
        except patsy.PatsyError as err:
            raise ModelFitError(f"{_WHERE}: the formula could not be built (got {rhs!r}: {err}). Fix the "
                                "formula or covariate names.") from err
        self.design_info_ = X.design_info
        self.formula_ = rhs
        X = np.asarray(X, dtype=float)
        names = list(self.design_info_.column_names)
        has_intercept = "Intercept" in names
        n_par = X.shape[1] - int(has_intercept)
        for arm, n in (("treated", n1), ("control", n0)):
            if n <= n_par:
                raise ModelFitError(f"{_WHERE}: arm {arm!r} has {n} patients, not more than the {n_par} model "
                                    f"parameters (got formula {rhs!r}). Use fewer covariates or merge levels.")
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise ModelFitError(f"{_WHERE}: the design matrix is rank deficient (got rank "
                                f"{np.linalg.matrix_rank(X)} for {X.shape[1]} columns). Remove collinear "
                                "covariates or empty levels.")
        caught: list[str] = []
        epp = min(n1, n0) / max(n_par, 1)
        if epp < EPP_THRESHOLD:
            msg = (f"{_WHERE}: {epp:.1f} patients in the smaller arm per model parameter, below "
                   f"{EPP_THRESHOLD:g} (got {min(n1, n0)} patients, {n_par} parameters). Use fewer covariates "
                   "or method='firth'; interpret balance with care.")
            warnings.warn(msg, SmallSampleWarning, stacklevel=2)
            caught.append(msg)

        self.coef_ = None
        self.oof_scores_ = None
        self._fold_models = None
        coef_table = None
        converged, n_iter, loglik, n_folds = True, 0, math.nan, 0
        if method in ("logistic", "firth"):
            if method == "logistic":
                found = _separation_direction(X, t)
                if found is not None:
                    self._raise_separation(found[1], t, found[0], self._factor_columns(df, code_map), names)
                import statsmodels.api as sm
                res = sm.GLM(t, X, family=sm.families.Binomial()).fit(method="IRLS", tol=1e-14, maxiter=100)
                beta, cov = np.asarray(res.params), np.asarray(res.cov_params())
                converged = bool(res.converged)
                n_iter = int(res.fit_history["iteration"])
                loglik = float(res.llf)
            else:
                beta, cov, loglik, n_iter, converged = firth_newton(X, t)
            if not converged:
                msg = (f"{_WHERE}: {method} fit did not converge (got {n_iter} iterations). Simplify the model "
                       "or use method='firth'.")
                warnings.warn(msg, ConvergenceWarning, stacklevel=2)
                caught.append(msg)
            self.coef_ = beta
            se = np.sqrt(np.diag(cov))
            z = beta / se
            q = stats.norm.ppf(0.975)
            coef_table = pd.DataFrame({"term": names, "coef": beta, "se": se, "z": z,
                                       "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": beta - q * se,
                                       "ci_high": beta + q * se})
            scores = special.expit(X @ beta)
        else:
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.ensemble import HistGradientBoostingClassifier
            from sklearn.model_selection import StratifiedKFold

            if int(self.n_folds) < 2:
                raise ModelFitError(f"{_WHERE}: n_folds must be at least 2 for cross-fitting (got "
                                    f"{self.n_folds}). Use n_folds=5.")
            base = self.estimator if self.estimator is not None else HistGradientBoostingClassifier(
                random_state=self.random_state)
            Xl = X[:, [j for j, n in enumerate(names) if n != "Intercept"]]
            folds = StratifiedKFold(n_splits=int(self.n_folds), shuffle=True, random_state=self.random_state)
            scores = np.empty(len(t))
            models = []
            for train, test in folds.split(Xl, t):
                model = clone(base)
                if self.calibrate:
                    model = CalibratedClassifierCV(model, method="sigmoid", cv=3)
                model.fit(Xl[train], t[train].astype(int))
                scores[test] = model.predict_proba(Xl[test])[:, 1]
                models.append(model)
            self._fold_models = models
            self.oof_scores_ = scores
            n_folds = int(self.n_folds)
        _numeric_check_scores(scores)
        self._train_scores = scores
        summary = []
        for arm, mask in (("treated", t == 1), ("control", t == 0)):
            s = scores[mask]
            summary.append({"arm": arm, "n": int(mask.sum()), "mean": float(s.mean()), "min": float(s.min()),
                            "p01": float(np.quantile(s, 0.01)), "q1": float(np.quantile(s, 0.25)),
                            "median": float(np.median(s)), "q3": float(np.quantile(s, 0.75)),
                            "p99": float(np.quantile(s, 0.99)), "max": float(s.max()),
                            "n_below_0.01": int((s < 0.01).sum()), "n_above_0.99": int((s > 0.99).sum())})
        self.method_ = method
        self.result_ = PropensityResult(
            method=method, formula=rhs, n_treated=n1, n_control=n0, n_parameters=n_par,
            events_per_parameter=float(epp), c_statistic=c_statistic(scores, t),
            score_summary=pd.DataFrame(summary), coefficients=coef_table, converged=converged, n_iter=n_iter,
            loglik=loglik, n_folds=n_folds, n_clipped=0, warnings=tuple(caught))
        return self

    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(f"PropensityModel.{where}: the model is not fitted (got an unfitted "
                                 "PropensityModel). Call fit(df, treatment_col=...) first.")

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Propensity scores for the rows of ``df`` (new data or the training data).

        For logistic/Firth models, :math:`\\operatorname{expit}(x^\\top\\hat\\beta)`. For cross-fitted
        learners, the average of the fold models' scores; the out-of-fold scores of the training data come
        from :meth:`fit_predict` (or ``oof_scores_``), which is what weighting should use.
        """
        self._check_fitted("predict")
        X = np.asarray(patsy.build_design_matrices([self.design_info_], df, NA_action="raise")[0], dtype=float)
        if self.coef_ is not None:
            return special.expit(X @ self.coef_)
        keep = [j for j, n in enumerate(self.design_info_.column_names) if n != "Intercept"]
        return np.mean([m.predict_proba(X[:, keep])[:, 1] for m in self._fold_models], axis=0)

    def fit_predict(self, df: pd.DataFrame, *, treatment_col: str) -> np.ndarray:
        """Fit and return the training scores (out-of-fold for cross-fitted learners)."""
        self.fit(df, treatment_col=treatment_col)
        return self._train_scores.copy()


__all__ = ["PropensityModel", "PropensityResult", "ns", "ns_basis", "c_statistic", "EPP_THRESHOLD", "METHODS"]
