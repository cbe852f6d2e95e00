"""Batched generation on the transformers backend, one model call per step, and progress bars."""

from __future__ import annotations

import pytest

import course_utils.models as models
import course_utils.transformers_llm as transformers_llm
from course_utils import progress
from course_utils.models import BackendError, get_llm

WORDS = "mean median variance cows legs python function answer".split()
PROMPTS = [[{"role": "user", "content": " ".join(WORDS[(i + j) % 8] for j in range(3 * i + 1))}]
           for i in range(11)]  # 11 prompts of different lengths: padded batches of 8 and 3


@pytest.fixture(scope="module")
def varied_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model's tokenizer and shape, with weights large enough that greedy outputs differ.

    The tiny model itself answers every prompt with the same newlines (its weights are ~0.02),
    so batched and unbatched outputs would agree even if padding were broken.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("varied") / "model"
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         initializer_range=0.2)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def greedy_llm(varied_model_dir):
    return get_llm("transformers", model=str(varied_model_dir), max_new_tokens=16, do_sample=False)


def _texts(outputs):
    return [out["generations"] for out in outputs]


def test_greedy_outputs_are_identical_batched_and_one_at_a_time(greedy_llm):
    one_at_a_time = _texts(greedy_llm.generate_outputs(PROMPTS, batch_size=1))
    assert len(set(map(tuple, one_at_a_time))) > 5  # the model answers each prompt differently
    assert _texts(greedy_llm.generate_outputs(PROMPTS)) == one_at_a_time  # batch 8
    assert _texts(greedy_llm.generate_outputs(PROMPTS, batch_size=4)) == one_at_a_time


def test_right_padding_would_change_the_outputs(greedy_llm, monkeypatch):
    """The check above can fail: padded on the right, a batch continues from pad tokens."""
    one_at_a_time = _texts(greedy_llm.generate_outputs(PROMPTS, batch_size=1))
    tokenizer = greedy_llm._pipeline.tokenizer
    monkeypatch.setattr(transformers_llm, "_pad_left", lambda tok: setattr(tok, "padding_side", "right"))
    try:
        assert _texts(greedy_llm.generate_outputs(PROMPTS)) != one_at_a_time
    finally:
        tokenizer.padding_side = "left"


def test_the_model_sees_batches_of_batch_size(greedy_llm, monkeypatch):
    model = greedy_llm._pipeline.model
    generate, shapes = model.generate, []

    def spy(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        return generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    greedy_llm.generate_outputs(PROMPTS)
    assert [s[0] for s in shapes] == [8, 3]
    assert shapes[0][1] > 3 * 7  # padded to the longest prompt of the batch
    shapes.clear()
    greedy_llm.generate_outputs(PROMPTS, batch_size=1)
    assert [s[0] for s in shapes] == [1] * len(PROMPTS)
    assert greedy_llm._pipeline._batch_size is None  # the shared pipeline's default is left alone


def test_tiny_model_batched_matches_unbatched_and_pads_left(tiny_model_dir):
    llm = get_llm("transformers", model=str(tiny_model_dir), max_new_tokens=8, do_sample=False)
    tokenizer = llm._pipeline.tokenizer
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert llm.batch_size == models.DEFAULT_BATCH_SIZE == 8
    one_at_a_time = _texts(llm.generate_outputs(PROMPTS, batch_size=1))
    assert _texts(llm.generate_outputs(PROMPTS)) == one_at_a_time


def test_batch_size_from_get_llm_and_environment(tiny_model_dir, monkeypatch):
    llm = get_llm("transformers", model=str(tiny_model_dir), batch_size=3)
    assert llm.batch_size == 3 and "batch_size" not in llm.generation_kwargs
    monkeypatch.setenv("COURSE_BATCH_SIZE", "5")
    assert get_llm("transformers", model=str(tiny_model_dir)).batch_size == 5
    assert get_llm("transformers", model=str(tiny_model_dir), batch_size=2).batch_size == 2


@pytest.mark.parametrize("bad", ["0", "-2", "eight", "2.5"])
def test_bad_batch_size_says_how_to_fix(bad, monkeypatch):
    monkeypatch.setenv("COURSE_BATCH_SIZE", bad)
    with pytest.raises(BackendError, match="COURSE_BATCH_SIZE.*positive integer.*e.g. 8"):
        models.default_batch_size()
    with pytest.raises(BackendError, match="batch_size=0 is not a positive integer"):
        models.shared_transformers_llm("some/model", batch_size=0)


# --- dtype: float16 for bfloat16 weights on a GPU without bfloat16 units (a T4) -------------------


class _FakeLLM:
    def __init__(self, model, device="cuda", device_map=None):
        self.model, self.device, self.device_map = model, device, device_map
        self.revision, self.token = "main", None


def _bf16_model(tmp_path, dtype):
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                dtype=dtype).save_pretrained(tmp_path)
    return str(tmp_path)


def test_float16_instead_of_bfloat16_on_a_gpu_without_bf16(tmp_path, monkeypatch):
    bf16 = _bf16_model(tmp_path / "bf16", "bfloat16")
    fp32 = _bf16_model(tmp_path / "fp32", "float32")
    monkeypatch.setattr(transformers_llm, "_native_bf16", lambda: False)  # a T4
    assert transformers_llm._load_dtype(_FakeLLM(bf16)) == "float16"
    assert transformers_llm._load_dtype(_FakeLLM(bf16, device=None, device_map="auto")) == "float16"
    assert transformers_llm._load_dtype(_FakeLLM(fp32)) == "auto"  # only bfloat16 weights change
    assert transformers_llm._load_dtype(_FakeLLM(bf16, device=None)) == "auto"  # the CPU
    monkeypatch.setattr(transformers_llm, "_native_bf16", lambda: True)  # an A100, H100, L4
    assert transformers_llm._load_dtype(_FakeLLM(bf16)) == "auto"


def test_native_bf16_does_not_count_emulation(monkeypatch):
    """torch calls bf16 supported on a T4 (emulated) by default: ask for native units."""
    import torch

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert transformers_llm._native_bf16() is False and asked == [False]


# --- progress bars --------------------------------------------------------------------------------


class _Recorder:
    """A fake LLM: records the size of each call and answers with the prompt's index."""

    def __init__(self, **attrs):
        self.calls = []
        self.__dict__.update(attrs)

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        self.calls.append(len(inputs))
        return [{"generations": [p[0]["content"]] * num_generations} for p in inputs]


def test_generate_outputs_chunks_by_batch_size_and_keeps_the_order():
    prompts = [[{"role": "user", "content": str(i)}] for i in range(7)]
    batched = _Recorder(batch_size=3)
    outputs = progress.generate_outputs(batched, prompts, desc="test", num_generations=2)
    assert batched.calls == [3, 3, 1]
    assert [o["generations"] for o in outputs] == [[str(i)] * 2 for i in range(7)]
    server = _Recorder(max_concurrency=1)
    progress.generate_outputs(server, prompts, desc="test")
    assert server.calls == [progress.SERVER_CHUNK_FACTOR, 7 - progress.SERVER_CHUNK_FACTOR]
    plain = _Recorder()  # the offline teacher, vLLM: one call
    progress.generate_outputs(plain, prompts, desc="test")
    assert plain.calls == [7]


def test_bars_show_items_rate_and_eta_unless_tqdm_disable(monkeypatch, capsys):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert list(progress.progress(range(3), "counting")) == [0, 1, 2]
    prompts = [[{"role": "user", "content": "x"}]] * 3
    progress.generate_outputs(_Recorder(batch_size=2), prompts, desc="quiet")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert list(progress.progress(range(3), "counting", unit="row")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "counting" in err and "3/3" in err and "row/s" in err
    with progress.bar(4, "by hand") as shown:
        shown.update(4)
        assert progress.outer_bar_active()
    assert not progress.outer_bar_active()
    assert "4/4" in capsys.readouterr().err


def test_backend_draws_its_own_bar_only_outside_a_loop_bar(greedy_llm, monkeypatch, capsys):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    greedy_llm.generate_outputs(PROMPTS)
    assert "generating" in capsys.readouterr().err  # a direct call (notebook 05's CoT batch)
    progress.generate_outputs(greedy_llm, PROMPTS, desc="Evol-Instruct round 1/1")
    err = capsys.readouterr().err
    assert "Evol-Instruct round 1/1" in err and "generating" not in err


# --- one model call per step ----------------------------------------------------------------------


@pytest.fixture
def counted_teacher():
    llm = get_llm("offline", seed=0)
    sizes: list[int] = []
    original = llm.generate_outputs

    def counted(inputs, num_generations=1, **kwargs):
        sizes.append(len(inputs))
        return original(inputs, num_generations, **kwargs)

    object.__setattr__(llm, "generate_outputs", counted)
    return llm, sizes


def test_self_instruct_and_evolve_make_one_call_per_round(counted_teacher):
    from course_utils.evol import EXAMPLE_INSTRUCTIONS, evolve
    from course_utils.self_instruct import load_seed_tasks, self_instruct

    llm, sizes = counted_teacher
    self_instruct(llm, load_seed_tasks(), rounds=3, prompts_per_round=5, seed=0)
    assert sizes == [5, 5, 5]
    sizes.clear()
    evolve(llm, list(EXAMPLE_INSTRUCTIONS), rounds=2, seed=0)
    assert sizes == [len(EXAMPLE_INSTRUCTIONS)] * 2


def test_capstone_answers_and_judges_a_batch_in_one_call_each(counted_teacher):
    from course_utils import capstone

    llm, sizes = counted_teacher
    cfg = capstone.small_config(**{"quality.method": "judge"})
    rows = capstone._input_rows(cfg)[:8]
    out, counts = capstone.generate_batch(llm, rows, cfg)
    rounds = cfg["self_instruct"]["rounds"] + cfg["evol"]["rounds"]
    judged = sum(1 for r in out if r["kind"] != "dialogue" and r["response"])
    assert judged > 0
    assert sizes == sizes[:rounds] + [len(out), judged]  # the rounds, all answers, all judgements
    assert len(out) == counts["answered"] + counts["failed"] > 4
    stats = [r["distilabel_metadata"]["statistics_generate"] for r in out if r["response"]]
    assert stats and all(s["output_tokens"] > 0 for s in stats)
