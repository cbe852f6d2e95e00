"""Shared fixtures: offline environment, the tiny local model, and the shared data folder.

Also puts the repository root on sys.path, so tests can import the maintainer tools
(`from tools.notebooks import ...`), which are not part of the installed package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / "tests" / "data" / "self_instruct"  # Apache-2.0, see its NOTICE.md
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random Llama chat model, built locally (no download)."""
    from course_utils.tiny import build_tiny_chat_model

    env = os.environ.get("COURSE_TINY_MODEL_DIR")
    return build_tiny_chat_model(env if env else tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Self-Instruct data shipped in tests/data/self_instruct (never skipped)."""
    assert SHARED_DATA.exists(), f"{SHARED_DATA} is missing"
    return SHARED_DATA


@pytest.fixture
def restore_kinds():
    """Registered constraint kinds are put back after a test that registers its own."""
    from course_utils import evaluation as ev

    saved = dict(ev.CONSTRAINT_KINDS)
    yield
    ev.CONSTRAINT_KINDS.clear()
    ev.CONSTRAINT_KINDS.update(saved)
