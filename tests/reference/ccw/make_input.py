"""Writes ccw_input.csv for make_ccw.R (run from the repository root:
.venv/bin/python tests/reference/ccw/make_input.py)."""
from pathlib import Path

from gistcausal.stats.ccw import CCWSimulation, simulate_ccw_data

df = simulate_ccw_data(300, random_state=8, settings=CCWSimulation(a_O=0.05))
df["x2"] = df["x"] ** 2
df.to_csv(Path(__file__).with_name("ccw_input.csv"), index=False, float_format="%.17g")
