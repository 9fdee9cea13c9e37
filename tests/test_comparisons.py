"""Intervals and deltas as tidy frames (pipeline.runs.comparisons), and how the CLI prints them: `retrain`'s metrics
table (retrain_cli.format_metrics) and `runs compare` with paired-bootstrap intervals, on new-shape metrics and
on runs from before intervals."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from pipeline.cli.retrain import format_metrics
from pipeline.runs import comparisons
from pipeline.runs.registry import Registry
from tests.interval_fixtures import hand_metrics, metrics_from, old_metrics, record_run, scores


def delta_lines(text: str) -> dict[tuple[str, str], str]:
    """format_metrics' delta section as {(against, metric): line}; a blank "against" repeats the one above."""
    section = text.split("ours - other", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    out, against = {}, None
    for line in section:
        fields = re.split(r"\s{2,}", line.strip())
        if line[2] != " ":
            against, fields = fields[0], fields[1:]
        out[against, fields[0]] = line
    return out


# --------------------------------------------------------------------------------------------------------------
# pipeline.runs.comparisons


def test_delta_frame_reads_recorded_deltas_and_marks_covering_intervals():
    frame = comparisons.delta_frame(hand_metrics(previous_run=4))
    assert list(dict.fromkeys(frame["key"])) == ["seed_replica", "popularity", "item_knn", "als", "lf_only", "previous"]
    rows = frame.set_index(["key", "metric"])
    assert rows.loc[("popularity", "hr@10"), "verdict"] == comparisons.NOT_SIGNIFICANT
    assert not rows.loc[("popularity", "hr@10"), "significant"]
    assert rows.loc[("seed_replica", "hr@10"), "verdict"] == comparisons.SIGNIFICANT
    assert math.isclose(rows.loc[("seed_replica", "hr@10"), "delta"], 0.05)  # ours - other
    assert ("lf_only", "hr@10") not in rows.index  # LF-only has no ranking figures
    assert rows.loc[("previous", "hr@10"), "verdict"] == comparisons.NOT_SIGNIFICANT
    assert rows.loc[("previous", "f1"), "verdict"] == comparisons.SIGNIFICANT
    assert set(rows.loc["previous"].index) == {"f1", "hr@10"}  # what the run recorded
    assert frame.loc[frame["key"] == "previous", "name"].iloc[0] == "run 4 (our model)"
    assert "log_loss" not in set(frame["metric"])  # the bootstrap gives log loss no interval


def test_delta_frame_of_a_run_from_before_intervals():
    before = old_metrics(f1=0.5)
    frame = comparisons.delta_frame(old_metrics(f1=0.55), before, "run 1 (our model)")
    assert set(frame["verdict"]) == {comparisons.PREDATES} and frame["significant"].isna().all()
    assert frame["lo"].isna().all()
    rows = frame.set_index(["key", "metric"])
    assert math.isclose(rows.loc[("seed_replica", "f1"), "delta"], 0.05)
    assert math.isclose(rows.loc[("previous", "f1"), "delta"], 0.05)
    assert not comparisons.has_intervals(old_metrics())
    assert comparisons.bootstrap_note(old_metrics()) == comparisons.PREDATES
    # a new run whose previous run predates intervals: that delta alone has no interval, and says why
    newer = comparisons.delta_frame(hand_metrics(), before, "run 1 (our model)")
    previous = newer[newer["key"] == "previous"]
    assert set(previous["verdict"]) == {"no interval (previous run predates intervals)"}


def test_metric_frame_and_texts():
    frame = comparisons.metric_frame(hand_metrics(), old_metrics(), "run 1 (our model)")
    assert list(dict.fromkeys(frame["name"])) == ["our model", "seed replica", "popularity", "item-kNN", "ALS",
                                                  "LF-only", "run 1 (our model)"]
    hr = frame.set_index(["key", "metric"]).loc[("item_knn", "hr@10")]
    assert (hr["value"], hr["lo"], hr["hi"]) == (0.275, 0.225, 0.325)
    assert frame.loc[frame["key"] == "previous", "lo"].isna().all()  # the previous run had no intervals
    assert comparisons.value_text(0.4, 0.35, 0.45) == "0.4000 [0.3500, 0.4500]"
    assert comparisons.value_text(0.4, float("nan"), float("nan")) == "0.4000"
    assert comparisons.delta_text(0.01, -0.02, 0.04) == "+0.0100 [-0.0200, +0.0400] not significant"
    assert comparisons.delta_text(0.05, 0.01, 0.09) == "+0.0500 [+0.0100, +0.0900]"
    assert comparisons.delta_text(-0.05) == "-0.0500"
    assert comparisons.verdict(0.0, 0.0) == comparisons.NOT_SIGNIFICANT  # identical contenders
    assert comparisons.interval({"ci": {"ours": {"roc_auc": [None, None]}}}, "ours", "roc_auc") is None


def test_paired_run_deltas_and_why_there_are_none(tmp_path: Path):
    registry = Registry.for_data(tmp_path / "data")
    a_scores, b_scores = scores(), scores(better_ranks=True, replica_seed=1)
    a = record_run(registry, metrics_from(a_scores), ev=a_scores)
    b = record_run(registry, metrics_from(b_scores, a), ev=b_scores)
    old = record_run(registry, old_metrics())
    other_rows = scores(n_users=20)
    c = record_run(registry, metrics_from(other_rows), ev=other_rows)

    pair = comparisons.paired_run_deltas(registry.get(a), registry.get(b), n_resamples=200)
    assert pair.reason is None and pair.unchanged == ("popularity", "item_knn", "als")
    found = pair.lookup()
    assert found["ours", "hr@10"]["delta"] == 1.0 and found["ours", "hr@10"]["verdict"] == comparisons.SIGNIFICANT
    assert found["ours", "roc_auc"]["delta"] == 0.0  # the same classification scores in both runs
    assert found["ours", "roc_auc"]["verdict"] == comparisons.NOT_SIGNIFICANT
    assert ("seed_replica", "f1") in found and ("popularity", "f1") not in found

    assert "predates intervals" in comparisons.paired_run_deltas(registry.get(old), registry.get(b)).reason
    assert "different test rows" in comparisons.paired_run_deltas(registry.get(a), registry.get(c)).reason
    (registry.runs_dir(b) / "eval_scores.npz").unlink()
    assert "missing" in comparisons.paired_run_deltas(registry.get(a), registry.get(b)).reason


# --------------------------------------------------------------------------------------------------------------
# the CLI


def test_format_metrics_shows_the_new_contenders_and_deltas_with_intervals():
    text = format_metrics(hand_metrics(previous_run=4))
    table = text.split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["ours", "seed_replica", "popularity", "item_knn", "als",
                                                       "lf_only"]
    assert "95% paired-bootstrap intervals over test users (1000 resamples, seed 0)" in text
    lines = delta_lines(text)
    assert lines["popularity", "hr@10"].rstrip().endswith("not significant")
    assert "[-0.1900, +0.2100]" in lines["popularity", "hr@10"]
    assert "not significant" not in lines["seed_replica", "hr@10"] and "+0.0500" in lines["seed_replica", "hr@10"]
    assert ("item_knn", "ndcg@10") in lines and ("als", "f1") in lines
    assert lines["run 4", "hr@10"].rstrip().endswith("not significant")
    assert "not significant" not in lines["run 4", "f1"]
    assert "seconds: features 1.0, evaluate 2.0" in text


def test_format_metrics_of_a_run_from_before_intervals():
    text = format_metrics(old_metrics(f1=0.55))
    assert "no interval (run predates intervals)" in text
    assert "item_knn" not in text and "not significant" not in text and "95% interval" not in text
    assert "+0.0500" in delta_lines(text)["seed_replica", "f1"]  # ours - other, plain


def runs_compare(data: Path, a: int, b: int, capsys) -> str:
    from pipeline.cli.runs import add_runs_arguments, run_runs

    parser = argparse.ArgumentParser()
    add_runs_arguments(parser)
    assert run_runs(parser.parse_args(["compare", "--data", str(data), str(a), str(b)])) == 0
    return capsys.readouterr().out


def compare_line(text: str, metric: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(metric + " "))


def test_runs_compare_with_paired_intervals(tmp_path: Path, capsys):
    data = tmp_path / "data"
    registry = Registry.for_data(data)
    a_scores, b_scores = scores(), scores(better_ranks=True, replica_seed=1)
    a = record_run(registry, metrics_from(a_scores), ev=a_scores)
    b = record_run(registry, metrics_from(b_scores, a), ev=b_scores)
    text = runs_compare(data, a, b, capsys)
    assert "95% paired-bootstrap intervals over test users from both runs' per-row scores" in text
    assert "scored identically by both runs: popularity, item_knn, als" in text
    hr = compare_line(text, "contenders.ours.hr@10")
    assert "+1.0000" in hr and "[+1.0000, +1.0000]" in hr and "not significant" not in hr
    assert compare_line(text, "contenders.ours.roc_auc").rstrip().endswith("not significant")
    assert "deltas." not in text and "previous_run" not in text  # each run's own deltas are not subtracted


def test_runs_compare_without_intervals_says_why(tmp_path: Path, capsys):
    data = tmp_path / "data"
    registry = Registry.for_data(data)
    old = record_run(registry, old_metrics(f1=0.5))
    new_scores = scores()
    new = record_run(registry, metrics_from(new_scores), ev=new_scores)
    text = runs_compare(data, old, new, capsys)
    assert f"no interval: run {old} predates intervals" in text
    assert "95% interval" not in text and "not significant" not in text
    f1 = compare_line(text, "contenders.ours.f1")
    expected = metrics_from(new_scores)["contenders"]["ours"]["f1"] - 0.5
    assert f"{expected:+.4f}" in f1  # the plain delta B - A, as before intervals

    other_rows = scores(n_users=20)
    other = record_run(registry, metrics_from(other_rows), ev=other_rows)
    assert "different test rows" in runs_compare(data, new, other, capsys)


def test_without_other_contenders_there_is_no_delta():
    assert comparisons.delta_frame({"contenders": {"ours": {"f1": 0.5}}}).empty
    assert comparisons.delta_frame(None).empty and comparisons.metric_frame({}).empty
    assert format_metrics({"contenders": {}}) == "(no metrics)"
