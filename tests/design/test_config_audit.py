"""Audit of "accepted and ignored" config keys.

Every leaf key of the JSON Schema must be read somewhere: referenced by the code outside its declaration
(an attribute access such as ``cfg.analysis.weights.truncate``, an item ``["truncate"]`` or a ``getattr``
with its name), or listed in :data:`PROVEN_BY_BEHAVIOUR` with the test that shows its effect. A reference
is a weak proof (the value could still be dropped later); the behaviour tests named here are the strong
one, and more of them are a follow-up.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from gistcausal.design.config import config_json_schema

SRC = Path(__file__).resolve().parents[2] / "src" / "gistcausal"

#: key -> test proving its effect (keys read through a string table rather than an attribute)
PROVEN_BY_BEHAVIOUR = {
    "lt": "tests/design/test_cohort.py (evaluate: lt/le/gt/ge via getattr(crit, op))",
    "le": "tests/design/test_cohort.py",
    "gt": "tests/design/test_cohort.py::test_no_one_eligible",
    "ge": "tests/design/test_cohort.py (eligibility step 'adults': age ge 18)",
    "levels": "tests/design/test_config_audit.py::test_levels_set_reference_and_table_order",
}
_ALIASES = {"in": "in_", "all": "all_", "any": "any_", "not": "not_"}


def _leaf_keys() -> dict[str, set[str]]:
    schema = config_json_schema()
    defs = schema.get("$defs", {})
    keys: dict[str, set[str]] = {}

    def walk(node: dict, path: tuple, seen: frozenset) -> None:
        node = defs[node["$ref"].split("/")[-1]] if "$ref" in node else node
        for alt in node.get("anyOf", []) + node.get("allOf", []):
            walk(alt, path, seen)
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            walk(node["items"], path + ("[]",), seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + ("*",), seen)
        for k, v in (node.get("properties") or {}).items():
            if (node.get("title"), k) in seen:  # recursive criteria: each model once
                continue
            keys.setdefault(k, set()).add(".".join(path + (k,)))
            walk(v, path + (k,), seen | {(node.get("title"), k)})

    walk(schema, (), frozenset())
    return keys


def _referenced(key: str, texts: list[str]) -> bool:
    attr = _ALIASES.get(key, key)
    pat = re.compile(rf"\.{re.escape(attr)}\b|\[[\"']{re.escape(key)}[\"']\]|getattr\([^)]*[\"']{re.escape(attr)}[\"']")
    return any(pat.search(t) for t in texts)


LEAVES = _leaf_keys()


@pytest.mark.parametrize("key", sorted(LEAVES))
def test_every_config_key_is_used(key):
    texts = [p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")]
    assert _referenced(key, texts) or key in PROVEN_BY_BEHAVIOUR, (
        f"config key '{key}' ({', '.join(sorted(LEAVES[key])[:3])}) is accepted but never read: wire it or "
        "reject it")


def test_audit_sees_the_nested_keys():
    assert "analysis.survival.estimands" in LEAVES["estimands"]
    assert "covariates.*.levels" in LEAVES["levels"]
    assert "exclude_missing" not in LEAVES


def test_retired_exclude_missing_is_rejected():
    from gistcausal.design.config import config_from_dict
    from gistcausal.errors import ConfigError

    raw = {"name": "x", "table": {"treatment": {"column": "t", "arms": {"a": [1], "b": [0]}, "treated": "a"},
                                  "outcomes": {"o": {"label": "O", "time_col": "time", "event_col": "e"}},
                                  "exclude_missing": True}}
    with pytest.raises(ConfigError, match=re.escape("exclude_missing is not applied and no longer accepted")):
        config_from_dict(raw)


def test_levels_set_reference_and_table_order():
    """covariates.X.levels: a Categorical in that order, so the first level is the reference of the
    propensity design and Table 1 lists levels in that order; levels not in the data are dropped."""
    import numpy as np

    from gistcausal.analysis.iptw import covariate_design
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.config import config_from_dict

    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame({"t": rng.integers(0, 2, n), "time": rng.exponential(5, n) + 0.1, "e": rng.integers(0, 2, n),
                       "grade": rng.choice(["g1", "g2", "g3"], n)})
    raw = {"name": "x", "table": {"treatment": {"column": "t", "arms": {"a": [1], "b": [0]}, "treated": "a"},
                                  "outcomes": {"o": {"label": "O", "time_col": "time", "event_col": "e"}}},
           "covariates": {"grade": {"type": "categorical", "levels": ["g3", "g1", "g2", "g4"]}}}
    cfg = config_from_dict(raw)
    frame = build_cohort(cfg, df).frame
    assert list(frame["grade"].cat.categories) == ["g3", "g1", "g2"]
    assert list(covariate_design(cfg, frame).columns) == ["grade: g1", "grade: g2"]  # g3 is the reference
    assert frame["grade"].astype(str).tolist() == df["grade"].tolist()


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(covariates={"l": {"type": "continuous"}}),
     "'covariates' is not read by a sequential-trials config"),
    (lambda r: r.update(analysis={"survival": {"alpha": 0.1}}), "'analysis' is not read by a sequential-trials config"),
    (lambda r: r["sequential"].update(labels={"initiate": "Start"}),
     "sequential.labels needs exactly the keys initiate and no_initiation (got ['initiate'])"),
    (lambda r: r["data"].update(validation={"date_cols": ["x"]}),
     "data.validation (record checks) applies to registry configs with a 'protocol' section"),
])
def test_sections_a_sequential_config_does_not_read_are_refused(change, message):
    """Found by the schema-description pass: these were accepted and silently ignored."""
    import yaml

    from gistcausal.design.config import config_from_dict
    from gistcausal.errors import ConfigError

    raw = yaml.safe_load((SRC.parents[1] / "configs" / "sequential_demo.yaml").read_text(encoding="utf-8"))
    change(raw)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(raw)


@pytest.mark.parametrize("patch, message", [
    ({"covariates": {"g": {"type": "categorical", "spline_df": 3}}},
     "spline_df applies to continuous covariates (got type: categorical, spline_df: 3)"),
    ({"data": {"source": "csv", "path": "x.csv", "sheet": "Data"}}, "'sheet' is not read by source 'csv'"),
    ({"data": {"source": "csv", "path": "x.csv", "date_format": "%d/%m/%Y"}},
     "'date_format' applies to the columns listed under 'dates', and none are listed"),
])
def test_settings_that_would_be_ignored_are_refused(patch, message):
    from gistcausal.design.config import config_from_dict
    from gistcausal.errors import ConfigError

    raw = {"name": "x", "table": {"treatment": {"column": "t", "arms": {"a": [1], "b": [0]}, "treated": "a"},
                                  "outcomes": {"o": {"label": "O", "time_col": "time", "event_col": "e"}}}}
    raw.update(patch)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(raw)
