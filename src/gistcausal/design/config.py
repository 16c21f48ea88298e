"""The YAML study configuration: pydantic models, loading, and messages that point at the YAML line.

A config has two shapes:

* **registry** (``protocol:``): registry records with dates and codes are turned into an analysis cohort by a
  target-trial protocol (eligibility steps in order, treatment strategies, time zero, outcomes);
* **table** (``table:``): an already analysis-ready table with time, event, treatment and covariate columns.

Everything is validated before anything runs: unknown keys, wrong types and impossible values raise one
:class:`~gistcausal.errors.ConfigError` naming the file, the YAML line, the key path and the fix. Criteria are
declarative (:class:`Criterion`); no config text is ever evaluated as Python.
"""
from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from gistcausal._checks import closest
from gistcausal.design.redact import redact
from gistcausal.design.validation import ValidationConfig
from gistcausal.errors import ConfigError

Estimand = Literal["ATE", "ATT", "ATC", "ATO"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------------------------- criteria
class Criterion(_Model):
    """One declarative condition on a column (or a combination of conditions).

    Exactly one comparison is given, e.g. ``{column: stage, in: [metastatic, unknown]}``,
    ``{column: age_at_diagnosis, lt: 18}``, ``{column: second_line_start_date, missing: true}``,
    ``{column: first_line_end_date, after_column: second_line_start_date}``, or a combination
    ``{all: [...]}`` / ``{any: [...]}`` / ``{not: {...}}``. Missing values never satisfy a comparison
    (they satisfy only ``missing: true``).
    """

    column: str | None = Field(
        None, description="The data column the comparison reads (after data.columns renaming and "
        "protocol.derived). Required unless the criterion is a combination (all, any or not).",
        examples=["age_at_diagnosis", "stage"])
    in_: list[Any] | None = Field(
        default=None, alias="in",
        description="True where the column equals one of these codes (compared as values and as text, so 1 "
        "matches \"1\"). Missing values never match.",
        examples=[["metastatic", "unknown"], [1, 2]])
    not_in: list[Any] | None = Field(
        None, description="True where the column is recorded and equals none of these codes (missing values do "
        "not match; add `{column: ..., missing: true}` under any: to include them).",
        examples=[["none", "other"]])
    eq: Any = Field(None, description="True where the column equals this value, compared as text (so `eq: true` "
                    "matches a yes/no column's true values). Missing values never match.", examples=[True, "ongoing"])
    ne: Any = Field(None, description="True where the column is recorded and differs from this value "
                    "(compared as text).", examples=["unknown"])
    lt: float | str | None = Field(
        None, description="True where the column is below this bound: a number for a numeric column, or an ISO "
        "date (YYYY-MM-DD) for a date column listed in data.dates.", examples=[18, "2010-01-01"])
    le: float | str | None = Field(
        None, description="True where the column is at most this bound (number, or ISO date for a date column).",
        examples=[75, "2020-12-31"])
    gt: float | str | None = Field(
        None, description="True where the column is above this bound (number, or ISO date for a date column).",
        examples=[0, "2009-12-31"])
    ge: float | str | None = Field(
        None, description="True where the column is at least this bound (number, or ISO date for a date column).",
        examples=[18, "2010-01-01"])
    missing: bool | None = Field(
        None, description="true: the column is missing (empty); false: it is recorded. The only comparison that "
        "missing values can satisfy.", examples=[True])
    before_column: str | None = Field(
        None, description="True where the column's date is strictly before the date in this other column; rows "
        "where either date is missing do not match.", examples=["date_of_diagnosis"])
    after_column: str | None = Field(
        None, description="True where the column's date is strictly after the date in this other column; rows "
        "where either date is missing do not match.", examples=["second_line_start_date"])
    all_: list["Criterion"] | None = Field(
        default=None, alias="all",
        description="True where every listed criterion is true (logical and). Give it instead of column.",
        examples=[[{"column": "age_at_diagnosis", "ge": 18}, {"column": "stage", "in": ["metastatic"]}]])
    any_: list["Criterion"] | None = Field(
        default=None, alias="any",
        description="True where at least one listed criterion is true (logical or). Give it instead of column.",
        examples=[[{"column": "stage", "in": ["metastatic"]}, {"column": "stage", "missing": True}]])
    not_: "Criterion | None" = Field(
        default=None, alias="not",
        description="True where the nested criterion is false (a missing value that fails the nested comparison "
        "therefore passes). Give it instead of column.",
        examples=[{"column": "stage", "in": ["localized"]}])

    _OPS = ("in_", "not_in", "eq", "ne", "lt", "le", "gt", "ge", "missing", "before_column", "after_column")

    @model_validator(mode="after")
    def _one_operation(self) -> "Criterion":
        combos = [n for n in ("all_", "any_", "not_") if getattr(self, n) is not None]
        ops = [n for n in self._OPS if getattr(self, n) is not None]
        if combos:
            if self.column is not None or ops or len(combos) > 1:
                raise ValueError("a criterion is either one of all/any/not or a column comparison, not both")
            return self
        if self.column is None:
            raise ValueError("a criterion needs 'column' (or one of all/any/not)")
        if len(ops) != 1:
            names = ", ".join(o.rstrip("_") for o in self._OPS)
            raise ValueError(f"give exactly one comparison for column '{self.column}' (one of {names}); "
                             f"got {len(ops)}")
        return self

    def columns(self) -> set[str]:
        """All data columns this criterion reads."""
        out: set[str] = set()
        if self.column:
            out.add(self.column)
        for c in (self.before_column, self.after_column):
            if c:
                out.add(c)
        for sub in (self.all_ or []) + (self.any_ or []) + ([self.not_] if self.not_ else []):
            out |= sub.columns()
        return out

    def describe(self) -> str:
        """Human-readable text for the protocol table, e.g. ``stage in {metastatic, unknown}``."""
        if self.all_:
            return " and ".join(f"({c.describe()})" for c in self.all_)
        if self.any_:
            return " or ".join(f"({c.describe()})" for c in self.any_)
        if self.not_:
            return f"not ({self.not_.describe()})"
        symbols = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
        for op in self._OPS:
            v = getattr(self, op)
            if v is None:
                continue
            if op in ("in_", "not_in"):
                word = "in" if op == "in_" else "not in"
                return f"{self.column} {word} {{{', '.join(map(str, v))}}}"
            if op == "missing":
                return f"{self.column} is {'missing' if v else 'recorded'}"
            if op == "before_column":
                return f"{self.column} before {v}"
            if op == "after_column":
                return f"{self.column} after {v}"
            return f"{self.column} {symbols[op]} {v}"
        return "?"  # unreachable: validated above


class EligibilityStep(_Model):
    """One step of the eligibility cascade; exactly one of ``include`` / ``exclude``."""

    label: str = Field(description="The step's text in the flow diagram and the protocol table, e.g. the "
                       "eligibility criterion as the protocol words it.",
                       examples=["Age < 18 years at diagnosis", "No second-line treatment"])
    include: Criterion | None = Field(
        None, description="Keep only the patients meeting this criterion (those with a missing value in a compared "
        "column are removed). Give include or exclude, not both.",
        examples=[{"column": "first_line_end_reason", "in": ["progression"]}])
    exclude: Criterion | None = Field(
        None, description="Remove the patients meeting this criterion (those with a missing value in a compared "
        "column stay). Give include or exclude, not both.",
        examples=[{"column": "age_at_diagnosis", "lt": 18}])

    @model_validator(mode="after")
    def _one_side(self) -> "EligibilityStep":
        if (self.include is None) == (self.exclude is None):
            raise ValueError(f"step '{self.label}' needs exactly one of 'include' or 'exclude'")
        return self


# --------------------------------------------------------------------------------------------- data
class SyntheticSource(_Model):
    """Settings of the built-in synthetic GIST registry (``data.source: synthetic``; docs/synthetic_registry.md)."""

    n_patients: int = Field(
        480, ge=20, le=10_000_000,
        description="Number of registry records simulated (patients with advanced GIST on palliative first-line "
        "treatment). With the default 480 the study's eligibility gives exactly the published counts "
        "(463 -> 118 -> 110 -> 72 / 38); other sizes draw the counts at random.", examples=[480, 5000])
    tumor_size_missing: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="Probability (0 to below 1) that a record's tumour size is missing completely at random, to "
        "try the covariates' missing-data rules (covariates.<name>.missing). 0: always recorded.",
        examples=[0.15])
    seed: int = Field(
        20201, description="Seed of the simulated records only (the analysis uses the top-level seed); the same "
        "seed and settings give the same records. Also seeds the builtin sequential_demo data.",
        examples=[20201, 7])
    confounding: float = Field(
        1.0, ge=0.0, le=10.0,
        description="Strength of confounding by indication: multiplies the covariate effects on the choice of "
        "the synthetic registry's treated regimen over its control regimen. 0 gives a randomized comparison; 1 is calibrated to the published study.",
        examples=[1.0, 0.0])
    hr_pfs: float = Field(
        0.70, gt=0.0,
        description="True conditional hazard ratio (treated vs control regimen, given covariates) for "
        "progression-free survival from time zero; the report sets the estimates beside the true marginal effects "
        "it implies.", examples=[0.7, 1.0])
    hr_os: float = Field(
        0.85, gt=0.0,
        description="True conditional hazard ratio (treated vs control regimen, given covariates) for overall "
        "survival from time zero.", examples=[0.85, 1.0])


def _shown(value: Any) -> str:
    """A config value as the user wrote it (a nested section as its mapping, not a model repr)."""
    return repr(value.model_dump() if isinstance(value, BaseModel) else value)


class DataSource(_Model):
    """Where the records come from.

    ``source``: ``synthetic`` (the built-in calibrated registry), ``builtin`` (a public dataset a dependency
    ships: ``gbsg2``), ``csv``, ``parquet``, ``excel``, ``duckdb`` (a DuckDB file + ``table`` or ``query``) or
    ``sql`` (an SQLAlchemy ``url`` + ``table`` or ``query``). Relative paths are resolved against the config's
    folder. ``columns`` renames source columns to the names the config uses; ``dates`` lists columns parsed
    as dates (ISO ``YYYY-MM-DD`` unless ``date_format`` is given).
    """

    source: Literal["synthetic", "builtin", "csv", "parquet", "excel", "duckdb", "sql"] = Field(
        "synthetic", description="Kind of data source: synthetic (the built-in simulated GIST registry, settings "
        "in data.synthetic), builtin (a public example dataset, data.name), csv, parquet or excel (a file, "
        "data.path), duckdb (a DuckDB file, data.path with data.table or data.query) or sql (a database, data.url "
        "with data.table or data.query).", examples=["csv", "sql"])
    validation: ValidationConfig | None = Field(
        None, description="Record-level checks run before the cohort is built (registry configs with protocol: "
        "only): date order, events after last follow-up, allowed codes. Unset: the built-in rules for the "
        "synthetic registry, none for other sources (duplicate patient ids are always an error).",
        examples=[{"date_rules": [{"earlier_col": "date_of_diagnosis", "later_col": "date_of_death"}],
                   "vocabularies": {"sex": ["female", "male"]}}])
    path: str | None = Field(
        None, description="The file to read for csv, parquet, excel and duckdb sources; a relative path is "
        "resolved against the config file's folder. CSV files are comma-separated UTF-8 unless sep, decimal and "
        "encoding say otherwise.", examples=["data/registry.csv", "/data/extract_2024.parquet"])
    sep: Literal[",", ";", "\t", "|"] = Field(
        ",", description="csv sources: the field separator. A semicolon for the CSV that European Excel and SPSS "
        "write (with decimal: ','); \"\\t\" for tab-separated text.", examples=[";", "\t"])
    decimal: Literal[".", ","] = Field(
        ".", description="csv sources: the decimal mark of numbers in the file (',' for 3,5). Must differ from "
        "sep.", examples=[","])
    encoding: Literal["utf-8", "latin-1", "cp1252"] = Field(
        "utf-8", description="csv sources: the text encoding of the file. utf-8 (a byte-order mark is skipped), "
        "or cp1252 / latin-1 for files saved by older Windows programs (accented names read as 'Ã©' or refused "
        "as not UTF-8).", examples=["cp1252"])
    name: Literal["gbsg2", "sequential_demo"] | None = Field(
        None, description="Dataset of source: builtin: gbsg2 (the GBSG-2 breast cancer trial data shipped with "
        "lifelines) or sequential_demo (synthetic person-month data for sequential trials).",
        examples=["gbsg2"])
    sheet: str | None = Field(
        None, description="Excel sources: the worksheet to read. Unset: the first sheet.",
        examples=["patients"])
    url: str | None = Field(
        None, description="sql sources: the SQLAlchemy database URL. Passwords are never echoed in messages; better "
        "leave the password out and set it in the driver's environment variable (e.g. PGPASSWORD).",
        examples=["postgresql://analyst@dbhost/registry", "sqlite:///registry.db"])
    table: str | None = Field(
        None, description="duckdb and sql sources: the table read in full (name quoted, so case matters). Give "
        "table or query; query wins when both are given.", examples=["patients"])
    query: str | None = Field(
        None, description="duckdb and sql sources: a SELECT statement whose result is the records, to join or "
        "filter in the database. Give table or query.",
        examples=["SELECT * FROM patients WHERE diagnosis_year >= 2010"])
    synthetic: SyntheticSource = Field(
        SyntheticSource(), description="Settings of the synthetic registry (used when source is synthetic; its "
        "seed also seeds the builtin sequential_demo data).", examples=[{"n_patients": 480, "seed": 20201}])
    id_col: str = Field(
        "patient_id", description="Column holding the patient identifier. Registry configs (protocol:) require it "
        "and reject duplicate ids; identifiers never appear in reports.", examples=["patient_id", "pid"])
    columns: dict[str, str] = Field(
        {}, description="Renames source columns to the names the config uses, {name in the data: name in the "
        "config}; applied before data.dates and everything else.",
        examples=[{"dob": "date_of_birth", "Sex": "sex"}])
    dates: list[str] = Field(
        [], description="Columns parsed as dates (after renaming by data.columns): every column a protocol uses as "
        "a date (time zero, events, censoring, derived spans) must be listed unless the source already stores "
        "dates. Unparseable values are an error.", examples=[["date_of_diagnosis", "date_of_death",
                                                               "date_last_followup"]])
    date_format: str | None = Field(
        None, description="strftime format of the columns in data.dates, e.g. %d-%m-%Y for 31-12-2020. Unset: "
        "ISO 8601 (YYYY-MM-DD).", examples=["%d-%m-%Y", "%d/%m/%Y"])

    @field_validator("sep", mode="before")
    @classmethod
    def _sep_words(cls, v: Any) -> Any:
        """A separator by name (tab, semicolon, comma, pipe) or as the two characters \\t (YAML reads \\t as a
        tab only in double quotes: `sep: '\\t'` and `sep: tab` mean the same)."""
        words = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}
        return words.get(v.strip().lower(), v) if isinstance(v, str) else v

    #: keys each source reads beyond the common ones (validation, id_col, columns, dates, date_format)
    _SOURCE_KEYS: typing.ClassVar[dict[str, tuple[str, ...]]] = {
        "synthetic": ("synthetic",), "builtin": ("name",), "csv": ("path", "sep", "decimal", "encoding"),
        "parquet": ("path",),
        "excel": ("path", "sheet"), "duckdb": ("path", "table", "query"), "sql": ("url", "table", "query")}

    @model_validator(mode="after")
    def _needs(self) -> "DataSource":
        # a key counts as given when it differs from its default (a dumped config repeats every default)
        given = {k for k in self.model_fields_set if getattr(self, k) != type(self).model_fields[k].default}
        unused = [k for k in ("synthetic", "name", "path", "sheet", "url", "table", "query", "sep", "decimal",
                              "encoding")
                  if k in given and k not in self._SOURCE_KEYS[self.source]]
        if unused:
            takes = [k for k in self._SOURCE_KEYS[self.source]]
            raise ValueError(f"'{unused[0]}' is not read by source '{self.source}' (got {unused[0]}: "
                             f"{_shown(getattr(self, unused[0]))}); source '{self.source}' reads {', '.join(takes)}. "
                             f"Remove '{unused[0]}', or choose the source that reads it")
        if self.sep == "," and self.decimal == ",":
            raise ValueError("decimal ',' needs another separator than ',' (got sep: ',', decimal: ','). Set "
                             "`sep: ';'` (the CSV of European Excel) or `decimal: '.'`")
        if "date_format" in given and not self.dates:
            raise ValueError(f"'date_format' applies to the columns listed under 'dates', and none are listed (got "
                             f"date_format: {self.date_format!r}). List the date columns, e.g. `dates: "
                             "[date_of_diagnosis]`, or remove date_format")
        if self.source in ("csv", "parquet", "excel", "duckdb") and not self.path:
            raise ValueError(f"source '{self.source}' needs 'path' (the file to read)")
        if self.source == "builtin" and not self.name:
            raise ValueError("source 'builtin' needs 'name' (one of: gbsg2, sequential_demo)")
        if self.source == "sql" and not self.url:
            raise ValueError("source 'sql' needs 'url' (an SQLAlchemy URL, e.g. postgresql://user@host/db)")
        if self.source in ("duckdb", "sql") and not (self.table or self.query):
            raise ValueError(f"source '{self.source}' needs 'table' or 'query'")
        if self.url and "://" in self.url:
            rest = self.url.partition("://")[2]
            authority = rest.split("/")[0].split("?")[0]
            if authority.count("@") > 1:
                # drivers split such a URL at the wrong '@' and print part of the password as a host name
                raise ValueError("url: the user name or password contains an unencoded '@' (got more than one '@' "
                                 "before the host). Percent-encode it as %40, e.g. `url: postgresql://user:p%40ss@host/db`, "
                                 "or better pass the password in the PGPASSWORD environment variable")
        return self


# --------------------------------------------------------------------------------------------- protocol
class Treatment(_Model):
    """Treatment strategies: which codes of ``column`` define each arm, and which arm is 'treated' (coded 1).

    With three or more arms (issue 18) the first arm listed is the reference of the multinomial propensity
    model, every pair of arms is compared, and ``treated`` names the focal arm of the ATT."""

    column: str = Field(description="Column holding the treatment actually given (its codes are sorted into the "
                        "two arms by treatment.arms).", examples=["second_line_regimen", "treatment"])
    arms: dict[str, list[Any]] = Field(
        description="Exactly two arms, {arm name: [codes of column]}; codes match as text (1 matches \"1\"). "
        "Patients whose code is in neither arm are excluded (a step of the flow diagram).",
        examples=[{"drug_b": ["drug_b_daily", "drug_b_weekly"], "drug_a_high_dose": ["drug_a_800"]},
                  {"treated": [1], "control": [0]}])
    treated: str = Field(description="The arm coded 1 (the 'treated' arm): effects are reported as treated vs the "
                         "other arm, and ATT/ATC refer to it.", examples=["drug_b", "treated"])
    labels: dict[str, str] = Field(
        {}, description="Display labels of the arms in tables, figures and text, {arm name: label}; an arm without "
        "one shows its name.", examples=[{"drug_b": "Drug B (group A)", "drug_a_high_dose": "Drug A 800 mg (group B)"}])

    @model_validator(mode="after")
    def _two_arms(self) -> "Treatment":
        if len(self.arms) < 2:
            raise ValueError(f"at least two arms are needed (got {len(self.arms)}: {', '.join(self.arms)})")
        if self.treated not in self.arms:
            raise ValueError(f"'treated' must name one of the arms ({', '.join(self.arms)}); got '{self.treated}'")
        codes = [c for v in self.arms.values() for c in v]
        if len(codes) != len(set(map(str, codes))):
            raise ValueError("a code is listed under both arms")
        return self

    @property
    def control(self) -> str:
        return next(a for a in self.arms if a != self.treated)

    def label(self, arm: str) -> str:
        return self.labels.get(arm, arm)


class Recode(_Model):
    """Group codes of a column into fewer levels: ``{column: histology, map: {rare: [type_c, type_d, ...]}}``.

    Codes not listed keep their value, or become ``other`` when it is given.
    """

    column: str = Field(description="The categorical column whose codes are grouped (a data column or an earlier "
                        "derived column).", examples=["histology", "localization"])
    map: dict[str, list[Any]] = Field(
        description="New levels and the codes each groups, {new level: [codes]}; codes match as text. Missing "
        "values stay missing.", examples=[{"small_bowel": ["jejunum", "ileum", "duodenum"], "gastric": ["stomach"]}])
    other: str | None = Field(
        None, description="Level given to every recorded code not listed in map. Unset: unlisted codes keep their "
        "value.", examples=["other"])


class DerivedColumn(_Model):
    """A column computed from others: the time between two date columns (``months_between``,
    ``years_between``, ``days_between`` [start, end]) or a ``recode`` of a categorical column."""

    months_between: tuple[str, str] | None = Field(
        None, description="[start date column, end date column]: the time between them in months (days / "
        "30.4375), e.g. the duration of a previous treatment line. Both columns must be dates (data.dates).",
        examples=[["first_line_start_date", "first_line_end_date"]])
    years_between: tuple[str, str] | None = Field(
        None, description="[start date column, end date column]: the time between them in years (days / 365.25), "
        "e.g. age at diagnosis from the date of birth.", examples=[["date_of_birth", "date_of_diagnosis"]])
    days_between: tuple[str, str] | None = Field(
        None, description="[start date column, end date column]: the time between them in days, e.g. the delay "
        "from diagnosis to the start of treatment.", examples=[["date_of_diagnosis", "first_line_start_date"]])
    recode: Recode | None = Field(
        None, description="Group the codes of a categorical column into fewer levels (e.g. rare categories "
        "together).", examples=[{"column": "stage_at_diagnosis",
                                 "map": {"localized": ["localized"], "metastatic": ["metastasized", "multiple"]},
                                 "other": "other"}])

    @model_validator(mode="after")
    def _one(self) -> "DerivedColumn":
        n = sum(x is not None for x in (self.months_between, self.years_between, self.days_between, self.recode))
        if n != 1:
            raise ValueError("give exactly one of months_between, years_between, days_between, recode")
        return self

    def source_columns(self) -> tuple[str, ...]:
        if self.recode is not None:
            return (self.recode.column,)
        return tuple(self.months_between or self.years_between or self.days_between)  # type: ignore[arg-type]


class ArmOutcome(_Model):
    """Per-arm definition of a duration outcome (e.g. time to failure of the treatment started at time zero)."""

    start: str = Field(description="Date column where this arm's duration starts (e.g. the start of the "
                       "treatment whose duration is measured).", examples=["second_line_start_date"])
    end: str = Field(description="Date column where it ends; patients with either date missing have no duration "
                     "in this arm. An end before the start is an error.", examples=["second_line_end_date"])
    require: Criterion | None = Field(
        None, description="Only patients of this arm meeting this criterion get a duration (e.g. those whose "
        "treatment ended by progression or toxicity). Unset: every patient of the arm with both dates.",
        examples=[{"column": "second_line_end_reason", "in": ["progression", "toxicity"]}])


class Outcome(_Model):
    """A time-to-event outcome measured from time zero (or ``start``).

    ``events``: date columns of which the earliest recorded one is the event; ``censor``: the date of last
    follow-up. ``type: duration`` outcomes (``by_arm``) are compared descriptively (Mann-Whitney), as in
    the study's secondary outcome.
    """

    label: str = Field(description="The outcome's name in tables, figures and the report.",
                       examples=["Overall survival", "Progression-free survival"])
    type: Literal["time_to_event", "duration"] = Field(
        "time_to_event", description="time_to_event: time from start (default: time zero) to the earliest of events, "
        "censored at censor; analysed by Kaplan-Meier, RMST and Cox, unadjusted and (if causal) weighted. "
        "duration: a per-arm duration defined by by_arm, compared descriptively (medians, Mann-Whitney test).",
        examples=["time_to_event", "duration"])
    start: str | None = Field(
        None, description="Date column the time is measured from instead of protocol.time_zero (e.g. the date of "
        "diagnosis, for survival from diagnosis). Who is included still follows the eligibility at time zero.",
        examples=["date_of_diagnosis"])
    events: list[str] = Field(
        [], description="Date columns of the outcome events; the earliest recorded one is the event date "
        "(e.g. progression or death for progression-free survival). Required for time_to_event.",
        examples=[["progression_date", "date_of_death"], ["date_of_death"]])
    censor: str | None = Field(
        None, description="Date column of the last follow-up, where patients without an event are censored; "
        "required for time_to_event, and must be recorded for every patient without an event.",
        examples=["date_last_followup"])
    by_arm: dict[str, ArmOutcome] = Field(
        {}, description="duration outcomes: for each arm name (protocol.treatment.arms), the start and end date "
        "columns of the duration, and optionally who has one (require).",
        examples=[{"drug_b": {"start": "second_line_start_date", "end": "second_line_end_date"},
                   "drug_a_high_dose": {"start": "third_line_start_date", "end": "third_line_end_date"}}])
    causal: bool = Field(
        True, description="true: the outcome gets the adjusted analysis (weights, weighted survival, adjusted HR) "
        "besides the unadjusted one; false: unadjusted only (e.g. survival from diagnosis, which starts before "
        "time zero).", examples=[False])

    @model_validator(mode="after")
    def _shape(self) -> "Outcome":
        if self.type == "time_to_event" and (not self.events or not self.censor):
            raise ValueError(f"time-to-event outcome '{self.label}' needs 'events' (date columns) and 'censor'")
        if self.type == "duration" and not self.by_arm:
            raise ValueError(f"duration outcome '{self.label}' needs 'by_arm' (start/end per arm)")
        return self


class CloneCensorConfig(_Model):
    """Config section for a clone-censor-weight analysis (suggested key ``protocol.strategies``).

    Dates are registry columns; times are derived in the protocol's ``time_unit``.

    Parameters
    ----------
    time_zero : str
        Date column of eligibility / time zero (e.g. ``first_line_end_date``).
    treatment_column : str
        Code of the first treatment started after time zero (e.g. ``second_line_regimen``).
    treatment_date : str
        Its start date (e.g. ``second_line_start_date``); missing when none was started.
    strategies : dict
        Exactly two strategies, ``{name: [codes]}``; any other code is "another treatment".
    grace : float
        Grace period *G* in the protocol's time unit (> 0).
    events, censor : list of str, str
        Outcome event date columns (the earliest counts) and the last follow-up date.
    covariates : list of str
        Baseline covariates of both censoring models.
    landmarks, horizon : list of float, float
        Landmark times for survival differences; RMST horizon.
    n_bootstrap : int
        Bootstrap replicates (patients resampled with their clones).
    eligibility : list of EligibilityStep
        Who enters the emulated trial at ``time_zero`` (applied in order to the registry records, after the
        protocol's derived columns); e.g. first line ended by progression. Not the study cascade, which
        conditions on the second line that the strategies are about.
    """

    time_zero: str = Field(description="Date column of time zero of the emulated trial, when patients become "
                           "eligible for both strategies (e.g. progression on the previous line).",
                           examples=["first_line_end_date"])
    eligibility: list[EligibilityStep] = Field(
        [], description="Who enters the emulated trial at time_zero, applied in order to the records (after "
        "protocol.derived). Not the main cascade, which may condition on the later treatment the strategies are "
        "about. Empty: every record with a time_zero date.",
        examples=[[{"label": "First line ended by progression",
                    "include": {"column": "first_line_end_reason", "in": ["progression"]}}]])
    treatment_column: str = Field(
        description="Column with the code of the first treatment started after time_zero (missing when none was "
        "started); codes outside both strategies are deviations.", examples=["second_line_regimen"])
    treatment_date: str = Field(
        description="Date column of that treatment's start; missing when none was started. A start after the end "
        "of follow-up counts as not started.", examples=["second_line_start_date"])
    strategies: dict[str, list[Any]] = Field(
        description="Exactly two strategies, {name: [treatment codes]}: 'start one of these treatments within the "
        "grace period'. Any other code is a deviation (censored). The first strategy is the 'treated' side of "
        "the differences.", examples=[{"switch_to_b": ["drug_b"], "escalate_a": ["drug_a_800"]}])
    grace: float = Field(
        gt=0, description="Grace period G in protocol.time_unit (> 0): a clone still untreated at G is censored "
        "(artificial censoring, corrected by inverse probability weights).", examples=[3, 1.5])
    events: list[str] = Field(description="Date columns of the outcome events; the earliest recorded one counts.",
                              examples=[["date_of_death"], ["progression_date", "date_of_death"]])
    censor: str = Field(description="Date column of the last follow-up, where patients without an event are "
                        "censored.", examples=["date_last_followup"])
    covariates: list[str] = Field(
        [], description="Baseline covariates (columns, categorical ones dummy-coded) of the two censoring models, "
        "which must capture what drives both the timing of treatment and the outcome. Empty: models without "
        "covariates.",
        examples=[["age_at_diagnosis", "first_line_months"]])
    outcome: str = Field("os", description="Name of the outcome in the strategy estimates and results.json.",
                         examples=["os_from_progression"])
    landmarks: list[float] = Field(
        [6.0, 12.0, 24.0], description="Times (protocol.time_unit) at which survival and survival differences of "
        "the strategies are reported; each must be > 0 and within both strategies' follow-up.",
        examples=[[12, 24]])
    horizon: float | None = Field(
        24.0, description="RMST horizon (protocol.time_unit) for the restricted mean survival time difference; "
        "within both strategies' follow-up. null: no RMST.", examples=[24, 36])
    n_bootstrap: int = Field(
        200, ge=10, le=100_000,
        description="Bootstrap replicates for the intervals (patients resampled together with their clones; the "
        "censoring models are refitted in each).", examples=[200, 500])
    alpha: float = Field(0.05, gt=0, lt=0.5, description="1 - confidence level of the strategy intervals (0.05: 95% "
                         "intervals).", examples=[0.05])

    @field_validator("strategies")
    @classmethod
    def _two(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if len(v) != 2:
            raise ValueError(f"exactly two strategies are supported (got {len(v)}: {', '.join(v)})")
        codes = [str(c) for cs in v.values() for c in cs]
        if len(codes) != len(set(codes)):
            raise ValueError("a treatment code is listed under both strategies")
        return v

    @model_validator(mode="after")
    def _events(self) -> "CloneCensorConfig":
        if not self.events:
            raise ValueError("'events' needs at least one event date column")
        return self


class Protocol(_Model):
    """The target-trial protocol as applied to registry records."""

    eligibility: list[EligibilityStep] = Field(
        description="The eligibility criteria, applied in this order to the records; each step removes patients "
        "and becomes a box of the flow diagram. At least one step.",
        examples=[[{"label": "Adults", "exclude": {"column": "age_at_diagnosis", "lt": 18}},
                   {"label": "No second-line treatment", "exclude": {"column": "second_line_regimen",
                                                                     "in": ["none"]}}]])
    treatment: Treatment = Field(
        description="The compared treatment strategies: the column, the codes of each arm and the treated arm.",
        examples=[{"column": "second_line_regimen", "arms": {"drug_b": ["drug_b"], "drug_a_high_dose": ["drug_a_800"]},
                   "treated": "drug_b"}])
    time_zero: str = Field(
        description="Date column of time zero, where follow-up of every outcome starts (unless the outcome gives "
        "start) and eligibility and treatment assignment should coincide; must be recorded for every eligible "
        "patient.", examples=["second_line_start_date"])
    assignment: str = Field(
        "Non-random: treatment chosen by the treating physician; emulated randomization by adjustment for baseline covariates (IPTW).",
        description="Text of the protocol table's 'Assignment procedure' row: how treatment was assigned in the "
        "data and how randomization is emulated.",
        examples=["Non-random: treatment chosen by the treating physician; emulated by inverse probability "
                  "weighting on baseline covariates."])
    follow_up_end: str = Field(
        "Last follow-up, death, or the data cut-off, whichever first.",
        description="Text of the protocol table's 'Follow-up' row: when follow-up ends.",
        examples=["Death, loss to follow-up or 30 June 2021, whichever first."])
    causal_contrast: str = Field(
        "Observational analogue of the intention-to-treat effect (initiation of the strategy at time zero).",
        description="Text of the protocol table's 'Causal contrast' row (e.g. the observational analogue of "
        "intention to treat, or a per-protocol effect).",
        examples=["Observational analogue of the intention-to-treat effect."])
    derived: dict[str, DerivedColumn] = Field(
        {}, description="Columns computed before eligibility, {new column name: definition}: time between two "
        "dates or a recode; usable in eligibility, outcomes' require and covariates like data columns, and by "
        "later derived columns.",
        examples=[{"first_line_months": {"months_between": ["first_line_start_date", "first_line_end_date"]}}])
    outcomes: dict[str, Outcome] = Field(
        description="The outcomes, {name: definition}; the name is used in analysis.primary_outcome, in file "
        "names and in results.json.",
        examples=[{"os": {"label": "Overall survival", "events": ["date_of_death"],
                          "censor": "date_last_followup"}}])
    time_unit: Literal["days", "months", "years"] = Field(
        "months", description="Unit of every time computed from dates (outcomes, landmarks, horizon, grace "
        "period, at-risk times): days, months (days / 30.4375) or years (days / 365.25).",
        examples=["months", "days"])
    start_population: str = Field(
        "All records in the data source",
        description="Label of the first box of the flow diagram (the records the eligibility starts from).",
        examples=["Patients with advanced disease in the registry, 2009-2020"])
    eligibility_date: str | None = Field(
        None, description="Date column on which eligibility is met (e.g. progression on the previous line). When "
        "given, patients whose eligibility date is after time zero (treatment started before eligibility was "
        "met) are counted in a warning (time-zero alignment check); the cohort is not changed.",
        examples=["first_line_end_date"])
    strategies: CloneCensorConfig | None = Field(
        None, description="Optional clone-censor-weight emulation of two sustained strategies with a grace period "
        "(e.g. 'start drug B within 3 months' vs 'escalate drug A within 3 months'), run beside the main analysis "
        "with its own eligibility and time zero.",
        examples=[{"time_zero": "first_line_end_date", "treatment_column": "second_line_regimen",
                   "treatment_date": "second_line_start_date",
                   "strategies": {"switch_to_b": ["drug_b"], "escalate_a": ["drug_a_800"]}, "grace": 3,
                   "events": ["date_of_death"], "censor": "date_last_followup"}])

    @field_validator("eligibility")
    @classmethod
    def _nonempty(cls, v: list[EligibilityStep]) -> list[EligibilityStep]:
        if not v:
            raise ValueError("at least one eligibility step is needed")
        return v


class TableOutcome(_Model):
    """An outcome column (or columns) of the analysis-ready table.

    ``type`` (default ``time_to_event``): ``time_to_event`` needs ``time_col`` and ``event_col`` (``event_value`` the
    code meaning "event"). ``binary`` and ``continuous`` outcomes are measured once per patient (response,
    toxicity, a laboratory value) in ``value_col``; a binary outcome is 1 where ``value_col`` equals ``event_value``.
    ``competing`` needs ``time_col``, ``event_col`` holding the cause code of the first event (``censor_value``,
    default 0, for censored patients) and ``causes`` naming each code, e.g.
    ``causes: {1: progression, 2: toxicity death}``.
    """

    label: str = Field(description="The outcome's name in tables, figures and the report.",
                       examples=["Recurrence-free survival", "Objective response"])
    type: Literal["time_to_event", "binary", "continuous", "competing"] = Field(
        "time_to_event", description="Kind of outcome: time_to_event (time_col, event_col; Kaplan-Meier, RMST, "
        "Cox), binary (value_col; risk difference, risk ratio, odds ratio), continuous (value_col; mean "
        "difference) or competing (time_col, event_col holding the cause code, causes; cumulative incidence per "
        "cause).", examples=["binary", "competing"])
    time_col: str | None = Field(
        None, description="Column with the follow-up time from time zero in table.time_unit (>= 0, no missing "
        "values); time_to_event and competing outcomes.", examples=["rfs_months", "time"])
    event_col: str | None = Field(
        None, description="Column with the event indicator (time_to_event: the code event_value means the event, "
        "any other value censoring) or, for competing outcomes, the code of the first event's cause.",
        examples=["rfs_event", "status"])
    event_value: Any = Field(
        1, description="The code meaning 'event' in event_col (time_to_event) or value_col (binary), compared as "
        "text; every other value is censoring / no event.", examples=[1, "yes"])
    value_col: str | None = Field(
        None, description="Column of a binary (two codes, event_value meaning yes) or continuous (numbers) outcome "
        "measured once per patient; patients with a missing value are left out of its comparison.",
        examples=["response"])
    causes: dict[Any, str] = Field(
        {}, description="Competing outcomes: {event_col code: cause label} for every kind of first event; codes "
        "must differ from censor_value. The first cause listed is the cause of interest: the report's answer, the "
        "E-values, the tipping point and the specification grid use it (list it first, e.g. `{2: death, 1: "
        "transplant}`).", examples=[{1: "progression", 2: "toxicity death"}])
    censor_value: Any = Field(
        0, description="Competing outcomes: the event_col code of censored patients (no event yet).",
        examples=[0])
    causal: bool = Field(
        True, description="true: the outcome gets the weighted (adjusted) analysis besides the unadjusted one; "
        "false: unadjusted only.", examples=[False])

    @model_validator(mode="after")
    def _shape(self) -> "TableOutcome":
        need = {"time_to_event": ("time_col", "event_col"), "binary": ("value_col",), "continuous": ("value_col",),
                "competing": ("time_col", "event_col")}[self.type]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            example = {"time_col": "time_col: pfs_months", "event_col": "event_col: pfs_event",
                       "value_col": "value_col: response"}
            raise ValueError(f"a {self.type} outcome needs {' and '.join(missing)} (got none for outcome "
                             f"'{self.label}'). Add `{'`, `'.join(example[k] for k in missing)}`")
        if self.type == "competing":
            if not self.causes:
                raise ValueError(f"a competing outcome needs causes (got none for outcome '{self.label}'). Add "
                                 "`causes: {1: progression, 2: toxicity death}` (event code: label)")
            if str(self.censor_value) in {str(c) for c in self.causes}:
                raise ValueError(f"censor_value must differ from every cause code (got {self.censor_value!r} for "
                                 f"outcome '{self.label}'). Set `censor_value: 0` and give the causes nonzero codes")
        elif self.causes:
            raise ValueError(f"causes apply to competing outcomes only (got type: {self.type} for outcome "
                             f"'{self.label}'). Remove `causes:` or set `type: competing`")
        return self


class AnalysisTable(_Model):
    """An analysis-ready table: one row per patient with time, event, treatment and covariates."""

    treatment: Treatment = Field(
        description="The treatment column, the codes of the two arms and the treated arm.",
        examples=[{"column": "hormone_therapy", "arms": {"treated": ["yes"], "control": ["no"]},
                   "treated": "treated"}])
    outcomes: dict[str, TableOutcome] = Field(
        description="The outcomes, {name: definition}; the name is used in analysis.primary_outcome, in file names "
        "and in results.json.",
        examples=[{"rfs": {"label": "Recurrence-free survival", "time_col": "rfs_months", "event_col": "rfs_event"}}])
    time_unit: Literal["days", "weeks", "months", "years"] = Field(
        "months", description="Unit of the table's time columns, and so of landmarks, horizon and at-risk times; "
        "used in labels and to choose round at-risk times.", examples=["days", "months"])

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        # accepted and never applied in earlier versions; rejected so nobody relies on it
        if isinstance(data, dict) and "exclude_missing" in data:
            raise ValueError("exclude_missing is not applied and no longer accepted (got table.exclude_missing). "
                             "Remove it; choose the rule per covariate with `covariates: {age: {missing: "
                             "complete_case}}`")
        return data


# --------------------------------------------------------------------------------------------- analysis
class SequentialTrials(_Model):
    """Sequential emulated trials from a person-period table (one row per patient and period; Hernan et al.
    2008; Danaei et al. 2013): a new trial starts in each period where a patient is eligible, comparing
    initiation of treatment in that period with no initiation (see gistcausal.stats.sequential)."""

    id_col: str = Field(description="Column with the patient identifier: the cluster of the robust standard "
                        "errors (a patient enters several trials).", examples=["patient_id", "id"])
    period_col: str = Field(description="Column with the start of the row's period on the analysis clock (e.g. "
                            "months since first becoming eligible); one row per patient and period.",
                            examples=["month"])
    eligible_col: str = Field(description="Boolean column: the patient meets the trial's eligibility at the start "
                              "of this period (typically not yet treated, alive and followed); each such row "
                              "starts a trial.", examples=["eligible"])
    treatment_col: str = Field(description="Column coded 1 when treatment starts in this period, else 0: the arm of "
                               "the trial starting in the period (initiate vs not).", examples=["treat"])
    time_col: str = Field(description="Column with the patient's outcome or censoring time on the same clock as "
                          "period_col, the same on every row of the patient.", examples=["time"])
    event_col: str = Field(description="Column with the patient's event indicator (1 event, 0 censored), the same "
                           "on every row of the patient.", examples=["event"])
    covariates: list[str] = Field(
        [], description="Numeric columns measured at each period's start, used as the trial's baseline covariates "
        "in the pooled Cox model (adjustment); add 'trial' for a linear trend over trials.",
        examples=[["age", "biomarker"]])
    max_trials: int | None = Field(
        None, ge=1, description="Keep only the first this many periods (trials) in calendar order. Unset: every "
        "period with an eligible patient.", examples=[12])
    time_unit: Literal["days", "weeks", "months", "years"] = Field(
        "months", description="Unit of period_col and time_col, for labels and the at-risk times.",
        examples=["months", "weeks"])
    outcome: str = Field("outcome", description="Name of the outcome in the estimates and results.json.",
                         examples=["death"])
    outcome_label: str = Field("Outcome", description="Display label of the outcome in tables and figures.",
                               examples=["Death from any cause"])
    labels: dict[str, str] = Field(
        {"initiate": "Initiate treatment", "no_initiation": "Do not initiate (yet)"},
        description="Display labels of the two arms; give both keys, initiate and no_initiation.",
        examples=[{"initiate": "Start drug B now", "no_initiation": "Do not start drug B (yet)"}])


class Covariate(_Model):
    """One covariate: its type, display ``label``, Table 1 summary, level order (``levels``), missing-data rule.

    ``level_labels`` (``{code: label}``) gives the display label of each level in Table 1, the balance tables
    and the love plot, e.g. ``level_labels: {kit_exon_11: "KIT exon 11", not_reported: "Not reported"}``;
    codes without a label print as they are. ``binary_level`` is the level shown on the single row of a
    two-level variable (default: a yes-like level 1/true/yes, else the second level).
    """

    type: Literal["categorical", "continuous", "binary"] = Field(
        description="continuous: numbers, entered linearly (or as a spline, spline_df) and summarized by mean or "
        "median; categorical: codes, one indicator per level except the first (the reference); binary: two "
        "levels, coded like categorical and shown on one row of Table 1.",
        examples=["continuous", "categorical"])
    label: str | None = Field(None, description="Display name in Table 1, the balance tables and the love plot. "
                              "Unset: the column name.", examples=["Age at diagnosis (years)"])
    summary: Literal["mean_sd", "median_range", "median_iqr"] | None = Field(
        None, description="Table 1 summary of a continuous covariate: mean (SD), median (range) or median (IQR). "
        "Unset: mean (SD). The IQR is shown only when every median-summarized covariate asks for it, else the "
        "range.", examples=["median_range", "mean_sd"])
    levels: list[Any] | None = Field(
        None, description="Categorical and binary covariates: the codes in order; the first is the reference of "
        "the propensity model and Table 1 lists levels in this order. Values outside the list are an error; "
        "listed levels absent from the cohort are dropped. Unset: sorted order.",
        examples=[["low", "high", "not_reported"], ["female", "male"]])
    missing: Literal["error", "category", "complete_case", "impute"] = Field(
        "error", description="What to do with missing values: error (stop with a message naming the column), "
        "category (categorical/binary only: a level named missing_label), complete_case (drop those patients, "
        "shown in the flow diagram) or impute (multiple imputation by chained equations, analysis.imputations "
        "data sets, estimates pooled by Rubin's rules).", examples=["category", "impute"])
    missing_label: str = Field(
        "not_reported", description="Name of the level that holds missing values under missing: category; shown "
        "as 'Not reported' unless level_labels labels it.", examples=["not_reported", "unknown"])
    in_propensity: bool = Field(
        True, description="Enter this covariate in the propensity model (and entropy balancing, matching distance, "
        "covariate-adjusted Cox model, sensitivity analyses). false: shown in Table 1 only, e.g. a detailed "
        "variable whose grouped version is in the model.", examples=[False])
    in_table1: bool = Field(
        True, description="Show this covariate in Table 1 (unweighted and weighted). false: model only, e.g. a "
        "grouped version of a variable Table 1 shows in detail. Balance tables show covariates with either flag.",
        examples=[False])
    spline_df: int | None = Field(
        None, ge=3, le=10,
        description="Continuous covariates: enter as a natural cubic spline with this many degrees of freedom "
        "(as R splines::ns) in the propensity model instead of linearly. Unset: linear.", examples=[3, 4])
    # issue 20: sizes and durations are right-skewed and act on the log scale; entering them linearly biased
    # the default analysis (docs/coverage.md)
    transform: Literal["log"] | None = Field(
        None, description="Scale on which a continuous covariate enters the propensity model: 'log' for a "
        "positive, right-skewed variable (tumour size, a duration). Table 1 and balance stay on the recorded "
        "scale.", examples=["log"])
    level_labels: dict[Any, str] = Field(
        {}, description="Display labels of levels, {code: label}, in Table 1, the balance tables and the love "
        "plot; keys must be among levels when levels is given. Codes without a label print as they are.",
        examples=[{"low": "Low (<=5/50 HPF)", "high": "High (>5/50 HPF)", "not_reported": "Not reported"}])
    binary_level: Any = Field(
        None, description="Two-level covariates: the level shown on their single Table 1 row. Unset: a yes-like "
        "level (1, true, yes), else the second level.", examples=["male", 1])

    @model_validator(mode="after")
    def _labels(self) -> "Covariate":
        # Level labels and the one-row level of a binary variable only mean something for categorical data; a
        # typo in a level code would otherwise silently leave the code in Table 1.
        if (self.level_labels or self.binary_level is not None) and self.type == "continuous":
            raise ValueError("level_labels and binary_level apply to categorical and binary covariates "
                             "(got type: continuous)")
        if self.spline_df is not None and self.type != "continuous":
            raise ValueError(f"spline_df applies to continuous covariates (got type: {self.type}, spline_df: "
                             f"{self.spline_df}); remove spline_df, or set `type: continuous`")
        if self.levels is not None:
            known = {str(v) for v in self.levels} | {str(self.missing_label)}
            unknown = [k for k in self.level_labels if str(k) not in known]
            if unknown:
                raise ValueError(f"level_labels keys must be among levels {list(self.levels)} (got {unknown})")
            if self.binary_level is not None and str(self.binary_level) not in known:
                raise ValueError(f"binary_level must be one of levels {list(self.levels)} "
                                 f"(got {self.binary_level!r})")
        if self.transform is not None and (self.type != "continuous" or self.spline_df):
            raise ValueError(f"transform: {self.transform} applies to a continuous covariate without spline_df "
                             f"(got type: {self.type}, spline_df: {self.spline_df}); remove one of them")
        empty = [k for k, v in self.level_labels.items() if not str(v).strip()]
        if empty:
            raise ValueError(f"level_labels must be non-empty text (got an empty label for {empty})")
        return self

    @model_validator(mode="after")
    def _levels(self) -> "Covariate":
        if self.levels is None:
            return self
        if self.type == "continuous":
            raise ValueError("levels apply to categorical and binary covariates (got type: continuous). Remove "
                             "`levels:` or set `type: categorical`")
        texts = [str(v) for v in self.levels]
        if len(set(texts)) != len(texts) or not texts:
            raise ValueError(f"levels must be distinct codes, the reference first (got {texts})")
        return self


class PropensityConfig(_Model):
    """The propensity-score model: the probability of the treated arm given the covariates with in_propensity."""

    method: Literal["logistic", "firth", "boosting"] = Field(
        "logistic", description="logistic: maximum-likelihood logistic regression (as R glm); firth: Firth's "
        "penalized logistic regression, which exists under separation (small arms, rare levels); boosting: "
        "gradient boosting with cross-fitting (n_folds) for non-linear scores. M-estimation variance needs "
        "logistic.", examples=["firth", "boosting"])
    interactions: list[tuple[str, str]] = Field(
        [], description="Pairs of covariates (names under covariates:) whose product also enters the logistic or "
        "Firth model, e.g. when the effect of age on treatment choice differs by sex.",
        examples=[[["age", "sex"]]])
    n_folds: int = Field(
        5, ge=2, le=20, description="boosting only: folds of cross-fitting; each patient's score comes from a model "
        "fitted without that patient's fold.", examples=[5, 10])
    calibrate: bool = Field(
        True, description="boosting only: Platt-calibrate each fold's model so the scores are probabilities "
        "(sigmoid calibration).", examples=[True])


class WeightsConfig(_Model):
    """How the arms are made comparable: propensity-score weights, matching or entropy balancing."""

    method: Literal["iptw", "matching", "ebal"] = Field(
        "iptw", description="How the arms are made comparable: 'iptw' (propensity-score weights for each "
        "estimand), 'matching' (greedy nearest-neighbour propensity-score matching, settings in "
        "analysis.matching; estimands ATT/ATC, robust variance) or 'ebal' (entropy balancing of the propensity "
        "covariates; estimands ATE/ATT/ATC).", examples=["iptw", "ebal"])
    moments: Literal[1, 2] = Field(1, description="Entropy balancing (method: ebal) only: 1 balances the "
                                   "covariate means, 2 also their variances.", examples=[2])
    stabilize: bool = Field(
        True, description="Stabilize the ATE weights (multiply each arm's weights by the arm's share of "
        "patients), so each arm's weights sum to about its size (Robins et al. 2000). Ignored for the other "
        "estimands, where it is not defined.", examples=[True, False])
    truncate: tuple[float, float] | None = Field(
        None, description="IPTW only: [low, high] percentiles (0-100); weights below or above them are set to them "
        "(Cole & Hernan 2008). Trades a little bias for variance; not with M-estimation variance. Unset: no "
        "truncation.", examples=[[1, 99], [5, 95]])
    trim: Literal["crump"] | tuple[float, float] | None = Field(
        None, description="IPTW only: drop patients whose propensity score is outside [low, high] (probabilities), "
        "or outside Crump et al.'s (2009) optimal interval with 'crump'. This changes the target population to "
        "the trimmed one. Unset: no trimming.", examples=["crump", [0.05, 0.95]])

    @field_validator("truncate")
    @classmethod
    def _pct(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 <= v[0] < v[1] <= 100):
            raise ValueError(f"truncate is a pair of percentiles 0 <= low < high <= 100 (got {list(v)})")
        return v


class MatchingConfig(_Model):
    """Nearest-neighbour propensity-score matching (used when analysis.weights.method is 'matching')."""

    ratio: int = Field(1, ge=1, le=10, description="Matches per focal patient (1:k matching): controls per "
                       "treated patient for the ATT, treated per control for the ATC.", examples=[1, 2])
    caliper: float | None = Field(0.2, gt=0, description="Largest allowed distance between matched patients, in "
                                  "SDs of the logit propensity score (Austin 2011: 0.2); focal patients without a "
                                  "match within it are dropped and counted. null: no caliper.", examples=[0.2, 0.1])
    replace: bool = Field(False, description="Match with replacement: a patient of the other arm can be matched to "
                          "several focal patients.", examples=[True])
    exact: list[str] = Field([], description="Covariates (names under covariates:) matched exactly: matches are "
                             "sought within each combination of their values.", examples=[["sex"]])


class SurvivalConfig(_Model):
    """Estimands, time points and variance of the survival comparisons."""

    landmarks: list[float] = Field(
        [6.0, 12.0, 24.0], description="Times (in the protocol's or table's time_unit, > 0) at which survival, "
        "survival differences and ratios are reported. The adjusted analysis needs each within every arm's "
        "follow-up; the unadjusted one reports those within the outcome's follow-up.",
        examples=[[6, 12, 24], [365, 730]])
    horizon: float | None = Field(
        24.0, description="Horizon tau (time_unit) of the restricted mean survival time (RMST) and its difference, "
        "and of the DoWhy refutation, for the adjusted analysis; must be within every arm's follow-up. null: no RMST "
        "and no refutation.",
        examples=[24, 60])
    estimands: list[Estimand] = Field(
        ["ATE"], description="Target populations of the adjusted analysis, each run in full: ATE (everyone), ATT "
        "(patients like the treated arm), ATC (like the control arm), ATO (overlap weights: patients in clinical "
        "equipoise). The first is the main one (sensitivity analyses, plasmode, the report's answer).",
        examples=[["ATE", "ATT"], ["ATT"]])
    # m_estimation_corrected: Mancl-DeRouen small-sample sandwich with t intervals (issue 20, docs/coverage.md)
    variance: Literal["robust", "m_estimation", "m_estimation_corrected", "bootstrap"] = Field(
        "robust", description="Standard errors of the adjusted estimates: robust (sandwich with the weights taken "
        "as known; conservative for the ATE), m_estimation (stacked estimating equations that also count the "
        "propensity model's uncertainty; logistic propensity model and no truncation), m_estimation_corrected "
        "(the same with a small-sample leverage correction and t intervals, for cohorts of about 100-400) or "
        "bootstrap (propensity model refitted in each of bootstrap_replicates resamples).",
        examples=["bootstrap", "m_estimation_corrected"])
    bootstrap_replicates: int = Field(
        200, ge=10, le=100_000, description="Resamples of the bootstrap variance (variance: bootstrap); 1000 or "
        "more for BCa intervals or final results.", examples=[200, 1000])
    bootstrap_ci: Literal["percentile", "bca"] = Field(
        "percentile", description="Bootstrap interval: percentile, or bca (bias-corrected and accelerated; needs "
        "more replicates).", examples=["bca"])
    doubly_robust: bool = Field(
        False, description="Also report the doubly robust (AIPTW) estimates of survival at the landmarks and of the "
        "RMST, consistent if either the propensity or the outcome model is right (not for ATO).",
        examples=[True])
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="1 - confidence level of every interval, and the "
                         "significance level of the tests (0.05: 95% intervals).", examples=[0.05, 0.1])

    @field_validator("landmarks")
    @classmethod
    def _pos(cls, v: list[float]) -> list[float]:
        if any(not (x > 0 and math.isfinite(x)) for x in v):
            raise ValueError(f"landmarks must be positive times (got {v})")
        return sorted(v)


class RefutationConfig(_Model):
    """DoWhy refutation of the main estimate through a pseudo-observation bridge (see gistcausal.stats.refutation)."""

    enabled: bool = Field(True, description="Run the DoWhy refutation of the main estimate (needs "
                          "analysis.survival.horizon; ATO is refuted as ATE).", examples=[False])
    refuters: list[Literal["placebo_treatment", "random_common_cause", "data_subset", "bootstrap",
                           "add_unobserved_common_cause"]] = Field(
        ["placebo_treatment", "random_common_cause", "data_subset", "bootstrap", "add_unobserved_common_cause"],
        description="DoWhy refuters, run in this order: placebo_treatment (a permuted treatment should show no "
        "effect), random_common_cause (an added random covariate should not change it), data_subset and bootstrap "
        "(it should be stable on resampled data), add_unobserved_common_cause (its change under a simulated "
        "unmeasured confounder).", examples=[["placebo_treatment", "data_subset"]])
    num_simulations: int = Field(20, ge=5, le=1000, description="Simulations per refuter; run time grows "
                                 "linearly (DoWhy's p-values use a normal approximation below 100).",
                                 examples=[20, 100])
    bridge: Literal["rmst_pseudo", "surv_pseudo"] = Field(
        "rmst_pseudo", description="How the censored outcome is made a complete one for DoWhy: pseudo-observations "
        "of the RMST up to the horizon (rmst_pseudo) or of survival at the horizon (surv_pseudo).",
        examples=["surv_pseudo"])
    extra_edges: list[tuple[str, str]] = Field(
        [], description="Further arrows [from, to] of the causal graph given to DoWhy, between propensity "
        "covariates as they enter the model: a continuous covariate by its name, a categorical level as "
        "'<covariate>: <level>'. Every covariate already points at treatment and outcome.",
        examples=[[["age", "tumor_size"]]])


class SensitivityConfig(_Model):
    """Sensitivity analyses run on the main estimate (primary outcome, first estimand)."""

    evalues: bool = Field(True, description="E-values (VanderWeele & Ding 2017) of the main comparison's HR, RMST "
                          "difference and survival differences/ratios, with measured covariates as benchmarks: how "
                          "strong an unmeasured confounder would have to be to explain the effect away. A binary or "
                          "continuous primary outcome: its risk ratio, odds ratio, risk or mean difference; a "
                          "competing-risks one: the first cause's cause-specific HR and cumulative incidence ratios "
                          "and differences.", examples=[True])
    tipping_point: bool = Field(True, description="Tipping-point grid of the hazard ratio (the cause-specific HR of "
                                "the first cause for a competing-risks primary outcome): the estimate and "
                                "interval corrected for a binary unmeasured confounder over a grid of prevalences "
                                "and strengths.", examples=[False])
    specification_grid: bool = Field(True, description="Re-run the main hazard ratio (risk or mean difference of a "
                                     "binary or continuous primary outcome; cumulative incidence difference and "
                                     "cause-specific HR of a competing-risks one) under alternative reasonable "
                                     "choices (propensity model, estimand, weighting method, truncation, trimming, "
                                     "missing-data handling) to show whether the conclusion depends on them.",
                                     examples=[False])
    refutation: RefutationConfig = Field(RefutationConfig(), description="The DoWhy refutation tests of the main "
                                         "estimate.", examples=[{"enabled": True, "num_simulations": 50}])
    negative_control: str | None = Field(
        None, description="Name of a time-to-event outcome (under outcomes) that the treatment should not affect; "
        "it is analysed like the main outcome (same propensity model and weights, first estimand), and an "
        "effect points to residual confounding. Unset: "
        "none.", examples=["hip_fracture"])


class PlasmodeConfig(_Model):
    """Plasmode simulation of the analysis plan inside ``gistcausal run`` (see gistcausal.analysis.plasmode).
    Where its replicates run is ``analysis.engine``."""

    enabled: bool = Field(False, description="Run a plasmode simulation in gistcausal run: outcomes simulated from "
                          "models fitted to this cohort with a known effect, analysed by this plan, to report its "
                          "bias, coverage and power on data like these. Needs analysis.causal and covariates.",
                          examples=[True])
    n_replicates: int = Field(200, ge=10, le=1_000_000, description="Simulated data sets; the Monte-Carlo error of "
                              "coverage is about sqrt(0.95 * 0.05 / n_replicates).", examples=[200, 1000])
    true_hr: float | None = Field(None, gt=0, description="Hazard ratio injected into the simulated outcomes of a "
                                  "time-to-event primary outcome, or the cause-specific hazard ratio of `cause` for a "
                                  "competing-risks one (the other causes keep their fitted effects); with three or more arms, the "
                                  "conditional HR of every arm against the first. Unset: the "
                                  "treatment effect fitted on the real cohort. Refused for binary and continuous "
                                  "primary outcomes (use true_or or true_mean_diff).", examples=[0.7, 1.0])
    true_or: float | None = Field(None, gt=0, description="Binary primary outcome: the conditional odds ratio put "
                                  "in the logistic outcome model the simulated outcomes are drawn from (the truth is "
                                  "the marginal risk difference, risk ratio and odds ratio it implies). Unset: the "
                                  "fitted one. Refused for other outcome types.", examples=[0.6, 1.0])
    true_mean_diff: float | None = Field(None, description="Continuous primary outcome: the mean difference put in "
                                         "the linear outcome model (normal residuals at the fitted residual SD). "
                                         "Unset: the fitted one. Refused for other outcome types.",
                                         examples=[2.5, 0.0])
    cause: str | None = Field(None, description="Competing-risks primary outcome: the label of the cause of "
                              "interest (a value of the outcome's `causes`), whose cause-specific HR is true_hr and "
                              "whose CIF and RMTL differences are the truth. Unset: the first cause. Refused for "
                              "other outcome types.", examples=["progression"])
    marginal: bool = Field(False, description="true: true_hr is the marginal hazard ratio of the estimand (the "
                           "conditional effect is solved for it; true_hr required); false: true_hr is the "
                           "conditional HR put in the outcome model.", examples=[True])
    treatment: Literal["observed", "simulated"] = Field(
        "observed", description="observed: resampled patients keep their real treatment (arm sizes fixed); "
        "simulated: treatment is drawn from the fitted propensity model (multinomial with three or more arms), so "
        "that model is correctly specified.",
        examples=["simulated"])
    methods: list[Literal["iptw", "unadjusted"]] = Field(
        ["iptw", "unadjusted"], description="Estimators run on each simulated data set: iptw (the configured "
        "adjusted analysis) and unadjusted (the crude comparison, for reference).", examples=[["iptw"]])

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        # plasmode's own backend/scheduler keys were never documented and are now the run-wide analysis.engine;
        # rejected with the new spelling instead of silently ignored
        if isinstance(data, dict):
            for old, new in (("backend", "kind: dask"), ("scheduler", "address: tcp://host:8786")):
                if old in data:
                    raise ValueError(f"analysis.plasmode.{old} moved to analysis.engine, which every replicate "
                                     f"loop uses (got {old}: {data[old]}). Remove it and set `analysis: {{engine: "
                                     f"{{{new}}}}}`")
        return data


class EngineConfig(_Model):
    """Where the replicate loops run: the bootstrap, plasmode, the specification grid, the DoWhy refuters and the
    clone-censor-weight bootstrap (see gistcausal.engine). Every replicate is seeded on its own, so the numbers
    are the same on any engine and any number of workers."""

    kind: Literal["local", "dask"] = Field(
        "local", description="'local': worker processes on this machine (joblib/loky), or this process when "
        "n_workers is 1. 'dask': a Dask cluster: the scheduler at `address`, or a local Dask cluster of "
        "n_workers processes when address is null.", examples=["dask"])
    address: str | None = Field(
        None, description="Dask scheduler address (kind: dask only); null starts a local Dask cluster for the run.",
        examples=["tcp://scheduler-host:8786"])
    n_workers: int | None = Field(
        None, ge=1, le=4096, description="Worker processes on this machine (local, or a local Dask cluster); null "
        "for one per core, 1 to run in this process. Not used with an address (the cluster has its workers).",
        examples=[2])

    @model_validator(mode="after")
    def _consistent(self) -> "EngineConfig":
        if self.address is not None and self.kind != "dask":
            raise ValueError(f"address applies to kind 'dask' only (got kind: {self.kind}, address: {self.address}). "
                             "Set `kind: dask`, or remove `address:`")
        if self.address is not None and self.n_workers is not None:
            raise ValueError(f"n_workers applies to a local cluster; the scheduler at the address has its own "
                             f"workers (got n_workers: {self.n_workers} with address: {self.address}). Remove "
                             "`n_workers:`")
        return self


class Reporting(_Model):
    """What a TARGET-statement report needs and the data cannot tell (Cashin AG et al. JAMA/BMJ 2025).

    Every field is free text, empty by default; an empty field leaves its checklist item marked
    "not reported by this analysis (author to add)" in the report's TARGET checklist.
    """

    causal_question: str = Field(
        "", max_length=2000,
        description="The causal question in words: population, strategies compared, outcome and effect measure "
                    "(TARGET introduction). Empty: the checklist builds a partial one from the protocol.",
        examples=["In adults whose disease progressed on first-line treatment, what is the effect of switching "
                  "to drug B versus escalating the dose of drug A on overall survival at 24 months?"])
    why_not_randomized: str = Field(
        "", max_length=2000,
        description="Why the question is answered by emulating a target trial instead of running the trial "
                    "(TARGET introduction: the reason for emulation).",
        examples=["A randomized trial of second-line strategies is not feasible in a rare cancer within a "
                  "useful time frame."])
    registration: str = Field(
        "", max_length=500,
        description="Where the study protocol was registered, with its identifier (TARGET methods).",
        examples=["OSF registration 10.17605/OSF.IO/ABCDE"])
    protocol_url: str = Field(
        "", max_length=500,
        description="Where the full target-trial protocol and analysis plan can be read.",
        examples=["https://osf.io/abcde/"])
    funding: str = Field(
        "", max_length=1000,
        description="Sources of funding and the funders' role (TARGET other information).",
        examples=["Dutch Cancer Society grant 12345; the funder had no role in the analysis."])
    conflicts: str = Field(
        "", max_length=1000,
        description="Competing interests of the authors (TARGET other information).",
        examples=["None declared."])
    data_availability: str = Field(
        "", max_length=1000,
        description="How others can obtain the data and the analysis code (TARGET other information).",
        examples=["Registry data on request to the Netherlands Cancer Registry; code at "
                  "https://github.com/example/gist-analysis."])
    limitations: str = Field(
        "", max_length=4000,
        description="The authors' discussion of limitations, in particular how the emulation may differ from "
                    "the target trial (TARGET discussion).",
        examples=["Treatment decisions may depend on performance status, which the registry does not record."])
    ethics: str = Field(
        "", max_length=2000,
        description="Ethics approval or waiver and consent for the use of the registry data (TARGET other "
                    "information).",
        examples=["Approved by the institutional review board (ref. 2024-117); informed consent waived for "
                  "registry data."])


class Analysis(_Model):
    """The analysis plan: which analyses run and how."""

    primary_outcome: str | None = Field(
        None, description="Name of the main outcome (under outcomes): the report's answer, the proportional-hazards "
        "check, the sensitivity analyses and plasmode use it. Unset: the first time-to-event outcome.",
        examples=["pfs", "os"])
    imputations: int = Field(5, ge=2, le=200, description="Number of imputed data sets when a covariate with "
                             "missing: impute has missing values (chained equations; estimates pooled by Rubin's "
                             "rules). More reduces Monte-Carlo error; a common rule is at least the percentage "
                             "of incomplete patients (White et al. 2011).", examples=[5, 20])
    engine: EngineConfig = Field(EngineConfig(), description="Where replicate loops run (local processes or "
                                 "Dask).", examples=[{"kind": "dask", "address": "tcp://scheduler-host:8786"}])
    study_replication: bool = Field(True, description="Run the unadjusted analysis as a paper reports it: Table 1 "
                                    "with tests, Kaplan-Meier curves with medians and numbers at risk, log-rank "
                                    "test, Cox HR (and the covariate-adjusted HR).", examples=[True])
    causal: bool = Field(True, description="Run the adjusted (causal) analysis: propensity score, weights, "
                         "balance, weighted survival for every estimand, sensitivity analyses. Needs covariates; "
                         "false: unadjusted analysis only.", examples=[True])
    propensity: PropensityConfig = Field(PropensityConfig(), description="The propensity-score model.",
                                         examples=[{"method": "logistic"}, {"method": "firth"}])
    weights: WeightsConfig = Field(WeightsConfig(), description="How the arms are made comparable: weights, "
                                   "matching or entropy balancing, with stabilization, truncation and trimming.",
                                   examples=[{"method": "iptw", "stabilize": True, "truncate": [1, 99]}])
    matching: MatchingConfig = Field(MatchingConfig(), description="Settings of propensity-score matching (used "
                                     "when weights.method is matching).", examples=[{"ratio": 2, "caliper": 0.2}])
    survival: SurvivalConfig = Field(SurvivalConfig(), description="Estimands, landmarks, RMST horizon and variance "
                                     "of the survival comparisons.",
                                     examples=[{"landmarks": [6, 12, 24], "horizon": 24, "estimands": ["ATE", "ATT"]}])
    balance_threshold: float = Field(0.1, gt=0, lt=1, description="Absolute standardized mean difference above "
                                     "which a covariate counts as imbalanced in the balance tables, love plot and "
                                     "report (0.1 is the usual rule).", examples=[0.1, 0.05])
    at_risk_times: list[float] | None = Field(
        None, description="Times (time_unit) of the numbers-at-risk rows under the Kaplan-Meier curves, used as "
        "given up to the longest follow-up. Unset: a round grid of about eight times over the follow-up.",
        examples=[[0, 6, 12, 18, 24, 36]])
    sensitivity: SensitivityConfig = Field(SensitivityConfig(), description="Sensitivity analyses of the main "
                                           "estimate (primary outcome, first estimand).",
                                           examples=[{"negative_control": "hip_fracture", "specification_grid": False}])
    plasmode: PlasmodeConfig = Field(PlasmodeConfig(), description="Plasmode simulation of the analysis plan.",
                                     examples=[{"enabled": True, "n_replicates": 200}])

    @model_validator(mode="before")
    @classmethod
    def _jobs_moved(cls, data: Any) -> Any:
        # one setting for the number of workers: analysis.jobs became analysis.engine.n_workers
        if isinstance(data, dict) and "jobs" in data:
            n = data["jobs"]
            fix = "n_workers: null" if n == -1 else f"n_workers: {n}"
            raise ValueError(f"analysis.jobs moved to analysis.engine.n_workers (got jobs: {n}). Remove it and set "
                             f"`analysis: {{engine: {{{fix}}}}}`")
        return data


class Output(_Model):
    """Where the report goes, its table formats and disclosure control."""

    dir: str | None = Field(None, description="Folder the report is written to; a relative path is resolved "
                            "against the current working directory (not the config's folder). The -o option of "
                            "gistcausal run overrides it. Unset: reports/<name>.", examples=["reports/my_study"])
    formats: list[Literal["csv", "md", "tex", "html", "docx", "xlsx"]] = Field(
        ["csv", "md", "html", "docx", "xlsx"], description="Formats each table is written in (tables/<name>.<ext>); "
        "report.html, results.json and manuscript.docx are always written.", examples=[["csv", "docx"]])
    small_cell_threshold: int | None = Field(
        None, ge=0, le=50, description="Counts from 1 to this minus one are shown as '<k' in every table, figure "
        "and results.json (statistical disclosure control); 0 turns it off. Unset: 5 for data read from files or "
        "databases, off for the synthetic and builtin data.", examples=[5, 10])
    unadjusted_title: str = Field(
        "Unadjusted analysis", min_length=1, max_length=120,
        description="Title of the report section with the unweighted Kaplan-Meier, log-rank and Cox results "
                    "(e.g. the name of the published analysis this one replicates).",
        examples=["The study's analysis as published (unweighted)"])


class StudyConfig(_Model):
    """A whole study: data, protocol (or analysis table), covariates, analysis plan and output."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Short identifier of the study (letters, digits, _ . -): the default report "
                      "folder reports/<name> and the report title when title is empty.",
                      examples=["second_line_study", "rfs_hormone"])
    title: str = Field("", description="Title of the report and the draft manuscript. Empty: the name.",
                       examples=["Drug B vs dose escalation of drug A after progression on first-line treatment"])
    description: str = Field(
        "", description="Free-text summary of the study (population, setting, period); the TARGET checklist "
        "quotes it for the data source item.",
        examples=["Adults with advanced disease progressing on first-line treatment in a national registry, "
                  "2009-2020."])
    seed: int = Field(20201, description="Seed of every random step of the analysis (cross-fitting, bootstrap, "
                      "imputation, refutation, plasmode), so a rerun gives identical results; the synthetic data "
                      "have their own data.synthetic.seed. The --seed option of gistcausal run overrides it.",
                      examples=[20201, 12345])
    data: DataSource = Field(DataSource(), description="Where the records come from (file, database, synthetic or "
                             "builtin data), column renaming and date parsing.",
                             examples=[{"source": "csv", "path": "registry.csv",
                                        "dates": ["date_of_diagnosis", "date_of_death"]}])
    protocol: Protocol | None = Field(
        None, description="Registry records (dates and codes): the target-trial protocol that turns them into a "
        "cohort (eligibility steps, treatment strategies, time zero, outcomes). Give exactly one of protocol, "
        "table or sequential.",
        examples=[{"eligibility": [{"label": "Adults", "exclude": {"column": "age_at_diagnosis", "lt": 18}}],
                   "treatment": {"column": "regimen", "treated": "drug_b",
                                 "arms": {"drug_b": ["drug_b"], "drug_a_high_dose": ["drug_a_800"]}},
                   "time_zero": "treatment_start_date",
                   "outcomes": {"os": {"label": "Overall survival", "events": ["date_of_death"],
                                       "censor": "date_last_followup"}}}])
    table: AnalysisTable | None = Field(
        None, description="An analysis-ready table (one row per patient with treatment, times, events and "
        "covariates). Give exactly one of protocol, table or sequential.",
        examples=[{"treatment": {"column": "hormone_therapy", "arms": {"treated": ["yes"], "control": ["no"]},
                                 "treated": "treated"},
                   "outcomes": {"rfs": {"label": "Recurrence-free survival", "time_col": "rfs_months",
                                        "event_col": "rfs_event"}}}])
    sequential: SequentialTrials | None = Field(
        None, description="A person-period table analysed as sequential emulated trials (initiate now vs not "
        "yet); the covariates: and analysis: sections do not apply. Give exactly one of protocol, table or "
        "sequential.",
        examples=[{"id_col": "id", "period_col": "month", "eligible_col": "eligible", "treatment_col": "treat",
                   "time_col": "time", "event_col": "event"}])
    covariates: dict[str, Covariate] = Field(
        {}, description="Baseline covariates (measured before time zero), {column name: settings}: the confounders "
        "of the propensity model and the rows of Table 1. Empty: unadjusted analysis only.",
        examples=[{"age": {"type": "continuous", "label": "Age (years)"},
                   "sex": {"type": "categorical", "levels": ["female", "male"]}}])
    analysis: Analysis = Field(Analysis(), description="The analysis plan: primary outcome, propensity model, "
                               "weights, estimands, variance, sensitivity analyses and plasmode.",
                               examples=[{"primary_outcome": "os", "survival": {"estimands": ["ATE"]}}])
    output: Output = Field(Output(), description="Report folder, table formats and small-cell suppression.",
                           examples=[{"dir": "reports/my_study", "small_cell_threshold": 5}])
    reporting: Reporting = Field(Reporting(), description="Free-text items of the TARGET reporting checklist that "
                                 "the data cannot tell (causal question, registration, funding, limitations).",
                                 examples=[{"registration": "OSF registration 10.17605/OSF.IO/ABCDE",
                                            "conflicts": "None declared."}])
    # Set by load_config; not part of the YAML.
    source_path: str | None = Field(default=None, exclude=True)
    _key_lines: dict = PrivateAttr(default_factory=dict)

    def locate(self, key: str) -> str:
        """``<file>:<line>`` of a dotted key path (e.g. ``"covariates.nodes.spline_df"``) for messages of checks
        that run after loading, so they point at the YAML line as load-time errors do. Falls back to the line
        of the nearest enclosing key that is in the file, then to the file alone."""
        where = self.source_path or self.name
        parts = tuple(key.split("."))
        for k in range(len(parts), 0, -1):
            line = self._key_lines.get(parts[:k])
            if line is not None:
                return f"{where}:{line}"
        return where

    @model_validator(mode="after")
    def _shape(self) -> "StudyConfig":
        if sum(x is not None for x in (self.protocol, self.table, self.sequential)) != 1:
            raise ValueError("give exactly one of 'protocol' (registry records) or 'table' (analysis-ready data) "
                             "or 'sequential' (person-period data)")
        outs = self.outcomes
        if self.analysis.primary_outcome is not None and self.analysis.primary_outcome not in outs:
            raise ValueError(f"analysis.primary_outcome '{self.analysis.primary_outcome}' is not an outcome "
                             f"(outcomes: {', '.join(outs)})")
        a = self.analysis
        if a.survival.variance.startswith("m_estimation") and (a.propensity.method != "logistic"
                                                               or a.weights.truncate):
            trunc = "null" if a.weights.truncate is None else f"[{a.weights.truncate[0]:g}, {a.weights.truncate[1]:g}]"
            raise ValueError(f"analysis.survival.variance '{a.survival.variance}' needs propensity.method 'logistic' and no "
                             f"weights.truncate (got method: {a.propensity.method}, truncate: {trunc}); "
                             "use `variance: bootstrap` for other propensity models or truncated weights")
        self._check_multiarm()  # first: with K arms, "two arms only" is the message that helps
        self._check_weights_method()
        self._check_plasmode()
        nc = self.analysis.sensitivity.negative_control
        if nc is not None and nc not in outs:
            raise ValueError(f"analysis.sensitivity.negative_control '{nc}' is not an outcome "
                             f"(outcomes: {', '.join(outs)})")
        self._check_unread_sections()
        if self.protocol is not None:
            for name, o in self.protocol.outcomes.items():
                for arm in o.by_arm:
                    if arm not in self.protocol.treatment.arms:
                        raise ValueError(f"outcome '{name}' by_arm names '{arm}', which is not an arm "
                                         f"({', '.join(self.protocol.treatment.arms)})")
        return self

    def _check_unread_sections(self) -> None:
        """Sections the chosen shape of study does not read are refused, not ignored."""
        given = self.model_fields_set
        if self.sequential is not None:
            unread = [k for k in ("covariates", "analysis") if k in given]
            if unread:
                raise ValueError(f"'{unread[0]}' is not read by a sequential-trials config (got a top-level "
                                 f"{unread[0]} section); list the covariates under `sequential: {{covariates: "
                                 "[...]}}` and remove the section")
            labels = self.sequential.labels
            lack = [k for k in ("initiate", "no_initiation") if k not in labels]
            if lack or set(labels) - {"initiate", "no_initiation"}:
                raise ValueError(f"sequential.labels needs exactly the keys initiate and no_initiation (got "
                                 f"{sorted(labels)}); write e.g. `labels: {{initiate: Start now, no_initiation: "
                                 "Wait}`")
        if self.protocol is None and self.data.validation is not None:
            raise ValueError("data.validation (record checks) applies to registry configs with a 'protocol' "
                             "section (got it with a 'table' or 'sequential' config); remove data.validation")

    def _check_weights_method(self) -> None:
        """Matching and entropy balancing: the estimands, variances and weight options they support."""
        a = self.analysis
        method = a.weights.method
        if method == "iptw":
            return
        ok = {"matching": ["ATT", "ATC"], "ebal": ["ATE", "ATT", "ATC"]}[method]
        bad = [e for e in a.survival.estimands if e not in ok]
        if bad:
            raise ValueError(f"analysis.survival.estimands must be among {ok} with analysis.weights.method "
                             f"{method} (got {bad}); set `estimands: [{ok[0]}]`")
        if a.weights.truncate is not None or a.weights.trim is not None:
            raise ValueError(f"analysis.weights.truncate and trim apply to IPTW only (got method: {method}, "
                             f"truncate: {a.weights.truncate}, trim: {a.weights.trim}); remove them")
        allowed = ["robust"] if method == "matching" else ["robust", "bootstrap"]
        if a.survival.variance not in allowed:
            why = ("the bootstrap is not valid for nearest-neighbour matching (Abadie & Imbens 2008) and "
                   "the matched-set robust variance is used" if method == "matching" else
                   "M-estimation covers the logistic propensity model only")
            raise ValueError(f"analysis.survival.variance must be one of {allowed} with analysis.weights.method "
                             f"{method} (got {a.survival.variance}): {why}; set `variance: robust`")
        if method == "matching":
            unknown = [c for c in a.matching.exact if c not in self.covariates]
            if unknown:
                raise ValueError(f"analysis.matching.exact names covariates that are not defined (got {unknown}); "
                                 f"use names from covariates: ({', '.join(self.covariates)})")

    def _check_plasmode(self) -> None:
        """The injected-effect keys of analysis.plasmode apply to one type of primary outcome each (issue 18)."""
        if self.sequential is not None:
            return
        pc = self.analysis.plasmode
        name = self.primary_outcome
        kind = getattr(self.outcomes[name], "type", "time_to_event")
        own = {"time_to_event": "true_hr", "competing": "true_hr", "binary": "true_or",
               "continuous": "true_mean_diff"}.get(kind)
        for key in ("true_hr", "true_or", "true_mean_diff"):
            value = getattr(pc, key)
            if value is not None and key != own:
                fix = (f"write `{own}: {value}` instead" if own else "remove it")
                raise ValueError(f"analysis.plasmode.{key} does not apply to the {kind} primary outcome '{name}' "
                                 f"(got {key}: {value}); {fix}")
        if pc.marginal and kind != "time_to_event":
            raise ValueError(f"analysis.plasmode.marginal applies to time-to-event primary outcomes only (got "
                             f"marginal: true with the {kind} primary outcome '{name}'); remove it")
        if pc.cause is not None:
            causes = [str(c) for c in getattr(self.outcomes[name], "causes", {}).values()]
            if kind != "competing":
                raise ValueError(f"analysis.plasmode.cause applies to competing-risks primary outcomes only (got "
                                 f"cause: {pc.cause} with the {kind} primary outcome '{name}'); remove it")
            if pc.cause not in causes:
                raise ValueError(f"analysis.plasmode.cause must be a cause of '{name}' (got cause: {pc.cause}); use "
                                 f"one of {causes}")

    def _check_multiarm(self) -> None:
        """Three or more arms (issue 18): reject the settings the K-arm analysis does not support yet."""
        if self.sequential is not None or len(self.treatment.arms) <= 2:
            return
        key = "protocol.treatment.arms" if self.protocol is not None else "table.treatment.arms"
        got = f"{len(self.treatment.arms)} arms in {key}"
        a = self.analysis
        rules = [
            (a.weights.method != "iptw", f"analysis.weights.method {a.weights.method} is defined for two arms only",
             "set `method: iptw` (multinomial propensity score)"),
            (any(e not in ("ATE", "ATT", "ATO") for e in a.survival.estimands),
             f"analysis.survival.estimands must be among ['ATE', 'ATT', 'ATO'] with more than two arms (ATT targets "
             f"the arm named by `treated`; got {a.survival.estimands})", "set `estimands: [ATE]`"),
            (a.survival.variance not in ("robust", "bootstrap"), f"analysis.survival.variance {a.survival.variance} "
             "is not available with more than two arms yet", "set `variance: robust` or `variance: bootstrap`"),
            (a.survival.doubly_robust, "analysis.survival.doubly_robust is not available with more than two arms yet",
             "set `doubly_robust: false`"),
            (a.propensity.method != "logistic", f"analysis.propensity.method {a.propensity.method} is not available "
             "with more than two arms yet (the multinomial logit is used)", "set `method: logistic`"),
            (a.weights.truncate is not None or a.weights.trim is not None,
             "analysis.weights.truncate and trim are not available with more than two arms yet",
             "remove them, or use `estimands: [ATO]` for bounded weights"),
            (a.plasmode.marginal, "analysis.plasmode.marginal is not available with more than two arms yet (true_hr "
             "is the conditional HR of every arm against the first)", "remove `marginal: true`"),
            (self.protocol is not None and self.protocol.strategies is not None,
             "protocol.strategies (clone-censor-weight) compares two strategies", "remove protocol.strategies"),
        ]
        # sensitivity analyses built for two arms: on by default they are listed as not applicable in the report;
        # asked for explicitly they are refused rather than silently skipped
        sc = a.sensitivity
        rules += [
            ("specification_grid" in sc.model_fields_set and sc.specification_grid,
             "analysis.sensitivity.specification_grid is not available with more than two arms yet",
             "set `specification_grid: false` (E-values and the tipping point run for every pair of arms)"),
            ("refutation" in sc.model_fields_set and sc.refutation.enabled,
             "analysis.sensitivity.refutation (DoWhy) is not available with more than two arms yet",
             "set `refutation: {enabled: false}`"),
            (sc.negative_control is not None,
             f"analysis.sensitivity.negative_control ({sc.negative_control}) is not available with more than two "
             "arms yet", "remove `negative_control:`"),
        ]
        imputed = [n for n, c in self.covariates.items() if c.missing == "impute" and c.in_propensity]
        rules.append((bool(imputed), f"covariates {imputed} use `missing: impute`, which is not available with more "
                      "than two arms yet", "set `missing: complete_case` or `missing: category` for them"))
        for bad, what, fix in rules:
            if bad:
                raise ValueError(f"{what} (got {got}); {fix}")
        other = [n for n, o in self.outcomes.items() if getattr(o, "type", "time_to_event") != "time_to_event"]
        if other:
            raise ValueError(f"outcomes {other} are not time-to-event, which is all the analysis of more than two "
                             f"arms supports yet (got {got}); remove them or compare two arms")

    @property
    def treatment(self) -> Treatment:
        if self.sequential is not None:
            sq = self.sequential
            return Treatment(column=sq.treatment_col, arms={"initiate": [1], "no_initiation": [0]}, treated="initiate",
                             labels=sq.labels)
        return self.protocol.treatment if self.protocol is not None else self.table.treatment  # type: ignore[union-attr]

    @property
    def outcomes(self) -> dict[str, Any]:
        if self.sequential is not None:
            sq = self.sequential
            return {sq.outcome: TableOutcome(label=sq.outcome_label, time_col=sq.time_col, event_col=sq.event_col)}
        return dict(self.protocol.outcomes if self.protocol is not None else self.table.outcomes)  # type: ignore[union-attr]

    @property
    def time_unit(self) -> str:
        if self.sequential is not None:
            return self.sequential.time_unit
        return self.protocol.time_unit if self.protocol is not None else self.table.time_unit  # type: ignore[union-attr]

    @property
    def primary_outcome(self) -> str:
        if self.analysis.primary_outcome:
            return self.analysis.primary_outcome
        # the first time-to-event outcome; with none, the first outcome (a competing, binary or continuous one)
        outs = self.outcomes
        return next((n for n, o in outs.items() if getattr(o, "type", "time_to_event") == "time_to_event"),
                    next(iter(outs)))

    @property
    def base_dir(self) -> Path:
        return Path(self.source_path).parent if self.source_path else Path.cwd()

    def output_dir(self, override: str | Path | None = None) -> Path:
        if override is not None:
            return Path(override)
        if self.output.dir:
            p = Path(self.output.dir)
            return p if p.is_absolute() else Path.cwd() / p
        return Path("reports") / self.name


Criterion.model_rebuild()


# --------------------------------------------------------------------------------------------- loading
#: Upper bound on the size of the config once YAML aliases are expanded. A real config has a few hundred
#: nodes; a "billion laughs" alias bomb has 10**9 and would exhaust memory in the key-line walk or in pydantic.
MAX_EXPANDED_NODES = 20_000


class _LineLoader(yaml.SafeLoader):
    """SafeLoader used to compose the node tree once (lines for messages, alias and duplicate-key checks)."""


def _expanded_size(node: yaml.Node, where: str) -> int:
    """Number of nodes after alias expansion, counted with memoisation (linear in the distinct nodes), so an
    alias bomb is rejected before anything walks or constructs its expansion."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if key in active:
            raise ConfigError(f"{where}:{n.start_mark.line + 1}: a YAML alias refers to a node that contains it "
                              "(got a recursive anchor). Write the value out instead of using `*alias` inside "
                              "its own `&anchor`.")
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(v) for v in n.value)
        active.discard(key)
        memo[key] = min(total, MAX_EXPANDED_NODES + 1)
        return memo[key]

    return size(node)


def _key_lines(node: yaml.Node, where: str, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Line of every key path; duplicate keys in one mapping are an error naming both lines."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge":
                continue
            line = k.start_mark.line + 1
            kv = k.value if isinstance(k, yaml.ScalarNode) else id(k)
            if kv in seen:
                raise ConfigError(f"{where}:{line}: {_format_loc(path + (kv,))}: duplicate key '{kv}' (got it on "
                                  f"lines {seen[kv]} and {line}). Keep one of them; YAML would silently use the "
                                  "last.")
            seen[kv] = line
            p = path + (kv,)
            out[p] = line
            _key_lines(v, where, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _key_lines(v, where, path + (i,), out)
    return out


def _format_loc(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p).rstrip("_"))
    return "".join(parts) or "(top level)"


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union/validator tags from a location so it matches the YAML path."""
    out = []
    for p in loc:
        if isinstance(p, str) and (p.startswith("function-") or p in {"tagged-union", "list[Criterion]"}
                                   or "[" in p or p in {"Criterion", "str", "float", "int"}):
            continue
        out.append({"in_": "in", "all_": "all", "any_": "any", "not_": "not"}.get(p, p) if isinstance(p, str) else p)
    return tuple(out)


_FIXES = {
    "missing": "Add the key",
    "literal_error": "Use one of the allowed values",
}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``Model``, ``Model | None``, ``list[Model]``, ``dict[str, Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        m = _model_of(arg)
        if m is not None:
            return m
    return None


def _allowed_keys(loc: tuple) -> list[str] | None:
    """YAML keys allowed at a (cleaned) location, walking the schema; None when the location is not a model."""
    model: type[BaseModel] | None = StudyConfig
    container = False  # inside a dict or list of models: the next part is a name or an index
    for part in loc:
        if model is None:
            return None
        if container:
            container = False
            continue
        fields = {(f.alias or n): f for n, f in model.model_fields.items() if n != "source_path"}
        f = fields.get(part) or model.model_fields.get(str(part))
        if f is None:
            return None
        ann = f.annotation
        origin = typing.get_origin(ann)
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if origin in (list, dict) or (args and typing.get_origin(args[0]) in (list, dict)):
            container = True
        model = _model_of(ann)
    if model is None or container:
        return None
    return [f.alias or n for n, f in model.model_fields.items() if n != "source_path"]


def _unknown_key_fix(loc: tuple) -> str:
    allowed = _allowed_keys(loc[:-1]) or []
    close = closest(loc[-1], allowed, cutoff=0.6)
    parent = _format_loc(loc[:-1]) if loc[:-1] else "the top level"
    if close:
        return f"Did you mean '{close}'? Rename the key to `{close}:`"
    if allowed:
        return f"Remove the key; allowed keys under {parent}: {', '.join(allowed)}"
    return "Remove the key or check its spelling against `gistcausal schema`"


#: Suffixes of the columns the analysis table holds for an outcome ``<name>_<suffix>`` (time-to-event: time and
#: event; binary and continuous: value; competing: time and status).
OUTCOME_COLUMN_SUFFIXES = ("time", "event", "value", "status")


def reserved_column_names(outcomes: Iterable[str]) -> dict[str, str]:
    """The column names the analysis table (:class:`~gistcausal.design.cohort.Cohort` ``frame``) uses for its own
    columns, each with what it holds: ``arm``, ``treatment`` and ``<outcome>_time``/``_event``/``_value``/
    ``_status`` of each outcome. A covariate of the same name would be overwritten by them, so none may have one."""
    out = {"arm": "the arm of each patient", "treatment": "the 0/1 treatment indicator"}
    for name in outcomes:
        for suffix in OUTCOME_COLUMN_SUFFIXES:
            out[f"{name}_{suffix}"] = f"the {suffix} of outcome '{name}'"
    return out


def _check_reserved_names(cfg: "StudyConfig", source: str, lines: dict[tuple, int]) -> None:
    """No covariate is named like a column of the analysis table (:func:`reserved_column_names`): its values
    would be replaced by the arm, the treatment indicator or an outcome's time, silently."""
    if cfg.sequential is not None:
        return
    taken = reserved_column_names(cfg.outcomes)
    for name in cfg.covariates:
        if str(name) in taken:
            line = lines.get(("covariates", name)) or lines.get(("covariates",))
            new = f"{name}_1"
            raise ConfigError(redact(
                f"{source}{f':{line}' if line else ''}: covariates.{name}: the name '{name}' is the analysis "
                f"table's column for {taken[str(name)]} (got covariate '{name}'), so its values would be "
                f"replaced. Rename the data column as it is read, `data: {{columns: {{{name}: {new}}}}}`, and "
                f"use the new name under covariates: `{new}: {{...}}`."))


def config_from_dict(raw: Any, *, source: str = "<dict>", lines: dict[tuple, int] | None = None) -> StudyConfig:
    """Validate a plain dict (e.g. parsed YAML) into a :class:`StudyConfig`.

    Raises
    ------
    ConfigError
        One message listing every problem as ``<file>:<line>: <key path>: <what> (got <value>). <fix>.``;
        an unknown key suggests the closest valid key; credentials are never echoed.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping of keys to values "
                          f"(got {type(raw).__name__}). Start from `gistcausal init`.")
    bad_keys = [k for k in raw if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(f"{source}: top-level keys must be names (got {bad_keys[0]!r}). Use e.g. `name: my_study`.")
    lines = lines or {}
    try:
        cfg = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]))
            line = None
            for k in range(len(loc), 0, -1):
                if loc[:k] in lines:
                    line = lines[loc[:k]]
                    break
            where = f"{source}:{line}" if line else source
            what = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            got_txt = "" if err["type"] == "missing" or isinstance(got, (dict, list)) else f" (got {yaml_value(got)})"
            fix = _FIXES.get(err["type"], "Fix the value")
            if err["type"] == "literal_error":
                fix = _literal_fix(loc, got, (err.get("ctx") or {}).get("expected", ""))
            if err["type"] == "missing":
                fix = f"Add `{loc[-1]}:` under {_format_loc(loc[:-1]) if loc[:-1] else 'the top level'}"
            if err["type"] == "extra_forbidden":
                what = f"unknown key '{loc[-1]}'"
                got_txt = ""
                fix = _unknown_key_fix(loc)
            msgs.append(f"{where}: {_format_loc(loc)}: {what}{got_txt}. {fix}.")
        head = "invalid configuration" if len(msgs) == 1 else f"invalid configuration ({len(msgs)} problems)"
        raise ConfigError(redact(f"{head}:\n  " + "\n  ".join(msgs))) from None
    _check_reserved_names(cfg, source, lines)
    return cfg


def _literal_fix(loc: tuple, got: Any, expected: str) -> str:
    """'Did you mean ...?' for a value close to one of a key's allowed values (``dsk`` -> ``dask``)."""
    import re

    allowed = re.findall(r"'([^']*)'", expected)
    close = closest(got, allowed, cutoff=0.6) if isinstance(got, str) else None
    if close and loc and isinstance(loc[-1], str):
        return f"Did you mean '{close}'? Use `{loc[-1]}: {close}`"
    return _FIXES["literal_error"]


def yaml_value(v: Any) -> str:
    """A value as YAML would show it (``[1, 99]``, ``true``, ``null``), cut to 80 characters."""
    try:
        text = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
        text = text.removesuffix("...").strip()
    except yaml.YAMLError:
        text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative data paths inside it are resolved against its folder.

    Returns
    -------
    StudyConfig
        The validated, immutable configuration.

    Raises
    ------
    ConfigError
        The file is missing, is not valid YAML (with line and column), or breaks the schema.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a config file (got a directory). Give the YAML file inside it, "
                          "e.g. `gistcausal run study/study.yaml`.")
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found. Check the path, or create one with `gistcausal init`.")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config ({exc.strerror or type(exc).__name__}). Check the file's "
                          "permissions.") from None
    if b"\x00" in data[:8192]:
        raise ConfigError(f"{p}: not a text file (got binary content). Give the YAML config, e.g. the file "
                          "written by `gistcausal init`.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}: the config is not UTF-8 text (got byte 0x{data[exc.start]:02x}). Save "
                          "the file as UTF-8 (in most editors: 'Save with encoding' -> UTF-8).") from None
    if not text.strip():
        raise ConfigError(f"{p}: the config file is empty. Start from `gistcausal init`.")
    loader = _LineLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is not None:
                if _expanded_size(node, str(p)) > MAX_EXPANDED_NODES:
                    raise ConfigError(f"{p}: the config expands to more than {MAX_EXPANDED_NODES} values through "
                                      "YAML aliases (got an alias bomb or a runaway `*alias`). Write the values "
                                      "out; configs need few or no aliases.")
                lines = _key_lines(node, str(p))
                raw = loader.construct_document(node)
            else:
                raw, lines = None, {}
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        line_text = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        hint = ("YAML indents with spaces, never tabs: replace the tab on that line with spaces"
                if "\t" in line_text[:mark.column + 1 if mark else 0] else "Check indentation and quoting at that line")
        raise ConfigError(redact(f"{where}: malformed YAML ({problem}). {hint}.")) from None
    except RecursionError:
        raise ConfigError(f"{p}: the config nests too deeply (got more than Python's recursion limit of "
                          "levels). Flatten it; configs need a few levels only.") from None
    if raw is None:
        raise ConfigError(f"{p}: the config file is empty. Start from `gistcausal init`.")
    cfg = config_from_dict(raw, source=str(p), lines=lines)
    cfg = cfg.model_copy(update={"source_path": str(p.resolve())})
    cfg._key_lines = {tuple(str(x) for x in k): v for k, v in lines.items()}
    return cfg


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config (for editors: YAML completion and validation)."""
    schema = StudyConfig.model_json_schema(by_alias=True)
    schema.get("properties", {}).pop("source_path", None)
    schema["title"] = "gistcausal study configuration"
    return schema


__all__ = ["StudyConfig", "Criterion", "EligibilityStep", "DataSource", "Protocol", "Treatment", "Outcome",
           "AnalysisTable", "Covariate", "MatchingConfig", "EngineConfig", "load_config", "config_from_dict", "config_json_schema", "Estimand", "Reporting"]

