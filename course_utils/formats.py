"""Chat format and assistant-only loss masking: from records to `messages`, to tokens, to labels.

SFT data is usually written as instruction / input / response records (the Alpaca style); chat models are
trained on **conversations**: a list of `{"role": ..., "content": ...}` messages (system, user, assistant)
that the tokenizer's chat template renders into one string with role headers such as ChatML's
`<|im_start|>user`. This module

- converts records to messages and validates them (`alpaca_to_messages`, `validate_messages`);
- writes what trainers expect, one `{"messages": [...]}` per line (`to_messages_records`, `write_jsonl_atomic`);
- builds **assistant-only labels**: `build_labels` returns the token ids and labels where every token
  that is not written by the assistant (system, user, role headers) is -100, the index PyTorch's
  cross-entropy ignores, so the model is trained to answer and never to imitate the user;
- shows a mask as coloured tokens (`mask_html`, `mask_text`) and finds leaks (`leaked_tokens`);
- computes the causal language-modelling loss by hand (`causal_lm_loss`).

The assistant spans are found by rendering prefixes of the conversation with the tokenizer's own chat
template, so the same code works for any template that renders a conversation as the concatenation of its
turns (ChatML, SmolLM2, Llama 3, ...), multi-turn included, and says so when a template does not.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from .text_safety import UnsafeTextWarning, find_unsafe, sanitize

ROLES = ("system", "user", "assistant")
IGNORE_INDEX = -100  # labels with this value carry no loss (torch.nn.CrossEntropyLoss's default ignore_index)
# ChatML-style control tokens ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", ...).
_CONTROL = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")

# The logic of SmolLM2-Instruct's chat template, written out so it can be shown without a download:
# ChatML, plus a default system prompt when the conversation has none. (On Colab, compare it with
# `AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-360M-Instruct").chat_template`.)
SMOLLM2_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SMOLLM2_STYLE_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n" + SMOLLM2_DEFAULT_SYSTEM + "<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# --- validation and conversion ----------------------------------------------------------------------------

def find_control_tokens(text: Any, control_tokens: Optional[Iterable[str]] = None) -> list[str]:
    """Control tokens (role markers such as `<|im_start|>`) that appear inside a message's text."""
    if not isinstance(text, str):
        return []
    found = _CONTROL.findall(text)
    for token in control_tokens or ():
        if token and token in text and token not in found:
            found.append(token)
    return found


def validate_messages(messages: Any, *, require_assistant_last: bool = True,
                      control_tokens: Optional[Iterable[str]] = None) -> list[str]:
    """Every problem of a conversation, as sentences; an empty list means it is valid. Never raises.

    A valid training conversation is a non-empty list of `{"role", "content"}` dictionaries: an optional
    system message first, then user and assistant turns alternating, starting with the user and (by
    default) ending with the assistant, every content a non-empty string without control tokens such as
    `<|im_start|>` (text that could forge a role boundary).
    """
    if not isinstance(messages, (list, tuple)):
        return [f"messages must be a list of {{'role', 'content'}} dictionaries, not {type(messages).__name__}"]
    if not messages:
        return ["the conversation is empty: add a user message and an assistant answer"]
    problems: list[str] = []
    roles: list[Optional[str]] = []
    control_tokens = list(control_tokens or ())
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"message {i} is a {type(msg).__name__}, not a dict with 'role' and 'content'")
            roles.append(None)
            continue
        role, content = msg.get("role"), msg.get("content")
        extra = sorted(set(msg) - {"role", "content"})
        if role not in ROLES:
            problems.append(f"message {i} has role {role!r}: use one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            problems.append(f"message {i} ({role}) has content of type {type(content).__name__}: use a string")
        elif not content.strip():
            problems.append(f"message {i} ({role}) has empty content: write the text or drop the row")
        else:
            tokens = find_control_tokens(content, control_tokens)
            if tokens:
                problems.append(f"message {i} ({role}) contains the control token(s) {', '.join(tokens)}: "
                                f"role markers inside a message can forge a turn (prompt injection); remove them")
            if "lone_surrogate" in find_unsafe(content):
                problems.append(f"message {i} ({role}) contains a lone surrogate (half of a UTF-16 pair, such as "
                                f"\"\\ud83d\" in JSON) that no UTF-8 file can hold: repair the text with "
                                f"course_utils.text_safety.sanitize_text")
        if extra:
            problems.append(f"message {i} has unexpected key(s) {extra}: keep only 'role' and 'content'")
        roles.append(role if role in ROLES else None)
    # order: [system] user assistant user assistant ...
    start = 1 if roles[0] == "system" else 0
    for i in range(len(roles)):
        if roles[i] == "system" and i > 0:
            problems.append(f"message {i} is a system message after the first position: merge it into message 0")
    expected = "user"
    for i in range(start, len(roles)):
        if roles[i] is None or roles[i] == "system":
            continue
        if roles[i] != expected:
            problems.append(f"message {i} is {roles[i]!r} but {expected!r} was expected: turns must alternate "
                            f"user, assistant, user, ... starting with the user")
            break
        expected = "assistant" if expected == "user" else "user"
    dialogue = [r for r in roles[start:] if r in ("user", "assistant")]
    if not dialogue:
        problems.append("the conversation has no user or assistant message")
    elif require_assistant_last and roles[-1] != "assistant":
        problems.append("the last message must be the assistant's answer: a training example ends with what "
                        "the model should say")
    return problems


def _text_field(record: dict, names: Sequence[str]) -> Any:
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    return None


def alpaca_to_messages(record: Any, *, system: Optional[str] = None, row: Any = None) -> list[dict]:
    """Convert an instruction / input / response record (Alpaca style) to chat messages, or raise ValueError.

    The user turn is the instruction, followed by the input after a blank line when there is one; the
    assistant turn is the response (`response` or `output`). A `system` key in the record, or the
    `system` argument, becomes the system message. Earlier turns can be given as
    `history=[[user, assistant], ...]` (multi-turn). `row` (an index or id) is named in every error.
    """
    where = f"row {row}" if row is not None else "record"
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a dict with 'instruction' and 'response', got {type(record).__name__}.")
    instruction = _text_field(record, ("instruction", "prompt"))
    response = _text_field(record, ("response", "output", "completion"))
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"{where}: 'instruction' is missing or empty. Fix: write the task the user asks for "
                         f"in 'instruction', or drop the row.")
    if not isinstance(response, str) or not response.strip():
        raise ValueError(f"{where}: 'response' (or 'output') is missing or empty. Fix: generate the answer "
                         f"first, or drop the row: an example without an answer teaches nothing.")
    extra_input = record.get("input") or ""
    if not isinstance(extra_input, str):
        raise ValueError(f"{where}: 'input' must be a string (or empty), not {type(extra_input).__name__}.")
    user = instruction.strip() + (f"\n\n{extra_input.strip()}" if extra_input.strip() else "")
    messages: list[dict] = []
    system_text = record.get("system") or system
    if system_text:
        messages.append({"role": "system", "content": str(system_text).strip()})
    history = record.get("history") or []
    if not isinstance(history, (list, tuple)):
        raise ValueError(f"{where}: 'history' must be a list of [user, assistant] pairs.")
    for j, pair in enumerate(history):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(f"{where}: history[{j}] is {pair!r}; each history item must be a [user, assistant] pair.")
        messages.append({"role": "user", "content": pair[0].strip() if isinstance(pair[0], str) else pair[0]})
        messages.append({"role": "assistant", "content": pair[1].strip() if isinstance(pair[1], str) else pair[1]})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": response.strip()})
    problems = validate_messages(messages)
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems) + ".")
    return messages


def to_messages_records(rows: Iterable[Any], *, system: Optional[str] = None,
                        skip_invalid: bool = False) -> list[dict]:
    """What SFT trainers (TRL's SFTTrainer) expect: one `{"messages": [...]}` record per conversation.

    Each row is either an Alpaca-style record (converted with `alpaca_to_messages`) or already a
    `{"messages": [...]}` record (validated). A bad row raises ValueError naming it, unless
    `skip_invalid=True`, which leaves it out.
    """
    out: list[dict] = []
    for i, row in enumerate(rows):
        try:
            if isinstance(row, dict) and "messages" in row:
                messages = [dict(m) if isinstance(m, dict) else m for m in row["messages"]]
                if system and messages and isinstance(messages[0], dict) and messages[0].get("role") != "system":
                    messages = [{"role": "system", "content": system}] + messages
                problems = validate_messages(messages)
                if problems:
                    raise ValueError(f"row {i}: " + "; ".join(problems) + ".")
            else:
                messages = alpaca_to_messages(row, system=system, row=i)
        except ValueError:
            if skip_invalid:
                continue
            raise
        out.append({"messages": messages})
    return out


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write records as JSON Lines, atomically: a temporary file in the same folder, then `os.replace`.

    A crash half-way leaves the previous file (or no file), never a truncated one that a trainer would
    read without noticing. Every string is sanitized on the way (`text_safety.sanitize_text`: a lone
    surrogate becomes U+FFFD, control characters other than newline and tab are dropped); when any
    string changed, an `UnsafeTextWarning` says how many. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    changed = records_changed = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                record, n = sanitize(record)
                changed, records_changed = changed + n, records_changed + bool(n)
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if changed:
        warnings.warn(f"write_jsonl_atomic(): sanitized {changed} string(s) in {records_changed} record(s) of "
                      f"{path.name} (lone surrogates -> U+FFFD, control characters dropped).",
                      UnsafeTextWarning, stacklevel=2)
    return path


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON Lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- rendering, spans and labels --------------------------------------------------------------------------

def render(tokenizer: Any, messages: Sequence[dict], *, add_generation_prompt: bool = False,
           chat_template: Optional[str] = None) -> str:
    """The conversation as the model sees it: the tokenizer's chat template applied, as text."""
    kwargs = {"chat_template": chat_template} if chat_template else {}
    return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                         add_generation_prompt=add_generation_prompt, **kwargs)


def assistant_char_spans(tokenizer: Any, messages: Sequence[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of every assistant turn in it.

    A span starts after the assistant's role header (the generation prompt) and ends after the
    template's end-of-turn token (`<|im_end|>` in ChatML), which the model must learn to produce to stop;
    whitespace after it is not included. Spans are found by rendering prefixes of the conversation, so
    the template must render a conversation as the concatenation of its turns; a ValueError says so when
    it does not (some templates rewrite earlier turns, e.g. drop their reasoning).
    """
    full = render(tokenizer, messages)
    spans = []
    for i, msg in enumerate(messages):
        if msg.get("role") != "assistant":
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        through = render(tokenizer, messages[: i + 1])
        if not (full.startswith(through) and through.startswith(before)):
            raise ValueError(
                f"The chat template does not render message {i} as a prefix of the whole conversation, so its "
                f"assistant span cannot be found by rendering prefixes. Use a template with {{% generation %}} "
                f"markers and apply_chat_template(..., return_assistant_tokens_mask=True) instead.")
        end = len(through.rstrip())
        spans.append((len(before), max(end, len(before))))
    return full, spans


def tokenize_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of an already rendered text (no extra special tokens) and each token's character span."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def labels_from_spans(input_ids: Sequence[int], offsets: Sequence[tuple[int, int]],
                      spans: Sequence[tuple[int, int]]) -> list[int]:
    """Labels that keep a token's id when the token starts inside one of `spans`, and -100 elsewhere."""
    labels = []
    for token_id, (start, end) in zip(input_ids, offsets):
        inside = end > start and any(s <= start < e for s, e in spans)
        labels.append(int(token_id) if inside else IGNORE_INDEX)
    return labels


def build_labels(tokenizer: Any, messages: Sequence[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and its assistant-only labels.

    Returns `(input_ids, labels)`: `labels[i]` is `input_ids[i]` for the tokens the assistant writes
    (its answers and their end-of-turn token, in every turn) and -100 for everything else: the system
    prompt, the user turns and the role headers. The model computes the loss only where labels are not
    -100 (transformers shifts them by one position itself).
    """
    text, spans = assistant_char_spans(tokenizer, messages)
    input_ids, offsets = tokenize_with_offsets(tokenizer, text)
    return input_ids, labels_from_spans(input_ids, offsets, spans)


def leaked_tokens(tokenizer: Any, messages: Sequence[dict], labels: Sequence[int]) -> list[str]:
    """Tokens that carry loss in `labels` but are not written by the assistant (a leaking mask)."""
    input_ids, reference = build_labels(tokenizer, messages)
    return [tokenizer.decode([tok]) for tok, want, got in zip(input_ids, reference, labels)
            if want == IGNORE_INDEX and got != IGNORE_INDEX]


# --- showing a mask ---------------------------------------------------------------------------------------

def token_strings(tokenizer: Any, input_ids: Sequence[int]) -> list[str]:
    """Each token decoded on its own (special tokens kept)."""
    return [tokenizer.decode([int(t)], skip_special_tokens=False) for t in input_ids]


def mask_text(tokenizer: Any, input_ids: Sequence[int], labels: Sequence[int],
              open_mark: str = "[[", close_mark: str = "]]") -> str:
    """The text with every run of loss-carrying tokens wrapped in [[ ]] (plain-text view of a mask)."""
    out, inside = [], False
    for piece, label in zip(token_strings(tokenizer, input_ids), labels):
        carries = label != IGNORE_INDEX
        if carries and not inside:
            out.append(open_mark)
        elif inside and not carries:
            out.append(close_mark)
        inside = carries
        out.append(piece)
    if inside:
        out.append(close_mark)
    return "".join(out)


def mask_html(tokenizer: Any, input_ids: Sequence[int], labels: Sequence[int]) -> str:
    """HTML showing every token, green when it carries loss and grey when it is masked (-100)."""
    style = ("font-family:monospace;font-size:13px;line-height:1.9;white-space:pre-wrap;"
             "border:1px solid #ddd;padding:8px;border-radius:6px")
    parts = [f'<div style="{style}">']
    for piece, label in zip(token_strings(tokenizer, input_ids), labels):
        carries = label != IGNORE_INDEX
        colour = "#b7f0c0" if carries else "#e6e6e6"
        title = f"label {label}" if carries else "masked (-100)"
        shown = html.escape(piece).replace("\n", "↵\n")
        parts.append(f'<span title="{title}" style="background:{colour};margin:0 1px;'
                     f'border-radius:3px">{shown}</span>')
    parts.append("</div>")
    legend = ('<div style="font-size:12px;margin-top:4px"><span style="background:#b7f0c0">&nbsp;carries loss'
              '&nbsp;</span> <span style="background:#e6e6e6">&nbsp;masked (-100)&nbsp;</span></div>')
    return "".join(parts) + legend


# --- the loss ---------------------------------------------------------------------------------------------

def causal_lm_loss(logits: Any, labels: Any) -> Any:
    """Mean cross-entropy over target tokens, computed by hand (what `model(..., labels=...)` returns).

    The token at position t is predicted from positions < t, so the logits at t are compared with the
    label at t + 1; positions whose label is -100 are left out of the mean.
    """
    import torch

    logits = logits[..., :-1, :].float() if logits.dtype in (torch.float16, torch.bfloat16) else logits[..., :-1, :]
    targets = labels[..., 1:]
    keep = targets != IGNORE_INDEX
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked[keep]).sum() / keep.sum()


def teacher_tokenizer(llm: Any) -> Any:
    """The tokenizer of a transformers-backed LLM from `get_llm()` (None for the offline teacher)."""
    pipe = getattr(llm, "_pipeline", None)
    return getattr(pipe, "tokenizer", None)
