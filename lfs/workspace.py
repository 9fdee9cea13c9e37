"""One place that puts a prepared split, its cached features and the LF engine together.

The CLI (`python -m pipeline label / analyze`), the retrain job and the workbench pages all start here:

>>> split = open_split(load_prepared("data/processed"), "dev")            # doctest: +SKIP
>>> L = split.matrix(load_default().enabled())                             # doctest: +SKIP
>>> split.analyze(load_default().enabled()).summary                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.data.dataset import PreparedData

from .analysis import Analysis, analyze
from .apply import LFData, label_matrix
from .features import load_features
from .spec import LFSpec


@dataclass
class Split:
    """A split ready for LFs: `data` (LFData with memoised work) and `gold` (rating or None for train)."""

    name: str
    rows: pd.DataFrame
    data: LFData
    gold: np.ndarray | None

    def matrix(self, specs: Sequence[LFSpec]) -> np.ndarray:
        return label_matrix(specs, self.data)

    def analyze(self, specs: Sequence[LFSpec]) -> Analysis:
        return analyze(self.matrix(specs), specs, self.gold)


def check_split(prepared: PreparedData, split: str) -> None:
    if split not in prepared.splits:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(prepared.splits)}")


def open_split(prepared: PreparedData, split: str, *, features: pd.DataFrame | None = None,
               progress: bool = False) -> Split:
    """The split's rows with their features (computed once and cached on disk) wrapped for the LF engine."""
    check_split(prepared, split)
    rows = prepared.splits[split]
    if features is None:
        features = load_features(prepared, split, progress=progress)
    gold = rows["rating"].to_numpy(dtype=float) if "rating" in rows else None
    data = LFData(rows, features, prepared.books, prepared.book_idxs_for(rows))
    return Split(split, rows, data, gold)


def label_frame(split: Split, specs: Sequence[LFSpec], L: np.ndarray | None = None) -> pd.DataFrame:
    """user_idx, book_idx and one int8 column per LF: what `python -m pipeline label` writes."""
    L = split.matrix(specs) if L is None else L
    frame = split.rows[["user_idx", "book_idx"]].reset_index(drop=True)
    for j, spec in enumerate(specs):
        frame[spec.name] = L[:, j]
    return frame
