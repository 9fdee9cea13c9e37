"""Guided LF development in a real browser on tiny data: one click adds a suggested LF and the figures shown are
the engine's; autotune sets the value `python -m pipeline autotune` prints; the read-next queue opens from its link
and pages."""

from __future__ import annotations

import json
import subprocess
import sys

from lfs.analysis import lf_summary
from lfs.store import ConfigStore
from lfs.suggest import open_context, suggest
from lfs.workspace import open_split
from pipeline.data.dataset import load_prepared
from tests.browser import ROOT
from tests.test_browser_workbench import LF, coverage, incorrect, open_lf_page
from workbench import state

pytest_plugins = ("tests.browser",)


def show_assist(app) -> None:
    app.key(state.ASSIST_SHOW).get_by_text("Suggest LFs").click()
    app.key("assist").wait_for()
    app.idle()


def test_one_click_adds_a_suggestion_with_the_engines_figures(workbench, workbench_data):
    open_lf_page(workbench)
    show_assist(workbench)
    data = load_prepared(workbench_data / "processed")
    cfg = ConfigStore.open(str(workbench_data / "lf_configs")).load(1)
    first = suggest(open_context(data, cfg.enabled()), top=10)[0]
    workbench.key("suggestion-add-0").wait_for()
    workbench.click("suggestion-add-0")
    workbench.key(f"stats-{first.spec.name}").wait_for()
    workbench.idle()
    shown = workbench.text(f"stats-{first.spec.name}")

    specs = cfg.add(first.spec).enabled()
    dev = open_split(data, "dev")
    row = lf_summary(dev.matrix(specs), specs, dev.gold).loc[first.spec.name]
    assert abs(coverage(shown) - 100 * float(row["Coverage"])) < 0.006
    assert incorrect(shown) == int(row["Incorrect"])
    assert not workbench.problems()


def test_autotune_sets_the_value_the_cli_prints(workbench, workbench_data):
    open_lf_page(workbench)
    field = workbench.key(f"ed-1-{LF}-value").locator("input")
    before = field.input_value()
    workbench.click(f"ed-1-{LF}-autotune")
    workbench.page.wait_for_function("([sel, v]) => document.querySelector(sel)?.value !== v",
                                     arg=[f".st-key-ed-1-{LF}-value input", before])
    workbench.idle()
    printed = subprocess.run([sys.executable, "-m", "pipeline", "autotune", "--processed",
                              str(workbench_data / "processed"), "--lf", LF, "--json"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    value = json.loads(printed)["value"]
    assert abs(float(field.input_value()) - value) < 1e-3  # the input shows it rounded to its step
    assert f"Autotuned {LF} to {value:g}" in workbench.page.get_by_test_id("stAlert").all_inner_texts()[0] \
        .replace("`", "")
    assert not workbench.problems()


def test_read_next_opens_from_its_link_and_pages(workbench, workbench_data):
    from tests.test_app_examples import triage_expected

    expected = triage_expected(workbench_data)
    workbench.open("examples?split=dev&order=triage", ready=".st-key-example-0")
    assert any("Read next on dev" in t for t in workbench.page.get_by_test_id("stCaptionContainer").all_inner_texts())
    assert f"{len(expected):,} rows match" in workbench.text("ex-count")
    first = workbench.text("example-0")
    field = workbench.key("ex-page").locator("input")
    field.fill("2")
    second = workbench.change_text("example-0", lambda: field.press("Enter"))
    assert second != first
    assert not workbench.problems()
