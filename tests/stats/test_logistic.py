"""logistic_newton's warm start: the same maximum in fewer Newton steps, and a failed warm start retried cold."""
import numpy as np
import pytest

from gistcausal.errors import SeparationError
from gistcausal.stats.logistic import logistic_newton


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
    beta, it = np.zeros(X.shape[1]), 0
    while True:
        it += 1
        m = 1 / (1 + np.exp(-X @ beta))
        step = np.linalg.solve((X * (m * (1 - m))[:, None]).T @ X, X.T @ (y - m))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    coef, n_iter = logistic_newton(X, y)
    assert n_iter == it
    np.testing.assert_allclose(coef, beta, rtol=1e-12, atol=1e-13)
