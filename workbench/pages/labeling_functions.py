"""Labeling functions: edit the LFs (thresholds, keyword rules, switches), add or delete one, and see on dev at
once how each does against the saved version; open the rows behind a figure; get suggestions of LFs to add,
autotune thresholds, see what each LF adds; save, restore and compare versions."""

import streamlit as st

from lfs.store import ConfigStore
from lfs.workspace import Split
from workbench import context, lf_assist, lf_editor, lf_views, state


# The editors and everything an edit changes form one fragment: an edit reruns only it, not the app's frame, the
# title and the version history. When the frame's sidebar goes out of date, the fragment reruns the whole app.
@st.fragment
def live(store: ConfigStore, split: Split) -> None:
    lf_views.follow_up()
    cfg, base = state.working(store), state.base_version()
    lf_views.save_bar(store, cfg)

    now = lf_views.analysis(split, cfg.enabled())
    saved = lf_views.analysis(split, store.load(base).enabled())
    st.caption(f"Live on the dev split ({split.data.n:,} rows, {now.totals.get('labelled', 0):,} with gold); "
               f"changes are against saved version {base}.")
    if cfg.enabled():
        lf_views.totals(now, saved, base)
        lf_views.summary_table(now, saved, base)
    else:
        st.info("No LF is enabled: switch one on or add one below.")

    edit, look = st.columns([3, 2], gap="medium")
    with edit:
        for spec in cfg:
            with st.container(border=True, key=f"lf-{spec.name}"):
                lf_editor.editor(spec, split)
                if spec.enabled:
                    lf_views.lf_stats(spec.name, now, saved, base)
        with st.container(border=True, key="add-lf"):
            lf_editor.add_form()
    with look:
        lf_views.charts_panel(cfg, now, split)
    if st.session_state.get(state.ASSIST_SHOW):
        lf_assist.panel(cfg, split)


st.title("Labeling functions")
# outside the live part: switching it on or off reruns the whole page, the label-model impact below included
assist = st.toggle("Suggest LFs and show what each LF adds", key=state.ASSIST_SHOW)
live(context.store(), context.split(lf_views.SPLIT))
if assist:
    lf_assist.lm_impact_section(state.working(context.store()), context.split(lf_views.SPLIT))
st.subheader("Versions")
lf_views.versions(context.store())
