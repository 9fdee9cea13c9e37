"""Where the workbench's data lives and the cached, read-only objects every page shares.

The data folder is `--data DIR` after `--` on the streamlit command line, else $LF_WORKBENCH_DATA, else `data`.
Cached objects are keyed on the prepared dataset's fingerprint, so preparing new data invalidates them. They are
read-only (st.cache_resource is shared by all sessions): per-user state lives in st.session_state (state.py).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import streamlit as st

from lfs.store import ConfigStore
from lfs.workspace import Split, open_split
from pipeline.data.dataset import PreparedData, load_prepared
from pipeline.data.prepare import MANIFEST_FILE
from pipeline.runs.registry import Registry
from workbench.app_args import app_args

DATA_ENV = "LF_WORKBENCH_DATA"
SETUP_HINT = ("Create it with `make run` (synthetic seed-scale data), or `python -m pipeline ensure-data --data "
              "{data}` (add `--scale tiny` for a quick look); to use the real Goodreads files see the README.")


def data_dir() -> Path:
    return Path(app_args().data or os.environ.get(DATA_ENV) or "data")


def processed_dir() -> Path:
    return data_dir() / "processed"


_manifests: dict[str, tuple[tuple, str]] = {}  # manifest path -> (its stat key, its fingerprint)
_manifests_lock = threading.Lock()


def _read_fingerprint(path: Path) -> str:
    """The fingerprint in the manifest at `path`, read again only when the file changed on disk (its device
    and inode, mtime or size), so the many calls of one page run cost a stat each."""
    st_ = path.stat()
    stamp = (st_.st_dev, st_.st_ino, st_.st_mtime_ns, st_.st_size)
    with _manifests_lock:
        cached = _manifests.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    value = json.loads(path.read_text(encoding="utf-8"))["fingerprint"]
    with _manifests_lock:
        _manifests[str(path)] = (stamp, value)
    return value


def fingerprint() -> str:
    """The prepared dataset's fingerprint; stops the page with a setup hint when there is none."""
    path = processed_dir() / MANIFEST_FILE
    try:
        return _read_fingerprint(path)
    except FileNotFoundError:
        st.error(f"No prepared data in `{processed_dir()}`. " + SETUP_HINT.format(data=data_dir()))
    except (ValueError, KeyError) as e:
        st.error(f"`{path}` is damaged ({e}). Prepare it again: `python -m pipeline prepare --force`.")
    st.stop()


@st.cache_resource(max_entries=2, show_spinner="Loading the prepared dataset…")
def _prepared(processed: str, fingerprint: str) -> PreparedData:  # noqa: ARG001 (fingerprint keys the cache)
    return load_prepared(processed)


def prepared() -> PreparedData:
    fp = fingerprint()
    try:
        return _prepared(str(processed_dir()), fp)
    except (OSError, ValueError) as e:
        st.error(f"Cannot load the prepared data: {e}")
        st.stop()


@st.cache_resource(max_entries=6, show_spinner="Computing review features (once per dataset)…")
def _split(processed: str, fingerprint: str, name: str) -> Split:
    return open_split(_prepared(processed, fingerprint), name)


def split(name: str) -> Split:
    """A split wrapped for the LF engine. Its memoised LF columns are keyed by spec hash, so sharing is safe."""
    fp = fingerprint()
    prepared()  # surfaces load errors on the page
    return _split(str(processed_dir()), fp, name)


@st.cache_resource(max_entries=4)
def _store(root: str) -> ConfigStore:
    return ConfigStore.open(root)


def store() -> ConfigStore:
    """The versioned LF config store of this data folder (seeded with lfs/default.toml on first use)."""
    return _store(str(data_dir() / "lf_configs"))


@st.cache_resource(max_entries=4)
def _registry(data: str) -> Registry:
    return Registry.for_data(data)


def registry() -> Registry:
    """The run registry of this data folder; one object per folder, so its schema is checked once per process."""
    return _registry(str(data_dir()))
