"""Hostile and careless config text: every case exits 2 (config error) through the real CLI, names the file
(and line or key) and the fix, shows no traceback and leaves the inputs as they were."""
from __future__ import annotations

import re

import pytest

from .conftest import STUDY, assert_clean_failure, invoke, snapshot, write_study

BOMB = """\
name: bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _validate_text(tmp_path, text: str | bytes, name: str = "study.yaml"):
    folder = tmp_path / "study"
    cfg = write_study(folder)
    p = folder / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    before = snapshot(folder)
    result = invoke("validate", p)
    assert snapshot(folder) == before
    return p, result


def test_issue_secure2_billion_laughs_is_rejected(tmp_path):
    p, r = _validate_text(tmp_path, BOMB)
    assert_clean_failure(r, 2, f"{p}: the config expands to more than 20000 values through YAML aliases",
                         "Write the values out")


def test_recursive_anchor(tmp_path):
    p, r = _validate_text(tmp_path, "name: x\na: &a [1, *a]\n")
    assert_clean_failure(r, 2, f"{p}:2: a YAML alias refers to a node that contains it (got a recursive anchor)")


def test_duplicate_keys_name_both_lines(tmp_path):
    text = STUDY.replace("name: hostile\n", "name: hostile\nseed: 1\n") + "seed: 2\n"
    p, r = _validate_text(tmp_path, text)
    last = len(text.splitlines())
    assert_clean_failure(r, 2, f"{p}:{last}: seed: duplicate key 'seed' (got it on lines 2 and {last}). Keep one "
                               "of them")


def test_nested_duplicate_key(tmp_path):
    text = STUDY.replace("  age: {type: continuous}\n", "  age: {type: continuous}\n  age: {type: categorical}\n")
    p, r = _validate_text(tmp_path, text)
    assert_clean_failure(r, 2, "covariates.age: duplicate key 'age'")


def test_latin1_file(tmp_path):
    p, r = _validate_text(tmp_path, STUDY.replace("name: hostile", "name: hostile\ntitle: Überleben").encode("latin-1"))
    assert_clean_failure(r, 2, f"{p}:2: the config is not UTF-8 text (got byte 0xdc). Save the file as UTF-8")
    assert "UnicodeDecodeError" not in r.output


def test_binary_file(tmp_path):
    p, r = _validate_text(tmp_path, b"PK\x03\x04\x00\x00binary", name="study.xlsx")
    assert_clean_failure(r, 2, f"{p}: not a text file (got binary content)")


def test_empty_file(tmp_path):
    p, r = _validate_text(tmp_path, "   \n")
    assert_clean_failure(r, 2, f"{p}: the config file is empty. Start from `gistcausal init`.")


def test_yaml_that_is_a_list(tmp_path):
    p, r = _validate_text(tmp_path, "- name: x\n- data: {}\n")
    assert_clean_failure(r, 2, f"{p}: the config must be a YAML mapping of keys to values (got list)")


def test_tabs(tmp_path):
    p, r = _validate_text(tmp_path, "name: x\ndata:\n\tsource: csv\n")
    assert_clean_failure(r, 2, f"{p}:3", "malformed YAML", "YAML indents with spaces, never tabs")


def test_directory_given_as_config(tmp_path):
    write_study(tmp_path / "study")
    assert_clean_failure(invoke("validate", tmp_path / "study"), 2,
                         f"{tmp_path / 'study'}: is a folder, not a config file (got a directory)")


def test_missing_config(tmp_path):
    assert_clean_failure(invoke("validate", tmp_path / "nope.yaml"), 2, "config file not found")


@pytest.mark.parametrize("typo, key, suggestion", [
    ("analyis:\n  jobs: 1\n", "analyis", "analysis"),
    ("analysis:\n  survival:\n    estimand: [ATE]\n", "analysis.survival.estimand", "estimands"),
    ("covariates:\n  bmi: {type: continuous, lables: x}\n", "covariates.bmi.lables", "label"),
])
def test_unknown_keys_suggest_the_closest(tmp_path, typo, key, suggestion):
    text = STUDY.split("covariates:")[0] + typo
    p, r = _validate_text(tmp_path, text)
    assert_clean_failure(r, 2, f"{key}: unknown key '{key.split('.')[-1]}'. Did you mean '{suggestion}'? Rename "
                               f"the key to `{suggestion}:`")


def test_huge_number(tmp_path):
    text = STUDY.replace("  study_replication: true\n", "  study_replication: true\n  survival: "
                         "{bootstrap_replicates: 100000000000000000000000}\n")
    p, r = _validate_text(tmp_path, text)
    assert_clean_failure(r, 2, "analysis.survival.bootstrap_replicates: Input should be less than or equal to 100000")


def test_nan_threshold(tmp_path):
    text = STUDY.replace("  study_replication: true\n", "  study_replication: true\n  balance_threshold: .nan\n")
    p, r = _validate_text(tmp_path, text)
    assert_clean_failure(r, 2, "analysis.balance_threshold:", "(got .nan)")


def test_messages_use_yaml_syntax(tmp_path):
    text = STUDY.replace("  study_replication: true\n", "  study_replication: true\n  weights: {truncate: [1, 99]}\n"
                         "  survival: {variance: m_estimation}\n")
    p, r = _validate_text(tmp_path, text)
    flat = assert_clean_failure(r, 2, "truncate: [1, 99]", "use `variance: bootstrap`")
    assert not re.search(r"truncate=|\(1\.0, 99\.0\)", flat)


def test_levels_on_continuous_is_rejected(tmp_path):
    text = STUDY.replace("  age: {type: continuous}", "  age: {type: continuous, levels: [1, 2]}")
    p, r = _validate_text(tmp_path, text)
    assert_clean_failure(r, 2, "covariates.age: levels apply to categorical and binary covariates (got type: "
                               "continuous)")


def test_config_points_at_missing_data(tmp_path):
    p, r = _validate_text(tmp_path, STUDY.replace("path: data.csv", "path: gone.csv"))
    assert_clean_failure(r, 3, f"{p.parent / 'gone.csv'}: data file not found (data.path)")


def test_markdown_shows_html_from_labels_as_text(default_results, default_figures, tmp_path):
    """A title or label holding an HTML tag is written as text in manuscript.md and the tables' .md files
    (a Markdown viewer would render or run it); a suppressed count "<5" stays as it is."""
    from dataclasses import replace

    from gistcausal.present.manuscript import write_manuscript
    from gistcausal.present.render.text import markdown_text, render_markdown
    from gistcausal.present.table_model import Cell, Column, Row, TableModel

    assert markdown_text("<script>alert(1)</script> and <5 and a<b") == \
        "&lt;script>alert(1)&lt;/script> and <5 and a&lt;b"
    model = TableModel("<img src=x onerror=alert(1)>", (Column("v", "Variable", kind="stub"), Column("n", "N")),
                       (Row("<b>x</b>", "", "<b>x</b>", (Cell("<5"),)),), footnotes=("<!-- note -->",))
    md = render_markdown(model)
    assert "<img" not in md and "<b>" not in md and "<!--" not in md and "| <5 |" in md
    cfg = default_results.config.model_copy(update={"title": "<script>alert(1)</script> Sunitinib"})
    write_manuscript(replace(default_results, config=cfg), tmp_path / "m.docx", default_figures)
    text = (tmp_path / "m.md").read_text(encoding="utf-8")
    assert "<script>" not in text and "# &lt;script>alert(1)&lt;/script> Sunitinib" in text
