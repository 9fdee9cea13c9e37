"""Every session-state key the workbench reads or writes through st.session_state, spelled once, and the
per-session LF working copy. (Keys of widgets whose value is only taken from the widget call, buttons and
containers, stay beside their widget: nothing else spells them.)

A session edits one working LFConfig (`WORKING`), which started from store version `BASE`. Editor widgets carry
the generation `GEN` in their keys: loading another config bumps it, so every widget re-reads its value instead of
keeping what was typed for the previous one.
"""

from __future__ import annotations

import streamlit as st

from lfs.config import LFConfig
from lfs.store import ConfigStore

# LF editing (Labeling functions page; read by Examples and Train)
WORKING = "lf_working"  # LFConfig being edited in this session
BASE = "lf_base_version"  # store version the working copy started from
GEN = "lf_widget_gen"  # editor widget generation (see module docstring)
LF_ERRORS = "lf_errors"  # {LF name: message} of the last rejected edit, shown inline under that LF
SELECTED_LF = "lf_selected"  # LF whose sweep / keyword chart is drawn
LF_ADD_ERROR = "lf_add_error"  # message of the last rejected "add LF", shown under the add form
LF_CONFLICT = "lf_conflict"  # (base, latest) of a save refused as stale, shown until reloaded or dismissed
FLASH = "flash"  # (kind, message) shown once at the top of the next run, e.g. after a save
SIDEBAR_SHOWN = "sidebar_lf_status"  # the sidebar's LF config lines as last drawn (widgets.frame_is_stale)
INSPECT_PENDING = "lf_inspect_pending"  # ExampleFilter of a figure clicked on the LF page, opened on its next run
CHART_LF = "chart-lf"  # the "LF to look into" selectbox (copied to SELECTED_LF)
SAVE_NOTE = "save-note"  # note typed for the next saved version
RESTORE_VERSION = "restore-version"  # store version picked to restore
# the "add an LF" form's fields
ADD_NAME, ADD_TEMPLATE, ADD_FEATURE, ADD_OP, ADD_VALUE, ADD_LABEL = (
    "add-name", "add-template", "add-feature", "add-op", "add-value", "add-label")
ADD_FIELD, ADD_MATCH, ADD_KW_LABEL, ADD_KEYWORDS = "add-field", "add-match", "add-kw-label", "add-keywords"

# LF suggestions, autotune and impact (lf_assist.py; the autotune button sits in each threshold LF's editor)
ASSIST_SHOW = "assist-show"  # the toggle that shows suggestions and impact
ASSIST_MIN_LIFT, ASSIST_CHECK_FLOOR = "assist-min-lift", "assist-check-floor"
ASSIST_OBJECTIVE, ASSIST_MIN_COVERAGE, ASSIST_MIN_ACCURACY = (
    "assist-objective", "assist-min-coverage", "assist-min-accuracy")
ASSIST_TARGET = "assist-target"  # where a keyword suggestion goes: a new LF or a rule of a keyword LF
SUGGESTIONS = "assist-suggestions"  # the suggestions last shown (their Add buttons read them)
AUTOTUNED = "assist-autotuned"  # {LF name: the value autotune set}, marked on the sweep chart
LM_IMPACT = "assist-lm-impact"  # the label-model impact task of this session (lf_assist.ImpactTask)

# Examples page
EX_FILTER = "examples_filter"  # ExampleFilter handed over from a click on the LF page
EX_PAGE = "examples_page"

# Train / Runs / Recommend pages
RUN_ID = "train_run_id"  # the run this session follows (also in st.query_params["run"])
STUDY = "runs-study"  # the impact study the Runs page shows (its selectbox; set to a study just started)


def working(store: ConfigStore) -> LFConfig:
    """This session's working config; on first use the store's latest version."""
    if WORKING not in st.session_state:
        latest = store.latest()
        load_into_editor(store.load(latest), latest)
    return st.session_state[WORKING]


def base_version() -> int:
    return st.session_state[BASE]


def set_working(cfg: LFConfig) -> None:
    """Replace the working copy after an edit made through the editor's own widgets."""
    st.session_state[WORKING] = cfg


def load_into_editor(cfg: LFConfig, base: int) -> None:
    """Make `cfg` the working copy (a restore, a run's config): editor widgets start over from it."""
    st.session_state[WORKING] = cfg
    st.session_state[BASE] = base
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1
    st.session_state[LF_ERRORS] = {}


def generation() -> int:
    return st.session_state.get(GEN, 0)


def is_dirty(store: ConfigStore) -> bool:
    """True when the working copy differs from the version it started from."""
    return working(store).key != store.info(base_version()).key


def flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def pop_flash() -> tuple[str, str] | None:
    return st.session_state.pop(FLASH, None)
