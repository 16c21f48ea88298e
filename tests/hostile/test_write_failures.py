"""Output folders that cannot be written (read-only, not a folder, disk full): exit 6 with the path and the fix,
no traceback, the previous report intact, no temporary folder left behind."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

import gistcausal.pipeline
import gistcausal.present.report as report

from .conftest import assert_clean_failure, invoke, no_partial_report, snapshot, write_study


@pytest.fixture(scope="module")
def small_results(tmp_path_factory):
    """The small study analysed once by the real pipeline (the write-failure cases then reuse it)."""
    from gistcausal.design.config import load_config

    cfg = write_study(tmp_path_factory.mktemp("results") / "study")
    return gistcausal.pipeline.run(load_config(cfg))


@pytest.fixture()
def previous_report(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")
    return out


def _fail_after_some_files(code: int):
    original = report._write_into

    def writer(results, tmp, **kw):
        (tmp / "results.json").write_text("{")  # half written, then the disk fails
        raise OSError(code, __import__("os").strerror(code))

    return original, writer


def test_issue_secure2_disk_full_keeps_previous_report(tmp_path, monkeypatch, previous_report):
    """A real run whose writer hits ENOSPC."""
    cfg = write_study(tmp_path / "study")
    inputs = snapshot(tmp_path / "study")
    _, writer = _fail_after_some_files(errno.ENOSPC)
    monkeypatch.setattr(report, "_write_into", writer)
    r = invoke("run", cfg, "--out", previous_report, "-q")
    assert_clean_failure(r, 6, f"{previous_report}: cannot write the report (got ENOSPC: No space left on device)",
                         "Free disk space, or write elsewhere with `--out OTHER_FOLDER`",
                         "a previous version there is intact")
    assert (previous_report / "report.html").read_text() == "previous report"
    assert sorted(p.name for p in previous_report.iterdir()) == ["report.html"]
    assert no_partial_report(previous_report)
    assert snapshot(tmp_path / "study") == inputs


@pytest.mark.parametrize("code, fix", [
    (errno.EROFS, "Choose a writable folder with `--out OTHER_FOLDER`"),
    (errno.EACCES, "Choose a writable folder with `--out OTHER_FOLDER`"),
    (errno.EIO, "Check the folder and the disk"),
])
def test_unwritable_folder(tmp_path, monkeypatch, previous_report, small_results, code, fix):
    cfg = write_study(tmp_path / "study")
    monkeypatch.setattr(gistcausal.pipeline, "run", lambda *a, **k: small_results)
    monkeypatch.setattr(report, "_write_into", _fail_after_some_files(code)[1])
    r = invoke("run", cfg, "--out", previous_report, "-q")
    assert_clean_failure(r, 6, f"{previous_report}: cannot write the report", fix)
    assert (previous_report / "report.html").read_text() == "previous report"
    assert no_partial_report(previous_report)


def test_output_path_under_a_file(tmp_path, monkeypatch, small_results):
    """No monkeypatched writer: the folder's parent is a file, so mkdir itself fails."""
    cfg = write_study(tmp_path / "study")
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(gistcausal.pipeline, "run", lambda *a, **k: small_results)
    r = invoke("run", cfg, "--out", tmp_path / "afile" / "out", "-q")
    assert_clean_failure(r, 6, f"{tmp_path / 'afile' / 'out'}: cannot write the report (got EEXIST",
                         "A file stands where a folder is needed on that path")
    assert (tmp_path / "afile").read_text() == "x"


def test_final_rename_failure_restores_previous_report(tmp_path, monkeypatch, previous_report, small_results):
    """The old folder is moved aside before the new one moves in; if that second move fails it comes back."""
    import os

    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # the new folder into place
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    cfg = write_study(tmp_path / "study")
    monkeypatch.setattr(gistcausal.pipeline, "run", lambda *a, **k: small_results)
    monkeypatch.setattr(report.os, "replace", replace)
    r = invoke("run", cfg, "--out", previous_report, "-q")
    monkeypatch.setattr(report.os, "replace", real_replace)
    assert_clean_failure(r, 6, f"{previous_report}: cannot write the report (got EXDEV")
    assert (previous_report / "report.html").read_text() == "previous report"
    assert no_partial_report(previous_report)


def test_flagged_ids_file_unwritable(tmp_path):
    cfg = write_study(tmp_path / "study")
    (tmp_path / "afile").write_text("x")
    r = invoke("validate", cfg, "--write-flagged-ids", tmp_path / "afile" / "ids.csv")
    assert_clean_failure(r, 6, f"{tmp_path / 'afile' / 'ids.csv'}: cannot write the flagged-ids file",
                         "Give a writable path to --write-flagged-ids")


def test_init_into_unwritable_place(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = invoke("init", "-o", tmp_path / "afile" / "study.yaml", "--name", "s", "--shape", "table",
               "--treatment-col", "t", "--treated-value", "1", "--control-value", "0")
    assert_clean_failure(r, 6, f"{tmp_path / 'afile' / 'study.yaml'}: cannot write the file")
