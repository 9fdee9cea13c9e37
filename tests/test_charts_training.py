"""Frames and charts of a retrain's results (workbench/charts/training.py), on hand-made registry results."""

import math

import pandas as pd

from pipeline.runs import comparisons
from tests.interval_fixtures import hand_metrics
from workbench.charts import training as charts

METRICS = {"contenders": {
    "ours": {"accuracy": 0.6, "f1": 0.5, "roc_auc": 0.7, "log_loss": 0.6, "hr@10": 0.2, "ndcg@10": 0.1, "n": 69},
    "seed_replica": {"accuracy": 0.5, "f1": 0.4, "roc_auc": 0.75, "log_loss": 0.7, "hr@10": 0.25, "ndcg@10": 0.1},
    "popularity": {"accuracy": 0.55, "f1": 0.3, "roc_auc": 0.8, "log_loss": 0.9, "hr@10": 0.3, "ndcg@10": 0.2},
    "lf_only": {"accuracy": 0.9, "f1": 0.8, "roc_auc": float("nan"), "log_loss": 0.4, "coverage": 0.4},
}}
PREVIOUS = {"contenders": {"ours": {"f1": 0.45, "roc_auc": 0.75, "hr@10": 0.2, "log_loss": 0.5}}}
REPORT = {
    "label_model": {"coverage": 0.33, "rows": 22, "accuracy": 0.77, "f1": 0.85},
    "majority_vote": {"coverage": 0.31, "rows": 21, "accuracy": 0.81, "f1": 0.875},
    "weights": [{"lf": "a", "learned_weight": 0.64, "emp_acc": 0.67},
                {"lf": "<b>b</b>", "learned_weight": 0.9, "emp_acc": float("nan")}],
}


def epochs(models=("ours", "seed_replica"), n=2):
    return pd.DataFrame([{"model": m, "epoch": e, "loss": 1.0 / e, "val_loss": 1.5 / e, "auc": 0.5 + e / 10}
                         for m in models for e in range(1, n + 1)])


def test_metrics_frame_shows_each_contender_with_its_interval():
    frame = charts.metrics_frame(METRICS)  # a run from before intervals: figures alone
    assert frame.index.tolist() == ["our model", "seed replica", "popularity", "LF-only"]
    assert frame.columns.tolist() == list(charts.METRICS.values())
    assert frame.loc["our model", "F1"] == "0.5000" and frame.loc["seed replica", "F1"] == "0.4000"
    assert frame.loc["LF-only", "ROC-AUC"] == "–" and frame.loc["LF-only", "HR@10"] == "–"  # NaN, absent
    assert frame.loc["our model", "precision"] == "–"
    new = charts.metrics_frame(hand_metrics())
    assert new.index.tolist() == ["our model", "seed replica", "popularity", "item-kNN", "ALS", "LF-only"]
    assert new.loc["item-kNN", "HR@10"] == "0.2750 [0.2250, 0.3250]"
    assert new.loc["ALS", "log loss"] == "0.6000"  # no interval for log loss


def test_metrics_frame_adds_the_previous_run_as_a_row():
    frame = charts.metrics_frame(METRICS, PREVIOUS, "run 3 (our model)")
    assert frame.index[-1] == "run 3 (our model)"
    assert frame.loc["run 3 (our model)", "F1"] == "0.4500"
    assert frame.loc["run 3 (our model)", "NDCG@10"] == "–"
    assert charts.metrics_frame(METRICS, {"contenders": {}}).shape[0] == 4  # nothing to add


def test_deltas_frame_marks_deltas_whose_interval_covers_zero():
    frame = charts.deltas_frame(comparisons.delta_frame(hand_metrics(previous_run=3), PREVIOUS, "run 3 (our model)"))
    assert frame.index.tolist() == ["vs seed replica", "vs popularity", "vs item-kNN", "vs ALS", "vs LF-only",
                                    "vs run 3 (our model)"]
    assert "log loss" not in frame.columns
    assert frame.loc["vs popularity", "HR@10"] == "+0.0100 [-0.1900, +0.2100] not significant"
    assert frame.loc["vs seed replica", "HR@10"] == "+0.0500 [+0.0490, +0.0510]"
    assert frame.loc["vs run 3 (our model)", "HR@10"].endswith("not significant")
    assert "not significant" not in frame.loc["vs run 3 (our model)", "F1"]
    assert frame.loc["vs LF-only", "HR@10"] == "–"
    old = comparisons.delta_frame(METRICS, PREVIOUS, "run 3 (our model)")  # from before intervals: plain deltas
    assert charts.deltas_frame(old).loc["vs seed replica", "F1"] == "+0.1000"
    assert charts.deltas_frame(old).loc["vs run 3 (our model)", "F1"] == "+0.0500"
    assert charts.delta_notes(old) == ["no interval (run predates intervals)"]
    assert charts.delta_notes(comparisons.delta_frame(hand_metrics())) == []


def test_metric_deltas_since_the_previous_run():
    deltas = {d["metric"]: d for d in charts.metric_deltas(METRICS, PREVIOUS, ("f1", "roc_auc", "ndcg@10",
                                                                                "log_loss", "recall"))}
    assert list(deltas) == ["f1", "roc_auc", "ndcg@10", "log_loss"]  # ours has no recall
    assert math.isclose(deltas["f1"]["delta"], 0.05) and math.isclose(deltas["roc_auc"]["delta"], -0.05)
    assert deltas["ndcg@10"]["delta"] is None  # the previous run lacks it
    assert deltas["log_loss"]["lower_is_better"] and not deltas["f1"]["lower_is_better"]
    assert all(d["delta"] is None for d in charts.metric_deltas(METRICS, None))
    assert charts.delta_label(deltas["f1"]) == "+0.0500" and charts.delta_label(deltas["ndcg@10"]) is None
    marked = charts.metric_deltas(METRICS, PREVIOUS, ("f1", "roc_auc"),
                                  {"f1": (-0.01, 0.11, False), "roc_auc": (-0.09, -0.01, True)})
    assert charts.delta_label(marked[0]) == "+0.0500 · not significant"
    assert charts.delta_label(marked[1]) == "-0.0500" and marked[1]["interval"] == (-0.09, -0.01)


def test_interval_chart_draws_a_dot_and_an_interval_per_contender():
    frame = charts.interval_frame(hand_metrics())
    assert set(frame["metric"]) == {"HR@10", "NDCG@10", "ROC-AUC", "F1"}
    assert len(frame) == 5 * 4 + 2  # LF-only has no ranking figures
    spec = charts.interval_chart(hand_metrics()).to_dict()
    assert spec["facet"]["column"]["field"] == "metric"
    assert [layer["mark"]["type"] for layer in spec["spec"]["layer"]] == ["rule", "point"]
    assert len(spec["data"]["values"]) == len(frame)  # inline, not a named data set (see charts.inline)
    old = charts.interval_frame(METRICS)
    assert old["lo"].isna().all() and len(old) == 3 * 4 + 1  # dots without intervals


def test_label_model_frame_and_weights():
    frame = charts.label_model_frame(REPORT)
    assert frame.index.tolist() == ["label model", "majority vote"]
    assert frame.loc["majority vote", "F1"] == 0.875 and frame.loc["label model", "rows voted on"] == 22
    weights = charts.weights_frame(REPORT)
    assert weights["lf"].tolist() == ["a", "<b>b</b>"] and pd.isna(weights.loc[1, "emp_acc"])
    chart = charts.weights_chart(REPORT)
    assert len(chart.layer) == 3  # diagonal, points, LF names
    assert [row["lf"] for row in chart.data.values] == ["a"]  # an LF without dev accuracy has no point
    assert chart.to_dict()["data"]["values"][0]["emp_acc"] == 0.67


def test_curve_frame_splits_train_and_val():
    frame = charts.curve_frame(epochs(), "loss")
    assert len(frame) == 8 and set(frame["split"]) == {"train", "val"}
    assert set(frame["series"]) == {"our model", "seed replica"}
    val = frame[(frame.series == "our model") & (frame.split == "val")]
    assert val["value"].tolist() == [1.5, 0.75]
    auc = charts.curve_frame(epochs(), "auc")  # no val_auc logged
    assert set(auc["split"]) == {"train"}
    assert charts.curve_frame(pd.DataFrame(columns=["model", "epoch"]), "loss").empty
    spec = charts.curve_chart(epochs(), "loss").to_dict()
    assert spec["encoding"]["strokeDash"]["field"] == "split" and len(spec["data"]["values"]) == 8
    more = charts.curve_chart(epochs(n=3), "loss").to_dict()  # a redraw with another epoch changes only the data
    assert {k: v for k, v in more.items() if k != "data"} == {k: v for k, v in spec.items() if k != "data"}


def test_inline_data_is_json_without_nan():
    data = charts.inline(pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")], "c": ["x", None]}))
    assert data.values == [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": None, "c": None}]


def test_several_runs_are_overlaid_by_run():
    both = charts.runs_epochs({3: epochs(("ours",)), 4: epochs(("ours",), n=3), 5: epochs()[:0]})
    assert sorted(both["run"].unique()) == [3, 4]
    frame = charts.curve_frame(both, "loss")
    assert set(frame["series"]) == {"run 3 · our model", "run 4 · our model"}
    one = charts.curve_frame(charts.runs_epochs({3: epochs(("ours",))}), "loss")
    assert set(one["series"]) == {"our model"}  # one run: no run prefix
    assert charts.runs_epochs({}).empty
