"""Clone-censor-weight emulation of a config's ``protocol.strategies`` section.

The statistics (:mod:`gistcausal.stats.ccw`) take a per-patient table with ``*_col`` names; this module
builds that table from the registry's dates as the config describes, checks the config's landmarks and
horizon against each strategy's follow-up (naming the YAML key), and calls
:func:`gistcausal.stats.ccw.clone_censor_weight`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.design.config import CloneCensorConfig
from gistcausal.design.data import DAYS_PER_MONTH
from gistcausal.errors import ConfigError, DataError
from gistcausal.stats.ccw import CCWResult, clone_censor_weight, strategy_follow_up

_COLS = dict(time_col="time", event_col="event", treatment_col="treatment", treatment_time_col="treatment_time")
_KEY = "protocol.strategies"


def ccw_table(records: pd.DataFrame, config: CloneCensorConfig, *, time_unit: str = "months") -> pd.DataFrame:
    """Per-patient CCW input from registry dates (times from ``config.time_zero`` in ``time_unit``).

    Returns a new frame with ``time``, ``event``, ``treatment``, ``treatment_time`` and the covariates, for
    patients with a recorded time zero. The outcome is the earliest of ``config.events``, censored at
    ``config.censor``; a treatment started after the end of follow-up is treated as not started.
    """
    where = "ccw_table"
    unit = {"days": 1.0, "weeks": 7.0, "months": DAYS_PER_MONTH, "years": 365.25}
    if time_unit not in unit:
        raise DataError(f"{where}: `time_unit` must be one of {', '.join(unit)} (got {time_unit!r}). Use "
                        "the protocol's time unit.")
    cols = [config.time_zero, config.treatment_column, config.treatment_date, config.censor, *config.events,
            *config.covariates]
    missing = [c for c in dict.fromkeys(cols) if c not in records.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} (protocol.strategies) not found. Fix the config keys.")
    df = records.loc[records[config.time_zero].notna()]
    t0 = df[config.time_zero]
    ev = df[config.events].min(axis=1, skipna=True)
    end = ev.where(ev.notna(), df[config.censor])

    def span(x: pd.Series) -> np.ndarray:
        return (x - t0).dt.total_seconds().to_numpy() / 86400.0 / unit[time_unit]

    T = span(end)
    u = span(df[config.treatment_date])
    u = np.where(np.isfinite(u) & (u <= T), u, np.nan)
    out = pd.DataFrame({"time": T, "event": ev.notna().to_numpy().astype(int),
                        "treatment": df[config.treatment_column].astype(object).to_numpy(), "treatment_time": u})
    for c in config.covariates:
        out[c] = df[c].to_numpy()
    return out


def _yaml_list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def check_strategy_times(config: CloneCensorConfig, follow_up: dict[str, float], *, time_unit: str) -> None:
    """The config's landmarks and horizon must lie in (0, the earliest strategy's last follow-up] (issue 14).

    The same rule as the main analysis: a landmark at or before time zero would report S = 1 with a
    degenerate interval, and a landmark or horizon past the end of a strategy's curve would be an
    extrapolation (the horizon used to be silently clamped, reporting the RMST at another time).

    Raises
    ------
    ConfigError
        Naming ``protocol.strategies.landmarks`` or ``.horizon``, the value, the strategy with the shortest
        follow-up and its last follow-up time, and a YAML fix.
    """
    arm, end = min(follow_up.items(), key=lambda kv: kv[1])
    span = f"strategy '{arm}' is followed up to {end:g} {time_unit}"
    bad = [x for x in config.landmarks if not (math.isfinite(x) and 0 < x <= end)]
    if bad:
        keep = [x for x in config.landmarks if x not in bad] or [round(end / 2, 1)]
        raise ConfigError(f"{_KEY}.landmarks: landmarks must be > 0 and within follow-up ({span}) (got "
                          f"{', '.join(f'{x:g}' for x in bad)}). Set `landmarks: {_yaml_list(keep)}` under "
                          f"{_KEY}.")
    h = config.horizon
    if h is not None and not (math.isfinite(h) and 0 < h <= end):
        raise ConfigError(f"{_KEY}.horizon: the RMST horizon must be > 0 and within follow-up ({span}) (got "
                          f"{h:g}). Set `horizon: {math.floor(end * 10) / 10:g}` (or less) under {_KEY}.")


def clone_censor_from_config(records: pd.DataFrame, config: CloneCensorConfig, *, time_unit: str = "months",
                             random_state: int | None = None, n_jobs: int = 1, engine: Any = None) -> CCWResult:
    """Run :func:`gistcausal.stats.ccw.clone_censor_weight` as a config's ``protocol.strategies`` describes.

    Parameters
    ----------
    records : DataFrame
        Registry records eligible at ``config.time_zero`` (dates as datetimes).
    config : CloneCensorConfig
    time_unit : {"days", "weeks", "months", "years"}, default="months"
        The protocol's time unit (of ``grace``, ``landmarks`` and ``horizon``).
    random_state : int, optional
        Seed of the bootstrap.
    n_jobs : int, default=1
    engine : gistcausal.engine.Engine or Executor, optional
        Where the bootstrap replicates run (``gistcausal run`` passes ``analysis.engine``); when given,
        ``n_jobs`` is not used.

    Returns
    -------
    CCWResult

    Raises
    ------
    ConfigError
        Landmarks or horizon outside follow-up (see :func:`check_strategy_times`).
    DataError, ModelFitError
        As :func:`gistcausal.stats.ccw.clone_censor_weight`.
    """
    return clone_censor_from_table(ccw_table(records, config, time_unit=time_unit), config, time_unit=time_unit,
                                   random_state=random_state, n_jobs=n_jobs, engine=engine)


def clone_censor_from_table(tab: pd.DataFrame, config: CloneCensorConfig, *, time_unit: str = "months",
                            random_state: int | None = None, n_jobs: int = 1, engine: Any = None) -> CCWResult:
    """:func:`clone_censor_from_config` from its :func:`ccw_table` (the per-patient table, small and numeric, is
    what ``gistcausal run`` sends to the worker that runs the emulation beside the main analysis)."""
    follow_up = strategy_follow_up(tab, **_COLS, strategies=config.strategies, grace=config.grace)
    check_strategy_times(config, follow_up, time_unit=time_unit)
    return clone_censor_weight(tab, **_COLS, strategies=config.strategies, grace=config.grace,
                               covariates=config.covariates, landmarks=config.landmarks, horizon=config.horizon,
                               n_bootstrap=config.n_bootstrap, alpha=config.alpha, random_state=random_state,
                               n_jobs=n_jobs, outcome=config.outcome, engine=engine)


__all__ = ["ccw_table", "check_strategy_times", "clone_censor_from_config", "clone_censor_from_table"]
