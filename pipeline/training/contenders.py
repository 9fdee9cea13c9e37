"""Two collaborative-filtering contenders for the end model: an item-item co-occurrence kNN and implicit's ALS.

Both learn from the book sets of the train and dev users only (``prepared.users["split"]``), capped like the
end model's (the first `ContenderParams.max_set_size` books), and neither looks at a label or an LF: they
depend on the data and their params alone, so a fit is cached on disk and reused by every retrain.

- **item_knn**: C = item-item co-occurrence counts over the train+dev sets (diagonal zero). A user's score for
  book i is the sum of C[j, i] over the books j of the user's set (every occurrence), divided by
  popularity(i) ** alpha (popularity = shelvings among train+dev users, at least 1). alpha is picked from
  `ContenderParams.knn_alphas` by HR@10 on the val split.
- **als**: ``implicit.cpu.als.AlternatingLeastSquares`` on the train+dev users x books matrix with confidence
  1 + alpha per shelving (Hu, Koren & Volinsky). A user to score (test and val users are not in that
  matrix) gets factors solved from their own set: x_u = (Y^T C_u Y + reg I)^-1 Y^T C_u p_u, what implicit's
  ``recalculate_user`` computes. Score = x_u . y_i. The params are picked from the grid in `ContenderParams`
  by HR@10 on val.

A contender scores the way pipeline.training.evaluate expects: ``bind(csr)`` returns
``score_fn(user_idx, book_idx, held_out=None)``, where held_out[i] is the book removed from user i's set
before scoring (default: the candidate itself; -1 removes nothing), exactly as `endmodel.Scorer.bind` treats
it. Scores lie in [0, 1] through a monotone squash (s / (1 + s) for item_knn, a logistic centred at a
predicted preference of 0.5 for als): they are rankers like the popularity baseline, so ROC-AUC, HR and NDCG
mean something and the metrics at threshold 0.5 little.

How item_knn scores without C. C has about 112M nonzeros at seed scale (900 MB and 6 s to build; a dense
row X_u @ C per test user costs ~1G operations more), so it is never built. With X the train+dev users x
books count matrix, C = X^T X - diag(d), d_b = sum_v x_vb^2; for a user u whose set, after removing the
held-out book h (c occurrences), holds book b x'_b times::

    score(u, b) = sum over v who shelved b of x_vb * (O_u[v] - c * x_vh)  -  x'_b * d_b

with O_u[v] = sum_j x_uj x_vj, u's overlap with train user v (one sparse product per block of users). The
sum is a gather over b's readers (52 on average for a random book) from a dense overlap row. A (user,
held-out) key with many pairs (a ranking case: 101 candidates) has c * x_vh subtracted from its user's row in
place, in turns (every user of a block one key per round), gathered, and added back; a key with few pairs (a
classification row) gathers from the plain row and subtracts c * (X^T X)[h, b], the diagonal when h = b and
else a sorted merge of the two books' reader lists. The fit is X itself plus the choice of alpha; scoring the
28,805 test ranking cases is ~150M gathered entries. The sums are of small integers, exact in float32 while
below 2 ** 24 (checked from the data, else float64), and the result equals the brute-force definition.

The cache: ``<prepared.path>/contenders/v{CONTENDER_VERSION}/{name}-{key}.npz``, key = sha256 of the name,
CONTENDER_VERSION, ``manifest["fingerprint"]`` and the params that contender uses; a JSON copy of that key is
stored in the file and checked on load (a mismatch or a damaged file is refitted, never fatal). Files are
written atomically (`pipeline.data.files.write_atomic`). Without a fingerprint in the manifest nothing is cached.

>>> contenders = fit_contenders(load_prepared("data/processed"))               # doctest: +SKIP
>>> score_fn = contenders["item_knn"].bind(prepared.user_books_csr)            # doctest: +SKIP
>>> contenders["als"].top_k(user=12, csr=prepared.user_books_csr)              # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from pipeline.data.dataset import PreparedData
from pipeline.data.files import write_atomic
from pipeline.training.params import (
    MAX_ALS_FACTORS,
    MAX_ALS_ITERATIONS,
    MAX_GRID_SIZE,
    MAX_NEGATIVES,
    MAX_SEED,
    MAX_SET_SIZE,
    check_at_most,
    check_known_fields,
)
from pipeline.training.sampling import Csr, cap_sets, scoring_pairs, top_unseen

__all__ = [
    "ALS", "CONTENDER_NAMES", "CONTENDER_VERSION", "DEFAULT_PARAMS", "Contender", "ContenderParams", "ItemKNN",
    "cache_folder", "fit_contenders",
]

log = logging.getLogger(__name__)

CONTENDER_VERSION = 1  # bump when a definition changes: caches live under contenders/v{CONTENDER_VERSION}/
CONTENDER_NAMES = ("item_knn", "als")
TRAIN_SPLITS = ("train", "dev")
HIT_K = 10
ALS_THREADS = 2  # implicit's fit threads; each user's and item's solve is independent, so results do not depend on it
ALS_SLOPE = 4.0  # als score = logistic(ALS_SLOPE * (x_u . y_i - 0.5))

_DENSE_BUDGET = 1 << 23  # floats in one dense block of overlap rows (64 MB of float64)
_GATHER_NNZ = 1 << 22  # gathered entries per sparse block
_FLOAT32_EXACT = 2 ** 24  # integers below this add exactly in float32
_HEAVY_KEY = 8  # a (user, held-out) key with at least this many pairs has its held-out book removed in place
_MERGE_PAIRS = 1 << 16  # pairs per sorted-merge block
_ALS_USERS = 256  # users whose normal equations are built at once
_ALS_PAIRS = 1 << 16  # pairs per dot-product block

ScoreFn = Callable[..., np.ndarray]
Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class ContenderParams:
    """Grids and settings of both contenders; validated on construction (lists become tuples).

    Parameters
    ----------
    knn_alphas : tuple of float
        Popularity exponents item_knn tries on val (each >= 0, distinct).
    als_factors, als_regularization, als_iterations, als_alpha : tuple
        The ALS grid: every combination is fitted and scored on val. Confidence is 1 + als_alpha per shelving;
        regularization must be > 0.
    seed : int
        implicit's ``random_state`` and the seed of the val ranking cases.
    max_set_size : int
        The cap on a user's set, as `EndModelParams.max_set_size`.
    val_negatives : int
        Negatives per val ranking case (100, as on test).

    Examples
    --------
    >>> ContenderParams(knn_alphas=[0.5]).knn_alphas
    (0.5,)
    >>> ContenderParams().key("item_knn")
    {'knn_alphas': [0.0, 0.25, 0.5, 0.75, 1.0], 'seed': 0, 'max_set_size': 200, 'val_negatives': 100}
    """

    knn_alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    als_factors: tuple[int, ...] = (32,)
    als_regularization: tuple[float, ...] = (1.0,)
    als_iterations: tuple[int, ...] = (5,)
    als_alpha: tuple[float, ...] = (20.0,)
    seed: int = 0
    max_set_size: int = 200
    val_negatives: int = 100

    def __post_init__(self) -> None:
        for name, kind, low, strict, high in (
                ("knn_alphas", float, 0.0, False, None), ("als_factors", int, 1, False, MAX_ALS_FACTORS),
                ("als_regularization", float, 0.0, True, None), ("als_iterations", int, 1, False, MAX_ALS_ITERATIONS),
                ("als_alpha", float, 0.0, False, None)):
            value = getattr(self, name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"ContenderParams.{name}: expected a non-empty tuple, got {value!r}")
            for v in value:
                _check_number(name, v, kind, low, strict, high)
            if len(set(value)) != len(value):
                raise ValueError(f"ContenderParams.{name}: repeated value in {value!r}")
        check_at_most("ContenderParams.knn_alphas", len(self.knn_alphas), MAX_GRID_SIZE, "a number of values")
        combinations = math.prod(len(getattr(self, f"als_{name}"))
                                 for name in ("factors", "regularization", "iterations", "alpha"))
        check_at_most("ContenderParams: the ALS grid", combinations, MAX_GRID_SIZE, "a number of combinations")
        for name, low, high in (("seed", 0, MAX_SEED), ("max_set_size", 1, MAX_SET_SIZE),
                                ("val_negatives", 1, MAX_NEGATIVES)):
            _check_number(name, getattr(self, name), int, low, False, high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the grids become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContenderParams:
        """Inverse of `to_dict`; unknown keys are a ValueError naming them."""
        check_known_fields(cls, d)
        return cls(**d)

    def als_grid(self) -> list[dict[str, Any]]:
        """Every ALS combination, factors varying slowest."""
        return [{"factors": f, "regularization": r, "iterations": i, "alpha": a}
                for f, r, i, a in product(self.als_factors, self.als_regularization, self.als_iterations,
                                          self.als_alpha)]

    def key(self, name: str) -> dict[str, Any]:
        """The params contender `name` depends on (part of its cache key)."""
        d = self.to_dict()
        prefix = {"item_knn": "knn_", "als": "als_"}[name]
        return {k: v for k, v in d.items() if k.startswith(prefix) or not k.startswith(("knn_", "als_"))}


def _check_number(name: str, value: Any, kind: type, low: float, strict: bool, high: int | None = None) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer | (float if kind is float else int))
    if ok and kind is float:
        ok = math.isfinite(value)
    what = "an integer" if kind is int else "a finite number"
    if not ok or value < low or (strict and value == low):
        raise ValueError(f"ContenderParams.{name}: expected {what} {'>' if strict else '>='} {low}, got {value!r}")
    if high is not None:
        check_at_most(f"ContenderParams.{name}", value, high, what)


DEFAULT_PARAMS = ContenderParams()
"""The defaults: alpha from 0..1 for item_knn; one ALS point (32 factors, reg 1, 5 iterations, alpha 20), the best
of a small sweep on seed-scale val at a few seconds' fit."""


# --------------------------------------------------------------------------------------------------------------
# the contenders


class Contender:
    """A fitted contender (`ItemKNN` or `ALS`), made by `fit_contenders`.

    Attributes
    ----------
    name : str
        ``"item_knn"`` or ``"als"``.
    params : dict
        The chosen params, ``grid`` (every grid point with its ``val_hr@10``), ``val_cases``, ``train_users``,
        ``max_set_size`` and ``fit_seconds`` (of the fit that made it, also when loaded from the cache).
    from_cache : bool
        True when it was loaded from the disk cache.
    max_set_size : int
        Users' sets are capped at this many books before scoring.
    """

    name = ""

    def __init__(self, *, n_books: int, max_set_size: int, params: dict[str, Any], from_cache: bool) -> None:
        self.n_books_ = int(n_books)
        self.max_set_size = int(max_set_size)
        self.params = params
        self.from_cache = from_cache

    def bind(self, csr: Csr) -> ScoreFn:
        """A score function over the users of `csr`, the form pipeline.training.evaluate takes (like `Scorer.bind`).

        Parameters
        ----------
        csr : (offsets, values)
            Every user's book set (`PreparedData.user_books_csr`); capped at ``max_set_size`` here.

        Returns
        -------
        score_fn : callable
            ``score_fn(user_idx, book_idx, held_out=None) -> ndarray`` of float64 scores in [0, 1], one per
            pair. ``held_out[i]`` is removed from user i's set (every occurrence) before scoring; the default
            is the candidate itself, -1 removes nothing. Bad shapes or ids are a ValueError.
        """
        capped = cap_sets(csr, self.max_set_size)
        n_users, n_books = len(capped[0]) - 1, self.n_books_
        if len(capped[1]) and (capped[1].min() < 0 or capped[1].max() >= n_books):
            raise ValueError(f"user sets: book ids must lie in 0..{n_books - 1}")
        state = self._bind_state(capped)

        def score_fn(user_idx: np.ndarray, book_idx: np.ndarray, held_out: np.ndarray | None = None) -> np.ndarray:
            users, books, held = scoring_pairs(user_idx, book_idx, held_out, n_users, n_books)
            return self._squash(self._preference(state, users, books, held))

        return score_fn

    def score(self, user_idx: np.ndarray, book_idx: np.ndarray, csr: Csr,
              held_out: np.ndarray | None = None) -> np.ndarray:
        """``bind(csr)(user_idx, book_idx, held_out)``: scores for the pairs (see `bind`)."""
        return self.bind(csr)(user_idx, book_idx, held_out)

    def top_k(self, user: int, csr: Csr, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The user's k best books among those they never shelved, for the Recommend page.

        Parameters
        ----------
        user : int
            A user_idx of `csr`.
        csr : (offsets, values)
            Every user's book set; "never shelved" is against the full set, scores use the capped one with
            nothing held out.
        k : int
            How many books.

        Returns
        -------
        book_idx, scores : ndarray
            Best first, ties by book_idx (as `endmodel.Scorer.top_k`).
        """
        return top_unseen(self.bind(csr), user, csr, self.n_books_, k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r}, from_cache={self.from_cache})"

    # the parts a contender supplies
    def _bind_state(self, capped: Csr) -> Any:
        raise NotImplementedError

    def _preference(self, state: Any, users: np.ndarray, books: np.ndarray, held: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _squash(self, preference: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError


def _counts(x: sparse.csr_matrix, users: np.ndarray, books: np.ndarray) -> np.ndarray:
    """x[user, book] for each pair (0 for a book id -1); x canonical, so each is a binary search in one row."""
    out = np.zeros(len(users))
    ok = np.flatnonzero(books >= 0)
    if len(ok):
        out[ok] = np.asarray(x[users[ok], books[ok]]).ravel()
    return out


def _held_counts(x: sparse.csr_matrix, users: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c, h): occurrences of the held-out book in each capped set, and the held-out book where c > 0 else -1."""
    c = _counts(x, users, held)
    return c, np.where(c > 0, held, -1)


def _user_chunks(users: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(distinct users, pair positions) for consecutive groups of at most `size` distinct users."""
    distinct, pos = np.unique(users, return_inverse=True)
    order = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[order], np.arange(0, len(distinct) + size, size))
    for i in range(len(bounds) - 1):
        if bounds[i] < bounds[i + 1]:
            yield distinct[i * size:(i + 1) * size], order[bounds[i]:bounds[i + 1]]


def _incidence(csr: Csr, n_books: int, *, binary: bool = False) -> sparse.csr_matrix:
    """Users x books, canonical: how often each book occurs in each set (1 where it occurs, when binary)."""
    offsets, values = csr
    m = sparse.csr_matrix((np.ones(len(values)), np.asarray(values, dtype=np.int32), np.asarray(offsets)),
                          shape=(len(offsets) - 1, n_books))
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


class ItemKNN(Contender):
    """Item-item co-occurrence kNN, scored through the train+dev matrix (see the module docstring).

    Learned: ``train_t_`` (books x train+dev users, counts), ``popularity_`` (shelvings, at least 1),
    ``diag_`` (C's dropped diagonal, sum_v x_vb^2), ``alpha_``.
    """

    name = "item_knn"

    def __init__(self, train_t: sparse.csr_matrix, alpha: float, *, max_set_size: int, params: dict[str, Any],
                 from_cache: bool = False) -> None:
        super().__init__(n_books=train_t.shape[0], max_set_size=max_set_size, params=params,
                         from_cache=from_cache)
        train_t = sparse.csr_matrix(train_t, dtype=np.float64)
        train_t.sum_duplicates()  # canonical: sorted user lists, as the merge and the gathers need
        self.train_t_ = train_t
        self.alpha_ = float(alpha)
        rows = np.repeat(np.arange(train_t.shape[0]), np.diff(train_t.indptr))
        self.popularity_ = np.maximum(np.bincount(rows, weights=train_t.data, minlength=train_t.shape[0]), 1.0)
        self.diag_ = np.bincount(rows, weights=train_t.data ** 2, minlength=train_t.shape[0])
        # The gathers add integers: float32 is exact while every partial sum stays below 2 ** 24. A sum is at
        # most (shelvings of b) * (largest overlap) <= popularity * max_set_size * (largest count) ** 2.
        largest = float(train_t.data.max()) if train_t.nnz else 1.0
        bound = float(self.popularity_.max()) * max_set_size * largest ** 2
        self._dtype = np.float32 if bound < _FLOAT32_EXACT else np.float64
        self._gather_t = sparse.csr_matrix((train_t.data.astype(self._dtype), train_t.indices.astype(np.int32),
                                            train_t.indptr), shape=train_t.shape)

    def _bind_state(self, capped: Csr) -> sparse.csr_matrix:
        return _incidence(capped, self.n_books_).astype(self._dtype)

    def _squash(self, preference: np.ndarray) -> np.ndarray:
        return preference / (1.0 + preference)

    def _preference(self, state, users, books, held):
        return self.cooccurrence(state, users, books, held) / self.popularity_[books] ** self.alpha_

    def cooccurrence(self, x: sparse.csr_matrix, users: np.ndarray, books: np.ndarray,
                     held: np.ndarray) -> np.ndarray:
        """sum over the books j of each user's set without the held-out book of C[j, book] (float64, exact).

        x: the users' capped sets as counts (users x books, canonical, as `_bind_state` makes it).
        """
        out = np.empty(len(users))
        if not len(users):
            return out
        t = self._gather_t
        stride = self.n_books_ + 1
        c, h = _held_counts(x, users, held)
        own = _counts(x, users, books) - c * (books == h)  # x'_b: the candidate's count in the reduced set
        for chunk_users, sel in _user_chunks(users, max(1, _DENSE_BUDGET // max(t.shape[1], 1))):
            overlap = (x[chunk_users] @ t).toarray()  # O_u[v] = |S_u ∩ S_v|, with multiplicity
            upos = np.searchsorted(chunk_users, users[sel])
            key_ids, key_of_pair, key_pairs = np.unique(upos * stride + (h[sel] + 1), return_inverse=True,
                                                        return_counts=True)
            heavy = key_pairs[key_of_pair] >= _HEAVY_KEY
            light = np.flatnonzero(~heavy)
            if len(light):
                p = sel[light]
                out[p] = self._gather(overlap, upos[light], books[p]) - c[p] * self._pair_counts(h[p], books[p])
            heavy_keys = np.flatnonzero(key_pairs >= _HEAVY_KEY)
            if len(heavy_keys):
                pairs = np.flatnonzero(heavy)
                key_user, key_held = np.divmod(key_ids[heavy_keys], stride)
                key_c = np.zeros(len(heavy_keys))
                key_of = np.searchsorted(heavy_keys, key_of_pair[pairs])
                key_c[key_of] = c[sel[pairs]]
                out[sel[pairs]] = self._in_turns(overlap, key_user, key_held - 1, key_c, key_of, books[sel[pairs]])
        return out - own * self.diag_[books]

    def _in_turns(self, overlap: np.ndarray, key_user: np.ndarray, key_held: np.ndarray, key_c: np.ndarray,
                  key_of: np.ndarray, books: np.ndarray) -> np.ndarray:
        """The gathered sums for pairs of keys (user row, held-out book, its count) with many pairs each.

        A user's keys take turns: in round r every user has its r-th key's held-out book removed from its
        overlap row in place (O_u[v] -= c * x_vh), the pairs of those keys are gathered, and the row is
        restored (exact: small integers). Keys must be sorted by user.
        """
        t = self._gather_t
        flat = overlap.ravel()  # a view
        out = np.empty(len(books))
        key_round = np.arange(len(key_user)) - np.searchsorted(key_user, key_user)
        rounds = int(key_round.max()) + 1
        key_order = np.argsort(key_round, kind="stable")
        key_bounds = np.searchsorted(key_round[key_order], np.arange(rounds + 1))
        pair_order = np.argsort(key_round[key_of] * len(key_user) + key_of, kind="stable")
        pair_bounds = np.searchsorted(key_round[key_of[pair_order]], np.arange(rounds + 1))
        for r in range(rounds):
            keys = key_order[key_bounds[r]:key_bounds[r + 1]]
            keys = keys[key_held[keys] >= 0]
            held_rows = t[key_held[keys]]
            lens = np.diff(held_rows.indptr)
            cells = np.repeat(key_user[keys] * t.shape[1], lens) + held_rows.indices  # distinct: a key a user
            delta = np.repeat(key_c[keys].astype(t.dtype), lens) * held_rows.data
            flat[cells] -= delta
            pairs = pair_order[pair_bounds[r]:pair_bounds[r + 1]]
            out[pairs] = self._gather(overlap, key_user[key_of[pairs]], books[pairs])
            flat[cells] += delta
        return out

    def _pair_counts(self, held: np.ndarray, books: np.ndarray) -> np.ndarray:
        """(X^T X)[h, b] for each pair, 0 where h is -1: the diagonal when h == b, else a sorted merge of the
        two books' user lists."""
        out = np.where(held == books, self.diag_[books], 0.0)
        other = np.flatnonzero((held >= 0) & (held != books))
        t = self.train_t_
        for start in range(0, len(other), _MERGE_PAIRS):
            part = other[start:start + _MERGE_PAIRS]
            out[part] = np.asarray(t[held[part]].multiply(t[books[part]]).sum(axis=1)).ravel()
        return out

    def _gather(self, rows: np.ndarray, row_of_pair: np.ndarray, books: np.ndarray) -> np.ndarray:
        """sum over the users v of book b of x_vb * rows[r, v], for each pair (r, b): one sparse mat-vec over a
        block-diagonal layout, in blocks of at most _GATHER_NNZ entries."""
        t = self._gather_t
        width = rows.shape[1]
        out = np.zeros(len(books))
        if width == 0:
            return out
        flat = np.ascontiguousarray(rows).ravel()
        ends = np.cumsum(np.diff(t.indptr)[books])
        start = 0
        while start < len(books):
            done = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, done + _GATHER_NNZ, side="right")))
            part = t[books[start:stop]]
            offsets = (row_of_pair[start:stop] * width).astype(part.indices.dtype)  # < _DENSE_BUDGET
            cols = part.indices + np.repeat(offsets, np.diff(part.indptr))
            block = sparse.csr_matrix((part.data, cols, part.indptr), shape=(stop - start, len(flat)))
            out[start:stop] = block @ flat
            start = stop
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        t = self.train_t_
        return {"indptr": t.indptr.astype(np.int64), "indices": t.indices.astype(np.int32),
                "data": t.data.astype(np.float32), "shape": np.array(t.shape, dtype=np.int64),
                "alpha": np.array(self.alpha_)}

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], *, max_set_size: int, params: dict[str, Any]) -> ItemKNN:
        t = sparse.csr_matrix((a["data"].astype(np.float64), a["indices"], a["indptr"]), shape=tuple(a["shape"]))
        return cls(t, float(a["alpha"]), max_set_size=max_set_size, params=params, from_cache=True)


class ALS(Contender):
    """implicit's ALS item factors; a user's factors are solved from their own set (see the module docstring).

    Learned: ``item_factors_`` (books x factors, float64), ``regularization_``, ``alpha_`` (confidence
    1 + alpha per shelving).
    """

    name = "als"

    def __init__(self, item_factors: np.ndarray, regularization: float, alpha: float, *, max_set_size: int,
                 params: dict[str, Any], from_cache: bool = False) -> None:
        super().__init__(n_books=len(item_factors), max_set_size=max_set_size, params=params,
                         from_cache=from_cache)
        self.item_factors_ = np.asarray(item_factors, dtype=np.float64)
        self.regularization_ = float(regularization)
        self.alpha_ = float(alpha)
        y = self.item_factors_
        with _single_threaded_blas():
            self._yty_reg = y.T @ y + self.regularization_ * np.eye(y.shape[1])
        self._y_padded = np.vstack([y, np.zeros((1, y.shape[1]))])  # row n_books: the padding, zero

    def _bind_state(self, capped: Csr) -> sparse.csr_matrix:
        return _incidence(capped, self.n_books_, binary=True)

    def _squash(self, preference: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * ALS_SLOPE * (preference - 0.5)))

    def user_factors(self, x: sparse.csr_matrix, users: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Factors of each (user, held-out book) from the user's set in `x` (binary, users x books) without that
        book: implicit's recalculate_user on the reduced set, batched.

        Per user: A = Y^T Y + reg I + alpha Y_S^T Y_S, b = (1 + alpha) Y_S^T 1, x = A^-1 b. Removing book h
        from S is a rank-one downdate of A and b, solved with A^-1 by Sherman-Morrison (A minus the update
        stays positive definite: its smallest eigenvalue is at least reg).
        """
        users = np.asarray(users, dtype=np.int64)
        held = np.asarray(held, dtype=np.int64)
        out = np.empty((len(users), self.item_factors_.shape[1]))
        with _single_threaded_blas():
            for chunk_users, sel in _user_chunks(users, _ALS_USERS):
                inverse, base, rhs = self._normal_equations(x, chunk_users)
                pos = np.searchsorted(chunk_users, users[sel])
                h = held[sel]
                has_h = np.zeros(len(sel), dtype=bool)
                valid = np.flatnonzero(h >= 0)
                if len(valid):
                    has_h[valid] = np.asarray(x[chunk_users[pos[valid]], h[valid]]).ravel() > 0
                f = base[pos]
                rows = np.flatnonzero(has_h)
                if len(rows):
                    a = self.alpha_
                    y_h = self.item_factors_[h[rows]]
                    m = inverse[pos[rows]]
                    w = np.einsum("pij,pj->pi", m, y_h)  # A^-1 y_h
                    beta = 1.0 - a * np.einsum("pi,pi->p", y_h, w)
                    b_new = rhs[pos[rows]] - (1.0 + a) * y_h
                    f[rows] = (f[rows] - (1.0 + a) * w
                               + (a * np.einsum("pi,pi->p", w, b_new) / beta)[:, None] * w)
                out[sel] = f
        return out

    def _normal_equations(self, x: sparse.csr_matrix, users: np.ndarray):
        """(A^-1, x, b) for each user over the user's whole set."""
        sub = x[users]
        lens = np.diff(sub.indptr)
        width = max(int(lens.max()) if len(lens) else 0, 1)
        index = np.full((len(users), width), self.n_books_)  # padding -> the zero row
        index[np.arange(width) < lens[:, None]] = sub.indices
        padded = self._y_padded[index]  # users x width x factors
        gram = np.matmul(padded.transpose(0, 2, 1), padded)
        rhs = (1.0 + self.alpha_) * padded.sum(axis=1)
        inverse = np.linalg.inv(self._yty_reg + self.alpha_ * gram)
        return inverse, np.einsum("uij,uj->ui", inverse, rhs), rhs

    def _preference(self, state, users, books, held):
        out = np.empty(len(users))
        if not len(users):
            return out
        _, h = _held_counts(state, users, held)
        keys = users * (self.n_books_ + 1) + (h + 1)
        key_ids, key_of_pair = np.unique(keys, return_inverse=True)
        key_users, key_h = np.divmod(key_ids, self.n_books_ + 1)
        factors = self.user_factors(state, key_users, key_h - 1)
        for start in range(0, len(users), _ALS_PAIRS):
            stop = start + _ALS_PAIRS
            out[start:stop] = np.einsum("pf,pf->p", factors[key_of_pair[start:stop]],
                                        self.item_factors_[books[start:stop]])
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors_.astype(np.float32), "regularization": np.array(self.regularization_),
                "alpha": np.array(self.alpha_)}

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], *, max_set_size: int, params: dict[str, Any]) -> ALS:
        return cls(a["item_factors"], float(a["regularization"]), float(a["alpha"]), max_set_size=max_set_size,
                   params=params, from_cache=True)


@contextmanager
def _single_threaded_blas():
    """BLAS on one thread: many small solves (and implicit's per-row BLAS calls) lose badly to thread start-up."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------------------------------------------
# fitting


def fit_contenders(prepared: PreparedData, params: ContenderParams = DEFAULT_PARAMS, *,
                   cache_dir: str | Path | None = None, progress: Progress | None = None) -> dict[str, Contender]:
    """Fit (or load from the disk cache) both contenders on the train+dev users, params picked on val.

    Parameters
    ----------
    prepared : PreparedData
        The dataset; its ``manifest["fingerprint"]`` keys the cache (no fingerprint: nothing is cached).
    params : ContenderParams
        Grids and settings.
    cache_dir : path, optional
        The cache folder; default `cache_folder(prepared)`.
    progress : callable, optional
        ``progress(fraction, detail)``, called as the work advances (fraction of both contenders, 0..1).

    Returns
    -------
    dict
        ``{"item_knn": ItemKNN, "als": ALS}``; ``from_cache`` says which were loaded.
    """
    report = progress or (lambda fraction, detail: None)
    folder = Path(cache_dir) if cache_dir is not None else cache_folder(prepared)
    fingerprint = prepared.manifest.get("fingerprint")
    out: dict[str, Contender] = {}
    val_cases = None
    for i, (name, fit) in enumerate((("item_knn", _fit_item_knn), ("als", _fit_als))):
        share = (i / 2, (i + 1) / 2)
        key = {"contender": name, "version": CONTENDER_VERSION, "fingerprint": fingerprint,
               "params": params.key(name)}
        path = folder / f"{name}-{_digest(key)}.npz" if fingerprint else None
        cached = _load(path, key) if path is not None else None
        if cached is not None:
            report(share[1], f"{name}: loaded from the cache")
            out[name] = cached
            continue
        if val_cases is None:
            val_cases = _val_cases(prepared, params)

        def step(fraction: float, detail: str, _share=share, _name=name) -> None:
            report(_share[0] + fraction * (_share[1] - _share[0]), f"{_name}: {detail}")

        started = time.perf_counter()
        contender = fit(prepared, params, val_cases, step)
        contender.params["fit_seconds"] = round(time.perf_counter() - started, 3)
        if path is not None:
            try:
                _save(path, key, contender)
            except OSError as e:  # a read-only data folder: the fit is still good, just not kept
                log.warning("could not cache contender %s in %s: %s", name, path, e)
        report(share[1], f"{name}: fitted")
        out[name] = contender
    return out


def cache_folder(prepared: PreparedData) -> Path:
    """Where `fit_contenders` caches fits by default: ``<prepared.path>/contenders/v{CONTENDER_VERSION}``."""
    return Path(prepared.path) / "contenders" / f"v{CONTENDER_VERSION}"


def _train_sets(prepared: PreparedData, max_set_size: int) -> Csr:
    """The capped sets of the train+dev users, in user order."""
    offsets, values = cap_sets(prepared.user_books_csr, max_set_size)
    chosen = np.flatnonzero(prepared.users["split"].isin(TRAIN_SPLITS).to_numpy())
    lengths = offsets[chosen + 1] - offsets[chosen]
    new_offsets = np.zeros(len(chosen) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], lengths)
    return new_offsets, values[np.repeat(offsets[chosen], lengths) + within]


def _val_cases(prepared: PreparedData, params: ContenderParams):
    from pipeline.training.evaluate import ranking_cases

    return ranking_cases(prepared.splits["val"], prepared.user_books_csr, len(prepared.books),
                         n_negatives=params.val_negatives, seed=params.seed)


def _case_scores(score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], cases,
                 chunk_cases: int = 4096) -> np.ndarray:
    """[cases, 1 + negatives]: score(users, books, held) with the positive first and held out, as
    pipeline.training.evaluate.ranking_metrics scores a case."""
    c, n = cases.negatives.shape
    out = np.empty((c, n + 1))
    for start in range(0, c, chunk_cases):
        stop = min(start + chunk_cases, c)
        books = np.concatenate([cases.positive[start:stop, None], cases.negatives[start:stop]], axis=1)
        out[start:stop] = score(np.repeat(cases.case_user[start:stop], n + 1), books.ravel(),
                                np.repeat(cases.positive[start:stop], n + 1)).reshape(stop - start, n + 1)
    return out


def _hit_rate(scores: np.ndarray, k: int = HIT_K) -> float:
    """HR@k with ties against the positive (column 0), as pipeline.training.evaluate.ranking_metrics."""
    if not len(scores):
        return math.nan
    return float(((scores[:, 1:] >= scores[:, :1]).sum(axis=1) < k).mean())


def _best(values: list[float]) -> int:
    """Index of the highest value, the first on ties; 0 when every value is NaN (no val cases)."""
    finite = [(-v, i) for i, v in enumerate(values) if not math.isnan(v)]
    return min(finite)[1] if finite else 0


def _fit_item_knn(prepared: PreparedData, params: ContenderParams, val_cases, step: Progress) -> ItemKNN:
    n_books = len(prepared.books)
    step(0.0, "train+dev matrix")
    train_t = _incidence(_train_sets(prepared, params.max_set_size), n_books).T.tocsr()
    model = ItemKNN(train_t, 0.0, max_set_size=params.max_set_size, params={})
    step(0.1, f"scoring {len(val_cases)} val ranking cases")
    x = model._bind_state(cap_sets(prepared.user_books_csr, params.max_set_size))
    raw = _case_scores(lambda u, b, h: model.cooccurrence(x, u, b, h), val_cases)
    books = np.concatenate([val_cases.positive[:, None], val_cases.negatives], axis=1)
    hits = []
    for alpha in params.knn_alphas:
        s = raw / model.popularity_[books] ** alpha
        hits.append(_hit_rate(model._squash(s)))
    best = _best(hits)
    model.alpha_ = float(params.knn_alphas[best])
    model.params = {"alpha": model.alpha_, "max_set_size": params.max_set_size,
                    "train_users": int(train_t.shape[1]), "val_cases": len(val_cases),
                    "grid": [{"alpha": float(a), "val_hr@10": h} for a, h in zip(params.knn_alphas, hits, strict=True)]}
    return model


def _fit_als(prepared: PreparedData, params: ContenderParams, val_cases, step: Progress) -> ALS:
    from implicit.cpu.als import AlternatingLeastSquares

    n_books = len(prepared.books)
    train = _incidence(_train_sets(prepared, params.max_set_size), n_books, binary=True).astype(np.float32)
    x = _incidence(cap_sets(prepared.user_books_csr, params.max_set_size), n_books, binary=True)
    grid = params.als_grid()
    results: list[dict[str, Any]] = []
    best: ALS | None = None
    for i, point in enumerate(grid):
        step(i / len(grid), "fit " + ", ".join(f"{k}={v}" for k, v in point.items()))
        confidence = train.copy()
        confidence.data[:] = 1.0 + point["alpha"]
        with _single_threaded_blas():
            als = AlternatingLeastSquares(factors=point["factors"], regularization=point["regularization"],
                                          alpha=1.0, iterations=point["iterations"], random_state=params.seed,
                                          num_threads=ALS_THREADS, dtype=np.float32)
            als.fit(confidence, show_progress=False)
        model = ALS(als.item_factors, point["regularization"], point["alpha"], max_set_size=params.max_set_size,
                    params={})
        scores = _case_scores(lambda u, b, h, m=model: m._preference(x, u, b, h), val_cases)
        results.append({**point, "val_hr@10": _hit_rate(model._squash(scores))})
        if _best([r["val_hr@10"] for r in results]) == i:  # keep only the best model so far
            best = model
    assert best is not None
    chosen = results[_best([r["val_hr@10"] for r in results])]
    best.params = {k: chosen[k] for k in ("factors", "regularization", "iterations", "alpha")} | {
        "max_set_size": params.max_set_size, "seed": params.seed, "train_users": int(train.shape[0]),
        "val_cases": len(val_cases), "grid": results}
    return best


# --------------------------------------------------------------------------------------------------------------
# the cache


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _save(path: Path, key: dict[str, Any], contender: Contender) -> None:
    meta = {"key": key, "params": contender.params, "max_set_size": contender.max_set_size}
    arrays = contender._arrays() | {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}

    write_atomic(path, lambda f: np.savez(f, **arrays))


def _load(path: Path, key: dict[str, Any]) -> Contender | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("key") != key:
            log.info("contender cache %s is for other data or params: refitting", path)
            return None
        cls = {"item_knn": ItemKNN, "als": ALS}[key["contender"]]
        return cls._from_arrays(arrays, max_set_size=meta["max_set_size"], params=meta["params"])
    except Exception as e:  # a damaged cache is refitted, never fatal
        log.warning("ignoring unreadable contender cache %s: %s", path, e)
        return None
