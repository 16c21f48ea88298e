"""Tests for gistcausal.analysis.strategies: protocol.strategies (config, registry dates) -> clone-censor-weight."""
from __future__ import annotations

import re

import pytest

from gistcausal.analysis.strategies import ccw_table, clone_censor_from_config
from gistcausal.design.config import CloneCensorConfig
from gistcausal.errors import ConfigError
from gistcausal.stats.ccw import strategy_follow_up

COLS = dict(time_col="time", event_col="event", treatment_col="treatment", treatment_time_col="treatment_time")


@pytest.fixture(scope="module")
def second_line(default_registry):
    reg = default_registry
    return reg[(reg["first_line_agent"] == "imatinib_400") & (reg["first_line_end_reason"] == "progression")]


@pytest.fixture(scope="module")
def strategies_config():
    return CloneCensorConfig.model_validate({
        "time_zero": "first_line_end_date", "treatment_column": "second_line_regimen",
        "treatment_date": "second_line_start_date", "grace": 1.0, "events": ["date_of_death"],
        "censor": "date_last_followup", "covariates": ["mitotic_count", "age_at_diagnosis"],
        "strategies": {"sunitinib": ["sunitinib_37.5_continuous", "sunitinib_50_intermittent"],
                       "imatinib_800": ["imatinib_800"]},
        "landmarks": [12.0], "horizon": 24.0, "n_bootstrap": 10})


def test_config_and_registry_bridge(second_line, strategies_config):
    reg, cfg = second_line, strategies_config
    tab = ccw_table(reg, cfg)
    assert len(tab) == len(reg) and (tab["time"] >= 0).all()
    started = tab["treatment_time"].notna()
    assert started.sum() == reg["second_line_start_date"].notna().sum()
    res = clone_censor_from_config(reg, cfg, random_state=1)
    assert res.strategies == ("sunitinib", "imatinib_800") and res.n == len(reg)
    with pytest.raises(ValueError, match="exactly two strategies"):
        CloneCensorConfig.model_validate({**cfg.model_dump(), "strategies": {"a": ["x"]}})
    with pytest.raises(ValueError, match="extra"):
        CloneCensorConfig.model_validate({**cfg.model_dump(), "grace_period": 2})


def _end(reg, cfg):
    last = strategy_follow_up(ccw_table(reg, cfg), **COLS, strategies=cfg.strategies, grace=cfg.grace)
    return min(last.items(), key=lambda kv: kv[1])


def test_issue_14_negative_landmark_is_refused(second_line, strategies_config):
    """`landmarks: [-6, 12]` used to report S(-6) = 1 with CI [1, 1]."""
    cfg = strategies_config.model_copy(update={"landmarks": [-6.0, 12.0]})
    arm, end = _end(second_line, cfg)
    msg = (f"protocol.strategies.landmarks: landmarks must be > 0 and within follow-up (strategy '{arm}' is "
           f"followed up to {end:g} months) (got -6). Set `landmarks: [12]` under protocol.strategies.")
    with pytest.raises(ConfigError, match=re.escape(msg) + "$"):
        clone_censor_from_config(second_line, cfg, random_state=1)


def test_issue_14_landmark_beyond_follow_up_is_refused(second_line, strategies_config):
    arm, end = _end(second_line, strategies_config)
    cfg = strategies_config.model_copy(update={"landmarks": [12.0, end + 5]})
    msg = (f"protocol.strategies.landmarks: landmarks must be > 0 and within follow-up (strategy '{arm}' is "
           f"followed up to {end:g} months) (got {end + 5:g}). Set `landmarks: [12]` under protocol.strategies.")
    with pytest.raises(ConfigError, match=re.escape(msg) + "$"):
        clone_censor_from_config(second_line, cfg, random_state=1)


def test_issue_14_horizon_beyond_follow_up_is_refused_not_clamped(second_line, strategies_config):
    """The horizon used to be clamped with min(), so the RMST was reported at another horizon than configured."""
    arm, end = _end(second_line, strategies_config)
    cfg = strategies_config.model_copy(update={"horizon": end + 10})
    msg = (f"protocol.strategies.horizon: the RMST horizon must be > 0 and within follow-up (strategy '{arm}' is "
           f"followed up to {end:g} months) (got {end + 10:g}). Set `horizon: {int(end * 10) / 10:g}` (or less) "
           "under protocol.strategies.")
    with pytest.raises(ConfigError, match=re.escape(msg) + "$"):
        clone_censor_from_config(second_line, cfg, random_state=1)
    res = clone_censor_from_config(second_line, strategies_config, random_state=1)
    assert res.get("rmst_diff").time == strategies_config.horizon
