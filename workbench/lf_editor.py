"""The Labeling functions page's editors: one per LF by template, and the form that adds an LF.

Every widget writes through an on_change callback, which runs before the next script run (so the sidebar and the
figures of that run already see the edit): it builds the edited spec from the working copy, validates it
(`lfs.config.validate_spec`, `LFConfig.replace/add/remove`) and either makes it the working copy
(`state.set_working`) or keeps the message in `state.LF_ERRORS`, shown under that LF; the working copy keeps its
last valid value. After a valid edit every widget of the LF is set to the normalized spec (trimmed, de-duplicated
keywords), which is also what keeps the threshold's number input and slider in sync. A threshold LF's Autotune
button sets its value by the objective chosen in the suggestions panel (lfs.suggest.autotune).

Widget keys are ``ed-{generation}-{lf}-{field}`` (see `wkey`); their values are put into session state before the
widgets are drawn, never passed as defaults, so a callback can set them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import streamlit as st

from lfs.config import spec_from_dict, validate_spec
from lfs.spec import (
    FEATURES,
    LABELS,
    MATCH_MODES,
    OPERATORS,
    TEXT_FIELDS,
    KeywordLF,
    KeywordRule,
    LFSpec,
    LFSpecError,
    PythonLF,
    ThresholdLF,
)
from lfs.suggest import MIN_ACCURACY, MIN_COVERAGE, OBJECTIVES, autotune
from lfs.workspace import Split
from workbench import context, state
from workbench.render import markdown_literal
from workbench.widgets import label_name

ADD_TEMPLATES = ("keyword", "threshold")
OP_WIDTH = 90  # px: the operator's selectbox ("<", ">=", ...) in a threshold row
SIDE_WIDTH = 200  # px: a keyword rule's label and remove button beside its keywords
_LABEL_OPTIONS = tuple(sorted(LABELS, reverse=True))  # positive first


def wkey(name: str, field: str) -> str:
    """The key of one editor widget, e.g. ``ed-1-polarity_positive-value``."""
    return f"ed-{state.generation()}-{name}-{field}"


def _seed(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def keywords_text(keywords) -> str:
    return "\n".join(keywords)


def keywords_list(text: str | None) -> list[str]:
    """One keyword per line; blank lines are ignored (validation trims and de-duplicates the rest)."""
    return [line for line in (text or "").splitlines() if line.strip()]


# -- callbacks ---------------------------------------------------------------------------------------------------
def _errors() -> dict[str, str]:
    return st.session_state.setdefault(state.LF_ERRORS, {})


def edit(name: str, change: Callable[[LFSpec], LFSpec]) -> None:
    """Apply `change` to LF `name` of the working copy, or keep why it is invalid under that LF."""
    cfg = state.working(context.store())
    try:
        spec = validate_spec(change(cfg.get(name)))
        state.set_working(cfg.replace(name, spec))
    except (LFSpecError, KeyError) as e:
        _errors()[name] = str(e).strip("\"'")
        return
    _errors().pop(name, None)
    if not isinstance(spec, PythonLF):
        st.session_state[state.SELECTED_LF] = name
    _sync(spec)


def _sync(spec: LFSpec) -> None:
    """Set every editor widget of `spec` to its (normalized) value."""
    values = {"enabled": spec.enabled}
    if isinstance(spec, ThresholdLF):
        values |= {"feature": spec.feature, "op": spec.op, "value": spec.value, "slider": spec.value,
                   "label": spec.label}
    elif isinstance(spec, KeywordLF):
        values |= {"field": spec.field, "match": spec.match}
        for i, rule in enumerate(spec.rules, start=1):
            values |= {f"rule{i}-keywords": keywords_text(rule.keywords), f"rule{i}-label": rule.label}
    for field, value in values.items():
        st.session_state[wkey(spec.name, field)] = value


def _set(name: str, field: str, attr: str) -> None:
    value = st.session_state.get(wkey(name, field))
    edit(name, lambda s: dataclasses.replace(s, **{attr: value}))


def _set_value(name: str, field: str) -> None:
    """The threshold changed in the number input or the slider (`field`)."""
    value = st.session_state.get(wkey(name, field))
    edit(name, lambda s: dataclasses.replace(s, value=float(value) if value is not None else None))


def _set_rule(name: str, i: int) -> None:
    """Rule i (1-based) changed; i = len(rules) + 1 is a pending new rule, added once it has a keyword."""
    words = keywords_list(st.session_state.get(wkey(name, f"rule{i}-keywords")))
    label = st.session_state.get(wkey(name, f"rule{i}-label"), LABELS[-1])

    def change(spec: KeywordLF) -> KeywordLF:
        rules = list(spec.rules)
        if i > len(rules):
            if not words:
                return spec
            rules.append(KeywordRule(tuple(words), label))
        else:
            rules[i - 1] = KeywordRule(tuple(words), label)
        return dataclasses.replace(spec, rules=tuple(rules))

    edit(name, change)


def objective() -> tuple[str, float, float]:
    """(objective, min coverage, min accuracy) as set in the suggestions panel, else the defaults."""
    ss = st.session_state
    return (ss.get(state.ASSIST_OBJECTIVE, OBJECTIVES[0]), ss.get(state.ASSIST_MIN_COVERAGE, MIN_COVERAGE),
            ss.get(state.ASSIST_MIN_ACCURACY, MIN_ACCURACY))


def autotune_help() -> str:
    goal, coverage, accuracy = objective()
    want = (f"the highest accuracy at coverage >= {coverage:.1%}" if goal == "accuracy"
            else f"the highest coverage at accuracy >= {accuracy:.0%}")
    return f"Set the threshold to the value with {want} on dev (feature, operator and label kept)"


def _autotune(name: str, split: Split) -> None:
    """Set LF `name`'s threshold by the objective (lfs.suggest.autotune) and mark it on the sweep chart."""
    goal, coverage, accuracy = objective()
    try:
        point = autotune(state.working(context.store()).get(name), split.data, split.gold, objective=goal,
                         min_coverage=coverage, min_accuracy=accuracy)
    except (ValueError, KeyError) as e:
        _errors()[name] = f"Autotune: {e}"
        return
    edit(name, lambda s: dataclasses.replace(s, value=point.value))
    st.session_state.setdefault(state.AUTOTUNED, {})[name] = point.value
    state.flash("success", f"Autotuned `{name}` to {point.value:g}: dev coverage {point.coverage:.2%}, accuracy "
                           f"{point.accuracy:.1%} on {point.rows:,} labelled rows ({goal} objective).")


def _add_rule(name: str, n: int) -> None:
    """Show a pending rule n (its widgets' state is the marker); it joins the LF once it has a keyword."""
    st.session_state[wkey(name, f"rule{n}-keywords")] = ""
    st.session_state[wkey(name, f"rule{n}-label")] = LABELS[-1]


def _drop_keys(name: str, fields) -> None:
    for field in fields:
        st.session_state.pop(wkey(name, field), None)


def _remove_rule(name: str, i: int, n: int) -> None:
    """Remove rule i of n (n counts a pending rule too)."""
    cfg = state.working(context.store())
    spec = cfg.get(name)
    if i > len(spec.rules):  # the pending rule
        _drop_keys(name, (f"rule{i}-keywords", f"rule{i}-label"))
        return
    edit(name, lambda s: dataclasses.replace(s, rules=s.rules[:i - 1] + s.rules[i:]))
    if name not in _errors():
        _drop_keys(name, [f"rule{k}-{f}" for k in range(len(spec.rules), n + 1) for f in ("keywords", "label")])


def _delete(name: str) -> None:
    cfg = state.working(context.store())
    try:
        state.set_working(cfg.remove(name))
    except KeyError:
        return
    _errors().pop(name, None)
    prefix = wkey(name, "")
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        del st.session_state[key]
    state.flash("info", f"Deleted LF `{name}` from the working copy (not saved; reload the saved version to undo).")


# -- the editors -------------------------------------------------------------------------------------------------
def editor(spec: LFSpec, split: Split) -> None:
    """The widgets of one LF, its error if its last edit was rejected."""
    name = spec.name
    # Rows are horizontal containers, not st.columns: one layout block instead of one per column, and every
    # element is sent again on each edit.
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown(f"**`{name}`** · {spec.template}", width="stretch")
    _seed(wkey(name, "enabled"), spec.enabled)
    head.toggle("Enabled", key=wkey(name, "enabled"), on_change=_set, args=(name, "enabled", "enabled"))
    head.button(":material/delete:", key=wkey(name, "delete"), help=f"Delete {name}", on_click=_delete,
                  args=(name,))
    if spec.note:
        st.caption(markdown_literal(spec.note))
    if isinstance(spec, ThresholdLF):
        _threshold_editor(spec, split)
    elif isinstance(spec, KeywordLF):
        _keyword_editor(spec)
    else:
        st.caption(f"Code-defined LF `{spec.function}` (edited in code, not here).")
    message = st.session_state.get(state.LF_ERRORS, {}).get(name)
    if message:
        st.error(markdown_literal(message), icon=":material/error:")


def _choice(label: str, options, name: str, field: str, attr: str, value, container=st, **kw) -> None:
    _seed(wkey(name, field), value)
    container.selectbox(label, options, key=wkey(name, field), on_change=_set, args=(name, field, attr), **kw)


def _threshold_editor(spec: ThresholdLF, split: Split) -> None:
    name = spec.name
    row = st.container(horizontal=True)
    _choice("Feature", list(FEATURES), name, "feature", "feature", spec.feature, row,
            help=FEATURES.get(spec.feature))
    _choice("Operator", OPERATORS, name, "op", "op", spec.op, row, width=OP_WIDTH)
    low, high, step = slider_range(*feature_range(context.fingerprint(), spec.feature, split), spec.value)
    decimals = max(0, -math.floor(math.log10(step))) + 1
    _seed(wkey(name, "value"), float(spec.value))
    row.number_input("Threshold", key=wkey(name, "value"), step=step, format=f"%.{decimals}f",
                     on_change=_set_value, args=(name, "value"))
    _choice("Label", _LABEL_OPTIONS, name, "label", "label", spec.label, row, format_func=label_name)
    row.button("Autotune", key=wkey(name, "autotune"), icon=":material/tune:", on_click=_autotune,
               args=(name, split), help=autotune_help())
    _seed(wkey(name, "slider"), float(spec.value))
    st.slider(f"Threshold over the observed range of {spec.feature}", min_value=low, max_value=high, step=step,
              key=wkey(name, "slider"), on_change=_set_value, args=(name, "slider"), label_visibility="collapsed")


def _keyword_editor(spec: KeywordLF) -> None:
    name = spec.name
    row = st.container(horizontal=True)
    _choice("Text field", TEXT_FIELDS, name, "field", "field", spec.field, row)
    _choice("Match", MATCH_MODES, name, "match", "match", spec.match, row,
            help="substring: anywhere in the text; word: not touching a letter, digit or '_' on either side")
    pending = wkey(name, f"rule{len(spec.rules) + 1}-keywords") in st.session_state
    n = len(spec.rules) + pending
    for i in range(1, n + 1):
        rule = spec.rules[i - 1] if i <= len(spec.rules) else KeywordRule((), LABELS[-1])
        words = st.container(horizontal=True)
        side = words.container(width=SIDE_WIDTH)
        _seed(wkey(name, f"rule{i}-keywords"), keywords_text(rule.keywords))
        words.text_area(f"Rule {i}: keywords, one per line" + (" (new: joins the LF once it has one)"
                                                               if i > len(spec.rules) else ""),
                        key=wkey(name, f"rule{i}-keywords"), height=110, on_change=_set_rule, args=(name, i))
        _seed(wkey(name, f"rule{i}-label"), rule.label)
        side.selectbox(f"Rule {i} votes", _LABEL_OPTIONS, format_func=label_name, key=wkey(name, f"rule{i}-label"),
                       on_change=_set_rule, args=(name, i))
        side.button("Remove rule", key=wkey(name, f"rule{i}-remove"), on_click=_remove_rule, args=(name, i, n),
                    disabled=n == 1, help="An LF needs a rule; delete the LF instead" if n == 1 else None)
    st.button("Add rule", icon=":material/add:", key=wkey(name, "add-rule"), on_click=_add_rule,
              args=(name, n + 1), disabled=n > len(spec.rules))
    if len(spec.rules) > 1:
        st.caption("The first rule with a matching keyword decides.")


# -- slider range ------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def feature_range(fingerprint: str, feature: str, _split: Split) -> tuple[float, float]:  # noqa: ARG001
    """(min, max) of a feature's observed (non-missing) values on the split; (0, 1) when none is observed."""
    values = _split.data.feature(feature)
    observed = values[~np.isnan(values)]
    return (float(observed.min()), float(observed.max())) if len(observed) else (0.0, 1.0)


def slider_range(low: float, high: float, value: float) -> tuple[float, float, float]:
    """(min, max, step) for the threshold slider: the observed range on round steps (about 1/100 of it),
    widened to hold `value`.

    >>> slider_range(-1.0, 1.0, 0.3)
    (-1.0, 1.0, 0.01)
    >>> slider_range(1.0, 42.0, 100.0)
    (1.0, 100.0, 0.1)
    """
    span = high - low
    step = 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01
    digits = max(0, -math.floor(math.log10(step))) + 2
    low = round(math.floor(min(low, value) / step) * step, digits)
    high = round(math.ceil(max(high, value) / step) * step, digits)
    return low, max(high, low + step), step


# -- adding an LF ------------------------------------------------------------------------------------------------
def _add() -> None:
    ss = st.session_state
    template = ss.get(state.ADD_TEMPLATE, ADD_TEMPLATES[0])
    d = {"name": (ss.get(state.ADD_NAME) or "").strip(), "template": template}
    if template == "threshold":
        d |= {"feature": ss.get(state.ADD_FEATURE, next(iter(FEATURES))), "op": ss.get(state.ADD_OP, OPERATORS[0]),
              "value": ss.get(state.ADD_VALUE, 0.0), "label": ss.get(state.ADD_LABEL, LABELS[-1])}
    else:
        d |= {"field": ss.get(state.ADD_FIELD, TEXT_FIELDS[0]), "match": ss.get(state.ADD_MATCH, MATCH_MODES[0]),
              "rules": [{"label": ss.get(state.ADD_KW_LABEL, LABELS[-1]),
                         "keywords": keywords_list(ss.get(state.ADD_KEYWORDS))}]}
    cfg = state.working(context.store())
    try:
        spec = spec_from_dict(d)
        state.set_working(cfg.add(spec))
    except LFSpecError as e:
        ss[state.LF_ADD_ERROR] = f"Not added: {e}"
        return
    ss.pop(state.LF_ADD_ERROR, None)
    ss[state.SELECTED_LF] = spec.name
    ss[state.ADD_NAME] = ""
    if state.ADD_KEYWORDS in ss:
        ss[state.ADD_KEYWORDS] = ""
    state.flash("success", f"Added LF `{spec.name}` to the working copy (not saved yet).")


def add_form() -> None:
    """Name and template, then the template's fields; Add validates and appends to the working copy."""
    st.markdown("**Add a labeling function**")
    row = st.container(horizontal=True)
    row.text_input("Name", key=state.ADD_NAME, placeholder="letters, digits, '_' and '-'", max_chars=64)
    row.selectbox("Template", ADD_TEMPLATES, key=state.ADD_TEMPLATE)
    if st.session_state.get(state.ADD_TEMPLATE, ADD_TEMPLATES[0]) == "threshold":
        row = st.container(horizontal=True)
        row.selectbox("Feature", list(FEATURES), key=state.ADD_FEATURE)
        row.selectbox("Operator", OPERATORS, key=state.ADD_OP, width=OP_WIDTH)
        row.number_input("Threshold", value=0.0, key=state.ADD_VALUE, format="%g")
        row.selectbox("Label", _LABEL_OPTIONS, format_func=label_name, key=state.ADD_LABEL)
    else:
        row = st.container(horizontal=True)
        row.selectbox("Text field", TEXT_FIELDS, key=state.ADD_FIELD)
        row.selectbox("Match", MATCH_MODES, key=state.ADD_MATCH)
        row.selectbox("Votes", _LABEL_OPTIONS, format_func=label_name, key=state.ADD_KW_LABEL)
        st.text_area("Keywords, one per line", key=state.ADD_KEYWORDS, height=110)
    st.button("Add LF", icon=":material/add:", key="add-submit", on_click=_add)
    message = st.session_state.get(state.LF_ADD_ERROR)
    if message:
        st.error(markdown_literal(message), icon=":material/error:")
