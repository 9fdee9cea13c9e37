"""The Overview page and its charts."""

import numpy as np
import pandas as pd

from pipeline.data.dataset import load_prepared, summarize
from workbench.charts import data as charts


def test_star_frame_maps_stars_to_the_seed_labels():
    frame = charts.star_frame({"0": 4, "1": 1, "2": 2, "3": 1, "4": 2, "5": 0})
    assert frame["label"].tolist() == ["no rating", "negative", "negative", "negative", "positive", "positive"]
    assert frame["share"].sum() == 1.0 and frame.loc[0, "share"] == 0.4


def test_histogram_bins_counts_without_losing_values():
    values = np.array([1, 1, 2, 3, 10, np.nan])
    chart = charts.histogram(values, title="t", x_title="x", max_bins=5)
    data = chart.data
    assert data["count"].sum() == 5  # the missing value is dropped, every other one counted once
    assert (data["end"] - data["start"]).nunique() == 1 and data["start"].iloc[0] == 1.0
    assert charts.histogram(np.array([]), title="t", x_title="x").data.empty


def test_split_frame():
    summary = {"rows": {"train": 5, "dev": 2}, "users_per_split": {"train": 3, "dev": 1}}
    assert charts.split_frame(summary).to_dict("list") == {"split": ["train", "dev"], "labelled rows": [5, 2],
                                                         "users": [3, 1]}


def test_overview_shows_the_dataset_figures(apptest, workbench_data):
    summary = summarize(load_prepared(workbench_data / "processed"))
    at = apptest.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Books"] == f"{summary['books']:,}" and metrics["Users"] == f"{summary['users']:,}"
    assert metrics["Positive share"] == f"{summary['positive_share']:.1%}"
    splits = at.dataframe[0].value
    assert isinstance(splits, pd.DataFrame) and splits["labelled rows"].sum() == summary["labelled_rows"]
    assert len(at.get("arrow_vega_lite_chart")) == 3
    assert any("To use the real Goodreads files" in m.value for m in at.markdown)


def test_overview_shows_the_fidelity_figures_beside_the_real_files(apptest, workbench_data):
    from pipeline.data.textstats import fidelity_table, text_stats

    prepared = load_prepared(workbench_data / "processed")
    texts = pd.concat([df["review_text"].dropna() for df in prepared.splits.values()])
    expected = fidelity_table(text_stats(texts), prepared.manifest["counts"]).set_index("figure")
    at = apptest.run()
    shown = at.dataframe[1].value.set_index("figure")
    assert list(shown.index) == list(expected.index)
    assert shown.loc["distinct sentences", "this data"] == f"{expected.loc['distinct sentences', 'this data']:.1%}"
    assert shown.loc["review tokens median", "real files"] == "74"
    assert shown.loc["3-star share of ratings", "real files"] == "22.3%"
    assert (shown["ok"] == expected["ok"]).all()
