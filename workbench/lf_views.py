"""The Labeling functions page's figures and version widgets.

Figures: the working copy's analysis on dev (`Split.analyze`: snorkel's LF summary plus labelled rows and a 95%
interval, totals, overlap/conflict matrices) beside the saved version's, as totals, a table, a line per LF and
buttons that open the rows behind a figure on the Examples page. Analyses, sweeps and keyword figures are cached
on the dataset fingerprint and the specs' keys, so a rerun without an edit recomputes nothing and an edit
recomputes one LF column (the engine memoises the others).

Versions: save the working copy with a note (a save from a stale version is refused and shown as a conflict, with
a way out), the history, restore, and the diff of two versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import altair as alt
import pandas as pd
import streamlit as st

from lfs.analysis import Analysis, keyword_stats, threshold_sweep
from lfs.apply import column_key
from lfs.config import LFConfig
from lfs.example_rows import ExampleFilter
from lfs.spec import KeywordLF, LFSpec, ThresholdLF
from lfs.store import ConfigChanges, ConfigConflict, ConfigStore, StaleVersionError
from lfs.workspace import Split
from workbench import context, nav, state, widgets
from workbench.charts import lf as charts
from workbench.lf_editor import feature_range
from workbench.render import markdown_literal

SPLIT = "dev"
INSPECT_KINDS = ("fires", "correct", "incorrect", "conflicts")


# -- cached computations -----------------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def _analyze(fingerprint: str, keys: tuple, _split: Split, _specs: tuple[LFSpec, ...]) -> Analysis:  # noqa: ARG001
    return _split.analyze(list(_specs))


def _key(specs: Sequence[LFSpec]) -> tuple:
    """What an analysis of `specs` depends on: the dataset, the LF names and what decides their votes."""
    return context.fingerprint(), tuple((s.name, column_key(s)) for s in specs)


def analysis(split: Split, specs: Sequence[LFSpec]) -> Analysis:
    """The analysis of `specs` on `split`, cached on `_key(specs)`."""
    fingerprint, keys = _key(specs)
    return _analyze(fingerprint, keys, split, tuple(specs))


@st.cache_data(max_entries=32, show_spinner=False)
def _sweep(fingerprint: str, feature: str, op: str, label: int, _split: Split) -> pd.DataFrame:
    low, _ = feature_range(fingerprint, feature, _split)
    spec = ThresholdLF("sweep", feature=feature, op=op, value=low, label=label)
    return threshold_sweep(spec, _split.data, _split.gold)


@st.cache_data(max_entries=64, show_spinner=False)
def _chart(kind: str, key: tuple, _build: Callable[[], alt.TopLevelMixin]) -> dict:  # noqa: ARG001
    """The Vega-Lite spec of the chart `_build` makes (charts.stable_spec), cached on `kind` and `key`."""
    return charts.stable_spec(_build())


@st.cache_data(max_entries=64, show_spinner=False)
def _drawn_spec(kind: str, key: tuple, _make: Callable[[], dict]) -> dict:  # noqa: ARG001
    """The spec `_make` returns, cached on what it shows (`kind`, `key`): a rerun that changes no figure (a note
    typed, another diff) builds nothing."""
    return _make()


def _draw(kind: str, key: tuple, make: Callable[[], dict]) -> None:
    st.vega_lite_chart(_drawn_spec(kind, key, make))


@st.cache_data(max_entries=32, show_spinner=False)
def _keyword_stats(fingerprint: str, key: str, _spec: KeywordLF, _split: Split) -> pd.DataFrame:  # noqa: ARG001
    return keyword_stats(_spec, _split.data, _split.gold)


# -- opening the rows behind a figure ----------------------------------------------------------------------------
def open_examples(example_filter: ExampleFilter) -> None:
    st.session_state[state.EX_FILTER] = example_filter
    st.switch_page(nav.EXAMPLES)


def _picked(key: str, filters: dict[str, ExampleFilter]) -> None:
    """A figure's pill was clicked: its rows open on the page's next run (`follow_up`; a callback cannot switch
    pages), and the pill is unselected again: it is a link, not a choice."""
    picked = st.session_state.get(key)
    st.session_state[key] = None
    if picked in filters:
        st.session_state[state.INSPECT_PENDING] = filters[picked]


def inspect_pills(key: str, label: str, links: dict[str, tuple[str, ExampleFilter]], **kw) -> None:
    """One widget for several figures that open their rows: {option: (text shown, filter of its rows)}. One
    pills widget instead of a button per figure: the page has fewer elements to send on every edit."""
    st.pills(label, list(links), key=key, format_func=lambda option: links[option][0], label_visibility="collapsed",
             on_change=_picked, args=(key, {option: f for option, (_, f) in links.items()}), **kw)


def follow_up() -> None:
    """First in the page's live part: open the rows of a clicked figure; rerun the whole app when the frame
    outside the live part is out of date (it reruns on its own after an edit)."""
    pending = st.session_state.pop(state.INSPECT_PENDING, None)
    if pending is not None:
        open_examples(pending)
    if widgets.frame_is_stale():
        st.rerun(scope="app")


def _count(share: float, rows: int) -> int:
    """A count back from snorkel's share of rows."""
    return int(round(float(share) * rows))


def _pts(now: float, before: float | None) -> float | None:
    return None if before is None or pd.isna(before) or pd.isna(now) else 100 * (now - before)


# -- figures -----------------------------------------------------------------------------------------------------
def totals(now: Analysis, saved: Analysis | None, base: int) -> None:
    """Coverage, overlaps, conflicts and majority-vote accuracy of all enabled LFs, with the change since `base`,
    and the pills that open the uncovered and the conflicting rows."""
    t, s = now.totals, (saved.totals if saved else {})
    figures = [("Coverage", "coverage", "normal", "rows at least one LF labels"),
               ("Overlaps", "overlap_rate", "off", "rows two or more LFs label"),
               ("Conflicts", "conflict_rate", "inverse", "rows where LFs disagree"),
               ("Majority-vote accuracy", "mv_accuracy", "normal",
                f"majority vote of the enabled LFs against gold, on the {t.get('mv_labelled', 0):,} labelled rows "
                "it decides (ties abstain)")]
    row = st.container(horizontal=True)
    for label, key, colour, help_text in figures:
        value = t.get(key, float("nan"))
        delta = _pts(value, s.get(key))
        row.metric(label, "–" if pd.isna(value) else f"{value:.2%}",
                   delta=None if delta is None or abs(delta) < 5e-5 else f"{delta:+.2f} pts vs v{base}",
                   delta_color=colour, help=help_text)
    rows = t["rows"]
    uncovered, conflicting = rows - _count(t["coverage"], rows), _count(t["conflict_rate"], rows)
    inspect_pills("inspect-totals", "Open rows", {
        "uncovered": (f"rows no LF covers: {uncovered:,}",
                      ExampleFilter(split=SPLIT, uncovered=True)),
        "conflicts": (f"rows with conflicting votes: {conflicting:,}",
                      ExampleFilter(split=SPLIT, conflicts=True))})


def summary_table(now: Analysis, saved: Analysis | None, base: int) -> None:
    frame = charts.summary_frame(now.summary, saved.summary if saved else None)
    share = st.column_config.NumberColumn(format="percent")
    change = st.column_config.NumberColumn(format="%+.2f", help=f"percentage points against saved version {base}")
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "Coverage": share, "Overlaps": share, "Conflicts": share, "Emp. Acc.": share,
        "Acc. low": st.column_config.NumberColumn(format="percent", help="95% Wilson interval of Emp. Acc."),
        "Acc. high": st.column_config.NumberColumn(format="percent", help="95% Wilson interval of Emp. Acc."),
        "Labelled": st.column_config.NumberColumn(help="labelled dev rows the LF votes on"),
        "Δ Coverage": change, "Δ Acc.": change,
    })


def stats_line(row: pd.Series, saved_row: pd.Series | None, base: int) -> str:
    """One LF's live figures, e.g. 'Coverage 12.34% · Labelled 80 · Correct 60 · Incorrect 20 · Emp. Acc. 75.0%
    (95% 64.5–83.2%) · vs v1: coverage +0.50 pts, accuracy -1.2 pts'."""
    labelled = int(row.get("Labelled", 0))
    parts = [f"Coverage {row['Coverage']:.2%}", f"Labelled {labelled}", f"Correct {int(row.get('Correct', 0))}",
             f"Incorrect {int(row.get('Incorrect', 0))}"]
    if labelled:
        parts.append(f"Emp. Acc. {row['Emp. Acc.']:.1%} (95% {row['Acc. low']:.1%}–{row['Acc. high']:.1%})")
    if saved_row is None:
        parts.append(f"not in v{base}")
    else:
        cov = _pts(row["Coverage"], saved_row["Coverage"])
        acc = _pts(row["Emp. Acc."], saved_row["Emp. Acc."]) if labelled and saved_row.get("Labelled", 0) else None
        if abs(cov) < 5e-5 and (acc is None or abs(acc) < 5e-5):
            parts.append(f"as in v{base}")
        else:
            parts.append(f"vs v{base}: coverage {cov:+.2f} pts"
                         + (f", accuracy {acc:+.1f} pts" if acc is not None else ""))
    return " · ".join(parts)


def lf_stats(name: str, now: Analysis, saved: Analysis | None, base: int) -> None:
    """The live figures of one enabled LF (container `stats-{name}`) and the pills that open its rows."""
    row = now.summary.loc[name]
    saved_row = saved.summary.loc[name] if saved is not None and name in saved.summary.index else None
    rows = now.totals["rows"]
    counts = {"fires": _count(row["Coverage"], rows), "correct": int(row.get("Correct", 0)),
              "incorrect": int(row.get("Incorrect", 0)), "conflicts": _count(row["Conflicts"], rows)}
    with st.container(key=f"stats-{name}"):
        st.markdown(stats_line(row, saved_row, base))
    inspect_pills(f"inspect-{name}", f"Open the rows of {name}", {
        kind: (f"{kind} {counts[kind]:,}", ExampleFilter(split=SPLIT, lf=name, kind=kind)) for kind in INSPECT_KINDS},
        help=f"Open the rows of {name} on the Examples page")


def charts_panel(cfg: LFConfig, now: Analysis, split: Split) -> None:
    """Coverage vs accuracy, the selected LF's sweep or keyword figures, and the overlap/conflict heatmaps."""
    if not len(now.summary):
        return
    key = _key(cfg.enabled())
    names = tuple(now.summary.index)
    # The coverage and heatmap charts are built once per set of LFs and get each edit's figures as new datasets.
    _draw("coverage-accuracy", key, lambda: charts.with_datasets(
        _chart("coverage-accuracy", names, lambda: charts.coverage_accuracy(now.summary)),
        {0: charts.lf_points(now.summary)}))
    choices = [s.name for s in cfg.enabled() if isinstance(s, ThresholdLF | KeywordLF)]
    if choices:
        selected = st.session_state.get(state.SELECTED_LF)
        st.session_state[state.CHART_LF] = selected if selected in choices else choices[0]
        name = st.selectbox("LF to look into", choices, key=state.CHART_LF, on_change=_select)
        spec = cfg.get(name)
        fp = key[0]
        row = now.summary.loc[name]
        if isinstance(spec, ThresholdLF):
            sweep = _sweep(fp, spec.feature, spec.op, spec.label, split)
            current = {"coverage": float(row["Coverage"])}
            if row.get("Labelled", 0):
                current["accuracy"] = float(row["Emp. Acc."])
            # built once per LF and what its sweep depends on; an edit of the threshold moves only the marker
            base = (fp, name, spec.feature, spec.op, spec.label, tuple(current))
            tag = "autotuned" if st.session_state.get(state.AUTOTUNED, {}).get(name) == spec.value else "current"
            _draw("sweep", (fp, name, spec.key, tuple(current.items()), tag), lambda: charts.sweep_spec(
                _chart("sweep", base, lambda: charts.sweep_chart(sweep, spec.value, name=name, feature=spec.feature,
                                                                 op=spec.op, current=current)),
                spec.value, current, tag))
        else:
            stats = _keyword_stats(fp, spec.key, spec, split)
            _draw("keywords", (fp, name, spec.key),
                  lambda: charts.stable_spec(charts.keyword_chart(stats, name)))
            keyword = st.selectbox("Keyword", stats["keyword"].tolist(), key="inspect-keyword-choice")
            if st.button("Open the rows containing it", key="inspect-keyword", icon=":material/search:"):
                open_examples(ExampleFilter(split=SPLIT, lf=name, keyword=keyword))
    _draw("pairs", key, lambda: charts.with_datasets(
        _chart("pairs", names, lambda: charts.pair_heatmap(now.overlap, now.conflict)),
        {0: charts.pair_frame(now.overlap, now.conflict)}))


def _select() -> None:
    st.session_state[state.SELECTED_LF] = st.session_state.get(state.CHART_LF)


# -- versions ----------------------------------------------------------------------------------------------------
def _save() -> None:
    store, base = context.store(), state.base_version()
    cfg, latest = state.working(store), store.latest()
    try:
        info = store.save(cfg, base_version=base, note=st.session_state.get(state.SAVE_NOTE) or "")
    except StaleVersionError as e:
        st.session_state[state.LF_CONFLICT] = (e.base, e.latest)
        return
    except ConfigConflict as e:
        state.flash("error", f"Not saved: {markdown_literal(e)}")
        return
    _dismiss()
    st.session_state[state.BASE] = info.version
    if info.version <= latest:
        state.flash("info", f"Nothing to save: the working copy is version {info.version}.")
    else:
        st.session_state[state.SAVE_NOTE] = ""
        state.flash("success", f"Saved as version {info.version}.")


def _reload(version: int, message: str) -> None:
    store = context.store()
    state.load_into_editor(store.load(version), version)
    _dismiss()
    state.flash("success", message)


def _restore() -> None:
    store, version = context.store(), st.session_state.get(state.RESTORE_VERSION)
    latest = store.latest()
    try:
        info = store.restore(version, base_version=state.base_version())
    except StaleVersionError as e:
        st.session_state[state.LF_CONFLICT] = (e.base, e.latest)
        return
    except (ConfigConflict, KeyError) as e:
        state.flash("error", f"Not restored: {markdown_literal(e)}")
        return
    if info.version <= latest:
        _reload(info.version, f"Version {version} is what the latest version {info.version} holds: nothing to "
                              "restore; it is loaded.")
    else:
        _reload(info.version, f"Restored version {version} as version {info.version}.")


def _rebase(latest: int) -> None:
    st.session_state[state.BASE] = latest
    _dismiss()


def _dismiss() -> None:
    st.session_state.pop(state.LF_CONFLICT, None)


def save_bar(store: ConfigStore, cfg: LFConfig) -> None:
    """Note, Save, what is unsaved; a refused (stale) save as a conflict with the ways out."""
    base, latest = state.base_version(), store.latest()
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input("Note for the saved version", key=state.SAVE_NOTE, placeholder="what changed and why",
                   max_chars=300)
    row.button("Save", key="save", type="primary", icon=":material/save:", on_click=_save)
    unsaved = ConfigChanges.between(store.load(base), cfg)
    st.caption(f"Editing version {base} (latest {latest}) · "
               + (f"unsaved: {unsaved.describe()}" if unsaved else "no unsaved changes"))
    pending = st.session_state.get(state.LF_CONFLICT)
    if pending:
        base, latest = pending
        st.error(f"Save refused: conflict. Version {latest} was saved since you loaded version {base} "
                 f"({store.changes(base, latest).describe()}); nothing was overwritten and your edits are still "
                 f"here. Reload version {latest} (your edits are discarded), or keep your edits on top of it: "
                 f"the next save then replaces what version {latest} changed.", icon=":material/warning:")
        ways = st.container(horizontal=True)
        ways.button(f"Reload version {latest}, discard my edits", key="conflict-reload", on_click=_reload,
                    args=(latest, f"Reloaded version {latest}."))
        ways.button(f"Keep my edits on top of version {latest}", key="conflict-rebase", on_click=_rebase,
                    args=(latest,))
        ways.button("Keep editing", key="conflict-keep", on_click=_dismiss)


def versions(store: ConfigStore) -> None:
    """The history, restore (a copy of an old version saved as the newest) and the diff of two versions."""
    history = store.history()
    frame = pd.DataFrame([asdict(i) for i in history])
    st.dataframe(frame[["version", "saved_at", "note", "parent", "restored_from"]], hide_index=True,
                 width="stretch")
    numbers = [i.version for i in history]
    notes = {i.version: i.note for i in history}
    label = lambda v: f"v{v} · {notes.get(v) or 'no note'}"  # noqa: E731
    pick, button = st.columns([5, 1], vertical_alignment="bottom")
    pick.selectbox("Restore version", numbers, key=state.RESTORE_VERSION, format_func=label,
                   help="Saves a copy of it as the newest version and loads it; unsaved edits are discarded")
    button.button("Restore", key="restore", icon=":material/restore:", on_click=_restore, width="stretch")
    left, right = st.columns(2)
    a = left.selectbox("Diff from", numbers, key="diff-a", format_func=label, index=min(1, len(numbers) - 1))
    b = right.selectbox("to", numbers, key="diff-b", format_func=label, index=0)
    st.caption(f"Version {b} against version {a}: {store.changes(a, b).describe()}")
    st.code("\n".join(store.diff(a, b)) or "(identical)", language="diff")
