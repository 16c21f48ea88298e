"""`gistcausal init --data`: column types and levels, arms, time/event guesses, horizon and landmarks inside
follow-up, commented YAML that loads and validates as written, hostile column names quoted (issue 15)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from gistcausal.cli import app
from gistcausal.design.config import load_config
from gistcausal.errors import DataError
from gistcausal.design.scaffold import (ScaffoldOptions, guess_columns, guess_time_unit, infer_column, order_levels,
                                        propose, propose_times, render_config, render_plan)

runner = CliRunner()


def breast_cohort(n: int = 300, seed: int = 15) -> pd.DataFrame:
    """A small registry shaped like the public breast-cancer cohort of issue 15 (text tumour size, 0/1 codes,
    recurrence time in days, a second outcome pair that must not become a covariate)."""
    rng = np.random.default_rng(seed)
    size = rng.choice(["<=20", "20-50", ">50"], n, p=[0.45, 0.45, 0.10])
    hormon = rng.binomial(1, 0.3, n)
    rtime = np.round(rng.exponential(2500, n)).clip(1, 7000)
    return pd.DataFrame({
        "pid": np.arange(1, n + 1), "age": rng.integers(25, 85, n), "meno": rng.binomial(1, 0.5, n),
        "size": size, "grade": rng.choice([2, 3], n), "nodes": rng.poisson(2, n), "pgr": rng.gamma(1, 100, n),
        "er": rng.gamma(1, 150, n), "hormon": hormon, "chemo": rng.binomial(1, 0.2, n),
        "rtime": rtime, "recur": rng.binomial(1, 0.5, n), "dtime": rtime + 100, "death": rng.binomial(1, 0.4, n)})


def test_order_levels_ranges_numbers_and_text():
    assert order_levels([">50", "<=20", "20-50"]) == ["<=20", "20-50", ">50"]
    assert order_levels(["70+", "50-69", "<50"]) == ["<50", "50-69", "70+"]
    assert order_levels([3, 1, 2]) == [1, 2, 3]
    assert order_levels(["b", "A", "c"]) == ["A", "b", "c"]


def test_infer_column_types():
    df = breast_cohort()
    assert infer_column(df["size"]).type == "categorical"
    assert infer_column(df["size"]).levels == ("<=20", "20-50", ">50")
    assert infer_column(df["meno"]).type == "binary" and infer_column(df["meno"]).levels == (0, 1)
    assert infer_column(df["grade"]).type == "binary"
    assert infer_column(pd.Series([1, 2, 3, 4, 1, 2] * 5, name="ecog")).type == "categorical"
    assert infer_column(df["pgr"]).type == "continuous"
    assert infer_column(df["pid"]).type == "skip"
    assert infer_column(pd.Series(["x"] * 10, name="const")).type == "skip"


def test_guesses_time_event_and_unit():
    g = guess_columns(breast_cohort())
    assert g["time"][:2] == ["rtime", "dtime"] and g["event"][:2] == ["recur", "death"]
    assert guess_time_unit("rfs_months", np.array([1.0, 30.0]))[0] == "months"
    assert guess_time_unit("week", np.array([1.0, 52.0]))[0] == "weeks"
    assert guess_time_unit("futime", np.array([10.0, 3000.0]))[0] == "days"
    assert guess_time_unit("t", np.array([0.5, 7.25]))[0] == "years"


def test_horizon_is_round_and_inside_each_arms_follow_up():
    rng = np.random.default_rng(3)
    arms = {"a": rng.uniform(0, 40, 200), "b": rng.uniform(0, 70, 300)}
    horizon, landmarks, at_risk, _ = propose_times(arms, "months")
    assert horizon == 24 and landmarks == (6, 12, 18, 24)
    assert horizon <= min(np.quantile(t, 0.75) for t in arms.values())
    assert at_risk[0] == 0 and len(at_risk) <= 11 and all(x % 6 == 0 for x in at_risk)


def test_issue_15_breast_cohort_config_types_levels_and_outcomes():
    df = breast_cohort()
    plan = propose(df, data_path="bc.csv", treatment_col="hormon")
    covs = {g.name: g for g in plan.covariates}
    assert (plan.time_col, plan.event_col, plan.time_unit) == ("rtime", "recur", "days")
    assert covs["size"].type == "categorical" and covs["size"].levels == ("<=20", "20-50", ">50")
    assert covs["meno"].type == "binary" and covs["chemo"].type == "binary"
    assert covs["age"].type == "continuous"
    assert {"pid", "dtime", "death"} <= {g.name for g in plan.skipped}  # ids and other outcomes are no confounders
    assert [a[:2] for a in plan.arms] == [("hormon", 1), ("no_hormon", 0)]
    text = render_plan(plan)
    raw = yaml.safe_load(text)
    assert raw["covariates"]["size"] == {"type": "categorical", "levels": ["<=20", "20-50", ">50"]}
    assert raw["table"]["outcomes"] == {"recur": {"label": "Time to recur", "time_col": "rtime",
                                                  "event_col": "recur", "event_value": 1}}


def test_arm_names_and_labels_from_words():
    df = breast_cohort(80).assign(group=lambda d: np.where(d["hormon"] == 1, "Tamoxifen", "Control"))
    plan = propose(df.drop(columns="hormon"), data_path="bc.csv")
    assert plan.treatment_col == "group"
    assert plan.arms == (("tamoxifen", "Tamoxifen", "Tamoxifen"), ("control", "Control", "Control"))


HOSTILE = ["yes", "<<", "a: b", "x\ny: 1", "# not a comment", "'q'", "key\u2028z", "[x]", "&anchor", "*alias",
           "!tag", "-", "?", "null", "1", "tab\there", 'quote"d']


def test_hostile_column_names_become_quoted_keys(tmp_path):
    rng = np.random.default_rng(1)
    n = 120
    df = pd.DataFrame({name: rng.normal(size=n) for name in HOSTILE})
    df["trt"] = rng.binomial(1, 0.5, n)
    df["time"] = rng.uniform(1, 40, n)
    df["event"] = rng.binomial(1, 0.6, n)
    df.to_parquet(tmp_path / "h.parquet")
    plan = propose(df, data_path="h.parquet", treatment_col="trt")
    text = render_plan(plan)
    assert "  # x\\ny: 1: numbers" in text and "  # key\\u2028z: numbers" in text  # escaped in comments
    (tmp_path / "h.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "h.yaml")
    assert list(cfg.covariates) == HOSTILE
    r = runner.invoke(app, ["validate", str(tmp_path / "h.yaml")])
    assert r.exit_code == 0, r.output


def test_init_data_writes_a_config_that_validates(tmp_path):
    breast_cohort().to_csv(tmp_path / "bc.csv", index=False)
    out = tmp_path / "cfg" / "bc.yaml"
    out.parent.mkdir()
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert load_config(out).data.path == "../bc.csv"
    r = runner.invoke(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output


def test_init_data_errors(tmp_path):
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "s.yaml")])
    assert r.exit_code == 3 and f"{tmp_path / 'none.csv'}: data file not found (init --data). Check the path." in r.output
    breast_cohort(50).to_csv(tmp_path / "bc.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--out", str(tmp_path / "s.yaml")])
    assert r.exit_code == 3
    assert ("init --treatment: no column looks like a treatment with 2 to 6 values (named like treatment, arm, group) in "
            "bc.csv") in r.output
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "age",
                            "--out", str(tmp_path / "s.yaml")])
    assert r.exit_code == 3
    flat = " ".join(r.output.split())
    assert "init --treatment: column 'age' must have 2 to 6 values to compare (got " in flat
    assert "Choose the treatment column, or group its codes into arms in the data." in flat
    assert not (tmp_path / "s.yaml").exists()


def test_placeholder_init_quotes_names():
    text = render_config(ScaffoldOptions(treatment_col="yes", covariates=("a: b", "no")))
    raw = yaml.safe_load(text)
    assert raw["table"]["treatment"]["column"] == "yes"
    assert list(raw["covariates"]) == ["a: b", "no"]


@pytest.mark.parametrize("unit,expected", [("days", (365, 730, 1095, 1460, 1825)),
                                           ("years", (1, 2, 3, 4, 5))])
def test_landmarks_are_round_steps(unit, expected):
    scale = {"days": 365.25, "years": 1.0}[unit]
    arms = {"a": np.linspace(0, 7 * scale, 101), "b": np.linspace(0, 8 * scale, 101)}
    horizon, landmarks, _, _ = propose_times(arms, unit)
    assert landmarks[-1] == horizon
    assert landmarks == expected


@pytest.mark.parametrize("codes,event,other,reason", [
    ((0, 1), 1, 0, "1 = event, 0 = censored"),
    ((1.0, 0.0), 1, 0, "1 = event, 0 = censored"),   # a float column's codes are written as the integers
    ((1, 2), 2, 1, "codes 1 and 2 read as in R's survival package: 2 = event, 1 = censored"),
    (("alive", "dead"), "dead", "alive", "'dead' = event, 'alive' = censored, from the words"),
    (("censored", "progressed"), "progressed", "censored", "'progressed' = event, 'censored' = censored"),
    (("alive", "other"), "other", "alive", "'other' = event, 'alive' = censored, from the words"),
])
def test_event_code_is_read_from_the_event_columns_codes(codes, event, other, reason):
    """init --data on an event column coded other than 0/1 (issue 15's own-data path): R's 1/2 (survival's lung and
    veteran data), words; the comment names the other code as the fix, the config validates and reads the events."""
    df = breast_cohort(200)
    df["recur"] = np.where(df["recur"] == 1, codes[1], codes[0])
    plan = propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur")
    assert (plan.event_value, plan.censored_value) == (event, other) and type(plan.event_value) is type(event)
    assert plan.event_reason.startswith(reason)
    text = render_plan(plan, command="gistcausal init")
    assert f"set `event_value: {other}`" in text.replace("\n    # ", " ")
    assert yaml.safe_load(text)["table"]["outcomes"]["recur"]["event_value"] == event


def test_event_value_given_or_refused(tmp_path):
    df = breast_cohort(200)
    df["recur"] = np.where(df["recur"] == 1, "b", "a")
    with pytest.raises(Exception, match=r"init --event: cannot tell which code of column 'recur' means the event "
                                        r"\(got 'a', 'b'\)\. Give it, e\.g\. `--event-value b`\."):
        propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur")
    plan = propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur",
                   event_value="a")
    assert (plan.event_value, plan.censored_value) == ("a", "b")
    with pytest.raises(Exception, match=r"init --event-value: not a code of column 'recur' \(got 'c'; codes: 'a', "
                                        r"'b'\)\. Give the code that means the event\."):
        propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur",
                event_value="c")
    df["recur"] = np.where(df["recur"] == "b", 2, np.where(df["rtime"] > 3000, 1, 0))
    # three codes with 0 among them: a first-event column of competing risks (see the test below)
    plan = propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur")
    assert (list(plan.causes), plan.censor_value) == ([2, 1], 0)
    with pytest.raises(Exception, match=r"init --event: column 'recur' must have two codes, one of them meaning the "
                                        r"event \(got 3 distinct value\(s\): '1', '2', '3'\)"):
        propose(df.assign(recur=df["recur"] + 1), data_path="bc.csv", treatment_col="hormon", time_col="rtime",
                event_col="recur")
    # the command line: honoured with --data (the header repeats it) and without (the placeholder config)
    df["recur"] = np.where(df["recur"] == 2, "x", "y")
    df.to_csv(tmp_path / "bc.csv", index=False)
    out = tmp_path / "bc.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--time", "rtime",
                            "--event", "recur", "--event-value", "x", "--out", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert "--event-value x" in out.read_text().splitlines()[0]
    assert load_config(out).outcomes["recur"].event_value == "x"
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    text = render_config(ScaffoldOptions(event_value="no"))
    assert yaml.safe_load(text)["table"]["outcomes"]["primary"]["event_value"] == "no"
    assert yaml.safe_load(render_config(ScaffoldOptions()))["table"]["outcomes"]["primary"]["event_value"] == 1


def test_a_level_held_by_one_arm_is_rejected_by_validate_as_by_run(tmp_path):
    """A categorical level only treated patients have (R's lung data: ECOG 3 and 'not reported', one patient each,
    both men) separates the arms: the logistic propensity fit fails in run's causal step. validate said 'valid';
    now both stop at the design check with the same message, before any fit. Firth's model is not affected."""
    df = breast_cohort(200)
    df["clinic"] = np.where(df["hormon"] == 1, "north", "south")
    df.loc[df.index[df["hormon"] == 0][:30], "clinic"] = "north"
    df.loc[df.index[df["hormon"] == 1][:2], "clinic"] = "east"      # east: two treated patients, no control
    df.to_csv(tmp_path / "bc.csv", index=False)
    cfg = tmp_path / "bc.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--time", "rtime",
                            "--event", "recur", "--out", str(cfg), "--yes"])
    assert r.exit_code == 0, r.output
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if t.startswith("  clinic:"))
    expected = (f"{cfg}:{line}: covariates.clinic: level 'east' (2 patients) is held by patients of arm 'hormon' only "
                "(got 0 in arm 'no_hormon'), so the covariate predicts their arm perfectly and the logistic propensity "
                "model has no finite estimate (separation). Merge it with another level in the data, use the Firth "
                "model `analysis: {propensity: {method: firth}}`, or leave the covariate out of the model "
                "`covariates: {clinic: {in_propensity: false}}`.")
    flat = lambda out: " ".join(out.split())   # noqa: E731 - the console wraps long lines
    v = runner.invoke(app, ["validate", str(cfg)])
    assert v.exit_code != 0 and flat(expected) in flat(v.output)
    run = runner.invoke(app, ["run", str(cfg), "-q", "-o", str(tmp_path / "rep")])
    assert run.exit_code == v.exit_code and flat(expected) in flat(run.output)
    text = cfg.read_text().replace("\nanalysis:\n", "\nanalysis:\n  propensity: {method: firth}\n", 1)
    cfg.write_text(text)
    assert runner.invoke(app, ["validate", str(cfg)]).exit_code == 0


def test_one_arm_level_message_escapes_the_data_text():
    """A level's text comes from the data file: control characters reach the message escaped (repr), not raw."""
    from gistcausal.design.checks import check_separating_levels
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data
    from gistcausal.errors import SeparationError

    from tests.conftest import CONFIGS

    cfg = load_config(CONFIGS / "gist_second_line.yaml")
    cohort = build_cohort(cfg, load_data(cfg))
    frame = cohort.frame.copy()
    frame["sex"] = frame["sex"].astype(str)
    frame.loc[frame.index[frame["arm"] == cohort.treated][:1], "sex"] = "x\n\x1b[31mred"
    with pytest.raises(SeparationError) as err:
        check_separating_levels(cfg, frame, (cohort.treated, cohort.control))
    text = str(err.value)
    assert "level 'x\\n\\x1b[31mred' (1 patient)" in text and "\x1b" not in text and "\n" not in text


def test_init_leaves_out_a_column_named_like_a_column_of_the_analysis_table(tmp_path):
    """A data column named `treatment` or `arm` (or `<outcome>_time`) is not proposed as a covariate: the analysis
    table's own column would replace its values. init says why and how to rename it; asked for by --covariates,
    it is refused. The config it writes validates."""
    df = breast_cohort()
    df["treatment"] = (df["age"] > 50).astype(int)
    df["arm"] = np.where(df["age"] > 60, "old", "young")
    df.to_csv(tmp_path / "bc.csv", index=False)
    out = tmp_path / "bc.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--out", str(out)])
    assert r.exit_code == 0, r.output
    cfg = load_config(out)
    assert "treatment" not in cfg.covariates and "arm" not in cfg.covariates and "age" in cfg.covariates
    text = out.read_text()
    assert ("#   treatment: named like the analysis table's column for the 0/1 treatment indicator; to adjust for it, "
            "rename it as it is read (`data: {columns: {treatment: treatment_1}}`) and add `treatment_1` under "
            "covariates") in text
    assert "#   arm: named like the analysis table's column for the arm of each patient" in text
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--covariates",
                            "age,treatment", "--out", str(tmp_path / "c.yaml")])
    assert r.exit_code == 2
    assert "init --covariates: 'treatment' is the analysis table's column for the 0/1 treatment indicator" in r.output
    assert not (tmp_path / "c.yaml").exists()


def _validate_and_run_agree(tmp_path, cfg, expected):
    flat = lambda out: " ".join(out.split())   # noqa: E731 - the console wraps long lines
    v = runner.invoke(app, ["validate", str(cfg)])
    assert v.exit_code not in (0, 1) and flat(expected) in flat(v.output), v.output
    run = runner.invoke(app, ["run", str(cfg), "-q", "-o", str(tmp_path / "rep")])
    assert run.exit_code == v.exit_code and flat(expected) in flat(run.output), run.output
    assert "Traceback" not in v.output + run.output
    return v.exit_code


def _init_breast(tmp_path, df, extra: str = "") -> tuple:
    df.to_csv(tmp_path / "bc.csv", index=False)
    cfg = tmp_path / "bc.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--time", "rtime",
                            "--event", "recur", "--out", str(cfg), "--yes", "--force"])
    assert r.exit_code == 0, r.output
    if extra:
        cfg.write_text(cfg.read_text().replace("\ncovariates:\n", "\ncovariates:\n" + extra, 1))
    lines = cfg.read_text().splitlines()
    return cfg, lambda key: next(i for i, t in enumerate(lines, 1) if t.startswith(f"  {key}:"))


def test_a_constant_propensity_covariate_is_rejected_by_validate_as_by_run(tmp_path):
    """A covariate with one value in the cohort (init leaves such a column out; a user may add it): validate said
    valid and run failed in the propensity fit, without the YAML line. Now both stop at the design check."""
    df = breast_cohort(200).assign(site=1.0)
    cfg, line = _init_breast(tmp_path, df, "  site: {type: continuous}\n")
    expected = (f"{cfg}:{line('site')}: covariates.site: every patient of the cohort has the same value (got 1 "
                "distinct value in 200 patients), so it adjusts for nothing and the propensity model cannot be fitted "
                "with it. Remove it from the model `covariates: {site: {in_propensity: false}}` (it stays in Table 1).")
    assert _validate_and_run_agree(tmp_path, cfg, expected) == 3
    cfg.write_text(cfg.read_text().replace("site: {type: continuous}", "site: {type: continuous, in_propensity: false}"))
    assert runner.invoke(app, ["validate", str(cfg)]).exit_code == 0


def test_collinear_propensity_covariates_are_named_by_validate_as_by_run(tmp_path):
    """Age in months beside age in years (or a sum of two binary covariates as a number): the propensity design is
    rank deficient and the fit said only 'got rank 7 for 8 columns'. Now validate and run name the covariates."""
    df = breast_cohort(200)
    df["age_m"] = df["age"] * 12 + 6
    cfg, line = _init_breast(tmp_path, df)
    expected = (f"{cfg}:{line('age_m')}: covariates: 'age' and 'age_m' are collinear in the cohort (got rank")
    assert _validate_and_run_agree(tmp_path, cfg, expected) == 5
    v = runner.invoke(app, ["validate", str(cfg)])
    assert ("so the propensity model has no unique estimate. Leave one out of the model, e.g. `covariates: {age_m: "
            "{in_propensity: false}}`, or remove it.") in " ".join(v.output.split())
    # a categorical covariate's indicators count too: a number equal to the sum of two binary covariates
    from gistcausal.design.checks import check_propensity_covariates
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data
    from gistcausal.errors import ModelFitError

    c = load_config(cfg)
    cohort = build_cohort(c, load_data(c))
    binary = [n for n, cv in c.covariates.items() if cv.type == "binary"][:2]
    frame = cohort.frame.drop(columns=["age_m"]).copy()
    frame["age_m"] = sum((frame[b].astype(str) == str(c.covariates[b].levels[1])).astype(float) for b in binary)
    with pytest.raises(ModelFitError, match=f"'{binary[0]}', '{binary[1]}' and 'age_m'|'age_m'.*collinear"):
        check_propensity_covariates(c, frame, (cohort.treated, cohort.control))
    frame["age_m"] = frame["age"] ** 2                 # not a linear combination: passes
    check_propensity_covariates(c, frame, (cohort.treated, cohort.control))


def test_a_covariate_too_large_for_the_fit_is_named_as_such_not_as_collinear(tmp_path):
    """A covariate in raw units of about 1e14 next to the others: the design's rank in floating point drops, and
    validate and run said the covariates were collinear (they are not). Both now name the covariate's size and ask
    to rescale it; a collinear pair is still named as collinear (above)."""
    df = breast_cohort(200)
    df["age"] = df["age"] * 1e12
    cfg, line = _init_breast(tmp_path, df)
    top = float(df["age"].abs().max())
    expected = (f"{cfg}:{line('age')}: covariates.age: values up to {top:.3g} are too large next to the other columns "
                "of the propensity model")
    assert _validate_and_run_agree(tmp_path, cfg, expected) == 5
    assert "Rescale it in the data (e.g. divide it by 1e11" in " ".join(
        runner.invoke(app, ["validate", str(cfg)]).output.split())


def test_a_continuous_covariate_constant_in_one_arm_and_infinite_values_are_rejected(tmp_path):
    """The fit refuses a continuous covariate constant within an arm, and a value `inf` reached the Cox model
    (`cox_fit: covariates must be finite`, exit 3 after validate said valid). Both now stop at the design check."""
    df = breast_cohort(200)
    df.loc[df["hormon"] == 1, "age"] = 55.0
    cfg, line = _init_breast(tmp_path, df)
    expected = (f"{cfg}:{line('age')}: covariates.age: every patient of arm 'hormon' has the same value (got 1 "
                "distinct value in")
    assert _validate_and_run_agree(tmp_path, cfg, expected) == 3
    df = breast_cohort(200)
    df["size_cm"] = df["age"] / 10.0
    df.loc[df.index[:2], "size_cm"] = np.inf
    df.loc[df.index[2], "size_cm"] = -np.inf
    cfg, line = _init_breast(tmp_path, df)
    expected = (f"{cfg}:{line('size_cm')}: covariates.size_cm: column 'size_cm' holds 3 infinite value(s) (got -inf, "
                "inf), which no model or summary can use. Replace them in the data with the measured values, or empty "
                "those cells and set how missing values are handled, e.g. `covariates: {size_cm: {missing: impute}}`.")
    assert _validate_and_run_agree(tmp_path, cfg, expected) == 3


def _r_like(n: int = 200, seed: int = 4) -> pd.DataFrame:
    """A table shaped like R's survival data (rotterdam, mgus2, colon, pbc): calendar year, progression time and
    status beside the follow-up, a lab value named like a time, status coded 1/2."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "year": rng.integers(1978, 1994, n), "age": rng.normal(60, 10, n).round(1),
        "rx": rng.choice(["Obs", "Lev+5FU"], n), "protime": rng.normal(10.7, 1.0, n).round(1),
        "ptime": rng.integers(1, 300, n), "pstat": rng.integers(0, 2, n),
        "rtime": rng.integers(30, 4000, n), "status": rng.choice([1, 2], n)})


def test_init_reads_r_style_tables():
    """Found on R's survival data as `write.csv` hands them over: a calendar year taken as the follow-up time (the
    report's 1990-year RMST), progression time/status (ptime, pstat) offered as confounders, status coded 1/2 not
    guessed as the event, and the observation arm ('Obs') taken as the treated one."""
    df = _r_like()
    cand = guess_columns(df)
    assert "year" not in cand["time"] and cand["time"][0] == "rtime"
    assert cand["event"][0] == "status"
    plan = propose(df, data_path="r.csv", treatment_col="rx")
    assert (plan.time_col, plan.event_col, plan.event_value) == ("rtime", "status", 2)
    assert [a[0] for a in plan.arms][0] == "lev_5fu"
    covs = [g.name for g in plan.covariates]
    assert "protime" in covs and "year" in covs and "ptime" not in covs and "pstat" not in covs
    assert {g.name: g.reason for g in plan.skipped}["pstat"].startswith("named like a follow-up time or event")
    for codes, treated in ((["democracy", "non_democracy"], "democracy"), (["Liberal", "other"], "liberal"),
                           (["placebo", "rIFN-g"], "rifn_g"), (["Nonmaintained", "Maintained"], "maintained"),
                           (["Maintained", "Non-maintained"], "maintained"), (["chemo", "no chemo"], "chemo"),
                           (["Without-stent", "stent"], "stent")):
        d = df.assign(rx=np.resize(codes, len(df)))
        assert [a[0] for a in propose(d, data_path="r.csv", treatment_col="rx").arms][0] == treated
    words = df.assign(status=np.where(df["status"] == 2, "dead", "alive"), fustat=0).drop(columns="pstat")
    assert propose(words.drop(columns="fustat"), data_path="r.csv", treatment_col="rx").event_value == "dead"
    assert "fustat" in guess_columns(words)["event"]


def test_init_writes_a_competing_risks_outcome_for_a_first_event_column(tmp_path):
    """pbc's status 0/1/2 (censored, transplant, death): init refused it and asked for a hand-written competing
    outcome. A first-event column (3 or more codes, one of them censoring: 0 or a word such as censored) is now
    written as `type: competing` with its causes, the cause of interest first (--event-value; else the one that reads
    as death; else the largest number), and the config validates; a column of three codes none of which reads as
    censoring is still refused with the fix, and validate names the same fix for a time-to-event outcome on it."""
    df = _r_like().assign(status=lambda d: np.resize([0, 1, 2], len(d))).drop(columns="pstat")
    df.to_csv(tmp_path / "pbc.csv", index=False)
    out = tmp_path / "p.yaml"
    base = ["init", "--data", str(tmp_path / "pbc.csv"), "--treatment", "rx", "--out", str(out), "--yes", "--force"]
    flat = lambda text: " ".join(text.split())   # noqa: E731 - the console wraps long lines
    for extra, first in (([], 2), (["--event", "status", "--event-value", "2"], 2), (["--event-value", "1"], 1)):
        r = runner.invoke(app, base + ["--time", "rtime"] + extra)
        assert r.exit_code == 0, r.output
        o = yaml.safe_load(out.read_text())["table"]["outcomes"]["status"]
        assert (o["type"], o["event_col"], o["censor_value"]) == ("competing", "status", 0)
        assert list(o["causes"]) == [first, 3 - first] and o["causes"][2] == "cause 2"
        assert "event_value" not in o
        assert "Competing risks: column 'status' holds the cause of each patient's first event" in flat(out.read_text())
        v = runner.invoke(app, ["validate", str(out)])
        assert v.exit_code == 0, v.output
    assert f"cause {first!r} of 2 competing (1 = cause 1, 2 = cause 2; censored = 0)" in flat(r.output)
    words = df.assign(status=np.resize(["censored", "ltx", "death", "withdraw"], len(df)))
    plan = propose(words, data_path="t.csv", treatment_col="rx", time_col="rtime")
    assert list(plan.causes) == ["death", "ltx", "withdraw"] and plan.censor_value == "censored"
    assert plan.event_reason == "'death' reads as death"
    # three codes, none of them censoring: not a first-event column, refused as before
    df.assign(status=np.resize([1, 2, 3], len(df))).to_csv(tmp_path / "three.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "three.csv"), "--treatment", "rx", "--time", "rtime",
                            "--event", "status", "--event-value", "2", "--out", str(tmp_path / "q.yaml")])
    assert r.exit_code == 3 and ("init --event-value: column 'status' has 3 codes (got '1', '2', '3'), and an outcome "
                                 "reads one code as the event and every other as censored.") in flat(r.output)
    assert "`type: competing` with `causes: {2: <cause of interest>, ...}`" in flat(r.output)
    df.assign(status=np.resize([0, 1], len(df))).to_csv(tmp_path / "two.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "two.csv"), "--treatment", "rx", "--time", "rtime",
                            "--event", "status", "--out", str(tmp_path / "p2.yaml")])
    assert r.exit_code == 0, r.output
    (tmp_path / "p2.yaml").write_text((tmp_path / "p2.yaml").read_text().replace("two.csv", "pbc.csv"))
    v = runner.invoke(app, ["validate", str(tmp_path / "p2.yaml")])
    assert v.exit_code == 3 and ("column 'status' (table.outcomes.status.event_col) has 3 codes besides missing (got "
                                 "values ['0', '1', '2'])") in flat(v.output)
    assert "write the outcome as `status: {type: competing, causes: {...}, censor_value: ...}`" in flat(v.output)


def test_init_writes_accented_names_as_they_are_and_escapes_hidden_characters(tmp_path):
    """German column names and codes were written as "\\xDCberleben Tage" and "m\\xE4nnlich": valid YAML, hard to
    read. Visible letters are now written as they are; a bidirectional override or a line separator still makes
    the text escaped, so nothing hides in the file."""
    df = breast_cohort().rename(columns={"rtime": "Überleben Tage"})
    df["Geschlecht"] = np.where(df["age"] > 50, "männlich", "weiblich")
    df.to_csv(tmp_path / "de.csv", index=False)
    out = tmp_path / "de.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "de.csv"), "--treatment", "hormon", "--time",
                            "Überleben Tage", "--event", "recur", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "time_col: Überleben Tage" in text and "levels: [männlich, weiblich]" in text and "\\x" not in text
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    from gistcausal.design.scaffold import _dump

    assert "\\u202E" in "".join(_dump({"a": "m\u202eänn"})) and "\\xE4" in "".join(_dump({"a": "m\u202eänn"}))


def test_init_refuses_repeated_identifiers(tmp_path):
    """R's heart data (start/stop rows, 172 rows for 103 patients) were read as 172 patients with transplant as a
    baseline treatment (immortal time), and init called 'id' an identifier with one value per row."""
    df = breast_cohort(100)
    df["id"] = np.arange(100) // 2 + 1
    df.to_csv(tmp_path / "h.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "h.csv"), "--treatment", "hormon",
                            "--out", str(tmp_path / "h.yaml")])
    assert r.exit_code == 3
    assert ("init --data: column 'id' repeats identifiers (got 100 rows for 50 ids), and the analysis reads one row "
            "per patient") in " ".join(r.output.split())
    assert not (tmp_path / "h.yaml").exists()
    df.assign(id=np.arange(100)).to_csv(tmp_path / "h.csv", index=False)
    assert runner.invoke(app, ["init", "--data", str(tmp_path / "h.csv"), "--treatment", "hormon",
                               "--out", str(tmp_path / "h.yaml")]).exit_code == 0


def test_init_leaves_out_numbered_rows_and_dates_written_as_text():
    """nwtco's ``seqno`` (1 to 4088 over 4028 rows, increasing) was offered as a continuous confounder and cgd's
    ``random`` (1989-06-07) was called free text; they are an identifier and dates. A measurement stored as whole
    numbers, or a text column of categories, is kept."""
    rng = np.random.default_rng(3)
    n = 300
    seq = np.sort(rng.choice(np.arange(1, 330), n, replace=False))
    g = infer_column(pd.Series(seq), "seqno")
    assert g.type == "skip" and g.reason.startswith("looks like an identifier")
    g = infer_column(pd.Series(rng.permutation(np.arange(1000, 1000 + 2 * n, 2))), "code")   # shuffled, gaps
    assert g.type == "skip"
    wide = pd.Series(rng.choice(np.arange(10_000, 90_000), n, replace=False))   # unique whole numbers, no order
    assert infer_column(wide, "income").type == "continuous"
    dates = pd.Series(pd.date_range("1988-01-01", periods=n, freq="3D").strftime("%Y-%m-%d"))
    g = infer_column(dates, "random")
    assert g.type == "skip" and g.reason.startswith("dates written as text")
    assert infer_column(pd.Series(pd.date_range("1988-01-01", periods=n).strftime("%d/%m/%Y")), "d").type == "skip"
    words = pd.Series(rng.choice(["Scripps Institute", "NIH", "Amsterdam"], n))
    assert infer_column(words, "center").type == "categorical"


def test_init_reads_european_csv_and_writes_its_settings(tmp_path):
    """A CSV written by European Excel or SPSS (semicolons, decimal commas, cp1252 accents) was refused by init
    ("save it comma-separated"); init now finds the separator, decimal mark and encoding, writes them into the
    config's data section, and the config validates and reads the same records as the comma-separated file."""
    from gistcausal.design.data import load_data, sniff_csv

    df = _r_like().assign(rx=lambda d: d["rx"].replace({"Obs": "Obs é"}), status=lambda d: d["status"] - 1,
                          age=lambda d: d["age"] + 0.25)
    path = tmp_path / "eu.csv"
    df.to_csv(path, sep=";", decimal=",", index=False, encoding="cp1252")
    assert sniff_csv(path) == {"sep": ";", "decimal": ",", "encoding": "cp1252"}
    df.to_csv(tmp_path / "plain.csv", index=False)
    assert sniff_csv(tmp_path / "plain.csv") == {}
    df.to_csv(tmp_path / "tab.tsv.csv", sep="\t", index=False)
    assert sniff_csv(tmp_path / "tab.tsv.csv") == {"sep": "\t"}
    out = tmp_path / "eu.yaml"
    r = runner.invoke(app, ["init", "--data", str(path), "--treatment", "rx", "--time", "rtime", "--event", "status",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    cfg = load_config(out)
    assert (cfg.data.sep, cfg.data.decimal, cfg.data.encoding) == (";", ",", "cp1252")
    got = load_data(cfg)
    assert got["age"].dtype.kind == "f" and np.allclose(got["age"].to_numpy(float), df["age"].to_numpy(float))
    assert set(got["rx"]) == {"Obs é", "Lev+5FU"}
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_init_reads_dutch_and_german_column_names():
    """A registry export in Dutch or German ("Überleben Tage", "Tod", "Behandlung"; "overleving_maanden",
    "overleden", "behandeling" with "geen" for the comparison arm) was refused ("no column looks like a follow-up
    time"); such names are read like their English equivalents, units included, accents dropped."""
    rng = np.random.default_rng(5)
    n = 120
    de = pd.DataFrame({"Behandlung (Arm)": rng.choice(["Chemo", "Keine Chemo"], n),
                       "Überleben Tage": rng.integers(10, 3000, n), "Tod": rng.integers(0, 2, n),
                       "Alter in Jahren": rng.integers(30, 90, n)})
    plan = propose(de, data_path="de.csv")
    assert (plan.treatment_col, plan.time_col, plan.event_col) == ("Behandlung (Arm)", "Überleben Tage", "Tod")
    assert plan.time_unit == "days" and "Alter in Jahren" in [g.name for g in plan.covariates]
    assert plan.arms[0][1] == "Chemo"   # 'Keine Chemo' reads as the comparison arm
    nl = pd.DataFrame({"behandeling": rng.choice(["sunitinib", "geen behandeling"], n),
                       "overleving_maanden": rng.uniform(0.5, 60, n).round(1), "overleden": rng.integers(0, 2, n),
                       "leeftijd": rng.integers(30, 90, n)})
    plan = propose(nl, data_path="nl.csv")
    assert (plan.treatment_col, plan.time_col, plan.event_col) == ("behandeling", "overleving_maanden", "overleden")
    assert plan.time_unit == "months" and plan.arms[0][1] == "sunitinib"


def test_init_names_the_columns_that_could_be_the_treatment(tmp_path):
    """rotterdam has no column named like a treatment; the refusal now lists the two-valued columns a user
    would pick from (hormon, chemo) instead of only every column."""
    rng = np.random.default_rng(2)
    n = 100
    df = pd.DataFrame({"age": rng.integers(30, 90, n), "hormon": rng.integers(0, 2, n),
                       "chemo": rng.integers(0, 2, n), "rtime": rng.integers(10, 3000, n),
                       "recur": rng.integers(0, 2, n)})
    with pytest.raises(DataError, match=r"Columns whose values could be one: 'hormon', 'chemo'\. Give it, e\.g\. "
                                        r"`--treatment COLUMN`"):
        propose(df, data_path="r.csv")
    assert propose(df, data_path="r.csv", treatment_col="chemo").treatment_col == "chemo"
    # nwtco: no time column is named like one; its row numbers (seqno) are not offered as a candidate
    nw = pd.DataFrame({"seqno": np.arange(1, 2 * n, 2), "rel": rng.integers(0, 2, n), "edrel": rng.integers(5, 6000, n),
                       "trt": rng.integers(0, 2, n)})
    with pytest.raises(DataError, match=r"Columns whose values could be one: 'edrel'\. Give it, e\.g\. `--time"):
        propose(nw, data_path="nw.csv", event_col="rel", treatment_col="trt")


def test_init_labels_numeric_treatment_codes_with_the_column():
    """veteran's trt 1/2 gave arms labelled '1' and '2' ("Question: ..., 1 versus 2"); numeric codes are labelled
    "trt = 1" until the user names them; text codes keep their text."""
    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"trt": rng.choice([1, 2], n), "time": rng.integers(1, 500, n), "status": rng.integers(0, 2, n),
                       "age": rng.integers(30, 80, n)})
    plan = propose(df, data_path="v.csv")
    assert [a[2] for a in plan.arms] == ["trt = 1", "trt = 2"]
    floats = df.assign(trt=df["trt"].astype(float))   # "1,0" in a decimal-comma CSV reads as 1.0
    assert [a[2] for a in propose(floats, data_path="v.csv").arms] == ["trt = 1", "trt = 2"]
    words = df.assign(trt=df["trt"].map({1: "standard", 2: "test"}))
    assert sorted(a[2] for a in propose(words, data_path="v.csv").arms) == ["standard", "test"]


def test_init_prints_its_guesses(tmp_path):
    """init printed only "wrote FILE"; it now lists the guesses to check, the time unit flagged when it came from
    the magnitude of the times rather than the column's name."""
    df = _r_like()
    df.to_csv(tmp_path / "r.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "r.csv"), "--treatment", "rx", "--out",
                            str(tmp_path / "r.yaml")])
    assert r.exit_code == 0, r.output
    lines = [ln.strip() for ln in r.output.splitlines()]
    assert "treatment: 'rx', treated arm 'Lev+5FU' vs 'Obs'" in lines
    assert "outcome: time 'rtime' in days, event 'status' = 2" in lines
    assert any(ln.startswith("covariates (") for ln in lines) and any(ln.startswith("left out (") for ln in lines)
    df.rename(columns={"rtime": "fu"}).to_csv(tmp_path / "f.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "f.csv"), "--treatment", "rx", "--out",
                            str(tmp_path / "f.yaml")])
    assert "outcome: time 'fu' in days (from the magnitude: check it), event 'status' = 2" in \
        [ln.strip() for ln in r.output.splitlines()], r.output


def test_init_writes_a_k_arm_config_for_a_treatment_with_three_to_six_values(tmp_path):
    """A treatment column with three values was refused ("must have two values to compare") although the
    package compares K arms (issue 18); init now writes the K-arm config: the reference first (the one code that
    reads as a comparison arm), every arm labelled, the focal arm of the ATT as `treated`; it validates and runs."""
    rng = np.random.default_rng(8)
    n = 180
    df = pd.DataFrame({"arm": rng.choice(["drug_a", "standard care", "drug_b"], n), "time": rng.integers(1, 400, n),
                       "status": rng.integers(0, 2, n), "age": rng.integers(30, 80, n)})
    df.to_csv(tmp_path / "k.csv", index=False)
    out = tmp_path / "k.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "k.csv"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "treatment: 'arm', 3 arms, reference 'standard care', focal arm of the ATT 'drug_a'" in r.output
    cfg = load_config(out)
    assert list(cfg.treatment.arms) == ["standard_care", "drug_a", "drug_b"] and cfg.treatment.treated == "drug_a"
    assert cfg.treatment.label("standard_care") == "standard care"
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    plan = propose(df.assign(arm=df["arm"].map({"drug_a": 1, "standard care": 2, "drug_b": 3})), data_path="k.csv",
                   treated_value="3")
    assert [a[2] for a in plan.arms] == ["arm = 3", "arm = 1", "arm = 2"] and plan.reference_arm == "arm_1"


def test_treated_value_must_be_a_code_of_the_treatment(tmp_path):
    rng = np.random.default_rng(9)
    n = 60
    base = pd.DataFrame({"time": rng.integers(1, 300, n), "status": rng.integers(0, 2, n)})
    for codes in (["a", "b"], ["a", "b", "c"]):
        df = base.assign(arm=rng.choice(codes, n))
        with pytest.raises(DataError, match=r"init --treated-value: not a value of column 'arm' \(got 'z'; values: "
                                            r"'[abc]', '[abc]'.*\)\. Give one of them\."):
            propose(df, data_path="x.csv", treated_value="z")
        assert propose(df, data_path="x.csv", treated_value="b").arms[0][1] == "b"


def test_init_writes_a_float_columns_whole_codes_as_integers(tmp_path):
    """A column with a missing value is read as floats: a 0/1 treatment was written `arm_1_0: [1.0]` (named after
    the code, with the wrong arm guessed as treated) and R's pbc trt 1/2 as `[1.0]`/`[2.0]`. Whole-number codes are
    now written as integers (the analysis matches 1.0 and 1 as one code), so the arms are named after the column,
    1 is the treated arm, and the config validates and reads the same patients."""
    df = breast_cohort(300)
    df["hormon"] = df["hormon"].astype(float)
    df.loc[5, "hormon"] = np.nan
    df["recur"] = df["recur"].astype(float)
    df.loc[7, "recur"] = np.nan
    plan = propose(df, data_path="bc.csv", treatment_col="hormon", time_col="rtime", event_col="recur")
    assert [(n, c) for n, c, _ in plan.arms] == [("hormon", 1), ("no_hormon", 0)]
    assert type(plan.arms[0][1]) is int and (plan.event_value, plan.censored_value) == (1, 0)
    df.drop(index=[7]).to_csv(tmp_path / "bc.csv", index=False)
    out = tmp_path / "bc.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "bc.csv"), "--treatment", "hormon", "--time", "rtime",
                            "--event", "recur", "--out", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert "arms: {hormon: [1], no_hormon: [0]}" in out.read_text()
    v = runner.invoke(app, ["validate", str(out)])
    assert v.exit_code == 0, v.output
    n1 = int((df.drop(index=[7])["hormon"] == 1).sum())
    assert f"hormon n = {n1}" in " ".join(v.output.split())


def test_init_without_a_time_column_but_with_dates_says_to_derive_the_time():
    """R's udca holds entry, last-contact and event dates and no follow-up time: init suggested 'bili' and
    'riskscore' (numbers >= 0) as the time and said nothing of the dates."""
    rng = np.random.default_rng(3)
    n = 80
    entry = pd.Timestamp("1988-01-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D")
    df = pd.DataFrame({"id": np.arange(n), "trt": rng.integers(0, 2, n),
                       "entry.dt": entry.strftime("%Y-%m-%d"),
                       "last.dt": (entry + pd.to_timedelta(rng.integers(30, 2000, n), unit="D")).strftime("%Y-%m-%d"),
                       "bili": rng.gamma(2, 1, n).round(1)})
    with pytest.raises(DataError) as err:
        propose(df, data_path="udca.csv", treatment_col="trt")
    msg = str(err.value)
    assert msg.startswith("init --time: no column looks like a follow-up time")
    assert "The data hold dates ('entry.dt', 'last.dt'): add a column of the time from time zero" in msg
    with pytest.raises(DataError) as err:
        propose(df.drop(columns=["entry.dt", "last.dt"]), data_path="udca.csv", treatment_col="trt")
    assert "hold dates" not in str(err.value)


@pytest.mark.parametrize("event_col, label", [("status", "Time to event"), ("fustat", "Time to event"),
                                              ("EVENT", "Time to event"), ("death", "Time to death"),
                                              ("recur", "Time to recur")])
def test_init_labels_an_outcome_named_by_a_generic_event_column_time_to_event(event_col, label):
    """R's gbsg (rfstime, status): the report was titled "Time to status by hormon"."""
    rng = np.random.default_rng(4)
    n = 80
    df = pd.DataFrame({"trt": rng.integers(0, 2, n), "time": rng.integers(1, 500, n), event_col: rng.integers(0, 2, n),
                       "age": rng.integers(30, 80, n)})
    assert propose(df, data_path="g.csv", treatment_col="trt", time_col="time",
                   event_col=event_col).outcome_label == label


def test_init_reads_descriptive_column_names():
    """A table with descriptive names (R's gbsg renamed as a registry exports it): init took 'Age (years)' as the
    follow-up time (a unit word), 'Menopausal status' as the event and 'Patient ID' as a covariate, and the run
    went through. Endpoint words now outrank a unit or a status beside other words, a baseline token (age) is
    never a time, an 'ID' token marks an identifier, and a baseline status stays a covariate."""
    rng = np.random.default_rng(5)
    n = 120
    df = pd.DataFrame({"Patient ID": np.arange(1000, 1000 + n), "Age (years)": rng.integers(30, 80, n),
                       "Menopausal status": rng.integers(0, 2, n), "Hospital ID": rng.integers(1, 6, n),
                       "Hormone therapy": rng.choice(["Yes", "No"], n), "Tumour size": rng.gamma(3, 8, n).round(),
                       "RFS time (days)": rng.integers(30, 2500, n), "RFS event": rng.integers(0, 2, n),
                       "Vital status": rng.integers(0, 2, n)})
    plan = propose(df, data_path="registry.csv")
    assert (plan.time_col, plan.event_col, plan.treatment_col) == ("RFS time (days)", "RFS event", "Hormone therapy")
    covs = [g.name for g in plan.covariates]
    assert "Age (years)" in covs and "Menopausal status" in covs and "Patient ID" not in covs
    skipped = {g.name: g.reason for g in plan.skipped}
    assert skipped["Patient ID"].startswith("looks like an identifier")
    assert skipped["Vital status"].startswith("named like a follow-up time or event")   # an outcome: left out


def test_init_groups_treatment_codes_that_differ_only_in_case_or_spaces(tmp_path):
    """A hand-typed registry column holding 'Yes', 'Yes ', 'yes' and 'No', ' No': init made four or five arms of
    them. Codes that differ only in case or surrounding spaces are now one arm, listed together in the config
    with a comment, and the run reads every patient into two arms."""
    rng = np.random.default_rng(6)
    n = 150
    df = pd.DataFrame({"treatment": rng.choice(["Yes", "Yes", "Yes ", "yes", "No", "No", " No"], n),
                       "time": rng.integers(1, 60, n), "event": rng.integers(0, 2, n), "age": rng.integers(30, 80, n)})
    plan = propose(df, data_path="t.csv")
    assert [(name, code) for name, code, _ in plan.arms] == [("treatment", "Yes"), ("no_treatment", "No")]
    assert set(plan.arm_variants["Yes"]) == {"Yes", "Yes ", "yes"} and set(plan.arm_variants["No"]) == {"No", " No"}
    df.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "t.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "t.csv"), "--out", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "Codes that differ only in case or spaces are one arm" in " ".join(text.replace("#", " ").split())
    v = runner.invoke(app, ["validate", str(out)])
    assert v.exit_code == 0, v.output
    flat = " ".join(v.output.split())
    n_yes = int(df["treatment"].str.strip().str.lower().eq("yes").sum())
    assert f"treatment n = {n_yes}" in flat and f"no_treatment n = {n - n_yes}" in flat


def test_init_flags_covariate_levels_that_differ_only_in_case_or_spaces(tmp_path):
    """'Male' and 'male ' are two levels in the analysis: init now says so in the covariate's comment and on the
    console, and leaves clean columns alone."""
    rng = np.random.default_rng(7)
    n = 120
    df = pd.DataFrame({"treatment": rng.integers(0, 2, n), "sex": rng.choice(["Male", "male ", "Female"], n),
                       "stage": rng.choice(["I", "II", "III"], n), "time": rng.integers(1, 60, n),
                       "event": rng.integers(0, 2, n)})
    df.to_csv(tmp_path / "lv.csv", index=False)
    out = tmp_path / "lv.yaml"
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "lv.csv"), "--out", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert "check: levels differing only in case or spaces in sex (see the config)" in " ".join(r.output.split())
    text = " ".join(out.read_text().replace("#", " ").split())
    assert "sex: text with 3 levels; CHECK: levels that differ only in case or spaces ('Male' / 'male ')" in text
    assert "stage: text with 3 levels;" not in text


def test_init_reads_the_data_sheet_of_a_workbook_and_names_a_title_line(tmp_path):
    """A workbook with a README sheet first: init failed with "treatment column '_' not found" (its placeholder
    config) even when the data were on the first sheet. It now reads the sheet with the most filled cells and
    writes `sheet:` into the config. A CSV with a title line above the header: init said no column looked like a
    follow-up time; it now says the first line looks like a title."""
    rng = np.random.default_rng(8)
    n = 90
    df = pd.DataFrame({"treatment": rng.integers(0, 2, n), "age": rng.integers(30, 80, n),
                       "time": rng.integers(1, 60, n), "event": rng.integers(0, 2, n)})
    book = tmp_path / "multi.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"Notes": ["registry export", "the table is on sheet data"]}).to_excel(w, sheet_name="README",
                                                                                          index=False)
        df.to_excel(w, sheet_name="data", index=False)
    out = tmp_path / "m.yaml"
    r = runner.invoke(app, ["init", "--data", str(book), "--out", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(out.read_text())["data"]["sheet"] == "data"
    v = runner.invoke(app, ["validate", str(out)])
    assert v.exit_code == 0 and f"n = {n}" in v.output, v.output
    first = tmp_path / "first.xlsx"                 # the data on the first of two sheets: no sheet key needed
    with pd.ExcelWriter(first) as w:
        df.to_excel(w, sheet_name="data", index=False)
        pd.DataFrame({"Notes": ["codebook"]}).to_excel(w, sheet_name="codebook", index=False)
    r = runner.invoke(app, ["init", "--data", str(first), "--out", str(tmp_path / "f.yaml"), "--yes"])
    assert r.exit_code == 0, r.output
    assert "sheet" not in yaml.safe_load((tmp_path / "f.yaml").read_text())["data"]
    titled = tmp_path / "titled.csv"
    titled.write_text("Registry export 2024-03-01\n" + df.to_csv(index=False))
    r = runner.invoke(app, ["init", "--data", str(titled), "--out", str(tmp_path / "t.yaml"), "--yes"])
    assert r.exit_code != 0 and "the first line looks like a title above the header (got 1 field, then lines of 4 " \
        "fields: 'Registry export 2024-03-01')" in " ".join(r.output.split()), r.output


def test_init_names_missing_outcome_values_and_a_time_written_with_units(tmp_path):
    """A row without a follow-up time: init wrote a config that validate and run then refused; it now says so on
    the console and in the config. A time written with its unit ('12 months'): init said only that the column
    had 56 distinct values, and offered 'age' as a time."""
    rng = np.random.default_rng(9)
    n = 80
    df = pd.DataFrame({"treatment": rng.integers(0, 2, n), "age": rng.integers(30, 80, n),
                       "time": rng.integers(1, 60, n).astype(float), "event": rng.integers(0, 2, n)})
    df.loc[3, "time"] = np.nan
    df.to_csv(tmp_path / "m.csv", index=False)
    r = runner.invoke(app, ["init", "--data", str(tmp_path / "m.csv"), "--out", str(tmp_path / "m.yaml"), "--yes"])
    assert r.exit_code == 0, r.output
    msg = "1 row(s) have no follow-up time in column 'time': validate and run stop on them"
    assert f"check: {msg}" in " ".join(r.output.split())
    assert f"CHECK: {msg}" in " ".join((tmp_path / "m.yaml").read_text().replace("#", " ").split())
    units = df.dropna().assign(time=lambda d: [f"{int(t)} months" for t in d["time"]])
    with pytest.raises(DataError) as err:
        propose(units, data_path="u.csv")
    text = str(err.value)
    assert "text values such as '" in text and "(numbers only, without units)" in text
    assert "could be one: 'age'" not in text
