"""Stopping a subprocess a test started: terminate, wait, and kill what does not stop in time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate `proc` and wait up to `timeout` seconds; kill it after that. Always collects it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(what: str, check: Callable[[], object], timeout: float, poll: float = 0.05):
    """The first truthy value of `check()`, polled every `poll` seconds; AssertionError after `timeout` seconds.
    (Waiting on another process's state: a bound, never a timing assertion.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
