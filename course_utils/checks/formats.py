"""Checks for notebook 06 (chat format and assistant-only loss masking)."""

from __future__ import annotations

import re
from typing import Any, Callable

from .common import _safe_call, exercise_check, report
from ..formats import assistant_char_spans, build_labels, labels_from_spans, tokenize_with_offsets

IGNORE_INDEX = -100

# --- exercise 06-1: ShareGPT conversations to messages ------------------------------------------------------

SHAREGPT_CASES = [
    ({"conversations": [{"from": "human", "value": "What is 12 x 3?"}, {"from": "gpt", "value": "12 x 3 = 36."}]},
     [{"role": "user", "content": "What is 12 x 3?"}, {"role": "assistant", "content": "12 x 3 = 36."}]),
    ({"conversations": [
        {"from": "system", "value": "You are a patient maths tutor."},
        {"from": "human", "value": "  Is 91 prime?  "},
        {"from": "gpt", "value": "No: 91 = 7 x 13."},
        {"from": "human", "value": "And 97?"},
        {"from": "gpt", "value": "Yes, 97 is prime: no prime up to 9 divides it.\n"}]},
     [{"role": "system", "content": "You are a patient maths tutor."},
      {"role": "user", "content": "Is 91 prime?"},
      {"role": "assistant", "content": "No: 91 = 7 x 13."},
      {"role": "user", "content": "And 97?"},
      {"role": "assistant", "content": "Yes, 97 is prime: no prime up to 9 divides it."}]),
]
SHAREGPT_BROKEN = [
    ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Hello!"}]}, "an unknown speaker 'bot'"),
    ({"conversations": [{"from": "human", "value": "Summarise this."}, {"from": "gpt", "value": "   "}]},
     "an empty answer"),
    ({"conversations": [{"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Hi"}]},
     "turns in the wrong order (the assistant speaks first, the user last)"),
]


@exercise_check
def check_sharegpt_converter(convert: Callable[[dict], Any]) -> bool:
    """Exercise 06-1: ShareGPT `conversations` to validated multi-turn messages; ValueError on a bad record."""
    for record, expected in SHAREGPT_CASES:
        ok, result = _safe_call(convert, record)
        if not ok:
            return report(False, "", f"Your converter failed on a valid record: {result}")
        if result != expected:
            return report(False, "", f"For {record['conversations']!r}\nyou returned {result!r}\nexpected {expected!r}. "
                                     f"Map human -> user, gpt -> assistant, system -> system, and strip the text.")
    for record, what in SHAREGPT_BROKEN:
        try:
            result = convert(record)
        except NotImplementedError:  # a stub: exercise_check reports it with its hint
            raise
        except ValueError as exc:
            if not str(exc).strip():
                return report(False, "", f"On a record with {what} you raised ValueError without a message: say "
                                         f"what is wrong so whoever reads the log can fix the row.")
            continue
        except Exception as exc:  # noqa: BLE001 - report any other exception type
            return report(False, "", f"On a record with {what} you raised {type(exc).__name__}: {exc}. Raise a "
                                     f"ValueError with a clear message instead (validate_messages lists the problems).")
        else:
            return report(False, "", f"A record with {what} was accepted and returned {result!r}. Check the result "
                                     f"with validate_messages and raise ValueError when it lists problems.")
    return report(True, f"All {len(SHAREGPT_CASES)} conversations converted, and all {len(SHAREGPT_BROKEN)} broken "
                        f"records rejected with a ValueError.", "")


# --- exercise 06-2: a mask that leaks user tokens ---------------------------------------------------------

LABEL_CASES = [
    [{"role": "user", "content": "Write one sentence about tea."},
     {"role": "assistant", "content": "Tea is a drink made by steeping leaves in hot water."}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "What is the mean of 2, 4 and 9?"},
     {"role": "assistant", "content": "The mean is 5."},
     {"role": "user", "content": "And the median?"},
     {"role": "assistant", "content": "The median is 4."}],
    [{"role": "user", "content": "Pretend you are the assistant and answer: what is 7 + 5?"},
     {"role": "assistant", "content": "7 + 5 = 12."},
     {"role": "user", "content": "Now the assistant should explain it step by step."},
     {"role": "assistant", "content": "Start at 7, count 5 more: 8, 9, 10, 11, 12."},
     {"role": "user", "content": "Thanks."},
     {"role": "assistant", "content": "You are welcome."}],
]


def _as_list(x: Any) -> list:
    return x.tolist() if hasattr(x, "tolist") else list(x)


def _compare_labels(tokenizer: Any, messages: list, got: Any, want_ids: list, want_labels: list) -> str | None:
    """None when `got` is (input_ids, labels) equal to the reference; otherwise what is wrong."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return "return a tuple (input_ids, labels)"
    ids, labels = _as_list(got[0]), _as_list(got[1])
    if ids and isinstance(ids[0], list):  # a batch of one
        ids, labels = ids[0], _as_list(labels[0])
    if ids != want_ids:
        return ("your input_ids differ from the rendered conversation: tokenize "
                "render(tokenizer, messages) with add_special_tokens=False")
    if len(labels) != len(ids):
        return f"labels has {len(labels)} entries for {len(ids)} tokens: one label per token"
    leaks = [tokenizer.decode([t]) for t, w, g in zip(ids, want_labels, labels) if w == IGNORE_INDEX and g != IGNORE_INDEX]
    missing = [tokenizer.decode([t]) for t, w, g in zip(ids, want_labels, labels) if w != IGNORE_INDEX and g == IGNORE_INDEX]
    wrong = [i for i, (w, g) in enumerate(zip(want_labels, labels)) if w != IGNORE_INDEX and g != w]
    if leaks:
        return (f"{len(leaks)} token(s) that the assistant does not write still carry loss, e.g. "
                f"{''.join(leaks[:12])!r}: user turns and role headers must be -100")
    if missing:
        return (f"{len(missing)} assistant token(s) are masked, e.g. {''.join(missing[:12])!r}: every assistant turn "
                f"(and its end-of-turn token) must carry loss")
    if wrong:
        return f"labels at positions {wrong[:5]} are not the token ids: a label is the token id itself, or -100"
    return None


@exercise_check
def check_fixed_labels(fixed: Callable[[Any, list], Any], tokenizer: Any) -> bool:
    """Exercise 06-2: a labelling function with no leak, on single- and multi-turn conversations."""
    for messages in LABEL_CASES:
        ok, got = _safe_call(fixed, tokenizer, messages)
        if not ok:
            return report(False, "", f"Your function failed: {got}")
        want_ids, want_labels = build_labels(tokenizer, messages)
        problem = _compare_labels(tokenizer, messages, got, want_ids, want_labels)
        if problem:
            turns = sum(m["role"] == "assistant" for m in messages)
            return report(False, "", f"On a conversation with {turns} assistant turn(s): {problem}.")
    return report(True, f"No leak: on all {len(LABEL_CASES)} conversations (up to 3 turns) only the assistant's "
                        f"tokens carry loss.", "")


# --- exercise 06-3: only the <answer> carries loss --------------------------------------------------------

ANSWER_CASES = [
    [{"role": "user", "content": "A farmer has 20 heads and 56 legs of chickens and cows. How many cows?"},
     {"role": "assistant", "content": "<thinking>\nIf all 20 were chickens there would be 40 legs. The 16 extra legs "
                                      "come in pairs, one pair per cow: 8 cows. Check: 8 x 4 + 12 x 2 = 56.\n"
                                      "</thinking>\n<answer>\n8\n</answer>"}],
    [{"role": "system", "content": "Think in <thinking> tags, answer in <answer> tags."},
     {"role": "user", "content": "What is 15% of 240?"},
     {"role": "assistant", "content": "<thinking>\n10% is 24 and 5% is 12, so 15% is 36.\n</thinking>\n<answer>\n36\n</answer>"}],
    [{"role": "user", "content": "What is 6 x 7?"},
     {"role": "assistant", "content": "<thinking>\n6 x 7 = 42.\n</thinking>\n<answer>\n42\n</answer>"},
     {"role": "user", "content": "And 6 x 8? Put <answer> around it."},
     {"role": "assistant", "content": "<thinking>\n42 + 6 = 48.\n</thinking>\n<answer>\n48\n</answer>"}],
]


def reference_answer_labels(tokenizer: Any, messages: list) -> tuple[list[int], list[int]]:
    """Only `<answer>...</answer>` (tags included) of the final assistant turn carries loss."""
    text, spans = assistant_char_spans(tokenizer, messages)
    start, end = spans[-1]
    turn = text[start:end]
    open_at = turn.rfind("<answer>")
    close_at = turn.rfind("</answer>")
    answer_span = [(start + open_at, start + close_at + len("</answer>"))] if 0 <= open_at < close_at else []
    ids, offsets = tokenize_with_offsets(tokenizer, text)
    return ids, labels_from_spans(ids, offsets, answer_span)


@exercise_check
def check_answer_only_labels(fn: Callable[[Any, list], Any], tokenizer: Any) -> bool:
    """Exercise 06-3: in a `<thinking>` sample, only the final `<answer>...</answer>` carries loss."""
    for messages in ANSWER_CASES:
        ok, got = _safe_call(fn, tokenizer, messages)
        if not ok:
            return report(False, "", f"Your function failed: {got}")
        want_ids, want_labels = reference_answer_labels(tokenizer, messages)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return report(False, "", "Return a tuple (input_ids, labels).")
        ids, labels = _as_list(got[0]), _as_list(got[1])
        if ids != want_ids or len(labels) != len(ids):
            return report(False, "", "Your input_ids differ from the rendered conversation (or labels has another "
                                     "length): tokenize the rendered text and return one label per token.")
        if labels != want_labels:
            carried = "".join(tokenizer.decode([t]) for t, lab in zip(ids, labels) if lab != IGNORE_INDEX)
            wanted = "".join(tokenizer.decode([t]) for t, lab in zip(ids, want_labels) if lab != IGNORE_INDEX)
            hint = ""
            if len(re.findall("<answer>", "".join(m["content"] for m in messages))) > 1:
                hint = " Several '<answer>' strings occur in this conversation: use the one in the final assistant turn."
            return report(False, "", f"The tokens carrying loss spell {carried!r}; expected {wanted!r}.{hint}")
    return report(True, f"On all {len(ANSWER_CASES)} samples only the final <answer>...</answer> carries loss: the "
                        f"reasoning and the questions are context, not targets.", "")
