"""Drawing one finished run: test metrics beside the baselines and the previous run, label model against majority
vote, LF weights against empirical accuracy, training curves, or why it failed.

Every function takes the registry and a Run (or run ids) and nothing from the session, so the Train and Runs pages
draw runs the same way. Each section sits in a container keyed with the run id (``run-<id>-metrics``,
``run-<id>-label-model``, ``run-<id>-curves``), so browser tests find it and several runs can share a page.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from pipeline.runs import comparisons
from pipeline.runs.registry import Registry, Run, RunNotFound
from pipeline.runs.summary import fmt_time, promotion_outcome
from workbench.charts import training as charts


def previous_succeeded(registry: Registry, run: Run) -> Run | None:
    """The newest succeeded run before `run` on the same dataset (the one its metrics are compared with)."""
    for other in registry.list(status="succeeded"):
        if other.id < run.id and other.dataset_fingerprint == run.dataset_fingerprint:
            return other
    return None


def model_in_use(registry: Registry, run: Run | None = None) -> str:
    """A sentence naming the model in use and why it is (pipeline.runs.promotion), "still" when `run` did not
    replace it, followed by `run`'s promotion outcome when it succeeded without being promoted."""
    found = registry.model_in_use()
    if found is None:
        return "No model is in use yet: the Recommend page needs a succeeded run."
    current, reason = found
    still = " still" if run is not None and current.id != run.id else ""
    text = f"The model in use is{still} run {current.id} ({reason}; finished {fmt_time(current.finished_at)} UTC)."
    outcome = promotion_outcome(registry.results(run.id)) if still and run.status == "succeeded" else None
    return text + (f" Run {run.id}: {outcome}." if outcome else "")


def metrics_section(registry: Registry, run: Run, previous: Run | None | bool = True) -> None:
    """Our model's key figures with their change since the previous run, every contender's figures with their
    95% intervals (the previous run's model as the last row), our model's delta to each contender and to the
    previous run with its interval, marked "not significant" where the interval covers 0, and a chart of the
    figures with their intervals.

    `previous`: True takes the run this run compared itself with (else the previous succeeded run on the same
    data); a Run compares with that one; None or False with none."""
    with st.container(key=f"run-{run.id}-metrics"):
        _metrics(registry, run, previous)


def previous_run(registry: Registry, run: Run, metrics: dict | None) -> Run | None:
    """The run `run`'s metrics name as the previous one, else the newest succeeded run before it on its data."""
    recorded = comparisons.previous_run_id(metrics)
    if recorded is not None:
        try:
            return registry.get(recorded)
        except RunNotFound:
            pass
    return previous_succeeded(registry, run)


def _metrics(registry: Registry, run: Run, previous: Run | None | bool) -> None:
    metrics = registry.results(run.id).get("metrics")
    if not metrics or not metrics.get("contenders"):
        st.info(f"Run {run.id} recorded no test metrics.")
        return
    if previous is True:
        previous = previous_run(registry, run, metrics)
    before = registry.results(previous.id).get("metrics") if previous else None
    label = f"run {previous.id} (our model)" if previous else "previous run"
    if previous and previous.id != comparisons.previous_run_id(metrics) and "deltas" in metrics:
        # the run's recorded "previous" delta is to another run: leave it out
        metrics = {**metrics, "deltas": {k: v for k, v in metrics["deltas"].items() if k != comparisons.PREVIOUS}}
    deltas = comparisons.delta_frame(metrics, before, label)
    since = deltas[deltas["key"] == comparisons.PREVIOUS]
    intervals = {r.metric: (r.lo, r.hi, r.significant) for r in since.itertuples() if r.significant is not None}
    figures = charts.metric_deltas(metrics, before, intervals=intervals)
    for col, figure in zip(st.columns(len(figures)) if figures else [], figures, strict=True):
        col.metric(figure["title"], f"{figure['value']:.4f}", charts.delta_label(figure),
                   delta_color="inverse" if figure["lower_is_better"] else "normal",
                   help=_card_help(figure, previous))
    with_intervals = comparisons.has_intervals(metrics)
    st.markdown("**Every contender on test**" + (" (95% interval in brackets)" if with_intervals else ""))
    st.dataframe(charts.metrics_frame(metrics, before, label), key=f"run-{run.id}-metric-table")
    notes = []
    lf_only = metrics["contenders"].get("lf_only", {})
    if "coverage" in lf_only:
        notes.append(f"LF-only is scored on the {lf_only['coverage']:.1%} of labelled test rows some LF votes on.")
    if metrics.get("test_rows"):
        notes.append(f"{metrics['test_rows']:,} test rows (labelled rows plus one random negative per positive), "
                     f"{metrics.get('ranking_cases', 0):,} ranking cases (a liked book against 100 unseen ones).")
    if notes:
        st.caption(" ".join(notes))
    st.markdown("**Our model's delta to each contender** (ours − other: positive when ours is ahead)")
    st.dataframe(charts.deltas_frame(deltas), key=f"run-{run.id}-delta-table")
    reasons = [r for r in charts.delta_notes(deltas) if r != comparisons.PREDATES]
    st.caption(" ".join(_sentence(text) for text in [comparisons.bootstrap_note(metrics), *reasons]))
    st.altair_chart(charts.interval_chart(metrics))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _card_help(figure: dict, previous: Run | None) -> str:
    if not previous:
        return "our model on test (no earlier succeeded run to compare with)"
    text = f"our model on test; the change is since run {previous.id}"
    if figure["interval"] is not None:
        lo, hi = figure["interval"]
        text += (f", 95% interval [{lo:+.4f}, {hi:+.4f}]: "
                 + ("significant" if figure["significant"] else "not significant (it covers 0)"))
    return text


def label_model_section(registry: Registry, run: Run) -> None:
    """The label model against majority vote on dev, and its LF weights against each LF's empirical accuracy."""
    report = registry.results(run.id).get("label_model")
    if not report:
        st.info(f"Run {run.id} recorded no label model report.")
        return
    left, right = st.container(key=f"run-{run.id}-label-model").columns([2, 3])
    left.markdown("**Label model against majority vote** (dev)")
    left.dataframe(charts.label_model_frame(report),
                   column_config={"coverage": st.column_config.NumberColumn(format="percent")})
    left.caption("Accuracy and F1 over the dev rows each votes on (ties abstain); coverage is the share of dev "
                 "rows with a vote.")
    if report.get("note"):  # too few LFs for snorkel's LabelModel: majority vote stood in
        left.warning(f"{report['note']}.")
    right.altair_chart(charts.weights_chart(report), use_container_width=True)
    missing = charts.weights_frame(report).query("emp_acc.isna()", engine="python")["lf"].tolist()
    if missing:
        right.caption("Not drawn (no labelled dev row to measure accuracy on): " + ", ".join(missing))


def curves_section(registry: Registry, run_ids: Sequence[int], key: str | None = None) -> None:
    """Loss and ROC-AUC per epoch of each model (train solid, val dashed); several runs are overlaid."""
    epochs = charts.runs_epochs({run_id: registry.epochs(run_id) for run_id in run_ids})
    if epochs.empty:
        st.caption("No epoch logged yet.")
        return
    key = key or "runs-" + "-".join(str(i) for i in run_ids)
    columns = st.container(key=f"{key}-curves").columns(len(charts.CURVE_FIGURES))
    for col, figure in zip(columns, charts.CURVE_FIGURES, strict=True):
        col.altair_chart(charts.curve_chart(epochs, figure), use_container_width=True)


def failure_section(registry: Registry, run: Run) -> None:
    """Why a run did not succeed (its error text) and which model is still in use."""
    if run.status == "failed":
        st.error(f"Run {run.id} failed during stage {run.stage or '-'}.")
    else:
        st.warning(f"Run {run.id} was {run.status} during stage {run.stage or '-'}.")
    if run.error:
        with st.expander("Error" if run.status == "failed" else "Reason", expanded=run.status == "failed"):
            st.code(run.error, language=None)
    st.info(model_in_use(registry, run))


def results_section(registry: Registry, run: Run) -> None:
    """Everything about a succeeded run's results (a failed or cancelled one: `failure_section`)."""
    if run.status != "succeeded":
        failure_section(registry, run)
        return
    st.caption(model_in_use(registry, run))
    st.subheader("Test metrics")
    metrics_section(registry, run)
    st.subheader("Label model")
    label_model_section(registry, run)
    st.subheader("Training curves")
    curves_section(registry, [run.id], key=f"run-{run.id}")
    seconds = (registry.results(run.id).get("metrics") or {}).get("stage_seconds")
    if seconds:
        st.caption("Seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
                   + f"; total {sum(seconds.values()):.1f}.")
