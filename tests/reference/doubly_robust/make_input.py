"""Writes aiptw.csv, the input of make_doubly_robust.R (seeded; run from this folder with the project venv).

n = 400 patients, two continuous-ish covariates (x1 normal, x2 binary), treatment from a logistic model,
Weibull proportional-hazards event times whose covariate effects differ by arm, and censoring times whose
hazard depends on x1 within arm. Times are continuous (no ties), so Efron and Breslow coincide.
"""
from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20240501)
n = 400
x1 = rng.normal(size=n)
x2 = (rng.random(n) < 0.4).astype(int)
ps = 1 / (1 + np.exp(-(-0.2 + 0.7 * x1 - 0.5 * x2)))
a = (rng.random(n) < ps).astype(int)
lp = np.where(a == 1, -0.5 + 0.4 * x1 + 0.6 * x2, 0.8 * x1 + 0.3 * x2)
t_event = (rng.exponential(size=n) / (0.08 * np.exp(lp))) ** (1 / 1.3)
t_cens = rng.exponential(size=n) / (0.03 * np.exp(0.3 * x1 - 0.2 * a))
time = np.round(np.minimum(t_event, t_cens), 6)
event = (t_event <= t_cens).astype(int)
pd.DataFrame({"time": time, "event": event, "A": a, "x1": np.round(x1, 6), "x2": x2}).to_csv(
    Path(__file__).with_name("aiptw.csv"), index=False)
