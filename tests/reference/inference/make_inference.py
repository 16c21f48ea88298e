"""Reference values for the M-estimation variance: delicatessen's generic M-estimator on the stacked equations.

Writes ``inference.json`` beside ``mest_data.csv`` (the input). Run from the repository root:

    .venv/bin/python tests/reference/inference/make_inference.py

The stacked estimating equations are written here *independently* of gistcausal.inference.mestimation, in the textbook
Z-estimator form, and delicatessen (``MEstimator``, central-difference numerical derivatives of the bread)
computes the sandwich A^-1 B A^-T:

* propensity model: psi_gamma = X_i (A_i - expit(X_i gamma)); stabilized ATE adds psi_p = A_i - p1;
* weighted Kaplan-Meier per arm a through its hazard increments at each event time t_k <= horizon:
  psi_{a,k} = 1[A_i = a] w_i(gamma) {dN_i(t_k) - Y_i(t_k) h_{a,k}};
  then derived parameters S_a(L) = prod_{t_k <= L} (1 - h_{a,k}), S_1 - S_0, log(S_1/S_0),
  RMST_a(tau) = int_0^tau S_a, RMST_1 - RMST_0 (rows "theta - f(h)", zero at the root, as the delta method);
* IPTW Cox (tie-free times, so Breslow = Efron) in its Poisson / full-likelihood form with the baseline hazard
  increments lambda_k as nuisance parameters: psi_beta = w_i A_i sum_k {dN_i(t_k) - Y_i(t_k) e^{beta A_i}
  lambda_k}, psi_{lambda_k} = w_i {dN_i(t_k) - Y_i(t_k) e^{beta A_i} lambda_k}; profiling lambda out gives the
  Lin-Wei score residuals, so the sandwich is that of the weighted partial-likelihood score.

Weights: ATE (stabilized) 1/e, 1/(1-e) times p1, 1-p1; ATT 1, e/(1-e); ATO 1-e, e.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import delicatessen
import numpy as np
import pandas as pd
from delicatessen import MEstimator
from scipy.special import expit

HERE = Path(__file__).resolve().parent
LANDMARK, HORIZON = 8.0, 15.0
CASES = (("ATE", True), ("ATT", False), ("ATO", False))


def make_data(n: int = 150, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = (rng.random(n) < 0.4).astype(float)
    x2 = rng.normal(size=n)
    a = (rng.random(n) < expit(-0.3 + 0.8 * x1 + 0.5 * x2)).astype(float)
    t_event = rng.exponential(12 * np.exp(-0.4 * a + 0.5 * x1 - 0.3 * x2))
    censor = rng.uniform(5, 40, n)
    return pd.DataFrame({"x1": x1, "x2": x2, "treatment": a, "time": np.minimum(t_event, censor),
                         "event": (t_event <= censor).astype(float)})


def weights(e, a, estimand, p1=None):
    if estimand == "ATE":
        w = a / e + (1 - a) / (1 - e)
        return w if p1 is None else w * np.where(a == 1, p1, 1 - p1)
    if estimand == "ATT":
        return a + (1 - a) * e / (1 - e)
    return a * (1 - e) + (1 - a) * e   # ATO


def logistic_mle(X, a):
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        p = expit(X @ beta)
        step = np.linalg.solve((X * (p * (1 - p))[:, None]).T @ X, X.T @ (a - p))
        beta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    return beta


def km_case(X, a, t, d, estimand, stab):
    n, p = X.shape
    ev = [np.sort(t[(a == k) & (d == 1) & (t <= HORIZON)]) for k in (0, 1)]
    K = [len(v) for v in ev]
    dN = [((t[None, :] == tk[:, None]) & (d[None, :] == 1)).astype(float) for tk in ev]
    Y = [(t[None, :] >= tk[:, None]).astype(float) for tk in ev]

    def unpack(th):
        i = p + int(stab)
        g, p1 = th[:p], (th[p] if stab else None)
        h = [th[i:i + K[0]], th[i + K[0]:i + K[0] + K[1]]]
        return g, p1, h, th[i + K[0] + K[1]:]

    def derived(h):
        s = [np.prod(1 - h[k][ev[k] <= LANDMARK]) for k in (0, 1)]
        r = [np.sum(np.diff(np.r_[0.0, ev[k], HORIZON]) * np.r_[1.0, np.cumprod(1 - h[k])]) for k in (0, 1)]
        return np.array([s[0], s[1], s[1] - s[0], np.log(s[1] / s[0]), r[0], r[1], r[1] - r[0]])

    def psi(theta):
        th = np.asarray(theta, dtype=float)
        g, p1, h, der = unpack(th)
        e = expit(X @ g)
        w = weights(e, a, estimand, p1)
        rows = [X.T * (a - e)]
        if stab:
            rows.append((a - p1)[None, :])
        for k in (0, 1):
            rows.append((a == k) * w * (dN[k] - Y[k] * h[k][:, None]))
        rows.append(np.repeat((der - derived(h))[:, None], n, axis=1))
        return np.vstack(rows)

    g = logistic_mle(X, a)
    p1 = a.mean() if stab else None
    w = weights(expit(X @ g), a, estimand, p1)
    h = [np.array([np.sum(w * (a == k) * dN[k][j]) / np.sum(w * (a == k) * Y[k][j]) for j in range(K[k])])
         for k in (0, 1)]
    init = np.r_[g, [p1] if stab else [], h[0], h[1], derived(h)]
    m = MEstimator(psi, init=list(init))
    m.estimate(solver="lm", deriv_method="capprox", dx=1e-6)
    v = np.asarray(m.variance)
    return m.theta[-7:], np.sqrt(np.diag(v)[-7:])


def cox_case(X, a, t, d, estimand, stab):
    n, p = X.shape
    tk = np.sort(t[d == 1])
    dN = ((t[None, :] == tk[:, None]) & (d[None, :] == 1)).astype(float)
    Y = (t[None, :] >= tk[:, None]).astype(float)
    k0 = p + int(stab)

    def psi(theta):
        th = np.asarray(theta, dtype=float)
        g, p1, b, lam = th[:p], (th[p] if stab else None), th[k0], th[k0 + 1:]
        w = weights(expit(X @ g), a, estimand, p1)
        mart = dN - Y * np.exp(b * a)[None, :] * lam[:, None]
        rows = [X.T * (a - expit(X @ g))]
        if stab:
            rows.append((a - p1)[None, :])
        rows += [(w * a * mart.sum(0))[None, :], w * mart]
        return np.vstack(rows)

    g = logistic_mle(X, a)
    p1 = a.mean() if stab else None
    w = weights(expit(X @ g), a, estimand, p1)
    b = 0.0
    for _ in range(100):   # weighted Breslow partial likelihood, one binary covariate
        r = w * np.exp(b * a)
        s0 = (Y * r).sum(1)
        s1 = (Y * r * a).sum(1)
        wd = (dN * w).sum(1)
        score = np.sum(w * d * a) - np.sum(wd * s1 / s0)
        info = np.sum(wd * (s1 / s0) * (1 - s1 / s0))
        b += score / info
        if abs(score / info) < 1e-14:
            break
    lam = (dN * w).sum(1) / (Y * w * np.exp(b * a)).sum(1)
    m = MEstimator(psi, init=list(np.r_[g, [p1] if stab else [], b, lam]))
    m.estimate(solver="lm", deriv_method="capprox", dx=1e-6)
    return float(m.theta[k0]), float(np.sqrt(m.variance[k0, k0]))


def main() -> None:
    df = make_data()
    df.to_csv(HERE / "mest_data.csv", index=False, float_format="%.17g")
    df = pd.read_csv(HERE / "mest_data.csv")
    X = np.c_[np.ones(len(df)), df["x1"], df["x2"]]
    a, t, d = df["treatment"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy()
    names = ["surv_0", "surv_1", "surv_diff", "log_surv_ratio", "rmst_0", "rmst_1", "rmst_diff"]
    out = {"made_by": "tests/reference/inference/make_inference.py", "python": platform.python_version(),
           "delicatessen": delicatessen.__version__, "numpy": np.__version__, "landmark": LANDMARK,
           "horizon": HORIZON, "design": "intercept + x1 + x2", "cases": {}}
    for estimand, stab in CASES:
        est, se = km_case(X, a, t, d, estimand, stab)
        b, se_b = cox_case(X, a, t, d, estimand, stab)
        out["cases"][f"{estimand}{'_stabilized' if stab else ''}"] = {
            "estimand": estimand, "stabilize": stab,
            "estimate": dict(zip(names, map(float, est))) | {"log_hr": b},
            "se": dict(zip(names, map(float, se))) | {"log_hr": se_b}}
    (HERE / "inference.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
