"""LF impact on the label model: what removing each enabled LF does to it (lfs.impact has majority vote's).

`label_model_impact` fits the label model (`fit_label_model`, with its majority-vote stand-in under
MIN_LABEL_MODEL_LFS LFs) on L_train with all LFs and then once without each LF, and scores each fit's
`tie_break_policy="abstain"` predictions on the labelled dev rows (accuracy and F1 over the covered rows, and
coverage: `prediction_scores`). It costs one fit per LF plus one, so it reports its progress through an optional
callback and can spread the fits over worker processes.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
import pandas as pd

from lfs.impact import check_matrix
from pipeline.training.labelmodel import LabelModelParams, fit_label_model, prediction_scores

__all__ = ["LM_COLUMNS", "Progress", "label_model_impact"]

Progress = Callable[[int, int, str], None]
"""progress(done, total, message): called after each label-model fit."""

LM_COLUMNS = ("lf", "model", "model_without", "accuracy", "accuracy_without", "d_accuracy", "f1", "f1_without",
              "d_f1", "coverage", "coverage_without", "d_coverage")
"""`label_model_impact`'s columns. model / model_without: "label_model", or "majority_vote" where fewer than
MIN_LABEL_MODEL_LFS LFs made snorkel's majority vote stand in; accuracy and f1 over the labelled dev rows the
model decides, coverage: the share of labelled dev rows it decides."""


def _fit_and_score(L_train: np.ndarray, L_gold: np.ndarray, gold: np.ndarray, columns: list[int],
                   params: LabelModelParams) -> tuple[str, dict[str, float]]:
    """One fit of the label model on `columns` of L_train, scored on the labelled dev rows (module level: it also
    runs in worker processes)."""
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
    L_train = check_matrix(L_train, names, "L_train")
    L_dev = check_matrix(L_dev, names, "L_dev")
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
