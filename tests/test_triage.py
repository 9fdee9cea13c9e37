"""lfs.triage on hand-made label matrices whose queues are worked out by hand, and the Examples page's label-model
helper (workbench.examples_view.label_probs) against snorkel's own LabelModel."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lfs.spec import KeywordLF, KeywordRule
from lfs.triage import (
    CONFLICT,
    COVERED,
    PER_WINDOW,
    PHRASE,
    WINDOW,
    certainty,
    group_counts,
    groups,
    phrase_mask,
    triage_order,
)
from pipeline.training.labelmodel import LabelModelParams
from tests.test_examples import make_split
from workbench.examples_view import label_probs

#          votes          P(pos)  group     certainty
# row 0    1  1 -1        0.875   covered   0.375
# row 1    1  0 -1        0.5     conflict  0
# row 2   -1 -1 -1          -     phrase, no review
# row 3    0 -1 -1        0.375   covered   0.125
# row 4    0  1  1        0.75    conflict  0.25
# row 5   -1 -1 -1          -     left out (no phrase)
# row 6   -1 -1 -1          -     phrase, a review
# row 7    1 -1 -1        0.625   covered   0.125 (a tie with row 3: dataset order)
L = np.array([[1, 1, -1], [1, 0, -1], [-1, -1, -1], [0, -1, -1], [0, 1, 1], [-1, -1, -1], [-1, -1, -1],
              [1, -1, -1]], dtype=np.int8)
P1 = np.array([0.875, 0.5, 0.5, 0.375, 0.75, 0.5, 0.5, 0.625])
PROBS = np.column_stack([1 - P1, P1])
PHRASES = np.array([False, False, True, False, False, False, True, False])
REVIEW = np.array([True, True, False, True, True, True, True, True])
BOOKS = np.arange(len(L))  # one book per row: no spreading


def test_groups_and_their_counts():
    assert groups(L, PHRASES).tolist() == [COVERED, CONFLICT, PHRASE, COVERED, CONFLICT, -1, PHRASE, COVERED]
    assert group_counts(L, PHRASES) == {CONFLICT: 2, COVERED: 3, PHRASE: 2}
    assert groups(L).tolist().count(PHRASE) == 0  # no phrases known: uncovered rows are left out


def test_conflicts_then_covered_by_uncertainty_then_phrase_rows_with_a_review_first():
    assert triage_order(L, PROBS, BOOKS, PHRASES, has_review=REVIEW).tolist() == [1, 4, 3, 7, 0, 6, 2]
    assert triage_order(L, PROBS, BOOKS, PHRASES).tolist() == [1, 4, 3, 7, 0, 2, 6]  # reviews unknown
    assert triage_order(L, PROBS, BOOKS, None).tolist() == [1, 4, 3, 7, 0]


def test_without_a_label_model_the_majority_vote_margin_orders():
    L4 = np.array([[1, 1, 1, 0], [1, 0, -1, -1], [1, 1, 0, -1], [1, -1, -1, -1], [0, 0, -1, -1]], dtype=np.int8)
    np.testing.assert_allclose(certainty(L4), [0.5, 0, 1 / 3, 1, 1])
    assert triage_order(L4, None, np.arange(5), None).tolist() == [1, 2, 0, 3, 4]
    # the label model's view of the same rows orders them its way
    p1 = np.array([0.5, 0.9, 0.6, 0.5, 0.5])
    assert triage_order(L4, np.column_stack([1 - p1, p1]), np.arange(5), None).tolist() == [0, 2, 1, 3, 4]


def windows_over(books: np.ndarray) -> int:
    """The most rows one book has in any WINDOW consecutive places."""
    return max(max(Counter(books[i:i + WINDOW].tolist()).values()) for i in range(max(1, len(books) - WINDOW + 1)))


def test_a_dominant_book_is_spread_out_keeping_its_own_order():
    # 16 conflict rows: book 7 has the four least certain, books 100..111 one each
    n = 16
    L2 = np.tile(np.array([[1, 0, -1]], dtype=np.int8), (n, 1))
    p1 = 0.5 + np.linspace(0, 0.4, n)  # row order is certainty order
    books = np.array([7, 7, 7, 7, *range(100, 112)])
    order = triage_order(L2, np.column_stack([1 - p1, p1]), books, None)
    assert order.tolist() == [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 2, 3, 12, 13, 14, 15]
    assert windows_over(books[np.arange(n)]) == 4 and windows_over(books[order]) == PER_WINDOW


def test_spreading_carries_over_a_group_boundary():
    # two conflict rows of book 5, then covered rows: book 5's first, then books 11..19
    L3 = np.array([[1, 0]] * 2 + [[1, -1]] * 10, dtype=np.int8)
    books = np.array([5, 5, 5, *range(11, 20)])
    assert triage_order(L3, None, books, None).tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 2, 11]


@pytest.mark.parametrize("L0", [np.full((4, 2), -1, dtype=np.int8), np.empty((4, 0), dtype=np.int8),
                                np.empty((0, 3), dtype=np.int8)])
def test_an_empty_queue(L0):
    assert triage_order(L0, None, np.zeros(len(L0), dtype=int), None).tolist() == []


def test_when_only_one_book_is_left_it_goes_on_anyway():
    L1 = np.ones((5, 1), dtype=np.int8)
    assert triage_order(L1, None, np.array([3, 3, 3, 4, 3]), None).tolist() == [0, 1, 3, 2, 4]


def test_the_queue_keeps_groups_whole_and_each_books_order():
    rng = np.random.default_rng(0)
    n = 3000
    L5 = rng.choice(np.array([-1, -1, 0, 1], dtype=np.int8), size=(n, 4))
    p1 = rng.random(n)
    books = rng.zipf(1.5, n) % 200
    phrase = rng.random(n) < 0.5
    order = triage_order(L5, np.column_stack([1 - p1, p1]), books, phrase, has_review=rng.random(n) < 0.5)
    group = groups(L5, phrase)
    assert sorted(order.tolist()) == np.flatnonzero(group >= 0).tolist()
    assert np.all(np.diff(group[order]) >= 0)
    unsure = np.abs(p1 - 0.5)
    for g in (CONFLICT, COVERED):
        for book in np.unique(books):
            mine = order[(group[order] == g) & (books[order] == book)]
            assert np.all(np.diff(unsure[mine]) >= 0)


def test_phrase_mask_is_the_rows_a_suggestion_votes_on():
    split = make_split()
    specs = [KeywordLF(name, rules=(KeywordRule((kw,), 1),), match="word") for name, kw in (("a", "stars"),
                                                                                              ("b", "meh"))]
    assert phrase_mask(split.data, specs).tolist() == [True, False, False, True, False, True]
    assert not phrase_mask(split.data, []).any()


def votes(n: int = 1500, seed: int = 0) -> np.ndarray:
    """Three LFs of different accuracy on a hidden truth, abstaining often."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    out = np.full((n, 3), -1, dtype=np.int8)
    for j, (acc, cov) in enumerate([(0.9, 0.4), (0.75, 0.5), (0.6, 0.5)]):
        fires, right = rng.random(n) < cov, rng.random(n) < acc
        out[fires, j] = np.where(right[fires], y[fires], 1 - y[fires])
    return out


def test_label_probs_are_snorkels_label_model_fitted_on_the_votes():
    from snorkel.labeling.model import LabelModel

    L_dev = votes()
    params = LabelModelParams(n_epochs=200, seed=4)
    probs = label_probs(L_dev, params)
    model = LabelModel(cardinality=2, verbose=False)
    model.fit(L_dev, n_epochs=200, lr=params.lr, l2=params.l2, seed=4, progress_bar=False)
    np.testing.assert_array_equal(probs, model.predict_proba(L_dev))
    assert probs.shape == (len(L_dev), 2) and np.allclose(probs.sum(axis=1), 1)
    # it learned that LF 0 is the best: where LF 0 and LF 2 disagree alone, it sides with LF 0
    alone = (L_dev[:, 1] == -1) & (L_dev[:, 0] != -1) & (L_dev[:, 2] != -1) & (L_dev[:, 0] != L_dev[:, 2])
    assert alone.any() and np.all((probs[alone, 1] > 0.5) == (L_dev[alone, 0] == 1))


@pytest.mark.parametrize("lfs", [0, 1, 2])
def test_label_probs_need_three_lfs(lfs):
    assert label_probs(votes()[:, :lfs], LabelModelParams(n_epochs=10)) is None
