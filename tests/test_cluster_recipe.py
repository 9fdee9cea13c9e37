"""README's "Scaling out" recipe, as written: this environment's `dask scheduler` and `dask worker` programs and
`python -m pipeline features / label --engine dask --scheduler ADDRESS`, every process started from a folder
outside the repository (as on a worker host, where only the installed package can provide `lfs` and `pipeline`).
The label matrix the cluster computes equals the local engine's. The scheduler and its workers are started once
for the module and always stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
import pytest

from tests.browser import free_port
from tests.processes import stop

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment's programs: dask, and the python running these tests
WORKERS = 2  # as in the README: `--nworkers 2 --nthreads 1`
START_TIMEOUT = 120  # seconds for the scheduler to listen and the workers to join (a loaded machine is slow)
STEP_TIMEOUT = 300  # seconds for one `python -m pipeline` step on tiny data
STOP_TIMEOUT = 15  # seconds between terminate and kill


def _env() -> dict[str, str]:
    """This environment without PYTHONPATH: imports must come from the installed package, not from a path."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONUNBUFFERED": "1"}


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no output)"


@contextmanager
def _running(cmd: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen]:
    """`cmd` as a background process (output to `log`), terminated (then killed) and waited for on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc, STOP_TIMEOUT)


def _run(cmd: list[str], cwd: Path) -> str:
    """Run `cmd` to completion; its stdout, or a failure that shows its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """The working folder of every process here: not the repository, nor inside it."""
    folder = tmp_path_factory.mktemp("elsewhere")
    assert not folder.resolve().is_relative_to(ROOT), f"{folder} is inside the repository"
    return folder


@pytest.fixture(scope="module")
def processed(tiny_processed, tmp_path_factory) -> Path:
    """A copy of the session's tiny prepared data (the features command caches its features in it)."""
    return shutil.copytree(tiny_processed, tmp_path_factory.mktemp("tiny-cluster") / "processed")


@pytest.fixture(scope="module")
def scheduler(outside: Path, tmp_path_factory) -> Iterator[str]:
    """The address of a running `dask scheduler` with WORKERS joined from one `dask worker`.

    On 127.0.0.1 and a free port (the README's 8786 may be taken here), without a dashboard; otherwise the
    README's commands."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("cluster-logs")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(BIN / "dask")
    with ExitStack() as stack:
        sched = stack.enter_context(_running(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], outside,
            logs / "scheduler.log"))
        workers = stack.enter_context(_running(
            [dask, "worker", address, "--nworkers", str(WORKERS), "--nthreads", "1", "--no-dashboard"], outside,
            logs / "worker.log"))
        deadline = time.monotonic() + START_TIMEOUT
        try:
            with Client(address, timeout=f"{START_TIMEOUT}s") as client:
                client.wait_for_workers(WORKERS, timeout=max(1.0, deadline - time.monotonic()))
                assert list(client.nthreads().values()) == [1] * WORKERS
        except Exception as e:
            pytest.fail(f"the cluster did not come up ({e!r}; scheduler exit {sched.poll()}, worker exit "
                        f"{workers.poll()}):\nscheduler:\n{_tail(logs / 'scheduler.log')}\n"
                        f"worker:\n{_tail(logs / 'worker.log')}")
        yield address
        assert workers.poll() is None, f"the workers exited early:\n{_tail(logs / 'worker.log')}"


def pipeline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def test_the_installed_package_imports_outside_the_repository(outside):
    out = _run([sys.executable, "-c", "import lfs, pipeline, workbench; print(lfs.__file__)"], outside)
    assert out.strip().endswith("__init__.py")
    assert "usage: python -m pipeline" in _run(pipeline_cmd("--help"), outside)


def test_features_on_the_cluster_match_the_local_engine(scheduler, processed, outside):
    cluster = _run(pipeline_cmd("features", "--processed", str(processed), "--engine", "dask",
                                "--scheduler", scheduler), outside)
    local = _run(pipeline_cmd("features", "--processed", str(processed), "--processes", "1"), outside)

    def per_split(out: str) -> list[str]:  # the last line is the wall time
        lines = out.strip().splitlines()
        assert lines[-1].startswith("features ready in"), out
        return lines[:-1]

    assert per_split(cluster) == per_split(local)
    assert len(per_split(cluster)) == 4  # train, dev, val, test


def test_label_on_the_cluster_equals_the_local_engine(scheduler, processed, outside):
    _run(pipeline_cmd("label", "--processed", str(processed), "--split", "train", "--out", "L_train.parquet",
                      "--engine", "dask", "--scheduler", scheduler), outside)
    _run(pipeline_cmd("label", "--processed", str(processed), "--split", "train", "--out", "L_local.parquet"),
         outside)
    cluster, local = pd.read_parquet(outside / "L_train.parquet"), pd.read_parquet(outside / "L_local.parquet")
    assert len(cluster) > 0 and (cluster.iloc[:, 2:] != -1).any().any()  # the LFs fire on some rows
    pd.testing.assert_frame_equal(cluster, local, check_exact=True)
