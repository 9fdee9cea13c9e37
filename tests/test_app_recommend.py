"""The Recommend page (AppTest) on a real retrain of the tiny workbench data, and the pure functions behind it
(pipeline.recommend: held-out likes, hold-out, the popularity top k)."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.dataset import load_prepared
from pipeline.evaluate import popularity_scores
from pipeline.recommend import held_out_likes, popular, recommend, without_books
from pipeline.registry import Registry
from tests.runs_fixtures import copy_folder, trained_folder
from workbench import nav
from workbench.recommend_view import LIKED_MARK, ranked, table_html
from workbench.render import markdown_literal

PAGE = nav.RECOMMEND


@pytest.fixture(scope="module")
def trained(workbench_template, tmp_path_factory):
    """The workbench data with one succeeded run, built once per module."""
    return trained_folder(workbench_template, tmp_path_factory.mktemp("recommend") / "data", [None])


@pytest.fixture
def workbench_data(request, workbench_template, tmp_path):
    """This test's data folder: a copy of the trained data for tests marked slow, of the untrained template
    otherwise."""
    source = request.getfixturevalue("trained") if request.node.get_closest_marker("slow") else workbench_template
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


def lists(at) -> dict[str, pd.DataFrame]:
    """The two ranked tables by position (the model's, then popularity's): #, title, author (id), score, held out."""
    tables = [html_rows(e.proto.body) for e in at.get("html")]
    assert len(tables) == 2, tables
    columns = ["#", "title", "author (id)", "score", "held out"]
    return {"model": pd.DataFrame(tables[0], columns=columns), "popular": pd.DataFrame(tables[1], columns=columns)}


# --------------------------------------------------------------------------------------------------------------
# pipeline.recommend


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
                          "first_author": ["1", "2"], "score": [0.51234, 0.5]})
    body = table_html(ranked(frame, np.array([8]), "score"))
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body and "&amp; 5 stars" in body
    assert html_rows(body) == [["1.", hostile, "1", "0.5123", ""], ["2.", "Plain", "2", "0.5000", LIKED_MARK]]
    assert re.sub(r"\\(.)", r"\1", markdown_literal(hostile)) == hostile
    assert "\\[link\\]\\(http" in markdown_literal(hostile)


# --------------------------------------------------------------------------------------------------------------
# the page


def test_without_a_model_the_page_says_how_to_train(apptest):
    at = open_page(apptest)
    assert any("No trained model yet" in i.value and "Train page" in i.value for i in at.info)
    assert not at.get("html")


@pytest.mark.slow
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
