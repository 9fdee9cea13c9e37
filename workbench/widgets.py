"""Widgets more than one page draws: the sidebar, one-shot messages, label names, escaped text."""

from __future__ import annotations

import streamlit as st

from lfs.spec import LABEL_NAMES
from workbench import context, state


def label_name(label: int) -> str:
    return LABEL_NAMES.get(int(label), str(label))


def lf_status(store) -> tuple[str, str]:
    """The sidebar's LF config lines: the version edited, whether it has unsaved changes, the LFs enabled."""
    cfg = state.working(store)
    mark = " · **unsaved changes**" if state.is_dirty(store) else ""
    return (f"**LF config** · v{state.base_version()} of {store.latest()}{mark}",
            f"{len(cfg.enabled())} of {len(cfg)} LFs enabled")


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
        config, enabled = st.session_state[state.SIDEBAR_SHOWN] = lf_status(context.store())
        st.markdown(config)
        st.caption(enabled)


def frame_is_stale() -> bool:
    """True when what the app's frame shows is out of date after a fragment's own rerun (a fragment redraws only
    itself): the sidebar's LF config lines changed (the first edit, a save, a switch), or a message waits to be
    shown at the top of the page. The fragment then reruns the whole app."""
    return (st.session_state.get(state.FLASH) is not None
            or st.session_state.get(state.SIDEBAR_SHOWN) != lf_status(context.store()))


def show_flash() -> None:
    """A message left by a callback for the next run (a save, a restore), shown once."""
    message = state.pop_flash()
    if message:
        kind, text = message
        getattr(st, kind, st.info)(text)
