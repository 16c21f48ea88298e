"""The report of a study with three or more arms: one flow box per arm, and labels, not codes, in every K-arm
section a person reads (report HTML, figures and exported tables)."""
from __future__ import annotations

import re
from html import unescape

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from gistcausal.design.cohort import FlowCounts, FlowStep
from gistcausal.design.config import load_config
from gistcausal.pipeline import run
from gistcausal.present.figures import build_figures
from gistcausal.present.plots.flow import plot_flow
from gistcausal.present.report import write_outputs
from gistcausal.present.sections import _plasmode_text, _relabel_arms
from gistcausal.present.tables import term_label

from ..conftest import CONFIGS, ROOT

ARM_CODES = ("imatinib_800", "sunitinib_continuous", "sunitinib_intermittent")
ARM_LABELS = ("Imatinib 800 mg", "Sunitinib 37.5 mg continuous", "Sunitinib 50 mg 4/2")
LEVEL_CODES = ("locally_advanced", "other_or_unknown", "small_bowel", "not_reported")


@pytest.fixture(scope="module")
def three_arms():
    return run(load_config(CONFIGS / "gist_three_arms.yaml"))


@pytest.fixture(scope="module")
def three_arm_dir(three_arms, tmp_path_factory):
    return write_outputs(three_arms, tmp_path_factory.mktemp("out") / "gist_three_arms")


def _section_text(html: str, start_id: str) -> str:
    """Visible text from the section with id ``start_id`` up to the methods section (the K-arm sections)."""
    i = html.index(f'id="{start_id}"')
    body = re.sub(r"<img[^>]*>", "", html[i:])
    return unescape(re.sub(r"<[^>]+>", "\n", body))


def _flow_arm_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts[1:] if t.get_text().rsplit("\n", 1)[-1].startswith("n = ")
            and not t.get_text().startswith("n = ") and "(n = " not in t.get_text()]


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_flow_draws_one_box_per_arm(k):
    steps = (FlowStep("Adults", "include", "age >= 18", 100, 10, 90),)
    arms = tuple((f"arm{i}", 90 // k) for i in range(k))
    _, ax = plt.subplots()
    plot_flow(FlowCounts(steps=steps, arms=arms, start_label="All"), ax=ax,
              arm_labels={f"arm{i}": f"Arm number {i}" for i in range(k)})
    texts = _flow_arm_texts(ax)
    plt.close(ax.figure)
    assert len(texts) == k
    assert [t.split("\n")[0] for t in texts] == [f"Arm number {i}" for i in range(k)]


def test_flow_figure_of_three_arms_has_every_arm(three_arms):
    fig = build_figures(three_arms)["flow"]
    texts = _flow_arm_texts(fig.axes[0])
    joined = [" ".join(t.split("\n")[:-1]) for t in texts]
    assert joined == list(ARM_LABELS)
    assert [t.rsplit("n = ", 1)[1] for t in texts] == [str(n) for _, n in three_arms.flow.arms]


def test_k_arm_sections_show_no_arm_or_level_codes(three_arm_dir):
    html = (three_arm_dir / "report.html").read_text()
    text = _section_text(html, "table1")
    for code in ARM_CODES + LEVEL_CODES:
        assert not re.search(rf"(?<![\w{{]){re.escape(code)}(?![\w}}])", text), code
    assert "sex[male]" not in text and "Sex: Male" in text
    assert "Stage at diagnosis (grouped): Locally advanced" in text
    assert "All arms" in text and "\noverall\n" not in text
    for measure in ("surv_diff", "rmst_diff", "p_treated", "ci_low_adj"):
        assert f"\n{measure}\n" not in text, measure


def test_k_arm_tables_are_exported_with_labels(three_arm_dir):
    tables = three_arm_dir / "tables"
    pm = pd.read_csv(tables / "propensity_model.csv")
    assert set(pm["Arm"]) == set(ARM_LABELS[1:])
    assert "Sex: Male" in set(pm["Term"]) and not pm["Term"].str.contains(r"\[").any()
    w = pd.read_csv(tables / "weights_ATE.csv")
    assert list(w["Arm"]) == [*ARM_LABELS, "All arms"]
    bal = pd.read_csv(tables / "balance_ATE.csv", keep_default_na=False)
    assert not set(bal["Level"]) & set(LEVEL_CODES)
    assert {"Locally advanced", "Other or unknown"} <= set(bal["Level"])
    ev = pd.read_csv(tables / "evalues.csv")
    assert set(ev["Contrast"]) <= {f"{b} vs {a}" for a in ARM_LABELS for b in ARM_LABELS}
    for ext in ("md", "html", "tex", "docx", "xlsx"):
        for name in ("propensity_model", "weights_ATO", "balance_ATO", "table1"):
            assert (tables / f"{name}.{ext}").stat().st_size > 0, (name, ext)


def test_nav_wraps_so_the_page_has_no_horizontal_scroll():
    css = (ROOT / "src" / "gistcausal" / "templates" / "report.html").read_text()
    nav = re.search(r"\n\s*nav \{[^}]*\}", css).group(0)
    assert "flex-wrap: wrap" in nav


def test_term_label_names_covariates_and_levels():
    labels = {"sex": "Sex", "size": "Tumor size (cm)"}
    levels = {"sex": {"male": "Male"}}
    assert term_label("sex[male]", labels, levels) == "Sex: Male"
    assert term_label("size", labels, levels) == "Tumor size (cm)"
    assert term_label("log(size)", labels, levels) == "log(Tumor size (cm))"
    assert term_label("ns(size)[2]", labels, levels) == "ns(Tumor size (cm))[2]"
    assert term_label("Intercept", labels, levels) == "Intercept"


def test_plasmode_text_of_k_arms_uses_labels():
    labels = dict(zip(ARM_CODES, ARM_LABELS))
    settings = {"arms": list(ARM_CODES), "reference": "imatinib_800"}
    assert "against Imatinib 800 mg;" in _plasmode_text(settings, labels)
    text = "HRs sunitinib_continuous vs imatinib_800 0.47\n  sunitinib_intermittent vs imatinib_800:\n  iptw hr"
    assert _relabel_arms(text, labels, settings) == ("HRs Sunitinib 37.5 mg continuous vs Imatinib 800 mg 0.47\n"
                                                     "  Sunitinib 50 mg 4/2 vs Imatinib 800 mg:\n  iptw hr")
    assert _relabel_arms(text, labels, {}) == text


def test_k_arm_warnings_name_arms_by_their_labels(three_arms):
    """The K-arm weights name arms by their quoted codes (stats layer); the report's notes show the labels, and
    only quoted codes are replaced (a code such as 'a' is also a word)."""
    from dataclasses import replace

    from gistcausal.present.sections import build_sections

    cfg = three_arms.config
    code = list(cfg.treatment.arms)[1]
    fake = replace(three_arms, warnings=(f"ExtremeWeightWarning: multiarm_weights: arm '{code}' has 1 weights above "
                                         "10 times the arm's mean (got max 36.1, mean 3.38). Inspect a patient.",
                                         f"PositivityWarning: multiarm_weights: 1 patients have a score below 0.01 for "
                                         f"some arm (got 1 for arm '{code}')."))
    notes = build_sections(fake)[0].notes
    label = cfg.treatment.label(code)
    assert notes[-2] == (f"Warning (extreme weights): Arm '{label}' has 1 weights above 10 times the arm's mean (got "
                         "max 36.1, mean 3.38). Inspect a patient.")
    assert notes[-1].endswith(f"(got 1 for arm '{label}').")
