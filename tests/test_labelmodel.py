"""The label model stage on hand-made label matrices: seeded determinism, reports, training labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.training.labelmodel import (
    LabelModelParams,
    fit_label_model,
    label_model_report,
    lf_only_probabilities,
    training_labels,
)


def _votes(n=2000, seed=0):
    """Three LFs that agree with a hidden truth 85%, 75%, 65% of the time and abstain often."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    L = np.full((n, 3), -1, dtype=np.int8)
    for j, (acc, cov) in enumerate([(0.85, 0.3), (0.75, 0.5), (0.65, 0.4)]):
        fires = rng.random(n) < cov
        right = rng.random(n) < acc
        L[fires, j] = np.where(right[fires], y[fires], 1 - y[fires])
    return L, y


def test_same_seed_same_model_other_seed_other_model():
    L, _ = _votes()
    params = LabelModelParams(n_epochs=300, seed=7)
    a = fit_label_model(L, params).predict_proba(L)
    b = fit_label_model(L, params).predict_proba(L)
    np.testing.assert_array_equal(a, b)
    c = fit_label_model(L, LabelModelParams(n_epochs=300, seed=8)).predict_proba(L)
    assert not np.array_equal(a, c)


def test_report_compares_label_model_and_majority_vote():
    L, y = _votes()
    model = fit_label_model(L, LabelModelParams(n_epochs=300))
    report = label_model_report(model, L, y, ["a", "b", "c"], [0.85, 0.75, 0.65])
    for who in ("label_model", "majority_vote"):
        assert 0.6 < report[who]["accuracy"] <= 1 and 0 < report[who]["coverage"] <= 1
    assert report["majority_vote"]["coverage"] <= report["label_model"]["coverage"]
    assert [w["lf"] for w in report["weights"]] == ["a", "b", "c"]


def test_class_balance_from_dev_needs_gold():
    L, y = _votes()
    with pytest.raises(ValueError, match="needs dev gold"):
        fit_label_model(L, LabelModelParams(n_epochs=10, class_balance="dev"))
    fit_label_model(L, LabelModelParams(n_epochs=10, class_balance="dev"), y_dev=y)


@pytest.mark.parametrize("field,value", [("n_epochs", 0), ("lr", -1.0), ("l2", -0.1), ("class_balance", "x")])
def test_bad_params_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        LabelModelParams(**{field: value})


def test_training_labels_filter_uncovered_rows_and_add_dev_gold():
    L, _ = _votes(500)
    model = fit_label_model(L, LabelModelParams(n_epochs=200))
    train = pd.DataFrame({"user_idx": np.arange(500), "book_idx": np.arange(500) % 7})
    dev = pd.DataFrame({"user_idx": [900, 901], "book_idx": [1, 2], "rating": [1, 0]})
    hard = training_labels(train, L, model, dev)
    covered = (L != -1).any(axis=1)
    weak = hard[hard.source == "label_model"]
    assert set(weak.user_idx) <= set(np.flatnonzero(covered))
    assert len(weak) >= covered.sum() - 5  # ties at exactly 0.5 are dropped, rarely
    assert set(weak.label) <= {0.0, 1.0}
    assert hard[hard.source == "dev"].label.tolist() == [1.0, 0.0]
    soft = training_labels(train, L, model, dev, soft=True)
    assert len(soft[soft.source == "label_model"]) == covered.sum()
    assert ((soft.label > 0) & (soft.label < 1)).any()


def test_lf_only_is_nan_where_every_lf_abstains():
    L, _ = _votes(300)
    model = fit_label_model(L, LabelModelParams(n_epochs=100))
    probs = lf_only_probabilities(model, L)
    assert np.isnan(probs[(L == -1).all(axis=1)]).all()
    assert not np.isnan(probs[(L != -1).any(axis=1)]).any()


def test_two_lfs_fall_back_to_majority_vote_with_a_note():
    """snorkel's LabelModel refuses fewer than 3 LFs; a config of two still makes labels, by majority vote."""
    L, y = _votes()
    L2 = L[:, :2]
    model = fit_label_model(L2, LabelModelParams(n_epochs=300))
    report = label_model_report(model, L2, y, ["a", "b"], [0.85, 0.75])
    assert report["label_model"] == report["majority_vote"]
    assert [w["learned_weight"] for w in report["weights"]] == [None, None]
    assert "majority vote made the training labels" in report["note"]
    train = pd.DataFrame({"user_idx": np.arange(len(L2)), "book_idx": np.arange(len(L2))})
    dev = pd.DataFrame({"user_idx": [0], "book_idx": [0], "rating": [1]})
    labels = training_labels(train, L2, model, dev)
    covered = (L2 != -1).any(axis=1)
    weak = labels[labels.source == "label_model"]
    assert len(weak) <= covered.sum() and set(weak.label) <= {0.0, 1.0}
    probs = lf_only_probabilities(model, L2)
    assert np.isnan(probs[~covered]).all()
