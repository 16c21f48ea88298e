"""Tests of gistcausal._checks: the one estimand registry and its one checker, and the shared input checks."""
from __future__ import annotations

import re

import numpy as np
import pytest

from gistcausal._checks import (ESTIMANDS, FEATURES, check_alpha, check_estimand, check_random_state,
                                check_survival_inputs)
from gistcausal.errors import ConfigError, DataError


def test_registry_is_the_one_everyone_uses():
    """weights, balance and the doubly robust estimator read the same registry (no second definition)."""
    from gistcausal.stats import doubly_robust, weights

    assert weights.ESTIMANDS is ESTIMANDS and weights.check_estimand is check_estimand
    assert doubly_robust.ESTIMANDS == {"ATE": "all", "ATT": "treated", "ATC": "control"}
    for spec in ESTIMANDS.values():
        assert set(FEATURES) <= set(spec)


def test_unknown_estimand_message():
    with pytest.raises(ConfigError, match=re.escape(
            "f: estimand must be one of ['ATE', 'ATT', 'ATC', 'ATO', 'matching'] (got 'ate'). Pick one of these.")):
        check_estimand("ate", where="f")


@pytest.mark.parametrize("feature", list(FEATURES))
def test_unsupported_estimand_message_names_the_feature(feature):
    label, _ = FEATURES[feature]
    ok = [k for k, v in ESTIMANDS.items() if v[feature]]
    with pytest.raises(ConfigError, match=re.escape(f"f: estimand must be one of {ok} for {label} (got 'ATO').")):
        check_estimand("ATO", where="f", supported=feature)
    assert check_estimand("ATT", where="f", supported=feature) is ESTIMANDS["ATT"]


def test_stabilize_only_where_defined():
    with pytest.raises(ConfigError, match=re.escape(
            "f: stabilize=True is only defined for estimand ['ATE'] (got estimand='ATT'). Set stabilize=False; "
            "ATT weights need no stabilization.")):
        check_estimand("ATT", where="f", stabilize=True)
    assert check_estimand("ATE", where="f", stabilize=True)["stabilize_ok"]


def test_alpha_and_random_state():
    assert check_alpha(0.1, "f") == 0.1
    with pytest.raises(DataError, match=re.escape("f: `alpha` must be in (0, 1) (got 1.5). Use e.g. alpha=0.05.")):
        check_alpha(1.5, "f")
    assert check_random_state(None, "f") is None and check_random_state(np.int64(3), "f") == 3
    with pytest.raises(ConfigError, match=re.escape(
            "f: `random_state` must be None or an integer >= 0 (got -1). Use e.g. random_state=2024.")):
        check_random_state(-1, "f")


def test_survival_inputs_default_weights_and_message():
    t, e, w = check_survival_inputs([1, 2], [0, 1], None, "f")
    assert t.dtype == float and np.array_equal(w, [1.0, 1.0])
    with pytest.raises(DataError, match=re.escape("f: `event` must be 0 (censored) or 1 (event) (got 1 other")):
        check_survival_inputs([1, 2], [0, 2], None, "f")


def test_closest_is_the_one_suggestion_rule():
    """closest: a candidate equal but for case and spaces first, else the nearest spelling above the cutoff, compared
    without case; non-text candidates skipped; None when nothing is near (config keys, values, columns, codes)."""
    from gistcausal._checks import closest, loose

    assert loose("  Age  at  Diagnosis ") == "age at diagnosis"
    assert closest("age", [" Age ", "agent"]) == " Age "
    assert closest("intolerence", ["intolerance", "ongoing", "progression"]) == "intolerance"
    assert closest("Progresion", ["progression"]) == "progression"
    assert closest("xyz", ["intolerance", "ongoing"]) is None
    assert closest("dsk", ("local", "dask"), cutoff=0.5) == "dask"
    assert closest("1", [1, 2.0, None]) is None
    assert closest("treatmnt", ["treatment", "treatment_date"], cutoff=0.8) == "treatment"
