"""logistic_newton's warm start: the same maximum in fewer Newton steps, and a failed warm start retried cold."""
import numpy as np
import pytest

from gistcausal.errors import SeparationError
from gistcausal.stats.logistic import logistic_newton, quadratic_stop


def _data(n=5000, seed=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3)), rng.integers(0, 2, n)])
    beta = np.array([-0.4, 0.8, -0.5, 0.3, 1.0])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ beta))).astype(float)
    return X, y


def test_warm_start_same_maximum_fewer_steps():
    X, y = _data()
    cold, it_cold = logistic_newton(X, y)
    idx = np.random.default_rng(9).integers(0, len(y), len(y))   # a bootstrap resample, started at the full fit
    ref, it_ref = logistic_newton(X[idx], y[idx])
    warm, it_warm = logistic_newton(X[idx], y[idx], beta0=cold)
    np.testing.assert_allclose(warm, ref, rtol=0, atol=1e-10)
    assert it_warm < it_ref


def test_bad_warm_start_falls_back_to_zeros():
    X, y = _data()
    ref, _ = logistic_newton(X, y)
    got, _ = logistic_newton(X, y, beta0=np.full(X.shape[1], 40.0))   # saturated start: singular information
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_separation_still_raised_with_warm_start():
    X, _ = _data(n=200)
    y = (X[:, 1] > 0).astype(float)      # complete separation
    with pytest.raises(SeparationError):
        logistic_newton(X, y, beta0=np.zeros(X.shape[1]) + 0.1)


@pytest.mark.parametrize("order", ["C", "F"])
def test_issue_17_information_by_syrk_equals_the_weighted_gram(order):
    """_information (BLAS syrk of W^1/2 X, upper triangle) equals (X * w).T @ X to rounding, for row- and
    column-major X, and Newton on either layout gives the same maximum in the same steps."""
    from gistcausal.stats.logistic import _information

    X, y = _data()
    X = np.asarray(X, order=order)
    mu = 1 / (1 + np.exp(-X @ np.array([-0.3, 0.7, -0.4, 0.2, 0.9])))
    ref = (X * (mu * (1 - mu))[:, None]).T @ X
    got = _information(X, mu)
    iu = np.triu_indices(X.shape[1])
    np.testing.assert_allclose(got[iu], ref[iu], rtol=1e-13, atol=0)
    # the old step: information (X * w).T @ X, Cholesky-solved; the same maximum and iteration count
    beta, it, previous = np.zeros(X.shape[1]), 0, 0.0
    while True:
        it += 1
        m = 1 / (1 + np.exp(-X @ beta))
        step = np.linalg.solve((X * (m * (1 - m))[:, None]).T @ X, X.T @ (y - m))
        beta = beta + step
        if quadratic_stop(float(np.max(np.abs(step))), previous, 1e-10):
            break
        previous = float(np.max(np.abs(step)))
    coef, n_iter = logistic_newton(X, y)
    assert n_iter == it
    np.testing.assert_allclose(coef, beta, rtol=1e-12, atol=1e-13)


def _steps_to_tol(X, y, beta, tol=1e-10):
    """Newton from ``beta`` until a step is below ``tol`` (the rule before issue 17): coefficients, iterations."""
    it = 0
    while True:
        it += 1
        m = 1 / (1 + np.exp(-X @ beta))
        step = np.linalg.solve((X * (m * (1 - m))[:, None]).T @ X, X.T @ (y - m))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            return beta, it


def test_issue_17_quadratic_stop_skips_only_the_confirming_step():
    """quadratic_stop ends a fit one step before the rule 'step < tol' when the next step is predicted far below
    tol: the same coefficients to 1e-12, one Newton step fewer, cold or warm-started (a resample)."""
    X, y = _data(n=20000)
    ref, it_ref = _steps_to_tol(X, y, np.zeros(X.shape[1]))
    got, it = logistic_newton(X, y)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert it == it_ref - 1
    idx = np.random.default_rng(4).integers(0, len(y), len(y))
    ref_w, it_ref_w = _steps_to_tol(X[idx], y[idx], ref.copy())
    got_w, it_w = logistic_newton(X[idx], y[idx], beta0=ref)
    np.testing.assert_allclose(got_w, ref_w, rtol=0, atol=1e-12)
    assert it_w == it_ref_w - 1


def test_quadratic_stop_rule():
    """The step below tol stops; a small step stops only when the last two steps show quadratic convergence
    (not the first step, nor steps that shrink linearly, as on the way to separation)."""
    assert quadratic_stop(5e-11, 0.0, 1e-10)
    assert quadratic_stop(1e-10 * 1.01, 1.4e-5, 1e-10)        # next step predicted ~5e-21
    assert not quadratic_stop(1.4e-5, 2.2e-2, 1e-10)          # above the quadratic regime's 1e-5
    assert not quadratic_stop(9.2e-6, 4.2e-2, 1e-10)          # predicted 4e-13: not far enough below tol
    assert not quadratic_stop(1e-9, 0.0, 1e-10)               # no step before: nothing to predict from
    assert not quadratic_stop(1e-6, 2e-6, 1e-10)              # linear shrinking: predicted 2.5e-7


def test_log1pexp_is_logaddexp_without_overflow():
    """log1pexp(eta) = log(1 + e^eta) = np.logaddexp(0, eta) to 1 ulp, for large |eta| too (no overflow to inf)."""
    from gistcausal.stats.logistic import log1pexp

    eta = np.concatenate([np.linspace(-40, 40, 10001), [-800.0, 800.0, 0.0]])
    np.testing.assert_allclose(log1pexp(eta), np.logaddexp(0.0, eta), rtol=4e-16, atol=0)
    assert log1pexp(np.array([800.0]))[0] == 800.0 and log1pexp(np.array([-800.0]))[0] == 0.0
