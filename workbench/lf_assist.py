"""The LF page's help with what to add or change next: suggestions checked on val, and what each LF adds.

Suggestions (lfs.suggest) are mined on dev and checked on val with the limits the user sets; one click adds one
to the working copy, as a new LF or as a keyword of a rule of a keyword LF, and the live analysis shows what it
did. Impact (lfs.impact): majority vote without each enabled LF, live; the label model without each LF, as a
background task with progress (one fit per LF on the train split's votes, in two worker processes).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from lfs.config import LFConfig
from lfs.impact import mv_impact
from lfs.spec import KeywordLF, KeywordRule, LFSpec, LFSpecError
from lfs.suggest import MIN_LIFT, OBJECTIVES, Suggestion, open_context, suggest
from lfs.workspace import Split
from pipeline.training.impact import label_model_impact
from workbench import context, lf_editor, state
from workbench.render import markdown_literal
from workbench.widgets import label_name

NEW_LF = ""  # the target "a new LF" (never an LF name)
POLL_SECONDS = 1.0


# -- suggestions ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=8, show_spinner="Finding suggestions (the first time counts the phrases of dev)…")
def _suggestions(fingerprint: str, keys: tuple, limits: tuple, _specs: tuple[LFSpec, ...], _dev: Split,  # noqa: ARG001
                 _val: Split) -> list[Suggestion]:
    min_lift, floor, objective, min_coverage, min_accuracy = limits
    ctx = open_context(context.prepared(), list(_specs), dev=_dev, check=_val, min_lift=min_lift,
                       min_check_accuracy=floor)
    return suggest(ctx, top=10, objective=objective, min_coverage=min_coverage, min_accuracy=min_accuracy)


def _limits() -> tuple:
    st.caption("Mined on dev, checked on val (rows never mined). Lift: how far the lower bound of an LF's "
               "accuracy lies above voting its label on every row, from 0 (no better) to 1 (always right).")
    row = st.container(horizontal=True)
    row.slider("Least lift", 0.0, 1.0, MIN_LIFT, 0.05, key=state.ASSIST_MIN_LIFT)
    row.slider("Least accuracy on val", 0.0, 1.0, 0.0, 0.05, key=state.ASSIST_CHECK_FLOOR,
               help="Hide suggestions whose accuracy on val falls below this")
    row = st.container(horizontal=True)
    goal = row.selectbox("Thresholds and autotune aim at", OBJECTIVES, key=state.ASSIST_OBJECTIVE,
                         format_func=lambda o: {"accuracy": "the highest accuracy at a least coverage",
                                                "coverage": "the highest coverage at a least accuracy"}[o])
    coverage, accuracy = lf_editor.objective()[1:]
    if goal == "accuracy":
        row.number_input("Least coverage of dev", 0.0, 1.0, coverage, 0.005, format="%.3f",
                         key=state.ASSIST_MIN_COVERAGE)
    else:
        row.number_input("Least accuracy on dev", 0.0, 1.0, accuracy, 0.05, format="%.2f",
                         key=state.ASSIST_MIN_ACCURACY)
    goal, coverage, accuracy = lf_editor.objective()
    ss = st.session_state
    return ss[state.ASSIST_MIN_LIFT], ss[state.ASSIST_CHECK_FLOOR], goal, coverage, accuracy


def _what(s: Suggestion) -> str:
    spec = s.spec
    if isinstance(spec, KeywordLF):
        return f"`{spec.field}` has “{markdown_literal(spec.keywords[0])}” (word)"
    return f"`{spec.feature}` {spec.op} {spec.value:g}"


def _line(i: int, s: Suggestion) -> str:
    acc = lambda f: "–" if f.rows == 0 else f"{f.accuracy:.1%}"  # noqa: E731
    return (f"**{i + 1}.** {_what(s)} → {label_name(s.label)} · dev {s.dev.rows:,} rows, {acc(s.dev)} · "
            f"val {s.check.rows:,} rows, {acc(s.check)} · adds {s.adds:,} · lift {s.lift:.2f}")


def _targets(cfg: LFConfig) -> dict[str, str]:
    """Where a keyword suggestion can go: a new LF, or one rule of a keyword LF ("name:rule index")."""
    out = {NEW_LF: "a new LF"}
    for spec in cfg:
        if isinstance(spec, KeywordLF):
            for r, rule in enumerate(spec.rules):
                out[f"{spec.name}:{r}"] = (f"{spec.name}, rule {r + 1} ({label_name(rule.label)}, "
                                           f"{spec.field}, {spec.match})")
    return out


def _free_name(cfg: LFConfig, name: str) -> str:
    taken, n = set(cfg.names), 2
    candidate = name
    while candidate in taken:
        candidate, n = f"{name[:60]}_{n}", n + 1
    return candidate


def _add(i: int) -> None:
    """Add suggestion i to the working copy: a new LF, or its phrase into the chosen rule of a keyword LF."""
    s: Suggestion = st.session_state[state.SUGGESTIONS][i]
    cfg = state.working(context.store())
    target = st.session_state.get(state.ASSIST_TARGET, NEW_LF)
    if isinstance(s.spec, KeywordLF) and target != NEW_LF:
        name, r = target.rsplit(":", 1)
        lf_editor.edit(name, lambda spec: _with_keyword(spec, int(r), s))
        if name not in st.session_state.get(state.LF_ERRORS, {}):
            state.flash("success", f"Added “{s.spec.keywords[0]}” to rule {int(r) + 1} of `{name}` (not saved).")
        return
    spec = dataclasses.replace(s.spec, name=_free_name(cfg, s.spec.name))
    try:
        state.set_working(cfg.add(spec))
    except LFSpecError as e:
        state.flash("error", f"Not added: {markdown_literal(e)}")
        return
    st.session_state[state.SELECTED_LF] = spec.name
    state.flash("success", f"Added LF `{spec.name}` to the working copy (not saved yet).")


def _with_keyword(spec: LFSpec, r: int, s: Suggestion) -> LFSpec:
    """`spec` with the suggestion's phrase added to rule r, if that rule votes the same label on the same field."""
    rule = spec.rules[r]
    if rule.label != s.label or spec.field != s.spec.field:
        raise LFSpecError(f"“{s.spec.keywords[0]}” votes {label_name(s.label)} on {s.spec.field}; rule {r + 1} of "
                          f"{spec.name} votes {label_name(rule.label)} on {spec.field}: add it as a new LF instead")
    rules = list(spec.rules)
    rules[r] = KeywordRule((*rule.keywords, s.spec.keywords[0]), rule.label)
    return dataclasses.replace(spec, rules=tuple(rules))


def suggestions_panel(cfg: LFConfig, dev: Split) -> None:
    """The limits, the suggestions best first, each with its Add button, and where keyword ones go."""
    limits = _limits()
    specs = cfg.enabled()
    found = _suggestions(context.fingerprint(), tuple(s.key for s in specs), limits, tuple(specs), dev,
                         context.split("val"))
    st.session_state[state.SUGGESTIONS] = found
    if not found:
        st.info("No suggestion passes these limits: lower the least lift or the least accuracy on val.")
        return
    targets = _targets(cfg)
    if st.session_state.get(state.ASSIST_TARGET) not in targets:
        st.session_state[state.ASSIST_TARGET] = NEW_LF
    st.selectbox("Add keyword suggestions to", list(targets), format_func=targets.get, key=state.ASSIST_TARGET,
                 help="Figures are for a word-match LF of the phrase alone; in another LF's rule they can differ")
    for i, s in enumerate(found):
        row = st.container(horizontal=True, vertical_alignment="center", key=f"suggestion-{i}")
        row.markdown(_line(i, s), width="stretch")
        row.button("Add", key=f"suggestion-add-{i}", icon=":material/add:", on_click=_add, args=(i,))


def panel(cfg: LFConfig, dev: Split) -> None:
    """Suggestions and majority vote without each LF: in the page's live part, so they follow every edit."""
    with st.container(border=True, key="assist"):
        suggestions_panel(cfg, dev)
        enabled = cfg.enabled()
        mv_impact_table(dev.matrix(enabled), [s.name for s in enabled], dev.gold)


# -- impact --------------------------------------------------------------------------------------------------------
def mv_impact_table(L, names: list[str], gold) -> None:
    """Majority vote on dev without each enabled LF: what its coverage and accuracy would become."""
    if len(names) < 2:
        return
    frame = mv_impact(L, names, gold)
    shown = pd.DataFrame({"LF": frame.lf, "MV coverage without": frame.mv_coverage_without,
                          "Δ coverage": 100 * frame.d_mv_coverage, "MV accuracy without": frame.mv_accuracy_without,
                          "Δ accuracy": 100 * frame.d_mv_accuracy})
    st.markdown("**Without each LF** (majority vote on dev)")
    pts = st.column_config.NumberColumn(format="%+.2f", help="percentage points: without the LF minus with it")
    share = st.column_config.NumberColumn(format="percent")
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "MV coverage without": share, "MV accuracy without": share, "Δ coverage": pts, "Δ accuracy": pts})


@dataclass
class ImpactTask:
    """The label model fitted without each LF, on a thread of the server; the page polls its progress."""

    names: list[str]
    done: int = 0
    total: int = 1
    message: str = "starting"
    result: pd.DataFrame | None = None
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def progress(self, done: int, total: int, message: str) -> None:
        self.done, self.total, self.message = done, total, message

    def run(self, specs: list[LFSpec], train: Split, dev: Split) -> None:
        from pipeline.training.labelmodel import LabelModelParams

        try:
            self.message = "votes on the train split"
            L_train, L_dev = train.matrix(specs), dev.matrix(specs)
            self.result = label_model_impact(L_train, L_dev, dev.gold, self.names, LabelModelParams(),
                                             progress=self.progress, workers=min(2, os.cpu_count() or 1))
        except Exception as e:  # shown on the page; the thread must not die silently
            self.error = f"{type(e).__name__}: {e}"


def _start(specs: list[LFSpec], dev: Split) -> None:
    task = ImpactTask([s.name for s in specs])
    train = context.split("train")
    task.thread = threading.Thread(target=task.run, args=(specs, train, dev), daemon=True, name="lm-impact")
    task.thread.start()
    st.session_state[state.LM_IMPACT] = task


@st.fragment(run_every=POLL_SECONDS)
def _poll() -> None:
    task: ImpactTask = st.session_state[state.LM_IMPACT]
    if not task.running:
        st.rerun(scope="app")
    st.progress(task.done / max(task.total, 1), text=f"Label model: {task.message} ({task.done}/{task.total} fits)")


def lm_impact_section(cfg: LFConfig, dev: Split) -> None:
    """The button that fits the label model without each LF, its progress, and the table it gives."""
    specs = list(cfg.enabled())
    task: ImpactTask | None = st.session_state.get(state.LM_IMPACT)
    if task is not None and task.running:
        _poll()
        return
    st.button("Label model without each LF", key="lm-impact", icon=":material/model_training:",
              disabled=len(specs) < 2, on_click=_start, args=(specs, dev),
              help="Fits snorkel's LabelModel on the train split's votes with all enabled LFs and without each "
                   "(one fit per LF, in the background) and scores each on dev")
    if task is None:
        return
    if task.error:
        st.error(f"The label-model impact failed: {markdown_literal(task.error)}")
    elif task.result is not None:
        frame = task.result
        st.caption(f"Label model on dev, LFs {', '.join(task.names)}")
        st.dataframe(pd.DataFrame({
            "LF": frame.lf, "accuracy without": frame.accuracy_without, "Δ accuracy": 100 * frame.d_accuracy,
            "F1 without": frame.f1_without, "Δ F1": 100 * frame.d_f1, "Δ coverage": 100 * frame.d_coverage,
        }), hide_index=True, width="stretch", column_config={
            "accuracy without": st.column_config.NumberColumn(format="percent"),
            "F1 without": st.column_config.NumberColumn(format="%.3f"),
            **{c: st.column_config.NumberColumn(format="%+.2f", help="percentage points: without minus with")
               for c in ("Δ accuracy", "Δ F1", "Δ coverage")}})
