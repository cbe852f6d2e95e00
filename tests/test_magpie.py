"""Magpie: correct pre-query prompts (vs distilabel 1.5.3's), guards, turn filtering, steering, checks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from course_utils import magpie as M
from course_utils.checks import magpie as magpie_checks

SYSTEM = [{"role": "system", "content": "You are a math tutor."}]
MULTI = SYSTEM + [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."}]

# The prompts an aligned ChatML model must see to write the next user turn.
CHATML_SYSTEM = "<|im_start|>system\nYou are a math tutor.<|im_end|>\n<|im_start|>user\n"
CHATML_MULTI = ("<|im_start|>system\nYou are a math tutor.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                "<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\n")
LLAMA3_SYSTEM = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a math tutor.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\n")


@pytest.fixture(scope="module")
def tok():
    return M.chat_tokenizer()


def test_pre_query_templates_match_distilabel():
    from distilabel.models.mixins.magpie import MAGPIE_PRE_QUERY_TEMPLATES

    assert M.PRE_QUERY_TEMPLATES == dict(MAGPIE_PRE_QUERY_TEMPLATES)


def test_python_renderers_match_the_real_chat_templates(tok):
    for messages in ([{"role": "user", "content": "Hi"}], SYSTEM, MULTI):
        for gen in (False, True):
            assert M.render_chatml(messages, gen) == tok.apply_chat_template(messages, tokenize=False,
                                                                             add_generation_prompt=gen)
            assert M.render_llama3(messages, gen) == M.llama3_tokenizer().apply_chat_template(
                messages, tokenize=False, add_generation_prompt=gen)


# --- the upstream defect, and our fix ------------------------------------------------------------------


@pytest.mark.parametrize("messages", [SYSTEM, MULTI], ids=["system", "multi-turn"])
def test_upstream_prompt_has_an_empty_assistant_turn(tok, messages):
    """distilabel 1.5.3 renders with add_generation_prompt=True, then appends the pre-query template."""
    upstream = M.upstream_magpie_prompt(tok, messages, "qwen2")
    assert "<|im_start|>assistant\n<|im_start|>user\n" in upstream
    assert M.has_empty_assistant_turn(upstream)
    assert upstream != M.build_magpie_prompt(tok, messages, "qwen2")


def test_upstream_llama3_prompt_is_malformed_twice():
    upstream = M.upstream_magpie_prompt(M.llama3_tokenizer(), SYSTEM, "llama3")
    assert M.has_empty_assistant_turn(upstream)
    assert upstream.count("<|begin_of_text|>") == 2


@pytest.mark.parametrize("messages,want", [(SYSTEM, CHATML_SYSTEM), (MULTI, CHATML_MULTI), ([], "<|im_start|>user\n")],
                         ids=["system", "multi-turn", "empty"])
def test_build_magpie_prompt_chatml(tok, messages, want):
    prompt = M.build_magpie_prompt(tok, messages, "qwen2")
    assert prompt == want
    assert not M.has_empty_assistant_turn(prompt)
    assert M.build_magpie_prompt(M.render_chatml, messages, "<|im_start|>user\n") == want


def test_build_magpie_prompt_llama3_keeps_one_begin_of_text():
    assert M.build_magpie_prompt(M.llama3_tokenizer(), SYSTEM, "llama3") == LLAMA3_SYSTEM
    assert M.build_magpie_prompt(M.render_llama3, SYSTEM, "llama3") == LLAMA3_SYSTEM
    assert M.build_magpie_prompt(M.render_llama3, [], "llama3") == M.PRE_QUERY_TEMPLATES["llama3"]
    multi = M.build_magpie_prompt(M.render_llama3, MULTI, "llama3")
    assert multi.count("<|begin_of_text|>") == 1 and not M.has_empty_assistant_turn(multi)
    assert multi.endswith("4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n")


def test_build_magpie_prompt_bad_input(tok):
    with pytest.raises(ValueError, match="add_generation_prompt=True"):
        M.build_magpie_prompt(tok, MULTI[:2], "qwen2")
    with pytest.raises(ValueError, match="'qwen2' for ChatML"):
        M.build_magpie_prompt(tok, SYSTEM, None)
    with pytest.raises(ValueError, match="role"):
        M.build_magpie_prompt(tok, [{"role": "robot", "content": "x"}], "qwen2")
    no_template = SimpleNamespace(chat_template=None, apply_chat_template=lambda *a, **k: "")
    with pytest.raises(ValueError, match="no chat template"):
        M.build_magpie_prompt(no_template, SYSTEM, "qwen2")


def _stub_transformers_llm(tok, **kwargs):
    from distilabel.models import TransformersLLM

    llm = TransformersLLM(model="stub", magpie_pre_query_template="qwen2", **kwargs)
    llm._pipeline = SimpleNamespace(tokenizer=tok)
    return llm


def test_magpie_llm_fixes_the_prompt_and_keeps_the_assistant_turn(tok):
    upstream = _stub_transformers_llm(tok, use_magpie_template=True)
    fixed = M.magpie_llm(upstream, max_new_tokens=7)
    assert isinstance(fixed, type(upstream)) and type(fixed) is not type(upstream)
    assert fixed.generation_kwargs["max_new_tokens"] == 7 and not upstream.generation_kwargs
    assert fixed.prepare_input(SYSTEM) == CHATML_SYSTEM
    assert fixed.prepare_input(MULTI) == CHATML_MULTI
    assert fixed.prepare_input([]) == "<|im_start|>user\n"
    # the assistant turn is distilabel's own rendering, with the generation prompt
    assert fixed.prepare_input(MULTI[:2]) == upstream.prepare_input(MULTI[:2])
    assert fixed.prepare_input(MULTI[:2]).endswith("<|im_start|>assistant\n")
    assert M.magpie_llm(fixed).prepare_input(SYSTEM) == CHATML_SYSTEM  # fixing twice is harmless
    assert M.MagpieTransformersLLM.__name__ == "MagpieTransformersLLM"


def test_magpie_without_pre_query_template_fails_clearly():
    from distilabel.models import TransformersLLM
    from distilabel.steps.tasks import Magpie

    with pytest.raises(ValueError) as exc:  # smol-course's snippet: no magpie_pre_query_template
        Magpie(llm=TransformersLLM(model="HuggingFaceTB/SmolLM2-360M-Instruct"))
    assert M.validation_message(exc.value).startswith("Cannot set `use_magpie_template=True`")
    with pytest.raises(ValueError, match="'qwen2' for ChatML"):
        M.magpie_llm(TransformersLLM(model="HuggingFaceTB/SmolLM2-360M-Instruct"))


# --- generation and its guards ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline():
    from course_utils.models import get_llm

    return get_llm("offline", seed=0)


def _rows(n=6, domain="mathematics"):
    return [{"system_prompt": M.SYSTEM_PROMPTS[domain], "domain": domain} for _ in range(n)]


def test_generate_magpie_offline_single_and_multi_turn(offline):
    rows = M.generate_magpie(offline, _rows(6), n_turns=1, batch_size=4)
    assert len(rows) == 6 and all(r["domain"] == "mathematics" and r["model_name"] == "offline-teacher" for r in rows)
    assert all([m["role"] for m in r["conversation"]] == ["user", "assistant"] for r in rows)
    assert len({M.first_user_turn(r) for r in rows}) >= 5  # repeated prompts are sampled, not copied
    assert rows == M.generate_magpie(offline, _rows(6), n_turns=1, batch_size=4)  # reproducible
    multi = M.generate_magpie(offline, _rows(3), n_turns=3)
    assert all([m["role"] for m in r["conversation"]] == ["user", "assistant"] * 3 for r in multi)
    ends = M.generate_magpie(offline, _rows(2), n_turns=2, end_with_user=True)
    assert all([m["role"] for m in r["conversation"]] == ["user", "assistant", "user"] for r in ends)


@pytest.mark.parametrize("kwargs,match", [
    ({"rows": [{"prompt": "x"}]}, "no 'system_prompt' column"),
    ({"rows": [{"system_prompt": "  "}]}, "no 'system_prompt' column"),
    ({"rows": "You are a tutor"}, "list of dicts"),
    ({"n_turns": 0}, "n_turns must be an integer >= 1"),
    ({"n_turns": True}, "n_turns must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size"),
])
def test_generate_magpie_bad_input(offline, kwargs, match):
    args = {"rows": _rows(2), **kwargs}
    with pytest.raises(ValueError, match=match):
        M.generate_magpie(offline, args.pop("rows"), **args)


def test_generate_magpie_other_column_and_empty(offline):
    rows = M.generate_magpie(offline, [{"persona": "You are a patient math tutor."}], system_prompt_column="persona")
    assert rows[0]["system_prompt"] == "You are a patient math tutor." and "persona" not in rows[0]
    assert M.generate_magpie(offline, []) == []


@pytest.mark.parametrize("num_rows,batch_size", [(4, 2), (3, 8), (8, 8), (1, 1), (100, 50)])
def test_check_batching_accepts(num_rows, batch_size):
    M.check_batching(num_rows, batch_size)


def test_check_batching_refuses_the_hanging_sizes():
    with pytest.raises(ValueError, match=r"num_rows=8 or num_rows=12, or batch_size=2"):
        M.check_batching(10, 4)
    with pytest.raises(ValueError, match="num_rows must be"):
        M.check_batching(0, 4)
    with pytest.raises(ValueError, match="batch_size must be"):
        M.check_batching(4, "2")
    with pytest.raises(ValueError, match="hangs"):
        M.magpie_generator(None, 10, 4)


def test_magpie_generator_offline(offline):
    gen = M.magpie_generator(offline, num_rows=4, batch_size=2, only_instruction=True)
    gen.load()
    rows = M.collect_generator(gen)
    assert len(rows) == 4 and all(isinstance(r["instruction"], str) for r in rows)


def test_transformers_path_on_the_tiny_model(tiny_model_dir, monkeypatch):
    """The Colab path: Magpie through a real TransformersLLM, with our prompts (output is garbage)."""
    from course_utils.models import get_llm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llm = get_llm("transformers", str(tiny_model_dir), seed=0)
    fixed = M.magpie_llm(llm)
    fixed.use_magpie_template = True
    assert fixed.prepare_input(SYSTEM) == CHATML_SYSTEM
    assert M.chat_tokenizer(llm) is llm._pipeline.tokenizer
    rows = M.generate_magpie(llm, _rows(2), n_turns=2, max_new_tokens=6)
    assert len(rows) == 2 and all(r["model_name"] == str(tiny_model_dir) for r in rows)
    assert all(len(r["conversation"]) == 4 for r in rows)
    kept, counts = M.filter_turns(rows, 2)
    assert sum(counts.values()) == 2


# --- turns, steering ------------------------------------------------------------------------------------------


def test_turn_problem():
    assert M.turn_problem(None) == "empty" and M.turn_problem(" \n") == "empty"
    assert M.turn_problem("Solve x + 1 = 5 and") == "truncated"
    assert M.turn_problem("```python\nx = 1\n") == "truncated"
    assert M.turn_problem("```python\nx = 1\n```") is None
    assert M.turn_problem("What is 2 + 2?") is None
    assert M.turn_problem("You are a tutor.", "You are a tutor.") == "echo"


def test_filter_turns_counts_and_never_raises():
    good = {"system_prompt": "s", "conversation": [{"role": "user", "content": "Hi?"},
                                                   {"role": "assistant", "content": "Hello."}]}
    rows = [good, {"conversation": None}, "junk", {"conversation": [{"role": "user", "content": ""},
                                                                   {"role": "assistant", "content": "Ok."}]},
            {"conversation": [{"role": "user", "content": "Hi?"}]},
            {"conversation": [{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Ok?"}]},
            {"system_prompt": "s", "conversation": [{"role": "user", "content": "s"},
                                                    {"role": "assistant", "content": "Ok."}]},
            {"conversation": [{"role": "user", "content": "Tell me about"}, {"role": "assistant", "content": "?"}]}]
    kept, counts = M.filter_turns(rows, n_turns=1)
    assert kept == [good]
    assert counts == {"kept": 1, "malformed": 2, "empty_turn": 1, "missing_turn": 2, "echoed_system_prompt": 1,
                      "truncated_turn": 1}
    assert M.filter_turns(None) == ([], {})


# --- the topic measure ------------------------------------------------------------------------------------------
# Hand-written, hand-labelled user queries (forum/chat style, nothing taken from the teacher's
# bank). "dev" chose the descriptions in course_utils/data/magpie_topics.yaml and the threshold;
# "test" measures them. Label null: none of the described domains.
QUERIES = [json.loads(line) for line in
           (Path(__file__).parent / "data" / "topic_queries.jsonl").read_text(encoding="utf-8").splitlines()]
TEST_QUERIES = [q for q in QUERIES if q["split"] == "test"]


def test_labelled_queries_cover_every_lesson_domain_and_some_distractors():
    domains = M.topic_descriptions()
    assert list(domains)[:3] == list(M.SYSTEM_PROMPTS)  # the lesson's domains come first
    assert all(q["label"] is None or q["label"] in domains for q in QUERIES)
    assert all(q["split"] in ("dev", "test") and q["text"].strip() for q in QUERIES)
    for domain in M.SYSTEM_PROMPTS:
        assert sum(q["label"] == domain for q in TEST_QUERIES) >= 10, domain
    assert sum(q["label"] not in M.SYSTEM_PROMPTS for q in TEST_QUERIES) >= 10
    assert len({q["text"] for q in QUERIES}) == len(QUERIES)


def test_topic_of_agrees_with_hand_labels_on_held_out_queries():
    lesson = [q for q in TEST_QUERIES if q["label"] in M.SYSTEM_PROMPTS]
    got = M.topics_of([q["text"] for q in lesson])
    agree = sum(g == q["label"] for g, q in zip(got, lesson)) / len(lesson)
    wrong = [(q["label"], g, q["text"]) for g, q in zip(got, lesson) if g != q["label"]]
    assert agree >= 0.8, f"topic_of agrees with the labels on {agree:.0%} of {len(lesson)} queries: {wrong}"
    # off-topic queries must not count as on topic for a lesson domain
    off = [q for q in TEST_QUERIES if q["label"] not in M.SYSTEM_PROMPTS]
    leaked = [(t, q["text"]) for t, q in zip(M.topics_of([q["text"] for q in off]), off) if t in M.SYSTEM_PROMPTS]
    assert len(leaked) <= 0.2 * len(off), f"off-topic queries detected as a lesson domain: {leaked}"
    # topic_of and topics_of agree
    assert [M.topic_of(q["text"]) for q in lesson[:5]] == got[:5]


def test_domain_scores_are_cosines_and_the_threshold_decides_none(monkeypatch):
    scores = M.domain_scores("How do I solve the equation 2x + 3 = 11?")
    assert list(scores) == list(M.topic_descriptions())
    assert all(-1.0 <= v <= 1.0 for v in scores.values())
    assert max(scores, key=scores.get) == "mathematics" == M.topic_of("How do I solve the equation 2x + 3 = 11?")
    assert M._description_embeddings() is M._description_embeddings()  # embedded once per process
    monkeypatch.setattr(M, "TOPIC_MIN_SIMILARITY", 0.99)  # no description is that close
    assert M.topic_of("How do I solve the equation 2x + 3 = 11?") is None
    assert M.on_topic_share(["How do I solve the equation 2x + 3 = 11?"], "mathematics") == 0.0


def test_topic_measure_none_and_na_cases():
    for empty in ("", "   \n", None):
        assert M.topic_of(empty) is None
        assert M.domain_scores(empty) == {}
    assert M.topics_of([]) == []
    assert M.on_topic_share([], "cooking") is None  # nothing left to measure, not 0%
    assert M.on_topic_share(iter(()), "cooking") is None
    assert M.on_topic_share(["", None], "cooking") == 0.0  # empty turns are off topic
    assert M.on_topic_share(["Can I swap baking soda for baking powder in banana bread?", ""], "cooking") == 0.5
    assert M.format_share(None) == "n/a"
    assert M.format_share(0.0) == "0%" and M.format_share(2 / 3) == "67%"


def test_topic_measure_refuses_bad_input():
    with pytest.raises(ValueError, match="single str"):
        M.on_topic_share("Can I swap baking soda for baking powder?", "cooking")
    with pytest.raises(ValueError, match="is None"):
        M.on_topic_share(None, "cooking")
    with pytest.raises(ValueError, match=r"texts\[1\] is int"):
        M.on_topic_share(["fine", 3], "cooking")
    with pytest.raises(ValueError, match="unknown domain 'knitting'.*'mathematics'"):
        M.on_topic_share(["fine"], "knitting")
    with pytest.raises(ValueError, match="domain must be a str"):
        M.on_topic_share(["fine"], None)
    with pytest.raises(ValueError, match="must be a str"):
        M.topic_of(42)
    with pytest.raises(ValueError, match="must be a str"):
        M.domain_scores(["a list"])
    with pytest.raises(ValueError, match="single dict"):
        M.topics_of({"text": "a row"})


def test_system_prompt_steers_but_weakly(offline):
    rows = M.generate_magpie(offline, _rows(40, "cooking"))
    share = M.on_topic_share([M.first_user_turn(r) for r in rows], "cooking")
    # with the offline teacher, about a third of the queries are empty, echoed or drift off topic
    assert 0.5 <= share < 0.95, share
    asked = offline.generate_outputs([[{"role": "user", "content": M.explicit_prompt("cooking")}]],
                                     num_generations=20)[0]["generations"]
    assert M.on_topic_share([t for t in asked if M.turn_problem(t) is None], "cooking") > share


# --- the exercise checks ------------------------------------------------------------------------------------------


def _llama3_solution(messages):
    text = "<|begin_of_text|>"
    for m in messages:
        text += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
    return text + "<|start_header_id|>user<|end_header_id|>\n\n"


def _turn_filter_solution(rows):
    kept, counts = [], {"empty": 0, "truncated": 0}
    for row in rows:
        conv = row.get("conversation") if isinstance(row, dict) else None
        if not isinstance(conv, list) or not conv:
            counts["malformed"] = counts.get("malformed", 0) + 1
            continue
        problem = next((p for p in (M.turn_problem(m.get("content")) for m in conv) if p), None)
        if problem:
            counts[problem] += 1
        else:
            kept.append(row)
    return kept, counts


def test_checks_accept_solutions_and_reject_mistakes(offline, capsys):
    assert magpie_checks.check_llama3_prompt(_llama3_solution)
    assert not magpie_checks.check_llama3_prompt(
        lambda msgs: M.render_llama3(msgs, add_generation_prompt=True) + M.PRE_QUERY_TEMPLATES["llama3"])
    assert "empty assistant turn" in capsys.readouterr().out
    assert not magpie_checks.check_llama3_prompt(lambda msgs: 1 / 0)

    assert magpie_checks.check_turn_filter(_turn_filter_solution)
    assert not magpie_checks.check_turn_filter(lambda rows: (rows, {}))
    assert not magpie_checks.check_turn_filter(lambda rows: [r for r in rows if r["conversation"][0]["content"]])
    assert not magpie_checks.check_turn_filter(lambda rows: (_ for _ in ()).throw(NotImplementedError()))
    assert "not implemented yet" in capsys.readouterr().out

    def build(llm):
        return M.filter_turns(M.generate_magpie(llm, _rows(40, "cooking")))[0]

    rows = M.generate_magpie(offline, _rows(40, "cooking"))
    assert magpie_checks.check_domain_dataset(build, offline, "cooking")
    assert magpie_checks.check_domain_dataset(build(offline), offline, "cooking")
    assert not magpie_checks.check_domain_dataset(rows, offline, "cooking")  # unfiltered: bad turns remain
    assert not magpie_checks.check_domain_dataset(build, offline, "mathematics")
    assert not magpie_checks.check_domain_dataset(build, offline, "knitting")
    assert not magpie_checks.check_domain_dataset(None, offline, "cooking")
    assert not magpie_checks.check_domain_dataset(lambda llm: M.generate_magpie(llm, [{}]), offline, "cooking")
    assert "no 'system_prompt' column" in capsys.readouterr().out


# --- issue 12: other scripts end their sentences differently; bad system prompts are counted ------------------

@pytest.mark.parametrize("text", [
    "東京で一番おいしいラーメン屋はどこですか？",           # Japanese question, fullwidth ?
    "味噌ラーメンの作り方を教えてください。",               # Japanese request, ideographic full stop
    "先生は「宿題を忘れないでください」",                   # ends with a closing corner bracket
    "この本のタイトルは『ノルウェイの森』",                 # white corner bracket
    "请解释一下量子计算的基本原理。",                       # Chinese, full stop
    "你能帮我写一首关于春天的诗吗？",                       # Chinese question
    "太好了，谢谢你的帮助！",                               # Chinese exclamation
    "请推荐一本书（最好是小说）",                           # fullwidth closing parenthesis
    "他说：“明天见”",                                      # closing curly quote
    "楽しんでね😊", "Have fun! ❤️",                        # emoji, with a variation selector
])
def test_turns_ending_with_cjk_punctuation_are_complete(text):
    assert M.turn_problem(text) is None


@pytest.mark.parametrize("text", ["我们先讨论第一点，", "東京の天気は、", "これは", "请问"])
def test_cjk_turns_cut_off_are_still_truncated(text):
    assert M.turn_problem(text) == "truncated"


def test_filter_turns_keeps_japanese_and_chinese_rows():
    rows = [{"system_prompt": "あなたは料理の先生です。",
             "conversation": [{"role": "user", "content": "親子丼の作り方を教えてください。"},
                              {"role": "assistant", "content": "まず、鶏肉を一口大に切ります。"}]},
            {"system_prompt": "你是一位数学老师。",
             "conversation": [{"role": "user", "content": "什么是质数？"},
                              {"role": "assistant", "content": "质数是只能被1和它本身整除的大于1的整数。"}]}]
    kept, counts = M.filter_turns(rows, n_turns=1)
    assert kept == rows and counts == {"kept": 2}


@pytest.mark.parametrize("system", [["You are a tutor."], 42, {"text": "x"}, b"bytes"])
def test_filter_turns_counts_a_non_string_system_prompt(system):
    conv = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    kept, counts = M.filter_turns([{"system_prompt": system, "conversation": conv},
                                   {"system_prompt": None, "conversation": conv}])
    assert len(kept) == 1 and counts == {"kept": 1, "bad_system_prompt": 1}
    assert M.turn_problem("Hi?", system) is None  # no AttributeError
