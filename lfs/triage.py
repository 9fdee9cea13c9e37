"""What to read next: a split's rows (dev) in the order that teaches most about the enabled LFs.

The queue holds three groups, in this order:

    conflict   rows where the enabled LFs disagree,
    covered    rows some LF votes on without disagreement,
    phrase     rows no LF votes on whose review has a strong suggested phrase (lfs.suggest's keyword suggestions),

the first two each with the least certain rows first (the label model's |P(positive) - 0.5|, or, with fewer than
three LFs, where snorkel's LabelModel cannot be fitted, the majority vote's margin |pos - neg| / votes), the third
with the rows that have a review first. Other rows (no vote, no phrase) are left out. So that a page is not one
popular book, the queue is spread: no book takes more than PER_WINDOW of any WINDOW consecutive places while some
other book's row could go there (`spread`). Nothing here reads gold. The label model's probabilities come from
the caller (workbench.examples_view.label_probs fits it): lfs sits below pipeline.training and never imports it.

>>> L = np.array([[1, 0, -1], [1, -1, -1], [-1, -1, -1], [0, 1, 1]])
>>> triage_order(L, None, np.arange(4), np.array([False, False, True, False])).tolist()
[0, 3, 1, 2]
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence

import numpy as np

from .apply import LFData
from .spec import ABSTAIN, LFSpec

CONFLICT, COVERED, PHRASE = 0, 1, 2
GROUPS = {CONFLICT: "LFs conflict", COVERED: "LFs agree", PHRASE: "no LF votes, a suggested phrase"}
WINDOW, PER_WINDOW = 10, 2  # at most 2 rows of one book in any 10 consecutive places, where avoidable


def groups(L: np.ndarray, phrase_rows: np.ndarray | None = None) -> np.ndarray:
    """Each row's group (CONFLICT, COVERED, PHRASE), -1 for a row the queue leaves out."""
    conflict = (L == 0).any(axis=1) & (L == 1).any(axis=1)
    covered = (L != ABSTAIN).any(axis=1)
    phrase = np.zeros(len(L), dtype=bool) if phrase_rows is None else np.asarray(phrase_rows, dtype=bool)
    return np.select([conflict, covered, phrase], [CONFLICT, COVERED, PHRASE], default=-1).astype(np.int8)


def certainty(L: np.ndarray, probs: np.ndarray | None = None) -> np.ndarray:
    """How sure the votes are of each row (low: unsure): |P(positive) - 0.5| from `probs` (the label model's
    predict_proba), else the majority vote's margin |pos - neg| / votes; 0 on rows without votes."""
    if probs is not None:
        return np.abs(np.asarray(probs, dtype=float)[:, 1] - 0.5)
    pos, neg = (L == 1).sum(axis=1), (L == 0).sum(axis=1)
    return np.abs(pos - neg) / np.maximum(pos + neg, 1)


def triage_order(L: np.ndarray, probs: np.ndarray | None, book_idx: np.ndarray, phrase_rows: np.ndarray | None,
                 *, has_review: np.ndarray | None = None) -> np.ndarray:
    """Row positions of the queue (int64), most instructive first: see the module docstring. `probs`: the label
    model's predict_proba on L (None: majority-vote margin); `phrase_rows`: rows with a suggested phrase;
    `has_review`: rows with a review (None: none known). Ties keep dataset order."""
    L = np.asarray(L)
    group = groups(L, phrase_rows)
    key = certainty(L, probs)
    if has_review is not None:  # phrase rows have no votes to be unsure of: those with a review first
        key = np.where(group == PHRASE, ~np.asarray(has_review, dtype=bool), key)
    queued = np.flatnonzero(group >= 0)
    ranked = queued[np.lexsort((queued, key[queued], group[queued]))]
    return ranked[spread(np.asarray(book_idx)[ranked], group[ranked])]


# -- variety ------------------------------------------------------------------------------------------------------
def spread(books: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A permutation of 0..len(books)-1 (the ranked rows' books, their groups in order) in which no book takes more
    than PER_WINDOW of any WINDOW consecutive places where avoidable, each group kept whole and in place.

    Greedy: each place takes the best-ranked row whose book is free there; a book that has had PER_WINDOW of the
    last WINDOW - 1 places waits in a heap by the place it is free again. So each book's rows keep their order, the
    order is the ranking wherever it already has variety, and a book is only ever put off, never pulled forward.
    When every book left is waiting (one book dominates the rest of a group), the first free one goes anyway.
    O(n log n)."""
    out = np.empty(len(books), dtype=np.int64)
    recent: dict = {}  # book -> its last PER_WINDOW places in `out` (carried across groups)
    cuts = np.flatnonzero(np.diff(group)) + 1
    for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(books)], strict=True):
        if end > start:
            _spread_group(books[start:end], start, out, recent)
    return out


def _free_at(places: deque | None) -> int:
    """The first place a book with these recent places may take again."""
    return places[0] + WINDOW if places is not None and len(places) == PER_WINDOW else -1


def _by_book(books: np.ndarray) -> tuple[list[int], list, list[int], list[int]]:
    """(ranks grouped by book, best first in each; each book i; where book i's ranks begin and end in them)."""
    ranks = np.argsort(books, kind="stable")
    firsts = np.r_[0, np.flatnonzero(np.diff(books[ranks])) + 1]
    return ranks.tolist(), books[ranks[firsts]].tolist(), firsts.tolist(), np.r_[firsts[1:], len(books)].tolist()


def _spread_group(books: np.ndarray, start: int, out: np.ndarray, recent: dict) -> None:
    """Fill out[start:start + len(books)] with start + the ranks of one group's rows, spread (see `spread`)."""
    ranks, book_of, nexts, ends = _by_book(books)  # nexts[i]: where book i's next rank is in `ranks`
    ready: list[tuple[int, int]] = []  # (next rank, i) of the books free now
    waiting: list[tuple[int, int, int]] = []  # (free at, next rank, i) of the others
    for i, first in enumerate(nexts):
        free = _free_at(recent.get(book_of[i]))
        if free <= start:
            ready.append((ranks[first], i))
        else:
            waiting.append((free, ranks[first], i))
    heapq.heapify(ready)
    heapq.heapify(waiting)
    for place in range(start, start + len(books)):
        while waiting and waiting[0][0] <= place:
            _, rank, i = heapq.heappop(waiting)
            heapq.heappush(ready, (rank, i))
        rank, i = heapq.heappop(ready) if ready else heapq.heappop(waiting)[1:]
        out[place] = start + rank
        places = recent.setdefault(book_of[i], deque(maxlen=PER_WINDOW))
        places.append(place)
        nexts[i] += 1
        if nexts[i] < ends[i]:
            free, rank = _free_at(places), ranks[nexts[i]]
            if free <= place + 1:
                heapq.heappush(ready, (rank, i))
            else:
                heapq.heappush(waiting, (free, rank, i))


# -- what the queue is made of --------------------------------------------------------------------------------------
def group_counts(L: np.ndarray, phrase_rows: np.ndarray | None = None) -> dict[int, int]:
    """Rows of each group (GROUPS' keys) in the queue."""
    counts = np.bincount(groups(L, phrase_rows) + 1, minlength=len(GROUPS) + 1)[1:]
    return {g: int(counts[g]) for g in GROUPS}


def phrase_mask(data: LFData, specs: Sequence[LFSpec]) -> np.ndarray:
    """Rows some of `specs` (keyword suggestions' LFs) vote on: the rows with a suggested phrase."""
    hit = np.zeros(data.n, dtype=bool)
    for spec in specs:
        hit |= data.column(spec) != ABSTAIN
    return hit
