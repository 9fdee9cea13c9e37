"""Evaluation on test: the same rows for every contender, classification by the seed's protocol and ranking.

- `classification_rows`: every labelled test row plus, for each positive, one seeded random book the user never
  interacted with, label 0 (the seed's test generator). `classification_metrics` scores them at threshold 0.5.
- `ranking_cases`: each liked test book (rating 1) of each test user against `n_negatives` seeded books the user
  never interacted with (distinct). `ranking_ranks`: each case's rank of the positive; `ranking_metrics`: HR@k
  and NDCG@k over the 1 + n candidates, from those ranks.
- `popularity_scores` / `popularity_scorer`: the popularity baseline. `compare_contenders`: the table with
  deltas to a reference contender.

A contender is a score function ``score_fn(user_idx, book_idx, held_out=None) -> scores`` (`Scorer.bind` in
pipeline.training.endmodel makes one from a model). ``held_out[i]`` is the book removed from user i's set before
scoring, which is the seed's protocol: a labelled row's own candidate, and for a sampled negative the positive
it was drawn for (the seed yields the negative with the positive's filtered set). In a ranking case all
1 + n candidates hold out the liked book, so one user vector is ranked against every candidate. A score
function without a ``held_out`` parameter is called as ``score_fn(user_idx, book_idx)``.

Everything is numpy; nothing here imports TensorFlow.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.training.sampling import Csr, UserSets, pairs_with_negatives, sample_unseen

__all__ = [
    "COUNT_KEYS", "ClassificationRows", "RankingCases", "classification_metrics", "classification_rows",
    "compare_contenders", "popularity_scorer", "popularity_scores", "ranking_cases", "ranking_metrics",
    "ranking_ranks", "metrics_from_ranks",
]

LOG_LOSS_EPS = 1e-7
COUNT_KEYS = ("n", "positives", "ranking_cases", "ranking_users", "coverage")
"""Columns that describe a contender's rows rather than its quality: no delta is computed for them."""

ScoreFn = Callable[..., np.ndarray]


# --------------------------------------------------------------------------------------------------------------
# classification


def classification_metrics(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """accuracy, precision, recall, f1 (positive when p > 0.5, as Keras' metrics threshold), roc_auc, log_loss
    (p clipped to [1e-7, 1 - 1e-7]), n and positives. A metric that is undefined on these rows is NaN: ROC-AUC
    with one class, precision with no predicted positive, recall with no positive, F1 with neither, anything
    on no rows.

    >>> m = classification_metrics([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
    >>> m["accuracy"], m["precision"], m["recall"], m["roc_auc"]
    (0.5, 0.5, 0.5, 0.75)
    """
    from sklearn import metrics

    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} rows, p has {len(p)}")
    if len(y) and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold 0/1 labels")
    if len(p) and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise ValueError("p must hold probabilities in [0, 1], without NaN")
    nan = float("nan")
    out = {"accuracy": nan, "precision": nan, "recall": nan, "f1": nan, "roc_auc": nan, "log_loss": nan,
           "n": int(len(y)), "positives": int(y.sum())}
    if not len(y):
        return out
    y_int = y.astype(np.int8)
    pred = (p > 0.5).astype(np.int8)
    out["accuracy"] = float(metrics.accuracy_score(y_int, pred))
    out["precision"] = float(metrics.precision_score(y_int, pred, zero_division=np.nan))
    out["recall"] = float(metrics.recall_score(y_int, pred, zero_division=np.nan))
    out["f1"] = float(metrics.f1_score(y_int, pred, zero_division=np.nan))
    out["log_loss"] = float(metrics.log_loss(y_int, np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS), labels=[0, 1]))
    if 0 < out["positives"] < len(y):
        out["roc_auc"] = float(metrics.roc_auc_score(y_int, p))
    return out


@dataclass(frozen=True)
class ClassificationRows:
    """The test rows of the seed's protocol: the labelled rows in order, then one sampled negative per positive.

    held_out: the book removed from the user's set for the row; source_row: the row's position in the test
    frame, -1 for a sampled negative (so the LF-only contender can take the labelled rows). Unpacks as
    ``user_idx, book_idx, y = rows``.
    """

    user_idx: np.ndarray
    book_idx: np.ndarray
    y: np.ndarray
    held_out: np.ndarray
    source_row: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.user_idx, self.book_idx, self.y))

    def __len__(self) -> int:
        return len(self.y)

    def score(self, score_fn: ScoreFn) -> np.ndarray:
        """score_fn on every row, with the held-out books when it takes them."""
        return _call(score_fn, self.user_idx, self.book_idx, self.held_out)


def _rated(test_df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("user_idx", "book_idx", "rating") if c not in test_df.columns]
    if missing:
        raise ValueError(f"test rows lack column(s) {', '.join(missing)}")
    return (test_df["user_idx"].to_numpy(), test_df["book_idx"].to_numpy(),
            test_df["rating"].to_numpy(dtype=np.float64))


def classification_rows(test_df: pd.DataFrame, csr: Csr, n_books: int, *, seed: int) -> ClassificationRows:
    """Every labelled test row plus one random unseen book (label 0) per positive; the same rows for a seed."""
    users, books, rating = _rated(test_df)
    pairs = pairs_with_negatives(users, books, rating, UserSets(csr, n_books), rng=np.random.default_rng(seed))
    return ClassificationRows(user_idx=pairs.user_idx, book_idx=pairs.book_idx,
                              y=pairs.label.astype(np.float64), held_out=pairs.held_out,
                              source_row=pairs.source_row)


# --------------------------------------------------------------------------------------------------------------
# ranking


@dataclass(frozen=True)
class RankingCases:
    """One case per liked test row: case_user [c], positive [c] (the liked book), negatives [c, n] (distinct
    books the user never interacted with)."""

    case_user: np.ndarray
    positive: np.ndarray
    negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.positive)


def ranking_cases(test_df: pd.DataFrame, csr: Csr, n_books: int, *, n_negatives: int = 100,
                  seed: int) -> RankingCases:
    """Each test row with rating 1 against `n_negatives` seeded unseen books; the same cases for a seed."""
    if isinstance(n_negatives, bool) or not isinstance(n_negatives, int | np.integer) or n_negatives < 1:
        raise ValueError(f"n_negatives must be an integer >= 1, got {n_negatives!r}")
    users, books, rating = _rated(test_df)
    liked = rating == 1
    users = users[liked].astype(np.int32)
    negatives = sample_unseen(users, UserSets(csr, n_books), np.random.default_rng(seed), n_per=n_negatives)
    return RankingCases(case_user=users, positive=books[liked].astype(np.int32), negatives=negatives)


def ranking_ranks(score_fn: ScoreFn, cases: RankingCases, *, chunk_cases: int = 4096) -> np.ndarray:
    """Each case's 0-based rank of the positive among its 1 + n candidates, int64 [c].

    The rank is the number of negatives scoring at least as high as the positive: ties count against the
    positive (pessimistic), so a constant scorer gets rank n, never a lucky 0. Cases are scored `chunk_cases` at
    a time (the positive first, then its negatives), every candidate with the positive held out.

    >>> cases = RankingCases(np.array([0, 1]), np.array([5, 5]), np.array([[1, 2, 3], [6, 7, 8]]))
    >>> ranking_ranks(lambda u, b: b / 10.0, cases).tolist()  # book 5 beats 1..3, loses to 6..8
    [0, 3]
    """
    c, n = cases.negatives.shape
    ranks = np.empty(c, dtype=np.int64)
    for start in range(0, c, chunk_cases):
        stop = min(start + chunk_cases, c)
        books = np.concatenate([cases.positive[start:stop, None], cases.negatives[start:stop]], axis=1)
        users = np.repeat(cases.case_user[start:stop], n + 1)
        held = np.repeat(cases.positive[start:stop], n + 1)
        scores = np.asarray(_call(score_fn, users, books.ravel(), held), dtype=np.float64)
        if scores.shape != (len(users),):
            raise ValueError(f"score_fn returned shape {scores.shape} for {len(users)} pairs")
        if not np.isfinite(scores).all():
            raise ValueError("score_fn returned NaN or infinite scores")
        scores = scores.reshape(stop - start, n + 1)
        ranks[start:stop] = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)
    return ranks


def ranking_metrics(score_fn: ScoreFn, cases: RankingCases, k: int = 10, *,
                    chunk_cases: int = 4096) -> dict[str, float]:
    """hr@k and ndcg@k over the cases, plus ranking_cases and ranking_users.

    The positive's rank is `ranking_ranks` (ties pessimistic). HR@k is the share of cases with rank < k;
    NDCG@k the mean of 1 / log2(rank + 2) over those cases (0 otherwise), one relevant item per case.

    >>> cases = RankingCases(np.array([0]), np.array([5]), np.array([[1, 2, 3]]))
    >>> ranking_metrics(lambda u, b: (b == 5) + 0.0, cases, k=1)["hr@1"]
    1.0
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return metrics_from_ranks(ranking_ranks(score_fn, cases, chunk_cases=chunk_cases), cases, k)


def metrics_from_ranks(ranks: np.ndarray, cases: RankingCases, k: int = 10) -> dict[str, float]:
    """`ranking_metrics` from ranks already computed by `ranking_ranks` (one scoring pass serves the metrics and
    the bootstrap)."""
    c = len(cases.positive)
    hit = ranks < k
    gains = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return {f"hr@{k}": float(hit.mean()) if c else math.nan, f"ndcg@{k}": float(gains.mean()) if c else math.nan,
            "ranking_cases": int(c), "ranking_users": int(len(np.unique(cases.case_user)))}


def _call(score_fn: ScoreFn, users: np.ndarray, books: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    if _takes_held_out(score_fn):
        return score_fn(users, books, held_out=held_out)
    return score_fn(users, books)


def _takes_held_out(score_fn: ScoreFn) -> bool:
    try:
        params = inspect.signature(score_fn).parameters
    except (TypeError, ValueError):
        return False
    return "held_out" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# --------------------------------------------------------------------------------------------------------------
# popularity


def popularity_scores(prepared, splits: tuple[str, ...] = ("train", "dev")) -> np.ndarray:
    """Interaction counts by book_idx over the book sets of the users of `splits`.

    The default counts the train and dev users, whose sets the end model learns from; test users are left
    out, or every liked test book would count itself once (a small leak), and val users with them.
    """
    users = prepared.users
    unknown = sorted(set(splits) - {"train", "dev", "val", "test"})
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(unknown)}")
    offsets, values = prepared.user_books_csr
    chosen = np.flatnonzero(users["split"].isin(splits).to_numpy())
    lengths = offsets[chosen + 1] - offsets[chosen]
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    books = values[np.repeat(offsets[chosen], lengths) + within]
    return np.bincount(books, minlength=len(prepared.books)).astype(np.int64)


def popularity_scorer(counts: np.ndarray) -> ScoreFn:
    """score_fn(user_idx, book_idx, held_out=None) = count / max count, the same for every user.

    A monotone map into [0, 1], so ROC-AUC, HR and NDCG are meaningful; it is a ranking, not a calibrated
    probability, so its accuracy, precision, recall, F1 and log loss at threshold 0.5 say little.
    """
    counts = np.asarray(counts, dtype=np.float64)
    scale = counts.max() if len(counts) and counts.max() > 0 else 1.0
    normalised = counts / scale

    def score_fn(user_idx: np.ndarray, book_idx: np.ndarray, held_out: np.ndarray | None = None) -> np.ndarray:
        return normalised[np.asarray(book_idx)]

    return score_fn


# --------------------------------------------------------------------------------------------------------------
# the comparison table


def compare_contenders(results: Mapping[str, Mapping[str, Any]], reference: str = "ours") -> pd.DataFrame:
    """Rows = contenders (in the given order), columns = every metric any contender has (NaN where one lacks
    it), then ``delta_<metric>`` = contender - reference for each quality metric (not for COUNT_KEYS)."""
    if reference not in results:
        raise ValueError(f"reference contender {reference!r} is not among {', '.join(results) or 'no contenders'}")
    table = pd.DataFrame.from_dict({name: dict(m) for name, m in results.items()}, orient="index")
    table = table.apply(pd.to_numeric, errors="coerce").astype(float)
    deltas = {f"delta_{col}": table[col] - table.loc[reference, col] for col in table.columns
              if col not in COUNT_KEYS}
    return pd.concat([table, pd.DataFrame(deltas, index=table.index)], axis=1)
