"""Write the analysis cohort of the default config on the default synthetic registry as CSV, the input of
make_study.R. Run from the repository root: .venv/bin/python tests/reference/study/make_input.py"""
from pathlib import Path

from gistcausal.cohort import build_cohort
from gistcausal.config import load_config
from gistcausal.data import load_data

here = Path(__file__).parent
cfg = load_config(here.parents[2] / "configs" / "gist_second_line.yaml")
co = build_cohort(cfg, load_data(cfg))
cols = ["arm", "treatment", "pfs_time", "pfs_event", "os_time", "os_event", "os_from_diagnosis_time",
        "os_from_diagnosis_event", "sunitinib_failure_time"]
co.frame[cols].to_csv(here / "study_cohort.csv", index=False, float_format="%.10g")
print(f"wrote {len(co.frame)} rows")
