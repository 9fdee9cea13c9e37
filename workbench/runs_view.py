"""The Runs page's parts: the table of runs, impact studies, one run (its LF config into the editor, its files), two
runs compared.

The figures come from pipeline.cli.runs (`run_row`, `compare_runs`: what `python -m pipeline runs list|compare`
prints) and pipeline.runs.comparisons (intervals; `paired_run_deltas`: run B - run A with paired-bootstrap intervals);
this module only draws them. A run's LF config is matched to the store version with the same
LFConfig.key; a config never saved as a version shows as "unsaved" with its short hash.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from lfs.config import LFConfig, parse_config
from lfs.store import ConfigStore
from pipeline.runs import comparisons, study
from pipeline.runs.comparisons import RunPairDeltas
from pipeline.runs.registry import Group, GroupInProgress, Registry, Run, RunInProgress
from pipeline.runs.summary import KEY_METRICS, Comparison, compare_runs, promotion_outcome, run_row
from workbench import context, nav, render, state
from workbench.charts import training as charts

# Files a run may have, in the order offered: (artifact key, button label, MIME type).
ARTIFACTS = (("training_labels", "Training labels (parquet)", "application/vnd.apache.parquet"),
             ("model", "Model (.keras)", "application/octet-stream"),
             ("metrics", "Metrics (JSON)", "application/json"))
# Files up to this size are offered for download at once (every rerun of the page reads them); a larger one (a
# seed-scale model or label file) is read only after a "Prepare" click.
DIRECT_DOWNLOAD_BYTES = 2 * 1024 * 1024
METRIC_FORMAT = "%.4f"
IN_USE_MARK = "✓"
PROMOTE_MESSAGE = "runs-promotion-message"  # session key: the outcome of the last Promote or Roll back click


# --------------------------------------------------------------------------------------------------------------
# which store version a run's config is


@st.cache_data(max_entries=256, show_spinner=False)
def config_key(toml_text: str) -> str | None:
    """LFConfig.key of a run's LF config text; None when it no longer parses."""
    try:
        return parse_config(toml_text, source="run").key
    except ValueError:
        return None


def versions_by_key(store: ConfigStore) -> dict[str, int]:
    """LFConfig.key -> the newest store version holding that config (a restore saves an old config again)."""
    return {info.key: info.version for info in reversed(store.history())}


def config_label(run: Run, versions: dict[str, int]) -> str:
    version = versions.get(config_key(run.lf_config_toml))
    return f"v{version}" if version is not None else f"unsaved {run.short_hash}"


# --------------------------------------------------------------------------------------------------------------
# the table


# the baselines whose HR@10 the table shows beside ours
TABLE_BASELINES = ("popularity", "item_knn", "als")


def runs_frame(runs: list[Run], registry: Registry, versions: dict[str, int]) -> pd.DataFrame:
    """One row per run: id, status, in use ("✓" for the model in use), created (UTC), duration (s), LF config,
    note, our key metrics, our HR@10's
    95% interval (blank for a run from before intervals) and the baselines' HR@10 (popularity, item-kNN, ALS;
    empty where a run did not evaluate one)."""
    rows = []
    current = registry.current_model()
    for run in runs:
        metrics = registry.results(run.id).get("metrics")
        row = run_row(run, metrics)
        contenders = (metrics or {}).get("contenders") or {}
        hr = comparisons.interval(metrics, "ours", "hr@10")
        rows.append({"id": row["id"], "status": row["status"] if not run.is_active else f"{run.status} "
                     f"({row['stage']})", "in use": IN_USE_MARK if current is not None and run.id == current.id else "",
                     "created (UTC)": row["created"], "duration": row["duration"],
                     "LF config": config_label(run, versions), "note": row["note"],
                     **{title: row[title] for title, _ in KEY_METRICS},
                     "HR@10 95% interval": comparisons.interval_text(*hr) if hr else "",
                     **{f"{comparisons.CONTENDERS[b]} HR@10": _figure(contenders.get(b, {}).get("hr@10"))
                        for b in TABLE_BASELINES}})
    return pd.DataFrame(rows)


def _figure(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def runs_table(frame: pd.DataFrame) -> None:
    numbers = [title for title, _ in KEY_METRICS] + [f"{comparisons.CONTENDERS[b]} HR@10" for b in TABLE_BASELINES]
    config = {"id": st.column_config.NumberColumn("id", format="%d"),
              "duration": st.column_config.NumberColumn("duration", format="%.1f s"),
              **{title: st.column_config.NumberColumn(title, format=METRIC_FORMAT) for title in numbers}}
    st.dataframe(frame, hide_index=True, column_config=config, key="runs-table")


def run_label(run: Run) -> str:
    note = f" · {run.note}" if run.note else ""
    return f"run {run.id} · {run.status} · {run.created_at[:16].replace('T', ' ')}{note}"


def short_label(run: Run) -> str:
    return f"run {run.id}" + (f" · {run.note}" if run.note else "")


# --------------------------------------------------------------------------------------------------------------
# one run: the model in use, its config into the editor, its files


def _change_model(action, *args) -> None:
    """A Promote or Roll back click (a button callback, so the table drawn after it shows the change): run
    `action(*args)`, keeping its outcome, or the registry's refusal, for `promotion_controls` to show."""
    try:
        action(*args)
    except ValueError as e:
        st.session_state[PROMOTE_MESSAGE] = ("error", f"Refused: {e}")
        return
    st.session_state[PROMOTE_MESSAGE] = ("success", None)


def promotion_controls(registry: Registry, run: Run) -> None:
    """Whether `run` is the model in use (and its promotion outcome), its Promote button and the Roll back button
    (keys ``runs-promote``, ``runs-rollback``); a refused click shows the registry's reason."""
    found = registry.model_in_use()
    current = found[0] if found else None
    if current is not None and current.id == run.id:
        st.caption(f"Run {run.id} is the model in use ({found[1]}).")
    else:
        outcome = promotion_outcome(registry.results(run.id))
        st.caption(f"Run {run.id} is not the model in use" + (f" ({outcome})." if outcome else ".")
                   + (f" The model in use is run {current.id} ({found[1]})." if current else ""))
    left, right = st.columns(2)
    left.button(f"Promote run {run.id}", key="runs-promote", icon=":material/verified:", on_click=_change_model,
                args=(registry.promote, run.id, "promoted by hand on the Runs page", "by hand"),
                help="make this run's model the model in use (a succeeded run with its model file)")
    right.button("Roll back", key="runs-rollback", icon=":material/undo:", on_click=_change_model,
                 args=(registry.rollback, "by hand"), help="go back to the previous model in use")
    said = st.session_state.pop(PROMOTE_MESSAGE, None)
    if said and said[0] == "error":
        st.error(render.markdown_literal(said[1]))
    elif said:
        st.success(f"The model in use is now run {registry.current_model().id}.")


def load_config_button(run: Run, store: ConfigStore, versions: dict[str, int]) -> None:
    """Button `runs-load-config`: make the run's LF config the working copy and open the LF page."""
    if not st.button("Load this run's LF config into the editor", key="runs-load-config", icon=":material/edit:"):
        if state.is_dirty(store):
            st.caption("Your working copy has unsaved changes: loading a run's config replaces them.")
        return
    try:
        cfg: LFConfig = parse_config(run.lf_config_toml, source=f"run {run.id}")
    except ValueError as e:
        st.error(f"Run {run.id}'s LF config cannot be loaded:")
        st.code(str(e), language=None)
        return
    state.working(store)  # the session's current base, when the run's config is no saved version
    version = versions.get(cfg.key)
    base = version if version is not None else state.base_version()
    state.load_into_editor(cfg, base=base)
    where = (f"it is saved as version {version}" if version is not None
             else f"it was never saved as a version: edits start from version {base}; save it to keep it")
    state.flash("success", f"Loaded run {run.id}'s LF config into the editor ({where}).")
    st.switch_page(nav.LABELING_FUNCTIONS)


def downloads(run: Run) -> None:
    """A download button per artifact (keys `dl-{run}-{artifact}`); a missing file gets a caption instead."""
    st.markdown("**Files of this run**")
    offered = [(key, label, mime) for key, label, mime in ARTIFACTS if key in run.artifacts]
    if not offered:
        st.caption(f"Run {run.id} recorded no files" + (" (it is still running)." if run.is_active else "."))
        return
    for key, label, mime in offered:
        path = run.artifact(key)
        if not path.is_file():
            st.caption(f"{label}: `{path.name}` is missing from the run's folder (deleted or moved).")
            continue
        size = path.stat().st_size
        button_key = f"dl-{run.id}-{key}"
        if size > DIRECT_DOWNLOAD_BYTES and not st.button(f"Prepare {label} ({_size(size)})",
                                                          key=f"prep-{run.id}-{key}"):
            continue
        st.download_button(f"{label} · {_size(size)}", data=path.read_bytes(), file_name=f"run{run.id}-{path.name}",
                           mime=mime, key=button_key, on_click="ignore", icon=":material/download:")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} kB" if n >= 2**10 else f"{n} B"


# --------------------------------------------------------------------------------------------------------------
# two runs side by side


def pick_two(runs: list[Run]) -> tuple[Run, Run] | None:
    """Multiselect `runs-compare` (default: the two newest runs); the older of the two is A."""
    by_id = {run.id: run for run in runs}
    chosen = st.multiselect("Compare two runs", list(by_id), default=list(by_id)[:2][::-1], max_selections=2,
                            format_func=lambda i: short_label(by_id[i]), key="runs-compare")
    if len(chosen) != 2:
        st.caption("Pick two runs to see their LF configs, metrics and training curves side by side.")
        return None
    a, b = sorted(chosen)
    return by_id[a], by_id[b]


def comparison(registry: Registry, a: Run, b: Run) -> Comparison:
    return compare_runs(a, b, registry.results(a.id).get("metrics"), registry.results(b.id).get("metrics"))


def _stamp(run: Run) -> int | None:
    """The modification time of the run's per-row scores (None without them): part of the bootstrap's cache key."""
    try:
        return run.artifact(comparisons.EVAL_SCORES).stat().st_mtime_ns
    except (KeyError, OSError):
        return None


@st.cache_data(max_entries=16, show_spinner="Bootstrapping the two runs' deltas…")
def _paired(a_id: int, b_id: int, stamps: tuple, settings: tuple, _a: Run, _b: Run) -> RunPairDeltas:  # noqa: ARG001
    n_resamples, seed, level = settings
    return comparisons.paired_run_deltas(_a, _b, n_resamples=n_resamples, seed=seed, level=level)


def paired(cmp: Comparison) -> RunPairDeltas:
    """Run B - run A with paired-bootstrap intervals (or the reason there are none), computed once per pair."""
    s = comparisons.pair_settings(cmp.metrics_b)
    return _paired(cmp.a.id, cmp.b.id, (_stamp(cmp.a), _stamp(cmp.b)), (s["n_resamples"], s["seed"], s["level"]),
                   cmp.a, cmp.b)


def key_metric_deltas(cmp: Comparison, pair: RunPairDeltas) -> None:
    """Our model's key metrics in run B with their change since run A, marked "not significant" where its
    paired-bootstrap interval covers 0."""
    names = [name for _, name in KEY_METRICS]
    found = pair.lookup()
    intervals = {m: (r["lo"], r["hi"], r["significant"]) for (c, m), r in found.items()
                 if c == "ours" and r["significant"] is not None}
    figures = charts.metric_deltas(cmp.metrics_b or {}, cmp.metrics_a, names, intervals)
    for col, figure in zip(st.columns(len(names)), figures, strict=False):
        span = (f", 95% interval {comparisons.interval_text(*figure['interval'], signed=True)}"
                if figure["interval"] else "")
        col.metric(f"{figure['title']} · run {cmp.b.id}", f"{figure['value']:.4f}", charts.delta_label(figure),
                   delta_color="inverse" if figure["lower_is_better"] else "normal",
                   help=f"our model on test in run {cmp.b.id}; the change is since run {cmp.a.id}{span}")


def contender_metric_rows(cmp: Comparison, pair: RunPairDeltas | None = None) -> pd.DataFrame:
    """The contenders' test metrics of both runs: metric ("our model · F1"), run A, run B, delta (B - A), its 95%
    paired-bootstrap interval and "significant" / "not significant" (both blank without an interval)."""
    found = pair.lookup() if pair is not None else {}
    rows = []
    for path, va, vb, delta in cmp.metrics:
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "contenders" and parts[2] in charts.METRICS:
            hit = found.get((parts[1], parts[2]))
            known = hit is not None and hit["significant"] is not None
            rows.append((f"{charts.contender_name(parts[1])} · {charts.METRICS[parts[2]]}", va, vb, delta,
                         comparisons.interval_text(hit["lo"], hit["hi"], signed=True) if known else "",
                         hit["verdict"] if known else ""))
    return pd.DataFrame(rows, columns=["metric", f"run {cmp.a.id}", f"run {cmp.b.id}", "delta", "95% interval",
                                       "significance"])


def metric_deltas_table(cmp: Comparison, pair: RunPairDeltas | None = None) -> None:
    """Every contender's test metrics in both runs with the delta B - A and its interval; why there is no
    interval; every other figure in an expander."""
    frame = contender_metric_rows(cmp, pair)
    numbers = {c: st.column_config.NumberColumn(c, format=METRIC_FORMAT) for c in frame.columns[1:4]}
    if len(frame):
        st.dataframe(frame, hide_index=True, column_config=numbers, key="runs-metric-deltas")
    else:
        st.caption("No test metric is recorded in both runs.")
    if pair is not None:
        if pair.reason:
            st.caption(pair.reason[:1].upper() + pair.reason[1:] + ".")
        else:
            st.caption("95% paired-bootstrap intervals over test users, from both runs' per-row scores; "
                       "not significant: the interval covers 0.")
        if pair.unchanged:
            st.caption("Scored identically by both runs: "
                       + ", ".join(charts.contender_name(c) for c in pair.unchanged) + ".")
    if cmp.metrics:
        with st.expander("Every figure recorded in both runs"):
            every = pd.DataFrame(cmp.metrics, columns=frame.columns[:4])
            st.dataframe(every, hide_index=True, column_config=numbers, key="runs-all-deltas")


def config_diff(cmp: Comparison) -> None:
    """LFs added / removed / changed, then the unified diff of the two TOML texts."""
    changes = cmp.lf_changes
    if not cmp.config_diff:
        st.caption(f"Both runs used the same LF config ({cmp.a.short_hash}).")
        return
    if changes is None:
        st.caption("One of the two configs no longer reads as an LF config; the text diff is below.")
    elif changes:
        st.markdown(f"LFs in run {cmp.b.id} against run {cmp.a.id}: {changes.describe()}")
    else:
        st.caption("Same LFs with the same settings; only the order or formatting differs.")
    st.code("\n".join(cmp.config_diff), language="diff")


def params_table(cmp: Comparison) -> None:
    if not cmp.params:
        st.caption("Same training parameters.")
        return
    rows = [(k, *(v if isinstance(v, str) else json.dumps(v) for v in (va, vb))) for k, va, vb in cmp.params]
    st.dataframe(pd.DataFrame(rows, columns=["parameter", f"run {cmp.a.id}", f"run {cmp.b.id}"]), hide_index=True)


# --------------------------------------------------------------------------------------------------------------
# impact studies (pipeline.runs.study)

STUDY_POLL_SECONDS = 2.0


def start_study_button(registry: Registry, store: ConfigStore, template: Run) -> None:
    """Button `runs-start-study`: an impact study of the working LF config with `template`'s training parameters;
    refused, with the reason, while a run or another study is active."""
    cfg = state.working(store)
    n = len(cfg.enabled())
    st.caption(f"An impact study retrains the LF config being edited with run {template.id}'s training parameters: "
               f"first with all {n} enabled LFs, then without each in turn ({n + 1} runs, one after another).")
    if not st.button("Start an impact study", key="runs-start-study", icon=":material/science:"):
        return
    try:
        group_id = study.start(context.data_dir(), cfg, template.params, dataset_fingerprint=context.fingerprint(),
                               registry=registry)
    except RunInProgress as e:
        st.error(f"Not started: run {e.run.id} is {e.run.status}; wait for it to end or cancel it.")
    except GroupInProgress as e:
        st.error(f"Not started: impact study {e.group.id} is running; wait for it to end or cancel it.")
    except ValueError as e:
        st.error(f"Not started: {render.markdown_literal(e)}")
    else:
        st.session_state[state.STUDY] = group_id
        st.rerun()


def pick_study(registry: Registry) -> Group | None:
    """Selectbox `state.STUDY` over the impact studies, newest first; None when there is none."""
    groups = {g.id: g for g in registry.groups() if g.kind == study.KIND}
    if not groups:
        st.caption("No impact study yet.")
        return None
    if st.session_state.get(state.STUDY) not in groups:
        st.session_state.pop(state.STUDY, None)
    chosen = st.selectbox("Impact study", list(groups), key=state.STUDY,
                          format_func=lambda i: f"study {i} · {groups[i].status} · {groups[i].created_at[:16]}"
                          .replace("T", " ") + (f" · {groups[i].note}" if groups[i].note else ""))
    return groups[chosen]


def study_pair(registry: Registry):
    """`paired_run_deltas` through the page's cache, for pipeline.runs.study.study_rows."""
    def pair(a: Run, b: Run) -> RunPairDeltas:
        s = comparisons.pair_settings(registry.results(b.id).get("metrics"))
        return _paired(a.id, b.id, (_stamp(a), _stamp(b)), (s["n_resamples"], s["seed"], s["level"]), a, b)

    return pair


def study_table(registry: Registry, group: Group) -> None:
    """Where the study is, then one row per run: metrics and each delta to all LFs with its 95% interval."""
    st.markdown(render.markdown_literal(study.describe(registry, group)))  # it names LFs and errors: text only
    rows = study.study_rows(registry, group.id, pair=study_pair(registry))
    config = {"run": st.column_config.NumberColumn("run", format="%d"),
              **{t: st.column_config.NumberColumn(t, format=METRIC_FORMAT) for t in study.METRICS.values()}}
    st.dataframe(study.study_frame(rows), hide_index=True, column_config=config, key=f"study-{group.id}-table")
    st.caption(f"Δ = without the LF − {study.ALL_LFS}: negative when the model does worse without it (the LF "
               "helps). 95% paired-bootstrap intervals over test users from both runs' per-row scores; not "
               "significant: the interval covers 0.")
    for row in rows:
        if row["interval_note"]:
            st.caption(f"{row['label']}: {render.markdown_literal(row['interval_note'])}")


@st.fragment(run_every=STUDY_POLL_SECONDS)
def live_study(group_id: int) -> None:
    """A running study, re-read every STUDY_POLL_SECONDS, with button `runs-cancel-study`; once it ends the
    whole page reruns to draw it as finished."""
    registry = context.registry()
    group = registry.group(group_id)
    if not group.is_active:
        st.rerun()
    study_table(registry, group)
    if st.button("Cancel the study", key="runs-cancel-study", icon=":material/cancel:"):
        try:
            st.toast(study.cancel(registry, group_id))
        except ValueError as e:
            st.error(render.markdown_literal(e))
