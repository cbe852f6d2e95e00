"""Small matplotlib helpers the notebooks share (each returns its Figure, closed in pyplot)."""

from __future__ import annotations


def plot_prompt_versions(rows: dict[str, dict], metrics: dict[str, str]):
    """One bar chart per metric, one bar per prompt version (display the Figure as a cell's last value)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.0))
    names = list(rows)
    colors = ["#bbbbbb", "#7fa7d9", "#2b6cb0", "#1a365d"][: len(names)]
    for ax, (key, label) in zip(axes, metrics.items()):
        values = [rows[n][key] for n in names]
        ax.bar(names, values, color=colors)
        ax.set_title(label, fontsize=10)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    plt.close(fig)  # shown once, as the cell's value, not a second time by the inline backend
    return fig
