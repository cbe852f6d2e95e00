"""course_utils.call_log: with COURSE_COUNT_CALLS set, get_llm's LLMs log one JSON line per call."""

from __future__ import annotations

import inspect
import pickle

import pytest

from course_utils import call_log
from course_utils.models import get_llm, magpie_llm

CHAT = [{"role": "user", "content": "Explain the median in one sentence."}]


@pytest.fixture
def log(tmp_path, monkeypatch):
    """The call log file, switched on for this test (notebook name "nb-test")."""
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv(call_log.ENV_FILE, str(path))
    monkeypatch.setenv(call_log.ENV_NOTEBOOK, "nb-test")
    return path


def _calls(path):
    return call_log.read_calls(path) if path.exists() else []


def test_unset_env_returns_the_llm_untouched(monkeypatch):
    monkeypatch.delenv(call_log.ENV_FILE, raising=False)
    from course_utils.teacher.llm import OfflineTeacher

    llm = get_llm("offline")
    assert type(llm) is OfflineTeacher and not call_log.is_counted(llm)
    sentinel = object()
    assert call_log.maybe_wrap(sentinel) is sentinel


def test_a_call_logs_prompts_generations_budget_and_tokens(log):
    llm = get_llm("offline", max_new_tokens=300)
    assert call_log.is_counted(llm) and type(llm).__name__ == "OfflineTeacher"
    llm.generate_outputs([CHAT, CHAT], num_generations=3, max_new_tokens=50)
    llm.generate_outputs([CHAT])  # get_llm's max_new_tokens is in force
    first, second = _calls(log)
    assert first["notebook"] == "nb-test" and first["model"] == "offline-teacher"
    assert (first["prompts"], first["num_generations"], first["max_new_tokens"]) == (2, 3, 50)
    assert first["output_tokens"] > 0 and first["input_tokens"] > 0
    assert (second["prompts"], second["num_generations"], second["max_new_tokens"]) == (1, 1, 300)


def test_a_distilabel_task_runs_on_the_wrapped_llm_and_is_logged_once(log):
    from distilabel.steps.tasks import TextGeneration

    llm = get_llm("offline", max_new_tokens=40)
    task = TextGeneration(llm=llm, num_generations=2)
    task.load()
    rows = next(task.process([{"instruction": "Name a measure of spread."}]))
    assert rows[0]["generation"]
    (call,) = _calls(log)  # generate_outputs -> generate is one call, not two
    assert (call["prompts"], call["num_generations"], call["max_new_tokens"]) == (1, 2, 40)


def test_distilabel_sees_the_same_signature_runtime_parameters_and_type(log, monkeypatch):
    plain = get_llm("offline", seed=3)  # already counted: compare with the class it wraps
    monkeypatch.delenv(call_log.ENV_FILE)
    unwrapped = get_llm("offline", seed=3)
    assert inspect.signature(type(plain).generate) == inspect.signature(type(unwrapped).generate)
    assert plain.runtime_parameters_names == unwrapped.runtime_parameters_names
    assert plain.dump()["type_info"] == unwrapped.dump()["type_info"]


def test_copies_and_pickles_keep_counting_on_their_own_instance(log):
    llm = get_llm("offline", seed=1)
    copy = llm.model_copy(update={"generation_kwargs": {"max_new_tokens": 7}})
    assert call_log.is_counted(copy)
    copy.generate_outputs([CHAT])
    clone = pickle.loads(pickle.dumps(llm))
    assert call_log.is_counted(clone) and clone.seed == 1
    assert type(clone).__name__ == "OfflineTeacher"
    clone.generate_outputs([CHAT], max_new_tokens=9)
    assert [c["max_new_tokens"] for c in _calls(log)] == [7, 9]


def test_wrapping_twice_changes_nothing_and_unsetting_stops_the_log(log, monkeypatch):
    llm = get_llm("offline")
    cls = type(llm)
    assert call_log.wrap(llm) is llm and type(llm) is cls
    monkeypatch.delenv(call_log.ENV_FILE)
    llm.generate_outputs([CHAT])
    assert _calls(log) == []


def test_a_server_llm_reports_the_default_budget_of_its_requests():
    from course_utils.openai_llm import ServerLLM

    llm = ServerLLM(model="m", base_url="http://127.0.0.1:9/v1", api_key="x", generation_kwargs={})
    counted = call_log.counted_class(ServerLLM)
    assert inspect.signature(counted.generate) == inspect.signature(ServerLLM.generate)
    expected = inspect.signature(ServerLLM.agenerate).parameters["max_new_tokens"].default
    assert call_log._max_new_tokens(llm, {}, {}) == expected
    assert call_log._max_new_tokens(llm, {}, {"max_new_tokens": 12}) == 12


def test_the_tiny_model_and_its_magpie_copy_log_their_own_budgets(log, tiny_model_dir):
    llm = get_llm("transformers", model=str(tiny_model_dir), max_new_tokens=6)
    llm.generate_outputs([CHAT], num_generations=2)
    magpie = magpie_llm(llm, max_new_tokens=4)
    assert call_log.is_counted(magpie)
    magpie.generate([[{"role": "system", "content": "You are a tutor."}]], num_generations=1,
                    **magpie.generation_kwargs)
    first, second = _calls(log)
    assert (first["num_generations"], first["max_new_tokens"]) == (2, 6)
    assert second["max_new_tokens"] == 4 and second["llm"].startswith("Magpie")
