"""The capstone's configuration: the shipped defaults, validation, and the input rows it names.

Every key is required and checked (`validate_config`); a bad value raises `CapstoneError` with a
message that says how to fix it. `read_seeds` reads a seed file; `_input_rows` turns a config
into the rows the pipeline's load step yields.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional

from ..cot import DIALOGUE_PROMPTS, generate_problems
from ..evol import resolve_operators
from ..models import BACKENDS as MODEL_BACKENDS
from ..models import llm_classes
from ..preference import SOURCES as PREFERENCE_SOURCES
from ..self_instruct import load_seed_tasks

__all__ = ["BACKENDS", "CapstoneError", "DEFAULT_CONFIG_FILE", "OPTIONAL_SECTIONS",
           "check_environment", "default_config", "load_config", "preference_enabled",
           "read_seeds", "sft_config", "small_config", "validate_config"]

DEFAULT_CONFIG_FILE = "data/capstone.yaml"
BACKENDS = ("auto", "offline", "transformers", "llm")
# sections a config may leave out (the stage is then off); present, every key of it is required
OPTIONAL_SECTIONS = ("preference",)
_DIALOGUE_EXTRA = ["Good morning!", "Thanks a lot, that helped.", "Can you help me?",
                   "Nice to meet you!", "See you tomorrow!", "What's up?", "Have a nice day!",
                   "Sorry, I have to go now."]


class CapstoneError(ValueError):
    """Bad input (config, seed file, output folder): the message says what is wrong and the fix."""


def default_config() -> dict:
    """The shipped default configuration (`course_utils/data/capstone.yaml`) as a dict."""
    import yaml

    package = resources.files("course_utils")
    return yaml.safe_load(package.joinpath(DEFAULT_CONFIG_FILE).read_text(encoding="utf-8"))


def small_config(**overrides: Any) -> dict:
    """A small, fast configuration for tests and the notebook: offline teacher, no embedding model.

    `overrides` are dotted keys, e.g. `small_config(**{"mixing.share": 0.2})`.
    """
    cfg = default_config()
    cfg["backend"] = "offline"
    cfg["name"] = "capstone-small"
    cfg["output"]["distiset"] = True
    for key, value in overrides.items():
        _set_dotted(cfg, key, value)
    return validate_config(cfg)


def _set_dotted(cfg: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = cfg
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise CapstoneError(f"Unknown config key {key!r}: {p!r} is not a section.")
        node = node[p]
    node[parts[-1]] = value


def _schema() -> dict:
    return default_config()


def _check_keys(cfg: Mapping, schema: Mapping, where: str) -> None:
    if not where:  # an optional section left out: its stage is off
        schema = {k: v for k, v in schema.items() if k in cfg or k not in OPTIONAL_SECTIONS}
    for key in cfg:
        if key not in schema:
            section = " in " + where.rstrip(".") if where else ""
            raise CapstoneError(f"Unknown config key {where}{key!r}. Valid keys{section}: "
                                f"{', '.join(schema)}. Check the spelling against "
                                f"course_utils/data/capstone.yaml.")
    for key, default in schema.items():
        if key not in cfg:
            raise CapstoneError(f"Missing config key {where}{key} (the default is {default!r}); "
                                f"every key is required, copy it from "
                                f"course_utils/data/capstone.yaml.")
        if isinstance(default, dict):
            if not isinstance(cfg[key], Mapping):
                raise CapstoneError(f"Config key {where}{key} must be a section (a mapping), "
                                    f"got {cfg[key]!r}.")
            _check_keys(cfg[key], default, f"{where}{key}.")


def _num(cfg: dict, key: str, lo: float, hi: float = float("inf"), integer: bool = False,
         nullable: bool = False) -> None:
    node = cfg
    for p in key.split("."):
        node = node[p]
    if node is None and nullable:
        return
    kinds = int if integer else (int, float)
    ok = not isinstance(node, bool) and isinstance(node, kinds) and lo <= node <= hi
    if not ok:
        kind = "an integer" if integer else "a number"
        raise CapstoneError(f"Config key {key} must be {kind} in [{lo}, {hi}], got {node!r}.")


def validate_config(cfg: Any) -> dict:
    """Check every key and value of a config dict; returns a deep copy, or raises CapstoneError."""
    if not isinstance(cfg, Mapping):
        raise CapstoneError("The config must be a YAML mapping (key: value lines); start from "
                            "course_utils/data/capstone.yaml.")
    cfg = copy.deepcopy(dict(cfg))
    _check_keys(cfg, _schema(), "")
    if not isinstance(cfg["name"], str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", cfg["name"]):
        raise CapstoneError(f"name must be a simple identifier such as 'capstone-sft', "
                            f"got {cfg['name']!r}.")
    _num(cfg, "seed", 0, integer=True)
    if cfg["backend"] not in BACKENDS:
        raise CapstoneError(f"backend must be one of {', '.join(BACKENDS)}, "
                            f"got {cfg['backend']!r}.")
    if cfg["model"] is not None and not isinstance(cfg["model"], str):
        raise CapstoneError("model must be a hub id, a local folder or null.")
    _validate_llm_section(cfg["llm"], required=cfg["backend"] == "llm")
    _num(cfg, "generation.max_new_tokens", 1, integer=True)
    _num(cfg, "generation.temperature", 0, 2)
    _num(cfg, "generation.batch_size", 1, integer=True)
    _num(cfg, "generation.retries", 0, 10, integer=True)
    if not isinstance(cfg["generation"]["allow_lost_batches"], bool):
        raise CapstoneError("generation.allow_lost_batches must be true or false.")
    if cfg["seeds"]["file"] is not None and not isinstance(cfg["seeds"]["file"], str):
        raise CapstoneError("seeds.file must be a path to a JSONL file or null.")
    _num(cfg, "seeds.n", 1, integer=True)
    _num(cfg, "seeds.math_problems", 0, integer=True)
    _num(cfg, "seeds.dialogue", 0, integer=True)
    _num(cfg, "self_instruct.rounds", 1, integer=True)
    _num(cfg, "self_instruct.prompts_per_batch", 1, integer=True)
    _num(cfg, "self_instruct.threshold", 0, 1)
    _num(cfg, "evol.rounds", 0, integer=True)
    if cfg["evol"]["operators"] is not None:
        try:
            resolve_operators(cfg["evol"]["operators"])
        except ValueError as e:
            raise CapstoneError(f"evol.operators: {e}") from None
    _num(cfg, "filters.min_response_words", 0, integer=True)
    _num(cfg, "filters.max_response_words", 1, integer=True)
    if cfg["filters"]["min_response_words"] > cfg["filters"]["max_response_words"]:
        raise CapstoneError(f"filters.min_response_words ({cfg['filters']['min_response_words']}) "
                            f"is above filters.max_response_words "
                            f"({cfg['filters']['max_response_words']}): no answer could pass. "
                            f"Lower the minimum or raise the maximum.")
    if not isinstance(cfg["filters"]["check_math_answers"], bool):
        raise CapstoneError("filters.check_math_answers must be true or false.")
    _num(cfg, "dedup.rouge_threshold", 0, 1)
    _num(cfg, "dedup.embedding_threshold", 0, 1, nullable=True)
    if cfg["quality"]["method"] not in ("rules", "judge"):
        raise CapstoneError(f"quality.method must be 'rules' or 'judge', "
                            f"got {cfg['quality']['method']!r}.")
    _num(cfg, "quality.min_complexity", 0)
    _num(cfg, "quality.min_judge_score", 1, 10)
    _num(cfg, "mixing.share", 0, 0.5)
    _validate_output(cfg["output"])
    if "preference" in cfg:
        _validate_preference(cfg)
    return cfg


def _validate_preference(cfg: dict) -> None:
    """The optional preference stage: k candidates, scored, paired (`course_utils.preference`)."""
    pref = cfg["preference"]
    if not isinstance(pref["enabled"], bool):
        raise CapstoneError("preference.enabled must be true or false.")
    _num(cfg, "preference.k", 2, integer=True)
    _num(cfg, "preference.temperature", 0, 2)
    if pref["temperature"] == 0:
        raise CapstoneError("preference.temperature is 0: greedy decoding gives k identical "
                            "responses, so no pair can be found. Use a temperature above 0, "
                            "e.g. 1.0.")
    _num(cfg, "preference.max_new_tokens", 1, integer=True)
    prefer = pref["prefer"]
    if (not isinstance(prefer, list) or not prefer
            or not all(isinstance(p, str) for p in prefer)):
        raise CapstoneError(f"preference.prefer must be a list of sources from "
                            f"{', '.join(PREFERENCE_SOURCES)}, e.g. [verifiable, judge], "
                            f"got {prefer!r}.")
    unknown = [p for p in prefer if p not in PREFERENCE_SOURCES]
    if unknown or len(set(prefer)) != len(prefer):
        what = f"has unknown source(s) {unknown}" if unknown else "names a source twice"
        raise CapstoneError(f"preference.prefer {what}: use each of "
                            f"{', '.join(PREFERENCE_SOURCES)} at most once, in the order they "
                            f"decide, e.g. [verifiable, judge].")
    margin = pref["margin"]
    if not isinstance(margin, Mapping):
        raise CapstoneError(f"preference.margin must be a mapping from source to the smallest "
                            f"score difference that decides a pair, e.g. {{verifiable: 0.25, "
                            f"judge: 1.0, length: 0.25}}, got {margin!r}.")
    for key in margin:  # verifiable: a share of checks, judge: 1-10 points, length: relative
        _num(cfg, f"preference.margin.{key}", 0, 1 if key != "judge" else 9)
    _num(cfg, "preference.max_per_prompt", 1, integer=True)
    _num(cfg, "preference.max_longer_share", 0, 1, nullable=True)


def preference_enabled(cfg: Mapping) -> bool:
    """Whether a validated config runs the optional preference stage."""
    section = cfg.get("preference")
    return isinstance(section, Mapping) and section.get("enabled") is True


def sft_config(cfg: dict) -> dict:
    """The config without a preference section that is off: what the SFT pipeline and its cache
    keys see, so a disabled (or absent) section changes no step, cache folder or export hash."""
    if "preference" in cfg and not preference_enabled(cfg):
        return {k: v for k, v in cfg.items() if k != "preference"}
    return cfg


def _validate_output(out: dict) -> None:
    jsonl = out["jsonl"]
    if not isinstance(jsonl, str) or not jsonl.endswith(".jsonl") or re.search(r"[/\\\0]", jsonl):
        raise CapstoneError(f"output.jsonl must be a file name ending in .jsonl, got {jsonl!r}.")
    if jsonl.startswith(".") or not jsonl[:-len(".jsonl")].strip():
        raise CapstoneError(f"output.jsonl {jsonl!r} is a hidden file name (it starts with a dot "
                            f"or has nothing before .jsonl): use a visible name such as "
                            f"train.jsonl.")
    for key in ("distiset", "card"):
        if not isinstance(out[key], bool):
            raise CapstoneError(f"output.{key} must be true or false.")
    if out["system_prompt"] is not None and not isinstance(out["system_prompt"], str):
        raise CapstoneError("output.system_prompt must be text or null.")
    if out["cache_dir"] is not None and not isinstance(out["cache_dir"], str):
        raise CapstoneError("output.cache_dir must be a folder path or null.")


def _validate_llm_section(section: Any, required: bool) -> None:
    """The `llm` section names a distilabel LLM class and its fields (checked, not instantiated)."""
    if section is None:
        if required:
            raise CapstoneError("backend is 'llm' but the llm section is null: name a distilabel "
                                "LLM class, e.g. llm: {class: OpenAILLM, model: ..., "
                                "base_url: http://localhost:8000/v1}.")
        return
    if not isinstance(section, Mapping) or "class" not in section:
        raise CapstoneError("llm must be null or a mapping with a 'class' key naming a distilabel "
                            "LLM, e.g. {class: OpenAILLM, model: ..., base_url: ...}.")
    name = section["class"]
    if not isinstance(name, str):
        raise CapstoneError(f"llm.class must be the name of one distilabel LLM class (text such as "
                            f"OpenAILLM), got a {type(name).__name__}.")
    classes = llm_classes()
    if name not in classes or inspect.isabstract(classes[name]) or name in _NOT_A_TEACHER:
        usable = sorted(n for n, c in classes.items()
                        if not inspect.isabstract(c) and n not in _NOT_A_TEACHER)
        raise CapstoneError(f"llm.class {name!r} is not a distilabel LLM class the capstone can "
                            f"use. Known: {', '.join(usable)}.")
    fields = classes[name].model_fields
    unknown = [k for k in section if k not in ("class", "api_key_env") and k not in fields]
    if unknown:
        shown = sorted(f for f in fields if not f.startswith("_"))[:25]
        raise CapstoneError(f"llm: {name} has no field(s) {unknown}. Its fields include: "
                            f"{', '.join(shown)}.")
    if "api_key" in section:
        raise CapstoneError("llm: never write an API key in the config; set api_key_env to the "
                            "NAME of the environment variable that holds it.")
    key_env = section.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not key_env.strip()):
        raise CapstoneError("llm.api_key_env must be the NAME of an environment variable (text "
                            "such as OPENAI_API_KEY), or left out.")
    missing = [k for k, f in fields.items() if f.is_required() and k not in section]
    if missing:
        raise CapstoneError(f"llm: {name} needs the field(s) {missing}: add them to the llm "
                            f"section.")
    for key, value in section.items():
        if key in fields:
            _check_llm_field(name, key, fields[key].annotation, value)


# classes that combine other LLMs or only serve as bases: not a teacher named in one section
_NOT_A_TEACHER = {"MixtureOfAgentsLLM"}


def _check_llm_field(cls: str, key: str, annotation: Any, value: Any) -> None:
    """The field's type, checked with pydantic; the message never repeats the value (secrets)."""
    from pydantic import TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(annotation)
    except Exception:  # a type pydantic cannot describe: left to the class itself
        return
    try:
        adapter.validate_python(value)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int) or p)
        where = f"llm.{key}" + (f" ({where})" if where else "")
        raise CapstoneError(f"{where}: {err.get('msg', 'wrong type')} ({cls} field). Fix the "
                            f"value in the config's llm section.") from None


# the package each distilabel LLM class needs (its `load()` imports it in the worker, too late)
_CLIENTS = {"OpenAILLM": ("openai", "openai"), "AzureOpenAILLM": ("openai", "openai"),
            "AnyscaleLLM": ("openai", "openai"), "TogetherLLM": ("openai", "openai"),
            "ClientvLLM": ("openai", "openai"), "AnthropicLLM": ("anthropic", "anthropic"),
            "CohereLLM": ("cohere", "cohere"), "GroqLLM": ("groq", "groq"),
            "InferenceEndpointsLLM": ("huggingface_hub", "huggingface_hub"),
            "LiteLLM": ("litellm", "litellm"), "LlamaCppLLM": ("llama_cpp", "llama-cpp-python"),
            "MistralLLM": ("mistralai", "mistralai"), "MlxLLM": ("mlx_lm", "mlx-lm"),
            "OllamaLLM": ("ollama", "ollama"), "TransformersLLM": ("transformers", "transformers"),
            "VertexAILLM": ("vertexai", "google-cloud-aiplatform"), "vLLM": ("vllm", "vllm")}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module blocked (None)
        return False


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        tok = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(tok, dict) and bool(tok.get("chat_template"))


def check_environment(cfg: dict) -> None:
    """What a validated config needs of this machine, checked before any work starts.

    COURSE_BACKEND must name a backend; a model path must exist and hold a chat template; the
    client package of the `llm` class must be installed and its key variable set.
    """
    backend = cfg["backend"]
    env = os.environ.get("COURSE_BACKEND", "").strip().lower()
    if backend == "auto" and env and env != "auto":
        if env not in MODEL_BACKENDS:
            raise CapstoneError(f"COURSE_BACKEND={env!r} is not a backend: unset it, or set it "
                                f"to one of {', '.join(MODEL_BACKENDS)} (or set backend in the "
                                f"config).")
        backend = env
    if backend == "llm":
        section = cfg["llm"]
        module, package = _CLIENTS.get(section["class"], (None, None))
        if module and not _installed(module):
            raise CapstoneError(f"llm.class {section['class']} needs the {package!r} package, "
                                f"which is not installed: pip install {package}.")
        key_env = section.get("api_key_env")
        if key_env and not os.environ.get(key_env):
            raise CapstoneError(f"llm.api_key_env names {key_env!r}, but that environment "
                                f"variable is not set: export {key_env}=... first.")
        return
    if backend not in ("auto", "transformers"):
        return
    model = cfg["model"] or os.environ.get("COURSE_MODEL") or None
    where = "model" if cfg["model"] else "COURSE_MODEL"
    if model is None:
        return
    folder = Path(model).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise CapstoneError(f"{where} {model!r} is a file: pass a model folder or a hub id.")
        if not _has_chat_template(folder):
            raise CapstoneError(f"{where} {model!r} has no chat template (no chat_template.jinja, "
                                f"no chat_template in tokenizer_config.json): the capstone sends "
                                f"chat messages. Use an instruct model, or save one with "
                                f"tokenizer.chat_template = ...; "
                                f"tokenizer.save_pretrained(folder).")
    elif model.startswith(("/", "./", "../", "~", ".\\")) or model.count("/") > 1:
        raise CapstoneError(f"{where} {model!r} does not exist: pass an existing model folder or a "
                            f"hub id such as HuggingFaceTB/SmolLM2-360M-Instruct.")


def load_config(path: Any = None, overrides: Optional[Mapping[str, Any]] = None) -> dict:
    """Read and validate a YAML config (None: the shipped default); `overrides`: dotted keys."""
    import yaml

    if path is None:
        cfg = default_config()
    else:
        p = Path(path)
        text = _read_text(p, "Config file", "Start from course_utils/data/capstone.yaml.")
        try:
            cfg = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            what = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise CapstoneError(f"Config file {p.name} is not valid YAML{where}: {what}. Fix "
                                f"that line; start from course_utils/data/capstone.yaml.") from None
    if isinstance(cfg, Mapping):
        cfg = dict(cfg)
        for key, value in (overrides or {}).items():
            _set_dotted(cfg, key, value)
    return validate_config(cfg)


def _read_text(p: Path, what: str, fix: str) -> str:
    """A UTF-8 text file (a byte-order mark is accepted), or a CapstoneError naming the fix."""
    if p.is_dir():
        raise CapstoneError(f"{what} {str(p)!r} is a folder, not a file. {fix}")
    if not p.is_file():
        raise CapstoneError(f"{what} {str(p)!r} does not exist. {fix}")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CapstoneError(f"{what} {str(p)!r} cannot be read ({e.strerror or e}): check its "
                            f"permissions.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CapstoneError(f"{what} {p.name} is not UTF-8 text (byte {data[e.start]:#04x} at "
                            f"offset {e.start}): save it as UTF-8 and run again.") from None


# --- seeds ---------------------------------------------------------------------------------------


def read_seeds(path: Optional[str]) -> list[dict]:
    """Seed rows ({'instruction': ...}) from a JSONL file (None: the course's seed tasks)."""
    if path is None:
        return [{"instruction": r["instruction"]} for r in load_seed_tasks()]
    p = Path(path)
    text = _read_text(p, "Seed file", "Point seeds.file at a JSONL file, or set it to null.")
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise CapstoneError(f"Seed file {p.name} is not JSONL: line {i} is not a JSON object "
                                f"({line[:40]!r}). Write one {{\"instruction\": ...}} object per "
                                f"line.") from None
        text = rec.get("instruction") if isinstance(rec, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise CapstoneError(f"Seed file {p.name}, line {i}: each line needs a non-empty "
                                f"'instruction' string.")
        rows.append({"instruction": " ".join(text.split())})
    if not rows:
        raise CapstoneError(f"Seed file {p.name} is empty: write at least one "
                            f"{{\"instruction\": ...}} line.")
    return rows


def _input_rows(cfg: dict) -> list[dict]:
    """What the load step yields: seed tasks, math problems and dialogue prompts, with a `kind`."""
    seeds = read_seeds(cfg["seeds"]["file"])[: cfg["seeds"]["n"]]
    rows = [{"instruction": s["instruction"], "kind": "seed", "answer": None} for s in seeds]
    if cfg["seeds"]["math_problems"]:
        rows += [{"instruction": p.question, "kind": "math", "answer": p.answer}
                 for p in generate_problems(cfg["seeds"]["math_problems"], seed=cfg["seed"])]
    n_dialogue = cfg["seeds"]["dialogue"]
    dialogue = (list(DIALOGUE_PROMPTS) + _DIALOGUE_EXTRA) * (1 + n_dialogue // 16)
    rows += [{"instruction": d, "kind": "dialogue", "answer": None} for d in dialogue[:n_dialogue]]
    return rows
