"""The Examples page in AppTest on the tiny workbench data (HOSTILE_REVIEW planted in dev).

Counts and rows are checked against lfs.analysis / lfs.example_rows on the same data, read outside Streamlit.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from streamlit.proto.Block_pb2 import Block as BlockProto
from streamlit.runtime.state.common import user_key_from_element_id

from lfs.analysis import lf_rows
from lfs.config import load_default
from lfs.example_rows import ExampleFilter, review_present, sample, select
from lfs.suggest import keyword_suggestions, open_context
from lfs.triage import phrase_mask, triage_order
from lfs.workspace import open_split
from pipeline.data.dataset import load_prepared
from tests.workbench_fixtures import HOSTILE_REVIEW
from workbench import nav, state
from workbench.examples_view import label_probs, order_from_query_params

COUNT = re.compile(r"([\d,]+) rows match")
ROW = re.compile(r"· row ([\d,]+)</span>")


def dev_split(data):
    return open_split(load_prepared(data / "processed"), "dev")


def open_examples(at, flt: ExampleFilter | None = None):
    at.run()
    if flt is not None:
        at.session_state[state.EX_FILTER] = flt
    at.switch_page(nav.EXAMPLES).run()
    assert not at.exception, at.exception
    return at


def block(at, key: str):
    found = [node for node in at.main if isinstance(getattr(node, "proto", None), BlockProto)
             and node.proto.HasField("id") and user_key_from_element_id(node.proto.id) == key]
    assert len(found) == 1, f"no single container {key!r}"
    return found[0]


def count(at) -> int:
    texts = [m.value for m in block(at, "ex-count") if getattr(m, "type", "") == "markdown"]
    (match,) = [COUNT.search(t) for t in texts if COUNT.search(t)]
    return int(match.group(1).replace(",", ""))


def cards(at) -> list[str]:
    """The card HTML of each example-{k} container, in k order."""
    out = []
    while True:
        try:
            container = block(at, f"example-{len(out)}")
        except AssertionError:
            return out
        (html,) = [node.proto.body for node in container if getattr(node, "type", "") == "html"]
        out.append(html)


def shown_rows(at) -> list[int]:
    return [int(ROW.search(card).group(1).replace(",", "")) for card in cards(at)]


def test_page_loads_with_every_dev_row(apptest, workbench_data):
    at = open_examples(apptest)
    n = len(dev_split(workbench_data).rows)
    assert count(at) == n
    assert shown_rows(at) == list(range(min(10, n)))
    assert at.query_params == {"split": ["dev"]}


@pytest.mark.parametrize(("lf", "kind"), [("polarity_positive", "incorrect"), ("polarity_positive", "correct"),
                                          ("stars_in_review", "fires"), ("polarity_negative", "conflicts")])
def test_a_handed_over_filter_shows_the_rows_behind_the_figure(apptest, workbench_data, lf, kind):
    split = dev_split(workbench_data)
    specs = load_default().enabled()
    expected = lf_rows(split.matrix(specs), [s.name for s in specs].index(lf), kind, split.gold)
    at = open_examples(apptest, ExampleFilter(lf=lf, kind=kind))
    assert count(at) == len(expected)
    assert shown_rows(at) == expected[:10].tolist()
    assert at.selectbox(key="ex-lf").value == lf and at.selectbox(key="ex-kind").value == kind
    assert at.query_params == {"split": ["dev"], "lf": [lf], "kind": [kind]}
    assert state.EX_FILTER not in at.session_state
    for card in cards(at):
        assert f"{lf}: " in card


def test_a_link_opens_the_page_filtered(apptest, workbench_data):
    split = dev_split(workbench_data)
    specs = load_default().enabled()
    expected = lf_rows(split.matrix(specs), 2, "fires", split.gold)
    apptest.query_params.update({"split": "dev", "lf": "polarity_positive", "kind": "fires", "has_review": "true"})
    at = open_examples(apptest)
    assert count(at) == len(expected)  # polarity fires only on rows with a review
    assert at.selectbox(key="ex-review").value == "yes"


def test_a_bad_link_warns_and_shows_every_row(apptest, workbench_data):
    apptest.query_params.update({"split": "dev", "kind": "sideways"})
    at = open_examples(apptest)
    shown = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]  # the message is Markdown-escaped
    assert any("query parameter 'kind'" in w for w in shown)
    assert count(at) == len(dev_split(workbench_data).rows)


def test_an_lf_that_is_not_enabled_is_dropped_with_a_warning(apptest, workbench_data):
    at = open_examples(apptest, ExampleFilter(lf="no_such_lf", kind="fires"))
    assert any("no\\_such\\_lf" in w.value or "no_such_lf" in w.value for w in at.warning)
    assert count(at) == len(dev_split(workbench_data).rows)


def test_hostile_review_renders_as_text(apptest):
    at = open_examples(apptest, ExampleFilter(lf="stars_in_review", keyword="5 stars"))
    hostile = [card for card in cards(at) if "onerror" in card]
    assert len(hostile) == 1
    card = hostile[0]
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in card
    assert "&lt;img src=x onerror=alert(1)&gt;" in card
    assert "<mark>5 stars</mark>" in card
    assert '<div class="review"' in card
    for html in cards(at):
        assert "<script" not in html.lower() and "<img" not in html.lower()
    assert HOSTILE_REVIEW not in " ".join(m.value for m in at.markdown)  # never rendered as markdown


def test_train_split_without_gold(apptest, workbench_data):
    at = open_examples(apptest)
    at.selectbox(key="ex-split").select("train").run()
    assert not at.exception, at.exception
    prepared = load_prepared(workbench_data / "processed")
    assert count(at) == len(prepared.splits["train"])
    assert at.selectbox(key="ex-gold").disabled
    at.selectbox(key="ex-lf").select("polarity_positive").run()
    kinds = at.selectbox(key="ex-kind").options
    assert "fires" in kinds and "correct" not in kinds and "incorrect" not in kinds
    assert all("no gold" in card for card in cards(at))
    at.checkbox(key="ex-conflicts").check().run()
    assert not at.exception and at.query_params["conflicts"] == ["true"]


def test_pages_and_seeded_random_order(apptest, workbench_data):
    at = open_examples(apptest)
    n = len(dev_split(workbench_data).rows)
    at.number_input(key="ex-page").set_value(2).run()
    assert shown_rows(at) == list(range(10, min(20, n)))
    at.selectbox(key="ex-page-size").select(25).run()  # a change other than the page goes back to page 1
    assert at.number_input(key="ex-page").value == 1 and shown_rows(at) == list(range(min(25, n)))
    at.radio(key="ex-order").set_value("random").run()
    at.number_input(key="ex-seed").set_value(5).run()
    assert shown_rows(at) == sample(np.arange(n), 25, 5).tolist()
    assert at.query_params == {"split": ["dev"], "order": ["random"], "seed": ["5"]}  # a link to this sample
    at.number_input(key="ex-page").set_value(2).run()
    page_two = sample(np.arange(n), 50, 5)[25:].tolist()
    assert shown_rows(at) == page_two
    at.switch_page(nav.OVERVIEW).run()
    at.switch_page(nav.EXAMPLES).run()  # back from another page: the same rows
    assert not at.exception and shown_rows(at) == page_two


def test_edits_to_the_working_config_show_here(apptest, workbench_data):
    cfg = load_default()
    edited = cfg.replace("polarity_positive", replace(cfg.get("polarity_positive"), value=0.9))
    split = dev_split(workbench_data)
    expected = lf_rows(split.matrix(edited.enabled()), 2, "fires", split.gold)
    apptest.session_state[state.WORKING] = edited
    apptest.session_state[state.BASE] = 1
    at = open_examples(apptest, ExampleFilter(lf="polarity_positive", kind="fires"))
    assert count(at) == len(expected)
    assert len(expected) < len(lf_rows(split.matrix(cfg.enabled()), 2, "fires", split.gold))


def triage_expected(data, cfg=None, flt: ExampleFilter | None = None) -> np.ndarray:
    """dev's read-next queue of the rows `flt` selects (all) with the enabled LFs of `cfg` (the default config),
    computed outside Streamlit as the page is said to compute it."""
    prepared = load_prepared(data / "processed")
    split = open_split(prepared, "dev")
    specs = (cfg or load_default()).enabled()
    rows = select(split, specs, split.matrix(specs), flt or ExampleFilter())
    L = split.matrix(specs)[rows]
    found = keyword_suggestions(open_context(prepared, specs), fields=["review_text"], top=10)
    phrases = phrase_mask(split.data, [s.spec for s in found])[rows]
    probs = label_probs(split.matrix(specs))
    order = triage_order(L, None if probs is None else probs[rows], split.data.book_idx[rows], phrases,
                         has_review=review_present(split)[rows])
    return rows[order]


def test_read_next_shows_dev_in_triage_order_page_by_page(apptest, workbench_data):
    expected = triage_expected(workbench_data)
    assert len(expected) > 10  # two pages at least
    at = open_examples(apptest)
    at.radio(key="ex-order").set_value("triage").run()
    assert not at.exception, at.exception
    assert count(at) == len(expected)
    assert shown_rows(at) == expected[:10].tolist()
    (caption,) = [c.value for c in at.caption if "Read next" in c.value]
    assert "label model's uncertainty" in caption and "LFs conflict" in caption
    assert at.query_params == {"split": ["dev"], "order": ["triage"]}
    at.number_input(key="ex-page").set_value(2).run()
    assert shown_rows(at) == expected[10:20].tolist()


def test_read_next_with_two_lfs_orders_by_majority_vote_within_the_filter(apptest, workbench_data):
    cfg = load_default()
    for name in cfg.names[2:]:
        cfg = cfg.remove(name)
    apptest.session_state[state.WORKING] = cfg
    apptest.session_state[state.BASE] = 1
    apptest.query_params.update({"split": "dev", "has_review": "true", "order": "triage"})
    at = open_examples(apptest)
    (caption,) = [c.value for c in at.caption if "Read next" in c.value]
    assert "majority vote's margin" in caption and "label model's uncertainty" not in caption
    expected = triage_expected(workbench_data, cfg, ExampleFilter(has_review=True))
    assert count(at) == len(expected) and shown_rows(at) == expected[:10].tolist()


def test_a_read_next_link_off_dev_says_it_works_on_dev(apptest, workbench_data):
    apptest.query_params.update({"split": "val", "order": "triage"})
    at = open_examples(apptest)
    assert at.radio(key="ex-order").value == "triage"
    assert any("works on the dev split" in i.value for i in at.info)
    assert cards(at) == []
    at.selectbox(key="ex-split").select("dev").run()
    assert not at.exception and not at.info
    assert shown_rows(at) == triage_expected(workbench_data)[:10].tolist()


def test_the_order_a_link_carries():
    assert order_from_query_params({"split": "dev"}) == {}
    assert order_from_query_params({"order": "random", "seed": "5"}) == {"ex-order": "random", "ex-seed": 5}
    assert order_from_query_params({"order": "triage"}) == {"ex-order": "triage", "ex-seed": 0}
    for bad in ({"order": "sideways"}, {"order": "random", "seed": "-1"}, {"order": "random", "seed": "x"}):
        with pytest.raises(ValueError, match="query parameter"):
            order_from_query_params(bad)
