"""LF impact: what removing each enabled LF does to majority vote.

`mv_impact` answers, for every column j of a label matrix, "what would majority vote cover and how accurate
would it be without LF j?" in one pass: the positive, negative and any-vote counts per row are computed once and
column j's votes are subtracted from them, so that each LF costs a few vector operations, not a new label
matrix. Its figures are `lfs.analysis.totals` on `np.delete(L, j, axis=1)` exactly (tests hold them equal).

The label model's counterpart is `pipeline.training.impact.label_model_impact`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .analysis import _gold, totals
from .spec import ABSTAIN

__all__ = ["MV_COLUMNS", "as_records", "check_matrix", "mv_impact"]



MV_COLUMNS = ("lf", "coverage", "coverage_without", "d_coverage", "mv_coverage", "mv_coverage_without",
              "d_mv_coverage", "mv_labelled", "mv_labelled_without", "mv_accuracy", "mv_accuracy_without",
              "d_mv_accuracy")
"""`mv_impact`'s columns. coverage: share of rows some LF votes on; mv_coverage: share of rows majority vote
decides (no tie); mv_labelled: labelled rows it decides; mv_accuracy: its accuracy there (NaN on none). Each with
all LFs, `_without` the row's LF, and `d_` = without - with."""




def check_matrix(L, names: Sequence[str], what: str = "L") -> np.ndarray:
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
    L = check_matrix(L, names)
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
