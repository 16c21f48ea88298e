"""Nearest-neighbour propensity-score matching against MatchIt, and the matched survival comparison against
R coxph(cluster = subclass). References made by tests/reference/matching/make_matching.R."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import ConfigError, ModelFitError
from gistcausal.stats.matching import match_nearest, matched_survival

from tests.conftest import REFERENCE

REF = json.loads((REFERENCE / "matching" / "matching.json").read_text())
DATA = pd.read_csv(REFERENCE / "matching" / "rotterdam.csv")


def _match(case: str):
    s = REF["cases"][case]["settings"]
    return match_nearest(DATA["ps"], DATA["hormon"], estimand=s["estimand"], ratio=s["ratio"], caliper=s["caliper"],
                         replace=s["replace"], exact=None if s["exact"] is None else DATA[[s["exact"]]])




@pytest.mark.parametrize("case", list(REF["cases"]))
def test_matched_sets_match_matchit(case):
    """R: matchit(hormon ~ age, data, method = "nearest", distance = qlogis(ps), estimand, ratio, caliper,
    replace, exact); match_matrix, weights identical (the weights determine who is matched; the pairs are checked
    through the subclasses)."""
    ref = REF["cases"][case]
    m = _match(case)
    assert m.weights == pytest.approx(np.asarray(ref["weights"]), abs=1e-12)
    assert m.n_matched == {"treated": ref["n_matched_treated"], "control": ref["n_matched_control"]}
    if ref["settings"]["caliper"] is not None:
        assert m.caliper == pytest.approx(ref["caliper_units"], abs=1e-12)
    mm = np.column_stack([np.asarray(c) for c in ref["match_matrix"]])   # 1-based, 0 = no match
    focal = np.flatnonzero(DATA["hormon"].to_numpy() == (1 if ref["settings"]["estimand"] == "ATT" else 0))
    if not ref["settings"]["replace"]:
        for r, i in enumerate(focal):
            got = mm[r][mm[r] > 0] - 1
            if got.size:
                assert set(np.flatnonzero(m.subclass == m.subclass[i])) == {i, *got}
            else:
                assert m.subclass[i] == -1


@pytest.mark.parametrize("case", list(REF["cases"]))
def test_matched_cox_cluster_se_matches_r(case):
    """R: coxph(Surv(time, event) ~ hormon, data = md, weights = weights, robust = TRUE, cluster = subclass)
    (with replacement: no cluster); KM of the matched sample at 24 and 60 months."""
    ref = REF["cases"][case]["effects"]
    m = _match(case)
    comp = matched_survival(DATA["time"], DATA["event"], DATA["hormon"], m, outcome="rfs",
                            arm_labels=("no hormon", "hormon"), landmarks=(24, 60), horizon=60)
    hr = comp.get("hr")
    assert np.log(hr.value) == pytest.approx(ref["coef"], abs=1e-6)
    assert hr.se == pytest.approx(ref["robust_se"], abs=1e-6)
    assert hr.method == "matching" and hr.estimand == REF["cases"][case]["settings"]["estimand"]
    surv = {(s, t): v for s, t, v in zip(ref["surv"]["strata"], ref["surv"]["time"], ref["surv"]["surv"])}
    for t in (24, 60):
        assert comp.get("surv", "hormon", t).value == pytest.approx(surv[("hormon=1", t)], abs=1e-6)
        assert comp.get("surv", "no hormon", t).value == pytest.approx(surv[("hormon=0", t)], abs=1e-6)


def test_to_dict_has_counts_not_ids():
    m = _match("nearest_1to1_caliper_narrow")
    d = m.to_dict()
    assert d["n_unmatched"] == {"treated": 339 - 287, "control": DATA.shape[0] - 339 - 287}
    assert "subclass" not in d and "weights" not in d
    assert "unmatched: 52 treated" in m.summary()
    assert m.warnings and m.warnings[0].startswith("match_nearest: 52 of 339 treated patients found no match")


def test_input_not_mutated_and_row_order_invariant():
    """Without ties in the distance the greedy order, hence the matched sets, do not depend on the row order
    (rotterdam has tied scores, where MatchIt's stable sort makes row order matter, so simulated data)."""
    rng = np.random.default_rng(3)
    ps = rng.uniform(0.05, 0.6, 400)
    a = (rng.uniform(size=400) < ps).astype(int)
    ps_copy = ps.copy()
    m = match_nearest(ps, a, caliper=0.2, ratio=2)
    assert np.array_equal(ps, ps_copy)
    perm = rng.permutation(ps.size)
    m2 = match_nearest(ps[perm], a[perm], caliper=0.2, ratio=2)
    assert np.allclose(m2.weights, m.weights[perm])


def test_errors_pinned():
    with pytest.raises(ConfigError, match=r"^match_nearest: estimand must be one of \['ATT', 'ATC'\] for "
                                          r"nearest-neighbour matching \(got 'ATE'\)\. Use estimand: ATT"):
        match_nearest(DATA["ps"], DATA["hormon"], estimand="ATE")
    with pytest.raises(ConfigError, match=r"^match_nearest: ratio must be an integer >= 1 \(got 0\)"):
        match_nearest(DATA["ps"], DATA["hormon"], ratio=0)
    ps = np.array([0.1, 0.2, 0.8, 0.9])
    with pytest.raises(ModelFitError, match=r"^match_nearest: no patient could be matched \(got 0 matched sets "
                                            r"of 2 treated patients\)\. Widen the caliper"):
        match_nearest(ps, [0, 0, 1, 1], exact=pd.Series(["a", "a", "b", "b"], name="site"))
