"""Every config key is honoured or rejected (issue 15): a walk over the JSON Schema.

For every field of every model in :func:`~gistcausal.design.config.config_json_schema` there is one case in
:data:`CASES`: a base config (a small analysis table, the synthetic registry protocol, the clone-censor-weight
strategies, the sequential-trials demo, ...) and a change of that one key. The test runs the base and the changed
config and requires either

* ``changes``: a different output - ``results.json``, the report's HTML (built without figure images), every exported
  table, and the text and data of every figure - or
* ``refused``: a :class:`~gistcausal.errors.GistCausalError` whose message names the key or the value given.

A key added to the schema without a case fails :func:`test_every_schema_key_has_a_case`. Fields that only hold
other models (``analysis``, ``protocol.outcomes``, ...) are walked through their own fields. The few keys whose
effect is *where* or *how fast* the work runs, never *what* it gives (output folder, formats, worker counts), are
checked by what they change instead (files written, which executor runs), in :data:`EFFECT_ELSEWHERE`.
"""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import yaml

from gistcausal.design.config import config_from_dict, config_json_schema
from gistcausal.errors import GistCausalError

ROOT = Path(__file__).resolve().parents[1]
DEL = object()  # a patch value that removes the key


# ---------------------------------------------------------------------------------------------------------------
# The schema's fields
# ---------------------------------------------------------------------------------------------------------------
def _is_container(prop: dict) -> bool:
    """A field whose value is a model, or a dict/list of models: its own fields are walked instead."""
    def refs(node: dict) -> bool:
        if "$ref" in node:
            return True
        if isinstance(node.get("additionalProperties"), dict) and "$ref" in node["additionalProperties"]:
            return True
        return any(refs(a) for a in node.get("anyOf", []) if a.get("type") != "null")
    return refs(prop) and not any(a.get("type") in ("string", "boolean", "number", "integer")
                                  for a in prop.get("anyOf", []))


def schema_fields(*, containers: bool = False) -> list[str]:
    """``Model.field`` of every field in the schema; without ``containers``, only those that hold values."""
    schema = config_json_schema()
    out = []
    for model, node in [("StudyConfig", schema)] + list(schema.get("$defs", {}).items()):
        for key, prop in (node.get("properties") or {}).items():
            if containers or not _is_container(prop):
                out.append(f"{model}.{key}")
    return sorted(out)


# ---------------------------------------------------------------------------------------------------------------
# Base configs and data
# ---------------------------------------------------------------------------------------------------------------
def _table_data(n: int = 260, seed: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 80, n).astype(float)
    nodes = rng.poisson(2, n).astype(float)
    trt = rng.binomial(1, 1 / (1 + np.exp(-(-0.5 + 0.03 * (age - 55) + 0.2 * (nodes - 2)))), n)
    time = np.round(rng.exponential(30 * np.exp(0.3 * trt - 0.1 * (nodes - 2)), n) + 0.5, 1)
    cens = np.round(rng.uniform(20, 60, n), 1)
    event = (time <= cens).astype(int)
    time = np.minimum(time, cens)
    cause = np.where(event == 1, rng.choice([1, 2], n, p=[0.6, 0.4]), 0)
    er = np.round(rng.gamma(2, 50, n), 0)
    er[rng.random(n) < 0.1] = np.nan
    grade = rng.choice(["g2", "g3–4"], n).astype(object)   # an en dash: not ASCII (DataSource.encoding's case)
    grade[rng.random(n) < 0.1] = None
    return pd.DataFrame({
        "trt": trt, "age": age, "meno": rng.binomial(1, 0.5, n),
        "size": rng.choice(["<=20", "20-50", ">50"], n, p=[0.4, 0.45, 0.15]), "nodes": nodes, "er": er,
        "grade": grade, "time": time, "event": event, "cause": cause,
        "time2": np.round(time * rng.uniform(0.6, 1.0, n), 1), "event2": rng.binomial(1, 0.4, n),
        "resp": rng.binomial(1, 0.3 + 0.1 * trt, n), "score": np.round(rng.normal(50 + 3 * trt, 10, n), 1),
        "trt_alt": rng.binomial(1, 0.4, n),
    })


def _table_base(tmp: Path) -> dict:
    return {
        "name": "walk", "seed": 7,
        "data": {"source": "csv", "path": str(tmp / "table.csv")},
        "table": {"time_unit": "months",
                  "treatment": {"column": "trt", "arms": {"treated": [1], "control": [0]}, "treated": "treated"},
                  "outcomes": {"rfs": {"label": "Recurrence-free survival", "time_col": "time",
                                       "event_col": "event"},
                               "second": {"label": "Second outcome", "time_col": "time2", "event_col": "event2"}}},
        "covariates": {"age": {"type": "continuous"}, "meno": {"type": "binary"},
                       "size": {"type": "categorical", "levels": ["<=20", "20-50", ">50"]},
                       "nodes": {"type": "continuous"},
                       "er": {"type": "continuous", "missing": "complete_case", "in_propensity": False},
                       "grade": {"type": "categorical", "missing": "category"}},
        "analysis": {"primary_outcome": "rfs",
                     "survival": {"landmarks": [12, 24], "horizon": 24},
                     "sensitivity": {"specification_grid": False, "refutation": {"enabled": False}}},
        "output": {"formats": ["csv"]},
    }


def _registry_base(tmp: Path) -> dict:
    raw = yaml.safe_load((ROOT / "configs" / "gist_second_line.yaml").read_text(encoding="utf-8"))
    a = raw["analysis"]
    a["plasmode"] = {"enabled": False}
    a["sensitivity"] = {"specification_grid": False, "refutation": {"enabled": False}}
    a["survival"].update(doubly_robust=False, estimands=["ATE"])
    raw["protocol"].pop("strategies")
    raw["output"]["formats"] = ["csv"]
    return raw


def _strategies_base(tmp: Path) -> dict:
    raw = yaml.safe_load((ROOT / "configs" / "gist_second_line.yaml").read_text(encoding="utf-8"))
    base = _registry_base(tmp)
    base["protocol"]["strategies"] = raw["protocol"]["strategies"]
    base["protocol"]["strategies"]["n_bootstrap"] = 10
    base["analysis"]["causal"] = False
    return base


def _sequential_base(tmp: Path) -> dict:
    return yaml.safe_load((ROOT / "configs" / "sequential_demo.yaml").read_text(encoding="utf-8"))


def _three_arm_base(tmp: Path) -> dict:
    """The table base with three arms: tumour size as the treatment (issue 18, the K-arm analysis)."""
    raw = _table_base(tmp)
    raw["table"]["treatment"] = {"column": "size", "arms": {"small": ["<=20"], "mid": ["20-50"], "large": [">50"]},
                                 "treated": "mid"}
    raw["covariates"].pop("size")
    return raw


def _with(base: Callable[[Path], dict], *patches: tuple[str, Any]) -> Callable[[Path], dict]:
    def make(tmp: Path) -> dict:
        return apply(base(tmp), patches)
    return make


BASES: dict[str, Callable[[Path], dict]] = {
    "table": _table_base,
    "registry": _registry_base,
    "strategies": _strategies_base,
    "sequential": _sequential_base,
    "bootstrap": _with(_table_base, ("analysis.survival.variance", "bootstrap"),
                       ("analysis.survival.bootstrap_replicates", 20)),
    "three_arms": _three_arm_base,
    "three_arms_bootstrap": _with(_three_arm_base, ("analysis.survival.variance", "bootstrap"),
                                  ("analysis.survival.bootstrap_replicates", 20)),
    "boosting": _with(_table_base, ("analysis.propensity.method", "boosting"), ("analysis.propensity.n_folds", 3)),
    "impute": _with(_table_base, ("covariates.er", {"type": "continuous", "missing": "impute"}),
                    ("analysis.imputations", 2)),
    "ebal": _with(_table_base, ("analysis.weights.method", "ebal"), ("analysis.survival.estimands", ["ATT"])),
    "matching": _with(_table_base, ("analysis.weights.method", "matching"),
                      ("analysis.survival.estimands", ["ATT"])),
    "refute": _with(_table_base, ("analysis.sensitivity.refutation",
                                  {"enabled": True, "num_simulations": 5, "refuters": ["placebo_treatment"]})),
    "plasmode": _with(_table_base, ("analysis.plasmode", {"enabled": True, "n_replicates": 10})),
    "plasmode_binary": _with(_table_base, ("table.outcomes.resp", {"label": "Response", "type": "binary",
                                                                   "value_col": "resp"}),
                             ("analysis.primary_outcome", "resp"),
                             ("analysis.plasmode", {"enabled": True, "n_replicates": 10})),
    "plasmode_continuous": _with(_table_base, ("table.outcomes.score", {"label": "Score", "type": "continuous",
                                                                        "value_col": "score"}),
                                 ("analysis.primary_outcome", "score"),
                                 ("analysis.plasmode", {"enabled": True, "n_replicates": 10})),
    "plasmode_competing": _with(_table_base, ("table.outcomes.cr", {"label": "Cause-specific", "type": "competing",
                                                                    "time_col": "time", "event_col": "cause",
                                                                    "causes": {1: "Recurrence", 2: "Death"}}),
                                ("analysis.primary_outcome", "cr"),
                                ("analysis.plasmode", {"enabled": True, "n_replicates": 10})),
    "competing": _with(_table_base, ("table.outcomes.cr", {"label": "Cause-specific", "type": "competing",
                                                           "time_col": "time", "event_col": "cause",
                                                           "causes": {1: "Recurrence", 2: "Death"}})),
    "binary": _with(_table_base, ("table.outcomes.resp", {"label": "Response", "type": "binary",
                                                          "value_col": "resp"})),
}


def apply(raw: dict, patches: tuple[tuple[str, Any], ...]) -> dict:
    out = copy.deepcopy(raw)
    for path, value in patches:
        *head, last = path.split(".")
        node = out
        for k in head:
            if isinstance(node, list):
                node = node[int(k)]
            else:
                node = node.setdefault(k, {})
        if isinstance(node, list):
            if value is DEL:
                node.pop(int(last))
            else:
                node[int(last)] = copy.deepcopy(value)
        elif value is DEL:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------------------------------------------
# What a run gives a reader
# ---------------------------------------------------------------------------------------------------------------
def fingerprint(raw: dict, tmp: Path) -> str:
    """Everything a reader of the output sees, as text: results.json, the report HTML (no figure images), every
    exported table and the text and data of every figure."""
    from gistcausal import run
    from gistcausal.present.export import result_tables
    from gistcausal.present.figures import build_figures
    from gistcausal.present.report import render_html
    import matplotlib.pyplot as plt

    path = tmp / "walk.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    from gistcausal.design.config import load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(load_config(path))
        parts = [json.dumps(res.to_dict(), sort_keys=True, default=str), render_html(res, {})]
        for name, table in sorted(result_tables(res).items()):
            frame = table.to_frame() if hasattr(table, "to_frame") else table
            parts.append(f"{name}\n{frame.to_csv() if hasattr(frame, 'to_csv') else frame}")
        for name, fig in sorted(build_figures(res).items()):
            texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
            data = [np.asarray(line.get_xydata()).round(8).tobytes().hex()[:4000]
                    for ax in fig.axes for line in ax.get_lines()]
            parts.append(f"{name}\n" + "|".join(texts) + "|".join(data))
            plt.close(fig)
    return "\n".join(parts)


@dataclass(frozen=True)
class Case:
    base: str
    patches: tuple[tuple[str, Any], ...]
    expect: str = "changes"  # or "refused"
    names: tuple[str, ...] = field(default_factory=tuple)  # for refused: words the message must contain


def ch(base: str, *patches: tuple[str, Any]) -> Case:
    return Case(base, patches)


def ref(base: str, *patches: tuple[str, Any], names: tuple[str, ...] = ()) -> Case:
    return Case(base, patches, "refused", names)


AGE = "protocol.eligibility.1.exclude"  # registry: "Age < 18 years at diagnosis": {column: age_at_diagnosis, lt: 18}
TDM = "protocol.eligibility.6.exclude"  # registry: {column: escalation_for_tdm, eq: true}
S = "protocol.strategies"
SEQ = "sequential"
TO = "table.outcomes.rfs"
CR = "table.outcomes.cr"

CASES: dict[str, Case] = {
    # --- the study ---
    "StudyConfig.name": ch("table", ("name", "another_study")),
    "StudyConfig.title": ch("table", ("title", "A different title")),
    "StudyConfig.description": ch("table", ("description", "A different description of the study.")),
    "StudyConfig.seed": ch("bootstrap", ("seed", 8)),
    # --- data sources ---
    "DataSource.source": ref("table", ("data.source", "parquet"), names=("parquet",)),
    "DataSource.path": ref("table", ("data.path", "no_such_file.csv"), names=("no_such_file.csv",)),
    "DataSource.name": ref("sequential", ("data.name", "gbsg2"), names=("id",)),
    # a key the chosen source does not read is refused; what each source does with it is in
    # tests/design/test_data.py, tests/design/test_sources_end_to_end.py and tests/hostile/test_data_files.py
    "DataSource.sheet": ref("table", ("data.sheet", "Sheet2"), names=("'sheet' is not read by source 'csv'",)),
    "DataSource.url": ref("table", ("data.url", "postgresql://u:secret@127.0.0.1:1/db"),
                          names=("'url' is not read by source 'csv'",)),
    "DataSource.table": ref("table", ("data.table", "t"), names=("'table' is not read by source 'csv'",)),
    "DataSource.query": ref("table", ("data.query", "select 1"), names=("'query' is not read by source 'csv'",)),
    # the table's CSV is comma-separated UTF-8 with an en dash in a grade level: read as semicolon-separated it is
    # one column (refused with the fix), a decimal comma needs another separator, latin-1 changes the level's text
    "DataSource.sep": ref("table", ("data.sep", ";"), names=("one column whose name contains ','",
                                                             "`data: {sep: ','}`")),
    "DataSource.decimal": ref("table", ("data.decimal", ","), names=("decimal ',' needs another separator",)),
    "DataSource.encoding": ch("table", ("data.encoding", "latin-1")),
    "DataSource.id_col": ref("registry", ("data.id_col", "no_such_id"), names=("no_such_id",)),
    "DataSource.columns": ch("table", ("data.columns", {"trt_alt": "trt", "trt": "trt_orig"})),
    "DataSource.dates": ref("table", ("data.dates", ["grade"]), names=("grade",)),
    "DataSource.date_format": ref("table", ("data.date_format", "%d/%m/%Y"), names=("date_format",)),
    "DataSource.synthetic": ref("table", ("data.synthetic", {"n_patients": 100}),
                                names=("'synthetic' is not read by source 'csv'",)),
    "SyntheticSource.n_patients": ch("registry", ("data.synthetic.n_patients", 520)),
    "SyntheticSource.tumor_size_missing": ch("registry", ("data.synthetic.tumor_size_missing", 0.2)),
    "SyntheticSource.seed": ch("registry", ("data.synthetic.seed", 5)),
    "SyntheticSource.confounding": ch("registry", ("data.synthetic.confounding", 2.0)),
    "SyntheticSource.hr_pfs": ch("registry", ("data.synthetic.hr_pfs", 0.4)),
    "SyntheticSource.hr_os": ch("registry", ("data.synthetic.hr_os", 0.4)),
    # --- record validation (registry) ---
    "ValidationConfig.date_cols": ch("registry", ("data.validation", {"date_cols": ["date_of_death"]})),
    "ValidationConfig.date_rules": ref("registry", ("data.validation", {"date_rules": [
        {"earlier_col": "date_last_followup", "later_col": "date_of_diagnosis"}]}), names=("date_of_diagnosis",)),
    "DateRule.earlier_col": ref("registry", ("data.validation", {"date_rules": [
        {"earlier_col": "third_line_start_date", "later_col": "second_line_start_date"}]}),
        names=("third_line_start_date",)),
    "DateRule.later_col": ref("registry", ("data.validation", {"date_rules": [
        {"earlier_col": "date_of_diagnosis", "later_col": "date_of_birth"}]}), names=("date_of_birth",)),
    "DateRule.strict": ref("registry", ("data.validation", {"date_rules": [
        {"earlier_col": "date_of_death", "later_col": "date_last_followup", "strict": True}]}),
        names=("is not after",)),
    "DateRule.severity": ch("registry", ("data.validation", {"date_rules": [
        {"earlier_col": "date_last_followup", "later_col": "date_of_diagnosis", "severity": "warning"}]})),
    "ValidationConfig.vocabularies": ref("registry", ("data.validation", {"vocabularies": {"sex": ["male"]}}),
                                         names=("outside the vocabulary",)),
    "ValidationConfig.last_followup_col": ch("registry", ("data.validation", {"last_followup_col": "date_of_death",
                                                                              "date_cols": ["date_of_diagnosis"]})),
    "ValidationConfig.event_cols": ch("registry", ("data.validation", {"last_followup_col": "date_of_diagnosis",
                                                                       "event_cols": ["date_of_death"]})),
    "ValidationConfig.severity": ch("registry", ("data.validation", {"vocabularies": {"sex": ["male"]},
                                                                     "severity": {"vocabulary": "warning"}})),
    "ValidationConfig.date_format": ref("registry", ("data.validation", {"date_cols": ["center"],
                                                                         "date_format": "%Y"}),
                                        names=("do not match date_format '%Y'",)),
    # --- protocol (registry) ---
    "Protocol.eligibility": ch("registry", ("protocol.eligibility.6", DEL)),
    "Protocol.time_zero": ch("registry", ("protocol.time_zero", "first_line_end_date")),
    "Protocol.assignment": ch("registry", ("protocol.assignment", "Randomized by the physician's coin.")),
    "Protocol.follow_up_end": ch("registry", ("protocol.follow_up_end", "Five years after time zero.")),
    "Protocol.causal_contrast": ch("registry", ("protocol.causal_contrast", "Per-protocol effect.")),
    "Protocol.time_unit": ch("registry", ("protocol.time_unit", "days"),
                             ("analysis.survival.landmarks", [180, 360]), ("analysis.survival.horizon", 720),
                             ("analysis.at_risk_times", [0, 360, 720])),
    "Protocol.start_population": ch("registry", ("protocol.start_population", "Everyone in a different registry")),
    "Protocol.eligibility_date": ref("registry", ("protocol.eligibility_date", "no_such_date"),
                                     names=("no_such_date",)),
    "EligibilityStep.label": ch("registry", ("protocol.eligibility.1.label", "Children")),
    "EligibilityStep.include": ch("registry", ("protocol.eligibility.1", {
        "label": "Adults", "include": {"column": "age_at_diagnosis", "ge": 40}})),
    "EligibilityStep.exclude": ch("registry", ("protocol.eligibility.1", {
        "label": "Old", "exclude": {"column": "age_at_diagnosis", "ge": 70}})),
    "Criterion.column": ch("registry", (AGE, {"column": "tumor_size_cm", "lt": 2})),
    "Criterion.lt": ch("registry", (AGE, {"column": "age_at_diagnosis", "lt": 30})),
    "Criterion.le": ch("registry", (AGE, {"column": "age_at_diagnosis", "le": 30})),
    "Criterion.gt": ch("registry", (AGE, {"column": "age_at_diagnosis", "gt": 80})),
    "Criterion.ge": ch("registry", (AGE, {"column": "age_at_diagnosis", "ge": 80})),
    "Criterion.eq": ch("registry", (AGE, {"column": "center", "eq": "umcg"})),
    "Criterion.ne": ch("registry", ("protocol.eligibility.1", {"label": "Not NKI",
                                                               "include": {"column": "center", "ne": "nki"}})),
    "Criterion.in": ch("registry", (AGE, {"column": "center", "in": ["umcg"]})),
    "Criterion.not_in": ch("registry", (AGE, {"column": "center", "not_in": ["nki", "lumc", "erasmus", "umcg"]})),
    "Criterion.missing": ch("registry", (AGE, {"column": "date_of_death", "missing": True})),
    "Criterion.before_column": ch("registry", (AGE, {"column": "date_of_death", "before_column":
                                                     "third_line_start_date"})),
    "Criterion.after_column": ch("registry", (AGE, {"column": "third_line_start_date", "after_column":
                                                    "second_line_progression_date"})),
    "Criterion.all": ch("registry", (AGE, {"all": [{"column": "age_at_diagnosis", "gt": 50},
                                                   {"column": "sex", "in": ["male"]}]})),
    "Criterion.any": ch("registry", (AGE, {"any": [{"column": "age_at_diagnosis", "gt": 80},
                                                   {"column": "center", "eq": "umcg"}]})),
    "Criterion.not": ch("registry", (AGE, {"not": {"column": "age_at_diagnosis", "gt": 40}})),
    "Treatment.column": ref("table", ("table.treatment.column", "no_such_col"), names=("no_such_col",)),
    "Treatment.arms": ch("table", ("table.treatment.arms", {"treated": [0], "control": [1]})),
    "Treatment.treated": ch("table", ("table.treatment.treated", "control")),
    "Treatment.labels": ch("table", ("table.treatment.labels", {"treated": "Hormone therapy",
                                                                "control": "No hormone therapy"})),
    "DerivedColumn.months_between": ch("registry", ("protocol.derived.first_line_months.months_between",
                                                    ["date_of_diagnosis", "first_line_end_date"])),
    "DerivedColumn.years_between": ch("registry", ("protocol.derived.first_line_months",
                                                   {"years_between": ["first_line_start_date",
                                                                      "first_line_end_date"]})),
    "DerivedColumn.days_between": ch("registry", ("protocol.derived.first_line_months",
                                                  {"days_between": ["first_line_start_date",
                                                                    "first_line_end_date"]})),
    "DerivedColumn.recode": ch("registry", ("protocol.derived.localization_group",
                                            {"recode": {"column": "localization", "map": {"gastric": ["gastric"]},
                                                        "other": "other_or_unknown"}})),
    "Recode.column": ref("registry", ("protocol.derived.localization_group.recode.column", "no_such_col"),
                         names=("no_such_col",)),
    "Recode.map": ch("registry", ("protocol.derived.localization_group.recode.map",
                                  {"gastric": ["gastric", "duodenal"], "small_bowel": ["small_bowel"]})),
    "Recode.other": ch("registry", ("protocol.derived.localization_group.recode.other", "rest"),
                       ("covariates.localization_group.level_labels", {"gastric": "Gastric", "rest": "Rest",
                                                                       "small_bowel": "Small bowel"})),
    "Outcome.label": ch("registry", ("protocol.outcomes.pfs.label", "Time to progression or death")),
    "Outcome.type": ref("registry", ("protocol.outcomes.sunitinib_failure.type", "time_to_event"),
                        names=("sunitinib_failure",)),
    "Outcome.start": ch("registry", ("protocol.outcomes.os_from_diagnosis.start", "first_line_start_date")),
    "Outcome.events": ch("registry", ("protocol.outcomes.pfs.events", ["second_line_progression_date"])),
    "Outcome.censor": ref("registry", ("protocol.outcomes.pfs.censor", "second_line_end_date"),
                          names=("second_line_end_date",)),
    "Outcome.by_arm": ch("registry", ("protocol.outcomes.sunitinib_failure.by_arm.imatinib_800",
                                      {"start": "second_line_start_date", "end": "second_line_end_date"})),
    "Outcome.causal": ch("registry", ("protocol.outcomes.os.causal", False)),
    "ArmOutcome.start": ch("registry", ("protocol.outcomes.sunitinib_failure.by_arm.sunitinib.start",
                                        "first_line_end_date")),
    "ArmOutcome.end": ch("registry", ("protocol.outcomes.sunitinib_failure.by_arm.sunitinib.end",
                                      "date_last_followup")),
    "ArmOutcome.require": ch("registry", ("protocol.outcomes.sunitinib_failure.by_arm.sunitinib.require",
                                          {"column": "second_line_end_reason", "in": ["toxicity"]})),
    # --- clone-censor-weight strategies ---
    "CloneCensorConfig.time_zero": ch("strategies", (f"{S}.time_zero", "first_line_start_date"),
                                      (f"{S}.grace", 30)),
    "CloneCensorConfig.eligibility": ch("strategies", (f"{S}.eligibility", [
        {"label": "First line ended by progression", "include": {"column": "first_line_end_reason",
                                                                 "in": ["progression"]}}])),
    # an optional step: the failure is reported in its section (and results.json), the report is kept
    "CloneCensorConfig.treatment_column": ch("strategies", (f"{S}.treatment_column", "no_such_col")),
    "CloneCensorConfig.treatment_date": ch("strategies", (f"{S}.treatment_date", "second_line_end_date")),
    "CloneCensorConfig.strategies": ch("strategies", (f"{S}.strategies", {
        "sunitinib": ["sunitinib_50_intermittent"], "imatinib_800": ["imatinib_800"]})),
    "CloneCensorConfig.grace": ch("strategies", (f"{S}.grace", 1)),
    "CloneCensorConfig.events": ch("strategies", (f"{S}.events", ["date_of_death", "second_line_progression_date"])),
    "CloneCensorConfig.censor": ch("strategies", (f"{S}.censor", "second_line_end_date")),
    "CloneCensorConfig.covariates": ch("strategies", (f"{S}.covariates", ["age_at_diagnosis"])),
    "CloneCensorConfig.outcome": ch("strategies", (f"{S}.outcome", "os_strategy")),
    "CloneCensorConfig.landmarks": ch("strategies", (f"{S}.landmarks", [6, 12])),
    "CloneCensorConfig.horizon": ch("strategies", (f"{S}.horizon", 18)),
    "CloneCensorConfig.n_bootstrap": ch("strategies", (f"{S}.n_bootstrap", 12)),
    "CloneCensorConfig.alpha": ch("strategies", (f"{S}.alpha", 0.1)),
    # --- analysis table ---
    "AnalysisTable.time_unit": ch("table", ("table.time_unit", "weeks")),
    "TableOutcome.label": ch("table", (f"{TO}.label", "Relapse-free survival")),
    "TableOutcome.type": ref("table", (f"{TO}.type", "binary"), names=("value_col",)),
    "TableOutcome.time_col": ch("table", (f"{TO}.time_col", "time2")),
    "TableOutcome.event_col": ch("table", (f"{TO}.event_col", "event2")),
    "TableOutcome.event_value": ch("table", (f"{TO}.event_value", 0)),
    "TableOutcome.value_col": ch("binary", ("table.outcomes.resp.value_col", "meno")),
    "TableOutcome.causes": ch("competing", (f"{CR}.causes", {1: "Local recurrence", 2: "Death"})),
    "TableOutcome.censor_value": ref("competing", (f"{CR}.censor_value", 9), names=("censor_value",)),
    "TableOutcome.causal": ch("table", ("table.outcomes.second.causal", False)),
    # --- sequential trials ---
    "SequentialTrials.id_col": ref("sequential", (f"{SEQ}.id_col", "no_such_col"), names=("no_such_col",)),
    "SequentialTrials.period_col": ref("sequential", (f"{SEQ}.period_col", "no_such_col"), names=("no_such_col",)),
    "SequentialTrials.eligible_col": ref("sequential", (f"{SEQ}.eligible_col", "no_such_col"),
                                         names=("no_such_col",)),
    "SequentialTrials.treatment_col": ref("sequential", (f"{SEQ}.treatment_col", "no_such_col"),
                                          names=("no_such_col",)),
    "SequentialTrials.time_col": ref("sequential", (f"{SEQ}.time_col", "no_such_col"), names=("no_such_col",)),
    "SequentialTrials.event_col": ref("sequential", (f"{SEQ}.event_col", "no_such_col"), names=("no_such_col",)),
    "SequentialTrials.covariates": ch("sequential", (f"{SEQ}.covariates", [])),
    "SequentialTrials.max_trials": ch("sequential", (f"{SEQ}.max_trials", 3)),
    "SequentialTrials.time_unit": ch("sequential", (f"{SEQ}.time_unit", "weeks")),
    "SequentialTrials.outcome": ch("sequential", (f"{SEQ}.outcome", "event")),
    "SequentialTrials.outcome_label": ch("sequential", (f"{SEQ}.outcome_label", "Death from any cause")),
    "SequentialTrials.labels": ch("sequential", (f"{SEQ}.labels", {"initiate": "Start now",
                                                                   "no_initiation": "Wait"})),
    # --- covariates ---
    "Covariate.type": ch("table", ("covariates.nodes.type", "categorical")),
    "Covariate.label": ch("table", ("covariates.nodes.label", "Positive lymph nodes")),
    "Covariate.summary": ch("table", ("covariates.age.summary", "median_iqr")),
    "Covariate.levels": ch("table", ("covariates.size.levels", [">50", "20-50", "<=20"])),
    "Covariate.missing": ch("table", ("covariates.grade.missing", "complete_case")),
    "Covariate.missing_label": ch("table", ("covariates.grade.missing_label", "unknown")),
    "Covariate.in_propensity": ch("table", ("covariates.meno.in_propensity", False)),
    "Covariate.in_table1": ch("table", ("covariates.meno.in_table1", False)),
    "Covariate.spline_df": ch("table", ("covariates.age.spline_df", 3)),
    "Covariate.transform": ch("table", ("covariates.age.transform", "log")),
    "Covariate.level_labels": ch("table", ("covariates.grade.level_labels", {"g2": "Grade 2", "g3": "Grade 3"})),
    "Covariate.binary_level": ch("table", ("covariates.meno.binary_level", 0)),
    # --- analysis ---
    "Analysis.primary_outcome": ch("table", ("analysis.primary_outcome", "second")),
    "Analysis.imputations": ch("impute", ("analysis.imputations", 3)),
    "Analysis.study_replication": ch("table", ("analysis.study_replication", False)),
    "Analysis.causal": ch("table", ("analysis.causal", False)),
    "Analysis.balance_threshold": ch("table", ("analysis.balance_threshold", 0.01)),
    "Analysis.at_risk_times": ch("table", ("analysis.at_risk_times", [0, 10, 20, 30])),
    "PropensityConfig.method": ch("table", ("analysis.propensity.method", "firth")),
    "PropensityConfig.interactions": ch("table", ("analysis.propensity.interactions", [["age", "nodes"]])),
    "PropensityConfig.n_folds": ch("boosting", ("analysis.propensity.n_folds", 4)),
    "PropensityConfig.calibrate": ch("boosting", ("analysis.propensity.calibrate", False)),
    "WeightsConfig.method": ch("table", ("analysis.weights.method", "ebal")),
    "WeightsConfig.moments": ch("ebal", ("analysis.weights.moments", 2)),
    "WeightsConfig.stabilize": ch("table", ("analysis.weights.stabilize", False)),
    "WeightsConfig.truncate": ch("table", ("analysis.weights.truncate", [5, 95])),
    "WeightsConfig.trim": ch("table", ("analysis.weights.trim", "crump")),
    "MatchingConfig.ratio": ch("matching", ("analysis.matching.ratio", 2)),
    "MatchingConfig.caliper": ch("matching", ("analysis.matching.caliper", 0.01)),
    "MatchingConfig.replace": ch("matching", ("analysis.matching.replace", True)),
    "MatchingConfig.exact": ch("matching", ("analysis.matching.exact", ["meno"])),
    "SurvivalConfig.landmarks": ch("table", ("analysis.survival.landmarks", [6, 18])),
    "SurvivalConfig.horizon": ch("table", ("analysis.survival.horizon", 18)),
    "SurvivalConfig.estimands": ch("table", ("analysis.survival.estimands", ["ATO"])),
    "SurvivalConfig.variance": ch("table", ("analysis.survival.variance", "m_estimation")),
    "SurvivalConfig.bootstrap_replicates": ch("bootstrap", ("analysis.survival.bootstrap_replicates", 25)),
    "SurvivalConfig.bootstrap_ci": ch("bootstrap", ("analysis.survival.bootstrap_ci", "bca")),
    "SurvivalConfig.doubly_robust": ch("table", ("analysis.survival.doubly_robust", True)),
    "SurvivalConfig.alpha": ch("table", ("analysis.survival.alpha", 0.1)),
    "SensitivityConfig.evalues": ch("table", ("analysis.sensitivity.evalues", False)),
    "SensitivityConfig.tipping_point": ch("table", ("analysis.sensitivity.tipping_point", False)),
    "SensitivityConfig.specification_grid": ch("table", ("analysis.sensitivity.specification_grid", True)),
    "SensitivityConfig.negative_control": ch("table", ("analysis.sensitivity.negative_control", "second")),
    "RefutationConfig.enabled": ch("refute", ("analysis.sensitivity.refutation.enabled", False)),
    "RefutationConfig.refuters": ch("refute", ("analysis.sensitivity.refutation.refuters", ["data_subset"])),
    "RefutationConfig.num_simulations": ch("refute", ("analysis.sensitivity.refutation.num_simulations", 6)),
    "RefutationConfig.bridge": ch("refute", ("analysis.sensitivity.refutation.bridge", "surv_pseudo")),
    "RefutationConfig.extra_edges": ch("refute", ("analysis.sensitivity.refutation.extra_edges",
                                                  [["age", "nodes"]])),
    "PlasmodeConfig.enabled": ch("plasmode", ("analysis.plasmode.enabled", False)),
    "PlasmodeConfig.n_replicates": ch("plasmode", ("analysis.plasmode.n_replicates", 12)),
    "PlasmodeConfig.true_hr": ch("plasmode", ("analysis.plasmode.true_hr", 0.5)),
    "PlasmodeConfig.marginal": ch("plasmode", ("analysis.plasmode.marginal", True)),
    "PlasmodeConfig.treatment": ch("plasmode", ("analysis.plasmode.treatment", "simulated")),
    "PlasmodeConfig.methods": ch("plasmode", ("analysis.plasmode.methods", ["iptw"])),
    "PlasmodeConfig.true_or": ch("plasmode_binary", ("analysis.plasmode.true_or", 0.5)),
    "PlasmodeConfig.true_mean_diff": ch("plasmode_continuous", ("analysis.plasmode.true_mean_diff", 4.0)),
    "PlasmodeConfig.cause": ch("plasmode_competing", ("analysis.plasmode.cause", "Death")),
    # --- output and reporting ---
    "Output.small_cell_threshold": ch("table", ("output.small_cell_threshold", 30)),
    "Output.unadjusted_title": ch("table", ("output.unadjusted_title", "As in the original paper")),
    "Reporting.causal_question": ch("table", ("reporting.causal_question", "Does hormone therapy prolong RFS?")),
    "Reporting.why_not_randomized": ch("table", ("reporting.why_not_randomized", "A trial would be unethical.")),
    "Reporting.registration": ch("table", ("reporting.registration", "NCT00000000")),
    "Reporting.protocol_url": ch("table", ("reporting.protocol_url", "https://example.org/protocol")),
    "Reporting.funding": ch("table", ("reporting.funding", "No funding.")),
    "Reporting.conflicts": ch("table", ("reporting.conflicts", "None declared.")),
    "Reporting.data_availability": ch("table", ("reporting.data_availability", "On request.")),
    "Reporting.limitations": ch("table", ("reporting.limitations", "Unmeasured confounding by frailty.")),
    "Reporting.ethics": ch("table", ("reporting.ethics", "Approved by the review board; consent waived.")),
}

#: keys whose behaviour differs with three or more arms (issue 18): honoured (a changed output) or refused there too
K_ARM_CASES: dict[str, Case] = {
    "SurvivalConfig.variance": ch("three_arms", ("analysis.survival.variance", "bootstrap"),
                                  ("analysis.survival.bootstrap_replicates", 20)),
    "SurvivalConfig.variance (m_estimation)": ref("three_arms", ("analysis.survival.variance", "m_estimation"),
                                                  names=("analysis.survival.variance m_estimation",)),
    "SurvivalConfig.bootstrap_replicates": ch("three_arms_bootstrap",
                                              ("analysis.survival.bootstrap_replicates", 25)),
    "SurvivalConfig.bootstrap_ci": ch("three_arms_bootstrap", ("analysis.survival.bootstrap_ci", "bca")),
    "StudyConfig.seed": ch("three_arms_bootstrap", ("seed", 8)),
    "SensitivityConfig.evalues": ch("three_arms", ("analysis.sensitivity.evalues", False)),
    "SensitivityConfig.tipping_point": ch("three_arms", ("analysis.sensitivity.tipping_point", False)),
    "SensitivityConfig.specification_grid": ref("three_arms", ("analysis.sensitivity.specification_grid", True),
                                                names=("analysis.sensitivity.specification_grid",)),
    "SensitivityConfig.negative_control": ref("three_arms", ("analysis.sensitivity.negative_control", "second"),
                                              names=("analysis.sensitivity.negative_control",)),
    "RefutationConfig.enabled": ref("three_arms", ("analysis.sensitivity.refutation.enabled", True),
                                    names=("analysis.sensitivity.refutation",)),
}


@pytest.mark.parametrize("key", sorted(K_ARM_CASES))
def test_k_arm_key_changes_the_output_or_is_refused(key, walk_dir):
    """As test_key_changes_the_output_or_is_refused, on the three-arm base (the base turns the two-arm-only
    sensitivity analyses off explicitly, so switching them on is what is refused)."""
    case = K_ARM_CASES[key]
    raw = apply(BASES[case.base](walk_dir), case.patches)
    d = walk_dir / ("k_" + key.replace(".", "_").replace(" ", "_").replace("(", "").replace(")", ""))
    d.mkdir(exist_ok=True)
    if case.expect == "refused":
        with pytest.raises(GistCausalError) as err:
            fingerprint(raw, d)
        assert any(n in str(err.value) for n in case.names), f"{key}: refused without naming it: {err.value}"
        return
    assert fingerprint(raw, d) != _base_print(case.base, walk_dir), f"{key}: accepted and ignored with three arms"


#: keys whose effect is not on *what* the output says: checked by their own effect, in the tests named here
EFFECT_ELSEWHERE = {
    "Output.dir": "test_output_dir_and_formats_are_honoured",
    "Output.formats": "test_output_dir_and_formats_are_honoured",
    "EngineConfig.kind": "tests/test_engine.py::test_config_engine_changes_which_executor_runs",
    "EngineConfig.n_workers": "tests/test_engine.py::test_config_engine_changes_which_executor_runs",
    "EngineConfig.address": "tests/test_engine.py::test_config_engine_rejected_with_fix",
}


def test_every_schema_key_has_a_case():
    missing = sorted(set(schema_fields()) - set(CASES) - set(EFFECT_ELSEWHERE))
    stale = sorted((set(CASES) | set(EFFECT_ELSEWHERE)) - set(schema_fields(containers=True)))
    assert not missing, f"config keys without a case proving they change the output or are refused: {missing}"
    assert not stale, f"cases for keys no longer in the schema: {stale}"
    for name in set(EFFECT_ELSEWHERE.values()):
        path, _, test = name.rpartition("::")
        if path:
            assert f"def {test}(" in (ROOT / path).read_text(encoding="utf-8"), name
        else:
            assert name in globals(), name


_BASE_PRINTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def walk_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("walk")
    _table_data().to_csv(tmp / "table.csv", index=False)
    return tmp


def _base_print(base: str, tmp: Path) -> str:
    if base not in _BASE_PRINTS:
        d = tmp / f"base_{base}"
        d.mkdir(exist_ok=True)
        _BASE_PRINTS[base] = fingerprint(BASES[base](tmp), d)
    return _BASE_PRINTS[base]


@pytest.mark.parametrize("key", sorted(CASES))
def test_key_changes_the_output_or_is_refused(key, walk_dir):
    case = CASES[key]
    raw = apply(BASES[case.base](walk_dir), case.patches)
    d = walk_dir / key.replace(".", "_")
    d.mkdir(exist_ok=True)
    if case.expect == "refused":
        with pytest.raises(GistCausalError) as err:
            fingerprint(raw, d)
        msg = str(err.value)
        assert any(n in msg for n in case.names), f"{key}: refused, but the message does not name it: {msg}"
        return
    base = _base_print(case.base, walk_dir)
    try:
        changed = fingerprint(raw, d)
    except GistCausalError as err:  # pragma: no cover - shown to whoever adds a case
        pytest.fail(f"{key}: the change was refused ({err}); expected a changed output")
    assert changed != base, f"{key}: changing it left every output as it was: accepted and ignored"


def test_output_dir_and_formats_are_honoured(tmp_path, walk_dir):
    """``output.dir`` is where ``gistcausal run`` writes without ``-o``; ``output.formats`` are the table files."""
    from typer.testing import CliRunner

    from gistcausal.cli import app

    raw = apply(BASES["table"](walk_dir), (("output.dir", str(tmp_path / "here")), ("output.formats", ["md"]),
                                          ("analysis.sensitivity.evalues", False)))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    res = CliRunner().invoke(app, ["run", str(path), "-q"])
    assert res.exit_code in (0, 7), res.output
    out = tmp_path / "here"
    assert (out / "report.html").is_file()
    tables = {p.suffix for p in (out / "tables").iterdir()}
    assert tables == {".md"}, tables
