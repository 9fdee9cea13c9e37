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
