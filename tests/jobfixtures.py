"""Tiny job functions for tests/test_jobs.py, run through pipeline.runs.jobs in real processes.

`python -m tests.jobfixtures --run-id ID --data DIR --mode ok|fail|sleep` is what `jobs.start(...,
command=JOB_COMMAND)` launches: the same argument contract as ``python -m pipeline retrain``.
"""

from __future__ import annotations

import argparse
import sys
import time

from pipeline.runs.jobs import RunHandle, run_job
from pipeline.runs.registry import Registry

JOB_COMMAND = ("-m", "tests.jobfixtures")
METRICS = {"ours": {"f1": 0.7, "roc_auc": 0.8, "hr@10": 0.3}, "popularity": {"f1": 0.5}}
SLEEP_LIMIT_SECONDS = 60  # a sleeping job ends by itself after this, so a broken test cannot leave it behind


def job(handle: RunHandle, mode: str) -> None:
    handle.stage("prepare", 0.1, "writing a partial artifact")
    (handle.dir / "partial.bin").write_bytes(b"half a model")
    (handle.dir / "sub").mkdir(exist_ok=True)
    (handle.dir / "sub" / "labels.parquet").write_bytes(b"rows")
    if mode == "fail":
        handle.stage("train", 0.5)
        raise RuntimeError("injected failure in the job")
    if mode == "sleep":
        handle.stage("sleeping", 0.5, "until cancelled")
        deadline = time.monotonic() + SLEEP_LIMIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
        raise TimeoutError("the sleeping job was never cancelled")
    for epoch in range(3):
        handle.epoch("ours", epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.5 / (epoch + 1)})
        handle.stage("train", 0.2 + 0.2 * (epoch + 1), f"epoch {epoch + 1} of 3")
    handle.epoch("seed_replica", 0, {"loss": 0.9})
    handle.result("metrics", METRICS)
    handle.artifacts({"model": handle.dir / "partial.bin", "labels": "sub/labels.parquet"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-id", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--mode", choices=("ok", "fail", "sleep"), default="ok")
    args = parser.parse_args(argv)
    return run_job(Registry.for_data(args.data), args.run_id, lambda handle: job(handle, args.mode))


if __name__ == "__main__":
    sys.exit(main())
