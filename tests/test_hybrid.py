"""Our end model (pipeline.training.hybrid): params, the output fit, held-out handling of its features, and a trained
model
on tiny generated data through save and load. The full retrain through it is in tests/test_retrain_e2e.py."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.data.dataset import load_prepared
from pipeline.runs.recommend import without_books
from pipeline.training import endmodel, evaluate
from pipeline.training import hybrid as H
from pipeline.training.contenders import fit_contenders


def test_params_validate_and_name_the_field():
    assert H.HybridParams.from_dict({"hidden": [8]}).hidden == (8,)
    with pytest.raises(ValueError, match="HybridParams.negatives"):
        H.HybridParams(negatives=0)
    with pytest.raises(ValueError, match="HybridParams.hidden"):
        H.HybridParams(hidden=(8, 0))
    with pytest.raises(ValueError, match="HybridParams.learning_rate"):
        H.HybridParams(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="unknown field.*embed_dim"):
        H.HybridParams.from_dict({"embed_dim": 64})


def _output_data(rng, like_sign: float):
    n = 4000
    read, like = rng.normal(size=n), rng.normal(size=n)
    p = 1 / (1 + np.exp(-(2.0 * read + like_sign * 1.5 * like - 0.5)))
    y = (rng.random(n) < p).astype(float)
    cases_read = rng.normal(size=(300, 11))
    cases_read[:, 0] += 2.0  # the first candidate of a case is the positive and reads higher
    cases_like = rng.normal(size=(300, 11))
    cases_like[:, 0] += like_sign  # ... and is liked more (or, with the like head flipped, less)
    return read, like, y, np.ones(n), cases_read, cases_like


def test_output_fit_learns_both_weights_and_never_a_negative_one():
    rng = np.random.default_rng(0)
    a, b, _ = H.fit_output(*_output_data(rng, like_sign=1.0))
    assert a > 1.0 and b > 0.5, (a, b)
    # a like head that points the wrong way gets weight 0: the output cannot flip it back
    a, b, _ = H.fit_output(*_output_data(rng, like_sign=-1.0))
    assert a > 1.0 and b == 0.0


@pytest.fixture(scope="module")
def tiny(tiny_processed, tmp_path_factory):
    """The session's tiny dataset, in a copy (fitting the contenders caches them in the prepared folder)."""
    processed = shutil.copytree(tiny_processed, tmp_path_factory.mktemp("tiny-hybrid") / "processed")
    prepared = load_prepared(processed)
    return prepared, fit_contenders(prepared)


def test_features_hold_the_held_out_book_out(tiny):
    """A feature with book h held out equals the feature of the same user whose set never held h."""
    prepared, contenders = tiny
    csr = prepared.user_books_csr
    features = H.HybridFeatures.from_data(prepared, contenders, 200)
    offsets, values = csr
    user = int(np.argmax(np.diff(offsets)))
    own = values[offsets[user]:offsets[user + 1]]
    h = int(own[0])
    candidates = np.arange(len(prepared.books))
    held = features.bind(csr)(np.full(len(candidates), user), candidates, np.full(len(candidates), h))
    removed = features.bind(without_books(csr, user, [h]))(np.full(len(candidates), user), candidates,
                                                            np.full(len(candidates), -1))
    np.testing.assert_allclose(held, removed, rtol=1e-5, atol=1e-5)
    # and the held-out book's own author count leaves it out: a user whose only book by an author is h
    # gets 0 books by that author for a candidate of the same author
    col = H.READ_FEATURES.index("log_same_author")
    assert held[h, col] == removed[h, col]
    # the generated books carry genre shelves, so the shelf affinity varies between candidates
    assert held[:, H.READ_FEATURES.index("shelf_affinity")].std() > 0


@pytest.mark.slow
def test_the_read_ranker_never_sees_a_rating(tiny):
    """Reading needs no label: with the val ratings shuffled the read ranker learns the very same weights (the
    like head and the output are what ratings and LF labels reach)."""
    prepared, contenders = tiny
    train = prepared.splits["train"].head(300)
    labels = pd.DataFrame({"user_idx": train["user_idx"].to_numpy(), "book_idx": train["book_idx"].to_numpy(),
                           "label": np.arange(len(train)) % 2 * 1.0})
    params = H.HybridParams(epochs=2, hidden=(8,), like_hidden=(4,))

    def read_weights(prep):
        model = H.train_hybrid(prep, contenders, labels, params).model
        return [w for layer in model.layers if layer.name.startswith("read_") for w in layer.get_weights()]

    val = prepared.splits["val"]
    shuffled = val.assign(rating=np.random.default_rng(1).permutation(val["rating"].to_numpy()))
    other = dataclasses.replace(prepared, splits={**prepared.splits, "val": shuffled})
    for a, b in zip(read_weights(prepared), read_weights(other), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_trained_model_scores_the_same_after_save_and_load(tiny, tmp_path):
    prepared, contenders = tiny
    rng = np.random.default_rng(0)
    train = prepared.splits["train"].head(400)
    labels = pd.DataFrame({"user_idx": train["user_idx"].to_numpy(), "book_idx": train["book_idx"].to_numpy(),
                           "label": rng.integers(0, 2, len(train)).astype(float)})
    result = H.train_hybrid(prepared, contenders, labels, H.HybridParams(epochs=2))
    assert {row["part"] for row in result.history} == {"read", "like", "output"}
    scale = result.model.get_layer("output").get_weights()[0]
    assert (scale >= 0).all()
    path = endmodel.save_model(result.model, tmp_path / "model.keras")
    loaded = H.load_model(path)
    assert H.is_hybrid(loaded)
    csr = prepared.user_books_csr
    rows = evaluate.classification_rows(prepared.splits["test"], csr, len(prepared.books), seed=0)
    features = H.HybridFeatures.from_data(prepared, contenders, 200)
    before = rows.score(H.HybridScorer(result.model, features).bind(csr))
    after = rows.score(H.scorer_for(loaded, prepared).bind(csr))
    np.testing.assert_allclose(before, after, rtol=1e-5)
    assert ((after > 0) & (after < 1)).all()
    books, scores = H.scorer_for(loaded, prepared).top_k(int(rows.user_idx[0]), csr, k=5)
    assert len(books) == 5 and (np.diff(scores) <= 0).all()
