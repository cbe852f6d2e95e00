"""Benchmark: generation one prompt at a time vs batched, on a model shaped like SmolLM2-135M.

Run from the repository root (CPU, no download, a few minutes on 2 cores):

    python benchmarks/bench_generation.py             # 16 prompts x 32 new tokens
    python benchmarks/bench_generation.py --quick     # 8 prompts x 16 new tokens
    python benchmarks/bench_generation.py --no-server # skip the OpenAI-compatible server part

What is measured, in one run, through the course's own `get_llm("transformers", model=<dir>)`:

1. The model: SmolLM2-135M's shape (Llama, hidden 576, intermediate 1536, 30 layers, 9 heads,
   3 KV heads, vocabulary 49,152, tied embeddings; 134.5M parameters) built from its config with
   random weights, float32, and a word-level tokenizer of the same vocabulary size trained here
   (one token per word, so generated tokens and the words counted in the output agree). The
   weights are drawn wider than usual (std 0.1) so greedy decoding writes a different text for
   each prompt: a model stuck on one token would make the identity check below meaningless.
2. batch 1 (what distilabel's TransformersLLM does, and what the course did): the pipeline gets
   the prompts one at a time. batched: `batch_size` prompts per forward pass, padded on the left.
   Both decode greedily; the outputs must be identical, prompt by prompt.
3. If `tests/openai_server.py` exists (`transformers serve` on 127.0.0.1): the same prompts sent
   to the server one request at a time vs `batch_size` requests in flight (`get_llm("openai",
   max_concurrency=...)`), against the plain server and against `--continuous-batching` (the
   plain server answers one request at a time, so concurrency only pays off with batching).

tokens/s = new tokens (as distilabel counts them) / wall time of the call; in process, the
fastest of `--repeat` alternating runs (the machine may be shared). The last line is
`batched speed-up: N.Nx`; the server's `concurrency speed-up: N.Nx` comes just before it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

from course_utils.models import get_llm  # noqa: E402
from course_utils.tiny import CHATML_TEMPLATE, SPECIAL_TOKENS  # noqa: E402

SMOLLM2_135M = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                    tie_word_embeddings=True, max_position_embeddings=2048, rope_theta=100000.0)
INIT_STD = 0.1


def build_model(out: Path, seed: int = 0) -> Path:
    """Write a random SmolLM2-135M-shaped Llama and a word-level tokenizer to `out`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    size = SMOLLM2_135M["vocab_size"]
    names = SPECIAL_TOKENS + [f"w{i}" for i in range(size - len(SPECIAL_TOKENS))]
    vocab = {t: i for i, t in enumerate(names)}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, bos_token="<|im_start|>",
                                        eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        unk_token="<|endoftext|>",
                                        additional_special_tokens=SPECIAL_TOKENS)
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(**SMOLLM2_135M, initializer_range=INIT_STD,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out


def make_prompts(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` chat prompts of 12 to 60 vocabulary words (lengths vary, so padding matters)."""
    import random

    rng = random.Random(seed)
    lengths = [12 + 3 * (i % 17) for i in range(n)]
    return [[{"role": "user", "content": " ".join(f"w{rng.randrange(5000)}" for _ in range(k))}]
            for k in lengths]


def timed(llm, prompts: list) -> tuple[list[str], int, float]:
    """(texts, new tokens, seconds) of one `generate_outputs` call."""
    t0 = time.perf_counter()
    outputs = llm.generate_outputs(prompts)
    seconds = time.perf_counter() - t0
    texts = [out["generations"][0] for out in outputs]
    tokens = sum(sum(out["statistics"]["output_tokens"]) for out in outputs)
    return texts, tokens, seconds


def quietly(fn, *args, **kwargs):
    """`fn(...)` with its stdout (the backend banner) swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def bench_in_process(model_dir: Path, prompts: list, new_tokens: int, batch_size: int,
                     repeat: int = 2) -> tuple:
    """(rows of (name, prompts per pass, tokens, seconds), identical outputs, distinct outputs).

    The two ways alternate `repeat` times and each keeps its fastest run: other processes on a
    shared machine slow single runs down, never speed them up.
    """
    gen = dict(max_new_tokens=new_tokens, do_sample=False)
    one = quietly(get_llm, "transformers", model=str(model_dir), batch_size=1, **gen)
    many = quietly(get_llm, "transformers", model=str(model_dir), batch_size=batch_size, **gen)
    assert one._pipeline is many._pipeline  # the same weights: only the batching differs
    one.generate_outputs(prompts[:2], max_new_tokens=4)  # warm-up (first-call allocations)
    many.generate_outputs(prompts[:2], max_new_tokens=4)
    runs_1, runs_b = [], []
    for _ in range(repeat):
        runs_1.append(timed(one, prompts))
        runs_b.append(timed(many, prompts))
    (texts_1, tokens_1, s_1), (texts_b, tokens_b, s_b) = (min(r, key=lambda t: t[2])
                                                          for r in (runs_1, runs_b))
    same = sum(a == b for a, b in zip(texts_1, texts_b))
    distinct = len(set(texts_1))
    rows = [("in process, batch 1 (the course before)", 1, tokens_1, s_1),
            (f"in process, batch {batch_size}, left padding", batch_size, tokens_b, s_b)]
    return rows, same, distinct


def bench_server(model_dir: Path, prompts: list, new_tokens: int, concurrency: int,
                 continuous_batching: bool = False) -> list[tuple]:
    """Rows for sequential vs concurrent requests to `transformers serve` on 127.0.0.1."""
    try:
        import pytest

        from tests import openai_server
    except ImportError as err:  # pytest is a dev dependency
        print(f"server part skipped: {err}")
        return []
    rows, command = [], openai_server._server_command
    flag = " --continuous-batching" if continuous_batching else ""
    if continuous_batching:  # the helper starts the plain server: add the flag to its command
        openai_server._server_command = lambda *a: command(*a) + ["--continuous-batching"]
    try:
        with openai_server.serve(model_dir) as server:
            for n in (1, concurrency):
                llm = quietly(get_llm, "openai", model=server.model, base_url=server.base_url,
                              max_concurrency=n, max_new_tokens=new_tokens, temperature=0.0)
                llm.generate_outputs(prompts[:1], max_new_tokens=4)  # warm-up
                _, tokens, seconds = timed(llm, prompts)
                name = "1 request at a time" if n == 1 else f"{n} requests in flight"
                rows.append((f"serve{flag}: {name}", n, tokens, seconds))
                client = getattr(llm, "_aclient", None)
                if client is not None:  # close it on its own loop (else: "Event loop is closed" at exit)
                    llm.event_loop.run_until_complete(client.close())
    except (Exception, pytest.fail.Exception) as err:  # noqa: BLE001 - report, then go on
        print(f"server part{flag} skipped: {str(err).splitlines()[0][:200]}")
        rows = []
    finally:
        openai_server._server_command = command
    return rows


def table(rows: list[tuple]) -> str:
    """The measurements as an aligned text table."""
    head = f"{'run':<52} {'batch':>5} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}"
    lines = [head, "-" * len(head)]
    lines += [f"{name:<52} {b:>5} {tok:>7} {s:>8.2f} {tok / s:>9.1f}" for name, b, tok, s in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Build the model, run both measurements, print the table and the speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="in-process runs (fastest kept)")
    parser.add_argument("--quick", action="store_true", help="8 prompts x 16 new tokens, 1 run")
    parser.add_argument("--no-server", action="store_true",
                        help="skip the OpenAI-compatible server part")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.new_tokens, args.repeat = 8, 16, 1
    import torch

    prompts = make_prompts(args.prompts)
    print(f"model: random Llama shaped like SmolLM2-135M, float32, CPU, "
          f"{torch.get_num_threads()} threads; {args.prompts} prompts x {args.new_tokens} "
          f"new tokens, greedy; load average {os.getloadavg()[0]:.1f} (other processes slow it)")
    with tempfile.TemporaryDirectory(prefix="bench-generation-") as tmp:
        model_dir = build_model(Path(tmp) / "smollm2-135m-shaped")
        rows, same, distinct = bench_in_process(model_dir, prompts, args.new_tokens,
                                                args.batch_size, max(1, args.repeat))
        server_rows = []
        if not args.no_server and (ROOT / "tests" / "openai_server.py").exists():
            # the server gets as many threads as this process
            os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
            plain = bench_server(model_dir, prompts, args.new_tokens, args.batch_size)
            batching = bench_server(model_dir, prompts, args.new_tokens, args.batch_size, True)
            server_rows = plain + batching
    print(table(rows + server_rows))
    print(f"greedy outputs identical, batch 1 vs batch {args.batch_size}: "
          f"{same}/{len(prompts)} prompts ({distinct} distinct texts)")
    ups = [(tok_n / s_n) / (tok_1 / s_1) for (_, _, tok_1, s_1), (_, _, tok_n, s_n)
           in zip(server_rows[::2], server_rows[1::2])]
    if len(ups) == 2:
        print(f"concurrency speed-up: {ups[1]:.1f}x (transformers serve --continuous-batching; "
              f"{ups[0]:.1f}x without it)")
    elif ups:
        print(f"concurrency speed-up: {ups[0]:.1f}x")
    (_, _, tok_1, s_1), (_, _, tok_b, s_b) = rows
    print(f"batched speed-up: {(tok_b / s_b) / (tok_1 / s_1):.1f}x")
    return 0 if same == len(prompts) else 1


if __name__ == "__main__":
    sys.exit(main())
