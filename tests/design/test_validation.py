"""Record-level validation and time-zero checks (issue 8).

The default synthetic registry must pass the default GIST rule set clean; corrupted copies must produce
each message exactly (pinned with ``re.escape``).
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import DataError, DataQualityWarning
from gistcausal.design.simulate import GIST_DATE_RULES, GIST_EVENT_COLS, GIST_VALIDATION, GIST_VOCABULARIES
from gistcausal.design.validation import (
    DateRule, ValidationConfig, check_time_zero, validate_records, validate_with_config,
)


@pytest.fixture
def registry(default_registry):
    """A fresh copy to corrupt."""
    return default_registry.copy()


def _validate(df, **kw):
    return validate_with_config(df, GIST_VALIDATION, id_col="patient_id", **kw)


def test_default_registry_passes_clean(default_registry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any DataQualityWarning fails the test
        rep = _validate(default_registry)
    assert rep.ok and rep.issues == () and rep.warnings == ()
    assert rep.n_rows == 480
    assert rep.summary() == "Record validation: 480 rows, 7 checks, no problems found."
    assert rep.to_frame().shape == (0, 5)


@pytest.mark.parametrize("seed", [1, 2])
def test_other_synthetic_registries_pass_clean(seed):
    from gistcausal.design.simulate import simulate_registry

    rep = _validate(simulate_registry(1500, seed=seed))
    assert rep.ok and not rep.issues


def test_default_rules_cover_the_schema():
    """Every date column of docs/registry_schema.md is in a rule or an event check."""
    cols = {c for r in GIST_DATE_RULES for c in (r.earlier_col, r.later_col)} | set(GIST_EVENT_COLS)
    assert set(GIST_VALIDATION.date_cols) <= cols | {"date_last_followup"}
    assert GIST_VOCABULARIES["second_line_regimen"] == ["sunitinib_37.5_continuous", "sunitinib_50_intermittent",
                                                       "imatinib_800", "other", "none"]


def test_duplicate_ids(registry):
    registry.loc[[3, 7], "patient_id"] = "DGR00001"
    msg = ("records: column 'patient_id' has 3 rows with duplicate patient ids. Registry "
           "records need one row per patient: deduplicate the extract (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")
    with pytest.raises(DataError, match=re.escape("record validation failed:\n  " + msg)):
        _validate(registry)


def test_missing_ids(registry):
    registry.loc[[4, 9], "patient_id"] = np.nan
    rep = _validate(registry, raise_errors=False)
    (issue,) = rep.issues
    assert issue.message == ("records: column 'patient_id' has 2 row(s) without a patient id. "
                             "Fill in the ids or drop these rows (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")


def test_progression_before_second_line_start(registry):
    rows = registry.index[registry["second_line_progression_date"].notna()][:4]
    registry.loc[rows, "second_line_progression_date"] = (registry.loc[rows, "second_line_start_date"]
                                                           - pd.Timedelta(days=10))
    msg = ("records: column 'second_line_progression_date' is before 'second_line_start_date' in 4 row(s). "
           "Correct the dates in the extract, or exclude these patients (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")
    with pytest.raises(DataError, match=re.escape(msg)):
        _validate(registry)
    rep = _validate(registry, raise_errors=False)
    assert rep.to_dict()["issues"] == [{"check": "date_order", "severity": "error",
                                        "column": "second_line_progression_date",
                                        "rule": "second_line_progression_date before second_line_start_date",
                                        "n_rows": 4}]


def test_death_before_diagnosis_and_second_line_before_first_line_end(registry):
    registry.loc[0, "date_of_death"] = registry.loc[0, "date_of_diagnosis"] - pd.Timedelta(days=1)
    registry.loc[0, "date_last_followup"] = registry.loc[0, "date_of_death"]
    i = int(registry.index[registry["second_line_start_date"].notna()][0])
    registry.loc[i, "second_line_start_date"] = registry.loc[i, "first_line_end_date"] - pd.Timedelta(days=5)
    with pytest.warns(DataQualityWarning):  # dates now after the moved last follow-up too
        rep = _validate(registry, raise_errors=False)
    msgs = [x.message for x in rep.issues]
    assert ("records: column 'second_line_start_date' is before 'first_line_end_date' in 1 row(s). Correct the "
            "dates in the extract, or exclude these patients (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).") in msgs
    assert ("records: column 'date_of_death' is before 'date_of_diagnosis' in 1 row(s). "
            "Correct the dates in the extract, or exclude these patients (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).") in msgs
    assert not any("DGR" in m for m in msgs)
    # a DataError lists all problems at once
    with pytest.raises(DataError, match=re.escape("record validation failed (")), \
            pytest.warns(DataQualityWarning):
        _validate(registry)


def test_strict_rule_rejects_equal_dates():
    df = pd.DataFrame({"id": ["a", "b"], "start": pd.to_datetime(["2020-01-01", "2020-01-01"]),
                       "stop": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    assert validate_records(df, id_col="id", date_rules=[("start", "stop")]).ok
    rep = validate_records(df, id_col="id", date_rules=[DateRule(earlier_col="start", later_col="stop",
                                                                 strict=True)], raise_errors=False)
    assert rep.issues[0].message == ("records: column 'stop' is not after 'start' in 1 row(s). Correct "
                                     "the dates in the extract, or exclude these patients (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")


def test_event_after_last_followup_is_a_warning_with_counts(registry):
    registry.loc[10, "date_of_death"] = registry.loc[10, "date_last_followup"] + pd.Timedelta(days=3)
    msg = ("records: column 'date_of_death' is after 'date_last_followup' (last follow-up) in 1 row(s). "
           "Update the last follow-up date, or correct the event date (list the records with `gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")
    with pytest.warns(DataQualityWarning, match=re.escape(msg)):
        rep = _validate(registry)
    assert rep.ok
    assert rep.warnings == (msg,)
    # reports hold counts only: no patient id anywhere in the dict, frame or summary
    blob = json.dumps(rep.to_dict()) + rep.to_frame().to_csv() + rep.summary()
    assert "DGR" not in blob


def test_unparseable_dates(registry):
    col = registry["first_line_start_date"].dt.strftime("%Y-%m-%d").astype(object)
    col[[5, 6]] = ["31-02-2015", "unknown"]
    col[7] = " "  # blank counts as missing, not as unparseable
    registry["first_line_start_date"] = col
    msg = ("records: column 'first_line_start_date' has 2 unparseable date(s). "
           "Use YYYY-MM-DD, or set `data: {date_format: '%d-%m-%Y'}`.")
    with pytest.raises(DataError, match=re.escape(msg)):
        _validate(registry)


def test_parsed_object_dates_are_ordered_too(registry):
    registry["first_line_end_date"] = registry["first_line_end_date"].dt.strftime("%Y-%m-%d")
    assert _validate(registry).ok
    registry.loc[0, "first_line_end_date"] = "2001-01-01"  # before diagnosis window
    rep = _validate(registry, raise_errors=False)
    assert [i.rule for i in rep.issues] == ["first_line_end_date before first_line_start_date"]


def test_codes_outside_vocabulary(registry):
    registry.loc[11, "mutation"] = "kit_exon_99"
    registry.loc[12, "mutation"] = "KIT exon 11"
    registry.loc[13, "mutation"] = np.nan  # missing is not a vocabulary problem
    msg = ("records: column 'mutation' has 2 value(s) outside the vocabulary (got 'KIT exon 11', 'kit_exon_99'; "
           "allowed: 'kit_exon_11', 'kit_exon_13', 'kit_exon_17', 'kit_exon_9', 'pdgfra_exon_14', "
           "'pdgfra_exon_18_d842v', 'pdgfra_exon_18_non_d842v', 'sdh', 'wt_kit_pdgfr_sdh', 'wt_kit_pdgfr', "
           "'unknown'). Recode the values, or add the codes to the vocabulary.")
    with pytest.raises(DataError, match=re.escape(msg)):
        _validate(registry)


def test_severity_override_turns_error_into_warning(registry):
    registry.loc[11, "sex"] = "m"
    with pytest.warns(DataQualityWarning, match=re.escape("records: column 'sex' has 1 value(s) outside")):
        rep = validate_with_config(registry, GIST_VALIDATION.model_copy(update={"severity": {"vocabulary": "warning"}}),
                                   id_col="patient_id")
    assert rep.ok and len(rep.warnings) == 1


def test_missing_rule_column_and_bad_severity(registry):
    with pytest.raises(DataError, match=re.escape("records: column 'date_of_relapse' (date_rules) not found. Fix "
                                                  "the rule's column name or the data.columns mapping.")):
        validate_records(registry, id_col="patient_id", date_rules=[("date_of_diagnosis", "date_of_relapse")])
    with pytest.raises(DataError, match=re.escape("validate_records: unknown check 'order' in `severity` "
                                                  "(got 'order'). Use one of missing_id, duplicate_id, ")):
        validate_records(registry, id_col="patient_id", severity={"order": "warning"})


def test_config_model_forbids_unknown_keys():
    with pytest.raises(ValueError, match="extra"):
        ValidationConfig.model_validate({"date_rule": []})
    cfg = ValidationConfig.model_validate({"date_rules": [{"earlier_col": "a", "later_col": "b"}],
                                           "severity": {"date_order": "warning"}})
    assert cfg.date_rules[0].later_col == "b"


def test_input_not_mutated(registry):
    before = registry.copy()
    registry.loc[11, "mutation"] = "x"
    snap = registry.copy()
    _validate(registry, raise_errors=False)
    pd.testing.assert_frame_equal(registry, snap)
    assert not before.equals(snap)


# ------------------------------------------------------------------------------------------- time zero
def test_time_zero_aligned_in_default_registry(default_registry):
    assert check_time_zero(default_registry, time_zero_col="second_line_start_date",
                           eligibility_date_col="first_line_end_date", treatment_start_col="second_line_start_date",
                           id_col="patient_id") == []


def test_time_zero_misalignments_are_counted():
    d = pd.to_datetime
    df = pd.DataFrame({
        "id": ["p1", "p2", "p3", "p4"],
        "elig": d(["2020-01-10", "2020-01-10", "2020-01-10", "2020-03-01"]),
        "trt": d(["2020-01-05", "2020-02-01", "2020-01-20", "2020-03-01"]),
        "t0": d(["2020-01-10", "2020-02-15", "2020-01-20", "2020-02-01"]),
    })
    with pytest.warns(DataQualityWarning):
        msgs = check_time_zero(df, time_zero_col="t0", eligibility_date_col="elig", treatment_start_col="trt",
                               id_col="id")
    assert msgs == [
        "records: 'trt' is before 'elig' for 1 patient(s): treatment started before eligibility "
        "was met (prevalent users). Define eligibility from information before treatment starts, or exclude "
        "these patients.",
        "records: time zero 't0' is after treatment start 'trt' for 2 patient(s): survival from "
        "treatment start to time zero is required for inclusion (immortal time). Set time zero at treatment "
        "start, or at eligibility with clone-censor-weight (gistcausal.stats.ccw).",
        "records: eligibility 'elig' is after time zero 't0' for 1 patient(s): follow-up starts "
        "before eligibility is met (eligibility uses future information). Set time zero at or after the date "
        "eligibility is met.",
    ]


def test_time_zero_needs_dates(default_registry):
    with pytest.raises(DataError, match=re.escape("check_time_zero: column 'sex' (treatment_start_col) must be a "
                                                  "date (got dtype object). Parse it first (data.dates).")):
        check_time_zero(default_registry, time_zero_col="second_line_start_date",
                        eligibility_date_col="first_line_end_date", treatment_start_col="sex", id_col="patient_id")
