"""The Examples page's widgets: the filter (from a hand-over, a URL or the widgets), the order, the pager and the
cards.

Every widget's value lives in st.session_state under its key (ex-split ...), set before the widget is drawn, so a
filter handed over by the LF page or carried by a URL lands in the widgets. The last values are kept under
state.EX_PAGE, so coming back from another page shows the same rows. The order "read next" shows dev's rows in
lfs.triage's order, with the label model fitted on dev's votes and the keyword suggestions' phrases (both cached).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from lfs.apply import column_key
from lfs.example_rows import (
    GOLD_KINDS,
    LF_KINDS,
    QUERY_PARAMS,
    ExampleFilter,
    example_frame,
    from_query_params,
    page_count,
    page_of,
    review_present,
    sample,
    select,
    to_query_params,
    vote_column,
)
from lfs.spec import KeywordLF, LFSpec
from lfs.suggest import keyword_suggestions, open_context
from lfs.triage import CONFLICT, COVERED, PER_WINDOW, PHRASE, WINDOW, group_counts, phrase_mask, triage_order
from lfs.workspace import Split
from pipeline.training.labelmodel import MIN_LABEL_MODEL_LFS, LabelModelParams, fit_label_model
from workbench import context, render, state
from workbench.widgets import label_name

# Widget keys (the browser tests select on them: CSS class st-key-<key>).
SPLIT, LF, KIND, KEYWORD, GOLD = "ex-split", "ex-lf", "ex-kind", "ex-keyword", "ex-gold"
REVIEW, CONFLICTS, UNCOVERED = "ex-review", "ex-conflicts", "ex-uncovered"
ORDER, SEED, PAGE_SIZE, PAGE = "ex-order", "ex-seed", "ex-page-size", "ex-page"
COUNT = "ex-count"

ANY = ""  # "no restriction" in the filter's select boxes (never an LF name or a keyword)
GOLD_OPTIONS = {ANY: "any", "1": "positive", "0": "negative"}
REVIEW_OPTIONS = {ANY: "any", "yes": "with a review", "no": "without a review"}
TRIAGE = "triage"
ORDERS = {"dataset": "dataset order", "random": "seeded random sample", TRIAGE: "read next (triage)"}
ORDER_PARAM, SEED_PARAM = "order", "seed"  # URL query parameters of the order (beside the filter's)
PAGE_SIZES = (10, 25, 50)
MAX_SEED = 2**31 - 1
DEFAULTS = {SPLIT: ExampleFilter.split, LF: ANY, KIND: ANY, KEYWORD: ANY, GOLD: ANY, REVIEW: ANY,
            CONFLICTS: False, UNCOVERED: False, ORDER: "dataset", SEED: 0, PAGE_SIZE: PAGE_SIZES[0], PAGE: 1}


# -- where the filter comes from ------------------------------------------------------------------------------
def _write_filter(flt: ExampleFilter) -> None:
    """Put `flt` into the filter widgets' keys (before they are drawn)."""
    review = {None: ANY, True: "yes", False: "no"}[flt.has_review]
    st.session_state.update({
        SPLIT: flt.split, LF: flt.lf or ANY, KIND: flt.kind or ANY, KEYWORD: flt.keyword or ANY,
        GOLD: ANY if flt.gold is None else str(int(flt.gold)), REVIEW: review,
        CONFLICTS: bool(flt.conflicts), UNCOVERED: bool(flt.uncovered),
    })


def restore() -> None:
    """Before the widgets: a filter handed over by the LF page (shown from page 1); else, when the widgets are not
    alive (first load, or back from another page), the last view shown with the URL's filter, if any, on top;
    else the widgets keep what they hold."""
    handed = st.session_state.pop(state.EX_FILTER, None)
    if handed is not None:
        _write_filter(handed)
        st.session_state[PAGE] = 1
    elif SPLIT not in st.session_state:
        st.session_state.update(st.session_state.get(state.EX_PAGE, {}))
        params = {name: st.query_params[name] for name in (*QUERY_PARAMS, ORDER_PARAM, SEED_PARAM)
                  if name in st.query_params}
        if params:
            try:
                flt, order = from_query_params(params), order_from_query_params(params)  # both checked first
                _write_filter(flt)
                st.session_state.update(order)
            except ValueError as e:
                st.warning(f"The link's filter was not used ({render.markdown_literal(e)}); showing all rows instead.")
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def _choose(key: str, options: Sequence, what: str) -> None:
    """Reset widget `key` to "any" when its value is not among `options` (an LF disabled since, say), saying so."""
    value = st.session_state.get(key, ANY)
    if value not in options:
        st.warning(f"{what} {render.markdown_literal(repr(value))} is not available here; showing any.")
        st.session_state[key] = ANY


# -- the filter widgets -----------------------------------------------------------------------------------------
def filters(specs: Sequence[LFSpec], splits: dict[str, bool]) -> ExampleFilter:
    """Draw the filter widgets and return their filter; `splits`: split name -> whether it has gold labels."""
    if st.session_state[SPLIT] not in splits:
        st.session_state[SPLIT] = DEFAULTS[SPLIT] if DEFAULTS[SPLIT] in splits else next(iter(splits))
    names = [s.name for s in specs]
    _choose(LF, [ANY, *names], "LF")
    top = st.columns([1, 2, 1, 2])
    split = top[0].selectbox("Split", list(splits), key=SPLIT,
                             help="dev, val and test have gold labels; train does not")
    rated = splits[split]
    lf = top[1].selectbox("LF", [ANY, *names], key=LF, format_func=lambda v: v or "any LF",
                          help="Rows by what this LF does (enabled LFs of your working config)")
    kinds = [k for k in LF_KINDS if rated or k not in GOLD_KINDS]
    if not lf:
        st.session_state[KIND] = ANY
    _choose(KIND, [ANY, *kinds], "Kind")
    kind = top[2].selectbox("What the LF does", [ANY, *kinds], key=KIND, disabled=not lf,
                            format_func=lambda v: v or "any", help=None if rated else
                            "correct / incorrect need gold labels, which train does not have")
    spec = specs[names.index(lf)] if lf else None
    keywords = list(spec.keywords) if isinstance(spec, KeywordLF) else []
    if not keywords:
        st.session_state[KEYWORD] = ANY
    _choose(KEYWORD, [ANY, *keywords], "Keyword")
    keyword = top[3].selectbox("Keyword", [ANY, *keywords], key=KEYWORD, disabled=not keywords,
                               format_func=lambda v: v or "any keyword",
                               help="Rows whose text contains this keyword of the LF (a keyword LF)")

    row = st.columns(4, vertical_alignment="bottom")
    if not rated:
        st.session_state[GOLD] = ANY
    gold = row[0].selectbox("Gold label", list(GOLD_OPTIONS), key=GOLD, format_func=GOLD_OPTIONS.get,
                            disabled=not rated, help=None if rated else "train has no gold labels")
    review = row[1].selectbox("Review", list(REVIEW_OPTIONS), key=REVIEW, format_func=REVIEW_OPTIONS.get)
    conflicts = row[2].checkbox("LFs conflict", key=CONFLICTS, help="Some enabled LFs vote positive, some negative")
    uncovered = row[3].checkbox("No LF votes", key=UNCOVERED, help="Every enabled LF abstains")
    if not rated:
        st.caption(f"The {split} split has no gold labels: the gold filter and the correct / incorrect kinds are "
                   "off here.")
    return ExampleFilter(split=split, lf=lf or None, kind=kind or None, keyword=keyword or None,
                         conflicts=conflicts, uncovered=uncovered, gold=int(gold) if gold else None,
                         has_review={ANY: None, "yes": True, "no": False}[review])


def order_query_params() -> dict[str, str]:
    """The order widgets' values as URL query parameters: none for dataset order, the seed with a random sample."""
    order = st.session_state.get(ORDER, DEFAULTS[ORDER])
    if order == DEFAULTS[ORDER]:
        return {}
    return {ORDER_PARAM: order, **({SEED_PARAM: str(int(st.session_state[SEED]))} if order == "random" else {})}


def order_from_query_params(params: dict[str, str]) -> dict[str, object]:
    """The order widgets' values a URL carries ({} when it has none); ValueError naming a bad parameter."""
    order = params.get(ORDER_PARAM)
    if order is None:
        return {}
    if order not in ORDERS:
        raise ValueError(f"query parameter {ORDER_PARAM!r}: {order!r} is not one of {', '.join(ORDERS)}")
    seed = params.get(SEED_PARAM, str(DEFAULTS[SEED]))
    if not seed.isdigit() or int(seed) > MAX_SEED:
        raise ValueError(f"query parameter {SEED_PARAM!r}: {seed!r} is not an integer from 0 to {MAX_SEED}")
    return {ORDER: order, SEED: int(seed)}


def reflect(flt: ExampleFilter) -> None:
    """Show the filter and the order in the URL (a link to share)."""
    params = to_query_params(flt) | order_query_params()
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


# -- rows, order and pages --------------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def ordered_rows(fingerprint: str, lf_keys: tuple[tuple[str, str], ...], flt: ExampleFilter,  # noqa: ARG001
                 seed: int | None, _split: Split, _specs: Sequence[LFSpec], _L: np.ndarray) -> np.ndarray:
    """The rows `flt` selects, in dataset order (seed None) or in the seeded random order; keyed on the dataset
    fingerprint, the enabled LFs (name, column key), the filter and the seed."""
    rows = select(_split, _specs, _L, flt)
    return rows if seed is None else sample(rows, None, seed)


def rows_for(fingerprint: str, split: Split, specs: Sequence[LFSpec], L: np.ndarray, flt: ExampleFilter,
             seed: int | None) -> np.ndarray:
    lf_keys = tuple((s.name, column_key(s)) for s in specs)
    return ordered_rows(fingerprint, lf_keys, flt, seed, split, specs, L)


def order_widgets() -> tuple[str, int | None]:
    """Dataset order, a seeded random sample or read next; returns the order and the seed (None: not random)."""
    left, right = st.columns(2, vertical_alignment="bottom")
    order = left.radio("Order", list(ORDERS), key=ORDER, format_func=ORDERS.get, horizontal=True,
                       help="Read next: dev's rows where the LFs conflict, then those they agree on, least certain "
                            "first, then rows no LF votes on that have a suggested phrase")
    seed = right.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key=SEED,
                              disabled=order != "random", help="The same seed shows the same sample")
    return order, int(seed) if order == "random" else None


# -- read next (triage) -------------------------------------------------------------------------------------------
TRIAGE_SPLIT = "dev"
# 500 epochs, not the training default of 5000: a tenth of the time (a third of a second on seed-scale dev, against
# over three) for what only orders rows by uncertainty and so needs no fully converged model.
TRIAGE_PARAMS = LabelModelParams(n_epochs=500)
SUGGESTED_PHRASES = 10  # the top keyword suggestions whose phrases make an uncovered row worth reading


def label_probs(L_dev: np.ndarray, params: LabelModelParams = TRIAGE_PARAMS) -> np.ndarray | None:
    """snorkel's LabelModel fitted on dev's own votes (unsupervised: gold is not read) and its predict_proba on
    them; None with fewer than MIN_LABEL_MODEL_LFS LFs, which LabelModel refuses."""
    if L_dev.shape[1] < MIN_LABEL_MODEL_LFS:
        return None
    return fit_label_model(L_dev, params).predict_proba(L_dev)


@st.cache_data(max_entries=4, show_spinner=False)
def _label_probs(fingerprint: str, lf_keys: tuple, _L: np.ndarray) -> np.ndarray | None:  # noqa: ARG001
    return label_probs(_L)


@st.cache_data(max_entries=4, show_spinner=False)
def _suggested(fingerprint: str, lf_keys: tuple, _specs: Sequence[LFSpec],  # noqa: ARG001
               _dev: Split, _val: Split) -> tuple[tuple[str, ...], np.ndarray]:
    """The phrases of the top keyword suggestions on review text (mined on dev, checked on val) and the dev rows
    that have one."""
    ctx = open_context(context.prepared(), list(_specs), dev=_dev, check=_val)
    found = keyword_suggestions(ctx, fields=["review_text"], top=SUGGESTED_PHRASES)
    return tuple(s.spec.keywords[0] for s in found), phrase_mask(_dev.data, [s.spec for s in found])


@st.cache_data(max_entries=16, show_spinner=False)
def _triage(fingerprint: str, lf_keys: tuple, flt: ExampleFilter, _split: Split,  # noqa: ARG001
            _specs: Sequence[LFSpec], _L: np.ndarray, _probs: np.ndarray | None,
            _phrases: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """The rows `flt` selects in triage order, and the queue's count per group."""
    rows = select(_split, _specs, _L, flt)
    L, probs = _L[rows], None if _probs is None else _probs[rows]
    order = triage_order(L, probs, _split.data.book_idx[rows], _phrases[rows],
                         has_review=review_present(_split)[rows])
    return rows[order], group_counts(L, _phrases[rows])


def triage_caption(counts: dict[int, int], phrases: Sequence[str], by_model: bool) -> str:
    """What the queue is made of and what orders it."""
    said = ", ".join(f"“{render.markdown_literal(p)}”" for p in phrases) or "none found"
    how = ("the label model's uncertainty (how close its P(positive) is to 0.5; fitted on dev's votes)" if by_model
           else f"the majority vote's margin (the label model needs {MIN_LABEL_MODEL_LFS} enabled LFs)")
    return (f"**Read next on dev**: {counts[CONFLICT]:,} rows where the LFs conflict, then {counts[COVERED]:,} "
            f"where they agree, each least certain first by {how}; then {counts[PHRASE]:,} rows no LF votes on "
            f"that have a suggested phrase ({said}), those with a review first. No book takes more than "
            f"{PER_WINDOW} of any {WINDOW} rows in a row where another book can.")


def triage_rows(fingerprint: str, split: Split, specs: Sequence[LFSpec], L: np.ndarray,
                flt: ExampleFilter) -> np.ndarray | None:
    """The rows `flt` selects in triage order, under a caption; None, with an info, off dev."""
    if split.name != TRIAGE_SPLIT:
        st.info(f"Read next works on the {TRIAGE_SPLIT} split, where the label model and the suggested phrases "
                f"are computed: pick {TRIAGE_SPLIT} as the split, or another order.")
        return None
    lf_keys = tuple((s.name, column_key(s)) for s in specs)
    with st.spinner("Ranking dev's rows: fitting the label model on dev's votes, finding suggested phrases…"):
        probs = _label_probs(fingerprint, lf_keys, L)
        phrases, mask = _suggested(fingerprint, lf_keys, specs, split, context.split("val"))
        rows, counts = _triage(fingerprint, lf_keys, flt, split, specs, L, probs, mask)
    st.caption(triage_caption(counts, phrases, probs is not None))
    return rows


def pager(total: int) -> tuple[int, int]:
    """Count line, page size and page number; returns (page, size). Any other change goes back to page 1."""
    with st.container(key=COUNT):
        st.markdown(f"**{total:,} rows match**")
    left, right = st.columns(2)
    size = left.selectbox("Rows per page", PAGE_SIZES, key=PAGE_SIZE)
    pages = page_count(total, size)
    view = {key: st.session_state[key] for key in DEFAULTS if key != PAGE}
    if view != {k: v for k, v in st.session_state.get(state.EX_PAGE, {}).items() if k != PAGE}:
        st.session_state[PAGE] = 1
    st.session_state[PAGE] = min(max(1, int(st.session_state[PAGE])), pages)
    page = right.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=PAGE)
    st.session_state[state.EX_PAGE] = {**view, PAGE: page}
    return int(page), size


# -- cards ------------------------------------------------------------------------------------------------------
def highlight_groups(specs: Sequence[LFSpec]) -> list[tuple[tuple[str, ...], str]]:
    """(keywords, match mode) of every enabled keyword LF over the review text."""
    return [(s.keywords, s.match)
            for s in specs if isinstance(s, KeywordLF) and s.field == "review_text"]


def cards(split: Split, specs: Sequence[LFSpec], L: np.ndarray, positions: np.ndarray) -> None:
    """One bordered card per row (container example-{k}), then the page as a table."""
    frame = example_frame(split, specs, L, positions)
    groups = highlight_groups(specs)
    has_gold = split.gold is not None
    for k, (row, ex) in enumerate(frame.iterrows()):
        card = render.Card(
            row=int(row), title=ex["title"], first_author=ex["author"],
            same_author_count=ex["same_author_count"], polarity=ex["polarity"], subjectivity=ex["subjectivity"],
            votes=[(s.name, label_name(ex[vote_column(s.name)])) for s in specs],
            gold=None if not has_gold or pd.isna(ex["gold"]) else label_name(ex["gold"]),
            review_text=ex["review_text"], highlights=groups)
        with st.container(key=f"example-{k}", border=True):
            st.html(render.card_html(card))
    if len(frame):
        with st.expander("This page as a table"):
            st.dataframe(frame, width="stretch")


def show(fingerprint: str, split: Split, specs: Sequence[LFSpec], flt: ExampleFilter) -> None:
    """Order, count, pager and the cards of the rows `flt` selects (an impossible filter: an error, not a trace)."""
    L = split.matrix(specs)
    order, seed = order_widgets()
    try:
        if order == TRIAGE:
            rows = triage_rows(fingerprint, split, specs, L, flt)
            if rows is None:
                return
        else:
            rows = rows_for(fingerprint, split, specs, L, flt, seed)
    except ValueError as e:
        st.error(f"This filter cannot be applied: {render.markdown_literal(e)}")
        return
    page, size = pager(len(rows))
    cards(split, specs, L, page_of(rows, page, size))
