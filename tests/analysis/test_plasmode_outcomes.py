"""Plasmode simulation of binary, continuous and competing-risks primary outcomes (issue 18).

Generating models against R (glm / lm), exact truths against closed forms and large direct Monte-Carlo
simulations of potential outcomes, small plasmode runs whose IPTW bias is within 4 MC SEs of zero, identical
replicates on 1 and 2 workers, and the refusals of injected effects that do not apply to the outcome type.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from gistcausal.analysis.plasmode import PlasmodeSettings, plasmode
from gistcausal.analysis.plasmode_models import (PointOutcomeModel, cause_cif, cif_truth, fit_point_model,
                                                 point_truth)
from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import load_config
from gistcausal.errors import ConfigError

from ..conftest import REFERENCE


# ------------------------------------------------------------------------------------------ synthetic study
def _data(n: int = 500, seed: int = 3) -> pd.DataFrame:
    """A confounded cohort: x1 and x2 drive treatment and every outcome."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n)
    trt = rng.binomial(1, expit(-0.2 + 0.8 * x1 - 0.5 * x2))
    resp = rng.binomial(1, expit(-0.5 + 0.7 * trt + 0.9 * x1 + 0.6 * x2))
    score = 10 + 2 * trt + 3 * x1 - 1.5 * x2 + rng.normal(0, 2, n)
    t1 = rng.weibull(1.2, n) * 20 * np.exp(-(0.5 * x1 - 0.4 * trt) / 1.2)
    t2 = rng.weibull(0.9, n) * 40 * np.exp(-(0.3 * x2) / 0.9)
    c = rng.uniform(5, 40, n)
    t = np.minimum(np.minimum(t1, t2), c)
    cause = np.where(t == c, 0, np.where(t1 < t2, 1, 2))
    return pd.DataFrame({"trt": trt, "x1": x1, "x2": x2, "resp": resp, "score": score, "time": t + 0.001,
                         "event": (cause > 0).astype(int), "cause": cause})


def _raw(tmp: Path, primary: str, plasmode_cfg: dict | None = None) -> dict:
    return {"name": f"pm_{primary}", "seed": 5, "data": {"source": "csv", "path": str(tmp / "d.csv")},
            "table": {"time_unit": "months",
                      "treatment": {"column": "trt", "arms": {"treated": [1], "control": [0]}, "treated": "treated"},
                      "outcomes": {"rfs": {"label": "RFS", "time_col": "time", "event_col": "event"},
                                   "resp": {"label": "Response", "type": "binary", "value_col": "resp"},
                                   "score": {"label": "Score", "type": "continuous", "value_col": "score"},
                                   "cr": {"label": "First event", "type": "competing", "time_col": "time",
                                          "event_col": "cause", "causes": {1: "Relapse", 2: "Death"}}}},
            "covariates": {"x1": {"type": "continuous"}, "x2": {"type": "binary"}},
            "analysis": {"primary_outcome": primary,
                         "survival": {"landmarks": [6, 12], "horizon": 12, "estimands": ["ATE"]},
                         "sensitivity": {"specification_grid": False, "evalues": False, "tipping_point": False,
                                         "refutation": {"enabled": False}},
                         "plasmode": plasmode_cfg or {"enabled": False}},
            "output": {"formats": ["csv"]}}


def _load(tmp: Path, raw: dict):
    p = tmp / f"{raw['name']}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(p)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plasmode18")
    d = _data()
    d.to_csv(tmp / "d.csv", index=False)
    cfgs = {k: _load(tmp, _raw(tmp, k)) for k in ("resp", "score", "cr")}
    return tmp, cfgs, build_cohort(cfgs["resp"], d).frame


def _run(cfg, frame, outcome, **kw):
    kw.setdefault("n_jobs", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plasmode(cfg, frame, outcome=outcome, random_state=kw.pop("random_state", 11),
                        settings=PlasmodeSettings(**kw))


def _row(res, measure, method="iptw", time=None):
    m = res.metrics
    sel = (m["method"] == method) & (m["measure"] == measure)
    sel &= m["time"].isna() if time is None else np.isclose(m["time"].astype(float), time)
    assert sel.sum() == 1
    return m[sel].iloc[0]


# ------------------------------------------------------------------------------------ generating models vs R
def test_logistic_and_linear_generating_models_match_r():
    """R: glm(y_bin ~ z1 + ... + z5, family = binomial) and lm(y_cont ~ z1 + ... + z5) with sigma() and logLik(),
    made by tests/reference/plasmode/make_point.R on point.csv (make_point_input.py)."""
    ref = json.loads((REFERENCE / "plasmode" / "point.json").read_text())
    d = pd.read_csv(REFERENCE / "plasmode" / "point.csv")
    z = d.filter(regex=r"^z").to_numpy(float)
    b = fit_point_model(d["y_bin"].to_numpy(float), z, kind="binary")
    assert b.intercept == pytest.approx(ref["binary"]["intercept"], abs=1e-6)
    np.testing.assert_allclose(b.coef, ref["binary"]["coef"], atol=1e-6)
    assert b.loglik == pytest.approx(ref["binary"]["loglik"], abs=1e-6)
    c = fit_point_model(d["y_cont"].to_numpy(float), z, kind="continuous")
    assert c.intercept == pytest.approx(ref["continuous"]["intercept"], abs=1e-6)
    np.testing.assert_allclose(c.coef, ref["continuous"]["coef"], atol=1e-6)
    assert c.sigma == pytest.approx(ref["continuous"]["sigma"], abs=1e-6)
    assert c.loglik == pytest.approx(ref["continuous"]["loglik"], abs=1e-6)


def test_penalty_shrinks_and_missing_outcomes_are_left_out():
    d = pd.read_csv(REFERENCE / "plasmode" / "point.csv")
    z = d.filter(regex=r"^z").to_numpy(float)
    y = d["y_bin"].to_numpy(float)
    plain, ridge = fit_point_model(y, z, kind="binary"), fit_point_model(y, z, kind="binary", penalty=50.0)
    assert np.sum(ridge.coef ** 2) < np.sum(plain.coef ** 2)
    y2 = y.copy()
    y2[:7] = np.nan
    assert fit_point_model(y2, z, kind="binary").n == y.size - 7
    np.testing.assert_allclose(fit_point_model(y2, z, kind="binary").coef,
                               fit_point_model(y[7:], z[7:], kind="binary").coef, atol=1e-10)


# ------------------------------------------------------------------------------------ truth
def test_point_truth_closed_forms():
    """Without covariates the odds ratio is collapsible: marginal OR = exp(psi); the linear model's marginal
    mean difference is psi whatever the covariates and U."""
    m = PointOutcomeModel("binary", -0.3, np.zeros(1), ("treatment",), math.nan, 0.0, 10, True)
    t = point_truth(m, np.full(50, -0.3), math.log(2.0), np.ones(50)).set_index("measure")["value"]
    p1, p0 = expit(-0.3 + math.log(2.0)), expit(-0.3)
    assert t["odds_ratio"] == pytest.approx(2.0, abs=1e-12)
    assert t["risk_diff"] == pytest.approx(p1 - p0, abs=1e-12)
    assert t["risk_ratio"] == pytest.approx(p1 / p0, abs=1e-12)
    lin = PointOutcomeModel("continuous", 1.0, np.zeros(1), ("treatment",), 2.0, 0.0, 10, True)
    eta = np.random.default_rng(1).normal(size=200)
    got = point_truth(lin, eta, 1.7, np.ones(200), u_prob=np.full(200, 0.3), u_strength=2.0)
    assert got["value"].iloc[0] == pytest.approx(1.7, abs=1e-12)


def test_point_truth_matches_direct_monte_carlo():
    """Marginal risk difference, log risk ratio and log odds ratio of a logistic model with an unmeasured
    confounder, ATT weights: exact truth vs 2e6 directly simulated potential outcomes (within 4 MC SEs, delta
    method for the ratios)."""
    rng = np.random.default_rng(2026)
    eta = rng.normal(-0.5, 1.0, 40)
    w = rng.uniform(0, 1, 40)
    q = rng.uniform(0.1, 0.6, 40)
    m = PointOutcomeModel("binary", 0.0, np.zeros(1), ("treatment",), math.nan, 0.0, 40, True)
    truth = point_truth(m, eta, math.log(0.5), w, u_prob=q, u_strength=0.8).set_index("measure")["value"]
    n = 2_000_000
    i = rng.choice(40, size=n, p=w / w.sum())
    u = rng.random(n) < q[i]
    y1 = rng.random(n) < expit(eta[i] + math.log(0.5) + 0.8 * u)
    y0 = rng.random(n) < expit(eta[i] + 0.8 * u)
    m1, m0 = y1.mean(), y0.mean()
    v1, v0 = m1 * (1 - m1) / n, m0 * (1 - m0) / n
    se_rd = math.sqrt(v1 + v0)
    assert abs((m1 - m0) - truth["risk_diff"]) < 4 * se_rd
    se_lrr = math.sqrt(v1 / m1 ** 2 + v0 / m0 ** 2)
    assert abs(math.log(m1 / m0) - math.log(truth["risk_ratio"])) < 4 * se_lrr
    se_lor = math.sqrt(v1 / (m1 * (1 - m1)) ** 2 + v0 / (m0 * (1 - m0)) ** 2)
    assert abs(math.log(m1 / (1 - m1) * (1 - m0) / m0) - math.log(truth["odds_ratio"])) < 4 * se_lor
    assert truth["odds_ratio"] != pytest.approx(0.5, abs=0.01)  # non-collapsible: marginal != conditional


def test_cif_closed_form_exponential():
    """Constant cause-specific hazards l1, l2: F1(t) = l1 / (l1 + l2) (1 - exp(-(l1 + l2) t)); RMTL by its integral."""
    l1, l2, t = 0.05, 0.02, 10.0
    eta = np.log([[l1, l2]])
    lam = l1 + l2
    assert cause_cif(eta, [1.0, 1.0], 0, t)[0] == pytest.approx(l1 / lam * (1 - math.exp(-lam * t)), rel=1e-10)
    rmtl = l1 / lam * (t - (1 - math.exp(-lam * t)) / lam)
    assert cause_cif(eta, [1.0, 1.0], 0, t, rmtl=True)[0] == pytest.approx(rmtl, rel=1e-10)


def test_cif_truth_matches_direct_monte_carlo():
    """CIF difference at 6 and 12 and RMTL difference at 12 of cause 1 under cause-specific Weibull hazards
    (shapes 1.3 and 0.8), ATE over 30 covariate rows: exact truth vs 2e6 latent-time draws per arm."""
    rng = np.random.default_rng(99)
    eta0 = np.column_stack([rng.normal(-3.5, 0.6, 30), rng.normal(-2.5, 0.5, 30)])
    shapes, effects = [1.3, 0.8], np.array([math.log(0.6), 0.2])
    truth = cif_truth(eta0, effects, shapes, np.ones(30), cause=0, landmarks=(6.0, 12.0), horizon=12.0)
    n = 2_000_000
    i = rng.integers(0, 30, n)
    sims = {}
    for a in (0, 1):
        lat = np.column_stack([(rng.exponential(size=n) / np.exp(eta0[i, j] + a * effects[j])) ** (1 / shapes[j])
                               for j in range(2)])
        t, first = lat.min(axis=1), lat.argmin(axis=1) == 0
        sims[a] = {6.0: first & (t <= 6), 12.0: first & (t <= 12), "rmtl": np.where(first & (t <= 12), 12 - t, 0.0)}
    for r in truth.itertuples():
        if r.measure == "cif_diff":
            m1, m0 = sims[1][r.time].mean(), sims[0][r.time].mean()  # independent arms: variances add
            se = math.sqrt(m1 * (1 - m1) / n + m0 * (1 - m0) / n)
            assert abs((m1 - m0) - r.value) < 4 * se, (r.time, m1 - m0, r.value, se)
        else:
            x1, x0 = sims[1]["rmtl"], sims[0]["rmtl"]
            se = math.sqrt(x1.var() / n + x0.var() / n)
            assert abs((x1.mean() - x0.mean()) - r.value) < 4 * se
    assert (truth["value"] < 0).all()  # a protective cause-specific HR lowers the CIF of that cause


# ------------------------------------------------------------------------------------ plasmode runs
@pytest.mark.parametrize("outcome, kw, measures", [
    ("resp", dict(true_or=2.0), ("risk_diff", "risk_ratio", "odds_ratio")),
    ("score", dict(true_mean_diff=1.0), ("mean_diff",)),
])
def test_point_outcome_iptw_unbiased_with_correct_ps_model(study, outcome, kw, measures):
    """60 replicates, treatment drawn from the fitted (configured) propensity model, so the IPTW analysis'
    propensity model is correctly specified: bias within 4 MC SEs of zero; the crude comparison is confounded."""
    _, cfgs, frame = study
    res = _run(cfgs[outcome], frame, outcome, n_replicates=60, treatment="simulated",
               methods=("iptw", "unadjusted"), **kw)
    assert res.n_failed == 0
    assert res.settings["outcome_type"] == ("binary" if outcome == "resp" else "continuous")
    for m in measures:
        r = _row(res, m)
        assert r["n_used"] == 60
        assert abs(r["bias"]) < 4 * r["bias_mcse"], (m, r["bias"], r["bias_mcse"])
    crude = _row(res, measures[0], "unadjusted")
    assert abs(crude["bias"]) > 4 * crude["bias_mcse"]
    if outcome == "score":
        assert _row(res, "mean_diff")["true_value"] == pytest.approx(1.0, abs=1e-12)


def test_competing_iptw_unbiased_with_correct_ps_model(study):
    _, cfgs, frame = study
    res = _run(cfgs["cr"], frame, "cr", n_replicates=60, treatment="simulated", true_hr=0.6, cause="Relapse")
    assert res.n_failed == 0 and res.settings["cause"] == "Relapse"
    assert res.settings["conditional_hr"] == pytest.approx(0.6)
    assert set(res.metrics["measure"]) == {"cif_diff", "rmtl_diff"}
    for r in res.metrics.itertuples():
        assert abs(r.bias) < 4 * r.bias_mcse, (r.measure, r.time, r.bias, r.bias_mcse)


def test_competing_other_cause_keeps_its_fitted_effect(study):
    _, cfgs, frame = study
    res = _run(cfgs["cr"], frame, "cr", n_replicates=2, true_hr=0.5, cause="Death", n_jobs=1)
    fitted = res.settings["cause_models"]["Relapse"]["coef"]["treatment"]
    assert res.settings["treatment_log_hr"]["Relapse"] == pytest.approx(fitted, abs=1e-12)
    assert res.settings["treatment_log_hr"]["Death"] == pytest.approx(math.log(0.5), abs=1e-12)


@pytest.mark.parametrize("outcome, kw", [("resp", dict(true_or=1.5)), ("cr", dict(true_hr=0.7))])
def test_replicates_identical_on_one_and_two_workers(study, outcome, kw):
    _, cfgs, frame = study
    one = _run(cfgs[outcome], frame, outcome, n_replicates=6, n_jobs=1, batch_size=2, **kw)
    two = _run(cfgs[outcome], frame, outcome, n_replicates=6, n_jobs=2, batch_size=2, **kw)
    pd.testing.assert_frame_equal(one.estimates, two.estimates)
    pd.testing.assert_frame_equal(one.metrics, two.metrics)
    json.dumps(one.to_dict())


# ------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("outcome, kw, message", [
    ("resp", dict(true_hr=0.7), "plasmode: true_hr does not apply to the binary outcome 'resp' (got true_hr=0.7). "
                                "Pass true_or= (an odds ratio) instead."),
    ("score", dict(true_or=2.0), "plasmode: true_or does not apply to the continuous outcome 'score' (got "
                                 "true_or=2.0). Pass true_mean_diff= (a mean difference) instead."),
    ("resp", dict(cause="Relapse"), "plasmode: cause applies to competing-risks outcomes only (got cause='Relapse' "
                                    "for the binary outcome 'resp'). Pass cause=None."),
    ("cr", dict(cause="Toxicity"), "plasmode: cause must be one of the outcome's causes (got 'Toxicity'). Use one "
                                   "of 'Relapse', 'Death'."),
    ("cr", dict(true_hr=0.7, true_effect_measure="marginal_hr"),
     "plasmode: true_effect_measure='marginal_hr' applies to time-to-event outcomes only (got the competing outcome "
     "'cr'). Pass true_effect_measure='hr'."),
])
def test_effect_keys_of_another_outcome_type_are_refused(study, outcome, kw, message):
    _, cfgs, frame = study
    with pytest.raises(ConfigError, match=re.escape(message) + "$"):
        _run(cfgs[outcome], frame, outcome, n_replicates=1, **kw)


@pytest.mark.parametrize("primary, pc, message", [
    ("resp", {"true_hr": 0.7}, "analysis.plasmode.true_hr does not apply to the binary primary outcome 'resp' (got "
                               "true_hr: 0.7); write `true_or: 0.7` instead"),
    ("score", {"true_or": 2.0}, "analysis.plasmode.true_or does not apply to the continuous primary outcome 'score' "
                                "(got true_or: 2.0); write `true_mean_diff: 2.0` instead"),
    ("rfs", {"true_mean_diff": 1.0}, "analysis.plasmode.true_mean_diff does not apply to the time_to_event primary "
                                     "outcome 'rfs' (got true_mean_diff: 1.0); write `true_hr: 1.0` instead"),
    ("resp", {"marginal": True}, "analysis.plasmode.marginal applies to time-to-event primary outcomes only (got "
                                 "marginal: true with the binary primary outcome 'resp'); remove it"),
    ("rfs", {"cause": "Relapse"}, "analysis.plasmode.cause applies to competing-risks primary outcomes only (got "
                                  "cause: Relapse with the time_to_event primary outcome 'rfs'); remove it"),
    ("cr", {"cause": "Toxicity"}, "analysis.plasmode.cause must be a cause of 'cr' (got cause: Toxicity); use one "
                                  "of ['Relapse', 'Death']"),
])
def test_config_refuses_effect_keys_of_another_outcome_type(study, primary, pc, message):
    tmp, _, _ = study
    with pytest.raises(ConfigError, match=re.escape(message)):
        _load(tmp, _raw(tmp, primary, {"enabled": True, **pc}))


def test_settings_validate_new_effect_keys():
    with pytest.raises(ConfigError, match=re.escape("PlasmodeSettings: true_or must be a finite number > 0 (got "
                                                    "-1). Pass e.g. true_or=0.6.")):
        PlasmodeSettings(true_or=-1)
    with pytest.raises(ConfigError, match=re.escape("PlasmodeSettings: true_mean_diff must be a finite number "
                                                    "(got nan). Pass e.g. true_mean_diff=2.5.")):
        PlasmodeSettings(true_mean_diff=float("nan"))


# ------------------------------------------------------------------------------------ in the run and the report
def test_binary_primary_plasmode_in_run_results_json_and_report(study):
    """gistcausal run with a binary primary outcome: plasmode runs with true_or, results.json carries the new
    measures, and the report's plasmode section names them."""
    from gistcausal.pipeline import run
    from gistcausal.present.report import render_html

    tmp, _, _ = study
    cfg = _load(tmp, _raw(tmp, "resp", {"enabled": True, "n_replicates": 10, "true_or": 0.5,
                                         "methods": ["iptw"]}))
    cfg = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(
        update={"engine": cfg.analysis.engine.model_copy(update={"n_workers": 1})})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(cfg)
    assert "plasmode" not in res.failed_steps
    pm = res.to_dict()["plasmode"]
    assert pm["settings"]["true_or"] == 0.5 and pm["settings"]["injected"]["measure"] == "odds_ratio"
    assert {m["measure"] for m in pm["metrics"]} == {"risk_diff", "risk_ratio", "odds_ratio"}
    html = render_html(res, {})
    section = html[html.index("Plasmode simulation: does this analysis plan"):]
    for label in ("Risk difference", "Risk ratio (marginal)", "Odds ratio (marginal)", "logistic regression"):
        assert label in section


def test_cli_plasmode_binary_outcome(study):
    """gistcausal plasmode with --true-or on a binary primary outcome; --true-hr there is refused with the fix."""
    from typer.testing import CliRunner

    from gistcausal.cli import app

    tmp, _, _ = study
    path = tmp / "pm_resp.yaml"
    runner = CliRunner()
    r = runner.invoke(app, ["plasmode", str(path), "-n", "4", "-j", "1", "--true-or", "0.5", "-o",
                            str(tmp / "pm_cli"), "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp / "pm_cli" / "plasmode.json").read_text())
    assert data["settings"]["true_or"] == 0.5 and data["n_replicates"] == 4
    assert {m["measure"] for m in data["metrics"]} == {"risk_diff", "risk_ratio", "odds_ratio"}
    bad = runner.invoke(app, ["plasmode", str(path), "-n", "4", "-j", "1", "--true-hr", "0.5", "-q"])
    assert bad.exit_code != 0
    assert "true_hr does not apply to the binary outcome 'resp'" in " ".join(bad.output.split())
