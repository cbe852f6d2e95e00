"""Self-Instruct (Wang et al., 2022) as a small, seeded loop, plus the task x theme grid.

The loop of the paper, step by step:

1. a **seed pool** of human-written tasks (the course's own 44 in `data/seed_tasks.jsonl`);
2. every prompt shows 8 in-context tasks, **6 human + 2 machine-generated** (seeds only while
   the machine pool is still too small), in the paper's format "Come up with a series of tasks:"
   followed by "Task 1: ..." ... "Task 8: ..." and an open "Task 9:";
3. the model **continues the list** with new tasks;
4. each new task passes the paper's **filters** in order: word length (more than 3 and at most
   150 words), a keyword blacklist (tasks a text-only model cannot do), no punctuation or
   non-ASCII first character, and ROUGE-L F1 <= 0.7 against *every* task already kept;
5. the survivors join the pool and the next round samples from it.

`self_instruct` returns plain rows (one dict per new task) and a `SelfInstructStats` that counts,
per round, how many candidates each filter removed, and how the pool grew.

Everything is seeded: the same seed, seeds and LLM give the same rows (a sampling model is
seeded too, `generation.seed_sampling`). Model output is untrusted: empty, refused or malformed
output is counted (`malformed`) and skipped, never raised; the list is split whatever its shape
(`task_lists.split_tasks`: the paper's "Task k:", numbered, bulleted, markdown, inline).

Token budgets of notebook 02 (`TASK_LIST_TOKENS`, `QUERY_LIST_TOKENS`, `GRID_INSTRUCTION_TOKENS`,
and `prompts.RESPONSE_TOKENS` for answers) are defined here, with the measurement behind each.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ._quiet import quiet_distilabel
from .dedup import mean_pairwise_rouge_l, tokenize
from .generation import seed_sampling, with_budget
from .models import pipeline_llm
from ._validate import InputError, require_int, require_unit
from .parsing import is_refusal
from .pipelines import forks_safely, run_pipeline
from .progress import generate_outputs
from .prompts import GRID_TEMPLATE, RESPONSE_TOKENS, first_verb, grid_prompt
from .task_lists import parse_tasks, split_tasks

__all__ = [
    "BLACKLIST", "DEFAULT_FILTERS", "GRID_INSTRUCTION_TOKENS", "GRID_TEMPLATE", "ORIGINAL_SEEDS_URL",
    "PARAPHRASE_PAIRS", "QUERY_LIST_TOKENS", "RESPONSE_TOKENS", "STATS_TASKS", "STATS_THEMES",
    "TASK_LIST_TOKENS", "RougeIndex", "SelfInstructStats", "bad_start", "blacklisted", "build_prompt",
    "build_qa_pipeline", "diversity", "generate_from_grid", "grid_coverage", "grid_prompt", "load_seed_tasks",
    "parse_tasks", "pipeline_llm", "read_seed_file", "run_qa_pipeline", "self_instruct", "split_tasks",
    "task_theme_grid", "too_long", "too_short",
]

SEED_FILE = "data/seed_tasks.jsonl"
# The 175 human-written seed tasks of the paper (Apache-2.0). Optional: the course never needs them.
ORIGINAL_SEEDS_URL = "https://raw.githubusercontent.com/yizhongw/self-instruct/main/data/seed_tasks.jsonl"

PROMPT_HEADER = "Come up with a series of tasks:"
MIN_WORDS = 3  # a task needs MORE than 3 words (the paper: len(words) <= 3 is filtered)
MAX_WORDS = 150  # ... and at most 150
# The paper's blacklist: tasks a language model cannot do (it sees no images, files, maps, ...).
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
             "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")

# --- token budgets of notebook 02: at least twice the longest output each prompt asks for ---------
# Measured with the offline teacher, failures off (`get_llm("offline", failure_rates=None)`), in
# `teacher.approx_tokens` (words and punctuation marks; a WordPiece tokenizer counts up to 13%
# more on these texts), and against the course's exemplars; `tests/test_budgets.py` re-measures.
# The list of new tasks: 8 tasks (Task 9 to 16) of at most 251 tokens on 200 prompts (the 8
# longest seed tasks as such a list: 165). 1024 is 4x that, and the paper's own max_tokens (its
# GPT-3 calls stopped at the 16th task): room for a chat model's preamble and a rambling task, which
# the too_long filter must see whole rather than cut to a fragment that passes it.
TASK_LIST_TOKENS = 1024
# distilabel's SelfInstruct queries: 5 per call in the lesson (longest 110 tokens of 40), 10 per
# call elsewhere in the course (longest 269): 640 holds twice the longer.
QUERY_LIST_TOKENS = 640
# One grid instruction, with its code snippet: longest 75 of 180 draws; the longest of the three
# examples in `prompts.GRID_CODE_RULES` (the bug to fix, with its code) is 101: 256.
GRID_INSTRUCTION_TOKENS = 256

# --- seeds ---------------------------------------------------------------------------------


def load_seed_tasks() -> list[dict]:
    """The course's 44 human-written seed tasks (`instruction`, `input`, `output`), from the package data."""
    text = resources.files("course_utils").joinpath(SEED_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_seed_file(path_or_url: str) -> list[dict]:
    """Read a seed file (a path or, on Colab, a URL such as ORIGINAL_SEEDS_URL) into instruction/input/output rows.

    Accepts the course's format and the paper's (`instruction` plus a list of `instances`).
    """
    if re.match(r"https?://", str(path_or_url)):
        import requests

        text = requests.get(path_or_url, timeout=30).text
    else:
        with open(path_or_url, encoding="utf-8") as f:
            text = f.read()
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        instance = (rec.get("instances") or [{}])[0]
        rows.append({"instruction": rec.get("instruction", ""), "input": rec.get("input", instance.get("input", "")),
                     "output": rec.get("output", instance.get("output", ""))})
    return rows


def _seed_instructions(seeds: Any) -> list[str]:
    """Validate the seed pool and return its instructions; errors say how to fix the input."""
    if seeds is None:
        seeds = load_seed_tasks()
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError("seeds must be a list of task dicts (with an 'instruction' column) or of strings; "
                         "use load_seed_tasks() for the course's seed pool.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("The seed pool is empty: Self-Instruct needs human-written examples to start from. "
                         "Pass seeds=load_seed_tasks() (44 tasks) or at least a handful of your own.")
    out = []
    for i, s in enumerate(seeds):
        if isinstance(s, str):
            text = s
        elif isinstance(s, Mapping):
            if "instruction" not in s:
                raise ValueError(f"Seed row {i} has no 'instruction' column (columns: {sorted(s)}). Rename the "
                                 f"column holding the task, e.g. [{{'instruction': r['prompt']}} for r in rows].")
            text = s["instruction"]
        else:
            raise ValueError(f"Seed {i} is a {type(s).__name__}; pass dicts with an 'instruction' column or strings.")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Seed {i} has an empty or non-text instruction ({text!r}); remove it or fill it in.")
        out.append(" ".join(text.split()))
    return out


# --- prompt and parsing ----------------------------------------------------------------------


def build_prompt(instructions: Sequence[str]) -> str:
    """The paper's generation prompt: the examples as "Task k:" lines, then an open "Task n+1:"."""
    lines = [PROMPT_HEADER, ""]
    lines += [f"Task {k}: {' '.join(t.split())}" for k, t in enumerate(instructions, start=1)]
    lines.append(f"Task {len(instructions) + 1}:")
    return "\n".join(lines)


# --- the paper's filters (each returns True when the task must be REMOVED) --------------------


def too_short(task: str) -> bool:
    """3 words or fewer."""
    return len(task.split()) <= MIN_WORDS


def too_long(task: str) -> bool:
    """More than 150 words."""
    return len(task.split()) > MAX_WORDS


_BLACKLIST_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.I)


def blacklisted(task: str) -> bool:
    """Mentions a blacklisted word (image, graph, file, map, draw, plot, go to, video, audio, ...)."""
    return bool(_BLACKLIST_RE.search(task))


def bad_start(task: str) -> bool:
    """Starts with punctuation or a non-ASCII character."""
    first = task.lstrip()[:1]
    return not first or not first.isascii() or not first.isalnum()


DEFAULT_FILTERS: dict[str, Callable[[str], bool]] = {
    "too_short": too_short,
    "too_long": too_long,
    "blacklist": blacklisted,
    "bad_start": bad_start,
}

# --- ROUGE-L against everything kept -----------------------------------------------------------


class RougeIndex:
    """The kept pool, for ROUGE-L F1 of a new text against every kept text at once.

    Same tokens and same F1 formula as `course_utils.dedup.rouge_l` (tokenizer "auto"), but each
    text is tokenized once and the LCS against the whole pool is one vectorised rapidfuzz call.
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.texts: list[str] = []
        self._codes: list[str] = []
        self._lengths: list[int] = []
        self._vocab: dict[str, str] = {}
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self.texts)

    def _encode(self, text: str) -> str:
        vocab = self._vocab
        return "".join(vocab.setdefault(tok, chr(len(vocab))) for tok in tokenize(text, "auto"))

    def add(self, text: str) -> None:
        code = self._encode(text)
        self.texts.append(text)
        self._codes.append(code)
        self._lengths.append(len(code))

    def scores(self, text: str) -> list[float]:
        """ROUGE-L F1 of `text` against every kept text (in pool order)."""
        import numpy as np
        from rapidfuzz import process
        from rapidfuzz.distance import LCSseq

        code = self._encode(text)
        if not self._codes:
            return []
        if not code:
            return [0.0] * len(self._codes)
        lcs = process.cdist([code], self._codes, scorer=LCSseq.similarity, dtype=np.int64)[0].astype(np.float64)
        lt = np.asarray(self._lengths, dtype=np.float64)
        lp = float(len(code))
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = lcs / lp
            recall = lcs / lt
            denom = precision + recall
            f = 2.0 * precision * recall / denom
        return np.where((lt > 0) & (denom > 0), f, 0.0).tolist()

    def most_similar(self, text: str) -> tuple[float, Optional[str]]:
        """(highest ROUGE-L F1, the kept text that has it); (0.0, None) on an empty pool."""
        s = self.scores(text)
        if not s:
            return 0.0, None
        best = max(range(len(s)), key=s.__getitem__)
        return float(s[best]), self.texts[best]


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class SelfInstructStats:
    """Per-round counts: prompts, candidates, removals by filter, kept tasks and pool size."""

    filter_names: list[str]
    seed_pool: int
    rounds: list[dict] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)  # a few removed tasks per filter
    failures: Counter = field(default_factory=Counter)  # unparsable outputs by reason

    @property
    def columns(self) -> list[str]:
        return ["round", "prompts", "candidates", "malformed", *self.filter_names, "rouge", "kept", "pool"]

    def totals(self) -> dict[str, int]:
        """Sums over all rounds (pool: the final size)."""
        out = {c: sum(r[c] for r in self.rounds) for c in self.columns if c not in ("round", "pool")}
        out["pool"] = self.rounds[-1]["pool"] if self.rounds else self.seed_pool
        return out

    @property
    def kept(self) -> int:
        return sum(r["kept"] for r in self.rounds)

    def table(self) -> str:
        """A fixed-width text table, one line per round and a total line."""
        cols = self.columns
        widths = [max(len(c), 6) for c in cols]
        line = lambda cells: "  ".join(f"{str(c):>{w}}" for c, w in zip(cells, widths))  # noqa: E731
        out = [line(cols), line(["-" * w for w in widths])]
        out += [line([r[c] for c in cols]) for r in self.rounds]
        t = self.totals()
        out.append(line(["total"] + [t[c] for c in cols[1:]]))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def plot(self):
        """Left: candidates per round, stacked by the filter that removed them. Right: pool growth.

        Returns a matplotlib Figure, already closed in pyplot (display it as a cell's last value)."""
        import matplotlib.pyplot as plt

        names = ["malformed", *self.filter_names, "rouge", "kept"]
        palette = ["#9e9e9e", "#f6ad55", "#ed8936", "#c05621", "#9c4221", "#6b46c1", "#b794f4", "#4299e1", "#2f855a"]
        colors = {n: palette[i % len(palette)] for i, n in enumerate(names[:-1])}
        colors["kept"] = "#2f855a"
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
        xs = [r["round"] for r in self.rounds]
        bottom = [0] * len(xs)
        for n in names:
            values = [r[n] for r in self.rounds]
            if not any(values):
                continue
            ax.bar(xs, values, bottom=bottom, color=colors[n], label=n)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_xlabel("round")
        ax.set_ylabel("candidate tasks")
        ax.set_title("What happened to each candidate", fontsize=10)
        ax.set_xticks(xs)
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax2.plot([0, *xs], [self.seed_pool] + [r["pool"] for r in self.rounds], marker="o", color="#2b6cb0")
        ax2.set_xlabel("round")
        ax2.set_ylabel("tasks in the pool")
        ax2.set_title("Pool growth (round 0 = seeds)", fontsize=10)
        ax2.set_xticks([0, *xs])
        for a in (ax, ax2):
            a.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        plt.close(fig)  # returned, not shown: display it as a cell's last value (no double image)
        return fig


# --- the loop ---------------------------------------------------------------------------------------


def _require(check: Callable[[], Any], fix: str) -> Any:
    """Run a `_validate` check; its InputError gets the lesson's advice appended."""
    try:
        return check()
    except InputError as err:
        raise InputError(f"{err} {fix}") from None


def _int(value: Any, name: str, minimum: int, fix: str, fn: str = "self_instruct") -> int:
    return _require(lambda: require_int(value, name, minimum, fn=fn), fix)


def _check_threshold(threshold: Any) -> float:
    """The ROUGE-L threshold as a float in [0, 1], or an InputError that says what to use."""
    return _require(lambda: require_unit(threshold, "threshold", fn="self_instruct"),
                    "It is a ROUGE-L F1 similarity: use 0.7 as in the paper (higher keeps more "
                    "near-duplicates, lower removes more).")


def _check_filters(filters: Any) -> dict[str, Callable[[str], bool]]:
    if filters is None:
        return dict(DEFAULT_FILTERS)
    if not isinstance(filters, Mapping):
        raise ValueError("filters must be a dict {name: function(task) -> True to remove}, "
                         "e.g. {**DEFAULT_FILTERS, 'my_filter': my_function}.")
    for name, fn in filters.items():
        if not callable(fn):
            raise ValueError(f"filters[{name!r}] is not callable; pass a function task -> bool (True removes it).")
        if name in ("malformed", "rouge", "kept", "round", "prompts", "candidates", "pool"):
            raise ValueError(f"{name!r} is a reserved column name; call your filter something else.")
    return dict(filters)


def _first_rejecting(task: str, filters: Mapping[str, Callable[[str], bool]]) -> Optional[str]:
    for name, fn in filters.items():
        try:
            if fn(task):
                return name
        except Exception:  # a filter that crashes on odd text rejects it, counted under its name
            return name
    return None


def self_instruct(llm: Any, seeds: Any = None, *, rounds: int = 3, prompts_per_round: int = 8,
                  n_human: int = 6, n_machine: int = 2, threshold: float = 0.7, seed: int = 0,
                  filters: Optional[Mapping[str, Callable[[str], bool]]] = None,
                  max_examples: int = 3, max_new_tokens: int = TASK_LIST_TOKENS,
                  ) -> tuple[list[dict], SelfInstructStats]:
    """Run the Self-Instruct loop; returns (rows of new tasks, SelfInstructStats).

    Each round sends `prompts_per_round` prompts, each with `n_human` seed tasks and `n_machine`
    machine tasks sampled from the pool (seeds fill in while there are too few machine tasks),
    shuffled. `filters` (default DEFAULT_FILTERS) map a name to a function returning True to
    remove a task; they run in order, then the ROUGE-L filter (F1 > `threshold` with any kept task).
    Each answer is at most `max_new_tokens` long. A sampling model is seeded with `seed` first.
    Each row: instruction, round, max_rouge (with the pool when it was kept), most_similar.
    """
    pool_seeds = _seed_instructions(seeds)
    rounds = _int(rounds, "rounds", 1, "Use rounds=1 or more: each round generates and filters one batch.")
    prompts_per_round = _int(prompts_per_round, "prompts_per_round", 1, "Each round needs at least one prompt.")
    n_human = _int(n_human, "n_human", 0, "The paper uses 6 human (seed) tasks per prompt.")
    n_machine = _int(n_machine, "n_machine", 0, "The paper uses 2 machine tasks per prompt.")
    max_new_tokens = _int(max_new_tokens, "max_new_tokens", 1, "Use TASK_LIST_TOKENS, the lesson's budget.")
    if n_human + n_machine < 1:
        raise ValueError("n_human + n_machine must be >= 1: the prompt needs in-context examples (the paper: 6 + 2).")
    threshold = _check_threshold(threshold)
    filters = _check_filters(filters)
    if not hasattr(llm, "generate_outputs"):
        raise ValueError("llm must be a loaded distilabel LLM, e.g. llm = get_llm(seed=0).")

    rng = random.Random(seed)
    sampling = seed_sampling(llm, seed)  # a transformers model: torch seeded; a server: its `seed`
    index = RougeIndex(pool_seeds)
    machine: list[str] = []
    rows: list[dict] = []
    stats = SelfInstructStats(list(filters), len(pool_seeds))
    for r in range(1, rounds + 1):
        prompts = []
        for _ in range(prompts_per_round):
            m = rng.sample(machine, min(n_machine, len(machine)))
            h = rng.sample(pool_seeds, min(len(pool_seeds), n_human + n_machine - len(m)))
            examples = h + m
            rng.shuffle(examples)
            prompts.append([{"role": "user", "content": build_prompt(examples)}])
        outputs = generate_outputs(llm, prompts, desc=f"Self-Instruct round {r}/{rounds}",
                                   max_new_tokens=max_new_tokens, **sampling)
        counts = Counter()
        candidates: list[str] = []
        for out in outputs:
            for text in (out or {}).get("generations") or [None]:
                parsed = parse_tasks(text)
                if not parsed.ok:
                    stats.failures[parsed.reason] += 1
                    counts["malformed"] += 1
                    continue
                tasks, bad = split_tasks(text)
                counts["malformed"] += bad
                candidates.extend(tasks)
        for task in candidates:
            reason = _first_rejecting(task, filters)
            score, similar = (0.0, None)
            if reason is None:
                score, similar = index.most_similar(task)
                if score > threshold:
                    reason = "rouge"
            if reason:
                counts[reason] += 1
                seen = stats.examples.setdefault(reason, [])
                if len(seen) < max_examples:
                    seen.append(task)
                continue
            index.add(task)
            machine.append(task)
            rows.append({"instruction": task, "round": r, "max_rouge": round(score, 3), "most_similar": similar})
            counts["kept"] += 1
        stats.rounds.append({"round": r, "prompts": len(prompts), "candidates": len(candidates),
                             "malformed": counts["malformed"], **{n: counts[n] for n in filters},
                             "rouge": counts["rouge"], "kept": counts["kept"], "pool": len(index)})
    return rows, stats


# --- task x theme grid -----------------------------------------------------------------------------

STATS_TASKS = ("explain code", "fix code", "write code")
STATS_THEMES = ("mean and variance", "hypothesis tests", "regression")

def task_theme_grid(tasks: Sequence[str], themes: Sequence[str]) -> list[dict]:
    """One row per (task, theme) cell: task, theme and the prompt that asks for that instruction."""
    for name, values in (("tasks", tasks), ("themes", themes)):
        if isinstance(values, str) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"{name} must be a non-empty list of non-empty strings, e.g. {list(STATS_TASKS)!r}.")
    return [{"task": t.strip(), "theme": th.strip(), "prompt": grid_prompt(t.strip(), th.strip())}
            for t in tasks for th in themes]


def _clean_instruction(text: Any) -> Optional[str]:
    if not isinstance(text, str) or not text.strip() or (is_refusal(text) and len(text.split()) < 25):
        return None
    text = re.sub(r"^\s*(instruction|task)\s*:\s*", "", text.strip(), flags=re.I)
    return text.strip() or None


def generate_from_grid(llm: Any, grid: Sequence[Mapping], num_generations: int = 1,
                       max_new_tokens: int = GRID_INSTRUCTION_TOKENS) -> tuple[list[dict], Counter]:
    """Ask for one instruction per cell (`num_generations` each); returns (rows, failures by reason)."""
    grid = list(grid)
    missing = [i for i, g in enumerate(grid) if not isinstance(g, Mapping) or not {"task", "theme", "prompt"} <= set(g)]
    if missing:
        raise ValueError(f"Grid row {missing[0]} lacks the columns task/theme/prompt; build rows with task_theme_grid().")
    _int(num_generations, "num_generations", 1, "Ask for at least one instruction per cell.", "generate_from_grid")
    _int(max_new_tokens, "max_new_tokens", 1, "Use GRID_INSTRUCTION_TOKENS, the lesson's budget.",
         "generate_from_grid")
    if not grid:
        return [], Counter()
    outputs = generate_outputs(llm, [[{"role": "user", "content": g["prompt"]}] for g in grid],
                               desc="task x theme grid", num_generations=num_generations,
                               max_new_tokens=max_new_tokens)
    rows, failures = [], Counter()
    for g, out in zip(grid, outputs):
        for text in (out or {}).get("generations") or [None]:
            instruction = _clean_instruction(text)
            if instruction is None:
                failures["empty" if not (isinstance(text, str) and text.strip()) else "refusal"] += 1
                continue
            rows.append({"task": g["task"], "theme": g["theme"], "instruction": instruction})
    return rows, failures


def diversity(texts: Sequence[str]) -> dict:
    """n, mean pairwise ROUGE-L (lower = more diverse; None under 2 texts), distinct root verbs and their ratio."""
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    verbs = [v for v in (first_verb(t) for t in texts) if v]
    return {
        "n": len(texts),
        "mean_rouge_l": round(mean_pairwise_rouge_l(texts), 3) if len(texts) >= 2 else None,
        "distinct_verbs": len(set(verbs)),
        "distinct_verb_ratio": round(len(set(verbs)) / len(verbs), 3) if verbs else 0.0,
    }


# Keywords that say which cell of the statistics grid a task belongs to (for measuring coverage).
STATS_TASK_KEYWORDS = {
    "explain code": ("explain", "describe", "walk", "what this", "what it prints"),
    "fix code": ("fix", "bug", "debug", "correct", "wrong"),
    "write code": ("write", "implement", "code a", "function to"),
}
STATS_THEME_KEYWORDS = {
    "mean and variance": ("mean", "variance", "average", "standard deviation"),
    "hypothesis tests": ("hypothesis", "p-value", "significan", "t-test", "ttest", "z statistic", "null"),
    "regression": ("regression", "slope", "r^2", "polyfit", "coefficient"),
}
_CODE_WORDS = ("code", "python", "function", "snippet", "script", "def ", "import ")


def grid_coverage(texts: Sequence[str], task_keywords: Mapping[str, Sequence[str]] = STATS_TASK_KEYWORDS,
                  theme_keywords: Mapping[str, Sequence[str]] = STATS_THEME_KEYWORDS,
                  require: Sequence[str] = _CODE_WORDS) -> dict[tuple[str, str], int]:
    """How many texts fall in each (task, theme) cell, by keywords (a text must also mention one of `require`)."""
    cells = {(t, th): 0 for t in task_keywords for th in theme_keywords}
    for text in texts:
        low = (text or "").lower()
        if require and not any(w in low for w in require):
            continue
        for t, tk in task_keywords.items():
            if not any(w in low for w in tk):
                continue
            for th, hk in theme_keywords.items():
                if any(w in low for w in hk):
                    cells[(t, th)] += 1
    return cells


# --- questions and answers in two steps, as a distilabel Pipeline -------------------------------


def build_qa_pipeline(llm: Any, grid: Sequence[Mapping], *, in_process: bool = False):
    """`load >> question >> answer` as a distilabel `Pipeline` (built, not run).

    The question step sends each cell's grid prompt (`input_mappings`: the `prompt` column is its
    instruction) and names the model's answer `instruction`; the answer step answers that
    instruction alone and names its answer `response` (`output_mappings`). Budgets:
    GRID_INSTRUCTION_TOKENS and RESPONSE_TOKENS. For worker processes (`in_process=False`) the steps
    get a picklable copy of `llm` (`pipeline_llm`). Run it with `pipelines.run_pipeline`.
    """
    quiet_distilabel()
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    model = llm if in_process else pipeline_llm(llm)
    cells = [{"task": g["task"], "theme": g["theme"], "prompt": g["prompt"]} for g in grid]
    with Pipeline(name="self-instruct-qa") as pipeline:
        load = LoadDataFromDicts(name="load", data=cells, batch_size=max(len(cells), 1))
        question = TextGeneration(name="question", llm=with_budget(model, max_new_tokens=GRID_INSTRUCTION_TOKENS),
                                  input_mappings={"instruction": "prompt"},
                                  output_mappings={"generation": "instruction"},
                                  add_raw_input=False, add_raw_output=False)
        answer = TextGeneration(name="answer", llm=with_budget(model, max_new_tokens=RESPONSE_TOKENS),
                                output_mappings={"generation": "response"}, add_raw_input=False,
                                add_raw_output=False)
        load >> question >> answer
    return pipeline


def run_qa_pipeline(llm: Any, grid: Sequence[Mapping], *, use_pipeline: Optional[bool] = None) -> list[dict]:
    """Run `build_qa_pipeline`; returns plain rows (task, theme, instruction, response).

    With `use_pipeline` (default: when the LLM forks safely, `pipelines.forks_safely`: the offline
    teacher or a server's client) the steps run in distilabel's worker processes; otherwise the
    same steps run in this process on the already loaded model (a transformers model: a forked
    worker cannot use CUDA, can hang on CPU inside a Jupyter kernel, and would load the weights
    again). A failed generation is kept as an empty string.
    """
    grid = list(grid)
    if any(not isinstance(g, Mapping) or not {"task", "theme", "prompt"} <= set(g) for g in grid):
        raise ValueError("Each grid row needs the columns task/theme/prompt; build rows with task_theme_grid().")
    if not grid:
        return []
    if use_pipeline is None:
        use_pipeline = forks_safely(llm)
    rows = run_pipeline(build_qa_pipeline(llm, grid, in_process=not use_pipeline), in_process=not use_pipeline)
    text = lambda value: value if isinstance(value, str) else ""  # noqa: E731
    return [{"task": r.get("task"), "theme": r.get("theme"), "instruction": text(r.get("instruction")),
             "response": text(r.get("response"))} for r in rows]


# --- paraphrases, for choosing the ROUGE-L threshold --------------------------------------------------

# Hand-written (task, paraphrase) pairs: same meaning, more and more different wording.
PARAPHRASE_PAIRS = (
    ("Explain why the sky looks blue during the day.", "Explain why the sky appears blue during the day."),
    ("Write a Python function that returns the median of a list.",
     "Write a Python function that computes the median of a list of numbers."),
    ("Translate the sentence into French.", "Translate this sentence to French."),
    ("Plan a three-day trip to Lisbon on a small budget.", "Plan a cheap three-day trip to Lisbon."),
    ("Give three tips for staying focused while studying.", "Give me three tips to stay focused when studying."),
    ("Summarize the article in one sentence.", "Sum up the article in a single sentence."),
    ("Find the grammatical error in the sentence and correct it.", "Correct the grammar mistake in this sentence."),
    ("Classify the review as positive or negative.", "Is this review positive or negative?"),
    ("Suggest a name for a new bakery.", "Come up with a name for a bakery that just opened."),
    ("Calculate the monthly payment on a $12,000 loan at 6% over 3 years.",
     "What is the monthly payment for a loan of $12,000 at 6% interest over three years?"),
    ("Describe the difference between weather and climate.", "How is weather different from climate?"),
    ("List the pros and cons of working from home.", "What are the advantages and disadvantages of remote work?"),
)

