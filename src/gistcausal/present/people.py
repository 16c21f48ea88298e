"""Tables for people: a results frame (codes, full precision) as a reader sees it.

The frames the analysis layers return (estimates, numbers at risk, weights, propensity coefficients, the
specification grid, refuters, plasmode metrics, ...) hold codes and floats at full precision: they are data,
written as such to ``tables/<name>.csv``. A person reads the same table in the HTML report and in
``tables/<name>.md``, ``.html``, ``.tex``, ``.docx`` and ``.xlsx``; there, one set of rules applies
(:func:`people_model`, :func:`people_frame`):

- column codes as words (``ci_low`` -> "95% CI low", ``smd_w`` -> "SMD (weighted)"; :func:`column_heading`);
- codes as the config's labels in the columns that hold them: arms (``arm``, ``strategy``, ``contrast`` with
  "a vs b"; the roles "treated", "control" and "overall" of the weight diagnostics), outcomes, covariates and
  propensity-model terms ("Sex: Male"), measures ("Survival difference"), methods, variance estimators and
  DoWhy refuters;
- p-values in journal style (``<0.001``, else three decimals); counts and whole-number times without
  decimals; other numbers rounded per column by the size of the column's smaller values (:func:`decimals_for`):
  2 decimals for values between 0.1 and 10 (hazard ratios, survival, E-values), 3 below 0.1 (SMDs,
  per-year coefficients), 4 below 0.01, 1 from 10 on (ages, effective sample sizes);
- True/False as Yes/No, missing values blank, nested values (``extra``) as ``key: value`` text (numbers to
  three significant digits);
- text already formatted (a suppressed count "<5", "0.68 (0.45 to 1.03)") kept as it is.

Excel keeps the numbers as numbers with the number format of the text shown (:class:`TableModel` cells'
``parts``). Nothing here evaluates text; labels come from the config only.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.present.table_model import EMPTY, Cell, Column, Row, TableModel, fmt_num, fmt_p

#: Column codes of the results frames, for a reader (the rest: :func:`column_heading`'s word rules).
HEADINGS = {"ci_low": "95% CI low", "ci_high": "95% CI high", "ci_low_adj": "Adjusted 95% CI low",
            "ci_high_adj": "Adjusted 95% CI high", "hr_adj": "Adjusted HR", "ci_includes_null": "CI includes the null",
            "p_treated": "Prevalence in the treated", "p_control": "Prevalence in the controls",
            "prev_treated": "Prevalence in the treated", "prev_control": "Prevalence in the controls",
            "evalue_ci": "E-value of the CI limit", "top1_share": "Share of the top 1%", "p_value": "p",
            "global_p": "Global p", "num_simulations": "Simulations", "dowhy_method": "DoWhy method",
            "n_nonfinite": "Not estimable", "n_used": "Replicates used", "ess_after_grace": "ESS after the grace period",
            "n_at_risk": "Number at risk", "weighted_n_at_risk": "Weighted number at risk", "se": "SE",
            "value": "Estimate", "new_effect": "New effect", "new_effect_low": "New effect, 95% CI low",
            "new_effect_high": "New effect, 95% CI high", "n_before": "Patients before", "n_removed": "Removed",
            "n_after": "Patients after", "ess": "ESS", "sd": "SD"}
_WORDS = {"un": "(unweighted)", "w": "(weighted)", "se": "SE", "ci": "CI", "mcse": "MC SE", "hr": "HR", "rr": "RR",
          "ks": "KS", "smd": "SMD", "ess": "ESS", "n": "n", "p": "p", "rmst": "RMST", "cif": "CIF", "evalue": "E-value",
          "rmse": "RMSE", "z": "z", "chisq": "Chi-square", "p01": "1st percentile", "p99": "99th percentile",
          "q1": "Lower quartile", "q3": "Upper quartile"}

#: Effect measures as a reader names them (estimates of every outcome type).
MEASURE_NAMES = {"median": "Median", "surv": "Survival", "surv_diff": "Survival difference",
                 "surv_ratio": "Survival ratio", "rmst": "RMST", "rmst_diff": "RMST difference",
                 "hr": "Hazard ratio", "logrank_p": "Log-rank p", "mann_whitney_p": "Mann-Whitney p",
                 "cif": "Cumulative incidence", "cif_diff": "Difference in cumulative incidence",
                 "cif_ratio": "Ratio of cumulative incidences", "rmtl": "Restricted mean time lost",
                 "rmtl_diff": "Difference in restricted mean time lost", "cs_hr": "Cause-specific hazard ratio",
                 "cs_logrank_p": "Weighted log-rank test (p)", "risk": "Risk", "risk_diff": "Risk difference",
                 "risk_ratio": "Risk ratio", "odds_ratio": "Odds ratio", "mean": "Mean",
                 "mean_diff": "Mean difference"}
#: Estimation methods of :class:`~gistcausal.effects.Estimate` and the plasmode metrics.
METHOD_NAMES = {"unadjusted": "Unadjusted", "iptw": "IPTW", "aiptw": "Doubly robust (AIPTW)",
                "ccw": "Clone-censor-weight", "adjusted": "Covariate-adjusted Cox", "matching": "Matching",
                "sequential_trials": "Sequential trials", "truth": "True value", "iptw_pseudo": "IPTW (pseudo-values)"}
#: Variance estimators.
VARIANCE_NAMES = {"robust": "Robust (sandwich)", "greenwood": "Greenwood", "bootstrap": "Bootstrap",
                  "bootstrap_percentile": "Bootstrap (percentile)", "m_estimation": "M-estimation",
                  "m_estimation_corrected": "M-estimation (small-sample corrected)", "model": "Model-based",
                  "influence_function": "Influence function", "monte_carlo": "Monte Carlo", "none": ""}

#: DoWhy refuters (``analysis.sensitivity.refuters``).
REFUTER_NAMES = {"placebo_treatment": "Placebo treatment", "random_common_cause": "Random common cause",
                 "data_subset": "Data subset", "bootstrap": "Bootstrap with noisy covariates",
                 "add_unobserved_common_cause": "Simulated unobserved common cause"}

_ARM_COLUMNS = frozenset({"arm", "strategy", "contrast", "treatment"})
_COVARIATE_COLUMNS = frozenset({"covariate", "variable", "term"})
_P_COLUMNS = frozenset({"p", "p_value", "pvalue", "global_p"})
_NOT_APPLICABLE = {"estimand": {"none"}}


def column_heading(name: Any) -> Any:
    """A snake_case column code as words for a reader (``smd_w`` -> "SMD (weighted)", ``model_se`` -> "Model
    SE"); headings that are not codes (labels, arm names, anything with a capital or a space) are kept as given."""
    if not isinstance(name, str) or not name or not all(c.islower() or c.isdigit() or c == "_" for c in name):
        return name
    if name in HEADINGS:
        return HEADINGS[name]
    parts = [w for w in name.split("_") if w]
    if not parts:
        return name
    text = " ".join(_WORDS.get(w, w) for w in parts)
    return text if parts[0] in _WORDS else text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Vocabulary:
    """Codes -> labels for the tables of one run (all from the config): arms (with the roles "treated",
    "control" and "overall" of the weight diagnostics), outcomes, covariates and their levels."""

    arms: Mapping[str, str] = field(default_factory=dict)
    outcomes: Mapping[str, str] = field(default_factory=dict)
    covariates: Mapping[str, str] = field(default_factory=dict)
    levels: Mapping[str, Mapping[Any, str]] = field(default_factory=dict)

    def arm(self, code: str) -> str:
        """An arm code, a role, or a contrast ``"a vs b"`` with each arm labelled."""
        return " vs ".join(self.arms.get(part, part) for part in code.split(" vs "))

    def term(self, code: str) -> str:
        """A covariate, a propensity-model term (``sex[male]``, ``log(size)``), a covariate and level
        (``sex: male``) or a median split (``age > median``) with the config's labels; anything else unchanged."""
        from gistcausal.present.tables import covariate_level_label, term_label

        name, sep, level = code.partition(": ")
        if sep and name in self.covariates:
            return covariate_level_label(name, level, self.covariates, self.levels)
        if code.endswith(" > median") and code[:-len(" > median")] in self.covariates:
            return f"{self.covariates[code[:-len(' > median')]]} > median"
        return term_label(code, self.covariates, self.levels)


def vocabulary(results: Any) -> Vocabulary:
    """The :class:`Vocabulary` of a run's config (an :class:`~gistcausal.results.AnalysisResults`)."""
    from gistcausal.analysis.spec import covariate_labels, level_labels

    cfg = results.config
    tr = cfg.treatment
    arms = {a: tr.label(a) for a in tr.arms}
    roles = {"overall": "All arms"}
    if len(tr.arms) == 2:
        roles.update({"treated": tr.label(tr.treated), "control": tr.label(tr.control)})
    arms = {**{k: v for k, v in roles.items() if k not in arms}, **arms}
    return Vocabulary(arms=arms, outcomes={n: o.label for n, o in cfg.outcomes.items()},
                      covariates=covariate_labels(cfg), levels=level_labels(cfg))


def decimals_for(values: np.ndarray) -> int:
    """Decimals for a column of numbers by the size of its smaller values (the lower quartile of the nonzero
    finite absolute values, so that most of the column keeps two significant digits): 1 from 10 on, 2 from
    0.1, 3 from 0.01, else 4."""
    v = np.abs(values[np.isfinite(values) & (values != 0)])
    if not v.size:
        return 2
    m = float(np.percentile(v, 25))
    return 1 if m >= 10 else 2 if m >= 0.1 else 3 if m >= 0.01 else 4


def _is_p_column(name: str) -> bool:
    return name in _P_COLUMNS or name.endswith("_p")


def _nested_text(v: Mapping | list | tuple) -> str:
    if isinstance(v, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {_plain(x)}" for k, x in v.items())
    return ", ".join(_plain(x) for x in v)


def _plain(v: Any) -> str:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.3g}"
    return str(v)


def _column_cells(name: str, s: pd.Series, vocab: Vocabulary) -> list[Cell]:
    """The cells of one column by the rules of the module docstring."""
    values = list(s)
    numeric = [v for v in values if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               and not isinstance(v, np.bool_)]
    digits = decimals_for(np.asarray(numeric, dtype=float)) if numeric else 2
    whole = all(float(v).is_integer() for v in numeric if math.isfinite(float(v)))
    fmt = "0." + "0" * digits
    cells = []
    for v in values:
        if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v))):
            cells.append(EMPTY)
        elif isinstance(v, (bool, np.bool_)):
            cells.append(Cell("Yes" if v else "No"))
        elif isinstance(v, (Mapping, list, tuple)):
            cells.append(Cell(_nested_text(v)))
        elif isinstance(v, (int, float, np.integer, np.floating)):
            x = float(v)
            if _is_p_column(name):
                cells.append(Cell.p_value(x))
            elif whole and abs(x) < 1e15:
                cells.append(Cell(str(int(round(x))), ((int(round(x)), "0"),)))
            elif 0 < abs(x) < 0.5 * 10 ** -digits and digits == 4:   # tiny: two significant digits
                cells.append(Cell(f"{x:.2g}", ((x, "0.0E+00"),)))
            else:
                cells.append(Cell(fmt_num(x, digits), ((x, fmt),)))
        else:
            cells.append(Cell(_code_text(name, str(v), vocab)))
    return cells


def _code_text(name: str, text: str, vocab: Vocabulary) -> str:
    """A text cell: a code of a labelled column as its label, anything else unchanged."""
    if text in _NOT_APPLICABLE.get(name, ()):
        return ""
    if name in _ARM_COLUMNS:
        return vocab.arm(text)
    if name == "outcome":
        return vocab.outcomes.get(text, text)
    if name == "measure":
        return MEASURE_NAMES.get(text, text)
    if name == "method":
        return METHOD_NAMES.get(text, text)
    if name == "variance":
        return VARIANCE_NAMES.get(text, text)
    if name == "refuter":
        return REFUTER_NAMES.get(text, text)
    if name in _COVARIATE_COLUMNS:
        return vocab.term(text)
    return text


def people_model(df: pd.DataFrame, vocab: Vocabulary | None = None, *, caption: str | None = None,
                 footnotes: tuple[str, ...] = ()) -> TableModel:
    """``df`` as a table for people (module docstring): the first column as the stub, headings in words, codes
    as labels, numbers rounded per column (and kept numeric for Excel). ``caption`` is printed above it,
    unnumbered. A frame without columns becomes a one-cell table saying there is nothing to report."""
    vocab = vocab or Vocabulary()
    if len(df.columns) == 0:
        df = pd.DataFrame({"": ["(nothing to report)"]})
    names = [str(c) for c in df.columns]
    columns = [_column_cells(n, df.iloc[:, j], vocab) for j, n in enumerate(names)]
    cols = tuple(Column(key=n, label=str(column_heading(n)), kind="stub" if j == 0 else "text")
                 for j, n in enumerate(names))
    rows = tuple(Row(variable=columns[0][i].text, level="", stub=columns[0][i].text,
                     cells=tuple(c[i] for c in columns[1:])) for i in range(len(df)))
    return TableModel(caption=caption, columns=cols, rows=rows, footnotes=footnotes, number=None)


def people_frame(df: pd.DataFrame, vocab: Vocabulary | None = None) -> pd.DataFrame:
    """The text of :func:`people_model` as a frame (headings in words), for the HTML report."""
    if len(df.columns) == 0:
        return df
    model = people_model(df, vocab)
    # rows as lists: two codes with the same heading keep both columns
    return pd.DataFrame([[r.stub] + [c.text for c in r.cells] for r in model.rows],
                        columns=[c.label for c in model.columns])


__all__ = ["Vocabulary", "vocabulary", "people_model", "people_frame", "column_heading", "decimals_for",
           "MEASURE_NAMES", "METHOD_NAMES", "VARIANCE_NAMES", "REFUTER_NAMES", "HEADINGS"]
