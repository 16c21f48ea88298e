"""Fixtures of the presentation tests: the default run's output folder, written once per session."""
from __future__ import annotations

import pytest

from gistcausal.present.report import write_outputs


@pytest.fixture(scope="session")
def report_dir(default_results, tmp_path_factory):
    return write_outputs(default_results, tmp_path_factory.mktemp("out") / "gist_second_line")
