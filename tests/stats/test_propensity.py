"""Tests of gistcausal.stats.propensity against R glm(binomial), splines::ns/bs, closed forms and an optimizer.

Reference values: tests/reference/propensity/make_propensity.R -> propensity.json (R 4.2.2, survival 3.5-3,
glm.control(epsilon = 1e-14)). Tolerance 1e-6 against R: both sides are deterministic and converged far
below it.
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
from scipy import optimize, special

from gistcausal.errors import DataError, ModelFitError, NotFittedError, SeparationError, SmallSampleWarning
from gistcausal.stats.propensity import PropensityModel, c_statistic, ns_basis

REF = Path(__file__).parents[1] / "reference" / "propensity"
COVS = ["age", "meno", "size", "grade", "nodes", "pgr", "er"]
# gistcausal term label -> R coefficient name, for the rotterdam model
R_NAMES = {"Intercept": "(Intercept)", "size[20-50]": "size20-50", "size[>50]": "size>50"}


@pytest.fixture(scope="session")
def ref():
    return json.loads((REF / "propensity.json").read_text())


@pytest.fixture(scope="session")
def rotterdam():
    df = pd.read_csv(REF / "rotterdam.csv")
    df["size"] = pd.Categorical(df["size"], categories=["<=20", "20-50", ">50"])
    return df


@pytest.fixture(scope="session")
def rot_model(rotterdam):
    return PropensityModel(covariates=COVS).fit(rotterdam, treatment_col="hormon")


def _fit_quiet(model, df, col):
    """Fit a model on a small data set whose EPP warning is expected and tested elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return model.fit(df, treatment_col=col)


def test_rotterdam_logistic_coefficients_match_r(rot_model, ref):
    """R: glm(hormon ~ age + meno + size + grade + nodes + pgr + er, family = binomial, data = rotterdam)."""
    table = rot_model.result_.coefficients
    got = {R_NAMES.get(t, t): c for t, c in zip(table.term, table.coef)}
    se = {R_NAMES.get(t, t): s for t, s in zip(table.term, table.se)}
    assert set(got) == set(ref["rotterdam"]["coef"])
    for name, value in ref["rotterdam"]["coef"].items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
        assert se[name] == pytest.approx(ref["rotterdam"]["se"][name], abs=1e-6), name
    assert rot_model.result_.loglik == pytest.approx(ref["rotterdam"]["loglik"], abs=1e-6)


def test_rotterdam_fitted_scores_match_r(rot_model, rotterdam, ref):
    """R: fitted(glm(hormon ~ age + meno + size + grade + nodes + pgr + er, family = binomial))."""
    np.testing.assert_allclose(rot_model.predict(rotterdam), ref["rotterdam"]["fitted"], rtol=0, atol=1e-6)
    assert np.allclose(rot_model.fit_predict(rotterdam, treatment_col="hormon"), ref["rotterdam"]["fitted"],
                       atol=1e-6)


def test_ns_basis_identical_to_r(rotterdam, ref):
    """R: ns(rotterdam$age, df = 3)[1:10, ] (knots at the 1/3, 2/3 quantiles, boundary = range)."""
    spl = ref["splines"]
    x = rotterdam["age"].to_numpy(dtype=float)[:10]
    basis = ns_basis(x, knots=spl["ns_knots"], boundary_knots=spl["ns_boundary"])
    np.testing.assert_allclose(basis, spl["ns_basis_first10"], atol=1e-12)


def test_ns_extrapolates_linearly_beyond_boundary():
    """R's ns extends the basis linearly outside the boundary knots: second differences vanish there."""
    x = np.array([12.0, 14.0, 16.0])  # all beyond the upper boundary knot 10
    b = ns_basis(x, knots=[4.0, 6.0], boundary_knots=[0.0, 10.0])
    np.testing.assert_allclose(b[2] - 2 * b[1] + b[0], 0.0, atol=1e-12)


def test_spline_model_matches_r(rotterdam, ref):
    """R: glm(hormon ~ ns(age, df = 3) + meno + size + grade + bs(nodes, knots = c(2, 5), degree = 3)
    + pgr + er, family = binomial); gistcausal's ns and bs bases are built to equal R's."""
    model = PropensityModel(covariates=["meno", "size", "grade", "pgr", "er"],
                            splines={"age": 3, "nodes": {"kind": "bs", "knots": (2, 5), "degree": 3}})
    model.fit(rotterdam, treatment_col="hormon")
    np.testing.assert_allclose(model.predict(rotterdam), ref["splines"]["fitted"], atol=1e-6)
    table = model.result_.coefficients.set_index("term")["coef"]
    r = dict(zip(ref["splines"]["coef_names"], ref["splines"]["coef"]))
    for j in range(3):
        assert table[f"ns(age, df=3)[{j + 1}]"] == pytest.approx(r[f"ns(age, df = 3){j + 1}"], abs=1e-6)
    for j in range(5):
        assert table[f"bs(nodes, knots=[2, 5], degree=3)[{j + 1}]"] == pytest.approx(
            r[f"bs(nodes, knots = c(2, 5), degree = 3){j + 1}"], abs=1e-6)
    assert table["Intercept"] == pytest.approx(r["(Intercept)"], abs=1e-6)


def test_interaction_model_matches_r(rotterdam, ref):
    """R: glm(hormon ~ age + meno + size + grade + nodes + pgr + er + age:meno + nodes:size, binomial)."""
    model = PropensityModel(covariates=COVS, interactions=[("age", "meno"), ("nodes", "size")])
    model.fit(rotterdam, treatment_col="hormon")
    np.testing.assert_allclose(model.predict(rotterdam), ref["interactions"]["fitted"], atol=1e-6)
    assert model.result_.coefficients.shape[0] == len(ref["interactions"]["coef"])


def test_synthetic_small_logistic_matches_r(ref):
    """R: glm(treat ~ x1 + x2 + x3, family = binomial, data = synthetic_small)."""
    df = pd.read_csv(REF / "synthetic_small.csv")
    model = _fit_quiet(PropensityModel(covariates=["x1", "x2", "x3"]), df, "treat")
    np.testing.assert_allclose(model.predict(df), ref["synthetic"]["fitted"], atol=1e-6)
    got = dict(zip(model.result_.coefficients.term, model.result_.coefficients.coef))
    assert got["x3[b]"] == pytest.approx(ref["synthetic"]["coef"]["x3b"], abs=1e-6)
    assert got["x1"] == pytest.approx(ref["synthetic"]["coef"]["x1"], abs=1e-6)


def test_design_matrix_lines_up_with_coefficients(rot_model, rotterdam, ref):
    """design_matrix(df) has the intercept first and one column per coefficient term; its product with coef_
    gives R's fitted scores (the public replacement of patsy's design_info)."""
    X = rot_model.design_matrix(rotterdam)
    assert X.shape == (len(rotterdam), len(rot_model.coef_))
    np.testing.assert_array_equal(X[:, 0], 1.0)
    assert list(rot_model.result_.coefficients.term) == list(rot_model.design_.column_names)
    np.testing.assert_allclose(special.expit(X @ rot_model.coef_), ref["rotterdam"]["fitted"], atol=1e-6)


def test_description_is_a_label_join(rot_model):
    assert rot_model.result_.description == "age + meno + size + grade + nodes + pgr + er"
    assert rot_model.result_.to_dict()["description"] == rot_model.result_.description
    assert "treatment ~ age + meno + size" in rot_model.result_.summary()


def test_firth_matches_penalized_likelihood_optimizer_in_r(ref):
    """R: optim(BFGS) + Newton polish on -(loglik + 0.5 log det(X'WX)) for treat ~ x1 + x2 + x3
    (make_propensity.R, firth_optim); an implementation independent of the modified-score iteration."""
    df = pd.read_csv(REF / "synthetic_small.csv")
    model = _fit_quiet(PropensityModel(method="firth", covariates=["x1", "x2", "x3"]), df, "treat")
    got = dict(zip(model.result_.coefficients.term, model.result_.coefficients.coef))
    order = ["Intercept", "x1", "x2", "x3[b]", "x3[c]"]
    np.testing.assert_allclose([got[k] for k in order], ref["synthetic"]["firth_optim_coef"], atol=1e-6)
    assert model.result_.loglik == pytest.approx(ref["synthetic"]["firth_pen_loglik"], abs=1e-6)


def test_firth_under_separation_matches_r_optimizer(ref):
    """Separated data (x2 == 1 -> all treated): the MLE does not exist, Firth's estimate does.
    R: firth_optim(model.matrix(~ x1 + x2 + x3, sep), sep$treat)."""
    df = pd.read_csv(REF / "synthetic_separated.csv")
    model = _fit_quiet(PropensityModel(firth=True, covariates=["x1", "x2", "x3"]), df, "treat")
    got = dict(zip(model.result_.coefficients.term, model.result_.coefficients.coef))
    order = ["Intercept", "x1", "x2", "x3[b]", "x3[c]"]
    np.testing.assert_allclose([got[k] for k in order], ref["separated"]["firth_optim_coef"], atol=1e-6)


@pytest.mark.parametrize("cells", [(7, 13, 9, 4), (5, 10, 6, 0), (3, 0, 8, 2)])
def test_firth_2x2_closed_form(cells):
    """Closed form: for logit(p) = b0 + b1 x with binary x, Firth's estimate adds 1/2 to every cell
    (Firth 1993; Heinze & Schemper 2002), so b1 is the Haldane-corrected log odds ratio, even with a 0 cell."""
    a, b, c, d = cells  # x=0: a treated, b control; x=1: c treated, d control
    x = np.r_[np.zeros(a + b), np.ones(c + d)]
    t = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    df = pd.DataFrame({"x": x, "t": t})
    model = _fit_quiet(PropensityModel(method="firth", covariates=["x"]), df, "t")
    b0, b1 = model.coef_
    assert b0 == pytest.approx(np.log((a + 0.5) / (b + 0.5)), abs=1e-8)
    assert b1 == pytest.approx(np.log((c + 0.5) * (b + 0.5) / ((d + 0.5) * (a + 0.5))), abs=1e-8)


def test_firth_stationary_point_of_penalized_likelihood():
    """A generic optimizer (scipy BFGS) of the penalized log-likelihood lands on the same estimate."""
    rng = np.random.default_rng(3)
    n = 40
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.binomial(1, 0.3, n)})
    df["t"] = rng.binomial(1, special.expit(-0.3 + 0.9 * df.a + 1.2 * df.b))
    model = _fit_quiet(PropensityModel(method="firth", covariates=["a", "b"]), df, "t")
    X = np.c_[np.ones(n), df.a, df.b]
    y = df.t.to_numpy()

    def negpen(beta):
        eta = X @ beta
        w = special.expit(eta) * (1 - special.expit(eta))
        return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet((X * w[:, None]).T @ X)[1])

    opt = optimize.minimize(negpen, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(model.coef_, opt.x, atol=1e-5)  # BFGS gtol limits the optimizer's accuracy


def test_separation_error_names_covariate():
    df = pd.read_csv(REF / "synthetic_separated.csv")
    msg = ("PropensityModel.fit: covariate 'x2' separates the treatment arms (got (quasi-)complete separation: "
           "the arm of 22 of 60 patients is perfectly predicted). Use the Firth model (analysis.propensity.method: firth) or drop/merge levels of 'x2'.")
    with pytest.raises(SeparationError, match=re.escape(msg)):
        _fit_quiet(PropensityModel(covariates=["x1", "x2", "x3"]), df, "treat")


def test_separation_error_names_categorical_level():
    df = pd.DataFrame({"g": ["a"] * 20 + ["b"] * 20 + ["c"] * 10, "x": np.arange(50.0) % 7,
                       "t": [0, 1] * 20 + [1] * 10})
    msg = ("PropensityModel.fit: covariate 'g' (level 'c') separates the treatment arms (got (quasi-)complete "
           "separation: the arm of 10 of 50 patients is perfectly predicted). Use the Firth model (analysis.propensity.method: firth) or drop/merge "
           "levels of 'g'.")
    with pytest.raises(SeparationError, match=re.escape(msg)):
        _fit_quiet(PropensityModel(covariates=["x", "g"]), df, "t")


def test_constant_within_arm_error():
    df = pd.DataFrame({"x": [5.0] * 20 + list(np.arange(20.0)), "t": [0] * 20 + [1] * 20})
    msg = ("PropensityModel.fit: covariate 'x' is constant within arm 'control' (got 1 distinct value in 20 "
           "patients). Drop or recode 'x'; the arms cannot be compared on it.")
    with pytest.raises(DataError, match=re.escape(msg)):
        PropensityModel(covariates=["x"]).fit(df, treatment_col="t")


def test_arm_too_small_error():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    df["t"] = [1, 1, 1] + [0] * 27
    msg = ("PropensityModel.fit: arm 'treated' has 3 patients, not more than the 4 model parameters (got "
           "model 'a + b + c + d'). Use fewer covariates or merge levels.")
    with pytest.raises(ModelFitError, match=re.escape(msg)):
        PropensityModel(covariates=list("abcd")).fit(df, treatment_col="t")


def test_small_sample_warning_and_epp(ref):
    df = pd.read_csv(REF / "synthetic_small.csv")
    with pytest.warns(SmallSampleWarning, match="patients in the smaller arm per model parameter"):
        model = PropensityModel(covariates=["x1", "x2", "x3"]).fit(df, treatment_col="treat")
    n_small = min(df.treat.sum(), (1 - df.treat).sum())
    assert model.result_.events_per_parameter == pytest.approx(n_small / 4)
    assert len(model.result_.warnings) == 1


def test_non_binary_treatment_error():
    df = pd.DataFrame({"x": np.arange(10.0), "t": [0, 1, 2] * 3 + [0]})
    msg = ("PropensityModel.fit: column 't' must be coded 0/1 or False/True (got values ['0', '1', '2']). "
           "Recode the treatment to 1 = treated, 0 = control.")
    with pytest.raises(DataError, match=re.escape(msg)):
        PropensityModel(covariates=["x"]).fit(df, treatment_col="t")


def test_not_fitted():
    with pytest.raises(NotFittedError, match=re.escape("PropensityModel.predict: the model is not fitted")):
        PropensityModel(covariates=["x"]).predict(pd.DataFrame({"x": [1.0]}))


def test_init_only_stores_and_fit_does_not_mutate_input(rotterdam):
    model = PropensityModel(covariates=COVS, random_state=3)
    assert vars(model) == {"method": "logistic", "covariates": COVS, "splines": (),
                           "interactions": (), "firth": False, "estimator": None, "n_folds": 5,
                           "calibrate": True, "random_state": 3}
    before = rotterdam.copy()
    model.fit(rotterdam, treatment_col="hormon")
    pd.testing.assert_frame_equal(rotterdam, before)


def test_c_statistic_closed_form():
    """AUC = P(score_1 > score_0) + 0.5 P(tie), counted over all 2 x 3 pairs by hand: (2 + 0.5 + 2 + 1)/6."""
    scores = np.array([0.9, 0.4, 0.4, 0.2, 0.95])
    t = np.array([1, 1, 0, 0, 0])
    # pairs: 0.9 > 0.4, 0.9 > 0.2, 0.9 < 0.95; 0.4 = 0.4, 0.4 > 0.2, 0.4 < 0.95 -> 3.5 / 6
    assert c_statistic(scores, t) == pytest.approx(3.5 / 6)


def test_result_has_no_patient_rows(rot_model):
    d = rot_model.result_.to_dict()
    json.dumps(d)
    assert len(d["score_summary"]) == 2
    assert rot_model.result_.to_frame().shape == (9, 7)
    assert "c-statistic" in rot_model.result_.summary()


@pytest.fixture(scope="session")
def confounded():
    rng = np.random.default_rng(2024)
    n = 1500
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.binomial(1, 0.4, n),
                       "x3": rng.choice(["a", "b", "c"], n)})
    true_ps = special.expit(-0.4 + 0.8 * df.x1 + 0.7 * df.x2 - 0.5 * (df.x3 == "c") + 0.4 * df.x1 ** 2 - 0.4)
    df["t"] = rng.binomial(1, true_ps)
    return df, np.asarray(true_ps)


def test_boosting_cross_fit_scores(confounded):
    df, true_ps = confounded
    model = PropensityModel(method="boosting", covariates=["x1", "x2", "x3"], n_folds=3, random_state=7)
    scores = model.fit_predict(df, treatment_col="t")
    assert model.result_.n_folds == 3 and model.result_.coefficients is None
    assert np.all((scores > 0) & (scores < 1))
    np.testing.assert_array_equal(scores, model.oof_scores_)
    # learner recovers the nonlinear true score; correlation bound set far below the ~0.95 typically seen
    assert np.corrcoef(scores, true_ps)[0, 1] > 0.85
    assert model.predict(df.head(5)).shape == (5,)


def test_custom_estimator_is_cloned_not_mutated(confounded):
    from sklearn.linear_model import LogisticRegression

    df, _ = confounded
    est = LogisticRegression(C=np.inf, max_iter=1000)
    model = PropensityModel(estimator=est, covariates=["x1", "x2"], n_folds=2, calibrate=False, random_state=1)
    model.fit(df, treatment_col="t")
    assert not hasattr(est, "coef_")
    assert model.result_.method == "estimator"


# ------------------------------------------------------------------------------------------------------
# Design matrices built from columns (stats/design_matrix.py): R references from
# tests/reference/design_matrix/make_design_matrix.R (R 4.2.2, splines).
# ------------------------------------------------------------------------------------------------------
DM = Path(__file__).parents[1] / "reference" / "design_matrix"


@pytest.fixture(scope="session")
def dm_ref():
    return json.loads((DM / "design_matrix.json").read_text())


@pytest.mark.parametrize("case, column, spec", [
    ("bs_df", "pgr", {"kind": "bs", "df": 5}),
    ("bs_degree2", "age", {"kind": "bs", "df": 4, "degree": 2}),
    ("bs_boundary", "age", {"kind": "bs", "knots": [45, 60], "boundary_knots": [20, 95]}),
])
def test_bs_basis_identical_to_r(rotterdam, dm_ref, case, column, spec):
    """R: bs(rotterdam$pgr, df = 5); bs(rotterdam$age, df = 4, degree = 2);
    bs(rotterdam$age, knots = c(45, 60), Boundary.knots = c(20, 95)) -- first 20 rows, knots from quantiles."""
    from gistcausal.stats.design_matrix import build_design

    design = build_design(rotterdam, splines={column: spec})
    if "knots" in dm_ref[case]:
        np.testing.assert_allclose(design.factors[0].knots, dm_ref[case]["knots"], atol=1e-12)
    X = design.matrix(rotterdam.head(20))
    np.testing.assert_allclose(X[:, 1:], dm_ref[case]["first20"], atol=1e-12)


def test_spline_bases_beyond_the_boundary_match_r_predict(rotterdam, dm_ref):
    """R: predict(bs(age, knots = c(45, 60)), x) and predict(ns(age, df = 4), x) at x = 10 ... 100, which lie
    partly outside range(age) (bs: Taylor extension of degree 3; ns: linear)."""
    from gistcausal.stats.design_matrix import build_design

    new = pd.DataFrame({"age": dm_ref["bs_predict"]["x"]})
    bs_design = build_design(rotterdam, splines={"age": {"kind": "bs", "knots": [45, 60]}})
    np.testing.assert_allclose(bs_design.matrix(new)[:, 1:], dm_ref["bs_predict"]["basis"], atol=1e-10)
    ns_design = build_design(rotterdam, splines={"age": 4})
    np.testing.assert_allclose(ns_design.matrix(new)[:, 1:], dm_ref["ns_predict"]["basis"], atol=1e-10)


def test_model_with_every_kind_of_term_matches_r(rotterdam, dm_ref):
    """R: glm(hormon ~ meno + size + grade_f + ns(age, df = 3) + bs(pgr, df = 4, degree = 2) + er
    + size:grade_f + er:size + ns(age, df = 3):meno, family = binomial); the columns come in R's order, so
    coefficients compare position by position."""
    df = rotterdam.assign(grade_f=pd.Categorical(np.where(rotterdam.grade == 3, "three", "two"),
                                                 categories=["two", "three"]))
    model = PropensityModel(covariates=["meno", "size", "grade_f", "age", "pgr", "er"],
                            splines={"age": 3, "pgr": {"kind": "bs", "df": 4, "degree": 2}},
                            interactions=[("size", "grade_f"), ("er", "size"), ("age", "meno")])
    model.fit(df, treatment_col="hormon")
    ref = dm_ref["all_terms"]
    np.testing.assert_allclose(model.predict(df), ref["fitted"], atol=1e-6)
    np.testing.assert_allclose(model.coef_, ref["coef"], atol=1e-6)
    assert model.result_.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert list(model.design_.column_names)[-3:] == ["ns(age, df=3)[1]:meno", "ns(age, df=3)[2]:meno",
                                                      "ns(age, df=3)[3]:meno"]
    assert model.result_.description == ("meno + size + grade_f + ns(age, df=3) + bs(pgr, df=4, degree=2) + er"
                                         " + size:grade_f + er:size + ns(age, df=3):meno")


def test_categorical_order_sets_the_reference_level(rotterdam, rot_model):
    """A pandas Categorical's category order is the level order (first = reference), as R's factor(levels=)."""
    df = rotterdam.assign(size=rotterdam["size"].cat.reorder_categories([">50", "<=20", "20-50"]))
    model = PropensityModel(covariates=COVS).fit(df, treatment_col="hormon")
    assert [t for t in model.result_.coefficients.term if t.startswith("size")] == ["size[<=20]", "size[20-50]"]
    np.testing.assert_allclose(model.predict(df), rot_model.predict(rotterdam), atol=1e-9)
    as_text = rotterdam.assign(size=rotterdam["size"].astype(str))  # strings: sorted levels
    model = PropensityModel(covariates=COVS).fit(as_text, treatment_col="hormon")
    assert [t for t in model.result_.coefficients.term if t.startswith("size")] == ["size[<=20]", "size[>50]"]


def test_design_matrix_rejects_unseen_level_and_missing_column(rot_model, rotterdam):
    new = rotterdam.head(3).assign(size=pd.Categorical(["<=20", "huge", ">50"]))
    msg = ("PropensityModel.design_matrix: covariate 'size' has 1 values outside the levels seen when fitting "
           "(got levels other than ['<=20', '20-50', '>50']). Map them to one of these levels or refit on data "
           "that has them.")
    with pytest.raises(DataError, match=re.escape(msg)):
        rot_model.design_matrix(new)
    with pytest.raises(DataError, match=re.escape("PropensityModel.predict: covariate columns ['er'] are not in "
                                                  "the data")):
        rot_model.predict(rotterdam.drop(columns="er"))


def test_formula_option_is_gone():
    """Issue: nothing in a config can run code. The formula= text option (evaluated by patsy) was removed."""
    with pytest.raises(TypeError):
        PropensityModel(formula="age + Q('x')")  # type: ignore[call-arg]


@pytest.mark.parametrize("spec, msg", [
    ({"kind": "cubic"}, "PropensityModel.fit: splines['age'] allows kind 'ns' or 'bs' and keys kind, df, knots, "
                        "boundary_knots, degree, or kind 'log' alone (got kind='cubic', extra keys []). Fix the "
                        "spline specification."),
    ({"kind": "log", "df": 3}, "PropensityModel.fit: splines['age'] allows kind 'ns' or 'bs' and keys kind, df, "
                               "knots, boundary_knots, degree, or kind 'log' alone (got kind='log', extra keys []). "
                               "Fix the spline specification."),
    ({"kind": "bs"}, "PropensityModel.fit: splines['age'] needs df or knots (got neither). Write e.g. "
                     "splines={'age': {'kind': 'bs', 'df': 3}}."),
    ({"kind": "bs", "df": 2}, "PropensityModel.fit: splines['age'] needs df >= 3 for kind 'bs' (got df=2). Raise df."),
    ({"kind": "ns", "df": 3, "degree": 2}, "PropensityModel.fit: splines['age'] of kind 'ns' is cubic (got "
                                           "degree=2). Drop degree, or use kind 'bs'."),
])
def test_bad_spline_specifications(rotterdam, spec, msg):
    with pytest.raises(ModelFitError, match=re.escape(msg)):
        PropensityModel(covariates=["meno"], splines={"age": spec}).fit(rotterdam, treatment_col="hormon")


def test_issue_20_log_term_equals_the_logged_column(rotterdam):
    """{'kind': 'log'} enters log(x) as one column, R's glm(hormon ~ meno + log(age)): the same fit as the
    model on a precomputed log column."""
    logged = rotterdam.assign(log_age=np.log(rotterdam["age"]))
    a = PropensityModel(covariates=["meno", "age"], splines={"age": {"kind": "log"}}).fit(rotterdam,
                                                                                          treatment_col="hormon")
    b = PropensityModel(covariates=["meno", "log_age"]).fit(logged, treatment_col="hormon")
    assert a.coef_ == pytest.approx(b.coef_, abs=1e-10)
    assert a.result_.description == "meno + log(age)"
    assert a.design_matrix(rotterdam)[:, 2] == pytest.approx(np.log(rotterdam["age"].to_numpy(float)))


def test_issue_20_log_term_refuses_non_positive_values(rotterdam):
    bad = rotterdam.assign(age=rotterdam["age"].where(rotterdam.index != 0, 0.0))
    msg = ("PropensityModel.fit: covariate 'age' enters on the log scale but has 1 values <= 0 (got minimum 0). "
           "Remove `transform: log` from covariates.age, or shift the variable.")
    with pytest.raises(DataError, match=re.escape(msg)):
        PropensityModel(covariates=["meno"], splines={"age": {"kind": "log"}}).fit(bad, treatment_col="hormon")


def test_interaction_must_name_distinct_columns(rotterdam):
    msg = ("PropensityModel.fit: interactions[0] must name two or more distinct columns (got ['age', 'age']). "
           "Write e.g. interactions=[('age', 'sex')].")
    with pytest.raises(ModelFitError, match=re.escape(msg)):
        PropensityModel(covariates=["age"], interactions=[("age", "age")]).fit(rotterdam, treatment_col="hormon")


def test_no_covariates_error(rotterdam):
    msg = "PropensityModel.fit: no covariates given (got covariates=()). Pass covariates=[...]."
    with pytest.raises(ModelFitError, match=re.escape(msg)):
        PropensityModel().fit(rotterdam, treatment_col="hormon")


def test_separation_check_gated_by_the_fit_decides_as_the_linear_program():
    """The Konis linear program runs only when IRLS does not converge, warns or ends with |x'b| > 15; on random
    designs (half of them made (quasi-)separated by construction, the others near it) the gated fit raises
    SeparationError exactly when the linear program finds a separating direction."""
    from gistcausal.stats.propensity import _separation_direction

    rng = np.random.default_rng(7)
    decided = {True: 0, False: 0}
    for k in range(120):
        n = int(rng.integers(30, 120))
        df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                           "g": rng.choice(["a", "b", "c"], size=n, p=[0.45, 0.45, 0.1])})
        eta = (0.5 + 3 * (k % 4)) * (df["x1"] + 0.5 * df["x2"]).to_numpy()
        t = (rng.random(n) < special.expit(eta)).astype(int)
        if k % 2 == 0:  # separated (complete) or quasi-separated through a level
            t = (df["x1"] > 0).astype(int).to_numpy() if k % 4 == 0 else t
            if k % 4 == 2:
                t[df["g"].to_numpy() == "c"] = 1
        df["t"] = t
        if t.sum() < 5 or (1 - t).sum() < 5 or df.loc[t == 1, "x1"].nunique() < 2 or df["g"].nunique() < 3:
            continue
        model = PropensityModel(covariates=["x1", "x2", "g"])
        g = df["g"].to_numpy()
        X = np.column_stack([np.ones(n), df["x1"].to_numpy(), df["x2"].to_numpy(), g == "b", g == "c"]).astype(float)
        lp = _separation_direction(X, t.astype(float)) is not None
        try:
            _fit_quiet(model, df, "t")
            raised = False
        except SeparationError:
            raised = True
        assert raised == lp, k
        decided[lp] += 1
    assert decided[True] >= 20 and decided[False] >= 20  # both branches exercised


# --------------------------------------------------------------------------------------------------
# fast paths of the replicate loops (plasmode, bootstrap): each compared with the plain computation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["logistic", "firth"])
def test_training_scores_equal_predict_of_the_training_data(rotterdam, method):
    model = PropensityModel(method=method, covariates=COVS).fit(rotterdam, treatment_col="hormon")
    scores = model.training_scores()
    np.testing.assert_array_equal(scores, model.predict(rotterdam))
    scores[:] = 0.0  # a copy: the model keeps its own
    np.testing.assert_array_equal(model.training_scores(), model.predict(rotterdam))


def test_training_scores_of_a_learner_are_out_of_fold(confounded):
    df, _ = confounded
    model = PropensityModel(method="boosting", covariates=["x1", "x2", "x3"], n_folds=3, random_state=7)
    model.fit(df, treatment_col="t")
    np.testing.assert_array_equal(model.training_scores(), model.oof_scores_)
    with pytest.raises(NotFittedError, match=re.escape("PropensityModel.training_scores: the model is not fitted")):
        PropensityModel(covariates=["x"]).training_scores()


def _mixed_frame(n: int = 400, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n), "pos": rng.gamma(2.0, size=n) + 0.1,
        "cat": pd.Categorical(rng.choice(["b", "a", "c"], n), categories=["c", "a", "b", "unused"]),
        "txt": rng.choice(["lo", "mid", "hi"], n).astype(object), "flag": rng.integers(0, 2, n),
        "t": rng.integers(0, 2, n)})


def test_design_matrix_without_the_missing_check_is_the_same():
    from gistcausal.stats.design_matrix import build_design

    df = _mixed_frame()
    design = build_design(df, covariates=["x", "cat", "txt", "flag"], splines={"pos": {"kind": "log"}, "x": 3},
                          interactions=[("cat", "txt"), ("x", "flag")])
    np.testing.assert_array_equal(design.matrix(df, check_missing=False), design.matrix(df))


def test_categorical_column_recoded_from_its_codes_as_from_its_values():
    """A pandas Categorical is coded from its own categories (any order, unused ones included); the columns and
    the unseen-level message are those of its values as plain objects."""
    from gistcausal.errors import DataError as DE
    from gistcausal.stats.design_matrix import Factor

    df = _mixed_frame()
    factor = Factor(column="cat", kind="categorical", levels=("a", "b", "c"), label="cat")
    s = df["cat"]
    for reduced in (True, False):
        np.testing.assert_array_equal(factor.evaluate(s, reduced=reduced, where="w"),
                                      factor.evaluate(s.astype(object), reduced=reduced, where="w"))
    unseen = s.cat.set_categories(["a", "b", "c", "d"])
    unseen.iloc[3] = "d"
    messages = []
    for values in (unseen, unseen.astype(object)):
        with pytest.raises(DE) as err:
            factor.evaluate(values, reduced=True, where="w")
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "1 values outside the levels" in messages[0]


def _old_check_covariates(df, cols, t):
    """The check before the single-factorize version (isna, nunique, nunique per arm), for comparison."""
    from gistcausal.stats.design_matrix import is_categorical

    for c in cols:
        n_missing = int(df[c].isna().sum())
        if n_missing:
            return f"missing {n_missing}"
        if df[c].nunique() < 2:
            return "constant"
        if not is_categorical(df[c]) and df[c].nunique() > 2:
            for arm, mask in (("treated", t == 1), ("control", t == 0)):
                if df.loc[mask, c].nunique() < 2:
                    return f"constant within {arm}"
    return None


@pytest.mark.parametrize("case", ["clean", "nan_numeric", "none_text", "nan_text", "nan_category", "constant_text",
                                  "constant_category_with_unused", "constant_numeric", "binary_constant_in_arm",
                                  "numeric_constant_in_treated", "numeric_constant_in_control"])
def test_check_covariates_decides_as_isna_and_nunique(case):
    from gistcausal.stats.propensity import _check_covariates

    df = _mixed_frame(60)
    t = df["t"].to_numpy(float)
    if case == "nan_numeric":
        df.loc[[2, 7], "x"] = np.nan
    elif case == "none_text":
        df.loc[4, "txt"] = None
    elif case == "nan_text":
        df.loc[[1, 4, 9], "txt"] = np.nan
    elif case == "nan_category":
        df.loc[5, "cat"] = np.nan
    elif case == "constant_text":
        df["txt"] = "same"
    elif case == "constant_category_with_unused":
        df["cat"] = pd.Categorical(["a"] * len(df), categories=["a", "b"])
    elif case == "constant_numeric":
        df["x"] = 1.5
    elif case == "binary_constant_in_arm":
        df["flag"] = np.where(t == 1, 1, df["flag"])
    elif case == "numeric_constant_in_treated":
        df.loc[t == 1, "x"] = 2.0
    elif case == "numeric_constant_in_control":
        df.loc[t == 0, "pos"] = 0.5
    cols = ["x", "pos", "cat", "txt", "flag"]
    expected = _old_check_covariates(df, cols, t)
    assert (expected is None) == (case == "clean" or case == "binary_constant_in_arm")
    if expected is None:
        _check_covariates(df, cols, t)
        return
    with pytest.raises(DataError) as err:
        _check_covariates(df, cols, t)
    got = str(err.value)
    if expected.startswith("missing"):
        assert f"has {expected.split()[1]} missing values" in got
    elif expected == "constant":
        assert "is constant (got 1 distinct value)" in got
    else:
        assert f"is constant within arm '{expected.split()[-1]}'" in got


def test_boosting_predict_thread_limit_keeps_the_fold_average(confounded, monkeypatch):
    """predict() of a cross-fitted learner runs its fold models with _learner_threads (one OpenMP thread below
    50,000 rows, issue 17) and returns the plain average of the fold models' scores, whatever the thread count."""
    from threadpoolctl import threadpool_info

    import gistcausal.stats.propensity as pm

    df, _ = confounded
    model = PropensityModel(method="boosting", covariates=["x1", "x2", "x3"], n_folds=3, random_state=7)
    model.fit(df, treatment_col="t")
    X = model.design_matrix(df)[:, 1:]
    plain = np.mean([m.predict_proba(X)[:, 1] for m in model._fold_models], axis=0)
    np.testing.assert_array_equal(model.predict(df), plain)
    assert pm._learner_threads(49_999) == 1 and pm._learner_threads(50_000) is None
    seen = []
    real = pm._learner_threads
    monkeypatch.setattr(pm, "_learner_threads", lambda n: seen.append(n) or real(n))
    monkeypatch.setattr(type(model._fold_models[0]), "predict_proba", lambda self, Z: seen.append(
        [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]) or np.full((len(Z), 2), 0.5))
    model.predict(df)
    assert seen[0] == len(df) and all(t == [1] for t in seen[1:]) and len(seen) == 4


# ------------------------------------------------------------------------------- issue 17: replicate fast paths
def test_issue_17_warm_start_gives_the_same_fit_in_fewer_steps(rot_model, rotterdam):
    """beta0 (a previous fit's coefficients, by design column) only moves the start of the Newton iteration."""
    start = rot_model.result_.coefficients.set_index("term")["coef"]
    boot = rotterdam.sample(frac=1.0, replace=True, random_state=3)
    cold = PropensityModel(covariates=COVS).fit(boot, treatment_col="hormon")
    warm = PropensityModel(covariates=COVS).fit(boot, treatment_col="hormon", beta0=start)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(warm.training_scores(), cold.training_scores(), rtol=1e-10, atol=1e-14)
    assert warm.result_.n_iter < cold.result_.n_iter
    # coefficients that do not name the design's columns (a resample that lost a level) are not used
    other = start.rename(index={start.index[-1]: "no such column"})
    ignored = PropensityModel(covariates=COVS).fit(boot, treatment_col="hormon", beta0=other)
    np.testing.assert_array_equal(ignored.coef_, cold.coef_)
    assert ignored.result_.n_iter == cold.result_.n_iter


def test_issue_17_column_rank_is_matrix_rank():
    """The Gram-eigenvalue certificate of full rank never disagrees with np.linalg.matrix_rank (full rank, exactly
    and nearly collinear columns, badly scaled columns, rare indicators)."""
    from gistcausal.stats.propensity import _column_rank

    rng = np.random.default_rng(17)
    seen = set()
    for k in range(300):
        n, p = int(rng.integers(5, 2000)), int(rng.integers(2, 10))
        X = np.c_[np.ones(n), rng.normal(size=(n, p - 1)) * 10 ** rng.uniform(-3, 3, p - 1)]
        if k % 3 == 1 and p > 2:
            X[:, -1] = 2 * X[:, 1] + X[:, 0] + rng.normal(size=n) * 10 ** rng.uniform(-16, -4)
        if k % 3 == 2 and p > 2:
            X[:, -1] = (rng.random(n) < 0.003).astype(float)
        rank = int(np.linalg.matrix_rank(X))
        assert _column_rank(X) == rank
        seen.add(rank == p)
    assert seen == {True, False}


def _factorize_check(c, s, arms):
    """The hash-based check of a numeric column that _check_numeric_covariate replaces (the message heads)."""
    codes, uniques = pd.factorize(s)
    if np.count_nonzero(codes < 0):
        return "missing"
    if len(uniques) < 2:
        return "constant"
    if len(uniques) > 2:
        for arm, mask in arms:
            if np.count_nonzero(np.bincount(codes[mask], minlength=len(uniques))) < 2:
                return f"constant within {arm}"
    return None


@pytest.mark.parametrize("case", ["ok", "nan", "constant", "binary_constant_in_arm", "constant_in_treated",
                                  "constant_in_control", "int", "int_constant_in_arm", "three_values"])
def test_issue_17_numeric_covariate_check_equals_the_factorize_check(case):
    from gistcausal.stats.propensity import _check_numeric_covariate

    rng = np.random.default_rng(1)
    t = np.r_[np.ones(30), np.zeros(40)].astype(int)
    x = rng.normal(size=70)
    if case == "nan":
        x[[3, 50]] = np.nan
    elif case == "constant":
        x[:] = 2.5
    elif case == "binary_constant_in_arm":
        x = np.where(t == 1, 1.0, rng.integers(0, 2, 70).astype(float))
    elif case == "constant_in_treated":
        x[t == 1] = 0.5
    elif case == "constant_in_control":
        x[t == 0] = -1.0
    elif case == "int":
        x = rng.integers(0, 5, 70)
    elif case == "int_constant_in_arm":
        x = np.where(t == 0, 3, rng.integers(0, 5, 70))
    elif case == "three_values":
        x = np.where(t == 1, 0.0, rng.choice([0.0, 1.0, 2.0], 70))
    arms = (("treated", t == 1), ("control", t == 0))
    expected = _factorize_check("x", pd.Series(x), arms)
    try:
        _check_numeric_covariate("x", x, arms, len(x))
        got = None
    except DataError as err:
        msg = str(err)
        got = ("missing" if "missing values" in msg else "constant within treated" if "arm 'treated'" in msg
               else "constant within control" if "arm 'control'" in msg else "constant")
    assert got == expected


@pytest.mark.parametrize("terms", [
    {"covariates": COVS},
    {"covariates": COVS, "interactions": [("age", "meno"), ("nodes", "size"), ("size", "grade_txt")]},
    {"covariates": ["size", "grade_txt", "er"], "splines": {"age": 3, "nodes": {"kind": "bs", "knots": (2, 5)}},
     "interactions": [("size", "grade_txt")]},
])
def test_issue_17_design_matrix_equals_stacked_blocks(rotterdam, terms):
    """Design.matrix writes the columns into one matrix; the result is exactly the blocks of Factor.evaluate
    stacked (the former construction), for categorical (category and text) main effects, splines and
    interactions."""
    from gistcausal.stats.design_matrix import _row_products, build_design

    df = rotterdam.assign(grade_txt=rotterdam["grade"].map({2: "two", 3: "three"}))
    terms = {**terms, "covariates": [*terms["covariates"], "grade_txt"]}
    design = build_design(df, **terms)
    blocks = [np.ones((len(df), 1))]
    for term in design.terms:
        blocks.append(_row_products([design.factors[i].evaluate(df[design.factors[i].column], reduced=r, where="t")
                                     for i, r in zip(term.factors, term.reduced)]))
    np.testing.assert_array_equal(design.matrix(df), np.hstack(blocks))
    np.testing.assert_array_equal(design.matrix(df.sample(frac=1.0, random_state=1), check_missing=False),
                                  np.hstack(blocks)[df.sample(frac=1.0, random_state=1).index.to_numpy()])


def test_issue_17_score_summary_quantiles_equal_one_call_each():
    from gistcausal.stats.propensity import _score_summary

    rng = np.random.default_rng(4)
    for n1, n0 in ((1, 2), (5, 8), (301, 1200)):
        t = np.r_[np.ones(n1), np.zeros(n0)]
        scores = rng.random(n1 + n0)
        got = _score_summary(scores, t).set_index("arm")
        for arm, m in (("treated", t == 1), ("control", t == 0)):
            for col, q in (("p01", 0.01), ("q1", 0.25), ("q3", 0.75), ("p99", 0.99)):
                assert got.loc[arm, col] == float(np.quantile(scores[m], q))


def test_issue_17_fit_without_diagnostics_is_the_same_fit(rot_model, rotterdam):
    """diagnostics=False (plasmode replicates) skips the c-statistic, score summary and the coefficients'
    covariance; coefficients, scores, iterations, log-likelihood and warnings are those of the full fit."""
    lean = PropensityModel(covariates=COVS).fit(rotterdam, treatment_col="hormon", diagnostics=False)
    full = rot_model.result_
    np.testing.assert_array_equal(lean.coef_, rot_model.coef_)
    np.testing.assert_array_equal(lean.training_scores(), rot_model.training_scores())
    r = lean.result_
    assert (r.n_iter, r.loglik, r.converged, r.warnings) == (full.n_iter, full.loglik, full.converged, full.warnings)
    assert math.isnan(r.c_statistic) and not math.isnan(full.c_statistic)
    assert r.score_summary.empty and list(r.score_summary.columns) == list(full.score_summary.columns)
    pd.testing.assert_series_equal(r.coefficients["coef"], full.coefficients["coef"])
    assert r.coefficients[["se", "z", "p", "ci_low", "ci_high"]].isna().all().all()
    assert full.coefficients["se"].notna().all()


def test_issue_17_column_major_design_gives_the_same_fit(rotterdam):
    """fit builds its design column-major (faster Newton steps): the same coefficients as the row-major design,
    to rounding (a different summation order in BLAS)."""
    from gistcausal.stats.logistic import logistic_newton

    model = PropensityModel(covariates=COVS).fit(rotterdam, treatment_col="hormon")
    X = model.design_matrix(rotterdam)
    assert X.flags.c_contiguous
    XF = model.design_.matrix(rotterdam, order="F")
    assert XF.flags.f_contiguous
    np.testing.assert_array_equal(XF, X)
    y = rotterdam["hormon"].to_numpy(float)
    coef_c, it_c = logistic_newton(X, y)
    coef_f, it_f = logistic_newton(XF, y)
    assert it_c == it_f == model.result_.n_iter
    np.testing.assert_allclose(coef_f, coef_c, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(model.coef_, coef_c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("late", [False, True])
def test_issue_17_numeric_checks_beyond_the_first_rows(late):
    """_check_numeric_covariate looks at the first rows first: a column constant within an arm over all its rows
    (more than 1024 of them) is still refused, and one whose arm varies only after the first rows, or whose
    third distinct value comes late, is accepted (the same decisions as the full pass)."""
    from gistcausal.stats.propensity import _PREFIX, _check_numeric_covariate

    n = 3 * _PREFIX
    t = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    rng = np.random.default_rng(17)
    t = t[rng.permutation(n)]
    x = np.where(t == 1, rng.normal(size=n), 5.0)      # control constant on every row
    arms = (("treated", t == 1), ("control", t == 0))
    if late:
        x[np.flatnonzero(t == 0)[-1]] = 6.0               # control varies, but only in its last row
        _check_numeric_covariate("x", x, arms, n)
    else:
        with pytest.raises(DataError, match="constant within arm 'control'"):
            _check_numeric_covariate("x", x, arms, n)
    # the third distinct value (0.5) only after the first rows: the arm check still runs; control is all 0
    y = (t == 1).astype(float)
    y[(np.arange(n) >= 2 * _PREFIX) & (t == 1)] = 0.5
    if late:
        y[np.flatnonzero(t == 0)[-1]] = 0.5
        _check_numeric_covariate("y", y, arms, n)
    else:
        with pytest.raises(DataError, match="constant within arm 'control'"):
            _check_numeric_covariate("y", y, arms, n)


@pytest.mark.parametrize("method, fix", [
    ("firth", "Simplify the model: fewer covariates, or merge sparse levels."),
    ("logistic", "Simplify the model or use the Firth model (analysis.propensity.method: firth).")])
def test_non_convergence_advice_fits_the_method(monkeypatch, method, fix):
    """A Firth fit that did not converge was told to use the Firth model."""
    import dataclasses

    from gistcausal.errors import ConvergenceWarning
    from gistcausal.stats import propensity as P

    real = P._fit_parametric
    monkeypatch.setattr(P, "_fit_parametric", lambda *a, **k: dataclasses.replace(real(*a, **k), converged=False))
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=200)})
    df["t"] = (rng.random(200) < special.expit(df["x"])).astype(int)
    with pytest.warns(ConvergenceWarning) as rec:
        PropensityModel(covariates=["x"], method=method).fit(df, treatment_col="t")
    text = " ".join(str(w.message) for w in rec if issubclass(w.category, ConvergenceWarning))
    assert f"PropensityModel.fit: {method} fit did not converge (got" in text and text.endswith(fix)
