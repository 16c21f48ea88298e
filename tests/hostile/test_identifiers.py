"""Patient identifiers never reach results.json, report.html or messages: record checks count records and
name the check; the ids go only to the local file the user asks for with --write-flagged-ids."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from gistcausal.design.simulate import simulate_registry
from gistcausal.design.simulate import GIST_DATE_COLS

from .conftest import assert_clean_failure, invoke, snapshot


@pytest.fixture(scope="module")
def registry_study(tmp_path_factory, root):
    """The shipped registry config on a CSV extract where two patients die after their last follow-up date."""
    folder = tmp_path_factory.mktemp("ids")
    reg = simulate_registry(300, seed=11)
    dead = reg.index[reg["date_of_death"].notna()][:2]
    reg.loc[dead, "date_of_death"] = reg.loc[dead, "date_last_followup"] + pd.Timedelta(days=20)
    reg.to_csv(folder / "registry.csv", index=False, date_format="%Y-%m-%d")
    raw = yaml.safe_load((root / "configs" / "gist_second_line.yaml").read_text())
    raw["data"] = {"source": "csv", "path": "registry.csv", "id_col": "patient_id", "dates": list(GIST_DATE_COLS),
                   "validation": {"last_followup_col": "date_last_followup", "event_cols": ["date_of_death"]}}
    raw["analysis"] = {"causal": False}
    raw.pop("covariates", None)
    raw["output"] = {"formats": ["csv"], "small_cell_threshold": 0}
    raw["protocol"].pop("strategies", None)
    (folder / "study.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder, [str(reg.loc[i, "patient_id"]) for i in dead]


def test_issue_secure2_no_ids_in_results_or_report(registry_study):
    folder, ids = registry_study
    inputs = snapshot(folder)
    out = folder / "out"
    r = invoke("run", folder / "study.yaml", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert {k: v for k, v in snapshot(folder).items() if not k.startswith("out/")} == inputs
    blob = (out / "results.json").read_text() + (out / "report.html").read_text() + r.output
    blob += "".join(p.read_text() for p in (out / "tables").glob("*.csv"))
    for pid in ids:
        assert pid not in blob
    assert "'date_of_death' is after 'date_last_followup' (last follow-up) in 2 row(s)" in blob
    assert not (out / "flagged_ids.csv").exists()


def test_write_flagged_ids(registry_study, tmp_path):
    folder, ids = registry_study
    dest = tmp_path / "private" / "flagged.csv"
    r = invoke("validate", folder / "study.yaml", "--write-flagged-ids", dest)
    assert r.exit_code == 0, r.output
    flagged = pd.read_csv(dest)
    assert sorted(flagged["patient_id"]) == sorted(ids)
    assert set(flagged["check"]) == {"event_after_followup"}
    assert "2 flagged record(s) written to" in " ".join(r.output.split())
    for pid in ids:
        assert pid not in r.output


def test_duplicate_ids_are_counted_not_named(registry_study, tmp_path):
    folder, _ = registry_study
    reg = pd.read_csv(folder / "registry.csv")
    reg.loc[[5, 6, 7], "patient_id"] = reg.loc[4, "patient_id"]
    work = tmp_path / "dup"
    work.mkdir()
    reg.to_csv(work / "registry.csv", index=False)
    (work / "study.yaml").write_text((folder / "study.yaml").read_text())
    r = invoke("validate", work / "study.yaml", "--write-flagged-ids", work / "flagged.csv")
    flat = assert_clean_failure(r, 3, "column 'patient_id' has 4 rows sharing 1 duplicate patient id(s)",
                                "deduplicate the extract", "--write-flagged-ids")
    assert str(reg.loc[4, "patient_id"]) not in flat
    flagged = pd.read_csv(work / "flagged.csv")
    assert (flagged.loc[flagged["check"] == "duplicate_id", "patient_id"] == reg.loc[4, "patient_id"]).sum() == 4
