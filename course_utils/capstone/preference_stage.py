"""The capstone's optional preference stage, as plain functions (`PreferenceStep` calls them).

After the SFT rows are final (mixing done), the kept instructions (not the plain dialogue) get
`preference.k` candidate responses from the configured teacher; each candidate is scored
(verifiable checks, the judge when `prefer` names it, length); pairs are built with the margins
and cleaned (`course_utils.preference`: build_pairs, clean_pairs, to_trl_preference,
pair_report). The result is one JSON-ready dict: the TRL records, the pair report and the
counts. It never raises: bad model output gives fewer (or zero) pairs, counted, and an error
(a server that fails, a bug) is caught and reported, so the SFT export is never lost.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

from ..preference import (build_pairs, clean_pairs, pair_report, sample_responses,
                          score_responses, to_trl_preference)
from ..text_safety import sanitize

__all__ = ["RESULT_FILE", "failed_result", "preference_instructions", "preference_pairs",
           "read_result", "run_guarded", "summary_line"]

RESULT_FILE = "preference-result.json"  # in the run's stats folder, beside the stage counts


def preference_instructions(rows: list[dict]) -> list[dict]:
    """The kept instructions to pair: each non-dialogue row's instruction once, with its answer."""
    seen: set = set()
    out = []
    for r in rows:
        text = r.get("instruction")
        if r.get("kind") == "dialogue" or not isinstance(text, str) or not text.strip():
            continue
        if text not in seen:
            seen.add(text)
            out.append({"instruction": text, "answer": r.get("answer")})
    return out


def _empty_report(stats: Optional[dict] = None) -> dict:
    stats = stats or {"compared": 0, "ties": 0, "empty": 0, "margin": None}
    return pair_report([], stats)


def preference_pairs(llm: Any, rows: list[dict], cfg: dict) -> tuple[dict, dict]:
    """Sample, score, pair, clean and format: (result, stage counts). `llm` is loaded.

    result: {"records": TRL records, "report": pair_report + cleaning + sampling, "error": None};
    counts: instructions in, pairs out, and what happened on the way (for the stage table).
    """
    p = cfg["preference"]
    instructions = preference_instructions(rows)
    counts: dict[str, Any] = {"rows_in": len(instructions)}
    if not instructions:
        counts.update({"no_instructions": 1, "rows_out": 0})
        return {"records": [], "report": _empty_report(), "error": None}, counts
    sampled, sampling = sample_responses(llm, instructions, k=p["k"], temperature=p["temperature"],
                                         max_new_tokens=p["max_new_tokens"], seed=cfg["seed"])
    judge = llm if "judge" in p["prefer"] else None
    scored, outcomes = score_responses(sampled, judge)
    pairs, stats = build_pairs(scored, margin=p["margin"], prefer=tuple(p["prefer"]))
    clean, cleaning = clean_pairs(pairs, max_per_prompt=p["max_per_prompt"],
                                  max_longer_share=p["max_longer_share"])
    records, _ = sanitize(to_trl_preference(clean, system=cfg["output"]["system_prompt"]))
    report = {**pair_report(clean, stats), "pairs_before_cleaning": len(pairs),
              "decided_by_before_cleaning": dict(stats["decided_by"]), "cleaning": cleaning,
              "sampling": dict(sampling), "judge_replies": dict(outcomes), "k": p["k"]}
    counts.update({"responses": sampling.get("responses", 0), "usable": sampling.get("usable", 0)})
    counts.update({f"flagged_{k}": v for k, v in sorted(sampling.items())
                   if k not in ("responses", "usable") and v})
    bad_judge = sum(v for k, v in outcomes.items() if k != "ok")
    if bad_judge:
        counts["judge_unparsed"] = bad_judge
    counts.update({"compared": stats["compared"], "ties": stats["ties"], "pairs": len(pairs)})
    counts.update({f"by_{k}": v for k, v in report["decided_by"].items()})
    counts["cleaned_away"] = len(pairs) - len(clean)
    counts["rows_out"] = len(records)
    return {"records": records, "report": report, "error": None}, counts


def failed_result(n_instructions: int, error: str) -> tuple[dict, dict]:
    """The result of a stage that failed: no pairs, the error said (the SFT rows are unharmed)."""
    return ({"records": [], "report": _empty_report(), "error": error},
            {"rows_in": n_instructions, "failed": 1, "rows_out": 0})


def run_guarded(llm: Any, rows: list[dict], cfg: dict,
                describe: Callable[[BaseException], str]) -> tuple[dict, dict]:
    """Load `llm`, run `preference_pairs`, unload; any exception becomes `failed_result`."""
    try:
        llm.load()
        try:
            return preference_pairs(llm, rows, cfg)
        finally:
            try:
                llm.unload()
            except Exception:  # noqa: BLE001 - unloading is best effort
                pass
    except Exception as e:  # noqa: BLE001 - counted and reported, never the SFT export lost
        return failed_result(len(preference_instructions(rows)), describe(e))


def read_result(stats_dir: Any) -> dict:
    """The stage's result written by `PreferenceStep`, or a failed one saying it is missing."""
    path = Path(stats_dir) / RESULT_FILE
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(result, dict) and isinstance(result.get("records"), list):
            return result
    except (OSError, ValueError):
        pass
    return failed_result(0, "the preference stage's result is missing from the cache: run "
                            "again with --no-cache (use_cache=False)")[0]


def summary_line(result: dict) -> str:
    """One line for the dataset card: pairs by deciding source and judge-vs-verifiable agreement."""
    n = len(result.get("records") or [])
    report = result.get("report") or {}
    by = Counter(report.get("decided_by") or {})
    shown = ", ".join(f"{k}: {v}" for k, v in by.items() if v) or "none"
    agree = report.get("agreement") or {}
    both = agree.get("both_separate", 0)
    rate = f" ({agree['agree'] / both:.0%})" if both else ""
    line = (f"- preference pairs: {n} in `preference/train.jsonl` (decided by {shown}); judge vs "
            f"verifiable checks agree on {agree.get('agree', 0)}/{both} pairs both "
            f"separate{rate}")
    if result.get("error"):
        line += f"; **the preference stage failed**: {result['error']}"
    elif not n:
        line += "; 0 pairs: see the preference stage in the table below"
    return line
