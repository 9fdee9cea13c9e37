"""Expensive session data built beside the tests: a real retrain, or the `small` dataset, runs as its own OS process
in one background thread, so it uses the second core while the tests go on; a fixture that reads the result waits
for it (see tests/conftest.py, which starts the builds the collected tests need at the start of the session).

Every build is a command run to completion (`python -m pipeline ...`), its output in a log file, never in a test's
captured output. The builds run one at a time, in the order they were submitted. At the end of the session
`Background.close` stops what still runs (and cancels a retrain job a stopped command leaves behind).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 900  # the most a fixture waits for its build (a retrain on tiny data takes seconds)


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Background:
    """Named builds on one background thread, one at a time in the order submitted; a build's future gives its
    result (or raises its error) to every fixture that waits for it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-data")
        self._futures: dict[str, Future] = {}
        self._procs: dict[subprocess.Popen, Path | None] = {}
        self._lock = threading.Lock()
        self._closing = False

    def submit(self, name: str, build: Callable[[], Any]) -> Future:
        """Start `build` (once per name) after the builds submitted before it; its future."""
        with self._lock:
            if name not in self._futures:
                self._futures[name] = self._pool.submit(build)
            return self._futures[name]

    def run(self, cmd: list[str], log: Path, *, stdout: Path | None = None, data: Path | None = None) -> int:
        """Run `cmd` from the repository root to completion, its output in `log` (its standard output in `stdout`
        when given, then `log` has its standard error); its exit code. `data`: the data folder a retrain command
        works on (its job is cancelled if the session ends first)."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the test session is ending")
            with ExitStack() as files:
                err = files.enter_context(open(log, "wb"))
                out = files.enter_context(open(stdout, "wb")) if stdout else err
                proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err if stdout else subprocess.STDOUT)
            self._procs[proc] = data
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._procs.pop(proc, None)

    def close(self) -> None:
        """Stop the builds not finished: pending ones never start, a running command is terminated."""
        with self._lock:
            self._closing = True
            running = dict(self._procs)
        for future in self._futures.values():
            future.cancel()
        for proc, data in running.items():
            stop(proc, 15)
            if data is not None:
                _cancel_active_job(data)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _cancel_active_job(data: Path) -> None:
    """A retrain job its stopped command left running (a job is an OS process of its own): cancel it."""
    from pipeline.runs import jobs
    from pipeline.runs.registry import Registry

    registry = Registry.for_data(data)
    run = registry.active()
    if run is not None:
        jobs.cancel(registry, run.id, wait=30)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
