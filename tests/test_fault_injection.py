"""Crash safety of every writer: a process SIGKILLed in the middle of a write leaves the previous state loadable and
complete, no half-written file under a final name, and a temp that the next write of the same target sweeps.

Each case runs one real write through the project's own function in a child process (tests/fault_child.py says
which writes and where each kill point is), checks that the child died of SIGKILL, that the previous state loads
with the project's loaders and equals what it was (bytes of every visible file, and loaded content), then makes
a normal write in this process and checks that it succeeds and removes the leftover temp. The children are forked
from a multiprocessing forkserver that imported the project once, so a case takes a fraction of a second; the
model case needs TensorFlow, so its children are plain `python -m tests.fault_child` processes and this process
never imports it. Also here: the mode an atomic write gives a file, and the rules of the temp sweep.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from pipeline.data import files
from tests import fault_child
from tests.fault_child import ARTIFACT_FILES, POINTS, REMOVED_LF, RESULT_KEY, paths

REPO = Path(__file__).resolve().parents[1]
CASES = [(writer, point) for writer, points in POINTS.items() if writer != "model" for point in points]
COMMITTED = {("prepare", "cleanup")}  # killed after the swap: the new state is the one in place
CHILD_TIMEOUT = 120
TEMP_NAME = re.compile(r"\..+\.\d+\.[a-z0-9_]+\.(tmp|old|keras)")  # files.atomic_path's and prepare's temps


# --------------------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def children():
    """A multiprocessing context whose children are forked from a server that imported the writers once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.fault_child", *fault_child.PRELOAD])
    return context


def _child_error(workdir: Path) -> str:
    error = workdir / "child-error.txt"
    return error.read_text(encoding="utf-8") if error.exists() else "(no child-error.txt)"


def kill_child(children, writer: str, point: str, workdir: Path) -> int:
    """Run the write in a forked child armed to kill itself at `point`; check it died of SIGKILL; its pid."""
    child = children.Process(target=fault_child.child_main, args=(writer, point, str(workdir)))
    child.start()
    child.join(CHILD_TIMEOUT)
    if child.exitcode is None:
        child.kill()
        child.join()
        pytest.fail(f"{writer} at {point}: the child hung")
    assert child.exitcode == -signal.SIGKILL, (
        f"{writer} at {point}: the child exited with {child.exitcode}, not by SIGKILL\n{_child_error(workdir)}")
    return child.pid


def script_child(writer: str, point: str, workdir: Path) -> tuple[int, int]:
    """(pid, return code) of `python -m tests.fault_child WRITER POINT WORKDIR` (a fresh interpreter)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fault_child", writer, point, str(workdir)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{writer} at {point}: the child hung")
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"{writer} at {point}: exit {proc.returncode}\n{err[-3000:]}")
    return proc.pid, proc.returncode


def leftovers(root: Path, pid: int) -> list[Path]:
    """The temp files and folders process `pid` left under `root` (the outermost ones)."""
    mark = f".{pid}."
    found = [p for p in root.rglob("*") if p.name.startswith(".") and mark in p.name]
    return sorted(p for p in found if not any(q in p.parents for q in found))


def backdate(entries: list[Path], seconds: float = 2 * files.STALE_TEMP_SECONDS) -> None:
    """Make leftovers look untouched for `seconds`, so the sweep's age rule lets them go."""
    when = time.time() - seconds
    for entry in entries:
        for p in [*entry.rglob("*"), entry] if entry.is_dir() else [entry]:
            os.utime(p, (when, when))


def visible_files(root: Path) -> dict[str, bytes]:
    """Every file under `root` that a loader may open (no hidden part), by relative path; SQLite files, whose
    bytes legitimately change (the WAL), and the child's notes are left out."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (p.is_file() and not any(part.startswith(".") for part in rel.parts) and "registry.sqlite" not in p.name
                and p.name not in ("child-error.txt", "model-digests.json")):
            out[str(rel)] = p.read_bytes()
    return out


def setup(writer: str, workdir: Path, tiny_data: Path) -> dict[str, Path]:
    """The state before the killed write, made with the project's own writers."""
    import shutil

    p = paths(workdir)
    if writer in ("prepare", "features"):
        shutil.copytree(tiny_data, p["data"], symlinks=True)
    if writer == "config":
        from lfs.store import ConfigStore

        ConfigStore.open(p["store"])
    elif writer == "features":

        from lfs import features
        from pipeline.data.dataset import load_prepared

        data = load_prepared(p["processed"])
        features._write_split_cache(data, "dev", features_frame(data.splits["dev"].index))
    elif writer == "registry":
        from pipeline.runs.registry import Registry

        registry = Registry(p["registry"])
        run_id = registry.create(dataset_fingerprint="fp", lf_config_toml="", lf_config_hash="h", params={})
        assert run_id == 1
        registry.put_result(run_id, RESULT_KEY, fault_child.registry_value(1))
    elif writer in ("metrics", "labels", "eval_scores"):
        from pipeline.runs.retrain import write_metrics, write_training_labels

        path = p["run"] / ARTIFACT_FILES[writer]
        if writer == "metrics":
            write_metrics(fault_child.metrics_value(1), path)
        elif writer == "labels":
            write_training_labels(fault_child.labels_frame(1), path)
        else:
            fault_child.eval_scores(1).save(path)
    return p


def features_frame(index):
    """The dev features cached before the killed write (made up: the cache checks shape and dataset, not values)."""
    import numpy as np

    from lfs import features

    values = np.random.default_rng(0).random((len(index), len(features.FEATURE_COLUMNS)))
    values[::5, 0] = np.nan  # rows without a review
    return features.feature_frame(values, index)


def _frame_value(frame) -> tuple:
    """A DataFrame as an exactly comparable value (NaN equal to NaN, every bit of a float counted)."""
    columns = {c: (frame[c].to_numpy().tobytes() if frame[c].dtype.kind in "biuf" else frame[c].tolist())
               for c in frame.columns}
    return [str(t) for t in frame.dtypes], frame.index.tolist(), columns


def load(writer: str, p: dict[str, Path]):
    """What the project's loaders read back, as a comparable value."""
    if writer == "config":
        from lfs.store import ConfigStore

        store = ConfigStore(p["store"])
        return [(i.version, i.note, i.key) for i in store.history()], store.load().key
    if writer in ("prepare", "features"):
        from pipeline.data.dataset import load_prepared

        data = load_prepared(p["processed"])
        if writer == "prepare":
            return data.manifest["fingerprint"], {s: len(rows) for s, rows in data.splits.items()}
        from lfs import features

        cached = features._read_split_cache(data, "dev")
        assert cached is not None, "the features cache is not usable"
        return _frame_value(cached)
    if writer == "registry":
        from pipeline.runs.registry import Registry

        registry = Registry(p["registry"])
        return registry.get(1).status, registry.results(1)
    path = p["run"] / ARTIFACT_FILES[writer]
    if writer == "metrics":
        return json.loads(path.read_text(encoding="utf-8"))
    if writer == "labels":
        import pandas as pd

        return _frame_value(pd.read_parquet(path))
    if writer == "eval_scores":
        from pipeline.training.bootstrap import EvalScores

        return _scores_value(EvalScores.load(path))
    raise ValueError(writer)


def _scores_value(scores) -> tuple:
    return (scores.key(), {k: v.tolist() for k, v in scores.scores.items()},
            {k: v.tolist() for k, v in scores.ranks.items()})


def expected_new(writer: str, p: dict[str, Path]):
    """What `load` gives after the normal write that follows the kill (config and prepare: checked apart)."""
    if writer == "features":
        from pipeline.data.dataset import load_prepared

        return _frame_value(features_frame(load_prepared(p["processed"]).splits["dev"].index).assign(polarity=0.25))
    if writer == "registry":
        return "queued", {RESULT_KEY: fault_child.registry_value(2)}
    if writer == "metrics":
        return fault_child.metrics_value(2)
    if writer == "labels":
        return _frame_value(fault_child.labels_frame(2))
    if writer == "eval_scores":
        return _scores_value(fault_child.eval_scores(2))
    raise ValueError(writer)


# --------------------------------------------------------------------------------------------------------------
# a kill in the middle of each write


@pytest.mark.parametrize(("writer", "point"), CASES, ids=[f"{w}-{p}" for w, p in CASES])
def test_killed_write_leaves_the_previous_state(writer, point, tmp_path, tiny_data, children):
    p = setup(writer, tmp_path, tiny_data)
    before_files = visible_files(tmp_path)
    before = load(writer, p)
    wal = p["registry"].with_name(p["registry"].name + "-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0

    pid = kill_child(children, writer, point, tmp_path)
    wal_after = wal.stat().st_size if wal.exists() else 0  # read before a connection recovers and drops the WAL
    left = leftovers(tmp_path, pid)
    assert all(entry.name.startswith(".") for entry in left)  # hidden: no loader opens it

    if (writer, point) in COMMITTED:
        # prepare killed while deleting the old folder: the new one is in place, whole; the old one is left over
        from pipeline.data.dataset import load_prepared

        assert load_prepared(p["processed"]).manifest["params"]["seed"] == 1
        assert len(left) == 1 and (left[0] / "manifest.json").is_file()
    else:
        if (writer, point) == ("prepare", "between-renames"):
            # The fallback swap (no RENAME_EXCHANGE) was cut between its renames: the old folder is aside, and the
            # next prepare (here called directly) puts it back before anything else.
            from pipeline.data.prepare import recover_output

            assert not p["processed"].exists()
            assert recover_output(p["processed"])
            left = leftovers(tmp_path, pid)
        after_files = visible_files(tmp_path)
        if (writer, point) == ("config", "rename"):
            # the version file was in place, the index (the commit point) not: an unlisted whole file
            from lfs.config import load_config
            from lfs.store import ConfigStore

            orphan = "lf_configs/versions/000002.toml"
            assert after_files.keys() - before_files.keys() == {orphan}
            assert load_config(tmp_path / orphan) == ConfigStore(p["store"]).load(1).remove(REMOVED_LF)
            after_files.pop(orphan)
        assert after_files == before_files  # nothing under a final name changed, so nothing is partial
        assert load(writer, p) == before
        if writer == "registry":
            assert left == []
            if point == "commit":  # the transaction's pages had reached the WAL, uncommitted: readers skip them
                assert wal_after > wal_before
        else:
            assert len(left) == 1, left
            if point == "write" and left[0].is_file():
                assert left[0].stat().st_size > 0  # the kill came mid-write, after some bytes

    # The next normal write of the same target succeeds and sweeps what the dead writer left.
    backdate(left)
    fault_child.run(writer, "none", tmp_path)
    assert [entry for entry in left if entry.exists()] == []
    after = load(writer, p)
    if writer == "config":
        from lfs.store import ConfigStore

        store = ConfigStore(p["store"])
        assert [i.version for i in store.history()] == [2, 1]
        assert store.load() == store.load(1).remove(REMOVED_LF)
    elif writer == "prepare":
        from pipeline.data.dataset import load_prepared

        assert after != before and load_prepared(p["processed"]).manifest["params"]["seed"] == 1
    else:
        assert after == expected_new(writer, p)
    assert not [e for e in tmp_path.rglob(".*") if TEMP_NAME.fullmatch(e.name)]


@pytest.mark.slow
def test_killed_model_save_keeps_the_previous_model(tmp_path):
    """The Keras model file of a run (endmodel.save_model), killed mid-write and just before the rename; the
    children import TensorFlow, this process does not."""
    model = tmp_path / "run" / ARTIFACT_FILES["model"]
    digests_file = tmp_path / "run" / "model-digests.json"
    previous = None
    earlier: list[Path] = []
    for point in ("write", "rename"):
        pid, code = script_child("model", point, tmp_path)
        assert code == -signal.SIGKILL
        digests = json.loads(digests_file.read_text(encoding="utf-8"))
        assert digests["loaded before the write"] == digests["seed 1"]  # the previous model loads, whole
        if previous is None:
            previous = model.read_bytes()  # saved whole by the first child before its kill was armed
        assert model.read_bytes() == previous
        with zipfile.ZipFile(model) as archive:
            assert archive.testzip() is None and {"config.json", "model.weights.h5"} <= set(archive.namelist())
        assert [e for e in earlier if e.exists()] == []  # this child's save swept the last one's temp
        left = leftovers(tmp_path, pid)
        assert len(left) == 1 and left[0].name.startswith(".model.keras.") and left[0].stat().st_size > 0
        assert sorted(p.name for p in model.parent.iterdir() if not p.name.startswith(".")) == [
            "model-digests.json", "model.keras"]
        backdate(left)
        earlier = left

    _, code = script_child("model", "none", tmp_path)
    assert code == 0
    digests = json.loads(digests_file.read_text(encoding="utf-8"))
    assert digests["loaded before the write"] == digests["seed 1"]
    assert digests["loaded after the write"] == digests["seed 2"]
    assert [e for e in earlier if e.exists()] == []


# --------------------------------------------------------------------------------------------------------------
# atomic_path: the mode it gives, and the temp sweep's rules


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o600])
def test_a_replaced_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    os.chmod(path, mode)
    files.write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_new_file_gets_the_umask_default(tmp_path):
    path = tmp_path / "new.json"
    files.write_text_atomic(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    with files.atomic_path(tmp_path / "model.keras", suffix=".keras") as tmp:
        assert tmp.name.startswith(f".model.keras.{os.getpid()}.") and tmp.name.endswith(".keras")
        tmp.write_bytes(b"zip")
    assert stat.S_IMODE((tmp_path / "model.keras").stat().st_mode) == 0o666 & ~_umask()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_sweep_removes_only_stale_temps_of_its_target(tmp_path):
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        def temp(name: str, *, old: bool = True, folder: bool = False) -> Path:
            p = tmp_path / name
            if folder:
                p.mkdir()
                (p / "books.parquet").write_bytes(b"x")
            else:
                p.write_bytes(b"partial")
            if old:
                backdate([p])
            return p

        stale = temp(f".labels.parquet.{dead}.abc123_x.tmp")
        stale_folder = temp(f".labels.parquet.{dead}.0f0f0f0f0f0f.tmp", folder=True)
        kept = [
            temp(f".labels.parquet.{dead}.recent12.tmp", old=False),  # a writer on another host may own it
            temp(f".labels.parquet.{live.pid}.livewrtr.tmp"),  # its writer runs
            temp(f".labels.parquet.{os.getpid()}.mythread.tmp"),  # this process's (another thread's)
            temp(f".labels.parquet.{dead}.abc123_x.partial"),  # another suffix: another writer's
            temp(f".other.parquet.{dead}.abc123_x.tmp"),  # another target's
            temp(f".labels.parquet.{dead}.tmp"),  # not a temp name
            temp(f"labels.parquet.{dead}.abc123_x.tmp"),  # not hidden: never ours
            temp("labels.parquet"),
        ]
        removed = files.sweep_stale_temps(tmp_path / "labels.parquet")
        assert sorted(removed) == sorted([stale, stale_folder])
        assert not stale.exists() and not stale_folder.exists() and all(p.exists() for p in kept)
    finally:
        live.kill()
        live.wait()


def test_the_sweep_sees_a_reused_pid(tmp_path, monkeypatch):
    """A live process that started after the temp was last touched cannot have written it: the pid was reused."""
    temp = tmp_path / f".x.json.{os.getppid()}.reused12.tmp"
    temp.write_bytes(b"partial")
    backdate([temp])

    class Started:
        def __init__(self, started: float):
            self.started = started

        def __call__(self, pid):
            return self

        def status(self):
            return "running"

        def create_time(self):
            return self.started

    touched = max(temp.stat().st_mtime, temp.stat().st_ctime)
    monkeypatch.setattr(files.psutil, "Process", Started(touched - 30))  # the writer itself: kept
    assert files.sweep_stale_temps(tmp_path / "x.json") == [] and temp.exists()
    monkeypatch.setattr(files.psutil, "Process", Started(touched + 30))  # started later: another process
    assert files.sweep_stale_temps(tmp_path / "x.json") == [temp] and not temp.exists()


def test_a_write_sweeps_a_dead_writers_temp(tmp_path):
    target = tmp_path / "metrics.json"
    files.write_text_atomic(target, "old")
    temp = tmp_path / f".metrics.json.{_dead_pid()}.deadbeef.tmp"
    temp.write_text('{"half": ')
    backdate([temp])
    files.write_text_atomic(target, "new")
    assert target.read_text() == "new" and not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
