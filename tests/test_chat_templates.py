"""Magpie pre-query prompts on the real chat templates of five model families (issue 13).

The templates are the real strings (tests/data/chat_templates, sources in its README), rendered
by the course's tiny tokenizer with its `chat_template` replaced and the family's BOS/EOS tokens
set. For SmolLM2, Qwen2.5, Llama 3.1/3.2, Mistral v0.3 and Gemma 2/3, with and without a system
prompt, single and multi turn, `build_magpie_prompt` must equal what `apply_chat_template`
renders for the conversation plus a user message, cut just before that message's content.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest

from course_utils import chat_templates as C
from course_utils.tiny import ensure_tiny_model

DATA = Path(__file__).parent / "data" / "chat_templates"
SHA256 = {
    "smollm2.jinja": "872be49dbb638044ad01b60388f48d469ff2980e5f0dccdc22ec907db54d0788",
    "qwen2_5.jinja": "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f",
    "llama3_1.jinja": "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65",
    "llama3_2.jinja": "5816fce10444e03c2e9ee1ef8a4a1ea61ae7e69e438613f3b17b69d0426223a4",
    "mistral_v0_3.jinja": "e16746b40344d6c5b5265988e0328a0bf7277be86f1c335156eae07e29c82826",
    "gemma2.jinja": "ecd6ae513fe103f0eb62e8ab5bfa8d0fe45c1074fa398b089c93a7e70c15cfd6",
    "gemma3.jinja": "7de1c58e208eda46e9c7f86397df37ec49883aeece39fb961e0a6b24088dd3c4",
}
# template file -> (pre-query template name, BOS token, EOS token); None keeps the tiny model's own
FAMILIES = {
    "smollm2": ("smollm2", None, None),
    "qwen2_5": ("qwen2.5", None, None),
    "llama3_1": ("llama3", "<|begin_of_text|>", "<|eot_id|>"),
    "llama3_2": ("llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    "mistral_v0_3": ("mistral", "<s>", "</s>"),
    "gemma2": ("gemma", "<bos>", "<eos>"),
    "gemma3": ("gemma", "<bos>", "<eos>"),
}
SYSTEM = [{"role": "system", "content": "You are a patient math tutor."}]
TURNS = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."},
         {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6."}]
QUERY = "How do I factor x^2 - 1?"  # not the marker build_magpie_prompt uses: an independent check


def template(name: str) -> str:
    """A real chat template from tests/data/chat_templates."""
    return (DATA / f"{name}.jinja").read_text(encoding="utf-8")


_TOKENIZERS: dict = {}


def family_tokenizer(name: str):
    """The tiny tokenizer with the family's real chat template and BOS/EOS tokens (cached)."""
    if name not in _TOKENIZERS:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
        _, bos, eos = FAMILIES[name]
        if bos:
            tok.add_special_tokens({"bos_token": bos, "eos_token": eos})
        tok.chat_template = template(name)
        _TOKENIZERS[name] = tok
    return _TOKENIZERS[name]


def render(tok, messages, add_generation_prompt=False):
    return tok.apply_chat_template(messages, tokenize=False,
                                   add_generation_prompt=add_generation_prompt)


def test_template_files_are_the_recorded_real_strings():
    assert sorted(p.name for p in DATA.glob("*.jinja")) == sorted(SHA256)
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name, digest in SHA256.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
        assert f"{digest}  {name}" in readme and f"`{name}`" in readme


def test_the_trl_copies_are_byte_identical_to_trls():
    from trl import chat_template_utils as T

    assert template("qwen2_5") == T.qwen2_5_chat_template
    assert template("llama3_1") == T.llama3_1_chat_template
    assert template("llama3_2") == T.llama3_2_chat_template
    assert template("gemma2") == T.gemma_chat_template
    assert template("gemma3") == T.gemma3_chat_template


# --- 7 templates (5 families) x {system, no system} x {single, multi turn} -----------------------

@pytest.mark.parametrize("turns", [0, 2, 4], ids=["single", "multi", "multi2"])
@pytest.mark.parametrize("system", [False, True], ids=["no-system", "system"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_magpie_prompt_is_the_template_cut_before_the_user_query(name, system, turns):
    tok = family_tokenizer(name)
    pre, bos, _ = FAMILIES[name]
    conversation = (SYSTEM if system else []) + TURNS[:turns]
    if name == "gemma2" and system:  # Gemma 2's template refuses a system message: we say so
        with pytest.raises(ValueError, match="System role not supported"):
            C.build_magpie_prompt(tok, conversation, pre)
        return
    prompt = C.build_magpie_prompt(tok, conversation, pre)
    full = render(tok, conversation + [{"role": "user", "content": QUERY}])
    assert full.startswith(prompt + QUERY), (prompt, full)
    assert full.count(QUERY) == 1
    def render_function(messages, add_generation_prompt):
        return render(tok, messages, add_generation_prompt)

    assert C.build_magpie_prompt(render_function, conversation, pre) == prompt
    if bos:
        assert prompt.startswith(bos) and prompt.count(bos) == 1
    assert not C.has_empty_assistant_turn(prompt)
    header = C.resolve_pre_query_template(pre)[len(bos or ""):]
    moves_system = name in ("mistral_v0_3", "gemma3") and system  # into the user turn
    assert prompt.endswith(header) or moves_system
    for message in conversation:
        assert message["content"] in prompt, "no message of the conversation may be dropped"


TODAY = datetime.now().strftime("%d %b %Y")
LLAMA_SYSTEM = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                "Cutting Knowledge Date: December 2023\n")
EXPECTED = {  # written out by hand from the templates, for the cases that used to go wrong
    ("smollm2", False, 0):
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\n",
    ("qwen2_5", False, 2):
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        "<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\n",
    ("llama3_1", True, 2):
        LLAMA_SYSTEM + "Today Date: 26 Jul 2024\n\nYou are a patient math tutor.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n",
    ("llama3_2", False, 0):
        LLAMA_SYSTEM + f"Today Date: {TODAY}\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n",
    ("mistral_v0_3", False, 0): "<s>[INST] ",
    ("mistral_v0_3", True, 0): "<s>[INST] You are a patient math tutor.\n\n",
    ("mistral_v0_3", False, 2): "<s>[INST] What is 2+2?[/INST] 4.</s>[INST] ",
    ("mistral_v0_3", True, 4):
        "<s>[INST] What is 2+2?[/INST] 4.</s>[INST] And 3+3?[/INST] 6.</s>"
        "[INST] You are a patient math tutor.\n\n",
    ("gemma2", False, 2):
        "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n4.<end_of_turn>\n<start_of_turn>user\n",
    ("gemma3", True, 0): "<bos><start_of_turn>user\nYou are a patient math tutor.\n\n",
    ("gemma3", True, 2):
        "<bos><start_of_turn>user\nYou are a patient math tutor.\n\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n4.<end_of_turn>\n<start_of_turn>user\n",
}


def _case_id(case) -> str:
    return f"{case[0]}-{['none', 'system'][case[1]]}-{case[2]}"


@pytest.mark.parametrize("case", list(EXPECTED), ids=_case_id)
def test_magpie_prompt_written_out(case):
    name, system, turns = case
    conversation = (SYSTEM if system else []) + TURNS[:turns]
    prompt = C.build_magpie_prompt(family_tokenizer(name), conversation, FAMILIES[name][0])
    assert prompt == EXPECTED[case]


def test_the_old_construction_was_malformed_for_mistral_and_gemma():
    """Rendering the conversation, then appending the pre-query template, repeats the BOS token
    and drops Mistral's system prompt."""
    for name in ("mistral_v0_3", "gemma2", "gemma3"):
        tok = family_tokenizer(name)
        pre, bos, _ = FAMILIES[name]
        old = render(tok, TURNS[:2]) + C.resolve_pre_query_template(pre)
        assert old.count(bos) == 2 and C.build_magpie_prompt(tok, TURNS[:2], pre).count(bos) == 1
    mistral = family_tokenizer("mistral_v0_3")
    old = render(mistral, SYSTEM + TURNS[:2]) + "<s>[INST] "
    assert SYSTEM[0]["content"] not in old  # silently dropped
    assert SYSTEM[0]["content"] in C.build_magpie_prompt(mistral, SYSTEM + TURNS[:2], "mistral")
    # distilabel's way (generation prompt, then the pre-query template): an empty Gemma model turn
    gemma = family_tokenizer("gemma3")
    upstream = render(gemma, TURNS[:2], add_generation_prompt=True) + "<bos><start_of_turn>user\n"
    assert C.has_empty_assistant_turn(upstream)


def test_pre_query_template_names_and_checks():
    assert C.PRE_QUERY_TEMPLATES == {  # distilabel's two names, unchanged
        "qwen2": "<|im_start|>user\n",
        "llama3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"}
    assert C.resolve_pre_query_template("mistral") == "<s>[INST] "
    assert C.resolve_pre_query_template("gemma") == "<bos><start_of_turn>user\n"
    assert C.resolve_pre_query_template("smollm2") == C.resolve_pre_query_template("qwen2")
    assert C.build_magpie_prompt(None, [], "mistral") == "<s>[INST] "  # no tokenizer: a raw prompt
    with pytest.raises(ValueError, match="does not match the chat template"):
        C.build_magpie_prompt(family_tokenizer("qwen2_5"), SYSTEM, "llama3")
    with pytest.raises(ValueError, match="does not match the chat template"):
        C.build_magpie_prompt(family_tokenizer("gemma3"), [], "qwen2")
    marked = [{"role": "system", "content": C._QUERY_MARK}]
    with pytest.raises(ValueError, match="marker"):
        C.build_magpie_prompt(family_tokenizer("qwen2_5"), marked, "qwen2")
    with pytest.raises(ValueError, match="add_generation_prompt=True"):
        C.build_magpie_prompt(family_tokenizer("mistral_v0_3"), TURNS[:1], "mistral")
