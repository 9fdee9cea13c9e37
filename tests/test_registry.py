"""The run registry on a real SQLite file: lifecycle, readers, reaping dead jobs, the one-active-run rule."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.runs.registry import (
    DIED_MESSAGE,
    HEARTBEAT_STALE_SECONDS,
    LOST_MESSAGE,
    MIGRATIONS,
    SCHEMA_VERSION,
    InvalidTransition,
    Registry,
    RunInProgress,
    RunNotFound,
)

CONFIG = 'schema_version = 1\n\n[[lf]]\nname = "polarity_positive"\n'
WAIT = 30  # seconds: the bound of every wait on a subprocess


def new_run(reg: Registry, *, exclusive: bool = False, **params) -> int:
    create = reg.create_exclusive if exclusive else reg.create
    return create(dataset_fingerprint="fp1", lf_config_toml=CONFIG, lf_config_hash="abc123def456",
                  params=params or {"seed": 0})


def dead_pid() -> int:
    """The pid of a real process that has exited and been collected."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=WAIT)
    return proc.pid


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry.for_data(tmp_path / "data")


def test_round_trip(reg: Registry) -> None:
    run_id = new_run(reg, seed=3, lr=0.01)
    run = reg.get(run_id)
    assert (run.status, run.pid, run.started_at, run.params) == ("queued", None, None, {"seed": 3, "lr": 0.01})
    assert run.lf_config_toml == CONFIG and run.short_hash == "abc123def4"
    assert run.dir == reg.root / str(run_id) == reg.runs_dir(run_id)

    reg.start(run_id, os.getpid())
    reg.set_stage(run_id, "train", 0.4, "epoch 2 of 5")
    reg.add_epoch(run_id, "ours", 0, {"loss": 0.7})
    reg.add_epoch(run_id, "ours", 1, {"loss": 0.5, "val_loss": 0.6})
    reg.add_epoch(run_id, "ours", 1, {"loss": 0.4, "val_loss": 0.6})  # the same epoch again replaces it
    reg.add_epoch(run_id, "seed_replica", 0, {"loss": 0.9})
    reg.put_result(run_id, "metrics", {"ours": {"f1": 0.7, "roc_auc": float("nan")}})
    reg.put_result(run_id, "lf_summary", [{"name": "a", "coverage": 0.2}])
    (run.dir).mkdir(parents=True)
    reg.set_artifacts(run_id, {"model": run.dir / "model.keras", "elsewhere": "/abs/x.parquet"})
    reg.set_artifacts(run_id, {"metrics": "metrics.json"})

    running = reg.get(run_id)
    assert (running.status, running.pid, running.host) == ("running", os.getpid(), socket.gethostname())
    assert running.stage_text() == "train 40% (epoch 2 of 5)"
    assert running.duration() is not None and running.duration() >= 0
    assert reg.active() == running

    reg.finish(run_id, "succeeded")
    done = reg.get(run_id)
    assert done.status == "succeeded" and done.finished_at >= done.started_at >= done.created_at
    assert done.progress == 1.0 and done.error is None
    assert done.artifacts == {"model": "model.keras", "elsewhere": "/abs/x.parquet", "metrics": "metrics.json"}
    assert done.artifact("model") == run.dir / "model.keras" and done.artifact("elsewhere") == Path("/abs/x.parquet")
    results = reg.results(run_id)
    assert set(results) == {"metrics", "lf_summary"} and results["metrics"]["ours"]["f1"] == 0.7
    assert results["metrics"]["ours"]["roc_auc"] != results["metrics"]["ours"]["roc_auc"]  # NaN survives
    assert reg.epoch_records(run_id) == [
        {"model": "ours", "epoch": 0, "loss": 0.7},
        {"model": "ours", "epoch": 1, "loss": 0.4, "val_loss": 0.6},
        {"model": "seed_replica", "epoch": 0, "loss": 0.9},
    ]
    frame = reg.epochs(run_id)
    assert list(frame.columns[:2]) == ["model", "epoch"] and len(frame) == 3
    assert reg.active() is None


def test_numpy_and_pandas_results(reg: Registry) -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    run_id = new_run(reg)
    summary = pd.DataFrame({"Coverage": [0.1, 0.2]}, index=pd.Index(["lf_a", "lf_b"], name="lf"))
    reg.put_result(run_id, "lf_summary", summary)
    reg.put_result(run_id, "weights", np.array([0.5, 0.25]))
    reg.put_result(run_id, "n", np.int64(7))
    results = reg.results(run_id)
    assert results["lf_summary"] == [{"lf": "lf_a", "Coverage": 0.1}, {"lf": "lf_b", "Coverage": 0.2}]
    assert results["weights"] == [0.5, 0.25] and results["n"] == 7


def test_illegal_transitions_raise(reg: Registry) -> None:
    run_id = new_run(reg)
    with pytest.raises(InvalidTransition, match=f"run {run_id} is queued; it cannot become succeeded"):
        reg.finish(run_id, "succeeded")
    reg.start(run_id, os.getpid())
    with pytest.raises(InvalidTransition, match="running; it cannot become running"):
        reg.start(run_id, os.getpid())
    with pytest.raises(InvalidTransition):
        reg.finish(run_id, "queued")
    reg.finish(run_id, "failed", "boom")
    for status in ("succeeded", "cancelled", "failed"):
        with pytest.raises(InvalidTransition, match="failed; it cannot become"):
            reg.finish(run_id, status)
    with pytest.raises(InvalidTransition, match="no stage to set"):
        reg.set_stage(run_id, "train", 0.5)
    assert reg.get(run_id).error == "boom"

    queued = new_run(reg)
    reg.finish(queued, "cancelled", "changed my mind")  # queued -> cancelled is allowed
    with pytest.raises(InvalidTransition):
        reg.start(queued, os.getpid())
    with pytest.raises(ValueError, match="between 0 and 1"):
        reg.set_stage(new_run(reg), "train", 1.5)


def test_unknown_id_is_named(reg: Registry) -> None:
    new_run(reg)
    with pytest.raises(RunNotFound, match="no run 42 in") as info:
        reg.get(42)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("no run 42")
    for call in (reg.results, reg.epoch_records, lambda i: reg.set_stage(i, "x"), lambda i: reg.finish(i, "failed")):
        with pytest.raises(RunNotFound):
            call(42)


def test_list_newest_first_and_filters(reg: Registry) -> None:
    ids = [new_run(reg) for _ in range(4)]
    reg.start(ids[1], os.getpid())
    reg.finish(ids[1], "succeeded")
    assert [r.id for r in reg.list()] == ids[::-1]
    assert [r.id for r in reg.list(limit=2)] == ids[:1:-1]
    assert [r.id for r in reg.list(status="succeeded")] == [ids[1]]
    assert [r.id for r in reg.list(status=["queued"])] == [ids[3], ids[2], ids[0]]
    with pytest.raises(ValueError, match="unknown run status done"):
        reg.list(status="done")


def test_current_model_is_the_run_put_in_use_not_the_newest(reg: Registry) -> None:
    """Finishing a run changes nothing in use: the history does (tests/test_promotion.py has the rule)."""
    assert reg.current_model() is None
    first, second, third = new_run(reg), new_run(reg), new_run(reg)
    for run_id, status in ((first, "succeeded"), (second, "succeeded"), (third, "failed")):
        reg.start(run_id, os.getpid())
        reg.finish(run_id, status, None if status == "succeeded" else "boom")
    assert reg.current_model() is None
    for run_id in (first, second):
        reg.runs_dir(run_id).mkdir(parents=True)
        (reg.runs_dir(run_id) / "model.keras").write_bytes(b"model")
        reg.set_artifacts(run_id, {"model": "model.keras"})
    reg.promote(second, "by hand", "by hand")
    reg.promote(first, "the better one", "by hand")
    assert reg.current_model().id == first and reg.model_in_use()[1] == "the better one"
    cancelled = new_run(reg)
    reg.finish(cancelled, "cancelled")
    assert reg.current_model().id == first


def test_wal_mode_schema_version_and_pragmas(reg: Registry) -> None:
    new_run(reg)
    assert reg.journal_mode() == "wal"
    assert reg.schema_version() == SCHEMA_VERSION
    assert reg.path == reg.root / "registry.sqlite" and reg.path.is_file()
    with sqlite3.connect(reg.path) as conn:  # the mode is stored in the file: any connection sees it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "run_results", "epochs", "run_groups", "model_in_use"} <= tables


def test_newer_schema_is_refused(reg: Registry) -> None:
    new_run(reg)
    with sqlite3.connect(reg.path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ValueError, match="newer than this code"):
        Registry(reg.path).list()


def test_reap_marks_a_dead_pid_failed(reg: Registry) -> None:
    run_id = new_run(reg)
    reg.start(run_id, dead_pid())
    reg.set_stage(run_id, "train", 0.5)
    reg.runs_dir(run_id).mkdir(parents=True)
    (reg.runs_dir(run_id) / "job.log").write_text("epoch 1\nSegmentation fault\n")
    run = reg.get(run_id)  # readers reap first
    assert run.status == "failed" and run.finished_at is not None
    assert run.error.startswith(DIED_MESSAGE) and "during stage train" in run.error
    assert "Segmentation fault" in run.error  # the tail of job.log
    assert reg.reap() == []


def test_reap_leaves_live_jobs_alone(reg: Registry) -> None:
    run_id = new_run(reg)
    reg.start(run_id, os.getpid())
    assert reg.reap() == [] and reg.get(run_id).status == "running"


def test_reap_detects_a_reused_pid(reg: Registry) -> None:
    """A live pid whose process started at another time than the recorded one is not the job any more."""
    run_id = new_run(reg)
    reg.start(run_id, os.getpid())
    if reg.get(run_id).pid_started is None:
        pytest.skip("no /proc on this system")
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE runs SET pid_started = pid_started - 1 WHERE id = ?", (run_id,))
    assert reg.reap() == [run_id]
    assert reg.get(run_id).error.startswith(DIED_MESSAGE)


def test_reap_detects_a_zombie(reg: Registry) -> None:
    """A job killed while its launcher never collected it stays a zombie: it counts as dead."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc on this system")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_id = new_run(reg)
        reg.start(run_id, proc.pid)
        proc.kill()
        deadline = time.monotonic() + WAIT
        while proc_state(proc.pid) != "Z" and time.monotonic() < deadline:  # the kernel makes it a zombie
            time.sleep(0.01)
        assert proc_state(proc.pid) == "Z"
        assert reg.get(run_id).status == "failed"
    finally:
        proc.kill()
        proc.wait(timeout=WAIT)


def test_reap_with_a_custom_liveness_check_and_stale_queue(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg.sqlite", stale_queued_after=0.0)
    stale = new_run(reg)  # queued, no process ever launched: counts as dead once stale
    launched = new_run(reg)
    reg.set_pid(launched, os.getpid())
    assert reg.reap(is_alive=lambda run: True) == [stale]
    assert reg.get(stale).error.startswith("the job was queued but its process was never launched")
    assert reg.reap(is_alive=lambda run: False) == [launched]
    assert "before it started" in reg.get(launched).error


def test_create_exclusive_refuses_while_one_is_active(reg: Registry) -> None:
    first = new_run(reg, exclusive=True)
    reg.start(first, os.getpid())
    reg.set_stage(first, "label model", 0.25)
    with pytest.raises(RunInProgress) as info:
        new_run(reg, exclusive=True)
    message = str(info.value)
    assert f"run {first} is running" in message and "'label model'" in message and "25%" in message
    assert f"python -m pipeline runs cancel {first}" in message
    assert info.value.run.id == first and isinstance(info.value, ValueError)
    assert len(reg.list()) == 1
    reg.finish(first, "succeeded")
    second = new_run(reg, exclusive=True)
    assert reg.active().id == second


def test_create_exclusive_reaps_a_dead_active_run(reg: Registry) -> None:
    first = new_run(reg, exclusive=True)
    reg.start(first, dead_pid())
    second = new_run(reg, exclusive=True)
    assert reg.get(first).status == "failed" and reg.active().id == second


# --------------------------------------------------------------------------------------------------------------
# heartbeats: the liveness of runs on another host (a recreated container, another machine)

OTHER_HOST = "vanished-container"


def seconds_ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def move_to_other_host(reg: Registry, run_id: int, *, heartbeat_age: float | None) -> None:
    """Make run `run_id` look recorded by a job on another host whose last heartbeat is `heartbeat_age` s old."""
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE runs SET host = ?, heartbeat_at = ? WHERE id = ?",
                     (OTHER_HOST, None if heartbeat_age is None else seconds_ago(heartbeat_age), run_id))


def test_schema_1_files_migrate_and_keep_their_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "registry.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:  # a registry written by the code before heartbeats
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO runs (created_at, status, dataset_fingerprint, lf_config_toml, lf_config_hash) "
                     "VALUES ('2026-01-01T00:00:00.000+00:00', 'succeeded', 'fp', '', 'h')")
    reg = Registry(path)
    assert reg.schema_version() == SCHEMA_VERSION == 4
    old = reg.get(1)
    assert old.status == "succeeded" and old.heartbeat_at is None
    assert reg.current_model().id == 1  # schema 4 starts the in-use history with it
    run_id = new_run(reg)
    reg.start(run_id, os.getpid())
    assert run_id == 2 and reg.get(run_id).heartbeat_at is not None


def test_heartbeat_is_written_only_while_the_run_is_active(reg: Registry) -> None:
    run_id = new_run(reg)
    assert reg.get(run_id).heartbeat_at is None
    reg.start(run_id, os.getpid())
    started = reg.get(run_id)
    assert started.heartbeat_at == started.started_at  # the start is the first beat
    time.sleep(0.01)
    assert reg.heartbeat(run_id) is True
    beat = reg.get(run_id).heartbeat_at
    assert beat > started.heartbeat_at and 0 <= reg.get(run_id).heartbeat_age() < WAIT
    reg.finish(run_id, "succeeded")
    assert reg.heartbeat(run_id) is False and reg.get(run_id).heartbeat_at == beat
    assert reg.heartbeat(999) is False


def test_a_run_on_another_host_with_an_old_heartbeat_is_reaped(reg: Registry) -> None:
    """The lock-out after a hostname change: the old host's run must not block retrains forever."""
    first = new_run(reg, exclusive=True)
    reg.start(first, os.getpid())  # a pid that is alive here: only the heartbeat may count on another host
    reg.set_stage(first, "train ours", 0.5)
    move_to_other_host(reg, first, heartbeat_age=HEARTBEAT_STALE_SECONDS + 30)
    second = new_run(reg, exclusive=True)  # reaps the lost run first
    lost = reg.get(first)
    assert lost.status == "failed" and lost.error.startswith(LOST_MESSAGE)
    assert f"on host {OTHER_HOST}" in lost.error and "during stage train ours" in lost.error
    assert f"limit {HEARTBEAT_STALE_SECONDS:g} s" in lost.error
    assert reg.active().id == second


def test_a_run_on_another_host_with_a_fresh_heartbeat_counts_as_alive(tmp_path: Path) -> None:
    reg = Registry.for_data(tmp_path / "data")
    run_id = new_run(reg, exclusive=True)
    reg.start(run_id, dead_pid())  # a pid dead here, which says nothing about the other host
    move_to_other_host(reg, run_id, heartbeat_age=1.0)
    assert reg.reap() == [] and reg.active().id == run_id
    with pytest.raises(RunInProgress, match=rf"pid \d+ on {OTHER_HOST}, last heartbeat 1 s ago"):
        new_run(reg, exclusive=True)
    strict = Registry(reg.path, stale_heartbeat_after=0.5)  # the limit is the registry's (short in tests)
    assert strict.reap() == [run_id] and "limit 0.5 s" in strict.get(run_id).error


def test_a_run_from_before_heartbeats_on_another_host_is_judged_by_its_start(reg: Registry) -> None:
    run_id = new_run(reg)
    reg.start(run_id, os.getpid())
    move_to_other_host(reg, run_id, heartbeat_age=None)
    assert reg.reap() == []  # started just now
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE runs SET started_at = ? WHERE id = ?", (seconds_ago(HEARTBEAT_STALE_SECONDS + 1), run_id))
    assert reg.reap() == [run_id]


def test_a_queued_run_launched_on_another_host_gets_the_queue_grace(tmp_path: Path) -> None:
    """Its job has not beaten yet: it counts as alive while the queue's grace (stale_queued_after) lasts."""
    reg = Registry(tmp_path / "reg.sqlite", stale_heartbeat_after=0.0)
    run_id = new_run(reg)
    reg.set_pid(run_id, os.getpid())
    move_to_other_host(reg, run_id, heartbeat_age=None)
    assert reg.reap() == [] and reg.get(run_id).status == "queued"
    assert Registry(reg.path, stale_heartbeat_after=0.0, stale_queued_after=0.0).reap() == [run_id]
    assert "before it started" in reg.get(run_id).error


def test_on_this_host_psutil_decides_whatever_the_heartbeat(reg: Registry) -> None:
    """A live process of this host stays alive with an old heartbeat (a suspended laptop, a long native call): a
    second retrain must not start beside it. A dead one is dead at once, with a fresh heartbeat."""
    alive = new_run(reg)
    reg.start(alive, os.getpid())
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (seconds_ago(10 * HEARTBEAT_STALE_SECONDS),
                                                                       alive))
    assert reg.reap() == []
    dead = new_run(reg)
    reg.start(dead, dead_pid())
    assert reg.get(dead, reap=False).heartbeat_age() < HEARTBEAT_STALE_SECONDS
    assert reg.reap() == [dead] and reg.get(dead).error.startswith(DIED_MESSAGE)


# --------------------------------------------------------------------------------------------------------------
# run folders are never reused


def test_a_lost_registry_file_does_not_reuse_run_folders(tmp_path: Path) -> None:
    reg = Registry.for_data(tmp_path / "data")
    old = [new_run(reg) for _ in range(2)]
    for run_id in old:
        reg.runs_dir(run_id).mkdir()
        (reg.runs_dir(run_id) / "model.keras").write_text(f"model of run {run_id}")
    for path in reg.root.glob("registry.sqlite*"):  # the file and its WAL: lost
        path.unlink()
    fresh = Registry.for_data(tmp_path / "data")
    new = new_run(fresh)
    assert new == 3 and not fresh.runs_dir(new).exists()
    assert [(reg.runs_dir(i) / "model.keras").read_text() for i in old] == [f"model of run {i}" for i in old]
    (fresh.root / "17").mkdir()  # a folder of some older registry, far ahead of this one's ids
    (fresh.root / "notes").mkdir()
    assert new_run(fresh) == 18 and new_run(fresh) == 19


RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipeline.runs.registry import Registry, RunInProgress
    path, go = sys.argv[1], Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    try:
        Registry(path).create_exclusive(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
    except RunInProgress:
        print("refused")
    else:
        print("created")
""")


def test_concurrent_create_exclusive_has_one_winner(tmp_path: Path) -> None:
    """Processes racing on a fresh file (schema creation included): exactly one creates a run."""
    path, go = tmp_path / "race" / "registry.sqlite", tmp_path / "go"
    root = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(path), str(go)], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    go.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    runs = Registry(path).list()
    assert len(runs) == 1 and runs[0].status == "queued" and json.loads(json.dumps(runs[0].params)) == {}


# --------------------------------------------------------------------------------------------------------------
# `python -m pipeline runs ...` (pipeline.cli.runs)


def runs_cli(data: Path, *argv: str, capsys) -> str:
    import argparse

    from pipeline.cli.runs import add_runs_arguments, run_runs

    parser = argparse.ArgumentParser()
    add_runs_arguments(parser)
    action, *rest = argv
    assert run_runs(parser.parse_args([action, "--data", str(data), *rest])) == 0
    return capsys.readouterr().out


def finished_run(reg: Registry, status: str, *, config: str = CONFIG, metrics=None, error=None, **params) -> int:
    run_id = reg.create(dataset_fingerprint="fp1", lf_config_toml=config, lf_config_hash=f"hash-{len(config)}",
                        params=params)
    reg.start(run_id, os.getpid())
    reg.set_stage(run_id, "evaluate", 0.9)
    if metrics is not None:
        reg.put_result(run_id, "metrics", metrics)
    reg.finish(run_id, status, error)
    return run_id


def test_runs_list_show_compare(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert "no runs yet" in runs_cli(data, "list", capsys=capsys)
    assert not (data / "runs").exists()  # reading does not create a registry in a mistyped folder
    reg = Registry.for_data(data)
    a = finished_run(reg, "succeeded", metrics={"ours": {"f1": 0.6, "roc_auc": 0.7, "hr@10": 0.2},
                                                "popularity": {"f1": 0.5, "note": "x"}}, seed=0, lr=0.01)
    b = finished_run(reg, "succeeded", config=CONFIG + 'name = "stars"\n',
                     metrics={"ours": {"f1": 0.65, "roc_auc": 0.75}, "popularity": {"f1": 0.5}},
                     seed=0, lr=0.02, model={"hidden": [64, 32]})
    c = finished_run(reg, "failed", error="Traceback (most recent call last):\nRuntimeError: boom", seed=1)

    listing = runs_cli(data, "list", capsys=capsys).splitlines()
    assert listing[0].split()[:3] == ["id", "status", "created"] and "HR@10" in listing[0]
    assert [line.split()[0] for line in listing[1:]] == [str(c), str(b), str(a)]
    assert "0.6000" in listing[3] and "0.2000" in listing[3]
    assert "0.6500" in listing[2] and listing[2].rstrip().endswith("-")  # no HR@10 in run b
    assert "failed" in listing[1]
    assert len(runs_cli(data, "list", "--limit", "1", capsys=capsys).splitlines()) == 2
    assert str(b) not in runs_cli(data, "list", "--status", "failed", capsys=capsys).split()

    shown = runs_cli(data, "show", str(c), capsys=capsys)
    assert f"run {c}" in shown and "seed = 1" in shown and "RuntimeError: boom" in shown
    assert "LF config:" in shown and 'name = "polarity_positive"' in shown
    reg.add_epoch(a, "ours", 0, {"loss": 0.5})
    reg.set_artifacts(a, {"model": "model.keras"})
    shown = runs_cli(data, "show", str(a), capsys=capsys)
    assert "ours.f1" in shown and "model.keras  (missing)" in shown and "loss" in shown

    compared = runs_cli(data, "compare", str(a), str(b), capsys=capsys)
    assert "same dataset" in compared
    assert "lr" in compared and "0.01" in compared and "0.02" in compared and "model.hidden" in compared
    assert "seed " not in compared  # equal params are not listed
    assert '+name = "stars"' in compared
    assert "ours.f1" in compared and "+0.0500" in compared and "popularity.f1" in compared
    assert "+0.0000" in compared and "popularity.note" not in compared and "hr@10" not in compared


def test_runs_cancel_and_unknown_ids(tmp_path: Path, capsys) -> None:
    from pipeline.runs.summary import key_metric

    data = tmp_path / "data"
    with pytest.raises(ValueError, match="no run 5: there is no run registry"):
        runs_cli(data, "show", "5", capsys=capsys)
    reg = Registry.for_data(data)
    run_id = new_run(reg)
    assert runs_cli(data, "cancel", str(run_id), capsys=capsys).strip() == f"run {run_id} was queued; it is cancelled"
    for argv in (("cancel", "99"), ("show", "99"), ("compare", str(run_id), "99")):
        with pytest.raises(ValueError, match="no run 99 in"):
            runs_cli(data, *argv, capsys=capsys)
    assert key_metric({"ranking": {"ours": {"hr@10": 0.4}}}, "hr@10") == 0.4
    assert key_metric({"ours": {"f1": True}}, "f1") is None and key_metric(None, "f1") is None
