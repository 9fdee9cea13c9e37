"""Retrain settings as named overrides: what `python -m pipeline retrain`'s flags and the Train page's form both
set. Each table maps a flag to (params field, type, help); `build_params` turns the overrides into
`RetrainParams` and names the flag of a bad value. The params dataclasses check every value against its bounds,
upper limits included (pipeline.training.params: MAX_EPOCHS, MAX_LAYER_SIZE, ...), so a bad value is refused here,
before a job starts."""

from __future__ import annotations

import argparse

from pipeline.training.params import MAX_SEED, check_at_most

__all__ = ["END_MODEL_FLAGS", "LABEL_MODEL_FLAGS", "REPLICA_FLAGS", "LayerSizesError", "build_params",
           "check_end_model", "check_label_model", "check_replica", "layer_sizes"]


class LayerSizesError(ValueError, argparse.ArgumentTypeError):
    """A bad list of layer sizes: a ValueError, which argparse shows with its own message."""


def layer_sizes(text: str) -> tuple[int, ...]:
    """Layer sizes separated by commas, "64,32" -> (64, 32); empty: () (no hidden layer). The parser of
    --hidden and --like-hidden and of the Train page's layer fields; HybridParams checks the sizes."""
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise LayerSizesError(f"expected layer sizes separated by commas, like 64,32; got {text!r}") from None


# flag -> (field, type, help): LABEL_MODEL_FLAGS set LabelModelParams, END_MODEL_FLAGS the overrides of our
# model's pipeline.training.hybrid.HybridParams (RetrainParams.end_model); the Train page builds its form from them
LABEL_MODEL_FLAGS = {
    "--lm-epochs": ("n_epochs", int, "label model epochs (default 5000, as the seed)"),
    "--lm-lr": ("lr", float, "label model learning rate (default 0.01)"),
    "--lm-l2": ("l2", float, "label model L2 regularisation (default 0)"),
    "--lm-seed": ("seed", int, "label model seed (default 123, as the seed)"),
    "--class-balance": ("class_balance", str, "'learned' from the LF votes (default) or 'dev' (dev's positive share)"),
}
END_MODEL_FLAGS = {
    "--hidden": ("hidden", layer_sizes,
                 "end model: hidden layer sizes of the read ranker (the MLP over read features), e.g. 64,32"),
    "--like-hidden": ("like_hidden", layer_sizes,
                      "end model: hidden layer sizes of the like head (the MLP that tells liked from read), e.g. 32"),
    "--negatives": ("negatives", int, "end model: unseen books per val book read in the read ranker's softmax "
                                      "(and per positive in the output's fit)"),
    "--learning-rate": ("learning_rate", float, "end model: Adam learning rate of the read ranker and the like head"),
    "--batch-size": ("batch_size", int, "end model: batch size (read ranker: cases of 1 + negatives books; like "
                                        "head: rows)"),
    "--epochs": ("epochs", int, "end model: most epochs of the read ranker and of the like head (each stops early "
                                "on held-out rows)"),
    "--patience": ("patience", int, "end model: early-stopping patience in epochs, per part"),
    "--model-seed": ("seed", int, "end model: seed (initial weights, sampled negatives, early-stopping users)"),
}


def check_end_model(overrides: dict) -> None:
    """Validate end-model overrides with HybridParams.from_dict; a bad value is a ValueError naming its flag
    and field, e.g. "--negatives: HybridParams.negatives: expected an integer >= 1, got 0"."""
    from pipeline.training.hybrid import HybridParams

    flag_of = {field: flag for flag, (field, _, _) in END_MODEL_FLAGS.items()}
    for field, value in overrides.items():  # one at a time, to name the flag
        try:
            HybridParams.from_dict({field: value})
        except ValueError as e:
            raise ValueError(f"{flag_of.get(field, field)}: {e}") from None
    HybridParams.from_dict(overrides)


# the seed replica's flags -> the EndModelParams fields they set (validation_steps follows --replica-steps)
REPLICA_FLAGS = {"--replica-steps": ("steps_per_epoch", "validation_steps"), "--replica-epochs": ("epochs",)}


def check_label_model(overrides: dict) -> None:
    """Validate label-model overrides with LabelModelParams; a bad value is a ValueError naming its flag and
    field, e.g. "--lm-epochs: label model n_epochs: expected an integer <= 100000, got 1000000000"."""
    from pipeline.training.labelmodel import LabelModelParams

    flag_of = {field: flag for flag, (field, _, _) in LABEL_MODEL_FLAGS.items()}
    for field, value in overrides.items():  # one at a time, to name the flag
        try:
            LabelModelParams(**{field: value})
        except (TypeError, ValueError) as e:  # TypeError: an unknown field
            raise ValueError(f"{flag_of.get(field, field)}: {e}") from None


def check_replica(replica: dict) -> None:
    """Validate the seed replica's overrides (RetrainParams.replica) as `endmodel.model_params(replica=True)`
    reads them in the job; a bad value is a ValueError naming its flag, e.g.
    "--replica-epochs: EndModelParams.epochs: expected an integer <= 1000, got 5000". The Train page checks the
    same with its own wording ("Seed replica · ..."), so `build_params` leaves this to the command line, as
    `check_label_model`."""
    from pipeline.training.endmodel import model_params

    flag_of = {field: flag for flag, fields in REPLICA_FLAGS.items() for field in fields}
    for field, value in replica.items():
        try:
            model_params(replica=True, **{field: value})
        except ValueError as e:
            raise ValueError(f"{flag_of.get(field, field)}: {e}") from None
    model_params(replica=True, **replica)


def build_params(*, label_model: dict, end_model: dict, soft_labels: bool = False, replica_steps: int | None = None,
                 replica_epochs: int | None = None, eval_seed: int = 0, auto_promote: bool = True):
    """RetrainParams from overrides: label_model and end_model map params fields to values (only those that differ
    from the defaults); replica_steps sets the seed replica's steps per epoch (its validation steps keep the
    tutorial's ratio, 40 per 300), replica_epochs its epochs. A bad value is a ValueError: an end-model one naming
    its flag, a label-model one naming its field (the command line names its flag first: `check_label_model`); the
    replica's values are checked by `check_replica` (the command line) or the Train page. auto_promote=False keeps
    the run from replacing the model in use by itself (pipeline.runs.promotion)."""
    from pipeline.runs.retrain import RetrainParams
    from pipeline.training.labelmodel import LabelModelParams

    check_end_model(end_model)
    if isinstance(eval_seed, bool) or not isinstance(eval_seed, int) or eval_seed < 0:
        raise ValueError(f"--eval-seed: expected an integer >= 0, got {eval_seed!r}")
    check_at_most("--eval-seed", eval_seed, MAX_SEED)
    replica = {}
    if replica_steps is not None:
        replica |= {"steps_per_epoch": replica_steps, "validation_steps": max(1, replica_steps * 40 // 300)}
    if replica_epochs is not None:
        replica["epochs"] = replica_epochs
    return RetrainParams(label_model=LabelModelParams(soft_labels=soft_labels, **label_model), end_model=end_model,
                         replica=replica, eval_seed=eval_seed, auto_promote=bool(auto_promote))
