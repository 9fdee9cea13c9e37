"""The end model: examples by the seed's protocol, the replica's dropped hidden layer, training, saving, scoring.

Real TensorFlow on tiny hand-made data (tens of books and users), so the whole file runs in seconds.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pipeline.training import endmodel as em
from pipeline.training import sampling

# 3 users over 10 books: user 0 has {1, 2, 3}, user 1 has {4, 5}, user 2 has {0, 1, ..., 7} (8 books)
TINY_CSR = (np.array([0, 3, 5, 13]), np.array([1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7], dtype=np.int32))
TINY_BOOKS = 10


def tiny_sets(u: int) -> set[int]:
    offsets, values = TINY_CSR
    return set(values[offsets[u]:offsets[u + 1]].tolist())


def real_books(row: np.ndarray, pad: int) -> list[int]:
    return sorted(int(b) for b in row if b != pad)


# --------------------------------------------------------------------------------------------------------------
# examples


def test_build_examples_removes_the_candidate_and_adds_one_unseen_negative_per_positive():
    users, books, labels = np.array([0, 0, 1, 2]), np.array([2, 3, 5, 7]), np.array([1.0, 0.0, 1.0, 0.7])
    ex = em.build_examples(users, books, labels, TINY_CSR, TINY_BOOKS, rng=np.random.default_rng(0))
    pad = TINY_BOOKS
    assert ex.pad_id == pad and len(ex) == 4 + 3  # three rows with label >= 0.5
    # the labelled rows first, in order, each without its own candidate
    for i, (u, b) in enumerate(zip(users, books, strict=True)):
        assert ex.user_idx[i] == u and ex.book_idx[i] == b and ex.held_out[i] == b and not ex.sampled[i]
        assert real_books(ex.book_idxs[i], pad) == sorted(tiny_sets(u) - {b})
        assert ex.set_len[i] == len(tiny_sets(u)) - 1
    np.testing.assert_allclose(ex.label[:4], labels)
    # then one negative per positive (rows 0, 2, 3): the positive's set, a book the user never had, label 0
    for j, i in enumerate([0, 2, 3]):
        k = 4 + j
        assert ex.sampled[k] and ex.label[k] == 0 and ex.user_idx[k] == users[i] and ex.held_out[k] == books[i]
        assert ex.book_idx[k] not in tiny_sets(users[i])
        assert np.array_equal(ex.book_idxs[k], ex.book_idxs[i]) and ex.set_len[k] == ex.set_len[i]
    assert ex.book_idxs.dtype == np.int32 and ex.book_idxs.shape[1] == 8


def test_build_examples_is_seeded_and_respects_negatives_false_and_the_cap():
    users, books, labels = np.array([0, 1, 2, 2]), np.array([1, 4, 0, 6]), np.array([1.0, 1.0, 1.0, 1.0])
    a = em.build_examples(users, books, labels, TINY_CSR, TINY_BOOKS, rng=np.random.default_rng(7))
    b = em.build_examples(users, books, labels, TINY_CSR, TINY_BOOKS, rng=np.random.default_rng(7))
    for field in ("book_idxs", "set_len", "book_idx", "label", "held_out"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    none = em.build_examples(users, books, labels, TINY_CSR, TINY_BOOKS, rng=np.random.default_rng(7),
                             negatives=False)
    assert len(none) == 4 and not none.sampled.any()
    capped = em.build_examples(users, books, labels, TINY_CSR, TINY_BOOKS, rng=np.random.default_rng(7),
                               max_set_size=3)
    # user 2's set is cut to its first three books {0, 1, 2} before book 0 is held out
    assert capped.book_idxs.shape[1] == 3
    assert real_books(capped.book_idxs[2], TINY_BOOKS) == [1, 2]
    assert real_books(capped.book_idxs[3], TINY_BOOKS) == [0, 1, 2]


@pytest.mark.parametrize("bad", [dict(labels=[1.5]), dict(labels=[np.nan]), dict(users=[3]), dict(books=[10])])
def test_build_examples_rejects_bad_rows(bad):
    users, books, labels = bad.get("users", [0]), bad.get("books", [1]), bad.get("labels", [1.0])
    with pytest.raises(ValueError):
        em.build_examples(np.array(users), np.array(books), np.array(labels), TINY_CSR, TINY_BOOKS,
                          rng=np.random.default_rng(0))


def test_sample_unseen_draws_distinct_books_outside_the_set_and_knows_when_it_cannot():
    sets = sampling.UserSets(TINY_CSR, TINY_BOOKS)
    draws = sampling.sample_unseen(np.array([0, 1, 2, 2]), sets, np.random.default_rng(1), n_per=2)
    assert draws.shape == (4, 2)
    for u, row in zip([0, 1, 2, 2], draws, strict=True):
        assert len(set(row.tolist())) == 2 and not set(row.tolist()) & tiny_sets(u)
    assert sorted(sampling.sample_unseen(np.array([2]), sets, np.random.default_rng(1), n_per=2)[0]) == [8, 9]
    with pytest.raises(ValueError, match="user 2 has only 2 books outside"):
        sampling.sample_unseen(np.array([0, 2]), sets, np.random.default_rng(1), n_per=3)


# --------------------------------------------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("field, value", [("embed_dim", 0), ("hidden", (32, 0)), ("optimizer", "sgd"),
                                          ("learning_rate", -1.0), ("learning_rate", float("nan")),
                                          ("batch_size", 1.5), ("patience", -1), ("steps_per_epoch", 0),
                                          ("seed", True), ("hidden", "32")])
def test_params_name_the_bad_field(field, value):
    with pytest.raises(ValueError, match=f"EndModelParams.{field}"):
        em.EndModelParams(**{field: value})


def test_params_round_trip_and_the_replica_settings():
    p = em.EndModelParams(hidden=[64, 32], patience=None)
    assert p.hidden == (64, 32)
    assert em.EndModelParams.from_dict(p.to_dict()) == p
    assert em.SEED_REPLICA.optimizer == "adagrad" and em.SEED_REPLICA.learning_rate == 0.001
    assert (em.SEED_REPLICA.epochs, em.SEED_REPLICA.steps_per_epoch, em.SEED_REPLICA.validation_steps) == (30, 300, 40)
    assert em.SEED_REPLICA.patience is None and em.SEED_REPLICA.embed_dim == 64
    assert em.replica_params(0.5).steps_per_epoch == 150 and em.replica_params(0.5).validation_steps == 20
    assert em.model_params(replica=True, steps_per_epoch=30).optimizer == "adagrad"
    assert em.model_params(epochs=3) == em.EndModelParams(epochs=3)
    with pytest.raises(ValueError, match="unknown field"):
        em.model_params(epoch=3)


def test_importing_the_modules_does_not_import_tensorflow():
    code = ("import sys, pipeline.training.endmodel, pipeline.training.evaluate; "
            "sys.exit(int(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], cwd=str(_repo())).returncode == 0


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------------------
# the model


N_BOOKS = 40


@pytest.fixture(scope="module")
def endmodel_data():
    """60 users with 5..15 books each over 40 books, 300 labelled rows (books from their sets), and val rows."""
    rng = np.random.default_rng(3)
    sets = [rng.choice(N_BOOKS, size=rng.integers(5, 16), replace=False) for _ in range(60)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    csr = (offsets, np.concatenate(sets).astype(np.int32))
    users = rng.integers(0, 60, 360)
    books = np.array([rng.choice(sets[u]) for u in users])
    labels = (books % 3 != 0).astype(float)  # a learnable rule
    train_ex = em.build_examples(users[:300], books[:300], labels[:300], csr, N_BOOKS, rng=rng)
    val_ex = em.build_examples(users[300:], books[300:], labels[300:], csr, N_BOOKS, rng=rng)
    return csr, train_ex, val_ex


FAST = em.EndModelParams(embed_dim=8, hidden=(6,), batch_size=64, epochs=2, patience=None)


@pytest.fixture(scope="module")
def trained(endmodel_data):
    csr, train_ex, val_ex = endmodel_data
    calls = []
    result = em.train(train_ex, val_ex, N_BOOKS, FAST, on_epoch=lambda *a: calls.append(a))
    return result, calls


def test_training_runs_and_reports_each_epoch(trained):
    result, calls = trained
    assert [(epoch, total) for epoch, total, _ in calls] == [(1, 2), (2, 2)]
    assert len(result.history) == 2 and result.best_epoch == 2 and result.seconds > 0
    for row in result.history:
        assert {"epoch", "seconds", "loss", "accuracy", "auc", "precision", "recall", "val_loss", "val_auc"} <= set(row)
    assert calls[1][2] == result.history[1]


def test_saved_model_loads_with_equal_predictions(trained, endmodel_data, tmp_path):
    model = trained[0].model
    _, _, val_ex = endmodel_data
    path = em.save_model(model, tmp_path / "runs" / "model.keras")
    assert path.is_file() and not [p for p in path.parent.iterdir() if p != path]
    loaded = em.load_model(path)
    np.testing.assert_array_equal(model.predict(val_ex.inputs(), verbose=0), loaded.predict(val_ex.inputs(), verbose=0))
    csr, _, _ = endmodel_data
    np.testing.assert_array_equal(em.Scorer(loaded).score(val_ex.user_idx, val_ex.book_idx, csr),
                                  em.Scorer(model).score(val_ex.user_idx, val_ex.book_idx, csr))
    assert em.Scorer(loaded).max_set_size == FAST.max_set_size
    assert em.Scorer(em.build_model(N_BOOKS, em.EndModelParams(max_set_size=7))).max_set_size == 7
    with pytest.raises(ValueError, match=r"\.keras"):
        em.save_model(model, tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError):
        em.load_model(tmp_path / "missing.keras")


@pytest.mark.parametrize("replica", [False, True])
def test_scorer_equals_predict_on_the_padded_inputs(endmodel_data, trained, replica):
    csr, train_ex, val_ex = endmodel_data
    if replica:
        model = em.build_model(N_BOOKS, em.replica_params(0.01), replica=True)
        for layer in (model.get_layer(em.SET_EMBEDDING), model.get_layer(em.BOOK_EMBEDDING)):
            layer.embeddings.assign(np.random.default_rng(5).normal(size=layer.embeddings.shape))
    else:
        model = trained[0].model
    for ex in (train_ex, val_ex):
        expected = model.predict(ex.inputs(), verbose=0)[:, 0]
        got = em.Scorer(model).score(ex.user_idx, ex.book_idx, csr, held_out=ex.held_out)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # by default the candidate is held out, which is the protocol of a labelled row
    labelled = ~val_ex.sampled
    np.testing.assert_allclose(em.Scorer(model).score(val_ex.user_idx[labelled], val_ex.book_idx[labelled], csr),
                               model.predict(val_ex.inputs(), verbose=0)[labelled, 0], atol=1e-5)


def test_top_k_returns_unseen_books_best_first(trained, endmodel_data):
    csr, _, _ = endmodel_data
    scorer = em.Scorer(trained[0].model)
    books, scores = scorer.top_k(0, csr, k=5)
    offsets, values = csr
    assert len(books) == 5 and not set(books.tolist()) & set(values[offsets[0]:offsets[1]].tolist())
    assert np.all(np.diff(scores) <= 0)


def _set_kernel(layer, rng):
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(size=kernel.shape).astype(kernel.dtype), bias])


def test_the_replica_drops_its_hidden_layer_and_ours_uses_it(endmodel_data):
    _, _, val_ex = endmodel_data
    tf = em.keras_classes().tf
    rng = np.random.default_rng(0)
    replica = em.build_model(N_BOOKS, em.replica_params(0.01), replica=True)
    ours = em.build_model(N_BOOKS, FAST)
    (hidden,) = replica.discarded_layers
    assert hidden.name == "hidden_0" and hidden.built and hidden.units == 32
    assert "hidden_0" not in [layer.name for layer in replica.layers]
    assert replica.get_layer("output").get_weights()[0].shape == (128, 1)  # logistic regression on the concat
    x = {k: tf.constant(v) for k, v in val_ex.inputs().items()}
    before = replica.predict(val_ex.inputs(), verbose=0)
    _set_kernel(hidden, rng)
    np.testing.assert_array_equal(replica.predict(val_ex.inputs(), verbose=0), before)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(replica(x))
    assert tape.gradient(loss, hidden.kernel.value) is None

    before = ours.predict(val_ex.inputs(), verbose=0)
    _set_kernel(ours.get_layer("hidden_0"), rng)
    assert not np.allclose(ours.predict(val_ex.inputs(), verbose=0), before)
    assert ours.discarded_layers == []


def test_cancel_check_raising_stops_training(endmodel_data):
    _, train_ex, val_ex = endmodel_data

    class Cancelled(Exception):
        pass

    checks, epochs = [], []

    def cancel_check():
        checks.append(1)
        if len(checks) == 2:  # the first check is before training, the second after epoch 1
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        em.train(train_ex, val_ex, N_BOOKS, em.EndModelParams(embed_dim=8, hidden=(6,), batch_size=64, epochs=5),
                 on_epoch=lambda e, n, logs: epochs.append(e), cancel_check=cancel_check)
    assert epochs == [1] and len(checks) == 2


def test_same_seed_same_weights_and_early_stopping_keeps_the_best(endmodel_data, trained):
    _, train_ex, val_ex = endmodel_data
    again = em.train(train_ex, val_ex, N_BOOKS, FAST)
    for a, b in zip(trained[0].model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    stopping = em.train(train_ex, val_ex, N_BOOKS, em.EndModelParams(embed_dim=8, hidden=(6,), batch_size=64,
                                                                     learning_rate=0.05, epochs=6, patience=1))
    val_losses = [row["val_loss"] for row in stopping.history]
    assert stopping.best_epoch == int(np.argmin(val_losses)) + 1
    assert len(val_losses) == 6 or len(val_losses) == stopping.best_epoch + 1


def test_examples_wider_than_the_cap_are_refused(endmodel_data):
    _, train_ex, val_ex = endmodel_data
    with pytest.raises(ValueError, match="max_set_size=5"):
        em.train(train_ex, val_ex, N_BOOKS, em.EndModelParams(embed_dim=8, hidden=(6,), max_set_size=5))


def test_the_replica_trains_for_its_steps(endmodel_data):
    _, train_ex, val_ex = endmodel_data
    params = em.model_params(replica=True, embed_dim=8, epochs=2, steps_per_epoch=3, validation_steps=2)
    result = em.train(train_ex, val_ex, N_BOOKS, params, replica=True)
    assert [row["epoch"] for row in result.history] == [1, 2] and result.best_epoch == 2


def test_the_replica_adagrad_starts_its_accumulators_at_zero_as_the_seeds_tf_1_14_did(endmodel_data):
    """TF 1.14's compile("Adagrad") built Adagrad.from_config({}), whose accumulators start at 0, so the first
    step moves every weight with a gradient by lr * g / (|g| + 1e-7), about lr whatever the gradient's size.
    The constructor's 0.1 would move a weight with gradient g by lr * g / sqrt(0.1 + g^2), far less for the
    embeddings' tiny gradients."""
    _, train_ex, _ = endmodel_data
    tf = em.keras_classes().tf
    model = em.build_model(N_BOOKS, em.model_params(replica=True, embed_dim=8), replica=True)
    assert model.optimizer.initial_accumulator_value == em.SEED_ADAGRAD_ACCUMULATOR == 0.0
    x = {k: tf.constant(v[:64]) for k, v in train_ex.inputs().items()}
    y = tf.constant(train_ex.label[:64].reshape(-1, 1).astype("float32"))
    before = [w.copy() for w in model.get_weights()]
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    model.optimizer.apply(grads, model.trainable_variables)
    for var, grad, old in zip(model.trainable_variables, grads, before, strict=True):
        g = tf.convert_to_tensor(grad).numpy()
        step = old - var.numpy()
        np.testing.assert_allclose(step, 0.001 * g / (np.abs(g) + 1e-7), rtol=1e-4, atol=1e-9)
        moved = np.abs(g) > 1e-5
        assert moved.any() and np.allclose(np.abs(step[moved]), 0.001, rtol=0.02)
