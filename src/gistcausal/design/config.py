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

import difflib
import math
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

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

    column: str | None = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    eq: Any = None
    ne: Any = None
    lt: float | str | None = None
    le: float | str | None = None
    gt: float | str | None = None
    ge: float | str | None = None
    missing: bool | None = None
    before_column: str | None = None
    after_column: str | None = None
    all_: list["Criterion"] | None = Field(default=None, alias="all")
    any_: list["Criterion"] | None = Field(default=None, alias="any")
    not_: "Criterion | None" = Field(default=None, alias="not")

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

    label: str
    include: Criterion | None = None
    exclude: Criterion | None = None

    @model_validator(mode="after")
    def _one_side(self) -> "EligibilityStep":
        if (self.include is None) == (self.exclude is None):
            raise ValueError(f"step '{self.label}' needs exactly one of 'include' or 'exclude'")
        return self


# --------------------------------------------------------------------------------------------- data
class SyntheticSource(_Model):
    n_patients: int = Field(480, ge=20, le=10_000_000)
    tumor_size_missing: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 20201
    confounding: float = Field(1.0, ge=0.0, le=10.0)
    hr_pfs: float = Field(0.70, gt=0.0)
    hr_os: float = Field(0.85, gt=0.0)


class DataSource(_Model):
    """Where the records come from.

    ``source``: ``synthetic`` (the built-in calibrated registry), ``builtin`` (a public dataset a dependency
    ships: ``gbsg2``), ``csv``, ``parquet``, ``excel``, ``duckdb`` (a DuckDB file + ``table`` or ``query``) or
    ``sql`` (an SQLAlchemy ``url`` + ``table`` or ``query``). Relative paths are resolved against the config's
    folder. ``columns`` renames source columns to the names the config uses; ``dates`` lists columns parsed
    as dates (ISO ``YYYY-MM-DD`` unless ``date_format`` is given).
    """

    source: Literal["synthetic", "builtin", "csv", "parquet", "excel", "duckdb", "sql"] = "synthetic"
    validation: ValidationConfig | None = None
    path: str | None = None
    name: Literal["gbsg2", "sequential_demo"] | None = None
    sheet: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None
    synthetic: SyntheticSource = SyntheticSource()
    id_col: str = "patient_id"
    columns: dict[str, str] = {}
    dates: list[str] = []
    date_format: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> "DataSource":
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
    """Treatment strategies: which codes of ``column`` define each arm, and which arm is 'treated' (coded 1)."""

    column: str
    arms: dict[str, list[Any]]
    treated: str
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _two_arms(self) -> "Treatment":
        if len(self.arms) != 2:
            raise ValueError(f"exactly two arms are supported (got {len(self.arms)}: {', '.join(self.arms)})")
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

    column: str
    map: dict[str, list[Any]]
    other: str | None = None


class DerivedColumn(_Model):
    """A column computed from others: the time between two date columns (``months_between``,
    ``years_between``, ``days_between`` [start, end]) or a ``recode`` of a categorical column."""

    months_between: tuple[str, str] | None = None
    years_between: tuple[str, str] | None = None
    days_between: tuple[str, str] | None = None
    recode: Recode | None = None

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

    start: str
    end: str
    require: Criterion | None = None


class Outcome(_Model):
    """A time-to-event outcome measured from time zero (or ``start``).

    ``events``: date columns of which the earliest recorded one is the event; ``censor``: the date of last
    follow-up. ``type: duration`` outcomes (``by_arm``) are compared descriptively (Mann-Whitney), as in
    the study's secondary outcome.
    """

    label: str
    type: Literal["time_to_event", "duration"] = "time_to_event"
    start: str | None = None
    events: list[str] = []
    censor: str | None = None
    by_arm: dict[str, ArmOutcome] = {}
    causal: bool = True

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

    time_zero: str
    eligibility: list[EligibilityStep] = []
    treatment_column: str
    treatment_date: str
    strategies: dict[str, list[Any]]
    grace: float = Field(gt=0)
    events: list[str]
    censor: str
    covariates: list[str] = []
    outcome: str = "os"
    landmarks: list[float] = [6.0, 12.0, 24.0]
    horizon: float | None = 24.0
    n_bootstrap: int = Field(200, ge=10, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=0.5)

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

    eligibility: list[EligibilityStep]
    treatment: Treatment
    time_zero: str
    assignment: str = "Non-random: treatment chosen by the treating physician; emulated randomization by adjustment for baseline covariates (IPTW)."
    follow_up_end: str = "Last follow-up, death, or the data cut-off, whichever first."
    causal_contrast: str = "Observational analogue of the intention-to-treat effect (initiation of the strategy at time zero)."
    derived: dict[str, DerivedColumn] = {}
    outcomes: dict[str, Outcome]
    time_unit: Literal["days", "months", "years"] = "months"
    start_population: str = "All records in the data source"
    eligibility_date: str | None = None
    strategies: CloneCensorConfig | None = None

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

    label: str
    type: Literal["time_to_event", "binary", "continuous", "competing"] = Field(
        "time_to_event", description="Kind of outcome: time_to_event, binary, continuous or competing (risks).",
        examples=["binary"])
    time_col: str | None = None
    event_col: str | None = None
    event_value: Any = 1
    value_col: str | None = Field(None, description="Column of a binary or continuous outcome.",
                                  examples=["response"])
    causes: dict[Any, str] = Field({}, description="Competing risks: event code -> cause label.",
                                   examples=[{1: "progression", 2: "toxicity death"}])
    censor_value: Any = Field(0, description="Competing risks: the event_col code of censored patients.")
    causal: bool = True

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

    treatment: Treatment
    outcomes: dict[str, TableOutcome]
    time_unit: Literal["days", "weeks", "months", "years"] = "months"

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

    id_col: str
    period_col: str
    eligible_col: str
    treatment_col: str
    time_col: str
    event_col: str
    covariates: list[str] = []
    max_trials: int | None = Field(None, ge=1)
    time_unit: Literal["days", "weeks", "months", "years"] = "months"
    outcome: str = "outcome"
    outcome_label: str = "Outcome"
    labels: dict[str, str] = {"initiate": "Initiate treatment", "no_initiation": "Do not initiate (yet)"}


class Covariate(_Model):
    """One covariate: its type, display ``label``, Table 1 summary, level order (``levels``), missing-data rule.

    ``level_labels`` (``{code: label}``) gives the display label of each level in Table 1, the balance tables
    and the love plot, e.g. ``level_labels: {kit_exon_11: "KIT exon 11", not_reported: "Not reported"}``;
    codes without a label print as they are. ``binary_level`` is the level shown on the single row of a
    two-level variable (default: a yes-like level 1/true/yes, else the second level).
    """

    type: Literal["categorical", "continuous", "binary"]
    label: str | None = None
    summary: Literal["mean_sd", "median_range", "median_iqr"] | None = None
    levels: list[Any] | None = None
    missing: Literal["error", "category", "complete_case", "impute"] = "error"
    missing_label: str = "not_reported"
    in_propensity: bool = True
    in_table1: bool = True
    spline_df: int | None = Field(None, ge=3, le=10)
    # issue 20: sizes and durations are right-skewed and act on the log scale; entering them linearly biased
    # the default analysis (docs/coverage.md)
    transform: Literal["log"] | None = Field(
        None, description="Scale on which a continuous covariate enters the propensity model: 'log' for a "
        "positive, right-skewed variable (tumour size, a duration). Table 1 and balance stay on the recorded "
        "scale.", examples=["log"])
    level_labels: dict[Any, str] = {}
    binary_level: Any = None

    @model_validator(mode="after")
    def _labels(self) -> "Covariate":
        # Level labels and the one-row level of a binary variable only mean something for categorical data; a
        # typo in a level code would otherwise silently leave the code in Table 1.
        if (self.level_labels or self.binary_level is not None) and self.type == "continuous":
            raise ValueError("level_labels and binary_level apply to categorical and binary covariates "
                             "(got type: continuous)")
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
    method: Literal["logistic", "firth", "boosting"] = "logistic"
    interactions: list[tuple[str, str]] = []
    n_folds: int = Field(5, ge=2, le=20)
    calibrate: bool = True


class WeightsConfig(_Model):
    method: Literal["iptw", "matching", "ebal"] = Field(
        "iptw", description="How the arms are made comparable: 'iptw' (propensity-score weights for each "
        "estimand), 'matching' (greedy nearest-neighbour propensity-score matching, settings in "
        "analysis.matching; estimands ATT/ATC) or 'ebal' (entropy balancing of the propensity covariates; "
        "estimands ATE/ATT/ATC).", examples=["matching"])
    moments: Literal[1, 2] = Field(1, description="Entropy balancing: 1 balances means, 2 also variances.")
    stabilize: bool = True
    truncate: tuple[float, float] | None = None
    trim: Literal["crump"] | tuple[float, float] | None = None

    @field_validator("truncate")
    @classmethod
    def _pct(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 <= v[0] < v[1] <= 100):
            raise ValueError(f"truncate is a pair of percentiles 0 <= low < high <= 100 (got {list(v)})")
        return v


class MatchingConfig(_Model):
    """Nearest-neighbour propensity-score matching (used when analysis.weights.method is 'matching')."""

    ratio: int = Field(1, ge=1, le=10, description="Controls matched to each treated patient (1:k).")
    caliper: float | None = Field(0.2, gt=0, description="Caliper in SD of the logit propensity score "
                                  "(Austin 2011: 0.2); null for none.", examples=[0.2])
    replace: bool = Field(False, description="Match with replacement.")
    exact: list[str] = Field([], description="Covariates matched exactly.", examples=[["sex"]])


class SurvivalConfig(_Model):
    landmarks: list[float] = [6.0, 12.0, 24.0]
    horizon: float | None = 24.0
    estimands: list[Estimand] = ["ATE"]
    # m_estimation_corrected: Mancl-DeRouen small-sample sandwich with t intervals (issue 20, docs/coverage.md)
    variance: Literal["robust", "m_estimation", "m_estimation_corrected", "bootstrap"] = "robust"
    bootstrap_replicates: int = Field(200, ge=10, le=100_000)
    bootstrap_ci: Literal["percentile", "bca"] = "percentile"
    doubly_robust: bool = False
    alpha: float = Field(0.05, gt=0.0, lt=0.5)

    @field_validator("landmarks")
    @classmethod
    def _pos(cls, v: list[float]) -> list[float]:
        if any(not (x > 0 and math.isfinite(x)) for x in v):
            raise ValueError(f"landmarks must be positive times (got {v})")
        return sorted(v)


class RefutationConfig(_Model):
    """DoWhy refutation of the main estimate through a pseudo-observation bridge (see gistcausal.stats.refutation)."""

    enabled: bool = True
    refuters: list[Literal["placebo_treatment", "random_common_cause", "data_subset", "bootstrap",
                           "add_unobserved_common_cause"]] = ["placebo_treatment", "random_common_cause",
                                                              "data_subset", "bootstrap",
                                                              "add_unobserved_common_cause"]
    num_simulations: int = Field(20, ge=5, le=1000)
    bridge: Literal["rmst_pseudo", "surv_pseudo"] = "rmst_pseudo"
    extra_edges: list[tuple[str, str]] = []


class SensitivityConfig(_Model):
    """Sensitivity analyses run on the main estimate (primary outcome, first estimand)."""

    evalues: bool = True
    tipping_point: bool = True
    specification_grid: bool = True
    refutation: RefutationConfig = RefutationConfig()
    negative_control: str | None = None


class PlasmodeConfig(_Model):
    """Plasmode simulation of the analysis plan inside ``gistcausal run`` (see gistcausal.analysis.plasmode)."""

    enabled: bool = False
    n_replicates: int = Field(200, ge=10, le=1_000_000)
    true_hr: float | None = Field(None, gt=0)
    marginal: bool = False
    treatment: Literal["observed", "simulated"] = "observed"
    methods: list[Literal["iptw", "unadjusted"]] = ["iptw", "unadjusted"]
    backend: Literal["local", "dask"] = "local"
    scheduler: str | None = None


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


class Analysis(_Model):
    primary_outcome: str | None = None
    imputations: int = Field(5, ge=2, le=200)
    jobs: int = Field(-1, ge=-1, le=1024)
    study_replication: bool = True
    causal: bool = True
    propensity: PropensityConfig = PropensityConfig()
    weights: WeightsConfig = WeightsConfig()
    matching: MatchingConfig = MatchingConfig()
    survival: SurvivalConfig = SurvivalConfig()
    balance_threshold: float = Field(0.1, gt=0, lt=1)
    at_risk_times: list[float] | None = None
    sensitivity: SensitivityConfig = SensitivityConfig()
    plasmode: PlasmodeConfig = PlasmodeConfig()


class Output(_Model):
    dir: str | None = None
    formats: list[Literal["csv", "md", "tex", "html", "docx", "xlsx"]] = ["csv", "md", "html", "docx", "xlsx"]
    small_cell_threshold: int | None = Field(None, ge=0, le=50)
    unadjusted_title: str = Field(
        "Unadjusted analysis", min_length=1, max_length=120,
        description="Title of the report section with the unweighted Kaplan-Meier, log-rank and Cox results "
                    "(e.g. the name of the published analysis this one replicates).",
        examples=["The study's analysis as published (unweighted)"])


class StudyConfig(_Model):
    """A whole study: data, protocol (or analysis table), covariates, analysis plan and output."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""
    description: str = ""
    seed: int = 20201
    data: DataSource = DataSource()
    protocol: Protocol | None = None
    table: AnalysisTable | None = None
    sequential: SequentialTrials | None = None
    covariates: dict[str, Covariate] = {}
    analysis: Analysis = Analysis()
    output: Output = Output()
    reporting: Reporting = Reporting()
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
        self._check_weights_method()
        nc = self.analysis.sensitivity.negative_control
        if nc is not None and nc not in outs:
            raise ValueError(f"analysis.sensitivity.negative_control '{nc}' is not an outcome "
                             f"(outcomes: {', '.join(outs)})")
        if self.protocol is not None:
            for name, o in self.protocol.outcomes.items():
                for arm in o.by_arm:
                    if arm not in self.protocol.treatment.arms:
                        raise ValueError(f"outcome '{name}' by_arm names '{arm}', which is not an arm "
                                         f"({', '.join(self.protocol.treatment.arms)})")
        return self

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
        return next(n for n, o in self.outcomes.items() if getattr(o, "type", "time_to_event") == "time_to_event")

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
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    parent = _format_loc(loc[:-1]) if loc[:-1] else "the top level"
    if close:
        return f"Did you mean '{close[0]}'? Rename the key to `{close[0]}:`"
    if allowed:
        return f"Remove the key; allowed keys under {parent}: {', '.join(allowed)}"
    return "Remove the key or check its spelling against `gistcausal schema`"


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
            got_txt = "" if err["type"] == "missing" or isinstance(got, (dict, list)) else f" (got {_yaml_value(got)})"
            fix = _FIXES.get(err["type"], "Fix the value")
            if err["type"] == "missing":
                fix = f"Add `{loc[-1]}:` under {_format_loc(loc[:-1]) if loc[:-1] else 'the top level'}"
            if err["type"] == "extra_forbidden":
                what = f"unknown key '{loc[-1]}'"
                got_txt = ""
                fix = _unknown_key_fix(loc)
            msgs.append(f"{where}: {_format_loc(loc)}: {what}{got_txt}. {fix}.")
        head = "invalid configuration" if len(msgs) == 1 else f"invalid configuration ({len(msgs)} problems)"
        raise ConfigError(redact(f"{head}:\n  " + "\n  ".join(msgs))) from None
    return cfg


def _yaml_value(v: Any) -> str:
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
           "AnalysisTable", "Covariate", "MatchingConfig", "load_config", "config_from_dict", "config_json_schema", "Estimand", "Reporting"]

