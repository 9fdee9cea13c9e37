"""Shared fixtures: `make_raw` writes a tiny raw folder (see tests/rawfixtures.py) under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rawfixtures import write_raw


@pytest.fixture
def make_raw(tmp_path: Path):
    """make_raw(books=[...], interactions=[...], reviews=[...], generated=None, name="raw") -> the folder."""

    def make(*, name: str = "raw", **files) -> Path:
        return write_raw(tmp_path / name, **files)

    return make


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory) -> Path:
    """A generated `small`-scale dataset, prepared once per test session: the processed folder."""
    from pipeline.ensure import ensure_data

    data = tmp_path_factory.mktemp("small-data")
    ensure_data(data, scale="small", seed=0)
    return data / "processed"


from tests.workbench_fixtures import apptest, workbench_data, workbench_template  # noqa: E402, F401
