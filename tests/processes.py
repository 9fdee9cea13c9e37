"""Stopping a subprocess a test started: terminate, wait, and kill what does not stop in time."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate `proc` and wait up to `timeout` seconds; kill it after that. Always collects it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
