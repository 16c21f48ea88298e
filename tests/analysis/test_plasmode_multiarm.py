"""Plasmode simulation with three arms (issue 18, section 3): resampling within each arm, a Weibull PH model with
one coefficient per non-reference arm, the truth of every pairwise contrast, each replicate analysed by the K-arm
analysis; IPTW bias within 4 MC SEs, identical replicates on 1 and 2 workers, refusals pinned."""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gistcausal.analysis.plasmode import PlasmodeSettings, plasmode
from gistcausal.analysis.plasmode_multiarm import arm_sizes
from gistcausal.analysis.plasmode_models import paired_truth_table
from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import load_config
from gistcausal.errors import ConfigError

ARMS = ("ctl", "low", "high")


def _data(n: int = 600, seed: int = 8) -> pd.DataFrame:
    """Three arms assigned by a multinomial logit in x1 and x2, Weibull PFS depending on both and on the arm."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.5, n)
    lin = np.column_stack([np.zeros(n), 0.2 + 0.6 * x1, -0.3 - 0.5 * x1 + 0.7 * x2])
    p = np.exp(lin) / np.exp(lin).sum(axis=1, keepdims=True)
    arm = np.array([rng.choice(3, p=pi) for pi in p])
    eta = -3.0 + 0.5 * x1 + 0.4 * x2 + np.array([0.0, -0.3, -0.6])[arm]
    t = (rng.exponential(size=n) / np.exp(eta)) ** (1 / 1.3)
    c = rng.uniform(10, 40, n)
    return pd.DataFrame({"drug": np.array(ARMS)[arm], "x1": x1, "x2": x2, "time": np.minimum(t, c) + 0.01,
                         "event": (t <= c).astype(int)})


def _raw(tmp: Path, plasmode_cfg: dict | None = None, estimands=("ATE",)) -> dict:
    return {"name": "pm_three", "seed": 9, "data": {"source": "csv", "path": str(tmp / "three.csv")},
            "table": {"time_unit": "months",
                      "treatment": {"column": "drug", "arms": {a: [a] for a in ARMS}, "treated": "high"},
                      "outcomes": {"pfs": {"label": "PFS", "time_col": "time", "event_col": "event"}}},
            "covariates": {"x1": {"type": "continuous"}, "x2": {"type": "binary"}},
            "analysis": {"study_replication": False,
                         "survival": {"landmarks": [6, 12], "horizon": 12, "estimands": list(estimands)},
                         "sensitivity": {"specification_grid": False, "evalues": False, "tipping_point": False,
                                         "refutation": {"enabled": False}},
                         "plasmode": plasmode_cfg or {"enabled": False}},
            "output": {"formats": ["csv"]}}


def _load(tmp: Path, raw: dict):
    p = tmp / "three.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(p)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plasmode_three")
    d = _data()
    d.to_csv(tmp / "three.csv", index=False)
    cfg = _load(tmp, _raw(tmp))
    return tmp, cfg, build_cohort(cfg, d).frame


def _run(cfg, frame, **kw):
    kw.setdefault("n_jobs", 1)
    kw.setdefault("n_mc", 50_000)
    est = kw.pop("estimand", "ATE")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plasmode(cfg, frame, outcome="pfs", estimand=est, random_state=kw.pop("random_state", 3),
                        settings=PlasmodeSettings(**kw))


def test_arm_sizes_are_proportional_and_sum_to_the_sample():
    assert arm_sizes((38, 42, 30), 110) == (38, 42, 30)
    assert arm_sizes((1, 1, 1), 10) == (4, 3, 3)
    assert sum(arm_sizes((200, 250, 150), 1001)) == 1001


def test_truth_of_equal_arms_is_the_null_and_pairs_are_ordered(three):
    """Both non-reference arms with HR 0.6 against the reference: their own contrast is exactly null, and the
    truth lists the pairs as the K-arm analysis does (B vs A, A listed first)."""
    _, cfg, frame = three
    res = _run(cfg, frame, true_hr=0.6, n_replicates=1)
    t = res.truth
    assert list(dict.fromkeys(t["contrast"])) == ["low vs ctl", "high vs ctl", "high vs low"]
    null = t[t["contrast"] == "high vs low"].set_index("measure")
    assert null.loc["hr", "value"] == 1.0
    assert (null.loc[["surv_diff", "rmst_diff"], "value"] == 0.0).all()
    assert res.settings["conditional_hr_by_arm"] == {"low vs ctl": pytest.approx(0.6), "high vs ctl": pytest.approx(0.6)}


def test_pairwise_truth_matches_an_independent_monte_carlo(three):
    """The fitted arms' (true_hr unset) marginal surv_diff at 12 months of 'high vs ctl', ATE: the plasmode's truth
    (50,000 paired draws) vs 400,000 independent draws per arm from the stored event model; within 4 combined
    MC SEs."""
    _, cfg, frame = three
    res = _run(cfg, frame, n_replicates=1)
    em = res.settings["event_model"]
    coef = em["coef"]
    rng = np.random.default_rng(77)
    from gistcausal.analysis.plasmode_models import _design

    z, names = _design(frame, ["x1", "x2"], "test")
    b = np.array([coef[n] for n in names])
    n = 400_000
    idx = np.concatenate([rng.choice(np.flatnonzero(frame["arm"] == a), size=m)
                          for a, m in zip(ARMS, arm_sizes(tuple(int((frame["arm"] == a).sum()) for a in ARMS), n))])
    base = em["log_rate"] + z[idx] @ b

    def surv12(shift):
        t = (rng.exponential(size=idx.size) / np.exp(base + shift)) ** (1 / em["shape"])
        return (t > 12).mean()
    s1, s0 = surv12(coef["arm[high]"]), surv12(0.0)
    tr = res.truth[(res.truth["contrast"] == "high vs ctl") & (res.truth["measure"] == "surv_diff")
                   & (res.truth["time"] == 12)].iloc[0]
    se = math.sqrt(s1 * (1 - s1) / idx.size + s0 * (1 - s0) / idx.size + tr["mc_se"] ** 2)
    assert abs((s1 - s0) - tr["value"]) < 4 * se


def test_paired_truth_table_closed_form_exponential():
    """Exponential potential outcomes with rates 0.1 and 0.05 from one exponential: S(t) difference and RMST
    difference against their closed forms; the marginal HR of a covariate-free model is the conditional one."""
    e = np.random.default_rng(4).exponential(size=400_000)
    t1, t0 = e / 0.05, e / 0.1
    tab = paired_truth_table(t1, t0, np.ones(e.size), (5.0,), 10.0).set_index("measure")
    sd = math.exp(-0.25) - math.exp(-0.5)
    assert tab.loc["surv_diff", "value"] == pytest.approx(sd, abs=4 * tab.loc["surv_diff", "mc_se"])
    rm = (1 - math.exp(-0.5)) / 0.05 - (1 - math.exp(-1.0)) / 0.1
    assert tab.loc["rmst_diff", "value"] == pytest.approx(rm, abs=4 * tab.loc["rmst_diff", "mc_se"])
    assert math.log(tab.loc["hr", "value"]) == pytest.approx(math.log(0.5), abs=4 * tab.loc["hr", "mc_se"])


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_three_arm_iptw_unbiased_with_correct_ps_model(three, estimand):
    """60 replicates of 600 patients, the arm drawn from the fitted (configured) multinomial propensity model, so
    the analysis' propensity model is correctly specified: every pairwise IPTW log HR and S(12) difference within
    4 MC SEs of its true marginal value. (With observed treatment the cohort's chance imbalances make the 'high vs
    low' log HR biased by about -0.08, MC SE 0.016: docs/plasmode.md, observed treatment and overlap.)"""
    _, cfg, frame = three
    res = _run(cfg, frame, true_hr=0.7, n_replicates=60, estimand=estimand, treatment="simulated")
    assert res.n_failed == 0
    m = res.metrics
    assert set(m["contrast"]) == {"low vs ctl", "high vs ctl", "high vs low"}
    for r in m[m["measure"].isin(["hr", "surv_diff"])].itertuples():
        assert r.n_used == 60
        assert abs(r.bias) < 4 * r.bias_mcse, (r.contrast, r.measure, r.time, r.bias, r.bias_mcse)
    if estimand == "ATT":
        assert res.settings["focal"] == "high"


def test_three_arm_replicates_identical_on_one_and_two_workers(three):
    _, cfg, frame = three
    one = _run(cfg, frame, true_hr=0.8, n_replicates=6, n_jobs=1, batch_size=2, methods=("iptw", "unadjusted"))
    two = _run(cfg, frame, true_hr=0.8, n_replicates=6, n_jobs=2, batch_size=2, methods=("iptw", "unadjusted"))
    pd.testing.assert_frame_equal(one.estimates, two.estimates)
    pd.testing.assert_frame_equal(one.metrics, two.metrics)


@pytest.mark.parametrize("kw, got", [
    (dict(true_hr=0.7, true_effect_measure="marginal_hr"), "true_effect_measure='marginal_hr'"),
    (dict(estimand="ATC"), "estimand='ATC'"),
    (dict(unmeasured_confounder=dict(strength_treatment=1, strength_outcome=0.5, prevalence=0.3)),
     "an unmeasured_confounder"),
])
def test_three_arm_settings_not_supported_are_refused(three, kw, got):
    _, cfg, frame = three
    with pytest.raises(ConfigError, match=re.escape(f"plasmode: this setting is not available with more than two "
                                                    f"arms (got {got}).")):
        _run(cfg, frame, n_replicates=1, **kw)


def test_three_arm_config_refuses_marginal(three):
    tmp, _, _ = three
    with pytest.raises(ConfigError, match=re.escape(
            "analysis.plasmode.marginal is not available with more than two arms yet (true_hr is the conditional HR "
            "of every arm against the first) (got 3 arms in table.treatment.arms); remove `marginal: true`")):
        _load(tmp, _raw(tmp, {"enabled": True, "true_hr": 0.7, "marginal": True}))


def test_simulated_arms_follow_the_fitted_propensity(three):
    """Simulated treatment: over 30 replicates of 600 the arm shares match the mean fitted scores (binomial SE)."""
    from gistcausal.analysis.multiarm import multiarm_propensity
    from gistcausal.analysis.plasmode_multiarm import setup_multiarm

    _, cfg, frame = three
    task, _, _ = setup_multiarm(cfg, frame, PlasmodeSettings(treatment="simulated", n_replicates=1), outcome="pfs",
                                estimand="ATE", seed=1, where="test")
    arms = pd.concat([task.dataset(i)["arm"] for i in range(30)])
    expected = multiarm_propensity(cfg, frame).mean(axis=0)
    for a, p in zip(ARMS, expected):
        assert abs((arms == a).mean() - p) < 4 * math.sqrt(p * (1 - p) / arms.size)


def test_three_arm_plasmode_in_the_run_and_report(three):
    """analysis.plasmode.enabled with three arms: the run's K-arm analysis, then the plasmode; results.json has one
    metrics row per contrast, and the report's plasmode section names the contrasts and measures."""
    from gistcausal.pipeline import run
    from gistcausal.present.report import render_html

    tmp, _, _ = three
    cfg = _load(tmp, _raw(tmp, {"enabled": True, "n_replicates": 10, "true_hr": 0.7, "methods": ["iptw"]}))
    cfg = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(
        update={"engine": cfg.analysis.engine.model_copy(update={"n_workers": 1})})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(cfg)
    assert "plasmode" not in res.failed_steps
    pm = res.to_dict()["plasmode"]
    assert {m["contrast"] for m in pm["metrics"]} == {"low vs ctl", "high vs ctl", "high vs low"}
    html = render_html(res, {})
    section = html[html.index("Plasmode simulation: does this analysis plan"):]
    for text in ("Hazard ratio (marginal)", "high vs low", "one coefficient per arm against ctl"):
        assert text in section


def test_three_arm_plots_have_one_row_per_contrast(three):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.plasmode import plot_coverage, plot_estimates

    _, cfg, frame = three
    res = _run(cfg, frame, true_hr=0.7, n_replicates=4)
    for fn in (plot_estimates, plot_coverage):
        ax = fn(res)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == len(res.metrics) == 12
        assert sum("| high vs low" in x for x in labels) == 4
        plt.close(ax.figure)
