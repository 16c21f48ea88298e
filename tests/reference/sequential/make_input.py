"""Writes sequential_trials.csv for make_sequential.R (run from the repository root:
.venv/bin/python tests/reference/sequential/make_input.py). Times rounded to 0.1 month to create ties."""
from pathlib import Path

from gistcausal.stats.sequential import expand_sequential_trials, simulate_sequential_data

pp = simulate_sequential_data(150, random_state=3)
ex = expand_sequential_trials(pp, id_col="id", period_col="month", eligible_col="eligible", treatment_col="treat",
                              time_col="time", event_col="event", covariates=["l"])
ex["time"] = (ex["time"] * 10).round() / 10
ex["w"] = 1 + 0.5 * (ex["id"] % 3)
ex.to_csv(Path(__file__).with_name("sequential_trials.csv"), index=False, float_format="%.17g")
