"""The Runs page (AppTest): the empty state; on two real retrains (the default LF config, then one LF removed) the
table, the side-by-side comparison, loading a run's LF config into the editor, and the downloads; on recorded runs
with and without intervals, the intervals in the table and between two runs."""

from __future__ import annotations

import io
import math

import pyarrow as pa
import pytest

from lfs.config import load_default, parse_config
from lfs.store import ConfigStore
from pipeline.runs.registry import Registry
from tests.interval_fixtures import metrics_from, old_metrics, record_run, scores
from tests.runs_fixtures import REMOVED, copy_folder
from workbench import nav, state

PAGE = nav.RUNS
# The tests marked slow read the trained data: the workbench data with run 1 (default LF config) and run 2 (without
# REMOVED), built once per session (tests/workbench_fixtures.py).
ON_TRAINED = pytest.mark.usefixtures("trained_two_runs")


@pytest.fixture
def workbench_data(request, workbench_template, tmp_path):
    """This test's data folder (the `apptest` fixture opens the app on it): a copy of the trained data for tests
    marked slow (ON_TRAINED), of the untrained template otherwise."""
    slow = request.node.get_closest_marker("slow")
    source = request.getfixturevalue("trained_two_runs") if slow else workbench_template
    return copy_folder(source, tmp_path / "data")


def open_page(apptest):
    at = apptest.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def element_keys(at, kind: str) -> list[str]:
    """The user keys of the elements of `kind` (their proto ids end in "-<key>")."""
    return [e.proto.id.split("-", 2)[-1] for e in at.get(kind)]


def chart_frames(at) -> list:
    """The data of every Altair chart on the page (its one data set, unnamed or named), as frames."""
    frames = []
    for chart in at.get("arrow_vega_lite_chart"):
        arrow = chart.proto.data.data if chart.proto.HasField("data") else (
            chart.proto.datasets[0].data.data if chart.proto.datasets else b"")
        if arrow:
            frames.append(pa.ipc.open_stream(io.BytesIO(arrow)).read_pandas())
    return frames


def test_no_runs_says_how_to_train(apptest):
    at = open_page(apptest)
    assert any("No runs yet" in i.value and "Train page" in i.value for i in at.info)
    assert not at.dataframe and not at.button


@pytest.mark.slow
@ON_TRAINED
def test_table_lists_the_runs_with_config_version_and_metrics(apptest, workbench_data):
    registry = Registry.for_data(workbench_data)
    at = open_page(apptest)
    table = at.dataframe[0].value
    assert table["id"].tolist() == [2, 1]
    assert table["status"].tolist() == ["succeeded", "succeeded"]
    assert table["note"].tolist() == ["run 2", "run 1"]
    run2 = registry.get(2)
    assert table["LF config"].tolist() == [f"unsaved {run2.short_hash}", "v1"]
    for title, name in (("F1", "f1"), ("ROC-AUC", "roc_auc"), ("HR@10", "hr@10")):
        for row, run_id in enumerate((2, 1)):
            expected = registry.results(run_id)["metrics"]["contenders"]["ours"][name]
            assert math.isclose(table[title].iloc[row], expected), (title, run_id)
    assert all(d > 0 for d in table["duration"])

    store = ConfigStore.open(workbench_data / "lf_configs")  # saving run 2's config makes it version 2
    store.save(parse_config(run2.lf_config_toml), base_version=1)
    at.run()
    assert at.dataframe[0].value["LF config"].tolist() == ["v2", "v1"]


@pytest.mark.slow
@ON_TRAINED
def test_two_runs_side_by_side(apptest, workbench_data):
    registry = Registry.for_data(workbench_data)
    at = open_page(apptest)
    assert at.multiselect(key="runs-compare").value == [1, 2]  # the two newest by default
    assert any(f"LFs in run 2 against run 1: removed `{REMOVED}`" in m.value for m in at.markdown)
    diff = at.code[0].value
    assert f'-name = "{REMOVED}"' in diff and diff.startswith("--- run 1")

    ours = {run_id: registry.results(run_id)["metrics"]["contenders"]["ours"] for run_id in (1, 2)}
    cards = {m.label: m for m in at.metric if "· run 2" in m.label}
    assert cards["F1 · run 2"].value == f"{ours[2]['f1']:.4f}"
    # both runs kept their test scores, so the card carries the paired bootstrap's verdict when it covers 0
    value, *mark = cards["F1 · run 2"].delta.split(" · ")
    assert value == f"{ours[2]['f1'] - ours[1]['f1']:+.4f}"
    assert mark in ([], ["not significant"])
    if ours[2]["f1"] == ours[1]["f1"]:
        assert mark == ["not significant"]
    deltas = next(d.value for d in at.dataframe if "delta" in d.value.columns)
    row = deltas.set_index("metric").loc["our model · ROC-AUC"]
    assert math.isclose(row["delta"], ours[2]["roc_auc"] - ours[1]["roc_auc"])
    assert math.isclose(row["run 1"], ours[1]["roc_auc"]) and math.isclose(row["run 2"], ours[2]["roc_auc"])

    overlaid = [f for f in chart_frames(at) if "series" in f.columns and f["series"].str.startswith("run 1").any()]
    assert overlaid and overlaid[0]["series"].str.startswith("run 2").any()

    at.multiselect(key="runs-compare").unselect(1).run()
    assert not at.exception
    assert any("Pick two runs" in c.value for c in at.caption) and not at.code


@pytest.mark.slow
@ON_TRAINED
@pytest.mark.parametrize("run_id, base, saved", [(2, 1, False), (1, 1, True)])
def test_load_config_opens_the_editor_with_it(apptest, workbench_data, run_id, base, saved):
    run = Registry.for_data(workbench_data).get(run_id)
    at = open_page(apptest)
    at.selectbox(key="runs-run").set_value(run_id).run()
    at.button(key="runs-load-config").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value != "Runs"  # switched to the LF page
    assert at.session_state[state.WORKING].key == parse_config(run.lf_config_toml).key
    assert at.session_state[state.BASE] == base
    message = " ".join(s.value for s in at.success)
    assert f"Loaded run {run_id}'s LF config" in message
    assert ("saved as version 1" in message) == saved
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert ("unsaved changes" in sidebar) == (not saved)


@pytest.mark.slow
@ON_TRAINED
def test_downloads_present_missing_and_prepared(apptest, workbench_data, monkeypatch):
    from workbench import runs_view

    at = open_page(apptest)
    at.selectbox(key="runs-run").set_value(2).run()
    assert element_keys(at, "download_button") == ["dl-2-training_labels", "dl-2-model", "dl-2-metrics"]
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels[0].startswith("Training labels (parquet)") and labels[2].startswith("Metrics (JSON)")

    (workbench_data / "runs" / "2" / "model.keras").unlink()
    monkeypatch.setattr(runs_view, "DIRECT_DOWNLOAD_BYTES", 1000)  # larger files wait for a "Prepare" click
    at.run()
    assert not at.exception, at.exception
    assert any("`model.keras` is missing" in c.value for c in at.caption)
    assert "dl-2-model" not in element_keys(at, "download_button")
    big = [k for k in ("training_labels", "metrics") if (workbench_data / "runs" / "2").joinpath(
        Registry.for_data(workbench_data).get(2).artifacts[k]).stat().st_size > 1000]
    assert big, "expected a file above the lowered limit"
    for key in big:
        assert f"dl-2-{key}" not in element_keys(at, "download_button")
        at.button(key=f"prep-2-{key}").click().run()
        assert f"dl-2-{key}" in element_keys(at, "download_button")


def test_an_active_run_is_followed_on_the_train_page(apptest, workbench_data):
    from lfs.config import dumps_config

    config = load_default()
    run_id = Registry.for_data(workbench_data).create(
        dataset_fingerprint="fp", lf_config_toml=dumps_config(config), lf_config_hash=config.key, params={})
    at = open_page(apptest)
    assert any(f"Run {run_id} is queued" in i.value for i in at.info)
    at.button(key="runs-follow").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.RUN_ID] == run_id
    assert "Train" in [t.value for t in at.title]


def test_intervals_in_the_table_and_between_two_runs(apptest, workbench_data):
    registry = Registry.for_data(workbench_data)
    a_scores, b_scores = scores(), scores(better_ranks=True, replica_seed=1)
    old = record_run(registry, old_metrics(), note="old")  # from before intervals: no eval_scores
    a = record_run(registry, metrics_from(a_scores, old), ev=a_scores)
    b = record_run(registry, metrics_from(b_scores, a), ev=b_scores)
    at = open_page(apptest)
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[b, "HR@10 95% interval"].startswith("[1.0000, ") and table.loc[old, "HR@10 95% interval"] == ""
    contenders = registry.results(b)["metrics"]["contenders"]
    for name, title in (("popularity", "popularity"), ("item_knn", "item-kNN"), ("als", "ALS")):
        assert math.isclose(table.loc[b, f"{title} HR@10"], contenders[name]["hr@10"])
    assert math.isnan(table.loc[old, "ALS HR@10"]) and not math.isnan(table.loc[old, "popularity HR@10"])

    assert at.multiselect(key="runs-compare").value == [a, b]
    cards = {m.label: m for m in at.metric if f"· run {b}" in m.label}
    assert cards[f"HR@10 · run {b}"].delta == "+1.0000"  # significant: no mark
    assert cards[f"ROC-AUC · run {b}"].delta == "+0.0000 · not significant"  # the same scores in both runs
    deltas = next(d.value for d in at.dataframe if "95% interval" in d.value.columns).set_index("metric")
    assert deltas.loc["our model · HR@10", "significance"] == "significant"
    assert deltas.loc["our model · HR@10", "95% interval"] == "[+1.0000, +1.0000]"
    assert deltas.loc["our model · ROC-AUC", "significance"] == "not significant"
    assert deltas.loc["item-kNN · HR@10", "significance"] == ""  # scored identically: no interval drawn
    captions = " ".join(c.value for c in at.caption)
    assert "Scored identically by both runs: popularity, item-kNN, ALS." in captions

    at.multiselect(key="runs-compare").set_value([old, b]).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert f"No interval: run {old} predates intervals" in captions
    deltas = next(d.value for d in at.dataframe if "95% interval" in d.value.columns)
    assert (deltas["95% interval"] == "").all() and "not significant" not in set(deltas["significance"])
    assert not any("not significant" in (m.delta or "") for m in at.metric)

    at.selectbox(key="runs-run").set_value(b).run()  # one run: its results with intervals
    assert not at.exception, at.exception
    assert any("vs item-kNN" in d.value.index for d in at.dataframe if "HR@10" in d.value.columns)


@pytest.mark.slow
@ON_TRAINED
def test_promote_switches_the_model_in_use_and_recommend_follows(apptest, workbench_data):
    """Runs 1 and 2 are real retrains: run 1 became the first model in its job, run 2 was judged against it. The
    other one is promoted by the button, the table and the Recommend page follow; Roll back returns; a failed run
    is refused with the registry's reason."""
    registry = Registry.for_data(workbench_data)
    current = registry.current_model().id
    other = 1 if current == 2 else 2
    failed = record_run(registry, None, status="failed", note="broken")
    at = open_page(apptest)
    table = at.dataframe[0].value
    assert table["in use"].tolist() == ["✓" if i == current else "" for i in table["id"]]

    at.selectbox(key="runs-run").set_value(other).run()
    assert any(f"Run {other} is not the model in use" in c.value for c in at.caption)
    at.button(key="runs-promote").click().run()
    assert not at.exception, at.exception
    assert registry.current_model().id == other
    assert registry.model_in_use()[1] == "promoted by hand on the Runs page"
    assert any(f"The model in use is now run {other}" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert table.loc[table["in use"] == "✓", "id"].tolist() == [other]

    at.switch_page(nav.RECOMMEND).run()
    assert not at.exception, at.exception
    assert any(f"The model in use is run {other} (promoted by hand on the Runs page" in c.value for c in at.caption)

    at.switch_page(PAGE).run()
    at.selectbox(key="runs-run").set_value(failed).run()
    at.button(key="runs-promote").click().run()
    assert any("Refused" in e.value and "only a succeeded run has a model" in e.value for e in at.error)
    assert registry.current_model().id == other
    at.button(key="runs-rollback").click().run()
    assert not at.exception, at.exception
    assert registry.model_in_use()[0].id == current
    assert registry.model_in_use()[1] == f"rolled back from run {other}"


@pytest.mark.slow
@ON_TRAINED
def test_recommend_shows_another_runs_list_beside_the_model_in_use(apptest, workbench_data):
    from pipeline.data.dataset import load_prepared
    from pipeline.runs.recommend import held_out_likes, recommend
    from tests.test_app_recommend import best_test_user, html_rows

    registry = Registry.for_data(workbench_data)
    current = registry.current_model().id
    other = 1 if current == 2 else 2
    at = apptest.run()
    at.switch_page(nav.RECOMMEND).run()
    assert at.selectbox(key="rec-other-run").value == 0 and not any(
        "not the model in use" in h.proto.body for h in at.get("html"))
    at.selectbox(key="rec-other-run").set_value(other).run()
    assert not at.exception, at.exception
    prepared = load_prepared(workbench_data / "processed")
    user = best_test_user(prepared)
    expected = recommend(prepared, registry, user, k=10, run_id=other, hold_out=held_out_likes(prepared, user))
    shown = [t for t in at.markdown if t.value == f"**Run {other}'s top 10 (not the model in use)**"]
    assert len(shown) == 1
    tables = [html_rows(e.proto.body) for e in at.get("html")]
    assert [row[1] for row in tables[2]] == expected["title"].tolist()  # after the model's and popularity's
    assert registry.current_model().id == current  # only shown, not promoted
