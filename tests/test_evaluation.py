"""Tests for course_utils.evaluation, on hand-written cases and on real Self-Instruct data."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import evaluation as ev
from course_utils.evaluation import (
    CONSTRAINT_KINDS,
    JUDGE_PROMPT_V1,
    check,
    collapse_alarm,
    complexity,
    complexity_table,
    describe_constraint,
    distinct_n,
    if_rate,
    judge_prompt,
    loose_variants,
    parse_constraints,
    parse_judge,
    register_constraint,
    report,
    root_verb_object,
    top_verb_objects,
)
from course_utils.parsing import ParseResult, count_reasons


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def seeds(shared_data: Path) -> list[str]:
    """The 175 Self-Instruct seed instructions (shared_data skips when ../shared/data is absent)."""
    return [row["instruction"] for row in _read_jsonl(shared_data / "seed_tasks.jsonl")]


@pytest.fixture(scope="module")
def predictions(shared_data: Path) -> list[dict]:
    """252 user-oriented instructions with real text-davinci-003 answers."""
    rows = _read_jsonl(shared_data / "user_oriented_text-davinci-003_predictions.jsonl")
    # The data README calls the model output "prediction"; the file itself has "response".
    for row in rows:
        row.setdefault("response", row.get("prediction"))
    return rows


@pytest.fixture(scope="module")
def user_instructions(predictions) -> list[str]:
    return [row["instruction"] for row in predictions]


NOUNS = (
    "dragon robot teacher farmer pirate astronaut cat dog wizard knight baker doctor sailor "
    "painter musician detective ghost unicorn penguin fox owl lion tiger bear rabbit turtle "
    "elephant giraffe monkey whale shark dolphin eagle parrot snake frog bee ant spider mouse "
    "horse cow sheep goat pig duck chicken wolf deer squirrel"
).split()


def template_set() -> list[str]:
    """One template, 50 different nouns: the classic collapse of a generator."""
    return [f"Write a short story about a {noun} who learns to fly." for noun in NOUNS]


def paraphrase_set() -> list[str]:
    """50 near-paraphrases of one request."""
    verbs = ["Write", "Compose", "Create", "Craft", "Produce"]
    sizes = ["short", "brief", "little", "small", "tiny"]
    topics = ["the ocean", "the sea", "ocean waves", "the seaside"]
    texts = [f"{v} a {s} poem about {t}." for v in verbs for s in sizes for t in topics]
    random.Random(0).shuffle(texts)
    return texts[:50]


# ---------------------------------------------------------------------------------------------
# Import cost and plot hygiene
# ---------------------------------------------------------------------------------------------


def test_import_is_light_and_plots_leave_no_open_figure():
    code = (
        "import sys\n"
        "import course_utils.evaluation as ev\n"
        "heavy = [m for m in ('matplotlib', 'sentence_transformers', 'torch', 'distilabel') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "fig = ev.plot_verb_sunburst(['Write a poem.', 'Write a story.', 'List three fruits.'])\n"
        "import matplotlib.pyplot as plt\n"
        "assert plt.get_fignums() == [], plt.get_fignums()  # returned, not left open\n"
        "fig.savefig(__import__('io').BytesIO(), format='png')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_constraints_module_imports_no_other_course_module():
    # The offline teacher imports evaluation.constraints: it must stay a leaf (only _validate).
    import ast

    import course_utils.evaluation.constraints as constraints_module

    tree = ast.parse(Path(constraints_module.__file__).read_text(encoding="utf-8"))
    course_imports = [
        ("." * node.level) + (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level or (node.module or "").startswith("course_utils"))
    ]
    course_imports += [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("course_utils")
    ]
    assert course_imports == [".._validate"]


def test_the_offline_judge_imports_first_and_checks_constraints():
    code = (
        "import course_utils.teacher\n"
        "from course_utils.teacher.kinds.judge import score_response\n"
        "good = score_response('List two fruits in fewer than 5 words.', 'Apples and pears.')\n"
        "bad = score_response('List two fruits in fewer than 5 words.', "
        "'Apples, pears, plums, figs and many more.')\n"
        "print(good[0] > bad[0], 'satisfies all 1' in good[1], 'breaks 1 of 1' in bad[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True True True"


def test_bad_arguments_raise_input_error_naming_the_function(tmp_path):
    from course_utils._validate import InputError

    with pytest.raises(InputError, match=r"distinct_n\(\): texts is a single string"):
        distinct_n("a text")
    with pytest.raises(InputError, match=r"collapse_alarm\(\): rouge_threshold=2 is outside"):
        collapse_alarm(["a b", "c d"], rouge_threshold=2)
    with pytest.raises(InputError, match=r"constraint 'word_count' parameter n=-1 is too small"):
        check("x", {"kind": "word_count", "relation": "exactly", "n": -1})
    with pytest.raises(InputError, match=r"if_rate\(\): rows is None"):
        if_rate(None)
    with pytest.raises(InputError, match=r"top_verb_objects\(\): k=0 is too small"):
        top_verb_objects(["Write a poem."], k=0)
    with pytest.raises(InputError, match=r"judge_prompt\(\): instruction must be a str"):
        judge_prompt(None, "x")
    with pytest.raises(InputError, match=r"report\(\): title must be a str"):
        report([{"instruction": "Write a poem."}], tmp_path, title=3)
    with pytest.raises(InputError, match=r"parse_constraints\(\): instruction must be a str"):
        parse_constraints(None)
    assert not any(tmp_path.iterdir())  # report() checked its arguments before writing


# ---------------------------------------------------------------------------------------------
# Constraint checkers: one passing and one failing hand-written response per case
# ---------------------------------------------------------------------------------------------

CHECKER_CASES = [
    (
        {"kind": "word_count", "relation": "less than", "n": 5},
        "One two three four.",
        "One two three four five.",
    ),
    ({"kind": "word_count", "relation": "exactly", "n": 3}, "I don't know", "I do not know"),
    ({"kind": "word_count", "relation": "at least", "n": 4}, "a well-known fact here", "a well-known fact"),
    ({"kind": "word_count", "relation": "at most", "n": 2}, "Hi there", "Hi there you"),
    ({"kind": "word_count", "relation": "more than", "n": 2}, "Hi there you", "Hi there"),
    (
        {"kind": "sentence_count", "relation": "exactly", "n": 2},
        "Dr. Smith ran 3.5 km, e.g. to the park. He was tired!",
        "One. Two. Three.",
    ),
    ({"kind": "sentence_count", "relation": "at most", "n": 1}, "Just one sentence here.", "One. Two."),
    (
        {"kind": "paragraph_count", "relation": "exactly", "n": 2},
        "First part.\n\nSecond part.",
        "First.\nStill first.",
    ),
    ({"kind": "paragraph_count", "relation": "exactly", "n": 2}, "First.\n***\nSecond.", "Only one."),
    (
        {"kind": "bullet_count", "n": 3},
        "Here:\n* apples\n* pears\n- plums",
        "* apples\n* pears\n**bold** line",
    ),
    (
        {"kind": "bullet_count", "relation": "at least", "n": 1},
        "  - indented bullet",
        "-5 degrees, no bullet",
    ),
    (
        {"kind": "include_keywords", "keywords": ["sea", "sky"]},
        "The Sea meets the sky.",
        "The sea is seasonal.",
    ),
    ({"kind": "include_keywords", "keywords": ["sea"], "min_count": 2}, "sea and sea", "the sea once"),
    ({"kind": "forbidden_words", "keywords": ["cat", "dog"]}, "A category of birds.", "The Cat sat."),
    ({"kind": "json_format"}, '```json\n{"a": [1, 2]}\n```', 'Here it is: {"a": 1}'),
    ({"kind": "json_format"}, '{"ok": true}', '{"a": NaN}'),
    ({"kind": "lowercase"}, "all lower case, 100%.", "Not lower."),
    ({"kind": "lowercase"}, "abc", "123 456"),
    ({"kind": "uppercase"}, "ALL CAPS 123!", "ALL CAPs"),
    ({"kind": "end_phrase", "phrase": "Any questions?"}, "Done.\nany questions?  ", "Any questions? Thanks."),
    ({"kind": "start_phrase", "phrase": "Dear team"}, "dear team, hello.", "Hello, dear team."),
    ({"kind": "no_commas"}, "No commas here.", "Yes, commas."),
    ({"kind": "no_commas"}, "Plain text.", "中文，逗号"),
    ({"kind": "placeholder_count", "n": 2}, "Send [name] to [address].", "Only [name] here."),
    # more languages in tests/test_multilingual.py
    ({"kind": "response_language", "language": "ja"}, "私は日本に住んでいます。", "I live in Japan."),
]


@pytest.mark.parametrize(("constraint", "good", "bad"), CHECKER_CASES)
def test_checker_positive_and_negative(constraint, good, bad):
    assert check(good, constraint) is True
    assert check(bad, constraint) is False


def test_every_registered_kind_has_hand_written_cases():
    assert {c["kind"] for c, _, _ in CHECKER_CASES} == set(CONSTRAINT_KINDS)
    assert len(CONSTRAINT_KINDS) >= 12


def test_empty_response_follows_nothing():
    for kind in ("no_commas", "lowercase"):
        assert check("   \n ", {"kind": kind}) is False
        assert check("   \n ", {"kind": kind}, loose=True) is False


def test_strict_and_loose_differ_on_a_preamble_line():
    response = "Sure, here is my answer:\nthe sea is calm tonight"
    assert check(response, {"kind": "lowercase"}) is False
    assert check(response, {"kind": "lowercase"}, loose=True) is True
    assert check(response, {"kind": "no_commas"}) is False
    assert check(response, {"kind": "no_commas"}, loose=True) is True
    # Markdown emphasis around the closing phrase is forgiven only in loose mode.
    emphasised = "The sea is calm.\n**Any questions?**"
    end = {"kind": "end_phrase", "phrase": "Any questions?"}
    assert not check(emphasised, end) and check(emphasised, end, loose=True)
    # Loose mode does not forgive a violation in the body of the answer.
    body = "Intro line\nthe sea, the sky\nthe end"
    assert check(body, {"kind": "no_commas"}, loose=True) is False


def test_loose_variants_are_ifevals_eight():
    variants = loose_variants("first\n*middle*\nlast")
    assert variants == [
        "first\n*middle*\nlast",
        "*middle*\nlast",
        "first\n*middle*",
        "*middle*",
        "first\nmiddle\nlast",
        "middle\nlast",
        "first\nmiddle",
        "middle",
    ]


def test_check_rejects_bad_constraints_with_clear_errors():
    with pytest.raises(ValueError, match="unknown constraint kind 'shout'.*no_commas"):
        check("x", {"kind": "shout"})
    with pytest.raises(ValueError, match="missing parameter"):
        check("x", {"kind": "word_count", "n": 3})
    with pytest.raises(ValueError, match="use one of"):
        check("x", {"kind": "word_count", "relation": "around", "n": 3})
    with pytest.raises(ValueError, match=">= 0"):
        check("x", {"kind": "word_count", "relation": "exactly", "n": -1})
    with pytest.raises(TypeError, match="must be an int"):
        check("x", {"kind": "word_count", "relation": "exactly", "n": True})
    with pytest.raises(TypeError, match="list of words"):
        check("x", {"kind": "forbidden_words", "keywords": "cat"})
    with pytest.raises(ValueError, match="unknown parameter"):
        check("x", {"kind": "no_commas", "n": 1})
    with pytest.raises(TypeError, match="dict"):
        check("x", "no_commas")
    with pytest.raises(TypeError, match="if_rate"):
        check(None, {"kind": "no_commas"})


def test_a_learner_can_register_a_new_kind():
    @register_constraint("min_exclamations", describe=lambda n: f"Use at least {n} exclamation marks.")
    def _exclaim(response: str, *, n: int) -> bool:
        return response.count("!") >= n

    try:
        c = {"kind": "min_exclamations", "n": 2}
        assert check("Wow! Great!", c) and not check("Wow!", c)
        assert describe_constraint(c) == "Use at least 2 exclamation marks."
        with pytest.raises(ValueError, match="missing"):
            check("!", {"kind": "min_exclamations"})
    finally:
        CONSTRAINT_KINDS.pop("min_exclamations")


# ---------------------------------------------------------------------------------------------
# IF-rate
# ---------------------------------------------------------------------------------------------


def test_if_rate_on_rows_with_known_answers():
    lower = {"kind": "lowercase"}
    rows = [
        # follows both, strictly
        {
            "response": "hello world",
            "constraints": [lower, {"kind": "word_count", "relation": "less than", "n": 5}],
        },
        # follows only once the preamble line is dropped (loose)
        {"response": "Sure:\nhello there", "constraints": [lower]},
        # follows neither, in either mode
        {"response": "Hello, World", "constraints": [lower, {"kind": "no_commas"}]},
        # failed generation: counted, not raised
        {"response": None, "constraints": [{"kind": "no_commas"}]},
        # no constraint: skipped
        {"response": "whatever", "constraints": []},
    ]
    rate = if_rate(rows)
    assert rate["n_prompts"] == 4 and rate["n_instructions"] == 6
    assert rate["n_bad_responses"] == 1 and rate["n_rows_without_constraints"] == 1
    assert rate["prompt_strict"] == pytest.approx(1 / 4)
    assert rate["prompt_loose"] == pytest.approx(2 / 4)
    assert rate["instruction_strict"] == pytest.approx(2 / 6)
    assert rate["instruction_loose"] == pytest.approx(3 / 6)
    assert rate["per_kind"]["lowercase"] == {
        "n": 3,
        "strict": pytest.approx(1 / 3),
        "loose": pytest.approx(2 / 3),
    }
    assert rate["per_kind"]["no_commas"] == {"n": 2, "strict": 0.0, "loose": 0.0}


def test_if_rate_on_real_responses_loose_never_below_strict(predictions):
    constraints = [
        {"kind": "no_commas"},
        {"kind": "word_count", "relation": "at most", "n": 60},
        {"kind": "sentence_count", "relation": "at most", "n": 3},
        {"kind": "end_phrase", "phrase": "."},
    ]
    rows = [{"response": r["response"], "constraints": constraints} for r in predictions]
    rate = if_rate(rows)
    assert rate["n_prompts"] == len(predictions) == 252
    # Independent count for one kind: text-davinci-003 answers that contain no comma.
    no_comma = sum("," not in r["response"] and r["response"].strip() != "" for r in predictions)
    assert rate["per_kind"]["no_commas"]["strict"] == pytest.approx(no_comma / 252)
    for kind, stats in rate["per_kind"].items():
        assert 0.0 < stats["strict"] <= stats["loose"] <= 1.0, kind
    assert rate["prompt_strict"] <= rate["prompt_loose"]
    assert rate["prompt_strict"] <= rate["instruction_strict"]


def test_if_rate_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        if_rate([])
    with pytest.raises(TypeError, match="list of dicts"):
        if_rate(None)
    with pytest.raises(ValueError, match="no list under 'constraints'"):
        if_rate([{"response": "x"}])
    with pytest.raises(ValueError, match="no row carries a constraint"):
        if_rate([{"response": "x", "constraints": []}])
    with pytest.raises(TypeError, match=r"rows\[1\]"):
        if_rate([{"response": "x", "constraints": []}, "oops"])


# ---------------------------------------------------------------------------------------------
# describe_constraint / parse_constraints
# ---------------------------------------------------------------------------------------------


def test_describe_constraint_examples():
    assert (
        describe_constraint({"kind": "word_count", "relation": "less than", "n": 50})
        == "Answer in fewer than 50 words."
    )
    assert (
        describe_constraint({"kind": "sentence_count", "relation": "exactly", "n": 1})
        == "Answer in exactly 1 sentence."
    )
    assert describe_constraint({"kind": "no_commas"}) == "Do not use any commas in your answer."
    assert "'Say \"hi\"'" in describe_constraint({"kind": "end_phrase", "phrase": 'Say "hi"'})


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        (
            "Explain photosynthesis in under 100 words.",
            [{"kind": "word_count", "relation": "less than", "n": 100}],
        ),
        ("Write a 300+ word essay about rain.", [{"kind": "word_count", "relation": "at least", "n": 300}]),
        (
            "Summarize it in no more than two sentences.",
            [{"kind": "sentence_count", "relation": "at most", "n": 2}],
        ),
        (
            "List the risks. Use exactly 3 bullet points and do not use commas.",
            [{"kind": "bullet_count", "relation": "exactly", "n": 3}, {"kind": "no_commas"}],
        ),
        (
            "Describe Paris. End your answer with 'Any questions?'",
            [{"kind": "end_phrase", "phrase": "Any questions?"}],
        ),
        ("Reply in all lowercase, as valid JSON.", [{"kind": "lowercase"}, {"kind": "json_format"}]),
        ("Do not use capital letters.", [{"kind": "lowercase"}]),
        ("Shout it in ALL CAPS.", [{"kind": "uppercase"}]),
        (
            "Do not use the words \"good\" or 'bad'.",
            [{"kind": "forbidden_words", "keywords": ["good", "bad"]}],
        ),
        (
            "Include the keywords 'AI' and \"ethics\".",
            [{"kind": "include_keywords", "keywords": ["AI", "ethics"], "min_count": 1}],
        ),
        (
            'Mention the word "sea" at least 3 times.',
            [{"kind": "include_keywords", "keywords": ["sea"], "min_count": 3}],
        ),
        ('Begin your reply with "Dear team".', [{"kind": "start_phrase", "phrase": "Dear team"}]),
        (
            "Write 3 paragraphs with at least 2 placeholders.",
            [
                {"kind": "paragraph_count", "relation": "exactly", "n": 3},
                {"kind": "placeholder_count", "relation": "at least", "n": 2},
            ],
        ),
        # Not constraints on the answer:
        ("Find the 3 words that rhyme with cat.", []),
        ("Capitalize the first letter of each word.", []),
        (
            'End your answer with the exact phrase "in three words".',
            [{"kind": "end_phrase", "phrase": "in three words"}],
        ),
        ("Don't use commas in the students' essays.", [{"kind": "no_commas"}]),
        # Quoted text is material, not a rule:
        ('Translate "Do not use commas, please." into French.', []),
        ("Translate \"End your answer with 'Bye'\" into French.", []),
    ],
)
def test_parse_constraints_examples(instruction, expected):
    assert parse_constraints(instruction) == expected


def test_parse_constraints_on_real_instructions_flags_only_true_constraints(seeds, user_instructions):
    flagged = {t: parse_constraints(t) for t in seeds + user_instructions if parse_constraints(t)}
    # Read by hand: the only two of the 427 real instructions that state a verifiable rule.
    assert flagged == {
        "Write a story that contains the given words in 4 sentences.": [
            {"kind": "sentence_count", "relation": "exactly", "n": 4}
        ],
        "Summarize this email into a single sentence:": [
            {"kind": "sentence_count", "relation": "exactly", "n": 1}
        ],
    }


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
_PHRASE = (
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", min_size=1, max_size=7),
        min_size=1,
        max_size=4,
    )
    .map(" ".join)
    .flatmap(lambda p: st.sampled_from([p, p + "?", p + "!"]))
)
_REL = st.sampled_from(ev.RELATIONS)
_N = st.integers(min_value=1, max_value=500)
CONSTRAINTS = st.one_of(
    st.builds(lambda r, n: {"kind": "word_count", "relation": r, "n": n}, _REL, _N),
    st.builds(lambda r, n: {"kind": "sentence_count", "relation": r, "n": n}, _REL, _N),
    st.builds(lambda r, n: {"kind": "paragraph_count", "relation": r, "n": n}, _REL, _N),
    st.builds(lambda r, n: {"kind": "bullet_count", "relation": r, "n": n}, _REL, _N),
    st.builds(lambda r, n: {"kind": "placeholder_count", "relation": r, "n": n}, _REL, _N),
    st.builds(
        lambda k, m: {"kind": "include_keywords", "keywords": k, "min_count": m},
        st.lists(_WORD, min_size=1, max_size=3, unique=True),
        st.integers(1, 5),
    ),
    st.builds(
        lambda k: {"kind": "forbidden_words", "keywords": k},
        st.lists(_WORD, min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda p: {"kind": "end_phrase", "phrase": p}, _PHRASE),
    st.builds(lambda p: {"kind": "start_phrase", "phrase": p}, _PHRASE),
    st.sampled_from([{"kind": k} for k in ("json_format", "lowercase", "uppercase", "no_commas")]),
)


@settings(max_examples=300, deadline=None)
@given(CONSTRAINTS)
def test_describe_then_parse_round_trips(constraint):
    assert parse_constraints(describe_constraint(constraint)) == [constraint]


# ---------------------------------------------------------------------------------------------
# Complexity and root verbs
# ---------------------------------------------------------------------------------------------


def test_evolved_instruction_is_more_complex_than_its_parent():
    parent = "Write a poem about the sea."
    evolved = (
        "Write a poem about the sea in exactly 4 stanzas, without using the word 'blue'. "
        "First explain step by step how its rhythm should follow the tides, then justify "
        "your choice of imagery."
    )
    p, e = complexity(parent), complexity(evolved)
    assert p["root_verb"] == e["root_verb"] == "write"
    assert e["words"] > p["words"]
    assert e["constraints"] > p["constraints"]
    assert e["reasoning"] > p["reasoning"]
    assert e["score"] > p["score"]


def test_adding_any_described_constraint_raises_the_constraint_count(seeds):
    examples = [c for c, _, _ in CHECKER_CASES]
    for text in seeds:
        before = complexity(text)["constraints"]
        for c in examples:
            after = complexity(text + " " + describe_constraint(c))["constraints"]
            assert after > before, (text, c)


def test_complexity_table_on_real_seed_tasks(seeds):
    table = complexity_table(seeds)
    assert table["n"] == 175
    assert 5 < table["words_mean"] < 40
    assert table["words_median"] <= table["words_p90"]
    assert 0 <= table["share_with_constraints"] < 0.5  # seed tasks rarely state rules
    assert table["share_with_verb"] > 0.9


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("Make a list of salty snacks with a soft texture.", ("make", "list")),
        (
            "Given a description of the symptom, identify the possible disease and suggest some medicine.",
            ("identify", "disease"),
        ),
        ("How do you answer this question in a job interview?", ("how answer", "question")),
        ("What is the relation between the given pairs?", ("what is", "relation")),
        (
            "I broke up with my girlfriend and I am feeling so sad. Can you give me some suggestions?",
            ("give", "suggestions"),
        ),
        ("Come up with the synonyms of the word.", ("come up with", "synonyms")),
        ("To make the pairs have the same analogy, write the fourth word.", ("write", "word")),
        ("Generate an appropriate subjective title for the following email:", ("generate", "title")),
        ("Create a birthday planning checklist.", ("create", "checklist")),
        ("Give me a cooking recipe for the following food.", ("give", "recipe")),
    ],
)
def test_root_verb_object_on_real_seed_instructions(seeds, instruction, expected):
    assert instruction in seeds  # these are real seed tasks, read one by one
    assert root_verb_object(instruction) == expected


def test_root_verb_object_politeness_and_failure():
    assert root_verb_object("Please write a short poem about cats.") == ("write", "poem")
    assert root_verb_object("Could you summarize the article?") == ("summarize", "article")
    assert root_verb_object("Write an engaging and funny story.") == ("write", "story")
    assert root_verb_object("Sort the given list ascendingly.") == ("sort", "list")
    assert root_verb_object("Converting 85 F to Celsius.")[0] == "convert"
    assert root_verb_object("Night : Day :: Right : Left") == (None, None)
    assert root_verb_object("") == (None, None)


def test_root_verbs_cover_most_real_instructions(seeds, user_instructions):
    texts = seeds + user_instructions
    found = sum(root_verb_object(t)[0] is not None for t in texts)
    assert found / len(texts) > 0.9


def test_top_verb_objects_matches_a_direct_count(seeds):
    top = top_verb_objects(seeds, k=5)
    direct = Counter(root_verb_object(t) for t in seeds)
    assert len(top) == 5
    assert [n for _, _, n in top] == sorted((n for _, _, n in top), reverse=True)
    for verb, obj, n in top:
        assert direct[(verb, obj)] == n
    assert top[0][2] == max(n for pair, n in direct.items() if pair != (None, None))


def test_verb_diversity_counts_distinct_root_verbs(seeds):
    from course_utils.evaluation.complexity import verb_diversity

    d = verb_diversity(["Write a poem.", "Write a song.", "Explain tides.", "Night : Day :: Right : Left"])
    assert (d["n"], d["with_verb"], d["distinct"]) == (4, 3, 2)
    assert d["ratio"] == pytest.approx(2 / 3) and d["top"] == [("write", 2), ("explain", 1)]
    assert verb_diversity(["Night : Day"])["ratio"] == 0.0
    collapsed = verb_diversity(["Write a poem about rain."] * 25)
    real = verb_diversity(seeds[:25])
    assert collapsed["distinct"] == 1 and real["distinct"] > 10  # the real seeds ask for many tasks
    with pytest.raises(ValueError, match="verb_diversity"):
        verb_diversity("Write a poem.")


@pytest.mark.parametrize(("text", "depth"), [
    ("", 0),
    ("Explain tides.", 1),
    ("If it rains, stay home.", 1),  # a sentence's first word opens no embedding
    ("Explain why tides happen twice a day where the coast is open.", 3),
    ("Write it in order to learn.", 2),  # a phrase counts once
    ("Rewrite the code so that it runs.", 2),  # "so that", not also "that"
    ("Write a poem (about rain (and sun)).", 3),  # bracket nesting
    ("List three fruits. Explain why the one that grows fastest wins.", 3),  # the deepest sentence
])
def test_syntax_depth_proxy(text, depth):
    from course_utils.evaluation.complexity import syntax_depth

    assert syntax_depth(text) == depth


def test_syntax_depth_uses_a_parser_when_given_one():
    """With a dependency parse, the depth is the longest head chain to a root, counting both ends."""
    from types import SimpleNamespace

    from course_utils.evaluation.complexity import syntax_depth

    def parse(_text):  # "Write a short poem": Write <- poem <- {a, short}
        root = SimpleNamespace(text="Write")
        root.head = root
        poem = SimpleNamespace(text="poem", head=root)
        return [root, SimpleNamespace(text="a", head=poem), SimpleNamespace(text="short", head=poem), poem]

    assert syntax_depth("Write a short poem", nlp=parse) == 3
    assert syntax_depth("Write a short poem") == 1  # the proxy sees no embedding
    with pytest.raises(ValueError, match="syntax_depth"):
        syntax_depth(None)


def test_evolved_instructions_are_deeper_by_the_proxy():
    from course_utils.evaluation.complexity import syntax_depth

    seed = "Explain what a bond is."
    deepened = ("Explain what a bond is, how its price moves when rates rise, and why a fund that holds "
                "long bonds loses more if inflation surprises.")
    assert syntax_depth(deepened) > syntax_depth(seed)


# ---------------------------------------------------------------------------------------------
# Diversity and collapse
# ---------------------------------------------------------------------------------------------


def test_distinct_n_small_example():
    # bigrams: (a b), (b a), (a b) -> 2 unique of 3; unigrams: 2 unique of 4
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["one"], 2) == 0.0


def test_distinct_n_denominator_ngrams_or_tokens():
    from course_utils._validate import InputError

    # "a b a b": 2 distinct bigrams, 3 bigrams, 4 tokens
    assert distinct_n(["a b a b"], 2, denominator="ngrams") == pytest.approx(2 / 3)
    assert distinct_n(["a b a b"], 2, denominator="tokens") == pytest.approx(2 / 4)  # Li et al.
    # over a set: 5 distinct bigrams of 6, tokens 4 + 4 = 8
    texts = ["the cat sat down", "the cat ran away"]
    assert distinct_n(texts, 2) == pytest.approx(5 / 6)
    assert distinct_n(texts, 2, denominator="tokens") == pytest.approx(5 / 8)
    for n in (1, 3):  # the two agree for n = 1 only
        same = distinct_n(texts, n) == distinct_n(texts, n, denominator="tokens")
        assert same is (n == 1)
    assert distinct_n(["one"], 2, denominator="tokens") == 0.0  # no bigram at all
    # batched: the mean over seeded groups, with the same denominator in each group
    many = [f"text number {i} about the {w}" for i, w in enumerate(["sea", "sky"] * 10)]
    by_tokens = distinct_n(many, 2, batch=5, denominator="tokens")
    assert by_tokens < distinct_n(many, 2, batch=5) <= 1.0
    with pytest.raises(InputError, match=r"distinct_n\(\): denominator='words'"):
        distinct_n(["a b"], 2, denominator="words")


def test_distinct_n_on_real_data_and_a_collapsed_set(seeds, user_instructions):
    d1, d2, d3 = (distinct_n(seeds, n) for n in (1, 2, 3))
    assert 0.5 < d2 < 0.95
    assert d1 < d2 < d3
    assert distinct_n(template_set(), 2) < 0.4 < distinct_n(user_instructions, 2)
    # Whole-set distinct-2 falls as the set grows; the batched figure barely moves.
    both = seeds + user_instructions
    assert distinct_n(seeds, 2) - distinct_n(both, 2) > 0.05
    assert abs(distinct_n(seeds, 2, batch=50) - distinct_n(both, 2, batch=50)) < 0.03


def test_distinct_n_rejects_bad_input():
    with pytest.raises(TypeError, match="single string"):
        distinct_n("a text", 2)
    with pytest.raises(TypeError, match="None"):
        distinct_n(None, 2)
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        distinct_n(["a", 3], 2)
    with pytest.raises(ValueError, match="non-empty"):
        distinct_n([], 2)
    with pytest.raises(ValueError, match=">= 1"):
        distinct_n(["a b"], 0)


@pytest.mark.parametrize("name", ["seeds", "user", "responses"])
def test_real_data_does_not_raise_the_collapse_alarm(name, seeds, predictions):
    texts = {
        "seeds": seeds,
        "user": [r["instruction"] for r in predictions],
        "responses": [r["response"] for r in predictions],
    }[name]
    result = collapse_alarm(texts)
    assert result["alarm"] is False, result["reason"]
    assert result["reason"].startswith("diverse")
    # with a margin: the defaults are far from the real values
    assert result["mean_rouge_l"] < ev.ROUGE_THRESHOLD / 2
    assert result["distinct_2"] > ev.DISTINCT2_FLOOR + 0.2


@pytest.mark.parametrize("texts", [template_set(), paraphrase_set()], ids=["template", "paraphrases"])
def test_collapsed_sets_raise_the_alarm(texts):
    result = collapse_alarm(texts)
    assert result["alarm"] is True
    assert result["mean_rouge_l"] > ev.ROUGE_THRESHOLD
    assert result["distinct_2"] < ev.DISTINCT2_FLOOR
    assert result["reason"].startswith("mode collapse") and "ROUGE-L" in result["reason"]


def test_collapse_alarm_sampling_agrees_with_all_pairs(seeds):
    exact = collapse_alarm(seeds)["mean_rouge_l"]
    sampled = collapse_alarm(seeds, max_pairs=5000)["mean_rouge_l"]
    assert sampled == pytest.approx(exact, abs=0.01)


def test_collapse_alarm_rejects_bad_input():
    ok = ["Write a poem.", "List fruits."]
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        collapse_alarm(ok, rouge_threshold=1.5)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        collapse_alarm(ok, distinct2_floor=-0.1)
    with pytest.raises(TypeError, match="number"):
        collapse_alarm(ok, rouge_threshold="0.3")
    with pytest.raises(ValueError, match="at least 2"):
        collapse_alarm(["only one"])
    with pytest.raises(TypeError):
        collapse_alarm(["a", None])


def test_mean_embedding_cosine_separates_diverse_from_collapsed(seeds, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    np = pytest.importorskip("numpy")
    pytest.importorskip("sentence_transformers")
    from course_utils.dedup import embed

    diverse = seeds[:40]
    vectors = embed(diverse)
    sims = vectors @ vectors.T
    brute = (sims.sum() - np.trace(sims)) / (len(diverse) * (len(diverse) - 1))
    assert ev.mean_embedding_cosine(diverse) == pytest.approx(float(brute), abs=1e-4)
    assert ev.mean_embedding_cosine(diverse) < ev.COSINE_THRESHOLD / 2
    assert ev.mean_embedding_cosine(paraphrase_set()) > ev.COSINE_THRESHOLD + 0.2


# ---------------------------------------------------------------------------------------------
# Plots and report
# ---------------------------------------------------------------------------------------------


def test_plot_complexity_has_one_panel_per_metric(seeds, user_instructions):
    fig = ev.plot_complexity({"seed": seeds, "user": user_instructions})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["words", "constraints", "reasoning"]
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["seed (n=175)", "user (n=252)"]
    with pytest.raises(TypeError):
        ev.plot_complexity({})
    with pytest.raises(ValueError):
        ev.plot_complexity({"seed": seeds}, metrics=["height"])


def test_plot_verb_sunburst_rings():
    texts = (
        ["Write a poem about the sea."] * 3
        + ["Write a story about a cat."] * 2
        + ["Write an essay."]
        + ["List three fruits."] * 2
        + ["Translate the sentence."]
    )
    fig = ev.plot_verb_sunburst(texts, top_verbs=2, top_objects=2)
    ax = fig.get_axes()[0]
    wedges = [p for p in ax.patches if hasattr(p, "theta1")]
    inner = [w for w in wedges if w.r == pytest.approx(0.65)]
    outer = [w for w in wedges if w.r == pytest.approx(1.0)]
    span = lambda ws: [round((w.theta2 - w.theta1) / 360 * 8, 6) for w in ws]  # noqa: E731
    assert span(inner) == [6, 2]  # write, list (translate is not in the top 2)
    assert span(outer) == [3, 2, 1, 2]  # poem, story, the rest of write; fruits
    labels = {t.get_text() for t in ax.texts}
    assert {"write", "list", "poem", "story", "fruits"} <= labels
    assert "translate" not in labels and "essay" not in labels


def test_plot_verb_sunburst_on_real_seeds(seeds):
    fig = ev.plot_verb_sunburst(seeds)
    labels = {t.get_text() for t in fig.get_axes()[0].texts}
    assert {"write", "give", "generate"} <= labels  # the three most frequent root verbs


def _report_rows(predictions):
    rows = [dict(r) for r in predictions]
    for r in rows[:40]:
        r["constraints"] = [{"kind": "no_commas"}, {"kind": "word_count", "relation": "at most", "n": 80}]
    rows += [{"instruction": None}, {"instruction": ""}, {"instruction": 42, "response": None}]
    return rows


def test_report_writes_files_and_is_deterministic(predictions, tmp_path):
    rows = _report_rows(predictions)
    first = report(rows, tmp_path / "a", title="User-oriented", response_key="response")
    second = report(rows, tmp_path / "b", title="User-oriented", response_key="response")
    assert first.markdown == second.markdown == (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert sorted(first.figures) == ["complexity", "verbs"]
    for name, path in first.figures.items():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.read_bytes() == second.figures[name].read_bytes(), name
    md = first.markdown
    assert md.startswith("# User-oriented\n")
    assert "| 255 | 252 | 2 | 1 |" in md  # rows, usable, missing/not text, empty
    assert "**OK**" in md and "## Instruction following" in md
    assert "40 prompts, 80 constraints" in md
    assert "![verbs](verbs.png)" in md
    assert first.metrics["if_rate"]["n_prompts"] == 40
    assert repr(first) == "Report('report.md', figures=['complexity', 'verbs'], alarm=False)"


def test_report_flags_a_collapsed_set_and_parses_constraints(tmp_path):
    rows = [
        {"instruction": f"Write a short story about a {noun} in under 20 words.", "out": f"A {noun} flew."}
        for noun in NOUNS
    ]
    result = report(rows, tmp_path, text_key="instruction", response_key="out")
    assert "**ALARM**" in result.markdown
    assert result.metrics["collapse"]["alarm"] is True
    assert "found in `instruction` by parse_constraints" in result.markdown
    assert result.metrics["if_rate"]["instruction_strict"] == 1.0


def test_report_survives_rows_without_text(tmp_path):
    result = report([{"instruction": None}, {"other": "x"}], tmp_path)
    assert "No usable `instruction` text" in result.markdown
    assert (tmp_path / "report.md").exists() and result.figures == {}
    with pytest.raises(ValueError, match="empty"):
        report([], tmp_path)
    with pytest.raises(TypeError, match="list of dicts"):
        report({"instruction": "x"}, tmp_path)


# ---------------------------------------------------------------------------------------------
# LLM-as-judge
# ---------------------------------------------------------------------------------------------


def test_judge_prompt_fills_the_template_once():
    assert JUDGE_PROMPT_V1.splitlines()[0] == "You are a strict grader of instruction-following data."
    assert (
        JUDGE_PROMPT_V1.splitlines()[-1] == 'Respond with JSON: {"score": <1-10>, "reason": "<one sentence>"}'
    )
    prompt = judge_prompt(
        "Explain {response} placeholders.", "They are braces.", [{"kind": "no_commas"}, "Be brief."]
    )
    assert "Explain {response} placeholders." in prompt  # not substituted a second time
    assert "- Do not use any commas in your answer.\n- Be brief." in prompt
    assert prompt.splitlines()[-1] == JUDGE_PROMPT_V1.splitlines()[-1]
    assert "(none beyond the instruction itself)" in judge_prompt("Say hi.", "Hi.")
    with pytest.raises(TypeError):
        judge_prompt(None, "x")


@pytest.mark.parametrize(
    ("reply", "score", "why"),
    [
        ('{"score": 8, "reason": "Good."}', 8, "Good."),
        ('Sure!\n```json\n{"score": "9/10", "reason": " Fine "}\n```', 9, "Fine"),
        ('{"score": 7.5, "reason": "ok"}', 7.5, "ok"),
        ("Score: 6. It misses a constraint.", 6, ""),
        ("I would give it 3/10.", 3, ""),
        ('Breakdown [1, 2]. Final: {"score": 4, "reason": "x"}', 4, "x"),  # the largest value
        ('{"score": 5, "reason": "cut off by the token bud', 5, ""),  # the score survived
    ],
)
def test_parse_judge_reads_good_replies(reply, score, why):
    assert parse_judge(reply) == ParseResult(True, {"score": score, "reason": why})


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ('{"score": 11, "reason": "x"}', "score_out_of_range"),
        ('{"score": 0}', "score_out_of_range"),
        ('{"score": true}', "score_not_a_number"),
        ('{"score": null}', "score_not_a_number"),
        ('{"score": "high"}', "score_not_a_number"),
        ('{"score": 1e999}', "score_out_of_range"),
        ('{"score": NaN}', "score_not_a_number"),
        ('{"score": ' + "9" * 400 + "}", "score_out_of_range"),
        ('{"reason": "no score"}', "no_score"),
        ("no idea", "no_score"),
        ("Sorry, I can't grade this.", "refusal"),
        ('{"reason": "cut off befo', "truncated_json"),
        ("", "empty"),
        (None, "empty"),
        (42, "empty"),
    ],
)
def test_parse_judge_rejects_bad_replies(reply, why):
    assert parse_judge(reply) == ParseResult(False, None, why)


def test_the_offline_teacher_answers_the_judge_prompt_in_a_parseable_way():
    from course_utils.teacher import Request, respond

    rule = {"kind": "word_count", "relation": "less than", "n": 20}
    scores = []
    for answer in ("A budget plans income and spending.", "A budget " * 30):
        prompt = judge_prompt("Explain budgeting in under 20 words.", answer, [rule])
        text, kind, _ = respond(Request((("user", prompt),), failure_rates=None))
        assert kind == "judge"
        result = parse_judge(text)
        assert result.ok, text
        scores.append(result.value["score"])
    assert scores[0] > scores[1]  # the answer that breaks the word limit scores lower


def test_parse_judge_failures_can_be_counted():
    replies = ['{"score": 8}', "meh", '{"score": 12}', None]
    assert count_reasons(parse_judge(r) for r in replies) == Counter(
        {"ok": 1, "no_score": 1, "score_out_of_range": 1, "empty": 1}
    )


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["score", "reason", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet='{}[]":,.0123456789/ scoreScore\n`', max_size=80),
        _JSONISH.map(json.dumps),
        st.builds(
            lambda a, b, c: a + b + c, st.text(max_size=10), _JSONISH.map(json.dumps), st.text(max_size=10)
        ),
        _JSONISH,
    )
)
def test_parse_judge_never_raises(reply):
    result = parse_judge(reply)
    assert isinstance(result, ParseResult)
    if result.ok:
        assert 1 <= result.value["score"] <= 10 and isinstance(result.value["reason"], str)
    else:
        assert result.value is None and isinstance(result.reason, str) and result.reason


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10), st.text(max_size=40))
def test_parse_judge_round_trips_well_formed_json(score, reason):
    reply = json.dumps({"score": score, "reason": reason})
    assert parse_judge(reply) == ParseResult(True, {"score": score, "reason": reason.strip()})
