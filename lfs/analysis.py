"""What the workbench shows about a label matrix: snorkel's LF summary and the figures around it.

`lf_summary` is snorkel's `LFAnalysis.lf_summary`, called twice so that it stays fast on large splits: once on
all rows without gold (polarity, coverage, overlaps, conflicts need every row), once with gold on the rows some
LF voted on (correct, incorrect and empirical accuracy only ever count voting rows, so the figures are the
same; sklearn's per-LF confusion matrix is what costs time on all rows). An LF's Correct, Incorrect and Emp. Acc.
depend only on its own votes on labelled rows, so they are snorkel's figures for that one column on those rows,
kept in a small process-wide cache (`GOLD_FIGURES`) keyed on the hash of those votes and their gold: an edit asks
snorkel again about the edited LF only. To it we add the labelled rows each LF covers and a 95% Wilson interval of
its accuracy. Around it: totals (coverage, conflict rate, majority vote),
the pairwise overlap/conflict matrices, threshold sweeps, per-keyword figures, and the row ids behind each
figure so that the UI can open the examples.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .apply import OPS, LFData
from .lru import LRUCache
from .spec import ABSTAIN, KeywordLF, LFSpec, ThresholdLF

Z95 = 1.959963984540054


def wilson_interval(correct, total, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion correct/total (arrays); (nan, nan) where total is 0."""
    k = np.asarray(correct, dtype=float)
    n = np.asarray(total, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    lo, hi = centre - half, centre + half
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def _gold(y, n: int) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y, dtype=float).reshape(-1)
    if len(y) != n:
        raise ValueError(f"gold has {len(y)} labels for {n} rows")
    return y


def lf_summary(L: np.ndarray, specs: Sequence[LFSpec], y=None) -> pd.DataFrame:
    """snorkel's lf_summary (with gold when given) plus Labelled, Acc. low and Acc. high (95% Wilson)."""
    with warnings.catch_warnings():  # scipy warns that snorkel's int label matrix will keep its dtype one day
        warnings.filterwarnings("ignore", "Input has data type", FutureWarning)
        return _lf_summary(L, specs, y)


GOLD_COLUMNS = ("Correct", "Incorrect", "Emp. Acc.")


class GoldFigures(LRUCache):
    """snorkel's (Correct, Incorrect, Emp. Acc.) of one LF column by key, least recently used evicted first beyond
    `max_items`; shared by the workbench's sessions."""

    def __init__(self, max_items: int = 256):
        super().__init__(max_items=max_items)


GOLD_FIGURES = GoldFigures()


def _snorkel_gold_figures(votes: np.ndarray, gold: np.ndarray) -> tuple:
    """snorkel's Correct, Incorrect and Emp. Acc. of one LF whose votes on the labelled rows it votes on are `votes`
    (gold `gold`, ints). They count only the rows where the LF votes, so these rows give the figures of any set of
    rows holding them, as long as no vote or gold is below -1 (snorkel drops the smallest label's confusion row and
    column, -1 then; `_lf_summary` checks). An LF that never votes on such a row gets what snorkel gives a column
    that abstains everywhere."""
    from snorkel.labeling import LFAnalysis

    if len(votes) == 0:
        votes, gold = np.full(1, ABSTAIN, dtype=votes.dtype), np.zeros(1, dtype=gold.dtype)
    summary = LFAnalysis(votes[:, None]).lf_summary(gold)
    return tuple(summary[col].iloc[0] for col in GOLD_COLUMNS)  # per column: a row would make ints floats


def _gold_key(votes: np.ndarray, gold: np.ndarray) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(votes.tobytes())
    digest.update(b"|")
    digest.update(gold.tobytes())
    return votes.dtype.str, gold.dtype.str, len(votes), digest.hexdigest()


def _gold_figures(L: np.ndarray, labelled: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Correct, Incorrect and Emp. Acc. per LF, each LF's from `GOLD_FIGURES` or snorkel on its own column."""
    per_lf = []
    for j in range(L.shape[1]):
        rows = labelled & (L[:, j] != ABSTAIN)
        votes, gold = L[rows, j], y[rows].astype(int)
        key = _gold_key(votes, gold)
        figures = GOLD_FIGURES.get(key)
        if figures is None:  # computed outside the lock: sessions asking at once both compute the same figures
            figures = GOLD_FIGURES.put(key, _snorkel_gold_figures(votes, gold))
        per_lf.append(figures)
    return {col: np.array([f[i] for f in per_lf]) for i, col in enumerate(GOLD_COLUMNS)}


def _gold_figures_joint(L: np.ndarray, specs: Sequence[LFSpec], y: np.ndarray,
                        voted: np.ndarray) -> dict[str, np.ndarray]:
    """Correct, Incorrect and Emp. Acc. per LF from one snorkel call on the rows some LF voted on: the reference
    `_gold_figures` must equal (tests), and what is used when some vote or gold is below -1."""
    from snorkel.labeling import LFAnalysis

    with_gold = LFAnalysis(L[voted], list(specs)).lf_summary(y[voted].astype(int))
    return {col: with_gold[col].to_numpy() for col in GOLD_COLUMNS}


def _lf_summary(L: np.ndarray, specs: Sequence[LFSpec], y, *, cached: bool = True) -> pd.DataFrame:
    from snorkel.labeling import LFAnalysis

    L = np.asarray(L)
    if L.shape[1] == 0:
        return pd.DataFrame(columns=["j", "Polarity", "Coverage", "Overlaps", "Conflicts"])
    summary = LFAnalysis(L, list(specs)).lf_summary()
    y = _gold(y, len(L))
    if y is None:
        return summary
    labelled = ~np.isnan(y)
    voted = labelled & (L != ABSTAIN).any(axis=1)
    if voted.any():
        per_lf = cached and L.min() >= ABSTAIN and y[voted].astype(int).min() >= ABSTAIN
        figures = _gold_figures(L, labelled, y) if per_lf else _gold_figures_joint(L, specs, y, voted)
        for col in GOLD_COLUMNS:
            summary[col] = figures[col]
    else:  # what snorkel reports for LFs that never vote on a labelled row
        summary["Correct"], summary["Incorrect"], summary["Emp. Acc."] = 0, 0, 0.0
    summary["Labelled"] = ((L != ABSTAIN) & labelled[:, None]).sum(axis=0)
    summary["Acc. low"], summary["Acc. high"] = wilson_interval(summary["Correct"], summary["Labelled"])
    return summary


def majority_vote(L: np.ndarray) -> np.ndarray:
    """Majority vote per row, -1 on ties and rows with no vote (snorkel's MajorityLabelVoter, tie_break_policy
    "abstain", which loops over rows in Python; tests hold the two equal)."""
    pos = (L == 1).sum(axis=1)
    neg = (L == 0).sum(axis=1)
    return np.where(pos > neg, 1, np.where(neg > pos, 0, ABSTAIN)).astype(np.int8)


def totals(L: np.ndarray, y=None) -> dict:
    """Coverage of any LF, overlap and conflict rates, and majority vote coverage and accuracy on gold rows."""
    n = len(L)
    votes = (L != ABSTAIN).sum(axis=1)
    conflict = ((L == 0).any(axis=1) & (L == 1).any(axis=1))
    mv = majority_vote(L)
    out = {
        "rows": n,
        "coverage": float((votes > 0).mean()) if n else 0.0,
        "overlap_rate": float((votes > 1).mean()) if n else 0.0,
        "conflict_rate": float(conflict.mean()) if n else 0.0,
        "mv_coverage": float((mv != ABSTAIN).mean()) if n else 0.0,
    }
    y = _gold(y, n)
    if y is not None:
        decided = (mv != ABSTAIN) & ~np.isnan(y)
        correct = int((mv[decided] == y[decided]).sum())
        out |= {"labelled": int((~np.isnan(y)).sum()), "mv_labelled": int(decided.sum()), "mv_correct": correct,
                "mv_accuracy": correct / int(decided.sum()) if decided.any() else float("nan")}
    return out


def pair_matrices(L: np.ndarray, names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(overlap, conflict): share of rows where LFs i and j both vote / both vote and disagree."""
    n = max(len(L), 1)
    v = (L != ABSTAIN).astype(np.int32)
    pos, neg = (L == 1).astype(np.int32), (L == 0).astype(np.int32)
    overlap = (v.T @ v) / n
    conflict = (pos.T @ neg + neg.T @ pos) / n
    return pd.DataFrame(overlap, index=names, columns=names), pd.DataFrame(conflict, index=names, columns=names)


# -- the rows behind a figure --------------------------------------------------------------------------------
ROW_KINDS = ("fires", "abstains", "correct", "incorrect", "overlaps", "conflicts")


def lf_rows(L: np.ndarray, j: int, kind: str, y=None) -> np.ndarray:
    """Row positions behind one LF's figure: fires, abstains, correct, incorrect (needs gold), overlaps, conflicts."""
    col = L[:, j]
    fires = col != ABSTAIN
    if kind == "fires":
        mask = fires
    elif kind == "abstains":
        mask = ~fires
    elif kind in ("correct", "incorrect"):
        gold = _gold(y, len(L))
        if gold is None:
            raise ValueError(f"'{kind}' rows need gold labels")
        labelled = fires & ~np.isnan(gold)
        mask = labelled & ((col == gold) if kind == "correct" else (col != gold))
    elif kind == "overlaps":
        mask = fires & ((L != ABSTAIN).sum(axis=1) > 1)
    elif kind == "conflicts":
        others = np.delete(L, j, axis=1)
        mask = fires & ((others != ABSTAIN) & (others != col[:, None])).any(axis=1)
    else:
        raise ValueError(f"unknown row kind {kind!r}; choose one of {', '.join(ROW_KINDS)}")
    return np.flatnonzero(mask)


def uncovered_rows(L: np.ndarray) -> np.ndarray:
    return np.flatnonzero((L == ABSTAIN).all(axis=1))


def conflict_rows(L: np.ndarray) -> np.ndarray:
    return np.flatnonzero((L == 0).any(axis=1) & (L == 1).any(axis=1))


# -- threshold sweeps and keyword figures ---------------------------------------------------------------------
def _accuracy_where(votes: np.ndarray, gold: np.ndarray, label: int) -> dict:
    """labelled, correct and accuracy of voting `label` on the rows of `votes` that have gold."""
    labelled = votes & ~np.isnan(gold)
    correct = int((gold[labelled] == label).sum())
    n = int(labelled.sum())
    return {"labelled": n, "correct": correct, "accuracy": correct / n if n else float("nan")}


def threshold_sweep(spec: ThresholdLF, data: LFData, y=None, points: int = 60) -> pd.DataFrame:
    """Coverage and accuracy of `spec` with its value moved across the feature's observed range.

    One row per candidate threshold (quantiles of the observed values, plus the current value): threshold,
    fires, coverage, labelled, correct, accuracy, acc_low, acc_high, current.
    """
    values = data.feature(spec.feature)
    observed = values[~np.isnan(values)]
    gold = _gold(y, data.n)
    if len(observed) == 0:
        return pd.DataFrame(columns=["threshold", "fires", "coverage", "labelled", "correct", "accuracy",
                                     "acc_low", "acc_high", "current"])
    grid = np.unique(np.concatenate([np.quantile(observed, np.linspace(0, 1, points)), [spec.value]]))
    compare = OPS[spec.op]
    ok = ~np.isnan(values)
    rows = []
    for t in grid:
        fires = ok.copy()
        fires[ok] = compare(values[ok], t)
        row = {"threshold": float(t), "fires": int(fires.sum()), "coverage": float(fires.mean())}
        if gold is not None:
            row |= _accuracy_where(fires, gold, spec.label)
        rows.append(row)
    sweep = pd.DataFrame(rows)
    if gold is not None:
        sweep["acc_low"], sweep["acc_high"] = wilson_interval(sweep["correct"], sweep["labelled"])
    sweep["current"] = np.isclose(sweep["threshold"], spec.value)
    return sweep


def keyword_stats(spec: KeywordLF, data: LFData, y=None) -> pd.DataFrame:
    """Per rule and keyword: rows containing it, rows it decides (first matching rule), and accuracy there."""
    gold = _gold(y, data.n)
    present = data.text_present(spec.field)
    undecided = present.copy()
    out = []
    for r, rule in enumerate(spec.rules):
        rule_hit = np.zeros(data.n, dtype=bool)
        for kw in rule.keywords:
            hit = data.keyword_hits(spec.field, kw, spec.match) & present
            decides = hit & undecided
            row = {"rule": r, "label": rule.label, "keyword": kw, "hits": int(hit.sum()),
                   "decides": int(decides.sum())}
            if gold is not None:
                row |= _accuracy_where(decides, gold, rule.label)
            out.append(row)
            rule_hit |= hit
        undecided &= ~rule_hit
    stats = pd.DataFrame(out)
    if gold is not None and len(stats):
        stats["acc_low"], stats["acc_high"] = wilson_interval(stats["correct"], stats["labelled"])
    return stats


def keyword_rows(spec: KeywordLF, data: LFData, keyword: str) -> np.ndarray:
    """Row positions whose text contains `keyword` (as `spec` matches it)."""
    return np.flatnonzero(data.keyword_hits(spec.field, keyword, spec.match) & data.text_present(spec.field))


@dataclass(frozen=True)
class Analysis:
    """Everything the LF page draws for one label matrix."""

    summary: pd.DataFrame
    totals: dict
    overlap: pd.DataFrame
    conflict: pd.DataFrame


def analyze(L: np.ndarray, specs: Sequence[LFSpec], y=None) -> Analysis:
    names = [s.name for s in specs]
    overlap, conflict = pair_matrices(L, names)
    return Analysis(lf_summary(L, specs, y), totals(L, y), overlap, conflict)
