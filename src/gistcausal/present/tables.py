"""Paper-style Table 1 by treatment arm, before and after weighting, and the reviewer's balance tables.

:func:`table_one` gives the unweighted table with tests and, when weights are given (one set per estimand),
the weighted columns of each estimand side by side with SMDs, in the layout of R's gtsummary
(``tbl_summary`` + ``add_p``, ``tbl_svysummary`` + ``add_difference``) and tableone
(``svyCreateTableOne(smd = TRUE)``). :func:`balance_summary` and :func:`balance_detail` turn
:class:`~gistcausal.stats.balance.BalanceTable` results into the tables a reviewer asks for. All three
return a :class:`~gistcausal.present.table_model.TableModel` (``TableOne.model``) that
:mod:`gistcausal.present.render` writes to Word, Excel, LaTeX, HTML, Markdown and CSV.

Cells
-----
* categorical: ``n (%)`` per level, the variable name once and its levels indented; a two-level variable
  on one row (the level given in ``binary_levels``, else the "yes" of a no/yes pair 0/1, false/true, no/yes,
  titled by the variable; else the second level, titled "<variable>: <level>", as cobalt's
  ``splitfactor(drop.first = "if2")``). Unweighted test: Pearson's chi-square without continuity correction
  (R ``chisq.test(correct = FALSE)``, SPSS "Pearson Chi-Square");
  ``categorical_test="fisher"`` for Fisher's exact test (2 x 2 only), ``"yates"`` for the
  continuity-corrected version.
* ``continuous_mean``: ``mean (SD)``; independent two-sample t-test with pooled variance (R
  ``t.test(var.equal = TRUE)``; ``mean_test="welch"`` for Welch).
* ``continuous_median``: ``median (min–max)`` (``median_spread="range"``, as the study) or
  ``median (Q1–Q3)``; Mann-Whitney U with the normal approximation, tie and continuity corrections (R
  ``wilcox.test(exact = FALSE, correct = TRUE)``).
* Weighted columns (per estimand): weighted n (sum of weights) and Kish's effective sample size
  :math:`(\\sum w)^2/\\sum w^2` in the header, weighted %, weighted mean (SD, with the reliability-weights
  variance of :mod:`gistcausal.stats.balance`), weighted median with the quantile
  :math:`\\min\\{x: F_w(x) \\ge p\\}` (R survey ``svyquantile(qrule = "math")``) and (Q1–Q3), or (min–max) over
  patients with positive weight, and the SMD after weighting (cobalt conventions,
  :func:`gistcausal.stats.balance.smd`). No p-values after weighting: balance is judged by SMDs, not tests
  (Austin 2009; Imai, King & Stuart 2008).
* ``suppress_below=k``: counts 1..k-1 are shown as ``<k`` (and their percentages hidden) for disclosure
  control; zero counts are shown as ``0``.

References
----------
Austin PC (2009). Stat Med 28:3083-3107. Imai K, King G, Stuart EA (2008). Misunderstandings between
experimentalists and observationalists about causal inference. JRSS A 171:481-502.
Sjoberg DD et al. (2021). Reproducible summary tables with the gtsummary package. R Journal 13:570-580.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.errors import ConfigError, DataError
from gistcausal.present.render import FORMATS, write_table
from gistcausal.present.table_model import EMPTY, NUMBER_FORMATS, Cell, Column, Row, TableModel, fmt_num, fmt_p
from gistcausal.stats.balance import _wvar, smd
from gistcausal.stats.weights import kish_ess

TYPES = ("categorical", "binary", "continuous_mean", "continuous_median")
_YES = {"1", "1.0", "true", "yes", "y", "present", "positive"}
_NO = {"0", "0.0", "false", "no", "n", "absent", "negative"}


def _yes_level(levels: list[Any]) -> Any:
    """The "yes" of a no/yes pair (0/1, false/true, no/yes, absent/present, negative/positive), else None: in
    a pair like 1/2 (R's codes) or female/male, no level means "yes" and the row must name the level shown."""
    yes = [lv for lv in levels if str(lv).strip().lower() in _YES]
    no = [lv for lv in levels if str(lv).strip().lower() in _NO]
    return yes[0] if len(levels) == 2 and len(yes) == 1 and len(no) == 1 else None


def _estimand_words(estimands: Any) -> str:
    """``"ATE: average treatment effect in the whole cohort; ATT: ..."`` for a caption."""
    return "; ".join(f"{e}: {ESTIMAND_TEXT.get(str(e), str(e))}" for e in estimands)


ESTIMAND_TEXT = {"ATE": "average treatment effect in the whole cohort",
                 "ATT": "average treatment effect in the treated",
                 "ATC": "average treatment effect in the controls",
                 "ATO": "average treatment effect in the overlap population (overlap weights)",
                 "matching": "matching weights"}
SD_DENOM_TEXT = {"ATE": "pooled SD sqrt((s1² + s0²)/2)", "ATO": "pooled SD sqrt((s1² + s0²)/2)",
                 "matching": "pooled SD sqrt((s1² + s0²)/2)", "ATT": "SD of the treated arm",
                 "ATC": "SD of the control arm"}


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """:math:`\\min\\{x: F_w(x) \\ge q\\}` (R survey ``svyquantile(qrule = "math")``)."""
    order = np.argsort(x, kind="stable")
    xs, ws = np.asarray(x, float)[order], np.asarray(w, float)[order]
    cdf = np.cumsum(ws) / ws.sum()
    return float(xs[np.searchsorted(cdf, q - 1e-12, side="left")])


def _num_fmt(digits: int) -> str:
    return "0." + "0" * digits if digits > 0 else "0"


def _count_cell(k: float, total: float, suppress_below: int | None, digits: int = 1) -> Cell:
    """``n (%)``; integer counts formatted ``0``, weighted counts ``0.0``."""
    if suppress_below is not None and 0 < k < suppress_below and float(k).is_integer():
        return Cell(f"<{suppress_below}", ((f"<{suppress_below}", None),))
    pct = 100 * k / total if total > 0 else math.nan
    whole = float(k).is_integer()
    kk = f"{k:.0f}" if whole else f"{k:.1f}"
    pct_part = (pct, f"({_num_fmt(digits)})") if math.isfinite(pct) else ("", None)
    return Cell(f"{kk} ({fmt_num(pct, digits)})",
                ((int(k) if whole else float(k), NUMBER_FORMATS["count" if whole else "wcount"]), pct_part))


def _mean_cell(m: float, sd: float, digits: int) -> Cell:
    f = _num_fmt(digits)
    return Cell(f"{fmt_num(m, digits)} ({fmt_num(sd, digits)})", ((m, f), (sd, f"({f})")))


def _median_cell(med: float, lo: float, hi: float, digits: int) -> Cell:
    spread = f"({fmt_num(lo, digits)}–{fmt_num(hi, digits)})"
    return Cell(f"{fmt_num(med, digits)} {spread}", ((med, _num_fmt(digits)), (spread, None)))


def _weights_by_estimand(weights: Any, estimand: str, n: int, where: str) -> dict[str, np.ndarray]:
    if weights is None:
        return {}
    items = weights.items() if isinstance(weights, Mapping) else [(estimand, weights)]
    out = {}
    for est, wt in items:
        w = np.asarray(getattr(wt, "weights", wt), dtype=float)
        if w.shape != (n,):
            raise DataError(f"{where}: weights must have one value per row (got {w.shape} for {n} rows). "
                            "Pass WeightResult.weights computed on this data.")
        out[str(est)] = w
    return out


@dataclass(frozen=True, slots=True)
class _Line:
    """One Table 1 row while it is built: the tidy record and the display row come from it."""

    variable: str
    level: str          # code (or statistic name) in TableOne.table
    level_label: str
    stub: str
    kind: str
    indent: int
    arms: dict          # arm code -> Cell (unweighted)
    weighted: dict      # estimand -> {arm code -> Cell}
    smd_un: float = math.nan
    smd_w: dict = field(default_factory=dict)
    p: float = math.nan
    test: str = ""


@dataclass(frozen=True, slots=True)
class TableOne:
    """Table 1: the tidy rows and the display model (aggregates only).

    Attributes
    ----------
    table : DataFrame
        One row per display row plus a first "Number of patients" row: variable (label), level (level code,
        the statistic for continuous rows, "missing", or "" on a variable's heading row; labels are in
        ``model``), one text column per arm (unweighted), per estimand one text column per arm suffixed `` (weighted)`` (one
        estimand) or `` (weighted ATE)`` (several), ``smd_unweighted`` and ``smd_weighted`` (or
        ``smd_weighted_ATE``), ``p`` and ``test``.
    model : TableModel
        The display table (gtsummary layout) every export is rendered from.
    arm_labels : tuple of str
        Display names, treated first.
    n : dict
        Patients per arm.
    weighted : bool
    notes : tuple of str
        Footnotes: statistics, tests used, weighting and SMD conventions, suppression.
    estimands : tuple of str
        Estimands of the weighted column groups, in order.
    """

    table: pd.DataFrame
    model: TableModel
    arm_labels: tuple[str, str]
    n: dict
    weighted: bool
    notes: tuple[str, ...]
    estimands: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        return {"arm_labels": list(self.arm_labels), "n": dict(self.n), "weighted": self.weighted,
                "estimands": list(self.estimands), "rows": rows, "notes": list(self.notes),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Plain-text table with caption and footnotes."""
        return self.model.summary()

    def to_html(self, path: str | Path | None = None) -> str:
        """HTML fragment (scoped CSS + table); a full page is written to ``path`` when given."""
        from gistcausal.present.render.html import render_html, write_html

        if path is not None:
            write_html(self.model, path)
        return render_html(self.model)

    def to_latex(self, path: str | Path | None = None) -> str:
        """booktabs ``table`` environment; a standalone document is written to ``path`` when given."""
        from gistcausal.present.render.latex import render_latex, write_latex

        if path is not None:
            write_latex(self.model, path)
        return render_latex(self.model)

    def to_markdown(self, path: str | Path | None = None) -> str:
        from gistcausal.present.render.text import render_markdown

        text = render_markdown(self.model)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def write(self, path: str | Path, *, format: str | None = None) -> Path:  # noqa: A002 - numpydoc name
        """Write in ``format`` (default: from the file suffix: .csv .md .tex .html .docx .xlsx)."""
        return write_table(self.model, path, format=format, where="TableOne.write")


def _level_label(col: str, level: Any, level_labels: Mapping[str, Mapping[Any, str]]) -> str:
    labels = {str(k): v for k, v in (level_labels.get(col) or {}).items()}
    return labels.get(str(level), str(level))



def _levels(s: pd.Series, col: str, level_order: Mapping[str, Sequence[Any]]) -> list[Any]:
    """Level order: a pandas Categorical's categories, else the configured order, else sorted."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    observed = list(pd.unique(s.dropna()))
    order = [lv for lv in level_order.get(col) or [] if lv in set(observed) or str(lv) in set(map(str, observed))]
    if order:
        by_str = {str(v): v for v in observed}
        order = [by_str.get(str(lv), lv) for lv in order]
        return order + sorted((v for v in observed if str(v) not in set(map(str, order))), key=str)
    return sorted(observed, key=lambda v: (str(type(v)), v))


def apply_level_order(df: pd.DataFrame, level_order: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Copy of ``df`` with each listed column a pandas Categorical in the given level order (levels seen in the
    data but not listed follow, sorted), so tables, balance tables and love plots share one order."""
    out = df.copy()
    for col, order in level_order.items():
        if col in out.columns and not isinstance(out[col].dtype, pd.CategoricalDtype) and order:
            out[col] = pd.Categorical(out[col], categories=_levels(out[col], col, {col: order}))
    return out


def _shown_level(levels: list[Any], col: str, binary_levels: Mapping[str, Any]) -> Any:
    if col in binary_levels:
        want = str(binary_levels[col])
        for lv in levels:
            if str(lv) == want:
                return lv
        raise ConfigError(f"table_one: binary_levels[{col!r}] must be one of the levels {[str(v) for v in levels]} "
                          f"(got {binary_levels[col]!r}). Set covariates.{col}.binary_level to one of them.")
    yes = _yes_level(levels)
    return levels[-1] if yes is None else yes


_WHERE = "table_one"
_STUB_STAT = {"mean (SD)": "mean (SD)", "median (range)": "median (min–max)", "median (IQR)": "median (Q1–Q3)"}
_TEST_NAMES = {"chi-square": "Pearson's chi-square test",
               "chi-square (Yates)": "chi-square test with Yates' continuity correction",
               "Fisher's exact": "Fisher's exact test", "t-test": "Student's t-test",
               "t-test (Welch)": "Welch's t-test", "Mann-Whitney U": "Mann-Whitney U test"}
_TESTED = {"categorical": "categorical variables", "continuous_mean": "means", "continuous_median": "medians"}


@dataclass(frozen=True, slots=True)
class _Settings:
    """The keyword arguments of :func:`table_one` that the row builders read (mappings already made dicts)."""

    tests: bool
    suppress_below: int | None
    digits: int
    median_spread: str
    categorical_test: str
    mean_test: str
    binary_rows: str
    level_labels: dict
    level_order: dict
    binary_levels: dict
    smd_est: str        # estimand whose SMD denominator the unweighted SMDs use


@dataclass(frozen=True, slots=True)
class _Variable:
    """One covariate restricted to the patients with a recorded value, as the row builders see it."""

    col: str
    name: str           # display label
    kind: str           # one of TYPES
    s: pd.Series        # recorded values
    t: np.ndarray       # 0/1 treatment of those patients
    w: dict             # estimand -> weights of those patients (empty when unweighted)


# --- argument checks ---------------------------------------------------------------------------------------

def _treatment(df: pd.DataFrame, treatment_col: str) -> np.ndarray:
    """The treatment column as int, after checking that it exists and is coded 0/1."""
    if treatment_col not in df.columns:
        raise DataError(f"{_WHERE}: treatment column {treatment_col!r} is not in the data (got columns "
                        f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
    t = df[treatment_col].to_numpy()
    if not np.all(np.isin(t, (0, 1))):
        raise DataError(f"{_WHERE}: column {treatment_col!r} must be coded 0/1 (got values "
                        f"{sorted(map(str, pd.unique(t)))[:5]}). Recode 1 = treated, 0 = control.")
    return t.astype(int)


def _missing_mask(df: pd.DataFrame, col: str, kind: str, missing: str) -> np.ndarray:
    """Where covariate ``col`` is missing, after checking its summary type, that it exists, and that missing
    values are allowed (``missing="row"``)."""
    if kind not in TYPES:
        raise ConfigError(f"{_WHERE}: covariates[{col!r}] must be one of {list(TYPES)} (got {kind!r}). "
                          "Pick one of these.")
    if col not in df.columns:
        raise DataError(f"{_WHERE}: column {col!r} is not in the data (got columns {list(df.columns)[:10]}). "
                        "Fix the covariate name.")
    na = df[col].isna().to_numpy()
    if na.any() and missing != "row":
        raise DataError(f"{_WHERE}: column {col!r} has {int(na.sum())} missing values (got NaN). Map "
                        "them to a 'not reported' level, impute them first, or pass missing='row'.")
    return na


# --- categorical and binary rows ---------------------------------------------------------------------------

def _categorical_test(counts: np.ndarray, col: str, cfg: _Settings) -> tuple[float, str]:
    """p-value and test name for an arms x levels count table, levels without patients dropped: Pearson's
    chi-square (R ``chisq.test(correct = FALSE)``), with Yates' correction, or Fisher's exact (2 x 2 only)."""
    nz = counts[:, counts.sum(axis=0) > 0]
    if cfg.categorical_test == "fisher":
        if nz.shape != (2, 2):
            raise ConfigError(f"{_WHERE}: categorical_test='fisher' needs a 2 x 2 table (got 2 x "
                              f"{nz.shape[1]} for {col!r}). Use categorical_test='chisq'.")
        return float(stats.fisher_exact(nz).pvalue), "Fisher's exact"
    p = float(stats.chi2_contingency(nz, correction=cfg.categorical_test == "yates").pvalue)
    return p, "chi-square" + (" (Yates)" if cfg.categorical_test == "yates" else "")


def _level_line(v: _Variable, cfg: _Settings, levels: list[Any], counts: np.ndarray, lv: Any, is_level: np.ndarray,
                *, stub: str, kind: str, indent: int, p: float, test: str) -> _Line:
    """Row of one level: n (%) per arm, weighted n (%) per estimand and arm, and the SMDs of the level's 0/1
    indicator ``is_level`` (a difference in proportions, cobalt conventions) before and after weighting."""
    x = is_level.astype(float)
    tt = v.t
    j = levels.index(lv)
    arms = {arm: _count_cell(counts[k, j], counts[k].sum(), cfg.suppress_below, cfg.digits)
            for k, arm in enumerate((1, 0))}
    wcells, smd_w = {}, {}
    for e, w in v.w.items():
        wcells[e] = {arm: _count_cell(float(np.sum(w[tt == arm] * x[tt == arm])),
                                      float(w[tt == arm].sum()), None, cfg.digits) for arm in (1, 0)}
        smd_w[e] = smd(x, tt, weights=w, estimand=e)
    smd_un = smd(x, tt, estimand=cfg.smd_est) if v.w else math.nan
    return _Line(v.name, str(lv), _level_label(v.col, lv, cfg.level_labels), stub, kind, indent, arms, wcells,
                 smd_un, smd_w, p, test)


def _categorical_lines(v: _Variable, cfg: _Settings) -> tuple[list[_Line], str]:
    """Rows of a categorical or binary variable, and the name of its test ("" without tests).

    A two-level variable takes one row ("binary", or ``binary_rows="one"``) showing the level chosen by
    :func:`_shown_level`, titled by the variable for a yes-like level and "<variable>: <level>" otherwise.
    Any other variable gets a heading row with the p-value and one indented row per level.
    """
    levels = _levels(v.s, v.col, cfg.level_order)
    # each level's 0/1 indicator once (the counts and the level's row read it; issue 17: comparing an object
    # column three times per level cost 8 ms each at 229,000 patients)
    ind = {lv: (v.s == lv).to_numpy() for lv in levels}
    treated = v.t == 1
    counts = np.array([[int(np.count_nonzero(ind[lv] & treated)) for lv in levels],
                       [int(np.count_nonzero(ind[lv] & ~treated)) for lv in levels]])
    p, test = _categorical_test(counts, v.col, cfg) if cfg.tests else (math.nan, "")
    if len(levels) == 2 and (v.kind == "binary" or cfg.binary_rows == "one"):
        lv = _shown_level(levels, v.col, cfg.binary_levels)
        lab = _level_label(v.col, lv, cfg.level_labels)
        stub = v.name if lv == _yes_level(levels) else f"{v.name}: {lab}"   # None (no yes) never equals a level
        return [_level_line(v, cfg, levels, counts, lv, ind[lv], stub=stub, kind="single", indent=0, p=p,
                            test=test)], test
    lines = [_Line(v.name, "", "", v.name, "variable", 0, {}, {}, math.nan, {}, p, test)]
    for lv in levels:
        lab = _level_label(v.col, lv, cfg.level_labels)
        lines.append(_level_line(v, cfg, levels, counts, lv, ind[lv], stub=lab, kind="level", indent=1, p=math.nan,
                                 test=""))
    return lines, test


# --- continuous rows (mean or median) ----------------------------------------------------------------------

def _summary_cell(xa: np.ndarray, kind: str, cfg: _Settings) -> Cell:
    """One arm, unweighted: mean (SD with n - 1), median (min–max) or median (Q1–Q3, numpy's default
    linear quantiles, R ``quantile(type = 7)``)."""
    if kind == "continuous_mean":
        return _mean_cell(float(xa.mean()), float(np.std(xa, ddof=1)), cfg.digits)
    if cfg.median_spread == "range":
        return _median_cell(float(np.median(xa)), float(xa.min()), float(xa.max()), cfg.digits)
    q1, q3 = np.quantile(xa, [0.25, 0.75])
    return _median_cell(float(np.median(xa)), float(q1), float(q3), cfg.digits)


def _weighted_summary_cell(xa: np.ndarray, wa: np.ndarray, kind: str, cfg: _Settings) -> Cell:
    """One arm, weighted: mean (SD with the reliability-weights variance), or the weighted median
    (:func:`weighted_quantile`) with the min–max over patients with positive weight or the weighted Q1–Q3."""
    if kind == "continuous_mean":
        m = float(np.sum(wa * xa) / wa.sum())
        return _mean_cell(m, math.sqrt(_wvar(xa, wa)), cfg.digits)
    if cfg.median_spread == "range":
        pos = xa[wa > 0]
        return _median_cell(weighted_quantile(xa, wa, 0.5), float(pos.min()), float(pos.max()), cfg.digits)
    qs = [weighted_quantile(xa, wa, q) for q in (0.5, 0.25, 0.75)]
    return _median_cell(qs[0], qs[1], qs[2], cfg.digits)


def _continuous_test(x: np.ndarray, tt: np.ndarray, kind: str, cfg: _Settings) -> tuple[float, str]:
    """p-value and test name: two-sample t-test (pooled variance, or Welch) for means; Mann-Whitney U with
    the normal approximation and continuity correction (R ``wilcox.test(exact = FALSE)``) for medians."""
    x1, x0 = x[tt == 1], x[tt == 0]
    if kind == "continuous_mean":
        p = float(stats.ttest_ind(x1, x0, equal_var=cfg.mean_test == "student").pvalue)
        return p, "t-test" + (" (Welch)" if cfg.mean_test == "welch" else "")
    p = float(stats.mannwhitneyu(x1, x0, alternative="two-sided", method="asymptotic",
                                 use_continuity=True).pvalue)
    return p, "Mann-Whitney U"


def _continuous_line(v: _Variable, cfg: _Settings) -> tuple[_Line, str]:
    """The one row of a continuous variable ("<variable>, mean (SD)" or "<variable>, median (...)"), and the
    name of its test ("" without tests)."""
    x = v.s.to_numpy(dtype=float)
    stat = "mean (SD)" if v.kind == "continuous_mean" else \
        ("median (range)" if cfg.median_spread == "range" else "median (IQR)")
    arms, wcells = {}, {e: {} for e in v.w}
    for arm in (1, 0):
        xa = x[v.t == arm]
        arms[arm] = _summary_cell(xa, v.kind, cfg)
        for e, w in v.w.items():
            wcells[e][arm] = _weighted_summary_cell(xa, w[v.t == arm], v.kind, cfg)
    p, test = _continuous_test(x, v.t, v.kind, cfg) if cfg.tests else (math.nan, "")
    smd_un = smd(x, v.t, estimand=cfg.smd_est) if v.w else math.nan
    smd_w = {e: smd(x, v.t, weights=w, estimand=e) for e, w in v.w.items()}
    return _Line(v.name, stat, stat, f"{v.name}, {_STUB_STAT[stat]}", "single", 0, arms, wcells, smd_un, smd_w,
                 p, test), test


# --- missing values and the loop over covariates ----------------------------------------------------------

def _with_missing_row(var_lines: list[_Line], name: str, na: np.ndarray, t: np.ndarray,
                      wsets: Mapping[str, np.ndarray], cfg: _Settings) -> list[_Line]:
    """``var_lines`` followed by an indented "Missing" row: n (%) of the arm's patients without a value,
    unweighted and weighted."""
    miss = {arm: _count_cell(int((na & (t == arm)).sum()), int((t == arm).sum()), cfg.suppress_below, cfg.digits)
            for arm in (1, 0)}
    wmiss = {e: {arm: _count_cell(float(w[na & (t == arm)].sum()), float(w[t == arm].sum()), None, cfg.digits)
                 for arm in (1, 0)} for e, w in wsets.items()}
    if var_lines[0].kind == "single":
        # The variable gets a heading row so that "Missing" can sit indented under it.
        first = var_lines[0]
        var_lines = [_Line(name, "", "", name, "variable", 0, {}, {}, math.nan, {}, first.p, first.test),
                     _Line(first.variable, first.level, first.level_label,
                           first.stub.removeprefix(f"{name}: ").removeprefix(f"{name}, "), "level", 1,
                           first.arms, first.weighted, first.smd_un, first.smd_w)]
    return var_lines + [_Line(name, "missing", "Missing", "Missing", "missing", 1, miss, wmiss)]


def _covariate_lines(df: pd.DataFrame, covariates: Mapping[str, str], t: np.ndarray,
                     wsets: Mapping[str, np.ndarray], labels: Mapping[str, str], missing: str,
                     cfg: _Settings) -> tuple[list[_Line], set[str], dict[str, str], bool]:
    """All rows, covariate by covariate in display order.

    Returns the rows, the statistics shown (for the footnote: "categorical", "continuous_mean",
    "continuous_median_range", "continuous_median_iqr"), the test used per summary type and whether any
    covariate had missing values.
    """
    lines: list[_Line] = []
    used_tests: dict[str, str] = {}
    kinds_used: set[str] = set()
    any_missing = False
    for col, kind in covariates.items():
        na = _missing_mask(df, col, kind, missing)
        obs = ~na
        v = _Variable(col, labels.get(col, col), kind, df[col][obs], t[obs], {e: w[obs] for e, w in wsets.items()})
        if kind in ("categorical", "binary"):
            kinds_used.add("categorical")
            var_lines, test = _categorical_lines(v, cfg)
            test_kind = "categorical"
        else:
            kinds_used.add(kind if kind == "continuous_mean" else f"continuous_median_{cfg.median_spread}")
            line, test = _continuous_line(v, cfg)
            var_lines, test_kind = [line], kind
        if cfg.tests:
            used_tests[test_kind] = test
        if na.any():
            any_missing = True
            var_lines = _with_missing_row(var_lines, v.name, na, t, wsets, cfg)
        lines.extend(var_lines)
    return lines, kinds_used, used_tests, any_missing


# --- assembly: the tidy table, the display model, footnotes ------------------------------------------------

def _weighted_column_names(A: Mapping[int, str], ests: tuple[str, ...]) -> tuple[dict, dict]:
    """Tidy-table names of the weighted columns: per estimand and arm "<arm> (weighted)" (one estimand) or
    "<arm> (weighted <estimand>)" (several), and per estimand "smd_weighted" or "smd_weighted_<estimand>"."""
    multi = len(ests) > 1
    wcol = {e: {arm: f"{A[arm]} (weighted{' ' + e if multi else ''})" for arm in (1, 0)} for e in ests}
    smd_col = {e: f"smd_weighted_{e}" if multi else "smd_weighted" for e in ests}
    return wcol, smd_col


def _tidy_table(lines: list[_Line], A: Mapping[int, str], n_arm: Mapping[int, int],
                wn: Mapping[str, Mapping[int, float]], ests: tuple[str, ...], tests: bool) -> pd.DataFrame:
    """``TableOne.table``: a "Number of patients" row (weighted n to one decimal), then one record per row
    with the cell texts, SMDs, p and test (aggregates only)."""
    wcol, smd_col = _weighted_column_names(A, ests)
    records: list[dict[str, Any]] = []
    head = {"variable": "Number of patients", "level": "", A[1]: str(n_arm[1]),
            A[0]: str(n_arm[0])}
    for e in ests:
        head.update({wcol[e][1]: f"{wn[e][1]:.1f}", wcol[e][0]: f"{wn[e][0]:.1f}"})
    records.append(head)
    for ln in lines:
        rec: dict[str, Any] = {"variable": ln.variable, "level": ln.level}
        for arm in (1, 0):
            if arm in ln.arms:
                rec[A[arm]] = ln.arms[arm].text
        for e in ests:
            for arm in (1, 0):
                if arm in ln.weighted.get(e, {}):
                    rec[wcol[e][arm]] = ln.weighted[e][arm].text
            if ln.smd_w.get(e) is not None:
                rec[smd_col[e]] = ln.smd_w[e]
        if ests:
            rec["smd_unweighted"] = ln.smd_un
        if tests and ln.test:
            rec["p"], rec["test"] = ln.p, ln.test
        records.append(rec)
    cols = ["variable", "level", A[1], A[0]]
    for e in ests:
        cols += [wcol[e][1], wcol[e][0]]
    if ests:
        cols += ["smd_unweighted"] + [smd_col[e] for e in ests]
    if tests:
        cols += ["p", "test"]
    return pd.DataFrame(records).reindex(columns=cols)


def _display_columns(A: Mapping[int, str], n_arm: Mapping[int, int], wn: Mapping[str, Mapping[int, float]],
                     ess: Mapping[str, Mapping[int, float]], ests: tuple[str, ...], tests: bool) -> list[Column]:
    """Display columns: the stub; "Unweighted" arms (N in the header), p-value, SMD; then per estimand a
    "Weighted (<estimand>)" group of the arms (weighted n and Kish's ESS in the header) and the SMD."""
    group_un = "Unweighted" if ests else None
    columns = [Column("characteristic", "Characteristic", kind="stub")]
    columns += [Column(f"arm{arm}", A[arm], f"N = {n_arm[arm]}", group_un, "stat", 2) for arm in (1, 0)]
    if tests:
        columns.append(Column("p", "p-value", "", group_un, "p"))
    if ests:
        columns.append(Column("smd_un", "SMD", "", group_un, "smd"))
    for e in ests:
        g = f"Weighted ({e})"
        columns += [Column(f"{e}_arm{arm}", A[arm], f"n = {wn[e][arm]:.1f}, ESS = {ess[e][arm]:.1f}", g, "stat", 2)
                    for arm in (1, 0)]
        columns.append(Column(f"{e}_smd", "SMD", "", g, "smd"))
    return columns


def _display_row(ln: _Line, ests: tuple[str, ...], tests: bool, smd_digits: int) -> Row:
    """Display row of one line, its cells in the order of :func:`_display_columns`."""
    smd_fmt = "smd2" if smd_digits == 2 else "smd3"
    cells: list[Cell] = [ln.arms.get(1, EMPTY), ln.arms.get(0, EMPTY)]
    if tests:
        cells.append(Cell.p_value(ln.p))
    if ests:
        cells.append(Cell.number(ln.smd_un, smd_digits, smd_fmt))
    for e in ests:
        cells += [ln.weighted.get(e, {}).get(1, EMPTY), ln.weighted.get(e, {}).get(0, EMPTY),
                  Cell.number(ln.smd_w.get(e, math.nan), smd_digits, smd_fmt)]
    return Row(ln.variable, ln.level_label, ln.stub, tuple(cells), ln.indent, ln.kind)


def _statistics_note(kinds_used: set[str]) -> list[str]:
    """The "Statistics: n (%); mean (SD); ..." footnote, or none when the table has no covariate rows."""
    stat_text = []
    if "categorical" in kinds_used:
        stat_text.append("n (%)")
    if "continuous_mean" in kinds_used:
        stat_text.append("mean (SD)")
    if "continuous_median_range" in kinds_used:
        stat_text.append("median (min–max)")
    if "continuous_median_iqr" in kinds_used:
        stat_text.append("median (Q1–Q3)")
    return ["Statistics: " + "; ".join(stat_text) + "."] if stat_text else []


def _weighting_notes(A: Mapping[int, str], ests: tuple[str, ...], smd_est: str, median_spread: str,
                     kinds_used: set[str]) -> list[str]:
    """Footnotes of the weighted columns: the estimands, weighted n and ESS, the weighted statistics, and the
    SMD conventions (sign, denominator per estimand, proportions for levels)."""
    desc = "; ".join(f"{e}: {ESTIMAND_TEXT.get(e, e)}" for e in ests)
    weighted = (f"Weighted columns: inverse probability of treatment weights ({desc}). n is the sum of the "
                "weights, ESS Kish's effective sample size (Σw)²/Σw²; weighted %, mean (SD) and median"
                + (" (min–max among patients with positive weight)" if median_spread == "range" and
                   "continuous_median_range" in kinds_used else " (Q1–Q3)" if kinds_used & {
                       "continuous_median_iqr"} else "")
                + ". No tests after weighting: balance is judged by SMDs, not p-values.")
    denoms = "; ".join(f"{e}: {SD_DENOM_TEXT.get(e, 'pooled SD')}" for e in ests)
    smd_note = (f"SMD: standardized mean difference, {A[1]} minus {A[0]}: difference in (weighted) means "
                f"divided by the SD of the unweighted sample ({denoms}); for a level of a categorical "
                "variable the raw difference in proportions (R cobalt conventions). Unweighted SMDs use the "
                f"{smd_est} denominator.")
    return [weighted, smd_note]


def _footnotes(A: Mapping[int, str], ests: tuple[str, ...], *, kinds_used: set[str], used_tests: dict[str, str],
               tests: bool, smd_est: str, median_spread: str, any_missing: bool,
               suppress_below: int | None) -> list[str]:
    """Footnotes in order: statistics, tests, weighting and SMDs, missing values, suppression."""
    notes = _statistics_note(kinds_used)
    if tests and used_tests:
        notes.append("p-values compare the unweighted arms: " +
                     "; ".join(f"{_TEST_NAMES[v]} for {_TESTED[k]}" for k, v in used_tests.items()) + ".")
    if ests:
        notes += _weighting_notes(A, ests, smd_est, median_spread, kinds_used)
    if any_missing:
        notes.append("Missing: patients without a recorded value; statistics and tests use the recorded values.")
    if suppress_below is not None:
        notes.append(f"Counts below {suppress_below} are suppressed (shown as <{suppress_below}).")
    return notes


def table_one(df: pd.DataFrame, *, treatment_col: str, covariates: Mapping[str, str], weights=None,
              arm_labels: Mapping[int, str] | None = None, tests: bool = True, suppress_below: int | None = None,
              labels: Mapping[str, str] | None = None, median_spread: Literal["range", "iqr"] = "range",
              categorical_test: Literal["chisq", "yates", "fisher"] = "chisq",
              mean_test: Literal["student", "welch"] = "student", estimand: str = "ATE",
              digits: int = 1, missing: Literal["error", "row"] = "error",
              level_labels: Mapping[str, Mapping[Any, str]] | None = None,
              level_order: Mapping[str, Sequence[Any]] | None = None,
              binary_levels: Mapping[str, Any] | None = None, binary_rows: Literal["one", "both"] = "one",
              smd_digits: int = 2, caption: str | None = None,
              weighting: str = "inverse probability of treatment weighting") -> TableOne:
    """Table 1 by arm: unweighted with tests and, per estimand, after weighting with SMDs.

    Parameters
    ----------
    df : DataFrame
    treatment_col : str
        0/1 treatment column.
    covariates : mapping of str to {"categorical", "binary", "continuous_mean", "continuous_median"}
        Column -> summary type, in display order. "binary" is a categorical shown on one row.
    weights : array-like, WeightResult, or mapping of estimand to either, optional
        Adds, per estimand, weighted columns and SMDs before/after weighting; a mapping
        ``{"ATE": w_ate, "ATT": w_att}`` puts the estimands side by side.
    arm_labels : mapping {1: str, 0: str}, optional
        Display names, default ``{1: "treated", 0: "control"}``.
    tests : bool, default=True
        Add p-values of the unweighted comparison (never of the weighted one).
    suppress_below : int, optional
        Show counts 1..k-1 as ``<k``.
    labels : mapping of str to str, optional
        Display names of the variables.
    median_spread : {"range", "iqr"}, default="range"
    categorical_test : {"chisq", "yates", "fisher"}, default="chisq"
    mean_test : {"student", "welch"}, default="student"
    estimand : str, default="ATE"
        Estimand of ``weights`` when it is not a mapping; sets the SMD denominator (cobalt conventions).
    digits : int, default=1
        Decimals of percentages, means, SDs and medians.
    missing : {"error", "row"}, default="error"
        ``"row"``: summaries and tests use the observed values of each variable, and a "Missing" row
        gives n (%) missing per arm (complete-case per variable, as SPSS and R's tableone report it).
    level_labels : mapping of column to {level code: label}, optional
        Display labels of categorical levels (``covariates.<name>.level_labels`` in the config).
    level_order : mapping of column to level codes, optional
        Level order for non-Categorical columns (a pandas Categorical's category order always wins).
    binary_levels : mapping of column to level, optional
        The level shown on the one row of a two-level variable.
    binary_rows : {"one", "both"}, default="one"
        ``"both"`` shows both levels of two-level "categorical" variables ("binary" ones always take one row).
    smd_digits : int, default=2
    caption : str, optional
        Caption text (numbered "Table 1." by the renderers). Default: "Baseline characteristics by treatment
        arm", with weights followed by ", before and after <weighting> (<estimands in words>)".
    weighting : str, default="inverse probability of treatment weighting"
        How the weights were made, for the default caption (entropy balancing, propensity-score matching).

    Returns
    -------
    TableOne
    """
    t = _treatment(df, treatment_col)
    arm_labels = dict(arm_labels or {1: "treated", 0: "control"})
    labels, level_labels = dict(labels or {}), dict(level_labels or {})
    level_order, binary_levels = dict(level_order or {}), dict(binary_levels or {})
    wsets = _weights_by_estimand(weights, estimand, t.size, _WHERE)
    ests = tuple(wsets)
    smd_est = ests[0] if ests else estimand
    A = {1: arm_labels[1], 0: arm_labels[0]}
    cfg = _Settings(tests, suppress_below, digits, median_spread, categorical_test, mean_test, binary_rows,
                    level_labels, level_order, binary_levels, smd_est)
    lines, kinds_used, used_tests, any_missing = _covariate_lines(df, covariates, t, wsets, labels, missing, cfg)

    n_arm = {arm: int((t == arm).sum()) for arm in (1, 0)}
    wn = {e: {arm: float(w[t == arm].sum()) for arm in (1, 0)} for e, w in wsets.items()}
    ess = {e: {arm: kish_ess(w[t == arm]) for arm in (1, 0)} for e, w in wsets.items()}
    table = _tidy_table(lines, A, n_arm, wn, ests, tests)
    columns = _display_columns(A, n_arm, wn, ess, ests, tests)
    rows = [_display_row(ln, ests, tests, smd_digits) for ln in lines]
    notes = _footnotes(A, ests, kinds_used=kinds_used, used_tests=used_tests, tests=tests, smd_est=smd_est,
                       median_spread=median_spread, any_missing=any_missing, suppress_below=suppress_below)
    if caption is None:
        caption = "Baseline characteristics by treatment arm" + (
            f", before and after {weighting} ({_estimand_words(ests)})" if ests else "")
    model = TableModel(caption=caption, columns=tuple(columns), rows=tuple(rows), footnotes=tuple(notes))
    return TableOne(table=table, model=model, arm_labels=(A[1], A[0]), n={A[1]: n_arm[1], A[0]: n_arm[0]},
                    weighted=bool(ests), notes=tuple(notes), estimands=ests)


def covariate_level_label(covariate: str, level: Any, labels: Mapping[str, str],
                          level_labels: Mapping[str, Mapping[Any, str]]) -> str:
    """"Sex: Male": the covariate's label and the level's label (the covariate's label alone without a level)."""
    name = labels.get(covariate, covariate)
    if level is None or str(level) == "":
        return name
    return f"{name}: {_level_label(covariate, level, level_labels)}"


def term_label(term: str, labels: Mapping[str, str], level_labels: Mapping[str, Mapping[Any, str]]) -> str:
    """A propensity-model design column for a reader: ``sex[male]`` -> "Sex: Male", ``age`` -> "Age (years)",
    ``log(size)`` -> "log(Size (cm))"; spline bases ``ns(age)[2]`` keep their index; anything else unchanged.

    Column names come from :meth:`gistcausal.stats.design_matrix.Factor.column_labels`; only configured covariate
    names are looked up (nothing is evaluated)."""
    base, level = term, None
    if term.endswith("]") and "[" in term:
        base, level = term[:term.index("[")], term[term.index("[") + 1:-1]
    inner = base
    for fn in ("log(", "ns(", "bs("):
        if base.startswith(fn) and base.endswith(")"):
            inner = base[len(fn):-1]
    if inner not in labels:
        return term
    if inner != base:  # a transform or a spline basis: the level is the basis index, not a category
        return base.replace(inner, labels[inner], 1) + (f"[{level}]" if level is not None else "")
    return covariate_level_label(inner, level, labels, level_labels)


def _balance_stub(covariate: str, level: str, n_rows: int, labels: Mapping[str, str],
                  level_labels: Mapping[str, Mapping[Any, str]]) -> tuple[str, str]:
    """(variable label, stub of a one-row covariate): "Sex: Male" for a two-level factor's shown level."""
    name = labels.get(covariate, covariate)
    if n_rows == 1 and level and str(level).strip().lower() not in _YES:
        return name, covariate_level_label(covariate, level, labels, level_labels)
    return name, name


def _ess_note(tables: Mapping[str, Any], arm_labels: Mapping[int, str]) -> str:
    parts = []
    for est, bt in tables.items():
        ess = bt.ess.set_index("arm")
        parts.append(f"{est}: " + ", ".join(f"{arm_labels[c]} {ess.loc[a, 'ess_weighted']:.1f} of {int(ess.loc[a, 'n'])}"
                                            for a, c in (("treated", 1), ("control", 0))))
    return "Effective sample size (Kish) after weighting: " + "; ".join(parts) + "."


def balance_detail(balance, *, labels: Mapping[str, str] | None = None,
                   level_labels: Mapping[str, Mapping[Any, str]] | None = None,
                   arm_labels: Mapping[int, str] | None = None, number: int = 2,
                   caption: str | None = None) -> TableModel:
    """Balance of every covariate and level before and after weighting, for one estimand (3-decimal SMDs).

    Parameters
    ----------
    balance : BalanceTable
        From :func:`gistcausal.stats.balance.balance_table` (weighted).
    labels, level_labels : mappings, optional
        Display names of covariates and of their levels.
    arm_labels : mapping {1: str, 0: str}, optional
    number : int, default=2
        Table number in the caption.
    caption : str, optional

    Returns
    -------
    TableModel
        Columns per sample (unweighted, weighted): mean per arm (a proportion for binary rows), SMD, variance
        ratio; then "Balanced" (|SMD| after weighting below the threshold). The conventions are the footnote.
    """
    labels, level_labels = dict(labels or {}), dict(level_labels or {})
    A = dict(arm_labels or {1: "treated", 0: "control"})
    tab = balance.table
    thr = balance.threshold
    samples = [("un", "Unweighted")] + ([("w", f"Weighted ({balance.estimand})")] if balance.weighted else [])
    columns = [Column("covariate", "Covariate", kind="stub")]
    for tag, g in samples:
        columns += [Column(f"mean1_{tag}", "Mean", A[1], g, "text"), Column(f"mean0_{tag}", "Mean", A[0], g, "text"),
                    Column(f"smd_{tag}", "SMD", "", g, "smd"), Column(f"vr_{tag}", "Variance ratio", "", g, "text")]
    columns.append(Column("balanced", "Balanced", f"|SMD| < {thr:g}", None, "text"))
    rows: list[Row] = []
    tag_last = samples[-1][0]
    for cov, grp in tab.groupby("covariate", sort=False):
        name, stub = _balance_stub(cov, grp["level"].iloc[0], len(grp), labels, level_labels)
        if len(grp) > 1:
            rows.append(Row(name, "", name, tuple(EMPTY for _ in columns[1:]), 0, "variable"))
        for rec in grp.to_dict("records"):
            binary = rec["type"] == "binary"
            cells: list[Cell] = []
            for tag, _ in samples:
                mfmt, md = ("prop", 3) if binary else ("smd2", 2)
                cells += [Cell.number(rec[f"mean_treated_{tag}"], md, mfmt),
                          Cell.number(rec[f"mean_control_{tag}"], md, mfmt),
                          Cell.number(rec[f"smd_{tag}"], 3, "smd3"),
                          Cell.number(rec[f"variance_ratio_{tag}"], 2, "ratio")]
            cells.append(Cell("No" if rec[f"flag_{tag_last}"] else "Yes"))
            level = _level_label(cov, rec["level"], level_labels) if rec["level"] else ""
            if len(grp) > 1:
                rows.append(Row(name, level, level, tuple(cells), 1, "level"))
            else:
                rows.append(Row(name, level, stub, tuple(cells), 0, "single"))
    notes = [balance.conventions.replace("Balance conventions (as R cobalt): ", "Conventions (as R cobalt): ")]
    notes.append("Means of binary rows are proportions; variance ratios are given for continuous covariates only.")
    if balance.weighted:
        notes.append(_ess_note({balance.estimand: balance}, A))
    cap = caption or f"Covariate balance before and after weighting ({balance.estimand}), all covariates and levels"
    return TableModel(caption=cap, columns=tuple(columns), rows=tuple(rows), footnotes=tuple(notes), number=number)


def balance_summary(balances: Mapping[str, Any], *, labels: Mapping[str, str] | None = None,
                    arm_labels: Mapping[int, str] | None = None, number: int = 2,
                    caption: str | None = None,
                    weighting: str = "inverse probability of treatment weighting") -> TableModel:
    """One row per covariate: |SMD| before and after weighting for each estimand, the variance ratio after
    weighting and whether the covariate is balanced (the reviewer's summary; cobalt's ``bal.tab`` with
    ``disp.v.ratio = TRUE``, one estimand per column group).

    Parameters
    ----------
    balances : mapping of estimand to BalanceTable
    labels : mapping of str to str, optional
    arm_labels : mapping {1: str, 0: str}, optional
    number : int, default=2
    caption : str, optional

    Returns
    -------
    TableModel
        For a categorical covariate with more than two levels, the largest |SMD| over its levels (and
        "Balanced" only when every level is).
    """
    labels = dict(labels or {})
    A = dict(arm_labels or {1: "treated", 0: "control"})
    if not balances:
        raise DataError("balance_summary: no balance tables (got an empty mapping). Pass {estimand: BalanceTable}.")
    first = next(iter(balances.values()))
    thr = first.threshold
    columns = [Column("covariate", "Covariate", kind="stub")]
    for est in balances:
        g = f"Weighted ({est})"
        columns += [Column(f"{est}_before", "|SMD| before", "", g, "smd"),
                    Column(f"{est}_after", "|SMD| after", "", g, "smd"),
                    Column(f"{est}_vr", "Variance ratio", "after", g, "text"),
                    Column(f"{est}_ok", "Balanced", f"|SMD| < {thr:g}", g, "text")]
    order = list(dict.fromkeys(first.table["covariate"]))
    rows = []
    for cov in order:
        cells: list[Cell] = []
        for est, bt in balances.items():
            grp = bt.table[bt.table["covariate"] == cov]
            before = float(grp["smd_un"].abs().max())
            after = float(grp["smd_w"].abs().max()) if bt.weighted else math.nan
            vr = grp["variance_ratio_w" if bt.weighted else "variance_ratio_un"]
            vr_val = float(vr.iloc[0]) if len(grp) == 1 and vr.notna().all() else math.nan
            ok = not bool(grp["flag_w" if bt.weighted else "flag_un"].any())
            cells += [Cell.number(before, 2, "smd2"), Cell.number(after, 2, "smd2"), Cell.number(vr_val, 2, "ratio"),
                      Cell("Yes" if ok else "No")]
        name = labels.get(cov, cov)
        rows.append(Row(name, "", name, tuple(cells), 0, "single"))
    notes = ["|SMD|: absolute standardized mean difference (binary levels: difference in proportions), with the "
             "SD denominator of each estimand (R cobalt conventions); for a categorical covariate with more than "
             "two levels, the largest over its levels.",
             f"Variance ratio: weighted variance {A[1]} / {A[0]}, continuous covariates only; near 1 is balanced.",
             f"Balanced: |SMD| after weighting below {thr:g} for every level (Austin 2009).",
             _ess_note(balances, A) if all(b.weighted for b in balances.values()) else ""]
    cap = caption or f"Covariate balance before and after {weighting} ({_estimand_words(balances)})"
    return TableModel(caption=cap, columns=tuple(columns), rows=tuple(rows),
                      footnotes=tuple(n for n in notes if n), number=number)


__all__ = ["table_one", "TableOne", "covariate_level_label", "term_label", "balance_summary", "balance_detail", "apply_level_order", "weighted_quantile", "TYPES", "FORMATS"]
