"""The real consumer of the preference export: TRL's DPOTrainer trains the tiny local model on it.

Pairs are built from the offline teacher (candidates of varying quality, scored by the
verifiable checks and the rule-based judge), exported with `to_trl_preference` +
`write_preference_dataset`, read back with `datasets` and trained on for a few steps. The loss
must be finite and the reward margin (`rewards/margins`, chosen minus rejected implicit reward)
must grow from the first logged step to the last: the policy moves towards the chosen answers.
"""

from __future__ import annotations

import math

import pytest

from course_utils.models import get_llm
from course_utils.preference import (
    DATA_FILE,
    build_pairs,
    clean_pairs,
    load_preference_instructions,
    pair_report,
    sample_responses,
    score_responses,
    to_trl_preference,
    write_preference_dataset,
)

pytest.importorskip("trl", reason="TRL is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    llm = get_llm("offline", seed=0)
    rows, _ = sample_responses(llm, load_preference_instructions(), k=4)
    scored, _ = score_responses(rows, llm)
    pairs, stats = build_pairs(scored)
    clean, cleaning = clean_pairs(pairs, max_per_prompt=1)
    folder = tmp_path_factory.mktemp("pref")
    write_preference_dataset(to_trl_preference(clean[:8]), folder,
                             report={**pair_report(clean, stats), "cleaning": cleaning})
    return folder


def test_dpo_trainer_trains_on_the_export(tiny_model_dir, export_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    dataset = load_dataset("json", data_files=str(export_dir / DATA_FILE), split="train")
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
    assert len(dataset) == 8
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, torch_dtype=torch.float32)
    config = DPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=4,
        learning_rate=5e-3, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        bf16=False, max_length=160, beta=0.1, seed=0, dataloader_num_workers=0,
    )
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset,
                         processing_class=tokenizer)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h and "rewards/margins" in h]
    assert len(logs) >= 4, trainer.state.log_history
    print("rewards/margins:", [round(h["rewards/margins"], 4) for h in logs])
    assert all(math.isfinite(h["loss"]) for h in logs)
    first, last = logs[0]["rewards/margins"], logs[-1]["rewards/margins"]
    assert last > first + 0.05, [h["rewards/margins"] for h in logs]
    assert logs[-1]["loss"] < logs[0]["loss"]
