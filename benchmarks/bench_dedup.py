"""Benchmark: greedy ROUGE-L dedup, rouge-score reference loop vs course_utils.dedup.

Run from the repository root:

    python benchmarks/bench_dedup.py            # default run, ~2-3 minutes on 2 cores
    python benchmarks/bench_dedup.py --quick    # smaller samples, ~30 s

What is measured, all in one run on the same corpus (tests/data/self_instruct/instructions_bench.jsonl):

1. Reference cost per pair: rouge-score's pure-Python scorer called as Alpaca's
   generate_instruction.py does, ``scorer.score(kept, candidate)``, timed on random pairs
   of corpus texts (the kept texts a candidate meets are a near-random sample of the corpus).
2. Ours: ``rouge_l_dedup(texts, 0.7, tokenizer="rouge")`` on the full corpus, wall time.
   "Per pair" = our wall time / the number of scorer calls the reference greedy loop would
   make on the same input (sum over candidates of the texts kept before it).
3. Identical kept set: the literal reference greedy loop on a prefix of the corpus, plus
   spot checks deep in the corpus (each sampled decision re-checked with rouge-score against
   everything kept before it).
4. Scaling curve (ours measured; reference extrapolated from its measured per-pair cost),
   saved to images/dedup_speedup.png.
5. mean_pairwise_rouge_l on 2,000 texts, and MinHash-LSH recall against the exact filter.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from course_utils import dedup  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "self_instruct" / "instructions_bench.jsonl"
THRESHOLD = 0.7


def load_texts(path: Path) -> list[str]:
    """Read the "text" field of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def make_scorer():
    """rouge-score's RougeScorer as Self-Instruct/Alpaca configure it."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference_us_per_pair(texts: list[str], n_pairs: int, seed: int = 0) -> float:
    """Mean µs of one `scorer.score(kept, candidate)` call over random corpus pairs."""
    scorer = make_scorer()
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < n_pairs:
        i, j = rng.randrange(len(texts)), rng.randrange(len(texts))
        if i != j:
            pairs.append((i, j))
    t0 = time.perf_counter()
    for i, j in pairs:
        _ = scorer.score(texts[i], texts[j])["rougeL"].fmeasure
    return (time.perf_counter() - t0) / n_pairs * 1e6


def reference_greedy(texts: list[str], threshold: float) -> tuple[list[int], int, float]:
    """The reference loop; returns (kept, scorer calls made, seconds).

    It stops scoring a candidate at its first hit (same decision as Alpaca's
    ``max(scores) > threshold``, fewer calls), so its own µs/call is reported separately.
    """
    scorer = make_scorer()
    kept: list[int] = []
    calls = 0
    t0 = time.perf_counter()
    for i, cand in enumerate(texts):
        dup = False
        for j in kept:
            calls += 1
            if scorer.score(texts[j], cand)["rougeL"].fmeasure > threshold:
                dup = True
                break
        if not dup:
            kept.append(i)
    return kept, calls, time.perf_counter() - t0


def spot_check(texts: list[str], kept: list[int], n_removed: int, n_kept: int, seed: int) -> int:
    """Re-check sampled greedy decisions with rouge-score; returns the number of scorer calls.

    Greedy is deterministic, so our kept set equals the reference's iff every decision i is
    what the reference would decide given our kept set before i. A removed text needs one
    witness with F1 > threshold (found with our scorer, confirmed by rouge-score); a kept
    text is re-scored by rouge-score against every text kept before it.
    """
    scorer = make_scorer()
    rng = random.Random(seed)
    kept_set = set(kept)
    removed = [i for i in range(len(texts)) if i not in kept_set]
    calls = 0
    for i in rng.sample(removed, min(n_removed, len(removed))):
        earlier = [j for j in kept if j < i]
        witness = max(earlier, key=lambda j: dedup.rouge_l(texts[j], texts[i], "rouge"))
        calls += 1
        f = scorer.score(texts[witness], texts[i])["rougeL"].fmeasure
        assert f > THRESHOLD, f"text {i} was removed but rouge-score gives {f} with {witness}"
    late_kept = [i for i in kept if i > len(texts) // 2]
    for i in rng.sample(late_kept, min(n_kept, len(late_kept))):
        for j in kept:
            if j >= i:
                break
            calls += 1
            f = scorer.score(texts[j], texts[i])["rougeL"].fmeasure
            assert f <= THRESHOLD, f"text {i} was kept but rouge-score gives {f} with {j}"
    return calls


def time_ours(texts: list[str], repeats: int) -> tuple[list[int], list[float]]:
    """Run rouge_l_dedup `repeats` times; returns (kept, wall times)."""
    times, kept = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        kept = dedup.rouge_l_dedup(texts, THRESHOLD, tokenizer="rouge")
        times.append(time.perf_counter() - t0)
    return kept, times


def plot(curve: list[dict], ref_us: float, out: Path) -> None:
    """Save the scaling curve (ours measured, reference extrapolated) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [c["n"] for c in curve]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(
        ns,
        [c["ref_s"] for c in curve],
        "o--",
        color="tab:red",
        label=f"rouge-score loop (extrapolated: {ref_us:.0f} µs/pair × pairs)",
    )
    ax1.plot(
        ns,
        [c["ours_s"] for c in curve],
        "o-",
        color="tab:blue",
        label="course_utils.dedup.rouge_l_dedup (measured)",
    )
    ax1.set_yscale("log")
    ax1.set_xlabel("texts deduplicated (corpus prefix)")
    ax1.set_ylabel("wall time (s, log scale)")
    ax1.set_title("Greedy ROUGE-L dedup, threshold 0.7")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.plot(ns, [c["ratio"] for c in curve], "o-", color="tab:green")
    ax2.axhline(2000, color="grey", ls=":", label="2000× target")
    ax2.set_xlabel("texts deduplicated (corpus prefix)")
    ax2.set_ylabel("speed-up per pair (×)")
    ax2.set_title("Speed-up, identical kept set")
    ax2.set_ylim(bottom=0)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller samples (~30 s)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--ref-pairs", type=int, help="random pairs timed with rouge-score")
    ap.add_argument(
        "--verify-prefix", type=int, help="texts checked with the literal reference loop"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "images" / "dedup_speedup.png")
    args = ap.parse_args(argv)
    ref_pairs = args.ref_pairs or (3_000 if args.quick else 20_000)
    prefix = args.verify_prefix or (300 if args.quick else 1_000)
    repeats = 1 if args.quick else 3

    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    texts = load_texts(args.corpus)
    n = len(texts)
    load0 = os.getloadavg()[0]
    print(
        f"corpus: {args.corpus} ({n:,} texts), threshold {THRESHOLD}, cores: {os.cpu_count()}, "
        f"load average at start: {load0:.2f}"
    )

    # 1. reference cost per pair
    ref_us = reference_us_per_pair(texts, ref_pairs)
    print(
        f"\n[reference] rouge-score scorer.score(kept, candidate): {ref_us:.1f} µs/pair "
        f"(mean over {ref_pairs:,} random corpus pairs)"
    )

    # 2. ours on the full corpus
    dedup.rouge_l_dedup(texts[:500], THRESHOLD, tokenizer="rouge")  # warm-up (imports)
    kept, times = time_ours(texts, repeats)
    ours_s = statistics.median(times)
    pairs = dedup.count_reference_pairs(kept, n)
    ours_us = ours_s / pairs * 1e6
    ratio = ref_us / ours_us
    print(
        f"[ours] rouge_l_dedup on all {n:,} texts: {ours_s:.3f} s (median of {repeats}: "
        f"{', '.join(f'{t:.3f}' for t in times)}), kept {len(kept):,}, removed {n - len(kept):,}"
    )
    print(f"       pairs the reference loop evaluates: {pairs:,}")
    print(
        f"       effective {ours_us * 1000:.1f} ns/pair = {ours_us:.4f} µs/pair, "
        f"{pairs / ours_s / 1e6:.1f} M pairs/s"
    )
    print(f"       reference on the same input (extrapolated): {pairs * ref_us / 1e6 / 3600:.2f} h")
    verdict = "MEETS" if ratio >= 2000 else "DOES NOT MEET"
    print(f"[speed-up] {ratio:,.0f}x per pair -> {verdict} the >= 2000x target")

    # 3. identical kept set
    ref_kept, calls, ref_s = reference_greedy(texts[:prefix], THRESHOLD)
    our_prefix = dedup.rouge_l_dedup(texts[:prefix], THRESHOLD, tokenizer="rouge")
    same = ref_kept == our_prefix
    print(
        f"\n[verify] literal reference loop on the first {prefix:,} texts: "
        f"{'IDENTICAL' if same else 'DIFFERENT'} kept set ({len(ref_kept)} kept); "
        f"{calls:,} scorer calls in {ref_s:.1f} s = {ref_s / calls * 1e6:.1f} µs/call "
        "(prefix = short seed tasks, first-hit early exit)"
    )
    n_rm, n_kp = (10, 1) if args.quick else (30, 3)
    t0 = time.perf_counter()
    spot_calls = spot_check(texts, kept, n_rm, n_kp, seed=0)
    print(
        f"[verify] full-corpus spot check: {n_rm} removed + {n_kp} late kept decisions re-checked "
        f"with rouge-score ({spot_calls:,} calls, {time.perf_counter() - t0:.1f} s): consistent"
    )

    # 4. scaling curve
    curve = []
    for size in [1000, 2000, 4000, 8000, n]:
        sub = texts[:size]
        k, ts = time_ours(sub, 1 if args.quick else 2)
        p = dedup.count_reference_pairs(k, size)
        t = min(ts)
        curve.append(
            {
                "n": size,
                "kept": len(k),
                "pairs": p,
                "ours_s": t,
                "ref_s": p * ref_us / 1e6,
                "ratio": ref_us / (t / p * 1e6),
            }
        )
    print("\n[scaling] ours measured (best of runs); reference = pairs x measured µs/pair")
    print(
        f"  {'N':>6} {'kept':>6} {'pairs':>12} {'ours s':>8} {'ref s (extrap.)':>16} {'ratio':>8}"
    )
    for c in curve:
        print(
            f"  {c['n']:>6} {c['kept']:>6} {c['pairs']:>12,} {c['ours_s']:>8.3f} "
            f"{c['ref_s']:>16,.0f} {c['ratio']:>7,.0f}x"
        )
    plot(curve, ref_us, args.out)
    print(f"  saved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")

    # 5. diversity metric and MinHash
    sample = random.Random(1).sample(texts, 2000)
    mp_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        mean = dedup.mean_pairwise_rouge_l(sample)
        mp_times.append(time.perf_counter() - t0)
    print(
        f"\n[mean_pairwise_rouge_l] 2,000 texts ({2000 * 1999 // 2:,} pairs): mean F1 {mean:.4f}, "
        f"{min(mp_times):.3f} s best / {statistics.median(mp_times):.3f} s median"
    )
    t0 = time.perf_counter()
    mh = dedup.minhash_dedup(texts, THRESHOLD, tokenizer="rouge")
    mh_s = time.perf_counter() - t0
    recall = dedup.removed_recall(mh, kept, n)
    extra = len(set(kept) - set(mh))
    print(
        f"[minhash_dedup] num_perm=128, lsh_threshold=0.5, unigram shingles: {mh_s:.2f} s, "
        f"kept {len(mh):,} vs exact {len(kept):,}; recall of the exact removed set "
        f"{recall:.4f}; removed by MinHash but kept by exact: {extra}"
    )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0 if same and ratio >= 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
