"""Parity with snorkel: the vectorized engine (features once + numpy evaluators) gives exactly the label matrix
that snorkel's PandasLFApplier computes row by row, with each spec's snorkel LF and with the tutorial's own LFs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import PandasLFApplier

from lfs.apply import LFData, label_matrix
from lfs.config import load_default
from lfs.features import compute_features
from lfs.snorkel_lfs import BookFacts, to_snorkel_lf
from lfs.spec import FEATURES, OPERATORS, KeywordLF, KeywordRule, PythonLF, ThresholdLF
from pipeline.data.dataset import load_prepared
from tests.seed_lfs import make_seed_lfs

EDGE_TEXTS = [
    None,
    "",
    "   ",
    "4.3 stars - the 3 star phrase hides inside",
    "3.5/5 stars, but 2/5 stars for the sequel",
    "Zoë & Søren ★★★★☆ \U0001F60D loved it",
    "ONE STAR. \n Not good at all!!",
    "five stars_ underscore glued",
    "(view spoiler)[she dies (hide spoiler)] 4/5",
    "Wasn't bad. Can't wait for the sequel, I need the next book!",
    "DNF at page 50",
    "\u00a0non-breaking space and 2 out of 5",
]


def _threshold_battery(features: pd.DataFrame) -> list:
    specs = []
    for name in FEATURES:
        observed = features[name].dropna()
        value = float(observed.mean()) if len(observed) else 0.0  # the median of a skewed count may be its minimum
        for i, op in enumerate(OPERATORS):
            specs.append(ThresholdLF(f"{name}_{i}", feature=name, op=op, value=value, label=i % 2))
    return specs


KEYWORD_BATTERY = [
    KeywordLF("kw_sub", rules=(KeywordRule(("3 star", "one star", "2 out of 5"), 0),
                               KeywordRule(("5 stars", "4/5", "★★★★"), 1))),
    KeywordLF("kw_word", match="word", rules=(KeywordRule(("3 star", "one star", "dnf"), 0),
                                              KeywordRule(("5 stars", "five stars", "loved it"), 1))),
    KeywordLF("kw_title", field="title", rules=(KeywordRule(("crown", "the "), 1),)),
    KeywordLF("kw_title_word", field="title", match="word", rules=(KeywordRule(("star", "queen"), 0),)),
    KeywordLF("kw_description", field="description", match="word",
              rules=(KeywordRule(("war",), 0), KeywordRule(("love", "hero"), 1))),
    # keywords in nearly every review: searched item by item rather than match by match
    KeywordLF("kw_frequent", rules=(KeywordRule(("th", "an"), 0), KeywordRule(("in",), 1))),
    KeywordLF("kw_frequent_word", match="word", rules=(KeywordRule(("the", "a"), 1), KeywordRule(("in",), 0))),
    PythonLF("wants_the_sequel", function="lfs.custom.examples:wants_the_sequel"),
    PythonLF("did_not_finish", function="lfs.custom.examples:did_not_finish"),
]


@pytest.fixture(scope="module")
def small(small_prepared):
    return load_prepared(small_prepared)


def _rows_with_edges(data):
    """A slice of real dev rows plus rows carrying the edge-case texts (on real users and books)."""
    dev = data.splits["dev"]
    real = dev.iloc[:1500]
    edges = dev.iloc[: len(EDGE_TEXTS)].copy()
    edges["review_text"] = EDGE_TEXTS
    return pd.concat([real, edges], ignore_index=True)


def _vectorized_and_snorkel(data, rows, specs):
    view = dataclasses.replace(data, splits={**data.splits, "parity": rows})
    features = compute_features(view, "parity", processes=1)
    lf_data = LFData(rows, features, data.books, data.book_idxs_for(rows))
    facts = BookFacts.from_books(data.books)
    frame = rows.assign(book_idxs=data.book_idxs_for(rows).map(tuple))
    snorkel = PandasLFApplier([to_snorkel_lf(s, facts) for s in specs]).apply(frame, progress_bar=False)
    return label_matrix(specs, lf_data), snorkel, features


def test_every_template_operator_and_edge_case_matches_snorkel(small):
    rows = _rows_with_edges(small)
    view = dataclasses.replace(small, splits={**small.splits, "parity": rows})
    specs = KEYWORD_BATTERY + _threshold_battery(compute_features(view, "parity", processes=1))
    ours, snorkel, _ = _vectorized_and_snorkel(small, rows, specs)
    for j, spec in enumerate(specs):
        np.testing.assert_array_equal(ours[:, j], snorkel[:, j], err_msg=spec.name)
    fired = (ours != -1).sum(axis=0)
    assert (fired > 0).all(), [s.name for s, f in zip(specs, fired, strict=True) if not f]


def test_default_config_equals_the_tutorials_lfs(small, small_seed_votes):
    rows = small.splits["dev"]
    specs = load_default().enabled()
    ours, snorkel_specs, _ = _vectorized_and_snorkel(small, rows, specs)
    # PandasLFApplier(make_seed_lfs(small.books)) on the dev rows with their book_idxs, run once per session
    tutorial = small_seed_votes["dev"]
    assert tutorial.shape == (len(rows), len(make_seed_lfs(small.books)))
    assert [s.name for s in specs] == ["stars_in_review", "shared_first_author", "polarity_positive",
                                       "subjectivity_positive", "polarity_negative"]
    np.testing.assert_array_equal(ours, tutorial)
    np.testing.assert_array_equal(ours, snorkel_specs)
    assert ((ours != -1).sum(axis=0) > 0).all()


def test_edge_texts_on_the_default_config(small):
    rows = _rows_with_edges(small).iloc[-len(EDGE_TEXTS):].reset_index(drop=True)
    ours, _, _ = _vectorized_and_snorkel(small, rows, load_default().enabled())
    stars = ours[:, 0].tolist()
    # no text, empty and blank abstain; "4.3 stars" reads as "3 star" (NEGATIVE), as the seed's substring does;
    # "3.5/5 stars" and "2/5 stars" contain "5 stars" and no low phrase: POSITIVE, a trap of substring matching.
    assert stars[:3] == [-1, -1, -1]
    assert stars[3] == 0 and stars[6] == 0 and stars[11] == 0
    assert stars[4] == 1
