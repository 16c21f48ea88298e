"""The output folder: complete, atomic, deterministic, escaped, aggregate-only, and rendering in a real browser."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gistcausal.design.config import config_from_dict
from gistcausal.pipeline import run
from gistcausal.present.report import write_outputs

from ..conftest import CONFIGS, ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"


def test_output_layout(report_dir, default_results, default_figures):
    for f in ("report.html", "results.json", "manifest.json"):
        assert (report_dir / f).is_file()
    for name in ("protocol", "table1", "flow", "estimates", "balance_ATE", "table1_weighted_ATE", "evalues",
                 "specification_grid", "strategies_estimates"):
        for ext in ("csv", "md", "tex", "html", "docx", "xlsx"):
            assert (report_dir / "tables" / f"{name}.{ext}").stat().st_size > 0, (name, ext)
    for name in default_figures:
        assert (report_dir / "figures" / f"{name}.png").is_file()
        assert (report_dir / "figures" / f"{name}.svg").is_file()
    assert not list(report_dir.parent.glob(".*tmp-*"))  # no temporary folder left behind


def test_report_numbers_one_table_1_and_names_each_weighted_one(report_dir):
    """The weighted Tables 1 are unnumbered in the report (their headings name them); each caption names its
    estimand in words, so the ATE and ATT tables are told apart (all three were "Table 1." with two identical
    captions)."""
    import re

    html = (report_dir / "report.html").read_text(encoding="utf-8")
    captions = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<caption>(.*?)</caption>", html, flags=re.S)]
    assert sum(c.startswith("Table 1.") for c in captions) == 1
    weighted = [c for c in captions if "before and after" in c and c.startswith("Baseline")]
    assert weighted == [
        "Baseline characteristics by treatment arm, before and after inverse probability of treatment weighting "
        "(ATE: average treatment effect in the whole cohort)",
        "Baseline characteristics by treatment arm, before and after inverse probability of treatment weighting "
        "(ATT: average treatment effect in the treated)"]


def test_excel_and_word_tables_read_back(report_dir):
    from docx import Document

    est = pd.read_excel(report_dir / "tables" / "estimates.xlsx", header=2)   # caption, blank row, header
    assert {"Outcome", "Measure", "Estimate", "Variance"} <= set(est.columns)
    assert pd.api.types.is_float_dtype(est["Estimate"])   # numbers stay numbers
    doc = Document(report_dir / "tables" / "flow.docx")
    assert doc.tables[0].rows[0].cells[0].text == "Step"


def test_results_json_is_byte_identical_across_runs(default_config, report_dir, tmp_path):
    again = write_outputs(run(default_config), tmp_path / "again")
    assert (again / "results.json").read_bytes() == (report_dir / "results.json").read_bytes()


def test_manifest_records_hashes_and_versions(report_dir):
    m = json.loads((report_dir / "manifest.json").read_text())
    cfg_text = (CONFIGS / "gist_second_line.yaml").read_bytes()
    assert m["config_sha256"] == hashlib.sha256(cfg_text).hexdigest()
    assert len(m["data_sha256"]) == 64
    assert m["seed"] == 20201
    assert {"numpy", "pandas", "scipy", "lifelines", "statsmodels"} <= set(m["packages"])
    assert "results.json" in m["outputs"]


def test_failed_write_leaves_previous_report_intact(default_results, tmp_path, monkeypatch):
    out = write_outputs(default_results, tmp_path / "r")
    before = (out / "report.html").read_bytes()

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("gistcausal.present.report.render_html", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_outputs(default_results, tmp_path / "r")
    assert (out / "report.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_no_patient_level_rows_in_outputs(report_dir, default_cohort):
    text = (report_dir / "results.json").read_text() + (report_dir / "report.html").read_text()
    assert "DGR0" not in text
    f = default_cohort.frame
    patient_values = {c: set(f[c].round(6)) for c in ("pfs_time", "os_time", "age_at_diagnosis", "first_line_months")}
    for csv in (report_dir / "tables").glob("*.csv"):
        df = pd.read_csv(csv)
        assert not {"patient_id", "date_of_birth", "date_of_diagnosis"} & set(df.columns), csv.name
        for col in df.select_dtypes("number"):
            vals = set(df[col].dropna().round(6))
            for name, pv in patient_values.items():  # no column reproduces a patient-level variable
                assert len(vals & pv) < 0.5 * len(pv), (csv.name, col, name)


def test_untrusted_text_is_escaped(tmp_path):
    raw = yaml.safe_load((CONFIGS / "gbsg2_hormone.yaml").read_text())
    raw["title"] = "Study <script>alert(1)</script>"
    raw["table"]["treatment"]["labels"]["hormone"] = "<b>Hormone</b> & co"
    raw["analysis"]["causal"] = False
    cfg = config_from_dict(raw)
    out = write_outputs(run(cfg), tmp_path / "esc")
    html = (out / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Hormone</b>" not in html and "&lt;b&gt;Hormone&lt;/b&gt; &amp; co" in html


def test_config_and_data_inputs_not_modified(root, tmp_path):
    cfg_path = root / "configs" / "gist_second_line.yaml"
    before = cfg_path.read_bytes()
    from gistcausal.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["run", str(cfg_path), "-o", str(tmp_path / "cli"), "-q"])
    assert r.exit_code == 0, r.output
    assert cfg_path.read_bytes() == before
    assert (tmp_path / "cli" / "report.html").is_file()


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise RuntimeError("Chromium not found: install Debian's chromium (apt-get install chromium); .ci/run does this.")
    return exe


def test_report_renders_in_headless_chromium(report_dir):
    """The page loads with no console errors, every figure decodes, and a screenshot is kept as an artifact."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto((report_dir / "report.html").resolve().as_uri())
            n_img = page.evaluate("document.images.length")
            n_ok = page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
            headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert n_img >= 10 and n_ok == n_img
    assert headings[0] == "Question and answer"
    assert {"Patient flow", "Table 1: baseline characteristics", "Causal effect estimates (IPTW)"} <= set(headings)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_large_km_curve_is_drawn_from_few_points_within_tolerance():
    """A Kaplan-Meier curve of 200,000 patients is drawn from the rows where it moves by 1e-3 or more: the drawn
    step function equals the full one to within 1e-3 at every distinct time, with far fewer points (issue 17)."""
    import numpy as np

    from gistcausal.present.plots.km import STEP_TOLERANCE, thin_steps
    from gistcausal.stats.km import kaplan_meier

    rng = np.random.default_rng(17)
    n = 200_000
    t = rng.exponential(20, n)
    c = rng.uniform(0, 60, n)
    km = kaplan_meier(np.minimum(t, c), (t <= c).astype(int))
    full = km.to_frame() if hasattr(km, "to_frame") else km.table
    full = full.sort_values("time").reset_index(drop=True)
    kept = thin_steps(full)
    assert len(full) > 100_000 and len(kept) < 0.03 * len(full)
    idx = np.searchsorted(kept["time"].to_numpy(), full["time"].to_numpy(), side="right") - 1
    for col in ("surv", "ci_low", "ci_high"):
        drawn = kept[col].to_numpy()[idx]
        assert np.nanmax(np.abs(drawn - full[col].to_numpy())) < STEP_TOLERANCE


@pytest.mark.parametrize("causal", [True, False])
def test_table_study_protocol_states_estimand_assumptions_and_the_plan_as_run(tmp_path, causal):
    """An analysis-table study's protocol table has the estimand and assumptions rows (TARGET 6g/7g), and its
    analysis plan says what ran: the adjusted analysis, or the unadjusted comparison only."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from gistcausal.present.sections import protocol_table
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(apply(BASES["table"](tmp_path), (("analysis.causal", causal),))))
    rows = dict(zip(protocol_table(res)["Component"], protocol_table(res)["Emulation in this analysis"]))
    assert {"Estimand", "Identifying assumptions", "Analysis plan"} <= set(rows)
    assert rows["Estimand"].startswith("ATE of treated vs control")
    if causal:
        assert rows["Analysis plan"].startswith("IPTW (ATE) with a logistic propensity model")
    else:
        assert rows["Analysis plan"].startswith("Unadjusted comparison only")
    assert "Missing covariate values:" in rows["Analysis plan"]


def test_exported_evalue_table_names_rows_in_words(default_results):
    """tables/evalues.* are read by people (Word, Excel, HTML): rows named as in the report, no measure codes."""
    from gistcausal.present.export import result_tables

    ev = result_tables(default_results)["evalues"]
    raw = default_results.sensitivity["evalues"]
    assert len(ev) == len(raw) > 0
    assert "measure" not in ev.columns and list(ev.columns[:2]) == ["Estimate", "Value"]
    assert not set(ev["Estimate"]) & {"hr", "rmst_diff", "surv_diff"}
    assert any(s.startswith("Hazard ratio") for s in ev["Estimate"])


def test_two_arm_propensity_and_weight_tables_use_labels(report_dir, default_config):
    """The propensity coefficients name terms as the balance tables do ("Sex: Male", not ``sex[male]``) and the
    weight diagnostics name the arms by their labels (not ``treated``/``control``/``overall``)."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="propensity"'):html.index('id="balance"')]
    assert "sex[male]" not in section and "Sex: Male" in section
    for code in (">treated<", ">control<", ">overall<", ">top1_share<"):
        assert code not in section, code
    tr = default_config.treatment
    assert f">{tr.label(tr.treated)}<" in section and f">{tr.label(tr.control)}<" in section
    assert ">All arms<" in section and ">Effective sample size<" in section


def test_report_table_headings_are_words_not_column_codes(report_dir):
    """Every table heading of the default report is written for a reader: no snake_case column code
    (``smd_w``, ``ci_low_adj``, ``bias_mcse``...) reaches the HTML."""
    import re

    from gistcausal.present.sections import column_heading

    html = (report_dir / "report.html").read_text(encoding="utf-8")
    heads = re.findall(r"<th>([^<]*)</th>", html)
    assert len(heads) > 100
    assert [h for h in heads if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h)] == []
    assert column_heading("smd_w") == "SMD (weighted)" and column_heading("n_before") == "Patients before"
    assert column_heading("Sunitinib") == "Sunitinib" and column_heading("p") == "p"


def test_figures_drawn_in_a_worker_equal_figures_drawn_here(default_results, report_dir, tmp_path):
    """The report draws its figures in a worker process when the engine has two or more local workers (the
    default here); with one worker it draws them in this process. The files are the same."""
    import dataclasses

    cfg = default_results.config
    analysis = cfg.analysis.model_copy(update={"engine": cfg.analysis.engine.model_copy(update={"n_workers": 1})})
    serial = dataclasses.replace(default_results, config=cfg.model_copy(update={"analysis": analysis}))
    here = write_outputs(serial, tmp_path / "serial")
    assert default_results.config.analysis.engine.n_workers is None  # report_dir: the default engine, 2 workers
    names = sorted(p.name for p in (report_dir / "figures").iterdir())
    assert names == sorted(p.name for p in (here / "figures").iterdir()) and names
    for name in names:
        if name.endswith(".png"):
            assert (report_dir / "figures" / name).read_bytes() == (here / "figures" / name).read_bytes(), name
    assert (report_dir / "results.json").read_bytes() == (here / "results.json").read_bytes()
    figs = sorted(p.name for p in (report_dir / "manuscript").iterdir())
    assert figs == sorted(p.name for p in (here / "manuscript").iterdir()) and figs
    for name in figs:
        assert (report_dir / "manuscript" / name).read_bytes() == (here / "manuscript" / name).read_bytes()


def test_issue_17_figure_groups_split_the_figures(default_results, default_figures):
    """The report draws its figures in two groups, one per worker (issue 17): together they are every figure,
    each once, and the manuscript picks among the groups' picks what it picks among all figures."""
    import matplotlib.pyplot as plt

    from gistcausal.present.figures import FIGURE_GROUPS, build_figures
    from gistcausal.present.manuscript import manuscript_figures

    halves = [build_figures(default_results, group=g) for g in FIGURE_GROUPS]
    names = [name for half in halves for name in half]
    assert sorted(names) == sorted(default_figures) and len(names) == len(set(names))
    assert all(halves)  # both workers have something to draw
    picked = {key for half in halves for key, _ in manuscript_figures(default_results, half)}
    assert {key for key, _ in manuscript_figures(default_results, default_figures)} <= picked
    for half in halves:
        for fig in half.values():
            plt.close(fig)
    with pytest.raises(ValueError, match="group must be one of"):
        build_figures(default_results, group="all")


def test_svg_figures_are_the_same_bytes_every_time(tmp_path):
    """save_svg: no saving date and ids from a fixed salt, so the same figure gives the same SVG file."""
    from gistcausal.present.plots import new_figure, save_svg

    fig, ax = new_figure(3, 2)
    ax.plot([0, 1, 2], [1, 0.5, 0.2], label="curve")
    ax.legend()
    save_svg(fig, tmp_path / "a.svg")
    save_svg(fig, tmp_path / "b.svg")
    a = (tmp_path / "a.svg").read_bytes()
    assert a == (tmp_path / "b.svg").read_bytes()
    assert b"<dc:date>" not in a


def test_shared_tight_bbox_crops_as_savefig_tight_does(tmp_path):
    """tight_bbox (one layout pass for the PNG, the SVG and the manuscript's PNG) crops to the area
    savefig(bbox_inches="tight") finds: the same image size within one pixel, text outside the axes kept."""
    from PIL import Image

    from gistcausal.present.plots import new_figure, save_png, tight_bbox

    fig, ax = new_figure(4, 3)
    ax.plot([0, 1, 2], [1, 0.5, 0.2], label="a curve with a long label")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))          # outside the axes, to the right
    ax.set_xlabel("Months since the start of second-line treatment")
    fig.text(0.0, -0.08, "A note below the figure")
    fig.savefig(tmp_path / "tight.png", dpi=130, bbox_inches="tight")
    box = tight_bbox(fig)
    save_png(fig, tmp_path / "shared.png", bbox=box)
    w0, h0 = Image.open(tmp_path / "tight.png").size
    w1, h1 = Image.open(tmp_path / "shared.png").size
    assert abs(w0 - w1) <= 1 and abs(h0 - h1) <= 1
    assert w1 > 4 * 130 and h1 > 3 * 130   # grew beyond the canvas to hold the legend and the note


def test_number_tick_labels_still_render_as_math(default_figures):
    """A log axis' tick labels ("$\\mathdefault{10^{0}}$") are drawn as numbers, not as their mathtext source,
    every tick included: the first tick is made while the figure is built without mathtext, and printed its
    source whenever it was in view (all ticks did, when build_figures first walked the artists inside it)."""
    fig = default_figures["weights_ATE"]
    fig.draw_without_rendering()
    labels = [t for ax in fig.axes for t in ax.get_xticklabels() if "mathdefault" in t.get_text()]
    assert labels and all(t.get_parse_math() for t in labels)
