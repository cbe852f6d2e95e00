"""Assistant-only loss on real chat templates: can TRL mask with this template, and if not, fix it.

TRL's `SFTTrainer(..., assistant_only_loss=True)` asks the tokenizer which tokens the assistant
wrote: `apply_chat_template(..., return_assistant_tokens_mask=True)`. transformers answers with the
characters a template renders between `{% generation %}` and `{% endgeneration %}`, so the template
must carry those markers (`supports_assistant_masking`). Most model templates do not. TRL then swaps
in its own training copy of the few templates it recognises byte for byte (Qwen2.5, Llama 3, Gemma,
...) and refuses every other one, SmolLM2's (the course's default model) among them.

`with_generation_markers(template)` returns an equivalent template with the markers. It rewrites the
output tag that prints a whole turn (header + content + end-of-turn token) so that, for an assistant
message, the header is printed outside the markers and the content and end-of-turn token inside;
whitespace after the end-of-turn token stays outside. Those are exactly the tokens
`formats.build_labels` keeps, and the rendered text is byte-identical to the original's. Handled:
SmolLM2 and other ChatML templates, Qwen2.5, Llama 3.1 / 3.2, Mistral v0.3 and Gemma 2 (turns
without tool calls; an assistant turn with `tool_calls` is left unmarked and carries no loss).
Not handled, with a ValueError: templates that print a turn across several tags or through
`{% set %}` (Gemma 3, the original Llama 3), for which TRL ships training templates.

Qwen2.5 and TRL's own `qwen2_5_training.jinja`: it opens the generation block right after
``<|im_start|>assistant`` and closes it after ``<|im_end|>\\n``, so two newline tokens per assistant
turn carry loss that `build_labels` leaves out: the ``\\n`` that ends the role header (at inference
it is part of the generation prompt ``<|im_start|>assistant\\n``, so the model never has to predict
it) and the ``\\n`` after ``<|im_end|>`` (generation stops at ``<|im_end|>``, so it is never
produced). Both are harmless for the model but make TRL's labels differ from `build_labels` on every
conversation; `mask_differences` lists them, and `with_generation_markers` avoids them.

`real_chat_template("smollm2" | "qwen2_5")` returns those two models' real templates, shipped as
course data (course_utils/data/chat_templates, sources and licences in its README) so that a
notebook can show all this without a download.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Optional, Sequence

from ._validate import InputError, require_str
from .formats import IGNORE_INDEX, build_labels, token_strings

__all__ = ["REAL_CHAT_TEMPLATES", "mask_differences", "real_chat_template",
           "supports_assistant_masking", "with_generation_markers"]

# name -> the model whose tokenizer holds that template (files in course_utils/data/chat_templates)
REAL_CHAT_TEMPLATES = {"smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
                       "qwen2_5": "Qwen/Qwen2.5-7B-Instruct"}

_GENERATION = re.compile(r"\{%[-+]?\s*generation\s*[-+]?%\}")
_END_GENERATION = re.compile(r"\{%[-+]?\s*endgeneration\s*[-+]?%\}")
# A message's content, maybe filtered: message['content'], message["content"] | trim, m.content
_CONTENT_TERM = re.compile(r"""^\s*(\w+)\s*(?:\[\s*(['"])content\2\s*\]|\.content)"""
                           r"""(?:\s*\|\s*\w+(?:\s*\([^()]*\))?)*\s*$""")
# A branch that renders one other role only: `message["role"] == "user"`, `(message.role == 'tool')`
_OTHER_ROLE_ONLY = re.compile(r"""^\(?\s*\w+\s*(?:\[\s*['"]role['"]\s*\]|\.role)"""
                              r"""\s*==\s*['"](\w+)['"]\s*\)?$""")
_KEYWORD = re.compile(r"\b(if|else|and|or|not|in|is)\b")


def real_chat_template(name: str) -> str:
    """A real model's chat template shipped with the course, by name (see REAL_CHAT_TEMPLATES)."""
    key = require_str(name, "name", fn="real_chat_template")
    if key not in REAL_CHAT_TEMPLATES:
        raise InputError(f"real_chat_template(): name is {key!r}; use one of "
                         f"{', '.join(sorted(REAL_CHAT_TEMPLATES))}.")
    path = resources.files("course_utils").joinpath(f"data/chat_templates/{key}.jinja")
    return path.read_bytes().decode("utf-8")  # byte for byte: no newline translation


def supports_assistant_masking(template: str) -> bool:
    """Whether `template` marks assistant output with {% generation %}...{% endgeneration %}."""
    text = require_str(template, "template", fn="supports_assistant_masking")
    return bool(_GENERATION.search(text) and _END_GENERATION.search(text))


def with_generation_markers(template: str) -> str:
    """An equivalent chat template whose assistant turns are wrapped in {% generation %} markers.

    A template that already has markers is returned unchanged. The result renders the same text as
    `template` for every conversation; only `return_assistant_tokens_mask=True` sees a difference.
    Raises a ValueError when no output tag prints a whole turn (see the module docstring).
    """
    text = require_str(template, "template", fn="with_generation_markers", allow_empty=False)
    if supports_assistant_masking(text):
        return text
    out, branches, changed = [], [], 0
    for kind, piece in _lex(text):
        if kind == "block":
            _track_branch(branches, piece)
        elif kind == "var" and not any(_excludes_assistant(cond) for cond in branches):
            marked = _mark_turn(piece)
            if marked is not None:
                out.append(marked)
                changed += 1
                continue
        out.append(piece)
    if not changed:
        raise ValueError("with_generation_markers(): no output tag of this template prints a "
                         "whole turn (role header + message content + end-of-turn token), so the "
                         "assistant's part cannot be marked automatically. Add {% generation %} "
                         "... {% endgeneration %} around the assistant's content and end-of-turn "
                         "token by hand, or use TRL's training template for this model "
                         "(trl/chat_templates/*_training.jinja).")
    return "".join(out)


def mask_differences(tokenizer: Any, messages: Sequence[dict],
                     chat_template: Optional[str] = None) -> list[tuple[int, str, str]]:
    """Tokens where the generation-marker mask of `chat_template` and `build_labels` disagree.

    `build_labels` renders with the tokenizer's own template, the mask with `chat_template`
    (default: the same); both must render the same text. Returns `(position, token, "extra")`
    for a token the mask trains on and build_labels does not, `(position, token, "missing")`
    for the reverse.
    """
    template = chat_template or tokenizer.chat_template
    out = tokenizer.apply_chat_template(list(messages), tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True, chat_template=template)
    ids, labels = build_labels(tokenizer, messages)
    if list(out["input_ids"]) != ids:
        raise ValueError("mask_differences(): the two templates render different text, so their "
                         "tokens cannot be compared one by one.")
    pieces = token_strings(tokenizer, ids)
    diffs = []
    for i, (mask, label) in enumerate(zip(out["assistant_masks"], labels)):
        if bool(mask) != (label != IGNORE_INDEX):
            diffs.append((i, pieces[i], "extra" if mask else "missing"))
    return diffs


# --- reading a template ------------------------------------------------------------------------

def _skip_string(text: str, i: int) -> int:
    """The index just after the string literal that starts at `text[i]` (a quote)."""
    quote, i = text[i], i + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise ValueError("with_generation_markers(): the template has an unterminated string literal.")


def _lex(template: str) -> list[tuple[str, str]]:
    """The template cut, losslessly, into ("text" | "var" | "block" | "comment", source) pieces."""
    pieces, i = [], 0
    opener = re.compile(r"\{[{%#]")
    while i < len(template):
        m = opener.search(template, i)
        if m is None:
            pieces.append(("text", template[i:]))
            break
        if m.start() > i:
            pieces.append(("text", template[i:m.start()]))
        if m.group() == "{#":
            end = template.find("#}", m.end())
            if end < 0:
                raise ValueError("with_generation_markers(): unterminated comment in the template.")
            pieces.append(("comment", template[m.start():end + 2]))
            i = end + 2
            continue
        close = "}}" if m.group() == "{{" else "%}"
        j = m.end()
        while not template.startswith(close, j):
            if j >= len(template):
                raise ValueError(f"with_generation_markers(): the tag opened at character "
                                 f"{m.start()} never closes.")
            j = _skip_string(template, j) if template[j] in "'\"" else j + 1
        piece = template[m.start():j + 2]
        if close == "%}" and _tag_body(piece).split()[:1] == ["raw"]:
            raise ValueError("with_generation_markers(): {% raw %} blocks are not supported.")
        pieces.append(("var" if close == "}}" else "block", piece))
        i = j + 2
    return pieces


def _tag_body(tag: str) -> str:
    """What is inside a tag, without its delimiters and whitespace-control signs."""
    body = tag[2:-2]
    body = body[1:] if body[:1] in "-+" else body
    return (body[:-1] if body[-1:] in "-+" else body).strip()


def _track_branch(branches: list, tag: str) -> None:
    """Keep the conditions of the open {% if %} blocks (None for an else branch) up to date."""
    body = _tag_body(tag)
    word, _, rest = body.partition(" ")
    if word == "if":
        branches.append(rest.strip())
    elif word == "elif" and branches:
        branches[-1] = rest.strip()
    elif word == "else" and branches:
        branches[-1] = None
    elif word == "endif" and branches:
        branches.pop()


def _excludes_assistant(condition: Optional[str]) -> bool:
    """Whether an if-branch condition renders one non-assistant role only (`role == "user"`)."""
    m = _OTHER_ROLE_ONLY.match(condition or "")
    return bool(m) and m.group(1) != "assistant"


def _split_terms(expr: str) -> list[str]:
    """`expr` cut at its top-level `+` signs (outside strings and brackets)."""
    terms, depth, start, i = [], 0, 0, 0
    while i < len(expr):
        c = expr[i]
        if c in "'\"":
            i = _skip_string(expr, i)
            continue
        depth += (c in "([{") - (c in ")]}")
        if c == "+" and depth == 0:
            terms.append(expr[start:i])
            start = i + 1
        i += 1
    return terms + [expr[start:]]


def _top_level_keyword(term: str) -> bool:
    """Whether a term has a keyword (if, and, ...) outside its strings and brackets."""
    outside, depth, i = [], 0, 0
    while i < len(term):
        if term[i] in "'\"":
            i = _skip_string(term, i)
            outside.append(" ")
            continue
        depth += (term[i] in "([{") - (term[i] in ")]}")
        outside.append(term[i] if depth == 0 else " ")
        i += 1
    return bool(_KEYWORD.search("".join(outside)))


def _literal(term: str) -> Optional[tuple[str, str]]:
    """(quote, raw body) when `term` is a single string literal, else None."""
    t = term.strip()
    if t[:1] in ("'", '"') and _skip_string(t, 0) == len(t):
        return t[0], t[1:-1]
    return None


def _is_space(term: str) -> bool:
    """Whether a term is a string literal of whitespace only."""
    lit = _literal(term)
    try:
        return lit is not None and not _decode(lit[1]).strip()
    except UnicodeDecodeError:
        return False


def _decode(raw: str) -> str:
    """A string literal's value, the way Jinja's lexer decodes it."""
    return raw.encode("ascii", "backslashreplace").decode("unicode-escape")


def _split_trailing_space(term: str) -> tuple[Optional[str], Optional[str]]:
    """A literal cut into (text, trailing whitespace) literals; (term, None) when it has none."""
    lit = _literal(term)
    if lit is None:
        return term, None
    quote, raw = lit
    value = _decode(raw)
    if not value or not value[-1].isspace():
        return term, None
    for cut in range(len(raw) - 1, -1, -1):  # the shortest raw tail that decodes to the whitespace
        head, tail = raw[:cut], raw[cut:]
        try:
            if _decode(head) == value.rstrip() and _decode(tail) == value[len(value.rstrip()):]:
                return (quote + head + quote if head else None), quote + tail + quote
        except UnicodeDecodeError:
            continue
    return term, None


def _mark_turn(tag: str) -> Optional[str]:
    """The output tag rewritten with generation markers around an assistant's turn, or None."""
    left = tag[2] if tag[2] in "-+" else ""
    right = tag[-3] if tag[-3] in "-+" else ""
    expr = _tag_body(tag)
    terms = _split_terms(expr)
    if any(_top_level_keyword(t) for t in terms):
        return None
    hits = [(i, m) for i, m in ((i, _CONTENT_TERM.match(t)) for i, t in enumerate(terms)) if m]
    if len(hits) != 1:
        return None
    k, match = hits[0]
    header, content, after, trailer = terms[:k], terms[k:k + 1], terms[k + 1:], []
    if all(_is_space(t) for t in header):  # no role header (Mistral's " "): the model writes it
        header, content = [], header + content
    while after:  # whitespace after the end-of-turn token stays outside the markers
        kept, space = _split_trailing_space(after[-1])
        if space is None:
            break
        trailer.insert(0, space)
        after = after[:-1] + ([kept] if kept is not None else [])
        if kept is not None:
            break
    if not after:  # no end-of-turn token after the content: not a whole turn
        return None
    join = " + ".join
    body = join(t.strip() for t in content + after)
    parts = [f"{{%{left if left == '-' else '+'} if {match.group(1)}['role'] == 'assistant' %}}"]
    if header:
        parts.append(f"{{{{ {join(t.strip() for t in header)} }}}}")
    parts.append(f"{{% generation %}}{{{{ {body} }}}}{{% endgeneration %}}")
    if trailer:
        parts.append(f"{{{{ {join(t.strip() for t in trailer)} }}}}")
    parts += [f"{{% else %}}{{{{ {expr} }}}}", f"{{% endif {right if right == '-' else '+'}%}}"]
    return "".join(parts)
