"""Retrains as their own OS processes, recorded in the run registry (pipeline.runs.registry).

Streamlit has no background jobs and a retrain takes minutes, so a retrain runs as a separate process that
writes its stage, progress, epochs and results into the registry; the CLI and the pages only read it.

Lifecycle
---------
1. The launcher (the CLI, later a page) calls `start(data_dir, args, dataset_fingerprint=..., lf_config_toml=...,
   lf_config_hash=..., params=...)`. It creates the run with `Registry.create_exclusive` (status ``queued``),
   then `spawn` launches ``python -m pipeline retrain --run-id ID --data DATA *args`` from the repository root in
   a new session (so a Ctrl-C in the launcher's terminal does not reach it), stdin closed, stdout and stderr
   appended to ``<data>/runs/<id>/job.log``, and records the child's pid on the queued run. `start` returns the
   run id at once; the caller polls `Registry.get(id)`.
2. The job process calls `run_job(registry, run_id, fn)`: it installs a SIGTERM handler, marks the run
   ``running`` with its own pid (`Registry.start`), starts its heartbeat (below) and calls ``fn(handle)`` with a
   `RunHandle` through which it reports stages, epochs, results and artifacts.
3. The run ends as one of
   - ``succeeded`` when ``fn`` returns (exit code 0); then, in the same process, pipeline.runs.promotion's rule
     decides whether the run becomes the model in use;
   - ``cancelled`` on SIGTERM (see `cancel`) or Ctrl-C: the handler raises `Cancelled` (a BaseException, so an
     ``except Exception`` in the training code does not swallow it), the run's artifact folder is emptied except
     ``job.log``, and the exit code is 130 (EXIT_CANCELLED, the shell's code for an interrupted command);
   - ``failed`` when ``fn`` raises anything else: the full traceback is the run's error text (exit code 1).

One active run
--------------
At most one run is queued or running at a time: `start` raises `RunInProgress` (a ValueError) naming the active
run, its stage and the command that cancels it, instead of running a second retrain beside it on the same
artifacts. A queued run that never got a process (its launcher died between creating and spawning it) stops
counting after a few minutes (`Registry.stale_queued_after`).

kill -9, and other hosts
------------------------
A job killed without a word (kill -9, the OOM killer, a segfault in native code) cannot record its end. Every
registry read reaps such runs: if the recorded pid no longer exists on this host, is a zombie, or now belongs to
another process (its start time differs from the one recorded), the run is marked ``failed`` with
``registry.DIED_MESSAGE`` and the last lines of its job.log. The model in use stays as it was throughout:
nothing a failed or cancelled run does replaces it.

A run recorded on another host (the container was recreated under a new hostname, or another machine shares the
data folder) cannot be checked with psutil, nor signalled. So the job beats: a daemon thread of the job process
writes the run's heartbeat every HEARTBEAT_SECONDS for as long as the job runs. A thread rather than a beat per
stage or epoch report, because some steps report nothing for minutes (the label model's fit, the contenders'
grids, the features) and the beat must not depend on what the job is doing; numpy, torch and TensorFlow release
the GIL in their long calls, so the thread gets its turn. A run on another host whose heartbeat is older than
``registry.HEARTBEAT_STALE_SECONDS`` is dead: reaped as ``failed`` with ``registry.LOST_MESSAGE``, and a `cancel`
ends it as ``cancelled`` naming the host. One with a fresh heartbeat is still running there: `cancel` refuses
(it cannot signal it) and says so, as it did before heartbeats, instead of ending a live run under its feet.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.runs.registry import InvalidTransition, Registry, Run, job_alive

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "JOB_LOG",
    "RETRAIN_COMMAND",
    "Cancelled",
    "RunHandle",
    "cancel",
    "launch",
    "run_job",
    "spawn",
    "start",
]

JOB_LOG = "job.log"
EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 130
REPO_ROOT = Path(__file__).resolve().parents[2]  # the project root: pipeline/runs/jobs.py
# what `spawn` runs after the interpreter; tests substitute their own job module
RETRAIN_COMMAND: tuple[str, ...] = ("-m", "pipeline", "retrain")
_POLL_SECONDS = 0.1  # cancel(wait=...) polls the registry this often
_CHECK_SECONDS = 0.5  # RunHandle.check_cancelled reads the registry at most this often
HEARTBEAT_SECONDS = 5.0  # the job's heartbeat interval; registry.HEARTBEAT_STALE_SECONDS is 12 of them

# Popen objects of launched jobs, kept so their exit status is collected (no lingering zombie, no ResourceWarning)
_launched: dict[int, subprocess.Popen] = {}


class Cancelled(BaseException):  # noqa: N818 (it is a request, not an error)
    """Raised inside a job when it is asked to stop (SIGTERM, or the registry says it is no longer active)."""


# --------------------------------------------------------------------------------------------------------------
# launching


def start(data_dir: str | Path, args: Sequence[str] = (), *, dataset_fingerprint: str, lf_config_toml: str,
          lf_config_hash: str, params: dict[str, Any], note: str = "", registry: Registry | None = None,
          command: Sequence[str] = RETRAIN_COMMAND) -> int:
    """Create a run (only if none is active) and launch its job process; return the run id at once.

    Raises RunInProgress (a ValueError) while another run is queued or running. `args` are passed on to the
    job after ``--run-id ID --data DATA``.
    """
    registry = registry or Registry.for_data(data_dir)
    run_id = registry.create_exclusive(dataset_fingerprint=dataset_fingerprint, lf_config_toml=lf_config_toml,
                                       lf_config_hash=lf_config_hash, params=params, note=note)
    spawn(data_dir, run_id, args, registry=registry, command=command)
    return run_id


def spawn(data_dir: str | Path, run_id: int, args: Sequence[str] = (), *, registry: Registry | None = None,
          command: Sequence[str] = RETRAIN_COMMAND) -> int:
    """Launch the job process of an already created, queued run; return its pid.

    Runs ``sys.executable *command --run-id ID --data DATA *args`` from the repository root in a new session,
    with stdin closed and output appended to the run's job.log. The job opens ``Registry.for_data(DATA)``, so
    `registry`, if given, must be that one. If the launch itself fails the run is marked failed and the error
    re-raised.
    """
    expected = Registry.for_data(data_dir)
    registry = registry or expected
    if registry.path.resolve() != expected.path.resolve():
        raise ValueError(f"the job opens the registry of --data {data_dir} ({expected.path}), not {registry.path}")
    _collect_exited()
    run_dir = registry.runs_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    if any(run_dir.iterdir()):  # a new run's folder is new (Registry._next_id): files there are another run's
        error = (f"not launched: its folder {run_dir} already holds files of another run (was the registry file "
                 f"replaced?); they are left as they are")
        with contextlib.suppress(InvalidTransition):
            registry.finish(run_id, "failed", error)
        raise ValueError(f"run {run_id} {error}")
    try:
        pid = launch([*command, "--run-id", str(run_id), "--data", str(Path(data_dir).resolve()), *args],
                     run_dir / JOB_LOG)
    except BaseException as e:
        with contextlib.suppress(InvalidTransition):
            registry.finish(run_id, "failed", f"could not launch the job process: {e!r}")
        raise
    registry.set_pid(run_id, pid)
    return pid


def launch(args: Sequence[str], log_path: Path) -> int:
    """Run ``sys.executable *args`` from the repository root, detached: a new session (a Ctrl-C in the
    launcher's terminal does not reach it), stdin closed, output appended to `log_path` after the command line.
    Returns its pid; its exit status is collected later, so it leaves no zombie. `spawn` launches jobs with it,
    pipeline.runs.study a study's driver."""
    _collect_exited()
    argv = [sys.executable, *args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _launched[proc.pid] = proc
    return proc.pid


def _collect_exited() -> None:
    for pid, proc in list(_launched.items()):
        if proc.poll() is not None:
            del _launched[pid]


# --------------------------------------------------------------------------------------------------------------
# inside the job process


class _CancelFlag:
    """Set by the SIGTERM handler. `armed`: raise Cancelled at once (only while the job function runs)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self.armed = False

    def __call__(self, signum: int, frame: Any) -> None:
        first = self.requested is None
        self.requested = self.requested or f"cancelled: {signal.Signals(signum).name} received"
        if first and self.armed:
            self.armed = False
            raise Cancelled(self.requested)


class _Heartbeat:
    """A daemon thread writing the heartbeat of run `run_id` every `interval` seconds until stopped, or until the
    registry says the run is no longer active (the job then stops at its next check or report)."""

    def __init__(self, registry: Registry, run_id: int, interval: float = HEARTBEAT_SECONDS):
        self.registry, self.run_id, self.interval = registry, int(run_id), interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat of run {run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.registry.heartbeat(self.run_id):
                    return
            except (sqlite3.Error, OSError):  # a registry busy or unreadable for a while: beat again next time
                continue


class RunHandle:
    """What a job function gets: report progress and results of run `run_id`, and notice cancellation.

    Example
    -------
    >>> def retrain(handle: RunHandle) -> None:                                  # doctest: +SKIP
    ...     handle.stage("label model", 0.0, "5000 epochs")
    ...     for k in range(n_epochs):
    ...         ...; handle.epoch("ours", k, {"loss": loss, "val_loss": val_loss})
    ...         handle.stage("train", (k + 1) / n_epochs, f"epoch {k + 1} of {n_epochs}")
    ...         handle.check_cancelled()  # in inner loops that report nothing else
    ...     model.save(handle.dir / "model.keras")
    ...     handle.artifacts({"model": handle.dir / "model.keras"})
    ...     handle.result("metrics", {"ours": {"f1": 0.71, "roc_auc": 0.80}})
    """

    def __init__(self, registry: Registry, run_id: int, flag: _CancelFlag | None = None):
        self.registry = registry
        self.id = int(run_id)
        self._flag = flag or _CancelFlag()
        self._last_poll = -math.inf

    @property
    def dir(self) -> Path:
        """The run's artifact folder (created). Write artifacts here: a cancel empties it."""
        path = self.registry.runs_dir(self.id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def check_cancelled(self) -> None:
        """Raise Cancelled if a SIGTERM came in or the registry no longer lists this run as running (cancelled
        or reaped by another process). Cheap enough to call per batch: the registry is read at most every
        half second (a quarter of a millisecond each time)."""
        if self._flag.requested:
            raise Cancelled(self._flag.requested)
        now = time.monotonic()
        if now - self._last_poll < _CHECK_SECONDS:
            return
        self._last_poll = now
        status = self.registry.status(self.id)
        if status != "running":
            raise Cancelled(f"the registry lists run {self.id} as {status}")

    def _report(self, write: Callable[[], None]) -> None:
        if self._flag.requested:
            raise Cancelled(self._flag.requested)
        try:
            write()
        except InvalidTransition as e:  # the run was ended from outside (cancelled while queued, or reaped)
            raise Cancelled(str(e)) from None

    def stage(self, name: str, progress: float | None = None, detail: str = "") -> None:
        """Record the current stage, its progress (0..1, of this stage) and a detail line such as
        "epoch 3 of 10"."""
        self._report(lambda: self.registry.set_stage(self.id, name, progress, detail))

    def epoch(self, model: str, epoch: int, logs: dict[str, Any]) -> None:
        """Record one epoch's logs of a model ("ours", "seed_replica", ...)."""
        self._report(lambda: self.registry.add_epoch(self.id, model, epoch, logs))

    def result(self, key: str, value: Any) -> None:
        """Store a named JSON result ("lf_summary", "label_model", "metrics", ...)."""
        self._report(lambda: self.registry.put_result(self.id, key, value))

    def artifacts(self, paths: dict[str, str | Path]) -> None:
        """Record artifact paths (merged with earlier ones); paths inside `dir` are stored relative to it."""
        self._report(lambda: self.registry.set_artifacts(self.id, paths))


def run_job(registry: Registry, run_id: int, fn: Callable[[RunHandle], object], *, log=None,
            heartbeat: float = HEARTBEAT_SECONDS) -> int:
    """Run job function `fn` as run `run_id` in this process and record how it ends; return the exit code.

    0 (EXIT_OK) succeeded; 1 (EXIT_FAILED) failed, with the traceback as the run's error, or the run could not
    be started (it was cancelled while queued); 130 (EXIT_CANCELLED) cancelled by SIGTERM or Ctrl-C, with the
    run's folder emptied except job.log. Messages go to `log` (default: stderr, i.e. job.log when spawned). While
    `fn` runs, a thread writes the run's heartbeat every `heartbeat` seconds.
    """
    log = log or sys.stderr
    flag = _CancelFlag()
    restore = _install_sigterm(flag)  # SIGTERM is caught from here until the end is recorded
    try:
        try:
            registry.start(run_id, os.getpid())
        except InvalidTransition as e:
            print(f"run {run_id} not started: {e}", file=log)
            return EXIT_FAILED
        with _Heartbeat(registry, run_id, heartbeat):
            status, error, code = _call(fn, RunHandle(registry, run_id, flag), flag)
        if status == "cancelled":
            _clear_run_dir(registry.runs_dir(run_id))
            with contextlib.suppress(InvalidTransition):
                registry.set_artifacts(run_id, {}, replace=True)
        elif status == "failed":
            print(error, file=log, end="")
        return _record_end(registry, run_id, status, error, code, log)
    finally:
        restore()


def _call(fn: Callable[[RunHandle], object], handle: RunHandle, flag: _CancelFlag) -> tuple[str, str | None, int]:
    """Run the job function; (status, error text, exit code). A SIGTERM raises Cancelled only while it runs."""
    import traceback

    try:
        if flag.requested:  # a SIGTERM while the run was being started: stop before doing any work
            raise Cancelled(flag.requested)
        flag.armed = True
        fn(handle)
        flag.armed = False
    except (Cancelled, KeyboardInterrupt) as e:
        flag.armed = False
        return "cancelled", (str(e) if isinstance(e, Cancelled) and str(e) else "cancelled: interrupted"), \
            EXIT_CANCELLED
    except BaseException:
        flag.armed = False
        return "failed", traceback.format_exc(), EXIT_FAILED
    return "succeeded", None, EXIT_OK


def _install_sigterm(flag: _CancelFlag) -> Callable[[], None]:
    """Route SIGTERM to `flag`; return what restores the previous handler. Signals reach only the main thread;
    elsewhere the job notices a cancel through the registry (RunHandle.check_cancelled)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, flag)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _clear_run_dir(path: Path) -> None:
    """Remove the partial artifacts of a cancelled run: everything in its folder but job.log."""
    if not path.is_dir():
        return
    for entry in path.iterdir():
        if entry.name == JOB_LOG:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _record_end(registry: Registry, run_id: int, status: str, error: str | None, code: int, log) -> int:
    outcome = None
    try:
        if status == "succeeded":  # decided and recorded with the end, in this process (pipeline.runs.promotion)
            from pipeline.runs.promotion import finish_succeeded

            outcome = finish_succeeded(registry, run_id)
        else:
            registry.finish(run_id, status, error)
    except InvalidTransition:
        print(f"run {run_id} was already {registry.status(run_id)}; its end as {status} is not recorded", file=log)
    else:
        print(f"run {run_id} {status}" + (f": {error.splitlines()[-1]}" if error else "")
              + (f" ({outcome['reason']})" if outcome else ""), file=log)
    return code


# --------------------------------------------------------------------------------------------------------------
# cancelling


def cancel(registry: Registry, run_id: int, *, wait: float | None = None) -> str:
    """Ask run `run_id` to stop and return a message saying what happened.

    A running job gets SIGTERM (only if its pid is still that job's process on this host) and ends itself as
    cancelled; with `wait` seconds, wait for that. A queued run is marked cancelled directly (and its process,
    if already launched on this host, gets SIGTERM too; one on another host finds it cancelled when it starts).
    A running job on another host cannot be signalled: if its heartbeat is stale, its process is lost and the run
    is ended here as cancelled, naming the host; if it is fresh, the job still runs there and the cancel is
    refused with a ValueError saying so. A finished run is left as it is. Raises RunNotFound for an unknown id.
    """
    run = registry.get(run_id, reap=False)  # a lost run on another host is cancelled below, not reaped first
    if run.status == "queued":
        try:
            registry.finish(run.id, "cancelled", "cancelled before it started")
        except InvalidTransition:
            run = registry.get(run_id, reap=False)  # it started (or ended) meanwhile
        else:
            if run.pid is not None and run.on_this_host and job_alive(run):  # never a pid of another host
                _terminate(run)
            return f"run {run.id} was queued; it is cancelled"
    if run.is_finished:
        return f"run {run.id} already {run.status}; nothing to cancel"
    if not run.on_this_host:
        return _cancel_elsewhere(registry, run)
    if not job_alive(run):
        registry.reap()
        return f"run {run.id}: its process had already died; {registry.get(run_id).status}"
    _terminate(run)
    if not wait:
        return f"sent SIGTERM to run {run.id} (pid {run.pid}); it ends as cancelled once it stops"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        run = registry.get(run_id)
        if run.is_finished:
            return f"run {run.id} {run.status}"
        time.sleep(_POLL_SECONDS)
    return (f"sent SIGTERM to run {run.id} (pid {run.pid}); still stopping after {wait:g} s "
            f"(see `python -m pipeline runs show {run.id}`)")


def _cancel_elsewhere(registry: Registry, run: Run) -> str:
    """Cancel a running run recorded on another host, which this host can neither check with psutil nor signal."""
    age, limit = run.heartbeat_age(), registry.heartbeat_limit(run)
    if registry.is_alive(run):
        raise ValueError(
            f"run {run.id} is still running on host {run.host} (pid {run.pid}; last heartbeat {age:.0f} s ago), "
            f"which this host ({socket.gethostname()}) cannot signal: cancel it on {run.host}, or stop its process "
            f"there; if that host is gone, the run counts as dead once its heartbeat is over {limit:g} s old")
    reason = (f"cancelled: its process on host {run.host} could not be reached (pid {run.pid}; last heartbeat "
              f"{age:.0f} s ago, limit {limit:g} s)")
    try:
        registry.finish(run.id, "cancelled", reason)
    except InvalidTransition:  # it ended by itself meanwhile (or another reader reaped it)
        return f"run {run.id} already {registry.status(run.id)}; nothing to cancel"
    return f"run {run.id} {reason}"


def _terminate(run: Run) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(run.pid, signal.SIGTERM)
    _collect_exited()
