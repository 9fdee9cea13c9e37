"""The child side of tests/test_fault_injection.py: one real write through the project's own function, with a
low-level call it makes mid-write patched so that the process SIGKILLs itself at that point.

`run(writer, point, workdir)` is the entry point (the test runs it, through `child_main`, in a child process
forked from a multiprocessing forkserver that imported PRELOAD once; `python -m tests.fault_child WRITER POINT
WORKDIR` runs it by hand). Point "none"
writes normally. What each writer writes, and where, is defined here so the parent can rebuild the expected
content without importing what the child imports (TensorFlow for the model):

config       lfs.store.ConfigStore.save of a new version   workdir/lf_configs (version file, then index.jsonl)
prepare      pipeline.data.prepare.prepare with another seed workdir/data/processed (a folder swapped whole)
features     lfs.features' split cache (dev)                 workdir/data/processed/features/v1/dev.parquet
registry     Registry.put_result replacing a result          workdir/data/runs/registry.sqlite
metrics      pipeline.runs.retrain.write_metrics             workdir/run/metrics.json
labels       pipeline.runs.retrain.write_training_labels     workdir/run/training_labels.parquet
eval_scores  pipeline.training.bootstrap.EvalScores.save     workdir/run/eval_scores.npz
model        pipeline.training.endmodel.save_model           workdir/run/model.keras

Kill points: "write" (half of the first write into a file under the work folder, which for an atomic writer is
its temp file, reaches the disk, then the kill), "rename"
(just before the temp is moved into place; for the config store, before the second rename, the index's, which
is its commit point). prepare adds "between-renames" (its fallback swap for filesystems without RENAME_EXCHANGE,
killed with the old folder moved aside) and "cleanup" (after the swap, while deleting the old folder). registry
has "begin" (inside BEGIN IMMEDIATE, before the first statement) and "commit" (every statement done, before
COMMIT, with a cache small enough that the new pages already spilled into the WAL).
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

POINTS = {
    "config": ("write", "rename"),
    "prepare": ("write", "rename", "between-renames", "cleanup"),
    "features": ("write", "rename"),
    "registry": ("begin", "commit"),
    "metrics": ("write", "rename"),
    "labels": ("write", "rename"),
    "eval_scores": ("write", "rename"),
    "model": ("write", "rename"),
}
ARTIFACT_FILES = {"metrics": "metrics.json", "labels": "training_labels.parquet", "eval_scores": "eval_scores.npz",
                  "model": "model.keras"}
REMOVED_LF = "polarity_negative"  # the config writer saves the latest version without it
RESULT_KEY = "metrics"
MODEL_BOOKS = 30
# The modules a child needs, imported once by the process children are forked from (not TensorFlow).
PRELOAD = ("pandas", "pyarrow.parquet", "lfs.store", "lfs.features", "pipeline.data.prepare", "pipeline.data.dataset",
           "pipeline.runs.registry", "pipeline.runs.retrain", "pipeline.training.bootstrap")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached: SIGKILL to oneself is delivered before kill() returns


def is_temp(path) -> bool:
    """Whether `path` is, or is inside, a temp file or folder of this process (``.{name}.{pid}.{random}...``)."""
    mark = f".{os.getpid()}."
    return any(part.startswith(".") and mark in part for part in Path(os.fsdecode(path)).parts)


# --------------------------------------------------------------------------------------------------------------
# What the writers write (the parent builds the previous state from the same functions)


def registry_value(version: int) -> dict:
    """A result big enough (~400 KB) to overflow SQLite's page cache inside one transaction."""
    return {"version": version, "rows": [{"i": i, "text": f"row {i} of version {version} " * 4} for i in range(4000)]}


def metrics_value(version: int) -> dict:
    return {"version": version, "contenders": {"ours": {"hr@10": 0.1 * version, "f1": 0.5}}, "pad": "x" * 20000}


def labels_frame(version: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(version)
    n = 5000
    return pd.DataFrame({"user_idx": rng.integers(0, 100, n).astype(np.int32),
                         "book_idx": rng.integers(0, 300, n).astype(np.int32),
                         "label": rng.random(n), "source": np.where(rng.random(n) < 0.5, "train", "dev")})


def eval_scores(version: int):
    import numpy as np

    from pipeline.training.bootstrap import EvalScores

    rng = np.random.default_rng(version)
    n, c = 4000, 500
    return EvalScores(row_user=rng.integers(0, 50, n), y=rng.integers(0, 2, n), case_user=rng.integers(0, 50, c),
                      scores={"ours": rng.random(n), "popularity": rng.random(n)},
                      ranks={"ours": rng.integers(0, 100, c)})


def prepare_params(processed: Path, seed: int):
    from pipeline.data.prepare import MANIFEST_FILE, PrepareParams

    params = json.loads((processed / MANIFEST_FILE).read_text(encoding="utf-8"))["params"]
    return PrepareParams(**{**params, "seed": seed})


def model_digest(model) -> str:
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(weights.tobytes())
    return digest.hexdigest()


def paths(workdir: Path) -> dict[str, Path]:
    data = workdir / "data"
    return {"data": data, "raw": data / "raw", "processed": data / "processed", "store": workdir / "lf_configs",
            "registry": data / "runs" / "registry.sqlite", "run": workdir / "run"}


# --------------------------------------------------------------------------------------------------------------
# Kill points


class _KillingRaw(io.FileIO):
    """A raw file whose first write puts half its bytes on disk and then kills the process."""

    def write(self, b) -> int:
        data = bytes(b)
        os.write(self.fileno(), data[:max(1, len(data) // 2)])
        die()
        return len(data)


def _kill_in_writes(root: Path) -> None:
    """Patch open() so that the first file this process opens for writing under `root` (a temp or, from a writer
    that is not atomic, a final name) tears and dies."""
    real_open = builtins.open
    root = root.resolve()

    def killing_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
                     opener=None):
        if (isinstance(file, int) or not any(c in mode for c in "wx")
                or not Path(os.path.abspath(os.fsdecode(file))).is_relative_to(root)):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        raw = _KillingRaw(file, mode.replace("b", "").replace("t", "").replace("+", "") or "w")
        binary = io.BufferedWriter(raw)
        return binary if "b" in mode else io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline=newline)

    builtins.open = io.open = killing_open


def _kill_before_replace(nth: int = 1, when=None) -> None:
    """Patch os.replace to kill the process before its `nth` call moving a temp of this process (or, with `when`,
    before the first call for which when(src, dst) holds)."""
    real_replace = os.replace
    seen = []

    def killing_replace(src, dst, *args, **kwargs):
        if when is not None:
            if when(src, dst):
                die()
        elif is_temp(src):
            seen.append(src)
            if len(seen) == nth:
                die()
        return real_replace(src, dst, *args, **kwargs)

    os.replace = killing_replace


def _arm_prepare(point: str, processed: Path) -> None:
    import shutil

    import pyarrow.parquet as pq

    from pipeline.data import prepare as prepare_module

    if point == "write":  # the third table of the new folder is torn, then the kill
        real_write, calls = pq.write_table, []

        def tearing_write(table, where, **kwargs):
            calls.append(where)
            real_write(table, where, **kwargs)
            if len(calls) == 3:
                os.truncate(where, os.path.getsize(where) // 2)
                die()

        pq.write_table = tearing_write
    elif point == "rename":
        prepare_module._exchange = lambda a, b: die()
    elif point == "between-renames":
        def no_exchange(a, b):
            raise OSError(errno.EINVAL, "RENAME_EXCHANGE unsupported (injected)")

        prepare_module._exchange = no_exchange
        _kill_before_replace(when=lambda src, dst: Path(dst) == processed)
    elif point == "cleanup":
        real_rmtree = shutil.rmtree

        def killing_rmtree(path, *args, **kwargs):
            if is_temp(path):
                die()
            return real_rmtree(path, *args, **kwargs)

        shutil.rmtree = killing_rmtree


def _arm_sqlite(point: str) -> None:
    """Every registry connection traces its statements; the kill comes before the chosen one runs."""
    import sqlite3

    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA cache_size = 10")  # pages of the open transaction spill into the WAL before COMMIT
        in_transaction = [False]

        def trace(statement: str) -> None:
            if point == "commit" and statement.strip().upper() == "COMMIT":
                die()
            if point == "begin" and in_transaction[0]:
                die()
            in_transaction[0] = statement.strip().upper().startswith("BEGIN")

        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = connect


# --------------------------------------------------------------------------------------------------------------
# The writes


def run(writer: str, point: str, workdir: str | Path) -> None:
    """Do `writer`'s write with the kill armed at `point` ("none": no kill)."""
    if point != "none" and point not in POINTS[writer]:
        raise ValueError(f"{writer} has no kill point {point!r}; it has {POINTS[writer]}")
    p = paths(Path(workdir))
    if writer == "model":
        _model(p, point)
        return
    if writer == "registry":
        from pipeline.runs.registry import Registry

        registry = Registry(p["registry"])
        if point != "none":
            _arm_sqlite(point)
        registry.put_result(1, RESULT_KEY, registry_value(2))
        return
    if writer == "prepare":
        from pipeline.data.prepare import prepare

        params = prepare_params(p["processed"], seed=1)
        if point != "none":
            _arm_prepare(point, p["processed"])
        prepare(p["raw"], p["processed"], params)
        return
    write = _file_writer(writer, p)
    if point == "write":
        _kill_in_writes(Path(workdir))
    elif point == "rename":
        _kill_before_replace(nth=2 if writer == "config" else 1)
    write()


def _file_writer(writer: str, p: dict[str, Path]):
    """A function doing `writer`'s write (everything it needs read beforehand, so only the write is armed)."""
    if writer == "config":
        from lfs.store import ConfigStore

        store = ConfigStore(p["store"])
        cfg, base = store.load().remove(REMOVED_LF), store.latest()
        return lambda: store.save(cfg, base_version=base, note="the write that is killed")
    if writer == "features":
        from lfs import features
        from pipeline.data.dataset import load_prepared

        data = load_prepared(p["processed"])
        frame = features.load_features(data, "dev").assign(polarity=0.25)  # the cache as it was, changed
        return lambda: features._write_split_cache(data, "dev", frame)
    path = p["run"] / ARTIFACT_FILES[writer]
    if writer == "metrics":
        from pipeline.runs.retrain import write_metrics

        value = metrics_value(2)
        return lambda: write_metrics(value, path)
    if writer == "labels":
        from pipeline.runs.retrain import write_training_labels

        frame = labels_frame(2)
        return lambda: write_training_labels(frame, path)
    if writer == "eval_scores":
        scores = eval_scores(2)
        return lambda: scores.save(path)
    raise ValueError(f"unknown writer {writer!r}; writers: {', '.join(POINTS)}")


def _model(p: dict[str, Path], point: str) -> None:
    """model.keras: saved (weights of seed 1) when missing; otherwise the existing file is loaded first and its
    weights' digest recorded. Then weights of seed 2 are saved, with the kill armed. Digests go to
    run/model-digests.json, written before the kill is armed."""
    import numpy as np

    from pipeline.training import endmodel

    path = p["run"] / ARTIFACT_FILES["model"]
    model = endmodel.build_model(MODEL_BOOKS)
    digests = {}
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
        digests[f"seed {seed}"] = model_digest(model)
        if seed == 1 and not path.exists():
            endmodel.save_model(model, path)
    digests["loaded before the write"] = model_digest(endmodel.load_model(path))
    (p["run"] / "model-digests.json").write_text(json.dumps(digests), encoding="utf-8")
    if point == "write":
        _kill_in_writes(p["run"])
    elif point == "rename":
        _kill_before_replace()
    endmodel.save_model(model, path)
    if point == "none":
        digests["loaded after the write"] = model_digest(endmodel.load_model(path))
        (p["run"] / "model-digests.json").write_text(json.dumps(digests), encoding="utf-8")


def child_main(writer: str, point: str, workdir: str) -> None:
    """`run` as a child process's target: an exception is written to workdir/child-error.txt (the parent shows
    it; a forked child's stderr goes wherever its server's went) and the exit code is 1."""
    try:
        run(writer, point, workdir)
    except BaseException:
        import traceback

        Path(workdir, "child-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        os._exit(1)


if __name__ == "__main__":
    run(*sys.argv[1:4])
