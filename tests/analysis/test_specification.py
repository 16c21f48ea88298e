"""Specification grid and the sensitivity step of the default run."""
from __future__ import annotations

import math

import numpy as np

import pytest

from gistcausal.errors import SeparationError
from gistcausal.analysis.specification import Specification, specification_grid


def test_grid_main_row_equals_the_main_estimate(default_results):
    grid = default_results.sensitivity["specification_grid"].to_frame()
    main = grid[grid["group"] == "main"].iloc[0]
    hr = [e for e in default_results.estimates if e.outcome == "pfs" and e.measure == "hr" and e.method == "iptw"
          and e.estimand == "ATE"][0]
    assert main["value"] == pytest.approx(hr.value, abs=1e-12)
    assert main["ci_low"] == pytest.approx(hr.ci_low, abs=1e-12)
    ref = grid[grid["group"] == "reference"].iloc[0]
    un = [e for e in default_results.estimates if e.outcome == "pfs" and e.measure == "hr"
          and e.method == "unadjusted"][0]
    assert ref["value"] == pytest.approx(un.value, abs=1e-12)
    assert {"propensity model", "estimand", "weights", "missing data"} <= set(grid["group"])


def test_grid_keeps_failed_specifications_with_reason(default_config, default_cohort, monkeypatch):
    import gistcausal.analysis.specification as pl

    real = pl.fit_propensity

    def fake(cfg, frame, **kw):
        if kw.get("spline_all"):
            raise SeparationError("PropensityModel.fit: covariate 'x' separates the treatment arms (got 3). Use firth.")
        return real(cfg, frame, **kw)

    monkeypatch.setattr(pl, "fit_propensity", fake)
    specs = [Specification("main", "Main", "ATE"), Specification("propensity model", "splines", "ATE", spline_all=True)]
    g = specification_grid(default_config, default_cohort.frame, outcome="pfs", specifications=specs)
    df = g.to_frame()
    assert len(df) == 3  # unadjusted reference + two specifications
    bad = df[df["specification"] == "splines"].iloc[0]
    assert math.isnan(bad["value"])
    assert bad["note"].startswith("not fitted: PropensityModel.fit: covariate 'x' separates")
    assert "1 specification(s) could not be fitted" in g.summary()


def test_evalue_of_the_main_hr_is_the_closed_form(default_results):
    """VanderWeele (2020) common-outcome conversion for HR < 1, then E = RR + sqrt(RR (RR - 1))."""
    hr = [e for e in default_results.estimates if e.outcome == "pfs" and e.measure == "hr" and e.method == "iptw"
          and e.estimand == "ATE"][0].value
    rr = (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
    rr = 1 / rr
    expected = rr + math.sqrt(rr * (rr - 1))
    ev = default_results.sensitivity["evalues"]
    got = ev[ev["measure"] == "hr"]["evalue"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert "common outcome" in ev[ev["measure"] == "hr"]["conversion"].iloc[0]  # PFS events ~90%


def test_refutation_and_tipping_present(default_results, default_figures):
    s = default_results.sensitivity
    assert set(s["refutation"].to_frame()["refuter"]) == {"placebo_treatment", "random_common_cause", "data_subset",
                                                          "bootstrap", "add_unobserved_common_cause"}
    grid = s["tipping_grid"]
    hr = [e for e in default_results.estimates if e.outcome == "pfs" and e.measure == "hr" and e.method == "iptw"
          and e.estimand == "ATE"][0].value
    row = grid[(grid["p_treated"] == 0.3) & (grid["p_control"] == 0.1) & (grid["gamma"] == 2.0)].iloc[0]
    # Lin, Psaty & Kronmal (1998): HR_adj = HR / ((gamma p1 + 1 - p1) / (gamma p0 + 1 - p0))
    assert row["hr_adj"] == pytest.approx(hr / ((2 * 0.3 + 0.7) / (2 * 0.1 + 0.9)), rel=1e-12)
    assert {"bias_plot", "tipping", "specification_grid", "causal_graph"} <= set(default_figures)


def test_negative_control_outcome_runs_the_same_pipeline(default_config, default_cohort):
    """analysis.sensitivity.negative_control: the named outcome analysed exactly like the main one."""
    from gistcausal.design.config import config_from_dict
    from gistcausal.analysis.iptw import causal_fit
    from gistcausal.pipeline import run

    raw = default_config.model_dump(by_alias=True, exclude={"source_path"})
    raw["analysis"]["sensitivity"] = {"evalues": False, "tipping_point": False, "specification_grid": False,
                                      "refutation": {"enabled": False}, "negative_control": "os_from_diagnosis"}
    raw["protocol"]["strategies"] = None
    r = run(config_from_dict(raw))
    nc = r.sensitivity["negative_control"]
    direct = [e for e in causal_fit(default_config, default_cohort.frame, outcome="os_from_diagnosis",
                                    estimand="ATE").estimates if e.measure == "hr"][0]
    row = nc[nc["measure"] == "hr"].iloc[0]
    assert row["outcome"] == "os_from_diagnosis" and row["value"] == pytest.approx(direct.value, rel=1e-12)


def test_negative_control_must_be_an_outcome(default_config):
    import re

    from gistcausal.design.config import config_from_dict
    from gistcausal.errors import ConfigError

    raw = default_config.model_dump(by_alias=True, exclude={"source_path"})
    raw["analysis"]["sensitivity"]["negative_control"] = "nope"
    with pytest.raises(ConfigError, match=re.escape("analysis.sensitivity.negative_control 'nope' is not an outcome")):
        config_from_dict(raw)


def test_flexible_splines_drop_tied_knots_and_the_grid_fits(default_config, default_cohort):
    """A covariate with most values tied (a count that is mostly 0) gets only the distinct quantile knots inside
    its range; with none left it stays linear. Before, its repeated knots made the spline specification raise
    inside scipy and lost the whole sensitivity step."""
    from gistcausal.analysis.iptw import flexible_splines

    f = default_cohort.frame.copy()
    cont = [n for n, c in default_config.covariates.items() if c.type == "continuous" and c.in_propensity]
    assert cont
    n = len(f)
    f[cont[0]] = np.where(np.arange(n) % 4 == 0, np.arange(n) % 9, 0).astype(float)  # 75% zeros
    sp = flexible_splines(default_config, f)
    assert cont[0] not in sp  # tertiles are 0 and 0: no interior knot left -> linear
    for name, spec in sp.items():
        x = f[name].to_numpy(float)
        k = np.asarray(spec["knots"])
        assert np.all(np.diff(k) > 0) and k.min() > x.min() and k.max() < x.max()
    if len(cont) > 1:  # an ordinary continuous covariate keeps R's two tertile knots
        x = f[cont[1]].to_numpy(float)
        assert sp[cont[1]]["knots"] == pytest.approx(list(np.quantile(x, [1 / 3, 2 / 3])))
    g = specification_grid(default_config, f, outcome="pfs",
                           specifications=[Specification("propensity model", "splines", "ATE", spline_all=True)])
    row = g.to_frame().iloc[1]
    assert math.isfinite(row["value"]), row["note"]


@pytest.mark.parametrize("kind, column, measure", [("binary", "resp", "risk_diff"), ("continuous", "score", "mean_diff")])
def test_binary_and_continuous_primary_outcomes_get_their_grid(tmp_path, kind, column, measure):
    """The specification grid of a binary/continuous primary outcome is on its risk/mean difference: the main row
    equals the run's own IPTW estimate; the hazard-ratio-only sensitivity parts are listed as not applicable."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["table"](tmp_path), (("table.outcomes.other", {"label": "Other", "type": kind,
                                                                    "value_col": column}),
                                          ("analysis.primary_outcome", "other"),
                                          ("analysis.sensitivity.specification_grid", True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    grid = res.sensitivity["specification_grid"]
    assert grid.measure == measure
    df = grid.to_frame()
    main = df[df["group"] == "main"].iloc[0]
    e = next(e for e in res.estimates if e.outcome == "other" and e.measure == measure and e.method == "iptw")
    assert main["value"] == pytest.approx(e.value, abs=1e-12)
    assert (df["note"].str.startswith("not fitted")).sum() == 0
    skipped = set(res.sensitivity["not_applicable"]["analysis"])
    assert skipped == {"tipping point"}  # refutation is off in this base; E-values are computed
    ev = res.sensitivity["evalues"].set_index("measure")
    if kind == "binary":  # closed form for a risk ratio above 1 (VanderWeele & Ding 2017): RR + sqrt(RR(RR - 1))
        rr = next(e for e in res.estimates if e.outcome == "other" and e.measure == "risk_ratio" and e.method == "iptw")
        assert rr.value > 1
        assert ev.loc["risk_ratio", "evalue"] == pytest.approx(rr.value + (rr.value * (rr.value - 1)) ** 0.5)
        assert {"risk_ratio", "odds_ratio", "risk_diff"} <= set(ev.index)
    else:  # SMD route: RR = exp(0.91 d), d = difference / pooled SD
        import numpy as np

        y, a = res_frame(tmp_path)
        sd = ((np.var(y[a == 1], ddof=1) + np.var(y[a == 0], ddof=1)) / 2) ** 0.5
        d = abs(e.value) / sd
        rr = np.exp(0.91 * d)
        assert ev.loc["mean_diff", "evalue"] == pytest.approx(rr + (rr * (rr - 1)) ** 0.5, rel=1e-9)


def res_frame(tmp_path):
    """The continuous outcome and treatment of the walk's table, as the cohort keeps them (complete cases for er)."""
    import pandas as pd

    df = pd.read_csv(tmp_path / "table.csv")
    df = df[df["er"].notna()]
    return df["score"].to_numpy(float), df["trt"].to_numpy(int)
