"""The Train page in a real browser on tiny data: Retrain to success, Cancel, a second tab, and a job killed with
SIGKILL (shown as failed on the next load, the earlier model still in use)."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

from pipeline.runs.registry import DIED_MESSAGE, Registry
from tests.runs_fixtures import copy_folder

pytest_plugins = ("tests.browser",)

QUICK = {"train-lm-n_epochs": 200, "train-end-epochs": 2, "train-replica-steps": 3, "train-replica-epochs": 2}
EXPANDERS = {"train-lm": "Label model", "train-end": "End model", "train-replica": "Seed replica"}
RUN_MS = 240_000  # a job's deadline; tiny data trains in seconds


@pytest.fixture
def workbench_data(request, workbench_template, tmp_path):
    """This test's data folder (its server serves it): a copy of the untrained template, or for a test that uses
    `trained_workbench` a copy of that (run 1 succeeded: a retrain with the QUICK settings, built once per session)."""
    trained = "trained_workbench" in request.fixturenames
    source = request.getfixturevalue("trained_workbench") if trained else workbench_template
    return copy_folder(source, tmp_path / "data")


def open_train(app) -> None:
    app.open("train")


def set_params(app, values: dict) -> None:
    """Open the expanders holding `values`' inputs and type the values (the form sends them on Retrain)."""
    for prefix, title in EXPANDERS.items():
        keys = [key for key in values if key.startswith(prefix)]
        if keys and not app.key(keys[0]).is_visible():  # the expander's title in the form (a run's results
            app.page.get_by_test_id("stForm").get_by_text(title, exact=True).click()  # have a "Label model" too)
    for key, value in values.items():
        app.key(key).locator("input").fill(str(value))


def retrain(app) -> None:
    app.key("retrain").locator("button").click()


def wait_status(app, text: str) -> None:
    """Wait until the run-status container shows `text`, e.g. "Run 1 · succeeded". While a rerun moves the
    container (a finished run's view to a live one), the old one stays on screen, stale, until the run is done."""
    expect(app.key("run-status").filter(has_text=text)).to_have_count(1, timeout=RUN_MS)


def own_errors(app) -> list[str]:
    """Console errors of the app, without the health/host-config probes of a page opened at a sub-path."""
    return [e for e in app.console_errors if "/_stcore/" not in e]


def metric_value(app, label: str) -> str:
    texts = app.page.locator("[data-testid='stMetric']").all_inner_texts()
    return next(t.split()[-1] for t in texts if t.split()[0] == label)


def test_retrain_reaches_succeeded_and_shows_the_test_metrics(workbench, workbench_data):
    open_train(workbench)
    set_params(workbench, QUICK)
    retrain(workbench)
    wait_status(workbench, "Run 1 · succeeded")
    workbench.idle()
    workbench.key("run-1-metrics").wait_for()
    ours = Registry.for_data(workbench_data).results(1)["metrics"]["contenders"]["ours"]
    assert metric_value(workbench, "F1") == f"{ours['f1']:.4f}"
    assert metric_value(workbench, "ROC-AUC") == f"{ours['roc_auc']:.4f}"
    assert workbench.key("run-1-label-model").is_visible() and workbench.key("run-1-curves").is_visible()
    assert "run=1" in workbench.page.url
    assert workbench.dialogs == [] and own_errors(workbench) == []


def test_cancel_ends_the_job_and_a_second_tab_follows_it(workbench, workbench_data):
    open_train(workbench)
    retrain(workbench)  # the defaults: the seed replica's 30 x 300 steps keep it running
    wait_status(workbench, "Run 1 · running")

    second = type(workbench)(workbench.page.context.new_page(), workbench.base_url)
    second.open("train")  # a new session without a run: it attaches to the running one
    wait_status(second, "Run 1 · running")

    workbench.key("cancel").locator("button").click()
    wait_status(workbench, "Run 1 · cancelled")
    wait_status(second, "Run 1 · cancelled")  # its poll noticed the end too
    assert Registry.for_data(workbench_data).get(1).status == "cancelled"
    assert workbench.dialogs == [] and own_errors(workbench) == [] and own_errors(second) == []


@pytest.mark.usefixtures("trained_workbench")
def test_a_job_killed_mid_training_shows_failed_and_the_earlier_model_stays(workbench, workbench_data):
    """Run 1 succeeded before this test (its data holds it, trained with the QUICK settings: a retrain to success
    on this page is the first test); run 2, started here, is killed while it trains."""
    registry = Registry.for_data(workbench_data)
    open_train(workbench)
    wait_status(workbench, "Run 1 · succeeded")  # no run in this session yet: the page shows the newest run

    set_params(workbench, {**QUICK, "train-replica-steps": 300, "train-replica-epochs": 30})  # long enough to kill
    retrain(workbench)
    wait_status(workbench, "Run 2 · running")
    workbench.key("live-2-curves").wait_for(timeout=RUN_MS)  # an epoch is logged: training is under way
    run = registry.get(2)
    assert run.status == "running" and run.stage in ("train ours", "train replica")
    os.kill(run.pid, signal.SIGKILL)

    workbench.page.reload()
    workbench.idle()
    wait_status(workbench, "Run 2 · failed")
    workbench.page.get_by_text("The model in use is still run 1").wait_for()
    assert DIED_MESSAGE in registry.get(2).error
    assert registry.current_model().id == 1
    assert workbench.dialogs == [] and own_errors(workbench) == []
