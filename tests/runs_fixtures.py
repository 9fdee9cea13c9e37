"""Real retrains for the Runs and Recommend page tests: `python -m pipeline retrain` on the tiny workbench data, as
its own job process (snorkel's LabelModel, both TensorFlow models, the SQLite registry), with small epoch and
replica settings so a run takes seconds.

A test module builds its trained data once (`trained_folder`, in a module-scoped fixture) and hands each test a
private copy (`copy_folder`), so tests may save LF versions or delete files without touching each other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lfs.config import LFConfig, dumps_config
from pipeline.registry import Registry

FAST = ("--epochs", "2", "--lm-epochs", "200", "--replica-steps", "3", "--replica-epochs", "2")


def retrain(data: Path, *, config: LFConfig | None = None, note: str = "") -> int:
    """Run one real retrain on `data` (the default LF config, or `config`); return its run id, which succeeded."""
    from pipeline.cli import main

    args = ["retrain", "--data", str(data), *FAST, "--note", note]
    if config is not None:
        path = data / f"config-{len(Registry.for_data(data).list())}.toml"
        path.write_text(dumps_config(config), encoding="utf-8")
        args += ["--config", str(path)]
    assert main(args) == 0, f"retrain failed; see {data / 'runs'}"
    run = Registry.for_data(data).list(limit=1)[0]
    assert run.status == "succeeded", run.error
    return run.id


def trained_folder(template: Path, dest: Path, configs: list[LFConfig | None]) -> Path:
    """A copy of the `template` data folder with one succeeded run per entry of `configs` (None: the default)."""
    data = copy_folder(template, dest)
    for n, config in enumerate(configs, start=1):
        retrain(data, config=config, note=f"run {n}")
    return data


def copy_folder(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest
