"""IFEval (Zhou et al. 2023) with the paper's definitions: each kind, loose mode, the table."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import pytest

from course_utils import evaluation as ev
from course_utils.evaluation.ifeval import text

ROOT = Path(__file__).resolve().parents[1]


def follows(response: str, kind: str, loose: bool = False, **kwargs) -> bool:
    return ev.ifeval_check(response, kind, kwargs, loose=loose)


def test_all_25_kinds_are_registered():
    groups = {k.split(":")[0] for k in ev.IFEVAL_KINDS}
    assert len(ev.IFEVAL_KINDS) == 25
    assert groups == {"keywords", "language", "length_constraints", "detectable_content",
                      "detectable_format", "combination", "startend", "change_case", "punctuation"}
    used = {i for row in ev.load_ifeval(None) for i in row["instruction_id_list"]}
    assert set(ev.IFEVAL_KINDS) == used


# --- keywords ------------------------------------------------------------------------------------

def test_keywords_existence_is_case_insensitive_and_matches_inside_words():
    kind = "keywords:existence"
    assert follows("The CAT sat.", kind, keywords=["cat", "sat"])
    assert follows("Concatenate them.", kind, keywords=["cat"])  # IFEval: inside a word counts
    assert not follows("The dog sat.", kind, keywords=["cat", "sat"])


def test_keywords_frequency_counts_substrings():
    kind = "keywords:frequency"
    assert follows("cat cats concatenate", kind, keyword="cat", frequency=3, relation="at least")
    assert not follows("cat cat", kind, keyword="cat", frequency=3, relation="at least")
    assert follows("cat cat", kind, keyword="cat", frequency=3, relation="less than")
    assert not follows("Cat CAT cat", kind, keyword="cat", frequency=3, relation="less than")


def test_forbidden_words_are_whole_words():
    kind = "keywords:forbidden_words"
    assert follows("Concatenate these.", kind, forbidden_words=["cat"])
    assert not follows("A Cat, sleeping.", kind, forbidden_words=["dog", "cat"])


def test_letter_frequency_ignores_case():
    kind = "keywords:letter_frequency"
    assert follows("Zebra zoo", kind, letter="z", let_frequency=2, let_relation="at least")
    assert not follows("Zebra", kind, letter="z", let_frequency=2, let_relation="at least")
    assert follows("Zebra", kind, letter="Z", let_frequency=2, let_relation="less than")


def test_a_relation_outside_the_two_raises():
    with pytest.raises(ValueError, match="less than"):
        follows("a b", "length_constraints:number_words", num_words=2, relation="at most")


# --- language and letter case (langdetect, seeded) ----------------------------------------------

def test_response_language_uses_langdetect():
    kind = "language:response_language"
    french = "Bonjour, je suis très heureux de vous rencontrer aujourd'hui dans cette belle ville."
    english = "Hello, I am very happy to meet you today in this beautiful city of ours."
    assert follows(french, kind, language="fr")
    assert not follows(english, kind, language="fr")
    assert follows("12345 !!!", kind, language="fr")  # nothing to detect: counted as followed


def test_english_capital_and_lowercase():
    upper = "THIS IS A SHORT ANSWER WRITTEN ENTIRELY IN CAPITAL LETTERS FOR THE READER."
    assert follows(upper, "change_case:english_capital")
    assert not follows(upper.capitalize(), "change_case:english_capital")
    assert follows(upper.lower(), "change_case:english_lowercase")
    assert not follows("this is lower case, except for One word.", "change_case:english_lowercase")
    accents = "ceci est une phrase entièrement en minuscules mais écrite en français."
    assert not follows(accents, "change_case:english_lowercase")  # lower case, but not English


def test_capital_word_frequency_uses_treebank_tokens():
    kind = "change_case:capital_word_frequency"
    # DON'T is two Treebank tokens, DO and N'T, both capitals; "(AI)" gives AI.
    assert text.capital_words("I DON'T like (AI), OK?") == ["I", "DO", "N'T", "AI", "OK"]
    assert follows("NASA and ESA", kind, capital_frequency=2, capital_relation="at least")
    assert not follows("NASA and Esa", kind, capital_frequency=2, capital_relation="at least")
    assert follows("NASA and Esa", kind, capital_frequency=2, capital_relation="less than")


# --- length ---------------------------------------------------------------------------------------

def test_word_count_is_the_w_plus_regex():
    assert text.count_words("Don't stop, well-known friend!") == 6  # don t stop well known friend
    assert follows("one two three", "length_constraints:number_words", num_words=3,
                   relation="at least")
    assert not follows("one two", "length_constraints:number_words", num_words=3,
                       relation="at least")


@pytest.mark.parametrize("sample, n", [
    ("", 0),
    ("No full stop at all", 1),
    ("One. Two! Three? Four", 4),
    ("Dr. Smith met Mr. Jones at noon. Then they left.", 2),
    ("Use a tool, e.g. a hammer.", 2),  # Punkt's English model does not know "e.g."
    ("He works for Acme Inc. The firm grew.", 2),
    ("A line\nwithout a stop\nstill one sentence.", 1),
    ("He said \"Go.\" Then he left.", 2),
    ("Wait... What happened? I see... nothing", 3),
    ("Items:\n1. Apples\n2. pears", 2),  # "1." before a capital ends a Punkt sentence
    ("See J. Smith today. It is late in o. Let's go.", 3),
])
def test_count_sentences_follows_punkt(sample, n):
    assert text.count_sentences(sample) == n


def test_number_sentences():
    kind = "length_constraints:number_sentences"
    assert follows("One. Two. Three.", kind, num_sentences=4, relation="less than")
    assert not follows("One. Two. Three. Four.", kind, num_sentences=4, relation="less than")


def test_number_paragraphs_split_only_on_the_markdown_divider():
    kind = "length_constraints:number_paragraphs"
    assert follows("First.\n\n***\n\nSecond.", kind, num_paragraphs=2)
    assert not follows("First.\n\nSecond.", kind, num_paragraphs=2)  # a blank line is no divider
    assert follows("First. *** Second.", kind, num_paragraphs=2)  # inside a line too
    assert follows("***\nFirst.\n***\nSecond.\n***", kind, num_paragraphs=2)  # empty ends allowed
    assert not follows("First.\n***\n***\nSecond.", kind, num_paragraphs=2)  # empty middle is not


def test_nth_paragraph_first_word():
    kind = "length_constraints:nth_paragraph_first_word"
    response = "Intro here.\n\n\"Summer, at last,\" she said.\n\nEnd."
    assert follows(response, kind, num_paragraphs=3, nth_paragraph=2, first_word="summer")
    assert not follows(response, kind, num_paragraphs=2, nth_paragraph=2, first_word="summer")
    assert not follows(response, kind, num_paragraphs=3, nth_paragraph=1, first_word="summer")
    assert not follows("Only one.", kind, num_paragraphs=1, nth_paragraph=2, first_word="only")


# --- detectable content and format ---------------------------------------------------------------

def test_placeholders_and_postscript():
    assert follows("Dear [name], at [address].", "detectable_content:number_placeholders",
                   num_placeholders=2)
    assert not follows("Dear [name].", "detectable_content:number_placeholders",
                       num_placeholders=2)
    kind = "detectable_content:postscript"
    assert follows("Body.\n\nP.S. Call me.", kind, postscript_marker="P.S.")
    assert follows("Body.\n\np. s. call me.", kind, postscript_marker="P.S.")
    assert follows("Body.\nP.P.S more", kind, postscript_marker="P.P.S")
    assert not follows("Body. PS call me.", kind, postscript_marker="P.S.")


def test_bullet_lists_count_star_and_dash_lines_but_not_bold():
    kind = "detectable_format:number_bullet_lists"
    assert follows("Intro\n* one\n* two\n- three", kind, num_bullets=3)
    assert not follows("**Bold title**\n* one\n* two", kind, num_bullets=3)
    assert not follows("* one\n* two\n* three\n* four", kind, num_bullets=3)  # exactly n


def test_constrained_response_title_and_json():
    assert follows("My answer is maybe.", "detectable_format:constrained_response")
    assert not follows("my answer is yes.", "detectable_format:constrained_response")
    assert follows("<<A Poem of Joy>>\nLines.", "detectable_format:title")
    assert not follows("<< >> and <<broken\ntitle>>", "detectable_format:title")
    assert follows('```json\n{"a": 1}\n```', "detectable_format:json_format")
    assert follows('[1, 2]', "detectable_format:json_format")
    assert not follows('Here it is: {"a": 1}', "detectable_format:json_format")


def test_highlighted_sections_count_italic_and_bold():
    kind = "detectable_format:number_highlighted_sections"
    assert follows("*one* and *two*", kind, num_highlights=2)
    assert follows("**bold** and *italic*", kind, num_highlights=2)
    assert not follows("**bold**", kind, num_highlights=2)  # "**" pairs are empty: one highlight
    assert not follows("* * and *\ntwo*", kind, num_highlights=1)  # blank or across a line


def test_multiple_sections():
    kind = "detectable_format:multiple_sections"
    response = "Intro\nSECTION 1\nText\nSECTION 2\nMore"
    assert follows(response, kind, section_spliter="SECTION", num_sections=2)
    assert not follows(response, kind, section_spliter="SECTION", num_sections=3)
    assert not follows(response, kind, section_spliter="Section", num_sections=1)  # case matters


# --- combination, start and end, punctuation -----------------------------------------------------

def test_two_responses():
    kind = "combination:two_responses"
    assert follows("Answer one.\n******\nAnswer two.", kind)
    assert not follows("Same.\n******\nSame.", kind)
    assert not follows("One.\n******\n\n******\nTwo.", kind)  # an empty middle response
    assert follows("******\nOne.\n******\nTwo.\n******", kind)


def test_repeat_prompt_end_checker_quotation_and_no_comma():
    assert follows("  write a poem. Here it is.", "combination:repeat_prompt",
                   prompt_to_repeat="Write a poem.")
    assert not follows("Sure! Write a poem.", "combination:repeat_prompt",
                       prompt_to_repeat="Write a poem.")
    assert follows('"Bye. Any other questions?"', "startend:end_checker",
                   end_phrase="any other questions?")
    assert not follows("Any other questions? Bye.", "startend:end_checker",
                       end_phrase="Any other questions?")
    assert follows(' "quoted" ', "startend:quotation")
    assert not follows('"', "startend:quotation")
    assert follows("No commas here.", "punctuation:no_comma")
    assert not follows("One, two.", "punctuation:no_comma")


# --- strict and loose ----------------------------------------------------------------------------

def test_loose_forgives_a_preamble_a_closing_line_and_markdown_stars():
    response = "Sure, here it is:\n\"A quoted answer\"\nHope this helps!"
    assert not follows(response, "startend:quotation")
    assert follows(response, "startend:quotation", loose=True)
    bold = "**My answer is yes.**"
    assert follows(bold, "detectable_format:constrained_response")
    ended = "It ends with **Any other questions?**"
    assert not follows(ended, "startend:end_checker", end_phrase="Any other questions?")
    assert follows(ended, "startend:end_checker", loose=True, end_phrase="Any other questions?")


def test_an_empty_response_never_passes():
    assert not follows("   ", "punctuation:no_comma")
    assert not follows("", "punctuation:no_comma", loose=True)


def test_scores_count_prompts_instructions_and_bad_responses():
    rows = [
        {"instruction_id_list": ["punctuation:no_comma", "startend:quotation"],
         "kwargs": [{}, {}], "response": "Sure:\n\"no commas\""},
        {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}], "response": None},
    ]
    s = ev.ifeval_scores(rows)
    assert s["follow"][0] == {"strict": [True, False], "loose": [True, True]}
    assert (s["prompt_strict"], s["prompt_loose"]) == (0.0, 0.5)
    assert (s["instruction_strict"], s["instruction_loose"]) == (1 / 3, 2 / 3)
    assert s["n_bad_responses"] == 1 and s["per_kind"]["startend:quotation"]["loose"] == 1.0


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="unknown IFEval instruction"):
        follows("x", "keywords:nope")
    with pytest.raises(ValueError, match="kwargs"):
        follows("x", "length_constraints:number_words", num_words=3)  # relation missing
    with pytest.raises(ValueError, match="one kwargs dict per instruction"):
        ev.ifeval_scores([{"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}],
                           "response": "x"}])
    with pytest.raises(ValueError, match="unknown"):
        ev.load_ifeval("gpt5")


# --- the shipped data and the paper's table -------------------------------------------------------

def test_the_data_ships_in_the_wheel():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["course_utils"]
    shipped = [p.relative_to(ROOT / "course_utils").as_posix()
               for p in (ROOT / "course_utils" / "data" / "ifeval").iterdir()]
    assert len(shipped) >= 3
    assert all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in shipped), shipped


def test_loader_pairs_every_prompt_with_its_response():
    rows = ev.load_ifeval("gpt4")
    assert len(rows) == 541 and all(isinstance(r["response"], str) for r in rows)
    assert sum(len(r["instruction_id_list"]) for r in rows) == 834
    reworded = next(r for r in rows if r["key"] == 2785)  # answered as "one placeholder"
    assert reworded["response"].count("[address]") == 1


def test_loader_refuses_responses_to_another_version_of_the_prompts(tmp_path, monkeypatch):
    from course_utils.evaluation.ifeval import data

    fake = tmp_path / "responses.jsonl"
    fake.write_text("".join(json.dumps({"prompt": r["prompt"] + " (old wording)", "response": "x"})
                            + "\n" for r in reversed(ev.load_ifeval(None))), encoding="utf-8")
    real_path = data._path
    monkeypatch.setattr(data, "_path", lambda name: fake if "bison" in name else real_path(name))
    with pytest.raises(ValueError, match="another version of the prompts"):
        ev.load_ifeval("palm2")


@pytest.mark.parametrize("key, kind, strict, loose", [
    (1051, "change_case:english_lowercase", False, True),  # lower case but "[Your Name]" at the end
    (374, "keywords:forbidden_words", False, True),  # the echoed prompt holds the forbidden words
    (3281, "combination:two_responses", False, True),  # a title line before the first "******"
    (2785, "detectable_content:number_placeholders", False, False),  # 1 placeholder, 3 asked
    (1122, "keywords:letter_frequency", True, True),  # a symbol, "#", counted as asked
])
def test_real_gpt4_responses(key, kind, strict, loose):
    row = next(r for r in ev.load_ifeval("gpt4") if r["key"] == key)
    kwargs = row["kwargs"][row["instruction_id_list"].index(kind)]
    assert ev.ifeval_check(row["response"], kind, kwargs) is strict
    assert ev.ifeval_check(row["response"], kind, kwargs, loose=True) is loose


def test_the_papers_table_is_reproduced_within_half_a_point():
    # GPT-4 only: PaLM 2's published responses answer an older wording of the prompts (see
    # course_utils/data/ifeval/README.md), so they do not ship and its row cannot be reproduced.
    model = "gpt4"
    assert ev.ifeval_available(model)
    scores = ev.ifeval_scores(ev.load_ifeval(model))
    paper = ev.IFEVAL_PAPER_SCORES[model]
    ours = {k: round(100 * scores[k], 2) for k in paper}
    assert all(abs(ours[k] - paper[k]) <= 0.5 for k in paper), (ours, paper)
