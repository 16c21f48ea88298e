"""Resampling indices for tests/reference/multiarm/make_multiarm_boot.R (the K-arm bootstrap's replicates against R).

Run from the repository root, before the R script:  python tests/reference/multiarm/make_multiarm_boot_indices.py
Writes boot_indices.csv beside this file: one column per replicate (r1, r2, ...), one row per position, holding
1-based row numbers of colon.csv. They are the stratified (within-arm) resamples of
gistcausal.inference.multiarm_bootstrap.draw_within_arms for SeedSequence(2026).spawn(...), keeping the first
five in which every 0/1 design column varies within every arm (so the multinomial MLE exists on both sides).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gistcausal.inference.multiarm_bootstrap import draw_within_arms, multiarm_problem

HERE = Path(__file__).parent
ARMS = ["Obs", "Lev", "Lev+5FU"]
COVS = ["age", "sex", "obstruct", "nodes", "extent"]

df = pd.read_csv(HERE / "colon.csv")
p = multiarm_problem(df, treatment_col="rx", time_col="time", event_col="status", covariates=COVS, arms=ARMS)
binary = np.all((p.X == 0) | (p.X == 1), axis=0)
binary[0] = False
cols = {}
for seed in np.random.SeedSequence(2026).spawn(50):
    idx = draw_within_arms(p.codes, seed)
    X, c = p.X[idx][:, binary], p.codes[idx]
    ones = np.stack([X[c == a].sum(axis=0) for a in range(len(ARMS))])
    if np.all((ones > 0) & (ones < np.bincount(c)[:, None])):
        cols[f"r{len(cols) + 1}"] = idx + 1
    if len(cols) == 5:
        break
pd.DataFrame(cols).to_csv(HERE / "boot_indices.csv", index=False)
