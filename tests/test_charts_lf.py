"""Charts and the table of the Labeling functions page, on a six-row split with hand-checked figures."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import pytest

from lfs.analysis import analyze, keyword_stats, threshold_sweep
from lfs.apply import LFData, label_matrix
from lfs.spec import KeywordLF, KeywordRule, ThresholdLF
from workbench.charts import lf as charts

TEXTS = ["loved it, 5 stars", "awful, one star", "loved the ending", None, "meh", "5 stars but sad"]
POLARITY = [0.8, -0.6, 0.5, np.nan, 0.0, -0.2]
GOLD = np.array([1, 0, 1, 0, 0, np.nan])  # the last row has no gold

POS = ThresholdLF("pos", feature="polarity", op=">", value=0.3, label=1)
NEG = ThresholdLF("neg", feature="polarity", op="<", value=-0.1, label=0)
STARS = KeywordLF("stars", rules=(KeywordRule(("one star",), 0), KeywordRule(("5 stars", "loved"), 1)))


@pytest.fixture
def data() -> LFData:
    rows = pd.DataFrame({"user_idx": range(6), "book_idx": [0] * 6, "review_text": TEXTS})
    features = pd.DataFrame({"polarity": POLARITY})
    books = pd.DataFrame({"title": ["A"], "description": ["B"]})
    return LFData(rows, features, books)


@pytest.fixture
def now(data):
    specs = [POS, NEG, STARS]
    return analyze(label_matrix(specs, data), specs, GOLD)


def layers(chart) -> list:
    """Every single-view chart inside a layer / concat chart."""
    for attr in ("layer", "vconcat"):
        parts = getattr(chart, attr, None)
        if isinstance(parts, list):
            return [leaf for part in parts for leaf in layers(part)]
    return [chart]


def marks(chart) -> list[str]:
    return [part.mark if isinstance(part.mark, str) else part.mark.type for part in layers(chart)]


def test_lf_points_one_row_per_lf(now):
    # pos fires on rows 0, 2 (gold 1, 1); neg on 1, 5 (gold 0, none); stars on 0, 1, 2, 5
    points = charts.lf_points(now.summary).set_index("lf")
    assert points["votes"].to_dict() == {"pos": "positive", "neg": "negative", "stars": "both"}
    assert points.loc["pos", "coverage"] == pytest.approx(2 / 6) and points.loc["pos", "accuracy"] == 1.0
    assert points.loc["neg", "labelled"] == 1 and points.loc["stars", "labelled"] == 3
    assert points.loc["pos", "acc_low"] < 1.0 == points.loc["pos", "acc_high"]


def test_an_lf_without_labelled_votes_has_no_accuracy_point(data):
    late = KeywordLF("late", rules=(KeywordRule(("but sad",), 0),))  # fires on row 5 only, which has no gold
    summary = analyze(label_matrix([POS, late], data), [POS, late], GOLD).summary
    points = charts.lf_points(summary).set_index("lf")
    assert points.loc["late", "labelled"] == 0 and math.isnan(points.loc["late", "accuracy"])


def test_coverage_accuracy_has_a_point_and_an_interval_bar_per_lf(now):
    chart = charts.coverage_accuracy(now.summary)
    chart.to_dict()  # a valid Vega-Lite spec
    assert sorted(marks(chart)) == ["circle", "rule", "text"]
    rule = next(p for p in layers(chart) if marks(p) == ["rule"])
    assert rule.encoding.y.shorthand == "acc_low:Q" and rule.encoding.y2.shorthand == "acc_high"
    assert chart.data["lf"].tolist() == ["pos", "neg", "stars"]  # one frame for all layers


def test_sweep_marks_the_current_value_and_the_live_figures(data):
    sweep = threshold_sweep(POS, data, GOLD, points=5)
    chart = charts.sweep_chart(sweep, 0.42, name="pos", feature="polarity", op=">",
                               current={"coverage": 0.25, "accuracy": 0.9})
    spec = chart.to_dict()
    assert "pos" in spec["title"]
    rules = [p for p in layers(chart) if marks(p) == ["rule"]]
    assert len(rules) == 1 and rules[0].data["threshold"].tolist() == [0.42]
    lines = next(p for p in layers(chart) if marks(p) == ["line"])
    assert set(lines.data["figure"]) == {"coverage", "accuracy"}
    assert len(lines.data) == 2 * len(sweep)
    now = next(p for p in layers(chart) if marks(p) == ["point"])
    assert now.data.to_dict("list") == {"threshold": [0.42, 0.42], "figure": ["coverage", "accuracy"],
                                        "share": [0.25, 0.9]}
    assert "area" in marks(chart)  # the accuracy interval


def test_sweep_without_gold_draws_coverage_only(data):
    chart = charts.sweep_chart(threshold_sweep(POS, data, None, points=5), 0.3, name="pos", feature="polarity",
                               op=">")
    chart.to_dict()
    assert "area" not in marks(chart) and "point" not in marks(chart)
    assert set(next(p for p in layers(chart) if marks(p) == ["line"]).data["figure"]) == {"coverage"}


def test_pair_heatmaps_hold_both_matrices(now):
    frame = charts.pair_frame(now.overlap, now.conflict)
    assert len(frame) == 9
    cell = frame.set_index(["lf_a", "lf_b"])
    assert cell.loc[("pos", "stars"), "overlap"] == pytest.approx(2 / 6)  # rows 0 and 2
    assert cell.loc[("neg", "stars"), "conflict"] == pytest.approx(1 / 6)  # row 5: neg votes 0, "5 stars" 1
    assert cell.loc[("stars", "neg"), "conflict"] == cell.loc[("neg", "stars"), "conflict"]
    chart = charts.pair_heatmap(now.overlap, now.conflict)
    chart.to_dict()
    assert marks(chart) == ["rect", "rect"]
    assert [p.encoding.color.shorthand for p in layers(chart)] == ["overlap:Q", "conflict:Q"]


def test_keyword_chart_one_bar_per_keyword_in_rule_order(data):
    stats = keyword_stats(STARS, data, GOLD)
    chart = charts.keyword_chart(stats, "stars")
    chart.to_dict()
    bars = chart.data  # one frame for both views
    assert bars["keyword"].tolist() == ["one star", "5 stars", "loved"]
    assert bars["rule"].tolist() == [1, 2, 2] and bars["vote"].tolist() == ["negative", "positive", "positive"]
    assert bars["decides"].tolist() == [1, 2, 2]  # rule 2 decides rows 0, 2, 5: "5 stars" is in 0 and 5
    assert "circle" in marks(chart) and "rule" in marks(chart)  # accuracy with its interval
    no_gold = charts.keyword_chart(keyword_stats(STARS, data, None), "stars")
    no_gold.to_dict()
    assert "circle" not in marks(no_gold)


def test_summary_frame_changes_against_the_saved_version(data, now):
    older = ThresholdLF("pos", feature="polarity", op=">", value=0.6, label=1)  # fires on row 0 only
    saved = analyze(label_matrix([older, NEG], data), [older, NEG], GOLD).summary
    table = charts.summary_frame(now.summary, saved).set_index("LF")
    assert list(table.reset_index().columns) == charts.SUMMARY_COLUMNS
    assert table.loc["pos", "Δ Coverage"] == pytest.approx(100 * (2 / 6 - 1 / 6))
    assert table.loc["pos", "Δ Acc."] == pytest.approx(0.0)
    assert table.loc["neg", "Δ Coverage"] == 0.0
    assert math.isnan(table.loc["stars", "Δ Coverage"])  # not in the saved version
    assert (table.loc["stars", "Correct"], table.loc["stars", "Incorrect"]) == (3, 0)  # row 5 has no gold
    assert charts.summary_frame(now.summary)["Δ Acc."].isna().all()
    assert isinstance(charts.coverage_accuracy(now.summary), alt.LayerChart)


def test_stable_spec_names_datasets_by_position_so_new_figures_keep_the_spec(data, now):
    other = analyze(label_matrix([POS, NEG], data), [POS, NEG], GOLD)  # other figures, same LFs but one
    sweep = threshold_sweep(POS, data, GOLD, points=5)
    a = charts.stable_spec(charts.sweep_chart(sweep, 0.3, name="pos", feature="polarity", op=">",
                                              current={"coverage": 0.3, "accuracy": 0.8}))
    b = charts.stable_spec(charts.sweep_chart(sweep, 0.5, name="pos", feature="polarity", op=">",
                                              current={"coverage": 0.2, "accuracy": 0.9}))
    assert sorted(a["datasets"]) == [f"data-{i}" for i in range(len(a["datasets"]))]
    assert a["datasets"] != b["datasets"]
    assert {k: v for k, v in a.items() if k != "datasets"} == {k: v for k, v in b.items() if k != "datasets"}
    assert "config" not in a  # altair's default 300 px view is left to Streamlit's theme
    heat = charts.stable_spec(charts.pair_heatmap(now.overlap, now.conflict))
    assert heat["datasets"]["data-0"][0].keys() == {"lf_a", "lf_b", "overlap", "conflict"}
    assert charts.stable_spec(charts.coverage_accuracy(other.summary))["datasets"]["data-0"][0]["lf"] == "pos"


@pytest.mark.parametrize("current", [{"coverage": 0.2, "accuracy": 0.9}, {"coverage": 0.4}, None],
                         ids=["with accuracy", "coverage only", "no figures"])
@pytest.mark.parametrize("gold", [GOLD, None], ids=["gold", "no gold"])
def test_sweep_spec_from_another_value_is_the_chart_at_this_value(data, current, gold):
    sweep = threshold_sweep(POS, data, gold, points=5)

    def spec(value, figures):
        return charts.stable_spec(charts.sweep_chart(sweep, value, name="pos", feature="polarity", op=">",
                                                     current=figures))

    base = spec(0.3, None if current is None else {k: 0.5 for k in current})
    for value in (0.3, -0.25, 0.123456789, 2.0):
        assert charts.sweep_spec(base, value, current) == spec(value, current)


def test_with_datasets_gives_the_spec_built_from_those_figures(data, now):
    other = analyze(label_matrix([ThresholdLF("pos", feature="polarity", op=">", value=-0.5, label=1), NEG, STARS],
                                 data), [POS, NEG, STARS], GOLD)  # other figures, same LFs
    assert not other.summary.equals(now.summary)
    built = charts.stable_spec(charts.coverage_accuracy(now.summary))
    assert charts.with_datasets(built, {0: charts.lf_points(other.summary)}) == \
        charts.stable_spec(charts.coverage_accuracy(other.summary))
    heat = charts.stable_spec(charts.pair_heatmap(now.overlap, now.conflict))
    assert charts.with_datasets(heat, {0: charts.pair_frame(other.overlap, other.conflict)}) == \
        charts.stable_spec(charts.pair_heatmap(other.overlap, other.conflict))
    with pytest.raises(KeyError, match="data-1"):
        charts.with_datasets(heat, {1: charts.pair_frame(other.overlap, other.conflict)})
