"""The upper limits of the training params (pipeline.training.params): each dataclass refuses a value above its
limit with the field and the limit, accepts the limit itself, and the defaults are far below."""

from __future__ import annotations

import pytest

from pipeline.training import params as P
from pipeline.training.contenders import ContenderParams
from pipeline.training.endmodel import SEED_REPLICA, EndModelParams
from pipeline.training.hybrid import HybridParams
from pipeline.training.labelmodel import LabelModelParams

CASES = [  # (class, field, the limit, the message's start for limit + 1)
    (HybridParams, "hidden", (P.MAX_LAYER_SIZE,), "HybridParams.hidden: expected layer sizes <= 4096"),
    (HybridParams, "like_hidden", (1,) * P.MAX_LAYERS, "HybridParams.like_hidden: expected at most 16 layers"),
    (HybridParams, "negatives", P.MAX_NEGATIVES, "HybridParams.negatives: expected an integer <= 1000, got 1001"),
    (HybridParams, "batch_size", P.MAX_BATCH_SIZE, "HybridParams.batch_size: expected an integer <= 16384"),
    (HybridParams, "epochs", P.MAX_EPOCHS, "HybridParams.epochs: expected an integer <= 1000, got 1001"),
    (HybridParams, "patience", P.MAX_EPOCHS, "HybridParams.patience: expected an integer <= 1000"),
    (HybridParams, "max_set_size", P.MAX_SET_SIZE, "HybridParams.max_set_size: expected an integer <= 10000"),
    (HybridParams, "seed", P.MAX_SEED, "HybridParams.seed: expected an integer <= 4294967295"),
    (EndModelParams, "embed_dim", P.MAX_EMBED_DIM, "EndModelParams.embed_dim: expected an integer <= 1024"),
    (EndModelParams, "hidden", (P.MAX_LAYER_SIZE,), "EndModelParams.hidden: expected layer sizes <= 4096"),
    (EndModelParams, "batch_size", P.MAX_BATCH_SIZE, "EndModelParams.batch_size: expected an integer <= 16384"),
    (EndModelParams, "epochs", P.MAX_EPOCHS, "EndModelParams.epochs: expected an integer <= 1000, got 1001"),
    (EndModelParams, "patience", P.MAX_EPOCHS, "EndModelParams.patience: expected an integer <= 1000"),
    (EndModelParams, "steps_per_epoch", P.MAX_STEPS_PER_EPOCH,
     "EndModelParams.steps_per_epoch: expected an integer <= 100000"),
    (EndModelParams, "validation_steps", P.MAX_STEPS_PER_EPOCH,
     "EndModelParams.validation_steps: expected an integer <= 100000"),
    (EndModelParams, "max_set_size", P.MAX_SET_SIZE, "EndModelParams.max_set_size: expected an integer <= 10000"),
    (EndModelParams, "seed", P.MAX_SEED, "EndModelParams.seed: expected an integer <= 4294967295"),
    (LabelModelParams, "n_epochs", P.MAX_LABEL_MODEL_EPOCHS, "label model n_epochs: expected an integer <= 100000"),
    (LabelModelParams, "seed", P.MAX_SEED, "label model seed: expected an integer <= 4294967295"),
    (ContenderParams, "als_factors", (P.MAX_ALS_FACTORS,), "ContenderParams.als_factors: expected an integer <= 1024"),
    (ContenderParams, "als_iterations", (P.MAX_ALS_ITERATIONS,),
     "ContenderParams.als_iterations: expected an integer <= 1000"),
    (ContenderParams, "knn_alphas", tuple(range(P.MAX_GRID_SIZE)),
     "ContenderParams.knn_alphas: expected a number of values <= 100, got 101"),
    (ContenderParams, "als_regularization", tuple(range(1, P.MAX_GRID_SIZE + 1)),
     "ContenderParams: the ALS grid: expected a number of combinations <= 100, got 101"),
    (ContenderParams, "val_negatives", P.MAX_NEGATIVES, "ContenderParams.val_negatives: expected an integer <= 1000"),
    (ContenderParams, "max_set_size", P.MAX_SET_SIZE, "ContenderParams.max_set_size: expected an integer <= 10000"),
    (ContenderParams, "seed", P.MAX_SEED, "ContenderParams.seed: expected an integer <= 4294967295"),
]


def _above(limit):
    """One past the limit: one more unit, one more layer or grid value."""
    if isinstance(limit, int):
        return limit + 1
    if len(limit) == 1:
        return (limit[0] + 1,)
    return (*limit, max(limit) + 1)


@pytest.mark.parametrize("cls, field, limit, message", CASES, ids=[f"{c.__name__}.{f}" for c, f, _, _ in CASES])
def test_a_value_above_its_limit_names_the_field_and_the_limit(cls, field, limit, message):
    cls(**{field: limit})  # the limit itself is allowed
    with pytest.raises(ValueError) as caught:
        cls(**{field: _above(limit)})
    assert str(caught.value).startswith(message)


def test_the_defaults_and_the_seed_replica_are_far_below_the_limits():
    ours, lm, contenders = HybridParams(), LabelModelParams(), ContenderParams()
    assert max(ours.hidden + ours.like_hidden + SEED_REPLICA.hidden) * 10 <= P.MAX_LAYER_SIZE
    assert max(ours.epochs, SEED_REPLICA.epochs) * 10 <= P.MAX_EPOCHS
    assert ours.negatives * 10 <= P.MAX_NEGATIVES and ours.batch_size * 10 <= P.MAX_BATCH_SIZE
    assert SEED_REPLICA.steps_per_epoch * 10 <= P.MAX_STEPS_PER_EPOCH and SEED_REPLICA.embed_dim * 10 <= P.MAX_EMBED_DIM
    assert lm.n_epochs * 10 <= P.MAX_LABEL_MODEL_EPOCHS and contenders.val_negatives * 10 <= P.MAX_NEGATIVES
    assert len(contenders.als_grid()) <= P.MAX_GRID_SIZE
