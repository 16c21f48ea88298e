"""Hostile and careless data files: each case runs `gistcausal validate` on a small analysis-ready study and
checks the exit code, that the message names the column or file and the fix, no traceback, inputs unchanged."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .conftest import STUDY, assert_clean_failure, invoke, snapshot, table_data, write_study


def _validate(tmp_path, data: pd.DataFrame | None = None, yaml_text: str = STUDY, raw_csv: bytes | None = None):
    folder = tmp_path / "study"
    cfg = write_study(folder, yaml_text=yaml_text, data=data)
    if raw_csv is not None:
        (folder / "data.csv").write_bytes(raw_csv)
    before = snapshot(folder)
    r = invoke("validate", cfg)
    assert snapshot(folder) == before
    return cfg, r


def test_negative_times_name_count_and_fix(tmp_path):
    d = table_data()
    d.loc[[3, 5], "time"] = -1.5
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 3, "column 'time' (table.outcomes.os.time_col) has 2 row(s) with negative times "
                               "(got minimum -1.5)", "fix those rows in the data, or remove them")


def test_zero_times_warn_with_count(tmp_path):
    d = table_data()
    d.loc[[1, 2, 4], "time"] = 0.0
    _, r = _validate(tmp_path, d)
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "outcome 'os' (table.outcomes.os.time_col 'time'): 3 patient(s) have zero follow-up time (got time 0)" \
        in flat
    assert "correct them or exclude these patients" in flat


def test_nan_strings_in_times(tmp_path):
    d = table_data().astype({"time": object})
    d.loc[[0, 1], "time"] = ["NaN", "n/a"]
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 3, "column 'time'")


def test_treatment_with_three_values_is_counted_in_the_flow(tmp_path):
    d = table_data()
    d.loc[:9, "trt"] = 2
    _, r = _validate(tmp_path, d)
    assert r.exit_code == 0, r.output
    assert "Treatment in a compared strategy" in r.output and ": 10 ->" in r.output


def test_empty_arm(tmp_path):
    d = table_data().assign(trt=1)
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 4, "arm 'control' is empty", "table.treatment.arms")


def test_csv_with_bom(tmp_path):
    raw = table_data().to_csv(index=False).encode("utf-8-sig")
    _, r = _validate(tmp_path, raw_csv=raw)
    assert r.exit_code == 0, r.output


def test_csv_with_semicolons(tmp_path):
    raw = table_data().to_csv(index=False, sep=";").encode()
    cfg, r = _validate(tmp_path, raw_csv=raw)
    assert_clean_failure(r, 3, f"{cfg.parent / 'data.csv'}: the file has one column whose name contains ';'",
                         "Set `data: {sep: ';'}`", "or save it comma-separated")


def test_european_csv_reads_with_sep_and_decimal(tmp_path):
    """The CSV of European Excel and SPSS (semicolons, decimal commas, cp1252 accents) is read as configured,
    to the same records as the comma-separated UTF-8 file; a decimal comma with comma separators is refused."""
    from gistcausal.design.config import load_config
    from gistcausal.design.data import load_data

    d = table_data().assign(sex=lambda x: x["sex"].replace({"female": "vrouw é"}))
    text = STUDY.replace("  path: data.csv\n", "  path: data.csv\n  sep: ';'\n  decimal: ','\n  encoding: cp1252\n")
    raw = d.to_csv(index=False, sep=";", decimal=",").encode("cp1252")
    cfg, r = _validate(tmp_path, yaml_text=text, raw_csv=raw)
    assert r.exit_code == 0, r.output
    got = load_data(load_config(cfg))
    pd.testing.assert_frame_equal(got.reset_index(drop=True)[list(d.columns)], d, check_dtype=False)
    assert got["age"].dtype.kind == "f" and (got["sex"] == "vrouw é").any()
    _, r = _validate(tmp_path / "b", yaml_text=STUDY.replace("  path: data.csv\n", "  path: data.csv\n  decimal: ','\n"))
    assert_clean_failure(r, 2, "decimal ',' needs another separator than ','", "`sep: ';'`")
    _, r = _validate(tmp_path / "c", yaml_text=STUDY.replace("source: csv", "source: parquet").replace(
        "  path: data.csv\n", "  path: data.parquet\n  sep: ';'\n"))
    assert_clean_failure(r, 2, "'sep' is not read by source 'parquet'")


def test_levels_outside_values(tmp_path):
    text = STUDY.replace("  sex: {type: categorical}", "  sex: {type: categorical, levels: [male]}")
    _, r = _validate(tmp_path, yaml_text=text)
    flat = assert_clean_failure(r, 3, "column 'sex' has", "value(s) outside covariates.sex.levels (got 'female'; "
                                      "levels: male)", "`covariates: {sex: {levels: [male, female]}}`")
    assert "P00" not in flat


def test_parquet_list_column(tmp_path):
    folder = tmp_path / "study"
    cfg = write_study(folder, yaml_text=STUDY.replace("source: csv\n  path: data.csv", "source: parquet\n  path: "
                                                                                       "data.parquet"))
    d = table_data()
    d["codes"] = [[1, 2]] * len(d)
    d.to_parquet(folder / "data.parquet")
    r = invoke("validate", cfg)
    assert_clean_failure(r, 3, "column 'codes' holds 80 nested value(s)", "Flatten it")


def test_frame_hash_names_nested_column():
    import pytest

    from gistcausal.errors import DataError
    from gistcausal.pipeline import _frame_hash

    with pytest.raises(DataError, match="column 'codes' holds nested values"):
        _frame_hash(pd.DataFrame({"a": [1, 2], "codes": [[1], [2, 3]]}))


def test_excel_data_on_another_sheet(tmp_path):
    folder = tmp_path / "study"
    cfg = write_study(folder, yaml_text=STUDY.replace("source: csv\n  path: data.csv", "source: excel\n  path: "
                                                                                     "data.xlsx"))
    with pd.ExcelWriter(folder / "data.xlsx") as xw:
        pd.DataFrame({"note": ["read me"]}).to_excel(xw, sheet_name="About", index=False)
        table_data().to_excel(xw, sheet_name="Data", index=False)
    r = invoke("validate", cfg)
    assert_clean_failure(r, 3, "treatment column 'trt' not found", "sheet 'About' of a workbook with sheets About, "
                         "Data", "`data: {sheet: Data}`")


def test_excel_unknown_sheet(tmp_path):
    folder = tmp_path / "study"
    cfg = write_study(folder, yaml_text=STUDY.replace("source: csv\n  path: data.csv", "source: excel\n  path: "
                                                                                     "data.xlsx\n  sheet: Dta"))
    table_data().to_excel(folder / "data.xlsx", sheet_name="Data", index=False)
    assert_clean_failure(invoke("validate", cfg), 3, "sheet 'Dta' (data.sheet) not found (got sheets: Data)",
                         "`data: {sheet: Data}`")


def test_data_file_is_garbage(tmp_path):
    _, r = _validate(tmp_path, raw_csv=np.random.default_rng(1).bytes(2000))
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output


def test_csv_separator_words_and_the_fix_follow_the_file(tmp_path):
    """`sep: tab` and `sep: '\\t'` (single quotes keep the backslash) mean a tab; a file read with the wrong
    separator gets the fix of its own separator and decimal mark (found in the file), not a guess."""
    d = table_data().assign(age=lambda x: x["age"] + 0.5)
    raw = d.to_csv(index=False, sep=";", decimal=",").encode()
    for word in ("tab", "'\\t'"):
        text = STUDY.replace("  path: data.csv\n", f"  path: data.csv\n  sep: {word}\n")
        cfg, r = _validate(tmp_path / word.strip("'\\"), yaml_text=text, raw_csv=raw)
        assert_clean_failure(r, 3, "got ';'-separated values, read with sep: '\\t'",
                             "Set `data: {sep: ';', decimal: ','}`")
    raw = d.to_csv(index=False, sep="\t").encode()
    text = STUDY.replace("  path: data.csv\n", "  path: data.csv\n  sep: tab\n")
    _, r = _validate(tmp_path / "ok", yaml_text=text, raw_csv=raw)
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------------------------------------------------
# Codes in columns with missing values: a CSV column with one blank cell is read as floats (1.0, 0.0), and
# codes were compared as text ("1.0" against the config's "1")
# ---------------------------------------------------------------------------------------------------------
def test_treatment_with_a_missing_value_keeps_its_arms(tmp_path):
    """Before: both arms were emptied ("arm 'drug' is empty"); the rows without a treatment code are now left
    out by the flow's first step, as rows with another code are."""
    d = table_data()
    d["trt"] = d["trt"].astype(float)
    d.loc[[4, 9], "trt"] = np.nan
    _, r = _validate(tmp_path, d)
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    n1, n0 = int((d["trt"] == 1).sum()), int((d["trt"] == 0).sum())
    assert "(trt in the codes of drug, control): 2 -> 78 remain" in flat and f"drug n = {n1}, control n = {n0}" in flat


def test_event_column_read_as_floats_is_binary(tmp_path):
    """0.0/1.0 event codes (an Excel or parquet column of floats) are the codes 0/1 (before: "must be binary
    (got values ['0.0', '1.0'])")."""
    d = table_data()
    d["event"] = d["event"].astype(float)
    _, r = _validate(tmp_path, d)
    assert r.exit_code == 0, r.output


def test_missing_event_status_is_refused_not_censored(tmp_path):
    d = table_data()
    d["event"] = d["event"].astype(float)
    d.loc[[2, 3, 11], "event"] = np.nan
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 3, "column 'event' (table.outcomes.os.event_col) has 3 missing value(s), which would "
                               "be read as censored", "Fill in the event status of those rows, or remove them")


def test_infinite_times_are_refused(tmp_path):
    d = table_data()
    d.loc[[6], "time"] = np.inf
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 3, "column 'time' (table.outcomes.os.time_col) has 1 infinite time(s) (got inf)",
                         "Write the last follow-up time of those patients, censored, or remove those rows")


def test_codes_as_text():
    from gistcausal.design.codes import code_mask, code_text, code_texts

    assert [code_text(v) for v in (1, 1.0, "1", True, np.int64(3), 2.5, -1.0, "a")] == \
        ["1", "1", "1", "True", "3", "2.5", "-1", "a"]
    s = pd.Series([1.0, 0.0, np.nan, 2.5])
    assert list(code_texts(s)) == ["1", "0", "nan", "2.5"]
    assert list(code_mask(s, [1, "0"])) == [True, True, False, False]
    assert list(code_texts(pd.Series(["a", None, 1.0, 2], dtype=object))) == ["a", "nan", "1", "2"]
    assert list(code_texts(pd.Series(pd.Categorical([1.0, 2.0, None])))) == ["1", "2", "nan"]
    assert list(code_mask(pd.Series([True, False]), [True])) == [True, False]


def test_header_only_file_says_it_has_no_rows(tmp_path):
    """Before: "column 'time' must be numeric (got dtype object)", true of an empty column but no help."""
    _, r = _validate(tmp_path, table_data().iloc[:0])
    assert_clean_failure(r, 3, "the data have no rows (got the header only)", "Point data.path")


def test_missing_columns_suggest_the_header_they_likely_mean(tmp_path):
    """Headers that differ by case or stray spaces (" age ", "Time") are named with the fix in YAML."""
    d = table_data().rename(columns={"time": "Time", "age": " age "})
    _, r = _validate(tmp_path, d)
    assert_clean_failure(r, 3, "column 'time' (table.outcomes.os.time_col) not found (did you mean 'Time'? Then "
                               "write `time_col: Time`, or rename the column in the data)",
                         "column 'age' (covariates.age) not found (did you mean ' age '? Then rename the column in "
                         "the data, or map it: `data: {columns: {' age ': age}}`)")


def test_a_used_column_written_twice_in_the_header_is_refused(tmp_path):
    """pandas reads a repeated header name 'age' as 'age' and 'age.1', and the config silently used the first;
    a repeated name the config does not use is left alone."""
    d = table_data()
    d.insert(len(d.columns), "age2", d["age"] + 100)
    d.insert(len(d.columns), "note", "x")
    d.insert(len(d.columns), "note2", "y")
    folder = tmp_path / "study"
    cfg = write_study(folder, data=d)
    text = (folder / "data.csv").read_text().splitlines()
    text[0] = text[0].replace("age2", "age").replace("note2", "note")
    (folder / "data.csv").write_text("\n".join(text) + "\n")
    r = invoke("validate", cfg)
    assert_clean_failure(r, 3, "column 'age' (covariates.age) is written 2 times in the data's header (read as "
                               "'age', 'age.1'), so which one is meant is not clear; give the columns different "
                               "names in the file")
    assert "'note'" not in r.output


def test_a_column_written_twice_in_an_excel_header_is_refused(tmp_path):
    d = table_data()
    d.insert(len(d.columns), "sex2", d["sex"])
    folder = tmp_path / "study"
    folder.mkdir()
    d.rename(columns={"sex2": "sex"}).to_excel(folder / "data.xlsx", index=False)
    cfg = write_study(folder, yaml_text=STUDY.replace("source: csv\n  path: data.csv", "source: excel\n  path: data.xlsx"))
    r = invoke("validate", cfg)
    assert_clean_failure(r, 3, "column 'sex' (covariates.sex) is written 2 times in the data's header")


def test_arm_codes_that_differ_by_case_name_the_column_codes_and_the_fix(tmp_path):
    d = table_data()
    d["trt"] = d["trt"].map({1: "Yes", 0: "No"})
    _, r = _validate(tmp_path, d, yaml_text=STUDY.replace("arms: {drug: [1], control: [0]}",
                                                           "arms: {drug: [yes], control: [No]}"))
    # YAML reads the unquoted yes as true: the message says so and gives the column's own code, quoted
    assert_clean_failure(r, 4, "arm 'drug' is empty: no row of column 'trt' has its code(s) 'True' (got codes 'No', "
                               "'Yes'). Did you mean 'Yes'? Write `drug: ['Yes']` under table.treatment.arms (YAML "
                               "reads an unquoted yes or no as true or false: quote such codes).")
    _, r = _validate(tmp_path / "b", d, yaml_text=STUDY.replace("arms: {drug: [1], control: [0]}",
                                                                 "arms: {drug: ['Yes'], control: [no_]}"))
    assert_clean_failure(r, 4, "arm 'control' is empty: no row of column 'trt' has its code(s) 'no_' (got codes "
                               "'No', 'Yes'). Did you mean 'No'? Write `control: ['No']` under table.treatment.arms.")


def test_event_value_yes_read_by_yaml_as_true_is_named_with_the_quoted_fix(tmp_path):
    d = table_data()
    d["event"] = d["event"].map({1: "yes", 0: "no"})
    _, r = _validate(tmp_path, d, yaml_text=STUDY.replace("event_col: event}", "event_col: event, event_value: yes}"))
    assert_clean_failure(r, 3, "column 'event' (table.outcomes.os.event_col) does not hold event_value 'True' (got "
                               "codes ['no', 'yes'])", "YAML reads an unquoted yes as true (got event_value: true); "
                               "quote it: `event_value: 'yes'`.")
    _, r = _validate(tmp_path / "q", d, yaml_text=STUDY.replace("event_col: event}",
                                                                "event_col: event, event_value: 'yes'}"))
    assert r.exit_code == 0, r.output


def test_unmatched_eligibility_codes_nested_and_boolean():
    from gistcausal.design.cohort import unmatched_codes
    from gistcausal.design.config import EligibilityStep

    df = pd.DataFrame({"stage": ["I", "II", "III", None], "flag": [True, False, True, True],
                       "n": np.arange(4.0)})
    steps = [EligibilityStep.model_validate({"label": "Early or flagged", "include": {"any": [
                 {"column": "stage", "in": ["I", "IIl"]}, {"column": "flag", "eq": True}]}}),
             EligibilityStep.model_validate({"label": "Not four", "exclude": {"not": {"column": "n", "ne": 4}}})]
    msgs = unmatched_codes(steps, df, "protocol.eligibility")
    assert msgs == [
        "protocol.eligibility 'Early or flagged': no record of column 'stage' has the code(s) 'IIl' (got codes 'I', "
        "'II', 'III'), so the step never applies to them. Did you mean 'II'? Check the spelling of the codes.",
        "protocol.eligibility 'Not four': no record of column 'n' has the code(s) '4' (got codes '0', '1', '2', "
        "'3'), so the step never applies to them. Check the spelling of the codes."]
