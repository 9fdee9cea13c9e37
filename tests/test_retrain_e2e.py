"""End to end through the real stack on tiny data: `python -m pipeline retrain` starts a job process that runs
snorkel's LabelModel and trains both TensorFlow models, records everything in the SQLite registry, and the
current model then recommends books."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.runs.registry import Registry
from tests.runs_fixtures import copy_folder

# The retrains run once per session, beside the other tests (tests/conftest.py: e2e_trained, e2e_second_run), as
# `python -m pipeline retrain --data DATA --epochs 2 --lm-epochs 200 --replica-steps 3 --replica-epochs 2 --json
# --note NOTE`, the first on the session's tiny dataset, the second on the data the first left.


@pytest.fixture(scope="module")
def trained(e2e_trained, tmp_path_factory):
    """(data, exit code) of the first retrain (note "e2e"), in a copy this module may change."""
    source, code = e2e_trained
    return copy_folder(source, tmp_path_factory.mktemp("retrain") / "data"), code


@pytest.mark.slow
def test_retrain_runs_every_stage_and_records_the_run(trained, capsys):
    data, code = trained
    assert code == 0
    registry = Registry.for_data(data)
    run = registry.current_model()
    assert run is not None and run.status == "succeeded" and run.note == "e2e"
    for key in ("training_labels", "model", "metrics", "eval_scores"):
        assert run.artifact(key).exists(), key
    results = registry.results(run.id)
    assert set(results) >= {"lf_summary", "label_model", "metrics"}
    metrics = results["metrics"]
    assert set(metrics["contenders"]) == {"ours", "seed_replica", "popularity", "item_knn", "als", "lf_only"}
    for name in ("ours", "seed_replica", "popularity", "item_knn", "als"):
        for key in ("f1", "roc_auc", "log_loss", "hr@10", "ndcg@10"):
            assert key in metrics["contenders"][name], (name, key)
        for key in ("f1", "roc_auc", "hr@10", "ndcg@10"):
            assert len(metrics["ci"][name][key]) == 2, (name, key)
    for name in ("seed_replica", "popularity", "item_knn", "als", "lf_only"):
        delta = metrics["deltas"][name]["f1"]
        assert delta["delta"] == pytest.approx(metrics["contenders"]["ours"]["f1"] - metrics["contenders"][name]["f1"])
        lo, hi = delta["ci"]
        assert lo <= hi and delta["significant"] == (lo > 0 or hi < 0)
    assert metrics["previous_run"] is None and "previous" not in metrics["deltas"]
    assert metrics["bootstrap"] == {"n_resamples": 1000, "seed": 0, "level": 0.95, "unit": "user"}
    assert metrics["replica_reused"] is False
    assert set(metrics["stage_seconds"]) >= {"features", "apply", "label model", "contenders", "train ours",
                                             "train replica", "evaluate"}
    epochs = registry.epochs(run.id)
    assert set(epochs["model"]) == {"ours", "seed_replica"}
    labels = pd.read_parquet(run.artifact("training_labels"))
    assert set(labels.source) == {"label_model", "dev"}
    assert json.loads(run.artifact("metrics").read_text())["test_rows"] == metrics["test_rows"]


@pytest.mark.slow
def test_a_second_run_reuses_the_caches_and_compares_with_the_first(trained, e2e_second_run):
    data, code = trained
    assert code == 0
    first = Registry.for_data(data).current_model()
    _, code, out = e2e_second_run  # the second retrain (note "again") on the data the first left
    assert code == 0
    metrics = json.loads(out)
    # the same LF config gives the same labels: the replica comes from its cache, the contenders from theirs,
    # and every metric equals the first run's (the training is deterministic)
    assert metrics["replica_reused"] is True
    assert metrics["previous_run"] == first.id
    before = Registry.for_data(data).results(first.id)["metrics"]
    for name in ("ours", "seed_replica", "item_knn", "als"):
        assert metrics["contenders"][name]["hr@10"] == pytest.approx(before["contenders"][name]["hr@10"]), name
    same = metrics["deltas"]["previous"]["hr@10"]
    assert same["delta"] == pytest.approx(0.0) and same["significant"] is False


@pytest.mark.slow
def test_recommend_lists_k_unseen_books(trained, capsys):
    data, code = trained
    assert code == 0
    capsys.readouterr()
    assert main(["recommend", "--data", str(data), "--user", "0", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["rank", "book_idx", "title"] and len(lines) == 6


def test_recommend_without_a_model_is_a_clear_error(tiny_copy, capsys):
    assert main(["recommend", "--data", str(tiny_copy), "--user", "0"]) == 2
    assert "no trained model yet" in capsys.readouterr().err
