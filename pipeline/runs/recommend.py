"""Top-k recommendations: the model's (or popularity's) best books among those a user has not interacted with.

`contender_top` gives the same list for a fitted contender of pipeline.training.contenders (item-kNN, ALS), which
`load_contenders` reads from the fits' on-disk cache once a retrain has made them.

A user's set (`PreparedData.users.book_idxs`) holds every book they shelved, their test rows included, so by
default a held-out test book can never be recommended. ``hold_out`` takes books out of the user's set first: the
model then sees the user without them and ranks them among the unseen books, as the ranking evaluation does with
each liked test book (`held_out_likes`).

Every list names each book's first author twice: ``first_author`` (the Goodreads id) and ``first_author_name``
(its name from the authors file, or the id when the raw folder had none).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.data.dataset import PreparedData, author_names

__all__ = ["CONTENDER_KEYS", "CONTENDERS_PENDING", "contender_top", "held_out_likes", "load_contenders",
           "model_run", "popular", "recommend", "resolve_user", "without_books"]

# the contenders of pipeline.training.contenders whose lists the Recommend page shows, in order
CONTENDER_KEYS = ("item_knn", "als")
CONTENDERS_PENDING = "item-kNN and ALS lists appear after the first retrain"


def resolve_user(prepared: PreparedData, user: str | int) -> int:
    """A user_idx from a user_idx or a Goodreads user_id; ValueError naming the user when unknown."""
    users = prepared.users
    text = str(user).strip()
    if text.isdigit():
        idx = int(text)
        if 0 <= idx < len(users):
            return idx
    else:
        hits = np.flatnonzero(users["user_id"].to_numpy() == text)
        if len(hits):
            return int(hits[0])
    raise ValueError(f"unknown user {text!r}: give a user_idx (0..{len(users) - 1}) or a user_id of the dataset")


def model_run(registry, run_id: int | None = None):
    """The run whose model to use: `run_id`, or the model in use (Registry.current_model: the run promoted last)."""
    run = registry.get(run_id) if run_id is not None else registry.current_model()
    if run is None:
        raise ValueError("no trained model yet: run `python -m pipeline retrain` first")
    if run.status != "succeeded":
        raise ValueError(f"run {run.id} has no model (it {run.status})")
    return run


def held_out_likes(prepared: PreparedData, user: int) -> np.ndarray:
    """The books of the user's test rows rated 1 (liked), sorted: the held-out books the evaluation ranks."""
    test = prepared.splits["test"]
    rows = test[(test["user_idx"].to_numpy() == user) & (test["rating"].to_numpy() == 1)]
    return np.unique(rows["book_idx"].to_numpy())


def without_books(csr: tuple[np.ndarray, np.ndarray], user: int, books: Iterable[int]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The csr pair with `books` removed from user `user`'s set (every other user's set unchanged)."""
    offsets, values = csr
    start, end = offsets[user], offsets[user + 1]
    row = values[start:end]
    kept = row[~np.isin(row, np.fromiter(books, dtype=np.int64))]
    if len(kept) == len(row):
        return csr
    new_offsets = offsets.copy()
    new_offsets[user + 1:] -= len(row) - len(kept)
    return new_offsets, np.concatenate([values[:start], kept, values[end:]])


def contender_top(prepared: PreparedData, contender, user: str | int, *, k: int = 10,
                  hold_out: Iterable[int] = ()) -> pd.DataFrame:
    """rank, book_idx, title, first_author(_name), score: a fitted contender's top k (its ``top_k(user, csr, k)``,
    pipeline.training.contenders) among the same candidates as `recommend`: the books the user never shelved, with the
    books in `hold_out` taken off the shelf the contender sees and among the candidates."""
    u = resolve_user(prepared, user)
    best, scores = contender.top_k(u, without_books(prepared.user_books_csr, u, hold_out), k)
    return _books_table(prepared, np.asarray(best), np.round(np.asarray(scores, dtype=np.float64), 4))


def load_contenders(prepared: PreparedData, run=None, metrics: dict | None = None) -> tuple[dict | None, str | None]:
    """({key: Contender} for CONTENDER_KEYS, None), or (None, why there are none yet).

    pipeline.training.contenders.fit_contenders fits them and caches the fits on disk (by dataset fingerprint and
    params, in `contenders.cache_folder(prepared)`), so once a retrain made them this is a fast load. Nothing is
    fitted before a retrain made them: without pipeline.training.contenders, or with neither a cached fit nor a run
    whose
    `metrics` hold item-kNN and ALS, the answer is (None, CONTENDERS_PENDING). `run`'s "contenders" params are
    used when it recorded any, so the cache entry its retrain wrote is the one read."""
    try:
        from pipeline.training import contenders
    except ImportError:
        return None, CONTENDERS_PENDING
    folder = contenders.cache_folder(prepared)
    cached = folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir())  # not a temp
    evaluated = all(key in ((metrics or {}).get("contenders") or {}) for key in CONTENDER_KEYS)
    if not cached and not evaluated:
        return None, CONTENDERS_PENDING
    recorded = (run.params or {}).get("contenders") if run is not None else None
    try:
        params = contenders.ContenderParams.from_dict(recorded) if isinstance(recorded, dict) else None
    except (TypeError, ValueError):
        params = None
    fitted = contenders.fit_contenders(prepared, params or contenders.DEFAULT_PARAMS)
    missing = [key for key in CONTENDER_KEYS if key not in fitted]
    if missing:
        return None, f"{CONTENDERS_PENDING} (missing: {', '.join(missing)})"
    return {key: fitted[key] for key in CONTENDER_KEYS}, None


def _books_table(prepared: PreparedData, best: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    meta = prepared.books.set_index("book_idx").loc[best]
    return pd.DataFrame({"rank": np.arange(1, len(best) + 1), "book_idx": best, "title": meta["title"].to_numpy(),
                         "first_author": meta["first_author"].to_numpy(), "first_author_name": author_names(meta),
                         "score": scores})


def recommend(prepared: PreparedData, registry, user: str | int, *, k: int = 10, run_id: int | None = None,
              model=None, hold_out: Iterable[int] = ()) -> pd.DataFrame:
    """rank, book_idx, title, first_author(_name), score: the model's top k among books the user never shelved (the
    books in `hold_out` count as never shelved: they leave the user's set and join the candidates)."""
    from pipeline.training import hybrid

    u = resolve_user(prepared, user)
    recorded = None
    if model is None:
        run = model_run(registry, run_id)
        model = hybrid.load_model(run.artifact("model"))
        recorded = (run.params or {}).get("contenders")
    scorer = hybrid.scorer_for(model, prepared, recorded)
    best, scores = scorer.top_k(u, without_books(prepared.user_books_csr, u, hold_out), k)
    return _books_table(prepared, best, scores.round(4))


def popular(prepared: PreparedData, user: str | int, *, k: int = 10, hold_out: Iterable[int] = ()) -> pd.DataFrame:
    """The popularity baseline's top k for the user: rank, book_idx, title, first_author(_name), score (= how many
    train and dev users shelved the book, pipeline.training.evaluate.popularity_scores), among the same candidates as
    `recommend`; ties by book_idx."""
    from pipeline.training.evaluate import popularity_scores

    u = resolve_user(prepared, user)
    offsets, values = without_books(prepared.user_books_csr, u, hold_out)
    counts = popularity_scores(prepared)
    unseen = np.setdiff1d(np.arange(len(counts)), values[offsets[u]:offsets[u + 1]])
    best = unseen[np.lexsort((unseen, -counts[unseen]))[:k]]
    return _books_table(prepared, best, counts[best])
