"""`report`: a one-page, deterministic markdown report of a data set, with its PNGs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import dedup
from .._validate import require_rows, require_str
from .accuracy import if_rate
from .complexity import _quantile, complexity_table, root_verb_object
from .constraints import _words, parse_constraints
from .diversity import DISTINCT_BATCH, collapse_alarm, distinct_n
from .plots import _sunburst, _verb_table, plot_complexity

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    from matplotlib.figure import Figure

__all__ = ["Report", "report"]


@dataclass
class Report:
    """What `report` wrote: the markdown text, its path, the figure paths and the metrics."""

    markdown: str
    path: Path
    figures: dict[str, Path]
    metrics: dict[str, Any]

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown

    def __repr__(self) -> str:  # no absolute paths: notebooks compare this text
        alarm = self.metrics.get("collapse", {}).get("alarm")
        return f"Report({self.path.name!r}, figures={sorted(self.figures)}, alarm={alarm})"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _save(fig: Figure, path: Path) -> Path:
    # No "Software"/date metadata: the same data gives byte-identical PNGs.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def report(
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    title: str = "Dataset report",
    text_key: str = "instruction",
    response_key: str | None = None,
    *,
    embeddings: bool = False,
    max_pairs: int = 20_000,
    top_verbs: int = 10,
    seed: int = 0,
) -> Report:
    """Write a one-page `report.md` and its PNGs into out_dir; return a `Report` (markdown first).

    Sections: counts, length, complexity, diversity, collapse-alarm verdict, instruction
    following (when rows carry a `constraints` list, or when `response_key` is given and the
    instructions state constraints that `parse_constraints` finds) and the top root verbs.
    Rows whose text or response is missing, not a string or empty are counted, never fatal (a
    malformed constraint dict does raise: constraints are the data builder's input). The
    output is deterministic (no timestamps, seeded sampling), so two runs give identical files.
    """
    rows = require_rows(rows, fn="report")
    require_str(title, "title", fn="report")
    require_str(text_key, "text_key", fn="report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = [row.get(text_key) for row in rows]
    texts = [t for t in raw if isinstance(t, str) and t.strip()]
    n_invalid = sum(not isinstance(t, str) for t in raw)
    n_empty = sum(isinstance(t, str) and not t.strip() for t in raw)
    n_unique = len(dedup.exact_dedup(texts, normalize=True))
    metrics: dict[str, Any] = {
        "rows": len(rows),
        "texts": len(texts),
        "invalid": n_invalid,
        "empty": n_empty,
        "unique": n_unique,
    }
    md = [f"# {title}", ""]
    md += ["## Counts", ""]
    md += _md_table(
        ["rows", f"usable `{text_key}`", "missing or not text", "empty", "unique (normalised)"],
        [[len(rows), len(texts), n_invalid, n_empty, n_unique]],
    )
    figures: dict[str, Path] = {}
    if not texts:
        md += ["", f"No usable `{text_key}` text: nothing else to measure."]
        return _finish(out, md, figures, metrics)

    lengths = sorted(len(_words(t)) for t in texts)
    length_rows = [[f"`{text_key}`", *_length_stats(lengths)]]
    if response_key is not None:
        responses = [r.get(response_key) for r in rows]
        good = sorted(len(_words(r)) for r in responses if isinstance(r, str) and r.strip())
        metrics["bad_responses"] = len(responses) - len(good)
        if good:
            length_rows.append([f"`{response_key}`", *_length_stats(good)])
    md += ["", "## Length (words)", ""]
    md += _md_table(["field", "min", "median", "mean", "p90", "max"], length_rows)
    if response_key is not None:
        md += ["", f"Missing, non-text or empty `{response_key}`: {metrics['bad_responses']}."]

    table = complexity_table(texts)
    metrics["complexity"] = table
    md += ["", "## Complexity", ""]
    md += _md_table(
        ["measure", "mean", "median", "p90"],
        [
            [k, table[f"{k}_mean"], table[f"{k}_median"], table[f"{k}_p90"]]
            for k in ("words", "constraints", "reasoning", "score")
        ],
    )
    md += [
        "",
        f"Share with a constraint cue: {table['share_with_constraints']:.1%}; "
        f"with a reasoning cue: {table['share_with_reasoning']:.1%}; "
        f"with a recognised root verb: {table['share_with_verb']:.1%}.",
    ]
    figures["complexity"] = _save(plot_complexity({title: texts}), out / "complexity.png")
    md += ["", "![complexity](complexity.png)"]

    md += ["", "## Diversity", ""]
    diversity = [
        ["distinct-1 (whole set)", distinct_n(texts, 1)],
        ["distinct-2 (whole set)", distinct_n(texts, 2)],
    ]
    if len(texts) >= 2:
        collapse = collapse_alarm(texts, embeddings=embeddings, max_pairs=max_pairs, seed=seed)
        metrics["collapse"] = collapse
        diversity += [
            [f"distinct-2 (per {DISTINCT_BATCH} texts)", collapse["distinct_2"]],
            ["mean pairwise ROUGE-L", collapse["mean_rouge_l"]],
        ]
        if embeddings:
            diversity.append(["mean embedding cosine", collapse["mean_cosine"]])
        md += _md_table(["metric", "value"], diversity)
        verdict = "ALARM" if collapse["alarm"] else "OK"
        md += ["", "## Mode collapse", "", f"**{verdict}** — {collapse['reason']}."]
    else:
        md += _md_table(["metric", "value"], diversity)
        md += ["", "## Mode collapse", "", "Not measured: it needs at least two texts."]

    md += _if_section(rows, text_key, response_key, metrics)

    md += ["", "## Top root verbs", ""]
    pairs = [root_verb_object(t) for t in texts]
    verbs = _verb_table(pairs, top_verbs, 3)
    metrics["top_verbs"] = [(verb, count) for verb, count, _ in verbs]
    if verbs:
        md += _md_table(
            ["verb", "count", "share", "top objects"],
            [
                [verb, count, f"{count / len(texts):.1%}", ", ".join(f"{o} ({c})" for o, c in top)]
                for verb, count, top in verbs
            ],
        )
        figures["verbs"] = _save(_sunburst(pairs, top_verbs, 4), out / "verbs.png")
        md += ["", "![verbs](verbs.png)"]
    else:
        md += ["No root verb recognised."]
    return _finish(out, md, figures, metrics)


def _length_stats(lengths: Sequence[int]) -> list[str]:
    """min, median, mean, p90, max of sorted word counts, to one decimal."""
    median, p90 = _quantile(lengths, 0.5), _quantile(lengths, 0.9)
    values = (lengths[0], median, statistics.fmean(lengths), p90, lengths[-1])
    return [_fmt(float(v), 1) for v in values]


def _if_section(
    rows: Sequence[Mapping[str, Any]], text_key: str, response_key: str | None, metrics: dict
) -> list[str]:
    carried = any(
        isinstance(r.get("constraints"), (list, tuple)) and r.get("constraints") for r in rows
    )
    if response_key is None:
        if carried:
            return [
                "",
                "## Instruction following",
                "",
                "Rows carry constraints, but no `response_key` was given: not measured.",
            ]
        return []
    if carried:
        constraints = [r.get("constraints") for r in rows]
        source = "the rows' `constraints`"
    else:
        constraints = [
            parse_constraints(r[text_key]) if isinstance(r.get(text_key), str) else [] for r in rows
        ]
        source = f"constraints found in `{text_key}` by parse_constraints"
    scored = [
        {"response": r.get(response_key), "constraints": c}
        for r, c in zip(rows, constraints)
        if isinstance(c, (list, tuple)) and c
    ]
    if not scored:
        return ["", "## Instruction following", "",
                f"No verifiable constraint found in `{text_key}`."]
    rate = if_rate(scored)
    metrics["if_rate"] = rate
    lines = [
        "",
        "## Instruction following",
        "",
        f"{rate['n_prompts']} prompts, {rate['n_instructions']} constraints, from {source}; "
        f"{rate['n_bad_responses']} missing responses count as failures.",
        "",
    ]
    lines += _md_table(
        ["level", "strict", "loose"],
        [
            ["prompt", rate["prompt_strict"], rate["prompt_loose"]],
            ["instruction", rate["instruction_strict"], rate["instruction_loose"]],
        ],
    )
    lines += [""]
    lines += _md_table(
        ["kind", "n", "strict", "loose"],
        [[k, v["n"], v["strict"], v["loose"]] for k, v in rate["per_kind"].items()],
    )
    return lines


def _finish(out: Path, md: list[str], figures: dict[str, Path], metrics: dict) -> Report:
    text = "\n".join(md) + "\n"
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    return Report(markdown=text, path=path, figures=figures, metrics=metrics)
