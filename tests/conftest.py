"""Shared fixtures. Expensive objects (the default synthetic registry, the default analysis) are built once
per session."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
CONFIGS = ROOT / "configs"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_config():
    from gistcausal.design.config import load_config

    return load_config(CONFIGS / "gist_second_line.yaml")


@pytest.fixture(scope="session")
def default_registry():
    from gistcausal.design.simulate import simulate_registry

    return simulate_registry()


@pytest.fixture(scope="session")
def default_cohort(default_config, default_registry):
    from gistcausal.design.cohort import build_cohort

    return build_cohort(default_config, default_registry)


@pytest.fixture(scope="session")
def default_results(default_config):
    from gistcausal.pipeline import run

    return run(default_config)


@pytest.fixture(scope="session")
def default_figures(default_results):
    from gistcausal.present.figures import build_figures

    return build_figures(default_results)
