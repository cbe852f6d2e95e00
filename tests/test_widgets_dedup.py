"""Notebook 07: the threshold slider (plain callback + widget, no browser) and the exercise checks."""

from __future__ import annotations

import pytest

from course_utils.checks import dedup as dedup_checks
from course_utils.dedup import rouge_l_dedup
from course_utils.widgets_dedup import describe_threshold, threshold_explorer

TEXTS = [
    "Explain how compound interest works for a savings account.",
    "Explain how compound interest works for a savings account!",
    "Write a Python function that returns the mean of a list of numbers.",
    "Write a Python function that returns the variance of a list of numbers.",
    "Suggest a name for a coffee shop near a university.",
    "Plan a three-day trip to Kyoto on a small budget.",
]


# --- describe_threshold: the slider's callback ------------------------------------------------


@pytest.mark.parametrize("threshold", [0.3, 0.7, 0.95, 1.0])
def test_kept_count_matches_rouge_l_dedup(threshold):
    text = describe_threshold(TEXTS, threshold)
    kept = len(rouge_l_dedup(TEXTS, threshold))
    assert text.splitlines()[0] == (
        f"threshold {threshold:.2f}: kept {kept} of {len(TEXTS)} texts, removed {len(TEXTS) - kept}"
    )


def test_boundary_pairs_are_listed_with_their_verdict():
    # mean vs variance: 12 shared tokens of 13 -> F1 = 0.923
    text = describe_threshold(TEXTS, 0.9, window=0.05)
    assert "pairs at the boundary" in text
    assert "0.923 duplicate #2:" in text and "#3: Write a Python function that returns the variance" in text
    text = describe_threshold(TEXTS, 0.95, window=0.05)
    assert "0.923 distinct" in text


def test_no_pair_near_the_threshold_and_tiny_inputs():
    assert "no pair scores within" in describe_threshold(TEXTS[4:], 0.7, window=0.01)
    assert describe_threshold([], 0.7).startswith("threshold 0.70: kept 0 of 0 texts")
    assert "kept 1 of 1" in describe_threshold(["only one"], 0.7)
    assert "kept 2 of 2" in describe_threshold(["", ""], 0.7)  # empty texts have no tokens: never removed


def test_long_texts_are_shortened_in_the_listing():
    long = ["word " * 40 + "alpha", "word " * 40 + "beta"]  # 205 characters each
    text = describe_threshold(long, 0.95, window=0.1)
    assert "…" in text and max(len(line) for line in text.splitlines()) < 180


def test_japanese_with_the_auto_tokenizer():
    ja = ["R言語で平均を計算する関数を書いてください", "R言語で分散を計算する関数を書いてください"]
    assert "kept 1 of 2" in describe_threshold(ja, 0.7, tokenizer="rouge")  # both are ["r"]
    assert "kept 2 of 2" in describe_threshold(ja, 0.95, tokenizer="auto")  # 0.905 per character


@pytest.mark.parametrize("bad,exc", [(1.5, ValueError), (-0.1, ValueError), ("0.7", TypeError)])
def test_invalid_threshold_raises_a_clear_error(bad, exc):
    with pytest.raises(exc):
        describe_threshold(TEXTS, bad)


def test_invalid_texts_raise():
    with pytest.raises(TypeError):
        describe_threshold("one string", 0.7)
    with pytest.raises(TypeError):
        describe_threshold(["ok", None], 0.7)


# --- the widget, driven without a browser -----------------------------------------------------


def _stdout(out) -> str:
    return "".join(o.get("text", "") for o in out.outputs)


def test_widget_shows_the_callback_text_and_follows_the_slider():
    import ipywidgets as widgets

    box = threshold_explorer(TEXTS, value=0.7)
    assert isinstance(box, widgets.VBox)
    slider, out = box.children
    assert isinstance(slider, widgets.FloatSlider) and isinstance(out, widgets.Output)
    assert (slider.min, slider.max, slider.value) == (0.3, 1.0, 0.7)
    assert _stdout(out) == describe_threshold(TEXTS, 0.7) + "\n"
    slider.value = 0.95
    assert _stdout(out) == describe_threshold(TEXTS, 0.95) + "\n"
    assert len(out.outputs) == 1  # replaced, not appended


def test_widget_rejects_bad_input_before_building():
    with pytest.raises(ValueError):
        threshold_explorer(TEXTS, value=2.0)


# --- exercise checks (never raise; print ✅/❌) -------------------------------------------------


def test_separation_and_accuracy_helpers():
    sep = dedup_checks.separation([0.9, 0.8, 0.3, 0.85], [True, True, False, False])
    assert sep["auc"] == 0.75 and sep["gap"] == pytest.approx(-0.05)
    assert sep["best_accuracy"] == 0.75
    assert dedup_checks.threshold_accuracy([0.9, 0.2], [True, False], 0.5) == 1.0
    assert dedup_checks.threshold_accuracy([], [], 0.5) == 0.0
    with pytest.raises(ValueError):
        dedup_checks.separation([0.5], [True])


def test_labelled_pairs_are_balanced():
    kinds = [k for _, _, k in dedup_checks.LABELLED_PAIRS]
    assert kinds.count("duplicate") == 12
    assert set(kinds) == {"duplicate", *dedup_checks.REASONS}


def test_checks_use_the_lesson_data_of_course_utils_data():
    from course_utils import dedup

    # the checks grade exactly the pairs the notebooks load from course_utils/data/dedup_lesson.json
    assert dedup_checks.LABELLED_PAIRS == dedup.labelled_pairs()
    assert dedup_checks.JAPANESE_INSTRUCTIONS == dedup.japanese_instructions()
    assert dedup_checks.separation is dedup.separation and dedup_checks.REASONS == dedup.REASONS


def test_check_threshold_rouge(capsys):
    scores = dedup_checks._pair_scores("rouge_l")
    labels = [dedup_checks.is_duplicate(k) for _, _, k in dedup_checks.LABELLED_PAIRS]
    best = dedup_checks.separation(scores, labels)["best_threshold"]
    inside_gap = (best + min(s for s in scores if s > best)) / 2  # the best, away from the pairs' edges
    assert dedup_checks.check_threshold(inside_gap, metric="rouge_l") is True
    assert "✅" in capsys.readouterr().out
    for bad in ("0.5", True, 1.5):
        assert dedup_checks.check_threshold(bad) is False
        assert "❌" in capsys.readouterr().out
    assert dedup_checks.check_threshold(0.7, metric="jaccard") is False


def test_check_threshold_cosine(capsys):
    assert dedup_checks.check_threshold(0.85, metric="cosine") is True
    assert dedup_checks.check_threshold(0.2, metric="cosine") is False
    assert "raise it" in capsys.readouterr().out  # 0.2 calls almost every pair a duplicate


def test_check_japanese_dedup(capsys):
    assert dedup_checks.check_japanese_dedup(lambda t: rouge_l_dedup(list(t), 0.7, tokenizer="auto")) is True
    out = capsys.readouterr().out
    assert "✅" in out
    assert dedup_checks.check_japanese_dedup(lambda t: rouge_l_dedup(list(t), 0.7, tokenizer="rouge")) is False
    assert "tokenizer='rouge'" in capsys.readouterr().out
    assert dedup_checks.check_japanese_dedup(lambda t: list(range(len(t)))) is False
    assert dedup_checks.check_japanese_dedup(lambda t: 1 / 0) is False
    assert dedup_checks.check_japanese_dedup("not a function") is False

    def stub(texts):
        raise NotImplementedError("Hint: ...")

    assert dedup_checks.check_japanese_dedup(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_check_false_positive(capsys):
    from course_utils.dedup import rouge_l

    def good(pairs, is_dup, scores):
        i = max((k for k in range(len(pairs)) if not is_dup[k]), key=lambda k: scores[k])
        return {"index": i, "reason": "same_template" if rouge_l(*pairs[i]) >= 0.5 else "same_topic"}

    assert dedup_checks.check_false_positive(good) is True
    assert dedup_checks.check_false_positive(lambda p, d, s: {"index": 0, "reason": "same_topic"}) is False
    assert dedup_checks.check_false_positive(lambda p, d, s: ("x", "y")) is False

    def wrong_reason(pairs, is_dup, scores):
        return {**good(pairs, is_dup, scores), "reason": "same_topic"}

    assert dedup_checks.check_false_positive(wrong_reason) is False
    assert "is 'same_template'" in capsys.readouterr().out
