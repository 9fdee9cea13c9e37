"""Runs: every retrain with its status, LF config version, key metrics and the baselines' HR@10; impact studies
(retrain without each LF: start one, follow or cancel it, read its deltas); open one run (its results with
intervals, its LF config into the editor, its files), or put two side by side (LF config diff, metric deltas with
paired-bootstrap intervals, training curves); promote a run to the model in use, or roll back."""

import streamlit as st

from workbench import context, nav, run_results, state
from workbench import runs_view as view

st.title("Runs")
registry, store = context.registry(), context.store()
runs = registry.list(limit=200)
if not runs:
    st.info("No runs yet. Start one on the Train page: it trains the label model and the recommender on the LF "
            "config being edited and records the run here.")
    st.page_link(nav.TRAIN, label="Go to Train", icon=":material/model_training:")
    st.stop()

versions = view.versions_by_key(store)
view.runs_table(view.runs_frame(runs, registry, versions))
st.caption("✓ marks the model in use (the Recommend page's). "
           "Figures are our model's on the test rows (HR@10 with its 95% interval), then the baselines' HR@10. "
           "LF config: the saved version the run used, or \"unsaved\" "
           "and its hash when that config was never saved.")

st.subheader("Impact studies")
view.start_study_button(registry, store, runs[0])
group = view.pick_study(registry)
if group is not None and group.is_active:
    view.live_study(group.id)
elif group is not None:
    view.study_table(registry, group)

st.subheader("Two runs side by side")
pair = view.pick_two(runs)
if pair:
    cmp = view.comparison(registry, *pair)
    if not cmp.same_dataset:
        st.warning("The two runs were trained on different prepared data: their metrics are not on the same rows.")
    pair = view.paired(cmp)
    view.key_metric_deltas(cmp, pair)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**LF config**, run {cmp.a.id} → run {cmp.b.id}")
        view.config_diff(cmp)
        st.markdown("**Training parameters that differ**")
        view.params_table(cmp)
    with right:
        st.markdown("**Test metrics** (delta = B − A, with its 95% interval)")
        view.metric_deltas_table(cmp, pair)
    st.markdown("**Training curves**, both runs overlaid")
    run_results.curves_section(registry, [cmp.a.id, cmp.b.id])

st.subheader("One run")
by_id = {run.id: run for run in runs}
run = by_id[st.selectbox("Run", list(by_id), format_func=lambda i: view.run_label(by_id[i]), key="runs-run")]
left, right = st.columns([2, 1])
with left:
    view.load_config_button(run, store, versions)
with right:
    view.downloads(run)
if not run.is_active:
    view.promotion_controls(registry, run)
if run.is_active:
    st.info(f"Run {run.id} is {run.status} ({run.stage_text()}); follow it on the Train page.")
    if st.button(f"Follow run {run.id} on Train", key="runs-follow", icon=":material/model_training:"):
        st.session_state[state.RUN_ID] = run.id
        st.switch_page(nav.TRAIN)
else:
    run_results.results_section(registry, run)
