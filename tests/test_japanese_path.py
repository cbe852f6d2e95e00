"""The offline teacher's Japanese kinds and notebook 09's Japanese path (§9).

The Japanese kinds must answer only Japanese requests (every English request of the lessons
keeps its kind, so notebooks 01-08 are unchanged), write Japanese, obey the Japanese
constraints the notebook asks for, be deterministic, and inject the flaws the notebook's
filters are there to catch (width variants, one-word changes, English lines and answers).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest

from course_utils import evaluation as ev
from course_utils.dedup import rouge_l
from course_utils.magpie import SYSTEM_PROMPTS, filter_turns, turn_problem
from course_utils.self_instruct import build_prompt, load_seed_tasks
from course_utils.teacher import DEFAULT_FAILURE_RATES, Request, respond
from course_utils.teacher.core import classify
from course_utils.teacher.kinds.japanese import (
    is_japanese,
    japanese_kinds,
    load_ja_bank,
    near_copy,
    width_variant,
)

SEEDS = ["味噌汁の作り方を初心者向けに説明してください。", "京都で雨の日に楽しめる観光地を教えてください。",
         "家計簿を長く続けるコツを教えてください。", "平均と中央値の違いを、例を使って説明してください。"]
TASK_PROMPT = ("あなたは日本語の指示データを作るアシスタントです。\n"
               "次の例のような、日本語のユーザーの依頼を新しく{n}個書いてください。\n"
               "1行に1つ、番号を付けて書いてください。\n\n例:\n"
               + "\n".join(f"{k}. {t}" for k, t in enumerate(SEEDS, start=1)))
SYSTEM_JA = "あなたは料理の先生です。家庭料理について、初心者の質問にやさしく日本語で答えます。"
# The constraints of notebook 09 §9 (d), as the notebook writes them in Japanese.
CONSTRAINTS = [
    ({"kind": "include_keywords", "keywords": ["ポイント"]}, "「ポイント」という言葉を必ず使ってください。"),
    ({"kind": "forbidden_words", "keywords": ["大切"]}, "「大切」という言葉は使わないでください。"),
    ({"kind": "word_count", "relation": "less than", "n": 80}, "80字未満で答えてください。"),
    ({"kind": "word_count", "relation": "at most", "n": 40}, "40字以内で答えてください。"),
    ({"kind": "sentence_count", "relation": "exactly", "n": 3}, "ちょうど3文で答えてください。"),
    ({"kind": "sentence_count", "relation": "exactly", "n": 7}, "7文で答えてください。"),
]


def ask(text: str, *, system: str | None = None, rates=None, index: int = 0,
        temperature: float = 0.7) -> tuple[str, str, str | None]:
    messages = ((("system", system),) if system else ()) + (("user", text),)
    return respond(Request(messages, index=index, temperature=temperature, failure_rates=rates))


def magpie(system: str, *, rates=None, index: int = 0) -> tuple[str, str, str | None]:
    return respond(Request((("system", system),), index=index, magpie=True, failure_rates=rates))


def numbered(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\d+\. (.*)$", text, re.M)]


# --- detection: Japanese requests only -----------------------------------------------------------

@pytest.mark.parametrize("text", [
    "私は日本に住んでいます。", "味噌汁の作り方を教えてください。", "ＰｙｔｈｏｎでＣＳＶを読む方法を教えて",
    "ｶﾀｶﾅだけの依頼です", "PythonでWebアプリを作りたいです。どうすればいいですか？",
])
def test_japanese_texts_are_japanese(text):
    assert is_japanese(text)


@pytest.mark.parametrize("text", [
    "Explain recursion to a beginner.", "我住在日本。", "北京是中国的首都。", "저는 일본에 살고 있습니다.",
    "What does ありがとう mean, and when do you say it to a colleague at work?",
    "Translate 東京 into English.", "", "42", "😀😀",
])
def test_other_texts_are_not_japanese(text):
    assert not is_japanese(text)


def _english_requests() -> list[tuple[tuple[str, str], ...]]:
    seeds = [r["instruction"] for r in load_seed_tasks()]
    users = [(("user", s),) for s in seeds]
    users += [(("system", s), ("user", "Give me one exercise.")) for s in SYSTEM_PROMPTS.values()]
    users.append((("user", build_prompt(seeds[:8])),))
    return users


def test_no_english_request_of_the_lessons_reaches_a_japanese_kind():
    for messages in _english_requests():
        assert classify(Request(messages)).name not in japanese_kinds(), messages
    for system in SYSTEM_PROMPTS.values():
        assert classify(Request((("system", system),), magpie=True)).name == "magpie"


def test_a_japanese_word_inside_an_english_request_keeps_the_english_kind():
    text, kind, _ = ask("What does ありがとう mean, and when do you say it to a colleague at work?")
    assert kind == "chat" and not is_japanese(text)


# --- the three Japanese request shapes -----------------------------------------------------------

@pytest.mark.parametrize("n", [1, 6, 12])
def test_a_task_list_has_the_number_of_japanese_tasks_asked_for(n):
    text, kind, failure = ask(TASK_PROMPT.format(n=n))
    assert (kind, failure) == ("japanese_task_list", None)
    tasks = numbered(text)
    assert len(tasks) == n and all(is_japanese(t) and ev.detect_language(t) == "ja" for t in tasks)
    assert all(t.endswith(("。", "？")) for t in tasks)


@pytest.mark.parametrize("text", ["京都の観光で気をつけることを3つ挙げてください。",
                                  "味噌汁の具を5個考えてください。"])
def test_a_request_for_items_that_are_not_tasks_is_answered(text):
    assert ask(text)[1] == "japanese"


def test_fullwidth_digits_in_the_count_are_read():
    assert len(numbered(ask(TASK_PROMPT.format(n="４"))[0])) == 4


def test_a_magpie_turn_for_a_japanese_system_prompt_is_a_japanese_query():
    for i in range(20):
        text, kind, failure = magpie(SYSTEM_JA, index=i)
        assert kind == "japanese_magpie" and failure is None
        assert ev.detect_language(text) == "ja" and turn_problem(text, SYSTEM_JA) is None


def test_magpie_follow_up_turns_are_japanese_questions():
    messages = (("system", SYSTEM_JA), ("user", "味噌汁の作り方を教えてください。"),
                ("assistant", "まず、出汁を取ります。"))
    text, kind, _ = respond(Request(messages, magpie=True, failure_rates=None))
    assert kind == "japanese_magpie" and text.endswith("？") and is_japanese(text)


def test_the_system_prompt_steers_the_domain():
    cooking = load_ja_bank()["domains"]["cooking"]
    words = cooking["concepts"] + cooking["entities"] + cooking["keywords"]
    texts = [magpie(SYSTEM_JA, index=i)[0] for i in range(30)]
    assert sum(any(w in t for w in words) for t in texts) >= 25


@pytest.mark.parametrize("task", SEEDS + ["Pythonのエラーメッセージの読み方を教えてください。"])
def test_an_answer_is_japanese_and_complete(task):
    text, kind, failure = ask(task)
    assert (kind, failure) == ("japanese", None)
    assert ev.check(text, {"kind": "response_language", "language": "ja"})
    assert turn_problem(text) is None


@pytest.mark.parametrize(("constraint", "phrase"), CONSTRAINTS)
@pytest.mark.parametrize("task", SEEDS)
def test_a_clean_teacher_obeys_the_japanese_constraints(task, constraint, phrase):
    text, kind, _ = ask(task + phrase)
    assert kind == "japanese"
    assert ev.check(text, constraint), text
    assert ev.check(text, {"kind": "response_language", "language": "ja"})


def test_keyword_to_use_and_word_to_avoid_together():
    text, _, _ = ask(SEEDS[0] + "「ポイント」という言葉を必ず使ってください。「大切」という言葉は使わないでください。")
    assert ev.check(text, {"kind": "include_keywords", "keywords": ["ポイント"]})
    assert ev.check(text, {"kind": "forbidden_words", "keywords": ["大切"]})


# --- determinism ---------------------------------------------------------------------------------

def test_answers_are_deterministic_and_vary_with_the_index():
    rates = dict(DEFAULT_FAILURE_RATES)
    for request in (lambda i: ask(TASK_PROMPT.format(n=6), rates=rates, index=i),
                    lambda i: magpie(SYSTEM_JA, rates=rates, index=i),
                    lambda i: ask(SEEDS[1], rates=rates, index=i)):
        assert [request(i) for i in range(5)] == [request(i) for i in range(5)]
        assert len({request(i)[0] for i in range(10)}) > 1


def test_temperature_zero_gives_one_answer():
    texts = {ask(SEEDS[2], index=i, temperature=0.0)[0] for i in range(5)}
    assert len(texts) == 1


# --- the flaws the notebook's filters catch ------------------------------------------------------

def test_width_variant_is_the_same_text_after_nfkc():
    for text in ["PythonでCSVを読む方法を教えてください。", "データの平均を計算してください。", "ガイドブックとパン"]:
        variant = width_variant(text)
        assert variant != text and unicodedata.normalize("NFKC", variant) == text
        assert rouge_l(variant, text) == 1.0 and rouge_l(variant, text, "rouge") < 1.0


def test_a_near_copy_is_a_rouge_l_duplicate():
    import random

    rng = random.Random(0)
    for text in SEEDS:
        for _ in range(5):
            copy = near_copy(text, rng)
            assert copy != text and rouge_l(copy, text) > 0.7


def test_task_lists_with_failures_carry_the_flaws_at_their_rates():
    rates = dict(DEFAULT_FAILURE_RATES)
    lists = [ask(TASK_PROMPT.format(n=6), rates=rates, index=i)[0] for i in range(60)]
    tasks = [t for text in lists for t in numbered(text)]
    assert len(tasks) >= 300
    english = sum(ev.detect_language(t) == "en" for t in tasks)
    # fullwidth letters and digits, or halfwidth katakana (NFKC also maps ？ to ?: not counted)
    widths = sum(any("\uff10" <= c <= "\uff5a" or "\uff66" <= c <= "\uff9d" for c in t)
                 for t in tasks)
    copies = sum(max(rouge_l(t, s) for s in SEEDS) > 0.7 for t in tasks)
    assert 0.02 * len(tasks) <= english <= 0.15 * len(tasks)
    assert 0.03 * len(tasks) <= widths <= 0.25 * len(tasks)
    assert copies >= 0.05 * len(tasks)


def test_some_answers_are_in_english_when_failures_are_on():
    rates = dict(DEFAULT_FAILURE_RATES)
    languages = Counter(ev.detect_language(ask(SEEDS[i % 4], rates=rates, index=i)[0] or "x")
                        for i in range(200))
    assert 4 <= languages["en"] <= 35 and languages["ja"] >= 150
    assert not Counter(ev.detect_language(ask(SEEDS[i % 4], index=i)[0]) for i in range(50))["en"]


def test_the_english_answer_rate_is_configurable():
    rates = {**DEFAULT_FAILURE_RATES, "wrong_language": 1.0}
    assert ev.detect_language(ask(SEEDS[0], rates=rates)[0]) == "en"
    rates = {**DEFAULT_FAILURE_RATES, "wrong_language": 0.0}
    assert all(ev.detect_language(ask(SEEDS[0], rates=rates, index=i)[0]) in ("ja", None)
               for i in range(40))


def test_ignored_constraints_happen_only_with_failures():
    constraint, phrase = CONSTRAINTS[1]
    clean = [ask(t + phrase, index=i)[0] for i in range(20) for t in SEEDS]
    assert all(ev.check(t, constraint) for t in clean)
    rates = {**DEFAULT_FAILURE_RATES, "wrong_language": 0.0}
    noisy = [ask(t + phrase, rates=rates, index=i)[0] for i in range(20) for t in SEEDS]
    assert any(t and not ev.check(t, constraint) for t in noisy)


# --- end to end, through distilabel as the notebook runs it --------------------------------------

def test_magpie_conversations_in_japanese_pass_the_turn_filter():
    from course_utils.magpie import generate_magpie
    from course_utils.models import get_llm

    llm = get_llm("offline", seed=0)
    rows = generate_magpie(llm, [{"system_prompt": SYSTEM_JA} for _ in range(24)], n_turns=1,
                           max_new_tokens=1024)
    kept, reasons = filter_turns(rows, n_turns=1)
    assert sum(reasons.values()) == 24 and 12 <= reasons["kept"] < 24  # the failures are caught
    for row in kept:
        user, answer = (m["content"] for m in row["conversation"])
        assert ev.detect_language(user) == "ja"
        assert ev.detect_language(answer) in ("ja", "en")  # en: the teacher's wrong-language flaw
    clean = generate_magpie(get_llm("offline", seed=0, failure_rates=None),
                            [{"system_prompt": SYSTEM_JA} for _ in range(8)], n_turns=2)
    kept, reasons = filter_turns(clean, n_turns=2)
    assert reasons["kept"] == 8
    assert all(ev.detect_language(m["content"]) == "ja"
               for row in kept for m in row["conversation"])
