"""Train: retrain with the LF config being edited, in one click.

The user sets the label-model, end-model and seed-replica parameters (or keeps the defaults), presses Retrain, and
watches the job's stages, progress and loss curves live; Cancel stops it. When it ends the page shows the test
metrics of our model beside the seed replica, popularity, item-kNN, ALS, LF-only and the previous run, each with
its 95% interval, our model's delta to each (marked "not significant" where its interval covers 0), the label
model beside majority vote, and the LF weights beside their empirical accuracies; or why it failed and which
model is still in use. A refreshed or second tab re-attaches to the running job; only one job runs at a time.
"""

import streamlit as st

from workbench import context, run_results, state, train_view

st.title("Train")
registry = context.registry()
store = context.store()
cfg = state.working(store)
unsaved = " with unsaved changes" if state.is_dirty(store) else ""
st.caption(f"Retrains with the LF config being edited: version {state.base_version()}{unsaved}, "
           f"{len(cfg.enabled())} of {len(cfg)} LFs enabled.")

request = train_view.params_form()
if request is not None:
    train_view.start(registry, cfg, request)
run = train_view.attached_run(registry)
if run is None or run.is_active:  # a finished run's section names the model in use itself
    st.caption(run_results.model_in_use(registry))
train_view.other_active(registry, run)
train_view.show(registry, run)
