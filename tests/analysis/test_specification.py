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


@pytest.fixture(scope="module")
def competing_run(tmp_path_factory):
    """The walk's table with a competing-risks primary outcome (Recurrence, Death), grid and refutation on."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from tests.test_every_key import BASES, _table_data, apply

    tmp_path = tmp_path_factory.mktemp("competing_primary")
    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["table"](tmp_path), (("table.outcomes.other", {
        "label": "First event", "type": "competing", "time_col": "time", "event_col": "cause",
        "causes": {1: "Recurrence", 2: "Death"}}), ("analysis.primary_outcome", "other"),
        ("analysis.sensitivity.specification_grid", True), ("analysis.sensitivity.refutation.enabled", True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(config_from_dict(raw)), tmp_path


def _cr_estimate(res, measure, time=None, contrast=None):
    return next(e for e in res.estimates if e.outcome == "other" and e.measure == measure and e.method == "iptw"
                and e.extra.get("cause") == "Recurrence" and (time is None or e.time == time)
                and (contrast is None or e.contrast == contrast))


def _e(rr):
    """E-value of a risk ratio (VanderWeele & Ding 2017): RR + sqrt(RR (RR - 1)), RR inverted below 1."""
    rr = rr if rr >= 1 else 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


def test_competing_primary_outcome_gets_its_grids(competing_run):
    """Issue 18: a competing-risks primary outcome has specification grids of the cumulative incidence difference
    of the first cause at the last landmark (24 months, the answer's) and of its cause-specific HR; the main rows
    equal the run's own IPTW estimates; DoWhy's refutation alone is not applicable, with the reason."""
    res, _ = competing_run
    grid, cs = res.sensitivity["specification_grid"], res.sensitivity["specification_grid_cs_hr"]
    assert (grid.measure, grid.cause, grid.time, cs.measure, cs.cause) == ("cif_diff", "Recurrence", 24.0, "cs_hr",
                                                                          "Recurrence")
    for g, e in ((grid, _cr_estimate(res, "cif_diff", 24.0)), (cs, _cr_estimate(res, "cs_hr"))):
        df = g.to_frame()
        main = df[df["group"] == "main"].iloc[0]
        assert (main["value"], main["ci_low"], main["ci_high"]) == pytest.approx((e.value, e.ci_low, e.ci_high),
                                                                                 abs=1e-12)
        assert not df["note"].str.startswith("not fitted").any()
        assert df["value"].nunique() > 3  # the specifications change the estimate
    unadj = next(e for e in res.estimates if e.outcome == "other" and e.measure == "cif_diff" and e.time == 24.0
                 and e.method == "unadjusted" and e.extra.get("cause") == "Recurrence")
    assert grid.to_frame().iloc[0]["value"] == pytest.approx(unadj.value, abs=1e-12)
    na = res.sensitivity["not_applicable"]
    assert list(na["analysis"]) == ["DoWhy refutation"]
    assert na["reason"].iloc[0].startswith("not run for a competing-risks primary outcome: its bridge is the "
                                           "pseudo-observations of a Kaplan-Meier functional")
    assert "refutation" not in res.sensitivity and "sensitivity: specification_grid" not in res.failed_steps
    assert grid.to_dict()["time"] == 24.0 and grid.to_dict()["cause"] == "Recurrence"


def test_competing_primary_outcome_evalues_and_tipping_point(competing_run):
    """E-values by closed form (VanderWeele & Ding 2017; VanderWeele 2020 for the HR): the cause-specific HR with
    Recurrence's own event proportion (common here, so RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))); the CIF
    ratio as a risk ratio; the CIF difference via RR = (F0 + RD) / F0 with the IPTW control CIF F0, which is the
    same RR as the CIF ratio. The tipping grid is the cause-specific HR divided by the Lin-Psaty-Kronmal factor."""
    import pandas as pd

    res, tmp_path = competing_run
    ev = res.sensitivity["evalues"]
    assert list(ev["measure"]) == ["cs_hr", "cif_ratio", "cif_ratio", "cif_diff", "cif_diff"]
    assert set(ev["cause"]) == {"Recurrence"}
    d = pd.read_csv(tmp_path / "table.csv")
    d = d[d["er"].notna()]                      # the cohort's complete cases (as res_frame)
    prop = float((d["cause"] == 1).mean())
    assert prop >= 0.15
    hr = _cr_estimate(res, "cs_hr")
    rr = (1 - 0.5 ** math.sqrt(hr.value)) / (1 - 0.5 ** math.sqrt(1 / hr.value))
    row = ev[ev["measure"] == "cs_hr"].iloc[0]
    assert row["evalue"] == pytest.approx(_e(rr), rel=1e-12)
    assert f"outcome proportion {prop:.3g} is at or above" in row["conversion"]
    for t in (12.0, 24.0):
        ratio = _cr_estimate(res, "cif_ratio", t)
        r_row = ev[(ev["measure"] == "cif_ratio") & (ev["time"] == t)].iloc[0]
        assert r_row["evalue"] == pytest.approx(_e(ratio.value), rel=1e-12)
        f0 = _cr_estimate(res, "cif", t, contrast="control").value
        diff = _cr_estimate(res, "cif_diff", t)
        d_row = ev[(ev["measure"] == "cif_diff") & (ev["time"] == t)].iloc[0]
        assert d_row["evalue"] == pytest.approx(_e((f0 + diff.value) / f0), rel=1e-12)
        assert d_row["evalue"] == pytest.approx(r_row["evalue"], rel=1e-9)
        assert f"F0(t) = {f0:.3g}" in d_row["conversion"]
    tip = res.sensitivity["tipping_grid"]
    b = (tip["gamma"] * tip["p_treated"] + 1 - tip["p_treated"]) / (tip["gamma"] * tip["p_control"] + 1 - tip["p_control"])
    assert tip["hr_adj"].to_numpy() == pytest.approx((hr.value / b).to_numpy(), rel=1e-12)


def test_competing_primary_outcome_report_rows_are_labels(competing_run):
    """The report's sensitivity section names each E-value row in words with its cause and time, never the
    measure code, and shows both grids and the tipping point of the cause-specific HR."""
    from gistcausal.present.sections import build_sections

    res, _ = competing_run
    sec = next(s for s in build_sections(res) if s.key == "sensitivity")
    tabs = dict(sec.tables)
    ev = tabs["E-values of the main estimates (VanderWeele & Ding 2017)"]
    assert list(ev["Estimate"]) == ["Cause-specific hazard ratio of Recurrence",
                                    "Cumulative incidence ratio of Recurrence at 12 months",
                                    "Cumulative incidence ratio of Recurrence at 24 months",
                                    "Cumulative incidence difference of Recurrence at 12 months",
                                    "Cumulative incidence difference of Recurrence at 24 months"]
    codes = {"cs_hr", "cif_ratio", "cif_diff"}
    assert not codes & set(ev.astype(str).to_numpy().ravel())
    assert "Specification grid: cumulative incidence difference of Recurrence at 24 months" in tabs
    assert "Specification grid: cause-specific hazard ratio of Recurrence" in tabs
    figs = dict((k, t) for t, k in sec.figures)
    assert figs["tipping"].startswith("Tipping point: cause-specific HR of Recurrence")
    assert {"specification_grid", "specification_grid_cs_hr"} <= set(figs)
    assert any(p.startswith("DoWhy refutation: not run for a competing-risks primary outcome") for p in sec.paragraphs)


# ------------------------------------------------------- shared propensity fits vs one fit each (issue 17)

def _unshared(monkeypatch):
    """Every specification refits its own propensity model, as before shared_scores."""
    import gistcausal.analysis.specification as sp

    monkeypatch.setattr(sp, "shared_scores", lambda cfg, frame, specs: {})


def test_shared_scores_fit_each_shared_model_once(default_config, default_cohort, monkeypatch):
    """One fit per propensity model used by two or more specifications; models used once are fitted by their
    specification; the shared scores are those of fit_propensity on the same rows, read-only."""
    import warnings

    import gistcausal.analysis.specification as sp
    from gistcausal.analysis.iptw import fit_propensity
    from gistcausal.errors import GistCausalWarning

    specs = sp.default_specifications(default_config, default_cohort.frame)
    calls = []
    real = sp.fit_propensity
    monkeypatch.setattr(sp, "fit_propensity", lambda cfg, f, **kw: calls.append(kw) or real(cfg, f, **kw))
    scores = sp.shared_scores(default_config, default_cohort.frame, specs)
    main = (None, False, ())
    assert list(scores) == [main] and len(calls) == 1
    assert sum(sp._ps_key(s) == main for s in specs) >= 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GistCausalWarning)  # the small default cohort's EPP warning
        ps = fit_propensity(default_config, default_cohort.frame)[1]
    np.testing.assert_array_equal(scores[main], ps)
    assert not scores[main].flags.writeable


def test_grid_with_shared_scores_equals_one_fit_per_specification(default_config, default_cohort, monkeypatch):
    """Every row of the default grid (hazard ratio) is the same with the shared fit as with one fit each."""
    fast = specification_grid(default_config, default_cohort.frame, outcome="pfs").to_frame()
    _unshared(monkeypatch)
    plain = specification_grid(default_config, default_cohort.frame, outcome="pfs").to_frame()
    assert fast.drop(columns=["value", "ci_low", "ci_high"]).equals(plain.drop(columns=["value", "ci_low", "ci_high"]))
    for c in ("value", "ci_low", "ci_high"):  # same scores in, same arithmetic: equal up to BLAS summation order
        np.testing.assert_allclose(fast[c], plain[c], rtol=1e-12, atol=0, equal_nan=True)


def test_failed_shared_fit_is_a_row_per_specification_as_unshared(default_config, default_cohort, monkeypatch):
    """A shared propensity fit that fails gives each of its specifications the row (and reason) it gets when
    fitted alone; the other specifications are fitted."""
    import gistcausal.analysis.specification as sp

    real = sp.fit_propensity

    def fake(cfg, frame, **kw):
        if kw.get("method") is None and not kw.get("spline_all"):
            raise SeparationError("PropensityModel.fit: covariate 'x' separates the treatment arms (got 3). Use firth.")
        return real(cfg, frame, **kw)

    monkeypatch.setattr(sp, "fit_propensity", fake)
    specs = [Specification("main", "Main", "ATE"), Specification("estimand", "ATT", "ATT"),
             Specification("propensity model", "firth", "ATE", ps_method="firth")]
    fast = specification_grid(default_config, default_cohort.frame, outcome="pfs", specifications=specs).to_frame()
    _unshared(monkeypatch)
    plain = specification_grid(default_config, default_cohort.frame, outcome="pfs", specifications=specs).to_frame()
    assert fast.equals(plain)
    assert list(fast["note"].str.startswith("not fitted: PropensityModel.fit: covariate 'x'")) == [False, True, True,
                                                                                                   False]


@pytest.fixture(scope="module")
def competing_cohort(competing_run):
    """Config and cohort of the competing-risks run (its table), for grids built outside the pipeline."""
    import warnings

    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    res, _ = competing_run
    cfg = res.config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cfg, build_cohort(cfg, load_data(cfg))


def test_competing_grids_with_shared_scores_equal_one_fit_each(competing_cohort, monkeypatch):
    from gistcausal.analysis.specification import competing_specification_grids

    cfg, cohort = competing_cohort
    info = cohort.outcome("other")
    fast = [g.to_frame() for g in competing_specification_grids(cfg, cohort.frame, info=info)]
    _unshared(monkeypatch)
    plain = [g.to_frame() for g in competing_specification_grids(cfg, cohort.frame, info=info)]
    for a, b in zip(fast, plain):
        assert len(a) > 5 and list(a["note"]) == list(b["note"])
        np.testing.assert_allclose(a[["value", "ci_low", "ci_high"]], b[["value", "ci_low", "ci_high"]], rtol=1e-12,
                                   atol=0, equal_nan=True)


def test_point_grid_with_shared_scores_equals_one_fit_each(competing_cohort, monkeypatch):
    """The binary/continuous grid (_point_grid) shares the fits the same way; checked on a 0/1 outcome made from
    the competing table (the first cause by its last landmark)."""
    from types import SimpleNamespace

    import gistcausal.analysis.specification as sp

    cfg, cohort = competing_cohort
    specs = sp.default_specifications(cfg, cohort.frame)
    f = cohort.frame.assign(y01=(cohort.frame[cohort.outcome("other").event_col] == 1).astype(float))
    info = SimpleNamespace(name="y01", type="binary", event_col="y01", label="y01")
    calls = []

    def fake_secondary(cfg_, frame, info_, weights=None, estimand="ATE"):
        calls.append(1)
        from gistcausal.effects import EffectEstimate

        w = np.ones(len(frame)) if weights is None else np.asarray(weights, float)
        a, y = frame["treatment"].to_numpy(int), frame["y01"].to_numpy(float)
        d = np.average(y[a == 1], weights=w[a == 1]) - np.average(y[a == 0], weights=w[a == 0])
        return [EffectEstimate(outcome="y01", contrast="t vs c", estimand=estimand, method="iptw",
                               measure="risk_diff", value=d, ci_low=d, ci_high=d, se=0.0, variance="none",
                               p=float("nan"), n=len(frame))]

    import gistcausal.analysis.secondary as secondary

    monkeypatch.setattr(secondary, "secondary_estimates", fake_secondary)
    fast = sp._point_grid(cfg, f, info, specs, None).to_frame()
    _unshared(monkeypatch)
    plain = sp._point_grid(cfg, f, info, specs, None).to_frame()
    assert calls and list(fast["note"]) == list(plain["note"])
    np.testing.assert_allclose(fast["value"], plain["value"], rtol=1e-12, atol=0, equal_nan=True)


def test_grid_started_with_the_cohort_equals_the_one_the_sensitivity_step_starts(default_config, default_cohort,
                                                                                 monkeypatch):
    """begin_grid (issue 17: the pipeline starts the grid as soon as the cohort is built, so its boosting row does
    not run alone at the end) gives run_sensitivity the same grid as the one it starts itself, on a two-worker pool
    with a serial reference; a start that fails is recorded as the grid's failure, as when it starts there."""
    import gistcausal.analysis.sensitivity as sens
    from gistcausal.engine import Engine, Executor

    specs = [Specification("main", "Main", "ATE"), Specification("estimand", "ATT", "ATT")]
    monkeypatch.setattr(sens, "begin_specification_grid",
                        lambda *a, real=sens.begin_specification_grid, **kw: real(*a, specifications=specs, **kw))
    sc = default_config.analysis.sensitivity.model_copy(update={"refutation": default_config.analysis.sensitivity
                                                                .refutation.model_copy(update={"enabled": False})})
    cfg = default_config.model_copy(update={"analysis": default_config.analysis.model_copy(
        update={"sensitivity": sc})})
    from gistcausal.analysis.iptw import causal_fit

    comp = causal_fit(cfg, default_cohort.frame, outcome="pfs", estimand="ATE").comparison
    with Executor(Engine(n_workers=1)) as one:
        ref = sens.run_sensitivity(cfg, default_cohort, comp, lambda _m: None, engine=one)
    with Executor(Engine(n_workers=2)) as two:
        started = sens.begin_grid(cfg, default_cohort, engine=two)
        got = sens.run_sensitivity(cfg, default_cohort, comp, lambda _m: None, engine=two, grid_started=started)
    a, b = ref.tables["specification_grid"].to_frame(), got.tables["specification_grid"].to_frame()
    assert len(a) == 3
    assert a.equals(b)

    def broken(*a, **kw):
        raise SeparationError("PropensityModel.fit: covariate 'x' separates the treatment arms (got 3). Use firth.")

    monkeypatch.setattr(sens, "begin_specification_grid", broken)
    with Executor(Engine(n_workers=2)) as two:
        started = sens.begin_grid(cfg, default_cohort, engine=two)
        out = sens.run_sensitivity(cfg, default_cohort, comp, lambda _m: None, engine=two, grid_started=started)
    assert "specification_grid" not in out.tables
    assert out.failed["specification_grid"].startswith("PropensityModel.fit: covariate 'x' separates")
    off = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"sensitivity": sc.model_copy(
        update={"specification_grid": False})})})
    assert sens.begin_grid(off, default_cohort, engine=None) is None


def test_a_grid_started_early_but_never_collected_is_taken_off_the_pool():
    """pipeline._discard waits for a grid the sensitivity step did not collect (the primary comparison failed) and
    drops its result or its failure, whichever the start or the wait raises."""
    from gistcausal.pipeline import _discard

    seen = []
    _discard(lambda: (lambda: seen.append("collected")))
    assert seen == ["collected"]

    def wait():
        raise ValueError("the grid failed")

    _discard(lambda: wait)

    def start():
        raise ValueError("the start failed")

    _discard(start)


def test_a_failed_refutation_is_reported_with_its_own_reason(default_config, default_cohort, monkeypatch):
    """The DoWhy refutation runs first and its failure is raised where the step's failures are collected: the
    report names its reason (before, the deferred error was lost to a NameError: 'unexpected error')."""
    import gistcausal.analysis.sensitivity as sens
    from gistcausal.analysis.iptw import causal_fit
    from gistcausal.errors import ModelFitError

    def refute(*a, **kw):
        raise ModelFitError("refute: the outcome model cannot be fitted (got 0 events). Use another outcome.")

    monkeypatch.setattr(sens, "_refutation", refute)
    sc = default_config.analysis.sensitivity.model_copy(update={"specification_grid": False})
    cfg = default_config.model_copy(update={"analysis": default_config.analysis.model_copy(
        update={"sensitivity": sc})})
    comp = causal_fit(cfg, default_cohort.frame, outcome="pfs", estimand="ATE").comparison
    out = sens.run_sensitivity(cfg, default_cohort, comp, lambda _m: None, engine=None)
    assert out.failed["refutation"].startswith("refute: the outcome model cannot be fitted (got 0 events)")
