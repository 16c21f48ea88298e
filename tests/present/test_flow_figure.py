"""The patient-flow figure: boxes never overlap and every exclusion box shows its count (found on rotterdam:
"Not meeting: Treatment in a compared strategy (n = 0)" ran past its box, which overlapped the main box)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from gistcausal.design.cohort import FlowCounts, FlowStep  # noqa: E402
from gistcausal.present.plots.flow import _side_text, plot_flow  # noqa: E402


def _flow(labels: list[str], start: str = "All rows of the analysis table") -> FlowCounts:
    n, steps = 2982, []
    for i, label in enumerate(labels):
        steps.append(FlowStep(label, "exclude" if i else "include", "rule", n, 10 * i + 1, n - 10 * i - 1))
        n -= 10 * i + 1
    return FlowCounts(tuple(steps), (("chemo", n // 3), ("none", n - n // 3)), start)


@pytest.mark.parametrize("labels", [["Treatment in a compared strategy", "Age < 18"],
                                    ["Mmmm wwww mmmm wwww mmmm wwww mmmm wwww mmmm wwww mmmm wwww mmmm wwww mm"],
                                    ["A criterion with a very long description " * 4, "x", "Missing value of "
                                     "the laboratory measurement taken before treatment"]])
@pytest.mark.parametrize("start", ["All rows of the analysis table",
                                   "Women with advanced or metastatic breast cancer in the Mmmmm registry with a "
                                   "first systemic treatment between 2001 and 2020"])
def test_flow_boxes_do_not_overlap_and_texts_stay_inside(labels, start):
    ax = plot_flow(_flow(labels, start), arm_labels={"chemo": "Adjuvant chemotherapy (any regimen, WWW)",
                                                     "none": "No chemotherapy"})
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 1 + 2 * len(labels) + 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    for t in ax.texts:
        if not t.get_text():
            continue
        box = next(b for b in boxes if b.contains(*ax.transData.transform(t.get_position())))
        ext = t.get_window_extent(renderer)
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, t.get_text()
    plt.close(fig)


def test_exclusion_text_keeps_its_count():
    text, size = _side_text("Not meeting: Treatment in a compared strategy", "(n = 0)")
    assert text.endswith("(n = 0)") and max(len(x) for x in text.splitlines()) <= 38 and size == 7.5
    text, size = _side_text("Excluded: " + "very long criterion " * 12, "(n = <5)")
    assert text.endswith("(n = <5)") and len(text.splitlines()) == 4 and " ..." in text and size == 6.5


def test_a_step_that_removed_nobody_is_listed_not_drawn():
    """A table whose every row is in a compared arm drew "Not meeting: Treatment in a compared strategy (n = 0)"
    and a second box of the same n; steps that removed nobody are left to the flow table."""
    n = 500
    steps = (FlowStep("Treatment in a compared strategy", "include", "rule", n, 0, n),
             FlowStep("Age < 18", "exclude", "rule", n, 12, n - 12))
    ax = plot_flow(FlowCounts(steps, (("a", 200), ("b", n - 212)), "All rows"))
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "Treatment in a compared strategy" not in texts and "Age < 18" in texts
    assert len([p for p in ax.patches if isinstance(p, FancyBboxPatch)]) == 1 + 2 * 1 + 2
    plt.close(ax.figure)
