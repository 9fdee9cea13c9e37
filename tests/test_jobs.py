"""Jobs as real OS processes (tests/jobfixtures.py): success, failure, cancel, kill -9, one active run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.runs import jobs
from pipeline.runs.registry import DIED_MESSAGE, HEARTBEAT_STALE_SECONDS, LOST_MESSAGE, Registry, Run, RunInProgress
from tests import processes
from tests.jobfixtures import JOB_COMMAND, METRICS

WAIT = 30  # seconds: the bound of every wait on a job


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT):
    return processes.wait_for(what, check, timeout)


def launch(data: Path, mode: str, reg: Registry) -> int:
    return jobs.start(data, ["--mode", mode], dataset_fingerprint="fp", lf_config_toml=f"# {mode}\n",
                      lf_config_hash=f"hash-{mode}", params={"mode": mode}, registry=reg, command=JOB_COMMAND)


def finished(reg: Registry, run_id: int) -> Run:
    return wait_for(f"run {run_id} to finish", lambda: (run := reg.get(run_id)).is_finished and run)


def reached(reg: Registry, run_id: int, stage: str) -> Run:
    def check():
        run = reg.get(run_id)
        assert not run.is_finished, f"run {run_id} ended early: {run.status}\n{run.error}"
        return run.stage == stage and run

    return wait_for(f"run {run_id} to reach stage {stage}", check)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def reg(data: Path) -> Registry:
    return Registry.for_data(data)


def test_success_records_results_epochs_and_artifacts(data: Path, reg: Registry) -> None:
    run_id = launch(data, "ok", reg)
    run = finished(reg, run_id)
    assert run.status == "succeeded", run.error
    assert run.pid != os.getpid() and run.started_at is not None and run.progress == 1.0
    # then the promotion rule: the first succeeded run is the model in use
    assert reg.results(run_id) == {"metrics": METRICS, "promotion": {"promoted": True, "reason": "first model",
                                                                     "compared_with": None}}
    assert run.artifacts == {"model": "partial.bin", "labels": "sub/labels.parquet"}
    assert run.artifact("model").read_bytes() == b"half a model"
    epochs = reg.epoch_records(run_id)
    assert [(e["model"], e["epoch"]) for e in epochs] == [("ours", 0), ("ours", 1), ("ours", 2), ("seed_replica", 0)]
    assert reg.current_model().id == run_id
    log = (run.dir / jobs.JOB_LOG).read_text()
    assert "--run-id" in log and f"run {run_id} succeeded" in log


def test_failure_records_the_traceback_and_keeps_the_current_model(data: Path, reg: Registry) -> None:
    good = launch(data, "ok", reg)
    assert finished(reg, good).status == "succeeded"
    bad = launch(data, "fail", reg)
    run = finished(reg, bad)
    assert run.status == "failed" and run.stage == "train"
    assert run.error.startswith("Traceback (most recent call last)")
    assert "RuntimeError: injected failure in the job" in run.error and "jobfixtures.py" in run.error
    assert reg.current_model().id == good
    assert (run.dir / "partial.bin").exists()  # a failed run keeps what it wrote, for a post-mortem
    assert "injected failure" in (run.dir / jobs.JOB_LOG).read_text()


def test_cancel_ends_cancelled_and_removes_partial_artifacts(data: Path, reg: Registry) -> None:
    run_id = launch(data, "sleep", reg)
    run = reached(reg, run_id, "sleeping")
    assert (run.dir / "partial.bin").exists() and (run.dir / "sub").is_dir()
    message = jobs.cancel(reg, run_id, wait=WAIT)
    assert message == f"run {run_id} cancelled"
    run = reg.get(run_id)
    assert run.status == "cancelled" and run.error == "cancelled: SIGTERM received"
    assert sorted(p.name for p in run.dir.iterdir()) == [jobs.JOB_LOG] and run.artifacts == {}
    assert jobs.cancel(reg, run_id) == f"run {run_id} already cancelled; nothing to cancel"
    assert reg.current_model() is None


def test_cancel_a_queued_run_without_a_process(reg: Registry) -> None:
    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    assert jobs.cancel(reg, run_id) == f"run {run_id} was queued; it is cancelled"
    assert reg.get(run_id).status == "cancelled" and reg.active() is None


def test_kill_9_is_detected_on_the_next_read(data: Path, reg: Registry) -> None:
    run_id = launch(data, "sleep", reg)
    run = reached(reg, run_id, "sleeping")
    os.kill(run.pid, signal.SIGKILL)
    os.waitpid(run.pid, 0)  # the test launched it, so the test collects it
    run = reg.get(run_id)
    assert run.status == "failed" and run.error.startswith(DIED_MESSAGE)
    assert "during stage sleeping" in run.error
    assert reg.active() is None


def test_second_start_while_one_runs_is_refused(data: Path, reg: Registry) -> None:
    first = launch(data, "sleep", reg)
    reached(reg, first, "sleeping")
    with pytest.raises(RunInProgress) as info:
        launch(data, "ok", reg)
    message = str(info.value)
    assert f"run {first} is running" in message and "'sleeping'" in message
    assert f"python -m pipeline runs cancel {first}" in message
    assert [r.id for r in reg.list()] == [first]
    assert jobs.cancel(reg, first, wait=WAIT) == f"run {first} cancelled"


def test_a_run_cancelled_while_queued_does_not_start(data: Path, reg: Registry) -> None:
    """The race of a cancel between create and launch: the job process finds its run cancelled and quits."""
    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    jobs.cancel(reg, run_id)
    pid = jobs.spawn(data, run_id, ["--mode", "ok"], registry=reg, command=JOB_COMMAND)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == jobs.EXIT_FAILED
    assert reg.get(run_id).status == "cancelled"
    assert "not started" in (reg.runs_dir(run_id) / jobs.JOB_LOG).read_text()


def test_run_job_in_process(reg: Registry, capsys) -> None:
    """The foreground path (a CLI retrain without spawning): run_job in this very process."""

    def job(handle: jobs.RunHandle) -> None:
        handle.stage("apply", 0.5)
        handle.result("metrics", {"ours": {"f1": 0.5}})
        try:
            raise KeyboardInterrupt
        except Exception:  # an ordinary handler does not swallow a cancel
            pass

    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    before = signal.getsignal(signal.SIGTERM)
    assert jobs.run_job(reg, run_id, job) == jobs.EXIT_CANCELLED
    assert signal.getsignal(signal.SIGTERM) is before  # the job's handler is removed again
    run = reg.get(run_id)
    assert run.status == "cancelled" and run.pid == os.getpid() and "interrupted" in run.error
    assert f"run {run_id} cancelled" in capsys.readouterr().err


def test_a_job_ended_from_outside_stops_at_its_next_check(reg: Registry, capsys, monkeypatch) -> None:
    """If another process ends the run (reaped, or cancelled on another host), the job stops and keeps that end."""
    seen = []

    def job(handle: jobs.RunHandle) -> None:
        handle.check_cancelled()  # still running: nothing happens
        reg.finish(handle.id, "failed", "ended from outside")
        try:
            handle.check_cancelled()
        except jobs.Cancelled as e:
            seen.append(str(e))
            raise

    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    monkeypatch.setattr(jobs, "_CHECK_SECONDS", 0.0)  # read the registry on every check
    assert jobs.run_job(reg, run_id, job) == jobs.EXIT_CANCELLED
    assert seen == [f"the registry lists run {run_id} as failed"]
    assert reg.get(run_id).error == "ended from outside"
    assert "was already failed" in capsys.readouterr().err


def test_spawn_refuses_a_registry_the_job_would_not_open(tmp_path: Path) -> None:
    other = Registry(tmp_path / "elsewhere.sqlite")
    run_id = other.create(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    with pytest.raises(ValueError, match="the job opens the registry of --data"):
        jobs.spawn(tmp_path / "data", run_id, registry=other, command=JOB_COMMAND)


# --------------------------------------------------------------------------------------------------------------
# heartbeats, and runs recorded on another host

OTHER_HOST = "vanished-container"


def move_to_other_host(reg: Registry, run_id: int, *, heartbeat_age: float) -> None:
    """Make run `run_id` look recorded by a job on another host whose last heartbeat is `heartbeat_age` s old."""
    beat = (datetime.now(UTC) - timedelta(seconds=heartbeat_age)).isoformat(timespec="milliseconds")
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE runs SET host = ?, heartbeat_at = ? WHERE id = ?", (OTHER_HOST, beat, run_id))


def running_elsewhere(reg: Registry, *, heartbeat_age: float) -> int:
    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    reg.start(run_id, os.getpid())
    reg.set_stage(run_id, "train ours", 0.4)
    move_to_other_host(reg, run_id, heartbeat_age=heartbeat_age)
    return run_id


def test_a_running_job_process_beats(data: Path, reg: Registry) -> None:
    """The heartbeat advances while the job does something that reports nothing (the sleeping fixture)."""
    run_id = launch(data, "sleep", reg)
    first = reached(reg, run_id, "sleeping").heartbeat_at
    assert first is not None
    beat = wait_for("a heartbeat", lambda: (run := reg.get(run_id)).heartbeat_at > first and run,
                    timeout=3 * jobs.HEARTBEAT_SECONDS + 5)
    assert beat.status == "running" and beat.heartbeat_age() < 2 * jobs.HEARTBEAT_SECONDS
    assert jobs.cancel(reg, run_id, wait=WAIT) == f"run {run_id} cancelled"


def test_a_run_lost_on_another_host_does_not_block_a_retrain(data: Path, reg: Registry) -> None:
    """A container recreated under a new hostname: the old container's run is reaped, a new retrain runs."""
    lost = running_elsewhere(reg, heartbeat_age=HEARTBEAT_STALE_SECONDS + 30)
    run_id = launch(data, "ok", reg)
    assert finished(reg, run_id).status == "succeeded"
    run = reg.get(lost)
    assert run.status == "failed" and run.error.startswith(LOST_MESSAGE) and OTHER_HOST in run.error


def test_cancel_a_run_lost_on_another_host_ends_it_cancelled(reg: Registry) -> None:
    run_id = running_elsewhere(reg, heartbeat_age=HEARTBEAT_STALE_SECONDS + 30)
    message = jobs.cancel(reg, run_id)
    reason = (f"cancelled: its process on host {OTHER_HOST} could not be reached (pid {os.getpid()}; last "
              f"heartbeat {HEARTBEAT_STALE_SECONDS + 30:.0f} s ago, limit {HEARTBEAT_STALE_SECONDS:g} s)")
    assert message == f"run {run_id} {reason}"
    run = reg.get(run_id)
    assert run.status == "cancelled" and run.error == reason and reg.active() is None


def test_cancel_refuses_a_run_alive_on_another_host(reg: Registry) -> None:
    from pipeline.cli.runs import format_run

    run_id = running_elsewhere(reg, heartbeat_age=2.0)
    with pytest.raises(ValueError) as caught:
        jobs.cancel(reg, run_id)
    message = str(caught.value)
    assert message.startswith(f"run {run_id} is still running on host {OTHER_HOST} (pid {os.getpid()}; last "
                              "heartbeat 2 s ago), which this host")
    assert f"cancel it on {OTHER_HOST}" in message and f"over {HEARTBEAT_STALE_SECONDS:g} s old" in message
    assert reg.get(run_id).status == "running"
    assert f"pid {os.getpid()} on {OTHER_HOST}, last heartbeat 2 s ago" in format_run(reg.get(run_id), {}, [])


def test_cancel_a_queued_run_of_another_host_signals_no_process_here(reg: Registry) -> None:
    """The pid of a run launched on another host means nothing here: it must not be sent SIGTERM."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
        reg.set_pid(run_id, bystander.pid)
        move_to_other_host(reg, run_id, heartbeat_age=0.0)
        assert jobs.cancel(reg, run_id) == f"run {run_id} was queued; it is cancelled"
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait(timeout=WAIT)


# --------------------------------------------------------------------------------------------------------------
# run folders are never reused


def test_a_lost_registry_file_never_reuses_or_empties_an_older_runs_folder(data: Path, reg: Registry) -> None:
    old = []
    for _ in range(2):  # one at a time: one active run
        old.append(launch(data, "ok", reg))
        assert finished(reg, old[-1]).status == "succeeded"
    before = {run_id: folder_bytes(reg.runs_dir(run_id)) for run_id in old}
    for path in reg.root.glob("registry.sqlite*"):  # the file and its WAL: lost
        path.unlink()
    fresh = Registry.for_data(data)
    run_id = launch(data, "sleep", fresh)
    assert run_id == 3
    reached(fresh, run_id, "sleeping")
    assert jobs.cancel(fresh, run_id, wait=WAIT) == f"run {run_id} cancelled"  # a cancel empties its own folder
    assert {i: folder_bytes(reg.runs_dir(i)) for i in old} == before


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_spawn_refuses_a_folder_holding_another_runs_files(data: Path, reg: Registry) -> None:
    run_id = reg.create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    reg.runs_dir(run_id).mkdir(parents=True)
    (reg.runs_dir(run_id) / "model.keras").write_text("someone else's model")
    with pytest.raises(ValueError, match=rf"run {run_id} not launched: its folder .* already holds files"):
        jobs.spawn(data, run_id, ["--mode", "ok"], registry=reg, command=JOB_COMMAND)
    run = reg.get(run_id)
    assert run.status == "failed" and "already holds files of another run" in run.error
    assert sorted(p.name for p in run.dir.iterdir()) == ["model.keras"]
    assert (run.dir / "model.keras").read_text() == "someone else's model"
