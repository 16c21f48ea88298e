"""Write point.csv: a binary and a continuous outcome with the plasmode outcome-model design, for make_point.R.

Run from the repository root:  .venv/bin/python tests/reference/plasmode/make_point_input.py
The rows are synthetic (numpy seed 1818), never real patients. The design columns (treatment, then z2.. from
gistcausal.analysis.plasmode_models._design: a standardized continuous covariate, dummies of a three-level
category against its most frequent level, a binary covariate) are what the plasmode fits its outcome models on.
"""
import numpy as np
import pandas as pd

from gistcausal.analysis.plasmode_models import _design

rng = np.random.default_rng(1818)
n = 400
f = pd.DataFrame({"age": rng.normal(60, 10, n), "stage": rng.choice(["I", "II", "III"], n, p=[0.5, 0.3, 0.2]),
                  "sex": rng.binomial(1, 0.45, n)})
a = rng.binomial(1, 0.4, n).astype(float)
z, names = _design(f, ["age", "stage", "sex"], "make_point_input")
eta = -0.4 + 0.6 * a + z @ np.array([0.5, 0.7, -0.4, 0.3])
out = pd.DataFrame(np.column_stack([a, z]), columns=[f"z{j + 1}" for j in range(1 + z.shape[1])])
out.insert(0, "y_cont", 20 + 3 * a + z @ np.array([2.0, 1.5, -1.0, 0.8]) + rng.normal(0, 4, n))
out.insert(0, "y_bin", rng.binomial(1, 1 / (1 + np.exp(-eta))))
out.to_csv("tests/reference/plasmode/point.csv", index=False, float_format="%.17g")
print(out.shape, ("treatment", *names))
