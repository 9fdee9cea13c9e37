"""Model promotion in a real browser on tiny data with two real retrains: the Recommend page serves the model in
use (a later run that was not promoted does not replace it), and a Promote click on the Runs page switches it."""

from __future__ import annotations

import re

import pytest

from pipeline.runs.registry import Registry
from tests.runs_fixtures import copy_folder

pytest_plugins = ("tests.browser",)


@pytest.fixture
def workbench_data(trained_two_runs, tmp_path):
    """A copy of the data with runs 1 and 2 (built once per session); run 1 is made the model in use by hand, as
    after a worse run 2 that was not promoted."""
    data = copy_folder(trained_two_runs, tmp_path / "data")
    registry = Registry.for_data(data)
    if registry.current_model().id != 1:
        registry.promote(1, "the earlier model", "by hand")
    return data


def caption_of_recommend(app) -> str:
    app.navigate("Recommend", "recommend", "rec-model")
    texts = app.page.get_by_test_id("stCaptionContainer").all_inner_texts()
    return next(t for t in texts if "The model in use is" in t)


@pytest.mark.slow
def test_promote_on_the_runs_page_switches_the_model_recommend_serves(workbench, workbench_data):
    workbench.open()
    assert "The model in use is run 1" in caption_of_recommend(workbench)

    workbench.navigate("Runs", "runs", "runs-run")
    workbench.key("runs-run").click()
    workbench.page.get_by_role("option").filter(has_text=re.compile(r"^\s*run 2 ·")).click()
    workbench.key("runs-promote").locator("button:visible").filter(has_text="Promote run 2").wait_for()
    workbench.idle()
    workbench.click("runs-promote")
    workbench.page.get_by_text("The model in use is now run 2").wait_for()
    workbench.idle()
    assert Registry.for_data(workbench_data).current_model().id == 2

    assert "The model in use is run 2 (promoted by hand on the Runs page" in caption_of_recommend(workbench)
    assert not workbench.problems()
