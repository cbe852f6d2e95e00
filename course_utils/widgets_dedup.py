"""A threshold slider for ROUGE-L deduplication (notebook 07); ipywidgets 7.7 and 8 compatible.

The logic is the plain function `describe_threshold` (tested without a browser); the widget
only wires a `FloatSlider` to an `Output` that shows its text. Without ipywidgets (or outside
Jupyter) call `describe_threshold` and print its result.
"""

from __future__ import annotations

from typing import Any, Sequence

from .dedup import pairs_near_threshold, rouge_l_dedup

__all__ = ["describe_threshold", "threshold_explorer"]


def _short(text: str, width: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_threshold(
    texts: Sequence[str],
    threshold: float,
    tokenizer: Any = "auto",
    k: int = 4,
    window: float = 0.05,
) -> str:
    """What the greedy ROUGE-L filter does at `threshold`, as plain text.

    Says how many texts `rouge_l_dedup` keeps and removes, then lists the `k` pairs whose
    ROUGE-L F1 is closest to the threshold (within +-`window`): the decisions that a small move
    of the slider flips. A pair above the threshold is judged a duplicate (its later text goes
    if the earlier one was kept); a pair at or below it is not. Raises ValueError/TypeError
    (from `course_utils.dedup`) on an invalid threshold or texts.
    """
    items = list(texts) if not isinstance(texts, str) else texts  # a str is rejected below
    kept = rouge_l_dedup(items, threshold, tokenizer=tokenizer)
    n = len(items)
    lines = [f"threshold {threshold:.2f}: kept {len(kept)} of {n} texts, removed {n - len(kept)}"]
    pairs = pairs_near_threshold(items, threshold, window=window, k=k, tokenizer=tokenizer) if n > 1 else []
    if not pairs:
        lines.append(f"no pair scores within ±{window:.2f} of the threshold")
        return "\n".join(lines)
    lines.append(f"pairs at the boundary (ROUGE-L within ±{window:.2f}):")
    for p in pairs:
        verdict = "duplicate" if p.score > threshold else "distinct "
        lines.append(f"  {p.score:.3f} {verdict} #{p.i}: {_short(items[p.i])}")
        lines.append(f"  {'':5} {'':9} #{p.j}: {_short(items[p.j])}")
    return "\n".join(lines)


def threshold_explorer(
    texts: Sequence[str],
    value: float = 0.7,
    tokenizer: Any = "auto",
    k: int = 4,
    window: float = 0.05,
):
    """A FloatSlider over the ROUGE-L threshold and an Output with `describe_threshold`'s text."""
    import ipywidgets as widgets

    items = list(texts)
    describe_threshold(items, value, tokenizer, k, window)  # validate before building anything
    slider = widgets.FloatSlider(
        value=value, min=0.3, max=1.0, step=0.05, description="threshold",
        continuous_update=False, readout_format=".2f",
    )
    out = widgets.Output()

    def refresh(_change: Any = None) -> None:
        text = describe_threshold(items, round(float(slider.value), 2), tokenizer, k, window)
        # Setting `outputs` directly works in ipywidgets 7 and 8, in a kernel and without one.
        out.outputs = ({"output_type": "stream", "name": "stdout", "text": text + "\n"},)

    slider.observe(refresh, names="value")
    refresh()
    return widgets.VBox([slider, out])
