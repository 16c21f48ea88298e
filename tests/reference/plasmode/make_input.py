"""Write weibull.csv: the outcome-model design of the default synthetic cohort (PFS), for make_plasmode.R.

Run from the repository root:  .venv/bin/python tests/reference/plasmode/make_input.py
The rows are synthetic (gistcausal.design.simulate, seed 20201), never real patients.
"""
import numpy as np
import pandas as pd

from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import load_config
from gistcausal.design.data import load_data
from gistcausal.analysis.plasmode import _design

cfg = load_config("configs/gist_second_line.yaml")
f = build_cohort(cfg, load_data(cfg)).frame
covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
z, names = _design(f, covs, "make_input")
out = pd.DataFrame(np.column_stack([f["treatment"].to_numpy(float), z]),
                   columns=[f"z{j + 1}" for j in range(1 + z.shape[1])])
out.insert(0, "event", f["pfs_event"].to_numpy(int))
out.insert(0, "time", f["pfs_time"].to_numpy(float))
out.to_csv("tests/reference/plasmode/weibull.csv", index=False, float_format="%.17g")
print(out.shape, ("treatment", *names))
