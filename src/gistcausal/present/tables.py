"""Paper-style Table 1 by treatment arm, before and after weighting, with exports.

Cells
-----
* categorical: ``n (%)`` per level; unweighted test Pearson's chi-square without continuity correction
  (R ``chisq.test(correct = FALSE)``, SPSS "Pearson Chi-Square"); ``categorical_test="fisher"`` for Fisher's
  exact test (2 x k via scipy for 2 x 2 only), ``"yates"`` for the continuity-corrected version.
* ``continuous_mean``: ``mean (SD)``; independent two-sample t-test with pooled variance (R
  ``t.test(var.equal = TRUE)``; ``mean_test="welch"`` for Welch).
* ``continuous_median``: ``median (min-max)`` (``median_spread="range"``, as the study) or ``median (Q1-Q3)``;
  Mann-Whitney U with the normal approximation, tie and continuity corrections (R
  ``wilcox.test(exact = FALSE, correct = TRUE)``).
* Weighted columns (when ``weights`` is given): weighted n (sum of weights), weighted %, weighted mean
  (SD, with the reliability-weights variance of :mod:`gistcausal.stats.balance`), weighted median (Q1-Q3) with
  the quantile :math:`\\min\\{x: F_w(x) \\ge p\\}` (R survey ``svyquantile(qrule = "math")``), and the SMD
  after weighting (cobalt conventions, :func:`gistcausal.stats.balance.smd`). No p-values after weighting:
  balance is judged by SMDs, not tests (Austin 2009; Imai, King & Stuart 2008).
* ``suppress_below=k``: counts 1..k-1 are shown as ``<k`` (and their percentages hidden) for disclosure
  control; zero counts are shown as ``0``.

References
----------
Austin PC (2009). Stat Med 28:3083-3107. Imai K, King G, Stuart EA (2008). Misunderstandings between
experimentalists and observationalists about causal inference. JRSS A 171:481-502.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.stats.balance import _wvar, smd
from gistcausal.errors import ConfigError, DataError

TYPES = ("categorical", "continuous_mean", "continuous_median")
FORMATS = ("csv", "markdown", "latex", "html", "docx", "xlsx")


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """:math:`\\min\\{x: F_w(x) \\ge q\\}` (R survey ``svyquantile(qrule = "math")``)."""
    order = np.argsort(x, kind="stable")
    xs, ws = np.asarray(x, float)[order], np.asarray(w, float)[order]
    cdf = np.cumsum(ws) / ws.sum()
    return float(xs[np.searchsorted(cdf, q - 1e-12, side="left")])


def _fmt(v: float, digits: int) -> str:
    return "NA" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True, slots=True)
class TableOne:
    """Table 1: one row per variable header or categorical level (aggregates only).

    Attributes
    ----------
    table : DataFrame
        variable, level, one text column per arm (unweighted), ``p``, ``test``, and when weighted one text
        column per arm suffixed `` (weighted)`` and ``smd_weighted`` / ``smd_unweighted``.
    arm_labels : tuple of str
        Display names, treated first.
    n : dict
        Patients per arm.
    notes : tuple of str
        Footnotes: tests used, suppression rule, weighting conventions.
    """

    table: pd.DataFrame
    arm_labels: tuple[str, str]
    n: dict
    weighted: bool
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        return {"arm_labels": list(self.arm_labels), "n": dict(self.n), "weighted": self.weighted,
                "rows": rows, "notes": list(self.notes), "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Plain-text table with its footnotes."""
        return self.table.fillna("").to_string(index=False) + "\n" + "\n".join(self.notes)

    def _display(self) -> pd.DataFrame:
        out = self.table.copy()
        for c in [c for c in out.columns if c.startswith("smd")]:
            out[c] = out[c].map(lambda v: "" if v is None or (isinstance(v, float) and not math.isfinite(v))
                                else f"{v:.3f}")
        if "p" in out.columns:
            out["p"] = out["p"].map(lambda v: _fmt_p(v) if isinstance(v, float) else "")
        return out.fillna("")

    def to_csv(self, path: str | Path) -> Path:
        """Write the display table as CSV (UTF-8)."""
        self._display().to_csv(path, index=False)
        return Path(path)

    def to_markdown(self, path: str | Path | None = None) -> str:
        """Markdown pipe table (pipes in text escaped); written to ``path`` when given."""
        d = self._display()
        esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(esc(c) for c in d.columns) + " |", "|" + "---|" * len(d.columns)]
        lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in d.itertuples(index=False)]
        text = "\n".join(lines + [""] + [f"{n}" for n in self.notes]) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_latex(self, path: str | Path | None = None) -> str:
        """LaTeX tabular with special characters escaped."""
        def esc(s: Any) -> str:
            s = str(s)
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                         ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                         ("^", r"\textasciicircum{}"), ("<", r"\textless{}"), (">", r"\textgreater{}")):
                s = s.replace(a, b) if a != "\\" else s.replace(a, "\x00")
            return s.replace("\x00", r"\textbackslash{}")

        d = self._display()
        lines = [r"\begin{tabular}{" + "l" * len(d.columns) + "}", r"\hline",
                 " & ".join(esc(c) for c in d.columns) + r" \\", r"\hline"]
        lines += [" & ".join(esc(v) for v in row) + r" \\" for row in d.itertuples(index=False)]
        lines += [r"\hline", r"\end{tabular}"]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """HTML table; every cell is escaped."""
        d = self._display()
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in d.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in d.itertuples(index=False))
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        text = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_docx(self, path: str | Path) -> Path:
        """Word document with one table and the footnotes (python-docx)."""
        import docx

        d = self._display()
        doc = docx.Document()
        table = doc.add_table(rows=1, cols=len(d.columns))
        for cell, name in zip(table.rows[0].cells, d.columns):
            cell.text = str(name)
        for row in d.itertuples(index=False):
            for cell, v in zip(table.add_row().cells, row):
                cell.text = str(v)
        for n in self.notes:
            doc.add_paragraph(n)
        doc.save(str(path))
        return Path(path)

    def to_xlsx(self, path: str | Path) -> Path:
        """Excel workbook, sheet "Table 1" (openpyxl)."""
        d = self._display()
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            d.to_excel(xl, sheet_name="Table 1", index=False)
            pd.DataFrame({"notes": list(self.notes)}).to_excel(xl, sheet_name="Notes", index=False)
        return Path(path)

    def write(self, path: str | Path, *, format: str | None = None) -> Path:  # noqa: A002 - numpydoc name
        """Write in ``format`` (default: from the file suffix: .csv .md .tex .html .docx .xlsx)."""
        suffix = {".csv": "csv", ".md": "markdown", ".tex": "latex", ".html": "html", ".htm": "html",
                  ".docx": "docx", ".xlsx": "xlsx"}
        fmt = format or suffix.get(Path(path).suffix.lower())
        if fmt not in FORMATS:
            raise ConfigError(f"TableOne.write: format must be one of {list(FORMATS)} (got {fmt!r} for "
                              f"{str(path)!r}). Pass format= or use a known suffix.")
        getattr(self, f"to_{fmt}")(path)
        return Path(path)


def _count_cell(k: float, total: float, suppress_below: int | None, digits: int = 1) -> str:
    if suppress_below is not None and 0 < k < suppress_below and float(k).is_integer():
        return f"<{suppress_below}"
    pct = 100 * k / total if total > 0 else math.nan
    kk = f"{k:.0f}" if float(k).is_integer() else f"{k:.1f}"
    return f"{kk} ({pct:.{digits}f})"


def table_one(df: pd.DataFrame, *, treatment_col: str, covariates: Mapping[str, str], weights=None,
              arm_labels: Mapping[int, str] | None = None, tests: bool = True, suppress_below: int | None = None,
              labels: Mapping[str, str] | None = None, median_spread: Literal["range", "iqr"] = "range",
              categorical_test: Literal["chisq", "yates", "fisher"] = "chisq",
              mean_test: Literal["student", "welch"] = "student", estimand: str = "ATE",
              digits: int = 1, missing: Literal["error", "row"] = "error") -> TableOne:
    """Table 1 by arm: unweighted with tests, and optionally after weighting with SMDs.

    Parameters
    ----------
    df : DataFrame
    treatment_col : str
        0/1 treatment column.
    covariates : mapping of str to {"categorical", "continuous_mean", "continuous_median"}
        Column -> summary type, in display order.
    weights : array-like or WeightResult, optional
        Adds weighted columns and SMDs before/after weighting.
    arm_labels : mapping {1: str, 0: str}, optional
        Display names, default ``{1: "treated", 0: "control"}``.
    tests : bool, default=True
        Add p-values of the unweighted comparison.
    suppress_below : int, optional
        Show counts 1..k-1 as ``<k``.
    labels : mapping of str to str, optional
        Display names of the variables.
    median_spread : {"range", "iqr"}, default="range"
    categorical_test : {"chisq", "yates", "fisher"}, default="chisq"
    mean_test : {"student", "welch"}, default="student"
    estimand : str, default="ATE"
        SMD denominator (cobalt conventions).
    digits : int, default=1
    missing : {"error", "row"}, default="error"
        ``"row"``: summaries and tests use the observed values of each variable, and a ``missing`` row
        gives n (%) missing per arm (complete-case per variable, as SPSS and R's tableone report it).

    Returns
    -------
    TableOne
    """
    where = "table_one"
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} is not in the data (got columns "
                        f"{list(df.columns)[:10]}). Pass treatment_col= one of the data's columns.")
    t = df[treatment_col].to_numpy()
    if not np.all(np.isin(t, (0, 1))):
        raise DataError(f"{where}: column {treatment_col!r} must be coded 0/1 (got values "
                        f"{sorted(map(str, pd.unique(t)))[:5]}). Recode 1 = treated, 0 = control.")
    t = t.astype(int)
    arm_labels = dict(arm_labels or {1: "treated", 0: "control"})
    labels = dict(labels or {})
    w = None if weights is None else np.asarray(getattr(weights, "weights", weights), dtype=float)
    if w is not None and w.shape != t.shape:
        raise DataError(f"{where}: weights must have one value per row (got {w.shape} for {t.size} rows). "
                        "Pass WeightResult.weights computed on this data.")
    A = {1: arm_labels[1], 0: arm_labels[0]}
    WA = {k: f"{v} (weighted)" for k, v in A.items()}
    rows: list[dict[str, Any]] = []
    head = {"variable": "Number of patients", "level": "", A[1]: str(int((t == 1).sum())),
            A[0]: str(int((t == 0).sum()))}
    if w is not None:
        head.update({WA[1]: f"{w[t == 1].sum():.1f}", WA[0]: f"{w[t == 0].sum():.1f}"})
    rows.append(head)
    used_tests = set()
    for col, kind in covariates.items():
        if kind not in TYPES:
            raise ConfigError(f"{where}: covariates[{col!r}] must be one of {list(TYPES)} (got {kind!r}). "
                              "Pick one of these.")
        if col not in df.columns:
            raise DataError(f"{where}: column {col!r} is not in the data (got columns {list(df.columns)[:10]}). "
                            "Fix the covariate name.")
        s = df[col]
        name = labels.get(col, col)
        miss_rows: list[dict[str, Any]] = []
        if s.isna().any():
            if missing != "row":
                raise DataError(f"{where}: column {col!r} has {int(s.isna().sum())} missing values (got NaN). Map "
                                "them to a 'not reported' level, impute them first, or pass missing='row'.")
            na = s.isna().to_numpy()
            miss_rows.append({"variable": name, "level": "missing",
                              A[1]: _count_cell(int((na & (t == 1)).sum()), int((t == 1).sum()), suppress_below, digits),
                              A[0]: _count_cell(int((na & (t == 0)).sum()), int((t == 0).sum()), suppress_below, digits)})
            keep_obs = ~na
            s, t_all, w_all = s[keep_obs], t, w
            t = t[keep_obs]
            w = None if w is None else w[keep_obs]
        else:
            t_all, w_all = t, w
        if kind == "categorical":
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(pd.unique(s))
            counts = np.array([[int(((s == lv) & (t == arm)).sum()) for lv in levels] for arm in (1, 0)])
            p, test = math.nan, ""
            if tests:
                nz = counts[:, counts.sum(axis=0) > 0]
                if categorical_test == "fisher":
                    if nz.shape != (2, 2):
                        raise ConfigError(f"{where}: categorical_test='fisher' needs a 2 x 2 table (got 2 x "
                                          f"{nz.shape[1]} for {col!r}). Use categorical_test='chisq'.")
                    p, test = float(stats.fisher_exact(nz).pvalue), "Fisher's exact"
                else:
                    p = float(stats.chi2_contingency(nz, correction=categorical_test == "yates").pvalue)
                    test = "chi-square" + (" (Yates)" if categorical_test == "yates" else "")
                used_tests.add(test)
            rows.append({"variable": name, "level": "", "p": p, "test": test})
            for j, lv in enumerate(levels):
                x = (s == lv).to_numpy(dtype=float)
                row = {"variable": name, "level": str(lv),
                       A[1]: _count_cell(counts[0, j], counts[0].sum(), suppress_below, digits),
                       A[0]: _count_cell(counts[1, j], counts[1].sum(), suppress_below, digits)}
                if w is not None:
                    for arm in (1, 0):
                        m = t == arm
                        row[WA[arm]] = _count_cell(float(np.sum(w[m] * x[m])), float(w[m].sum()), None, digits)
                    row["smd_unweighted"] = smd(x, t, estimand=estimand)
                    row["smd_weighted"] = smd(x, t, weights=w, estimand=estimand)
                rows.append(row)
            rows.extend(miss_rows)
            t, w = t_all, w_all
            continue
        x = s.to_numpy(dtype=float)
        row = {"variable": name, "level": "mean (SD)" if kind == "continuous_mean" else
               ("median (range)" if median_spread == "range" else "median (IQR)")}
        for arm in (1, 0):
            xa = x[t == arm]
            if kind == "continuous_mean":
                row[A[arm]] = f"{_fmt(xa.mean(), digits)} ({_fmt(np.std(xa, ddof=1), digits)})"
            elif median_spread == "range":
                row[A[arm]] = f"{_fmt(np.median(xa), digits)} ({_fmt(xa.min(), digits)}-{_fmt(xa.max(), digits)})"
            else:
                q1, q3 = np.quantile(xa, [0.25, 0.75])
                row[A[arm]] = f"{_fmt(np.median(xa), digits)} ({_fmt(q1, digits)}-{_fmt(q3, digits)})"
            if w is not None:
                wa = w[t == arm]
                if kind == "continuous_mean":
                    m = float(np.sum(wa * xa) / wa.sum())
                    row[WA[arm]] = f"{_fmt(m, digits)} ({_fmt(math.sqrt(_wvar(xa, wa)), digits)})"
                else:
                    qs = [weighted_quantile(xa, wa, q) for q in (0.5, 0.25, 0.75)]
                    row[WA[arm]] = f"{_fmt(qs[0], digits)} ({_fmt(qs[1], digits)}-{_fmt(qs[2], digits)})"
        if tests:
            x1, x0 = x[t == 1], x[t == 0]
            if kind == "continuous_mean":
                row["p"] = float(stats.ttest_ind(x1, x0, equal_var=mean_test == "student").pvalue)
                row["test"] = "t-test" + (" (Welch)" if mean_test == "welch" else "")
            else:
                row["p"] = float(stats.mannwhitneyu(x1, x0, alternative="two-sided", method="asymptotic",
                                                    use_continuity=True).pvalue)
                row["test"] = "Mann-Whitney U"
            used_tests.add(row["test"])
        if w is not None:
            row["smd_unweighted"] = smd(x, t, estimand=estimand)
            row["smd_weighted"] = smd(x, t, weights=w, estimand=estimand)
        rows.append(row)
        rows.extend(miss_rows)
        t, w = t_all, w_all
    cols = ["variable", "level", A[1], A[0]] + ([WA[1], WA[0], "smd_unweighted", "smd_weighted"] if w is not None
                                                 else []) + (["p", "test"] if tests else [])
    table = pd.DataFrame(rows).reindex(columns=cols)
    notes = ["Categorical: n (%); continuous: mean (SD) or median (" +
             ("range" if median_spread == "range" else "Q1-Q3") + ")."]
    if tests:
        notes.append("Unweighted p-values: " + ", ".join(sorted(used_tests)) +
                     " (chi-square without continuity correction unless stated).")
    if w is not None:
        notes.append(f"Weighted columns: weighted n and %, mean (SD), median (Q1-Q3); SMDs with cobalt "
                     f"conventions for estimand {estimand}; no p-values after weighting.")
    if suppress_below is not None:
        notes.append(f"Counts below {suppress_below} are suppressed (shown as <{suppress_below}).")
    return TableOne(table=table, arm_labels=(A[1], A[0]), n={A[1]: int((t == 1).sum()), A[0]: int((t == 0).sum())},
                    weighted=w is not None, notes=tuple(notes))


__all__ = ["table_one", "TableOne", "weighted_quantile", "TYPES", "FORMATS"]
