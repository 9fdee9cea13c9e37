"""The label model stage: snorkel's LabelModel over the LF votes, majority vote beside it, training labels.

As the seed: fit `LabelModel(cardinality=2)` on L_train (n_epochs 5000, lr 0.01, seed 123 by default), predict
train, drop the rows no LF voted on (snorkel's `filter_unlabeled_dataframe`), and add the dev rows with their
gold labels. Unlike the seed, rows whose label-model prediction is a tie (probability exactly 0.5, which
`predict` reports as -1) are dropped too instead of entering training with the label -1; and soft labels
(the positive-class probability) are an option.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from lfs.analysis import majority_vote
from pipeline.training.params import MAX_LABEL_MODEL_EPOCHS, MAX_SEED, check_at_most

CLASS_BALANCE = ("learned", "dev")


@dataclass(frozen=True)
class LabelModelParams:
    n_epochs: int = 5000
    lr: float = 0.01
    l2: float = 0.0
    class_balance: str = "learned"  # "learned" from the LF votes, or "dev": the positive share of dev's gold
    seed: int = 123
    soft_labels: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.n_epochs, int) or self.n_epochs < 1:
            raise ValueError(f"label model n_epochs must be a positive integer, got {self.n_epochs!r}")
        check_at_most("label model n_epochs", self.n_epochs, MAX_LABEL_MODEL_EPOCHS)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"label model seed must be an integer >= 0, got {self.seed!r}")
        check_at_most("label model seed", self.seed, MAX_SEED)
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"label model lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.l2, int | float) and self.l2 >= 0):
            raise ValueError(f"label model l2 must be a number >= 0, got {self.l2!r}")
        if self.class_balance not in CLASS_BALANCE:
            raise ValueError(f"label model class_balance must be one of {', '.join(CLASS_BALANCE)}, "
                             f"got {self.class_balance!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MIN_LABEL_MODEL_LFS = 3
"""snorkel's LabelModel needs at least this many LFs; with fewer, snorkel's majority vote stands in."""


def fit_label_model(L_train: np.ndarray, params: LabelModelParams, y_dev: np.ndarray | None = None):
    """A fitted snorkel LabelModel (seeded: same L and params, same model), or, with fewer than
    MIN_LABEL_MODEL_LFS LFs (which LabelModel refuses), snorkel's MajorityLabelVoter in its place."""
    from snorkel.labeling.model import LabelModel, MajorityLabelVoter

    if L_train.shape[1] < MIN_LABEL_MODEL_LFS:
        return MajorityLabelVoter(cardinality=2, verbose=False)
    balance = None
    if params.class_balance == "dev":
        if y_dev is None or not len(y_dev):
            raise ValueError("class_balance 'dev' needs dev gold labels")
        p = float(np.mean(y_dev))
        balance = [1.0 - p, p]
    model = LabelModel(cardinality=2, verbose=False)
    model.fit(L_train, class_balance=balance, n_epochs=params.n_epochs, lr=params.lr, l2=params.l2,
              seed=params.seed, progress_bar=False)
    return model


def prediction_scores(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and F1 over the rows with a prediction (not -1), the coverage (share of rows with one) and the
    number of those rows ("rows"); `y` holds int gold labels. What `label_model_report` and
    pipeline.training.impact report."""
    from sklearn.metrics import f1_score

    covered = pred != -1
    out = {"coverage": float(covered.mean()) if len(pred) else 0.0, "rows": int(covered.sum())}
    if covered.any():
        out["accuracy"] = float((pred[covered] == y[covered]).mean())
        out["f1"] = float(f1_score(y[covered], pred[covered], zero_division=0))
    else:
        out["accuracy"] = out["f1"] = float("nan")
    return out




def label_model_report(model, L_dev: np.ndarray, y_dev: np.ndarray, lf_names: list[str],
                       emp_acc: list[float]) -> dict[str, Any]:
    """Label model vs majority vote on dev (accuracy, F1, coverage), and the learned LF weights beside each LF's
    empirical accuracy on dev."""
    y = np.asarray(y_dev).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm_pred = model.predict(L_dev, tie_break_policy="abstain")
    learned = hasattr(model, "get_weights")  # a MajorityLabelVoter (too few LFs) learns no weights
    weights = model.get_weights() if learned else [None] * len(lf_names)
    report = {
        "label_model": prediction_scores(lm_pred, y),
        "majority_vote": prediction_scores(majority_vote(L_dev), y),
        "weights": [{"lf": name, "learned_weight": None if w is None else float(w), "emp_acc": float(a)}
                    for name, w, a in zip(lf_names, weights, emp_acc, strict=True)],
    }
    if not learned:
        report["note"] = (f"{len(lf_names)} enabled LF(s): snorkel's LabelModel needs at least "
                          f"{MIN_LABEL_MODEL_LFS}, so majority vote made the training labels")
    return report


def training_labels(train_rows: pd.DataFrame, L_train: np.ndarray, model, dev_rows: pd.DataFrame, *,
                    soft: bool = False) -> pd.DataFrame:
    """user_idx, book_idx, label (float: 0/1, or P(positive) when soft), source ("label_model" or "dev")."""
    from snorkel.labeling import filter_unlabeled_dataframe

    probs = model.predict_proba(L_train)
    kept, probs_kept = filter_unlabeled_dataframe(train_rows[["user_idx", "book_idx"]], probs, L_train)
    if soft:
        labels = probs_kept[:, 1]
    else:
        not_tie = probs_kept[:, 1] != 0.5
        kept, labels = kept[not_tie], (probs_kept[not_tie, 1] > 0.5).astype(float)
    weak = kept.assign(label=labels.astype(float), source="label_model")
    gold = dev_rows[["user_idx", "book_idx"]].assign(label=dev_rows["rating"].astype(float), source="dev")
    return pd.concat([weak, gold], ignore_index=True)


def lf_only_probabilities(model, L: np.ndarray) -> np.ndarray:
    """P(positive) from the label model, NaN where every LF abstains (the LF-only contender)."""
    probs = model.predict_proba(L)[:, 1].astype(float)
    probs[(L == -1).all(axis=1)] = np.nan
    return probs
