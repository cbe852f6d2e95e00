"""The right answers of the exercises, as the solution notebooks write them (tests use them)."""

from __future__ import annotations

import re
from collections import Counter

from course_utils import evaluation as ev
from course_utils.parsing import ParseResult

COOKING_V3 = (  # the solution of exercise 01-1
    "You are an experienced chef who writes training questions for a cooking assistant used in "
    "home kitchens.\n\n"
    "Objective: questions a home cook would really ask while planning or cooking a meal.\n\n"
    "Complexity constraints:\n"
    "- Every question describes a realistic scenario with concrete quantities (grams, servings, "
    "minutes, budget).\n"
    "- Each question asks for a plan, a substitution, a diagnosis or a comparison, with at least "
    "one constraint.\n\n"
    "Anti-patterns (avoid these):\n"
    "- Do not ask definitional questions such as \"What is a roux?\".\n"
    "- Do not ask for medical or allergy advice.\n\n"
    "Output format: a JSON array of objects with the fields \"question\" and \"difficulty\", "
    "and nothing else.\n\n"
    "Example:\n"
    '[{"question": "My bread recipe uses 500 g flour and 350 ml water but the dough is too sticky '
    'to shape. What should I change and why?", "difficulty": "medium"}]')

# A good prompt without the words the offline teacher reacts to (realistic, scenario, constraint).
COOKING_PLAIN = (
    "You are a pastry teacher who writes questions for an assistant that helps people bake at "
    "home.\n\n"
    "Goal: questions that home bakers ask when a recipe goes wrong or has to be adapted.\n\n"
    "Each question must give amounts (grams, servings, oven temperature, minutes) and ask for a "
    "fix, a plan or a swap.\n\n"
    "Do not ask for definitions of baking terms (\"What is gluten?\").\n\n"
    "Return a JSON array of objects with the keys \"question\" and \"difficulty\", and nothing "
    "else.\n\n"
    "Example:\n"
    '[{"question": "My sponge cake for 8 people sinks in the middle after 25 minutes at 180 °C. '
    'What should I change in the recipe or the baking?", "difficulty": "hard"}]')

# The case: every key word the old check looked for, and no domain at all.
KEYWORD_STUFFED = (
    "You are a helpful assistant that generates realistic scenario questions with constraints.\n"
    "Output JSON. Do not ask definitional questions. Avoid vague questions.\n"
    "Example:\n"
    '[{"question": "What should I do in this realistic scenario with several constraints and a '
    'tight deadline?", "difficulty": "hard"}]')


def parse_q_lines(text):
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, [], "empty")
    pattern = re.compile(r"^Q:\s*(.+?)\s*\|\s*Difficulty:\s*(\w+)\s*$", re.M)
    items = [{"question": q, "difficulty": d.lower()} for q, d in pattern.findall(text)]
    return ParseResult(bool(items), items, None if items else "no_items")


def collapse_report(batch):
    counts = Counter(batch)
    return {"distinct_ratio": len(counts) / len(batch), "most_common": counts.most_common(1)[0][0]}


def no_definitions(task):
    from course_utils.prompts import is_definitional

    return isinstance(task, str) and is_definitional(task)


def rejection_curve(pairs, thresholds):
    from course_utils.dedup import rouge_l

    scores = [rouge_l(a, b) for a, b in pairs]
    return {t: (sum(s > t for s in scores) / len(scores) if scores else 0.0) for t in thresholds}


def make_dataset(llm):
    from course_utils.magpie import filter_turns, generate_magpie

    system_prompt = ("You are a maths tutor. You help students solve equations, simplify "
                     "fractions, and work out areas, angles and probabilities.")
    rows = generate_magpie(llm, [{"system_prompt": system_prompt}] * 40)
    return filter_turns(rows, n_turns=1)[0]


def llama3_magpie_prompt(messages):
    text = "<|begin_of_text|>"
    for message in messages:
        text += (f"<|start_header_id|>{message['role']}<|end_header_id|>\n\n"
                 f"{message['content'].strip()}<|eot_id|>")
    return text + "<|start_header_id|>user<|end_header_id|>\n\n"


def drop_bad_turns(rows):
    kept, counts = [], {"empty": 0, "truncated": 0, "malformed": 0}
    for row in rows:
        conversation = row.get("conversation") if isinstance(row, dict) else None
        if not isinstance(conversation, list) or not conversation:
            counts["malformed"] += 1
            continue
        problem = None
        for message in conversation:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str) or not content.strip():
                problem = "empty"
            elif (content.count("```") % 2 == 1
                  or not re.search(r'[.?!…:;)\]}>"\'`*]\s*$', content)):
                problem = "truncated"
            if problem:
                break
        if problem:
            counts[problem] += 1
        else:
            kept.append(row)
    return kept, counts


def repair(text):
    from course_utils.cot import format_cot, parse_cot

    parsed = parse_cot(text, mode="loose")
    if not parsed.ok:
        return None
    return format_cot(parsed.value.thinking, parsed.value.answer)


def generate_discount(rng):
    d = rng.choice([10, 20, 25, 40, 50])
    original = rng.randint(2, 60) * 20
    item = rng.choice(["jacket", "lamp", "bicycle", "camera", "sofa"])
    sale = original * (100 - d) // 100
    question = (f"After a {d}% discount, a {item} costs ${sale}. "
                "What was the original price, in dollars?")
    return question, original


def solve_discount(text):
    m = re.search(r"After an? (\d+)% discount, an? [\w ]+? costs \$(\d+(?:\.\d+)?)\. "
                  r"What was the original price", text or "")
    if not m or int(m.group(1)) >= 100:
        return None
    d, sale = int(m.group(1)), float(m.group(2))
    original = sale * 100 / (100 - d)
    steps = [f"The sale price is {100 - d}% of the original price.", f"Original = {original:g}."]
    return steps, f"{original:g}"


def kept_fractions(problems, texts):
    from course_utils.cot import summarize, verify_batch

    fmt_only = summarize(verify_batch(problems, texts, mode="strict", check_answer=False))
    full = summarize(verify_batch(problems, texts, mode="strict", check_answer=True))
    share = (fmt_only["kept"] - full["kept"]) / fmt_only["kept"] if fmt_only["kept"] else None
    return {"format_only": fmt_only["kept_fraction"], "format_and_answer": full["kept_fraction"],
            "wrong_answer_share": share}


SPEAKERS = {"system": "system", "human": "user", "gpt": "assistant"}


def sharegpt_to_messages(record):
    from course_utils.formats import validate_messages

    messages = []
    for i, turn in enumerate(record.get("conversations", [])):
        speaker = turn.get("from")
        if speaker not in SPEAKERS:
            raise ValueError(f"turn {i}: unknown speaker {speaker!r}; "
                             f"expected one of {sorted(SPEAKERS)}")
        value = turn.get("value")
        content = value.strip() if isinstance(value, str) else value
        messages.append({"role": SPEAKERS[speaker], "content": content})
    problems = validate_messages(messages)
    if problems:
        raise ValueError("; ".join(problems))
    return messages


def fixed_labels(tokenizer, messages):
    from course_utils.formats import labels_from_spans, render, tokenize_with_offsets

    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(render(tokenizer, messages[:i], add_generation_prompt=True))
            end = len(render(tokenizer, messages[: i + 1]).rstrip())
            spans.append((start, end))
    ids, offsets = tokenize_with_offsets(tokenizer, text)
    return ids, labels_from_spans(ids, offsets, spans)


def answer_only_labels(tokenizer, messages):
    from course_utils.formats import labels_from_spans, render, tokenize_with_offsets

    text = render(tokenizer, messages)
    turn_start = len(render(tokenizer, messages[:-1], add_generation_prompt=True))
    open_at = text.rfind("<answer>", turn_start)
    close_at = text.rfind("</answer>", turn_start)
    spans = [(open_at, close_at + len("</answer>"))] if turn_start <= open_at < close_at else []
    ids, offsets = tokenize_with_offsets(tokenizer, text)
    return ids, labels_from_spans(ids, offsets, spans)


def dedup_japanese(texts):
    from course_utils.dedup import rouge_l_dedup

    return rouge_l_dedup(list(texts), 0.7, tokenizer="auto")


def worst_false_positive(pairs, is_dup, scores):
    from course_utils.dedup import rouge_l

    index = max((i for i in range(len(pairs)) if not is_dup[i]), key=lambda i: scores[i])
    a, b = pairs[index]
    return {"index": index, "reason": "same_template" if rouge_l(a, b) >= 0.5 else "same_topic"}


SMALL = [
    {"response": "Paris is the capital of France.",
     "constraints": [{"kind": "word_count", "relation": "less than", "n": 10},
                     {"kind": "no_commas"}]},
    {"response": "sure, here are three tips:\n* sleep\n* water\n* walks",
     "constraints": [{"kind": "bullet_count", "n": 3}, {"kind": "lowercase"},
                     {"kind": "no_commas"}]},
    {"response": "I love JSON", "constraints": [{"kind": "json_format"}]},
    {"response": '{"answer": 42}',
     "constraints": [{"kind": "json_format"},
                     {"kind": "include_keywords", "keywords": ["answer"]}]},
]


def levels(results):
    prompts = [r for r in results if r]
    n_constraints = sum(len(r) for r in prompts)
    return {"prompt": sum(all(r) for r in prompts) / len(prompts),
            "instruction": sum(sum(r) for r in prompts) / n_constraints}


def detect_partial_collapse(texts):
    from course_utils.dedup import rouge_l_dedup

    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if len(texts) < 2:
        return False
    near_duplicates = 1 - len(rouge_l_dedup(texts, threshold=0.7)) / len(texts)
    return near_duplicates > 0.1 or ev.collapse_alarm(texts)["alarm"]


def my_budget(plan, price_in_per_m, price_out_per_m):
    from course_utils.budget import estimate_cost

    return sum(estimate_cost(s["items"], s["tokens_in"], s["tokens_out"], price_in_per_m,
                             price_out_per_m) for s in plan.values())



def verifiable_pairs(scored):
    from course_utils.preference import build_pairs

    return build_pairs(scored, prefer=("verifiable",))[0]


def my_agreement(pairs, margin_v=0.25, margin_j=1.0):
    both = agree = 0
    for p in pairs:
        c, r = p["chosen_scores"], p["rejected_scores"]
        if None in (c["verifiable"], r["verifiable"], c["judge"], r["judge"]):
            continue
        gv, gj = c["verifiable"] - r["verifiable"], c["judge"] - r["judge"]
        if abs(gv) >= margin_v and abs(gj) >= margin_j:
            both += 1
            agree += (gv > 0) == (gj > 0)
    return {"both_separate": both, "agree": agree}


def length_slope(rows):
    points = [(s["length"], s["judge"]) for r in rows for s in r["scores"]
              if s["judge"] is not None]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def length_controlled(rows, slope=None):
    slope = length_slope(rows) if slope is None else slope
    return [{**r, "scores": [{**s, "judge": None if s["judge"] is None
                              else s["judge"] - slope * s["length"]} for s in r["scores"]]}
            for r in rows]
