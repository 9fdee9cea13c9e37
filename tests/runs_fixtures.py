"""Real retrains for the Runs, Recommend and Train page tests: `python -m pipeline retrain` on the tiny workbench
data, as its own job process (snorkel's LabelModel, both TensorFlow models, the SQLite registry), with small epoch
and replica settings so a run takes seconds.

The trained data folders are built once per session, on the background thread of tests/session_data.py
(`trained_workbench`: one run of the default LF config; `trained_two_runs`: then a second run without REMOVED; see
tests/workbench_fixtures.py). They are read-only: a test takes a private copy (`copy_folder`), so it may save LF
versions or delete files without touching another test's data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lfs.config import LFConfig, dumps_config
from pipeline.runs.registry import Registry
from tests.session_data import Background, log_tail, python

FAST = ("--epochs", "2", "--lm-epochs", "200", "--replica-steps", "3", "--replica-epochs", "2")
REMOVED = "polarity_negative"  # the LF the second run of `trained_two_runs` trains without


def retrain_args(data: Path, *, config: LFConfig | None = None, note: str = "") -> list[str]:
    """The arguments of `python -m pipeline retrain` for one run on `data` (the default LF config, or `config`,
    written into the data folder)."""
    args = ["retrain", "--data", str(data), *FAST, "--note", note]
    if config is not None:
        path = data / f"config-{len(Registry.for_data(data).list())}.toml"
        path.write_text(dumps_config(config), encoding="utf-8")
        args += ["--config", str(path)]
    return args


def retrain(background: Background, data: Path, *, config: LFConfig | None = None, note: str = "") -> int:
    """Run one real retrain on `data` with `python -m pipeline retrain` (from the background thread); return its
    run id, which succeeded."""
    log = data.parent / f"retrain-{note.replace(' ', '-') or 'run'}.log"
    code = background.run(python("-m", "pipeline", *retrain_args(data, config=config, note=note)), log, data=data)
    assert code == 0, f"retrain failed (exit {code}); see {data / 'runs'}:\n{log_tail(log)}"
    run = Registry.for_data(data).list(limit=1)[0]
    assert run.status == "succeeded", run.error
    return run.id


def copy_folder(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


# Impact studies (tests/test_study.py): the fastest retrain settings a run on tiny data takes, and a config of three
# enabled LFs (4 runs).
STUDY_FAST = ("--epochs", "1", "--lm-epochs", "100", "--replica-steps", "1", "--replica-epochs", "1")
STUDY_OFF = ("shared_first_author", "subjectivity_positive")  # switched off in `study_config`


def study_config() -> LFConfig:
    """The default LF config with STUDY_OFF switched off: three enabled LFs, two disabled."""
    import dataclasses

    from lfs.config import load_default

    config = load_default()
    for name in STUDY_OFF:
        config = config.replace(name, dataclasses.replace(config.get(name), enabled=False))
    return config
