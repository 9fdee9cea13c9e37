"""The Runs page's parts: the table of runs, one run (its LF config into the editor, its files), two runs compared.

The figures come from pipeline.runs_cli (`run_row`, `compare_runs`: what `python -m pipeline runs list|compare`
prints); this module only draws them. A run's LF config is matched to the store version with the same
LFConfig.key; a config never saved as a version shows as "unsaved" with its short hash.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from lfs.config import LFConfig, parse_config
from lfs.store import ConfigStore
from pipeline.registry import Registry, Run
from pipeline.runs_cli import KEY_METRICS, Comparison, compare_runs, run_row
from workbench import nav, state
from workbench.charts import training as charts

# Files a run may have, in the order offered: (artifact key, button label, MIME type).
ARTIFACTS = (("training_labels", "Training labels (parquet)", "application/vnd.apache.parquet"),
             ("model", "Model (.keras)", "application/octet-stream"),
             ("metrics", "Metrics (JSON)", "application/json"))
# Files up to this size are offered for download at once (every rerun of the page reads them); a larger one (a
# seed-scale model or label file) is read only after a "Prepare" click.
DIRECT_DOWNLOAD_BYTES = 2 * 1024 * 1024
METRIC_FORMAT = "%.4f"


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


def runs_frame(runs: list[Run], registry: Registry, versions: dict[str, int]) -> pd.DataFrame:
    """One row per run: id, status, created (UTC), duration (s), LF config, note, our key metrics."""
    rows = []
    for run in runs:
        row = run_row(run, registry.results(run.id).get("metrics"))
        rows.append({"id": row["id"], "status": row["status"] if not run.is_active else f"{run.status} "
                     f"({row['stage']})", "created (UTC)": row["created"], "duration": row["duration"],
                     "LF config": config_label(run, versions), "note": row["note"],
                     **{title: row[title] for title, _ in KEY_METRICS}})
    return pd.DataFrame(rows)


def runs_table(frame: pd.DataFrame) -> None:
    config = {"id": st.column_config.NumberColumn("id", format="%d"),
              "duration": st.column_config.NumberColumn("duration", format="%.1f s"),
              **{title: st.column_config.NumberColumn(title, format=METRIC_FORMAT) for title, _ in KEY_METRICS}}
    st.dataframe(frame, hide_index=True, column_config=config, key="runs-table")


def run_label(run: Run) -> str:
    note = f" · {run.note}" if run.note else ""
    return f"run {run.id} · {run.status} · {run.created_at[:16].replace('T', ' ')}{note}"


def short_label(run: Run) -> str:
    return f"run {run.id}" + (f" · {run.note}" if run.note else "")


# --------------------------------------------------------------------------------------------------------------
# one run: its config into the editor, its files


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


def key_metric_deltas(cmp: Comparison) -> None:
    """Our model's key metrics in run B with their change since run A."""
    names = [name for _, name in KEY_METRICS]
    figures = charts.metric_deltas(cmp.metrics_b or {}, cmp.metrics_a, names)
    for col, figure in zip(st.columns(len(names)), figures, strict=False):
        delta = None if figure["delta"] is None else f"{figure['delta']:+.4f}"
        col.metric(f"{figure['title']} · run {cmp.b.id}", f"{figure['value']:.4f}", delta,
                   delta_color="inverse" if figure["lower_is_better"] else "normal",
                   help=f"our model on test in run {cmp.b.id}; the change is since run {cmp.a.id}")


def contender_metric_rows(cmp: Comparison) -> pd.DataFrame:
    """The contenders' test metrics of both runs: metric ("our model · F1"), run A, run B, delta."""
    rows = []
    for path, va, vb, delta in cmp.metrics:
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "contenders" and parts[2] in charts.METRICS:
            rows.append((f"{charts.contender_name(parts[1])} · {charts.METRICS[parts[2]]}", va, vb, delta))
    return pd.DataFrame(rows, columns=["metric", f"run {cmp.a.id}", f"run {cmp.b.id}", "delta"])


def metric_deltas_table(cmp: Comparison) -> None:
    """Every contender's test metrics in both runs with the delta B - A; every other figure in an expander."""
    frame = contender_metric_rows(cmp)
    numbers = {c: st.column_config.NumberColumn(c, format=METRIC_FORMAT) for c in frame.columns[1:]}
    if len(frame):
        st.dataframe(frame, hide_index=True, column_config=numbers, key="runs-metric-deltas")
    else:
        st.caption("No test metric is recorded in both runs.")
    if cmp.metrics:
        with st.expander("Every figure recorded in both runs"):
            every = pd.DataFrame(cmp.metrics, columns=frame.columns)
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
