"""Evol-Instruct: operator templates, the offline teacher's evol kind, elimination, the seeded loop, checks."""

from __future__ import annotations

import pytest

from course_utils.evol import (DEFAULT_OPERATORS, EXAMPLE_INSTRUCTIONS, REASONS, EliminationRules, EvolResult,
                               eliminate, evolve, evolve_once, new_words, resolve_operators)
from course_utils.prompts import EVOL_OPERATORS, EvolOperator
from course_utils.teacher import OfflineTeacher, Request, respond
from course_utils.teacher.kinds.evol import given_prompt, operator
from recording_llm import RecordingLLM

PARENT = "Write a function that computes the variance of a list of numbers."


@pytest.fixture(scope="module")
def llm():
    teacher = OfflineTeacher(seed=0)
    teacher.load()
    return teacher


@pytest.fixture(scope="module")
def clean_llm():
    teacher = OfflineTeacher(seed=0, failure_rates=None)
    teacher.load()
    return teacher


# --- templates and the teacher ------------------------------------------------------------------


def test_operators_are_versioned_and_cover_depth_and_breadth():
    assert set(EVOL_OPERATORS) == {"constraints", "deepening", "concretizing", "reasoning", "complicate_input",
                                   "breadth"}
    assert {op.family for op in EVOL_OPERATORS.values()} == {"in-depth", "in-breadth"}
    for op in EVOL_OPERATORS.values():
        assert op.version and op.change
        prompt = op.render(PARENT)
        assert prompt.count(PARENT) == 1 and "{" not in prompt
        assert prompt.rstrip().endswith(("#Rewritten Prompt#:", "#Created Prompt#:"))


def test_render_keeps_braces_in_the_instruction():
    text = 'Fix this code: def f(x): return {"a": x}'
    assert text in EVOL_OPERATORS["constraints"].render(text)


@pytest.mark.parametrize("name", list(EVOL_OPERATORS))
def test_teacher_reads_the_course_operator_from_the_method_line(name):
    req = Request((("user", EVOL_OPERATORS[name].render(PARENT)),), failure_rates=None)
    assert operator(req) == name
    assert given_prompt(req) == PARENT
    text, kind, failure = respond(req)
    assert kind == "evol_instruct" and failure is None and text != PARENT
    assert eliminate(PARENT, text, name) is None, text


def test_course_breadth_moves_to_a_new_topic():
    from course_utils.teacher.core import detect_domain

    parent = "Explain how a bond's price moves when interest rates rise, for an investor."
    before = detect_domain(parent)[0]
    outs = {respond(Request((("user", EVOL_OPERATORS["breadth"].render(parent)),), index=i, failure_rates=None))[0]
            for i in range(5)}
    assert all(detect_domain(o)[0] != before for o in outs)


def test_unknown_method_falls_back_without_reading_the_frame():
    op = EvolOperator("persona", "in-depth", "Rewrite it as asked by a specific person in a specific situation.")
    req = Request((("user", op.render(PARENT)),), failure_rates=None)
    assert operator(req) == "constraints"


def test_given_prompt_uses_the_last_marker():
    op = EvolOperator("odd", "in-depth", "Look at #The Given Prompt#\nand add one more constraint.")
    req = Request((("user", op.render(PARENT)),), failure_rates=None)
    assert given_prompt(req) == PARENT


# --- elimination ---------------------------------------------------------------------------------


@pytest.mark.parametrize("candidate, reason", [
    (None, "empty"), ("", "empty"), ("   ", "empty"), (42, "empty"),
    ("Sorry, I can't help with that.", "refusal"),
    ("As an AI language model, I cannot complete this task.", "refusal"),
    ("#Rewritten Prompt#: " + PARENT + " Use numpy.", "template_copy"),
    (PARENT + " Keep the given prompt short.", "template_copy"),
    (PARENT.upper(), "unchanged"),
    ("Write a function that computes", "shorter"),
    (PARENT + " Please.", "no_new_info"),
    (PARENT + " " + " ".join(f"Answer in style {i}." for i in range(10)), "overlong"),
    (PARENT + " Return it with type hints and a docstring.", None),
])
def test_eliminate_reasons(candidate, reason):
    assert eliminate(PARENT, candidate, "constraints") == reason


def test_breadth_may_be_a_bit_shorter_but_not_a_fragment():
    assert eliminate(PARENT, "Plan a vegetarian dinner for six guests on a budget.", "breadth") is None
    assert eliminate(PARENT, "Plan dinner now.", "breadth") == "shorter"
    assert eliminate(PARENT, "Plan a vegetarian dinner for six guests on a budget.", "constraints") == "shorter"


def test_max_words_and_drift_rules():
    long = PARENT + " " + "Use numpy arrays and explain. " * 30
    assert eliminate(PARENT, long, "breadth") == "overlong"
    rules = EliminationRules(min_root_similarity=0.6)
    drifted = PARENT + " Also consider the tax rules for a small bakery in Lyon."
    assert eliminate(PARENT, drifted, "deepening", rules, root="Describe a cat.") == "drift"
    assert eliminate(PARENT, drifted, "deepening", rules, root=PARENT) is None


@pytest.mark.parametrize("kwargs", [dict(min_root_similarity=1.5), dict(breadth_min_ratio=-0.1),
                                    dict(min_root_similarity=float("nan")), dict(max_added_words=0),
                                    dict(min_new_words=-1), dict(max_words=True)])
def test_rules_reject_bad_values(kwargs):
    with pytest.raises(ValueError, match=r"Use|must be"):
        EliminationRules(**kwargs)


def test_new_words_ignores_stopwords_and_repeats():
    assert new_words("Explain the median.", "Explain the median and the mode, the mode please.") == ["mode"]


# --- the loop ------------------------------------------------------------------------------------


def test_evolve_is_seeded_and_reproducible(llm):
    a = evolve(llm, list(EXAMPLE_INSTRUCTIONS[:6]), rounds=3, seed=0)
    b = evolve(llm, list(EXAMPLE_INSTRUCTIONS[:6]), rounds=3, seed=0)
    c = evolve(llm, list(EXAMPLE_INSTRUCTIONS[:6]), rounds=3, seed=1)
    assert a.steps == b.steps
    assert [s["operator"] for s in a.steps] != [s["operator"] for s in c.steps]


def test_failed_evolution_keeps_the_parent_and_nothing_is_lost(llm):
    res = evolve(llm, list(EXAMPLE_INSTRUCTIONS), rounds=4, seed=0)
    assert len(res.steps) == 4 * len(EXAMPLE_INSTRUCTIONS)
    failed = [s for s in res.steps if s["eliminated"]]
    assert failed, "the default failure rates should produce eliminations"
    for s in res.steps:
        assert s["instruction"] == (s["parent"] if s["eliminated"] else s["candidate"])
        assert s["eliminated"] in (None, *REASONS)
    for i in range(len(res.roots)):
        steps = res.lineage(i)
        for prev, nxt in zip(steps, steps[1:]):
            assert nxt["parent"] == prev["instruction"]
    data = res.dataset()
    assert len(data) == len(res.roots) + sum(s["eliminated"] is None for s in res.steps)
    table = res.eliminations()
    assert [r["round"] for r in table] == [1, 2, 3, 4]
    for row in table:
        assert row["attempts"] == row["evolved"] + sum(row[k] for k in REASONS if k in row)
    assert "total" in res.table()


def test_complexity_grows_and_similarity_to_root_falls(llm):
    res = evolve(llm, list(EXAMPLE_INSTRUCTIONS), rounds=4, seed=0)
    rows = res.complexity_by_round()
    assert [r["round"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["rouge_root"] == 1.0 and rows[0]["rouge_parent"] is None
    assert rows[-1]["words"] > rows[0]["words"] * 2
    assert rows[-1]["score"] > rows[0]["score"]
    assert rows[-1]["rouge_root"] < rows[1]["rouge_root"] < 1.0
    assert "rouge_root" in res.complexity_table(rows)
    import matplotlib.pyplot as plt

    fig = res.plot(rows)
    assert len(fig.axes) == 3 and not plt.get_fignums()


def test_custom_operator_and_subset(clean_llm):
    mine = EvolOperator("persona", "in-depth", "Rewrite it as asked by a specific person in a specific situation.")
    res = evolve(clean_llm, [PARENT, "Describe the water cycle."], rounds=3, operators=["deepening", mine], seed=0)
    assert set(res.operators) == {"deepening", "persona"}
    assert {s["operator"] for s in res.steps} <= {"deepening", "persona"}


def test_dict_rows_and_evolve_once(clean_llm):
    res = evolve(clean_llm, [{"instruction": PARENT, "id": 1}], rounds=1, seed=0)
    assert res.roots == [PARENT]
    res = evolve(clean_llm, [{"prompt": PARENT}], rounds=1, seed=0, column="prompt")
    assert res.roots == [PARENT]
    one = evolve_once(clean_llm, PARENT, "reasoning")
    assert one["eliminated"] is None and one["candidate"].startswith(PARENT[:-1])
    assert "#The Given Prompt#:" in one["prompt"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(instructions=[]), "pool is empty"),
    (dict(instructions="Explain tides."), "list of strings"),
    (dict(instructions=[PARENT], rounds=0), "rounds=0"),
    (dict(instructions=[PARENT], rounds=1.5), "rounds must be an int"),
    (dict(instructions=[{"prompt": PARENT}]), "no 'instruction' column"),
    (dict(instructions=[PARENT, ""]), "empty or not text"),
    (dict(instructions=[PARENT], operators=[]), "operators is empty"),
    (dict(instructions=[PARENT], operators=["shouting"]), "Unknown operator"),
    (dict(instructions=[PARENT], rules="strict"), "EliminationRules"),
])
def test_bad_input_is_a_clear_value_error(clean_llm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        evolve(clean_llm, **kwargs)


def test_bad_llm_is_a_clear_value_error():
    with pytest.raises(ValueError, match="get_llm"):
        evolve(object(), [PARENT])


class _Garbage:
    """An LLM that returns every kind of bad output, including no generations at all."""

    def __init__(self):
        self.outputs = [{"generations": [None]}, {"generations": []}, None, {"generations": ["<|im_end|> ###"]},
                        {"generations": ["x " * 5000]}, {}, "not a dict"]

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        return [self.outputs[i % len(self.outputs)] for i in range(len(inputs))]


def test_bad_model_output_is_counted_never_raised():
    res = evolve(_Garbage(), [PARENT] * 6, rounds=2, seed=0)
    assert all(s["eliminated"] for s in res.steps)
    assert res.pool == [PARENT] * 6
    assert res.complexity_by_round()[-1]["evolved"] == 0
    res.plot()


def test_resolve_operators_defaults():
    assert [op.name for op in resolve_operators()] == list(DEFAULT_OPERATORS)
    assert resolve_operators("breadth")[0].family == "in-breadth"
    assert isinstance(evolve.__doc__, str) and EvolResult.__doc__


# --- checks ----------------------------------------------------------------------------------------


def test_checks_pass_on_the_solutions_and_fail_clearly(clean_llm, llm, capsys):
    from course_utils.checks import evol as evol_checks

    mine = EvolOperator("persona", "in-depth", "Rewrite it as asked by a specific person in a specific situation.")
    res = evolve(clean_llm, list(EXAMPLE_INSTRUCTIONS[:6]), rounds=2, operators=[*DEFAULT_OPERATORS, mine], seed=0)
    assert evol_checks.check_new_operator(mine, res)
    assert not evol_checks.check_new_operator(EVOL_OPERATORS["deepening"], res)
    assert not evol_checks.check_new_operator("persona", res)
    assert not evol_checks.check_new_operator(mine, None)

    assert not evol_checks.check_tuned_rules(EliminationRules())
    assert evol_checks.check_tuned_rules(EliminationRules(min_new_words=1, max_added_words=20))
    assert not evol_checks.check_tuned_rules("strict")

    drift = EliminationRules(min_root_similarity=0.25)

    from course_utils.dedup import rouge_l

    def worst(text):
        res = evolve(llm, [text], rounds=4, operators=evol_checks.DEPTH_OPERATORS, seed=0)
        return min((rouge_l(text, s["candidate"]) for s in res.steps if s["eliminated"] is None), default=1.0)

    poem = "Write a short poem about autumn."
    assert evol_checks.check_broken_instruction(llm, poem, drift, worst)
    assert not evol_checks.check_broken_instruction(llm, poem, EliminationRules(), worst)
    assert not evol_checks.check_broken_instruction(
        llm, "Compare renting and buying a home in a large city when interest rates are high.", drift, worst)
    assert not evol_checks.check_broken_instruction(llm, "", drift, worst)
    out = capsys.readouterr().out
    assert out.count("✅") == 3 and "Traceback" not in out


# --- the round explorer ------------------------------------------------------------------------------


def test_describe_round_and_explorer(llm):
    from course_utils.widgets import describe_round, evol_explorer

    res = evolve(llm, list(EXAMPLE_INSTRUCTIONS[:4]), rounds=3, seed=0)
    assert describe_round(res, 1, 0).endswith(res.roots[1])
    for i in range(4):
        for r in range(1, 4):
            text = describe_round(res, i, r)
            step = res.lineage(i)[r - 1]
            assert f"operator: {step['operator']}" in text
            assert ("PASSED" in text) == (step["eliminated"] is None)
            assert text.rstrip().endswith(step["instruction"])
    with pytest.raises(ValueError, match="round_no"):
        describe_round(res, 0, 4)
    with pytest.raises(ValueError, match="root_id"):
        describe_round(res, 9, 1)
    with pytest.raises(ValueError, match="EvolResult"):
        describe_round("nope", 0, 0)
    box = evol_explorer(res)
    pick, slider = box.children[0].children
    view = box.children[1]
    slider.value = 2
    pick.value = 3
    assert "Round 2" in view.value and "operator:" in view.value


class _BagOfWords:
    """A stand-in sentence model (has `.encode`): normalised counts of a few words, so no download."""

    vocab = ("explain", "bond", "water", "answer", "step", "use", "case", "function", "list", "the")

    def encode(self, texts, **kwargs):
        import numpy as np

        rows = np.array([[t.lower().count(w) for w in self.vocab] + [1.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_embedding_cosine_with_the_root(llm):
    res = evolve(llm, list(EXAMPLE_INSTRUCTIONS[:5]), rounds=2, seed=0)
    rows = res.complexity_by_round(embeddings=True, model=_BagOfWords())
    assert abs(rows[0]["cosine_root"] - 1.0) < 1e-6
    assert all(0.0 <= r["cosine_root"] <= 1.0 + 1e-6 for r in rows)
    assert "cosine_root" in res.complexity_table(rows)
    assert len(res.plot(rows).axes[2].lines) == 3


# --- budget and seeding ---------------------------------------------------------------------------



def test_each_rewrite_gets_the_budget_and_it_holds_twice_the_longest(clean_llm):
    from course_utils import evol
    from course_utils.teacher.core import approx_tokens

    spy = RecordingLLM(clean_llm)
    res = evolve(spy, list(EXAMPLE_INSTRUCTIONS), rounds=4, seed=0, max_new_tokens=10**5)
    longest = max(approx_tokens(s["candidate"]) for s in res.steps if s["candidate"])
    assert 2 * longest <= evol.MAX_NEW_TOKENS
    evolve(spy, [PARENT], rounds=1, seed=0)
    assert spy.calls[-1]["max_new_tokens"] == evol.MAX_NEW_TOKENS == 256
    # 150 words (the `max_words` cap) fit in the budget, so an overlong rewrite is seen whole
    assert approx_tokens(" ".join(["word"] * 151)) < evol.MAX_NEW_TOKENS


def test_evolve_sends_a_servers_seed_with_every_request(clean_llm):
    class OpenAILLM(RecordingLLM):
        """Stands for distilabel's OpenAI-compatible client (seed_sampling knows it by its class)."""

    spy = OpenAILLM(clean_llm)
    evolve(spy, [PARENT, "Describe the water cycle."], rounds=2, seed=7)
    assert [c["extra_body"] for c in spy.calls] == [{"seed": 7}, {"seed": 7}]


def test_a_server_llm_accepts_the_seed():
    from course_utils.generation import seed_sampling
    from course_utils.models import server_llm

    server = server_llm("some-model", "http://127.0.0.1:9/v1")  # built, never contacted
    kwargs = seed_sampling(server, 3)
    assert kwargs == {"extra_body": {"seed": 3}} and server._accepted(kwargs) == kwargs


def test_evolve_on_a_sampling_model_is_seeded(tiny_model_dir, monkeypatch):
    """On a real (tiny) model, same seed, same result (notebook 03 printed False before)."""
    from course_utils import evol
    from course_utils.models import get_llm

    tiny = get_llm("transformers", model=str(tiny_model_dir), temperature=1.0)
    pool = list(EXAMPLE_INSTRUCTIONS[:3])

    def candidates(seed):
        return [s["candidate"] for s in evolve(tiny, pool, rounds=2, seed=seed, max_new_tokens=16).steps]

    assert candidates(0) == candidates(0)
    assert candidates(1) != candidates(0)
    monkeypatch.setattr(evol, "seed_sampling", lambda llm, seed: {})
    assert candidates(0) != candidates(0)  # without seeding torch, the model's sampling differs


def test_with_budget_copies_and_leaves_the_original(llm):
    from course_utils.generation import with_budget

    short = with_budget(llm, max_new_tokens=5)
    assert short.generation_kwargs["max_new_tokens"] == 5 and llm.generation_kwargs.get("max_new_tokens") != 5
    text = short.generate_outputs([[{"role": "user", "content": PARENT}]])[0]["generations"][0]
    assert len(text.split()) <= 5
    with pytest.raises(ValueError, match="max_new_tokens"):
        with_budget(llm, max_new_tokens=0)
    with pytest.raises(ValueError, match="distilabel LLM"):
        with_budget(object(), max_new_tokens=5)
