"""Cohort construction from registry records: eligibility order and counts, arms, time scales, bad records."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import config_from_dict
from gistcausal.errors import CohortError, DataError, DataQualityWarning

BASE = {
    "name": "mini",
    "data": {"source": "csv", "path": "x.csv", "id_col": "pid"},
    "protocol": {
        "derived": {"first_line_months": {"months_between": ["start1", "end1"]},
                    "grp": {"recode": {"column": "mut", "map": {"k11": ["k11"]}, "other": "other"}}},
        "eligibility": [
            {"label": "adults", "include": {"column": "age", "ge": 18}},
            {"label": "exon 9", "exclude": {"column": "mut", "in": ["k9"]}},
            {"label": "no 2nd line", "exclude": {"column": "start2", "missing": True}},
        ],
        "treatment": {"column": "drug", "arms": {"sun": ["S"], "ima": ["I"]}, "treated": "sun"},
        "time_zero": "start2",
        "outcomes": {"pfs": {"label": "PFS", "events": ["prog", "death"], "censor": "last"}},
    },
    "covariates": {"age": {"type": "continuous"}, "grp": {"type": "categorical"}},
}


def records() -> pd.DataFrame:
    d = pd.to_datetime
    return pd.DataFrame({
        "pid": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
        "age": [50, 17, 60, 70, 40, 55, 65],
        "mut": ["k11", "k11", "k9", "k13", "k11", "k11", "k13"],
        "drug": ["S", "S", "I", "I", "S", "I", "X"],
        "start1": d(["2010-01-01"] * 7),
        "end1": d(["2011-01-01"] * 7),
        "start2": d(["2011-01-01", "2011-01-01", "2011-01-01", "2011-02-01", "2011-03-01", None, "2011-01-01"]),
        "prog": d(["2011-07-01", None, None, None, "2011-04-01", None, None]),
        "death": d([None, None, None, "2012-02-01", "2011-05-01", None, None]),
        "last": d(["2013-01-01", "2012-01-01", "2012-01-01", "2012-02-01", "2011-05-01", "2012-01-01", "2012-01-01"]),
    })


def cfg(**changes):
    raw = {**BASE, **changes}
    return config_from_dict(raw)


def test_flow_counts_in_configured_order():
    c = build_cohort(cfg(), records())
    steps = [(s.label, s.n_before, s.n_removed, s.n_after) for s in c.flow.steps]
    assert steps == [("adults", 7, 1, 6), ("exon 9", 6, 1, 5), ("no 2nd line", 5, 1, 4),
                     ("Not in a compared strategy", 4, 1, 3)]
    assert dict(c.flow.arms) == {"sun": 2, "ima": 1}
    assert c.flow.n_start == 7 and c.flow.n_final == 3


def test_outcome_times_events_and_derived_columns():
    c = build_cohort(cfg(), records())
    f = c.frame
    # p1: progression 2011-07-01 after start 2011-01-01 -> 181 days; p4: death 366 days after 2011-02-01
    # (2012 is a leap year: 2011-02-01 -> 2012-02-01 = 365 days); p5: progression 31 days before death.
    assert f["pfs_time"].tolist() == pytest.approx([181 / 30.4375, 365 / 30.4375, 31 / 30.4375])
    assert f["pfs_event"].tolist() == [1, 1, 1]
    assert f["treatment"].tolist() == [1, 0, 1]
    assert f["grp"].tolist() == ["k11", "other", "k11"]
    assert "pid" not in f.columns  # ids stay out of the analysis frame


def test_input_not_modified():
    r = records()
    before = r.copy()
    build_cohort(cfg(), r)
    pd.testing.assert_frame_equal(r, before)


def test_missing_column_names_key_and_fix():
    r = records().drop(columns=["prog"])
    with pytest.raises(DataError, match=re.escape("mini: column 'prog' (protocol.outcomes.pfs.events) not found.")):
        build_cohort(cfg(), r)


def test_mistyped_date_column():
    r = records().assign(last=lambda d: d["last"].astype(str))
    with pytest.raises(DataError, match=re.escape("column 'last' (protocol.outcomes.pfs.censor) must be a date "
                                                  "(got dtype object); list it under data.dates")):
        build_cohort(cfg(), r)


def test_negative_times_are_an_error_with_count_and_fix():
    r = records()
    r.loc[0, "prog"] = pd.Timestamp("2010-06-01")  # progression before time zero
    with pytest.raises(DataError, match=re.escape(
            "mini: outcome 'pfs': end of follow-up is before 'start2' for 1 patient(s) (got negative times). Fix "
            "the dates, or exclude these patients with an eligibility step, e.g. `exclude: {column: last, "
            "before_column: start2}`.")) as info:
        build_cohort(cfg(), r)
    assert "p1" not in str(info.value)


def test_empty_arm_is_a_cohort_error():
    r = records()
    r.loc[3, "drug"] = "S"  # the only imatinib patient left becomes sunitinib
    with pytest.raises(CohortError, match=re.escape("mini: arm 'ima' is empty after eligibility")):
        build_cohort(cfg(), r)


def test_no_one_eligible():
    raw = dict(BASE)
    raw["protocol"] = {**BASE["protocol"], "eligibility": [{"label": "old", "include": {"column": "age", "gt": 100}}]}
    with pytest.raises(CohortError, match=re.escape("mini: protocol.eligibility leaves no patients (steps: old: 0)")):
        build_cohort(config_from_dict(raw), records())


def test_event_after_last_followup_warns():
    r = records()
    r.loc[0, "last"] = pd.Timestamp("2011-03-01")
    with pytest.warns(DataQualityWarning, match=re.escape("1 event date(s) after 'last' (last follow-up); the event date is used.")):
        build_cohort(cfg(), r)


def test_missing_covariate_rule():
    r = records()
    r.loc[0, "age"] = np.nan  # p1 is then not eligible (missing never satisfies age >= 18)
    c = build_cohort(cfg(), r)
    assert c.flow.steps[0].n_removed == 2


def test_complete_case_adds_flow_step():
    raw = dict(BASE)
    raw["covariates"] = {"age": {"type": "continuous"}, "size": {"type": "continuous", "missing": "complete_case"}}
    r = records().assign(size=[np.nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    c = build_cohort(config_from_dict(raw), r)
    assert c.flow.steps[-1].label == "Missing size (complete case)"
    assert c.flow.steps[-1].n_removed == 1
    raw["covariates"]["size"]["missing"] = "error"
    with pytest.raises(DataError, match=re.escape("mini: column 'size' has 1 missing value(s) in the cohort. Set "
                                                  "covariates.size.missing to 'complete_case' or 'impute'.")):
        build_cohort(config_from_dict(raw), r)


def test_table_config_gbsg2(root):
    from gistcausal.design.config import load_config
    from gistcausal.design.data import load_data

    c = load_config(root / "configs" / "gbsg2_hormone.yaml")
    co = build_cohort(c, load_data(c))
    assert dict(co.flow.arms) == {"hormone": 246, "no_hormone": 440}
    assert co.outcome("rfs").n_events == 299  # GBSG2: 299 recurrences or deaths (Schumacher et al. 1994)


def _filter_at_every_step(steps, df):
    """The plain reading of an eligibility cascade: filter the whole frame after each step."""
    from gistcausal.design.cohort import evaluate

    counts = []
    for step in steps:
        crit = step.include or step.exclude
        hit = evaluate(crit, df)
        n0 = len(df)
        df = df.loc[hit if step.include is not None else ~hit].reset_index(drop=True)
        counts.append((n0, n0 - len(df), len(df)))
    return df, counts


def test_eligibility_cascade_equals_filtering_the_frame_at_every_step():
    from gistcausal.design.cohort import apply_eligibility
    from gistcausal.design.config import EligibilityStep

    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({
        "age": np.where(rng.random(n) < 0.05, np.nan, rng.uniform(10, 90, n)),
        "stage": rng.choice(["local", "metastatic", None], n),
        "start": pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), "D"),
        "end": pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), "D"),
        "code": rng.integers(0, 5, n),
    })
    df.loc[rng.random(n) < 0.1, "end"] = pd.NaT
    steps = [EligibilityStep.model_validate(s) for s in (
        {"label": "adults", "include": {"column": "age", "ge": 18}},
        {"label": "stage", "exclude": {"any": [{"column": "stage", "missing": True},
                                               {"column": "stage", "in": ["local"]}]}},
        {"label": "order", "include": {"column": "start", "before_column": "end"}},
        {"label": "codes", "exclude": {"not": {"column": "code", "in": [1, 2, 3]}}},
        {"label": "none left", "include": {"all": []}},
    )]
    got, flow = apply_eligibility(steps, df)
    want, counts = _filter_at_every_step(steps, df)
    assert 0 < len(got) < n
    pd.testing.assert_frame_equal(got, want)
    assert [(s.n_before, s.n_removed, s.n_after) for s in flow] == counts
