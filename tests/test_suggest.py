"""LF suggestions, threshold search and autotune (lfs.suggest, lfs.phrases) on small data with known answers, and
the `suggest` / `autotune` verbs on the tiny dataset."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from lfs.apply import LFData, label_matrix
from lfs.phrases import build_phrase_table, cached_tables, phrase_table
from lfs.spec import FEATURES, KeywordLF, KeywordRule, ThresholdLF
from lfs.suggest import (
    SuggestContext,
    autotune,
    best_point,
    figures,
    keyword_suggestions,
    sorted_feature,
    suggest,
    sweep_points,
    threshold_suggestions,
)
from pipeline.cli import main

BOOKS = pd.DataFrame({"book_idx": [0, 1], "title": ["Night Tide", "The Glass Crown"],
                      "description": ["a story", "another story"]})


def corpus(rng: np.random.Generator, n_pos: int, n_neg: int, awful: tuple[int, int], delight: tuple[int, int]):
    """Rows with gold: `awful` = (negative rows, positive rows) whose review says "awful", `delight` the same for
    "a delight"; the other reviews share their other words. Polarity tracks the label: 0.6 for positives, -0.2 for
    negatives, except 10 positives at -0.2."""
    gold = np.array([1] * n_pos + [0] * n_neg, dtype=float)
    texts = ["It was a book. The book is a read, it is what it is."] * len(gold)
    neg_rows, pos_rows = np.flatnonzero(gold == 0), np.flatnonzero(gold == 1)
    for i in neg_rows[:awful[0]].tolist() + pos_rows[:awful[1]].tolist():
        texts[i] = "It was awful, the book."
    for i in pos_rows[-delight[0]:].tolist() + neg_rows[-delight[1]:].tolist():
        texts[i] = "The book is a delight!"
    order = rng.permutation(len(gold))
    gold, texts = gold[order], [texts[i] for i in order]
    polarity = np.where(gold == 1, 0.6, -0.2)
    polarity[np.flatnonzero(gold == 1)[:10]] = -0.2
    rows = pd.DataFrame({"user_idx": np.arange(len(gold)), "book_idx": np.arange(len(gold)) % 2,
                         "review_text": texts})
    feats = pd.DataFrame({name: np.full(len(gold), np.nan) for name in FEATURES})
    feats["polarity"] = polarity
    return LFData(rows, feats, BOOKS), gold


@pytest.fixture
def splits():
    rng = np.random.default_rng(0)
    dev, dev_gold = corpus(rng, 140, 60, awful=(27, 3), delight=(29, 1))
    val, val_gold = corpus(rng, 70, 30, awful=(14, 1), delight=(14, 1))
    return dev, dev_gold, val, val_gold


def engine_figures(spec, data, gold):
    return figures(label_matrix([spec], data)[:, 0], gold)


# -- phrase tables ------------------------------------------------------------------------------------------------
def test_phrase_table_counts_rows_and_never_spans_punctuation():
    table = build_phrase_table(["Loved it. The end", "loved it!", None, "I loved it"], min_rows=1)
    X = table.X.toarray()
    col = {p: X[:, k].tolist() for k, p in enumerate(table.phrases)}
    assert col["loved it"] == [1, 1, 0, 1]
    assert col["the end"] == [1, 0, 0, 0]
    assert "it the" not in col and "loved it the" not in col  # across the full stop
    assert "i" not in col  # one letter is not a keyword (too short)
    assert table.X.shape == (4, len(table.phrases))


def test_phrase_table_keeps_phrases_in_enough_rows_and_maps_book_texts():
    table = build_phrase_table(["red fox", "red hen", "blue fox", None], rows=np.array([0, 0, 1, 2, 3]),
                               min_rows=2)
    X = table.X.toarray()
    col = {p: X[:, k].tolist() for k, p in enumerate(table.phrases)}
    assert col == {"fox": [1, 1, 0, 1, 0], "red": [1, 1, 1, 0, 0], "red fox": [1, 1, 0, 0, 0]}


def test_phrase_tables_are_cached_on_disk_per_dataset(splits, tmp_path):
    dev, dev_gold, *_ = splits
    built = cached_tables(dev, dev_gold, tmp_path, fingerprint="fp1", split="dev", fields=["review_text"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phrases-dev-review_text.json",
                                                         "phrases-dev-review_text.npz"]
    other = LFData(dev.rows, dev.features, BOOKS)
    again = cached_tables(other, dev_gold, tmp_path, fingerprint="fp1", split="dev", fields=["review_text"])
    assert (again["review_text"].phrases == built["review_text"].phrases).all()
    assert (again["review_text"].X != built["review_text"].X).nnz == 0
    assert phrase_table(other, dev_gold, "review_text") is again["review_text"]  # remembered for that LFData
    (tmp_path / "phrases-dev-review_text.npz").write_bytes(b"damaged")
    rebuilt = cached_tables(LFData(dev.rows, dev.features, BOOKS), dev_gold, tmp_path, fingerprint="fp1",
                            split="dev", fields=["review_text"])
    assert (rebuilt["review_text"].phrases == built["review_text"].phrases).all()


# -- keyword suggestions ------------------------------------------------------------------------------------------
def test_keyword_suggestions_find_the_planted_phrases_with_engine_figures(splits):
    dev, dev_gold, val, val_gold = splits
    ctx = SuggestContext(dev, dev_gold, val, val_gold, [])
    found = keyword_suggestions(ctx, fields=["review_text"], top=5)
    by_phrase = {s.spec.keywords[0]: s for s in found}
    assert {"awful", "delight"} <= set(by_phrase) or {"awful", "a delight"} <= set(by_phrase)
    assert "the book" not in by_phrase and "book" not in by_phrase  # everywhere: no better than the prior
    awful = by_phrase["awful"]
    assert awful.label == 0 and awful.spec.match == "word" and awful.spec.field == "review_text"
    assert awful.dev == engine_figures(awful.spec, dev, dev_gold)
    assert (awful.dev.rows, awful.dev.accuracy) == (30, 0.9)
    assert awful.check == engine_figures(awful.spec, val, val_gold)
    assert (awful.check.rows, awful.check.accuracy) == (15, 14 / 15)
    assert awful.adds == 30  # no LF is enabled: every labelled row is one the majority vote abstains on
    assert found == sorted(found, key=lambda s: -s.score)


def test_suggestions_skip_phrases_in_use_and_rows_already_right(splits):
    dev, dev_gold, val, val_gold = splits
    used = KeywordLF("awful_lf", rules=(KeywordRule(("awful",), 0),), match="word")
    names = {s.spec.keywords[0] for s in keyword_suggestions(
        SuggestContext(dev, dev_gold, val, val_gold, [used]), fields=["review_text"], top=10)}
    assert "awful" not in names
    # an LF right on the 27 negative "awful" rows: "awful" adds only the 3 rows it gets wrong, which lift 0
    exact = ThresholdLF("neg_polarity", feature="polarity", op="<", value=0.0, label=0)
    ctx = SuggestContext(dev, dev_gold, val, val_gold, [exact])
    spec = KeywordLF("kw", rules=(KeywordRule(("awful",), 0),), match="word")
    assert ctx.suggestion(spec).adds == int(((label_matrix([exact], dev)[:, 0] != dev_gold)
                                             & (label_matrix([spec], dev)[:, 0] != -1)).sum())


def test_check_accuracy_floor_hides_what_does_not_hold_on_val(splits):
    dev, dev_gold, val, val_gold = splits
    val_gold = val_gold.copy()
    awful_val = label_matrix([KeywordLF("k", rules=(KeywordRule(("awful",), 0),), match="word")], val)[:, 0] != -1
    val_gold[awful_val] = 1 - val_gold[awful_val]  # on val the phrase is now mostly wrong
    shown = keyword_suggestions(SuggestContext(dev, dev_gold, val, val_gold, []), fields=["review_text"])
    assert "awful" in {s.spec.keywords[0] for s in shown}
    hidden = keyword_suggestions(SuggestContext(dev, dev_gold, val, val_gold, [], min_check_accuracy=0.5),
                                 fields=["review_text"])
    assert "awful" not in {s.spec.keywords[0] for s in hidden}


# -- thresholds ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
def test_sweep_points_equal_counting_every_threshold(op):
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=300), 1)
    values[::7] = np.nan
    gold = rng.integers(0, 2, 300).astype(float)
    gold[::5] = np.nan
    sweep = sweep_points(sorted_feature_of(values, gold), op, 1)
    compare = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[op]
    for t, fires, labelled, correct in zip(sweep.threshold, sweep.fires, sweep.labelled, sweep.correct,
                                           strict=True):
        hit = ~np.isnan(values) & compare(np.nan_to_num(values, nan=0.0), t)
        assert fires == hit.sum()
        assert labelled == (hit & ~np.isnan(gold)).sum()
        assert correct == (hit & (gold == 1)).sum()


def sorted_feature_of(values, gold):
    rows = pd.DataFrame({"user_idx": np.arange(len(values)), "book_idx": 0, "review_text": ""})
    feats = pd.DataFrame({name: values for name in FEATURES})
    return sorted_feature(LFData(rows, feats, BOOKS), gold, "polarity")


def test_best_point_follows_the_objective():
    points = pd.DataFrame({"threshold": [0.1, 0.2, 0.3, 0.4], "coverage": [0.5, 0.3, 0.1, 0.02],
                           "labelled": [50, 30, 10, 2], "accuracy": [0.7, 0.8, 0.9, 1.0]})
    assert best_point(points, "accuracy", min_coverage=0.05, min_accuracy=0).value == 0.3
    assert best_point(points, "accuracy", min_coverage=0.0, min_accuracy=0).value == 0.4
    assert best_point(points, "coverage", min_coverage=0, min_accuracy=0.75).value == 0.2
    assert best_point(points, "coverage", min_coverage=0, min_accuracy=0.95).value == 0.4
    assert best_point(points, "accuracy", min_coverage=0.9, min_accuracy=0) is None
    with pytest.raises(ValueError, match="unknown objective 'speed'"):
        best_point(points, "speed", min_coverage=0, min_accuracy=0)


def test_autotune_picks_the_best_value_on_dev(splits):
    dev, dev_gold, *_ = splits
    spec = ThresholdLF("pos", feature="polarity", op=">", value=-0.5, label=1)
    point = autotune(spec, dev, dev_gold, objective="accuracy", min_coverage=0.1)
    assert point.value == -0.2 and point.accuracy == 1.0  # polarity > -0.2: the 130 positives at 0.6
    tuned = ThresholdLF("pos", feature="polarity", op=">", value=point.value, label=1)
    assert engine_figures(tuned, dev, dev_gold) == figures(label_matrix([tuned], dev)[:, 0], dev_gold)
    assert (point.rows, point.coverage) == (130, 130 / 200)
    with pytest.raises(ValueError, match="'kw' is a keyword LF"):
        autotune(KeywordLF("kw", rules=(KeywordRule(("x1",), 1),)), dev, dev_gold)
    with pytest.raises(ValueError, match="no value of polarity > ... reaches accuracy >= 1"):
        autotune(ThresholdLF("neg", feature="polarity", op=">", value=0, label=0), dev, dev_gold,
                 objective="coverage", min_accuracy=1.0)


def test_threshold_suggestions_are_checked_on_val_and_skip_lfs_in_use(splits):
    dev, dev_gold, val, val_gold = splits
    found = threshold_suggestions(SuggestContext(dev, dev_gold, val, val_gold, []), min_coverage=0.1)
    best = {(s.spec.feature, s.spec.op, s.label): s for s in found}
    assert best[("polarity", ">", 1)].spec.value == -0.2
    assert best[("polarity", ">", 1)].check == engine_figures(best[("polarity", ">", 1)].spec, val, val_gold)
    in_use = ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1)
    again = threshold_suggestions(SuggestContext(dev, dev_gold, val, val_gold, [in_use]), min_coverage=0.1)
    assert ("polarity", ">", 1) not in {(s.spec.feature, s.spec.op, s.label) for s in again}


def test_suggest_merges_both_kinds_best_first(splits):
    dev, dev_gold, val, val_gold = splits
    found = suggest(SuggestContext(dev, dev_gold, val, val_gold, []), top=4, fields=["review_text"])
    assert len(found) == 4 and {s.template for s in found} == {"keyword", "threshold"}
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


# -- the CLI ------------------------------------------------------------------------------------------------------
SUGGESTION_KEYS = {"template", "label", "name", "dev", "check", "adds", "lift", "score"}


def test_suggest_and_autotune_cli(tiny_copy, capsys):
    processed = str(tiny_copy / "processed")
    args = ["--processed", processed, "--min-lift", "0", "--json"]
    assert main(["suggest", *args, "--top", "6"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and len(rows) <= 6
    for row in rows:
        assert SUGGESTION_KEYS <= set(row) and row["label"] in (0, 1)
        extra = {"keyword", "field", "match"} if row["template"] == "keyword" else {"feature", "op", "value"}
        assert extra <= set(row)
        assert set(row["dev"]) == set(row["check"]) == {"rows", "coverage", "accuracy"}
    assert main(["autotune", "--processed", processed, "--lf", "polarity_positive", "--json"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["lf"] == "polarity_positive" and tuned["previous"] == 0.3
    assert main(["autotune", "--processed", processed, "--lf", "polarity_positive"]) == 0
    assert capsys.readouterr().out.startswith(f"polarity_positive: polarity > {tuned['value']:g} (was 0.3)")

    # the test split's gold is never read: flipping it changes nothing
    test_file = tiny_copy / "processed" / "test.parquet"
    frame = pd.read_parquet(test_file)
    frame["rating"] = 1 - frame["rating"]
    frame.to_parquet(test_file)
    shutil.rmtree(tiny_copy / "processed" / "features", ignore_errors=True)
    assert main(["suggest", *args, "--top", "6"]) == 0
    assert json.loads(capsys.readouterr().out) == rows


@pytest.mark.parametrize(("argv", "message"), [
    (["autotune", "--lf", "nope"], "no LF named 'nope'"),
    (["autotune", "--lf", "stars_in_review"], "only threshold LFs can be autotuned"),
])
def test_cli_errors_name_the_lf(tiny_copy, capsys, argv, message):
    assert main([*argv, "--processed", str(tiny_copy / "processed")]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_shares_out_of_range(tiny_copy, capsys):
    with pytest.raises(SystemExit):
        main(["suggest", "--processed", str(tiny_copy / "processed"), "--min-check-accuracy", "1.5"])
    assert "1.5 is not a share between 0 and 1" in capsys.readouterr().err
