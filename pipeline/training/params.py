"""Helpers shared by the training params dataclasses (pipeline.training: EndModelParams, HybridParams,
ContenderParams, LabelModelParams): one check of the names in an overrides dict, and the upper limits of their
values.

The limits are far above any useful setting (the defaults are 10 to 100 times below them) and exist so that a
typo, an extra zero or ten, is refused with the field and its limit at once, from the command line and from the
Train page alike, instead of starting a job that allocates tens of GB or trains for days.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = [
    "MAX_ALS_FACTORS",
    "MAX_ALS_ITERATIONS",
    "MAX_BATCH_SIZE",
    "MAX_EMBED_DIM",
    "MAX_EPOCHS",
    "MAX_GRID_SIZE",
    "MAX_LABEL_MODEL_EPOCHS",
    "MAX_LAYERS",
    "MAX_LAYER_SIZE",
    "MAX_NEGATIVES",
    "MAX_SEED",
    "MAX_SET_SIZE",
    "MAX_STEPS_PER_EPOCH",
    "check_at_most",
    "check_known_fields",
    "check_layers",
]

MAX_LAYER_SIZE = 4096  # units of one hidden layer
MAX_LAYERS = 16  # hidden layers of one MLP
MAX_EMBED_DIM = 1024  # the end model's embedding width (a table of books x this many floats)
MAX_EPOCHS = 1000  # epochs of one end-model part; early-stopping patience too
MAX_STEPS_PER_EPOCH = 100_000  # batches per epoch (and validation batches) of the seed replica
MAX_BATCH_SIZE = 16_384  # a hybrid batch holds batch_size x (1 + negatives) books
MAX_NEGATIVES = 1000  # sampled unseen books per positive
MAX_SET_SIZE = 10_000  # books of a user's set a model reads
MAX_LABEL_MODEL_EPOCHS = 100_000
MAX_ALS_FACTORS = 1024
MAX_ALS_ITERATIONS = 1000
MAX_GRID_SIZE = 100  # combinations of a contender's grid: each one is fitted
MAX_SEED = 2**32 - 1  # numpy's seeding limit (keras.utils.set_random_seed seeds numpy): above it a job fails late


def check_known_fields(cls: type, overrides: dict[str, Any], what: str | None = None) -> None:
    """Raise a ValueError naming every key of `overrides` that is not a field of dataclass `cls`, and the known
    ones: "<what>: unknown field(s) a, b (known: ...)"; `what` defaults to the class name."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{what or cls.__name__}: unknown field(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")


def check_at_most(what: str, value: Any, limit: int, kind: str = "an integer") -> None:
    """Raise "<what>: expected <kind> <= <limit>, got <value>" when `value` exceeds `limit` (the lower bound and
    the type are the caller's check, made first)."""
    if value > limit:
        raise ValueError(f"{what}: expected {kind} <= {limit}, got {value!r}")


def check_layers(what: str, sizes: tuple) -> None:
    """The upper limits of a tuple of hidden layer sizes (each already an integer >= 1): at most MAX_LAYERS
    layers of at most MAX_LAYER_SIZE units."""
    if len(sizes) > MAX_LAYERS:
        raise ValueError(f"{what}: expected at most {MAX_LAYERS} layers, got {len(sizes)}")
    if any(size > MAX_LAYER_SIZE for size in sizes):
        raise ValueError(f"{what}: expected layer sizes <= {MAX_LAYER_SIZE}, got {sizes!r}")
