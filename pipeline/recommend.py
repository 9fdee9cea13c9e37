"""Top-k recommendations of the current model: books a user has not interacted with, best first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.dataset import PreparedData


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
    """The run whose model to use: `run_id`, or the current model (the newest succeeded run)."""
    run = registry.get(run_id) if run_id is not None else registry.current_model()
    if run is None:
        raise ValueError("no trained model yet: run `python -m pipeline retrain` first")
    if run.status != "succeeded":
        raise ValueError(f"run {run.id} has no model (it {run.status})")
    return run


def recommend(prepared: PreparedData, registry, user: str | int, *, k: int = 10, run_id: int | None = None,
              model=None) -> pd.DataFrame:
    """rank, book_idx, title, first_author, score: the model's top k among books the user never shelved."""
    from pipeline import endmodel

    u = resolve_user(prepared, user)
    if model is None:
        model = endmodel.load_model(model_run(registry, run_id).artifact("model"))
    best, scores = endmodel.Scorer(model).top_k(u, prepared.user_books_csr, k)
    meta = prepared.books.set_index("book_idx").loc[best]
    return pd.DataFrame({"rank": np.arange(1, len(best) + 1), "book_idx": best, "title": meta["title"].to_numpy(),
                         "first_author": meta["first_author"].to_numpy(), "score": scores.round(4)})
