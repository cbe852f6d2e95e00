"""Nothing the course runs before distilabel forks its step workers initialises CUDA.

PyTorch: once CUDA is initialised in a process, a forked child cannot use it ("Cannot
re-initialize CUDA in forked subprocess"). distilabel forks one worker per step, and the worker
that owns the model loads it on the GPU. So choosing a backend and building a pipeline must never
call `torch.cuda.is_available()` (or anything that initialises CUDA) in the parent. This machine
has no GPU, so the test makes every CUDA entry point of torch raise instead, and runs the parent's
side: the GPU check, backend resolution, the LLM for a pipeline, and the capstone pipeline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import sys
import torch

def boom(*args, **kwargs):
    raise AssertionError("CUDA was touched in the parent process")

for name in ("is_available", "init", "_lazy_init", "device_count", "is_bf16_supported", "current_device"):
    setattr(torch.cuda, name, boom)

from course_utils import models
from course_utils.capstone import build_pipeline, small_config

tiny = sys.argv[1]
assert models.has_gpu() in (True, False)
choice = models.resolve_backend("transformers", tiny)
assert choice.backend == "transformers", choice
llm = models.unloaded_llm("transformers", tiny, announce=False)
cfg = small_config(backend="transformers", model=tiny)
pipeline = build_pipeline(cfg, llm)
assert not torch.cuda.is_initialized()
print("no CUDA call", type(llm).__name__, type(pipeline).__name__)
"""


def test_backend_choice_and_pipeline_building_never_touch_cuda(tiny_model_dir):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tiny_model_dir)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "no CUDA call" in out.stdout


def test_the_probe_catches_a_cuda_call(tiny_model_dir):
    bad = PROBE.replace("assert models.has_gpu() in (True, False)", "torch.cuda.is_available()")
    out = subprocess.run([sys.executable, "-c", bad, str(tiny_model_dir)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode != 0 and "CUDA was touched" in out.stderr


def test_the_gpu_check_sets_the_nvml_based_check_for_torch(monkeypatch):
    from course_utils import models

    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    models.has_gpu()
    import os

    assert os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"
