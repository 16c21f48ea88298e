"""Shared helpers of the hostile-input catalogue: a small analysis-ready study, the real CLI in-process,
and the assertions every case makes (exit code, place and fix named, no traceback, inputs unchanged, no
partial report)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gistcausal.cli import app

STUDY = """\
name: hostile
data:
  source: csv
  path: data.csv
table:
  treatment:
    column: trt
    arms: {drug: [1], control: [0]}
    treated: drug
  outcomes:
    os: {label: Overall survival, time_col: time, event_col: event}
covariates:
  age: {type: continuous}
  sex: {type: categorical}
analysis:
  study_replication: true
  sensitivity: {evalues: false, tipping_point: false, specification_grid: false, refutation: {enabled: false}}
output:
  formats: [csv]
  small_cell_threshold: 0
"""


def table_data(n: int = 80, seed: int = 7) -> pd.DataFrame:
    """A small analysis-ready table: treatment, time, event, age, sex (seeded)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n).round(1)
    trt = rng.binomial(1, 0.5, n)
    time = rng.exponential(24, n).round(2) + 0.5
    event = rng.binomial(1, 0.7, n)
    sex = rng.choice(["female", "male"], n)
    return pd.DataFrame({"pid": [f"P{i:04d}" for i in range(n)], "trt": trt, "time": time, "event": event,
                         "age": age, "sex": sex})


def write_study(folder: Path, *, yaml_text: str = STUDY, data: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (data if data is not None else table_data()).to_csv(folder / "data.csv", index=False)
    cfg = folder / "study.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    return cfg


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` (inputs must be unchanged by any failure)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_failure(result, exit_code: int, *needles: str) -> str:
    """The command failed with ``exit_code``, named each needle (place, fix), and showed no traceback."""
    out = result.output
    assert result.exit_code == exit_code, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out
    flat = " ".join(out.split())
    for n in needles:
        assert " ".join(n.split()) in flat, f"{n!r} not in {out!r}"
    return flat


def no_partial_report(folder: Path) -> bool:
    """No temporary or half-written output folder is left next to ``folder``."""
    parent = folder.parent
    return not any(p.name.startswith(f".{folder.name}.tmp-") or p.name.startswith(f".{folder.name}.old-")
                   for p in parent.iterdir()) if parent.exists() else True


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "study")
