# synthetic-sft-course: every target sets itself up (creates .venv if missing, installs).
#   make run    - set up, then execute every notebook headless into build/notebooks/
#   make test   - set up, then the whole test suite (pytest + strict nbval + tiny-model runs)
#   make lab    - set up, then JupyterLab
#   make bench  - set up, then the benchmarks in benchmarks/

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
# torch, installed only when the venv has none. On Linux x86_64, PyPI's torch is the CUDA build (~3 GB of
# nvidia/cuda/triton packages); on a machine without an NVIDIA GPU use PyTorch's CPU index instead:
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu      (~200 MB)
# Colab brings its own torch and never runs this.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
TINY   := build/tiny-model
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

# Deterministic, offline runs: no progress bars, no GUI backend, never the model hub.
OFFLINE_ENV := TQDM_DISABLE=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0 RAY_USAGE_STATS_ENABLED=0 \
	COURSE_TINY_MODEL_DIR=$(CURDIR)/$(TINY)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/[0-9][0-9]_*.ipynb))

.PHONY: setup run test test-browser lab bench notebooks exercises images clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import torch" 2>/dev/null || { \
		echo "Installing $(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX)). On Linux x86_64 without TORCH_INDEX this is"; \
		echo "PyPI's CUDA build (~3 GB); for the ~200 MB CPU build: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu"; \
		$(BIN)/python -m pip --disable-pip-version-check install --progress-bar on "$(TORCH)" \
			$(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) 2>&1 | grep -v "^WARNING: Location" || true; }
	$(PIP) install -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -W ignore -c "import course_utils, distilabel.models, torch" || (echo "Set-up failed: see the pip output above." && exit 1)
	@touch $(STAMP)

# The tiny model records its template version; editing tiny.py rebuilds it.
$(TINY)/course-tiny-model.json: course_utils/tiny.py | $(STAMP)
	$(OFFLINE_ENV) $(BIN)/python -m course_utils.tiny $(TINY)

run: setup
	@mkdir -p build/notebooks
	TQDM_DISABLE=1 MPLBACKEND=Agg $(BIN)/jupyter nbconvert --to notebook --execute \
		--ExecutePreprocessor.timeout=900 --output-dir build/notebooks $(NOTEBOOKS)
	@echo "Executed notebooks are in build/notebooks/."

test: setup $(TINY)/course-tiny-model.json
	@# Ray is an extra (not in the default install); the scale-out test needs it.
	@$(BIN)/python -c "import ray" 2>/dev/null || $(PIP) install -e ".[ray]" 2>&1 | grep -v "^WARNING: Location" || true
	$(OFFLINE_ENV) COURSE_BACKEND=offline $(BIN)/python -m pytest -q -n 2 --dist loadfile tests \
		--ignore=tests/browser --ignore=tests/test_notebooks_tiny.py --ignore=tests/test_notebooks_server.py \
		$(NOTEBOOKS) $(SOLUTIONS) \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300
	@# One OpenMP thread per kernel here: two tiny-model kernels on two cores made torch's threads
	@# spin-wait (notebook 05 went from 7 s to over 300 s). Not for nbval: embedding floats, and so a
	@# pair right at a cosine threshold, depend on the thread count the outputs were recorded with.
	$(OFFLINE_ENV) OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist load tests/test_notebooks_tiny.py
	@# The lessons on a real OpenAI-compatible server: `transformers serve` with the tiny model, one per worker.
	$(OFFLINE_ENV) OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist load tests/test_notebooks_server.py

# JupyterLab in headless Chromium (Debian's `chromium` package: apt-get install chromium).
test-browser: setup
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(PIP) install -e ".[browser]" 2>&1 | grep -v "^WARNING: Location" || true
	$(OFFLINE_ENV) COURSE_BACKEND=offline $(BIN)/python -m pytest -q tests/browser
	@echo "Screenshot: build/browser/jupyterlab.png"

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(OFFLINE_ENV) $(BIN)/python benchmarks/bench_dedup.py
	$(OFFLINE_ENV) $(BIN)/python benchmarks/bench_generation.py

# Maintainer tools live in tools/ (not in the installed package; see CONTRIBUTING.md).
# Re-execute notebooks and solutions with the offline teacher, rewriting their outputs,
# then regenerate the exercises from the solutions.
notebooks: setup $(TINY)/course-tiny-model.json
	$(OFFLINE_ENV) COURSE_BACKEND=offline $(BIN)/python tools/notebooks.py execute $(NOTEBOOKS) $(SOLUTIONS)
	$(BIN)/python tools/notebooks.py exercises

# Every figure in images/ is generated by code: the explanatory figures, then the benchmark's curve.
images: setup $(TINY)/course-tiny-model.json
	$(OFFLINE_ENV) MPLBACKEND=Agg $(BIN)/python tools/figures.py images
	$(OFFLINE_ENV) $(BIN)/python benchmarks/bench_dedup.py

exercises: setup
	$(BIN)/python tools/notebooks.py exercises

clean:
	rm -rf build
