"""Data for the workbench's tests: the session's tiny dataset with one hostile review planted in dev.

`workbench_template` builds it once per session (features computed too); `workbench_data` copies it per test, so
a test can save LF versions and start runs without touching another test's data. `apptest` opens the app on it.
`trained_workbench` (the template with one succeeded retrain) and `trained_two_runs` (then a second one without
tests.runs_fixtures.REMOVED) are built once per session on the background thread (tests/session_data.py); tests
read them through private copies.
"""

from __future__ import annotations

import gzip
import json
import shutil
from concurrent.futures import Future
from pathlib import Path

import pytest

from pipeline.data.files import MARKER_FILE, sha256_file
from tests.session_data import WAIT_SECONDS

# A dev review that must render as text: markup, a script and a keyword the default LFs match ("5 stars").
HOSTILE_REVIEW = ("Loved it <img src=x onerror=alert(1)> and <script>alert('xss')</script> & 5 stars, "
                  "a wonderful, beautiful, perfect book.")
REVIEWS_FILE = "goodreads_reviews_young_adult.json.gz"
APP = "workbench/entry/app.py"
APP_TIMEOUT = 120  # seconds per AppTest run: the first run imports TensorFlow-heavy modules


def _plant_review(data: Path) -> tuple[str, str]:
    """Rewrite the review of one dev row with a review to HOSTILE_REVIEW; return its (user_id, book_id)."""
    from pipeline.data.dataset import load_prepared

    prepared = load_prepared(data / "processed")
    dev = prepared.splits["dev"]
    row = dev[dev["review_text"].notna()].iloc[0]
    user_id = prepared.users.loc[row["user_idx"], "user_id"]
    book_id = prepared.books.loc[row["book_idx"], "book_id"]
    path = data / "raw" / REVIEWS_FILE
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    out = []
    for line in lines:
        review = json.loads(line)
        if review["user_id"] == user_id and review["book_id"] == book_id:
            review["review_text"] = HOSTILE_REVIEW
        out.append(json.dumps(review))
    path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode("utf-8")))
    # Record the edit in GENERATED.json, so prepare still takes the folder for synthetic data (not real files).
    marker_path = data / "raw" / MARKER_FILE
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    marker["files"][REVIEWS_FILE] = sha256_file(path)
    marker_path.write_text(json.dumps(marker), encoding="utf-8")
    return user_id, book_id


@pytest.fixture(scope="session")
def workbench_template(tiny_data: Path, tmp_path_factory) -> Path:
    """A data folder (raw/, processed/ with features) at tiny scale, with HOSTILE_REVIEW in dev: the session's
    tiny raw files (seed 0) with the review planted, prepared."""
    from lfs.features import load_all_features
    from pipeline.data.dataset import load_prepared
    from pipeline.data.prepare import prepare

    data = tmp_path_factory.mktemp("workbench-data") / "data"
    shutil.copytree(tiny_data / "raw", data / "raw")
    shutil.copytree(tiny_data / "processed", data / "processed")  # _plant_review reads the rows of dev from it
    _plant_review(data)
    prepare(data / "raw", data / "processed", force=True)
    load_all_features(load_prepared(data / "processed"))
    return data


@pytest.fixture(scope="session")
def trained_workbench_build(background, workbench_template: Path, tmp_path_factory) -> Future:
    """Starts building `trained_workbench` on the background thread."""
    from tests.runs_fixtures import copy_folder, retrain

    dest = tmp_path_factory.mktemp("trained-one-run") / "data"

    def build() -> Path:
        copy_folder(workbench_template, dest)
        retrain(background, dest, note="run 1")
        return dest

    return background.submit("trained_workbench", build)


@pytest.fixture(scope="session")
def trained_workbench(trained_workbench_build: Future) -> Path:
    """The workbench template with run 1: a succeeded retrain of the default LF config (tests.runs_fixtures.FAST),
    note "run 1". Read-only: copy it (tests.runs_fixtures.copy_folder)."""
    return trained_workbench_build.result(timeout=WAIT_SECONDS)


@pytest.fixture(scope="session")
def trained_two_runs_build(background, trained_workbench_build: Future, tmp_path_factory) -> Future:
    """Starts building `trained_two_runs` on the background thread (after `trained_workbench`)."""
    from lfs.config import load_default
    from tests.runs_fixtures import REMOVED, copy_folder, retrain

    dest = tmp_path_factory.mktemp("trained-two-runs") / "data"

    def build() -> Path:
        copy_folder(trained_workbench_build.result(), dest)  # submitted before this build: done by now
        retrain(background, dest, config=load_default().remove(REMOVED), note="run 2")
        return dest

    return background.submit("trained_two_runs", build)


@pytest.fixture(scope="session")
def trained_two_runs(trained_two_runs_build: Future) -> Path:
    """`trained_workbench` with run 2: a succeeded retrain without tests.runs_fixtures.REMOVED, note "run 2".
    Read-only: copy it."""
    return trained_two_runs_build.result(timeout=WAIT_SECONDS)


@pytest.fixture
def workbench_data(workbench_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template data folder for one test."""
    data = tmp_path / "data"
    shutil.copytree(workbench_template, data, symlinks=True)
    return data


@pytest.fixture
def apptest(workbench_data: Path, monkeypatch):
    """An AppTest of the workbench on `workbench_data`, with Streamlit's caches cleared; call .run() yourself."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from workbench.context import DATA_ENV

    monkeypatch.setenv(DATA_ENV, str(workbench_data))
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(APP, default_timeout=APP_TIMEOUT)
