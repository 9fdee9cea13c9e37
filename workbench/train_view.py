"""The Train page's widgets: the parameter form, starting a retrain, following it live, and its outcome.

A retrain is a job process (pipeline.runs.jobs) that writes its progress into the run registry; this page only starts
it and reads the registry. The run a session follows is in st.session_state[state.RUN_ID] and in the URL
(``?run=N``), so a refreshed tab re-attaches; a tab with neither follows the active run, else the newest one.

UI contract (browser tests select on the ``st-key-<key>`` classes): the form's submit button ``retrain``, the
cancel button ``cancel``, the status container ``run-status`` (holding the registry's status word: queued, running,
succeeded, failed, cancelled), the button ``follow-active``, and parameter inputs ``train-lm-<field>``,
``train-end-<field>``, ``train-replica-steps``, ``train-replica-epochs``, ``train-note``, ``train-auto-promote``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lfs.config import LFConfig, dumps_config
from pipeline.runs import jobs
from pipeline.runs.registry import Registry, Run, RunInProgress, RunNotFound
from pipeline.runs.retrain import STAGES, RetrainParams
from pipeline.runs.settings import END_MODEL_FLAGS, LABEL_MODEL_FLAGS, build_params, layer_sizes
from pipeline.runs.summary import fmt_time
from pipeline.training import endmodel
from pipeline.training.hybrid import HybridParams
from pipeline.training.labelmodel import CLASS_BALANCE, LabelModelParams
from workbench import context, render, run_results, state

POLL_SECONDS = 1.0
LABELS = {"n_epochs": "epochs", "lr": "learning rate", "l2": "L2 regularisation", "class_balance": "class balance",
          "seed": "seed", "hidden": "read ranker layers", "like_hidden": "like head layers",
          "negatives": "negatives per liked book", "learning_rate": "learning rate", "batch_size": "batch size",
          "epochs": "most epochs", "patience": "early-stopping patience"}
FLOAT_STEPS = {"lr": 0.001, "l2": 0.001, "learning_rate": 0.0001}


@dataclass(frozen=True)
class RetrainRequest:
    params: RetrainParams
    note: str


# --------------------------------------------------------------------------------------------------------------
# parameters


def _input(field: str, default, help_text: str, key: str):
    """One parameter widget, chosen by the default's type."""
    label = LABELS.get(field, field)
    if field == "class_balance":
        return st.selectbox(label, CLASS_BALANCE, index=CLASS_BALANCE.index(default), help=help_text, key=key)
    if isinstance(default, tuple):  # layer sizes
        return st.text_input(label, ",".join(str(n) for n in default), help=help_text + " (empty: none)", key=key)
    if isinstance(default, float):
        return st.number_input(label, min_value=0.0, value=default, step=FLOAT_STEPS.get(field, 0.001),
                               format="%g", help=help_text, key=key)
    return st.number_input(label, min_value=0, value=int(default), step=1, help=help_text, key=key)


def _section(flags: dict, defaults, prefix: str) -> dict:
    """{argparse dest: value or None when it is the default} for the flags of one params dataclass."""
    values = {}
    for flag, (field, _, help_text) in flags.items():
        default = getattr(defaults, field)
        value = _input(field, default, help_text, f"{prefix}-{field}")
        values[flag[2:].replace("-", "_")] = (field, value, default)
    return values


def params_form() -> RetrainRequest | None:
    """The parameter form (defaults from the dataclasses) and its Retrain button; the request when pressed with
    valid parameters, else None (invalid ones are shown as an error naming the field)."""
    lm_defaults, end_defaults = LabelModelParams(), HybridParams()
    with st.form("retrain-form", border=False):
        left, middle, right = st.columns(3)
        with left.expander("Label model"):
            lm = _section(LABEL_MODEL_FLAGS, lm_defaults, "train-lm")
            soft = st.checkbox("soft labels", value=lm_defaults.soft_labels, key="train-lm-soft_labels",
                               help="train the end model on label-model probabilities instead of 0/1 labels")
        with middle.expander("End model"):
            end = _section(END_MODEL_FLAGS, end_defaults, "train-end")
        with right.expander("Seed replica"):
            steps = st.number_input("steps per epoch", min_value=1, value=endmodel.SEED_STEPS_PER_EPOCH,
                                    key="train-replica-steps", help="the tutorial's 300; fewer for a quick look")
            epochs = st.number_input("epochs", min_value=1, value=endmodel.SEED_EPOCHS, key="train-replica-epochs",
                                     help="the tutorial's 30; fewer for a quick look")
        note = st.text_input("Note", key="train-note", placeholder="what this run tries (stored with the run)")
        auto = st.checkbox("Promote automatically", value=True, key="train-auto-promote",
                           help="when the run succeeds, make it the model in use unless it is worse than the model "
                                "in use on F1, ROC-AUC, HR@10 or NDCG@10; off: it is kept, and promoted by hand on "
                                "the Runs page")
        pressed = st.form_submit_button("Retrain", type="primary", icon=":material/model_training:", key="retrain")
    if not pressed:
        return None
    try:
        return RetrainRequest(_params(lm | end, soft, steps, epochs, auto), note.strip())
    except ValueError as e:
        st.error(f"Not started: {render.markdown_literal(e)}")
        return None


def _params(values: dict, soft: bool, steps: int, epochs: int, auto_promote: bool = True) -> RetrainParams:
    """RetrainParams as `python -m pipeline retrain` builds them from the same flags: only values that differ from
    the defaults are recorded, so runs from the page and from the command line compare field by field."""
    end_dests = {flag[2:].replace("-", "_") for flag in END_MODEL_FLAGS}
    lm = _overrides({dest: v for dest, v in values.items() if dest not in end_dests})
    end = _overrides({dest: v for dest, v in values.items() if dest in end_dests})
    try:
        HybridParams.from_dict(end)
    except ValueError as e:
        raise ValueError(f"End model · {e}") from None
    params = build_params(label_model=lm, end_model=end, soft_labels=soft,
                          replica_steps=None if steps == endmodel.SEED_STEPS_PER_EPOCH else int(steps),
                          replica_epochs=None if epochs == endmodel.SEED_EPOCHS else int(epochs),
                          auto_promote=auto_promote)
    try:
        endmodel.model_params(replica=True, **params.replica)
    except ValueError as e:
        raise ValueError(f"Seed replica · {e}") from None
    return params


def _overrides(values: dict) -> dict:
    """{field: value} of the form's values that differ from the defaults."""
    overrides = {}
    for field, value, default in values.values():
        if isinstance(default, tuple):  # layer sizes, parsed as the command line parses them
            try:
                value = layer_sizes(value)
            except ValueError as e:
                raise ValueError(f"End model · {LABELS.get(field, field)}: {e}") from None
        if value != default:
            overrides[field] = value
    return overrides


# --------------------------------------------------------------------------------------------------------------
# starting and attaching


def follow_run(run_id: int) -> None:
    """Make `run_id` the run this session (and this tab's URL) follows."""
    st.session_state[state.RUN_ID] = int(run_id)
    if st.query_params.get("run") != str(run_id):
        st.query_params["run"] = str(run_id)


def refusal(run: Run) -> str:
    when = (f"started {fmt_time(run.started_at)} UTC" if run.started_at
            else f"queued {fmt_time(run.created_at)} UTC")
    return f"Run {run.id} is already {run.status} ({when}); wait for it or cancel it. Nothing was started."


def start(registry: Registry, cfg: LFConfig, request: RetrainRequest) -> int | None:
    """Start a retrain of `cfg` as a job process and follow it; None (with the reason shown) when refused."""
    if not cfg.enabled():
        st.error("Not started: the LF config has no enabled LF. Enable at least one on the Labeling functions page.")
        return None
    try:
        run_id = jobs.start(context.data_dir(), dataset_fingerprint=context.fingerprint(),
                            lf_config_toml=dumps_config(cfg), lf_config_hash=cfg.key,
                            params=request.params.to_dict(), note=request.note, registry=registry)
    except RunInProgress as e:
        st.error(refusal(e.run))
        return None
    follow_run(run_id)
    return run_id


MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer: a bigger id is no run (and would overflow the query)


def run_id(value: object) -> int | None:
    """`value` (?run= or the session's run) as a run id: a positive whole number in ASCII digits; else None
    (int() alone would take "١", " 7", "1_0" and numbers SQLite cannot hold)."""
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_RUN_ID))):
        return None
    number = int(text)
    return number if 0 < number <= MAX_RUN_ID else None


def attached_run(registry: Registry) -> Run | None:
    """The run this tab shows: ?run=N, else the session's run, else the active run, else the newest run."""
    for source, value in (("URL", st.query_params.get("run")), ("session", st.session_state.get(state.RUN_ID))):
        if value is None:
            continue
        number = run_id(value)
        try:
            if number is None:
                raise ValueError(value)
            run = registry.get(number)
        except (ValueError, RunNotFound):
            if source == "URL":
                why = "" if number else " (not a valid run id: a run id is a positive whole number)"
                st.warning(f"There is no run {render.markdown_literal(repr(str(value)[:20]))} in this data folder"
                           f"{why}; showing another one.")
            continue
        break
    else:
        run = registry.active() or next(iter(registry.list(limit=1)), None)
    if run is not None:
        follow_run(run.id)
    return run


def other_active(registry: Registry, run: Run | None) -> None:
    """When another run than the one shown is active (started from another tab), offer to follow it."""
    active = registry.active()
    if active is None or (run is not None and active.id == run.id):
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.info(f"Run {active.id} is {active.status} ({active.stage_text()}).")
    if right.button(f"Follow run {active.id}", key="follow-active"):
        follow_run(active.id)
        st.rerun()


# --------------------------------------------------------------------------------------------------------------
# showing a run


def overall_progress(run: Run) -> float:
    """The run's progress over all stages (each stage weighs the same), 0..1."""
    if run.status == "succeeded" or run.stage == "done":
        return 1.0
    if run.stage not in STAGES:
        return 0.0
    return min(1.0, (STAGES.index(run.stage) + (run.progress or 0.0)) / len(STAGES))


def stage_line(run: Run) -> str:
    """The stages as one markdown line: done ones ticked, the current one bold, later ones grey."""
    current = STAGES.index(run.stage) if run.stage in STAGES else (len(STAGES) if run.stage == "done" else -1)
    marks = []
    for i, name in enumerate(STAGES):
        if i < current:
            marks.append(f":green[:material/check: {name}]")
        elif i == current:
            marks.append(f"**:material/arrow_right: {name}**")
        else:
            marks.append(f":gray[{name}]")
    return " · ".join(marks)


def status_header(run: Run) -> None:
    """Run id, status word (in the `run-status` container), when, the LF config and the note."""
    with st.container(key="run-status"):
        st.markdown(f"#### Run {run.id} · {run.status}")
    duration = run.duration()
    when = [f"created {fmt_time(run.created_at)} UTC"]
    if duration is not None:
        when.append(f"{'took' if run.is_finished else 'running for'} {duration:.0f} s")
    st.caption(" · ".join(when) + f" · LF config {run.short_hash}")
    if run.note:
        st.text(f"Note: {run.note}")


@st.fragment(run_every=POLL_SECONDS)
def live(run_id: int) -> None:
    """A queued or running run, re-read every POLL_SECONDS: stages, progress, live curves and Cancel. When it
    ends, the whole page reruns once to draw the outcome (and this fragment is no longer drawn)."""
    registry = context.registry()
    run = registry.get(run_id)
    if run.is_finished:
        st.rerun()
    status_header(run)
    st.markdown(stage_line(run))
    text = run.stage_text() if run.stage else "waiting for the job process to start"
    st.progress(overall_progress(run), text=text)
    if st.button("Cancel", key="cancel", icon=":material/cancel:"):
        try:
            st.toast(jobs.cancel(registry, run_id))
        except ValueError as e:
            st.error(render.markdown_literal(e))
    run_results.curves_section(registry, [run_id], key=f"live-{run_id}")


def show(registry: Registry, run: Run | None) -> None:
    """The followed run: live while active, else its outcome; a hint when there is none."""
    if run is None:
        st.info("No retrain yet: set the parameters above (or keep the defaults) and press Retrain.")
        return
    if run.is_active:
        live(run.id)
        return
    status_header(run)
    run_results.results_section(registry, run)
