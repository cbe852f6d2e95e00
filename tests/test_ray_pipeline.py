"""distilabel pipelines on Ray: the same Pipeline, run with `pipeline.ray()` on a local, loopback-only Ray instance.

Needs the `ray` extra (`pip install -e ".[ray]"`); skipped with that hint when Ray is not installed. The Ray
instance is started here (`address="local"`: never an existing or remote cluster), with 2 CPUs, no dashboard,
no usage statistics, and every Ray process bound to 127.0.0.1. The teacher is the offline one: no model, no
network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

if os.environ.get("CI"):  # `make test` installs the extra: in CI a missing Ray is a broken set-up, not a skip
    import ray  # noqa: F401
else:
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]' (the `ray` extra)")

# Read by Ray at import time and by the processes it starts: no usage report; on Linux, ENABLE_RAY_CLUSTER=False
# (this variable, despite its name) makes Ray use 127.0.0.1 as the node address and bind its servers there only.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
INSTRUCTIONS = ["Explain the difference between the mean and the median.", "Write a haiku about clean data.",
                "List three risks of a fixed-rate mortgage.", "Summarise why deduplication matters for SFT data."]


@pytest.fixture(scope="module")
def local_ray():
    saved = {k: os.environ.get(k) for k in [*RAY_ENV, "RAY_ADDRESS"]}
    os.environ.update(RAY_ENV)
    os.environ.pop("RAY_ADDRESS", None)
    import ray
    from ray._private import ray_constants

    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False  # in case Ray was imported before the variable was set
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=128 * 1024**2, log_to_driver=False, configure_logging=False)
    try:
        nodes = ray.nodes()
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"], "Ray must stay on the loopback interface"
        yield ray
    finally:
        ray.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_text_generation_pipeline_runs_on_ray(local_ray, tmp_path):
    from distilabel.pipeline import Pipeline, RayPipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    from course_utils.budget import token_stats
    from course_utils.teacher import OfflineTeacher, approx_tokens

    with Pipeline(name="course-ray-minimal", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"instruction": text} for text in INSTRUCTIONS], batch_size=2)
        # OfflineTeacher.generate takes **kwargs, which distilabel lists as a required runtime parameter.
        teacher = OfflineTeacher(failure_rates=None, generation_kwargs={"kwargs": {}})
        generate = TextGeneration(name="generate", llm=teacher, input_batch_size=2)
        load >> generate

    ray_pipeline = pipeline.ray()
    assert isinstance(ray_pipeline, RayPipeline)
    distiset = _run_with_deadline(ray_pipeline, 120, use_cache=False, logging_handlers=[])
    rows = distiset["default"]["train"].to_list()

    assert sorted(r["instruction"] for r in rows) == sorted(INSTRUCTIONS)
    assert all(isinstance(r["generation"], str) and r["generation"].strip() for r in rows)
    assert {r["model_name"] for r in rows} == {"offline-teacher"}
    # The same rows as a local run would give: the offline teacher depends only on the prompt and its seed.
    local = OfflineTeacher(failure_rates=None)
    local.load()
    want = {text: local.generate([[{"role": "user", "content": text}]])[0]["generations"][0] for text in INSTRUCTIONS}
    assert {r["instruction"]: r["generation"] for r in rows} == want
    stats = token_stats(rows)
    assert stats["rows_with_statistics"] == len(INSTRUCTIONS)
    assert stats["output_tokens"] == sum(approx_tokens(g) for g in want.values())


def _capstone_builder():
    """`course_utils.capstone`'s way to build its pipeline from a config, or None when it has none (yet)."""
    try:
        from course_utils import capstone
    except ImportError:
        return None
    if not (callable(getattr(capstone, "build_pipeline", None)) and callable(getattr(capstone, "small_config", None))):
        return None
    return capstone


def _classes_a_fresh_worker_cannot_import(pipeline) -> list[str]:
    """Step (and LLM) classes that pickle by reference but are not importable in a fresh interpreter.

    Ray sends every step to a new worker process, which unpickles it by importing its class. A class that
    exists only after some function ran (created lazily, then put in the module's globals) is missing there:
    the actor dies in its constructor and distilabel waits for it forever. Checked in a subprocess, so that
    this process's own imports do not hide the problem.
    """
    from distilabel.constants import STEP_ATTR_NAME

    classes = set()
    for name in pipeline.dag:
        step = pipeline.dag.get_step(name)[STEP_ATTR_NAME]
        for obj in (step, getattr(step, "llm", None)):
            if obj is not None and "<locals>" not in type(obj).__qualname__:  # <locals>: pickled by value
                classes.add((type(obj).__module__, type(obj).__qualname__))
    code = (
        "import importlib, json, sys\n"
        "missing = []\n"
        "for module, qualname in json.loads(sys.argv[1]):\n"
        "    obj = importlib.import_module(module)\n"
        "    try:\n"
        "        for part in qualname.split('.'):\n"
        "            obj = getattr(obj, part)\n"
        "    except AttributeError:\n"
        "        missing.append(module + '.' + qualname)\n"
        "print(json.dumps(missing))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(sorted(classes))], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_with_deadline(ray_pipeline, seconds: float, **kwargs):
    """`ray_pipeline.run(**kwargs)`, failing instead of hanging when it has not finished after `seconds`.

    distilabel runs the pipeline from the main thread and handles SIGINT itself: the first Ctrl-C asks the steps
    to stop, the third exits. At the deadline a watchdog thread sends Ctrl-Cs until the run returns. The SIGINT
    handler distilabel installs is put back afterwards.
    """
    done, fired, main = threading.Event(), [], threading.main_thread().ident

    def watchdog():
        if done.wait(seconds):
            return
        fired.append(True)
        for _ in range(5):
            # A real signal to the main thread: it also wakes a blocking Thread.join (interrupt_main would not).
            signal.pthread_kill(main, signal.SIGINT)
            if done.wait(3):
                return

    previous = signal.getsignal(signal.SIGINT)
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        distiset = ray_pipeline.run(**kwargs)
    except (KeyboardInterrupt, SystemExit):
        if not fired:
            raise
        distiset = None
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    if fired:
        pytest.fail(f"the Ray pipeline did not finish in {seconds:.0f} s: a step actor probably failed to start "
                    f"(see the worker logs in Ray's session folder, /tmp/ray/session_latest/logs)")
    return distiset


def test_capstone_pipeline_runs_on_ray(local_ray, tmp_path):
    capstone = _capstone_builder()
    assert capstone is not None, "course_utils.capstone has no build_pipeline(cfg) / small_config()"
    cfg = capstone.small_config(**{
        "name": "capstone-ray-test", "seeds.n": 4, "seeds.math_problems": 2, "seeds.dialogue": 2,
        "dedup.embedding_threshold": None, "generation.batch_size": 4, "output.cache_dir": str(tmp_path / "cache"),
    })
    pipeline = capstone.build_pipeline(cfg)
    missing = _classes_a_fresh_worker_cannot_import(pipeline)
    assert not missing, (f"{', '.join(missing)}: not importable in a fresh process, so Ray workers cannot unpickle "
                         f"these steps (the actors die and the run would hang). Define them at module level "
                         f"(course_utils/capstone/steps.py).")
    distiset = _run_with_deadline(pipeline.ray(), 150, use_cache=False, logging_handlers=[])
    rows = distiset["default"]["train"].to_list()
    assert rows, "the capstone pipeline produced no rows on Ray"
    assert all(isinstance(r.get("instruction"), str) and r["instruction"].strip() for r in rows)
    assert all(isinstance(r.get("response"), str) and r["response"].strip() for r in rows)
    # The steps recorded their per-stage counts from inside the Ray workers, as in a local run.
    counts = {c["stage"]: c for c in capstone.stage_counts(capstone.stats_dir_for(cfg))}
    assert {"load", "generate", "filter"} <= set(counts)
    assert counts["load"]["rows_out"] == counts["generate"]["rows_in"]
    if "mix" in counts:
        assert counts["mix"]["rows_out"] == len(rows)
