"""The Recommend page (AppTest) on a real retrain of the tiny workbench data, and the pure functions behind it
(pipeline.runs.recommend: held-out likes, hold-out, the popularity and contender top k); the item-kNN and ALS lists
with stand-in contenders (pipeline.training.contenders' API) beside an untrained model, and the note without them."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data.dataset import load_prepared
from pipeline.runs.recommend import (
    contender_top,
    held_out_likes,
    popular,
    recommend,
    without_books,
)
from pipeline.runs.registry import Registry
from pipeline.training.evaluate import popularity_scores
from tests.runs_fixtures import copy_folder
from workbench import nav
from workbench.recommend_view import LIKED_MARK, ranked, table_html
from workbench.render import markdown_literal

PAGE = nav.RECOMMEND
# The tests marked slow read the trained data: the workbench data with one succeeded run, built once per session
# (tests/workbench_fixtures.py).
ON_TRAINED = pytest.mark.usefixtures("trained_workbench")


@pytest.fixture
def workbench_data(request, workbench_template, tmp_path):
    """This test's data folder: a copy of the trained data for tests marked slow (ON_TRAINED), of the untrained
    template otherwise."""
    slow = request.node.get_closest_marker("slow")
    source = request.getfixturevalue("trained_workbench") if slow else workbench_template
    return copy_folder(source, tmp_path / "data")


@pytest.fixture(scope="module")
def prepared(workbench_template):
    return load_prepared(workbench_template / "processed")


def best_test_user(prepared) -> int:
    """The page's default user: the test user with the most liked held-out books (ties: lowest user_idx)."""
    test = prepared.splits["test"]
    liked = test[test["rating"] == 1].groupby("user_idx").size()
    return int(liked[liked == liked.max()].index.min())


def open_page(apptest):
    at = apptest.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def html_rows(body: str) -> list[list[str]]:
    """The body rows of an HTML table as lists of unescaped cell texts."""
    tbody = re.search(r"<tbody>(.*)</tbody>", body, re.S).group(1)
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S)]


LISTS = ("model", "popular", "item_knn", "als")


def lists(at) -> dict[str, pd.DataFrame]:
    """The ranked tables by position (the model's, popularity's, then item-kNN's and ALS's when shown): #, title,
    author, score, held out."""
    tables = [html_rows(e.proto.body) for e in at.get("html")]
    assert len(tables) in (2, 4), tables
    columns = ["#", "title", "author", "score", "held out"]
    return {name: pd.DataFrame(rows, columns=columns) for name, rows in zip(LISTS, tables, strict=False)}


# --------------------------------------------------------------------------------------------------------------
# pipeline.runs.recommend


def test_without_books_removes_only_that_users_books():
    csr = (np.array([0, 3, 5]), np.array([4, 1, 4, 2, 3], dtype=np.int32))
    offsets, values = without_books(csr, 0, [4, 9])
    assert offsets.tolist() == [0, 1, 3] and values.tolist() == [1, 2, 3]
    assert without_books(csr, 1, [7]) is csr


def test_held_out_likes_are_the_users_test_rows_rated_1(prepared):
    test = prepared.splits["test"]
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    rows = test[test["user_idx"] == user]
    assert set(liked) == set(rows.loc[rows["rating"] == 1, "book_idx"]) and len(liked) > 0
    assert set(liked) <= set(prepared.users["book_idxs"].iat[user])  # they are on the user's shelf
    train_user = int(prepared.users.index[prepared.users["split"] == "train"][0])
    assert len(held_out_likes(prepared, train_user)) == 0


def test_popular_ranks_unshelved_books_by_train_and_dev_counts(prepared):
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    counts = popularity_scores(prepared)
    shelf = set(prepared.users["book_idxs"].iat[user])
    top = popular(prepared, user, k=10)
    assert top["rank"].tolist() == list(range(1, 11))
    assert not shelf & set(top["book_idx"])
    assert top["score"].tolist() == counts[top["book_idx"]].tolist()
    assert top["score"].is_monotonic_decreasing
    unseen = np.setdiff1d(np.arange(len(counts)), list(shelf))
    assert top["score"].iat[-1] >= np.sort(counts[unseen])[-10]  # nothing left out scores higher
    held = popular(prepared, user, k=len(counts), hold_out=liked)
    assert set(liked) <= set(held["book_idx"])  # held-out books become candidates, the rest of the shelf not
    assert not (shelf - set(liked)) & set(held["book_idx"])


def test_lists_render_titles_as_text():
    hostile = "<img src=x onerror=alert(1)> *Bold* [link](http://x) :red[x] & 5 stars"
    frame = pd.DataFrame({"rank": [1, 2], "book_idx": [7, 8], "title": [hostile, "Plain"],
                          "first_author": ["1", "2"], "first_author_name": ["<b>Zo\u00eb</b> & Co", "2"],
                          "score": [0.51234, 0.5]})
    body = table_html(ranked(frame, np.array([8]), "score"))
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body and "&amp; 5 stars" in body
    assert "<b>" not in body
    assert html_rows(body) == [["1.", hostile, "<b>Zo\u00eb</b> & Co", "0.5123", ""],
                               ["2.", "Plain", "2", "0.5000", LIKED_MARK]]
    assert re.sub(r"\\(.)", r"\1", markdown_literal(hostile)) == hostile
    assert "\\[link\\]\\(http" in markdown_literal(hostile)


def test_lists_and_the_cli_name_authors(prepared):
    from pipeline.cli.retrain import recommend_text

    user = best_test_user(prepared)
    top = popular(prepared, user, k=5)
    books = prepared.books.set_index("book_idx").loc[top["book_idx"]]
    assert top["first_author"].tolist() == books["first_author"].tolist()
    assert top["first_author_name"].tolist() == books["first_author_name"].tolist()
    assert not any(name.isdigit() for name in top["first_author_name"]), "the generated data names its authors"
    lines = recommend_text(top).splitlines()
    assert lines[0].split() == ["rank", "book_idx", "title", "author", "author_id", "score"] and len(lines) == 6
    for line, name, author_id in zip(lines[1:], top["first_author_name"], top["first_author"], strict=True):
        assert name in line and author_id in line
    assert ranked(top, np.array([]), "score")["author"].tolist() == top["first_author_name"].tolist()


class FakeContender:
    """pipeline.training.contenders' Contender API (top_k over the books off the user's shelf in `csr`), ranking the
    books
    in `favoured` first, then by book_idx (descending when `reverse`)."""

    def __init__(self, name: str, n_books: int, favoured, reverse: bool = False):
        self.name, self.params, self.from_cache = name, {}, True
        self.n_books, self.favoured, self.reverse = n_books, np.asarray(favoured), reverse
        self.csrs = []

    def top_k(self, user: int, csr, k: int = 10):
        self.csrs.append(csr)
        offsets, values = csr
        books = np.setdiff1d(np.arange(self.n_books), values[offsets[user]:offsets[user + 1]])
        tail = (books if self.reverse else -books) / (10.0 * self.n_books)
        scores = np.where(np.isin(books, self.favoured), 0.9, 0.5) + tail
        order = np.lexsort((books, -scores))[:k]
        return books[order], scores[order]


def fake_contenders_module(fit_contenders, cache: Path):
    """A stand-in for pipeline.training.contenders: its names the page uses, `fit_contenders` as given, cache folder
    `cache`."""
    import types

    fake = types.ModuleType("pipeline.training.contenders")
    fake.ContenderParams = types.SimpleNamespace(from_dict=dict)
    fake.DEFAULT_PARAMS = {}
    fake.cache_folder = lambda prepared: cache
    fake.fit_contenders = fit_contenders
    return fake


def test_before_a_retrain_made_them_nothing_is_fitted(prepared, monkeypatch):
    import sys

    import pipeline.training
    from pipeline.runs.recommend import CONTENDERS_PENDING, load_contenders

    monkeypatch.setitem(sys.modules, "pipeline.training.contenders", None)
    monkeypatch.delattr(pipeline.training, "contenders", raising=False)
    assert load_contenders(prepared) == (None, CONTENDERS_PENDING)

    def fit_contenders(*args, **kwargs):
        raise AssertionError("nothing is fitted before a retrain made item-kNN and ALS")

    fake = fake_contenders_module(fit_contenders, prepared.path / "no-such-cache")
    monkeypatch.setitem(sys.modules, "pipeline.training.contenders", fake)
    monkeypatch.setattr(pipeline.training, "contenders", fake, raising=False)
    old = {"contenders": {"ours": {}, "popularity": {}}}  # the model in use predates item-kNN and ALS
    assert load_contenders(prepared, None, old) == (None, CONTENDERS_PENDING)


def test_real_contenders_are_read_from_the_cache_a_retrain_wrote(workbench_data):
    contenders = pytest.importorskip("pipeline.training.contenders")
    from pipeline.runs.recommend import CONTENDERS_PENDING, load_contenders

    prepared = load_prepared(workbench_data / "processed")
    assert load_contenders(prepared) == (None, CONTENDERS_PENDING)  # nothing cached, nothing evaluated
    contenders.fit_contenders(prepared)  # what a retrain does
    fitted, note = load_contenders(prepared)
    assert note is None and {k: (c.name, c.from_cache) for k, c in fitted.items()} == {
        "item_knn": ("item_knn", True), "als": ("als", True)}
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    shelf = set(prepared.users["book_idxs"].iat[user])
    for contender in fitted.values():
        held = contender_top(prepared, contender, user, k=len(prepared.books), hold_out=liked)
        assert set(liked) <= set(held["book_idx"]) and not (shelf - set(liked)) & set(held["book_idx"])
        plain = contender_top(prepared, contender, user, k=10)
        assert len(plain) == 10 and not shelf & set(plain["book_idx"]) and plain["score"].is_monotonic_decreasing


def test_contender_top_sees_the_shelf_without_the_held_out_books(prepared):
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    fake = FakeContender("item_knn", len(prepared.books), liked)
    held = contender_top(prepared, fake, user, k=10, hold_out=liked)
    assert held["rank"].tolist() == list(range(1, 11))
    assert set(held["book_idx"][:len(liked)]) <= set(liked) and len(liked)  # back among the candidates, favoured
    offsets, values = fake.csrs[-1]
    assert not set(liked) & set(values[offsets[user]:offsets[user + 1]])
    plain = contender_top(prepared, fake, user, k=10)
    assert not set(liked) & set(plain["book_idx"]) and not set(prepared.users["book_idxs"].iat[user]) & set(
        plain["book_idx"])
    assert plain["title"].tolist() == prepared.books.set_index("book_idx").loc[plain["book_idx"], "title"].tolist()


# --------------------------------------------------------------------------------------------------------------
# the page


def test_without_a_model_the_page_says_how_to_train(apptest):
    at = open_page(apptest)
    assert any("No trained model yet" in i.value and "Train page" in i.value for i in at.info)
    assert not at.get("html")


@pytest.mark.slow
@ON_TRAINED
def test_lists_ten_books_for_a_test_user_with_held_out_likes_marked(apptest, workbench_data):
    prepared = load_prepared(workbench_data / "processed")
    registry = Registry.for_data(workbench_data)
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    at = open_page(apptest)
    assert at.selectbox(key="rec-user").value == user
    assert any(f"run {registry.current_model().id}" in c.value for c in at.caption)

    shown = lists(at)
    expected = recommend(prepared, registry, user, k=10, hold_out=liked)
    assert len(shown["model"]) == 10 and shown["model"]["#"].tolist() == [f"{r}." for r in range(1, 11)]
    assert shown["model"]["title"].tolist() == expected["title"].tolist()
    assert np.allclose(shown["model"]["score"].astype(float), expected["score"])
    marked = expected["book_idx"].isin(liked).to_numpy()
    assert (shown["model"]["held out"] == LIKED_MARK).to_numpy().tolist() == marked.tolist()
    assert shown["popular"]["title"].tolist() == popular(prepared, user, k=10, hold_out=liked)["title"].tolist()
    shelf = at.dataframe[-1].value
    assert len(shelf) == len(prepared.users["book_idxs"].iat[user])
    assert (shelf["held out"] == LIKED_MARK).sum() == len(liked)

    at.toggle(key="rec-hold-out").set_value(False).run()  # as the CLI: nothing on the shelf is recommended
    assert not at.exception, at.exception
    plain = lists(at)["model"]
    assert plain["title"].tolist() == recommend(prepared, registry, user, k=10)["title"].tolist()
    assert not (plain["held out"] == LIKED_MARK).any()


@pytest.mark.slow
@ON_TRAINED
def test_typed_user_id(apptest, workbench_data):
    prepared = load_prepared(workbench_data / "processed")
    registry = Registry.for_data(workbench_data)
    at = open_page(apptest)
    at.text_input(key="rec-user-id").input("no-such-user").run()
    assert not at.exception, at.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # the message is Markdown-escaped
    assert any("unknown user 'no-such-user'" in e for e in errors), errors
    assert not at.get("html")

    user_id = prepared.users["user_id"].iat[3]
    at.text_input(key="rec-user-id").input(user_id).run()
    assert not at.exception and not at.error
    expected = recommend(prepared, registry, 3, k=10, hold_out=held_out_likes(prepared, 3))
    assert lists(at)["model"]["title"].tolist() == expected["title"].tolist()


@pytest.fixture
def untrained_model_run(workbench_data):
    """A succeeded run whose model is built, not trained (the lists need a model, not a good one), with new-shape
    metrics naming item-kNN and ALS, promoted by hand to the model in use."""
    from pipeline.training.endmodel import build_model, save_model
    from tests.interval_fixtures import hand_metrics, record_run

    registry = Registry.for_data(workbench_data)
    prepared = load_prepared(workbench_data / "processed")
    run_id = record_run(registry, hand_metrics(), fingerprint=prepared.manifest["fingerprint"])
    path = save_model(build_model(len(prepared.books)), registry.runs_dir(run_id) / "model.keras")
    registry.set_artifacts(run_id, {"model": path})
    registry.promote(run_id, "the lists need this run's model", "by hand")
    return run_id


def test_item_knn_and_als_lists_beside_ours_with_the_same_hold_out(apptest, workbench_data, untrained_model_run,
                                                                    monkeypatch):
    import sys

    import streamlit as st

    import pipeline.training

    prepared = load_prepared(workbench_data / "processed")
    user = best_test_user(prepared)
    liked = held_out_likes(prepared, user)
    fitted = {"item_knn": FakeContender("item_knn", len(prepared.books), liked),
              "als": FakeContender("als", len(prepared.books), liked, reverse=True)}
    calls = []

    def fit_contenders(prepared, params=None, *, cache_dir=None, progress=None):
        calls.append(params)
        return fitted

    fake = fake_contenders_module(fit_contenders, workbench_data / "processed" / "no-such-cache")
    monkeypatch.setitem(sys.modules, "pipeline.training.contenders", fake)
    monkeypatch.setattr(pipeline.training, "contenders", fake, raising=False)

    at = open_page(apptest)
    assert at.selectbox(key="rec-user").value == user
    shown = lists(at)
    assert list(shown) == list(LISTS) and len(calls) == 1
    for name, contender in fitted.items():
        expected = contender_top(prepared, contender, user, k=10, hold_out=liked)
        assert shown[name]["title"].tolist() == expected["title"].tolist()
        assert (shown[name]["held out"] == LIKED_MARK).sum() == min(10, len(liked))  # favoured, held out, ★
    assert shown["item_knn"]["title"].tolist() != shown["als"]["title"].tolist()
    expected = popular(prepared, user, k=10, hold_out=liked)["first_author_name"].tolist()
    assert shown["popular"]["author"].tolist() == expected and not any(a.isdigit() for a in expected)  # names
    assert at.get("html")[2].proto.body.count("<img") == 0  # escaped tables, as the others

    at.toggle(key="rec-hold-out").set_value(False).run()  # the shelf as it is: nothing held out comes back
    assert not at.exception, at.exception
    plain = lists(at)
    assert not any((plain[name]["held out"] == LIKED_MARK).any() for name in ("item_knn", "als"))
    assert len(calls) == 1  # the fitted contenders are loaded once

    st.cache_resource.clear()  # without pipeline.training.contenders: popularity alone, and a note
    monkeypatch.setitem(sys.modules, "pipeline.training.contenders", None)
    monkeypatch.delattr(pipeline.training, "contenders")
    at.run()
    assert not at.exception, at.exception
    assert list(lists(at)) == ["model", "popular"]
    assert any(c.value == "Item-kNN and ALS lists appear after the first retrain." for c in at.caption)
