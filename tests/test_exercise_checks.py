"""Every exercise check accepts the solution's answer and rejects plausible wrong ones.

One section per exercise notebook. A wrong answer must be rejected the way a learner sees it: a
❌ line, False returned, no exception. The right answers are the solution notebooks' code
(tests/exercise_answers.py). Unfilled stubs are tested in tests/test_exercises_run.py.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from course_utils import checks
from course_utils.checks import (
    check_added_filter, check_answer_only_labels, check_broken_instruction, check_budget,
    check_collapse_report, check_config_change, check_domain_dataset, check_false_positive,
    check_filter_step,
    check_fixed_labels, check_japanese_dedup, check_levels, check_line_parser, check_llama3_prompt,
    check_new_operator, check_own_grid, check_paraphrase_threshold, check_partial_collapse,
    check_postscript_kind, check_problem_family, check_repair, check_sharegpt_converter,
    check_threshold, check_tuned_rules, check_turn_filter, check_v3_prompt,
    check_verification_effect)
from course_utils.checks import check_agreement, check_length_control, check_verifiable_pairs
from course_utils import evaluation as ev
from course_utils.parsing import ParseResult
from course_utils.prompts import FINANCE_V1, FINANCE_V3
from exercise_answers import (
    COOKING_PLAIN, COOKING_V3, KEYWORD_STUFFED, SMALL, SPEAKERS, answer_only_labels,
    collapse_report, dedup_japanese, detect_partial_collapse, drop_bad_turns, fixed_labels,
    generate_discount, kept_fractions, levels, llama3_magpie_prompt, make_dataset, my_budget,
    no_definitions, parse_q_lines, rejection_curve, repair, sharegpt_to_messages, solve_discount,
    worst_false_positive)
from exercise_answers import length_controlled, my_agreement, verifiable_pairs


class Verdict:
    """`v.no(check, *answer)`: a wrong answer gets ❌ and False (never an exception);
    `v.ok(check, *answer)`: the right one gets ✅ and True. Both return what the check printed."""

    def __init__(self, capsys):
        self.capsys = capsys

    def _run(self, want: bool, check, *args, **kwargs) -> str:
        result = check(*args, **kwargs)
        out = self.capsys.readouterr().out
        assert result is want, out
        assert ("✅" if want else "❌") in out and ("❌" if want else "✅") not in out, out
        return out

    def no(self, check, *args, **kwargs) -> str:
        return self._run(False, check, *args, **kwargs)

    def ok(self, check, *args, **kwargs) -> str:
        return self._run(True, check, *args, **kwargs)


@pytest.fixture
def v(capsys):
    return Verdict(capsys)


@pytest.fixture(scope="module")
def llm():
    from course_utils.models import get_llm

    return get_llm("offline", seed=0)


# --- 01 basic prompting -----------------------------------------------------------------------


def test_01_1_v3_prompt(v, llm):
    v.ok(check_v3_prompt, COOKING_V3, llm)
    v.ok(check_v3_prompt, COOKING_PLAIN, llm)  # no magic words needed
    assert "domain" in v.no(check_v3_prompt, KEYWORD_STUFFED, llm)
    assert "finance" in v.no(check_v3_prompt, FINANCE_V3.text, llm)
    near_copy = FINANCE_V3.text.replace("financial analyst", "chef").replace("analysts", "cooks")
    v.no(check_v3_prompt, near_copy, llm)
    v.no(check_v3_prompt, FINANCE_V1.text, llm)
    definitional = COOKING_V3.split("Example:")[0] + 'Example:\n[{"question": "What is a roux?"}]'
    assert "example" in v.no(check_v3_prompt, definitional, llm)
    no_json = COOKING_PLAIN.replace("JSON array", "list").replace("Example:\n", "Example: ")
    v.no(check_v3_prompt, no_json, llm)
    v.no(check_v3_prompt, "", llm)
    v.no(check_v3_prompt, None, llm)


def test_01_2_line_parser(v):
    v.ok(check_line_parser, parse_q_lines)
    pattern = r"^Q:\s*(.+?)\s*\|\s*Difficulty:\s*(\w+)\s*$"

    def crashes_on_none(text):  # the case: fine on strings, raises on None
        items = re.findall(pattern, text, re.M)
        return ParseResult(bool(items), [{"question": q, "difficulty": d} for q, d in items])

    def no_multiline(text):
        if not isinstance(text, str):
            return ParseResult(False, [], "empty")
        items = re.findall(pattern, text)
        return ParseResult(bool(items), [{"question": q, "difficulty": d} for q, d in items])

    def split_every_line(text):
        if not isinstance(text, str):
            return []
        return [{"question": ln.split("|")[0][2:].strip(), "difficulty": ln.split(":")[-1].strip()}
                for ln in text.splitlines() if ln.strip()]

    assert "None" in v.no(check_line_parser, crashes_on_none)
    v.no(check_line_parser, no_multiline)
    v.no(check_line_parser, split_every_line)
    v.no(check_line_parser, "parse_q_lines")


def test_01_3_collapse_report(v):
    batch = ["What is a bond?"] * 6 + ["What is a stock?"] * 3 + ["Price a bond."]
    v.ok(check_collapse_report, collapse_report, batch)
    most = Counter(batch).most_common(1)[0][0]
    v.no(check_collapse_report, lambda b: {"distinct_ratio": len(set(b)), "most_common": most},
         batch)  # a count, not a ratio
    v.no(check_collapse_report, lambda b: {"distinct_ratio": 0.3, "most_common": b[-1]}, batch)
    hard_coded = {"distinct_ratio": 0.3, "most_common": "What is a bond?"}
    assert collapse_report(batch) == hard_coded
    assert "hidden" in v.no(check_collapse_report, lambda b: hard_coded, batch)
    v.no(check_collapse_report, lambda b: None, batch)


# --- 02 Self-Instruct -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def si_stats(llm):
    from course_utils.self_instruct import DEFAULT_FILTERS, self_instruct

    def run(filters):
        return self_instruct(llm, rounds=2, prompts_per_round=8, seed=0, filters=filters)[1]

    mine = run({**DEFAULT_FILTERS, "definitional": no_definitions})
    return {"mine": mine, "plain": run(DEFAULT_FILTERS)}


def test_02_1_added_filter(v, si_stats):
    v.ok(check_added_filter, no_definitions, si_stats["mine"])
    v.no(check_added_filter, lambda t: True, si_stats["mine"])  # removes everything
    v.no(check_added_filter, lambda t: t.split()[0] == "What", si_stats["mine"])
    v.no(check_added_filter, lambda t: t.lower().startswith("what is"), si_stats["mine"])
    v.no(check_added_filter, no_definitions, si_stats["plain"])  # not in the loop
    v.no(check_added_filter, no_definitions(""), si_stats["mine"])


@pytest.fixture(scope="module")
def grid_answer(llm):
    from course_utils.self_instruct import generate_from_grid, task_theme_grid

    tasks = ["plan a weekly menu", "adapt a recipe", "diagnose a cooking failure"]
    themes = ["vegetarian families", "a tight budget", "baking bread"]
    grid = task_theme_grid(tasks, themes)
    rows, _ = generate_from_grid(llm, grid, num_generations=2)
    return tasks, themes, grid, rows


def test_02_2_own_grid(v, grid_answer):
    from course_utils.self_instruct import STATS_TASKS, STATS_THEMES, task_theme_grid

    tasks, themes, grid, rows = grid_answer
    v.ok(check_own_grid, tasks, themes, grid, rows)
    lesson = list(STATS_TASKS)[:3], list(STATS_THEMES)[:3]
    v.no(check_own_grid, *lesson, task_theme_grid(*lesson), rows)
    v.no(check_own_grid, tasks[:2], themes, task_theme_grid(tasks[:2], themes), rows)
    v.no(check_own_grid, tasks, themes, grid[:4], rows)  # not the full grid
    v.no(check_own_grid, tasks, themes, grid, [])  # nothing generated
    v.no(check_own_grid, "cooking", themes, grid, rows)


def test_02_3_paraphrase_threshold(v):
    from course_utils.dedup import rouge_l
    from course_utils.self_instruct import PARAPHRASE_PAIRS

    thresholds = checks.self_instruct.THRESHOLDS
    curve = rejection_curve(PARAPHRASE_PAIRS, thresholds)
    onset = max(t for t in thresholds if curve[t] >= 0.5)
    v.ok(check_paraphrase_threshold, rejection_curve, onset)

    def crashes_on_empty(pairs, thresholds):
        scores = [rouge_l(a, b) for a, b in pairs]
        return {t: sum(s > t for s in scores) / len(scores) for t in thresholds}

    def counts(pairs, thresholds):
        scores = [rouge_l(a, b) for a, b in pairs]
        return {t: sum(s > t for s in scores) for t in thresholds}

    v.no(check_paraphrase_threshold, crashes_on_empty, onset)
    v.no(check_paraphrase_threshold, counts, onset)
    v.no(check_paraphrase_threshold, rejection_curve, 0.7)  # the paper's value
    v.no(check_paraphrase_threshold, rejection_curve,
            min(t for t in thresholds if curve[t] >= 0.5))  # the lowest, not the highest


# --- 03 Evol-Instruct -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evol_run(llm):
    from course_utils.evol import DEFAULT_OPERATORS, EXAMPLE_INSTRUCTIONS, evolve
    from course_utils.prompts import EvolOperator

    op = EvolOperator(
        "persona", "in-depth",
        "Rewrite it as asked by a specific person (a job, a situation, a deadline) whose needs the "
        "answer must meet.",
        change="Adds a realistic asker: the answer must fit someone's situation.")
    seeds = list(EXAMPLE_INSTRUCTIONS)
    mine = evolve(llm, seeds, rounds=2, operators=[*DEFAULT_OPERATORS, op], seed=0)
    plain = evolve(llm, seeds, rounds=2, operators=list(DEFAULT_OPERATORS), seed=0)
    return op, mine, plain


def test_03_1_new_operator(v, evol_run):
    from course_utils.prompts import EVOL_OPERATORS, EvolOperator

    op, mine, plain = evol_run
    v.ok(check_new_operator, op, mine)
    v.no(check_new_operator, EVOL_OPERATORS["deepening"], mine)  # an existing one
    v.no(check_new_operator, EvolOperator("persona", "in-depth", "Add a person."), mine)
    copied = EvolOperator("persona2", "in-depth", EVOL_OPERATORS["deepening"].method)
    v.no(check_new_operator, copied, mine)
    v.no(check_new_operator, op, plain)  # the run does not use it
    v.no(check_new_operator, EvolOperator("persona", "harder", op.method), mine)


def test_03_2_tuned_rules(v):
    from course_utils.evol import EliminationRules

    v.ok(check_tuned_rules, EliminationRules(min_new_words=1, max_added_words=20))
    v.no(check_tuned_rules, EliminationRules())
    v.no(check_tuned_rules, EliminationRules(min_new_words=1))
    v.no(check_tuned_rules, EliminationRules(max_added_words=20))
    v.no(check_tuned_rules, {"min_new_words": 1, "max_added_words": 20})


def test_03_3_broken_instruction(v, llm):
    from course_utils.dedup import rouge_l
    from course_utils.evol import EliminationRules, evolve

    depth = checks.evol.DEPTH_OPERATORS

    def worst_similarity(instruction):
        res = evolve(llm, [instruction], rounds=4, operators=depth, seed=0)
        scores = [rouge_l(instruction, s["candidate"]) for s in res.steps
                  if s["eliminated"] is None]
        return min(scores, default=1.0)

    def mean_similarity(instruction):  # the average rewrite, not the worst that passed
        res = evolve(llm, [instruction], rounds=4, operators=depth, seed=0)
        scores = [rouge_l(instruction, s["candidate"]) for s in res.steps
                  if s["eliminated"] is None]
        return sum(scores) / len(scores) if scores else 1.0

    fragile, drift = "Write a short poem about autumn.", EliminationRules(min_root_similarity=0.25)
    check = check_broken_instruction
    v.ok(check, llm, fragile, drift, worst_similarity)
    out = v.no(check, llm, fragile, EliminationRules(min_root_similarity=0.9), worst_similarity)
    assert "every rewrite" in out  # the case: a threshold that kills every evolution
    v.no(check, llm, fragile, EliminationRules(min_root_similarity=0.5), worst_similarity)
    v.no(check, llm, fragile, EliminationRules(), worst_similarity)  # drift rule off
    v.no(check, llm, checks.evol.ROBUST_INSTRUCTION, drift, worst_similarity)  # not broken
    v.no(check, llm, fragile, drift)  # worst_similarity never checked before: now required
    v.no(check, llm, fragile, drift, lambda text: 0.1)
    v.no(check, llm, fragile, drift, mean_similarity)
    v.no(check, llm, "", drift, worst_similarity)


# --- 04 Magpie --------------------------------------------------------------------------------


def test_04_1_domain_dataset(v, llm):
    from course_utils.magpie import SYSTEM_PROMPTS, filter_turns, generate_magpie

    v.ok(check_domain_dataset, make_dataset, llm, "mathematics")
    tutor = [{"system_prompt": "You are a maths tutor for equations."}] * 40
    unfiltered = generate_magpie(llm, tutor)
    v.no(check_domain_dataset, unfiltered, llm, "mathematics")
    cooking = generate_magpie(llm, [{"system_prompt": SYSTEM_PROMPTS["cooking"]}] * 40)
    cooking = filter_turns(cooking, n_turns=1)[0]
    v.no(check_domain_dataset, cooking, llm, "mathematics")  # off topic
    v.no(check_domain_dataset, make_dataset(llm)[:5], llm, "mathematics")  # too few
    v.no(check_domain_dataset, make_dataset, llm, "finance")
    v.no(check_domain_dataset, lambda llm: 1 / 0, llm, "mathematics")
    no_prompt = [{**row, "system_prompt": ""} for row in make_dataset(llm)]
    v.no(check_domain_dataset, no_prompt, llm, "mathematics")


def test_04_2_llama3_prompt(v):
    v.ok(check_llama3_prompt, llama3_magpie_prompt)

    def not_stripped(messages):  # the case
        body = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n"
                       f"{m['content']}<|eot_id|>" for m in messages)
        return "<|begin_of_text|>" + body + "<|start_header_id|>user<|end_header_id|>\n\n"

    assert "strip" in v.no(check_llama3_prompt, not_stripped)
    v.no(check_llama3_prompt, lambda m: "<|begin_of_text|>" + llama3_magpie_prompt(m))
    v.no(check_llama3_prompt,
            lambda m: llama3_magpie_prompt(m)[:-len("<|start_header_id|>user<|end_header_id|>\n\n")]
            + "<|start_header_id|>assistant<|end_header_id|>\n\n"
            + "<|start_header_id|>user<|end_header_id|>\n\n")
    v.no(check_llama3_prompt, lambda m: llama3_magpie_prompt(m).rstrip())


def test_04_3_turn_filter(v):
    v.ok(check_turn_filter, drop_bad_turns)
    v.no(check_turn_filter, lambda rows: (rows, {"empty": 0, "truncated": 0}))  # keeps all
    crashes = [lambda rows: ([r for r in rows if r["conversation"][0]["content"].strip()], {})]
    v.no(check_turn_filter, crashes[0])  # raises on None

    def no_fences(rows):  # a closed code block ends with ``` and is complete; this drops it
        kept, counts = drop_bad_turns(rows)
        return [r for r in kept if "```" not in r["conversation"][-1]["content"]], counts

    def counts_every_turn(rows):
        kept, _ = drop_bad_turns(rows)
        return kept, {"empty": 5, "truncated": 4}

    v.no(check_turn_filter, no_fences)
    v.no(check_turn_filter, counts_every_turn)


# --- 05 chain of thought ----------------------------------------------------------------------


def test_05_1_repair(v):
    from course_utils.cot import format_cot, parse_cot

    v.ok(check_repair, repair)
    v.no(check_repair, lambda t: t)  # returns the broken text
    v.no(check_repair, lambda t: repair(t) or format_cot("I think.", "0"))  # invents
    v.no(check_repair, lambda t: format_cot(parse_cot(t, mode="loose").value.thinking, "42"))
    v.no(check_repair, lambda t: t.upper() and repair(t).strip())  # raises on None


def test_05_2_problem_family(v):
    v.ok(check_problem_family, generate_discount, solve_discount)

    def wrong_generator(rng):  # the case: both use original = sale * (1 + d)
        d = rng.choice([10, 20, 25, 40, 50])
        sale = rng.randint(2, 60) * 20
        item = rng.choice(["jacket", "lamp", "bicycle"])
        q = f"After a {d}% discount, a {item} costs ${sale}. What was the original price?"
        return q, sale * (100 + d) // 100

    def wrong_solver(text):
        m = re.search(r"After an? (\d+)% discount, an? [\w ]+? costs \$(\d+)\.", text or "")
        if not m:
            return None
        return ["Add the discount back."], str(int(m.group(2)) * (100 + int(m.group(1))) // 100)

    out = v.no(check_problem_family, wrong_generator, wrong_solver)
    assert "original price is" in out
    v.no(check_problem_family, lambda rng: generate_discount(random.Random()), solve_discount)
    v.no(check_problem_family, generate_discount, lambda t: (["guess"], "100"))  # claims all
    v.no(check_problem_family, generate_discount, lambda t: None)
    v.no(check_problem_family, lambda rng: ("A jacket is on sale. Price?", 100), solve_discount)
    v.no(check_problem_family,
            lambda rng: ("After a 30% discount, a lamp costs $50. What was the original price?",
                         50 / 0.7),
            solve_discount)  # not a whole-dollar answer


def test_05_3_verification_effect(v, llm):
    from course_utils.cot import cot_messages, generate_problems, summarize, verify_batch

    problems = generate_problems(40, seed=2)
    outputs = llm.generate_outputs([cot_messages(p.question) for p in problems])
    texts = [o["generations"][0] for o in outputs]
    v.ok(check_verification_effect, kept_fractions, problems, texts)

    def loose(problems, texts):
        fmt_only = summarize(verify_batch(problems, texts, mode="loose", check_answer=False))
        return {**kept_fractions(problems, texts), "format_only": fmt_only["kept_fraction"]}

    def share_of_all(problems, texts):
        got = kept_fractions(problems, texts)
        return {**got, "wrong_answer_share": got["format_only"] - got["format_and_answer"]}

    def swapped(problems, texts):
        got = kept_fractions(problems, texts)
        return {**got, "format_only": got["format_and_answer"],
                "format_and_answer": got["format_only"]}

    right = kept_fractions(problems, texts)
    assert right["format_only"] != right["format_and_answer"]
    v.no(check_verification_effect, loose, problems, texts)
    v.no(check_verification_effect, share_of_all, problems, texts)
    v.no(check_verification_effect, swapped, problems, texts)
    v.no(check_verification_effect, lambda p, t: {"format_only": 1.0}, problems, texts)


# --- 06 chat format and loss masking ----------------------------------------------------------


def test_06_1_sharegpt_converter(v):
    v.ok(check_sharegpt_converter, sharegpt_to_messages)

    def no_strip(record):
        turns = record["conversations"]
        return [{"role": SPEAKERS[t["from"]], "content": t["value"]} for t in turns]

    def no_validation(record):
        return [{"role": SPEAKERS.get(t["from"], t["from"]), "content": t["value"].strip()}
                for t in record["conversations"]]

    def key_error(record):  # an unknown speaker ends in KeyError, not ValueError
        turns = record["conversations"]
        return [{"role": SPEAKERS[t["from"]], "content": t["value"].strip()} for t in turns]

    def silent_error(record):
        try:
            return sharegpt_to_messages(record)
        except ValueError:
            raise ValueError("") from None

    v.no(check_sharegpt_converter, no_strip)
    v.no(check_sharegpt_converter, no_validation)
    v.no(check_sharegpt_converter, key_error)
    v.no(check_sharegpt_converter, silent_error)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_06_2_fixed_labels(v, tokenizer):
    from course_utils.formats import IGNORE_INDEX, render, tokenize_with_offsets

    v.ok(check_fixed_labels, fixed_labels, tokenizer)

    def leaky(tokenizer, messages):  # the notebook's buggy function
        text = render(tokenizer, messages)
        ids, offsets = tokenize_with_offsets(tokenizer, text)
        header = "<|im_start|>assistant\n"
        answer_start = text.index(header) + len(header)
        return ids, [t if start >= answer_start else IGNORE_INDEX
                     for t, (start, _) in zip(ids, offsets)]

    def nothing(tokenizer, messages):
        ids, _ = fixed_labels(tokenizer, messages)
        return ids, [IGNORE_INDEX] * len(ids)

    v.no(check_fixed_labels, leaky, tokenizer)
    v.no(check_fixed_labels, nothing, tokenizer)
    v.no(check_fixed_labels, lambda tok, m: (fixed_labels(tok, m)[0],) * 2, tokenizer)
    v.no(check_fixed_labels, lambda tok, m: fixed_labels(tok, m)[1], tokenizer)


def test_06_3_answer_only_labels(v, tokenizer):
    from course_utils.formats import build_labels, labels_from_spans, render, tokenize_with_offsets

    v.ok(check_answer_only_labels, answer_only_labels, tokenizer)

    def first_answer(tokenizer, messages):  # text.find: a user's "<answer>" is taken
        text = render(tokenizer, messages)
        open_at, close_at = text.find("<answer>"), text.rfind("</answer>")
        ids, offsets = tokenize_with_offsets(tokenizer, text)
        return ids, labels_from_spans(ids, offsets, [(open_at, close_at + len("</answer>"))])

    def without_tags(tokenizer, messages):
        text = render(tokenizer, messages)
        open_at, close_at = text.rfind("<answer>") + len("<answer>"), text.rfind("</answer>")
        ids, offsets = tokenize_with_offsets(tokenizer, text)
        return ids, labels_from_spans(ids, offsets, [(open_at, close_at)])

    v.no(check_answer_only_labels, build_labels, tokenizer)  # the whole assistant turn
    v.no(check_answer_only_labels, first_answer, tokenizer)
    v.no(check_answer_only_labels, without_tags, tokenizer)


# --- 07 deduplication -------------------------------------------------------------------------

def test_07_1_threshold(v):
    v.ok(check_threshold, 0.85, metric="cosine")
    assert "edge" in v.no(check_threshold, 0.9, metric="cosine")  # the discussion's case
    v.no(check_threshold, 0.95, metric="cosine")
    v.no(check_threshold, 0.5, metric="cosine")
    v.no(check_threshold, 85, metric="cosine")
    v.no(check_threshold, "0.85", metric="cosine")


def test_07_2_japanese_dedup(v):
    from course_utils.dedup import rouge_l_dedup

    v.ok(check_japanese_dedup, dedup_japanese)
    v.no(check_japanese_dedup, lambda t: rouge_l_dedup(list(t), 0.7, tokenizer="rouge"))
    v.no(check_japanese_dedup, lambda t: rouge_l_dedup(list(t), 0.5, tokenizer="auto"))

    def keep_last(texts):
        texts = list(texts)
        kept = rouge_l_dedup(texts[::-1], 0.7, tokenizer="auto")
        return sorted(len(texts) - 1 - i for i in kept)

    v.no(check_japanese_dedup, keep_last)
    v.no(check_japanese_dedup, lambda t: [list(t)[i] for i in dedup_japanese(t)])


def test_07_3_false_positive(v):
    v.ok(check_false_positive, worst_false_positive)

    def constant_reason(pairs, is_dup, scores):  # the case
        return {**worst_false_positive(pairs, is_dup, scores), "reason": "same_template"}

    def reason_from_score(pairs, is_dup, scores):
        got = worst_false_positive(pairs, is_dup, scores)
        return {**got, "reason": "same_template" if scores[got["index"]] >= 0.5 else "same_topic"}

    def with_duplicates(pairs, is_dup, scores):
        return {"index": max(range(len(pairs)), key=lambda i: scores[i]), "reason": "same_template"}

    v.no(check_false_positive, constant_reason)
    v.no(check_false_positive, reason_from_score)
    v.no(check_false_positive, with_duplicates)
    v.no(check_false_positive, lambda p, d, s: (0, "same_topic"))


# --- 08 evaluation ----------------------------------------------------------------------------

def _ps_rate(n: int = 12) -> dict:
    row = {"response": "Answer.\nP.S. Bye.", "constraints": [{"kind": "postscript"}]}
    return ev.if_rate([row] * n)


def test_08_1_postscript_kind(v, restore_kinds):
    ev.CONSTRAINT_KINDS.pop("postscript", None)
    v.no(check_postscript_kind, None)  # nothing registered

    def register(checker, describe=lambda: "At the end, add a last line starting with 'P.S.'."):
        ev.CONSTRAINT_KINDS.pop("postscript", None)
        ev.register_constraint("postscript", describe=describe)(checker)

    register(lambda response: "P.S." in response)  # anywhere, not at a line start
    v.no(check_postscript_kind, _ps_rate())
    register(lambda response: response.startswith("P.S."))  # only the very first line
    v.no(check_postscript_kind, _ps_rate())
    register(lambda response: any(ln.lstrip().startswith("P.S.") for ln in response.splitlines()),
             describe=lambda: "Add a postscript at the end.")  # the sentence does not say P.S.
    v.no(check_postscript_kind, _ps_rate())
    register(lambda response: any(ln.lstrip().startswith("P.S.") for ln in response.splitlines()))
    v.no(check_postscript_kind, _ps_rate(2))  # too few prompts measured
    v.ok(check_postscript_kind, _ps_rate())


def test_08_2_levels(v):
    v.ok(check_levels, levels, SMALL)

    def no_skip(results):
        return {"prompt": sum(all(r) for r in results) / len(results),
                "instruction": levels(results)["instruction"]}

    def mean_of_means(results):
        prompts = [r for r in results if r]
        means = [sum(r) / len(r) for r in prompts]
        return {"prompt": levels(results)["prompt"], "instruction": sum(means) / len(means)}

    def any_passes(results):
        prompts = [r for r in results if r]
        return {"prompt": sum(any(r) for r in prompts) / len(prompts),
                "instruction": levels(results)["instruction"]}

    def percent(results):
        return {k: 100 * v for k, v in levels(results).items()}

    for wrong in (no_skip, mean_of_means, any_passes, percent):
        v.no(check_levels, wrong, SMALL)


def test_08_3_partial_collapse(v):
    v.ok(check_partial_collapse, detect_partial_collapse)
    v.no(check_partial_collapse, lambda texts: ev.collapse_alarm(texts)["alarm"])
    v.no(check_partial_collapse, lambda texts: True)
    v.no(check_partial_collapse, lambda texts: False)
    v.no(check_partial_collapse, lambda texts: int(detect_partial_collapse(texts)))


# --- 09 capstone ------------------------------------------------------------------------------

def _pre_mix() -> list[dict]:
    rows = [{"instruction": f"Explain topic number {i} in detail.",
             "response": f"Topic {i} is explained here.", "kind": "general"} for i in range(25)]
    return rows + [{"instruction": d, "response": "Hi! How can I help?", "kind": "dialogue"}
                   for d in ["Hello!", "Hi there!", "Thanks!", "Bye!", "Good morning!",
                             "How are you?", "Hey!", "Goodbye!"]]


def test_09_1_config_change(v):
    from course_utils import capstone

    pre_mix = _pre_mix()
    for share in (0.1, 0.12, 0.2):
        mine = capstone.small_config(**{"mixing.share": share, "dedup.rouge_threshold": 0.6})
        v.ok(check_config_change, mine, capstone.mix_rows(pre_mix, mine)[0])
    mine = capstone.small_config(**{"mixing.share": 0.1, "dedup.rouge_threshold": 0.6})
    default_mix = capstone.mix_rows(pre_mix, capstone.small_config())[0]
    assert "YOUR config" in v.no(check_config_change, mine, default_mix)  # the case
    default = capstone.small_config()
    v.no(check_config_change, default, capstone.mix_rows(pre_mix, default)[0])  # share 0.15
    loose = capstone.small_config(**{"mixing.share": 0.2})  # threshold still 0.7
    v.no(check_config_change, loose, capstone.mix_rows(pre_mix, loose)[0])
    v.no(check_config_change, {"mixing": {"share": 0.2}}, default_mix)  # not a full config
    v.no(check_config_change, mine, pre_mix)  # not mixed


def _no_url_filter():
    from distilabel.steps import Step, StepInput

    class NoURLFilter(Step):
        @property
        def inputs(self):
            return ["response"]

        def process(self, inputs: StepInput):
            markers = ("http://", "https://", "www.")
            yield [row for row in inputs
                   if not any(u in (row.get("response") or "") for u in markers)]

    class OnlyHttp(NoURLFilter):
        def process(self, inputs: StepInput):
            yield [row for row in inputs if "http" not in row["response"]]

    class KeepAll(NoURLFilter):
        def process(self, inputs: StepInput):
            yield list(inputs)

    class Returns(NoURLFilter):
        def process(self, inputs: StepInput):
            return [row for row in inputs
                    if "www." not in row["response"] and "http" not in row["response"]]

    return NoURLFilter, [OnlyHttp, KeepAll, Returns]


def test_09_2_filter_step(v):
    right, wrong = _no_url_filter()
    v.ok(check_filter_step, right)
    for step in wrong:
        v.no(check_filter_step, step)
    v.no(check_filter_step, right(name="an_instance"))  # an instance, not the class


def test_09_3_budget(v):
    v.ok(check_budget, my_budget)
    v.no(check_budget,
            lambda plan, pi, po: sum(s["items"] * (s["tokens_in"] * pi + s["tokens_out"] * po) / 1e3
                                     for s in plan.values()))  # per thousand
    v.no(check_budget,
            lambda plan, pi, po: sum(s["items"] * s["tokens_in"] * pi / 1e6
                                     for s in plan.values()))  # no output tokens
    v.no(check_budget, lambda plan, pi, po: my_budget(dict(list(plan.items())[:1]), pi, po))
    v.no(check_budget, lambda plan, pi, po: f"${my_budget(plan, pi, po):.2f}")


# --- 10 preference data -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pref_scored():
    return list(checks.preference.scored_sets()["seed 0"])


def test_10_1_verifiable_pairs(v, pref_scored):
    from course_utils.preference import build_pairs

    pairs = verifiable_pairs(pref_scored)
    assert pairs and {p["decided_by"] for p in pairs} == {"verifiable"}
    v.ok(check_verifiable_pairs, pairs, pref_scored)
    assert "judge" in v.no(check_verifiable_pairs, build_pairs(pref_scored)[0], pref_scored)
    swapped = [{**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p in pairs]
    assert "swapped" in v.no(check_verifiable_pairs, swapped, pref_scored)
    stricter = build_pairs(pref_scored, prefer=("verifiable",), margin={"verifiable": 0.75})[0]
    assert len(stricter) < len(pairs)
    v.no(check_verifiable_pairs, stricter, pref_scored)  # another margin
    v.no(check_verifiable_pairs, pairs[:-1], pref_scored)  # one pair lost
    v.no(check_verifiable_pairs, build_pairs(pref_scored, prefer=("verifiable",)), pref_scored)
    v.no(check_verifiable_pairs, pairs, None)  # the scored rows not passed


def test_10_2_agreement(v):
    v.ok(check_agreement, my_agreement)

    def no_margins(pairs):  # every pair with both scores counts
        return my_agreement(pairs, 1e-9, 1e-9)

    def decided_only(pairs):  # only the pairs the checks decided
        return my_agreement([p for p in pairs if p["decided_by"] == "verifiable"])

    def ties_agree(pairs):  # a judge tie counted as agreement
        out = my_agreement(pairs, 0.25, 0.0)
        return out

    def rate_only(pairs):
        out = my_agreement(pairs)
        return {"rate": out["agree"] / out["both_separate"] if out["both_separate"] else None}

    for wrong in (no_margins, decided_only, ties_agree, rate_only):
        v.no(check_agreement, wrong)
    v.no(check_agreement, my_agreement({}))  # called, not passed


def test_10_3_length_control(v):
    v.ok(check_length_control, length_controlled)
    assert "still wins" in v.no(check_length_control, lambda rows: rows)  # no correction
    assert "agrees" in v.no(check_length_control, lambda rows: length_controlled(rows, 0.1))
    silenced = lambda rows: [{**r, "scores": [{**s, "judge": 5.0 if s["judge"] is not None  # noqa: E731
                                               else None} for s in r["scores"]]} for r in rows]
    assert "silence" in v.no(check_length_control, silenced)
    no_length = lambda rows: [{**r, "scores": [{**s, "length": 0} for s in r["scores"]]}  # noqa: E731
                              for r in rows]
    assert "facts" in v.no(check_length_control, no_length)
    v.no(check_length_control, lambda rows: length_controlled(rows[1:]))  # a row lost
