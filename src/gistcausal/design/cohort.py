"""Target-trial protocol applied to records: eligibility cascade, arms, time zero and outcomes.

:func:`build_cohort` turns registry records (dates and codes) into an analysis cohort following the config's
protocol, step by step and in the configured order, counting who each step removes (the CONSORT-style flow).
It also accepts an analysis-ready table (``table:`` configs), where the flow is just "all rows" -> "complete
data" -> arms.

Time scales: outcome times are ``(date - start) / 30.4375`` months when ``time_unit`` is months (days / 365.25
* 12), days or years likewise. The start is time zero (the protocol's ``time_zero`` column, e.g. start of
second-line treatment) unless an outcome names another ``start`` (e.g. date of diagnosis for OS from
diagnosis).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gistcausal._checks import closest, loose
from gistcausal.design.checks import check_covariate_types
from gistcausal.design.codes import code_mask, code_text, code_texts
from gistcausal.design.config import Criterion, DerivedColumn, EligibilityStep, Outcome, StudyConfig, yaml_value
from gistcausal.design.data import DAYS_PER_MONTH, require_columns
from gistcausal.errors import CohortError, ConfigError, DataError, DataQualityWarning

_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": DAYS_PER_MONTH, "years": 365.25}


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One box of the flow diagram: who entered, who the step removed and why, who remained."""

    label: str
    kind: str  # "start", "include", "exclude", "arm"
    rule: str
    n_before: int
    n_removed: int
    n_after: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "rule": self.rule, "n_before": self.n_before,
                "n_removed": self.n_removed, "n_after": self.n_after}


@dataclass(frozen=True, slots=True)
class FlowCounts:
    """The patient flow: the steps in order and the final arm sizes (aggregates only)."""

    steps: tuple[FlowStep, ...]
    arms: tuple[tuple[str, int], ...]
    start_label: str = "All records"

    @property
    def n_start(self) -> int:
        return self.steps[0].n_before

    @property
    def n_final(self) -> int:
        return self.steps[-1].n_after

    def to_frame(self) -> pd.DataFrame:
        rows = [s.to_dict() for s in self.steps]
        rows += [{"label": f"Arm: {a}", "kind": "arm", "rule": "", "n_before": self.n_final, "n_removed": 0,
                  "n_after": n} for a, n in self.arms]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start_label, "n_start": self.n_start, "steps": [s.to_dict() for s in self.steps],
                "n_final": self.n_final, "arms": dict(self.arms)}

    def summary(self) -> str:
        lines = [f"{self.start_label}: n = {self.n_start}"]
        for s in self.steps:
            verb = "excluded" if s.kind == "exclude" else "not meeting"
            lines.append(f"  - {verb} '{s.label}' ({s.rule}): {s.n_removed} -> {s.n_after} remain")
        lines.append("  arms: " + ", ".join(f"{a} n = {n}" for a, n in self.arms))
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class OutcomeInfo:
    """Aggregate description of an outcome in the cohort (no patient rows)."""

    name: str
    label: str
    type: str
    time_col: str
    event_col: str | None
    n: int
    n_events: int
    start: str
    causal: bool


@dataclass(frozen=True)
class Cohort:
    """The analysis cohort.

    ``frame`` is patient-level and stays inside the estimators (it is never written to reports): one row
    per patient with ``arm`` (the arm name), ``treatment`` (1 = treated arm, 0 = control), the covariates and,
    per outcome ``o``, ``o_time`` and ``o_event`` (or ``o_time`` only for durations, NaN when not
    applicable). ``to_dict`` gives aggregates only.
    """

    frame: pd.DataFrame
    flow: FlowCounts
    treated: str
    control: str
    outcomes: tuple[OutcomeInfo, ...]
    covariates: tuple[str, ...]
    time_unit: str
    warnings: tuple[str, ...] = field(default=())

    def outcome(self, name: str) -> OutcomeInfo:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise ConfigError(f"outcome '{name}' is not defined (outcomes: {', '.join(o.name for o in self.outcomes)}). "
                          "Use one of the configured outcome names.")

    def to_dict(self) -> dict[str, Any]:
        return {"flow": self.flow.to_dict(), "n": int(len(self.frame)), "treated": self.treated,
                "control": self.control, "time_unit": self.time_unit,
                "outcomes": {o.name: {"label": o.label, "type": o.type, "n": o.n, "n_events": o.n_events,
                                      "start": o.start} for o in self.outcomes}}


# ------------------------------------------------------------------------------------------- criteria
def evaluate(crit: Criterion, df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows satisfying a criterion; missing values satisfy only ``missing: true``."""
    if crit.all_ is not None:
        return np.logical_and.reduce([evaluate(c, df) for c in crit.all_]) if crit.all_ else np.ones(len(df), bool)
    if crit.any_ is not None:
        return np.logical_or.reduce([evaluate(c, df) for c in crit.any_]) if crit.any_ else np.zeros(len(df), bool)
    if crit.not_ is not None:
        return ~evaluate(crit.not_, df)
    s = df[crit.column]
    present = s.notna().to_numpy()
    if crit.missing is not None:
        return ~present if crit.missing else present
    if crit.in_ is not None or crit.not_in is not None:
        values = crit.in_ if crit.in_ is not None else crit.not_in
        hit = code_mask(s, values) & present
        return hit if crit.in_ is not None else (present & ~hit)
    if crit.eq is not None:
        return code_mask(s, [crit.eq]) & present
    if crit.ne is not None:
        return ~code_mask(s, [crit.ne]) & present
    if crit.before_column is not None or crit.after_column is not None:
        other = df[crit.before_column or crit.after_column]
        both = present & other.notna().to_numpy()
        cmp = (s < other) if crit.before_column is not None else (s > other)
        return cmp.fillna(False).to_numpy(dtype=bool) & both
    for op, fn in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
        bound = getattr(crit, op)
        if bound is None:
            continue
        if pd.api.types.is_datetime64_any_dtype(s):
            b = pd.Timestamp(bound)
            return fn(s, b).fillna(False).to_numpy(dtype=bool) & present
        if not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"column '{crit.column}': comparison '{op}: {bound}' needs a numeric or date column "
                            f"(got dtype {s.dtype}). Use 'in'/'eq' for codes, or list the column under data.dates.")
        return fn(s.to_numpy(dtype=float, na_value=np.nan), float(bound)) & present
    raise ConfigError(f"criterion on '{crit.column}' has no comparison. Give one of in, eq, lt, ...")  # pragma: no cover


def _span(start: pd.Series, end: pd.Series, unit: str) -> np.ndarray:
    days = (end - start).dt.total_seconds().to_numpy() / 86400.0
    return days / _UNIT_DAYS[unit]


def _zero_time_warning(where: str, name: str, key: str, t: np.ndarray) -> list[str]:
    """Zero follow-up: legal (an event or censoring on day 0) but often a date-entry artefact; counted."""
    n0 = int(np.sum(t == 0))
    if n0 == 0:
        return []
    return [f"{where}: outcome '{name}' ({key}): {n0} patient(s) have zero follow-up time (got time 0). They "
            "enter the risk set at time zero only; if the dates were entered as placeholders, correct them or "
            "exclude these patients in the eligibility steps."]


# ------------------------------------------------------------------------------------------- building
def _used_columns(cfg: StudyConfig) -> dict[str, str]:
    """Every column the protocol reads, with its expected kind and the config key asking for it."""
    p = cfg.protocol
    assert p is not None
    need: dict[str, str] = {}
    derived = set(p.derived)
    for name, d in p.derived.items():
        kind = "any" if d.recode is not None else "date"
        for c in d.source_columns():
            if c not in derived:
                need.setdefault(c, f"{kind}@protocol.derived.{name}")
    for i, step in enumerate(p.eligibility):
        crit = step.include or step.exclude
        for c in crit.columns():
            if c not in derived:
                need.setdefault(c, f"any@protocol.eligibility[{i}] ({step.label})")
    need[p.treatment.column] = "any@protocol.treatment.column"
    need[p.time_zero] = "date@protocol.time_zero"
    if p.eligibility_date:
        need[p.eligibility_date] = "date@protocol.eligibility_date"
    for name, o in p.outcomes.items():
        for c in o.events:
            need[c] = f"date@protocol.outcomes.{name}.events"
        if o.censor:
            need[o.censor] = f"date@protocol.outcomes.{name}.censor"
        if o.start:
            need[o.start] = f"date@protocol.outcomes.{name}.start"
        for arm, ao in o.by_arm.items():
            need[ao.start] = f"date@protocol.outcomes.{name}.by_arm.{arm}.start"
            need[ao.end] = f"date@protocol.outcomes.{name}.by_arm.{arm}.end"
            if ao.require:
                for c in ao.require.columns():
                    need.setdefault(c, f"any@protocol.outcomes.{name}.by_arm.{arm}.require")
    for c in cfg.covariates:
        if c not in derived:
            need.setdefault(c, f"any@covariates.{c}")
    return need


def _prepare_covariates(cfg: StudyConfig, frame: pd.DataFrame, where: str) -> tuple[pd.DataFrame, list[FlowStep]]:
    """Apply each covariate's missing-data rule; complete-case drops become flow steps."""
    steps: list[FlowStep] = []
    out = frame.copy()
    for name, cov in cfg.covariates.items():
        miss = out[name].isna()
        if cov.type == "categorical" or cov.type == "binary":
            if cov.missing == "category":
                out[name] = out[name].astype(object).where(~miss, cov.missing_label)
                continue
        if not miss.any():
            continue
        if cov.missing == "error" or (cov.missing == "category" and cov.type == "continuous"):
            raise DataError(f"{where}: column '{name}' has {int(miss.sum())} missing value(s) in the cohort. Set "
                            f"covariates.{name}.missing to 'complete_case' or 'impute'"
                            + (", or 'category' to keep them as a level" if cov.type != "continuous" else "")
                            + ".")
        if cov.missing == "complete_case":
            n0 = len(out)
            out = out.loc[~miss].reset_index(drop=True)
            steps.append(FlowStep(f"Missing {name} (complete case)", "exclude", f"{name} is missing", n0,
                                  n0 - len(out), len(out)))
    return out, steps


def _apply_levels(cfg: StudyConfig, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Covariates with ``levels``: a pandas Categorical with the levels in the configured order, so the first
    level is the propensity model's reference and Table 1 lists levels in that order.

    Values match levels by their text (``1`` matches ``"1"``), as eligibility criteria do. The label of
    ``missing: category`` joins the levels at the end when it is not listed. Levels not seen in the cohort
    are dropped (an all-zero indicator would make the propensity model singular).
    """
    out = frame
    for name, cov in cfg.covariates.items():
        if cov.levels is None:
            continue
        levels = list(cov.levels)
        if cov.missing == "category" and str(cov.missing_label) not in map(str, levels):
            levels.append(cov.missing_label)
        lookup = {str(lv): lv for lv in levels}

        def key(v: Any) -> str:
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return str(int(v))
            return str(v)

        s = out[name]
        present = s.notna().to_numpy()
        codes = _level_codes(s, levels, key)
        if codes is None:
            mapped = s.map(lambda v: lookup.get(key(v)) if pd.notna(v) else None)
            unknown = present & mapped.isna().to_numpy()
        else:
            unknown = present & (codes < 0)
        if unknown.any():
            codes = sorted({key(v) for v in s[unknown]})
            shown = ", ".join(repr(c) for c in codes[:5]) + (", ..." if len(codes) > 5 else "")
            listed = ", ".join(map(str, levels + codes[:5]))
            raise DataError(f"{cfg.locate(f'covariates.{name}.levels')}: column '{name}' has {int(unknown.sum())} value(s) outside "
                            f"covariates.{name}.levels (got {shown}; levels: {', '.join(map(str, levels))}). Add "
                            f"the codes, e.g. `covariates: {{{name}: {{levels: [{listed}]}}}}`, or recode them in "
                            "the data.")
        if codes is None:
            cat = pd.Categorical(mapped.where(present, None), categories=levels, ordered=False)
        else:
            cat = pd.Categorical.from_codes(codes, categories=levels, ordered=False)
        if out is frame:
            out = frame.copy()
        out[name] = pd.Series(cat, index=out.index).cat.remove_unused_categories()
    return out


def _level_codes(s: pd.Series, levels: list[Any], key: Any) -> np.ndarray | None:
    """Category codes of ``s`` against ``levels`` (-1: missing or not a level), matched by text as
    :func:`_apply_levels` does, computed once per distinct value instead of once per patient. None for
    columns whose distinct values could compare equal across types (object columns mixing ``True`` and ``1``),
    which keep the per-value path."""
    kind = s.dtype.kind
    if not (kind in "biuf" or (kind == "O" and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"))):
        return None
    pos = {str(lv): i for i, lv in enumerate(levels)}
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.array([pos.get(key(u), -1) for u in uniques] + [-1], dtype=np.int64)
    return table[codes]   # the sentinel -1 indexes the trailing -1


def apply_eligibility(steps: list[EligibilityStep], df: pd.DataFrame) -> tuple[pd.DataFrame, list[FlowStep]]:
    """Apply eligibility steps in order; returns the remaining rows and one :class:`FlowStep` per step.

    Each step evaluates its criterion on the columns it reads, for the rows still in; the remaining rows are
    taken from ``df`` once at the end (criteria are row-wise, so this equals filtering the frame at every step,
    without copying every column at every step)."""
    flow: list[FlowStep] = []
    rows = np.arange(len(df))
    for step in steps:
        crit = step.include or step.exclude
        cols = sorted(crit.columns(), key=str)
        view = df[cols] if len(rows) == len(df) else df[cols].take(rows)
        hit = evaluate(crit, view)
        keep = hit if step.include is not None else ~hit
        n0 = len(rows)
        rows = rows[keep]
        flow.append(FlowStep(step.label, "include" if step.include is not None else "exclude", crit.describe(),
                             n0, n0 - len(rows), len(rows)))
    current = df.take(rows)
    current.index = pd.RangeIndex(len(current))
    return current, flow


def unmatched_codes(steps: list[EligibilityStep], df: pd.DataFrame, key: str) -> list[str]:
    """Warnings for the codes of eligibility criteria (``in``, ``not_in``, ``eq``, ``ne``, nested ones too) that
    no record of their column holds: a misspelt code ("kit_exon_9x") silently includes or excludes nobody.
    Each names the step, the column, its codes and the nearest one. The codes are compared as
    :func:`~gistcausal.design.codes.code_text`, on the column's distinct values."""
    out: list[str] = []
    present: dict[str, set[str]] = {}

    def walk(label: str, crit: Criterion) -> None:
        for sub in (crit.all_ or []) + (crit.any_ or []) + ([crit.not_] if crit.not_ is not None else []):
            walk(label, sub)
        codes = [*(crit.in_ or []), *(crit.not_in or [])] + [v for v in (crit.eq, crit.ne) if v is not None]
        if crit.column is None or not codes or crit.column not in df.columns:
            return
        if crit.column not in present:
            values = pd.unique(df[crit.column].dropna())
            present[crit.column] = {code_text(v) for v in values}
        have = present[crit.column]
        missing = [code_text(c) for c in codes if code_text(c) not in have]
        if not missing or len(have) > 1000:   # a free-text or numeric column: codes are not a closed list
            return
        shown = ", ".join(repr(v) for v in sorted(have)[:12]) + (", ..." if len(have) > 12 else "")
        near = [m for m in (closest(c, sorted(have)) for c in missing) if m is not None]
        hint = f" Did you mean {', '.join(repr(m) for m in near)}?" if near else ""
        out.append(f"{key} '{label}': no record of column '{crit.column}' has the code(s) "
                   f"{', '.join(repr(m) for m in missing)} (got codes {shown}), so the step never applies to them."
                   f"{hint} Check the spelling of the codes.")

    for step in steps:
        walk(step.label, step.include or step.exclude)
    return out


def _derive(name: str, d: DerivedColumn, df: pd.DataFrame, where: str) -> np.ndarray | pd.Series:
    cols = d.source_columns()
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{where}: protocol.derived.{name}: column(s) {missing} not found. Available columns: "
                        f"{', '.join(map(str, df.columns[:40]))}. Fix the column names.")
    if d.recode is not None:
        s = df[d.recode.column].astype(object)
        out = s.copy() if d.recode.other is None else pd.Series(d.recode.other, index=s.index, dtype=object)
        for level, codes in d.recode.map.items():
            out[code_mask(s, codes)] = level
        return out.where(s.notna(), np.nan)
    if not all(pd.api.types.is_datetime64_any_dtype(df[c]) for c in cols):
        raise DataError(f"{where}: protocol.derived.{name}: columns {list(cols)} must be dates. List them "
                        "under data.dates.")
    unit = "months" if d.months_between else ("years" if d.years_between else "days")
    return _span(df[cols[0]], df[cols[1]], unit)



def _flow_arms(tr: Any) -> tuple[str, ...]:
    """Arms in the flow: (treated, control) for two arms, every arm in config order for three or more."""
    return (tr.treated, tr.control) if len(tr.arms) == 2 else tuple(tr.arms)

def build_cohort(cfg: StudyConfig, records: pd.DataFrame) -> Cohort:
    """Apply the config's protocol (or table definition) to records.

    Parameters
    ----------
    cfg : StudyConfig
    records : DataFrame
        Output of :func:`gistcausal.design.data.load_data`; not modified.

    Returns
    -------
    Cohort

    Raises
    ------
    DataError
        A column the config names is missing or mistyped (text in a continuous covariate); outcome dates
        before their start.
    CohortError
        The cascade leaves an empty cohort or an empty arm.
    ConfigError
        A ``sequential:`` config (person-period data have no single baseline cohort).

    See Also
    --------
    gistcausal.design.checks.check_design : the analysis plan against the cohort (run and validate call it).
    """
    if cfg.table is not None:
        return _build_from_table(cfg, records)
    p = cfg.protocol
    where = cfg.source_path or cfg.name
    if p is None:   # a `sequential:` config: person-period rows, one emulated trial per eligible period
        raise ConfigError(f"{where}: sequential: person-period data emulate a trial at each eligible period, so "
                          "there is no single baseline cohort to build (got a `sequential:` config, no `table:` or "
                          "`protocol:`). `gistcausal run` and `validate` analyse it; balance tables, plasmode and "
                          "the other cohort analyses need a `table:` or `protocol:` config.")
    df = records.copy(deep=False)  # derived columns are added to this frame only; records' values are never written
    for name, d in p.derived.items():
        df[name] = _derive(name, d, df, where)
    require_columns(df, _used_columns(cfg), where=where)

    warn_msgs: list[str] = unmatched_codes(p.eligibility, df, "protocol.eligibility")
    if p.strategies is not None:   # the clone-censor-weight emulation's own eligibility reads the same records
        warn_msgs += unmatched_codes(p.strategies.eligibility, df, "protocol.strategies.eligibility")
    current, steps = apply_eligibility(p.eligibility, df)
    tr = p.treatment
    arm = _assign_arms(current[tr.column], tr.arms)
    for name, vals in tr.arms.items():
        if not (arm == name).any() and not code_mask(df[tr.column], vals).any():   # in no record at all
            raise CohortError(_no_code_message(cfg, f"protocol.treatment.arms.{name}", name, vals,
                                               _codes_held(df[tr.column]), tr.column))
    in_arm = arm.notna().to_numpy()
    if not in_arm.all():
        n0 = len(current)
        current, arm = current.loc[in_arm].reset_index(drop=True), arm[in_arm].reset_index(drop=True)
        steps.append(FlowStep("Not in a compared strategy", "exclude",
                              f"{tr.column} not in the codes of {', '.join(tr.arms)}", n0, n0 - len(current), len(current)))
    current = current.assign(arm=arm.to_numpy(), treatment=(arm == tr.treated).astype(int).to_numpy())
    if len(current) == 0:
        raise CohortError(f"{where}: protocol.eligibility leaves no patients (steps: "
                          + "; ".join(f"{s.label}: {s.n_after}" for s in steps)
                          + "). Check the criteria and the codes in the data.")
    t0 = current[p.time_zero]
    if t0.isna().any():
        bad = t0.isna().to_numpy()
        raise DataError(f"{where}: protocol.time_zero column '{p.time_zero}' is missing for {int(bad.sum())} "
                        f"eligible patient(s). Add an eligibility step "
                        f"excluding {{column: {p.time_zero}, missing: true}}, or fix the records.")
    if p.eligibility_date is not None:
        from gistcausal.design.validation import check_time_zero

        # immortal time / misaligned time zero (Hernan et al. 2016): counted and warned, never silently kept
        warn_msgs += check_time_zero(current, time_zero_col=p.time_zero, eligibility_date_col=p.eligibility_date,
                                     treatment_start_col=p.time_zero, id_col=cfg.data.id_col, where=where,
                                     warn=False)
    current, cov_steps = _prepare_covariates(cfg, current, where)
    steps += cov_steps
    for a in tr.arms:
        if int((current["arm"] == a).sum()) == 0:
            raise CohortError(f"{where}: arm '{a}' is empty after eligibility ({len(current)} patients, all in the "
                              f"other arm). Check protocol.treatment.arms codes against column '{tr.column}'.")

    frame = pd.DataFrame({"arm": current["arm"].to_numpy(), "treatment": current["treatment"].to_numpy()})
    for c in cfg.covariates:
        frame[c] = current[c].to_numpy()
    frame = _apply_levels(cfg, check_covariate_types(cfg, frame, where), where)
    infos = []
    for name, o in p.outcomes.items():
        info, cols, w = _outcome_columns(name, o, current, p.time_zero, p.time_unit, cfg.data.id_col, where)
        warn_msgs += w
        for k, v in cols.items():
            frame[k] = v
        infos.append(info)
    for m in warn_msgs:
        warnings.warn(m, DataQualityWarning, stacklevel=2)
    flow = FlowCounts(tuple(steps), tuple((a, int((frame["arm"] == a).sum())) for a in _flow_arms(tr)),
                      p.start_population)
    return Cohort(frame, flow, tr.treated, tr.control, tuple(infos), tuple(cfg.covariates), p.time_unit,
                  tuple(warn_msgs))


def _outcome_columns(name: str, o: Outcome, df: pd.DataFrame, time_zero: str, unit: str, id_col: str,
                     where: str) -> tuple[OutcomeInfo, dict[str, np.ndarray], list[str]]:
    # messages count patients and never name them (README: no identifiers in outputs)
    msgs: list[str] = []
    if o.type == "duration":
        t = np.full(len(df), np.nan)
        for arm, ao in o.by_arm.items():
            m = (df["arm"] == arm).to_numpy()
            if ao.require is not None:
                m &= evaluate(ao.require, df)
            m &= df[ao.start].notna().to_numpy() & df[ao.end].notna().to_numpy()
            span = _span(df[ao.start], df[ao.end], unit)
            neg = m & (span < 0)
            if neg.any():
                raise DataError(f"{where}: outcome '{name}' ({arm}): '{ao.end}' is before '{ao.start}' for "
                                f"{int(neg.sum())} patient(s). Fix the dates.")
            t[m] = span[m]
        info = OutcomeInfo(name, o.label, "duration", f"{name}_time", None, int(np.isfinite(t).sum()),
                           int(np.isfinite(t).sum()), "per arm", False)
        return info, {f"{name}_time": t}, msgs
    start_col = o.start or time_zero
    start = df[start_col]
    ev_dates = df[o.events].min(axis=1, skipna=True)
    cens = df[o.censor]
    no_censor = cens.isna().to_numpy() & ev_dates.isna().to_numpy()
    if no_censor.any():
        raise DataError(f"{where}: outcome '{name}': censoring date '{o.censor}' missing for {int(no_censor.sum())} "
                        f"patient(s) without an event. Every patient needs a last "
                        "follow-up date.")
    event = ev_dates.notna().to_numpy()
    late = event & cens.notna().to_numpy() & (ev_dates > cens).fillna(False).to_numpy()
    if late.any():
        msgs.append(f"{where}: outcome '{name}': {int(late.sum())} event date(s) after '{o.censor}' (last "
                    f"follow-up); the event date is used.")
    end = ev_dates.where(event, cens)
    t = _span(start, end, unit)
    neg = t < 0
    if neg.any():
        raise DataError(f"{where}: outcome '{name}': end of follow-up is before '{start_col}' for "
                        f"{int(neg.sum())} patient(s) (got negative times). Fix the dates, or exclude these patients "
                        f"with an eligibility step, e.g. `exclude: {{column: {o.censor}, before_column: "
                        f"{start_col}}}`.")
    msgs += _zero_time_warning(where, name, f"protocol.outcomes.{name}", t)
    info = OutcomeInfo(name, o.label, "time_to_event", f"{name}_time", f"{name}_event", int(len(t)),
                       int(event.sum()), start_col, o.causal)
    return info, {f"{name}_time": t, f"{name}_event": event.astype(int)}, msgs


def _assign_arms(column: pd.Series, arms: Any) -> pd.Series:
    """Each row's arm (the arm whose codes hold its :func:`~gistcausal.design.codes.code_text`; missing
    values and other codes: NA). The column's texts are made once for all arms."""
    codes = code_texts(column)
    recorded = column.notna()
    arm = pd.Series(pd.NA, index=column.index, dtype=object)
    for name, vals in arms.items():
        arm[(codes.isin({code_text(v) for v in vals}) & recorded).to_numpy()] = name
    return arm


def _codes_held(column: pd.Series) -> list[str]:
    """The sorted code texts a column holds (missing values left out), for the message of an empty arm."""
    return sorted(set(code_texts(column[column.notna()])))


_YAML_TRUE = frozenset({"yes", "y", "true", "on"})
_YAML_FALSE = frozenset({"no", "n", "false", "off"})


def _yaml_bool_word(code: Any, found: Any) -> str | None:
    """The code of ``found`` that YAML read as the boolean ``code`` (an unquoted yes/no/on/off/y/n), if any."""
    if not isinstance(code, bool):
        return None
    words = _YAML_TRUE if code else _YAML_FALSE
    return next((f for f in sorted(found) if loose(f) in words), None)


def _yaml_bool_hint(code: Any, found: Any, key: str) -> str:
    """For a code YAML read as true/false while the column writes it as a word (yes, no, on, off): the fix."""
    word = _yaml_bool_word(code, found)
    if word is None:
        return ""
    return (f" YAML reads an unquoted {word.lower()} as {str(code).lower()} (got {key}: {str(code).lower()}); "
            f"quote it: `{key}: {yaml_value(word)}`.")


def _no_code_message(cfg: StudyConfig, key: str, arm: str, codes: Any, found: list[str], column: str) -> str:
    """An arm none of whose codes is in the treatment column: the codes the column holds and, for each code
    that differs from one of them only by case, spaces or a near spelling, that one, in the YAML fix."""
    section = key.rsplit(".", 1)[0]
    fixed = []
    for c in codes:
        if isinstance(c, bool):   # YAML 1.1 reads an unquoted yes/no/on/off/y/n as true/false
            fixed.append(_yaml_bool_word(c, found))
        else:
            fixed.append(closest(code_text(c), found))
    shown = ", ".join(repr(f) for f in found[:12]) + (", ..." if len(found) > 12 else "")
    wanted = ", ".join(repr(code_text(c)) for c in codes)
    if any(f is not None for f in fixed):
        new = [f if f is not None else code_text(c) for c, f in zip(codes, fixed)]
        fix = (f"Did you mean {', '.join(repr(f) for f in fixed if f is not None)}? Write "
               f"`{arm}: {yaml_value(new)}` under {section}"
               + (" (YAML reads an unquoted yes or no as true or false: quote such codes)." if any(
                   isinstance(c, bool) for c in codes) else "."))
    else:
        fix = f"List the codes of arm '{arm}' as the column writes them under {section}."
    return (f"{cfg.locate(key)}: arm '{arm}' is empty: no row of column '{column}' has its code(s) {wanted} (got "
            f"codes {shown}). {fix}")


def _table_secondary_outcome(name: str, o: Any, cur: pd.DataFrame, where: str
                             ) -> tuple[OutcomeInfo, dict[str, np.ndarray]]:
    """A binary, continuous or competing-risks outcome of the analysis table (issue 18).

    Frame columns: ``<name>_value`` (binary 0/1 or continuous, NaN where not recorded) or, for competing risks,
    ``<name>_time`` and ``<name>_status`` (0 censored, else k for the k-th cause of ``causes``, in its order).
    """
    key = f"table.outcomes.{name}"
    if o.type in ("binary", "continuous"):
        raw = cur[o.value_col]
        if o.type == "binary":
            vals = set(code_texts(raw.dropna()))
            if len(vals) > 2 or (len(vals) == 2 and code_text(o.event_value) not in vals):
                raise DataError(f"{where}: column '{o.value_col}' ({key}.value_col) must be binary (got values "
                                f"{sorted(vals)[:5]}). Set {key}.event_value to the code meaning 'event'."
                                + _yaml_bool_hint(o.event_value, vals, "event_value"))
            y = np.where(raw.isna(), np.nan, code_mask(raw, [o.event_value]).astype(float))
        else:
            y = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
            bad = int((raw.notna() & np.isnan(y)).sum())
            if bad:
                raise DataError(f"{where}: column '{o.value_col}' ({key}.value_col) has {bad} non-numeric "
                                f"value(s). Fix them, or set {key}.type to binary for a 0/1 outcome.")
        recorded = np.isfinite(y)
        info = OutcomeInfo(name, o.label, o.type, "", f"{name}_value", int(recorded.sum()),
                           int(np.nansum(y)) if o.type == "binary" else 0, "time zero", o.causal)
        return info, {f"{name}_value": y}
    t = pd.to_numeric(cur[o.time_col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(t).any() or (t < 0).any() or np.isinf(t).any():
        raise DataError(f"{where}: column '{o.time_col}' ({key}.time_col) has {int(np.isnan(t).sum())} missing, "
                        f"{int((t < 0).sum())} negative and {int((t == np.inf).sum())} infinite time(s). Times are "
                        "measured from time zero; fix or remove those rows.")
    raw = cur[o.event_col]
    status = np.zeros(len(cur))
    known = code_mask(raw, [o.censor_value])
    for k, code in enumerate(o.causes):
        hit = code_mask(raw, [code])
        status[hit] = k + 1
        known |= hit
    if not known.all():
        raise DataError(f"{where}: column '{o.event_col}' ({key}.event_col) has codes that are neither a cause nor "
                        f"the censor_value (got {sorted(set(raw[~known].astype(str)))[:5]}). Add them to "
                        f"{key}.causes or recode them to {o.censor_value!r}.")
    info = OutcomeInfo(name, o.label, "competing", f"{name}_time", f"{name}_status", len(t),
                       int((status != 0).sum()), "time zero", o.causal)
    return info, {f"{name}_time": t, f"{name}_status": status}


def _build_from_table(cfg: StudyConfig, df: pd.DataFrame) -> Cohort:
    tab = cfg.table
    assert tab is not None
    where = cfg.source_path or cfg.name
    need = {tab.treatment.column: "any@table.treatment.column"}
    for name, o in tab.outcomes.items():
        if o.time_col is not None:
            need[o.time_col] = f"numeric@table.outcomes.{name}.time_col"
        if o.event_col is not None:
            need[o.event_col] = f"any@table.outcomes.{name}.event_col"
        if o.value_col is not None:
            need[o.value_col] = f"any@table.outcomes.{name}.value_col"
    for c in cfg.covariates:
        need.setdefault(c, f"any@covariates.{c}")
    require_columns(df, need, where=where)
    n_start = len(df)
    steps: list[FlowStep] = []
    tr = cfg.table.treatment
    arm = _assign_arms(df[tr.column], tr.arms)
    for a, vals in tr.arms.items():
        if not (arm == a).any():
            raise CohortError(_no_code_message(cfg, f"table.treatment.arms.{a}", a, vals, _codes_held(df[tr.column]),
                                               tr.column))
    keep = arm.notna().to_numpy()
    cur = df.loc[keep].assign(arm=arm[keep].to_numpy()).reset_index(drop=True)
    steps.append(FlowStep("Treatment in a compared strategy", "include",
                          f"{tr.column} in the codes of {', '.join(tr.arms)}", n_start, n_start - len(cur), len(cur)))
    cur["treatment"] = (cur["arm"] == tr.treated).astype(int)
    cur, cov_steps = _prepare_covariates(cfg, cur, where)
    steps += cov_steps
    frame = pd.DataFrame({"arm": cur["arm"].to_numpy(), "treatment": cur["treatment"].to_numpy()})
    for c in cfg.covariates:
        frame[c] = cur[c].to_numpy()
    frame = _apply_levels(cfg, check_covariate_types(cfg, frame, where), where)
    infos = []
    for name, o in tab.outcomes.items():
        if o.type != "time_to_event":
            info, cols = _table_secondary_outcome(name, o, cur, where)
            for col, values in cols.items():
                frame[col] = values
            infos.append(info)
            continue
        t = pd.to_numeric(cur[o.time_col], errors="coerce").to_numpy(dtype=float)
        ev_raw = cur[o.event_col]
        e = code_mask(ev_raw, [o.event_value])
        if np.isnan(t).any():
            raise DataError(f"{where}: column '{o.time_col}' (table.outcomes.{name}.time_col) has "
                            f"{int(np.isnan(t).sum())} missing or non-numeric time(s). Remove or fix those rows.")
        if np.isinf(t).any():
            raise DataError(f"{where}: column '{o.time_col}' (table.outcomes.{name}.time_col) has "
                            f"{int(np.isinf(t).sum())} infinite time(s) (got inf). Write the last follow-up time of "
                            "those patients, censored, or remove those rows.")
        if ev_raw.isna().any():
            raise DataError(f"{where}: column '{o.event_col}' (table.outcomes.{name}.event_col) has "
                            f"{int(ev_raw.isna().sum())} missing value(s), which would be read as censored. Fill in "
                            "the event status of those rows, or remove them.")
        if (t < 0).any():
            raise DataError(f"{where}: column '{o.time_col}' (table.outcomes.{name}.time_col) has "
                            f"{int((t < 0).sum())} row(s) with negative times (got minimum {float(np.min(t)):g}). "
                            "Times are measured from time zero and must be >= 0: fix those rows in the data, or "
                            "remove them.")
        for m in _zero_time_warning(where, name, f"table.outcomes.{name}.time_col '{o.time_col}'", t):
            warnings.warn(m, DataQualityWarning, stacklevel=2)
        vals = set(code_texts(ev_raw.dropna()))
        if len(vals) > 2 and code_text(o.event_value) in vals:
            others = sorted(vals - {code_text(o.event_value)})[:5]
            raise DataError(f"{where}: column '{o.event_col}' (table.outcomes.{name}.event_col) has {len(vals)} "
                            f"codes besides missing (got values {sorted(vals)[:5]}), and a time-to-event outcome reads "
                            f"event_value {o.event_value!r} as the event and one other code as censored. With "
                            f"competing events, write the outcome as `{name}: {{type: competing, causes: {{...}}, "
                            f"censor_value: ...}}` with the codes {others} (the cause of interest listed first: the "
                            "answer and the sensitivity analyses use the first cause), or recode the competing codes "
                            "as censored in the data.")
        if len(vals) == 2 and code_text(o.event_value) not in vals:
            raise DataError(f"{where}: column '{o.event_col}' (table.outcomes.{name}.event_col) does not hold "
                            f"event_value {code_text(o.event_value)!r} (got codes {sorted(vals)}). Set "
                            f"table.outcomes.{name}.event_value to the code meaning 'event'."
                            + _yaml_bool_hint(o.event_value, vals, "event_value"))
        if len(vals) > 2:
            raise DataError(f"{where}: column '{o.event_col}' (table.outcomes.{name}.event_col) must be binary "
                            f"(got values {sorted(vals)[:5]}). Set table.outcomes.{name}.event_value to the code "
                            "meaning 'event'.")
        frame[f"{name}_time"] = t
        frame[f"{name}_event"] = e.astype(int)
        infos.append(OutcomeInfo(name, o.label, "time_to_event", f"{name}_time", f"{name}_event", len(t),
                                 int(e.sum()), "time zero", o.causal))
    for a in tr.arms:
        if int((frame["arm"] == a).sum()) == 0:
            raise CohortError(f"{cfg.locate(f'table.treatment.arms.{a}')}: arm '{a}' is empty. Check table.treatment.arms codes against column "
                              f"'{tr.column}'.")
    flow = FlowCounts(tuple(steps), tuple((a, int((frame["arm"] == a).sum())) for a in _flow_arms(tr)),
                      "All rows of the analysis table")
    return Cohort(frame, flow, tr.treated, tr.control, tuple(infos), tuple(cfg.covariates), tab.time_unit)

