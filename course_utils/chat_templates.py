"""Chat templates and Magpie pre-query prompts, in plain Python (no model, no course imports).

A chat model sees conversations rendered with its chat template. Magpie (notebook 04) renders a
conversation up to the point where a *user* turn starts and lets the model write that turn;
`build_magpie_prompt` cuts that prompt out of the chat template's own rendering (tested on the
real templates of SmolLM2, Qwen2.5, Llama 3.1/3.2, Mistral v0.3 and Gemma 2/3), and
`has_empty_assistant_turn` spots the upstream defect. `course_utils.models` (which builds the LLM)
and `course_utils.magpie` (the lesson) both use this module, so it imports neither.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

__all__ = [
    "BOS_PREFIXES", "FAMILY_PRE_QUERY_TEMPLATES", "LLAMA3_CHAT_TEMPLATE", "PRE_QUERY_TEMPLATES", "ROLES",
    "build_magpie_prompt", "check_messages", "has_empty_assistant_turn", "render_chatml", "render_llama3",
    "render_with", "resolve_pre_query_template",
]

# The pre-query templates distilabel knows by name (the same strings as its MAGPIE_PRE_QUERY_TEMPLATES).
PRE_QUERY_TEMPLATES = {
    "qwen2": "<|im_start|>user\n",  # ChatML: Qwen, SmolLM2 and the course's tiny model
    "llama3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
}
# The text that opens a user turn in more model families (tested against their real templates in
# tests/test_chat_templates.py). With a tokenizer, `build_magpie_prompt` takes the prompt from the chat
# template itself and only checks that it contains this header; the string alone is the prompt when
# there is no conversation and no tokenizer (a server that takes raw prompts).
FAMILY_PRE_QUERY_TEMPLATES = {
    "chatml": PRE_QUERY_TEMPLATES["qwen2"],  # SmolLM2, Qwen2 / Qwen2.5, the tiny model
    "smollm2": PRE_QUERY_TEMPLATES["qwen2"],
    "qwen2.5": PRE_QUERY_TEMPLATES["qwen2"],
    "llama3.1": PRE_QUERY_TEMPLATES["llama3"],  # Llama 3.1 / 3.2 render a system header first
    "mistral": "<s>[INST] ",  # Mistral v0.3 (and v0.2: "[INST] " after the BOS)
    "gemma": "<bos><start_of_turn>user\n",  # Gemma 2 and 3
}
# Beginning-of-text markers that a pre-query template may carry but that must appear only once,
# at the very start of the prompt. (Not ChatML's "<|im_start|>", which starts every turn.)
BOS_PREFIXES = ("<|begin_of_text|>", "<s>", "<bos>")
# Stands for the user's query while the template renders; the prompt is everything before it.
_QUERY_MARK = "MAGPIE-USER-QUERY-7f3a9c"

# The Llama 3 chat format, as a Jinja chat template the course wrote for this lesson: one
# <|begin_of_text|>, then per message a header, a blank line, the content and <|eot_id|>.
LLAMA3_CHAT_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


ROLES = ("system", "user", "assistant")


# --- chat templates ------------------------------------------------------------------------------


def check_messages(messages: Any) -> list[dict]:
    """`messages` as a list of {role, content} dicts, or a ValueError naming the bad message."""
    if not isinstance(messages, (list, tuple)):
        raise ValueError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}.")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} is {m!r}: each message needs a role in {ROLES} and a string content.")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def render_chatml(messages: Sequence[Mapping], add_generation_prompt: bool = False) -> str:
    """ChatML (SmolLM2, Qwen) in plain Python: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in check_messages(messages))
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def render_llama3(messages: Sequence[Mapping], add_generation_prompt: bool = False) -> str:
    """The Llama 3 format in plain Python (what ``LLAMA3_CHAT_TEMPLATE`` renders)."""
    text = "<|begin_of_text|>" + "".join(
        f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
        for m in check_messages(messages))
    return text + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if add_generation_prompt else "")


def resolve_pre_query_template(template: Any) -> str:
    """A template name ("qwen2", "llama3", "mistral", ...) or a literal pre-query string; else an error."""
    if isinstance(template, str) and template in PRE_QUERY_TEMPLATES:
        return PRE_QUERY_TEMPLATES[template]
    if isinstance(template, str) and template in FAMILY_PRE_QUERY_TEMPLATES:
        return FAMILY_PRE_QUERY_TEMPLATES[template]
    if not isinstance(template, str) or not template:
        raise ValueError(f"pre_query_template is {template!r}: Magpie needs the text that starts a user turn. "
                         f"Pass 'qwen2' for ChatML models (SmolLM2, Qwen), 'llama3' for Llama 3, or the literal "
                         f"string your chat template writes before a user message.")
    return template


def render_with(tokenizer: Any, messages: list[dict], add_generation_prompt: bool) -> str:
    """Render with a tokenizer's chat template or a render(messages, add_generation_prompt=...) function."""
    if callable(getattr(tokenizer, "apply_chat_template", None)):
        if getattr(tokenizer, "chat_template", "") is None:
            raise ValueError("This tokenizer has no chat template: set tokenizer.chat_template (e.g. "
                             "course_utils.tiny.CHATML_TEMPLATE) or pass a render function such as render_chatml.")
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    if callable(tokenizer):
        return tokenizer(messages, add_generation_prompt=add_generation_prompt)
    raise ValueError(f"tokenizer must be a Hugging Face tokenizer with a chat template or a function "
                     f"render(messages, add_generation_prompt=...), got {type(tokenizer).__name__}.")


def build_magpie_prompt(tokenizer: Any, messages: Sequence[Mapping], pre_query_template: Any = "qwen2") -> str:
    """The prompt that makes an aligned model write the next *user* turn.

    The chat template decides: the conversation so far (system prompt, earlier turns; possibly
    nothing) is rendered followed by a user message, and the prompt is everything before that
    message's content. So the prompt is exactly what the model saw before a user query in training:
    one beginning-of-text token, a default system prompt where the template inserts one (SmolLM2,
    Qwen2.5), a system prompt moved into the user turn where the template puts it there (Mistral
    v0.3, Gemma 3), and no empty assistant turn. The pre-query template (a name such as "qwen2" or the
    literal user header) must appear in that prompt, which catches a template of the wrong family;
    with no tokenizer and no conversation it is the prompt itself. `tokenizer` is a Hugging Face
    tokenizer or a function ``render(messages, add_generation_prompt=...)`` such as `render_llama3`.
    """
    msgs = check_messages(messages)
    pre = resolve_pre_query_template(pre_query_template)
    if msgs and msgs[-1]["role"] == "user":
        raise ValueError("The conversation ends with a user message, so the next turn is the assistant's: render it "
                         "with apply_chat_template(messages, add_generation_prompt=True), not a Magpie prompt.")
    if tokenizer is None and not msgs:
        return pre
    if any(_QUERY_MARK in m["content"] for m in msgs):
        raise ValueError(f"A message contains {_QUERY_MARK!r}, the marker build_magpie_prompt renders in place "
                         "of the user's query; remove it.")
    rendered = _render_or_explain(tokenizer, msgs + [{"role": "user", "content": _QUERY_MARK}])
    if rendered.count(_QUERY_MARK) != 1:
        raise ValueError("The chat template did not render the new user message exactly once, so the text before "
                         "the user's query cannot be found; this template cannot be used for Magpie.")
    prompt = rendered[:rendered.index(_QUERY_MARK)]
    header = _strip_bos(pre)
    if header.strip() and header not in prompt:
        raise ValueError(f"The pre-query template {pre!r} does not match the chat template, which opens the user "
                         f"turn as {prompt[-60:]!r}. Pass the template's family (e.g. 'qwen2' for ChatML, 'llama3', "
                         f"'mistral', 'gemma') or the literal text it writes before a user message.")
    return prompt


def _strip_bos(text: str) -> str:
    """`text` without a leading beginning-of-text marker (one of BOS_PREFIXES)."""
    for bos in BOS_PREFIXES:
        if text.startswith(bos):
            return text[len(bos):]
    return text


def _render_or_explain(tokenizer: Any, messages: list[dict]) -> str:
    """The conversation rendered without the generation prompt; a template's refusal as a ValueError."""
    try:
        return render_with(tokenizer, messages, add_generation_prompt=False)
    except Exception as exc:  # jinja2's TemplateError (raise_exception in the template) is no ValueError
        if type(exc).__module__.startswith("jinja2"):
            raise ValueError(f"The chat template refused the conversation: {exc}") from exc
        raise


_EMPTY_ASSISTANT = re.compile(
    r"(<\|im_start\|>assistant\n|<\|start_header_id\|>assistant<\|end_header_id\|>\n\n"
    r"|<start_of_turn>model\n)\s*"
    r"(<\|im_start\|>|<\|start_header_id\|>|<\|begin_of_text\|>|<start_of_turn>|<bos>)")


def has_empty_assistant_turn(prompt: str) -> bool:
    """Whether an assistant header is immediately followed by another turn (ChatML, Llama 3, Gemma)."""
    return bool(_EMPTY_ASSISTANT.search(prompt or ""))

