"""Widgets more than one page draws: the sidebar, one-shot messages, label names, escaped text."""

from __future__ import annotations

import streamlit as st

from lfs.spec import LABEL_NAMES
from workbench import context, state


def label_name(label: int) -> str:
    return LABEL_NAMES.get(int(label), str(label))


def sidebar() -> None:
    """Which data the workbench shows and which LF config version is being edited."""
    with st.sidebar:
        prepared = context.prepared()
        source = prepared.manifest.get("source", "?")
        generator = prepared.manifest.get("generator") or {}
        what = f"synthetic, {generator.get('scale', '?')} scale" if source == "synthetic" else "real Goodreads files"
        rows = {name: len(df) for name, df in prepared.splits.items()}
        st.markdown(f"**Data** · {what}")
        st.caption(" · ".join(f"{name} {n:,}" for name, n in rows.items()) + f" rows · `{context.data_dir()}`")
        store = context.store()
        cfg = state.working(store)
        mark = " · **unsaved changes**" if state.is_dirty(store) else ""
        st.markdown(f"**LF config** · v{state.base_version()} of {store.latest()}{mark}")
        st.caption(f"{len(cfg.enabled())} of {len(cfg)} LFs enabled")


def show_flash() -> None:
    """A message left by a callback for the next run (a save, a restore), shown once."""
    message = state.pop_flash()
    if message:
        kind, text = message
        getattr(st, kind, st.info)(text)
