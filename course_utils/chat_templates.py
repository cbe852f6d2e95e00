"""Chat templates and Magpie pre-query prompts, in plain Python (no model, no course imports).

A chat model sees conversations rendered with its chat template. Magpie (notebook 04) renders a
conversation up to the point where a *user* turn starts and lets the model write that turn;
`build_magpie_prompt` builds that prompt correctly, `has_empty_assistant_turn` spots the upstream
defect. `course_utils.models` (which builds the LLM) and `course_utils.magpie` (the lesson) both
use this module, so it imports neither.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

__all__ = [
    "BOS_PREFIXES", "LLAMA3_CHAT_TEMPLATE", "PRE_QUERY_TEMPLATES", "ROLES", "build_magpie_prompt",
    "check_messages", "has_empty_assistant_turn", "render_chatml", "render_llama3",
    "render_with", "resolve_pre_query_template",
]

# The pre-query templates distilabel knows by name (the same strings as its MAGPIE_PRE_QUERY_TEMPLATES).
PRE_QUERY_TEMPLATES = {
    "qwen2": "<|im_start|>user\n",  # ChatML: Qwen, SmolLM2 and the course's tiny model
    "llama3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
}
# Beginning-of-text markers that a pre-query template may carry but that must appear only once,
# at the very start of the prompt. (Not ChatML's "<|im_start|>", which starts every turn.)
BOS_PREFIXES = ("<|begin_of_text|>",)

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
    """A template name ("qwen2", "llama3") or a literal pre-query string; a clear error otherwise."""
    if isinstance(template, str) and template in PRE_QUERY_TEMPLATES:
        return PRE_QUERY_TEMPLATES[template]
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

    The conversation so far (system prompt, earlier turns; possibly nothing) is rendered with the
    chat template *without* the generation prompt, and the pre-query template is appended. A
    beginning-of-text marker in the pre-query template (Llama 3's ``<|begin_of_text|>``) is kept
    only when nothing was rendered before it. `tokenizer` is a Hugging Face tokenizer or a
    function ``render(messages, add_generation_prompt=...)`` such as `render_llama3`.
    """
    msgs = check_messages(messages)
    pre = resolve_pre_query_template(pre_query_template)
    if msgs and msgs[-1]["role"] == "user":
        raise ValueError("The conversation ends with a user message, so the next turn is the assistant's: render it "
                         "with apply_chat_template(messages, add_generation_prompt=True), not a Magpie prompt.")
    if not msgs:
        return pre
    rendered = render_with(tokenizer, msgs, add_generation_prompt=False)
    for bos in BOS_PREFIXES:
        if pre.startswith(bos) and bos in rendered:
            pre = pre[len(bos):]
    return rendered + pre


_EMPTY_ASSISTANT = re.compile(
    r"(<\|im_start\|>assistant\n|<\|start_header_id\|>assistant<\|end_header_id\|>\n\n)\s*"
    r"(<\|im_start\|>|<\|start_header_id\|>|<\|begin_of_text\|>)")


def has_empty_assistant_turn(prompt: str) -> bool:
    """Whether an assistant header is immediately followed by another turn (ChatML or Llama 3)."""
    return bool(_EMPTY_ASSISTANT.search(prompt or ""))

