"""The Train page in AppTest: starting a real retrain job on tiny data, the one-job refusal, cancel, a killed job,
re-attaching to a run, and the results of finished runs."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from pipeline.data.prepare import MANIFEST_FILE
from pipeline.runs import jobs
from pipeline.runs.promotion import apply_rule
from pipeline.runs.registry import DIED_MESSAGE, Registry
from pipeline.runs.settings import END_MODEL_FLAGS
from pipeline.training.hybrid import HybridParams
from tests.interval_fixtures import hand_metrics, old_metrics, record_run
from tests.jobfixtures import JOB_COMMAND
from workbench import nav, state

QUICK = {"train-lm-n_epochs": 200, "train-end-epochs": 2, "train-replica-steps": 3, "train-replica-epochs": 2}
WAIT_SECONDS = 240  # a job's deadline; tiny data trains in seconds


def open_train(at):
    at.run()
    return at.switch_page(nav.TRAIN).run()


def wait_for(registry: Registry, run_id: int, done, what: str):
    """Poll the registry until done(run) or the deadline (a job process runs beside the test)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        run = registry.get(run_id)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} not {what}: {run.status} {run.stage_text()}\n{run.error}"
        time.sleep(0.1)


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "text", "code")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def status_of(at) -> str:
    return " ".join(m.value for m in at.markdown if m.value.startswith("#### Run "))


def fake_run(registry: Registry, *, f1: float, status: str = "succeeded", error: str | None = None) -> int:
    """A run recorded through the real registry with results shaped as pipeline.runs.retrain stores them; a
    succeeded one then goes through the promotion rule, as its job would."""
    run_id = registry.create(dataset_fingerprint=fingerprint(registry), lf_config_toml="schema_version = 1\n",
                             lf_config_hash="ab" * 32, params={})
    registry.start(run_id, os.getpid())
    contenders = {"ours": {"accuracy": 0.6, "f1": f1, "roc_auc": 0.7, "log_loss": 0.6, "hr@10": 0.2,
                           "ndcg@10": 0.1},
                  "seed_replica": {"accuracy": 0.5, "f1": 0.4, "roc_auc": 0.6, "log_loss": 0.7, "hr@10": 0.1,
                                   "ndcg@10": 0.05},
                  "popularity": {"accuracy": 0.55, "f1": 0.3, "roc_auc": 0.8, "hr@10": 0.3, "ndcg@10": 0.2},
                  "lf_only": {"accuracy": 0.9, "f1": 0.8, "coverage": 0.4}}
    registry.put_result(run_id, "metrics", {"contenders": contenders, "test_rows": 69, "ranking_cases": 29,
                                            "stage_seconds": {"features": 1.0, "train ours": 2.0}})
    registry.put_result(run_id, "label_model", {
        "label_model": {"accuracy": 0.77, "f1": 0.85, "coverage": 0.33, "rows": 22},
        "majority_vote": {"accuracy": 0.81, "f1": 0.875, "coverage": 0.31, "rows": 21},
        "weights": [{"lf": "polarity_positive", "learned_weight": 0.66, "emp_acc": 0.85}]})
    for epoch in (1, 2):
        registry.add_epoch(run_id, "ours", epoch, {"loss": 0.7 / epoch, "val_loss": 0.8 / epoch, "auc": 0.6})
    registry.runs_dir(run_id).mkdir(parents=True, exist_ok=True)
    (registry.runs_dir(run_id) / "model.keras").write_bytes(b"a model file")  # the pages only check it is there
    registry.set_artifacts(run_id, {"model": "model.keras"})
    registry.finish(run_id, status, error)
    if status == "succeeded":  # what the job does next: the promotion rule
        apply_rule(registry, run_id)
    return run_id


def fingerprint(registry: Registry) -> str:
    """The fingerprint of the prepared data beside the registry's runs/ folder."""
    return json.loads((registry.root.parent / "processed" / MANIFEST_FILE).read_text())["fingerprint"]


@pytest.fixture
def registry(workbench_data) -> Registry:
    return Registry.for_data(workbench_data)


@pytest.fixture
def sleeping_job(workbench_data, registry):
    """A real job process (tests/jobfixtures.py) that runs until cancelled; cancelled at the end if still alive."""
    run_id = jobs.start(workbench_data, ["--mode", "sleep"], dataset_fingerprint=fingerprint(registry),
                        lf_config_toml="schema_version = 1\n", lf_config_hash="cd" * 32, params={},
                        registry=registry, command=JOB_COMMAND)
    yield run_id
    if registry.get(run_id).is_active:
        jobs.cancel(registry, run_id, wait=30)


def test_page_loads_without_runs(apptest, registry):
    at = open_train(apptest)
    assert not at.exception, at.exception
    assert at.button(key="retrain").label == "Retrain"
    assert "No retrain yet" in texts(at) and not status_of(at)
    assert at.number_input(key="train-lm-n_epochs").value == 5000  # LabelModelParams' default
    assert at.number_input(key="train-replica-steps").value == 300
    ours = HybridParams()  # the End model fields: one per END_MODEL_FLAGS entry, HybridParams' defaults
    assert at.text_input(key="train-end-hidden").value == ",".join(map(str, ours.hidden))
    assert at.text_input(key="train-end-like_hidden").value == ",".join(map(str, ours.like_hidden))
    for field in ("negatives", "learning_rate", "batch_size", "epochs", "patience", "seed"):
        assert at.number_input(key=f"train-end-{field}").value == getattr(ours, field), field
    end_keys = {w.key for kind in ("text_input", "number_input") for w in getattr(at, kind)
                if w.key.startswith("train-end-")}
    assert end_keys == {f"train-end-{field}" for field, _, _ in END_MODEL_FLAGS.values()}
    assert registry.list() == []


@pytest.mark.parametrize("key, value, message", [
    ("train-end-hidden", "64,x", "End model · read ranker layers: expected layer sizes separated by commas, "
                                 "like 64,32; got '64,x'"),
    ("train-end-like_hidden", "16,0", "End model · HybridParams.like_hidden: expected a list of layer sizes >= 1"),
    ("train-end-negatives", 0, "End model · HybridParams.negatives: expected an integer >= 1, got 0"),
])
def test_a_bad_end_model_value_is_an_error_naming_the_field_and_starts_nothing(apptest, registry, key, value,
                                                                                 message):
    at = open_train(apptest)
    widget = at.text_input(key=key) if isinstance(value, str) else at.number_input(key=key)
    widget.set_value(value)
    at.button(key="retrain").click().run()
    assert not at.exception, at.exception
    shown = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # the message is Markdown-escaped
    assert any(e.startswith("Not started: ") and message in e for e in shown), shown
    assert registry.list() == []


@pytest.mark.slow
def test_retrain_from_the_page_runs_a_real_job_and_shows_its_results(apptest, registry):
    at = open_train(apptest)
    for key, value in QUICK.items():
        at.number_input(key=key).set_value(value)
    at.text_input(key="train-note").set_value("quick <b>look</b>")
    at.button(key="retrain").click().run()
    assert not at.exception, at.exception
    (run,) = registry.list()
    assert at.session_state[state.RUN_ID] == run.id and at.query_params["run"] == [str(run.id)]
    assert run.note == "quick <b>look</b>"
    assert run.params["label_model"]["n_epochs"] == 200 and run.params["end_model"] == {"epochs": 2}
    assert run.params["replica"] == {"steps_per_epoch": 3, "validation_steps": 1, "epochs": 2}
    assert "[[lf]]" in run.lf_config_toml  # the config being edited

    run = wait_for(registry, run.id, lambda r: r.is_finished, "finished")
    assert run.status == "succeeded", run.error
    at.run()
    assert not at.exception, at.exception
    assert f"Run {run.id} · succeeded" in status_of(at)
    metrics = registry.results(run.id)["metrics"]["contenders"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["F1"] == f"{metrics['ours']['f1']:.4f}" and shown["HR@10"] == f"{metrics['ours']['hr@10']:.4f}"
    table = at.dataframe[0].value
    assert table.index[:3].tolist() == ["our model", "seed replica", "popularity"] and table.index[-1] == "LF-only"
    assert at.dataframe[1].value.index[0] == "vs seed replica"  # our model's deltas
    assert at.dataframe[2].value.index.tolist() == ["label model", "majority vote"]
    assert len(at.get("arrow_vega_lite_chart")) == 4  # metrics with intervals, LF weights, loss, ROC-AUC
    assert f"The model in use is run {run.id}" in texts(at)
    assert at.text[0].value == "Note: quick <b>look</b>"  # as text, not markup


def test_second_start_is_refused_and_cancel_ends_the_running_job(apptest, registry, sleeping_job):
    wait_for(registry, sleeping_job, lambda r: r.status == "running", "running")
    at = open_train(apptest)  # no run in the session or URL: the page follows the active run
    assert not at.exception, at.exception
    assert f"Run {sleeping_job} · running" in status_of(at) and at.query_params["run"] == [str(sleeping_job)]

    at.button(key="retrain").click().run()
    assert not at.exception, at.exception
    assert any(f"Run {sleeping_job} is already running (started " in e.value and "cancel it" in e.value
               for e in at.error)
    assert [r.id for r in registry.list()] == [sleeping_job]  # nothing started

    finished = fake_run(registry, f1=0.5)
    at.query_params["run"] = str(finished)  # a tab showing a finished run is offered the running one
    at.run()
    assert f"Run {finished} · succeeded" in status_of(at)
    assert any(f"Run {sleeping_job} is running" in i.value for i in at.info)
    at.button(key="follow-active").click().run()
    assert f"Run {sleeping_job} · running" in status_of(at) and at.query_params["run"] == [str(sleeping_job)]

    at.button(key="cancel").click().run()
    assert not at.exception, at.exception
    wait_for(registry, sleeping_job, lambda r: r.is_finished, "finished")
    at.run()
    assert registry.get(sleeping_job).status == "cancelled"
    assert f"Run {sleeping_job} · cancelled" in status_of(at)
    assert f"The model in use is still run {finished}" in texts(at)


@pytest.fixture
def earlier_model(registry) -> int:
    """A succeeded run recorded before the job of `sleeping_job` (list it first among the test's fixtures)."""
    return fake_run(registry, f1=0.5)


def test_a_killed_job_shows_failed_and_the_previous_model_stays(apptest, registry, earlier_model, sleeping_job):
    run = wait_for(registry, sleeping_job, lambda r: r.status == "running", "running")
    at = open_train(apptest)
    assert f"Run {sleeping_job} · running" in status_of(at)
    os.kill(run.pid, signal.SIGKILL)
    wait_for(registry, sleeping_job, lambda r: r.is_finished, "reaped")  # every read reaps dead jobs
    at.run()
    assert not at.exception, at.exception
    assert f"Run {sleeping_job} · failed" in status_of(at)
    assert DIED_MESSAGE in "\n".join(c.value for c in at.code)
    assert f"The model in use is still run {earlier_model}" in texts(at)
    assert registry.current_model().id == earlier_model


def test_finished_runs_show_results_deltas_and_failures(apptest, registry):
    first = fake_run(registry, f1=0.5)
    second = fake_run(registry, f1=0.55)
    failed = fake_run(registry, f1=0.1, status="failed", error="Traceback ...\nValueError: <script>x</script>")

    at = open_train(apptest)  # no run in the session: the newest run, the failed one
    assert not at.exception, at.exception
    assert f"Run {failed} · failed" in status_of(at)
    assert "ValueError: <script>x</script>" in at.code[0].value
    assert f"The model in use is still run {second}" in texts(at)

    at.query_params["run"] = str(second)
    at.run()
    assert not at.exception, at.exception
    assert f"Run {second} · succeeded" in status_of(at) and at.session_state[state.RUN_ID] == second
    f1 = next(m for m in at.metric if m.label == "F1")
    assert f1.value == "0.5500" and f1.delta == "+0.0500"  # against run `first`
    table = at.dataframe[0].value
    assert table.loc[f"run {first} (our model)", "F1"] == "0.5000"
    assert table.loc["seed replica", "F1"] == "0.4000"
    deltas = at.dataframe[1].value  # ours - other, without intervals (these runs predate them)
    assert deltas.loc["vs seed replica", "F1"] == "+0.1500"
    assert deltas.loc[f"vs run {first} (our model)", "F1"] == "+0.0500"
    assert "No interval (run predates intervals)." in texts(at) and "not significant" not in texts(at)
    assert "Seconds per stage" in texts(at)

    at.query_params["run"] = str(first)
    at.run()
    f1 = next(m for m in at.metric if m.label == "F1")
    assert f1.delta == "" and at.dataframe[0].value.shape[0] == 4  # no earlier run to compare with
    assert not any(i.startswith("vs run") for i in at.dataframe[1].value.index)

    at.query_params["run"] = "no-such-run"
    at.run()
    assert not at.exception, at.exception
    shown = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]  # the message is Markdown-escaped
    assert any("There is no run 'no-such-run'" in w for w in shown)
    assert f"Run {first} · succeeded" in status_of(at)  # the session's run


def test_results_show_intervals_new_contenders_and_not_significant_deltas(apptest, registry):
    old = record_run(registry, old_metrics(f1=0.55), fingerprint=fingerprint(registry))  # from before intervals
    new = record_run(registry, hand_metrics(previous_run=old), fingerprint=fingerprint(registry))
    at = open_train(apptest)  # the newest run
    assert not at.exception, at.exception
    assert f"Run {new} · succeeded" in status_of(at)
    table = at.dataframe[0].value
    assert table.index.tolist() == ["our model", "seed replica", "popularity", "item-kNN", "ALS", "LF-only",
                                    f"run {old} (our model)"]
    assert table.loc["item-kNN", "HR@10"] == "0.2750 [0.2250, 0.3250]"
    assert table.loc[f"run {old} (our model)", "F1"] == "0.5500"  # that run recorded no interval
    deltas = at.dataframe[1].value
    assert deltas.loc["vs popularity", "HR@10"].endswith("not significant")  # its interval covers 0
    assert "not significant" not in deltas.loc["vs seed replica", "HR@10"]  # its interval excludes 0
    assert deltas.loc["vs ALS", "HR@10"].startswith("+0.0400 [")
    assert deltas.loc[f"vs run {old} (our model)", "HR@10"] == "+0.0000 [-0.0300, +0.0300] not significant"
    assert deltas.loc[f"vs run {old} (our model)", "F1"] == "+0.0500 [+0.0100, +0.0900]"
    cards = {m.label: m for m in at.metric}
    assert cards["HR@10"].delta == "+0.0000 · not significant" and cards["F1"].delta == "+0.0500"
    assert "95% paired-bootstrap intervals over test users (1000 resamples, seed 0)" in texts(at)
    assert len(at.get("arrow_vega_lite_chart")) == 1  # metrics with intervals (no label model, no epochs here)

    at.query_params["run"] = str(old)
    at.run()
    assert not at.exception, at.exception
    assert "No interval (run predates intervals)." in texts(at)
    assert "item-kNN" not in at.dataframe[0].value.index
