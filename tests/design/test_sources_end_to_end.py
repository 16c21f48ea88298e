"""The same config pointed at a DuckDB file, a PostgreSQL server or a CSV copy of the synthetic registry gives
the same cohort and the same estimates as the built-in source (issue 8)."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from gistcausal.design.config import config_from_dict
from gistcausal.pipeline import run

from ..pg import postgres_server

DATES = ["date_of_birth", "date_of_diagnosis", "first_line_start_date", "first_line_end_date",
         "second_line_start_date", "second_line_progression_date", "second_line_end_date", "third_line_start_date",
         "third_line_failure_date", "date_of_death", "date_last_followup"]


def _light(default_config, data: dict, tmp_path):
    raw = default_config.model_dump(by_alias=True, exclude={"source_path"})
    raw["data"] = {"id_col": "patient_id", "dates": DATES, **data}
    raw["analysis"]["sensitivity"] = {"evalues": False, "tipping_point": False, "specification_grid": False,
                                      "refutation": {"enabled": False}}
    raw["analysis"]["survival"]["doubly_robust"] = False
    raw["protocol"]["strategies"] = None
    raw["output"]["small_cell_threshold"] = 0
    return config_from_dict(raw).model_copy(update={"source_path": str(tmp_path / "study.yaml")})


@pytest.fixture(scope="module")
def reference(default_config, tmp_path_factory):
    cfg = _light(default_config, {"source": "synthetic"}, tmp_path_factory.mktemp("ref"))
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"dates": []})})
    return run(cfg).estimates_frame()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["outcome", "contrast", "estimand", "method", "measure", "time", "value", "ci_low", "ci_high", "se", "p"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True), rtol=1e-9)


def test_duckdb_copy_gives_identical_results(default_config, default_registry, reference, tmp_path):
    db = tmp_path / "registry.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("r", default_registry)
        con.execute("CREATE TABLE registry AS SELECT * FROM r")
    cfg = _light(default_config, {"source": "duckdb", "path": str(db), "table": "registry"}, tmp_path)
    _same(run(cfg).estimates_frame(), reference)


def test_postgresql_copy_gives_identical_results(default_config, default_registry, reference, tmp_path):
    with postgres_server() as url:
        eng = sa.create_engine(url)
        default_registry.to_sql("registry", eng, index=False)
        eng.dispose()
        cfg = _light(default_config, {"source": "sql", "url": url, "table": "registry"}, tmp_path)
        _same(run(cfg).estimates_frame(), reference)


def test_csv_copy_gives_identical_results(default_config, default_registry, reference, tmp_path):
    default_registry.to_csv(tmp_path / "registry.csv", index=False, date_format="%Y-%m-%d")
    cfg = _light(default_config, {"source": "csv", "path": "registry.csv"}, tmp_path)
    _same(run(cfg).estimates_frame(), reference)
