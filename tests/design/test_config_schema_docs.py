"""Issue 15: every config key carries a description and an example in the JSON Schema, so editors show help.

Three checks per key: the schema property (root and every ``$defs`` model) has a non-empty description and at
least one example; each example conforms to the property's JSON Schema (a small checker below, and the
``jsonschema`` package as well when it is installed); and each example, read back from JSON as YAML would give
it, is accepted by the pydantic model that owns the key (with the model's other required keys filled from a
minimal fixture), and, for the sections at a fixed place in a config (``data``, ``analysis.*``, ``output``, ...),
by :func:`config_from_dict` on a whole config, so cross-section rules (estimands allowed with a weighting
method, ``negative_control`` naming an outcome) are checked too.
"""
from __future__ import annotations

import copy
import json
import math
import re
import typing
from typing import Any, Callable

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from gistcausal.design.config import StudyConfig, config_from_dict, config_json_schema

SCHEMA = config_json_schema()
DEFS = SCHEMA["$defs"]


# ------------------------------------------------------------------------------------------------ helpers
def _properties() -> list[tuple[str, str, dict]]:
    """(model title, YAML key, property schema) for the root and every model in ``$defs``."""
    out = [("StudyConfig", k, p) for k, p in SCHEMA["properties"].items()]
    for name, d in sorted(DEFS.items()):
        out += [(name, k, p) for k, p in d.get("properties", {}).items()]
    return out


PROPERTIES = _properties()
IDS = [f"{m}.{k}" for m, k, _ in PROPERTIES]


def _models(root: type[BaseModel] = StudyConfig) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from the root's field annotations, by class name (= ``$defs`` key)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(ann: Any) -> None:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if ann.__name__ not in found:
                found[ann.__name__] = ann
                for f in ann.model_fields.values():
                    visit(f.annotation)
            return
        for arg in typing.get_args(ann):
            visit(arg)

    visit(root)
    return found


MODELS = _models()


def _field_name(model: type[BaseModel], key: str) -> str:
    return next(n for n, f in model.model_fields.items() if (f.alias or n) == key)


def _as_yaml_gives(value: Any) -> Any:
    """The example as a YAML/JSON document delivers it (tuples become lists, mapping keys text)."""
    return json.loads(json.dumps(value))


def _conforms(value: Any, schema: dict, path: str = "") -> list[str]:
    """Problems of ``value`` against a JSON-Schema fragment of the kinds pydantic writes (a small subset of
    draft 2020-12: $ref, anyOf/oneOf/allOf, enum, const, type, items, prefixItems, properties, required,
    additionalProperties, numeric bounds, string length and pattern, array length)."""
    where = path or "value"
    if "$ref" in schema:
        probs = _conforms(value, DEFS[schema["$ref"].split("/")[-1]], path)
        rest = {k: v for k, v in schema.items() if k not in ("$ref", "default", "description", "examples", "title")}
        return probs + (_conforms(value, rest, path) if rest else [])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            alts = [_conforms(value, alt, path) for alt in schema[key]]
            ok = sum(not a for a in alts)
            if ok == 0 or (key == "oneOf" and ok > 1):
                return [f"{where}: matches {ok} of the {key} alternatives (got {value!r})"]
    probs: list[str] = []
    for alt in schema.get("allOf", []):
        probs += _conforms(value, alt, path)
    if "enum" in schema and value not in schema["enum"]:
        probs.append(f"{where}: not one of {schema['enum']} (got {value!r})")
    if "const" in schema and value != schema["const"]:
        probs.append(f"{where}: must be {schema['const']!r} (got {value!r})")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "null": lambda v: v is None, "array": lambda v: isinstance(v, list),
                  "object": lambda v: isinstance(v, dict),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        if not any(checks[k](value) for k in kinds):
            return probs + [f"{where}: not of type {kinds} (got {value!r})"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, bad in (("minimum", lambda v, b: v < b), ("maximum", lambda v, b: v > b),
                         ("exclusiveMinimum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v >= b)):
            if key in schema and bad(value, schema[key]):
                probs.append(f"{where}: breaks {key} {schema[key]} (got {value!r})")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", math.inf):
            probs.append(f"{where}: length {len(value)} outside [{schema.get('minLength', 0)}, "
                         f"{schema.get('maxLength', 'inf')}]")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            probs.append(f"{where}: does not match {schema['pattern']!r} (got {value!r})")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
            probs.append(f"{where}: {len(value)} items, outside [{schema.get('minItems', 0)}, "
                         f"{schema.get('maxItems', 'inf')}]")
        prefix = schema.get("prefixItems", [])
        for i, v in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if isinstance(sub, dict):
                probs += _conforms(v, sub, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        probs += [f"{where}: missing required key '{k}'" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                probs += _conforms(v, props[k], f"{path}.{k}")
            elif extra is False:
                probs.append(f"{where}: unknown key '{k}'")
            elif isinstance(extra, dict):
                probs += _conforms(v, extra, f"{path}.{k}")
    return probs


# ------------------------------------------------------------------------------------------------ fixtures
_TREATMENT = {"column": "regimen", "arms": {"drug_b": ["drug_b"], "drug_a_high_dose": ["drug_a_800"]},
              "treated": "drug_b"}
_STEP = {"label": "Adults", "exclude": {"column": "age", "lt": 18}}

#: A whole analysis-ready-table config whose names the examples refer to (outcomes os/pfs/hip_fracture,
#: covariates age/sex, the arms drug_b and drug_a_high_dose).
BASE_CONFIG: dict[str, Any] = {
    "name": "schema_examples",
    "table": {"treatment": _TREATMENT,
              "outcomes": {"os": {"label": "OS", "time_col": "os_time", "event_col": "os_event"},
                           "pfs": {"label": "PFS", "time_col": "pfs_time", "event_col": "pfs_event"},
                           "hip_fracture": {"label": "Hip fracture", "time_col": "hf_time", "event_col": "hf_event"}}},
    "covariates": {"age": {"type": "continuous"}, "sex": {"type": "categorical"}},
}

#: The other required keys of each model (aliases as in YAML).
MINIMAL: dict[str, dict[str, Any]] = {
    "StudyConfig": BASE_CONFIG,
    "DateRule": {"earlier_col": "date_of_diagnosis", "later_col": "date_of_death"},
    "Criterion": {"column": "age", "eq": 1},
    "EligibilityStep": _STEP,
    "Treatment": _TREATMENT,
    "Recode": {"column": "stage", "map": {"early": ["i", "ii"]}},
    "DerivedColumn": {"months_between": ["start_date", "end_date"]},
    "ArmOutcome": {"start": "start_date", "end": "end_date"},
    "Outcome": {"label": "OS", "events": ["date_of_death"], "censor": "date_last_followup"},
    "CloneCensorConfig": {"time_zero": "t0", "treatment_column": "regimen", "treatment_date": "start",
                          "strategies": {"switch_to_b": ["drug_b"], "escalate_a": ["drug_a_800"]}, "grace": 3,
                          "events": ["date_of_death"], "censor": "date_last_followup"},
    "Protocol": {"eligibility": [_STEP], "treatment": _TREATMENT, "time_zero": "start",
                 "outcomes": {"os": {"label": "OS", "events": ["date_of_death"], "censor": "date_last_followup"}}},
    "TableOutcome": {"label": "OS", "time_col": "os_time", "event_col": "os_event"},
    "AnalysisTable": {"treatment": _TREATMENT,
                      "outcomes": {"os": {"label": "OS", "time_col": "os_time", "event_col": "os_event"}}},
    "SequentialTrials": {"id_col": "id", "period_col": "month", "eligible_col": "eligible", "treatment_col": "treat",
                         "time_col": "time", "event_col": "event"},
    "Covariate": {"type": "categorical"},
}

#: Keys of which a model takes exactly one: setting one example drops the others from the fixture.
ONE_OF: dict[str, set[str]] = {
    "StudyConfig": {"protocol", "table", "sequential"},
    "DerivedColumn": {"months_between", "years_between", "days_between", "recode"},
    "EligibilityStep": {"include", "exclude"},
    "Criterion": {"column", "in", "not_in", "eq", "ne", "lt", "le", "gt", "ge", "missing", "before_column",
                  "after_column", "all", "any", "not"},
}
_COMBOS = {"all", "any", "not"}

#: Keys an example needs beside it, as in a real config (e.g. a binary outcome needs its value column).
COMPANIONS: dict[tuple[str, str], Callable[[Any], dict[str, Any]]] = {
    ("DataSource", "source"): lambda ex: {"csv": {"path": "registry.csv"}, "parquet": {"path": "r.parquet"},
                                          "excel": {"path": "r.xlsx"}, "duckdb": {"path": "r.duckdb", "table": "t"},
                                          "sql": {"url": "sqlite:///registry.db", "table": "patients"},
                                          "builtin": {"name": "gbsg2"}}.get(ex, {}),
    ("Outcome", "type"): lambda ex: {"by_arm": {"drug_b": {"start": "s", "end": "e"}}} if ex == "duration" else {},
    ("TableOutcome", "type"): lambda ex: {"binary": {"value_col": "response"}, "continuous": {"value_col": "ldh"},
                                          "competing": {"causes": {1: "progression"}}}.get(ex, {}),
    ("TableOutcome", "causes"): lambda ex: {"type": "competing"},
    ("Treatment", "arms"): lambda ex: {"treated": next(iter(ex))},
    # a sequential-trials config reads its covariates from `sequential.covariates`, not a top-level section
    ("StudyConfig", "sequential"): lambda ex: {"covariates": {}, "analysis": {}},
    ("Covariate", "spline_df"): lambda ex: {"type": "continuous"},
    ("Covariate", "transform"): lambda ex: {"type": "continuous"},
    # a data key is read by one kind of source only (the others refuse it)
    ("DataSource", "path"): lambda ex: {"source": "parquet" if str(ex).endswith(".parquet") else "csv"},
    ("DataSource", "name"): lambda ex: {"source": "builtin"},
    ("DataSource", "sheet"): lambda ex: {"source": "excel", "path": "registry.xlsx"},
    ("DataSource", "sep"): lambda ex: {"source": "csv", "path": "registry.csv"},
    ("DataSource", "decimal"): lambda ex: {"source": "csv", "path": "registry.csv", "sep": ";"},
    ("DataSource", "encoding"): lambda ex: {"source": "csv", "path": "registry.csv"},
    ("DataSource", "url"): lambda ex: {"source": "sql", "table": "patients"},
    ("DataSource", "table"): lambda ex: {"source": "duckdb", "path": "registry.duckdb"},
    ("DataSource", "query"): lambda ex: {"source": "duckdb", "path": "registry.duckdb"},
    ("DataSource", "date_format"): lambda ex: {"dates": ["date_of_diagnosis"]},
    ("EngineConfig", "address"): lambda ex: {"kind": "dask"},
    ("Treatment", "treated"): lambda ex: {"arms": {ex: [1], "other_arm": [0]}},
}

def _primary(kind: str, **outcome: Any) -> Callable[[dict[str, Any], Any], None]:
    """Make the whole config's primary outcome one of type ``kind`` (plasmode effect keys apply to one type)."""
    def patch(raw: dict[str, Any], example: Any) -> None:
        raw["table"]["outcomes"]["y"] = {"label": "Y", "type": kind, **outcome}
        raw.setdefault("analysis", {})["primary_outcome"] = "y"
    return patch


#: Keys that apply to one kind of whole config: the change to the rest of the config they need.
CONFIG_COMPANIONS: dict[tuple[str, str], Callable[[dict[str, Any], Any], None]] = {
    ("PlasmodeConfig", "true_or"): _primary("binary", value_col="response"),
    ("PlasmodeConfig", "true_mean_diff"): _primary("continuous", value_col="ldh"),
    ("PlasmodeConfig", "cause"): lambda raw, ex: _primary("competing", time_col="t", event_col="status",
                                                          causes={1: ex, 2: "other"})(raw, ex),
}

#: Where each section sits in a config (models reached through a list or a mapping are checked alone).
PATHS: dict[str, tuple[str, ...]] = {
    "StudyConfig": (), "DataSource": ("data",), "SyntheticSource": ("data", "synthetic"),
    "ValidationConfig": ("data", "validation"), "AnalysisTable": ("table",), "Analysis": ("analysis",),
    "PropensityConfig": ("analysis", "propensity"), "WeightsConfig": ("analysis", "weights"),
    "MatchingConfig": ("analysis", "matching"), "SurvivalConfig": ("analysis", "survival"),
    "SensitivityConfig": ("analysis", "sensitivity"), "RefutationConfig": ("analysis", "sensitivity", "refutation"),
    "PlasmodeConfig": ("analysis", "plasmode"), "EngineConfig": ("analysis", "engine"), "Output": ("output",), "Reporting": ("reporting",),
}


def _model_input(model: str, key: str, example: Any) -> dict[str, Any]:
    """The fixture of ``model`` with ``key`` set to ``example`` (and its companions), as YAML would give it."""
    data = copy.deepcopy(MINIMAL.get(model, {}))
    group = ONE_OF.get(model, set())
    if key in group:
        for other in group:
            data.pop(other, None)
        if model == "Criterion" and key not in _COMBOS:
            data["column"] = "age"
        if model == "Criterion" and key == "column":
            data["eq"] = 1
    data.update(COMPANIONS.get((model, key), lambda ex: {})(example))
    data[key] = example
    for k in [k for k, v in data.items() if v == {} and k in ("covariates", "analysis") and key == "sequential"]:
        del data[k]
    return _as_yaml_gives(data)


def _examples() -> list[tuple[str, str, Any]]:
    return [(m, k, ex) for m, k, p in PROPERTIES for ex in p.get("examples") or []]


EXAMPLES = _examples()
EXAMPLE_IDS = [f"{m}.{k}={json.dumps(ex)[:40]}" for m, k, ex in EXAMPLES]


# ------------------------------------------------------------------------------------------------ tests
def test_schema_walk_sees_every_model_and_key():
    """The walk covers the root and every model (the counts are those of issue 15, plus any key added since)."""
    assert set(DEFS) == set(MODELS) - {"StudyConfig"}
    assert len(PROPERTIES) >= 206
    assert {"Criterion", "DateRule", "ValidationConfig", "Reporting", "CloneCensorConfig"} <= set(DEFS)


@pytest.mark.parametrize(("model", "key", "prop"), PROPERTIES, ids=IDS)
def test_every_key_has_description_and_example(model, key, prop):
    desc = prop.get("description")
    assert isinstance(desc, str) and desc.strip(), f"{model}.{key}: no description in the JSON Schema"
    assert desc.strip()[-1] in ".)", f"{model}.{key}: the description should be whole sentences (got {desc!r})"
    examples = prop.get("examples")
    assert isinstance(examples, list) and examples, f"{model}.{key}: no examples in the JSON Schema"


@pytest.mark.parametrize(("model", "key", "example"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_conforms_to_its_json_schema(model, key, example):
    prop = SCHEMA["properties"][key] if model == "StudyConfig" else DEFS[model]["properties"][key]
    value = _as_yaml_gives(example)
    assert _conforms(value, prop, key) == []
    try:
        import jsonschema
    except ImportError:  # not a dependency: the small checker above covers the schema kinds pydantic writes
        return
    jsonschema.validate(value, {**prop, "$defs": DEFS})


@pytest.mark.parametrize(("model", "key", "example"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_is_accepted_by_its_model(model, key, example):
    cls = MODELS[model]
    obj = cls.model_validate(_model_input(model, key, example))
    assert getattr(obj, _field_name(cls, key)) is not None or example is None


@pytest.mark.parametrize(("model", "key", "example"), [e for e in EXAMPLES if e[0] in PATHS],
                         ids=[i for e, i in zip(EXAMPLES, EXAMPLE_IDS) if e[0] in PATHS])
def test_example_is_accepted_in_a_whole_config(model, key, example):
    """Sections at a fixed place: the example inside a whole config, so the cross-section rules run too."""
    raw = copy.deepcopy(BASE_CONFIG)
    if model == "ValidationConfig" or (model, key) == ("DataSource", "validation"):
        # record checks belong to registry configs: a protocol instead of the analysis table
        del raw["table"]
        raw["protocol"] = copy.deepcopy(MINIMAL["Protocol"])
    path = PATHS[model]
    if model == "StudyConfig":
        raw = _model_input("StudyConfig", key, example)
    else:
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
        section = copy.deepcopy(node.get(path[-1], MINIMAL.get(model, {})))
        section.update(COMPANIONS.get((model, key), lambda ex: {})(example))
        section[key] = example
        node[path[-1]] = section
    CONFIG_COMPANIONS.get((model, key), lambda raw, ex: None)(raw, example)
    cfg = config_from_dict(_as_yaml_gives(raw), source="schema example")
    got = cfg.model_dump(mode="json", by_alias=True)
    for part in path + (key,):
        got = got[part]
    assert _holds(got, _as_yaml_gives(example))


def _holds(got: Any, want: Any) -> bool:
    """``got`` (a dumped config value, defaults filled in) holds every value ``want`` gave."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _holds(got[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_holds, got, want))
    return got == want


def test_issue_15_descriptions_state_what_the_key_interacts_with():
    """Spot checks that descriptions carry the facts an epidemiologist needs (unit, default, related key)."""
    survival = DEFS["SurvivalConfig"]["properties"]
    assert "time_unit" in survival["landmarks"]["description"]
    assert "null: no RMST" in survival["horizon"]["description"]
    assert "first is the main one" in survival["estimands"]["description"]
    assert "analysis.matching" in DEFS["WeightsConfig"]["properties"]["method"]["description"]
    assert "Unset: 5" in DEFS["Output"]["properties"]["small_cell_threshold"]["description"]


def test_schema_command_prints_descriptions_and_examples():
    from gistcausal.cli import app

    r = CliRunner().invoke(app, ["schema"])
    assert r.exit_code == 0
    printed = json.loads(r.stdout)
    assert printed == _as_yaml_gives(SCHEMA)
    survival = printed["$defs"]["SurvivalConfig"]["properties"]["variance"]
    assert survival["description"].startswith("Standard errors of the adjusted estimates")
    assert survival["examples"] == ["bootstrap", "m_estimation_corrected"]
    assert printed["properties"]["seed"]["examples"] == [20201, 12345]
