"""Write the analysis cohort of the default config on the default synthetic registry as CSV, the input of
make_study.R: outcomes, treatment, the propensity covariates, and the run's propensity scores and stabilized
ATE weights (so that R's glm and weighted survival can be compared with them).
Run from the repository root: .venv/bin/python tests/reference/study/make_input.py"""
from pathlib import Path

from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import load_config
from gistcausal.design.data import load_data
from gistcausal.analysis.iptw import configured_weights, fit_propensity

here = Path(__file__).parent
cfg = load_config(here.parents[2] / "configs" / "gist_second_line.yaml")
co = build_cohort(cfg, load_data(cfg))
f = co.frame
_, ps = fit_propensity(cfg, f)
w = configured_weights(cfg, ps, f["treatment"].to_numpy(int), estimand="ATE").weights
ps_covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
cols = ["arm", "treatment", "pfs_time", "pfs_event", "os_time", "os_event", "os_from_diagnosis_time",
        "os_from_diagnosis_event", "sunitinib_failure_time", *ps_covs]
out = f[cols].assign(ps=ps, w_ate=w)
out.to_csv(here / "study_cohort.csv", index=False, float_format="%.12g")
print(f"wrote {len(out)} rows; propensity covariates: {', '.join(ps_covs)}")
