"""Write examples/rossi.csv: the Rossi et al. (1980) recidivism data shipped with lifelines (432 released
prisoners followed for 52 weeks; ``fin`` = financial aid, the treatment, randomized in the original trial;
``week`` of first arrest, ``arrest`` = 1 if re-arrested; age, race, work experience, marital status,
parole and number of prior convictions).

The config configs/rossi.yaml was written from this file, unchanged, by

    gistcausal init --data examples/rossi.csv --treatment fin --time week --event arrest \\
        --out configs/rossi.yaml --yes

Run: python examples/make_rossi.py
"""
from __future__ import annotations

from pathlib import Path

from lifelines.datasets import load_rossi

OUT = Path(__file__).with_name("rossi.csv")


def main() -> None:
    load_rossi().to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
