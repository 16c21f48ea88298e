"""Data sources: CSV, Parquet, Excel, DuckDB and a real PostgreSQL server give the same records; column
mapping, date parsing and clear errors for bad files, columns and dates."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from gistcausal.design.config import config_from_dict
from gistcausal.design.data import load_data
from gistcausal.errors import DataError

from ..pg import postgres_server


def registry() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": ["p1", "p2", "p3"],
        "age": [50.5, 61.0, 70.25],
        "drug": ["S", "I", "S"],
        "start": pd.to_datetime(["2011-01-01", "2012-05-17", "2013-12-31"]),
        "last": pd.to_datetime(["2013-01-01", "2014-02-28", "2015-06-30"]),
    })


def cfg(tmp_path, **data):
    return config_from_dict({
        "name": "src",
        "data": {"id_col": "pid", **data},
        "protocol": {"eligibility": [{"label": "all", "include": {"column": "age", "ge": 0}}],
                     "treatment": {"column": "drug", "arms": {"s": ["S"], "i": ["I"]}, "treated": "s"},
                     "time_zero": "start", "outcomes": {"os": {"label": "OS", "events": ["last"], "censor": "last"}}},
    }).model_copy(update={"source_path": str(tmp_path / "study.yaml")})


def check_same(df: pd.DataFrame) -> None:
    ref = registry()
    pd.testing.assert_frame_equal(df[ref.columns].reset_index(drop=True), ref, check_dtype=False)
    assert pd.api.types.is_datetime64_any_dtype(df["start"])


def test_csv_with_dates_and_mapping(tmp_path):
    registry().rename(columns={"age": "AGE_DX"}).to_csv(tmp_path / "r.csv", index=False)
    df = load_data(cfg(tmp_path, source="csv", path="r.csv", dates=["start", "last"], columns={"AGE_DX": "age"}))
    check_same(df)


def test_csv_not_modified(tmp_path):
    registry().to_csv(tmp_path / "r.csv", index=False)
    before = (tmp_path / "r.csv").read_bytes()
    load_data(cfg(tmp_path, source="csv", path="r.csv", dates=["start", "last"]))
    assert (tmp_path / "r.csv").read_bytes() == before


def test_parquet_and_excel(tmp_path):
    registry().to_parquet(tmp_path / "r.parquet")
    check_same(load_data(cfg(tmp_path, source="parquet", path="r.parquet")))
    registry().to_excel(tmp_path / "r.xlsx", index=False)
    check_same(load_data(cfg(tmp_path, source="excel", path="r.xlsx", dates=["start", "last"])))


def test_duckdb_file(tmp_path):
    import duckdb

    db = tmp_path / "registry.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("r", registry())
        con.execute("CREATE TABLE registry AS SELECT * FROM r")
    check_same(load_data(cfg(tmp_path, source="duckdb", path="registry.duckdb", table="registry")))
    q = load_data(cfg(tmp_path, source="duckdb", path="registry.duckdb", query="SELECT * FROM registry WHERE age > 55"))
    assert q["pid"].tolist() == ["p2", "p3"]


def test_postgresql_server(tmp_path):
    import sqlalchemy as sa

    with postgres_server() as url:
        eng = sa.create_engine(url)
        registry().to_sql("registry", eng, index=False)
        eng.dispose()
        check_same(load_data(cfg(tmp_path, source="sql", url=url, table="registry")))
        with pytest.raises(DataError, match=re.escape("could not read the database (data.url, data.table/data.query)")):
            load_data(cfg(tmp_path, source="sql", url=url, table="no_such_table"))


def test_missing_file_names_path_and_key(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nope.csv'}: data file not found (data.path).")):
        load_data(cfg(tmp_path, source="csv", path="nope.csv"))


def test_unparseable_dates_counted(tmp_path):
    r = registry().astype({"start": str})
    r.loc[1, "start"] = "17/05/2012"
    r.to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match=re.escape("column 'start' has 1 unparseable date(s). Use YYYY-MM-DD, or set "
                                                  "`data: {date_format: '%d-%m-%Y'}`.")):
        load_data(cfg(tmp_path, source="csv", path="r.csv", dates=["start", "last"]))


def test_date_format_option(tmp_path):
    r = registry()
    r["start"] = r["start"].dt.strftime("%d-%m-%Y")
    r["last"] = r["last"].dt.strftime("%d-%m-%Y")
    r.to_csv(tmp_path / "r.csv", index=False)
    check_same(load_data(cfg(tmp_path, source="csv", path="r.csv", dates=["start", "last"], date_format="%d-%m-%Y")))


def test_mapping_of_unknown_source_column(tmp_path):
    registry().to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match=re.escape("data.columns maps source column(s) ['AGE'] that are not in the data")):
        load_data(cfg(tmp_path, source="csv", path="r.csv", columns={"AGE": "age"}))


def test_duplicate_ids(tmp_path):
    pd.concat([registry(), registry().head(1)]).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match=re.escape("column 'pid' has 2 rows sharing 1 duplicate patient id(s). "
                                                  "Registry records need one row per patient")):
        load_data(cfg(tmp_path, source="csv", path="r.csv", dates=["start", "last"]))


def test_wrong_format_is_named(tmp_path):
    (tmp_path / "r.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=re.escape("could not read as parquet")):
        load_data(cfg(tmp_path, source="parquet", path="r.parquet"))
