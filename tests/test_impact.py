"""lfs.impact: what removing each enabled LF does to majority vote and to the label model, and
`python -m pipeline impact`."""

from __future__ import annotations

import json
import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from lfs.analysis import majority_vote, totals
from lfs.impact import MV_COLUMNS, as_records, mv_impact
from pipeline.cli import main
from pipeline.training.impact import LM_COLUMNS, label_model_impact
from pipeline.training.labelmodel import LabelModelParams, fit_label_model

NAN = float("nan")

# -- majority vote ------------------------------------------------------------------------------------------------

# rows x LFs a, b, c; the last row has no gold
L_KNOWN = np.array([
    [1, 1, -1],
    [0, 1, 0],
    [-1, -1, 1],
    [1, 0, -1],
    [-1, -1, -1],
    [0, -1, 1],
])
Y_KNOWN = np.array([1, 0, 1, 1, 1, NAN])
# worked by hand. All LFs: rows 0-3 and 5 have a vote (5/6); majority vote decides rows 0, 1, 2 (3 and 5 tie),
# all labelled and right. Without a: it decides 0, 2, 3, 5; row 3 (b says 0) is wrong -> 2/3 on 3 labelled rows.
# Without b: it decides 0-3, all right. Without c: only rows 0-3 and 5 keep a vote; it decides 0 and 5 (unlabelled).
KNOWN = {
    "lf": ["a", "b", "c"],
    "coverage": [5 / 6] * 3,
    "coverage_without": [5 / 6, 5 / 6, 4 / 6],
    "d_coverage": [0.0, 0.0, -1 / 6],
    "mv_coverage": [3 / 6] * 3,
    "mv_coverage_without": [4 / 6, 4 / 6, 2 / 6],
    "d_mv_coverage": [1 / 6, 1 / 6, -1 / 6],
    "mv_labelled": [3] * 3,
    "mv_labelled_without": [3, 4, 1],
    "mv_accuracy": [1.0] * 3,
    "mv_accuracy_without": [2 / 3, 1.0, 1.0],
    "d_mv_accuracy": [-1 / 3, 0.0, 0.0],
}


def test_mv_impact_known_answers():
    impact = mv_impact(L_KNOWN, ["a", "b", "c"], Y_KNOWN)
    assert list(impact.columns) == list(MV_COLUMNS)
    assert len(impact) == 3
    for col, expected in KNOWN.items():
        if col == "lf" or col.startswith("mv_labelled"):
            assert impact[col].tolist() == expected, col
        else:
            assert impact[col].tolist() == pytest.approx(expected, abs=1e-12), col


def test_mv_impact_without_the_only_lf_decides_nothing():
    impact = mv_impact(np.array([[1], [0], [-1]]), ["only"], [1, 1, 0])
    row = impact.iloc[0]
    assert (row["coverage"], row["mv_coverage"], row["mv_labelled"], row["mv_accuracy"]) == (
        pytest.approx(2 / 3), pytest.approx(2 / 3), 2, 0.5)
    assert (row["coverage_without"], row["mv_coverage_without"], row["mv_labelled_without"]) == (0.0, 0.0, 0)
    assert math.isnan(row["mv_accuracy_without"]) and math.isnan(row["d_mv_accuracy"])
    assert as_records(impact)[0]["mv_accuracy_without"] is None


def test_mv_impact_without_gold_and_without_lfs():
    impact = mv_impact(L_KNOWN, ["a", "b", "c"], None)
    assert impact["mv_labelled_without"].tolist() == [0, 0, 0] and impact["mv_accuracy_without"].isna().all()
    assert impact["coverage_without"].tolist() == pytest.approx(KNOWN["coverage_without"])
    empty = mv_impact(np.empty((4, 0), dtype=int), [], [1, 0, 1, 0])
    assert empty.empty and list(empty.columns) == list(MV_COLUMNS)
    with pytest.raises(ValueError, match="2 LF name"):
        mv_impact(L_KNOWN, ["a", "b"], Y_KNOWN)


@pytest.mark.parametrize("seed", range(6))
def test_mv_impact_equals_totals_without_each_column(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 8))
    L = rng.choice([-1, -1, 0, 1], size=(n, m)).astype(np.int8)
    y = rng.integers(0, 2, size=n).astype(float)
    y[rng.random(n) < 0.3] = NAN
    names = [f"lf{j}" for j in range(m)]
    impact = mv_impact(L, names, y)
    everything = totals(L, y)
    for j, row in enumerate(impact.itertuples(index=False)):
        without = totals(np.delete(L, j, axis=1), y)
        assert row.lf == names[j]
        assert (row.coverage, row.mv_coverage, row.mv_labelled) == (
            everything["coverage"], everything["mv_coverage"], everything["mv_labelled"])
        assert (row.coverage_without, row.mv_coverage_without, row.mv_labelled_without) == (
            without["coverage"], without["mv_coverage"], without["mv_labelled"])
        for mine, theirs in ((row.mv_accuracy, everything["mv_accuracy"]),
                             (row.mv_accuracy_without, without["mv_accuracy"])):
            assert mine == theirs or (math.isnan(mine) and math.isnan(theirs))
        assert row.d_coverage == without["coverage"] - everything["coverage"]


# -- label model --------------------------------------------------------------------------------------------------

ACCURACIES = (0.92, 0.78, 0.72)  # LFs 0-2 vote the true label this often when they vote; LF 3 is pure noise
NAMES = ["best", "good", "fair", "noise"]
FAST = LabelModelParams(n_epochs=300)


def synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(L, y): three LFs of known accuracy that each vote on ~60% of the rows, and one that votes at random."""
    y = (rng.random(n) < 0.5).astype(int)
    L = np.full((n, 4), -1, dtype=int)
    for j, acc in enumerate(ACCURACIES):
        votes = rng.random(n) < 0.6
        right = rng.random(n) < acc
        L[votes, j] = np.where(right, y, 1 - y)[votes]
    noise = rng.random(n) < 0.6
    L[noise, 3] = rng.integers(0, 2, size=n)[noise]
    return L, y


@pytest.fixture(scope="module")
def lm_world():
    rng = np.random.default_rng(7)
    L_train, _ = synthetic(3000, rng)
    L_dev, y_dev = synthetic(1500, rng)
    calls = []
    impact = label_model_impact(L_train, L_dev, y_dev, NAMES, FAST, progress=lambda *a: calls.append(a))
    return L_train, L_dev, y_dev, impact, calls


def scores_by_hand(model, L_dev: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict(L_dev, tie_break_policy="abstain")
    covered = pred != -1
    accuracy = float(np.mean(pred[covered] == y[covered]))
    return accuracy, float(f1_score(y[covered], pred[covered])), float(covered.mean())


def test_label_model_impact_equals_fitting_without_each_column(lm_world):
    L_train, L_dev, y_dev, impact, _ = lm_world
    assert list(impact.columns) == list(LM_COLUMNS) and impact["lf"].tolist() == NAMES
    base = scores_by_hand(fit_label_model(L_train, FAST), L_dev, y_dev)
    for j, row in enumerate(impact.itertuples(index=False)):
        without = scores_by_hand(fit_label_model(np.delete(L_train, j, axis=1), FAST), np.delete(L_dev, j, axis=1),
                                 y_dev)
        assert (row.model, row.model_without) == ("label_model", "label_model")
        assert (row.accuracy, row.f1, row.coverage) == pytest.approx(base, abs=1e-12)
        assert (row.accuracy_without, row.f1_without, row.coverage_without) == pytest.approx(without, abs=1e-12)
        assert row.d_accuracy == pytest.approx(without[0] - base[0], abs=1e-12)
        assert row.d_f1 == pytest.approx(without[1] - base[1], abs=1e-12)
        assert row.d_coverage == pytest.approx(without[2] - base[2], abs=1e-12)


def test_removing_noise_does_not_hurt_and_removing_the_best_lf_does(lm_world):
    impact = lm_world[3].set_index("lf")
    assert impact.loc["noise", "d_accuracy"] >= 0
    assert impact.loc["best", "d_accuracy"] < -0.02
    assert impact["d_accuracy"].idxmin() == "best"


def test_label_model_impact_reports_progress_after_each_fit(lm_world):
    calls = lm_world[4]
    assert [(done, total) for done, total, _ in calls] == [(k, 5) for k in range(1, 6)]
    assert "all" in calls[0][2] and [c[2] for c in calls[1:]] == [f"without {name}" for name in NAMES]


def test_label_model_impact_is_deterministic_and_skips_unlabelled_dev_rows(lm_world):
    L_train, L_dev, y_dev, impact, _ = lm_world
    y = y_dev.astype(float)
    extra = np.vstack([L_dev, L_dev[:200]])  # 200 more rows without gold: left out of every figure
    again = label_model_impact(L_train, extra, np.concatenate([y, np.full(200, NAN)]), NAMES, FAST)
    pd.testing.assert_frame_equal(again, impact)


def test_under_three_lfs_majority_vote_stands_in(lm_world):
    L_train, L_dev, y_dev, _, _ = lm_world
    impact = label_model_impact(L_train[:, :3], L_dev[:, :3], y_dev, NAMES[:3], FAST)
    assert set(impact["model"]) == {"label_model"} and set(impact["model_without"]) == {"majority_vote"}
    for j, row in enumerate(impact.itertuples(index=False)):
        pred = majority_vote(np.delete(L_dev[:, :3], j, axis=1))
        covered = pred != -1
        assert row.accuracy_without == pytest.approx(np.mean(pred[covered] == y_dev[covered]), abs=1e-12)
        assert row.coverage_without == pytest.approx(covered.mean(), abs=1e-12)


# -- the command line ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_processed, tmp_path_factory):
    """A copy of the session's tiny prepared data (the command caches features in it)."""
    return shutil.copytree(tiny_processed, tmp_path_factory.mktemp("tiny-impact") / "processed")


def _strict_json(text: str) -> dict:
    def refuse(constant: str):
        raise AssertionError(f"not plain JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_impact_prints_the_majority_vote_table(tiny, capsys):
    from lfs.config import load_default

    assert main(["impact", "--processed", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "majority vote with all" in out and "mv_accuracy_without" in out and "label model" not in out
    for spec in load_default().enabled():
        assert spec.name in out


def test_impact_json_is_mv_impact_of_dev(tiny, capsys):
    from lfs.config import load_default
    from lfs.workspace import open_split
    from pipeline.data.dataset import load_prepared

    assert main(["impact", "--processed", str(tiny), "--json"]) == 0
    result = _strict_json(capsys.readouterr().out)
    assert list(result) == ["majority_vote"]
    specs = load_default().enabled()
    dev = open_split(load_prepared(tiny), "dev")
    expected = as_records(mv_impact(dev.matrix(specs), [s.name for s in specs], dev.gold))
    assert result["majority_vote"] == expected
    assert all(list(row) == list(MV_COLUMNS) for row in result["majority_vote"])


def test_impact_with_the_label_model_never_opens_test(tiny, capsys, monkeypatch):
    import lfs.workspace
    from lfs.config import load_default

    opened = []
    real_open = lfs.workspace.open_split

    def spy(prepared, split, **kwargs):
        opened.append(split)
        return real_open(prepared, split, **kwargs)

    monkeypatch.setattr(lfs.workspace, "open_split", spy)
    args = ["impact", "--processed", str(tiny), "--label-model", "--lm-epochs", "100"]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    result = _strict_json(captured.out)
    names = [s.name for s in load_default().enabled()]
    assert list(result) == ["majority_vote", "label_model"]
    assert [row["lf"] for row in result["label_model"]] == names
    assert all(list(row) == list(LM_COLUMNS) for row in result["label_model"])
    assert "label model fits" in captured.err  # the progress bar
    assert set(opened) == {"dev", "train"}

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "label model with all" in out and "accuracy_without" in out
    assert "test" not in opened


def test_a_bad_config_path_is_one_clear_error(tiny, tmp_path, capsys):
    missing = tmp_path / "no-such-config.toml"
    assert main(["impact", "--processed", str(tiny), "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no-such-config.toml" in err and "Traceback" not in err


def test_a_bad_label_model_flag_is_refused_naming_it(tiny, capsys):
    assert main(["impact", "--processed", str(tiny), "--label-model", "--lm-epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --lm-epochs")


def test_label_model_flags_need_label_model(tiny, capsys):
    assert main(["impact", "--processed", str(tiny), "--lm-seed", "5"]) == 2
    assert capsys.readouterr().err.startswith("error: --lm-seed sets the label model: add --label-model")
