"""The paired bootstrap over test users: the vectorised metrics against explicitly expanded resamples (and
scikit-learn), collapsing intervals, pairing, determinism, and the saved evaluation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.training import bootstrap as bs
from pipeline.training import evaluate as ev

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "hr@10", "ndcg@10")


def _world(n_users: int = 40, seed: int = 0) -> bs.EvalScores:
    """Users with 1..12 rows each (some all-positive, some all-negative), scores with ties, a contender that
    scores only some rows (NaN elsewhere) and has no ranks, and one with ranks only."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 13, n_users)
    row_user = np.repeat(np.arange(n_users) * 7 + 3, sizes)  # user ids need not be 0..U-1
    n = len(row_user)
    y = (rng.random(n) < 0.55).astype(int)
    y[row_user == 3] = 1
    y[row_user == 10] = 0
    ours = np.round(np.clip(0.5 + 0.3 * (y - 0.5) + 0.25 * rng.standard_normal(n), 0, 1), 1)  # many ties
    replica = np.clip(0.5 + 0.1 * (y - 0.5) + 0.25 * rng.standard_normal(n), 0, 1)
    lf_only = np.where(rng.random(n) < 0.5, np.round(rng.random(n), 1), np.nan)
    liked = np.flatnonzero(y == 1)
    case_user = row_user[liked]
    c = len(case_user)
    return bs.EvalScores(row_user=row_user, y=y, case_user=case_user,
                         scores={"ours": ours, "replica": replica, "lf_only": lf_only},
                         ranks={"ours": rng.integers(0, 25, c), "replica": rng.integers(0, 60, c),
                                "popularity": rng.integers(0, 101, c)},
                         row_book=rng.integers(0, 500, n), case_positive=rng.integers(0, 500, c))


def _expanded(scores: bs.EvalScores, counts_row: np.ndarray) -> dict[str, dict[str, float]]:
    """Every metric on the resample written out: each row repeated as often as its user was drawn."""
    users = scores.users
    row_times = counts_row[np.searchsorted(users, scores.row_user)]
    case_times = counts_row[np.searchsorted(users, scores.case_user)]
    out: dict[str, dict[str, float]] = {}
    for name in scores.contenders:
        m: dict[str, float] = {}
        if name in scores.scores:
            p = scores.scores[name]
            rows = np.repeat(np.arange(len(p)), row_times)
            rows = rows[~np.isnan(p[rows])]
            y, q = scores.y[rows], p[rows]
            cls = ev.classification_metrics(y, q)
            m.update({key: cls[key] for key in ("accuracy", "precision", "recall", "f1", "roc_auc")})
            if 0 < y.sum() < len(y):
                assert m["roc_auc"] == pytest.approx(roc_auc_score(y, q), abs=1e-12)
        if name in scores.ranks:
            r = np.repeat(scores.ranks[name], case_times)
            m["hr@10"] = float((r < 10).mean()) if len(r) else math.nan
            m["ndcg@10"] = float(np.where(r < 10, 1 / np.log2(r + 2.0), 0).mean()) if len(r) else math.nan
        out[name] = m
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# --------------------------------------------------------------------------------------------------------------
# (b) the vectorised path equals the resample written out


def test_every_metric_equals_the_expanded_resample():
    scores = _world()
    counts = bs.resample_counts(len(scores.users), 6, seed=11)
    fast = bs.resampled_metrics(scores, counts)
    assert set(fast) == {"ours", "replica", "lf_only", "popularity"}
    assert set(fast["lf_only"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert set(fast["popularity"]) == {"hr@10", "ndcg@10"}
    for b in range(len(counts)):
        slow = _expanded(scores, counts[b])
        for name, metrics in slow.items():
            assert set(metrics) == set(fast[name])
            for metric, value in metrics.items():
                assert _same(fast[name][metric][b], value), (b, name, metric, fast[name][metric][b], value)


def test_point_estimates_equal_pipeline_evaluate():
    """A row of ones is the original rows: the figures of classification_metrics and ranking_metrics."""
    scores = _world()
    point = bs.resampled_metrics(scores, np.ones((1, len(scores.users)), dtype=int))
    for name, p in scores.scores.items():
        scored = ~np.isnan(p)
        expected = ev.classification_metrics(scores.y[scored], p[scored])
        for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert _same(point[name][metric][0], expected[metric])
    # ranks from evaluate.ranking_ranks on real cases, and ranking_metrics on the same score function
    rng = np.random.default_rng(5)
    table = rng.random(300).round(1)  # a score per book, with ties

    def score(users, books):
        return table[books]

    cases = ev.RankingCases(case_user=np.repeat(np.arange(12), 3), positive=rng.integers(0, 300, 36),
                            negatives=rng.integers(0, 300, (36, 100)))
    ranks = ev.ranking_ranks(score, cases, chunk_cases=7)
    expected = ev.ranking_metrics(score, cases, k=10)
    scored = bs.EvalScores(row_user=[], y=[], case_user=cases.case_user, ranks={"ours": ranks})
    mine = bs.resampled_metrics(scored, np.ones((1, 12), dtype=int))["ours"]
    assert mine["hr@10"][0] == pytest.approx(expected["hr@10"])
    assert mine["ndcg@10"][0] == pytest.approx(expected["ndcg@10"])


def test_undefined_metrics_are_nan_on_their_resamples():
    # user 0: positives only, user 1: negatives only, so AUC needs both users in the resample
    scores = bs.EvalScores(row_user=[0, 0, 1, 1], y=[1, 1, 0, 0], case_user=[0, 0],
                           scores={"ours": [0.9, 0.4, 0.3, 0.6]}, ranks={"ours": [0, 30]})
    m = bs.resampled_metrics(scores, np.array([[2, 0], [1, 1], [0, 2]]))["ours"]
    assert np.isnan(m["roc_auc"][[0, 2]]).all() and m["roc_auc"][1] == pytest.approx(0.75)
    assert np.isnan(m["recall"][2]) and np.isnan(m["hr@10"][2]) and m["hr@10"][0] == 0.5
    assert m["f1"][2] == 0.0  # user 1 alone: one false positive, F1 = 2TP / (2TP + FP + FN) = 0 / 1
    out = bs.bootstrap(scores, n_resamples=200, seed=0)
    lo, hi = out["ci"]["ours"]["roc_auc"]
    assert lo == hi == pytest.approx(0.75)  # the only resamples where it is defined
    never = bs.bootstrap(bs.EvalScores(row_user=[0, 1], y=[1, 0], case_user=[], scores={"ours": [0.1, 0.2]}),
                         n_resamples=50)
    assert never["ci"]["ours"]["precision"] == [None, None] and never["point"]["ours"]["precision"] is None
    json.dumps(never, allow_nan=False)


# --------------------------------------------------------------------------------------------------------------
# (a) collapse, (c) pairing, (d) determinism


def test_one_user_gives_intervals_at_the_point_estimate():
    scores = bs.EvalScores(row_user=[4, 4, 4, 4, 4], y=[1, 0, 1, 0, 1], case_user=[4, 4, 4],
                           scores={"ours": [0.9, 0.2, 0.4, 0.6, 0.7], "replica": [0.5, 0.5, 0.6, 0.1, 0.3]},
                           ranks={"ours": [0, 3, 40], "replica": [12, 1, 9]})
    out = bs.bootstrap(scores, n_resamples=30, seed=3)
    for name in ("ours", "replica"):
        for metric in METRICS:
            assert out["ci"][name][metric] == pytest.approx([out["point"][name][metric]] * 2, abs=1e-12)
    for metric in METRICS:
        d = out["deltas"]["replica"][metric]
        assert d["ci"] == pytest.approx([d["delta"]] * 2, abs=1e-12)
    assert out["point"]["ours"]["roc_auc"] == pytest.approx(5 / 6)


def test_identical_contenders_differ_by_exactly_zero():
    scores = _world()
    twin = bs.EvalScores(row_user=scores.row_user, y=scores.y, case_user=scores.case_user,
                         scores={"ours": scores.scores["ours"], "twin": scores.scores["ours"].copy()},
                         ranks={"ours": scores.ranks["ours"], "twin": scores.ranks["ours"].copy()})
    out = bs.bootstrap(twin, n_resamples=300, seed=1)
    assert set(out["deltas"]["twin"]) == set(METRICS)
    for metric in METRICS:
        assert out["deltas"]["twin"][metric] == {"delta": 0.0, "ci": [0.0, 0.0], "significant": False}
        assert out["ci"]["twin"][metric] == out["ci"]["ours"][metric]


def test_a_contender_better_on_every_user_is_significantly_ahead():
    rng = np.random.default_rng(2)
    row_user = np.repeat(np.arange(30), 4)
    y = np.tile([1, 1, 0, 0], 30)
    ours = np.where(y == 1, 0.9, 0.1) + rng.uniform(-0.05, 0.05, len(y))
    worse = ours.copy()
    worse[::4] = 0.05  # every user's first positive falls below their negatives
    case_user = np.repeat(np.arange(30), 2)
    scores = bs.EvalScores(row_user=row_user, y=y, case_user=case_user, scores={"ours": ours, "worse": worse},
                           ranks={"ours": np.zeros(60, int), "worse": np.tile([0, 15], 30)})
    out = bs.bootstrap(scores, n_resamples=500, seed=0)
    deltas = out["deltas"]["worse"]
    for metric in ("accuracy", "recall", "f1", "roc_auc", "hr@10", "ndcg@10"):
        assert deltas[metric]["delta"] > 0 and deltas[metric]["ci"][0] > 0 and deltas[metric]["significant"]
    assert deltas["accuracy"]["delta"] == pytest.approx(0.25) and deltas["hr@10"]["delta"] == pytest.approx(0.5)
    # worse never predicts a false positive either: precision 1 for both, on every resample
    assert deltas["precision"] == {"delta": 0.0, "ci": [0.0, 0.0], "significant": False}
    # reversed, the same delta with the sign flipped
    back = bs.bootstrap(scores, reference="worse", n_resamples=500, seed=0)["deltas"]["ours"]["roc_auc"]
    assert back["delta"] == pytest.approx(-deltas["roc_auc"]["delta"])
    assert back["ci"] == pytest.approx([-deltas["roc_auc"]["ci"][1], -deltas["roc_auc"]["ci"][0]])


def test_the_result_is_deterministic_per_seed_and_json_ready():
    scores = _world()
    a = bs.bootstrap(scores, n_resamples=200, seed=7)
    assert a == bs.bootstrap(scores, n_resamples=200, seed=7)
    assert a["ci"] != bs.bootstrap(scores, n_resamples=200, seed=8)["ci"]
    assert (a["n_resamples"], a["seed"], a["level"], a["unit"]) == (200, 7, 0.95, "user")
    assert list(a["ci"]) == ["ours", "replica", "lf_only", "popularity"]
    assert list(a["deltas"]) == ["replica", "lf_only", "popularity"]
    assert set(a["deltas"]["lf_only"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert set(a["deltas"]["popularity"]) == {"hr@10", "ndcg@10"}
    d = a["deltas"]["replica"]["f1"]
    assert d["delta"] == pytest.approx(a["point"]["ours"]["f1"] - a["point"]["replica"]["f1"])
    lo, hi = a["ci"]["ours"]["roc_auc"]
    assert lo < a["point"]["ours"]["roc_auc"] < hi
    narrow = bs.bootstrap(scores, others=["replica"], n_resamples=200, seed=7, level=0.5)
    assert list(narrow["deltas"]) == ["replica"]
    n_lo, n_hi = narrow["ci"]["ours"]["roc_auc"]
    assert lo < n_lo < n_hi < hi
    json.dumps(a, allow_nan=False)


def test_bad_arguments_are_refused():
    scores = _world()
    with pytest.raises(ValueError, match="reference contender 'nobody'"):
        bs.bootstrap(scores, reference="nobody")
    with pytest.raises(ValueError, match="others"):
        bs.bootstrap(scores, others=["ours"])
    for kwargs in ({"n_resamples": 0}, {"level": 1.0}, {"k": 0}, {"seed": None}):
        with pytest.raises(ValueError):
            bs.bootstrap(scores, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        bs.EvalScores(row_user=[0, 1], y=[0, 1], case_user=[], scores={"ours": [0.5]})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bs.EvalScores(row_user=[0, 1], y=[0, 1], case_user=[], scores={"ours": [0.5, 1.5]})
    with pytest.raises(ValueError, match=">= 0"):
        bs.EvalScores(row_user=[0], y=[1], case_user=[0], ranks={"ours": [-1]})
    with pytest.raises(ValueError, match="0/1"):
        bs.EvalScores(row_user=[0], y=[2], case_user=[])


# --------------------------------------------------------------------------------------------------------------
# (e) the saved evaluation, and two runs


def test_save_and_load_round_trip(tmp_path):
    scores = _world()
    path = scores.save(tmp_path / "eval_scores.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval_scores.npz"]  # no temp file left behind
    back = bs.EvalScores.load(path)
    assert back.key() == scores.key() and back.contenders == scores.contenders
    for name in ("row_user", "y", "case_user", "row_book", "case_positive"):
        assert np.array_equal(getattr(back, name), getattr(scores, name))
    for name, p in scores.scores.items():
        assert np.array_equal(back.scores[name], p, equal_nan=True)
    for name, r in scores.ranks.items():
        assert np.array_equal(back.ranks[name], r)
    assert bs.bootstrap(back, n_resamples=50) == bs.bootstrap(scores, n_resamples=50)
    bare = bs.EvalScores(row_user=[1, 2], y=[1, 0], case_user=[1], scores={"ours": [0.7, 0.2]})
    again = bs.EvalScores.load(bare.save(tmp_path / "bare.npz"))
    assert again.row_book is None and again.ranks == {} and again.key() == bare.key()


def test_the_key_names_the_rows():
    scores = _world()
    same_rows = bs.EvalScores(row_user=scores.row_user, y=scores.y, case_user=scores.case_user,
                              scores={"ours": np.full(len(scores.y), 0.5)}, row_book=scores.row_book,
                              case_positive=scores.case_positive)
    assert same_rows.key() == scores.key()
    other_book = scores.row_book.copy()
    other_book[0] += 1
    moved = bs.EvalScores(row_user=scores.row_user, y=scores.y, case_user=scores.case_user,
                          row_book=other_book, case_positive=scores.case_positive)
    assert moved.key() != scores.key() and scores.differences(moved) == ["row_book"]


def test_compare_runs_pairs_two_runs_on_the_same_rows():
    a = _world()
    rng = np.random.default_rng(9)
    b = bs.EvalScores(row_user=a.row_user, y=a.y, case_user=a.case_user,
                      scores={"ours": np.clip(a.scores["ours"] + rng.normal(0, 0.2, len(a.y)), 0, 1)},
                      ranks={"ours": a.ranks["ours"] + 3}, row_book=a.row_book, case_positive=a.case_positive)
    out = bs.compare_runs_ci(a, b, labels=("run 1", "run 2"), n_resamples=300, seed=4)
    assert list(out["ci"]) == ["run 1", "run 2"] and list(out["deltas"]) == ["run 2"]
    d = out["deltas"]["run 2"]
    assert set(d) == set(METRICS)
    assert d["hr@10"]["delta"] == pytest.approx(out["point"]["run 1"]["hr@10"] - out["point"]["run 2"]["hr@10"])
    assert d["hr@10"]["delta"] > 0 and d["hr@10"]["significant"]  # every rank 3 places worse in run 2
    combined = bs.EvalScores(row_user=a.row_user, y=a.y, case_user=a.case_user,
                             scores={"run 1": a.scores["ours"], "run 2": b.scores["ours"]},
                             ranks={"run 1": a.ranks["ours"], "run 2": b.ranks["ours"]})
    assert bs.bootstrap(combined, reference="run 1", n_resamples=300, seed=4)["deltas"] == out["deltas"]


def test_compare_runs_refuses_different_rows():
    a = _world()
    flipped = a.y.copy()
    flipped[0] = 1 - flipped[0]
    b = bs.EvalScores(row_user=a.row_user, y=flipped, case_user=a.case_user, scores={"ours": a.scores["ours"]},
                      row_book=a.row_book, case_positive=a.case_positive)
    with pytest.raises(ValueError, match=r"different test rows .*differ in y"):
        bs.compare_runs_ci(a, b)
    no_books = bs.EvalScores(row_user=a.row_user, y=a.y, case_user=a.case_user, scores={"ours": a.scores["ours"]})
    with pytest.raises(ValueError, match="row_book \\(recorded by only one\\)"):
        bs.compare_runs_ci(a, no_books)
    only_ranks = bs.EvalScores(row_user=a.row_user, y=a.y, case_user=a.case_user, ranks={"other": a.ranks["ours"]},
                               row_book=a.row_book, case_positive=a.case_positive)
    with pytest.raises(ValueError, match="missing from run"):
        bs.compare_runs_ci(a, only_ranks)


def test_from_evaluation_takes_the_pipelines_rows_and_cases():
    rows = ev.ClassificationRows(user_idx=np.array([2, 2, 5], np.int32), book_idx=np.array([7, 8, 9], np.int32),
                                 y=np.array([1.0, 0.0, 0.0]), held_out=np.array([7, 8, 7]),
                                 source_row=np.array([0, 1, -1]))
    cases = ev.RankingCases(case_user=np.array([2], np.int32), positive=np.array([7], np.int32),
                            negatives=np.array([[1, 3]]))
    scores = bs.EvalScores.from_evaluation(rows, cases, scores={"ours": [0.8, 0.3, 0.6]}, ranks={"ours": [1]})
    assert scores.y.tolist() == [1, 0, 0] and scores.row_book.tolist() == [7, 8, 9]
    assert scores.case_positive.tolist() == [7] and scores.users.tolist() == [2, 5]
    assert bs.bootstrap(scores, n_resamples=20)["point"]["ours"]["hr@10"] == 1.0
