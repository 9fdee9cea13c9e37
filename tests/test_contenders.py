"""pipeline.training.contenders: item_knn against a brute-force co-occurrence loop, the held-out book never credited,
the
batched ALS user solve against implicit's recalculate_user and a direct solve, params picked on val (not test),
the disk cache (reuse and invalidation), and an end-to-end fit on generated tiny data."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from pipeline.data.dataset import PreparedData, load_prepared
from pipeline.training import contenders as K
from pipeline.training import evaluate as ev
from pipeline.training.sampling import cap_sets

N_BOOKS = 60
FAST = K.ContenderParams(knn_alphas=(0.0, 0.5, 1.0), als_factors=(4,), als_iterations=(3,), val_negatives=20)


def _prepared(sets, split, *, val=None, test=None, path=Path("."), fingerprint="fp-1", n_books=N_BOOKS):
    users = pd.DataFrame({"user_idx": range(len(sets)), "split": split,
                          "book_idxs": [np.asarray(s, dtype=np.int32) for s in sets]})
    empty = pd.DataFrame({"user_idx": pd.Series([], dtype=np.int64), "book_idx": pd.Series([], dtype=np.int64),
                          "rating": pd.Series([], dtype=np.float64)})
    splits = {"train": empty, "dev": empty, "val": empty if val is None else val,
              "test": empty if test is None else test}
    manifest = {"fingerprint": fingerprint} if fingerprint else {}
    return PreparedData(books=pd.DataFrame({"book_idx": range(n_books)}), users=users, splits=splits,
                        manifest=manifest, path=Path(path))


@pytest.fixture
def world():
    """40 users over 60 books, sets of 4..24 books with repeats; 28 train, 4 dev, 4 val, 4 test users."""
    rng = np.random.default_rng(5)
    sets = [rng.choice(N_BOOKS, size=int(rng.integers(4, 25)), replace=True) for _ in range(40)]
    split = ["train"] * 28 + ["dev"] * 4 + ["val"] * 4 + ["test"] * 4
    val = pd.DataFrame({"user_idx": [32, 32, 33, 34, 35], "book_idx": [sets[32][0], sets[32][1], sets[33][0],
                                                                       sets[34][1], sets[35][2]],
                        "rating": [1.0, 1.0, 0.0, 1.0, 1.0]})
    test = pd.DataFrame({"user_idx": [36, 37, 38], "book_idx": [sets[36][0], sets[37][0], sets[38][1]],
                         "rating": [1.0, 1.0, 0.0]})
    return _prepared(sets, split, val=val, test=test)


def _dense_sets(csr, n_books, max_set_size=200):
    offsets, values = cap_sets(csr, max_set_size)
    x = np.zeros((len(offsets) - 1, n_books))
    for u in range(len(offsets) - 1):
        for b in values[offsets[u]:offsets[u + 1]]:
            x[u, b] += 1
    return x


def _brute_knn(prepared, alpha, users, books, held, max_set_size=200):
    """The definition, by loops: C[j, i] = co-shelvings among train+dev users (every occurrence), diagonal 0."""
    x = _dense_sets(prepared.user_books_csr, len(prepared.books), max_set_size)
    train = np.flatnonzero(prepared.users["split"].isin(["train", "dev"]).to_numpy())
    c = sum(np.outer(x[v], x[v]) for v in train)
    np.fill_diagonal(c, 0)
    popularity = np.maximum(x[train].sum(axis=0), 1)
    out = []
    for u, b, h in zip(users, books, held, strict=True):
        row = x[u].copy()
        if h >= 0:
            row[h] = 0  # every occurrence
        s = row @ c[:, b] / popularity[b] ** alpha
        out.append(s / (1 + s))
    return np.array(out)


def _knn(prepared, alpha=0.5, max_set_size=200):
    train_sets = K._train_sets(prepared, max_set_size)
    train_t = K._incidence(train_sets, len(prepared.books)).T.tocsr()
    return K.ItemKNN(train_t, alpha, max_set_size=max_set_size, params={})


# --------------------------------------------------------------------------------------------------------------
# item_knn


@pytest.mark.parametrize("max_set_size", [200, 6])
@pytest.mark.parametrize("internals", [{}, {"_HEAVY_KEY": 1}, {"_HEAVY_KEY": 10 ** 9},
                                       {"_DENSE_BUDGET": 100, "_GATHER_NNZ": 50, "_MERGE_PAIRS": 7},
                                       {"_FLOAT32_EXACT": 0}])
def test_item_knn_equals_a_brute_force_loop(world, max_set_size, internals, monkeypatch):
    """Every path: keys removed in place or merged, several user blocks and gather blocks, float32 or 64."""
    for name, value in internals.items():
        monkeypatch.setattr(K, name, value)
    rng = np.random.default_rng(0)
    csr = world.user_books_csr
    offsets, values = csr
    users = rng.integers(0, 40, 400)
    books = rng.integers(0, N_BOOKS, 400)
    own = np.array([values[offsets[u] + rng.integers(0, offsets[u + 1] - offsets[u])] for u in users])
    held = np.select([np.arange(400) % 4 == 0, np.arange(400) % 4 == 1, np.arange(400) % 4 == 2],
                     [books, own, np.full(400, -1)], rng.integers(0, N_BOOKS, 400))
    # keys with many pairs (one user, one held-out book) take the in-place path: 7 and 12 pairs
    users = np.r_[users, np.full(7, 36), np.full(12, 33)]
    books = np.r_[books, np.arange(7), np.arange(12)]
    held = np.r_[held, np.full(7, values[offsets[36]]), np.full(12, values[offsets[33] + 1])]
    for alpha in (0.0, 0.75):
        model = _knn(world, alpha, max_set_size)
        assert model._dtype == (np.float64 if internals.get("_FLOAT32_EXACT") == 0 else np.float32)
        got = model.bind(csr)(users, books, held)
        np.testing.assert_allclose(got, _brute_knn(world, alpha, users, books, held, max_set_size),
                                   rtol=1e-12, atol=0)
    default = model.bind(csr)(users, books)  # held_out defaults to the candidate itself
    np.testing.assert_array_equal(default, model.bind(csr)(users, books, books))


def test_item_knn_gives_no_credit_for_the_held_out_book():
    """User 3's set is {a, h}; a train user co-shelved h with the candidate, nobody a with it."""
    a, h, cand, other = 0, 1, 2, 3
    sets = [[h, cand], [h, cand, other], [a, other], [a, h]]
    prepared = _prepared(sets, ["train", "train", "dev", "test"], n_books=6)
    score = _knn(prepared, alpha=0.0).bind(prepared.user_books_csr)
    u = np.array([3])
    assert score(u, np.array([cand]), held_out=np.array([-1]))[0] > 0  # h alone earns it credit
    held_out_h = score(u, np.array([cand]), held_out=np.array([h]))[0]
    unrelated = score(u, np.array([5]), held_out=np.array([-1]))[0]  # book 5: nobody shelved it
    assert held_out_h == unrelated == 0.0


@pytest.mark.parametrize("name", ["item_knn", "als"])
def test_holding_out_equals_scoring_the_set_without_that_book(world, name):
    """score(u, b, held_out=h) == score(u, b) on a copy of the sets where u never had h (every occurrence)."""
    model = _fit_one(world, name)
    offsets, values = world.user_books_csr
    rng = np.random.default_rng(1)
    for u in (32, 36, 37):
        h = int(values[offsets[u]])
        sets = [values[offsets[v]:offsets[v + 1]] for v in range(40)]
        sets[u] = sets[u][sets[u] != h]
        without = _prepared(sets, world.users["split"].tolist()).user_books_csr
        books = np.r_[h, rng.integers(0, N_BOOKS, 30)]
        users = np.full(len(books), u)
        got = model.bind(world.user_books_csr)(users, books, np.full(len(books), h))
        want = model.bind(without)(users, books, np.full(len(books), -1))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _fit_one(prepared, name, params=FAST):
    """One contender, fitted without a cache (no fingerprint)."""
    bare = PreparedData(books=prepared.books, users=prepared.users, splits=prepared.splits, manifest={},
                        path=prepared.path)
    return K.fit_contenders(bare, params)[name]


def test_alpha_is_chosen_on_val_and_recorded_with_every_grid_point(world):
    model = _fit_one(world, "item_knn")
    grid = model.params["grid"]
    assert [g["alpha"] for g in grid] == [0.0, 0.5, 1.0]
    chosen = [g["alpha"] for g in grid if g["val_hr@10"] == max(x["val_hr@10"] for x in grid)][0]
    assert model.alpha_ == model.params["alpha"] == chosen
    # the recorded figure is evaluate.ranking_metrics' HR@10 on the val cases built as the fit builds them
    cases = ev.ranking_cases(world.splits["val"], world.user_books_csr, N_BOOKS, n_negatives=20, seed=0)
    for point in grid:
        m = _knn(world, point["alpha"])
        assert ev.ranking_metrics(m.bind(world.user_books_csr), cases)["hr@10"] == point["val_hr@10"]


def test_the_choice_ignores_the_test_split(world):
    """Other test rows and other test users' sets: the same params, the same val figures, the same scores."""
    base = _fit_one(world, "item_knn"), _fit_one(world, "als")
    offsets, values = world.user_books_csr
    sets = [values[offsets[v]:offsets[v + 1]] for v in range(40)]
    sets[36:40] = [np.arange(10, 30), np.arange(0, 40, 2), np.arange(5), np.arange(50, 60)]
    test = pd.DataFrame({"user_idx": [36, 37, 39], "book_idx": [10, 2, 55], "rating": [1.0, 0.0, 1.0]})
    changed = _prepared(sets, world.users["split"].tolist(), val=world.splits["val"], test=test)
    for before, after in zip(base, (_fit_one(changed, "item_knn"), _fit_one(changed, "als")), strict=True):
        assert {k: v for k, v in after.params.items() if k != "fit_seconds"} == \
            {k: v for k, v in before.params.items() if k != "fit_seconds"}
        users, books = np.repeat(np.arange(36), 5), np.tile([0, 7, 13, 21, 40], 36)
        np.testing.assert_array_equal(after.bind(world.user_books_csr)(users, books),
                                      before.bind(world.user_books_csr)(users, books))


def test_other_val_rows_can_change_the_choice(world):
    """The val split decides: the figures move with it."""
    first = _fit_one(world, "item_knn").params["grid"]
    offsets, values = world.user_books_csr
    val = pd.DataFrame({"user_idx": [32, 33, 34, 35], "book_idx": [values[offsets[u] + 2] for u in range(32, 36)],
                        "rating": [1.0, 1.0, 1.0, 1.0]})
    moved = _prepared([values[offsets[v]:offsets[v + 1]] for v in range(40)], world.users["split"].tolist(),
                      val=val, test=world.splits["test"])
    assert _fit_one(moved, "item_knn").params["grid"] != first


def test_scores_lie_in_the_unit_interval_and_top_k_lists_unseen_books(world):
    csr = world.user_books_csr
    offsets, values = csr
    for name in ("item_knn", "als"):
        model = _fit_one(world, name)
        score = model.bind(csr)
        users = np.repeat(np.arange(40), N_BOOKS)
        books = np.tile(np.arange(N_BOOKS), 40)
        s = score(users, books, np.full(len(users), -1))
        assert np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1
        for u in (0, 36):
            top, top_scores = model.top_k(u, csr, k=5)
            seen = set(values[offsets[u]:offsets[u + 1]].tolist())
            unseen = np.array([b for b in range(N_BOOKS) if b not in seen])
            expected = unseen[np.lexsort((unseen, -score(np.full(len(unseen), u), unseen,
                                                         np.full(len(unseen), -1))))][:5]
            np.testing.assert_array_equal(top, expected)
            assert not set(top.tolist()) & seen and np.all(np.diff(top_scores) <= 0)
        with pytest.raises(ValueError, match="user_idx"):
            score(np.array([40]), np.array([0]))
        with pytest.raises(ValueError, match="held_out"):
            score(np.array([0]), np.array([0]), held_out=np.array([-2]))


# --------------------------------------------------------------------------------------------------------------
# als


@pytest.mark.parametrize("users_at_once", [256, 3])
def test_the_batched_als_user_solve_equals_implicit_and_a_direct_solve(world, users_at_once, monkeypatch):
    from implicit.cpu.als import AlternatingLeastSquares

    monkeypatch.setattr(K, "_ALS_USERS", users_at_once)
    monkeypatch.setattr(K, "_ALS_PAIRS", 5)

    model = _fit_one(world, "als", K.ContenderParams(als_factors=(6,), als_regularization=(0.5,),
                                                     als_iterations=(4,), als_alpha=(8.0,), val_negatives=20))
    y, reg, alpha = model.item_factors_, model.regularization_, model.alpha_
    assert (reg, alpha) == (0.5, 8.0) and y.shape == (N_BOOKS, 6)
    implicit = AlternatingLeastSquares(factors=6, regularization=reg, alpha=1.0)
    implicit.item_factors = y.astype(np.float32)
    x = K._incidence(cap_sets(world.user_books_csr, 200), N_BOOKS, binary=True)
    offsets, values = world.user_books_csr
    users = np.r_[np.arange(40), np.arange(32, 40)]
    held = np.r_[np.full(40, -1), [values[offsets[u]] for u in range(32, 40)]]
    got = model.user_factors(x, users, held)
    for row, u, h in zip(got, users, held, strict=True):
        books = np.unique(values[offsets[u]:offsets[u + 1]])
        books = books[books != h]
        a = y.T @ y + reg * np.eye(6) + alpha * y[books].T @ y[books]
        np.testing.assert_allclose(row, np.linalg.solve(a, (1 + alpha) * y[books].sum(axis=0)), rtol=0, atol=1e-9)
        confidence = sparse.csr_matrix((np.full(len(books), 1 + alpha, np.float32), books, [0, len(books)]),
                                       shape=(1, N_BOOKS))
        np.testing.assert_allclose(row, implicit.recalculate_user(0, confidence), rtol=0, atol=1e-5)
    # the score is the dot product with the item factors, squashed
    score = model.bind(world.user_books_csr)
    pref = np.einsum("uf,uf->u", got[40:], y[held[40:]])
    np.testing.assert_allclose(score(users[40:], held[40:], held[40:]), model._squash(pref), rtol=1e-12)


def test_als_is_deterministic_for_a_seed(world):
    a, b = _fit_one(world, "als"), _fit_one(world, "als")
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    c = _fit_one(world, "als", K.ContenderParams(**{**FAST.to_dict(), "seed": 1}))
    assert not np.array_equal(a.item_factors_, c.item_factors_)


def test_the_als_grid_keeps_the_best_point_on_val(world):
    params = K.ContenderParams(als_factors=(2, 6), als_regularization=(0.1, 5.0), als_iterations=(2,),
                               val_negatives=20)
    model = _fit_one(world, "als", params)
    grid = model.params["grid"]
    assert len(grid) == 4 and [(g["factors"], g["regularization"]) for g in grid] == [
        (2, 0.1), (2, 5.0), (6, 0.1), (6, 5.0)]
    best = max(range(4), key=lambda i: (grid[i]["val_hr@10"], -i))
    assert (model.params["factors"], model.params["regularization"]) == (grid[best]["factors"],
                                                                         grid[best]["regularization"])
    assert model.item_factors_.shape[1] == grid[best]["factors"]


# --------------------------------------------------------------------------------------------------------------
# the cache


def test_a_second_fit_loads_from_the_cache_with_the_same_scores(world, tmp_path):
    first = K.fit_contenders(world, FAST, cache_dir=tmp_path)
    assert list(first) == ["item_knn", "als"] and not any(c.from_cache for c in first.values())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("als-") and files[1].startswith("item_knn-")
    second = K.fit_contenders(world, FAST, cache_dir=tmp_path)
    assert all(c.from_cache for c in second.values())
    users, books = np.repeat(np.arange(40), 7), np.tile([0, 3, 9, 17, 33, 48, 59], 40)
    for name in first:
        assert second[name].params == first[name].params
        np.testing.assert_array_equal(second[name].bind(world.user_books_csr)(users, books),
                                      first[name].bind(world.user_books_csr)(users, books))
        assert second[name].top_k(36, world.user_books_csr)[0].tolist() == \
            first[name].top_k(36, world.user_books_csr)[0].tolist()


def test_other_params_or_data_miss_the_cache(world, tmp_path):
    K.fit_contenders(world, FAST, cache_dir=tmp_path)
    other_alphas = K.ContenderParams(**{**FAST.to_dict(), "knn_alphas": [0.25]})
    got = K.fit_contenders(world, other_alphas, cache_dir=tmp_path)
    assert not got["item_knn"].from_cache and got["item_knn"].alpha_ == 0.25
    assert got["als"].from_cache  # ALS does not depend on knn_alphas
    other_seed = K.ContenderParams(**{**FAST.to_dict(), "seed": 3})
    assert not any(c.from_cache for c in K.fit_contenders(world, other_seed, cache_dir=tmp_path).values())
    other_data = PreparedData(books=world.books, users=world.users, splits=world.splits,
                              manifest={"fingerprint": "fp-2"}, path=world.path)
    assert not any(c.from_cache for c in K.fit_contenders(other_data, FAST, cache_dir=tmp_path).values())
    assert all(c.from_cache for c in K.fit_contenders(world, FAST, cache_dir=tmp_path).values())


def test_the_default_cache_lives_under_the_prepared_folder(world, tmp_path):
    prepared = PreparedData(books=world.books, users=world.users, splits=world.splits, manifest=world.manifest,
                            path=tmp_path / "processed")
    K.fit_contenders(prepared, FAST)
    folder = tmp_path / "processed" / "contenders" / f"v{K.CONTENDER_VERSION}"
    assert K.cache_folder(prepared) == folder and len(list(folder.glob("*.npz"))) == 2
    assert not list(folder.glob(".*"))  # no temp files left behind
    unkeyed = PreparedData(books=world.books, users=world.users, splits=world.splits, manifest={},
                           path=tmp_path / "bare")
    assert not any(c.from_cache for c in K.fit_contenders(unkeyed, FAST).values())
    assert not (tmp_path / "bare").exists()  # no fingerprint: nothing cached


def test_a_damaged_or_foreign_cache_file_is_refitted(world, tmp_path, caplog):
    K.fit_contenders(world, FAST, cache_dir=tmp_path)
    knn_file = next(tmp_path.glob("item_knn-*.npz"))
    als_file = next(tmp_path.glob("als-*.npz"))
    als_file.write_bytes(knn_file.read_bytes())  # a valid file with another key
    knn_file.write_bytes(b"not a zip file")
    with caplog.at_level(logging.INFO, logger="pipeline.training.contenders"):
        got = K.fit_contenders(world, FAST, cache_dir=tmp_path)
    assert not any(c.from_cache for c in got.values())
    assert "unreadable contender cache" in caplog.text and "is for other data or params" in caplog.text
    assert all(c.from_cache for c in K.fit_contenders(world, FAST, cache_dir=tmp_path).values())


def test_an_unwritable_cache_folder_only_costs_the_cache(world, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="pipeline.training.contenders"):
        got = K.fit_contenders(world, FAST, cache_dir=blocker / "cache")
    assert set(got) == {"item_knn", "als"} and "could not cache contender" in caplog.text


def test_without_liked_val_rows_the_first_grid_point_is_kept(world):
    val = world.splits["val"].assign(rating=0.0)
    prepared = PreparedData(books=world.books, users=world.users, splits={**world.splits, "val": val},
                            manifest={}, path=world.path)
    got = K.fit_contenders(prepared, FAST)
    assert got["item_knn"].alpha_ == 0.0 and got["item_knn"].params["val_cases"] == 0
    assert all(np.isnan(g["val_hr@10"]) for g in got["item_knn"].params["grid"])
    assert got["item_knn"].bind(world.user_books_csr)(np.array([], int), np.array([], int)).shape == (0,)
    assert got["als"].bind(world.user_books_csr)(np.array([], int), np.array([], int)).shape == (0,)


def test_progress_runs_from_zero_to_one(world, tmp_path):
    seen = []
    K.fit_contenders(world, FAST, cache_dir=tmp_path, progress=lambda f, d: seen.append((f, d)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(d.startswith("item_knn:") for _, d in seen) and any(d.startswith("als:") for _, d in seen)


# --------------------------------------------------------------------------------------------------------------
# params


def test_params_round_trip_and_reject_bad_values():
    p = K.ContenderParams(knn_alphas=[0.0, 1.0], als_factors=[8, 16])
    assert K.ContenderParams.from_dict(p.to_dict()) == p and p.to_dict()["als_factors"] == [8, 16]
    assert p.key("item_knn") == {"knn_alphas": [0.0, 1.0], "seed": 0, "max_set_size": 200, "val_negatives": 100}
    for bad in ({"knn_alphas": ()}, {"knn_alphas": (-0.5,)}, {"knn_alphas": (0.5, 0.5)},
                {"als_factors": (0,)}, {"als_factors": (2.5,)}, {"als_regularization": (0.0,)},
                {"als_alpha": (float("nan"),)}, {"seed": -1}, {"max_set_size": 0}, {"val_negatives": True}):
        with pytest.raises(ValueError, match="ContenderParams"):
            K.ContenderParams(**bad)
    with pytest.raises(ValueError, match="unknown field"):
        K.ContenderParams.from_dict({"knn_alpha": [0.5]})


# --------------------------------------------------------------------------------------------------------------
# generated data


@pytest.fixture
def tiny(tiny_copy):
    """The session's tiny dataset, in a copy (the contenders are cached in the prepared folder)."""
    return load_prepared(tiny_copy / "processed")


def test_both_contenders_on_generated_tiny_data(tiny):
    got = K.fit_contenders(tiny)
    assert set(got) == {"item_knn", "als"} and not any(c.from_cache for c in got.values())
    csr, n_books = tiny.user_books_csr, len(tiny.books)
    test = tiny.splits["test"]
    rows = ev.classification_rows(test, csr, n_books, seed=0)
    cases = ev.ranking_cases(test, csr, n_books, n_negatives=100, seed=0)
    for name, contender in got.items():
        score = contender.bind(csr)
        metrics = ev.classification_metrics(rows.y, rows.score(score)) | ev.ranking_metrics(score, cases)
        assert metrics["n"] == len(rows) and 0 <= metrics["hr@10"] <= 1, name
        assert contender.params["val_cases"] == int((tiny.splits["val"]["rating"] == 1).sum())
        assert contender.params["train_users"] == int(tiny.users["split"].isin(["train", "dev"]).sum())
    knn = got["item_knn"]
    users, books = np.asarray(test["user_idx"]), np.asarray(test["book_idx"])
    np.testing.assert_allclose(knn.bind(csr)(users, books), _brute_knn(tiny, knn.alpha_, users, books, books),
                               rtol=1e-12)
    assert all(c.from_cache for c in K.fit_contenders(tiny).values())
