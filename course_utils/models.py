"""Which model answers: the only place in the course that decides, and the only one that builds an LLM.

Everything downstream sees a distilabel `LLM`, so the offline teacher, the tiny local model
used in tests and SmolLM2 on Colab are interchangeable.

- `get_llm()`: a loaded LLM for a lesson.
- `unloaded_llm()`: a picklable, not yet loaded LLM for a distilabel Pipeline (the capstone).
- `pipeline_llm(llm)`: a picklable copy of a loaded LLM, for a Pipeline's worker processes.
- `magpie_llm(llm)`: a copy of an LLM that builds correct Magpie prompts (notebook 04).

Backends
- "transformers": a real model through distilabel's `TransformersLLM` (SmolLM2 by default).
- "offline": the offline teacher, rule-based templates that imitate a teacher model.
- "auto": transformers when the model is in the local Hugging Face cache or the hub answers
  within a few seconds; otherwise offline, with a one-line banner. `COURSE_BACKEND` overrides.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .call_log import maybe_wrap
from ._quiet import quiet_distilabel, quiet_progress_bars
from .chat_templates import build_magpie_prompt, resolve_pre_query_template
from .hub import HUB_URL, hub_offline, hub_reachable, is_hub_id
from .redaction import redact_url

BACKENDS = ("auto", "transformers", "offline", "openai")
GPU_MODEL = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
CPU_MODEL = "HuggingFaceTB/SmolLM2-360M-Instruct"
# The hub revision to load. Set COURSE_MODEL_REVISION to a commit hash to freeze the weights.
DEFAULT_REVISION = "main"
TRANSFORMERS_DEFAULTS = {"max_new_tokens": 256, "temperature": 0.7, "do_sample": True}
OFFLINE_DEFAULTS = {"max_new_tokens": 1024, "temperature": 0.7}
SERVER_DEFAULTS = {"max_new_tokens": 256, "temperature": 0.7}
DEFAULT_CONCURRENCY = 8

_banners_shown: set[str] = set()


class BackendError(RuntimeError):
    """The requested backend cannot be used here; the message says how to fix it."""


@dataclass(frozen=True)
class BackendChoice:
    """The backend and model `get_llm` will use, and why."""

    backend: str
    model: str
    reason: str


def has_gpu() -> bool:
    """Whether an NVIDIA GPU is usable, asked through NVML: CUDA itself is never initialised here.

    `torch.cuda.is_available()` in this process would initialise CUDA, and distilabel then forks
    its step workers, which cannot use CUDA after that (PyTorch: "Cannot re-initialize CUDA in
    forked subprocess"). NVML answers the same question without touching CUDA.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # for any later torch.cuda.is_available()
    return _nvml_device_count() > 0


@functools.lru_cache(maxsize=1)
def _nvml_device_count() -> int:
    """How many NVIDIA GPUs NVML sees; asked once per process (the answer does not change)."""
    import ctypes

    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:  # no NVIDIA driver: no GPU
        return 0
    count = ctypes.c_uint(0)
    try:
        if nvml.nvmlInit_v2() != 0:
            return 0
        ok = nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
        nvml.nvmlShutdown()
    except AttributeError:  # a driver library without these symbols
        return 0
    return count.value if ok else 0


def in_local_cache(model: str, revision: str = DEFAULT_REVISION) -> bool:
    """Whether a hub model's config is already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(model, "config.json", revision=revision)
    return isinstance(found, str)


def default_model() -> str:
    """`COURSE_MODEL` if set, else SmolLM2-1.7B on a GPU and SmolLM2-360M on a CPU."""
    return os.environ.get("COURSE_MODEL") or (GPU_MODEL if has_gpu() else CPU_MODEL)


def _is_local(model: str) -> bool:
    return Path(model).expanduser().exists()


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or os.sep + os.sep in model or model.count("/") > 1


def _check_model_name(model: str) -> None:
    if _is_local(model):
        return
    if not is_hub_id(model):
        raise BackendError(
            f"Model path '{model}' does not exist. Pass a Hugging Face hub id such as "
            f"'{CPU_MODEL}', an existing model directory, or build the tiny offline test model "
            f"with `python -m course_utils.tiny <dir>` and pass that directory."
        )


def resolve_backend(backend: str = "auto", model: Optional[str] = None, *, probe_timeout: float = 3.0,
                    base_url: Optional[str] = None) -> BackendChoice:
    """Decide which backend and model to use, without loading anything (a server is asked what it serves)."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}. Use one of {', '.join(map(repr, BACKENDS))} "
                         f"(or set the COURSE_BACKEND environment variable).")
    if backend == "auto":
        env = os.environ.get("COURSE_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"COURSE_BACKEND={env!r} is not a backend. Use one of "
                                 f"{', '.join(map(repr, BACKENDS))}.")
            return resolve_backend(env, model, probe_timeout=probe_timeout, base_url=base_url)
    if backend == "offline":
        return BackendChoice("offline", "offline-teacher", "offline backend requested")
    if backend == "openai":
        return _resolve_server(model, base_url, probe_timeout)
    explicit = model or os.environ.get("COURSE_MODEL")
    model = model or default_model()
    if explicit and _looks_like_path(explicit):
        _check_model_name(explicit)  # a path that does not exist is an error, never a silent fallback
    revision = os.environ.get("COURSE_MODEL_REVISION", DEFAULT_REVISION)
    if backend == "transformers":
        _check_model_name(model)
        if _is_local(model):
            return BackendChoice("transformers", model, "local model directory")
        if in_local_cache(model, revision):
            return BackendChoice("transformers", model, "model found in the local Hugging Face cache")
        if hub_reachable(probe_timeout):
            return BackendChoice("transformers", model, "model hub reachable: the model will be downloaded once")
        raise BackendError(
            f"Cannot load '{model}': it is not in the local Hugging Face cache and the model hub is not "
            f"reachable. Connect to the internet, pre-download it (`hf download {model}`), "
            f"pass a local model directory, or use get_llm(backend='offline')."
        )
    # auto
    if _is_local(model):
        return BackendChoice("transformers", model, "local model directory")
    if is_hub_id(model) and in_local_cache(model, revision):
        return BackendChoice("transformers", model, "model found in the local Hugging Face cache")
    if is_hub_id(model) and hub_reachable(probe_timeout):
        return BackendChoice("transformers", model, "model hub reachable")
    return BackendChoice("offline", "offline-teacher",
                         f"'{model}' is not cached locally and the model hub is not reachable")


# --- OpenAI-compatible servers (Ollama, LM Studio, llama.cpp, vLLM, TGI, transformers serve) --------

SERVER_RECIPES = {  # what a learner runs, and the base URL and model name it then serves
    "Ollama": ("ollama pull qwen2.5:1.5b && ollama serve", "http://localhost:11434/v1", "qwen2.5:1.5b"),
    "LM Studio": ("load a model, then Developer > Start Server", "http://localhost:1234/v1", "<the model id it shows>"),
    "llama.cpp": ("llama-server -m model.gguf --port 8080", "http://localhost:8080/v1", "<any name>"),
    "vLLM": ("vllm serve HuggingFaceTB/SmolLM2-1.7B-Instruct --dtype half  # --dtype half on a T4",
             "http://localhost:8000/v1", "HuggingFaceTB/SmolLM2-1.7B-Instruct"),
    "TGI": ("docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-generation-inference "
            "--model-id HuggingFaceTB/SmolLM2-1.7B-Instruct", "http://localhost:8080/v1", "tgi"),
    "transformers serve": ("transformers serve HuggingFaceTB/SmolLM2-360M-Instruct --port 8000",
                           "http://localhost:8000/v1", "HuggingFaceTB/SmolLM2-360M-Instruct"),
}


def server_models(base_url: str, timeout: float = 5.0, api_key: Optional[str] = None) -> list[str]:
    """The model ids an OpenAI-compatible server lists at `base_url`/models (raises BackendError if none answers)."""
    import requests

    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = requests.get(url, timeout=timeout, headers=headers)
    except requests.RequestException as e:
        raise BackendError(
            f"No OpenAI-compatible server answers at {redact_url(base_url)} ({type(e).__name__}). Start it first "
            f"(e.g. `ollama serve`, `vllm serve MODEL`, `transformers serve MODEL`), or set COURSE_BASE_URL "
            f"to the URL it prints, ending in /v1.") from None
    if response.status_code in (401, 403):
        raise BackendError(f"The server at {redact_url(base_url)} refused the API key (HTTP {response.status_code}): "
                           f"set the environment variable named by api_key_env (default OPENAI_API_KEY).")
    if response.status_code != 200:
        raise BackendError(f"{redact_url(url)} answered HTTP {response.status_code}: is {redact_url(base_url)} the "
                           f"server's OpenAI-compatible base URL (it usually ends in /v1)?")
    try:
        return [str(m["id"]) for m in response.json().get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise BackendError(f"{redact_url(url)} did not answer with a model list: is {redact_url(base_url)} an "
                           f"OpenAI-compatible base URL (it usually ends in /v1)?") from None


def _resolve_server(model: Optional[str], base_url: Optional[str], timeout: float) -> BackendChoice:
    base_url = base_url or os.environ.get("COURSE_BASE_URL")
    if not base_url:
        raise BackendError("The openai backend needs the server's URL: get_llm('openai', base_url=...) or "
                           "COURSE_BASE_URL, e.g. http://localhost:11434/v1 for Ollama, "
                           "http://localhost:8000/v1 for vLLM (notebook 00 lists the recipes).")
    model = model or os.environ.get("COURSE_MODEL")
    served = server_models(base_url, timeout=max(timeout, 5.0), api_key=_api_key(None))
    if not model:
        raise BackendError(f"Name the model to use (model= or COURSE_MODEL). The server at {redact_url(base_url)} "
                           f"serves: {', '.join(served) or 'nothing'}.")
    if served and model not in served:
        raise BackendError(f"The server at {redact_url(base_url)} does not serve {model!r}. It serves: "
                           f"{', '.join(served)}. Set COURSE_MODEL (or model=) to one of them.")
    return BackendChoice("openai", model, f"OpenAI-compatible server at {redact_url(base_url)}")


def _api_key(api_key_env: Optional[str]) -> str:
    """The API key from the named environment variable (default OPENAI_API_KEY); local servers need none."""
    return os.environ.get(api_key_env or "OPENAI_API_KEY") or "not-needed"


def banner(choice: BackendChoice) -> str:
    """The one-line message printed when a backend is chosen."""
    if choice.backend == "openai":
        return f"[course_utils] Using {choice.model} on an {choice.reason}."
    if choice.backend == "offline":
        return (f"[course_utils] Using the OFFLINE TEACHER ({choice.reason}): rule-based templates, "
                f"not a neural network. For a real model: COURSE_BACKEND=transformers "
                f"(needs the hub or a cached/local model, see notebook 00).")
    return f"[course_utils] Using transformers with {choice.model} ({choice.reason})."


def get_llm(backend: str = "auto", model: Optional[str] = None, *, seed: int = 0,
            failure_rates: Any = "default", magpie_pre_query_template: str = "qwen2",
            base_url: Optional[str] = None, api_key_env: Optional[str] = None,
            max_concurrency: Optional[int] = None, **generation_kwargs: Any):
    """Return a loaded distilabel LLM for `backend` ("auto", "transformers", "offline" or "openai").

    "openai" is any OpenAI-compatible server (Ollama, LM Studio, llama.cpp, vLLM, TGI):
    `base_url` (or COURSE_BASE_URL), `model` (or COURSE_MODEL), the API key from the environment
    variable named `api_key_env` (default OPENAI_API_KEY; local servers need none) and at most
    `max_concurrency` requests in flight (or COURSE_MAX_CONCURRENCY, default 8). The server is
    asked what it serves before anything is generated, so a wrong URL or model fails at once.
    "transformers" generates `batch_size` prompts per forward pass (or COURSE_BATCH_SIZE, default 8).
    """
    choice = resolve_backend(backend, model, base_url=base_url)
    _announce(choice)
    if choice.backend == "openai":
        llm = server_llm(choice.model, base_url or os.environ["COURSE_BASE_URL"], api_key_env=api_key_env,
                         max_concurrency=max_concurrency, seed=seed,
                         generation_kwargs={**SERVER_DEFAULTS, **generation_kwargs})
    elif choice.backend == "offline":
        from .teacher.llm import OfflineTeacher  # needs distilabel: imported only when asked for

        kwargs: dict[str, Any] = {"seed": seed, "generation_kwargs": {**OFFLINE_DEFAULTS, **generation_kwargs}}
        if failure_rates != "default":
            kwargs["failure_rates"] = failure_rates
        llm = OfflineTeacher(**kwargs)
    else:
        # SmolLM2 (and the tiny test model) use ChatML, whose user turn starts "<|im_start|>user\n":
        # that is distilabel's "qwen2" pre-query template. Pass "llama3" for Llama 3 models.
        llm = shared_transformers_llm(choice.model, magpie_pre_query_template=magpie_pre_query_template,
                                      generation_kwargs={**TRANSFORMERS_DEFAULTS, **generation_kwargs})
    llm.load()
    llm = maybe_wrap(llm)  # COURSE_COUNT_CALLS set: log every call (tools/count_generation.py)
    return llm


def server_llm(model: str, base_url: str, *, api_key_env: Optional[str] = None,
               max_concurrency: Optional[int] = None, seed: int = 0,
               generation_kwargs: Optional[Mapping] = None, tokenizer: Optional[str] = None):
    """An OpenAI-compatible server's model as a distilabel LLM (picklable; `load()` opens the client).

    `tokenizer` (a hub id or local folder; default: `model` when it is a hub id or a local folder)
    gives the chat template for Magpie prompts (`magpie_llm`). Ollama and LM Studio names of
    SmolLM2 and Qwen2.5 models (`qwen2.5:1.5b`) use the real template the course ships.
    """
    from .openai_llm import ServerLLM  # needs distilabel: imported only when asked for

    concurrency = max_concurrency or int(os.environ.get("COURSE_MAX_CONCURRENCY", DEFAULT_CONCURRENCY))
    if concurrency < 1:
        raise BackendError(f"max_concurrency must be at least 1, got {concurrency}.")
    llm = ServerLLM(model=model, base_url=base_url, api_key=_api_key(api_key_env), max_concurrency=concurrency,
                    tokenizer=tokenizer, generation_kwargs={})
    llm.generation_kwargs = llm._accepted(dict(generation_kwargs or {}))
    return llm


DEFAULT_BATCH_SIZE = 8


def default_batch_size() -> int:
    """Prompts per forward pass on the transformers backend: `COURSE_BATCH_SIZE`, else 8."""
    raw = os.environ.get("COURSE_BATCH_SIZE", "").strip()
    if not raw:
        return DEFAULT_BATCH_SIZE
    return _check_batch_size(raw, "COURSE_BATCH_SIZE")


def _check_batch_size(value: Any, name: str = "batch_size") -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if isinstance(value, bool) or size < 1 or (isinstance(value, float) and size != value):
        raise BackendError(f"{name}={value!r} is not a positive integer: pass the number of "
                           f"prompts the model generates for at once, e.g. 8 (1 = one at a time).")
    return size


def shared_transformers_llm(model: str, *, batch_size: Optional[int] = None, **kwargs: Any):
    """A `TransformersLLM` whose weights are loaded once per process and shared by every step.

    It generates `batch_size` prompts per forward pass (default `COURSE_BATCH_SIZE`, else 8); a
    `batch_size` in `generation_kwargs` (`get_llm("transformers", batch_size=4)` puts it there)
    sets it too.
    """
    generation_kwargs = dict(kwargs.pop("generation_kwargs", None) or {})
    if "batch_size" in generation_kwargs:
        batch_size = generation_kwargs.pop("batch_size")
    if batch_size is not None:
        kwargs["batch_size"] = _check_batch_size(batch_size)
    revision = os.environ.get("COURSE_MODEL_REVISION", DEFAULT_REVISION)
    from .transformers_llm import SharedTransformersLLM  # needs distilabel: imported only when asked for

    return SharedTransformersLLM(model=model, revision=revision, trust_remote_code=False,
                                        device="cuda" if has_gpu() else None,
                                        generation_kwargs=generation_kwargs, **kwargs)


# --- LLMs for distilabel Pipelines (worker processes) ---------------------------------------------


def llm_classes() -> dict[str, type]:
    """distilabel's LLM classes by name (OpenAILLM, vLLM, InferenceEndpointsLLM, ...)."""
    quiet_distilabel()
    import distilabel.models as dm
    from distilabel.models.llms.base import LLM

    return {n: getattr(dm, n) for n in dir(dm)
            if isinstance(getattr(dm, n), type) and issubclass(getattr(dm, n), LLM) and n.endswith("LLM")}


def _offline_teacher(seed: int, generation_kwargs: Mapping, failure_rates: Any = "default"):
    from .teacher.llm import OfflineTeacher  # needs distilabel: imported only when asked for

    # OfflineTeacher.generate accepts **kwargs, which distilabel 1.5.3 lists as a required
    # runtime parameter named "kwargs": give it an empty value so a Pipeline can run it.
    kwargs: dict[str, Any] = {"seed": seed, "generation_kwargs": {**generation_kwargs, "kwargs": {}}}
    if failure_rates != "default":
        kwargs["failure_rates"] = failure_rates
    return OfflineTeacher(**kwargs)


def _plain_transformers_llm(model: str, revision: str, device: Any, generation_kwargs: Mapping):
    """The course's batched TransformersLLM, not loaded (picklable: each worker loads it once)."""
    from .transformers_llm import SharedTransformersLLM  # needs distilabel: imported only when asked for

    return SharedTransformersLLM(model=model, revision=revision, device=device, trust_remote_code=False,
                                 generation_kwargs=dict(generation_kwargs))


def _announce(choice: BackendChoice) -> None:
    message = banner(choice)
    if message not in _banners_shown:  # once per process
        _banners_shown.add(message)
        print(message)


def unloaded_llm(backend: str = "auto", model: Optional[str] = None, *, seed: int = 0,
                 generation_kwargs: Optional[Mapping] = None, llm_section: Optional[Mapping] = None,
                 announce: bool = True):
    """A picklable distilabel LLM, NOT loaded: a Pipeline step loads it in its own worker process.

    backend "llm" builds the distilabel class named in `llm_section["class"]` (vLLM, TGI, an
    OpenAI-compatible server...) from the rest of the section, with the API key read from the
    environment variable named by `api_key_env`; the other backends go through `resolve_backend`.
    """
    gen = dict(generation_kwargs or {})
    if backend == "llm":
        if not isinstance(llm_section, Mapping) or "class" not in llm_section:
            raise BackendError("backend 'llm' needs an llm section naming a distilabel LLM class, e.g. "
                               "{class: OpenAILLM, model: ..., base_url: http://localhost:8000/v1}.")
        section = dict(llm_section)
        name = section.pop("class")
        classes = llm_classes()
        if name not in classes:
            raise BackendError(f"{name!r} is not a distilabel LLM class. Known: {', '.join(sorted(classes))}.")
        key_env = section.pop("api_key_env", None)
        if key_env:
            if not os.environ.get(key_env):
                raise BackendError(f"llm.api_key_env names {key_env!r}, but that environment variable is not set.")
            section["api_key"] = os.environ[key_env]
        if gen and "generation_kwargs" not in section:
            section["generation_kwargs"] = gen
        if announce:
            print(f"[course_utils] Using {name} ({section.get('model', '?')}) as the teacher.")
        return classes[name](**section)
    choice = resolve_backend(backend, model)
    if announce:
        _announce(choice)
    if choice.backend == "openai":
        return server_llm(choice.model, os.environ["COURSE_BASE_URL"], seed=seed,
                          generation_kwargs={**SERVER_DEFAULTS, **gen})
    if choice.backend == "offline":
        return _offline_teacher(seed, gen)
    revision = os.environ.get("COURSE_MODEL_REVISION", DEFAULT_REVISION)
    return _plain_transformers_llm(choice.model, revision, "cuda" if has_gpu() else None,
                                   {**TRANSFORMERS_DEFAULTS, **gen})


def is_offline_teacher(llm: Any) -> bool:
    """Whether `llm` is the course's rule-based offline teacher (it says so in its model_name)."""
    return getattr(llm, "model_name", None) == "offline-teacher"


def pipeline_llm(llm: Any):
    """A picklable copy of a loaded `llm` for a distilabel Pipeline (its steps run in worker processes).

    The offline teacher is rebuilt with the same seed, failure rates and generation settings;
    a transformers model becomes an unloaded `SharedTransformersLLM` (module-level, so picklable,
    and batched: each worker loads it once); a server's LLM is copied
    without its loaded clients (they cannot be pickled).
    """
    quiet_distilabel()
    from distilabel.models import TransformersLLM

    from .openai_llm import ServerLLM  # needs distilabel: imported only when asked for
    from .teacher.llm import OfflineTeacher

    if isinstance(llm, ServerLLM):
        return llm.unloaded_copy()
    if isinstance(llm, OfflineTeacher):
        return _offline_teacher(llm.seed, {k: v for k, v in (llm.generation_kwargs or {}).items() if k != "kwargs"},
                                llm.failure_rates)
    if isinstance(llm, TransformersLLM):
        return _plain_transformers_llm(llm.model, llm.revision, llm.device, llm.generation_kwargs or {})
    return llm


# --- LLMs for Magpie ------------------------------------------------------------------------------


_FIXED_CLASSES: set = set()


@functools.lru_cache(maxsize=None)
def magpie_class(base: type) -> type:
    """`base` (a TransformersLLM class) whose prepare_input builds Magpie prompts with build_magpie_prompt."""
    if base in _FIXED_CLASSES:
        return base

    def prepare_input(self, input):  # noqa: A002 - distilabel's signature
        tokenizer = self._pipeline.tokenizer
        wants_user_turn = not input or input[-1]["role"] != "user"
        if self.use_magpie_template and wants_user_turn and tokenizer.chat_template is not None:
            return build_magpie_prompt(tokenizer, input, self.magpie_pre_query_template)
        return base.prepare_input(self, input)  # the assistant turn: distilabel's own rendering

    fixed = type(f"Magpie{base.__name__}", (base,), {
        "prepare_input": prepare_input, "__module__": "course_utils.magpie",
        "__doc__": f"{base.__name__} whose Magpie prompts come from build_magpie_prompt "
                   f"(no empty assistant turn)."})
    _FIXED_CLASSES.add(fixed)
    return fixed


def magpie_transformers_llm_class() -> type:
    """distilabel's TransformersLLM with correct Magpie prompts, for your own models."""
    quiet_distilabel()
    from distilabel.models import TransformersLLM

    return magpie_class(TransformersLLM)


def upstream_magpie_llm(tokenizer: Any, pre_query_template: Any = "qwen2"):
    """distilabel's own TransformersLLM in Magpie mode around `tokenizer` (no weights): shows its prompts."""
    from types import SimpleNamespace
    quiet_distilabel()
    from distilabel.models import TransformersLLM

    llm = TransformersLLM(model="upstream-prompt-demo", magpie_pre_query_template=pre_query_template,
                          use_magpie_template=True)
    llm._pipeline = SimpleNamespace(tokenizer=tokenizer)  # prepare_input only reads the tokenizer
    return llm


def magpie_llm(llm: Any, pre_query_template: Any = None, **generation_kwargs: Any):
    """A copy of `llm` for Magpie: transformers models get correct prompts (build_magpie_prompt).

    An OpenAI-compatible server (`ServerLLM`) gets the same prompts, rendered with the served
    model's tokenizer (`llm.tokenizer`, the hub id it serves, or the shipped template of a SmolLM2
    or Qwen2.5 model served by Ollama / LM Studio) and sent to its completions endpoint.
    The offline teacher renders no template; its copy answers a repeated prompt with a new draw
    each time, as a sampling model does (`teacher.sampling.SamplingOfflineTeacher`).

    Raises a ValueError naming the fix when the LLM cannot do Magpie (no pre-query template).
    `generation_kwargs` (e.g. max_new_tokens) override the LLM's for the copy only.
    """
    quiet_distilabel()
    from distilabel.models import TransformersLLM
    from distilabel.models.mixins.magpie import MagpieChatTemplateMixin

    from .openai_llm import ServerLLM  # needs distilabel: imported only when asked for
    from .teacher.llm import OfflineTeacher
    from .teacher.sampling import SamplingOfflineTeacher

    if not isinstance(llm, MagpieChatTemplateMixin):
        raise ValueError(f"{type(llm).__name__} cannot do Magpie: it needs a model whose raw prompt you control "
                         f"(TransformersLLM, vLLM, the offline teacher), not a chat API.")
    template = pre_query_template if pre_query_template is not None else llm.magpie_pre_query_template
    update = {"magpie_pre_query_template": resolve_pre_query_template(template)}
    if generation_kwargs:
        update["generation_kwargs"] = {**(llm.generation_kwargs or {}), **generation_kwargs}
    copy = llm.model_copy(update=update)
    if isinstance(llm, TransformersLLM):
        copy.__class__ = magpie_class(type(llm))  # same fields and loaded pipeline, fixed prepare_input
    elif isinstance(llm, OfflineTeacher):
        copy.__class__ = SamplingOfflineTeacher  # repeated prompts get new draws, as when sampling
        copy._seen = Counter()
    elif isinstance(llm, ServerLLM):  # user turns: raw prompts rendered with the served model's tokenizer
        copy.generation_kwargs = copy._accepted(copy.generation_kwargs or {})
        copy.chat_tokenizer()  # no tokenizer: the ValueError that names the fix, now rather than mid-run
    return copy
