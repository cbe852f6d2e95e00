"""`SharedTransformersLLM`: distilabel's TransformersLLM as the course uses it.

- Each (model, revision, device) is loaded once per process and shared by every step.
- `batch_size` prompts per forward pass, left-padded with a pad token: distilabel's own class
  hands the pipeline one prompt at a time.
- float16 instead of bfloat16 on a GPU without native bf16 (a T4), decided where the model loads.

The class is defined at module level, so a distilabel Pipeline can pickle it into its worker
processes. This module imports distilabel at its top: `course_utils.models` imports it only
when the transformers backend is asked for.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, PositiveInt

from ._quiet import quiet_distilabel, quiet_progress_bars
from .generation import token_cap
from .models import _check_batch_size, default_batch_size
from .progress import bar, outer_bar_active

quiet_distilabel()

from distilabel.models import TransformersLLM  # noqa: E402

_pipelines: dict[tuple, Any] = {}


class SharedTransformersLLM(TransformersLLM):
    """distilabel's TransformersLLM, loading each (model, revision, device) once per process.

    It also generates `batch_size` prompts per forward pass (left-padded): distilabel's own
    class hands the pipeline one prompt at a time.
    """

    batch_size: PositiveInt = Field(default_factory=default_batch_size,
                                    description="prompts per forward pass (COURSE_BATCH_SIZE)")

    def load(self) -> None:  # noqa: D401 - distilabel API
        key = (self.model, self.revision, str(self.device), str(self.device_map))
        if key not in _pipelines:
            _pipelines[key] = _build_pipeline(self)
        self._pipeline = _pipelines[key]
        _pad_left(self._pipeline.tokenizer)
        # LLM.load sets up the logger; skip TransformersLLM.load, which would load again.
        super(TransformersLLM, self).load()

    def unload(self) -> None:  # keep the shared weights for the other steps
        pass

    def generate_outputs(self, inputs, num_generations: int = 1, **kwargs):
        """Like distilabel's, but direct calls also use the `generation_kwargs` given to `get_llm`."""
        return super().generate_outputs(inputs, num_generations, **{**(self.generation_kwargs or {}), **kwargs})

    def generate(self, inputs, num_generations: int = 1, max_new_tokens: int = 128,
                 temperature: float = 0.1, repetition_penalty: float = 1.1, top_p: float = 1.0,
                 top_k: int = 0, do_sample: bool = True, batch_size: Optional[int] = None):
        """Generates `num_generations` responses per input, `batch_size` per forward pass.

        Args:
            inputs: a list of inputs in chat format to generate responses for.
            num_generations: the number of generations to create per input.
            max_new_tokens: the maximum number of new tokens that the model will generate.
            temperature: the temperature to use for the generation.
            repetition_penalty: the repetition penalty to use for the generation.
            top_p: the top-p value to use for the generation.
            top_k: the top-k value to use for the generation.
            do_sample: whether to use sampling or not.
            batch_size: inputs per forward pass; defaults to the LLM's `batch_size`.

        Returns:
            A list of lists of strings containing the generated responses for each input.
        """
        size = _check_batch_size(batch_size) if batch_size is not None else self.batch_size
        kwargs = dict(num_generations=num_generations, max_new_tokens=token_cap(max_new_tokens),
                      temperature=temperature, repetition_penalty=repetition_penalty,
                      top_p=top_p, top_k=top_k, do_sample=do_sample)
        pipe = self._pipeline
        _pad_left(pipe.tokenizer)
        before = pipe._batch_size
        pipe._batch_size = max(1, min(size, len(inputs)))  # its default, for this call only
        try:
            if len(inputs) <= size or outer_bar_active():
                return super().generate(inputs, **kwargs)
            outputs = []  # batch by batch (the same batches as one call), with a progress bar
            with bar(len(inputs), "generating") as shown:
                for start in range(0, len(inputs), size):
                    outputs += super().generate(inputs[start:start + size], **kwargs)
                    shown.update(len(inputs[start:start + size]))
            return outputs
        finally:
            pipe._batch_size = before


def _pad_left(tokenizer: Any) -> None:
    """Pad batches on the left (a decoder continues from the last token), with a pad token set."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"


def _load_dtype(llm: Any) -> Any:
    """The checkpoint's dtype ("auto"), but float16 for bfloat16 weights on a GPU without bf16.

    A T4 (Colab's free GPU) has no bfloat16 units: PyTorch emulates them, far slower than float16.
    This runs where the model is loaded, so asking CUDA here does not initialise it in a parent
    process that distilabel later forks.
    """
    on_cuda = str(llm.device or "").startswith("cuda") or llm.device_map not in (None, "cpu")
    if not on_cuda or _native_bf16():
        return "auto"
    from transformers import AutoConfig

    token = llm.token.get_secret_value() if llm.token is not None else None
    config = AutoConfig.from_pretrained(llm.model, revision=llm.revision, token=token,
                                        trust_remote_code=False)
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return "float16" if str(dtype).replace("torch.", "") == "bfloat16" else "auto"


def _native_bf16() -> bool:
    """Whether the CUDA GPU computes in bfloat16 natively (compute capability 8.0+, Ampere on)."""
    import torch

    if not torch.cuda.is_available():
        return True  # no GPU after all: the CPU path loads "auto"
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # an older torch without the argument
        return torch.cuda.get_device_capability()[0] >= 8


def _build_pipeline(llm):
    """Create the transformers text-generation pipeline (dtype spelled as this version wants it)."""
    import transformers
    from transformers import pipeline
    quiet_progress_bars()

    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    token = llm.token.get_secret_value() if llm.token is not None else None
    kwargs = {dtype_key: _load_dtype(llm)}
    pipe = pipeline("text-generation", model=llm.model, revision=llm.revision,
                    trust_remote_code=False, tokenizer=llm.tokenizer or llm.model,
                    device=llm.device, device_map=llm.device_map, token=token,
                    return_full_text=False, **kwargs)
    _pad_left(pipe.tokenizer)
    return pipe
