"""`ServerLLM`: distilabel's OpenAI-compatible client, as the course uses it with a local server.

Ollama, LM Studio, llama.cpp's server, vLLM, TGI and `transformers serve` all speak the OpenAI
chat-completions API, so one class reaches all of them. What it adds to distilabel's `OpenAILLM`:
- at most `max_concurrency` requests in flight (distilabel sends a whole batch at once, which a
  laptop server answers slowly or refuses; vLLM and TGI batch whatever is in flight);
- the `generation_kwargs` given to `get_llm` apply to direct `generate_outputs` calls too, and
  transformers-only settings (`do_sample`, ...) are dropped instead of crashing the request;
- `num_generations` answers even from servers that ignore the API's `n` (`transformers serve`):
  the missing samples are asked for one request at a time;
- Magpie (notebook 04): a user turn is rendered with the served model's chat template
  (`build_magpie_prompt`, the tokenizer named by `tokenizer`, the hub id served, or the real template
  the course ships for SmolLM2 and Qwen2.5 under Ollama / LM Studio names) and sent as a raw prompt to
  the completions endpoint; assistant turns stay chat completions. Ollama templates that endpoint
  too, so Magpie refuses it with a message instead of producing answers as user turns.

This module imports distilabel at its top (the class subclasses it): `course_utils.models`
imports it only when a server backend is asked for.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any, Optional

from pydantic import Field, PositiveInt, PrivateAttr

from .generation import token_cap
from ._quiet import quiet_distilabel
from .assistant_mask import real_chat_template
from .chat_templates import build_magpie_prompt, resolve_pre_query_template
from .hub import is_hub_id
from .tiny import ensure_tiny_model

quiet_distilabel()

from distilabel.models import OpenAILLM  # noqa: E402
from distilabel.models.mixins.magpie import MagpieChatTemplateMixin  # noqa: E402

_ACCEPTED = (frozenset(inspect.signature(OpenAILLM.agenerate).parameters)
             - {"self", "input", "num_generations"})


# Ollama and LM Studio name models their own way ("qwen2.5:1.5b", "smollm2-360m-instruct"); every
# size of a family shares one chat template, and the course ships the real ones of these two.
_SERVED_FAMILIES = ((re.compile(r"smollm2", re.I), "smollm2"),
                    (re.compile(r"qwen2\.?5", re.I), "qwen2_5"))


def served_family(model: str) -> Optional[str]:
    """The shipped chat template ('smollm2', 'qwen2_5') a served model's name points to, or None."""
    for pattern, family in _SERVED_FAMILIES:
        if pattern.search(str(model)):
            return family
    return None


def is_ollama(base_url: str, timeout: float = 2.0) -> bool:
    """Whether `base_url` is an Ollama server (it answers GET /api/version, on the same host)."""
    import requests

    root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
    try:
        answer = requests.get(f"{root}/api/version", timeout=timeout)
        return answer.status_code == 200 and "version" in answer.json()
    except (requests.RequestException, ValueError, TypeError):
        return False


def _template_renderer(family: str):
    """A tokenizer that renders `family`'s real chat template (the tiny local vocabulary: text only)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model())
    tokenizer.chat_template = real_chat_template(family)
    return tokenizer


def _merge(outputs: list[dict]) -> dict:
    """One distilabel GenerateOutput from several for the same input."""
    merged: dict = {"generations": [], "statistics": {}}
    for out in outputs:
        merged["generations"].extend(out.get("generations") or [])
        for key, values in (out.get("statistics") or {}).items():
            values = values if isinstance(values, list) else [values]
            merged["statistics"].setdefault(key, []).extend(values)
        if out.get("logprobs"):
            merged.setdefault("logprobs", []).extend(out["logprobs"])
    return merged


class ServerLLM(OpenAILLM, MagpieChatTemplateMixin):
    """An OpenAI-compatible server (Ollama, vLLM, TGI, ...) with bounded requests in flight."""

    max_concurrency: PositiveInt = Field(default=8, description="requests in flight at once")
    tokenizer: Optional[str] = Field(
        default=None, description="the served model's tokenizer (a local folder or hub id) for "
                                  "Magpie prompts; None: the model id when it is a local folder")
    # SmolLM2, Qwen and the course's tiny model use ChatML; pass "llama3" to magpie_llm for Llama 3.
    magpie_pre_query_template: Optional[str] = "qwen2"

    _chat_tokenizer: Any = PrivateAttr(default=None)
    _raw_completions_checked: bool = PrivateAttr(default=False)

    def _accepted(self, kwargs: dict) -> dict:
        return {k: v for k, v in kwargs.items() if k in _ACCEPTED}

    def unloaded_copy(self) -> "ServerLLM":
        """A copy without the loaded clients and event loop: picklable, for a Pipeline's workers."""
        copy = self.model_copy()  # shallow: the private attributes are a new dict
        for key in ("_client", "_aclient", "_event_loop"):
            setattr(copy, key, None)
        copy._new_event_loop = False
        return copy

    def tokenizer_source(self) -> Optional[str]:
        """Where the Magpie chat template comes from: `tokenizer`, a local folder or a hub id."""
        if self.tokenizer:
            return self.tokenizer
        if Path(self.model).expanduser().is_dir() or is_hub_id(self.model):
            return self.model  # vLLM, TGI and `transformers serve` name models by hub id or folder
        return None

    def chat_tokenizer(self):
        """The served model's tokenizer (loaded once), or a ValueError that names the fix."""
        if self._chat_tokenizer is None:
            source = self.tokenizer_source()
            fix = ("set llm.tokenizer to the hub id or local folder of the model the server runs "
                   "(e.g. 'HuggingFaceTB/SmolLM2-360M-Instruct'): its chat template renders the "
                   "prompt")
            family = served_family(self.model) if not self.tokenizer else None
            if source is None and family is None:
                raise ValueError(f"ServerLLM cannot do Magpie with {self.model!r}: the server "
                                 f"renders chat templates itself, so the course needs the model's "
                                 f"tokenizer: {fix}.")
            from transformers import AutoTokenizer

            try:
                if source is None:
                    raise OSError("no tokenizer named")
                tokenizer = AutoTokenizer.from_pretrained(source)
            except (OSError, ValueError) as e:
                if family is None:
                    raise ValueError(f"ServerLLM cannot load the tokenizer {source!r} for Magpie "
                                     f"prompts ({type(e).__name__}): {fix}.") from None
                tokenizer = _template_renderer(family)  # Ollama / LM Studio: the shipped template
            if not getattr(tokenizer, "chat_template", None):
                raise ValueError(f"The tokenizer {source!r} has no chat template: {fix}.")
            self._chat_tokenizer = tokenizer
        return self._chat_tokenizer

    def check_raw_completions(self) -> None:
        """Raise a ValueError naming the fix when the server templates /v1/completions (Ollama)."""
        if self._raw_completions_checked:
            return
        if is_ollama(str(self.base_url)):
            raise ValueError(
                "Magpie needs a raw text completion, but Ollama's /v1/completions wraps the prompt in "
                "the model's chat template again (ollama/ollama#5544), so the model would answer "
                "instead of writing a user turn. For notebook 04 use LM Studio, llama.cpp's "
                "llama-server, vLLM or `transformers serve` (their /v1/completions is raw), or "
                "COURSE_BACKEND=transformers.")
        self._raw_completions_checked = True

    def magpie_prompt(self, messages: list) -> str:
        """The raw prompt that makes the served model write the next user turn."""
        self.check_raw_completions()
        template = resolve_pre_query_template(self.magpie_pre_query_template)
        return build_magpie_prompt(self.chat_tokenizer(), messages, template)  # the template's own default system prompt too

    async def agenerate(self, input, num_generations: int = 1, **kwargs: Any):  # noqa: A002, D401
        """distilabel's, plus raw Magpie user-turn prompts and the samples an ignored `n` lost."""
        kwargs = self._accepted(kwargs)
        if "max_new_tokens" in kwargs:
            kwargs["max_new_tokens"] = token_cap(kwargs["max_new_tokens"])
        user_turn = isinstance(input, list) and (not input or input[-1]["role"] != "user")
        if self.use_magpie_template and user_turn:
            input = self.magpie_prompt(input)  # noqa: A001 - a string: sent to /v1/completions
        generate = super().agenerate
        outputs = [await generate(input=input, num_generations=num_generations, **kwargs)]
        missing = num_generations - len(outputs[0]["generations"])
        for _ in range(max(missing, 0)):  # one at a time: the request stays in its concurrency slot
            outputs.append(await generate(input=input, num_generations=1, **kwargs))
        return outputs[0] if len(outputs) == 1 else _merge(outputs)

    # distilabel reads the accepted generation kwargs from agenerate's signature and docstring
    agenerate.__signature__ = inspect.signature(OpenAILLM.agenerate)
    agenerate.__doc__ = OpenAILLM.agenerate.__doc__

    async def _agenerate(self, inputs, num_generations: int = 1, **kwargs: Any):  # noqa: D401
        """Like distilabel's, but with at most `max_concurrency` requests in flight."""
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(prompt):
            async with gate:
                return await self.agenerate(input=prompt, num_generations=num_generations, **kwargs)

        return list(await asyncio.gather(*(one(p) for p in inputs)))

    def generate_outputs(self, inputs, num_generations: int = 1, **kwargs: Any):
        """distilabel's, with this LLM's `generation_kwargs` as defaults for direct calls."""
        merged = self._accepted({**(self.generation_kwargs or {}), **kwargs})
        return super().generate_outputs(inputs, num_generations, **merged)
