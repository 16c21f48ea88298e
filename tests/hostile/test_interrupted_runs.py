"""Ctrl-C during the analysis or while writing: exit 130, one line saying nothing was written, no traceback,
the previous report intact and no temporary folder left."""
from __future__ import annotations

from pathlib import Path

import pytest

import gistcausal.pipeline
import gistcausal.present.report as report

from .conftest import assert_clean_failure, invoke, no_partial_report, snapshot, write_study


@pytest.fixture()
def previous_report(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")
    return out


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_interrupt_during_analysis(tmp_path, monkeypatch, previous_report):
    cfg = write_study(tmp_path / "study")
    inputs = snapshot(tmp_path / "study")
    monkeypatch.setattr(gistcausal.pipeline, "run", _interrupt)
    r = invoke("run", cfg, "--out", previous_report, "-q")
    assert_clean_failure(r, 130, "interrupted nothing was written; a previous report is intact")
    assert (previous_report / "report.html").read_text() == "previous report"
    assert snapshot(tmp_path / "study") == inputs


def test_interrupt_while_writing(tmp_path, monkeypatch, previous_report):
    """A real analysis, interrupted after half the files are written."""
    cfg = write_study(tmp_path / "study")

    def writer(results, tmp, **kw):
        (tmp / "results.json").write_text("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_write_into", writer)
    r = invoke("run", cfg, "--out", previous_report, "-q")
    assert_clean_failure(r, 130, "interrupted")
    assert sorted(p.name for p in previous_report.iterdir()) == ["report.html"]
    assert no_partial_report(previous_report)


def test_interrupt_during_validate(tmp_path, monkeypatch):
    import gistcausal.design.data

    cfg = write_study(tmp_path / "study")
    monkeypatch.setattr(gistcausal.design.data, "load_data", _interrupt)
    assert_clean_failure(invoke("validate", cfg), 130, "interrupted")
