"""Evaluation: metrics against hand-computed values and scikit-learn, the test rows and ranking cases of the seed's
protocol, popularity, and the comparison table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from pipeline.data.dataset import PreparedData
from pipeline.training import evaluate as ev

# --------------------------------------------------------------------------------------------------------------
# classification metrics


def test_classification_metrics_on_a_hand_made_case():
    y = [0, 1, 1, 0, 1]
    p = [0.2, 0.9, 0.4, 0.6, 0.5]  # predicted positive (p > 0.5): rows 1 and 3; 0.5 itself is negative
    m = ev.classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(2 / 5)  # rows 0 and 1 right
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    # AUC: positives {0.9, 0.4, 0.5} vs negatives {0.2, 0.6}: 0.9 beats both, 0.4 and 0.5 beat 0.2 only -> 4/6
    assert m["roc_auc"] == pytest.approx(4 / 6)
    expected_ll = -np.mean(np.log([0.8, 0.9, 0.4, 0.4, 0.5]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert (m["n"], m["positives"]) == (5, 3)
    pred = (np.array(p) > 0.5).astype(int)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))


def test_classification_metrics_are_nan_where_undefined():
    one_class = ev.classification_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(one_class["roc_auc"])
    assert one_class["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7])))
    assert one_class["recall"] == pytest.approx(2 / 3) and one_class["precision"] == 1.0
    nothing_predicted = ev.classification_metrics([0, 1], [0.1, 0.2])
    assert math.isnan(nothing_predicted["precision"]) and nothing_predicted["recall"] == 0.0
    assert nothing_predicted["f1"] == 0.0  # 2TP / (2TP + FP + FN) = 0 / 1
    no_positives = ev.classification_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(no_positives["recall"]) and math.isnan(no_positives["f1"])
    empty = ev.classification_metrics([], [])
    assert empty["n"] == 0 and math.isnan(empty["accuracy"])


def test_log_loss_clips_certain_mistakes():
    m = ev.classification_metrics([1, 0], [0.0, 1.0])
    assert m["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)


@pytest.mark.parametrize("y, p", [([0, 1], [0.5]), ([0, 2], [0.1, 0.2]), ([0, 1], [0.1, np.nan]),
                                  ([0, 1], [0.1, 1.2])])
def test_classification_metrics_reject_bad_input(y, p):
    with pytest.raises(ValueError):
        ev.classification_metrics(y, p)


# --------------------------------------------------------------------------------------------------------------
# ranking metrics


def _cases_with_ranks(ranks_and_ties):
    """One case per (rank, ties): `rank` negatives score above the positive, `ties` score the same, the rest
    below. Book ids encode the score (score = book id / 1000), so a plain lookup scores them."""
    users, positives, negatives = [], [], []
    for case, (rank, ties) in enumerate(ranks_and_ties):
        pos = 500
        row = [900 - i for i in range(rank)] + [500] * ties + [100 - i for i in range(100 - rank - ties)]
        users.append(case)
        positives.append(pos)
        negatives.append(row)
    return ev.RankingCases(np.array(users), np.array(positives), np.array(negatives))


def test_hr_and_ndcg_on_a_hand_made_ranking():
    cases = _cases_with_ranks([(0, 0), (3, 0), (10, 0), (9, 0), (50, 0)])

    def score(users, books):
        return books / 1000.0

    m = ev.ranking_metrics(score, cases, k=10)
    expected_ndcg = (1.0 + 1 / math.log2(5) + 0 + 1 / math.log2(11) + 0) / 5
    assert m["hr@10"] == pytest.approx(3 / 5)
    assert m["ndcg@10"] == pytest.approx(expected_ndcg)
    assert (m["ranking_cases"], m["ranking_users"]) == (5, 5)
    single = ev.ranking_metrics(score, _cases_with_ranks([(0, 0)]), k=10)
    assert single["hr@10"] == 1.0 and single["ndcg@10"] == 1.0
    assert ev.ranking_metrics(score, _cases_with_ranks([(10, 0)]))["hr@10"] == 0.0


def test_ties_count_against_the_positive():
    # 2 negatives above, 8 tied: pessimistic rank 10, so not a hit at 10 but a hit at 11
    cases = _cases_with_ranks([(2, 8)])

    def score(users, books):
        return books / 1000.0

    assert ev.ranking_metrics(score, cases, k=10)["hr@10"] == 0.0
    m = ev.ranking_metrics(score, cases, k=11)
    assert m["hr@11"] == 1.0 and m["ndcg@11"] == pytest.approx(1 / math.log2(12))

    def constant(users, books):
        return np.zeros(len(books))

    assert ev.ranking_metrics(constant, cases, k=100)["hr@100"] == 0.0


def test_ranking_is_scored_in_chunks_with_the_positive_held_out():
    cases = _cases_with_ranks([(0, 0), (3, 0), (12, 0)])
    seen = []

    def score(users, books, held_out=None):
        seen.append((users.copy(), held_out.copy()))
        return books / 1000.0

    whole = ev.ranking_metrics(score, cases)
    assert len(seen) == 1
    chunked = ev.ranking_metrics(score, cases, chunk_cases=2)
    assert whole == chunked and len(seen) == 3
    users, held = seen[0]
    assert np.array_equal(users, np.repeat([0, 1, 2], 101)) and np.array_equal(held, np.repeat(500, 303))


def test_ranking_ranks_are_the_pessimistic_ranks_behind_the_metrics():
    cases = _cases_with_ranks([(0, 0), (3, 0), (2, 8), (0, 100)])  # the last: every negative ties

    def score(users, books):
        return books / 1000.0

    ranks = ev.ranking_ranks(score, cases)
    assert ranks.tolist() == [0, 3, 10, 100] and ranks.dtype == np.int64
    assert np.array_equal(ev.ranking_ranks(score, cases, chunk_cases=3), ranks)
    m = ev.ranking_metrics(score, cases, k=10)
    assert m["hr@10"] == pytest.approx(np.mean(ranks < 10))
    assert m["ndcg@10"] == pytest.approx(np.mean(np.where(ranks < 10, 1 / np.log2(ranks + 2.0), 0)))


def test_ranking_metrics_reject_non_finite_scores():
    with pytest.raises(ValueError, match="NaN"):
        ev.ranking_metrics(lambda u, b: np.full(len(b), np.nan), _cases_with_ranks([(0, 0)]))


# --------------------------------------------------------------------------------------------------------------
# rows and cases


@pytest.fixture
def world():
    """6 users over 400 books; user u has books 10u..10u+29 (so sets overlap); test rows on users 0..3."""
    sets = [np.arange(10 * u, 10 * u + 30, dtype=np.int32) for u in range(6)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    csr = (offsets, np.concatenate(sets))
    test = pd.DataFrame({"user_idx": [0, 0, 1, 2, 2, 3, 3], "book_idx": [5, 7, 12, 20, 25, 31, 40],
                         "rating": [1, 0, 1, 1, 1, 0, 0]})
    return csr, test, sets


def test_classification_rows_follow_the_seed_protocol(world):
    csr, test, sets = world
    rows = ev.classification_rows(test, csr, 400, seed=3)
    u, b, y = rows
    assert len(rows) == 7 + 4 and len(u) == len(b) == len(y) == 11
    assert np.array_equal(u[:7], test.user_idx) and np.array_equal(b[:7], test.book_idx)
    assert np.array_equal(y, np.r_[test.rating, np.zeros(4)])
    positives = np.flatnonzero(test.rating == 1)
    assert np.array_equal(u[7:], test.user_idx.to_numpy()[positives])
    assert np.array_equal(rows.held_out, np.r_[test.book_idx, test.book_idx.to_numpy()[positives]])
    assert np.array_equal(rows.source_row, np.r_[np.arange(7), [-1] * 4])
    for user, book in zip(u[7:], b[7:], strict=True):
        assert book not in sets[user]
    again = ev.classification_rows(test, csr, 400, seed=3)
    other = ev.classification_rows(test, csr, 400, seed=4)
    assert np.array_equal(again.book_idx, rows.book_idx) and not np.array_equal(other.book_idx, rows.book_idx)


def test_ranking_cases_pair_each_liked_book_with_unseen_distinct_books(world):
    csr, test, sets = world
    cases = ev.ranking_cases(test, csr, 400, seed=1)
    assert np.array_equal(cases.case_user, [0, 1, 2, 2]) and np.array_equal(cases.positive, [5, 12, 20, 25])
    assert cases.negatives.shape == (4, 100)
    for user, row in zip(cases.case_user, cases.negatives, strict=True):
        assert len(set(row.tolist())) == 100 and not set(row.tolist()) & set(sets[user].tolist())
    assert np.array_equal(ev.ranking_cases(test, csr, 400, seed=1).negatives, cases.negatives)
    assert not np.array_equal(ev.ranking_cases(test, csr, 400, seed=2).negatives, cases.negatives)
    assert ev.ranking_cases(test, csr, 400, n_negatives=5, seed=1).negatives.shape == (4, 5)
    with pytest.raises(ValueError, match="n_negatives"):
        ev.ranking_cases(test, csr, 400, n_negatives=0, seed=1)


# --------------------------------------------------------------------------------------------------------------
# popularity


def test_popularity_counts_train_and_dev_users_only():
    users = pd.DataFrame({"user_idx": [0, 1, 2, 3], "user_id": list("abcd"),
                          "split": ["train", "dev", "test", "train"],
                          "book_idxs": [np.array([0, 1], np.int32), np.array([1, 2], np.int32),
                                        np.array([2, 3], np.int32), np.array([1], np.int32)]})
    books = pd.DataFrame({"book_idx": range(5)})
    prepared = PreparedData(books=books, users=users, splits={}, manifest={}, path=Path("."))
    counts = ev.popularity_scores(prepared)
    assert counts.tolist() == [1, 3, 1, 0, 0]
    assert ev.popularity_scores(prepared, splits=("test",)).tolist() == [0, 0, 1, 1, 0]
    score = ev.popularity_scorer(counts)
    assert score(np.array([0, 9]), np.array([1, 3])).tolist() == [1.0, 0.0]
    assert score(np.array([0]), np.array([0]), held_out=np.array([0])).tolist() == [pytest.approx(1 / 3)]
    with pytest.raises(ValueError, match="unknown split"):
        ev.popularity_scores(prepared, splits=("everyone",))


# --------------------------------------------------------------------------------------------------------------
# the comparison table


def test_compare_contenders_adds_deltas_to_the_reference():
    results = {
        "ours": {"f1": 0.6, "roc_auc": 0.7, "hr@10": 0.3, "n": 10},
        "replica": {"f1": 0.4, "roc_auc": 0.5, "hr@10": 0.1, "n": 10},
        "lf_only": {"f1": 0.65, "roc_auc": 0.66, "n": 4, "coverage": 0.4},
    }
    table = ev.compare_contenders(results)
    assert list(table.index) == ["ours", "replica", "lf_only"]
    assert table.loc["replica", "delta_f1"] == pytest.approx(-0.2)
    assert table.loc["lf_only", "delta_f1"] == pytest.approx(0.05)
    assert table.loc["ours", "delta_roc_auc"] == 0.0
    assert math.isnan(table.loc["lf_only", "hr@10"]) and math.isnan(table.loc["lf_only", "delta_hr@10"])
    assert "delta_n" not in table.columns and "delta_coverage" not in table.columns
    assert ev.compare_contenders(results, reference="replica").loc["ours", "delta_f1"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="reference contender 'nobody'"):
        ev.compare_contenders(results, reference="nobody")
