"""``gistcausal init``: a commented starter config for a new study, that validates as written.

Two shapes, as in :mod:`gistcausal.design.config`: ``table`` (an analysis-ready file with time, event, treatment
and covariate columns) and ``registry`` (records with dates, turned into a cohort by a protocol).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from gistcausal.errors import ConfigError

_TABLE = """\
# gistcausal study config (analysis-ready table). Validate with: gistcausal validate {file}
# Every key is documented in `gistcausal schema`; unknown keys are errors.
name: {name}
title: "{title}"
seed: 20201

data:
  source: {source}            # csv | parquet | excel | duckdb | sql
  path: {path}                # relative to this file

table:
  time_unit: {time_unit}      # unit of the time column; landmarks and horizon below use it too
  treatment:
    column: {treatment_col}
    arms:
      treated: [{treated_value}]
      control: [{control_value}]
    treated: treated
  outcomes:
    primary:
      label: "Primary outcome"
      time_col: {time_col}
      event_col: {event_col}
      event_value: 1          # the code of an event (others are censored)

covariates:                   # baseline confounders: type categorical | continuous | binary
{covariates}
analysis:
  propensity: {{method: logistic}}          # logistic | firth | boosting
  weights: {{stabilize: true}}              # truncate: [1, 99]   trim: crump
  survival:
    landmarks: [{landmarks}]
    horizon: {horizon}
    estimands: [ATE]                       # ATE | ATT | ATC | ATO
    variance: robust                       # robust | m_estimation | bootstrap
"""

_REGISTRY = """\
# gistcausal study config (registry records -> target-trial protocol). Validate with: gistcausal validate {file}
# Every key is documented in `gistcausal schema`; unknown keys are errors.
name: {name}
title: "{title}"
seed: 20201

data:
  source: {source}            # csv | parquet | excel | duckdb | sql
  path: {path}
  id_col: patient_id
  dates: [date_of_diagnosis, treatment_start_date, progression_date, date_of_death, date_last_followup]

protocol:
  time_unit: months
  eligibility:                # applied in this order; each step is counted in the flow diagram
    - label: "Adults at diagnosis"
      include: {{column: age_at_diagnosis, ge: 18}}
    - label: "No treatment start recorded"
      exclude: {{column: treatment_start_date, missing: true}}
  treatment:
    column: {treatment_col}
    arms:
      treated: [{treated_value}]
      control: [{control_value}]
    treated: treated
  time_zero: treatment_start_date
  outcomes:
    pfs:
      label: "Progression-free survival"
      events: [progression_date, date_of_death]   # the earliest recorded date is the event
      censor: date_last_followup

covariates:
{covariates}
analysis:
  survival:
    landmarks: [6, 12, 24]
    horizon: 24
    estimands: [ATE]
"""


@dataclass(frozen=True, slots=True)
class ScaffoldOptions:
    """What ``init`` needs to know; every field has a placeholder default that validates."""

    name: str = "my_study"
    title: str = "My comparative-effectiveness study"
    shape: str = "table"
    path: str = "data.csv"
    treatment_col: str = "treatment"
    treated_value: str = "1"
    control_value: str = "0"
    time_col: str = "time"
    event_col: str = "event"
    time_unit: str = "months"
    covariates: tuple[str, ...] = ("age",)


def render_config(opts: ScaffoldOptions, *, file: str = "study.yaml") -> str:
    """The starter YAML text."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", opts.name):
        raise ConfigError(f"init --name: use letters, digits, '_', '.', '-' only (got {opts.name!r}). It names the "
                          "report folder.")
    if opts.shape not in ("table", "registry"):
        raise ConfigError(f"init --shape: must be 'table' or 'registry' (got {opts.shape!r}).")
    suffix = opts.path.rsplit(".", 1)[-1].lower()
    source = {"csv": "csv", "parquet": "parquet", "xlsx": "excel", "xls": "excel", "duckdb": "duckdb"}.get(suffix, "csv")
    covs = "".join(f"  {c}: {{type: continuous}}        # or categorical / binary\n" for c in opts.covariates) or "  {}\n"
    unit_lm = {"days": ("180, 365, 730", "730"), "weeks": ("26, 52, 104", "104"), "months": ("6, 12, 24", "24"),
               "years": ("1, 2, 5", "5")}[opts.time_unit]
    tpl = _TABLE if opts.shape == "table" else _REGISTRY
    return tpl.format(file=file, name=opts.name, title=opts.title.replace('"', "'"), source=source, path=opts.path,
                      treatment_col=opts.treatment_col, treated_value=_q(opts.treated_value),
                      control_value=_q(opts.control_value), time_col=opts.time_col, event_col=opts.event_col,
                      time_unit=opts.time_unit, covariates=covs, landmarks=unit_lm[0], horizon=unit_lm[1])


def _q(v: str) -> str:
    """Quote codes so YAML keeps them as strings ("yes" would otherwise become true)."""
    return '"' + v.replace('"', '\\"') + '"'
