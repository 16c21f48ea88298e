"""Write nhefs.csv (the NHEFS columns the binary/continuous-outcome tests need) beside this script.

Source: the NHEFS data of Hernan & Robins, *Causal Inference: What If* (2020), as shipped in the PyPI
package causallib 0.10.0 (file ``causallib/datasets/data/nhefs/NHEFS.csv`` inside
``causallib-0.10.0-py3-none-any.whl``; ``pip download causallib==0.10.0 --no-deps`` and unzip). causallib is
not a dependency of gistcausal; this script was run once and nhefs.csv is stored.

Run from the repository root:  python tests/reference/binary/make_input.py /path/to/NHEFS.csv

Rows: the book's ``nhefs.nmv`` (the 1,566 participants with wt82 recorded, program 12.1). Columns: the
treatment (qsmk), the outcomes (wt82_71, death), the propensity-model covariates of program 12.2, and
``seqn`` (the id geeglm clusters on).
"""
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["seqn", "qsmk", "wt82_71", "death", "sex", "race", "age", "education", "smokeintensity",
           "smokeyrs", "exercise", "active", "wt71"]

df = pd.read_csv(sys.argv[1])
df = df.loc[df["wt82"].notna(), COLUMNS]
df.to_csv(Path(__file__).with_name("nhefs.csv"), index=False)
print(f"wrote {len(df)} rows")
