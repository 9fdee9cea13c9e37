"""LF impact: what removing each enabled LF does to majority vote and to the label model.

`mv_impact` answers, for every column j of a label matrix, "what would majority vote cover and how accurate
would it be without LF j?" in one pass: the positive, negative and any-vote counts per row are computed once and
column j's votes are subtracted from them, so that each LF costs a few vector operations, not a new label
matrix. Its figures are `lfs.analysis.totals` on `np.delete(L, j, axis=1)` exactly (tests hold them equal).

`label_model_impact` fits the label model (pipeline.training.labelmodel.fit_label_model, with its majority-vote
stand-in under MIN_LABEL_MODEL_LFS LFs) on L_train with all LFs and then once without each LF, and scores each
fit's `tie_break_policy="abstain"` predictions on the labelled dev rows (accuracy and F1 over the covered rows,
and coverage: pipeline.training.labelmodel.prediction_scores). It costs one fit per LF plus one, so it reports
its progress through an optional callback. The command line's `python -m pipeline impact` prints both tables.
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .analysis import _gold, totals
from .spec import ABSTAIN

if TYPE_CHECKING:
    from pipeline.training.labelmodel import LabelModelParams

__all__ = ["LM_COLUMNS", "MV_COLUMNS", "Progress", "as_records", "label_model_impact", "mv_impact"]

Progress = Callable[[int, int, str], None]
"""progress(done, total, message): called after each label-model fit."""

MV_COLUMNS = ("lf", "coverage", "coverage_without", "d_coverage", "mv_coverage", "mv_coverage_without",
              "d_mv_coverage", "mv_labelled", "mv_labelled_without", "mv_accuracy", "mv_accuracy_without",
              "d_mv_accuracy")
"""`mv_impact`'s columns. coverage: share of rows some LF votes on; mv_coverage: share of rows majority vote
decides (no tie); mv_labelled: labelled rows it decides; mv_accuracy: its accuracy there (NaN on none). Each with
all LFs, `_without` the row's LF, and `d_` = without - with."""

LM_COLUMNS = ("lf", "model", "model_without", "accuracy", "accuracy_without", "d_accuracy", "f1", "f1_without",
              "d_f1", "coverage", "coverage_without", "d_coverage")
"""`label_model_impact`'s columns. model / model_without: "label_model", or "majority_vote" where fewer than
MIN_LABEL_MODEL_LFS LFs made snorkel's majority vote stand in; accuracy and f1 over the labelled dev rows the
model decides, coverage: the share of labelled dev rows it decides."""


def _labels(L, names: Sequence[str], what: str = "L") -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"{what} must be a 2-D label matrix, got {L.ndim} dimension(s)")
    if L.shape[1] != len(names):
        raise ValueError(f"{what} has {L.shape[1]} LF column(s) for {len(names)} LF name(s)")
    return L


def mv_impact(L: np.ndarray, names: Sequence[str], y) -> pd.DataFrame:
    """One row per LF (column of L, named by `names`): majority vote's coverage and accuracy with all LFs (the same
    on every row: `totals(L, y)`), without that LF (`totals(np.delete(L, j, axis=1), y)`) and the difference
    (without - with); columns MV_COLUMNS. `y`: gold per row, NaN where unlabelled (None: no gold, so no labelled
    row and NaN accuracies)."""
    L = _labels(L, names)
    n = len(L)
    gold = _gold(y, n)
    labelled = np.zeros(n, dtype=bool) if gold is None else ~np.isnan(gold)
    everything = totals(L, gold)
    if gold is None:
        everything |= {"mv_labelled": 0, "mv_accuracy": float("nan")}

    votes_by_lf, pos_by_lf, neg_by_lf = L != ABSTAIN, L == 1, L == 0
    votes, pos, neg = votes_by_lf.sum(axis=1), pos_by_lf.sum(axis=1), neg_by_lf.sum(axis=1)
    rows = []
    for j, name in enumerate(names):
        v = votes - votes_by_lf[:, j]
        p = pos - pos_by_lf[:, j]
        q = neg - neg_by_lf[:, j]
        mv = np.where(p > q, 1, np.where(q > p, 0, ABSTAIN))
        decided = (mv != ABSTAIN) & labelled
        k = int(decided.sum())
        correct = int((mv[decided] == gold[decided]).sum()) if k else 0
        rows.append({
            "lf": name,
            "coverage_without": float((v > 0).mean()) if n else 0.0,
            "mv_coverage_without": float((mv != ABSTAIN).mean()) if n else 0.0,
            "mv_labelled_without": k,
            "mv_accuracy_without": correct / k if k else float("nan"),
        })
    frame = pd.DataFrame(rows, columns=["lf", "coverage_without", "mv_coverage_without", "mv_labelled_without",
                                        "mv_accuracy_without"])
    frame["mv_labelled_without"] = frame["mv_labelled_without"].astype(int)
    for col in ("coverage", "mv_coverage", "mv_labelled", "mv_accuracy"):
        frame[col] = everything[col]
    for col in ("coverage", "mv_coverage", "mv_accuracy"):
        frame[f"d_{col}"] = frame[f"{col}_without"] - frame[col]
    return frame[list(MV_COLUMNS)]


def _fit_and_score(L_train: np.ndarray, L_gold: np.ndarray, gold: np.ndarray, columns: list[int],
                   params: LabelModelParams) -> tuple[str, dict[str, float]]:
    """One fit of the label model on `columns` of L_train, scored on the labelled dev rows (module level: it also
    runs in worker processes)."""
    from pipeline.training.labelmodel import fit_label_model, prediction_scores

    model = fit_label_model(L_train[:, columns], params, gold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict(L_gold[:, columns], tie_break_policy="abstain")
    kind = "label_model" if hasattr(model, "get_weights") else "majority_vote"
    return kind, prediction_scores(np.asarray(pred), gold.astype(int))


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the workers share the cores: each runs its fits on one thread


def label_model_impact(L_train: np.ndarray, L_dev: np.ndarray, y_dev, names: Sequence[str],
                       params: LabelModelParams, progress: Progress | None = None, workers: int = 1) -> pd.DataFrame:
    """One row per LF: the label model fitted on L_train with all LFs and without that LF, each scored on the
    labelled rows of dev (y_dev NaN: unlabelled, left out), and the differences (without - with); columns
    LM_COLUMNS. len(names) + 1 fits, seeded by params.seed (same inputs, same table); `progress(done, total,
    message)` is called after each. With `workers` > 1 the fits run in that many fresh worker processes (a fit
    is snorkel's training loop of small torch steps, bound to one core; starting a worker costs an import of
    torch, so this pays from a handful of fits on)."""
    L_train = _labels(L_train, names, "L_train")
    L_dev = _labels(L_dev, names, "L_dev")
    y = np.asarray(y_dev, dtype=float).reshape(-1)
    if len(y) != len(L_dev):
        raise ValueError(f"y_dev has {len(y)} labels for {len(L_dev)} dev rows")
    labelled = ~np.isnan(y)
    gold, L_gold = y[labelled], L_dev[labelled]
    m = len(names)
    if m == 0:
        return pd.DataFrame(columns=list(LM_COLUMNS))
    jobs = [list(range(m))] + [[c for c in range(m) if c != j] for j in range(m)]
    messages = [f"all {m} LFs"] + [f"without {name}" for name in names]
    fits: list[tuple[str, dict[str, float]] | None] = [None] * len(jobs)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            pending = {pool.submit(_fit_and_score, L_train, L_gold, gold, cols, params): i
                       for i, cols in enumerate(jobs)}
            for done, future in enumerate(as_completed(pending), 1):
                fits[pending[future]] = future.result()
                if progress is not None:
                    progress(done, len(jobs), messages[pending[future]])
    else:
        for i, cols in enumerate(jobs):
            fits[i] = _fit_and_score(L_train, L_gold, gold, cols, params)
            if progress is not None:
                progress(i + 1, len(jobs), messages[i])
    kind, base = fits[0]
    rows = []
    for j, name in enumerate(names):
        kind_without, without = fits[j + 1]
        row: dict[str, Any] = {"lf": name, "model": kind, "model_without": kind_without}
        for metric in ("accuracy", "f1", "coverage"):
            row |= {metric: base[metric], f"{metric}_without": without[metric],
                    f"d_{metric}": without[metric] - base[metric]}
        rows.append(row)
    return pd.DataFrame(rows, columns=list(LM_COLUMNS))


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of an impact table as plain Python values (JSON-ready): numpy scalars become int/float/str/bool,
    NaN becomes None."""

    def plain(value):
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    return [{col: plain(v) for col, v in zip(frame.columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]
