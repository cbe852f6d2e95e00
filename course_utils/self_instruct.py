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

Everything is seeded: the same seed, seeds and LLM give the same rows. Model output is untrusted:
empty, refused or malformed output is counted (`malformed`) and skipped, never raised.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ._quiet import _DropMessages, quiet_distilabel
from .dedup import mean_pairwise_rouge_l, tokenize
from .models import is_offline_teacher, pipeline_llm
from ._validate import require_unit
from .parsing import ParseResult, is_refusal
from .progress import generate_outputs
from .prompts import GRID_TEMPLATE, first_verb, grid_prompt

__all__ = [
    "BLACKLIST", "DEFAULT_FILTERS", "ORIGINAL_SEEDS_URL", "PARAPHRASE_PAIRS", "STATS_TASKS", "STATS_THEMES",
    "RougeIndex", "SelfInstructStats", "bad_start", "blacklisted", "build_prompt", "diversity",
    "generate_from_grid", "grid_coverage", "grid_prompt", "load_seed_tasks", "parse_tasks", "pipeline_llm",
    "read_seed_file", "run_qa_pipeline", "self_instruct", "split_tasks",
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


_TASK_SPLIT = re.compile(r"^[ \t]*Task[ \t]*\d+[ \t]*[:.][ \t]*", re.M)


def split_tasks(text: Any) -> tuple[list[str], int]:
    """Split a continuation into tasks; returns (tasks, number of malformed pieces).

    The text before the first "Task k:" continues the prompt's open task. A piece is malformed
    when it is empty or is chatter rather than a task (it ends with ':').
    """
    if not isinstance(text, str) or not text.strip():
        return [], 1
    pieces = _TASK_SPLIT.split(text)
    tasks, bad = [], 0
    for i, piece in enumerate(pieces):
        lines = [ln.strip() for ln in piece.strip().splitlines()]
        chatter = False
        while lines and (not lines[-1] or lines[-1].endswith(":")):  # "Here are more tasks:" after a task
            chatter = chatter or bool(lines[-1])
            lines.pop()
        task = " ".join(" ".join(lines).split())
        if not task:
            bad += bool(i > 0 or chatter)  # an empty leading piece is normal ("Task 9:" answered on the next line)
            continue
        bad += chatter
        tasks.append(task)
    return tasks, bad


def parse_tasks(text: Any) -> ParseResult:
    """Parse the model's continuation into new tasks; never raises (reason: empty, refusal, no_tasks)."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, [], "empty")
    if is_refusal(text) and len(text.split()) < 25:
        return ParseResult(False, [], "refusal")
    tasks, _ = split_tasks(text)
    if not tasks:
        return ParseResult(False, [], "no_tasks")
    return ParseResult(True, tasks)


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
        """Left: candidates per round, stacked by the filter that removed them. Right: pool growth."""
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
        return fig


# --- the loop ---------------------------------------------------------------------------------------


def _check_int(value: Any, name: str, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}. {fix}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}. {fix}")
    return value


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        require_unit(threshold, "threshold")  # the type error: "must be a number in [0, 1] such as 0.7"
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(float(threshold)) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold={threshold!r} is outside [0, 1]: it is a ROUGE-L F1 similarity. "
                         f"Use 0.7 as in the paper (higher keeps more near-duplicates, lower removes more).")
    return float(threshold)


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


def _seed_sampling(llm: Any, seed: int) -> None:
    """Seed torch's sampling too when a real model may answer (the offline teacher is seeded by its own `seed`).

    Only when torch is already imported (a transformers model is loaded): importing it here would cost seconds.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None or type(llm).__module__.startswith("course_utils.teacher"):
        return
    torch.manual_seed(seed)


def self_instruct(llm: Any, seeds: Any = None, *, rounds: int = 3, prompts_per_round: int = 8,
                  n_human: int = 6, n_machine: int = 2, threshold: float = 0.7, seed: int = 0,
                  filters: Optional[Mapping[str, Callable[[str], bool]]] = None,
                  max_examples: int = 3) -> tuple[list[dict], SelfInstructStats]:
    """Run the Self-Instruct loop; returns (rows of new tasks, SelfInstructStats).

    Each round sends `prompts_per_round` prompts, each with `n_human` seed tasks and `n_machine`
    machine tasks sampled from the pool (seeds fill in while there are too few machine tasks),
    shuffled. `filters` (default DEFAULT_FILTERS) map a name to a function returning True to
    remove a task; they run in order, then the ROUGE-L filter (F1 > `threshold` with any kept task).
    Each row: instruction, round, max_rouge (with the pool when it was kept), most_similar.
    """
    pool_seeds = _seed_instructions(seeds)
    rounds = _check_int(rounds, "rounds", 1, "Use rounds=1 or more: each round generates and filters one batch.")
    prompts_per_round = _check_int(prompts_per_round, "prompts_per_round", 1, "Each round needs at least one prompt.")
    n_human = _check_int(n_human, "n_human", 0, "The paper uses 6 human (seed) tasks per prompt.")
    n_machine = _check_int(n_machine, "n_machine", 0, "The paper uses 2 machine tasks per prompt.")
    if n_human + n_machine < 1:
        raise ValueError("n_human + n_machine must be >= 1: the prompt needs in-context examples (the paper: 6 + 2).")
    threshold = _check_threshold(threshold)
    filters = _check_filters(filters)
    if not hasattr(llm, "generate_outputs"):
        raise ValueError("llm must be a loaded distilabel LLM, e.g. llm = get_llm(seed=0).")

    rng = random.Random(seed)
    _seed_sampling(llm, seed)
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
        outputs = generate_outputs(llm, prompts, desc=f"Self-Instruct round {r}/{rounds}")
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


def generate_from_grid(llm: Any, grid: Sequence[Mapping], num_generations: int = 1) -> tuple[list[dict], Counter]:
    """Ask for one instruction per cell (`num_generations` each); returns (rows, failures by reason)."""
    grid = list(grid)
    missing = [i for i, g in enumerate(grid) if not isinstance(g, Mapping) or not {"task", "theme", "prompt"} <= set(g)]
    if missing:
        raise ValueError(f"Grid row {missing[0]} lacks the columns task/theme/prompt; build rows with task_theme_grid().")
    _check_int(num_generations, "num_generations", 1, "Ask for at least one instruction per cell.")
    if not grid:
        return [], Counter()
    outputs = generate_outputs(llm, [[{"role": "user", "content": g["prompt"]}] for g in grid],
                               desc="task x theme grid", num_generations=num_generations)
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


def _run_pipeline(data: list[dict], steps: Callable) -> list[dict]:
    import datasets
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    cache = tempfile.mkdtemp(prefix="course-distilabel-")
    old_level = os.environ.get("DISTILABEL_LOG_LEVEL")
    os.environ["DISTILABEL_LOG_LEVEL"] = "ERROR"
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the Distiset is built with datasets, whose bars would land in the notebook
    try:
        with Pipeline(name="self-instruct-qa", cache_dir=cache) as pipeline:
            load = LoadDataFromDicts(name="load", data=data, batch_size=len(data))
            question, answer = steps()
            load >> question >> answer
        distiset = pipeline.run(use_cache=False)
        return distiset["default"]["train"].to_list()
    finally:
        if old_level is None:
            os.environ.pop("DISTILABEL_LOG_LEVEL", None)
        else:
            os.environ["DISTILABEL_LOG_LEVEL"] = old_level
        shutil.rmtree(cache, ignore_errors=True)
        if bars_were_on:
            datasets.enable_progress_bars()


def run_qa_pipeline(llm: Any, grid: Sequence[Mapping], *, use_pipeline: Optional[bool] = None) -> list[dict]:
    """LoadDataFromDicts -> question step -> answer step; returns plain rows (task, theme, instruction, response).

    The question step fills GRID_TEMPLATE from each row's task and theme; the answer step is a
    plain TextGeneration on the question alone (short, focused prompts). With `use_pipeline`
    (default: only for the offline teacher) the steps run as a distilabel `Pipeline` in worker
    processes, with logs kept to errors and the cache in a temporary folder deleted afterwards.
    Otherwise the same two steps run in this process on the already loaded model: a worker that
    loads torch weights inside a Jupyter kernel can hang, and each worker would load them again.
    """
    quiet_distilabel()
    from distilabel.steps.tasks import TextGeneration

    data = [{"task": g["task"], "theme": g["theme"]} for g in grid]
    if not data:
        return []
    if use_pipeline is None:
        use_pipeline = is_offline_teacher(llm)
    template = GRID_TEMPLATE.replace("{task}", "{{ task }}").replace("{theme}", "{{ theme }}")

    def steps(model):
        question = TextGeneration(name="question", llm=model, template=template, columns=["task", "theme"],
                                  output_mappings={"generation": "instruction"}, add_raw_input=False,
                                  add_raw_output=False)
        answer = TextGeneration(name="answer", llm=model, output_mappings={"generation": "response"},
                                add_raw_input=False, add_raw_output=False)
        return question, answer

    if not use_pipeline:
        import logging

        for name in ("question", "answer"):  # outside a Pipeline distilabel warns that there is none: expected
            logger = logging.getLogger(f"distilabel.step.{name}")
            if not any(isinstance(f, _DropMessages) for f in logger.filters):
                logger.addFilter(_DropMessages("hasn't received a pipeline"))
        rows = data
        for step in steps(llm):
            step.load()
            rows = [r for batch in step.process_applying_mappings(rows) for r in batch]
            for r in rows:
                for key in ("instruction", "response"):
                    if key in r and not isinstance(r[key], str):
                        r[key] = ""  # a failed generation is None: keep the row, empty
    else:
        rows = _run_pipeline(data, lambda: steps(pipeline_llm(llm)))
    return [{"task": r.get("task"), "theme": r.get("theme"), "instruction": r.get("instruction"),
             "response": r.get("response")} for r in rows]


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

