"""Config validation: every bad input gets one clear message naming the file, YAML line, key and fix."""
from __future__ import annotations

import re
import warnings

import numpy as np
from pathlib import Path

import pytest

from gistcausal.design.config import config_json_schema, load_config
from gistcausal.errors import ConfigError

GOOD = """\
name: mini
data: {source: csv, path: registry.csv, dates: [start, death, last]}
protocol:
  eligibility:
    - label: adults
      include: {column: age, ge: 18}
  treatment: {column: drug, arms: {a: [A], b: [B]}, treated: a}
  time_zero: start
  outcomes:
    os: {label: OS, events: [death], censor: last}
covariates:
  age: {type: continuous}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_loads(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.name == "mini"
    assert cfg.treatment.control == "b"
    assert cfg.primary_outcome == "os"
    assert cfg.protocol.eligibility[0].include.describe() == "age ≥ 18.0"


def test_shipped_configs_validate(root):
    for p in sorted((root / "configs").glob("*.yaml")):
        assert load_config(p).name == p.stem


def test_unknown_key_names_line_and_key(tmp_path):
    p = write(tmp_path, GOOD.replace("  time_zero: start", "  time_zero: start\n  timezero: start"))
    with pytest.raises(ConfigError, match=re.escape(
            f"{p}:9: protocol.timezero: unknown key 'timezero'. Did you mean 'time_zero'? Rename the key to "
            "`time_zero:`.")):
        load_config(p)


def test_wrong_type_names_line_value_and_key(tmp_path):
    p = write(tmp_path, GOOD + "analysis:\n  survival: {landmarks: [6, -1]}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{p}:14: analysis.survival.landmarks: landmarks must be "
                                                    "positive times (got [6.0, -1.0]). Fix the value.")):
        load_config(p)


def test_malformed_yaml_points_at_line(tmp_path):
    p = write(tmp_path, GOOD.replace("  time_zero: start", "  time_zero: [start"))
    with pytest.raises(ConfigError, match=re.escape(f"{p}:9:")) as ei:
        load_config(p)
    assert "malformed YAML" in str(ei.value)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'nope.yaml'}: config file not found.")):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="the config file is empty"):
        load_config(write(tmp_path, ""))


def test_criterion_needs_exactly_one_comparison(tmp_path):
    p = write(tmp_path, GOOD.replace("{column: age, ge: 18}", "{column: age, ge: 18, lt: 90}"))
    with pytest.raises(ConfigError, match=re.escape(
            f"{p}:6: protocol.eligibility[0].include: give exactly one comparison for column 'age'")):
        load_config(p)


def test_treated_must_be_an_arm(tmp_path):
    p = write(tmp_path, GOOD.replace("treated: a}", "treated: c}"))
    with pytest.raises(ConfigError, match=re.escape("'treated' must name one of the arms (a, b); got 'c'")):
        load_config(p)


def test_exactly_one_of_protocol_or_table(tmp_path):
    p = write(tmp_path, "name: x\n")
    with pytest.raises(ConfigError, match=re.escape("give exactly one of 'protocol' (registry records) or 'table'")):
        load_config(p)


def test_truncate_percentiles_checked(tmp_path):
    p = write(tmp_path, GOOD + "analysis:\n  weights: {truncate: [99, 1]}\n")
    with pytest.raises(ConfigError, match=re.escape("truncate is a pair of percentiles 0 <= low < high <= 100 "
                                                    "(got [99.0, 1.0])")):
        load_config(p)


def test_several_problems_reported_together(tmp_path):
    p = write(tmp_path, GOOD.replace("name: mini", "name: mini\nfoo: 1\nbar: 2"))
    with pytest.raises(ConfigError, match=re.escape("invalid configuration (2 problems)")):
        load_config(p)


def test_json_schema_lists_top_level_keys():
    s = config_json_schema()
    assert {"name", "data", "protocol", "table", "covariates", "analysis", "output"} <= set(s["properties"])
    assert "source_path" not in s["properties"]


def test_issue_20_transform_log_is_honoured(tmp_path, default_config, default_cohort):
    """covariates.<name>.transform: log enters log(x) in the propensity model (the default config does so for
    tumour size and first-line months, as the synthetic registry generates them)."""
    from gistcausal.analysis.iptw import propensity_model, ps_design

    assert default_config.covariates["tumor_size_cm"].transform == "log"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the small-sample warning of the 110-patient cohort
        model, X = ps_design(default_config, default_cohort.frame)
    assert "log(tumor_size_cm)" in model.result_.description
    assert "log(first_line_months)" in model.result_.description
    j = list(model.result_.coefficients["term"]).index("log(tumor_size_cm)")
    assert X[:, j] == pytest.approx(np.log(default_cohort.frame["tumor_size_cm"].to_numpy(float)))
    cfg = load_config(write(tmp_path, GOOD.replace("age: {type: continuous}",
                                                   "age: {type: continuous, transform: log}")))
    assert propensity_model(cfg).splines == {"age": {"kind": "log"}}
    doc = config_json_schema()["$defs"]["Covariate"]["properties"]["transform"]
    assert "log" in doc["description"] and doc["examples"] == ["log"]


def test_issue_20_transform_needs_a_continuous_covariate_without_spline(tmp_path):
    text = GOOD.replace("age: {type: continuous}", "age: {type: continuous, spline_df: 3, transform: log}")
    with pytest.raises(ConfigError, match=re.escape("transform: log applies to a continuous covariate without "
                                                    "spline_df (got type: continuous, spline_df: 3); remove one "
                                                    "of them")):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("name, holds", [("treatment", "the 0/1 treatment indicator"),
                                         ("arm", "the arm of each patient"),
                                         ("os_time", "the time of outcome 'os'"),
                                         ("os_event", "the event of outcome 'os'")])
def test_a_covariate_named_like_a_column_of_the_analysis_table_is_rejected(tmp_path, name, holds):
    """The analysis table holds arm, treatment and <outcome>_time/_event: a covariate of one of those names had
    its values replaced by them (a covariate `treatment` became the arm indicator) with a confusing level error
    or none at all. Rejected at load, with its YAML line and the rename as the fix."""
    text = GOOD + f"  {name}: {{type: continuous}}\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    line = text.splitlines().index(f"  {name}: {{type: continuous}}") + 1
    assert str(err.value) == (
        f"{tmp_path / 'study.yaml'}:{line}: covariates.{name}: the name '{name}' is the analysis table's column for "
        f"{holds} (got covariate '{name}'), so its values would be replaced. Rename the data column as it is read, "
        f"`data: {{columns: {{{name}: {name}_1}}}}`, and use the new name under covariates: `{name}_1: {{...}}`.")
    # the same names are fine for a covariate of another outcome's name or as the treatment column itself
    ok = GOOD.replace("column: drug", "column: treatment") + "  pfs_time: {type: continuous}\n"
    assert "pfs_time" in load_config(write(tmp_path, ok)).covariates


def test_primary_outcome_without_a_time_to_event_outcome_is_the_first_outcome(tmp_path):
    """A table whose only outcome is competing (R's pbc: status 1 transplant, 2 death) ended `validate` and `run`
    in a StopIteration traceback: the default primary outcome looked for a time-to-event outcome only."""
    text = """\
name: cr
data: {source: csv, path: d.csv}
table:
  treatment: {column: trt, arms: {a: [1], b: [2]}, treated: a}
  outcomes:
    death: {label: Death, type: competing, time_col: time, event_col: status, causes: {1: transplant, 2: death}}
    response: {label: Response, type: binary, value_col: resp}
covariates:
  age: {type: continuous}
"""
    cfg = load_config(write(tmp_path, text))
    assert cfg.primary_outcome == "death"
    cfg = load_config(write(tmp_path, text.replace("    death:", "    zz:").replace("    response:", "    os: {label: OS, "
                                                   "time_col: time, event_col: dead}\n    response:")))
    assert cfg.primary_outcome == "os"
