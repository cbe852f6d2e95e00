#!/usr/bin/env bash
# GPU check, for a session that has the device machine (see the device tool's README): runs the
# capstone pipeline (notebook 09's) and one lesson (05) on CUDA with the tiny local model, and prints
# tokens/s. Nothing here is needed on a CPU machine; CI never runs it.
#   bash benchmarks/gpu_check.sh            (on the GPU machine, in the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  $PY -m venv .venv
  .venv/bin/pip -q install torch  # the GPU machine's own CUDA build
  .venv/bin/pip -q install -e ".[dev]"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TQDM_DISABLE=1 MPLBACKEND=Agg
TINY=${COURSE_TINY_MODEL_DIR:-build/tiny-model}
.venv/bin/python -m course_utils.tiny "$TINY" >/dev/null
.venv/bin/python - "$TINY" <<'PY'
import sys, time, tempfile
from course_utils import models
tiny = sys.argv[1]
print("GPU (NVML):", models.has_gpu())
import torch  # only now: after the parent-side checks, as in a real run
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
llm = models.get_llm("transformers", model=tiny, max_new_tokens=64, do_sample=False)
prompts = [[{"role": "user", "content": f"Count to {i}."}] for i in range(32)]
t = time.perf_counter()
out = llm.generate_outputs(prompts)
dt = time.perf_counter() - t
tokens = sum(sum(o["statistics"].get("output_tokens", [0])) for o in out)
print(f"lesson-style batch on {llm.device or 'cpu'}: {tokens} tokens in {dt:.2f} s = {tokens / dt:.0f} tokens/s")
PY
# The capstone in a fresh process: its parent must not have loaded a model (or CUDA) before distilabel forks.
.venv/bin/python - "$TINY" <<'PY'
import sys, time, tempfile
from course_utils.capstone import build_dataset, small_config
tiny = sys.argv[1]
cfg = small_config(backend="transformers", model=tiny)
t = time.perf_counter()
result = build_dataset(cfg, tempfile.mkdtemp(prefix="gpu-check-"), use_cache=False)
from course_utils.models import has_gpu
print(f"capstone pipeline ({'CUDA' if has_gpu() else 'CPU'}): {time.perf_counter() - t:.1f} s")
print(result.table())
PY
echo "Notebook 05 on the GPU:"
COURSE_BACKEND=transformers COURSE_MODEL="$TINY" .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_notebooks_tiny.py -k "notebooks/05" 2>&1 | tail -2
