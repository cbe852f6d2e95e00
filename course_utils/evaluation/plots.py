"""Figures: complexity histograms and the root verb/object sunburst.

Each function returns a matplotlib `Figure` already closed in pyplot (no open figures pile up,
no double display in notebooks), safe under the Agg backend. matplotlib is imported inside the
functions, so importing this module stays fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._validate import InputError, require_int, require_texts
from .complexity import complexity, root_verb_object

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    from matplotlib.figure import Figure

__all__ = ["plot_complexity", "plot_verb_sunburst"]


def _new_figure(width: float, height: float) -> Figure:
    """A new Figure, already closed in pyplot: it displays once in a notebook (as the value
    returned), saves under any backend (Agg included), and leaves no open figure behind."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig


def plot_complexity(
    sets: Mapping[str, Sequence[str]],
    metrics: Sequence[str] = ("words", "constraints", "reasoning"),
) -> Figure:
    """Histograms of complexity metrics, one panel per metric, one outline per named set."""
    if not isinstance(sets, Mapping) or not sets:
        raise InputError("plot_complexity(): sets must be a non-empty dict {name: list of texts}.")
    allowed = ("words", "constraints", "reasoning", "score")
    if isinstance(metrics, str) or not metrics or any(m not in allowed for m in metrics):
        raise InputError(
            f"plot_complexity(): metrics must be a non-empty list drawn from {allowed}.")
    values = {
        name: [complexity(t) for t in require_texts(texts, f"sets[{name!r}]", fn="plot_complexity")]
        for name, texts in sets.items()
    }
    fig = _new_figure(4.2 * len(metrics), 3.4)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        all_values = [row[metric] for rows in values.values() for row in rows]
        lo, hi = min(all_values), max(all_values)
        if metric in ("constraints", "reasoning"):  # counts: one bin per integer
            bins = [b - 0.5 for b in range(int(hi) + 2)]
        else:  # the same 20 bins for every set, so the outlines compare
            width = (hi - lo) / 20 or 1
            bins = [lo + width * i for i in range(21)]
        for name, rows in values.items():
            ax.hist(
                [row[metric] for row in rows],
                bins=bins,
                weights=[1 / len(rows)] * len(rows),  # bar height = share of that set's texts
                histtype="step",
                linewidth=1.6,
                label=f"{name} (n={len(rows)})",
            )
        ax.set_xlabel(metric if metric != "words" else "length (words)")
        ax.set_ylabel("share of texts")
        ax.set_title(metric)
    axes[0].legend(fontsize=8)
    return fig


def _verb_table(
    pairs: Sequence[tuple[str | None, str | None]], top_verbs: int, top_objects: int
) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """[(verb, count, [(object, count), ...]), ...] for the most frequent verbs; ties
    alphabetical."""
    by_count = lambda kv: (-kv[1], kv[0])  # noqa: E731
    verb_counts = Counter(v for v, _ in pairs if v is not None)
    table = []
    for verb, count in sorted(verb_counts.items(), key=by_count)[:top_verbs]:
        objects = Counter(o for v, o in pairs if v == verb and o is not None)
        table.append((verb, count, sorted(objects.items(), key=by_count)[:top_objects]))
    return table


def plot_verb_sunburst(texts: Sequence[str], top_verbs: int = 10, top_objects: int = 4) -> Figure:
    """Two-ring pie: inner ring the top root verbs, outer ring each verb's top objects."""
    fn = "plot_verb_sunburst"
    texts = require_texts(texts, fn=fn)
    top_verbs = require_int(top_verbs, "top_verbs", 1, fn=fn)
    top_objects = require_int(top_objects, "top_objects", 1, fn=fn)
    return _sunburst([root_verb_object(t) for t in texts], top_verbs, top_objects)


def _sunburst(
    pairs: Sequence[tuple[str | None, str | None]], top_verbs: int, top_objects: int
) -> Figure:
    verbs = _verb_table(pairs, top_verbs, top_objects)
    fig = _new_figure(7, 7)
    ax = fig.subplots()
    ax.set_aspect("equal")
    if not verbs:
        ax.text(0.5, 0.5, "no root verbs found", ha="center", va="center")
        ax.set_axis_off()
        return fig
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    inner_sizes, inner_colors, outer_sizes, outer_labels, outer_colors = [], [], [], [], []
    total = sum(count for _, count, _ in verbs)
    for i, (_, count, top) in enumerate(verbs):
        inner_sizes.append(count)
        inner_colors.append(cmap((2 * i) % 20))
        light = cmap((2 * i + 1) % 20)
        for obj, c in top:
            outer_sizes.append(c)
            outer_labels.append(obj if c / total >= 0.015 else "")
            outer_colors.append(light)
        rest = count - sum(c for _, c in top)
        if rest:
            outer_sizes.append(rest)
            outer_labels.append("")
            outer_colors.append((0.92, 0.92, 0.92, 1.0))
    wedge = {"width": 0.35, "edgecolor": "white", "linewidth": 0.8}
    ax.pie(
        outer_sizes,
        radius=1.0,
        colors=outer_colors,
        labels=outer_labels,
        labeldistance=0.83,
        rotatelabels=True,
        startangle=90,
        counterclock=False,
        wedgeprops=wedge,
        textprops={"fontsize": 7, "ha": "center", "va": "center"},
    )
    ax.pie(
        inner_sizes,
        radius=0.65,
        colors=inner_colors,
        labels=[verb for verb, _, _ in verbs],
        labeldistance=0.72,
        startangle=90,
        counterclock=False,
        wedgeprops=wedge,
        textprops={"fontsize": 8, "ha": "center", "va": "center", "weight": "bold"},
    )
    ax.set_title(f"Top {len(verbs)} root verbs (inner) and their objects (outer), n={len(pairs)}")
    return fig
