"""The offline teacher: deterministic, temperature-aware, recognises each request kind, injects failures."""

from __future__ import annotations

import json
import re

import pytest

from course_utils.parsing import parse_json_list, parse_lines
from course_utils.prompts import FINANCE_USER_PROMPT, FINANCE_V1, FINANCE_V3, is_definitional
from course_utils.teacher import DEFAULT_FAILURE_RATES, OfflineTeacher, Request, respond
from course_utils.teacher.core import load_bank


def ask(text, system=None, **kw):
    msgs = ((("system", system),) if system else ()) + (("user", text),)
    return respond(Request(msgs, failure_rates=kw.pop("failure_rates", None), **kw))


def test_bank_is_data_with_at_least_20_domains():
    bank = load_bank()
    assert len(bank["domains"]) >= 20
    for name, d in bank["domains"].items():
        assert d["keywords"] and d["concepts"] and d["entities"] and d["tasks"], name


def test_deterministic_and_index_dependent():
    a = ask("Generate 5 questions about travel.", index=1)
    assert a == ask("Generate 5 questions about travel.", index=1)
    texts = {ask("Generate 5 questions about travel.", index=i)[0] for i in range(6)}
    assert len(texts) > 1


def test_temperature_zero_collapses_and_high_temperature_varies():
    def distinct(t):
        return len({ask("Generate 5 questions about cooking.", index=i, temperature=t)[0] for i in range(8)})

    assert distinct(0.0) == 1
    assert distinct(1.0) >= 6


def test_seed_changes_output():
    outs = {ask("Write 5 questions about law.", seed=s, index=1)[0] for s in range(5)}
    assert len(outs) > 1


def test_self_instruct_template_gives_n_lines_in_domain():
    from distilabel.steps.tasks import SelfInstruct

    task = SelfInstruct(llm=OfflineTeacher(failure_rates=None), num_instructions=7)
    task.load()
    row = next(task.process([{"input": "household budgets and saving for retirement"}]))[0]
    assert len(row["instructions"]) == 7
    assert row["model_name"] == "offline-teacher"


@pytest.mark.parametrize("op", ["CONSTRAINTS", "DEEPENING", "CONCRETIZING", "INCREASED_REASONING_STEPS", "BREADTH"])
def test_evol_instruct_operators(op):
    from distilabel.steps.tasks.evol_instruct.utils import MUTATION_TEMPLATES

    parent = "Write a function that computes the variance of a list of numbers."
    text, kind, failure = ask(MUTATION_TEMPLATES[op].replace("<PROMPT>", parent))
    assert kind == "evol_instruct" and failure is None
    assert text != parent
    if op != "BREADTH":
        assert len(text) > len(parent)
        assert "#" not in text


def test_evol_failures_are_real():
    from distilabel.steps.tasks.evol_instruct.utils import MUTATION_TEMPLATES

    prompt = MUTATION_TEMPLATES["CONSTRAINTS"].replace("<PROMPT>", "Explain the median.")
    rates = {"template_copy": 1.0}
    assert ask(prompt, failure_rates=rates)[0].startswith("#Rewritten Prompt#")
    assert ask(prompt, failure_rates={"echo": 1.0})[0] == "Explain the median."
    overlong = ask(prompt, failure_rates={"overlong": 1.0})[0]
    assert len(overlong.split()) > 3 * len("Explain the median.".split())


def test_magpie_writes_a_user_turn_on_the_system_prompt_domain():
    system = "You are a math tutor who helps students with algebra and geometry."
    text, kind, _ = respond(Request((("system", system),), magpie=True, failure_rates=None))
    assert kind == "magpie" and text
    from distilabel.steps.tasks import Magpie

    task = Magpie(llm=OfflineTeacher(failure_rates=None), n_turns=2)
    task.load()
    conv = next(task.process([{"system_prompt": system}]))[0]["conversation"]
    assert [m["role"] for m in conv] == ["user", "assistant", "user", "assistant"]


def test_magpie_off_topic_rate_is_a_real_share():
    system = "You are a chef who helps home cooks with recipes and baking."
    kinds = [respond(Request((("system", system),), index=i, magpie=True,
                             failure_rates={"off_topic": 0.25})) for i in range(200)]
    from course_utils.teacher.core import detect_domain

    off = sum(detect_domain(t)[0] != "cooking" for t, _, _ in kinds)
    assert 20 <= off <= 90


def test_cot_solves_chickens_and_cows_in_tags():
    q = "A farm has chickens and cows with 30 heads and 74 legs. How many cows are there?"
    text, kind, _ = ask(q, system="Think inside <thinking> tags, then answer inside <answer> tags.")
    assert kind == "cot"
    assert re.search(r"<answer>\s*7\s*</answer>", text)
    assert text.index("<thinking>") < text.index("</thinking>") < text.index("<answer>")


def test_cot_failures_break_tags_or_answers():
    q = "A farm has chickens and cows with 30 heads and 74 legs. How many cows are there?"
    system = "Think inside <thinking> tags, then answer inside <answer> tags."
    broken = ask(q, system=system, failure_rates={"bad_tags": 1.0})[0]
    assert not re.fullmatch(r"<thinking>.*</thinking>\s*<answer>.*</answer>", broken, re.S)
    wrong = ask(q, system=system, failure_rates={"wrong_answer": 1.0})[0]
    assert not re.search(r"<answer>\s*7\s*</answer>", wrong)


def _measure(system, n=10):
    texts = [ask(FINANCE_USER_PROMPT, system=system, index=i)[0] for i in range(n)]
    return texts


def test_v1_prompt_gives_plain_definitional_questions_v3_gives_concrete_json():
    v1 = _measure(FINANCE_V1.text)
    assert all(not parse_json_list(t).ok for t in v1)
    v1_questions = [q for t in v1 for q in parse_lines(t).value]
    assert sum(map(is_definitional, v1_questions)) / len(v1_questions) > 0.5
    v3 = _measure(FINANCE_V3.text)
    v3_questions = [q for t in v3 for q in parse_json_list(t).value]
    assert not any(map(is_definitional, v3_questions))
    assert sum(len(q.split()) for q in v3_questions) / len(v3_questions) > 15


def test_judge_scores_from_real_checks():
    from course_utils.teacher.kinds.judge import score_response

    good = score_response("Explain budgeting.", "A budget lists income and planned spending each month " * 3)
    assert score_response("Explain budgeting.", "")[0] == 1
    assert score_response("Explain budgeting.", "Sorry, I can't help.")[0] == 1
    assert good[0] > score_response("Explain budgeting.", "Budgets.")[0]
    prompt = ("You are a strict grader. Rate the response on a scale of 1-10.\n"
              "Instruction:\nExplain budgeting.\nResponse:\nA budget lists income and planned spending.\n"
              'Respond with JSON: {"score": <1-10>, "reason": "<one sentence>"}')
    text, kind, _ = ask(prompt)
    assert kind == "judge" and 1 <= json.loads(text)["score"] <= 10


def test_small_talk_and_plain_instructions():
    assert ask("Hello!")[0].startswith(("Hello", "Hi"))
    assert ask("Explain the median of a data set.")[1] == "chat"


def test_failure_rates_none_is_clean_and_defaults_inject_failures():
    llm_clean = OfflineTeacher(failure_rates=None)
    llm_noisy = OfflineTeacher()
    assert all(v > 0 for v in DEFAULT_FAILURE_RATES.values())
    inputs = [[{"role": "user", "content": f"Explain budgeting tip {i}."}] for i in range(400)]
    llm_clean.generate(inputs)
    llm_noisy.generate(inputs)
    assert not any(k.startswith("failure:") for k in llm_clean.stats)
    refusals = llm_noisy.stats["failure:refusal"]
    assert 6 <= refusals <= 30  # about 4% of 400


def test_num_generations_statistics_and_token_budget():
    llm = OfflineTeacher(failure_rates=None)
    out = llm.generate([[{"role": "user", "content": "Explain compound interest to a teenager."}]],
                       num_generations=3, max_new_tokens=10)[0]
    assert len(out["generations"]) == 3
    assert all(n <= 10 for n in out["statistics"]["output_tokens"])
    assert llm.model_name == "offline-teacher"
    assert "not generated by a neural network" in OfflineTeacher.__doc__.replace("NOT", "not")


# --- candidate sampling for preference data (the marker in the system prompt) -----------------

def test_candidates_vary_in_quality_only_with_the_marker():
    from course_utils.evaluation import check, parse_constraints
    from course_utils.teacher.core import Request, respond
    from course_utils.teacher.kinds.chat import CANDIDATE_MARKER, _quality

    instruction = "Explain what an emergency fund is in fewer than 60 words. Do not use any commas."
    constraints = parse_constraints(instruction)
    system = f"Write one {CANDIDATE_MARKER} to the instruction."
    plain = {respond(Request((("user", instruction),), index=i, temperature=1.0))[0] for i in range(8)}
    seen = {}
    for i in range(40):
        req = Request((("system", system), ("user", instruction)), index=i, temperature=1.0)
        text = respond(req)[0]
        seen.setdefault(_quality(req), []).append(sum(check(text, c) for c in constraints))
    assert set(seen) == {"follows", "slip", "padded", "terse"}
    assert all(n == 2 for n in seen["follows"] + seen["terse"] + seen["padded"])
    assert all(n == 1 for n in seen["slip"])  # a slip breaks exactly one constraint
    # without the marker, the plain answer path that notebooks 01-09 recorded (no quality draw)
    assert all(t.startswith("Here is how I would approach") for t in plain)
    cold = {respond(Request((("system", system), ("user", instruction)), index=i, temperature=0))[0]
            for i in range(4)}
    assert len(cold) == 1


def test_candidate_word_problem_slips_change_the_final_number():
    from course_utils.teacher.core import Request, respond
    from course_utils.teacher.kinds.chat import _quality

    q = "A farm has chickens and cows with 63 heads and 192 legs in total. How many cows are there?"
    answers = {}
    for i in range(30):
        req = Request((("system", "one candidate response"), ("user", q)), index=i, temperature=1.0)
        answers.setdefault(_quality(req), set()).add(respond(req)[0].rsplit(" ", 1)[-1])
    assert answers["follows"] == answers["terse"] == answers["padded"] == {"33."}
    assert "33." not in answers["slip"]


def test_skimming_judge_only_with_the_marker():
    from course_utils.teacher.kinds.judge import score_response, skim_score

    limit = "Explain what an emergency fund is in fewer than 10 words."
    short = "A fund that pays for surprises."
    long = short + " It matters a great deal here." * 8
    assert score_response(limit, short)[0] > score_response(limit, long)[0]  # the strict judge
    assert skim_score(limit, long)[0] > skim_score(limit, short)[0]  # length bias, missed limit
    bullets = "Answer with exactly 3 markdown bullet points (lines starting with '* ')."
    assert skim_score(bullets, "* a b c d e f\n* b c d e f g\n* c d e f g h")[0] > skim_score(
        bullets, "* a b c d e f\n* b c d e f g")[0]  # a visible slip is seen
    assert skim_score(limit, "")[0] == 1 and skim_score(limit, "Sorry, I can't help.")[0] == 1
