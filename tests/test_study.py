"""Impact studies (pipeline.runs.study): the registry's run groups and their migration, the plan of runs, the CLI's
errors, and real studies on the tiny workbench data: `python -m pipeline study start` with three enabled LFs (4 real
retrains, one after another, by a real driver process), a run that fails, a cancel from the CLI and from the Runs
page, and the page's table of a finished study.

The finished study is built once per module (`studied`) with the fastest retrain settings (STUDY_FAST); tests read
private copies of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from lfs.config import dumps_config, load_default, parse_config
from pipeline.cli import main
from pipeline.runs import study
from pipeline.runs.comparisons import paired_run_deltas
from pipeline.runs.registry import (
    MIGRATIONS,
    SCHEMA_VERSION,
    GroupInProgress,
    GroupNotFound,
    InvalidTransition,
    Registry,
    RunInProgress,
)
from pipeline.runs.summary import compare_runs
from tests import processes
from tests.runs_fixtures import STUDY_FAST, STUDY_OFF, copy_folder, study_config
from tests.session_data import ROOT, log_tail
from workbench import nav, state

WAIT = 60  # seconds: the bound of every wait on a driver or job that is being stopped
STUDY_TIMEOUT = 900  # seconds: the bound of the module's whole study (four tiny retrains)
ENABLED = [s.name for s in study_config().enabled()]
LABELS = [study.ALL_LFS] + [f"without {name}" for name in ENABLED]


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT):
    return processes.wait_for(what, check, timeout)


def driver_exits(group) -> None:
    """Wait until the study's driver process has exited."""
    try:
        psutil.Process(group.pid).wait(timeout=WAIT)
    except psutil.NoSuchProcess:
        pass


def new_group(reg: Registry, **kwargs) -> int:
    return reg.create_group(kind=study.KIND, lf_config_toml="# cfg\n", dataset_fingerprint="fp", params={"x": 1},
                            **kwargs)


def new_run(reg: Registry, exclusive: bool = False, **kwargs) -> int:
    create = reg.create_exclusive if exclusive else reg.create
    return create(dataset_fingerprint="fp", lf_config_toml="# cfg\n", lf_config_hash="h", params={}, **kwargs)


# --------------------------------------------------------------------------------------------------------------
# the registry's run groups


def test_groups_hold_their_runs_in_order(tmp_path: Path) -> None:
    reg = Registry.for_data(tmp_path / "data")
    group_id = new_group(reg, note="why")
    group = reg.group(group_id)
    assert (group.kind, group.status, group.note, group.params, group.error) == (study.KIND, "running", "why",
                                                                                 {"x": 1}, None)
    assert group.is_active and group.pid is None and reg.groups() == [group]
    first = new_run(reg, exclusive=True, group_id=group_id, group_label=study.ALL_LFS)
    reg.finish(first, "cancelled")
    second = new_run(reg, group_id=group_id, group_label="without a")
    outside = new_run(reg)
    assert [(r.id, r.group_label) for r in reg.group_runs(group_id)] == [(first, study.ALL_LFS),
                                                                         (second, "without a")]
    assert reg.get(second).group_id == group_id and reg.get(outside).group_id is None

    assert reg.finish_group(group_id, "failed", "run 2 failed") is True
    assert reg.finish_group(group_id, "cancelled", "later") is False  # the first end stays
    ended = reg.group(group_id)
    assert (ended.status, ended.error) == ("failed", "run 2 failed") and ended.finished_at is not None
    with pytest.raises(InvalidTransition, match="it takes no further run"):
        new_run(reg, group_id=group_id, group_label="without b")
    with pytest.raises(GroupNotFound, match="no run group 99") as caught:
        reg.group(99)
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    with pytest.raises(GroupNotFound):
        new_run(reg, group_id=99, group_label="x")


def test_a_group_is_refused_while_a_run_or_another_group_is_active(tmp_path: Path) -> None:
    reg = Registry.for_data(tmp_path / "data")
    run_id = new_run(reg)  # queued, not launched yet: active
    with pytest.raises(RunInProgress, match=f"run {run_id} is queued"):
        new_group(reg)
    reg.finish(run_id, "cancelled")
    group_id = new_group(reg)
    reg.set_group_pid(group_id, os.getpid())  # this process drives it: alive
    with pytest.raises(GroupInProgress, match=f"study cancel {group_id}"):
        new_group(reg)
    assert new_group(reg, exclusive=False) == group_id + 1


def test_a_group_whose_driver_died_is_reaped(tmp_path: Path) -> None:
    reg = Registry.for_data(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=WAIT)
    group_id = new_group(reg)
    reg.set_group_pid(group_id, proc.pid)
    group = reg.group(group_id)
    assert group.status == "failed" and "driver process died" in group.error

    never = new_group(reg)
    assert Registry(reg.path, stale_queued_after=0.0).group(never).status == "failed"
    assert "never launched" in reg.group(never).error


@pytest.mark.parametrize("version", [1, 2])
def test_older_registries_migrate_and_keep_their_runs(tmp_path: Path, version: int) -> None:
    path = tmp_path / "runs" / "registry.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:  # a registry written by the code of that schema version
        for step in MIGRATIONS[:version]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("INSERT INTO runs (created_at, status, dataset_fingerprint, lf_config_toml, lf_config_hash) "
                     "VALUES ('2026-01-01T00:00:00.000+00:00', 'succeeded', 'fp', '', 'h')")
    reg = Registry(path)
    assert reg.schema_version() == SCHEMA_VERSION == 4
    old = reg.get(1)
    assert old.status == "succeeded" and old.group_id is None and old.group_label is None
    assert reg.groups() == []
    group_id = new_group(reg)
    assert reg.get(new_run(reg, group_id=group_id, group_label=study.ALL_LFS)).group_id == group_id


# --------------------------------------------------------------------------------------------------------------
# the plan and the command line's errors


def test_the_plan_switches_each_enabled_lf_off_in_turn() -> None:
    config = study_config()
    runs = study.plan(config)
    assert [label for label, _ in runs] == LABELS
    assert runs[0][1] == config
    for name, (_, variant) in zip(ENABLED, runs[1:], strict=True):
        assert variant.names == config.names  # nothing removed: switched off
        assert [s.name for s in variant.enabled()] == [n for n in ENABLED if n != name]
    with pytest.raises(ValueError, match=r"at least 2 enabled LFs; the config has 1 \(polarity_positive\)"):
        study.plan(study.plan(study_config().remove("stars_in_review"))[2][1])


def test_start_with_fewer_than_two_enabled_lfs_is_a_clear_error(tmp_path: Path, capsys) -> None:
    one = load_default()
    for name in one.names[1:]:
        one = one.remove(name)
    config = tmp_path / "one.toml"
    config.write_text(dumps_config(one), encoding="utf-8")
    data = tmp_path / "data"
    assert main(["study", "start", "--data", str(data), "--config", str(config), "--detach"]) == 2
    err = capsys.readouterr().err
    assert "error: an impact study needs at least 2 enabled LFs; the config has 1 (stars_in_review)" in err
    assert not data.exists()  # refused before anything was written


@pytest.mark.parametrize("action", [["show", "7"], ["show", "7", "--json"], ["cancel", "7"]])
def test_an_unknown_study_is_a_clear_error(tmp_path: Path, capsys, action: list[str]) -> None:
    data = tmp_path / "data"
    assert main(["study", *action, "--data", str(data)]) == 2
    assert "error: no impact study 7: there is no run registry" in capsys.readouterr().err
    assert not data.exists()
    Registry.for_data(data).create_group(kind=study.KIND, lf_config_toml="")
    assert main(["study", *action, "--data", str(data)]) == 2
    assert "error: no impact study 7 in " in capsys.readouterr().err


def test_list_without_studies(tmp_path: Path, capsys) -> None:
    assert main(["study", "list", "--data", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.strip() == "no impact studies yet"


# --------------------------------------------------------------------------------------------------------------
# real studies


@pytest.fixture(scope="module")
def studied(workbench_template: Path, tmp_path_factory):
    """(data folder, the study's group id, stdout of `study start`, seconds it took): `python -m pipeline study
    start` with study_config() (three enabled LFs) and STUDY_FAST, followed to its end, on a copy of the workbench
    template. Read-only: copy it."""
    folder = tmp_path_factory.mktemp("studied")
    data = copy_folder(workbench_template, folder / "data")
    config = folder / "three.toml"
    config.write_text(dumps_config(study_config()), encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline", "study", "start", "--data", str(data), "--config", str(config),
           *STUDY_FAST, "--note", "three LFs"]
    started = time.perf_counter()
    with open(folder / "study.log", "wb") as log:
        try:
            done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, timeout=STUDY_TIMEOUT)
        finally:  # a follower stopped by the timeout leaves its driver: cancel the study
            registry = Registry.for_data(data)
            for group in registry.groups():
                if group.is_active:
                    study.cancel(registry, group.id, wait=WAIT)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"study start failed (exit {done.returncode}):\n{log_tail(folder / 'study.log')}"
    (group,) = Registry.for_data(data).groups()
    return data, group.id, done.stdout.decode(), seconds


@pytest.fixture
def study_copy(studied, tmp_path: Path) -> Path:
    return copy_folder(studied[0], tmp_path / "data")


@pytest.mark.slow
def test_the_study_retrains_with_all_lfs_then_without_each_one_after_another(studied) -> None:
    data, group_id, out, seconds = studied
    print(f"the tiny study took {seconds:.1f} s")  # for the record, never asserted
    registry = Registry.for_data(data)
    group = registry.group(group_id)
    assert (group.kind, group.status, group.note, group.error) == (study.KIND, "succeeded", "three LFs", None)
    assert parse_config(group.lf_config_toml) == study_config()
    runs = registry.group_runs(group_id)
    assert [r.group_label for r in runs] == LABELS
    assert [r.status for r in runs] == ["succeeded"] * 4
    assert [r.id for r in runs] == sorted(r.id for r in runs)
    for earlier, later in zip(runs, runs[1:], strict=False):  # one active run at a time: each after the last
        assert earlier.finished_at <= later.started_at
    assert all(r.params == runs[0].params and r.dataset_fingerprint == runs[0].dataset_fingerprint for r in runs)
    assert runs[0].params["end_model"]["epochs"] == 1 and runs[0].params["label_model"]["n_epochs"] == 100

    full = study_config()
    assert parse_config(runs[0].lf_config_toml) == full
    for name, run in zip(ENABLED, runs[1:], strict=True):
        variant = parse_config(run.lf_config_toml)
        switched = [s.name for s in full if s.enabled != variant.get(s.name).enabled]
        assert switched == [name], run.group_label  # exactly that LF disabled, every other as it was
        assert variant.remove(name) == full.remove(name) and run.lf_config_hash == variant.key
    for name in STUDY_OFF:
        assert not any(parse_config(r.lf_config_toml).get(name).enabled for r in runs)
    assert all(label in out for label in LABELS) and "95% paired-bootstrap" in out


@pytest.mark.slow
def test_the_table_deltas_are_compare_runs_of_each_run_against_all_lfs(studied, capsys) -> None:
    data, group_id, _, _ = studied
    registry = Registry.for_data(data)
    runs = {r.group_label: r for r in registry.group_runs(group_id)}
    rows = study.study_rows(registry, group_id)
    base = runs[study.ALL_LFS]
    metrics = {label: registry.results(run.id)["metrics"] for label, run in runs.items()}
    assert [r["label"] for r in rows] == LABELS and rows[0]["deltas"] == {}
    for row in rows[1:]:
        run = runs[row["label"]]
        cmp = {k: d for k, _, _, d in compare_runs(base, run, metrics[study.ALL_LFS], metrics[row["label"]]).metrics}
        pair = paired_run_deltas(base, run)
        found = pair.lookup()
        assert set(row["deltas"]) == set(study.METRICS)
        for metric, d in row["deltas"].items():
            assert d["delta"] == cmp[f"contenders.ours.{metric}"], (row["label"], metric)
            assert row["metrics"][metric] == metrics[row["label"]]["contenders"]["ours"][metric]
            if "ours" in pair.unchanged:
                assert (d["lo"], d["hi"], d["verdict"]) == (0.0, 0.0, "not significant")
            else:
                hit = found[("ours", metric)]
                assert (d["lo"], d["hi"], d["verdict"]) == (hit["lo"], hit["hi"], hit["verdict"])
            assert d["verdict"] == ("not significant" if d["lo"] <= 0 <= d["hi"] else "significant")

    capsys.readouterr()
    assert main(["study", "show", str(group_id), "--data", str(data), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["group"]["status"] == "succeeded" and shown["runs"] == json.loads(json.dumps(rows))
    assert main(["study", "show", str(group_id), "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert all(label in text for label in LABELS)
    marked = any(d["verdict"] == "not significant" for row in rows for d in row["deltas"].values())
    assert ("not significant" in text.split("interval covers 0", 1)[1]) == marked
    assert main(["study", "list", "--data", str(data)]) == 0
    assert f"{study.KIND} {group_id} · succeeded · 4 of 4 runs ended" in capsys.readouterr().out


@pytest.mark.slow
def test_a_failed_run_stops_the_study_and_says_why(study_copy: Path) -> None:
    registry = Registry.for_data(study_copy)
    # recorded for other prepared data: the job refuses it at once, a real failure of a real job
    group_id = study.start(study_copy, study_config(), {}, dataset_fingerprint="other data", registry=registry)
    group = wait_for("the study to stop", lambda: not (g := registry.group(group_id)).is_active and g)
    driver_exits(group)
    (run,) = registry.group_runs(group_id)
    assert run.status == "failed" and run.group_label == study.ALL_LFS
    assert group.status == "failed"
    assert group.error.startswith(f"run {run.id} ({study.ALL_LFS}) failed: ValueError: the prepared data changed")
    assert group.error.endswith("the study stops")


@pytest.mark.slow
def test_cancel_stops_the_running_run_and_starts_no_further_one(study_copy: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "three.toml"
    config.write_text(dumps_config(study_config()), encoding="utf-8")
    assert main(["study", "start", "--data", str(study_copy), "--config", str(config), *STUDY_FAST,
                 "--detach"]) == 0
    group_id = int(capsys.readouterr().out)
    registry = Registry.for_data(study_copy)
    wait_for("the study's first run to run", lambda: [r for r in registry.group_runs(group_id)
                                                        if r.status == "running"])
    assert main(["study", "cancel", str(group_id), "--data", str(study_copy), "--wait", str(WAIT)]) == 0
    assert f"{study.KIND} {group_id} cancelled; no further run starts; run " in capsys.readouterr().out
    group = registry.group(group_id)
    driver_exits(group)
    assert (group.status, group.error) == ("cancelled", "cancelled by request")
    (run,) = registry.group_runs(group_id)  # the driver has exited: nothing more can start
    assert run.status == "cancelled" and run.group_label == study.ALL_LFS
    assert registry.active() is None
    assert main(["study", "cancel", str(group_id), "--data", str(study_copy)]) == 0
    assert "already cancelled; nothing to cancel" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------------------
# the Runs page


@pytest.fixture
def workbench_data(study_copy: Path) -> Path:
    """The data the `apptest` fixture opens the app on: a private copy of the studied data."""
    return study_copy


def open_runs(apptest):
    at = apptest.run()
    at.switch_page(nav.RUNS).run()
    assert not at.exception, at.exception
    return at


def study_table(at):
    return next(d.value for d in at.dataframe if "LFs" in d.value.columns)


@pytest.mark.slow
def test_the_runs_page_shows_a_finished_study(apptest, workbench_data: Path, studied) -> None:
    group_id = studied[1]
    registry = Registry.for_data(workbench_data)
    at = open_runs(apptest)
    assert at.selectbox(key=state.STUDY).value == group_id
    assert any(f"{study.KIND} {group_id} · succeeded · 4 of 4 runs ended" in m.value.replace("\\", "")
               for m in at.markdown)
    table = study_table(at)
    rows = study.study_rows(registry, group_id)
    assert table["LFs"].tolist() == LABELS and table["status"].tolist() == ["succeeded"] * 4
    assert table["run"].tolist() == [row["run"] for row in rows]
    expected = study.study_frame(rows)
    for title in study.METRICS.values():
        assert table[title].tolist() == pytest.approx(expected[title].tolist())
        assert table[f"Δ {title}"].tolist() == expected[f"Δ {title}"].tolist()
        assert table[f"Δ {title}"].iloc[0] == "" and all(table[f"Δ {title}"].iloc[1:])
    assert "runs-cancel-study" not in [b.key for b in at.button]


@pytest.mark.slow
def test_starting_a_study_on_the_page_is_refused_while_a_run_is_active(apptest, workbench_data: Path) -> None:
    registry = Registry.for_data(workbench_data)
    before = registry.groups()
    run_id = new_run(registry)  # queued: active
    at = open_runs(apptest)
    at.button(key="runs-start-study").click().run()
    assert not at.exception, at.exception
    assert any(f"Not started: run {run_id} is queued" in e.value for e in at.error)
    assert registry.groups() == before


@pytest.mark.slow
def test_a_study_started_on_the_page_can_be_cancelled_there(apptest, workbench_data: Path) -> None:
    registry = Registry.for_data(workbench_data)
    at = open_runs(apptest)
    at.button(key="runs-start-study").click().run()
    assert not at.exception, at.exception
    group = registry.groups()[0]
    assert group.status == "running" and at.session_state[state.STUDY] == group.id
    working = at.session_state[state.WORKING]
    assert parse_config(group.lf_config_toml) == working
    assert group.params == registry.group_runs(group.id - 1)[-1].params  # the newest run's parameters
    assert study_table(at)["LFs"].tolist() == [study.ALL_LFS] + [f"without {s.name}" for s in working.enabled()]
    at.button(key="runs-cancel-study").click().run()
    assert not at.exception, at.exception
    group = registry.group(group.id)
    assert (group.status, group.error) == ("cancelled", "cancelled by request")
    driver_exits(group)
    assert all(run.is_finished for run in registry.group_runs(group.id)) and registry.active() is None
