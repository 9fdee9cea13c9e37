"""bench.replica_probe: the seed's example stream and end model, on known answers and once on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from bench import replica_probe as rp
from pipeline.data.dataset import load_prepared


def test_concentration_known_answers():
    c = rp.concentration(np.array([0, 0, 1, 1]), top=1)
    assert c == {"books": 2, "top1_share": 0.5, "effective_books": 2.0}
    c = rp.concentration(np.array([3, 3, 3, 5]), top=1)
    assert c["top1_share"] == 0.75
    assert c["effective_books"] == pytest.approx(1 / (0.75**2 + 0.25**2))


def test_zipf_redraws_only_positives():
    p = rp.zipf_books(50, 1.0)
    assert p.sum() == pytest.approx(1.0) and sorted(p)[-1] == pytest.approx(1 / sum(1 / k for k in range(1, 51)))
    books = np.arange(10)
    label = np.array([1, 0] * 5, dtype=float)
    out = rp.redraw_positives(books, label, p, seed=0)
    assert (out[label == 0] == books[label == 0]).all()
    assert (rp.redraw_positives(books, label, None, seed=0) == books).all()


def test_seed_stream_puts_each_negative_after_its_positive(tiny_processed):
    data = load_prepared(tiny_processed)
    rows = data.splits["dev"].head(40)
    label = rows.rating.to_numpy(float)
    n_books, csr = len(data.books), data.user_books_csr
    sets, n, candidate, y = rp.seed_stream(rows.user_idx.to_numpy(), rows.book_idx.to_numpy(), label, csr,
                                           n_books, passes=2, rng=np.random.default_rng(0))
    per_pass = len(rows) + int(label.sum())
    assert len(y) == 2 * per_pass and sets.shape[1] == 200
    first = y[:per_pass]
    i = 0
    for row_label, book in zip(label, rows.book_idx, strict=True):
        assert candidate[i] == book and first[i] == row_label
        assert n[i] == (sets[i] != n_books).sum() and book not in sets[i]
        i += 1
        if row_label == 1:  # its random negative: label 0, the same set, a book the user never shelved
            assert first[i] == 0 and (sets[i] == sets[i - 1]).all() and candidate[i] not in sets[i]
            i += 1
    assert i == per_pass


def test_probe_trains_and_reports_on_tiny_data(tiny_copy):
    r = rp.probe(tiny_copy / "processed", epochs=1, steps=2, log=lambda *_: None)  # it caches features
    assert set(r["test"]) == {"accuracy", "precision", "recall", "f1", "roc_auc", "positives"}
    assert 0.0 <= r["test"]["accuracy"] <= 1.0 and 0.0 < r["test"]["positives"] < 1.0
    assert r["train_positives"]["books"] > 0 and "accuracy" in r["seed_evaluate_30_batches"]
