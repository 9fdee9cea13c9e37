"""Users' book sets, sampled negatives and scoring pairs, numpy only: what every model and the evaluation share.

A user's set is a csr pair (offsets, values) over book_idx. `UserSets` counts memberships vectorized; `cap_sets`
keeps the first `max_set_size` books (the seed's cap); `sample_unseen` draws books a user never shelved;
`pairs_with_negatives` adds one such negative per positive (the seed's classification protocol);
`scoring_pairs` checks a ``score_fn(user_idx, book_idx, held_out)`` call and `top_unseen` lists a user's best
unseen books with any score_fn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Csr", "LabelledPairs", "UserSets", "cap_sets", "pairs_with_negatives", "sample_unseen", "scoring_pairs",
           "top_unseen"]

Csr = tuple[np.ndarray, np.ndarray]


class UserSets:
    """Users' book sets given as a csr pair (offsets, values), with vectorized membership counts.

    >>> sets = UserSets((np.array([0, 2, 3]), np.array([4, 1, 4])), n_books=5)
    >>> sets.count(np.array([0, 0, 1]), np.array([1, 2, 4])).tolist()
    [1, 0, 1]
    """

    def __init__(self, csr: Csr, n_books: int) -> None:
        offsets = np.asarray(csr[0], dtype=np.int64)
        values = np.asarray(csr[1])
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) \
                or offsets[-1] != len(values):
            raise ValueError("user sets: offsets must start at 0, never decrease and end at len(values)")
        if len(values) and (values.min() < 0 or values.max() >= n_books):
            raise ValueError(f"user sets: book ids must lie in 0..{n_books - 1}")
        self.offsets = offsets
        self.values = values.astype(np.int32, copy=False)
        self.n_books = int(n_books)
        self.lengths = np.diff(offsets)
        owners = np.repeat(np.arange(len(self.lengths), dtype=np.int64), self.lengths)
        self._keys = np.sort(owners * self.n_books + self.values)

    @property
    def n_users(self) -> int:
        return len(self.lengths)

    def count(self, users: np.ndarray, books: np.ndarray) -> np.ndarray:
        """How often each book occurs in its user's set (0 for a negative id such as -1)."""
        users = np.asarray(users, dtype=np.int64)
        books = np.asarray(books, dtype=np.int64)
        keys = users * self.n_books + books
        counts = np.searchsorted(self._keys, keys, side="right") - np.searchsorted(self._keys, keys, side="left")
        return np.where(books >= 0, counts, 0)

    def distinct_lengths(self) -> np.ndarray:
        """Distinct books per user."""
        keys = self._keys
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return np.bincount(keys[first] // self.n_books, minlength=self.n_users)


def cap_sets(csr: Csr, max_set_size: int) -> Csr:
    """The first `max_set_size` books of every user's set, as a new csr pair."""
    offsets = np.asarray(csr[0], dtype=np.int64)
    values = np.asarray(csr[1])
    lengths = np.minimum(np.diff(offsets), max_set_size)
    new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    within = np.arange(new_offsets[-1], dtype=np.int64) - np.repeat(new_offsets[:-1], lengths)
    return new_offsets, values[np.repeat(offsets[:-1], lengths) + within].astype(np.int32, copy=False)


def _duplicates_in_rows(a: np.ndarray) -> np.ndarray:
    """True where a value already occurs earlier in its row (in sorted order, stable)."""
    order = np.argsort(a, axis=1, kind="stable")
    ordered = np.take_along_axis(a, order, axis=1)
    dup_sorted = np.zeros(a.shape, dtype=bool)
    dup_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    dup = np.empty_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def sample_unseen(users: np.ndarray, sets: UserSets, rng: np.random.Generator, n_per: int = 1) -> np.ndarray:
    """[len(users), n_per] int32 books drawn uniformly from the books each user never interacted with, distinct
    within a row: draw all, then redraw (in place, in row-major order) the ones that are in the user's set or
    repeat an earlier draw of the row, until none is. Deterministic for a given rng state."""
    users = np.asarray(users, dtype=np.int64)
    room = sets.n_books - sets.distinct_lengths()[users] if len(users) else np.zeros(0, np.int64)
    if len(users) and room.min() < n_per:
        worst = int(users[np.argmin(room)])
        raise ValueError(f"user {worst} has only {int(room.min())} books outside their set, {n_per} needed")
    out = rng.integers(0, sets.n_books, size=(len(users), n_per), dtype=np.int64)
    rows = np.arange(len(users))
    while len(rows):
        block = out[rows]
        bad = sets.count(np.repeat(users[rows], n_per), block.ravel()).reshape(block.shape) > 0
        if n_per > 1:
            bad |= _duplicates_in_rows(block)
        hit = bad.any(axis=1)
        rows, bad, block = rows[hit], bad[hit], block[hit]
        block[bad] = rng.integers(0, sets.n_books, size=int(bad.sum()), dtype=np.int64)
        out[rows] = block
    return out.astype(np.int32)


@dataclass(frozen=True)
class LabelledPairs:
    """(user, candidate, held-out book, label) rows: the labelled rows first, then the sampled negatives.

    held_out is the book removed from the user's set for the row (its own candidate for a labelled row, the
    positive's candidate for a sampled negative); source_row is the row's position in the input, -1 for a
    sampled negative.
    """

    user_idx: np.ndarray
    book_idx: np.ndarray
    held_out: np.ndarray
    label: np.ndarray
    source_row: np.ndarray

    def __len__(self) -> int:
        return len(self.user_idx)

    @property
    def sampled(self) -> np.ndarray:
        return self.source_row < 0


def pairs_with_negatives(user_idx: np.ndarray, book_idx: np.ndarray, labels: np.ndarray, sets: UserSets, *,
                         rng: np.random.Generator, negatives: bool = True) -> LabelledPairs:
    """The seed's protocol: every row, plus (when `negatives`) one random unseen book, label 0, for each row
    whose label is >= 0.5, with the positive's set (the positive candidate held out)."""
    user_idx = np.asarray(user_idx)
    book_idx = np.asarray(book_idx)
    labels = np.asarray(labels, dtype=np.float64)
    n = len(user_idx)
    if not (len(book_idx) == len(labels) == n) or user_idx.ndim != 1 or book_idx.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"user_idx, book_idx and labels must be 1-d of one length, got {user_idx.shape}, "
                         f"{book_idx.shape}, {labels.shape}")
    if n and (np.isnan(labels).any() or labels.min() < 0 or labels.max() > 1):
        raise ValueError("labels must lie in [0, 1] (hard 0/1 or soft probabilities), without NaN")
    if n and (user_idx.min() < 0 or user_idx.max() >= sets.n_users):
        raise ValueError(f"user_idx must lie in 0..{sets.n_users - 1}")
    if n and (book_idx.min() < 0 or book_idx.max() >= sets.n_books):
        raise ValueError(f"book_idx must lie in 0..{sets.n_books - 1}")
    user_idx = user_idx.astype(np.int32)
    book_idx = book_idx.astype(np.int32)
    pos = np.flatnonzero(labels >= 0.5) if negatives else np.zeros(0, np.int64)
    neg_books = sample_unseen(user_idx[pos], sets, rng)[:, 0]
    return LabelledPairs(
        user_idx=np.concatenate([user_idx, user_idx[pos]]),
        book_idx=np.concatenate([book_idx, neg_books]),
        held_out=np.concatenate([book_idx, book_idx[pos]]),
        label=np.concatenate([labels, np.zeros(len(pos))]).astype(np.float32),
        source_row=np.concatenate([np.arange(n, dtype=np.int64), np.full(len(pos), -1, dtype=np.int64)]),
    )


def scoring_pairs(user_idx, book_idx, held_out, n_users: int, n_books: int) -> tuple[np.ndarray, ...]:
    """The (users, books, held) int64 arrays of one ``score_fn(user_idx, book_idx, held_out=None)`` call, checked:
    1-d of one length, users in 0..n_users-1, books in 0..n_books-1, held-out books too or -1 (none); held_out
    None means each candidate is its own held-out book. A bad call is a ValueError saying which."""
    users = np.asarray(user_idx, dtype=np.int64)
    books = np.asarray(book_idx, dtype=np.int64)
    held = books if held_out is None else np.asarray(held_out, dtype=np.int64)
    if not (users.shape == books.shape == held.shape) or users.ndim != 1:
        raise ValueError("user_idx, book_idx and held_out must be 1-d of one length")
    if len(users) and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"user_idx must lie in 0..{n_users - 1}")
    if len(books) and (books.min() < 0 or books.max() >= n_books or held.min() < -1 or held.max() >= n_books):
        raise ValueError(f"book_idx and held_out must lie in 0..{n_books - 1} (held_out -1: none)")
    return users, books, held


def top_unseen(score_fn: Callable[..., np.ndarray], user: int, csr: Csr, n_books: int,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k books the user never shelved (in `csr`) that `score_fn` (bound to `csr`) scores highest, nothing
    held out: (book_idx, score), best first, ties by book_idx. One definition for every scorer's top_k."""
    sets = UserSets(csr, n_books)
    books = np.arange(n_books)
    unseen = books[sets.count(np.full(n_books, user), books) == 0]
    scores = score_fn(np.full(len(unseen), user), unseen, np.full(len(unseen), -1))
    order = np.lexsort((unseen, -scores))[:k]
    return unseen[order], scores[order]
