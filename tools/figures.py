"""The course's explanatory figures, drawn by code (`make images` writes them to images/).

    python tools/figures.py images [--out DIR]   # default DIR: this repository's images/

Each function returns a matplotlib Figure; `write_all` saves every figure as PNG with fixed
metadata, so regenerating a figure that did not change leaves the file byte-identical.
A maintainer tool, not part of the installed package.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from course_utils.formats import build_labels, token_strings
from course_utils.tiny import ensure_tiny_model

ROOT = Path(__file__).resolve().parents[1]

BLUE, ORANGE, GREY, DARK = "#2b6cb0", "#dd6b20", "#a0aec0", "#1a202c"


def _box(ax, x, y, text, color, w=0.26, h=0.1, fontsize=8.5, pad=0.01):
    from matplotlib.patches import FancyBboxPatch

    style = f"round,pad={pad},rounding_size={2 * pad}"
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style,
                                fc=color, ec="none", alpha=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color="white", wrap=True)


def _arrow(ax, x0, y0, x1, y1, color=DARK):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="->", color=color, lw=1.2))


def breadth_vs_depth():
    """Self-Instruct grows a pool sideways (new tasks); Evol-Instruct deepens one task."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax in (left, right):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
    left.set_title("Self-Instruct: breadth (new tasks from a seed pool)", fontsize=11)
    _box(left, 0.5, 0.85, "seed pool\n175 human tasks", DARK, w=0.3)
    tasks = ["Explain the median", "Plan a 3-day trip", "Fix this SQL query", "Write a haiku",
             "Compare two loans"]
    for i, t in enumerate(tasks):
        x = 0.1 + i * 0.2
        _box(left, x, 0.42, t, BLUE, w=0.17, h=0.14, fontsize=7)
        _arrow(left, 0.5, 0.79, x, 0.5)
    left.text(0.5, 0.17, "filters: length, keywords, ROUGE-L > 0.7 vs. pool\n"
              "kept tasks join the pool: it grows wider each round",
              ha="center", fontsize=8.5, color=DARK)
    right.set_title("Evol-Instruct: depth (one task, rewritten round by round)", fontsize=11)
    rounds = ["Explain the median.", "+ constraint: in under 100 words,\nfor a nurse",
              "+ reasoning: compare it with the\nmean on skewed pay data, step by step",
              "+ concrete input: salaries\n\\$31k, \\$35k, \\$38k, \\$240k"]
    for i, t in enumerate(rounds):
        y = 0.85 - i * 0.22
        _box(right, 0.42, y, t, ORANGE if i else DARK, w=0.6, h=0.15, fontsize=8)
        if i:
            _arrow(right, 0.42, y + 0.145, 0.42, y + 0.08)
            right.text(0.76, y, f"round {i}", fontsize=8, color=DARK, va="center")
    right.text(0.42, 0.02, "elimination: unchanged, refusal, shorter, template words, too long",
               ha="center",
               fontsize=8.5, color=DARK)
    fig.tight_layout()
    return fig


PIPELINE_STAGES = [
    ("load seeds", DARK), ("Self-Instruct", BLUE), ("Evol-Instruct", ORANGE),
    ("answers\n(CoT for math)", BLUE),
    ("parse + filter", GREY), ("quality\nscoring", GREY), ("dedup\nROUGE-L,\nembeddings", GREY),
    ("mix 10-20%\ndialogue", GREY), ("export\nJSONL,\nDataset, card", DARK),
]


def pipeline_diagram():
    """The capstone pipeline (notebook 09): generation steps, then filtering steps, then export."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 2.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    n = len(PIPELINE_STAGES)
    xs = [0.055 + i * (0.89 / (n - 1)) for i in range(n)]
    for i, ((label, color), x) in enumerate(zip(PIPELINE_STAGES, xs)):
        _box(ax, x, 0.55, label, color, w=0.088, h=0.42, fontsize=7.5, pad=0.004)
        if i:
            _arrow(ax, xs[i - 1] + 0.048, 0.55, x - 0.048, 0.55)
    ax.text(0.26, 0.1, "generate (one teacher model, loaded once)", ha="center", fontsize=9,
            color=BLUE)
    ax.text(0.72, 0.1, "filter and shape (no model needed, except embeddings)", ha="center",
            fontsize=9, color="#4a5568")
    fig.tight_layout()
    return fig


LOSS_MASK_EXAMPLE = [
    {"role": "system", "content": "You are a concise math tutor."},
    {"role": "user", "content": "What is 15% of 80?"},
    {"role": "assistant", "content": "15% of 80 is 0.15 x 80 = 12."},
]


def loss_mask():
    """A ChatML conversation's tokens, coloured by whether they carry loss (assistant-only)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model())
    input_ids, labels = build_labels(tokenizer, LOSS_MASK_EXAMPLE)
    # make spaces and newlines visible
    shown = {" ": "\u2423", "\n": "\\n", "\u0120": "\u2423", "\u010a": "\\n"}
    tokens = ["".join(shown.get(ch, ch) for ch in t) for t in token_strings(tokenizer, input_ids)]
    fig, ax = plt.subplots(figsize=(11, 3.3))
    ax.axis("off")
    x, y, line_h, max_x = 0.0, 0.0, 1.0, 60.0
    placed = []
    for tok, lab in zip(tokens, labels):
        w = 0.55 * max(len(tok), 1) + 0.5
        if x + w > max_x:
            x, y = 0.0, y - line_h
        placed.append((x, y, w, tok, lab != -100))
        x += w + 0.15
    for x0, y0, w, tok, trained in placed:
        ax.add_patch(FancyBboxPatch((x0, y0 - 0.38), w, 0.76, boxstyle="round,pad=0.02",
                                    fc="#38a169" if trained else "#e2e8f0", ec="none"))
        ax.text(x0 + w / 2, y0, tok, ha="center", va="center", fontsize=7.5, family="monospace",
                color="white" if trained else "#4a5568")
    ax.set_xlim(-0.5, max_x + 0.5)
    ax.set_ylim(y - 1.2, 0.8)
    n_loss = sum(lab != -100 for lab in labels)
    ax.set_title(f"Assistant-only loss on the course's tiny tokenizer: {n_loss} of {len(labels)} "
                 "tokens carry loss (green); "
                 "system and user tokens\nare masked with -100 (grey)", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable] = {
    "breadth_vs_depth.png": breadth_vs_depth,
    "capstone_pipeline.png": pipeline_diagram,
    "loss_mask.png": loss_mask,
}


def write_all(out_dir: str | Path = ROOT / "images") -> list[Path]:
    """Render every figure into `out_dir` (PNG, no timestamps in the metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in FIGURES.items():
        fig = make()
        fig.savefig(out / name, dpi=110, metadata={"Software": None})
        plt.close(fig)
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python tools/figures.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    images = sub.add_parser("images", help="render every figure as PNG")
    images.add_argument("--out", type=Path, default=ROOT / "images")
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
