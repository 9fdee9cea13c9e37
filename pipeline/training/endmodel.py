"""The end model: the seed tutorial's recommender (a user as the mean embedding of their other books, the
candidate book's own embedding, an MLP, a sigmoid) in Keras 3 on TensorFlow, trained from numpy arrays.

Two variants share one graph builder:

- **ours** (``replica=False``): the hidden layers are really used, Adam, early stopping on the val loss with
  the best weights restored, one pass over the examples per epoch.
- **the seed replica** (``replica=True`` with `SEED_REPLICA`): the tutorial as written. Its
  ``Dense(size, activation=relu)(cur_layer)`` result is discarded, so the head is a logistic regression on the
  two concatenated embeddings; Adagrad with the optimizer's default learning rate; 30 epochs x 300 steps x 256,
  40 validation steps, no early stopping. The seed compiles with the string ``"Adagrad"``, which TF 1.14's
  tf.keras turns into ``optimizer_v2.Adagrad.from_config({})`` (the seed's log names
  ``optimizer_v2/adagrad.py``), and that ``from_config`` fills a missing ``initial_accumulator_value`` with 0
  (for old Keras configs), not the constructor's 0.1: learning rate 0.001, accumulators starting at 0, update
  ``lr * g / (sqrt(acc) + 1e-7)``. So ``"adagrad"`` here is that optimizer (`SEED_ADAGRAD_ACCUMULATOR`).
  It matters: every weight's first steps are about ``lr`` whatever its gradient's size, where a start at 0.1
  divides the embeddings' tiny gradients by 0.32 and the replica learns nothing in 9,000 steps.
  `replica_params(scale)` scales the steps per epoch (and validation steps) when a budget demands it; 1.0 is
  the seed's count. Two quirks of the seed are *not* copied, because
  they make a score depend on the batch rather than on the (user, book) pair: ``padded_batch`` pads the book
  sets with 0, a real book id, which the seed's sum then counts (so book 0's embedding leaks into every user's
  mean, scaled by the batch's longest set); and ``shuffle(123)`` is a 123-element buffer over rows in user
  order. Here padding is masked and the shuffle is a full seeded one.

Data protocol (the seed's, shared by training and every scorer):

- A user's set is the first ``max_set_size`` books of the user's book_idxs (the seed's users have at most
  200, the default cap), *then* the held-out book is removed (every occurrence). For a labelled row the
  held-out book is the candidate itself ("so the model can't just look it up"). For the random negative drawn
  for a positive row, the set is the positive row's set (without the positive candidate), exactly as the seed's
  generator yields it, and the candidate is a book drawn uniformly from the books the user never interacted
  with (their full, uncapped set). The seed's generator draws new negatives on every pass; here they are drawn
  once, by `build_examples`, and stay fixed for the run.
- `build_examples` turns rows into `Examples`: a padded int32 matrix of set books (pad id = ``n_books``),
  the set lengths, the candidates, the (possibly soft) labels.
- `Scorer` scores pairs without padded matrices: the set mean is linear, so a user's vector without book h is
  ``(S_u - c * E_set[h]) / (n_u - c)`` with S_u the sum over the capped set and c the occurrences of h in it;
  the first Dense layer is split the same way, and the head runs in numpy. It equals ``model.predict`` on the
  padded inputs (a test holds them to 1e-5).

Speed: a train step is split in two (`EndModel.train_step`). The forward pass, the loss and the gradients run
as one XLA-compiled function that also turns the set embedding's gradient (256 x L rows) into a dense table;
the optimizer update then runs outside XLA with TensorFlow's fused ``ResourceApplyAdam`` /
``ResourceApplyAdagradV2`` kernels (`FusedAdam`, `FusedAdagrad`: the same formulas as Keras 3's Adam and
Adagrad). Keras 3's element-wise Adam on the two 35k x 64 tables took twice as long as everything else. On 2
cores at seed scale (297k examples an epoch, L = 200): about 8 ms a step, 10-12 s an epoch with validation
(was 23 s with plain Keras), and a replica step about the same.

Determinism: `train` calls ``keras.utils.set_random_seed(params.seed)`` (Python, numpy, TF and Keras seeds:
the initial weights) and seeds the tf.data shuffle; negatives are drawn from the ``numpy.random.Generator`` the
caller passes. On CPU with TensorFlow 2.20 two runs with the same seed and data give bit-identical weights,
in one process or in two (tests/test_endmodel.py on tiny data; by hand at seed scale: one epoch of ours and
the replica, same weight hash twice), without ``tf.config.experimental.enable_op_determinism()``.
``train(..., deterministic=True)`` turns op determinism on as well; it gave the very same weights and no
measurable slowdown, but it is a process-wide switch, so it is off by default. Other thread counts, CPUs or
TensorFlow versions may round differently.

TensorFlow and Keras are imported inside the functions that need them (`keras_classes`), so the CLI, the params,
`build_examples` and pipeline.training.evaluate stay light. A saved model names four registered classes
(``lfworkbench>MaskedMean``, ``EndModel``, ``FusedAdam``, ``FusedAdagrad``); `load_model` registers them.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.data.files import atomic_path
from pipeline.training.params import (
    MAX_BATCH_SIZE,
    MAX_EMBED_DIM,
    MAX_EPOCHS,
    MAX_SEED,
    MAX_SET_SIZE,
    MAX_STEPS_PER_EPOCH,
    check_at_most,
    check_known_fields,
    check_layers,
)
from pipeline.training.sampling import Csr, UserSets, cap_sets, pairs_with_negatives, scoring_pairs

if TYPE_CHECKING:
    import keras

__all__ = [
    "DEFAULT_PARAMS", "EndModelParams", "Examples", "SEED_REPLICA", "Scorer", "TrainResult", "build_examples",
    "build_model", "keras_classes", "load_model", "model_params", "padded_sets", "replica_params", "save_model",
    "train",
]

OPTIMIZERS = ("adam", "adagrad")
SEED_EPOCHS = 30
SEED_STEPS_PER_EPOCH = 300
SEED_VALIDATION_STEPS = 40
SEED_BATCH_SIZE = 256
SEED_ADAGRAD_ACCUMULATOR = 0.0
"""Adagrad's starting accumulator in the seed's run: TF 1.14's ``compile("Adagrad")`` builds the optimizer with
``from_config({})``, which starts the accumulators at 0 (the constructor's default, 0.1, never applies)."""
SET_EMBEDDING = "set_embedding"
BOOK_EMBEDDING = "book_embedding"


# --------------------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class EndModelParams:
    """Architecture and training settings of the end model; validated on construction.

    patience=None turns early stopping off (the replica); steps_per_epoch=None means one full pass over the
    training examples per epoch, an int means that many batches from an endlessly repeated, reshuffled stream
    (the seed's way); validation_steps=None evaluates the whole val set each epoch.
    """

    embed_dim: int = 64
    hidden: tuple[int, ...] = (32,)
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: int = 10
    patience: int | None = 2
    max_set_size: int = 200
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        for name, limit in (("embed_dim", MAX_EMBED_DIM), ("batch_size", MAX_BATCH_SIZE), ("epochs", MAX_EPOCHS),
                            ("max_set_size", MAX_SET_SIZE)):
            _check_int(name, getattr(self, name), minimum=1, maximum=limit)
        for name in ("steps_per_epoch", "validation_steps"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1, maximum=MAX_STEPS_PER_EPOCH)
        if self.patience is not None:
            _check_int("patience", self.patience, minimum=0, maximum=MAX_EPOCHS)
        _check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)
        if not isinstance(self.hidden, tuple):
            raise ValueError(f"EndModelParams.hidden: expected a tuple of layer sizes, got {self.hidden!r}")
        for size in self.hidden:
            _check_int("hidden", size, minimum=1)
        check_layers("EndModelParams.hidden", self.hidden)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"EndModelParams.optimizer: expected one of {', '.join(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"EndModelParams.learning_rate: expected a positive finite number, got {lr!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``hidden`` becomes a list."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EndModelParams:
        """Inverse of `to_dict`; unknown keys are a ValueError naming them."""
        check_known_fields(cls, d)
        return cls(**d)


def _check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"EndModelParams.{name}: expected an integer >= {minimum}, got {value!r}")
    if maximum is not None:
        check_at_most(f"EndModelParams.{name}", value, maximum)


DEFAULT_PARAMS = EndModelParams()
"""Our model's defaults."""

SEED_REPLICA = EndModelParams(
    embed_dim=64, hidden=(32,), optimizer="adagrad", learning_rate=0.001, batch_size=SEED_BATCH_SIZE,
    epochs=SEED_EPOCHS, patience=None, steps_per_epoch=SEED_STEPS_PER_EPOCH,
    validation_steps=SEED_VALIDATION_STEPS, seed=0,
)
"""The tutorial's settings (build with ``replica=True``: the hidden layer is created and dropped)."""


def model_params(*, replica: bool = False, **overrides: Any) -> EndModelParams:
    """Our defaults (or `SEED_REPLICA`) with `overrides` applied; an unknown name is a ValueError."""
    base = SEED_REPLICA if replica else DEFAULT_PARAMS
    check_known_fields(EndModelParams, overrides)
    return replace(base, **overrides)


def replica_params(scale: float = 1.0, *, seed: int = 0) -> EndModelParams:
    """`SEED_REPLICA` with its steps per epoch and validation steps multiplied by `scale` (at least 1 each);
    epochs, batch size, optimizer and learning rate stay the seed's. scale=1.0 is the seed as written."""
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"replica scale: expected a positive number, got {scale!r}")
    return replace(SEED_REPLICA, seed=seed,
                   steps_per_epoch=max(1, round(SEED_STEPS_PER_EPOCH * scale)),
                   validation_steps=max(1, round(SEED_VALIDATION_STEPS * scale)))


# --------------------------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------------------------
# examples of the seed's protocol (numpy only)


@dataclass(frozen=True)
class Examples:
    """Model inputs and targets, one row per example.

    book_idxs: [n, L] int32, the user's set (capped, held-out book removed), padded with pad_id (= n_books);
    set_len: [n] int32 real books per row; book_idx: [n] int32 candidates; label: [n] float32 in [0, 1];
    user_idx: [n] int32; held_out: [n] int32, the book removed from the row's set; sampled: [n] bool, True for
    a random negative.
    """

    book_idxs: np.ndarray
    set_len: np.ndarray
    book_idx: np.ndarray
    label: np.ndarray
    user_idx: np.ndarray
    held_out: np.ndarray
    sampled: np.ndarray
    pad_id: int

    def __len__(self) -> int:
        return len(self.book_idx)

    def inputs(self) -> dict[str, np.ndarray]:
        """The model's inputs by name."""
        return {"book_idxs": self.book_idxs, "book_idx": self.book_idx}


def padded_sets(users: np.ndarray, held_out: np.ndarray, capped: Csr, pad_id: int) -> np.ndarray:
    """[n, L] int32: each user's capped set with every occurrence of the held-out book replaced by pad_id,
    L = the longest capped set among the users (at least 1)."""
    offsets, values = capped
    lengths = np.diff(offsets)
    uniq, inverse = np.unique(users, return_inverse=True)
    width = max(1, int(lengths[uniq].max())) if len(uniq) else 1
    per_user = np.full((len(uniq), width), pad_id, dtype=np.int32)
    ulen = lengths[uniq]
    rows = np.repeat(np.arange(len(uniq)), ulen)
    cols = np.arange(int(ulen.sum())) - np.repeat(np.cumsum(ulen) - ulen, ulen)
    per_user[rows, cols] = values[np.repeat(offsets[uniq], ulen) + cols]
    matrix = per_user[inverse]
    matrix[matrix == np.asarray(held_out, dtype=np.int32)[:, None]] = pad_id
    return matrix


def build_examples(user_idx: np.ndarray, book_idx: np.ndarray, labels: np.ndarray, csr: Csr, n_books: int, *,
                   rng: np.random.Generator, negatives: bool = True, max_set_size: int = 200) -> Examples:
    """Training (or validation) examples from labelled rows, by the seed's protocol (see the module docstring).

    `labels` may be soft (probabilities); a row with label >= 0.5 counts as a positive and gets one random
    negative. `csr` is `PreparedData.user_books_csr`; book sets are capped at `max_set_size`.
    """
    sets = UserSets(csr, n_books)
    pairs = pairs_with_negatives(user_idx, book_idx, labels, sets, rng=rng, negatives=negatives)
    matrix = padded_sets(pairs.user_idx, pairs.held_out, cap_sets(csr, max_set_size), pad_id=n_books)
    return Examples(book_idxs=matrix, set_len=(matrix != n_books).sum(axis=1).astype(np.int32),
                    book_idx=pairs.book_idx, label=pairs.label, user_idx=pairs.user_idx,
                    held_out=pairs.held_out, sampled=pairs.sampled, pad_id=int(n_books))


# --------------------------------------------------------------------------------------------------------------
# the Keras model


@cache
def keras_classes() -> SimpleNamespace:
    """Import Keras (TensorFlow backend) and define, register and return the custom classes, once per process:
    keras, tf, MaskedMean, EndModel, FusedAdam, FusedAdagrad."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    from keras import ops

    register = keras.saving.register_keras_serializable(package="lfworkbench")

    @register
    class MaskedMean(keras.layers.Layer):
        """Mean of the set embeddings over the real books: inputs [embeddings [B, L, D], ids [B, L]]; ids equal
        to pad_id are left out; an empty set gives a zero vector. max_set_size is only recorded (the cap the
        inputs were built with), so a loaded model's `Scorer` caps sets the same way."""

        def __init__(self, pad_id: int, max_set_size: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.pad_id = int(pad_id)
            self.max_set_size = None if max_set_size is None else int(max_set_size)

        def call(self, inputs):
            emb, ids = inputs
            mask = ops.cast(ops.not_equal(ids, self.pad_id), emb.dtype)
            total = ops.sum(emb * ops.expand_dims(mask, -1), axis=1)
            count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
            return total / count

        def compute_output_shape(self, input_shape):
            shape = input_shape[0]
            return (shape[0], shape[2])

        def get_config(self):
            return {**super().get_config(), "pad_id": self.pad_id, "max_set_size": self.max_set_size}

    @register
    class EndModel(keras.Model):
        """A functional model whose train step splits in two: the forward pass, the loss and the gradients
        (made dense) run as one XLA-compiled function; the optimizer update runs outside XLA, where
        TensorFlow's fused multi-threaded kernels update the embedding tables in one pass.

        Why: the set embedding's gradient is 256 x L rows; applied by Keras 3's element-wise Adam (or under
        XLA) it costs about twice the rest of the step on 2 CPU cores. The split gives the same update.
        """

        def _gradients(self, x, y):
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            grads = tape.gradient(loss, self.trainable_variables)
            return loss, y_pred, [tf.convert_to_tensor(g) for g in grads]

        def train_step(self, data):
            x, y = data[0], data[1]
            compiled = self.__dict__.get("_xla_gradients")
            if compiled is None:
                compiled = tf.function(self._gradients, jit_compile=True)
                object.__setattr__(self, "_xla_gradients", compiled)
            loss, y_pred, grads = compiled(x, y)
            self.optimizer.apply(grads, self.trainable_variables)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss, sample_weight=tf.shape(y)[0])
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    @register
    class FusedAdam(keras.optimizers.Adam):
        """Keras 3's Adam (dense: every row's moments decay each step, as in Keras), applied with TensorFlow's
        fused ``ResourceApplyAdam`` kernel: the same formula, one pass instead of about eight."""

        def update_step(self, gradient, variable, learning_rate):
            if self.amsgrad:
                return super().update_step(gradient, variable, learning_rate)
            i = self._get_variable_index(variable)
            dtype = variable.dtype
            step = tf.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable), m=_handle(self._momentums[i]), v=_handle(self._velocities[i]),
                beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                epsilon=tf.cast(self.epsilon, dtype), grad=tf.convert_to_tensor(gradient))

    @register
    class FusedAdagrad(keras.optimizers.Adagrad):
        """Keras 3's Adagrad applied with TensorFlow's fused ``ResourceApplyAdagradV2`` kernel. Rows with a zero
        gradient keep their accumulator and value, so this equals the sparse update of the seed's TF 1.x
        Adagrad (duplicate rows summed first, as TF 1.x's optimizer_v2 did)."""

        def update_step(self, gradient, variable, learning_rate):
            dtype = variable.dtype
            tf.raw_ops.ResourceApplyAdagradV2(
                var=_handle(variable), accum=_handle(self._accumulators[self._get_variable_index(variable)]),
                lr=tf.cast(learning_rate, dtype), epsilon=tf.cast(self.epsilon, dtype),
                grad=tf.convert_to_tensor(gradient))

    def _handle(variable):
        return (variable.value if isinstance(variable, keras.Variable) else variable).handle

    return SimpleNamespace(keras=keras, tf=tf, MaskedMean=MaskedMean, EndModel=EndModel, FusedAdam=FusedAdam,
                           FusedAdagrad=FusedAdagrad)


def build_model(n_books: int, params: EndModelParams = DEFAULT_PARAMS, *, replica: bool = False) -> keras.Model:
    """The compiled model: inputs ``book_idxs`` [B, L] int32 (pad id n_books) and ``book_idx`` [B] int32,
    output [B, 1] probabilities.

    ``set_embedding`` (n_books + 1 rows, the last one for the pad) feeds a masked mean; ``book_embedding``
    (n_books rows) embeds the candidate; the two are concatenated. Ours stacks ``hidden_i`` Dense(h, relu)
    layers before ``output`` Dense(1, sigmoid). The replica creates the ``hidden_i`` layers and calls them, but
    feeds ``output`` the concatenation (the seed's bug): the hidden layers are not part of the model and get
    no gradient. They are kept, untracked, on ``model.discarded_layers`` (not saved) so a test can see it.
    """
    k = keras_classes()
    keras, layers = k.keras, k.keras.layers
    set_ids = keras.Input(shape=(None,), dtype="int32", name="book_idxs")
    candidate = keras.Input(shape=(), dtype="int32", name="book_idx")
    set_emb = layers.Embedding(n_books + 1, params.embed_dim, name=SET_EMBEDDING)(set_ids)
    user_vec = k.MaskedMean(pad_id=n_books, max_set_size=params.max_set_size, name="set_mean")([set_emb, set_ids])
    book_vec = layers.Embedding(n_books, params.embed_dim, name=BOOK_EMBEDDING)(candidate)
    x = layers.Concatenate(name="concat")([user_vec, book_vec])
    discarded = []
    for i, size in enumerate(params.hidden):
        dense = layers.Dense(size, activation="relu", name=f"hidden_{i}")
        if replica:
            dense(x)  # the seed: `tf.keras.layers.Dense(size, activation=tf.nn.relu)(cur_layer)`, result dropped
            discarded.append(dense)
        else:
            x = dense(x)
    out = layers.Dense(1, activation="sigmoid", name="output")(x)
    model = k.EndModel(inputs={"book_idxs": set_ids, "book_idx": candidate}, outputs=out,
                        name="seed_replica" if replica else "end_model")
    object.__setattr__(model, "discarded_layers", discarded)  # untracked: not weights of the model
    if params.optimizer == "adam":
        optimizer = k.FusedAdam(learning_rate=params.learning_rate)
    else:
        optimizer = k.FusedAdagrad(learning_rate=params.learning_rate,
                                   initial_accumulator_value=SEED_ADAGRAD_ACCUMULATOR, epsilon=1e-7)
    model.compile(optimizer=optimizer, loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc"),
                           keras.metrics.Precision(name="precision"), keras.metrics.Recall(name="recall")])
    return model


# --------------------------------------------------------------------------------------------------------------
# training


@dataclass
class TrainResult:
    """model (best weights restored when early stopping is on); history: one dict per epoch (epoch from 1,
    seconds, loss, accuracy, auc, precision, recall and their val_ twins); seconds: wall time of fit;
    best_epoch: the epoch whose weights the model holds."""

    model: Any
    history: list[dict[str, float]]
    seconds: float
    best_epoch: int


def _dataset(examples: Examples, batch_size: int, *, shuffle_seed: int | None, repeat: bool):
    tf = keras_classes().tf
    ds = tf.data.Dataset.from_tensor_slices((examples.inputs(), examples.label))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(examples), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(train_examples: Examples, val_examples: Examples, n_books: int,
          params: EndModelParams = DEFAULT_PARAMS, *, replica: bool = False,
          on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
          cancel_check: Callable[[], None] | None = None, deterministic: bool = False) -> TrainResult:
    """Fit a fresh model; see the module docstring for the protocol and determinism.

    on_epoch(epoch, total_epochs, logs) runs after each epoch (epoch counts from 1; logs as in `history`);
    cancel_check() runs before training and after each epoch and may raise to stop it (the exception
    propagates). Early stopping (patience not None) watches val_loss and restores the best weights.
    """
    if len(train_examples) == 0:
        raise ValueError("no training examples")
    if len(val_examples) == 0:
        raise ValueError("no validation examples")
    for name, ex in (("train", train_examples), ("val", val_examples)):
        if ex.pad_id != n_books:
            raise ValueError(f"{name} examples were built for {ex.pad_id} books, the model has {n_books}")
        if ex.book_idxs.shape[1] > params.max_set_size:
            raise ValueError(f"{name} examples hold sets of up to {ex.book_idxs.shape[1]} books, more than "
                             f"max_set_size={params.max_set_size}: build them with that max_set_size")
    k = keras_classes()
    keras, tf = k.keras, k.tf
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if cancel_check is not None:
        cancel_check()
    keras.utils.set_random_seed(params.seed)
    model = build_model(n_books, params, replica=replica)
    history: list[dict[str, float]] = []

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, "seconds": time.perf_counter() - self.started}
            row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
            history.append(row)
            if on_epoch is not None:
                on_epoch(epoch + 1, params.epochs, dict(row))
            if cancel_check is not None:
                cancel_check()

    callbacks: list[Any] = []
    stopper = None
    if params.patience is not None:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience,
                                                restore_best_weights=True)
        callbacks.append(stopper)
    callbacks.append(Progress())  # after the stopper: on_epoch sees the epoch before a stop is decided
    repeat = params.steps_per_epoch is not None
    train_ds = _dataset(train_examples, params.batch_size, shuffle_seed=params.seed, repeat=repeat)
    val_ds = _dataset(val_examples, params.batch_size, shuffle_seed=None,
                      repeat=params.validation_steps is not None)
    started = time.perf_counter()
    model.fit(train_ds, epochs=params.epochs, steps_per_epoch=params.steps_per_epoch, validation_data=val_ds,
              validation_steps=params.validation_steps, callbacks=callbacks, shuffle=False, verbose=0)
    seconds = time.perf_counter() - started
    best_epoch = len(history)
    if stopper is not None and stopper.best_weights is not None:
        best_epoch = stopper.best_epoch + 1
    return TrainResult(model=model, history=history, seconds=seconds, best_epoch=best_epoch)


# --------------------------------------------------------------------------------------------------------------
# saving


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Write `model` to `path` (a ``.keras`` file) atomically: a temp file in the same folder, then os.replace,
    so a reader sees the previous model or this one, never a part."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    with atomic_path(path, suffix=".keras") as tmp, warnings.catch_warnings():
        # Keras 3.15 saving numpy 2 arrays: "__array__ ... copy keyword"
        warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
        model.save(tmp)
    return path


def load_model(path: str | Path) -> keras.Model:
    """A model saved by `save_model` (uncompiled: for predictions and `Scorer`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    return keras_classes().keras.saving.load_model(path, compile=False)


# --------------------------------------------------------------------------------------------------------------
# fast scoring


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
    "linear": lambda z: z,
}


class Scorer:
    """Scores (user, candidate) pairs with the model's weights in numpy, without padded matrices.

    ``score(user_idx, book_idx, csr, held_out=None)`` -> probabilities; held_out[i] is the book removed from
    user i's set (default: the candidate, which removes it when the user has it, the training protocol; -1
    removes nothing). ``bind(csr)`` precomputes every user's set sum once and returns
    ``score_fn(user_idx, book_idx, held_out=None)``, the form `pipeline.training.evaluate` takes. Sets are capped at
    the model's recorded max_set_size (as in training) unless `max_set_size` is given.
    """

    def __init__(self, model: keras.Model, *, max_set_size: int | None = None) -> None:
        keras = keras_classes().keras
        if max_set_size is None:  # the cap recorded in the model, else the default
            recorded = getattr(model.get_layer("set_mean"), "max_set_size", None)
            max_set_size = recorded if recorded is not None else DEFAULT_PARAMS.max_set_size
        self.max_set_size = int(max_set_size)
        self.set_embedding_ = np.asarray(model.get_layer(SET_EMBEDDING).get_weights()[0], dtype=np.float64)
        self.book_embedding_ = np.asarray(model.get_layer(BOOK_EMBEDDING).get_weights()[0], dtype=np.float64)
        self.n_books_ = self.book_embedding_.shape[0]
        self.head_: list[tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]] = []
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                name = keras.activations.serialize(layer.activation)
                name = name if isinstance(name, str) else name.get("config", {}).get("name", name)
                if name not in _ACTIVATIONS:
                    raise ValueError(f"Scorer: layer {layer.name} has activation {name!r}, not one of "
                                     f"{', '.join(_ACTIVATIONS)}")
                kernel, bias = layer.get_weights()
                self.head_.append((kernel.astype(np.float64), bias.astype(np.float64), _ACTIVATIONS[name]))

    def head(self, user_vectors: np.ndarray, book_idx: np.ndarray) -> np.ndarray:
        """Probabilities from user vectors [n, D] and candidates [n] (the model's concat -> Dense stack)."""
        x = np.concatenate([user_vectors, self.book_embedding_[book_idx]], axis=1)
        for kernel, bias, activation in self.head_:
            x = activation(x @ kernel + bias)
        return x[:, 0]

    def bind(self, csr: Csr, *, chunk: int = 1 << 16) -> Callable[..., np.ndarray]:
        """score_fn(user_idx, book_idx, held_out=None) over the users in `csr`, in chunks of `chunk` pairs.

        The first Dense layer is linear in the concatenation, so it is split: every user's set sum, the set
        embeddings and the book embeddings are projected through it once here, and a pair costs a few rows
        of the first layer's width instead of the embedding width.
        """
        from scipy import sparse

        capped = cap_sets(csr, self.max_set_size)
        sets = UserSets(capped, self.n_books_)
        n_users = sets.n_users
        ones = np.ones(len(capped[1]))
        incidence = sparse.csr_matrix((ones, capped[1], capped[0]), shape=(n_users, self.n_books_ + 1))
        dim = self.set_embedding_.shape[1]
        (kernel, bias, activation), rest = self.head_[0], self.head_[1:]
        set_proj = self.set_embedding_ @ kernel[:dim]
        user_proj = np.asarray(incidence @ set_proj)
        book_proj = self.book_embedding_ @ kernel[dim:] + bias
        lengths = sets.lengths.astype(np.float64)

        def score_fn(user_idx: np.ndarray, book_idx: np.ndarray, held_out: np.ndarray | None = None) -> np.ndarray:
            users, books, held = scoring_pairs(user_idx, book_idx, held_out, n_users, self.n_books_)
            out = np.empty(len(users), dtype=np.float64)
            for start in range(0, len(users), chunk):
                u, b, h = users[start:start + chunk], books[start:start + chunk], held[start:start + chunk]
                c = sets.count(u, h).astype(np.float64)
                removed = np.flatnonzero(c)
                x = user_proj[u]
                x[removed] -= c[removed, None] * set_proj[h[removed]]
                x /= np.maximum(lengths[u] - c, 1.0)[:, None]
                x = activation(x + book_proj[b])
                for k, bb, act in rest:
                    x = act(x @ k + bb)
                out[start:start + chunk] = x[:, 0]
            return out

        return score_fn

    def score(self, user_idx: np.ndarray, book_idx: np.ndarray, csr: Csr,
              held_out: np.ndarray | None = None) -> np.ndarray:
        """Probabilities for the pairs (see the class docstring)."""
        return self.bind(csr)(user_idx, book_idx, held_out)

    def top_k(self, user: int, csr: Csr, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The k books the user has not interacted with that score highest: (book_idx, probability), best
        first, ties by book_idx."""
        sets = UserSets(csr, self.n_books_)
        books = np.arange(self.n_books_)
        unseen = books[sets.count(np.full(self.n_books_, user), books) == 0]
        scores = self.bind(csr)(np.full(len(unseen), user), unseen, np.full(len(unseen), -1))
        order = np.lexsort((unseen, -scores))[:k]
        return unseen[order], scores[order]
