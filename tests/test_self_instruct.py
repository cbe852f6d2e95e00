"""Self-Instruct: seeds, the paper's prompt and filters, the seeded loop, the grid, the checks, the teacher kinds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from course_utils import self_instruct as si
from course_utils.dedup import rouge_l
from course_utils.teacher import OfflineTeacher, Request, respond
from recording_llm import RecordingLLM


@pytest.fixture(scope="module")
def llm():
    teacher = OfflineTeacher(seed=0)
    teacher.load()
    return teacher


@pytest.fixture(scope="module")
def run(llm):
    return si.self_instruct(llm, rounds=3, prompts_per_round=6, seed=0)


# --- seeds -----------------------------------------------------------------------------------------


def test_course_seeds_are_many_diverse_and_well_formed():
    seeds = si.load_seed_tasks()
    assert len(seeds) >= 40
    for s in seeds:
        assert set(s) >= {"instruction", "input", "output"}
        assert s["instruction"].strip() and s["output"].strip()
        assert not any(f(s["instruction"]) for f in si.DEFAULT_FILTERS.values()), s["instruction"]
    verbs = {s["instruction"].split()[0] for s in seeds}
    assert len(verbs) >= 25
    assert len({s["instruction"] for s in seeds}) == len(seeds)


def test_read_seed_file_accepts_the_papers_format(tmp_path):
    p = tmp_path / "seeds.jsonl"
    p.write_text('{"instruction": "Say hi.", "instances": [{"input": "", "output": "Hi!"}], "is_classification": false}\n')
    assert si.read_seed_file(str(p)) == [{"instruction": "Say hi.", "input": "", "output": "Hi!"}]


def test_original_seeds_match_when_shared_data_is_present(shared_data):
    rows = si.read_seed_file(str(shared_data / "seed_tasks.jsonl"))
    assert len(rows) == 175 and all(r["instruction"] for r in rows)


# --- prompt, parsing, filters ------------------------------------------------------------------------


def test_prompt_has_the_papers_format():
    p = si.build_prompt(["Write a poem.", "Sort  these\nnumbers."])
    assert p.splitlines() == ["Come up with a series of tasks:", "", "Task 1: Write a poem.",
                              "Task 2: Sort these numbers.", "Task 3:"]


@pytest.mark.parametrize("text, reason", [("", "empty"), (None, "empty"), (42, "empty"),
                                          ("Sorry, I can't help with that.", "refusal"),
                                          ("Task 9:\nTask 10:", "no_tasks")])
def test_parse_tasks_never_raises(text, reason):
    r = si.parse_tasks(text)
    assert not r.ok and r.reason == reason and r.value == []


def test_split_tasks_continuation_and_malformed_pieces():
    text = ("Plan a picnic for ten people.\nTask 10: Explain tides to a child.\nSure, here are more:\nTask 11:\n"
            "Task 12: Name three rivers in Asia.")
    tasks, bad = si.split_tasks(text)
    assert tasks == ["Plan a picnic for ten people.", "Explain tides to a child.", "Name three rivers in Asia."]
    assert bad == 2  # the chatter ending with ':' and the empty Task 11


@pytest.mark.parametrize("task, name", [
    ("Summarize this.", "too_short"),
    ("word " * 151, "too_long"),
    ("Draw a diagram of the water cycle.", "blacklist"),
    ("Plot the sales data for 2023.", "blacklist"),
    ("Go to the bank website and check the rates.", "blacklist"),
    ("- Explain how vaccines work in detail.", "bad_start"),
    ("\u201cExplain how vaccines work in detail.", "bad_start"),
])
def test_each_filter_catches_its_case(task, name):
    assert si.DEFAULT_FILTERS[name](task)
    assert [n for n, f in si.DEFAULT_FILTERS.items() if f(task)][0] == name


def test_filters_keep_good_tasks_and_use_whole_words():
    good = "Explain how a mapping between two sets can be a bijection, with an example."
    assert not any(f(good) for f in si.DEFAULT_FILTERS.values())
    assert si.too_short("Name three mammals") and not si.too_short("Name three small mammals")


def test_rouge_index_matches_dedup_rouge_l():
    rng = random.Random(0)
    texts = [s["instruction"] for s in si.load_seed_tasks()]
    index = si.RougeIndex(texts[:30])
    for t in texts[30:] + ["", "Explain why the sky looks blue during the day."]:
        got = index.scores(t)
        assert got == [rouge_l(k, t) for k in texts[:30]]
    assert si.RougeIndex().most_similar("anything") == (0.0, None)
    score, similar = index.most_similar(texts[rng.randrange(30)])
    assert score == 1.0 and similar in texts[:30]


# --- the loop -----------------------------------------------------------------------------------------


def test_loop_is_seeded_and_reproducible(llm, run):
    rows, stats = run
    rows2, stats2 = si.self_instruct(llm, rounds=3, prompts_per_round=6, seed=0)
    assert rows == rows2 and stats.rounds == stats2.rounds
    rows3, _ = si.self_instruct(llm, rounds=3, prompts_per_round=6, seed=1)
    assert rows3 != rows


def test_loop_counts_add_up_and_pool_grows(run):
    rows, stats = run
    assert rows and all(set(r) == {"instruction", "round", "max_rouge", "most_similar"} for r in rows)
    pool = stats.seed_pool
    for r in stats.rounds:
        removed = sum(r[n] for n in stats.filter_names) + r["rouge"]
        assert removed + r["kept"] == r["candidates"]
        pool += r["kept"]
        assert r["pool"] == pool
    assert stats.kept == len(rows)
    t = stats.totals()
    for name in ("too_short", "blacklist", "rouge", "malformed"):
        assert t[name] > 0, name  # the offline teacher shows every failure the filters exist for
    assert "total" in stats.table() and str(stats) == stats.table()


def test_kept_tasks_pass_every_filter_and_are_not_near_duplicates(run):
    rows, _ = run
    texts = [s["instruction"] for s in si.load_seed_tasks()]
    for r in rows:
        assert not any(f(r["instruction"]) for f in si.DEFAULT_FILTERS.values())
        assert max(rouge_l(k, r["instruction"]) for k in texts) <= 0.7
        assert r["max_rouge"] <= 0.7
        texts.append(r["instruction"])


def test_machine_tasks_enter_later_prompts(llm):
    seen = []

    class Spy:
        def generate_outputs(self, inputs, num_generations=1, **kwargs):
            seen.append([m[0]["content"] for m in inputs])
            return llm.generate_outputs(inputs, num_generations=num_generations, **kwargs)

    rows, _ = si.self_instruct(Spy(), rounds=2, prompts_per_round=4, seed=0)
    round1 = {r["instruction"] for r in rows if r["round"] == 1}
    assert any(t in p for p in seen[1] for t in round1)
    assert all(p.count("\nTask ") == 9 for p in seen[0])  # 8 examples and the open "Task 9:"


def test_extra_filter_is_counted(llm):
    from course_utils.prompts import is_definitional

    _, stats = si.self_instruct(llm, rounds=2, prompts_per_round=4, seed=0,
                                filters={**si.DEFAULT_FILTERS, "definitional": is_definitional})
    assert "definitional" in stats.columns and stats.totals()["definitional"] > 0


def test_garbage_output_never_crashes():
    class Garbage:
        def __init__(self):
            self.i = 0

        def generate_outputs(self, inputs, num_generations=1, **kwargs):
            outs = ["", None, "Sorry, I can't.", "ÅÄÖ random tokens 123", "word " * 500, "Task 3:\nTask 4:", "ok ok ok ok ok"]
            res = []
            for _ in inputs:
                self.i += 1
                res.append({"generations": [outs[self.i % len(outs)]]})
            return res

    rows, stats = si.self_instruct(Garbage(), rounds=2, prompts_per_round=7, seed=0)
    assert len(rows) == 1 and rows[0]["instruction"] == "ok ok ok ok ok"
    assert stats.totals()["malformed"] >= 4 and sum(stats.failures.values()) >= 4
    stats.plot()


def test_threshold_one_keeps_near_duplicates_and_zero_keeps_only_unrelated(llm):
    _, loose = si.self_instruct(llm, rounds=1, prompts_per_round=4, seed=0, threshold=1.0)
    _, strict = si.self_instruct(llm, rounds=1, prompts_per_round=4, seed=0, threshold=0.0)
    assert loose.totals()["rouge"] == 0
    assert strict.totals()["kept"] < loose.totals()["kept"]


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": []}, "seed pool is empty"),
    ({"seeds": [{"prompt": "x"}]}, "no 'instruction' column"),
    ({"seeds": "Write a poem."}, "list of task dicts"),
    ({"seeds": [""]}, "empty or non-text"),
    ({"rounds": 0}, "rounds=0"),
    ({"rounds": 1.5}, "rounds must be an int"),
    ({"threshold": 1.5}, r"outside \[0, 1\]"),
    ({"threshold": -0.1}, r"outside \[0, 1\]"),
    ({"threshold": float("nan")}, r"outside \[0, 1\]"),
    ({"n_human": 0, "n_machine": 0}, "n_human \\+ n_machine"),
    ({"filters": {"x": 3}}, "not callable"),
    ({"filters": {"rouge": len}}, "reserved"),
])
def test_bad_input_raises_clear_errors(llm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        si.self_instruct(llm, **kwargs)


def test_llm_must_be_an_llm():
    with pytest.raises(ValueError, match="get_llm"):
        si.self_instruct("gpt", rounds=1)


# --- grid, diversity ---------------------------------------------------------------------------------


def test_grid_covers_every_cell_and_is_more_on_topic(llm, run):
    grid = si.task_theme_grid(si.STATS_TASKS, si.STATS_THEMES)
    assert len(grid) == 9 and len({(g["task"], g["theme"]) for g in grid}) == 9
    rows, failures = si.generate_from_grid(llm, grid, num_generations=2)
    assert len(rows) + sum(failures.values()) == 18
    cov = si.grid_coverage([r["instruction"] for r in rows])
    assert sum(v > 0 for v in cov.values()) >= 8
    loop_cov = si.grid_coverage([r["instruction"] for r in run[0]])
    assert sum(v > 0 for v in loop_cov.values()) < sum(v > 0 for v in cov.values())


def test_grid_bad_input():
    with pytest.raises(ValueError, match="non-empty list"):
        si.task_theme_grid([], ["a"])
    with pytest.raises(ValueError, match="non-empty list"):
        si.task_theme_grid("explain code", ["a"])
    with pytest.raises(ValueError, match="task/theme/prompt"):
        si.generate_from_grid(None, [{"task": "a"}])


def test_diversity_metrics():
    d = si.diversity(["Explain tides.", "Explain tides.", "Write a poem about rain."])
    assert d["n"] == 3 and 0 < d["mean_rouge_l"] < 1 and d["distinct_verbs"] == 2
    assert si.diversity(["only one"])["mean_rouge_l"] is None
    assert si.diversity([])["n"] == 0


# --- the offline teacher kinds ------------------------------------------------------------------------


def _ask(text, **kw):
    return respond(Request((("user", text),), failure_rates=kw.pop("failure_rates", None), **kw))


def test_teacher_continues_the_papers_prompt_in_the_examples_domains():
    examples = ["Write a Python function that reverses a string.", "Explain what a Python decorator does.",
                "Debug a Python script that crashes with KeyError.", "Compare a list and a tuple in Python."] * 2
    text, kind, failure = _ask(si.build_prompt(examples))
    assert kind == "self_instruct_loop" and failure is None
    tasks, bad = si.split_tasks(text)
    assert len(tasks) == 8 and bad == 0  # Task 9 to Task 16
    assert text.splitlines()[1].startswith("Task 10: ")
    assert sum("python" in t.lower() or "function" in t.lower() or "script" in t.lower() for t in tasks) >= 4


def test_teacher_quirks_only_with_failures_enabled():
    prompts = [si.build_prompt([s["instruction"] for s in si.load_seed_tasks()[i:i + 8]]) for i in range(0, 40, 4)]
    clean = [t for p in prompts for t in si.split_tasks(_ask(p)[0])[0]]
    noisy = [t for p in prompts for t in si.split_tasks(_ask(p, failure_rates={"refusal": 0.0})[0])[0]]

    def removed(tasks):
        return sum(any(f(t) for f in si.DEFAULT_FILTERS.values()) for t in tasks)

    assert not any(si.bad_start(t) or si.too_long(t) for t in clean)
    assert removed(noisy) > removed(clean)  # short "Define X." tasks also come from the plain templates


def test_teacher_answers_grid_prompts_with_the_cell():
    text, kind, _ = _ask(si.grid_prompt("fix code", "regression"))
    assert kind == "task_theme_grid"
    low = text.lower()
    assert ("bug" in low or "error" in low or "debug" in low) and ("regression" in low or "r^2" in low or "polyfit" in low)
    text, kind, _ = _ask(si.grid_prompt("plan a menu", "vegetarian guests"))
    assert kind == "task_theme_grid" and "vegetarian guests" in text


def test_distilabel_self_instruct_kind_unchanged():
    text, kind, _ = _ask("# Task Description\nDevelop 5 user queries that can be received by the AI application "
                         "and applicable to the provided context.\n\n# Context\ncooking")
    assert kind == "self_instruct" and len(text.splitlines()) == 5


# --- the exercise checks ---------------------------------------------------------------------------------


def test_checks_pass_on_solutions_and_fail_helpfully(llm, capsys):
    from course_utils.checks import self_instruct as si_checks
    from course_utils.dedup import rouge_l as rl
    from course_utils.prompts import is_definitional

    _, stats = si.self_instruct(llm, rounds=2, prompts_per_round=6, seed=0,
                                filters={**si.DEFAULT_FILTERS, "definitional": is_definitional})
    assert si_checks.check_added_filter(is_definitional, stats)
    assert not si_checks.check_added_filter(lambda t: False, stats)
    assert not si_checks.check_added_filter(lambda t: 1 / 0, stats)

    tasks, themes = ["plan a menu", "fix a recipe", "compare two dishes"], ["vegetarian", "budget", "kids"]
    grid = si.task_theme_grid(tasks, themes)
    rows, _ = si.generate_from_grid(llm, grid, num_generations=2)
    assert si_checks.check_own_grid(tasks, themes, grid, rows)
    assert not si_checks.check_own_grid(list(si.STATS_TASKS), list(si.STATS_THEMES), grid, rows)
    assert not si_checks.check_own_grid(tasks, themes, grid[:-1], rows)

    def curve(pairs, thresholds):
        return {t: (sum(rl(a, b) > t for a, b in pairs) / len(pairs) if pairs else 0.0) for t in thresholds}

    want = curve(si.PARAPHRASE_PAIRS, si_checks.THRESHOLDS)
    onset = max(t for t in si_checks.THRESHOLDS if want[t] >= 0.5)
    assert si_checks.check_paraphrase_threshold(curve, onset)
    assert not si_checks.check_paraphrase_threshold(curve, 0.7)
    assert not si_checks.check_paraphrase_threshold(lambda p, t: {x: 0.0 for x in t}, onset)

    def not_implemented(*a):
        raise NotImplementedError

    assert not si_checks.check_paraphrase_threshold(not_implemented, onset)
    assert not si_checks.check_added_filter(is_definitional, None)
    assert not si_checks.check_own_grid([["a"], ["b"], ["c"]], themes, None, None)
    assert not si_checks.check_paraphrase_threshold(curve, [0.5])
    out = capsys.readouterr().out
    assert "✅" in out and "❌" in out and "not implemented" in out


# --- questions and answers in two steps ------------------------------------------------------------------


def test_qa_pipeline_and_in_process_steps_agree(llm):
    import pickle

    grid = si.task_theme_grid(si.STATS_TASKS, si.STATS_THEMES)[:3]
    copy = si.pipeline_llm(llm)
    assert pickle.loads(pickle.dumps(copy)).seed == llm.seed
    piped = si.run_qa_pipeline(llm, grid)  # a real distilabel Pipeline for the offline teacher
    local = si.run_qa_pipeline(llm, grid, use_pipeline=False)
    assert piped == local
    assert [(r["task"], r["theme"]) for r in piped] == [(g["task"], g["theme"]) for g in grid]
    assert all(isinstance(r["instruction"], str) and isinstance(r["response"], str) for r in piped)
    assert si.run_qa_pipeline(llm, []) == []


# --- real output shapes, budgets, figures -----------------------------------------------------------

CORPUS = Path(__file__).parent / "data" / "real_outputs" / "outputs.jsonl"
_TASK_ROWS = [row for row in (json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
                              if line.strip()) if "parse_tasks" in row["expect"]]


def test_the_corpus_has_the_task_list_shapes_chat_models_produce():
    shapes = {row["shape"] for row in _TASK_ROWS}
    assert len(_TASK_ROWS) >= 15
    for needed in ("numbered_list", "bulleted_list", "markdown_bold_tasks", "preamble_and_closing_numbered",
                   "task_list_inline_numbered_with_preamble", "task_list_fenced", "task_list_paper_continuation",
                   "refusal", "empty"):
        assert needed in shapes, needed


@pytest.mark.parametrize("row", _TASK_ROWS, ids=[row["shape"] for row in _TASK_ROWS])
def test_parse_tasks_on_real_output_shapes(row):
    result = si.parse_tasks(row["text"])
    got = {"ok": True, "value": result.value} if result.ok else {"ok": False, "reason": result.reason}
    assert got == row["expect"]["parse_tasks"]


def test_a_chat_answer_never_becomes_one_blob_task():
    """The failure of the old parser: a numbered list passed every filter as one long task."""
    text = ("Sure! Here are some more tasks: 1. Write a limerick about a cat. 2. Explain tides to a child. "
            "3. Plan a picnic for ten people.\n\nLet me know if you need more!")
    tasks, bad = si.split_tasks(text)
    assert tasks == ["Write a limerick about a cat.", "Explain tides to a child.", "Plan a picnic for ten people."]
    assert bad == 2  # the preamble and the closing: chatter, counted as malformed
    assert si.split_tasks("1. Explain step 2. of long division.\n2. Name three rivers.")[0] == [
        "Explain step 2. of long division.", "Name three rivers."]  # an inline number inside an item


def test_a_task_list_keeps_a_bad_start_for_the_filter():
    """In a "Task k:" list a task that starts with "- " is a task with a bad start, not a bullet."""
    tasks, _ = si.split_tasks("Write a poem about rain.\nTask 10: - Explain how vaccines work in detail.")
    assert tasks[1] == "- Explain how vaccines work in detail." and si.bad_start(tasks[1])



def test_every_generation_gets_the_lessons_budget(llm):
    spy = RecordingLLM(llm)
    si.self_instruct(spy, rounds=2, prompts_per_round=2, seed=0)
    assert spy.calls and all(c["max_new_tokens"] == si.TASK_LIST_TOKENS for c in spy.calls)
    si.self_instruct(spy, rounds=1, prompts_per_round=1, seed=0, max_new_tokens=64)
    assert spy.calls[-1]["max_new_tokens"] == 64
    si.generate_from_grid(spy, si.task_theme_grid(["write code"], ["regression"]))
    assert spy.calls[-1]["max_new_tokens"] == si.GRID_INSTRUCTION_TOKENS
    with pytest.raises(ValueError, match="max_new_tokens"):
        si.self_instruct(llm, rounds=1, max_new_tokens=0)


def test_budgets_hold_twice_the_longest_output_of_the_clean_teacher():
    from course_utils.teacher.core import approx_tokens

    clean = OfflineTeacher(seed=0, failure_rates=None)
    clean.load()
    seeds, rng = [s["instruction"] for s in si.load_seed_tasks()], random.Random(0)
    prompts = [[{"role": "user", "content": si.build_prompt(rng.sample(seeds, 8))}] for _ in range(40)]
    lists = [o["generations"][0] for o in clean.generate_outputs(prompts, max_new_tokens=10**5)]
    assert 2 * max(map(approx_tokens, lists)) <= si.TASK_LIST_TOKENS
    grid = si.task_theme_grid(si.STATS_TASKS, si.STATS_THEMES)
    cells = clean.generate_outputs([[{"role": "user", "content": g["prompt"]}] for g in grid], num_generations=5)
    assert 2 * max(approx_tokens(t) for o in cells for t in o["generations"]) <= si.GRID_INSTRUCTION_TOKENS


def test_plot_returns_a_closed_figure(run):
    import matplotlib.pyplot as plt

    plt.close("all")
    fig = run[1].plot()
    assert len(fig.axes) == 2 and not plt.get_fignums()  # a later test's plt state stays clean


def test_the_grid_prompt_has_code_rules_and_examples_only_for_code():
    from course_utils.prompts import GRID_CODE_RULES, GRID_TEMPLATE

    code = si.grid_prompt("fix code", "regression")
    assert GRID_CODE_RULES in code and "```python" in code and code.count("[") >= 3
    plain = si.grid_prompt("a question a user would ask", "cooking")
    assert plain == GRID_TEMPLATE.format(task="a question a user would ask", theme="cooking")  # notebook 04's
    text, kind, _ = _ask(code)  # the examples never hide the requested cell from the teacher
    assert kind == "task_theme_grid" and ("regression" in text.lower() or "polyfit" in text or "r^2" in text.lower())


def test_qa_pipeline_is_written_out_with_mappings_and_budgets(llm):
    from course_utils.pipelines import describe_dag, forks_safely

    grid = si.task_theme_grid(si.STATS_TASKS, si.STATS_THEMES)[:2]
    pipeline = si.build_qa_pipeline(llm, grid, in_process=True)
    dag = describe_dag(pipeline)
    assert dag.splitlines()[0] == "load (LoadDataFromDicts) >> question"
    assert "input_mappings: {'instruction': 'prompt'}" in dag and "{'generation': 'response'}" in dag
    steps = {name: pipeline.dag.get_step(name)["step"] for name in ("question", "answer")}
    assert steps["question"].llm.generation_kwargs["max_new_tokens"] == si.GRID_INSTRUCTION_TOKENS
    assert steps["answer"].llm.generation_kwargs["max_new_tokens"] == si.RESPONSE_TOKENS
    assert forks_safely(llm) and not forks_safely(object())
    with pytest.raises(ValueError, match="task/theme/prompt"):
        si.run_qa_pipeline(llm, [{"task": "a"}])


def test_loop_on_a_sampling_model_is_seeded(tiny_model_dir, monkeypatch):
    """On a real (tiny) model the same seed gives the same rows: torch is seeded, not only `random`."""
    from course_utils import self_instruct as module
    from course_utils.models import get_llm

    tiny = get_llm("transformers", model=str(tiny_model_dir), temperature=1.0)

    def run_once():
        rows, stats = si.self_instruct(tiny, rounds=1, prompts_per_round=2, seed=0, max_new_tokens=24)
        return rows, stats.rounds, dict(stats.examples)

    assert run_once() == run_once()
    monkeypatch.setattr(module, "seed_sampling", lambda llm, seed: {})
    assert run_once() != run_once()  # without seeding, the model's sampling differs between runs
