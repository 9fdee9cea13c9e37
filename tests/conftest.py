"""Shared fixtures.

- `make_raw` writes a tiny raw folder (see tests/rawfixtures.py) under the test's tmp_path.
- `tiny_data`: the session's tiny dataset (generated with TINY_SEED and prepared once); `tiny_processed` its
  processed folder. Read-only: a test that writes into a data folder (a features or contender cache, a retrain)
  takes a copy, `tiny_copy` (per test) or tests.runs_fixtures.copy_folder (per module). A session that changed it
  ends with an error naming the changed files.
- `small_prepared`: the `small`-scale dataset, prepared once per session; `small_seed_votes` the tutorial's LFs
  (tests/seed_lfs.py) run through snorkel on its dev, val and test rows, once per session.
- `e2e_trained`, `e2e_second_run`: the two CLI retrains of tests/test_retrain_e2e.py.
- `background`: the thread that builds expensive session data beside the tests (tests/session_data.py): the
  fixtures above (except the tiny dataset) and the trained workbench data (tests/workbench_fixtures.py). At the
  start of the session, `_start_background_builds` starts the builds of BACKGROUND_BUILDS that collected tests
  read, so they are ready (or nearly) when the first of those tests runs.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.rawfixtures import write_raw
from tests.session_data import WAIT_SECONDS, Background, log_tail, python

TINY_SEED = 0  # the seed of the session's tiny dataset (the workbench's data is made from it too)
# Session data built on the background thread, in the order the test files read it: {fixture: its build fixture}.
BACKGROUND_BUILDS = {"trained_workbench": "trained_workbench_build", "trained_two_runs": "trained_two_runs_build",
                     "small_prepared": "small_prepared_build", "small_seed_votes": "small_seed_votes_build",
                     "e2e_trained": "e2e_trained_build", "e2e_second_run": "e2e_second_run_build"}


@pytest.fixture
def make_raw(tmp_path: Path):
    """make_raw(books=[...], interactions=[...], reviews=[...], generated=None, name="raw") -> the folder."""

    def make(*, name: str = "raw", **files) -> Path:
        return write_raw(tmp_path / name, **files)

    return make


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The session's tiny dataset: a data folder with raw/ (generated, seed TINY_SEED) and processed/ (prepared,
    no features computed). Read-only; a test that writes takes a copy (`tiny_copy`)."""
    from pipeline.data.ensure import ensure_data

    data = tmp_path_factory.mktemp("tiny-data") / "data"
    ensure_data(data, scale="tiny", seed=TINY_SEED)
    before = _snapshot(data)
    yield data
    after = _snapshot(data)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a test wrote into the shared tiny dataset (use a copy: tiny_copy): {changed}"


@pytest.fixture(scope="session")
def tiny_processed(tiny_data: Path) -> Path:
    """The processed folder of `tiny_data` (read-only)."""
    return tiny_data / "processed"


@pytest.fixture
def tiny_copy(tiny_data: Path, tmp_path: Path) -> Path:
    """A private copy of `tiny_data` (raw/ and processed/) for one test: tmp_path / "data"."""
    return shutil.copytree(tiny_data, tmp_path / "data", symlinks=True)


# --- session data built in the background -------------------------------------------------------------------


@pytest.fixture(scope="session")
def background():
    builds = Background()
    yield builds
    builds.close()


@pytest.fixture(scope="session", autouse=True)
def _start_background_builds(request, background):
    """Start the background builds that the collected tests read (a session of a few quick tests starts none).
    A build that cannot start (its in-process inputs failed) fails only the tests that read it, later."""
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    for name, build in BACKGROUND_BUILDS.items():
        if name in wanted:
            try:
                request.getfixturevalue(build)
            except Exception:  # pytest keeps the error and raises it again for each test that reads it
                pass


@pytest.fixture(scope="session")
def small_prepared_build(background, tmp_path_factory) -> Future:
    folder = tmp_path_factory.mktemp("small-data")
    cmd = python("-m", "pipeline", "ensure-data", "--data", str(folder / "data"), "--scale", "small", "--seed", "0")

    def build() -> Path:  # ensure_data(DIR, scale="small", seed=0)
        log = folder / "ensure-data.log"
        exit_code = background.run(cmd, log)
        assert exit_code == 0, f"python -m pipeline ensure-data --scale small failed:\n{log_tail(log)}"
        return folder / "data" / "processed"

    return background.submit("small_prepared", build)


@pytest.fixture(scope="session")
def small_prepared(small_prepared_build: Future) -> Path:
    """A generated `small`-scale dataset, prepared once per test session: the processed folder."""
    return small_prepared_build.result(timeout=WAIT_SECONDS)


@pytest.fixture(scope="session")
def small_seed_votes_build(background, small_prepared_build: Future, tmp_path_factory) -> Future:
    folder = tmp_path_factory.mktemp("small-seed-votes")

    def build() -> dict:
        import numpy as np

        out, log = folder / "votes.npz", folder / "seed-lfs.log"
        processed = small_prepared_build.result()  # submitted before this build: done by now
        exit_code = background.run(python("-m", "tests.seed_lfs", str(processed), str(out)), log)
        assert exit_code == 0, f"the tutorial's LFs on `small` failed:\n{log_tail(log)}"
        with np.load(out) as saved:
            return {split: saved[split] for split in saved.files}

    return background.submit("small_seed_votes", build)


@pytest.fixture(scope="session")
def small_seed_votes(small_seed_votes_build: Future) -> dict:
    """{split: label matrix} of the tutorial's LFs (tests/seed_lfs.py) through snorkel's PandasLFApplier on the dev,
    val and test rows of `small_prepared`: tests.seed_lfs.seed_label_matrices, computed once per session. Read-only."""
    return small_seed_votes_build.result(timeout=WAIT_SECONDS)


E2E_FAST = ("--epochs", "2", "--lm-epochs", "200", "--replica-steps", "3", "--replica-epochs", "2")


@pytest.fixture(scope="session")
def e2e_trained_build(background, tiny_data: Path, tmp_path_factory) -> Future:
    """`python -m pipeline retrain --data DATA *E2E_FAST --json --note e2e` on a copy of the tiny dataset, on the
    background thread."""
    data = tmp_path_factory.mktemp("retrain") / "data"

    def build() -> tuple[Path, int]:
        shutil.copytree(tiny_data, data, symlinks=True)
        cmd = python("-m", "pipeline", "retrain", "--data", str(data), *E2E_FAST, "--json", "--note", "e2e")
        return data, background.run(cmd, data.parent / "retrain.log", data=data)

    return background.submit("e2e_trained", build)


@pytest.fixture(scope="session")
def e2e_trained(e2e_trained_build: Future) -> tuple[Path, int]:
    """(data folder, exit code) of the end-to-end retrain of tests/test_retrain_e2e.py. Read-only: copy it."""
    return e2e_trained_build.result(timeout=WAIT_SECONDS)


@pytest.fixture(scope="session")
def e2e_second_run_build(background, e2e_trained_build: Future, tmp_path_factory) -> Future:
    """Then `python -m pipeline retrain --data DATA *E2E_FAST --json --note again` on a copy of that data."""
    folder = tmp_path_factory.mktemp("retrain-again")

    def build() -> tuple[Path, int, str]:
        first, _ = e2e_trained_build.result()  # submitted before this build: done by now
        data = shutil.copytree(first, folder / "data", symlinks=True)
        out = folder / "stdout.json"
        cmd = python("-m", "pipeline", "retrain", "--data", str(data), *E2E_FAST, "--json", "--note", "again")
        code = background.run(cmd, folder / "stderr.log", stdout=out, data=data)
        return data, code, out.read_text(encoding="utf-8")

    return background.submit("e2e_second_run", build)


@pytest.fixture(scope="session")
def e2e_second_run(e2e_second_run_build: Future) -> tuple[Path, int, str]:
    """(data folder, exit code, standard output) of the second retrain of tests/test_retrain_e2e.py, on a copy of
    the data `e2e_trained` left. Read-only: copy it."""
    return e2e_second_run_build.result(timeout=WAIT_SECONDS)


from tests.workbench_fixtures import (  # noqa: E402, F401
    apptest,
    trained_two_runs,
    trained_two_runs_build,
    trained_workbench,
    trained_workbench_build,
    workbench_data,
    workbench_template,
)
