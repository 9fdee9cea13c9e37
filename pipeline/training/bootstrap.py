"""Honest comparisons: a paired bootstrap over test users for every contender's test metrics and their deltas.

One evaluation gives every contender's scores on the same test rows (`EvalScores`). `bootstrap` resamples the
test USERS with replacement, the same resampled users for every contender and every metric in a resample, so
the interval of a difference (ours - replica) reflects that both were scored on the same users: a contender
that is better on every user is significantly ahead even when both intervals overlap.

- `EvalScores`: the rows (users, labels, optional book ids), every contender's classification scores and
  ranking ranks; `key()` names the rows, `save` / `load` keep them next to a run.
- `resample_counts`: the [n_resamples, n_users] matrix of how often each user is drawn, from a seeded numpy
  Generator. `resampled_metrics`: every metric of every contender on every resample, vectorised.
- `bootstrap`: percentile intervals for every contender and for the deltas to a reference.
  `compare_runs_ci`: the same for one contender of two runs evaluated on the same rows.

The metrics are those of pipeline.training.evaluate: accuracy, precision, recall and f1 at p > 0.5 (NaN where their
denominator is 0, as `classification_metrics`), roc_auc (Mann-Whitney, ties count 1/2, NaN with one class),
hr@k (rank < k) and ndcg@k (1 / log2(rank + 2) when rank < k, else 0) from the pessimistic ranks of
`evaluate.ranking_ranks`. A resample is a weighting of the original rows by how often their user was drawn,
so every metric on a resample equals the metric on the rows repeated that many times, and is computed from
per-user sufficient statistics (a [resamples, users] @ [users, stats] product); AUC adds one cumulative sum of
negative weights over the score-sorted negatives per resample.

Everything is numpy; nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data.files import write_atomic

__all__ = ["CLASSIFICATION_METRICS", "EvalScores", "bootstrap", "compare_runs_ci", "ranking_metric_names",
           "resample_counts", "resampled_metrics"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""The classification metrics the bootstrap computes (log loss is left out: it is not a sum over users' hits)."""

_FORMAT_VERSION = 1
_IDENTITY = ("row_user", "y", "case_user", "row_book", "case_positive")


def ranking_metric_names(k: int) -> tuple[str, str]:
    """The ranking metrics' names at cut-off k, as pipeline.training.evaluate names them: ``("hr@10", "ndcg@10")``."""
    return f"hr@{k}", f"ndcg@{k}"


# --------------------------------------------------------------------------------------------------------------
# what one evaluation produced


def _int_vector(name: str, values: Any, length: int | None = None) -> np.ndarray:
    arr = np.array(values, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError(f"{name} must hold integers")
    arr = arr.astype(np.int64)
    if length is not None and len(arr) != length:
        raise ValueError(f"{name} has {len(arr)} entries, expected {length}")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class EvalScores:
    """What one evaluation produced on the shared test rows, for the bootstrap.

    Parameters
    ----------
    row_user : int array [n]
        The user of each classification row (`ClassificationRows.user_idx`).
    y : 0/1 array [n]
        The label of each classification row.
    case_user : int array [c]
        The user of each ranking case (`RankingCases.case_user`).
    scores : dict of str to float array [n]
        Contender -> its probability (or score in [0, 1]) on every classification row; NaN marks a row the
        contender does not score (the LF-only contender on the rows no LF covers and on sampled negatives),
        whose metrics are then over the rows it scores, as in the retrain's table.
    ranks : dict of str to int array [c]
        Contender -> the 0-based rank of the positive in every ranking case (`evaluate.ranking_ranks`).
    row_book, case_positive : int arrays [n] and [c], optional
        The book of each classification row and the liked book of each case: more row identity for `key`.

    A contender may have scores but no ranks or ranks but no scores. The arrays are copied and read-only.

    Examples
    --------
    >>> ev = EvalScores(row_user=[0, 0, 1, 1], y=[1, 0, 1, 0], case_user=[0, 1],
    ...                 scores={"ours": [0.9, 0.2, 0.6, 0.7]}, ranks={"ours": [0, 12]})
    >>> ev.users.tolist(), ev.contenders
    ([0, 1], ('ours',))
    >>> len(ev.key())
    16
    """

    row_user: np.ndarray
    y: np.ndarray
    case_user: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    ranks: dict[str, np.ndarray] = field(default_factory=dict)
    row_book: np.ndarray | None = None
    case_positive: np.ndarray | None = None

    def __post_init__(self) -> None:
        row_user = _int_vector("row_user", self.row_user)
        n = len(row_user)
        y = _int_vector("y", self.y, n)
        if not np.isin(y, (0, 1)).all():
            raise ValueError("y must hold 0/1 labels")
        case_user = _int_vector("case_user", self.case_user)
        c = len(case_user)
        scores: dict[str, np.ndarray] = {}
        for name, values in dict(self.scores).items():
            _check_name(name)
            p = np.array(values, dtype=np.float64, copy=True)
            if p.shape != (n,):
                raise ValueError(f"scores[{name!r}] has shape {p.shape}, expected ({n},) like row_user")
            seen = p[~np.isnan(p)]
            if not np.isfinite(seen).all() or (seen.size and (seen.min() < 0 or seen.max() > 1)):
                raise ValueError(f"scores[{name!r}] must hold values in [0, 1] (NaN for a row it does not score)")
            p.flags.writeable = False
            scores[name] = p
        ranks: dict[str, np.ndarray] = {}
        for name, values in dict(self.ranks).items():
            _check_name(name)
            r = _int_vector(f"ranks[{name!r}]", values, c)
            if r.size and r.min() < 0:
                raise ValueError(f"ranks[{name!r}] must be >= 0 (0 = the positive scored above every negative)")
            ranks[name] = r
        object.__setattr__(self, "row_user", row_user)
        object.__setattr__(self, "y", y.astype(np.int8))
        self.y.flags.writeable = False
        object.__setattr__(self, "case_user", case_user)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "ranks", ranks)
        if self.row_book is not None:
            object.__setattr__(self, "row_book", _int_vector("row_book", self.row_book, n))
        if self.case_positive is not None:
            object.__setattr__(self, "case_positive", _int_vector("case_positive", self.case_positive, c))

    @classmethod
    def from_evaluation(cls, rows: Any, cases: Any, *, scores: Mapping[str, np.ndarray] | None = None,
                        ranks: Mapping[str, np.ndarray] | None = None) -> EvalScores:
        """From pipeline.training.evaluate's `ClassificationRows` and `RankingCases`, with their books as row
        identity."""
        return cls(row_user=rows.user_idx, y=rows.y, case_user=cases.case_user, scores=dict(scores or {}),
                   ranks=dict(ranks or {}), row_book=rows.book_idx, case_positive=cases.positive)

    @property
    def contenders(self) -> tuple[str, ...]:
        """Every contender: those with scores in their order, then those with ranks only."""
        return tuple(self.scores) + tuple(name for name in self.ranks if name not in self.scores)

    @property
    def users(self) -> np.ndarray:
        """The resampled units: every distinct user of a row or a case, sorted."""
        return np.unique(np.concatenate([self.row_user, self.case_user]))

    def _identity(self) -> dict[str, np.ndarray | None]:
        return {name: getattr(self, name) for name in _IDENTITY}

    def key(self) -> str:
        """A short hash (16 hex digits) of the rows: row_user, y, case_user, and row_book and case_positive when
        given. Two evaluations with the same key were made on the same rows in the same order."""
        digest = hashlib.sha256()
        for name, arr in self._identity().items():
            digest.update(name.encode())
            if arr is None:
                digest.update(b":absent;")
            else:
                digest.update(f":{len(arr)}:".encode())
                digest.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write a compressed .npz atomically (a reader sees the old file or this one); returns the path."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"format_version": np.array(_FORMAT_VERSION)}
        for name, arr in self._identity().items():
            if arr is not None:
                arrays[name] = arr
        arrays["score_names"] = np.array(list(self.scores), dtype=np.str_)
        arrays["rank_names"] = np.array(list(self.ranks), dtype=np.str_)
        arrays.update({f"score_{i}": p for i, p in enumerate(self.scores.values())})
        arrays.update({f"rank_{i}": r for i, r in enumerate(self.ranks.values())})
        write_atomic(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvalScores:
        """Read what `save` wrote."""
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["format_version"]) if "format_version" in z.files else None
            if version != _FORMAT_VERSION:
                raise ValueError(f"{path}: not an EvalScores file of format {_FORMAT_VERSION} (found {version})")
            score_names = [str(s) for s in z["score_names"]]
            rank_names = [str(s) for s in z["rank_names"]]
            return cls(row_user=z["row_user"], y=z["y"], case_user=z["case_user"],
                       scores={name: z[f"score_{i}"] for i, name in enumerate(score_names)},
                       ranks={name: z[f"rank_{i}"] for i, name in enumerate(rank_names)},
                       row_book=z["row_book"] if "row_book" in z.files else None,
                       case_positive=z["case_positive"] if "case_positive" in z.files else None)

    def differences(self, other: EvalScores) -> list[str]:
        """The identity arrays on which two evaluations differ (empty when their keys match)."""
        out = []
        for name, arr in self._identity().items():
            theirs = getattr(other, name)
            if (arr is None) != (theirs is None):
                out.append(f"{name} (recorded by only one)")
            elif arr is not None and not np.array_equal(arr, theirs):
                out.append(f"{name} ({len(arr)} vs {len(theirs)} entries)" if len(arr) != len(theirs) else name)
        return out


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a contender's name must be a non-empty string, got {name!r}")


# --------------------------------------------------------------------------------------------------------------
# resampling and the vectorised metrics


def resample_counts(n_users: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each of `n_users` users is drawn in each resample of `n_users` draws with replacement.

    int64 [n_resamples, n_users], every row summing to n_users; the same matrix for the same seed.

    >>> counts = resample_counts(3, 2, seed=0)
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((2, 3), [3, 3])
    """
    if n_users < 1:
        raise ValueError("there are no users to resample")
    draws = np.random.default_rng(seed).integers(0, n_users, size=(n_resamples, n_users))
    draws += (np.arange(n_resamples) * n_users)[:, None]
    return np.bincount(draws.ravel(), minlength=n_resamples * n_users).reshape(n_resamples, n_users)


def _classification_stats(user: np.ndarray, y: np.ndarray, p: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: true positives, false positives, false negatives, true negatives over the scored rows, [U, 4]."""
    scored = ~np.isnan(p)
    user, y, pred = user[scored], y[scored].astype(bool), p[scored] > 0.5
    cells = (pred & y, pred & ~y, ~pred & y, ~pred & ~y)
    return np.stack([np.bincount(user[c], minlength=n_users) for c in cells], axis=1)


def _classification_metrics(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"accuracy": np.where(tp + fp + fn + tn > 0, (tp + tn) / (tp + fp + fn + tn), np.nan),
                "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
                "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
                "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)}


def _auc(counts: np.ndarray, user: np.ndarray, y: np.ndarray, p: np.ndarray, w_pos: np.ndarray,
         w_neg: np.ndarray) -> np.ndarray:
    """ROC-AUC on each resample: sum over positive rows i of w_i * (weight of negatives below s_i + half the
    weight of negatives tied with it), over W_pos * W_neg, where a row's weight is its user's count.

    The negatives are sorted by score once; per resample, the cumulative sum cs of their weights, read at each
    positive's two searchsorted positions lo (strictly below) and hi (at most equal), gives twice the numerator
    as sum w_i * (cs[lo_i] + cs[hi_i]); a positive tied with no negative has lo = hi, so one read gives
    2 * cs[lo]. Integer arithmetic throughout, so the numerator is exact.
    """
    scored = ~np.isnan(p)
    user, y, p = user[scored], y[scored].astype(bool), p[scored]
    order = np.argsort(p[~y], kind="stable")
    neg_scores, neg_user = p[~y][order], user[~y][order]
    lo = np.searchsorted(neg_scores, p[y], side="left")
    hi = np.searchsorted(neg_scores, p[y], side="right")
    tied = lo != hi
    by_position = np.argsort(lo[~tied], kind="stable")  # read the cumulative sums in order: cache-friendly
    plain_at, plain_user = lo[~tied][by_position], user[y][~tied][by_position]
    tied_lo, tied_hi, tied_user = lo[tied], hi[tied], user[y][tied]
    n_resamples = len(counts)
    twice = np.zeros(n_resamples, dtype=np.int64)
    if len(lo) and len(neg_user):
        small = 2 * float(w_neg.max()) * float(counts.max()) < 2**31
        dtype = np.int32 if small else np.int64
        weights = counts.astype(dtype)
        chunk = max(1, 262_144 // len(neg_user))
        for start in range(0, n_resamples, chunk):
            c = weights[start:start + chunk]
            cs = np.empty((len(c), len(neg_user) + 1), dtype=dtype)
            cs[:, 0] = 0
            np.cumsum(np.take(c, neg_user, axis=1), axis=1, out=cs[:, 1:], dtype=dtype)
            x = np.take(cs, plain_at, axis=1)
            x *= np.take(c, plain_user, axis=1)
            part = 2 * x.sum(axis=1, dtype=np.int64)
            if len(tied_lo):
                x = np.take(cs, tied_lo, axis=1)
                x += np.take(cs, tied_hi, axis=1)
                x *= np.take(c, tied_user, axis=1)
                part += x.sum(axis=1, dtype=np.int64)
            twice[start:start + len(c)] = part
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((w_pos > 0) & (w_neg > 0), twice / (2.0 * w_pos * w_neg), np.nan)


def resampled_metrics(scores: EvalScores, counts: np.ndarray, *, contenders: Iterable[str] | None = None,
                      k: int = 10) -> dict[str, dict[str, np.ndarray]]:
    """Every metric of every contender on each resample, ``{contender: {metric: float array [B]}}``.

    counts : int array [B, U]
        How often each of ``scores.users`` is drawn in each resample (`resample_counts`; a row of ones is the
        original rows). A row's weight is its user's count, so each metric equals the metric on the rows
        repeated that many times; undefined metrics (AUC with one class, precision without a predicted
        positive, ...) are NaN. A contender's metrics are those it has data for.

    >>> ev = EvalScores(row_user=[0, 0, 1, 1], y=[1, 0, 1, 0], case_user=[0, 1],
    ...                 scores={"ours": [0.9, 0.2, 0.6, 0.7]}, ranks={"ours": [0, 12]})
    >>> m = resampled_metrics(ev, np.array([[1, 1], [2, 0]]))["ours"]
    >>> m["roc_auc"].tolist(), m["hr@10"].tolist()  # on the rows as they are, and with user 0 twice
    ([0.75, 1.0], [0.5, 1.0])
    >>> m["accuracy"].tolist()  # 0.6 -> 1 right, 0.7 -> 1 wrong
    [0.75, 1.0]
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    users = scores.users
    n_users = len(users)
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != n_users:
        raise ValueError(f"counts must have shape [resamples, {n_users}] (one column per user), got {counts.shape}")
    names = list(scores.contenders if contenders is None else contenders)
    unknown = [name for name in names if name not in scores.scores and name not in scores.ranks]
    if unknown:
        raise ValueError(f"unknown contender(s) {', '.join(map(repr, unknown))}; "
                         f"there are {', '.join(scores.contenders) or 'none'}")
    row_u = np.searchsorted(users, scores.row_user)
    case_u = np.searchsorted(users, scores.case_user)
    hr_name, ndcg_name = ranking_metric_names(k)
    # one [U, s] table of per-user integer statistics, so one product with the counts serves every contender
    blocks: list[np.ndarray] = [np.bincount(case_u, minlength=n_users)[:, None]]
    where: dict[tuple[str, str], slice] = {}
    width = 1
    for name in names:
        parts = []
        if name in scores.scores:
            parts.append(("cls", _classification_stats(row_u, scores.y, scores.scores[name], n_users)))
        if name in scores.ranks:
            r = scores.ranks[name]
            hit = r < k
            parts.append(("rank", np.bincount(case_u[hit] * k + r[hit], minlength=n_users * k).reshape(n_users, k)))
        for kind, block in parts:
            where[name, kind] = slice(width, width + block.shape[1])
            width += block.shape[1]
            blocks.append(block)
    stats = np.concatenate(blocks, axis=1).astype(np.float64)
    totals = counts.astype(np.float64) @ stats  # exact: integers far below 2**53
    n_cases = totals[:, 0]
    gains = 1.0 / np.log2(np.arange(k) + 2.0)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        metrics: dict[str, np.ndarray] = {}
        if (name, "cls") in where:
            tp, fp, fn, tn = totals[:, where[name, "cls"]].T
            metrics.update(_classification_metrics(tp, fp, fn, tn))
            metrics["roc_auc"] = _auc(counts, row_u, scores.y, scores.scores[name], tp + fn, fp + tn)
        if (name, "rank") in where:
            by_rank = totals[:, where[name, "rank"]]
            gain = np.zeros(len(counts))
            for r in range(k):  # a fixed order of additions: identical contenders give identical values
                gain += by_rank[:, r] * gains[r]
            with np.errstate(divide="ignore", invalid="ignore"):
                metrics[hr_name] = np.where(n_cases > 0, by_rank.sum(axis=1) / n_cases, np.nan)
                metrics[ndcg_name] = np.where(n_cases > 0, gain / n_cases, np.nan)
        out[name] = metrics
    return out


# --------------------------------------------------------------------------------------------------------------
# intervals


def _value(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _intervals(samples: np.ndarray, level: float) -> np.ndarray:
    """Percentile interval of each column of [B, m], NaN resamples left out; [m, 2], NaN where all are NaN."""
    tail = 50.0 * (1.0 - level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.nanpercentile(samples, [tail, 100.0 - tail], axis=0).T.reshape(-1, 2)


def bootstrap(scores: EvalScores, *, reference: str = "ours", others: Sequence[str] | None = None,
              n_resamples: int = 1000, seed: int = 0, k: int = 10, level: float = 0.95) -> dict[str, Any]:
    """A paired bootstrap over test users: percentile intervals of every metric and of every delta.

    Each resample draws as many users as there are, with replacement (`resample_counts`, seeded); every
    contender and every metric is computed on the same resampled users (`resampled_metrics`), so the delta
    reference - other on a resample is a paired difference. Point estimates are on the original rows.

    Parameters
    ----------
    scores : EvalScores
    reference : str
        The contender the deltas are taken from: delta = reference - other, positive when the reference is
        ahead (for every metric here higher is better).
    others : sequence of str, optional
        The contenders to compare with the reference; by default every other contender.
    n_resamples, seed : int
        How many resamples, and the seed of the numpy Generator that draws them.
    k : int
        The ranking cut-off of hr@k and ndcg@k.
    level : float
        The coverage of the percentile intervals (0.95: the 2.5th and 97.5th percentiles).

    Returns
    -------
    dict
        JSON-ready::

            {"n_resamples": 1000, "seed": 0, "level": 0.95, "unit": "user", "n_users": U, "k": 10,
             "reference": "ours",
             "point": {contender: {metric: value}},
             "ci": {contender: {metric: [lo, hi]}},
             "deltas": {other: {metric: {"delta": point(reference) - point(other), "ci": [lo, hi],
                                         "significant": bool}}}}

        A metric undefined on some resamples (AUC with one class) is left out of those resamples' percentiles;
        a value undefined everywhere is None; a metric a contender lacks (LF-only has no ranking) is absent,
        and so is its delta. ``significant``: the delta's interval excludes 0.

    Examples
    --------
    >>> ev = EvalScores(row_user=[0, 0, 1, 1, 2, 2], y=[1, 0, 1, 0, 1, 0], case_user=[0, 1, 2],
    ...                 scores={"ours": [0.9, 0.1, 0.8, 0.3, 0.7, 0.4], "coin": [0.5] * 6})
    >>> out = bootstrap(ev, reference="ours", n_resamples=200, seed=1)
    >>> out["deltas"]["coin"]["roc_auc"]
    {'delta': 0.5, 'ci': [0.5, 0.5], 'significant': True}
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    names = scores.contenders
    if reference not in names:
        raise ValueError(f"reference contender {reference!r} is not among {', '.join(names) or 'no contenders'}")
    others = [name for name in names if name != reference] if others is None else list(others)
    unknown = [name for name in others if name not in names or name == reference]
    if unknown:
        raise ValueError(f"others must name contenders other than the reference {reference!r}; "
                         f"got {', '.join(map(repr, unknown))} (there are {', '.join(names)})")
    chosen = [reference, *others]
    n_users = len(scores.users)
    counts = resample_counts(n_users, int(n_resamples), seed)
    samples = resampled_metrics(scores, counts, contenders=chosen, k=k)
    point = resampled_metrics(scores, np.ones((1, n_users), dtype=np.int64), contenders=chosen, k=k)

    columns: list[np.ndarray] = []  # every interval in one nanpercentile call
    labels: list[tuple[str, str, str]] = []
    for name in chosen:
        for metric, values in samples[name].items():
            columns.append(values)
            labels.append(("ci", name, metric))
    ref = samples[reference]
    for name in others:
        for metric, values in samples[name].items():
            if metric in ref:
                columns.append(ref[metric] - values)
                labels.append(("delta", name, metric))
    bounds = _intervals(np.stack(columns, axis=1), level) if columns else np.empty((0, 2))

    out: dict[str, Any] = {"n_resamples": int(n_resamples), "seed": int(seed), "level": float(level), "unit": "user",
                           "n_users": int(n_users), "k": int(k), "reference": reference,
                           "point": {name: {m: _value(v[0]) for m, v in point[name].items()} for name in chosen},
                           "ci": {name: {} for name in chosen}, "deltas": {name: {} for name in others}}
    for (kind, name, metric), (lo, hi) in zip(labels, bounds, strict=True):
        interval = [_value(lo), _value(hi)]
        if kind == "ci":
            out["ci"][name][metric] = interval
        else:
            delta = point[reference][metric][0] - point[name][metric][0]
            significant = interval[0] is not None and (interval[0] > 0 or interval[1] < 0)
            out["deltas"][name][metric] = {"delta": _value(delta), "ci": interval, "significant": bool(significant)}
    return out


def compare_runs_ci(a: EvalScores, b: EvalScores, *, contender: str = "ours", labels: tuple[str, str] = ("a", "b"),
                    n_resamples: int = 1000, seed: int = 0, k: int = 10, level: float = 0.95) -> dict[str, Any]:
    """A paired bootstrap of run A's `contender` against run B's, evaluated on the same test rows.

    The result is `bootstrap`'s with the contenders named `labels` and the reference labels[0]: its
    ``deltas[labels[1]]`` holds A - B. Raises ValueError when the runs' rows differ (their keys do not match:
    other data, other evaluation seed) or a run lacks the contender.

    >>> rows = dict(row_user=[0, 0, 1, 1], y=[1, 0, 1, 0], case_user=[0, 1])
    >>> a = EvalScores(**rows, scores={"ours": [0.9, 0.2, 0.6, 0.7]})
    >>> b = EvalScores(**rows, scores={"ours": [0.9, 0.2, 0.6, 0.5]})
    >>> compare_runs_ci(a, b, labels=("run 3", "run 4"), n_resamples=50)["deltas"]["run 4"]["roc_auc"]["delta"]
    -0.25
    """
    if a.key() != b.key():
        raise ValueError(f"the two runs were evaluated on different test rows (key {a.key()} != {b.key()}; differ "
                         f"in {', '.join(a.differences(b))}): a paired comparison needs the same prepared data "
                         "and evaluation seed")
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"labels must be two different names, got {labels!r}")
    missing = [label for label, run in zip(labels, (a, b), strict=True) if contender not in run.contenders]
    if missing:
        raise ValueError(f"contender {contender!r} is missing from run(s) {', '.join(missing)}")
    pair = EvalScores(row_user=a.row_user, y=a.y, case_user=a.case_user,
                      scores={label: run.scores[contender] for label, run in zip(labels, (a, b), strict=True)
                              if contender in run.scores},
                      ranks={label: run.ranks[contender] for label, run in zip(labels, (a, b), strict=True)
                             if contender in run.ranks},
                      row_book=a.row_book, case_positive=a.case_positive)
    return bootstrap(pair, reference=labels[0], others=[labels[1]], n_resamples=n_resamples, seed=seed, k=k,
                     level=level)
