"""lfs.features: known answers on a hand-made dataset, TextBlob parity and dedup, the cache, and the seed's
shared_first_author definition on the `small` dataset."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
from textblob import TextBlob

from lfs import features as F
from lfs import textblob_features as tb
from lfs.spec import FEATURES
from pipeline.data.dataset import PreparedData, load_prepared
from pipeline.data.generate import generate
from pipeline.data.prepare import SPLITS, prepare

SPLIT = "train"  # the largest split of the generated tiny data
UNICODE = "Émilie était géniale ★★★★☆ 😀 — ça m'a plu, 5 stars!"
SPECIAL_TEXTS = [None, "", "   \n\t", UNICODE, "Awful. Just awful.", "Awful. Just awful.", np.nan]


def _hand_made(path) -> PreparedData:
    """Books 0, 1, 2, 5 by A, 3 by B, 4 without a first author; user 0 read 0-4, user 1 read 3, 5, 0."""
    books = pd.DataFrame({
        "book_idx": np.arange(6, dtype=np.int32),
        "first_author": ["A", "A", "A", "B", None, "A"],
        "average_rating": [4.0, 3.5, 4.25, 3.9, np.nan, 4.1],
        "ratings_count": pd.array([100, 200, 300, 400, None, 600], dtype="Int64"),
    })
    users = pd.DataFrame({
        "user_idx": np.arange(2, dtype=np.int32), "user_id": ["u0", "u1"],
        "book_idxs": [np.array([0, 1, 2, 3, 4], np.int32), np.array([3, 5, 0], np.int32)], "split": ["dev", "dev"],
    })
    dev = pd.DataFrame({
        "user_idx": np.array([0, 0, 0, 1, 1, 1], np.int32),
        "book_idx": np.array([0, 3, 4, 5, 3, 1], np.int32),
        "review_text": [None, "", "   ", "Loved it!", "a b  c\td\n e", UNICODE],
        "rating": np.array([1, 0, 1, 1, 0, 1], np.int8),
    }, index=pd.Index([50, 7, 3, 12, 0, 9]))  # not a RangeIndex, not sorted: kept as is
    return PreparedData(books=books, users=users, splits={"dev": dev}, manifest={"fingerprint": "hand"}, path=path)


def _sentiment(text):
    s = TextBlob(text).sentiment
    return s.polarity, s.subjectivity


def test_known_answers_on_a_hand_made_dataset(tmp_path):
    data = _hand_made(tmp_path)
    got = F.compute_features(data, "dev", processes=1)

    assert list(got.columns) == list(FEATURES)
    assert (got.dtypes == np.float64).all()
    pd.testing.assert_index_equal(got.index, data.splits["dev"].index)
    nan = np.nan
    # user 0, book 0 (A): 0, 1, 2 | book 3 (B): itself | book 4: no author | user 1, book 5 (A): 5, 0 | book 3 (B) |
    # book 1 (A) is not among user 1's books: 5 and 0 count, the candidate does not (the seed intersects sets)
    np.testing.assert_array_equal(got["same_author_count"], [3, 1, nan, 2, 1, 2])
    np.testing.assert_array_equal(got["review_length"], [nan, nan, 0, 2, 5, 11])
    np.testing.assert_array_equal(got["user_book_count"], [5, 5, 5, 3, 3, 3])
    np.testing.assert_array_equal(got["book_average_rating"], [4.0, 3.9, nan, 4.1, 3.9, 3.5])
    np.testing.assert_array_equal(got["book_ratings_count"], [100, 400, nan, 600, 400, 200])
    expected = [(nan, nan), (nan, nan), (0.0, 0.0), _sentiment("Loved it!"), _sentiment("a b  c\td\n e"),
                _sentiment(UNICODE)]
    np.testing.assert_array_equal(got[["polarity", "subjectivity"]].to_numpy(), np.array(expected))
    assert got["polarity"].iloc[3] > 0  # not trivially zero


def test_same_author_count_counts_distinct_books():
    lookups = F.FeatureLookups(book_author=np.array([0, 0, 1], np.int32), n_authors=2,
                               book_average_rating=np.zeros(3), book_ratings_count=np.zeros(3),
                               user_offsets=np.array([0, 4, 4]), user_books=np.array([0, 1, 0, 2], np.int32))
    got = F.same_author_count(np.array([0, 0, 1]), np.array([1, 2, 0]), lookups)
    np.testing.assert_array_equal(got, [2.0, 1.0, 0.0])  # user 1 has no books: nothing to count


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> PreparedData:
    """Generated tiny data; its train split gets null, "", whitespace-only, unicode and repeated texts.

    Seed 5, not the session's tiny dataset (tests/conftest.py): its train split has only 50 reviews, and
    test_sentiment_matches_textblob_row_by_row_in_a_pool wants more than 50."""
    raw = tmp_path_factory.mktemp("tiny-features") / "raw"
    generate(raw, "tiny", seed=5)
    prepare(raw, raw.parent / "processed")
    data = load_prepared(raw.parent / "processed")
    rows = data.splits[SPLIT].copy()
    texts = rows["review_text"].astype(object).to_numpy().copy()
    texts[: len(SPECIAL_TEXTS)] = SPECIAL_TEXTS
    texts[len(SPECIAL_TEXTS): len(SPECIAL_TEXTS) + 5] = "Awful. Just awful."
    rows["review_text"] = texts
    return dataclasses.replace(data, splits={**data.splits, SPLIT: rows})


def _at(data: PreparedData, path) -> PreparedData:
    """The same dataset with its cache folder under `path` (tests never write next to shared fixtures)."""
    return dataclasses.replace(data, path=path)


def test_sentiment_matches_textblob_row_by_row_in_a_pool(tiny):
    rows = tiny.splits[SPLIT]
    got = F.compute_features(tiny, SPLIT, processes=2)

    for text, polarity, subjectivity, length in zip(rows["review_text"], got["polarity"], got["subjectivity"],
                                                    got["review_length"], strict=True):
        if not isinstance(text, str) or text == "":
            assert np.isnan(polarity) and np.isnan(subjectivity) and np.isnan(length)
        else:  # bit-identical to TextBlob in this process
            assert (polarity, subjectivity) == _sentiment(text)
            assert length == len(text.split())
    assert got["polarity"].notna().sum() > 50


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pool_equals_serial(tiny, monkeypatch, start_method):
    texts = F.distinct_texts([tiny.splits[SPLIT]])
    serial = tb.score_texts(texts, processes=1)
    monkeypatch.setattr(tb, "_start_method", lambda: start_method)
    np.testing.assert_array_equal(tb.score_texts(texts, processes=2), serial)
    if start_method == "fork":
        pd.testing.assert_frame_equal(F.compute_features(tiny, SPLIT, processes=2),
                                      F.compute_features(tiny, SPLIT, processes=1), check_exact=True)


@pytest.fixture
def textblob_calls(monkeypatch):
    """Count TextBlob runs (in-process scoring only: use processes=1)."""
    calls: list[str] = []
    real = tb.score_text

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(tb, "score_text", counting)
    return calls


def test_textblob_runs_once_per_distinct_text(tiny, textblob_calls):
    texts = tiny.splits[SPLIT]["review_text"]
    distinct = {t for t in texts if isinstance(t, str) and t != ""}
    assert texts.isin(["Awful. Just awful."]).sum() > 1

    F.compute_features(tiny, SPLIT, processes=1)

    assert len(textblob_calls) == len(distinct) and set(textblob_calls) == distinct


def test_all_splits_score_each_distinct_text_once(tiny, tmp_path, textblob_calls):
    data = _at(tiny, tmp_path)
    all_texts = pd.concat([data.splits[s]["review_text"] for s in SPLITS])
    distinct = {t for t in all_texts if isinstance(t, str) and t != ""}

    first = F.load_all_features(data, processes=1)
    assert sorted(textblob_calls) == sorted(distinct)

    # split by split, after the split caches are gone: every score comes from the per-text cache
    textblob_calls.clear()
    for s in SPLITS:
        (F.features_dir(data) / f"{s}.parquet").unlink()
    for s in SPLITS:
        pd.testing.assert_frame_equal(F.load_features(data, s, processes=1), first[s], check_exact=True)
    assert textblob_calls == []


def _forbid_computing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(F, "compute_partition", fail)
    monkeypatch.setattr(tb, "score_text", fail)


def test_cache_is_reused(tiny, tmp_path, monkeypatch):
    data = _at(tiny, tmp_path)
    first = F.load_features(data, SPLIT, processes=1)
    cached = F.features_dir(data) / f"{SPLIT}.parquet"
    mtime = os.stat(cached).st_mtime_ns
    assert (F.features_dir(data) / f"{SPLIT}.json").is_file()
    assert F.features_dir(data) == tmp_path / "features" / f"v{F.FEATURE_VERSION}"

    _forbid_computing(monkeypatch)
    again = F.load_features(data, SPLIT)

    pd.testing.assert_frame_equal(again, first, check_exact=True)
    assert os.stat(cached).st_mtime_ns == mtime


def _count_computes(monkeypatch) -> list:
    calls = []
    real = F.compute_partition

    def counting(rows, *args, **kwargs):
        calls.append(len(rows))
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(F, "compute_partition", counting)
    return calls


def test_cache_is_invalidated_by_the_fingerprint(tiny, tmp_path, monkeypatch):
    data = _at(tiny, tmp_path)
    first = F.load_features(data, SPLIT, processes=1)
    calls = _count_computes(monkeypatch)

    other = dataclasses.replace(data, manifest={**data.manifest, "fingerprint": "something else"})
    pd.testing.assert_frame_equal(F.load_features(other, SPLIT, processes=1), first, check_exact=True)
    assert calls == [len(data.splits[SPLIT])]
    F.load_features(other, SPLIT)  # now cached for the new fingerprint
    assert len(calls) == 1


def test_cache_is_invalidated_by_the_feature_version(tiny, tmp_path, monkeypatch):
    data = _at(tiny, tmp_path)
    F.load_features(data, SPLIT, processes=1)
    old = F.features_dir(data) / f"{SPLIT}.parquet"
    calls = _count_computes(monkeypatch)

    monkeypatch.setattr(F, "FEATURE_VERSION", F.FEATURE_VERSION + 1)
    new_dir = F.features_dir(data)
    assert new_dir.name == f"v{F.FEATURE_VERSION}"
    new_dir.mkdir(parents=True)
    (new_dir / f"{SPLIT}.parquet").write_bytes(old.read_bytes())  # the old file at the new place: its meta says v1

    F.load_features(data, SPLIT, processes=1)
    assert len(calls) == 1


def test_damaged_cache_is_recomputed(tiny, tmp_path):
    data = _at(tiny, tmp_path)
    first = F.load_features(data, SPLIT, processes=1)
    (F.features_dir(data) / f"{SPLIT}.parquet").write_bytes(b"not parquet")
    (F.features_dir(data) / F.TEXTBLOB_CACHE).write_bytes(b"not parquet either")

    pd.testing.assert_frame_equal(F.load_features(data, SPLIT, processes=1), first, check_exact=True)
    pd.testing.assert_frame_equal(F.load_features(data, SPLIT), first, check_exact=True)


def test_no_cache_writes_nothing(tiny, tmp_path):
    data = _at(tiny, tmp_path)
    F.load_features(data, "val", cache=False, processes=1)
    assert not (tmp_path / "features").exists()


def test_unknown_split_is_named(tiny, tmp_path):
    with pytest.raises(KeyError, match="'nope'"):
        F.load_features(_at(tiny, tmp_path), "nope")


@pytest.mark.slow
def test_same_author_count_matches_the_seed_on_small(small_prepared):
    data = load_prepared(small_prepared)
    books = data.books
    assert books["first_author"].notna().all()
    # tests/seed_lfs.py's shared_first_author, up to its threshold
    book_to_first_author = dict(zip(books.book_idx, books.first_author, strict=True))
    grouped = books.groupby("first_author")[["book_idx"]].agg(set)
    first_author_to_books = dict(zip(grouped.index, grouped.book_idx, strict=True))
    dev = data.splits["dev"]
    expected = [len(set(book_idxs).intersection(first_author_to_books[book_to_first_author[b]]))
                for b, book_idxs in zip(dev["book_idx"], data.book_idxs_for(dev), strict=True)]

    got = F.same_author_count(dev["user_idx"].to_numpy(), dev["book_idx"].to_numpy(), F.build_lookups(data))

    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))
    assert max(expected) > 15  # the seed's threshold is reached somewhere
