"""Database URLs: credentials never appear in messages, logs or manifests, whatever the URL form; an
unreachable server fails fast with exit 3 naming data.url."""
from __future__ import annotations

import socket

import pytest

from gistcausal.design.redact import redact, url_secrets
from gistcausal.present.report import run_manifest

from .conftest import STUDY, assert_clean_failure, invoke, snapshot, write_study

SECRET = "S3cret-pw"


def _closed_port() -> int:
    with socket.socket() as s:  # bind then close: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sql_study(tmp_path, url: str):
    text = STUDY.replace("source: csv\n  path: data.csv", f"source: sql\n  url: \"{url}\"\n  table: registry")
    folder = tmp_path / "study"
    cfg = write_study(folder, yaml_text=text)
    before = snapshot(folder)
    r = invoke("validate", cfg)
    assert snapshot(folder) == before
    return r


@pytest.mark.parametrize("url", [
    f"postgresql://analyst:{SECRET}@127.0.0.1:{{port}}/registry",
    f"postgresql://127.0.0.1:{{port}}/registry?user=analyst&password={SECRET}",
    f"postgresql+psycopg://analyst:{SECRET}@127.0.0.1:{{port}}/registry?sslmode=disable",
])
def test_unreachable_server_fails_fast_without_the_password(tmp_path, url):
    r = _sql_study(tmp_path, url.format(port=_closed_port()))
    flat = assert_clean_failure(r, 3, "could not read the database (data.url, data.table/data.query)",
                                "Check that the server is reachable")
    assert SECRET not in flat and "S3cret" not in flat
    assert "***" in flat


def test_issue_secure2_password_with_at_sign(tmp_path):
    r = _sql_study(tmp_path, "postgresql://analyst:pa@ss-43c-W0rd@db.invalid/registry")
    flat = assert_clean_failure(r, 2, "url: the user name or password contains an unencoded '@'", "%40")
    assert "43c-W0rd" not in flat and "pa@ss" not in flat


@pytest.mark.parametrize("text, hidden", [
    ("postgresql://u:S3cret@h/db", "S3cret"),
    ("postgresql://h:5432/db?user=u&password=S3cret", "S3cret"),
    ("mysql://h/db?pwd=S3cret&charset=utf8", "S3cret"),
    ("host=db port=5432 dbname=x password=S3cret", "S3cret"),
    ("host=db password='S3 cret' dbname=x", "S3 cret"),
    ("PGPASSWORD=S3cret psql -h db", "S3cret"),
    ("data:\n  password: S3cret\n", "S3cret"),
    ("DB_TOKEN=abc123xyz", "abc123xyz"),
    ("postgresql://u:pa@ss-43c-W0rd@db.invalid/db", "43c-W0rd"),
])
def test_redact_hides_every_form(text, hidden):
    out = redact(text)
    assert hidden not in out and "***" in out


def test_redact_keeps_what_is_not_secret():
    assert redact("postgresql://u@h:5432/db") == "postgresql://u@h:5432/db"
    assert redact("sqlite:///data/registry.db") == "sqlite:///data/registry.db"
    assert redact("column 'age' has 3 missing values") == "column 'age' has 3 missing values"


def test_driver_echo_of_a_password_fragment_is_hidden():
    """A driver that split the URL at the wrong '@' prints the password's tail as a host name."""
    url = "postgresql://u:pa@ss-43c-W0rd@db.invalid/db"
    msg = "failed to resolve host 'ss-43c-W0rd@db.invalid'"
    assert "43c-W0rd" not in redact(msg, secrets=url_secrets(url))


def test_sqlalchemy_url_object():
    from sqlalchemy.engine import make_url

    assert redact(make_url("postgresql://u:S3cret@h/db")) == "postgresql://u:***@h/db"


def test_manifest_is_redacted():
    text = "data:\n  source: sql\n  url: postgresql://u:S3cret@h/db\n"
    m = run_manifest(config_path="/x/postgresql://u:S3cret@h/study.yaml", config_text=text, data_hash=None, seed=1,
                     command="gistcausal run study.yaml --x password=S3cret", timings={})
    assert "S3cret" not in str(m)
    assert m["config_sha256"] == run_manifest(config_path=None, config_text=redact(text), data_hash=None, seed=1,
                                              command="", timings={})["config_sha256"]
