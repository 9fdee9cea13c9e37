"""The vectorized LF engine on hand-made fixtures with known answers, and its analysis against snorkel's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LFAnalysis
from snorkel.labeling.model import MajorityLabelVoter

from lfs.analysis import (
    keyword_stats,
    lf_rows,
    lf_summary,
    majority_vote,
    pair_matrices,
    threshold_sweep,
    totals,
    uncovered_rows,
    wilson_interval,
)
from lfs.apply import ArrayLRU, LFData, TextIndex, label_matrix, matches
from lfs.spec import FEATURES, KeywordLF, KeywordRule, ThresholdLF

TEXTS = [
    "4.3 stars! Loved it",  # "3 star" hides inside "4.3 stars": the seed's substring LF says NEGATIVE
    None,  # no review
    "",  # empty review
    "Five stars. Zoë is perfect ★★★★★",
    "Two stars_ meh",  # word mode: "two stars" touches "_", not a whole word
    "I'd say 5 stars",
    "ONE STAR. dreadful",
    "   ",
]
BOOKS = pd.DataFrame({
    "book_idx": [0, 1],
    "title": ["The Star Thief", "Starlight"],
    "description": ["A thief steals a star.", None],
    "first_author": ["a", "b"],
})
STARS = KeywordLF("stars", rules=(KeywordRule(("one star", "3 star", "two star"), 0),
                                  KeywordRule(("five stars", "5 stars"), 1)))


def make_data(features: dict | None = None) -> LFData:
    n = len(TEXTS)
    rows = pd.DataFrame({"user_idx": np.arange(n), "book_idx": [0, 1] * (n // 2), "review_text": TEXTS})
    feats = pd.DataFrame({name: np.full(n, np.nan) for name in FEATURES})
    for name, values in (features or {}).items():
        feats[name] = values
    return LFData(rows, feats, BOOKS)


def test_golden_label_matrix():
    data = make_data({"polarity": [0.5, np.nan, np.nan, 0.3, -0.2, 0.0, -1.0, 0.0]})
    specs = [
        STARS,
        KeywordLF("stars_word", rules=STARS.rules, match="word"),
        ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1),
        ThresholdLF("pos_ge", feature="polarity", op=">=", value=0.3, label=1),
        ThresholdLF("neg", feature="polarity", op="<", value=0.0, label=0),
        ThresholdLF("neg_le", feature="polarity", op="<=", value=0.0, label=0),
        KeywordLF("title_star", rules=(KeywordRule(("star",), 1),), field="title", match="word"),
        KeywordLF("desc_star", rules=(KeywordRule(("star",), 0),), field="description"),
    ]
    L = label_matrix(specs, data)
    expected = np.array([
        # stars word  pos  pos_ge neg neg_le title desc
        [0, -1, 1, 1, -1, -1, 1, 0],
        [-1, -1, -1, -1, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1, 1, 0],
        [1, 1, -1, 1, -1, -1, -1, -1],
        [0, -1, -1, -1, 0, 0, 1, 0],
        [1, 1, -1, -1, -1, 0, -1, -1],
        [0, 0, -1, -1, 0, 0, 1, 0],
        [-1, -1, -1, -1, -1, 0, -1, -1],
    ], dtype=np.int8)
    np.testing.assert_array_equal(L, expected)
    assert L.dtype == np.int8


@pytest.mark.parametrize("mode", ["substring", "word"])
@pytest.mark.parametrize("keyword", ["star", "3 star", "stars", "zoë", "★★", "i'd", "two stars", "dreadful", "x"])
def test_text_index_equals_rowwise_matching(keyword, mode):
    index = TextIndex(TEXTS)
    want = [isinstance(t, str) and matches(t, keyword, mode) for t in TEXTS]
    np.testing.assert_array_equal(index.hits(keyword, mode), want)


def test_word_mode_respects_unicode_letters_and_underscores():
    assert matches("café star", "star", "word")
    assert not matches("cafééstar", "star", "word")
    assert not matches("stars_", "stars", "word")
    assert matches("“5 stars”", "5 stars", "word")
    index = TextIndex(["éstar", "star é", "“star”"])
    np.testing.assert_array_equal(index.hits("star", "word"), [False, True, True])


def test_editing_one_lf_recomputes_one_column(monkeypatch):
    data = make_data({"polarity": np.linspace(-1, 1, len(TEXTS))})
    specs = [STARS, ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1)]
    label_matrix(specs, data)
    calls = []
    import lfs.apply as apply

    original = apply.EVALUATORS["threshold"]
    monkeypatch.setitem(apply.EVALUATORS, "threshold", lambda s, d: calls.append(s.name) or original(s, d))
    monkeypatch.setitem(apply.EVALUATORS, "keyword", lambda s, d: pytest.fail("keyword column recomputed"))
    edited = [STARS, ThresholdLF("pos", feature="polarity", op=">", value=0.5, label=1)]
    label_matrix(edited, data)
    renamed = [STARS, ThresholdLF("renamed", feature="polarity", op=">", value=0.5, label=1)]
    label_matrix(renamed, data)
    assert calls == ["pos"], "a renamed LF with the same parameters reuses its column"


# -- analysis ----------------------------------------------------------------------------------------------
L_FIX = np.array([
    [0, 1, -1],
    [1, 1, -1],
    [-1, -1, -1],
    [0, -1, 0],
    [1, 0, 1],
    [-1, 1, -1],
], dtype=np.int8)
Y_FIX = np.array([0, 1, 1, 0, 1, 0])


class _Named:
    def __init__(self, name):
        self.name = name


NAMES = [_Named(n) for n in ("a", "b", "c")]


def test_lf_summary_equals_snorkel_on_the_whole_matrix():
    ours = lf_summary(L_FIX, NAMES, Y_FIX)
    snorkel = LFAnalysis(L_FIX, NAMES).lf_summary(Y_FIX)
    pd.testing.assert_frame_equal(ours[snorkel.columns], snorkel)
    assert ours["Labelled"].tolist() == [4, 4, 2]
    # a votes 0,1,0,1 on gold 0,1,0,1: 4 correct; b votes 1,1,0,1 on gold 0,1,1,0: 3 incorrect
    assert ours.loc["a", "Correct"] == 4 and ours.loc["b", "Incorrect"] == 3


def test_lf_summary_on_generated_sized_matrix_equals_snorkel():
    rng = np.random.default_rng(0)
    L = np.where(rng.random((3000, 4)) < 0.1, rng.integers(0, 2, (3000, 4)), -1).astype(np.int8)
    y = rng.integers(0, 2, 3000)
    names = [_Named(f"lf{i}") for i in range(4)]
    ours = lf_summary(L, names, y)
    snorkel = LFAnalysis(L, names).lf_summary(y)
    pd.testing.assert_frame_equal(ours[snorkel.columns], snorkel)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval([8], [10])
    assert lo[0] == pytest.approx(0.4901625, abs=1e-6) and hi[0] == pytest.approx(0.9433178, abs=1e-6)
    lo, hi = wilson_interval([0], [0])
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_majority_vote_equals_snorkels_voter():
    rng = np.random.default_rng(1)
    L = np.where(rng.random((500, 5)) < 0.4, rng.integers(0, 2, (500, 5)), -1)
    snorkel = MajorityLabelVoter(cardinality=2).predict(L, tie_break_policy="abstain")
    np.testing.assert_array_equal(majority_vote(L), snorkel)


def test_totals_and_rows_behind_figures():
    t = totals(L_FIX, Y_FIX)
    assert t["coverage"] == pytest.approx(5 / 6)
    assert t["conflict_rate"] == pytest.approx(2 / 6)  # rows 0 and 4
    # majority vote: row0 tie, row1 1, row3 0, row4 1, row5 1 -> labelled decided 4, correct 1,0,1 vs 1,0,1,0
    assert t["mv_labelled"] == 4 and t["mv_correct"] == 3
    assert lf_rows(L_FIX, 1, "incorrect", Y_FIX).tolist() == [0, 4, 5]
    assert lf_rows(L_FIX, 1, "conflicts").tolist() == [0, 4]
    assert lf_rows(L_FIX, 2, "overlaps").tolist() == [3, 4]
    assert lf_rows(L_FIX, 0, "abstains").tolist() == [2, 5]
    assert uncovered_rows(L_FIX).tolist() == [2]
    with pytest.raises(ValueError, match="need gold"):
        lf_rows(L_FIX, 0, "correct")


def test_pair_matrices():
    overlap, conflict = pair_matrices(L_FIX, ["a", "b", "c"])
    assert overlap.loc["a", "b"] == pytest.approx(3 / 6)
    assert conflict.loc["a", "b"] == pytest.approx(2 / 6)
    assert conflict.loc["a", "c"] == 0
    assert overlap.loc["a", "a"] == pytest.approx(4 / 6)


def test_threshold_sweep_marks_current_value_and_counts():
    pol = np.array([0.5, np.nan, np.nan, 0.3, -0.2, 0.0, -1.0, 0.0])
    data = make_data({"polarity": pol})
    y = np.array([1, 1, 0, 1, 0, 1, 0, np.nan])
    spec = ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1)
    sweep = threshold_sweep(spec, data, y)
    cur = sweep[sweep.current].iloc[0]
    assert cur.fires == 1 and cur.correct == 1
    lowest = sweep.iloc[0]  # threshold -1: fires on 0.5, 0.3, -0.2, 0.0, 0.0
    assert lowest.threshold == -1.0 and lowest.fires == 5 and lowest.labelled == 4 and lowest.correct == 3


def test_keyword_stats_count_hits_and_decisions():
    data = make_data()
    y = np.array([1, 1, 0, 1, 0, 1, 0, 1])
    stats = keyword_stats(STARS, data, y).set_index("keyword")
    assert stats.loc["3 star", "hits"] == 1 and stats.loc["3 star", "correct"] == 0
    assert stats.loc["one star", "decides"] == 1 and stats.loc["one star", "correct"] == 1
    assert stats.loc["five stars", "decides"] == 1 and stats.loc["5 stars", "hits"] == 1


# -- keyword search: bounded memory, every search path equal to the row-wise reference ------------------------
CORPUS = TEXTS + [
    "the theme of the other thesis",
    "Thé ça: the_end; THE END… “the” end",
    "ééthe théé the",
    "an in-joke in inns, in\tinside",
    "emoji 😍the😍 and 😍 the 😍",
    "ß is SS; İstanbul İ",
    "5 stars5 stars 5 stars!",
    "naïve naïveté naive",
    "\u00a0the\u00a0",
    "xa-a-a and ab-ab-abx",  # a word overlapping itself: only its second occurrence is a word
]
CORPUS_KEYWORDS = ["the", "th", "in", "the end", "5 stars", "naïve", "😍", "é", "ss", "i̇", "star", "stars_", "absent",
                   "a-a", "ab-ab"]


@pytest.mark.parametrize("path", ["default", "one automaton", "small windows", "item by item"])
@pytest.mark.parametrize("mode", ["substring", "word"])
def test_every_search_path_equals_rowwise_matching(monkeypatch, path, mode):
    import lfs.apply as apply

    if path != "default":  # one automaton for all keywords (the default has one per keyword)
        monkeypatch.setattr(apply, "_SEPARATE", 0)
    if path == "small windows":  # windows shorter than a text: matches cross window edges
        monkeypatch.setattr(apply, "_FIRST_WINDOW", 8)
        monkeypatch.setattr(apply, "_WINDOW", 8)
    if path == "item by item":  # every keyword found in the first window counts as dense
        monkeypatch.setattr(apply, "_DENSE", 10**9)
        monkeypatch.setattr(apply, "_FLUSH", 2)
    corpus = CORPUS * 30  # several windows even at the default size
    index = TextIndex(corpus, cache=ArrayLRU(max_bytes=1 << 20))
    masks = index.masks(CORPUS_KEYWORDS, mode)
    for keyword, mask in zip(CORPUS_KEYWORDS, masks, strict=True):
        want = [isinstance(t, str) and matches(t, keyword, mode) for t in corpus]
        np.testing.assert_array_equal(mask, want, err_msg=f"{keyword!r} ({mode}, {path})")


@pytest.mark.parametrize("mode", ["substring", "word"])
def test_frequent_keyword_search_memory_is_bounded(mode):
    """A keyword found in every text, many times (here "e"; config validation refuses one character, the engine
    must not need it to): the search holds neither one object per match nor one per text."""
    import tracemalloc

    words = ["tree", "bee", "see", "eel", "eye", "here", "ever", "eerie"]
    texts = [f"{words[i % 8]} {words[(i * 7) % 8]} e e {i}" for i in range(200_000)]
    index = TextIndex(texts, cache=ArrayLRU(max_bytes=1 << 20))
    del texts
    tracemalloc.start()
    try:
        mask = index.hits("e", mode)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mask.all()
    # the mask itself is 0.2 MB; one tuple per match (about 2 million) would be hundreds of MB. (Arrow's substring
    # search allocates outside tracemalloc's sight, but only its result: one bit per text.)
    assert peak < 3 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_keyword_masks_are_evicted_by_bytes_least_recently_used_first(monkeypatch):
    n = 1000  # each mask: 1000 bytes
    texts = [f"text {i} " + ("alpha " if i % 2 else "beta ") + ("gamma" if i % 3 else "") for i in range(n)]
    cache = ArrayLRU(max_bytes=2 * n + n // 2)  # room for two masks
    index = TextIndex(texts, cache=cache)
    searched = []
    search = TextIndex._search
    monkeypatch.setattr(TextIndex, "_search", lambda self, kws, mode: searched.extend(kws) or search(self, kws, mode))
    alpha = index.hits("alpha", "word").copy()
    index.hits("beta", "word")
    index.hits("alpha", "word")  # used again: now beta is the least recently used
    index.hits("gamma", "word")
    assert cache.nbytes == 2 * n and len(cache) == 2
    assert searched == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(index.hits("alpha", "word"), alpha)
    np.testing.assert_array_equal(index.hits("beta", "word"), [i % 2 == 0 for i in range(n)])
    assert searched == ["alpha", "beta", "gamma", "beta"], "alpha was kept, beta evicted and searched again"
    assert cache.nbytes <= cache.max_bytes
    big = ArrayLRU(max_bytes=10)
    big.put("too big", np.zeros(11, dtype=bool))
    assert len(big) == 0 and big.nbytes == 0


def test_an_index_leaves_the_shared_cache_when_dropped():
    import gc

    cache = ArrayLRU(max_bytes=1 << 20)
    index = TextIndex(["one star", "two stars"], cache=cache)
    index.masks(["one", "two"], "substring")
    other = TextIndex(["one"], cache=cache)
    other.hits("one", "word")
    assert len(cache) == 3
    del index
    gc.collect()
    assert len(cache) == 1


def test_keyword_column_with_a_cache_smaller_than_its_keywords():
    data = make_data()
    expected = label_matrix([STARS], data)
    small = LFData(data.rows, data.features, BOOKS)
    tiny = ArrayLRU(max_bytes=len(TEXTS))  # one mask at a time
    small._indexes["review_text"] = TextIndex(TEXTS, cache=tiny)
    np.testing.assert_array_equal(label_matrix([STARS], small), expected)
    assert len(tiny) == 1


def test_masks_and_columns_are_read_only():
    data = make_data()
    with pytest.raises(ValueError, match="read-only"):
        data.keyword_hits("review_text", "star", "substring")[0] = True
    with pytest.raises(ValueError, match="read-only"):
        data.column(STARS)[0] = 1


# -- shared by sessions: the caches under concurrent use -----------------------------------------------------
def test_column_cache_under_concurrent_sessions():
    """Threads (the workbench's sessions) asking for columns of an LFData with a tiny column cache: a lookup must
    not race an eviction (KeyError), and every thread gets the right column."""
    import random
    import sys
    import threading
    import time

    n = 20
    rows = pd.DataFrame({"user_idx": np.arange(n), "book_idx": np.zeros(n, int), "review_text": ["x"] * n})
    polarity = np.linspace(-1, 1, n)
    feats = pd.DataFrame({name: polarity for name in FEATURES})
    data = LFData(rows, feats, BOOKS, max_columns=2)
    specs = [ThresholdLF(f"t{i}", feature="polarity", op=">", value=i / 10, label=1) for i in range(3)]
    expected = {s.name: np.where(polarity > s.value, 1, -1) for s in specs}
    errors: list[str] = []
    stop = time.monotonic() + 2.0

    def session(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            while time.monotonic() < stop and not errors:
                spec = rnd.choice(specs)
                if not np.array_equal(data.column(spec), expected[spec.name]):
                    errors.append(f"wrong column for {spec.name}")
        except Exception as e:  # noqa: BLE001 (any failure is the finding)
            errors.append(repr(e))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded server does
    try:
        threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    assert len(data._columns) <= 2


def test_keyword_cache_under_concurrent_sessions():
    import threading

    cache = ArrayLRU(max_bytes=3 * len(CORPUS))  # three masks: sessions evict each other's keywords
    index = TextIndex(CORPUS, cache=cache)
    want = {kw: [isinstance(t, str) and matches(t, kw, "word") for t in CORPUS] for kw in CORPUS_KEYWORDS}
    errors: list[str] = []

    def session(k: int) -> None:
        try:
            for j in range(200):
                kw = CORPUS_KEYWORDS[(j * (k + 1)) % len(CORPUS_KEYWORDS)]
                if index.hits(kw, "word").tolist() != want[kw]:
                    errors.append(kw)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=session, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert cache.nbytes <= cache.max_bytes
