"""lfs.example_rows on a hand-made six-row split whose label matrix, gold and answers are worked out by hand.

    row  review            polarity  gold   stars  pos  neg
    0    "Five stars! ..."   0.5      1       1     1   -1
    1    (none)              nan      0      -1    -1   -1
    2    "one star, ..."     0.4      0       0     1   -1     stars and pos disagree
    3    "... 5 stars"      -0.2      1       1    -1    0     stars and neg disagree
    4    ""                  nan      1      -1    -1   -1
    5    "meh"               0.0      0      -1    -1   -1
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lfs.analysis import lf_rows
from lfs.apply import LFData
from lfs.example_rows import (
    ExampleFilter,
    example_frame,
    from_query_params,
    page_count,
    page_of,
    sample,
    select,
    to_query_params,
    vote_column,
)
from lfs.spec import KeywordLF, KeywordRule, ThresholdLF
from lfs.workspace import Split

TEXTS = ["Five stars! Loved it", None, "one star, though the prose is nice", "dull and slow, 5 stars anyway", "",
         "meh"]
POLARITY = [0.5, np.nan, 0.4, -0.2, np.nan, 0.0]
GOLD = [1, 0, 0, 1, 1, 0]
SPECS = (
    KeywordLF("stars", rules=(KeywordRule(("one star",), 0), KeywordRule(("5 stars", "five stars"), 1))),
    ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1),
    ThresholdLF("neg", feature="polarity", op="<", value=0.0, label=0),
)
EXPECTED_L = np.array([[1, 1, -1], [-1, -1, -1], [0, 1, -1], [1, -1, 0], [-1, -1, -1], [-1, -1, -1]])


def make_split(name: str = "dev", gold: bool = True) -> Split:
    rows = pd.DataFrame({"user_idx": [0, 0, 1, 1, 2, 2], "book_idx": [0, 1, 0, 1, 0, 1], "review_text": TEXTS})
    features = pd.DataFrame({"polarity": POLARITY, "subjectivity": [0.9, np.nan, 0.5, 0.61, np.nan, 0.0],
                             "same_author_count": [3.0, 1.0, 2.0, np.nan, 1.0, 16.0]})
    books = pd.DataFrame({"book_idx": [0, 1], "title": ["<b>Bold</b> & Co", "Quiet"],
                          "first_author": ["604031", None], "first_author_name": ["Ann O'Hara", None],
                          "description": ["", ""]})
    return Split(name, rows, LFData(rows, features, books), np.array(GOLD, dtype=float) if gold else None)


@pytest.fixture
def dev():
    split = make_split()
    return split, split.matrix(SPECS)


def rows(dev, **kw) -> list[int]:
    split, L = dev
    return select(split, SPECS, L, ExampleFilter(**kw)).tolist()


def test_label_matrix_is_the_hand_made_one(dev):
    assert np.array_equal(dev[1], EXPECTED_L)


def test_no_filter_is_every_row(dev):
    assert rows(dev) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("lf", "kind", "expected"), [
    ("pos", "fires", [0, 2]),
    ("pos", "abstains", [1, 3, 4, 5]),
    ("pos", "correct", [0]),
    ("pos", "incorrect", [2]),
    ("neg", "incorrect", [3]),
    ("stars", "correct", [0, 2, 3]),
    ("stars", "incorrect", []),
    ("stars", "overlaps", [0, 2, 3]),
    ("stars", "conflicts", [2, 3]),
    ("pos", "conflicts", [2]),
    ("pos", None, [0, 1, 2, 3, 4, 5]),  # an LF alone restricts nothing
])
def test_lf_kinds(dev, lf, kind, expected):
    assert rows(dev, lf=lf, kind=kind) == expected
    if kind:
        j = [s.name for s in SPECS].index(lf)
        assert expected == lf_rows(dev[1], j, kind, np.array(GOLD, dtype=float)).tolist()


@pytest.mark.parametrize(("kw", "expected"), [
    (dict(keyword="5 stars"), [3]),
    (dict(keyword="FIVE STARS"), [0]),  # matched as the LF spells it, ignoring case
    (dict(keyword="one star"), [2]),
    (dict(keyword="5 stars", kind="fires"), [3]),
    (dict(keyword="five stars", kind="conflicts"), []),
])
def test_keyword(dev, kw, expected):
    assert rows(dev, lf="stars", **kw) == expected


@pytest.mark.parametrize(("kw", "expected"), [
    (dict(conflicts=True), [2, 3]),
    (dict(uncovered=True), [1, 4, 5]),
    (dict(gold=1), [0, 3, 4]),
    (dict(gold=0), [1, 2, 5]),
    (dict(has_review=True), [0, 2, 3, 5]),  # "" is no review
    (dict(has_review=False), [1, 4]),
    (dict(conflicts=True, gold=1), [3]),
    (dict(uncovered=True, has_review=True), [5]),
    (dict(lf="pos", kind="fires", gold=0), [2]),
    (dict(lf="stars", kind="fires", conflicts=True, has_review=True, gold=0), [2]),
    (dict(conflicts=True, uncovered=True), []),
])
def test_row_filters_and_their_combinations(dev, kw, expected):
    assert rows(dev, **kw) == expected


@pytest.mark.parametrize(("kw", "message"), [
    (dict(lf="nope", kind="fires"), "lf: no enabled LF named 'nope'"),
    (dict(lf="pos", kind="sideways"), "kind: unknown kind 'sideways'"),
    (dict(kind="fires"), "kind: needs an LF"),
    (dict(lf="pos", keyword="5 stars"), "not a keyword LF"),
    (dict(lf="stars", keyword="six stars"), "'six stars' is not a keyword of LF 'stars'"),
    (dict(gold=2), "gold: 2 is not 0"),
    (dict(split="train"), "the filter is for 'train'"),
])
def test_bad_filters_name_the_field(dev, kw, message):
    with pytest.raises(ValueError, match=message):
        rows(dev, **kw)


def test_train_without_gold():
    split = make_split("train", gold=False)
    L = split.matrix(SPECS)
    assert select(split, SPECS, L, ExampleFilter(split="train", conflicts=True)).tolist() == [2, 3]
    assert select(split, SPECS, L, ExampleFilter(split="train", lf="pos", kind="fires")).tolist() == [0, 2]
    for flt, field in [(ExampleFilter(split="train", gold=1), "gold"),
                       (ExampleFilter(split="train", lf="pos", kind="incorrect"), "kind"),
                       (ExampleFilter(split="train", lf="pos", kind="correct"), "kind")]:
        with pytest.raises(ValueError, match=f"^{field}: .*gold labels"):
            select(split, SPECS, L, flt)
    frame = example_frame(split, SPECS, L, np.array([0, 1]))
    assert frame["gold"].isna().all()


# -- sampling and pages ----------------------------------------------------------------------------------------
def test_sample_is_seeded_and_a_permutation():
    positions = np.arange(0, 400, 2)
    a, b, c = sample(positions, None, 7), sample(positions, None, 7), sample(positions, None, 8)
    assert np.array_equal(a, b)
    assert sorted(a.tolist()) == positions.tolist()
    assert not np.array_equal(a, c) and not np.array_equal(a, positions)
    assert np.array_equal(sample(positions, 10, 7), a[:10])  # a bigger sample extends a smaller one
    assert np.array_equal(sample(positions, 1000, 7), a)


def test_sample_order_does_not_depend_on_the_other_rows():
    whole = sample(np.arange(1000), None, 3)
    subset = np.arange(0, 1000, 7)
    in_whole_order = [p for p in whole.tolist() if p % 7 == 0]
    assert sample(subset, None, 3).tolist() == in_whole_order
    assert sample(subset[::-1], None, 3).tolist() == in_whole_order  # the input's order does not matter
    assert sample(np.array([], dtype=np.int64), 5, 3).tolist() == []


def test_pages():
    assert [page_count(n, 10) for n in (0, 1, 10, 11, 25)] == [1, 1, 1, 2, 3]
    positions = np.arange(25)
    assert page_of(positions, 1, 10).tolist() == list(range(10))
    assert page_of(positions, 3, 10).tolist() == list(range(20, 25))
    assert page_of(positions, 9, 10).tolist() == list(range(20, 25))  # clamped to the last page
    assert page_of(positions, 0, 10).tolist() == list(range(10))
    assert page_of(np.arange(0), 1, 10).tolist() == []
    with pytest.raises(ValueError, match="page size"):
        page_count(5, 0)


# -- what a card shows ---------------------------------------------------------------------------------------------
def test_example_frame(dev):
    split, L = dev
    frame = example_frame(split, SPECS, L, np.array([3, 1]))
    assert list(frame.columns) == ["title", "author", "same_author_count", "polarity", "subjectivity",
                                   "stars", "pos", "neg", "gold", "review_text"]
    assert frame.index.tolist() == [3, 1]
    assert frame["title"].tolist() == ["Quiet", "Quiet"]
    assert frame.loc[3, "author"] is None
    assert example_frame(split, SPECS, L, np.array([0]))["author"].tolist() == ["Ann O'Hara"]  # the name, not the id
    split.data.books.drop(columns="first_author_name", inplace=True)  # prepared before names: the id
    assert example_frame(split, SPECS, L, np.array([0]))["author"].tolist() == ["604031"]
    assert np.isnan(frame.loc[3, "same_author_count"]) and frame.loc[1, "same_author_count"] == 1.0
    assert frame.loc[3, "polarity"] == -0.2 and np.isnan(frame.loc[1, "polarity"])
    assert frame.loc[3, "subjectivity"] == 0.61
    assert frame[["stars", "pos", "neg"]].to_numpy().tolist() == [[1, -1, 0], [-1, -1, -1]]
    assert frame["gold"].tolist() == [1, 0]
    assert frame["review_text"].tolist() == [TEXTS[3], None]


def test_a_vote_column_never_replaces_a_fixed_column(dev):
    split, _ = dev
    specs = (*SPECS, ThresholdLF("gold", feature="polarity", op=">", value=0.0, label=1))
    L = split.matrix(specs)
    frame = example_frame(split, specs, L, np.arange(6))
    assert vote_column("gold") == "gold (LF)" and vote_column("pos") == "pos"
    assert frame["gold"].tolist() == GOLD
    assert frame["gold (LF)"].tolist() == [1, -1, 1, -1, -1, -1]


# -- URLs ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flt", [
    ExampleFilter(),
    ExampleFilter(split="train", lf="pos", kind="fires", conflicts=True, uncovered=True, has_review=False),
    ExampleFilter(split="dev", lf="stars", kind="incorrect", keyword="5 stars & <b>more</b>", gold=0,
                  has_review=True),
    ExampleFilter(split="test", gold=1),
])
def test_query_params_round_trip(flt):
    params = to_query_params(flt)
    assert all(isinstance(v, str) for v in params.values())
    assert from_query_params(params) == flt


def test_query_params_only_carry_what_is_set():
    assert to_query_params(ExampleFilter(lf="polarity_positive", kind="incorrect")) == {
        "split": "dev", "lf": "polarity_positive", "kind": "incorrect"}
    assert from_query_params({}) == ExampleFilter()
    assert from_query_params({"run": "12", "lf": "x", "conflicts": ["false", "1"]}) == ExampleFilter(
        lf="x", conflicts=True)  # other parameters ignored; a repeated one counts by its last value


@pytest.mark.parametrize(("params", "name"), [
    ({"split": "nowhere"}, "split"),
    ({"kind": "fires"}, "kind"),
    ({"lf": "a", "kind": "upside-down"}, "kind"),
    ({"keyword": "5 stars"}, "keyword"),
    ({"conflicts": "maybe"}, "conflicts"),
    ({"uncovered": ""}, "uncovered"),
    ({"has_review": "2"}, "has_review"),
    ({"gold": "positive"}, "gold"),
    ({"split": "train", "gold": "1"}, "gold"),
    ({"split": "train", "lf": "a", "kind": "incorrect"}, "kind"),
])
def test_bad_query_params_name_the_parameter(params, name):
    with pytest.raises(ValueError, match=f"^query parameter '{name}': "):
        from_query_params(params)
