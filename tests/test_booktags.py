"""pipeline.training.booktags: books as tag vectors from their popular shelves."""

import numpy as np
import pandas as pd
import pytest

from pipeline.training.booktags import shelf_tags


def _books(shelves):
    return pd.DataFrame({"shelf_names": [[n for n, _ in s] for s in shelves],
                         "shelf_counts": [[c for _, c in s] for s in shelves]})


def test_a_shelf_every_book_carries_weighs_nothing_and_genres_carry_the_vector():
    books = _books([[("to-read", 100), ("fantasy", 20)], [("to-read", 50), ("fantasy", 5)],
                    [("to-read", 80), ("romance", 40)], [("to-read", 10)]] * 5)
    tags, names = shelf_tags(books)
    assert names == ["fantasy", "romance"]  # "to-read" (idf 0) is not a tag
    assert tags.shape == (20, 2)
    np.testing.assert_allclose(tags[0], [1.0, 0.0])
    np.testing.assert_allclose(tags[2], [0.0, 1.0])
    np.testing.assert_allclose(tags[3], [0.0, 0.0])  # only a shelf everyone has: no tag vector
    np.testing.assert_allclose(np.linalg.norm(tags[:3], axis=1), 1.0, rtol=1e-6)


def test_weights_are_shares_times_idf():
    # 10 books: "a" on all but one (idf log(10/9)), "b" on two (idf log 5): book 0 holds a:30, b:10
    shelves = [[("a", 30), ("b", 10)], [("b", 1)]] + [[("a", 1)]] * 8
    tags, names = shelf_tags(_books(shelves), max_tags=2)
    assert names == ["a"]  # "b" is on fewer than 5 books: too rare to be a tag
    shelves = ([[("a", 30), ("b", 10)]] + [[("b", 1)]] * 5 + [[("a", 1)]] * 4)
    tags, names = shelf_tags(_books(shelves))
    assert names == ["b", "a"]  # by how many books carry them
    w = np.array([10 / 40 * np.log(10 / 6), 30 / 40 * np.log(10 / 5)])
    np.testing.assert_allclose(tags[0], w / np.linalg.norm(w), rtol=1e-6)


def test_max_tags_keeps_the_most_common_shelves():
    shelves = [[(f"s{j}", 1) for j in range(i % 7)] for i in range(70)]
    tags, names = shelf_tags(_books(shelves), max_tags=3)
    assert names == ["s0", "s1", "s2"] and tags.shape == (70, 3)


@pytest.mark.parametrize("books", [pd.DataFrame({"title": ["x", "y"]}), _books([[], []])])
def test_books_without_shelves_give_one_zero_column(books):
    tags, names = shelf_tags(books)
    assert names == [] and tags.shape == (2, 1) and not tags.any()
