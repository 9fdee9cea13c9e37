"""The Recommend page in a real browser on tiny data with a real retrain: it lists the model's 10 books."""

from __future__ import annotations

import pytest

from pipeline.data.dataset import load_prepared
from pipeline.runs.recommend import held_out_likes, recommend
from pipeline.runs.registry import Registry
from tests.runs_fixtures import copy_folder

pytest_plugins = ("tests.browser",)


@pytest.fixture
def workbench_data(trained_workbench, tmp_path):
    """The server of this test serves a copy of the trained data (the workbench data with one succeeded run, built
    once per session: tests/workbench_fixtures.py)."""
    return copy_folder(trained_workbench, tmp_path / "data")


def test_recommend_lists_ten_books(workbench, workbench_data):
    workbench.open()  # the app's front page, then the menu, as a user gets there
    workbench.navigate("Recommend", "recommend", "rec-model")
    rows = workbench.key("rec-model").locator("table tbody tr")
    # The container is drawn before its table: wait for the table's last row, not only for the container.
    rows.nth(9).wait_for()
    workbench.idle()
    user = workbench.page.get_by_test_id("stSelectbox").filter(has_text="Test user").inner_text()
    assert rows.count() == 10
    ranks = [rows.nth(i).locator("td").first.inner_text().strip() for i in range(10)]
    assert ranks == [f"{r}." for r in range(1, 11)]

    prepared = load_prepared(workbench_data / "processed")
    users = prepared.users
    shown_id = next(uid for uid in users["user_id"] if uid in user)
    user_idx = int(users.index[users["user_id"] == shown_id][0])
    expected = recommend(prepared, Registry.for_data(workbench_data), user_idx, k=10,
                         hold_out=held_out_likes(prepared, user_idx))
    text = workbench.text("rec-model")
    for title in expected["title"]:
        assert title in text
    popular = workbench.key("rec-popular").locator("table tbody tr")
    popular.nth(9).wait_for()
    assert popular.count() == 10
    assert not workbench.page.get_by_test_id("stException").count()
    assert not workbench.dialogs, workbench.dialogs
    assert not workbench.console_errors, workbench.console_errors
