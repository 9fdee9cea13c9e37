"""lf_summary's per-LF cache of the gold figures (Correct, Incorrect, Emp. Acc.) against the one-call computation
it replaced, on known answers and random label matrices, and the cache's reuse, bound and threads."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LFAnalysis

from lfs import analysis
from lfs.analysis import GoldFigures, lf_summary, wilson_interval
from lfs.spec import ABSTAIN


class _Named:
    def __init__(self, name):
        self.name = name


def _names(m: int) -> list[_Named]:
    return [_Named(f"lf{j}") for j in range(m)]


def reference_summary(L, specs, y) -> pd.DataFrame:
    """lf_summary as it was before the cache: one snorkel call with gold on the rows some LF voted on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Input has data type", FutureWarning)
        L = np.asarray(L)
        summary = LFAnalysis(L, list(specs)).lf_summary()
        y = np.asarray(y, dtype=float).reshape(-1)
        labelled = ~np.isnan(y)
        voted = labelled & (L != ABSTAIN).any(axis=1)
        if voted.any():
            with_gold = LFAnalysis(L[voted], list(specs)).lf_summary(y[voted].astype(int))
            for col in ("Correct", "Incorrect", "Emp. Acc."):
                summary[col] = with_gold[col].to_numpy()
        else:
            summary["Correct"], summary["Incorrect"], summary["Emp. Acc."] = 0, 0, 0.0
        summary["Labelled"] = ((L != ABSTAIN) & labelled[:, None]).sum(axis=0)
        summary["Acc. low"], summary["Acc. high"] = wilson_interval(summary["Correct"], summary["Labelled"])
        return summary


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    cache = GoldFigures(max_items=256)
    monkeypatch.setattr(analysis, "GOLD_FIGURES", cache)
    return cache


def _same(L, y):
    specs = _names(L.shape[1])
    ours = lf_summary(L, specs, y)
    pd.testing.assert_frame_equal(ours, reference_summary(L, specs, y), check_exact=True)
    # the uncached path of the module is the same too
    pd.testing.assert_frame_equal(analysis._lf_summary(L, specs, y, cached=False), ours, check_exact=True)
    return ours


def _dtypes(summary):
    return {col: summary[col].dtype for col in ("Correct", "Incorrect", "Emp. Acc.", "Labelled")}


# -- known answers ------------------------------------------------------------------------------------------
def test_no_lf_votes_on_a_labelled_row_gives_zeros():
    L = np.array([[1, -1], [-1, 0], [-1, -1]], dtype=np.int8)
    y = np.array([np.nan, np.nan, 1.0])
    ours = _same(L, y)
    assert ours["Correct"].tolist() == [0, 0] and ours["Incorrect"].tolist() == [0, 0]
    assert ours["Emp. Acc."].tolist() == [0.0, 0.0] and ours["Labelled"].tolist() == [0, 0]
    assert ours["Correct"].dtype == np.int64 and ours["Emp. Acc."].dtype == np.float64


def test_no_gold_rows_gives_zeros():
    L = np.array([[1, 0], [0, 0]], dtype=np.int8)
    ours = _same(L, np.array([np.nan, np.nan]))
    assert ours["Correct"].tolist() == [0, 0] and ours["Emp. Acc."].tolist() == [0.0, 0.0]


def test_lf_that_never_votes_on_a_labelled_row_gets_snorkels_zeros():
    # lf1 votes only on the unlabelled row; lf2 abstains everywhere; lf0 votes 1, 0 on gold 1, 1
    L = np.array([[1, -1, -1], [0, -1, -1], [-1, 1, -1]], dtype=np.int8)
    y = np.array([1.0, 1.0, np.nan])
    ours = _same(L, y)
    assert ours["Correct"].tolist() == [1, 0, 0] and ours["Incorrect"].tolist() == [1, 0, 0]
    # snorkel's empirical accuracy is nan_to_num(0/0) = 0.0, not NaN
    assert ours["Emp. Acc."].tolist() == [0.5, 0.0, 0.0]
    assert ours["Labelled"].tolist() == [2, 0, 0]
    assert np.isnan(ours["Acc. low"].iloc[1]) and np.isnan(ours["Acc. high"].iloc[2])
    assert _dtypes(ours) == {"Correct": np.int64, "Incorrect": np.int64, "Emp. Acc.": np.float64,
                             "Labelled": np.int64}


def test_single_lf():
    L = np.array([[1], [0], [-1], [1]], dtype=np.int8)
    ours = _same(L, np.array([1.0, 1.0, 0.0, np.nan]))
    assert ours["Correct"].tolist() == [1] and ours["Incorrect"].tolist() == [1] and ours["Labelled"].tolist() == [2]


def test_without_gold_there_are_no_gold_columns():
    L = np.array([[1, -1], [0, 1]], dtype=np.int8)
    ours = lf_summary(L, _names(2))
    pd.testing.assert_frame_equal(ours, LFAnalysis(L, _names(2)).lf_summary())


@pytest.mark.parametrize("bad", [-2, 3])
def test_odd_gold_values_match_the_joint_call(bad):
    # gold below -1 changes which confusion row snorkel drops: the joint call is used; above 1 is just a label
    L = np.array([[1, 0], [0, -1], [1, 1], [-1, 0]], dtype=np.int8)
    _same(L, np.array([bad, 0.0, 1.0, 1.0]))
    _same(L, np.array([-1.0, 0.0, 1.0, np.nan]))


# -- random matrices ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_random_matrices_equal_the_joint_call(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 7))
    cards = int(rng.integers(2, 4))
    coverage = rng.choice([0.0, 0.003, 0.05, 0.3, 0.9, 1.0], size=m)
    L = np.where(rng.random((n, m)) < coverage, rng.integers(0, cards, (n, m)), ABSTAIN).astype(np.int8)
    y = rng.integers(0, cards, n).astype(float)
    y[rng.random(n) < rng.choice([0.0, 0.2, 0.8, 1.0])] = np.nan
    ours = _same(L, y)
    assert _dtypes(ours) == _dtypes(reference_summary(L, _names(m), y))
    # again from the cache: the same frame
    pd.testing.assert_frame_equal(lf_summary(L, _names(m), y), ours, check_exact=True)


# -- the cache ----------------------------------------------------------------------------------------------
def _calls(monkeypatch) -> list:
    calls = []
    real = analysis._snorkel_gold_figures

    def counting(votes, gold):
        calls.append(len(votes))
        return real(votes, gold)

    monkeypatch.setattr(analysis, "_snorkel_gold_figures", counting)
    return calls


def test_an_edit_asks_snorkel_about_the_edited_lf_only(monkeypatch):
    rng = np.random.default_rng(1)
    L = np.where(rng.random((500, 4)) < 0.4, rng.integers(0, 2, (500, 4)), ABSTAIN).astype(np.int8)
    y = rng.integers(0, 2, 500).astype(float)
    calls = _calls(monkeypatch)
    _same(L, y)
    assert len(calls) == 4
    calls.clear()
    lf_summary(L, _names(4), y)
    assert calls == []
    L[:, 2] = np.where(rng.random(500) < 0.4, rng.integers(0, 2, 500), ABSTAIN)
    _same(L, y)
    assert len(calls) == 1
    calls.clear()
    row = int(np.flatnonzero((L != ABSTAIN).any(axis=1))[0])
    y[row] = 1 - y[row]  # gold changes: the LFs voting on that row are asked again
    _same(L, y)
    assert len(calls) == int((L[row] != ABSTAIN).sum())


def test_lru_bound():
    cache = GoldFigures(max_items=3)
    for k in range(5):
        cache.put(k, (k, 0, 0.0))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == (4, 0, 0.0)
    cache.get(2)
    cache.put(5, (5, 0, 0.0))
    assert cache.get(3) is None and cache.get(2) == (2, 0, 0.0)


def test_sessions_share_the_cache_from_threads():
    rng = np.random.default_rng(2)
    mats = [np.where(rng.random((300, 3)) < 0.5, rng.integers(0, 2, (300, 3)), ABSTAIN).astype(np.int8)
            for _ in range(6)]
    y = rng.integers(0, 2, 300).astype(float)
    expected = [reference_summary(L, _names(3), y) for L in mats]
    errors = []

    def work(i):
        try:
            for r in range(5):
                k = (i + r) % len(mats)
                pd.testing.assert_frame_equal(lf_summary(mats[k], _names(3), y), expected[k], check_exact=True)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
