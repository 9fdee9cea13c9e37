"""Retrain settings as named overrides: what `python -m pipeline retrain`'s flags and the Train page's form both
set. Each table maps a flag to (params field, type, help); `build_params` turns the overrides into
`RetrainParams` and names the flag of a bad value."""

from __future__ import annotations

import argparse

__all__ = ["END_MODEL_FLAGS", "LABEL_MODEL_FLAGS", "LayerSizesError", "build_params", "check_end_model",
           "layer_sizes"]


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


def build_params(*, label_model: dict, end_model: dict, soft_labels: bool = False, replica_steps: int | None = None,
                 replica_epochs: int | None = None, eval_seed: int = 0):
    """RetrainParams from overrides: label_model and end_model map params fields to values (only those that differ
    from the defaults); replica_steps sets the seed replica's steps per epoch (its validation steps keep the
    tutorial's ratio, 40 per 300), replica_epochs its epochs. A bad end-model value is a ValueError naming its
    flag."""
    from pipeline.runs.retrain import RetrainParams
    from pipeline.training.labelmodel import LabelModelParams

    check_end_model(end_model)
    replica = {}
    if replica_steps is not None:
        replica |= {"steps_per_epoch": replica_steps, "validation_steps": max(1, replica_steps * 40 // 300)}
    if replica_epochs is not None:
        replica["epochs"] = replica_epochs
    return RetrainParams(label_model=LabelModelParams(soft_labels=soft_labels, **label_model), end_model=end_model,
                         replica=replica, eval_seed=eval_seed)
