"""Our end model: a hybrid recommender in the seed's framing, read signal x like signal.

Input: the user's other books (the set without the held-out book); candidate: a book; output: the probability
that the user reads *and* likes it. Three Keras parts, one saved model:

- **read ranker** (no LF needed): an MLP over read features of the (user, candidate) pair, computed from every
  shelving of the train and dev users: implicit-ALS preference (the user's factors solved from their other
  books), item co-occurrence (item-kNN) sums, popularity, how many of the user's other books share the
  candidate's first author and what share of the set that is, the set size, the book's Goodreads average rating
  and ratings count, and the shelf affinity: how close the candidate's popular shelves ("fantasy", "dystopian")
  are to those of the user's other books (pipeline.training.booktags). It is trained with a softmax over each
  val book the user read, liked or not, against `HybridParams.negatives` books the user never shelved (the
  ranking protocol), with early stopping on a fifth of the val users. The ALS and kNN parts are the cached
  contender fits of pipeline.training.contenders, so they come from the data alone.
- **like head** (the label model's labels): an MLP over the pair's ALS preference, popularity, author, rating and
  shelf-affinity features plus a learned per-book "liked" bias, trained with binary cross-entropy on the label
  model's labels of the covered train rows, early stopping on the dev gold rows of the training labels (the seed
  adds those to its training set; here they only pick the stopping point, so what the head learns comes from the
  LFs). It is what tells a liked book from a read-but-disliked one: the ranker never sees a rating.
- **output**: ``sigmoid(a * read + b * like + c)`` with a, b >= 0, fit on val rows built by the seed's
  classification protocol (labelled rows plus sampled unseen books as negatives, weighted so positives keep the
  protocol's share). The weights cannot turn negative, so labels that point the wrong way cannot be flipped back
  by the output: they cost accuracy, as they should.

`HybridScorer` scores pairs the way pipeline.training.evaluate expects (``bind(csr)`` -> ``score_fn(user_idx, book_idx,
held_out=None)``, held_out as in `endmodel.Scorer`) and lists a user's top k. TensorFlow is imported only in
the functions that train or load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from pipeline.data.dataset import PreparedData
from pipeline.training.booktags import shelf_tags
from pipeline.training.contenders import ALS, ItemKNN
from pipeline.training.endmodel import keras_classes
from pipeline.training.params import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_NEGATIVES,
    MAX_SEED,
    MAX_SET_SIZE,
    check_at_most,
    check_known_fields,
    check_layers,
)
from pipeline.training.sampling import Csr, UserSets, cap_sets, sample_unseen, scoring_pairs, top_unseen

__all__ = ["HYBRID_NAME", "HybridFeatures", "HybridParams", "HybridScorer", "READ_FEATURES", "LIKE_FEATURES",
           "train_hybrid"]

HYBRID_NAME = "hybrid"
READ_FEATURES = ("als", "log_knn", "log_knn_per_pop", "log_pop", "log_same_author", "same_author_share",
                 "log_set_size", "average_rating", "log_ratings_count", "shelf_affinity")
LIKE_FEATURES = ("als", "log_pop", "log_same_author", "same_author_share", "log_set_size", "average_rating",
                 "log_ratings_count", "shelf_affinity")
_LIKE_COLUMNS = [READ_FEATURES.index(f) for f in LIKE_FEATURES]


@dataclass(frozen=True)
class HybridParams:
    """Settings of our model; validated on construction.

    hidden: the read ranker's layer sizes; like_hidden: the like head's; negatives: unseen books per val book
    read in the ranker's softmax (and per positive in the output's fit); epochs / patience: per part, early
    stopping on held-out rows restores the best weights.
    """

    hidden: tuple[int, ...] = (32, 32)
    like_hidden: tuple[int, ...] = (32,)
    negatives: int = 20
    learning_rate: float = 3e-3
    batch_size: int = 1024
    epochs: int = 30
    patience: int = 3
    max_set_size: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "like_hidden"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
                value = tuple(value)
            if not isinstance(value, tuple) or not all(_is_int(v, 1) for v in value):
                raise ValueError(f"HybridParams.{name}: expected a list of layer sizes >= 1, got {value!r}")
            check_layers(f"HybridParams.{name}", value)
        for name, limit in (("negatives", MAX_NEGATIVES), ("batch_size", MAX_BATCH_SIZE), ("epochs", MAX_EPOCHS),
                            ("max_set_size", MAX_SET_SIZE)):
            if not _is_int(getattr(self, name), 1):
                raise ValueError(f"HybridParams.{name}: expected an integer >= 1, got {getattr(self, name)!r}")
            check_at_most(f"HybridParams.{name}", getattr(self, name), limit)
        for name, limit in (("patience", MAX_EPOCHS), ("seed", MAX_SEED)):
            if not _is_int(getattr(self, name), 0):
                raise ValueError(f"HybridParams.{name}: expected an integer >= 0, got {getattr(self, name)!r}")
            check_at_most(f"HybridParams.{name}", getattr(self, name), limit)
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"HybridParams.learning_rate: expected a positive finite number, got {lr!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"], d["like_hidden"] = list(self.hidden), list(self.like_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HybridParams:
        """Our defaults with `d` applied; an unknown key is a ValueError naming it."""
        check_known_fields(cls, d, "end model params")
        return replace(cls(), **d)


def _is_int(value: Any, minimum: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= minimum


# --------------------------------------------------------------------------------------------------------------
# features


class HybridFeatures:
    """The pair features of `READ_FEATURES`, from the contenders' fits and the data.

    ``bind(csr)`` -> ``features(user_idx, book_idx, held_out=None)`` -> float32 [n, len(READ_FEATURES)];
    held_out as in `endmodel.Scorer` (default: the candidate; -1 removes nothing).
    """

    def __init__(self, item_knn: ItemKNN, als: ALS, popularity: np.ndarray, first_author: np.ndarray,
                 max_set_size: int, average_rating: np.ndarray, ratings_count: np.ndarray,
                 tags: np.ndarray) -> None:
        self.item_knn, self.als = item_knn, als
        self.popularity = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0)
        # the book's metadata: its Goodreads average rating and how many ratings it has (all readers, not ours)
        self.average_rating = np.nan_to_num(np.asarray(average_rating, dtype=np.float64))
        self.log_ratings_count = np.log1p(np.maximum(np.asarray(ratings_count, dtype=np.float64), 0.0))
        self.tags = np.asarray(tags, dtype=np.float32)  # [n_books, n_tags], unit rows (pipeline.training.booktags)
        codes = pd.factorize(pd.Series(first_author).astype(str))[0]
        self.author = codes.astype(np.int64)
        self.max_set_size = int(max_set_size)

    @classmethod
    def from_data(cls, prepared: PreparedData, contenders: dict, max_set_size: int) -> HybridFeatures:
        from pipeline.training.evaluate import popularity_scores

        books = prepared.books
        return cls(contenders["item_knn"], contenders["als"], popularity_scores(prepared),
                   books["first_author"].to_numpy(), max_set_size, books["average_rating"].to_numpy(),
                   books["ratings_count"].to_numpy(), shelf_tags(books)[0])

    def bind(self, csr: Csr) -> Callable[..., np.ndarray]:
        capped = cap_sets(csr, self.max_set_size)
        sets = UserSets(capped, len(self.popularity))
        authors = UserSets((capped[0], self.author[capped[1]]), int(self.author.max()) + 1)
        knn_state, als_state = self.item_knn._bind_state(capped), self.als._bind_state(capped)
        lengths = sets.lengths.astype(np.float64)
        # each user's summed tag vector over the capped set (the held-out book is subtracted per pair)
        membership = sparse.csr_matrix((np.ones(len(capped[1]), np.float32), capped[1], capped[0]),
                                       shape=(sets.n_users, len(self.popularity)))
        profile = np.asarray(membership @ self.tags, dtype=np.float32)

        def features(user_idx: np.ndarray, book_idx: np.ndarray, held_out: np.ndarray | None = None, *,
                     knn: bool = True) -> np.ndarray:
            users = np.asarray(user_idx, dtype=np.int64)
            books = np.asarray(book_idx, dtype=np.int64)
            held = books if held_out is None else np.asarray(held_out, dtype=np.int64)
            c = sets.count(users, held).astype(np.float64)
            same_author = (authors.count(users, self.author[books])
                           - c * (self.author[np.maximum(held, 0)] == self.author[books]) * (held >= 0))
            size = lengths[users] - c
            # knn=False leaves the co-occurrence columns 0 (the like head does not use them; for train users
            # they would count the user's own shelves)
            knn = self.item_knn._preference(knn_state, users, books, held) if knn else np.zeros(len(users))
            pop = self.popularity[books]
            affinity = self._affinity(profile, users, books, held, c) / np.maximum(size, 1.0)
            return np.stack([self.als._preference(als_state, users, books, held), np.log1p(knn),
                             np.log1p(knn / np.sqrt(pop)), np.log(pop), np.log1p(same_author),
                             same_author / np.maximum(size, 1.0), np.log1p(size), self.average_rating[books],
                             self.log_ratings_count[books], affinity],
                            axis=1).astype(np.float32)

        return features

    def _affinity(self, profile, users, books, held, c, chunk: int = 1 << 15) -> np.ndarray:
        """(user's tag sum without the held-out book) . (candidate's tags), in chunks to bound memory."""
        out = np.empty(len(users), dtype=np.float64)
        for start in range(0, len(users), chunk):
            sl = slice(start, start + chunk)
            cand = self.tags[books[sl]]
            user = profile[users[sl]] - c[sl, None].astype(np.float32) * self.tags[np.maximum(held[sl], 0)]
            out[sl] = np.einsum("ij,ij->i", user, cand)
        return out


# --------------------------------------------------------------------------------------------------------------
# the Keras model


def _mlp(keras, sizes: tuple[int, ...], name: str) -> list:
    return ([keras.layers.Dense(s, activation="relu", name=f"{name}_{i}") for i, s in enumerate(sizes)]
            + [keras.layers.Dense(1, name=f"{name}_logit")])


def _apply(layers: list, x):
    for layer in layers:
        x = layer(x)
    return x


class _Parts:
    """The layers of our model, shared by the three training sub-models and the saved full model."""

    def __init__(self, keras, n_books: int, params: HybridParams, read_stats, like_stats) -> None:
        L = keras.layers
        self.read_norm = L.Normalization(mean=read_stats[0], variance=read_stats[1], name="read_norm")
        self.like_norm = L.Normalization(mean=like_stats[0], variance=like_stats[1], name="like_norm")
        self.read = _mlp(keras, params.hidden, "read")
        self.like = _mlp(keras, params.like_hidden, "like")
        self.book_bias = L.Embedding(n_books, 1, embeddings_initializer="zeros", name="book_like_bias")
        self.output = L.Dense(1, activation="sigmoid", kernel_constraint=keras.constraints.NonNeg(),
                              name="output")

    def read_logit(self, x):
        return _apply(self.read, self.read_norm(x))

    def like_logit(self, keras, x, book):
        bias = keras.layers.Flatten()(self.book_bias(book))
        return _apply(self.like, self.like_norm(x)) + bias


@cache
def _take_columns():
    """A registered layer that keeps some feature columns (a Lambda would not load in Keras' safe mode)."""
    keras = keras_classes().keras

    @keras.saving.register_keras_serializable(package="lfworkbench")
    class TakeColumns(keras.layers.Layer):
        def __init__(self, columns, **kwargs):
            super().__init__(**kwargs)
            self.columns = [int(c) for c in columns]

        def call(self, x):
            return keras.ops.take(x, self.columns, axis=-1)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], len(self.columns))

        def get_config(self):
            return {**super().get_config(), "columns": self.columns}

    return TakeColumns


def fit_output(read: np.ndarray, like: np.ndarray, y: np.ndarray, weight: np.ndarray,
               case_read: np.ndarray, case_like: np.ndarray) -> np.ndarray:
    """(a, b, c) of the output sigmoid(a read + b like + c), a, b >= 0, minimising the sum of two mean losses:
    the weighted cross-entropy of y on the classification rows (read, like, y, weight: 1-d) and the softmax
    cross-entropy of the first candidate in each ranking case (case_read, case_like: [cases, candidates]).
    The first calibrates the probability, the second keeps the ranking from leaning on the like head more than
    ranking gains from it. Three numbers: L-BFGS-B, no training loop."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit, softmax

    r, li = read.astype(np.float64), like.astype(np.float64)
    y, w = y.astype(np.float64), weight.astype(np.float64) / weight.sum()
    cr, cl = case_read.astype(np.float64), case_like.astype(np.float64)

    def loss(theta):
        a, b, c = theta
        z = a * r + b * li + c
        bce = -np.sum(w * (y * log_expit(z) + (1 - y) * log_expit(-z)))
        g = w * (expit(z) - y)
        logits = a * cr + b * cl
        prob = softmax(logits, axis=1)
        rank_loss = -np.mean(np.log(np.maximum(prob[:, 0], 1e-300)))
        resid = prob.copy()
        resid[:, 0] -= 1.0
        n = len(cr)
        grad = np.array([g @ r + np.sum(resid * cr) / n, g @ li + np.sum(resid * cl) / n, g.sum()])
        return bce + rank_loss, grad

    result = minimize(loss, np.array([1.0, 0.0, 0.0]), jac=True, method="L-BFGS-B",
                      bounds=[(0, None), (0, None), (None, None)])
    return result.x


def build_model(keras, n_books: int, params: HybridParams, read_stats, like_stats):
    """(full model, parts): inputs ``read_features`` [B, 7], ``book_idx`` [B]; output [B, 1] probabilities."""
    parts = _Parts(keras, n_books, params, read_stats, like_stats)
    read_x = keras.Input((len(READ_FEATURES),), name="read_features")
    book = keras.Input((), dtype="int32", name="book_idx")
    like_x = _take_columns()(_LIKE_COLUMNS, name="like_features")(read_x)
    both = keras.layers.Concatenate(name="read_like")([parts.read_logit(read_x),
                                                       parts.like_logit(keras, like_x, book)])
    model = keras.Model({"read_features": read_x, "book_idx": book}, parts.output(both), name=HYBRID_NAME)
    return model, parts


# --------------------------------------------------------------------------------------------------------------
# training


@dataclass
class HybridResult:
    """model: the full Keras model; history: one dict per epoch (part, epoch, loss, val_loss, seconds);
    seconds: wall time; sizes: rows each part learned from."""

    model: Any
    history: list[dict[str, Any]]
    seconds: float
    sizes: dict[str, int]


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.maximum(x.var(axis=0), 1e-6)


def _user_holdout(users: np.ndarray, share: float, seed: int) -> np.ndarray:
    """True for the rows of a seeded `share` of the distinct users (early-stopping rows); none with one user."""
    distinct = np.unique(users)
    if len(distinct) < 2:
        return np.zeros(len(users), dtype=bool)
    rng = np.random.default_rng(seed)
    held = rng.choice(distinct, size=max(1, round(share * len(distinct))), replace=False)
    return np.isin(users, held)


def train_hybrid(prepared: PreparedData, contenders: dict, labels: pd.DataFrame, params: HybridParams, *,
                 on_epoch: Callable[[str, int, int, dict], None] | None = None,
                 cancel_check: Callable[[], None] | None = None) -> HybridResult:
    """Fit the three parts (see the module docstring) and return the full model.

    labels: the training labels (user_idx, book_idx, label in [0, 1]); on_epoch(part, epoch, epochs, logs) after
    each epoch of each part ("read", "like", "output"); cancel_check() may raise to stop.
    """
    k = keras_classes()
    keras = k.keras
    started = time.perf_counter()
    keras.utils.set_random_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    csr = prepared.user_books_csr
    n_books = len(prepared.books)
    feats = HybridFeatures.from_data(prepared, contenders, params.max_set_size).bind(csr)
    sets = UserSets(csr, n_books)
    val = prepared.splits["val"]
    v_users = val["user_idx"].to_numpy(np.int64)
    v_books = val["book_idx"].to_numpy(np.int64)
    v_rating = val["rating"].to_numpy(np.float64)
    history: list[dict[str, Any]] = []

    # read ranker: every val book the user read (liked or not: reading needs no label) against `negatives`
    # unseen books, softmax over the 1 + n candidates. Liking is left to the like head, so the LFs matter.
    negs = sample_unseen(v_users, sets, rng, n_per=params.negatives)
    n_cand = params.negatives + 1
    cand = np.concatenate([v_books[:, None], negs], axis=1)
    read_x = feats(np.repeat(v_users, n_cand), cand.ravel(), np.repeat(v_books, n_cand))
    cube = read_x.reshape(len(v_users), n_cand, -1)  # [val rows, 1 + negatives, features], the read book first
    like_cols = read_x[:, _LIKE_COLUMNS]
    # the like head learns from the label model's rows; the gold rows of the labels pick its stopping point
    weak, gold = _split_labels(labels)
    l_users = weak["user_idx"].to_numpy(np.int64)
    l_books = weak["book_idx"].to_numpy(np.int64)
    l_x = feats(l_users, l_books, knn=False)[:, _LIKE_COLUMNS]
    g_books = gold["book_idx"].to_numpy(np.int64)
    g_x = feats(gold["user_idx"].to_numpy(np.int64), g_books, knn=False)[:, _LIKE_COLUMNS]
    model, parts = build_model(keras, n_books, params, _stats(read_x), _stats(np.concatenate([l_x, like_cols])))
    _check(cancel_check)

    stop_rows = _user_holdout(v_users, 0.2, params.seed)
    ranker_in = keras.Input((n_cand, len(READ_FEATURES)))
    ranker = keras.Model(ranker_in, keras.layers.Reshape((n_cand,))(parts.read_logit(ranker_in)))
    _fit(keras, ranker, "read", cube[~stop_rows], np.zeros((~stop_rows).sum()), cube[stop_rows],
         np.zeros(stop_rows.sum()), keras.losses.SparseCategoricalCrossentropy(from_logits=True), params,
         history, on_epoch, cancel_check)

    like_in = keras.Input((len(LIKE_FEATURES),))
    book_in = keras.Input((), dtype="int32")
    like_model = keras.Model([like_in, book_in], parts.like_logit(keras, like_in, book_in))
    _fit(keras, like_model, "like", [l_x, l_books.astype(np.int32)],
         weak["label"].to_numpy(np.float32), [g_x, g_books.astype(np.int32)],
         gold["label"].to_numpy(np.float32), keras.losses.BinaryCrossentropy(from_logits=True), params, history,
         on_epoch, cancel_check)

    # output: the seed's classification protocol on val (labelled rows + unseen books for the positives),
    # `negatives` unseen books per positive weighted 1/negatives so positives keep the protocol's share
    liked = v_rating == 1
    o_users, o_pos = v_users[liked], v_books[liked]
    o_negs = sample_unseen(o_users, sets, rng, n_per=params.negatives)
    o_x = np.concatenate([cube[:, 0], feats(np.repeat(o_users, params.negatives), o_negs.ravel(),
                                      np.repeat(o_pos, params.negatives))])
    o_book = np.concatenate([v_books, o_negs.ravel()]).astype(np.int32)
    o_y = np.concatenate([v_rating, np.zeros(o_negs.size)]).astype(np.float32)
    o_w = np.concatenate([np.ones(len(v_books)), np.full(o_negs.size, 1.0 / params.negatives)]).astype(np.float32)
    logits = keras.Model(model.inputs, model.get_layer("read_like").output)
    z = np.asarray(logits.predict({"read_features": o_x, "book_idx": o_book}, batch_size=1 << 16, verbose=0))
    zc = np.asarray(logits.predict({"read_features": read_x, "book_idx": cand.ravel().astype(np.int32)},
                                   batch_size=1 << 16, verbose=0)).reshape(len(v_users), n_cand, 2)[liked]
    theta = fit_output(z[:, 0], z[:, 1], o_y, o_w, zc[..., 0], zc[..., 1])
    parts.output.set_weights([theta[:2, None].astype(np.float32), theta[2:].astype(np.float32)])
    history.append({"part": "output", "epoch": 1, "read_scale": float(theta[0]), "like_scale": float(theta[1])})
    return HybridResult(model=model, history=history, seconds=time.perf_counter() - started,
                        sizes={"read_cases": len(v_users), "like_rows": len(l_users), "output_rows": len(o_y)})


def _split_labels(labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the label model's rows, the gold rows) of the training labels (pipeline.training.labelmodel.training_labels:
    source
    "label_model" or "dev"). The like head learns from the first, so the LFs decide what it learns; the gold
    picks its early-stopping point. Labels without a source, or without weak rows, serve as both."""
    if "source" not in labels.columns:
        return labels, labels
    weak, gold = labels[labels["source"] == "label_model"], labels[labels["source"] != "label_model"]
    if not len(weak):
        return labels, labels
    return weak, gold if len(gold) else weak


def _check(cancel_check) -> None:
    if cancel_check is not None:
        cancel_check()


def _fit(keras, model, part: str, x, y, val_x, val_y, loss, params: HybridParams, history: list,
         on_epoch, cancel_check, weights=None) -> None:
    if loss is not None:
        model.compile(optimizer=keras.optimizers.Adam(params.learning_rate), loss=loss)

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"part": part, "epoch": epoch + 1, "seconds": time.perf_counter() - self.t}
            row.update({key: float(v) for key, v in (logs or {}).items() if key != "learning_rate"})
            history.append(row)
            if on_epoch is not None:
                on_epoch(part, epoch + 1, params.epochs, dict(row))
            _check(cancel_check)

    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience,
                                            restore_best_weights=True)
    sample_weight, val_weight = weights if weights is not None else (None, None)
    if len(val_y) == 0:  # tiny data: too few users to hold some out, so stop on the training rows
        val_x, val_y, val_weight = x, y, sample_weight
    validation = (val_x, val_y) if val_weight is None else (val_x, val_y, val_weight)
    model.fit(x, y, sample_weight=sample_weight, validation_data=validation, epochs=params.epochs,
              batch_size=params.batch_size, callbacks=[stopper, Progress()], shuffle=True, verbose=0)


# --------------------------------------------------------------------------------------------------------------
# scoring


class HybridScorer:
    """Scores pairs with a trained hybrid model: ``bind(csr)`` -> score_fn for pipeline.training.evaluate, ``top_k``."""

    def __init__(self, model, features: HybridFeatures) -> None:
        self.model = model
        self.features = features
        self.n_books_ = len(features.popularity)

    def bind(self, csr: Csr, *, chunk: int = 1 << 17) -> Callable[..., np.ndarray]:
        feats = self.features.bind(csr)
        n_users = len(csr[0]) - 1

        def score_fn(user_idx: np.ndarray, book_idx: np.ndarray, held_out: np.ndarray | None = None) -> np.ndarray:
            users, books, held = scoring_pairs(user_idx, book_idx, held_out, n_users, self.n_books_)
            out = np.empty(len(users), dtype=np.float64)
            for start in range(0, len(users), chunk):
                sl = slice(start, start + chunk)
                x = {"read_features": feats(users[sl], books[sl], held[sl]), "book_idx": books[sl].astype(np.int32)}
                out[sl] = np.asarray(self.model(x, training=False)).reshape(-1)
            return out

        return score_fn

    def top_k(self, user: int, csr: Csr, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The k books the user never shelved that score highest: (book_idx, probability), best first, ties by
        book_idx."""
        return top_unseen(self.bind(csr), user, csr, self.n_books_, k)


def is_hybrid(model) -> bool:
    return getattr(model, "name", "") == HYBRID_NAME


def scorer_for(model, prepared: PreparedData, contender_params: dict | None = None):
    """The scorer of a loaded model file: `HybridScorer` for ours, `endmodel.Scorer` for a seed-style model."""
    from pipeline.training import endmodel

    if not is_hybrid(model):
        return endmodel.Scorer(model)
    from pipeline.training.contenders import ContenderParams, fit_contenders

    params = ContenderParams.from_dict(contender_params) if contender_params else ContenderParams()
    contenders = fit_contenders(prepared, params)
    return HybridScorer(model, HybridFeatures.from_data(prepared, contenders, params.max_set_size))


def load_model(path: str | Path):
    """A model file saved by a retrain, ours or a seed-style one (every custom class registered first)."""
    from pipeline.training import endmodel

    _take_columns()
    return endmodel.load_model(path)
