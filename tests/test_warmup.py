"""The launcher's warm-up (workbench.warmup) fills the caches the pages ask for, and never fails the server."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st

from pipeline.data.prepare import MANIFEST_FILE
from workbench import context, warmup


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_warm_up_loads_what_the_first_page_asks_for(tiny_copy, monkeypatch):
    warmup.start(str(tiny_copy)).join()
    processed = str(tiny_copy / "processed")
    fingerprint = context._read_fingerprint(Path(processed) / MANIFEST_FILE)

    def not_again(*args, **kwargs):
        raise AssertionError("the page had to load the data again")

    monkeypatch.setattr(context, "load_prepared", not_again)
    monkeypatch.setattr(context, "open_split", not_again)
    dev = context._split(processed, fingerprint, "dev")  # as context.split("dev") asks, on the page
    assert dev.name == "dev" and dev.data.n == len(context._prepared(processed, fingerprint).splits["dev"])


def test_warm_up_without_data_leaves_it_to_the_page(tmp_path, caplog):
    caplog.set_level("INFO", logger="workbench.warmup")
    warmup.warm(str(tmp_path / "nothing"))
    assert "warm-up skipped" in caplog.text
