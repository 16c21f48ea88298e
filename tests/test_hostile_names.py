"""Issue: nothing in a config, a data file or a failing step can run code (part 1: names).

Column names and category levels are data, never code. Before the fix, a covariate named
``age") + __import__("os").system("touch PWNED") + Q("age`` ran a shell command: the propensity model wrapped
names in ``Q("...")`` and patsy evaluated the formula text; a name holding ``"`` crashed with a SyntaxError.
Here hostile names -- quotes, backslashes, ``__import__``, newlines, spaces, unicode, names that collide after
replacing non-alphanumerics, ``C(x)``, ``I(x)``, ``Q``, Python keywords -- go through the propensity model
(splines and interactions included), the DoWhy bridge and a full :func:`gistcausal.pipeline.run`, and each
result must equal the one for the same data under tame names, with no file created and no traceback.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gistcausal.stats.propensity import PropensityModel
from gistcausal.stats.refutation import refute

PAYLOAD = '") + __import__("os").system("touch PWNED") + Q("'
#: tame name -> hostile name
HOSTILE = {
    "age": f"age{PAYLOAD}age",
    "menostat": "Q",
    "tsize": "C(x)",
    "tgrade": "lambda",
    "pnodes": "a-b",
    "progrec": "a_b",
    "estrec": 'back\\slash "quoted"\nnew line ünï',
}
#: tame tgrade level -> hostile level (same sort order: '"' < 'I' < 'ü')

LEVELS = {"I": f"{PAYLOAD}; import os", "II": "I(x)", "III": "ünï cödé\\"}


def _no_pwned(*folders: Path) -> None:
    for folder in folders:
        assert not list(Path(folder).rglob("PWNED*")), f"a hostile name ran code in {folder}"


@pytest.fixture(scope="module")
def gbsg() -> pd.DataFrame:
    from lifelines.datasets import load_gbsg2

    return load_gbsg2()


@pytest.fixture(scope="module")
def hostile_gbsg(gbsg) -> pd.DataFrame:
    return gbsg.assign(tgrade=gbsg["tgrade"].map(LEVELS)).rename(columns=HOSTILE)


# ------------------------------------------------------------------------------------ propensity model

def _ps_model(names: dict[str, str], **extra):
    return PropensityModel(covariates=[names[c] for c in ("age", "menostat", "tsize", "tgrade", "pnodes",
                                                          "progrec", "estrec")],
                           splines={names["age"]: 3, names["estrec"]: {"kind": "bs", "df": 4}},
                           interactions=[(names["age"], names["menostat"]), (names["tgrade"], names["pnodes"]),
                                         (names["progrec"], names["pnodes"])], **extra)


@pytest.mark.parametrize("method", ["logistic", "firth"])
def test_propensity_model_with_hostile_names_equals_tame(gbsg, hostile_gbsg, tmp_path, monkeypatch, method):
    monkeypatch.chdir(tmp_path)
    tame_names = {k: k for k in HOSTILE}
    data = gbsg.assign(treat=(gbsg["horTh"] == "yes").astype(int))
    hdata = hostile_gbsg.assign(treat=data["treat"])
    tame = _ps_model(tame_names, method=method).fit(data, treatment_col="treat")
    hostile = _ps_model(HOSTILE, method=method).fit(hdata, treatment_col="treat")
    _no_pwned(tmp_path)
    np.testing.assert_array_equal(hostile.coef_, tame.coef_)
    np.testing.assert_array_equal(hostile.predict(hdata), tame.predict(data))
    np.testing.assert_array_equal(hostile.design_matrix(hdata), tame.design_matrix(data))
    terms = list(hostile.result_.coefficients.term)
    assert f"ns({HOSTILE['age']}, df=3)[1]:Q[Pre]" in terms  # labels carry the names verbatim
    assert f"lambda[{LEVELS['II']}]:a-b" in terms
    assert HOSTILE["estrec"] in hostile.result_.description


def test_cross_fitted_learner_with_hostile_names_equals_tame(gbsg, hostile_gbsg):
    """The learner path (design without intercept, fold models); a small tree keeps it fast on busy cores."""
    from sklearn.tree import DecisionTreeClassifier

    data = gbsg.assign(treat=(gbsg["horTh"] == "yes").astype(int))
    hdata = hostile_gbsg.assign(treat=data["treat"])
    kw = dict(estimator=DecisionTreeClassifier(max_depth=3, random_state=0), n_folds=3, calibrate=True,
              random_state=4)
    tame = PropensityModel(covariates=list(HOSTILE), **kw).fit_predict(data, treatment_col="treat")
    hostile = PropensityModel(covariates=list(HOSTILE.values()), **kw).fit_predict(hdata, treatment_col="treat")
    np.testing.assert_array_equal(hostile, tame)


@pytest.mark.parametrize("name", ['x"', "x'", "x\\", "x\ny", "x y", "ünï", "C(x)", "I(x)", "Q", "class", "None",
                                  "__import__('os')", "x}", "{x}", "x:y", "x+y", "x~y", "x[T.a]", ""])
def test_any_single_name_is_just_a_name(name):
    """One covariate per name, numeric and categorical, spline and interaction: the fit equals the tame one."""
    rng = np.random.default_rng(7)
    n = 200
    tame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n), "z": rng.normal(size=n)})
    tame["t"] = rng.binomial(1, 1 / (1 + np.exp(-(0.5 * tame.x - 0.4 * (tame.g == "b")))))
    hostile = tame.rename(columns={"x": name, "g": name + "_g"})
    a = PropensityModel(covariates=["x", "g", "z"], splines={"x": 3}, interactions=[("g", "z")])
    b = PropensityModel(covariates=[name, name + "_g", "z"], splines={name: 3}, interactions=[(name + "_g", "z")])
    np.testing.assert_array_equal(b.fit_predict(hostile, treatment_col="t"), a.fit_predict(tame, treatment_col="t"))


def test_separation_message_names_a_hostile_column_verbatim():
    df = pd.DataFrame({'x"); import os #': [0.0, 1.0] * 20 + [1.0] * 10, "z": np.arange(50.0) % 7,
                       "t": [0, 1] * 20 + [1] * 10})
    df.iloc[:40, 0] = df["t"].iloc[:40]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            PropensityModel(covariates=["z", 'x"); import os #']).fit(df, treatment_col="t")
    assert "covariate 'x\"); import os #' separates the treatment arms" in str(info.value)


# ------------------------------------------------------------------------------------ DoWhy bridge

def _refute(df, names, **kw):
    return refute(df, treatment_col=names["treat"], time_col=names["time"], event_col=names["cens"],
                  covariates=[names[c] for c in ("age", "tsize", "pnodes", "progrec", "estrec")], horizon=1825.0,
                  refuters=("placebo_treatment", "random_common_cause", "add_unobserved_common_cause"),
                  num_simulations=5, random_state=3, **kw)


def test_dowhy_bridge_with_hostile_names_equals_tame(gbsg, hostile_gbsg, tmp_path, monkeypatch):
    import dowhy

    seen: list[list[str]] = []
    real = dowhy.CausalModel

    def spy(*args, **kwargs):
        seen.append([*map(str, kwargs["data"].columns), kwargs["treatment"], kwargs["outcome"], kwargs["graph"]])
        return real(*args, **kwargs)

    monkeypatch.setattr(dowhy, "CausalModel", spy)
    monkeypatch.chdir(tmp_path)
    tame_names = {k: k for k in [*HOSTILE, "treat", "time", "cens"]}
    names = {**HOSTILE, "treat": 'arm"\\', "time": "time\n'", "cens": "class"}
    data = gbsg.assign(treat=(gbsg["horTh"] == "yes").astype(int))
    hdata = hostile_gbsg.assign(**{names["treat"]: data["treat"]}).rename(columns={"time": names["time"],
                                                                                    "cens": names["cens"]})
    tame = _refute(data, tame_names)
    hostile = _refute(hdata, names)
    _no_pwned(tmp_path)
    assert hostile.estimate.to_dict() == tame.estimate.to_dict()
    pd.testing.assert_frame_equal(hostile.to_frame(), tame.to_frame())
    for columns in seen:  # DoWhy never saw a user's name, only generated ones
        assert columns[:7] == ["treatment", "outcome", "x1", "x2", "x3", "x4", "x5"]
        assert "age" not in columns[-1] and "PWNED" not in columns[-1]
    assert hostile.estimand.endswith(", ".join(sorted([HOSTILE[c] for c in ("age", "tsize", "pnodes", "progrec",
                                                                             "estrec")])))
    import networkx as nx

    back = nx.parse_gml(hostile.graph_gml)
    assert set(back.nodes) == {names["treat"], "pseudo_outcome", *[HOSTILE[c] for c in ("age", "tsize", "pnodes",
                                                                                          "progrec", "estrec")]}
    assert f'"{HOSTILE["age"]}"'.replace('"', '\\"')[2:-2] in hostile.graph_dot


# ------------------------------------------------------------------------------------ full pipeline run

def _config(names: dict[str, str], levels: dict[str, str], csv: Path) -> dict:
    cov = {
        names["age"]: {"type": "continuous", "spline_df": 3},
        names["menostat"]: {"type": "categorical"},
        names["tsize"]: {"type": "continuous"},
        names["tgrade"]: {"type": "categorical", "levels": [levels["I"], levels["II"], levels["III"]]},
        names["pnodes"]: {"type": "continuous"},
        names["progrec"]: {"type": "continuous"},
        names["estrec"]: {"type": "continuous"},
    }
    return {
        "name": "hostile_names", "title": "Hostile names", "seed": 11,
        "data": {"source": "csv", "path": str(csv)},
        "table": {"time_unit": "days",
                  "treatment": {"column": names["horTh"], "arms": {"hormone": ["yes"], "none": ["no"]},
                                "treated": "hormone"},
                  "outcomes": {"rfs": {"label": "RFS", "time_col": names["time"], "event_col": names["cens"], "event_value": 1}}},
        "covariates": cov,
        "analysis": {
            "propensity": {"interactions": [[names["age"], names["menostat"]], [names["pnodes"], names["progrec"]]]},
            "survival": {"landmarks": [730, 1825], "horizon": 1825, "estimands": ["ATE"]},
            "at_risk_times": [0, 730, 1460, 2190],
            "sensitivity": {"specification_grid": False,  # covered by tests/analysis; slow (boosting)
                            "refutation": {"enabled": True, "num_simulations": 5,
                                           "refuters": ["placebo_treatment", "random_common_cause"]}},
        },
    }


def _run(tmp: Path, names: dict[str, str], levels: dict[str, str], data: pd.DataFrame):
    from gistcausal.pipeline import run

    tmp.mkdir()
    csv = tmp / "data.csv"
    data.to_csv(csv, index=False)
    cfg = tmp / "study.yaml"
    cfg.write_text(yaml.safe_dump(_config(names, levels, csv), allow_unicode=True, sort_keys=False), encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        return run(cfg)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def pipeline_runs(gbsg, tmp_path_factory):
    names = {**HOSTILE, "horTh": 'arm"\\', "time": "time\n'", "cens": "class"}
    tame_names = {k: k for k in names}
    hostile_data = gbsg.assign(tgrade=gbsg["tgrade"].map(LEVELS)).rename(columns=names)
    root = tmp_path_factory.mktemp("hostile_pipeline")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tame = _run(root / "tame", tame_names, {k: k for k in LEVELS}, gbsg)
        hostile = _run(root / "hostile", names, LEVELS, hostile_data)
    return root, tame, hostile


def _key(e):
    return (e.outcome, e.contrast, e.estimand, e.method, e.measure, e.time)


def test_pipeline_run_with_hostile_names_equals_tame(pipeline_runs):
    root, tame, hostile = pipeline_runs
    _no_pwned(root)
    got = {_key(e): e for e in hostile.estimates}
    want = {_key(e): e for e in tame.estimates}
    assert set(got) == set(want) and len(want) > 10
    for k, e in want.items():
        for field in ("value", "ci_low", "ci_high", "se", "p"):
            a, b = getattr(got[k], field), getattr(e, field)
            if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
                assert (a is None and b is None) or math.isnan(a), (k, field)
            else:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12), (k, field)


def test_pipeline_reports_hostile_names_as_labels(pipeline_runs):
    _, _, hostile = pipeline_runs
    ref = hostile.sensitivity["refutation"]
    assert HOSTILE["age"] in ref.estimand
    assert "a-b" in ref.estimand and "a_b" in ref.estimand  # no longer collapsed into one column


def test_covariate_design_keeps_names_that_collide_after_sanitising(gbsg, tmp_path):
    """Before: non-alphanumerics became '_', so covariates 'a-b' and 'a_b' shared one column (one was lost)."""
    from gistcausal.analysis.iptw import covariate_design
    from gistcausal.design.config import config_from_dict

    clash = f"lambda: {LEVELS['II']}"  # a continuous covariate named like the label of a grade level
    names = {**HOSTILE, "horTh": "horTh", "time": "time", "cens": "cens", "tsize": clash}
    cfg = config_from_dict(_config(names, LEVELS, tmp_path / "unused.csv"))
    frame = gbsg.assign(tgrade=gbsg["tgrade"].map(LEVELS)).rename(columns=names)
    X = covariate_design(cfg, frame)
    assert X.columns.is_unique
    assert {"a-b", "a_b", clash, f"{clash} (2)", f"lambda: {LEVELS['III']}", "Q: Pre"} <= set(X)
    np.testing.assert_array_equal(X["a-b"], gbsg["pnodes"])
    np.testing.assert_array_equal(X["a_b"], gbsg["progrec"])
    np.testing.assert_array_equal(X[clash], gbsg["tsize"])
    np.testing.assert_array_equal(X[f"{clash} (2)"], (gbsg["tgrade"] == "II").astype(float))
    assert X.shape[1] == 5 + 1 + 2  # five continuous, menopausal status (2 levels), grade (3 levels)
