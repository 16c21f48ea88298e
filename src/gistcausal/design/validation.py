"""Record-level validation of registry extracts and time-zero alignment checks.

:func:`validate_records` runs declarative plausibility checks on one-row-per-patient records before any
cohort is built: duplicate or missing patient ids, unparseable dates, dates out of order (rules given as
``(earlier_col, later_col)`` pairs), events recorded after the last follow-up, and codes outside a
per-column vocabulary. Each problem becomes one :class:`ValidationIssue` naming the column, the number of
rows and the check (never a patient id: :func:`flagged_records` lists ids for a local file the user asks
for). Problems of severity ``"error"`` raise one
:class:`~gistcausal.errors.DataError` listing all of them; problems of severity ``"warning"`` are emitted
as :class:`~gistcausal.errors.DataQualityWarning` and kept, as counts, in
:attr:`ValidationReport.warnings`.

:func:`check_time_zero` checks the three dates a target-trial emulation must align (Hernan & Robins 2016):
eligibility, treatment start and time zero.

The rule set of the synthetic registry (:data:`gistcausal.design.simulate.GIST_VALIDATION`) follows
``docs/registry_schema.md``; a user's own rules come from the config's ``data.validation``.

References
----------
Hernan MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is not
available. Am J Epidemiol 183:758-764.
Kahn MG et al. (2016). A harmonized data quality assessment terminology and framework for the secondary
use of electronic health record data. eGEMs 4:1244 (conformance / plausibility checks).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from gistcausal.errors import DataError, DataQualityWarning

Severity = Literal["error", "warning"]
Check = Literal["missing_column", "missing_id", "duplicate_id", "unparseable_date", "date_order",
                "event_after_followup", "vocabulary"]

#: Default severity of each check; ``severity=`` overrides any of them except ``missing_column``.
DEFAULT_SEVERITY: dict[str, str] = {
    "missing_column": "error", "missing_id": "error", "duplicate_id": "error", "unparseable_date": "error",
    "date_order": "error", "event_after_followup": "warning", "vocabulary": "error",
}


# ------------------------------------------------------------------------------------------- rule models
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRule(_Model):
    """``later_col`` must not be before ``earlier_col`` (rows where either is missing are not checked).

    ``strict: true`` also rejects equal dates. ``severity`` overrides the default of ``date_order``.
    """

    earlier_col: str = Field(description="Date column that must come first (e.g. the date of diagnosis).",
                             examples=["date_of_diagnosis"])
    later_col: str = Field(description="Date column that must not be before earlier_col; rows where either date is "
                           "missing are not checked.", examples=["date_of_death", "treatment_start_date"])
    strict: bool = Field(False, description="true: the two dates must also differ (later_col strictly after "
                         "earlier_col); false: equal dates are allowed.", examples=[True])
    severity: Severity | None = Field(None, description="error (stop the run) or warning (count and go on) for "
                                      "this rule. Unset: the severity of date_order (error unless "
                                      "validation.severity changes it).", examples=["warning"])


class ValidationConfig(_Model):
    """The declarative rule set of :func:`validate_records` (a config section, e.g. ``data.validation``).

    Parameters
    ----------
    date_cols : list of str
        Columns that must hold dates (object columns are parsed, ISO ``YYYY-MM-DD`` unless ``date_format``).
    date_rules : list of DateRule
        Ordering rules, ``{earlier_col: date_of_diagnosis, later_col: date_of_death}``.
    vocabularies : dict
        Allowed codes per column; missing values are not checked here.
    last_followup_col : str, optional
        Date of last contact; each of ``event_cols`` must not be after it.
    event_cols : list of str
        Event dates checked against ``last_followup_col``.
    severity : dict
        Per-check severity overrides, e.g. ``{vocabulary: warning}``.
    date_format : str, optional
        ``strftime`` format of object date columns.
    """

    date_cols: list[str] = Field(
        [], description="Columns that must hold valid dates (values that cannot be parsed are counted); columns "
        "named in date_rules, event_cols and last_followup_col are checked too.",
        examples=[["date_of_diagnosis", "date_of_death"]])
    date_rules: list[DateRule] = Field(
        [], description="Date-order rules: in each, later_col must not be before earlier_col (e.g. death not before "
        "diagnosis).", examples=[[{"earlier_col": "date_of_diagnosis", "later_col": "date_of_death"}]])
    vocabularies: dict[str, list[Any]] = Field(
        {}, description="Allowed codes per column, {column: [codes]}; recorded values outside the list are "
        "counted (missing values are not checked here).",
        examples=[{"sex": ["female", "male"], "stage": ["localized", "locally_advanced", "metastatic"]}])
    last_followup_col: str | None = Field(
        None, description="Date column of the last contact; each of event_cols must not be after it.",
        examples=["date_last_followup"])
    event_cols: list[str] = Field(
        [], description="Event date columns checked against last_followup_col (an event after the last contact "
        "is a warning by default).", examples=[["date_of_death", "progression_date"]])
    severity: dict[Check, Severity] = Field(
        {}, description="Severity per check, error (stop) or warning (count and go on), overriding the defaults "
        "(missing_id, duplicate_id, unparseable_date, date_order, vocabulary: error; event_after_followup: "
        "warning). missing_column is always an error.", examples=[{"vocabulary": "warning"}])
    date_format: str | None = Field(
        None, description="strftime format of date columns still held as text (those not parsed through "
        "data.dates). Unset: ISO 8601 (YYYY-MM-DD).", examples=["%d-%m-%Y"])


# ------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One broken rule: which check, on which column, how many rows.

    ``message`` is what is raised or warned and kept in reports; it counts rows and never names a patient
    (``counts_message`` is the same text, kept for callers of the earlier two-message form).
    """

    check: str
    severity: str
    column: str
    rule: str
    n_rows: int
    message: str
    counts_message: str

    def to_dict(self) -> dict[str, Any]:
        """Counts only (no patient ids)."""
        return {"check": self.check, "severity": self.severity, "column": self.column, "rule": self.rule,
                "n_rows": self.n_rows}


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Outcome of :func:`validate_records`: aggregates only.

    Attributes
    ----------
    n_rows : int
        Records checked.
    issues : tuple of ValidationIssue
        Every broken rule (errors and warnings), in check order.
    checks : tuple of str
        The checks that were run.
    warnings : tuple of str
        Messages of the warning-severity issues, counts only (no ids).
    """

    n_rows: int
    issues: tuple[ValidationIssue, ...]
    checks: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[ValidationIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def ok(self) -> bool:
        """No error-severity issue (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """One row per issue: check, severity, column, rule, n_rows (a copy; no ids)."""
        cols = ["check", "severity", "column", "rule", "n_rows"]
        return pd.DataFrame([i.to_dict() for i in self.issues], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe counts for ``results.json``."""
        return {"n_rows": self.n_rows, "checks": list(self.checks), "ok": self.ok,
                "n_errors": len(self.errors), "n_warnings": len(self.issues) - len(self.errors),
                "issues": [i.to_dict() for i in self.issues]}

    def summary(self) -> str:
        """Text for reports (counts only)."""
        if not self.issues:
            return f"Record validation: {self.n_rows} rows, {len(self.checks)} checks, no problems found."
        lines = [f"Record validation: {self.n_rows} rows, {len(self.errors)} error(s), "
                 f"{len(self.issues) - len(self.errors)} warning(s)"]
        lines += [f"  [{i.severity}] {i.check}: {i.counts_message}" for i in self.issues]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- helpers
_FLAG_HINT = "list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`"


def _issue(check: str, severity: str, column: str, rule: str, n: int, where: str, what: str,
           fix: str) -> ValidationIssue:
    msg = f"{where}: {what}. {fix}."
    return ValidationIssue(check=check, severity=severity, column=column, rule=rule, n_rows=int(n),
                           message=msg, counts_message=msg)


def _parse_date(s: pd.Series, date_format: str | None) -> tuple[pd.Series, np.ndarray]:
    """Parsed dates and the mask of present-but-unparseable values."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s, np.zeros(len(s), dtype=bool)
    stripped = s.astype(str).str.strip()   # vectorised str(v).strip(), once per column, not per record
    present = s.notna() & (stripped != "")
    text = stripped.where(present, None).astype(object)
    parsed = pd.to_datetime(text, errors="coerce", format=date_format or "ISO8601")
    bad = (parsed.isna() & present).to_numpy(dtype=bool)
    return parsed, bad


def _in_vocabulary(s: pd.Series, allowed: list[Any]) -> np.ndarray:
    """Codes match as values or as their text (so ``True`` matches ``"True"``), as cohort.evaluate."""
    obj = s.astype(object)
    hit = obj.isin(allowed) | obj.astype(str).isin([str(v) for v in allowed])
    return hit.to_numpy(dtype=bool)


# A finding is an issue (counts only) and the mask of the rows it concerns; masks never leave this module
# except through flagged_records, which the user asks for explicitly.
_Finding = tuple[ValidationIssue, np.ndarray]


@dataclass(frozen=True)
class _Rules:
    id_col: str | None
    date_cols: tuple[str, ...]
    rules: tuple[DateRule, ...]
    vocab: dict[str, list[Any]]
    last_followup_col: str | None
    events: tuple[str, ...]
    sev: dict[str, str]
    date_format: str | None
    where: str


def _make_rules(*, id_col, date_cols, date_rules, vocabularies, last_followup_col, event_cols, severity,
                date_format, where) -> _Rules:
    sev = dict(DEFAULT_SEVERITY)
    for k, v in (severity or {}).items():
        if k not in DEFAULT_SEVERITY or k == "missing_column":
            raise DataError(f"validate_records: unknown check '{k}' in `severity` (got {k!r}). Use one of "
                            f"{', '.join(c for c in DEFAULT_SEVERITY if c != 'missing_column')}.")
        if v not in ("error", "warning"):
            raise DataError(f"validate_records: severity of '{k}' must be 'error' or 'warning' (got {v!r}). "
                            "Use 'error' or 'warning'.")
        sev[k] = v
    rules = tuple(r if isinstance(r, DateRule) else DateRule(earlier_col=r[0], later_col=r[1]) for r in date_rules)
    return _Rules(id_col, tuple(date_cols), rules, dict(vocabularies or {}), last_followup_col, tuple(event_cols),
                  sev, date_format, where)


def _check_columns(df: pd.DataFrame, r: _Rules) -> list[_Finding]:
    """``missing_column``: every column a rule names must exist (always an error)."""
    wanted: dict[str, str] = {}
    if r.id_col is not None:
        wanted[r.id_col] = "id_col"
    for c in r.date_cols:
        wanted.setdefault(c, "date_cols")
    for rule in r.rules:
        wanted.setdefault(rule.earlier_col, "date_rules")
        wanted.setdefault(rule.later_col, "date_rules")
    if r.last_followup_col is not None:
        wanted.setdefault(r.last_followup_col, "last_followup_col")
    for c in r.events:
        wanted.setdefault(c, "event_cols")
    for c in r.vocab:
        wanted.setdefault(c, "vocabularies")
    out = []
    for c in (c for c in wanted if c not in df.columns):
        msg = (f"{r.where}: column '{c}' ({wanted[c]}) not found. Fix the rule's column name or the "
               f"data.columns mapping.")
        out.append((ValidationIssue("missing_column", "error", c, f"{c} present", len(df), msg, msg),
                    np.zeros(len(df), dtype=bool)))
    return out


def _check_ids(df: pd.DataFrame, r: _Rules) -> list[_Finding]:
    """``missing_id`` and ``duplicate_id`` (every row sharing an id is counted)."""
    c = r.id_col
    if c is None or c not in df.columns:
        return []
    ids = df[c]
    out = []
    miss = ids.isna().to_numpy()
    if miss.any():
        out.append((_issue("missing_id", r.sev["missing_id"], c, f"{c} recorded", miss.sum(), r.where,
                           f"column '{c}' has {int(miss.sum())} row(s) without a patient id",
                           f"Fill in the ids or drop these rows ({_FLAG_HINT})"), miss))
    dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    if dup.any():
        out.append((_issue("duplicate_id", r.sev["duplicate_id"], c, f"{c} unique", dup.sum(), r.where,
                           f"column '{c}' has {int(dup.sum())} rows with duplicate patient ids",
                           f"Registry records need one row per patient: deduplicate the extract ({_FLAG_HINT})"),
                    dup))
    return out


def _date_columns(df: pd.DataFrame, r: _Rules) -> list[str]:
    named = (list(r.date_cols) + [x for rule in r.rules for x in (rule.earlier_col, rule.later_col)]
             + ([r.last_followup_col] if r.last_followup_col else []) + list(r.events))
    return [c for c in dict.fromkeys(named) if c in df.columns]


def _check_dates(df: pd.DataFrame, r: _Rules, parsed: dict[str, pd.Series]) -> list[_Finding]:
    """``unparseable_date``; fills ``parsed`` (unparseable values become missing for the later checks)."""
    out = []
    for c in _date_columns(df, r):
        parsed[c], bad = _parse_date(df[c], r.date_format)
        if bad.any():
            if r.date_format:
                what = f"column '{c}' has {int(bad.sum())} date(s) that do not match date_format '{r.date_format}'"
                fix = "Correct date_format to the way the dates are written (e.g. '%d-%m-%Y'), or the dates"
            else:
                what = f"column '{c}' has {int(bad.sum())} unparseable date(s)"
                fix = "Use YYYY-MM-DD, or set `data: {date_format: '%d-%m-%Y'}`"
            out.append((_issue("unparseable_date", r.sev["unparseable_date"], c, f"{c} is a date", bad.sum(),
                               r.where, what, fix), bad))
    return out


def _check_order(r: _Rules, parsed: dict[str, pd.Series]) -> list[_Finding]:
    """``date_order``: ``later_col`` not before (or, strict, not at) ``earlier_col``."""
    out = []
    for rule in r.rules:
        if rule.earlier_col not in parsed or rule.later_col not in parsed:
            continue
        a, b = parsed[rule.earlier_col], parsed[rule.later_col]
        both = (a.notna() & b.notna()).to_numpy()
        broken = ((b <= a) if rule.strict else (b < a)).to_numpy(dtype=bool) & both
        if broken.any():
            word = "not after" if rule.strict else "before"
            out.append((_issue("date_order", rule.severity or r.sev["date_order"], rule.later_col,
                               f"{rule.later_col} {word} {rule.earlier_col}", broken.sum(), r.where,
                               f"column '{rule.later_col}' is {word} '{rule.earlier_col}' in {int(broken.sum())} "
                               "row(s)", f"Correct the dates in the extract, or exclude these patients "
                               f"({_FLAG_HINT})"), broken))
    return out


def _check_followup(r: _Rules, parsed: dict[str, pd.Series]) -> list[_Finding]:
    """``event_after_followup``: event dates after the last follow-up date."""
    lf = r.last_followup_col
    if lf is None or lf not in parsed:
        return []
    fu = parsed[lf]
    out = []
    for c in (c for c in r.events if c in parsed):
        late = (parsed[c] > fu).to_numpy(dtype=bool) & (parsed[c].notna() & fu.notna()).to_numpy()
        if late.any():
            out.append((_issue("event_after_followup", r.sev["event_after_followup"], c, f"{c} not after {lf}",
                               late.sum(), r.where,
                               f"column '{c}' is after '{lf}' (last follow-up) in {int(late.sum())} row(s)",
                               f"Update the last follow-up date, or correct the event date ({_FLAG_HINT})"), late))
    return out


def _check_vocabularies(df: pd.DataFrame, r: _Rules) -> list[_Finding]:
    """``vocabulary``: non-missing codes outside the allowed list (the codes are shown, never ids)."""
    out = []
    for c, allowed in r.vocab.items():
        if c not in df.columns:
            continue
        s = df[c]
        bad = s.notna().to_numpy() & ~_in_vocabulary(s, allowed)
        if bad.any():
            codes = sorted({str(v) for v in s[bad]})
            shown = ", ".join(repr(v) for v in codes[:5]) + (", ..." if len(codes) > 5 else "")
            allowed_txt = ", ".join(repr(str(v)) for v in allowed)
            out.append((_issue("vocabulary", r.sev["vocabulary"], c, f"{c} in vocabulary", bad.sum(), r.where,
                               f"column '{c}' has {int(bad.sum())} value(s) outside the vocabulary "
                               f"(got {shown}; allowed: {allowed_txt})",
                               "Recode the values, or add the codes to the vocabulary"), bad))
    return out


def _find(df: pd.DataFrame, r: _Rules) -> tuple[list[_Finding], list[str]]:
    """Every finding in check order, and the checks that ran."""
    checks = ["missing_column"]
    found = _check_columns(df, r)
    if r.id_col is not None and r.id_col in df.columns:
        checks += ["missing_id", "duplicate_id"]
        found += _check_ids(df, r)
    parsed: dict[str, pd.Series] = {}
    if _date_columns(df, r):
        checks.append("unparseable_date")
    found += _check_dates(df, r, parsed)
    if r.rules:
        checks.append("date_order")
        found += _check_order(r, parsed)
    if r.last_followup_col is not None and r.events and r.last_followup_col in parsed:
        checks.append("event_after_followup")
        found += _check_followup(r, parsed)
    if r.vocab:
        checks.append("vocabulary")
        found += _check_vocabularies(df, r)
    return found, checks


# ------------------------------------------------------------------------------------------- main check
def validate_records(df: pd.DataFrame, *, id_col: str | None, date_cols: tuple[str, ...] | list[str] = (),
                     date_rules: tuple[DateRule, ...] | list[DateRule] | list[tuple[str, str]] = (),
                     vocabularies: dict[str, list[Any]] | None = None, last_followup_col: str | None = None,
                     event_cols: tuple[str, ...] | list[str] = (), severity: dict[str, str] | None = None,
                     date_format: str | None = None, where: str = "records",
                     raise_errors: bool = True) -> ValidationReport:
    """Check registry records against declarative plausibility rules.

    Parameters
    ----------
    df : DataFrame
        One row per patient; not modified.
    id_col : str or None
        Patient identifier; checked for missing and duplicate values. Messages never name patients: they
        count rows; :func:`flagged_records` lists the ids when the user asks for them.
    date_cols : sequence of str, default=()
        Columns that must hold dates. Columns named in ``date_rules``, ``event_cols`` and
        ``last_followup_col`` are checked too.
    date_rules : sequence of DateRule or (earlier_col, later_col) pairs, default=()
        ``later_col`` must not precede ``earlier_col``; rows with either date missing are not checked.
    vocabularies : dict, optional
        ``{column: allowed codes}``; non-missing values outside the list are reported.
    last_followup_col : str, optional
        Date of last contact.
    event_cols : sequence of str, default=()
        Event dates that must not be after ``last_followup_col``.
    severity : dict, optional
        Overrides of :data:`DEFAULT_SEVERITY` per check (``"error"`` or ``"warning"``).
    date_format : str, optional
        ``strftime`` format for object date columns (default ISO 8601).
    where : str, default="records"
        Prefix of every message (the data source).
    raise_errors : bool, default=True
        Raise :class:`DataError` when an error-severity issue is found; ``False`` returns the report.

    Returns
    -------
    ValidationReport
        Counts per issue (no patient ids).

    Raises
    ------
    DataError
        Listing every error-severity issue (counts only), when ``raise_errors``.

    Warns
    -----
    DataQualityWarning
        One per warning-severity issue (counts only).

    Notes
    -----
    Checks, in order: ``missing_column`` (a column named by a rule is absent; always an error),
    ``missing_id``, ``duplicate_id`` (all rows sharing an id are counted), ``unparseable_date``,
    ``date_order``, ``event_after_followup`` (default warning, as :func:`gistcausal.design.cohort.build_cohort`
    treats it) and ``vocabulary``. Unparseable dates are treated as missing by the later checks, so one
    bad value is reported once.
    """
    r = _make_rules(id_col=id_col, date_cols=date_cols, date_rules=date_rules, vocabularies=vocabularies,
                    last_followup_col=last_followup_col, event_cols=event_cols, severity=severity,
                    date_format=date_format, where=where)
    found, checks = _find(df, r)
    issues = tuple(i for i, _ in found)
    warn_issues = [i for i in issues if i.severity == "warning"]
    for i in warn_issues:
        warnings.warn(i.message, DataQualityWarning, stacklevel=2)
    report = ValidationReport(n_rows=int(len(df)), issues=issues, checks=tuple(checks),
                              warnings=tuple(i.counts_message for i in warn_issues))
    errs = report.errors
    if errs and raise_errors:
        head = "record validation failed" if len(errs) == 1 else f"record validation failed ({len(errs)} problems)"
        raise DataError(f"{head}:\n  " + "\n  ".join(i.message for i in errs))
    return report


def flagged_records(df: pd.DataFrame, config: "ValidationConfig", *, id_col: str | None) -> pd.DataFrame:
    """The patients behind each validation issue, for a local file the user asked for.

    This is the only place patient identifiers leave the checks: messages, reports and ``results.json``
    hold counts only (``gistcausal run/validate --write-flagged-ids PATH`` writes this table).

    Returns
    -------
    DataFrame
        One row per (check, column, record): ``check``, ``severity``, ``column``, ``rule``, ``row`` (0-based
        position in the data) and ``patient_id`` (empty when there is no id column).
    """
    r = _make_rules(id_col=id_col, date_cols=config.date_cols, date_rules=config.date_rules,
                    vocabularies=config.vocabularies, last_followup_col=config.last_followup_col,
                    event_cols=config.event_cols, severity=dict(config.severity), date_format=config.date_format,
                    where="records")
    found, _ = _find(df, r)
    has_id = id_col is not None and id_col in df.columns
    rows = []
    for issue, mask in found:
        for pos in np.flatnonzero(mask):
            rows.append({"check": issue.check, "severity": issue.severity, "column": issue.column,
                         "rule": issue.rule, "row": int(pos),
                         "patient_id": df[id_col].iloc[pos] if has_id else ""})
    return pd.DataFrame(rows, columns=["check", "severity", "column", "rule", "row", "patient_id"])


def validate_with_config(df: pd.DataFrame, config: ValidationConfig, *, id_col: str | None,
                         where: str = "records", raise_errors: bool = True) -> ValidationReport:
    """:func:`validate_records` with the rules of a :class:`ValidationConfig` (e.g. ``data.validation``)."""
    return validate_records(df, id_col=id_col, date_cols=config.date_cols, date_rules=config.date_rules,
                            vocabularies=config.vocabularies, last_followup_col=config.last_followup_col,
                            event_cols=config.event_cols, severity=dict(config.severity),
                            date_format=config.date_format, where=where, raise_errors=raise_errors)


# ------------------------------------------------------------------------------------------- time zero
def check_time_zero(df: pd.DataFrame, *, time_zero_col: str, eligibility_date_col: str,
                    treatment_start_col: str, id_col: str | None, where: str = "records",
                    warn: bool = True) -> list[str]:
    """Check that eligibility, treatment start and time zero are aligned (the target-trial rule).

    Parameters
    ----------
    df : DataFrame
        One row per patient with the three date columns; rows with a missing date are not checked for
        the comparisons that need it.
    time_zero_col, eligibility_date_col, treatment_start_col : str
        Start of follow-up, the date eligibility is met, and the date the compared treatment starts.
    id_col : str or None
        Unused in messages (they count patients, never name them); kept for the call signature.
    where : str, default="records"
    warn : bool, default=True
        Also emit each message as a :class:`DataQualityWarning`.

    Returns
    -------
    list of str
        One message per misalignment found (empty when aligned), each counting the patients affected.

    Raises
    ------
    DataError
        A column is missing or not a date.

    Notes
    -----
    In a randomized trial eligibility, assignment and the start of follow-up coincide. Three
    misalignments are flagged:

    * treatment starts before eligibility is met: treatment is part of the eligibility history
      (prevalent users, or eligibility defined by post-treatment events);
    * time zero after treatment start: patients must survive from treatment start to time zero to be
      included; that span is immortal time if counted, selection (depletion of susceptibles) if not;
    * eligibility met after time zero: follow-up starts before the patient is eligible (eligibility
      uses future information).

    Treatment starting *after* time zero is expected in clone-censor-weight designs (a grace period) and
    is not flagged; comparing arms defined by the treatment eventually started from such a time zero
    introduces immortal time (see :mod:`gistcausal.stats.ccw`).

    References
    ----------
    Hernan MA, Sauer BC, Hernandez-Diaz S, Platt R, Shrier I (2016). Specifying a target trial prevents
    immortal time bias and other self-inflicted injuries in observational analyses. J Clin Epidemiol
    79:70-75.
    """
    cols = {time_zero_col: "time_zero_col", eligibility_date_col: "eligibility_date_col",
            treatment_start_col: "treatment_start_col"}
    for c, key in cols.items():
        if c not in df.columns:
            raise DataError(f"check_time_zero: column '{c}' ({key}) not found. Pass an existing date column.")
        if not pd.api.types.is_datetime64_any_dtype(df[c]):
            raise DataError(f"check_time_zero: column '{c}' ({key}) must be a date (got dtype {df[c].dtype}). "
                            "Parse it first (data.dates).")
    t0, elig, trt = df[time_zero_col], df[eligibility_date_col], df[treatment_start_col]
    checks = [
        (trt < elig, f"'{treatment_start_col}' is before '{eligibility_date_col}'",
         "treatment started before eligibility was met (prevalent users)",
         "Define eligibility from information before treatment starts, or exclude these patients"),
        (t0 > trt, f"time zero '{time_zero_col}' is after treatment start '{treatment_start_col}'",
         "survival from treatment start to time zero is required for inclusion (immortal time)",
         "Set time zero at treatment start, or at eligibility with clone-censor-weight (gistcausal.stats.ccw)"),
        (elig > t0, f"eligibility '{eligibility_date_col}' is after time zero '{time_zero_col}'",
         "follow-up starts before eligibility is met (eligibility uses future information)",
         "Set time zero at or after the date eligibility is met"),
    ]
    out: list[str] = []
    for cond, what, why, fix in checks:
        mask = cond.fillna(False).to_numpy(dtype=bool)
        if mask.any():
            out.append(f"{where}: {what} for {int(mask.sum())} patient(s): {why}. {fix}.")
    if warn:
        for m in out:
            warnings.warn(m, DataQualityWarning, stacklevel=2)
    return out


__all__ = ["DateRule", "ValidationConfig", "ValidationIssue", "ValidationReport", "validate_records",
           "validate_with_config", "flagged_records", "check_time_zero", "DEFAULT_SEVERITY"]
