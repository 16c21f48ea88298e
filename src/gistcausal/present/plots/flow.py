"""CONSORT-style patient-flow diagram (the study's Figure 1) from :class:`~gistcausal.design.cohort.FlowCounts`."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

from gistcausal.design.cohort import FlowCounts


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, *, fc: str = "white", size: float = 8.5) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01,rounding_size=0.015",
                                fc=fc, ec="#333333", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, wrap=True)


def _side_text(label: str, count: str) -> tuple[str, float]:
    """An exclusion box's text and font size: the label wrapped and the count after it (on the last line when
    it fits), up to three lines at 7.5 pt, else up to four at 6.5 pt with a long label cut by an ellipsis (the
    flow table holds the full label); the count is never cut."""
    for width, size, max_lines in ((38, 7.5, 3), (44, 6.5, 4)):
        lines = textwrap.wrap(label, width)
        if len(lines[-1]) + 1 + len(count) <= width:
            lines[-1] += " " + count
        else:
            lines.append(count)
        if len(lines) <= max_lines:
            return "\n".join(lines), size
    lines = textwrap.wrap(label, 44, max_lines=3, placeholder=" ...") + [count]
    return "\n".join(lines), 6.5


def _arm_positions(k: int, main_x: float) -> tuple[list[float], float, int]:
    """Centres, width and label wrap of the K final arm boxes: the two-arm layout of the study's Figure 1 kept
    as it was; three or more arms spread evenly over the full width so that every arm gets its own box."""
    if k == 2:
        return [0.15, 0.45], 0.27, 26
    if k < 2:
        return [main_x] * k, 0.27, 26
    step = 1.0 / k
    width = min(0.27, step - 0.02)
    return [step * (i + 0.5) for i in range(k)], width, max(10, int(26 * width / 0.27))


def drawn_steps(flow: FlowCounts) -> tuple:
    """The steps the diagram draws: those that removed patients. A step that removed nobody (a table whose every
    row is in a compared arm: "Not meeting: Treatment in a compared strategy (n = 0)" and a second box of the same
    n) stays in the flow table above the figure."""
    return tuple(s for s in flow.steps if s.n_removed != 0)


def plot_flow(flow: FlowCounts, *, ax: Axes | None = None, arm_labels: dict[str, str] | None = None,
              suppress_below: int | None = None) -> Axes:
    """Draw the flow: a main column of remaining counts, exclusion boxes to the right, one box per arm at the bottom.

    Parameters
    ----------
    flow : FlowCounts
    ax : Axes, optional
        Drawn into a new figure sized to the number of steps when omitted.
    arm_labels : dict, optional
        Display names of the arms.
    suppress_below : int, optional
        Disclosure control: counts 1..k-1 are shown as ``<k`` (:mod:`gistcausal.design.disclosure`).
    """
    from gistcausal.design.disclosure import suppress

    def n(v: int) -> object:
        return suppress(v, suppress_below or 0)

    steps = drawn_steps(flow)
    n_rows = len(steps) + 2
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 1.0 + 0.85 * n_rows))
    arm_labels = arm_labels or {}
    ax.set_xlim(0, 1)
    ax.set_ylim(0, n_rows)
    ax.axis("off")
    y = n_rows - 0.5
    # the main column spans 0.08-0.52 and the exclusion boxes 0.555-0.985 (each box's rounded frame adds 0.01):
    # an exclusion box sits between two main boxes vertically and never touches them
    main_x, side_x, w_main, w_side, h = 0.3, 0.77, 0.44, 0.43, 0.62
    start = textwrap.wrap(flow.start_label, 44)   # a long description: three smaller lines in a taller box
    size0, h0 = (8.5, h) if len(start) <= 2 else (7.5, 0.76)
    if len(start) > 2:
        start = textwrap.wrap(flow.start_label, 50, max_lines=3, placeholder=" ...")
    _box(ax, main_x, y, w_main, h0, "\n".join(start) + f"\nn = {n(flow.n_start)}", fc="#eef3fb", size=size0)
    for i, s in enumerate(steps):
        y_next = y - 1
        top = h0 if i == 0 else h * 0.7
        ax.annotate("", xy=(main_x, y_next + h * 0.35), xytext=(main_x, y - top / 2),
                    arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1))
        mid = (y + y_next) / 2
        verb = "Excluded: " if s.kind == "exclude" else "Not meeting: "
        ax.annotate("", xy=(side_x - w_side / 2, mid), xytext=(main_x, mid),
                    arrowprops=dict(arrowstyle="-|>", color="#777777", lw=0.8))
        text, size = _side_text(verb + s.label, f"(n = {n(s.n_removed)})")
        tall = text.count("\n") >= 3   # four lines: a taller box (beside the main column, never over it)
        _box(ax, side_x, mid, w_side, 0.68 if tall else 0.5, text, fc="#fbf1ee", size=size)
        y = y_next
        _box(ax, main_x, y, w_main, h * 0.7, f"n = {n(s.n_after)}", fc="white")
    y_arm = y - 1
    xs, w_arm, wrap = _arm_positions(len(flow.arms), main_x)
    for x, (arm, k) in zip(xs, flow.arms):
        ax.annotate("", xy=(x, y_arm + h / 2), xytext=(main_x, y - (h * 0.35 if steps else h0 / 2)),
                    arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1))
        _box(ax, x, y_arm, w_arm, h, "\n".join(textwrap.wrap(arm_labels.get(arm, arm), wrap)) + f"\nn = {n(k)}",
             fc="#eef8ee", size=8 if len(flow.arms) <= 3 else 7)
    ax.set_title("Patient flow", fontsize=10, loc="left")
    return ax
