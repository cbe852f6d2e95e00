"""Assistant-only loss on real chat templates (issue 13): markers, TRL and build_labels.

`supports_assistant_masking` tells whether TRL's `assistant_only_loss=True` can work with a
template; `with_generation_markers` adds the markers to SmolLM2's, Qwen2.5's, Llama 3.1/3.2's,
Mistral v0.3's and Gemma 2's real templates (tests/data/chat_templates). The marked templates
render byte-identical text (hypothesis), their assistant masks equal `formats.build_labels`, and
TRL's SFTTrainer trains the tiny model with them. TRL's own Qwen2.5 training template differs
from build_labels by exactly the newline tokens around each assistant turn (explained in
course_utils/assistant_mask.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils import formats as F
from course_utils.assistant_mask import (REAL_CHAT_TEMPLATES, mask_differences,
                                         real_chat_template, supports_assistant_masking,
                                         with_generation_markers)
from course_utils.tiny import CHATML_TEMPLATE, ensure_tiny_model

trl = pytest.importorskip("trl", reason="TRL is not installed: pip install -e '.[dev]'")

DATA = Path(__file__).parent / "data" / "chat_templates"
# template file -> (BOS, EOS, extra special tokens); the tiny tokenizer already has ChatML's tokens
HEADER = ["<|start_header_id|>", "<|end_header_id|>"]
FAMILIES = {
    "smollm2": (None, None, []),
    "qwen2_5": (None, None, []),
    "llama3_1": ("<|begin_of_text|>", "<|eot_id|>", HEADER),
    "llama3_2": ("<|begin_of_text|>", "<|eot_id|>", HEADER),
    "mistral_v0_3": ("<s>", "</s>", ["[INST]", "[/INST]"]),
    "gemma2": ("<bos>", "<eos>", ["<start_of_turn>", "<end_of_turn>"]),
}
END_OF_TURN = {"llama3_1": "<|eot_id|>", "llama3_2": "<|eot_id|>", "mistral_v0_3": "</s>",
               "gemma2": "<end_of_turn>", "smollm2": "<|im_end|>", "qwen2_5": "<|im_end|>"}
NO_SYSTEM = {"gemma2"}  # refuses a system message
# Gemma 3 prints the content in a tag of its own (TRL ships gemma3_training.jinja for it)
NOT_HANDLED = ["gemma3"]


def template(name: str) -> str:
    return (DATA / f"{name}.jinja").read_text(encoding="utf-8")


_TOKENIZERS: dict = {}


def family_tokenizer(name: str):
    """The tiny tokenizer with the family's real (unmarked) template and special tokens (cached)."""
    if name not in _TOKENIZERS:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
        bos, eos, extra = FAMILIES[name]
        if bos:
            tok.add_special_tokens({"bos_token": bos, "eos_token": eos,
                                    "additional_special_tokens": extra})
        tok.chat_template = template(name)
        _TOKENIZERS[name] = tok
    return _TOKENIZERS[name]


def render(tok, messages, chat_template, add_generation_prompt=False):
    return tok.apply_chat_template(messages, tokenize=False, chat_template=chat_template,
                                   add_generation_prompt=add_generation_prompt)


def _user(text):
    return {"role": "user", "content": text}


def _assistant(text):
    return {"role": "assistant", "content": text}


def _system(text):
    return {"role": "system", "content": text}


CONVERSATIONS = [
    [_user("Explain the difference between the mean and the median."),
     _assistant("The mean is the average; the median is the middle value of the sorted data.")],
    [_system("You are a concise assistant."), _user("Summarise: risk grows with the rate."),
     _assistant("A fixed rate removes the risk of rising payments.")],
    [_user("What is the mean of 1, 3, 9?"), _assistant("13 / 3, about 4.33."),
     _user("And the median?"), _assistant("3.")],
    [_system("You are a patient math tutor."), _user("How many cows? 20 heads, 56 legs."),
     _assistant("<thinking>40 legs if all are chickens; 16 more / 2 = 8.</thinking>"
                "<answer>8</answer>"),
     _user("Thanks!"), _assistant("You're welcome.")],
]


def conversations_for(name):
    return [c for c in CONVERSATIONS if not (name in NO_SYSTEM and c[0]["role"] == "system")]


# --- the templates shipped as course data ---------------------------------------------------------

def test_shipped_templates_are_the_test_data_byte_for_byte():
    """Notebook 06 uses the copies in course_utils/data/chat_templates: the same bytes as here."""
    assert sorted(REAL_CHAT_TEMPLATES) == ["qwen2_5", "smollm2"]
    for name in REAL_CHAT_TEMPLATES:
        assert real_chat_template(name).encode("utf-8") == (DATA / f"{name}.jinja").read_bytes()
    shipped = Path(F.__file__).parent / "data" / "chat_templates"
    assert sorted(p.name for p in shipped.glob("*.jinja")) == ["qwen2_5.jinja", "smollm2.jinja"]
    readme = (shipped / "README.md").read_text(encoding="utf-8")
    assert "Apache-2.0" in readme and all(m in readme for m in REAL_CHAT_TEMPLATES.values())
    with pytest.raises(ValueError, match="use one of qwen2_5, smollm2"):
        real_chat_template("llama3")


# --- the two functions ---------------------------------------------------------------------------

def test_which_templates_support_assistant_masking():
    from trl import chat_template_utils as T

    for name in list(FAMILIES) + NOT_HANDLED:
        assert not supports_assistant_masking(template(name)), name  # no real one has markers
    for marked in (CHATML_TEMPLATE, T.qwen2_5_training_chat_template,
                   T.gemma_training_chat_template):
        assert supports_assistant_masking(marked) and T.has_generation_markers(marked)
    assert not supports_assistant_masking("{% generation %}{{ x }}")  # no end marker
    with pytest.raises(ValueError, match="template"):
        supports_assistant_masking(None)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_marked_template_has_the_markers_and_renders_the_same_text(name):
    from trl.chat_template_utils import has_generation_markers

    marked = with_generation_markers(template(name))
    assert marked != template(name)
    assert supports_assistant_masking(marked) and has_generation_markers(marked)
    assert with_generation_markers(marked) == marked  # already marked: unchanged
    tok = family_tokenizer(name)
    for conversation in conversations_for(name):
        for k in range(1, len(conversation) + 1):  # transformers refuses an empty conversation
            for gen in (False, True):
                old = render(tok, conversation[:k], template(name), gen)
                assert render(tok, conversation[:k], marked, gen).encode() == old.encode()


def test_templates_it_cannot_mark_are_refused_clearly():
    from trl.chat_template_utils import llama3_chat_template

    assert with_generation_markers(CHATML_TEMPLATE) == CHATML_TEMPLATE
    for source in [template(name) for name in NOT_HANDLED] + [llama3_chat_template]:
        with pytest.raises(ValueError, match="prints a whole turn"):
            with_generation_markers(source)
    with pytest.raises(ValueError, match="template"):
        with_generation_markers("")


TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(["", " ", "\n", "  padded  ", "a\n\nb", "<|im_end|>", "{{ x }}", "{% if %}",
                     "'quoted\"", "\\n", "東京で一番おいしいラーメン屋は？", "x" * 200]),
)


@st.composite
def conversations(draw, system_allowed=True):
    messages = []
    if system_allowed and draw(st.booleans()):
        messages.append(_system(draw(TEXT)))
    for _ in range(draw(st.integers(0, 3))):
        messages += [_user(draw(TEXT)), _assistant(draw(TEXT))]
    if draw(st.booleans()) or len(messages) < 2:  # at least one user message
        messages.append(_user(draw(TEXT)))
    return messages


@pytest.mark.parametrize("name", list(FAMILIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_marked_template_renders_byte_identical_text_for_any_conversation(name, data):
    messages = data.draw(conversations(system_allowed=name not in NO_SYSTEM))
    gen = data.draw(st.booleans())
    tok = family_tokenizer(name)
    old = render(tok, messages, template(name), gen)
    new = render(tok, messages, with_generation_markers(template(name)), gen)
    assert new.encode() == old.encode()


# --- the mask against build_labels ---------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
def test_marked_mask_equals_build_labels(name):
    tok = family_tokenizer(name)
    marked = with_generation_markers(template(name))
    checked = 0
    for conversation in conversations_for(name):
        if name == "mistral_v0_3" and conversation[0]["role"] == "system":
            # Mistral moves the system prompt into the last user turn, so build_labels (which
            # renders prefixes) refuses; generation markers are the way to mask such a template.
            with pytest.raises(ValueError, match="prefix"):
                F.build_labels(tok, conversation)
            continue
        assert mask_differences(tok, conversation, marked) == []
        out = tok.apply_chat_template(conversation, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True, chat_template=marked)
        trained = tok.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
        space = " " if name == "mistral_v0_3" else ""  # Mistral's answer starts with a space
        answers = [m["content"] for m in conversation if m["role"] == "assistant"]
        assert trained == "".join(space + a + END_OF_TURN[name] for a in answers)
        checked += 1
    assert checked >= 2


def test_trl_qwen2_5_training_template_differs_from_build_labels_by_the_newlines():
    """TRL's qwen2_5_training.jinja also trains on the "\\n" after "<|im_start|>assistant" and
    the "\\n" after "<|im_end|>" of every assistant turn: two tokens per turn, nothing else."""
    from trl.chat_template_utils import qwen2_5_training_chat_template

    tok = family_tokenizer("qwen2_5")
    for conversation in CONVERSATIONS:
        diffs = mask_differences(tok, conversation, qwen2_5_training_chat_template)
        ids, _ = F.build_labels(tok, conversation)
        pieces = F.token_strings(tok, ids)
        turns = sum(m["role"] == "assistant" for m in conversation)
        assert [(token, kind) for _, token, kind in diffs] == [("\n", "extra")] * (2 * turns)
        before = ["".join(pieces[:i]) for i, _, _ in diffs]  # the text up to each extra token
        assert all(text.endswith("<|im_start|>assistant") for text in before[0::2])
        assert all(text.endswith("<|im_end|>") for text in before[1::2])


# --- TRL's SFTTrainer ----------------------------------------------------------------------------

def _dataset(tmp_path, conversations):
    from datasets import load_dataset

    records = F.to_messages_records({"messages": c} for c in conversations)
    path = F.write_jsonl_atomic(tmp_path / "sft.jsonl", records)
    return load_dataset("json", data_files=str(path), split="train")


def _trainer(tmp_path, tiny_model_dir, chat_template, conversations, steps=5):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = chat_template
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=steps, seed=0,
                       per_device_train_batch_size=2, learning_rate=1e-3, logging_steps=1,
                       save_strategy="no", report_to="none", use_cpu=True, max_length=512,
                       assistant_only_loss=True, disable_tqdm=True, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=config, processing_class=tok,
                         train_dataset=_dataset(tmp_path, conversations))
    return trainer, tok


def _collated(trainer, i):
    batch = trainer.data_collator([trainer.train_dataset[i]])
    return batch["input_ids"][0].tolist(), batch["labels"][0].tolist()


def test_trl_refuses_smollm2s_real_template(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="not training-compatible"):
        _trainer(tmp_path, tiny_model_dir, template("smollm2"), CONVERSATIONS)


@pytest.mark.parametrize("name", ["smollm2", "qwen2_5"])
def test_sft_trainer_trains_assistant_only_with_the_marked_template(name, tiny_model_dir, tmp_path):
    marked = with_generation_markers(template(name))
    trainer, tok = _trainer(tmp_path, tiny_model_dir, marked, CONVERSATIONS)
    assert trainer.chat_template is None  # the markers are there: TRL uses the template as it is
    for i, conversation in enumerate(CONVERSATIONS):
        ids, labels = _collated(trainer, i)
        want_ids, want_labels = F.build_labels(tok, conversation)
        assert len(want_ids) < 512, "the sample was truncated: raise max_length"
        assert ids == want_ids
        assert labels == want_labels, F.mask_text(tok, ids, labels)
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 5 and len(losses) == 5
    assert all(math.isfinite(loss) for loss in losses) and math.isfinite(result.training_loss)


def test_sft_trainer_with_qwen2_5s_real_template_uses_trls_training_copy(tiny_model_dir, tmp_path):
    """TRL swaps in qwen2_5_training.jinja: its labels differ from build_labels on every
    conversation, by the newline after "<|im_start|>assistant" and the one after "<|im_end|>"."""
    from trl.chat_template_utils import qwen2_5_training_chat_template

    trainer, tok = _trainer(tmp_path, tiny_model_dir, template("qwen2_5"), CONVERSATIONS, steps=1)
    assert trainer.chat_template == qwen2_5_training_chat_template
    newline = tok.convert_tokens_to_ids(tok.tokenize("\n"))
    for i, conversation in enumerate(CONVERSATIONS):
        ids, labels = _collated(trainer, i)
        want_ids, want_labels = F.build_labels(tok, conversation)
        assert ids == want_ids and labels != want_labels
        extra = [j for j, (got, want) in enumerate(zip(labels, want_labels)) if got != want]
        assert all(want_labels[j] == F.IGNORE_INDEX and [labels[j]] == newline for j in extra)
        assert len(extra) == 2 * sum(m["role"] == "assistant" for m in conversation)
