r"""Model design matrices built from data columns directly: no formula text is ever written or evaluated.

A column name is only ever used to look a column up (``df[name]``) and to label output, so any name —
with quotes, backslashes, newlines, ``__import__``, ``C(x)``, a Python keyword — is just a name. (Building
formula text such as ``Q("...")`` from user names and handing it to an evaluator lets a column name run
code; that is what this module replaces.)

Each data column becomes a *factor* whose representation is learned from the training data once and
then applied to any data (:meth:`Design.matrix`):

``numeric``
    The column as it is.
``categorical`` (object, string, category or bool dtype)
    Indicator columns. The levels are the pandas category order for a ``Categorical`` (so a configured
    level order is respected) and the sorted distinct values otherwise (``False < True`` for bool), the
    first level being the reference, as R's ``factor`` with ``contr.treatment``.
``ns``
    Natural cubic spline, column for column equal to R's ``splines::ns(x, df, knots, Boundary.knots)``.
``bs``
    B-spline of any degree, column for column equal to R's ``splines::bs(x, df, knots, degree,
    Boundary.knots)`` (``intercept = FALSE``), including R's polynomial extension beyond the boundary knots.

Terms are main effects (one factor) and interactions (several factors), the columns of an interaction being
the products of its factors' columns with the first factor varying fastest, as in R. A categorical factor in
a term is coded by contrasts (reference level dropped) when the term without it is also in the model (the
intercept counts as the empty term), and by all its levels otherwise: R's rule for ``model.matrix``
(Chambers & Hastie 1992, section 2.4.1), which gives a full-rank design for every hierarchical model.

References
----------
Chambers JM, Hastie TJ (1992). Statistical Models in S. Wadsworth & Brooks/Cole, chapter 2.
de Boor C (1978). A Practical Guide to Splines. Springer.
R Core Team. splines::ns and splines::bs (R >= 4.0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.interpolate import BSpline

from gistcausal.errors import DataError, ModelFitError

#: Label of the intercept column.
INTERCEPT = "Intercept"
#: Keys a spline specification may hold.
SPLINE_KEYS = ("kind", "df", "knots", "boundary_knots", "degree")


# --------------------------------------------------------------------------------------------------
# Spline bases identical to R's splines::ns and splines::bs
# --------------------------------------------------------------------------------------------------
def _bspline_design(x: np.ndarray, knots: np.ndarray, *, degree: int = 3, deriv: int = 0) -> np.ndarray:
    """B-spline basis of ``degree`` (or its ``deriv``-th derivative) at ``x`` for the full knot vector.

    Beyond the outer knots each basis function continues as the polynomial of its outermost piece, which is
    R's extension for ``bs`` (a Taylor expansion of order ``degree`` at the boundary knot).
    """
    n_basis = len(knots) - degree - 1
    out = np.empty((len(x), n_basis))
    for j in range(n_basis):
        coef = np.zeros(n_basis)
        coef[j] = 1.0
        spl = BSpline(knots, coef, degree, extrapolate=True)
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


def bs_basis(x: np.ndarray, *, knots: Sequence[float], boundary_knots: Sequence[float],
             degree: int = 3) -> np.ndarray:
    """B-spline basis without intercept, column for column equal to R's ``splines::bs``.

    Parameters
    ----------
    x : ndarray
        Values at which to evaluate the basis.
    knots : sequence of float
        Interior knots.
    boundary_knots : sequence of float
        The two boundary knots; beyond them each basis function continues as its boundary polynomial
        (R's Taylor expansion of order ``degree``).
    degree : int, default=3
        Polynomial degree.

    Returns
    -------
    ndarray of shape (len(x), len(knots) + degree)

    Notes
    -----
    R: ``splineDesign(sort(c(rep(Boundary.knots, degree + 1), knots)), x, degree + 1)[, -1]``.
    """
    x = np.asarray(x, dtype=float)
    lo, hi = float(boundary_knots[0]), float(boundary_knots[1])
    aknots = np.sort(np.r_[[lo] * (degree + 1), np.asarray(knots, dtype=float), [hi] * (degree + 1)])
    return _bspline_design(x, aknots, degree=degree)[:, 1:]


def _quantile_knots(x: np.ndarray, n_interior: int, bounds: tuple[float, float]) -> np.ndarray:
    """R: ``quantile(x[inside], seq(0, 1, length = n + 2)[-c(1, n + 2)])`` (type 7, numpy's linear)."""
    if n_interior <= 0:
        return np.array([])
    inside = x[(x >= bounds[0]) & (x <= bounds[1])]
    return np.quantile(inside, np.linspace(0.0, 1.0, n_interior + 2)[1:-1])


# --------------------------------------------------------------------------------------------------
# Factors: one data column and its learned representation
# --------------------------------------------------------------------------------------------------
def is_categorical(s: pd.Series) -> bool:
    """Whether a column is entered as indicators (category, object, string or bool dtype)."""
    return (isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_string_dtype(s))


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):g}" for v in values) + "]"


@dataclass(frozen=True, slots=True)
class Factor:
    """One data column and how it enters the design.

    Attributes
    ----------
    column : str
        The data column (looked up by name, never parsed).
    kind : {"numeric", "categorical", "ns", "bs", "log"}
        ``"log"``: the natural logarithm of a positive numeric column, one design column.
    levels : tuple
        All levels of a categorical column, the reference first; empty otherwise.
    knots, boundary_knots : tuple of float
        Interior and boundary knots of a spline; empty otherwise.
    degree : int
        Spline degree (3 for ``ns``).
    label : str
        Display label, e.g. ``"age"`` or ``"ns(age, df=3)"``.
    """

    column: Any
    kind: str
    levels: tuple = ()
    knots: tuple[float, ...] = ()
    boundary_knots: tuple[float, ...] = ()
    degree: int = 3
    label: str = ""

    def column_labels(self, *, reduced: bool) -> list[str]:
        """Labels of this factor's design columns (categorical: one per level, reference dropped if reduced)."""
        if self.kind in ("numeric", "log"):
            return [self.label]
        if self.kind == "categorical":
            levels = self.levels[1:] if reduced else self.levels
            return [f"{self.label}[{lvl}]" for lvl in levels]
        n = len(self.knots) + (1 if self.kind == "ns" else self.degree)
        return [f"{self.label}[{j}]" for j in range(1, n + 1)]

    def column_levels(self, *, reduced: bool) -> list[str | None]:
        """The categorical level behind each design column (None for numeric and spline columns)."""
        if self.kind != "categorical":
            return [None] * len(self.column_labels(reduced=reduced))
        return [str(lvl) for lvl in (self.levels[1:] if reduced else self.levels)]

    def evaluate(self, s: pd.Series, *, reduced: bool, where: str, check_missing: bool = True) -> np.ndarray:
        """The factor's design columns for the values ``s`` (training or new data).

        ``check_missing=False`` skips the missing-value check, for callers that have checked the column
        already (:meth:`gistcausal.stats.propensity.PropensityModel.fit`); a missing value then surfaces as an
        unseen level or a non-finite number instead of the missing-value message.
        """
        if check_missing:
            _check_missing(s, self.column, where)
        if self.kind == "categorical":
            codes = self.level_codes(s, where=where)
            out = (codes[:, None] == np.arange(len(self.levels))[None, :]).astype(float)
            return out[:, 1:] if reduced else out
        x = _numeric_values(s, self.column, where)
        if self.kind == "numeric":
            return x[:, None]
        if self.kind == "log":
            if np.any(x <= 0):
                raise DataError(f"{where}: covariate {self.column!r} enters on the log scale but has "
                                f"{int(np.sum(x <= 0))} values <= 0 (got minimum {float(np.min(x)):g}). Remove "
                                f"`transform: log` from covariates.{self.column}, or shift the variable.")
            return np.log(x)[:, None]
        if self.kind == "ns":
            return ns_basis(x, knots=self.knots, boundary_knots=self.boundary_knots)
        return bs_basis(x, knots=self.knots, boundary_knots=self.boundary_knots, degree=self.degree)


    def level_codes(self, s: pd.Series, *, where: str) -> np.ndarray:
        """The position of each value of ``s`` in :attr:`levels` (a categorical factor); DataError for a value
        outside them. The indicator of level ``k`` is ``codes == k``."""
        # a categorical column is recoded from its own codes (the same codes as matching its values one by
        # one, without materialising them: 20x faster)
        if isinstance(s.dtype, pd.CategoricalDtype) and tuple(s.cat.categories) == tuple(self.levels):
            codes = s.cat.codes.to_numpy()    # already coded by the levels (issue 17: no recoding pass)
        else:
            values = s if isinstance(s.dtype, pd.CategoricalDtype) else s.to_numpy(dtype=object)
            codes = pd.Categorical(values, categories=list(self.levels)).codes
        unknown = codes < 0
        if unknown.any():
            raise DataError(f"{where}: covariate {self.column!r} has {int(unknown.sum())} values outside the "
                            f"levels seen when fitting (got levels other than {[str(v) for v in self.levels]}). "
                            f"Map them to one of these levels or refit on data that has them.")
        return codes


def _check_missing(s: pd.Series, column: Any, where: str) -> None:
    n_missing = int(s.isna().sum())
    if n_missing:
        raise DataError(f"{where}: covariate {column!r} has {n_missing} missing values (got {n_missing} of "
                        f"{len(s)}). Impute them (gistcausal.stats.impute.impute_chained) or map them to a "
                        "'not reported' level.")


def _numeric_values(s: pd.Series, column: Any, where: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise DataError(f"{where}: covariate {column!r} must be numeric, boolean, text or categorical (got dtype "
                        f"{s.dtype}). Convert it to a number or a category before fitting.")
    x = s.to_numpy(dtype=float)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{where}: covariate {column!r} has {int((~np.isfinite(x)).sum())} infinite values (got "
                        "non-finite numbers). Correct or remove those records.")
    return x


def _sorted_levels(s: pd.Series) -> tuple:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return tuple(s.cat.categories)  # the configured order, as R's factor(levels = ...)
    values = pd.unique(s)   # the distinct values, then the missing one dropped: s.dropna() costs a pass per row
    values = values[~pd.isna(values)]
    try:
        return tuple(sorted(values))
    except TypeError:  # mixed types: a stable order by type name, then text
        return tuple(sorted(values, key=lambda v: (type(v).__name__, str(v))))


def _spline_factor(column: Any, spec: Any, x: np.ndarray, where: str) -> Factor:
    """Learn knots from the training values, as R's ns()/bs() do on the data they are first given."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        spec = {"df": int(spec)}
    if not isinstance(spec, Mapping):
        raise ModelFitError(f"{where}: splines[{column!r}] must be an int (df) or a dict (got "
                            f"{type(spec).__name__}). Write e.g. splines={{{column!r}: 3}}.")
    kind = spec.get("kind", "ns")
    unknown = sorted(set(spec) - set(SPLINE_KEYS))
    if kind == "log" and not unknown and set(spec) == {"kind"}:
        # log scale (issue 20: the generator's and the usual scale of sizes and durations); one column, as
        # R's log(x) in a formula
        factor = Factor(column=column, kind="log", label=f"log({column})")
        factor.evaluate(pd.Series(x), reduced=True, where=where)   # refuses values <= 0 at fit time
        return factor
    if kind not in ("ns", "bs") or unknown:
        raise ModelFitError(f"{where}: splines[{column!r}] allows kind 'ns' or 'bs' and keys "
                            f"{', '.join(SPLINE_KEYS)}, or kind 'log' alone (got kind={kind!r}, extra keys "
                            f"{unknown}). Fix the spline specification.")
    degree = int(3 if spec.get("degree") is None else spec["degree"])
    if kind == "ns" and degree != 3:
        raise ModelFitError(f"{where}: splines[{column!r}] of kind 'ns' is cubic (got degree={degree}). Drop "
                            "degree, or use kind 'bs'.")
    if degree < 1:
        raise ModelFitError(f"{where}: splines[{column!r}] needs degree >= 1 (got {degree}). Use degree 3.")
    bk = spec.get("boundary_knots")
    bounds = (float(np.min(x)), float(np.max(x))) if bk is None else (float(bk[0]), float(bk[1]))
    df, knots = spec.get("df"), spec.get("knots")
    if knots is None:
        if df is None:
            raise ModelFitError(f"{where}: splines[{column!r}] needs df or knots (got neither). Write e.g. "
                                f"splines={{{column!r}: {{'kind': {kind!r}, 'df': 3}}}}.")
        n_interior = int(df) - (1 if kind == "ns" else degree)  # R: intercept = FALSE
        if n_interior < 0:
            raise ModelFitError(f"{where}: splines[{column!r}] needs df >= {1 if kind == 'ns' else degree} for "
                                f"kind {kind!r} (got df={int(df)}). Raise df.")
        knots = _quantile_knots(x, n_interior, bounds)
        shown = f"df={int(df)}"
    else:
        shown = f"knots={_fmt(knots)}"
    _check_knots(column, knots, bounds, shown, where)
    if bk is not None:
        shown += f", boundary_knots={_fmt(bounds)}"
    if kind == "bs":
        shown += f", degree={degree}"
    return Factor(column=column, kind=kind, knots=tuple(float(k) for k in knots), boundary_knots=bounds,
                  degree=degree, label=f"{kind}({column}, {shown})")


def _check_knots(column: Any, knots: Any, bounds: tuple[float, float], shown: str, where: str) -> None:
    """Interior knots must be distinct and strictly inside the boundary knots: a repeated knot (many tied
    values, e.g. a count that is mostly 0) makes the basis rank-deficient (R returns NA coefficients)."""
    k = np.asarray(knots, dtype=float)
    lo, hi = bounds
    if k.size and (np.any(np.diff(np.sort(k)) <= 0) or k.min() <= lo or k.max() >= hi):
        inside = sorted({float(v) for v in k if lo < v < hi})
        fix = (f"give distinct knots inside it, e.g. splines={{{column!r}: {{'knots': {_fmt(inside)}}}}}"
               if inside else "enter it linearly (no spline)")
        raise ModelFitError(f"{where}: the spline of {column!r} ({shown}) has knots {_fmt(k)} that repeat or touch "
                            f"the boundary {_fmt(bounds)}, because {column!r} has many tied values. Use fewer df "
                            f"or {fix}.")


def _learn_factor(df: pd.DataFrame, column: Any, spline: Any, where: str) -> Factor:
    s = df[column]
    if spline is not None:
        _check_missing(s, column, where)
        return _spline_factor(column, spline, _numeric_values(s, column, where), where)
    if is_categorical(s):
        return Factor(column=column, kind="categorical", levels=_sorted_levels(s), label=str(column))
    return Factor(column=column, kind="numeric", label=str(column))


# --------------------------------------------------------------------------------------------------
# Terms and the design
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Term:
    """A main effect (one factor) or an interaction (several), with each categorical factor's coding.

    Attributes
    ----------
    factors : tuple of int
        Indices into :attr:`Design.factors`.
    reduced : tuple of bool
        Per factor: categorical coded by contrasts (reference dropped) or by all levels.
    """

    factors: tuple[int, ...]
    reduced: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class Design:
    """A learned design: build the model matrix of any data with :meth:`matrix` (intercept first).

    Attributes
    ----------
    factors : tuple of Factor
    terms : tuple of Term
        Main effects in the order given, then interactions.
    column_names : tuple of str
        Display labels of the design columns, ``"Intercept"`` first (never evaluated).
    column_sources : tuple of tuple of str
        The data columns behind each design column (for messages).
    column_levels : tuple of tuple of str
        The categorical levels behind each design column (for messages).
    """

    factors: tuple[Factor, ...]
    terms: tuple[Term, ...]
    column_names: tuple[str, ...]
    column_sources: tuple[tuple[Any, ...], ...]
    column_levels: tuple[tuple[str, ...], ...]

    @property
    def columns(self) -> list[Any]:
        """The data columns the design reads, each once."""
        return [f.column for f in self.factors]

    def description(self) -> str:
        """Human-readable model terms joined by ``" + "`` (interactions with ``":"``); display only."""
        return " + ".join(":".join(self.factors[i].label for i in term.factors) for term in self.terms)

    def matrix(self, df: pd.DataFrame, *, where: str = "Design.matrix", check_missing: bool = True,
               order: str = "C") -> np.ndarray:
        """Model matrix of ``df``: intercept column first, then the terms' columns in :attr:`column_names` order.

        ``check_missing=False`` skips the per-column missing-value check where the caller has made it already
        (see :meth:`Factor.evaluate`); the matrix is the same. ``order="F"`` stores it column by column (the same
        values): the propensity fit's Newton steps scale and multiply whole columns, which is about twice as fast
        on a column-major matrix of a few columns and many rows (issue 17).

        Raises
        ------
        DataError
            A column is missing, has missing or non-finite values, or holds a level not seen when fitting.
        """
        absent = [f.column for f in self.factors if f.column not in df.columns]
        if absent:
            raise DataError(f"{where}: covariate columns {absent} are not in the data (got columns "
                            f"{list(df.columns)[:10]}). Pass data with the columns the model was fitted on.")
        cache: dict[tuple[int, bool], np.ndarray] = {}
        # issue 17: the columns are written into one preallocated matrix (a main-effect factor's indicators
        # straight from its level codes), not stacked from blocks: the same matrix without a copy of it
        X = np.empty((len(df), len(self.column_names)), order=order)
        X[:, 0] = 1.0
        pos = 1
        for term in self.terms:
            if len(term.factors) == 1 and self.factors[term.factors[0]].kind == "categorical":
                f, reduced = self.factors[term.factors[0]], term.reduced[0]
                s = df[f.column]
                if check_missing:
                    _check_missing(s, f.column, where)
                levels = np.arange(1 if reduced else 0, len(f.levels))
                np.equal(f.level_codes(s, where=where)[:, None], levels[None, :], out=X[:, pos:pos + levels.size],
                         casting="unsafe")
                pos += levels.size
                continue
            parts = []
            for i, reduced in zip(term.factors, term.reduced):
                if (i, reduced) not in cache:
                    cache[(i, reduced)] = self.factors[i].evaluate(df[self.factors[i].column], reduced=reduced,
                                                                   where=where, check_missing=check_missing)
                parts.append(cache[(i, reduced)])
            block = _row_products(parts)
            X[:, pos:pos + block.shape[1]] = block
            pos += block.shape[1]
        if pos != X.shape[1]:  # a programming error: the learned column names and the terms disagree
            raise ValueError(f"Design.matrix: {pos} columns for {X.shape[1]} column names")
        return X


def _row_products(parts: list[np.ndarray]) -> np.ndarray:
    """Columns of all products of one column from each part, the first part varying fastest (as R)."""
    out = parts[0]
    for nxt in parts[1:]:
        out = (out[:, None, :] * nxt[:, :, None]).reshape(len(out), -1)
    return out


def _product_labels(parts: list[list[Any]], join: Any) -> list[Any]:
    out = parts[0]
    for nxt in parts[1:]:
        out = [join(a, b) for b in nxt for a in out]
    return out


def _terms(n_main: int, interactions: list[tuple[int, ...]], factors: list[Factor]) -> list[Term]:
    """Main effects then interactions, each categorical factor coded by R's rule (module docstring)."""
    keys = [frozenset((i,)) for i in range(n_main)] + [frozenset(t) for t in interactions]
    present = {frozenset()} | set(keys)
    out = []
    for idx in [(i,) for i in range(n_main)] + interactions:
        reduced = tuple(factors[i].kind != "categorical" or frozenset(idx) - {i} in present for i in idx)
        out.append(Term(factors=tuple(idx), reduced=reduced))
    return out


def _normalise_splines(splines: Mapping[Any, Any] | Sequence[Any]) -> dict[Any, Any]:
    # a bare list of columns means a natural spline with 3 df each
    return dict(splines) if isinstance(splines, Mapping) else {c: 3 for c in splines}


def build_design(df: pd.DataFrame, *, covariates: Sequence[Any] = (),
                 splines: Mapping[Any, Any] | Sequence[Any] = (), interactions: Sequence[Sequence[Any]] = (),
                 where: str = "build_design") -> Design:
    """Learn a :class:`Design` (levels, knots) from the training data.

    Parameters
    ----------
    df : DataFrame
        Training data; read only.
    covariates : sequence of str
        Main effects, in order.
    splines : mapping of str to int or dict, or sequence of str
        Columns entered as a spline instead of linearly; a column listed here is a main effect even when
        not in ``covariates``. ``{"age": 3}`` is ``ns(age, df = 3)``; a dict may give ``kind`` (``"ns"`` or
        ``"bs"``), ``df``, ``knots``, ``boundary_knots`` and ``degree`` (bs only).
    interactions : sequence of tuple of str
        Columns whose representations are multiplied (two or more distinct columns each).
    where : str
        Prefix of error messages.

    Returns
    -------
    Design

    Raises
    ------
    ModelFitError
        No covariates, a bad spline specification or a bad interaction.
    DataError
        A column not in the data, or with values it cannot take (see :meth:`Factor.evaluate`).
    """
    spl = _normalise_splines(splines)
    main = list(dict.fromkeys(list(covariates) + list(spl)))
    inter: list[tuple[Any, ...]] = []
    for k, pair in enumerate(interactions):
        cols = tuple(pair)
        if len(cols) < 2 or len(set(cols)) != len(cols):
            raise ModelFitError(f"{where}: interactions[{k}] must name two or more distinct columns (got "
                                f"{list(cols)!r}). Write e.g. interactions=[('age', 'sex')].")
        if frozenset(cols) not in {frozenset(c) for c in inter}:  # a:b and b:a are one term
            inter.append(cols)
    cols = list(dict.fromkeys(main + [c for pair in inter for c in pair]))
    if not cols:
        raise ModelFitError(f"{where}: no covariates given (got covariates=()). Pass covariates=[...].")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{where}: covariate columns {missing} are not in the data (got columns "
                        f"{list(df.columns)[:10]}). Fix the covariate names.")
    factors = [_learn_factor(df, c, spl.get(c), where) for c in cols]
    index = {c: i for i, c in enumerate(cols)}
    terms = _terms(len(main), [tuple(index[c] for c in pair) for pair in inter], factors)
    names, sources, levels = [INTERCEPT], [()], [()]
    for term in terms:
        fs = [factors[i] for i in term.factors]
        names += _product_labels([f.column_labels(reduced=r) for f, r in zip(fs, term.reduced)],
                                 lambda a, b: f"{a}:{b}")
        n = len(names) - len(sources)
        sources += [tuple(f.column for f in fs)] * n
        levels += _product_labels([[(lv,) if lv is not None else () for lv in f.column_levels(reduced=r)]
                                   for f, r in zip(fs, term.reduced)], lambda a, b: a + b)
    return Design(factors=tuple(factors), terms=tuple(terms), column_names=tuple(names),
                  column_sources=tuple(sources), column_levels=tuple(levels))


__all__ = ["Design", "Factor", "Term", "build_design", "ns_basis", "bs_basis", "is_categorical", "INTERCEPT",
           "SPLINE_KEYS"]
